/*
 * medallion.h - what .medallion/ shows: recent errors and shadowed keys.
 *
 * Thread-safe; every function may be called from any thread. The rendered
 * text is a snapshot owned by the caller's buffer.
 */
#ifndef MFS_MEDALLION_H
#define MFS_MEDALLION_H

#include "../util/buf.h"

struct mfs_medallion;

int mfs_medallion_new(struct mfs_medallion **out);
void mfs_medallion_free(struct mfs_medallion *m);

/* Remember "TIME PATH: REASON" (the last 1000 are kept) and log it. */
void mfs_medallion_error(struct mfs_medallion *m, const char *path, const char *reason);

/* Remember a key that cannot be shown as itself; each key once. */
void mfs_medallion_shadowed(struct mfs_medallion *m, const char *key, const char *why);

int mfs_medallion_render_errors(struct mfs_medallion *m, struct mfs_buf *out);
int mfs_medallion_render_shadowed(struct mfs_medallion *m, struct mfs_buf *out);

#endif
