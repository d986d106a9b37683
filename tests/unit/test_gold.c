/*
 * test_gold.c - unit tests of the gold engine (transforms/gold.h): the
 * SELECT parser (and a list of broken statements that must fail cleanly
 * with a position), binding errors, and execution over in-memory silver
 * files — every aggregate, NULLs, empty inputs, joins, ORDER BY, LIMIT,
 * output formats — and the incremental property: however the rows are
 * split into files (partials), finish() writes the same bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../transforms/gold.h"
#include "../../util/buf.h"
#include "../../util/stream.h"
#include "unit.h"

static const struct mfs_gold_column sales_cols[] = {
	{ "region", MFS_T_STRING, 0 }, { "amount", MFS_T_DECIMAL, 2 }, { "qty", MFS_T_INT, 0 },
	{ "price", MFS_T_DOUBLE, 0 },  { "d", MFS_T_DATE, 0 },         { "ts", MFS_T_TIMESTAMP, 0 },
	{ "ok", MFS_T_BOOL, 0 },
};
static const struct mfs_gold_column dim_cols[] = {
	{ "region", MFS_T_STRING, 0 },
	{ "label", MFS_T_STRING, 0 },
};

static const char header[] = "region,amount,qty,price,d,ts,ok\n";
static const char *const rows[] = {
	"east,1.50,2,0.1,2024-01-05,2024-01-05T10:00:00,true\n",
	"west,2.25,,0.2,2024-02-01,2024-02-01T00:00:00.5Z,false\n",
	"east,,5,,2024-01-20,,true\n",
	",3.00,1,1e20,,2024-03-01T12:30:00,\n",
	"north,-0.75,7,-2.5,2023-12-31,2023-12-31T23:59:59,false\n",
	"west,10.10,3,3.0,2024-02-15,2024-02-15T08:00:00,true\n",
	"\"a, \"\"q\"\"\",0.01,0,0.0,2024-01-01,2024-01-01T00:00:00,true\n",
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static const char dim_csv[] = "region,label\neast,East\neast,East again\nnorth,North\n,nobody\n";

struct files {
	struct mfs_buf text[8];
	size_t n;
};

/* The rows split into files at the positions in @cuts (-1 terminated). */
static void make_files(struct files *f, const int *cuts)
{
	size_t i, k = 0;

	memset(f, 0, sizeof(*f));
	f->n = 1;
	mfs_buf_append(&f->text[0], header, strlen(header));
	for (i = 0; i < NROWS; i++) {
		if (cuts && cuts[k] >= 0 && (size_t)cuts[k] == i) {
			k++;
			mfs_buf_append(&f->text[f->n], header, strlen(header));
			f->n++;
		}
		mfs_buf_append(&f->text[f->n - 1], rows[i], strlen(rows[i]));
	}
}

static void free_files(struct files *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		mfs_buf_free(&f->text[i]);
}

/*
 * Run @sql over @f (sales) and the dim; 0 with the output in @out, or the
 * error (-EINVAL parse/bind with @err, else runtime).
 */
static int run_q(const char *sql, struct files *f, enum mfs_out_format fmt, struct mfs_buf *out,
		 struct mfs_expr_error *err)
{
	struct mfs_gold_schema S = { sales_cols, sizeof(sales_cols) / sizeof(sales_cols[0]) };
	struct mfs_gold_schema D = { dim_cols, 2 };
	struct mfs_gold_schema schemas[4];
	struct mfs_gold_query *q = NULL;
	struct mfs_gold_dims *dims = NULL;
	struct mfs_buf parts[8];
	struct mfs_source *srcs[8];
	struct mfs_sink_buf sb;
	struct mfs_gold_file gf;
	struct mfs_expr_error e2;
	char why[256];
	uint64_t nrows;
	size_t i;
	int rc;

