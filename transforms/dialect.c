/*
 * dialect.c - the CSV dialect sniffer: delimiter, quote, preamble, comment
 * lines, trailing delimiter and header, found on a sample the way DuckDB's
 * sniffer finds them.
 *
 * Every candidate (delimiter , ; \t |, quote " or none, and, when a line of
 * the sample starts with '#', comment '#' or none) is run through the real
 * reader over the sample, so the sniffer and the reader can never disagree
 * on quoting. For each the column count of every record is kept, and:
 *  - the table's width is the most frequent count (the larger on a tie);
 *  - leading records of another width are a preamble (titles, notes) and
 *    become skip_lines, at most SNIFF_MAX_PREAMBLE of them;
 *  - consistent rows are the rows after the preamble with that width;
 *  - every row after the preamble ending in an empty, unquoted field means
 *    a trailing delimiter, which adds no column.
 * A candidate of two or more columns is a table when its width covers most
 * rows (ragged rows are allowed, silver deals with them) and at least two
 * (one if the sample holds only that one row). The best such candidate has the
 * most consistent rows less inconsistent ones (without a quote, the pieces
 * of a quoted multi-line field would otherwise count as rows); ties go to
 * more columns, then fewer inconsistent rows, then a shorter preamble (so a
 * '#' line is rather a comment than a preamble), then the order , ; \t |,
 * quote before none, no comment first.
 * A quoted field longer than the sample would lose to quote=none, whose
 * pieces of it look like rows: when the sample (not the whole input) ends
 * inside a quoted field that began in its first half, the sniffer answers
 * -EAGAIN and the caller tries again with a sample twice as large, up to
 * MFS_SNIFF_MAX_SAMPLE (then the sample decides as it is).
 * With no such candidate the file is one column, read with a delimiter that
 * does not occur in it; when every delimiter does occur, unevenly, it is
 * not a table. Binary data (more than one control character in 32, NUL
 * included) is not a table either; a few NUL bytes are damage that silver
 * rejects with their rows.
 *
 * Header rule: the first row after the preamble names the columns when
 * none of its values is typed (a number, date, time or true/false/yes/no),
 * and either
 *  - a column where it holds text has typed values in the later rows (all
 *    but at most one in ten of the non-empty ones), or
 *  - all its values are non-empty, distinct and short (at most
 *    SNIFF_MAX_NAME bytes, no line break), and none of them appears again
 *    in its column below - the all-text case, where nothing else can tell.
 * A single row (a header-only file) is a header by the second rule.
 */
#include "reader.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv_i.h"
#include "err.h"

/* Rows looked at per candidate, as DuckDB's default sample. */
#define SNIFF_MAX_ROWS 20480
#define SNIFF_MAX_PREAMBLE 50
#define SNIFF_MAX_NAME 128

static const char delimiters[] = { ',', ';', '\t', '|' };

/* What one record of a candidate parse tells. */
struct row {
	uint64_t line;
	uint32_t nfields;
	uint8_t trailing; /* ends in an empty unquoted field after a delimiter */
};

struct cand {
	struct mfs_csv_dialect d;
	int order;
	size_t ncols;   /* table width, trailing empty column not counted */
	size_t nrows;   /* rows after the preamble */
	size_t ncons;   /* of which have the table's width */
	size_t nskip;   /* preamble records */
	/* The same counted in input lines a row spans: a quoted field over 30
	 * lines is one consistent row of 30 lines for the right quote, and 30
	 * rows that may look consistent for quote=none. */
	size_t nlines, lcons;
	uint64_t cut_line; /* first line of a record the sample cut in a quoted field */
};

