/*
 * test_ini.c - the pipeline file's INI reader: what libinih gets wrong for
 * us (long lines, " ;" inside a value, line numbers), continuation lines
 * and the positions that let expression errors point into the file, CRLF,
 * the byte order mark, and every error with its line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../transforms/pipeline.h"
#include "unit.h"

#define MAXE 64

struct got {
	char *section[MAXE];
	char *key[MAXE]; /* NULL: a section header */
	char *value[MAXE];
	int line[MAXE], value_line[MAXE], value_col[MAXE];
	int n;
	int stop_at; /* fail on this entry (1-based), 0 never */
};

static int collect(void *arg, const struct mfs_ini_entry *e, char *err, size_t errlen)
{
	struct got *g = arg;

	if (g->n >= MAXE)
		return -E2BIG;
	g->section[g->n] = strdup(e->section);
	g->key[g->n] = e->key ? strdup(e->key) : NULL;
	g->value[g->n] = e->key ? strdup(e->value) : NULL;
	g->line[g->n] = e->line;
	g->value_line[g->n] = e->value_line;
	g->value_col[g->n] = e->value_col;
	g->n++;
	if (g->stop_at && g->n == g->stop_at) {
		snprintf(err, errlen, "stopped at line %d", e->line);
		return -ECANCELED;
	}
	return 0;
}

static void got_free(struct got *g)
{
	int i;

	for (i = 0; i < g->n; i++) {
		free(g->section[i]);
		free(g->key[i]);
		free(g->value[i]);
	}
	memset(g, 0, sizeof(*g));
}

static int parse(const char *text, struct got *g, char *err, size_t errlen)
{
	memset(g, 0, sizeof(*g));
	err[0] = '\0';
	return mfs_ini_parse(text, strlen(text), collect, g, err, errlen);
}

/* Entry @i is @section/@key = @value at @line, the value at @vline:@vcol. */
static void entry_is(const struct got *g, int i, const char *section, const char *key,
		     const char *value, int line, int vline, int vcol, int at)
{
	CHECK_MSG(i < g->n, "line %d: only %d entries", at, g->n);
	if (i >= g->n)
		return;
	CHECK_MSG(!strcmp(g->section[i], section), "line %d: section '%s'", at, g->section[i]);
	if (!key) {
		CHECK_MSG(g->key[i] == NULL, "line %d: key '%s', want a header", at, g->key[i]);
		CHECK_MSG(g->line[i] == line, "line %d: header line %d, want %d", at, g->line[i],
			  line);
		return;
	}
	CHECK_MSG(g->key[i] && !strcmp(g->key[i], key), "line %d: key '%s', want '%s'", at,
		  g->key[i] ? g->key[i] : "(null)", key);
	CHECK_MSG(g->value[i] && !strcmp(g->value[i], value), "line %d: value '%s', want '%s'", at,
		  g->value[i] ? g->value[i] : "(null)", value);
	CHECK_MSG(g->line[i] == line, "line %d: entry line %d, want %d", at, g->line[i], line);
	CHECK_MSG(g->value_line[i] == vline && g->value_col[i] == vcol,
		  "line %d: value at %d:%d, want %d:%d", at, g->value_line[i], g->value_col[i],
		  vline, vcol);
}

#define ENTRY(g, i, s, k, v, l, vl, vc) entry_is(g, i, s, k, v, l, vl, vc, __LINE__)

