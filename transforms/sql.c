/*
 * sql.c - the SELECT statement of gold's SQL subset (SPEC §5): a
 * recursive-descent parser over the expression language's lexer, which
 * parses each expression of the statement with mfs_expr_parse_lex(), so
 * that gold and silver expectations share one grammar for expressions.
 *
 * It only builds the tree (struct mfs_gold_query in aggregate.h); names
 * are resolved by mfs_gold_bind() in gold.c. Also here: the names DuckDB
 * gives to unaliased expressions ("sum(amount)", "count_star()"), since
 * they are made from the syntax.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/buf.h"
#include "aggregate.h"

struct sp {
	struct mfs_lexer lx;
	struct mfs_expr_error *err;
	struct mfs_gold_query *q;
};

#define TOK (&P->lx.tok)

static int fail(struct sp *P, const struct mfs_token *t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct sp *P, const struct mfs_token *t, const char *fmt, ...)
{
	va_list ap;

	if (P->err) {
		P->err->line = t->line;
		P->err->col = t->col;
		va_start(ap, fmt);
		vsnprintf(P->err->msg, sizeof(P->err->msg), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* "expected X at/near TOKEN" */
static int expected(struct sp *P, const char *what)
{
	if (TOK->kind == MFS_TOK_EOF)
		return fail(P, TOK, "syntax error: expected %s at end of input", what);
	return fail(P, TOK, "syntax error: expected %s at or near \"%.*s\"", what,
		    (int)(TOK->len > 40 ? 40 : TOK->len), TOK->p);
}

static int next(struct sp *P)
{
	return mfs_lex_next(&P->lx, P->err);
}

static int accept_kw(struct sp *P, const char *kw, int *rc)
{
	if (!mfs_tok_is_kw(TOK, kw))
		return 0;
	*rc = next(P);
	return 1;
}

static int expect_kw(struct sp *P, const char *kw, const char *what)
{
	if (!mfs_tok_is_kw(TOK, kw))
		return expected(P, what);
	return next(P);
}

/* Words that end a clause where an alias could stand: not names here. */
static int is_clause_word(const struct mfs_token *t)
{
	static const char *const words[] = { "left", "inner", "outer", "right", "full", "cross",
					      "natural", "using", "offset", "nulls", "window",
					      "qualify", "except", "intersect" };
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (mfs_tok_is_kw(t, words[i]))
			return 1;
	return 0;
}

static int is_name_tok(const struct mfs_token *t)
{
	return t->kind == MFS_TOK_QIDENT ||
	       (t->kind == MFS_TOK_IDENT && !mfs_expr_is_reserved(t->p, t->len) &&
		!is_clause_word(t));
}

/* The identifier at the current token (quotes removed), malloc'd. */
static int take_name(struct sp *P, char **out, const char *what)
{
	const struct mfs_token *t = TOK;
	char *s;
	size_t i, k = 0;

	if (!is_name_tok(t))
		return expected(P, what);
	if (t->kind == MFS_TOK_IDENT) {
		s = strndup(t->p, t->len);
	} else {
		s = malloc(t->len);
		if (s) {
			for (i = 1; i + 1 < t->len; i++) {
				s[k++] = t->p[i];
				if (t->p[i] == '"')
					i++;
			}
			s[k] = '\0';
		}
	}
	if (!s)
		return fail(P, t, "out of memory");
	if (!*s || strlen(s) != (t->kind == MFS_TOK_IDENT ? t->len : k)) {
		free(s);
		return fail(P, t, "empty or invalid name");
	}
	*out = s;
	return next(P);
}

static int parse_expr(struct sp *P, struct mfs_expr **out)
{
	if (TOK->kind == MFS_TOK_EOF)
		return expected(P, "an expression");
	return mfs_expr_parse_lex(&P->lx, out, P->err);
}

/* [AS] alias, after an expression or a dataset name. */
static int opt_alias(struct sp *P, char **alias)
{
	int rc = 0;

	if (accept_kw(P, "as", &rc)) {
		if (rc)
			return rc;
		return take_name(P, alias, "a name after AS");
	}
	if (is_name_tok(TOK))
		return take_name(P, alias, "a name");
	return 0;
}

/* s.* : looks two tokens ahead on a copy of the lexer. */
static int at_qualified_star(struct sp *P)
{
	struct mfs_lexer save = P->lx;
	struct mfs_expr_error e;
	int yes = 0;

	if (!is_name_tok(TOK))
		return 0;
	if (!mfs_lex_next(&save, &e) && mfs_tok_is_op(&save.tok, ".") &&
	    !mfs_lex_next(&save, &e) && mfs_tok_is_op(&save.tok, "*"))
		yes = 1;
	return yes;
}

