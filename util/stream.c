/*
 * stream.c - sticky source/sink wrappers and the memory, fd and buffer ends.
 */
#include "stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

ssize_t mfs_source_read(struct mfs_source *src, void *buf, size_t len)
{
	ssize_t n;

	if (src->err)
		return src->err;
	n = src->read(src, buf, len);
	if (n < 0)
		src->err = (int)n;
	return n;
}

ssize_t mfs_source_read_full(struct mfs_source *src, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = mfs_source_read(src, (char *)buf + got, len - got);

		if (n < 0)
			return n;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

void mfs_source_close(struct mfs_source *src)
{
	if (src && src->close)
		src->close(src);
}

int mfs_sink_write(struct mfs_sink *snk, const void *buf, size_t len)
{
	int r;

	if (snk->err)
		return snk->err;
	if (len == 0)
		return 0;
	r = snk->write(snk, buf, len);
	if (r < 0)
		snk->err = r;
	return r;
}

struct mem_source {
	struct mfs_source src;
	const char *data;
	size_t len, off;
};

static ssize_t mem_read(struct mfs_source *src, void *buf, size_t len)
{
	struct mem_source *m = (struct mem_source *)src;
	size_t n = m->len - m->off;

	if (n > len)
		n = len;
	memcpy(buf, m->data + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

static void free_source(struct mfs_source *src)
{
	free(src);
}

struct mfs_source *mfs_source_mem(const void *data, size_t len)
{
	struct mem_source *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->src.read = mem_read;
	m->src.close = free_source;
	m->data = data;
	m->len = len;
	return &m->src;
}

struct fd_source {
	struct mfs_source src;
	int fd;
	int own;
};

static ssize_t fd_read(struct mfs_source *src, void *buf, size_t len)
{
	struct fd_source *f = (struct fd_source *)src;
	ssize_t n;

	do
		n = read(f->fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static void fd_close(struct mfs_source *src)
{
	struct fd_source *f = (struct fd_source *)src;

	if (f->own)
		close(f->fd);
	free(f);
}

struct mfs_source *mfs_source_fd(int fd, int own)
{
	struct fd_source *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->src.read = fd_read;
	f->src.close = fd_close;
	f->fd = fd;
	f->own = own;
	return &f->src;
}

static int buf_write(struct mfs_sink *snk, const void *data, size_t len)
{
	return mfs_buf_append(((struct mfs_sink_buf *)snk)->buf, data, len);
}

void mfs_sink_buf_init(struct mfs_sink_buf *s, struct mfs_buf *buf)
{
	memset(s, 0, sizeof(*s));
	s->sink.write = buf_write;
	s->buf = buf;
}

static int fd_write(struct mfs_sink *snk, const void *data, size_t len)
{
	struct mfs_sink_fd *s = (struct mfs_sink_fd *)snk;
	const char *p = data;

	while (len) {
		ssize_t n = write(s->fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void mfs_sink_fd_init(struct mfs_sink_fd *s, int fd)
{
	memset(s, 0, sizeof(*s));
	s->sink.write = fd_write;
	s->fd = fd;
}
