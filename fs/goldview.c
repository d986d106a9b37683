/*
 * goldview.c - gold views over silver datasets, computed incrementally.
 *
 * A view's inputs are the silver files of its datasets (every tabular object
 * under the dataset's prefix, recursively). Each FROM file contributes a
 * partial result, cached under the file's key, ETag and silver fingerprint
 * plus everything else the partial depends on (the view's SQL, the combined
 * schemas, the JOINed dimensions' versions): when one of N objects changes,
 * only its partial is computed again and the view is merged from the
 * cached rest. A changed dimension changes every partial's key, so a join
 * whose dimension changed is recomputed in full — correctness first.
 */
#include "goldview.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>
#include <yajl/yajl_tree.h>

#include "../transforms/expr_i.h"
#include "../transforms/gold.h"
#include "../util/buf.h"
#include "../util/err.h"
#include "../util/log.h"
#include "materialize.h"
#include "naming.h"

#define EACH_THREADS 8 /* at most, and no more than the cores */

struct input {
	char *key;
	char etag[80];
	uint64_t size;
	struct timespec mtime;
	struct mfs_tabular tab;
	char *publish_path;            /* "silver/…" (-o publish), else NULL */
	struct mfs_cache_entry *entry; /* its silver file */
	struct mfs_silver_meta meta;
	struct mfs_gold_column *cols;  /* its own schema */
	size_t ncols;
};

struct dataset {
	const char *name;
	char *prefix;
	struct input *in;
	size_t n, cap;
	struct mfs_gold_column *cols;  /* combined */
	size_t ncols;
};

void mfs_goldview_result_free(struct mfs_goldview_result *r)
{
	if (r->entry)
		mfs_cache_entry_put(r->entry);
	free(r->schema);
	free(r->lineage);
	memset(r, 0, sizeof(*r));
}

static void hash_hex(const void *data, size_t len, char out[33])
{
	XXH128_hash_t h = XXH3_128bits(data, len);

	snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, (uint64_t)h.high64, (uint64_t)h.low64);
}

/* ---- work on every core ---- */

/*
 * fn(arg, i, why, whylen) for every i < n, on as many threads as there are
 * cores (the caller is one of them; no pool, so a view computed on a pool
 * thread never waits for its own pool). Returns the error of the lowest i
 * that failed, with its reason in @why; after a failure no higher i starts.
 */
typedef int (*each_fn)(void *arg, size_t i, char *why, size_t whylen);

struct each {
	each_fn fn;
	void *arg;
	size_t n;
	atomic_size_t next;
	pthread_mutex_t lock;
	size_t err_i; /* protected by lock */
	int err;      /* protected by lock */
	char why[512];
};

static void *each_worker(void *arg)
{
	struct each *e = arg;

	for (;;) {
		size_t i = atomic_fetch_add(&e->next, 1);
		char why[512] = "";
		int err, stop;

		pthread_mutex_lock(&e->lock);
		stop = i >= e->n || (e->err && i > e->err_i);
		pthread_mutex_unlock(&e->lock);
		if (stop)
			break;
		err = e->fn(e->arg, i, why, sizeof(why));
		if (!err)
			continue;
		pthread_mutex_lock(&e->lock);
		if (!e->err || i < e->err_i) {
			e->err = err;
			e->err_i = i;
			snprintf(e->why, sizeof(e->why), "%s", why);
		}
		pthread_mutex_unlock(&e->lock);
	}
	return NULL;
}

static int for_each(size_t n, each_fn fn, void *arg, char *why, size_t whylen)
{
	struct each e = { .fn = fn, .arg = arg, .n = n };
	pthread_t thr[EACH_THREADS];
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want = cores > 1 ? (size_t)cores : 1, k, started = 0;

	if (want > EACH_THREADS)
		want = EACH_THREADS;
	if (want > n)
		want = n;
	pthread_mutex_init(&e.lock, NULL);
	for (k = 1; k < want; k++)
		if (pthread_create(&thr[started], NULL, each_worker, &e) == 0)
			started++;
	(void)each_worker(&e);
	for (k = 0; k < started; k++)
		pthread_join(thr[k], NULL);
	pthread_mutex_destroy(&e.lock);
	if (e.err)
		snprintf(why, whylen, "%s", e.why);
	return e.err;
}

/* ---- schemas ---- */

static void free_cols(struct mfs_gold_column *cols, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free((char *)cols[i].name);
	free(cols);
}

