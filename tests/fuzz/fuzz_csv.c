/*
 * fuzz_csv.c - libFuzzer target for encoding detection, decoding, dialect
 * sniffing and the CSV reader (transforms/decode.c, dialect.c, csv.c).
 *
 * The input goes through what silver does: detect, decode, sniff a sample,
 * read every record. On top of not crashing, it checks:
 *  - the decoded text is valid UTF-8;
 *  - the sniffer answers a usable dialect, or -EINVAL with "not a table";
 *  - records come in order of line numbers, each on a later line;
 *  - every field lies inside its record's raw text, except quoted fields
 *    rebuilt without their doubled quotes, which are no longer than it;
 *  - an unquoted field holds no delimiter, CR or LF;
 *  - reading the same input a few bytes at a time, and into a small block
 *    that must grow, gives exactly the same records, header and
 *    skipped-line count as reading it at once.
 * The second read uses a dialect taken from the input's first byte and a
 * record limit from its second, so every reader option and the cutting of
 * records too long are exercised whatever the sniffer finds; the limit too
 * must give the same outcome whichever way the input is split into reads.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/drip.h"
#include "buf.h"
#include "csv_i.h"
#include "err.h"
#include "reader.h"
#include "stream.h"

#define SAMPLE_MAX (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                      \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_csv: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                           \
		}                                                                          \
	} while (0)

static int valid_utf8(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		size_t k, len;
		unsigned char lo = 0x80, hi = 0xBF;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c < 0xE0)
			len = 2;
		else if (c >= 0xE0 && c < 0xF0)
			len = 3;
		else if (c >= 0xF0 && c < 0xF5)
			len = 4;
		else
			return 0;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
		else if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
		if (i + len > n)
			return 0;
		for (k = 1; k < len; k++) {
			if (p[i + k] < lo || p[i + k] > hi)
				return 0;
			lo = 0x80;
			hi = 0xBF;
		}
		i += len;
	}
	return 1;
}

static void put_u64(struct mfs_buf *b, uint64_t v)
{
	REQUIRE(mfs_buf_append(b, &v, sizeof(v)) == 0);
}

/*
 * Read everything from @src with @d in blocks of @block bytes (0: the
 * public constructor's), checking each record; its trace in @out.
 */
static void read_all(struct mfs_source *src, const struct mfs_csv_dialect *d, size_t block,
		     size_t max_record, struct mfs_buf *out)
{
	struct mfs_reader *r;
	const struct mfs_record *rec;
	uint64_t last = 0;
	size_t i;
	int ret;

	mfs_buf_reset(out);
	ret = block || max_record ? mfs_csv_reader_open(src, d, block, max_record, &r) :
				    mfs_csv_reader_new(src, d, &r);
	if (ret) {
		/* the preamble or header was longer than the limit */
		REQUIRE(ret == -EFBIG && max_record);
		put_u64(out, (uint64_t)ret);
		return;
	}
	put_u64(out, r->nheader);
	for (i = 0; i < r->nheader; i++) {
		put_u64(out, r->header[i].len);
		REQUIRE(mfs_buf_append(out, r->header[i].data, r->header[i].len) == 0);
	}
	while ((ret = mfs_reader_next(r, &rec)) == 1) {
		const char *raw = rec->raw, *rend = rec->raw + rec->raw_len;

		REQUIRE(rec->line > last);
		last = rec->line;
		REQUIRE(rec->nfields >= 1);
		put_u64(out, rec->line);
		put_u64(out, rec->nfields);
		put_u64(out, rec->error != NULL);
		put_u64(out, rec->raw_len);
		REQUIRE(mfs_buf_append(out, rec->raw, rec->raw_len) == 0);
		for (i = 0; i < rec->nfields; i++) {
			const struct mfs_field *f = &rec->fields[i];

			REQUIRE(f->kind == MFS_FIELD_TEXT && f->name == NULL);
			REQUIRE(f->data != NULL || f->len == 0);
			if (f->data >= raw && f->data <= rend)
				REQUIRE(f->len <= (size_t)(rend - f->data));
			else
				REQUIRE(f->quoted && f->len <= rec->raw_len);
			if (!f->quoted)
				REQUIRE(!memchr(f->data, d->delimiter, f->len) &&
					!memchr(f->data, '\n', f->len) && !memchr(f->data, '\r', f->len));
			put_u64(out, f->quoted);
			put_u64(out, f->len);
			REQUIRE(mfs_buf_append(out, f->data, f->len) == 0);
		}
	}
	/* only a record over the limit may fail the read */
	REQUIRE(ret == 0 || (ret == -EFBIG && max_record));
	put_u64(out, (uint64_t)ret);
	put_u64(out, r->skipped_lines);
	mfs_reader_free(r);
}

