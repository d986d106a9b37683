/*
 * types.c - parsing of one value's text (numbers, booleans, dates,
 * timestamps), the per-column type inference state machine, and conversion
 * of a value to its column's type. The rules are listed in types.h.
 *
 * Everything here works on a (pointer, length) view of text that was
 * already trimmed, allocates nothing and keeps no state but what the caller
 * hands in, so silver can call it once per value at input speed.
 */
#include "types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const currency_signs[] = { "", "$", "\xe2\x82\xac", "\xc2\xa3", "\xc2\xa5" };

const char *mfs_currency_sign(int cur)
{
	if (cur < 0 || cur > MFS_CUR_YEN)
		return "";
	return currency_signs[cur];
}

static inline int is_digit(char c)
{
	return (unsigned)(c - '0') < 10;
}

static inline char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* Length of the currency sign at @p (0 when none); its code in *@cur. */
static size_t currency_prefix(const char *p, const char *e, int *cur)
{
	if (p >= e)
		return 0;
	if (*p == '$') {
		*cur = MFS_CUR_DOLLAR;
		return 1;
	}
	if (e - p >= 3 && (unsigned char)p[0] == 0xe2 && (unsigned char)p[1] == 0x82 &&
	    (unsigned char)p[2] == 0xac) {
		*cur = MFS_CUR_EURO;
		return 3;
	}
	if (e - p >= 2 && (unsigned char)p[0] == 0xc2 &&
	    ((unsigned char)p[1] == 0xa3 || (unsigned char)p[1] == 0xa5)) {
		*cur = (unsigned char)p[1] == 0xa3 ? MFS_CUR_POUND : MFS_CUR_YEN;
		return 2;
	}
	return 0;
}

static size_t currency_suffix(const char *p, const char *e, int *cur)
{
	if (e - p >= 1 && e[-1] == '$') {
		*cur = MFS_CUR_DOLLAR;
		return 1;
	}
	if (e - p >= 3 && (unsigned char)e[-3] == 0xe2 && (unsigned char)e[-2] == 0x82 &&
	    (unsigned char)e[-1] == 0xac) {
		*cur = MFS_CUR_EURO;
		return 3;
	}
	if (e - p >= 2 && (unsigned char)e[-2] == 0xc2 &&
	    ((unsigned char)e[-1] == 0xa3 || (unsigned char)e[-1] == 0xa5)) {
		*cur = (unsigned char)e[-1] == 0xa3 ? MFS_CUR_POUND : MFS_CUR_YEN;
		return 2;
	}
	return 0;
}

static int match_special(const char *p, const char *e)
{
	size_t n = (size_t)(e - p);

	if (n == 3 && lower(p[0]) == 'i' && lower(p[1]) == 'n' && lower(p[2]) == 'f')
		return 1;
	if (n == 8 && strncasecmp(p, "infinity", 8) == 0)
		return 1;
	if (n == 3 && lower(p[0]) == 'n' && lower(p[1]) == 'a' && lower(p[2]) == 'n')
		return 2;
	return 0;
}

/* Longest numeric text we accept: more is not a number. */
#define NUM_MAX 120

static const double pow10_dbl[] = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
				    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
				    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };

/* The digits of [p, e) without group separators, up to 38 significant. */
static __int128 digits128(const char *p, const char *e, int *sig)
{
	__int128 v = 0;

	for (; p < e; p++) {
		if (!is_digit(*p))
			continue;
		if (!*sig && *p == '0')
			continue;
		if (*sig < 38)
			v = v * 10 + (*p - '0');
		(*sig)++;
	}
	return v;
}

/* The double nearest the digits of [ip, ie) '.' [fp, fe) times 10^exp10. */
static double slow_double(const char *ip, const char *ie, const char *fp, const char *fe, int neg,
			  int exp10)
{
	char clean[NUM_MAX + 16];
	size_t cl = 0;
	const char *q;

	if (neg)
		clean[cl++] = '-';
	for (q = ip; q < ie; q++)
		if (is_digit(*q))
			clean[cl++] = *q;
	if (cl == (size_t)neg)
		clean[cl++] = '0';
	if (fp) {
		clean[cl++] = '.';
		memcpy(clean + cl, fp, (size_t)(fe - fp));
		cl += (size_t)(fe - fp);
	}
	snprintf(clean + cl, sizeof(clean) - cl, "e%d", exp10);
	return strtod(clean, NULL);
}

