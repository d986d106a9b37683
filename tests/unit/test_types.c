/*
 * test_types.c - value parsing, the per-column inference state machine,
 * conversion and the text forms (transforms/types.c, value.c), value by
 * value against the rules of SPEC §4 and types.h.
 */
#include <string.h>

#include "types.h"
#include "unit.h"
#include "value.h"

/* Infer the type of a column given as NULL-terminated values. */
static struct mfs_coltype infer(int decimal_comma, enum mfs_date_order order, const char *const *vals)
{
	struct mfs_infer st;
	struct mfs_coltype ct;

	mfs_infer_init(&st);
	for (; *vals; vals++)
		mfs_infer_add(&st, *vals, strlen(*vals), decimal_comma);
	mfs_infer_result(&st, order, &ct);
	return ct;
}

#define COL(...) ((const char *const[]){ __VA_ARGS__, NULL })

static const char *tname(const struct mfs_coltype *ct)
{
	static char buf[64];

	mfs_coltype_name(ct, buf, sizeof(buf));
	return buf;
}

/* Convert @s with @ct and format it; "ERR" when it does not convert. */
static const char *conv(const struct mfs_coltype *ct, int dc, const char *s)
{
	static char buf[128];
	struct mfs_value v;
	size_t n;

	if (mfs_convert(ct, s, strlen(s), dc, &v) < 0)
		return "ERR";
	if (v.type == MFS_T_STRING) {
		memcpy(buf, v.u.s.p, v.u.s.len);
		buf[v.u.s.len] = 0;
		return buf;
	}
	n = mfs_value_format(&v, buf);
	buf[n] = 0;
	return buf;
}

#define CHECK_TYPE(ct, want)                                                       \
	CHECK_MSG(strcmp(tname(&(ct)), want) == 0, "type %s, want %s", tname(&(ct)), want)
#define CHECK_CONV(ct, dc, in, want)                                                              \
	do {                                                                                       \
		const char *got_ = conv(&(ct), dc, in);                                            \
		CHECK_MSG(strcmp(got_, want) == 0, "'%s' -> '%s', want '%s'", in, got_, want);    \
	} while (0)

/* Infer, then check every value converts to the matching expectation. */
static void column(const char *type, int dc, enum mfs_date_order order, const char *const *in,
		   const char *const *want, const char *line)
{
	struct mfs_coltype ct = infer(dc, order, in);
	size_t i;

	CHECK_MSG(strcmp(tname(&ct), type) == 0, "%s: type %s, want %s", line, tname(&ct), type);
	if (strcmp(tname(&ct), type) != 0)
		return;
	for (i = 0; in[i]; i++) {
		const char *got = conv(&ct, dc, in[i]);

		CHECK_MSG(strcmp(got, want[i]) == 0, "%s: '%s' -> '%s', want '%s'", line, in[i], got,
			  want[i]);
	}
}
#define STR(x) #x
#define XSTR(x) STR(x)
#define COLUMN(type, dc, order, in, want) column(type, dc, order, in, want, "line " XSTR(__LINE__))

static void test_integers(void)
{
	COLUMN("BIGINT", 0, MFS_DATE_MDY, COL("1", "-5", "+7", "0", "1,234", "12,345,678"),
	       COL("1", "-5", "7", "0", "1234", "12345678"));
	COLUMN("BIGINT", 0, MFS_DATE_MDY, COL("0", "1", "1", "0"), COL("0", "1", "1", "0"));
	COLUMN("BIGINT", 0, MFS_DATE_MDY, COL("9223372036854775807", "-9223372036854775808"),
	       COL("9223372036854775807", "-9223372036854775808"));
	/* leading zeros keep the column a string */
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("01234", "5"), COL("01234", "5"));
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("00"), COL("00"));
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("12", "abc"), COL("12", "abc"));
	/* bad thousands grouping */
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("1,23"), COL("1,23"));
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("1,2345"), COL("1,2345"));
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("5."), COL("5."));
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("- 5"), COL("- 5"));
	/* beyond int64: exact as DECIMAL(38,0) */
	COLUMN("DECIMAL(38,0)", 0, MFS_DATE_MDY, COL("99999999999999999999", "1"),
	       COL("99999999999999999999", "1"));
}

