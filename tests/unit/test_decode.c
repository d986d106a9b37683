/*
 * test_decode.c - encoding detection and the decoding source
 * (transforms/decode.c): BOMs, UTF-16 in both byte orders with surrogate
 * pairs, Latin-1, UTF-8 and Latin-1 lines in one file, U+FFFD for what
 * cannot be decoded, characters cut by
 * block boundaries on either side.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "reader.h"
#include "stream.h"
#include "drip.h"
#include "unit.h"

#define FFFD "\xEF\xBF\xBD"

/* Decode all of @inner (owned) reading @chunk bytes at a time. */
static int decode_all(struct mfs_source *inner, enum mfs_encoding enc, size_t chunk,
		      struct mfs_buf *out)
{
	struct mfs_source *dec;
	char buf[4096];
	ssize_t n;
	int r;

	mfs_buf_reset(out);
	mfs_buf_append(out, "", 0);
	r = mfs_decode_open(inner, enc, &dec);
	if (r) {
		mfs_source_close(inner);
		return r;
	}
	while ((n = mfs_source_read(dec, buf, chunk)) > 0)
		mfs_buf_append(out, buf, (size_t)n);
	mfs_source_close(dec);
	return n < 0 ? (int)n : 0;
}

/*
 * @in in @enc must decode to @want: in one go, with output reads of 1, 2
 * and 3 bytes (characters cut on the way out), and over a source that
 * returns a few bytes per read (characters cut on the way in).
 */
static void expect(const char *in, size_t len, enum mfs_encoding enc, const char *want,
		   size_t wlen, int line)
{
	struct mfs_buf got = MFS_BUF_INIT;
	size_t chunk;
	unsigned seed;

	for (chunk = 1; chunk <= 4; chunk++) {
		size_t c = chunk == 4 ? 4096 : chunk;
		int r = decode_all(mfs_source_mem(in, len), enc, c, &got);

		CHECK_MSG(r == 0 && got.len == wlen && !memcmp(got.data, want, wlen),
			  "line %d, reads of %zu: got %zu bytes '%s'", line, c, got.len, got.data);
	}
	for (seed = 0; seed < 10; seed++) {
		int r = decode_all(drip_new(in, len, seed), enc, 4096, &got);

		CHECK_MSG(r == 0 && got.len == wlen && !memcmp(got.data, want, wlen),
			  "line %d, dripping seed %u: got %zu bytes '%s'", line, seed, got.len,
			  got.data);
	}
	mfs_buf_free(&got);
}

#define EXPECT(in, enc, want) expect(in, sizeof(in) - 1, enc, want, sizeof(want) - 1, __LINE__)
#define DETECT(in) mfs_encoding_detect(in, sizeof(in) - 1)

static void test_detect(void)
{
	CHECK(DETECT("") == MFS_ENC_UTF8);
	CHECK(DETECT("a,b\n1,2\n") == MFS_ENC_UTF8);
	CHECK(DETECT("\xEF\xBB\xBF" "a,b") == MFS_ENC_UTF8_BOM);
	CHECK(DETECT("\xFF\xFE" "a\0") == MFS_ENC_UTF16LE);
	CHECK(DETECT("\xFE\xFF\0a") == MFS_ENC_UTF16BE);
	CHECK(DETECT("caf\xC3\xA9 \xF0\x9F\x98\x80") == MFS_ENC_UTF8);
	CHECK(DETECT("caf\xE9,1\n") == MFS_ENC_LATIN1);
	/* UTF-8 and Latin-1 lines in one sample: UTF-8, decided line by line */
	CHECK(DETECT("caf\xC3\xA9\ncaf\xE9\n") == MFS_ENC_UTF8);
	CHECK(DETECT("caf\xE9\ncaf\xC3\xA9\n") == MFS_ENC_UTF8);
	/* a character cut by the end of the sample is still UTF-8 */
	CHECK(DETECT("abc \xF0\x9F\x98") == MFS_ENC_UTF8);
	CHECK(DETECT("abc \xC3") == MFS_ENC_UTF8);
	/* but not one that is wrong before the cut */
	CHECK(DETECT("abc \xF0\x28") == MFS_ENC_LATIN1);
	/* overlong forms and surrogates are not UTF-8 */
	CHECK(DETECT("\xC0\xAF") == MFS_ENC_LATIN1);
	CHECK(DETECT("\xE0\x80\xAF") == MFS_ENC_LATIN1);
	CHECK(DETECT("\xED\xA0\x80") == MFS_ENC_LATIN1);
	CHECK(DETECT("\xF4\x90\x80\x80") == MFS_ENC_LATIN1);
	/* a lone continuation byte, and one in the middle of long ASCII */
	CHECK(DETECT("\x80") == MFS_ENC_LATIN1);
	CHECK(DETECT("0123456789abcdefghij\xA0xyz") == MFS_ENC_LATIN1);
}

