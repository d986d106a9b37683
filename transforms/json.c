/*
 * json.c - the JSON readers: JSON Lines (one object per line) and JSON
 * arrays (one top-level array of objects), both streamed through yajl's
 * callback parser in 64 KiB blocks, one record per mfs_reader_next().
 *
 * A record is one object, flattened: nested object keys are joined with '_'
 * ({"a":{"b":1}} gives a_b), an empty nested object is the JSON text "{}",
 * an array is kept as compact JSON text (re-serialised, so whitespace goes
 * and numbers stay as written), strings are unescaped UTF-8 (yajl lets lone
 * surrogates and overlong forms through; those become U+FFFD), numbers are
 * kept as written, and names come in document order, duplicates included
 * (silver makes them unique). Anything else where a record should be, JSON
 * that does not parse, nesting deeper than MFS_JSON_MAX_DEPTH or a record
 * past MFS_JSON_MAX_RECORD is a record with an error and its raw text.
 *
 * DESIGN: yajl cannot pause: a callback that returns 0 ends the parse for
 * good. Yet next() hands out one record at a time, with its line and raw
 * bytes. So for arrays a small scanner runs ahead of yajl over each block,
 * tracking strings, escapes and brackets just enough to see where an element
 * starts (its line; its raw text is copied from there) and where it ends;
 * yajl is fed up to that end and no further, and its callbacks build the
 * record. yajl does all the validating; the scanner and yajl can only
 * disagree on invalid JSON, which yajl then fails on, and the failure is
 * pinned down without yajl's error offset (which depends on how its input
 * was cut): bytes between elements are fed one at a time, so the failing
 * byte is known, and an element that fails is scanned on to its end without
 * yajl, so its raw text is whole. Records are thus the same whatever the
 * block boundaries (the fuzz target checks it). A syntax error ends an array
 * (there is no telling where the next element starts); an element that
 * parses but is no record (a number, a too-deep object) is skipped by yajl
 * as it goes on. JSON Lines need no scanner: a newline is never inside a
 * valid JSON value, so each line gets its own yajl handle, and a bad line
 * spoils only itself.
 */
#include "json_i.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "../util/buf.h"

#define JSON_BLOCK (64 * 1024)
/* Buffers that grew past this for one big record are given back after it. */
#define JSON_KEEP (1024 * 1024)

/* A field while its record is built: offsets, as the arena moves when it grows. */
struct jfield {
	size_t name_off, name_len;
	size_t data_off, data_len;
	enum mfs_field_kind kind;
};

enum array_state {
	A_START, /* before the outer '[' */
	A_IN,    /* inside the outer array */
	A_AFTER, /* after its ']': only white space may follow */
	A_BAD,   /* the top-level value is not an array: its first line is the record */
};

struct json_reader {
	struct mfs_reader base;
	struct mfs_source *src; /* not owned */
	enum mfs_json_shape shape;
	size_t max_raw, max_record;
	int max_depth;

	char *in; /* the block read last: in[off..len) is still to be looked at */
	size_t off, len;
	int eof;
	uint64_t line;    /* line of in[off] */
	int fatal;        /* sticky: the source failed, or out of memory */
	int done;         /* arrays: nothing after the last record */
	yajl_handle h;    /* arrays: one for the stream; lines: one per line */

	/* The record being built, by the yajl callbacks. */
	struct mfs_buf arena; /* field names and data */
	struct jfield *jf;
	size_t njf, jf_cap;
	struct mfs_buf path;  /* flattened name of the current key */
	size_t prefix[MFS_JSON_MAX_DEPTH + 2];       /* path length of each object level */
	unsigned char had_key[MFS_JSON_MAX_DEPTH + 2];
	unsigned char first[MFS_JSON_MAX_DEPTH + 2]; /* JSON text: nothing yet at this level */
	int rel;              /* containers open in the record, its object being 1 */
	int keep;             /* level of the array being kept as JSON text, or 0 */
	size_t keep_field;    /* its field */
	int after_key;        /* JSON text: a key was written, its value comes next */
	int ready;            /* the record's value is complete */
	int has_error;
	char reason[160];
	struct mfs_buf raw;
	int raw_cut;          /* raw reached max_raw */
	size_t rec_bytes;     /* input bytes of the record so far */
	uint64_t rec_line;
	struct mfs_field *fields;
	size_t fields_cap;
	struct mfs_record rec;

