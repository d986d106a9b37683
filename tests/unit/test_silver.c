/*
 * test_silver.c - mfs_silver_run() on in-memory inputs, rule by rule of
 * SPEC §4: every case checks the output bytes, the schema, the rejects and
 * the accounting invariant. Then dedupe.c alone with a tiny memory budget
 * (the partitioned paths), and the dirty dataset of scripts/gen-dirty-data
 * file by file against the expected output it writes.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "dedupe.h"
#include "expr.h"
#include "pipeline.h"
#include "silver.h"
#include "stream.h"
#include "unit.h"

static char tmpdir[] = "/tmp/mfs-test-silver-XXXXXX";

/* The pipeline's structs hold char *; the tests never write through them. */
#define W(s) ((char *)(s))

static char *default_tokens[] = { W(""), W("NULL"), W("null"), W("N/A"), W("NA"), W("n/a"), W("None"), W("-") };

static struct mfs_pipeline pipe_defaults(void)
{
	struct mfs_pipeline p;

	memset(&p, 0, sizeof(p));
	p.path = W("(test)");
	p.steps = (struct mfs_silver_steps){ 1, 1, 1, 1, 1 };
	p.null_tokens = default_tokens;
	p.nnull_tokens = sizeof(default_tokens) / sizeof(default_tokens[0]);
	p.date_order = MFS_DATE_MDY;
	p.format = MFS_OUT_CSV;
	return p;
}

static struct mfs_dataset dataset(const struct mfs_pipeline *p)
{
	struct mfs_dataset d;

	memset(&d, 0, sizeof(d));
	d.name = W("test");
	d.prefix = W("");
	d.steps = p->steps;
	d.evolution = MFS_EVOLVE_ADD;
	return d;
}

struct result {
	int rc;
	struct mfs_buf out, rej;
	struct mfs_silver_result res;
};

struct input {
	enum mfs_in_format format;
	enum mfs_codec codec;
	const char *const *hive_names, *const *hive_values;
	size_t nhive;
};

static void result_free(struct result *r)
{
	mfs_buf_free(&r->out);
	mfs_buf_free(&r->rej);
	mfs_silver_result_free(&r->res);
}

static struct result run_full(const struct mfs_pipeline *p, const struct mfs_dataset *ds,
			      const struct input *in, const void *data, size_t len, int line)
{
	struct result r;
	struct mfs_sink_buf so, sr;
	struct mfs_source *src = mfs_source_mem(data, len);
	struct mfs_silver_input si = { "test/key.csv", in ? in->format : MFS_IN_CSV,
				       in ? in->codec : MFS_CODEC_NONE, NULL, NULL, 0 };

	memset(&r, 0, sizeof(r));
	if (in) {
		si.hive_names = in->hive_names;
		si.hive_values = in->hive_values;
		si.nhive = in->nhive;
	}
	mfs_sink_buf_init(&so, &r.out);
	mfs_sink_buf_init(&sr, &r.rej);
	r.rc = mfs_silver_run(p, ds, &si, src, &so.sink, &sr.sink, tmpdir, &r.res);
	mfs_source_close(src);
	if (r.rc == 0) {
		/* the invariant, on every successful case */
		CHECK_MSG(r.res.rows_in ==
				  r.res.rows_out + r.res.rows_rejected + r.res.duplicates_removed,
			  "line %d: in %llu out %llu rej %llu dup %llu", line,
			  (unsigned long long)r.res.rows_in, (unsigned long long)r.res.rows_out,
			  (unsigned long long)r.res.rows_rejected,
			  (unsigned long long)r.res.duplicates_removed);
		CHECK_MSG(r.res.schema_json != NULL, "line %d: no schema", line);
		CHECK_MSG(r.res.bytes_out == r.out.len, "line %d: bytes_out %llu != %zu", line,
			  (unsigned long long)r.res.bytes_out, r.out.len);
	}
	if (!r.out.data)
		mfs_buf_append(&r.out, "", 0);
	if (!r.rej.data)
		mfs_buf_append(&r.rej, "", 0);
	return r;
}

static struct result run_csv(const struct mfs_pipeline *p, const struct mfs_dataset *ds,
			     const char *text, int line)
{
	return run_full(p, ds, NULL, text, strlen(text), line);
}

static void check_str(const char *what, const char *got, const char *want, int line)
{
	CHECK_MSG(strcmp(got ? got : "(null)", want) == 0, "line %d: %s:\n--- got\n%s\n--- want\n%s",
		  line, what, got ? got : "(null)", want);
}

/* Run CSV @text with defaults and check the output, the schema and the counts. */
static void case_csv(const struct mfs_pipeline *p, const struct mfs_dataset *ds, const char *text,
		     const char *want_out, const char *want_schema, int rejected, int dups, int line)
{
	struct result r = run_csv(p, ds, text, line);

	CHECK_MSG(r.rc == 0, "line %d: rc %d (%s)", line, r.rc, r.res.reason);
	if (r.rc == 0) {
		check_str("output", r.out.data, want_out, line);
		if (want_schema)
			check_str("schema", r.res.schema_json, want_schema, line);
		CHECK_MSG(r.res.rows_rejected == (uint64_t)rejected, "line %d: rejected %llu, want %d\n%s",
			  line, (unsigned long long)r.res.rows_rejected, rejected, r.rej.data);
		CHECK_MSG(r.res.duplicates_removed == (uint64_t)dups, "line %d: dups %llu, want %d", line,
			  (unsigned long long)r.res.duplicates_removed, dups);
	}
	result_free(&r);
}

