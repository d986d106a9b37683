/*
 * test_json.c - the JSON Lines and JSON array readers.
 *
 * Every input is read twice, from one memory block and from a source that
 * gives 1..7 bytes per read, and both must give the same records: the array
 * scanner and yajl meet chunk boundaries everywhere. Records are compared as
 * a text dump, one line per record: "LINE: name=K:data ..." with K one of
 * T(ext) N(umber) B(ool) Z (null) J(SON), or "LINE: !reason |raw|" for a
 * malformed one (yajl's own wording is folded to "invalid JSON").
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json_i.h"
#include "reader.h"
#include "stream.h"
#include "unit.h"

/* A source handing out 1, 2, ... 7, 1, ... bytes per read. */
struct chunk_source {
	struct mfs_source src;
	const char *data;
	size_t len, off;
	unsigned step;
	int fail_at; /* >= 0: fail with -EIO once off reaches it */
};

static ssize_t chunk_read(struct mfs_source *src, void *buf, size_t len)
{
	struct chunk_source *c = (struct chunk_source *)src;
	size_t n = 1 + c->step++ % 7;

	if (c->fail_at >= 0 && c->off >= (size_t)c->fail_at)
		return -EIO;
	if (n > len)
		n = len;
	if (n > c->len - c->off)
		n = c->len - c->off;
	memcpy(buf, c->data + c->off, n);
	c->off += n;
	return (ssize_t)n;
}

static void chunk_init(struct chunk_source *c, const char *data, size_t len)
{
	memset(c, 0, sizeof(*c));
	c->src.read = chunk_read;
	c->data = data;
	c->len = len;
	c->fail_at = -1;
}

static const char kind_letter[] = { 'T', 'N', 'B', 'Z', 'J' };

/* The records of @src as text; returns the reader's final status (0 or -errno). */
static int dump_source(struct mfs_source *src, enum mfs_json_shape shape, struct mfs_buf *out,
		       uint64_t *skipped, size_t max_raw, size_t max_record, int max_depth)
{
	struct mfs_reader *r = NULL;
	const struct mfs_record *rec;
	int ret;

	ret = mfs_json_reader_new(src, shape, &r);
	if (ret)
		return ret;
	if (max_raw && mfs_json_reader_set_limits(r, max_raw, max_record, max_depth)) {
		mfs_reader_free(r);
		return -EINVAL;
	}
	while ((ret = mfs_reader_next(r, &rec)) == 1) {
		size_t i;

		mfs_buf_appendf(out, "%llu:", (unsigned long long)rec->line);
		if (rec->error) {
			const char *why = rec->error;

			if (!strncmp(why, "invalid JSON", 12))
				why = "invalid JSON";
			mfs_buf_appendf(out, " !%s |%.*s|\n", why, (int)rec->raw_len, rec->raw);
			continue;
		}
		for (i = 0; i < rec->nfields; i++) {
			const struct mfs_field *f = &rec->fields[i];

			mfs_buf_appendf(out, " %.*s=%c:%.*s", (int)f->name_len, f->name,
					kind_letter[f->kind], (int)f->len, f->data);
		}
		mfs_buf_appendf(out, "\n");
	}
	if (skipped)
		*skipped = r->skipped_lines;
	mfs_reader_free(r);
	return ret;
}

/* Read @text both ways; the dump of the one-block read goes to @out. */
static int dump_limits(const char *text, size_t len, enum mfs_json_shape shape,
		       struct mfs_buf *out, uint64_t *skipped, size_t max_raw, size_t max_record,
		       int max_depth)
{
	struct mfs_buf chunked = MFS_BUF_INIT;
	struct mfs_source *mem = mfs_source_mem(text, len);
	struct chunk_source cs;
	uint64_t skipped2 = 0;
	int ret, ret2;

	chunk_init(&cs, text, len);
	ret = dump_source(mem, shape, out, skipped, max_raw, max_record, max_depth);
	mfs_source_close(mem);
	ret2 = dump_source(&cs.src, shape, &chunked, &skipped2, max_raw, max_record, max_depth);
	CHECK_MSG(ret == ret2, "%d vs %d", ret, ret2);
	CHECK_MSG(out->len == chunked.len && (!out->len || !memcmp(out->data, chunked.data, out->len)),
		  "one block:\n%s\nchunked:\n%s", out->data ? out->data : "",
		  chunked.data ? chunked.data : "");
	if (skipped)
		CHECK(*skipped == skipped2);
	mfs_buf_free(&chunked);
	return ret;
}

