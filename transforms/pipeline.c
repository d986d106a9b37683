/*
 * pipeline.c - the pipeline file (SPEC §6, man 5 medallionfs-pipeline):
 * [silver] settings, [dataset NAME] declarations and [gold NAME] views, read
 * through ini.c, checked whole before anything uses it, and written back as
 * the effective pipeline for .medallion/pipeline.
 *
 * Every error names the file and line ("PATH:LINE: message"); an error
 * inside an expectation's expression names the column too, mapped from the
 * expression back into the file (ini.c keeps continuation lines verbatim so
 * that this mapping is exact).
 *
 * A dataset inherits the [silver] step switches it does not set itself,
 * wherever [silver] stands in the file, so inheritance is applied when the
 * whole file has been read. section_text and silver_text are the sections'
 * entries in declaration order with white space outside quotes normalised:
 * what the silver output of a file depends on, for its fingerprint.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/buf.h"
#include "expr_i.h"
#include "pipeline.h"

static const char *const default_null_tokens[] = { "", "NULL", "null", "N/A", "NA",
						   "n/a", "None", "-" };

enum key_id {
	K_FORMAT, K_DATE_ORDER, K_NULL_TOKENS, K_TRIM, K_DEDUPE, K_TYPES, K_NAMES, K_PREFIX,
	K_COLUMNS, K_KEY, K_DECIMAL_COMMA, K_EXPECT, K_EVOLUTION, K_SQL, K_MAX
};

static const char *const key_names[K_MAX] = {
	"format", "date_order", "null_tokens", "trim", "dedupe", "types", "names", "prefix",
	"columns", "key", "decimal_comma", "expect", "evolution", "sql",
};

enum sec_kind { SEC_NONE, SEC_SILVER, SEC_DATASET, SEC_GOLD };

#define KEYS_SILVER                                                                        \
	((1u << K_FORMAT) | (1u << K_DATE_ORDER) | (1u << K_NULL_TOKENS) | (1u << K_TRIM) | \
	 (1u << K_DEDUPE) | (1u << K_TYPES) | (1u << K_NAMES))
#define KEYS_STEPS                                                                   \
	((1u << K_NULL_TOKENS) | (1u << K_TRIM) | (1u << K_DEDUPE) | (1u << K_TYPES) | \
	 (1u << K_NAMES))
#define KEYS_DATASET                                                                      \
	(KEYS_STEPS | (1u << K_PREFIX) | (1u << K_FORMAT) | (1u << K_COLUMNS) | (1u << K_KEY) | \
	 (1u << K_DECIMAL_COMMA) | (1u << K_EXPECT) | (1u << K_EVOLUTION))
#define KEYS_GOLD ((1u << K_SQL) | (1u << K_FORMAT))

/* What the parse needs per dataset beyond struct mfs_dataset. */
struct ds_extra {
	unsigned set;     /* keys given (bits of enum key_id) */
	int prefix_line;  /* of `prefix =`, else of the header */
	int key_line;
	struct mfs_buf text;
};

struct pstate {
	struct mfs_pipeline *p;
	const char *path;
	enum sec_kind kind;
	size_t cur;             /* the current dataset or view */
	int seen[K_MAX];        /* line of each key in the current section */
	int silver_line;        /* of the [silver] header, 0 before */
	unsigned silver_set;
	struct mfs_buf silver_text;
	struct ds_extra *dx;    /* parallel to p->datasets */
	int *view_lines;        /* of the [gold NAME] headers, parallel to p->views */
	int failed;             /* err holds a full "PATH:LINE: ..." */
	char *err;
	size_t errlen;
};

