/* options.c - placeholder until written. */