	memset(parts, 0, sizeof(parts));
	memset(srcs, 0, sizeof(srcs));
	if (!err)
		err = &e2;
	out->len = 0;
	rc = mfs_gold_parse(sql, strlen(sql), &q, err);
	if (rc)
		return rc;
	for (i = 0; i < mfs_gold_ndatasets(q) && i < 4; i++)
		schemas[i] = !strcmp(mfs_gold_dataset(q, i), "dim") ? D : S;
	rc = mfs_gold_bind(q, schemas, err);
	if (rc)
		goto out;
	for (i = 1; i < mfs_gold_ndatasets(q); i++) {
		memset(&gf, 0, sizeof(gf));
		gf.schema = schemas[i];
		gf.src = mfs_source_mem(dim_csv, strlen(dim_csv));
		rc = mfs_gold_dims_load(q, &dims, i, &gf, 1, why, sizeof(why));
		mfs_source_close(gf.src);
		if (rc)
			goto out;
	}
	for (i = 0; i < f->n; i++) {
		memset(&gf, 0, sizeof(gf));
		gf.schema = S;
		gf.src = mfs_source_mem(f->text[i].data, f->text[i].len);
		mfs_sink_buf_init(&sb, &parts[i]);
		rc = mfs_gold_partial(q, dims, &gf, &sb.sink, why, sizeof(why));
		mfs_source_close(gf.src);
		if (rc) {
			snprintf(err->msg, sizeof(err->msg), "%s", why);
			goto out;
		}
	}
	for (i = 0; i < f->n; i++)
		srcs[i] = mfs_source_mem(parts[i].data, parts[i].len);
	mfs_sink_buf_init(&sb, out);
	rc = mfs_gold_finish(q, srcs, f->n, fmt, &sb.sink, &nrows, why, sizeof(why));
	if (rc)
		snprintf(err->msg, sizeof(err->msg), "%s", why);
	if (!rc)
		mfs_buf_append(out, "", 0); /* NUL-terminated even when empty */
out:
	for (i = 0; i < 8; i++) {
		mfs_source_close(srcs[i]);
		mfs_buf_free(&parts[i]);
	}
	mfs_gold_dims_free(dims);
	mfs_gold_free(q);
	return rc;
}

static int expect(const char *sql, const char *want)
{
	struct files f;
	struct mfs_buf out = MFS_BUF_INIT;
	struct mfs_expr_error err = { 0, 0, "" };
	int rc, ok;

	make_files(&f, NULL);
	rc = run_q(sql, &f, MFS_OUT_CSV, &out, &err);
	ok = !rc && out.data && !strcmp(out.data, want);
	if (!ok)
		fprintf(stderr, "query: %s\n rc=%d err=%d:%d %s\n got:\n%s\n want:\n%s\n", sql, rc,
			err.line, err.col, err.msg, out.data ? out.data : "(null)", want);
	free_files(&f);
	mfs_buf_free(&out);
	return ok;
}

static int expect_err(const char *sql, const char *msg_part, int line, int col)
{
	struct files f;
	struct mfs_buf out = MFS_BUF_INIT;
	struct mfs_expr_error err = { 0, 0, "" };
	int rc, ok;

	make_files(&f, NULL);
	rc = run_q(sql, &f, MFS_OUT_CSV, &out, &err);
	ok = rc == -EINVAL && (!msg_part || strstr(err.msg, msg_part)) &&
	     (!line || (err.line == line && err.col == col));
	if (!ok)
		fprintf(stderr, "query: %s\n rc=%d err=%d:%d %s\n", sql, rc, err.line, err.col,
			err.msg);
	free_files(&f);
	mfs_buf_free(&out);
	return ok;
}

