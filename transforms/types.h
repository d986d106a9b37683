/*
 * types.h - text to typed values and back, for silver cleaning (SPEC §4)
 * and the text forms gold shares (SPEC §5). Internal to transforms/.
 *
 * Three layers:
 *   - parsers of one trimmed value: numbers (integer, decimal with
 *     thousands separators, currency signs and accounting parentheses,
 *     scientific doubles), booleans, dates and timestamps in the layouts
 *     below;
 *   - the per-column inference state machine: every non-null value of a
 *     column is fed to mfs_infer_add(); the column's type is what every
 *     value parses as, decided once the whole file was seen;
 *   - conversion of one value to a column type, and formatting of a typed
 *     value as silver writes it (value.c).
 *
 * Rules decided here (documented in man/medallionfs-pipeline.5 too):
 *   - integers: optional sign, digits, optional thousands groups
 *     ("1,234,567"); a leading zero ("01234", "00") makes the value not a
 *     number for inference (zip codes, ids stay strings; "0", "0.5" fine);
 *     beyond int64 the column becomes DECIMAL(38,0);
 *   - decimals: '.' point (',' with decimal_comma, then '.' groups),
 *     at least one digit after the point ("5." is not a number, ".5" is);
 *     one currency sign ($ € £ ¥) before or after, with optional space;
 *     "(12.00)" is -12.00; width 18 when integer digits + scale <= 18,
 *     else 38; past 38 digits a double;
 *   - doubles: a mantissa with an exponent (1.5e3); inf/nan only for a
 *     declared DOUBLE;
 *   - booleans: true/false/yes/no/y/n/t/f in any case (0/1 only for a
 *     declared BOOLEAN: a column of 0 and 1 infers as BIGINT);
 *   - dates: YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD; A/B/YYYY and A-B-YYYY
 *     (month/day order from the column: a first part > 12 means dmy, a
 *     second part > 12 mdy, else date_order; ymd counts as mdy there);
 *     D.M.YYYY (always dmy); "Jan 5, 2024", "January 5 2024",
 *     "5 Jan 2024", "5-Jan-2024". Two-digit years are accepted only in
 *     A/B/YY, A-B-YY and D-Mon-YY (not D.M.YY: version numbers), with the
 *     POSIX pivot: 69..99 -> 19xx, 00..68 -> 20xx. A date that does not
 *     exist (2023-02-30) is not a date;
 *   - timestamps: any date layout, then 'T' or a space, H:MM[:SS[.frac]]
 *     (up to 9 fraction digits, kept to microseconds, truncated),
 *     optional AM/PM, optional zone: Z, UTC, GMT, +HH:MM, +HHMM, +HH. A
 *     zoned value is converted to UTC and shown with Z; a naive one is
 *     kept as written (never the host's zone).
 */
#ifndef MFS_TYPES_H
#define MFS_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline.h"
#include "value.h"

/* ---- currencies ---- */

enum { MFS_CUR_NONE = 0, MFS_CUR_DOLLAR, MFS_CUR_EURO, MFS_CUR_POUND, MFS_CUR_YEN };

/* UTF-8 text of a currency sign ("" for MFS_CUR_NONE); static. */
const char *mfs_currency_sign(int cur);

/* ---- numbers ---- */

enum mfs_num_kind { MFS_NUM_INT = 0, MFS_NUM_DEC, MFS_NUM_DBL };

#define MFS_NUM_WANT_DOUBLE 1   /* fill ->d (strtod of the cleaned text) */
#define MFS_NUM_ALLOW_SPECIAL 2 /* accept inf, infinity, nan */

struct mfs_num {
	enum mfs_num_kind kind;
	__int128 v;       /* INT, DEC: the unscaled value, sign applied */
	int scale;        /* digits after the point */
	int int_digits;   /* integer digits without leading zeros */
	int currency;     /* MFS_CUR_* */
	int leading_zero; /* the integer part has a superfluous leading zero */
	double d;         /* with MFS_NUM_WANT_DOUBLE */
};

/* Parse trimmed text @s. 0, or -1 when it is not a number. */
int mfs_num_parse(const char *s, size_t n, int decimal_comma, int flags, struct mfs_num *out);

/* ---- booleans ---- */

/* 1 true, 0 false, -1 not a boolean. @allow01: "0"/"1" count too. */
int mfs_bool_parse(const char *s, size_t n, int allow01);

/* ---- dates and timestamps ---- */

