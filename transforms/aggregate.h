/*
 * aggregate.h - the insides of gold (internal to sql.c, gold.c and
 * aggregate.c): the parsed query, the binary form of partial results
 * (values, aggregate states), the byte-keyed hash map that groups, joins
 * and DISTINCT sets share, and the mergeable aggregate states.
 *
 * Ownership: an "owned" value (mfs_gold_val_dup) has its string bytes in
 * malloc'd memory freed by mfs_gold_val_free; every other value points
 * into someone else's memory (a record, an arena, a read buffer) and lives
 * only as long as that memory.
 */
#ifndef MFS_AGGREGATE_H
#define MFS_AGGREGATE_H

#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/stream.h"
#include "expr_i.h"
#include "gold.h"
#include "value.h"

/* ---- the query (built by sql.c, bound and run by gold.c) ---- */

struct gold_item {
	struct mfs_expr *e;   /* NULL for a star */
	char *alias;          /* AS name, or NULL */
	char *star_qual;      /* "s" for s.*, NULL for * */
	int line, col;
};

struct gold_ds {
	char *name;
	char *alias;          /* NULL: referenced by its name */
	int line, col;
	int left;             /* joins: LEFT JOIN */
	struct mfs_expr *on;  /* joins: the ON condition */
	/* bound */
	struct mfs_gold_column *cols; /* names owned */
	size_t ncols;
	size_t off;           /* first column in the combined row */
	struct mfs_expr **lkeys, **rkeys; /* joins: ON's equalities, sides split */
	enum mfs_type *ktype;  /* the type both sides are compared as */
	int *kscale;
	size_t nkeys;
};

struct gold_order {
	struct mfs_expr *e;   /* owned; NULL when @pos names the output */
	int desc, nulls_first;
	int line, col;
	int out;              /* bound: output column it sorts by, or -1 */
};

struct gold_out {
	char *name;
	const struct mfs_expr *e; /* NULL: combined column @col */
	int col;
	enum mfs_type type;
	int scale;
};

struct gold_agg {
	struct mfs_expr *node;  /* the first of the equal aggregate nodes */
	int op, distinct;
	enum mfs_type in_type;  /* argument type */
	int in_scale;
};

struct mfs_gold_query {
	char *sql;
	size_t sql_len;
	struct gold_item *items;
	size_t nitems;
	int distinct;           /* SELECT DISTINCT */
	struct gold_ds *ds;     /* [0] FROM, then the joins */
	size_t nds;
	struct mfs_expr *where, *having;
	struct mfs_expr **group; /* owned parse trees; positions/aliases as INT/COLUMN */
	size_t ngroup;
	struct gold_order *order;
	size_t norder;
	int64_t limit;          /* -1: none */

	/* bound */
	int bound;
	size_t ncomb;           /* combined row width (all datasets) */
	struct gold_out *outs;
	size_t nouts;
	const struct mfs_expr **gexpr; /* the GROUP BY expressions actually used */
	size_t ngexpr;
	int is_agg;
	struct gold_agg *aggs;
	size_t naggs;
	int *need;              /* columns read outside aggregates (agg queries) */
	size_t nneed;
	size_t nokeys;          /* ORDER BY keys stored with rows (non-agg) */
};

/* sql.c */
void mfs_gold_query_free_parts(struct mfs_gold_query *q);
/* A DuckDB-like name for an expression ("sum(amount)", "count_star()"); malloc'd. */
char *mfs_gold_expr_name(const struct mfs_gold_query *q, const struct mfs_expr *e);

/* ---- values in partials ---- */

int mfs_gold_val_put(struct mfs_buf *b, const struct mfs_value *v);
int mfs_gold_val_dup(struct mfs_value *dst, const struct mfs_value *src);
void mfs_gold_val_free(struct mfs_value *v);
/* Equal for grouping (NULL equals NULL). */
int mfs_gold_val_same(const struct mfs_value *a, const struct mfs_value *b);