static void test_utf8(void)
{
	EXPECT("a,b\n", MFS_ENC_UTF8, "a,b\n");
	EXPECT("\xEF\xBB\xBF" "a,\xC3\xA9\n", MFS_ENC_UTF8_BOM, "a,\xC3\xA9\n");
	/* a BOM is dropped also when the sample did not show it */
	EXPECT("\xEF\xBB\xBFx", MFS_ENC_UTF8, "x");
	/* only at the start */
	EXPECT("x\xEF\xBB\xBF", MFS_ENC_UTF8, "x\xEF\xBB\xBF");
	EXPECT("\xEF\xBB", MFS_ENC_UTF8_BOM, FFFD);
	EXPECT("", MFS_ENC_UTF8_BOM, "");
	EXPECT("\xEF\xBB\xBF", MFS_ENC_UTF8_BOM, "");
	/* invalid bytes in a file with a UTF-8 BOM: one U+FFFD per maximal subpart */
	EXPECT("a\xFF" "b", MFS_ENC_UTF8_BOM, "a" FFFD "b");
	EXPECT("\xF0\x9F\x98" "x", MFS_ENC_UTF8_BOM, FFFD "x");
	EXPECT("\xE0\x80\xAF", MFS_ENC_UTF8_BOM, FFFD FFFD FFFD);
	EXPECT("\xED\xA0\x80" "z", MFS_ENC_UTF8_BOM, FFFD FFFD FFFD "z");
	EXPECT("\xC3\xA9\xC3", MFS_ENC_UTF8_BOM, "\xC3\xA9" FFFD);
	/* without a BOM, a line that is not UTF-8 is read as Latin-1, the others as UTF-8 */
	EXPECT("a\xFF" "b", MFS_ENC_UTF8, "a\xC3\xBF" "b");
	EXPECT("\xEF\xBB", MFS_ENC_UTF8, "\xC3\xAF\xC2\xBB");
	EXPECT("caf\xC3\xA9\ncaf\xE9\n\xC3\xA9t\xC3\xA9\r\nno\xEBl", MFS_ENC_UTF8,
	       "caf\xC3\xA9\ncaf\xC3\xA9\n\xC3\xA9t\xC3\xA9\r\nno\xC3\xABl");
	/* a character cut by the line end is not UTF-8: the line is Latin-1 */
	EXPECT("x\xC3\n\xC3\xA9", MFS_ENC_UTF8, "x\xC3\x83\n\xC3\xA9");
	EXPECT("\xF0\x9F\x98\x80\xF0\x9F\x98\x80", MFS_ENC_UTF8,
	       "\xF0\x9F\x98\x80\xF0\x9F\x98\x80");
}

static void test_utf16(void)
{
	/* "a\xe9\U0001F600\n" */
	EXPECT("\xFF\xFE" "a\0\xE9\0\x3D\xD8\x00\xDE\n\0", MFS_ENC_UTF16LE,
	       "a\xC3\xA9\xF0\x9F\x98\x80\n");
	EXPECT("\xFE\xFF" "\0a\0\xE9\xD8\x3D\xDE\x00\0\n", MFS_ENC_UTF16BE,
	       "a\xC3\xA9\xF0\x9F\x98\x80\n");
	/* U+20AC, U+FFFF, U+10FFFF, and NUL */
	EXPECT("\xFF\xFE\xAC\x20\xFF\xFF\xFF\xDB\xFF\xDF\0\0", MFS_ENC_UTF16LE,
	       "\xE2\x82\xAC\xEF\xBF\xBF\xF4\x8F\xBF\xBF\0");
	/* without its BOM (told, not detected) */
	EXPECT("h\0i\0", MFS_ENC_UTF16LE, "hi");
	/* unpaired surrogates, a low one alone, an odd last byte */
	EXPECT("\xFF\xFE\x3D\xD8" "a\0", MFS_ENC_UTF16LE, FFFD "a");
	EXPECT("\xFF\xFE\x00\xDE" "b\0", MFS_ENC_UTF16LE, FFFD "b");
	EXPECT("\xFF\xFE\x3D\xD8", MFS_ENC_UTF16LE, FFFD);
	EXPECT("\xFF\xFE" "c\0d", MFS_ENC_UTF16LE, "c" FFFD);
	EXPECT("\xFE\xFF\xD8\x3D\xD8\x3D\xDE\x00", MFS_ENC_UTF16BE, FFFD "\xF0\x9F\x98\x80");
	/* a BOM in the middle is a character (U+FEFF) */
	EXPECT("\xFF\xFE" "a\0\xFF\xFE", MFS_ENC_UTF16LE, "a\xEF\xBB\xBF");
}