#define CASE(p, ds, text, out, schema, rej, dup) case_csv(p, ds, text, out, schema, rej, dup, __LINE__)

#define S_BIGINT(n) "{\"name\":\"" n "\",\"type\":\"BIGINT\",\"scale\":0,\"currency\":null}"
#define S_VARCHAR(n) "{\"name\":\"" n "\",\"type\":\"VARCHAR\",\"scale\":0,\"currency\":null}"
#define S_TYPE(n, t) "{\"name\":\"" n "\",\"type\":\"" t "\",\"scale\":0,\"currency\":null}"

static void test_values(void)
{
	struct mfs_pipeline p = pipe_defaults();

	/* integers, leading zeros, 0/1 */
	CASE(&p, NULL,
	     "id,zip,flag,qty\n"
	     "1,01234,0,\"1,234\"\n"
	     "2,98765,1,5\n"
	     "3,00501,1,-7\n",
	     "id,zip,flag,qty\n1,01234,0,1234\n2,98765,1,5\n3,00501,1,-7\n",
	     "[" S_BIGINT("id") "," S_VARCHAR("zip") "," S_BIGINT("flag") "," S_BIGINT("qty") "]", 0,
	     0);
	/* decimals: thousands, currency, parentheses, scale = the largest */
	CASE(&p, NULL,
	     "id,amount,price\n"
	     "1,\"$1,234.50\",1.5\n"
	     "2,$12,2.125\n"
	     "3,($3.10),3\n"
	     "4,7.5 $,-0.25\n",
	     "id,amount,price\n1,1234.50,1.500\n2,12.00,2.125\n3,-3.10,3.000\n4,7.50,-0.250\n",
	     "[" S_BIGINT("id") ",{\"name\":\"amount\",\"type\":\"DECIMAL(18,2)\",\"scale\":2,"
	     "\"currency\":\"$\"},{\"name\":\"price\",\"type\":\"DECIMAL(18,3)\",\"scale\":3,"
	     "\"currency\":null}]",
	     0, 0);
	/* mixed currencies: a string; scientific notation: a double */
	CASE(&p, NULL,
	     "id,cost,score\n"
	     "1,$12.00,1.5e3\n"
	     "2,\xe2\x82\xac" "3.00,2\n"
	     "3,4,0.125\n",
	     "id,cost,score\n1,$12.00,1500.0\n2,\xe2\x82\xac" "3.00,2.0\n3,4,0.125\n",
	     "[" S_BIGINT("id") "," S_VARCHAR("cost") "," S_TYPE("score", "DOUBLE") "]", 0, 0);
	/* booleans */
	CASE(&p, NULL, "id,ok\n1,Yes\n2,n\n3,TRUE\n4,f\n5,\n",
	     "id,ok\n1,true\n2,false\n3,true\n4,false\n5,\n",
	     "[" S_BIGINT("id") "," S_TYPE("ok", "BOOLEAN") "]", 0, 0);
	/* dates: layouts, evidence for dmy, impossible date keeps a string */
	CASE(&p, NULL,
	     "id,d1,d2,d3\n"
	     "1,2024-01-05,05/01/2024,2024-01-05\n"
	     "2,\"Jan 6, 2024\",25/12/2024,2023-02-30\n"
	     "3,7 Feb 2024,01/02/2024,2024-03-01\n",
	     "id,d1,d2,d3\n1,2024-01-05,2024-01-05,2024-01-05\n2,2024-01-06,2024-12-25,2023-02-30\n"
	     "3,2024-02-07,2024-02-01,2024-03-01\n",
	     "[" S_BIGINT("id") "," S_TYPE("d1", "DATE") "," S_TYPE("d2", "DATE") "," S_VARCHAR("d3") "]",
	     0, 0);
	/* evidence for mdy; no evidence: date_order */
	CASE(&p, NULL, "id,d\n1,01/02/2024\n2,12/31/2024\n", "id,d\n1,2024-01-02\n2,2024-12-31\n", NULL,
	     0, 0);
	CASE(&p, NULL, "id,d\n1,01/02/2024\n2,03/04/2024\n", "id,d\n1,2024-01-02\n2,2024-03-04\n", NULL,
	     0, 0);
	{
		struct mfs_pipeline q = p;

		q.date_order = MFS_DATE_DMY;
		CASE(&q, NULL, "id,d\n1,01/02/2024\n2,03/04/2024\n",
		     "id,d\n1,2024-02-01\n2,2024-04-03\n", NULL, 0, 0);
		/* evidence beats date_order */
		CASE(&q, NULL, "id,d\n1,01/02/2024\n2,03/14/2024\n",
		     "id,d\n1,2024-01-02\n2,2024-03-14\n", NULL, 0, 0);
	}
	/* timestamps: zones to UTC Z, naive kept, dates mixed in at midnight */
	CASE(&p, NULL,
	     "id,ts,naive,mixed\n"
	     "1,2024-01-05T10:30:00Z,2024-01-05 10:30,2024-01-05\n"
	     "2,2024-01-05T10:30:00+02:00,2024-01-05T11:00:00.25,2024-01-06 07:08:09\n"
	     "3,2024-01-05 23:30:00 -0130,1/6/2024 3:45 PM,\n",
	     "id,ts,naive,mixed\n"
	     "1,2024-01-05T10:30:00Z,2024-01-05T10:30:00,2024-01-05T00:00:00\n"
	     "2,2024-01-05T08:30:00Z,2024-01-05T11:00:00.250000,2024-01-06T07:08:09\n"
	     "3,2024-01-06T01:00:00Z,2024-01-06T15:45:00,\n",
	     "[" S_BIGINT("id") "," S_TYPE("ts", "TIMESTAMP") "," S_TYPE("naive", "TIMESTAMP") ","
	     S_TYPE("mixed", "TIMESTAMP") "]",
	     0, 0);
	/* decimal_comma only where the dataset declares it */
	CASE(&p, NULL, "id;v\n1;1,5\n2;2,25\n", "id,v\n1,\"1,5\"\n2,\"2,25\"\n",
	     "[" S_BIGINT("id") "," S_VARCHAR("v") "]", 0, 0);
	{
		struct mfs_dataset d = dataset(&p);

		d.decimal_comma = 1;
		CASE(&p, &d, "id;v\n1;1,5\n2;\"1.234,25\"\n", "id,v\n1,1.50\n2,1234.25\n",
		     "[" S_BIGINT("id") ",{\"name\":\"v\",\"type\":\"DECIMAL(18,2)\",\"scale\":2,"
		     "\"currency\":null}]",
		     0, 0);
	}
	/* trimmed values, text case kept, quoting on output */
	CASE(&p, NULL,
	     "id,name,note\n"
	     "1,  Alice  ,\"a, b\"\n"
	     "2,bOB,\"say \"\"hi\"\"\"\n"
	     "3,\" Carol\",\"two\nlines\"\n",
	     "id,name,note\n1,Alice,\"a, b\"\n2,bOB,\"say \"\"hi\"\"\"\n3,Carol,\"two\nlines\"\n",
	     NULL, 0, 0);
}

