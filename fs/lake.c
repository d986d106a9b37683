/*
 * lake.c - the mount's FUSE-free core: the node tree (root, bronze/, silver/,
 * gold/, .medallion/), listings and attributes with metadata_ttl, open files
 * and the .medallion/ files.
 *
 * silver/ and .medallion/rejects/ list the same bronze prefixes as bronze/,
 * renamed (naming.c); their files are computed by materialize.c on the
 * transform pool and served from the cache. Listing names never transforms;
 * getattr, open and getxattr of an unmaterialised file do.
 *
 * DESIGN: lake->nodes.lock (see nodes.h) protects every node and listing
 * pointer. Network I/O (listings, HEADs, reads) always runs with no lock
 * held. A directory being listed is marked 'listing'; other threads that
 * need the same listing wait on lake->list_cond instead of listing it again.
 * When a revalidation finds a new ETag, the kernel's pages of that inode are
 * dropped from a pool thread (never inside the request that found it).
 * Lock order: nodes.lock, then a reader's own lock (bronze.c); never the
 * other way round.
 */
#include "lake.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "../util/buf.h"
#include "../util/err.h"
#include "../util/log.h"
#include "bronze.h"
#include "goldview.h"
#include "materialize.h"
#include "medallion.h"
#include "naming.h"
#include "nodes.h"
#include "pool.h"
#include "publish.h"
#include "writer.h"

#define FIXED_TTL 3600.0
#define POOL_THREADS 8
#define UPLOAD_THREADS 8
#define PUBLISH_THREADS 2
#define READ_SPLIT_THREADS 2
#define READ_SPLIT_CHUNK (256u << 10) /* the cache's chunk size */
#define NAME_MAX_BYTES 255

enum { META_ERRORS, META_SHADOWED, META_STATS, META_PIPELINE, META_COUNT };
static const char *const meta_names[META_COUNT] = { "errors", "shadowed", "stats", "pipeline" };
#define META_REJECTS_ID META_COUNT /* .medallion/rejects: a directory */

struct mfs_dirent {
	char *name;
	char *src;      /* silver: the bronze name it comes from; NULL in bronze */
	int format, codec;
	int is_dir;
	uint64_t size;
	struct timespec mtime;
	char etag[80];
	char storage_class[32];
};

struct mfs_dirlist {
	atomic_int refs;
	double fetched;
	size_t n;
	struct mfs_dirent *e; /* sorted by name (byte order) */
};

/*
 * Open handles are linked into the lake so the ones the kernel never
 * released (the session ended with files open) are freed at unmount.
 */
struct mfs_handle {
	struct mfs_handle *prev, *next; /* protected by nodes.lock */
};

struct mfs_lake {
	struct mfs_lake_config cfg;
	struct mfs_nodes nodes;
	pthread_cond_t list_cond; /* with nodes.lock: a listing finished */
	struct mfs_pool *pool;  /* network read-ahead, invalidations */
	struct mfs_pool *xpool; /* transforms */
	struct mfs_pool *upool; /* parts of bronze uploads and of published files */
	struct mfs_pool *ppool; /* publish jobs */
	struct mfs_publish *publish;
	/* Nodes that exist before the store lists them: files being written,
	 * directories made by mkdir. Each holds a reference; protected by nodes.lock. */
	struct mfs_node **overlay;
	size_t n_overlay, cap_overlay;
	struct mfs_pool *rpool; /* second halves of large reads of cached files */
	struct mfs_medallion *med;
	mfs_inval_fn inval;
	void *inval_arg;
	struct timespec started;
	atomic_int shut;
	struct mfs_handle dirs, files; /* list heads; protected by nodes.lock */

	atomic_ullong n_lists, n_heads, n_opens, n_reads, bytes_read, n_read_errors;
	atomic_ullong n_transforms, n_transform_failures, n_cache_hits, n_cache_misses;
	atomic_ullong rows_in, rows_out, rows_rejected, duplicates_removed;
	atomic_ullong gold_views, gold_partials, gold_silver_transforms;
	atomic_ullong n_deletes;
};

struct mfs_dir {
	struct mfs_handle h;      /* first member */
	struct mfs_node *node;    /* holds a reference */
	struct mfs_dirlist *list; /* bronze directories: the snapshot */
	struct mfs_node *fixed; /* fixed directories: its kids are the entries */
};

struct mfs_file {
	struct mfs_handle h;   /* first member */
	struct mfs_node *node; /* holds a reference */
	struct mfs_bronze_reader *reader;
	struct mfs_cache_entry *entry; /* silver and rejects files */
	struct mfs_buf text;   /* .medallion files: the snapshot */
	struct mfs_writer *writer; /* bronze files opened for writing */
};

/* ---- open handles ---- */

/* Lock held. */
static void handle_link(struct mfs_handle *head, struct mfs_handle *h)
{
	h->next = head->next;
	h->prev = head;
	head->next->prev = h;
	head->next = h;
}

/* Lock held. */
static void handle_unlink(struct mfs_handle *h)
{
	if (!h->next)
		return;
	h->prev->next = h->next;
	h->next->prev = h->prev;
	h->next = h->prev = NULL;
}

/* ---- listings ---- */

static void dirlist_put(struct mfs_dirlist *l)
{
	size_t i;

	if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->e[i].name);
		free(l->e[i].src);
	}
	free(l->e);
	free(l);
}

static int cmp_dirent(const void *a, const void *b)
{
	const struct mfs_dirent *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	/* A directory sorts before the object of the same name: it wins. */
	return c ? c : y->is_dir - x->is_dir;
}

static int valid_name(const char *name)
{
	return name[0] && strcmp(name, ".") && strcmp(name, "..") &&
	       strlen(name) <= NAME_MAX_BYTES && !strchr(name, '/');
}

/* Sort the @n entries of @d; a name given twice keeps the directory. */
static void dirlist_finish(struct mfs_lake *lake, const char *prefix, struct mfs_dirlist *d,
			   size_t n)
{
	size_t i, w = 0;

	qsort(d->e, n, sizeof(*d->e), cmp_dirent);
	for (i = 0; i < n; i++) {
		if (w && strcmp(d->e[w - 1].name, d->e[i].name) == 0) {
			char key[4096];

			snprintf(key, sizeof(key), "%s%s", prefix,
				 d->e[i].src ? d->e[i].src : d->e[i].name);
			mfs_medallion_shadowed(lake->med, key, "hidden by the prefix of the same name");
			free(d->e[i].name);
			free(d->e[i].src);
			continue;
		}
		d->e[w++] = d->e[i];
	}
	d->n = w;
}

/*
 * The silver view of bronze listing @b of @prefix: the same directories,
 * and one file per tabular object under its silver name (naming.c).
 */
static int silver_dirlist(struct mfs_lake *lake, const char *prefix, const struct mfs_dirlist *b,
			  struct mfs_dirlist **out)
{
	const char *ext = lake->cfg.pipeline->format == MFS_OUT_JSONL ? ".jsonl" : ".csv";
	struct mfs_naming_in *in = calloc(b->n + 1, sizeof(*in));
	size_t *from = calloc(b->n + 1, sizeof(*from));
	char **names = calloc(b->n + 1, sizeof(*names));
	struct mfs_dirlist *d = calloc(1, sizeof(*d));
	size_t i, k = 0, n = 0;
	int err = -ENOMEM;

	if (!in || !from || !names || !d)
		goto out;
	d->e = calloc(b->n + 1, sizeof(*d->e));
	if (!d->e)
		goto out;
	atomic_init(&d->refs, 1);
	d->fetched = b->fetched;
	for (i = 0; i < b->n; i++) {
		char key[4096];

		if (b->e[i].is_dir)
			continue;
		snprintf(key, sizeof(key), "%s%s", prefix, b->e[i].name);
		if (!mfs_naming_classify(lake->cfg.pipeline, key, b->e[i].name, &in[k].tab))
			continue;
		in[k].name = b->e[i].name;
		from[k++] = i;
	}
	err = mfs_naming_assign(in, k, ext, names);
	if (err)
		goto out;
	err = -ENOMEM;
	for (i = 0; i < b->n; i++) {
		if (!b->e[i].is_dir)
			continue;
		d->e[n] = b->e[i];
		d->e[n].name = strdup(b->e[i].name);
		d->e[n].src = NULL;
		if (!d->e[n].name)
			goto out;
		n++;
		d->n = n;
	}
	for (i = 0; i < k; i++) {
		if (!names[i])
			continue;
		d->e[n] = b->e[from[i]];
		d->e[n].name = names[i];
		names[i] = NULL;
		d->e[n].src = strdup(b->e[from[i]].name);
		d->e[n].format = in[i].tab.format;
		d->e[n].codec = in[i].tab.codec;
		n++;
		d->n = n;
		if (!d->e[n - 1].src)
			goto out;
	}
	dirlist_finish(lake, prefix, d, n);
	*out = d;
	d = NULL;
	err = 0;
out:
	if (names)
		for (i = 0; i < b->n; i++)
			free(names[i]);
	free(names);
	free(in);
	free(from);
	if (d) {
		if (d->e)
			dirlist_put(d);
		else
			free(d);
	}
	return err;
}

static int is_listed_dir(enum mfs_node_kind k)
{
	return k == MFS_NODE_BRONZE_DIR || k == MFS_NODE_SILVER_DIR || k == MFS_NODE_REJECTS_DIR ||
	       k == MFS_NODE_PROFILE_DIR;
}

static int is_gold_kind(enum mfs_node_kind k)
{
	return k == MFS_NODE_GOLD_FILE || k == MFS_NODE_PROFILE_FILE || k == MFS_NODE_LINEAGE_FILE;
}

static int is_file_kind(enum mfs_node_kind k)
{
	return k == MFS_NODE_BRONZE_FILE || k == MFS_NODE_SILVER_FILE ||
	       k == MFS_NODE_REJECTS_FILE || k == MFS_NODE_META_FILE || is_gold_kind(k);
}

static int is_object_file(enum mfs_node_kind k)
{
	return k == MFS_NODE_BRONZE_FILE || k == MFS_NODE_SILVER_FILE ||
	       k == MFS_NODE_REJECTS_FILE;
}

/* The kind of a child of listed directory kind @dir. */
static enum mfs_node_kind child_kind(enum mfs_node_kind dir, int is_dir)
{
	switch (dir) {
	case MFS_NODE_SILVER_DIR:
		return is_dir ? MFS_NODE_SILVER_DIR : MFS_NODE_SILVER_FILE;
	case MFS_NODE_REJECTS_DIR:
		return is_dir ? MFS_NODE_REJECTS_DIR : MFS_NODE_REJECTS_FILE;
	case MFS_NODE_PROFILE_DIR:
		return MFS_NODE_PROFILE_FILE;
	default:
		return is_dir ? MFS_NODE_BRONZE_DIR : MFS_NODE_BRONZE_FILE;
	}
}

/* gold/_profile/: one DATASET.csv per top-level prefix of the bronze root. */
static int profile_dirlist(const struct mfs_dirlist *b, struct mfs_dirlist **out)
{
	struct mfs_dirlist *d = calloc(1, sizeof(*d));
	size_t i;

	if (!d || !(d->e = calloc(b->n + 1, sizeof(*d->e)))) {
		free(d);
		return -ENOMEM;
	}
	atomic_init(&d->refs, 1);
	d->fetched = b->fetched;
	for (i = 0; i < b->n; i++) {
		struct mfs_dirent *e = &d->e[d->n];

		if (!b->e[i].is_dir)
			continue;
		if (asprintf(&e->name, "%s.csv", b->e[i].name) < 0) {
			e->name = NULL;
			dirlist_put(d);
			return -ENOMEM;
		}
		d->n++;
		e->src = strdup(b->e[i].name);
		if (!e->src) {
			dirlist_put(d);
			return -ENOMEM;
		}
	}
	*out = d;
	return 0;
}

