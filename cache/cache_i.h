/*
 * cache_i.h - the cache's on-disk records, for cache.c, its unit test and a
 * cache-record fuzz target. fs/ uses cache.h only.
 *
 * The LMDB environment holds six named databases. Integers inside keys are
 * big-endian (so memcmp order is numeric order); integers inside values are
 * little-endian. Every value begins with a format version byte.
 *
 *   entries  khash[16]            -> header: the complete record of an entry
 *   chunks   id:be64 idx:be32     -> chunk record (zstd or raw bytes)
 *   pending  id:be64              -> in-progress or dead entry (chunks to collect)
 *   live     id:be64              -> atime_ms:le64 khash[16]
 *   lru      atime_ms:be64 id:be64 -> khash[16]
 *   info     "format" | "next_id" | "totals" -> le32 | le64 | le64 stored, le64 content
 *
 * khash is the XXH3-128 of the caller's key (LMDB keys are limited to 511
 * bytes; S3 keys alone may reach 1024); the header keeps the full key, and a
 * lookup compares it, so a hash collision is a miss, never a wrong entry.
 *
 * Invariant: chunks of an id exist only while "pending" or "live" holds
 * that id. Each step that moves an id between the two is one transaction.
 */
#ifndef MFS_CACHE_I_H
#define MFS_CACHE_I_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"

/* Bumped when a record layout changes; a cache of another format is purged at open. */
#define MFS_CACHE_FORMAT 1

#define MFS_CACHE_KHASH 16

/* Header flags: none defined yet; unknown bits make the header unreadable. */
#define MFS_CACHE_HDR_FLAGS_KNOWN 0u

/* The complete record of an entry ("entries" value). */
struct mfs_cache_hdr {
	uint8_t version;
	uint8_t flags;
	uint32_t chunk_size;
	uint32_t nchunks;  /* ceil(size / chunk_size) */
	uint64_t id;
	uint64_t size;     /* content bytes */
	uint64_t stored;   /* bytes of its chunk records */
	uint64_t ctime_ms; /* when it was completed */
	uint32_t klen, mlen;
	const uint8_t *key;  /* into the decoded buffer */
	const uint8_t *meta; /* into the decoded buffer */
};

#define MFS_CACHE_HDR_FIXED 64

size_t mfs_cache_hdr_size(uint32_t klen, uint32_t mlen);
/* @buf holds mfs_cache_hdr_size() bytes; key and meta are copied from @h. */
void mfs_cache_hdr_encode(const struct mfs_cache_hdr *h, void *buf);
/* 0, or -EBADMSG when @buf is not a well-formed header (checksum included). */
int mfs_cache_hdr_decode(const void *buf, size_t len, struct mfs_cache_hdr *h);

/* A chunk record ("chunks" value): a 16-byte head, then the payload. */
enum { MFS_CACHE_CODEC_RAW = 0, MFS_CACHE_CODEC_ZSTD = 1 };
struct mfs_cache_chunk {
	uint8_t version;
	uint8_t codec;
	uint32_t raw_len;      /* decompressed length */
	uint64_t sum;          /* XXH3-64 of the decompressed bytes, seeded by id and index */
	const uint8_t *payload; /* into the decoded buffer */
	size_t plen;
};

#define MFS_CACHE_CHUNK_HEAD 16

void mfs_cache_chunk_encode_head(const struct mfs_cache_chunk *ck, void *buf);
/* 0 or -EBADMSG. */
int mfs_cache_chunk_decode(const void *buf, size_t len, struct mfs_cache_chunk *ck);
uint64_t mfs_cache_chunk_seed(uint64_t id, uint32_t idx);
/*
 * Decompress @ck into @dst (exactly @dstlen bytes) and verify its checksum:
 * 0 or -EBADMSG. @dctx may be NULL (one is made for the call).
 */
struct ZSTD_DCtx_s;
int mfs_cache_chunk_unpack(const struct mfs_cache_chunk *ck, uint64_t id, uint32_t idx, void *dst,
			   size_t dstlen, struct ZSTD_DCtx_s *dctx);

/* An in-progress ("producing") or dead entry ("pending" value). */
enum { MFS_CACHE_PENDING_PRODUCING = 1, MFS_CACHE_PENDING_DEAD = 2 };
struct mfs_cache_pending {
	uint8_t version;
	uint8_t state;
	uint32_t pid;       /* producer */
	uint64_t start;     /* producer's start time, clock ticks after boot (/proc/PID/stat) */
	uint64_t boot;      /* hash of the boot id the producer ran under */
	uint64_t ctime_ms;
};

#define MFS_CACHE_PENDING_SIZE 40

void mfs_cache_pending_encode(const struct mfs_cache_pending *p, void *buf);
/*
 * 0, or -EBADMSG unless @buf is exactly MFS_CACHE_PENDING_SIZE bytes with a
 * known version and state, a pid in 1..INT_MAX and zero reserved bytes (so a
 * record that decodes re-encodes to the same bytes).
 */
int mfs_cache_pending_decode(const void *buf, size_t len, struct mfs_cache_pending *p);

/* Test-only view of the databases: record counts and page use. */
struct mfs_cache_debug {
	uint64_t entries, chunks, pending, live, lru;
	uint64_t used_pages;   /* pages held by the trees */
	uint64_t budget_pages; /* this handle's bound */
	uint64_t last_pgno;    /* high-water mark of the file */
	unsigned psize;
};
int mfs_cache_debug_counts(struct mfs_cache *c, struct mfs_cache_debug *d);

#endif