static void test_names(void)
{
	struct mfs_pipeline p = pipe_defaults();

	CASE(&p, NULL,
	     "Order Date,Amount,amount,  Customer-ID  ,,\xc3\x9c" "berID,__x__\n"
	     "2024-01-05,1,2,3,4,5,6\n",
	     "order_date,amount,amount_2,customer_id,column_5,\xc3\xbc" "berid,x\n"
	     "2024-01-05,1,2,3,4,5,6\n",
	     NULL, 0, 0);
	/* names kept when the step is off, still unique */
	{
		struct mfs_pipeline q = p;

		q.steps.normalize_names = 0;
		CASE(&q, NULL, "Order Date,Order Date,n\n1,2,3\n",
		     "Order Date,Order Date_2,n\n1,2,3\n", NULL, 0, 0);
	}
}

static void test_nulls_and_rows(void)
{
	struct mfs_pipeline p = pipe_defaults();

	/* every default null token, after trimming, exact match */
	CASE(&p, NULL,
	     "id,v\n1,NULL\n2, N/A \n3,-\n4,None\n5,n/a\n6,NA\n7,null\n8,\"\"\n9,nil\n10,Null\n",
	     "id,v\n1,\n2,\n3,\n4,\n5,\n6,\n7,\n8,\n9,nil\n10,Null\n", NULL, 0, 0);
	/* ragged rows: too few padded, too many rejected */
	{
		struct result r = run_csv(&p, NULL,
					  "id,a,b\n1,x,2\n2,y\n3,z,4,extra\n4,w,5\n5,v,6\n6,u,7\n",
					  __LINE__);

		CHECK_MSG(r.rc == 0, "rc %d %s", r.rc, r.res.reason);
		check_str("ragged", r.out.data, "id,a,b\n1,x,2\n2,y,\n4,w,5\n5,v,6\n6,u,7\n", __LINE__);
		check_str("ragged rejects", r.rej.data,
			  "line,reason,raw\n4,\"4 fields, expected 3\",\"3,z,4,extra\"\n", __LINE__);
		CHECK(r.res.rows_in == 6 && r.res.rows_out == 5 && r.res.rows_rejected == 1);
		result_free(&r);
	}
	/* an all-null column is VARCHAR; a header-only file has no rows */
	CASE(&p, NULL, "id,v\n1,\n2,NULL\n", "id,v\n1,\n2,\n",
	     "[" S_BIGINT("id") "," S_VARCHAR("v") "]", 0, 0);
	/* an empty input is an empty table */
	CASE(&p, NULL, "", "", "[]", 0, 0);
	/* null tokens off: empty strings stay, quoted on output */
	{
		struct mfs_pipeline q = p;

		q.steps.null_tokens = 0;
		CASE(&q, NULL, "id,v\n1,\n2,NULL\n", "id,v\n1,\"\"\n2,NULL\n", NULL, 0, 0);
	}
	/* a header-only file: no rows, every column VARCHAR */
	CASE(&p, NULL, "id,name\n", "id,name\n", "[" S_VARCHAR("id") "," S_VARCHAR("name") "]", 0, 0);
	/* preamble and blank lines are not records */
	{
		struct result r = run_csv(&p, NULL,
					  "Sales report\nGenerated 2024-01-05\n\nid,v\n1,a\n\n2,b\n3,c\n",
					  __LINE__);

		CHECK_MSG(r.rc == 0, "rc %d %s", r.rc, r.res.reason);
		check_str("preamble", r.out.data, "id,v\n1,a\n2,b\n3,c\n", __LINE__);
		CHECK_MSG(r.res.rows_in == 3, "rows_in %llu", (unsigned long long)r.res.rows_in);
		result_free(&r);
	}
	/* CRLF input, LF output */
	CASE(&p, NULL, "id,v\r\n1,a\r\n2,b\r\n", "id,v\n1,a\n2,b\n", NULL, 0, 0);
}