/* A buffered reader of a partial. Strings point into @scratch until the
 * next mfs_gold_rd_reset(). */
struct mfs_gold_rd {
	struct mfs_source *src;
	unsigned char buf[65536];
	size_t pos, len;
	int eof;
	struct mfs_buf scratch;
	int err;
};

void mfs_gold_rd_init(struct mfs_gold_rd *r, struct mfs_source *src);
void mfs_gold_rd_reset(struct mfs_gold_rd *r);
void mfs_gold_rd_free(struct mfs_gold_rd *r);
int mfs_gold_rd_bytes(struct mfs_gold_rd *r, void *dst, size_t n);
int mfs_gold_rd_u8(struct mfs_gold_rd *r, uint8_t *v);
int mfs_gold_rd_u64(struct mfs_gold_rd *r, uint64_t *v);
/*
 * A value. A string's bytes go to r->scratch, which may move while more is
 * read: until mfs_gold_rd_fix() the value holds their offset, not a pointer.
 */
int mfs_gold_rd_val(struct mfs_gold_rd *r, struct mfs_value *v);
void mfs_gold_rd_fix(const struct mfs_gold_rd *r, struct mfs_value *v, size_t n);
/* Bytes of @n into scratch; *@off is where they start. */
int mfs_gold_rd_blob(struct mfs_gold_rd *r, size_t n, size_t *off);
int mfs_gold_put_u64(struct mfs_buf *b, uint64_t v);

/* ---- a byte-keyed hash map: keys → insertion index ---- */

struct mfs_bmap {
	uint32_t *slots;      /* index + 1, 0 empty */
	uint64_t *hashes;     /* per entry */
	size_t *koff;         /* per entry: offset of its key in @keys */
	size_t *klen;
	struct mfs_buf keys;
	size_t n, cap, ecap;
};

void mfs_bmap_init(struct mfs_bmap *m);
void mfs_bmap_free(struct mfs_bmap *m);
/* 0 with *@idx (and *@added), or -ENOMEM. */
int mfs_bmap_add(struct mfs_bmap *m, const void *k, size_t n, size_t *idx, int *added);
/* Index of @k, or -1. */
long mfs_bmap_find(const struct mfs_bmap *m, const void *k, size_t n);
static inline const void *mfs_bmap_key(const struct mfs_bmap *m, size_t i, size_t *n)
{
	*n = m->klen[i];
	return *n ? m->keys.data + m->koff[i] : "";
}

/* ---- aggregate states ---- */

struct mfs_agg_state {
	int64_t count;        /* COUNT, AVG: non-null inputs */
	int has;              /* SUM, AVG, MIN, MAX: a non-null input was seen */
	__int128 isum;        /* SUM/AVG of integers and decimals (scaled) */
	double dsum;          /* SUM/AVG of doubles */
	struct mfs_value mm;  /* MIN/MAX: owned */
	struct mfs_bmap *set; /* DISTINCT: the encoded values seen */
};

void mfs_agg_init(struct mfs_agg_state *s);
void mfs_agg_clear(struct mfs_agg_state *s);
/* Feed one value (NULL included). -ERANGE with mfs_set_error on overflow. */
int mfs_agg_update(const struct gold_agg *a, struct mfs_agg_state *s, const struct mfs_value *v,
		   struct mfs_buf *tmp);
int mfs_agg_merge(const struct gold_agg *a, struct mfs_agg_state *dst, struct mfs_agg_state *src);
int mfs_agg_put(const struct gold_agg *a, const struct mfs_agg_state *s, struct mfs_buf *b);
int mfs_agg_get(const struct gold_agg *a, struct mfs_agg_state *s, struct mfs_gold_rd *r);
/* The result, of the aggregate node's type; strings point into @s or @arena. */
int mfs_agg_result(const struct gold_agg *a, const struct mfs_agg_state *s,
		   struct mfs_arena *arena, struct mfs_value *out);

#endif
