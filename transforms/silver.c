/*
 * silver.c - one bronze object in, one clean table out: SPEC §4's steps in
 * their order (decode, parse, names, values, rows, duplicates) over
 * streams, with two passes over a spill of the parsed records so that each
 * column gets one type inferred over the whole file.
 *
 * DESIGN
 *   Input chain: the caller's source (borrowed, never closed) ->
 *   decompression -> a replay of the first MiB (the encoding is guessed on
 *   it) -> decoding to UTF-8 -> a replay of the first decoded MiB (the
 *   dialect is sniffed on it, and binary data is refused) -> the reader.
 *
 *   Pass 1 reads records: malformed and too-long rows go to the rejects at
 *   once; the rest are trimmed, null tokens become NULL, every value feeds
 *   its column's inference (types.c), and the record is appended to the
 *   spill, a temp file unlinked at open: u32 length, varint line, [varint
 *   offset and length of the raw text in a second spill, kept only when
 *   pass 2 can reject rows], varint field count, then per field a varint
 *   (0 = NULL, else length + 1) and the bytes.
 *
 *   Between the passes the schema is fixed: names, inferred or declared
 *   types, evolution, expectations bound against it (each run parses its
 *   own copy of the expression: runs of the same dataset go in parallel).
 *
 *   Pass 2 reads the spill: converts each value (a declared type that does
 *   not convert rejects the row), evaluates the expectations in order,
 *   rejects a null key, formats the row and hands its XXH3-128 hash (of
 *   the whole formatted row, or of the key values) to dedupe.c. Without a
 *   key, and while the hash table of every row fits DEDUPE_BUDGET, rows are
 *   written in this same pass. Otherwise dedupe answers after the pass and
 *   pass 3 reads the spill again and writes the survivors.
 *
 *   Memory is bounded by the buffers (reader, spills, output), the largest
 *   record, and dedupe's budget plus a bitmap of one bit per row; no value
 *   is allocated on its own.
 *
 * Decisions (also in man/medallionfs-pipeline.5):
 *   - output CSV: RFC 4180 quoting with "," and LF line ends; a field is
 *     quoted when it holds a comma, quote, CR or LF or starts or ends with a
 *     space or tab; NULL is an empty unquoted field and an empty string
 *     "" (quoted), so readers that tell them apart (DuckDB with
 *     allow_quoted_nulls=false, pandas keep_default_na=False) can;
 *   - with a key, the last row per key survives and rows are written in
 *     file order, so each survivor sits where its last occurrence was;
 *   - a Hive column whose name the file already has is not added (the
 *     file's column wins); Hive columns follow the file's columns and
 *     count as file columns for evolution;
 *   - a header-less CSV with declared columns names its columns by
 *     position from the declaration;
 *   - an empty input (or only white space) is an empty table.
 */
#include "silver.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/buf.h"
#include "../util/err.h"
#include "dedupe.h"
#include "expr.h"
#include "types.h"

#define SAMPLE_BYTES (1024 * 1024)
#define OUT_FLUSH (256 * 1024)
#define SPILL_BUF (1024 * 1024)
/* A spill up to this size never touches its file (most files of a lake). */
#define SPILL_MEM (32u << 20)
#define DEDUPE_BUDGET ((size_t)64 * 1024 * 1024)

size_t mfs_silver_dedupe_budget = DEDUPE_BUDGET;

/* ---- source wrappers ---- */

/* The caller's source, read through but never closed. */
struct borrow_src {
	struct mfs_source src;
	struct mfs_source *inner;
};

static ssize_t borrow_read(struct mfs_source *s, void *buf, size_t len)
{
	return mfs_source_read(((struct borrow_src *)s)->inner, buf, len);
}

static void borrow_close(struct mfs_source *s)
{
	free(s);
}

/* Replays @buf (owned) before reading on from @inner (owned). */
struct replay_src {
	struct mfs_source src;
	struct mfs_source *inner;
	char *buf;
	size_t len, off;
	uint64_t *count;
};

static ssize_t replay_read(struct mfs_source *s, void *buf, size_t len)
{
	struct replay_src *r = (struct replay_src *)s;
	ssize_t n;

	if (r->off < r->len) {
		n = (ssize_t)(r->len - r->off < len ? r->len - r->off : len);
		memcpy(buf, r->buf + r->off, (size_t)n);
		r->off += (size_t)n;
	} else {
		n = mfs_source_read(r->inner, buf, len);
	}
	if (n > 0 && r->count)
		*r->count += (uint64_t)n;
	return n;
}

static void replay_close(struct mfs_source *s)
{
	struct replay_src *r = (struct replay_src *)s;

	mfs_source_close(r->inner);
	free(r->buf);
	free(r);
}

/* Reads up to SAMPLE_BYTES of *@src into a buffer and replaces *@src by a
 * replay of it. On failure *@src is left as it was. */
static int peek(struct mfs_source **src, const char **sample, size_t *len, int *at_eof,
		uint64_t *count)
{
	struct replay_src *r;
	char *buf = malloc(SAMPLE_BYTES);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	n = mfs_source_read_full(*src, buf, SAMPLE_BYTES);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		free(buf);
		return -ENOMEM;
	}
	r->src.read = replay_read;
	r->src.close = replay_close;
	r->inner = *src;
	r->buf = buf;
	r->len = (size_t)n;
	r->count = count;
	*src = &r->src;
	*sample = buf;
	*len = (size_t)n;
	if (at_eof)
		*at_eof = n < SAMPLE_BYTES;
	return 0;
}

/* Grows the sample of replay source @src (made by peek(), nothing read from
 * it yet) to @want bytes, or to the end of the input. */
static int peek_more(struct mfs_source *src, size_t want, const char **sample, size_t *len,
		     int *at_eof)
{
	struct replay_src *r = (struct replay_src *)src;
	char *nb;
	ssize_t n;

	if (want <= r->len)
		return 0;
	nb = realloc(r->buf, want);
	if (!nb)
		return -ENOMEM;
	r->buf = nb;
	n = mfs_source_read_full(r->inner, nb + r->len, want - r->len);
	if (n < 0)
		return (int)n;
	r->len += (size_t)n;
	*sample = nb;
	*len = r->len;
	*at_eof = r->len < want;
	return 0;
}

/* ---- output buffers ---- */

struct obuf {
	char *p;
	size_t len, cap;
	struct mfs_sink *sink;
	uint64_t written;
	int err;
};

static int ob_grow(struct obuf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : OUT_FLUSH + 4096;
	char *np;

	while (cap - b->len < n)
		cap *= 2;
	np = realloc(b->p, cap);
	if (!np) {
		b->err = -ENOMEM;
		return -ENOMEM;
	}
	b->p = np;
	b->cap = cap;
	return 0;
}

/* Room for @n more bytes at b->p + b->len. */
static inline int ob_room(struct obuf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return 0;
	return ob_grow(b, n);
}

static inline void ob_put(struct obuf *b, const void *s, size_t n)
{
	if (ob_room(b, n) == 0) {
		memcpy(b->p + b->len, s, n);
		b->len += n;
	}
}

static inline void ob_putc(struct obuf *b, char c)
{
	if (ob_room(b, 1) == 0)
		b->p[b->len++] = c;
}

static int ob_flush(struct obuf *b)
{
	int r;

	if (b->err)
		return b->err;
	if (!b->len)
		return 0;
	r = mfs_sink_write(b->sink, b->p, b->len);
	if (r < 0) {
		b->err = r;
		return r;
	}
	b->written += b->len;
	b->len = 0;
	return 0;
}