/* user.medallion.schema JSON → columns. */
static int parse_schema(const char *json, struct mfs_gold_column **out, size_t *n)
{
	const char *name_path[] = { "name", NULL }, *type_path[] = { "type", NULL };
	const char *scale_path[] = { "scale", NULL };
	char errbuf[128];
	yajl_val root = yajl_tree_parse(json ? json : "[]", errbuf, sizeof(errbuf));
	struct mfs_gold_column *cols = NULL;
	size_t i, len;
	int err = -EBADMSG;

	*out = NULL;
	*n = 0;
	if (!root || !YAJL_IS_ARRAY(root))
		goto out;
	len = root->u.array.len;
	cols = calloc(len + 1, sizeof(*cols));
	if (!cols) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < len; i++) {
		yajl_val o = root->u.array.values[i];
		yajl_val nm = yajl_tree_get(o, name_path, yajl_t_string);
		yajl_val ty = yajl_tree_get(o, type_path, yajl_t_string);
		yajl_val sc = yajl_tree_get(o, scale_path, yajl_t_number);
		const char *nms = nm ? YAJL_GET_STRING(nm) : NULL;
		const char *tys = ty ? YAJL_GET_STRING(ty) : NULL;
		struct mfs_expr_error perr;
		enum mfs_type t;
		int scale = 0;

		if (!nms || !tys)
			goto out;
		if (mfs_expr_parse_type(tys, strlen(tys), &t, &scale, &perr))
			goto out;
		if (sc && YAJL_IS_INTEGER(sc) && t == MFS_T_DECIMAL)
			scale = (int)YAJL_GET_INTEGER(sc);
		cols[i].name = strdup(nms);
		if (!cols[i].name) {
			err = -ENOMEM;
			goto out;
		}
		cols[i].type = t;
		cols[i].scale = scale;
		*n = i + 1;
	}
	*out = cols;
	cols = NULL;
	err = 0;
out:
	if (cols)
		free_cols(cols, *n);
	if (err)
		*n = 0;
	yajl_tree_free(root);
	return err;
}

/* The type a column gets when two files disagree (SPEC §5). */
static void widen(struct mfs_gold_column *a, const struct mfs_gold_column *b)
{
	enum mfs_type x = a->type, y = b->type;

	if (y == MFS_T_NULL || x == y) {
		if (x == MFS_T_DECIMAL && b->scale > a->scale)
			a->scale = b->scale;
		return;
	}
	if (x == MFS_T_NULL) {
		a->type = y;
		a->scale = b->scale;
		return;
	}
	if ((x == MFS_T_INT && y == MFS_T_DECIMAL) || (x == MFS_T_DECIMAL && y == MFS_T_INT)) {
		a->type = MFS_T_DECIMAL;
		a->scale = a->scale > b->scale ? a->scale : b->scale;
		return;
	}
	if ((x == MFS_T_INT || x == MFS_T_DECIMAL || x == MFS_T_DOUBLE) &&
	    (y == MFS_T_INT || y == MFS_T_DECIMAL || y == MFS_T_DOUBLE)) {
		a->type = MFS_T_DOUBLE;
		a->scale = 0;
		return;
	}
	if ((x == MFS_T_DATE && y == MFS_T_TIMESTAMP) || (x == MFS_T_TIMESTAMP && y == MFS_T_DATE)) {
		a->type = MFS_T_TIMESTAMP;
		return;
	}
	a->type = MFS_T_STRING;
	a->scale = 0;
}

static int combine(struct dataset *d)
{
	size_t i, j, k;

	for (i = 0; i < d->n; i++) {
		for (j = 0; j < d->in[i].ncols; j++) {
			const struct mfs_gold_column *c = &d->in[i].cols[j];

			for (k = 0; k < d->ncols; k++)
				if (strcmp(d->cols[k].name, c->name) == 0)
					break;
			if (k < d->ncols) {
				widen(&d->cols[k], c);
				continue;
			}
			if (d->ncols % 16 == 0) {
				struct mfs_gold_column *nc =
					realloc(d->cols, (d->ncols + 16) * sizeof(*nc));

				if (!nc)
					return -ENOMEM;
				d->cols = nc;
			}
			d->cols[d->ncols].name = strdup(c->name);
			if (!d->cols[d->ncols].name)
				return -ENOMEM;
			d->cols[d->ncols].type = c->type;
			d->cols[d->ncols].scale = c->scale;
			d->ncols++;
		}
	}
	return 0;
}

static int schema_text(const struct dataset *d, struct mfs_buf *b)
{
	size_t i;
	int r = 0;

	for (i = 0; i < d->ncols && !r; i++)
		r = mfs_buf_appendf(b, "%s:%d:%d,", d->cols[i].name, (int)d->cols[i].type,
				    d->cols[i].scale);
	return r ? r : mfs_buf_appendf(b, ";");
}

/* ---- inputs ---- */

static void dataset_free(struct dataset *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->in[i].key);
		free(d->in[i].publish_path);
		if (d->in[i].entry)
			mfs_cache_entry_put(d->in[i].entry);
		mfs_silver_meta_free(&d->in[i].meta);
		free_cols(d->in[i].cols, d->in[i].ncols);
	}
	free(d->in);
	free(d->prefix);
	free_cols(d->cols, d->ncols);
	memset(d, 0, sizeof(*d));
}

static char *dataset_prefix(const struct mfs_pipeline *p, const char *name)
{
	size_t i;
	char *s = NULL;

	for (i = 0; p && i < p->ndatasets; i++)
		if (strcmp(p->datasets[i].name, name) == 0)
			return strdup(p->datasets[i].prefix);
	if (asprintf(&s, "%s/", name) < 0)
		return NULL;
	return s;
}