/* The decoded input, read through the decoder in reads of odd sizes. */
static void decode_all(const uint8_t *data, size_t size, enum mfs_encoding enc, struct mfs_buf *out)
{
	struct mfs_source *dec;
	char buf[613];
	ssize_t n;

	REQUIRE(mfs_decode_open(mfs_source_mem(data, size), enc, &dec) == 0);
	while ((n = mfs_source_read(dec, buf, 1 + out->len % sizeof(buf))) > 0)
		REQUIRE(mfs_buf_append(out, buf, (size_t)n) == 0);
	REQUIRE(n == 0);
	mfs_source_close(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char delims[] = { ',', ';', '\t', '|' };
	struct mfs_buf text = MFS_BUF_INIT, one = MFS_BUF_INIT, two = MFS_BUF_INIT;
	enum mfs_encoding enc = mfs_encoding_detect(data, size);
	struct mfs_csv_dialect d;
	struct mfs_source *src;
	size_t sample, max_record;
	uint8_t b = size ? data[0] : 0;
	int r;

	mfs_buf_append(&text, "", 0);
	decode_all(data, size, enc, &text);
	REQUIRE(valid_utf8((const unsigned char *)text.data, text.len));

	sample = text.len < SAMPLE_MAX ? text.len : SAMPLE_MAX;
	r = mfs_dialect_sniff(text.data, sample, sample == text.len, &d);
	while (r == -EAGAIN) {
		/* as silver does: a quoted field runs past the sample, look further */
		REQUIRE(sample < text.len);
		sample = sample * 2 < text.len ? sample * 2 : text.len;
		r = mfs_dialect_sniff(text.data, sample, sample == text.len, &d);
	}
	if (r == 0) {
		REQUIRE(memchr(delims, d.delimiter, sizeof(delims)));
		REQUIRE(d.quote == '"' || d.quote == 0);
		REQUIRE(d.comment == '#' || d.comment == 0);
		REQUIRE(d.header == 0 || d.header == 1);
		src = mfs_source_mem(text.data, text.len);
		read_all(src, &d, 0, 0, &one);
		mfs_source_close(src);
		/* the whole chain, a few bytes per read under the decoder */
		REQUIRE(mfs_decode_open(drip_new(data, size, b), enc, &src) == 0);
		read_all(src, &d, 0, 0, &two);
		mfs_source_close(src);
		REQUIRE(one.len == two.len && !memcmp(one.data, two.data, one.len));
	} else {
		REQUIRE(r == -EINVAL && !strncmp(mfs_last_error(), "not a table: ", 13));
	}

	/* Every option of the reader, whatever the sniffer said. */
	d.delimiter = delims[b & 3];
	d.quote = b & 4 ? '"' : 0;
	d.header = !!(b & 8);
	d.comment = b & 16 ? '#' : 0;
	d.trailing_delimiter = !!(b & 32);
	d.skip_lines = b >> 6;
	max_record = size > 1 ? 1 + data[1] % 128 : 0;
	src = mfs_source_mem(text.data, text.len);
	read_all(src, &d, 0, max_record, &one);
	mfs_source_close(src);
	/* in pieces, into a small block that has to grow */
	src = drip_new((const uint8_t *)text.data, text.len, b * 7u + (unsigned)size);
	read_all(src, &d, 1 + size % 300, max_record, &two);
	mfs_source_close(src);
	REQUIRE(one.len == two.len && !memcmp(one.data, two.data, one.len));

	mfs_buf_free(&text);
	mfs_buf_free(&one);
	mfs_buf_free(&two);
	return 0;
}
