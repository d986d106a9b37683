/*
 * materialize.c - bronze object → silver file in the cache.
 *
 * The transform reads the bronze object through a read-ahead reader pinned
 * to the ETag it was asked for, writes the silver table straight into the
 * cache (chunk by chunk, so memory stays bounded) and the rejects into a
 * temporary file, which becomes a second cache entry once the table is
 * complete. Cache keys: "silver" or "rejects", the bronze key, the ETag and
 * the fingerprint, NUL-separated.
 */
#include "materialize.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "../transforms/silver.h"
#include "../util/buf.h"
#include "../util/err.h"
#include "../util/log.h"
#include "../util/stream.h"
#include "bronze.h"

void mfs_silver_source_init(struct mfs_silver_source *src, const struct mfs_transform_env *env,
			    const char *key, const char *etag, uint64_t size,
			    const struct mfs_tabular *tab)
{
	memset(src, 0, sizeof(*src));
	src->store = env->store;
	src->io_pool = env->io_pool;
	src->cache = env->cache;
	src->pipeline = env->pipeline;
	src->key = key;
	src->etag = etag;
	src->size = size;
	src->tab = *tab;
	src->tmpdir = env->tmpdir;
	src->max_prefetch = env->max_prefetch;
	src->publish = env->publish;
}

void mfs_silver_meta_free(struct mfs_silver_meta *m)
{
	free(m->schema);
	m->schema = NULL;
}

void mfs_silver_fingerprint(const struct mfs_pipeline *p, const char *key,
			    const struct mfs_tabular *tab, char out[33])
{
	const struct mfs_dataset *ds = mfs_pipeline_dataset_for(p, key);
	struct mfs_buf b = MFS_BUF_INIT;
	XXH128_hash_t h;

	/* Everything the output depends on besides the bytes of the object. */
	if (mfs_buf_appendf(&b, "silver-format %d\nformat %d codec %d\n[silver]\n%s\n",
			    MFS_SILVER_FORMAT_VERSION, (int)tab->format, (int)tab->codec,
			    p->silver_text ? p->silver_text : "") ||
	    (ds && mfs_buf_appendf(&b, "[dataset %s]\n%s\n", ds->name,
				   ds->section_text ? ds->section_text : ""))) {
		snprintf(out, 33, "%032x", 0);
		mfs_buf_free(&b);
		return;
	}
	h = XXH3_128bits(b.data, b.len);
	snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, (uint64_t)h.high64, (uint64_t)h.low64);
	mfs_buf_free(&b);
}

static int cache_key(struct mfs_buf *k, const char *kind, const struct mfs_silver_source *src,
		     const char *fp)
{
	int r = mfs_buf_append(k, kind, strlen(kind) + 1);

	if (!r)
		r = mfs_buf_append(k, src->key, strlen(src->key) + 1);
	if (!r)
		r = mfs_buf_append(k, src->etag, strlen(src->etag) + 1);
	if (!r)
		r = mfs_buf_append(k, fp, strlen(fp));
	return r;
}

/* ---- failure reasons for waiters ---- */

/*
 * The cache's single flight hands waiters the producer's errno, not its
 * reason: the producer leaves the reason here under the entry's key hash
 * (a small ring: only concurrent waiters need it).
 */
#define REASONS 64
static pthread_mutex_t reasons_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint64_t key;
	char why[512];
} reasons[REASONS]; /* protected by reasons_lock */
static unsigned reasons_next; /* protected by reasons_lock */

static void reason_put(const struct mfs_buf *key, const char *why)
{
	uint64_t h = XXH3_64bits(key->data, key->len);

	pthread_mutex_lock(&reasons_lock);
	reasons[reasons_next % REASONS].key = h;
	snprintf(reasons[reasons_next % REASONS].why, sizeof(reasons[0].why), "%s", why);
	reasons_next++;
	pthread_mutex_unlock(&reasons_lock);
}