static int fail(struct pstate *ps, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct pstate *ps, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(ps->err, ps->errlen, "%s:%d: ", ps->path, line);
	if (n >= 0 && (size_t)n < ps->errlen) {
		va_start(ap, fmt);
		vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	ps->failed = 1;
	return -EINVAL;
}

static int lc_eq(const char *a, const char *b)
{
	return !strcasecmp(a, b);
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Up to 40 bytes of @v for a message, cut at a line end. */
static int show_len(const char *v)
{
	size_t n = strcspn(v, "\n");

	return (int)(n > 40 ? 40 : n);
}

/* ---- values ---- */

static int parse_bool(const char *v, int *out)
{
	if (lc_eq(v, "true") || lc_eq(v, "yes") || lc_eq(v, "on") || !strcmp(v, "1"))
		*out = 1;
	else if (lc_eq(v, "false") || lc_eq(v, "no") || lc_eq(v, "off") || !strcmp(v, "0"))
		*out = 0;
	else
		return 0;
	return 1;
}

/* @v among @names (case-insensitive): its index, or -1. */
static int pick(const char *v, const char *const *names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (lc_eq(v, names[i]))
			return i;
	return -1;
}

static void free_strv(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * A comma-separated list; an item may be "quoted" ("" inside for a quote) to
 * hold commas, quotes, surrounding spaces or nothing at all. @paren: commas
 * inside parentheses do not split (decimal(10,2)). Items are trimmed.
 * Returns 0, or a reason (static) for an error.
 */
static const char *split_list(const char *v, int paren, int allow_empty_quoted, char ***out,
			      size_t *n)
{
	struct mfs_buf item = MFS_BUF_INIT;
	char **list = NULL, **nl;
	size_t count = 0, i = 0, end;
	int depth, quoted;
	const char *why = NULL;

	*out = NULL;
	*n = 0;
	for (;;) {
		mfs_buf_reset(&item);
		if (mfs_buf_append(&item, "", 0)) {
			why = "out of memory";
			break;
		}
		while (v[i] && is_ws(v[i]))
			i++;
		quoted = 0;
		depth = 0;
		if (v[i] == '"' && !paren) {
			quoted = 1;
			for (i++;; i++) {
				if (!v[i]) {
					why = "unterminated quote";
					goto out;
				}
				if (v[i] == '"') {
					if (v[i + 1] != '"')
						break;
					i++;
				}
				if (mfs_buf_append(&item, v + i, 1)) {
					why = "out of memory";
					goto out;
				}
			}
			for (i++; v[i] && is_ws(v[i]); i++)
				;
			if (v[i] && v[i] != ',') {
				why = "text after a quoted item";
				goto out;
			}
		} else {
			int inq = 0;

			for (; v[i] && (v[i] != ',' || depth > 0 || inq); i++) {
				if (paren && v[i] == '"')
					inq = !inq;
				else if (inq)
					;
				else if (v[i] == '(')
					depth++;
				else if (v[i] == ')')
					depth--;
				else if (v[i] == '"') {
					why = "a quote inside an unquoted item";
					goto out;
				}
				if (mfs_buf_append(&item, v + i, 1)) {
					why = "out of memory";
					goto out;
				}
			}
			end = item.len;
			while (end && is_ws(item.data[end - 1]))
				end--;
			item.data[end] = '\0';
			item.len = end;
		}
		if (!item.len && !(quoted && allow_empty_quoted)) {
			why = allow_empty_quoted ? "empty item (write \"\" for the empty string)"
						 : "empty item";
			goto out;
		}
		nl = realloc(list, (count + 1) * sizeof(*list));
		if (!nl) {
			why = "out of memory";
			goto out;
		}
		list = nl;
		list[count] = strdup(item.data);
		if (!list[count]) {
			why = "out of memory";
			goto out;
		}
		count++;
		if (!v[i])
			break;
		i++; /* , */
	}
out:
	mfs_buf_free(&item);
	if (why) {
		free_strv(list, count);
		return why;
	}
	*out = list;
	*n = count;
	return NULL;
}

/* Quote a list item when the plain form would not read back the same;
 * @special: more characters that need quotes (':' in a column name). */
static int put_item(struct mfs_buf *b, const char *s, int quote_none, const char *special)
{
	size_t n = strlen(s), i;
	int q = !n || strpbrk(s, ",\"\n()") || strpbrk(s, special) || is_ws(s[0]) ||
		is_ws(s[n - 1]) || (quote_none && lc_eq(s, "none"));
	int rc = 0;

	if (!q)
		return mfs_buf_append(b, s, n);
	rc = mfs_buf_append(b, "\"", 1);
	for (i = 0; i < n && !rc; i++) {
		if (s[i] == '"')
			rc = mfs_buf_append(b, "\"\"", 2);
		else
			rc = mfs_buf_append(b, s + i, 1);
	}
	return rc ? rc : mfs_buf_append(b, "\"", 1);
}

/* "sales", "/sales//2024" -> "sales/", "sales/2024/"; "" and "/" -> "". */
static const char *norm_prefix(const char *v, char **out)
{
	struct mfs_buf b = MFS_BUF_INIT;
	const char *seg = v, *slash;
	size_t n;

	*out = NULL;
	if (strpbrk(v, "\n\r"))
		return "prefix must be one line";
	if (mfs_buf_append(&b, "", 0))
		return "out of memory";
	while (*seg) {
		slash = strchr(seg, '/');
		n = slash ? (size_t)(slash - seg) : strlen(seg);
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) {
			mfs_buf_free(&b);
			return "prefix must not contain '.' or '..' segments";
		}
		if (n && (mfs_buf_append(&b, seg, n) || mfs_buf_append(&b, "/", 1))) {
			mfs_buf_free(&b);
			return "out of memory";
		}
		seg += n;
		if (*seg == '/')
			seg++;
	}
	if (is_ws(b.data[0])) {
		/* "/ x": the file could not say it again (values are trimmed) */
		mfs_buf_free(&b);
		return "prefix must not start with white space";
	}
	*out = b.data;
	return NULL;
}

/* ---- entries ---- */

/* The value with white space outside quotes collapsed: a run holding a line
 * end becomes "\n" (it may end a -- comment), any other run one space. */
static int canon_append(struct mfs_buf *b, const char *v)
{
	size_t i;
	char q = 0, c;
	int ws = 0, nl = 0, rc = 0;

	for (i = 0; v[i] && !rc; i++) {
		c = v[i];
		if (!q && is_ws(c)) {
			ws = 1;
			nl |= c == '\n';
			continue;
		}
		if (ws)
			rc = mfs_buf_append(b, nl ? "\n" : " ", 1);
		ws = nl = 0;
		if (q && c == q)
			q = 0;
		else if (!q && (c == '\'' || c == '"'))
			q = c;
		if (!rc)
			rc = mfs_buf_append(b, &c, 1);
	}
	return rc;
}

static int add_text(struct pstate *ps, struct mfs_buf *b, const char *key, const char *v)
{
	int rc = mfs_buf_appendf(b, "%s = ", key);

	if (!rc)
		rc = canon_append(b, v);
	if (!rc)
		rc = mfs_buf_append(b, "\n", 1);
	return rc;
}

/* A position in the value @v (byte @off) as FILE line and column. */
static void value_pos(const struct mfs_ini_entry *e, const char *v, size_t off, int *line,
		      int *col)
{
	size_t i, ls = 0;
	int k = 0;

	for (i = 0; i < off && v[i]; i++) {
		if (v[i] == '\n') {
			k++;
			ls = i + 1;
		}
	}
	*line = e->value_line + k;
	*col = k ? (int)(off - ls) + 1 : e->value_col + (int)off;
}

/* Offset in @text of the expression error position @line:@col. */
static size_t expr_offset(const char *text, size_t len, int line, int col)
{
	size_t i = 0;

	while (line > 1 && i < len) {
		if (text[i++] == '\n')
			line--;
	}
	return i + (size_t)(col > 0 ? col - 1 : 0);
}

/* Load-time check of an expectation: declared columns have their type,
 * others (added by a file, or a hive path) are unknown yet and fit all. */
static int check_resolve(void *arg, const char *name, size_t len, int *index, enum mfs_type *type,
			 int *scale)
{
	const struct mfs_dataset *d = arg;
	size_t i;

	*index = 0;
	*type = MFS_T_NULL;
	*scale = 0;
	for (i = 0; i < d->ncolumns; i++) {
		const char *c = d->columns[i].name;

		if (strlen(c) == len && !strncasecmp(c, name, len)) {
			*type = d->columns[i].type;
			*scale = d->columns[i].scale;
			break;
		}
	}
	return 0;
}

static int parse_expect(struct pstate *ps, struct mfs_dataset *d, const struct mfs_ini_entry *e)
{
	static const char *const actions[] = { "drop", "warn", "fail" };
	static const enum mfs_expect_action action_ids[] = { MFS_EXPECT_DROP, MFS_EXPECT_WARN,
							     MFS_EXPECT_FAIL };
	const char *v = e->value, *colon = strchr(v, ':'), *arrow = NULL, *s;
	struct mfs_expectation *x, *nx;
	struct mfs_expr_error xerr;
	size_t nlen, xoff, xend, i;
	char action[16];
	int a, line, col, rc;

	for (s = v; (s = strstr(s, "->")); s += 2)
		arrow = s;
	if (!colon || !arrow || arrow < colon)
		return fail(ps, e->line, "expect: expected 'NAME: EXPRESSION -> drop|warn|fail'");
	nlen = (size_t)(colon - v);
	while (nlen && is_ws(v[nlen - 1]))
		nlen--;
	if (!nlen)
		return fail(ps, e->line, "expect: the expectation needs a name before ':'");
	for (i = 0; i < nlen; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		      (v[i] >= '0' && v[i] <= '9') || v[i] == '_' || v[i] == '-'))
			return fail(ps, e->line,
				    "expect: name '%.*s' may hold only letters, digits, '_' and '-'",
				    (int)(nlen > 40 ? 40 : nlen), v);
	for (s = arrow + 2; is_ws(*s); s++)
		;
	i = strlen(s);
	while (i && is_ws(s[i - 1]))
		i--;
	snprintf(action, sizeof(action), "%.*s", (int)(i < sizeof(action) ? i : sizeof(action) - 1),
		 s);
	a = i < sizeof(action) ? pick(action, actions, 3) : -1;
	if (a < 0)
		return fail(ps, e->line, "expect: action must be drop, warn or fail, not '%.*s'",
			    (int)(i > 40 ? 40 : i), s);
	xoff = (size_t)(colon + 1 - v);
	xend = (size_t)(arrow - v);
	while (xoff < xend && is_ws(v[xoff]))
		xoff++;
	while (xend > xoff && is_ws(v[xend - 1]))
		xend--;
	if (xoff == xend) {
		value_pos(e, v, xoff, &line, &col);
		return fail(ps, line, "expect: '%.*s' has no expression", (int)nlen, v);
	}
	for (i = 0; i < d->nexpects; i++)
		if (strlen(d->expects[i].name) == nlen && !strncmp(d->expects[i].name, v, nlen))
			return fail(ps, e->line, "expect: '%.*s' is declared twice (first at line %d)",
				    (int)nlen, v, d->expects[i].line);
	nx = realloc(d->expects, (d->nexpects + 1) * sizeof(*nx));
	if (!nx)
		return fail(ps, e->line, "out of memory");
	d->expects = nx;
	x = &d->expects[d->nexpects];
	memset(x, 0, sizeof(*x));
	x->name = strndup(v, nlen);
	x->text = strndup(v + xoff, xend - xoff);
	x->action = action_ids[a];
	x->line = e->line;
	d->nexpects++;
	if (!x->name || !x->text)
		return fail(ps, e->line, "out of memory");
	memset(&xerr, 0, sizeof(xerr));
	rc = mfs_expr_parse(x->text, xend - xoff, &x->expr, &xerr);
	if (!rc) {
		rc = mfs_expr_bind(x->expr, check_resolve, d, 0, &xerr);
		x->expr->bound = 0; /* bound for real per file, against its schema */
	}
	if (rc) {
		value_pos(e, v, xoff + expr_offset(x->text, xend - xoff, xerr.line, xerr.col),
			  &line, &col);
		snprintf(ps->err, ps->errlen, "%s:%d:%d: %s", ps->path, line, col, xerr.msg);
		ps->failed = 1;
		return -EINVAL;
	}
	return 0;
}

static int parse_columns(struct pstate *ps, struct mfs_dataset *d, const struct mfs_ini_entry *e)
{
	char **items = NULL, **names = NULL;
	const char *why, *colon;
	struct mfs_expr_error terr;
	size_t n = 0, i, j, nn, nlen;
	int rc = 0;

	why = split_list(e->value, 1, 0, &items, &n);
	if (why)
		return fail(ps, e->line, "columns: %s", why);
	d->columns = calloc(n, sizeof(*d->columns));
	if (!d->columns) {
		rc = fail(ps, e->line, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct mfs_column_decl *c = &d->columns[i];

		/* name:type, the name "quoted" when it holds a ':' or a ',' */
		if (items[i][0] == '"') {
			for (colon = items[i] + 1; *colon; colon++) {
				if (*colon == '"' && colon[1] == '"')
					colon++;
				else if (*colon == '"')
					break;
			}
			colon = *colon ? strchr(colon, ':') : NULL;
		} else {
			colon = strchr(items[i], ':');
		}
		if (!colon) {
			rc = fail(ps, e->line, "columns: expected 'name:type', not '%.*s'",
				  show_len(items[i]), items[i]);
			goto out;
		}
		nlen = (size_t)(colon - items[i]);
		{
			char *tmp = strndup(items[i], nlen);

			if (!tmp) {
				rc = fail(ps, e->line, "out of memory");
				goto out;
			}
			why = split_list(tmp, 0, 0, &names, &nn);
			free(tmp);
		}
		if (why || nn != 1) {
			rc = fail(ps, e->line, "columns: bad column name in '%.*s'",
				  show_len(items[i]), items[i]);
			goto out;
		}
		c->name = names[0];
		free(names);
		names = NULL;
		d->ncolumns = i + 1;
		memset(&terr, 0, sizeof(terr));
		if (mfs_expr_parse_type(colon + 1, strlen(colon + 1), &c->type, &c->scale, &terr)) {
			rc = fail(ps, e->line, "columns: %s for column '%s'", terr.msg, c->name);
			goto out;
		}
		for (j = 0; j < i; j++) {
			if (lc_eq(d->columns[j].name, c->name)) {
				rc = fail(ps, e->line, "columns: column '%s' is declared twice",
					  c->name);
				goto out;
			}
		}
	}
out:
	free_strv(items, n);
	return rc;
}

static int parse_key(struct pstate *ps, struct mfs_dataset *d, const struct mfs_ini_entry *e)
{
	const char *why;
	size_t i, j;

	why = split_list(e->value, 0, 0, &d->key, &d->nkey);
	if (why)
		return fail(ps, e->line, "key: %s", why);
	for (i = 0; i < d->nkey; i++)
		for (j = 0; j < i; j++)
			if (lc_eq(d->key[i], d->key[j]))
				return fail(ps, e->line, "key: column '%s' is named twice",
					    d->key[i]);
	return 0;
}

static int set_null_tokens(struct pstate *ps, const struct mfs_ini_entry *e)
{
	struct mfs_pipeline *p = ps->p;
	char **list = NULL;
	size_t n = 0, i, j, k;
	const char *why;

	if (lc_eq(e->value, "none")) {
		p->steps.null_tokens = 0;
		free_strv(p->null_tokens, p->nnull_tokens);
		p->null_tokens = NULL;
		p->nnull_tokens = 0;
		return 0;
	}
	if (!e->value[0])
		return fail(ps, e->line, "null_tokens: empty list (write 'none' for no null tokens)");
	why = split_list(e->value, 0, 1, &list, &n);
	if (why)
		return fail(ps, e->line, "null_tokens: %s", why);
	/* drop repeats, keep the first */
	for (i = k = 0; i < n; i++) {
		for (j = 0; j < k && strcmp(list[j], list[i]); j++)
			;
		if (j < k)
			free(list[i]);
		else
			list[k++] = list[i];
	}
	free_strv(p->null_tokens, p->nnull_tokens);
	p->null_tokens = list;
	p->nnull_tokens = k;
	p->steps.null_tokens = 1;
	return 0;
}

/* A step switch, in [silver] or a dataset. */
static int set_step(struct pstate *ps, struct mfs_silver_steps *st, enum key_id k,
		    const struct mfs_ini_entry *e)
{
	static const char *const types[] = { "infer", "off" };
	static const char *const names[] = { "snake_case", "keep" };
	const char *v = e->value;
	int b;

	switch (k) {
	case K_TRIM:
	case K_DEDUPE:
		if (!parse_bool(v, &b))
			return fail(ps, e->line, "%s: expected true or false, not '%.*s'",
				    key_names[k], show_len(v), v);
		if (k == K_TRIM)
			st->trim = b;
		else
			st->dedupe = b;
		return 0;
	case K_TYPES:
		b = pick(v, types, 2);
		if (b < 0)
			return fail(ps, e->line, "types: expected infer or off, not '%.*s'",
				    show_len(v), v);
		st->infer_types = b == 0;
		return 0;
	case K_NAMES:
		b = pick(v, names, 2);
		if (b < 0)
			return fail(ps, e->line, "names: expected snake_case or keep, not '%.*s'",
				    show_len(v), v);
		st->normalize_names = b == 0;
		return 0;
	case K_NULL_TOKENS:
		/* a dataset switches [silver]'s list on or off; the list is global */
		if (lc_eq(v, "none"))
			b = 0;
		else if (!parse_bool(v, &b))
			return fail(ps, e->line,
				    "null_tokens: in a dataset only 'none' or 'true' (the list "
				    "itself is set in [silver])");
		st->null_tokens = b;
		return 0;
	default:
		return 0;
	}
}

static int silver_entry(struct pstate *ps, enum key_id k, const struct mfs_ini_entry *e)
{
	static const char *const formats[] = { "csv", "jsonl" };
	static const char *const orders[] = { "mdy", "dmy", "ymd" };
	struct mfs_pipeline *p = ps->p;
	const char *v = e->value;
	int i;

	ps->silver_set |= 1u << k;
	switch (k) {
	case K_FORMAT:
		i = pick(v, formats, 2);
		if (i < 0)
			return fail(ps, e->line, "format: expected csv or jsonl, not '%.*s'",
				    show_len(v), v);
		p->format = i ? MFS_OUT_JSONL : MFS_OUT_CSV;
		return 0;
	case K_DATE_ORDER:
		i = pick(v, orders, 3);
		if (i < 0)
			return fail(ps, e->line, "date_order: expected mdy, dmy or ymd, not '%.*s'",
				    show_len(v), v);
		p->date_order = i == 0 ? MFS_DATE_MDY : i == 1 ? MFS_DATE_DMY : MFS_DATE_YMD;
		return 0;
	case K_NULL_TOKENS:
		return set_null_tokens(ps, e);
	default:
		return set_step(ps, &p->steps, k, e);
	}
}

static int dataset_entry(struct pstate *ps, enum key_id k, const struct mfs_ini_entry *e)
{
	static const char *const formats[] = { "auto", "csv", "tsv", "psv", "jsonl", "ndjson",
					       "json" };
	static const enum mfs_in_format format_ids[] = { MFS_IN_AUTO,  MFS_IN_CSV,   MFS_IN_TSV,
							 MFS_IN_PSV,   MFS_IN_JSONL, MFS_IN_JSONL,
							 MFS_IN_JSON };
	static const char *const evolutions[] = { "add", "drop", "fail" };
	struct mfs_dataset *d = &ps->p->datasets[ps->cur];
	struct ds_extra *x = &ps->dx[ps->cur];
	const char *v = e->value, *why;
	int i;

	x->set |= 1u << k;
	switch (k) {
	case K_PREFIX:
		why = norm_prefix(v, &d->prefix);
		if (why)
			return fail(ps, e->line, "%s", why);
		x->prefix_line = e->line;
		return 0;
	case K_FORMAT:
		i = pick(v, formats, 7);
		if (i < 0)
			return fail(ps, e->line,
				    "format: expected csv, tsv, psv, jsonl or json, not '%.*s'",
				    show_len(v), v);
		d->format = format_ids[i];
		return 0;
	case K_COLUMNS:
		return parse_columns(ps, d, e);
	case K_KEY:
		x->key_line = e->line;
		return parse_key(ps, d, e);
	case K_DECIMAL_COMMA:
		if (!parse_bool(v, &d->decimal_comma))
			return fail(ps, e->line, "decimal_comma: expected true or false, not '%.*s'",
				    show_len(v), v);
		return 0;
	case K_EXPECT:
		return parse_expect(ps, d, e);
	case K_EVOLUTION:
		i = pick(v, evolutions, 3);
		if (i < 0)
			return fail(ps, e->line, "evolution: expected add, drop or fail, not '%.*s'",
				    show_len(v), v);
		d->evolution = i == 0 ? MFS_EVOLVE_ADD : i == 1 ? MFS_EVOLVE_DROP : MFS_EVOLVE_FAIL;
		return 0;
	default:
		return set_step(ps, &d->steps, k, e);
	}
}

static int gold_entry(struct pstate *ps, enum key_id k, const struct mfs_ini_entry *e)
{
	static const char *const formats[] = { "csv", "jsonl" };
	struct mfs_gold_view *g = &ps->p->views[ps->cur];
	int i;

	if (k == K_FORMAT) {
		i = pick(e->value, formats, 2);
		if (i < 0)
			return fail(ps, e->line, "format: expected csv or jsonl, not '%.*s'",
				    show_len(e->value), e->value);
		g->format = i ? MFS_OUT_JSONL : MFS_OUT_CSV;
		return 0;
	}
	if (!e->value[0])
		return fail(ps, e->line, "sql: empty");
	g->sql = strdup(e->value);
	if (!g->sql)
		return fail(ps, e->line, "out of memory");
	g->line = e->value_line;
	g->col = e->value_col;
	return 0;
}

/* ---- sections ---- */

static int valid_name(const char *s)
{
	size_t i;

	if (!s[0] || s[0] == '.' || strlen(s) > 200)
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return 0;
	return 1;
}

static int new_section(struct pstate *ps, const struct mfs_ini_entry *e)
{
	struct mfs_pipeline *p = ps->p;
	const char *s = e->section, *sp = strchr(s, ' '), *name = sp ? sp + 1 : "";
	size_t kl = sp ? (size_t)(sp - s) : strlen(s), i;
	void *np;

	memset(ps->seen, 0, sizeof(ps->seen));
	if (kl == 6 && !strncasecmp(s, "silver", 6)) {
		if (sp)
			return fail(ps, e->line, "[silver] takes no name");
		if (ps->silver_line)
			return fail(ps, e->line, "a second [silver] section (the first is at line %d)",
				    ps->silver_line);
		ps->silver_line = e->line;
		ps->kind = SEC_SILVER;
		return 0;
	}
	if (kl == 7 && !strncasecmp(s, "dataset", 7)) {
		if (!sp)
			return fail(ps, e->line, "a dataset needs a name: [dataset NAME]");
		if (!valid_name(name))
			return fail(ps, e->line,
				    "dataset name '%s': use letters, digits, '_', '-' and '.'", name);
		for (i = 0; i < p->ndatasets; i++)
			if (lc_eq(p->datasets[i].name, name))
				return fail(ps, e->line, "[dataset %s] is declared twice (first at line %d)",
					    name, p->datasets[i].line);
		np = realloc(p->datasets, (p->ndatasets + 1) * sizeof(*p->datasets));
		if (!np)
			return fail(ps, e->line, "out of memory");
		p->datasets = np;
		np = realloc(ps->dx, (p->ndatasets + 1) * sizeof(*ps->dx));
		if (!np)
			return fail(ps, e->line, "out of memory");
		ps->dx = np;
		ps->cur = p->ndatasets++;
		memset(&p->datasets[ps->cur], 0, sizeof(p->datasets[0]));
		memset(&ps->dx[ps->cur], 0, sizeof(ps->dx[0]));
		p->datasets[ps->cur].name = strdup(name);
		p->datasets[ps->cur].line = e->line;
		p->datasets[ps->cur].evolution = MFS_EVOLVE_ADD;
		ps->dx[ps->cur].prefix_line = e->line;
		ps->kind = SEC_DATASET;
		return p->datasets[ps->cur].name ? 0 : fail(ps, e->line, "out of memory");
	}
	if (kl == 4 && !strncasecmp(s, "gold", 4)) {
		if (!sp)
			return fail(ps, e->line, "a gold view needs a name: [gold NAME]");
		if (!valid_name(name))
			return fail(ps, e->line,
				    "gold view name '%s': use letters, digits, '_', '-' and '.'", name);
		for (i = 0; i < p->nviews; i++)
			if (lc_eq(p->views[i].name, name))
				return fail(ps, e->line, "[gold %s] is declared twice (first at line %d)",
					    name, ps->view_lines[i]);
		np = realloc(p->views, (p->nviews + 1) * sizeof(*p->views));
		if (!np)
			return fail(ps, e->line, "out of memory");
		p->views = np;
		np = realloc(ps->view_lines, (p->nviews + 1) * sizeof(*ps->view_lines));
		if (!np)
			return fail(ps, e->line, "out of memory");
		ps->view_lines = np;
		ps->view_lines[p->nviews] = e->line;
		ps->cur = p->nviews++;
		memset(&p->views[ps->cur], 0, sizeof(p->views[0]));
		p->views[ps->cur].name = strdup(name);
		p->views[ps->cur].line = e->line; /* until sql says where it starts */
		ps->kind = SEC_GOLD;
		return p->views[ps->cur].name ? 0 : fail(ps, e->line, "out of memory");
	}
	return fail(ps, e->line,
		    "unknown section [%s] (expected [silver], [dataset NAME] or [gold NAME])", s);
}

static const char *section_label(struct pstate *ps, char *buf, size_t len)
{
	if (ps->kind == SEC_SILVER)
		return "[silver]";
	if (ps->kind == SEC_DATASET)
		snprintf(buf, len, "[dataset %s]", ps->p->datasets[ps->cur].name);
	else
		snprintf(buf, len, "[gold %s]", ps->p->views[ps->cur].name);
	return buf;
}

static int on_entry(void *arg, const struct mfs_ini_entry *e, char *err, size_t errlen)
{
	struct pstate *ps = arg;
	unsigned allowed;
	char label[256];
	int k, rc;

	if (!e->key)
		return new_section(ps, e);
	if (ps->kind == SEC_NONE)
		return fail(ps, e->line, "'%s' before any section", e->key);
	allowed = ps->kind == SEC_SILVER ? KEYS_SILVER : ps->kind == SEC_DATASET ? KEYS_DATASET
										 : KEYS_GOLD;
	for (k = 0; k < K_MAX && strcmp(key_names[k], e->key); k++)
		;
	if (k == K_MAX || !(allowed & (1u << k))) {
		if (k < K_MAX && k != K_SQL && ps->kind != SEC_SILVER && (KEYS_SILVER & (1u << k)))
			return fail(ps, e->line, "'%s' belongs in [silver], not in %s", e->key,
				    section_label(ps, label, sizeof(label)));
		return fail(ps, e->line, "unknown key '%.*s' in %s%s", show_len(e->key), e->key,
			    section_label(ps, label, sizeof(label)),
			    strpbrk(e->key, " \t") ? " (a value continues only on indented lines)"
						   : "");
	}
	if (k != K_EXPECT && ps->seen[k])
		return fail(ps, e->line, "'%s' is set twice in %s (first at line %d)", e->key,
			    section_label(ps, label, sizeof(label)), ps->seen[k]);
	ps->seen[k] = e->line;
	if (ps->kind == SEC_SILVER) {
		rc = silver_entry(ps, (enum key_id)k, e);
		if (!rc && add_text(ps, &ps->silver_text, e->key, e->value))
			rc = fail(ps, e->line, "out of memory");
	} else if (ps->kind == SEC_DATASET) {
		rc = dataset_entry(ps, (enum key_id)k, e);
		if (!rc && add_text(ps, &ps->dx[ps->cur].text, e->key,
				    k == K_PREFIX ? ps->p->datasets[ps->cur].prefix : e->value))
			rc = fail(ps, e->line, "out of memory");
	} else {
		rc = gold_entry(ps, (enum key_id)k, e);
	}
	return rc;
}

/* Checks that need the whole file, and the inheritance from [silver]. */
static int finish(struct pstate *ps)
{
	struct mfs_pipeline *p = ps->p;
	struct mfs_dataset *d;
	struct ds_extra *x;
	size_t i, j, c;

	for (i = 0; i < p->ndatasets; i++) {
		d = &p->datasets[i];
		x = &ps->dx[i];
		if (!d->prefix) {
			/* [dataset sales] owns sales/ unless it says otherwise */
			d->prefix = malloc(strlen(d->name) + 2);
			if (!d->prefix)
				return fail(ps, d->line, "out of memory");
			sprintf(d->prefix, "%s/", d->name);
		}
		for (j = 0; j < i; j++)
			if (!strcmp(p->datasets[j].prefix, d->prefix))
				return fail(ps, x->prefix_line,
					    "prefix '%s' is already owned by [dataset %s] (line %d)",
					    d->prefix, p->datasets[j].name, p->datasets[j].line);
		if (d->ncolumns) {
			for (j = 0; j < d->nkey; j++) {
				for (c = 0; c < d->ncolumns; c++)
					if (lc_eq(d->columns[c].name, d->key[j]))
						break;
				if (c == d->ncolumns)
					return fail(ps, x->key_line,
						    "key: column '%s' is not among the declared columns",
						    d->key[j]);
			}
		}
		if (!(x->set & (1u << K_TRIM)))
			d->steps.trim = p->steps.trim;
		if (!(x->set & (1u << K_DEDUPE)))
			d->steps.dedupe = p->steps.dedupe;
		if (!(x->set & (1u << K_TYPES)))
			d->steps.infer_types = p->steps.infer_types;
		if (!(x->set & (1u << K_NAMES)))
			d->steps.normalize_names = p->steps.normalize_names;
		if (!(x->set & (1u << K_NULL_TOKENS)))
			d->steps.null_tokens = p->steps.null_tokens;
		d->section_text = x->text.data ? x->text.data : strdup("");
		x->text.data = NULL;
		if (!d->section_text)
			return fail(ps, d->line, "out of memory");
	}
	for (i = 0; i < p->nviews; i++)
		if (!p->views[i].sql)
			return fail(ps, ps->view_lines[i], "[gold %s] has no sql",
				    p->views[i].name);
	p->silver_text = ps->silver_text.data ? ps->silver_text.data : strdup("");
	ps->silver_text.data = NULL;
	if (!p->silver_text)
		return fail(ps, 1, "out of memory");
	return 0;
}

static struct mfs_pipeline *pipeline_new(const char *path)
{
	struct mfs_pipeline *p = calloc(1, sizeof(*p));
	size_t i, n = sizeof(default_null_tokens) / sizeof(default_null_tokens[0]);

	if (!p)
		return NULL;
	p->path = strdup(path);
	p->null_tokens = calloc(n, sizeof(char *));
	if (!p->path || !p->null_tokens)
		goto fail;
	for (i = 0; i < n; i++) {
		p->null_tokens[i] = strdup(default_null_tokens[i]);
		if (!p->null_tokens[i])
			goto fail;
		p->nnull_tokens++;
	}
	p->steps.trim = p->steps.null_tokens = p->steps.infer_types = 1;
	p->steps.normalize_names = p->steps.dedupe = 1;
	p->date_order = MFS_DATE_MDY;
	p->format = MFS_OUT_CSV;
	return p;
fail:
	mfs_pipeline_free(p);
	return NULL;
}

int mfs_pipeline_defaults(struct mfs_pipeline **out)
{
	struct mfs_pipeline *p = pipeline_new("(defaults)");

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->silver_text = strdup("");
	if (!p->silver_text) {
		mfs_pipeline_free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

int mfs_pipeline_parse(const char *text, size_t len, const char *path, struct mfs_pipeline **out,
		       char *err, size_t errlen)
{
	struct pstate ps;
	char ierr[512];
	size_t i;
	int rc;

	*out = NULL;
	if (!path)
		path = "(pipeline)";
	memset(&ps, 0, sizeof(ps));
	ps.path = path;
	ps.err = err;
	ps.errlen = errlen;
	ps.p = pipeline_new(path);
	if (!ps.p) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	ierr[0] = '\0';
	rc = mfs_ini_parse(text, len, on_entry, &ps, ierr, sizeof(ierr));
	if (rc && !ps.failed)
		snprintf(err, errlen, "%s:%s", path, ierr); /* ierr is "LINE: message" */
	if (!rc)
		rc = finish(&ps);
	for (i = 0; ps.dx && i < ps.p->ndatasets; i++)
		mfs_buf_free(&ps.dx[i].text);
	free(ps.dx);
	free(ps.view_lines);
	mfs_buf_free(&ps.silver_text);
	if (rc) {
		mfs_pipeline_free(ps.p);
		return rc;
	}
	*out = ps.p;
	return 0;
}

int mfs_pipeline_load(const char *path, struct mfs_pipeline **out, char *err, size_t errlen)
{
	struct mfs_buf b = MFS_BUF_INIT;
	char chunk[65536];
	ssize_t n;
	int fd, rc = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
			goto out;
		}
		if (!n)
			break;
		rc = mfs_buf_append(&b, chunk, (size_t)n);
		if (rc) {
			snprintf(err, errlen, "%s: out of memory", path);
			goto out;
		}
	}
	rc = mfs_pipeline_parse(b.data ? b.data : "", b.len, path, out, err, errlen);
out:
	close(fd);
	mfs_buf_free(&b);
	return rc;
}

void mfs_pipeline_free(struct mfs_pipeline *p)
{
	size_t i, j;

	if (!p)
		return;
	for (i = 0; i < p->ndatasets; i++) {
		struct mfs_dataset *d = &p->datasets[i];

		free(d->name);
		free(d->prefix);
		for (j = 0; j < d->ncolumns; j++)
			free(d->columns[j].name);
		free(d->columns);
		free_strv(d->key, d->nkey);
		for (j = 0; j < d->nexpects; j++) {
			free(d->expects[j].name);
			free(d->expects[j].text);
			mfs_expr_free(d->expects[j].expr);
		}
		free(d->expects);
		free(d->section_text);
	}
	free(p->datasets);
	for (i = 0; i < p->nviews; i++) {
		free(p->views[i].name);
		free(p->views[i].sql);
	}
	free(p->views);
	free_strv(p->null_tokens, p->nnull_tokens);
	free(p->silver_text);
	free(p->path);
	free(p);
}

const struct mfs_dataset *mfs_pipeline_dataset_for(const struct mfs_pipeline *p, const char *key)
{
	const struct mfs_dataset *best = NULL;
	size_t i, n, best_len = 0;

	while (*key == '/')
		key++;
	for (i = 0; i < p->ndatasets; i++) {
		n = strlen(p->datasets[i].prefix);
		if (!strncmp(key, p->datasets[i].prefix, n) && (!best || n > best_len)) {
			best = &p->datasets[i];
			best_len = n;
		}
	}
	return best;
}

/* ---- the effective pipeline as text ---- */

/* A value that may span lines: every line after the first must start with
 * white space to continue it (lines read from a file always do). */
static int put_value(struct mfs_buf *b, const char *v)
{
	const char *nl;
	int rc = 0;

	while (!rc && (nl = strchr(v, '\n'))) {
		rc = mfs_buf_append(b, v, (size_t)(nl - v + 1));
		v = nl + 1;
		if (!rc && *v && *v != '\n' && !is_ws(*v))
			rc = mfs_buf_append(b, "    ", 4);
	}
	if (!rc)
		rc = mfs_buf_append(b, v, strlen(v));
	return rc ? rc : mfs_buf_append(b, "\n", 1);
}

static const char *type_text(const struct mfs_column_decl *c, char *buf, size_t len)
{
	switch (c->type) {
	case MFS_T_BOOL:
		return "boolean";
	case MFS_T_INT:
		return "bigint";
	case MFS_T_DECIMAL:
		snprintf(buf, len, "decimal(%d,%d)", 18, c->scale);
		return buf;
	case MFS_T_DOUBLE:
		return "double";
	case MFS_T_DATE:
		return "date";
	case MFS_T_TIMESTAMP:
		return "timestamp";
	default:
		return "varchar";
	}
}

static int render_steps(struct mfs_buf *b, const struct mfs_silver_steps *s, int dataset)
{
	int rc = mfs_buf_appendf(b, "trim = %s\ntypes = %s\nnames = %s\ndedupe = %s\n",
				 s->trim ? "true" : "false", s->infer_types ? "infer" : "off",
				 s->normalize_names ? "snake_case" : "keep",
				 s->dedupe ? "true" : "false");

	if (!rc && dataset)
		rc = mfs_buf_appendf(b, "null_tokens = %s\n", s->null_tokens ? "true" : "none");
	return rc;
}

static int render_dataset(struct mfs_buf *b, const struct mfs_dataset *d)
{
	static const char *const formats[] = { "auto", "csv", "tsv", "psv", "jsonl", "json" };
	static const char *const evolutions[] = { "add", "drop", "fail" };
	static const char *const actions[] = { "drop", "warn", "fail" };
	char tb[32];
	size_t i;
	int rc;

	rc = mfs_buf_appendf(b, "\n[dataset %s]\nprefix = %s\nformat = %s\n", d->name, d->prefix,
			     formats[d->format]);
	if (!rc && d->ncolumns) {
		rc = mfs_buf_append(b, "columns = ", 10);
		for (i = 0; i < d->ncolumns && !rc; i++) {
			if (i)
				rc = mfs_buf_append(b, ", ", 2);
			if (!rc)
				rc = put_item(b, d->columns[i].name, 0, ":");
			if (!rc)
				rc = mfs_buf_appendf(b, ":%s", type_text(&d->columns[i], tb,
									 sizeof(tb)));
		}
		if (!rc)
			rc = mfs_buf_append(b, "\n", 1);
	}
	if (!rc && d->nkey) {
		rc = mfs_buf_append(b, "key = ", 6);
		for (i = 0; i < d->nkey && !rc; i++) {
			if (i)
				rc = mfs_buf_append(b, ", ", 2);
			if (!rc)
				rc = put_item(b, d->key[i], 0, "");
		}
		if (!rc)
			rc = mfs_buf_append(b, "\n", 1);
	}
	if (!rc)
		rc = mfs_buf_appendf(b, "decimal_comma = %s\nevolution = %s\n",
				     d->decimal_comma ? "true" : "false", evolutions[d->evolution]);
	if (!rc)
		rc = render_steps(b, &d->steps, 1);
	for (i = 0; i < d->nexpects && !rc; i++) {
		struct mfs_buf line = MFS_BUF_INIT;

		rc = mfs_buf_appendf(&line, "%s: %s -> %s", d->expects[i].name, d->expects[i].text,
				     actions[d->expects[i].action]);
		if (!rc)
			rc = mfs_buf_append(b, "expect = ", 9);
		if (!rc)
			rc = put_value(b, line.data);
		mfs_buf_free(&line);
	}
	return rc;
}

char *mfs_pipeline_render(const struct mfs_pipeline *p)
{
	struct mfs_buf b = MFS_BUF_INIT;
	static const char *const orders[] = { "mdy", "dmy", "ymd" };
	size_t i;
	int rc;

	rc = mfs_buf_appendf(&b, "# the effective pipeline, from %s\n[silver]\nformat = %s\n"
				 "date_order = %s\nnull_tokens = ",
			     p->path, p->format == MFS_OUT_JSONL ? "jsonl" : "csv",
			     orders[p->date_order]);
	if (!rc && (!p->steps.null_tokens || !p->nnull_tokens))
		rc = mfs_buf_append(&b, "none", 4);
	for (i = 0; !rc && p->steps.null_tokens && i < p->nnull_tokens; i++) {
		if (i)
			rc = mfs_buf_append(&b, ", ", 2);
		if (!rc)
			rc = put_item(&b, p->null_tokens[i], p->nnull_tokens == 1, "");
	}
	if (!rc)
		rc = mfs_buf_append(&b, "\n", 1);
	if (!rc)
		rc = render_steps(&b, &p->steps, 0);
	for (i = 0; i < p->ndatasets && !rc; i++)
		rc = render_dataset(&b, &p->datasets[i]);
	for (i = 0; i < p->nviews && !rc; i++) {
		rc = mfs_buf_appendf(&b, "\n[gold %s]\nformat = %s\nsql = ", p->views[i].name,
				     p->views[i].format == MFS_OUT_JSONL ? "jsonl" : "csv");
		if (!rc)
			rc = put_value(&b, p->views[i].sql);
	}
	if (rc) {
		mfs_buf_free(&b);
		return NULL;
	}
	return b.data;
}