static void test_declared(void)
{
	struct mfs_pipeline p = pipe_defaults();
	struct mfs_dataset d = dataset(&p);
	struct mfs_column_decl cols[] = {
		{ W("id"), MFS_T_INT, 0 },
		{ W("amount"), MFS_T_DECIMAL, 2 },
		{ W("day"), MFS_T_DATE, 0 },
	};

	d.columns = cols;
	d.ncolumns = 3;
	{
		struct result r = run_csv(&p, &d,
					  "id,amount,day,extra\n"
					  "1,12.5,2024-01-05,x\n"
					  "2,abc,2024-01-06,y\n"
					  "3,7,2024-02-30,z\n"
					  "04,1.25,2024-01-07,w\n",
					  __LINE__);

		CHECK_MSG(r.rc == 0, "rc %d %s", r.rc, r.res.reason);
		check_str("declared", r.out.data,
			  "id,amount,day,extra\n1,12.50,2024-01-05,x\n4,1.25,2024-01-07,w\n", __LINE__);
		check_str("declared rejects", r.rej.data,
			  "line,reason,raw\n"
			  "3,\"column amount: 'abc' is not a DECIMAL(18,2)\",\"2,abc,2024-01-06,y\"\n"
			  "4,column day: '2024-02-30' is not a DATE,\"3,7,2024-02-30,z\"\n",
			  __LINE__);
		check_str("declared schema", r.res.schema_json,
			  "[" S_BIGINT("id") ",{\"name\":\"amount\",\"type\":\"DECIMAL(18,2)\","
			  "\"scale\":2,\"currency\":null}," S_TYPE("day", "DATE") "," S_VARCHAR("extra") "]",
			  __LINE__);
		result_free(&r);
	}
	/* evolution: drop removes extra columns, declared columns a file lacks are NULL */
	d.evolution = MFS_EVOLVE_DROP;
	CASE(&p, &d, "amount,id,extra\n1.5,1,x\n2,2,y\n", "id,amount,day\n1,1.50,\n2,2.00,\n", NULL, 0,
	     0);
	/* fail: the file fails */
	d.evolution = MFS_EVOLVE_FAIL;
	{
		struct result r = run_csv(&p, &d, "id,amount,day,extra\n1,1,2024-01-01,x\n", __LINE__);

		CHECK(r.rc == -EIO);
		CHECK_MSG(strstr(r.res.reason, "extra") != NULL, "%s", r.res.reason);
		result_free(&r);
	}
	/* without extras, fail is fine */
	CASE(&p, &d, "id,amount,day\n1,1,2024-01-01\n", "id,amount,day\n1,1.00,2024-01-01\n", NULL, 0,
	     0);
	/* header-less CSV: declared names by position */
	d.evolution = MFS_EVOLVE_ADD;
	CASE(&p, &d, "1,1.5,2024-01-01,x\n2,2.5,2024-01-02,y\n3,3.5,2024-01-03,z\n",
	     "id,amount,day,column_4\n1,1.50,2024-01-01,x\n2,2.50,2024-01-02,y\n3,3.50,2024-01-03,z\n",
	     NULL, 0, 0);
}

static struct mfs_expr *parse_expr(const char *text)
{
	struct mfs_expr *e = NULL;
	struct mfs_expr_error err;

	if (mfs_expr_parse(text, strlen(text), &e, &err) < 0) {
		fprintf(stderr, "parse %s: %s\n", text, err.msg);
		return NULL;
	}
	return e;
}

static void test_expectations(void)
{
	struct mfs_pipeline p = pipe_defaults();
	struct mfs_dataset d = dataset(&p);
	struct mfs_expectation ex[2];
	const char *text = "id,amount\n1,5\n2,-3\n3,\n4,10\n";

	memset(ex, 0, sizeof(ex));
	ex[0].name = W("positive");
	ex[0].text = W("amount > 0");
	ex[0].expr = parse_expr(ex[0].text);
	ex[0].action = MFS_EXPECT_DROP;
	ex[1].name = W("small");
	ex[1].text = W("amount < 8");
	ex[1].expr = parse_expr(ex[1].text);
	ex[1].action = MFS_EXPECT_WARN;
	d.expects = ex;
	d.nexpects = 2;
	{
		/* drop: FALSE and NULL go to rejects; warn counts rows */
		struct result r = run_csv(&p, &d, text, __LINE__);

		CHECK_MSG(r.rc == 0, "rc %d %s", r.rc, r.res.reason);
		check_str("drop", r.out.data, "id,amount\n1,5\n4,10\n", __LINE__);
		check_str("drop rejects", r.rej.data,
			  "line,reason,raw\n3,expectation positive failed,\"2,-3\"\n"
			  "4,expectation positive failed,\"3,\"\n",
			  __LINE__);
		CHECK(r.res.warnings == 1);
		result_free(&r);
	}
	/* fail: the whole file, with the line */
	ex[1].action = MFS_EXPECT_FAIL;
	{
		struct result r = run_csv(&p, &d, text, __LINE__);

		CHECK(r.rc == -EIO);
		check_str("fail reason", r.res.reason, "expectation small failed at line 5", __LINE__);
		result_free(&r);
	}
	/* a bind error fails the file with the message */
	ex[1].text = W("nosuch > 1");
	{
		struct result r = run_csv(&p, &d, text, __LINE__);

		CHECK(r.rc == -EIO);
		CHECK_MSG(strncmp(r.res.reason, "expectation small:", 18) == 0, "%s", r.res.reason);
		result_free(&r);
	}
	mfs_expr_free(ex[0].expr);
	mfs_expr_free(ex[1].expr);
}

