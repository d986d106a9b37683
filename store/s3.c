/*
 * s3.c - the S3 store: addressing, key encoding, ListObjectsV2 paging,
 * HeadObject, ranged GetObject, the mount-time check, and writes: PutObject,
 * DeleteObject and multipart uploads.
 *
 * A request is built here (host, encoded path and query) and carried out by
 * http.c, which signs, retries and streams it; this file turns the outcome
 * into the store's errno and a one-line reason in mfs_set_error() that names
 * the object and the S3 Code/Message (never a credential).
 *
 * Addressing: path-style puts the bucket in the path (http://host/bucket/key),
 * virtual-hosted in the host name (https://bucket.host/key). A bucket name
 * that cannot be a host name label (upper case, '_', or dots under https,
 * which break the wildcard certificate) falls back to path-style, as the AWS
 * SDKs do.
 *
 * DESIGN (threads): a store is immutable after mfs_s3_store_open() apart
 * from what http.c and the credential provider guard themselves, so every
 * operation may run on many threads at once. abort() only flips http.c's
 * atomic flag and wakes its transfers.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/err.h"
#include "../util/log.h"
#include "creds.h"
#include "http_i.h"
#include "s3_xml.h"
#include "sigv4.h"
#include "store.h"

struct s3_store {
	struct mfs_store base;
	struct mfs_http *http;
	struct mfs_creds_provider *creds;
	char *bucket;
	char *prefix;    /* root prefix, "" or ending in '/' */
	char *scheme;    /* "http" / "https" */
	char *host;      /* the Host of every request: endpoint host, or bucket.host */
	char *base_path; /* "" or "/bucket" (path-style), plus an endpoint path */
	/*
	 * The path of bucket-level requests (listings): "/bucket" path-style,
	 * with no trailing slash as the SDKs send it (and s3rver signs it),
	 * "/" virtual-hosted.
	 */
	char *bucket_path;
	char *endpoint;  /* for messages: scheme://endpoint-host[/path] */
	char region[64];
	int anonymous;
};

static struct s3_store *to_s3(struct mfs_store *st)
{
	return (struct s3_store *)st;
}

/* ---- requests ---- */

/* base_path + "/" + encoded(prefix + key). */
static int object_path(struct s3_store *s, const char *key, struct mfs_buf *path)
{
	int r;

	r = mfs_buf_appendf(path, "%s/", s->base_path);
	if (!r)
		r = mfs_uri_encode(path, s->prefix, strlen(s->prefix), 1);
	if (!r)
		r = mfs_uri_encode(path, key, strlen(key), 1);
	return r;
}

static int query_param(struct mfs_buf *q, const char *name, const char *value)
{
	int r;

	r = mfs_buf_appendf(q, "%s%s=", q->len ? "&" : "", name);
	if (!r)
		r = mfs_uri_encode(q, value, strlen(value), 0);
	return r;
}

static void request_init(struct s3_store *s, struct mfs_http_request *req, const char *method)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->scheme = s->scheme;
	req->host = s->host;
}

/* ---- failures ---- */

static const char *attempts_note(const struct mfs_http_response *resp, char *buf, size_t len)
{
	if (resp->attempts > 1)
		snprintf(buf, len, " (after %d attempts)", resp->attempts);
	else
		buf[0] = '\0';
	return buf;
}

/*
 * The one place a failed request becomes a reason: "@what: detail", the
 * detail being @why when the request itself went well but its answer did
 * not make sense. Returns @r.
 */
static int fail(struct s3_store *s, int r, const struct mfs_http_response *resp,
		const char *what, const char *why)
{
	char note[48];

	attempts_note(resp, note, sizeof(note));
	if (why) {
		mfs_set_error("%s: %s", what, why);
	} else if (r == -ECANCELED) {
		mfs_set_error("%s: aborted (the filesystem is shutting down)", what);
	} else if (r == -ENOMEM) {
		mfs_set_error("%s: out of memory", what);
	} else if (r == -ESTALE) {
		mfs_set_error("%s: the object changed (ETag %s, the read started at another version)",
			      what, resp->got_etag[0] ? resp->got_etag : "?");
	} else if (resp->sink_err && r == resp->sink_err) {
		mfs_set_error("%s: the reader stopped the transfer (%s)", what, strerror(-r));
	} else if (resp->s3err.code[0]) {
		mfs_set_error("%s: %s%s%s (HTTP %ld)%s%s%s", what, resp->s3err.code,
			      resp->s3err.message[0] ? ": " : "", resp->s3err.message,
			      resp->status, note, resp->reason ? ": " : "",
			      resp->reason ? resp->reason : "");
	} else if (resp->status && (resp->status < 200 || resp->status >= 300)) {
		mfs_set_error("%s: HTTP %ld%s%s", what, resp->status,
			      r == -ENOENT ? " (not found)" :
			      r == -EACCES ? " (access denied)" : "", note);
	} else if (resp->curl_error[0]) {
		mfs_set_error("%s: %s%s%s%s (endpoint %s)", what, resp->curl_error, note,
			      resp->reason ? ": " : "", resp->reason ? resp->reason : "",
			      s->endpoint);
	} else {
		mfs_set_error("%s: %s%s", what, strerror(-r), note);
	}
	mfs_debug("s3: %s", mfs_last_error());
	return r;
}

