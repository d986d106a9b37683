/*
 * expr.c - the expression language of expectations and of gold's SQL
 * (SPEC §5): lexer, recursive-descent parser, binder (names and DuckDB's
 * typing rules) and evaluator with three-valued NULL logic.
 *
 * A tree is parsed once, bound against a schema (which may change per file:
 * binding again resets what an earlier binding set) and evaluated per row.
 * Evaluation allocates only from the caller's arena. Every node's result has
 * the type the binder gave it; the evaluator converts where the binder
 * decided so (an INT branch of a DECIMAL CASE, a date against a timestamp).
 *
 * Depth is bounded (MFS_EXPR_MAX_DEPTH) at parse time, so that binding,
 * evaluating and freeing, which recurse, have a bounded stack.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/err.h"
#include "expr_i.h"

typedef __int128 i128;

/* ---- small helpers ---- */

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_ident_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static int is_ident_char(int c)
{
	return is_ident_start(c) || is_digit(c);
}

static int lower_ascii(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ieq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b), i;

	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++)
		if (lower_ascii((unsigned char)a[i]) != lower_ascii((unsigned char)b[i]))
			return 0;
	return 1;
}

/* Bytes of the UTF-8 sequence starting at @s (1 for a stray byte), at most @n. */
static size_t cp_len(const char *s, size_t n)
{
	unsigned char c = (unsigned char)s[0];
	size_t l = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;

	return l > n ? n : l;
}

static i128 pow10_i128(int n)
{
	i128 v = 1;

	while (n-- > 0)
		v *= 10;
	return v;
}

/* DuckDB's decimals hold at most 38 digits. */
static int dec_fits(i128 v)
{
	static const i128 lim = (i128)10000000000000000000ULL * (i128)10000000000000000000ULL;

	return v < lim && v > -lim;
}

