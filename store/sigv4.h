/*
 * sigv4.h - AWS Signature Version 4 (header signing) and S3 URI encoding.
 *
 * Pure functions: no clock, no network. The caller supplies the request as it
 * will go on the wire, the date and the credentials; the result holds every
 * intermediate step so tests can compare them with the AWS test suite.
 */
#ifndef MFS_SIGV4_H
#define MFS_SIGV4_H

#include <stddef.h>

#include "../util/buf.h"

/*
 * Append @s to @out encoded as SigV4/S3 want it: unreserved characters
 * (A-Z a-z 0-9 - . _ ~) as they are, every other byte as %XX (upper-case hex).
 * '/' is kept when @keep_slash (object keys in a path), encoded otherwise
 * (query values). Returns 0 or -ENOMEM.
 */
int mfs_uri_encode(struct mfs_buf *out, const char *s, size_t len, int keep_slash);

struct mfs_sigv4_header {
	const char *name;  /* any case; lowercased for signing */
	const char *value; /* trimmed and inner runs of spaces folded for signing */
};

struct mfs_sigv4_request {
	const char *method; /* "GET", "HEAD", "PUT", ... */
	/*
	 * Path as it goes on the wire, already URI-encoded (for S3: "/" +
	 * encoded bucket (path style) + "/" + key encoded with keep_slash).
	 */
	const char *path;
	/*
	 * Query string as it goes on the wire, without '?', may be NULL or "".
	 * Parameters are split on '&', sorted by name then value, and each name
	 * and value is decoded then re-encoded canonically for signing.
	 */
	const char *query;
	/* Must include "host". Repeated names are joined with ','. */
	const struct mfs_sigv4_header *headers;
	size_t n_headers;
	/* Lower-case hex SHA-256 of the body, or "UNSIGNED-PAYLOAD". */
	const char *payload_hash;
	/*
	 * Normalise the path (remove "." and "..", collapse "//") and encode it
	 * a second time, as every AWS service but S3 does. 0 for S3.
	 */
	int normalize;
};

struct mfs_sigv4_result {
	struct mfs_buf canonical_request;
	struct mfs_buf string_to_sign;
	char signature[65];           /* lower-case hex */
	struct mfs_buf authorization; /* value of the Authorization header */
};

/*
 * Sign @req. @amz_date is "YYYYMMDDTHHMMSSZ" and must equal the X-Amz-Date
 * header the caller sends (the caller includes x-amz-date, and
 * x-amz-security-token when it has a session token, in @req->headers so
 * they are signed). Fills @out (free with mfs_sigv4_result_free()).
 * Returns 0, -EINVAL for a malformed request, -ENOMEM.
 */
int mfs_sigv4_sign(const struct mfs_sigv4_request *req, const char *region, const char *service,
		   const char *amz_date, const char *access_key, const char *secret_key,
		   struct mfs_sigv4_result *out);

void mfs_sigv4_result_free(struct mfs_sigv4_result *r);

/* Lower-case hex SHA-256 of @data into @hex (65 bytes). */
void mfs_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