static int add_input(struct dataset *d, const struct mfs_object *o, const struct mfs_tabular *t,
		     const char *prefix, const char *silver_name)
{
	struct input *in;

	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 16;
		struct input *ni = realloc(d->in, nc * sizeof(*ni));

		if (!ni)
			return -ENOMEM;
		d->in = ni;
		d->cap = nc;
	}
	in = &d->in[d->n];
	memset(in, 0, sizeof(*in));
	in->key = strdup(o->key);
	if (!in->key)
		return -ENOMEM;
	if (silver_name && asprintf(&in->publish_path, "silver/%s%s", prefix, silver_name) < 0) {
		in->publish_path = NULL;
		free(in->key);
		return -ENOMEM;
	}
	snprintf(in->etag, sizeof(in->etag), "%s", o->etag);
	in->size = o->size;
	in->mtime = o->mtime;
	in->tab = *t;
	d->n++;
	return 0;
}

/*
 * Every tabular object under @prefix, depth first in key order; with -o
 * publish each with its silver name (naming.c), under which another mount may
 * have published it.
 */
static int walk(const struct mfs_goldview_ctx *ctx, struct dataset *d, const char *prefix,
		int depth, char *why, size_t whylen)
{
	const char *ext = ctx->env.pipeline->format == MFS_OUT_JSONL ? ".jsonl" : ".csv";
	struct mfs_listing l = { 0 };
	struct mfs_naming_in *tab = NULL;
	size_t *from = NULL;
	char **names = NULL;
	size_t i, k = 0;
	int err;

	if (depth > 64)
		return 0;
	mfs_clear_error();
	err = mfs_store_list(ctx->env.store, prefix, &l);
	if (err) {
		snprintf(why, whylen, "listing %s: %s", prefix[0] ? prefix : "(root)",
			 mfs_last_error()[0] ? mfs_last_error() : strerror(-err));
		return err;
	}
	tab = calloc(l.n_objects + 1, sizeof(*tab));
	from = calloc(l.n_objects + 1, sizeof(*from));
	names = calloc(l.n_objects + 1, sizeof(*names));
	if (!tab || !from || !names)
		err = -ENOMEM;
	for (i = 0; i < l.n_objects && !err; i++) {
		const char *leaf = strrchr(l.objects[i].key, '/');

		leaf = leaf ? leaf + 1 : l.objects[i].key;
		if (leaf[0] &&
		    mfs_naming_classify(ctx->env.pipeline, l.objects[i].key, leaf, &tab[k].tab)) {
			tab[k].name = leaf;
			from[k++] = i;
		}
	}
	if (!err && ctx->env.publish)
		err = mfs_naming_assign(tab, k, ext, names);
	for (i = 0; i < k && !err; i++)
		err = add_input(d, &l.objects[from[i]], &tab[i].tab, prefix, names[i]);
	for (i = 0; i < l.n_prefixes && !err; i++)
		err = walk(ctx, d, l.prefixes[i], depth + 1, why, whylen);
	for (i = 0; names && i < k; i++)
		free(names[i]);
	free(names);
	free(from);
	free(tab);
	mfs_listing_free(&l);
	return err;
}

struct load_job {
	const struct mfs_goldview_ctx *ctx;
	struct dataset *d;
};

/* The silver file of input @i and its schema. */
static int load_input(void *arg, size_t i, char *why, size_t whylen)
{
	struct load_job *lj = arg;
	struct input *in = &lj->d->in[i];
	struct mfs_silver_source src;
	int produced = 0, err;

	mfs_silver_source_init(&src, &lj->ctx->env, in->key, in->etag, in->size, &in->tab);
	src.publish_path = in->publish_path;
	err = mfs_materialize_silver(&src, &in->entry, &in->meta, &produced, why, whylen);
	if (err) {
		char reason[512];

		snprintf(reason, sizeof(reason), "%s", why);
		snprintf(why, whylen, "input %s: %s", in->key, reason);
		return err;
	}
	if (produced && lj->ctx->silver_transforms)
		atomic_fetch_add(lj->ctx->silver_transforms, 1);
	err = parse_schema(in->meta.schema, &in->cols, &in->ncols);
	if (err)
		snprintf(why, whylen, "input %s: unreadable schema", in->key);
	return err;
}

/* The inputs of dataset @name: listings only, nothing computed. */
static int list_dataset(const struct mfs_goldview_ctx *ctx, struct dataset *d, const char *name,
			char *why, size_t whylen)
{
	int err;

	d->name = name;
	d->prefix = dataset_prefix(ctx->env.pipeline, name);
	if (!d->prefix)
		return -ENOMEM;
	err = walk(ctx, d, d->prefix, 0, why, whylen);
	if (!err && d->n == 0) {
		/* As DuckDB's catalog error: a view over nothing is a mistake. */
		snprintf(why, whylen, "dataset %s does not exist: no tabular objects under %s",
			 name, d->prefix[0] ? d->prefix : "the source root");
		return -ENOENT;
	}
	return err;
}

/* The silver files of listed dataset @d (on every core), and its combined schema. */
static int load_dataset(const struct mfs_goldview_ctx *ctx, struct dataset *d, char *why,
			size_t whylen)
{
	struct load_job lj = { ctx, d };
	int err = for_each(d->n, load_input, &lj, why, whylen);

	if (!err)
		err = combine(d);
	return err;
}

