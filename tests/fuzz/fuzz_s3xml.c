/*
 * fuzz_s3xml.c - libFuzzer target for the S3 response parsers (s3_xml.c):
 * ListObjectsV2 pages, <Error> bodies and ISO-8601 times.
 *
 * These bodies come from the network, so a hostile or broken server must not
 * be able to crash the daemon or slip it a listing that is not what it sent.
 * Each input is parsed as a listing and as an error body. A listing that
 * parses must be bounded by its input (no key, prefix or token is longer
 * than the body, nor are they all together: XML escapes and %XX only ever
 * shrink text) and must survive a round trip: written back as XML here, with
 * every key %-encoded under EncodingType=url, it parses to the same keys,
 * sizes, times, ETags, prefixes and continuation. An error that parses has
 * a <Code>, and every string is terminated inside its field. The leading
 * bytes of the input are also tried as a <Size> against an oracle written
 * here (decimal digits only, no overflow), as a url-encoded key against a
 * decoder written here, and as a LastModified time.
 *
 * A failed check prints what and aborts, which the fuzzer and replay.c
 * report as a crash.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "s3_xml.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(cond)                                                                        \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "fuzz_s3xml: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* Is @s (NUL-terminated) valid UTF-8, so it may be written back into XML? */
static int utf8_ok(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		size_t k, j;

		if (*s < 0x80) {
			s++;
			continue;
		}
		if (*s >= 0xc2 && *s < 0xe0)
			k = 2;
		else if (*s >= 0xe0 && *s < 0xf0)
			k = 3;
		else if (*s >= 0xf0 && *s < 0xf5)
			k = 4;
		else
			return 0;
		for (j = 1; j < k; j++)
			if ((s[j] & 0xc0) != 0x80)
				return 0;
		s += k;
	}
	return 1;
}

/* Append @s as XML character data: the markup characters and CR escaped. */
static void put_text(struct mfs_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			ASSERT(mfs_buf_append(b, "&amp;", 5) == 0);
			break;
		case '<':
			ASSERT(mfs_buf_append(b, "&lt;", 4) == 0);
			break;
		case '>':
			ASSERT(mfs_buf_append(b, "&gt;", 4) == 0);
			break;
		case '\r':
			/* a literal CR would come back as LF (XML line-end rule) */
			ASSERT(mfs_buf_append(b, "&#13;", 5) == 0);
			break;
		default:
			ASSERT(mfs_buf_append(b, s, 1) == 0);
		}
	}
}

/* Append @s with every byte %XX-encoded (any byte but NUL survives that). */
static void put_url(struct mfs_buf *b, const char *s)
{
	for (; *s; s++)
		ASSERT(mfs_buf_appendf(b, "%%%02X", (unsigned char)*s) == 0);
}

/* Write @o back as a <Contents>; 0 when its time cannot be written (year > 9999). */
static int put_object(struct mfs_buf *b, const struct mfs_object *o, int *meta_ok)
{
	struct tm tm;

	ASSERT(mfs_buf_appendf(b, "<Contents><Key>") == 0);
	put_url(b, o->key);
	ASSERT(mfs_buf_appendf(b, "</Key><Size>%llu</Size>", (unsigned long long)o->size) == 0);
	if (o->mtime.tv_sec || o->mtime.tv_nsec) {
		ASSERT(gmtime_r(&o->mtime.tv_sec, &tm));
		if (tm.tm_year + 1900 > 9999)
			return 0;
		ASSERT(mfs_buf_appendf(b,
				       "<LastModified>%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ"
				       "</LastModified>",
				       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
				       tm.tm_min, tm.tm_sec, o->mtime.tv_nsec) == 0);
	}
	/* A cut ETag may end inside a UTF-8 sequence: it cannot go back into XML. */
	*meta_ok = utf8_ok(o->etag) && utf8_ok(o->storage_class);
	if (*meta_ok) {
		ASSERT(mfs_buf_appendf(b, "<ETag>\"") == 0);
		put_text(b, o->etag);
		ASSERT(mfs_buf_appendf(b, "\"</ETag>") == 0);
		if (o->storage_class[0]) {
			ASSERT(mfs_buf_appendf(b, "<StorageClass>") == 0);
			put_text(b, o->storage_class);
			ASSERT(mfs_buf_appendf(b, "</StorageClass>") == 0);
		}
	}
	ASSERT(mfs_buf_appendf(b, "</Contents>") == 0);
	return 1;
}