/*
 * Turn a store listing of @prefix into sorted entries, dropping what cannot
 * be a file name and objects shadowed by a same-named prefix.
 */
static int dirlist_build(struct mfs_lake *lake, const char *prefix, struct mfs_listing *l,
			 struct mfs_dirlist **out)
{
	size_t plen = strlen(prefix), i, n = 0;
	struct mfs_dirlist *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->e = calloc(l->n_objects + l->n_prefixes + 1, sizeof(*d->e));
	if (!d->e) {
		free(d);
		return -ENOMEM;
	}
	atomic_init(&d->refs, 1);
	for (i = 0; i < l->n_prefixes; i++) {
		const char *p = l->prefixes[i];
		size_t len = strlen(p);
		char *name;

		if (len <= plen + 1 || strncmp(p, prefix, plen))
			continue;
		name = strndup(p + plen, len - plen - 1);
		if (!name)
			goto nomem;
		if (lake->cfg.publish_hidden && strcmp(prefix, lake->cfg.publish_hidden) == 0 &&
		    (strcmp(name, "silver") == 0 || strcmp(name, "gold") == 0)) {
			/* The layers this mount publishes into its own SOURCE are not raw data. */
			free(name);
			continue;
		}
		if (!valid_name(name)) {
			mfs_medallion_shadowed(lake->med, p, "prefix name cannot be a directory name");
			free(name);
			continue;
		}
		d->e[n].name = name;
		d->e[n].is_dir = 1;
		n++;
	}
	for (i = 0; i < l->n_objects; i++) {
		const struct mfs_object *o = &l->objects[i];
		const char *k = o->key;
		char *name;

		if (strncmp(k, prefix, plen) || !k[plen])
			continue; /* the "directory marker" object of the prefix itself */
		name = strdup(k + plen);
		if (!name)
			goto nomem;
		if (!valid_name(name)) {
			mfs_medallion_shadowed(lake->med, k, "key cannot be a file name");
			free(name);
			continue;
		}
		d->e[n].name = name;
		d->e[n].size = o->size;
		d->e[n].mtime = o->mtime;
		snprintf(d->e[n].etag, sizeof(d->e[n].etag), "%s", o->etag);
		snprintf(d->e[n].storage_class, sizeof(d->e[n].storage_class), "%s",
			 o->storage_class);
		n++;
	}
	dirlist_finish(lake, prefix, d, n);
	*out = d;
	return 0;
nomem:
	d->n = n;
	dirlist_put(d);
	return -ENOMEM;
}

static void inval_job(void *arg);

struct inval_req {
	struct mfs_lake *lake;
	uint64_t ino;
};

/* Lock held. The kernel's pages of @n belong to an older version. */
static void queue_inval(struct mfs_lake *lake, struct mfs_node *n)
{
	struct inval_req *q;

	if (!lake->inval || !lake->pool || atomic_load(&lake->shut))
		return;
	q = malloc(sizeof(*q));
	if (!q)
		return;
	q->lake = lake;
	q->ino = n->ino;
	if (mfs_pool_submit(lake->pool, inval_job, q))
		free(q);
}

static void inval_job(void *arg)
{
	struct inval_req *q = arg;

	q->lake->inval(q->lake->inval_arg, q->ino);
	free(q);
}

/* Lock held. Publish fresh attributes of a file node. */
static void file_update(struct mfs_lake *lake, struct mfs_node *n, uint64_t size,
			struct timespec mtime, const char *etag, const char *sclass, double when)
{
	if (n->etag[0] && strcmp(n->etag, etag)) {
		mfs_debug("%s changed: ETag %s -> %s", n->key, n->etag, etag);
		queue_inval(lake, n);
	}
	n->size = size;
	n->mtime = mtime;
	snprintf(n->etag, sizeof(n->etag), "%s", etag);
	snprintf(n->storage_class, sizeof(n->storage_class), "%s", sclass);
	n->attr_time = when;
}

/* A transform that failed: in .medallion/errors and the log, unless the
 * mount is going away and cut it short (then it is no failure of the file). */
static void note_failure(struct mfs_lake *lake, const char *path, const char *why)
{
	if (atomic_load(&lake->shut))
		mfs_debug("%s: stopped by the unmount: %s", path, why);
	else
		mfs_medallion_error(lake->med, path, why);
}

static void record_error(struct mfs_lake *lake, const char *layer, const char *key, int err)
{
	char path[4200];
	const char *why = mfs_last_error();

	snprintf(path, sizeof(path), "%s/%s", layer, key);
	mfs_medallion_error(lake->med, path, why[0] ? why : strerror(-err));
}

/*
 * The listing of directory node @n, fresh within metadata_ttl; one
 * reference for the caller. Lock held on entry and exit (dropped while
 * listing).
 */
static int dir_listing(struct mfs_lake *lake, struct mfs_node *n, struct mfs_dirlist **out)
{
	struct mfs_listing l = { 0 };
	struct mfs_dirlist *d = NULL;
	char *key;
	double now;
	int err;

	for (;;) {
		now = mfs_now();
		if (n->list && now - n->list->fetched < lake->cfg.metadata_ttl) {
			atomic_fetch_add(&n->list->refs, 1);
			*out = n->list;
			return 0;
		}
		if (!n->listing)
			break;
		pthread_cond_wait(&lake->list_cond, &lake->nodes.lock);
	}
	key = strdup(n->key);
	if (!key)
		return -ENOMEM;
	n->listing = 1;
	n->refs++; /* keep it while unlocked */
	pthread_mutex_unlock(&lake->nodes.lock);

	atomic_fetch_add(&lake->n_lists, 1);
	mfs_clear_error();
	err = mfs_store_list(lake->cfg.store, key, &l);
	if (err)
		record_error(lake, "bronze", key[0] ? key : "(root)", err);
	else
		err = dirlist_build(lake, key, &l, &d);
	mfs_listing_free(&l);
	if (!err && n->kind != MFS_NODE_BRONZE_DIR) {
		struct mfs_dirlist *b = d;

		b->fetched = now;
		d = NULL;
		if (n->kind == MFS_NODE_PROFILE_DIR)
			err = profile_dirlist(b, &d);
		else
			err = silver_dirlist(lake, key, b, &d);
		dirlist_put(b);
	}

	pthread_mutex_lock(&lake->nodes.lock);
	n->listing = 0;
	pthread_cond_broadcast(&lake->list_cond);
	if (!err) {
		size_t i;

		d->fetched = now;
		/* Children the kernel knows learn their new size and ETag now. */
		for (i = 0; i < d->n; i++) {
			struct mfs_node *c = mfs_nodes_child(&lake->nodes, n, d->e[i].name);

			if (c && is_object_file(c->kind) && !d->e[i].is_dir)
				file_update(lake, c, d->e[i].size, d->e[i].mtime, d->e[i].etag,
					    d->e[i].storage_class, now);
		}
		if (n->list)
			dirlist_put(n->list);
		n->list = d;
		atomic_fetch_add(&d->refs, 1);
		*out = d;
	}
	mfs_nodes_unref(&lake->nodes, n);
	free(key);
	return err;
}

static const struct mfs_dirent *dirlist_find(const struct mfs_dirlist *d, const char *name)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(d->e[mid].name, name);

		if (c == 0)
			return &d->e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- the overlay: what exists before the store lists it ---- */