/* ---- cache plumbing ---- */

struct entry_source {
	struct mfs_source src;
	struct mfs_cache *cache;
	struct mfs_cache_entry *entry;
	uint64_t off;
};

static ssize_t entry_read(struct mfs_source *s, void *buf, size_t len)
{
	struct entry_source *es = (struct entry_source *)s;
	ssize_t n = mfs_cache_read(es->cache, es->entry, buf, len, es->off);

	if (n > 0)
		es->off += (uint64_t)n;
	return n;
}

static void entry_source_init(struct entry_source *es, struct mfs_cache *c,
			      struct mfs_cache_entry *e)
{
	memset(es, 0, sizeof(*es));
	es->src.read = entry_read;
	es->cache = c;
	es->entry = e;
}

struct writer_sink {
	struct mfs_sink sink;
	struct mfs_cache_writer *w;
	uint64_t bytes;
};

static int writer_write(struct mfs_sink *s, const void *buf, size_t len)
{
	struct writer_sink *ws = (struct writer_sink *)s;
	int r = mfs_cache_write(ws->w, buf, len);

	if (!r)
		ws->bytes += len;
	return r;
}

static void file_of(const struct mfs_goldview_ctx *ctx, struct input *in,
		    struct entry_source *es, struct mfs_gold_file *f)
{
	entry_source_init(es, ctx->env.cache, in->entry);
	memset(f, 0, sizeof(*f));
	f->src = &es->src;
	f->format = ctx->env.pipeline->format;
	f->schema.cols = in->cols;
	f->schema.ncols = in->ncols;
}

struct partial_job {
	const struct mfs_goldview_ctx *ctx;
	const struct mfs_gold_query *q;         /* NULL: a profile */
	const struct mfs_gold_schema *profile;  /* profile: the combined schema */
	const struct mfs_gold_dims *dims;
	struct input *in;
	char *why;
	size_t whylen;
};

static int produce_partial(void *arg, struct mfs_cache_writer *w)
{
	struct partial_job *j = arg;
	struct writer_sink ws = { { writer_write, 0 }, w, 0 };
	struct entry_source es;
	struct mfs_gold_file f;

	file_of(j->ctx, j->in, &es, &f);
	if (j->ctx->partials)
		atomic_fetch_add(j->ctx->partials, 1);
	if (j->q)
		return mfs_gold_partial(j->q, j->dims, &f, &ws.sink, j->why, j->whylen);
	return mfs_gold_profile_partial(j->profile, &f, &ws.sink, j->why, j->whylen);
}

struct finish_job {
	const struct mfs_goldview_ctx *ctx;
	const struct mfs_gold_query *q;
	const struct mfs_gold_schema *profile;
	struct mfs_cache_entry **partials;
	size_t n;
	enum mfs_out_format format;
	char *why;
	size_t whylen;
	uint64_t rows;
};

static int produce_view(void *arg, struct mfs_cache_writer *w)
{
	struct finish_job *j = arg;
	struct writer_sink ws = { { writer_write, 0 }, w, 0 };
	struct entry_source *es = calloc(j->n + 1, sizeof(*es));
	struct mfs_source **srcs = calloc(j->n + 1, sizeof(*srcs));
	char meta[64];
	size_t i;
	int err = -ENOMEM;

	if (!es || !srcs)
		goto out;
	for (i = 0; i < j->n; i++) {
		entry_source_init(&es[i], j->ctx->env.cache, j->partials[i]);
		srcs[i] = &es[i].src;
	}
	if (j->q)
		err = mfs_gold_finish(j->q, srcs, j->n, j->format, &ws.sink, &j->rows, j->why,
				      j->whylen);
	else
		err = mfs_gold_profile_finish(j->profile, srcs, j->n, j->format, &ws.sink, j->why,
					      j->whylen);
	if (!err) {
		snprintf(meta, sizeof(meta), "rows %" PRIu64 "\n", j->rows);
		err = mfs_cache_set_meta(w, meta, strlen(meta));
	}
out:
	free(es);
	free(srcs);
	return err;
}

static int lineage_json(const char *view, struct dataset *ds, size_t nds, char **out)
{
	struct mfs_buf b = MFS_BUF_INIT;
	size_t i, k;
	int r, first = 1;

	r = mfs_buf_appendf(&b, "{\"view\": \"%s\", \"inputs\": [", view);
	for (k = 0; k < nds && !r; k++)
		for (i = 0; i < ds[k].n && !r; i++) {
			r = mfs_buf_appendf(&b, "%s\n  {\"dataset\": \"%s\", \"key\": ", first ? "" : ",",
					    ds[k].name);
			/* keys may hold any character: escape what JSON needs */
			if (!r)
				r = mfs_buf_append_json(&b, ds[k].in[i].key);
			if (!r)
				r = mfs_buf_appendf(&b, ", \"etag\": \"%s\"}", ds[k].in[i].etag);
			first = 0;
		}
	if (!r)
		r = mfs_buf_appendf(&b, "\n]}\n");
	if (r) {
		mfs_buf_free(&b);
		return r;
	}
	*out = b.data;
	return 0;
}

