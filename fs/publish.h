/*
 * publish.h - -o publish (SPEC §8): every silver and gold file a mount
 * computes is also written back to the bucket, where other mounts find it
 * (and serve it instead of computing it again when its lineage matches) and
 * Spark, Athena or DuckDB read it directly.
 *
 * Layout under the publish root (keys of the publish store):
 *
 *   silver/DIR/NAME.csv                 the silver file of mount path silver/DIR/NAME.csv
 *   silver/DIR/_NAME.csv.lineage.json   its lineage (source key, ETag, fingerprint, counts,
 *                                       schema) and the lineage hash
 *   silver/DIR/_NAME.csv.rejects.csv    its rejects, so other mounts serve them too
 *   silver/DIR/_schema.sql              CREATE TABLE for the directory (the last published
 *                                       file's schema)
 *   gold/VIEW/VIEW.csv                  gold/VIEW.csv: one directory per view, a table location
 *   gold/VIEW/_VIEW.csv.lineage.json
 *   gold/VIEW/_schema.sql
 *
 * Names starting with '_' are skipped by Spark, Hive and Athena when they read
 * a directory. Every published object carries x-amz-meta-medallion-lineage:
 * the lineage hash (32 hex digits), far below S3's 2 KB of user metadata; the
 * full lineage is in the sidecar, written last: a sidecar names the ETags of
 * the objects it describes, and a reader fetches them pinned to those ETags,
 * so a half-published or since replaced result is never served.
 *
 * DESIGN (threads): publishing runs on its own pool, its uploads' parts on
 * the upload pool (a job never waits for a pool it runs on). Lookups run on
 * the caller's thread (a transform pool thread). Nothing is shared but the
 * counters, which are atomics. An unmount aborts jobs in flight (SPEC §2:
 * bounded shutdown); what they had not published is computed again later.
 */
#ifndef MFS_PUBLISH_H
#define MFS_PUBLISH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../cache/cache.h"
#include "../store/store.h"
#include "pool.h"

struct mfs_publish;

/*
 * @st (the publish root) and both pools are borrowed and outlive it;
 * @root_url ("s3://lake/", copied) is where _schema.sql says the tables are.
 */
int mfs_publish_new(struct mfs_store *st, const char *root_url, struct mfs_pool *jobs,
		    struct mfs_pool *parts, struct mfs_publish **out);
void mfs_publish_free(struct mfs_publish *p);

/* Results published, failures to publish, results served from the bucket. */
void mfs_publish_counters(struct mfs_publish *p, uint64_t *published, uint64_t *failures,
			  uint64_t *hits);
void mfs_publish_count_hit(struct mfs_publish *p);

/* A computed file as published, and as read back by another mount. */
struct mfs_publish_record {
	char hash[33];       /* the lineage hash */
	char etag[80];       /* of the published file */
	char rejects_etag[80]; /* silver: of its rejects ("" none) */
	uint64_t size, rows_in, rows_out, rejected, duplicates, warnings;
	uint64_t rows, nsources; /* gold */
	struct timespec mtime;
	char fingerprint[33];
	char *schema;        /* JSON array, malloc'd */
	char *lineage;       /* gold: the inputs JSON; silver: {"key","etag"}; malloc'd */
	char *sidecar;       /* lookups: the sidecar's text, malloc'd */
};
void mfs_publish_record_free(struct mfs_publish_record *r);

/* The lineage hash of silver file of @key at @etag computed with @fingerprint. */
void mfs_publish_silver_hash(const char *key, const char *etag, const char *fingerprint,
			     char out[33]);

/*
 * The published result of mount path @path ("silver/…" or "gold/…") when its
 * lineage hash is @hash: 0 with @rec filled, -ENOENT when there is none or
 * it has another lineage, another -errno when the bucket could not say.
 */
int mfs_publish_lookup(struct mfs_publish *p, const char *path, const char *hash,
		       struct mfs_publish_record *rec);

/* @rec from sidecar text @text (NUL-terminated), if its lineage hash is @hash; else -ENOENT. */
int mfs_publish_parse(const char *text, const char *hash, struct mfs_publish_record *rec);

/*
 * Stream the published file of @path (@rejects: its rejects) at the ETag of
 * @rec into @sink. -ESTALE when it was replaced since the sidecar was read.
 */
int mfs_publish_read(struct mfs_publish *p, const char *path, int rejects,
		     const struct mfs_publish_record *rec, mfs_store_sink_fn sink, void *arg);

/*
 * Publish the file of mount path @path from cache entry @table (and @rejects,
 * may be NULL) described by @rec, in the background. Takes references on the
 * entries and copies @rec; failures are logged and counted.
 */
int mfs_publish_submit(struct mfs_publish *p, struct mfs_cache *cache, const char *path,
		       struct mfs_cache_entry *table, struct mfs_cache_entry *rejects,
		       const struct mfs_publish_record *rec);

#endif
