/*
 * writer.c - a bronze file written sequentially, streamed to the store.
 *
 * Bytes are gathered into a part buffer; a full buffer is handed to the pool
 * as one upload_part job and a new buffer started, so the writer copies
 * while earlier parts travel. The multipart upload is created only when the
 * first part is full: a file smaller than one part goes out as one
 * PutObject at commit, and an empty file is an empty PutObject.
 *
 * Memory is bounded per file (one buffer being filled plus at most
 * MFS_WRITER_MAX_INFLIGHT parts in flight) and across files by a budget for
 * parts in flight. A writer with nothing in flight may always send one part,
 * so files that hold budget and wait for their writers can never starve
 * another file.
 *
 * DESIGN (threads): w->wlock serialises the calls on one file (write, commit,
 * free) and may be held across network I/O (creating the upload, the final
 * PutObject or CompleteMultipartUpload) — nothing else takes it. w->lock
 * protects what the part jobs touch (inflight, err, why) and is never held
 * across I/O. Lock order: wlock, then lock.
 */
#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/err.h"
#include "../util/log.h"

#define MAX_PARTS 10000u

struct mfs_writer {
	struct mfs_store *st;
	struct mfs_pool *pool;
	char *key;
	struct mfs_store_meta meta[MFS_STORE_MAX_META]; /* strings in meta_text */
	size_t n_meta;
	char *meta_text;

	pthread_mutex_t wlock; /* serialises write/commit/free; see DESIGN */
	uint64_t size;         /* bytes accepted; protected by wlock */
	char *buf;             /* the part being filled; protected by wlock */
	size_t cap, len;
	unsigned part;         /* number of the part in buf, 1-based */
	uint64_t buf_off;      /* object offset of buf[0] */
	struct mfs_upload *u;  /* NULL until the first part is sent */
	int committed;
	int result;            /* of the commit */
	int reopenable;        /* committed by one PutObject: buf still holds the object */

	pthread_mutex_t lock;  /* protects inflight, err, why */
	pthread_cond_t cond;   /* a part finished */
	int inflight;
	int err;               /* sticky: the first failure */
	char why[1024];
};

struct part_job {
	struct mfs_writer *w;
	char *buf;
	size_t len;
	unsigned part;
	uint64_t off;
};

static size_t budget_max = 256u << 20;
static atomic_size_t budget_used;
static atomic_ullong n_objects, n_bytes, n_failures;

void mfs_writer_set_budget(size_t bytes)
{
	budget_max = bytes;
}

void mfs_writer_counters(uint64_t *objects, uint64_t *bytes, uint64_t *failures)
{
	*objects = atomic_load(&n_objects);
	*bytes = atomic_load(&n_bytes);
	*failures = atomic_load(&n_failures);
}

size_t mfs_writer_part_size(unsigned n)
{
	size_t size = MFS_WRITER_FIRST_PART;

	while (n > 1000 && size < (4ul << 30)) {
		size *= 2;
		n -= 1000;
	}
	return size;
}

/* Reserve @n bytes of the budget; with @force even beyond it. */
static int budget_take(size_t n, int force)
{
	size_t used = atomic_load(&budget_used);

	for (;;) {
		if (!force && used + n > budget_max)
			return 0;
		if (atomic_compare_exchange_weak(&budget_used, &used, used + n))
			return 1;
	}
}

static void budget_give(size_t n)
{
	atomic_fetch_sub(&budget_used, n);
}

/* Copy @n user metadata into @w: "name\0value\0" pairs in one block. */
static int meta_copy(struct mfs_writer *w, const struct mfs_store_meta *meta, size_t n)
{
	size_t i, len = 0;
	char *p;

	if (n > MFS_STORE_MAX_META)
		return -EINVAL;
	for (i = 0; i < n; i++)
		len += strlen(meta[i].name) + strlen(meta[i].value) + 2;
	w->meta_text = p = malloc(len + 1);
	if (!p)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		w->meta[i].name = strcpy(p, meta[i].name);
		p += strlen(p) + 1;
		w->meta[i].value = strcpy(p, meta[i].value);
		p += strlen(p) + 1;
	}
	w->n_meta = n;
	return 0;
}

