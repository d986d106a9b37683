/*
 * http.c - libcurl transport for the S3 store: connection pool, timeouts,
 * retries with backoff, SigV4 signing, abort, streaming with ETag checks.
 *
 * Each attempt of a request is signed anew (fresh x-amz-date, credentials
 * taken from the provider each time so a refresh is picked up), sent, and its
 * outcome classified by mfs_s3_errno(): transient failures (5xx, 429,
 * SlowDown, connection and transfer errors) are retried up to cfg->retries
 * times after a sleep of "full jitter" exponential backoff (uniform in
 * [0, min(cap, base * 2^n)]), which spreads a herd of retrying threads
 * instead of synchronising them; other 4xx never are. A ranged GET resumes
 * after the bytes its sink already has, and every 2xx response must carry
 * the ETag the read started with, checked before its first byte is handed
 * over, so a sink never sees bytes of two versions.
 *
 * Timeouts: connect_timeout bounds the TCP/TLS connect; request_timeout is a
 * no-progress limit (less than 1 byte/s for that long: LOW_SPEED_LIMIT/TIME),
 * not a total, so a large download that keeps moving is never cut off.
 *
 * DESIGN (threads): the transport is shared by every thread of the mount. It
 * keeps a pool of slots, each one CURL easy handle driven by its own CURLM
 * multi handle. A thread takes an idle slot (or makes a new one) under
 * h->lock, runs its transfer with no lock held, and puts the slot back.
 * The connection cache of a multi handle outlives the transfers added to it,
 * so a slot keeps its keep-alive connections (and DNS cache) from one request
 * to the next: connections are reused across requests and threads without
 * sharing one connection cache between threads. A CURLSH share with
 * CURL_LOCK_DATA_CONNECT would do the same with a lock taken inside libcurl
 * on every connection lookup; in 7.88 shared connection caches were still
 * young, and the pool needs no callback locking at all. Slots are never
 * freed before the transport, so the pool grows to the peak number of
 * concurrent requests (the FUSE worker threads plus prefetchers) and stays
 * there.
 *
 * Driving the multi handle ourselves (curl_multi_poll with a 100 ms timeout)
 * rather than curl_easy_perform is what bounds abort latency: easy_perform
 * can sit in poll for a second on a stalled connection, while our loop checks
 * h->aborted at least every 100 ms and mfs_http_abort() also wakes every
 * slot's poll at once (curl_multi_wakeup is thread-safe by contract). The
 * XFERINFOFUNCTION check of the same flag stops a transfer that is busy
 * moving data. Backoff sleeps wait on a condition variable that abort
 * broadcasts. Lock order: h->lock and h->sleep_lock are never held together.
 */
#include "http_i.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "../util/err.h"
#include "../util/log.h"
#include "sigv4.h"

/* Backoff: full jitter over base * 2^n, capped. Throttling backs off harder. */
#define BACKOFF_BASE_MS 100
#define BACKOFF_THROTTLE_BASE_MS 500
#define BACKOFF_CAP_MS 10000
/* How often a transfer loop looks at the abort flag at the latest. */
#define POLL_MS 100
/* Non-sink bodies (listing pages) and error bodies are kept in memory. */
#define MAX_BODY (64u << 20)
#define MAX_ERROR_BODY (64u << 10)

struct slot {
	CURL *easy;
	CURLM *multi;
	struct slot *next_idle; /* protected by h->lock */
	struct slot *next_all;  /* immutable once linked, protected by h->lock */
};

struct mfs_http {
	long connect_ms;
	long low_speed_s;
	int retries;
	char region[64];
	struct mfs_creds_provider *creds; /* borrowed */
	char *ca_bundle;                  /* NULL: libcurl's default (system store) */

	pthread_mutex_t lock; /* protects idle, all */
	struct slot *idle;
	struct slot *all;

	atomic_int aborted;
	pthread_mutex_t sleep_lock; /* with sleep_cond: backoff sleeps */
	pthread_cond_t sleep_cond;
};

/* ---- global init ---- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int mfs_http_global_init(void)
{
	pthread_once(&global_once, global_init);
	return global_rc == CURLE_OK ? 0 : -EIO;
}

/* ---- lifetime ---- */

