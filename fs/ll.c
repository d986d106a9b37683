/*
 * ll.c - FUSE low-level callbacks: decode the request, call lake.c, reply.
 *
 * The only file besides main.c that includes fuse_lowlevel.h and the only
 * one that calls fuse_reply_*. No lock is held while replying: lake.c
 * returns copies.
 */
#include "ll.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"

#define LAKE(req) ((struct mfs_lake *)fuse_req_userdata(req))

/*
 * SPEC §9: a network or server failure is EIO to the application. The
 * store's finer errnos (refused, unreachable, timed out) stay in the log
 * and .medallion/errors.
 */
static int user_errno(int e)
{
	switch (e) {
	case ECONNREFUSED:
	case ECONNRESET:
	case ECONNABORTED:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENETDOWN:
	case ETIMEDOUT:
	case EPIPE:
		return EIO;
	default:
		return e;
	}
}

static void reply_err(fuse_req_t req, int e)
{
	fuse_reply_err(req, user_errno(e));
}

static void reply_entry(fuse_req_t req, const struct mfs_attr *a)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = a->st.st_ino;
	e.generation = 1;
	e.attr = a->st;
	e.attr_timeout = a->timeout;
	e.entry_timeout = a->timeout;
	fuse_reply_entry(req, &e);
}

static void ll_init(void *userdata, struct fuse_conn_info *conn)
{
	/* Bronze is read-only and the kernel may cache pages between opens
	 * (keep_cache decides per open). */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	/* O_TRUNC arrives with open(), not as a separate truncate: an overwrite is
	 * told apart from a write into an existing object. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->time_gran = 1;
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mfs_attr a;
	int err = mfs_lake_lookup(LAKE(req), parent, name, &a);

	if (err)
		reply_err(req, -err);
	else
		reply_entry(req, &a);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	mfs_lake_forget(LAKE(req), ino, nlookup);
	fuse_reply_none(req);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	size_t i;

	for (i = 0; i < count; i++)
		mfs_lake_forget(LAKE(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/*
 * Requests that would run a transform are answered from the transform pool:
 * libfuse runs at most a few worker threads, and a mount whose threads all
 * wait on transforms would freeze (.medallion/ included).
 */
struct deferred {
	fuse_req_t req;
	fuse_ino_t ino;
	struct fuse_file_info fi;
	char *name;  /* getxattr */
	size_t size; /* getxattr */
	void (*run)(struct deferred *d);
};

static void deferred_job(void *arg)
{
	struct deferred *d = arg;

	if (fuse_req_interrupted(d->req))
		fuse_reply_err(d->req, EINTR);
	else
		d->run(d);
	free(d->name);
	free(d);
}

/* Run @run(@d) on the transform pool; 0, or -errno when it could not be queued. */
static int defer(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, const char *name,
		 size_t size, void (*run)(struct deferred *d))
{
	struct deferred *d = calloc(1, sizeof(*d));
	int err;

	if (!d)
		return -ENOMEM;
	d->req = req;
	d->ino = ino;
	if (fi)
		d->fi = *fi;
	d->size = size;
	d->run = run;
	if (name && !(d->name = strdup(name))) {
		free(d);
		return -ENOMEM;
	}
	err = mfs_lake_submit(LAKE(req), deferred_job, d);
	if (err) {
		free(d->name);
		free(d);
	}
	return err;
}

static void do_getattr(fuse_req_t req, fuse_ino_t ino)
{
	struct mfs_attr a;
	int err = mfs_lake_getattr(LAKE(req), ino, &a);

	if (err)
		reply_err(req, -err);
	else
		fuse_reply_attr(req, &a.st, a.timeout);
}

static void run_getattr(struct deferred *d)
{
	do_getattr(d->req, d->ino);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (mfs_lake_would_transform(LAKE(req), ino, MFS_OP_GETATTR) &&
	    defer(req, ino, NULL, NULL, 0, run_getattr) == 0)
		return;
	do_getattr(req, ino);
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mfs_dir *dir;
	int err = mfs_lake_opendir(LAKE(req), ino, &dir);

	if (err) {
		reply_err(req, -err);
		return;
	}
	fi->fh = (uintptr_t)dir;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		mfs_lake_closedir(LAKE(req), dir); /* interrupted: no release will come */
}

static void do_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi,
		       int plus)
{
	struct mfs_lake *lake = LAKE(req);
	struct mfs_dir *dir = (struct mfs_dir *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t used = 0;
	size_t i;
	int err = 0;

	if (!buf) {
		reply_err(req, ENOMEM);
		return;
	}
	for (i = (size_t)off;; i++) {
		struct mfs_attr a;
		const char *name;
		size_t need;

		err = mfs_lake_readdir(lake, dir, i, plus, &name, &a);
		if (err)
			break;
		if (plus) {
			struct fuse_entry_param e;

			memset(&e, 0, sizeof(e));
			/* nodeid 0: the kernel shows the name without caching an entry */
			e.ino = a.no_entry ? 0 : a.st.st_ino;
			e.generation = 1;
			e.attr = a.st;
			e.attr_timeout = a.timeout;
			e.entry_timeout = a.timeout;
			need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e,
						      (off_t)(i + 1));
			if (need > size - used) {
				/* Did not fit: the kernel never saw this lookup. */
				if (i >= 2 && !a.no_entry)
					mfs_lake_forget(lake, a.st.st_ino, 1);
				break;
			}
		} else {
			need = fuse_add_direntry(req, buf + used, size - used, name, &a.st,
						 (off_t)(i + 1));
			if (need > size - used)
				break;
		}
		used += need;
	}
	if (err < 0 && used == 0)
		reply_err(req, -err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, size, off, fi, 0);
}

