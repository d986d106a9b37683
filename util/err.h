/*
 * err.h - a thread-local "why" for the last failure.
 *
 * Functions return 0 or -errno; an errno alone cannot say "object is archived
 * (InvalidObjectState)". The module that translates a foreign error sets the
 * reason here, and fs/ copies it into .medallion/errors and the log. The
 * string lives until the same thread sets another one.
 */
#ifndef MFS_ERR_H
#define MFS_ERR_H

void mfs_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mfs_clear_error(void);
/* "" when nothing was set since the last clear. */
const char *mfs_last_error(void);

#endif
