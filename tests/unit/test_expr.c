/*
 * test_expr.c - the expression language against DuckDB's answers: every
 * construct evaluated on a fixed row, result text and result type; the
 * three-valued truth tables; type errors at bind time with their line and
 * column; overflow, failing casts, LIKE patterns, date_trunc; the arena;
 * and what gold relies on (parsing from the middle of a statement,
 * aggregates found and fed by the caller).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../transforms/expr_i.h"
#include "../../util/err.h"
#include "unit.h"

/* The row every expression is evaluated on. */
enum { C_I, C_D, C_S, C_DT, C_X, C_N, C_B, C_TS, C_NS, C_BIG, C_U, C_NCOLS };

static const struct {
	const char *name;
	enum mfs_type type;
	int scale;
} schema[C_NCOLS] = {
	{ "i", MFS_T_INT, 0 },	      { "d", MFS_T_DECIMAL, 2 },    { "s", MFS_T_STRING, 0 },
	{ "dt", MFS_T_DATE, 0 },      { "x", MFS_T_DOUBLE, 0 },     { "n", MFS_T_INT, 0 },
	{ "b", MFS_T_BOOL, 0 },	      { "ts", MFS_T_TIMESTAMP, 0 }, { "ns", MFS_T_STRING, 0 },
	{ "big", MFS_T_INT, 0 },      { "Unit Price", MFS_T_DECIMAL, 2 },
};

static struct mfs_value row[C_NCOLS];

static void make_row(void)
{
	memset(row, 0, sizeof(row));
	row[C_I].type = MFS_T_INT;
	row[C_I].u.i = 7;
	row[C_D].type = MFS_T_DECIMAL;
	row[C_D].u.dec.v = 1234; /* 12.34 */
	row[C_D].u.dec.scale = 2;
	row[C_S].type = MFS_T_STRING;
	row[C_S].u.s.p = "Hello";
	row[C_S].u.s.len = 5;
	row[C_DT].type = MFS_T_DATE;
	row[C_DT].u.date = 19800; /* 2024-03-18, a Monday */
	row[C_X].type = MFS_T_DOUBLE;
	row[C_X].u.d = 2.5;
	row[C_N].type = MFS_T_INT;
	row[C_N].is_null = 1;
	row[C_B].type = MFS_T_BOOL;
	row[C_B].u.b = 1;
	row[C_TS].type = MFS_T_TIMESTAMP;
	row[C_TS].u.ts.us = (int64_t)19787 * 86400000000LL + (10 * 3600 + 11 * 60 + 12) * 1000000LL;
	row[C_NS].type = MFS_T_STRING;
	row[C_NS].is_null = 1;
	row[C_BIG].type = MFS_T_INT;
	row[C_BIG].u.i = INT64_MAX;
	row[C_U].type = MFS_T_DECIMAL;
	row[C_U].u.dec.v = 999; /* 9.99 */
	row[C_U].u.dec.scale = 2;
}

static int resolve(void *arg, const char *name, size_t len, int *index, enum mfs_type *type,
		   int *scale)
{
	size_t i;

	(void)arg;
	for (i = 0; i < C_NCOLS; i++) {
		if (strlen(schema[i].name) == len && !strncmp(schema[i].name, name, len)) {
			*index = (int)i;
			*type = schema[i].type;
			*scale = schema[i].scale;
			return 0;
		}
	}
	return -ENOENT;
}

/* Evaluate @text; its result as text ("NULL" for NULL) and its type name. */
static int run(const char *text, char *out, size_t outlen, char *type, size_t typelen,
	       struct mfs_expr_error *err)
{
	struct mfs_arena *a = mfs_arena_new();
	struct mfs_expr *e = NULL;
	struct mfs_value v, s;
	char tn[32];
	int rc, scale;
	enum mfs_type t;

	memset(err, 0, sizeof(*err));
	out[0] = type[0] = '\0';
	rc = mfs_expr_parse(text, strlen(text), &e, err);
	if (!rc)
		rc = mfs_expr_bind(e, resolve, NULL, 0, err);
	if (!rc) {
		t = mfs_expr_type(e, &scale);
		snprintf(type, typelen, "%s", mfs_expr_type_name(t, scale, tn, sizeof(tn)));
		mfs_clear_error();
		rc = mfs_expr_eval(e, row, a, &v);
	}
	if (!rc) {
		/* the evaluator keeps its promise: the value has the bound type */
		if (!v.is_null && (v.type != t || (t == MFS_T_DECIMAL && v.u.dec.scale != scale)))
			snprintf(type, typelen, "MISMATCH(%d)", v.type);
		if (v.is_null) {
			snprintf(out, outlen, "NULL");
		} else {
			rc = mfs_expr_cast(&v, MFS_T_STRING, 0, a, &s);
			if (!rc)
				snprintf(out, outlen, "%.*s", (int)s.u.s.len, s.u.s.p);
		}
	}
	mfs_expr_free(e);
	mfs_arena_free(a);
	return rc;
}

static void expect_value(const char *text, const char *want, const char *want_type, int line)
{
	struct mfs_expr_error err;
	char out[256], type[64];
	int rc = run(text, out, sizeof(out), type, sizeof(type), &err);

	CHECK_MSG(rc == 0, "line %d: %s: rc %d (%d:%d: %s; %s)", line, text, rc, err.line, err.col,
		  err.msg, mfs_last_error());
	if (rc)
		return;
	CHECK_MSG(!strcmp(out, want), "line %d: %s = '%s', want '%s'", line, text, out, want);
	if (want_type)
		CHECK_MSG(!strcmp(type, want_type), "line %d: %s is %s, want %s", line, text, type,
			  want_type);
}