static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, size, off, fi, 1);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	mfs_lake_closedir(LAKE(req), (struct mfs_dir *)(uintptr_t)fi->fh);
	reply_err(req, 0);
}

static void do_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mfs_open_flags of;
	struct mfs_file *f;
	int err = mfs_lake_open(LAKE(req), ino, fi->flags, &f, &of);

	if (err) {
		reply_err(req, -err);
		return;
	}
	fi->fh = (uintptr_t)f;
	fi->keep_cache = of.keep_cache;
	fi->direct_io = of.direct_io;
	if (fuse_reply_open(req, fi) == -ENOENT)
		mfs_lake_release(LAKE(req), f);
}

static void run_open(struct deferred *d)
{
	do_open(d->req, d->ino, &d->fi);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (mfs_lake_would_transform(LAKE(req), ino, MFS_OP_OPEN) &&
	    defer(req, ino, fi, NULL, 0, run_open) == 0)
		return;
	do_open(req, ino, fi);
}

/*
 * Each FUSE thread keeps its read buffer (the kernel sends up to 1 MiB): a
 * malloc per read would map and fault in fresh pages every time. Freed when
 * the thread ends.
 */
static pthread_key_t rbuf_key;
static pthread_once_t rbuf_once = PTHREAD_ONCE_INIT;

struct rbuf {
	size_t cap;
	char data[];
};

static void rbuf_key_make(void)
{
	(void)pthread_key_create(&rbuf_key, free);
}

static char *read_buffer(size_t size)
{
	struct rbuf *b;

	(void)pthread_once(&rbuf_once, rbuf_key_make);
	b = pthread_getspecific(rbuf_key);
	if (b && b->cap >= size)
		return b->data;
	free(b);
	b = malloc(sizeof(*b) + size);
	(void)pthread_setspecific(rbuf_key, b);
	if (!b)
		return NULL;
	b->cap = size;
	return b->data;
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct mfs_file *f = (struct mfs_file *)(uintptr_t)fi->fh;
	char *buf = read_buffer(size ? size : 1);
	ssize_t n;

	if (!buf) {
		reply_err(req, ENOMEM);
		return;
	}
	n = mfs_lake_read(LAKE(req), f, buf, size, off);
	if (n < 0)
		reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	mfs_lake_release(LAKE(req), (struct mfs_file *)(uintptr_t)fi->fh);
	reply_err(req, 0);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	/* An object store has no fixed size: report a large, empty, read-only one. */
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 1 << 20;
	sv.f_frsize = 1 << 20;
	sv.f_blocks = 1ULL << 30;
	sv.f_files = 1ULL << 32;
	sv.f_namemax = 255;
	sv.f_flag = mfs_lake_writable(LAKE(req)) ? 0 : ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

static void do_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	ssize_t n;

	if (size && !buf) {
		reply_err(req, ENOMEM);
		return;
	}
	n = mfs_lake_getxattr(LAKE(req), ino, name, buf, size);
	if (n < 0)
		reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void run_getxattr(struct deferred *d)
{
	do_getxattr(d->req, d->ino, d->name, d->size);
}

static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	if (strncmp(name, "user.medallion.", 15) == 0 &&
	    mfs_lake_would_transform(LAKE(req), ino, MFS_OP_XATTR) &&
	    defer(req, ino, NULL, name, size, run_getxattr) == 0)
		return;
	do_getxattr(req, ino, name, size);
}