static int dump(const char *text, enum mfs_json_shape shape, struct mfs_buf *out,
		uint64_t *skipped)
{
	return dump_limits(text, strlen(text), shape, out, skipped, 0, 0, 0);
}

static int starts(const char *s, const char *prefix)
{
	return s && !strncmp(s, prefix, strlen(prefix));
}

#define EXPECT(shape, text, want)                                                       \
	do {                                                                            \
		struct mfs_buf got_ = MFS_BUF_INIT;                                     \
		int ret_ = dump((text), (shape), &got_, NULL);                          \
		CHECK_MSG(ret_ == 0, "%d", ret_);                                       \
		CHECK_MSG(!strcmp(got_.data ? got_.data : "", (want)),                  \
			  "\ninput: %s\ngot:\n%s\nwant:\n%s", (text),                  \
			  got_.data ? got_.data : "", (want));                          \
		mfs_buf_free(&got_);                                                    \
	} while (0)

#define LINES(text, want) EXPECT(MFS_JSON_LINES, text, want)
#define ARRAY(text, want) EXPECT(MFS_JSON_ARRAY, text, want)

static void test_lines_values(void)
{
	/* flattening, document order */
	LINES("{\"a\":{\"b\":1,\"c\":{\"d\":\"x\"}},\"e\":true}\n",
	      "1: a_b=N:1 a_c_d=T:x e=B:true\n");
	/* arrays as compact JSON text, nested objects inside them not flattened */
	LINES("{\"tags\": [ \"x\" , 1.50, {\"k\": [true, null, {}], \"e\": []}, []], \"n\": null}",
	      "1: tags=J:[\"x\",1.50,{\"k\":[true,null,{}],\"e\":[]},[]] n=Z:\n");
	/* numbers as written */
	LINES("{\"a\":1e5,\"b\":-0.5,\"c\":0,\"d\":12345678901234567890123,\"e\":1E+2,\"f\":-0}",
	      "1: a=N:1e5 b=N:-0.5 c=N:0 d=N:12345678901234567890123 e=N:1E+2 f=N:-0\n");
	LINES("{\"t\":true,\"f\":false,\"z\":null,\"s\":\"\"}", "1: t=B:true f=B:false z=Z: s=T:\n");
	/* unicode escapes, surrogate pairs, escapes */
	LINES("{\"s\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\t\"}",
	      "1: s=T:caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" \\ / \t\n");
	LINES("{\"k\\u00e9y\":\"\xe2\x82\xac\"}", "1: k\xc3\xa9y=T:\xe2\x82\xac\n");
	/* a lone surrogate is not UTF-8: U+FFFD */
	LINES("{\"s\":\"a\\udc00b\"}", "1: s=T:a\xef\xbf\xbd" "b\n");
	/* strings inside arrays are re-escaped */
	LINES("{\"a\":[\"\\u0001\\n\\\"\xc3\xa9\\/\",{\"k\\\"\":\"v\"}]}",
	      "1: a=J:[\"\\u0001\\n\\\"\xc3\xa9/\",{\"k\\\"\":\"v\"}]\n");
	/* names collide after flattening: both kept, in order */
	LINES("{\"a_b\":1,\"a\":{\"b\":2},\"a_b\":3}", "1: a_b=N:1 a_b=N:2 a_b=N:3\n");
	/* empty nested object kept as {}; empty record has no fields */
	LINES("{\"a\":{},\"b\":{\"c\":{}}}\n{}\n", "1: a=J:{} b_c=J:{}\n2:\n");
	/* an empty key still joins with '_' */
	LINES("{\"\":{\"b\":1},\"x\":{\"\":2}}", "1: _b=N:1 x_=N:2\n");
}

static void test_lines_structure(void)
{
	struct mfs_buf got = MFS_BUF_INIT;
	uint64_t skipped = 0;

	/* blank lines skipped and counted; CRLF; no final newline */
	CHECK(dump("\n{\"a\":1}\r\n   \n\r\n\t{\"b\":2}  \n\n{\"c\":3}", MFS_JSON_LINES, &got,
		   &skipped) == 0);
	CHECK_MSG(!strcmp(got.data, "2: a=N:1\n5: b=N:2\n7: c=N:3\n"), "%s", got.data);
	CHECK_MSG(skipped == 4, "%llu", (unsigned long long)skipped);
	mfs_buf_free(&got);

	/* empty input, only blank lines */
	CHECK(dump("", MFS_JSON_LINES, &got, &skipped) == 0);
	CHECK(got.len == 0 && skipped == 0);
	CHECK(dump("\n \n", MFS_JSON_LINES, &got, &skipped) == 0);
	CHECK(got.len == 0 && skipped == 2);

	/* not an object: an error record, the next line still read */
	LINES("42\n{\"a\":1}\n[\"x\",{}]\n\"s\"\nnull\r\n{\"b\":2}\n",
	      "1: !not a JSON object |42|\n"
	      "2: a=N:1\n"
	      "3: !not a JSON object |[\"x\",{}]|\n"
	      "4: !not a JSON object |\"s\"|\n"
	      "5: !not a JSON object |null|\n"
	      "6: b=N:2\n");
	/* invalid JSON: trailing comma, cut short, trailing garbage, two values */
	LINES("{\"a\":1,}\n{\"a\":\n{\"b\":2} x\n{\"c\":3}{\"d\":4}\n{\"e\":5}\n",
	      "1: !invalid JSON |{\"a\":1,}|\n"
	      "2: !invalid JSON |{\"a\":|\n"
	      "3: !invalid JSON |{\"b\":2} x|\n"
	      "4: !invalid JSON |{\"c\":3}{\"d\":4}|\n"
	      "5: e=N:5\n");
	/* a raw control character or invalid UTF-8 inside a string */
	LINES("{\"a\":\"x\ty\"}\n{\"a\":\"\xff\"}\n{\"b\":1}",
	      "1: !invalid JSON |{\"a\":\"x\ty\"}|\n2: !invalid JSON |{\"a\":\"\xff\"}|\n3: b=N:1\n");
	/* comments are not JSON */
	LINES("{\"a\":1} // c\n", "1: !invalid JSON |{\"a\":1} // c|\n");
}

static void test_lines_errors_keep_raw(void)
{
	struct mfs_source *mem;
	struct mfs_reader *r;
	const struct mfs_record *rec;
	const char *text = "{\"a\":1}\n{bad\n";

	mem = mfs_source_mem(text, strlen(text));
	CHECK(mfs_json_reader_new(mem, MFS_JSON_LINES, &r) == 0);
	CHECK(mfs_reader_next(r, &rec) == 1);
	CHECK(rec->error == NULL && rec->nfields == 1 && rec->line == 1);
	CHECK(rec->fields[0].name_len == 1 && rec->fields[0].name[0] == 'a');
	CHECK(rec->raw_len == 7 && !memcmp(rec->raw, "{\"a\":1}", 7));
	CHECK(mfs_reader_next(r, &rec) == 1);
	CHECK(rec->error && !strncmp(rec->error, "invalid JSON: ", 14) && rec->line == 2);
	CHECK(rec->raw_len == 4 && !memcmp(rec->raw, "{bad", 4));
	CHECK(mfs_reader_next(r, &rec) == 0);
	CHECK(mfs_reader_next(r, &rec) == 0);
	mfs_reader_free(r);
	mfs_source_close(mem);
}

static void test_arrays(void)
{
	ARRAY("[\n"
	      "  {\"a\": 1},\n"
	      "  {\"b\": {\"c\": 2},\n"
	      "   \"d\": [1, 2]},\n"
	      "  {\"e\": \"x\"}\n"
	      "]\n",
	      "2: a=N:1\n3: b_c=N:2 d=J:[1,2]\n5: e=T:x\n");
	/* brackets, quotes and newlines inside strings do not fool the scanner */
	ARRAY("[{\"a\":\"}]\\\"{[\"},\n{\"b\":\"\\\\\"},{\"c\":[\"]\",\"\\\"]\"]}]",
	      "1: a=T:}]\"{[\n2: b=T:\\\n2: c=J:[\"]\",\"\\\"]\"]\n");
	/* empty input, white space, empty arrays */
	ARRAY("", "");
	ARRAY(" \n\t", "");
	ARRAY("[]", "");
	ARRAY("\n[ \n ]\n", "");
	ARRAY("[{}]", "1:\n");
	/* yajl takes \v and \f for white space, so the scanner does too */
	ARRAY("\f[\v{\"a\":1}\f,\v{\"b\":2}]", "1: a=N:1\n1: b=N:2\n");
	/* a malformed scalar leaves yajl in a string: the failing byte is found */
	ARRAY("[\n  1\",\n  {\"a\":1}]", "2: !not a JSON object |1\"|\n2: !invalid JSON ||\n");
	/* elements that are not objects: error records, the stream goes on */
	ARRAY("[1, \"x\", [1, {\"a\":2}], {\"a\":1}, null,\ntrue,-2.5e3]",
	      "1: !not a JSON object |1|\n"
	      "1: !not a JSON object |\"x\"|\n"
	      "1: !not a JSON object |[1, {\"a\":2}]|\n"
	      "1: a=N:1\n"
	      "1: !not a JSON object |null|\n"
	      "2: !not a JSON object |true|\n"
	      "2: !not a JSON object |-2.5e3|\n");
	/* a syntax error mid-array: its record, then the end */
	ARRAY("[{\"a\":1},\n {\"b\":},\n {\"c\":3}]",
	      "1: a=N:1\n2: !invalid JSON |{\"b\":}|\n");
	ARRAY("[{\"a\":1} {\"b\":2}]", "1: a=N:1\n1: !invalid JSON |{\"b\":2}|\n");
	ARRAY("[{\"a\":1},,{\"b\":2}]", "1: a=N:1\n1: !invalid JSON |,|\n");
	ARRAY("[{\"a\":1},\n\n ]", "1: a=N:1\n3: !invalid JSON |]|\n");
	ARRAY("[\n,{\"a\":1}]", "2: !invalid JSON |,|\n");
	ARRAY("[1 2]", "1: !not a JSON object |1|\n1: !invalid JSON |2|\n");
	ARRAY("[truex]", "1: !invalid JSON |truex|\n");
	/* cut short */
	ARRAY("[{\"a\":1},{\"b\":2", "1: a=N:1\n1: !invalid JSON |{\"b\":2|\n");
	ARRAY("[{\"a\":1},", "1: a=N:1\n1: !invalid JSON ||\n");
	ARRAY("[1", "1: !invalid JSON |1|\n");
	ARRAY("[", "1: !invalid JSON ||\n");
	/* trailing garbage after the array */
	ARRAY("[{\"a\":1}]\n x y", "1: a=N:1\n2: !invalid JSON |x|\n");
	ARRAY("[] []", "1: !invalid JSON |[]|\n");
	ARRAY("[{\"a\":1}]  \n\n", "1: a=N:1\n");
	/* top-level value that is not an array: one record, its first line */
	ARRAY("{\"a\":1}", "1: !top-level value is not an array |{\"a\":1}|\n");
	ARRAY("\n\n  42 \r\n[1]", "3: !top-level value is not an array |42 |\n");
	ARRAY("x", "1: !top-level value is not an array |x|\n");
}

static void test_depth(void)
{
	struct mfs_buf text = MFS_BUF_INIT, want = MFS_BUF_INIT, got = MFS_BUF_INIT;
	int i;

	/* 64 levels of objects: fine; 65: a malformed record */
	for (i = 0; i < 63; i++)
		mfs_buf_append(&text, "{\"a\":", 5);
	mfs_buf_append(&text, "{\"b\":1", 6);
	for (i = 0; i < 64; i++)
		mfs_buf_append(&text, "}", 1);
	mfs_buf_append(&text, "\n", 1);
	for (i = 0; i < 63; i++)
		mfs_buf_append(&want, "a_", 2);
	mfs_buf_appendf(&want, "b=N:1\n");
	CHECK(dump(text.data, MFS_JSON_LINES, &got, NULL) == 0);
	CHECK_MSG(got.len > 3 && !strcmp(got.data + 3, want.data), "%s", got.data);
	mfs_buf_reset(&got);

	mfs_buf_reset(&text);
	for (i = 0; i < 65; i++)
		mfs_buf_append(&text, "{\"a\":", 5);
	mfs_buf_append(&text, "1", 1);
	for (i = 0; i < 65; i++)
		mfs_buf_append(&text, "}", 1);
	mfs_buf_append(&text, "\n{\"ok\":1}\n", 10);
	CHECK(dump(text.data, MFS_JSON_LINES, &got, NULL) == 0);
	CHECK_MSG(strstr(got.data, "1: !nesting deeper than 64 levels |") == got.data, "%.80s",
		  got.data);
	CHECK(strstr(got.data, "|\n2: ok=N:1\n"));
	mfs_buf_reset(&got);

	/* arrays count as levels too: {"a":[[...]]} */
	mfs_buf_reset(&text);
	mfs_buf_append(&text, "{\"a\":", 5);
	for (i = 0; i < 63; i++)
		mfs_buf_append(&text, "[", 1);
	for (i = 0; i < 63; i++)
		mfs_buf_append(&text, "]", 1);
	mfs_buf_append(&text, "}\n{\"a\":[[", 9);
	for (i = 0; i < 63; i++)
		mfs_buf_append(&text, "[", 1);
	for (i = 0; i < 63; i++)
		mfs_buf_append(&text, "]", 1);
	mfs_buf_append(&text, "]]}", 3);
	CHECK(dump(text.data, MFS_JSON_LINES, &got, NULL) == 0);
	CHECK_MSG(starts(got.data, "1: a=J:[[["), "%.40s", got.data);
	CHECK(strstr(got.data, "\n2: !nesting deeper than 64 levels"));
	mfs_buf_reset(&got);

	/* in an array, a too-deep element is skipped and the next one read */
	mfs_buf_reset(&text);
	mfs_buf_append(&text, "[", 1);
	for (i = 0; i < 100; i++)
		mfs_buf_append(&text, "{\"a\":", 5);
	mfs_buf_append(&text, "1", 1);
	for (i = 0; i < 100; i++)
		mfs_buf_append(&text, "}", 1);
	mfs_buf_append(&text, ",\n{\"ok\":true}]", 14);
	CHECK(dump(text.data, MFS_JSON_ARRAY, &got, NULL) == 0);
	CHECK_MSG(strstr(got.data, "1: !nesting deeper than 64 levels |{\"a\":{\"a\":") == got.data,
		  "%.80s", got.data);
	CHECK(strstr(got.data, "}}|\n2: ok=B:true\n"));
	mfs_buf_reset(&got);

	/* very deep: no stack to overflow, in yajl or here */
	mfs_buf_reset(&text);
	for (i = 0; i < 200000; i++)
		mfs_buf_append(&text, "[", 1);
	CHECK(dump(text.data, MFS_JSON_LINES, &got, NULL) == 0);
	CHECK(starts(got.data, "1: !not a JSON object |[[["));
	mfs_buf_reset(&got);
	mfs_buf_reset(&text);
	mfs_buf_append(&text, "[", 1);
	for (i = 0; i < 200000; i++)
		mfs_buf_append(&text, "{\"a\":[", 6);
	CHECK(dump(text.data, MFS_JSON_ARRAY, &got, NULL) == 0);
	CHECK_MSG(starts(got.data, "1: !invalid JSON |{\"a\":["), "%.40s", got.data);

	mfs_buf_free(&text);
	mfs_buf_free(&want);
	mfs_buf_free(&got);
}

/* Objects with a 2 MB string, in both shapes; a 5 MB line has its raw cut. */
static void test_large(void)
{
	size_t big = 2 * 1000 * 1000, i;
	struct mfs_buf text = MFS_BUF_INIT;
	struct mfs_source *mem;
	struct mfs_reader *r;
	const struct mfs_record *rec;
	int shape;

	for (shape = 0; shape < 2; shape++) {
		int ok;

		mfs_buf_reset(&text);
		mfs_buf_appendf(&text, "%s{\"id\":1,\"big\":\"", shape ? "[\n" : "");
		mfs_buf_reserve(&text, big);
		for (i = 0; i < big; i++)
			text.data[text.len + i] = (char)('a' + i % 26);
		text.len += big;
		mfs_buf_appendf(&text, "\\u00e9\",\"t\":[\"%s\"]}%s{\"id\":2}%s", "x",
				shape ? ",\n" : "\n", shape ? "]" : "\n");

		mem = mfs_source_mem(text.data, text.len);
		CHECK(mfs_json_reader_new(mem, shape ? MFS_JSON_ARRAY : MFS_JSON_LINES, &r) == 0);
		CHECK(mfs_reader_next(r, &rec) == 1);
		CHECK(rec->error == NULL && rec->nfields == 3);
		CHECK(rec->line == (shape ? 2u : 1u));
		CHECK(rec->fields[1].kind == MFS_FIELD_TEXT && rec->fields[1].len == big + 2);
		ok = rec->fields[1].len == big + 2;
		for (i = 0; ok && i < big; i++)
			ok = rec->fields[1].data[i] == (char)('a' + i % 26);
		CHECK(ok);
		CHECK(ok && !memcmp(rec->fields[1].data + big, "\xc3\xa9", 2));
		CHECK_MSG(rec->raw_len == big + 33, "%zu", rec->raw_len - big);
		CHECK(mfs_reader_next(r, &rec) == 1);
		CHECK(rec->error == NULL && rec->nfields == 1 && rec->line == (shape ? 3u : 2u));
		CHECK(mfs_reader_next(r, &rec) == 0);
		mfs_reader_free(r);
		mfs_source_close(mem);
	}

	/* a 5 MiB line: parsed whole, its raw text cut at MFS_JSON_MAX_RAW */
	big = 5u << 20;
	mfs_buf_reset(&text);
	mfs_buf_appendf(&text, "{\"s\":\"");
	mfs_buf_reserve(&text, big);
	memset(text.data + text.len, 'x', big);
	text.len += big;
	mfs_buf_appendf(&text, "\"}\n");
	mem = mfs_source_mem(text.data, text.len);
	CHECK(mfs_json_reader_new(mem, MFS_JSON_LINES, &r) == 0);
	CHECK(mfs_reader_next(r, &rec) == 1);
	CHECK(rec->error == NULL && rec->nfields == 1 && rec->fields[0].len == big);
	CHECK(rec->raw_len == MFS_JSON_MAX_RAW);
	mfs_reader_free(r);
	mfs_source_close(mem);
	mfs_buf_free(&text);
}

static void test_limits(void)
{
	struct mfs_buf got = MFS_BUF_INIT;
	const char *text;
	char *long_line;

	/* raw cut at a character boundary: "é" is 2 bytes, not split */
	text = "{\"a\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}\n";
	CHECK(dump_limits(text, strlen(text), MFS_JSON_LINES, &got, NULL, 9, 1000, 64) == 0);
	CHECK_MSG(!strcmp(got.data, "1: a=T:\xc3\xa9\xc3\xa9\xc3\xa9\n"), "%s", got.data);
	mfs_buf_reset(&got);
	text = "{\"a\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}\nnull\n";
	CHECK(dump_limits(text, strlen(text), MFS_JSON_LINES, &got, NULL, 10, 1000, 64) == 0);
	CHECK_MSG(!strcmp(got.data, "1: a=T:\xc3\xa9\xc3\xa9\xc3\xa9\n2: !not a JSON object |null|\n"),
		  "%s", got.data);
	mfs_buf_reset(&got);
	text = "[\"\xc3\xa9\xc3\xa9\xc3\xa9\"]";
	CHECK(dump_limits(text, strlen(text), MFS_JSON_ARRAY, &got, NULL, 4, 1000, 64) == 0);
	CHECK_MSG(!strcmp(got.data, "1: !not a JSON object |\"\xc3\xa9|\n"), "%s", got.data);
	mfs_buf_reset(&got);

	/* a record past max_record: malformed; JSON Lines go on */
	long_line = malloc(1000);
	snprintf(long_line, 1000, "{\"a\":\"%0300d\"}\n{\"b\":1}\n", 7);
	CHECK(dump_limits(long_line, strlen(long_line), MFS_JSON_LINES, &got, NULL, 400, 200, 64) ==
	      0);
	CHECK_MSG(starts(got.data, "1: !record too large (over 200 bytes) |{\"a\":\"0000"),
		  "%s", got.data);
	CHECK(strstr(got.data, "\"}|\n2: b=N:1\n"));
	mfs_buf_reset(&got);
	/* a syntax error first is the reason, wherever the blocks were cut */
	snprintf(long_line, 1000, "{\"a\" 1, \"s\":\"%0300d\"}\n", 7);
	CHECK(dump_limits(long_line, strlen(long_line), MFS_JSON_LINES, &got, NULL, 400, 200, 64) ==
	      0);
	CHECK_MSG(starts(got.data, "1: !invalid JSON |"), "%s", got.data);
	mfs_buf_reset(&got);
	/* flattening can make a small record big: {"<long>":{"a":1,"b":1,...}} */
	text = "{\"kkkkkkkkkkkkkkkkkkkk\":{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1}}\n{\"b\":1}\n";
	CHECK(dump_limits(text, strlen(text), MFS_JSON_LINES, &got, NULL, 100, 200, 64) == 0);
	CHECK_MSG(starts(got.data, "1: !record too large"), "%s", got.data);
	CHECK(strstr(got.data, "\n2: b=N:1\n"));
	mfs_buf_reset(&got);
	/* ... in an array that one is skipped; an element too long ends the array */
	text = "[{\"kkkkkkkkkkkkkkkkkkkk\":{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1}},{\"b\":1}]";
	CHECK(dump_limits(text, strlen(text), MFS_JSON_ARRAY, &got, NULL, 100, 200, 64) == 0);
	CHECK_MSG(starts(got.data, "1: !record too large"), "%s", got.data);
	CHECK(strstr(got.data, "\n1: b=N:1\n"));
	mfs_buf_reset(&got);
	snprintf(long_line, 1000, "[{\"b\":1},\n{\"a\":\"%0300d\"},{\"b\":2}]", 7);
	CHECK(dump_limits(long_line, strlen(long_line), MFS_JSON_ARRAY, &got, NULL, 400, 200, 64) ==
	      0);
	CHECK_MSG(starts(got.data, "1: b=N:1\n2: !record too large (over 200 bytes) |{\"a\""),
		  "%s", got.data);
	CHECK(strstr(got.data, "7\"}|\n") && !strstr(got.data, "b=N:2"));
	mfs_buf_reset(&got);
	free(long_line);
	/* a lower depth limit */
	text = "{\"a\":{\"b\":1}}\n{\"a\":{\"b\":{\"c\":1}}}\n";
	CHECK(dump_limits(text, strlen(text), MFS_JSON_LINES, &got, NULL, 100, 1000, 2) == 0);
	CHECK_MSG(!strcmp(got.data, "1: a_b=N:1\n2: !nesting deeper than 2 levels "
				    "|{\"a\":{\"b\":{\"c\":1}}}|\n"),
		  "%s", got.data);
	mfs_buf_free(&got);
}

static void test_source_errors(void)
{
	const char *text = "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n";
	struct chunk_source cs;
	struct mfs_reader *r;
	const struct mfs_record *rec;

	chunk_init(&cs, text, strlen(text));
	cs.fail_at = 10;
	CHECK(mfs_json_reader_new(&cs.src, MFS_JSON_LINES, &r) == 0);
	CHECK(mfs_reader_next(r, &rec) == 1);
	CHECK(mfs_reader_next(r, &rec) == -EIO);
	CHECK(mfs_reader_next(r, &rec) == -EIO);
	mfs_reader_free(r);

	chunk_init(&cs, "[{\"a\":1},{\"b\":2}]", 17);
	cs.fail_at = 12;
	CHECK(mfs_json_reader_new(&cs.src, MFS_JSON_ARRAY, &r) == 0);
	CHECK(mfs_reader_next(r, &rec) == 1);
	CHECK(mfs_reader_next(r, &rec) == -EIO);
	CHECK(mfs_reader_next(r, &rec) == -EIO);
	mfs_reader_free(r);

	CHECK(mfs_json_reader_new(&cs.src, (enum mfs_json_shape)7, &r) == -EINVAL);
	CHECK(mfs_json_reader_new(&cs.src, MFS_JSON_LINES, &r) == 0);
	CHECK(mfs_json_reader_set_limits(r, 0, 1, 1) == -EINVAL);
	CHECK(mfs_json_reader_set_limits(r, 1, 1, MFS_JSON_MAX_DEPTH + 1) == -EINVAL);
	mfs_reader_free(r);
}

/* The shared csv-spectrum fixtures are JSON arrays of objects. */
static void test_shared_fixtures(void)
{
	char path[4096];
	FILE *f;
	char *data;
	long n;
	struct mfs_buf got = MFS_BUF_INIT;

	snprintf(path, sizeof(path), "%s/data/csv-spectrum/json/quotes_and_newlines.json",
		 unit_shared_dir());
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "skip: %s\n", path);
		return;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)n + 1);
	CHECK(fread(data, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	CHECK(dump_limits(data, (size_t)n, MFS_JSON_ARRAY, &got, NULL, 0, 0, 0) == 0);
	CHECK_MSG(!strcmp(got.data, "2: a=T:1 b=T:ha \n\"ha\" \nha\n6: a=T:3 b=T:4\n"), "%s",
		  got.data);
	mfs_buf_free(&got);
	free(data);
}

int main(void)
{
	test_lines_values();
	test_lines_structure();
	test_lines_errors_keep_raw();
	test_arrays();
	test_depth();
	test_large();
	test_limits();
	test_source_errors();
	test_shared_fixtures();
	return unit_done("json");
}