static void test_decimals(void)
{
	COLUMN("DECIMAL(18,2)", 0, MFS_DATE_MDY, COL("1,234.50", "12", "0.5", "-3.25", ".75"),
	       COL("1234.50", "12.00", "0.50", "-3.25", "0.75"));
	COLUMN("DECIMAL(18,3)", 0, MFS_DATE_MDY, COL("1.5", "2.125", "-0.001"),
	       COL("1.500", "2.125", "-0.001"));
	/* currency: prefix or suffix, with a space, with a sign */
	{
		struct mfs_coltype ct = infer(0, MFS_DATE_MDY,
					      COL("$12.00", "$1,234.5", "7", "-$3.10", "$-4", "5 $",
						  "($12.00)"));

		CHECK_TYPE(ct, "DECIMAL(18,2)");
		CHECK(ct.currency == MFS_CUR_DOLLAR);
		CHECK(strcmp(mfs_currency_sign(ct.currency), "$") == 0);
		CHECK_CONV(ct, 0, "$12.00", "12.00");
		CHECK_CONV(ct, 0, "$1,234.5", "1234.50");
		CHECK_CONV(ct, 0, "7", "7.00");
		CHECK_CONV(ct, 0, "-$3.10", "-3.10");
		CHECK_CONV(ct, 0, "$-4", "-4.00");
		CHECK_CONV(ct, 0, "5 $", "5.00");
		CHECK_CONV(ct, 0, "($12.00)", "-12.00");
	}
	{
		struct mfs_coltype ct =
			infer(0, MFS_DATE_MDY, COL("\xe2\x82\xac" "5", "12.50 \xe2\x82\xac", "3"));

		CHECK_TYPE(ct, "DECIMAL(18,2)");
		CHECK(ct.currency == MFS_CUR_EURO);
		CHECK_CONV(ct, 0, "12.50 \xe2\x82\xac", "12.50");
	}
	{
		struct mfs_coltype ct = infer(0, MFS_DATE_MDY, COL("\xc2\xa3" "5", "\xc2\xa3" "6.1"));

		CHECK(ct.currency == MFS_CUR_POUND);
		ct = infer(0, MFS_DATE_MDY, COL("\xc2\xa5" "500"));
		CHECK_TYPE(ct, "DECIMAL(18,0)");
		CHECK(ct.currency == MFS_CUR_YEN);
		CHECK_CONV(ct, 0, "\xc2\xa5" "500", "500");
	}
	/* two different signs: a string */
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("$12.00", "\xe2\x82\xac" "3.00"),
	       COL("$12.00", "\xe2\x82\xac" "3.00"));
	/* parentheses */
	COLUMN("DECIMAL(18,2)", 0, MFS_DATE_MDY, COL("(12.00)", "3.5"), COL("-12.00", "3.50"));
	COLUMN("BIGINT", 0, MFS_DATE_MDY, COL("(12)", "3"), COL("-12", "3"));
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("(-12)"), COL("(-12)"));
	/* decimal comma only where declared */
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("1,5", "2,25"), COL("1,5", "2,25"));
	COLUMN("DECIMAL(18,2)", 1, MFS_DATE_MDY, COL("1,5", "2,25", "1.234,50", "7", "12,00 \xe2\x82\xac"),
	       COL("1.50", "2.25", "1234.50", "7.00", "12.00"));
	/* with decimal_comma '.' only groups thousands */
	COLUMN("BIGINT", 1, MFS_DATE_MDY, COL("1.234", "5"), COL("1234", "5"));
	COLUMN("VARCHAR", 1, MFS_DATE_MDY, COL("1.5"), COL("1.5"));
	/* leading zero in a decimal */
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("00.5"), COL("00.5"));
	/* 18 digits and beyond */
	COLUMN("DECIMAL(18,2)", 0, MFS_DATE_MDY, COL("1234567890123456.78"), COL("1234567890123456.78"));
	COLUMN("DECIMAL(38,2)", 0, MFS_DATE_MDY, COL("12345678901234567.89"), COL("12345678901234567.89"));
}