int mfs_num_parse(const char *s, size_t n, int decimal_comma, int flags, struct mfs_num *out)
{
	const char *p = s, *e = s + n, *q, *ip, *ie, *fp = NULL, *fe = NULL;
	int neg = 0, sign = 0, paren = 0, cur = 0, sp, exp10 = 0;
	char dsep = decimal_comma ? ',' : '.', gsep = decimal_comma ? '.' : ',';
	int raw_int = 0, group = 0, grouped = 0, sig = 0, int_sig, scale = 0, kind = MFS_NUM_INT;
	uint64_t m = 0;
	size_t cs;

	if (n == 0 || n > NUM_MAX)
		return -1;
	/* Fast path: plain digits, optionally with a fraction (most values). */
	if (is_digit(*p) && n <= 18 && (*p != '0' || n == 1 || p[1] == dsep)) {
		const char *dot = NULL;

		for (q = p; q < e; q++) {
			if (is_digit(*q))
				m = m * 10 + (uint64_t)(*q - '0');
			else if (*q == dsep && !dot && q + 1 < e)
				dot = q;
			else
				break;
		}
		if (q == e) {
			out->kind = dot ? MFS_NUM_DEC : MFS_NUM_INT;
			out->v = (__int128)m;
			out->scale = dot ? (int)(e - dot - 1) : 0;
			out->currency = 0;
			out->leading_zero = 0;
			/* significant integer digits: "0.5" has none */
			out->int_digits = (m == 0 || (*p == '0')) ? 0 : (int)((dot ? dot : e) - p);
			if (flags & MFS_NUM_WANT_DOUBLE) {
				double d = (double)m;

				/* n <= 18 digits but m may exceed 2^53: exact only below */
				if (m < (1ull << 53))
					out->d = out->scale ? d / pow10_dbl[out->scale] : d;
				else
					goto slow;
			} else {
				out->d = 0;
			}
			return 0;
		}
slow:
		m = 0;
	}
	/* Fast reject: a number starts with a digit, sign, point, '(' or a currency sign. */
	if (!is_digit(*p) && *p != '-' && *p != '+' && *p != '.' && *p != ',' && *p != '(' &&
	    *p != '$' && (unsigned char)*p < 0xc2 && !(flags & MFS_NUM_ALLOW_SPECIAL))
		return -1;
	if (*p == '(') {
		if (e[-1] != ')' || n < 3)
			return -1;
		paren = 1;
		p++;
		e--;
	}
	if (p < e && (*p == '-' || *p == '+')) {
		sign = 1;
		neg = *p == '-';
		p++;
	}
	cs = currency_prefix(p, e, &cur);
	if (cs) {
		p += cs;
		while (p < e && *p == ' ')
			p++;
		if (!sign && p < e && (*p == '-' || *p == '+')) {
			sign = 1;
			neg = *p == '-';
			p++;
		}
	} else {
		cs = currency_suffix(p, e, &cur);
		if (cs) {
			e -= cs;
			while (e > p && e[-1] == ' ')
				e--;
		}
	}
	if (paren && sign)
		return -1;
	if (paren)
		neg = 1;
	if (p >= e)
		return -1;
	if ((flags & MFS_NUM_ALLOW_SPECIAL) && !cur && !is_digit(*p) && *p != dsep) {
		sp = match_special(p, e);
		if (!sp)
			return -1;
		memset(out, 0, sizeof(*out));
		out->kind = MFS_NUM_DBL;
		out->d = sp == 2 ? __builtin_nan("") : (neg ? -__builtin_inf() : __builtin_inf());
		return 0;
	}
	/* The integer part, with its groups; m keeps up to 19 significant digits. */
	ip = p;
	for (q = p; q < e; q++) {
		if (is_digit(*q)) {
			if (sig || *q != '0') {
				if (sig < 19)
					m = m * 10 + (uint64_t)(*q - '0');
				sig++;
			}
			raw_int++;
			group++;
		} else if (*q == gsep && q + 1 < e && is_digit(q[1])) {
			if (grouped ? group != 3 : (group < 1 || group > 3))
				return -1;
			grouped = 1;
			group = 0;
		} else {
			break;
		}
	}
	ie = q;
	if (grouped && group != 3)
		return -1;
	int_sig = sig;
	out->leading_zero = raw_int > 1 && *ip == '0';
	if (q < e && *q == dsep) {
		q++;
		if (q >= e || !is_digit(*q))
			return -1;
		fp = q;
		for (; q < e && is_digit(*q); q++) {
			if (sig || *q != '0') {
				if (sig < 19)
					m = m * 10 + (uint64_t)(*q - '0');
				sig++;
			}
			scale++;
		}
		fe = q;
		kind = MFS_NUM_DEC;
	} else if (raw_int == 0) {
		return -1;
	}
	if (q < e && (*q == 'e' || *q == 'E')) {
		int ed = 0, eneg = 0;

		if (grouped || cur || paren)
			return -1;
		q++;
		if (q < e && (*q == '-' || *q == '+'))
			eneg = *q++ == '-';
		for (; q < e && is_digit(*q); q++, ed++)
			exp10 = exp10 * 10 + (*q - '0');
		if (ed == 0 || ed > 4)
			return -1;
		if (eneg)
			exp10 = -exp10;
		kind = MFS_NUM_DBL;
	}
	if (q != e)
		return -1;
	if ((sig > 38 || scale > 38) && kind != MFS_NUM_DBL)
		kind = MFS_NUM_DBL;
	/* 1e400 is no double: as a double it would be inf (or 1e-400 zero), a
	 * value the file does not hold. Not a number, so an inferred column
	 * stays a string with the text as written and a declared one rejects
	 * the row. Only exponents near the limits are worth the check. */
	if (kind == MFS_NUM_DBL && (exp10 + int_sig > 300 || exp10 - scale < -300)) {
		double d = slow_double(ip, ie, fp, fe, neg, exp10);

		if (__builtin_isinf(d) || (d == 0 && m != 0))
			return -1;
	}
	out->kind = kind;
	out->int_digits = int_sig;
	out->scale = kind == MFS_NUM_DBL ? 0 : scale;
	out->currency = cur;
	out->d = 0;
	/* v holds only significant digits (leading zeros add nothing) while
	 * scale counts every fraction digit, so v / 10^scale is the value. */
	if (sig <= 18) {
		out->v = neg ? -(__int128)m : (__int128)m;
	} else {
		int s2 = 0;
		__int128 v = digits128(ip, ie, &s2);

		if (fp) {
			/* continue the same digit sequence through the fraction */
			for (q = fp; q < fe; q++) {
				if (!s2 && *q == '0')
					continue;
				if (s2 < 38)
					v = v * 10 + (*q - '0');
				s2++;
			}
		}
		out->v = neg ? -v : v;
	}
	if (flags & MFS_NUM_WANT_DOUBLE) {
		int e10 = exp10 - scale;

		if (sig <= 15 && e10 >= -22 && e10 <= 22) {
			/* Clinger's fast path: both exact, one rounding. */
			double d = (double)m;

			d = e10 < 0 ? d / pow10_dbl[-e10] : d * pow10_dbl[e10];
			out->d = neg ? -d : d;
		} else {
			out->d = slow_double(ip, ie, fp, fe, neg, exp10);
		}
	}
	return 0;
}