int mfs_writer_new(struct mfs_store *st, struct mfs_pool *pool, const char *key,
		   const struct mfs_store_meta *meta, size_t n_meta, struct mfs_writer **out)
{
	struct mfs_writer *w = calloc(1, sizeof(*w));
	int err;

	if (!w || !(w->key = strdup(key))) {
		free(w);
		return -ENOMEM;
	}
	err = meta_copy(w, meta, n_meta);
	if (err) {
		free(w->key);
		free(w);
		return err;
	}
	w->st = st;
	w->pool = pool;
	w->part = 1;
	pthread_mutex_init(&w->wlock, NULL);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	*out = w;
	return 0;
}

/* Record the first failure (@why: its reason). */
static void fail_locked(struct mfs_writer *w, int err, const char *why)
{
	if (w->err)
		return;
	w->err = err;
	snprintf(w->why, sizeof(w->why), "%s", why && *why ? why : strerror(-err));
}

static void writer_fail(struct mfs_writer *w, int err, const char *why)
{
	pthread_mutex_lock(&w->lock);
	fail_locked(w, err, why);
	pthread_mutex_unlock(&w->lock);
}

/* The sticky error, its reason put back into mfs_last_error(); 0 if none. */
static int writer_error(struct mfs_writer *w)
{
	int err;

	pthread_mutex_lock(&w->lock);
	err = w->err;
	if (err)
		mfs_set_error("%s", w->why);
	pthread_mutex_unlock(&w->lock);
	return err;
}

static void part_run(void *arg)
{
	struct part_job *j = arg;
	struct mfs_writer *w = j->w;
	int err, skip;

	pthread_mutex_lock(&w->lock);
	skip = w->err != 0; /* the upload failed already: it will not be completed */
	pthread_mutex_unlock(&w->lock);
	mfs_clear_error();
	err = skip ? 0 : w->st->ops->upload_part(w->st, w->u, j->part, j->off, j->buf, j->len);
	pthread_mutex_lock(&w->lock);
	if (err)
		fail_locked(w, err, mfs_last_error());
	w->inflight--;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	budget_give(j->len);
	free(j->buf);
	free(j);
}

/* Wait until no part is in flight. wlock held. */
static void wait_idle(struct mfs_writer *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->inflight > 0)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

/* Hand the filled buffer to the pool. wlock held. */
static int send_part(struct mfs_writer *w)
{
	struct part_job *j;
	int err;

	if (w->part > MAX_PARTS) {
		writer_fail(w, -EFBIG, "the object would need more than 10 000 parts");
		return -EFBIG;
	}
	if (!w->u) {
		mfs_clear_error();
		err = w->st->ops->upload_begin(w->st, w->key, w->meta, w->n_meta, &w->u);
		if (err) {
			writer_fail(w, err, mfs_last_error());
			return err;
		}
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		writer_fail(w, -ENOMEM, NULL);
		return -ENOMEM;
	}
	j->w = w;
	j->buf = w->buf;
	j->len = w->len;
	j->part = w->part;
	j->off = w->buf_off;
	pthread_mutex_lock(&w->lock);
	while (!w->err && (w->inflight >= MFS_WRITER_MAX_INFLIGHT ||
			   !budget_take(j->len, w->inflight == 0)))
		pthread_cond_wait(&w->cond, &w->lock);
	err = w->err;
	if (!err)
		w->inflight++;
	pthread_mutex_unlock(&w->lock);
	if (!err) {
		err = mfs_pool_submit(w->pool, part_run, j);
		if (err) {
			budget_give(j->len);
			pthread_mutex_lock(&w->lock);
			w->inflight--;
			fail_locked(w, err, "cannot queue the part (shutting down)");
			pthread_mutex_unlock(&w->lock);
		}
	}
	if (err) {
		free(j);
		return err; /* the buffer stays with the writer and is freed with it */
	}
	w->buf = NULL;
	w->buf_off += w->len;
	w->len = w->cap = 0;
	w->part++;
	return 0;
}