static void test_doubles(void)
{
	COLUMN("DOUBLE", 0, MFS_DATE_MDY, COL("1.5e3", "2", "0.25", "-1E-5", "3.0e+2"),
	       COL("1500.0", "2.0", "0.25", "-1e-05", "300.0"));
	COLUMN("DOUBLE", 0, MFS_DATE_MDY, COL("0.1", "1e20", "12.5"), COL("0.1", "1e+20", "12.5"));
	/* currency with scientific notation: a string */
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("$5", "1e3"), COL("$5", "1e3"));
	/* inf/nan are text unless declared */
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("inf", "1.5"), COL("inf", "1.5"));
	/* beyond a double's range is no double (never inf or 0): the text stays */
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("1e400", "-1e400", "2.5", "1e-400", "9.9e999"),
	       COL("1e400", "-1e400", "2.5", "1e-400", "9.9e999"));
	COLUMN("DOUBLE", 0, MFS_DATE_MDY, COL("1e308", "-1.7976931348623157e308", "4.9e-324", "0e-999"),
	       COL("1e+308", "-1.7976931348623157e+308", "4.94065645841247e-324", "0.0"));
	{
		char buf[64];
		size_t n;

		n = mfs_format_double(0.1 + 0.2, buf);
		buf[n] = 0;
		CHECK_MSG(strcmp(buf, "0.30000000000000004") == 0, "%s", buf);
		n = mfs_format_double(1.0 / 3, buf);
		buf[n] = 0;
		CHECK_MSG(strcmp(buf, "0.3333333333333333") == 0, "%s", buf);
		n = mfs_format_double(-0.0, buf);
		buf[n] = 0;
		CHECK_MSG(strcmp(buf, "-0.0") == 0, "%s", buf);
	}
}

static void test_booleans(void)
{
	COLUMN("BOOLEAN", 0, MFS_DATE_MDY,
	       COL("true", "FALSE", "Yes", "no", "Y", "n", "T", "f", "TRUE"),
	       COL("true", "false", "true", "false", "true", "false", "true", "false", "true"));
	/* 0/1 is an integer column; mixing 0/1 and words is a string */
	COLUMN("BIGINT", 0, MFS_DATE_MDY, COL("0", "1"), COL("0", "1"));
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("true", "1"), COL("true", "1"));
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("yes", "maybe"), COL("yes", "maybe"));
	CHECK(mfs_bool_parse("1", 1, 1) == 1);
	CHECK(mfs_bool_parse("0", 1, 1) == 0);
	CHECK(mfs_bool_parse("1", 1, 0) == -1);
}

static void test_dates(void)
{
	COLUMN("DATE", 0, MFS_DATE_MDY,
	       COL("2024-01-05", "2024/1/6", "2024.02.29", "Jan 5, 2024", "January 7 2024",
		   "5 Jan 2024", "6-Feb-2024", "Sept 9, 2024", "dec. 31, 1999"),
	       COL("2024-01-05", "2024-01-06", "2024-02-29", "2024-01-05", "2024-01-07",
		   "2024-01-05", "2024-02-06", "2024-09-09", "1999-12-31"));
	/* evidence: a first part > 12 means dmy for the whole column */
	COLUMN("DATE", 0, MFS_DATE_MDY, COL("01/02/2024", "13/02/2024"), COL("2024-02-01", "2024-02-13"));
	/* a second part > 12 means mdy, whatever date_order says */
	COLUMN("DATE", 0, MFS_DATE_DMY, COL("01/02/2024", "02/13/2024"), COL("2024-01-02", "2024-02-13"));
	/* no evidence: date_order */
	COLUMN("DATE", 0, MFS_DATE_MDY, COL("01/02/2024", "03/04/2024"), COL("2024-01-02", "2024-03-04"));
	COLUMN("DATE", 0, MFS_DATE_DMY, COL("01/02/2024", "03/04/2024"), COL("2024-02-01", "2024-04-03"));
	COLUMN("DATE", 0, MFS_DATE_YMD, COL("01/02/2024"), COL("2024-01-02"));
	/* evidence both ways: not a date */
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("13/01/2024", "01/13/2024"), COL("13/01/2024", "01/13/2024"));
	/* dashes and two-digit years (pivot 69) */
	COLUMN("DATE", 0, MFS_DATE_MDY, COL("1-2-24", "12-31-69", "1/1/68"),
	       COL("2024-01-02", "1969-12-31", "2068-01-01"));
	COLUMN("DATE", 0, MFS_DATE_MDY, COL("5.1.2024", "31.12.2023"), COL("2024-01-05", "2023-12-31"));
	/* D.M.YY is not a date (version numbers) */
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("1.2.10"), COL("1.2.10"));
	/* impossible dates keep the column a string */
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("2024-01-05", "2023-02-30"), COL("2024-01-05", "2023-02-30"));
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("02/30/2023"), COL("02/30/2023"));
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("2023-02-29"), COL("2023-02-29"));
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("2024-13-01"), COL("2024-13-01"));
	/* a year alone is an integer */
	COLUMN("BIGINT", 0, MFS_DATE_MDY, COL("2024"), COL("2024"));
	CHECK(mfs_days_from_civil(1970, 1, 1) == 0);
	CHECK(mfs_days_from_civil(2000, 3, 1) == 11017);
	{
		int y, m, d;

		mfs_civil_from_days(-1, &y, &m, &d);
		CHECK(y == 1969 && m == 12 && d == 31);
		mfs_civil_from_days(mfs_days_from_civil(9999, 12, 31), &y, &m, &d);
		CHECK(y == 9999 && m == 12 && d == 31);
	}
}

