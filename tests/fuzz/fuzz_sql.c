/*
 * fuzz_sql.c - libFuzzer target for gold's SQL: parse arbitrary text; when
 * it parses, bind it to a fixed schema, load any JOINed dataset and run
 * partial() + finish() on a tiny in-memory silver file. Nothing may crash,
 * whatever the statement; errors are fine.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../transforms/gold.h"
#include "../../util/buf.h"
#include "../../util/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct mfs_gold_column t_cols[] = {
	{ "a", MFS_T_INT, 0 },       { "b", MFS_T_DECIMAL, 2 }, { "c", MFS_T_DOUBLE, 0 },
	{ "s", MFS_T_STRING, 0 },    { "d", MFS_T_DATE, 0 },    { "ts", MFS_T_TIMESTAMP, 0 },
	{ "f", MFS_T_BOOL, 0 },
};
static const struct mfs_gold_column u_cols[] = {
	{ "a", MFS_T_INT, 0 },
	{ "s", MFS_T_STRING, 0 },
};

static const char t_csv[] =
	"a,b,c,s,d,ts,f\n"
	"1,1.50,2.5,x,2024-01-05,2024-01-05T10:00:00,true\n"
	"2,-3.25,1e300,\"y,z\",2023-12-31,2024-02-29T23:59:59.5Z,false\n"
	",,,,,,\n"
	"9223372036854775807,99999999999999.99,-0.0,\"\",1970-01-01,1970-01-01T00:00:00,\n"
	"-9223372036854775808,0.01,nan,x,2024-01-05,2024-01-05T10:00:00,true\n";
static const char u_csv[] = "a,s\n1,one\n1,uno\n,none\n3,three\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfs_gold_schema T = { t_cols, sizeof(t_cols) / sizeof(t_cols[0]) };
	struct mfs_gold_schema U = { u_cols, sizeof(u_cols) / sizeof(u_cols[0]) };
	struct mfs_gold_schema schemas[16];
	struct mfs_gold_query *q = NULL;
	struct mfs_gold_dims *dims = NULL;
	struct mfs_buf part = MFS_BUF_INIT, out = MFS_BUF_INIT;
	struct mfs_sink_buf ps, os;
	struct mfs_source *srcs[2] = { NULL, NULL };
	struct mfs_expr_error err;
	struct mfs_gold_file f;
	char why[256];
	uint64_t rows;
	size_t i, n;

	if (mfs_gold_parse((const char *)data, size, &q, &err))
		return 0;
	n = mfs_gold_ndatasets(q);
	if (n > 16)
		goto out;
	for (i = 0; i < n; i++)
		schemas[i] = !strcmp(mfs_gold_dataset(q, i), "u") ? U : T;
	if (mfs_gold_check(q, schemas, &err) || mfs_gold_bind(q, schemas, &err))
		goto out;
	free(mfs_gold_schema_json(q));
	for (i = 1; i < n; i++) {
		int bad;

		memset(&f, 0, sizeof(f));
		f.schema = schemas[i];
		f.src = schemas[i].cols == u_cols ? mfs_source_mem(u_csv, sizeof(u_csv) - 1)
						  : mfs_source_mem(t_csv, sizeof(t_csv) - 1);
		if (!f.src)
			goto out;
		bad = mfs_gold_dims_load(q, &dims, i, &f, 1, why, sizeof(why));
		mfs_source_close(f.src);
		if (bad)
			goto out;
	}
	memset(&f, 0, sizeof(f));
	f.schema = schemas[0];
	f.src = mfs_source_mem(t_csv, sizeof(t_csv) - 1);
	if (!f.src)
		goto out;
	mfs_sink_buf_init(&ps, &part);
	i = mfs_gold_partial(q, dims, &f, &ps.sink, why, sizeof(why));
	mfs_source_close(f.src);
	if (i)
		goto out;
	/* the same partial twice: a merge of two files */
	srcs[0] = mfs_source_mem(part.data, part.len);
	srcs[1] = mfs_source_mem(part.data, part.len);
	if (!srcs[0] || !srcs[1])
		goto out;
	mfs_sink_buf_init(&os, &out);
	mfs_gold_finish(q, srcs, 2, (data[0] & 1) ? MFS_OUT_JSONL : MFS_OUT_CSV, &os.sink, &rows,
			why, sizeof(why));
out:
	mfs_source_close(srcs[0]);
	mfs_source_close(srcs[1]);
	mfs_buf_free(&part);
	mfs_buf_free(&out);
	mfs_gold_dims_free(dims);
	mfs_gold_free(q);
	return 0;
}
