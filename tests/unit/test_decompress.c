/*
 * test_decompress.c - the gzip and zstd stages: members and frames back to
 * back, tiny reads on both sides, truncated and corrupt input, ownership.
 *
 * Test data is made here with zlib's deflate and the zstd API, over a
 * payload with both repetitive and noisy parts so blocks of every kind
 * appear.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "buf.h"
#include "err.h"
#include "reader.h"
#include "stream.h"
#include "unit.h"

/* A source handing out 1..7 bytes per read, counting its close. */
struct chunk_source {
	struct mfs_source src;
	const unsigned char *data;
	size_t len, off;
	unsigned step;
	int tiny;    /* 1..7 bytes per read, else all that fits */
	int fail_at; /* >= 0: -EIO once off reaches it */
	int *closed;
};

static ssize_t chunk_read(struct mfs_source *src, void *buf, size_t len)
{
	struct chunk_source *c = (struct chunk_source *)src;
	size_t n = c->tiny ? 1 + c->step++ % 7 : len;

	if (c->fail_at >= 0 && c->off >= (size_t)c->fail_at)
		return -EIO;
	if (n > len)
		n = len;
	if (n > c->len - c->off)
		n = c->len - c->off;
	memcpy(buf, c->data + c->off, n);
	c->off += n;
	return (ssize_t)n;
}

static void chunk_close(struct mfs_source *src)
{
	struct chunk_source *c = (struct chunk_source *)src;

	if (c->closed)
		(*c->closed)++;
	free(c);
}

static struct mfs_source *chunk_new(const void *data, size_t len, int tiny, int *closed)
{
	struct chunk_source *c = calloc(1, sizeof(*c));

	c->src.read = chunk_read;
	c->src.close = chunk_close;
	c->data = data;
	c->len = len;
	c->tiny = tiny;
	c->fail_at = -1;
	c->closed = closed;
	return &c->src;
}

static void payload(struct mfs_buf *b, size_t n, unsigned seed)
{
	size_t i;

	mfs_buf_reserve(b, n);
	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		/* runs of text, then noise */
		b->data[b->len + i] = (i / 4096) % 2 ? (char)(seed >> 16) : "medallion,42\n"[i % 13];
	}
	b->len += n;
}

static void gzip_member(struct mfs_buf *out, const void *data, size_t len)
{
	z_stream z;
	int ret;

	memset(&z, 0, sizeof(z));
	CHECK(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
	mfs_buf_reserve(out, deflateBound(&z, len) + 64);
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out->data + out->len;
	z.avail_out = (uInt)(out->cap - out->len - 1);
	ret = deflate(&z, Z_FINISH);
	CHECK(ret == Z_STREAM_END);
	out->len += z.total_out;
	deflateEnd(&z);
}

static void zstd_frame(struct mfs_buf *out, const void *data, size_t len, int checksum)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t bound = ZSTD_compressBound(len), n;

	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, checksum);
	mfs_buf_reserve(out, bound);
	n = ZSTD_compress2(cc, out->data + out->len, bound, data, len);
	CHECK(!ZSTD_isError(n));
	if (!ZSTD_isError(n))
		out->len += n;
	ZSTD_freeCCtx(cc);
}

/* Everything @src gives, read @bufsize bytes at a time; 0 or the error. */
static int drain(struct mfs_source *src, size_t bufsize, struct mfs_buf *out)
{
	char *buf = malloc(bufsize);
	ssize_t n;

	while ((n = mfs_source_read(src, buf, bufsize)) > 0)
		mfs_buf_append(out, buf, (size_t)n);
	free(buf);
	return (int)n;
}

/* Decompress @in with @codec in every combination of tiny/large reads. */
static void roundtrip(enum mfs_codec codec, const struct mfs_buf *in, const struct mfs_buf *want,
		      const char *what)
{
	static const size_t bufsizes[] = { 1, 7, 4096, 1 << 20 };
	int tiny, k;

	for (tiny = 0; tiny < 2; tiny++) {
		for (k = 0; k < 4; k++) {
			struct mfs_buf got = MFS_BUF_INIT;
			struct mfs_source *s = NULL;
			int closed = 0, ret;

			/* 1-byte reads of megabytes take long enough; skip those */
			if (bufsizes[k] == 1 && want->len > 300000)
				continue;
			CHECK(mfs_decompress_open(chunk_new(in->data, in->len, tiny, &closed), codec,
						  &s) == 0);
			ret = drain(s, bufsizes[k], &got);
			CHECK_MSG(ret == 0, "%s tiny=%d buf=%zu: %d %s", what, tiny, bufsizes[k],
				  ret, mfs_last_error());
			CHECK_MSG(got.len == want->len &&
					  (!got.len || !memcmp(got.data, want->data, got.len)),
				  "%s tiny=%d buf=%zu: %zu bytes, want %zu", what, tiny, bufsizes[k],
				  got.len, want->len);
			/* at the end it stays at the end */
			CHECK(drain(s, 16, &got) == 0);
			mfs_source_close(s);
			CHECK(closed == 1);
			mfs_buf_free(&got);
		}
	}
}

