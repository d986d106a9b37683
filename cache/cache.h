/*
 * cache.h - the LMDB + zstd cache of materialised files (SPEC §7).
 *
 * Knows nothing of S3 or transforms: an entry is an opaque key (fs/ builds
 * it from source key + ETag + fingerprint), a byte stream stored as
 * zstd-compressed chunks (each with a checksum, so a read at offset X
 * decompresses one chunk and a damaged chunk is detected, never served) and
 * a metadata blob the caller defines (sizes, row counts, schema, lineage).
 *
 * Entries are produced by a callback the caller gives (single-flight:
 * concurrent requests for the same missing key run one producer, the others
 * wait for it). Chunks are written in short write transactions as the
 * producer goes and the entry becomes visible with a final "complete"
 * record, so a killed producer leaves only orphans, cleaned at the next
 * open; a half-written entry is never served. The environment is bounded by
 * max_bytes; least-recently-used entries are evicted before the map fills.
 * Several processes may share the directory.
 */
#ifndef MFS_CACHE_H
#define MFS_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mfs_cache;
struct mfs_cache_entry;  /* a reference to a complete entry */
struct mfs_cache_writer; /* what a producer writes through */

struct mfs_cache_config {
	const char *dir;     /* created if missing */
	uint64_t max_bytes;  /* bound of the LMDB map; capped by free disk */
	size_t chunk_size;   /* 0: 256 KiB */
};

int mfs_cache_open(const struct mfs_cache_config *cfg, struct mfs_cache **out, char *msg,
		   size_t msglen);
void mfs_cache_close(struct mfs_cache *c);

/* Append bytes of the entry's content; 0 or -errno (-ENOSPC: cannot fit). */
int mfs_cache_write(struct mfs_cache_writer *w, const void *data, size_t len);
/* Set (replace) the entry's metadata blob; stored with the complete record. */
int mfs_cache_set_meta(struct mfs_cache_writer *w, const void *meta, size_t len);

/*
 * Produce the entry: write content with mfs_cache_write(), metadata with
 * mfs_cache_set_meta(), return 0 to complete it or -errno to abandon it
 * (then nothing is stored and every waiter gets that error).
 */
typedef int (*mfs_cache_producer_fn)(void *arg, struct mfs_cache_writer *w);

/* The complete entry for @key, or -ENOENT. Marks it recently used. */
int mfs_cache_lookup(struct mfs_cache *c, const void *key, size_t klen,
		     struct mfs_cache_entry **out);

/*
 * The complete entry for @key, producing it with @fn(@arg) when missing.
 * Concurrent calls with the same key in this process run @fn once; the
 * others wait and share its result. *@produced tells whether this call ran
 * the producer (for statistics).
 */
int mfs_cache_get(struct mfs_cache *c, const void *key, size_t klen, mfs_cache_producer_fn fn,
		  void *arg, struct mfs_cache_entry **out, int *produced);

uint64_t mfs_cache_entry_size(const struct mfs_cache_entry *e);
/* The metadata blob; valid until mfs_cache_entry_put(). */
const void *mfs_cache_entry_meta(const struct mfs_cache_entry *e, size_t *len);

/*
 * Up to @len bytes at @off. A chunk whose checksum fails is deleted with its
 * entry and the read answers -EBADMSG: the caller recomputes.
 */
ssize_t mfs_cache_read(struct mfs_cache *c, struct mfs_cache_entry *e, void *buf, size_t len,
		       uint64_t off);

void mfs_cache_entry_put(struct mfs_cache_entry *e);
/* Another reference to @e (for a second owner, e.g. a background job); returns @e. */
struct mfs_cache_entry *mfs_cache_entry_get(struct mfs_cache_entry *e);

/* Drop the entry for @key if present (e.g. after -EBADMSG). */
int mfs_cache_invalidate(struct mfs_cache *c, const void *key, size_t klen);

struct mfs_cache_stats {
	uint64_t entries;
	uint64_t bytes_stored;   /* compressed, as LMDB holds them */
	uint64_t bytes_content;  /* uncompressed */
	uint64_t map_size;
	uint64_t hits, misses, evictions, corrupt_chunks; /* this process */
};
int mfs_cache_get_stats(struct mfs_cache *c, struct mfs_cache_stats *st);

/* Delete every entry. */
int mfs_cache_purge(struct mfs_cache *c);

#endif
