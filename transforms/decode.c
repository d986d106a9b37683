/*
 * decode.c - text encodings to UTF-8: a guess from the first bytes, and a
 * source that converts a whole stream as it is read.
 *
 * Silver reads every tabular object as UTF-8. What arrives may be UTF-8 with
 * or without a byte order mark, UTF-16 (either byte order, with its BOM) or
 * Latin-1; mfs_encoding_detect() tells them apart on a sample and
 * mfs_decode_open() wraps the object's source in a converter. The output is
 * always valid UTF-8 without a BOM.
 *
 * Files glued together from exports of several tools mix UTF-8 and Latin-1
 * lines, so UTF-8 without a BOM is decided line by line: a line that is not
 * valid UTF-8 is read as Latin-1 (every byte is a Latin-1 character), the
 * others as UTF-8. The decision looks at the whole line when its end is
 * within DEC_BLOCK bytes, else at its first DEC_BLOCK bytes. A sample with
 * invalid UTF-8 and no valid multi-byte character is a Latin-1 file, decoded
 * as Latin-1 throughout (a Latin-1 line may happen to be valid UTF-8: "Ã©").
 * What still cannot be decoded (an invalid byte past the first DEC_BLOCK
 * bytes of a long UTF-8 line, or in a file with a UTF-8 BOM, an unpaired
 * UTF-16 surrogate, an odd final byte) becomes U+FFFD, one per maximal
 * ill-formed subsequence as Unicode recommends, so the readers downstream
 * never see invalid text.
 *
 * The converter reads its inner source in blocks of DEC_BLOCK bytes and
 * converts into the caller's buffer; a character cut by a block boundary is
 * kept for the next block, and one whose UTF-8 form does not fit the
 * caller's buffer is held back and handed out on the next read.
 */
#include "reader.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define DEC_BLOCK (256 * 1024)

struct dec_source {
	struct mfs_source src;
	struct mfs_source *inner;
	enum mfs_encoding enc;
	unsigned char *in; /* DEC_BLOCK bytes read from @inner */
	size_t ipos, ilen; /* unconverted input is in[ipos, ilen) */
	int eof;           /* @inner has ended */
	int bom_done;      /* the start of the stream was checked for a BOM */
	unsigned char pend[4]; /* converted bytes the caller had no room for */
	size_t npend, ppos;
	int line;          /* MFS_ENC_UTF8: how the current line is read (LINE_*) */
};

enum { LINE_UNDECIDED = 0, LINE_UTF8, LINE_LATIN1 };

static const unsigned char replacement[3] = { 0xEF, 0xBF, 0xBD }; /* U+FFFD */

/*
 * The well-formed UTF-8 sequence starting at @p (@avail bytes there):
 * its length (1-4); or -k: ill-formed, skip the k bytes of its maximal
 * subpart; or 0 with *@cut set: a well-formed prefix runs into the end of
 * the input and needs more bytes to decide.
 */
static int utf8_seq(const unsigned char *p, size_t avail, int *cut)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xBF;
	int n, i;

	*cut = 0;
	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return -1;
	if (c < 0xE0) {
		n = 2;
	} else if (c < 0xF0) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F; /* no surrogates */
	} else if (c < 0xF5) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F; /* nothing above U+10FFFF */
	} else {
		return -1;
	}
	for (i = 1; i < n; i++) {
		if ((size_t)i >= avail) {
			*cut = 1;
			return 0;
		}
		if (p[i] < lo || p[i] > hi)
			return -i;
		lo = 0x80;
		hi = 0xBF;
	}
	return n;
}

/* Length of the leading run of ASCII bytes of @p. */
static size_t ascii_run(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i + 8 <= n) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (w & 0x8080808080808080ULL)
			break;
		i += 8;
	}
	while (i < n && p[i] < 0x80)
		i++;
	return i;
}

enum { SEEN_INVALID = 1, SEEN_MULTIBYTE = 2 };

/*
 * Scan @p (@len bytes) as UTF-8, or'ing SEEN_* into *@seen, until its end,
 * a character its end cuts (*@cut set), or all of @enough is seen.
 */
