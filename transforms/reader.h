/*
 * reader.h - streaming record readers behind one interface (CSV and its
 * dialects, JSON Lines, JSON arrays), over a decoded UTF-8 byte source.
 *
 * A reader never holds a whole object: it reads its source in blocks and
 * hands out one record at a time. Everything a record points to (fields,
 * names, raw text) is valid only until the next call of mfs_reader_next() or
 * mfs_reader_free() on the same reader.
 */
#ifndef MFS_READER_H
#define MFS_READER_H

#include <stddef.h>
#include <stdint.h>

#include "../util/stream.h"

enum mfs_field_kind {
	MFS_FIELD_TEXT = 0, /* CSV text, JSON string */
	MFS_FIELD_NUMBER,   /* JSON number, as written */
	MFS_FIELD_BOOL,     /* JSON true/false, as written */
	MFS_FIELD_NULL,     /* JSON null (CSV never: an empty field is TEXT of length 0) */
	MFS_FIELD_JSON,     /* JSON array kept as JSON text */
};

struct mfs_field {
	const char *data; /* UTF-8, not NUL-terminated; quotes removed and "" undoubled */
	size_t len;
	enum mfs_field_kind kind;
	int quoted;       /* CSV: the field was quoted */
	const char *name; /* JSON: flattened key (a_b for {"a":{"b":..}}); CSV: NULL */
	size_t name_len;
};

struct mfs_record {
	struct mfs_field *fields;
	size_t nfields;
	uint64_t line;     /* 1-based line of the record's first line in the decoded input */
	const char *raw;   /* the record's text as read (for rejects), without line end */
	size_t raw_len;
	const char *error; /* non-NULL: the record is malformed (e.g. unbalanced quote,
			      invalid JSON); fields may be partial; it goes to rejects */
};

/* A CSV dialect, as given by the pipeline or found by mfs_dialect_sniff(). */
struct mfs_csv_dialect {
	char delimiter;        /* ',', ';', '\t', '|' */
	char quote;            /* '"', or 0 for none */
	int header;            /* the first record after the preamble names the columns */
	uint64_t skip_lines;   /* preamble/junk lines before the header (or first record) */
	char comment;          /* lines starting with it are skipped ('#'), or 0 */
	int trailing_delimiter;/* every line ends with a delimiter: it adds no column */
};

struct mfs_reader;

struct mfs_reader_ops {
	/* 1 and *@rec set: a record; 0: end of input; -errno: the stream failed. */
	int (*next)(struct mfs_reader *r, const struct mfs_record **rec);
	void (*free)(struct mfs_reader *r);
};

struct mfs_reader {
	const struct mfs_reader_ops *ops;
	/* CSV with header: the column names, set once the header was read
	 * (before the first record is returned); valid until mfs_reader_free(). */
	const struct mfs_field *header;
	size_t nheader;
	/* Lines that were not records: preamble, comments, blank lines. */
	uint64_t skipped_lines;
};

static inline int mfs_reader_next(struct mfs_reader *r, const struct mfs_record **rec)
{
	return r->ops->next(r, rec);
}

static inline void mfs_reader_free(struct mfs_reader *r)
{
	if (r)
		r->ops->free(r);
}

/* ---- CSV (transforms/csv.c, dialect.c) ---- */

/* @src is not owned. Records come after the dialect's skip_lines and header. */
int mfs_csv_reader_new(struct mfs_source *src, const struct mfs_csv_dialect *d,
		       struct mfs_reader **out);

/*
 * Find the dialect of decoded UTF-8 @sample (the first bytes of the input,
 * up to ~1 MiB; @at_eof: the sample is the whole input), as DuckDB's sniffer
 * does: for each candidate delimiter and quote, the number of columns per
 * line; the most consistent candidate wins; junk lines above it become
 * skip_lines; a header is assumed when the first row is all non-numeric text
 * and a later row has a typed value where it has text. -EINVAL (with a
 * reason via mfs_set_error) when no candidate gives a consistent table.
 */
int mfs_dialect_sniff(const char *sample, size_t len, int at_eof, struct mfs_csv_dialect *out);
/*
 * -EAGAIN from mfs_dialect_sniff(): the sample ends inside a quoted field
 * that began in its first half; sniff again on a sample twice as large, up to
 * this many bytes (a sample this large, or at_eof, never gets -EAGAIN).
 */
#define MFS_SNIFF_MAX_SAMPLE (16u << 20)

/* ---- text decoding (transforms/decode.c) ---- */

enum mfs_encoding {
	MFS_ENC_UTF8 = 0,
	MFS_ENC_UTF8_BOM,
	MFS_ENC_UTF16LE, /* with BOM */
	MFS_ENC_UTF16BE, /* with BOM */
	MFS_ENC_LATIN1,
};

/* Guess from the first bytes: BOMs, then UTF-8 validity (invalid → Latin-1). */
enum mfs_encoding mfs_encoding_detect(const void *sample, size_t len);

/* A source yielding UTF-8 (BOM removed) from @inner in @enc; @inner is owned. */
int mfs_decode_open(struct mfs_source *inner, enum mfs_encoding enc, struct mfs_source **out);

/* ---- decompression (transforms/decompress.c) ---- */

enum mfs_codec { MFS_CODEC_NONE = 0, MFS_CODEC_GZIP, MFS_CODEC_ZSTD };

/* A source yielding the decompressed bytes of @inner; @inner is owned.
 * Corrupt input fails the stream with -EBADMSG and a reason. */
int mfs_decompress_open(struct mfs_source *inner, enum mfs_codec codec, struct mfs_source **out);

/* ---- JSON (transforms/json.c) ---- */

enum mfs_json_shape {
	MFS_JSON_LINES, /* one object per line (.jsonl, .ndjson) */
	MFS_JSON_ARRAY, /* one top-level array of objects (.json) */
};

/*
 * Objects are flattened: nested object keys joined with '_' ("a.b" style
 * nesting {"a":{"b":1}} gives a_b), arrays kept as JSON text. A line (or
 * array element) that is not an object is a malformed record. @src is not
 * owned.
 */
int mfs_json_reader_new(struct mfs_source *src, enum mfs_json_shape shape,
			struct mfs_reader **out);

#endif
