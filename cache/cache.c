/*
 * cache.c - the LMDB + zstd cache of materialised files (cache.h).
 *
 * An entry is a run of chunks (chunk_size bytes of content each, the last
 * one shorter) stored as separate LMDB values, zstd-compressed (or raw when
 * that is smaller) with an XXH3-64 of the decompressed bytes, so a read at any
 * offset decompresses one chunk and damage is detected, never served. The
 * records are described in cache_i.h.
 *
 * Producing an entry: one transaction allocates an id and records it as
 * "pending" with the producer's pid, start time and boot id; full chunks are
 * handed to a stage thread of the writer (at most QDEPTH waiting, so memory
 * stays bounded and a fast producer waits), which compresses them and writes
 * them in short write transactions that hold nothing but the puts (the
 * producer does network I/O: a write transaction, which excludes every other
 * writer of every process, is never held across it); a last transaction
 * writes the header, the LRU records and removes the pending record. A
 * transaction takes up to GROUP_CHUNKS chunks already compressed (at most
 * GROUP_BYTES of records):
 * every commit costs an fdatasync, and one per chunk cut produce throughput
 * by a third (GROUP_CHUNKS 1 gives one transaction per chunk). A producer
 * killed half-way leaves a pending record whose process is gone: the next
 * open (of any process) collects its chunks. Dropping an entry
 * (eviction, invalidation, corruption) removes its header and marks its id
 * pending-dead in one transaction, then deletes its chunks in small batches,
 * so a crash in between only leaves work for the next open.
 *
 * Space: last_pgno (mdb_env_info) is a high-water mark that never falls when
 * pages are freed, so the budget is counted in pages held by the B-trees
 * (mdb_stat of every database, free list included). Before a chunk is written,
 * use above 80 % of the budget evicts least-recently-used complete entries down
 * to 60 %; an entry that would take use above 90 % with nothing left to evict
 * gets -ENOSPC (the caller serves it without caching). The last 10 % is
 * headroom: deleting needs pages too (copies of the touched B-tree pages and
 * the free-list record, kept small by deleting in batches), and with that
 * headroom a delete always finds free pages. MDB_MAP_FULL on a write (a
 * fragmented free list cannot give a long enough run of pages for a big
 * value) evicts at least one more entry and retries.
 *
 * Recency: "live" keeps each complete entry's last use, "lru" the same
 * ordered by time. A lookup notes the use in memory; the records are
 * rewritten (a write transaction) when the stored time is more than five
 * seconds old, and every noted use is written before an eviction picks its
 * victims, so this process's order is exact and other processes' is within
 * five seconds.
 *
 * An entry handle holds copies (header fields, meta) and pins its id against
 * eviction by this process (the evictor checks pins and marks its victim
 * under open_lock; a lookup that raced a drop checks the entry again, see
 * entry_publish()). Another process sharing the directory does not see the
 * pin: when it evicts an entry under an open handle, or when the entry is
 * invalidated or purged, the next read of a chunk not yet decompressed
 * answers -ESTALE (the caller looks the key up again, as after -EBADMSG).
 * Processes sharing a directory must share a PID namespace (LMDB's reader
 * table assumes it too).
 *
 * LMDB forbids opening one environment twice in a process (closing either
 * drops the other's POSIX locks), so every mfs_cache_open() of the same
 * directory in a process shares one struct cache_env, with its reference
 * count; a forked child never uses its parent's.
 *
 * DESIGN: threads. Locks, outermost first (a thread takes them only in this
 * order, and never holds two LMDB transactions at once):
 *   registry_lock  the list of environments of this process (open, close)
 *   evict_lock     one evictor per environment at a time
 *   flight_lock    single-flight table; waiters sleep on their flight's cond
 *   map_lock       rwlock, held shared for the life of every LMDB
 *                  transaction, exclusive only to adopt a map another process
 *                  grew (MDB_MAP_RESIZED: mdb_env_set_mapsize() needs no
 *                  transaction alive in this process); writer-preferring, so
 *                  never taken twice by one thread
 *   open_lock      table of open entry handles (the pins), noted uses, the
 *                  id being evicted and the generation of drops
 *   lru_lock       decompressed-chunk LRU (leaf)
 *   dctx_lock      pool of zstd decompression contexts (leaf)
 * LMDB's own writer mutex (shared by processes) is taken inside map_lock by
 * mdb_txn_begin(). No lock of this file is held while the producer callback
 * runs, so a producer may itself look up or produce other keys (never its
 * own: that waits forever). The environment is opened MDB_NOTLS (FUSE and
 * pool threads come and go; a read transaction is not tied to a thread) and
 * MDB_NOMETASYNC: one fdatasync per commit; a system crash may lose the last
 * transaction but never breaks the tree, and kill -9 loses nothing committed.
 */
#include "cache.h"
#include "cache_i.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "err.h"
#include "log.h"

#define DEFAULT_CHUNK (256u * 1024)
#define MIN_CHUNK 4096u
#define MAX_CHUNK (64u << 20)
#define DEFAULT_MAX_BYTES (10ull << 30)
#define MIN_MAP (16ull << 20)
#define MAX_META (64u << 20)
#define MAX_KEY (64u << 10)
#define ZSTD_LEVEL 1
#define HIGH_PCT 80 /* start evicting above */
#define LOW_PCT 60  /* evict down to */
#define HARD_PCT 90 /* refuse a chunk above, when nothing can be evicted */
#define TOUCH_SLACK_MS 5000
#define TOUCH_MAX 256       /* noted uses kept in memory before a write */
#define GROUP_CHUNKS 8      /* chunks written per transaction, at most */
#define GROUP_BYTES (1u << 20) /* and at most this many bytes of records */
#define QDEPTH 4            /* full chunks waiting for the writer's thread */
#define COLLECT_BATCH 64    /* chunks deleted per transaction */
#define PURGE_BATCH 128     /* entries dropped per transaction */
#define SWEEP_EVERY_MS 10000 /* at most one orphan sweep per period when stuck */
#define LRU_SLOTS 8
#define DCTX_POOL 4
#define MAXREADERS 256
#define OPEN_BUCKETS 256

enum { DB_ENTRIES, DB_CHUNKS, DB_PENDING, DB_LIVE, DB_LRU, DB_INFO, NDB };
static const char *const db_names[NDB] = { "entries", "chunks", "pending", "live", "lru", "info" };

/* A decompressed chunk, shared by the LRU slot and readers copying from it. */
struct dchunk {
	uint64_t id;
	uint32_t idx;
	uint32_t len;
	unsigned refs;  /* protected by lru_lock; the slot holds one */
	uint64_t used;  /* protected by lru_lock */
	uint8_t data[];
};

struct touch {
	uint64_t id;
	uint64_t atime;
	uint8_t khash[MFS_CACHE_KHASH];
};

struct flight {
	uint8_t khash[MFS_CACHE_KHASH];
	void *key;
	size_t klen;
	pthread_cond_t cond;
	unsigned refs;                 /* protected by flight_lock: leader + waiters */
	bool done;                     /* protected by flight_lock */
	int rc;                        /* protected by flight_lock */
	struct mfs_cache_entry *entry; /* protected by flight_lock; one reference */
	struct flight *next;           /* protected by flight_lock */
};

/* One LMDB environment: a directory, opened once per process. */
struct cache_env {
	char *dir;
	dev_t dev;
	ino_t ino;
	pid_t owner;              /* the process that opened it */
	int refs;                 /* protected by registry_lock */
	struct cache_env *next;   /* protected by registry_lock */

	MDB_env *env;
	MDB_dbi db[NDB];
	unsigned psize;
	uint64_t mapsize;         /* protected by map_lock */

	pthread_rwlock_t map_lock;
	pthread_mutex_t evict_lock;
	uint64_t last_sweep_ms;   /* protected by evict_lock */

	pthread_mutex_t flight_lock;
	struct flight *flights;   /* protected by flight_lock */

	pthread_mutex_t open_lock;
	struct mfs_cache_entry *open[OPEN_BUCKETS]; /* protected by open_lock */
	size_t nopen;                               /* protected by open_lock */
	struct touch touches[TOUCH_MAX];            /* protected by open_lock */
	size_t ntouches;                            /* protected by open_lock */
	uint64_t evicting;  /* protected by open_lock: id an evictor is dropping, or 0 */
	uint64_t drop_gen;  /* protected by open_lock: bumped after each drop commits */

	pthread_mutex_t lru_lock;
	struct dchunk *lru[LRU_SLOTS]; /* protected by lru_lock */
	uint64_t lru_clock;            /* protected by lru_lock */

	pthread_mutex_t dctx_lock;
	ZSTD_DCtx *dctx[DCTX_POOL]; /* protected by dctx_lock */
	int ndctx;                  /* protected by dctx_lock */
};

struct mfs_cache {
	struct cache_env *ce;
	size_t chunk_size;
	uint64_t budget_pages, high_pages, low_pages, hard_pages;
	atomic_uint_fast64_t hits, misses, evictions, corrupt_chunks;
};

struct mfs_cache_entry {
	struct cache_env *ce;
	unsigned refs;                 /* protected by ce->open_lock */
	struct mfs_cache_entry *next;  /* protected by ce->open_lock */
	uint64_t id, size, stored;
	uint32_t chunk_size, nchunks;
	uint8_t khash[MFS_CACHE_KHASH];
	size_t mlen;
	uint8_t meta[];
};

struct mfs_cache_writer {
	struct mfs_cache *c;
	uint64_t id;
	uint8_t khash[MFS_CACHE_KHASH];
	const void *key;
	size_t klen;
	size_t chunk_size;
	uint8_t *buf;   /* chunk_size bytes */
	size_t fill;
	uint32_t nchunks;
	uint64_t size, stored;
	uint8_t *meta;
	size_t mlen;
	ZSTD_CCtx *cctx;
	size_t zcap;    /* ZSTD_compressBound(chunk_size) */
	uint8_t *gbuf;  /* staged chunk records, written together */
	size_t gcap, gfill;
	struct {
		uint32_t idx;
		size_t off, len;
	} staged[GROUP_CHUNKS];
	int nstaged;
	int err;        /* sticky */

