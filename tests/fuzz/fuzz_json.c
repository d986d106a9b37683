/*
 * fuzz_json.c - libFuzzer target for the JSON readers and the decompression
 * stage.
 *
 * Each input is read as JSON Lines and as a JSON array, from one memory
 * block and from a source giving 1..7 bytes per read (the same records must
 * come out both ways), with the default limits and with tiny ones. Every
 * record is checked: names and texts are valid UTF-8, numbers are JSON
 * numbers, arrays are valid JSON, raw text is the input's, lines rise. Where
 * yajl_tree can parse the input (or a line of it) it is the oracle: same
 * number of records, errors exactly where the value is no object or too
 * deep, and the fields of the flattened object, in order, with their values.
 * The input also goes through the gzip and zstd stages as it is (they may
 * refuse it, only with -EBADMSG) and compressed here as two members / two
 * frames (it must come back unchanged, whatever the read sizes).
 *
 * A failed check prints what and aborts, which the fuzzer and replay.c
 * report as a crash.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem; meson passes it, a bare clang line may not */
#endif
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>
#include <zlib.h>
#include <zstd.h>

#include "buf.h"
#include "json_i.h"
#include "reader.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(cond)                                                                     \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "fuzz_json: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                         \
		}                                                                        \
	} while (0)

/* ---- sources ---- */

struct chunk_source {
	struct mfs_source src;
	const uint8_t *data;
	size_t len, off;
	unsigned step;
};

static ssize_t chunk_read(struct mfs_source *src, void *buf, size_t len)
{
	struct chunk_source *c = (struct chunk_source *)src;
	size_t n = 1 + c->step++ % 7;

	if (n > len)
		n = len;
	if (n > c->len - c->off)
		n = c->len - c->off;
	memcpy(buf, c->data + c->off, n);
	c->off += n;
	return (ssize_t)n;
}

static void chunk_close(struct mfs_source *src)
{
	free(src);
}

static struct mfs_source *chunk_new(const void *data, size_t len, unsigned seed)
{
	struct chunk_source *c = calloc(1, sizeof(*c));

	ASSERT(c);
	c->src.read = chunk_read;
	c->src.close = chunk_close;
	c->data = data;
	c->len = len;
	c->step = seed;
	return &c->src;
}

/* ---- checks on one record ---- */

static int utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t k, j;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c < 0xe0) {
			k = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c < 0xf0) {
			k = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c < 0xf5) {
			k = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i < k)
			return 0;
		for (j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k;
	}
	return 1;
}