int mfs_http_new(const struct mfs_http_config *cfg, struct mfs_http **out, char *msg,
		 size_t msglen)
{
	struct mfs_http *h = NULL;
	pthread_condattr_t ca;
	const char *bundle;
	int r, inited = 0; /* how many of lock, sleep_lock, sleep_cond exist */

	*out = NULL;
	r = mfs_http_global_init();
	if (r) {
		snprintf(msg, msglen, "cannot initialise libcurl");
		return r;
	}
	r = -ENOMEM;
	h = calloc(1, sizeof(*h));
	if (!h)
		goto out;
	h->connect_ms = (long)(cfg->connect_timeout * 1000.0);
	if (h->connect_ms < 1)
		h->connect_ms = 1;
	/* LOW_SPEED_TIME is whole seconds; round up so a short timeout is not 0 (off). */
	h->low_speed_s = (long)cfg->request_timeout;
	if ((double)h->low_speed_s < cfg->request_timeout)
		h->low_speed_s++;
	if (h->low_speed_s < 1)
		h->low_speed_s = 1;
	h->retries = cfg->retries < 0 ? 0 : cfg->retries;
	snprintf(h->region, sizeof(h->region), "%s", cfg->region ? cfg->region : "us-east-1");
	h->creds = cfg->creds;
	/* AWS SDKs read AWS_CA_BUNDLE; the curl tool reads CURL_CA_BUNDLE. */
	bundle = getenv("AWS_CA_BUNDLE");
	if (!bundle || !*bundle)
		bundle = getenv("CURL_CA_BUNDLE");
	if (bundle && *bundle) {
		h->ca_bundle = strdup(bundle);
		if (!h->ca_bundle)
			goto out;
	}
	atomic_init(&h->aborted, 0);
	if (pthread_mutex_init(&h->lock, NULL))
		goto out;
	inited++;
	if (pthread_mutex_init(&h->sleep_lock, NULL))
		goto out;
	inited++;
	/* Backoff deadlines on the monotonic clock: a clock step must not stretch them. */
	if (pthread_condattr_init(&ca))
		goto out;
	if (!pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) &&
	    !pthread_cond_init(&h->sleep_cond, &ca))
		inited++;
	pthread_condattr_destroy(&ca);
	if (inited < 3)
		goto out;
	*out = h;
	h = NULL;
	r = 0;
out:
	if (h) {
		if (inited > 1)
			pthread_mutex_destroy(&h->sleep_lock);
		if (inited > 0)
			pthread_mutex_destroy(&h->lock);
		free(h->ca_bundle);
		free(h);
		snprintf(msg, msglen, "out of memory");
	}
	return r;
}

void mfs_http_free(struct mfs_http *h)
{
	struct slot *s, *next;

	if (!h)
		return;
	for (s = h->all; s; s = next) {
		next = s->next_all;
		curl_multi_cleanup(s->multi);
		curl_easy_cleanup(s->easy);
		free(s);
	}
	pthread_cond_destroy(&h->sleep_cond);
	pthread_mutex_destroy(&h->sleep_lock);
	pthread_mutex_destroy(&h->lock);
	free(h->ca_bundle);
	free(h);
}

void mfs_http_abort(struct mfs_http *h)
{
	struct slot *s;

	atomic_store(&h->aborted, 1);
	pthread_mutex_lock(&h->lock);
	for (s = h->all; s; s = s->next_all)
		curl_multi_wakeup(s->multi);
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_lock(&h->sleep_lock);
	pthread_cond_broadcast(&h->sleep_cond);
	pthread_mutex_unlock(&h->sleep_lock);
}

static int is_aborted(struct mfs_http *h)
{
	return atomic_load(&h->aborted);
}

/* ---- the pool ---- */

static struct slot *slot_get(struct mfs_http *h)
{
	struct slot *s;

	pthread_mutex_lock(&h->lock);
	s = h->idle;
	if (s)
		h->idle = s->next_idle;
	pthread_mutex_unlock(&h->lock);
	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->easy = curl_easy_init();
	s->multi = curl_multi_init();
	if (!s->easy || !s->multi) {
		if (s->multi)
			curl_multi_cleanup(s->multi);
		if (s->easy)
			curl_easy_cleanup(s->easy);
		free(s);
		return NULL;
	}
	pthread_mutex_lock(&h->lock);
	s->next_all = h->all;
	h->all = s;
	pthread_mutex_unlock(&h->lock);
	return s;
}