static inline int ob_maybe_flush(struct obuf *b)
{
	if (b->err)
		return b->err;
	return b->len >= OUT_FLUSH ? ob_flush(b) : 0;
}

/* Bytes that make a CSV field need quotes (besides edge spaces). */
static const unsigned char csv_special[256] = { ['"'] = 1, [','] = 1, ['\r'] = 1, ['\n'] = 1 };

static void csv_text(struct obuf *b, const char *s, size_t n)
{
	size_t i;
	int q = n == 0 || s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t';

	for (i = 0; !q && i < n; i++)
		q = csv_special[(unsigned char)s[i]];
	if (!q) {
		ob_put(b, s, n);
		return;
	}
	if (ob_room(b, 2 * n + 2) < 0)
		return;
	b->p[b->len++] = '"';
	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			b->p[b->len++] = '"';
		b->p[b->len++] = s[i];
	}
	b->p[b->len++] = '"';
}

static void json_text(struct obuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, start = 0;

	ob_putc(b, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		ob_put(b, s + start, i - start);
		start = i + 1;
		switch (c) {
		case '"':
			ob_put(b, "\\\"", 2);
			break;
		case '\\':
			ob_put(b, "\\\\", 2);
			break;
		case '\n':
			ob_put(b, "\\n", 2);
			break;
		case '\r':
			ob_put(b, "\\r", 2);
			break;
		case '\t':
			ob_put(b, "\\t", 2);
			break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

			ob_put(b, u, 6);
		}
		}
	}
	ob_put(b, s + start, n - start);
	ob_putc(b, '"');
}

/* ---- varints ---- */

static inline size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline uint8_t *varint_put(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline int varint_get(const uint8_t **pp, const uint8_t *e, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t r = 0;
	int shift = 0;

	while (p < e && shift < 64) {
		uint8_t c = *p++;

		r |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = r;
			*pp = p;
			return 0;
		}
		shift += 7;
	}
	return -EBADMSG;
}

/* ---- names ---- */

static uint32_t utf8_next(const unsigned char **pp, const unsigned char *e)
{
	const unsigned char *p = *pp;
	uint32_t c = *p++;
	int more = 0;

	if (c >= 0xf0 && c < 0xf8) {
		c &= 0x07;
		more = 3;
	} else if (c >= 0xe0) {
		c &= 0x0f;
		more = 2;
	} else if (c >= 0xc0) {
		c &= 0x1f;
		more = 1;
	} else if (c >= 0x80) {
		*pp = p;
		return 0xfffd;
	}
	while (more-- > 0) {
		if (p >= e || (*p & 0xc0) != 0x80) {
			*pp = p;
			return 0xfffd;
		}
		c = (c << 6) | (*p++ & 0x3f);
	}
	*pp = p;
	return c;
}