static void test_latin1(void)
{
	EXPECT("caf\xE9,\xFF\x80\n", MFS_ENC_LATIN1, "caf\xC3\xA9,\xC3\xBF\xC2\x80\n");
	/* bytes that look like a UTF-8 BOM are three characters in Latin-1 */
	EXPECT("\xEF\xBB\xBF", MFS_ENC_LATIN1, "\xC3\xAF\xC2\xBB\xC2\xBF");
}

/* Big input: block boundaries of the decoder itself, all encodings. */
static void test_big(void)
{
	size_t n = 600000, i, len16 = 0, len8 = 0;
	char *u16 = malloc(4 * n + 2), *u8 = malloc(4 * n), *l1 = malloc(n), *want1 = malloc(2 * n);
	struct mfs_buf got = MFS_BUF_INIT;
	size_t wlen1 = 0;

	if (!u16 || !u8 || !l1 || !want1) {
		CHECK(0);
		goto out;
	}
	u16[len16++] = (char)0xFF;
	u16[len16++] = (char)0xFE;
	for (i = 0; i < n; i++) {
		if (i % 3 == 0) {
			/* U+1F600 as a surrogate pair, cut anywhere by the blocks */
			memcpy(u16 + len16, "\x3D\xD8\x00\xDE", 4);
			len16 += 4;
			memcpy(u8 + len8, "\xF0\x9F\x98\x80", 4);
			len8 += 4;
		} else {
			u16[len16++] = (char)('a' + i % 26);
			u16[len16++] = 0;
			u8[len8++] = (char)('a' + i % 26);
		}
		l1[i] = (char)(i % 7 ? 'x' : 0xE9);
		if (i % 7) {
			want1[wlen1++] = 'x';
		} else {
			want1[wlen1++] = (char)0xC3;
			want1[wlen1++] = (char)0xA9;
		}
	}
	CHECK(decode_all(mfs_source_mem(u16, len16), MFS_ENC_UTF16LE, 4096, &got) == 0);
	CHECK(got.len == len8 && !memcmp(got.data, u8, len8));
	CHECK(decode_all(mfs_source_mem(u8, len8), MFS_ENC_UTF8, 1000, &got) == 0);
	CHECK(got.len == len8 && !memcmp(got.data, u8, len8));
	CHECK(decode_all(mfs_source_mem(l1, n), MFS_ENC_LATIN1, 4095, &got) == 0);
	CHECK(got.len == wlen1 && !memcmp(got.data, want1, wlen1));
	/* one Latin-1 line longer than the decoder's block, told UTF-8: decided
	 * on its first block, Latin-1 to its end */
	CHECK(decode_all(mfs_source_mem(l1, n), MFS_ENC_UTF8, 4095, &got) == 0);
	CHECK(got.len == wlen1 && !memcmp(got.data, want1, wlen1));
	CHECK(mfs_encoding_detect(u8, 1 << 20 < len8 ? 1 << 20 : len8) == MFS_ENC_UTF8);
	CHECK(mfs_encoding_detect(u8, 1001) == MFS_ENC_UTF8); /* cut in a character */
out:
	mfs_buf_free(&got);
	free(u16);
	free(u8);
	free(l1);
	free(want1);
}

static ssize_t fail_read(struct mfs_source *src, void *buf, size_t len)
{
	return -EIO;
}

static void test_errors(void)
{
	struct mfs_source failing = { fail_read, NULL, 0 }, *dec = NULL;
	struct mfs_source *mem = mfs_source_mem("x", 1);
	char buf[8];

	CHECK(mfs_decode_open(mem, (enum mfs_encoding)99, &dec) == -EINVAL && dec == NULL);
	mfs_source_close(mem);
	CHECK(mfs_decode_open(&failing, MFS_ENC_UTF8, &dec) == 0);
	CHECK(mfs_source_read(dec, buf, sizeof(buf)) == -EIO);
	CHECK(mfs_source_read(dec, buf, sizeof(buf)) == -EIO);
	mfs_source_close(dec);
}

int main(void)
{
	test_detect();
	test_utf8();
	test_utf16();
	test_latin1();
	test_big();
	test_errors();
	return unit_done("decode");
}
