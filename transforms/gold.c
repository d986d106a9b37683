/*
 * gold.c - the gold engine (gold.h): binds a parsed SELECT to the datasets'
 * combined schemas, loads JOINed dimensions into hash tables, turns one
 * silver file of the FROM dataset into a partial result, merges partials
 * into the view's CSV/JSONL, and profiles datasets.
 *
 * Rows are evaluated in one "combined row": the columns of every dataset
 * of the query side by side (FROM first, then each JOIN's), followed, in
 * aggregate queries, by one slot per distinct aggregate whose MFS_E_AGG
 * nodes point there (node->index). An aggregate query's SELECT, HAVING and
 * ORDER BY are evaluated at finish on a row holding the group's
 * representative values of the columns they read outside aggregates
 * (bind has checked those only appear inside GROUP BY expressions, so any
 * row of the group gives the same answer) plus the aggregate results.
 *
 * Partial format (MFS_GOLD_FORMAT_VERSION): "MFSG" + version byte + kind
 * ('A' groups, 'R' rows), then records: 'G' key-length key rep-values
 * states..., or 'R' values...; 'E' ends it. Values as aggregate.c encodes
 * them. Group order is first-seen, so finish over partials of any split of
 * the same row sequence gives the same bytes.
 *
 * DESIGN: a bound query and loaded dims are read-only; every call keeps
 * its scratch (arena, buffers, hash tables) on its own, so partial() and
 * finish() may run on several threads at once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/buf.h"
#include "../util/err.h"
#include "aggregate.h"
#include "reader.h"
#include "types.h"

#define FLUSH_AT 65536

/* ---- binding ---- */

struct rctx {
	const struct mfs_gold_query *q;
};

static int ds_matches(const struct gold_ds *d, const char *qual, size_t n)
{
	const char *nm = d->alias ? d->alias : d->name;

	return strlen(nm) == n && !strncasecmp(nm, qual, n);
}

static long ds_col(const struct gold_ds *d, const char *name, size_t n)
{
	size_t j;

	for (j = 0; j < d->ncols; j++)
		if (strlen(d->cols[j].name) == n && !strncasecmp(d->cols[j].name, name, n))
			return (long)j;
	return -1;
}

/*
 * Resolve a column: 0 with the combined index; -ENOENT unknown column,
 * -ENXIO unknown qualifier, -EEXIST ambiguous.
 */
static int resolve_name(const struct mfs_gold_query *q, const char *name, size_t len,
			size_t qual_len, size_t *index)
{
	size_t i, hits = 0;
	long j;

	if (qual_len) {
		for (i = 0; i < q->nds; i++) {
			if (!ds_matches(&q->ds[i], name, qual_len))
				continue;
			j = ds_col(&q->ds[i], name + qual_len + 1, len - qual_len - 1);
			if (j < 0)
				return -ENOENT;
			*index = q->ds[i].off + (size_t)j;
			return 0;
		}
		return -ENXIO;
	}
	for (i = 0; i < q->nds; i++) {
		j = ds_col(&q->ds[i], name, len);
		if (j >= 0) {
			*index = q->ds[i].off + (size_t)j;
			hits++;
		}
	}
	return hits == 1 ? 0 : hits ? -EEXIST : -ENOENT;
}

static const struct mfs_gold_column *comb_col(const struct mfs_gold_query *q, size_t index)
{
	size_t i;

	for (i = q->nds; i-- > 0;)
		if (index >= q->ds[i].off)
			return &q->ds[i].cols[index - q->ds[i].off];
	return NULL;
}

static int resolve_cb(void *arg, const char *name, size_t len, int *index, enum mfs_type *type,
		      int *scale)
{
	struct rctx *r = arg;
	const struct mfs_gold_column *c;
	const char *dot = memchr(name, '.', len);
	size_t idx;
	int rc = resolve_name(r->q, name, len, 0, &idx);

	if (rc == -ENOENT && dot)
		rc = resolve_name(r->q, name, len, (size_t)(dot - name), &idx);
	if (rc)
		return -ENOENT;
	c = comb_col(r->q, idx);
	*index = (int)idx;
	*type = c->type;
	*scale = c->scale;
	return 0;
}

