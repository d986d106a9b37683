/*
 * fuzz_pipeline.c - libFuzzer target for the pipeline file and the
 * expression language.
 *
 * The input is read twice. As a pipeline file: it must not crash, an error
 * must name the file, and a file that parses must render to text that
 * parses back to the same rendering. As one expression: bound against a
 * fixed three-column schema, without and with aggregates, and evaluated on
 * a row of values and a row of NULLs; a result must have the type the
 * binder promised, and an error a position. A broken promise aborts.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../transforms/expr_i.h"
#include "../../transforms/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int resolve(void *arg, const char *name, size_t len, int *index, enum mfs_type *type,
		   int *scale)
{
	static const char *const names[] = { "a", "b", "c" };
	static const enum mfs_type types[] = { MFS_T_INT, MFS_T_DECIMAL, MFS_T_STRING };
	int i;

	(void)arg;
	for (i = 0; i < 3; i++) {
		if (strlen(names[i]) == len && !memcmp(names[i], name, len)) {
			*index = i;
			*type = types[i];
			*scale = i == 1 ? 2 : 0;
			return 0;
		}
	}
	return -ENOENT;
}

static void check_pipeline(const uint8_t *data, size_t size)
{
	struct mfs_pipeline *p = NULL, *q = NULL;
	char err[512], *r1, *r2;
	size_t i;

	if (mfs_pipeline_parse((const char *)data, size, "f.ini", &p, err, sizeof(err))) {
		if (p || strncmp(err, "f.ini:", 6))
			abort();
		return;
	}
	for (i = 0; i < p->ndatasets; i++)
		(void)mfs_pipeline_dataset_for(p, p->datasets[i].prefix);
	r1 = mfs_pipeline_render(p);
	if (!r1)
		abort();
	if (mfs_pipeline_parse(r1, strlen(r1), "f.ini", &q, err, sizeof(err)))
		abort(); /* what we write we must read */
	r2 = mfs_pipeline_render(q);
	if (!r2 || strcmp(r1, r2))
		abort();
	free(r1);
	free(r2);
	mfs_pipeline_free(p);
	mfs_pipeline_free(q);
}

static void check_value(const struct mfs_expr *e, const struct mfs_value *v)
{
	int scale;
	enum mfs_type t = mfs_expr_type(e, &scale);

	if (v->is_null)
		return;
	if (v->type != t || (t == MFS_T_DECIMAL && v->u.dec.scale != scale))
		abort();
	if (t == MFS_T_STRING && v->u.s.len && !v->u.s.p)
		abort();
}

static void check_expr(const uint8_t *data, size_t size)
{
	struct mfs_expr *e = NULL;
	struct mfs_expr_error err;
	struct mfs_arena *a;
	struct mfs_value row[3], nulls[3], v;
	int agg, rc;

	memset(&err, 0, sizeof(err));
	if (mfs_expr_parse((const char *)data, size, &e, &err)) {
		if (e || err.line < 1 || err.col < 1 || !err.msg[0])
			abort();
		return;
	}
	if (!mfs_expr_equal(e, e))
		abort();
	memset(row, 0, sizeof(row));
	row[0].type = MFS_T_INT;
	row[0].u.i = 42;
	row[1].type = MFS_T_DECIMAL;
	row[1].u.dec.v = -1250; /* -12.50 */
	row[1].u.dec.scale = 2;
	row[2].type = MFS_T_STRING;
	row[2].u.s.p = "Hello, World";
	row[2].u.s.len = 12;
	memcpy(nulls, row, sizeof(row));
	nulls[0].is_null = nulls[1].is_null = nulls[2].is_null = 1;
	a = mfs_arena_new();
	if (!a)
		abort();
	for (agg = 0; agg < 2; agg++) {
		memset(&err, 0, sizeof(err));
		if (mfs_expr_bind(e, resolve, NULL, agg, &err)) {
			if (err.line < 1 || err.col < 1 || !err.msg[0])
				abort();
			continue;
		}
		rc = mfs_expr_eval(e, row, a, &v);
		if (!rc)
			check_value(e, &v);
		else if (rc != -ERANGE && rc != -EDOM && rc != -EINVAL && rc != -ENOMEM)
			abort();
		rc = mfs_expr_eval(e, nulls, a, &v);
		if (!rc)
			check_value(e, &v);
		mfs_arena_reset(a);
	}
	mfs_arena_free(a);
	mfs_expr_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_pipeline(data, size);
	check_expr(data, size);
	return 0;
}