static void test_timestamps(void)
{
	/* with a zone: converted to UTC with Z */
	COLUMN("TIMESTAMP", 0, MFS_DATE_MDY,
	       COL("2024-01-05T10:30:00Z", "2024-01-05 10:30:00+02:00", "2024-01-05T10:30:00-0500",
		   "2024-01-05T01:00+03", "2024-01-05 10:30:00 UTC", "2024-12-31T23:30:00-01:00"),
	       COL("2024-01-05T10:30:00Z", "2024-01-05T08:30:00Z", "2024-01-05T15:30:00Z",
		   "2024-01-04T22:00:00Z", "2024-01-05T10:30:00Z", "2025-01-01T00:30:00Z"));
	/* without one: kept as written */
	COLUMN("TIMESTAMP", 0, MFS_DATE_MDY,
	       COL("2024-01-05 10:30", "2024-01-05T10:30:15.5", "2024-01-05 10:30:15.123456",
		   "1/5/2024 3:45 PM", "Jan 5, 2024 12:00 AM", "2024-01-05T10:30:15.1234567"),
	       COL("2024-01-05T10:30:00", "2024-01-05T10:30:15.500000", "2024-01-05T10:30:15.123456",
		   "2024-01-05T15:45:00", "2024-01-05T00:00:00", "2024-01-05T10:30:15.123456"));
	/* mixed dates and timestamps: a timestamp, dates at midnight */
	COLUMN("TIMESTAMP", 0, MFS_DATE_MDY, COL("2024-01-05", "2024-01-06T07:08:09"),
	       COL("2024-01-05T00:00:00", "2024-01-06T07:08:09"));
	/* evidence applies to timestamps too */
	COLUMN("TIMESTAMP", 0, MFS_DATE_MDY, COL("05/01/2024 10:00", "25/12/2024 11:00"),
	       COL("2024-01-05T10:00:00", "2024-12-25T11:00:00"));
	/* bad times: strings */
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("2024-01-05 25:00"), COL("2024-01-05 25:00"));
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("2024-01-05 10:61"), COL("2024-01-05 10:61"));
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("2024-01-05 13:00 PM"), COL("2024-01-05 13:00 PM"));
	COLUMN("VARCHAR", 0, MFS_DATE_MDY, COL("10:30"), COL("10:30"));
}

