/*
 * fuzz_cache.c - libFuzzer target for the cache's on-disk records
 * (cache_i.h): entry headers, chunk records, pending records (strict:
 * exactly one encoding decodes), and the
 * decompress-and-verify step a read goes through.
 *
 * The cache file outlives the daemon and may be damaged on disk, so a
 * record is hostile input like any other. Each input is taken two ways.
 * First as a record of each kind as it is: a decode must not read past it,
 * a header that decodes must re-encode to the very same bytes, and a chunk
 * that decodes and unpacks must hash to its checksum. Then as content: the
 * real encoders build a valid header and chunk records (zstd and raw) around
 * it, which must decode and unpack to exactly that content; moved to another
 * entry or index, cut short, or with one bit flipped at a place chosen by the
 * input, they must either be refused or (if the flip hit nothing that
 * matters) still give exactly the original bytes — a damaged chunk is
 * reported, never served.
 *
 * A failed check prints what and aborts, which the fuzzer and replay.c
 * report as a crash.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#include "cache_i.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(cond)                                                                        \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "fuzz_cache: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* Must match cache.c: the chunk sizes a header may carry. */
#define MIN_CHUNK 4096u
#define MAX_CHUNK (64u << 20)
/* A chunk claiming more is not unpacked here: it would only cost time. */
#define MAX_UNPACK (256u << 10)

static ZSTD_DCtx *dctx;

/* A copy in a buffer of exactly @len bytes, so ASan sees a read past it. */
static uint8_t *dup_exact(const void *p, size_t len)
{
	uint8_t *d = malloc(len ? len : 1);

	ASSERT(d);
	if (len)
		memcpy(d, p, len);
	return d;
}

/* Unpack through both paths (own context, shared one); they must agree. */
static int unpack(const struct mfs_cache_chunk *ck, uint64_t id, uint32_t idx, uint8_t *dst,
		  size_t len)
{
	uint8_t *dst2 = malloc(len ? len : 1);
	int a, b;

	ASSERT(dst2);
	a = mfs_cache_chunk_unpack(ck, id, idx, dst, len, NULL);
	b = mfs_cache_chunk_unpack(ck, id, idx, dst2, len, dctx);
	ASSERT(a == 0 || a == -EBADMSG);
	ASSERT(a == b);
	ASSERT(a || !len || memcmp(dst, dst2, len) == 0);
	free(dst2);
	return a;
}

/* ---- the input as a record ---- */

static void raw_header(const uint8_t *data, size_t size)
{
	struct mfs_cache_hdr h;
	uint8_t *again;

	if (mfs_cache_hdr_decode(data, size, &h) != 0)
		return;
	ASSERT(mfs_cache_hdr_size(h.klen, h.mlen) == size);
	ASSERT(h.key == data + MFS_CACHE_HDR_FIXED && h.meta == h.key + h.klen);
	ASSERT(h.id != 0 && h.chunk_size >= MIN_CHUNK && h.chunk_size <= MAX_CHUNK);
	ASSERT(h.nchunks == h.size / h.chunk_size + (h.size % h.chunk_size != 0));
	/* every byte is a field, reserved zero or the checksum: nothing else gets by */
	again = malloc(size);
	ASSERT(again);
	mfs_cache_hdr_encode(&h, again);
	ASSERT(memcmp(again, data, size) == 0);
	free(again);
}

static void raw_chunk(const uint8_t *data, size_t size)
{
	struct mfs_cache_chunk ck;
	uint8_t *dst;

	if (mfs_cache_chunk_decode(data, size, &ck) != 0)
		return;
	ASSERT(ck.payload == data + MFS_CACHE_CHUNK_HEAD && ck.plen == size - MFS_CACHE_CHUNK_HEAD);
	ASSERT(ck.codec == MFS_CACHE_CODEC_RAW || ck.codec == MFS_CACHE_CODEC_ZSTD);
	ASSERT(ck.codec != MFS_CACHE_CODEC_RAW || ck.plen == ck.raw_len);
	if (ck.raw_len > MAX_UNPACK)
		return;
	dst = malloc(ck.raw_len ? ck.raw_len : 1);
	ASSERT(dst);
	/* the seeds are written for entry 1, chunk 0 */
	if (unpack(&ck, 1, 0, dst, ck.raw_len) == 0) {
		ASSERT(XXH3_64bits_withSeed(dst, ck.raw_len, mfs_cache_chunk_seed(1, 0)) == ck.sum);
		/* the same record under another entry or index is refused */
		ASSERT(unpack(&ck, 2, 0, dst, ck.raw_len) == -EBADMSG);
		ASSERT(unpack(&ck, 1, 1, dst, ck.raw_len) == -EBADMSG);
	}
	/* a reader expecting another length is refused whatever the payload */
	ASSERT(unpack(&ck, 1, 0, dst, ck.raw_len ? ck.raw_len - 1 : 1) == -EBADMSG);
	free(dst);
}