/* Decompressing @in must fail with -EBADMSG and a reason starting @prefix. */
static void expect_bad(enum mfs_codec codec, const void *in, size_t len, const char *prefix,
		       const char *what)
{
	int tiny;

	for (tiny = 0; tiny < 2; tiny++) {
		struct mfs_buf got = MFS_BUF_INIT;
		struct mfs_source *s = NULL;
		char buf[16];
		int ret;

		mfs_clear_error();
		CHECK(mfs_decompress_open(chunk_new(in, len, tiny, NULL), codec, &s) == 0);
		ret = drain(s, tiny ? 3 : 65536, &got);
		CHECK_MSG(ret == -EBADMSG, "%s: %d", what, ret);
		CHECK_MSG(!strncmp(mfs_last_error(), prefix, strlen(prefix)), "%s: reason '%s'",
			  what, mfs_last_error());
		/* sticky */
		CHECK(mfs_source_read(s, buf, sizeof(buf)) == -EBADMSG);
		CHECK(s->read(s, buf, sizeof(buf)) == -EBADMSG);
		mfs_source_close(s);
		mfs_buf_free(&got);
	}
}

static void test_gzip(void)
{
	struct mfs_buf a = MFS_BUF_INIT, b = MFS_BUF_INIT, both = MFS_BUF_INIT;
	struct mfs_buf gz = MFS_BUF_INIT, gz2 = MFS_BUF_INIT, bad = MFS_BUF_INIT;

	payload(&a, 200000, 1);
	payload(&b, 70000, 2);
	gzip_member(&gz, a.data, a.len);
	roundtrip(MFS_CODEC_GZIP, &gz, &a, "gzip one member");

	/* two members back to back (cat a.gz b.gz), with an empty one between */
	mfs_buf_append(&gz2, gz.data, gz.len);
	gzip_member(&gz2, "", 0);
	gzip_member(&gz2, b.data, b.len);
	mfs_buf_append(&both, a.data, a.len);
	mfs_buf_append(&both, b.data, b.len);
	roundtrip(MFS_CODEC_GZIP, &gz2, &both, "gzip two members");

	/* zero padding after the last member is ignored */
	mfs_buf_append(&gz2, "\0\0\0\0\0\0\0", 7);
	roundtrip(MFS_CODEC_GZIP, &gz2, &both, "gzip zero padding");
	/* other bytes there are not */
	mfs_buf_append(&gz2, "x", 1);
	expect_bad(MFS_CODEC_GZIP, gz2.data, gz2.len, "gzip: trailing garbage", "gzip padding+x");
	gz2.len -= 8;
	mfs_buf_append(&gz2, "PK\3\4", 4);
	expect_bad(MFS_CODEC_GZIP, gz2.data, gz2.len, "gzip: trailing garbage", "gzip garbage");

	/* truncated: in the data, in the trailer, in the header, in the second member */
	expect_bad(MFS_CODEC_GZIP, gz.data, gz.len / 2, "gzip: unexpected end of input",
		   "gzip half");
	expect_bad(MFS_CODEC_GZIP, gz.data, gz.len - 3, "gzip: unexpected end of input",
		   "gzip no trailer");
	expect_bad(MFS_CODEC_GZIP, gz.data, 5, "gzip: unexpected end of input", "gzip header");
	expect_bad(MFS_CODEC_GZIP, gz2.data, gz.len + 3, "gzip: unexpected end of input",
		   "gzip second header");
	expect_bad(MFS_CODEC_GZIP, "", 0, "gzip: empty input", "gzip empty");

	/* corrupt: not gzip at all, a flipped bit in the data, a wrong CRC */
	expect_bad(MFS_CODEC_GZIP, "hello, world\n", 13, "gzip: incorrect header check",
		   "gzip plain text");
	mfs_buf_append(&bad, gz.data, gz.len);
	bad.data[bad.len / 2] ^= 0x10;
	expect_bad(MFS_CODEC_GZIP, bad.data, bad.len, "gzip: ", "gzip flipped bit");
	memcpy(bad.data, gz.data, gz.len);
	bad.data[bad.len - 6] ^= 1;
	expect_bad(MFS_CODEC_GZIP, bad.data, bad.len, "gzip: incorrect data check", "gzip crc");

	mfs_buf_free(&a);
	mfs_buf_free(&b);
	mfs_buf_free(&both);
	mfs_buf_free(&gz);
	mfs_buf_free(&gz2);
	mfs_buf_free(&bad);
}