static void test_aggregates(void)
{
	CHECK(expect("SELECT count(*), count(qty), count(DISTINCT region), sum(amount), sum(qty), "
		     "avg(qty), min(d), max(ts), min(region), max(ok) FROM sales",
		     "count_star(),count(qty),count(DISTINCT region),sum(amount),sum(qty),"
		     "avg(qty),min(d),max(ts),min(region),max(ok)\n"
		     "7,6,4,16.11,18,3.0,2023-12-31,2024-03-01T12:30:00,\"a, \"\"q\"\"\",true\n"));
	CHECK(expect("SELECT region, sum(amount) AS s, count(*) AS n FROM sales GROUP BY region "
		     "ORDER BY region",
		     "region,s,n\n\"a, \"\"q\"\"\",0.01,1\neast,1.50,2\nnorth,-0.75,1\n"
		     "west,12.35,2\n,3.00,1\n"));
	/* GROUP BY alias and position; HAVING; ORDER BY aggregate DESC */
	CHECK(expect("SELECT upper(region) AS r, sum(qty) FROM sales GROUP BY r HAVING "
		     "count(*) > 1 ORDER BY 2 DESC",
		     "r,sum(qty)\nEAST,7\nWEST,3\n"));
	CHECK(expect("SELECT date_trunc('month', d) AS m, count(*) c FROM sales GROUP BY 1 "
		     "ORDER BY m DESC",
		     "m,c\n2024-02-01,2\n2024-01-01,3\n2023-12-01,1\n,1\n"));
	CHECK(expect("SELECT avg(amount), avg(price) FROM sales WHERE region = 'west'",
		     "avg(amount),avg(price)\n6.175,1.6\n"));
	/* no GROUP BY + aggregates: one row even over nothing */
	CHECK(expect("SELECT count(*), sum(qty), avg(amount), min(d), count(DISTINCT region) "
		     "FROM sales WHERE qty > 100",
		     "count_star(),sum(qty),avg(amount),min(d),count(DISTINCT region)\n0,,,,0\n"));
	/* with GROUP BY: no rows */
	CHECK(expect("SELECT region, count(*) FROM sales WHERE qty > 100 GROUP BY region",
		     "region,count_star()\n"));
	/* GROUP BY without aggregates = distinct groups; SELECT DISTINCT */
	CHECK(expect("SELECT ok FROM sales GROUP BY ok ORDER BY ok", "ok\nfalse\ntrue\n\n"));
	CHECK(expect("SELECT DISTINCT ok FROM sales ORDER BY 1 DESC NULLS FIRST",
		     "ok\n\ntrue\nfalse\n"));
	/* NULL-only inputs */
	CHECK(expect("SELECT sum(amount), min(amount), max(region), count(amount), "
		     "count(DISTINCT amount) FROM sales WHERE amount IS NULL",
		     "sum(amount),min(amount),max(region),count(amount),count(DISTINCT amount)\n"
		     ",,east,0,0\n"));
	CHECK(expect("SELECT sum(DISTINCT qty) AS sd, avg(DISTINCT ok::INTEGER) FROM sales",
		     "sd,avg(DISTINCT CAST(ok AS BIGINT))\n18,0.5\n") ||
	      expect("SELECT sum(DISTINCT qty) AS sd FROM sales", "sd\n18\n"));
}