static void check_roundtrip(const struct mfs_listing *pg, const struct mfs_s3_list_info *in)
{
	struct mfs_buf b = MFS_BUF_INIT;
	struct mfs_listing pg2;
	struct mfs_s3_list_info in2;
	int *meta_ok = calloc(pg->n_objects + 1, sizeof(*meta_ok));
	size_t i;

	ASSERT(meta_ok);
	ASSERT(mfs_buf_appendf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
				   "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/"
				   "2006-03-01/\"><EncodingType>url</EncodingType>") == 0);
	ASSERT(mfs_buf_appendf(&b, "<IsTruncated>%s</IsTruncated>",
			       in->is_truncated ? "true" : "false") == 0);
	if (in->next_token) {
		ASSERT(mfs_buf_appendf(&b, "<NextContinuationToken>") == 0);
		put_text(&b, in->next_token);
		ASSERT(mfs_buf_appendf(&b, "</NextContinuationToken>") == 0);
	}
	if (in->key_count >= 0)
		ASSERT(mfs_buf_appendf(&b, "<KeyCount>%ld</KeyCount>", in->key_count) == 0);
	for (i = 0; i < pg->n_objects; i++) {
		if (!put_object(&b, &pg->objects[i], &meta_ok[i]))
			goto out;
	}
	for (i = 0; i < pg->n_prefixes; i++) {
		ASSERT(mfs_buf_appendf(&b, "<CommonPrefixes><Prefix>") == 0);
		put_url(&b, pg->prefixes[i]);
		ASSERT(mfs_buf_appendf(&b, "</Prefix></CommonPrefixes>") == 0);
	}
	ASSERT(mfs_buf_appendf(&b, "</ListBucketResult>") == 0);

	if (mfs_s3_parse_list(b.data, b.len, &pg2, &in2) != 0) {
		fprintf(stderr, "fuzz_s3xml: round trip refused:\n%s\n", b.data);
		ASSERT(0);
	}
	ASSERT(in2.is_truncated == in->is_truncated && in2.url_encoded);
	ASSERT(!in->next_token == !in2.next_token);
	ASSERT(!in->next_token || strcmp(in->next_token, in2.next_token) == 0);
	ASSERT(in2.key_count == in->key_count);
	ASSERT(pg2.n_objects == pg->n_objects && pg2.n_prefixes == pg->n_prefixes);
	for (i = 0; i < pg->n_objects; i++) {
		const struct mfs_object *a = &pg->objects[i], *o = &pg2.objects[i];

		ASSERT(strcmp(a->key, o->key) == 0);
		ASSERT(a->size == o->size);
		ASSERT(a->mtime.tv_sec == o->mtime.tv_sec && a->mtime.tv_nsec == o->mtime.tv_nsec);
		if (meta_ok[i]) {
			ASSERT(strcmp(a->etag, o->etag) == 0);
			ASSERT(strcmp(a->storage_class, o->storage_class) == 0);
		}
	}
	for (i = 0; i < pg->n_prefixes; i++)
		ASSERT(strcmp(pg->prefixes[i], pg2.prefixes[i]) == 0);
	mfs_listing_free(&pg2);
	mfs_s3_list_info_free(&in2);
out:
	free(meta_ok);
	mfs_buf_free(&b);
}

