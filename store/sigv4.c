/*
 * sigv4.c - AWS Signature Version 4 header signing and S3 URI encoding.
 *
 * We sign requests ourselves instead of using CURLOPT_AWS_SIGV4 because the
 * libcurl of Debian 12 does not sort query parameters, so every listing with
 * more than one parameter would be refused. Everything here is a pure function
 * of its arguments (no clock, no network, no global state), so the AWS test
 * suite can check it byte for byte (tests/unit/test_sigv4.c) and any thread
 * may call it at once.
 *
 * The result keeps the canonical request and the string to sign: when a
 * server answers SignatureDoesNotMatch it returns its own canonical request,
 * and comparing the two is the only practical way to find the difference.
 */
#include "sigv4.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "../util/err.h"

#define SHA256_LEN 32
#define AMZ_DATE_LEN 16 /* YYYYMMDDTHHMMSSZ */

static const char hex_upper[] = "0123456789ABCDEF";
static const char hex_lower[] = "0123456789abcdef";

/*
 * The one place where OpenSSL failures become errnos. An allocation failure
 * is what the caller can act on (-ENOMEM); anything else means a broken
 * OpenSSL setup (no default provider, ...), which no retry fixes: -EIO.
 */
static int ossl_to_errno(const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char msg[256] = "unknown error";

	if (e)
		ERR_error_string_n(e, msg, sizeof(msg));
	ERR_clear_error();
	mfs_set_error("sigv4: OpenSSL %s failed: %s", what, msg);
	if (e && ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
		return -ENOMEM;
	return -EIO;
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex_lower[in[i] >> 4];
		out[2 * i + 1] = hex_lower[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Whitespace that HTTP lets surround and separate header value words. */
static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Printable ASCII without space: what may appear in a name or scope part. */
static int is_token_string(const char *s, const char *forbidden)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
		if (forbidden && strchr(forbidden, *s))
			return 0;
	}
	return 1;
}

int mfs_uri_encode(struct mfs_buf *out, const char *s, size_t len, int keep_slash)
{
	size_t i;
	char *p;
	int r;

	if (len > (SIZE_MAX - 1) / 3)
		return -ENOMEM;
	/* Worst case up front, so the loop below cannot fail half way. */
	r = mfs_buf_reserve(out, 3 * len);
	if (r)
		return r;
	p = out->data + out->len;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c) || (c == '/' && keep_slash)) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex_upper[c >> 4];
			*p++ = hex_upper[c & 0xf];
		}
	}
	out->len = (size_t)(p - out->data);
	out->data[out->len] = '\0';
	return 0;
}

void mfs_sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	/*
	 * The prototype cannot report a failure; an empty string is refused by
	 * mfs_sigv4_sign() as a payload hash, so it cannot be signed by mistake.
	 */
	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != SHA256_LEN) {
		ossl_to_errno("SHA-256");
		hex[0] = '\0';
		return;
	}
	to_hex(md, SHA256_LEN, hex);
}

/* Percent-decode @len bytes of @s into @out; a stray '%' is a caller bug. */
static int uri_decode(struct mfs_buf *out, const char *s, size_t len)
{
	size_t i;
	int r;

	r = mfs_buf_reserve(out, len);
	if (r)
		return r;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			int hi = -1, lo = -1;

			if (len - i >= 3) {
				hi = hex_value((unsigned char)s[i + 1]);
				lo = hex_value((unsigned char)s[i + 2]);
			}
			if (hi < 0 || lo < 0) {
				/* Not the query itself: it may end up in a log. */
				mfs_set_error("sigv4: bad percent escape in the query string");
				return -EINVAL;
			}
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		out->data[out->len++] = c;
	}
	out->data[out->len] = '\0';
	return 0;
}

/*
 * S3 does not normalise: it decodes the path it receives and encodes it once
 * more, so the wire path must already be in that canonical form or the
 * signatures differ. Refusing anything else here turns an encoding bug in the
 * caller into a clear error instead of a SignatureDoesNotMatch.
 */