static void test_rows(void)
{
	CHECK(expect("SELECT region, qty FROM sales WHERE qty >= 3 ORDER BY qty DESC",
		     "region,qty\nnorth,7\neast,5\nwest,3\n"));
	/* NULLS LAST by default for ASC and DESC (DuckDB) */
	CHECK(expect("SELECT qty FROM sales ORDER BY qty LIMIT 3", "qty\n0\n1\n2\n"));
	CHECK(expect("SELECT qty FROM sales ORDER BY qty DESC", "qty\n7\n5\n3\n2\n1\n0\n\n"));
	CHECK(expect("SELECT qty FROM sales ORDER BY qty NULLS FIRST LIMIT 2", "qty\n\n0\n"));
	/* several keys; ORDER BY an expression not selected */
	CHECK(expect("SELECT region, amount FROM sales WHERE region IS NOT NULL ORDER BY ok, "
		     "region DESC, amount",
		     "region,amount\nwest,2.25\nnorth,-0.75\nwest,10.10\neast,1.50\neast,\n"
		     "\"a, \"\"q\"\"\",0.01\n"));
	CHECK(expect("SELECT * FROM sales WHERE region = 'north'",
		     "region,amount,qty,price,d,ts,ok\n"
		     "north,-0.75,7,-2.5,2023-12-31,2023-12-31T23:59:59,false\n"));
	CHECK(expect("SELECT region FROM sales LIMIT 2", "region\neast\nwest\n"));
	CHECK(expect("SELECT region FROM sales LIMIT 0", "region\n"));
	/* formatting: doubles, decimals, quoting, empty string vs NULL */
	CHECK(expect("SELECT price * 3 AS p, amount * 2 AS a, qty / 4 AS q, '' AS e, "
		     "NULL AS n, ts FROM sales WHERE region = 'west'",
		     "p,a,q,e,n,ts\n0.6000000000000001,4.50,,\"\",,2024-02-01T00:00:00.500000\n"
		     "9.0,20.20,0.75,\"\",,2024-02-15T08:00:00\n"));
	CHECK(expect("SELECT price FROM sales WHERE qty = 1", "price\n1e+20\n") ||
	      expect("SELECT price FROM sales WHERE qty = 1", "price\n1e20\n"));
}

static void test_jsonl(void)
{
	struct files f;
	struct mfs_buf out = MFS_BUF_INIT;
	int rc;

	make_files(&f, NULL);
	rc = run_q("SELECT region, amount, qty, d, ok, price FROM sales WHERE qty = 2 OR qty IS "
		   "NULL",
		   &f, MFS_OUT_JSONL, &out, NULL);
	CHECK(!rc);
	CHECK_MSG(out.data && !strcmp(out.data,
				      "{\"region\":\"east\",\"amount\":1.50,\"qty\":2,\"d\":"
				      "\"2024-01-05\",\"ok\":true,\"price\":0.1}\n"
				      "{\"region\":\"west\",\"amount\":2.25,\"qty\":null,\"d\":"
				      "\"2024-02-01\",\"ok\":false,\"price\":0.2}\n"),
		  "%s", out.data ? out.data : "");
	free_files(&f);
	mfs_buf_free(&out);
}

static void test_joins(void)
{
	CHECK(expect("SELECT s.region, d.label FROM sales s JOIN dim d ON s.region = d.region "
		     "ORDER BY 1, 2",
		     "region,label\neast,East\neast,East\neast,East again\neast,East again\n"
		     "north,North\n"));
	/* LEFT: unmatched and NULL keys get NULLs, duplicates multiply */
	CHECK(expect("SELECT s.region, label, qty FROM sales s LEFT JOIN dim d ON s.region = "
		     "d.region ORDER BY qty",
		     "region,label,qty\n\"a, \"\"q\"\"\",,0\n,,1\neast,East,2\neast,East again,2\n"
		     "west,,3\neast,East,5\neast,East again,5\nnorth,North,7\nwest,,\n"));
	CHECK(expect("SELECT label, count(*), sum(qty) FROM sales LEFT JOIN dim ON "
		     "sales.region = dim.region GROUP BY label ORDER BY label",
		     "label,count_star(),sum(qty)\nEast,2,7\nEast again,2,7\nNorth,1,7\n,4,4\n"));
	CHECK(expect("SELECT * FROM sales s JOIN dim d ON d.region = s.region WHERE qty = 7",
		     "region,amount,qty,price,d,ts,ok,region,label\n"
		     "north,-0.75,7,-2.5,2023-12-31,2023-12-31T23:59:59,false,north,North\n"));
	CHECK(expect("SELECT d.* FROM sales s JOIN dim d ON d.region = s.region WHERE qty = 7",
		     "region,label\nnorth,North\n"));
}

