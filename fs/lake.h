/*
 * lake.h - the FUSE-free core of the mount: what each path is, its
 * attributes, directory contents and file reads. ll.c translates FUSE
 * requests into these calls and their results into fuse_reply_*; tests can
 * drive it without a mount.
 *
 * Every function returns 0 (or a byte count) or -errno.
 */
#ifndef MFS_LAKE_H
#define MFS_LAKE_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../cache/cache.h"
#include "../store/store.h"
#include "../transforms/pipeline.h"

struct mfs_lake;

struct mfs_lake_config {
	struct mfs_store *store; /* owned by the caller, outlives the lake */
	const char *source;      /* for messages and fsname */
	double metadata_ttl;
	uid_t uid;
	gid_t gid;
	size_t max_prefetch;
	size_t block_cache; /* bronze random-read blocks, all files together */
	struct mfs_cache *cache;             /* owned by the caller */
	const struct mfs_pipeline *pipeline; /* owned by the caller */
	const char *tmpdir;                  /* spill files of transforms */
	int transform_threads;               /* 0: 4 */
	int writable;                        /* -o writable: bronze accepts writes */
	/* -o publish: where computed files go (publish.h), NULL without; owned by the caller */
	struct mfs_store *publish_store;
	const char *publish_url;    /* "s3://bucket/prefix/": what _schema.sql points at */
	/* The publish root seen from SOURCE ("" or ending in '/'), NULL when outside:
	 * its silver/ and gold/ are hidden from bronze. */
	const char *publish_hidden;
};

struct mfs_attr {
	struct stat st;
	double timeout;  /* entry and attribute timeout, seconds */
	int no_entry;    /* readdirplus: a name without attributes (no lookup counted) */
};

/* Called from a pool thread when the kernel must drop an inode's pages. */
typedef void (*mfs_inval_fn)(void *arg, uint64_t ino);

int mfs_lake_new(const struct mfs_lake_config *cfg, struct mfs_lake **out);
void mfs_lake_set_inval(struct mfs_lake *lake, mfs_inval_fn fn, void *arg);
/* The cache is opened after daemonising (LMDB must not cross a fork). */
void mfs_lake_set_cache(struct mfs_lake *lake, struct mfs_cache *cache);
void mfs_lake_set_tmpdir(struct mfs_lake *lake, const char *tmpdir);
/* Starts the worker threads: call after daemonising. */
int mfs_lake_start(struct mfs_lake *lake);
/* Aborts transfers in flight and stops the workers; idempotent. */
void mfs_lake_shutdown(struct mfs_lake *lake);
void mfs_lake_free(struct mfs_lake *lake);

/*
 * Would answering @op for @ino run a transform (or wait for one)? Then the
 * caller must not make a FUSE thread wait: it runs the call on the
 * transform pool with mfs_lake_submit(). Cheap; no I/O.
 */
enum mfs_lake_op { MFS_OP_GETATTR, MFS_OP_OPEN, MFS_OP_XATTR };
int mfs_lake_would_transform(struct mfs_lake *lake, uint64_t ino, enum mfs_lake_op op);

/* Run @fn(@arg) on the transform pool. 0 or -errno (then @fn never runs). */
int mfs_lake_submit(struct mfs_lake *lake, void (*fn)(void *arg), void *arg);

/* One kernel lookup more on success. */
int mfs_lake_lookup(struct mfs_lake *lake, uint64_t parent, const char *name,
		    struct mfs_attr *out);
void mfs_lake_forget(struct mfs_lake *lake, uint64_t ino, uint64_t nlookup);
int mfs_lake_getattr(struct mfs_lake *lake, uint64_t ino, struct mfs_attr *out);

