/*
 * expr.h - the expression language: the WHERE-clause language of gold's SQL
 * subset (SPEC §5), used by silver expectations now and by gold later. One
 * tokenizer, one parser, one evaluator.
 *
 * Grammar (case-insensitive keywords): literals (integers, decimals 1.50,
 * doubles 1e3, 'strings' with '' escapes, TRUE, FALSE, NULL, DATE 'YYYY-MM-DD',
 * TIMESTAMP '...'), column names (bare or "quoted"), + - * / % and unary -,
 * || (string concat), = <> != < <= > >=, AND OR NOT, IS [NOT] NULL,
 * [NOT] IN (list), [NOT] LIKE (with % and _), [NOT] BETWEEN a AND b,
 * CASE [x] WHEN .. THEN .. [ELSE ..] END, CAST(x AS type), parentheses, and
 * calls: lower upper trim coalesce round abs substr date_trunc year month
 * day, and the aggregates count(*) count(x) count(DISTINCT x) sum avg min max
 * (parsed here, evaluated by gold; mfs_expr_bind refuses them where
 * aggregates are not allowed).
 *
 * Semantics follow DuckDB: three-valued NULL logic, integer / integer is a
 * double, integer overflow is an error, decimal arithmetic exact, comparison
 * across int/decimal/double numeric, string vs number comparison is an
 * error at bind time.
 */
#ifndef MFS_EXPR_H
#define MFS_EXPR_H

#include <stddef.h>

#include "value.h"

struct mfs_expr;

struct mfs_expr_error {
	int line;   /* 1-based, relative to the text given */
	int col;    /* 1-based */
	char msg[256];
};

/*
 * Parse @text (@len bytes) as one expression; the whole text must be used.
 * On error returns -EINVAL and fills @err. Free with mfs_expr_free().
 */
int mfs_expr_parse(const char *text, size_t len, struct mfs_expr **out, struct mfs_expr_error *err);
void mfs_expr_free(struct mfs_expr *e);

/* Column lookup for binding: index and type of @name, or -ENOENT. */
typedef int (*mfs_expr_resolve_fn)(void *arg, const char *name, size_t len, int *index,
				   enum mfs_type *type, int *scale);

/*
 * Resolve column names and check types. @allow_aggregates: 0 for
 * expectations. -EINVAL with @err (line/col of the offending token) for an
 * unknown column, a type error or a misplaced aggregate.
 */
int mfs_expr_bind(struct mfs_expr *e, mfs_expr_resolve_fn resolve, void *arg,
		  int allow_aggregates, struct mfs_expr_error *err);

/* Result type of a bound expression (MFS_T_NULL for a NULL literal). */
enum mfs_type mfs_expr_type(const struct mfs_expr *e, int *scale);

struct mfs_arena; /* scratch memory for string results; see below */

/*
 * Evaluate a bound, aggregate-free expression on @row (values by column
 * index). String results point into @arena or into @row. Returns 0, or
 * -ERANGE (overflow) / -EDOM (a cast that fails) with a reason via
 * mfs_set_error(); where DuckDB answers NULL (division by zero) so does this.
 */
int mfs_expr_eval(const struct mfs_expr *e, const struct mfs_value *row, struct mfs_arena *arena,
		  struct mfs_value *out);

/* Scratch memory that is reset per row. */
struct mfs_arena *mfs_arena_new(void);
void *mfs_arena_alloc(struct mfs_arena *a, size_t n);
void mfs_arena_reset(struct mfs_arena *a);
void mfs_arena_free(struct mfs_arena *a);

#endif