static void test_duplicates(void)
{
	struct mfs_pipeline p = pipe_defaults();
	struct mfs_dataset d = dataset(&p);
	char *key[] = { W("id") };

	/* exact duplicates on the cleaned values: first kept */
	CASE(&p, NULL,
	     "id,v,day\n1,a,2024-01-05\n2,b,2024-01-06\n1, a ,\"Jan 5, 2024\"\n3,c,2024-01-07\n2,b,2024-01-06\n",
	     "id,v,day\n1,a,2024-01-05\n2,b,2024-01-06\n3,c,2024-01-07\n", NULL, 0, 2);
	/* NULL and '' differ */
	{
		struct mfs_pipeline q = p;

		q.steps.null_tokens = 0;
		CASE(&q, NULL, "id,v\n1,\n1,\n1,x\n", "id,v\n1,\"\"\n1,x\n", NULL, 0, 1);
	}
	/* dedupe off */
	{
		struct mfs_pipeline q = p;

		q.steps.dedupe = 0;
		CASE(&q, NULL, "id,v\n1,a\n1,a\n", "id,v\n1,a\n1,a\n", NULL, 0, 0);
	}
	/* key: last wins, survivors in file order; null key rejected */
	d.key = key;
	d.nkey = 1;
	{
		struct result r = run_csv(&p, &d,
					  "id,v\n1,a\n2,b\n1,c\n,d\n3,e\n2,f\nNULL,g\n", __LINE__);

		CHECK_MSG(r.rc == 0, "rc %d %s", r.rc, r.res.reason);
		check_str("key", r.out.data, "id,v\n1,c\n3,e\n2,f\n", __LINE__);
		check_str("key rejects", r.rej.data,
			  "line,reason,raw\n5,null key,\",d\"\n8,null key,\"NULL,g\"\n", __LINE__);
		CHECK(r.res.duplicates_removed == 2 && r.res.rows_rejected == 2);
		result_free(&r);
	}
	/* an unknown key column fails the file */
	key[0] = W("nosuch");
	{
		struct result r = run_csv(&p, &d, "id,v\n1,a\n", __LINE__);

		CHECK(r.rc == -EIO);
		CHECK_MSG(strstr(r.res.reason, "nosuch") != NULL, "%s", r.res.reason);
		result_free(&r);
	}
}

static void test_not_a_table(void)
{
	struct mfs_pipeline p = pipe_defaults();
	unsigned char bin[4096];
	size_t i;
	struct result r;

	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 7919 >> 3);
	r = run_full(&p, NULL, NULL, bin, sizeof(bin), __LINE__);
	CHECK(r.rc == -EIO);
	CHECK_MSG(strstr(r.res.reason, "not a table") != NULL, "%s", r.res.reason);
	result_free(&r);
	/* every record malformed (JSON that does not parse) */
	{
		struct input in = { MFS_IN_JSONL, MFS_CODEC_NONE, NULL, NULL, 0 };
		const char *t = "{\"a\": 1\n{\"b\n";

		r = run_full(&p, NULL, &in, t, strlen(t), __LINE__);
		CHECK_MSG(r.rc == -EIO, "rc %d", r.rc);
		CHECK_MSG(strstr(r.res.reason, "not a table") != NULL, "%s", r.res.reason);
		result_free(&r);
	}
}