struct parts_job {
	const struct mfs_goldview_ctx *ctx;
	const struct mfs_gold_query *q;
	const struct mfs_gold_schema *profile;
	const struct mfs_gold_dims *dims;
	struct dataset *from;
	struct mfs_buf *pkeys;
	struct mfs_cache_entry **parts;
};

/* The partial of FROM file @i, from the cache or computed. */
static int make_partial(void *arg, size_t i, char *why, size_t whylen)
{
	struct parts_job *p = arg;
	struct partial_job pj = { p->ctx, p->q, p->profile, p->dims, &p->from->in[i], why, whylen };
	int err = mfs_cache_get(p->ctx->env.cache, p->pkeys[i].data, p->pkeys[i].len,
				produce_partial, &pj, &p->parts[i], NULL);

	if (err && !why[0])
		snprintf(why, whylen, "partial result of %s: %s", p->from->in[i].key, strerror(-err));
	return err;
}

/*
 * Partials of every FROM file (cached), then the view (cached). @key_base
 * holds what every partial key shares.
 */
static int run(const struct mfs_goldview_ctx *ctx, const struct mfs_gold_query *q,
	       const struct mfs_gold_schema *profile, const struct mfs_gold_dims *dims,
	       struct dataset *from, const char *kind, const struct mfs_buf *key_base,
	       enum mfs_out_format format, struct mfs_goldview_result *res, char *why,
	       size_t whylen)
{
	struct mfs_cache_entry **parts = calloc(from->n + 1, sizeof(*parts));
	struct mfs_buf all = MFS_BUF_INIT, vkey = MFS_BUF_INIT, *pkeys = NULL;
	struct finish_job fj;
	size_t i;
	int err = -ENOMEM;

	if (!parts)
		goto out;
	pkeys = calloc(from->n + 1, sizeof(*pkeys));
	if (!pkeys)
		goto out;
	for (i = 0; i < from->n; i++) {
		struct mfs_buf pkey = MFS_BUF_INIT;

		err = mfs_buf_appendf(&pkey, "%s-partial", kind);
		if (!err)
			err = mfs_buf_append(&pkey, "", 1);
		if (!err)
			err = mfs_buf_append(&pkey, key_base->data, key_base->len);
		if (!err)
			err = mfs_buf_appendf(&pkey, "%s", from->in[i].key);
		if (!err)
			err = mfs_buf_append(&pkey, "", 1);
		if (!err)
			err = mfs_buf_appendf(&pkey, "%s:%s", from->in[i].etag,
					      from->in[i].meta.fingerprint);
		if (!err)
			err = mfs_buf_append(&all, pkey.data, pkey.len + 1);
		pkeys[i] = pkey;
		if (err)
			goto out;
	}
	{
		struct parts_job pj = { ctx, q, profile, dims, from, pkeys, parts };

		err = for_each(from->n, make_partial, &pj, why, whylen);
		if (err)
			goto out;
	}
	{
		char h[33];

		hash_hex(all.data ? all.data : "", all.len, h);
		err = mfs_buf_appendf(&vkey, "%s", kind);
		if (!err)
			err = mfs_buf_append(&vkey, "", 1);
		if (!err)
			err = mfs_buf_append(&vkey, key_base->data, key_base->len);
		if (!err)
			err = mfs_buf_appendf(&vkey, "%s:%d", h, (int)format);
		if (err)
			goto out;
	}
	memset(&fj, 0, sizeof(fj));
	fj.ctx = ctx;
	fj.q = q;
	fj.profile = profile;
	fj.partials = parts;
	fj.n = from->n;
	fj.format = format;
	fj.why = why;
	fj.whylen = whylen;
	err = mfs_cache_get(ctx->env.cache, vkey.data, vkey.len, produce_view, &fj, &res->entry,
			    &res->computed);
	if (!err) {
		size_t mlen;
		const char *meta = mfs_cache_entry_meta(res->entry, &mlen);

		if (meta && mlen > 5 && strncmp(meta, "rows ", 5) == 0)
			res->rows = strtoull(meta + 5, NULL, 10);
	} else if (!why[0]) {
		snprintf(why, whylen, "computing the view: %s", strerror(-err));
	}
out:
	for (i = 0; parts && i < from->n; i++)
		if (parts[i])
			mfs_cache_entry_put(parts[i]);
	for (i = 0; pkeys && i < from->n; i++)
		mfs_buf_free(&pkeys[i]);
	free(pkeys);
	free(parts);
	mfs_buf_free(&all);
	mfs_buf_free(&vkey);
	return err;
}

static void newest(struct dataset *ds, size_t nds, struct mfs_goldview_result *res)
{
	size_t i, k;

	for (k = 0; k < nds; k++) {
		res->nsources += ds[k].n;
		for (i = 0; i < ds[k].n; i++) {
			const struct timespec *t = &ds[k].in[i].mtime;

			if (t->tv_sec > res->mtime.tv_sec ||
			    (t->tv_sec == res->mtime.tv_sec && t->tv_nsec > res->mtime.tv_nsec))
				res->mtime = *t;
		}
	}
}