/* Lock held. */
static int overlay_add(struct mfs_lake *lake, struct mfs_node *n)
{
	if (n->overlay)
		return 0;
	if (lake->n_overlay == lake->cap_overlay) {
		size_t cap = lake->cap_overlay ? lake->cap_overlay * 2 : 16;
		struct mfs_node **v = realloc(lake->overlay, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		lake->overlay = v;
		lake->cap_overlay = cap;
	}
	lake->overlay[lake->n_overlay++] = n;
	n->overlay = 1;
	n->refs++;
	return 0;
}

/* Lock held. */
static void overlay_del(struct mfs_lake *lake, struct mfs_node *n)
{
	size_t i;

	if (!n->overlay)
		return;
	for (i = 0; i < lake->n_overlay; i++) {
		if (lake->overlay[i] == n) {
			lake->overlay[i] = lake->overlay[--lake->n_overlay];
			break;
		}
	}
	n->overlay = 0;
	mfs_nodes_unref(&lake->nodes, n);
}

/* Lock held. Does @p have an overlay child? */
static int overlay_has_child(struct mfs_lake *lake, struct mfs_node *p)
{
	size_t i;

	for (i = 0; i < lake->n_overlay; i++)
		if (lake->overlay[i]->parent == p && !lake->overlay[i]->detached)
			return 1;
	return 0;
}

/*
 * Lock held. The listing of bronze directory @n plus the directories made
 * in it that the store does not show yet: *@list is replaced by a copy with
 * them added (files being written appear once they are committed).
 */
static int overlay_merge(struct mfs_lake *lake, struct mfs_node *n, struct mfs_dirlist **list)
{
	struct mfs_dirlist *old = *list, *d;
	size_t i, extra = 0, k;

	for (i = 0; i < lake->n_overlay; i++) {
		struct mfs_node *c = lake->overlay[i];

		if (c->parent == n && !c->detached && c->kind == MFS_NODE_BRONZE_DIR &&
		    !dirlist_find(old, c->name))
			extra++;
	}
	if (!extra)
		return 0;
	d = calloc(1, sizeof(*d));
	if (!d || !(d->e = calloc(old->n + extra, sizeof(*d->e)))) {
		free(d);
		return -ENOMEM;
	}
	atomic_init(&d->refs, 1);
	d->fetched = old->fetched;
	for (k = 0; k < old->n; k++) {
		d->e[k] = old->e[k];
		d->e[k].name = strdup(old->e[k].name);
		d->e[k].src = old->e[k].src ? strdup(old->e[k].src) : NULL;
		d->n = k + 1;
		if (!d->e[k].name || (old->e[k].src && !d->e[k].src))
			goto nomem;
	}
	for (i = 0; i < lake->n_overlay; i++) {
		struct mfs_node *c = lake->overlay[i];

		if (c->parent != n || c->detached || c->kind != MFS_NODE_BRONZE_DIR ||
		    dirlist_find(old, c->name))
			continue;
		memset(&d->e[d->n], 0, sizeof(d->e[0]));
		d->e[d->n].is_dir = 1;
		d->e[d->n].name = strdup(c->name);
		d->n++;
		if (!d->e[d->n - 1].name)
			goto nomem;
	}
	qsort(d->e, d->n, sizeof(*d->e), cmp_dirent);
	dirlist_put(old);
	*list = d;
	return 0;
nomem:
	dirlist_put(d);
	return -ENOMEM;
}

/*
 * Lock held. Forget the listings of bronze prefix @prefix ("" or ending in
 * '/') and of every prefix above it, in every tree that shows them — bronze/, silver/, .medallion/rejects/
 * and, for the root, gold/_profile/ — so the next look asks the store.
 */
static void invalidate_listings(struct mfs_lake *lake, const char *prefix)
{
	struct mfs_node *root = mfs_nodes_get(&lake->nodes, 1), *meta, *gold;
	struct mfs_node *tops[4];
	size_t i, n = 0;

	tops[n++] = mfs_nodes_child(&lake->nodes, root, "bronze");
	tops[n++] = mfs_nodes_child(&lake->nodes, root, "silver");
	meta = mfs_nodes_child(&lake->nodes, root, ".medallion");
	tops[n++] = meta ? mfs_nodes_child(&lake->nodes, meta, "rejects") : NULL;
	gold = mfs_nodes_child(&lake->nodes, root, "gold");
	tops[n++] = gold && !*prefix ? mfs_nodes_child(&lake->nodes, gold, "_profile") : NULL;
	for (i = 0; i < n; i++) {
		struct mfs_node *d = tops[i];
		const char *p = prefix, *slash;
		char name[NAME_MAX_BYTES + 1];

		/* Every directory on the way: a new prefix shows in its parent's listing too. */
		for (;;) {
			if (d && d->list) {
				dirlist_put(d->list);
				d->list = NULL;
			}
			if (!d || !*p || !(slash = strchr(p, '/')) ||
			    (size_t)(slash - p) > NAME_MAX_BYTES)
				break;
			memcpy(name, p, (size_t)(slash - p));
			name[slash - p] = '\0';
			d = mfs_nodes_child(&lake->nodes, d, name);
			p = slash + 1;
		}
	}
}

/* ---- attributes ---- */

static void render_meta(struct mfs_lake *lake, int id, struct mfs_buf *out);

/* Lock held. Has @n (silver or rejects) been computed from its current version? */
static int silver_fresh(const struct mfs_node *n)
{
	return n->mat_etag[0] && strcmp(n->mat_etag, n->etag) == 0 && !n->mat_failed;
}

/* Lock held. The gold (or profile) node that holds @n's result: itself, or
 * for a lineage file the view it describes. */
static struct mfs_node *gold_node(struct mfs_lake *lake, struct mfs_node *n)
{
	struct mfs_node *gold;

	if (n->kind != MFS_NODE_LINEAGE_FILE)
		return n;
	gold = mfs_nodes_child(&lake->nodes, mfs_nodes_get(&lake->nodes, 1), "gold");
	return gold && (size_t)n->meta_id < gold->nkids ? gold->kids[n->meta_id] : NULL;
}

/* Lock held. Was gold node @g computed within metadata_ttl? */
static int gold_fresh(const struct mfs_lake *lake, const struct mfs_node *g)
{
	return g->mat_etag[0] && !g->mat_failed &&
	       mfs_now() - g->attr_time < lake->cfg.metadata_ttl;
}

/* Lock held. */
static void fill_attr(struct mfs_lake *lake, struct mfs_node *n, struct mfs_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->st.st_ino = n->ino;
	a->st.st_uid = lake->cfg.uid;
	a->st.st_gid = lake->cfg.gid;
	a->st.st_blksize = 1 << 20;
	a->st.st_mtim = lake->started;
	a->st.st_ctim = lake->started;
	a->st.st_atim = lake->started;
	switch (n->kind) {
	case MFS_NODE_BRONZE_FILE: {
		uint64_t size = n->writers ? n->wsize : n->size;

		a->st.st_mode = S_IFREG | (lake->cfg.writable ? 0644 : 0444);
		a->st.st_nlink = 1;
		a->st.st_size = (off_t)size;
		a->st.st_blocks = (blkcnt_t)((size + 511) / 512);
		a->st.st_mtim = n->mtime;
		a->st.st_ctim = n->mtime;
		a->st.st_atim = n->mtime;
		a->timeout = lake->cfg.metadata_ttl;
		break;
	}
	case MFS_NODE_META_FILE: {
		struct mfs_buf b = MFS_BUF_INIT;

		render_meta(lake, n->meta_id, &b);
		a->st.st_mode = S_IFREG | 0444;
		a->st.st_nlink = 1;
		a->st.st_size = (off_t)b.len;
		a->timeout = 0;
		mfs_buf_free(&b);
		break;
	}
	case MFS_NODE_SILVER_FILE:
	case MFS_NODE_REJECTS_FILE: {
		uint64_t size = n->kind == MFS_NODE_SILVER_FILE ? n->mat_size : n->mat_rejects_size;

		a->st.st_mode = S_IFREG | 0444;
		a->st.st_nlink = 1;
		a->st.st_mtim = n->mtime;
		a->st.st_ctim = n->mtime;
		a->st.st_atim = n->mtime;
		if (silver_fresh(n)) {
			a->st.st_size = (off_t)size;
			a->st.st_blocks = (blkcnt_t)((size + 511) / 512);
			a->timeout = lake->cfg.metadata_ttl;
		} else {
			/* A placeholder until getattr/open computes it. */
			a->timeout = 0;
		}
		break;
	}
	case MFS_NODE_GOLD_FILE:
	case MFS_NODE_PROFILE_FILE:
	case MFS_NODE_LINEAGE_FILE: {
		const struct mfs_node *g = gold_node(lake, n);
		uint64_t size = 0;

		a->st.st_mode = S_IFREG | 0444;
		a->st.st_nlink = 1;
		a->timeout = 0;
		if (g && g->mat_etag[0] && !g->mat_failed) {
			size = n->kind == MFS_NODE_LINEAGE_FILE
				       ? (g->mat_lineage ? strlen(g->mat_lineage) : 0)
				       : g->mat_size;
			a->st.st_mtim = g->mtime;
			a->st.st_ctim = g->mtime;
			a->st.st_atim = g->mtime;
			if (n->kind != MFS_NODE_LINEAGE_FILE && gold_fresh(lake, g))
				a->timeout = lake->cfg.metadata_ttl;
		}
		a->st.st_size = (off_t)size;
		a->st.st_blocks = (blkcnt_t)((size + 511) / 512);
		break;
	}
	case MFS_NODE_BRONZE_DIR:
	case MFS_NODE_SILVER_DIR:
	case MFS_NODE_REJECTS_DIR:
	case MFS_NODE_PROFILE_DIR:
		a->st.st_mode = S_IFDIR | (n->kind == MFS_NODE_BRONZE_DIR && lake->cfg.writable
						   ? 0755 : 0555);
		a->st.st_nlink = 2;
		a->timeout = n->parent && (n->parent->kind == MFS_NODE_ROOT ||
					   n->parent->kind == MFS_NODE_META_DIR)
				     ? FIXED_TTL
				     : lake->cfg.metadata_ttl;
		break;
	default:
		a->st.st_mode = S_IFDIR | 0555;
		a->st.st_nlink = 2;
		a->timeout = FIXED_TTL;
		break;
	}
}

/*
 * Lock held. Refresh a file node's attributes with a HEAD when they are
 * older than metadata_ttl.
 */
static int file_revalidate(struct mfs_lake *lake, struct mfs_node *n)
{
	struct mfs_object o = { 0 };
	double now = mfs_now();
	char *key;
	int err;

	/* Being written: the object in the store is not what the writer sees. */
	if (now - n->attr_time < lake->cfg.metadata_ttl || n->writers)
		return 0;
	key = strdup(n->key);
	if (!key)
		return -ENOMEM;
	n->refs++;
	pthread_mutex_unlock(&lake->nodes.lock);
	atomic_fetch_add(&lake->n_heads, 1);
	mfs_clear_error();
	err = mfs_store_head(lake->cfg.store, key, &o);
	if (err && err != -ENOENT)
		record_error(lake, "bronze", key, err);
	pthread_mutex_lock(&lake->nodes.lock);
	if (!err)
		file_update(lake, n, o.size, o.mtime, o.etag, o.storage_class, now);
	mfs_nodes_unref(&lake->nodes, n);
	mfs_object_free(&o);
	free(key);
	return err;
}

/* ---- silver ---- */

/* Lock held. The mount path of silver file @n ("silver/sales/2024/jan.csv"), as
 * .medallion/errors names it; a rejects file names its silver file. */
static void layer_path(const struct mfs_node *n, char *out, size_t len)
{
	snprintf(out, len, "silver/%s%s", n->parent && n->parent->key ? n->parent->key : "",
		 n->name);
}

/* What every transform of this mount needs. */
static void transform_env(const struct mfs_lake *lake, struct mfs_transform_env *env)
{
	env->store = lake->cfg.store;
	env->io_pool = lake->pool;
	env->cache = lake->cfg.cache;
	env->pipeline = lake->cfg.pipeline;
	env->tmpdir = lake->cfg.tmpdir;
	env->max_prefetch = lake->cfg.max_prefetch;
	env->publish = lake->publish;
}

/*
 * Lock held on entry and exit, dropped while transforming. Make @n's silver
 * file (and its rejects) computed from the current version of its object.
 * With @entry (silver) or @rejects, return a reference to that cache entry.
 * -EIO with the reason in mfs_last_error() when the object is not a table.
 */
static int silver_materialize(struct mfs_lake *lake, struct mfs_node *n,
			      struct mfs_cache_entry **entry, struct mfs_cache_entry **rejects)
{
	struct mfs_cache_entry *e = NULL, *re = NULL;
	struct mfs_silver_source src;
	struct mfs_silver_meta meta;
	char why[512], etag[80], path[4200];
	int produced = 0, format, codec, err, attempt;
	uint64_t size, rsize = 0;
	char *key;

	err = file_revalidate(lake, n);
	if (err)
		return err;
	if (n->mat_failed && strcmp(n->mat_etag, n->etag) == 0 &&
	    mfs_now() - n->mat_failed_at < lake->cfg.metadata_ttl) {
		mfs_set_error("%s", n->mat_failed);
		return -EIO;
	}
	if (!entry && !rejects && silver_fresh(n))
		return 0;
	key = strdup(n->key);
	if (!key)
		return -ENOMEM;
	snprintf(etag, sizeof(etag), "%s", n->etag);
	size = n->size;
	format = n->tab_format;
	codec = n->tab_codec;
	layer_path(n, path, sizeof(path));
	n->refs++;
	pthread_mutex_unlock(&lake->nodes.lock);

	memset(&meta, 0, sizeof(meta));
	{
		struct mfs_transform_env env;
		struct mfs_tabular tab = { .format = (enum mfs_in_format)format,
					   .codec = (enum mfs_codec)codec };

		transform_env(lake, &env);
		mfs_silver_source_init(&src, &env, key, etag, size, &tab);
		src.publish_path = path;
	}
	/* A second round only when the rejects were evicted without the table. */
	for (attempt = 0; attempt < 2; attempt++) {
		mfs_clear_error();
		err = mfs_materialize_silver(&src, &e, &meta, &produced, why, sizeof(why));
		if (err)
			break;
		if (meta.from_publish) {
			/* counted by publish.c */
		} else if (produced) {
			atomic_fetch_add(&lake->n_transforms, 1);
			atomic_fetch_add(&lake->n_cache_misses, 1);
			atomic_fetch_add(&lake->rows_in, meta.rows_in);
			atomic_fetch_add(&lake->rows_out, meta.rows_out);
			atomic_fetch_add(&lake->rows_rejected, meta.rejected);
			atomic_fetch_add(&lake->duplicates_removed, meta.duplicates);
		} else {
			atomic_fetch_add(&lake->n_cache_hits, 1);
		}
		err = mfs_materialize_rejects(&src, &re);
		if (err != -ENOENT)
			break;
		mfs_cache_entry_put(e);
		e = NULL;
		mfs_silver_meta_free(&meta);
		mfs_materialize_forget(&src);
	}
	if (re)
		rsize = mfs_cache_entry_size(re);

	pthread_mutex_lock(&lake->nodes.lock);
	if (!err) {
		if (strcmp(n->etag, etag) == 0) {
			snprintf(n->mat_etag, sizeof(n->mat_etag), "%s", etag);
			n->mat_size = meta.size;
			n->mat_rows_in = meta.rows_in;
			n->mat_rows_out = meta.rows_out;
			n->mat_rejected = meta.rejected;
			n->mat_duplicates = meta.duplicates;
			n->mat_rejects_size = rsize;
			free(n->mat_schema);
			n->mat_schema = meta.schema;
			meta.schema = NULL;
			snprintf(n->mat_fingerprint, sizeof(n->mat_fingerprint), "%s",
				 meta.fingerprint);
			free(n->mat_failed);
			n->mat_failed = NULL;
		}
	} else if (n->mat_failed && strcmp(n->mat_etag, etag) == 0 &&
		   mfs_now() - n->mat_failed_at < lake->cfg.metadata_ttl) {
		/* A concurrent call ran the failing transform and said why; this one
		 * only waited for it (the cache cannot pass the reason on). */
		mfs_set_error("%s", n->mat_failed);
	} else {
		atomic_fetch_add(&lake->n_transform_failures, 1);
		if (err == -EIO && strcmp(n->etag, etag) == 0) {
			free(n->mat_failed);
			n->mat_failed = strdup(why);
			n->mat_failed_at = mfs_now();
			snprintf(n->mat_etag, sizeof(n->mat_etag), "%s", etag);
		}
		/* medallion.c's own lock nests inside nodes.lock, never the reverse. */
		note_failure(lake, path, why);
		mfs_set_error("%s", why);
	}
	mfs_nodes_unref(&lake->nodes, n);

	mfs_silver_meta_free(&meta);
	free(key);
	if (entry)
		*entry = e;
	else if (e)
		mfs_cache_entry_put(e);
	if (rejects)
		*rejects = re;
	else if (re)
		mfs_cache_entry_put(re);
	return err;
}

static struct mfs_node *entry_node(struct mfs_lake *lake, struct mfs_node *p,
				   const struct mfs_dirent *e, double when);

struct sibling_job {
	struct mfs_lake *lake;
	uint64_t parent;
	char *name;
};

static void sibling_run(void *arg)
{
	struct sibling_job *j = arg;
	struct mfs_lake *lake = j->lake;
	const struct mfs_dirent *e;
	struct mfs_node *p, *n;

	pthread_mutex_lock(&lake->nodes.lock);
	p = mfs_nodes_get(&lake->nodes, j->parent);
	e = p && p->list ? dirlist_find(p->list, j->name) : NULL;
	n = e ? entry_node(lake, p, e, p->list->fetched) : NULL;
	if (n && !silver_fresh(n)) {
		/* The result lives in the cache even if the node goes away. */
		n->refs++;
		(void)silver_materialize(lake, n, NULL, NULL);
		mfs_nodes_unref(&lake->nodes, n);
	} else if (n) {
		n->refs++;
		mfs_nodes_unref(&lake->nodes, n); /* frees it if nobody knows it */
	}
	pthread_mutex_unlock(&lake->nodes.lock);
	free(j->name);
	free(j);
}

/*
 * Lock held. Stats of two different files of one silver directory within
 * two seconds, each needing a transform, look like `ls -l`: compute the
 * rest of the directory in parallel on the pool instead of one stat at a
 * time. A single stat still runs exactly one transform.
 */
static void maybe_queue_siblings(struct mfs_lake *lake, struct mfs_node *n)
{
	struct mfs_node *p = n->parent;
	double now = mfs_now();
	size_t i;

	if (!p || p->kind != MFS_NODE_SILVER_DIR || !p->list)
		return;
	if (now - p->stat_hint > 2.0 || p->siblings_for == p->list) {
		p->stat_hint = now;
		return;
	}
	p->siblings_for = p->list;
	for (i = 0; i < p->list->n; i++) {
		const struct mfs_dirent *e = &p->list->e[i];
		struct mfs_node *c = mfs_nodes_child(&lake->nodes, p, e->name);
		struct sibling_job *j;

		if (e->is_dir || c == n || (c && silver_fresh(c)))
			continue;
		j = calloc(1, sizeof(*j));
		if (!j || !(j->name = strdup(e->name))) {
			free(j);
			return;
		}
		j->lake = lake;
		j->parent = p->ino;
		if (mfs_lake_submit(lake, sibling_run, j)) {
			free(j->name);
			free(j);
			return;
		}
	}
}

int mfs_lake_would_transform(struct mfs_lake *lake, uint64_t ino, enum mfs_lake_op op)
{
	struct mfs_node *n;
	int r = 0;

	pthread_mutex_lock(&lake->nodes.lock);
	n = mfs_nodes_get(&lake->nodes, ino);
	if (n && (n->kind == MFS_NODE_SILVER_FILE || n->kind == MFS_NODE_REJECTS_FILE))
		r = !silver_fresh(n) || mfs_now() - n->attr_time >= lake->cfg.metadata_ttl;
	else if (n && is_gold_kind(n->kind))
		r = op == MFS_OP_OPEN || !gold_node(lake, n) || !gold_fresh(lake, gold_node(lake, n));
	pthread_mutex_unlock(&lake->nodes.lock);
	return r;
}

/* ---- gold ---- */

/*
 * Lock held on entry and exit, dropped while computing. Make gold node @n
 * (a view or a profile; a lineage file stands for its view) computed from
 * the current inputs, at most metadata_ttl old. With @entry, a reference to
 * the view's file.
 */
static int gold_materialize(struct mfs_lake *lake, struct mfs_node *n,
			    struct mfs_cache_entry **entry)
{
	struct mfs_node *g = gold_node(lake, n);
	struct mfs_goldview_ctx ctx;
	struct mfs_goldview_result res;
	const struct mfs_gold_view *view = NULL;
	char why[1024], path[600], *name = NULL;
	int err, publish;

	if (!g)
		return -ENOENT;
	if (!entry && gold_fresh(lake, g))
		return 0;
	if (g->mat_failed && mfs_now() - g->mat_failed_at < lake->cfg.metadata_ttl) {
		mfs_set_error("%s", g->mat_failed);
		return -EIO;
	}
	if (g->kind == MFS_NODE_GOLD_FILE)
		view = &lake->cfg.pipeline->views[g->meta_id];
	else if (!(name = strdup(g->key)))
		return -ENOMEM;
	snprintf(path, sizeof(path), "gold/%s%s", g->kind == MFS_NODE_PROFILE_FILE ? "_profile/" : "",
		 g->name);
	g->refs++;
	pthread_mutex_unlock(&lake->nodes.lock);

	memset(&ctx, 0, sizeof(ctx));
	transform_env(lake, &ctx.env);
	ctx.silver_transforms = &lake->gold_silver_transforms;
	ctx.partials = &lake->gold_partials;
	mfs_clear_error();
	if (view)
		err = mfs_goldview_materialize(&ctx, view, &res, why, sizeof(why));
	else
		err = mfs_goldview_profile(&ctx, name, name, &res, why, sizeof(why));
	if (!err && res.computed)
		atomic_fetch_add(&lake->gold_views, 1);
	pthread_mutex_lock(&lake->nodes.lock);
	publish = !err && !res.from_publish && lake->publish &&
		  strcmp(g->mat_published, res.lineage_hash) != 0;
	if (publish)
		snprintf(g->mat_published, sizeof(g->mat_published), "%s", res.lineage_hash);
	pthread_mutex_unlock(&lake->nodes.lock);
	if (publish) {
		struct mfs_publish_record rec;

		memset(&rec, 0, sizeof(rec));
		snprintf(rec.hash, sizeof(rec.hash), "%s", res.lineage_hash);
		rec.size = mfs_cache_entry_size(res.entry);
		rec.rows = res.rows;
		rec.nsources = res.nsources;
		rec.mtime = res.mtime;
		snprintf(rec.fingerprint, sizeof(rec.fingerprint), "%s", res.fingerprint);
		rec.schema = res.schema;
		rec.lineage = res.lineage;
		if (mfs_publish_submit(lake->publish, lake->cfg.cache, path, res.entry, NULL, &rec))
			mfs_warn("publish %s: cannot queue the job", path);
	}

	pthread_mutex_lock(&lake->nodes.lock);
	if (!err) {
		char version[33];
		XXH128_hash_t h = XXH3_128bits(res.lineage ? res.lineage : "",
					       res.lineage ? strlen(res.lineage) : 0);

		snprintf(version, sizeof(version), "%016llx%016llx", (unsigned long long)h.high64,
			 (unsigned long long)h.low64);
		snprintf(g->mat_etag, sizeof(g->mat_etag), "%s", version);
		g->mat_size = mfs_cache_entry_size(res.entry);
		g->mat_rows_out = res.rows;
		g->mat_rows_in = res.nsources;
		g->mtime = res.mtime;
		free(g->mat_schema);
		g->mat_schema = res.schema;
		res.schema = NULL;
		free(g->mat_lineage);
		g->mat_lineage = res.lineage;
		res.lineage = NULL;
		snprintf(g->mat_fingerprint, sizeof(g->mat_fingerprint), "%s", res.fingerprint);
		free(g->mat_failed);
		g->mat_failed = NULL;
		g->attr_time = mfs_now();
		if (entry) {
			*entry = res.entry;
			res.entry = NULL;
		}
	} else {
		free(g->mat_failed);
		g->mat_failed = strdup(why);
		g->mat_failed_at = mfs_now();
		note_failure(lake, path, why);
		mfs_set_error("%s", why);
	}
	mfs_nodes_unref(&lake->nodes, g);
	mfs_goldview_result_free(&res);
	free(name);
	return err;
}

/* ---- life cycle ---- */

static struct mfs_node *add_fixed(struct mfs_lake *lake, struct mfs_node *parent,
				  const char *name, enum mfs_node_kind kind, const char *key,
				  int meta_id)
{
	struct mfs_node *n = mfs_nodes_ensure(&lake->nodes, parent, name, kind, key);
	struct mfs_node **kids;

	if (!n)
		return NULL;
	n->fixed = 1;
	n->meta_id = meta_id;
	if (parent) {
		kids = realloc(parent->kids, (parent->nkids + 1) * sizeof(*kids));
		if (!kids)
			return NULL;
		parent->kids = kids;
		kids[parent->nkids++] = n;
	}
	return n;
}

int mfs_lake_new(const struct mfs_lake_config *cfg, struct mfs_lake **out)
{
	struct mfs_lake *lake = calloc(1, sizeof(*lake));
	struct mfs_node *root, *meta, *gold, *lin;
	size_t views;
	int err, i;

	if (!lake)
		return -ENOMEM;
	lake->cfg = *cfg;
	clock_gettime(CLOCK_REALTIME, &lake->started);
	err = mfs_nodes_init(&lake->nodes);
	if (err) {
		free(lake);
		return err;
	}
	lake->nodes.put_list = dirlist_put;
	lake->dirs.next = lake->dirs.prev = &lake->dirs;
	lake->files.next = lake->files.prev = &lake->files;
	pthread_cond_init(&lake->list_cond, NULL);
	err = mfs_medallion_new(&lake->med);
	if (err)
		goto fail;
	root = mfs_nodes_ensure(&lake->nodes, NULL, "", MFS_NODE_ROOT, NULL);
	err = -ENOMEM;
	if (!root)
		goto fail;
	root->fixed = 1;
	if (!add_fixed(lake, root, "bronze", MFS_NODE_BRONZE_DIR, "", 0) ||
	    !add_fixed(lake, root, "silver", MFS_NODE_SILVER_DIR, "", 0) ||
	    !(gold = add_fixed(lake, root, "gold", MFS_NODE_GOLD_DIR, NULL, 0)) ||
	    !(meta = add_fixed(lake, root, ".medallion", MFS_NODE_META_DIR, NULL, 0)))
		goto fail;
	for (i = 0; i < META_COUNT; i++)
		if (!add_fixed(lake, meta, meta_names[i], MFS_NODE_META_FILE, NULL, i))
			goto fail;
	if (!add_fixed(lake, meta, "rejects", MFS_NODE_REJECTS_DIR, "", META_REJECTS_ID) ||
	    !(lin = add_fixed(lake, meta, "lineage", MFS_NODE_FIXED_DIR, NULL, 0)) ||
	    !(lin = add_fixed(lake, lin, "gold", MFS_NODE_FIXED_DIR, NULL, 0)))
		goto fail;
	views = cfg->pipeline ? cfg->pipeline->nviews : 0;
	for (i = 0; i < (int)views; i++) {
		const struct mfs_gold_view *v = &cfg->pipeline->views[i];
		char name[512];

		snprintf(name, sizeof(name), "%s%s", v->name,
			 v->format == MFS_OUT_JSONL ? ".jsonl" : ".csv");
		if (!add_fixed(lake, gold, name, MFS_NODE_GOLD_FILE, NULL, i))
			goto fail;
		snprintf(name, sizeof(name), "%s.json", v->name);
		if (!add_fixed(lake, lin, name, MFS_NODE_LINEAGE_FILE, NULL, i))
			goto fail;
	}
	/* Zero-config gold: a profile per top-level dataset. */
	if (!views && !add_fixed(lake, gold, "_profile", MFS_NODE_PROFILE_DIR, "", 0))
		goto fail;
	*out = lake;
	return 0;
fail:
	mfs_lake_free(lake);
	return err;
}

void mfs_lake_set_inval(struct mfs_lake *lake, mfs_inval_fn fn, void *arg)
{
	lake->inval = fn;
	lake->inval_arg = arg;
}

void mfs_lake_set_cache(struct mfs_lake *lake, struct mfs_cache *cache)
{
	lake->cfg.cache = cache;
}

void mfs_lake_set_tmpdir(struct mfs_lake *lake, const char *tmpdir)
{
	lake->cfg.tmpdir = tmpdir;
}

int mfs_lake_start(struct mfs_lake *lake)
{
	int err;

	mfs_bronze_set_budget(lake->cfg.max_prefetch * 16 > (512u << 20) ? lake->cfg.max_prefetch * 16
									 : (512u << 20));
	mfs_bronze_set_block_cache(lake->cfg.block_cache);
	err = mfs_pool_new(POOL_THREADS, &lake->pool);
	if (!err)
		err = mfs_pool_new(lake->cfg.transform_threads > 0 ? lake->cfg.transform_threads : 4,
				   &lake->xpool);
	if (!err && (lake->cfg.writable || lake->cfg.publish_store))
		err = mfs_pool_new(UPLOAD_THREADS, &lake->upool);
	if (!err && lake->cfg.publish_store)
		err = mfs_pool_new(PUBLISH_THREADS, &lake->ppool);
	if (!err && lake->cfg.publish_store)
		err = mfs_publish_new(lake->cfg.publish_store, lake->cfg.publish_url, lake->ppool,
				      lake->upool, &lake->publish);
	if (!err)
		err = mfs_pool_new(READ_SPLIT_THREADS, &lake->rpool);
	return err;
}

int mfs_lake_submit(struct mfs_lake *lake, void (*fn)(void *arg), void *arg)
{
	if (!lake->xpool || atomic_load(&lake->shut))
		return -ESHUTDOWN;
	return mfs_pool_submit(lake->xpool, fn, arg);
}

void mfs_lake_shutdown(struct mfs_lake *lake)
{
	if (atomic_exchange(&lake->shut, 1))
		return;
	mfs_store_abort(lake->cfg.store);
	if (lake->cfg.publish_store)
		mfs_store_abort(lake->cfg.publish_store);
	/* Transforms first: they read through the read-ahead pool and publish. */
	if (lake->xpool)
		mfs_pool_stop(lake->xpool);
	if (lake->ppool)
		mfs_pool_stop(lake->ppool);
	if (lake->pool)
		mfs_pool_stop(lake->pool);
	if (lake->upool)
		mfs_pool_stop(lake->upool);
	if (lake->rpool)
		mfs_pool_stop(lake->rpool);
}

void mfs_lake_free(struct mfs_lake *lake)
{
	if (!lake)
		return;
	mfs_lake_shutdown(lake);
	/* Handles the kernel never released: the session ended with them open. */
	if (lake->files.next) {
		while (lake->files.next != &lake->files)
			mfs_lake_release(lake, (struct mfs_file *)lake->files.next);
		while (lake->dirs.next != &lake->dirs)
			mfs_lake_closedir(lake, (struct mfs_dir *)lake->dirs.next);
	}
	mfs_pool_free(lake->pool);
	mfs_pool_free(lake->xpool);
	mfs_pool_free(lake->ppool);
	mfs_pool_free(lake->upool);
	mfs_publish_free(lake->publish);
	free(lake->overlay);
	mfs_pool_free(lake->rpool);
	mfs_nodes_destroy(&lake->nodes);
	pthread_cond_destroy(&lake->list_cond);
	mfs_medallion_free(lake->med);
	free(lake);
}

/* ---- lookups ---- */

/*
 * Lock held. The node of entry @e of listed directory @p, created when
 * missing, with the attributes of the listing fetched at @when. NULL on
 * ENOMEM.
 */
static struct mfs_node *entry_node(struct mfs_lake *lake, struct mfs_node *p,
				   const struct mfs_dirent *e, double when)
{
	const char *leaf = e->src ? e->src : e->name;
	char *key = malloc(strlen(p->key) + strlen(leaf) + 2);
	struct mfs_node *n;

	if (!key)
		return NULL;
	sprintf(key, "%s%s%s", p->key, leaf, e->is_dir ? "/" : "");
	n = mfs_nodes_ensure(&lake->nodes, p, e->name, child_kind(p->kind, e->is_dir), key);
	free(key);
	if (!n || e->is_dir)
		return n;
	n->tab_format = e->format;
	n->tab_codec = e->codec;
	file_update(lake, n, e->size, e->mtime, e->etag, e->storage_class, when);
	return n;
}

int mfs_lake_lookup(struct mfs_lake *lake, uint64_t parent, const char *name,
		    struct mfs_attr *out)
{
	struct mfs_dirlist *d = NULL;
	const struct mfs_dirent *e;
	struct mfs_node *p, *n;
	int err = 0;

	pthread_mutex_lock(&lake->nodes.lock);
	p = mfs_nodes_get(&lake->nodes, parent);
	if (!p) {
		err = -ENOENT;
		goto out;
	}
	if (!is_listed_dir(p->kind)) {
		/* Fixed directories: only their fixed children exist. */
		n = mfs_nodes_child(&lake->nodes, p, name);
		if (!n || !n->fixed) {
			err = p->kind == MFS_NODE_BRONZE_FILE || p->kind == MFS_NODE_META_FILE
				      ? -ENOTDIR
				      : -ENOENT;
			goto out;
		}
		goto found;
	}
	if (!valid_name(name)) {
		err = -ENOENT;
		goto out;
	}
	err = dir_listing(lake, p, &d);
	if (err)
		goto out;
	e = dirlist_find(d, name);
	if (!e) {
		n = mfs_nodes_child(&lake->nodes, p, name);
		if (n && n->overlay)
			goto found;
		err = -ENOENT;
		goto out;
	}
	n = entry_node(lake, p, e, d->fetched);
	if (!n) {
		err = -ENOMEM;
		goto out;
	}
found:
	n->nlookup++;
	fill_attr(lake, n, out);
out:
	pthread_mutex_unlock(&lake->nodes.lock);
	dirlist_put(d);
	return err;
}

void mfs_lake_forget(struct mfs_lake *lake, uint64_t ino, uint64_t nlookup)
{
	struct mfs_node *n;

	pthread_mutex_lock(&lake->nodes.lock);
	n = mfs_nodes_get(&lake->nodes, ino);
	if (n)
		mfs_nodes_forget(&lake->nodes, n, nlookup);
	pthread_mutex_unlock(&lake->nodes.lock);
}

int mfs_lake_getattr(struct mfs_lake *lake, uint64_t ino, struct mfs_attr *out)
{
	struct mfs_node *n;
	int err = 0;

	pthread_mutex_lock(&lake->nodes.lock);
	n = mfs_nodes_get(&lake->nodes, ino);
	if (!n) {
		err = -ENOENT;
		goto out;
	}
	if (n->kind == MFS_NODE_BRONZE_FILE)
		err = file_revalidate(lake, n);
	else if (n->kind == MFS_NODE_SILVER_FILE || n->kind == MFS_NODE_REJECTS_FILE) {
		if (n->kind == MFS_NODE_SILVER_FILE && !silver_fresh(n))
			maybe_queue_siblings(lake, n);
		err = silver_materialize(lake, n, NULL, NULL);
	} else if (is_gold_kind(n->kind)) {
		err = gold_materialize(lake, n, NULL);
	}
	if (!err)
		fill_attr(lake, n, out);
out:
	pthread_mutex_unlock(&lake->nodes.lock);
	return err;
}

/* ---- directories ---- */

int mfs_lake_opendir(struct mfs_lake *lake, uint64_t ino, struct mfs_dir **out)
{
	struct mfs_dir *dir = calloc(1, sizeof(*dir));
	struct mfs_node *n;
	int err = 0;

	if (!dir)
		return -ENOMEM;
	pthread_mutex_lock(&lake->nodes.lock);
	n = mfs_nodes_get(&lake->nodes, ino);
	if (!n) {
		err = -ENOENT;
		goto out;
	}
	if (is_file_kind(n->kind)) {
		err = -ENOTDIR;
		goto out;
	}
	if (is_listed_dir(n->kind)) {
		err = dir_listing(lake, n, &dir->list);
		if (!err && n->kind == MFS_NODE_BRONZE_DIR)
			err = overlay_merge(lake, n, &dir->list);
		if (err)
			goto out;
	} else {
		dir->fixed = n;
	}
	n->refs++;
	dir->node = n;
	handle_link(&lake->dirs, &dir->h);
out:
	pthread_mutex_unlock(&lake->nodes.lock);
	if (err) {
		free(dir);
		return err;
	}
	*out = dir;
	return 0;
}

int mfs_lake_readdir(struct mfs_lake *lake, struct mfs_dir *dir, size_t i, int plus,
		     const char **name, struct mfs_attr *attr)
{
	struct mfs_node *n = dir->node, *c;
	int err = 0;

	pthread_mutex_lock(&lake->nodes.lock);
	if (i < 2) {
		c = i == 0 ? n : (n->parent ? n->parent : n);
		*name = i == 0 ? "." : "..";
		fill_attr(lake, c, attr);
		goto out;
	}
	i -= 2;
	if (dir->list) {
		const struct mfs_dirent *e;

		if (i >= dir->list->n) {
			err = 1;
			goto out;
		}
		e = &dir->list->e[i];
		*name = e->name;
		if (!plus) {
			memset(attr, 0, sizeof(*attr));
			attr->st.st_mode = e->is_dir ? S_IFDIR : S_IFREG;
			c = mfs_nodes_child(&lake->nodes, n, e->name);
			attr->st.st_ino = c ? c->ino : 0xffffffffu;
			goto out;
		}
		c = mfs_nodes_child(&lake->nodes, n, e->name);
		if (!e->is_dir && child_kind(n->kind, 0) != MFS_NODE_BRONZE_FILE &&
		    !(c && c->kind == child_kind(n->kind, 0) && silver_fresh(c))) {
			/* Not computed yet: a name, no attributes, no lookup. */
			memset(attr, 0, sizeof(*attr));
			attr->st.st_mode = S_IFREG;
			/* d_ino 0 would make readdir(3) skip the name */
			attr->st.st_ino = c ? c->ino : 0xffffffffu;
			attr->no_entry = 1;
			goto out;
		}
		c = entry_node(lake, n, e, dir->list->fetched);
		if (!c) {
			err = -ENOMEM;
			goto out;
		}
	} else {
		if (!dir->fixed || i >= dir->fixed->nkids) {
			err = 1;
			goto out;
		}
		c = dir->fixed->kids[i];
		*name = c->name;
	}
	if (plus)
		c->nlookup++;
	fill_attr(lake, c, attr);
out:
	pthread_mutex_unlock(&lake->nodes.lock);
	return err;
}

void mfs_lake_closedir(struct mfs_lake *lake, struct mfs_dir *dir)
{
	pthread_mutex_lock(&lake->nodes.lock);
	handle_unlink(&dir->h);
	mfs_nodes_unref(&lake->nodes, dir->node);
	pthread_mutex_unlock(&lake->nodes.lock);
	dirlist_put(dir->list);
	free(dir);
}

/* ---- files ---- */

static void render_stats(struct mfs_lake *lake, struct mfs_buf *out)
{
	struct mfs_cache_stats cs;
	uint64_t gets, fetched, up_objects, up_bytes, up_failures, pub_done, pub_failed, pub_hits;

	memset(&cs, 0, sizeof(cs));
	if (lake->cfg.cache)
		(void)mfs_cache_get_stats(lake->cfg.cache, &cs);
	mfs_bronze_counters(&gets, &fetched);
	(void)mfs_buf_appendf(out, "{\n  \"source\": ");
	(void)mfs_buf_append_json(out, lake->cfg.source);
	(void)mfs_buf_appendf(out, ",\n  \"store\": ");
	(void)mfs_buf_append_json(out, lake->cfg.store->ops->name);
#define STAT(name, v) (void)mfs_buf_appendf(out, ",\n  \"%s\": %llu", name, (unsigned long long)(v))
	STAT("listings", atomic_load(&lake->n_lists));
	STAT("heads", atomic_load(&lake->n_heads));
	STAT("gets", gets);
	STAT("bytes_fetched", fetched);
	STAT("block_hits", mfs_bronze_block_hits());
	STAT("opens", atomic_load(&lake->n_opens));
	STAT("reads", atomic_load(&lake->n_reads));
	STAT("bytes_read", atomic_load(&lake->bytes_read));
	STAT("read_errors", atomic_load(&lake->n_read_errors));
	STAT("transforms", atomic_load(&lake->n_transforms));
	STAT("transform_failures", atomic_load(&lake->n_transform_failures));
	STAT("cache_hits", atomic_load(&lake->n_cache_hits));
	STAT("cache_misses", atomic_load(&lake->n_cache_misses));
	STAT("rows_in", atomic_load(&lake->rows_in));
	STAT("rows_out", atomic_load(&lake->rows_out));
	STAT("rows_rejected", atomic_load(&lake->rows_rejected));
	STAT("duplicates_removed", atomic_load(&lake->duplicates_removed));
	STAT("gold_views_computed", atomic_load(&lake->gold_views));
	STAT("gold_partials_computed", atomic_load(&lake->gold_partials));
	STAT("gold_silver_transforms", atomic_load(&lake->gold_silver_transforms));
	mfs_writer_counters(&up_objects, &up_bytes, &up_failures);
	STAT("uploads", up_objects);
	STAT("bytes_uploaded", up_bytes);
	STAT("upload_failures", up_failures);
	STAT("deletes", atomic_load(&lake->n_deletes));
	mfs_publish_counters(lake->publish, &pub_done, &pub_failed, &pub_hits);
	STAT("published", pub_done);
	STAT("publish_failures", pub_failed);
	STAT("served_from_published", pub_hits);
	STAT("cache_entries", cs.entries);
	STAT("cache_bytes_stored", cs.bytes_stored);
	STAT("cache_bytes_content", cs.bytes_content);
	STAT("cache_evictions", cs.evictions);
	STAT("cache_corrupt_chunks", cs.corrupt_chunks);
#undef STAT
	(void)mfs_buf_appendf(out, "\n}\n");
}

static void render_meta(struct mfs_lake *lake, int id, struct mfs_buf *out)
{
	char *text;

	switch (id) {
	case META_ERRORS:
		(void)mfs_medallion_render_errors(lake->med, out);
		break;
	case META_SHADOWED:
		(void)mfs_medallion_render_shadowed(lake->med, out);
		break;
	case META_PIPELINE:
		text = lake->cfg.pipeline ? mfs_pipeline_render(lake->cfg.pipeline) : NULL;
		if (text)
			(void)mfs_buf_append(out, text, strlen(text));
		free(text);
		break;
	default:
		render_stats(lake, out);
		break;
	}
}

/* ---- bronze writes ---- */

int mfs_lake_writable(struct mfs_lake *lake)
{
	return lake->cfg.writable;
}

/* Lock held. The bronze directory @ino that writes may change, or NULL with *@err. */
static struct mfs_node *writable_dir(struct mfs_lake *lake, uint64_t ino, int *err)
{
	struct mfs_node *p = mfs_nodes_get(&lake->nodes, ino);

	*err = 0;
	if (!p)
		*err = -ENOENT;
	else if (!lake->cfg.writable || p->kind != MFS_NODE_BRONZE_DIR)
		*err = -EROFS;
	return *err ? NULL : p;
}

/* Lock held. The directory prefix a node's key lives in ("" or ending in '/'). */
static void parent_prefix(const struct mfs_node *n, char *out, size_t len)
{
	snprintf(out, len, "%s", n->parent && n->parent->key ? n->parent->key : "");
}

/*
 * Lock held (dropped while listing). What @name is in bronze directory @p:
 * 0 with *@c the node (NULL when it does not exist), *@listed whether the
 * store lists it.
 */
static int bronze_child(struct mfs_lake *lake, struct mfs_node *p, const char *name,
			struct mfs_node **c, int *listed)
{
	struct mfs_dirlist *d = NULL;
	const struct mfs_dirent *e;
	int err;

	*c = NULL;
	*listed = 0;
	if (!valid_name(name))
		return strlen(name) > NAME_MAX_BYTES ? -ENAMETOOLONG : -EINVAL;
	err = dir_listing(lake, p, &d);
	if (err)
		return err;
	e = dirlist_find(d, name);
	if (e) {
		*c = entry_node(lake, p, e, d->fetched);
		*listed = 1;
		err = *c ? 0 : -ENOMEM;
	} else {
		*c = mfs_nodes_child(&lake->nodes, p, name);
		if (*c && !(*c)->overlay)
			*c = NULL;
	}
	dirlist_put(d);
	return err;
}

/*
 * Lock held. A new file or directory @name in bronze directory @p that the
 * store does not list yet: it lives in the overlay. NULL on ENOMEM.
 */
static struct mfs_node *new_child(struct mfs_lake *lake, struct mfs_node *p, const char *name,
				  enum mfs_node_kind kind)
{
	struct mfs_node *c;
	char *key;

	if (asprintf(&key, "%s%s%s", p->key, name, kind == MFS_NODE_BRONZE_DIR ? "/" : "") < 0)
		return NULL;
	c = mfs_nodes_ensure(&lake->nodes, p, name, kind, key);
	free(key);
	if (!c || overlay_add(lake, c))
		return NULL;
	c->etag[0] = '\0';
	c->size = 0;
	clock_gettime(CLOCK_REALTIME, &c->mtime);
	c->attr_time = mfs_now();
	return c;
}

/* Lock held. writable_dir() @parent and bronze_child() @name in it. */
static int writable_child(struct mfs_lake *lake, uint64_t parent, const char *name,
			  struct mfs_node **p, struct mfs_node **c, int *listed)
{
	int err;

	*c = NULL;
	*p = writable_dir(lake, parent, &err);
	return *p ? bronze_child(lake, *p, name, c, listed) : err;
}

/* Lock held. Start writing @n (a bronze file) through a new handle. */
static int start_writer(struct mfs_lake *lake, struct mfs_node *n, struct mfs_file **out)
{
	struct mfs_file *f;
	int err;

	if (n->writers) {
		mfs_set_error("bronze/%s is already being written", n->key);
		return -EBUSY;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	err = mfs_writer_new(lake->cfg.store, lake->upool, n->key, NULL, 0, &f->writer);
	if (err) {
		free(f);
		return err;
	}
	n->writers++;
	n->wsize = 0;
	n->refs++;
	f->node = n;
	handle_link(&lake->files, &f->h);
	/* The kernel must not keep pages of the version being replaced. */
	n->kernel_etag[0] = '\0';
	*out = f;
	return 0;
}

static int open_write(struct mfs_lake *lake, uint64_t ino, int flags, struct mfs_file **out,
		      struct mfs_open_flags *of)
{
	struct mfs_node *n;
	int err = 0;

	*out = NULL;
	memset(of, 0, sizeof(*of));
	pthread_mutex_lock(&lake->nodes.lock);
	n = mfs_nodes_get(&lake->nodes, ino);
	if (!n)
		err = -ENOENT;
	else if (!lake->cfg.writable || n->kind != MFS_NODE_BRONZE_FILE)
		err = n->kind == MFS_NODE_BRONZE_DIR ? -EISDIR : -EROFS;
	else if ((flags & O_ACCMODE) == O_RDONLY)
		err = -EROFS; /* O_TRUNC without write access: nothing sensible to do */
	else if (flags & O_APPEND || !(flags & O_TRUNC))
		/* Appends and writes into an existing object would need a copy of it. */
		err = -EOPNOTSUPP;
	else
		err = start_writer(lake, n, out);
	pthread_mutex_unlock(&lake->nodes.lock);
	/* Written bytes never go through the page cache: no stale pages afterwards. */
	of->direct_io = 1;
	return err;
}

int mfs_lake_create(struct mfs_lake *lake, uint64_t parent, const char *name, int flags,
		    struct mfs_attr *out, struct mfs_file **f)
{
	struct mfs_node *p, *c;
	int err, listed;

	*f = NULL;
	pthread_mutex_lock(&lake->nodes.lock);
	err = writable_child(lake, parent, name, &p, &c, &listed);
	if (err)
		goto out;
	if ((flags & O_APPEND) || (flags & O_ACCMODE) == O_RDONLY) {
		err = (flags & O_APPEND) ? -EOPNOTSUPP : -EROFS;
		goto out;
	}
	if (c && c->kind != MFS_NODE_BRONZE_FILE) {
		err = -EISDIR;
		goto out;
	}
	if (c && (flags & O_EXCL)) {
		err = -EEXIST;
		goto out;
	}
	if (c && !(flags & O_TRUNC)) {
		/* It exists after all (another writer, a stale listing): as open_write(). */
		err = -EOPNOTSUPP;
		goto out;
	}
	/* Until the object is committed only the overlay knows the new name. */
	if (!c && !(c = new_child(lake, p, name, MFS_NODE_BRONZE_FILE))) {
		err = -ENOMEM;
		goto out;
	}
	err = start_writer(lake, c, f);
	if (err)
		goto out;
	c->nlookup++;
	fill_attr(lake, c, out);
out:
	pthread_mutex_unlock(&lake->nodes.lock);
	return err;
}

ssize_t mfs_lake_write(struct mfs_lake *lake, struct mfs_file *f, const char *buf, size_t size,
		       off_t off)
{
	ssize_t n;

	if (!f->writer)
		return -EBADF;
	if (off < 0)
		return -EINVAL;
	mfs_clear_error();
	n = mfs_writer_write(f->writer, buf, size, (uint64_t)off);
	pthread_mutex_lock(&lake->nodes.lock);
	if (n > 0)
		f->node->wsize = (uint64_t)off + (uint64_t)n;
	else if (n < 0 && n != -EOPNOTSUPP)
		record_error(lake, "bronze", f->node->key, (int)n);
	pthread_mutex_unlock(&lake->nodes.lock);
	if (n == -EOPNOTSUPP)
		mfs_debug("bronze/%s: %s", f->node->key, mfs_last_error());
	return n;
}

int mfs_lake_flush(struct mfs_lake *lake, struct mfs_file *f, int sync)
{
	struct mfs_object o = { 0 };
	struct mfs_node *n = f->node;
	char prefix[4096];
	int err, committed;

	if (!f->writer)
		return 0;
	if (!sync && !mfs_writer_size(f->writer, &committed) && !committed)
		return 0; /* see lake.h: the release commits it */
	pthread_mutex_lock(&lake->nodes.lock);
	err = n->detached;
	pthread_mutex_unlock(&lake->nodes.lock);
	if (err)
		return 0; /* unlinked while open: the upload is dropped at release */
	mfs_clear_error();
	err = mfs_writer_commit(f->writer, &o);
	pthread_mutex_lock(&lake->nodes.lock);
	if (!err) {
		/* The store's word on the new version; a HEAD at the next stat confirms it. */
		file_update(lake, n, o.size, o.mtime, o.etag, "", 0);
		n->wsize = o.size;
		/* Listed from now on: the overlay is no longer needed. */
		overlay_del(lake, n);
	} else {
		record_error(lake, "bronze", n->key, err);
	}
	parent_prefix(n, prefix, sizeof(prefix));
	invalidate_listings(lake, prefix);
	pthread_mutex_unlock(&lake->nodes.lock);
	mfs_object_free(&o);
	return err;
}

int mfs_lake_setattr(struct mfs_lake *lake, uint64_t ino, struct mfs_file *f, int what,
		     uint64_t size, struct mfs_attr *out)
{
	static const char zeros[64 * 1024];
	struct mfs_node *n;
	uint64_t at;
	int err = 0;

	pthread_mutex_lock(&lake->nodes.lock);
	n = mfs_nodes_get(&lake->nodes, ino);
	if (!n)
		err = -ENOENT;
	else if (!lake->cfg.writable ||
		 (n->kind != MFS_NODE_BRONZE_FILE && n->kind != MFS_NODE_BRONZE_DIR))
		err = -EROFS;
	else if ((what & MFS_SET_SIZE) && n->kind != MFS_NODE_BRONZE_FILE)
		err = -EISDIR;
	pthread_mutex_unlock(&lake->nodes.lock);
	if (err || !(what & MFS_SET_SIZE))
		goto out;
	/* A size can only be the one written, or more by appending zeros (sparse copies). */
	if (!f || !f->writer) {
		mfs_set_error("truncating an object in place is not supported");
		err = -EOPNOTSUPP;
		goto out;
	}
	for (at = mfs_writer_size(f->writer, NULL); at < size && !err;) {
		size_t chunk = size - at < sizeof(zeros) ? (size_t)(size - at) : sizeof(zeros);
		ssize_t w = mfs_lake_write(lake, f, zeros, chunk, (off_t)at);

		if (w < 0)
			err = (int)w;
		else
			at += (uint64_t)w;
	}
	if (!err && mfs_writer_size(f->writer, NULL) != size)
		err = -EOPNOTSUPP;
out:
	if (!err)
		err = mfs_lake_getattr(lake, ino, out);
	return err;
}

int mfs_lake_xattr_writable(struct mfs_lake *lake, uint64_t ino)
{
	struct mfs_node *n;
	int err = -EROFS;

	pthread_mutex_lock(&lake->nodes.lock);
	n = mfs_nodes_get(&lake->nodes, ino);
	if (n && lake->cfg.writable &&
	    (n->kind == MFS_NODE_BRONZE_FILE || n->kind == MFS_NODE_BRONZE_DIR))
		err = -ENOTSUP;
	pthread_mutex_unlock(&lake->nodes.lock);
	return err;
}

/* Lock held. The existing @name in writable bronze directory @parent, of @kind. */
static int existing_child(struct mfs_lake *lake, uint64_t parent, const char *name,
			  enum mfs_node_kind kind, struct mfs_node **p, struct mfs_node **c,
			  int *listed)
{
	int err = writable_child(lake, parent, name, p, c, listed);

	if (!err && !*c)
		err = -ENOENT;
	else if (!err && (*c)->kind != kind)
		err = kind == MFS_NODE_BRONZE_DIR ? -ENOTDIR : -EISDIR;
	if (err)
		*c = NULL;
	return err;
}

/*
 * Lock held, dropped while the store removes it. Remove child @c of @p (the
 * caller holds a reference on it): from the store when it lists it, from the
 * overlay and the names of the mount in any case.
 */
static int remove_child(struct mfs_lake *lake, struct mfs_node *p, struct mfs_node *c, int listed)
{
	char *key = strdup(c->key);
	int err = 0;

	if (!key)
		return -ENOMEM;
	if (listed) {
		pthread_mutex_unlock(&lake->nodes.lock);
		mfs_clear_error();
		err = mfs_store_remove(lake->cfg.store, key);
		pthread_mutex_lock(&lake->nodes.lock);
	}
	if (err) {
		record_error(lake, "bronze", key, err);
		err = -EIO;
	} else {
		overlay_del(lake, c);
		mfs_nodes_detach(&lake->nodes, c);
		invalidate_listings(lake, p->key);
	}
	free(key);
	return err;
}

/*
 * unlink (@kind a file) and rmdir (a directory, which must be empty). A
 * handle still writing the file (or not yet released) loses it: see
 * mfs_lake_flush(). An empty directory the store lists is a folder marker
 * object ("dir/") or an empty local directory: it is removed there too.
 */
static int remove_entry(struct mfs_lake *lake, uint64_t parent, const char *name,
			enum mfs_node_kind kind)
{
	struct mfs_dirlist *d = NULL;
	struct mfs_node *p, *c;
	int err, listed;

	pthread_mutex_lock(&lake->nodes.lock);
	err = existing_child(lake, parent, name, kind, &p, &c, &listed);
	if (!err) {
		c->refs++;
		if (kind == MFS_NODE_BRONZE_DIR) {
			err = dir_listing(lake, c, &d);
			if (!err && (d->n || overlay_has_child(lake, c)))
				err = -ENOTEMPTY;
		}
		if (!err)
			err = remove_child(lake, p, c, listed);
		if (!err && kind == MFS_NODE_BRONZE_FILE)
			atomic_fetch_add(&lake->n_deletes, 1);
		mfs_nodes_unref(&lake->nodes, c);
	}
	pthread_mutex_unlock(&lake->nodes.lock);
	dirlist_put(d);
	return err;
}

int mfs_lake_unlink(struct mfs_lake *lake, uint64_t parent, const char *name)
{
	return remove_entry(lake, parent, name, MFS_NODE_BRONZE_FILE);
}

int mfs_lake_rmdir(struct mfs_lake *lake, uint64_t parent, const char *name)
{
	return remove_entry(lake, parent, name, MFS_NODE_BRONZE_DIR);
}

int mfs_lake_mkdir(struct mfs_lake *lake, uint64_t parent, const char *name,
		   struct mfs_attr *out)
{
	struct mfs_node *p, *c;
	int err, listed;

	pthread_mutex_lock(&lake->nodes.lock);
	err = writable_child(lake, parent, name, &p, &c, &listed);
	if (!err && c)
		err = -EEXIST;
	if (err)
		goto out;
	/* S3 has no empty directories: this one lives in memory until a file is written into it. */
	c = new_child(lake, p, name, MFS_NODE_BRONZE_DIR);
	if (!c) {
		err = -ENOMEM;
		goto out;
	}
	c->nlookup++;
	fill_attr(lake, c, out);
out:
	pthread_mutex_unlock(&lake->nodes.lock);
	return err;
}

int mfs_lake_rename(struct mfs_lake *lake, uint64_t parent, uint64_t newparent)
{
	int err;

	pthread_mutex_lock(&lake->nodes.lock);
	if (writable_dir(lake, parent, &err) && writable_dir(lake, newparent, &err))
		err = -EXDEV; /* S3 cannot rename: mv copies, then deletes */
	pthread_mutex_unlock(&lake->nodes.lock);
	return err;
}

int mfs_lake_open(struct mfs_lake *lake, uint64_t ino, int flags, struct mfs_file **out,
		  struct mfs_open_flags *of)
{
	struct mfs_file *f;
	struct mfs_node *n;
	char *key = NULL, etag[80];
	uint64_t size;
	int err = 0;

	if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_APPEND | O_CREAT)))
		return open_write(lake, ino, flags, out, of);
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	memset(of, 0, sizeof(*of));
	pthread_mutex_lock(&lake->nodes.lock);
	n = mfs_nodes_get(&lake->nodes, ino);
	if (!n) {
		err = -ENOENT;
		goto out;
	}
	switch (n->kind) {
	case MFS_NODE_META_FILE:
		render_meta(lake, n->meta_id, &f->text);
		of->direct_io = 1;
		break;
	case MFS_NODE_BRONZE_FILE:
		err = file_revalidate(lake, n);
		if (err)
			goto out;
		key = strdup(n->key);
		if (!key) {
			err = -ENOMEM;
			goto out;
		}
		snprintf(etag, sizeof(etag), "%s", n->etag);
		size = n->size;
		/* The kernel keeps its pages only when they hold this very version. */
		of->keep_cache = strcmp(n->kernel_etag, n->etag) == 0;
		snprintf(n->kernel_etag, sizeof(n->kernel_etag), "%s", n->etag);
		break;
	case MFS_NODE_SILVER_FILE:
	case MFS_NODE_REJECTS_FILE:
		if (n->kind == MFS_NODE_SILVER_FILE)
			err = silver_materialize(lake, n, &f->entry, NULL);
		else
			err = silver_materialize(lake, n, NULL, &f->entry);
		if (err)
			goto out;
		of->keep_cache = strcmp(n->kernel_etag, n->mat_etag) == 0;
		snprintf(n->kernel_etag, sizeof(n->kernel_etag), "%s", n->mat_etag);
		break;
	case MFS_NODE_GOLD_FILE:
	case MFS_NODE_PROFILE_FILE:
		err = gold_materialize(lake, n, &f->entry);
		if (err)
			goto out;
		of->keep_cache = strcmp(n->kernel_etag, n->mat_etag) == 0;
		snprintf(n->kernel_etag, sizeof(n->kernel_etag), "%s", n->mat_etag);
		break;
	case MFS_NODE_LINEAGE_FILE:
		err = gold_materialize(lake, n, NULL);
		if (err)
			goto out;
		if (gold_node(lake, n)->mat_lineage)
			err = mfs_buf_append(&f->text, gold_node(lake, n)->mat_lineage,
					     strlen(gold_node(lake, n)->mat_lineage));
		if (err)
			goto out;
		of->direct_io = 1;
		break;
	default:
		err = -EISDIR;
		goto out;
	}
	n->refs++;
	f->node = n;
	handle_link(&lake->files, &f->h);
