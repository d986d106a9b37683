/*
 * s3_xml.c - expat parsers for ListObjectsV2 pages and <Error> bodies, and
 * the one table that turns an S3 failure into an errno.
 *
 * The parsers take the whole body in one buffer (a page is at most 1 000
 * keys, an error body a few hundred bytes), track the element path on a
 * small stack and collect character data of leaf elements, which expat may
 * hand over in several pieces. Names are compared without a namespace
 * prefix so "s3:Key" from an odd server still reads as Key. expat does not
 * load external entities, and a document with a DTD is refused outright (S3
 * never sends one), so a hostile body cannot make us fetch anything or
 * expand entities without bound.
 */
#include "s3_xml.h"

#include <curl/curl.h>
#include <errno.h>
#include <expat.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/buf.h"

#define XML_MAX_DEPTH 8
/* A key is at most 1 024 bytes; anything far beyond that is not S3. */
#define XML_MAX_TEXT (64 * 1024)

enum doc_kind { DOC_LIST, DOC_ERROR, DOC_RESULT };

struct xml_state {
	enum doc_kind kind;
	int depth;
	const char *path[XML_MAX_DEPTH]; /* element names (static strings), "" if unknown */
	struct mfs_buf text;
	int err; /* sticky: first failure wins */
	XML_Parser parser;

	/* DOC_LIST */
	struct mfs_listing *page;
	struct mfs_s3_list_info *info;
	struct mfs_object cur; /* the <Contents> being read */
	int have_key;
	size_t obj_cap, pfx_cap;

	/* DOC_ERROR */
	struct mfs_s3_error *error;
	int is_error_doc;

	/* DOC_RESULT: the text of root/field */
	const char *want_root, *want_field; /* interned */
	char *out;
	size_t outlen;
	int found;
};

/* Names we care about; anything else maps to "". */
static const char *const known_names[] = {
	"ListBucketResult", "Contents", "CommonPrefixes", "Key", "Size", "LastModified",
	"ETag", "StorageClass", "Prefix", "IsTruncated", "NextContinuationToken",
	"KeyCount", "EncodingType", "Error", "Code", "Message", "Region",
	"InitiateMultipartUploadResult", "UploadId", "CompleteMultipartUploadResult",
};

static const char *intern_name(const char *name)
{
	const char *colon = strrchr(name, ':');
	size_t i;

	if (colon)
		name = colon + 1;
	for (i = 0; i < sizeof(known_names) / sizeof(*known_names); i++)
		if (strcmp(name, known_names[i]) == 0)
			return known_names[i];
	return "";
}

/* Is the element path exactly @a/@b/@c (NULLs end it)? Names are interned. */
static int at(const struct xml_state *s, const char *a, const char *b, const char *c)
{
	const char *want[3] = { a, b, c };
	int n = c ? 3 : b ? 2 : 1;
	int i;

	if (s->depth != n)
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(s->path[i], want[i]) != 0)
			return 0;
	return 1;
}

static void set_err(struct xml_state *s, int err)
{
	if (!s->err)
		s->err = err;
}

static void XMLCALL on_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct xml_state *s = arg;

	(void)attrs;
	if (s->depth >= XML_MAX_DEPTH) {
		/* Deeper than any S3 document: keep counting, ignore content. */
		s->depth++;
		return;
	}
	s->path[s->depth++] = intern_name(name);
	mfs_buf_reset(&s->text);
	if (s->kind == DOC_LIST && at(s, "ListBucketResult", "Contents", NULL)) {
		mfs_object_free(&s->cur);
		memset(&s->cur, 0, sizeof(s->cur));
		s->have_key = 0;
	}
	if (s->depth == 1)
		s->is_error_doc = strcmp(s->path[0], "Error") == 0;
}

static void XMLCALL on_text(void *arg, const XML_Char *text, int len)
{
	struct xml_state *s = arg;

	if (s->err || s->depth > XML_MAX_DEPTH)
		return;
	if (s->text.len + (size_t)len > XML_MAX_TEXT) {
		set_err(s, -EINVAL);
		return;
	}
	if (mfs_buf_append(&s->text, text, (size_t)len))
		set_err(s, -ENOMEM);
}