static void utf8_scan(const unsigned char *p, size_t len, int enough, int *seen, int *cut)
{
	size_t i = 0;

	*seen = 0;
	*cut = 0;
	while (i < len && (*seen & enough) != enough) {
		int n;

		i += ascii_run(p + i, len - i);
		if (i == len)
			break;
		n = utf8_seq(p + i, len - i, cut);
		if (*cut)
			break;
		*seen |= n < 0 ? SEEN_INVALID : SEEN_MULTIBYTE;
		i += (size_t)(n < 0 ? -n : n);
	}
}

/* Whether @p (@len bytes) is valid UTF-8; with @open, a character cut by its
 * end may go on beyond it. */
static int utf8_valid(const unsigned char *p, size_t len, int open)
{
	int seen, cut;

	utf8_scan(p, len, SEEN_INVALID, &seen, &cut);
	return !(seen & SEEN_INVALID) && (!cut || open);
}

enum mfs_encoding mfs_encoding_detect(const void *sample, size_t len)
{
	const unsigned char *p = sample;
	int seen, cut;

	if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
		return MFS_ENC_UTF8_BOM;
	if (len >= 2 && p[0] == 0xFF && p[1] == 0xFE)
		return MFS_ENC_UTF16LE;
	if (len >= 2 && p[0] == 0xFE && p[1] == 0xFF)
		return MFS_ENC_UTF16BE;
	/* a character cut by the end of the sample says nothing; both kinds
	 * seen is a file of UTF-8 and Latin-1 lines, read as UTF-8 */
	utf8_scan(p, len, SEEN_INVALID | SEEN_MULTIBYTE, &seen, &cut);
	return seen == SEEN_INVALID ? MFS_ENC_LATIN1 : MFS_ENC_UTF8;
}

/* Put @n bytes of one character out, holding back what does not fit. */
static void emit(struct dec_source *d, unsigned char **op, unsigned char *oend,
		 const unsigned char *s, size_t n)
{
	size_t room = (size_t)(oend - *op), k = n < room ? n : room;

	memcpy(*op, s, k);
	*op += k;
	if (k < n) {
		memcpy(d->pend, s + k, n - k);
		d->npend = n - k;
		d->ppos = 0;
	}
}