	/* The stage thread compresses and writes full chunks while the producer
	 * fills the next one (two cores: the transform never waits for zstd or
	 * fdatasync). Started at the first full chunk; the producer side owns
	 * buf/fill/queued, the thread everything from nchunks to nstaged until
	 * it is joined. q* and spare are protected by qlock. */
	pthread_t thr;
	bool thr_on;
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	uint8_t *q[QDEPTH];
	size_t qlen[QDEPTH];
	int qhead, qn;
	uint8_t *spare[QDEPTH + 1];
	int nspare;
	bool qdone;
	int qerr;            /* the thread's first error */
	char qwhy[256];      /* and its reason (errors are thread-local) */
	uint64_t queued;     /* bytes handed over, producer side */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_env *registry; /* protected by registry_lock */

/* ---- bytes ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void key_hash(const void *key, size_t klen, uint8_t out[MFS_CACHE_KHASH])
{
	XXH128_canonical_t cn;

	XXH128_canonicalFromHash(&cn, XXH3_128bits(klen ? key : "", klen));
	memcpy(out, cn.digest, MFS_CACHE_KHASH);
}

/* ---- records (cache_i.h) ---- */

size_t mfs_cache_hdr_size(uint32_t klen, uint32_t mlen)
{
	return MFS_CACHE_HDR_FIXED + (size_t)klen + mlen;
}

static uint64_t hdr_sum(const uint8_t *buf, size_t len)
{
	return XXH3_64bits_withSeed(buf + MFS_CACHE_HDR_FIXED, len - MFS_CACHE_HDR_FIXED,
				    XXH3_64bits(buf, 56));
}

void mfs_cache_hdr_encode(const struct mfs_cache_hdr *h, void *out)
{
	uint8_t *b = out;
	size_t len = mfs_cache_hdr_size(h->klen, h->mlen);

	memset(b, 0, MFS_CACHE_HDR_FIXED);
	b[0] = h->version;
	b[1] = h->flags;
	put_le32(b + 4, h->chunk_size);
	put_le64(b + 8, h->id);
	put_le64(b + 16, h->size);
	put_le64(b + 24, h->stored);
	put_le32(b + 32, h->nchunks);
	put_le32(b + 36, h->klen);
	put_le32(b + 40, h->mlen);
	put_le64(b + 48, h->ctime_ms);
	if (h->klen)
		memcpy(b + MFS_CACHE_HDR_FIXED, h->key, h->klen);
	if (h->mlen)
		memcpy(b + MFS_CACHE_HDR_FIXED + h->klen, h->meta, h->mlen);
	put_le64(b + 56, hdr_sum(b, len));
}

int mfs_cache_hdr_decode(const void *in, size_t len, struct mfs_cache_hdr *h)
{
	const uint8_t *b = in;
	uint64_t want;

	if (len < MFS_CACHE_HDR_FIXED)
		return -EBADMSG;
	h->version = b[0];
	h->flags = b[1];
	h->chunk_size = get_le32(b + 4);
	h->id = get_le64(b + 8);
	h->size = get_le64(b + 16);
	h->stored = get_le64(b + 24);
	h->nchunks = get_le32(b + 32);
	h->klen = get_le32(b + 36);
	h->mlen = get_le32(b + 40);
	h->ctime_ms = get_le64(b + 48);
	if (h->version != MFS_CACHE_FORMAT || (h->flags & ~MFS_CACHE_HDR_FLAGS_KNOWN) ||
	    b[2] || b[3] || get_le32(b + 44))
		return -EBADMSG;
	if (mfs_cache_hdr_size(h->klen, h->mlen) != len)
		return -EBADMSG;
	if (h->chunk_size < MIN_CHUNK || h->chunk_size > MAX_CHUNK)
		return -EBADMSG;
	want = h->size / h->chunk_size + (h->size % h->chunk_size != 0);
	if (want != h->nchunks || h->id == 0)
		return -EBADMSG;
	if (get_le64(b + 56) != hdr_sum(b, len))
		return -EBADMSG;
	h->key = b + MFS_CACHE_HDR_FIXED;
	h->meta = b + MFS_CACHE_HDR_FIXED + h->klen;
	return 0;
}

void mfs_cache_chunk_encode_head(const struct mfs_cache_chunk *ck, void *out)
{
	uint8_t *b = out;

	memset(b, 0, MFS_CACHE_CHUNK_HEAD);
	b[0] = ck->version;
	b[1] = ck->codec;
	put_le32(b + 4, ck->raw_len);
	put_le64(b + 8, ck->sum);
}

int mfs_cache_chunk_decode(const void *in, size_t len, struct mfs_cache_chunk *ck)
{
	const uint8_t *b = in;

	if (len < MFS_CACHE_CHUNK_HEAD)
		return -EBADMSG;
	ck->version = b[0];
	ck->codec = b[1];
	ck->raw_len = get_le32(b + 4);
	ck->sum = get_le64(b + 8);
	ck->payload = b + MFS_CACHE_CHUNK_HEAD;
	ck->plen = len - MFS_CACHE_CHUNK_HEAD;
	if (ck->version != MFS_CACHE_FORMAT || b[2] || b[3])
		return -EBADMSG;
	if (ck->codec == MFS_CACHE_CODEC_RAW && ck->plen != ck->raw_len)
		return -EBADMSG;
	if (ck->codec != MFS_CACHE_CODEC_RAW && ck->codec != MFS_CACHE_CODEC_ZSTD)
		return -EBADMSG;
	return 0;
}

uint64_t mfs_cache_chunk_seed(uint64_t id, uint32_t idx)
{
	/* A chunk moved to another entry or index fails its check too. */
	return id * 0x9E3779B97F4A7C15ull ^ idx;
}

int mfs_cache_chunk_unpack(const struct mfs_cache_chunk *ck, uint64_t id, uint32_t idx, void *dst,
			   size_t dstlen, ZSTD_DCtx *dctx)
{
	size_t n;

	if (ck->raw_len != dstlen)
		return -EBADMSG;
	if (ck->codec == MFS_CACHE_CODEC_RAW) {
		if (ck->plen != dstlen)
			return -EBADMSG;
		if (dstlen)
			memcpy(dst, ck->payload, dstlen);
	} else {
		if (dctx)
			n = ZSTD_decompressDCtx(dctx, dst, dstlen, ck->payload, ck->plen);
		else
			n = ZSTD_decompress(dst, dstlen, ck->payload, ck->plen);
		if (ZSTD_isError(n) || n != dstlen)
			return -EBADMSG;
	}
	if (XXH3_64bits_withSeed(dst, dstlen, mfs_cache_chunk_seed(id, idx)) != ck->sum)
		return -EBADMSG;
	return 0;
}

void mfs_cache_pending_encode(const struct mfs_cache_pending *p, void *out)
{
	uint8_t *b = out;

	memset(b, 0, MFS_CACHE_PENDING_SIZE);
	b[0] = p->version;
	b[1] = p->state;
	put_le32(b + 4, p->pid);
	put_le64(b + 8, p->start);
	put_le64(b + 16, p->boot);
	put_le64(b + 24, p->ctime_ms);
}

int mfs_cache_pending_decode(const void *in, size_t len, struct mfs_cache_pending *p)
{
	const uint8_t *b = in;

	/* Strict: the exact size, reserved bytes zero and a real pid, so every
	 * record that decodes re-encodes to the same bytes; anything else is a
	 * damaged record, collected like a dead one. */
	if (len != MFS_CACHE_PENDING_SIZE)
		return -EBADMSG;
	if (b[2] || b[3] || get_le64(b + 32))
		return -EBADMSG;
	p->version = b[0];
	p->state = b[1];
	p->pid = get_le32(b + 4);
	p->start = get_le64(b + 8);
	p->boot = get_le64(b + 16);
	p->ctime_ms = get_le64(b + 24);
	if (p->version != MFS_CACHE_FORMAT)
		return -EBADMSG;
	if (p->state != MFS_CACHE_PENDING_PRODUCING && p->state != MFS_CACHE_PENDING_DEAD)
		return -EBADMSG;
	if (p->pid == 0 || p->pid > INT_MAX)
		return -EBADMSG;
	return 0;
}

/* ---- errors ---- */

/* The one place LMDB's codes become errnos. */
static int mdb_errno(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
	case MDB_PAGE_FULL:
		return -ENOSPC;
	case MDB_READERS_FULL:
	case MDB_MAP_RESIZED:
		return -EAGAIN;
	case MDB_DBS_FULL:
	case MDB_TLS_FULL:
	case MDB_CURSOR_FULL:
		return -ENOMEM;
	case MDB_BAD_VALSIZE:
	case MDB_BAD_DBI:
	case MDB_BAD_RSLOT:
	case MDB_BAD_TXN:
	case MDB_INCOMPATIBLE:
		return -EINVAL;
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_PANIC:
		return -EIO;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

/* Translate and record why, for failures the caller did not expect. */
static int mdb_fail(int rc, const char *what)
{
	if (rc == MDB_SUCCESS)
		return 0;
	mfs_set_error("cache: %s: %s", what, mdb_strerror(rc));
	if (rc != MDB_MAP_FULL && rc != MDB_NOTFOUND)
		mfs_debug("cache: %s: %s", what, mdb_strerror(rc));
	return mdb_errno(rc);
}

/* ---- processes ---- */

/* Start time (clock ticks after boot) and state letter of @pid: 0 or -errno. */
static int proc_stat(pid_t pid, uint64_t *start, char *state)
{
	char path[64], buf[1024];
	ssize_t n;
	char *p, *end;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields restart after the last ')' */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EIO;
	p += 2;
	*state = *p;
	/* p is at field 3; starttime is field 22 */
	for (field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EIO;
		p++;
	}
	errno = 0;
	*start = strtoull(p, &end, 10);
	if (errno || end == p)
		return -EIO;
	return 0;
}

static uint64_t boot_id(void)
{
	static atomic_uint_fast64_t cached;
	char buf[64];
	uint64_t v = atomic_load(&cached);
	ssize_t n;
	int fd;

	if (v)
		return v;
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0)
		return 0;
	v = XXH3_64bits(buf, (size_t)n) | 1;
	atomic_store(&cached, v);
	return v;
}

static void self_pending(struct mfs_cache_pending *p, uint8_t state)
{
	char st;

	memset(p, 0, sizeof(*p));
	p->version = MFS_CACHE_FORMAT;
	p->state = state;
	p->pid = (uint32_t)getpid();
	if (proc_stat(getpid(), &p->start, &st) < 0)
		p->start = 0;
	p->boot = boot_id();
	p->ctime_ms = now_ms();
}

/* Whether the producer of a pending record may still be running. */
static bool producer_alive(const struct mfs_cache_pending *p)
{
	uint64_t start, boot = boot_id();
	char state;

	if (p->state != MFS_CACHE_PENDING_PRODUCING)
		return false;
	if (p->boot && boot && p->boot != boot)
		return false; /* before a reboot */
	if (p->pid == 0 || p->pid > INT_MAX)
		return false;
	if (kill((pid_t)p->pid, 0) < 0 && errno == ESRCH)
		return false;
	if (proc_stat((pid_t)p->pid, &start, &state) == 0) {
		if (p->start && start != p->start)
			return false; /* the pid was reused */
		if (state == 'Z' || state == 'X')
			return false;
	}
	/* alive, or not visible enough to tell: keep it */
	return true;
}

/* ---- transactions ---- */

/*
 * Every transaction holds map_lock shared. A map grown by another process
 * beyond ours is adopted with the lock exclusive (no transaction alive).
 */
static int txn_begin(struct cache_env *ce, unsigned flags, MDB_txn **txn)
{
	MDB_envinfo info;
	int rc;

	for (;;) {
		pthread_rwlock_rdlock(&ce->map_lock);
		rc = mdb_txn_begin(ce->env, NULL, flags, txn);
		if (rc == MDB_SUCCESS)
			return 0;
		pthread_rwlock_unlock(&ce->map_lock);
		if (rc != MDB_MAP_RESIZED)
			return mdb_fail(rc, "begin transaction");
		pthread_rwlock_wrlock(&ce->map_lock);
		rc = mdb_env_set_mapsize(ce->env, 0);
		if (rc == MDB_SUCCESS && mdb_env_info(ce->env, &info) == MDB_SUCCESS)
			ce->mapsize = info.me_mapsize;
		pthread_rwlock_unlock(&ce->map_lock);
		if (rc != MDB_SUCCESS)
			return mdb_fail(rc, "adopt the grown map");
		mfs_debug("cache: adopted a map of %" PRIu64 " bytes grown by another process",
			  ce->mapsize);
	}
}

static int txn_commit(struct cache_env *ce, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);

	pthread_rwlock_unlock(&ce->map_lock);
	return mdb_fail(rc, "commit");
}

static void txn_abort(struct cache_env *ce, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&ce->map_lock);
}

static MDB_val mkval(const void *p, size_t n)
{
	MDB_val v = { n, (void *)p };

	return v;
}

static void chunk_key(uint8_t k[12], uint64_t id, uint32_t idx)
{
	put_be64(k, id);
	put_be32(k + 8, idx);
}

/* Pages the trees hold, as seen by @txn. */
static uint64_t used_pages(struct cache_env *ce, MDB_txn *txn)
{
	MDB_dbi dbis[NDB + 2] = { 0 /* the free list */, 1 /* the main tree */ };
	uint64_t total = 2; /* meta pages */
	MDB_stat st;

	for (int i = 0; i < NDB; i++)
		dbis[i + 2] = ce->db[i];
	for (int i = 0; i < NDB + 2; i++)
		if (mdb_stat(txn, dbis[i], &st) == MDB_SUCCESS)
			total += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
	return total;
}

/* Pages a value of @len bytes takes, with the tree pages its write copies. */
static uint64_t need_pages(struct cache_env *ce, size_t len)
{
	return (len + 16 + ce->psize - 1) / ce->psize + 4;
}

static int info_get_u64(struct cache_env *ce, MDB_txn *txn, const char *name, uint64_t *v,
			uint64_t *v2)
{
	MDB_val k = mkval(name, strlen(name)), d;
	int rc = mdb_get(txn, ce->db[DB_INFO], &k, &d);

	*v = 0;
	if (v2)
		*v2 = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return mdb_fail(rc, "read info");
	if (d.mv_size >= 8)
		*v = get_le64(d.mv_data);
	if (v2 && d.mv_size >= 16)
		*v2 = get_le64((const uint8_t *)d.mv_data + 8);
	return 0;
}