static int set_err(struct mfs_expr_error *err, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int set_err(struct mfs_expr_error *err, int line, int col, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->line = line;
		err->col = col;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

struct precheck {
	const struct mfs_gold_query *q;
	struct mfs_expr_error *err;
	const char *no_agg;   /* clause name when aggregates are refused */
	int lenient;          /* check(): unknown columns may be in undeclared datasets */
	const struct mfs_gold_schema *schemas;
};

static int precheck_fn(void *arg, struct mfs_expr *e)
{
	struct precheck *p = arg;
	size_t idx;
	int rc;

	if (e->kind == MFS_E_AGG && p->no_agg)
		return set_err(p->err, e->line, e->col, "%s cannot contain aggregates", p->no_agg);
	if (e->kind != MFS_E_COLUMN)
		return 0;
	rc = resolve_name(p->q, e->name, e->name_len, e->qual_len, &idx);
	if (rc == -ENOENT && !e->qual_len && memchr(e->name, '.', e->name_len))
		rc = resolve_name(p->q, e->name, e->name_len,
				  (size_t)((char *)memchr(e->name, '.', e->name_len) - e->name), &idx);
	if (!rc)
		return 0;
	if (rc == -EEXIST)
		return set_err(p->err, e->line, e->col, "ambiguous reference to column name \"%s\"",
			       e->name);
	if (rc == -ENXIO)
		return set_err(p->err, e->line, e->col, "referenced dataset \"%.*s\" not found",
			       (int)e->qual_len, e->name);
	if (p->lenient) {
		size_t i;

		/* an undeclared dataset may still have it */
		for (i = 0; i < p->q->nds; i++)
			if (!p->schemas[i].ncols &&
			    (!e->qual_len || ds_matches(&p->q->ds[i], e->name, e->qual_len)))
				return 0;
	}
	if (p->q->nds == 1)
		return set_err(p->err, e->line, e->col, "column %s not in dataset %s",
			       e->qual_len ? e->name + e->qual_len + 1 : e->name, p->q->ds[0].name);
	return set_err(p->err, e->line, e->col, "column \"%s\" not found", e->name);
}

static int bind_expr(struct mfs_gold_query *q, struct mfs_expr *e, const char *no_agg,
		     struct mfs_expr_error *err)
{
	struct precheck p = { q, err, no_agg, 0, NULL };
	struct rctx r = { q };
	int rc = mfs_expr_walk(e, precheck_fn, &p);

	if (!rc)
		rc = mfs_expr_bind(e, resolve_cb, &r, no_agg == NULL, err);
	return rc;
}

/* Like mfs_expr_equal, but columns compare by what they are bound to. */
static int same(const struct mfs_expr *a, const struct mfs_expr *b)
{
	size_t i;

	if (a->kind == MFS_E_COLUMN && b->kind == MFS_E_COLUMN && a->bound && b->bound)
		return a->index == b->index;
	if (a->kind != b->kind || a->nkids != b->nkids || a->op != b->op ||
	    a->negated != b->negated || a->distinct != b->distinct)
		return 0;
	if (!a->nkids || a->kind == MFS_E_CAST)
		return mfs_expr_equal(a, b);
	for (i = 0; i < a->nkids; i++)
		if (!same(a->kids[i], b->kids[i]))
			return 0;
	return a->kind != MFS_E_CASE ||
	       (a->has_operand == b->has_operand && a->has_else == b->has_else);
}

static int has_agg_fn(void *arg, struct mfs_expr *e)
{
	(void)arg;
	return e->kind == MFS_E_AGG ? -EEXIST : 0;
}

static int has_agg(struct mfs_expr *e)
{
	return e && mfs_expr_walk(e, has_agg_fn, NULL) == -EEXIST;
}

void mfs_gold_query_free_parts(struct mfs_gold_query *q)
{
	size_t i;

	for (i = 0; i < q->nouts; i++) {
		free(q->outs[i].name);
		if (q->outs[i].col >= 0)
			mfs_expr_free((struct mfs_expr *)q->outs[i].e);
	}
	free(q->outs);
	q->outs = NULL;
	q->nouts = 0;
	free(q->gexpr);
	q->gexpr = NULL;
	q->ngexpr = 0;
	free(q->aggs);
	q->aggs = NULL;
	q->naggs = 0;
	free(q->need);
	q->need = NULL;
	q->nneed = 0;
	for (i = 0; i < q->nds; i++) {
		size_t j;

		for (j = 0; q->ds[i].cols && j < q->ds[i].ncols; j++)
			free((char *)q->ds[i].cols[j].name);
		free(q->ds[i].cols);
		q->ds[i].cols = NULL;
		q->ds[i].ncols = 0;
		free(q->ds[i].lkeys);
		free(q->ds[i].rkeys);
		free(q->ds[i].ktype);
		free(q->ds[i].kscale);
		q->ds[i].lkeys = q->ds[i].rkeys = NULL;
		q->ds[i].ktype = NULL;
		q->ds[i].kscale = NULL;
		q->ds[i].nkeys = 0;
	}
	q->bound = 0;
	q->is_agg = 0;
	q->nokeys = 0;
}

/* A bound COLUMN node for a star's column. */
static struct mfs_expr *synth_column(const struct mfs_gold_query *q, size_t index, int line,
				     int col)
{
	const struct mfs_gold_column *c = comb_col(q, index);
	struct mfs_expr *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->kind = MFS_E_COLUMN;
	e->name = strdup(c->name);
	if (!e->name) {
		free(e);
		return NULL;
	}
	e->name_len = strlen(e->name);
	e->line = line;
	e->col = col;
	e->depth = 1;
	e->index = (int)index;
	e->type = c->type;
	e->scale = c->type == MFS_T_DECIMAL ? c->scale : 0;
	e->bound = 1;
	return e;
}

static int add_out(struct mfs_gold_query *q, const struct mfs_expr *e, int col, const char *name)
{
	struct gold_out *o;

	o = realloc(q->outs, (q->nouts + 1) * sizeof(*o));
	if (!o)
		return -ENOMEM;
	q->outs = o;
	o = &q->outs[q->nouts];
	memset(o, 0, sizeof(*o));
	o->e = e;
	o->col = col;
	o->name = name ? strdup(name) : mfs_gold_expr_name(q, e);
	if (!o->name)
		return -ENOMEM;
	o->type = mfs_expr_type(e, &o->scale);
	q->nouts++;
	return 0;
}

static int expand_star(struct mfs_gold_query *q, const struct gold_item *it,
		       struct mfs_expr_error *err)
{
	size_t i, j, hit = 0;
	struct mfs_expr *e;
	int rc;

	for (i = 0; i < q->nds; i++) {
		if (it->star_qual && !ds_matches(&q->ds[i], it->star_qual, strlen(it->star_qual)))
			continue;
		hit = 1;
		for (j = 0; j < q->ds[i].ncols; j++) {
			e = synth_column(q, q->ds[i].off + j, it->line, it->col);
			if (!e)
				return -ENOMEM;
			rc = add_out(q, e, (int)(q->ds[i].off + j), q->ds[i].cols[j].name);
			if (rc) {
				mfs_expr_free(e);
				return rc;
			}
		}
	}
	if (!hit)
		return set_err(err, it->line, it->col, "referenced dataset \"%s\" not found",
			       it->star_qual);
	return 0;
}

static int add_gexpr(struct mfs_gold_query *q, const struct mfs_expr *e)
{
	const struct mfs_expr **g = realloc(q->gexpr, (q->ngexpr + 1) * sizeof(*g));

	if (!g)
		return -ENOMEM;
	q->gexpr = g;
	g[q->ngexpr++] = e;
	return 0;
}

/* An INT literal: a position (1-based) in the select list. */
static int position_of(const struct mfs_expr *e, size_t n, struct mfs_expr_error *err,
		       const char *clause, size_t *pos)
{
	if (e->kind != MFS_E_LITERAL || e->lit.type != MFS_T_INT || e->lit.is_null)
		return 0;
	if (e->lit.u.i < 1 || (uint64_t)e->lit.u.i > n)
		return set_err(err, e->line, e->col,
			       "%s term out of range - should be between 1 and %zu", clause, n);
	*pos = (size_t)e->lit.u.i - 1;
	return 1;
}

static long alias_of(const struct mfs_gold_query *q, const struct mfs_expr *e)
{
	size_t i, k = 0;

	if (e->kind != MFS_E_COLUMN || e->qual_len)
		return -1;
	/* outs and items line up except for stars; only items have aliases */
	for (i = 0; i < q->nitems; i++) {
		const struct gold_item *it = &q->items[i];

		if (!it->e) {
			size_t j;

			for (j = 0; j < q->nds; j++)
				if (!it->star_qual ||
				    ds_matches(&q->ds[j], it->star_qual, strlen(it->star_qual)))
					k += q->ds[j].ncols;
			continue;
		}
		if (it->alias && !strcasecmp(it->alias, e->name))
			return (long)k;
		k++;
	}
	return -1;
}

static int bind_group(struct mfs_gold_query *q, struct mfs_expr_error *err)
{
	size_t i, pos = 0, idx;
	long a;
	int rc;

	for (i = 0; i < q->ngroup; i++) {
		struct mfs_expr *g = q->group[i];
		const struct mfs_expr *use = g;

		rc = position_of(g, q->nouts, err, "GROUP BY", &pos);
		if (rc < 0)
			return rc;
		if (rc) {
			use = q->outs[pos].e;
		} else if (g->kind == MFS_E_COLUMN && !g->qual_len &&
			   resolve_name(q, g->name, g->name_len, 0, &idx) == -ENOENT &&
			   (a = alias_of(q, g)) >= 0) {
			/* a column of that name wins over an alias, as in DuckDB */
			use = q->outs[a].e;
		} else {
			rc = bind_expr(q, g, "GROUP BY clause", err);
			if (rc)
				return rc;
		}
		if (has_agg((struct mfs_expr *)use))
			return set_err(err, g->line, g->col, "GROUP BY clause cannot contain aggregates");
		rc = add_gexpr(q, use);
		if (rc)
			return rc;
	}
	return 0;
}

static int bind_order(struct mfs_gold_query *q, struct mfs_expr_error *err)
{
	size_t i, j, pos = 0;
	long a;
	int rc;

	for (i = 0; i < q->norder; i++) {
		struct gold_order *o = &q->order[i];

		o->out = -1;
		rc = position_of(o->e, q->nouts, err, "ORDER BY", &pos);
		if (rc < 0)
			return rc;
		if (rc) {
			o->out = (int)pos;
			continue;
		}
		a = alias_of(q, o->e);
		if (a >= 0) {
			o->out = (int)a;
			continue;
		}
		rc = bind_expr(q, o->e, NULL, err);
		if (rc)
			return rc;
		for (j = 0; j < q->nouts; j++)
			if (same(q->outs[j].e, o->e)) {
				o->out = (int)j;
				break;
			}
	}
	return 0;
}

struct aggwalk {
	struct mfs_gold_query *q;
	int rc;
};

static int collect_agg(void *arg, struct mfs_expr *e)
{
	struct aggwalk *w = arg;
	struct mfs_gold_query *q = w->q;
	struct gold_agg *a;
	size_t i;

	if (e->kind != MFS_E_AGG)
		return 0;
	for (i = 0; i < q->naggs; i++)
		if (same(q->aggs[i].node, e)) {
			e->index = (int)(q->ncomb + i);
			return 1;
		}
	a = realloc(q->aggs, (q->naggs + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	q->aggs = a;
	a = &q->aggs[q->naggs];
	memset(a, 0, sizeof(*a));
	a->node = e;
	a->op = e->op;
	a->distinct = e->distinct;
	if (e->nkids)
		a->in_type = mfs_expr_type(e->kids[0], &a->in_scale);
	e->index = (int)(q->ncomb + q->naggs);
	q->naggs++;
	return 1;
}

struct groupwalk {
	struct mfs_gold_query *q;
	struct mfs_expr_error *err;
	unsigned char *need;
};

static int mark_columns(void *arg, struct mfs_expr *e)
{
	unsigned char *need = arg;

	if (e->kind == MFS_E_AGG)
		return 1;
	if (e->kind == MFS_E_COLUMN && e->index >= 0)
		need[e->index] = 1;
	return 0;
}

/*
 * Refuse columns outside aggregates and GROUP BY expressions; note the
 * columns read outside aggregates (evaluated on the representative row).
 */
static int walk_grouped(struct groupwalk *w, struct mfs_expr *e)
{
	size_t i;
	int rc;

	if (e->kind == MFS_E_AGG)
		return 0;
	for (i = 0; i < w->q->ngexpr; i++)
		if (same(w->q->gexpr[i], e))
			return mfs_expr_walk(e, mark_columns, w->need);
	if (e->kind == MFS_E_COLUMN)
		return set_err(w->err, e->line, e->col,
			       "column \"%s\" must appear in the GROUP BY clause or must be part "
			       "of an aggregate function",
			       e->name);
	for (i = 0; i < e->nkids; i++) {
		rc = walk_grouped(w, e->kids[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static int bind_joins(struct mfs_gold_query *q, struct mfs_expr_error *err)
{
	size_t i, n, k;
	int rc;

	for (i = 1; i < q->nds; i++) {
		struct gold_ds *d = &q->ds[i];
		struct mfs_expr *stack[64], *e;
		size_t sp = 0;

		rc = bind_expr(q, d->on, "JOIN condition", err);
		if (rc)
			return rc;
		if (d->on->type != MFS_T_BOOL && d->on->type != MFS_T_NULL)
			return set_err(err, d->on->line, d->on->col,
				       "JOIN condition must be a boolean");
		n = 0;
		stack[sp++] = d->on;
		while (sp) {
			e = stack[--sp];
			if (e->kind == MFS_E_AND) {
				if (sp + 2 > 64)
					return set_err(err, e->line, e->col,
						       "JOIN condition has too many terms");
				stack[sp++] = e->kids[1];
				stack[sp++] = e->kids[0];
				continue;
			}
			if (e->kind != MFS_E_CMP || e->op != MFS_OP_EQ)
				return set_err(err, e->line, e->col,
					       "JOIN ... ON supports only equalities joined by AND");
			n++;
		}
		d->lkeys = calloc(n, sizeof(*d->lkeys));
		d->rkeys = calloc(n, sizeof(*d->rkeys));
		d->ktype = calloc(n, sizeof(*d->ktype));
		d->kscale = calloc(n, sizeof(*d->kscale));
		if (!d->lkeys || !d->rkeys || !d->ktype || !d->kscale)
			return -ENOMEM;
		stack[sp++] = d->on;
		k = 0;
		while (sp) {
			unsigned char side[2];
			int s;

			e = stack[--sp];
			if (e->kind == MFS_E_AND) {
				stack[sp++] = e->kids[1];
				stack[sp++] = e->kids[0];
				continue;
			}
			for (s = 0; s < 2; s++) {
				struct mfs_expr *x = e->kids[s];
				unsigned char *need = calloc(q->ncomb + 1, 1);
				size_t c;
				int lo = 0, hi = 0;

				if (!need)
					return -ENOMEM;
				mfs_expr_walk(x, mark_columns, need);
				for (c = 0; c < q->ncomb; c++) {
					if (!need[c])
						continue;
					if (c >= d->off && c < d->off + d->ncols)
						hi = 1;
					else if (c < d->off)
						lo = 1;
					else
						lo = hi = 1; /* a later dataset: not allowed */
				}
				free(need);
				side[s] = (unsigned char)(hi && !lo ? 2 : lo && !hi ? 1 : 0);
			}
			if (!((side[0] == 1 && side[1] == 2) || (side[0] == 2 && side[1] == 1)))
				return set_err(err, e->line, e->col,
					       "each JOIN equality must compare columns of \"%s\" "
					       "with columns of the datasets before it",
					       d->alias ? d->alias : d->name);
			d->lkeys[k] = e->kids[side[0] == 1 ? 0 : 1];
			d->rkeys[k] = e->kids[side[0] == 1 ? 1 : 0];
			{
				enum mfs_type a = d->lkeys[k]->type, b = d->rkeys[k]->type;
				int sa = d->lkeys[k]->scale, sb = d->rkeys[k]->scale;

				if (a == b && a != MFS_T_DECIMAL) {
					d->ktype[k] = a;
				} else if (a == MFS_T_DOUBLE || b == MFS_T_DOUBLE) {
					d->ktype[k] = MFS_T_DOUBLE;
				} else if ((a == MFS_T_INT || a == MFS_T_DECIMAL) &&
					   (b == MFS_T_INT || b == MFS_T_DECIMAL)) {
					d->ktype[k] = MFS_T_DECIMAL;
					d->kscale[k] = sa > sb ? sa : sb;
				} else if ((a == MFS_T_DATE || a == MFS_T_TIMESTAMP) &&
					   (b == MFS_T_DATE || b == MFS_T_TIMESTAMP)) {
					d->ktype[k] = MFS_T_TIMESTAMP;
				} else {
					d->ktype[k] = a == MFS_T_NULL ? b : a;
				}
			}
			k++;
		}
		d->nkeys = n;
	}
	return 0;
}

static int copy_schemas(struct mfs_gold_query *q, const struct mfs_gold_schema *schemas)
{
	size_t i, j, off = 0;

	for (i = 0; i < q->nds; i++) {
		struct gold_ds *d = &q->ds[i];

		d->off = off;
		d->ncols = 0;
		d->cols = calloc(schemas[i].ncols + 1, sizeof(*d->cols));
		if (!d->cols)
			return -ENOMEM;
		for (j = 0; j < schemas[i].ncols; j++) {
			d->cols[j] = schemas[i].cols[j];
			d->cols[j].name = strdup(schemas[i].cols[j].name ? schemas[i].cols[j].name : "");
			if (!d->cols[j].name)
				return -ENOMEM;
			if (d->cols[j].type > MFS_T_STRING)
				d->cols[j].type = MFS_T_STRING;
			d->ncols++;
		}
		off += d->ncols;
	}
	q->ncomb = off;
	return 0;
}

int mfs_gold_bind(struct mfs_gold_query *q, const struct mfs_gold_schema *schemas,
		  struct mfs_expr_error *err)
{
	unsigned char *need = NULL;
	struct aggwalk aw = { q, 0 };
	size_t i, j;
	int rc;

	mfs_gold_query_free_parts(q);
	if (err) {
		err->line = 1;
		err->col = 1;
		err->msg[0] = '\0';
	}
	rc = copy_schemas(q, schemas);
	if (rc)
		goto out;
	for (i = 1; i < q->nds; i++)
		for (j = 0; j < i; j++)
			if (!strcasecmp(q->ds[i].alias ? q->ds[i].alias : q->ds[i].name,
					q->ds[j].alias ? q->ds[j].alias : q->ds[j].name)) {
				rc = set_err(err, q->ds[i].line, q->ds[i].col,
					     "duplicate dataset name \"%s\": give it an alias",
					     q->ds[i].alias ? q->ds[i].alias : q->ds[i].name);
				goto out;
			}
	if (q->where) {
		rc = bind_expr(q, q->where, "WHERE clause", err);
		if (!rc && q->where->type != MFS_T_BOOL && q->where->type != MFS_T_NULL)
			rc = set_err(err, q->where->line, q->where->col,
				     "WHERE clause must be a boolean");
		if (rc)
			goto out;
	}
	rc = bind_joins(q, err);
	if (rc)
		goto out;
	for (i = 0; i < q->nitems; i++) {
		struct gold_item *it = &q->items[i];

		if (!it->e) {
			rc = expand_star(q, it, err);
		} else {
			rc = bind_expr(q, it->e, NULL, err);
			if (!rc)
				rc = add_out(q, it->e, -1, it->alias);
		}
		if (rc)
			goto out;
	}
	rc = bind_group(q, err);
	if (!rc && q->distinct)
		for (i = 0; i < q->nouts && !rc; i++)
			rc = add_gexpr(q, q->outs[i].e);
	if (!rc)
		rc = bind_order(q, err);
	if (!rc && q->having) {
		rc = bind_expr(q, q->having, NULL, err);
		if (!rc && q->having->type != MFS_T_BOOL && q->having->type != MFS_T_NULL)
			rc = set_err(err, q->having->line, q->having->col,
				     "HAVING clause must be a boolean");
	}
	if (rc)
		goto out;
	q->is_agg = q->ngexpr || q->having;
	for (i = 0; i < q->nouts; i++)
		q->is_agg |= has_agg((struct mfs_expr *)q->outs[i].e);
	for (i = 0; i < q->norder; i++)
		q->is_agg |= q->order[i].out < 0 && has_agg(q->order[i].e);
	if (q->is_agg) {
		struct groupwalk w = { q, err, NULL };

		need = calloc(q->ncomb + 1, 1);
		if (!need) {
			rc = -ENOMEM;
			goto out;
		}
		w.need = need;
		for (i = 0; i < q->nouts && !rc; i++) {
			rc = mfs_expr_walk((struct mfs_expr *)q->outs[i].e, collect_agg, &aw);
			if (!rc)
				rc = walk_grouped(&w, (struct mfs_expr *)q->outs[i].e);
		}
		if (!rc && q->having) {
			rc = mfs_expr_walk(q->having, collect_agg, &aw);
			if (!rc)
				rc = walk_grouped(&w, q->having);
		}
		for (i = 0; i < q->norder && !rc; i++) {
			if (q->order[i].out >= 0)
				continue;
			rc = mfs_expr_walk(q->order[i].e, collect_agg, &aw);
			if (!rc)
				rc = walk_grouped(&w, q->order[i].e);
		}
		if (rc)
			goto out;
		q->need = calloc(q->ncomb + 1, sizeof(*q->need));
		if (!q->need) {
			rc = -ENOMEM;
			goto out;
		}
		for (i = 0; i < q->ncomb; i++)
			if (need[i])
				q->need[q->nneed++] = (int)i;
	} else {
		for (i = 0; i < q->norder; i++)
			if (q->order[i].out < 0)
				q->nokeys++;
	}
	q->bound = 1;
out:
	free(need);
	if (rc) {
		mfs_gold_query_free_parts(q);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	return 0;
}

/* Resolving against declared schemas only: unknown names may be fine. */
int mfs_gold_check(struct mfs_gold_query *q, const struct mfs_gold_schema *schemas,
		   struct mfs_expr_error *err)
{
	struct precheck p = { q, err, NULL, 1, schemas };
	size_t i, idx;
	int rc;

	mfs_gold_query_free_parts(q);
	rc = copy_schemas(q, schemas);
	for (i = 0; !rc && i < q->nitems; i++)
		if (q->items[i].e)
			rc = mfs_expr_walk(q->items[i].e, precheck_fn, &p);
	if (!rc && q->where)
		rc = mfs_expr_walk(q->where, precheck_fn, &p);
	if (!rc && q->having)
		rc = mfs_expr_walk(q->having, precheck_fn, &p);
	for (i = 1; !rc && i < q->nds; i++)
		rc = mfs_expr_walk(q->ds[i].on, precheck_fn, &p);
	for (i = 0; !rc && i < q->ngroup; i++) {
		struct mfs_expr *g = q->group[i];

		/* an alias is not a column */
		if (g->kind == MFS_E_COLUMN && !g->qual_len &&
		    resolve_name(q, g->name, g->name_len, 0, &idx) == -ENOENT && alias_of(q, g) >= 0)
			continue;
		rc = mfs_expr_walk(g, precheck_fn, &p);
	}
	for (i = 0; !rc && i < q->norder; i++)
		if (alias_of(q, q->order[i].e) < 0)
			rc = mfs_expr_walk(q->order[i].e, precheck_fn, &p);
	mfs_gold_query_free_parts(q);
	return rc == -ENOMEM ? rc : rc ? -EINVAL : 0;
}

static int json_str(struct mfs_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;
	int rc = mfs_buf_append(b, "\"", 1);

	for (i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			char t[2] = { '\\', (char)c };

			rc = mfs_buf_append(b, t, 2);
		} else if (c == '\n') {
			rc = mfs_buf_append(b, "\\n", 2);
		} else if (c == '\r') {
			rc = mfs_buf_append(b, "\\r", 2);
		} else if (c == '\t') {
			rc = mfs_buf_append(b, "\\t", 2);
		} else if (c < 0x20) {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

			rc = mfs_buf_append(b, u, 6);
		} else {
			rc = mfs_buf_append(b, s + i, 1);
		}
	}
	return rc ? rc : mfs_buf_append(b, "\"", 1);
}

/* DuckDB's name of an output column's type. */
static void out_type_name(const struct gold_out *o, char *buf, size_t len)
{
	int sum = o->e && o->e->kind == MFS_E_AGG && o->e->op == MFS_AGG_SUM;

	if (o->type == MFS_T_DECIMAL && sum && o->e->nkids && o->e->kids[0]->type == MFS_T_INT)
		snprintf(buf, len, "HUGEINT");
	else if (o->type == MFS_T_DECIMAL)
		snprintf(buf, len, "DECIMAL(%d,%d)", sum || o->scale > 18 ? 38 : 18, o->scale);
	else if (o->type == MFS_T_NULL)
		snprintf(buf, len, "INTEGER");
	else
		snprintf(buf, len, "%s", mfs_type_name(o->type));
}

char *mfs_gold_schema_json(const struct mfs_gold_query *q)
{
	struct mfs_buf b = MFS_BUF_INIT;
	char tn[32];
	size_t i;
	int rc = mfs_buf_append(&b, "[", 1);

	for (i = 0; i < q->nouts && !rc; i++) {
		if (i)
			rc = mfs_buf_append(&b, ",", 1);
		if (!rc)
			rc = mfs_buf_append(&b, "{\"name\":", 8);
		if (!rc)
			rc = json_str(&b, q->outs[i].name, strlen(q->outs[i].name));
		out_type_name(&q->outs[i], tn, sizeof(tn));
		if (!rc)
			rc = mfs_buf_appendf(&b, ",\"type\":\"%s\",\"scale\":%d,\"currency\":null}", tn,
					     q->outs[i].type == MFS_T_DECIMAL ? q->outs[i].scale : 0);
	}
	if (!rc)
		rc = mfs_buf_append(&b, "]", 1);
	if (rc) {
		mfs_buf_free(&b);
		return NULL;
	}
	return b.data;
}

/* ---- reading silver files ---- */

struct scan {
	const struct gold_ds *d;
	const struct mfs_gold_file *f;
	struct mfs_reader *rd;
	struct mfs_value *row;  /* the combined row; this dataset's segment is filled */
	struct mfs_arena *arena;
	/* per field position: the combined column (or -1) and the file's type */
	long *map;
	struct mfs_coltype *ct;
	const char **fname;     /* JSON: the key the map entry was made for */
	size_t *fnlen;
	size_t nmap;
};

static void scan_free(struct scan *s)
{
	mfs_reader_free(s->rd);
	free(s->map);
	free(s->ct);
	free(s->fname);
	free(s->fnlen);
	memset(s, 0, sizeof(*s));
}

static int scan_open(struct scan *s, const struct gold_ds *d, const struct mfs_gold_file *f,
		     struct mfs_value *row, struct mfs_arena *arena)
{
	static const struct mfs_csv_dialect dialect = { ',', '"', 1, 0, 0, 0 };

	memset(s, 0, sizeof(*s));
	s->d = d;
	s->f = f;
	s->row = row;
	s->arena = arena;
	if (f->format == MFS_OUT_JSONL)
		return mfs_json_reader_new(f->src, MFS_JSON_LINES, &s->rd);
	return mfs_csv_reader_new(f->src, &dialect, &s->rd);
}

/* Map field @i named @name: combined column and the file's type. */
static void map_field(struct scan *s, size_t i, const char *name, size_t n)
{
	const struct mfs_gold_schema *fs = &s->f->schema;
	long c = ds_col(s->d, name, n);
	size_t j;

	s->map[i] = c;
	memset(&s->ct[i], 0, sizeof(s->ct[i]));
	s->ct[i].declared = 1;
	s->ct[i].order = MFS_DATE_YMD;
	s->ct[i].type = c >= 0 ? s->d->cols[c].type : MFS_T_STRING;
	s->ct[i].scale = c >= 0 ? s->d->cols[c].scale : 0;
	for (j = 0; j < fs->ncols; j++)
		if (fs->cols[j].name && strlen(fs->cols[j].name) == n &&
		    !strncasecmp(fs->cols[j].name, name, n)) {
			s->ct[i].type = fs->cols[j].type > MFS_T_STRING ? MFS_T_STRING
									 : fs->cols[j].type;
			s->ct[i].scale = fs->cols[j].scale;
			break;
		}
	if (s->ct[i].type == MFS_T_NULL)
		s->ct[i].type = MFS_T_STRING;
	s->ct[i].width = s->ct[i].scale > 18 ? 38 : 18;
}

static int ensure_map(struct scan *s, size_t n)
{
	void *p;

	if (n <= s->nmap)
		return 0;
	if (!(p = realloc(s->map, n * sizeof(*s->map))))
		return -ENOMEM;
	s->map = p;
	if (!(p = realloc(s->ct, n * sizeof(*s->ct))))
		return -ENOMEM;
	s->ct = p;
	if (!(p = realloc(s->fname, n * sizeof(*s->fname))))
		return -ENOMEM;
	s->fname = p;
	if (!(p = realloc(s->fnlen, n * sizeof(*s->fnlen))))
		return -ENOMEM;
	s->fnlen = p;
	memset(s->fname + s->nmap, 0, (n - s->nmap) * sizeof(*s->fname));
	s->nmap = n;
	return 0;
}

/* Next row into the dataset's segment: 1, 0 at the end, -errno. */
static int scan_next(struct scan *s, char *why, size_t whylen)
{
	const struct mfs_record *rec;
	const struct gold_ds *d = s->d;
	struct mfs_value *seg = s->row + d->off, v;
	size_t i;
	int rc;

	rc = mfs_reader_next(s->rd, &rec);
	if (rc <= 0) {
		if (rc < 0)
			snprintf(why, whylen, "reading silver file: %s", mfs_last_error());
		return rc;
	}
	if (rec->error) {
		snprintf(why, whylen, "silver file line %llu: %s", (unsigned long long)rec->line,
			 rec->error);
		return -EIO;
	}
	for (i = 0; i < d->ncols; i++) {
		memset(&seg[i], 0, sizeof(seg[i]));
		seg[i].type = d->cols[i].type;
		seg[i].is_null = 1;
	}
	if (s->f->format != MFS_OUT_JSONL && !s->nmap && s->rd->nheader) {
		rc = ensure_map(s, s->rd->nheader);
		if (rc)
			return rc;
		for (i = 0; i < s->rd->nheader; i++)
			map_field(s, i, s->rd->header[i].data, s->rd->header[i].len);
	}
	rc = ensure_map(s, rec->nfields);
	if (rc)
		return rc;
	for (i = 0; i < rec->nfields; i++) {
		const struct mfs_field *fl = &rec->fields[i];
		const struct mfs_gold_column *cc;
		long c;

		if (s->f->format == MFS_OUT_JSONL) {
			if (!fl->name)
				continue;
			/* names point into the record: compare, then remember ours */
			if (!s->fname[i] || s->fnlen[i] != fl->name_len ||
			    memcmp(s->fname[i], fl->name, fl->name_len)) {
				map_field(s, i, fl->name, fl->name_len);
				s->fname[i] = NULL;
				if (s->map[i] >= 0) {
					s->fname[i] = d->cols[s->map[i]].name;
					s->fnlen[i] = strlen(s->fname[i]);
					if (s->fnlen[i] != fl->name_len ||
					    memcmp(s->fname[i], fl->name, fl->name_len))
						s->fname[i] = NULL; /* case differs: map again next time */
				}
			}
		} else if (i >= s->rd->nheader) {
			continue;
		}
		c = s->map[i];
		if (c < 0 || fl->kind == MFS_FIELD_NULL)
			continue;
		cc = &d->cols[c];
		if (!fl->len && !(fl->quoted && cc->type == MFS_T_STRING) &&
		    !(fl->kind == MFS_FIELD_TEXT && s->f->format == MFS_OUT_JSONL &&
		      cc->type == MFS_T_STRING))
			continue;
		if (cc->type == MFS_T_STRING) {
			/* widened to text: the text as the file has it */
			seg[c].type = MFS_T_STRING;
			seg[c].is_null = 0;
			seg[c].u.s.p = fl->data;
			seg[c].u.s.len = fl->len;
			continue;
		}
		if (mfs_convert(&s->ct[i], fl->data, fl->len, 0, &v) < 0) {
			snprintf(why, whylen, "silver file line %llu: column %s: '%.*s' is not a %s",
				 (unsigned long long)rec->line, cc->name,
				 fl->len > 60 ? 60 : (int)fl->len, fl->data,
				 mfs_type_name(s->ct[i].type));
			return -EIO;
		}
		v.is_null = 0;
		if (v.type != cc->type || (v.type == MFS_T_DECIMAL && v.u.dec.scale != cc->scale)) {
			struct mfs_value w = v;

			rc = mfs_expr_cast(&w, cc->type, cc->scale, s->arena, &v);
			if (rc) {
				snprintf(why, whylen, "silver file line %llu: column %s: %s",
					 (unsigned long long)rec->line, cc->name, mfs_last_error());
				return -EIO;
			}
		}
		seg[c] = v;
	}
	return 1;
}

/* ---- dimensions ---- */

struct dim {
	int loaded;
	struct mfs_bmap keys;
	size_t *head, *tail; /* per key: first/last row + 1 */
	size_t *next;        /* per row: next row + 1 with the same key */
	struct mfs_value *vals; /* nrows x ncols, owned */
	size_t nrows, cap;
};

struct mfs_gold_dims {
	size_t n;
	struct dim *d;       /* per dataset of the query ([0] unused) */
	size_t *ncols;
};

void mfs_gold_dims_free(struct mfs_gold_dims *dims)
{
	size_t i, k;

	if (!dims)
		return;
	for (i = 0; i < dims->n; i++) {
		struct dim *d = &dims->d[i];

		for (k = 0; k < d->nrows * dims->ncols[i]; k++)
			mfs_gold_val_free(&d->vals[k]);
		free(d->vals);
		free(d->head);
		free(d->tail);
		free(d->next);
		mfs_bmap_free(&d->keys);
	}
	free(dims->d);
	free(dims->ncols);
	free(dims);
}

/* The join key of dataset @d from @row's values: 1 with the key in @b, 0 when a part is NULL. */
static int join_key(const struct gold_ds *d, struct mfs_expr **side, const struct mfs_value *row,
		    struct mfs_arena *a, struct mfs_buf *b, char *why, size_t whylen)
{
	struct mfs_value v, w;
	size_t k;
	int rc;

	b->len = 0;
	for (k = 0; k < d->nkeys; k++) {
		rc = mfs_expr_eval(side[k], row, a, &v);
		if (!rc && !v.is_null &&
		    (v.type != d->ktype[k] ||
		     (v.type == MFS_T_DECIMAL && v.u.dec.scale != d->kscale[k]))) {
			w = v;
			rc = mfs_expr_cast(&w, d->ktype[k], d->kscale[k], a, &v);
		}
		if (rc) {
			snprintf(why, whylen, "join key: %s", mfs_last_error());
			return -EIO;
		}
		if (v.is_null)
			return 0;
		rc = mfs_gold_val_put(b, &v);
		if (rc)
			return rc;
	}
	return 1;
}

int mfs_gold_dims_load(const struct mfs_gold_query *q, struct mfs_gold_dims **dims, size_t i,
		       const struct mfs_gold_file *files, size_t nfiles, char *why, size_t whylen)
{
	struct mfs_value *row = NULL;
	struct mfs_arena *arena = NULL;
	struct mfs_buf key = MFS_BUF_INIT;
	const struct gold_ds *ds;
	struct mfs_gold_dims *D = *dims;
	struct scan sc;
	struct dim *d;
	size_t f, c, idx;
	int rc = 0, added;

	memset(&sc, 0, sizeof(sc));
	if (!q->bound || i < 1 || i >= q->nds) {
		snprintf(why, whylen, "no JOINed dataset %zu in this query", i);
		return -EINVAL;
	}
	if (!D) {
		D = calloc(1, sizeof(*D));
		if (!D)
			return -ENOMEM;
		D->n = q->nds;
		D->d = calloc(q->nds, sizeof(*D->d));
		D->ncols = calloc(q->nds, sizeof(*D->ncols));
		if (!D->d || !D->ncols) {
			free(D->d);
			free(D->ncols);
			free(D);
			return -ENOMEM;
		}
		for (f = 0; f < q->nds; f++) {
			D->ncols[f] = q->ds[f].ncols;
			mfs_bmap_init(&D->d[f].keys);
		}
		*dims = D;
	}
	ds = &q->ds[i];
	d = &D->d[i];
	if (d->loaded) {
		snprintf(why, whylen, "dataset %s loaded twice", ds->name);
		return -EINVAL;
	}
	row = calloc(q->ncomb + 1, sizeof(*row));
	arena = mfs_arena_new();
	if (!row || !arena) {
		rc = -ENOMEM;
		goto out;
	}
	for (c = 0; c < q->ncomb; c++)
		row[c].is_null = 1;
	for (f = 0; f < nfiles && !rc; f++) {
		rc = scan_open(&sc, ds, &files[f], row, arena);
		while (!rc) {
			mfs_arena_reset(arena);
			rc = scan_next(&sc, why, whylen);
			if (rc <= 0)
				break;
			rc = join_key(ds, ds->rkeys, row, arena, &key, why, whylen);
			if (rc < 0)
				break;
			if (rc == 0)
				continue; /* a NULL key never matches: no need to keep it */
			rc = 0;
			if (d->nrows == d->cap) {
				size_t nc = d->cap ? d->cap * 2 : 64;
				struct mfs_value *nv = realloc(d->vals, nc * (ds->ncols + 1) *
									sizeof(*nv));
				size_t *nn;

				if (!nv) {
					rc = -ENOMEM;
					break;
				}
				d->vals = nv;
				nn = realloc(d->next, nc * sizeof(*nn));
				if (!nn) {
					rc = -ENOMEM;
					break;
				}
				d->next = nn;
				d->cap = nc;
			}
			for (c = 0; c < ds->ncols && !rc; c++)
				rc = mfs_gold_val_dup(&d->vals[d->nrows * ds->ncols + c],
						      &row[ds->off + c]);
			if (rc) {
				while (c-- > 0)
					mfs_gold_val_free(&d->vals[d->nrows * ds->ncols + c]);
				break;
			}
			d->next[d->nrows] = 0;
			d->nrows++;
			rc = mfs_bmap_add(&d->keys, key.data, key.len, &idx, &added);
			if (rc)
				break;
			if (added) {
				size_t *h = realloc(d->head, d->keys.n * sizeof(*h));
				size_t *t;

				if (!h) {
					rc = -ENOMEM;
					break;
				}
				d->head = h;
				t = realloc(d->tail, d->keys.n * sizeof(*t));
				if (!t) {
					rc = -ENOMEM;
					break;
				}
				d->tail = t;
				d->head[idx] = d->tail[idx] = d->nrows;
			} else {
				/* keep the file order among duplicate keys */
				d->next[d->tail[idx] - 1] = d->nrows;
				d->tail[idx] = d->nrows;
			}
		}
		scan_free(&sc);
	}
	if (!rc)
		d->loaded = 1;
out:
	if (rc == -ENOMEM && !*why)
		snprintf(why, whylen, "out of memory loading %s", ds->name);
	mfs_buf_free(&key);
	mfs_arena_free(arena);
	free(row);
	return rc;
}

/* ---- output ---- */

struct writer {
	struct mfs_sink *out;
	enum mfs_out_format format;
	const char *const *names;
	size_t n;
	struct mfs_buf b;
	uint64_t rows;
};

static int w_flush(struct writer *w, int force)
{
	int rc = 0;

	if (w->b.len && (force || w->b.len >= FLUSH_AT))
		rc = mfs_sink_write(w->out, w->b.data, w->b.len);
	if (force || w->b.len >= FLUSH_AT)
		w->b.len = 0;
	return rc;
}

static int csv_field(struct mfs_buf *b, const char *s, size_t n)
{
	size_t i;
	int q = n == 0 || s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t';
	int rc;

	for (i = 0; !q && i < n; i++)
		q = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
	if (!q)
		return mfs_buf_append(b, s, n);
	rc = mfs_buf_append(b, "\"", 1);
	for (i = 0; i < n && !rc; i++) {
		rc = mfs_buf_append(b, s + i, 1);
		if (!rc && s[i] == '"')
			rc = mfs_buf_append(b, "\"", 1);
	}
	return rc ? rc : mfs_buf_append(b, "\"", 1);
}

static int w_header(struct writer *w)
{
	size_t i;
	int rc = 0;

	if (w->format == MFS_OUT_JSONL)
		return 0;
	for (i = 0; i < w->n && !rc; i++) {
		if (i)
			rc = mfs_buf_append(&w->b, ",", 1);
		if (!rc)
			rc = csv_field(&w->b, w->names[i], strlen(w->names[i]));
	}
	return rc ? rc : mfs_buf_append(&w->b, "\n", 1);
}

static int w_row(struct writer *w, const struct mfs_value *v)
{
	char tmp[MFS_VALUE_TEXT_MAX];
	size_t i, n;
	int rc = 0, json = w->format == MFS_OUT_JSONL;

	if (json)
		rc = mfs_buf_append(&w->b, "{", 1);
	for (i = 0; i < w->n && !rc; i++) {
		if (i)
			rc = mfs_buf_append(&w->b, ",", 1);
		if (!rc && json) {
			rc = json_str(&w->b, w->names[i], strlen(w->names[i]));
			if (!rc)
				rc = mfs_buf_append(&w->b, ":", 1);
		}
		if (rc)
			break;
		if (v[i].is_null || v[i].type == MFS_T_NULL) {
			if (json)
				rc = mfs_buf_append(&w->b, "null", 4);
			continue;
		}
		if (v[i].type == MFS_T_STRING) {
			rc = json ? json_str(&w->b, v[i].u.s.p, v[i].u.s.len)
				  : csv_field(&w->b, v[i].u.s.p, v[i].u.s.len);
			continue;
		}
		n = mfs_value_format(&v[i], tmp);
		if (json && (v[i].type == MFS_T_DATE || v[i].type == MFS_T_TIMESTAMP ||
			     (v[i].type == MFS_T_DOUBLE && (tmp[0] == 'n' || tmp[n - 1] == 'f'))))
			rc = json_str(&w->b, tmp, n);
		else
			rc = mfs_buf_append(&w->b, tmp, n);
	}
	if (!rc)
		rc = mfs_buf_append(&w->b, json ? "}\n" : "\n", json ? 2 : 1);
	w->rows++;
	return rc ? rc : w_flush(w, 0);
}

/* ---- results: straight out, or kept and sorted ---- */

struct res {
	const struct mfs_gold_query *q;
	size_t width;            /* nouts + order keys */
	int sorting;
	struct mfs_value **kept;
	size_t nkept, cap;
	struct mfs_arena *keep;
	uint64_t emitted;
	int (*row)(void *arg, const struct mfs_value *v);
	void *arg;
};

static int res_emit(struct res *r, const struct mfs_value *v)
{
	struct mfs_value *c;
	size_t i;

	if (!r->sorting) {
		if (r->q->limit >= 0 && r->emitted >= (uint64_t)r->q->limit)
			return 0;
		r->emitted++;
		return r->row(r->arg, v);
	}
	if (r->nkept == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 256;
		struct mfs_value **k = realloc(r->kept, nc * sizeof(*k));

		if (!k)
			return -ENOMEM;
		r->kept = k;
		r->cap = nc;
	}
	c = mfs_arena_alloc(r->keep, (r->width + 1) * sizeof(*c));
	if (!c)
		return -ENOMEM;
	c[r->width].u.i = (int64_t)r->nkept; /* the tie-break: production order */
	for (i = 0; i < r->width; i++) {
		c[i] = v[i];
		if (!v[i].is_null && v[i].type == MFS_T_STRING) {
			char *p = mfs_arena_alloc(r->keep, v[i].u.s.len + 1);

			if (!p)
				return -ENOMEM;
			memcpy(p, v[i].u.s.p, v[i].u.s.len);
			c[i].u.s.p = p;
		}
	}
	r->kept[r->nkept++] = c;
	return 0;
}

static int order_cmp(const void *pa, const void *pb, void *arg)
{
	const struct mfs_value *a = *(struct mfs_value *const *)pa;
	const struct mfs_value *b = *(struct mfs_value *const *)pb;
	const struct res *r = arg;
	const struct mfs_gold_query *q = r->q;
	size_t i, k = q->nouts;
	int c;

	for (i = 0; i < q->norder; i++) {
		const struct gold_order *o = &q->order[i];
		size_t at = o->out >= 0 ? (size_t)o->out : k++;
		const struct mfs_value *x = &a[at], *y = &b[at];

		if (x->is_null || y->is_null) {
			if (x->is_null && y->is_null)
				continue;
			c = x->is_null ? 1 : -1;
			return o->nulls_first ? -c : c;
		}
		c = mfs_expr_value_cmp(x, y);
		if (c)
			return o->desc ? (c < 0 ? 1 : -1) : (c < 0 ? -1 : 1);
	}
	/* stable: the order rows were produced in */
	return a[r->width].u.i < b[r->width].u.i ? -1 : 1;
}

static int res_done(struct res *r)
{
	size_t i, n = r->nkept;
	int rc = 0;

	if (!r->sorting)
		return 0;
	if (n)
		qsort_r(r->kept, n, sizeof(*r->kept), order_cmp, r);
	if (r->q->limit >= 0 && (uint64_t)r->q->limit < n)
		n = (size_t)r->q->limit;
	for (i = 0; i < n && !rc; i++)
		rc = r->row(r->arg, r->kept[i]);
	return rc;
}

static void res_free(struct res *r)
{
	free(r->kept);
	mfs_arena_free(r->keep);
}

/* ---- groups ---- */

struct groups {
	struct mfs_bmap map;
	struct mfs_value *rep;      /* n x nneed, owned */
	struct mfs_agg_state *st;   /* n x naggs */
	size_t cap;
};

static void groups_free(const struct mfs_gold_query *q, struct groups *g)
{
	size_t i;

	for (i = 0; i < g->map.n * q->nneed; i++)
		mfs_gold_val_free(&g->rep[i]);
	for (i = 0; i < g->map.n * q->naggs; i++)
		mfs_agg_clear(&g->st[i]);
	free(g->rep);
	free(g->st);
	mfs_bmap_free(&g->map);
}

/* The group of key @k: 0 with *@idx; *@added for a new one (states initialised). */
static int groups_get(const struct mfs_gold_query *q, struct groups *g, const void *k, size_t n,
		      size_t *idx, int *added)
{
	size_t i;
	int rc;

	if (g->map.n == g->cap) {
		size_t nc = g->cap ? g->cap * 2 : 16;
		struct mfs_value *r = realloc(g->rep, nc * (q->nneed + 1) * sizeof(*r));
		struct mfs_agg_state *s;

		if (!r)
			return -ENOMEM;
		g->rep = r;
		s = realloc(g->st, nc * (q->naggs + 1) * sizeof(*s));
		if (!s)
			return -ENOMEM;
		g->st = s;
		g->cap = nc;
	}
	rc = mfs_bmap_add(&g->map, k, n, idx, added);
	if (rc || !*added)
		return rc;
	for (i = 0; i < q->nneed; i++)
		g->rep[*idx * q->nneed + i].is_null = 1;
	for (i = 0; i < q->naggs; i++)
		mfs_agg_init(&g->st[*idx * q->naggs + i]);
	return 0;
}

/* ---- partial ---- */

struct run {
	const struct mfs_gold_query *q;
	const struct mfs_gold_dims *dims;
	struct mfs_value *row;
	struct mfs_value *vals;    /* outputs + order keys */
	struct mfs_arena *arena;
	struct mfs_buf key, tmp, ob;
	struct groups g;
	struct mfs_sink *out;
	uint64_t nrows;
	int stop;
	char *why;
	size_t whylen;
};

static int eval_err(struct run *R, int rc)
{
	if (rc == -ENOMEM)
		return rc;
	snprintf(R->why, R->whylen, "%s", *mfs_last_error() ? mfs_last_error()
							     : "cannot evaluate expression");
	return -EIO;
}

/* Evaluate the outputs and the ORDER BY keys not among them into R->vals. */
static int eval_outs(struct run *R)
{
	const struct mfs_gold_query *q = R->q;
	size_t i, k = q->nouts;
	int rc;

	for (i = 0; i < q->nouts; i++) {
		rc = mfs_expr_eval(q->outs[i].e, R->row, R->arena, &R->vals[i]);
		if (rc)
			return eval_err(R, rc);
	}
	for (i = 0; i < q->norder; i++) {
		if (q->order[i].out >= 0)
			continue;
		rc = mfs_expr_eval(q->order[i].e, R->row, R->arena, &R->vals[k++]);
		if (rc)
			return eval_err(R, rc);
	}
	return 0;
}

static int process_row(struct run *R)
{
	const struct mfs_gold_query *q = R->q;
	struct mfs_value v;
	size_t i, idx;
	int rc, added;

	if (q->where) {
		rc = mfs_expr_eval(q->where, R->row, R->arena, &v);
		if (rc)
			return eval_err(R, rc);
		if (v.is_null || !v.u.b)
			return 0;
	}
	if (!q->is_agg) {
		size_t width = q->nouts + q->nokeys;

		rc = eval_outs(R);
		if (!rc)
			rc = mfs_buf_append(&R->ob, "R", 1);
		for (i = 0; i < width && !rc; i++)
			rc = mfs_gold_val_put(&R->ob, &R->vals[i]);
		if (rc)
			return rc;
		R->nrows++;
		/* without ORDER BY, finish keeps the first rows: so may a file */
		if (!q->norder && q->limit >= 0 && R->nrows >= (uint64_t)q->limit)
			R->stop = 1;
		if (R->ob.len >= FLUSH_AT) {
			rc = mfs_sink_write(R->out, R->ob.data, R->ob.len);
			R->ob.len = 0;
		}
		return rc;
	}
	R->key.len = 0;
	for (i = 0; i < q->ngexpr; i++) {
		rc = mfs_expr_eval(q->gexpr[i], R->row, R->arena, &v);
		if (rc)
			return eval_err(R, rc);
		rc = mfs_gold_val_put(&R->key, &v);
		if (rc)
			return rc;
	}
	rc = groups_get(q, &R->g, R->key.data, R->key.len, &idx, &added);
	if (rc)
		return rc;
	for (i = 0; added && i < q->nneed; i++) {
		rc = mfs_gold_val_dup(&R->g.rep[idx * q->nneed + i], &R->row[q->need[i]]);
		if (rc)
			return rc;
	}
	for (i = 0; i < q->naggs; i++) {
		const struct gold_agg *a = &q->aggs[i];

		memset(&v, 0, sizeof(v));
		if (a->node->nkids) {
			rc = mfs_expr_eval(a->node->kids[0], R->row, R->arena, &v);
			if (rc)
				return eval_err(R, rc);
		}
		rc = mfs_agg_update(a, &R->g.st[idx * q->naggs + i], &v, &R->tmp);
		if (rc)
			return eval_err(R, rc);
	}
	return 0;
}

static int join_level(struct run *R, size_t level)
{
	const struct mfs_gold_query *q = R->q;
	const struct gold_ds *ds;
	const struct dim *d;
	size_t c, r;
	long k;
	int rc, matched = 0;

	if (level >= q->nds)
		return process_row(R);
	ds = &q->ds[level];
	d = &R->dims->d[level];
	rc = join_key(ds, ds->lkeys, R->row, R->arena, &R->key, R->why, R->whylen);
	if (rc < 0)
		return rc;
	k = rc ? mfs_bmap_find(&d->keys, R->key.data, R->key.len) : -1;
	for (r = k >= 0 ? d->head[k] : 0; r && !R->stop; r = d->next[r - 1]) {
		memcpy(R->row + ds->off, d->vals + (r - 1) * ds->ncols,
		       ds->ncols * sizeof(*R->row));
		matched = 1;
		rc = join_level(R, level + 1);
		if (rc)
			return rc;
	}
	if (matched || !ds->left)
		return 0;
	for (c = 0; c < ds->ncols; c++) {
		memset(&R->row[ds->off + c], 0, sizeof(*R->row));
		R->row[ds->off + c].type = ds->cols[c].type;
		R->row[ds->off + c].is_null = 1;
	}
	return join_level(R, level + 1);
}

static void run_free(struct run *R)
{
	if (R->q)
		groups_free(R->q, &R->g);
	free(R->row);
	free(R->vals);
	mfs_arena_free(R->arena);
	mfs_buf_free(&R->key);
	mfs_buf_free(&R->tmp);
	mfs_buf_free(&R->ob);
}

static int run_init(struct run *R, const struct mfs_gold_query *q, char *why, size_t whylen)
{
	size_t i;

	memset(R, 0, sizeof(*R));
	mfs_bmap_init(&R->g.map);
	R->q = q;
	R->why = why;
	R->whylen = whylen;
	if (whylen)
		why[0] = '\0';
	R->row = calloc(q->ncomb + q->naggs + 1, sizeof(*R->row));
	R->vals = calloc(q->nouts + q->norder + 1, sizeof(*R->vals));
	R->arena = mfs_arena_new();
	if (!R->row || !R->vals || !R->arena)
		return -ENOMEM;
	for (i = 0; i < q->ncomb + q->naggs; i++)
		R->row[i].is_null = 1;
	if (!q->bound) {
		/* Every run needs the bound query: partial() and finish() alike. */
		snprintf(why, whylen, "query not bound");
		return -EINVAL;
	}
	return 0;
}

static int put_header(struct mfs_buf *b, char kind)
{
	char h[6] = { 'M', 'F', 'S', 'G', MFS_GOLD_FORMAT_VERSION, kind };

	return mfs_buf_append(b, h, 6);
}

int mfs_gold_partial(const struct mfs_gold_query *q, const struct mfs_gold_dims *dims,
		     const struct mfs_gold_file *file, struct mfs_sink *out, char *why,
		     size_t whylen)
{
	struct run R;
	struct scan sc;
	size_t i, j;
	int rc;

	memset(&sc, 0, sizeof(sc));
	rc = run_init(&R, q, why, whylen);
	if (rc)
		goto out;
	for (i = 1; i < q->nds; i++)
		if (!dims || dims->n != q->nds || !dims->d[i].loaded) {
			snprintf(why, whylen, "dataset %s not loaded", q->ds[i].name);
			rc = -EINVAL;
			goto out;
		}
	R.dims = dims;
	R.out = out;
	rc = put_header(&R.ob, q->is_agg ? 'A' : 'R');
	if (!rc)
		rc = scan_open(&sc, &q->ds[0], file, R.row, R.arena);
	while (!rc && !R.stop) {
		mfs_arena_reset(R.arena);
		rc = scan_next(&sc, why, whylen);
		if (rc <= 0)
			break;
		rc = join_level(&R, 1);
	}
	for (i = 0; !rc && q->is_agg && i < R.g.map.n; i++) {
		size_t kl;
		const void *k = mfs_bmap_key(&R.g.map, i, &kl);

		rc = mfs_buf_append(&R.ob, "G", 1);
		if (!rc)
			rc = mfs_gold_put_u64(&R.ob, kl);
		if (!rc)
			rc = mfs_buf_append(&R.ob, k, kl);
		for (j = 0; j < q->nneed && !rc; j++)
			rc = mfs_gold_val_put(&R.ob, &R.g.rep[i * q->nneed + j]);
		for (j = 0; j < q->naggs && !rc; j++)
			rc = mfs_agg_put(&q->aggs[j], &R.g.st[i * q->naggs + j], &R.ob);
		if (!rc && R.ob.len >= FLUSH_AT) {
			rc = mfs_sink_write(out, R.ob.data, R.ob.len);
			R.ob.len = 0;
		}
	}
	if (!rc)
		rc = mfs_buf_append(&R.ob, "E", 1);
	if (!rc)
		rc = mfs_sink_write(out, R.ob.data, R.ob.len);
out:
	if (rc && whylen && !why[0])
		snprintf(why, whylen, "%s", rc == -ENOMEM ? "out of memory" : strerror(-rc));
	scan_free(&sc);
	run_free(&R);
	return rc;
}

/* ---- finish ---- */

static int read_header(struct mfs_gold_rd *rd, char kind, char *why, size_t whylen)
{
	unsigned char h[6];
	int rc = mfs_gold_rd_bytes(rd, h, 6);

	if (rc || memcmp(h, "MFSG", 4) || h[4] != MFS_GOLD_FORMAT_VERSION || h[5] != kind) {
		snprintf(why, whylen, "not a partial result of this query (format %d)",
			 MFS_GOLD_FORMAT_VERSION);
		return -EBADMSG;
	}
	return 0;
}

static int finish_agg(struct run *R, struct mfs_source **partials, size_t n, struct res *res)
{
	const struct mfs_gold_query *q = R->q;
	struct mfs_agg_state tmp;
	struct mfs_value *rv = NULL;
	struct mfs_gold_rd *rd = NULL;
	size_t p, i, idx, off;
	uint64_t kl;
	uint8_t tag;
	int rc = 0, added;

	rv = calloc(q->nneed + 1, sizeof(*rv));
	rd = malloc(sizeof(*rd));
	if (!rv || !rd) {
		rc = -ENOMEM;
		goto out;
	}
	for (p = 0; p < n && !rc; p++) {
		mfs_gold_rd_init(rd, partials[p]);
		rc = read_header(rd, 'A', R->why, R->whylen);
		while (!rc) {
			mfs_gold_rd_reset(rd);
			rc = mfs_gold_rd_u8(rd, &tag);
			if (rc || tag == 'E')
				break;
			if (tag != 'G') {
				snprintf(R->why, R->whylen, "corrupt partial result");
				rc = -EBADMSG;
				break;
			}
			rc = mfs_gold_rd_u64(rd, &kl);
			if (!rc)
				rc = mfs_gold_rd_blob(rd, (size_t)kl, &off);
			if (!rc)
				rc = groups_get(q, &R->g, rd->scratch.data + off, (size_t)kl, &idx,
						&added);
			for (i = 0; i < q->nneed && !rc; i++)
				rc = mfs_gold_rd_val(rd, &rv[i]);
			if (rc)
				break;
			mfs_gold_rd_fix(rd, rv, q->nneed);
			for (i = 0; added && i < q->nneed && !rc; i++)
				rc = mfs_gold_val_dup(&R->g.rep[idx * q->nneed + i], &rv[i]);
			for (i = 0; i < q->naggs && !rc; i++) {
				rc = mfs_agg_get(&q->aggs[i], &tmp, rd);
				if (!rc)
					rc = mfs_agg_merge(&q->aggs[i], &R->g.st[idx * q->naggs + i],
							   &tmp);
				mfs_agg_clear(&tmp);
			}
		}
		mfs_gold_rd_free(rd);
	}
	if (rc)
		goto out;
	/* aggregates without GROUP BY: one row, even over nothing */
	if (!R->g.map.n && !q->ngexpr) {
		rc = groups_get(q, &R->g, "", 0, &idx, &added);
		if (rc)
			goto out;
	}
	for (p = 0; p < R->g.map.n && !rc; p++) {
		struct mfs_value v;

		mfs_arena_reset(R->arena);
		for (i = 0; i < q->nneed; i++)
			R->row[q->need[i]] = R->g.rep[p * q->nneed + i];
		for (i = 0; i < q->naggs && !rc; i++)
			rc = mfs_agg_result(&q->aggs[i], &R->g.st[p * q->naggs + i], R->arena,
					    &R->row[q->ncomb + i]);
		if (rc)
			break;
		if (q->having) {
			rc = mfs_expr_eval(q->having, R->row, R->arena, &v);
			if (rc) {
				rc = eval_err(R, rc);
				break;
			}
			if (v.is_null || !v.u.b)
				continue;
		}
		rc = eval_outs(R);
		if (!rc)
			rc = res_emit(res, R->vals);
	}
out:
	if (rc == -ERANGE || rc == -EDOM)
		rc = eval_err(R, rc);
	free(rv);
	free(rd);
	return rc;
}

static int finish_rows(struct run *R, struct mfs_source **partials, size_t n, struct res *res)
{
	const struct mfs_gold_query *q = R->q;
	size_t width = q->nouts + q->nokeys, p, i;
	struct mfs_gold_rd *rd = malloc(sizeof(*rd));
	uint8_t tag;
	int rc = 0;

	if (!rd)
		return -ENOMEM;
	for (p = 0; p < n && !rc; p++) {
		mfs_gold_rd_init(rd, partials[p]);
		rc = read_header(rd, 'R', R->why, R->whylen);
		while (!rc) {
			if (!res->sorting && q->limit >= 0 && res->emitted >= (uint64_t)q->limit)
				break; /* the rest cannot show */
			mfs_gold_rd_reset(rd);
			rc = mfs_gold_rd_u8(rd, &tag);
			if (rc || tag == 'E')
				break;
			if (tag != 'R') {
				snprintf(R->why, R->whylen, "corrupt partial result");
				rc = -EBADMSG;
				break;
			}
			for (i = 0; i < width && !rc; i++)
				rc = mfs_gold_rd_val(rd, &R->vals[i]);
			if (rc)
				break;
			mfs_gold_rd_fix(rd, R->vals, width);
			rc = res_emit(res, R->vals);
		}
		mfs_gold_rd_free(rd);
	}
	free(rd);
	return rc;
}

/* Runs finish with each result row given to @row (outputs first). */
static int finish_into(const struct mfs_gold_query *q, struct mfs_source **partials, size_t n,
		       int (*row)(void *arg, const struct mfs_value *v), void *arg,
		       int (*before)(void *arg), char *why, size_t whylen)
{
	struct res res;
	struct run R;
	int rc;

	memset(&res, 0, sizeof(res));
	rc = run_init(&R, q, why, whylen);
	if (rc)
		goto out;
	res.q = q;
	res.width = q->nouts + (q->is_agg ? 0 : q->nokeys);
	{
		size_t i;

		/* agg queries evaluate their order keys at finish: same layout */
		if (q->is_agg)
			for (i = 0; i < q->norder; i++)
				res.width += q->order[i].out < 0;
	}
	res.sorting = q->norder > 0;
	res.row = row;
	res.arg = arg;
	res.keep = mfs_arena_new();
	if (!res.keep) {
		rc = -ENOMEM;
		goto out;
	}
	rc = before ? before(arg) : 0;
	if (!rc)
		rc = q->is_agg ? finish_agg(&R, partials, n, &res)
			       : finish_rows(&R, partials, n, &res);
	if (!rc)
		rc = res_done(&res);
out:
	if (rc && whylen && !why[0])
		snprintf(why, whylen, "%s", rc == -ENOMEM ? "out of memory"
				: *mfs_last_error() ? mfs_last_error() : strerror(-rc));
	res_free(&res);
	run_free(&R);
	return rc;
}

static int w_row_cb(void *arg, const struct mfs_value *v)
{
	return w_row(arg, v);
}

static int w_header_cb(void *arg)
{
	return w_header(arg);
}

int mfs_gold_finish(const struct mfs_gold_query *q, struct mfs_source **partials, size_t n,
		    enum mfs_out_format format, struct mfs_sink *out, uint64_t *rows, char *why,
		    size_t whylen)
{
	struct writer w = { out, format, NULL, q->nouts, MFS_BUF_INIT, 0 };
	const char **names = calloc(q->nouts + 1, sizeof(*names));
	size_t i;
	int rc;

	if (!names)
		return -ENOMEM;
	for (i = 0; i < q->nouts; i++)
		names[i] = q->outs[i].name;
	w.names = names;
	rc = finish_into(q, partials, n, w_row_cb, &w, w_header_cb, why, whylen);
	if (!rc)
		rc = w_flush(&w, 1);
	if (rows)
		*rows = w.rows;
	mfs_buf_free(&w.b);
	free(names);
	return rc;
}

/* ---- profile: a query of count/min/max per column, shown transposed ---- */

static int profile_query(const struct mfs_gold_schema *schema, struct mfs_gold_query **out,
			 char *why, size_t whylen)
{
	struct mfs_buf b = MFS_BUF_INIT;
	struct mfs_expr_error err;
	struct mfs_gold_query *q = NULL;
	size_t i, k;
	int rc = mfs_buf_appendf(&b, "SELECT count(*)");

	for (i = 0; i < schema->ncols && !rc; i++) {
		struct mfs_buf qn = MFS_BUF_INIT;
		const char *s = schema->cols[i].name ? schema->cols[i].name : "";

		rc = mfs_buf_append(&qn, "\"", 1);
		for (k = 0; s[k] && !rc; k++) {
			rc = mfs_buf_append(&qn, s + k, 1);
			if (!rc && s[k] == '"')
				rc = mfs_buf_append(&qn, "\"", 1);
		}
		if (!rc)
			rc = mfs_buf_append(&qn, "\"", 1);
		if (!rc)
			rc = mfs_buf_appendf(&b, ", count(%s), count(DISTINCT %s), min(%s), max(%s)",
					     qn.data, qn.data, qn.data, qn.data);
		mfs_buf_free(&qn);
	}
	if (!rc)
		rc = mfs_buf_appendf(&b, " FROM \"profile\"");
	if (!rc)
		rc = mfs_gold_parse(b.data, b.len, &q, &err);
	if (!rc)
		rc = mfs_gold_bind(q, schema, &err);
	if (rc) {
		snprintf(why, whylen, "profile: %s", rc == -ENOMEM ? "out of memory" : err.msg);
		mfs_gold_free(q);
		q = NULL;
		rc = rc == -ENOMEM ? rc : -EIO;
	}
	mfs_buf_free(&b);
	*out = q;
	return rc;
}

int mfs_gold_profile_partial(const struct mfs_gold_schema *schema,
			     const struct mfs_gold_file *file, struct mfs_sink *out, char *why,
			     size_t whylen)
{
	struct mfs_gold_query *q;
	int rc = profile_query(schema, &q, why, whylen);

	if (rc)
		return rc;
	rc = mfs_gold_partial(q, NULL, file, out, why, whylen);
	mfs_gold_free(q);
	return rc;
}

struct prof {
	const struct mfs_gold_schema *schema;
	struct writer *w;
};

static int prof_row(void *arg, const struct mfs_value *v)
{
	static const size_t per = 4;
	struct prof *P = arg;
	char tn[32], mn[MFS_VALUE_TEXT_MAX], mx[MFS_VALUE_TEXT_MAX];
	struct mfs_value o[7];
	size_t i, k;
	int rc = 0;

	for (i = 0; i < P->schema->ncols && !rc; i++) {
		const struct mfs_gold_column *c = &P->schema->cols[i];
		const struct mfs_value *x = v + 1 + i * per;

		memset(o, 0, sizeof(o));
		o[0].type = o[1].type = o[5].type = o[6].type = MFS_T_STRING;
		o[2].type = o[3].type = o[4].type = MFS_T_INT;
		o[0].u.s.p = c->name ? c->name : "";
		o[0].u.s.len = strlen(o[0].u.s.p);
		o[1].u.s.p = mfs_expr_type_name(c->type == MFS_T_NULL ? MFS_T_STRING : c->type,
						c->scale, tn, sizeof(tn));
		o[1].u.s.len = strlen(o[1].u.s.p);
		o[2].u.i = v[0].u.i;
		o[3].u.i = v[0].u.i - x[0].u.i;
		o[4].u.i = x[1].u.i;
		for (k = 0; k < 2; k++) {
			const struct mfs_value *m = &x[2 + k];
			struct mfs_value *d = &o[5 + k];
			char *buf = k ? mx : mn;

			if (m->is_null) {
				d->is_null = 1;
			} else if (m->type == MFS_T_STRING) {
				d->u.s = m->u.s;
			} else {
				d->u.s.len = mfs_value_format(m, buf);
				d->u.s.p = buf;
			}
		}
		rc = w_row(P->w, o);
	}
	return rc;
}

static int prof_header(void *arg)
{
	struct prof *P = arg;

	return w_header(P->w);
}

int mfs_gold_profile_finish(const struct mfs_gold_schema *schema, struct mfs_source **partials,
			    size_t n, enum mfs_out_format format, struct mfs_sink *out,
			    char *why, size_t whylen)
{
	static const char *const names[] = { "column", "type", "rows", "nulls", "distinct",
					     "min", "max" };
	struct writer w = { out, format, names, 7, MFS_BUF_INIT, 0 };
	struct prof P = { schema, &w };
	struct mfs_gold_query *q;
	int rc = profile_query(schema, &q, why, whylen);

	if (rc)
		return rc;
	rc = finish_into(q, partials, n, prof_row, &P, prof_header, why, whylen);
	if (!rc)
		rc = w_flush(&w, 1);
	mfs_buf_free(&w.b);
	mfs_gold_free(q);
	return rc;
}