int mfs_bool_parse(const char *s, size_t n, int allow01)
{
	char b[6];
	size_t i;

	if (n == 0 || n > 5)
		return -1;
	for (i = 0; i < n; i++)
		b[i] = lower(s[i]);
	b[n] = 0;
	switch (n) {
	case 1:
		if (b[0] == 't' || b[0] == 'y')
			return 1;
		if (b[0] == 'f' || b[0] == 'n')
			return 0;
		if (allow01 && (b[0] == '0' || b[0] == '1'))
			return b[0] == '1';
		return -1;
	case 2:
		return memcmp(b, "no", 2) == 0 ? 0 : -1;
	case 3:
		return memcmp(b, "yes", 3) == 0 ? 1 : -1;
	case 4:
		return memcmp(b, "true", 4) == 0 ? 1 : -1;
	case 5:
		return memcmp(b, "false", 5) == 0 ? 0 : -1;
	}
	return -1;
}

/* ---- calendar ---- */

int mfs_date_valid(int y, int m, int d)
{
	static const unsigned char mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap;

	if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1)
		return 0;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return d <= mdays[m - 1] + (m == 2 && leap);
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
int32_t mfs_days_from_civil(int y, int m, int d)
{
	int yy = y - (m <= 2);
	int era = (yy >= 0 ? yy : yy - 399) / 400;
	unsigned yoe = (unsigned)(yy - era * 400);
	unsigned doy = (153u * (unsigned)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (unsigned)d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int32_t)doe - 719468;
}

