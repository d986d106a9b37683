/*
 * bronze.h - reading one bronze object through an open file: ranged GETs
 * pinned to the ETag seen at open, with a sequential read-ahead window that
 * grows while the reader keeps up.
 */
#ifndef MFS_BRONZE_H
#define MFS_BRONZE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../store/store.h"
#include "pool.h"

struct mfs_bronze_reader;

/*
 * Process-wide cap on read-ahead memory (all open files together); a window
 * that does not fit is made smaller, down to the reader's own request.
 */
void mfs_bronze_set_budget(size_t bytes);

/*
 * Process-wide cap on the blocks random reads keep (1 MiB each, oldest of a
 * file dropped first, freed at close); 0 turns the block cache off.
 */
void mfs_bronze_set_block_cache(size_t bytes);
/* Random reads answered from the block cache, process-wide. */
uint64_t mfs_bronze_block_hits(void);

/* Ranged GETs started and bytes fetched from the store, process-wide. */
void mfs_bronze_counters(uint64_t *gets, uint64_t *bytes);

/* @key and @etag are copied. */
int mfs_bronze_reader_new(struct mfs_store *st, struct mfs_pool *pool, const char *key,
			  const char *etag, uint64_t size, size_t max_prefetch,
			  struct mfs_bronze_reader **out);
/*
 * Up to @size bytes at @off; short only at the end of the object. -ESTALE
 * when the object changed since open (no byte of the new version is
 * returned), other -errno from the store after its retries.
 */
ssize_t mfs_bronze_read(struct mfs_bronze_reader *r, char *buf, size_t size, uint64_t off);
/* Cancels read-ahead in flight and waits for it to stop. */
void mfs_bronze_reader_free(struct mfs_bronze_reader *r);

#endif