struct mfs_dt {
	int has_time;    /* a timestamp */
	int ambiguous;   /* A/B/Y layout: a and b are first and second parts */
	int y, a, b;     /* unambiguous: a = month, b = day */
	int64_t tod_us;  /* time of day */
	int zoned;
	int offset_s;    /* east of UTC */
};

/* Syntactic parse of trimmed text. 0, or -1 when no layout matches. */
int mfs_dt_parse(const char *s, size_t n, struct mfs_dt *out);

/* 1 when y-m-d exists. */
int mfs_date_valid(int y, int m, int d);
int32_t mfs_days_from_civil(int y, int m, int d);
void mfs_civil_from_days(int32_t days, int *y, int *m, int *d);

/*
 * Resolve @dt with @order (for ambiguous layouts: MFS_DATE_DMY means the
 * first part is the day, anything else the month) into a DATE value, or a
 * TIMESTAMP one when @want_ts (a date is then at 00:00:00, naive). 0, or
 * -1 when the date does not exist or @dt has a time and !@want_ts.
 */
int mfs_dt_value(const struct mfs_dt *dt, enum mfs_date_order order, int want_ts,
		 struct mfs_value *out);

/* ---- the column: inference and conversion ---- */

#define MFS_C_NUM 1u
#define MFS_C_BOOL 2u
#define MFS_C_DT 4u

struct mfs_infer {
	unsigned cand;         /* MFS_C_* still possible */
	uint64_t nvalues;      /* non-null values seen */
	enum mfs_num_kind num_kind; /* widest number kind seen */
	int max_scale;
	int max_int_digits;
	int currency;          /* the sign the values that have one share */
	int currency_mixed;    /* two different signs */
	int big;               /* an integer beyond int64 */
	int saw_time, ambiguous;
	int mdy_ok, dmy_ok;    /* every ambiguous date exists in that order */
};

void mfs_infer_init(struct mfs_infer *st);
/* Feed one trimmed, non-null value. */
void mfs_infer_add(struct mfs_infer *st, const char *s, size_t n, int decimal_comma);

/* What a column is converted to. */
struct mfs_coltype {
	enum mfs_type type;
	int width, scale;        /* DECIMAL(width, scale) */
	int currency;            /* MFS_CUR_*: recorded in the schema */
	enum mfs_date_order order; /* for ambiguous dates */
	int declared;            /* conversions may fail: the row is rejected */
};

/* The column type after the whole file. @def_order: the pipeline's. */
void mfs_infer_result(const struct mfs_infer *st, enum mfs_date_order def_order,
		      struct mfs_coltype *out);

/*
 * For a declared column of @type (scale for DECIMAL): fill @out, taking
 * the currency and the day/month order from what inference saw.
 */
void mfs_coltype_declared(enum mfs_type type, int scale, const struct mfs_infer *st,
			  enum mfs_date_order def_order, struct mfs_coltype *out);

/*
 * Convert trimmed, non-null text to @ct's type. Strings point into @s.
 * 0, or -1 when it does not convert (only possible for declared columns
 * and for text the column's inference never saw).
 */
int mfs_convert(const struct mfs_coltype *ct, const char *s, size_t n, int decimal_comma,
		struct mfs_value *out);

/*
 * 1 when @s is, for a column whose type was inferred (not declared),
 * exactly the text mfs_convert() and mfs_value_format() would give it, so
 * it can be copied through. Only for text that inference saw.
 */
int mfs_canonical(const struct mfs_coltype *ct, const char *s, size_t n);

/* ---- text forms (value.c) ---- */

/* Room any non-string value's text needs. */
#define MFS_VALUE_TEXT_MAX 64

/* The text of a non-null, non-string value into @buf; returns its length.
 * BOOL true/false, INT decimal, DECIMAL with its scale, DOUBLE shortest
 * round-trip (<= 17 digits, integral values as "1.0", inf/-inf/nan), DATE
 * YYYY-MM-DD, TIMESTAMP YYYY-MM-DDTHH:MM:SS[.ffffff][Z]. */
size_t mfs_value_format(const struct mfs_value *v, char *buf);

size_t mfs_format_int(int64_t v, char *buf);
size_t mfs_format_decimal(__int128 v, int scale, char *buf);
size_t mfs_format_double(double d, char *buf);
size_t mfs_format_date(int32_t days, char *buf);
size_t mfs_format_timestamp(int64_t us, int utc, char *buf);

/* The schema/DuckDB spelling of a column type ("DECIMAL(18,2)", ...). */
void mfs_coltype_name(const struct mfs_coltype *ct, char *buf, size_t len);

#endif
