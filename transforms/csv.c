/*
 * csv.c - the streaming CSV reader: RFC 4180 records out of a UTF-8 source,
 * in any of the dialects dialect.c finds.
 *
 * Quoting follows RFC 4180 (delimiters, line ends and doubled quotes inside
 * quotes), leniently where files break it: a quote inside an unquoted field
 * is an ordinary character (DuckDB with strict mode off), and text after a
 * closing quote is kept up to the next delimiter, `"5" inch` giving `5 inch`
 * (Python's csv module gives the same for all of these). A quote still open
 * at the end of the input makes the record malformed ("unterminated quoted
 * field"); its last field and raw text run to the end, without the final
 * line end. Lines end in LF, CR or CRLF, mixed freely.
 * Blank lines and comment lines are not records; they, and the dialect's
 * preamble lines, are counted in skipped_lines. Rows keep the number of
 * fields they have: deciding what a ragged row means is silver's job.
 *
 * DESIGN: this is the hot loop of every silver file. The source is read in
 * blocks of CSV_BLOCK bytes into one buffer, and fields point into it: an
 * unquoted field, or a quoted one without doubled quotes, is never copied.
 * Only fields that must be rewritten (doubled quotes, text after a closing
 * quote) are built in a scratch buffer. The bytes that end a field are
 * found 64 at a time: a bitmap of the positions holding the delimiter, CR
 * or LF (the quote, CR or LF inside quotes), made with SSE2 compares and
 * walked with count-trailing-zeros, so a run of short fields costs a few
 * instructions each. A record cut by the end of the buffer is not resumed:
 * the buffer keeps its start, reads at least as many new bytes as it keeps
 * (doubling when the record outgrows half of it), and the record is parsed
 * again from its start. Re-parsing costs at most as much as the bytes read,
 * so the work stays linear, also for fields of many megabytes and for
 * sources that return a few bytes per read.
 *
 * A record may hold at most MFS_CSV_MAX_RECORD bytes, so that one stray
 * quote cannot pull a whole object into memory. A longer record that spans
 * lines inside quotes is cut at its first line end, as a malformed record
 * ("unterminated quoted field"), and reading goes on with the next line; a
 * single line that long fails the read (-EFBIG). Both depend only on the
 * bytes, never on how the source splits them into reads: the limit is
 * checked on the record as it would be without it, whether it was seen
 * whole or only a part longer than the limit was.
 */
#include "reader.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "buf.h"
#include "csv_i.h"
#include "err.h"

#define CSV_BLOCK (256 * 1024)
/* Readable bytes after the data, so a 64-byte window never leaves the buffer. */
#define CSV_PAD 64

/* What parse_record() and skip_line() found. */
enum { P_RECORD = 1, P_SKIP, P_MORE, P_END };

enum { S_PREAMBLE, S_HEADER, S_BODY };

/* A cached 64-byte window of the buffer and the bitmap of its stop bytes. */
struct scan {
	uintptr_t base;
	uint64_t mask;
	unsigned char a, b, c; /* the stop bytes */
#ifdef __SSE2__
	__m128i va, vb, vc;
#endif
};

/* A field whose text was rebuilt in the scratch buffer (which may move). */
struct scr_ref {
	size_t field, off;
};

struct csv_reader {
	struct mfs_reader r;
	struct mfs_source *src; /* not owned */
	struct mfs_csv_dialect d;
	int quote;              /* d.quote as unsigned char, or -1 for none */
	int state;
	uint64_t preamble_left;
	char *buf;              /* cap + CSV_PAD bytes */
	size_t cap, pos, end;   /* unparsed data is buf[pos, end) */
	int eof;                /* the source has ended: nothing beyond end */
	uint64_t line;          /* line number of buf[pos] */
	size_t max_record;
	int cut;                /* the record at pos is too long: cut it at its
				   first line end inside quotes */
	struct scan unq;        /* delimiter, CR, LF */
	struct scan inq;        /* quote, CR, LF */
	struct mfs_record rec;
	struct mfs_field *fields;
	size_t fcap;
	struct mfs_buf scratch;
	struct scr_ref *scr;
	size_t nscr, scr_cap;
	struct mfs_field *hdr;  /* one allocation: fields, then their text */
};