#define EV(text, want, type) expect_value(text, want, type, __LINE__)

/* A parse or bind error at @eline:@ecol whose message contains @msg. */
static void expect_error(const char *text, int eline, int ecol, const char *msg, int line)
{
	struct mfs_expr_error err;
	char out[256], type[64];
	int rc = run(text, out, sizeof(out), type, sizeof(type), &err);

	CHECK_MSG(rc == -EINVAL, "line %d: %s: rc %d, want -EINVAL", line, text, rc);
	CHECK_MSG(err.line == eline && err.col == ecol, "line %d: %s: error at %d:%d, want %d:%d (%s)",
		  line, text, err.line, err.col, eline, ecol, err.msg);
	CHECK_MSG(strstr(err.msg, msg) != NULL, "line %d: %s: message '%s' lacks '%s'", line, text,
		  err.msg, msg);
}

#define ERR(text, l, c, msg) expect_error(text, l, c, msg, __LINE__)

/* An evaluation error: -ERANGE or -EDOM with a reason. */
static void expect_eval_error(const char *text, int want_rc, const char *msg, int line)
{
	struct mfs_expr_error err;
	char out[256], type[64];
	int rc = run(text, out, sizeof(out), type, sizeof(type), &err);

	CHECK_MSG(rc == want_rc, "line %d: %s: rc %d, want %d (%s)", line, text, rc, want_rc,
		  err.msg);
	CHECK_MSG(strstr(mfs_last_error(), msg) != NULL, "line %d: %s: reason '%s' lacks '%s'",
		  line, text, mfs_last_error(), msg);
}

#define EVERR(text, rc, msg) expect_eval_error(text, rc, msg, __LINE__)

static void test_literals(void)
{
	EV("42", "42", "BIGINT");
	EV("-42", "-42", "BIGINT");
	EV("1.50", "1.50", "DECIMAL(18,2)");
	EV(".5", "0.5", "DECIMAL(18,1)");
	EV("1e3", "1000.0", "DOUBLE");
	EV("2.5E-1", "0.25", "DOUBLE");
	EV("9223372036854775807", "9223372036854775807", "BIGINT");
	EV("9223372036854775808", "9223372036854775808", "DECIMAL(18,0)");
	EV("-9223372036854775808", "-9223372036854775808", "BIGINT");
	EV("'it''s'", "it's", "VARCHAR");
	EV("''", "", "VARCHAR");
	EV("TRUE", "true", "BOOLEAN");
	EV("false", "false", "BOOLEAN");
	EV("NULL", "NULL", "NULL");
	EV("DATE '2024-02-29'", "2024-02-29", "DATE");
	EV("TIMESTAMP '2024-03-05 10:11:12'", "2024-03-05 10:11:12", "TIMESTAMP");
	/* an offset converts to UTC, as silver does (DuckDB's TIMESTAMP drops it) */
	EV("timestamp '2024-03-05T10:11:12.250+02:00'", "2024-03-05 08:11:12.25", "TIMESTAMP");
	EV("-- a comment\n 1 /* another */ + 1", "2", "BIGINT");
}

static void test_columns(void)
{
	EV("i", "7", "BIGINT");
	EV("\"i\"", "7", "BIGINT");
	EV("\"Unit Price\"", "9.99", "DECIMAL(18,2)");
	EV("d", "12.34", "DECIMAL(18,2)");
	EV("s", "Hello", "VARCHAR");
	EV("dt", "2024-03-18", "DATE");
	EV("ts", "2024-03-05 10:11:12", "TIMESTAMP");
	EV("n", "NULL", "BIGINT");
	EV("b", "true", "BOOLEAN");
}

static void test_arithmetic(void)
{
	EV("1 + 2 * 3", "7", "BIGINT");
	EV("(1 + 2) * 3", "9", "BIGINT");
	EV("7 - 10", "-3", "BIGINT");
	EV("i / 2", "3.5", "DOUBLE");       /* integer division is a double */
	EV("6 / 3", "2.0", "DOUBLE");
	EV("i % 4", "3", "BIGINT");
	EV("-7 % 4", "-3", "BIGINT");
	EV("i + d", "19.34", "DECIMAL(18,2)");
	EV("d * d", "152.2756", "DECIMAL(18,4)"); /* scales add */
	EV("d - 0.345", "11.995", "DECIMAL(18,3)");
	EV("0.1 + 0.2", "0.3", "DECIMAL(18,1)");  /* exact, no drift */
	EV("d / 2", "6.17", "DOUBLE");
	EV("x * 2", "5.0", "DOUBLE");
	EV("x + i", "9.5", "DOUBLE");
	EV("-d", "-12.34", "DECIMAL(18,2)");
	EV("- x", "-2.5", "DOUBLE");
	/* IEEE 754 as DuckDB 1.5 (ieee_floating_point_ops): / by zero is inf */
	EV("i / 0", "inf", "DOUBLE");
	EV("-x / 0", "-inf", "DOUBLE");
	EV("d / 0", "inf", "DOUBLE");
	EV("0 / 0", "-nan", "DOUBLE");
	EV("i % 0", "NULL", "BIGINT");
	EV("d % 0", "NULL", "DECIMAL(18,2)");
	EV("n + 1", "NULL", "BIGINT");
	EV("NULL + 1", "NULL", "BIGINT");
	EV("'5'::int + 1", "6", "BIGINT");
	EV("dt + 14", "2024-04-01", "DATE");
	EV("dt - 18", "2024-02-29", "DATE");
	EV("dt - DATE '2024-01-01'", "77", "BIGINT");
	EV("s || ' ' || 'World'", "Hello World", "VARCHAR");
	EV("s || i", "Hello7", "VARCHAR");
	EV("'d=' || d || ', x=' || x || ', dt=' || dt", "d=12.34, x=2.5, dt=2024-03-18", "VARCHAR");
	EV("s || ns", "NULL", "VARCHAR");
	EV("0.1::double + 0.2", "0.30000000000000004", "DOUBLE");
	EV("1e3 * 1e-3", "1.0", "DOUBLE");
}