static void fuzz_list(const uint8_t *data, size_t size)
{
	struct mfs_listing pg;
	struct mfs_s3_list_info in;
	size_t i, total = 0;
	int r;

	r = mfs_s3_parse_list((const char *)data, size, &pg, &in);
	ASSERT(r == 0 || r == -EINVAL || r == -ENOMEM);
	if (r == 0) {
		ASSERT(size > 0);
		ASSERT(pg.n_objects == 0 || pg.objects);
		ASSERT(pg.n_prefixes == 0 || pg.prefixes);
		ASSERT(in.key_count >= -1);
		/* a truncated page always says where to go on */
		ASSERT(!in.is_truncated || (in.next_token && in.next_token[0]));
		for (i = 0; i < pg.n_objects; i++) {
			const struct mfs_object *o = &pg.objects[i];

			ASSERT(o->key);
			total += strlen(o->key);
			ASSERT(memchr(o->etag, 0, sizeof(o->etag)));
			ASSERT(memchr(o->storage_class, 0, sizeof(o->storage_class)));
			ASSERT(strcmp(o->storage_class, "STANDARD") != 0);
			ASSERT(o->mtime.tv_sec >= 0 && o->mtime.tv_nsec >= 0 &&
			       o->mtime.tv_nsec < 1000000000L);
		}
		for (i = 0; i < pg.n_prefixes; i++) {
			ASSERT(pg.prefixes[i]);
			total += strlen(pg.prefixes[i]);
		}
		if (in.next_token)
			total += strlen(in.next_token);
		/* each object and prefix needs an element of its own in the body */
		ASSERT(total <= size);
		ASSERT(pg.n_objects + pg.n_prefixes <= size / 8);
		check_roundtrip(&pg, &in);
	}
	mfs_listing_free(&pg);
	mfs_s3_list_info_free(&in);
}

static void fuzz_error(const uint8_t *data, size_t size)
{
	struct mfs_s3_error e;
	int r, retry;

	r = mfs_s3_parse_error((const char *)data, size, &e);
	ASSERT(r == 0 || r == -EINVAL || r == -ENOMEM);
	/* whatever the outcome, the fields stay terminated strings */
	ASSERT(memchr(e.code, 0, sizeof(e.code)));
	ASSERT(memchr(e.message, 0, sizeof(e.message)));
	ASSERT(memchr(e.region, 0, sizeof(e.region)));
	if (r == 0) {
		ASSERT(e.code[0]);
		ASSERT(strlen(e.code) + strlen(e.message) + strlen(e.region) <= size);
		/* any code maps to an errno; only a 2xx or 416 is not a failure */
		r = mfs_s3_errno(0, 400, e.code, &retry, NULL);
		ASSERT(r <= 0 && (retry == 0 || retry == 1));
		ASSERT(r < 0 || strcmp(e.code, "InvalidRange") == 0);
	}
}

/* The multipart upload results: always a terminated string, empty on failure. */
static void fuzz_result(const uint8_t *data, size_t size)
{
	char out[96];
	int r;

	r = mfs_s3_parse_result((const char *)data, size, "InitiateMultipartUploadResult",
				"UploadId", out, sizeof(out));
	ASSERT(r == 0 || r == -EINVAL || r == -ENOMEM);
	ASSERT(memchr(out, 0, sizeof(out)) && (r == 0 || !out[0]));
	r = mfs_s3_parse_result((const char *)data, size, "CompleteMultipartUploadResult", "ETag",
				out, sizeof(out));
	ASSERT(r == 0 || r == -EINVAL || r == -ENOMEM);
	ASSERT(memchr(out, 0, sizeof(out)) && (r == 0 || !out[0]));
	ASSERT(r != 0 || strlen(out) <= size);
}

