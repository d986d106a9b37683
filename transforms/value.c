/*
 * value.c - the names of the column types and the text form of typed
 * values: what silver writes and gold prints (SPEC §4, §5).
 *
 * The forms are the ones DuckDB reads back to the same value with the type
 * of the schema: BIGINT as digits, DECIMAL with exactly its scale, DOUBLE
 * as the shortest text that round-trips (at most 17 significant digits;
 * integral values end in ".0" as DuckDB prints them), BOOLEAN true/false,
 * DATE YYYY-MM-DD, TIMESTAMP YYYY-MM-DDTHH:MM:SS with ".ffffff" only when
 * there are microseconds and "Z" only for values written with a zone.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "types.h"
#include "value.h"

const char *mfs_type_name(enum mfs_type t)
{
	switch (t) {
	case MFS_T_NULL:
		return "NULL";
	case MFS_T_BOOL:
		return "BOOLEAN";
	case MFS_T_INT:
		return "BIGINT";
	case MFS_T_DECIMAL:
		return "DECIMAL";
	case MFS_T_DOUBLE:
		return "DOUBLE";
	case MFS_T_DATE:
		return "DATE";
	case MFS_T_TIMESTAMP:
		return "TIMESTAMP";
	case MFS_T_STRING:
		return "VARCHAR";
	}
	return "VARCHAR";
}

void mfs_coltype_name(const struct mfs_coltype *ct, char *buf, size_t len)
{
	if (ct->type == MFS_T_DECIMAL)
		snprintf(buf, len, "DECIMAL(%d,%d)", ct->width ? ct->width : 18, ct->scale);
	else
		snprintf(buf, len, "%s", mfs_type_name(ct->type));
}

/* Digits of @u, most significant first, into @buf; returns the count. */
static size_t utoa128(unsigned __int128 u, char *buf)
{
	char tmp[48];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

static size_t utoa64(uint64_t u, char *buf)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

size_t mfs_format_int(int64_t v, char *buf)
{
	if (v < 0) {
		buf[0] = '-';
		return 1 + utoa64((uint64_t)0 - (uint64_t)v, buf + 1);
	}
	return utoa64((uint64_t)v, buf);
}

size_t mfs_format_decimal(__int128 v, int scale, char *buf)
{
	unsigned __int128 u = v < 0 ? (unsigned __int128)0 - (unsigned __int128)v : (unsigned __int128)v;
	char digits[48];
	/* 128-bit division is a library call per digit: most values fit 64 bits */
	size_t nd = u >> 64 ? utoa128(u, digits) : utoa64((uint64_t)u, digits), n = 0, i;

	if (v < 0)
		buf[n++] = '-';
	if (scale <= 0) {
		memcpy(buf + n, digits, nd);
		return n + nd;
	}
	if (nd <= (size_t)scale) {
		buf[n++] = '0';
		buf[n++] = '.';
		for (i = nd; i < (size_t)scale; i++)
			buf[n++] = '0';
		memcpy(buf + n, digits, nd);
		return n + nd;
	}
	memcpy(buf + n, digits, nd - (size_t)scale);
	n += nd - (size_t)scale;
	buf[n++] = '.';
	memcpy(buf + n, digits + nd - scale, (size_t)scale);
	return n + (size_t)scale;
}

size_t mfs_format_double(double d, char *buf)
{
	int prec, n = 0;

	if (isnan(d)) {
		memcpy(buf, "nan", 4);
		return 3;
	}
	if (isinf(d)) {
		if (d < 0) {
			memcpy(buf, "-inf", 5);
			return 4;
		}
		memcpy(buf, "inf", 4);
		return 3;
	}
	/* Most doubles in tables came from short decimals: find the fewest
	 * decimals k with m / 10^k == d for an integer m below 2^50 (so that
	 * d * 10^k rounds to m exactly) and write m with k decimals. */
	if (fabs(d) >= 1e-4 && fabs(d) < 1e15) {
		static const double p10[] = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,
					      1e7,  1e8,  1e9,  1e10, 1e11, 1e12, 1e13,
					      1e14, 1e15, 1e16, 1e17, 1e18, 1e19 };
		int k;

		for (k = 0; k < 20; k++) {
			double x = d * p10[k], m;

			if (fabs(x) >= 1125899906842624.0) /* 2^50 */
				break;
			/* nearest integer (no libm): any m is checked below anyway */
			m = (double)(int64_t)(x < 0 ? x - 0.5 : x + 0.5);
			if (m / p10[k] == d) {
				char dig[24];
				size_t nd, i;

				n = 0;
				if (m < 0 || (m == 0 && signbit(d)))
					buf[n++] = '-';
				nd = utoa64((uint64_t)fabs(m), dig);
				if (k == 0) {
					memcpy(buf + n, dig, nd);
					n += (int)nd;
					memcpy(buf + n, ".0", 3);
					return (size_t)n + 2;
				}
				if (nd <= (size_t)k) {
					buf[n++] = '0';
					buf[n++] = '.';
					for (i = nd; i < (size_t)k; i++)
						buf[n++] = '0';
					memcpy(buf + n, dig, nd);
					n += (int)nd;
				} else {
					memcpy(buf + n, dig, nd - (size_t)k);
					n += (int)(nd - (size_t)k);
					buf[n++] = '.';
					memcpy(buf + n, dig + nd - k, (size_t)k);
					n += k;
				}
				buf[n] = 0;
				return (size_t)n;
			}
		}
	}
	/* %g drops trailing zeros, so the first precision that round-trips
	 * is, for all but pathological values, the shortest text. */
	for (prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, 32, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (!memchr(buf, '.', (size_t)n) && !memchr(buf, 'e', (size_t)n)) {
		buf[n++] = '.';
		buf[n++] = '0';
		buf[n] = 0;
	}
	return (size_t)n;
}

static char *two(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

size_t mfs_format_date(int32_t days, char *buf)
{
	int y, m, d;
	char *p = buf;

	mfs_civil_from_days(days, &y, &m, &d);
	if (y < 0) {
		*p++ = '-';
		y = -y;
	}
	if (y > 9999) {
		p += utoa64((uint64_t)y, p);
	} else {
		p = two(p, y / 100);
		p = two(p, y % 100);
	}
	*p++ = '-';
	p = two(p, m);
	*p++ = '-';
	p = two(p, d);
	return (size_t)(p - buf);
}

size_t mfs_format_timestamp(int64_t us, int utc, char *buf)
{
	int64_t days = us / 86400000000LL, rem = us % 86400000000LL;
	int64_t secs;
	char *p;
	int frac;

	if (rem < 0) {
		rem += 86400000000LL;
		days--;
	}
	p = buf + mfs_format_date((int32_t)days, buf);
	secs = rem / 1000000;
	frac = (int)(rem % 1000000);
	*p++ = 'T';
	p = two(p, (int)(secs / 3600));
	*p++ = ':';
	p = two(p, (int)(secs / 60 % 60));
	*p++ = ':';
	p = two(p, (int)(secs % 60));
	if (frac) {
		int i;

		*p++ = '.';
		for (i = 5; i >= 0; i--) {
			p[i] = (char)('0' + frac % 10);
			frac /= 10;
		}
		p += 6;
	}
	if (utc)
		*p++ = 'Z';
	return (size_t)(p - buf);
}

size_t mfs_value_format(const struct mfs_value *v, char *buf)
{
	switch (v->type) {
	case MFS_T_BOOL:
		if (v->u.b) {
			memcpy(buf, "true", 4);
			return 4;
		}
		memcpy(buf, "false", 5);
		return 5;
	case MFS_T_INT:
		return mfs_format_int(v->u.i, buf);
	case MFS_T_DECIMAL:
		return mfs_format_decimal(v->u.dec.v, v->u.dec.scale, buf);
	case MFS_T_DOUBLE:
		return mfs_format_double(v->u.d, buf);
	case MFS_T_DATE:
		return mfs_format_date(v->u.date, buf);
	case MFS_T_TIMESTAMP:
		return mfs_format_timestamp(v->u.ts.us, v->u.ts.utc, buf);
	case MFS_T_NULL:
	case MFS_T_STRING:
		break;
	}
	return 0;
}
