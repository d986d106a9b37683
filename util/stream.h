/*
 * stream.h - the byte streams that store/, transforms/ and cache/ meet
 * through (redis rio style): a source to read from, a sink to write to.
 *
 * Both carry a sticky error: once a read or write failed, every later call
 * returns the same -errno without touching the underlying stream, so a chain
 * of stages stays failed (STYLE.md). A stage that wraps another owns it only
 * when its constructor says so.
 */
#ifndef MFS_STREAM_H
#define MFS_STREAM_H

#include <stddef.h>
#include <sys/types.h>

struct mfs_source {
	/* Up to @len bytes into @buf: count, 0 at end, or -errno. */
	ssize_t (*read)(struct mfs_source *src, void *buf, size_t len);
	/* Frees the source (and what it owns). May be NULL. */
	void (*close)(struct mfs_source *src);
	int err; /* sticky: 0 or the first -errno */
};

struct mfs_sink {
	/* All @len bytes, or -errno. */
	int (*write)(struct mfs_sink *snk, const void *buf, size_t len);
	int err; /* sticky */
};

/* Sticky wrappers: use these, never the function pointers directly. */
ssize_t mfs_source_read(struct mfs_source *src, void *buf, size_t len);
/* Fill @buf completely unless the stream ends: count read, or -errno. */
ssize_t mfs_source_read_full(struct mfs_source *src, void *buf, size_t len);
void mfs_source_close(struct mfs_source *src);
int mfs_sink_write(struct mfs_sink *snk, const void *buf, size_t len);

/* A source over memory the caller keeps alive; freed by mfs_source_close(). */
struct mfs_source *mfs_source_mem(const void *data, size_t len);
/* A source over an fd from its current offset; @own: close(fd) on close. */
struct mfs_source *mfs_source_fd(int fd, int own);

/* A sink appending to a growable buffer (util/buf.h) the caller owns. */
struct mfs_buf;
struct mfs_sink_buf {
	struct mfs_sink sink;
	struct mfs_buf *buf;
};
void mfs_sink_buf_init(struct mfs_sink_buf *s, struct mfs_buf *buf);

/* A sink writing everything to @fd (not closed). */
struct mfs_sink_fd {
	struct mfs_sink sink;
	int fd;
};
void mfs_sink_fd_init(struct mfs_sink_fd *s, int fd);

#endif