static void test_overflow(void)
{
	EVERR("big + 1", -ERANGE, "overflow in addition of BIGINT");
	EVERR("big * 2", -ERANGE, "overflow in multiplication");
	EVERR("-big - 2", -ERANGE, "overflow in subtraction");
	EVERR("-(big + 0 - big - 9223372036854775807 - 1)", -ERANGE, "overflow in negation");
	EVERR("abs(-9223372036854775807 - 1)", -ERANGE, "abs()");
	EV("1e308 * 10", "inf", "DOUBLE"); /* IEEE, as DuckDB */
	EVERR("(-9223372036854775807 - 1) % -1", -ERANGE, "overflow in modulo of BIGINT");
	EVERR("99999999999999999999999999999999999999 + 1", -ERANGE, "overflow in addition");
	EV("big - 1 + 1", "9223372036854775807", "BIGINT");
	EV("big / 1", "9.223372036854776e+18", "DOUBLE");
	EV("-7 % -1", "0", "BIGINT");
}

static void test_comparisons(void)
{
	EV("i = 7", "true", "BOOLEAN");
	EV("i == 7", "true", "BOOLEAN");
	EV("i <> 7", "false", "BOOLEAN");
	EV("i != 8", "true", "BOOLEAN");
	EV("i < 7.5", "true", "BOOLEAN");
	EV("d >= 12.340", "true", "BOOLEAN");
	EV("d > x", "true", "BOOLEAN");
	EV("x <= 2.5", "true", "BOOLEAN");
	EV("s = 'Hello'", "true", "BOOLEAN");
	EV("s < 'hello'", "true", "BOOLEAN"); /* bytewise: 'H' < 'h' */
	EV("'abc' < 'abd'", "true", "BOOLEAN");
	EV("'ab' < 'abc'", "true", "BOOLEAN");
	EV("dt >= '2024-01-01'", "true", "BOOLEAN");
	EV("dt > ts", "true", "BOOLEAN");
	EV("ts < '2024-03-05 10:11:13'", "true", "BOOLEAN");
	EV("i = '7'", "true", "BOOLEAN");
	EV("d = '12.34'", "true", "BOOLEAN");
	EV("b = 'yes'", "true", "BOOLEAN");
	EV("n = 1", "NULL", "BOOLEAN");
	EV("NULL = NULL", "NULL", "BOOLEAN");
	EV("true > false", "true", "BOOLEAN");
	EV("0.1 = 0.10", "true", "BOOLEAN");
	EV("1 = 1.0", "true", "BOOLEAN");
	EV("(1 = 1) = true", "true", "BOOLEAN");
	EV("n IS NULL", "true", "BOOLEAN");
	EV("n IS NOT NULL", "false", "BOOLEAN");
	EV("i IS NULL", "false", "BOOLEAN");
	EV("NULL IS NULL", "true", "BOOLEAN");
}

static void test_logic(void)
{
	static const char *const v[] = { "TRUE", "FALSE", "NULL" };
	/* [left][right], left and right in TRUE FALSE NULL order */
	static const char *const and_t[3][3] = { { "true", "false", "NULL" },
						 { "false", "false", "false" },
						 { "NULL", "false", "NULL" } };
	static const char *const or_t[3][3] = { { "true", "true", "true" },
						{ "true", "false", "NULL" },
						{ "true", "NULL", "NULL" } };
	static const char *const not_t[3] = { "false", "true", "NULL" };
	char text[64];
	int l, r;

	for (l = 0; l < 3; l++) {
		for (r = 0; r < 3; r++) {
			snprintf(text, sizeof(text), "%s AND %s", v[l], v[r]);
			EV(text, and_t[l][r], "BOOLEAN");
			snprintf(text, sizeof(text), "%s OR %s", v[l], v[r]);
			EV(text, or_t[l][r], "BOOLEAN");
		}
		snprintf(text, sizeof(text), "NOT %s", v[l]);
		EV(text, not_t[l], "BOOLEAN");
	}
	/* the same through columns, and precedence */
	EV("n > 0 AND i < 0", "false", "BOOLEAN");
	EV("n > 0 OR i > 0", "true", "BOOLEAN");
	EV("n > 0 OR i < 0", "NULL", "BOOLEAN");
	EV("NOT i = 7", "false", "BOOLEAN");
	EV("NOT NOT b", "true", "BOOLEAN");
	EV("TRUE OR FALSE AND FALSE", "true", "BOOLEAN"); /* AND binds tighter */
	EV("(TRUE OR FALSE) AND FALSE", "false", "BOOLEAN");
	EV("NOT FALSE AND FALSE", "false", "BOOLEAN");    /* NOT binds tighter than AND */
	EV("1 + 1 = 2 AND 'a' || 'b' = 'ab'", "true", "BOOLEAN");
	/* FALSE AND an error: the right side is not needed */
	EV("FALSE AND big + 1 > 0", "false", "BOOLEAN");
}