out:
	pthread_mutex_unlock(&lake->nodes.lock);
	if (!err && key) {
		err = mfs_bronze_reader_new(lake->cfg.store, lake->pool, key, etag, size,
					    lake->cfg.max_prefetch, &f->reader);
		if (err) {
			mfs_lake_release(lake, f);
			f = NULL;
		} else {
			atomic_fetch_add(&lake->n_opens, 1);
		}
	} else if (err) {
		mfs_buf_free(&f->text);
		if (f->entry)
			mfs_cache_entry_put(f->entry);
		free(f);
		f = NULL;
	} else if (f->entry) {
		atomic_fetch_add(&lake->n_opens, 1);
	}
	free(key);
	*out = f;
	return err;
}

/*
 * A read of a cached file decompresses one chunk after the other; a large
 * one (the kernel sends 1 MiB) is cut at a chunk boundary and its second
 * half decompressed on a read-pool thread at the same time, so a sequential
 * reader of silver or gold uses both cores.
 */
struct read_half {
	struct mfs_cache *cache;
	struct mfs_cache_entry *entry;
	char *buf;
	size_t size;
	uint64_t off;
	ssize_t n;
	int done; /* protected by lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void read_half_run(void *arg)
{
	struct read_half *h = arg;
	ssize_t n = mfs_cache_read(h->cache, h->entry, h->buf, h->size, h->off);

	pthread_mutex_lock(&h->lock);
	h->n = n;
	h->done = 1;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

static ssize_t cached_read(struct mfs_lake *lake, struct mfs_cache_entry *e, char *buf,
			   size_t size, uint64_t off)
{
	uint64_t split = (off + size / 2) / READ_SPLIT_CHUNK * READ_SPLIT_CHUNK;
	struct read_half h = { 0 };
	ssize_t n;

	if (size < 2 * READ_SPLIT_CHUNK || split <= off || split >= off + size || !lake->rpool)
		return mfs_cache_read(lake->cfg.cache, e, buf, size, off);
	h.cache = lake->cfg.cache;
	h.entry = e;
	h.buf = buf + (split - off);
	h.size = (size_t)(off + size - split);
	h.off = split;
	pthread_mutex_init(&h.lock, NULL);
	pthread_cond_init(&h.cond, NULL);
	if (mfs_pool_submit(lake->rpool, read_half_run, &h)) {
		h.n = mfs_cache_read(lake->cfg.cache, e, h.buf, h.size, h.off);
		h.done = 1;
	}
	n = mfs_cache_read(lake->cfg.cache, e, buf, (size_t)(split - off), off);
	pthread_mutex_lock(&h.lock);
	while (!h.done)
		pthread_cond_wait(&h.cond, &h.lock);
	pthread_mutex_unlock(&h.lock);
	pthread_mutex_destroy(&h.lock);
	pthread_cond_destroy(&h.cond);
	if (n < 0 || (size_t)n < split - off)
		return n; /* an error, or the end of the file in the first half */
	if (h.n < 0)
		return h.n == -EBADMSG || h.n == -ESTALE ? h.n : n;
	return n + h.n;
}