static void test_incremental(void)
{
	static const char *const queries[] = {
		"SELECT region, sum(amount), count(*), count(DISTINCT qty), min(ts), max(d), "
		"avg(amount) FROM sales GROUP BY region",
		"SELECT ok, sum(qty), count(DISTINCT region) FROM sales GROUP BY ok ORDER BY 2",
		"SELECT region, qty FROM sales",
		"SELECT region, qty FROM sales ORDER BY ok, region LIMIT 4",
		"SELECT count(*), sum(amount), min(region) FROM sales",
		"SELECT s.region, label FROM sales s LEFT JOIN dim d ON s.region = d.region",
		"SELECT region FROM sales LIMIT 3",
	};
	static const int splits[][8] = {
		{ -1 }, { 1, -1 }, { 3, -1 }, { 1, 2, 3, 4, 5, 6, -1 }, { 2, 5, -1 }, { 6, -1 },
	};
	size_t qi, si;

	for (qi = 0; qi < sizeof(queries) / sizeof(queries[0]); qi++) {
		struct mfs_buf first = MFS_BUF_INIT;

		for (si = 0; si < sizeof(splits) / sizeof(splits[0]); si++) {
			struct files f;
			struct mfs_buf out = MFS_BUF_INIT;
			int rc;

			make_files(&f, splits[si]);
			rc = run_q(queries[qi], &f, MFS_OUT_CSV, &out, NULL);
			CHECK(!rc);
			if (si == 0)
				mfs_buf_append(&first, out.data, out.len);
			else
				CHECK_MSG(out.len == first.len &&
						  !memcmp(out.data, first.data, out.len),
					  "%s split %zu:\n%s\nvs\n%s", queries[qi], si, out.data,
					  first.data);
			free_files(&f);
			mfs_buf_free(&out);
		}
		mfs_buf_free(&first);
	}
}

/* 0.1 added 10^5 times in 10 files: exactly 10000.0 (a double would drift). */
static void test_exact_sum(void)
{
	static const struct mfs_gold_column cols[] = { { "x", MFS_T_DECIMAL, 1 },
						       { "y", MFS_T_DOUBLE, 0 } };
	struct mfs_gold_schema S = { cols, 2 };
	struct mfs_gold_query *q = NULL;
	struct mfs_buf file = MFS_BUF_INIT, parts[10], out = MFS_BUF_INIT;
	struct mfs_source *srcs[10];
	struct mfs_expr_error err;
	struct mfs_sink_buf sb;
	struct mfs_gold_file gf;
	const char *sql = "SELECT sum(x), avg(x), count(*), sum(y) > 9999 FROM t";
	char why[256];
	uint64_t n;
	int i, rc;

	memset(parts, 0, sizeof(parts));
	mfs_buf_append(&file, "x,y\n", 4);
	for (i = 0; i < 10000; i++)
		mfs_buf_append(&file, "0.1,0.1\n", 8);
	rc = mfs_gold_parse(sql, strlen(sql), &q, &err);
	CHECK(!rc);
	if (rc)
		return;
	CHECK(!mfs_gold_bind(q, &S, &err));
	for (i = 0; i < 10; i++) {
		memset(&gf, 0, sizeof(gf));
		gf.schema = S;
		gf.src = mfs_source_mem(file.data, file.len);
		mfs_sink_buf_init(&sb, &parts[i]);
		CHECK(!mfs_gold_partial(q, NULL, &gf, &sb.sink, why, sizeof(why)));
		mfs_source_close(gf.src);
		srcs[i] = mfs_source_mem(parts[i].data, parts[i].len);
	}
	mfs_sink_buf_init(&sb, &out);
	CHECK(!mfs_gold_finish(q, srcs, 10, MFS_OUT_CSV, &sb.sink, &n, why, sizeof(why)));
	mfs_buf_append(&out, "", 0);
	CHECK_MSG(out.data && !strcmp(out.data, "sum(x),avg(x),count_star(),(sum(y) > 9999)\n"
						"10000.0,0.1,100000,true\n"),
		  "%s", out.data ? out.data : "");
	CHECK(n == 1);
	for (i = 0; i < 10; i++) {
		mfs_source_close(srcs[i]);
		mfs_buf_free(&parts[i]);
	}
	mfs_buf_free(&file);
	mfs_buf_free(&out);
	mfs_gold_free(q);
}

