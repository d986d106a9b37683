/*
 * test_pipeline.c - the pipeline file: a full example read field by field,
 * the defaults, inheritance from [silver], the owner of a key (longest
 * prefix), every error with its FILE:LINE (FILE:LINE:COL inside an
 * expectation, also on a continued line), fingerprint texts, and the
 * effective pipeline rendered and read back unchanged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../transforms/expr_i.h"
#include "../../transforms/pipeline.h"
#include "unit.h"

static const char example[] =
	"# the demo lake's pipeline\n"                                   /* 1 */
	"[silver]\n"                                                     /* 2 */
	"format = jsonl\n"                                               /* 3 */
	"date_order = dmy\n"                                             /* 4 */
	"null_tokens = \"\", NULL, \"n,a\", \" - \", \"say \"\"hi\"\"\", NULL\n" /* 5 */
	"dedupe = false\n"                                               /* 6 */
	"\n"                                                             /* 7 */
	"[dataset sales]\n"                                              /* 8 */
	"prefix = /sales//2024\n"                                        /* 9 */
	"format = csv\n"                                                 /* 10 */
	"columns = order_id:bigint, amount:decimal(10,2), \"Order Date\":date,\n" /* 11 */
	"          status:varchar, paid:bool, ratio:double, at:timestamp\n" /* 12 */
	"key = order_id\n"                                               /* 13 */
	"decimal_comma = true\n"                                         /* 14 */
	"expect = positive: amount > 0 -> drop\n"                        /* 15 */
	"expect = known_status: status IN ('paid', 'open ; pending') -- a comment\n"
	"    OR status IS NULL -> warn\n"                                /* 17 */
	"expect = sane-date: \"Order Date\" >= '2000-01-01' -> fail\n"   /* 18 */
	"evolution = drop\n"                                             /* 19 */
	"trim = false\n"                                                 /* 20 */
	"null_tokens = none\n"                                           /* 21 */
	"\n"                                                             /* 22 */
	"[dataset notes]\n"                                              /* 23 */
	"format = csv\n"                                                 /* 24 */
	"names = keep\n"                                                 /* 25 */
	"\n"                                                             /* 26 */
	"[dataset sales_eu]\n"                                           /* 27 */
	"prefix = sales/2024/eu/\n"                                      /* 28 */
	"types = off\n"                                                  /* 29 */
	"\n"                                                             /* 30 */
	"[gold revenue_by_region]\n"                                     /* 31 */
	"sql = SELECT region, date_trunc('month', order_date) AS month,\n" /* 32 */
	"             sum(amount) AS revenue ; # kept\n"                 /* 33 */
	"      FROM sales WHERE status = 'paid'\n"                       /* 34 */
	"format = jsonl\n";                                              /* 35 */

static struct mfs_pipeline *parse(const char *text, char *err, size_t errlen, int *rc)
{
	struct mfs_pipeline *p = NULL;

	err[0] = '\0';
	*rc = mfs_pipeline_parse(text, strlen(text), "p.ini", &p, err, errlen);
	return p;
}