	/* JSON Lines: the line being read. */
	int line_open, nonblank, line_failed;

	/* Arrays: the scanner (see DESIGN). */
	enum array_state ast;
	int outer;            /* yajl has seen the outer '[' */
	int in_elem, edepth, in_str, esc, scalar;
	int drain;            /* the element failed: scan to its end without yajl */
};

/* White space as yajl has it: JSON's four, and \v and \f too. */
static int is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* ---- building a record ---- */

static void fail_rec(struct json_reader *r, const char *why)
{
	/* A malformed record keeps whole fields only: drop a half-kept array. */
	if (r->keep) {
		r->njf = r->keep_field;
		r->keep = 0;
	}
	if (r->has_error)
		return;
	r->has_error = 1;
	snprintf(r->reason, sizeof(r->reason), "%s", why);
}

static void fail_too_large(struct json_reader *r)
{
	char why[80];

	snprintf(why, sizeof(why), "record too large (over %zu bytes)", r->max_record);
	fail_rec(r, why);
}

/*
 * What a callback returns once the record is malformed: JSON Lines stop
 * parsing the line (nothing more of it matters), an array goes on so that
 * yajl finds the next element.
 */
static int cont(struct json_reader *r)
{
	return r->shape == MFS_JSON_ARRAY;
}

/* After a failed put: out of memory ends the parse, a size error is cont(). */
static int stop(struct json_reader *r)
{
	return r->fatal ? 0 : cont(r);
}

/* Append to @b (the arena or the path), within the record's memory budget. */
static int put_to(struct json_reader *r, struct mfs_buf *b, const void *p, size_t n)
{
	size_t used = r->arena.len + r->path.len +
		      r->njf * (sizeof(struct jfield) + sizeof(struct mfs_field));

	if (n > r->max_record || used > r->max_record - n) {
		fail_too_large(r);
		return -1;
	}
	if (mfs_buf_append(b, p, n)) {
		r->fatal = -ENOMEM;
		return -1;
	}
	return 0;
}

static int put(struct json_reader *r, const void *p, size_t n)
{
	return put_to(r, &r->arena, p, n);
}

/* Length of the well-formed UTF-8 sequence at @s (RFC 3629), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if (c < 0xe0)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c < 0xf0) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
			return 0; /* overlong; surrogate */
		return 3;
	}
	if (c < 0xf5) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
			return 0; /* overlong; past U+10FFFF */
		return 4;
	}
	return 0;
}

/*
 * Append a string from yajl to @b: invalid UTF-8 becomes U+FFFD; with
 * @quote, as a JSON string literal (quotes, backslashes and control
 * characters escaped).
 */
static int put_text(struct json_reader *r, struct mfs_buf *b, const unsigned char *s, size_t n,
		    int quote)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, run = 0;

	if (quote && put_to(r, b, "\"", 1))
		return -1;
	while (i < n) {
		unsigned char c = s[i];
		char esc[6];
		const char *rep;
		size_t rep_len, k;

		if (c >= 0x80) {
			k = utf8_seq(s + i, n - i);
			if (k) {
				i += k;
				continue;
			}
			rep = "\xef\xbf\xbd";
			rep_len = 3;
			/* yajl writes a lone \udc00 as the 3 bytes of a surrogate: one character */
			if (c == 0xed && n - i >= 3 && s[i + 1] >= 0xa0 && s[i + 1] <= 0xbf &&
			    (s[i + 2] & 0xc0) == 0x80) {
				if (put_to(r, b, s + run, i - run) || put_to(r, b, rep, rep_len))
					return -1;
				i += 3;
				run = i;
				continue;
			}
		} else if (!quote || (c >= 0x20 && c != '"' && c != '\\')) {
			i++;
			continue;
		} else {
			rep = esc;
			rep_len = 2;
			esc[0] = '\\';
			switch (c) {
			case '"': esc[1] = '"'; break;
			case '\\': esc[1] = '\\'; break;
			case '\b': esc[1] = 'b'; break;
			case '\f': esc[1] = 'f'; break;
			case '\n': esc[1] = 'n'; break;
			case '\r': esc[1] = 'r'; break;
			case '\t': esc[1] = 't'; break;
			default:
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				rep_len = 6;
			}
		}
		if (put_to(r, b, s + run, i - run) || put_to(r, b, rep, rep_len))
			return -1;
		run = ++i;
	}
	if (put_to(r, b, s + run, n - run))
		return -1;
	return quote ? put_to(r, b, "\"", 1) : 0;
}