static void scan_init(struct scan *s, unsigned char a, unsigned char b, unsigned char c)
{
	s->base = 0;
	s->mask = 0;
	s->a = a;
	s->b = b;
	s->c = c;
#ifdef __SSE2__
	s->va = _mm_set1_epi8((char)a);
	s->vb = _mm_set1_epi8((char)b);
	s->vc = _mm_set1_epi8((char)c);
#endif
}

/* Forget the window: the buffer's contents moved or grew. */
static void scan_reset(struct scan *s)
{
	s->base = 0;
	s->mask = 0;
}

static inline uint64_t scan_mask(const struct scan *s, const char *p)
{
	uint64_t m = 0;
#ifdef __SSE2__
	int i;

	for (i = 0; i < 4; i++) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i));
		__m128i x = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, s->va), _mm_cmpeq_epi8(v, s->vb)),
					 _mm_cmpeq_epi8(v, s->vc));

		m |= (uint64_t)(uint32_t)_mm_movemask_epi8(x) << (16 * i);
	}
#else
	int i;

	for (i = 0; i < 64; i++) {
		unsigned char ch = (unsigned char)p[i];

		m |= (uint64_t)(ch == s->a || ch == s->b || ch == s->c) << i;
	}
#endif
	return m;
}

/* The first stop byte in [p, e), or e. */
static inline const char *scan_next(struct scan *s, const char *p, const char *e)
{
	for (;;) {
		uintptr_t off = (uintptr_t)p - s->base;

		if (off < 64) {
			uint64_t m = s->mask & (~(uint64_t)0 << off);

			if (m)
				return (const char *)(s->base + (uintptr_t)__builtin_ctzll(m));
			p = (const char *)(s->base + 64);
		}
		if (p >= e)
			return e;
		s->base = (uintptr_t)p;
		s->mask = scan_mask(s, p);
		/* Bytes past the data are not stops (and not yet read). */
		if (e - p < 64)
			s->mask &= ((uint64_t)1 << (e - p)) - 1;
	}
}

/* Fields stored per record at most (a power of two, as grow_fields doubles). */
#define CSV_MAX_FIELDS 65536

static int grow_fields(struct csv_reader *c)
{
	size_t n = c->fcap ? c->fcap * 2 : 64;
	struct mfs_field *f = realloc(c->fields, n * sizeof(*f));

	if (!f)
		return -ENOMEM;
	c->fields = f;
	c->fcap = n;
	return 0;
}

/* Start (or continue) field @fi's text in the scratch buffer with [s, e). */
static int scr_append(struct csv_reader *c, size_t fi, int *started, const char *s, const char *e)
{
	if (!*started) {
		if (c->nscr == c->scr_cap) {
			size_t n = c->scr_cap ? c->scr_cap * 2 : 16;
			struct scr_ref *r = realloc(c->scr, n * sizeof(*r));

			if (!r)
				return -ENOMEM;
			c->scr = r;
			c->scr_cap = n;
		}
		c->scr[c->nscr].field = fi;
		c->scr[c->nscr].off = c->scratch.len;
		c->nscr++;
		*started = 1;
	}
	return e > s ? mfs_buf_append(&c->scratch, s, (size_t)(e - s)) : 0;
}

static int too_long(struct csv_reader *c)
{
	mfs_set_error("CSV line %llu: a record longer than %zu bytes",
		      (unsigned long long)c->line, c->max_record);
	return -EFBIG;
}

/* Length of the line [p, q) without its line end. */
static size_t line_len(const char *p, const char *q)
{
	if (q > p && q[-1] == '\n')
		q--;
	if (q > p && q[-1] == '\r')
		q--;
	return (size_t)(q - p);
}

/*
 * A physical line of the preamble, a blank or a comment line: consume it
 * with its line end, whatever it holds (quotes included).
 */
static int skip_line(struct csv_reader *c)
{
	const char *p = c->buf + c->pos, *e = c->buf + c->end, *q = p;

	if (p == e)
		return c->eof ? P_END : P_MORE;
	while (q < e && *q != '\n' && *q != '\r')
		q++;
	if (q == e) {
		if (!c->eof)
			return P_MORE;
	} else if (*q == '\r') {
		if (q + 1 == e && !c->eof)
			return P_MORE; /* CR or CRLF? */
		q += (q + 1 < e && q[1] == '\n') ? 2 : 1;
	} else {
		q++;
	}
	if (line_len(p, q) > c->max_record)
		return too_long(c);
	c->pos = (size_t)(q - c->buf);
	c->line++;
	c->r.skipped_lines++;
	return P_SKIP;
}