/* ---- list ---- */

static int cmp_object(const void *a, const void *b)
{
	return strcmp(((const struct mfs_object *)a)->key, ((const struct mfs_object *)b)->key);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Move one page into @out, keys made relative to the root. The object named
 * exactly like the listed prefix ("dir/", a console's folder marker) is the
 * directory itself, not a child, and is left out.
 */
static int merge_page(struct s3_store *s, const char *full_prefix, struct mfs_listing *page,
		      struct mfs_listing *out, size_t *obj_cap, size_t *pfx_cap)
{
	size_t root_len = strlen(s->prefix), full_len = strlen(full_prefix), i;

	for (i = 0; i < page->n_objects; i++) {
		struct mfs_object *o = &page->objects[i];
		char *rel;

		if (strncmp(o->key, full_prefix, full_len) != 0 || o->key[full_len] == '\0')
			continue;
		if (out->n_objects == *obj_cap) {
			size_t cap = *obj_cap ? *obj_cap * 2 : 256;
			struct mfs_object *v = realloc(out->objects, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			out->objects = v;
			*obj_cap = cap;
		}
		rel = strdup(o->key + root_len);
		if (!rel)
			return -ENOMEM;
		out->objects[out->n_objects] = *o;
		out->objects[out->n_objects].key = rel;
		out->n_objects++;
	}
	for (i = 0; i < page->n_prefixes; i++) {
		const char *p = page->prefixes[i];
		char *rel;

		if (strncmp(p, full_prefix, full_len) != 0 || p[full_len] == '\0')
			continue;
		if (out->n_prefixes == *pfx_cap) {
			size_t cap = *pfx_cap ? *pfx_cap * 2 : 64;
			char **v = realloc(out->prefixes, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			out->prefixes = v;
			*pfx_cap = cap;
		}
		rel = strdup(p + root_len);
		if (!rel)
			return -ENOMEM;
		out->prefixes[out->n_prefixes++] = rel;
	}
	return 0;
}

/* One ListObjectsV2 request of the bucket: the query for @full_prefix from @token. */
static int list_query(struct mfs_buf *q, const char *full_prefix, const char *token,
		      const char *max_keys)
{
	int r = 0;

	if (token)
		r = query_param(q, "continuation-token", token);
	if (!r)
		r = query_param(q, "delimiter", "/");
	/* Keys with bytes XML 1.0 cannot carry come back %-encoded. */
	if (!r)
		r = query_param(q, "encoding-type", "url");
	if (!r)
		r = query_param(q, "list-type", "2");
	if (!r && max_keys)
		r = query_param(q, "max-keys", max_keys);
	if (!r)
		r = query_param(q, "prefix", full_prefix);
	return r;
}

static int s3_list(struct mfs_store *st, const char *prefix, struct mfs_listing *out)
{
	struct s3_store *s = to_s3(st);
	struct mfs_http_response resp;
	struct mfs_http_request req;
	struct mfs_listing page = { 0 };
	struct mfs_s3_list_info info = { 0 };
	struct mfs_buf query = MFS_BUF_INIT, full = MFS_BUF_INIT;
	char *token = NULL, what[1200];
	const char *why = NULL;
	size_t obj_cap = 0, pfx_cap = 0;
	int r, pages = 0;

	memset(out, 0, sizeof(*out));
	mfs_http_response_init(&resp);
	snprintf(what, sizeof(what), "list s3://%s/%s%s", s->bucket, s->prefix, prefix);
	if (*prefix && prefix[strlen(prefix) - 1] != '/') {
		/* "a" would list every key starting with "a", not a directory. */
		r = -EINVAL;
		why = "a listing prefix must be empty or end with '/'";
		goto out;
	}
	r = mfs_buf_appendf(&full, "%s%s", s->prefix, prefix);
	if (r)
		goto out;
	do {
		mfs_buf_reset(&query);
		r = list_query(&query, full.data, token, NULL);
		if (r)
			goto out;
		request_init(s, &req, "GET");
		req.path = s->bucket_path;
		req.query = query.data;
		r = mfs_http_perform(s->http, &req, &resp);
		if (!r && resp.status == 416)
			r = -EIO;
		if (r)
			goto out;
		mfs_listing_free(&page);
		mfs_s3_list_info_free(&info);
		r = mfs_s3_parse_list(resp.body.data, resp.body.len, &page, &info);
		if (r) {
			r = -EIO;
			why = "the server sent a malformed listing";
			goto out;
		}
		r = merge_page(s, full.data, &page, out, &obj_cap, &pfx_cap);
		if (r)
			goto out;
		pages++;
		if (info.is_truncated) {
			/* A server that hands back the token it was given would loop forever. */
			if (token && strcmp(token, info.next_token) == 0) {
				r = -EIO;
				why = "the server repeated a continuation token";
				goto out;
			}
			free(token);
			token = info.next_token;
			info.next_token = NULL;
		}
	} while (info.is_truncated);
	/* Pages come in key order from S3; sorting keeps the contract with any server. */
	if (out->n_objects)
		qsort(out->objects, out->n_objects, sizeof(*out->objects), cmp_object);
	if (out->n_prefixes)
		qsort(out->prefixes, out->n_prefixes, sizeof(*out->prefixes), cmp_str);
	mfs_debug("s3: %s: %zu objects, %zu prefixes in %d pages", what, out->n_objects,
		  out->n_prefixes, pages);
out:
	if (r)
		fail(s, r, &resp, what, why);
	if (r)
		mfs_listing_free(out);
	mfs_listing_free(&page);
	mfs_s3_list_info_free(&info);
	free(token);
	mfs_buf_free(&query);
	mfs_buf_free(&full);
	mfs_http_response_free(&resp);
	return r;
}

/* ---- head ---- */

static int s3_head(struct mfs_store *st, const char *key, struct mfs_object *out)
{
	struct s3_store *s = to_s3(st);
	struct mfs_http_response resp;
	struct mfs_http_request req;
	struct mfs_buf path = MFS_BUF_INIT;
	const char *why = NULL;
	char what[1200];
	time_t t;
	int r;

	memset(out, 0, sizeof(*out));
	mfs_http_response_init(&resp);
	snprintf(what, sizeof(what), "head s3://%s/%s%s", s->bucket, s->prefix, key);
	r = object_path(s, key, &path);
	if (r)
		goto out;
	request_init(s, &req, "HEAD");
	req.path = path.data;
	r = mfs_http_perform(s->http, &req, &resp);
	if (!r && resp.status == 416)
		r = -EIO;
	if (r)
		goto out;
	if (!resp.have_length) {
		r = -EIO;
		why = "the response has no Content-Length";
		goto out;
	}
	out->key = strdup(key);
	if (!out->key) {
		r = -ENOMEM;
		goto out;
	}
	out->size = resp.content_length;
	t = resp.last_modified[0] ? curl_getdate(resp.last_modified, NULL) : -1;
	out->mtime.tv_sec = t == -1 ? 0 : t;
	out->mtime.tv_nsec = 0;
	snprintf(out->etag, sizeof(out->etag), "%s", resp.etag);
	if (strcmp(resp.storage_class, "STANDARD") != 0)
		snprintf(out->storage_class, sizeof(out->storage_class), "%s",
			 resp.storage_class);
out:
	if (r)
		fail(s, r, &resp, what, why);
	mfs_buf_free(&path);
	mfs_http_response_free(&resp);
	return r;
}

/* ---- get ---- */

static int s3_get(struct mfs_store *st, const char *key, const char *etag, uint64_t off,
		  uint64_t len, mfs_store_sink_fn sink, void *arg)
{
	struct s3_store *s = to_s3(st);
	struct mfs_http_response resp;
	struct mfs_http_request req;
	struct mfs_buf path = MFS_BUF_INIT;
	struct mfs_object o = { 0 };
	const char *why = NULL;
	char what[1200], head_err[512];
	int r;

	mfs_http_response_init(&resp);
	if (len == 0)
		return 0;
	snprintf(what, sizeof(what), "read s3://%s/%s%s at %" PRIu64, s->bucket, s->prefix, key,
		 off);
	r = object_path(s, key, &path);
	if (r)
		goto out;
	request_init(s, &req, "GET");
	req.path = path.data;
	req.sink = sink;
	req.sink_arg = arg;
	req.off = off;
	req.len = len;
	req.etag = etag;
	r = mfs_http_perform(s->http, &req, &resp);
	if (r)
		goto out;
	if (resp.status == 416 && etag && *etag && !resp.etag[0]) {
		/*
		 * Past the end of the object — of which version? A 416 need not
		 * carry an ETag; a shorter new version must read as a change,
		 * not as the end of the old one.
		 */
		r = s3_head(st, key, &o);
		if (r) {
			snprintf(head_err, sizeof(head_err), "%s", mfs_last_error());
			why = head_err;
			goto out;
		}
		if (strcmp(o.etag, etag) != 0) {
			r = -ESTALE;
			snprintf(resp.got_etag, sizeof(resp.got_etag), "%s", o.etag);
			goto out;
		}
	} else if (resp.status == 416 && etag && *etag && strcmp(resp.etag, etag) != 0) {
		r = -ESTALE;
		snprintf(resp.got_etag, sizeof(resp.got_etag), "%s", resp.etag);
		goto out;
	}
out:
	if (r)
		fail(s, r, &resp, what, why);
	mfs_object_free(&o);
	mfs_buf_free(&path);
	mfs_http_response_free(&resp);
	return r;
}

/* ---- writes ---- */

/* One PUT/POST/DELETE of @key (with @query) whose outcome only matters as 0 or -errno. */
static int object_request(struct s3_store *s, const char *method, const char *key,
			  const char *query, const void *body, size_t len,
			  const struct mfs_store_meta *meta, size_t n_meta,
			  struct mfs_http_response *resp)
{
	struct mfs_http_request req;
	struct mfs_buf path = MFS_BUF_INIT;
	int r;

	r = object_path(s, key, &path);
	if (r)
		return r;
	request_init(s, &req, method);
	req.path = path.data;
	req.query = query;
	req.body = body;
	req.body_len = len;
	req.meta = meta;
	req.n_meta = n_meta;
	r = mfs_http_perform(s->http, &req, resp);
	if (!r && resp->status == 416)
		r = -EIO;
	mfs_buf_free(&path);
	return r;
}

static void written_object(const char *key, uint64_t size, const char *etag,
			   struct mfs_object *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	out->key = strdup(key);
	out->size = size;
	clock_gettime(CLOCK_REALTIME, &out->mtime);
	snprintf(out->etag, sizeof(out->etag), "%s", etag);
}

static int s3_put(struct mfs_store *st, const char *key, const void *data, size_t len,
		  const struct mfs_store_meta *meta, size_t n_meta, struct mfs_object *out)
{
	struct s3_store *s = to_s3(st);
	struct mfs_http_response resp;
	char what[1200];
	int r;

	mfs_http_response_init(&resp);
	snprintf(what, sizeof(what), "put s3://%s/%s%s (%zu bytes)", s->bucket, s->prefix, key,
		 len);
	r = object_request(s, "PUT", key, NULL, data ? data : "", len, meta, n_meta, &resp);
	if (r)
		fail(s, r, &resp, what, NULL);
	else
		written_object(key, len, resp.etag, out);
	mfs_http_response_free(&resp);
	return r;
}

static int s3_remove(struct mfs_store *st, const char *key)
{
	struct s3_store *s = to_s3(st);
	struct mfs_http_response resp;
	char what[1200];
	int r;

	mfs_http_response_init(&resp);
	snprintf(what, sizeof(what), "delete s3://%s/%s%s", s->bucket, s->prefix, key);
	r = object_request(s, "DELETE", key, NULL, NULL, 0, NULL, 0, &resp);
	if (r == -ENOENT && strcmp(resp.s3err.code, "NoSuchBucket") != 0)
		r = 0; /* S3 itself answers 204 for a missing key */
	if (r)
		fail(s, r, &resp, what, NULL);
	mfs_http_response_free(&resp);
	return r;
}

/*
 * DESIGN (threads): parts of one upload are sent from several threads; the
 * ETag array is the only shared state, protected by u->lock.
 */
struct mfs_upload {
	char *key;
	char id[1024];   /* UploadId */
	pthread_mutex_t lock;
	char (*etags)[80]; /* protected by lock; index part - 1 */
	unsigned cap;      /* protected by lock */
};

static void upload_free(struct mfs_upload *u)
{
	if (!u)
		return;
	pthread_mutex_destroy(&u->lock);
	free(u->etags);
	free(u->key);
	free(u);
}

static int s3_upload_begin(struct mfs_store *st, const char *key,
			   const struct mfs_store_meta *meta, size_t n_meta,
			   struct mfs_upload **out)
{
	struct s3_store *s = to_s3(st);
	struct mfs_http_response resp;
	struct mfs_upload *u = NULL;
	const char *why = NULL;
	char what[1200];
	int r;

	*out = NULL;
	mfs_http_response_init(&resp);
	snprintf(what, sizeof(what), "create multipart upload s3://%s/%s%s", s->bucket, s->prefix,
		 key);
	r = -ENOMEM;
	u = calloc(1, sizeof(*u));
	if (!u || !(u->key = strdup(key)))
		goto out;
	pthread_mutex_init(&u->lock, NULL);
	r = object_request(s, "POST", key, "uploads=", NULL, 0, meta, n_meta, &resp);
	if (r)
		goto out;
	if (mfs_s3_parse_result(resp.body.data, resp.body.len, "InitiateMultipartUploadResult",
				"UploadId", u->id, sizeof(u->id)) || !u->id[0]) {
		r = -EIO;
		why = "the server's answer has no UploadId";
		goto out;
	}
	mfs_debug("s3: %s: UploadId %s", what, u->id);
	*out = u;
	u = NULL;
out:
	if (r)
		fail(s, r, &resp, what, why);
	if (u && !u->key)
		free(u);
	else
		upload_free(u);
	mfs_http_response_free(&resp);
	return r;
}

/* "partNumber=N&uploadId=ID" or "uploadId=ID", encoded. */
static int upload_query(struct mfs_buf *q, const struct mfs_upload *u, unsigned part)
{
	char num[16];
	int r = 0;

	if (part) {
		snprintf(num, sizeof(num), "%u", part);
		r = query_param(q, "partNumber", num);
	}
	return r ? r : query_param(q, "uploadId", u->id);
}

static int s3_upload_part(struct mfs_store *st, struct mfs_upload *u, unsigned part, uint64_t off,
			  const void *data, size_t len)
{
	struct s3_store *s = to_s3(st);
	struct mfs_http_response resp;
	struct mfs_buf q = MFS_BUF_INIT;
	const char *why = NULL;
	char what[1200];
	int r;

	mfs_http_response_init(&resp);
	snprintf(what, sizeof(what), "upload part %u (%zu bytes at %" PRIu64 ") of s3://%s/%s%s",
		 part, len, off, s->bucket, s->prefix, u->key);
	r = part ? upload_query(&q, u, part) : -EINVAL;
	if (r)
		goto out;
	r = object_request(s, "PUT", u->key, q.data, data ? data : "", len, NULL, 0, &resp);
	if (r)
		goto out;
	if (!resp.etag[0]) {
		r = -EIO;
		why = "the server's answer has no ETag";
		goto out;
	}
	pthread_mutex_lock(&u->lock);
	if (part > u->cap) {
		unsigned cap = u->cap ? u->cap : 64;
		char(*v)[80];

		while (cap < part)
			cap *= 2;
		v = realloc(u->etags, cap * sizeof(*v));
		if (v) {
			memset(v + u->cap, 0, (cap - u->cap) * sizeof(*v));
			u->etags = v;
			u->cap = cap;
		}
	}
	if (part <= u->cap)
		snprintf(u->etags[part - 1], sizeof(u->etags[0]), "%s", resp.etag);
	else
		r = -ENOMEM;
	pthread_mutex_unlock(&u->lock);
out:
	if (r)
		fail(s, r, &resp, what, why);
	mfs_buf_free(&q);
	mfs_http_response_free(&resp);
	return r;
}

/* The CompleteMultipartUpload body. Lock held. */
static int complete_body(const struct mfs_upload *u, unsigned nparts, struct mfs_buf *b)
{
	unsigned i;
	int r = mfs_buf_appendf(b, "<CompleteMultipartUpload>");

	for (i = 0; i < nparts && !r; i++) {
		if (i >= u->cap || !u->etags[i][0])
			return -EINVAL; /* a part that was never sent */
		r = mfs_buf_appendf(b, "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>",
				    i + 1, u->etags[i]);
	}
	return r ? r : mfs_buf_appendf(b, "</CompleteMultipartUpload>");
}

static int s3_upload_complete(struct s3_store *s, struct mfs_upload *u, unsigned nparts,
			      struct mfs_object *out)
{
	struct mfs_http_response resp;
	struct mfs_buf q = MFS_BUF_INIT, body = MFS_BUF_INIT;
	const char *why = NULL;
	char what[1200], etag[80];
	int r;

	mfs_http_response_init(&resp);
	snprintf(what, sizeof(what), "complete multipart upload of s3://%s/%s%s (%u parts)",
		 s->bucket, s->prefix, u->key, nparts);
	pthread_mutex_lock(&u->lock);
	r = nparts ? complete_body(u, nparts, &body) : -EINVAL;
	pthread_mutex_unlock(&u->lock);
	if (r == -EINVAL)
		why = "a part is missing";
	if (!r)
		r = upload_query(&q, u, 0);
	if (r)
		goto out;
	r = object_request(s, "POST", u->key, q.data, body.data, body.len, NULL, 0, &resp);
	if (r)
		goto out;
	/* S3 may answer 200 and put an <Error> in the body. */
	if (mfs_s3_parse_result(resp.body.data, resp.body.len, "CompleteMultipartUploadResult",
				"ETag", etag, sizeof(etag))) {
		r = -EIO;
		if (!mfs_s3_parse_error(resp.body.data, resp.body.len, &resp.s3err))
			resp.status = 500;
		else
			why = "the server's answer is not a CompleteMultipartUploadResult";
		goto out;
	}
	written_object(u->key, 0, etag, out);
out:
	if (r)
		fail(s, r, &resp, what, why);
	mfs_buf_free(&q);
	mfs_buf_free(&body);
	mfs_http_response_free(&resp);
	return r;
}

static int s3_upload_abort(struct s3_store *s, struct mfs_upload *u)
{
	struct mfs_http_response resp;
	struct mfs_buf q = MFS_BUF_INIT;
	char what[1200];
	int r;

	mfs_http_response_init(&resp);
	snprintf(what, sizeof(what), "AbortMultipartUpload of s3://%s/%s%s (UploadId %s)",
		 s->bucket, s->prefix, u->key, u->id);
	r = upload_query(&q, u, 0);
	if (!r)
		r = object_request(s, "DELETE", u->key, q.data, NULL, 0, NULL, 0, &resp);
	if (r)
		fail(s, r, &resp, what, NULL);
	else
		mfs_set_error("%s: done", what);
	mfs_buf_free(&q);
	mfs_http_response_free(&resp);
	return r;
}

static int s3_upload_end(struct mfs_store *st, struct mfs_upload *u, int commit, unsigned nparts,
			 struct mfs_object *out, int *abort_err, char *abort_why,
			 size_t abort_why_len)
{
	struct s3_store *s = to_s3(st);
	char why[1024] = "";
	int r = 0, ar = 1;

	if (commit) {
		r = s3_upload_complete(s, u, nparts, out);
		if (r)
			snprintf(why, sizeof(why), "%s", mfs_last_error());
	}
	if (!commit || r) {
		/* Never completed: no object. The attempt to free the parts is all we can do. */
		ar = s3_upload_abort(s, u);
		if (abort_why)
			snprintf(abort_why, abort_why_len, "%s", mfs_last_error());
		if (why[0])
			mfs_set_error("%s", why); /* the first failure is the one to report */
		if (!commit)
			r = ar;
	}
	if (abort_err)
		*abort_err = ar;
	upload_free(u);
	return r;
}

/* ---- check ---- */

static int s3_check(struct mfs_store *st, char *msg, size_t msglen)
{
	struct s3_store *s = to_s3(st);
	struct mfs_http_response resp;
	struct mfs_http_request req;
	struct mfs_buf query = MFS_BUF_INIT;
	const char *code;
	int r;

	msg[0] = '\0';
	mfs_http_response_init(&resp);
	r = list_query(&query, s->prefix, NULL, "1");
	if (r) {
		snprintf(msg, msglen, "out of memory");
		goto out;
	}
	request_init(s, &req, "GET");
	req.path = s->bucket_path;
	req.query = query.data;
	r = mfs_http_perform(s->http, &req, &resp);
	if (!r && resp.status == 416)
		r = -EIO;
	if (!r) {
		struct mfs_listing page = { 0 };
		struct mfs_s3_list_info info = { 0 };

		r = mfs_s3_parse_list(resp.body.data, resp.body.len, &page, &info);
		mfs_listing_free(&page);
		mfs_s3_list_info_free(&info);
		if (r) {
			r = -EIO;
			snprintf(msg, msglen,
				 "the endpoint %s answered a listing of bucket %s with something "
				 "that is not S3 XML (check endpoint=)",
				 s->endpoint, s->bucket);
		}
		goto out;
	}
	code = resp.s3err.code;
	if (r == -ECANCELED) {
		snprintf(msg, msglen, "aborted");
	} else if (resp.curl_code == CURLE_PEER_FAILED_VERIFICATION ||
		   resp.curl_code == CURLE_SSL_CACERT_BADFILE ||
		   resp.curl_code == CURLE_SSL_CONNECT_ERROR || resp.curl_code == CURLE_SSL_CERTPROBLEM) {
		snprintf(msg, msglen,
			 "TLS connection to endpoint %s failed: %s (check the server certificate "
			 "and the CA bundle: AWS_CA_BUNDLE, CURL_CA_BUNDLE)",
			 s->endpoint, resp.curl_error);
	} else if (resp.curl_code != CURLE_OK) {
		snprintf(msg, msglen, "cannot reach endpoint %s: %s (check endpoint=)", s->endpoint,
			 resp.curl_error);
	} else if (!resp.status && resp.curl_error[0]) {
		snprintf(msg, msglen, "%s", resp.curl_error); /* never sent: no credentials */
	} else if (strcmp(code, "NoSuchBucket") == 0) {
		snprintf(msg, msglen, "bucket %s does not exist (NoSuchBucket): check SOURCE",
			 s->bucket);
	} else if (strcmp(code, "SignatureDoesNotMatch") == 0) {
		snprintf(msg, msglen,
			 "credentials rejected by the server (SignatureDoesNotMatch): check the "
			 "secret key / profile (credentials from %s)",
			 mfs_creds_source(s->creds));
	} else if (strcmp(code, "InvalidAccessKeyId") == 0) {
		snprintf(msg, msglen,
			 "credentials rejected by the server (InvalidAccessKeyId): check the access "
			 "key / profile (credentials from %s)",
			 mfs_creds_source(s->creds));
	} else if (strcmp(code, "ExpiredToken") == 0 || strcmp(code, "InvalidToken") == 0 ||
		   strcmp(code, "TokenRefreshRequired") == 0) {
		snprintf(msg, msglen,
			 "credentials rejected by the server (%s): the session token is expired "
			 "or invalid (credentials from %s)",
			 code, mfs_creds_source(s->creds));
	} else if (strcmp(code, "AccessDenied") == 0 || strcmp(code, "AllAccessDisabled") == 0) {
		snprintf(msg, msglen, "access denied to s3://%s/%s (%s)%s", s->bucket, s->prefix,
			 code,
			 s->anonymous ? ": the bucket is not public, drop -o anonymous"
				      : ": check the policy of the credentials");
	} else if (strcmp(code, "PermanentRedirect") == 0 ||
		   strcmp(code, "AuthorizationHeaderMalformed") == 0 || resp.status == 301) {
		const char *where = resp.bucket_region[0] ? resp.bucket_region :
				    resp.s3err.region;

		snprintf(msg, msglen,
			 "bucket %s is not in region %s (%s)%s%s: check region=", s->bucket,
			 s->region, code[0] ? code : "HTTP 301", where[0] ? ", it is in " : "",
			 where);
	} else if (strcmp(code, "RequestTimeTooSkewed") == 0) {
		snprintf(msg, msglen,
			 "the server rejected the request time (RequestTimeTooSkewed): sync the "
			 "clock of this machine");
	} else if (code[0]) {
		snprintf(msg, msglen, "listing s3://%s/%s failed: %s%s%s (HTTP %ld)", s->bucket,
			 s->prefix, code, resp.s3err.message[0] ? ": " : "", resp.s3err.message,
			 resp.status);
	} else if (resp.status == 404) {
		snprintf(msg, msglen,
			 "bucket %s not found at endpoint %s (HTTP 404): check SOURCE and endpoint=",
			 s->bucket, s->endpoint);
	} else if (resp.status == 403) {
		snprintf(msg, msglen, "access denied to s3://%s/%s (HTTP 403)", s->bucket,
			 s->prefix);
	} else {
		snprintf(msg, msglen, "listing s3://%s/%s failed: HTTP %ld (check endpoint=)",
			 s->bucket, s->prefix, resp.status);
	}
out:
	if (r)
		mfs_set_error("%s", msg);
	mfs_buf_free(&query);
	mfs_http_response_free(&resp);
	return r;
}

/* ---- lifetime ---- */

static void s3_abort(struct mfs_store *st)
{
	mfs_http_abort(to_s3(st)->http);
}

static void s3_destroy(struct mfs_store *st)
{
	struct s3_store *s = to_s3(st);

	mfs_http_free(s->http);
	if (s->creds)
		mfs_creds_provider_free(s->creds);
	free(s->bucket);
	free(s->prefix);
	free(s->scheme);
	free(s->host);
	free(s->base_path);
	free(s->bucket_path);
	free(s->endpoint);
	free(s);
}

static const struct mfs_store_ops s3_ops = {
	.name = "s3",
	.list = s3_list,
	.head = s3_head,
	.get = s3_get,
	.check = s3_check,
	.put = s3_put,
	.remove = s3_remove,
	.upload_begin = s3_upload_begin,
	.upload_part = s3_upload_part,
	.upload_end = s3_upload_end,
	.abort = s3_abort,
	.destroy = s3_destroy,
};

/* "127.0.0.1:9000", "[::1]:9000": no bucket can be prepended to an address. */
static int host_is_ip(const char *host)
{
	if (host[0] == '[')
		return 1;
	for (; *host && *host != ':'; host++)
		if (!((*host >= '0' && *host <= '9') || *host == '.'))
			return 0;
	return 1;
}

/* Can @bucket be the first label of a host name (virtual-hosted addressing)? */
static int bucket_dns_compatible(const char *bucket, int https)
{
	size_t n = strlen(bucket), i;

	if (n < 3 || n > 63)
		return 0;
	for (i = 0; i < n; i++) {
		char c = bucket[i];

		if (c == '.' && https)
			return 0; /* *.s3.amazonaws.com certificates cover one label */
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return 0;
	}
	return bucket[0] != '-' && bucket[n - 1] != '-';
}

/*
 * Split "scheme://host[:port][/path]" into its parts. The path keeps its
 * leading '/' and loses a trailing one.
 */
static int parse_endpoint(const char *url, char **scheme, char **host, char **path)
{
	const char *rest, *slash;
	size_t n;

	if (strncmp(url, "http://", 7) == 0) {
		*scheme = strdup("http");
		rest = url + 7;
	} else if (strncmp(url, "https://", 8) == 0) {
		*scheme = strdup("https");
		rest = url + 8;
	} else {
		return -EINVAL;
	}
	if (!*scheme)
		return -ENOMEM;
	if (strpbrk(rest, "@?# \t"))
		return -EINVAL;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (n == 0)
		return -EINVAL;
	*host = strndup(rest, n);
	if (!*host)
		return -ENOMEM;
	if (slash) {
		n = strlen(slash);
		while (n && slash[n - 1] == '/')
			n--;
		*path = strndup(slash, n);
	} else {
		*path = strdup("");
	}
	return *path ? 0 : -ENOMEM;
}

int mfs_s3_store_open(const struct mfs_s3_config *cfg, struct mfs_store **out, char *msg,
		      size_t msglen)
{
	struct mfs_creds_config cc = { 0 };
	struct mfs_http_config hc = { 0 };
	struct mfs_buf base = MFS_BUF_INIT;
	struct s3_store *s = NULL;
	char *ep_host = NULL, *ep_path = NULL, region[64];
	const char *prefix = cfg->prefix ? cfg->prefix : "";
	int path_style, r;

	*out = NULL;
	msg[0] = '\0';
	if (!cfg->bucket || !*cfg->bucket || strchr(cfg->bucket, '/')) {
		snprintf(msg, msglen, "invalid bucket name \"%s\"", cfg->bucket ? cfg->bucket : "");
		return -EINVAL;
	}
	if (*prefix && prefix[strlen(prefix) - 1] != '/') {
		snprintf(msg, msglen, "invalid prefix \"%s\": it must end with '/'", prefix);
		return -EINVAL;
	}
	/*
	 * Before anything uses libcurl (the credential chain does, for container
	 * and instance credentials): curl_global_init is not thread-safe, and
	 * libcurl would otherwise run it lazily from whichever thread comes first.
	 */
	r = mfs_http_global_init();
	if (r) {
		snprintf(msg, msglen, "cannot initialise libcurl");
		return r;
	}
	/* Until told otherwise, every failure below is an allocation. */
	r = -ENOMEM;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out;
	s->base.ops = &s3_ops;
	s->anonymous = cfg->anonymous;

	region[0] = '\0';
	if (cfg->region && *cfg->region)
		snprintf(region, sizeof(region), "%s", cfg->region);
	else
		mfs_aws_region(cfg->profile, region, sizeof(region));
	snprintf(s->region, sizeof(s->region), "%s", region[0] ? region : "us-east-1");

	s->bucket = strdup(cfg->bucket);
	s->prefix = strdup(prefix);
	if (!s->bucket || !s->prefix)
		goto out;
	if (cfg->endpoint && *cfg->endpoint) {
		r = parse_endpoint(cfg->endpoint, &s->scheme, &ep_host, &ep_path);
		if (r == -EINVAL)
			snprintf(msg, msglen,
				 "invalid endpoint \"%s\": expected http[s]://HOST[:PORT][/PATH]",
				 cfg->endpoint);
		if (r)
			goto out;
		r = -ENOMEM;
	} else {
		s->scheme = strdup("https");
		if (asprintf(&ep_host, "s3.%s.amazonaws.com", s->region) < 0)
			ep_host = NULL;
		ep_path = strdup("");
		if (!s->scheme || !ep_host || !ep_path)
			goto out;
	}
	path_style = cfg->path_style < 0 ? (cfg->endpoint && *cfg->endpoint) : cfg->path_style;
	if (!path_style && (host_is_ip(ep_host) ||
			    !bucket_dns_compatible(s->bucket, strcmp(s->scheme, "https") == 0))) {
		mfs_debug("s3: %s cannot be addressed as a host name: using path-style addressing",
			  host_is_ip(ep_host) ? ep_host : s->bucket);
		path_style = 1;
	}
	if (asprintf(&s->endpoint, "%s://%s%s", s->scheme, ep_host, ep_path) < 0) {
		s->endpoint = NULL;
		goto out;
	}
	if (path_style) {
		if (mfs_buf_appendf(&base, "%s/", ep_path) ||
		    mfs_uri_encode(&base, s->bucket, strlen(s->bucket), 0))
			goto out;
		s->base_path = base.data;
		base.data = NULL;
		s->bucket_path = strdup(s->base_path);
		s->host = strdup(ep_host);
	} else {
		s->base_path = strdup(ep_path);
		if (asprintf(&s->bucket_path, "%s/", ep_path) < 0)
			s->bucket_path = NULL;
		if (asprintf(&s->host, "%s.%s", s->bucket, ep_host) < 0)
			s->host = NULL;
	}
	if (!s->base_path || !s->bucket_path || !s->host)
		goto out;

	cc.profile = cfg->profile;
	cc.anonymous = cfg->anonymous;
	cc.http_timeout = cfg->connect_timeout > 0 ? cfg->connect_timeout : 0;
	r = mfs_creds_provider_new(&cc, &s->creds, msg, msglen);
	if (r) {
		s->creds = NULL;
		if (!msg[0])
			snprintf(msg, msglen, "no credentials: %s", strerror(-r));
		goto out;
	}

	hc.connect_timeout = cfg->connect_timeout > 0 ? cfg->connect_timeout : 10;
	hc.request_timeout = cfg->request_timeout > 0 ? cfg->request_timeout : 30;
	hc.retries = cfg->retries < 0 ? 4 : cfg->retries;
	hc.region = s->region;
	hc.creds = s->creds;
	r = mfs_http_new(&hc, &s->http, msg, msglen);
	if (r)
		goto out;
	mfs_debug("s3: bucket %s prefix \"%s\" at %s://%s%s (%s, region %s, credentials from %s)",
		  s->bucket, s->prefix, s->scheme, s->host, s->base_path,
		  path_style ? "path-style" : "virtual-hosted", s->region,
		  mfs_creds_source(s->creds));
	*out = &s->base;
	s = NULL;
out:
	if (r == -ENOMEM && !msg[0])
		snprintf(msg, msglen, "out of memory");
	if (s)
		s3_destroy(&s->base);
	mfs_buf_free(&base);
	free(ep_host);
	free(ep_path);
	return r;
}
