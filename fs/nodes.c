/* nodes.c - placeholder until written. */