/* Add to the running totals of complete entries (same transaction as the change). */
static int totals_add(struct cache_env *ce, MDB_txn *txn, int64_t stored, int64_t content)
{
	uint64_t s, c;
	uint8_t b[16];
	MDB_val k = mkval("totals", 6), d = mkval(b, sizeof(b));
	int rc = info_get_u64(ce, txn, "totals", &s, &c);

	if (rc)
		return rc;
	s = stored < 0 && (uint64_t)-stored > s ? 0 : s + (uint64_t)stored;
	c = content < 0 && (uint64_t)-content > c ? 0 : c + (uint64_t)content;
	put_le64(b, s);
	put_le64(b + 8, c);
	return mdb_fail(mdb_put(txn, ce->db[DB_INFO], &k, &d, 0), "write totals");
}

/* ---- open entries (pins) and noted uses ---- */

static struct mfs_cache_entry **open_slot(struct cache_env *ce, uint64_t id)
{
	return &ce->open[(id * 0x9E3779B97F4A7C15ull) >> 56 & (OPEN_BUCKETS - 1)];
}

/* Caller holds open_lock. */
static bool pinned_locked(struct cache_env *ce, uint64_t id)
{
	for (struct mfs_cache_entry *e = *open_slot(ce, id); e; e = e->next)
		if (e->id == id)
			return true;
	return false;
}

static uint64_t drop_gen(struct cache_env *ce)
{
	uint64_t g;

	pthread_mutex_lock(&ce->open_lock);
	g = ce->drop_gen;
	pthread_mutex_unlock(&ce->open_lock);
	return g;
}

/* After a transaction that dropped entries committed (or failed). */
static void drops_done(struct cache_env *ce)
{
	pthread_mutex_lock(&ce->open_lock);
	ce->evicting = 0;
	ce->drop_gen++;
	pthread_mutex_unlock(&ce->open_lock);
}

/* Inside @txn: whether @id is still a complete entry. */
static bool id_live(struct cache_env *ce, MDB_txn *txn, uint64_t id)
{
	uint8_t idk[8] = { 0 };
	MDB_val k = mkval(idk, 8), d;

	put_be64(idk, id);
	return mdb_get(txn, ce->db[DB_LIVE], &k, &d) == MDB_SUCCESS;
}

/*
 * Publish @e (read from a snapshot taken after drop generation @gen) or take
 * a reference on the handle already open for its id: the pin. An evictor of
 * this process checks pins before it drops, so a pin taken while it drops
 * this id, or after a drop committed since @gen, could be too late: then the
 * entry is checked again and, gone, answers -ENOENT (a miss) rather than a
 * handle whose reads would fail.
 */
static int entry_publish(struct cache_env *ce, struct mfs_cache_entry *e, uint64_t gen,
			 struct mfs_cache_entry **out)
{
	struct mfs_cache_entry **slot, *o;
	MDB_txn *txn;
	bool recheck, live = true;

	*out = NULL;
	pthread_mutex_lock(&ce->open_lock);
	if (ce->evicting == e->id) {
		pthread_mutex_unlock(&ce->open_lock);
		free(e);
		return -ENOENT;
	}
	recheck = ce->drop_gen != gen;
	slot = open_slot(ce, e->id);
	for (o = *slot; o; o = o->next) {
		if (o->id == e->id) {
			o->refs++;
			free(e);
			e = o;
			break;
		}
	}
	if (!o) {
		e->refs = 1;
		e->next = *slot;
		*slot = e;
		ce->nopen++;
	}
	pthread_mutex_unlock(&ce->open_lock);
	if (recheck && txn_begin(ce, MDB_RDONLY, &txn) == 0) {
		live = id_live(ce, txn, e->id);
		txn_abort(ce, txn);
	}
	if (!live) {
		mfs_cache_entry_put(e);
		return -ENOENT;
	}
	*out = e;
	return 0;
}

static void entry_ref(struct mfs_cache_entry *e)
{
	pthread_mutex_lock(&e->ce->open_lock);
	e->refs++;
	pthread_mutex_unlock(&e->ce->open_lock);
}

struct mfs_cache_entry *mfs_cache_entry_get(struct mfs_cache_entry *e)
{
	if (e)
		entry_ref(e);
	return e;
}

void mfs_cache_entry_put(struct mfs_cache_entry *e)
{
	struct cache_env *ce;
	struct mfs_cache_entry **pp;
	bool last;

	if (!e)
		return;
	ce = e->ce;
	pthread_mutex_lock(&ce->open_lock);
	last = --e->refs == 0;
	if (last) {
		for (pp = open_slot(ce, e->id); *pp; pp = &(*pp)->next) {
			if (*pp == e) {
				*pp = e->next;
				break;
			}
		}
		ce->nopen--;
	}
	pthread_mutex_unlock(&ce->open_lock);
	if (last)
		free(e);
}

static struct mfs_cache_entry *entry_new(struct cache_env *ce, const struct mfs_cache_hdr *h,
					 const uint8_t khash[MFS_CACHE_KHASH])
{
	struct mfs_cache_entry *e = malloc(sizeof(*e) + h->mlen + 1);

	if (!e)
		return NULL;
	e->ce = ce;
	e->refs = 0;
	e->next = NULL;
	e->id = h->id;
	e->size = h->size;
	e->stored = h->stored;
	e->chunk_size = h->chunk_size;
	e->nchunks = h->nchunks;
	memcpy(e->khash, khash, MFS_CACHE_KHASH);
	e->mlen = h->mlen;
	if (h->mlen)
		memcpy(e->meta, h->meta, h->mlen);
	e->meta[h->mlen] = '\0';
	return e;
}

uint64_t mfs_cache_entry_size(const struct mfs_cache_entry *e)
{
	return e->size;
}

const void *mfs_cache_entry_meta(const struct mfs_cache_entry *e, size_t *len)
{
	if (len)
		*len = e->mlen;
	return e->meta;
}

/* Move @id to @atime in "live" and "lru", if it is still live and older. */
static int touch_apply(struct cache_env *ce, MDB_txn *txn, const struct touch *t)
{
	uint8_t idk[8], lk[16], lv[8 + MFS_CACHE_KHASH];
	MDB_val k, d;
	uint64_t old;
	int rc;

	put_be64(idk, t->id);
	k = mkval(idk, 8);
	rc = mdb_get(txn, ce->db[DB_LIVE], &k, &d);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return mdb_fail(rc, "read live");
	if (d.mv_size != sizeof(lv))
		return 0;
	old = get_le64(d.mv_data);
	if (old >= t->atime)
		return 0;
	memcpy(lv + 8, (const uint8_t *)d.mv_data + 8, MFS_CACHE_KHASH);
	put_be64(lk, old);
	put_be64(lk + 8, t->id);
	k = mkval(lk, 16);
	rc = mdb_del(txn, ce->db[DB_LRU], &k, NULL);
	if (rc && rc != MDB_NOTFOUND)
		return mdb_fail(rc, "update lru");
	put_be64(lk, t->atime);
	d = mkval(lv + 8, MFS_CACHE_KHASH);
	rc = mdb_put(txn, ce->db[DB_LRU], &k, &d, 0);
	if (rc)
		return mdb_fail(rc, "update lru");
	put_le64(lv, t->atime);
	k = mkval(idk, 8);
	d = mkval(lv, sizeof(lv));
	return mdb_fail(mdb_put(txn, ce->db[DB_LIVE], &k, &d, 0), "update live");
}

/* Write every noted use. Losing them (a full map) only makes eviction less exact. */
static void touches_flush(struct cache_env *ce)
{
	struct touch *t;
	size_t n;
	MDB_txn *txn;
	int rc = 0;

	pthread_mutex_lock(&ce->open_lock);
	n = ce->ntouches;
	t = n ? malloc(n * sizeof(*t)) : NULL;
	if (t)
		memcpy(t, ce->touches, n * sizeof(*t));
	ce->ntouches = 0;
	pthread_mutex_unlock(&ce->open_lock);
	if (!t)
		return;
	if (txn_begin(ce, 0, &txn) == 0) {
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = touch_apply(ce, txn, &t[i]);
		if (rc)
			txn_abort(ce, txn);
		else
			rc = txn_commit(ce, txn);
		if (rc)
			mfs_debug("cache: recency not recorded: %s", strerror(-rc));
	}
	free(t);
}

static void touch_note(struct cache_env *ce, uint64_t id, const uint8_t khash[MFS_CACHE_KHASH],
		       uint64_t stored_atime)
{
	uint64_t now = now_ms();
	bool flush = now >= stored_atime + TOUCH_SLACK_MS;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&ce->open_lock);
		for (i = 0; i < ce->ntouches; i++)
			if (ce->touches[i].id == id)
				break;
		if (i < TOUCH_MAX)
			break;
		pthread_mutex_unlock(&ce->open_lock);
		touches_flush(ce); /* full: make room */
	}
	if (i == ce->ntouches) {
		ce->touches[i].id = id;
		memcpy(ce->touches[i].khash, khash, MFS_CACHE_KHASH);
		ce->ntouches++;
	}
	ce->touches[i].atime = now;
	pthread_mutex_unlock(&ce->open_lock);
	if (flush)
		touches_flush(ce);
}

/* ---- decompressed chunks ---- */

static void dchunk_put(struct cache_env *ce, struct dchunk *d)
{
	bool last;

	pthread_mutex_lock(&ce->lru_lock);
	last = --d->refs == 0;
	pthread_mutex_unlock(&ce->lru_lock);
	if (last)
		free(d);
}

static struct dchunk *lru_get(struct cache_env *ce, uint64_t id, uint32_t idx)
{
	struct dchunk *d = NULL;

	pthread_mutex_lock(&ce->lru_lock);
	for (int i = 0; i < LRU_SLOTS; i++) {
		if (ce->lru[i] && ce->lru[i]->id == id && ce->lru[i]->idx == idx) {
			d = ce->lru[i];
			d->refs++;
			d->used = ++ce->lru_clock;
			break;
		}
	}
	pthread_mutex_unlock(&ce->lru_lock);
	return d;
}

/* Hand @d (one reference, the caller's) to the LRU as well. */
static void lru_insert(struct cache_env *ce, struct dchunk *d)
{
	struct dchunk *old = NULL;
	int victim = 0;

	pthread_mutex_lock(&ce->lru_lock);
	for (int i = 0; i < LRU_SLOTS; i++) {
		if (!ce->lru[i]) {
			victim = i;
			break;
		}
		if (ce->lru[i]->id == d->id && ce->lru[i]->idx == d->idx) {
			victim = i; /* another reader decompressed it too */
			break;
		}
		if (ce->lru[i]->used < ce->lru[victim]->used)
			victim = i;
	}
	old = ce->lru[victim];
	ce->lru[victim] = d;
	d->refs++;
	d->used = ++ce->lru_clock;
	if (old && --old->refs)
		old = NULL;
	pthread_mutex_unlock(&ce->lru_lock);
	free(old);
}

static void lru_drop(struct cache_env *ce, uint64_t id, bool all)
{
	struct dchunk *gone[LRU_SLOTS];
	int n = 0;

	pthread_mutex_lock(&ce->lru_lock);
	for (int i = 0; i < LRU_SLOTS; i++) {
		struct dchunk *d = ce->lru[i];

		if (d && (all || d->id == id)) {
			ce->lru[i] = NULL;
			if (--d->refs == 0)
				gone[n++] = d;
		}
	}
	pthread_mutex_unlock(&ce->lru_lock);
	while (n)
		free(gone[--n]);
}

static ZSTD_DCtx *dctx_get(struct cache_env *ce)
{
	ZSTD_DCtx *d = NULL;

	pthread_mutex_lock(&ce->dctx_lock);
	if (ce->ndctx)
		d = ce->dctx[--ce->ndctx];
	pthread_mutex_unlock(&ce->dctx_lock);
	return d ? d : ZSTD_createDCtx();
}

static void dctx_put(struct cache_env *ce, ZSTD_DCtx *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&ce->dctx_lock);
	if (ce->ndctx < DCTX_POOL) {
		ce->dctx[ce->ndctx++] = d;
		d = NULL;
	}
	pthread_mutex_unlock(&ce->dctx_lock);
	ZSTD_freeDCtx(d);
}

