/*
 * store.h - object stores behind one vtable (S3 and a local directory).
 *
 * A store is rooted at a prefix (s3://BUCKET/PREFIX or a directory); every key
 * passed in or handed out is relative to that root, uses '/' as separator and
 * has no leading '/'. Functions return 0 or -errno, and on failure leave a
 * human-readable reason in mfs_last_error() (util/err.h).
 *
 * Errno meanings shared by every store:
 *   -ENOENT   no such key / bucket / directory
 *   -EACCES   access denied, bad signature, bad credentials
 *   -ESTALE   the object no longer has the ETag the caller pinned
 *   -EIO      anything else that failed after retries (archived objects too)
 *   -ECANCELED the store was aborted (shutdown)
 *   -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH: network, after retries
 *
 * All operations are safe to call from many threads at once.
 */
#ifndef MFS_STORE_H
#define MFS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct mfs_object {
	char *key;              /* malloc'd, relative to the store root */
	uint64_t size;
	struct timespec mtime;  /* LastModified */
	char etag[80];          /* without the surrounding quotes */
	char storage_class[32]; /* "" when STANDARD or unknown */
};

struct mfs_listing {
	struct mfs_object *objects; /* sorted by key (byte order) */
	size_t n_objects;
	char **prefixes;            /* each ends with '/', relative to the root */
	size_t n_prefixes;
};

/* Frees every key and prefix and the arrays; leaves *l zeroed. */
void mfs_listing_free(struct mfs_listing *l);
void mfs_object_free(struct mfs_object *o);

/*
 * Receives body bytes in order. Return 0 to go on, -errno to stop the
 * transfer (the store then returns that error).
 */
typedef int (*mfs_store_sink_fn)(void *arg, const void *data, size_t len);

struct mfs_store;

/* User metadata of a written object: S3 sends it as x-amz-meta-@name. */
struct mfs_store_meta {
	const char *name;  /* lower case, [a-z0-9-] */
	const char *value; /* printable ASCII */
};
#define MFS_STORE_MAX_META 8

/*
 * An object being written in parts (S3 multipart upload, a temporary file
 * for a local directory). Opaque; it lives from upload_begin until
 * upload_end, which always frees it.
 */
struct mfs_upload;

struct mfs_store_ops {
	const char *name; /* "s3", "local" */

	/*
	 * The direct children of @prefix ("" for the root, otherwise ending in
	 * '/'), as ListObjectsV2 with delimiter '/' gives them, all pages
	 * fetched. @out is filled on success and must be freed with
	 * mfs_listing_free(). An empty prefix that does not exist is an empty
	 * listing, not an error (S3 has no directories).
	 */
	int (*list)(struct mfs_store *st, const char *prefix, struct mfs_listing *out);

	/* HeadObject. @out->key is set to a copy of @key. */
	int (*head)(struct mfs_store *st, const char *key, struct mfs_object *out);

	/*
	 * Stream bytes [@off, @off + @len) of @key to @sink. When @etag is
	 * non-NULL and non-empty, every response must carry that ETag,
	 * otherwise -ESTALE and no byte of the other version reaches @sink.
	 * Fewer than @len bytes are delivered only at the end of the object.
	 * Transient failures are retried, resuming after the bytes already
	 * delivered, so @sink sees each byte exactly once.
	 */
	int (*get)(struct mfs_store *st, const char *key, const char *etag, uint64_t off,
		   uint64_t len, mfs_store_sink_fn sink, void *arg);

	/*
	 * Mount-time check that the root is reachable and the credentials are
	 * accepted. On failure writes one line (what failed and what to check)
	 * into @msg.
	 */
	int (*check)(struct mfs_store *st, char *msg, size_t msglen);

	/*
	 * ---- writes ----
	 * A written object becomes visible whole, never in part: @put and a
	 * committed upload replace @key at once; an upload ended without
	 * commit (or whose commit fails) leaves no object and leaves an
	 * existing one untouched.
	 *
	 * PutObject of @len bytes of @data, with @n_meta user metadata. On
	 * success @out (may be NULL) gets the new size, ETag and mtime.
	 */
	int (*put)(struct mfs_store *st, const char *key, const void *data, size_t len,
		   const struct mfs_store_meta *meta, size_t n_meta, struct mfs_object *out);