ssize_t mfs_lake_read(struct mfs_lake *lake, struct mfs_file *f, char *buf, size_t size, off_t off)
{
	ssize_t n;

	if (off < 0)
		return -EINVAL;
	if (f->writer)
		return -EOPNOTSUPP; /* O_RDWR: what is written is not readable before it is an object */
	if (f->entry) {
		n = cached_read(lake, f->entry, buf, size, (uint64_t)off);
		if (n == -EBADMSG || n == -ESTALE) {
			/* A damaged chunk, or the entry was evicted or purged while
			 * open: computed again, never served. */
			pthread_mutex_lock(&lake->nodes.lock);
			mfs_cache_entry_put(f->entry);
			f->entry = NULL;
			f->node->mat_etag[0] = '\0';
			if (f->node->kind == MFS_NODE_SILVER_FILE)
				n = silver_materialize(lake, f->node, &f->entry, NULL);
			else if (f->node->kind == MFS_NODE_REJECTS_FILE)
				n = silver_materialize(lake, f->node, NULL, &f->entry);
			else
				n = gold_materialize(lake, f->node, &f->entry);
			pthread_mutex_unlock(&lake->nodes.lock);
			if (!n)
				n = mfs_cache_read(lake->cfg.cache, f->entry, buf, size, (uint64_t)off);
		}
		atomic_fetch_add(&lake->n_reads, 1);
		if (n >= 0) {
			atomic_fetch_add(&lake->bytes_read, (unsigned long long)n);
			return n;
		}
		atomic_fetch_add(&lake->n_read_errors, 1);
		return -EIO;
	}
	if (!f->reader) {
		if ((size_t)off >= f->text.len)
			return 0;
		if (size > f->text.len - (size_t)off)
			size = f->text.len - (size_t)off;
		memcpy(buf, f->text.data + off, size);
		return (ssize_t)size;
	}
	mfs_clear_error();
	n = mfs_bronze_read(f->reader, buf, size, (uint64_t)off);
	atomic_fetch_add(&lake->n_reads, 1);
	if (n >= 0) {
		atomic_fetch_add(&lake->bytes_read, (unsigned long long)n);
		return n;
	}
	atomic_fetch_add(&lake->n_read_errors, 1);
	if (n == -ESTALE) {
		mfs_set_error("object changed during the read (ETag differs from the one at open); "
			      "reopen the file to read the new version");
		pthread_mutex_lock(&lake->nodes.lock);
		f->node->attr_time = 0; /* the next stat looks again */
		pthread_mutex_unlock(&lake->nodes.lock);
	}
	record_error(lake, "bronze", f->node->key, (int)n);
	/* Whatever the store said, the reader sees EIO: never partial or wrong bytes. */
	return n == -ECANCELED ? -EINTR : -EIO;
}

