/*
 * warm.h - `medallionfs warm PATH...` (see warm.c).
 */
#ifndef MFS_WARM_H
#define MFS_WARM_H

/* argv[0] is the program, argv[1] "warm", then the paths. Exit status. */
int mfs_warm_main(int argc, char **argv);

#endif
