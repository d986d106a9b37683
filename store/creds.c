/* creds.c - placeholder until written. */