/* ---- published views (-o publish) ---- */

/*
 * The lineage hash of a view: its definition and every input version with
 * the transform of its silver file, known from listings alone.
 */
static int gold_hash(const struct mfs_goldview_ctx *ctx, const char *what, struct dataset *ds,
		     size_t nds, char out[33])
{
	struct mfs_buf b = MFS_BUF_INIT;
	size_t i, k;
	int r;

	r = mfs_buf_appendf(&b, "medallionfs gold v%d\n%s\n%d\n", MFS_GOLD_FORMAT_VERSION, what,
			    (int)ctx->env.pipeline->format);
	for (k = 0; k < nds && !r; k++)
		for (i = 0; i < ds[k].n && !r; i++) {
			char fp[33];

			mfs_silver_fingerprint(ctx->env.pipeline, ds[k].in[i].key, &ds[k].in[i].tab,
					       fp);
			r = mfs_buf_appendf(&b, "%s", ds[k].name);
			if (!r)
				r = mfs_buf_append(&b, "", 1);
			if (!r)
				r = mfs_buf_appendf(&b, "%s", ds[k].in[i].key);
			if (!r)
				r = mfs_buf_append(&b, "", 1);
			if (!r)
				r = mfs_buf_appendf(&b, "%s:%s\n", ds[k].in[i].etag, fp);
		}
	if (!r)
		hash_hex(b.data, b.len, out);
	mfs_buf_free(&b);
	return r;
}

struct fetch_view {
	const struct mfs_goldview_ctx *ctx;
	const char *path;
	const struct mfs_publish_record *rec;
};

static int fetch_view_sink(void *arg, const void *data, size_t len)
{
	return mfs_cache_write(arg, data, len);
}

/* The published view into the cache, its sidecar as the entry's metadata. */
static int produce_fetched_view(void *arg, struct mfs_cache_writer *w)
{
	struct fetch_view *f = arg;
	int err = mfs_publish_read(f->ctx->env.publish, f->path, 0, f->rec, fetch_view_sink, w);

	if (!err)
		err = mfs_cache_set_meta(w, f->rec->sidecar, strlen(f->rec->sidecar) + 1);
	return err;
}

/*
 * With -o publish: the view another mount published from the same inputs
 * (@res filled, res->from_publish set), or -ENOENT: compute it here.
 */
static int fetch_published_view(const struct mfs_goldview_ctx *ctx, const char *path,
				const char *hash, struct mfs_goldview_result *res)
{
	struct mfs_publish_record rec;
	struct mfs_buf key = MFS_BUF_INIT;
	struct fetch_view f = { ctx, path, &rec };
	const char *meta;
	size_t mlen;
	int err, fetched = 0;

	memset(&rec, 0, sizeof(rec));
	if (!ctx->env.publish)
		return -ENOENT;
	err = mfs_buf_appendf(&key, "gold-published");
	if (!err)
		err = mfs_buf_append(&key, "", 1);
	if (!err)
		err = mfs_buf_appendf(&key, "%s\n%s", path, hash);
	if (err)
		goto out;
	/* Fetched before: the sidecar is the entry's metadata, no request needed. */
	if (mfs_cache_lookup(ctx->env.cache, key.data, key.len, &res->entry) == 0) {
		meta = mfs_cache_entry_meta(res->entry, &mlen);
		err = meta && mlen && !meta[mlen - 1] ? mfs_publish_parse(meta, hash, &rec) : -ENOENT;
		if (err) {
			mfs_cache_entry_put(res->entry);
			res->entry = NULL;
		}
	} else {
		err = mfs_publish_lookup(ctx->env.publish, path, hash, &rec);
		if (!err)
			err = mfs_cache_get(ctx->env.cache, key.data, key.len, produce_fetched_view,
					    &f, &res->entry, &fetched);
	}
	if (!err) {
		res->rows = rec.rows;
		res->nsources = rec.nsources;
		res->mtime = rec.mtime;
		res->schema = rec.schema;
		res->lineage = rec.lineage;
		rec.schema = rec.lineage = NULL;
		snprintf(res->fingerprint, sizeof(res->fingerprint), "%s", rec.fingerprint);
		res->from_publish = 1;
		if (fetched)
			mfs_publish_count_hit(ctx->env.publish);
	} else if (err != -ENOENT) {
		mfs_debug("publish: %s: using the published result failed (%s): computing it",
			  path, strerror(-err));
	}
out:
	mfs_publish_record_free(&rec);
	mfs_buf_free(&key);
	return err ? -ENOENT : 0;
}

static int materialize_once(const struct mfs_goldview_ctx *ctx, const struct mfs_gold_view *view,
			    struct mfs_goldview_result *res, char *why, size_t whylen)
{
	struct mfs_gold_query *q = NULL;
	struct mfs_gold_schema *schemas = NULL;
	struct mfs_gold_dims *dims = NULL;
	struct dataset *ds = NULL;
	struct mfs_buf base = MFS_BUF_INIT;
	struct mfs_expr_error perr;
	size_t nds = 0, i, k;
	char path[600];
	int err;