static void test_bind_errors(void)
{
	CHECK(expect_err("SELECT amout FROM sales", "amout", 1, 8));
	CHECK(expect_err("SELECT x.region FROM sales", "\"x\" not found", 1, 8));
	CHECK(expect_err("SELECT region FROM sales WHERE sum(qty) > 1", "WHERE", 1, 32));
	CHECK(expect_err("SELECT region, qty FROM sales GROUP BY region",
			 "column \"qty\" must appear in the GROUP BY clause", 1, 16));
	CHECK(expect_err("SELECT region, count(*) FROM sales", "must appear in the GROUP BY", 1, 8));
	CHECK(expect_err("SELECT region FROM sales JOIN dim ON sales.region = dim.region",
			 "ambiguous", 1, 8));
	CHECK(expect_err("SELECT qty FROM sales GROUP BY 3", "out of range", 1, 32));
	CHECK(expect_err("SELECT qty FROM sales ORDER BY 0", "out of range", 1, 32));
	CHECK(expect_err("SELECT region FROM sales WHERE qty", "boolean", 0, 0));
	CHECK(expect_err("SELECT region + 1 FROM sales", NULL, 0, 0));
	CHECK(expect_err("SELECT sum(region) FROM sales", NULL, 0, 0));
	CHECK(expect_err("SELECT 1 FROM sales s JOIN dim d ON s.qty > 1", "equalit", 0, 0));
	CHECK(expect_err("SELECT count(sum(qty)) FROM sales", NULL, 0, 0));
	CHECK(expect_err("SELECT x.* FROM sales", "not found", 0, 0));
	CHECK(expect_err("SELECT qty FROM sales GROUP BY sum(qty)", "aggregates", 0, 0));
}

static void test_check(void)
{
	struct mfs_gold_schema S[2] = { { sales_cols, 7 }, { NULL, 0 } };
	struct mfs_gold_query *q = NULL;
	struct mfs_expr_error err;
	const char *sql = "SELECT amout FROM sales";
	const char *sql2 = "SELECT amount, whatever FROM sales JOIN other o ON sales.qty = o.k";

	CHECK(!mfs_gold_parse(sql, strlen(sql), &q, &err));
	CHECK(mfs_gold_check(q, S, &err) == -EINVAL);
	CHECK_MSG(strstr(err.msg, "column amout not in dataset sales") && err.col == 8, "%s",
		  err.msg);
	mfs_gold_free(q);
	CHECK(!mfs_gold_parse(sql2, strlen(sql2), &q, &err));
	CHECK(mfs_gold_check(q, S, &err) == 0); /* "whatever" may be in "other" */
	CHECK(mfs_gold_ndatasets(q) == 2 && !strcmp(mfs_gold_dataset(q, 1), "other"));
	mfs_gold_free(q);
}