void mfs_civil_from_days(int32_t days, int *y, int *m, int *d)
{
	int64_t z = (int64_t)days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yy + (*m <= 2));
}

/* ---- dates and timestamps ---- */

/* Between @min and @max digits at *@pp; advances it. -1 when fewer than @min. */
static int digits(const char **pp, const char *e, int min, int max)
{
	const char *p = *pp;
	int v = 0, k = 0;

	while (p < e && k < max && is_digit(*p)) {
		v = v * 10 + (*p - '0');
		p++;
		k++;
	}
	if (k < min || (p < e && is_digit(*p)))
		return -1;
	*pp = p;
	return v;
}

static int year2(int yy)
{
	return yy < 69 ? 2000 + yy : 1900 + yy;
}

static const char *const month_names[] = { "january", "february", "march",     "april",
					   "may",     "june",     "july",      "august",
					   "september", "october", "november", "december" };

/* A month name (full, 3-letter, "sept"), optionally followed by '.'. 1..12 or -1. */
static int month_name(const char **pp, const char *e)
{
	const char *p = *pp, *w = p;
	size_t n, i, fl;
	const char *full;
	uint32_t k;
	int m;

	while (p < e && ((*p | 32) >= 'a' && (*p | 32) <= 'z'))
		p++;
	n = (size_t)(p - w);
	if (n < 3 || n > 9)
		return -1;
	k = (uint32_t)(w[0] | 32) << 16 | (uint32_t)(w[1] | 32) << 8 | (uint32_t)(w[2] | 32);
	switch (k) {
	case 0x6a616e: m = 1; break;  /* jan */
	case 0x666562: m = 2; break;  /* feb */
	case 0x6d6172: m = 3; break;  /* mar */
	case 0x617072: m = 4; break;  /* apr */
	case 0x6d6179: m = 5; break;  /* may */
	case 0x6a756e: m = 6; break;  /* jun */
	case 0x6a756c: m = 7; break;  /* jul */
	case 0x617567: m = 8; break;  /* aug */
	case 0x736570: m = 9; break;  /* sep */
	case 0x6f6374: m = 10; break; /* oct */
	case 0x6e6f76: m = 11; break; /* nov */
	case 0x646563: m = 12; break; /* dec */
	default: return -1;
	}
	full = month_names[m - 1];
	fl = strlen(full);
	if (n != 3 && !(m == 9 && n == 4)) {
		if (n != fl)
			return -1;
		for (i = 3; i < n; i++)
			if (lower(w[i]) != full[i])
				return -1;
	} else if (n == 4 && lower(w[3]) != 't') {
		return -1;
	}
	if (p < e && *p == '.')
		p++;
	*pp = p;
	return m;
}

static int skip_spaces(const char **pp, const char *e)
{
	const char *p = *pp;

	while (p < e && *p == ' ')
		p++;
	if (p == *pp)
		return 0;
	*pp = p;
	return 1;
}

/*
 * The end of a written-month date, from after its day: an optional ',', spaces,
 * a four-digit year ("5 Jan, 2024", "Jan 5 2024"). 0 with @dt set, or -1.
 */
static int comma_year(const char *t, const char *e, int month, int day, struct mfs_dt *dt,
		      const char **pp)
{
	int y;

	if (t < e && *t == ',')
		t++;
	if (!skip_spaces(&t, e))
		return -1;
	y = digits(&t, e, 4, 4);
	if (y < 0)
		return -1;
	dt->y = y;
	dt->a = month;
	dt->b = day;
	*pp = t;
	return 0;
}