	memset(res, 0, sizeof(*res));
	why[0] = '\0';
	err = mfs_gold_parse(view->sql, strlen(view->sql), &q, &perr);
	if (err) {
		snprintf(why, whylen, "%d:%d: %s", perr.line, perr.col, perr.msg);
		goto out;
	}
	nds = mfs_gold_ndatasets(q);
	ds = calloc(nds + 1, sizeof(*ds));
	schemas = calloc(nds + 1, sizeof(*schemas));
	err = -ENOMEM;
	if (!ds || !schemas)
		goto out;
	for (k = 0; k < nds; k++) {
		err = list_dataset(ctx, &ds[k], mfs_gold_dataset(q, k), why, whylen);
		if (err)
			goto out;
	}
	err = gold_hash(ctx, view->sql, ds, nds, res->lineage_hash);
	if (err)
		goto out;
	snprintf(path, sizeof(path), "gold/%s%s", view->name,
		 view->format == MFS_OUT_JSONL ? ".jsonl" : ".csv");
	if (fetch_published_view(ctx, path, res->lineage_hash, res) == 0)
		goto out;
	for (k = 0; k < nds; k++) {
		err = load_dataset(ctx, &ds[k], why, whylen);
		if (err)
			goto out;
		schemas[k].cols = ds[k].cols;
		schemas[k].ncols = ds[k].ncols;
	}
	err = mfs_gold_bind(q, schemas, &perr);
	if (err) {
		snprintf(why, whylen, "view %s: %s", view->name, perr.msg);
		goto out;
	}
	for (k = 1; k < nds; k++) {
		struct entry_source *es = calloc(ds[k].n + 1, sizeof(*es));
		struct mfs_gold_file *files = calloc(ds[k].n + 1, sizeof(*files));

		err = -ENOMEM;
		if (es && files) {
			for (i = 0; i < ds[k].n; i++)
				file_of(ctx, &ds[k].in[i], &es[i], &files[i]);
			err = mfs_gold_dims_load(q, &dims, k, files, ds[k].n, why, whylen);
		}
		free(es);
		free(files);
		if (err)
			goto out;
	}
	/* Everything a partial depends on besides its own file. */
	err = mfs_buf_appendf(&base, "v%d\n%s\n%d\n", MFS_GOLD_FORMAT_VERSION, view->sql,
			      (int)ctx->env.pipeline->format);
	for (k = 0; k < nds && !err; k++) {
		err = schema_text(&ds[k], &base);
		for (i = 0; k > 0 && i < ds[k].n && !err; i++)
			err = mfs_buf_appendf(&base, "%s=%s:%s,", ds[k].in[i].key, ds[k].in[i].etag,
					      ds[k].in[i].meta.fingerprint);
	}
	if (!err) {
		char h[33];

		hash_hex(base.data, base.len, h);
		mfs_buf_reset(&base);
		err = mfs_buf_appendf(&base, "%s", h);
		if (!err)
			err = mfs_buf_append(&base, "", 1);
		snprintf(res->fingerprint, sizeof(res->fingerprint), "%s", h);
	}
	if (err)
		goto out;
	err = run(ctx, q, NULL, dims, &ds[0], "gold", &base, view->format, res, why, whylen);
	if (err)
		goto out;
	res->schema = mfs_gold_schema_json(q);
	err = lineage_json(view->name, ds, nds, &res->lineage);
	newest(ds, nds, res);
out:
	if (err && res->entry) {
		mfs_cache_entry_put(res->entry);
		res->entry = NULL;
	}
	if (err && !why[0])
		snprintf(why, whylen, "%s", strerror(-err));
	mfs_gold_dims_free(dims);
	for (k = 0; ds && k < nds; k++)
		dataset_free(&ds[k]);
	free(ds);
	free(schemas);
	mfs_gold_free(q);
	mfs_buf_free(&base);
	return err == -ENOMEM || err == -EIO || err == -ENOSPC ? err : (err ? -EIO : 0);
}

static int profile_once(const struct mfs_goldview_ctx *ctx, const char *name,
			struct mfs_goldview_result *res, char *why, size_t whylen)
{
	struct dataset d;
	struct mfs_gold_schema schema;
	struct mfs_buf base = MFS_BUF_INIT;
	char h[33], path[600];
	int err;