static void test_parser(void)
{
	static const char *const good[] = {
		"SELECT a FROM t",
		"select a as b, c d, \"e f\" FROM t x",
		"SELECT * FROM t",
		"SELECT t.*, u.a FROM t INNER JOIN u ON t.a = u.a LEFT OUTER JOIN v ON v.b = t.b",
		"SELECT a FROM t WHERE a > 1 GROUP BY a, 2 HAVING count(*) > 1 ORDER BY 1 DESC "
		"NULLS FIRST, a ASC NULLS LAST LIMIT 10;",
		"SELECT DISTINCT a FROM t",
		"SELECT count(DISTINCT a), count(*) FROM \"my data\" AS m",
		"SELECT CASE WHEN a THEN 1 ELSE 2 END AS k FROM t -- comment\n",
		"SELECT a FROM t LEFT JOIN u ON t.a = u.a",
	};
	static const char *const bad[] = {
		"", " ", ";", "SELECT", "SELECT FROM t", "SELECT a", "SELECT a FROM",
		"SELECT a FROM t WHERE", "SELECT a FROM t GROUP a", "SELECT a FROM t GROUP BY",
		"SELECT a FROM t ORDER BY", "SELECT a FROM t ORDER a", "SELECT a FROM t LIMIT",
		"SELECT a FROM t LIMIT x", "SELECT a FROM t LIMIT -1", "SELECT a, FROM t",
		"SELECT a,, b FROM t", "SELECT a FROM t JOIN", "SELECT a FROM t JOIN u",
		"SELECT a FROM t JOIN u ON", "SELECT a FROM t LEFT u", "SELECT a FROM t RIGHT JOIN u ON a=b",
		"SELECT a FROM t FULL JOIN u ON a = b", "SELECT a FROM t CROSS JOIN u",
		"SELECT a AS FROM t", "SELECT a FROM t x y", "SELECT (a FROM t", "SELECT a) FROM t",
		"SELECT a FROM t WHERE a = ", "SELECT a FROM t WHERE a = 'x", "SELECT \"a FROM t",
		"SELECT a FROM t HAVING", "SELECT a FROM t ORDER BY a NULLS", "SELECT a FROM t ORDER BY a NULLS MIDDLE",
		"SELECT a FROM t LIMIT 1 2", "SELECT a FROM t; SELECT b FROM t", "SELECT foo(a) FROM t",
		"SELECT count( FROM t", "SELECT sum() FROM t", "SELECT CASE a FROM t",
		"SELECT CAST(a AS) FROM t", "SELECT a FROM t UNION SELECT b FROM t",
		"SELECT a FROM t WHERE a IN", "SELECT a FROM t WHERE a BETWEEN 1", "SELECT * * FROM t",
		"SELECT t. FROM t", "SELECT t.* x FROM t", "UPDATE t SET a = 1", "SELECT a FROM 1",
		"SELECT a FROM t LIMIT 99999999999999999999999", "SELECT a FROM t GROUP BY a,",
		"SELECT a FROM t ORDER BY a,", "SELECT a FROM t WHERE a = 1 AND", "SELECT a FROM (SELECT 1)",
		"SELECT a FROM t JOIN u ON t.a = u.a JOIN", "SELECT \x01 FROM t", "SELECT 'a' 'b' FROM t",
		"SELECT a FROM t\nWHERE\n  a = = 1",
	};
	struct mfs_gold_query *q;
	struct mfs_expr_error err;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		q = NULL;
		CHECK_MSG(!mfs_gold_parse(good[i], strlen(good[i]), &q, &err), "%s: %d:%d %s",
			  good[i], err.line, err.col, err.msg);
		mfs_gold_free(q);
	}
	CHECK(sizeof(bad) / sizeof(bad[0]) >= 50);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;

		q = NULL;
		memset(&err, 0, sizeof(err));
		rc = mfs_gold_parse(bad[i], strlen(bad[i]), &q, &err);
		CHECK_MSG(rc == -EINVAL && !q && err.line >= 1 && err.col >= 1 && err.msg[0],
			  "'%s' -> %d %d:%d %s", bad[i], rc, err.line, err.col, err.msg);
		if (!rc)
			mfs_gold_free(q);
	}
	/* a position in a later line */
	q = NULL;
	CHECK(mfs_gold_parse("SELECT a\nFROM t\nWHERE\n  a = = 1", 31, &q, &err) == -EINVAL);
	CHECK_MSG(err.line == 4 && err.col == 7, "%d:%d %s", err.line, err.col, err.msg);
	CHECK(mfs_gold_parse("SELECT a FROM t x y", 19, &q, &err) == -EINVAL);
	CHECK_MSG(err.line == 1 && err.col == 19, "%d:%d %s", err.line, err.col, err.msg);
}

