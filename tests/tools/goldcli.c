/*
 * goldcli.c - run a gold query (or a profile) over silver files without a
 * mount, for the differential tests against DuckDB
 * (tests/mount/test_gold_duckdb.py).
 *
 *   mfs-goldcli [--format csv|jsonl] [--partials-dir DIR] --sql 'SELECT ...'
 *               --file DATASET=PATH.csv:SCHEMA.json [--file ...]
 *   mfs-goldcli --profile DATASET --file ...
 *
 * It does what fs/ does: combines each dataset's schemas (by name, in
 * first-appearance order, widened), parses and binds, loads the JOINed
 * datasets, runs partial() per FROM file into a file and reads it back (so
 * the partial round trip is exercised), then finish() to stdout.
 * Exit 2 on parse/bind errors ("LINE:COL: message" on stderr), 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "../../transforms/aggregate.h"
#include "../../transforms/expr_i.h"
#include "../../transforms/gold.h"
#include "../../util/stream.h"

struct cfile {
	char *dataset;
	char *path;
	struct mfs_gold_column *cols;
	size_t ncols;
};

static struct cfile files[4096];
static size_t nfiles;

static void die(int code, const char *fmt, const char *arg) __attribute__((noreturn));

static void die(int code, const char *fmt, const char *arg)
{
	fprintf(stderr, "mfs-goldcli: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(code);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
	    !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	fclose(f);
	return buf;
}

static void load_schema(struct cfile *cf, const char *path)
{
	char errbuf[256], *text;
	const char *name_path[] = { "name", NULL }, *type_path[] = { "type", NULL };
	struct mfs_expr_error err;
	yajl_val root;
	size_t len, i;

	text = slurp(path, &len);
	if (!text)
		die(1, "cannot read schema %s", path);
	root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
	free(text);
	if (!root || !YAJL_IS_ARRAY(root))
		die(1, "schema %s is not a JSON array", path);
	cf->ncols = root->u.array.len;
	cf->cols = calloc(cf->ncols + 1, sizeof(*cf->cols));
	if (!cf->cols)
		die(1, "%s", "out of memory");
	for (i = 0; i < cf->ncols; i++) {
		yajl_val o = root->u.array.values[i];
		yajl_val n = yajl_tree_get(o, name_path, yajl_t_string);
		yajl_val t = yajl_tree_get(o, type_path, yajl_t_string);
		const char *ts = t && YAJL_GET_STRING(t) ? YAJL_GET_STRING(t) : "VARCHAR";

		const char *nm = n ? YAJL_GET_STRING(n) : NULL;

		if (!nm)
			die(1, "schema %s: a column has no name", path);
		cf->cols[i].name = strdup(nm);
		if (!strcasecmp(ts, "HUGEINT")) {
			cf->cols[i].type = MFS_T_DECIMAL;
			cf->cols[i].scale = 0;
		} else if (mfs_expr_parse_type(ts, strlen(ts), &cf->cols[i].type,
					       &cf->cols[i].scale, &err)) {
			die(1, "unknown type %s", ts);
		}
	}
	yajl_tree_free(root);
}

/* The wider of two column types (SPEC §5). */
static void widen(struct mfs_gold_column *c, const struct mfs_gold_column *f)
{
	enum mfs_type a = c->type, b = f->type;

	if (a == b) {
		if (a == MFS_T_DECIMAL && f->scale > c->scale)
			c->scale = f->scale;
		return;
	}
	if ((a == MFS_T_INT || a == MFS_T_DECIMAL || a == MFS_T_DOUBLE) &&
	    (b == MFS_T_INT || b == MFS_T_DECIMAL || b == MFS_T_DOUBLE)) {
		if (a == MFS_T_DOUBLE || b == MFS_T_DOUBLE) {
			c->type = MFS_T_DOUBLE;
			c->scale = 0;
		} else {
			c->type = MFS_T_DECIMAL;
			c->scale = a == MFS_T_DECIMAL ? c->scale : f->scale;
		}
		return;
	}
	if ((a == MFS_T_DATE && b == MFS_T_TIMESTAMP) || (a == MFS_T_TIMESTAMP && b == MFS_T_DATE)) {
		c->type = MFS_T_TIMESTAMP;
		return;
	}
	c->type = MFS_T_STRING;
	c->scale = 0;
}