static int check_binary(const char *sample, size_t len)
{
	const unsigned char *p = (const unsigned char *)sample;
	size_t i, ctl = 0;

	for (i = 0; i < len; i++) {
		unsigned char ch;
		uint64_t w;

		/* Eight printable ASCII bytes at once: no byte < 0x20 or >= 0x7F. */
		while (i + 8 <= len) {
			memcpy(&w, p + i, 8);
			if (((w - 0x2020202020202020ULL) | (w + 0x0101010101010101ULL) | w) &
			    0x8080808080808080ULL)
				break;
			i += 8;
		}
		if (i == len)
			break;
		ch = p[i];

		/* C0 controls but tab and line ends, DEL, and U+0080..U+009F
		 * (C1 controls: what binary becomes when read as Latin-1) */
		if (ch < 0x20)
			ctl += ch != '\t' && ch != '\n' && ch != '\r';
		else if (ch == 0x7F)
			ctl++;
		else if (ch == 0xC2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F)
			ctl++;
	}
	if (ctl * 32 > len) {
		mfs_set_error("not a table: binary data (%zu control characters in %zu bytes)", ctl, len);
		return -EINVAL;
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The most frequent column count, the larger on a tie. */
static int mode_width(const struct row *rows, size_t n, uint32_t *width)
{
	struct {
		uint32_t value;
		size_t freq;
	} seen[16];
	size_t nseen = 0, i, j, run, best = 0;
	uint32_t *counts;

	/* Nearly always a handful of distinct counts: tally them. */
	for (i = 0; i < n; i++) {
		for (j = 0; j < nseen && seen[j].value != rows[i].nfields; j++)
			;
		if (j == nseen) {
			if (nseen == sizeof(seen) / sizeof(seen[0]))
				break;
			seen[nseen].value = rows[i].nfields;
			seen[nseen++].freq = 0;
		}
		seen[j].freq++;
	}
	if (i == n) {
		for (j = 0; j < nseen; j++) {
			if (seen[j].freq > best || (seen[j].freq == best && seen[j].value > *width)) {
				best = seen[j].freq;
				*width = seen[j].value;
			}
		}
		return 0;
	}
	/* Ragged beyond that: sort. */
	counts = malloc(n * sizeof(*counts));
	if (!counts)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		counts[i] = rows[i].nfields;
	qsort(counts, n, sizeof(*counts), cmp_u32);
	for (i = 0; i < n; i += run) {
		for (run = 1; i + run < n && counts[i + run] == counts[i]; run++)
			;
		if (run >= best) { /* ascending: a tie goes to the wider */
			best = run;
			*width = counts[i];
		}
	}
	free(counts);
	return 0;
}

/* Parse the sample with @c->d and fill in its counts. */
static int evaluate(const char *sample, size_t len, int at_eof, struct cand *c)
{
	struct mfs_source *src = mfs_source_mem(sample, len);
	struct mfs_reader *rd = NULL;
	const struct mfs_record *rec;
	struct row *rows = NULL;
	size_t n = 0, cap = 0, i;
	uint32_t width = 0;
	int r, last_error = 0, trailing = 1;

	if (!src)
		return -ENOMEM;
	r = mfs_csv_reader_open(src, &c->d, len + 1, 0, &rd);
	if (r)
		goto out;
	while (n < SNIFF_MAX_ROWS && (r = mfs_reader_next(rd, &rec)) == 1) {
		if (n == cap) {
			struct row *nr;

			cap = cap ? cap * 2 : 256;
			nr = realloc(rows, cap * sizeof(*nr));
			if (!nr) {
				r = -ENOMEM;
				goto out;
			}
			rows = nr;
		}
		rows[n].line = rec->line;
		rows[n].nfields = rec->nfields > UINT32_MAX ? UINT32_MAX : (uint32_t)rec->nfields;
		rows[n].trailing = rec->nfields > 1 && rec->fields[rec->nfields - 1].len == 0 &&
				   !rec->fields[rec->nfields - 1].quoted;
		last_error = rec->error != NULL;
		n++;
	}
	if (r < 0)
		goto out;
	r = 0;
	/* The sample was cut inside a quoted field: its last row is partial. */
	if (!at_eof && n && last_error)
		c->cut_line = rows[--n].line;
	if (!n)
		goto out;
	r = mode_width(rows, n, &width);
	if (r)
		goto out;
	while (c->nskip < n && c->nskip < SNIFF_MAX_PREAMBLE && rows[c->nskip].nfields != width)
		c->nskip++;
	if (c->nskip == n || c->nskip == SNIFF_MAX_PREAMBLE)
		c->nskip = 0;
	c->nrows = n - c->nskip;
	for (i = c->nskip; i < n; i++) {
		size_t span = i + 1 < n && rows[i + 1].line > rows[i].line
				      ? (size_t)(rows[i + 1].line - rows[i].line)
				      : 1;

		c->ncons += rows[i].nfields == width;
		c->nlines += span;
		if (rows[i].nfields == width)
			c->lcons += span;
		trailing &= rows[i].trailing;
	}
	c->d.trailing_delimiter = trailing && width > 1;
	c->ncols = width - (size_t)c->d.trailing_delimiter;
	c->d.skip_lines = c->nskip ? rows[c->nskip].line - 1 : 0;
out:
	mfs_reader_free(rd);
	mfs_source_close(src);
	free(rows);
	return r;
}

static int is_table(const struct cand *c)
{
	return c->ncols >= 2 && c->ncons * 2 > c->nrows &&
	       (c->ncons >= 2 || (c->nrows == 1 && !c->nskip));
}

/* Consistent rows less inconsistent ones, weighted by the lines each spans: a quote=none candidate that cuts
 * multi-line fields into pieces gains nothing from the pieces. */
static long long score(const struct cand *c)
{
	return 2 * (long long)c->lcons - (long long)c->nlines;
}

static int better(const struct cand *a, const struct cand *b)
{
	if (score(a) != score(b))
		return score(a) > score(b);
	if (a->ncols != b->ncols)
		return a->ncols > b->ncols;
	if (a->nrows - a->ncons != b->nrows - b->ncons)
		return a->nrows - a->ncons < b->nrows - b->ncons;
	if (a->nskip != b->nskip)
		return a->nskip < b->nskip;
	return a->order < b->order;
}

/* ---- header detection ---- */

/* @s (@n bytes) is the literal @lit, in any case. */
#define IEQ(s, n, lit) ((n) == sizeof(lit) - 1 && !strncasecmp(s, lit, sizeof(lit) - 1))

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* Empty or one of silver's null tokens: says nothing about a column. */
static int is_null(const char *s, size_t n)
{
	return !n || IEQ(s, n, "NULL") || IEQ(s, n, "N/A") || IEQ(s, n, "NA") ||
	       IEQ(s, n, "None") || IEQ(s, n, "-");
}

/* 1,234.5  -3  +1e9  (12.00)  $5  €1.234,56  12% */
static int is_number(const char *s, size_t n)
{
	size_t i = 0, digits = 0;

	if (n >= 2 && s[0] == '(' && s[n - 1] == ')') {
		s++;
		n -= 2;
	}
	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	if (i < n && s[i] == '$')
		i++;
	else if (n - i >= 2 && ((unsigned char)s[i] == 0xC2 && ((unsigned char)s[i + 1] == 0xA3 ||
							   (unsigned char)s[i + 1] == 0xA5)))
		i += 2; /* £ ¥ */
	else if (n - i >= 3 && !memcmp(s + i, "\xE2\x82\xAC", 3))
		i += 3; /* € */
	for (; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else if (s[i] != ',' && s[i] != '.')
			break;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E') && digits) {
		size_t d = 0;

		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			d++;
		if (!d)
			return 0;
	}
	if (i < n && s[i] == '%')
		i++;
	return digits && i == n;
}

/* 2024-01-02  01/02/2024  2024-01-02T03:04:05Z  12:30 */
static int is_datetime(const char *s, size_t n)
{
	size_t i, digits = 0, seps = 0;

	if (!n || n > 35 || s[0] < '0' || s[0] > '9')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else if (s[i] == '-' || s[i] == '/' || s[i] == ':')
			seps++;
		else if (!strchr(".TZ +", s[i]))
			return 0;
	}
	return seps && digits >= 2;
}

static int is_typed(const char *s, size_t n)
{
	return is_number(s, n) || is_datetime(s, n) || IEQ(s, n, "true") || IEQ(s, n, "false") ||
	       IEQ(s, n, "yes") || IEQ(s, n, "no");
}

struct column {
	const char *name; /* the first row's value, trimmed (points into @first) */
	size_t len;
	size_t typed, text;
	int repeated;     /* the first row's value appears again below */
};

static int detect_header(const char *sample, size_t len, struct mfs_csv_dialect *d)
{
	struct mfs_source *src = mfs_source_mem(sample, len);
	struct mfs_csv_dialect probe = *d;
	struct mfs_reader *rd = NULL;
	const struct mfs_record *rec;
	struct column *cols = NULL;
	char *first = NULL;
	size_t ncols = 0, nrows = 0, i, j, off = 0;
	int r, evidence = 0, names = 1;

	if (!src)
		return -ENOMEM;
	probe.header = 0;
	d->header = 0;
	r = mfs_csv_reader_open(src, &probe, len + 1, 0, &rd);
	if (r)
		goto out;
	while (nrows < SNIFF_MAX_ROWS && (r = mfs_reader_next(rd, &rec)) == 1) {
		if (!nrows) {
			ncols = rec->nfields;
			cols = calloc(ncols ? ncols : 1, sizeof(*cols));
			first = malloc(rec->raw_len + ncols + 1);
			if (!cols || !first) {
				r = -ENOMEM;
				goto out;
			}
			for (i = 0; i < ncols; i++) {
				const char *s = rec->fields[i].data;
				size_t n = rec->fields[i].len;

				trim(&s, &n);
				memcpy(first + off, s, n);
				cols[i].name = first + off;
				cols[i].len = n;
				off += n;
			}
		} else {
			for (i = 0; i < rec->nfields && i < ncols; i++) {
				const char *s = rec->fields[i].data;
				size_t n = rec->fields[i].len;

				trim(&s, &n);
				if (is_null(s, n))
					continue;
				if (is_typed(s, n))
					cols[i].typed++;
				else
					cols[i].text++;
				if (n == cols[i].len && !memcmp(s, cols[i].name, n))
					cols[i].repeated = 1;
			}
		}
		nrows++;
	}
	if (r < 0)
		goto out;
	r = 0;
	if (!nrows)
		goto out;
	for (i = 0; i < ncols; i++) {
		const struct column *c = &cols[i];

		if (is_null(c->name, c->len)) {
			names = 0;
			continue;
		}
		if (is_typed(c->name, c->len))
			goto out; /* a value, not a name */
		if (c->typed && c->text * 10 <= c->typed)
			evidence = 1;
		if (c->repeated || c->len > SNIFF_MAX_NAME || memchr(c->name, '\n', c->len) ||
		    memchr(c->name, '\r', c->len))
			names = 0;
		for (j = 0; j < i && names; j++)
			if (cols[j].len == c->len && !memcmp(cols[j].name, c->name, c->len))
				names = 0;
	}
	d->header = evidence || names;
out:
	mfs_reader_free(rd);
	mfs_source_close(src);
	free(cols);
	free(first);
	return r;
}

/* ---- the sniffer ---- */

/* Line ends in @s: LF, or CR in a file of CR line ends. */
static uint64_t count_lines(const char *s, size_t len)
{
	const char *p = s, *e = s + len;
	uint64_t n = 0;
	char eol = memchr(s, '\n', len) ? '\n' : '\r';

	while ((p = memchr(p, eol, (size_t)(e - p)))) {
		n++;
		p++;
	}
	return n + 1;
}

static int has_hash_line(const char *s, size_t len)
{
	const char *p = s, *e = s + len;

	while ((p = memchr(p, '#', (size_t)(e - p)))) {
		if (p == s || p[-1] == '\n' || p[-1] == '\r')
			return 1;
		p++;
	}
	return 0;
}

int mfs_dialect_sniff(const char *sample, size_t len, int at_eof, struct mfs_csv_dialect *out)
{
	struct cand best, c, one;
	size_t i, nq, nc;
	int r, have_best = 0, have_one = 0, comments, quotes, pass, grow = 0;
	uint64_t lines = 0; /* of the sample, counted once when a candidate needs them */

	memset(out, 0, sizeof(*out));
	out->delimiter = ',';
	out->quote = '"';
	out->header = 1;
	r = check_binary(sample, len);
	if (r)
		return r;
	/* Rows are whole lines: drop a last line the sample cuts. */
	if (!at_eof) {
		size_t cut = len;

		while (cut && sample[cut - 1] != '\n' && sample[cut - 1] != '\r')
			cut--;
		if (cut)
			len = cut;
	}
	comments = has_hash_line(sample, len);
	/*
	 * A delimiter that never occurs gives one column: only a fallback when
	 * no delimiter makes a table, so it is tried last and only then. With
	 * no quote in the sample, quoting changes nothing and the quoted
	 * candidate (lower order) wins every tie: the unquoted one is skipped.
	 * Either way the choice is the one trying every candidate would make.
	 */
	quotes = memchr(sample, '"', len) != NULL;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < sizeof(delimiters); i++) {
			int absent = !memchr(sample, delimiters[i], len);

			if (absent != pass)
				continue;
			for (nq = 0; nq < (quotes ? 2u : 1u); nq++) {
				for (nc = 0; nc <= (size_t)comments; nc++) {
					memset(&c, 0, sizeof(c));
					c.d.delimiter = delimiters[i];
					c.d.quote = nq ? 0 : '"';
					c.d.comment = nc ? '#' : 0;
					c.order = (int)(i * 4 + nq * 2 + nc);
					r = evaluate(sample, len, at_eof, &c);
					if (r)
						return r;
					if (c.cut_line && len < MFS_SNIFF_MAX_SAMPLE) {
						if (!lines)
							lines = count_lines(sample, len);
						if (c.cut_line * 2 <= lines)
							grow = 1;
					}
					if (is_table(&c)) {
						if (!have_best || better(&c, &best))
							best = c;
						have_best = 1;
					} else if (c.ncols <= 1 && c.ncons == c.nrows &&
						   (!have_one || better(&c, &one))) {
						one = c; /* the delimiter never occurs (or no rows) */
						have_one = 1;
					}
				}
			}
		}
		if (have_best)
			break;
	}
	if (grow) {
		mfs_set_error("a quoted field runs past the %zu-byte sample", len);
		return -EAGAIN;
	}
	if (!have_best && !have_one) {
		mfs_set_error("not a table: no delimiter gives a consistent column count");
		return -EINVAL;
	}
	if (!have_best)
		best = one;
	if (best.nrows == 0) {
		/* Empty, blank or comment lines only: nothing to tell, keep the default. */
		out->comment = best.d.comment;
		return 0;
	}
	r = detect_header(sample, len, &best.d);
	if (r)
		return r;
	*out = best.d;
	return 0;
}