/* A new field named by the current path; its data follows in the arena. */
static int field_begin(struct json_reader *r, enum mfs_field_kind kind)
{
	struct jfield *f;

	if (r->njf == r->jf_cap) {
		size_t cap = r->jf_cap ? r->jf_cap * 2 : 16;
		struct jfield *p = realloc(r->jf, cap * sizeof(*p));

		if (!p) {
			r->fatal = -ENOMEM;
			return -ENOMEM;
		}
		r->jf = p;
		r->jf_cap = cap;
	}
	f = &r->jf[r->njf];
	f->kind = kind;
	f->name_off = r->arena.len;
	f->name_len = r->path.len;
	if (put(r, r->path.data, r->path.len))
		return -1;
	f->data_off = r->arena.len;
	f->data_len = 0;
	r->njf++;
	return 0;
}

static void field_end(struct json_reader *r, size_t i)
{
	r->jf[i].data_len = r->arena.len - r->jf[i].data_off;
}

/* JSON text: the comma before a value or key, unless it comes first. */
static int json_sep(struct json_reader *r)
{
	if (r->after_key) {
		r->after_key = 0;
		return 0;
	}
	if (r->first[r->rel]) {
		r->first[r->rel] = 0;
		return 0;
	}
	return put(r, ",", 1);
}

/* ---- yajl callbacks ---- */

static int on_scalar(struct json_reader *r, enum mfs_field_kind kind, const unsigned char *s,
		     size_t n)
{
	if (r->rel == 0) {
		/* The record itself is a string, number, true, false or null. */
		if (r->ready) {
			fail_rec(r, "invalid JSON");
			return 0;
		}
		fail_rec(r, "not a JSON object");
		r->ready = 1;
		return cont(r);
	}
	if (r->has_error)
		return cont(r);
	if (r->keep) {
		if (json_sep(r) ||
		    (kind == MFS_FIELD_TEXT ? put_text(r, &r->arena, s, n, 1) : put(r, s, n)))
			return stop(r);
		return 1;
	}
	if (field_begin(r, kind))
		return stop(r);
	if (kind == MFS_FIELD_TEXT ? put_text(r, &r->arena, s, n, 0)
				   : put(r, s, kind == MFS_FIELD_NULL ? 0 : n)) {
		r->njf--; /* not half a value */
		return stop(r);
	}
	field_end(r, r->njf - 1);
	return 1;
}

static int cb_null(void *ctx)
{
	return on_scalar(ctx, MFS_FIELD_NULL, (const unsigned char *)"null", 4);
}

static int cb_boolean(void *ctx, int b)
{
	return on_scalar(ctx, MFS_FIELD_BOOL, (const unsigned char *)(b ? "true" : "false"),
			 b ? 4 : 5);
}

static int cb_number(void *ctx, const char *s, size_t n)
{
	return on_scalar(ctx, MFS_FIELD_NUMBER, (const unsigned char *)s, n);
}

static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
	return on_scalar(ctx, MFS_FIELD_TEXT, s, n);
}