static struct mfs_gold_schema combined(const char *dataset)
{
	struct mfs_gold_column *cols = calloc(1024, sizeof(*cols));
	size_t n = 0, i, j, k;

	if (!cols)
		die(1, "%s", "out of memory");
	for (i = 0; i < nfiles; i++) {
		if (strcmp(files[i].dataset, dataset))
			continue;
		for (j = 0; j < files[i].ncols; j++) {
			for (k = 0; k < n; k++)
				if (!strcasecmp(cols[k].name, files[i].cols[j].name))
					break;
			if (k < n) {
				widen(&cols[k], &files[i].cols[j]);
			} else if (n < 1024) {
				cols[n++] = files[i].cols[j];
			}
		}
	}
	return (struct mfs_gold_schema){ cols, n };
}

static int open_file(size_t i, struct mfs_gold_file *gf)
{
	int fd = open(files[i].path, O_RDONLY);
	size_t l = strlen(files[i].path);

	if (fd < 0)
		return -errno;
	gf->src = mfs_source_fd(fd, 1);
	if (!gf->src) {
		close(fd);
		return -ENOMEM;
	}
	gf->format = l > 6 && !strcmp(files[i].path + l - 6, ".jsonl") ? MFS_OUT_JSONL
									 : MFS_OUT_CSV;
	gf->schema.cols = files[i].cols;
	gf->schema.ncols = files[i].ncols;
	return 0;
}

/* partial() of every file of @dataset into files, read back as sources. */
static size_t run_partials(const struct mfs_gold_query *q, const struct mfs_gold_dims *dims,
			   const struct mfs_gold_schema *schema, const char *dataset,
			   const char *dir, struct mfs_source **srcs)
{
	char tmpl[4096], why[512];
	size_t i, n = 0;

	for (i = 0; i < nfiles; i++) {
		struct mfs_gold_file gf;
		struct mfs_sink_fd sink;
		int fd, rc;

		if (strcmp(files[i].dataset, dataset))
			continue;
		snprintf(tmpl, sizeof(tmpl), "%s/mfs-gold-partial-XXXXXX", dir ? dir : "/tmp");
		fd = mkstemp(tmpl);
		if (fd < 0)
			die(1, "cannot create %s", tmpl);
		if (!dir)
			unlink(tmpl);
		if (open_file(i, &gf))
			die(1, "cannot open %s", files[i].path);
		mfs_sink_fd_init(&sink, fd);
		why[0] = '\0';
		rc = q ? mfs_gold_partial(q, dims, &gf, &sink.sink, why, sizeof(why))
		       : mfs_gold_profile_partial(schema, &gf, &sink.sink, why, sizeof(why));
		mfs_source_close(gf.src);
		if (rc) {
			fprintf(stderr, "mfs-goldcli: %s: %s\n", files[i].path, why);
			exit(1);
		}
		if (lseek(fd, 0, SEEK_SET) < 0)
			die(1, "%s", "lseek failed");
		srcs[n] = mfs_source_fd(fd, 1);
		if (!srcs[n])
			die(1, "%s", "out of memory");
		n++;
	}
	return n;
}