static int parse_date_part(const char **pp, const char *e, struct mfs_dt *dt)
{
	const char *p = *pp, *t;
	int v1, v2, y, m;
	char sep;

	if (p >= e)
		return -1;
	if (is_digit(*p)) {
		t = p;
		v1 = digits(&t, e, 1, 4);
		if (v1 < 0 || t >= e)
			return -1;
		if (t - p == 4) {
			/* YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD */
			sep = *t;
			if (sep != '-' && sep != '/' && sep != '.')
				return -1;
			t++;
			m = digits(&t, e, 1, 2);
			if (m < 0 || t >= e || *t != sep)
				return -1;
			t++;
			v2 = digits(&t, e, 1, 2);
			if (v2 < 0)
				return -1;
			dt->y = v1;
			dt->a = m;
			dt->b = v2;
			*pp = t;
			return 0;
		}
		if (t - p > 2)
			return -1;
		sep = *t;
		if (sep == '/' || sep == '-' || sep == '.') {
			const char *u = t + 1;

			if (u < e && is_digit(*u)) {
				v2 = digits(&u, e, 1, 2);
				if (v2 < 0 || u >= e || *u != sep)
					return -1;
				u++;
				t = u;
				y = digits(&u, e, 2, 4);
				if (y < 0 || (u - t) == 3 || (sep == '.' && u - t != 4))
					return -1;
				if (u - t == 2)
					y = year2(y);
				dt->y = y;
				if (sep == '.') {
					dt->a = v2;
					dt->b = v1;
				} else {
					dt->ambiguous = 1;
					dt->a = v1;
					dt->b = v2;
				}
				*pp = u;
				return 0;
			}
			if (sep == '.' || sep == '/')
				return -1;
			/* 5-Jan-2024 */
			m = month_name(&u, e);
			if (m < 0 || u >= e || *u != '-')
				return -1;
			u++;
			t = u;
			y = digits(&u, e, 2, 4);
			if (y < 0 || (u - t) == 3)
				return -1;
			dt->y = u - t == 2 ? year2(y) : y;
			dt->a = m;
			dt->b = v1;
			*pp = u;
			return 0;
		}
		if (sep != ' ')
			return -1;
		/* 5 Jan 2024, 5 January, 2024 */
		skip_spaces(&t, e);
		m = month_name(&t, e);
		if (m < 0)
			return -1;
		return comma_year(t, e, m, v1, dt, pp);
	}
	/* Jan 5, 2024; January 5 2024 */
	t = p;
	m = month_name(&t, e);
	if (m < 0 || !skip_spaces(&t, e))
		return -1;
	v1 = digits(&t, e, 1, 2);
	if (v1 < 0)
		return -1;
	return comma_year(t, e, m, v1, dt, pp);
}

static int parse_time_part(const char *p, const char *e, struct mfs_dt *dt)
{
	int h, mi, sec = 0, k;
	int64_t frac = 0;

	h = digits(&p, e, 1, 2);
	if (h < 0 || p >= e || *p != ':')
		return -1;
	p++;
	mi = digits(&p, e, 2, 2);
	if (mi < 0 || mi > 59)
		return -1;
	if (p < e && *p == ':') {
		p++;
		sec = digits(&p, e, 2, 2);
		if (sec < 0 || sec > 59)
			return -1;
		if (p < e && (*p == '.' || *p == ',')) {
			p++;
			for (k = 0; p < e && is_digit(*p); p++, k++) {
				if (k < 6)
					frac = frac * 10 + (*p - '0');
				else if (k >= 9)
					return -1;
			}
			if (k == 0)
				return -1;
			for (; k < 6; k++)
				frac *= 10;
		}
	}
	{
		const char *t = p;

		skip_spaces(&t, e);
		if (e - t >= 2 && (lower(t[1]) == 'm') && (lower(t[0]) == 'a' || lower(t[0]) == 'p') &&
		    (e - t == 2 || !((t[2] | 32) >= 'a' && (t[2] | 32) <= 'z'))) {
			if (h < 1 || h > 12)
				return -1;
			h = (h % 12) + (lower(t[0]) == 'p' ? 12 : 0);
			p = t + 2;
		}
	}
	if (h > 23)
		return -1;
	dt->tod_us = ((int64_t)h * 3600 + mi * 60 + sec) * 1000000 + frac;
	dt->has_time = 1;
	if (p == e)
		return 0;
	skip_spaces(&p, e);
	if (e - p == 1 && (*p == 'Z' || *p == 'z')) {
		dt->zoned = 1;
		return 0;
	}
	if (e - p == 3 && (strncasecmp(p, "UTC", 3) == 0 || strncasecmp(p, "GMT", 3) == 0)) {
		dt->zoned = 1;
		return 0;
	}
	if (*p == '+' || *p == '-') {
		int neg = *p == '-', oh, om = 0;

		p++;
		/* +HH, +HH:MM, +HHMM */
		if (e - p < 2 || !is_digit(p[0]) || !is_digit(p[1]))
			return -1;
		oh = (p[0] - '0') * 10 + (p[1] - '0');
		p += 2;
		if (p < e && *p == ':')
			p++;
		if (p < e) {
			if (e - p != 2 || !is_digit(p[0]) || !is_digit(p[1]))
				return -1;
			om = (p[0] - '0') * 10 + (p[1] - '0');
			p += 2;
		}
		if (oh > 23 || om > 59)
			return -1;
		dt->zoned = 1;
		dt->offset_s = (neg ? -1 : 1) * (oh * 3600 + om * 60);
		return 0;
	}
	return -1;
}