static void test_example(void)
{
	struct mfs_pipeline *p;
	const struct mfs_dataset *d;
	char err[512];
	int rc;

	p = parse(example, err, sizeof(err), &rc);
	CHECK_MSG(rc == 0 && p, "%s", err);
	if (!p)
		return;
	CHECK(!strcmp(p->path, "p.ini"));
	CHECK(p->format == MFS_OUT_JSONL && p->date_order == MFS_DATE_DMY);
	CHECK(p->steps.trim && p->steps.null_tokens && p->steps.infer_types &&
	      p->steps.normalize_names && !p->steps.dedupe);
	/* the list: quotes keep commas, spaces and quotes; repeats dropped */
	CHECK(p->nnull_tokens == 5);
	if (p->nnull_tokens == 5) {
		CHECK(!strcmp(p->null_tokens[0], ""));
		CHECK(!strcmp(p->null_tokens[1], "NULL"));
		CHECK(!strcmp(p->null_tokens[2], "n,a"));
		CHECK(!strcmp(p->null_tokens[3], " - "));
		CHECK(!strcmp(p->null_tokens[4], "say \"hi\""));
	}
	CHECK(p->ndatasets == 3 && p->nviews == 1);
	if (p->ndatasets != 3 || p->nviews != 1)
		goto out;

	d = &p->datasets[0];
	CHECK(!strcmp(d->name, "sales") && d->line == 8);
	CHECK(!strcmp(d->prefix, "sales/2024/"));
	CHECK(d->format == MFS_IN_CSV && d->decimal_comma && d->evolution == MFS_EVOLVE_DROP);
	CHECK(d->ncolumns == 7);
	if (d->ncolumns == 7) {
		CHECK(!strcmp(d->columns[0].name, "order_id") && d->columns[0].type == MFS_T_INT);
		CHECK(!strcmp(d->columns[1].name, "amount") && d->columns[1].type == MFS_T_DECIMAL &&
		      d->columns[1].scale == 2);
		CHECK(!strcmp(d->columns[2].name, "Order Date") && d->columns[2].type == MFS_T_DATE);
		CHECK(d->columns[3].type == MFS_T_STRING && d->columns[4].type == MFS_T_BOOL &&
		      d->columns[5].type == MFS_T_DOUBLE && d->columns[6].type == MFS_T_TIMESTAMP);
	}
	CHECK(d->nkey == 1 && !strcmp(d->key[0], "order_id"));
	CHECK(d->nexpects == 3);
	if (d->nexpects == 3) {
		CHECK(!strcmp(d->expects[0].name, "positive") &&
		      !strcmp(d->expects[0].text, "amount > 0") &&
		      d->expects[0].action == MFS_EXPECT_DROP && d->expects[0].line == 15 &&
		      d->expects[0].expr);
		CHECK(!strcmp(d->expects[1].name, "known_status") &&
		      !strcmp(d->expects[1].text, "status IN ('paid', 'open ; pending') -- a "
						  "comment\n    OR status IS NULL"));
		CHECK(d->expects[1].action == MFS_EXPECT_WARN);
		CHECK(!strcmp(d->expects[2].name, "sane-date") &&
		      d->expects[2].action == MFS_EXPECT_FAIL);
	}
	/* switches: own, else [silver]'s (which comes first here) */
	CHECK(!d->steps.trim && !d->steps.null_tokens && d->steps.infer_types &&
	      d->steps.normalize_names && !d->steps.dedupe);

	d = &p->datasets[1];
	CHECK(!strcmp(d->name, "notes") && !strcmp(d->prefix, "notes/")); /* defaulted */
	CHECK(d->format == MFS_IN_CSV && d->ncolumns == 0 && d->nkey == 0 && !d->decimal_comma &&
	      d->evolution == MFS_EVOLVE_ADD);
	CHECK(d->steps.trim && d->steps.null_tokens && !d->steps.normalize_names &&
	      !d->steps.dedupe);
	d = &p->datasets[2];
	CHECK(!strcmp(d->prefix, "sales/2024/eu/") && d->format == MFS_IN_AUTO &&
	      !d->steps.infer_types);

	CHECK(!strcmp(p->views[0].name, "revenue_by_region"));
	CHECK(p->views[0].format == MFS_OUT_JSONL);
	CHECK(p->views[0].line == 32 && p->views[0].col == 7);
	CHECK(!strcmp(p->views[0].sql, "SELECT region, date_trunc('month', order_date) AS month,\n"
				       "             sum(amount) AS revenue ; # kept\n"
				       "      FROM sales WHERE status = 'paid'"));
out:
	mfs_pipeline_free(p);
}