static int reason_get(const struct mfs_buf *key, char *why, size_t len)
{
	uint64_t h = XXH3_64bits(key->data, key->len);
	int found = 0;
	unsigned i;

	pthread_mutex_lock(&reasons_lock);
	for (i = 0; i < REASONS; i++)
		if (reasons[i].key == h && reasons[i].why[0]) {
			snprintf(why, len, "%s", reasons[i].why);
			found = 1;
		}
	pthread_mutex_unlock(&reasons_lock);
	return found;
}

/* ---- the bronze object as a source ---- */

struct bronze_source {
	struct mfs_source src;
	struct mfs_bronze_reader *r;
	uint64_t off;
};

static ssize_t bronze_source_read(struct mfs_source *s, void *buf, size_t len)
{
	struct bronze_source *b = (struct bronze_source *)s;
	ssize_t n = mfs_bronze_read(b->r, buf, len, b->off);

	if (n > 0)
		b->off += (uint64_t)n;
	return n == -ESTALE ? -EIO : n;
}

/* ---- the cache sink ---- */

struct cache_sink {
	struct mfs_sink sink;
	struct mfs_cache_writer *w;
	uint64_t bytes;
};

static int cache_sink_write(struct mfs_sink *s, const void *buf, size_t len)
{
	struct cache_sink *c = (struct cache_sink *)s;
	int r = mfs_cache_write(c->w, buf, len);

	if (!r)
		c->bytes += len;
	return r;
}

/* ---- meta blob: "name value" lines ---- */

static int meta_encode(const struct mfs_silver_meta *m, struct mfs_buf *b)
{
	return mfs_buf_appendf(b,
			       "v 1\nsize %" PRIu64 "\nrows_in %" PRIu64 "\nrows_out %" PRIu64
			       "\nrejected %" PRIu64 "\nduplicates %" PRIu64 "\nwarnings %" PRIu64
			       "\nfingerprint %s\nschema %s\n",
			       m->size, m->rows_in, m->rows_out, m->rejected, m->duplicates,
			       m->warnings, m->fingerprint, m->schema ? m->schema : "[]");
}

static int meta_decode(const char *blob, size_t len, struct mfs_silver_meta *m)
{
	const char *p = blob, *end = blob + len;

	memset(m, 0, sizeof(*m));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *sp = memchr(p, ' ', (size_t)((nl ? nl : end) - p));
		size_t vlen;
		char name[32];

		if (!nl || !sp || (size_t)(sp - p) >= sizeof(name))
			return -EBADMSG;
		memcpy(name, p, (size_t)(sp - p));
		name[sp - p] = '\0';
		vlen = (size_t)(nl - sp - 1);
		if (strcmp(name, "schema") == 0) {
			free(m->schema);
			m->schema = strndup(sp + 1, vlen);
			if (!m->schema)
				return -ENOMEM;
		} else if (strcmp(name, "fingerprint") == 0) {
			snprintf(m->fingerprint, sizeof(m->fingerprint), "%.*s", (int)vlen, sp + 1);
		} else {
			uint64_t v = strtoull(sp + 1, NULL, 10);

			if (strcmp(name, "size") == 0)
				m->size = v;
			else if (strcmp(name, "rows_in") == 0)
				m->rows_in = v;
			else if (strcmp(name, "rows_out") == 0)
				m->rows_out = v;
			else if (strcmp(name, "rejected") == 0)
				m->rejected = v;
			else if (strcmp(name, "duplicates") == 0)
				m->duplicates = v;
			else if (strcmp(name, "warnings") == 0)
				m->warnings = v;
		}
		p = nl + 1;
	}
	return 0;
}

/* ---- producers ---- */

struct produce_ctx {
	const struct mfs_silver_source *src;
	const struct mfs_buf *key; /* the silver entry's cache key */
	char fp[33];
	char *why;
	size_t whylen;
	struct mfs_silver_meta meta;
};

struct copy_ctx {
	int fd;
};