static void test_json(void)
{
	struct mfs_pipeline p = pipe_defaults();
	struct input in = { MFS_IN_JSONL, MFS_CODEC_NONE, NULL, NULL, 0 };
	const char *t = "{\"id\": 1, \"Name\": \" Alice \", \"amount\": \"$5.00\", \"tags\": [1,2]}\n"
			"{\"id\": 2, \"amount\": 7, \"extra\": {\"a\": true}, \"Name\": null}\n"
			"not json\n"
			"{\"id\": 3, \"Name\": \"x\\\"y\", \"id\": 4}\n";
	struct result r = run_full(&p, NULL, &in, t, strlen(t), __LINE__);

	CHECK_MSG(r.rc == 0, "rc %d %s", r.rc, r.res.reason);
	check_str("jsonl", r.out.data,
		  "id,name,amount,tags,extra_a,id_2\n"
		  "1,Alice,5.00,\"[1,2]\",,\n"
		  "2,,7.00,,true,\n"
		  "3,\"x\"\"y\",,,,4\n",
		  __LINE__);
	CHECK(r.res.rows_in == 4 && r.res.rows_rejected == 1);
	result_free(&r);
	/* JSONL output */
	p.format = MFS_OUT_JSONL;
	t = "id,name,amt,day,ok,score\n1,\"a\"\"b\",$1.50,2024-01-05,yes,1e2\n2,,2,,no,0.5\n";
	r = run_full(&p, NULL, NULL, t, strlen(t), __LINE__);
	CHECK_MSG(r.rc == 0, "rc %d %s", r.rc, r.res.reason);
	check_str("jsonl out", r.out.data,
		  "{\"id\":1,\"name\":\"a\\\"b\",\"amt\":1.50,\"day\":\"2024-01-05\",\"ok\":true,"
		  "\"score\":100.0}\n"
		  "{\"id\":2,\"name\":null,\"amt\":2.00,\"day\":null,\"ok\":false,\"score\":0.5}\n",
		  __LINE__);
	result_free(&r);
	/* declared doubles keep inf/nan: JSON strings in JSONL */
	{
		struct mfs_dataset d = dataset(&p);
		struct mfs_column_decl c[] = { { W("x"), MFS_T_DOUBLE, 0 } };

		d.columns = c;
		d.ncolumns = 1;
		t = "x\n1.5\ninf\nNaN\n\n2\n";
		r = run_full(&p, &d, NULL, t, strlen(t), __LINE__);
		CHECK_MSG(r.rc == 0, "rc %d %s", r.rc, r.res.reason);
		check_str("jsonl doubles", r.out.data,
			  "{\"x\":1.5}\n{\"x\":\"inf\"}\n{\"x\":\"nan\"}\n{\"x\":2.0}\n", __LINE__);
		result_free(&r);
	}
	/* a JSON array */
	p.format = MFS_OUT_CSV;
	in.format = MFS_IN_JSON;
	t = "[{\"a\": 1, \"b\": \"x\"}, {\"a\": 2}]";
	r = run_full(&p, NULL, &in, t, strlen(t), __LINE__);
	CHECK_MSG(r.rc == 0, "rc %d %s", r.rc, r.res.reason);
	check_str("json array", r.out.data, "a,b\n1,x\n2,\n", __LINE__);
	result_free(&r);
}

static void test_gzip_and_hive(void)
{
	struct mfs_pipeline p = pipe_defaults();
	const char *t = "id,v\n1,a\n2,b\n";
	const char *hn[] = { "Region", "year", "v" };
	const char *hv[] = { "eu", "2024", "zz" };
	struct input in = { MFS_IN_CSV, MFS_CODEC_GZIP, hn, hv, 3 };
	unsigned char gz[256];
	z_stream z;
	struct result r;

	memset(&z, 0, sizeof(z));
	CHECK(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
	z.next_in = (unsigned char *)t;
	z.avail_in = (uInt)strlen(t);
	z.next_out = gz;
	z.avail_out = sizeof(gz);
	CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
	deflateEnd(&z);
	r = run_full(&p, NULL, &in, gz, sizeof(gz) - z.avail_out, __LINE__);
	CHECK_MSG(r.rc == 0, "rc %d %s", r.rc, r.res.reason);
	/* the file's own v wins over the Hive v */
	check_str("gzip+hive", r.out.data, "id,v,region,year\n1,a,eu,2024\n2,b,eu,2024\n", __LINE__);
	check_str("hive schema", r.res.schema_json,
		  "[" S_BIGINT("id") "," S_VARCHAR("v") "," S_VARCHAR("region") "," S_BIGINT("year") "]",
		  __LINE__);
	CHECK(r.res.bytes_in == strlen(t));
	result_free(&r);
	/* corrupt gzip: a stream error, not a table */
	gz[12] ^= 0xff;
	gz[13] ^= 0xff;
	r = run_full(&p, NULL, &in, gz, 30, __LINE__);
	CHECK_MSG(r.rc < 0, "rc %d", r.rc);
	result_free(&r);
}

/* Spills in memory, spilled to their file part-way, and on file from the
 * start read back the same, sequentially (twice) and at random. */
static void test_spill_memory(void)
{
	size_t maxes[] = { 512, 4096, 1u << 20 };

	for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
		struct mfs_spill *sp = NULL;
		uint64_t offs[300];
		size_t i, pass;

		CHECK(mfs_spill_open(tmpdir, 512, &sp) == 0);
		if (!sp)
			continue;
		mfs_spill_keep_in_memory(sp, maxes[m]);
		for (i = 0; i < 300; i++) {
			char rec[2048];
			size_t n = 1 + (i * 37) % (i == 150 ? 2000 : 300);

			memset(rec, 'a' + (int)(i % 26), n);
			offs[i] = mfs_spill_tell(sp);
			if (i % 2) {
				char *p = mfs_spill_reserve(sp, n);

				CHECK(p != NULL);
				if (p) {
					memcpy(p, rec, n);
					mfs_spill_commit(sp, n);
				}
			} else {
				CHECK(mfs_spill_write(sp, rec, n) == 0);
			}
		}
		for (pass = 0; pass < 2; pass++) {
			const void *p;

			CHECK(mfs_spill_rewind(sp) == 0);
			for (i = 0; i < 300; i++) {
				size_t n = 1 + (i * 37) % (i == 150 ? 2000 : 300);

				CHECK(mfs_spill_read(sp, n, &p) == 1);
				CHECK(((const char *)p)[n - 1] == 'a' + (int)(i % 26));
			}
			CHECK(mfs_spill_read(sp, 1, &p) == 0);
		}
		for (i = 0; i < 300; i += 7) {
			char got[2048];
			size_t n = 1 + (i * 37) % (i == 150 ? 2000 : 300);

			CHECK(mfs_spill_pread(sp, offs[i], got, n) == 0);
			CHECK(got[n - 1] == 'a' + (int)(i % 26));
		}
		mfs_spill_close(sp);
	}
}