static void check_defaults(const struct mfs_pipeline *p)
{
	static const char *const want[] = { "", "NULL", "null", "N/A", "NA", "n/a", "None", "-" };
	size_t i;

	CHECK(p->format == MFS_OUT_CSV && p->date_order == MFS_DATE_MDY);
	CHECK(p->steps.trim && p->steps.null_tokens && p->steps.infer_types &&
	      p->steps.normalize_names && p->steps.dedupe);
	CHECK(p->nnull_tokens == 8);
	for (i = 0; i < 8 && i < p->nnull_tokens; i++)
		CHECK(!strcmp(p->null_tokens[i], want[i]));
	CHECK(p->silver_text && !strcmp(p->silver_text, ""));
}

static void test_defaults(void)
{
	struct mfs_pipeline *p = NULL;
	char err[256];
	int rc;

	CHECK(mfs_pipeline_defaults(&p) == 0 && p);
	if (p) {
		check_defaults(p);
		CHECK(!strcmp(p->path, "(defaults)") && p->ndatasets == 0 && p->nviews == 0);
		CHECK(mfs_pipeline_dataset_for(p, "sales/a.csv") == NULL);
		mfs_pipeline_free(p);
	}
	p = parse("# nothing but a comment\n", err, sizeof(err), &rc);
	CHECK(rc == 0 && p);
	if (p) {
		check_defaults(p);
		mfs_pipeline_free(p);
	}
	/* an empty [silver] changes nothing, neither the fingerprint text */
	p = parse("[silver]\n", err, sizeof(err), &rc);
	CHECK(rc == 0 && p);
	if (p) {
		check_defaults(p);
		mfs_pipeline_free(p);
	}
	mfs_pipeline_free(NULL);
}

static void test_inheritance(void)
{
	static const char text[] = "[dataset a]\n"
				   "trim = true\n"
				   "[dataset b]\n"
				   "[silver]\n"
				   "trim = no\n"
				   "types = off\n"
				   "names = keep\n"
				   "null_tokens = none\n"
				   "[dataset c]\n"
				   "null_tokens = true\n"
				   "dedupe = off\n";
	struct mfs_pipeline *p;
	char err[256];
	int rc;

	p = parse(text, err, sizeof(err), &rc);
	CHECK_MSG(rc == 0 && p && p->ndatasets == 3, "%s", err);
	if (!p || p->ndatasets != 3) {
		mfs_pipeline_free(p);
		return;
	}
	/* [silver] set after a dataset still applies to it */
	CHECK(p->datasets[0].steps.trim && !p->datasets[0].steps.infer_types &&
	      !p->datasets[0].steps.normalize_names && !p->datasets[0].steps.null_tokens &&
	      p->datasets[0].steps.dedupe);
	CHECK(!p->datasets[1].steps.trim && !p->datasets[1].steps.infer_types);
	CHECK(!p->datasets[2].steps.trim && p->datasets[2].steps.null_tokens &&
	      !p->datasets[2].steps.dedupe);
	CHECK(!p->steps.null_tokens && p->nnull_tokens == 0);
	mfs_pipeline_free(p);
}

static void test_dataset_for(void)
{
	static const char text[] = "[dataset all]\nprefix =\n"
				   "[dataset sales]\n"
				   "[dataset sales24]\nprefix = sales/2024\n"
				   "[dataset eu]\nprefix = sales/2024/eu/\n"
				   "[dataset other]\nprefix = salesforce/\n";
	struct mfs_pipeline *p;
	const struct mfs_dataset *d;
	char err[256];
	int rc;

	p = parse(text, err, sizeof(err), &rc);
	CHECK_MSG(rc == 0 && p, "%s", err);
	if (!p)
		return;
	CHECK(!strcmp(p->datasets[0].prefix, ""));
	d = mfs_pipeline_dataset_for(p, "sales/2024/eu/x.csv");
	CHECK(d && !strcmp(d->name, "eu"));
	d = mfs_pipeline_dataset_for(p, "sales/2024/us/x.csv");
	CHECK(d && !strcmp(d->name, "sales24"));
	d = mfs_pipeline_dataset_for(p, "sales/2023/x.csv");
	CHECK(d && !strcmp(d->name, "sales"));
	d = mfs_pipeline_dataset_for(p, "/sales/2023/x.csv");
	CHECK(d && !strcmp(d->name, "sales"));
	d = mfs_pipeline_dataset_for(p, "salesforce/a.json");
	CHECK(d && !strcmp(d->name, "other"));
	d = mfs_pipeline_dataset_for(p, "sales.csv"); /* not under sales/ */
	CHECK(d && !strcmp(d->name, "all"));
	mfs_pipeline_free(p);
	p = parse("[dataset sales]\n", err, sizeof(err), &rc);
	CHECK(p && mfs_pipeline_dataset_for(p, "other/x.csv") == NULL);
	mfs_pipeline_free(p);
}