/* ---- dropping entries ---- */

/*
 * Inside @txn: remove the complete entry @id (its header under @khash if
 * that header is still this id's, or damaged) and mark the id dead, so its
 * chunks are collected.
 */
static int entry_kill(struct cache_env *ce, MDB_txn *txn, uint64_t id,
		      const uint8_t khash[MFS_CACHE_KHASH])
{
	uint8_t idk[8], lk[16], pb[MFS_CACHE_PENDING_SIZE];
	struct mfs_cache_pending p;
	struct mfs_cache_hdr h;
	MDB_val k, d;
	int rc;

	k = mkval(khash, MFS_CACHE_KHASH);
	rc = mdb_get(txn, ce->db[DB_ENTRIES], &k, &d);
	if (rc == MDB_SUCCESS) {
		int bad = mfs_cache_hdr_decode(d.mv_data, d.mv_size, &h);

		if (bad && d.mv_size >= MFS_CACHE_HDR_FIXED) {
			/* damaged: its fixed fields still tell the totals, most likely */
			const uint8_t *b = d.mv_data;

			h.id = get_le64(b + 8);
			h.size = get_le64(b + 16);
			h.stored = get_le64(b + 24);
			if (h.id == id)
				bad = 0;
		}
		if (bad || h.id == id) {
			if (!bad) {
				rc = totals_add(ce, txn, -(int64_t)h.stored, -(int64_t)h.size);
				if (rc)
					return rc;
			}
			rc = mdb_del(txn, ce->db[DB_ENTRIES], &k, NULL);
			if (rc)
				return mdb_fail(rc, "delete entry");
		}
	} else if (rc != MDB_NOTFOUND) {
		return mdb_fail(rc, "read entry");
	}
	put_be64(idk, id);
	k = mkval(idk, 8);
	rc = mdb_get(txn, ce->db[DB_LIVE], &k, &d);
	if (rc == MDB_SUCCESS) {
		if (d.mv_size >= 8) {
			MDB_val lkv = mkval(lk, 16);

			put_be64(lk, get_le64(d.mv_data));
			put_be64(lk + 8, id);
			rc = mdb_del(txn, ce->db[DB_LRU], &lkv, NULL);
			if (rc && rc != MDB_NOTFOUND)
				return mdb_fail(rc, "delete lru");
		}
		rc = mdb_del(txn, ce->db[DB_LIVE], &k, NULL);
		if (rc)
			return mdb_fail(rc, "delete live");
	} else if (rc != MDB_NOTFOUND) {
		return mdb_fail(rc, "read live");
	}
	self_pending(&p, MFS_CACHE_PENDING_DEAD);
	mfs_cache_pending_encode(&p, pb);
	d = mkval(pb, sizeof(pb));
	return mdb_fail(mdb_put(txn, ce->db[DB_PENDING], &k, &d, 0), "mark dead");
}

/*
 * Delete the chunks of @id in batches, each its own transaction, then its
 * pending record. Left unfinished (an error), the pending record stays for
 * the next sweep.
 */
static int collect(struct cache_env *ce, uint64_t id)
{
	uint8_t kb[12], idk[8];
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, d;
	int rc, n;
	bool done;

	put_be64(idk, id);
	do {
		rc = txn_begin(ce, 0, &txn);
		if (rc)
			return rc;
		rc = mdb_cursor_open(txn, ce->db[DB_CHUNKS], &cur);
		if (rc) {
			txn_abort(ce, txn);
			return mdb_fail(rc, "open cursor");
		}
		for (n = 0; n < COLLECT_BATCH; n++) {
			chunk_key(kb, id, 0);
			k = mkval(kb, sizeof(kb));
			rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
			if (rc || k.mv_size != 12 || get_be64(k.mv_data) != id)
				break;
			rc = mdb_cursor_del(cur, 0);
			if (rc)
				break;
		}
		mdb_cursor_close(cur);
		if (rc && rc != MDB_NOTFOUND) {
			txn_abort(ce, txn);
			return mdb_fail(rc, "delete chunks");
		}
		done = n < COLLECT_BATCH;
		if (done) {
			k = mkval(idk, 8);
			rc = mdb_del(txn, ce->db[DB_PENDING], &k, NULL);
			if (rc && rc != MDB_NOTFOUND) {
				txn_abort(ce, txn);
				return mdb_fail(rc, "delete pending");
			}
		}
		rc = txn_commit(ce, txn);
		if (rc)
			return rc;
	} while (!done);
	return 0;
}

/* Drop the complete entry @id (header at @khash) and collect its chunks. */
static int drop_entry(struct cache_env *ce, uint64_t id, const uint8_t khash[MFS_CACHE_KHASH])
{
	MDB_txn *txn;
	int rc = txn_begin(ce, 0, &txn);

	if (rc)
		return rc;
	rc = entry_kill(ce, txn, id, khash);
	if (rc) {
		txn_abort(ce, txn);
		return rc;
	}
	rc = txn_commit(ce, txn);
	drops_done(ce);
	lru_drop(ce, id, false);
	if (rc)
		return rc;
	return collect(ce, id);
}

struct idvec {
	uint64_t *v;
	size_t n, cap;
};

static int idvec_push(struct idvec *iv, uint64_t id)
{
	if (iv->n == iv->cap) {
		size_t cap = iv->cap ? iv->cap * 2 : 64;
		uint64_t *v = realloc(iv->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		iv->v = v;
		iv->cap = cap;
	}
	iv->v[iv->n++] = id;
	return 0;
}

/* Inside @txn: whether @id has a live or pending record. */
static bool id_owned(struct cache_env *ce, MDB_txn *txn, uint64_t id)
{
	uint8_t idk[8] = { 0 };
	MDB_val k = mkval(idk, 8), d;

	put_be64(idk, id);
	return mdb_get(txn, ce->db[DB_LIVE], &k, &d) != MDB_NOTFOUND ||
	       mdb_get(txn, ce->db[DB_PENDING], &k, &d) != MDB_NOTFOUND;
}

/*
 * Find what a killed process or an interrupted drop left: pending records
 * that are dead or whose producer is gone, live records whose header is not
 * theirs, lru records without their live one, chunks no record owns. A live
 * producer's pending record is never touched. Found in one read snapshot,
 * each fix is rechecked in its own write transaction.
 */
static int sweep_scan(struct cache_env *ce, struct idvec *collectv, struct idvec *stalev,
		      struct idvec *lruv, struct idvec *orphv)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, d;
	uint8_t kb[12];
	int rc;

	rc = txn_begin(ce, MDB_RDONLY, &txn);
	if (rc)
		return rc;

	/* pending: dead, or its producer is gone */
	cur = NULL;
	rc = mdb_cursor_open(txn, ce->db[DB_PENDING], &cur);
	for (rc = rc ? rc : mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		struct mfs_cache_pending p;

		if (k.mv_size != 8)
			continue;
		if (mfs_cache_pending_decode(d.mv_data, d.mv_size, &p) < 0 || !producer_alive(&p))
			if (idvec_push(collectv, get_be64(k.mv_data)) < 0)
				break;
	}
	mdb_cursor_close(cur);

	/* live records whose header names another id, or is gone */
	cur = NULL;
	rc = mdb_cursor_open(txn, ce->db[DB_LIVE], &cur);
	for (rc = rc ? rc : mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		struct mfs_cache_hdr h;
		MDB_val hk, hd;
		uint64_t id;

		if (k.mv_size != 8)
			continue;
		id = get_be64(k.mv_data);
		if (d.mv_size == 8 + MFS_CACHE_KHASH) {
			hk = mkval((const uint8_t *)d.mv_data + 8, MFS_CACHE_KHASH);
			if (mdb_get(txn, ce->db[DB_ENTRIES], &hk, &hd) == MDB_SUCCESS &&
			    mfs_cache_hdr_decode(hd.mv_data, hd.mv_size, &h) == 0 && h.id == id)
				continue;
		}
		if (idvec_push(stalev, id) < 0)
			break;
	}
	mdb_cursor_close(cur);

	/* lru records without their live record (pairs: atime, id) */
	cur = NULL;
	rc = mdb_cursor_open(txn, ce->db[DB_LRU], &cur);
	for (rc = rc ? rc : mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		uint8_t idk[8];
		MDB_val ik = mkval(idk, 8), iv;
		uint64_t at, id;

		if (k.mv_size != 16)
			continue;
		at = get_be64(k.mv_data);
		id = get_be64((const uint8_t *)k.mv_data + 8);
		put_be64(idk, id);
		if (mdb_get(txn, ce->db[DB_LIVE], &ik, &iv) == MDB_SUCCESS && iv.mv_size >= 8 &&
		    get_le64(iv.mv_data) == at)
			continue;
		if (idvec_push(lruv, at) < 0 || idvec_push(lruv, id) < 0)
			break;
	}
	mdb_cursor_close(cur);

	/* chunks no record owns: one seek per id */
	cur = NULL;
	rc = mdb_cursor_open(txn, ce->db[DB_CHUNKS], &cur);
	chunk_key(kb, 0, 0);
	k = mkval(kb, sizeof(kb));
	for (rc = rc ? rc : mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE)) {
		uint64_t id;

		if (k.mv_size != 12)
			break;
		id = get_be64(k.mv_data);
		if (!id_owned(ce, txn, id) && idvec_push(orphv, id) < 0)
			break;
		if (id == UINT64_MAX)
			break;
		chunk_key(kb, id + 1, 0);
		k = mkval(kb, sizeof(kb));
	}
	mdb_cursor_close(cur);
	txn_abort(ce, txn);
	return 0;
}

static int sweep(struct cache_env *ce)
{
	struct idvec collectv = { 0 }, stalev = { 0 }, lruv = { 0 }, orphv = { 0 };
	struct mfs_cache_pending p;
	uint8_t pb[MFS_CACHE_PENDING_SIZE], idk[8], lk[16];
	MDB_txn *txn;
	MDB_val k, d;
	size_t i;
	int rc;

	rc = sweep_scan(ce, &collectv, &stalev, &lruv, &orphv);
	if (rc)
		goto out;
	if (collectv.n || stalev.n || lruv.n || orphv.n)
		mfs_info("cache: %s: cleaning up %zu unfinished or dropped entries, %zu stale "
			 "records, %zu orphaned chunk runs",
			 ce->dir, collectv.n, stalev.n + lruv.n / 2, orphv.n);

	if (lruv.n || stalev.n || orphv.n) {
		rc = txn_begin(ce, 0, &txn);
		if (rc)
			goto out;
		for (i = 0; rc == 0 && i < lruv.n; i += 2) {
			put_be64(idk, lruv.v[i + 1]);
			k = mkval(idk, 8);
			if (mdb_get(txn, ce->db[DB_LIVE], &k, &d) == MDB_SUCCESS &&
			    d.mv_size >= 8 && get_le64(d.mv_data) == lruv.v[i])
				continue;
			put_be64(lk, lruv.v[i]);
			put_be64(lk + 8, lruv.v[i + 1]);
			k = mkval(lk, 16);
			rc = mdb_del(txn, ce->db[DB_LRU], &k, NULL);
			rc = rc == MDB_NOTFOUND ? 0 : mdb_fail(rc, "delete lru");
		}
		for (i = 0; rc == 0 && i < stalev.n; i++) {
			uint8_t khash[MFS_CACHE_KHASH] = { 0 };
			struct mfs_cache_hdr h;
			MDB_val hk, hd;

			put_be64(idk, stalev.v[i]);
			k = mkval(idk, 8);
			if (mdb_get(txn, ce->db[DB_LIVE], &k, &d) != MDB_SUCCESS)
				continue;
			if (d.mv_size == 8 + MFS_CACHE_KHASH) {
				memcpy(khash, (const uint8_t *)d.mv_data + 8, MFS_CACHE_KHASH);
				hk = mkval(khash, MFS_CACHE_KHASH);
				if (mdb_get(txn, ce->db[DB_ENTRIES], &hk, &hd) == MDB_SUCCESS &&
				    mfs_cache_hdr_decode(hd.mv_data, hd.mv_size, &h) == 0 &&
				    h.id == stalev.v[i])
					continue; /* fine after all */
			}
			rc = entry_kill(ce, txn, stalev.v[i], khash);
			if (rc == 0)
				rc = idvec_push(&collectv, stalev.v[i]);
		}
		self_pending(&p, MFS_CACHE_PENDING_DEAD);
		mfs_cache_pending_encode(&p, pb);
		for (i = 0; rc == 0 && i < orphv.n; i++) {
			if (id_owned(ce, txn, orphv.v[i]))
				continue;
			put_be64(idk, orphv.v[i]);
			k = mkval(idk, 8);
			d = mkval(pb, sizeof(pb));
			rc = mdb_fail(mdb_put(txn, ce->db[DB_PENDING], &k, &d, 0), "mark orphan");
			if (rc == 0)
				rc = idvec_push(&collectv, orphv.v[i]);
		}
		if (rc)
			txn_abort(ce, txn);
		else
			rc = txn_commit(ce, txn);
		drops_done(ce);
	}
	for (i = 0; rc == 0 && i < collectv.n; i++)
		rc = collect(ce, collectv.v[i]);
out:
	free(collectv.v);
	free(stalev.v);
	free(orphv.v);
	free(lruv.v);
	if (rc)
		mfs_warn("cache: %s: cleanup left unfinished: %s", ce->dir, strerror(-rc));
	return rc;
}