static int parse_u64(const char *t, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*t < '0' || *t > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(t, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Copy an ETag without the quotes S3 puts around it. */
static void copy_etag(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (n >= 2 && src[0] == '"' && src[n - 1] == '"') {
		src++;
		n -= 2;
	}
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void copy_str(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int push_object(struct xml_state *s)
{
	struct mfs_listing *p = s->page;

	if (!s->have_key)
		return -EINVAL;
	if (p->n_objects == s->obj_cap) {
		size_t cap = s->obj_cap ? s->obj_cap * 2 : 64;
		struct mfs_object *o = realloc(p->objects, cap * sizeof(*o));

		if (!o)
			return -ENOMEM;
		p->objects = o;
		s->obj_cap = cap;
	}
	p->objects[p->n_objects++] = s->cur;
	memset(&s->cur, 0, sizeof(s->cur)); /* the key moved into the page */
	s->have_key = 0;
	return 0;
}

static int push_prefix(struct xml_state *s, const char *text)
{
	struct mfs_listing *p = s->page;
	char *dup;

	if (p->n_prefixes == s->pfx_cap) {
		size_t cap = s->pfx_cap ? s->pfx_cap * 2 : 16;
		char **v = realloc(p->prefixes, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->prefixes = v;
		s->pfx_cap = cap;
	}
	dup = strdup(text);
	if (!dup)
		return -ENOMEM;
	p->prefixes[p->n_prefixes++] = dup;
	return 0;
}

static void end_list(struct xml_state *s)
{
	const char *t = s->text.data ? s->text.data : "";
	int r = 0;

	if (at(s, "ListBucketResult", "Contents", "Key")) {
		free(s->cur.key);
		s->cur.key = strdup(t);
		if (!s->cur.key)
			r = -ENOMEM;
		s->have_key = 1;
	} else if (at(s, "ListBucketResult", "Contents", "Size")) {
		r = parse_u64(t, &s->cur.size);
	} else if (at(s, "ListBucketResult", "Contents", "LastModified")) {
		r = mfs_s3_parse_iso8601(t, &s->cur.mtime);
	} else if (at(s, "ListBucketResult", "Contents", "ETag")) {
		copy_etag(s->cur.etag, sizeof(s->cur.etag), t);
	} else if (at(s, "ListBucketResult", "Contents", "StorageClass")) {
		if (strcmp(t, "STANDARD") != 0)
			copy_str(s->cur.storage_class, sizeof(s->cur.storage_class), t);
	} else if (at(s, "ListBucketResult", "Contents", NULL)) {
		r = push_object(s);
	} else if (at(s, "ListBucketResult", "CommonPrefixes", "Prefix")) {
		r = push_prefix(s, t);
	} else if (at(s, "ListBucketResult", "IsTruncated", NULL)) {
		s->info->is_truncated = strcasecmp(t, "true") == 0;
	} else if (at(s, "ListBucketResult", "NextContinuationToken", NULL)) {
		free(s->info->next_token);
		s->info->next_token = strdup(t);
		if (!s->info->next_token)
			r = -ENOMEM;
	} else if (at(s, "ListBucketResult", "KeyCount", NULL)) {
		uint64_t v;

		r = parse_u64(t, &v);
		if (!r)
			s->info->key_count = v > LONG_MAX ? LONG_MAX : (long)v;
	} else if (at(s, "ListBucketResult", "EncodingType", NULL)) {
		s->info->url_encoded = strcasecmp(t, "url") == 0;
	}
	if (r)
		set_err(s, r);
}

static void end_error(struct xml_state *s)
{
	const char *t = s->text.data ? s->text.data : "";

	if (at(s, "Error", "Code", NULL))
		copy_str(s->error->code, sizeof(s->error->code), t);
	else if (at(s, "Error", "Message", NULL))
		copy_str(s->error->message, sizeof(s->error->message), t);
	else if (at(s, "Error", "Region", NULL))
		copy_str(s->error->region, sizeof(s->error->region), t);
}

static void end_result(struct xml_state *s)
{
	if (!at(s, s->want_root, s->want_field, NULL))
		return;
	if (strcmp(s->want_field, "ETag") == 0)
		copy_etag(s->out, s->outlen, s->text.data ? s->text.data : "");
	else
		copy_str(s->out, s->outlen, s->text.data ? s->text.data : "");
	s->found = 1;
}

static void XMLCALL on_end(void *arg, const XML_Char *name)
{
	struct xml_state *s = arg;

	(void)name;
	if (s->depth <= XML_MAX_DEPTH && !s->err) {
		if (s->kind == DOC_LIST)
			end_list(s);
		else if (s->kind == DOC_RESULT)
			end_result(s);
		else
			end_error(s);
	}
	s->depth--;
	mfs_buf_reset(&s->text);
}

/* S3 never sends a DTD; one in a response can only be trouble (entity bombs). */
static void XMLCALL on_doctype(void *arg, const XML_Char *name, const XML_Char *sysid,
			       const XML_Char *pubid, int has_internal_subset)
{
	struct xml_state *s = arg;

	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	set_err(s, -EINVAL);
	XML_StopParser(s->parser, XML_FALSE);
}

static int run_parser(struct xml_state *s, const char *xml, size_t len)
{
	XML_Parser p = XML_ParserCreate("UTF-8");
	int r = 0;

	if (!p)
		return -ENOMEM;
	s->parser = p;
	XML_SetUserData(p, s);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	XML_SetStartDoctypeDeclHandler(p, on_doctype);
	if (len > INT32_MAX) {
		r = -EINVAL;
		goto out;
	}
	if (XML_Parse(p, xml, (int)len, 1) != XML_STATUS_OK) {
		r = s->err ? s->err : XML_GetErrorCode(p) == XML_ERROR_NO_MEMORY ? -ENOMEM : -EINVAL;
		goto out;
	}
	r = s->err;
out:
	XML_ParserFree(p);
	return r;
}

static int hexval(int c)
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
 * In place: %XX -> byte, '+' -> ' ' (S3's encoding-type=url is form-style).
 * -EINVAL for a malformed escape; -EILSEQ when the name holds a %00, which
 * no file name can carry and which, cut there, would name another object.
 */
static int url_decode(char *s)
{
	char *w = s;
	int nul = 0;

	for (; *s; s++) {
		if (*s == '+') {
			*w++ = ' ';
		} else if (*s == '%') {
			int hi = hexval((unsigned char)s[1]), lo;

			if (hi < 0)
				return -EINVAL;
			lo = hexval((unsigned char)s[2]);
			if (lo < 0)
				return -EINVAL;
			*w++ = (char)(hi * 16 + lo);
			nul |= hi == 0 && lo == 0;
			s += 2;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
	return nul ? -EILSEQ : 0;
}

/*
 * Decode every key and prefix of @page, dropping those that hold a NUL
 * (see url_decode): one object nobody can open must not make the whole
 * directory unlistable. A slot emptied by a drop or a move is left NULL, so
 * that on -EINVAL mfs_listing_free() frees every name exactly once.
 */
static int url_decode_page(struct mfs_listing *page)
{
	size_t i, n;
	int r;

	for (i = 0, n = 0; i < page->n_objects; i++) {
		r = url_decode(page->objects[i].key);
		if (r == -EILSEQ) {
			mfs_object_free(&page->objects[i]);
			continue;
		}
		if (r)
			return r;
		if (n != i) {
			page->objects[n] = page->objects[i];
			page->objects[i].key = NULL;
		}
		n++;
	}
	page->n_objects = n;
	for (i = 0, n = 0; i < page->n_prefixes; i++) {
		r = url_decode(page->prefixes[i]);
		if (r == -EILSEQ) {
			free(page->prefixes[i]);
			page->prefixes[i] = NULL;
			continue;
		}
		if (r)
			return r;
		if (n != i) {
			page->prefixes[n] = page->prefixes[i];
			page->prefixes[i] = NULL;
		}
		n++;
	}
	page->n_prefixes = n;
	return 0;
}

int mfs_s3_parse_list(const char *xml, size_t len, struct mfs_listing *page,
		      struct mfs_s3_list_info *info)
{
	struct xml_state s;
	int r;

	memset(page, 0, sizeof(*page));
	memset(info, 0, sizeof(*info));
	info->key_count = -1;
	memset(&s, 0, sizeof(s));
	s.kind = DOC_LIST;
	s.page = page;
	s.info = info;
	r = run_parser(&s, xml, len);
	if (r)
		goto out;
	if (s.depth != 0 || s.is_error_doc) {
		r = -EINVAL;
		goto out;
	}
	/* An empty body or a different root is not a listing. */
	if (!xml || len == 0) {
		r = -EINVAL;
		goto out;
	}
	if (info->url_encoded)
		r = url_decode_page(page);
	if (!r && info->is_truncated && (!info->next_token || !*info->next_token))
		r = -EINVAL; /* a truncated page we cannot continue from */
out:
	mfs_object_free(&s.cur);
	mfs_buf_free(&s.text);
	return r;
}

void mfs_s3_list_info_free(struct mfs_s3_list_info *info)
{
	free(info->next_token);
	info->next_token = NULL;
}

int mfs_s3_parse_error(const char *xml, size_t len, struct mfs_s3_error *out)
{
	struct xml_state s;
	int r;

	memset(out, 0, sizeof(*out));
	if (!xml || len == 0)
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	s.kind = DOC_ERROR;
	s.error = out;
	r = run_parser(&s, xml, len);
	/*
	 * Without a <Code> there is nothing to map (the status decides), and
	 * calling it a parsed error would let an HTML page from a proxy that
	 * happens to use <Error> pass for S3's word.
	 */
	if (!r && (!s.is_error_doc || !out->code[0]))
		r = -EINVAL;
	mfs_buf_free(&s.text);
	return r;
}

int mfs_s3_parse_result(const char *xml, size_t len, const char *root, const char *field,
			char *out, size_t outlen)
{
	struct xml_state s;
	int r;

	if (outlen)
		out[0] = '\0';
	if (!xml || len == 0 || outlen == 0)
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	s.kind = DOC_RESULT;
	s.want_root = intern_name(root);
	s.want_field = intern_name(field);
	s.out = out;
	s.outlen = outlen;
	if (!s.want_root[0] || !s.want_field[0])
		return -EINVAL;
	r = run_parser(&s, xml, len);
	if (!r && !s.found)
		r = -EINVAL;
	if (r)
		out[0] = '\0';
	mfs_buf_free(&s.text);
	return r;
}

int mfs_s3_parse_iso8601(const char *s, struct timespec *ts)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, n = 0;
	long nsec = 0;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return -EINVAL;
	s += n;
	if (*s == '.') {
		long scale = 100000000;

		s++;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		for (; *s >= '0' && *s <= '9'; s++) {
			nsec += (*s - '0') * scale; /* digits past ns are dropped */
			scale /= 10;
		}
	}
	if (strcmp(s, "Z") != 0 && strcmp(s, "+00:00") != 0)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	ts->tv_sec = t;
	ts->tv_nsec = nsec;
	return 0;
}

/* S3 <Code> values with a meaning of their own; everything else goes by status. */
static const struct {
	const char *code;
	int err;
	int retry;
	const char *reason;
} s3_codes[] = {
	{ "NoSuchKey", -ENOENT, 0, NULL },
	{ "NoSuchBucket", -ENOENT, 0, NULL },
	{ "NotFound", -ENOENT, 0, NULL },
	{ "AccessDenied", -EACCES, 0, NULL },
	{ "AllAccessDisabled", -EACCES, 0, NULL },
	{ "SignatureDoesNotMatch", -EACCES, 0, NULL },
	{ "InvalidAccessKeyId", -EACCES, 0, NULL },
	{ "ExpiredToken", -EACCES, 0, NULL },
	{ "InvalidToken", -EACCES, 0, NULL },
	{ "TokenRefreshRequired", -EACCES, 0, NULL },
	{ "RequestTimeTooSkewed", -EACCES, 0, "the clock of this machine is off: sync it" },
	{ "InvalidObjectState", -EIO, 0, "object is archived (InvalidObjectState): restore it first" },
	{ "InvalidRange", 0, 0, NULL },
	{ "SlowDown", -EIO, 1, NULL },
	{ "RequestTimeout", -ETIMEDOUT, 1, NULL },
	{ "InternalError", -EIO, 1, NULL },
	{ "ServiceUnavailable", -EIO, 1, NULL },
};

int mfs_s3_errno(int curl_code, long status, const char *code, int *retry, const char **reason)
{
	size_t i;

	*retry = 0;
	if (reason)
		*reason = NULL;
	switch ((CURLcode)curl_code) {
	case CURLE_OK:
		break;
	case CURLE_COULDNT_CONNECT:
		*retry = 1;
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		/* A resolver hiccup is transient; a wrong name costs only the backoff. */
		*retry = 1;
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		*retry = 1;
		return -ETIMEDOUT;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		*retry = 1;
		return -EIO;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		if (reason)
			*reason = "TLS certificate verification failed: check the CA bundle "
				  "(AWS_CA_BUNDLE, CURL_CA_BUNDLE)";
		return -EIO;
	default:
		return -EIO;
	}
	if (status >= 200 && status < 300)
		return 0;
	if (code && *code) {
		for (i = 0; i < sizeof(s3_codes) / sizeof(*s3_codes); i++) {
			if (strcmp(code, s3_codes[i].code) == 0) {
				*retry = s3_codes[i].retry;
				if (reason)
					*reason = s3_codes[i].reason;
				return s3_codes[i].err;
			}
		}
	}
	if (status == 416)
		return 0;
	if (status == 404)
		return -ENOENT;
	if (status == 401 || status == 403)
		return -EACCES;
	if (status == 429 || status >= 500) {
		*retry = 1;
		return -EIO;
	}
	return -EIO;
}
