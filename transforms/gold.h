/*
 * gold.h - the gold engine: SQL views over silver datasets (SPEC §5), computed
 * incrementally from per-file partial results.
 *
 * A pure library, like silver: it never lists, fetches or caches anything
 * itself. fs/ gives it the silver files of each dataset as sources and
 * keeps its partial results in the cache:
 *
 *   q = parse(sql)                      at mount (errors: LINE:COL in the sql)
 *   check_declared(q, pipeline)         at mount, for datasets with declared columns
 *   bind(q, combined schema per dataset) at the first read (errors: EIO + reason)
 *   dims = dims_load(q, files of every JOINed dataset)
 *   for each silver file F of the FROM dataset:
 *       partial(q, dims, F) -> bytes   (cached by fs/ under F's key + ETag)
 *   finish(q, all partials) -> the view's file
 *
 * A partial holds what one file contributes: for an aggregate query its
 * groups with mergeable states (count, sum as exact scaled 128-bit integers
 * or doubles, min, max, avg as sum+count, count(DISTINCT) as the file's set
 * of distinct values); otherwise the file's filtered, projected rows plus
 * the ORDER BY keys. finish() merges them, applies HAVING, ORDER BY (NULLS
 * LAST by default, as DuckDB), LIMIT, and writes CSV or JSONL in SPEC §5's
 * formats. Semantics follow DuckDB so that DuckDB reading the same silver
 * files with the types of user.medallion.schema returns the same result.
 */
#ifndef MFS_GOLD_H
#define MFS_GOLD_H

#include <stddef.h>
#include <stdint.h>

#include "../util/stream.h"
#include "expr.h"
#include "pipeline.h"
#include "value.h"

/* Bumped whenever the bytes gold writes (or a partial's format) would change. */
#define MFS_GOLD_FORMAT_VERSION 1

struct mfs_gold_query;

/*
 * Parse the subset of SPEC §5: SELECT expr [AS alias], ... FROM dataset [alias]
 * [[INNER|LEFT] JOIN dataset [alias] ON a.x = b.y [AND ...]]... [WHERE expr]
 * [GROUP BY expr|alias|position, ...] [HAVING expr] [ORDER BY expr|alias|
 * position [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n]. -EINVAL with
 * @err (line/col relative to @sql) on a syntax error.
 */
int mfs_gold_parse(const char *sql, size_t len, struct mfs_gold_query **out,
		   struct mfs_expr_error *err);
void mfs_gold_free(struct mfs_gold_query *q);

/* The datasets the query reads: [0] is the FROM dataset, then each JOIN's. */
size_t mfs_gold_ndatasets(const struct mfs_gold_query *q);
const char *mfs_gold_dataset(const struct mfs_gold_query *q, size_t i);

/* A dataset's columns: declared, or combined over its files (widened). */
struct mfs_gold_column {
	const char *name;
	enum mfs_type type;
	int scale;
};

struct mfs_gold_schema {
	const struct mfs_gold_column *cols;
	size_t ncols;
};

/*
 * Check the query against declared schemas: @schemas[i] for dataset i, or
 * ncols == 0 when that dataset's columns are only inferred (checked later
 * by bind). -EINVAL with @err (line/col relative to the sql) naming the
 * problem ("column amout not in dataset sales").
 */
int mfs_gold_check(struct mfs_gold_query *q, const struct mfs_gold_schema *schemas,
		   struct mfs_expr_error *err);

/*
 * Bind the query to the datasets' combined schemas (all known now). Must
 * precede everything below; -EINVAL with @err as above. A bound query is
 * read-only: partial()/finish() may run on several threads at once.
 */
int mfs_gold_bind(struct mfs_gold_query *q, const struct mfs_gold_schema *schemas,
		  struct mfs_expr_error *err);

/* The result's schema as JSON (like user.medallion.schema); malloc'd. */
char *mfs_gold_schema_json(const struct mfs_gold_query *q);

/* A silver file: its bytes and its own schema (it may lack columns of the
 * combined schema: those are NULL; its types are widened to the combined). */
struct mfs_gold_file {
	struct mfs_source *src;       /* not owned */
	enum mfs_out_format format;   /* silver's output format */
	struct mfs_gold_schema schema;
};

/* The JOINed datasets, loaded into hash tables. */
struct mfs_gold_dims;

/*
 * Load dataset @i (>= 1) of the query from its @nfiles silver files. Call
 * once per JOINed dataset; *@dims is created on the first call.
 */
int mfs_gold_dims_load(const struct mfs_gold_query *q, struct mfs_gold_dims **dims, size_t i,
		       const struct mfs_gold_file *files, size_t nfiles, char *why, size_t whylen);
void mfs_gold_dims_free(struct mfs_gold_dims *dims);

/*
 * One file of the FROM dataset → its partial result (opaque bytes, written
 * to @out). -EIO with @why for data the query cannot process (e.g. integer
 * overflow in a sum).
 */
int mfs_gold_partial(const struct mfs_gold_query *q, const struct mfs_gold_dims *dims,
		     const struct mfs_gold_file *file, struct mfs_sink *out, char *why,
		     size_t whylen);

/*
 * Merge @n partials (each a source over the bytes partial() wrote; not
 * owned) and write the view to @out in @format; counts its rows in *@rows.
 */
int mfs_gold_finish(const struct mfs_gold_query *q, struct mfs_source **partials, size_t n,
		    enum mfs_out_format format, struct mfs_sink *out, uint64_t *rows, char *why,
		    size_t whylen);

/*
 * Zero-config profile of a dataset (gold/_profile/DATASET.csv): one row per
 * column of @schema with column, type, rows, nulls, distinct, min, max.
 * Same partial/finish shape as a query.
 */
int mfs_gold_profile_partial(const struct mfs_gold_schema *schema,
			     const struct mfs_gold_file *file, struct mfs_sink *out, char *why,
			     size_t whylen);
int mfs_gold_profile_finish(const struct mfs_gold_schema *schema, struct mfs_source **partials,
			    size_t n, enum mfs_out_format format, struct mfs_sink *out,
			    char *why, size_t whylen);

#endif