void mfs_lake_release(struct mfs_lake *lake, struct mfs_file *f)
{
	if (!f)
		return;
	mfs_bronze_reader_free(f->reader);
	if (f->writer) {
		int committed;

		/* An empty file closed before anything was written; or no flush came at all. */
		(void)mfs_writer_size(f->writer, &committed);
		if (!committed && mfs_lake_flush(lake, f, 1))
			mfs_err("bronze/%s: %s", f->node->key, mfs_last_error());
		/* Aborts the upload when no flush committed it. */
		mfs_writer_free(f->writer);
		pthread_mutex_lock(&lake->nodes.lock);
		if (f->node->writers && !--f->node->writers) {
			f->node->attr_time = 0; /* ask the store again */
			overlay_del(lake, f->node);
		}
		pthread_mutex_unlock(&lake->nodes.lock);
	}
	if (f->entry)
		mfs_cache_entry_put(f->entry);
	pthread_mutex_lock(&lake->nodes.lock);
	handle_unlink(&f->h);
	if (f->node)
		mfs_nodes_unref(&lake->nodes, f->node);
	pthread_mutex_unlock(&lake->nodes.lock);
	mfs_buf_free(&f->text);
	free(f);
}

/* ---- extended attributes ---- */

static const char bronze_xattrs[] = "user.medallion.source\0user.medallion.etag\0";
static const char silver_xattrs[] = "user.medallion.source\0user.medallion.etag\0"
				    "user.medallion.rows_in\0user.medallion.rows_out\0"
				    "user.medallion.rejected\0user.medallion.duplicates\0"
				    "user.medallion.schema\0user.medallion.fingerprint\0";