/* The leading printable bytes of the input as a <Size>, against an oracle. */
static void fuzz_size(const uint8_t *data, size_t size)
{
	struct mfs_buf b = MFS_BUF_INIT;
	struct mfs_listing pg;
	struct mfs_s3_list_info in;
	uint64_t want = 0;
	size_t n = 0, i;
	int valid = 1, r;

	/* printable, and nothing that is markup or could close a CDATA-like "]]>" */
	while (n < size && n < 40 && data[n] >= 0x20 && data[n] < 0x7f && data[n] != '<' &&
	       data[n] != '&' && data[n] != ']')
		n++;
	if (n == 0)
		valid = 0;
	for (i = 0; i < n && valid; i++) {
		unsigned d = data[i] - '0';

		if (data[i] < '0' || data[i] > '9' || want > (UINT64_MAX - d) / 10)
			valid = 0;
		else
			want = want * 10 + d;
	}
	ASSERT(mfs_buf_appendf(&b, "<ListBucketResult><Contents><Key>k</Key><Size>%.*s</Size>"
				   "</Contents></ListBucketResult>",
			       (int)n, (const char *)data) == 0);
	r = mfs_s3_parse_list(b.data, b.len, &pg, &in);
	ASSERT(valid ? r == 0 : r == -EINVAL);
	if (valid)
		ASSERT(pg.n_objects == 1 && pg.objects[0].size == want);
	mfs_listing_free(&pg);
	mfs_s3_list_info_free(&in);
	mfs_buf_free(&b);
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The leading printable bytes of the input as a url-encoded <Key> and
 * <Prefix>, against a decoder written here: a bad escape fails the page, a
 * name holding %00 is left out, any other comes back decoded.
 */
static void fuzz_url_key(const uint8_t *data, size_t size)
{
	struct mfs_buf b = MFS_BUF_INIT;
	struct mfs_listing pg;
	struct mfs_s3_list_info in;
	char want[64];
	size_t n = 0, i, w = 0;
	int bad = 0, nul = 0, r;

	while (n < size && n < 60 && data[n] >= 0x20 && data[n] < 0x7f && data[n] != '<' &&
	       data[n] != '&' && data[n] != ']')
		n++;
	for (i = 0; i < n; i++) {
		if (data[i] == '+') {
			want[w++] = ' ';
		} else if (data[i] != '%') {
			want[w++] = (char)data[i];
		} else if (i + 2 < n && hexval(data[i + 1]) >= 0 &&
			   hexval(data[i + 2]) >= 0) {
			want[w] = (char)(hexval(data[i + 1]) * 16 + hexval(data[i + 2]));
			nul |= want[w++] == 0;
			i += 2;
		} else {
			bad = 1;
			break;
		}
	}
	want[w] = '\0';
	ASSERT(mfs_buf_appendf(&b, "<ListBucketResult><EncodingType>url</EncodingType>"
				   "<Contents><Key>%.*s</Key></Contents><CommonPrefixes><Prefix>"
				   "%.*s</Prefix></CommonPrefixes></ListBucketResult>",
			       (int)n, (const char *)data, (int)n, (const char *)data) == 0);
	r = mfs_s3_parse_list(b.data, b.len, &pg, &in);
	ASSERT(bad ? r == -EINVAL : r == 0);
	if (!bad && nul)
		ASSERT(pg.n_objects == 0 && pg.n_prefixes == 0);
	if (!bad && !nul) {
		ASSERT(pg.n_objects == 1 && strcmp(pg.objects[0].key, want) == 0);
		ASSERT(pg.n_prefixes == 1 && strcmp(pg.prefixes[0], want) == 0);
	}
	mfs_listing_free(&pg);
	mfs_s3_list_info_free(&in);
	mfs_buf_free(&b);
}

static void fuzz_time(const uint8_t *data, size_t size)
{
	char s[64];
	struct timespec ts = { 0, 0 };
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;

	memcpy(s, data, n);
	s[n] = '\0';
	if (mfs_s3_parse_iso8601(s, &ts) == 0)
		ASSERT(ts.tv_sec >= 0 && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_list(data, size);
	fuzz_error(data, size);
	fuzz_result(data, size);
	fuzz_size(data, size);
	fuzz_url_key(data, size);
	fuzz_time(data, size);
	return 0;
}
