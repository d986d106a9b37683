/*
 * pool.h - the daemon's own worker threads.
 *
 * FUSE threads never wait for background work to be scheduled: prefetch
 * windows and kernel cache invalidations run here. Jobs run in FIFO order;
 * mfs_pool_stop() lets queued jobs run, then joins.
 */
#ifndef MFS_POOL_H
#define MFS_POOL_H

struct mfs_pool;

typedef void (*mfs_job_fn)(void *arg);

/* Threads are created here: call after daemonising. */
int mfs_pool_new(int nthreads, struct mfs_pool **out);
/* 0 or -ENOMEM / -ESHUTDOWN (after stop). @fn owns @arg. */
int mfs_pool_submit(struct mfs_pool *p, mfs_job_fn fn, void *arg);
void mfs_pool_stop(struct mfs_pool *p);
void mfs_pool_free(struct mfs_pool *p);

#endif