static void test_zstd(void)
{
	struct mfs_buf a = MFS_BUF_INIT, b = MFS_BUF_INIT, both = MFS_BUF_INIT;
	struct mfs_buf zs = MFS_BUF_INIT, zs2 = MFS_BUF_INIT, bad = MFS_BUF_INIT;
	static const unsigned char skippable[] = { 0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 'a', 'b', 'c' };

	payload(&a, 300000, 3);
	payload(&b, 50000, 4);
	zstd_frame(&zs, a.data, a.len, 1);
	roundtrip(MFS_CODEC_ZSTD, &zs, &a, "zstd one frame");

	/* two frames (one without checksum), a skippable frame between */
	mfs_buf_append(&zs2, zs.data, zs.len);
	mfs_buf_append(&zs2, skippable, sizeof(skippable));
	zstd_frame(&zs2, b.data, b.len, 0);
	mfs_buf_append(&both, a.data, a.len);
	mfs_buf_append(&both, b.data, b.len);
	roundtrip(MFS_CODEC_ZSTD, &zs2, &both, "zstd two frames");

	/* an empty frame decompresses to nothing, no input at all is an error */
	mfs_buf_reset(&bad);
	zstd_frame(&bad, "", 0, 0);
	mfs_buf_reset(&b);
	roundtrip(MFS_CODEC_ZSTD, &bad, &b, "zstd empty frame");
	expect_bad(MFS_CODEC_ZSTD, "", 0, "zstd: empty input", "zstd empty");

	/* truncated: mid-frame, mid second frame, in the header */
	expect_bad(MFS_CODEC_ZSTD, zs.data, zs.len / 2, "zstd: truncated input", "zstd half");
	expect_bad(MFS_CODEC_ZSTD, zs.data, zs.len - 1, "zstd: truncated input", "zstd checksum");
	expect_bad(MFS_CODEC_ZSTD, zs2.data, zs2.len - 10, "zstd: truncated input", "zstd 2nd");
	expect_bad(MFS_CODEC_ZSTD, zs.data, 3, "zstd: truncated input", "zstd magic");

	/* corrupt: not zstd, trailing garbage, a flipped bit caught by the checksum */
	expect_bad(MFS_CODEC_ZSTD, "hello, world\n", 13, "zstd: ", "zstd plain text");
	mfs_buf_reset(&bad);
	mfs_buf_append(&bad, zs.data, zs.len);
	mfs_buf_append(&bad, "garbage!", 8);
	expect_bad(MFS_CODEC_ZSTD, bad.data, bad.len, "zstd: ", "zstd garbage");
	bad.len -= 8;
	bad.data[bad.len - 2] ^= 0x40;
	expect_bad(MFS_CODEC_ZSTD, bad.data, bad.len, "zstd: ", "zstd checksum");
	memcpy(bad.data, zs.data, zs.len);
	bad.data[bad.len / 2] ^= 0x40;
	expect_bad(MFS_CODEC_ZSTD, bad.data, bad.len, "zstd: ", "zstd flipped bit");

	mfs_buf_free(&a);
	mfs_buf_free(&b);
	mfs_buf_free(&both);
	mfs_buf_free(&zs);
	mfs_buf_free(&zs2);
	mfs_buf_free(&bad);
}

/* 64 MiB of zeros from 64 KiB: streamed, never held. */
static void test_ratio(void)
{
	size_t n = (size_t)64 << 20;
	char *zeros = calloc(1, n);
	struct mfs_buf gz = MFS_BUF_INIT, zs = MFS_BUF_INIT;
	int codec;

	gzip_member(&gz, zeros, n);
	zstd_frame(&zs, zeros, n, 1);
	free(zeros);
	for (codec = 0; codec < 2; codec++) {
		struct mfs_source *s = NULL;
		char buf[65536];
		size_t total = 0;
		ssize_t got;
		int nonzero = 0;

		CHECK(mfs_decompress_open(codec ? mfs_source_mem(zs.data, zs.len)
						: mfs_source_mem(gz.data, gz.len),
					  codec ? MFS_CODEC_ZSTD : MFS_CODEC_GZIP, &s) == 0);
		while ((got = mfs_source_read(s, buf, sizeof(buf))) > 0) {
			size_t i;

			for (i = 0; i < (size_t)got; i++)
				nonzero |= buf[i];
			total += (size_t)got;
		}
		CHECK(got == 0 && total == n && !nonzero);
		mfs_source_close(s);
	}
	mfs_buf_free(&gz);
	mfs_buf_free(&zs);
}

