/*
 * test_stream.c - sources and sinks keep their first error (sticky), and the
 * memory, fd and buffer ends move bytes exactly.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../util/buf.h"
#include "../../util/stream.h"
#include "unit.h"

struct failing {
	struct mfs_source src;
	int calls;
};

static ssize_t failing_read(struct mfs_source *s, void *buf, size_t len)
{
	struct failing *f = (struct failing *)s;

	f->calls++;
	if (f->calls == 1) {
		memset(buf, 'x', len < 3 ? len : 3);
		return len < 3 ? (ssize_t)len : 3;
	}
	return -EIO;
}

struct failing_sink {
	struct mfs_sink sink;
	int calls;
};

static int failing_write(struct mfs_sink *s, const void *buf, size_t len)
{
	((struct failing_sink *)s)->calls++;
	return -ENOSPC;
}

int main(void)
{
	char buf[64];
	struct mfs_source *m = mfs_source_mem("hello, world", 12);
	struct failing f = { { failing_read, NULL, 0 }, 0 };
	struct failing_sink fs = { { failing_write, 0 }, 0 };
	struct mfs_buf b = MFS_BUF_INIT;
	struct mfs_sink_buf sb;
	struct mfs_sink_fd sf;
	int pfd[2];

	CHECK(m != NULL);
	CHECK(mfs_source_read(m, buf, 5) == 5 && memcmp(buf, "hello", 5) == 0);
	CHECK(mfs_source_read_full(m, buf, sizeof(buf)) == 7 && memcmp(buf, ", world", 7) == 0);
	CHECK(mfs_source_read(m, buf, sizeof(buf)) == 0);
	mfs_source_close(m);

	/* sticky: after the first error the source is never called again */
	CHECK(mfs_source_read_full(&f.src, buf, 10) == -EIO);
	CHECK(f.calls == 2 && f.src.err == -EIO);
	CHECK(mfs_source_read(&f.src, buf, 10) == -EIO && f.calls == 2);

	CHECK(mfs_sink_write(&fs.sink, "a", 1) == -ENOSPC);
	CHECK(mfs_sink_write(&fs.sink, "b", 1) == -ENOSPC && fs.calls == 1);
	CHECK(mfs_sink_write(&fs.sink, "", 0) == -ENOSPC);

	mfs_sink_buf_init(&sb, &b);
	CHECK(mfs_sink_write(&sb.sink, "abc", 3) == 0 && mfs_sink_write(&sb.sink, "def", 3) == 0);
	CHECK(b.len == 6 && strcmp(b.data, "abcdef") == 0);
	mfs_buf_free(&b);

	CHECK(pipe(pfd) == 0);
	mfs_sink_fd_init(&sf, pfd[1]);
	CHECK(mfs_sink_write(&sf.sink, "through a pipe", 14) == 0);
	close(pfd[1]);
	m = mfs_source_fd(pfd[0], 1);
	CHECK(m && mfs_source_read_full(m, buf, sizeof(buf)) == 14 &&
	      memcmp(buf, "through a pipe", 14) == 0);
	mfs_source_close(m);
	return unit_done("stream");
}