/* ---- eviction ---- */

/*
 * Evict least-recently-used complete entries not open in this process until
 * the trees hold at most @target pages (and at least one entry when @force).
 * Returns how many were evicted.
 */
static int evict(struct mfs_cache *c, uint64_t target, bool force)
{
	struct cache_env *ce = c->ce;
	bool swept = false;
	int evicted = 0, rc;

	pthread_mutex_lock(&ce->evict_lock);
	touches_flush(ce);
	for (;;) {
		MDB_txn *txn;
		MDB_cursor *cur;
		MDB_val k, d;
		uint64_t used, id = 0;
		uint8_t khash[MFS_CACHE_KHASH];
		bool found = false;

		if (txn_begin(ce, 0, &txn))
			break;
		used = used_pages(ce, txn);
		if (used <= target && !(force && evicted == 0)) {
			txn_abort(ce, txn);
			break;
		}
		cur = NULL;
		rc = mdb_cursor_open(txn, ce->db[DB_LRU], &cur);
		for (rc = rc ? rc : mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
			bool pin;

			if (k.mv_size != 16 || d.mv_size != MFS_CACHE_KHASH)
				continue;
			id = get_be64((const uint8_t *)k.mv_data + 8);
			pthread_mutex_lock(&ce->open_lock);
			pin = pinned_locked(ce, id);
			if (!pin)
				ce->evicting = id; /* from here a new pin on it is refused */
			pthread_mutex_unlock(&ce->open_lock);
			if (!pin) {
				memcpy(khash, d.mv_data, MFS_CACHE_KHASH);
				found = true;
				break;
			}
		}
		mdb_cursor_close(cur);
		if (!found) {
			uint64_t now = now_ms();

			txn_abort(ce, txn);
			/* orphans of dead processes may be what fills the map */
			if (swept || now < ce->last_sweep_ms + SWEEP_EVERY_MS)
				break;
			swept = true;
			ce->last_sweep_ms = now;
			sweep(ce);
			continue;
		}
		rc = entry_kill(ce, txn, id, khash);
		if (rc)
			txn_abort(ce, txn);
		else
			rc = txn_commit(ce, txn);
		drops_done(ce);
		if (rc)
			break;
		evicted++;
		atomic_fetch_add(&c->evictions, 1);
		lru_drop(ce, id, false);
		mfs_debug("cache: evicted entry %" PRIu64 " (%" PRIu64 " of %" PRIu64
			  " pages used)", id, used, c->budget_pages);
		collect(ce, id);
	}
	pthread_mutex_unlock(&ce->evict_lock);
	return evicted;
}

/*
 * A write transaction with room for @need more pages: evicts down to the low
 * mark when use would pass the high one; -ENOSPC when even with nothing left
 * to evict use would pass the hard mark.
 */
static int begin_with_room(struct mfs_cache *c, uint64_t need, MDB_txn **txn)
{
	struct cache_env *ce = c->ce;
	bool stuck = false;
	uint64_t used;
	int rc;

	for (;;) {
		rc = txn_begin(ce, 0, txn);
		if (rc)
			return rc;
		used = used_pages(ce, *txn);
		if (used + need <= c->high_pages)
			return 0;
		if (stuck) {
			if (used + need <= c->hard_pages)
				return 0;
			txn_abort(ce, *txn);
			mfs_set_error("cache: entry does not fit in the cache (%" PRIu64
				      " of %" PRIu64 " pages in use and nothing left to evict)",
				      used, c->budget_pages);
			return -ENOSPC;
		}
		txn_abort(ce, *txn);
		if (evict(c, c->low_pages > need ? c->low_pages - need : 0, false) == 0)
			stuck = true;
	}
}

/* After MDB_MAP_FULL: evict at least one more entry; false when none is left. */
static bool evict_after_full(struct mfs_cache *c)
{
	return evict(c, c->low_pages, true) > 0;
}

/* ---- lookup ---- */

/*
 * The complete entry for @khash/@key, a new reference; -ENOENT. A header
 * that fails its checks is dropped and counts as a damaged chunk.
 */
static int lookup_entry(struct mfs_cache *c, const uint8_t khash[MFS_CACHE_KHASH], const void *key,
			size_t klen, struct mfs_cache_entry **out)
{
	struct cache_env *ce = c->ce;
	struct mfs_cache_entry *e = NULL;
	struct mfs_cache_hdr h;
	MDB_txn *txn;
	MDB_val k, d;
	uint8_t idk[8];
	uint64_t atime = 0, bad_id = 0, gen;
	int rc;

	*out = NULL;
	gen = drop_gen(ce);
	rc = txn_begin(ce, MDB_RDONLY, &txn);
	if (rc)
		return rc;
	k = mkval(khash, MFS_CACHE_KHASH);
	rc = mdb_get(txn, ce->db[DB_ENTRIES], &k, &d);
	if (rc) {
		txn_abort(ce, txn);
		return rc == MDB_NOTFOUND ? -ENOENT : mdb_fail(rc, "read entry");
	}
	if (mfs_cache_hdr_decode(d.mv_data, d.mv_size, &h) < 0) {
		if (d.mv_size >= 16)
			bad_id = get_le64((const uint8_t *)d.mv_data + 8);
		txn_abort(ce, txn);
		atomic_fetch_add(&c->corrupt_chunks, 1);
		mfs_warn("cache: %s: a damaged entry header was dropped", ce->dir);
		drop_entry(ce, bad_id, khash);
		return -ENOENT;
	}
	if (h.klen != klen || (klen && memcmp(h.key, key, klen))) {
		txn_abort(ce, txn); /* another key with the same 128-bit hash */
		return -ENOENT;
	}
	put_be64(idk, h.id);
	k = mkval(idk, 8);
	if (mdb_get(txn, ce->db[DB_LIVE], &k, &d) == MDB_SUCCESS && d.mv_size >= 8)
		atime = get_le64(d.mv_data);
	e = entry_new(ce, &h, khash);
	txn_abort(ce, txn);
	if (!e)
		return -ENOMEM;
	rc = entry_publish(ce, e, gen, out);
	if (rc == 0)
		touch_note(ce, h.id, khash, atime);
	return rc;
}

int mfs_cache_lookup(struct mfs_cache *c, const void *key, size_t klen,
		     struct mfs_cache_entry **out)
{
	uint8_t khash[MFS_CACHE_KHASH];
	int rc;

	*out = NULL;
	if (!c || (!key && klen))
		return -EINVAL;
	key_hash(key, klen, khash);
	rc = lookup_entry(c, khash, key, klen, out);
	atomic_fetch_add(rc == 0 ? &c->hits : &c->misses, 1);
	return rc;
}

/* ---- producing ---- */

static int writer_begin(struct mfs_cache_writer *w)
{
	struct cache_env *ce = w->c->ce;
	struct mfs_cache_pending p;
	uint8_t pb[MFS_CACHE_PENDING_SIZE], idk[8], nb[8];
	MDB_val k, d;
	MDB_txn *txn;
	uint64_t id;
	int rc;

	for (;;) {
		rc = begin_with_room(w->c, 8, &txn);
		if (rc)
			return rc;
		rc = info_get_u64(ce, txn, "next_id", &id, NULL);
		if (rc)
			goto fail;
		if (id == 0)
			id = 1;
		put_le64(nb, id + 1);
		k = mkval("next_id", 7);
		d = mkval(nb, 8);
		rc = mdb_put(txn, ce->db[DB_INFO], &k, &d, 0);
		if (rc == MDB_SUCCESS) {
			self_pending(&p, MFS_CACHE_PENDING_PRODUCING);
			mfs_cache_pending_encode(&p, pb);
			put_be64(idk, id);
			k = mkval(idk, 8);
			d = mkval(pb, sizeof(pb));
			rc = mdb_put(txn, ce->db[DB_PENDING], &k, &d, 0);
		}
		if (rc) {
			rc = mdb_fail(rc, "start entry");
			goto fail;
		}
		rc = txn_commit(ce, txn);
		if (rc == 0) {
			w->id = id;
			return 0;
		}
		if (rc != -ENOSPC || !evict_after_full(w->c))
			return rc;
		continue;
fail:
		txn_abort(ce, txn);
		if (rc != -ENOSPC || !evict_after_full(w->c))
			return rc;
	}
}

/*
 * Write the staged chunks in one short write transaction (no producer work
 * inside it): one fdatasync per group instead of one per chunk.
 */
static int group_flush(struct mfs_cache_writer *w)
{
	struct cache_env *ce = w->c->ce;
	uint64_t need = 0;
	uint8_t kb[12];
	MDB_val k, d;
	MDB_txn *txn;
	int rc = 0, i;

	if (w->nstaged == 0)
		return 0;
	for (i = 0; i < w->nstaged; i++)
		need += need_pages(ce, w->staged[i].len);
	for (;;) {
		rc = begin_with_room(w->c, need, &txn);
		if (rc)
			return rc;
		for (i = 0; i < w->nstaged && rc == 0; i++) {
			chunk_key(kb, w->id, w->staged[i].idx);
			k = mkval(kb, sizeof(kb));
			d = mkval(NULL, w->staged[i].len);
			rc = mdb_put(txn, ce->db[DB_CHUNKS], &k, &d, MDB_RESERVE);
			if (rc == MDB_SUCCESS)
				memcpy(d.mv_data, w->gbuf + w->staged[i].off, w->staged[i].len);
		}
		if (rc) {
			txn_abort(ce, txn);
			rc = mdb_fail(rc, "write chunk");
		} else {
			rc = txn_commit(ce, txn);
		}
		if (rc == 0)
			break;
		if (rc != -ENOSPC || !evict_after_full(w->c)) {
			if (rc == -ENOSPC)
				mfs_set_error("cache: entry does not fit in the cache");
			return rc;
		}
	}
	w->nstaged = 0;
	w->gfill = 0;
	return 0;
}

/* Compress one chunk of @len bytes (at most chunk_size) and stage it. */
static int writer_chunk(struct mfs_cache_writer *w, const uint8_t *data, size_t len)
{
	struct mfs_cache_chunk ck = { 0 };
	uint8_t *rec, *payload;
	size_t plen, z;

	if (w->nchunks == UINT32_MAX)
		return -EFBIG;
	if (!w->cctx) {
		w->cctx = ZSTD_createCCtx();
		w->zcap = ZSTD_compressBound(w->chunk_size);
		w->gcap = GROUP_BYTES + MFS_CACHE_CHUNK_HEAD + w->zcap;
		w->gbuf = malloc(w->gcap);
		if (!w->cctx || !w->gbuf)
			return -ENOMEM;
	}
	rec = w->gbuf + w->gfill;
	payload = rec + MFS_CACHE_CHUNK_HEAD;
	ck.version = MFS_CACHE_FORMAT;
	ck.codec = MFS_CACHE_CODEC_ZSTD;
	ck.raw_len = (uint32_t)len;
	ck.sum = XXH3_64bits_withSeed(data, len, mfs_cache_chunk_seed(w->id, w->nchunks));
	z = ZSTD_compressCCtx(w->cctx, payload, w->zcap, data, len, ZSTD_LEVEL);
	plen = z;
	if (ZSTD_isError(z) || z >= len) {
		/* incompressible: stored as it is */
		ck.codec = MFS_CACHE_CODEC_RAW;
		memcpy(payload, data, len);
		plen = len;
	}
	mfs_cache_chunk_encode_head(&ck, rec);
	w->staged[w->nstaged].idx = w->nchunks;
	w->staged[w->nstaged].off = w->gfill;
	w->staged[w->nstaged].len = MFS_CACHE_CHUNK_HEAD + plen;
	w->nstaged++;
	w->gfill += MFS_CACHE_CHUNK_HEAD + plen;
	w->nchunks++;
	w->size += len;
	w->stored += MFS_CACHE_CHUNK_HEAD + plen;
	if (w->nstaged == GROUP_CHUNKS || w->gfill >= GROUP_BYTES)
		return group_flush(w);
	return 0;
}