static const char gold_xattrs[] = "user.medallion.sources\0user.medallion.fingerprint\0"
				  "user.medallion.schema\0";

/* Lock held. The value of xattr @name of @n into @out; 0 or -ENODATA. */
static int xattr_value(const struct mfs_node *n, const char *name, struct mfs_buf *out)
{
	const char *v = name + strlen("user.medallion.");

	if (strncmp(name, "user.medallion.", strlen("user.medallion.")) != 0)
		return -ENODATA;
	if (n->kind == MFS_NODE_GOLD_FILE || n->kind == MFS_NODE_PROFILE_FILE) {
		if (strcmp(v, "sources") == 0)
			return mfs_buf_appendf(out, "%llu", (unsigned long long)n->mat_rows_in);
		if (strcmp(v, "fingerprint") == 0)
			return mfs_buf_appendf(out, "%s", n->mat_fingerprint);
		if (strcmp(v, "schema") == 0)
			return mfs_buf_appendf(out, "%s", n->mat_schema ? n->mat_schema : "[]");
		return -ENODATA;
	}
	if (strcmp(v, "source") == 0)
		return mfs_buf_appendf(out, "%s", n->key);
	if (strcmp(v, "etag") == 0)
		return mfs_buf_appendf(out, "%s", n->etag);
	if (n->kind != MFS_NODE_SILVER_FILE)
		return -ENODATA;
	if (strcmp(v, "rows_in") == 0)
		return mfs_buf_appendf(out, "%llu", (unsigned long long)n->mat_rows_in);
	if (strcmp(v, "rows_out") == 0)
		return mfs_buf_appendf(out, "%llu", (unsigned long long)n->mat_rows_out);
	if (strcmp(v, "rejected") == 0)
		return mfs_buf_appendf(out, "%llu", (unsigned long long)n->mat_rejected);
	if (strcmp(v, "duplicates") == 0)
		return mfs_buf_appendf(out, "%llu", (unsigned long long)n->mat_duplicates);
	if (strcmp(v, "schema") == 0)
		return mfs_buf_appendf(out, "%s", n->mat_schema ? n->mat_schema : "[]");
	if (strcmp(v, "fingerprint") == 0)
		return mfs_buf_appendf(out, "%s", n->mat_fingerprint);
	return -ENODATA;
}