static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	ssize_t n;

	if (size && !buf) {
		reply_err(req, ENOMEM);
		return;
	}
	n = mfs_lake_listxattr(LAKE(req), ino, buf, size);
	if (n < 0)
		reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/*
 * Writes: only bronze/ of a -o writable mount (lake.c answers EROFS
 * elsewhere); new files written sequentially, visible on close.
 */
static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct mfs_file *f = fi ? (struct mfs_file *)(uintptr_t)fi->fh : NULL;
	struct mfs_attr a;
	int what = 0, err;

	if (to_set & FUSE_SET_ATTR_SIZE)
		what |= MFS_SET_SIZE;
	if (to_set & ~FUSE_SET_ATTR_SIZE)
		what |= MFS_SET_OTHER;
	err = mfs_lake_setattr(LAKE(req), ino, f, what, (uint64_t)attr->st_size, &a);
	if (err)
		reply_err(req, -err);
	else
		fuse_reply_attr(req, &a.st, a.timeout);
}

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	/* Only regular files exist in an object store; those come through create. */
	reply_err(req, mfs_lake_writable(LAKE(req)) ? EPERM : EROFS);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct mfs_attr a;
	int err = mfs_lake_mkdir(LAKE(req), parent, name, &a);

	if (err)
		reply_err(req, -err);
	else if (fuse_reply_entry(req, &(struct fuse_entry_param){ .ino = a.st.st_ino,
								   .generation = 1,
								   .attr = a.st,
								   .attr_timeout = a.timeout,
								   .entry_timeout = a.timeout }))
		mfs_lake_forget(LAKE(req), a.st.st_ino, 1);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_err(req, -mfs_lake_unlink(LAKE(req), parent, name));
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_err(req, -mfs_lake_rmdir(LAKE(req), parent, name));
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	reply_err(req, -mfs_lake_rename(LAKE(req), parent, newparent));
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	struct mfs_file *f;
	struct mfs_attr a;
	int err = mfs_lake_create(LAKE(req), parent, name, fi->flags, &a, &f);

	if (err) {
		reply_err(req, -err);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = a.st.st_ino;
	e.generation = 1;
	e.attr = a.st;
	e.attr_timeout = a.timeout;
	e.entry_timeout = a.timeout;
	fi->fh = (uintptr_t)f;
	fi->direct_io = 1; /* written bytes never sit in the page cache */
	if (fuse_reply_create(req, &e, fi)) {
		/* Interrupted: no release and no forget will come. */
		mfs_lake_release(LAKE(req), f);
		mfs_lake_forget(LAKE(req), e.ino, 1);
	}
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	ssize_t n = mfs_lake_write(LAKE(req), (struct mfs_file *)(uintptr_t)fi->fh, buf, size, off);

	if (n < 0)
		reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	reply_err(req, -mfs_lake_flush(LAKE(req), (struct mfs_file *)(uintptr_t)fi->fh, 0));
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	reply_err(req, -mfs_lake_flush(LAKE(req), (struct mfs_file *)(uintptr_t)fi->fh, 1));
}

/* Objects carry no extended attributes of their own: ENOTSUP lets cp -a and
 * mv go on without them; outside a writable bronze/ it is EROFS. */
static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	reply_err(req, -mfs_lake_xattr_writable(LAKE(req), ino));
}

static void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	reply_err(req, -mfs_lake_xattr_writable(LAKE(req), ino));
}

void mfs_ll_inval(void *arg, uint64_t ino)
{
	int r = fuse_lowlevel_notify_inval_inode(arg, ino, 0, 0);

	/* -ENOENT: the kernel already forgot the inode, nothing is cached. */
	if (r && r != -ENOENT)
		mfs_debug("invalidating inode %llu: %s", (unsigned long long)ino, strerror(-r));
}

const struct fuse_lowlevel_ops mfs_ll_ops = {
	.init = ll_init,
	.lookup = ll_lookup,
	.forget = ll_forget,
	.forget_multi = ll_forget_multi,
	.getattr = ll_getattr,
	.setattr = ll_setattr,
	.mknod = ll_mknod,
	.mkdir = ll_mkdir,
	.unlink = ll_unlink,
	.rmdir = ll_rmdir,
	.rename = ll_rename,
	.create = ll_create,
	.opendir = ll_opendir,
	.readdir = ll_readdir,
	.readdirplus = ll_readdirplus,
	.releasedir = ll_releasedir,
	.open = ll_open,
	.read = ll_read,
	.write = ll_write,
	.flush = ll_flush,
	.fsync = ll_fsync,
	.release = ll_release,
	.statfs = ll_statfs,
	.getxattr = ll_getxattr,
	.listxattr = ll_listxattr,
	.setxattr = ll_setxattr,
	.removexattr = ll_removexattr,
};
