/*
 * decompress.c - the first silver stage: a source giving the decompressed
 * bytes of a .gz or .zst bronze object.
 *
 * The compressed input is read in 64 KiB blocks and decompressed straight
 * into the caller's buffer, so memory stays bounded whatever the ratio (a
 * zip bomb costs time, not memory): zlib keeps a 32 KiB window, libzstd at
 * most the frame's window, which its default limit caps at 128 MiB (frames
 * needing more are refused as corrupt).
 *
 * gzip: inflateInit2(15 + 32) reads the gzip header (a zlib header too). A
 * file may hold several members back to back (cat a.gz b.gz, pigz, bgzip),
 * read as one stream; zero bytes after the last member (tape padding) are
 * ignored as gzip(1) does, anything else there is an error. zstd:
 * ZSTD_decompressStream goes from frame to frame by itself and skips
 * skippable frames. Corrupt or truncated input, or an empty file, fails the
 * stream with -EBADMSG and the reason via mfs_set_error() ("gzip: invalid
 * block type", "zstd: truncated input"); the zlib and zstd codes are
 * translated here and nowhere else.
 */
#include "reader.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "../util/err.h"

#define DZ_BLOCK (64 * 1024)

enum gz_state {
	GZ_MEMBER,  /* inside a member (or before the first) */
	GZ_BETWEEN, /* a member ended: another, padding or the end may follow */
	GZ_PADDING, /* zero bytes to the end */
};

struct dz_source {
	struct mfs_source src;
	struct mfs_source *inner; /* owned */
	enum mfs_codec codec;
	unsigned char *in; /* in[pos..len) not yet given to the decompressor */
	size_t pos, len;
	int inner_eof;
	uint64_t total_in;
	int err;           /* sticky, also when read() is called past the wrapper */

	z_stream z;
	int z_init;
	enum gz_state gz;

	ZSTD_DStream *zd;
	int frame_open;    /* a zstd frame is not complete or not flushed yet */
};