static void test_predicates(void)
{
	EV("i IN (1, 7, 9)", "true", "BOOLEAN");
	EV("i IN (1, 2)", "false", "BOOLEAN");
	EV("i IN (1, NULL)", "NULL", "BOOLEAN");
	EV("i IN (7, NULL)", "true", "BOOLEAN");
	EV("i NOT IN (1, 2)", "true", "BOOLEAN");
	EV("i NOT IN (1, NULL)", "NULL", "BOOLEAN");
	EV("n IN (1, 2)", "NULL", "BOOLEAN");
	EV("s IN ('a', 'Hello')", "true", "BOOLEAN");
	EV("d IN (12.34, 1)", "true", "BOOLEAN");
	EV("dt IN ('2024-03-18', '2024-03-19')", "true", "BOOLEAN");
	EV("i BETWEEN 1 AND 10", "true", "BOOLEAN");
	EV("i BETWEEN 7 AND 7", "true", "BOOLEAN");
	EV("i NOT BETWEEN 1 AND 10", "false", "BOOLEAN");
	EV("i BETWEEN 8 AND NULL", "false", "BOOLEAN");
	EV("i BETWEEN 1 AND NULL", "NULL", "BOOLEAN");
	EV("dt BETWEEN '2024-03-01' AND '2024-03-31'", "true", "BOOLEAN");
	EV("i BETWEEN 1 AND 10 AND s = 'Hello'", "true", "BOOLEAN");
}

static void test_like(void)
{
	EV("s LIKE 'Hello'", "true", "BOOLEAN");
	EV("s LIKE 'H%'", "true", "BOOLEAN");
	EV("s LIKE 'h%'", "false", "BOOLEAN"); /* case-sensitive */
	EV("s ILIKE 'h%'", "true", "BOOLEAN");
	EV("s LIKE '%llo'", "true", "BOOLEAN");
	EV("s LIKE '%l%'", "true", "BOOLEAN");
	EV("s LIKE 'H_llo'", "true", "BOOLEAN");
	EV("s LIKE 'H_lo'", "false", "BOOLEAN");
	EV("s LIKE '_____'", "true", "BOOLEAN");
	EV("s LIKE '______'", "false", "BOOLEAN");
	EV("s LIKE '%'", "true", "BOOLEAN");
	EV("'' LIKE '%'", "true", "BOOLEAN");
	EV("'' LIKE '_'", "false", "BOOLEAN");
	EV("s LIKE 'H%l%o'", "true", "BOOLEAN");
	EV("s LIKE 'H%x%'", "false", "BOOLEAN");
	EV("'aaa' LIKE '%a%a%a%'", "true", "BOOLEAN");
	EV("'aa' LIKE '%a%a%a%'", "false", "BOOLEAN");
	EV("'h\xc3\xa9llo' LIKE 'h_llo'", "true", "BOOLEAN"); /* _ is one character */
	EV("'100%' LIKE '100!%' ESCAPE '!'", "true", "BOOLEAN");
	EV("'1000' LIKE '100!%' ESCAPE '!'", "false", "BOOLEAN");
	EV("s NOT LIKE 'H%'", "false", "BOOLEAN");
	EV("ns LIKE '%'", "NULL", "BOOLEAN");
	EVERR("s LIKE 'a' ESCAPE 'ab'", -EDOM, "single character");
}

static void test_case(void)
{
	EV("CASE WHEN i > 5 THEN 'big' ELSE 'small' END", "big", "VARCHAR");
	EV("CASE WHEN i > 50 THEN 'big' END", "NULL", "VARCHAR");
	EV("CASE WHEN n > 5 THEN 1 WHEN i = 7 THEN 2 ELSE 3 END", "2", "BIGINT");
	EV("CASE i WHEN 1 THEN 'one' WHEN 7 THEN 'seven' END", "seven", "VARCHAR");
	EV("CASE n WHEN NULL THEN 'null' ELSE 'other' END", "other", "VARCHAR");
	EV("CASE WHEN TRUE THEN 1 ELSE 2.50 END", "1.00", "DECIMAL(18,2)"); /* branches unify */
	EV("CASE WHEN FALSE THEN 1 ELSE x END", "2.5", "DOUBLE");
	EV("CASE WHEN TRUE THEN dt ELSE ts END", "2024-03-18 00:00:00", "TIMESTAMP");
	EV("case when b then null else 'x' end", "NULL", "VARCHAR");
	EV("CASE s WHEN 'Hello' THEN d * 2 END", "24.68", "DECIMAL(18,2)");
}