int mfs_dt_parse(const char *s, size_t n, struct mfs_dt *dt)
{
	const char *p = s, *e = s + n;

	if (n < 6 || n > 64)
		return -1;
	memset(dt, 0, sizeof(*dt));
	if (parse_date_part(&p, e, dt) < 0)
		return -1;
	if (p == e)
		return 0;
	if (*p == 'T' || *p == 't') {
		p++;
	} else if (*p == ' ') {
		skip_spaces(&p, e);
	} else {
		return -1;
	}
	return parse_time_part(p, e, dt);
}

int mfs_dt_value(const struct mfs_dt *dt, enum mfs_date_order order, int want_ts,
		 struct mfs_value *out)
{
	int m = dt->a, d = dt->b;
	int32_t days;

	if (dt->ambiguous && order == MFS_DATE_DMY) {
		m = dt->b;
		d = dt->a;
	}
	if (!mfs_date_valid(dt->y, m, d))
		return -1;
	days = mfs_days_from_civil(dt->y, m, d);
	out->is_null = 0;
	if (!want_ts) {
		if (dt->has_time)
			return -1;
		out->type = MFS_T_DATE;
		out->u.date = days;
		return 0;
	}
	out->type = MFS_T_TIMESTAMP;
	out->u.ts.us = (int64_t)days * 86400000000LL + dt->tod_us - (int64_t)dt->offset_s * 1000000;
	out->u.ts.utc = dt->zoned;
	return 0;
}

/* ---- inference ---- */

void mfs_infer_init(struct mfs_infer *st)
{
	memset(st, 0, sizeof(*st));
	st->cand = MFS_C_NUM | MFS_C_BOOL | MFS_C_DT;
	st->mdy_ok = st->dmy_ok = 1;
}

static const __int128 I64MAX = INT64_MAX, I64MIN = INT64_MIN;

void mfs_infer_add(struct mfs_infer *st, const char *s, size_t n, int decimal_comma)
{
	st->nvalues++;
	if (!st->cand)
		return;
	if (st->cand & MFS_C_NUM) {
		struct mfs_num num;

		if (mfs_num_parse(s, n, decimal_comma, 0, &num) < 0 || num.leading_zero) {
			st->cand &= ~MFS_C_NUM;
		} else {
			if (num.currency) {
				if (!st->currency)
					st->currency = num.currency;
				else if (st->currency != num.currency)
					st->currency_mixed = 1;
			}
			if (num.kind > st->num_kind)
				st->num_kind = num.kind;
			if (num.scale > st->max_scale)
				st->max_scale = num.scale;
			if (num.int_digits > st->max_int_digits)
				st->max_int_digits = num.int_digits;
			if (num.kind == MFS_NUM_INT && (num.v > I64MAX || num.v < I64MIN))
				st->big = 1;
			if (st->currency_mixed || (st->currency && st->num_kind == MFS_NUM_DBL))
				st->cand &= ~MFS_C_NUM;
			/* A number is neither a boolean nor a date. */
			st->cand &= ~(MFS_C_BOOL | MFS_C_DT);
			return;
		}
	}
	if (st->cand & MFS_C_BOOL) {
		if (mfs_bool_parse(s, n, 0) < 0)
			st->cand &= ~MFS_C_BOOL;
		else {
			st->cand &= ~MFS_C_DT;
			return;
		}
	}
	if (st->cand & MFS_C_DT) {
		struct mfs_dt dt;

		if (mfs_dt_parse(s, n, &dt) < 0) {
			st->cand &= ~MFS_C_DT;
			return;
		}
		if (dt.has_time)
			st->saw_time = 1;
		if (dt.ambiguous) {
			st->ambiguous = 1;
			if (st->mdy_ok && !mfs_date_valid(dt.y, dt.a, dt.b))
				st->mdy_ok = 0;
			if (st->dmy_ok && !mfs_date_valid(dt.y, dt.b, dt.a))
				st->dmy_ok = 0;
			if (!st->mdy_ok && !st->dmy_ok)
				st->cand &= ~MFS_C_DT;
		} else if (!mfs_date_valid(dt.y, dt.a, dt.b)) {
			st->cand &= ~MFS_C_DT;
		}
	}
}