static int check_canonical_path(const char *path)
{
	const char *p;

	for (p = path; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (is_unreserved(c) || c == '/')
			continue;
		if (c == '%' && p[1] && p[2] && strchr(hex_upper, p[1]) &&
		    strchr(hex_upper, p[2])) {
			p += 2;
			continue;
		}
		mfs_set_error("sigv4: path \"%s\" is not URI-encoded canonically at offset %zu",
			      path, (size_t)(p - path));
		return -EINVAL;
	}
	return 0;
}

/*
 * RFC 3986 remove_dot_segments plus collapsing of empty segments, as every
 * AWS service but S3 does, then the second encoding. The trailing slash
 * survives, and so does the one implied by a final "." or "..".
 */
static int append_normalized_path(struct mfs_buf *out, const char *path)
{
	struct mfs_buf norm = MFS_BUF_INIT;
	size_t n_slash = 0, n = 0, i, plen = strlen(path);
	size_t *seg_off = NULL, *seg_len = NULL;
	const char *p = path, *end = path + plen;
	int trailing = 0, r = 0;

	for (i = 0; i < plen; i++)
		n_slash += path[i] == '/';
	seg_off = calloc(n_slash + 1, sizeof(*seg_off));
	seg_len = calloc(n_slash + 1, sizeof(*seg_len));
	if (!seg_off || !seg_len) {
		r = -ENOMEM;
		goto out;
	}
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t len = slash ? (size_t)(slash - p) : (size_t)(end - p);

		int dot = len == 1 && p[0] == '.';
		int dotdot = len == 2 && p[0] == '.' && p[1] == '.';

		if (dotdot) {
			if (n)
				n--;
		} else if (len && !dot) {
			seg_off[n] = (size_t)(p - path);
			seg_len[n] = len;
			n++;
		}
		trailing = slash ? slash + 1 == end : dot || dotdot;
		p = slash ? slash + 1 : end;
	}
	r = mfs_buf_append(&norm, "/", 1);
	for (i = 0; !r && i < n; i++) {
		r = mfs_buf_append(&norm, path + seg_off[i], seg_len[i]);
		if (!r && (i + 1 < n || trailing))
			r = mfs_buf_append(&norm, "/", 1);
	}
	if (!r)
		r = mfs_uri_encode(out, norm.data, norm.len, 1);
out:
	free(seg_off);
	free(seg_len);
	mfs_buf_free(&norm);
	return r;
}

static int append_canonical_path(struct mfs_buf *out, const char *path, int normalize)
{
	int r;

	if (!path || (*path && *path != '/')) {
		mfs_set_error("sigv4: path must start with '/'");
		return -EINVAL;
	}
	/* An empty absolute path is "/" on the wire and in every signer. */
	if (!*path)
		path = "/";
	if (normalize)
		return append_normalized_path(out, path);
	r = check_canonical_path(path);
	if (r)
		return r;
	return mfs_buf_append(out, path, strlen(path));
}

struct query_param {
	struct mfs_buf name;  /* canonically encoded */
	struct mfs_buf value; /* canonically encoded, "" when there was no '=' */
};

static int query_param_cmp(const void *a, const void *b)
{
	const struct query_param *x = a, *y = b;
	int c = strcmp(x->name.data, y->name.data);

	return c ? c : strcmp(x->value.data, y->value.data);
}

/* Decode the wire form and encode it again, so %2f and %2F sign the same. */
static int canonical_component(struct mfs_buf *out, const char *s, size_t len)
{
	struct mfs_buf raw = MFS_BUF_INIT;
	int r;

	/* mfs_uri_encode() leaves data allocated even when empty: strcmp-safe. */
	r = uri_decode(&raw, s, len);
	if (!r)
		r = mfs_uri_encode(out, raw.data, raw.len, 0);
	mfs_buf_free(&raw);
	return r;
}

