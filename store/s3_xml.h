/*
 * s3_xml.h - S3 response bodies and the one table from S3 failures to errno.
 *
 * Pure functions on a buffer: no network, no clock, no global state, so the
 * parsers can be unit-tested and fuzzed on their own. Everything they return
 * is malloc'd and owned by the caller.
 */
#ifndef MFS_S3_XML_H
#define MFS_S3_XML_H

#include <stddef.h>
#include <time.h>

#include "store.h"

/* One ListObjectsV2 page beyond its objects and prefixes. */
struct mfs_s3_list_info {
	int is_truncated;
	char *next_token; /* NextContinuationToken, malloc'd, NULL when absent */
	long key_count;   /* KeyCount, -1 when absent */
	int url_encoded;  /* the server answered <EncodingType>url</EncodingType> */
};

/*
 * Parse a ListBucketResult. @page receives every <Contents> (full keys as the
 * server wrote them, in document order) and every <CommonPrefixes><Prefix>;
 * keys and prefixes are URL-decoded when the response says
 * EncodingType=url, and one that decodes to a name holding a NUL is left
 * out (no file can have that name, and cut at the NUL it would name another
 * object). Free @page with mfs_listing_free() and @info with
 * mfs_s3_list_info_free(), also after a failure. Returns 0, -EINVAL for
 * malformed XML or a malformed field (bad Size, LastModified), -ENOMEM.
 */
int mfs_s3_parse_list(const char *xml, size_t len, struct mfs_listing *page,
		      struct mfs_s3_list_info *info);
void mfs_s3_list_info_free(struct mfs_s3_list_info *info);

/* An <Error> body. Strings are "" when absent, truncated to fit. */
struct mfs_s3_error {
	char code[64];
	char message[256];
	char region[64]; /* <Region> of a PermanentRedirect / AuthorizationHeaderMalformed */
};

/* Returns 0, or -EINVAL when @xml is not an <Error> document with a <Code>. */
int mfs_s3_parse_error(const char *xml, size_t len, struct mfs_s3_error *out);

/*
 * The text of element @root/@field of a result document
 * (InitiateMultipartUploadResult/UploadId, CompleteMultipartUploadResult/
 * ETag, quotes removed) into @out, truncated to fit. 0, or -EINVAL when the document is
 * not that result (an <Error> body, which S3 may send with status 200 for
 * CompleteMultipartUpload, included), -ENOMEM.
 */
int mfs_s3_parse_result(const char *xml, size_t len, const char *root, const char *field,
			char *out, size_t outlen);

/* "2024-01-02T03:04:05.678Z" (fraction optional) -> @ts. 0 or -EINVAL. */
int mfs_s3_parse_iso8601(const char *s, struct timespec *ts);

/*
 * The one table from a failed S3 request to errno (STYLE: foreign errors
 * are translated once, at the module edge).
 *
 * @curl_code: the CURLcode of the transfer, CURLE_OK (0) when a response
 * arrived; @status: its HTTP status (0 without a response); @code: the S3
 * <Code> of the error body, "" or NULL when there is none (HEAD).
 *
 * Returns the -errno the store reports, 0 for a status that is not a failure
 * (2xx, and 416 InvalidRange, which a ranged read treats as end of object).
 * *@retry is set to 1 when the failure is transient (5xx, 429, SlowDown,
 * connection and transfer errors) and the request should be tried again,
 * 0 otherwise (never for other 4xx). *@reason, when not NULL, receives a
 * static explanation or NULL (e.g. for archived objects).
 */
int mfs_s3_errno(int curl_code, long status, const char *code, int *retry, const char **reason);

#endif