	memset(res, 0, sizeof(*res));
	memset(&d, 0, sizeof(d));
	why[0] = '\0';
	err = list_dataset(ctx, &d, name, why, whylen);
	if (!err)
		err = gold_hash(ctx, "profile", &d, 1, res->lineage_hash);
	if (err)
		goto out;
	snprintf(path, sizeof(path), "gold/_profile/%s.csv", name);
	if (fetch_published_view(ctx, path, res->lineage_hash, res) == 0)
		goto out;
	err = load_dataset(ctx, &d, why, whylen);
	if (err)
		goto out;
	schema.cols = d.cols;
	schema.ncols = d.ncols;
	err = mfs_buf_appendf(&base, "profile v%d\n%s\n", MFS_GOLD_FORMAT_VERSION, name);
	if (!err)
		err = schema_text(&d, &base);
	if (err)
		goto out;
	hash_hex(base.data, base.len, h);
	mfs_buf_reset(&base);
	err = mfs_buf_appendf(&base, "%s", h);
	if (!err)
		err = mfs_buf_append(&base, "", 1);
	if (err)
		goto out;
	snprintf(res->fingerprint, sizeof(res->fingerprint), "%s", h);
	err = run(ctx, NULL, &schema, NULL, &d, "profile", &base, MFS_OUT_CSV, res, why, whylen);
	if (!err)
		err = lineage_json(name, &d, 1, &res->lineage);
	if (!err)
		newest(&d, 1, res);
out:
	if (err && res->entry) {
		mfs_cache_entry_put(res->entry);
		res->entry = NULL;
	}
	if (err && !why[0])
		snprintf(why, whylen, "%s", strerror(-err));
	dataset_free(&d);
	mfs_buf_free(&base);
	return err == -ENOMEM || err == -EIO ? err : (err ? -EIO : 0);
}

static uint64_t corrupt_chunks(const struct mfs_goldview_ctx *ctx)
{
	struct mfs_cache_stats st;

	memset(&st, 0, sizeof(st));
	if (ctx->env.cache)
		(void)mfs_cache_get_stats(ctx->env.cache, &st);
	return st.corrupt_chunks;
}

/*
 * A damaged chunk of a silver input or a partial fails the view with it; the
 * cache has dropped that entry by then, so another run computes it again and
 * the damage is never served. A run stops at the first damaged entry, so it
 * runs again as long as each run met new damage (bounded: damage that keeps
 * appearing is a disk to replace, not a view to compute).
 */
#define MAX_DAMAGE_RETRIES 64

int mfs_goldview_materialize(const struct mfs_goldview_ctx *ctx, const struct mfs_gold_view *view,
			     struct mfs_goldview_result *res, char *why, size_t whylen)
{
	uint64_t damaged = corrupt_chunks(ctx), now;
	int err = materialize_once(ctx, view, res, why, whylen), tries = 0;

	while (err && (now = corrupt_chunks(ctx)) != damaged && ++tries < MAX_DAMAGE_RETRIES) {
		damaged = now;
		err = materialize_once(ctx, view, res, why, whylen);
	}
	return err;
}

int mfs_goldview_profile(const struct mfs_goldview_ctx *ctx, const char *name, const char *prefix,
			 struct mfs_goldview_result *res, char *why, size_t whylen)
{
	uint64_t damaged = corrupt_chunks(ctx), now;
	int err = profile_once(ctx, name, res, why, whylen), tries = 0;

	(void)prefix;
	while (err && (now = corrupt_chunks(ctx)) != damaged && ++tries < MAX_DAMAGE_RETRIES) {
		damaged = now;
		err = profile_once(ctx, name, res, why, whylen);
	}
	return err;
}

int mfs_goldview_check(const struct mfs_pipeline *p, char *msg, size_t mlen)
{
	size_t v, k, i;

	for (v = 0; v < p->nviews; v++) {
		const struct mfs_gold_view *view = &p->views[v];
		struct mfs_gold_query *q = NULL;
		struct mfs_gold_schema *schemas = NULL;
		struct mfs_gold_column *cols = NULL;
		struct mfs_expr_error perr;
		size_t nds, ncols = 0;
		int err;

		memset(&perr, 0, sizeof(perr));
		err = mfs_gold_parse(view->sql, strlen(view->sql), &q, &perr);
		if (!err) {
			nds = mfs_gold_ndatasets(q);
			schemas = calloc(nds + 1, sizeof(*schemas));
			for (k = 0; k < p->ndatasets; k++)
				ncols += p->datasets[k].ncolumns;
			cols = calloc(ncols + 1, sizeof(*cols));
			err = schemas && cols ? 0 : -ENOMEM;
			ncols = 0;
			for (k = 0; k < nds && !err; k++) {
				const struct mfs_dataset *d = NULL;

				for (i = 0; i < p->ndatasets; i++)
					if (strcmp(p->datasets[i].name, mfs_gold_dataset(q, k)) == 0)
						d = &p->datasets[i];
				schemas[k].cols = cols + ncols;
				for (i = 0; d && i < d->ncolumns; i++) {
					cols[ncols].name = d->columns[i].name;
					cols[ncols].type = d->columns[i].type;
					cols[ncols].scale = d->columns[i].scale;
					ncols++;
					schemas[k].ncols++;
				}
			}
			if (!err)
				err = mfs_gold_check(q, schemas, &perr);
		}
		mfs_gold_free(q);
		free(schemas);
		free(cols);
		if (err) {
			/* The SQL's first line starts at view->col; later lines at column 1. */
			snprintf(msg, mlen, "%s:%d:%d: [gold %s] %s", p->path,
				 view->line + (perr.line > 0 ? perr.line - 1 : 0),
				 perr.line <= 1 ? view->col + (perr.col > 0 ? perr.col - 1 : 0)
						: perr.col,
				 view->name, perr.msg[0] ? perr.msg : strerror(-err));
			return -EINVAL;
		}
	}
	return 0;
}
