/*
 * materialize.h - the one place that wires store → transforms → cache: turn a
 * bronze object into its cached silver file (and its rejects).
 *
 * FUSE-free and blocking: fs/ calls it from its transform pool, never from a
 * FUSE thread.
 */
#ifndef MFS_MATERIALIZE_H
#define MFS_MATERIALIZE_H

#include <stdint.h>

#include "../cache/cache.h"
#include "../store/store.h"
#include "../transforms/pipeline.h"
#include "naming.h"
#include "pool.h"
#include "publish.h"

/* What every transform needs from the mount: the same for every object. */
struct mfs_transform_env {
	struct mfs_store *store;
	struct mfs_pool *io_pool;   /* read-ahead of bronze objects */
	struct mfs_cache *cache;
	const struct mfs_pipeline *pipeline;
	const char *tmpdir;
	size_t max_prefetch;
	struct mfs_publish *publish; /* -o publish, else NULL */
};

struct mfs_silver_source {
	struct mfs_store *store;
	struct mfs_pool *io_pool;   /* read-ahead of the bronze object */
	struct mfs_cache *cache;
	const struct mfs_pipeline *pipeline;
	const char *key;            /* bronze key */
	const char *etag;           /* the version to transform (pinned) */
	uint64_t size;
	struct mfs_tabular tab;
	const char *tmpdir;
	size_t max_prefetch;
	struct mfs_publish *publish;
	/* Its mount path ("silver/…"), under which it is published; NULL: not looked for. */
	const char *publish_path;
};

/* @src for one object (@key and @etag are not copied). */
void mfs_silver_source_init(struct mfs_silver_source *src, const struct mfs_transform_env *env,
			    const char *key, const char *etag, uint64_t size,
			    const struct mfs_tabular *tab);

/* What a materialised silver file carries (its cache metadata). */
struct mfs_silver_meta {
	uint64_t size;
	uint64_t rows_in, rows_out, rejected, duplicates, warnings;
	char *schema;            /* JSON; malloc'd */
	char fingerprint[33];    /* hex */
	int from_publish;        /* read from the bucket (-o publish), not computed here */
};

void mfs_silver_meta_free(struct mfs_silver_meta *m);

/* The transform fingerprint of @key under @p (pipeline sections + format version). */
void mfs_silver_fingerprint(const struct mfs_pipeline *p, const char *key,
			    const struct mfs_tabular *tab, char out[33]);

/*
 * The cached silver file of @src, transforming it first when missing
 * (single-flight); with @src->publish_path a result published by another
 * mount with the same lineage is fetched instead. On success *@entry holds a
 * reference (put it with mfs_cache_entry_put) and @meta is filled;
 * *@produced says whether this call ran the transform. -EIO with @why for an object that is not a table
 * or a failed `fail` expectation.
 */
int mfs_materialize_silver(const struct mfs_silver_source *src, struct mfs_cache_entry **entry,
			   struct mfs_silver_meta *meta, int *produced, char *why, size_t whylen);

/* Drop the cached silver file and rejects of @src (damaged, or half evicted). */
void mfs_materialize_forget(const struct mfs_silver_source *src);

/* The rejects of a materialised silver file (CSV "line,reason,raw"). */
int mfs_materialize_rejects(const struct mfs_silver_source *src, struct mfs_cache_entry **entry);

#endif
