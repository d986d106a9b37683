/*
 * writer.h - one bronze file written through the mount (-o writable): a
 * sequential stream of bytes that becomes one object, all at once, on commit.
 *
 * An object smaller than one part is sent with a single PutObject at commit;
 * a larger one as a multipart upload whose parts are sent from the pool while
 * the writer goes on (at most MFS_WRITER_MAX_INFLIGHT per file, and a
 * process-wide memory budget). A failure is sticky: later writes and the
 * commit return it, and the upload is aborted, never completed.
 */
#ifndef MFS_WRITER_H
#define MFS_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../store/store.h"
#include "pool.h"

#define MFS_WRITER_FIRST_PART (8u << 20)
#define MFS_WRITER_MAX_INFLIGHT 4

struct mfs_writer;

/* Process-wide cap on the memory of parts in flight (a writer may always send one). */
void mfs_writer_set_budget(size_t bytes);

/* Objects committed, bytes in them, uploads failed: process-wide. */
void mfs_writer_counters(uint64_t *objects, uint64_t *bytes, uint64_t *failures);

/*
 * The size of part @n (1-based): 8 MiB for the first 1 000 parts, doubling
 * every 1 000 parts after that, so the 10 000 parts S3 allows cover about
 * 8 TiB and no part is larger than 4 GiB (S3's limit is 5 GiB).
 */
size_t mfs_writer_part_size(unsigned n);

/*
 * @key and the @n_meta user metadata (sent with the object) are copied; @st
 * and @pool must outlive the writer.
 */
int mfs_writer_new(struct mfs_store *st, struct mfs_pool *pool, const char *key,
		   const struct mfs_store_meta *meta, size_t n_meta, struct mfs_writer **out);

/*
 * Append @size bytes written at @off. -EOPNOTSUPP when @off is not the end
 * of what was written so far (no random writes) or after a multipart commit,
 * -EIO (with the reason in mfs_last_error()) after a failure. After a commit
 * by one PutObject (smaller than a part) the writer keeps the bytes, and a
 * write at the end takes it up again: the next commit replaces the object.
 */
ssize_t mfs_writer_write(struct mfs_writer *w, const char *buf, size_t size, uint64_t off);

/* Bytes written so far; *@committed (may be NULL): has everything written
 * been committed (successfully or not)? */
uint64_t mfs_writer_size(struct mfs_writer *w, int *committed);

/*
 * Make the object visible: send what is left, wait for every part, complete
 * the upload (or PutObject). On failure the upload is aborted and the abort
 * attempt logged. Later calls return the same result (until a write takes
 * a small object up again). @out (may be NULL)
 * gets the object's ETag and size.
 */
int mfs_writer_commit(struct mfs_writer *w, struct mfs_object *out);

/* Aborts an uncommitted upload (waiting for its parts), then frees. */
void mfs_writer_free(struct mfs_writer *w);

#endif