static void test_functions(void)
{
	EV("lower(s)", "hello", "VARCHAR");
	EV("upper(s)", "HELLO", "VARCHAR");
	EV("upper('\xc3\xa9t\xc3\xa9')", "\xc3\x89T\xc3\x89", "VARCHAR");
	EV("trim('  x y  ')", "x y", "VARCHAR");
	EV("trim('xxhixx', 'x')", "hi", "VARCHAR");
	EV("length(s)", "5", "BIGINT");
	EV("length('h\xc3\xa9llo')", "5", "BIGINT");
	EV("coalesce(n, i, 3)", "7", "BIGINT");
	EV("coalesce(n, NULL)", "NULL", "BIGINT");
	EV("coalesce(n, d)", "12.34", "DECIMAL(18,2)");
	EV("coalesce(ns, 'none')", "none", "VARCHAR");
	EV("round(d, 1)", "12.3", "DECIMAL(18,1)");
	EV("round(d)", "12", "DECIMAL(18,0)");
	EV("round(2.5)", "3", "DECIMAL(18,0)");   /* half away from zero */
	EV("round(-2.5)", "-3", "DECIMAL(18,0)");
	EV("round(12.345, 2)", "12.35", "DECIMAL(18,2)");
	EV("round(d, 5)", "12.34", "DECIMAL(18,2)");
	EV("round(1234.5, -2)", "1200", "DECIMAL(18,0)");
	EV("round(d, -40)", "0", "DECIMAL(18,0)");
	EV("round(d, -44444444444445)", "0", "DECIMAL(18,0)");
	EV("round(i, -19)", "0", "BIGINT");
	EV("round(x, -400)", "0.0", "DOUBLE");
	EV("round(x, 400)", "2.5", "DOUBLE");
	EV("round(x)", "3.0", "DOUBLE");
	EV("round(x * 1.234, 2)", "3.09", "DOUBLE");
	EV("round(1234, -2)", "1200", "BIGINT");
	EV("round(1250, -2)", "1300", "BIGINT");
	EV("abs(-3)", "3", "BIGINT");
	EV("abs(-d)", "12.34", "DECIMAL(18,2)");
	EV("abs(-x)", "2.5", "DOUBLE");
	EV("substr(s, 2, 3)", "ell", "VARCHAR");
	EV("substr(s, 2)", "ello", "VARCHAR");
	EV("substring(s, -3)", "llo", "VARCHAR");
	EV("substr(s, 0, 2)", "H", "VARCHAR");
	EV("substr(s, 4, 100)", "lo", "VARCHAR");
	EV("substr(s, 9)", "", "VARCHAR");
	EV("substr('h\xc3\xa9llo', 2, 2)", "\xc3\xa9l", "VARCHAR");
	EV("substr(s, n)", "NULL", "VARCHAR");
	EV("substr(s, 3, -5)", "He", "VARCHAR"); /* negative: before start */
	EV("substr(s, -2, -2)", "el", "VARCHAR");
	EV("substr(s, 6, -2)", "lo", "VARCHAR");
	EV("substr(s, 0, -1)", "", "VARCHAR");
	EV("year(dt)", "2024", "BIGINT");
	EV("month(dt)", "3", "BIGINT");
	EV("day(dt)", "18", "BIGINT");
	EV("year(ts) * 100 + month(ts)", "202403", "BIGINT");
	EV("day(DATE '1969-12-31')", "31", "BIGINT");
}

static void test_date_trunc(void)
{
	EV("date_trunc('month', dt)", "2024-03-01", "DATE"); /* a date stays a date */
	EV("date_trunc('year', dt)", "2024-01-01", "DATE");
	EV("date_trunc('quarter', DATE '2024-05-17')", "2024-04-01", "DATE");
	EV("date_trunc('week', DATE '2024-03-24')", "2024-03-18", "DATE"); /* Sunday -> Monday */
	EV("date_trunc('week', dt)", "2024-03-18", "DATE");
	EV("date_trunc('day', dt)", "2024-03-18", "DATE");
	EV("date_trunc('hour', dt)", "2024-03-18", "DATE");
	EV("DATE_TRUNC('MONTH', dt)", "2024-03-01", "DATE");
	EV("date_trunc('months', dt)", "2024-03-01", "DATE");
	EV("date_trunc('hour', ts)", "2024-03-05 10:00:00", "TIMESTAMP");
	EV("date_trunc('minute', ts)", "2024-03-05 10:11:00", "TIMESTAMP");
	EV("date_trunc('month', ts)", "2024-03-01 00:00:00", "TIMESTAMP");
	EV("date_trunc('week', DATE '1970-01-01')", "1969-12-29", "DATE");
	EV("date_trunc('year', DATE '1969-07-20')", "1969-01-01", "DATE");
	EV("date_trunc('month', DATE '2024-02-10')", "2024-02-01", "DATE");
	EVERR("date_trunc(s, dt)", -EDOM, "unknown date part 'Hello'");
	EV("date_trunc('day', NULL)", "NULL", "NULL");
}

static void test_casts(void)
{
	EV("CAST('42' AS INTEGER)", "42", "BIGINT");
	EV("CAST(' 42 ' AS BIGINT)", "42", "BIGINT");
	EV("CAST('12.5' AS DECIMAL(10,2))", "12.50", "DECIMAL(18,2)");
	EV("CAST('12.345' AS NUMERIC(10,2))", "12.35", "DECIMAL(18,2)");
	EV("CAST('1.5' AS DOUBLE)", "1.5", "DOUBLE");
	EV("CAST('2024-03-05' AS DATE)", "2024-03-05", "DATE");
	EV("CAST('2024-03-05 10:00:00' AS TIMESTAMP)", "2024-03-05 10:00:00", "TIMESTAMP");
	EV("CAST('yes' AS BOOLEAN)", "true", "BOOLEAN");
	EV("CAST(i AS VARCHAR)", "7", "VARCHAR");
	EV("CAST(d AS TEXT)", "12.34", "VARCHAR");
	EV("CAST(d AS INTEGER)", "12", "BIGINT");
	EV("CAST(2.5 AS INT)", "3", "BIGINT");      /* a decimal: half away from zero */
	EV("CAST(x AS INT)", "2", "BIGINT");        /* a double: half to even, as DuckDB */
	EV("CAST(3.5::double AS INT)", "4", "BIGINT");
	EV("CAST('2.5' AS INT)", "3", "BIGINT");
	EV("CAST('1e2' AS INT)", "100", "BIGINT");
	EV("CAST(x AS DECIMAL(5,0))", "3", "DECIMAL(18,0)");
	EV("CAST(i AS DECIMAL(10,3))", "7.000", "DECIMAL(18,3)");
	EV("CAST(x AS DECIMAL(5,1))", "2.5", "DECIMAL(18,1)");
	EV("CAST(d AS DOUBLE)", "12.34", "DOUBLE");
	EV("CAST(ts AS DATE)", "2024-03-05", "DATE");
	EV("CAST(dt AS TIMESTAMP)", "2024-03-18 00:00:00", "TIMESTAMP");
	EV("CAST(b AS INT)", "1", "BIGINT");
	EV("CAST(n AS VARCHAR)", "NULL", "VARCHAR");
	EV("CAST(1.0e20 AS VARCHAR)", "1e+20", "VARCHAR");
	EV("i::varchar || '!'", "7!", "VARCHAR");
	EV("'12'::int + 1", "13", "BIGINT");
	EV("TRY_CAST('abc' AS INT)", "NULL", "BIGINT");
	EV("CAST('12' AS decimal)", "12.000", "DECIMAL(18,3)");
	EVERR("CAST('abc' AS INTEGER)", -EDOM, "cannot convert 'abc' to BIGINT");
	EVERR("CAST('2024-02-30' AS DATE)", -EDOM, "to DATE");
	EVERR("CAST('maybe' AS BOOLEAN)", -EDOM, "BOOLEAN");
	EVERR("CAST(1e30 AS BIGINT)", -EDOM, "to BIGINT");
	EVERR("CAST('' AS DOUBLE)", -EDOM, "DOUBLE");
	EVERR("s::int", -EDOM, "cannot convert 'Hello'");
	EVERR("CAST(dt + 2000000000 AS TIMESTAMP)", -EDOM, "to TIMESTAMP");
	EVERR("dt + 9000000000", -ERANGE, "date arithmetic");
	EV("date_trunc('year', dt + 2000000000)", "5477838-01-01", "DATE");
}