static int on_start(struct json_reader *r, int is_map)
{
	if (r->shape == MFS_JSON_ARRAY && !r->outer) {
		r->outer = 1; /* the scanner saw to it that this is a '[' */
		return 1;
	}
	if (r->rel == 0) {
		if (r->ready) {
			fail_rec(r, "invalid JSON");
			return 0;
		}
		if (!is_map)
			fail_rec(r, "not a JSON object");
	}
	if (!r->has_error && r->rel >= r->max_depth) {
		char why[64];

		snprintf(why, sizeof(why), "nesting deeper than %d levels", r->max_depth);
		fail_rec(r, why);
	}
	/* The comma goes by the enclosing level, so before rel moves on. */
	if (!r->has_error && r->keep && !json_sep(r))
		put(r, is_map ? "{" : "[", 1);
	r->rel++;
	if (r->has_error || r->fatal)
		return stop(r);
	if (r->keep) {
		r->first[r->rel] = 1;
		return 1;
	}
	if (!is_map) {
		if (field_begin(r, MFS_FIELD_JSON))
			return stop(r);
		if (put(r, "[", 1)) {
			r->njf--;
			return stop(r);
		}
		r->keep = r->rel;
		r->keep_field = r->njf - 1;
		r->first[r->rel] = 1;
		r->after_key = 0;
		return 1;
	}
	r->prefix[r->rel] = r->rel > 1 ? r->path.len : 0;
	r->had_key[r->rel] = 0;
	return 1;
}

static int on_end(struct json_reader *r, int is_map)
{
	int level = r->rel;

	if (level == 0)
		return 1; /* the outer array of MFS_JSON_ARRAY */
	r->rel--;
	if (!r->has_error) {
		if (r->keep) {
			if (put(r, is_map ? "}" : "]", 1))
				return stop(r);
			if (level == r->keep) {
				field_end(r, r->keep_field);
				r->keep = 0;
			}
		} else if (level > 1 && !r->had_key[level]) {
			/* {"a":{}}: keep the key, as an empty object */
			r->path.len = r->prefix[level];
			if (field_begin(r, MFS_FIELD_JSON))
				return stop(r);
			if (put(r, "{}", 2)) {
				r->njf--;
				return stop(r);
			}
			field_end(r, r->njf - 1);
		}
	}
	if (r->rel == 0)
		r->ready = 1;
	return r->has_error ? cont(r) : 1;
}

static int cb_start_map(void *ctx)
{
	return on_start(ctx, 1);
}

static int cb_end_map(void *ctx)
{
	return on_end(ctx, 1);
}

static int cb_start_array(void *ctx)
{
	return on_start(ctx, 0);
}

static int cb_end_array(void *ctx)
{
	return on_end(ctx, 0);
}

static int cb_map_key(void *ctx, const unsigned char *s, size_t n)
{
	struct json_reader *r = ctx;

	if (r->has_error)
		return cont(r);
	if (r->keep) {
		if (json_sep(r) || put_text(r, &r->arena, s, n, 1) || put(r, ":", 1))
			return stop(r);
		r->after_key = 1;
		return 1;
	}
	r->had_key[r->rel] = 1;
	r->path.len = r->prefix[r->rel];
	if ((r->rel > 1 && put_to(r, &r->path, "_", 1)) || put_text(r, &r->path, s, n, 0))
		return stop(r);
	return 1;
}

static const yajl_callbacks callbacks = {
	.yajl_null = cb_null,
	.yajl_boolean = cb_boolean,
	.yajl_number = cb_number,
	.yajl_string = cb_string,
	.yajl_start_map = cb_start_map,
	.yajl_map_key = cb_map_key,
	.yajl_end_map = cb_end_map,
	.yajl_start_array = cb_start_array,
	.yajl_end_array = cb_end_array,
};

/* ---- records ---- */

static void shrink(struct mfs_buf *b)
{
	if (b->cap > JSON_KEEP)
		mfs_buf_free(b);
	b->len = 0;
}

/* Forget the record handed out last. */
static void rec_reset(struct json_reader *r)
{
	shrink(&r->arena);
	shrink(&r->path);
	shrink(&r->raw);
	if (r->jf_cap > JSON_KEEP / sizeof(*r->jf)) {
		free(r->jf);
		free(r->fields);
		r->jf = NULL;
		r->fields = NULL;
		r->jf_cap = r->fields_cap = 0;
	}
	r->njf = 0;
	r->rel = 0;
	r->keep = 0;
	r->after_key = 0;
	r->ready = 0;
	r->has_error = 0;
	r->reason[0] = '\0';
	r->raw_cut = 0;
	r->rec_bytes = 0;
}

