/* bronze.c - placeholder until written. */