static void expect_error(const char *text, const char *want, int at)
{
	struct mfs_pipeline *p;
	char err[512];
	int rc;

	p = parse(text, err, sizeof(err), &rc);
	CHECK_MSG(rc == -EINVAL && !p, "line %d: rc %d", at, rc);
	CHECK_MSG(!strcmp(err, want), "line %d:\n  got  '%s'\n  want '%s'", at, err, want);
	mfs_pipeline_free(p);
}

#define ERROR(text, want) expect_error(text, want, __LINE__)

static void test_errors(void)
{
	/* the INI layer's, with the path */
	ERROR("[silver]\nformat = csv\njunk\n",
	      "p.ini:3: expected 'key = value' or '[section]'");
	ERROR("  x = 1\n", "p.ini:1: indented line without a key (a value continues only after "
			   "'key = value')");
	ERROR("[silver]\n= 1\n", "p.ini:2: empty key before '='");
	/* sections */
	ERROR("[bronze]\n", "p.ini:1: unknown section [bronze] (expected [silver], [dataset NAME] "
			    "or [gold NAME])");
	ERROR("[silver extra]\n", "p.ini:1: [silver] takes no name");
	ERROR("[silver]\n[SILVER]\n", "p.ini:2: a second [silver] section (the first is at line 1)");
	ERROR("\n[dataset]\n", "p.ini:2: a dataset needs a name: [dataset NAME]");
	ERROR("[dataset two words]\n",
	      "p.ini:1: dataset name 'two words': use letters, digits, '_', '-' and '.'");
	ERROR("[dataset .hidden]\n",
	      "p.ini:1: dataset name '.hidden': use letters, digits, '_', '-' and '.'");
	ERROR("[dataset a]\n[dataset b]\n[dataset A]\n",
	      "p.ini:3: [dataset A] is declared twice (first at line 1)");
	ERROR("[gold]\n", "p.ini:1: a gold view needs a name: [gold NAME]");
	ERROR("[gold a/b]\nsql = x\n",
	      "p.ini:1: gold view name 'a/b': use letters, digits, '_', '-' and '.'");
	ERROR("[gold v]\nsql = SELECT 1\n[gold v]\nsql = SELECT 2\n",
	      "p.ini:3: [gold v] is declared twice (first at line 1)");
	ERROR("[silver]\n\n[gold v]\nformat = csv\n", "p.ini:3: [gold v] has no sql");
	ERROR("[gold v]\nsql =\n", "p.ini:2: sql: empty");
	/* keys */
	ERROR("format = csv\n", "p.ini:1: 'format' before any section");
	ERROR("[silver]\ncolour = red\n", "p.ini:2: unknown key 'colour' in [silver]");
	ERROR("[silver]\nprefix = x/\n", "p.ini:2: unknown key 'prefix' in [silver]");
	ERROR("[dataset s]\nsql = x\n", "p.ini:2: unknown key 'sql' in [dataset s]");
	ERROR("[dataset s]\ndate_order = dmy\n",
	      "p.ini:2: 'date_order' belongs in [silver], not in [dataset s]");
	ERROR("[gold g]\ntrim = true\n", "p.ini:2: 'trim' belongs in [silver], not in [gold g]");
	ERROR("[gold g]\nsql = SELECT a\n  FROM t\nWHERE a = 1\n",
	      "p.ini:4: unknown key 'where a' in [gold g] (a value continues only on indented "
	      "lines)");
	ERROR("[gold g]\nsql = SELECT 1\ncolumns = a:int\n",
	      "p.ini:3: unknown key 'columns' in [gold g]");
	ERROR("[silver]\ntrim = true\n\nTRIM = false\n",
	      "p.ini:4: 'trim' is set twice in [silver] (first at line 2)");
	ERROR("[dataset s]\nkey = a\nkey = b\n",
	      "p.ini:3: 'key' is set twice in [dataset s] (first at line 2)");
	/* values */
	ERROR("[silver]\nformat = parquet\n", "p.ini:2: format: expected csv or jsonl, not 'parquet'");
	ERROR("[silver]\ndate_order = ydm\n",
	      "p.ini:2: date_order: expected mdy, dmy or ymd, not 'ydm'");
	ERROR("[silver]\ntrim = maybe\n", "p.ini:2: trim: expected true or false, not 'maybe'");
	ERROR("[silver]\ndedupe = 2\n", "p.ini:2: dedupe: expected true or false, not '2'");
	ERROR("[silver]\ntypes = guess\n", "p.ini:2: types: expected infer or off, not 'guess'");
	ERROR("[silver]\nnames = camel\n",
	      "p.ini:2: names: expected snake_case or keep, not 'camel'");
	ERROR("[silver]\nnull_tokens =\n",
	      "p.ini:2: null_tokens: empty list (write 'none' for no null tokens)");
	ERROR("[silver]\nnull_tokens = a, , b\n",
	      "p.ini:2: null_tokens: empty item (write \"\" for the empty string)");
	ERROR("[silver]\nnull_tokens = \"a, b\n", "p.ini:2: null_tokens: unterminated quote");
	ERROR("[silver]\nnull_tokens = \"a\" b\n", "p.ini:2: null_tokens: text after a quoted item");
	ERROR("[silver]\nnull_tokens = a\"b\n",
	      "p.ini:2: null_tokens: a quote inside an unquoted item");
	ERROR("[dataset s]\nnull_tokens = NA, -\n",
	      "p.ini:2: null_tokens: in a dataset only 'none' or 'true' (the list itself is set "
	      "in [silver])");
	ERROR("[dataset s]\nformat = xml\n",
	      "p.ini:2: format: expected csv, tsv, psv, jsonl or json, not 'xml'");
	ERROR("[gold g]\nsql = SELECT 1\nformat = tsv\n",
	      "p.ini:3: format: expected csv or jsonl, not 'tsv'");
	ERROR("[dataset s]\ndecimal_comma = si\n",
	      "p.ini:2: decimal_comma: expected true or false, not 'si'");
	ERROR("[dataset s]\nevolution = merge\n",
	      "p.ini:2: evolution: expected add, drop or fail, not 'merge'");
	ERROR("[dataset s]\nprefix = a/../b\n",
	      "p.ini:2: prefix must not contain '.' or '..' segments");
	ERROR("[dataset s]\nprefix = a\n  b\n", "p.ini:2: prefix must be one line");
	ERROR("[dataset s]\nprefix = // x/\n", "p.ini:2: prefix must not start with white space");
	ERROR("[dataset a]\nprefix = x/\n[dataset b]\n\nprefix = /x\n",
	      "p.ini:5: prefix 'x/' is already owned by [dataset a] (line 1)");
	ERROR("[dataset sales]\n[dataset b]\nprefix = sales\n",
	      "p.ini:3: prefix 'sales/' is already owned by [dataset sales] (line 1)");
	ERROR("[dataset b]\nprefix = sales\n[dataset sales]\n",
	      "p.ini:3: prefix 'sales/' is already owned by [dataset b] (line 1)");
	/* columns and key */
	ERROR("[dataset s]\ncolumns = a:int, b\n", "p.ini:2: columns: expected 'name:type', not 'b'");
	ERROR("[dataset s]\ncolumns = a:int,\n   b:blob\n",
	      "p.ini:2: columns: unknown type: 'blob' for column 'b'");
	ERROR("[dataset s]\ncolumns = a:decimal(50,2)\n",
	      "p.ini:2: columns: decimal precision must be between 1 and 38: 'decimal' for column "
	      "'a'");
	ERROR("[dataset s]\ncolumns = a:int, A:text\n",
	      "p.ini:2: columns: column 'A' is declared twice");
	ERROR("[dataset s]\ncolumns = a:int, , b:int\n", "p.ini:2: columns: empty item");
	ERROR("[dataset s]\ncolumns = :int\n", "p.ini:2: columns: bad column name in ':int'");
	ERROR("[dataset s]\nkey = id\ncolumns = a:int, b:int\n",
	      "p.ini:2: key: column 'id' is not among the declared columns");
	ERROR("[dataset s]\nkey = a, a\n", "p.ini:2: key: column 'a' is named twice");
	/* expectations */
	ERROR("[dataset s]\nexpect = amount > 0\n",
	      "p.ini:2: expect: expected 'NAME: EXPRESSION -> drop|warn|fail'");
	ERROR("[dataset s]\nexpect = pos: amount > 0\n",
	      "p.ini:2: expect: expected 'NAME: EXPRESSION -> drop|warn|fail'");
	ERROR("[dataset s]\nexpect = : a > 0 -> drop\n",
	      "p.ini:2: expect: the expectation needs a name before ':'");
	ERROR("[dataset s]\nexpect = no good: a > 0 -> drop\n",
	      "p.ini:2: expect: name 'no good' may hold only letters, digits, '_' and '-'");
	ERROR("[dataset s]\nexpect = pos: a > 0 -> delete\n",
	      "p.ini:2: expect: action must be drop, warn or fail, not 'delete'");
	ERROR("[dataset s]\nexpect = pos:   -> drop\n", "p.ini:2: expect: 'pos' has no expression");
	ERROR("[dataset s]\nexpect = pos: a > 0 -> drop\nexpect = pos: a < 9 -> warn\n",
	      "p.ini:3: expect: 'pos' is declared twice (first at line 2)");
	/* FILE:LINE:COL into the file: same line... */
	ERROR("[dataset s]\nexpect = pos: amount >> 0 -> drop\n",
	      "p.ini:2:23: unexpected '>'");
	/* ...on the 2nd line of a continued value... */
	ERROR("[dataset s]\n"
	      "expect = pos: amount > 0\n"
	      "      AND amount < )\n"
	      "  -> drop\n",
	      "p.ini:3:20: unexpected ')'");
	/* ...after blank and comment lines inside the value, and tabs */
	ERROR("[dataset s]\n"
	      "expect = pos:\n"
	      "\tamount > 0 AND\n"
	      "\n"
	      "   # comment\n"
	      "\t\tlower(name) = 'x' AND 'open\n"
	      "  -> drop\n",
	      "p.ini:6:25: unterminated string");
	/* bind errors against the declared columns, at load */
	ERROR("[dataset s]\ncolumns = amount:decimal(10,2), name:text\n"
	      "expect = pos: amount > 0 AND\n  name > 5 -> drop\n",
	      "p.ini:4:8: cannot compare VARCHAR and BIGINT");
	ERROR("[dataset s]\nexpect = agg: sum(amount) > 0 -> drop\n",
	      "p.ini:2:15: aggregate sum() is not allowed here");
	ERROR("[dataset s]\nexpect = pos:lower(5) = 'x' -> drop\n",
	      "p.ini:2:20: cannot apply lower() to BIGINT");
	/* a value that starts on the line below its key */
	ERROR("[dataset s]\nexpect =\n   pos: x = = 1 -> drop\n", "p.ini:3:13: unexpected '='");
}