static int produce_copy(void *arg, struct mfs_cache_writer *w)
{
	struct copy_ctx *c = arg;
	char buf[1 << 16];
	ssize_t n;

	if (lseek(c->fd, 0, SEEK_SET) < 0)
		return -errno;
	while ((n = read(c->fd, buf, sizeof(buf))) != 0) {
		int r;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		r = mfs_cache_write(w, buf, (size_t)n);
		if (r)
			return r;
	}
	return 0;
}

static int produce_silver(void *arg, struct mfs_cache_writer *w)
{
	struct produce_ctx *ctx = arg;
	const struct mfs_silver_source *src = ctx->src;
	const struct mfs_dataset *ds = mfs_pipeline_dataset_for(src->pipeline, src->key);
	struct bronze_source bs = { { bronze_source_read, NULL, 0 }, NULL, 0 };
	struct cache_sink out = { { cache_sink_write, 0 }, w, 0 };
	struct mfs_sink_fd rej;
	struct mfs_silver_input in;
	struct mfs_silver_result res;
	struct mfs_buf meta = MFS_BUF_INIT, rkey = MFS_BUF_INIT;
	struct mfs_cache_entry *re = NULL;
	struct copy_ctx copy;
	char tmpl[4096];
	char **hn = NULL, **hv = NULL;
	size_t nh = 0;
	int fd = -1, err;

	memset(&res, 0, sizeof(res));
	memset(&in, 0, sizeof(in));
	err = mfs_naming_hive(src->key, &hn, &hv, &nh);
	if (err)
		goto out;
	in.key = src->key;
	in.format = src->tab.format;
	in.codec = src->tab.codec;
	in.hive_names = (const char *const *)hn;
	in.hive_values = (const char *const *)hv;
	in.nhive = nh;

	snprintf(tmpl, sizeof(tmpl), "%s/rejects-XXXXXX", src->tmpdir);
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(ctx->why, ctx->whylen, "temporary file in %s: %s", src->tmpdir,
			 strerror(errno));
		goto out;
	}
	unlink(tmpl);
	mfs_sink_fd_init(&rej, fd);

	err = mfs_bronze_reader_new(src->store, src->io_pool, src->key, src->etag, src->size,
				    src->max_prefetch, &bs.r);
	if (err)
		goto out;
	mfs_clear_error();
	err = mfs_silver_run(src->pipeline, ds, &in, &bs.src, &out.sink, &rej.sink, src->tmpdir,
			     &res);
	if (err) {
		if (res.reason[0])
			snprintf(ctx->why, ctx->whylen, "%s", res.reason);
		else if (mfs_last_error()[0])
			snprintf(ctx->why, ctx->whylen, "%s", mfs_last_error());
		else
			snprintf(ctx->why, ctx->whylen, "transform failed: %s", strerror(-err));
		goto out;
	}
	ctx->meta.size = out.bytes;
	ctx->meta.rows_in = res.rows_in;
	ctx->meta.rows_out = res.rows_out;
	ctx->meta.rejected = res.rows_rejected;
	ctx->meta.duplicates = res.duplicates_removed;
	ctx->meta.warnings = res.warnings;
	memcpy(ctx->meta.fingerprint, ctx->fp, sizeof(ctx->fp));
	ctx->meta.schema = res.schema_json;
	res.schema_json = NULL;
	err = meta_encode(&ctx->meta, &meta);
	if (!err)
		err = mfs_cache_set_meta(w, meta.data, meta.len);
	if (err)
		goto out;

	/* The rejects first: once the table is complete, its rejects exist. */
	copy.fd = fd;
	err = cache_key(&rkey, "rejects", src, ctx->fp);
	if (!err)
		err = mfs_cache_get(src->cache, rkey.data, rkey.len, produce_copy, &copy, &re, NULL);
	if (re)
		mfs_cache_entry_put(re);
out:
	/* Before the cache wakes the waiters: they read the reason from here. */
	if (err && ctx->why[0])
		reason_put(ctx->key, ctx->why);
	mfs_bronze_reader_free(bs.r);
	if (fd >= 0)
		close(fd);
	mfs_naming_hive_free(hn, hv, nh);
	mfs_silver_result_free(&res);
	mfs_buf_free(&meta);
	mfs_buf_free(&rkey);
	return err;
}