static int is_json_number(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else {
		if (i >= n || s[i] < '1' || s[i] > '9')
			return 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == n;
}

static yajl_val parse_copy(const char *s, size_t n)
{
	char *z = malloc(n + 1);
	yajl_val v;

	ASSERT(z);
	memcpy(z, s, n);
	z[n] = '\0';
	v = yajl_tree_parse(z, NULL, 0);
	free(z);
	return v;
}

static void check_field(const struct mfs_field *f)
{
	ASSERT(f->name && (f->data || !f->len));
	ASSERT(!f->quoted);
	ASSERT(utf8_ok((const unsigned char *)f->name, f->name_len));
	switch (f->kind) {
	case MFS_FIELD_TEXT:
		ASSERT(utf8_ok((const unsigned char *)f->data, f->len));
		break;
	case MFS_FIELD_NUMBER:
		ASSERT(is_json_number(f->data, f->len));
		break;
	case MFS_FIELD_BOOL:
		ASSERT((f->len == 4 && !memcmp(f->data, "true", 4)) ||
		       (f->len == 5 && !memcmp(f->data, "false", 5)));
		break;
	case MFS_FIELD_NULL:
		ASSERT(f->len == 0);
		break;
	case MFS_FIELD_JSON: {
		yajl_val v;

		ASSERT(f->len >= 2 && (f->data[0] == '[' || !memcmp(f->data, "{}", 2)));
		ASSERT(utf8_ok((const unsigned char *)f->data, f->len));
		if (!memchr(f->data, 0, f->len)) {
			v = parse_copy(f->data, f->len);
			ASSERT(v && (YAJL_IS_ARRAY(v) || YAJL_IS_OBJECT(v)));
			yajl_tree_free(v);
		}
		break;
	}
	default:
		ASSERT(0);
	}
}

/* ---- one run of a reader, kept for comparing ---- */

struct run {
	struct mfs_buf dump;  /* every record, length-prefixed, for comparing runs */
	int status;           /* the reader's last return */
	size_t nrecords;
	uint64_t skipped;
	/* per record, for the oracle: error flag, field count, offset in dump */
	int *errs;
	size_t *nfields;
	uint64_t *lines;
	size_t cap;
};

static void put_bytes(struct mfs_buf *b, const void *p, size_t n)
{
	uint64_t len = n;

	mfs_buf_append(b, &len, sizeof(len));
	mfs_buf_append(b, p, n);
}

static void run_free(struct run *r)
{
	mfs_buf_free(&r->dump);
	free(r->errs);
	free(r->nfields);
	free(r->lines);
}

static void record_into(struct run *run, const struct mfs_record *rec, size_t max_raw)
{
	size_t i;

	ASSERT(rec->line >= 1);
	ASSERT(rec->raw && rec->raw_len <= max_raw);
	ASSERT(!rec->error || rec->error[0]);
	ASSERT(rec->nfields == 0 || rec->fields);
	for (i = 0; i < rec->nfields; i++)
		check_field(&rec->fields[i]);
	if (run->nrecords == run->cap) {
		run->cap = run->cap ? run->cap * 2 : 16;
		run->errs = realloc(run->errs, run->cap * sizeof(*run->errs));
		run->nfields = realloc(run->nfields, run->cap * sizeof(*run->nfields));
		run->lines = realloc(run->lines, run->cap * sizeof(*run->lines));
		ASSERT(run->errs && run->nfields && run->lines);
	}
	run->errs[run->nrecords] = rec->error != NULL;
	run->nfields[run->nrecords] = rec->nfields;
	run->lines[run->nrecords] = rec->line;
	run->nrecords++;
	mfs_buf_append(&run->dump, &rec->line, sizeof(rec->line));
	put_bytes(&run->dump, rec->raw, rec->raw_len);
	put_bytes(&run->dump, rec->error ? rec->error : "", rec->error ? strlen(rec->error) : 0);
	for (i = 0; i < rec->nfields; i++) {
		const struct mfs_field *f = &rec->fields[i];
		unsigned char kind = (unsigned char)f->kind;

		mfs_buf_append(&run->dump, &kind, 1);
		put_bytes(&run->dump, f->name, f->name_len);
		put_bytes(&run->dump, f->data, f->len);
	}
}

static void read_all(struct mfs_source *src, const uint8_t *data, size_t size,
		     enum mfs_json_shape shape, int tiny, struct run *run)
{
	struct mfs_reader *r = NULL;
	const struct mfs_record *rec;
	size_t max_raw = tiny ? 16 : MFS_JSON_MAX_RAW;
	int ret;

	memset(run, 0, sizeof(*run));
	ASSERT(mfs_json_reader_new(src, shape, &r) == 0);
	if (tiny)
		ASSERT(mfs_json_reader_set_limits(r, 16, 300, 3) == 0);
	while ((ret = mfs_reader_next(r, &rec)) == 1) {
		record_into(run, rec, max_raw);
		/* raw text is the input's (cut short at most) */
		ASSERT(!rec->raw_len || memmem(data, size, rec->raw, rec->raw_len));
	}
	run->status = ret;
	run->skipped = r->skipped_lines;
	ASSERT(mfs_reader_next(r, &rec) == ret); /* the end stays the end */
	mfs_reader_free(r);
}

/* ---- the oracle ---- */

/* yajl's white space, \v and \f included */
static int is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static int tree_depth(yajl_val v)
{
	size_t i, n;
	int d = 0, k;

	if (YAJL_IS_OBJECT(v)) {
		n = v->u.object.len;
		for (i = 0; i < n; i++)
			if ((k = tree_depth(v->u.object.values[i])) > d)
				d = k;
		return d + 1;
	}
	if (YAJL_IS_ARRAY(v)) {
		n = v->u.array.len;
		for (i = 0; i < n; i++)
			if ((k = tree_depth(v->u.array.values[i])) > d)
				d = k;
		return d + 1;
	}
	return 0;
}

/* Fields flattening @obj gives. */
static size_t tree_fields(yajl_val obj)
{
	size_t i, n = 0;

	for (i = 0; i < obj->u.object.len; i++) {
		yajl_val v = obj->u.object.values[i];

		if (YAJL_IS_OBJECT(v) && v->u.object.len)
			n += tree_fields(v);
		else
			n++;
	}
	return n;
}

/*
 * Nesting of brackets outside strings, which bounds yajl_tree's recursion;
 * INT_MAX with a '/' outside strings, as yajl_tree_parse allows comments.
 */
static int scan_depth(const uint8_t *p, size_t n)
{
	int d = 0, max = 0, in_str = 0, esc = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n') {
			in_str = esc = 0; /* no string spans lines (in valid JSON) */
		} else if (in_str) {
			if (esc)
				esc = 0;
			else if (p[i] == '\\')
				esc = 1;
			else if (p[i] == '"')
				in_str = 0;
		} else if (p[i] == '/') {
			return INT_MAX;
		} else if (p[i] == '"') {
			in_str = 1;
		} else if (p[i] == '{' || p[i] == '[') {
			if (++d > max)
				max = d;
		} else if (p[i] == '}' || p[i] == ']') {
			d--;
		}
	}
	return max;
}

