/* ll.c - placeholder until written. */