	/*
	 * DeleteObject. A @key ending in '/' names an empty directory: the
	 * local store removes the directory, S3 the "folder marker" object of
	 * that name, if any. A missing key is not an error (S3 answers 204).
	 */
	int (*remove)(struct mfs_store *st, const char *key);

	/* CreateMultipartUpload (local: a temporary file beside @key). */
	int (*upload_begin)(struct mfs_store *st, const char *key,
			    const struct mfs_store_meta *meta, size_t n_meta,
			    struct mfs_upload **out);

	/*
	 * UploadPart @part (1-based) holding bytes [@off, @off + @len) of the
	 * object. Parts may be sent from several threads at once, in any
	 * order; every part but the last must be at least 5 MiB (S3's rule).
	 */
	int (*upload_part)(struct mfs_store *st, struct mfs_upload *u, unsigned part,
			   uint64_t off, const void *data, size_t len);

	/*
	 * With @commit, CompleteMultipartUpload of parts 1..@nparts (each sent
	 * successfully); when that fails, AbortMultipartUpload is attempted.
	 * Without, AbortMultipartUpload only. Frees @u in every case. Returns 0
	 * or the first failure; *@abort_err (may be NULL) gets the outcome of
	 * the abort attempt (1 when none was needed) and @abort_why (may be
	 * NULL) its reason.
	 */
	int (*upload_end)(struct mfs_store *st, struct mfs_upload *u, int commit, unsigned nparts,
			  struct mfs_object *out, int *abort_err, char *abort_why,
			  size_t abort_why_len);

	/* Abort transfers in flight; later calls fail with -ECANCELED. */
	void (*abort)(struct mfs_store *st);

	void (*destroy)(struct mfs_store *st);
};

/* Every store implementation embeds this as its first member. */
struct mfs_store {
	const struct mfs_store_ops *ops;
};

/*
 * Read into a caller buffer: fills @buf with up to @len bytes from @off and
 * sets *@got to the count (short only at the end of the object).
 */
int mfs_store_get_range(struct mfs_store *st, const char *key, const char *etag, uint64_t off,
			size_t len, void *buf, size_t *got);

static inline int mfs_store_list(struct mfs_store *st, const char *prefix, struct mfs_listing *out)
{
	return st->ops->list(st, prefix, out);
}

static inline int mfs_store_head(struct mfs_store *st, const char *key, struct mfs_object *out)
{
	return st->ops->head(st, key, out);
}

static inline int mfs_store_check(struct mfs_store *st, char *msg, size_t msglen)
{
	return st->ops->check(st, msg, msglen);
}

static inline int mfs_store_remove(struct mfs_store *st, const char *key)
{
	return st->ops->remove(st, key);
}

static inline void mfs_store_abort(struct mfs_store *st)
{
	st->ops->abort(st);
}

static inline void mfs_store_destroy(struct mfs_store *st)
{
	if (st)
		st->ops->destroy(st);
}

/* ---- constructors ---- */

struct mfs_s3_config {
	const char *bucket;
	const char *prefix;     /* root prefix: "" or ending in '/' */
	const char *endpoint;   /* NULL: https://s3.REGION.amazonaws.com */
	const char *region;     /* NULL: AWS_REGION, AWS_DEFAULT_REGION, profile, us-east-1 */
	const char *profile;    /* NULL: AWS_PROFILE or "default" */
	int path_style;         /* 1 path-style, 0 virtual-hosted, -1: path-style iff endpoint set */
	int anonymous;          /* send unsigned requests */
	double connect_timeout; /* seconds; 0: 10 */
	double request_timeout; /* seconds, whole request with no progress; 0: 30 */
	int retries;            /* attempts after the first; <0: 4 */
};

/*
 * Resolves credentials (store/creds.h) and region; does not touch the
 * network beyond what the credential chain needs. On failure writes one line
 * into @msg.
 */
int mfs_s3_store_open(const struct mfs_s3_config *cfg, struct mfs_store **out, char *msg,
		      size_t msglen);

/* @root must be an existing directory (resolved with realpath by the caller). */
int mfs_local_store_open(const char *root, struct mfs_store **out, char *msg, size_t msglen);

#endif