static enum mfs_date_order pick_order(const struct mfs_infer *st, enum mfs_date_order def)
{
	if (st->mdy_ok && !st->dmy_ok)
		return MFS_DATE_MDY;
	if (st->dmy_ok && !st->mdy_ok)
		return MFS_DATE_DMY;
	return def == MFS_DATE_DMY ? MFS_DATE_DMY : MFS_DATE_MDY;
}

void mfs_infer_result(const struct mfs_infer *st, enum mfs_date_order def_order,
		      struct mfs_coltype *out)
{
	memset(out, 0, sizeof(*out));
	out->type = MFS_T_STRING;
	out->order = pick_order(st, def_order);
	if (st->nvalues == 0 || !st->cand)
		return;
	if (st->cand & MFS_C_NUM) {
		int prec = st->max_int_digits + st->max_scale;

		if (st->num_kind == MFS_NUM_DBL || prec > 38) {
			if (!st->currency)
				out->type = MFS_T_DOUBLE;
			return;
		}
		if (st->num_kind == MFS_NUM_INT && !st->currency && !st->big) {
			out->type = MFS_T_INT;
			return;
		}
		out->type = MFS_T_DECIMAL;
		out->scale = st->max_scale;
		out->width = prec <= 18 ? 18 : 38;
		out->currency = st->currency;
		return;
	}
	if (st->cand & MFS_C_BOOL) {
		out->type = MFS_T_BOOL;
		return;
	}
	if (st->cand & MFS_C_DT)
		out->type = st->saw_time ? MFS_T_TIMESTAMP : MFS_T_DATE;
}

void mfs_coltype_declared(enum mfs_type type, int scale, const struct mfs_infer *st,
			  enum mfs_date_order def_order, struct mfs_coltype *out)
{
	memset(out, 0, sizeof(*out));
	out->type = type == MFS_T_NULL ? MFS_T_STRING : type;
	out->declared = 1;
	out->order = pick_order(st, def_order);
	if (type == MFS_T_DECIMAL) {
		out->scale = scale < 0 ? 0 : scale > 38 ? 38 : scale;
		out->width = out->scale <= 18 ? 18 : 38;
		if (!st->currency_mixed)
			out->currency = st->currency;
	}
}

static __int128 pow10_128(int k)
{
	static const uint64_t p[] = { 1ull,
				      10ull,
				      100ull,
				      1000ull,
				      10000ull,
				      100000ull,
				      1000000ull,
				      10000000ull,
				      100000000ull,
				      1000000000ull,
				      10000000000ull,
				      100000000000ull,
				      1000000000000ull,
				      10000000000000ull,
				      100000000000000ull,
				      1000000000000000ull,
				      10000000000000000ull,
				      100000000000000000ull,
				      1000000000000000000ull,
				      10000000000000000000ull };
	__int128 r;

	if (k <= 19)
		return k < 0 ? 1 : (__int128)p[k];
	r = (__int128)p[19];
	for (k -= 19; k > 0; k--)
		r *= 10;
	return r;
}

int mfs_convert(const struct mfs_coltype *ct, const char *s, size_t n, int decimal_comma,
		struct mfs_value *out)
{
	struct mfs_num num;
	struct mfs_dt dt;
	int b;