/* What the reader must say of one value: -1 not parsed, 0 good (fields in *n), 1 error. */
static int expect_value(yajl_val v, size_t *n)
{
	if (!YAJL_IS_OBJECT(v) || tree_depth(v) > MFS_JSON_MAX_DEPTH)
		return 1;
	*n = tree_fields(v);
	return 0;
}

static void oracle_lines(const uint8_t *data, size_t size, const struct run *run)
{
	size_t start = 0, rec = 0;
	uint64_t line = 1;

	while (start < size) {
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t end = nl ? (size_t)(nl - data) : size, i, n = 0;
		int blank = 1;

		for (i = start; i < end; i++)
			if (!is_ws(data[i]))
				blank = 0;
		if (!blank) {
			yajl_val v = parse_copy((const char *)data + start, end - start);

			ASSERT(rec < run->nrecords && run->lines[rec] == line);
			if (v) {
				int want = expect_value(v, &n);

				ASSERT(run->errs[rec] == want);
				ASSERT(want || run->nfields[rec] == n);
				yajl_tree_free(v);
			} else {
				ASSERT(run->errs[rec]);
			}
			rec++;
		}
		line++;
		start = end + 1;
	}
	ASSERT(rec == run->nrecords);
}

static void oracle_array(const uint8_t *data, size_t size, const struct run *run)
{
	yajl_val v = parse_copy((const char *)data, size);
	size_t i, n;

	if (!v) {
		/* Invalid: it ends with an error record, unless it is all blank. */
		for (i = 0; i < size; i++)
			if (!is_ws(data[i]))
				break;
		if (i == size)
			ASSERT(run->nrecords == 0);
		else
			ASSERT(run->nrecords >= 1 && run->errs[run->nrecords - 1]);
		return;
	}
	if (!YAJL_IS_ARRAY(v)) {
		ASSERT(run->nrecords == 1 && run->errs[0]);
	} else {
		ASSERT(run->nrecords == v->u.array.len);
		for (i = 0; i < v->u.array.len; i++) {
			int want = expect_value(v->u.array.values[i], &n);

			ASSERT(run->errs[i] == want);
			ASSERT(want || run->nfields[i] == n);
		}
	}
	yajl_tree_free(v);
}

/* ---- JSON ---- */

static void fuzz_reader(const uint8_t *data, size_t size, enum mfs_json_shape shape, int tiny)
{
	struct mfs_source *mem = mfs_source_mem(data, size);
	struct mfs_source *chunked = chunk_new(data, size, (unsigned)size);
	struct run a, b;
	size_t i;

	ASSERT(mem);
	read_all(mem, data, size, shape, tiny, &a);
	read_all(chunked, data, size, shape, tiny, &b);
	mfs_source_close(mem);
	mfs_source_close(chunked);

	/* the same records however the input was cut */
	ASSERT(a.status == 0 && b.status == 0);
	ASSERT(a.nrecords == b.nrecords && a.skipped == b.skipped);
	ASSERT(a.dump.len == b.dump.len && (!a.dump.len || !memcmp(a.dump.data, b.dump.data,
								    a.dump.len)));
	for (i = 1; i < a.nrecords; i++)
		ASSERT(shape == MFS_JSON_LINES ? a.lines[i] > a.lines[i - 1]
					       : a.lines[i] >= a.lines[i - 1]);
	if (shape == MFS_JSON_LINES) {
		uint64_t lines = 0;

		for (i = 0; i < size; i++)
			lines += data[i] == '\n';
		if (size && data[size - 1] != '\n')
			lines++;
		ASSERT(a.nrecords + a.skipped == lines);
	}
	/* yajl_tree as the oracle, where it can take the input */
	if (!tiny && !memchr(data, 0, size) && scan_depth(data, size) < 1000) {
		if (shape == MFS_JSON_LINES)
			oracle_lines(data, size, &a);
		else
			oracle_array(data, size, &a);
	}
	run_free(&a);
	run_free(&b);
}