static size_t utf8_put(char *p, uint32_t c)
{
	if (c < 0x80) {
		p[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		p[0] = (char)(0xc0 | (c >> 6));
		p[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		p[0] = (char)(0xe0 | (c >> 12));
		p[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		p[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	p[0] = (char)(0xf0 | (c >> 18));
	p[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	p[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	p[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* Punctuation, symbols and spaces outside ASCII: separators in a name. */
static int cp_is_sep(uint32_t c)
{
	if (c >= 0x80 && c <= 0xbf)
		return c != 0xaa && c != 0xb5 && c != 0xba;
	return c == 0xd7 || c == 0xf7 || (c >= 0x2000 && c <= 0x2bff) ||
	       (c >= 0x3000 && c <= 0x303f) || c == 0xfeff || c == 0xfffd ||
	       (c >= 0xff01 && c <= 0xff0f);
}

/* Lower case for Latin-1, Latin Extended-A, Greek and Cyrillic: best effort,
 * and the same on every host (no locale). */
static uint32_t cp_lower(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'A' && c <= 'Z') ? c + 32 : c;
	if (c >= 0xc0 && c <= 0xde && c != 0xd7)
		return c + 0x20;
	if ((c >= 0x100 && c <= 0x137) || (c >= 0x14a && c <= 0x177))
		return c | 1;
	if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
		return (c & 1) ? c + 1 : c;
	if (c == 0x178)
		return 0xff;
	if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2)
		return c + 0x20;
	if (c >= 0x410 && c <= 0x42f)
		return c + 0x20;
	if (c >= 0x400 && c <= 0x40f)
		return c + 0x50;
	return c;
}

/* snake_case of @s into a malloc'd string ("" possible). */
static char *snake_case(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	char *out = malloc(n * 2 + 1), *o = out;
	int pend = 0;

	if (!out)
		return NULL;
	while (p < e) {
		uint32_t c = utf8_next(&p, e);
		int keep;

		if (c < 0x80)
			keep = (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
		else
			keep = !cp_is_sep(c);
		if (!keep) {
			pend = o > out;
			continue;
		}
		if (pend) {
			*o++ = '_';
			pend = 0;
		}
		o += utf8_put(o, cp_lower(c));
	}
	*o = 0;
	return out;
}

/* ---- the run ---- */

struct col {
	char *name;        /* silver name */
	char *raw;         /* JSON: the key as read; Hive: its value */
	size_t rawlen;
	int const_null;    /* Hive: the value is a null token */
	struct mfs_infer inf;
};

struct scol {
	const char *name;
	char *own;         /* the name when it is not a column's */
	int src;           /* index in cols, or -1: NULL */
	struct mfs_coltype ct;
	char tname[32];
	int fast;          /* canonical text may be copied through (types.h) */
	char *jkey;        /* JSONL: "name": */
	size_t jkeylen;
};

struct fieldv {
	const char *p;
	size_t n;
	int null;
};

struct run {
	const struct mfs_pipeline *p;
	const struct mfs_dataset *ds;
	const struct mfs_silver_input *input;
	struct mfs_silver_result *res;
	struct mfs_silver_steps steps;
	int decimal_comma;
	enum mfs_date_order date_order;
	enum mfs_out_format ofmt;
	const char *tmpdir;

	struct mfs_source *text;
	struct mfs_reader *reader;
	int is_json;

	/* null tokens */
	const char *const *tok;
	size_t *toklen;
	size_t ntok;
	uint64_t toklen_mask;
	uint8_t tokfirst[256]; /* first bytes of the tokens */
	int empty_is_null;

	/* file columns, then Hive columns */
	struct col *cols;
	size_t ncols, capcols;
	size_t nfile;          /* columns from the file */
	size_t expect_fields;  /* CSV: fields per record */
	int named;
	/* JSON: key -> column */
	int32_t *jmap;
	uint64_t jmask;
	struct fieldv *slots;
	uint32_t *slot_gen;
	uint32_t gen;
	size_t capslots;

	struct mfs_spill *spill, *raw;
	uint64_t nspilled, malformed;
	const char *first_error;
	char first_error_buf[160];

	struct scol *sc;
	size_t nsc;
	int *keyidx;
	size_t nkey;
	struct mfs_expr **ex;
	size_t nex;
	struct mfs_arena *arena;

	struct fieldv *fv;     /* pass 2: by file column */
	struct mfs_value *vals;
	struct fieldv *canon;  /* pass 2: by schema column, text copied through */
	struct mfs_buf scratch;
	struct mfs_buf keybuf;

	struct obuf out, rej;
};

static void set_reason(struct run *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_reason(struct run *R, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(R->res->reason, sizeof(R->res->reason), fmt, ap);
	va_end(ap);
	mfs_set_error("%s", R->res->reason);
}

static void reject(struct run *R, uint64_t line, const char *reason, const char *raw, size_t rawlen)
{
	char num[24], *shown = NULL;
	size_t n = mfs_format_int((int64_t)line, num), i, k = 0;

	R->res->rows_rejected++;
	ob_put(&R->rej, num, n);
	ob_putc(&R->rej, ',');
	csv_text(&R->rej, reason, strlen(reason));
	ob_putc(&R->rej, ',');
	/* The rejects are text: a NUL byte is shown as U+2400 SYMBOL FOR NULL. */
	if (raw && memchr(raw, '\0', rawlen) && (shown = malloc(3 * rawlen)) != NULL) {
		for (i = 0; i < rawlen; i++) {
			if (raw[i]) {
				shown[k++] = raw[i];
			} else {
				memcpy(shown + k, "\xE2\x90\x80", 3);
				k += 3;
			}
		}
		raw = shown;
		rawlen = k;
	}
	csv_text(&R->rej, raw ? raw : "", raw ? rawlen : 0);
	free(shown);
	ob_putc(&R->rej, '\n');
	ob_maybe_flush(&R->rej);
}

/* ---- values ---- */

static inline int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static inline void trim(const char **pp, size_t *pn)
{
	const unsigned char *p = (const unsigned char *)*pp, *e = p + *pn;

	for (;;) {
		if (p < e && is_space(*p))
			p++;
		else if (e - p >= 2 && p[0] == 0xc2 && p[1] == 0xa0)
			p += 2;
		else
			break;
	}
	for (;;) {
		if (e > p && is_space(e[-1]))
			e--;
		else if (e - p >= 2 && e[-2] == 0xc2 && e[-1] == 0xa0)
			e -= 2;
		else
			break;
	}
	*pp = (const char *)p;
	*pn = (size_t)(e - p);
}

static int setup_tokens(struct run *R)
{
	size_t i;

	if (!R->steps.null_tokens || !R->p->nnull_tokens)
		return 0;
	R->tok = (const char *const *)R->p->null_tokens;
	R->ntok = R->p->nnull_tokens;
	R->toklen = calloc(R->ntok, sizeof(*R->toklen));
	if (!R->toklen)
		return -ENOMEM;
	for (i = 0; i < R->ntok; i++) {
		size_t n = R->toklen[i] = strlen(R->tok[i]);

		/* "" in the list means the empty value, however it is spelled. */
		if (n == 0 || strcmp(R->tok[i], "\"\"") == 0)
			R->empty_is_null = 1;
		else if (n < 64)
			R->toklen_mask |= 1ull << n;
		if (n)
			R->tokfirst[(unsigned char)R->tok[i][0]] = 1;
	}
	return 0;
}

static inline int is_null_token(const struct run *R, const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return R->empty_is_null;
	if (n >= 64 || !((R->toklen_mask >> n) & 1) || !R->tokfirst[(unsigned char)*p])
		return 0;
	for (i = 0; i < R->ntok; i++)
		if (R->toklen[i] == n && memcmp(R->tok[i], p, n) == 0)
			return 1;
	return 0;
}

/* Trim, null tokens: the value in @p, @n; 1 when NULL. */
static inline int clean_value(const struct run *R, const struct mfs_field *f, const char **p,
			      size_t *n)
{
	const char *s = f->data;
	size_t len = f->len;

	if (f->kind == MFS_FIELD_NULL)
		return 1;
	if (R->steps.trim) {
		trim(&s, &len);
		*p = s;
		*n = len;
		return is_null_token(R, s, len);
	}
	*p = s;
	*n = len;
	trim(&s, &len);
	return is_null_token(R, s, len);
}

/* ---- columns ---- */

static int name_taken(const struct run *R, const char *name)
{
	size_t i;

	for (i = 0; i < R->ncols; i++)
		if (strcmp(R->cols[i].name, name) == 0)
			return 1;
	return 0;
}

/* A new column named from @s/@n (trimmed, snake_case, unique, or column_N). */
static int add_col(struct run *R, const char *s, size_t n)
{
	struct col *c;
	char *base, *name;
	size_t k;

	if (R->ncols == R->capcols) {
		size_t cap = R->capcols ? R->capcols * 2 : 16;
		struct col *nc = realloc(R->cols, cap * sizeof(*nc));

		if (!nc)
			return -ENOMEM;
		R->cols = nc;
		R->capcols = cap;
	}
	trim(&s, &n);
	if (R->steps.normalize_names) {
		base = snake_case(s, n);
	} else {
		base = malloc(n + 1);
		if (base) {
			memcpy(base, s, n);
			base[n] = 0;
		}
	}
	if (!base)
		return -ENOMEM;
	if (!*base) {
		free(base);
		if (asprintf(&base, "column_%zu", R->ncols + 1) < 0)
			return -ENOMEM;
	}
	name = base;
	for (k = 2; name_taken(R, name); k++) {
		if (name != base)
			free(name);
		if (asprintf(&name, "%s_%zu", base, k) < 0) {
			free(base);
			return -ENOMEM;
		}
	}
	if (name != base)
		free(base);
	c = &R->cols[R->ncols++];
	memset(c, 0, sizeof(*c));
	c->name = name;
	mfs_infer_init(&c->inf);
	return 0;
}

static const struct mfs_column_decl *decl_at(const struct run *R, size_t i)
{
	if (!R->ds || i >= R->ds->ncolumns)
		return NULL;
	return &R->ds->columns[i];
}

/* CSV: the columns from the header, or column_N / the declared names. */
static int name_csv_columns(struct run *R, size_t nfields)
{
	const struct mfs_reader *r = R->reader;
	size_t i;
	int ret;

	R->named = 1;
	if (r->header) {
		for (i = 0; i < r->nheader; i++)
			if ((ret = add_col(R, r->header[i].data, r->header[i].len)) < 0)
				return ret;
	} else {
		for (i = 0; i < nfields; i++) {
			const struct mfs_column_decl *d = decl_at(R, i);

			ret = d ? add_col(R, d->name, strlen(d->name)) : add_col(R, "", 0);
			if (ret < 0)
				return ret;
		}
	}
	R->nfile = R->expect_fields = R->ncols;
	return 0;
}

/* JSON: the column of key @name, created at its first appearance and
 * named from @disp. */
static int json_col(struct run *R, const char *name, size_t len, const char *disp, size_t displen)
{
	uint64_t h = XXH3_64bits(name, len), i;
	int ret;

	if (R->ncols * 2 >= R->jmask) {
		uint64_t cap = R->jmask ? (R->jmask + 1) * 2 : 64, j;
		int32_t *m = malloc(cap * sizeof(*m));

		if (!m)
			return -ENOMEM;
		memset(m, 0xff, cap * sizeof(*m));
		for (j = 0; j < R->ncols; j++) {
			uint64_t k = XXH3_64bits(R->cols[j].raw, R->cols[j].rawlen) & (cap - 1);

			while (m[k] >= 0)
				k = (k + 1) & (cap - 1);
			m[k] = (int32_t)j;
		}
		free(R->jmap);
		R->jmap = m;
		R->jmask = cap - 1;
	}
	for (i = h & R->jmask; R->jmap[i] >= 0; i = (i + 1) & R->jmask) {
		const struct col *c = &R->cols[R->jmap[i]];

		if (c->rawlen == len && memcmp(c->raw, name, len) == 0)
			return R->jmap[i];
	}
	if ((ret = add_col(R, disp, displen)) < 0)
		return ret;
	R->cols[R->ncols - 1].raw = malloc(len + 1);
	if (!R->cols[R->ncols - 1].raw)
		return -ENOMEM;
	memcpy(R->cols[R->ncols - 1].raw, name, len);
	R->cols[R->ncols - 1].rawlen = len;
	R->jmap[i] = (int32_t)(R->ncols - 1);
	R->nfile = R->ncols;
	return (int)(R->ncols - 1);
}

/* ---- pass 1 ---- */

static int spill_record(struct run *R, const struct mfs_record *rec, const struct fieldv *f,
			size_t nf)
{
	uint64_t raw_off = 0;
	size_t need, i;
	uint8_t *p, *start;
	int r;

	if (R->raw) {
		raw_off = mfs_spill_tell(R->raw);
		if ((r = mfs_spill_write(R->raw, rec->raw, rec->raw_len)) < 0)
			return r;
	}
	need = 4 + varint_len(rec->line) + varint_len(nf);
	if (R->raw)
		need += varint_len(raw_off) + varint_len(rec->raw_len);
	for (i = 0; i < nf; i++)
		need += f[i].null ? 1 : varint_len(f[i].n + 1) + f[i].n;
	start = mfs_spill_reserve(R->spill, need);
	if (!start)
		return -ENOMEM;
	p = start + 4;
	p = varint_put(p, rec->line);
	if (R->raw) {
		p = varint_put(p, raw_off);
		p = varint_put(p, rec->raw_len);
	}
	p = varint_put(p, nf);
	for (i = 0; i < nf; i++) {
		if (f[i].null) {
			*p++ = 0;
			continue;
		}
		p = varint_put(p, f[i].n + 1);
		memcpy(p, f[i].p, f[i].n);
		p += f[i].n;
	}
	{
		uint32_t len = (uint32_t)(p - start - 4);

		memcpy(start, &len, 4);
	}
	mfs_spill_commit(R->spill, (size_t)(p - start));
	R->nspilled++;
	return 0;
}

static int grow_slots(struct run *R, size_t n)
{
	if (n <= R->capslots)
		return 0;
	{
		size_t cap = R->capslots ? R->capslots : 64;
		struct fieldv *s;
		uint32_t *g;

		while (cap < n)
			cap *= 2;
		s = realloc(R->slots, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		R->slots = s;
		g = realloc(R->slot_gen, cap * sizeof(*g));
		if (!g)
			return -ENOMEM;
		memset(g + R->capslots, 0, (cap - R->capslots) * sizeof(*g));
		R->slot_gen = g;
		R->capslots = cap;
	}
	return 0;
}

static int pass1_record(struct run *R, const struct mfs_record *rec)
{
	size_t i, nf;
	int r;

	R->res->rows_in++;
	if (rec->error) {
		R->malformed++;
		if (!R->first_error) {
			snprintf(R->first_error_buf, sizeof(R->first_error_buf), "%s", rec->error);
			R->first_error = R->first_error_buf;
		}
		reject(R, rec->line, rec->error, rec->raw, rec->raw_len);
		return 0;
	}
	if (rec->raw && memchr(rec->raw, '\0', rec->raw_len)) {
		/* a stray NUL (a tool's padding, a broken export) is damage, not data */
		reject(R, rec->line, "NUL byte in the row", rec->raw, rec->raw_len);
		return 0;
	}
	if (!R->is_json) {
		if (!R->named && (r = name_csv_columns(R, rec->nfields)) < 0)
			return r;
		if (rec->nfields > R->expect_fields) {
			char why[80];

			snprintf(why, sizeof(why), "%zu fields, expected %zu", rec->nfields,
				 R->expect_fields);
			reject(R, rec->line, why, rec->raw, rec->raw_len);
			return 0;
		}
		nf = rec->nfields;
		if ((r = grow_slots(R, nf)) < 0)
			return r;
		for (i = 0; i < nf; i++) {
			struct fieldv *v = &R->slots[i];

			v->null = clean_value(R, &rec->fields[i], &v->p, &v->n);
			if (!v->null)
				mfs_infer_add(&R->cols[i].inf, v->p, v->n, R->decimal_comma);
		}
		return spill_record(R, rec, R->slots, nf);
	}
	/* JSON: fields by name, in any order, some missing. */
	if (++R->gen == 0) {
		memset(R->slot_gen, 0, R->capslots * sizeof(*R->slot_gen));
		R->gen = 1;
	}
	for (i = 0; i < rec->nfields; i++) {
		const struct mfs_field *f = &rec->fields[i];
		const char *nm = f->name ? f->name : "";
		size_t nl = f->name ? f->name_len : 0;
		unsigned occ;
		int c;

		/* A name repeated in one object (also by flattening: "a_b" and
		 * {"a":{"b":..}}) is another column: a_b, a_b_2. */
		for (occ = 1;; occ++) {
			if (occ == 1) {
				c = json_col(R, nm, nl, nm, nl);
			} else {
				mfs_buf_reset(&R->scratch);
				if (mfs_buf_append(&R->scratch, nm, nl) < 0 ||
				    mfs_buf_appendf(&R->scratch, "%c%u", 1, occ) < 0)
					return -ENOMEM;
				c = json_col(R, R->scratch.data, R->scratch.len, nm, nl);
			}
			if (c < 0)
				return c;
			if ((r = grow_slots(R, R->ncols)) < 0)
				return r;
			if (R->slot_gen[c] != R->gen)
				break;
		}
		R->slots[c].null = clean_value(R, f, &R->slots[c].p, &R->slots[c].n);
		R->slot_gen[c] = R->gen;
	}
	nf = R->ncols;
	for (i = 0; i < nf; i++) {
		if (R->slot_gen[i] != R->gen)
			R->slots[i].null = 1;
		else if (!R->slots[i].null)
			mfs_infer_add(&R->cols[i].inf, R->slots[i].p, R->slots[i].n,
				      R->decimal_comma);
	}
	return spill_record(R, rec, R->slots, nf);
}

static int pass1(struct run *R)
{
	const struct mfs_record *rec;
	int r;

	while ((r = mfs_reader_next(R->reader, &rec)) == 1) {
		if ((r = pass1_record(R, rec)) < 0)
			return r;
		if ((r = ob_maybe_flush(&R->rej)) < 0)
			return r;
	}
	if (r < 0)
		return r;
	if (!R->is_json && !R->named && (r = name_csv_columns(R, 0)) < 0)
		return r;
	return 0;
}

/* ---- the schema ---- */

static int add_hive(struct run *R)
{
	size_t k;
	int r;

	for (k = 0; k < R->input->nhive; k++) {
		const char *v = R->input->hive_values[k], *t;
		char *nm = R->steps.normalize_names
				   ? snake_case(R->input->hive_names[k], strlen(R->input->hive_names[k]))
				   : strdup(R->input->hive_names[k]);
		size_t n = strlen(v);
		struct col *c;
		int taken;

		if (!nm)
			return -ENOMEM;
		taken = *nm && name_taken(R, nm);
		free(nm);
		if (taken)
			continue;
		if ((r = add_col(R, R->input->hive_names[k], strlen(R->input->hive_names[k]))) < 0)
			return r;
		c = &R->cols[R->ncols - 1];
		t = v;
		if (R->steps.trim)
			trim(&t, &n);
		c->raw = malloc(n + 1);
		if (!c->raw)
			return -ENOMEM;
		memcpy(c->raw, t, n);
		c->raw[n] = 0;
		c->rawlen = n;
		{
			const char *tt = t;
			size_t tn = n;

			trim(&tt, &tn);
			c->const_null = is_null_token(R, tt, tn);
		}
		if (!c->const_null)
			mfs_infer_add(&c->inf, c->raw, c->rawlen, R->decimal_comma);
	}
	return 0;
}

static int find_col(const struct run *R, const char *name)
{
	size_t i;

	for (i = 0; i < R->ncols; i++)
		if (strcmp(R->cols[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int add_scol(struct run *R, const char *name, int src)
{
	struct scol *s = &R->sc[R->nsc++];

	memset(s, 0, sizeof(*s));
	s->name = name;
	s->src = src;
	return 0;
}

static int build_schema(struct run *R)
{
	const struct mfs_dataset *ds = R->ds;
	size_t i, ndecl = ds ? ds->ncolumns : 0;
	char **dnames = NULL;
	int *used = NULL, r = 0;

	R->sc = calloc(R->ncols + ndecl + 1, sizeof(*R->sc));
	used = calloc(R->ncols + 1, sizeof(*used));
	if (!R->sc || !used) {
		r = -ENOMEM;
		goto out;
	}
	if (ndecl) {
		dnames = calloc(ndecl, sizeof(*dnames));
		if (!dnames) {
			r = -ENOMEM;
			goto out;
		}
		for (i = 0; i < ndecl; i++) {
			const char *dn = ds->columns[i].name;
			int c;

			dnames[i] = R->steps.normalize_names ? snake_case(dn, strlen(dn)) : strdup(dn);
			if (!dnames[i]) {
				r = -ENOMEM;
				goto out;
			}
			c = find_col(R, dnames[i]);
			if (c < 0)
				c = find_col(R, dn);
			if (c >= 0)
				used[c] = 1;
			add_scol(R, dnames[i], c);
			R->sc[R->nsc - 1].own = dnames[i];
			dnames[i] = NULL;
			mfs_coltype_declared(ds->columns[i].type, ds->columns[i].scale,
					     c >= 0 ? &R->cols[c].inf : &(struct mfs_infer){ 0 },
					     R->date_order, &R->sc[R->nsc - 1].ct);
		}
	}
	for (i = 0; i < R->ncols; i++) {
		if (used[i])
			continue;
		if (ndecl && ds->evolution == MFS_EVOLVE_DROP)
			continue;
		if (ndecl && ds->evolution == MFS_EVOLVE_FAIL) {
			set_reason(R, "column %s is not declared (evolution = fail)", R->cols[i].name);
			r = -EIO;
			goto out;
		}
		add_scol(R, R->cols[i].name, (int)i);
		if (R->steps.infer_types)
			mfs_infer_result(&R->cols[i].inf, R->date_order, &R->sc[R->nsc - 1].ct);
		else
			R->sc[R->nsc - 1].ct.type = MFS_T_STRING;
	}
	for (i = 0; i < R->nsc; i++) {
		struct scol *s = &R->sc[i];
		struct obuf b = { 0 };

		mfs_coltype_name(&s->ct, s->tname, sizeof(s->tname));
		json_text(&b, s->name, strlen(s->name));
		ob_putc(&b, ':');
		if (b.err) {
			free(b.p);
			r = -ENOMEM;
			goto out;
		}
		s->jkey = b.p;
		s->jkeylen = b.len;
	}
out:
	if (dnames)
		for (i = 0; i < ndecl; i++)
			free(dnames[i]);
	free(dnames);
	free(used);
	return r;
}

static int schema_json(struct run *R)
{
	struct obuf b = { 0 };
	size_t i;

	ob_putc(&b, '[');
	for (i = 0; i < R->nsc; i++) {
		const struct scol *s = &R->sc[i];
		char num[24];
		size_t n;

		if (i)
			ob_putc(&b, ',');
		ob_put(&b, "{\"name\":", 8);
		json_text(&b, s->name, strlen(s->name));
		ob_put(&b, ",\"type\":", 8);
		json_text(&b, s->tname, strlen(s->tname));
		ob_put(&b, ",\"scale\":", 9);
		n = mfs_format_int(s->ct.type == MFS_T_DECIMAL ? s->ct.scale : 0, num);
		ob_put(&b, num, n);
		ob_put(&b, ",\"currency\":", 12);
		if (s->ct.currency) {
			const char *cs = mfs_currency_sign(s->ct.currency);

			json_text(&b, cs, strlen(cs));
		} else {
			ob_put(&b, "null", 4);
		}
		ob_putc(&b, '}');
	}
	ob_putc(&b, ']');
	ob_putc(&b, 0);
	if (b.err) {
		free(b.p);
		return -ENOMEM;
	}
	R->res->schema_json = b.p;
	return 0;
}

static int resolve_col(void *arg, const char *name, size_t len, int *index, enum mfs_type *type,
		       int *scale)
{
	const struct run *R = arg;
	size_t i;

	for (i = 0; i < R->nsc; i++)
		if (strlen(R->sc[i].name) == len && memcmp(R->sc[i].name, name, len) == 0)
			goto found;
	for (i = 0; i < R->nsc; i++)
		if (strlen(R->sc[i].name) == len && strncasecmp(R->sc[i].name, name, len) == 0)
			goto found;
	return -ENOENT;
found:
	*index = (int)i;
	*type = R->sc[i].ct.type;
	*scale = R->sc[i].ct.type == MFS_T_DECIMAL ? R->sc[i].ct.scale : 0;
	return 0;
}

static int bind_expectations(struct run *R)
{
	size_t i;
	int r;

	if (!R->ds || !R->ds->nexpects)
		return 0;
	R->ex = calloc(R->ds->nexpects, sizeof(*R->ex));
	R->arena = mfs_arena_new();
	if (!R->ex || !R->arena)
		return -ENOMEM;
	R->nex = R->ds->nexpects;
	for (i = 0; i < R->nex; i++) {
		const struct mfs_expectation *x = &R->ds->expects[i];
		struct mfs_expr_error err = { 0 };
		enum mfs_type t;
		int scale;

		r = mfs_expr_parse(x->text, strlen(x->text), &R->ex[i], &err);
		if (r == 0)
			r = mfs_expr_bind(R->ex[i], resolve_col, R, 0, &err);
		if (r < 0) {
			set_reason(R, "expectation %s: %s", x->name, err.msg);
			return -EIO;
		}
		t = mfs_expr_type(R->ex[i], &scale);
		if (t != MFS_T_BOOL && t != MFS_T_NULL) {
			set_reason(R, "expectation %s: not a boolean expression (%s)", x->name,
				   mfs_type_name(t));
			return -EIO;
		}
	}
	return 0;
}

static int resolve_keys(struct run *R)
{
	size_t i;

	if (!R->ds || !R->ds->nkey || !R->steps.dedupe)
		return 0;
	R->keyidx = calloc(R->ds->nkey, sizeof(*R->keyidx));
	if (!R->keyidx)
		return -ENOMEM;
	R->nkey = R->ds->nkey;
	for (i = 0; i < R->nkey; i++) {
		enum mfs_type t;
		int scale;
		const char *k = R->ds->key[i];

		if (resolve_col(R, k, strlen(k), &R->keyidx[i], &t, &scale) < 0) {
			char *sn = snake_case(k, strlen(k));
			int rr = sn ? resolve_col(R, sn, strlen(sn), &R->keyidx[i], &t, &scale) : -1;

			free(sn);
			if (rr < 0) {
				set_reason(R, "key column %s is not in the file", k);
				return -EIO;
			}
		}
	}
	return 0;
}

/* ---- pass 2 and 3 ---- */

struct srec {
	uint64_t line, raw_off, raw_len;
};

/* Reads the next spilled record into R->fv: 1, 0 at the end, -errno. */
static int read_spilled(struct run *R, struct srec *sr)
{
	const void *hp;
	const uint8_t *p, *e;
	uint32_t len;
	uint64_t nf, i, v;
	int r;

	r = mfs_spill_read(R->spill, 4, &hp);
	if (r <= 0)
		return r;
	memcpy(&len, hp, 4);
	r = mfs_spill_read(R->spill, len, &hp);
	if (r <= 0)
		return r < 0 ? r : -EBADMSG;
	p = hp;
	e = p + len;
	if (varint_get(&p, e, &sr->line) < 0)
		return -EBADMSG;
	sr->raw_off = sr->raw_len = 0;
	if (R->raw && (varint_get(&p, e, &sr->raw_off) < 0 || varint_get(&p, e, &sr->raw_len) < 0))
		return -EBADMSG;
	if (varint_get(&p, e, &nf) < 0 || nf > R->nfile)
		return -EBADMSG;
	for (i = 0; i < nf; i++) {
		if (varint_get(&p, e, &v) < 0)
			return -EBADMSG;
		if (v == 0) {
			R->fv[i].null = 1;
			continue;
		}
		v--;
		if ((uint64_t)(e - p) < v)
			return -EBADMSG;
		R->fv[i].null = 0;
		R->fv[i].p = (const char *)p;
		R->fv[i].n = (size_t)v;
		p += v;
	}
	for (; i < R->nfile; i++)
		R->fv[i].null = 1;
	return 1;
}

/* The raw text of @sr, for a reject. Valid until the next call. */
static const char *raw_text(struct run *R, const struct srec *sr, size_t *n)
{
	*n = 0;
	if (!R->raw || !sr->raw_len)
		return "";
	if (mfs_buf_reserve(&R->scratch, sr->raw_len + 1) < 0)
		return "";
	if (mfs_spill_pread(R->raw, sr->raw_off, R->scratch.data, sr->raw_len) < 0)
		return "";
	*n = sr->raw_len;
	return R->scratch.data;
}

/* Converts the row into R->vals. -1 (with @why) when a declared type fails. */
static int convert_row(struct run *R, char *why, size_t whylen)
{
	size_t j;

	for (j = 0; j < R->nsc; j++) {
		const struct scol *s = &R->sc[j];
		struct mfs_value *v = &R->vals[j];
		const char *p;
		size_t n;

		R->canon[j].null = 1;
		if (s->src < 0) {
			v->type = s->ct.type;
			v->is_null = 1;
			continue;
		}
		if ((size_t)s->src >= R->nfile) {
			const struct col *c = &R->cols[s->src];

			if (c->const_null) {
				v->type = s->ct.type;
				v->is_null = 1;
				continue;
			}
			p = c->raw;
			n = c->rawlen;
		} else {
			const struct fieldv *f = &R->fv[s->src];

			if (f->null) {
				v->type = s->ct.type;
				v->is_null = 1;
				continue;
			}
			p = f->p;
			n = f->n;
		}
		if (s->fast && mfs_canonical(&s->ct, p, n)) {
			R->canon[j].p = p;
			R->canon[j].n = n;
			R->canon[j].null = 0;
			v->type = s->ct.type;
			v->is_null = 0;
			continue;
		}
		if (mfs_convert(&s->ct, p, n, R->decimal_comma, v) < 0) {
			if (why)
				snprintf(why, whylen, "column %s: '%.*s' is not a %s", s->name,
					 n > 100 ? 100 : (int)n, p, s->tname);
			return -1;
		}
	}
	return 0;
}

static void format_row(struct run *R, struct obuf *b)
{
	char tmp[MFS_VALUE_TEXT_MAX];
	size_t j, n;

	if (R->ofmt == MFS_OUT_JSONL)
		ob_putc(b, '{');
	for (j = 0; j < R->nsc; j++) {
		const struct mfs_value *v = &R->vals[j];

		if (R->ofmt == MFS_OUT_JSONL) {
			if (j)
				ob_putc(b, ',');
			ob_put(b, R->sc[j].jkey, R->sc[j].jkeylen);
			if (!v->is_null && !R->canon[j].null) {
				if (v->type == MFS_T_DATE || v->type == MFS_T_TIMESTAMP)
					json_text(b, R->canon[j].p, R->canon[j].n);
				else
					ob_put(b, R->canon[j].p, R->canon[j].n);
			} else if (v->is_null) {
				ob_put(b, "null", 4);
			} else if (v->type == MFS_T_STRING) {
				json_text(b, v->u.s.p, v->u.s.len);
			} else {
				n = mfs_value_format(v, tmp);
				if (v->type == MFS_T_DATE || v->type == MFS_T_TIMESTAMP ||
				    (v->type == MFS_T_DOUBLE && (tmp[0] == 'n' || tmp[n - 1] == 'f')))
					json_text(b, tmp, n);
				else
					ob_put(b, tmp, n);
			}
			continue;
		}
		if (j)
			ob_putc(b, ',');
		if (v->is_null)
			continue;
		if (!R->canon[j].null) {
			ob_put(b, R->canon[j].p, R->canon[j].n);
		} else if (v->type == MFS_T_STRING) {
			csv_text(b, v->u.s.p, v->u.s.len);
		} else {
			n = mfs_value_format(v, tmp);
			ob_put(b, tmp, n);
		}
	}
	ob_putc(b, R->ofmt == MFS_OUT_JSONL ? '}' : '\n');
	if (R->ofmt == MFS_OUT_JSONL)
		ob_putc(b, '\n');
}

/* The hash of the key values: each as its text with its length before it. */
static XXH128_hash_t key_hash(struct run *R)
{
	char tmp[MFS_VALUE_TEXT_MAX];
	struct mfs_buf *b = &R->keybuf;
	size_t i;

	b->len = 0;
	for (i = 0; i < R->nkey; i++) {
		const struct mfs_value *v = &R->vals[R->keyidx[i]];
		const struct fieldv *c = &R->canon[R->keyidx[i]];
		const char *p = tmp;
		uint64_t n;

		if (!c->null) {
			p = c->p;
			n = c->n;
		} else if (v->type == MFS_T_STRING) {
			p = v->u.s.p;
			n = v->u.s.len;
		} else {
			n = mfs_value_format(v, tmp);
		}
		if (mfs_buf_append(b, &n, sizeof(n)) < 0 || mfs_buf_append(b, p, n) < 0)
			break; /* -ENOMEM: caught by the caller's buffer check */
	}
	return XXH3_128bits(b->data, b->len);
}

/* Expectations on R->vals: 0 pass, 1 dropped (rejected), -EIO fail. */
static int check_row(struct run *R, const struct srec *sr, int *warned)
{
	size_t i;

	for (i = 0; i < R->nex; i++) {
		const struct mfs_expectation *x = &R->ds->expects[i];
		struct mfs_value res;
		int r, ok;

		mfs_arena_reset(R->arena);
		mfs_clear_error();
		r = mfs_expr_eval(R->ex[i], R->vals, R->arena, &res);
		ok = r == 0 && !res.is_null && res.type == MFS_T_BOOL && res.u.b;
		if (ok)
			continue;
		switch (x->action) {
		case MFS_EXPECT_WARN:
			*warned = 1;
			break;
		case MFS_EXPECT_FAIL:
			set_reason(R, "expectation %s failed at line %llu", x->name,
				   (unsigned long long)sr->line);
			return -EIO;
		case MFS_EXPECT_DROP: {
			char why[320];
			size_t n;
			const char *raw;

			if (r < 0)
				snprintf(why, sizeof(why), "expectation %s failed: %s", x->name,
					 mfs_last_error());
			else
				snprintf(why, sizeof(why), "expectation %s failed", x->name);
			raw = raw_text(R, sr, &n);
			reject(R, sr->line, why, raw, n);
			return 1;
		}
		}
	}
	return 0;
}

/*
 * Rows wait in a batch of PEND before dedupe sees them, their table slots
 * prefetched, so the cache misses of a batch overlap. A streaming batch's
 * formatted rows sit at the end of the output buffer; the duplicates among
 * them are cut out when the batch is decided.
 */
#define PEND 32

struct pend {
	size_t start;       /* of the row in R->out (streaming) */
	uint64_t idx;
	XXH128_hash_t h;
};

struct batch {
	struct mfs_dedupe *dd;
	int streaming;
	struct pend p[PEND];
	size_t n;
};

static int batch_flush(struct run *R, struct batch *b)
{
	size_t i, w = b->n ? b->p[0].start : 0;
	int r;

	for (i = 0; i < b->n; i++) {
		size_t end = i + 1 < b->n ? b->p[i + 1].start : R->out.len;

		r = mfs_dedupe_add(b->dd, b->p[i].idx, b->p[i].h);
		if (r < 0)
			return r;
		if (!b->streaming)
			continue;
		if (r == 0) {
			if (w != b->p[i].start)
				memmove(R->out.p + w, R->out.p + b->p[i].start, end - b->p[i].start);
			w += end - b->p[i].start;
			R->res->rows_out++;
		}
	}
	if (b->streaming && b->n)
		R->out.len = w;
	b->n = 0;
	return ob_maybe_flush(&R->out);
}

static int batch_add(struct run *R, struct batch *b, size_t start, uint64_t idx, XXH128_hash_t h)
{
	mfs_dedupe_prefetch(b->dd, h);
	b->p[b->n].start = start;
	b->p[b->n].idx = idx;
	b->p[b->n].h = h;
	if (++b->n == PEND)
		return batch_flush(R, b);
	return 0;
}

static int pass2(struct run *R)
{
	struct batch b = { 0 };
	struct srec sr;
	uint64_t idx = 0;
	int r;
	char why[256];

	b.streaming = 1;
	if (R->steps.dedupe) {
		r = mfs_dedupe_new(R->nkey ? MFS_DEDUPE_LAST : MFS_DEDUPE_FIRST, R->nspilled,
				   mfs_silver_dedupe_budget, R->tmpdir, &b.dd);
		if (r < 0)
			return r;
		b.streaming = mfs_dedupe_streaming(b.dd);
	}
	if ((r = mfs_spill_rewind(R->spill)) < 0)
		goto out;
	while ((r = read_spilled(R, &sr)) == 1) {
		uint64_t my = idx++;
		size_t start;
		int warned = 0;

		if (convert_row(R, why, sizeof(why)) < 0) {
			size_t n;
			const char *raw = raw_text(R, &sr, &n);

			reject(R, sr.line, why, raw, n);
			continue;
		}
		r = check_row(R, &sr, &warned);
		if (r < 0)
			goto out;
		if (warned)
			R->res->warnings++;
		if (r == 1)
			continue;
		if (R->nkey) {
			size_t i, n;

			for (i = 0; i < R->nkey; i++)
				if (R->vals[R->keyidx[i]].is_null)
					break;
			if (i < R->nkey) {
				const char *raw = raw_text(R, &sr, &n);

				reject(R, sr.line, "null key", raw, n);
				continue;
			}
			if ((r = batch_add(R, &b, 0, my, key_hash(R))) < 0)
				goto out;
			continue;
		}
		start = R->out.len;
		format_row(R, &R->out);
		if (R->out.err) {
			r = R->out.err;
			goto out;
		}
		if (b.dd) {
			XXH128_hash_t h = XXH3_128bits(R->out.p + start, R->out.len - start);

			if (!b.streaming)
				R->out.len = start;
			if ((r = batch_add(R, &b, start, my, h)) < 0)
				goto out;
			continue;
		}
		R->res->rows_out++;
		if ((r = ob_maybe_flush(&R->out)) < 0)
			goto out;
	}
	if (r < 0)
		goto out;
	r = 0;
	if (!b.dd)
		goto out;
	if ((r = batch_flush(R, &b)) < 0)
		goto out;
	if (!b.streaming) {
		/* Pass 3: the survivors, in file order. */
		if ((r = mfs_dedupe_finish(b.dd)) < 0)
			goto out;
		if ((r = mfs_spill_rewind(R->spill)) < 0)
			goto out;
		idx = 0;
		while ((r = read_spilled(R, &sr)) == 1) {
			if (!mfs_dedupe_keep(b.dd, idx++))
				continue;
			if (convert_row(R, NULL, 0) < 0) {
				r = -EPROTO;
				goto out;
			}
			format_row(R, &R->out);
			R->res->rows_out++;
			if ((r = ob_maybe_flush(&R->out)) < 0)
				goto out;
		}
		if (r < 0)
			goto out;
		r = 0;
	}
	R->res->duplicates_removed = mfs_dedupe_removed(b.dd);
out:
	mfs_dedupe_free(b.dd);
	return r;
}

/* ---- input ---- */

static int looks_binary(const char *s, size_t n)
{
	size_t i, ctl = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		/* NUL counts as one control character: a few are damage (their
		 * rows are rejected), many are binary data */
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') ||
		    c == 0x7f)
			ctl++;
	}
	return ctl > n / 100 + 1;
}

static int open_input(struct run *R, struct mfs_source *in)
{
	struct borrow_src *b;
	struct mfs_source *s, *t;
	const char *sample = NULL;
	size_t len = 0, i;
	int r, at_eof = 0;
	char first;
	enum mfs_in_format fmt = R->input->format;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->src.read = borrow_read;
	b->src.close = borrow_close;
	b->inner = in;
	s = &b->src;
	if (R->input->codec != MFS_CODEC_NONE) {
		r = mfs_decompress_open(s, R->input->codec, &t);
		if (r < 0)
			goto fail;
		s = t;
	}
	r = peek(&s, &sample, &len, NULL, NULL);
	if (r < 0)
		goto fail;
	r = mfs_decode_open(s, mfs_encoding_detect(sample, len), &t);
	if (r < 0)
		goto fail;
	s = t;
	r = peek(&s, &sample, &len, &at_eof, &R->res->bytes_in);
	if (r < 0)
		goto fail;
	R->text = s;
	if (looks_binary(sample, len)) {
		set_reason(R, "not a table: binary data");
		return -EIO;
	}
	for (i = 0; i < len && is_space((unsigned char)sample[i]); i++)
		;
	if (i == len && at_eof)
		return 1; /* empty */
	first = i < len ? sample[i] : 0;
	if (fmt == MFS_IN_AUTO)
		fmt = first == '{' || first == '[' ? MFS_IN_JSON : MFS_IN_CSV;
	if (fmt == MFS_IN_JSON || fmt == MFS_IN_JSONL) {
		/* .json holding JSON Lines, or .jsonl holding an array: the text decides */
		R->is_json = 1;
		r = mfs_json_reader_new(s, first == '[' ? MFS_JSON_ARRAY : MFS_JSON_LINES,
					&R->reader);
		if (r < 0)
			set_reason(R, "cannot read JSON: %s", mfs_last_error());
		return r;
	}
	{
		struct mfs_csv_dialect d;
		char want = fmt == MFS_IN_TSV ? '\t' : fmt == MFS_IN_PSV ? '|' : 0;

		mfs_clear_error();
		r = mfs_dialect_sniff(sample, len, at_eof, &d);
		while (r == -EAGAIN) {
			/* a quoted field longer than the sample: look further */
			r = peek_more(s, len * 2, &sample, &len, &at_eof);
			if (!r)
				r = mfs_dialect_sniff(sample, len, at_eof, &d);
		}
		if (want && (r < 0 || d.delimiter != want)) {
			memset(&d, 0, sizeof(d));
			d.delimiter = want;
			d.quote = '"';
			d.header = 1;
			r = 0;
		}
		if (r < 0) {
			set_reason(R, "not a table: %s",
				   *mfs_last_error() ? mfs_last_error() : "no consistent CSV dialect");
			return -EIO;
		}
		r = mfs_csv_reader_new(s, &d, &R->reader);
		if (r < 0 && !R->res->reason[0])
			set_reason(R, "cannot read CSV: %s", mfs_last_error());
	}
	return r;
fail:
	mfs_source_close(s);
	return r;
}

/* ---- the whole ---- */

static void run_free(struct run *R)
{
	size_t i;

	mfs_reader_free(R->reader);
	mfs_source_close(R->text);
	for (i = 0; i < R->ncols; i++) {
		free(R->cols[i].name);
		free(R->cols[i].raw);
	}
	free(R->cols);
	free(R->toklen);
	free(R->jmap);
	free(R->slots);
	free(R->slot_gen);
	mfs_spill_close(R->spill);
	mfs_spill_close(R->raw);
	for (i = 0; i < R->nsc; i++) {
		free(R->sc[i].jkey);
		free(R->sc[i].own);
	}
	free(R->sc);
	free(R->keyidx);
	for (i = 0; i < R->nex; i++)
		mfs_expr_free(R->ex[i]);
	free(R->ex);
	if (R->arena)
		mfs_arena_free(R->arena);
	free(R->fv);
	free(R->vals);
	free(R->canon);
	mfs_buf_free(&R->scratch);
	mfs_buf_free(&R->keybuf);
	free(R->out.p);
	free(R->rej.p);
}

int mfs_silver_run(const struct mfs_pipeline *p, const struct mfs_dataset *dataset,
		   const struct mfs_silver_input *input, struct mfs_source *in, struct mfs_sink *out,
		   struct mfs_sink *rejects, const char *tmpdir, struct mfs_silver_result *res)
{
	struct run R;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&R, 0, sizeof(R));
	R.p = p;
	R.ds = dataset;
	R.input = input;
	R.res = res;
	R.steps = dataset ? dataset->steps : p->steps;
	R.decimal_comma = dataset ? dataset->decimal_comma : 0;
	R.date_order = p->date_order;
	R.ofmt = p->format;
	R.tmpdir = tmpdir;
	R.out.sink = out;
	R.rej.sink = rejects;
	ob_put(&R.rej, "line,reason,raw\n", 16);
	r = setup_tokens(&R);
	if (r == 0)
		r = open_input(&R, in);
	if (r < 0)
		goto out;
	if (r == 1) {
		r = 0;
		if ((r = add_hive(&R)) < 0 || (r = build_schema(&R)) < 0)
			goto out;
	} else {
		r = mfs_spill_open(tmpdir, SPILL_BUF, &R.spill);
		if (!r)
			mfs_spill_keep_in_memory(R.spill, SPILL_MEM);
		if (r < 0)
			goto out;
		if (dataset && (dataset->ncolumns || dataset->nexpects ||
				(dataset->nkey && R.steps.dedupe))) {
			r = mfs_spill_open(tmpdir, SPILL_BUF / 4, &R.raw);
			if (r < 0)
				goto out;
		}
		r = pass1(&R);
		if (r < 0) {
			if (!res->reason[0] && *mfs_last_error())
				set_reason(&R, "%s", mfs_last_error());
			goto out;
		}
		if (res->rows_in && R.malformed == res->rows_in) {
			set_reason(&R, "not a table: no record could be read (%s)", R.first_error);
			r = -EIO;
			goto out;
		}
		if ((r = add_hive(&R)) < 0 || (r = build_schema(&R)) < 0)
			goto out;
	}
	if (R.ofmt == MFS_OUT_CSV && R.nsc) {
		size_t j;

		for (j = 0; j < R.nsc; j++) {
			if (j)
				ob_putc(&R.out, ',');
			csv_text(&R.out, R.sc[j].name, strlen(R.sc[j].name));
		}
		ob_putc(&R.out, '\n');
	}
	if ((r = schema_json(&R)) < 0 || (r = bind_expectations(&R)) < 0 ||
	    (r = resolve_keys(&R)) < 0)
		goto out;
	if (R.spill) {
		size_t j;

		R.fv = calloc(R.nfile + 1, sizeof(*R.fv));
		R.vals = calloc(R.nsc + 1, sizeof(*R.vals));
		R.canon = calloc(R.nsc + 1, sizeof(*R.canon));
		if (!R.fv || !R.vals || !R.canon) {
			r = -ENOMEM;
			goto out;
		}
		/* Expectations need every value typed; otherwise canonical text
		 * goes through as it is. */
		for (j = 0; j < R.nsc; j++) {
			R.canon[j].null = 1;
			enum mfs_type t = R.sc[j].ct.type;

			R.sc[j].fast = !R.nex && !R.sc[j].ct.declared &&
				       (t == MFS_T_INT || t == MFS_T_DECIMAL || t == MFS_T_BOOL ||
					t == MFS_T_DATE || t == MFS_T_TIMESTAMP);
		}
		r = pass2(&R);
		if (r < 0)
			goto out;
	}
	if ((r = ob_flush(&R.out)) < 0 || (r = ob_flush(&R.rej)) < 0)
		goto out;
	res->bytes_out = R.out.written;
	if (res->rows_in != res->rows_out + res->rows_rejected + res->duplicates_removed) {
		set_reason(&R,
			   "internal error: rows_in %llu != rows_out %llu + rejected %llu + duplicates %llu",
			   (unsigned long long)res->rows_in, (unsigned long long)res->rows_out,
			   (unsigned long long)res->rows_rejected,
			   (unsigned long long)res->duplicates_removed);
		r = -EPROTO;
	}
out:
	if (r < 0 && !res->reason[0] && *mfs_last_error())
		snprintf(res->reason, sizeof(res->reason), "%s", mfs_last_error());
	run_free(&R);
	return r;
}

void mfs_silver_result_free(struct mfs_silver_result *res)
{
	if (!res)
		return;
	free(res->schema_json);
	res->schema_json = NULL;
}