static size_t utf8_put(unsigned char *s, uint32_t cp)
{
	if (cp < 0x80) {
		s[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		s[0] = (unsigned char)(0xC0 | (cp >> 6));
		s[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		s[0] = (unsigned char)(0xE0 | (cp >> 12));
		s[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		s[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	s[0] = (unsigned char)(0xF0 | (cp >> 18));
	s[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	s[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	s[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Convert in[ipos, ilen) into [*op, oend) until the output is full, the
 * input is used up, or what is left is a cut character that needs the next
 * block (never at EOF: there it becomes U+FFFD).
 */
static void convert(struct dec_source *d, unsigned char **op, unsigned char *oend)
{
	const unsigned char *in = d->in;
	size_t i = d->ipos, n = d->ilen;

	while (i < n && *op < oend && !d->npend) {
		unsigned char tmp[4];
		size_t k, room = (size_t)(oend - *op);

		if (d->enc == MFS_ENC_UTF16LE || d->enc == MFS_ENC_UTF16BE) {
			int le = d->enc == MFS_ENC_UTF16LE;
			uint32_t u, u2;

			if (n - i < 2) {
				if (!d->eof)
					break;
				emit(d, op, oend, replacement, 3);
				i = n;
				break;
			}
			u = le ? (uint32_t)(in[i] | in[i + 1] << 8) : (uint32_t)(in[i] << 8 | in[i + 1]);
			if (u >= 0xD800 && u < 0xDC00) {
				if (n - i < 4 && !d->eof)
					break;
				u2 = 0;
				if (n - i >= 4)
					u2 = le ? (uint32_t)(in[i + 2] | in[i + 3] << 8) :
						  (uint32_t)(in[i + 2] << 8 | in[i + 3]);
				if (u2 >= 0xDC00 && u2 < 0xE000) {
					u = 0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00);
					i += 2;
				} else {
					u = 0xFFFD;
				}
			} else if (u >= 0xDC00 && u < 0xE000) {
				u = 0xFFFD;
			}
			i += 2;
			emit(d, op, oend, tmp, utf8_put(tmp, u));
			continue;
		}
		if (d->enc == MFS_ENC_UTF8 && d->line == LINE_UNDECIDED) {
			const unsigned char *eol = memchr(in + i, '\n', n - i);

			/* the line's end is not in the block yet: read on (a full
			 * block decides on what it holds) */
			if (!eol && !d->eof && !(i == 0 && n == DEC_BLOCK))
				break;
			d->line = utf8_valid(in + i, (eol ? (size_t)(eol - in) : n) - i, !eol && !d->eof)
					  ? LINE_UTF8
					  : LINE_LATIN1;
		}
		/* UTF-8 and Latin-1: ASCII is copied as it is, in runs. */
		k = ascii_run(in + i, n - i < room ? n - i : room);
		if (k) {
			if (d->enc == MFS_ENC_UTF8) {
				const unsigned char *eol = memchr(in + i, '\n', k);

				if (eol) {
					k = (size_t)(eol - (in + i)) + 1;
					d->line = LINE_UNDECIDED;
				}
			}
			memcpy(*op, in + i, k);
			*op += k;
			i += k;
			continue;
		}
		if (d->enc == MFS_ENC_LATIN1 || d->line == LINE_LATIN1) {
			emit(d, op, oend, tmp, utf8_put(tmp, in[i]));
			i++;
		} else {
			int cut, len = utf8_seq(in + i, n - i, &cut);

			if (cut && !d->eof)
				break;
			if (len > 0) {
				emit(d, op, oend, in + i, (size_t)len);
				i += (size_t)len;
			} else {
				emit(d, op, oend, replacement, 3);
				i += cut ? n - i : (size_t)-len;
			}
		}
	}
	d->ipos = i;
}

static ssize_t dec_read(struct mfs_source *src, void *buf, size_t len)
{
	struct dec_source *d = (struct dec_source *)src;
	unsigned char *op = buf, *oend = op + len;

	while (op < oend) {
		if (d->npend) {
			size_t k = d->npend < (size_t)(oend - op) ? d->npend : (size_t)(oend - op);

			memcpy(op, d->pend + d->ppos, k);
			op += k;
			d->ppos += k;
			d->npend -= k;
			continue;
		}
		if (!d->bom_done && (d->eof || d->ilen - d->ipos >= 3)) {
			const unsigned char *p = d->in + d->ipos;
			size_t have = d->ilen - d->ipos;

			if (d->enc == MFS_ENC_UTF16LE || d->enc == MFS_ENC_UTF16BE) {
				unsigned char b0 = d->enc == MFS_ENC_UTF16LE ? 0xFF : 0xFE;

				if (have >= 2 && p[0] == b0 && p[1] == (b0 ^ 1))
					d->ipos += 2;
			} else if (d->enc != MFS_ENC_LATIN1 && have >= 3 && p[0] == 0xEF &&
				   p[1] == 0xBB && p[2] == 0xBF) {
				d->ipos += 3;
			}
			d->bom_done = 1;
		}
		if (d->bom_done)
			convert(d, &op, oend);
		if (op > (unsigned char *)buf || (d->eof && d->ipos == d->ilen))
			break;
		/* Nothing came out: the block is used up or ends in a cut character. */
		if (d->ipos) {
			memmove(d->in, d->in + d->ipos, d->ilen - d->ipos);
			d->ilen -= d->ipos;
			d->ipos = 0;
		}
		{
			ssize_t n = mfs_source_read(d->inner, d->in + d->ilen, DEC_BLOCK - d->ilen);

			if (n < 0)
				return n;
			if (n == 0)
				d->eof = 1;
			d->ilen += (size_t)n;
		}
	}
	return op - (unsigned char *)buf;
}

static void dec_close(struct mfs_source *src)
{
	struct dec_source *d = (struct dec_source *)src;

	mfs_source_close(d->inner);
	free(d->in);
	free(d);
}

/*
 * On success @inner belongs to the new source and is closed with it. On
 * failure (-ENOMEM, -EINVAL for an unknown encoding) it is left to the caller.
 */
int mfs_decode_open(struct mfs_source *inner, enum mfs_encoding enc, struct mfs_source **out)
{
	struct dec_source *d;

	*out = NULL;
	if (enc < MFS_ENC_UTF8 || enc > MFS_ENC_LATIN1) {
		mfs_set_error("unknown text encoding %d", (int)enc);
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->in = malloc(DEC_BLOCK);
	if (!d->in) {
		free(d);
		return -ENOMEM;
	}
	d->src.read = dec_read;
	d->src.close = dec_close;
	d->inner = inner;
	d->enc = enc;
	*out = &d->src;
	return 0;
}