/*
 * One record from buf[pos]: P_RECORD with c->rec filled and pos past its
 * line end; P_SKIP for a blank or comment line; P_MORE when the data ends
 * before the record does (nothing consumed); P_END at the end of the input;
 * or -ENOMEM.
 */
static int parse_record(struct csv_reader *c)
{
	const char *p = c->buf + c->pos, *e = c->buf + c->end, *rs = p, *re, *next;
	const char delim = c->d.delimiter;
	const int quote = c->quote;
	const char *err = NULL;
	uint64_t nl = 0; /* line ends inside quoted fields */
	size_t nf = 0, i;
	int r;

	if (p == e)
		return c->eof ? P_END : P_MORE;
	if (*p == '\n' || *p == '\r' || (c->d.comment && *p == c->d.comment))
		return skip_line(c);
	c->nscr = 0;
	c->scratch.len = 0;
	for (;;) {
		struct mfs_field *f;
		const char *s;

		if (nf == c->fcap) {
			if (c->fcap >= CSV_MAX_FIELDS) {
				/*
				 * A line of millions of delimiters would cost ~45
				 * bytes a field: keep memory bounded, reuse the last
				 * slot and reject the record instead.
				 */
				nf--;
				err = "more than 65536 fields";
			} else if ((r = grow_fields(c))) {
				return r;
			}
		}
		f = &c->fields[nf];
		if (p == e) {
			/* After a delimiter at the very end: one more, empty field. */
			if (!c->eof)
				return P_MORE;
			*f = (struct mfs_field){ p, 0, MFS_FIELD_TEXT, 0, NULL, 0 };
			nf++;
			re = next = e;
			break;
		}
		if ((unsigned char)*p != quote) {
			s = scan_next(&c->unq, p, e);
			*f = (struct mfs_field){ p, (size_t)(s - p), MFS_FIELD_TEXT, 0, NULL, 0 };
			nf++;
			if (s == e) {
				if (!c->eof)
					return P_MORE;
				re = next = e;
				break;
			}
			p = s + 1;
			if (*s == delim)
				continue;
			re = s;
			goto line_end;
		}

		/* A quoted field: up to the quote that is not doubled. */
		{
			const char *cs = p + 1, *seg = cs, *q = cs, *t;
			int in_scr = 0;

			for (;;) {
				t = scan_next(&c->inq, q, e);
				if (t == e || (c->cut && (unsigned char)*t != quote))
					break;
				if (*t == '\n') {
					nl++;
					q = t + 1;
					continue;
				}
				if (t + 1 == e && !c->eof)
					return P_MORE; /* CRLF, or a doubled quote? */
				if (*t == '\r') {
					if (t + 1 == e || t[1] != '\n')
						nl++;
					q = t + 1;
					continue;
				}
				if (t + 1 < e && (unsigned char)t[1] == quote) {
					if ((r = scr_append(c, nf, &in_scr, seg, t + 1)))
						return r;
					seg = q = t + 2;
					continue;
				}
				break;
			}
			if (t == e || (unsigned char)*t != quote) {
				if (t == e && !c->eof)
					return P_MORE;
				if (t == e) {
					/* Still open at the end of the input. */
					re = rs + line_len(rs, e);
					next = e;
				} else {
					/* Cut at its first line end (too long). */
					re = t;
					next = t + 1;
					if (*t == '\r') {
						if (next == e && !c->eof)
							return P_MORE;
						if (next < e && *next == '\n')
							next++;
					}
				}
				/* Any line end left out is after the last doubled quote: seg <= re. */
				if (in_scr && (r = scr_append(c, nf, &in_scr, seg, re)))
					return r;
				*f = (struct mfs_field){ cs, (size_t)(re - cs), MFS_FIELD_TEXT, 1, NULL, 0 };
				if (in_scr)
					f->len = c->scratch.len - c->scr[c->nscr - 1].off;
				nf++;
				err = "unterminated quoted field";
				break;
			}
			/* t is the closing quote. */
			p = t + 1;
			if (p < e && *p != delim && *p != '\n' && *p != '\r') {
				/* Text after the closing quote: kept, up to the delimiter. */
				s = scan_next(&c->unq, p, e);
				if (s == e && !c->eof)
					return P_MORE;
				if ((r = scr_append(c, nf, &in_scr, seg, t)) ||
				    (r = scr_append(c, nf, &in_scr, p, s)))
					return r;
				p = s;
			} else if (in_scr && (r = scr_append(c, nf, &in_scr, seg, t))) {
				return r;
			}
			*f = (struct mfs_field){ cs, (size_t)(t - cs), MFS_FIELD_TEXT, 1, NULL, 0 };
			if (in_scr)
				f->len = c->scratch.len - c->scr[c->nscr - 1].off;
			nf++;
			if (p == e) {
				re = next = e;
				break;
			}
			if (*p++ == delim)
				continue;
			re = p - 1;
		}
line_end:
		/* re is the CR or LF that ends the record. */
		next = re + 1;
		if (*re == '\r') {
			if (next == e && !c->eof)
				return P_MORE; /* CR or CRLF? */
			if (next < e && *next == '\n')
				next++;
		}
		break;
	}
	if (c->d.trailing_delimiter && nf > 1 && c->fields[nf - 1].len == 0 &&
	    !c->fields[nf - 1].quoted)
		nf--;
	for (i = 0; i < c->nscr; i++)
		if (c->scr[i].field < nf)
			c->fields[c->scr[i].field].data = c->scratch.data + c->scr[i].off;
	c->rec.fields = c->fields;
	c->rec.nfields = nf;
	c->rec.line = c->line;
	c->rec.raw = rs;
	c->rec.raw_len = (size_t)(re - rs);
	c->rec.error = err;
	c->line += 1 + nl;
	c->pos = (size_t)(next - c->buf);
	return P_RECORD;
}