/* ---- decompression ---- */

/* Read @s to its end in reads of 1..4096 bytes, at most @limit bytes. */
static int read_stage(struct mfs_source *s, struct mfs_buf *out, size_t limit)
{
	char buf[4096];
	unsigned step = 0;
	ssize_t n;

	for (;;) {
		size_t want = (step * 613u) % sizeof(buf) + 1;

		step++;
		n = mfs_source_read(s, buf, want);
		if (n <= 0)
			return (int)n;
		ASSERT((size_t)n <= want);
		if (out)
			mfs_buf_append(out, buf, (size_t)n);
		if (out ? out->len > limit : step > limit)
			return 0;
	}
}

static void fuzz_raw_stage(const uint8_t *data, size_t size, enum mfs_codec codec)
{
	struct mfs_source *s = NULL;
	int ret;

	ASSERT(mfs_decompress_open(chunk_new(data, size, 0), codec, &s) == 0);
	/* a bomb in a few bytes is fine, it only takes time: stop early */
	ret = read_stage(s, NULL, 256);
	ASSERT(ret == 0 || ret == -EBADMSG);
	if (ret)
		ASSERT(mfs_source_read(s, (char[8]){ 0 }, 8) == ret);
	mfs_source_close(s);
}

static void gzip_member(struct mfs_buf *out, const void *data, size_t len)
{
	z_stream z;

	memset(&z, 0, sizeof(z));
	ASSERT(deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
	ASSERT(mfs_buf_reserve(out, deflateBound(&z, len) + 64) == 0);
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out->data + out->len;
	z.avail_out = (uInt)(out->cap - out->len - 1);
	ASSERT(deflate(&z, Z_FINISH) == Z_STREAM_END);
	out->len += z.total_out;
	deflateEnd(&z);
}

static void zstd_frame(struct mfs_buf *out, const void *data, size_t len)
{
	size_t bound = ZSTD_compressBound(len), n;

	ASSERT(mfs_buf_reserve(out, bound) == 0);
	n = ZSTD_compress(out->data + out->len, bound, data, len, 1);
	ASSERT(!ZSTD_isError(n));
	out->len += n;
}

static void fuzz_roundtrip(const uint8_t *data, size_t size, enum mfs_codec codec)
{
	struct mfs_buf packed = MFS_BUF_INIT, out = MFS_BUF_INIT;
	struct mfs_source *s = NULL;
	size_t half = size / 2;

	if (codec == MFS_CODEC_GZIP) {
		gzip_member(&packed, data, half);
		gzip_member(&packed, data + half, size - half);
	} else {
		zstd_frame(&packed, data, half);
		zstd_frame(&packed, data + half, size - half);
	}
	ASSERT(mfs_decompress_open(chunk_new(packed.data, packed.len, (unsigned)size), codec,
				   &s) == 0);
	ASSERT(read_stage(s, &out, size + 1) == 0);
	ASSERT(out.len == size && (!size || !memcmp(out.data, data, size)));
	mfs_source_close(s);
	/* cut short anywhere but at the end of a frame/member: -EBADMSG */
	if (packed.len > 1) {
		size_t cut = 1 + size % (packed.len - 1);

		ASSERT(mfs_decompress_open(chunk_new(packed.data, cut, 0), codec, &s) == 0);
		mfs_buf_reset(&out);
		ASSERT(read_stage(s, &out, size + 1) == -EBADMSG || out.len == half);
		mfs_source_close(s);
	}
	mfs_buf_free(&packed);
	mfs_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_reader(data, size, MFS_JSON_LINES, 0);
	fuzz_reader(data, size, MFS_JSON_ARRAY, 0);
	fuzz_reader(data, size, MFS_JSON_LINES, 1);
	fuzz_reader(data, size, MFS_JSON_ARRAY, 1);
	fuzz_raw_stage(data, size, MFS_CODEC_GZIP);
	fuzz_raw_stage(data, size, MFS_CODEC_ZSTD);
	fuzz_roundtrip(data, size, MFS_CODEC_GZIP);
	fuzz_roundtrip(data, size, MFS_CODEC_ZSTD);
	return 0;
}