static ssize_t dz_fail(struct dz_source *d, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static ssize_t dz_fail(struct dz_source *d, int err, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mfs_set_error("%s", msg);
	d->err = err;
	return err;
}

/* Make input available unless the inner source ended: 0 or -errno. */
static int dz_fill(struct dz_source *d)
{
	ssize_t n;

	if (d->pos < d->len || d->inner_eof)
		return 0;
	n = mfs_source_read(d->inner, d->in, DZ_BLOCK);
	if (n < 0) {
		d->err = (int)n;
		return (int)n;
	}
	d->pos = 0;
	d->len = (size_t)n;
	d->total_in += (uint64_t)n;
	if (n == 0)
		d->inner_eof = 1;
	return 0;
}

static ssize_t gz_read(struct mfs_source *src, void *buf, size_t len)
{
	struct dz_source *d = (struct dz_source *)src;
	size_t produced = 0;

	if (d->err)
		return d->err;
	if (len > UINT_MAX)
		len = UINT_MAX;
	while (produced == 0 && len) {
		size_t avail;
		int ret;

		if (dz_fill(d))
			return d->err;
		avail = d->len - d->pos;
		if (d->gz != GZ_MEMBER) {
			if (!avail)
				return 0;
			if (d->gz == GZ_PADDING || d->in[d->pos] == 0) {
				d->gz = GZ_PADDING;
				while (d->pos < d->len && d->in[d->pos] == 0)
					d->pos++;
				if (d->pos < d->len)
					return dz_fail(d, -EBADMSG,
						       "gzip: trailing garbage after the last member");
				continue;
			}
			if (d->in[d->pos] != 0x1f)
				return dz_fail(d, -EBADMSG,
					       "gzip: trailing garbage after the last member");
			if (inflateReset(&d->z) != Z_OK)
				return dz_fail(d, -EBADMSG, "gzip: cannot reset the inflater");
			d->gz = GZ_MEMBER;
		}
		d->z.next_in = d->in + d->pos;
		d->z.avail_in = (uInt)avail;
		d->z.next_out = (Bytef *)buf + produced;
		d->z.avail_out = (uInt)(len - produced);
		ret = inflate(&d->z, Z_NO_FLUSH);
		d->pos += avail - d->z.avail_in;
		produced = len - d->z.avail_out;
		switch (ret) {
		case Z_STREAM_END:
			d->gz = GZ_BETWEEN;
			break;
		case Z_OK:
		case Z_BUF_ERROR:
			/* No input left and nothing came out: the member is cut short. */
			if (!avail && !produced)
				return dz_fail(d, -EBADMSG, "gzip: %s",
					       d->total_in ? "unexpected end of input"
							   : "empty input");
			break;
		case Z_MEM_ERROR:
			return dz_fail(d, -ENOMEM, "gzip: out of memory");
		case Z_NEED_DICT:
			return dz_fail(d, -EBADMSG, "gzip: needs a preset dictionary");
		default:
			return dz_fail(d, -EBADMSG, "gzip: %s",
				       d->z.msg ? d->z.msg : "corrupt data");
		}
	}
	return (ssize_t)produced;
}

static ssize_t zs_read(struct mfs_source *src, void *buf, size_t len)
{
	struct dz_source *d = (struct dz_source *)src;
	ZSTD_outBuffer out = { buf, len, 0 };

	if (d->err)
		return d->err;
	while (out.pos == 0 && len) {
		ZSTD_inBuffer zin;
		size_t ret;

		if (dz_fill(d))
			return d->err;
		if (d->pos == d->len && !d->frame_open)
			return d->total_in ? 0 : dz_fail(d, -EBADMSG, "zstd: empty input");
		zin = (ZSTD_inBuffer){ d->in, d->len, d->pos };
		ret = ZSTD_decompressStream(d->zd, &out, &zin);
		if (ZSTD_isError(ret)) {
			if (ZSTD_getErrorCode(ret) == ZSTD_error_memory_allocation)
				return dz_fail(d, -ENOMEM, "zstd: out of memory");
			return dz_fail(d, -EBADMSG, "zstd: %s", ZSTD_getErrorName(ret));
		}
		/* No input left, a frame open and nothing came out: cut short. */
		if (zin.pos == d->pos && d->pos == d->len && !out.pos && ret)
			return dz_fail(d, -EBADMSG, "zstd: truncated input");
		d->pos = zin.pos;
		d->frame_open = ret != 0;
	}
	return (ssize_t)out.pos;
}

static void dz_close(struct mfs_source *src)
{
	struct dz_source *d = (struct dz_source *)src;

	if (d->z_init)
		inflateEnd(&d->z);
	ZSTD_freeDStream(d->zd);
	mfs_source_close(d->inner);
	free(d->in);
	free(d);
}

int mfs_decompress_open(struct mfs_source *inner, enum mfs_codec codec, struct mfs_source **out)
{
	struct dz_source *d;

	*out = NULL;
	if (!inner)
		return -EINVAL;
	switch (codec) {
	case MFS_CODEC_NONE:
		/* Nothing to do: the inner source is the stage, and closing it closes it. */
		*out = inner;
		return 0;
	case MFS_CODEC_GZIP:
	case MFS_CODEC_ZSTD:
		break;
	default:
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->inner = inner;
	d->codec = codec;
	d->src.close = dz_close;
	d->in = malloc(DZ_BLOCK);
	if (!d->in)
		goto nomem;
	if (codec == MFS_CODEC_GZIP) {
		d->src.read = gz_read;
		if (inflateInit2(&d->z, 15 + 32) != Z_OK)
			goto nomem;
		d->z_init = 1;
	} else {
		d->src.read = zs_read;
		d->zd = ZSTD_createDStream();
		if (!d->zd || ZSTD_isError(ZSTD_initDStream(d->zd)))
			goto nomem;
	}
	*out = &d->src;
	return 0;
nomem:
	/* @inner stays the caller's when the stage could not be made. */
	d->inner = NULL;
	dz_close(&d->src);
	return -ENOMEM;
}