static void raw_append(struct json_reader *r, const char *p, size_t n)
{
	size_t room = r->max_raw - r->raw.len;

	if (n > room) {
		n = room;
		r->raw_cut = 1;
	}
	if (n && mfs_buf_append(&r->raw, p, n))
		r->fatal = -ENOMEM;
}

/* A raw text cut at max_raw ends at a character boundary. */
static void raw_trim(struct json_reader *r)
{
	size_t len = r->raw.len, i = len, back = 0;

	while (i > 0 && back < 4 && ((unsigned char)r->raw.data[i - 1] & 0xc0) == 0x80) {
		i--;
		back++;
	}
	if (i > 0 && (unsigned char)r->raw.data[i - 1] >= 0xc0) {
		i--;
		if (utf8_seq((const unsigned char *)r->raw.data + i, len - i) != len - i)
			r->raw.len = i;
	}
}

/* Point the public record at what was built. */
static void rec_publish(struct json_reader *r)
{
	const char *base = r->arena.data ? r->arena.data : "";
	size_t i;

	if (r->njf > r->fields_cap) {
		struct mfs_field *p = realloc(r->fields, r->jf_cap * sizeof(*p));

		if (!p) {
			r->fatal = -ENOMEM;
			return;
		}
		r->fields = p;
		r->fields_cap = r->jf_cap;
	}
	for (i = 0; i < r->njf; i++) {
		const struct jfield *f = &r->jf[i];

		r->fields[i] = (struct mfs_field){
			.data = base + f->data_off,
			.len = f->data_len,
			.kind = f->kind,
			.name = base + f->name_off,
			.name_len = f->name_len,
		};
	}
	if (r->raw_cut)
		raw_trim(r);
	r->rec.fields = r->fields;
	r->rec.nfields = r->njf;
	r->rec.line = r->rec_line;
	r->rec.raw = r->raw.data ? r->raw.data : "";
	r->rec.raw_len = r->raw.len;
	r->rec.error = r->has_error ? r->reason : NULL;
}

/* The reason from a yajl error, "invalid JSON: premature EOF"; wins over others. */
static void yajl_reason(struct json_reader *r)
{
	unsigned char *msg = yajl_get_error(r->h, 0, NULL, 0);
	const char *m = msg ? (const char *)msg : "";
	size_t n;

	if (!strncmp(m, "parse error: ", 13))
		m += 13;
	else if (!strncmp(m, "lexical error: ", 15))
		m += 15;
	n = strlen(m);
	while (n && (m[n - 1] == '\n' || m[n - 1] == '.'))
		n--;
	fail_rec(r, "invalid JSON"); /* for what it drops; the reason is overwritten */
	snprintf(r->reason, sizeof(r->reason), "invalid JSON: %.*s", (int)n, m);
	if (msg)
		yajl_free_error(r->h, msg);
}

static int fill(struct json_reader *r)
{
	ssize_t n = mfs_source_read(r->src, r->in, JSON_BLOCK);

	r->off = 0;
	r->len = 0;
	if (n < 0) {
		r->fatal = (int)n;
		return (int)n;
	}
	if (n == 0)
		r->eof = 1;
	r->len = (size_t)n;
	return 0;
}

/* ---- JSON Lines ---- */

/*
 * Feed a piece of the line to yajl. Only the first max_record bytes of a line
 * are fed, so whichever comes first, a syntax error or the size limit, is
 * the reason, however the input was cut into blocks.
 */
static void line_feed(struct json_reader *r, const char *p, size_t n)
{
	size_t room, take;
	yajl_status st;

	if (!r->nonblank) {
		size_t i = 0;

		while (i < n && is_ws((unsigned char)p[i]))
			i++;
		r->rec_bytes += i;
		p += i;
		n -= i;
		if (!n)
			return;
		r->nonblank = 1;
		r->h = yajl_alloc(&callbacks, NULL, r);
		if (!r->h) {
			r->fatal = -ENOMEM;
			return;
		}
	}
	if (r->line_failed)
		return;
	room = r->rec_bytes < r->max_record ? r->max_record - r->rec_bytes : 0;
	take = n < room ? n : room;
	r->rec_bytes += take;
	if (take) {
		st = yajl_parse(r->h, (const unsigned char *)p, take);
		if (st != yajl_status_ok) {
			r->line_failed = 1;
			if (st == yajl_status_error)
				yajl_reason(r);
			return;
		}
	}
	if (take < n) {
		fail_too_large(r);
		r->line_failed = 1;
	}
}