static void test_basic(void)
{
	struct got g;
	char err[256];
	int rc;

	rc = parse("# a comment\n"
		   "; another\n"
		   "[silver]\n"
		   "Format = csv\n"
		   "DATE_ORDER=dmy\n"
		   "\n"
		   "[ dataset \t  sales ]\n"
		   "prefix   =   sales/2024  \n"
		   "empty =\n"
		   "eq = a = b\n"
		   "[gold g]",
		   &g, err, sizeof(err));
	CHECK_MSG(rc == 0, "%s", err);
	CHECK(g.n == 8);
	ENTRY(&g, 0, "silver", NULL, NULL, 3, 0, 0);
	ENTRY(&g, 1, "silver", "format", "csv", 4, 4, 10);
	ENTRY(&g, 2, "silver", "date_order", "dmy", 5, 5, 12);
	ENTRY(&g, 3, "dataset sales", NULL, NULL, 7, 0, 0);
	ENTRY(&g, 4, "dataset sales", "prefix", "sales/2024", 8, 8, 14);
	ENTRY(&g, 5, "dataset sales", "empty", "", 9, 9, 8);
	ENTRY(&g, 6, "dataset sales", "eq", "a = b", 10, 10, 6);
	ENTRY(&g, 7, "gold g", NULL, NULL, 11, 0, 0); /* an empty section is reported */
	got_free(&g);

	/* entries before any section have section "" */
	rc = parse("a = 1\n", &g, err, sizeof(err));
	CHECK(rc == 0 && g.n == 1);
	ENTRY(&g, 0, "", "a", "1", 1, 1, 5);
	got_free(&g);

	/* nothing at all */
	rc = parse("", &g, err, sizeof(err));
	CHECK(rc == 0 && g.n == 0);
	rc = parse("\n\n   \n# only comments\n", &g, err, sizeof(err));
	CHECK(rc == 0 && g.n == 0);
}

static void test_comments_in_values(void)
{
	struct got g;
	char err[256];
	int rc;

	/* ';' and '#' inside a value are part of it (SQL!) */
	rc = parse("[gold g]\n"
		   "sql = SELECT a ; SELECT b # not a comment\n"
		   "note = 50% ; half # really\n"
		   "   # an indented comment line ends nothing\n"
		   "other = x;y#z\n",
		   &g, err, sizeof(err));
	CHECK_MSG(rc == 0, "%s", err);
	ENTRY(&g, 1, "gold g", "sql", "SELECT a ; SELECT b # not a comment", 2, 2, 7);
	ENTRY(&g, 2, "gold g", "note", "50% ; half # really", 3, 3, 8);
	ENTRY(&g, 3, "gold g", "other", "x;y#z", 5, 5, 9);
	got_free(&g);
}

static void test_continuation(void)
{
	struct got g;
	char err[256];
	int rc;

	rc = parse("[gold revenue]\n"                          /* 1 */
		   "sql = SELECT region,\n"                     /* 2 */
		   "         sum(amount) AS revenue\n"          /* 3 */
		   "\n"                                         /* 4: kept, more follows */
		   "    ; a comment line inside\n"              /* 5: kept as an empty line */
		   "\tFROM sales   \n"                          /* 6: trailing blanks go */
		   "\n"                                         /* 7: dropped: the value ends */
		   "# comment\n"                                /* 8 */
		   "format = csv\n"                             /* 9 */
		   "sql2 =\n"                                   /* 10: the value starts below */
		   "\n"                                         /* 11 */
		   "     SELECT 1\n"                            /* 12 */
		   "       + 2\n",                              /* 13 */
		   &g, err, sizeof(err));
	CHECK_MSG(rc == 0, "%s", err);
	CHECK(g.n == 4);
	ENTRY(&g, 1, "gold revenue", "sql",
	      "SELECT region,\n         sum(amount) AS revenue\n\n\n\tFROM sales", 2, 2, 7);
	ENTRY(&g, 2, "gold revenue", "format", "csv", 9, 9, 10);
	ENTRY(&g, 3, "gold revenue", "sql2", "SELECT 1\n       + 2", 10, 12, 6);
	got_free(&g);

	/* the last line without a line end */
	rc = parse("[s]\na = 1\n  2", &g, err, sizeof(err));
	CHECK(rc == 0);
	ENTRY(&g, 1, "s", "a", "1\n  2", 2, 2, 5);
	got_free(&g);
}