/*
 * Make room and read more after P_MORE. The unparsed tail moves to the
 * front; at least as many new bytes are read as it holds (unless the input
 * ends), so re-parsing it from its start stays linear.
 */
static int refill(struct csv_reader *c)
{
	size_t keep = c->end - c->pos, want, got = 0;

	if (c->pos) {
		memmove(c->buf, c->buf + c->pos, keep);
		c->pos = 0;
		c->end = keep;
	}
	if (keep > c->cap / 2) {
		size_t ncap = c->cap * 2;
		char *nb;

		if (ncap < c->cap || ncap + CSV_PAD < ncap)
			return -ENOMEM;
		nb = realloc(c->buf, ncap + CSV_PAD);
		if (!nb)
			return -ENOMEM;
		c->buf = nb;
		c->cap = ncap;
	}
	scan_reset(&c->unq);
	scan_reset(&c->inq);
	want = keep ? keep : 1;
	while (got < want && c->end < c->cap) {
		ssize_t n = mfs_source_read(c->src, c->buf + c->end, c->cap - c->end);

		if (n < 0)
			return (int)n;
		if (n == 0) {
			c->eof = 1;
			break;
		}
		c->end += (size_t)n;
		got += (size_t)n;
	}
	return 0;
}

static int save_header(struct csv_reader *c)
{
	const struct mfs_record *rec = &c->rec;
	size_t i, text = 0;
	struct mfs_field *h;
	char *t;

	for (i = 0; i < rec->nfields; i++)
		text += rec->fields[i].len + 1;
	h = malloc(rec->nfields * sizeof(*h) + text + 1);
	if (!h)
		return -ENOMEM;
	t = (char *)(h + rec->nfields);
	for (i = 0; i < rec->nfields; i++) {
		h[i] = rec->fields[i];
		memcpy(t, rec->fields[i].data, rec->fields[i].len);
		t[rec->fields[i].len] = '\0';
		h[i].data = t;
		t += rec->fields[i].len + 1;
	}
	c->hdr = h;
	c->r.header = h;
	c->r.nheader = rec->nfields;
	return 0;
}