static void test_bind_errors(void)
{
	ERR("s > 5", 1, 3, "cannot compare VARCHAR and BIGINT");
	ERR("i = s", 1, 3, "cannot compare BIGINT and VARCHAR");
	ERR("i > 0 AND\n  dt = x", 2, 6, "cannot compare DATE and DOUBLE");
	ERR("s IN (1, 2)", 1, 3, "cannot compare VARCHAR and BIGINT");
	ERR("dt BETWEEN 1 AND 2", 1, 4, "cannot compare DATE and BIGINT");
	ERR("b = 1", 1, 3, "cannot compare BOOLEAN and BIGINT");
	ERR("s + 1", 1, 3, "cannot apply + to VARCHAR and BIGINT");
	ERR("dt * 2", 1, 4, "cannot apply * to DATE and BIGINT");
	ERR("i AND b", 1, 3, "cannot apply AND to BIGINT");
	ERR("NOT s", 1, 1, "cannot apply NOT to VARCHAR");
	ERR("-s", 1, 1, "cannot apply unary - to VARCHAR");
	ERR("lower(i)", 1, 7, "cannot apply lower() to BIGINT");
	ERR("i LIKE 'a%'", 1, 3, "cannot apply LIKE to BIGINT");
	ERR("year(s)", 1, 6, "cannot apply year() to VARCHAR");
	ERR("year('2024-01-01')", 1, 6, "cannot apply year() to VARCHAR");
	ERR("'5' + 1", 1, 5, "cannot apply + to VARCHAR and BIGINT");
	ERR("dt - '2024-01-01'", 1, 4, "cannot apply - to DATE and VARCHAR");
	ERR("1 = 1 = true", 1, 7, "unexpected '='");
	ERR("i < 2 <> true", 1, 7, "unexpected '<>'");
	ERR("CASE WHEN i THEN 1 END", 1, 11, "CASE WHEN");
	ERR("CASE WHEN b THEN 1 ELSE 'x' END", 1, 25, "cannot convert 'x' to BIGINT");
	ERR("CASE WHEN b THEN 1 ELSE s END", 1, 1, "cannot mix BIGINT and VARCHAR in CASE");
	ERR("coalesce(i, dt)", 1, 1, "cannot mix BIGINT and DATE in coalesce()");
	ERR("CAST(dt AS INT)", 1, 1, "cannot cast DATE to BIGINT");
	ERR("i = 'abc'", 1, 5, "cannot convert 'abc' to BIGINT");
	ERR("dt > '2024-13-01'", 1, 6, "cannot convert '2024-13-01' to DATE");
	ERR("nope > 1", 1, 1, "column \"nope\" not found");
	ERR("i > 0 AND \"Nope\" = 1", 1, 11, "column \"Nope\" not found");
	ERR("sum(i) > 0", 1, 1, "aggregate sum() is not allowed here");
	ERR("i > 0 OR count(*) > 1", 1, 10, "aggregate count() is not allowed here");
	ERR("date_trunc('fortnight', dt)", 1, 12, "unknown date part 'fortnight'");
	ERR("round(d, i)", 1, 10, "constant digits");
	ERR("substr(s, 1.5)", 1, 11, "substr() start");
}

static void test_parse_errors(void)
{
	ERR("", 1, 1, "unexpected end of expression");
	ERR("1 +", 1, 4, "unexpected end of expression");
	ERR("(1 + 2", 1, 7, "expected ')'");
	ERR("a b", 1, 3, "unexpected 'b'");
	ERR("'open", 1, 1, "unterminated string");
	ERR("\"open", 1, 1, "unterminated quoted identifier");
	ERR("1 +\n  'open", 2, 3, "unterminated string");
	ERR("i > 0 AND\n\n    #", 3, 5, "unexpected character '#'");
	ERR("12abc", 1, 1, "malformed number");
	ERR("1.2.3", 1, 1, "malformed number");
	ERR("nofunc(1)", 1, 1, "unknown function nofunc()");
	ERR("lower(1, 2)", 1, 1, "lower() takes 1 argument");
	ERR("substr('x')", 1, 1, "substr() takes 2 or 3 arguments");
	ERR("coalesce()", 1, 1, "coalesce() needs at least 1 argument");
	ERR("CAST(1 AS blob)", 1, 11, "unknown type");
	ERR("CAST(1 AS decimal(40,2))", 1, 11, "precision");
	ERR("CAST(1 AS decimal(30,20))", 1, 11, "scale above 18");
	ERR("CASE WHEN 1 THEN 2", 1, 19, "expected WHEN, ELSE or END");
	ERR("CASE END", 1, 6, "unexpected 'END'");
	ERR("i IN ()", 1, 7, "unexpected ')'");
	ERR("i BETWEEN 1 OR 2", 1, 13, "expected AND");
	ERR("i IS 5", 1, 6, "expected NULL or NOT NULL");
	ERR("DATE '2024-02-30'", 1, 6, "invalid DATE literal");
	ERR("/* never closed", 1, 1, "unterminated comment");
	ERR("i > 0 FROM t", 1, 7, "unexpected 'FROM'");
	ERR("select", 1, 1, "unexpected 'select'");
	ERR("1e999", 1, 1, "number out of range");
	ERR("\"\"", 1, 1, "empty column name");
}