/* dedupe.c alone, with a budget small enough to partition. */
static void test_dedupe_partitions(void)
{
	const uint64_t n = 20000;
	int mode;

	for (mode = 0; mode < 2; mode++) {
		struct mfs_dedupe *mem = NULL, *part = NULL;
		uint64_t i, kept = 0;
		int same = 1;

		CHECK(mfs_dedupe_new(mode, n, 64u << 20, tmpdir, &mem) == 0);
		CHECK(mfs_dedupe_new(mode, n, 16384, tmpdir, &part) == 0);
		if (!mem || !part)
			return;
		CHECK(!mfs_dedupe_streaming(part));
		CHECK(mfs_dedupe_streaming(mem) == (mode == MFS_DEDUPE_FIRST));
		for (i = 0; i < n; i++) {
			uint64_t k = (i * 2654435761u) % 7000; /* ~2/3 duplicates */
			XXH128_hash_t h = XXH3_128bits(&k, sizeof(k));
			int a = mfs_dedupe_add(mem, i, h), b = mfs_dedupe_add(part, i, h);

			CHECK(a >= 0 && b >= 0);
			if (mode == MFS_DEDUPE_FIRST)
				kept += a == 0;
		}
		CHECK(mfs_dedupe_finish(mem) == 0);
		CHECK(mfs_dedupe_finish(part) == 0);
		if (mode == MFS_DEDUPE_LAST)
			for (i = 0; i < n; i++)
				kept += mfs_dedupe_keep(mem, i);
		CHECK_MSG(kept == 7000, "mode %d kept %llu", mode, (unsigned long long)kept);
		for (i = 0; i < n; i++) {
			uint64_t k = (i * 2654435761u) % 7000;
			/* first or last row of its key */
			uint64_t j;
			int want = 1;

			for (j = mode == MFS_DEDUPE_FIRST ? 0 : i + 1;
			     j < (mode == MFS_DEDUPE_FIRST ? i : n) && want; j++)
				if ((j * 2654435761u) % 7000 == k)
					want = 0;
			if (mfs_dedupe_keep(part, i) != want)
				same = 0;
			if (i > 2000)
				break; /* quadratic check: a prefix is enough */
		}
		CHECK_MSG(same, "mode %d: partitioned survivors differ", mode);
		CHECK(mfs_dedupe_removed(mem) == n - 7000 && mfs_dedupe_removed(part) == n - 7000);
		mfs_dedupe_free(mem);
		mfs_dedupe_free(part);
	}
}

/* Silver's own dedupe past its memory budget: the same output as in memory. */
static void test_dedupe_spilled(void)
{
	struct mfs_pipeline p = pipe_defaults();
	struct mfs_dataset d = dataset(&p);
	char *key[] = { W("k") };
	struct mfs_buf in = MFS_BUF_INIT;
	struct result a, b;
	size_t saved = mfs_silver_dedupe_budget;
	int i, pass;

	mfs_buf_appendf(&in, "id,k,v\n");
	for (i = 0; i < 5000; i++) {
		int id = i % 7 == 3 ? i - 3 : i; /* every 7th row repeats an earlier one */

		mfs_buf_appendf(&in, "%d,%d,%d\n", id, id % 1700, id % 13);
	}
	for (pass = 0; pass < 2; pass++) {
		const struct mfs_dataset *ds = pass ? &d : NULL;

		d.key = key;
		d.nkey = 1;
		mfs_silver_dedupe_budget = saved;
		a = run_full(&p, ds, NULL, in.data, in.len, __LINE__);
		mfs_silver_dedupe_budget = 4096;
		b = run_full(&p, ds, NULL, in.data, in.len, __LINE__);
		mfs_silver_dedupe_budget = saved;
		CHECK_MSG(a.rc == 0 && b.rc == 0, "rc %d %d", a.rc, b.rc);
		CHECK_MSG(a.out.len == b.out.len && memcmp(a.out.data, b.out.data, a.out.len) == 0,
			  "pass %d: spilled dedupe output differs", pass);
		CHECK_MSG(a.res.duplicates_removed == (pass ? 5000 - 1700 : 714) &&
				  b.res.duplicates_removed == a.res.duplicates_removed,
			  "pass %d: dups %llu %llu", pass, (unsigned long long)a.res.duplicates_removed,
			  (unsigned long long)b.res.duplicates_removed);
		result_free(&a);
		result_free(&b);
	}
	mfs_buf_free(&in);
}

/* Spill files are unlinked at once: nothing is left in tmpdir. */
static void test_no_temp_files(void)
{
	DIR *dir = opendir(tmpdir);
	struct dirent *de;
	int left = 0;

	CHECK(dir != NULL);
	if (!dir)
		return;
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "dirty"))
			left++;
	closedir(dir);
	CHECK_MSG(left == 0, "%d files left in %s", left, tmpdir);
}