	out->type = ct->type;
	out->is_null = 0;
	switch (ct->type) {
	case MFS_T_NULL:
	case MFS_T_STRING:
		out->type = MFS_T_STRING;
		out->u.s.p = s;
		out->u.s.len = n;
		return 0;
	case MFS_T_BOOL:
		b = mfs_bool_parse(s, n, ct->declared);
		if (b < 0)
			return -1;
		out->u.b = b;
		return 0;
	case MFS_T_INT:
		if (mfs_num_parse(s, n, decimal_comma, 0, &num) < 0 || num.kind == MFS_NUM_DBL)
			return -1;
		if (!ct->declared && (num.leading_zero || num.currency))
			return -1;
		if (num.kind == MFS_NUM_DEC) {
			__int128 p = pow10_128(num.scale);

			if (num.v % p != 0)
				return -1;
			num.v /= p;
		}
		if (num.v > I64MAX || num.v < I64MIN)
			return -1;
		out->u.i = (int64_t)num.v;
		return 0;
	case MFS_T_DECIMAL: {
		__int128 lim = pow10_128(ct->width);

		if (mfs_num_parse(s, n, decimal_comma, 0, &num) < 0 || num.kind == MFS_NUM_DBL)
			return -1;
		if (!ct->declared && (num.leading_zero || (num.currency && num.currency != ct->currency)))
			return -1;
		if (num.scale > ct->scale) {
			__int128 p = pow10_128(num.scale - ct->scale);

			if (num.v % p != 0)
				return -1;
			num.v /= p;
		} else if (num.scale < ct->scale) {
			num.v *= pow10_128(ct->scale - num.scale);
		}
		if (num.v >= lim || num.v <= -lim)
			return -1;
		out->u.dec.v = num.v;
		out->u.dec.scale = ct->scale;
		return 0;
	}
	case MFS_T_DOUBLE:
		if (mfs_num_parse(s, n, decimal_comma,
				  MFS_NUM_WANT_DOUBLE | (ct->declared ? MFS_NUM_ALLOW_SPECIAL : 0),
				  &num) < 0)
			return -1;
		if (!ct->declared && (num.leading_zero || num.currency))
			return -1;
		out->u.d = num.d;
		return 0;
	case MFS_T_DATE:
	case MFS_T_TIMESTAMP:
		if (mfs_dt_parse(s, n, &dt) < 0)
			return -1;
		return mfs_dt_value(&dt, ct->order, ct->type == MFS_T_TIMESTAMP, out);
	}
	return -1;
}

/* Digits only in [p, e), at least one. */
static int all_digits(const char *p, const char *e)
{
	if (p >= e)
		return 0;
	for (; p < e; p++)
		if (!is_digit(*p))
			return 0;
	return 1;
}

int mfs_canonical(const struct mfs_coltype *ct, const char *s, size_t n)
{
	const char *p = s, *e = s + n, *dot;
	int neg = 0;

	if (ct->declared || n == 0)
		return 0;
	switch (ct->type) {
	case MFS_T_INT:
	case MFS_T_DECIMAL:
		if (*p == '-') {
			neg = 1;
			p++;
		}
		if (p >= e || e - p > 18)
			return 0;
		dot = ct->type == MFS_T_DECIMAL && ct->scale ? e - ct->scale - 1 : e;
		if (dot <= p || (dot < e && *dot != '.'))
			return 0;
		if (!all_digits(p, dot) || (dot < e && !all_digits(dot + 1, e)))
			return 0;
		/* no leading zero; no "-0", "-0.00" (printed without the sign) */
		if (*p == '0' && dot - p > 1)
			return 0;
		if (neg) {
			for (; p < e; p++)
				if (*p > '0' && *p <= '9')
					return 1;
			return 0;
		}
		return 1;
	case MFS_T_BOOL:
		return (n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0);
	case MFS_T_DATE:
		/* Pass 1 saw every value parse and exist: the layout is enough. */
		return n == 10 && all_digits(s, s + 4) && s[4] == '-' && all_digits(s + 5, s + 7) &&
		       s[7] == '-' && all_digits(s + 8, s + 10);
	case MFS_T_TIMESTAMP:
		return n == 19 && all_digits(s, s + 4) && s[4] == '-' && all_digits(s + 5, s + 7) &&
		       s[7] == '-' && all_digits(s + 8, s + 10) && s[10] == 'T' &&
		       all_digits(s + 11, s + 13) && s[13] == ':' && all_digits(s + 14, s + 16) &&
		       s[16] == ':' && all_digits(s + 17, s + 19);
	default:
		return 0;
	}
}