static void *stage_main(void *arg)
{
	struct mfs_cache_writer *w = arg;
	int err = 0;

	pthread_mutex_lock(&w->qlock);
	for (;;) {
		uint8_t *b;
		size_t len;

		while (w->qn == 0 && !w->qdone)
			pthread_cond_wait(&w->qcond, &w->qlock);
		if (w->qn == 0)
			break;
		b = w->q[w->qhead];
		len = w->qlen[w->qhead];
		w->qhead = (w->qhead + 1) % QDEPTH;
		w->qn--;
		pthread_mutex_unlock(&w->qlock);
		if (!err) {
			mfs_clear_error();
			err = writer_chunk(w, b, len);
		}
		pthread_mutex_lock(&w->qlock);
		w->spare[w->nspare++] = b;
		if (err && !w->qerr) {
			w->qerr = err;
			snprintf(w->qwhy, sizeof(w->qwhy), "%s", mfs_last_error());
		}
		pthread_cond_broadcast(&w->qcond);
	}
	pthread_mutex_unlock(&w->qlock);
	return NULL;
}

/* Hand the full buffer to the stage thread and take an empty one. */
static int stage_push(struct mfs_cache_writer *w)
{
	int err;

	if (!w->thr_on) {
		pthread_mutex_init(&w->qlock, NULL);
		pthread_cond_init(&w->qcond, NULL);
		if (pthread_create(&w->thr, NULL, stage_main, w) != 0) {
			pthread_mutex_destroy(&w->qlock);
			pthread_cond_destroy(&w->qcond);
			return writer_chunk(w, w->buf, w->fill); /* no thread: inline */
		}
		w->thr_on = true;
	}
	pthread_mutex_lock(&w->qlock);
	while (w->qn == QDEPTH && !w->qerr)
		pthread_cond_wait(&w->qcond, &w->qlock);
	if ((err = w->qerr) == 0) {
		w->q[(w->qhead + w->qn) % QDEPTH] = w->buf;
		w->qlen[(w->qhead + w->qn) % QDEPTH] = w->fill;
		w->qn++;
		w->buf = w->nspare ? w->spare[--w->nspare] : NULL;
		pthread_cond_broadcast(&w->qcond);
	}
	pthread_mutex_unlock(&w->qlock);
	if (err) {
		mfs_set_error("%s", w->qwhy);
		return err;
	}
	if (!w->buf && !(w->buf = malloc(w->chunk_size)))
		return -ENOMEM;
	return 0;
}

/* Wait for the stage thread to write what it has: its error, or 0. */
static int stage_join(struct mfs_cache_writer *w)
{
	int err;

	if (!w->thr_on)
		return 0;
	pthread_mutex_lock(&w->qlock);
	w->qdone = true;
	pthread_cond_broadcast(&w->qcond);
	pthread_mutex_unlock(&w->qlock);
	pthread_join(w->thr, NULL);
	w->thr_on = false;
	err = w->qerr;
	if (err)
		mfs_set_error("%s", w->qwhy);
	while (w->nspare)
		free(w->spare[--w->nspare]);
	pthread_mutex_destroy(&w->qlock);
	pthread_cond_destroy(&w->qcond);
	return err;
}

int mfs_cache_write(struct mfs_cache_writer *w, const void *data, size_t len)
{
	const uint8_t *p = data;
	int rc = 0;

	if (w->err)
		return w->err;
	if (len && !data)
		return w->err = -EINVAL;
	if (w->queued + w->fill + len < w->queued)
		return w->err = -EFBIG;
	while (len && rc == 0) {
		size_t n = w->chunk_size - w->fill;

		if (n > len)
			n = len;
		memcpy(w->buf + w->fill, p, n);
		w->fill += n;
		p += n;
		len -= n;
		if (w->fill == w->chunk_size) {
			rc = stage_push(w);
			w->queued += w->fill;
			w->fill = 0;
		}
	}
	if (rc)
		w->err = rc;
	return rc;
}

int mfs_cache_set_meta(struct mfs_cache_writer *w, const void *meta, size_t len)
{
	uint8_t *m;

	if (w->err)
		return w->err;
	if (len > MAX_META)
		return -EFBIG;
	if (len && !meta)
		return -EINVAL;
	m = malloc(len ? len : 1);
	if (!m)
		return -ENOMEM;
	if (len)
		memcpy(m, meta, len);
	free(w->meta);
	w->meta = m;
	w->mlen = len;
	return 0;
}

/*
 * Write the header: the entry becomes visible. If another process completed
 * the same key first, its entry is kept and ours collected. *@settled: our
 * chunks belong to a complete entry or are collected already, whatever the
 * result (the caller must not collect them).
 */
static int writer_complete(struct mfs_cache_writer *w, struct mfs_cache_entry **out,
			   bool *settled)
{
	struct mfs_cache *c = w->c;
	struct cache_env *ce = c->ce;
	struct mfs_cache_hdr h = { 0 }, old;
	struct mfs_cache_pending pend;
	struct mfs_cache_entry *e;
	uint8_t *hb, idk[8], lk[16], lv[8 + MFS_CACHE_KHASH];
	size_t hlen;
	uint64_t now = now_ms(), old_id = 0, gen;
	MDB_val k, d;
	MDB_txn *txn;
	bool theirs = false, replaced = false;
	int rc;

	h.version = MFS_CACHE_FORMAT;
	h.chunk_size = (uint32_t)w->chunk_size;
	h.nchunks = w->nchunks;
	h.id = w->id;
	h.size = w->size;
	h.stored = w->stored;
	h.ctime_ms = now;
	h.klen = (uint32_t)w->klen;
	h.mlen = (uint32_t)w->mlen;
	h.key = w->key;
	h.meta = w->meta;
	hlen = mfs_cache_hdr_size(h.klen, h.mlen);
	hb = malloc(hlen);
	if (!hb)
		return -ENOMEM;
	mfs_cache_hdr_encode(&h, hb);
	gen = drop_gen(ce);
	put_be64(idk, w->id);

	for (;;) {
		theirs = replaced = false;
		rc = begin_with_room(c, need_pages(ce, hlen) + 4, &txn);
		if (rc)
			goto out;
		/* a sweep in another process may have judged us dead (other PID namespace) */
		k = mkval(idk, 8);
		rc = mdb_get(txn, ce->db[DB_PENDING], &k, &d);
		if (rc == MDB_SUCCESS &&
		    (mfs_cache_pending_decode(d.mv_data, d.mv_size, &pend) < 0 ||
		     pend.state != MFS_CACHE_PENDING_PRODUCING || pend.pid != (uint32_t)getpid()))
			rc = MDB_NOTFOUND;
		if (rc == MDB_NOTFOUND) {
			txn_abort(ce, txn);
			mfs_set_error("cache: the unfinished entry was removed by another process");
			rc = -ESTALE;
			goto out;
		}
		k = mkval(w->khash, MFS_CACHE_KHASH);
		rc = mdb_get(txn, ce->db[DB_ENTRIES], &k, &d);
		if (rc == MDB_SUCCESS) {
			if (mfs_cache_hdr_decode(d.mv_data, d.mv_size, &old) == 0 &&
			    old.klen == w->klen &&
			    (w->klen == 0 || !memcmp(old.key, w->key, w->klen))) {
				theirs = true;
				txn_abort(ce, txn);
				break;
			}
			/* a damaged header, or another key with our hash: replace it */
			old_id = d.mv_size >= 16 ? get_le64((const uint8_t *)d.mv_data + 8) : 0;
			rc = entry_kill(ce, txn, old_id, w->khash);
			if (rc)
				goto fail;
			replaced = true;
		} else if (rc != MDB_NOTFOUND) {
			rc = mdb_fail(rc, "read entry");
			goto fail;
		}
		d = mkval(hb, hlen);
		rc = mdb_put(txn, ce->db[DB_ENTRIES], &k, &d, 0);
		if (rc == MDB_SUCCESS) {
			put_le64(lv, now);
			memcpy(lv + 8, w->khash, MFS_CACHE_KHASH);
			k = mkval(idk, 8);
			d = mkval(lv, sizeof(lv));
			rc = mdb_put(txn, ce->db[DB_LIVE], &k, &d, 0);
		}
		if (rc == MDB_SUCCESS) {
			put_be64(lk, now);
			put_be64(lk + 8, w->id);
			k = mkval(lk, 16);
			d = mkval(w->khash, MFS_CACHE_KHASH);
			rc = mdb_put(txn, ce->db[DB_LRU], &k, &d, 0);
		}
		if (rc == MDB_SUCCESS) {
			k = mkval(idk, 8);
			rc = mdb_del(txn, ce->db[DB_PENDING], &k, NULL);
		}
		if (rc) {
			rc = mdb_fail(rc, "complete entry");
			goto fail;
		}
		rc = totals_add(ce, txn, (int64_t)w->stored, (int64_t)w->size);
		if (rc)
			goto fail;
		rc = txn_commit(ce, txn);
		if (rc == 0)
			break;
		goto retry;
fail:
		txn_abort(ce, txn);
retry:
		if (rc != -ENOSPC || !evict_after_full(c))
			goto out;
	}

	*settled = true;
	if (theirs) {
		/* ours is redundant: collect it, serve theirs */
		collect(ce, w->id);
		rc = lookup_entry(c, w->khash, w->key, w->klen, out);
		if (rc == -ENOENT) {
			/* evicted already: the caller serves it without the cache */
			mfs_set_error("cache: the entry was evicted as soon as it was complete");
			rc = -ENOSPC;
		}
		goto out;
	}
	if (replaced) {
		drops_done(ce);
		collect(ce, old_id);
	}
	h.key = hb + MFS_CACHE_HDR_FIXED;
	h.meta = hb + MFS_CACHE_HDR_FIXED + h.klen;
	e = entry_new(ce, &h, w->khash);
	if (!e) {
		rc = -ENOMEM;
		goto out;
	}
	/* evicted already (a tiny cache under pressure from other processes) */
	rc = entry_publish(ce, e, gen, out);
	if (rc == -ENOENT) {
		mfs_set_error("cache: the entry was evicted as soon as it was complete");
		rc = -ENOSPC;
	}
out:
	free(hb);
	return rc;
}

/* Run the producer for a missing key: 0 with a new reference in *@out, or -errno. */
static int produce(struct mfs_cache *c, const uint8_t khash[MFS_CACHE_KHASH], const void *key,
		   size_t klen, mfs_cache_producer_fn fn, void *arg, struct mfs_cache_entry **out)
{
	struct mfs_cache_writer w = { 0 };
	bool settled = false;
	int rc, crc;

	w.c = c;
	memcpy(w.khash, khash, MFS_CACHE_KHASH);
	w.key = key;
	w.klen = klen;
	w.chunk_size = c->chunk_size;
	w.buf = malloc(w.chunk_size);
	if (!w.buf)
		return -ENOMEM;
	rc = writer_begin(&w);
	if (rc) {
		free(w.buf);
		return rc;
	}
	mfs_clear_error();
	rc = fn(arg, &w);
	if (rc > 0) {
		mfs_warn("cache: a producer returned %d, not 0 or -errno", rc);
		rc = -EIO;
	}
	if (rc == 0 && w.err)
		rc = w.err;
	crc = stage_join(&w);
	if (rc == 0)
		rc = crc;
	if (rc == 0 && w.fill) {
		rc = writer_chunk(&w, w.buf, w.fill);
		w.fill = 0;
	}
	if (rc == 0)
		rc = group_flush(&w);
	if (rc == 0)
		rc = writer_complete(&w, out, &settled);
	if (rc && !settled) {
		/* abandoned: nothing of it stays */
		crc = collect(c->ce, w.id);

		if (crc)
			mfs_warn("cache: %s: an abandoned entry is left for the next cleanup: %s",
				 c->ce->dir, strerror(-crc));
	}
	ZSTD_freeCCtx(w.cctx);
	free(w.gbuf);
	free(w.buf);
	free(w.meta);
	return rc;
}