static void test_load(void)
{
	char path[] = "/tmp/mfs-test-pipeline-XXXXXX", err[512];
	struct mfs_pipeline *p = NULL;
	FILE *f;
	int fd, rc;

	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	f = fdopen(fd, "w");
	CHECK(f != NULL);
	if (!f) {
		close(fd);
		unlink(path);
		return;
	}
	fputs(example, f);
	fclose(f);
	rc = mfs_pipeline_load(path, &p, err, sizeof(err));
	CHECK_MSG(rc == 0 && p && !strcmp(p->path, path) && p->ndatasets == 3, "%s", err);
	mfs_pipeline_free(p);
	/* errors name the file */
	f = fopen(path, "w");
	if (f) {
		fputs("[silver]\nformat = csv\n[what]\n", f);
		fclose(f);
	}
	rc = mfs_pipeline_load(path, &p, err, sizeof(err));
	CHECK(rc == -EINVAL && !p && !strncmp(err, path, strlen(path)) &&
	      !strncmp(err + strlen(path), ":3: unknown section [what]", 26));
	unlink(path);
	rc = mfs_pipeline_load(path, &p, err, sizeof(err));
	CHECK(rc == -ENOENT && !p && strstr(err, "No such file"));
}

/* Two pipelines say the same (positions and paths aside). */
static int same_pipeline(const struct mfs_pipeline *a, const struct mfs_pipeline *b)
{
	size_t i, j;

	if (memcmp(&a->steps, &b->steps, sizeof(a->steps)) || a->date_order != b->date_order ||
	    a->format != b->format || a->ndatasets != b->ndatasets || a->nviews != b->nviews)
		return 0;
	if (a->steps.null_tokens) {
		if (a->nnull_tokens != b->nnull_tokens)
			return 0;
		for (i = 0; i < a->nnull_tokens; i++)
			if (strcmp(a->null_tokens[i], b->null_tokens[i]))
				return 0;
	}
	for (i = 0; i < a->ndatasets; i++) {
		const struct mfs_dataset *x = &a->datasets[i], *y = &b->datasets[i];

		if (strcmp(x->name, y->name) || strcmp(x->prefix, y->prefix) ||
		    x->format != y->format || x->ncolumns != y->ncolumns || x->nkey != y->nkey ||
		    x->decimal_comma != y->decimal_comma || x->nexpects != y->nexpects ||
		    x->evolution != y->evolution || memcmp(&x->steps, &y->steps, sizeof(x->steps)))
			return 0;
		for (j = 0; j < x->ncolumns; j++)
			if (strcmp(x->columns[j].name, y->columns[j].name) ||
			    x->columns[j].type != y->columns[j].type ||
			    x->columns[j].scale != y->columns[j].scale)
				return 0;
		for (j = 0; j < x->nkey; j++)
			if (strcmp(x->key[j], y->key[j]))
				return 0;
		for (j = 0; j < x->nexpects; j++)
			if (strcmp(x->expects[j].name, y->expects[j].name) ||
			    strcmp(x->expects[j].text, y->expects[j].text) ||
			    x->expects[j].action != y->expects[j].action ||
			    !mfs_expr_equal(x->expects[j].expr, y->expects[j].expr))
				return 0;
	}
	for (i = 0; i < a->nviews; i++)
		if (strcmp(a->views[i].name, b->views[i].name) ||
		    strcmp(a->views[i].sql, b->views[i].sql) || a->views[i].format != b->views[i].format)
			return 0;
	return 1;
}