/* ---- published results (-o publish) ---- */

struct fetch_ctx {
	const struct mfs_silver_source *src;
	const struct mfs_publish_record *rec;
	int rejects;
};

static int fetch_sink(void *arg, const void *data, size_t len)
{
	return mfs_cache_write(arg, data, len);
}

static int produce_published(void *arg, struct mfs_cache_writer *w)
{
	struct fetch_ctx *f = arg;
	struct mfs_silver_meta m;
	struct mfs_buf blob = MFS_BUF_INIT;
	int err;

	err = mfs_publish_read(f->src->publish, f->src->publish_path, f->rejects, f->rec,
			       fetch_sink, w);
	if (err || f->rejects)
		return err;
	memset(&m, 0, sizeof(m));
	m.size = f->rec->size;
	m.rows_in = f->rec->rows_in;
	m.rows_out = f->rec->rows_out;
	m.rejected = f->rec->rejected;
	m.duplicates = f->rec->duplicates;
	m.warnings = f->rec->warnings;
	memcpy(m.fingerprint, f->rec->fingerprint, sizeof(m.fingerprint));
	m.schema = f->rec->schema;
	err = meta_encode(&m, &blob);
	if (!err)
		err = mfs_cache_set_meta(w, blob.data, blob.len);
	mfs_buf_free(&blob);
	return err;
}

/*
 * A cache miss with -o publish: the result another mount published, when
 * its lineage is this very object version and transform. 0 with *@entry, or
 * -ENOENT (compute it here).
 */
static int fetch_published(const struct mfs_silver_source *src, const char *fp,
			   const struct mfs_buf *key, struct mfs_cache_entry **entry)
{
	struct mfs_publish_record rec;
	struct mfs_cache_entry *re = NULL;
	struct mfs_buf rkey = MFS_BUF_INIT;
	struct fetch_ctx f = { src, &rec, 1 };
	char hash[33];
	int err, fetched = 0;

	if (!src->publish || !src->publish_path)
		return -ENOENT;
	/* Cached already: mfs_cache_get() finds it again (and counts it as a hit). */
	err = mfs_cache_lookup(src->cache, key->data, key->len, entry);
	if (err != -ENOENT) {
		mfs_cache_entry_put(*entry);
		*entry = NULL;
		return -ENOENT;
	}
	mfs_publish_silver_hash(src->key, src->etag, fp, hash);
	err = mfs_publish_lookup(src->publish, src->publish_path, hash, &rec);
	if (err)
		return -ENOENT;
	/* The rejects first, as a transform stores them: a table never lacks its rejects. */
	err = cache_key(&rkey, "rejects", src, fp);
	if (!err)
		err = mfs_cache_get(src->cache, rkey.data, rkey.len, produce_published, &f, &re,
				    NULL);
	f.rejects = 0;
	if (!err)
		err = mfs_cache_get(src->cache, key->data, key->len, produce_published, &f, entry,
				    &fetched);
	if (err)
		mfs_debug("publish: %s: using the published result failed (%s): computing it",
			  src->publish_path, strerror(-err));
	else if (fetched)
		mfs_publish_count_hit(src->publish); /* once, not for every waiter */
	mfs_cache_entry_put(re);
	mfs_publish_record_free(&rec);
	mfs_buf_free(&rkey);
	return err ? -ENOENT : 0;
}

/* -o publish: a silver file computed here goes to the bucket too, with its rejects. */
static void publish_silver(const struct mfs_silver_source *src, const struct mfs_silver_meta *meta,
			   struct mfs_cache_entry *table)
{
	struct mfs_publish_record rec;
	struct mfs_buf lineage = MFS_BUF_INIT;
	struct mfs_cache_entry *rejects = NULL;
	const char *key = src->key, *etag = src->etag, *path = src->publish_path;

