/* local.c - placeholder until written. */