/* The xattr names of @n (NUL-separated, @len bytes), or NULL. */
static const char *xattr_list(const struct mfs_node *n, size_t *len)
{
	switch (n->kind) {
	case MFS_NODE_BRONZE_FILE:
		*len = sizeof(bronze_xattrs) - 1;
		return bronze_xattrs;
	case MFS_NODE_SILVER_FILE:
		*len = sizeof(silver_xattrs) - 1;
		return silver_xattrs;
	case MFS_NODE_GOLD_FILE:
	case MFS_NODE_PROFILE_FILE:
		*len = sizeof(gold_xattrs) - 1;
		return gold_xattrs;
	default:
		*len = 0;
		return NULL;
	}
}

static int known_xattr(const char *list, size_t len, const char *name)
{
	const char *p;

	for (p = list; p < list + len; p += strlen(p) + 1)
		if (strcmp(p, name) == 0)
			return 1;
	return 0;
}

ssize_t mfs_lake_getxattr(struct mfs_lake *lake, uint64_t ino, const char *name, char *buf,
			  size_t size)
{
	struct mfs_buf value = MFS_BUF_INIT;
	const char *list;
	struct mfs_node *n;
	size_t len = 0;
	ssize_t r = 0;

	pthread_mutex_lock(&lake->nodes.lock);
	n = mfs_nodes_get(&lake->nodes, ino);
	list = n ? xattr_list(n, &len) : NULL;
	/* Unknown names answer at once, without computing anything. */
	if (!list || !known_xattr(list, len, name)) {
		r = -ENODATA;
		goto out;
	}
	if (n->kind == MFS_NODE_SILVER_FILE)
		r = silver_materialize(lake, n, NULL, NULL);
	else if (n->kind != MFS_NODE_BRONZE_FILE)
		r = gold_materialize(lake, n, NULL);
	if (r)
		goto out;
	r = xattr_value(n, name, &value);
	if (r)
		goto out;
	r = (ssize_t)value.len;
	if (size && size < value.len)
		r = -ERANGE;
	else if (size)
		memcpy(buf, value.data, value.len);
out:
	pthread_mutex_unlock(&lake->nodes.lock);
	mfs_buf_free(&value);
	return r;
}

ssize_t mfs_lake_listxattr(struct mfs_lake *lake, uint64_t ino, char *buf, size_t size)
{
	const char *list = NULL;
	struct mfs_node *n;
	size_t len = 0;

	pthread_mutex_lock(&lake->nodes.lock);
	n = mfs_nodes_get(&lake->nodes, ino);
	list = n ? xattr_list(n, &len) : NULL;
	pthread_mutex_unlock(&lake->nodes.lock);
	if (size == 0 || !list)
		return (ssize_t)len;
	if (size < len)
		return -ERANGE;
	memcpy(buf, list, len);
	return (ssize_t)len;
}
