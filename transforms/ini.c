/*
 * ini.c - the INI reader under the pipeline file (SPEC §6).
 *
 * Our own because the pipeline file holds SQL: a value continues on every
 * following line that starts with white space; '#' and ';' start a comment
 * only as the first non-blank character of a line (so "a ; b" and "x # y"
 * inside a value stay in it); lines have no length limit; every error names
 * its line. libinih splits long lines, treats " ;" as a comment and gives no
 * line numbers.
 *
 * Positions: continuation lines are kept verbatim (indentation included,
 * trailing white space removed), so a position inside a value maps back to
 * the file: on the value's first line it is value_col plus the offset, on
 * later lines the column is the offset in that line. Blank and comment lines
 * between continuation lines become empty lines of the value for the same
 * reason; at its end they are dropped. Columns count bytes, from 1, after a
 * UTF-8 byte order mark on the first line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../util/buf.h"
#include "pipeline.h"

struct ini_state {
	struct mfs_buf section;
	struct mfs_buf key;
	struct mfs_buf value;
	int pending;      /* a key = value is being read */
	int has_value;    /* the value has its first non-blank line */
	int blank;        /* blank/comment lines since the last value line */
	struct mfs_ini_entry e;
	mfs_ini_fn fn;
	void *arg;
	char *err;
	size_t errlen;
};

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static int ini_fail(struct ini_state *st, int line, const char *msg)
{
	snprintf(st->err, st->errlen, "%d: %s", line, msg);
	return -EINVAL;
}

static int flush(struct ini_state *st)
{
	int rc;

	if (!st->pending)
		return 0;
	st->pending = 0;
	st->e.section = st->section.data ? st->section.data : "";
	st->e.key = st->key.data;
	st->e.value = st->value.data ? st->value.data : "";
	rc = st->fn(st->arg, &st->e, st->err, st->errlen);
	mfs_buf_reset(&st->value);
	return rc;
}

/* "[ dataset   sales ]" -> "dataset sales" */
static int set_section(struct ini_state *st, const char *p, size_t n, int line)
{
	size_t i;
	int space = 0, rc;

	mfs_buf_reset(&st->section);
	rc = mfs_buf_append(&st->section, "", 0);
	for (i = 0; i < n && !rc; i++) {
		if (is_blank(p[i])) {
			space = 1;
			continue;
		}
		if (space && st->section.len)
			rc = mfs_buf_append(&st->section, " ", 1);
		space = 0;
		if (!rc)
			rc = mfs_buf_append(&st->section, p + i, 1);
	}
	if (rc)
		return ini_fail(st, line, "out of memory");
	if (!st->section.len)
		return ini_fail(st, line, "empty section name");
	memset(&st->e, 0, sizeof(st->e));
	st->e.section = st->section.data;
	st->e.line = st->e.value_line = line;
	st->e.value_col = 1;
	return st->fn(st->arg, &st->e, st->err, st->errlen);
}

static int key_value(struct ini_state *st, const char *p, size_t n, int line)
{
	const char *eq = memchr(p, '=', n);
	size_t k, klen, v;
	int rc;

	if (!eq)
		return ini_fail(st, line, "expected 'key = value' or '[section]'");
	klen = (size_t)(eq - p);
	while (klen && is_blank(p[klen - 1]))
		klen--;
	if (!klen)
		return ini_fail(st, line, "empty key before '='");
	mfs_buf_reset(&st->key);
	rc = mfs_buf_append(&st->key, p, klen);
	for (k = 0; k < klen && !rc; k++)
		if (st->key.data[k] >= 'A' && st->key.data[k] <= 'Z')
			st->key.data[k] += 32;
	for (v = (size_t)(eq - p) + 1; v < n && is_blank(p[v]); v++)
		;
	mfs_buf_reset(&st->value);
	if (!rc)
		rc = mfs_buf_append(&st->value, p + v, n - v);
	if (rc)
		return ini_fail(st, line, "out of memory");
	st->pending = 1;
	st->has_value = v < n;
	st->blank = 0;
	st->e.line = st->e.value_line = line;
	st->e.value_col = (int)v + 1;
	return 0;
}

static int continuation(struct ini_state *st, const char *p, size_t n, size_t lead, int line)
{
	int rc = 0;

	if (!st->pending)
		return ini_fail(st, line, "indented line without a key (a value continues only "
					  "after 'key = value')");
	if (!st->has_value) {
		/* "sql =" alone: the value starts here */
		st->has_value = 1;
		st->e.value_line = line;
		st->e.value_col = (int)lead + 1;
		rc = mfs_buf_append(&st->value, p + lead, n - lead);
	} else {
		for (; st->blank >= 0 && !rc; st->blank--)
			rc = mfs_buf_append(&st->value, "\n", 1);
		if (!rc)
			rc = mfs_buf_append(&st->value, p, n);
	}
	st->blank = 0;
	return rc ? ini_fail(st, line, "out of memory") : 0;
}

int mfs_ini_parse(const char *text, size_t len, mfs_ini_fn fn, void *arg, char *err,
		  size_t errlen)
{
	struct ini_state st;
	size_t pos = 0, end, n, lead;
	const char *p, *nl;
	int line = 0, rc = 0;

	memset(&st, 0, sizeof(st));
	st.fn = fn;
	st.arg = arg;
	st.err = err;
	st.errlen = errlen;
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		pos = 3; /* columns of the first line count from after the mark */
	while (pos < len && !rc) {
		line++;
		p = text + pos;
		nl = memchr(p, '\n', len - pos);
		end = nl ? (size_t)(nl - text) : len;
		n = end - pos;
		pos = nl ? end + 1 : len;
		if (memchr(p, '\0', n)) {
			rc = ini_fail(&st, line, "NUL byte in the file");
			break;
		}
		while (n && is_blank(p[n - 1]))
			n--;
		for (lead = 0; lead < n && is_blank(p[lead]); lead++)
			;
		if (lead == n || p[lead] == '#' || p[lead] == ';') {
			/* blank or comment: inside a value it keeps the line count */
			if (st.pending && st.has_value)
				st.blank++;
		} else if (lead) {
			rc = continuation(&st, p, n, lead, line);
			/* a continuation line's columns are its own: see above */
		} else {
			rc = flush(&st);
			if (rc)
				break;
			if (p[0] == '[') {
				if (p[n - 1] == ']')
					rc = set_section(&st, p + 1, n - 2, line);
				else
					rc = ini_fail(&st, line, "expected ']' at the end of the "
								 "section header");
			} else {
				rc = key_value(&st, p, n, line);
			}
		}
	}
	if (!rc)
		rc = flush(&st);
	mfs_buf_free(&st.section);
	mfs_buf_free(&st.key);
	mfs_buf_free(&st.value);
	return rc;
}