static void test_depth(void)
{
	char buf[4096];
	struct mfs_expr *e = NULL;
	struct mfs_expr_error err;
	size_t i, n;

	/* deep nesting is refused, not a stack overflow */
	n = 0;
	for (i = 0; i < 1000; i++)
		buf[n++] = '(';
	buf[n++] = '1';
	for (i = 0; i < 1000; i++)
		buf[n++] = ')';
	CHECK(mfs_expr_parse(buf, n, &e, &err) == -EINVAL && strstr(err.msg, "nested too deeply"));
	n = 0;
	buf[n++] = '1';
	for (i = 0; i < 1000; i++) {
		buf[n++] = '+';
		buf[n++] = '1';
	}
	CHECK(mfs_expr_parse(buf, n, &e, &err) == -EINVAL && strstr(err.msg, "nested too deeply"));
	/* a long flat list is fine */
	n = (size_t)snprintf(buf, sizeof(buf), "i IN (");
	for (i = 0; i < 500; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%zu", i ? "," : "", i);
	buf[n++] = ')';
	CHECK(mfs_expr_parse(buf, n, &e, &err) == 0);
	mfs_expr_free(e);
	/* 100 levels of parentheses are fine too */
	n = 0;
	for (i = 0; i < 100; i++)
		buf[n++] = '(';
	buf[n++] = '1';
	for (i = 0; i < 100; i++)
		buf[n++] = ')';
	CHECK(mfs_expr_parse(buf, n, &e, &err) == 0);
	mfs_expr_free(e);
}

static int count_aggs(void *arg, struct mfs_expr *e)
{
	if (e->kind == MFS_E_AGG) {
		((struct mfs_expr **)arg)[0] = e;
		return 1; /* its argument is evaluated on input rows, not searched */
	}
	return 0;
}

static void test_gold_hooks(void)
{
	const char *sql = "SELECT sum(d) * 2 AS twice, lower(s) FROM sales";
	struct mfs_lexer lx;
	struct mfs_expr_error err;
	struct mfs_expr *e = NULL, *e2 = NULL, *agg = NULL;
	struct mfs_arena *a = mfs_arena_new();
	struct mfs_value out, post[C_NCOLS + 1];
	int scale;

	/* gold reads SELECT itself and parses the expressions in between */
	CHECK(mfs_lex_init(&lx, sql, strlen(sql), &err) == 0);
	CHECK(mfs_tok_is_kw(&lx.tok, "select"));
	CHECK(mfs_lex_next(&lx, &err) == 0);
	CHECK(mfs_expr_parse_lex(&lx, &e, &err) == 0);
	CHECK(mfs_tok_is_kw(&lx.tok, "as"));
	CHECK(e && e->off == 7 && e->end == 17); /* "sum(d) * 2" */
	CHECK(mfs_lex_next(&lx, &err) == 0 && lx.tok.kind == MFS_TOK_IDENT);
	CHECK(mfs_lex_next(&lx, &err) == 0 && mfs_tok_is_op(&lx.tok, ","));
	CHECK(mfs_lex_next(&lx, &err) == 0);
	CHECK(mfs_expr_parse_lex(&lx, &e2, &err) == 0);
	CHECK(mfs_tok_is_kw(&lx.tok, "from"));
	if (!e || !e2)
		goto out;
	/* aggregates bind where allowed, with DuckDB's result types */
	CHECK(mfs_expr_bind(e, resolve, NULL, 1, &err) == 0);
	CHECK(mfs_expr_type(e, &scale) == MFS_T_DECIMAL && scale == 2);
	CHECK(mfs_expr_walk(e, count_aggs, &agg) == 0 && agg && agg->op == MFS_AGG_SUM);
	if (!agg)
		goto out;
	CHECK(agg->type == MFS_T_DECIMAL && agg->scale == 2);
	/* its argument evaluates on an input row */
	CHECK(mfs_expr_eval(agg->kids[0], row, a, &out) == 0 && out.u.dec.v == 1234);
	/* not set: the aggregate cannot be evaluated */
	CHECK(mfs_expr_eval(e, row, a, &out) == -EINVAL);
	/* gold puts the aggregate's result in a row and evaluates the rest */
	memcpy(post, row, sizeof(row));
	post[C_NCOLS].type = MFS_T_DECIMAL;
	post[C_NCOLS].is_null = 0;
	post[C_NCOLS].u.dec.v = 10050; /* 100.50 */
	post[C_NCOLS].u.dec.scale = 2;
	agg->index = C_NCOLS;
	CHECK(mfs_expr_eval(e, post, a, &out) == 0 && out.u.dec.v == 20100 && out.u.dec.scale == 2);
	/* nested aggregates are refused */
	{
		struct mfs_expr *n = NULL;

		CHECK(mfs_expr_parse("sum(count(*))", 13, &n, &err) == 0);
		CHECK(n && mfs_expr_bind(n, resolve, NULL, 1, &err) == -EINVAL &&
		      strstr(err.msg, "inside another aggregate") && err.col == 5);
		mfs_expr_free(n);
	}
	/* result types of the aggregates */
	{
		static const struct {
			const char *text;
			enum mfs_type type;
		} t[] = { { "count(*)", MFS_T_INT },	  { "count(DISTINCT s)", MFS_T_INT },
			  { "avg(i)", MFS_T_DOUBLE },	  { "sum(i)", MFS_T_DECIMAL },
			  { "sum(x)", MFS_T_DOUBLE },	  { "min(s)", MFS_T_STRING },
			  { "max(dt)", MFS_T_DATE } };
		size_t i;

		for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			struct mfs_expr *n = NULL;

			CHECK(mfs_expr_parse(t[i].text, strlen(t[i].text), &n, &err) == 0);
			CHECK_MSG(n && mfs_expr_bind(n, resolve, NULL, 1, &err) == 0 &&
					  mfs_expr_type(n, NULL) == t[i].type,
				  "%s", t[i].text);
			if (n && !strcmp(t[i].text, "count(DISTINCT s)"))
				CHECK(n->distinct && n->op == MFS_AGG_COUNT);
			mfs_expr_free(n);
		}
	}
	/* GROUP BY matching: the same expression written differently */
	{
		struct mfs_expr *p = NULL, *q = NULL, *r = NULL;

		CHECK(mfs_expr_parse("date_trunc('month', dt)", 23, &p, &err) == 0);
		CHECK(mfs_expr_parse("DATE_TRUNC( 'month',DT )", 24, &q, &err) == 0);
		CHECK(mfs_expr_parse("date_trunc('year', dt)", 22, &r, &err) == 0);
		CHECK(p && q && r && mfs_expr_equal(p, q) && !mfs_expr_equal(p, r));
		mfs_expr_free(p);
		mfs_expr_free(q);
		mfs_expr_free(r);
	}
out:
	mfs_expr_free(e);
	mfs_expr_free(e2);
	mfs_arena_free(a);
}

