/*
 * silver.h - one bronze object in, one clean table out (SPEC §4).
 *
 * A pure stream function: it reads the object's bytes from a source, writes
 * the silver file to a sink and the rejects to another, and needs only a
 * directory for temporary files (the second pass of type inference reads a
 * spill of the parsed records, and dedupe spills hash partitions past its
 * memory budget). It never holds the whole object in memory.
 *
 * Steps, in order: decompress, decode to UTF-8, parse (dialect sniffed on a
 * sample unless declared), names, values and one type per column, rows,
 * expectations, duplicates. For every file
 * rows_in = rows_out + rows_rejected + duplicates_removed, checked before
 * mfs_silver_run() returns (a violation is a bug: -EPROTO).
 */
#ifndef MFS_SILVER_H
#define MFS_SILVER_H

#include <stddef.h>
#include <stdint.h>

#include "../util/stream.h"
#include "pipeline.h"
#include "reader.h"

/* Bumped whenever the bytes silver writes for the same input would change. */
#define MFS_SILVER_FORMAT_VERSION 1

struct mfs_silver_input {
	const char *key;             /* bronze key, for messages */
	enum mfs_in_format format;   /* from the extension or the dataset */
	enum mfs_codec codec;        /* from the .gz/.zst suffix */
	/* Hive-style k=v path segments of the key, in path order: extra columns. */
	const char *const *hive_names;
	const char *const *hive_values;
	size_t nhive;
};

struct mfs_silver_result {
	uint64_t rows_in;
	uint64_t rows_out;
	uint64_t rows_rejected;
	uint64_t duplicates_removed;
	uint64_t warnings;        /* rows that failed a `warn` expectation */
	uint64_t bytes_in;        /* decoded input bytes */
	uint64_t bytes_out;
	/* JSON array: [{"name":..,"type":..,"scale":..,"currency":..}, ...]; malloc'd */
	char *schema_json;
	/* Not a table / a `fail` expectation: the reason (then the call returns -EIO). */
	char reason[512];
};

/*
 * Run silver on @in for @input with the pipeline's [silver] settings and
 * @dataset (NULL: none owns the key). Writes the table to @out (CSV or
 * JSONL per the pipeline) and the rejects to @rejects as CSV with header
 * "line,reason,raw". @tmpdir must exist. Returns 0; -EIO with res->reason
 * when the object is not a table or a `fail` expectation failed; -errno when
 * a stream failed. @in is read to its end but not closed.
 */
int mfs_silver_run(const struct mfs_pipeline *p, const struct mfs_dataset *dataset,
		   const struct mfs_silver_input *input, struct mfs_source *in, struct mfs_sink *out,
		   struct mfs_sink *rejects, const char *tmpdir, struct mfs_silver_result *res);

void mfs_silver_result_free(struct mfs_silver_result *res);

#endif