/* 1: a record; 0: the line was blank. */
static int line_finish(struct json_reader *r)
{
	r->line_open = 0;
	if (!r->nonblank) {
		r->base.skipped_lines++;
		return 0;
	}
	if (!r->line_failed && !r->fatal) {
		yajl_status st = yajl_complete_parse(r->h);

		if (st == yajl_status_error)
			yajl_reason(r);
	}
	if (!r->ready)
		fail_rec(r, "not a JSON object");
	if (!r->raw_cut && r->raw.len && r->raw.data[r->raw.len - 1] == '\r')
		r->raw.len--;
	yajl_free(r->h);
	r->h = NULL;
	r->nonblank = 0;
	r->line_failed = 0;
	return 1;
}

static int lines_next(struct json_reader *r)
{
	for (;;) {
		const char *p, *nl;
		size_t n;

		if (r->fatal)
			return r->fatal;
		if (r->off == r->len) {
			if (!r->eof) {
				if (fill(r))
					return r->fatal;
				continue;
			}
			if (!r->line_open)
				return 0;
			if (line_finish(r))
				return 1;
			continue;
		}
		if (!r->line_open) {
			r->line_open = 1;
			r->rec_line = r->line;
			shrink(&r->raw);
			r->raw_cut = 0;
			r->rec_bytes = 0;
		}
		p = r->in + r->off;
		nl = memchr(p, '\n', r->len - r->off);
		n = nl ? (size_t)(nl - p) : r->len - r->off;
		raw_append(r, p, n);
		line_feed(r, p, n);
		r->off += n;
		if (nl) {
			r->off++;
			r->line++;
			if (line_finish(r))
				return r->fatal ? r->fatal : 1;
		}
	}
}

/* ---- arrays ---- */

/* Feed yajl an element's bytes: 0, or 1 when the parse ended (the reason is set). */
static int array_feed(struct json_reader *r, const char *p, size_t n)
{
	yajl_status st;

	if (!n)
		return 0;
	st = yajl_parse(r->h, (const unsigned char *)p, n);
	if (st == yajl_status_ok)
		return 0;
	if (r->fatal)
		return r->fatal;
	if (st == yajl_status_error)
		yajl_reason(r);
	else
		fail_rec(r, "invalid JSON");
	return 1;
}

/* The record of a failure that ends the array. */
static int array_end_with(struct json_reader *r)
{
	r->done = 1;
	return 1;
}

/*
 * Feed yajl in[from..to), the bytes between elements (white space, commas,
 * the outer brackets: a few per element). They go one at a time: on an error
 * the failing byte is then known exactly (yajl's offset after an error
 * depends on how its input was cut), and the record is that byte, with its
 * line. 1 then; else 0, or -errno.
 */
static int array_feed_between(struct json_reader *r, size_t from, size_t to, uint64_t line)
{
	size_t j;

	for (j = from; j < to; j++) {
		unsigned char c = (unsigned char)r->in[j];
		int ret = array_feed(r, r->in + j, 1);

		if (ret < 0)
			return ret;
		if (ret > 0) {
			r->rec_line = line;
			r->raw.len = 0;
			if (!is_ws(c))
				raw_append(r, r->in + j, 1);
			return array_end_with(r);
		}
		if (c == '\n')
			line++;
	}
	return 0;
}

