/*
 * http_i.h - the S3 store's HTTP transport (internal to store/).
 *
 * http.c owns libcurl: a pool of connections shared by every thread,
 * timeouts, retries with backoff, SigV4 signing of each attempt with fresh
 * credentials, the abort flag, and the streaming of ranged bodies with the
 * ETag check. s3.c builds the requests (addressing, encoding, query) and
 * gives their results a meaning.
 */
#ifndef MFS_HTTP_I_H
#define MFS_HTTP_I_H

#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"
#include "creds.h"
#include "s3_xml.h"
#include "store.h"

struct mfs_http;

struct mfs_http_config {
	double connect_timeout; /* seconds, > 0 */
	double request_timeout; /* seconds without progress, > 0 */
	int retries;            /* attempts after the first, >= 0 */
	const char *region;     /* signing region; copied */
	/* Borrowed, must outlive the transport; NULL or anonymous: unsigned requests. */
	struct mfs_creds_provider *creds;
};

/*
 * Reads AWS_CA_BUNDLE / CURL_CA_BUNDLE once. Call curl_global_init() before
 * (mfs_http_global_init()). 0, -ENOMEM or -EIO with a line in @msg.
 */
int mfs_http_new(const struct mfs_http_config *cfg, struct mfs_http **out, char *msg,
		 size_t msglen);

/* No request may be in flight. */
void mfs_http_free(struct mfs_http *h);

/*
 * Makes every transfer in flight stop within ~100 ms, wakes backoff sleeps,
 * and makes every later request fail with -ECANCELED. Safe from any thread
 * (and not from a signal handler: it takes a mutex).
 */
void mfs_http_abort(struct mfs_http *h);

/* curl_global_init once per process, thread-safe. 0 or -EIO. */
int mfs_http_global_init(void);

struct mfs_http_request {
	const char *method; /* "GET", "HEAD", "PUT", "POST" or "DELETE" */
	const char *scheme; /* "http" or "https" */
	const char *host;   /* Host header as signed: "name" or "name:port" */
	const char *path;   /* URI-encoded path, starts with '/' */
	const char *query;  /* URI-encoded query without '?', NULL or "" for none */

	/*
	 * With @sink, the 2xx body goes to @sink and the request is the range
	 * [@off, @off + @len) (open-ended when it overflows): each retry resumes
	 * after the bytes already delivered. Without it the body is collected
	 * into the response.
	 */
	mfs_store_sink_fn sink;
	void *sink_arg;
	uint64_t off, len;
	/*
	 * The ETag (no quotes) every 2xx response must carry, else -ESTALE
	 * before any byte reaches @sink. NULL or "": the first response's ETag
	 * is pinned for the retries of this request.
	 */
	const char *etag;

	/* PUT and POST: the body, sent again from its start by every attempt. */
	const void *body;
	size_t body_len;
	/* Sent (and signed) as x-amz-meta-NAME headers; at most MFS_STORE_MAX_META. */
	const struct mfs_store_meta *meta;
	size_t n_meta;
};

struct mfs_http_response {
	long status;       /* HTTP status of the last attempt, 0 without one */
	int curl_code;     /* CURLcode of the last attempt */
	char curl_error[256];
	int attempts;
	struct mfs_buf body;       /* the body without a sink; an error body always */
	struct mfs_s3_error s3err; /* parsed from an error body, "" fields when none */
	const char *reason;        /* static extra explanation from the errno table, or NULL */

	/* Headers of the last response. */
	char etag[80]; /* without quotes */
	int have_length;
	uint64_t content_length;
	char last_modified[64];
	char storage_class[32];
	char bucket_region[64]; /* x-amz-bucket-region */

	uint64_t delivered; /* bytes handed to the sink, over every attempt */
	int sink_err;       /* the sink's own error when it stopped the transfer */
	char got_etag[80];  /* the mismatching ETag of an -ESTALE */
};

void mfs_http_response_init(struct mfs_http_response *resp);
void mfs_http_response_free(struct mfs_http_response *resp);

/*
 * Perform @req with retries. Returns 0 when a final response arrived whose
 * status is not a failure (2xx, or 416 for a range past the end: see
 * resp->status), otherwise -errno from mfs_s3_errno(), -ESTALE, -ECANCELED
 * or the sink's error, with @resp telling what happened. Does not call
 * mfs_set_error(): the caller knows what the request was for.
 */
int mfs_http_perform(struct mfs_http *h, const struct mfs_http_request *req,
		     struct mfs_http_response *resp);

#endif