static void test_none_and_errors(void)
{
	const char text[] = "plain text, not compressed\n";
	struct mfs_buf got = MFS_BUF_INIT, gz = MFS_BUF_INIT;
	struct mfs_source *s = NULL, *inner;
	struct chunk_source *cs;
	int closed = 0;

	/* pass-through, owning its inner source */
	CHECK(mfs_decompress_open(chunk_new(text, sizeof(text) - 1, 1, &closed), MFS_CODEC_NONE,
				  &s) == 0);
	CHECK(drain(s, 5, &got) == 0);
	CHECK(got.len == sizeof(text) - 1 && !memcmp(got.data, text, got.len));
	mfs_source_close(s);
	CHECK(closed == 1);

	/* the inner source's failure comes through as it is */
	gzip_member(&gz, text, sizeof(text) - 1);
	inner = chunk_new(gz.data, gz.len, 1, &closed);
	cs = (struct chunk_source *)inner;
	cs->fail_at = 12;
	CHECK(mfs_decompress_open(inner, MFS_CODEC_GZIP, &s) == 0);
	mfs_buf_reset(&got);
	CHECK(drain(s, 64, &got) == -EIO);
	CHECK(drain(s, 64, &got) == -EIO);
	mfs_source_close(s);
	CHECK(closed == 2);

	/* an unknown codec: refused, the inner source left to the caller */
	inner = chunk_new(text, 1, 0, &closed);
	CHECK(mfs_decompress_open(inner, (enum mfs_codec)9, &s) == -EINVAL && s == NULL);
	CHECK(closed == 2);
	mfs_source_close(inner);
	CHECK(mfs_decompress_open(NULL, MFS_CODEC_GZIP, &s) == -EINVAL);

	mfs_buf_free(&got);
	mfs_buf_free(&gz);
}

/* A .jsonl.gz read through both stages. */
static void test_with_json(void)
{
	const char text[] = "{\"a\":1}\n{\"b\":{\"c\":[1,2]}}\n";
	struct mfs_buf gz = MFS_BUF_INIT;
	struct mfs_source *s = NULL;
	struct mfs_reader *r = NULL;
	const struct mfs_record *rec;
	int ret, records = 0;

	gzip_member(&gz, text, 8);
	gzip_member(&gz, text + 8, sizeof(text) - 9);
	CHECK(mfs_decompress_open(chunk_new(gz.data, gz.len, 1, NULL), MFS_CODEC_GZIP, &s) == 0);
	CHECK(mfs_json_reader_new(s, MFS_JSON_LINES, &r) == 0);
	CHECK(mfs_reader_next(r, &rec) == 1 && rec->nfields == 1 && !rec->error);
	CHECK(mfs_reader_next(r, &rec) == 1 && rec->nfields == 1 && !rec->error &&
	      rec->line == 2 && rec->fields[0].name_len == 3 && rec->fields[0].len == 5 &&
	      !memcmp(rec->fields[0].data, "[1,2]", 5));
	CHECK(mfs_reader_next(r, &rec) == 0);
	mfs_reader_free(r);
	mfs_source_close(s);

	/* a damaged .gz fails the reader with the stage's error */
	gz.len -= 4;
	CHECK(mfs_decompress_open(chunk_new(gz.data, gz.len, 0, NULL), MFS_CODEC_GZIP, &s) == 0);
	CHECK(mfs_json_reader_new(s, MFS_JSON_LINES, &r) == 0);
	while ((ret = mfs_reader_next(r, &rec)) == 1)
		records++;
	CHECK(ret == -EBADMSG && records <= 2);
	CHECK(mfs_reader_next(r, &rec) == -EBADMSG);
	mfs_reader_free(r);
	mfs_source_close(s);
	mfs_buf_free(&gz);
}

int main(void)
{
	test_gzip();
	test_zstd();
	test_ratio();
	test_none_and_errors();
	test_with_json();
	return unit_done("decompress");
}