/* The bytes the scanner must look at inside a string, a scalar, a container. */
static const unsigned char stop_str[256] = { ['"'] = 1, ['\\'] = 1, ['\n'] = 1 };
static const unsigned char stop_scalar[256] = {
	[' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1, [','] = 1, [']'] = 1,
};
static const unsigned char stop_cont[256] = {
	['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1, ['\n'] = 1,
};

static void elem_begin(struct json_reader *r)
{
	r->in_elem = 1;
	r->rec_line = r->line;
	r->raw.len = 0;
	r->raw_cut = 0;
	r->rec_bytes = 0;
	r->edepth = r->in_str = r->esc = r->scalar = 0;
}

/* The top-level value is not an array: its first line is the one record. */
static int array_bad_top(struct json_reader *r)
{
	const char *p = r->in + r->off;
	const char *nl = memchr(p, '\n', r->len - r->off);
	size_t n = nl ? (size_t)(nl - p) : r->len - r->off;

	raw_append(r, p, n);
	r->off += n;
	if (!nl && !r->eof && !r->raw_cut)
		return 0;
	if (!r->raw_cut && r->raw.len && r->raw.data[r->raw.len - 1] == '\r')
		r->raw.len--;
	fail_rec(r, "top-level value is not an array");
	r->done = 1;
	return 1;
}

/*
 * Scan in[off..len) up to the end of the next element, copy its raw text,
 * feed it to yajl. 1: a record is ready; 0: more input needed; -errno.
 *
 * Once yajl fails inside an element, or the element passes max_record
 * (only that many of its bytes are fed), the scanner goes on alone to the
 * element's end (or max_raw) so that the raw text, like the reason, does not
 * depend on where the blocks were cut ("draining").
 */
static int array_step(struct json_reader *r)
{
	const char *buf = r->in;
	size_t i = r->off, end = r->len, from = r->off;
	uint64_t from_line = r->line;
	size_t raw_from = i, raw_to = 0, n;
	const unsigned char *tbl;
	int elem_end = 0, ret;

	if (r->ast == A_BAD)
		return array_bad_top(r);
	for (; i < end; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (!r->in_elem) {
			if (is_ws(c)) {
				if (c == '\n')
					r->line++;
				continue;
			}
			if (r->ast == A_START) {
				if (c != '[') {
					r->ast = A_BAD;
					r->off = i;
					r->rec_line = r->line;
					return array_bad_top(r);
				}
				r->ast = A_IN;
				continue;
			}
			if (r->ast == A_IN && c == ',')
				continue;
			if (r->ast == A_IN && c == ']') {
				r->ast = A_AFTER;
				continue;
			}
			/* An element starts (or trailing garbage, which yajl refuses). */
			ret = array_feed_between(r, from, i, from_line);
			if (ret) {
				r->off = i;
				return ret;
			}
			from = raw_from = i;
			from_line = r->line;
			elem_begin(r);
			if (c == '{' || c == '[')
				r->edepth = 1;
			else if (c == '"')
				r->in_str = 1;
			else
				r->scalar = 1;
			continue;
		}
		if (r->esc) {
			r->esc = 0;
			if (c == '\n')
				r->line++;
			continue;
		}
		/* Skip, fast, what changes nothing in this state. */
		tbl = r->in_str ? stop_str : r->scalar ? stop_scalar : stop_cont;
		while (!tbl[c]) {
			if (++i == end)
				goto scanned;
			c = (unsigned char)buf[i];
		}
		if (c == '\n')
			r->line++;
		if (r->in_str) {
			if (c == '\\') {
				r->esc = 1;
			} else if (c == '"') {
				r->in_str = 0;
				if (r->edepth == 0) {
					raw_to = ++i;
					elem_end = 1;
					break;
				}
			}
			continue;
		}
		if (r->scalar) {
			if (is_ws(c) || c == ',' || c == ']') {
				/* Fed with its terminator: yajl cannot end a number without. */
				if (c == ']' && r->ast == A_IN)
					r->ast = A_AFTER;
				raw_to = i++;
				elem_end = 1;
				break;
			}
			continue;
		}
		if (c == '"') {
			r->in_str = 1;
		} else if (c == '{' || c == '[') {
			r->edepth++;
		} else if ((c == '}' || c == ']') && --r->edepth == 0) {
			raw_to = ++i;
			elem_end = 1;
			break;
		}
	}
scanned:
	r->off = i;
	if (!r->in_elem)
		return array_feed_between(r, from, i, from_line);
	raw_append(r, buf + raw_from, (elem_end ? raw_to : i) - raw_from);
	if (!r->drain) {
		size_t room = r->max_record - r->rec_bytes;
		int over = 0;

		n = i - from;
		if (n > room) {
			n = room;
			over = 1;
		}
		r->rec_bytes += n;
		ret = array_feed(r, buf + from, n);
		if (ret < 0)
			return ret;
		if (!ret && over)
			fail_too_large(r);
		if (ret || over)
			r->drain = 1;
	}
	if (r->drain)
		return elem_end || r->raw_cut ? array_end_with(r) : 0;
	if (!elem_end)
		return 0;
	if (!r->ready) {
		/* Never seen with valid JSON; if it were, trusting yajl is safer. */
		fail_rec(r, "invalid JSON");
		return array_end_with(r);
	}
	r->in_elem = 0;
	return 1;
}

static int array_eof(struct json_reader *r)
{
	yajl_status st;

	if (r->ast == A_START) {
		r->done = 1; /* empty input: no records */
		return 0;
	}
	if (r->ast == A_BAD)
		return array_bad_top(r);
	if (r->drain)
		return array_end_with(r);
	st = yajl_complete_parse(r->h);
	if (r->fatal)
		return r->fatal;
	if (st == yajl_status_ok) {
		r->done = 1;
		return 0;
	}
	if (st == yajl_status_error)
		yajl_reason(r);
	else
		fail_rec(r, "invalid JSON");
	if (!r->in_elem) {
		r->raw.len = 0;
		r->rec_line = r->line;
	}
	return array_end_with(r);
}

static int array_next(struct json_reader *r)
{
	for (;;) {
		int ret;

		if (r->fatal)
			return r->fatal;
		if (r->done)
			return 0;
		if (r->off == r->len) {
			if (!r->eof) {
				if (fill(r))
					return r->fatal;
				continue;
			}
			ret = array_eof(r);
		} else {
			ret = array_step(r);
		}
		if (ret)
			return ret;
	}
}

/* ---- the reader ---- */

static int json_next(struct mfs_reader *base, const struct mfs_record **rec)
{
	struct json_reader *r = (struct json_reader *)base;
	int ret;

	if (r->fatal)
		return r->fatal;
	rec_reset(r);
	ret = r->shape == MFS_JSON_LINES ? lines_next(r) : array_next(r);
	if (ret <= 0)
		return ret;
	rec_publish(r);
	if (r->fatal)
		return r->fatal;
	*rec = &r->rec;
	return 1;
}

static void json_free(struct mfs_reader *base)
{
	struct json_reader *r = (struct json_reader *)base;

	if (r->h)
		yajl_free(r->h);
	mfs_buf_free(&r->arena);
	mfs_buf_free(&r->path);
	mfs_buf_free(&r->raw);
	free(r->jf);
	free(r->fields);
	free(r->in);
	free(r);
}

static const struct mfs_reader_ops json_ops = {
	.next = json_next,
	.free = json_free,
};

int mfs_json_reader_new(struct mfs_source *src, enum mfs_json_shape shape,
			struct mfs_reader **out)
{
	struct json_reader *r;

	*out = NULL;
	if (!src || (shape != MFS_JSON_LINES && shape != MFS_JSON_ARRAY))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->base.ops = &json_ops;
	r->src = src;
	r->shape = shape;
	r->max_raw = MFS_JSON_MAX_RAW;
	r->max_record = MFS_JSON_MAX_RECORD;
	r->max_depth = MFS_JSON_MAX_DEPTH;
	r->line = 1;
	r->in = malloc(JSON_BLOCK);
	if (shape == MFS_JSON_ARRAY)
		r->h = yajl_alloc(&callbacks, NULL, r);
	if (!r->in || (shape == MFS_JSON_ARRAY && !r->h)) {
		json_free(&r->base);
		return -ENOMEM;
	}
	*out = &r->base;
	return 0;
}

int mfs_json_reader_set_limits(struct mfs_reader *base, size_t max_raw, size_t max_record,
			       int max_depth)
{
	struct json_reader *r = (struct json_reader *)base;

	if (!base || base->ops != &json_ops || !max_raw || !max_record || max_depth < 1 ||
	    max_depth > MFS_JSON_MAX_DEPTH)
		return -EINVAL;
	r->max_raw = max_raw;
	r->max_record = max_record;
	r->max_depth = max_depth;
	return 0;
}