static struct flight *flight_find(struct cache_env *ce, const uint8_t khash[MFS_CACHE_KHASH],
				  const void *key, size_t klen)
{
	for (struct flight *f = ce->flights; f; f = f->next)
		if (!memcmp(f->khash, khash, MFS_CACHE_KHASH) && f->klen == klen &&
		    (klen == 0 || !memcmp(f->key, key, klen)))
			return f;
	return NULL;
}

/* Caller holds flight_lock. */
static void flight_unref(struct flight *f)
{
	if (--f->refs)
		return;
	pthread_cond_destroy(&f->cond);
	if (f->entry)
		mfs_cache_entry_put(f->entry);
	free(f->key);
	free(f);
}

int mfs_cache_get(struct mfs_cache *c, const void *key, size_t klen, mfs_cache_producer_fn fn,
		  void *arg, struct mfs_cache_entry **out, int *produced)
{
	struct cache_env *ce;
	uint8_t khash[MFS_CACHE_KHASH];
	struct flight *f, **pp;
	int rc;

	*out = NULL;
	if (produced)
		*produced = 0;
	if (!c || !fn || (!key && klen))
		return -EINVAL;
	if (klen > MAX_KEY)
		return -ENAMETOOLONG;
	ce = c->ce;
	key_hash(key, klen, khash);
	rc = lookup_entry(c, khash, key, klen, out);
	if (rc != -ENOENT) {
		if (rc == 0)
			atomic_fetch_add(&c->hits, 1);
		return rc;
	}
	atomic_fetch_add(&c->misses, 1);

	pthread_mutex_lock(&ce->flight_lock);
	f = flight_find(ce, khash, key, klen);
	if (f) {
		f->refs++;
		while (!f->done)
			pthread_cond_wait(&f->cond, &ce->flight_lock);
		rc = f->rc;
		if (rc == 0) {
			entry_ref(f->entry);
			*out = f->entry;
		}
		flight_unref(f);
		pthread_mutex_unlock(&ce->flight_lock);
		return rc;
	}
	f = calloc(1, sizeof(*f));
	if (!f || (klen && !(f->key = malloc(klen)))) {
		pthread_mutex_unlock(&ce->flight_lock);
		free(f);
		return -ENOMEM;
	}
	memcpy(f->khash, khash, MFS_CACHE_KHASH);
	if (klen)
		memcpy(f->key, key, klen);
	f->klen = klen;
	f->refs = 1;
	pthread_cond_init(&f->cond, NULL);
	f->next = ce->flights;
	ce->flights = f;
	pthread_mutex_unlock(&ce->flight_lock);

	/* a flight that ended between our lookup and our registration left its entry */
	rc = lookup_entry(c, khash, key, klen, out);
	if (rc == -ENOENT) {
		rc = produce(c, khash, key, klen, fn, arg, out);
		if (produced)
			*produced = 1;
	}

	pthread_mutex_lock(&ce->flight_lock);
	for (pp = &ce->flights; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	f->done = true;
	f->rc = rc;
	if (rc == 0) {
		entry_ref(*out);
		f->entry = *out;
	}
	pthread_cond_broadcast(&f->cond);
	flight_unref(f);
	pthread_mutex_unlock(&ce->flight_lock);
	return rc;
}

/* ---- reading ---- */

/*
 * Chunk @idx of @e into @dst (its full length @len). -ESTALE when the entry
 * was dropped meanwhile, -EBADMSG (entry dropped) when the chunk is damaged.
 */
/*
 * Drop our mapping of the whole pages of a value just read (the file's page
 * cache keeps them): reading a 1 GiB entry would otherwise leave its
 * compressed pages in the process's RSS until memory pressure.
 */
static void map_release(const void *p, size_t len)
{
	static uintptr_t pg;

	if (!pg)
		pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1);
	uintptr_t b = ((uintptr_t)p + len) & ~(pg - 1);

	if (b > a)
		(void)madvise((void *)a, b - a, MADV_DONTNEED);
}

static int chunk_load(struct mfs_cache *c, struct mfs_cache_entry *e, uint32_t idx, void *dst,
		      size_t len)
{
	struct cache_env *ce = e->ce;
	struct mfs_cache_chunk ck;
	ZSTD_DCtx *dctx;
	MDB_txn *txn;
	MDB_val k, d;
	uint8_t kb[12];
	int rc;

	rc = txn_begin(ce, MDB_RDONLY, &txn);
	if (rc)
		return rc;
	chunk_key(kb, e->id, idx);
	k = mkval(kb, sizeof(kb));
	rc = mdb_get(txn, ce->db[DB_CHUNKS], &k, &d);
	if (rc == MDB_NOTFOUND) {
		uint8_t idk[8];

		put_be64(idk, e->id);
		k = mkval(idk, 8);
		rc = mdb_get(txn, ce->db[DB_LIVE], &k, &d);
		txn_abort(ce, txn);
		if (rc == MDB_NOTFOUND) {
			mfs_set_error("cache: the entry was dropped while open");
			return -ESTALE;
		}
		rc = -EBADMSG; /* a complete entry without its chunk */
		goto damaged;
	}
	if (rc) {
		txn_abort(ce, txn);
		return mdb_fail(rc, "read chunk");
	}
	rc = mfs_cache_chunk_decode(d.mv_data, d.mv_size, &ck);
	if (rc == 0) {
		dctx = dctx_get(ce);
		rc = mfs_cache_chunk_unpack(&ck, e->id, idx, dst, len, dctx);
		dctx_put(ce, dctx);
	}
	map_release(d.mv_data, d.mv_size);
	txn_abort(ce, txn);
	if (rc == 0)
		return 0;
damaged:
	atomic_fetch_add(&c->corrupt_chunks, 1);
	mfs_warn("cache: %s: chunk %" PRIu32 " of entry %" PRIu64 " is damaged; entry dropped",
		 ce->dir, idx, e->id);
	drop_entry(ce, e->id, e->khash);
	mfs_set_error("cache: chunk %" PRIu32 " failed its checksum; the entry was dropped", idx);
	return -EBADMSG;
}

ssize_t mfs_cache_read(struct mfs_cache *c, struct mfs_cache_entry *e, void *buf, size_t len,
		       uint64_t off)
{
	struct cache_env *ce;
	uint8_t *out = buf;
	size_t done = 0;
	int rc;

	if (!c || !e || e->ce != c->ce || (len && !buf))
		return -EINVAL;
	ce = c->ce;
	if (off >= e->size || len == 0)
		return 0;
	if (len > e->size - off)
		len = (size_t)(e->size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (done < len) {
		uint64_t pos = off + done;
		uint32_t idx = (uint32_t)(pos / e->chunk_size);
		size_t in = (size_t)(pos % e->chunk_size);
		uint64_t cstart = (uint64_t)idx * e->chunk_size;
		size_t clen = (size_t)(e->size - cstart < e->chunk_size ? e->size - cstart
									: e->chunk_size);
		size_t n = clen - in < len - done ? clen - in : len - done;
		struct dchunk *dc;

		if (in == 0 && n == clen) {
			/* the whole chunk is wanted: decompress in place, skip the LRU */
			rc = chunk_load(c, e, idx, out + done, clen);
			if (rc)
				return rc;
			done += n;
			continue;
		}
		dc = lru_get(ce, e->id, idx);
		if (!dc) {
			dc = malloc(sizeof(*dc) + clen);
			if (!dc)
				return -ENOMEM;
			dc->id = e->id;
			dc->idx = idx;
			dc->len = (uint32_t)clen;
			dc->refs = 1;
			dc->used = 0;
			rc = chunk_load(c, e, idx, dc->data, clen);
			if (rc) {
				free(dc);
				return rc;
			}
			lru_insert(ce, dc);
		}
		memcpy(out + done, dc->data + in, n);
		dchunk_put(ce, dc);
		done += n;
	}
	return (ssize_t)done;
}

/* ---- invalidate, purge, stats ---- */

int mfs_cache_invalidate(struct mfs_cache *c, const void *key, size_t klen)
{
	struct cache_env *ce;
	struct mfs_cache_hdr h;
	uint8_t khash[MFS_CACHE_KHASH];
	MDB_txn *txn;
	MDB_val k, d;
	uint64_t id;
	int rc;

	if (!c || (!key && klen))
		return -EINVAL;
	ce = c->ce;
	key_hash(key, klen, khash);
	rc = txn_begin(ce, 0, &txn);
	if (rc)
		return rc;
	k = mkval(khash, MFS_CACHE_KHASH);
	rc = mdb_get(txn, ce->db[DB_ENTRIES], &k, &d);
	if (rc) {
		txn_abort(ce, txn);
		return rc == MDB_NOTFOUND ? 0 : mdb_fail(rc, "read entry");
	}
	if (mfs_cache_hdr_decode(d.mv_data, d.mv_size, &h) == 0) {
		if (h.klen != klen || (klen && memcmp(h.key, key, klen))) {
			txn_abort(ce, txn); /* the slot holds another key */
			return 0;
		}
		id = h.id;
	} else {
		id = d.mv_size >= 16 ? get_le64((const uint8_t *)d.mv_data + 8) : 0;
	}
	rc = entry_kill(ce, txn, id, khash);
	if (rc) {
		txn_abort(ce, txn);
		return rc;
	}
	rc = txn_commit(ce, txn);
	drops_done(ce);
	lru_drop(ce, id, false);
	if (rc)
		return rc;
	return collect(ce, id);
}

/* One batch of complete entries dropped in one transaction: how many, or -errno. */
static int purge_batch(struct cache_env *ce, struct idvec *ids)
{
	uint8_t kh[PURGE_BATCH][MFS_CACHE_KHASH];
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	MDB_val k, d;
	size_t n = 0;
	int rc;

	ids->n = 0;
	rc = txn_begin(ce, 0, &txn);
	if (rc)
		return rc;
	rc = mdb_cursor_open(txn, ce->db[DB_ENTRIES], &cur);
	for (rc = rc ? rc : mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0 && n < PURGE_BATCH;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		uint64_t id = d.mv_size >= 16 ? get_le64((const uint8_t *)d.mv_data + 8) : 0;

		if (k.mv_size != MFS_CACHE_KHASH)
			continue;
		if (idvec_push(ids, id) < 0)
			break;
		memcpy(kh[n++], k.mv_data, MFS_CACHE_KHASH);
	}
	mdb_cursor_close(cur);
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = entry_kill(ce, txn, ids->v[i], kh[i]);
	if (rc) {
		txn_abort(ce, txn);
		return rc;
	}
	rc = txn_commit(ce, txn);
	drops_done(ce);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = collect(ce, ids->v[i]);
	return rc ? rc : (int)n;
}

int mfs_cache_purge(struct mfs_cache *c)
{
	struct cache_env *ce;
	struct idvec ids = { 0 };
	int rc;

	if (!c)
		return -EINVAL;
	ce = c->ce;
	pthread_mutex_lock(&ce->evict_lock);
	do
		rc = purge_batch(ce, &ids);
	while (rc > 0);
	free(ids.v);
	lru_drop(ce, 0, true);
	if (rc == 0) {
		/* leftovers of dead processes; live producers keep theirs */
		ce->last_sweep_ms = now_ms();
		rc = sweep(ce);
	}
	pthread_mutex_unlock(&ce->evict_lock);
	return rc;
}

int mfs_cache_get_stats(struct mfs_cache *c, struct mfs_cache_stats *st)
{
	struct cache_env *ce;
	MDB_txn *txn;
	MDB_stat ms;
	int rc;

	if (!c || !st)
		return -EINVAL;
	ce = c->ce;
	memset(st, 0, sizeof(*st));
	rc = txn_begin(ce, MDB_RDONLY, &txn);
	if (rc)
		return rc;
	if (mdb_stat(txn, ce->db[DB_ENTRIES], &ms) == MDB_SUCCESS)
		st->entries = ms.ms_entries;
	rc = info_get_u64(ce, txn, "totals", &st->bytes_stored, &st->bytes_content);
	st->map_size = ce->mapsize;
	txn_abort(ce, txn);
	st->hits = atomic_load(&c->hits);
	st->misses = atomic_load(&c->misses);
	st->evictions = atomic_load(&c->evictions);
	st->corrupt_chunks = atomic_load(&c->corrupt_chunks);
	return rc;
}

int mfs_cache_debug_counts(struct mfs_cache *c, struct mfs_cache_debug *dbg)
{
	struct cache_env *ce = c->ce;
	MDB_envinfo info;
	MDB_txn *txn;
	MDB_stat ms;
	uint64_t *dst[NDB] = { &dbg->entries, &dbg->chunks, &dbg->pending, &dbg->live, &dbg->lru,
			       NULL };
	int rc;

	memset(dbg, 0, sizeof(*dbg));
	rc = txn_begin(ce, MDB_RDONLY, &txn);
	if (rc)
		return rc;
	for (int i = 0; i < NDB; i++)
		if (dst[i] && mdb_stat(txn, ce->db[i], &ms) == MDB_SUCCESS)
			*dst[i] = ms.ms_entries;
	dbg->used_pages = used_pages(ce, txn);
	txn_abort(ce, txn);
	dbg->budget_pages = c->budget_pages;
	dbg->psize = ce->psize;
	if (mdb_env_info(ce->env, &info) == MDB_SUCCESS)
		dbg->last_pgno = info.me_last_pgno;
	return 0;
}

/* ---- open and close ---- */

static int mkdir_p(const char *dir, mode_t mode)
{
	char *p, *s = strdup(dir);
	int rc = 0;

	if (!s)
		return -ENOMEM;
	for (p = s + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(s, mode) < 0 && errno != EEXIST) {
			rc = -errno;
			break;
		}
		*p = c;
		if (!c)
			break;
	}
	free(s);
	return rc;
}