static void raw_pending(const uint8_t *data, size_t size)
{
	struct mfs_cache_pending p;
	uint8_t buf[MFS_CACHE_PENDING_SIZE];

	if (mfs_cache_pending_decode(data, size, &p) != 0)
		return;
	ASSERT(size == MFS_CACHE_PENDING_SIZE);
	ASSERT(p.version == MFS_CACHE_FORMAT);
	ASSERT(p.state == MFS_CACHE_PENDING_PRODUCING || p.state == MFS_CACHE_PENDING_DEAD);
	ASSERT(p.pid != 0 && p.pid <= INT32_MAX);
	/* strict: every byte is a field or reserved zero, so nothing else gets by */
	mfs_cache_pending_encode(&p, buf);
	ASSERT(memcmp(buf, data, size) == 0);
}

/* A pending record built from the input's fields: it decodes to them, and
 * cut, lengthened or with a reserved byte, version, state or pid spoiled it
 * is refused. */
static void built_pending(uint64_t h1, uint64_t h2)
{
	struct mfs_cache_pending p, d;
	uint8_t buf[MFS_CACHE_PENDING_SIZE + 1];
	static const size_t reserved[] = { 2, 3, 32, 39 };
	unsigned i;

	memset(&p, 0, sizeof(p));
	p.version = MFS_CACHE_FORMAT;
	p.state = (h1 & 1) ? MFS_CACHE_PENDING_PRODUCING : MFS_CACHE_PENDING_DEAD;
	p.pid = 1 + (uint32_t)((h1 >> 1) % INT32_MAX);
	p.start = h2;
	p.boot = h1 ^ h2;
	p.ctime_ms = h2 >> 3;
	mfs_cache_pending_encode(&p, buf);
	buf[MFS_CACHE_PENDING_SIZE] = (uint8_t)h1;
	ASSERT(mfs_cache_pending_decode(buf, MFS_CACHE_PENDING_SIZE, &d) == 0);
	ASSERT(d.state == p.state && d.pid == p.pid && d.start == p.start && d.boot == p.boot &&
	       d.ctime_ms == p.ctime_ms);
	raw_pending(buf, MFS_CACHE_PENDING_SIZE);
	ASSERT(mfs_cache_pending_decode(buf, MFS_CACHE_PENDING_SIZE - 1, &d) == -EBADMSG);
	ASSERT(mfs_cache_pending_decode(buf, MFS_CACHE_PENDING_SIZE + 1, &d) == -EBADMSG);
	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		buf[reserved[i]] ^= (uint8_t)(1u << ((h2 >> i) & 7));
		ASSERT(mfs_cache_pending_decode(buf, MFS_CACHE_PENDING_SIZE, &d) == -EBADMSG);
		buf[reserved[i]] ^= (uint8_t)(1u << ((h2 >> i) & 7));
	}
	buf[0] ^= 0x80;
	ASSERT(mfs_cache_pending_decode(buf, MFS_CACHE_PENDING_SIZE, &d) == -EBADMSG);
	buf[0] ^= 0x80;
	buf[1] = (uint8_t)(3 + (h2 % 253));
	ASSERT(mfs_cache_pending_decode(buf, MFS_CACHE_PENDING_SIZE, &d) == -EBADMSG);
	buf[1] = p.state;
	memset(buf + 4, 0, 4);
	ASSERT(mfs_cache_pending_decode(buf, MFS_CACHE_PENDING_SIZE, &d) == -EBADMSG);
	memset(buf + 4, 0xff, 4);
	ASSERT(mfs_cache_pending_decode(buf, MFS_CACHE_PENDING_SIZE, &d) == -EBADMSG);
}

/* ---- the input as content, in records built by the real encoders ---- */

static void built_header(const uint8_t *data, size_t size, uint64_t h1, uint64_t h2)
{
	struct mfs_cache_hdr h, d;
	size_t len, pos;
	uint8_t *buf;
	unsigned i;

	memset(&h, 0, sizeof(h));
	h.version = MFS_CACHE_FORMAT;
	h.chunk_size = MIN_CHUNK + (uint32_t)(h1 % (MAX_CHUNK - MIN_CHUNK + 1));
	h.id = h2 | 1;
	h.size = h2 % ((uint64_t)h.chunk_size * 100000);
	h.nchunks = (uint32_t)(h.size / h.chunk_size + (h.size % h.chunk_size != 0));
	h.stored = h1 >> 8;
	h.ctime_ms = h1 ^ h2;
	h.klen = (uint32_t)(size ? h1 % (size + 1) : 0);
	h.mlen = (uint32_t)(size - h.klen);
	h.key = data;
	h.meta = data + h.klen;
	len = mfs_cache_hdr_size(h.klen, h.mlen);
	buf = malloc(len);
	ASSERT(buf);
	mfs_cache_hdr_encode(&h, buf);

	ASSERT(mfs_cache_hdr_decode(buf, len, &d) == 0);
	ASSERT(d.version == h.version && d.flags == 0 && d.chunk_size == h.chunk_size &&
	       d.nchunks == h.nchunks && d.id == h.id && d.size == h.size &&
	       d.stored == h.stored && d.ctime_ms == h.ctime_ms && d.klen == h.klen &&
	       d.mlen == h.mlen);
	ASSERT(d.key == buf + MFS_CACHE_HDR_FIXED && d.meta == d.key + d.klen);
	ASSERT(!size || memcmp(d.key, data, size) == 0);
	/* one byte more or less is not a header */
	ASSERT(mfs_cache_hdr_decode(buf, len - 1, &d) == -EBADMSG);
	raw_header(buf, len);

	/* any single flipped bit is caught (the checksum covers every other byte) */
	for (i = 0; i < 8; i++) {
		pos = (size_t)((h1 >> (8 * i)) + i * 7919) % len;
		buf[pos] ^= (uint8_t)(1u << ((h2 >> (3 * i)) & 7));
		ASSERT(mfs_cache_hdr_decode(buf, len, &d) == -EBADMSG);
		buf[pos] ^= (uint8_t)(1u << ((h2 >> (3 * i)) & 7));
	}
	free(buf);
}