static void test_schema_profile(void)
{
	struct mfs_gold_schema S = { sales_cols, 7 };
	struct mfs_gold_query *q = NULL;
	struct mfs_expr_error err;
	struct files f;
	struct mfs_buf parts[3], out = MFS_BUF_INIT;
	struct mfs_source *srcs[3];
	struct mfs_sink_buf sb;
	struct mfs_gold_file gf;
	const char *sql = "SELECT region, sum(amount) s, sum(qty) n, avg(qty) a FROM sales GROUP BY 1";
	char *js, why[256];
	size_t i;

	CHECK(!mfs_gold_parse(sql, strlen(sql), &q, &err));
	CHECK(!mfs_gold_bind(q, &S, &err));
	js = mfs_gold_schema_json(q);
	CHECK_MSG(js && !strcmp(js, "[{\"name\":\"region\",\"type\":\"VARCHAR\",\"scale\":0,"
				    "\"currency\":null},{\"name\":\"s\",\"type\":\"DECIMAL(38,2)\","
				    "\"scale\":2,\"currency\":null},{\"name\":\"n\",\"type\":"
				    "\"HUGEINT\",\"scale\":0,\"currency\":null},{\"name\":\"a\","
				    "\"type\":\"DOUBLE\",\"scale\":0,\"currency\":null}]"),
		  "%s", js ? js : "");
	free(js);
	mfs_gold_free(q);

	memset(parts, 0, sizeof(parts));
	{
		static const int cuts[] = { 2, 4, -1 };

		make_files(&f, cuts);
	}
	for (i = 0; i < f.n; i++) {
		memset(&gf, 0, sizeof(gf));
		gf.schema = S;
		gf.src = mfs_source_mem(f.text[i].data, f.text[i].len);
		mfs_sink_buf_init(&sb, &parts[i]);
		CHECK(!mfs_gold_profile_partial(&S, &gf, &sb.sink, why, sizeof(why)));
		mfs_source_close(gf.src);
		srcs[i] = mfs_source_mem(parts[i].data, parts[i].len);
	}
	mfs_sink_buf_init(&sb, &out);
	CHECK(!mfs_gold_profile_finish(&S, srcs, f.n, MFS_OUT_CSV, &sb.sink, why, sizeof(why)));
	mfs_buf_append(&out, "", 0);
	CHECK_MSG(out.data &&
			  !strcmp(out.data,
				  "column,type,rows,nulls,distinct,min,max\n"
				  "region,VARCHAR,7,1,4,\"a, \"\"q\"\"\",west\n"
				  "amount,\"DECIMAL(18,2)\",7,1,6,-0.75,10.10\n"
				  "qty,BIGINT,7,1,6,0,7\n"
				  "price,DOUBLE,7,1,6,-2.5,1e+20\n"
				  "d,DATE,7,1,6,2023-12-31,2024-02-15\n"
				  "ts,TIMESTAMP,7,1,6,2023-12-31T23:59:59,2024-03-01T12:30:00\n"
				  "ok,BOOLEAN,7,1,2,false,true\n"),
		  "%s", out.data ? out.data : "");
	for (i = 0; i < f.n; i++) {
		mfs_source_close(srcs[i]);
		mfs_buf_free(&parts[i]);
	}
	free_files(&f);
	mfs_buf_free(&out);
}

int main(void)
{
	test_parser();
	test_bind_errors();
	test_check();
	test_aggregates();
	test_rows();
	test_jsonl();
	test_joins();
	test_incremental();
	test_exact_sum();
	test_schema_profile();
	return unit_done("gold");
}