static void round_trip(const char *text, int at)
{
	struct mfs_pipeline *p, *q = NULL;
	char err[512], *r1 = NULL, *r2 = NULL;
	int rc;

	p = parse(text, err, sizeof(err), &rc);
	CHECK_MSG(rc == 0, "line %d: %s", at, err);
	if (!p)
		return;
	r1 = mfs_pipeline_render(p);
	CHECK_MSG(r1 != NULL, "line %d", at);
	if (!r1)
		goto out;
	rc = mfs_pipeline_parse(r1, strlen(r1), "p.ini", &q, err, sizeof(err));
	CHECK_MSG(rc == 0 && q, "line %d: the rendering does not parse: %s\n%s", at, err, r1);
	if (!q)
		goto out;
	CHECK_MSG(same_pipeline(p, q), "line %d: rendered and read back differs:\n%s", at, r1);
	r2 = mfs_pipeline_render(q);
	CHECK_MSG(r2 && !strcmp(r1, r2), "line %d: renders differ:\n%s\n---\n%s", at, r1,
		  r2 ? r2 : "(null)");
out:
	free(r1);
	free(r2);
	mfs_pipeline_free(p);
	mfs_pipeline_free(q);
}

static void test_render(void)
{
	struct mfs_pipeline *p = NULL;
	char *r;

	round_trip(example, __LINE__);
	round_trip("", __LINE__);
	round_trip("[silver]\nnull_tokens = none\n", __LINE__);
	round_trip("[silver]\nnull_tokens = none, \"none\"\n", __LINE__);
	round_trip("[silver]\nnull_tokens = \"none\"\n", __LINE__);
	round_trip("[silver]\nnull_tokens = \"\"\n", __LINE__);
	round_trip("[dataset s]\ncolumns = \"a:b\":int, \"c,d\":decimal(4,1), \"e\"\"f\":date, "
		   "\"(g)\":text\nkey = \"a:b\", \"c,d\"\n",
		   __LINE__);
	round_trip("[dataset s]\nexpect = a: x > 0\n\n    AND y = '->'\n -> warn\n", __LINE__);
	round_trip("[gold g]\nsql =\n  SELECT 1\n\n  FROM t\n", __LINE__);
	/* the defaults render as a file that reads back as the defaults */
	CHECK(mfs_pipeline_defaults(&p) == 0);
	if (p) {
		r = mfs_pipeline_render(p);
		CHECK(r && strstr(r, "null_tokens = \"\", NULL, null, N/A, NA, n/a, None, -\n"));
		CHECK(r && strstr(r, "[silver]\nformat = csv\ndate_order = mdy\n"));
		if (r) {
			struct mfs_pipeline *q = NULL;
			char err[256];

			CHECK(mfs_pipeline_parse(r, strlen(r), "x", &q, err, sizeof(err)) == 0 && q &&
			      same_pipeline(p, q));
			mfs_pipeline_free(q);
		}
		free(r);
		mfs_pipeline_free(p);
	}
}