/* The next body record (1), the end (0) or -errno; the header on the way. */
static int csv_step(struct csv_reader *c, int header_only)
{
	int r;

	for (;;) {
		if (c->state == S_PREAMBLE && !c->preamble_left) {
			c->state = c->d.header ? S_HEADER : S_BODY;
			continue;
		}
		if (c->state == S_BODY && header_only)
			return 0;
		if (c->state == S_PREAMBLE) {
			r = skip_line(c);
			if (r == P_SKIP)
				c->preamble_left--;
		} else {
			r = parse_record(c);
		}
		if (r == P_SKIP)
			continue;
		if (r == P_MORE) {
			/* What is there is longer than a record may be (the
			 * unparsed data may end in the CR of a CRLF). */
			if (c->end - c->pos > c->max_record + 1) {
				if (c->cut)
					return too_long(c);
				c->cut = 1;
				continue;
			}
			if ((r = refill(c)))
				return r;
			continue;
		}
		if (r == P_END)
			return 0;
		if (r < 0)
			return r;
		if (c->rec.raw_len > c->max_record) {
			if (c->cut)
				return too_long(c);
			/* Seen whole, but too long: again from its start, cut. */
			c->pos = (size_t)(c->rec.raw - c->buf);
			c->line = c->rec.line;
			c->cut = 1;
			continue;
		}
		c->cut = 0;
		if (c->state == S_BODY)
			return 1;
		if ((r = save_header(c)))
			return r;
		c->state = S_BODY;
	}
}

static int csv_next(struct mfs_reader *r, const struct mfs_record **rec)
{
	struct csv_reader *c = (struct csv_reader *)r;
	int ret = csv_step(c, 0);

	*rec = ret == 1 ? &c->rec : NULL;
	return ret;
}

static void csv_free(struct mfs_reader *r)
{
	struct csv_reader *c = (struct csv_reader *)r;

	free(c->buf);
	free(c->fields);
	free(c->scr);
	free(c->hdr);
	mfs_buf_free(&c->scratch);
	free(c);
}

static const struct mfs_reader_ops csv_ops = {
	.next = csv_next,
	.free = csv_free,
};

/*
 * The preamble is skipped and the header read here, so reader->header is
 * set on return. -EINVAL for a dialect that cannot be parsed (delimiter or
 * quote a line end, the same character twice).
 */
int mfs_csv_reader_open(struct mfs_source *src, const struct mfs_csv_dialect *d, size_t block,
			size_t max_record, struct mfs_reader **out)
{
	struct csv_reader *c = NULL;
	int r;

	*out = NULL;
	if (d->delimiter == '\n' || d->delimiter == '\r' || d->delimiter == 0 ||
	    d->quote == '\n' || d->quote == '\r' || d->quote == d->delimiter ||
	    d->comment == '\n' || d->comment == '\r' ||
	    (d->comment && (d->comment == d->delimiter || d->comment == d->quote))) {
		mfs_set_error("invalid CSV dialect (delimiter 0x%02x, quote 0x%02x, comment 0x%02x)",
			      (unsigned char)d->delimiter, (unsigned char)d->quote,
			      (unsigned char)d->comment);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->r.ops = &csv_ops;
	c->src = src;
	c->d = *d;
	c->quote = d->quote ? (unsigned char)d->quote : -1;
	c->state = S_PREAMBLE;
	c->preamble_left = d->skip_lines;
	c->line = 1;
	c->max_record = max_record ? max_record : MFS_CSV_MAX_RECORD;
	c->cap = block < MFS_CSV_MIN_BLOCK ? MFS_CSV_MIN_BLOCK : block;
	if (c->cap > SIZE_MAX / 4) {
		r = -ENOMEM;
		goto out;
	}
	c->buf = malloc(c->cap + CSV_PAD);
	if (!c->buf) {
		r = -ENOMEM;
		goto out;
	}
	scan_init(&c->unq, (unsigned char)d->delimiter, '\n', '\r');
	scan_init(&c->inq, d->quote ? (unsigned char)d->quote : '\n', '\n', '\r');
	r = csv_step(c, 1);
	if (r < 0)
		goto out;
	*out = &c->r;
	return 0;
out:
	csv_free(&c->r);
	return r;
}

int mfs_csv_reader_new(struct mfs_source *src, const struct mfs_csv_dialect *d,
		       struct mfs_reader **out)
{
	return mfs_csv_reader_open(src, d, CSV_BLOCK, 0, out);
}