static void slot_put(struct mfs_http *h, struct slot *s)
{
	pthread_mutex_lock(&h->lock);
	s->next_idle = h->idle;
	h->idle = s;
	pthread_mutex_unlock(&h->lock);
}

/* ---- responses ---- */

void mfs_http_response_init(struct mfs_http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
}

void mfs_http_response_free(struct mfs_http_response *resp)
{
	mfs_buf_free(&resp->body);
}

/* Forget what the previous attempt saw; keep the counters that span attempts. */
static void response_reset_attempt(struct mfs_http_response *resp)
{
	resp->status = 0;
	resp->curl_code = 0;
	resp->curl_error[0] = '\0';
	mfs_buf_reset(&resp->body);
	memset(&resp->s3err, 0, sizeof(resp->s3err));
	resp->reason = NULL;
	resp->etag[0] = '\0';
	resp->have_length = 0;
	resp->content_length = 0;
	resp->last_modified[0] = '\0';
	resp->storage_class[0] = '\0';
	resp->bucket_region[0] = '\0';
}

/* One attempt in flight. */
struct xfer {
	struct mfs_http *h;
	const struct mfs_http_request *req;
	struct mfs_http_response *resp;
	char *pin;          /* ETag to match, "" when none yet (80 bytes) */
	uint64_t start;     /* first byte asked for in this attempt */
	uint64_t remaining; /* bytes still wanted by the sink */
	int open_ended;     /* the range runs to the end of the object */
	uint64_t skip;      /* bytes to drop: a 200 answered a ranged request */
	uint64_t got;       /* bytes delivered in this attempt */
	int checked;        /* the 2xx headers were verified */
	int have_crange;
	uint64_t cr_start, cr_end, cr_total; /* Content-Range; cr_total UINT64_MAX if '*' */
	int done;           /* the sink has every byte it asked for; the rest is dropped */
	int err;            /* our own reason to stop: -ESTALE, sink error, -ENOMEM, -EIO */
	int err_retry;      /* ... and whether that reason is transient */
	size_t body_off;    /* PUT: bytes of req->body handed to libcurl in this attempt */
};

static int is_2xx(long status)
{
	return status >= 200 && status < 300;
}

/* "  value  \r\n" -> "value" copied into @dst, quotes kept. */
static void header_value(char *dst, size_t dstlen, const char *v, size_t n)
{
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static void strip_quotes(char *s)
{
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		memmove(s, s + 1, n - 2);
		s[n - 2] = '\0';
	}
}