static int append_canonical_query(struct mfs_buf *out, const char *query)
{
	struct query_param *params = NULL;
	size_t n_amp = 0, n = 0, i;
	const char *p, *end;
	int r = 0;

	if (!query || !*query)
		return 0;
	for (p = query; *p; p++)
		n_amp += *p == '&';
	params = calloc(n_amp + 1, sizeof(*params));
	if (!params)
		return -ENOMEM;
	end = query + strlen(query);
	for (p = query; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));

		/* "a&&b" and a trailing '&' carry no parameter. */
		if (stop > p) {
			struct query_param *q = &params[n++];

			r = canonical_component(&q->name, p, (size_t)((eq ? eq : stop) - p));
			if (!r)
				r = eq ? canonical_component(&q->value, eq + 1,
							     (size_t)(stop - eq - 1))
				       : canonical_component(&q->value, "", 0);
			if (r)
				goto out;
		}
		p = amp ? amp + 1 : end;
	}
	/* Byte order of the encoded forms, as the specification says. */
	qsort(params, n, sizeof(*params), query_param_cmp);
	for (i = 0; i < n; i++) {
		r = mfs_buf_appendf(out, "%s%s=%s", i ? "&" : "", params[i].name.data,
				    params[i].value.data);
		if (r)
			goto out;
	}
out:
	for (i = 0; i < n; i++) {
		mfs_buf_free(&params[i].name);
		mfs_buf_free(&params[i].value);
	}
	free(params);
	return r;
}

struct canon_header {
	char *name; /* lower case, owned */
	const char *value;
	size_t index; /* position in the request: keeps repeated values in order */
};

