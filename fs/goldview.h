/*
 * goldview.h - the composition for gold/: which silver files feed a view,
 * their combined schemas, per-file partial results in the cache, and the
 * view's file (SPEC §5). FUSE-free and blocking: fs/ calls it from the
 * transform pool.
 */
#ifndef MFS_GOLDVIEW_H
#define MFS_GOLDVIEW_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "../cache/cache.h"
#include "../store/store.h"
#include "../transforms/pipeline.h"
#include "materialize.h"
#include "pool.h"

struct mfs_goldview_ctx {
	struct mfs_transform_env env;
	/* statistics, owned by the caller */
	atomic_ullong *silver_transforms; /* silver files computed for gold */
	atomic_ullong *partials;          /* per-file partial results computed */
};

struct mfs_goldview_result {
	struct mfs_cache_entry *entry; /* the view's file; put with mfs_cache_entry_put */
	uint64_t rows;
	uint64_t nsources;             /* input objects */
	struct timespec mtime;         /* newest LastModified among the inputs */
	char *schema;                  /* JSON, malloc'd */
	char *lineage;                 /* JSON {"view":..,"inputs":[{"key","etag"}..]}, malloc'd */
	char fingerprint[33];
	char lineage_hash[33];         /* what -o publish compares (publish.h) */
	int from_publish;              /* read from the bucket, not computed */
	int computed;                  /* the view itself was computed (not from the cache) */
};

void mfs_goldview_result_free(struct mfs_goldview_result *r);

/*
 * Mount-time checks of every [gold] view: the SQL parses and names only
 * columns that declared datasets have. On error "FILE:LINE:COL: message"
 * in @msg and -EINVAL.
 */
int mfs_goldview_check(const struct mfs_pipeline *p, char *msg, size_t mlen);

/* The view's file, computed (incrementally) when missing. -EIO with @why. */
int mfs_goldview_materialize(const struct mfs_goldview_ctx *ctx, const struct mfs_gold_view *view,
			     struct mfs_goldview_result *res, char *why, size_t whylen);

/* gold/_profile/NAME.csv for the dataset under @prefix. */
int mfs_goldview_profile(const struct mfs_goldview_ctx *ctx, const char *name, const char *prefix,
			 struct mfs_goldview_result *res, char *why, size_t whylen);

#endif
