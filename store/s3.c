/* s3.c - placeholder until written. */