	memset(&rec, 0, sizeof(rec));
	mfs_publish_silver_hash(key, etag, meta->fingerprint, rec.hash);
	rec.size = meta->size;
	rec.rows_in = meta->rows_in;
	rec.rows_out = meta->rows_out;
	rec.rejected = meta->rejected;
	rec.duplicates = meta->duplicates;
	rec.warnings = meta->warnings;
	snprintf(rec.fingerprint, sizeof(rec.fingerprint), "%s", meta->fingerprint);
	rec.schema = meta->schema;
	if (!mfs_buf_appendf(&lineage, "{\"key\": ") && !mfs_buf_append_json(&lineage, key) &&
	    !mfs_buf_appendf(&lineage, ", \"etag\": \"%s\"}", etag))
		rec.lineage = lineage.data;
	(void)mfs_materialize_rejects(src, &rejects);
	if (mfs_publish_submit(src->publish, src->cache, path, table, rejects, &rec))
		mfs_warn("publish %s: cannot queue the job", path);
	mfs_cache_entry_put(rejects);
	mfs_buf_free(&lineage);
}

int mfs_materialize_silver(const struct mfs_silver_source *src, struct mfs_cache_entry **entry,
			   struct mfs_silver_meta *meta, int *produced, char *why, size_t whylen)
{
	struct produce_ctx ctx;
	struct mfs_buf key = MFS_BUF_INIT;
	const void *blob;
	size_t blen;
	int err = 0, from_publish;

	memset(&ctx, 0, sizeof(ctx));
	ctx.src = src;
	ctx.why = why;
	ctx.whylen = whylen;
	why[0] = '\0';
	*entry = NULL;
	*produced = 0;
	mfs_silver_fingerprint(src->pipeline, src->key, &src->tab, ctx.fp);
	err = cache_key(&key, "silver", src, ctx.fp);
	if (err)
		goto out;
	ctx.key = &key;
	from_publish = fetch_published(src, ctx.fp, &key, entry) == 0;
	if (!from_publish)
		err = mfs_cache_get(src->cache, key.data, key.len, produce_silver, &ctx, entry,
				    produced);
	if (err) {
		if (!why[0] && !reason_get(&key, why, whylen))
			snprintf(why, whylen, "%s", mfs_last_error()[0] ? mfs_last_error()
								 : strerror(-err));
		goto out;
	}
	blob = mfs_cache_entry_meta(*entry, &blen);
	err = meta_decode(blob, blen, meta);
	meta->from_publish = from_publish;
	if (err) {
		snprintf(why, whylen, "cache entry metadata is damaged");
		mfs_cache_entry_put(*entry);
		*entry = NULL;
		mfs_cache_invalidate(src->cache, key.data, key.len);
	} else if (*produced && src->publish && src->publish_path) {
		publish_silver(src, meta, *entry);
	}
out:
	mfs_silver_meta_free(&ctx.meta);
	mfs_buf_free(&key);
	return err;
}

int mfs_materialize_rejects(const struct mfs_silver_source *src, struct mfs_cache_entry **entry)
{
	struct mfs_buf key = MFS_BUF_INIT;
	char fp[33];
	int err;

	mfs_silver_fingerprint(src->pipeline, src->key, &src->tab, fp);
	err = cache_key(&key, "rejects", src, fp);
	if (!err)
		err = mfs_cache_lookup(src->cache, key.data, key.len, entry);
	mfs_buf_free(&key);
	return err;
}

void mfs_materialize_forget(const struct mfs_silver_source *src)
{
	static const char *const kinds[] = { "silver", "rejects" };
	char fp[33];
	size_t i;

	mfs_silver_fingerprint(src->pipeline, src->key, &src->tab, fp);
	for (i = 0; i < 2; i++) {
		struct mfs_buf key = MFS_BUF_INIT;

		if (!cache_key(&key, kinds[i], src, fp))
			(void)mfs_cache_invalidate(src->cache, key.data, key.len);
		mfs_buf_free(&key);
	}
}