/* The map size for @want bytes: capped by the disk's free space, at least MIN_MAP. */
static uint64_t map_cap(const char *dir, uint64_t want, unsigned psize)
{
	struct statvfs vfs;
	struct stat st;
	char path[PATH_MAX];
	uint64_t room;

	if (statvfs(dir, &vfs) == 0) {
		room = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		snprintf(path, sizeof(path), "%s/data.mdb", dir);
		if (stat(path, &st) == 0)
			room += (uint64_t)st.st_size; /* already ours */
		if (want > room) {
			mfs_info("cache: %s: cache_size capped to the free disk space, %" PRIu64
				 " MiB", dir, room >> 20);
			want = room;
		}
	}
	if (want < MIN_MAP)
		want = MIN_MAP;
	return want / psize * psize;
}

static void env_free(struct cache_env *ce)
{
	if (!ce)
		return;
	if (ce->env)
		mdb_env_close(ce->env);
	lru_drop(ce, 0, true);
	for (int i = 0; i < ce->ndctx; i++)
		ZSTD_freeDCtx(ce->dctx[i]);
	pthread_rwlock_destroy(&ce->map_lock);
	pthread_mutex_destroy(&ce->evict_lock);
	pthread_mutex_destroy(&ce->flight_lock);
	pthread_mutex_destroy(&ce->open_lock);
	pthread_mutex_destroy(&ce->lru_lock);
	pthread_mutex_destroy(&ce->dctx_lock);
	free(ce->dir);
	free(ce);
}

/* Open the named databases; a cache of another format is emptied. */
static int env_init_dbs(struct cache_env *ce, char *msg, size_t msglen)
{
	MDB_txn *txn;
	MDB_val k = mkval("format", 6), d;
	uint8_t fb[4];
	int rc;

	rc = txn_begin(ce, 0, &txn);
	if (rc) {
		snprintf(msg, msglen, "cannot start a transaction in %s: %s", ce->dir,
			 mfs_last_error());
		return rc;
	}
	for (int i = 0; i < NDB; i++) {
		rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &ce->db[i]);
		if (rc) {
			txn_abort(ce, txn);
			snprintf(msg, msglen, "cannot open database %s in %s: %s", db_names[i],
				 ce->dir, mdb_strerror(rc));
			return mdb_fail(rc, "open database");
		}
	}
	rc = mdb_get(txn, ce->db[DB_INFO], &k, &d);
	if (rc == MDB_SUCCESS && d.mv_size == 4 && get_le32(d.mv_data) == MFS_CACHE_FORMAT) {
		rc = txn_commit(ce, txn); /* an aborted transaction would close the handles */
		if (rc)
			snprintf(msg, msglen, "cannot open the cache in %s: %s", ce->dir,
				 mfs_last_error());
		return rc;
	}
	if (rc == MDB_SUCCESS) {
		mfs_warn("cache: %s was written in another format; emptying it", ce->dir);
		for (int i = 0; i < NDB && rc == MDB_SUCCESS; i++)
			rc = mdb_drop(txn, ce->db[i], 0);
	} else if (rc == MDB_NOTFOUND) {
		rc = MDB_SUCCESS;
	}
	if (rc == MDB_SUCCESS) {
		put_le32(fb, MFS_CACHE_FORMAT);
		d = mkval(fb, 4);
		rc = mdb_put(txn, ce->db[DB_INFO], &k, &d, 0);
	}
	if (rc) {
		txn_abort(ce, txn);
		snprintf(msg, msglen, "cannot initialise the cache in %s: %s", ce->dir,
			 mdb_strerror(rc));
		return mdb_fail(rc, "initialise");
	}
	rc = txn_commit(ce, txn);
	if (rc)
		snprintf(msg, msglen, "cannot initialise the cache in %s: %s", ce->dir,
			 mfs_last_error());
	return rc;
}

static int env_open(const char *dir, const struct stat *dst, uint64_t want, struct cache_env **out,
		    char *msg, size_t msglen)
{
	struct cache_env *ce = calloc(1, sizeof(*ce));
	pthread_rwlockattr_t ra;
	MDB_envinfo info;
	MDB_stat ms;
	int rc, dead = 0;

	*out = NULL;
	if (!ce || !(ce->dir = strdup(dir))) {
		free(ce);
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	ce->dev = dst->st_dev;
	ce->ino = dst->st_ino;
	ce->owner = getpid();
	ce->refs = 1;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&ce->map_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&ce->evict_lock, NULL);
	pthread_mutex_init(&ce->flight_lock, NULL);
	pthread_mutex_init(&ce->open_lock, NULL);
	pthread_mutex_init(&ce->lru_lock, NULL);
	pthread_mutex_init(&ce->dctx_lock, NULL);

	rc = mdb_env_create(&ce->env);
	if (rc) {
		ce->env = NULL;
		snprintf(msg, msglen, "cannot create the cache environment: %s", mdb_strerror(rc));
		rc = mdb_errno(rc);
		goto out;
	}
	mdb_env_set_maxdbs(ce->env, NDB + 2);
	mdb_env_set_maxreaders(ce->env, MAXREADERS);
	mdb_env_set_mapsize(ce->env, map_cap(dir, want, (unsigned)sysconf(_SC_PAGESIZE)));
	rc = mdb_env_open(ce->env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0600);
	if (rc) {
		if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED)
			snprintf(msg, msglen,
				 "%s does not hold a usable cache (%s); remove data.mdb and "
				 "lock.mdb there, or choose another cache_dir",
				 dir, mdb_strerror(rc));
		else
			snprintf(msg, msglen, "cannot open the cache in %s: %s", dir,
				 mdb_strerror(rc));
		rc = mdb_errno(rc);
		goto out;
	}
	/* a killed process leaves its reader slots behind */
	mdb_reader_check(ce->env, &dead);
	if (dead)
		mfs_debug("cache: %s: cleared %d stale reader slots", dir, dead);
	mdb_env_stat(ce->env, &ms);
	ce->psize = ms.ms_psize;
	mdb_env_info(ce->env, &info);
	ce->mapsize = info.me_mapsize;
	rc = env_init_dbs(ce, msg, msglen);
	if (rc)
		goto out;
	ce->last_sweep_ms = now_ms();
	sweep(ce);
	*out = ce;
	ce = NULL;
out:
	env_free(ce);
	return rc;
}

int mfs_cache_open(const struct mfs_cache_config *cfg, struct mfs_cache **out, char *msg,
		   size_t msglen)
{
	struct mfs_cache *c = NULL;
	struct cache_env *ce;
	struct stat st;
	uint64_t want, cap;
	size_t chunk;
	char dummy[1];
	int rc;

	*out = NULL;
	if (!msg || !msglen) {
		msg = dummy;
		msglen = sizeof(dummy);
	}
	msg[0] = '\0';
	if (!cfg || !cfg->dir || !*cfg->dir) {
		snprintf(msg, msglen, "no cache directory given");
		return -EINVAL;
	}
	chunk = cfg->chunk_size ? cfg->chunk_size : DEFAULT_CHUNK;
	if (chunk < MIN_CHUNK || chunk > MAX_CHUNK) {
		snprintf(msg, msglen, "cache chunk size %zu is outside %u..%u", chunk, MIN_CHUNK,
			 MAX_CHUNK);
		return -EINVAL;
	}
	want = cfg->max_bytes ? cfg->max_bytes : DEFAULT_MAX_BYTES;
	rc = mkdir_p(cfg->dir, 0700);
	if (rc == 0 && stat(cfg->dir, &st) < 0)
		rc = -errno;
	if (rc == 0 && !S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	if (rc) {
		snprintf(msg, msglen, "cannot create the cache directory %s: %s", cfg->dir,
			 strerror(-rc));
		return rc;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}

	pthread_mutex_lock(&registry_lock);
	for (ce = registry; ce; ce = ce->next)
		if (ce->dev == st.st_dev && ce->ino == st.st_ino && ce->owner == getpid())
			break;
	if (ce) {
		ce->refs++;
	} else {
		rc = env_open(cfg->dir, &st, want, &ce, msg, msglen);
		if (rc) {
			pthread_mutex_unlock(&registry_lock);
			free(c);
			return rc;
		}
		ce->next = registry;
		registry = ce;
	}
	pthread_mutex_unlock(&registry_lock);

	c->ce = ce;
	c->chunk_size = chunk;
	cap = map_cap(cfg->dir, want, ce->psize);
	pthread_rwlock_wrlock(&ce->map_lock);
	if (cap > ce->mapsize && mdb_env_set_mapsize(ce->env, cap) == MDB_SUCCESS) {
		/* a second handle with a larger bound grows the shared map */
		MDB_envinfo info;

		if (mdb_env_info(ce->env, &info) == MDB_SUCCESS)
			ce->mapsize = info.me_mapsize;
	}
	pthread_rwlock_unlock(&ce->map_lock);
	c->budget_pages = cap / ce->psize;
	c->high_pages = c->budget_pages * HIGH_PCT / 100;
	c->low_pages = c->budget_pages * LOW_PCT / 100;
	c->hard_pages = c->budget_pages * HARD_PCT / 100;
	*out = c;
	return 0;
}

void mfs_cache_close(struct mfs_cache *c)
{
	struct cache_env *ce, **pp;
	bool last;

	if (!c)
		return;
	ce = c->ce;
	touches_flush(ce);
	pthread_mutex_lock(&registry_lock);
	last = --ce->refs == 0;
	if (last) {
		for (pp = &registry; *pp; pp = &(*pp)->next) {
			if (*pp == ce) {
				*pp = ce->next;
				break;
			}
		}
	}
	pthread_mutex_unlock(&registry_lock);
	if (last) {
		size_t nopen;

		pthread_mutex_lock(&ce->open_lock);
		nopen = ce->nopen;
		pthread_mutex_unlock(&ce->open_lock);
		if (nopen)
			/* their put() still needs the environment: leak it rather than crash */
			mfs_warn("cache: %s closed with %zu entries still held; not released",
				 ce->dir, nopen);
		else
			env_free(ce);
	}
	free(c);
}