int main(int argc, char **argv)
{
	const char *sql = NULL, *profile = NULL, *dir = NULL;
	enum mfs_out_format format = MFS_OUT_CSV;
	struct mfs_source **srcs = NULL;
	struct mfs_gold_schema schemas[64] = { { NULL, 0 } };
	struct mfs_gold_query *q = NULL;
	struct mfs_gold_dims *dims = NULL;
	struct mfs_expr_error err;
	struct mfs_sink_fd out;
	char why[512] = "";
	size_t i, j, n;
	uint64_t rows;
	int rc, status = 0;

	for (i = 1; i < (size_t)argc; i++) {
		const char *a = argv[i], *v = i + 1 < (size_t)argc ? argv[i + 1] : NULL;

		if (!v)
			die(1, "%s needs a value", a);
		i++;
		if (!strcmp(a, "--sql")) {
			sql = v;
		} else if (!strcmp(a, "--profile")) {
			profile = v;
		} else if (!strcmp(a, "--partials-dir")) {
			dir = v;
		} else if (!strcmp(a, "--format")) {
			format = !strcmp(v, "jsonl") ? MFS_OUT_JSONL : MFS_OUT_CSV;
		} else if (!strcmp(a, "--file")) {
			char *s = strdup(v), *eq = strchr(s, '='), *colon = strrchr(s, ':');

			if (!eq || !colon || colon < eq || nfiles == 4096)
				die(1, "bad --file %s (want DATASET=PATH:SCHEMA.json)", v);
			*eq = *colon = '\0';
			files[nfiles].dataset = s;
			files[nfiles].path = eq + 1;
			load_schema(&files[nfiles], colon + 1);
			nfiles++;
		} else {
			die(1, "unknown option %s", a);
		}
	}
	srcs = calloc(nfiles + 1, sizeof(*srcs));
	if (!srcs)
		die(1, "%s", "out of memory");
	mfs_sink_fd_init(&out, 1);
	if (profile) {
		schemas[0] = combined(profile);
		n = run_partials(NULL, NULL, &schemas[0], profile, dir, srcs);
		rc = mfs_gold_profile_finish(&schemas[0], srcs, n, format, &out.sink, why,
					     sizeof(why));
		if (rc) {
			fprintf(stderr, "mfs-goldcli: %s\n", why);
			status = 1;
		}
		goto done;
	}
	if (!sql)
		die(1, "%s", "--sql or --profile is required");
	rc = mfs_gold_parse(sql, strlen(sql), &q, &err);
	if (rc) {
		fprintf(stderr, "%d:%d: %s\n", err.line, err.col, err.msg);
		status = 2;
		goto done;
	}
	if (mfs_gold_ndatasets(q) > 64)
		die(2, "%s", "too many datasets");
	/* A dataset no --file names does not exist (DuckDB: a catalog error). */
	for (i = 0; i < mfs_gold_ndatasets(q); i++) {
		for (j = 0; j < nfiles; j++)
			if (!strcmp(files[j].dataset, mfs_gold_dataset(q, i)))
				break;
		if (j == nfiles) {
			fprintf(stderr, "%d:%d: dataset %s does not exist\n", q->ds[i].line,
				q->ds[i].col, mfs_gold_dataset(q, i));
			status = 2;
			goto done;
		}
	}
	for (i = 0; i < mfs_gold_ndatasets(q); i++)
		schemas[i] = combined(mfs_gold_dataset(q, i));
	rc = mfs_gold_bind(q, schemas, &err);
	if (rc) {
		fprintf(stderr, "%d:%d: %s\n", err.line, err.col, err.msg);
		status = 2;
		goto done;
	}
	for (i = 1; i < mfs_gold_ndatasets(q); i++) {
		struct mfs_gold_file *gf = calloc(nfiles + 1, sizeof(*gf));
		size_t m = 0;

		if (!gf)
			die(1, "%s", "out of memory");
		for (j = 0; j < nfiles; j++)
			if (!strcmp(files[j].dataset, mfs_gold_dataset(q, i)) &&
			    !open_file(j, &gf[m]))
				m++;
		rc = mfs_gold_dims_load(q, &dims, i, gf, m, why, sizeof(why));
		for (j = 0; j < m; j++)
			mfs_source_close(gf[j].src);
		free(gf);
		if (rc) {
			fprintf(stderr, "mfs-goldcli: %s\n", why);
			status = 1;
			goto done;
		}
	}
	n = run_partials(q, dims, NULL, mfs_gold_dataset(q, 0), dir, srcs);
	rc = mfs_gold_finish(q, srcs, n, format, &out.sink, &rows, why, sizeof(why));
	if (rc) {
		fprintf(stderr, "mfs-goldcli: %s\n", why);
		status = 1;
	}
done:
	/* Everything freed on every path, so LeakSanitizer judges the engine. */
	for (i = 0; i < nfiles && srcs[i]; i++)
		mfs_source_close(srcs[i]);
	free(srcs);
	for (i = 0; i < 64; i++)
		free((void *)schemas[i].cols);
	mfs_gold_dims_free(dims);
	mfs_gold_free(q);
	return status;
}