/* Truncating copy (header values longer than the field are not ours to keep). */
static void copy_field(char *dst, size_t dstlen, const char *src)
{
	size_t n = strnlen(src, dstlen - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct mfs_http_response *resp = x->resp;
	size_t n = size * nmemb;
	const char *colon;
	size_t name_len;
	char val[256];

	if (mfs_log_get_level() >= MFS_LOG_DEBUG && n > 2) {
		char raw[1024], clean[1024];

		header_value(raw, sizeof(raw), line, n);
		mfs_debug("s3: < %s", mfs_log_redact(raw, clean, sizeof(clean)));
	}
	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		const char *sp = memchr(line, ' ', n);

		/* A new response (after a 100 Continue, say): forget the last one's headers. */
		response_reset_attempt(resp);
		x->have_crange = 0;
		resp->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return n;
	}
	colon = memchr(line, ':', n);
	if (!colon)
		return n;
	name_len = (size_t)(colon - line);
	header_value(val, sizeof(val), colon + 1, n - name_len - 1);
#define IS(name) (name_len == sizeof(name) - 1 && strncasecmp(line, name, name_len) == 0)
	if (IS("etag")) {
		strip_quotes(val);
		copy_field(resp->etag, sizeof(resp->etag), val);
	} else if (IS("content-length")) {
		char *end;

		errno = 0;
		resp->content_length = strtoull(val, &end, 10);
		resp->have_length = !errno && end != val && *end == '\0';
	} else if (IS("last-modified")) {
		copy_field(resp->last_modified, sizeof(resp->last_modified), val);
	} else if (IS("x-amz-storage-class")) {
		copy_field(resp->storage_class, sizeof(resp->storage_class), val);
	} else if (IS("x-amz-bucket-region")) {
		copy_field(resp->bucket_region, sizeof(resp->bucket_region), val);
	} else if (IS("content-range")) {
		unsigned long long a, b, t;
		char star;

		if (sscanf(val, "bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
			x->have_crange = 1;
			x->cr_start = a;
			x->cr_end = b;
			x->cr_total = t;
		} else if (sscanf(val, "bytes %llu-%llu/%c", &a, &b, &star) == 3 && star == '*') {
			x->have_crange = 1;
			x->cr_start = a;
			x->cr_end = b;
			x->cr_total = UINT64_MAX;
		}
	}
#undef IS
	return n;
}

/*
 * The first 2xx byte (or the end of an empty 2xx body): is this the version
 * and the range we asked for? Sets x->err and returns it when not.
 */
static int check_response(struct xfer *x)
{
	struct mfs_http_response *resp = x->resp;

	x->checked = 1;
	if (x->pin[0] && resp->etag[0] && strcmp(resp->etag, x->pin) != 0) {
		snprintf(resp->got_etag, sizeof(resp->got_etag), "%s", resp->etag);
		x->err = -ESTALE;
		return x->err;
	}
	/* No pin from the caller: the first response's version is the one we read. */
	if (!x->pin[0] && resp->etag[0])
		snprintf(x->pin, sizeof(resp->etag), "%s", resp->etag);
	if (resp->status == 206 && x->have_crange && x->cr_start != x->start) {
		x->err = -EIO;
		x->err_retry = 1;
		return x->err;
	}
	if (resp->status == 200 && x->req->sink)
		x->skip = x->start; /* the server ignored Range and sends the whole object */
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct mfs_http_response *resp = x->resp;
	const struct mfs_http_request *req = x->req;
	size_t n = size * nmemb, k;
	int r;

	if (!is_2xx(resp->status)) {
		/* An error body: keep the start of it for <Code>/<Message>. */
		if (resp->body.len < MAX_ERROR_BODY) {
			k = n < MAX_ERROR_BODY - resp->body.len ? n : MAX_ERROR_BODY - resp->body.len;
			if (mfs_buf_append(&resp->body, data, k)) {
				x->err = -ENOMEM;
				return 0;
			}
		}
		return n;
	}
	if (!x->checked && check_response(x))
		return 0;
	if (!req->sink) {
		if (resp->body.len + n > MAX_BODY) {
			x->err = -EIO;
			return 0;
		}
		if (mfs_buf_append(&resp->body, data, n)) {
			x->err = -ENOMEM;
			return 0;
		}
		return n;
	}
	if (x->skip) {
		k = x->skip < n ? (size_t)x->skip : n;
		x->skip -= k;
		data += k;
		n -= k;
		if (!n)
			return size * nmemb;
	}
	k = n;
	if (!x->open_ended && k > x->remaining)
		k = (size_t)x->remaining; /* more than asked for: drop the excess */
	if (k) {
		r = req->sink(req->sink_arg, data, k);
		if (r) {
			resp->sink_err = r;
			x->err = r;
			return 0;
		}
		x->got += k;
		resp->delivered += k;
		if (!x->open_ended)
			x->remaining -= k;
	}
	if (!x->open_ended && !x->remaining && k < n) {
		/*
		 * A server that ignored Range is sending more than we want:
		 * stop here instead of reading the rest of the object (the
		 * connection is closed, not reused).
		 */
		x->done = 1;
		return 0;
	}
	return size * nmemb;
}

static size_t on_read(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb, left = x->req->body_len - x->body_off;

	if (n > left)
		n = left;
	if (n)
		memcpy(dst, (const char *)x->req->body + x->body_off, n);
	x->body_off += n;
	return n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return is_aborted(x->h) ? 1 : 0;
}

/* ---- one attempt ---- */

static struct curl_slist *slist_add(struct curl_slist *l, int *failed, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct curl_slist *slist_add(struct curl_slist *l, int *failed, const char *fmt, ...)
{
	char line[8192];
	struct curl_slist *n;
	va_list ap;
	int len;

	if (*failed)
		return l;
	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(line)) {
		*failed = 1;
		return l;
	}
	n = curl_slist_append(l, line);
	if (!n) {
		*failed = 1;
		return l;
	}
	return n;
}

/*
 * Build the header list of one attempt: Host, x-amz-date,
 * x-amz-content-sha256, x-amz-security-token and Authorization when signed,
 * Range for a sink request. The secret lives only on the stack and is wiped.
 */
static int build_headers(struct mfs_http *h, struct xfer *x, struct curl_slist **out)
{
	const struct mfs_http_request *req = x->req;
	struct curl_slist *l = NULL;
	struct mfs_sigv4_header sh[4 + MFS_STORE_MAX_META];
	char meta_names[MFS_STORE_MAX_META][128];
	size_t i;
	struct mfs_sigv4_request sreq;
	struct mfs_sigv4_result sres;
	struct mfs_creds c;
	char amz_date[32];
	struct tm tm;
	time_t now;
	int failed = 0, signed_req, r = 0, n = 0;

	memset(&c, 0, sizeof(c));
	memset(&sres, 0, sizeof(sres));
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);

	if (req->n_meta > MFS_STORE_MAX_META)
		return -EINVAL;
	for (i = 0; i < req->n_meta; i++)
		snprintf(meta_names[i], sizeof(meta_names[i]), "x-amz-meta-%s", req->meta[i].name);
	signed_req = h->creds && !mfs_creds_is_anonymous(h->creds);
	if (signed_req) {
		r = mfs_creds_get(h->creds, &c);
		if (r)
			goto out;
		sh[n++] = (struct mfs_sigv4_header){ "host", req->host };
		sh[n++] = (struct mfs_sigv4_header){ "x-amz-content-sha256", "UNSIGNED-PAYLOAD" };
		sh[n++] = (struct mfs_sigv4_header){ "x-amz-date", amz_date };
		if (c.session_token[0])
			sh[n++] = (struct mfs_sigv4_header){ "x-amz-security-token",
							     c.session_token };
		/* Every x-amz-* header has to be signed. */
		for (i = 0; i < req->n_meta; i++)
			sh[n++] = (struct mfs_sigv4_header){ meta_names[i], req->meta[i].value };
		memset(&sreq, 0, sizeof(sreq));
		sreq.method = req->method;
		sreq.path = req->path;
		sreq.query = req->query;
		sreq.headers = sh;
		sreq.n_headers = (size_t)n;
		sreq.payload_hash = "UNSIGNED-PAYLOAD";
		sreq.normalize = 0;
		r = mfs_sigv4_sign(&sreq, h->region, "s3", amz_date, c.access_key, c.secret_key,
				   &sres);
		if (r)
			goto out;
	}
	l = slist_add(l, &failed, "Host: %s", req->host);
	if (signed_req) {
		l = slist_add(l, &failed, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
		l = slist_add(l, &failed, "x-amz-date: %s", amz_date);
		if (c.session_token[0])
			l = slist_add(l, &failed, "x-amz-security-token: %s", c.session_token);
		l = slist_add(l, &failed, "Authorization: %s",
			      sres.authorization.data ? sres.authorization.data : "");
	}
	if (req->sink) {
		if (x->open_ended)
			l = slist_add(l, &failed, "Range: bytes=%" PRIu64 "-", x->start);
		else
			l = slist_add(l, &failed, "Range: bytes=%" PRIu64 "-%" PRIu64, x->start,
				      x->start + x->remaining - 1);
	}
	for (i = 0; i < req->n_meta; i++)
		l = slist_add(l, &failed, "%s: %s", meta_names[i], req->meta[i].value);
	/* S3 ignores Accept; do not send libcurl's default one. */
	l = slist_add(l, &failed, "Accept:");
	/* A part is sent at once: waiting a second for "100 Continue" only slows it. */
	if (req->body)
		l = slist_add(l, &failed, "Expect:");
	if (failed) {
		r = -ENOMEM;
		goto out;
	}
	*out = l;
	l = NULL;
out:
	curl_slist_free_all(l);
	mfs_sigv4_result_free(&sres);
	mfs_creds_wipe(&c);
	return r;
}

#define SETOPT(e, opt, val)                                                     \
	do {                                                                    \
		CURLcode c_ = curl_easy_setopt(e, opt, val);                    \
		if (c_ != CURLE_OK) {                                           \
			snprintf(resp->curl_error, sizeof(resp->curl_error),    \
				 "curl_easy_setopt(%s): %s", #opt,              \
				 curl_easy_strerror(c_));                       \
			r = c_ == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO;         \
			goto out;                                               \
		}                                                               \
	} while (0)

static int setup_easy(struct mfs_http *h, CURL *e, struct xfer *x, const char *url,
		      struct curl_slist *headers, char *errbuf)
{
	struct mfs_http_response *resp = x->resp;
	int r = 0;

	curl_easy_reset(e);
	SETOPT(e, CURLOPT_URL, url);
	/* Threads and signals: never let libcurl's resolver use alarm(). */
	SETOPT(e, CURLOPT_NOSIGNAL, 1L);
	SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Keys may contain "." and ".." segments: send the path as it is. */
	SETOPT(e, CURLOPT_PATH_AS_IS, 1L);
	SETOPT(e, CURLOPT_HTTPHEADER, headers);
	SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, h->connect_ms);
	SETOPT(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	SETOPT(e, CURLOPT_LOW_SPEED_TIME, h->low_speed_s);
	SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(e, CURLOPT_ERRORBUFFER, errbuf);
	SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(e, CURLOPT_HEADERDATA, x);
	SETOPT(e, CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(e, CURLOPT_WRITEDATA, x);
	SETOPT(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	SETOPT(e, CURLOPT_XFERINFODATA, x);
	SETOPT(e, CURLOPT_NOPROGRESS, 0L);
	SETOPT(e, CURLOPT_USERAGENT, "medallionfs/" MFS_VERSION);
	if (h->ca_bundle)
		SETOPT(e, CURLOPT_CAINFO, h->ca_bundle);
	if (strcmp(x->req->method, "HEAD") == 0) {
		SETOPT(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(x->req->method, "PUT") == 0) {
		SETOPT(e, CURLOPT_UPLOAD, 1L);
		SETOPT(e, CURLOPT_READFUNCTION, on_read);
		SETOPT(e, CURLOPT_READDATA, x);
		SETOPT(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->req->body_len);
	} else if (strcmp(x->req->method, "POST") == 0) {
		SETOPT(e, CURLOPT_POST, 1L);
		SETOPT(e, CURLOPT_POSTFIELDS, x->req->body ? (const char *)x->req->body : "");
		SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->req->body_len);
	} else if (strcmp(x->req->method, "GET") != 0) {
		SETOPT(e, CURLOPT_CUSTOMREQUEST, x->req->method);
	}
	/* Larger reads than the 16 KiB default: fewer callbacks on big objects. Best effort. */
	if (curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024) != CURLE_OK)
		mfs_debug("s3: CURLOPT_BUFFERSIZE refused, using the default");
out:
	return r;
}

/* Run one transfer on @s; returns its CURLcode. */
static CURLcode run_transfer(struct mfs_http *h, struct slot *s)
{
	CURLcode rc = CURLE_OK;
	CURLMcode mc;
	CURLMsg *m;
	int running = 1, left;

	mc = curl_multi_add_handle(s->multi, s->easy);
	if (mc != CURLM_OK)
		return mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
	for (;;) {
		mc = curl_multi_perform(s->multi, &running);
		if (mc != CURLM_OK) {
			rc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_RECV_ERROR;
			goto out;
		}
		if (!running)
			break;
		if (is_aborted(h)) {
			rc = CURLE_ABORTED_BY_CALLBACK;
			goto out;
		}
		mc = curl_multi_poll(s->multi, NULL, 0, POLL_MS, NULL);
		if (mc != CURLM_OK) {
			rc = CURLE_RECV_ERROR;
			goto out;
		}
	}
	rc = CURLE_RECV_ERROR; /* no DONE message would be a libcurl bug */
	while ((m = curl_multi_info_read(s->multi, &left))) {
		if (m->msg == CURLMSG_DONE && m->easy_handle == s->easy)
			rc = m->data.result;
	}
out:
	/* Removing an unfinished transfer closes its connection: nothing half-read is reused. */
	curl_multi_remove_handle(s->multi, s->easy);
	return rc;
}

static void log_request(const struct mfs_http_request *req, const char *url,
			const struct curl_slist *headers)
{
	char clean[2048];

	mfs_debug("s3: > %s %s", req->method, mfs_log_redact(url, clean, sizeof(clean)));
	for (; headers; headers = headers->next)
		mfs_debug("s3: > %s", mfs_log_redact(headers->data, clean, sizeof(clean)));
}

/*
 * One attempt. Returns 0 or -errno and sets *retry when the failure is
 * transient, *throttled when the server asked us to slow down.
 */
static int attempt(struct mfs_http *h, const struct mfs_http_request *req,
		   struct mfs_http_response *resp, char *pin, int *retry, int *throttled)
{
	struct curl_slist *headers = NULL;
	struct mfs_buf url = MFS_BUF_INIT;
	char errbuf[CURL_ERROR_SIZE];
	struct slot *s = NULL;
	struct xfer x;
	CURLcode rc;
	int r;

	*retry = 0;
	*throttled = 0;
	response_reset_attempt(resp);
	memset(&x, 0, sizeof(x));
	x.h = h;
	x.req = req;
	x.resp = resp;
	x.pin = pin;
	if (req->sink) {
		x.start = req->off + resp->delivered;
		x.open_ended = req->len > UINT64_MAX - req->off;
		x.remaining = req->len - resp->delivered;
	}
	errbuf[0] = '\0';

	r = mfs_buf_appendf(&url, "%s://%s%s%s%s", req->scheme, req->host, req->path,
			    req->query && *req->query ? "?" : "", req->query ? req->query : "");
	if (r)
		goto out;
	mfs_clear_error();
	r = build_headers(h, &x, &headers);
	if (r) {
		/* the credential chain's own reason (expired, refresh failed) */
		if (r != -ENOMEM && *mfs_last_error())
			snprintf(resp->curl_error, sizeof(resp->curl_error),
				 "cannot sign the request: %s", mfs_last_error());
		else if (r != -ENOMEM)
			snprintf(resp->curl_error, sizeof(resp->curl_error),
				 "cannot sign the request (credentials from %s)",
				 h->creds ? mfs_creds_source(h->creds) : "nowhere");
		goto out;
	}
	s = slot_get(h);
	if (!s) {
		r = -ENOMEM;
		goto out;
	}
	r = setup_easy(h, s->easy, &x, url.data, headers, errbuf);
	if (r)
		goto out;
	if (mfs_log_get_level() >= MFS_LOG_DEBUG)
		log_request(req, url.data, headers);

	rc = run_transfer(h, s);
	resp->curl_code = (int)rc;
	/* Our own reasons to stop come first: the CURLcode is only their echo. */
	if (x.err) {
		r = x.err;
		*retry = x.err_retry;
		goto out;
	}
	if (rc == CURLE_WRITE_ERROR && x.done) {
		rc = CURLE_OK;
		resp->curl_code = CURLE_OK;
	}
	if (rc != CURLE_OK && req->sink && resp->status == 206 && x.have_crange && !x.got &&
	    x.cr_total != UINT64_MAX && x.start >= x.cr_total) {
		/*
		 * Content-Range says the object ends before the range starts,
		 * yet the body is announced non-empty and then cut (s3rver
		 * answers "bytes 0-0/0" with Content-Length 1 for an empty
		 * object). There is nothing to read: that is the end.
		 */
		rc = CURLE_OK;
		resp->curl_code = CURLE_OK;
	}
	if (rc == CURLE_OK && is_2xx(resp->status) && !x.checked && req->sink) {
		/* An empty 2xx body still has to be the right version. */
		r = check_response(&x);
		if (r) {
			*retry = x.err_retry;
			goto out;
		}
	}
	if (rc != CURLE_OK) {
		snprintf(resp->curl_error, sizeof(resp->curl_error), "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		r = mfs_s3_errno((int)rc, 0, NULL, retry, &resp->reason);
		goto out;
	}
	if (!is_2xx(resp->status)) {
		/* HEAD answers carry no body: the status alone has to do. */
		if (resp->body.len)
			(void)mfs_s3_parse_error(resp->body.data, resp->body.len, &resp->s3err);
		r = mfs_s3_errno(0, resp->status, resp->s3err.code, retry, &resp->reason);
		*throttled = resp->status == 429 || resp->status == 503 ||
			     strcmp(resp->s3err.code, "SlowDown") == 0;
		goto out;
	}
	/*
	 * A 206 that ends before both what we asked for and the object: the
	 * server cut the range short. Ask again for the rest.
	 */
	if (req->sink && resp->status == 206 && !x.open_ended && x.remaining && x.have_crange &&
	    x.cr_total != UINT64_MAX && x.cr_end + 1 < x.cr_total) {
		snprintf(resp->curl_error, sizeof(resp->curl_error),
			 "short range response (%" PRIu64 " bytes missing)", x.remaining);
		r = -EIO;
		*retry = 1;
		goto out;
	}
	r = 0;
out:
	if (s)
		slot_put(h, s);
	curl_slist_free_all(headers);
	mfs_buf_free(&url);
	return r;
}

/* Full jitter: uniform in [0, min(cap, base * 2^n)]. */
static long backoff_ms(int n, int throttled)
{
	static __thread unsigned int seed;
	long base = throttled ? BACKOFF_THROTTLE_BASE_MS : BACKOFF_BASE_MS;
	long ceil_ms = base;

	if (!seed) {
		if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
			seed = (unsigned int)time(NULL) ^ (unsigned int)(uintptr_t)&seed;
		seed |= 1;
	}
	while (n-- > 0 && ceil_ms < BACKOFF_CAP_MS)
		ceil_ms *= 2;
	if (ceil_ms > BACKOFF_CAP_MS)
		ceil_ms = BACKOFF_CAP_MS;
	return (long)((unsigned long)rand_r(&seed) % (unsigned long)(ceil_ms + 1));
}

/* Sleep @ms unless aborted first. Returns -ECANCELED when woken by abort. */
static int sleep_interruptible(struct mfs_http *h, long ms)
{
	struct timespec deadline;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&h->sleep_lock);
	while (!is_aborted(h)) {
		if (pthread_cond_timedwait(&h->sleep_cond, &h->sleep_lock, &deadline) == ETIMEDOUT)
			break;
	}
	if (is_aborted(h))
		r = -ECANCELED;
	pthread_mutex_unlock(&h->sleep_lock);
	return r;
}

int mfs_http_perform(struct mfs_http *h, const struct mfs_http_request *req,
		     struct mfs_http_response *resp)
{
	char pin[80];
	int n, r = 0, retry, throttled;
	long ms;

	snprintf(pin, sizeof(pin), "%s", req->etag ? req->etag : "");
	resp->delivered = 0;
	resp->attempts = 0;
	for (n = 0;; n++) {
		if (is_aborted(h)) {
			resp->curl_code = CURLE_ABORTED_BY_CALLBACK;
			return -ECANCELED;
		}
		/* A retry after the last byte was delivered has nothing left to ask for. */
		if (n > 0 && req->sink && resp->delivered >= req->len)
			return 0;
		r = attempt(h, req, resp, pin, &retry, &throttled);
		resp->attempts = n + 1;
		if (r == 0 || !retry || n >= h->retries)
			break;
		ms = backoff_ms(n, throttled);
		mfs_debug("s3: %s %s%s%s: attempt %d failed (HTTP %ld, %s), retrying in %ld ms",
			  req->method, req->path, req->query && *req->query ? "?" : "",
			  req->query ? req->query : "", n + 1, resp->status,
			  resp->curl_error[0] ? resp->curl_error : resp->s3err.code, ms);
		if (sleep_interruptible(h, ms)) {
			resp->curl_code = CURLE_ABORTED_BY_CALLBACK;
			return -ECANCELED;
		}
	}
	return r;
}