static void set_msg(struct mfs_expr_error *err, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_msg(struct mfs_expr_error *err, int line, int col, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->line = line;
	err->col = col;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* ---- the arena ---- */

struct arena_chunk {
	struct arena_chunk *next;
	size_t size, used;
	max_align_t data[];
};

struct mfs_arena {
	struct arena_chunk *head; /* the newest, largest chunk */
};

#define ARENA_MIN_CHUNK 8192
#define ARENA_KEEP_MAX (4u << 20)

struct mfs_arena *mfs_arena_new(void)
{
	return calloc(1, sizeof(struct mfs_arena));
}

void *mfs_arena_alloc(struct mfs_arena *a, size_t n)
{
	struct arena_chunk *c = a->head;
	size_t need, size;
	void *p;

	if (n > SIZE_MAX / 2)
		return NULL;
	need = (n + 15) & ~(size_t)15;
	if (!need)
		need = 16;
	if (!c || c->size - c->used < need) {
		size = c && c->size < SIZE_MAX / 4 ? c->size * 2 : ARENA_MIN_CHUNK;
		while (size < need)
			size *= 2;
		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	p = (char *)c->data + c->used;
	c->used += need;
	return p;
}

void mfs_arena_reset(struct mfs_arena *a)
{
	struct arena_chunk *c, *next;

	if (!a || !a->head)
		return;
	/* Keep the largest chunk so that steady state is one chunk and no malloc. */
	for (c = a->head->next; c; c = next) {
		next = c->next;
		free(c);
	}
	a->head->next = NULL;
	a->head->used = 0;
	if (a->head->size > ARENA_KEEP_MAX) {
		free(a->head);
		a->head = NULL;
	}
}

void mfs_arena_free(struct mfs_arena *a)
{
	struct arena_chunk *c, *next;

	if (!a)
		return;
	for (c = a->head; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

/* ---- calendar (proleptic Gregorian; H. Hinnant's algorithms) ---- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

#define US_PER_DAY INT64_C(86400000000)

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Read up to @max digits (at least @min) at *@i. */
static int read_digits(const char *s, size_t n, size_t *i, int min, int max, int64_t *out)
{
	int k = 0;
	int64_t v = 0;

	while (*i < n && is_digit(s[*i]) && k < max) {
		v = v * 10 + (s[*i] - '0');
		(*i)++;
		k++;
	}
	*out = v;
	return k >= min && !(*i < n && is_digit(s[*i]));
}

/* YYYY-MM-DD at *@i (month and day may have one digit). */
static int scan_date(const char *s, size_t n, size_t *i, int32_t *days)
{
	int64_t y, m, d;

	if (!read_digits(s, n, i, 4, 4, &y) || *i >= n || s[*i] != '-')
		return 0;
	(*i)++;
	if (!read_digits(s, n, i, 1, 2, &m) || *i >= n || s[*i] != '-')
		return 0;
	(*i)++;
	if (!read_digits(s, n, i, 1, 2, &d))
		return 0;
	if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, (int)m))
		return 0;
	*days = (int32_t)days_from_civil(y, (int)m, (int)d);
	return 1;
}

static void trim_span(const char **s, size_t *n)
{
	while (*n && is_space((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_space((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

static int parse_date(const char *s, size_t n, int32_t *days)
{
	size_t i = 0;

	trim_span(&s, &n);
	return scan_date(s, n, &i, days) && i == n;
}

/*
 * YYYY-MM-DD[( |T)HH:MM[:SS[.f...]]][ ][Z|(+|-)HH[[:]MM]]. With a zone the
 * value is converted to UTC and flagged so.
 */
static int parse_timestamp(const char *s, size_t n, int64_t *us, int *utc)
{
	size_t i = 0;
	int32_t days;
	int64_t h = 0, mi = 0, sec = 0, frac = 0, oh = 0, om = 0;
	int fd = 0, sign;

	trim_span(&s, &n);
	*utc = 0;
	if (!scan_date(s, n, &i, &days))
		return 0;
	if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
		i++;
		if (!read_digits(s, n, &i, 1, 2, &h) || i >= n || s[i] != ':')
			return 0;
		i++;
		if (!read_digits(s, n, &i, 2, 2, &mi))
			return 0;
		if (i < n && s[i] == ':') {
			i++;
			if (!read_digits(s, n, &i, 2, 2, &sec))
				return 0;
			if (i < n && s[i] == '.') {
				i++;
				if (i >= n || !is_digit(s[i]))
					return 0;
				while (i < n && is_digit(s[i])) {
					if (fd < 6) {
						frac = frac * 10 + (s[i] - '0');
						fd++;
					}
					i++;
				}
				while (fd < 6) {
					frac *= 10;
					fd++;
				}
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			return 0;
		if (i < n && s[i] == ' ')
			i++;
		if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
			i++;
			*utc = 1;
		} else if (i < n && (s[i] == '+' || s[i] == '-')) {
			sign = s[i] == '-' ? -1 : 1;
			i++;
			if (!read_digits(s, n, &i, 2, 2, &oh))
				return 0;
			if (i < n && s[i] == ':')
				i++;
			if (i < n && is_digit(s[i]) && !read_digits(s, n, &i, 2, 2, &om))
				return 0;
			if (oh > 18 || om > 59)
				return 0;
			*utc = 1;
			/* local = utc + offset, so utc = local - offset */
			h -= sign * oh;
			mi -= sign * om;
		}
	}
	if (i != n)
		return 0;
	*us = (int64_t)days * US_PER_DAY + ((h * 60 + mi) * 60 + sec) * INT64_C(1000000) + frac;
	return 1;
}

/* ---- numbers as text ---- */

/* An int128 in decimal into @buf (at least 42 bytes); returns the length. */
static size_t i128_to_str(i128 v, char *buf)
{
	char tmp[48];
	size_t n = 0, k = 0;
	unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;

	do {
		tmp[n++] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u);
	if (v < 0)
		buf[k++] = '-';
	while (n)
		buf[k++] = tmp[--n];
	buf[k] = '\0';
	return k;
}

static size_t dec_to_str(i128 v, int scale, char *buf)
{
	char digits[48];
	size_t n, k = 0, i;
	int neg = v < 0;

	n = i128_to_str(v, digits);
	if (scale <= 0)
		return n < 48 ? (memcpy(buf, digits, n + 1), n) : 0;
	{
		const char *d = digits + neg;
		size_t dn = n - (size_t)neg;

		if (neg)
			buf[k++] = '-';
		if (dn <= (size_t)scale) {
			buf[k++] = '0';
			buf[k++] = '.';
			for (i = dn; i < (size_t)scale; i++)
				buf[k++] = '0';
			memcpy(buf + k, d, dn);
			k += dn;
		} else {
			memcpy(buf + k, d, dn - (size_t)scale);
			k += dn - (size_t)scale;
			buf[k++] = '.';
			memcpy(buf + k, d + dn - (size_t)scale, (size_t)scale);
			k += (size_t)scale;
		}
	}
	buf[k] = '\0';
	return k;
}

/* The shortest text (at most 17 significant digits) that reads back as @d;
 * a whole number keeps a ".0" so it reads as a double, as DuckDB prints. */
static size_t double_to_str(double d, char *buf, size_t len)
{
	int p, n = 0;

	if (isnan(d))
		return (size_t)snprintf(buf, len, signbit(d) ? "-nan" : "nan");
	if (isinf(d))
		return (size_t)snprintf(buf, len, d < 0 ? "-inf" : "inf");
	for (p = 15; p <= 17; p++) {
		n = snprintf(buf, len, "%.*g", p, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (n > 0 && !strpbrk(buf, ".e") && (size_t)n + 2 < len) {
		buf[n++] = '.';
		buf[n++] = '0';
		buf[n] = '\0';
	}
	return (size_t)n;
}

static size_t date_to_str(int32_t days, char *buf, size_t len)
{
	int64_t y;
	int m, d;

	civil_from_days(days, &y, &m, &d);
	return (size_t)snprintf(buf, len, "%04lld-%02d-%02d", (long long)y, m, d);
}

/* As DuckDB casts a TIMESTAMP to VARCHAR: "2024-03-05 10:11:12.25", no zone
 * (silver's files write ISO 8601 with T and Z; that is value.c's business). */
static size_t ts_to_str(int64_t us, char *buf, size_t len)
{
	int64_t days = floor_div(us, US_PER_DAY), rem = us - days * US_PER_DAY;
	int64_t secs = rem / 1000000, frac = rem % 1000000;
	size_t n = date_to_str((int32_t)days, buf, len);
	int digits = 6;

	n += (size_t)snprintf(buf + n, len - n, " %02d:%02d:%02d", (int)(secs / 3600),
			      (int)(secs / 60 % 60), (int)(secs % 60));
	if (frac) {
		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		n += (size_t)snprintf(buf + n, len - n, ".%0*lld", digits, (long long)frac);
	}
	return n;
}

/*
 * A number as written: [sign] digits [. digits] [e [sign] digits], white
 * space around allowed. INT when it fits, DECIMAL (scale = digits after the
 * point) when it has at most 38 digits and scale 18, DOUBLE otherwise.
 */
static int parse_number(const char *s, size_t n, struct mfs_value *out)
{
	size_t i = 0, start;
	int neg = 0, ndig = 0, scale = 0, has_point = 0, has_exp = 0, lead = 1;
	i128 v = 0;
	char tmp[128], *buf;

	trim_span(&s, &n);
	if (i < n && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';
	start = i;
	for (; i < n; i++) {
		if (is_digit(s[i])) {
			if (lead && s[i] == '0' && !has_point)
				continue;
			lead = 0;
			if (ndig < 38)
				v = v * 10 + (s[i] - '0');
			ndig++;
			if (has_point)
				scale++;
		} else if (s[i] == '.' && !has_point) {
			has_point = 1;
			lead = 0;
		} else {
			break;
		}
	}
	if (i == start || (i == start + 1 && has_point))
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t j = i + 1;

		if (j < n && (s[j] == '+' || s[j] == '-'))
			j++;
		if (j >= n || !is_digit(s[j]))
			return 0;
		while (j < n && is_digit(s[j]))
			j++;
		has_exp = 1;
		i = j;
	}
	if (i != n)
		return 0;
	out->is_null = 0;
	if (has_exp || ndig > 38 || scale > MFS_DEC_MAX_SCALE) {
		buf = n < sizeof(tmp) ? tmp : malloc(n + 1);
		if (!buf)
			return 0;
		memcpy(buf, s, n);
		buf[n] = '\0';
		out->type = MFS_T_DOUBLE;
		out->u.d = strtod(buf, NULL);
		if (buf != tmp)
			free(buf);
		return !isinf(out->u.d);
	}
	if (neg)
		v = -v;
	if (!has_point && v >= INT64_MIN && v <= INT64_MAX) {
		out->type = MFS_T_INT;
		out->u.i = (int64_t)v;
		return 1;
	}
	out->type = MFS_T_DECIMAL;
	out->u.dec.v = v;
	out->u.dec.scale = scale;
	return 1;
}

/* ---- type names ---- */

const char *mfs_expr_type_name(enum mfs_type t, int scale, char *buf, size_t len)
{
	switch (t) {
	case MFS_T_NULL:
		return "NULL";
	case MFS_T_BOOL:
		return "BOOLEAN";
	case MFS_T_INT:
		return "BIGINT";
	case MFS_T_DECIMAL:
		snprintf(buf, len, "DECIMAL(%d,%d)", scale > 18 ? 38 : 18, scale);
		return buf;
	case MFS_T_DOUBLE:
		return "DOUBLE";
	case MFS_T_DATE:
		return "DATE";
	case MFS_T_TIMESTAMP:
		return "TIMESTAMP";
	case MFS_T_STRING:
		return "VARCHAR";
	}
	return "?";
}

static int is_numeric(enum mfs_type t)
{
	return t == MFS_T_INT || t == MFS_T_DECIMAL || t == MFS_T_DOUBLE;
}

/* ---- the lexer ---- */

static void lex_fail(struct mfs_lexer *lx, size_t at, struct mfs_expr_error *err,
		     const char *what)
{
	set_msg(err, lx->line, (int)(at - lx->line_start) + 1, "%s", what);
}

int mfs_lex_next(struct mfs_lexer *lx, struct mfs_expr_error *err)
{
	const char *s = lx->text;
	size_t n = lx->len, i = lx->pos, j;
	struct mfs_token *t = &lx->tok;
	unsigned char c;

	for (;;) {
		while (i < n && is_space((unsigned char)s[i])) {
			if (s[i] == '\n') {
				lx->line++;
				lx->line_start = i + 1;
			}
			i++;
		}
		if (i + 1 < n && s[i] == '-' && s[i + 1] == '-') {
			while (i < n && s[i] != '\n')
				i++;
			continue;
		}
		if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
			int l0 = lx->line;
			size_t c0 = i - lx->line_start;

			for (i += 2; i + 1 < n && !(s[i] == '*' && s[i + 1] == '/'); i++) {
				if (s[i] == '\n') {
					lx->line++;
					lx->line_start = i + 1;
				}
			}
			if (i + 1 >= n) {
				set_msg(err, l0, (int)c0 + 1, "unterminated comment");
				return -EINVAL;
			}
			i += 2;
			continue;
		}
		break;
	}
	t->off = i;
	t->p = s + i;
	t->line = lx->line;
	t->col = (int)(i - lx->line_start) + 1;
	t->len = 0;
	if (i >= n) {
		t->kind = MFS_TOK_EOF;
		lx->pos = i;
		return 0;
	}
	c = (unsigned char)s[i];
	if (c == '\'' || c == '"') {
		for (j = i + 1;; j++) {
			if (j >= n) {
				lex_fail(lx, i, err, c == '\'' ? "unterminated string"
							    : "unterminated quoted identifier");
				/* the lexer's line may have moved; report the opening quote */
				if (err) {
					err->line = t->line;
					err->col = t->col;
				}
				return -EINVAL;
			}
			if (s[j] == '\0') {
				lex_fail(lx, j, err, "NUL byte in the text");
				return -EINVAL;
			}
			if (s[j] == '\n') {
				lx->line++;
				lx->line_start = j + 1;
			} else if ((unsigned char)s[j] == c) {
				if (j + 1 < n && (unsigned char)s[j + 1] == c) {
					j++;
					continue;
				}
				break;
			}
		}
		t->kind = c == '\'' ? MFS_TOK_STRING : MFS_TOK_QIDENT;
		t->len = j + 1 - i;
		lx->pos = j + 1;
		return 0;
	}
	if (is_digit(c) || (c == '.' && i + 1 < n && is_digit(s[i + 1]))) {
		t->kind = MFS_TOK_INT;
		for (j = i; j < n && is_digit(s[j]); j++)
			;
		if (j < n && s[j] == '.') {
			t->kind = MFS_TOK_DEC;
			for (j++; j < n && is_digit(s[j]); j++)
				;
		}
		if (j < n && (s[j] == 'e' || s[j] == 'E')) {
			size_t k = j + 1;

			if (k < n && (s[k] == '+' || s[k] == '-'))
				k++;
			if (k < n && is_digit(s[k])) {
				while (k < n && is_digit(s[k]))
					k++;
				j = k;
				t->kind = MFS_TOK_DOUBLE;
			}
		}
		if (j < n && (is_ident_char((unsigned char)s[j]) || s[j] == '.')) {
			lex_fail(lx, i, err, "malformed number");
			return -EINVAL;
		}
		t->len = j - i;
		lx->pos = j;
		return 0;
	}
	if (is_ident_start(c)) {
		for (j = i; j < n && is_ident_char((unsigned char)s[j]); j++)
			;
		t->kind = MFS_TOK_IDENT;
		t->len = j - i;
		lx->pos = j;
		return 0;
	}
	t->kind = MFS_TOK_OP;
	if (i + 1 < n) {
		static const char *const two[] = { "||", "<=", ">=", "<>", "!=", "==", "::" };
		size_t k;

		for (k = 0; k < sizeof(two) / sizeof(two[0]); k++) {
			if (s[i] == two[k][0] && s[i + 1] == two[k][1]) {
				t->len = 2;
				lx->pos = i + 2;
				return 0;
			}
		}
	}
	if (strchr("+-*/%=<>(),.;", c) && c) {
		t->len = 1;
		lx->pos = i + 1;
		return 0;
	}
	if (c >= 0x20 && c < 0x7f) {
		char m[40];

		snprintf(m, sizeof(m), "unexpected character '%c'", c);
		lex_fail(lx, i, err, m);
	} else {
		char m[40];

		snprintf(m, sizeof(m), "unexpected byte 0x%02x", c);
		lex_fail(lx, i, err, m);
	}
	return -EINVAL;
}

int mfs_lex_init(struct mfs_lexer *lx, const char *text, size_t len, struct mfs_expr_error *err)
{
	memset(lx, 0, sizeof(*lx));
	lx->text = text;
	lx->len = len;
	lx->line = 1;
	return mfs_lex_next(lx, err);
}

int mfs_tok_is_kw(const struct mfs_token *t, const char *kw)
{
	return t->kind == MFS_TOK_IDENT && ieq(t->p, t->len, kw);
}

int mfs_tok_is_op(const struct mfs_token *t, const char *op)
{
	return t->kind == MFS_TOK_OP && t->len == strlen(op) && !memcmp(t->p, op, t->len);
}

static const char *const reserved_words[] = {
	"and", "or", "not", "is", "null", "in", "like", "ilike", "between", "case", "when",
	"then", "else", "end", "cast", "try_cast", "as", "true", "false", "distinct", "escape",
	"select", "from", "where", "group", "by", "order", "having", "limit", "join", "on",
	"asc", "desc", "union", "all",
};

int mfs_expr_is_reserved(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(reserved_words) / sizeof(reserved_words[0]); i++)
		if (ieq(p, len, reserved_words[i]))
			return 1;
	return 0;
}

/* ---- the tree ---- */

struct parser {
	struct mfs_lexer *lx;
	struct mfs_expr_error *err;
	int nest;
};

#define TOK (&P->lx->tok)

static struct mfs_expr *node_new(enum mfs_expr_kind kind, const struct mfs_token *t)
{
	struct mfs_expr *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->kind = kind;
	e->line = t->line;
	e->col = t->col;
	e->off = t->off;
	e->end = t->off + t->len;
	e->depth = 1;
	e->index = -1;
	return e;
}

void mfs_expr_free(struct mfs_expr *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; i < e->nkids; i++)
		mfs_expr_free(e->kids[i]);
	free(e->kids);
	free(e->str);
	free(e->name);
	free(e);
}

static int nomem(struct parser *P)
{
	set_msg(P->err, TOK->line, TOK->col, "out of memory");
	return -ENOMEM;
}

static int too_deep(struct parser *P)
{
	set_msg(P->err, TOK->line, TOK->col, "expression nested too deeply (more than %d levels)",
		MFS_EXPR_MAX_DEPTH);
	return -EINVAL;
}

/* Attach @k to @e; @k belongs to @e even when this fails. */
static int add_kid(struct parser *P, struct mfs_expr *e, struct mfs_expr *k)
{
	struct mfs_expr **kids;

	if ((e->nkids & (e->nkids - 1)) == 0) {
		kids = realloc(e->kids, (e->nkids ? e->nkids * 2 : 1) * sizeof(*kids));
		if (!kids) {
			mfs_expr_free(k);
			return nomem(P);
		}
		e->kids = kids;
	}
	e->kids[e->nkids++] = k;
	if (k->depth + 1 > e->depth)
		e->depth = k->depth + 1;
	if (k->off < e->off)
		e->off = k->off;
	if (k->end > e->end)
		e->end = k->end;
	if (e->depth > MFS_EXPR_MAX_DEPTH)
		return too_deep(P);
	return 0;
}

static int advance(struct parser *P)
{
	return mfs_lex_next(P->lx, P->err);
}

/* The token after the current one (a lexical error there reads as EOF: it
 * is reported when the parser gets there). */
static void peek_next(struct parser *P, struct mfs_token *out)
{
	struct mfs_lexer copy = *P->lx;

	if (mfs_lex_next(&copy, NULL))
		copy.tok.kind = MFS_TOK_EOF;
	*out = copy.tok;
}

static int syntax_error(struct parser *P, const struct mfs_token *t, const char *expected)
{
	char what[64];
	size_t n = t->len > 40 ? 40 : t->len, i;

	if (t->kind == MFS_TOK_EOF) {
		snprintf(what, sizeof(what), "end of expression");
	} else {
		for (i = 0; i < n && t->p[i] != '\n'; i++)
			;
		snprintf(what, sizeof(what), "'%.*s%s'", (int)i, t->p, i < t->len ? "..." : "");
	}
	set_msg(P->err, t->line, t->col, "unexpected %s%s%s", what, expected ? ", expected " : "",
		expected ? expected : "");
	return -EINVAL;
}

static int expect_op(struct parser *P, const char *op, const char *expected)
{
	if (!mfs_tok_is_op(TOK, op))
		return syntax_error(P, TOK, expected);
	return advance(P);
}

static int expect_kw(struct parser *P, const char *kw, const char *expected)
{
	if (!mfs_tok_is_kw(TOK, kw))
		return syntax_error(P, TOK, expected);
	return advance(P);
}

/* The text of a quoted token with its quotes removed and doubled quotes
 * undoubled; malloc'd. */
static char *unquote(const struct mfs_token *t, size_t *len)
{
	char q = t->p[0], *out = malloc(t->len);
	size_t i, k = 0;

	if (!out)
		return NULL;
	for (i = 1; i + 1 < t->len; i++) {
		out[k++] = t->p[i];
		if (t->p[i] == q)
			i++;
	}
	out[k] = '\0';
	*len = k;
	return out;
}

/* Binary node of @l and @r at @at; consumes both, even on failure. */
static int binary(struct parser *P, enum mfs_expr_kind kind, int op, const struct mfs_token *at,
		  struct mfs_expr *l, struct mfs_expr *r, struct mfs_expr **out)
{
	struct mfs_expr *e = node_new(kind, at);
	int rc;

	*out = NULL;
	if (!e) {
		mfs_expr_free(l);
		mfs_expr_free(r);
		return nomem(P);
	}
	e->op = op;
	rc = add_kid(P, e, l);
	if (rc) {
		mfs_expr_free(r);
		goto out;
	}
	rc = add_kid(P, e, r);
out:
	if (rc)
		mfs_expr_free(e);
	else
		*out = e;
	return rc;
}

static int unary(struct parser *P, enum mfs_expr_kind kind, const struct mfs_token *at,
		 struct mfs_expr *k, struct mfs_expr **out)
{
	struct mfs_expr *e = node_new(kind, at);
	int rc;

	*out = NULL;
	if (!e) {
		mfs_expr_free(k);
		return nomem(P);
	}
	rc = add_kid(P, e, k);
	if (rc)
		mfs_expr_free(e);
	else
		*out = e;
	return rc;
}

static int parse_or(struct parser *P, struct mfs_expr **out);
static int parse_concat(struct parser *P, struct mfs_expr **out);
static int parse_unary(struct parser *P, struct mfs_expr **out);

/* ---- type names ---- */

static const char *type_lookup(const char *p, size_t n, int nparam, long a, long b,
			       enum mfs_type *t, int *scale)
{
	static const char *const ints[] = { "integer", "int", "bigint", "int8", "int4", "int64",
					    "long", "smallint", "tinyint" };
	static const char *const doubles[] = { "double", "float", "float8", "real", "float4" };
	static const char *const strings[] = { "string", "text", "varchar", "char", "bpchar" };
	size_t i;

	*scale = 0;
	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		if (ieq(p, n, ints[i])) {
			*t = MFS_T_INT;
			return nparam ? "integer types take no parameters" : NULL;
		}
	for (i = 0; i < sizeof(doubles) / sizeof(doubles[0]); i++)
		if (ieq(p, n, doubles[i])) {
			*t = MFS_T_DOUBLE;
			return nparam ? "floating-point types take no parameters" : NULL;
		}
	for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		if (ieq(p, n, strings[i])) {
			*t = MFS_T_STRING;
			return nparam > 1 ? "string types take at most one parameter" : NULL;
		}
	if (ieq(p, n, "decimal") || ieq(p, n, "numeric")) {
		*t = MFS_T_DECIMAL;
		if (nparam == 0) {
			*scale = 3; /* DuckDB's DECIMAL(18,3) */
			return NULL;
		}
		if (a < 1 || a > 38)
			return "decimal precision must be between 1 and 38";
		if (nparam == 1)
			return NULL;
		if (b < 0 || b > a)
			return "decimal scale must be between 0 and the precision";
		if (b > MFS_DEC_MAX_SCALE)
			return "decimal scale above 18 is not supported";
		*scale = (int)b;
		return NULL;
	}
	if (ieq(p, n, "boolean") || ieq(p, n, "bool") || ieq(p, n, "logical"))
		*t = MFS_T_BOOL;
	else if (ieq(p, n, "date"))
		*t = MFS_T_DATE;
	else if (ieq(p, n, "timestamp") || ieq(p, n, "datetime"))
		*t = MFS_T_TIMESTAMP;
	else
		return "unknown type";
	return nparam ? "this type takes no parameters" : NULL;
}

/* NAME [ ( INT [, INT] ) ] at the current token. */
static int parse_type_tokens(struct parser *P, enum mfs_type *t, int *scale)
{
	struct mfs_token name = *TOK;
	long params[2] = { 0, 0 };
	int nparam = 0, rc;
	size_t i;
	const char *why;

	if (name.kind != MFS_TOK_IDENT)
		return syntax_error(P, TOK, "a type name");
	rc = advance(P);
	if (rc)
		return rc;
	if (mfs_tok_is_op(TOK, "(")) {
		do {
			rc = advance(P);
			if (rc)
				return rc;
			if (TOK->kind != MFS_TOK_INT || nparam == 2)
				return syntax_error(P, TOK, "an integer");
			params[nparam] = 0;
			for (i = 0; i < TOK->len && params[nparam] < 1000000000L; i++)
				params[nparam] = params[nparam] * 10 + (TOK->p[i] - '0');
			nparam++;
			rc = advance(P);
			if (rc)
				return rc;
		} while (mfs_tok_is_op(TOK, ","));
		rc = expect_op(P, ")", "')'");
		if (rc)
			return rc;
	}
	why = type_lookup(name.p, name.len, nparam, params[0], params[1], t, scale);
	if (why) {
		set_msg(P->err, name.line, name.col, "%s: '%.*s'", why,
			(int)(name.len > 40 ? 40 : name.len), name.p);
		return -EINVAL;
	}
	return 0;
}

int mfs_expr_parse_type(const char *text, size_t len, enum mfs_type *type, int *scale,
			struct mfs_expr_error *err)
{
	struct mfs_lexer lx;
	struct parser P = { &lx, err, 0 };
	int rc;

	rc = mfs_lex_init(&lx, text, len, err);
	if (rc)
		return rc;
	rc = parse_type_tokens(&P, type, scale);
	if (!rc && lx.tok.kind != MFS_TOK_EOF)
		rc = syntax_error(&P, &lx.tok, NULL);
	return rc;
}

/* ---- primaries ---- */

static const struct fn_def {
	const char *name;
	int id;
	int agg;
	int min, max; /* arguments */
} fn_defs[] = {
	{ "lower", MFS_FN_LOWER, 0, 1, 1 },
	{ "upper", MFS_FN_UPPER, 0, 1, 1 },
	{ "trim", MFS_FN_TRIM, 0, 1, 2 },
	{ "length", MFS_FN_LENGTH, 0, 1, 1 },
	{ "coalesce", MFS_FN_COALESCE, 0, 1, INT_MAX },
	{ "round", MFS_FN_ROUND, 0, 1, 2 },
	{ "abs", MFS_FN_ABS, 0, 1, 1 },
	{ "substr", MFS_FN_SUBSTR, 0, 2, 3 },
	{ "substring", MFS_FN_SUBSTR, 0, 2, 3 },
	{ "date_trunc", MFS_FN_DATE_TRUNC, 0, 2, 2 },
	{ "year", MFS_FN_YEAR, 0, 1, 1 },
	{ "month", MFS_FN_MONTH, 0, 1, 1 },
	{ "day", MFS_FN_DAY, 0, 1, 1 },
	{ "count", MFS_AGG_COUNT, 1, 1, 1 },
	{ "sum", MFS_AGG_SUM, 1, 1, 1 },
	{ "avg", MFS_AGG_AVG, 1, 1, 1 },
	{ "min", MFS_AGG_MIN, 1, 1, 1 },
	{ "max", MFS_AGG_MAX, 1, 1, 1 },
};

/* "sum()": a function's name as messages show it. */
static const char *fn_name(const struct mfs_expr *e)
{
	static const char *const names[] = { "lower()", "upper()", "trim()", "length()",
					     "coalesce()", "round()", "abs()", "substr()",
					     "date_trunc()", "year()", "month()", "day()" };
	static const char *const aggs[] = { "count()", "count()", "sum()",
					    "avg()", "min()", "max()" };

	if (e->kind == MFS_E_AGG)
		return e->op >= 0 && e->op <= MFS_AGG_MAX ? aggs[e->op] : "?";
	return e->op >= 0 && e->op <= MFS_FN_DAY ? names[e->op] : "?";
}

static int parse_call(struct parser *P, struct mfs_expr **out)
{
	struct mfs_token name = *TOK;
	const struct fn_def *def = NULL;
	struct mfs_expr *e = NULL, *k;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(fn_defs) / sizeof(fn_defs[0]); i++)
		if (ieq(name.p, name.len, fn_defs[i].name))
			def = &fn_defs[i];
	if (!def) {
		set_msg(P->err, name.line, name.col, "unknown function %.*s()",
			(int)(name.len > 40 ? 40 : name.len), name.p);
		return -EINVAL;
	}
	e = node_new(def->agg ? MFS_E_AGG : MFS_E_CALL, &name);
	if (!e)
		return nomem(P);
	e->op = def->id;
	rc = advance(P); /* the name */
	if (!rc)
		rc = advance(P); /* ( */
	if (rc)
		goto out;
	if (def->agg && mfs_tok_is_kw(TOK, "distinct")) {
		e->distinct = 1;
		rc = advance(P);
		if (rc)
			goto out;
	}
	if (def->id == MFS_AGG_COUNT && def->agg && !e->distinct && mfs_tok_is_op(TOK, "*")) {
		e->op = MFS_AGG_COUNT_STAR;
		rc = advance(P);
		if (rc)
			goto out;
	} else if (!mfs_tok_is_op(TOK, ")")) {
		for (;;) {
			rc = parse_or(P, &k);
			if (!rc)
				rc = add_kid(P, e, k);
			if (rc)
				goto out;
			if (!mfs_tok_is_op(TOK, ","))
				break;
			rc = advance(P);
			if (rc)
				goto out;
		}
	}
	if (!mfs_tok_is_op(TOK, ")")) {
		rc = syntax_error(P, TOK, "')'");
		goto out;
	}
	e->end = TOK->off + TOK->len;
	rc = advance(P);
	if (rc)
		goto out;
	if (!(def->agg && e->op == MFS_AGG_COUNT_STAR) &&
	    (e->nkids < (size_t)def->min || e->nkids > (size_t)def->max)) {
		if (def->max == INT_MAX)
			set_msg(P->err, name.line, name.col, "%s() needs at least %d argument%s",
				def->name, def->min, def->min == 1 ? "" : "s");
		else if (def->min == def->max)
			set_msg(P->err, name.line, name.col, "%s() takes %d argument%s", def->name,
				def->min, def->min == 1 ? "" : "s");
		else
			set_msg(P->err, name.line, name.col, "%s() takes %d or %d arguments",
				def->name, def->min, def->max);
		rc = -EINVAL;
	}
out:
	if (rc)
		mfs_expr_free(e);
	else
		*out = e;
	return rc;
}

static int parse_case(struct parser *P, struct mfs_expr **out)
{
	struct mfs_expr *e = node_new(MFS_E_CASE, TOK), *k;
	int rc, whens = 0;

	if (!e)
		return nomem(P);
	rc = advance(P);
	if (rc)
		goto out;
	if (!mfs_tok_is_kw(TOK, "when")) {
		rc = parse_or(P, &k);
		if (!rc)
			rc = add_kid(P, e, k);
		if (rc)
			goto out;
		e->has_operand = 1;
	}
	while (mfs_tok_is_kw(TOK, "when")) {
		rc = advance(P);
		if (!rc)
			rc = parse_or(P, &k);
		if (!rc)
			rc = add_kid(P, e, k);
		if (!rc)
			rc = expect_kw(P, "then", "THEN");
		if (!rc)
			rc = parse_or(P, &k);
		if (!rc)
			rc = add_kid(P, e, k);
		if (rc)
			goto out;
		whens++;
	}
	if (!whens) {
		rc = syntax_error(P, TOK, "WHEN");
		goto out;
	}
	if (mfs_tok_is_kw(TOK, "else")) {
		rc = advance(P);
		if (!rc)
			rc = parse_or(P, &k);
		if (!rc)
			rc = add_kid(P, e, k);
		if (rc)
			goto out;
		e->has_else = 1;
	}
	if (!mfs_tok_is_kw(TOK, "end")) {
		rc = syntax_error(P, TOK, whens && !e->has_else ? "WHEN, ELSE or END" : "END");
		goto out;
	}
	e->end = TOK->off + TOK->len;
	rc = advance(P);
out:
	if (rc)
		mfs_expr_free(e);
	else
		*out = e;
	return rc;
}

/* CAST ( expr AS type ) and TRY_CAST */
static int parse_cast(struct parser *P, struct mfs_expr **out)
{
	struct mfs_expr *e = node_new(MFS_E_CAST, TOK), *k;
	int rc;

	if (!e)
		return nomem(P);
	e->op = mfs_tok_is_kw(TOK, "try_cast");
	rc = advance(P);
	if (!rc)
		rc = expect_op(P, "(", "'('");
	if (!rc)
		rc = parse_or(P, &k);
	if (!rc)
		rc = add_kid(P, e, k);
	if (!rc)
		rc = expect_kw(P, "as", "AS");
	if (!rc)
		rc = parse_type_tokens(P, &e->cast_type, &e->cast_scale);
	if (!rc && !mfs_tok_is_op(TOK, ")"))
		rc = syntax_error(P, TOK, "')'");
	if (!rc) {
		e->end = TOK->off + TOK->len;
		rc = advance(P);
	}
	if (rc)
		mfs_expr_free(e);
	else
		*out = e;
	return rc;
}

static int parse_column(struct parser *P, struct mfs_expr **out)
{
	struct mfs_token first = *TOK;
	struct mfs_expr *e = node_new(MFS_E_COLUMN, TOK);
	char *a = NULL, *b = NULL;
	size_t alen, blen = 0;
	int rc;

	if (!e)
		return nomem(P);
	if (first.kind == MFS_TOK_QIDENT) {
		a = unquote(&first, &alen);
	} else {
		a = strndup(first.p, first.len);
		alen = first.len;
	}
	if (!a) {
		rc = nomem(P);
		goto out;
	}
	rc = advance(P);
	if (rc)
		goto out;
	if (mfs_tok_is_op(TOK, ".")) {
		rc = advance(P);
		if (rc)
			goto out;
		if (TOK->kind == MFS_TOK_QIDENT) {
			b = unquote(TOK, &blen);
		} else if (TOK->kind == MFS_TOK_IDENT) {
			b = strndup(TOK->p, TOK->len);
			blen = TOK->len;
		} else {
			rc = syntax_error(P, TOK, "a column name");
			goto out;
		}
		if (!b) {
			rc = nomem(P);
			goto out;
		}
		e->end = TOK->off + TOK->len;
		rc = advance(P);
		if (rc)
			goto out;
		e->name = malloc(alen + blen + 2);
		if (!e->name) {
			rc = nomem(P);
			goto out;
		}
		memcpy(e->name, a, alen);
		e->name[alen] = '.';
		memcpy(e->name + alen + 1, b, blen + 1);
		e->name_len = alen + 1 + blen;
		e->qual_len = alen;
	} else {
		e->name = a;
		e->name_len = alen;
		a = NULL;
	}
	if (!e->name_len || memchr(e->name, '\0', e->name_len)) {
		set_msg(P->err, first.line, first.col, "empty column name");
		rc = -EINVAL;
	}
out:
	free(a);
	free(b);
	if (rc)
		mfs_expr_free(e);
	else
		*out = e;
	return rc;
}

static int parse_primary(struct parser *P, struct mfs_expr **out)
{
	struct mfs_token t = *TOK, nx;
	struct mfs_expr *e = NULL;
	int rc = 0;

	switch (t.kind) {
	case MFS_TOK_EOF:
		return syntax_error(P, TOK, NULL);
	case MFS_TOK_INT:
	case MFS_TOK_DEC:
	case MFS_TOK_DOUBLE:
		e = node_new(MFS_E_LITERAL, &t);
		if (!e)
			return nomem(P);
		if (!parse_number(t.p, t.len, &e->lit)) {
			set_msg(P->err, t.line, t.col, "number out of range");
			rc = -EINVAL;
			break;
		}
		rc = advance(P);
		break;
	case MFS_TOK_STRING:
		e = node_new(MFS_E_LITERAL, &t);
		if (!e)
			return nomem(P);
		e->str = unquote(&t, &e->lit.u.s.len);
		if (!e->str) {
			rc = nomem(P);
			break;
		}
		e->lit.type = MFS_T_STRING;
		e->lit.u.s.p = e->str;
		rc = advance(P);
		break;
	case MFS_TOK_QIDENT:
		return parse_column(P, out);
	case MFS_TOK_OP:
		if (!mfs_tok_is_op(&t, "("))
			return syntax_error(P, TOK, NULL);
		rc = advance(P);
		if (rc)
			return rc;
		rc = parse_or(P, &e);
		if (rc)
			return rc;
		if (!mfs_tok_is_op(TOK, ")")) {
			rc = syntax_error(P, TOK, "')'");
			break;
		}
		e->off = t.off;
		e->end = TOK->off + TOK->len;
		rc = advance(P);
		break;
	case MFS_TOK_IDENT:
		if (mfs_tok_is_kw(&t, "null") || mfs_tok_is_kw(&t, "true") ||
		    mfs_tok_is_kw(&t, "false")) {
			e = node_new(MFS_E_LITERAL, &t);
			if (!e)
				return nomem(P);
			if (mfs_tok_is_kw(&t, "null")) {
				e->lit.type = MFS_T_NULL;
				e->lit.is_null = 1;
			} else {
				e->lit.type = MFS_T_BOOL;
				e->lit.u.b = mfs_tok_is_kw(&t, "true");
			}
			rc = advance(P);
			break;
		}
		if (mfs_tok_is_kw(&t, "case"))
			return parse_case(P, out);
		peek_next(P, &nx);
		if ((mfs_tok_is_kw(&t, "cast") || mfs_tok_is_kw(&t, "try_cast")) &&
		    mfs_tok_is_op(&nx, "("))
			return parse_cast(P, out);
		if ((mfs_tok_is_kw(&t, "date") || mfs_tok_is_kw(&t, "timestamp")) &&
		    nx.kind == MFS_TOK_STRING) {
			size_t n;
			char *s = unquote(&nx, &n);
			int ok;

			if (!s)
				return nomem(P);
			e = node_new(MFS_E_LITERAL, &t);
			if (!e) {
				free(s);
				return nomem(P);
			}
			e->end = nx.off + nx.len;
			if (mfs_tok_is_kw(&t, "date")) {
				e->lit.type = MFS_T_DATE;
				ok = parse_date(s, n, &e->lit.u.date);
			} else {
				e->lit.type = MFS_T_TIMESTAMP;
				ok = parse_timestamp(s, n, &e->lit.u.ts.us, &e->lit.u.ts.utc);
			}
			free(s);
			if (!ok) {
				set_msg(P->err, nx.line, nx.col, "invalid %s literal",
					e->lit.type == MFS_T_DATE ? "DATE" : "TIMESTAMP");
				rc = -EINVAL;
				break;
			}
			rc = advance(P);
			if (!rc)
				rc = advance(P);
			break;
		}
		if (mfs_expr_is_reserved(t.p, t.len))
			return syntax_error(P, TOK, NULL);
		if (mfs_tok_is_op(&nx, "("))
			return parse_call(P, out);
		return parse_column(P, out);
	}
	if (rc)
		mfs_expr_free(e);
	else
		*out = e;
	return rc;
}

static int parse_postfix(struct parser *P, struct mfs_expr **out)
{
	struct mfs_expr *e = NULL, *c;
	struct mfs_token at;
	int rc;

	rc = parse_primary(P, &e);
	while (!rc && mfs_tok_is_op(TOK, "::")) {
		at = *TOK;
		rc = advance(P);
		if (rc)
			break;
		rc = unary(P, MFS_E_CAST, &at, e, &c);
		e = c;
		if (rc)
			break;
		rc = parse_type_tokens(P, &c->cast_type, &c->cast_scale);
		c->end = P->lx->tok.off; /* up to the next token, near enough */
	}
	if (rc) {
		mfs_expr_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

/* -x folded into a numeric literal, as a negative literal reads. */
static void negate_literal(struct mfs_expr *k)
{
	switch (k->lit.type) {
	case MFS_T_INT:
		if (k->lit.u.i == INT64_MIN) {
			k->lit.type = MFS_T_DECIMAL;
			k->lit.u.dec.v = -(i128)INT64_MIN;
			k->lit.u.dec.scale = 0;
		} else {
			k->lit.u.i = -k->lit.u.i;
		}
		break;
	case MFS_T_DECIMAL:
		k->lit.u.dec.v = -k->lit.u.dec.v;
		if (k->lit.u.dec.scale == 0 && k->lit.u.dec.v >= INT64_MIN &&
		    k->lit.u.dec.v <= INT64_MAX) {
			int64_t v = (int64_t)k->lit.u.dec.v;

			k->lit.type = MFS_T_INT;
			k->lit.u.i = v;
		}
		break;
	default:
		k->lit.u.d = -k->lit.u.d;
		break;
	}
}

static int parse_unary(struct parser *P, struct mfs_expr **out)
{
	struct mfs_token at = *TOK;
	struct mfs_expr *k = NULL;
	int rc;

	if (!mfs_tok_is_op(&at, "-") && !mfs_tok_is_op(&at, "+"))
		return parse_postfix(P, out);
	if (++P->nest > MFS_EXPR_MAX_DEPTH)
		return too_deep(P);
	rc = advance(P);
	if (!rc)
		rc = parse_unary(P, &k);
	P->nest--;
	if (rc)
		return rc;
	if (mfs_tok_is_op(&at, "+") ||
	    (k->kind == MFS_E_LITERAL && is_numeric(k->lit.type))) {
		if (at.p[0] == '-')
			negate_literal(k);
		k->off = at.off;
		k->line = at.line;
		k->col = at.col;
		*out = k;
		return 0;
	}
	return unary(P, MFS_E_NEG, &at, k, out);
}

static int parse_binary_level(struct parser *P, struct mfs_expr **out,
			      int (*next)(struct parser *, struct mfs_expr **),
			      const char *const *ops, const int *codes, enum mfs_expr_kind kind)
{
	struct mfs_expr *l = NULL, *r;
	struct mfs_token at;
	int rc, i, found;

	rc = next(P, &l);
	while (!rc) {
		found = -1;
		for (i = 0; ops[i]; i++)
			if (mfs_tok_is_op(TOK, ops[i]))
				found = i;
		if (found < 0)
			break;
		at = *TOK;
		rc = advance(P);
		if (!rc)
			rc = next(P, &r);
		if (!rc)
			rc = binary(P, kind, codes[found], &at, l, r, &l);
	}
	if (rc) {
		mfs_expr_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

static int parse_mul(struct parser *P, struct mfs_expr **out)
{
	static const char *const ops[] = { "*", "/", "%", NULL };
	static const int codes[] = { MFS_OP_MUL, MFS_OP_DIV, MFS_OP_MOD };

	return parse_binary_level(P, out, parse_unary, ops, codes, MFS_E_ARITH);
}

static int parse_add(struct parser *P, struct mfs_expr **out)
{
	static const char *const ops[] = { "+", "-", NULL };
	static const int codes[] = { MFS_OP_ADD, MFS_OP_SUB };

	return parse_binary_level(P, out, parse_mul, ops, codes, MFS_E_ARITH);
}

static int parse_concat(struct parser *P, struct mfs_expr **out)
{
	static const char *const ops[] = { "||", NULL };
	static const int codes[] = { 0 };

	return parse_binary_level(P, out, parse_add, ops, codes, MFS_E_CONCAT);
}

static int cmp_op(const struct mfs_token *t)
{
	static const char *const ops[] = { "=", "==", "<>", "!=", "<", "<=", ">", ">=" };
	static const int codes[] = { MFS_OP_EQ, MFS_OP_EQ, MFS_OP_NE, MFS_OP_NE,
				     MFS_OP_LT, MFS_OP_LE, MFS_OP_GT, MFS_OP_GE };
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (mfs_tok_is_op(t, ops[i]))
			return codes[i];
	return -1;
}

/* The right side of IN / LIKE / BETWEEN, the left side @l already read. */
static int parse_predicate(struct parser *P, struct mfs_expr *l, const struct mfs_token *at,
			   int negated, struct mfs_expr **out)
{
	struct mfs_expr *e, *k;
	enum mfs_expr_kind kind;
	int rc;

	kind = mfs_tok_is_kw(TOK, "in")	       ? MFS_E_IN
	       : mfs_tok_is_kw(TOK, "between") ? MFS_E_BETWEEN
					       : MFS_E_LIKE;
	*out = NULL;
	e = node_new(kind, at);
	if (!e) {
		mfs_expr_free(l);
		return nomem(P);
	}
	e->negated = negated;
	e->op = mfs_tok_is_kw(TOK, "ilike");
	rc = add_kid(P, e, l);
	if (!rc)
		rc = advance(P);
	if (rc)
		goto out;
	if (kind == MFS_E_IN) {
		rc = expect_op(P, "(", "'('");
		while (!rc) {
			rc = parse_or(P, &k);
			if (!rc)
				rc = add_kid(P, e, k);
			if (rc || !mfs_tok_is_op(TOK, ","))
				break;
			rc = advance(P);
		}
		if (!rc && !mfs_tok_is_op(TOK, ")"))
			rc = syntax_error(P, TOK, "',' or ')'");
		if (!rc) {
			e->end = TOK->off + TOK->len;
			rc = advance(P);
		}
	} else if (kind == MFS_E_BETWEEN) {
		rc = parse_concat(P, &k);
		if (!rc)
			rc = add_kid(P, e, k);
		if (!rc)
			rc = expect_kw(P, "and", "AND");
		if (!rc)
			rc = parse_concat(P, &k);
		if (!rc)
			rc = add_kid(P, e, k);
	} else {
		rc = parse_concat(P, &k);
		if (!rc)
			rc = add_kid(P, e, k);
		if (!rc && mfs_tok_is_kw(TOK, "escape")) {
			rc = advance(P);
			if (!rc)
				rc = parse_concat(P, &k);
			if (!rc)
				rc = add_kid(P, e, k);
		}
	}
out:
	if (rc)
		mfs_expr_free(e);
	else
		*out = e;
	return rc;
}

static int is_predicate_kw(const struct mfs_token *t)
{
	return mfs_tok_is_kw(t, "in") || mfs_tok_is_kw(t, "like") || mfs_tok_is_kw(t, "ilike") ||
	       mfs_tok_is_kw(t, "between");
}

static int parse_cmp(struct parser *P, struct mfs_expr **out)
{
	struct mfs_expr *l = NULL, *r, *e;
	struct mfs_token at, nx;
	int rc, op, neg, compared = 0;

	rc = parse_concat(P, &l);
	while (!rc) {
		at = *TOK;
		op = cmp_op(TOK);
		if (op >= 0) {
			if (compared) {
				/* a = b = c is a syntax error in SQL, as in DuckDB */
				rc = syntax_error(P, TOK, NULL);
				break;
			}
			compared = 1;
			rc = advance(P);
			if (!rc)
				rc = parse_concat(P, &r);
			if (!rc)
				rc = binary(P, MFS_E_CMP, op, &at, l, r, &l);
			continue;
		}
		if (mfs_tok_is_kw(TOK, "is")) {
			neg = 0;
			rc = advance(P);
			if (!rc && mfs_tok_is_kw(TOK, "not")) {
				neg = 1;
				rc = advance(P);
			}
			if (!rc && !mfs_tok_is_kw(TOK, "null"))
				rc = syntax_error(P, TOK, neg ? "NULL" : "NULL or NOT NULL");
			if (rc)
				break;
			rc = unary(P, MFS_E_IS_NULL, &at, l, &e);
			l = e;
			if (rc)
				break;
			e->negated = neg;
			e->end = TOK->off + TOK->len;
			rc = advance(P);
			continue;
		}
		neg = 0;
		if (mfs_tok_is_kw(TOK, "not")) {
			peek_next(P, &nx);
			if (!is_predicate_kw(&nx))
				break;
			neg = 1;
			rc = advance(P);
			if (rc)
				break;
		}
		if (!is_predicate_kw(TOK))
			break;
		rc = parse_predicate(P, l, &at, neg, &l);
	}
	if (rc) {
		mfs_expr_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

static int parse_not(struct parser *P, struct mfs_expr **out)
{
	struct mfs_token at = *TOK;
	struct mfs_expr *k;
	int rc;

	if (!mfs_tok_is_kw(&at, "not"))
		return parse_cmp(P, out);
	if (++P->nest > MFS_EXPR_MAX_DEPTH)
		return too_deep(P);
	rc = advance(P);
	if (!rc)
		rc = parse_not(P, &k);
	P->nest--;
	if (rc)
		return rc;
	return unary(P, MFS_E_NOT, &at, k, out);
}

static int parse_and(struct parser *P, struct mfs_expr **out)
{
	struct mfs_expr *l = NULL, *r;
	struct mfs_token at;
	int rc;

	rc = parse_not(P, &l);
	while (!rc && mfs_tok_is_kw(TOK, "and")) {
		at = *TOK;
		rc = advance(P);
		if (!rc)
			rc = parse_not(P, &r);
		if (!rc)
			rc = binary(P, MFS_E_AND, 0, &at, l, r, &l);
	}
	if (rc) {
		mfs_expr_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

static int parse_or(struct parser *P, struct mfs_expr **out)
{
	struct mfs_expr *l = NULL, *r;
	struct mfs_token at;
	int rc;

	if (++P->nest > MFS_EXPR_MAX_DEPTH) {
		P->nest--;
		return too_deep(P);
	}
	rc = parse_and(P, &l);
	while (!rc && mfs_tok_is_kw(TOK, "or")) {
		at = *TOK;
		rc = advance(P);
		if (!rc)
			rc = parse_and(P, &r);
		if (!rc)
			rc = binary(P, MFS_E_OR, 0, &at, l, r, &l);
	}
	P->nest--;
	if (rc) {
		mfs_expr_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

int mfs_expr_parse_lex(struct mfs_lexer *lx, struct mfs_expr **out, struct mfs_expr_error *err)
{
	struct parser P = { lx, err, 0 };

	*out = NULL;
	return parse_or(&P, out);
}

int mfs_expr_parse(const char *text, size_t len, struct mfs_expr **out, struct mfs_expr_error *err)
{
	struct mfs_lexer lx;
	struct parser P = { &lx, err, 0 };
	struct mfs_expr *e = NULL;
	int rc;

	*out = NULL;
	rc = mfs_lex_init(&lx, text, len, err);
	if (rc)
		return rc;
	rc = parse_or(&P, &e);
	if (rc)
		return rc;
	if (lx.tok.kind != MFS_TOK_EOF) {
		mfs_expr_free(e);
		return syntax_error(&P, &lx.tok, NULL);
	}
	*out = e;
	return 0;
}

/* ---- values ---- */

static int parse_bool(const char *s, size_t n, int *b)
{
	static const char *const yes[] = { "true", "t", "yes", "y", "1" };
	static const char *const no[] = { "false", "f", "no", "n", "0" };
	size_t i;

	trim_span(&s, &n);
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (ieq(s, n, yes[i])) {
			*b = 1;
			return 1;
		}
		if (ieq(s, n, no[i])) {
			*b = 0;
			return 1;
		}
	}
	return 0;
}

static double dec_to_double(i128 v, int scale)
{
	return (double)v / (double)pow10_i128(scale);
}

static double to_double(const struct mfs_value *v)
{
	switch (v->type) {
	case MFS_T_INT:
		return (double)v->u.i;
	case MFS_T_DECIMAL:
		return dec_to_double(v->u.dec.v, v->u.dec.scale);
	case MFS_T_BOOL:
		return v->u.b ? 1.0 : 0.0;
	default:
		return v->u.d;
	}
}

/* @v at scale @from to scale @to, rounding half away from zero; 0 or -ERANGE. */
static int rescale(i128 v, int from, int to, i128 *out)
{
	i128 p, q, r;

	if (to >= from) {
		if (__builtin_mul_overflow(v, pow10_i128(to - from), out) || !dec_fits(*out))
			return -ERANGE;
		return 0;
	}
	p = pow10_i128(from - to); /* at most 10^38: from is a scale */
	q = v / p;
	r = v % p;
	if (r >= 0 ? r >= p - r : -r >= p + r)
		q += r >= 0 ? 1 : -1;
	*out = q;
	return 0;
}

/* A number as a decimal at @scale; 0 or -ERANGE. */
static int to_dec(const struct mfs_value *v, int scale, i128 *out)
{
	if (v->type == MFS_T_INT)
		return rescale(v->u.i, 0, scale, out);
	if (v->type == MFS_T_BOOL)
		return rescale(v->u.b ? 1 : 0, 0, scale, out);
	return rescale(v->u.dec.v, v->u.dec.scale, scale, out);
}

static int dbl_cmp(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) - isnan(b);
	return a < b ? -1 : a > b;
}

static int dec_cmp(i128 a, int sa, i128 b, int sb)
{
	i128 pa = pow10_i128(sa), pb = pow10_i128(sb), ia = a / pa, ib = b / pb, fa, fb;

	if (ia != ib)
		return ia < ib ? -1 : 1;
	fa = (a % pa) * pow10_i128(MFS_DEC_MAX_SCALE - sa);
	fb = (b % pb) * pow10_i128(MFS_DEC_MAX_SCALE - sb);
	return fa < fb ? -1 : fa > fb;
}

int mfs_expr_value_cmp(const struct mfs_value *a, const struct mfs_value *b)
{
	size_t n;
	int c;

	if (a->type == b->type) {
		switch (a->type) {
		case MFS_T_BOOL:
			return (a->u.b != 0) - (b->u.b != 0);
		case MFS_T_INT:
			return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
		case MFS_T_DECIMAL:
			return dec_cmp(a->u.dec.v, a->u.dec.scale, b->u.dec.v, b->u.dec.scale);
		case MFS_T_DOUBLE:
			return dbl_cmp(a->u.d, b->u.d);
		case MFS_T_DATE:
			return a->u.date < b->u.date ? -1 : a->u.date > b->u.date;
		case MFS_T_TIMESTAMP:
			return a->u.ts.us < b->u.ts.us ? -1 : a->u.ts.us > b->u.ts.us;
		case MFS_T_STRING:
			n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
			c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
			if (c)
				return c < 0 ? -1 : 1;
			return a->u.s.len < b->u.s.len ? -1 : a->u.s.len > b->u.s.len;
		case MFS_T_NULL:
			return 0;
		}
	}
	if (is_numeric(a->type) && is_numeric(b->type)) {
		if (a->type == MFS_T_DOUBLE || b->type == MFS_T_DOUBLE)
			return dbl_cmp(to_double(a), to_double(b));
		return dec_cmp(a->type == MFS_T_INT ? a->u.i : a->u.dec.v,
			       a->type == MFS_T_INT ? 0 : a->u.dec.scale,
			       b->type == MFS_T_INT ? b->u.i : b->u.dec.v,
			       b->type == MFS_T_INT ? 0 : b->u.dec.scale);
	}
	if ((a->type == MFS_T_DATE || a->type == MFS_T_TIMESTAMP) &&
	    (b->type == MFS_T_DATE || b->type == MFS_T_TIMESTAMP)) {
		i128 x = a->type == MFS_T_DATE ? (i128)a->u.date * US_PER_DAY : a->u.ts.us;
		i128 y = b->type == MFS_T_DATE ? (i128)b->u.date * US_PER_DAY : b->u.ts.us;

		return x < y ? -1 : x > y;
	}
	return a->type < b->type ? -1 : 1;
}

/* The value as text: in @tmp (64 bytes) or pointing at the string itself. */
static void value_text(const struct mfs_value *v, char *tmp, const char **p, size_t *n)
{
	*p = tmp;
	switch (v->type) {
	case MFS_T_STRING:
		*p = v->u.s.p;
		*n = v->u.s.len;
		return;
	case MFS_T_BOOL:
		*p = v->u.b ? "true" : "false";
		*n = strlen(*p);
		return;
	case MFS_T_INT:
		*n = (size_t)snprintf(tmp, 64, "%lld", (long long)v->u.i);
		return;
	case MFS_T_DECIMAL:
		*n = dec_to_str(v->u.dec.v, v->u.dec.scale, tmp);
		return;
	case MFS_T_DOUBLE:
		*n = double_to_str(v->u.d, tmp, 64);
		return;
	case MFS_T_DATE:
		*n = date_to_str(v->u.date, tmp, 64);
		return;
	case MFS_T_TIMESTAMP:
		*n = ts_to_str(v->u.ts.us, tmp, 64);
		return;
	case MFS_T_NULL:
		*p = "NULL";
		*n = 4;
		return;
	}
	*n = 0;
}

static int cast_fail(const struct mfs_value *in, enum mfs_type t, int scale)
{
	char tmp[64], tn[32], fn[32];
	int from_scale = in->type == MFS_T_DECIMAL ? in->u.dec.scale : 0;
	const char *p;
	size_t n;

	value_text(in, tmp, &p, &n);
	if (in->type == MFS_T_STRING)
		mfs_set_error("cannot convert '%.*s%s' to %s", (int)(n > 60 ? 60 : n), p,
			      n > 60 ? "..." : "", mfs_expr_type_name(t, scale, tn, sizeof(tn)));
	else
		mfs_set_error("cannot convert %s %.*s to %s",
			      mfs_expr_type_name(in->type, from_scale, fn, sizeof(fn)), (int)n, p,
			      mfs_expr_type_name(t, scale, tn, sizeof(tn)));
	return -EDOM;
}

/* A double rounded half away from zero into an int128, if within 38 digits. */
static int double_to_i128(double d, i128 *out)
{
	if (isnan(d) || fabs(d) >= 1e38)
		return 0;
	*out = (i128)round(d);
	return 1;
}

static int text_to_double(const char *s, size_t n, double *d)
{
	struct mfs_value v;
	char tmp[16];
	size_t i;

	memset(&v, 0, sizeof(v));
	if (parse_number(s, n, &v)) {
		*d = to_double(&v);
		return 1;
	}
	trim_span(&s, &n);
	if (n >= sizeof(tmp))
		return 0;
	for (i = 0; i < n; i++)
		tmp[i] = (char)lower_ascii((unsigned char)s[i]);
	tmp[n] = '\0';
	if (!strcmp(tmp, "inf") || !strcmp(tmp, "+inf") || !strcmp(tmp, "infinity") ||
	    !strcmp(tmp, "+infinity"))
		*d = INFINITY;
	else if (!strcmp(tmp, "-inf") || !strcmp(tmp, "-infinity"))
		*d = -INFINITY;
	else if (!strcmp(tmp, "nan"))
		*d = NAN;
	else
		return 0;
	return 1;
}

int mfs_expr_cast(const struct mfs_value *in, enum mfs_type t, int scale, struct mfs_arena *arena,
		  struct mfs_value *out)
{
	struct mfs_value v = *in, r;
	char tmp[64];
	const char *p;
	size_t n;
	i128 d;

	memset(&r, 0, sizeof(r));
	r.type = t;
	if (v.is_null || v.type == MFS_T_NULL || t == MFS_T_NULL) {
		r.is_null = 1;
		*out = r;
		return 0;
	}
	if (v.type == t && t != MFS_T_DECIMAL) {
		*out = v;
		return 0;
	}
	if (v.type == MFS_T_STRING && (t == MFS_T_INT || t == MFS_T_DECIMAL)) {
		struct mfs_value num;

		memset(&num, 0, sizeof(num));
		if (!parse_number(v.u.s.p, v.u.s.len, &num))
			return cast_fail(&v, t, scale);
		if (mfs_expr_cast(&num, t, scale, arena, out))
			return cast_fail(&v, t, scale);
		return 0;
	}
	switch (t) {
	case MFS_T_STRING:
		value_text(&v, tmp, &p, &n);
		if (p == tmp) {
			char *m = mfs_arena_alloc(arena, n + 1);

			if (!m)
				return -ENOMEM;
			memcpy(m, tmp, n + 1);
			p = m;
		}
		r.u.s.p = p;
		r.u.s.len = n;
		break;
	case MFS_T_BOOL:
		if (v.type == MFS_T_STRING) {
			if (!parse_bool(v.u.s.p, v.u.s.len, &r.u.b))
				return cast_fail(&v, t, scale);
		} else if (v.type == MFS_T_INT) {
			r.u.b = v.u.i != 0;
		} else if (v.type == MFS_T_DECIMAL) {
			r.u.b = v.u.dec.v != 0;
		} else if (v.type == MFS_T_DOUBLE) {
			r.u.b = v.u.d != 0;
		} else {
			return cast_fail(&v, t, scale);
		}
		break;
	case MFS_T_INT:
		if (v.type == MFS_T_BOOL) {
			r.u.i = v.u.b != 0;
		} else if (v.type == MFS_T_DECIMAL || v.type == MFS_T_DOUBLE) {
			if (v.type == MFS_T_DECIMAL)
				rescale(v.u.dec.v, v.u.dec.scale, 0, &d);
			else if (isnan(v.u.d) || fabs(v.u.d) >= 1e38)
				return cast_fail(&v, t, scale);
			else
				d = (i128)nearbyint(v.u.d); /* 2.5 -> 2, as DuckDB */
			if (d < INT64_MIN || d > INT64_MAX)
				return cast_fail(&v, t, scale);
			r.u.i = (int64_t)d;
		} else {
			return cast_fail(&v, t, scale);
		}
		break;
	case MFS_T_DECIMAL:
		r.u.dec.scale = scale;
		if (v.type == MFS_T_INT || v.type == MFS_T_BOOL || v.type == MFS_T_DECIMAL) {
			if (to_dec(&v, scale, &r.u.dec.v))
				return cast_fail(&v, t, scale);
		} else if (v.type == MFS_T_DOUBLE) {
			if (!double_to_i128(v.u.d * (double)pow10_i128(scale), &r.u.dec.v) ||
			    !dec_fits(r.u.dec.v))
				return cast_fail(&v, t, scale);
		} else {
			return cast_fail(&v, t, scale);
		}
		break;
	case MFS_T_DOUBLE:
		if (v.type == MFS_T_STRING) {
			if (!text_to_double(v.u.s.p, v.u.s.len, &r.u.d))
				return cast_fail(&v, t, scale);
		} else if (is_numeric(v.type) || v.type == MFS_T_BOOL) {
			r.u.d = to_double(&v);
		} else {
			return cast_fail(&v, t, scale);
		}
		break;
	case MFS_T_DATE:
		if (v.type == MFS_T_STRING) {
			if (!parse_date(v.u.s.p, v.u.s.len, &r.u.date))
				return cast_fail(&v, t, scale);
		} else if (v.type == MFS_T_TIMESTAMP) {
			r.u.date = (int32_t)floor_div(v.u.ts.us, US_PER_DAY);
		} else {
			return cast_fail(&v, t, scale);
		}
		break;
	case MFS_T_TIMESTAMP:
		if (v.type == MFS_T_STRING) {
			if (!parse_timestamp(v.u.s.p, v.u.s.len, &r.u.ts.us, &r.u.ts.utc))
				return cast_fail(&v, t, scale);
		} else if (v.type == MFS_T_DATE) {
			if (__builtin_mul_overflow((int64_t)v.u.date, US_PER_DAY, &r.u.ts.us))
				return cast_fail(&v, t, scale);
		} else {
			return cast_fail(&v, t, scale);
		}
		break;
	case MFS_T_NULL:
		break;
	}
	*out = r;
	return 0;
}

static int cast_allowed(enum mfs_type from, enum mfs_type to)
{
	if (from == MFS_T_NULL || from == to || to == MFS_T_STRING || from == MFS_T_STRING)
		return 1;
	if ((is_numeric(from) || from == MFS_T_BOOL) && (is_numeric(to) || to == MFS_T_BOOL))
		return 1;
	return (from == MFS_T_DATE || from == MFS_T_TIMESTAMP) &&
	       (to == MFS_T_DATE || to == MFS_T_TIMESTAMP);
}

/* ---- date parts ---- */

enum date_part { DP_YEAR, DP_QUARTER, DP_MONTH, DP_WEEK, DP_DAY, DP_HOUR, DP_MINUTE, DP_SECOND };

static int parse_part(const char *s, size_t n, enum date_part *out)
{
	static const char *const names[] = { "year", "quarter", "month", "week",
					     "day", "hour", "minute", "second" };
	size_t i;

	if (n > 1 && (s[n - 1] == 's' || s[n - 1] == 'S'))
		n--; /* plurals: 'months' */
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (ieq(s, n, names[i])) {
			*out = (enum date_part)i;
			return 1;
		}
	}
	return 0;
}

/* The first day of @days' @part; int64: a year's start may lie below INT32_MIN. */
static int64_t trunc_days(int64_t days, enum date_part part)
{
	int64_t y;
	int m, d;

	civil_from_days(days, &y, &m, &d);
	switch (part) {
	case DP_YEAR:
		return days_from_civil(y, 1, 1);
	case DP_QUARTER:
		return days_from_civil(y, (m - 1) / 3 * 3 + 1, 1);
	case DP_MONTH:
		return days_from_civil(y, m, 1);
	case DP_WEEK:
		/* ISO weeks start on Monday; 1970-01-01 was a Thursday */
		return days - (days + 3 - floor_div(days + 3, 7) * 7);
	default:
		return days;
	}
}

/* ---- binding ---- */

/* sets of types, for checks */
#define M(t) (1u << (t))
#define M_NUM (M(MFS_T_INT) | M(MFS_T_DECIMAL) | M(MFS_T_DOUBLE))
#define M_TIME (M(MFS_T_DATE) | M(MFS_T_TIMESTAMP))

struct binder {
	mfs_expr_resolve_fn resolve;
	void *arg;
	int allow_agg;
	int in_agg;
	struct mfs_expr_error *err;
};

static int bind_fail(struct binder *b, const struct mfs_expr *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bind_fail(struct binder *b, const struct mfs_expr *at, const char *fmt, ...)
{
	va_list ap;

	if (b->err) {
		b->err->line = at->line;
		b->err->col = at->col;
		va_start(ap, fmt);
		vsnprintf(b->err->msg, sizeof(b->err->msg), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *tname(const struct mfs_expr *e, char *buf)
{
	return mfs_expr_type_name(e->type, e->scale, buf, 32);
}

static int sup_type(enum mfs_type a, int sa, enum mfs_type b, int sb, enum mfs_type *t, int *s)
{
	if (a == MFS_T_NULL) {
		*t = b;
		*s = sb;
		return 1;
	}
	if (b == MFS_T_NULL || (a == b && a != MFS_T_DECIMAL)) {
		*t = a;
		*s = sa;
		return 1;
	}
	if (is_numeric(a) && is_numeric(b)) {
		if (a == MFS_T_DOUBLE || b == MFS_T_DOUBLE) {
			*t = MFS_T_DOUBLE;
			*s = 0;
		} else {
			sa = a == MFS_T_DECIMAL ? sa : 0;
			sb = b == MFS_T_DECIMAL ? sb : 0;
			*t = MFS_T_DECIMAL;
			*s = sa > sb ? sa : sb;
		}
		return 1;
	}
	if ((M(a) & M_TIME) && (M(b) & M_TIME)) {
		*t = MFS_T_TIMESTAMP;
		*s = 0;
		return 1;
	}
	return 0;
}

static int is_str_lit(const struct mfs_expr *e)
{
	return e->kind == MFS_E_LITERAL && e->lit.type == MFS_T_STRING && !e->lit.is_null;
}

/* A 'string' literal used where a @t is expected reads as one, as in
 * DuckDB (order_date >= '2024-01-01'); numbers keep their own exactness. */
static int coerce_literal(struct binder *b, struct mfs_expr *e, enum mfs_type t, int scale)
{
	struct mfs_value v;
	const char *s = e->lit.u.s.p;
	size_t n = e->lit.u.s.len;
	char tn[32];
	int ok = 0;

	memset(&v, 0, sizeof(v));
	v.type = t;
	switch (t) {
	case MFS_T_INT:
	case MFS_T_DECIMAL:
	case MFS_T_DOUBLE:
		ok = parse_number(s, n, &v);
		break;
	case MFS_T_DATE:
		ok = parse_date(s, n, &v.u.date);
		break;
	case MFS_T_TIMESTAMP:
		ok = parse_timestamp(s, n, &v.u.ts.us, &v.u.ts.utc);
		break;
	case MFS_T_BOOL:
		ok = parse_bool(s, n, &v.u.b);
		break;
	default:
		return 0;
	}
	if (!ok)
		return bind_fail(b, e, "cannot convert '%.*s%s' to %s", (int)(n > 60 ? 60 : n), s,
				 n > 60 ? "..." : "", mfs_expr_type_name(t, scale, tn, sizeof(tn)));
	e->val = v;
	e->type = v.type;
	e->scale = v.type == MFS_T_DECIMAL ? v.u.dec.scale : 0;
	return 0;
}

/* The common type of @n bound expressions, string literals adapting to the
 * others. @ctx: NULL for a comparison, else what combines them. */
static int unify(struct binder *b, struct mfs_expr **v, size_t n, const struct mfs_expr *at,
		 const char *ctx, enum mfs_type *t, int *s)
{
	enum mfs_type T = MFS_T_NULL, T2;
	int S = 0, S2, any_lit = 0, rc;
	char b1[32], b2[32];
	size_t i;

	for (i = 0; i < n; i++) {
		if (is_str_lit(v[i])) {
			any_lit = 1;
			continue;
		}
		if (!sup_type(T, S, v[i]->type, v[i]->scale, &T2, &S2))
			goto mismatch;
		T = T2;
		S = S2;
	}
	if (any_lit) {
		if (T == MFS_T_NULL)
			T = MFS_T_STRING;
		for (i = 0; i < n && T != MFS_T_STRING; i++) {
			if (!is_str_lit(v[i]))
				continue;
			rc = coerce_literal(b, v[i], T, S);
			if (rc)
				return rc;
			if (!sup_type(T, S, v[i]->type, v[i]->scale, &T2, &S2))
				goto mismatch;
			T = T2;
			S = S2;
		}
	}
	*t = T;
	*s = S;
	return 0;
mismatch:
	if (ctx)
		return bind_fail(b, at, "cannot mix %s and %s in %s",
				 mfs_expr_type_name(T, S, b1, sizeof(b1)), tname(v[i], b2), ctx);
	return bind_fail(b, at, "cannot compare %s and %s",
			 mfs_expr_type_name(T, S, b1, sizeof(b1)), tname(v[i], b2));
}

/* @k must be one of the types in @mask (bits of 1 << type); NULL always is. */
static int want(struct binder *b, const struct mfs_expr *at, const struct mfs_expr *k,
		unsigned mask, const char *what)
{
	char tn[32];

	if (k->type == MFS_T_NULL || (mask & (1u << k->type)))
		return 0;
	return bind_fail(b, at, "cannot apply %s to %s", what, tname(k, tn));
}

static int bind_node(struct binder *b, struct mfs_expr *e);

static const char *op_text(int op)
{
	static const char *const t[] = { "+", "-", "*", "/", "%", "=", "<>", "<", "<=", ">", ">=" };

	return op >= 0 && op <= MFS_OP_GE ? t[op] : "?";
}

static int bind_arith(struct binder *b, struct mfs_expr *e)
{
	struct mfs_expr *l = e->kids[0], *r = e->kids[1];
	enum mfs_type lt, rt;
	int ls, rs;
	char b1[32], b2[32];

	/* no string literal reads as a number here: DuckDB refuses '5' + 1 too */
	lt = l->type;
	rt = r->type;
	ls = lt == MFS_T_DECIMAL ? l->scale : 0;
	rs = rt == MFS_T_DECIMAL ? r->scale : 0;
	if (lt == MFS_T_NULL)
		lt = rt == MFS_T_NULL ? MFS_T_INT : rt, ls = rs;
	if (rt == MFS_T_NULL)
		rt = lt, rs = ls;
	e->scale = 0;
	if (e->op == MFS_OP_ADD && ((lt == MFS_T_DATE && rt == MFS_T_INT) ||
				    (lt == MFS_T_INT && rt == MFS_T_DATE))) {
		e->type = MFS_T_DATE;
		return 0;
	}
	if (e->op == MFS_OP_SUB && lt == MFS_T_DATE && (rt == MFS_T_INT || rt == MFS_T_DATE)) {
		e->type = rt == MFS_T_DATE ? MFS_T_INT : MFS_T_DATE;
		return 0;
	}
	if (lt == MFS_T_DATE && rt == MFS_T_DATE && e->op == MFS_OP_ADD)
		goto bad;
	if (!is_numeric(lt) || !is_numeric(rt))
		goto bad;
	if (e->op == MFS_OP_DIV || lt == MFS_T_DOUBLE || rt == MFS_T_DOUBLE) {
		e->type = MFS_T_DOUBLE;
	} else if (lt == MFS_T_DECIMAL || rt == MFS_T_DECIMAL) {
		e->type = MFS_T_DECIMAL;
		e->scale = e->op == MFS_OP_MUL ? ls + rs : ls > rs ? ls : rs;
		if (e->scale > MFS_DEC_MAX_SCALE) {
			e->type = MFS_T_DOUBLE; /* beyond what a decimal can carry */
			e->scale = 0;
		}
	} else {
		e->type = MFS_T_INT;
	}
	return 0;
bad:
	return bind_fail(b, e, "cannot apply %s to %s and %s", op_text(e->op), tname(l, b1),
			 tname(r, b2));
}

static int bind_call(struct binder *b, struct mfs_expr *e)
{
	struct mfs_expr **k = e->kids;
	enum date_part part;
	int rc = 0;

	switch (e->op) {
	case MFS_FN_LOWER:
	case MFS_FN_UPPER:
	case MFS_FN_LENGTH:
		rc = want(b, k[0], k[0], M(MFS_T_STRING), fn_name(e));
		e->type = e->op == MFS_FN_LENGTH ? MFS_T_INT : MFS_T_STRING;
		break;
	case MFS_FN_TRIM:
		rc = want(b, k[0], k[0], M(MFS_T_STRING), "trim()");
		if (!rc && e->nkids > 1)
			rc = want(b, k[1], k[1], M(MFS_T_STRING), "trim()");
		e->type = MFS_T_STRING;
		break;
	case MFS_FN_COALESCE:
		rc = unify(b, k, e->nkids, e, "coalesce()", &e->type, &e->scale);
		break;
	case MFS_FN_ROUND:
		rc = want(b, k[0], k[0], M_NUM, "round()");
		if (!rc && e->nkids > 1)
			rc = want(b, k[1], k[1], M(MFS_T_INT), "round() digits");
		if (rc)
			break;
		e->type = k[0]->type;
		e->scale = k[0]->scale;
		if (e->type == MFS_T_DECIMAL) {
			int64_t digits = 0;

			if (e->nkids > 1) {
				if (k[1]->kind != MFS_E_LITERAL || k[1]->val.type != MFS_T_INT)
					return bind_fail(b, k[1], "round() of a DECIMAL needs "
								  "constant digits");
				digits = k[1]->val.u.i;
			}
			if (digits < e->scale)
				e->scale = digits < 0 ? 0 : (int)digits;
		}
		break;
	case MFS_FN_ABS:
		rc = want(b, k[0], k[0], M_NUM, "abs()");
		e->type = k[0]->type;
		e->scale = k[0]->scale;
		break;
	case MFS_FN_SUBSTR:
		rc = want(b, k[0], k[0], M(MFS_T_STRING), "substr()");
		if (!rc)
			rc = want(b, k[1], k[1], M(MFS_T_INT), "substr() start");
		if (!rc && e->nkids > 2)
			rc = want(b, k[2], k[2], M(MFS_T_INT), "substr() length");
		e->type = MFS_T_STRING;
		break;
	case MFS_FN_DATE_TRUNC:
		rc = want(b, k[0], k[0], M(MFS_T_STRING), "date_trunc() part");
		if (!rc && is_str_lit(k[0]) &&
		    !parse_part(k[0]->lit.u.s.p, k[0]->lit.u.s.len, &part))
			rc = bind_fail(b, k[0], "unknown date part '%.*s'",
				       (int)(k[0]->lit.u.s.len > 40 ? 40 : k[0]->lit.u.s.len),
				       k[0]->lit.u.s.p);
		if (!rc)
			rc = want(b, k[1], k[1], M_TIME, "date_trunc()");
		e->type = k[1]->type;
		break;
	case MFS_FN_YEAR:
	case MFS_FN_MONTH:
	case MFS_FN_DAY:
		rc = want(b, k[0], k[0], M_TIME, fn_name(e));
		e->type = MFS_T_INT;
		break;
	}
	return rc;
}

static int bind_agg(struct binder *b, struct mfs_expr *e)
{
	struct mfs_expr *k = e->nkids ? e->kids[0] : NULL;
	int rc = 0;

	e->index = -1;
	switch (e->op) {
	case MFS_AGG_COUNT_STAR:
	case MFS_AGG_COUNT:
		e->type = MFS_T_INT;
		break;
	case MFS_AGG_SUM:
		rc = want(b, k, k, M_NUM, "sum()");
		/* DuckDB sums integers into a 128-bit HUGEINT: an exact decimal here */
		e->type = k->type == MFS_T_INT ? MFS_T_DECIMAL : k->type;
		e->scale = k->type == MFS_T_DECIMAL ? k->scale : 0;
		break;
	case MFS_AGG_AVG:
		rc = want(b, k, k, M_NUM, "avg()");
		e->type = MFS_T_DOUBLE;
		break;
	default:
		e->type = k->type;
		e->scale = k->scale;
		break;
	}
	return rc;
}

static int bind_node(struct binder *b, struct mfs_expr *e)
{
	struct mfs_expr **k = e->kids;
	enum mfs_type t;
	char tn[32];
	size_t i;
	int rc = 0, s;

	e->bound = 0;
	e->type = MFS_T_NULL;
	e->scale = 0;
	if (e->kind == MFS_E_AGG) {
		if (!b->allow_agg)
			return bind_fail(b, e, "aggregate %s is not allowed here", fn_name(e));
		if (b->in_agg)
			return bind_fail(b, e, "aggregate %s inside another aggregate",
					 fn_name(e));
		b->in_agg = 1;
	}
	for (i = 0; i < e->nkids && !rc; i++)
		rc = bind_node(b, k[i]);
	if (e->kind == MFS_E_AGG)
		b->in_agg = 0;
	if (rc)
		return rc;

	switch (e->kind) {
	case MFS_E_LITERAL:
		e->val = e->lit;
		e->type = e->lit.type;
		e->scale = e->lit.type == MFS_T_DECIMAL ? e->lit.u.dec.scale : 0;
		break;
	case MFS_E_COLUMN:
		rc = b->resolve ? b->resolve(b->arg, e->name, e->name_len, &e->index, &t, &s)
				: -ENOENT;
		if (rc)
			return bind_fail(b, e, "column \"%s\" not found", e->name);
		if ((unsigned)t > MFS_T_STRING || e->index < 0)
			return bind_fail(b, e, "column \"%s\" has no usable type", e->name);
		if (t == MFS_T_DECIMAL && (s < 0 || s > MFS_DEC_MAX_SCALE))
			return bind_fail(b, e, "column \"%s\": decimal scale %d out of range",
					 e->name, s);
		e->type = t;
		e->scale = t == MFS_T_DECIMAL ? s : 0;
		break;
	case MFS_E_NEG:
		rc = want(b, e, k[0], M_NUM, "unary -");
		e->type = k[0]->type == MFS_T_NULL ? MFS_T_INT : k[0]->type;
		e->scale = k[0]->scale;
		break;
	case MFS_E_NOT:
		rc = want(b, e, k[0], M(MFS_T_BOOL), "NOT");
		e->type = MFS_T_BOOL;
		break;
	case MFS_E_AND:
	case MFS_E_OR:
		rc = want(b, e, k[0], M(MFS_T_BOOL), e->kind == MFS_E_AND ? "AND" : "OR");
		if (!rc)
			rc = want(b, e, k[1], M(MFS_T_BOOL), e->kind == MFS_E_AND ? "AND" : "OR");
		e->type = MFS_T_BOOL;
		break;
	case MFS_E_ARITH:
		rc = bind_arith(b, e);
		break;
	case MFS_E_CONCAT:
		e->type = MFS_T_STRING;
		break;
	case MFS_E_CMP:
	case MFS_E_IN:
	case MFS_E_BETWEEN:
		rc = unify(b, k, e->nkids, e, NULL, &t, &s);
		e->type = MFS_T_BOOL;
		break;
	case MFS_E_IS_NULL:
		e->type = MFS_T_BOOL;
		break;
	case MFS_E_LIKE:
		for (i = 0; i < e->nkids && !rc; i++)
			rc = want(b, e, k[i], M(MFS_T_STRING), e->op ? "ILIKE" : "LIKE");
		e->type = MFS_T_BOOL;
		break;
	case MFS_E_CASE: {
		size_t first = e->has_operand, nwhen = (e->nkids - first - e->has_else) / 2;
		struct mfs_expr **tmp = malloc((nwhen + 1) * sizeof(*tmp));

		if (!tmp)
			return bind_fail(b, e, "out of memory");
		if (e->has_operand) {
			tmp[0] = k[0];
			for (i = 0; i < nwhen; i++)
				tmp[i + 1] = k[first + 2 * i];
			rc = unify(b, tmp, nwhen + 1, e, NULL, &t, &s);
		} else {
			for (i = 0; i < nwhen && !rc; i++)
				rc = want(b, k[2 * i], k[2 * i], M(MFS_T_BOOL), "CASE WHEN");
		}
		if (!rc) {
			for (i = 0; i < nwhen; i++)
				tmp[i] = k[first + 2 * i + 1];
			if (e->has_else)
				tmp[nwhen] = k[e->nkids - 1];
			rc = unify(b, tmp, nwhen + e->has_else, e, "CASE", &e->type, &e->scale);
		}
		free(tmp);
		break;
	}
	case MFS_E_CAST:
		if (!cast_allowed(k[0]->type, e->cast_type)) {
			char tn2[32];

			return bind_fail(b, e, "cannot cast %s to %s", tname(k[0], tn),
					 mfs_expr_type_name(e->cast_type, e->cast_scale, tn2,
							    sizeof(tn2)));
		}
		e->type = e->cast_type;
		e->scale = e->cast_scale;
		break;
	case MFS_E_CALL:
		rc = bind_call(b, e);
		break;
	case MFS_E_AGG:
		rc = bind_agg(b, e);
		break;
	}
	if (e->type != MFS_T_DECIMAL)
		e->scale = 0;
	if (!rc)
		e->bound = 1;
	return rc;
}

int mfs_expr_bind(struct mfs_expr *e, mfs_expr_resolve_fn resolve, void *arg,
		  int allow_aggregates, struct mfs_expr_error *err)
{
	struct binder b = { resolve, arg, allow_aggregates, 0, err };

	return bind_node(&b, e);
}

enum mfs_type mfs_expr_type(const struct mfs_expr *e, int *scale)
{
	if (scale)
		*scale = e->type == MFS_T_DECIMAL ? e->scale : 0;
	return e->type;
}

/* ---- evaluation ---- */

static int eval(const struct mfs_expr *e, const struct mfs_value *row, struct mfs_arena *a,
		struct mfs_value *out);

static void set_null(struct mfs_value *o, enum mfs_type t)
{
	memset(o, 0, sizeof(*o));
	o->type = t;
	o->is_null = 1;
}

/* 1 true, 0 false, -1 NULL */
static int truth(const struct mfs_value *v)
{
	return v->is_null ? -1 : v->u.b != 0;
}

static void set_truth(struct mfs_value *o, int t)
{
	memset(o, 0, sizeof(*o));
	o->type = MFS_T_BOOL;
	o->is_null = t < 0;
	o->u.b = t > 0;
}

static int overflow(const char *what, const char *type)
{
	mfs_set_error("overflow in %s of %s", what, type);
	return -ERANGE;
}

static const char *op_name(int op)
{
	static const char *const n[] = { "addition", "subtraction", "multiplication", "division",
					 "modulo" };

	return op >= 0 && op <= MFS_OP_MOD ? n[op] : "arithmetic";
}

static int eval_arith(const struct mfs_expr *e, const struct mfs_value *l,
		      const struct mfs_value *r, struct mfs_value *o)
{
	int64_t x;
	i128 p, q, v;
	double d1, d2, d;

	memset(o, 0, sizeof(*o));
	o->type = e->type;
	if (l->type == MFS_T_DATE || r->type == MFS_T_DATE) {
		if (l->type == MFS_T_DATE && r->type == MFS_T_DATE) {
			o->u.i = (int64_t)l->u.date - r->u.date;
			return 0;
		}
		x = l->type == MFS_T_DATE ? r->u.i : l->u.i;
		v = (i128)(l->type == MFS_T_DATE ? l->u.date : r->u.date) +
		    (e->op == MFS_OP_SUB ? -(i128)x : (i128)x);
		if (v < INT32_MIN || v > INT32_MAX)
			return overflow("date arithmetic", "DATE");
		o->u.date = (int32_t)v;
		return 0;
	}
	switch (e->type) {
	case MFS_T_INT:
		switch (e->op) {
		case MFS_OP_ADD:
			if (__builtin_add_overflow(l->u.i, r->u.i, &o->u.i))
				goto ovf;
			return 0;
		case MFS_OP_SUB:
			if (__builtin_sub_overflow(l->u.i, r->u.i, &o->u.i))
				goto ovf;
			return 0;
		case MFS_OP_MUL:
			if (__builtin_mul_overflow(l->u.i, r->u.i, &o->u.i))
				goto ovf;
			return 0;
		default: /* MOD; DIV is always a double */
			if (r->u.i == 0) {
				o->is_null = 1;
				return 0;
			}
			if (r->u.i == -1) {
				if (l->u.i == INT64_MIN)
					goto ovf;
				o->u.i = 0;
				return 0;
			}
			o->u.i = l->u.i % r->u.i;
			return 0;
		}
	case MFS_T_DECIMAL:
		o->u.dec.scale = e->scale;
		if (e->op == MFS_OP_MUL) {
			int ls = l->type == MFS_T_DECIMAL ? l->u.dec.scale : 0;
			int rs = r->type == MFS_T_DECIMAL ? r->u.dec.scale : 0;

			if (to_dec(l, ls, &p) || to_dec(r, rs, &q) ||
			    __builtin_mul_overflow(p, q, &v) || !dec_fits(v) ||
			    rescale(v, ls + rs, e->scale, &o->u.dec.v))
				goto ovf;
			return 0;
		}
		if (to_dec(l, e->scale, &p) || to_dec(r, e->scale, &q))
			goto ovf;
		if (e->op == MFS_OP_ADD) {
			if (__builtin_add_overflow(p, q, &v) || !dec_fits(v))
				goto ovf;
		} else if (e->op == MFS_OP_SUB) {
			if (__builtin_sub_overflow(p, q, &v) || !dec_fits(v))
				goto ovf;
		} else {
			if (q == 0) {
				o->is_null = 1;
				return 0;
			}
			v = p % q;
		}
		o->u.dec.v = v;
		return 0;
	default:
		d1 = to_double(l);
		d2 = to_double(r);
		switch (e->op) {
		case MFS_OP_ADD:
			d = d1 + d2;
			break;
		case MFS_OP_SUB:
			d = d1 - d2;
			break;
		case MFS_OP_MUL:
			d = d1 * d2;
			break;
		case MFS_OP_DIV:
			d = d1 / d2; /* x/0 is +-inf, 0/0 NaN, as in DuckDB */
			break;
		default:
			d = fmod(d1, d2);
			break;
		}
		o->u.d = d; /* IEEE 754: an overflow is inf, as in DuckDB */
		return 0;
	}
ovf:
	{
		char tn[32];

		return overflow(op_name(e->op), mfs_expr_type_name(e->type, e->scale, tn,
								   sizeof(tn)));
	}
}

static int eval_neg(const struct mfs_expr *e, struct mfs_value *v)
{
	if (v->is_null)
		return 0;
	switch (v->type) {
	case MFS_T_INT:
		if (v->u.i == INT64_MIN)
			return overflow("negation", "BIGINT");
		v->u.i = -v->u.i;
		break;
	case MFS_T_DECIMAL:
		v->u.dec.v = -v->u.dec.v;
		break;
	case MFS_T_DOUBLE:
		v->u.d = -v->u.d;
		break;
	default:
		break;
	}
	return 0;
}

static int concat(struct mfs_arena *a, const struct mfs_value *l, const struct mfs_value *r,
		  struct mfs_value *o)
{
	char t1[64], t2[64], *m;
	const char *p1, *p2;
	size_t n1, n2;

	value_text(l, t1, &p1, &n1);
	value_text(r, t2, &p2, &n2);
	m = mfs_arena_alloc(a, n1 + n2 + 1);
	if (!m)
		return -ENOMEM;
	if (n1)
		memcpy(m, p1, n1);
	if (n2)
		memcpy(m + n1, p2, n2);
	m[n1 + n2] = '\0';
	memset(o, 0, sizeof(*o));
	o->type = MFS_T_STRING;
	o->u.s.p = m;
	o->u.s.len = n1 + n2;
	return 0;
}

static int cmp_result(int op, int c)
{
	switch (op) {
	case MFS_OP_EQ:
		return c == 0;
	case MFS_OP_NE:
		return c != 0;
	case MFS_OP_LT:
		return c < 0;
	case MFS_OP_LE:
		return c <= 0;
	case MFS_OP_GT:
		return c > 0;
	default:
		return c >= 0;
	}
}

static int fold_byte(int c, int icase)
{
	return icase ? lower_ascii(c) : c;
}

/* SQL LIKE: % any run, _ one character (code point), @esc quotes the next. */
static int like_match(const char *s, size_t sn, const char *p, size_t pn, int esc, int icase)
{
	size_t si = 0, pi = 0, star_p = SIZE_MAX, star_s = 0, l;
	unsigned char c;

	while (si < sn) {
		if (pi < pn) {
			c = (unsigned char)p[pi];
			if (esc >= 0 && c == esc && pi + 1 < pn) {
				l = cp_len(p + pi + 1, pn - pi - 1);
				if (l <= sn - si && !memcmp(s + si, p + pi + 1, l)) {
					si += l;
					pi += 1 + l;
					continue;
				}
			} else if (c == '%') {
				star_p = ++pi;
				star_s = si;
				continue;
			} else if (c == '_') {
				si += cp_len(s + si, sn - si);
				pi++;
				continue;
			} else if (fold_byte(c, icase) == fold_byte((unsigned char)s[si], icase)) {
				si++;
				pi++;
				continue;
			}
		}
		if (star_p == SIZE_MAX)
			return 0;
		star_s += cp_len(s + star_s, sn - star_s);
		si = star_s;
		pi = star_p;
	}
	while (pi < pn && p[pi] == '%')
		pi++;
	return pi == pn;
}

/* Latin-1 letters (U+00C0..U+00FE) change case too, as two-byte sequences. */
static void change_case(const char *s, size_t n, char *d, int up)
{
	size_t i;
	unsigned char c, c2;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == 0xc3 && i + 1 < n) {
			c2 = (unsigned char)s[i + 1];
			if (!up && c2 >= 0x80 && c2 <= 0x9e && c2 != 0x97)
				c2 += 0x20;
			else if (up && c2 >= 0xa0 && c2 <= 0xbe && c2 != 0xb7)
				c2 -= 0x20;
			d[i] = (char)c;
			d[++i] = (char)c2;
			continue;
		}
		if (up && c >= 'a' && c <= 'z')
			c -= 32;
		else if (!up && c >= 'A' && c <= 'Z')
			c += 32;
		d[i] = (char)c;
	}
}

static size_t cp_count(const char *s, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += ((unsigned char)s[i] & 0xc0) != 0x80;
	return k;
}

/* Byte offset of code point @k (0-based) in @s, or @n past the end. */
static size_t cp_offset(const char *s, size_t n, int64_t k)
{
	size_t i = 0;

	while (k > 0 && i < n) {
		i += cp_len(s + i, n - i);
		k--;
	}
	return i;
}

static int in_set(const char *s, size_t l, const char *set, size_t sn)
{
	size_t i, m;

	for (i = 0; i < sn; i += m) {
		m = cp_len(set + i, sn - i);
		if (m == l && !memcmp(set + i, s, l))
			return 1;
	}
	return 0;
}

static void trim_chars(const char **s, size_t *n, const char *set, size_t sn)
{
	size_t l, j;

	while (*n) {
		l = cp_len(*s, *n);
		if (!in_set(*s, l, set, sn))
			break;
		*s += l;
		*n -= l;
	}
	while (*n) {
		for (j = *n - 1; j > 0 && ((unsigned char)(*s)[j] & 0xc0) == 0x80; j--)
			;
		if (!in_set(*s + j, *n - j, set, sn))
			break;
		*n = j;
	}
}

static int round_value(const struct mfs_expr *e, struct mfs_value *v, int64_t digits)
{
	i128 q, p;
	double m, d;

	switch (v->type) {
	case MFS_T_INT:
		if (digits >= 0)
			return 0;
		if (digits < -18) {
			v->u.i = 0;
			return 0;
		}
		p = pow10_i128((int)-digits);
		rescale(v->u.i, (int)-digits, 0, &q);
		q *= p;
		if (q < INT64_MIN || q > INT64_MAX)
			return overflow("round()", "BIGINT");
		v->u.i = (int64_t)q;
		return 0;
	case MFS_T_DECIMAL:
		if (digits >= v->u.dec.scale)
			return 0;
		if (digits < 0) {
			int k = digits < -38 ? 38 : (int)-digits;

			if (v->u.dec.scale + k > 38) {
				/* |v| < 10^38: rounds to zero */
				v->u.dec.v = 0;
				v->u.dec.scale = 0;
				return 0;
			}
			rescale(v->u.dec.v, v->u.dec.scale + k, 0, &q);
			if (__builtin_mul_overflow(q, pow10_i128(k), &v->u.dec.v) ||
			    !dec_fits(v->u.dec.v))
				return overflow("round()", "DECIMAL");
			v->u.dec.scale = 0;
		} else {
			rescale(v->u.dec.v, v->u.dec.scale, (int)digits, &v->u.dec.v);
			v->u.dec.scale = (int)digits;
		}
		(void)e;
		return 0;
	default:
		if (digits > 300 || isnan(v->u.d) || isinf(v->u.d))
			return 0;
		if (digits < -308) {
			v->u.d = 0;
			return 0;
		}
		if (digits >= 0) {
			m = pow(10, (double)digits);
			d = round(v->u.d * m) / m;
		} else {
			m = pow(10, (double)-digits);
			d = round(v->u.d / m) * m;
		}
		if (isfinite(d))
			v->u.d = d;
		return 0;
	}
}

static int eval_call(const struct mfs_expr *e, const struct mfs_value *row, struct mfs_arena *a,
		     struct mfs_value *o)
{
	struct mfs_value v, w, x;
	enum date_part part;
	const char *s;
	size_t n, i, b0, b1;
	int64_t days, y, start, len;
	int m, d, rc;
	char *buf;

	if (e->op == MFS_FN_COALESCE) {
		for (i = 0; i < e->nkids; i++) {
			rc = eval(e->kids[i], row, a, o);
			if (rc || !o->is_null)
				return rc;
		}
		return 0;
	}
	rc = eval(e->kids[0], row, a, &v);
	if (rc)
		return rc;
	if (v.is_null) {
		set_null(o, e->type);
		return 0;
	}
	switch (e->op) {
	case MFS_FN_LOWER:
	case MFS_FN_UPPER:
		buf = mfs_arena_alloc(a, v.u.s.len + 1);
		if (!buf)
			return -ENOMEM;
		change_case(v.u.s.p, v.u.s.len, buf, e->op == MFS_FN_UPPER);
		buf[v.u.s.len] = '\0';
		*o = v;
		o->u.s.p = buf;
		return 0;
	case MFS_FN_LENGTH:
		memset(o, 0, sizeof(*o));
		o->type = MFS_T_INT;
		o->u.i = (int64_t)cp_count(v.u.s.p, v.u.s.len);
		return 0;
	case MFS_FN_TRIM:
		s = " ";
		n = 1;
		if (e->nkids > 1) {
			rc = eval(e->kids[1], row, a, &w);
			if (rc)
				return rc;
			if (w.is_null) {
				set_null(o, e->type);
				return 0;
			}
			s = w.u.s.p;
			n = w.u.s.len;
		}
		*o = v;
		trim_chars(&o->u.s.p, &o->u.s.len, s, n);
		return 0;
	case MFS_FN_ROUND:
		len = 0;
		if (e->nkids > 1) {
			rc = eval(e->kids[1], row, a, &w);
			if (rc)
				return rc;
			if (w.is_null) {
				set_null(o, e->type);
				return 0;
			}
			len = w.u.i;
		}
		*o = v;
		return round_value(e, o, len);
	case MFS_FN_ABS:
		*o = v;
		if (v.type == MFS_T_INT && v.u.i < 0) {
			if (v.u.i == INT64_MIN)
				return overflow("abs()", "BIGINT");
			o->u.i = -v.u.i;
		} else if (v.type == MFS_T_DECIMAL && v.u.dec.v < 0) {
			o->u.dec.v = -v.u.dec.v;
		} else if (v.type == MFS_T_DOUBLE) {
			o->u.d = fabs(v.u.d);
		}
		return 0;
	case MFS_FN_SUBSTR:
		rc = eval(e->kids[1], row, a, &w);
		if (rc)
			return rc;
		x.is_null = 0;
		x.u.i = INT64_MAX;
		if (!w.is_null && e->nkids > 2) {
			rc = eval(e->kids[2], row, a, &x);
			if (rc)
				return rc;
		}
		if (w.is_null || x.is_null) {
			set_null(o, e->type);
			return 0;
		}
		n = cp_count(v.u.s.p, v.u.s.len);
		start = w.u.i;
		len = x.u.i;
		{
			/* positions are 1-based; 0 and negatives as in DuckDB */
			i128 from = start > 0 ? start : start < 0 ? (i128)n + start + 1 : 0;
			i128 to = from + len;

			if (len < 0) {
				/* the characters before start, as DuckDB */
				to = from;
				from += len;
			}

			if (from < 1)
				from = 1;
			if (to > (i128)n + 1)
				to = (i128)n + 1;
			if (to < from)
				to = from;
			b0 = cp_offset(v.u.s.p, v.u.s.len, (int64_t)(from - 1));
			b1 = cp_offset(v.u.s.p, v.u.s.len, (int64_t)(to - 1));
		}
		*o = v;
		o->u.s.p = v.u.s.p + b0;
		o->u.s.len = b1 - b0;
		return 0;
	case MFS_FN_DATE_TRUNC:
		rc = eval(e->kids[1], row, a, &w);
		if (rc)
			return rc;
		if (w.is_null) {
			set_null(o, e->type);
			return 0;
		}
		if (!parse_part(v.u.s.p, v.u.s.len, &part)) {
			mfs_set_error("date_trunc(): unknown date part '%.*s'",
				      (int)(v.u.s.len > 40 ? 40 : v.u.s.len), v.u.s.p);
			return -EDOM;
		}
		*o = w;
		if (w.type == MFS_T_DATE) {
			days = trunc_days(w.u.date, part);
			if (days < INT32_MIN)
				return overflow("date_trunc()", "DATE");
			o->u.date = (int32_t)days;
		} else {
			static const int64_t unit[] = { 0, 0, 0, 0, US_PER_DAY, INT64_C(3600000000),
							INT64_C(60000000), INT64_C(1000000) };
			i128 t;

			days = floor_div(w.u.ts.us, US_PER_DAY);
			if (part <= DP_WEEK)
				t = (i128)trunc_days(days, part) * US_PER_DAY;
			else
				t = (i128)floor_div(w.u.ts.us, unit[part]) * unit[part];
			if (t < INT64_MIN)
				return overflow("date_trunc()", "TIMESTAMP");
			o->u.ts.us = (int64_t)t;
		}
		return 0;
	case MFS_FN_YEAR:
	case MFS_FN_MONTH:
	case MFS_FN_DAY:
		days = v.type == MFS_T_DATE ? v.u.date : floor_div(v.u.ts.us, US_PER_DAY);
		civil_from_days(days, &y, &m, &d);
		memset(o, 0, sizeof(*o));
		o->type = MFS_T_INT;
		o->u.i = e->op == MFS_FN_YEAR ? y : e->op == MFS_FN_MONTH ? m : d;
		return 0;
	}
	mfs_set_error("unknown function");
	return -EINVAL;
}

static int eval_case(const struct mfs_expr *e, const struct mfs_value *row, struct mfs_arena *a,
		     struct mfs_value *o)
{
	struct mfs_value x, w;
	size_t first = (size_t)e->has_operand, nwhen = (e->nkids - first - e->has_else) / 2, i;
	int rc, hit;

	if (e->has_operand) {
		rc = eval(e->kids[0], row, a, &x);
		if (rc)
			return rc;
	}
	for (i = 0; i < nwhen; i++) {
		rc = eval(e->kids[first + 2 * i], row, a, &w);
		if (rc)
			return rc;
		if (e->has_operand)
			hit = !x.is_null && !w.is_null && mfs_expr_value_cmp(&x, &w) == 0;
		else
			hit = truth(&w) == 1;
		if (hit)
			return eval(e->kids[first + 2 * i + 1], row, a, o);
	}
	if (e->has_else)
		return eval(e->kids[e->nkids - 1], row, a, o);
	set_null(o, e->type);
	return 0;
}

static int eval_node(const struct mfs_expr *e, const struct mfs_value *row, struct mfs_arena *a,
		     struct mfs_value *o)
{
	struct mfs_value l, r, x;
	int rc, tl, tr, found, saw_null, c;
	size_t i;

	switch (e->kind) {
	case MFS_E_LITERAL:
		*o = e->val;
		return 0;
	case MFS_E_COLUMN:
		*o = row[e->index];
		if (!o->is_null && o->type == MFS_T_DECIMAL &&
		    (o->u.dec.scale < 0 || o->u.dec.scale > MFS_DEC_MAX_SCALE)) {
			mfs_set_error("column \"%s\": decimal scale %d out of range", e->name,
				      o->u.dec.scale);
			return -EINVAL;
		}
		return 0;
	case MFS_E_AGG:
		if (e->index < 0) {
			mfs_set_error("aggregate %s outside an aggregation", fn_name(e));
			return -EINVAL;
		}
		*o = row[e->index];
		return 0;
	case MFS_E_NEG:
		rc = eval(e->kids[0], row, a, o);
		return rc ? rc : eval_neg(e, o);
	case MFS_E_NOT:
		rc = eval(e->kids[0], row, a, &l);
		if (!rc)
			set_truth(o, truth(&l) < 0 ? -1 : !truth(&l));
		return rc;
	case MFS_E_AND:
	case MFS_E_OR:
		/* three-valued: FALSE AND NULL is FALSE, TRUE OR NULL is TRUE */
		rc = eval(e->kids[0], row, a, &l);
		if (rc)
			return rc;
		tl = truth(&l);
		if (tl == (e->kind == MFS_E_OR)) {
			set_truth(o, tl);
			return 0;
		}
		rc = eval(e->kids[1], row, a, &r);
		if (rc)
			return rc;
		tr = truth(&r);
		if (tr == (e->kind == MFS_E_OR))
			set_truth(o, tr);
		else
			set_truth(o, tl < 0 || tr < 0 ? -1 : tr);
		return 0;
	case MFS_E_ARITH:
	case MFS_E_CONCAT:
	case MFS_E_CMP:
		rc = eval(e->kids[0], row, a, &l);
		if (!rc)
			rc = eval(e->kids[1], row, a, &r);
		if (rc)
			return rc;
		if (l.is_null || r.is_null) {
			set_null(o, e->type);
			return 0;
		}
		if (e->kind == MFS_E_ARITH)
			return eval_arith(e, &l, &r, o);
		if (e->kind == MFS_E_CONCAT)
			return concat(a, &l, &r, o);
		set_truth(o, cmp_result(e->op, mfs_expr_value_cmp(&l, &r)));
		return 0;
	case MFS_E_IS_NULL:
		rc = eval(e->kids[0], row, a, &l);
		if (!rc)
			set_truth(o, l.is_null != e->negated);
		return rc;
	case MFS_E_IN:
		rc = eval(e->kids[0], row, a, &x);
		if (rc)
			return rc;
		if (x.is_null) {
			set_truth(o, -1);
			return 0;
		}
		found = saw_null = 0;
		for (i = 1; i < e->nkids && !found; i++) {
			rc = eval(e->kids[i], row, a, &l);
			if (rc)
				return rc;
			if (l.is_null)
				saw_null = 1;
			else if (mfs_expr_value_cmp(&x, &l) == 0)
				found = 1;
		}
		set_truth(o, found ? !e->negated : saw_null ? -1 : e->negated);
		return 0;
	case MFS_E_BETWEEN:
		rc = eval(e->kids[0], row, a, &x);
		if (!rc)
			rc = eval(e->kids[1], row, a, &l);
		if (!rc)
			rc = eval(e->kids[2], row, a, &r);
		if (rc)
			return rc;
		tl = x.is_null || l.is_null ? -1 : mfs_expr_value_cmp(&x, &l) >= 0;
		tr = x.is_null || r.is_null ? -1 : mfs_expr_value_cmp(&x, &r) <= 0;
		c = tl == 0 || tr == 0 ? 0 : tl < 0 || tr < 0 ? -1 : 1;
		set_truth(o, c < 0 ? -1 : e->negated ? !c : c);
		return 0;
	case MFS_E_LIKE:
		rc = eval(e->kids[0], row, a, &l);
		if (!rc)
			rc = eval(e->kids[1], row, a, &r);
		c = -1;
		if (!rc && e->nkids > 2) {
			rc = eval(e->kids[2], row, a, &x);
			if (!rc && !x.is_null) {
				if (x.u.s.len > 1) {
					mfs_set_error("LIKE ESCAPE must be a single character");
					return -EDOM;
				}
				c = x.u.s.len ? (unsigned char)x.u.s.p[0] : -1;
			}
			if (!rc && x.is_null) {
				set_truth(o, -1);
				return 0;
			}
		}
		if (rc)
			return rc;
		if (l.is_null || r.is_null) {
			set_truth(o, -1);
			return 0;
		}
		found = like_match(l.u.s.p, l.u.s.len, r.u.s.p, r.u.s.len, c, e->op);
		set_truth(o, found != e->negated);
		return 0;
	case MFS_E_CASE:
		return eval_case(e, row, a, o);
	case MFS_E_CAST:
		rc = eval(e->kids[0], row, a, &l);
		if (rc)
			return rc;
		rc = mfs_expr_cast(&l, e->cast_type, e->cast_scale, a, o);
		if ((rc == -EDOM || rc == -ERANGE) && e->op) {
			set_null(o, e->type);
			return 0;
		}
		return rc;
	case MFS_E_CALL:
		return eval_call(e, row, a, o);
	}
	mfs_set_error("unknown expression node");
	return -EINVAL;
}

/* Evaluate @e, then give the result the node's bound type. */
static int eval(const struct mfs_expr *e, const struct mfs_value *row, struct mfs_arena *a,
		struct mfs_value *out)
{
	struct mfs_value v;
	int rc = eval_node(e, row, a, out);

	if (rc)
		return rc;
	if (out->is_null || e->type == MFS_T_NULL) {
		set_null(out, e->type);
		return 0;
	}
	if (out->type == e->type && (e->type != MFS_T_DECIMAL || out->u.dec.scale == e->scale))
		return 0;
	v = *out;
	return mfs_expr_cast(&v, e->type, e->scale, a, out);
}

int mfs_expr_eval(const struct mfs_expr *e, const struct mfs_value *row, struct mfs_arena *arena,
		  struct mfs_value *out)
{
	if (!e->bound) {
		mfs_set_error("expression evaluated before it was bound");
		return -EINVAL;
	}
	return eval(e, row, arena, out);
}

/* ---- for gold ---- */

int mfs_expr_walk(struct mfs_expr *e, int (*fn)(void *arg, struct mfs_expr *e), void *arg)
{
	size_t i;
	int rc = fn(arg, e);

	if (rc)
		return rc < 0 ? rc : 0;
	for (i = 0; i < e->nkids; i++) {
		rc = mfs_expr_walk(e->kids[i], fn, arg);
		if (rc)
			return rc;
	}
	return 0;
}

int mfs_expr_equal(const struct mfs_expr *a, const struct mfs_expr *b)
{
	size_t i;

	if (a->kind != b->kind || a->op != b->op || a->negated != b->negated ||
	    a->distinct != b->distinct || a->has_operand != b->has_operand ||
	    a->has_else != b->has_else || a->nkids != b->nkids)
		return 0;
	if (a->kind == MFS_E_LITERAL) {
		if (a->lit.type != b->lit.type || a->lit.is_null != b->lit.is_null)
			return 0;
		if (!a->lit.is_null && mfs_expr_value_cmp(&a->lit, &b->lit) != 0)
			return 0;
		if (a->lit.type == MFS_T_DECIMAL && a->lit.u.dec.scale != b->lit.u.dec.scale)
			return 0;
	}
	if (a->kind == MFS_E_COLUMN && (a->name_len != b->name_len || a->qual_len != b->qual_len ||
					!ieq(a->name, a->name_len, b->name)))
		return 0;
	if (a->kind == MFS_E_CAST &&
	    (a->cast_type != b->cast_type || a->cast_scale != b->cast_scale))
		return 0;
	for (i = 0; i < a->nkids; i++)
		if (!mfs_expr_equal(a->kids[i], b->kids[i]))
			return 0;
	return 1;
}