static void test_rebind_and_misc(void)
{
	struct mfs_expr *e = NULL;
	struct mfs_expr_error err;
	struct mfs_arena *a = mfs_arena_new();
	struct mfs_value out;
	enum mfs_type t;
	int scale;
	void *p;
	size_t i;

	/* unbound trees are not evaluated */
	CHECK(mfs_expr_parse("i + 1", 5, &e, &err) == 0);
	CHECK(e && mfs_expr_eval(e, row, a, &out) == -EINVAL);
	mfs_expr_free(e);
	/* one tree bound twice against different schemas (silver: per file) */
	CHECK(mfs_expr_parse("x = '7'", 7, &e, &err) == 0);
	if (e) {
		int rc;

		rc = mfs_expr_bind(e, resolve, NULL, 0, &err); /* x is DOUBLE: '7' reads as 7 */
		CHECK(rc == 0 && mfs_expr_eval(e, row, a, &out) == 0 && !out.u.b);
		t = mfs_expr_type(e->kids[1], &scale);
		CHECK(t == MFS_T_INT);
		mfs_expr_free(e);
	}
	CHECK(mfs_expr_parse("s = '7'", 7, &e, &err) == 0);
	if (e) {
		CHECK(mfs_expr_bind(e, resolve, NULL, 0, &err) == 0);
		CHECK(mfs_expr_type(e->kids[1], NULL) == MFS_T_STRING);
		CHECK(mfs_expr_bind(e, resolve, NULL, 0, &err) == 0); /* again: same result */
		CHECK(mfs_expr_type(e->kids[1], NULL) == MFS_T_STRING);
		mfs_expr_free(e);
	}
	/* the arena: many small and one big allocation, then reset */
	for (i = 0; i < 10000; i++) {
		p = mfs_arena_alloc(a, 37);
		if (!p || ((uintptr_t)p & 15))
			break;
		memset(p, 0xab, 37);
	}
	CHECK(i == 10000);
	p = mfs_arena_alloc(a, 1 << 20);
	CHECK(p != NULL);
	if (p)
		memset(p, 0, 1 << 20);
	mfs_arena_reset(a);
	CHECK(mfs_arena_alloc(a, 0) != NULL);
	mfs_arena_reset(a);
	mfs_arena_free(a);
	mfs_arena_free(NULL);
	/* type names */
	{
		char b[32];

		CHECK(!strcmp(mfs_expr_type_name(MFS_T_DECIMAL, 2, b, sizeof(b)), "DECIMAL(18,2)"));
		CHECK(!strcmp(mfs_expr_type_name(MFS_T_STRING, 0, b, sizeof(b)), "VARCHAR"));
		CHECK(mfs_expr_parse_type("Decimal( 10 , 4 )", 17, &t, &scale, &err) == 0 &&
		      t == MFS_T_DECIMAL && scale == 4);
		CHECK(mfs_expr_parse_type("varchar(20)", 11, &t, &scale, &err) == 0 &&
		      t == MFS_T_STRING);
		CHECK(mfs_expr_parse_type("int extra", 9, &t, &scale, &err) == -EINVAL);
	}
}

int main(void)
{
	make_row();
	test_literals();
	test_columns();
	test_arithmetic();
	test_overflow();
	test_comparisons();
	test_logic();
	test_predicates();
	test_like();
	test_case();
	test_functions();
	test_date_trunc();
	test_casts();
	test_bind_errors();
	test_parse_errors();
	test_depth();
	test_gold_hooks();
	test_rebind_and_misc();
	return unit_done("expr");
}