static void test_long_lines(void)
{
	size_t n = 50000, i;
	char *text = malloc(n + 64), *want = malloc(n + 1), err[256];
	struct got g;
	int rc;

	if (!text || !want) {
		CHECK(0);
		free(text);
		free(want);
		return;
	}
	for (i = 0; i < n; i++)
		want[i] = (char)('a' + i % 26);
	want[n] = '\0';
	memcpy(want + 20000, " ; ", 3); /* deep inside the line */
	snprintf(text, n + 64, "[s]\nk = %s\nnext = 1\n", want);
	rc = parse(text, &g, err, sizeof(err));
	CHECK_MSG(rc == 0, "%s", err);
	CHECK(g.n == 3 && g.value[1] && strlen(g.value[1]) == n && !strcmp(g.value[1], want));
	ENTRY(&g, 2, "s", "next", "1", 3, 3, 8);
	got_free(&g);
	/* a long key too, and a long continuation */
	memset(text, 'k', 12000);
	snprintf(text + 12000, n + 64 - 12000, " = v\n%*s\n", 15000, "x");
	rc = parse(text, &g, err, sizeof(err));
	CHECK_MSG(rc == 0 && g.n == 1 && strlen(g.key[0]) == 12000 &&
			  strlen(g.value[0]) == 2 + 15000,
		  "%s", err);
	got_free(&g);
	free(text);
	free(want);
}

static void test_crlf_and_bom(void)
{
	struct got g;
	char err[256];
	int rc;

	rc = parse("\xef\xbb\xbf[silver]\r\nformat = jsonl\r\nsql = a\r\n   b\r\n\r\n", &g, err,
		   sizeof(err));
	CHECK_MSG(rc == 0, "%s", err);
	ENTRY(&g, 0, "silver", NULL, NULL, 1, 0, 0);
	ENTRY(&g, 1, "silver", "format", "jsonl", 2, 2, 10);
	ENTRY(&g, 2, "silver", "sql", "a\n   b", 3, 3, 7);
	got_free(&g);
	/* columns on the first line count from after the mark */
	rc = parse("\xef\xbb\xbfk = v\n", &g, err, sizeof(err));
	ENTRY(&g, 0, "", "k", "v", 1, 1, 5);
	got_free(&g);
}

static void expect_error(const char *text, const char *want, int at)
{
	struct got g;
	char err[256];
	int rc = parse(text, &g, err, sizeof(err));

	CHECK_MSG(rc == -EINVAL, "line %d: rc %d", at, rc);
	CHECK_MSG(!strcmp(err, want), "line %d: error '%s', want '%s'", at, err, want);
	got_free(&g);
}

#define ERROR(text, want) expect_error(text, want, __LINE__)

static void test_errors(void)
{
	ERROR("[silver]\nformat = csv\njust words\n", "3: expected 'key = value' or '[section]'");
	ERROR("  indented = first\n",
	      "1: indented line without a key (a value continues only after 'key = value')");
	ERROR("[silver]\n\n  x = 1\n",
	      "3: indented line without a key (a value continues only after 'key = value')");
	ERROR("[silver]\na = 1\n[dataset x]\n  continues nothing\n",
	      "4: indented line without a key (a value continues only after 'key = value')");
	ERROR("[silver]\n\n\n= value\n", "4: empty key before '='");
	ERROR("[silver]\n\n\n \t = value\n",
	      "4: indented line without a key (a value continues only after 'key = value')");
	ERROR("[silver\n", "1: expected ']' at the end of the section header");
	ERROR("a = 1\n[silver] # comment\n", "2: expected ']' at the end of the section header");
	ERROR("[  ]\n", "1: empty section name");
	ERROR("[s]\r\nk = v\r\nbad line\r\n", "3: expected 'key = value' or '[section]'");
	{
		static const char nul[] = "[s]\nk = a\0b\n";
		struct got g;
		char err[256];

		memset(&g, 0, sizeof(g));
		CHECK(mfs_ini_parse(nul, sizeof(nul) - 1, collect, &g, err, sizeof(err)) == -EINVAL);
		CHECK(!strcmp(err, "2: NUL byte in the file"));
		got_free(&g);
	}
}

static void test_callback_stops(void)
{
	struct got g;
	char err[256];
	int rc;

	memset(&g, 0, sizeof(g));
	g.stop_at = 2;
	rc = mfs_ini_parse("[a]\nx = 1\ny = 2\n", 16, collect, &g, err, sizeof(err));
	CHECK(rc == -ECANCELED && !strcmp(err, "stopped at line 2") && g.n == 2);
	got_free(&g);
}

int main(void)
{
	test_basic();
	test_comments_in_values();
	test_continuation();
	test_long_lines();
	test_crlf_and_bom();
	test_errors();
	test_callback_stops();
	return unit_done("ini");
}
