/* s3_xml.c - placeholder until written. */