static void test_fingerprint_text(void)
{
	static const char a[] = "[silver]\ntrim = false\n[dataset s]\nexpect = e: x  =  'a  b'\n"
				"   AND y = 1 -> drop\n";
	static const char b[] = "[silver]\ntrim =   false\n\n# a comment\n[dataset s]\n"
				"expect = e: x = 'a  b'\n\t AND   y = 1 -> drop\n";
	static const char c[] = "[silver]\ntrim = false\n[dataset s]\nexpect = e: x = 'a b'\n"
				"   AND y = 1 -> drop\n";
	struct mfs_pipeline *pa, *pb, *pc;
	char err[256];
	int rc;

	pa = parse(a, err, sizeof(err), &rc);
	pb = parse(b, err, sizeof(err), &rc);
	pc = parse(c, err, sizeof(err), &rc);
	CHECK(pa && pb && pc);
	if (pa && pb && pc) {
		/* white space outside quotes does not count, inside it does */
		CHECK(!strcmp(pa->silver_text, pb->silver_text));
		CHECK(!strcmp(pa->silver_text, "trim = false\n"));
		CHECK_MSG(!strcmp(pa->datasets[0].section_text, pb->datasets[0].section_text),
			  "'%s' vs '%s'", pa->datasets[0].section_text, pb->datasets[0].section_text);
		CHECK(strcmp(pa->datasets[0].section_text, pc->datasets[0].section_text));
		CHECK(!strcmp(pa->datasets[0].section_text,
			      "expect = e: x = 'a  b'\nAND y = 1 -> drop\n"));
	}
	mfs_pipeline_free(pa);
	mfs_pipeline_free(pb);
	mfs_pipeline_free(pc);
}

int main(void)
{
	test_example();
	test_defaults();
	test_inheritance();
	test_dataset_for();
	test_errors();
	test_load();
	test_render();
	test_fingerprint_text();
	return unit_done("pipeline");
}
