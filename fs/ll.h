/*
 * ll.h - the FUSE low-level operations, thin over lake.h.
 */
#ifndef MFS_LL_H
#define MFS_LL_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "lake.h"

extern const struct fuse_lowlevel_ops mfs_ll_ops;

/* Drop the kernel's cached pages of @ino; @arg is the struct fuse_session. */
void mfs_ll_inval(void *arg, uint64_t ino);

#endif