/* Directories: a snapshot taken at open, so offsets stay stable. */
struct mfs_dir;
int mfs_lake_opendir(struct mfs_lake *lake, uint64_t ino, struct mfs_dir **out);
/*
 * Entry @i (0 is ".", 1 is ".."): *@name lives as long as @dir. With @plus
 * the entry's node gets one kernel lookup, which the caller must give back
 * with mfs_lake_forget() if the entry did not fit into the reply — except
 * when attr->no_entry: an unmaterialised silver file has no attributes to
 * give yet (listing names never runs a transform).
 * Returns 0, 1 past the end, or -errno.
 */
int mfs_lake_readdir(struct mfs_lake *lake, struct mfs_dir *dir, size_t i, int plus,
		     const char **name, struct mfs_attr *attr);
void mfs_lake_closedir(struct mfs_lake *lake, struct mfs_dir *dir);

struct mfs_file;
struct mfs_open_flags {
	int keep_cache;
	int direct_io;
};
int mfs_lake_open(struct mfs_lake *lake, uint64_t ino, int flags, struct mfs_file **out,
		  struct mfs_open_flags *of);
/* Up to @size bytes at @off into @buf; short only at the end of the file. */
ssize_t mfs_lake_read(struct mfs_lake *lake, struct mfs_file *f, char *buf, size_t size, off_t off);
void mfs_lake_release(struct mfs_lake *lake, struct mfs_file *f);

/*
 * ---- bronze writes (-o writable) ----
 * Without writable, and anywhere outside bronze/, every one of these answers
 * -EROFS. Errors of the store come back as -EIO with the reason in
 * .medallion/errors.
 */
int mfs_lake_writable(struct mfs_lake *lake);

/* Create (or, without O_EXCL, overwrite) @name and open it for writing. One
 * kernel lookup more on success. */
int mfs_lake_create(struct mfs_lake *lake, uint64_t parent, const char *name, int flags,
		    struct mfs_attr *out, struct mfs_file **f);
/* Sequential only: -EOPNOTSUPP for any other offset; -EBADF on a read handle. */
ssize_t mfs_lake_write(struct mfs_lake *lake, struct mfs_file *f, const char *buf, size_t size,
		       off_t off);
/*
 * fsync(2) (@sync) and close(2): make the object visible. 0 for handles not
 * writing. A close before any byte was written (a shell's "> file" closes a
 * descriptor before the command writes through its copy) leaves an empty new
 * object to the release of the last descriptor, so a writer that never
 * finishes leaves no object and an overwritten one is not emptied early.
 * A file unlinked while open is not committed (its upload is aborted).
 */
int mfs_lake_flush(struct mfs_lake *lake, struct mfs_file *f, int sync);

#define MFS_SET_SIZE 1  /* truncate/extend: only to the size written (or beyond, with zeros) */
#define MFS_SET_OTHER 2 /* mode, owner, times: accepted, nothing is kept */
int mfs_lake_setattr(struct mfs_lake *lake, uint64_t ino, struct mfs_file *f, int what,
		     uint64_t size, struct mfs_attr *out);

/* setxattr/removexattr: -ENOTSUP on a writable bronze node, else -EROFS. */
int mfs_lake_xattr_writable(struct mfs_lake *lake, uint64_t ino);

int mfs_lake_unlink(struct mfs_lake *lake, uint64_t parent, const char *name);
/* A directory of the mount's memory until a file is written into it. */
int mfs_lake_mkdir(struct mfs_lake *lake, uint64_t parent, const char *name,
		   struct mfs_attr *out);
int mfs_lake_rmdir(struct mfs_lake *lake, uint64_t parent, const char *name);
/* -EXDEV inside a writable bronze/ (mv then copies and deletes), else -EROFS. */
int mfs_lake_rename(struct mfs_lake *lake, uint64_t parent, uint64_t newparent);

/* Extended attributes: value length, or -ENODATA / -ERANGE. */
ssize_t mfs_lake_getxattr(struct mfs_lake *lake, uint64_t ino, const char *name, char *buf,
			  size_t size);
ssize_t mfs_lake_listxattr(struct mfs_lake *lake, uint64_t ino, char *buf, size_t size);

#endif