/* Decode and unpack @rec; it may be refused, but what it gives must be @data. */
static void served_is_content(const uint8_t *rec, size_t reclen, uint64_t id, uint32_t idx,
			      const uint8_t *data, size_t size)
{
	struct mfs_cache_chunk ck;
	uint8_t *copy = dup_exact(rec, reclen), *dst;

	if (mfs_cache_chunk_decode(copy, reclen, &ck) == 0) {
		dst = malloc(size ? size : 1);
		ASSERT(dst);
		if (unpack(&ck, id, idx, dst, size) == 0)
			ASSERT(!size || memcmp(dst, data, size) == 0);
		free(dst);
	}
	free(copy);
}

static void built_chunk(const uint8_t *data, size_t size, int codec, uint64_t h1, uint64_t h2)
{
	struct mfs_cache_chunk ck, d;
	size_t bound = ZSTD_compressBound(size), plen, reclen, pos;
	uint64_t id = h1 | 1;
	uint32_t idx = (uint32_t)h2;
	uint8_t *rec = malloc(MFS_CACHE_CHUNK_HEAD + bound), *dst;

	ASSERT(rec);
	memset(&ck, 0, sizeof(ck));
	ck.version = MFS_CACHE_FORMAT;
	ck.codec = (uint8_t)codec;
	ck.raw_len = (uint32_t)size;
	ck.sum = XXH3_64bits_withSeed(data, size, mfs_cache_chunk_seed(id, idx));
	if (codec == MFS_CACHE_CODEC_ZSTD) {
		plen = ZSTD_compress(rec + MFS_CACHE_CHUNK_HEAD, bound, data, size, 1);
		ASSERT(!ZSTD_isError(plen));
	} else {
		plen = size;
		if (size)
			memcpy(rec + MFS_CACHE_CHUNK_HEAD, data, size);
	}
	mfs_cache_chunk_encode_head(&ck, rec);
	reclen = MFS_CACHE_CHUNK_HEAD + plen;

	/* the record as written reads back as the content */
	{
		uint8_t *copy = dup_exact(rec, reclen);

		ASSERT(mfs_cache_chunk_decode(copy, reclen, &d) == 0);
		ASSERT(d.codec == codec && d.raw_len == size && d.sum == ck.sum && d.plen == plen);
		dst = malloc(size ? size : 1);
		ASSERT(dst);
		ASSERT(unpack(&d, id, idx, dst, size) == 0);
		ASSERT(!size || memcmp(dst, data, size) == 0);
		/* moved to another entry or index: the seeded checksum refuses it */
		ASSERT(unpack(&d, id + 2, idx, dst, size) == -EBADMSG);
		ASSERT(unpack(&d, id, idx ^ 1, dst, size) == -EBADMSG);
		free(dst);
		free(copy);
	}
	/* cut short anywhere */
	served_is_content(rec, (size_t)(h2 % reclen), id, idx, data, size);
	/* one bit flipped, in the head or the payload */
	pos = (size_t)(h1 % reclen);
	rec[pos] ^= (uint8_t)(1u << (h2 & 7));
	served_is_content(rec, reclen, id, idx, data, size);
	rec[pos] ^= (uint8_t)(1u << (h2 & 7));
	/* one byte of the payload overwritten with what the input chooses */
	if (plen) {
		pos = MFS_CACHE_CHUNK_HEAD + (size_t)(h2 % plen);
		rec[pos] = (uint8_t)(rec[pos] + 1 + (h1 >> 56) % 255);
		served_is_content(rec, reclen, id, idx, data, size);
	}
	free(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t h1 = XXH3_64bits(data, size), h2 = XXH3_64bits_withSeed(data, size, 42);

	if (!dctx) {
		dctx = ZSTD_createDCtx();
		ASSERT(dctx);
	}
	raw_header(data, size);
	raw_chunk(data, size);
	raw_pending(data, size);
	built_pending(h1, h2);
	built_header(data, size, h1, h2);
	built_chunk(data, size, MFS_CACHE_CODEC_ZSTD, h1, h2);
	built_chunk(data, size, MFS_CACHE_CODEC_RAW, h1, h2);
	return 0;
}