static void test_declared(void)
{
	struct mfs_infer st;
	struct mfs_coltype ct;

	mfs_infer_init(&st);
	mfs_coltype_declared(MFS_T_DECIMAL, 2, &st, MFS_DATE_MDY, &ct);
	CHECK_TYPE(ct, "DECIMAL(18,2)");
	CHECK_CONV(ct, 0, "12.5", "12.50");
	CHECK_CONV(ct, 0, "12.500", "12.50");
	CHECK_CONV(ct, 0, "12.505", "ERR"); /* would need rounding */
	CHECK_CONV(ct, 0, "abc", "ERR");
	CHECK_CONV(ct, 0, "$1,000", "1000.00");
	mfs_coltype_declared(MFS_T_INT, 0, &st, MFS_DATE_MDY, &ct);
	CHECK_CONV(ct, 0, "01234", "1234");
	CHECK_CONV(ct, 0, "12.00", "12");
	CHECK_CONV(ct, 0, "12.5", "ERR");
	CHECK_CONV(ct, 0, "1e3", "ERR");
	CHECK_CONV(ct, 0, "99999999999999999999", "ERR");
	mfs_coltype_declared(MFS_T_BOOL, 0, &st, MFS_DATE_MDY, &ct);
	CHECK_CONV(ct, 0, "1", "true");
	CHECK_CONV(ct, 0, "no", "false");
	CHECK_CONV(ct, 0, "2", "ERR");
	mfs_coltype_declared(MFS_T_DOUBLE, 0, &st, MFS_DATE_MDY, &ct);
	CHECK_CONV(ct, 0, "inf", "inf");
	CHECK_CONV(ct, 0, "-Infinity", "-inf");
	CHECK_CONV(ct, 0, "NaN", "nan");
	CHECK_CONV(ct, 0, "1,234.5", "1234.5");
	CHECK_CONV(ct, 0, "x", "ERR");
	CHECK_CONV(ct, 0, "1e400", "ERR"); /* out of range: the row goes to the rejects */
	CHECK_CONV(ct, 0, "-1e-400", "ERR");
	mfs_coltype_declared(MFS_T_DATE, 0, &st, MFS_DATE_MDY, &ct);
	CHECK_CONV(ct, 0, "2024-01-05", "2024-01-05");
	CHECK_CONV(ct, 0, "2024-01-05 10:00", "ERR");
	CHECK_CONV(ct, 0, "2023-02-30", "ERR");
	mfs_coltype_declared(MFS_T_TIMESTAMP, 0, &st, MFS_DATE_MDY, &ct);
	CHECK_CONV(ct, 0, "2024-01-05", "2024-01-05T00:00:00");
	/* declared dates still take the order from the column's evidence */
	mfs_infer_add(&st, "13/01/2024", 10, 0);
	mfs_coltype_declared(MFS_T_DATE, 0, &st, MFS_DATE_MDY, &ct);
	CHECK_CONV(ct, 0, "02/01/2024", "2024-01-02");
}

static void test_formats(void)
{
	char buf[MFS_VALUE_TEXT_MAX];
	size_t n;

	n = mfs_format_decimal(-5, 3, buf);
	CHECK(n == 6 && memcmp(buf, "-0.005", 6) == 0);
	n = mfs_format_decimal(0, 2, buf);
	CHECK(n == 4 && memcmp(buf, "0.00", 4) == 0);
	n = mfs_format_decimal(123, 0, buf);
	CHECK(n == 3 && memcmp(buf, "123", 3) == 0);
	n = mfs_format_int(INT64_MIN, buf);
	CHECK(n == 20 && memcmp(buf, "-9223372036854775808", 20) == 0);
	n = mfs_format_timestamp(-1, 0, buf);
	CHECK(n == 26 && memcmp(buf, "1969-12-31T23:59:59.999999", 26) == 0);
	n = mfs_format_date(0, buf);
	CHECK(n == 10 && memcmp(buf, "1970-01-01", 10) == 0);
	CHECK(strcmp(mfs_type_name(MFS_T_INT), "BIGINT") == 0);
	CHECK(strcmp(mfs_type_name(MFS_T_STRING), "VARCHAR") == 0);
	CHECK(strcmp(mfs_type_name(MFS_T_BOOL), "BOOLEAN") == 0);
	CHECK(strcmp(mfs_type_name(MFS_T_TIMESTAMP), "TIMESTAMP") == 0);
	/* an all-null column is VARCHAR */
	{
		const char *const none[] = { NULL };
		struct mfs_coltype ct = infer(0, MFS_DATE_MDY, none);

		CHECK_TYPE(ct, "VARCHAR");
	}
}

int main(void)
{
	test_integers();
	test_decimals();
	test_doubles();
	test_booleans();
	test_dates();
	test_timestamps();
	test_declared();
	test_formats();
	return unit_done("types");
}