static int canon_header_cmp(const void *a, const void *b)
{
	const struct canon_header *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Trim, and fold every run of spaces and tabs inside into one space. */
static int append_header_value(struct mfs_buf *out, const char *v)
{
	int pending = 0, started = 0, r;

	r = mfs_buf_reserve(out, strlen(v));
	if (r)
		return r;
	for (; *v; v++) {
		if (is_ows(*v)) {
			pending = started;
			continue;
		}
		if (pending)
			out->data[out->len++] = ' ';
		out->data[out->len++] = *v;
		pending = 0;
		started = 1;
	}
	out->data[out->len] = '\0';
	return 0;
}

/* The value as it will be signed, compared with @want (x-amz-date check). */
static int header_value_equals(const char *v, const char *want)
{
	struct mfs_buf b = MFS_BUF_INIT;
	int eq;

	if (append_header_value(&b, v))
		return -ENOMEM;
	eq = b.data && strcmp(b.data, want) == 0;
	mfs_buf_free(&b);
	return eq;
}

/*
 * Canonical headers ("name:value\n" each, sorted, repeated names joined with
 * ',') into @out and the signed header list into @signed_headers.
 */
static int append_canonical_headers(struct mfs_buf *out, struct mfs_buf *signed_headers,
				    const struct mfs_sigv4_request *req, const char *amz_date)
{
	struct canon_header *h = NULL;
	int r = 0, have_host = 0, have_date = 0;
	size_t i, n = 0;

	if (!req->headers || !req->n_headers) {
		mfs_set_error("sigv4: no headers (host is required)");
		return -EINVAL;
	}
	h = calloc(req->n_headers, sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (n = 0; n < req->n_headers; n++) {
		const struct mfs_sigv4_header *src = &req->headers[n];
		char *c;

		/* A CR or LF in a value would also split the header on the wire. */
		if (!is_token_string(src->name, ":") || !src->value ||
		    strpbrk(src->value, "\r\n")) {
			mfs_set_error("sigv4: malformed header \"%s\"",
				      src->name ? src->name : "(null)");
			r = -EINVAL;
			goto out;
		}
		h[n].name = strdup(src->name);
		if (!h[n].name) {
			r = -ENOMEM;
			goto out;
		}
		for (c = h[n].name; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		h[n].value = src->value;
		h[n].index = n;
		if (!strcmp(h[n].name, "host"))
			have_host = 1;
		if (!strcmp(h[n].name, "x-amz-date")) {
			r = header_value_equals(src->value, amz_date);
			if (r < 0)
				goto out;
			if (!r) {
				mfs_set_error("sigv4: X-Amz-Date header \"%s\" differs from %s",
					      src->value, amz_date);
				r = -EINVAL;
				goto out;
			}
			r = 0;
			have_date = 1;
		}
	}
	/*
	 * Without them the server cannot verify the signature at all; say so
	 * here rather than let it answer a puzzling 403.
	 */
	if (!have_host || !have_date) {
		mfs_set_error("sigv4: the %s header must be signed",
			      have_host ? "x-amz-date" : "host");
		r = -EINVAL;
		goto out;
	}
	qsort(h, n, sizeof(*h), canon_header_cmp);
	for (i = 0; i < n; i++) {
		int repeat = i && !strcmp(h[i].name, h[i - 1].name);

		if (repeat) {
			r = mfs_buf_append(out, ",", 1);
		} else {
			r = mfs_buf_appendf(out, "%s%s:", i ? "\n" : "", h[i].name);
			if (!r)
				r = mfs_buf_appendf(signed_headers, "%s%s", i ? ";" : "",
						    h[i].name);
		}
		if (!r)
			r = append_header_value(out, h[i].value);
		if (r)
			goto out;
	}
	r = mfs_buf_append(out, "\n", 1);
out:
	/* calloc'd: also frees the name of the entry that failed half way. */
	for (i = 0; i < req->n_headers; i++)
		free(h[i].name);
	free(h);
	return r;
}

static int check_amz_date(const char *d)
{
	int i;

	if (!d || strlen(d) != AMZ_DATE_LEN)
		goto bad;
	for (i = 0; i < AMZ_DATE_LEN; i++) {
		if (i == 8 && d[i] == 'T')
			continue;
		if (i == 15 && d[i] == 'Z')
			continue;
		if (i == 8 || i == 15 || d[i] < '0' || d[i] > '9')
			goto bad;
	}
	return 0;
bad:
	mfs_set_error("sigv4: date \"%s\" is not YYYYMMDDTHHMMSSZ", d ? d : "(null)");
	return -EINVAL;
}

static int hmac_sha256(EVP_MAC_CTX *ctx, const void *key, size_t keylen, const void *data,
		       size_t len, unsigned char out[SHA256_LEN])
{
	static char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	size_t outlen = 0;

	if (!EVP_MAC_init(ctx, key, keylen, params) || !EVP_MAC_update(ctx, data, len) ||
	    !EVP_MAC_final(ctx, out, &outlen, SHA256_LEN) || outlen != SHA256_LEN)
		return ossl_to_errno("HMAC-SHA256");
	return 0;
}

/*
 * kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service),
 * "aws4_request"), then the signature is HMAC(kSigning, string to sign).
 * Key material is wiped before it is freed: it is as good as the secret for
 * a day.
 */
static int compute_signature(const char *secret_key, const char *date, const char *region,
			     const char *service, const struct mfs_buf *string_to_sign,
			     char signature[65])
{
	unsigned char k[SHA256_LEN], sig[SHA256_LEN];
	size_t slen = strlen(secret_key);
	EVP_MAC_CTX *ctx = NULL;
	EVP_MAC *mac = NULL;
	char *ksecret = NULL;
	int r;

	ksecret = malloc(slen + 4);
	if (!ksecret)
		return -ENOMEM;
	memcpy(ksecret, "AWS4", 4);
	memcpy(ksecret + 4, secret_key, slen);
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!mac) {
		r = ossl_to_errno("HMAC fetch");
		goto out;
	}
	ctx = EVP_MAC_CTX_new(mac);
	if (!ctx) {
		r = ossl_to_errno("HMAC context");
		goto out;
	}
	r = hmac_sha256(ctx, ksecret, slen + 4, date, 8, k);
	if (!r)
		r = hmac_sha256(ctx, k, sizeof(k), region, strlen(region), k);
	if (!r)
		r = hmac_sha256(ctx, k, sizeof(k), service, strlen(service), k);
	if (!r)
		r = hmac_sha256(ctx, k, sizeof(k), "aws4_request", 12, k);
	if (!r)
		r = hmac_sha256(ctx, k, sizeof(k), string_to_sign->data, string_to_sign->len, sig);
	if (!r)
		to_hex(sig, sizeof(sig), signature);
out:
	OPENSSL_cleanse(ksecret, slen + 4);
	OPENSSL_cleanse(k, sizeof(k));
	free(ksecret);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return r;
}

int mfs_sigv4_sign(const struct mfs_sigv4_request *req, const char *region, const char *service,
		   const char *amz_date, const char *access_key, const char *secret_key,
		   struct mfs_sigv4_result *out)
{
	struct mfs_buf signed_headers = MFS_BUF_INIT, scope = MFS_BUF_INIT;
	char creq_hash[65];
	int r;

	memset(out, 0, sizeof(*out));
	r = check_amz_date(amz_date);
	if (r)
		goto out;
	/* '/' would shift the fields of the credential scope. */
	if (!req || !is_token_string(req->method, NULL) || !is_token_string(region, "/") ||
	    !is_token_string(service, "/") || !is_token_string(access_key, "/,") ||
	    !secret_key || !*secret_key || !req->payload_hash ||
	    !is_token_string(req->payload_hash, NULL)) {
		mfs_set_error("sigv4: missing or malformed method, region, service, key or "
			      "payload hash");
		r = -EINVAL;
		goto out;
	}

	r = mfs_buf_appendf(&out->canonical_request, "%s\n", req->method);
	if (!r)
		r = append_canonical_path(&out->canonical_request, req->path, req->normalize);
	if (!r)
		r = mfs_buf_append(&out->canonical_request, "\n", 1);
	if (!r)
		r = append_canonical_query(&out->canonical_request, req->query);
	if (!r)
		r = mfs_buf_append(&out->canonical_request, "\n", 1);
	if (!r)
		r = append_canonical_headers(&out->canonical_request, &signed_headers, req,
					     amz_date);
	if (!r)
		r = mfs_buf_appendf(&out->canonical_request, "\n%s\n%s", signed_headers.data,
				    req->payload_hash);
	if (r)
		goto out;

	mfs_sha256_hex(out->canonical_request.data, out->canonical_request.len, creq_hash);
	if (!creq_hash[0]) {
		r = -EIO;
		goto out;
	}
	r = mfs_buf_appendf(&scope, "%.8s/%s/%s/aws4_request", amz_date, region, service);
	if (!r)
		r = mfs_buf_appendf(&out->string_to_sign, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date,
				    scope.data, creq_hash);
	if (!r)
		r = compute_signature(secret_key, amz_date, region, service, &out->string_to_sign,
				      out->signature);
	if (!r)
		r = mfs_buf_appendf(&out->authorization,
				    "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
				    "Signature=%s",
				    access_key, scope.data, signed_headers.data, out->signature);
out:
	mfs_buf_free(&signed_headers);
	mfs_buf_free(&scope);
	/* On failure nothing is left to free, and nothing half-built to use. */
	if (r)
		mfs_sigv4_result_free(out);
	return r;
}

void mfs_sigv4_result_free(struct mfs_sigv4_result *r)
{
	if (!r)
		return;
	mfs_buf_free(&r->canonical_request);
	mfs_buf_free(&r->string_to_sign);
	mfs_buf_free(&r->authorization);
	OPENSSL_cleanse(r->signature, sizeof(r->signature));
	r->signature[0] = '\0';
}