static int grow(void **arr, size_t n, size_t size)
{
	void *p;

	/* power-of-two capacities: grow when n is one */
	if (n & (n - 1))
		return 0;
	p = realloc(*arr, (n ? n * 2 : 1) * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	return 0;
}

static int parse_items(struct sp *P)
{
	struct mfs_gold_query *q = P->q;
	struct gold_item *it;
	int rc;

	for (;;) {
		if (grow((void **)&q->items, q->nitems, sizeof(*q->items)))
			return fail(P, TOK, "out of memory");
		it = &q->items[q->nitems];
		memset(it, 0, sizeof(*it));
		it->line = TOK->line;
		it->col = TOK->col;
		q->nitems++; /* counted first: whatever it holds is freed with the query */
		if (mfs_tok_is_op(TOK, "*")) {
			rc = next(P);
		} else if (at_qualified_star(P)) {
			rc = take_name(P, &it->star_qual, "a name");
			if (!rc)
				rc = next(P); /* . */
			if (!rc)
				rc = next(P); /* * */
		} else {
			rc = parse_expr(P, &it->e);
			if (rc)
				return rc;
			rc = opt_alias(P, &it->alias);
		}
		if (rc)
			return rc;
		if (!mfs_tok_is_op(TOK, ","))
			return 0;
		rc = next(P);
		if (rc)
			return rc;
	}
}

static int parse_dataset(struct sp *P, int left, int join)
{
	struct mfs_gold_query *q = P->q;
	struct gold_ds *d;
	int rc;

	if (grow((void **)&q->ds, q->nds, sizeof(*q->ds)))
		return fail(P, TOK, "out of memory");
	d = &q->ds[q->nds];
	memset(d, 0, sizeof(*d));
	d->line = TOK->line;
	d->col = TOK->col;
	d->left = left;
	q->nds++; /* counted first: whatever it holds is freed with the query */
	rc = take_name(P, &d->name, "a dataset name");
	if (rc)
		return rc;
	rc = opt_alias(P, &d->alias);
	if (rc || !join)
		return rc;
	rc = expect_kw(P, "on", "ON");
	if (!rc)
		rc = parse_expr(P, &d->on);
	return rc;
}

static int parse_joins(struct sp *P)
{
	int rc = 0, left;

	for (;;) {
		left = 0;
		if (mfs_tok_is_kw(TOK, "left")) {
			left = 1;
			rc = next(P);
			if (!rc && mfs_tok_is_kw(TOK, "outer"))
				rc = next(P);
			if (!rc)
				rc = expect_kw(P, "join", "JOIN");
		} else if (mfs_tok_is_kw(TOK, "inner")) {
			rc = next(P);
			if (!rc)
				rc = expect_kw(P, "join", "JOIN");
		} else if (mfs_tok_is_kw(TOK, "join")) {
			rc = next(P);
		} else if (mfs_tok_is_kw(TOK, "right") || mfs_tok_is_kw(TOK, "full") ||
			   mfs_tok_is_kw(TOK, "cross") || mfs_tok_is_kw(TOK, "natural")) {
			return fail(P, TOK, "only INNER and LEFT joins are supported");
		} else {
			return 0;
		}
		if (!rc)
			rc = parse_dataset(P, left, 1);
		if (rc)
			return rc;
	}
}

static int parse_group(struct sp *P)
{
	struct mfs_gold_query *q = P->q;
	int rc;

	for (;;) {
		if (grow((void **)&q->group, q->ngroup, sizeof(*q->group)))
			return fail(P, TOK, "out of memory");
		rc = parse_expr(P, &q->group[q->ngroup]);
		if (rc)
			return rc;
		q->ngroup++;
		if (!mfs_tok_is_op(TOK, ","))
			return 0;
		rc = next(P);
		if (rc)
			return rc;
	}
}

static int parse_order(struct sp *P)
{
	struct mfs_gold_query *q = P->q;
	struct gold_order *o;
	int rc = 0;

	for (;;) {
		if (grow((void **)&q->order, q->norder, sizeof(*q->order)))
			return fail(P, TOK, "out of memory");
		o = &q->order[q->norder];
		memset(o, 0, sizeof(*o));
		o->out = -1;
		o->line = TOK->line;
		o->col = TOK->col;
		rc = parse_expr(P, &o->e);
		if (rc)
			return rc;
		q->norder++;
		if (accept_kw(P, "desc", &rc))
			o->desc = 1;
		else if (!rc)
			accept_kw(P, "asc", &rc);
		if (rc)
			return rc;
		if (accept_kw(P, "nulls", &rc)) {
			if (rc)
				return rc;
			if (accept_kw(P, "first", &rc))
				o->nulls_first = 1;
			else if (!rc && !accept_kw(P, "last", &rc))
				return expected(P, "FIRST or LAST");
			if (rc)
				return rc;
		}
		if (!mfs_tok_is_op(TOK, ","))
			return 0;
		rc = next(P);
		if (rc)
			return rc;
	}
}

static int parse_limit(struct sp *P)
{
	struct mfs_gold_query *q = P->q;
	int64_t v = 0;
	size_t i;

	if (TOK->kind != MFS_TOK_INT)
		return expected(P, "a number after LIMIT");
	for (i = 0; i < TOK->len; i++) {
		if (TOK->p[i] < '0' || TOK->p[i] > '9')
			return expected(P, "a number after LIMIT");
		if (v > (INT64_MAX - 9) / 10)
			return fail(P, TOK, "LIMIT is too large");
		v = v * 10 + (TOK->p[i] - '0');
	}
	q->limit = v;
	return next(P);
}

static int parse_stmt(struct sp *P)
{
	struct mfs_gold_query *q = P->q;
	int rc = 0;

	if (!mfs_tok_is_kw(TOK, "select"))
		return expected(P, "SELECT");
	rc = next(P);
	if (!rc && accept_kw(P, "distinct", &rc))
		q->distinct = 1;
	else if (!rc)
		accept_kw(P, "all", &rc);
	if (!rc)
		rc = parse_items(P);
	if (!rc)
		rc = expect_kw(P, "from", "FROM or ','");
	if (!rc)
		rc = parse_dataset(P, 0, 0);
	if (!rc)
		rc = parse_joins(P);
	if (!rc && accept_kw(P, "where", &rc) && !rc)
		rc = parse_expr(P, &q->where);
	if (!rc && mfs_tok_is_kw(TOK, "group")) {
		rc = next(P);
		if (!rc)
			rc = expect_kw(P, "by", "BY");
		if (!rc)
			rc = parse_group(P);
	}
	if (!rc && accept_kw(P, "having", &rc) && !rc)
		rc = parse_expr(P, &q->having);
	if (!rc && mfs_tok_is_kw(TOK, "order")) {
		rc = next(P);
		if (!rc)
			rc = expect_kw(P, "by", "BY");
		if (!rc)
			rc = parse_order(P);
	}
	if (!rc && accept_kw(P, "limit", &rc) && !rc)
		rc = parse_limit(P);
	if (!rc && mfs_tok_is_op(TOK, ";"))
		rc = next(P);
	if (!rc && TOK->kind != MFS_TOK_EOF)
		rc = expected(P, "end of statement");
	return rc;
}

int mfs_gold_parse(const char *sql, size_t len, struct mfs_gold_query **out,
		   struct mfs_expr_error *err)
{
	struct mfs_gold_query *q = calloc(1, sizeof(*q));
	struct sp P = { .err = err };
	int rc;

	*out = NULL;
	if (err) {
		err->line = 1;
		err->col = 1;
		err->msg[0] = '\0';
	}
	if (!q)
		return -ENOMEM;
	q->limit = -1;
	q->sql = malloc(len + 1);
	if (!q->sql) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(q->sql, sql, len);
	q->sql[len] = '\0';
	q->sql_len = len;
	P.q = q;
	rc = mfs_lex_init(&P.lx, q->sql, len, err);
	if (!rc)
		rc = parse_stmt(&P);
out:
	if (rc) {
		mfs_gold_free(q);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	*out = q;
	return 0;
}

size_t mfs_gold_ndatasets(const struct mfs_gold_query *q)
{
	return q->nds;
}

const char *mfs_gold_dataset(const struct mfs_gold_query *q, size_t i)
{
	return i < q->nds ? q->ds[i].name : NULL;
}

void mfs_gold_free(struct mfs_gold_query *q)
{
	size_t i;

	if (!q)
		return;
	mfs_gold_query_free_parts(q);
	for (i = 0; i < q->nitems; i++) {
		mfs_expr_free(q->items[i].e);
		free(q->items[i].alias);
		free(q->items[i].star_qual);
	}
	free(q->items);
	for (i = 0; i < q->nds; i++) {
		free(q->ds[i].name);
		free(q->ds[i].alias);
		mfs_expr_free(q->ds[i].on);
	}
	free(q->ds);
	mfs_expr_free(q->where);
	mfs_expr_free(q->having);
	for (i = 0; i < q->ngroup; i++)
		mfs_expr_free(q->group[i]);
	free(q->group);
	for (i = 0; i < q->norder; i++)
		mfs_expr_free(q->order[i].e);
	free(q->order);
	free(q->sql);
	free(q);
}

/* ---- DuckDB's names for expressions ---- */

static const char *const fn_names[] = { "lower", "upper", "trim", "length", "coalesce",
					"round", "abs", "substr", "date_trunc", "year",
					"month", "day" };
static const char *const agg_names[] = { "count_star", "count", "sum", "avg", "min", "max" };
static const char *const op_names[] = { "+", "-", "*", "/", "%", "=", "!=", "<", "<=", ">", ">=" };

static int name_of(struct mfs_buf *b, const struct mfs_gold_query *q, const struct mfs_expr *e,
		   int top);

static int name_kids(struct mfs_buf *b, const struct mfs_gold_query *q, const struct mfs_expr *e,
		     size_t from, const char *sep)
{
	size_t i;
	int rc = 0;

	for (i = from; i < e->nkids && !rc; i++) {
		if (i > from)
			rc = mfs_buf_appendf(b, "%s", sep);
		if (!rc)
			rc = name_of(b, q, e->kids[i], 0);
	}
	return rc;
}

static int name_of(struct mfs_buf *b, const struct mfs_gold_query *q, const struct mfs_expr *e,
		   int top)
{
	int rc;

	switch (e->kind) {
	case MFS_E_COLUMN:
		/* a bare column keeps its name; inside an expression DuckDB
		 * keeps the qualifier as written */
		if (top && e->qual_len)
			return mfs_buf_appendf(b, "%s", e->name + e->qual_len + 1);
		return mfs_buf_appendf(b, "%s", e->name);
	case MFS_E_ARITH:
	case MFS_E_CMP:
		rc = mfs_buf_appendf(b, "(");
		if (!rc)
			rc = name_of(b, q, e->kids[0], 0);
		if (!rc)
			rc = mfs_buf_appendf(b, " %s ", e->op >= 0 && e->op <= MFS_OP_GE ?
							   op_names[e->op] : "?");
		if (!rc)
			rc = name_of(b, q, e->kids[1], 0);
		return rc ? rc : mfs_buf_appendf(b, ")");
	case MFS_E_AND:
	case MFS_E_OR:
		rc = mfs_buf_appendf(b, "(");
		if (!rc)
			rc = name_kids(b, q, e, 0, e->kind == MFS_E_AND ? " AND " : " OR ");
		return rc ? rc : mfs_buf_appendf(b, ")");
	case MFS_E_CONCAT:
		rc = mfs_buf_appendf(b, "(");
		if (!rc)
			rc = name_kids(b, q, e, 0, " || ");
		return rc ? rc : mfs_buf_appendf(b, ")");
	case MFS_E_NOT:
		rc = mfs_buf_appendf(b, "(NOT ");
		if (!rc)
			rc = name_of(b, q, e->kids[0], 0);
		return rc ? rc : mfs_buf_appendf(b, ")");
	case MFS_E_NEG:
		rc = mfs_buf_appendf(b, "-");
		return rc ? rc : name_of(b, q, e->kids[0], 0);
	case MFS_E_IS_NULL:
		rc = mfs_buf_appendf(b, "(");
		if (!rc)
			rc = name_of(b, q, e->kids[0], 0);
		return rc ? rc : mfs_buf_appendf(b, " IS %sNULL)", e->negated ? "NOT " : "");
	case MFS_E_CALL:
		rc = mfs_buf_appendf(b, "%s(", e->op >= 0 && e->op <= MFS_FN_DAY ?
						     fn_names[e->op] : "?");
		if (!rc)
			rc = name_kids(b, q, e, 0, ", ");
		return rc ? rc : mfs_buf_appendf(b, ")");
	case MFS_E_AGG:
		if (e->op == MFS_AGG_COUNT_STAR)
			return mfs_buf_appendf(b, "count_star()");
		rc = mfs_buf_appendf(b, "%s(%s", e->op >= 0 && e->op <= MFS_AGG_MAX ?
						       agg_names[e->op] : "?",
				     e->distinct ? "DISTINCT " : "");
		if (!rc)
			rc = name_kids(b, q, e, 0, ", ");
		return rc ? rc : mfs_buf_appendf(b, ")");
	case MFS_E_CAST: {
		char tn[32];

		rc = mfs_buf_appendf(b, "%s(", e->op ? "TRY_CAST" : "CAST");
		if (!rc)
			rc = name_of(b, q, e->kids[0], 0);
		return rc ? rc : mfs_buf_appendf(b, " AS %s)",
						 mfs_expr_type_name(e->cast_type, e->cast_scale,
								    tn, sizeof(tn)));
	}
	default:
		/* literals and the rest: the text as written */
		if (e->end > e->off && e->end <= q->sql_len)
			return mfs_buf_append(b, q->sql + e->off, e->end - e->off);
		return mfs_buf_appendf(b, "?");
	}
}

char *mfs_gold_expr_name(const struct mfs_gold_query *q, const struct mfs_expr *e)
{
	struct mfs_buf b = MFS_BUF_INIT;

	if (name_of(&b, q, e, 1) || !b.data) {
		mfs_buf_free(&b);
		return strdup("?");
	}
	return b.data;
}