/* ---- the generated dirty dataset ---- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct mfs_buf b = MFS_BUF_INIT;
	char tmp[65536];
	size_t n;

	if (!f)
		return NULL;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		mfs_buf_append(&b, tmp, n);
	fclose(f);
	if (!b.data)
		mfs_buf_append(&b, "", 0);
	*len = b.len;
	return b.data;
}

/* First differing line of two texts, for a readable failure. */
static void report_diff(const char *name, const char *got, const char *want)
{
	int line = 1;
	const char *g = got, *w = want;

	while (*g && *g == *w) {
		if (*g == '\n')
			line++;
		g++;
		w++;
	}
	while (g > got && g[-1] != '\n') {
		g--;
		w--;
	}
	fprintf(stderr, "%s: line %d differs:\n  got:  %.*s\n  want: %.*s\n", name, line,
		(int)strcspn(g, "\n"), g, (int)strcspn(w, "\n"), w);
}

static void test_generated(void)
{
	const char *srcdir = getenv("MFS_SOURCE_DIR");
	char cmd[4096], dir[512], path[1024], line[8192];
	FILE *man;
	int files = 0;

	if (!srcdir)
		srcdir = ".";
	snprintf(dir, sizeof(dir), "%s/dirty", tmpdir);
	snprintf(cmd, sizeof(cmd), "python3 %s/scripts/gen-dirty-data --out %s --rows 3000 --seed 7",
		 srcdir, dir);
	CHECK_MSG(system(cmd) == 0, "%s failed", cmd);
	snprintf(path, sizeof(path), "%s/MANIFEST.tsv", dir);
	man = fopen(path, "r");
	CHECK_MSG(man != NULL, "no %s", path);
	if (!man)
		return;
	/* file \t format \t codec \t expected \t rows_in \t rows_out \t rejected \t dups \t schema \t date_order */
	while (fgets(line, sizeof(line), man)) {
		char *f[12];
		int nf = 0;
		char *s = line, *tab;
		struct mfs_pipeline p = pipe_defaults();
		struct input in = { MFS_IN_CSV, MFS_CODEC_NONE, NULL, NULL, 0 };
		struct result r;
		char *data, *want;
		size_t len, wlen;

		if (line[0] == '#')
			continue;
		line[strcspn(line, "\n")] = 0;
		while (nf < 12 && (tab = strchr(s, '\t'))) {
			*tab = 0;
			f[nf++] = s;
			s = tab + 1;
		}
		f[nf++] = s;
		if (nf < 10) {
			CHECK_MSG(0, "bad manifest line %s", line);
			continue;
		}
		in.format = strcmp(f[1], "jsonl") == 0 ? MFS_IN_JSONL
			    : strcmp(f[1], "tsv") == 0 ? MFS_IN_TSV
			    : strcmp(f[1], "psv") == 0 ? MFS_IN_PSV
						      : MFS_IN_CSV;
		in.codec = strcmp(f[2], "gz") == 0 ? MFS_CODEC_GZIP
			   : strcmp(f[2], "zst") == 0 ? MFS_CODEC_ZSTD
						     : MFS_CODEC_NONE;
		p.date_order = strcmp(f[9], "dmy") == 0 ? MFS_DATE_DMY : MFS_DATE_MDY;
		snprintf(path, sizeof(path), "%s/%s", dir, f[0]);
		data = slurp(path, &len);
		snprintf(path, sizeof(path), "%s/%s", dir, f[3]);
		want = slurp(path, &wlen);
		CHECK_MSG(data && want, "missing %s or %s", f[0], f[3]);
		if (!data || !want) {
			free(data);
			free(want);
			continue;
		}
		r = run_full(&p, NULL, &in, data, len, __LINE__);
		CHECK_MSG(r.rc == 0, "%s: rc %d %s", f[0], r.rc, r.res.reason);
		if (r.rc == 0) {
			int same = r.out.len == wlen && memcmp(r.out.data, want, wlen) == 0;

			CHECK_MSG(same, "%s: output differs from %s", f[0], f[3]);
			if (!same)
				report_diff(f[0], r.out.data, want);
			CHECK_MSG(r.res.rows_in == strtoull(f[4], NULL, 10) &&
					  r.res.rows_out == strtoull(f[5], NULL, 10) &&
					  r.res.rows_rejected == strtoull(f[6], NULL, 10) &&
					  r.res.duplicates_removed == strtoull(f[7], NULL, 10),
				  "%s: counts in %llu out %llu rej %llu dup %llu, want %s %s %s %s", f[0],
				  (unsigned long long)r.res.rows_in, (unsigned long long)r.res.rows_out,
				  (unsigned long long)r.res.rows_rejected,
				  (unsigned long long)r.res.duplicates_removed, f[4], f[5], f[6], f[7]);
			check_str(f[0], r.res.schema_json, f[8], __LINE__);
		}
		files++;
		result_free(&r);
		free(data);
		free(want);
	}
	fclose(man);
	CHECK_MSG(files >= 10, "only %d generated files checked", files);
}

static void cleanup(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_values();
	test_names();
	test_nulls_and_rows();
	test_declared();
	test_expectations();
	test_duplicates();
	test_not_a_table();
	test_json();
	test_gzip_and_hive();
	test_spill_memory();
	test_dedupe_partitions();
	test_dedupe_spilled();
	test_generated();
	test_no_temp_files();
	cleanup();
	return unit_done("silver");
}