ssize_t mfs_writer_write(struct mfs_writer *w, const char *buf, size_t size, uint64_t off)
{
	size_t done = 0, n;
	ssize_t r;

	pthread_mutex_lock(&w->wlock);
	if (w->committed && w->reopenable && !w->result && off == w->size) {
		/*
		 * A close of one descriptor (a shell's "> file" closes its own
		 * after dup2) came before the writes through another: the
		 * object is written again, whole, at the next flush.
		 */
		w->committed = 0;
		w->reopenable = 0;
	}
	if (w->committed) {
		mfs_set_error("the file was already made visible (closed or fsync'd) as a multipart "
			      "upload: it cannot be extended");
		r = -EOPNOTSUPP;
		goto out;
	}
	if (writer_error(w)) {
		r = -EIO;
		goto out;
	}
	if (off != w->size) {
		mfs_set_error("write at %llu, but %llu bytes were written: bronze files are written "
			      "sequentially only",
			      (unsigned long long)off, (unsigned long long)w->size);
		r = -EOPNOTSUPP;
		goto out;
	}
	while (done < size) {
		if (!w->buf) {
			w->cap = mfs_writer_part_size(w->part);
			w->buf = malloc(w->cap);
			if (!w->buf) {
				w->cap = 0;
				r = done ? (ssize_t)done : -ENOMEM;
				goto out;
			}
		}
		n = w->cap - w->len < size - done ? w->cap - w->len : size - done;
		memcpy(w->buf + w->len, buf + done, n);
		w->len += n;
		done += n;
		w->size += n;
		if (w->len == w->cap && send_part(w)) {
			(void)writer_error(w);
			r = -EIO;
			goto out;
		}
	}
	r = (ssize_t)done;
out:
	pthread_mutex_unlock(&w->wlock);
	return r;
}

uint64_t mfs_writer_size(struct mfs_writer *w, int *committed)
{
	uint64_t n;

	pthread_mutex_lock(&w->wlock);
	n = w->size;
	if (committed)
		*committed = w->committed;
	pthread_mutex_unlock(&w->wlock);
	return n;
}

/*
 * End an upload that will not be completed, and say so in the log: no
 * object appears; the parts already stored are freed if the abort works.
 * wlock held.
 */
static void abort_upload(struct mfs_writer *w, const char *why)
{
	char abort_why[1024] = "";
	int aerr = 1;

	if (!w->u)
		return;
	wait_idle(w);
	(void)w->st->ops->upload_end(w->st, w->u, 0, 0, NULL, &aerr, abort_why, sizeof(abort_why));
	w->u = NULL;
	mfs_err("upload of bronze/%s failed, not completed (%s); AbortMultipartUpload attempted: %s",
		w->key, why, aerr == 0 ? "done" : abort_why[0] ? abort_why : strerror(-aerr));
}

int mfs_writer_commit(struct mfs_writer *w, struct mfs_object *out)
{
	char abort_why[1024] = "";
	int err, aerr = 1;

	pthread_mutex_lock(&w->wlock);
	if (w->committed) {
		err = w->result;
		if (err)
			(void)writer_error(w);
		goto out;
	}
	w->committed = 1;
	if (!w->u && !writer_error(w)) {
		/* Smaller than one part: one PutObject. */
		mfs_clear_error();
		err = w->st->ops->put(w->st, w->key, w->buf, w->len, w->meta, w->n_meta, out);
		if (err) {
			writer_fail(w, err, mfs_last_error());
			mfs_err("upload of bronze/%s failed: %s", w->key, mfs_last_error());
		}
		w->reopenable = 1;
		goto done;
	}
	if (w->len && !writer_error(w))
		(void)send_part(w);
	wait_idle(w);
	err = writer_error(w);
	if (err && w->u) {
		abort_upload(w, w->why);
		goto done;
	}
	if (err) {
		mfs_err("upload of bronze/%s failed: %s", w->key, w->why);
		goto done;
	}
	mfs_clear_error();
	err = w->st->ops->upload_end(w->st, w->u, 1, w->part - 1, out, &aerr, abort_why,
				     sizeof(abort_why));
	w->u = NULL;
	if (err) {
		writer_fail(w, err, mfs_last_error());
		mfs_err("upload of bronze/%s failed, not completed (%s); AbortMultipartUpload "
			"attempted: %s",
			w->key, w->why, aerr == 0 ? "done" : abort_why);
	}
done:
	err = writer_error(w) ? -EIO : 0;
	w->result = err;
	if (err) {
		atomic_fetch_add(&n_failures, 1);
	} else {
		atomic_fetch_add(&n_objects, 1);
		atomic_fetch_add(&n_bytes, w->size);
		if (out)
			out->size = w->size;
	}
	if (!w->reopenable || err) {
		free(w->buf);
		w->buf = NULL;
		w->len = w->cap = 0;
	}
out:
	pthread_mutex_unlock(&w->wlock);
	return err;
}

void mfs_writer_free(struct mfs_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->wlock);
	wait_idle(w);
	if (w->u) {
		atomic_fetch_add(&n_failures, 1);
		abort_upload(w, "the file was released before it was committed");
	}
	pthread_mutex_unlock(&w->wlock);
	free(w->buf);
	pthread_mutex_destroy(&w->wlock);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w->meta_text);
	free(w->key);
	free(w);
}
