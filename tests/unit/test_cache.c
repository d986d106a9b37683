/*
 * test_cache.c - the LMDB + zstd cache: round trips of every size at random
 * offsets, metadata, persistence, failing producers, single-flight, damaged
 * chunks and headers, kill -9 in the middle of a produce, eviction, entries
 * larger than the cache, several handles and processes on one directory,
 * invalidation under an open handle, purge.
 *
 * Every test works in its own directory under /tmp, removed at the end.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "cache_i.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

/* ---- helpers ---- */

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* Incompressible bytes, a function of (seed, position). */
static void fill_random(uint8_t *p, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;

	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		p[i] = (uint8_t)(x >> (8 * (i % 8)));
	}
}

/* CSV-like text: compresses well, like silver output. */
static void fill_csv(uint8_t *p, size_t len, uint64_t seed)
{
	static const char *const regions[] = { "eu-west", "us-east", "ap-south", "sa-east" };
	char line[160];
	size_t off = 0;
	uint64_t row = seed * 1000003;

	while (off < len) {
		int n = snprintf(line, sizeof(line),
				 "%llu,2024-%02llu-%02llu,%s,%llu.%02llu,paid\n", (unsigned long long)row,
				 (unsigned long long)(row % 12 + 1), (unsigned long long)(row % 28 + 1),
				 regions[row % 4],
				 (unsigned long long)(row * 7919 % 100000),
				 (unsigned long long)(row % 100));
		size_t m = (size_t)n < len - off ? (size_t)n : len - off;

		memcpy(p + off, line, m);
		off += m;
		row++;
	}
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tmpdir(void)
{
	char *d = strdup("/tmp/mfs-test-cache.XXXXXX");

	if (!d || !mkdtemp(d)) {
		perror("mkdtemp");
		exit(1);
	}
	return d;
}

static struct mfs_cache *open_cache(const char *dir, uint64_t max_bytes, size_t chunk)
{
	struct mfs_cache_config cfg = { .dir = dir, .max_bytes = max_bytes, .chunk_size = chunk };
	struct mfs_cache *c = NULL;
	char msg[256];
	int rc = mfs_cache_open(&cfg, &c, msg, sizeof(msg));

	CHECK_MSG(rc == 0, "open %s: %d %s", dir, rc, msg);
	return rc == 0 ? c : NULL;
}

struct prod {
	const uint8_t *data;
	size_t len;
	const void *meta;
	size_t mlen;
	int fail_rc;        /* return this after writing fail_at bytes */
	size_t fail_at;
	int delay_ms;       /* before writing */
	bool random_pieces; /* write in pieces of random sizes */
	atomic_int *calls;
	int kill_after;     /* chunks written before SIGKILL (0: never) */
	int pause_fd_w;     /* after 48 pieces: write a byte here ... */
	int pause_fd_r;     /* ... and wait for one here (-1: no pause) */
};

static int producer(void *arg, struct mfs_cache_writer *w)
{
	struct prod *p = arg;
	size_t off = 0, pieces = 0;
	int rc;

	if (p->calls)
		atomic_fetch_add(p->calls, 1);
	if (p->delay_ms)
		usleep((useconds_t)p->delay_ms * 1000);
	if (p->meta) {
		rc = mfs_cache_set_meta(w, "placeholder", 11);
		if (rc)
			return rc;
	}
	while (off < p->len) {
		size_t n = p->random_pieces ? 1 + rnd_below(300 * KiB) : 64 * KiB;

		if (n > p->len - off)
			n = p->len - off;
		if (p->fail_rc && off + n > p->fail_at) {
			n = p->fail_at - off;
			if (n)
				mfs_cache_write(w, p->data + off, n);
			return p->fail_rc;
		}
		rc = mfs_cache_write(w, p->data + off, n);
		if (rc)
			return rc;
		off += n;
		pieces++;
		if (p->pause_fd_w >= 0 && pieces == 48) { /* 3 MiB: 8 chunks written, 4 staged */
			char b = 'x';

			if (write(p->pause_fd_w, &b, 1) != 1 || read(p->pause_fd_r, &b, 1) != 1)
				return -EIO;
		}
		if (p->kill_after && pieces == (size_t)p->kill_after)
			kill(getpid(), SIGKILL);
	}
	if (p->meta)
		return mfs_cache_set_meta(w, p->meta, p->mlen);
	return 0;
}

static void prod_init(struct prod *p, const uint8_t *data, size_t len)
{
	memset(p, 0, sizeof(*p));
	p->data = data;
	p->len = len;
	p->pause_fd_w = p->pause_fd_r = -1;
}

/* Read the whole entry back in pieces of @piece bytes and compare. */
static bool read_all_equal(struct mfs_cache *c, struct mfs_cache_entry *e, const uint8_t *want,
			   size_t len, size_t piece)
{
	uint8_t *buf = malloc(piece + 1);
	size_t off = 0;
	bool ok = true;

	if (mfs_cache_entry_size(e) != len)
		ok = false;
	while (ok && off < len) {
		ssize_t n = mfs_cache_read(c, e, buf, piece, off);

		if (n <= 0 || (size_t)n != (len - off < piece ? len - off : piece) ||
		    memcmp(buf, want + off, (size_t)n)) {
			fprintf(stderr, "read_all_equal: at %zu got %zd\n", off, n);
			ok = false;
			break;
		}
		off += (size_t)n;
	}
	if (ok && mfs_cache_read(c, e, buf, piece, len) != 0)
		ok = false;
	free(buf);
	return ok;
}

static int get_entry(struct mfs_cache *c, const char *key, struct prod *p,
		     struct mfs_cache_entry **e, int *produced)
{
	return mfs_cache_get(c, key, strlen(key), producer, p, e, produced);
}

static struct mfs_cache_debug counts(struct mfs_cache *c)
{
	struct mfs_cache_debug d;

	CHECK(mfs_cache_debug_counts(c, &d) == 0);
	return d;
}

/* ---- tests ---- */

static void test_roundtrip(void)
{
	const size_t chunk = 256 * KiB;
	const size_t sizes[] = { 0, 1, 4095, chunk - 1, chunk, chunk + 1, 5 * chunk + 17,
				 20 * MiB };
	char *dir = tmpdir();
	struct mfs_cache *c = open_cache(dir, 256 * MiB, 0);
	uint8_t *buf = malloc(3 * MiB);

	if (!c)
		goto out;
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		for (int kind = 0; kind < 2; kind++) {
			size_t len = sizes[si];
			uint8_t *data = malloc(len + 1);
			struct mfs_cache_entry *e = NULL;
			struct prod p;
			char key[64];
			int produced = -1, rc;

			if (kind)
				fill_csv(data, len, si);
			else
				fill_random(data, len, si + 1);
			prod_init(&p, data, len);
			p.random_pieces = true;
			snprintf(key, sizeof(key), "rt/%zu/%d", len, kind);
			rc = get_entry(c, key, &p, &e, &produced);
			CHECK_MSG(rc == 0, "get %s: %d", key, rc);
			CHECK(produced == 1);
			if (rc == 0) {
				CHECK(mfs_cache_entry_size(e) == len);
				CHECK(read_all_equal(c, e, data, len, 128 * KiB));
				/* random offsets and lengths, some past the end */
				for (int i = 0; i < 200; i++) {
					uint64_t off = rnd_below(len + 10);
					size_t want =
						(size_t)rnd_below(i % 10 == 0 ? 3 * MiB : 70 * KiB);
					ssize_t n = mfs_cache_read(c, e, buf, want, off);
					size_t exp = off >= len ? 0
						   : len - off < want ? len - off : want;

					CHECK_MSG(n >= 0 && (size_t)n == exp,
						  "read %zu at %llu of %zu: %zd", want,
						  (unsigned long long)off, len, n);
					if (n > 0)
						CHECK(memcmp(buf, data + off, (size_t)n) == 0);
				}
				mfs_cache_entry_put(e);
			}
			/* a second get is a hit */
			rc = get_entry(c, key, &p, &e, &produced);
			CHECK(rc == 0 && produced == 0);
			if (rc == 0)
				mfs_cache_entry_put(e);
			free(data);
		}
	}
	{
		struct mfs_cache_stats st;
		struct mfs_cache_debug d = counts(c);

		CHECK(mfs_cache_get_stats(c, &st) == 0);
		CHECK(st.entries == 16);
		CHECK(st.hits == 16 && st.misses == 16);
		CHECK(st.bytes_content > 2 * 20 * MiB);
		/* random data is stored raw, the CSV compressed: stored < content */
		CHECK(st.bytes_stored < st.bytes_content);
		CHECK(d.pending == 0 && d.live == 16 && d.lru == 16);
	}
	mfs_cache_close(c);
out:
	free(buf);
	rm_rf(dir);
	free(dir);
}

static void test_small_chunks_and_meta(void)
{
	char *dir = tmpdir();
	struct mfs_cache *c = open_cache(dir, 64 * MiB, 4096);
	struct mfs_cache_entry *e = NULL;
	uint8_t data[100000];
	char meta[3000];
	const void *m;
	size_t mlen = 0;
	struct prod p;
	int rc;

	if (!c)
		goto out;
	fill_csv(data, sizeof(data), 7);
	for (size_t i = 0; i < sizeof(meta); i++)
		meta[i] = (char)('a' + i % 26);
	prod_init(&p, data, sizeof(data));
	p.random_pieces = true;
	p.meta = meta;
	p.mlen = sizeof(meta);
	rc = get_entry(c, "meta", &p, &e, NULL);
	CHECK(rc == 0);
	if (rc == 0) {
		m = mfs_cache_entry_meta(e, &mlen);
		CHECK(mlen == sizeof(meta) && memcmp(m, meta, mlen) == 0);
		CHECK(read_all_equal(c, e, data, sizeof(data), 1000));
		CHECK(read_all_equal(c, e, data, sizeof(data), 4096));
		mfs_cache_entry_put(e);
	}
	/* no meta at all: an empty blob, never NULL */
	prod_init(&p, data, 10);
	rc = get_entry(c, "nometa", &p, &e, NULL);
	CHECK(rc == 0);
	if (rc == 0) {
		m = mfs_cache_entry_meta(e, &mlen);
		CHECK(m != NULL && mlen == 0);
		mfs_cache_entry_put(e);
	}
	/* keys that differ only after 511 bytes (LMDB's key limit) are different */
	{
		char k1[2000], k2[2000];

		memset(k1, 'k', sizeof(k1));
		memset(k2, 'k', sizeof(k2));
		k2[1999] = 'x';
		prod_init(&p, data, 1000);
		rc = mfs_cache_get(c, k1, sizeof(k1), producer, &p, &e, NULL);
		CHECK(rc == 0);
		if (rc == 0)
			mfs_cache_entry_put(e);
		rc = mfs_cache_lookup(c, k2, sizeof(k2), &e);
		CHECK(rc == -ENOENT);
		rc = mfs_cache_lookup(c, k1, sizeof(k1), &e);
		CHECK(rc == 0);
		if (rc == 0)
			mfs_cache_entry_put(e);
	}
	mfs_cache_close(c);
out:
	rm_rf(dir);
	free(dir);
}

static void test_persistence(void)
{
	char *dir = tmpdir();
	struct mfs_cache *c = open_cache(dir, 64 * MiB, 0);
	struct mfs_cache_entry *e = NULL;
	size_t len = 3 * MiB + 5;
	uint8_t *data = malloc(len);
	const void *m;
	size_t mlen;
	struct prod p;
	int rc;

	fill_csv(data, len, 99);
	prod_init(&p, data, len);
	p.meta = "{\"rows\":42}";
	p.mlen = 11;
	if (!c)
		goto out;
	rc = get_entry(c, "persist", &p, &e, NULL);
	CHECK(rc == 0);
	if (rc == 0)
		mfs_cache_entry_put(e);
	mfs_cache_close(c);

	c = open_cache(dir, 64 * MiB, 0);
	if (!c)
		goto out;
	rc = mfs_cache_lookup(c, "persist", 7, &e);
	CHECK(rc == 0);
	if (rc == 0) {
		m = mfs_cache_entry_meta(e, &mlen);
		CHECK(mlen == 11 && memcmp(m, "{\"rows\":42}", 11) == 0);
		CHECK(read_all_equal(c, e, data, len, 100 * KiB));
		mfs_cache_entry_put(e);
	}
	CHECK(mfs_cache_lookup(c, "persis", 6, &e) == -ENOENT);
	mfs_cache_close(c);
out:
	free(data);
	rm_rf(dir);
	free(dir);
}

struct getter {
	struct mfs_cache *c;
	const char *key;
	struct prod *p;
	pthread_barrier_t *bar;
	int rc;
	int produced;
	uint8_t *out; /* the entry's bytes, read back */
	size_t len;
};

static void *getter_main(void *arg)
{
	struct getter *g = arg;
	struct mfs_cache_entry *e = NULL;

	pthread_barrier_wait(g->bar);
	g->rc = get_entry(g->c, g->key, g->p, &e, &g->produced);
	if (g->rc == 0) {
		g->len = (size_t)mfs_cache_entry_size(e);
		g->out = malloc(g->len + 1);
		if (mfs_cache_read(g->c, e, g->out, g->len, 0) != (ssize_t)g->len)
			g->rc = -EIO;
		mfs_cache_entry_put(e);
	}
	return NULL;
}

static void run_getters(struct mfs_cache *c, const char *key, struct prod *p, struct getter *g,
			int n)
{
	pthread_t th[16];
	pthread_barrier_t bar;

	pthread_barrier_init(&bar, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		memset(&g[i], 0, sizeof(g[i]));
		g[i].c = c;
		g[i].key = key;
		g[i].p = p;
		g[i].bar = &bar;
		pthread_create(&th[i], NULL, getter_main, &g[i]);
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&bar);
}

static void test_producer_error(void)
{
	char *dir = tmpdir();
	struct mfs_cache *c = open_cache(dir, 64 * MiB, 0);
	size_t len = 4 * MiB;
	uint8_t *data = malloc(len);
	struct mfs_cache_entry *e = NULL;
	struct getter g[8];
	atomic_int calls = 0;
	struct prod p;
	int rc, nproduced = 0;

	if (!c)
		goto out;
	fill_random(data, len, 5);
	prod_init(&p, data, len);
	p.fail_rc = -EIO;
	p.fail_at = 3 * MiB; /* after several chunks were stored */
	p.delay_ms = 200;
	p.calls = &calls;
	run_getters(c, "fails", &p, g, 8);
	for (int i = 0; i < 8; i++) {
		CHECK_MSG(g[i].rc == -EIO, "getter %d: %d", i, g[i].rc);
		nproduced += g[i].produced;
		free(g[i].out);
	}
	CHECK(calls == 1);
	CHECK(nproduced == 1);
	{
		struct mfs_cache_debug d = counts(c);

		CHECK(d.entries == 0 && d.chunks == 0 && d.pending == 0 && d.live == 0);
	}
	CHECK(mfs_cache_lookup(c, "fails", 5, &e) == -ENOENT);
	/* a later call runs the producer again, and may succeed */
	p.fail_rc = 0;
	p.delay_ms = 0;
	rc = get_entry(c, "fails", &p, &e, NULL);
	CHECK(rc == 0);
	if (rc == 0) {
		CHECK(read_all_equal(c, e, data, len, 1 * MiB));
		mfs_cache_entry_put(e);
	}
	CHECK(calls == 2);
	mfs_cache_close(c);
out:
	free(data);
	rm_rf(dir);
	free(dir);
}

static void test_single_flight(void)
{
	char *dir = tmpdir();
	struct mfs_cache *c = open_cache(dir, 64 * MiB, 0);
	size_t len = 3 * MiB + 333;
	uint8_t *data = malloc(len);
	struct getter g[8];
	atomic_int calls = 0;
	struct prod p;
	int nproduced = 0;

	if (!c)
		goto out;
	fill_csv(data, len, 3);
	prod_init(&p, data, len);
	p.delay_ms = 300;
	p.random_pieces = true;
	p.calls = &calls;
	run_getters(c, "flight", &p, g, 8);
	for (int i = 0; i < 8; i++) {
		CHECK_MSG(g[i].rc == 0, "getter %d: %d", i, g[i].rc);
		CHECK(g[i].len == len && g[i].out && memcmp(g[i].out, data, len) == 0);
		nproduced += g[i].produced;
		free(g[i].out);
	}
	CHECK_MSG(calls == 1, "producer ran %d times", (int)calls);
	CHECK(nproduced == 1);
	mfs_cache_close(c);
out:
	free(data);
	rm_rf(dir);
	free(dir);
}

/* Flip one byte of data.mdb at the first occurrence of @needle (+ @skip). */
static bool flip_in_file(const char *dir, const void *needle, size_t nlen, size_t skip)
{
	char path[512];
	struct stat st;
	uint8_t *buf, *hit;
	bool ok = false;
	int fd;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	fd = open(path, O_RDWR);
	if (fd < 0 || fstat(fd, &st) < 0)
		return false;
	buf = malloc((size_t)st.st_size);
	if (buf && pread(fd, buf, (size_t)st.st_size, 0) == st.st_size) {
		hit = memmem(buf, (size_t)st.st_size, needle, nlen);
		if (hit && (size_t)(hit - buf) + skip < (size_t)st.st_size) {
			uint8_t b = hit[skip] ^ 0x5A;

			ok = pwrite(fd, &b, 1, (hit - buf) + (off_t)skip) == 1;
		}
	}
	free(buf);
	close(fd);
	return ok;
}

static void test_corruption(void)
{
	char *dir = tmpdir();
	struct mfs_cache *c = open_cache(dir, 64 * MiB, 0);
	size_t len = 2 * MiB;
	uint8_t *raw = malloc(len), *csv = malloc(len), buf[4096];
	struct mfs_cache_entry *e = NULL;
	struct mfs_cache_stats st;
	struct prod p;
	int rc;

	if (!c)
		goto out;
	fill_random(raw, len, 77);
	fill_csv(csv, len, 78);
	prod_init(&p, raw, len);
	CHECK(get_entry(c, "raw", &p, &e, NULL) == 0);
	mfs_cache_entry_put(e);
	mfs_cache_close(c);

	/* a raw chunk: its bytes are in the file as they are */
	CHECK(flip_in_file(dir, raw + 3 * 256 * KiB + 1000, 64, 10));
	c = open_cache(dir, 64 * MiB, 0);
	if (!c)
		goto out;
	rc = mfs_cache_lookup(c, "raw", 3, &e);
	CHECK(rc == 0);
	if (rc == 0) {
		/* chunks before the damaged one read fine */
		CHECK(mfs_cache_read(c, e, buf, sizeof(buf), 0) == sizeof(buf));
		rc = (int)mfs_cache_read(c, e, buf, sizeof(buf), 3 * 256 * KiB + 500);
		CHECK_MSG(rc == -EBADMSG, "read of a damaged chunk: %d", rc);
		mfs_cache_entry_put(e);
	}
	CHECK(mfs_cache_lookup(c, "raw", 3, &e) == -ENOENT);
	CHECK(mfs_cache_get_stats(c, &st) == 0 && st.corrupt_chunks == 1);
	CHECK(counts(c).chunks == 0);

	/* a zstd chunk */
	prod_init(&p, csv, len);
	CHECK(get_entry(c, "csv", &p, &e, NULL) == 0);
	mfs_cache_entry_put(e);
	mfs_cache_close(c);
	CHECK(flip_in_file(dir, "\x28\xb5\x2f\xfd", 4, 2000));
	c = open_cache(dir, 64 * MiB, 0);
	if (!c)
		goto out;
	rc = mfs_cache_lookup(c, "csv", 3, &e);
	CHECK(rc == 0);
	if (rc == 0) {
		uint8_t *all = malloc(len);

		rc = (int)mfs_cache_read(c, e, all, len, 0);
		CHECK_MSG(rc == -EBADMSG, "read of a damaged zstd chunk: %d", rc);
		free(all);
		mfs_cache_entry_put(e);
	}
	CHECK(mfs_cache_lookup(c, "csv", 3, &e) == -ENOENT);
	CHECK(counts(c).chunks == 0);

	/* a damaged header (its key bytes), found by a lookup */
	prod_init(&p, csv, 1000);
	CHECK(get_entry(c, "header-key-0123456789", &p, &e, NULL) == 0);
	mfs_cache_entry_put(e);
	CHECK(flip_in_file(dir, "header-key-0123456789", 21, 5));
	CHECK(mfs_cache_lookup(c, "header-key-0123456789", 21, &e) == -ENOENT);
	CHECK(mfs_cache_get_stats(c, &st) == 0 && st.corrupt_chunks == 2);
	{
		struct mfs_cache_debug d = counts(c);

		CHECK(d.entries == 0 && d.chunks == 0 && d.live == 0 && d.lru == 0 &&
		      d.pending == 0);
	}
	/* ... and by the sweep at open (a new key: the file keeps freed copies of the old) */
	CHECK(get_entry(c, "header-key-abcdefghij", &p, &e, NULL) == 0);
	mfs_cache_entry_put(e);
	mfs_cache_close(c);
	CHECK(flip_in_file(dir, "header-key-abcdefghij", 21, 5));
	c = open_cache(dir, 64 * MiB, 0);
	if (!c)
		goto out;
	{
		struct mfs_cache_debug d = counts(c);

		CHECK(d.entries == 0 && d.chunks == 0 && d.live == 0 && d.lru == 0 &&
		      d.pending == 0);
	}
	CHECK(mfs_cache_lookup(c, "header-key-abcdefghij", 21, &e) == -ENOENT);
	/* and it is produced again */
	CHECK(get_entry(c, "header-key-0123456789", &p, &e, NULL) == 0);
	CHECK(read_all_equal(c, e, csv, 1000, 300));
	mfs_cache_entry_put(e);
	mfs_cache_close(c);
out:
	free(raw);
	free(csv);
	rm_rf(dir);
	free(dir);
}

/* The child: produce @len bytes of @key and SIGKILL itself after @kill_after pieces. */
static pid_t fork_killed_producer(const char *dir, const char *key, const uint8_t *data, size_t len,
				  int kill_after)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct mfs_cache_config cfg = { .dir = dir, .max_bytes = 64 * MiB };
		struct mfs_cache *c;
		struct mfs_cache_entry *e;
		struct prod p;
		char msg[200];

		if (mfs_cache_open(&cfg, &c, msg, sizeof(msg)))
			_exit(2);
		prod_init(&p, data, len);
		p.kill_after = kill_after;
		mfs_cache_get(c, key, strlen(key), producer, &p, &e, NULL);
		_exit(3); /* not reached */
	}
	return pid;
}

static void test_kill9(void)
{
	char *dir = tmpdir();
	size_t len = 8 * MiB;
	uint8_t *data = malloc(len);
	struct mfs_cache *c;
	struct mfs_cache_entry *e;
	struct prod p;
	int status = 0;
	pid_t pid;

	fill_random(data, len, 9);
	/* 1: killed with nobody else around; the next open cleans up */
	/* 40 * 64 KiB = 10 chunks: 8 written (one group), 2 staged */
	pid = fork_killed_producer(dir, "killed", data, len, 40);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	c = open_cache(dir, 64 * MiB, 0);
	if (!c)
		goto out;
	CHECK(mfs_cache_lookup(c, "killed", 6, &e) == -ENOENT);
	{
		struct mfs_cache_debug d = counts(c);

		CHECK_MSG(d.chunks == 0 && d.pending == 0 && d.entries == 0,
			  "after kill: %llu chunks, %llu pending", (unsigned long long)d.chunks,
			  (unsigned long long)d.pending);
	}
	prod_init(&p, data, len);
	CHECK(get_entry(c, "killed", &p, &e, NULL) == 0);
	CHECK(read_all_equal(c, e, data, len, 1 * MiB));
	mfs_cache_entry_put(e);

	/* 2: killed while this process has the directory open; another opener cleans up */
	pid = fork_killed_producer(dir, "killed-2", data, len, 60);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status));
	{
		struct mfs_cache_debug d = counts(c);

		CHECK(d.pending == 1);
		CHECK(d.chunks > (len + 256 * KiB - 1) / (256 * KiB)); /* orphans */
	}
	CHECK(mfs_cache_lookup(c, "killed-2", 8, &e) == -ENOENT);
	pid = fork();
	if (pid == 0) {
		struct mfs_cache_config cfg = { .dir = dir, .max_bytes = 64 * MiB };
		struct mfs_cache *c2;

		if (mfs_cache_open(&cfg, &c2, NULL, 0))
			_exit(2);
		mfs_cache_close(c2);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	{
		struct mfs_cache_debug d = counts(c);

		CHECK(d.pending == 0);
		CHECK(d.chunks == (len + 256 * KiB - 1) / (256 * KiB)); /* "killed" only */
	}

	/* 3: a live producer in another process is never cleaned */
	{
		int to_parent[2], to_child[2];
		char b;

		CHECK(pipe(to_parent) == 0 && pipe(to_child) == 0);
		pid = fork();
		if (pid == 0) {
			struct mfs_cache_config cfg = { .dir = dir, .max_bytes = 64 * MiB };
			struct mfs_cache *c3;
			struct prod q;
			int rc;

			if (mfs_cache_open(&cfg, &c3, NULL, 0))
				_exit(2);
			prod_init(&q, data, len);
			q.pause_fd_w = to_parent[1];
			q.pause_fd_r = to_child[0];
			rc = get_entry(c3, "slow", &q, &e, NULL);
			if (rc == 0)
				mfs_cache_entry_put(e);
			mfs_cache_close(c3);
			_exit(rc == 0 ? 0 : 4);
		}
		CHECK(read(to_parent[0], &b, 1) == 1); /* the child is half-way */
		mfs_cache_close(c);                    /* reopen: the sweep runs */
		c = open_cache(dir, 64 * MiB, 0);
		if (c) {
			struct mfs_cache_debug d = counts(c);

			CHECK(d.pending == 1);
			CHECK(d.chunks > (len + 256 * KiB - 1) / (256 * KiB));
		}
		CHECK(write(to_child[1], "g", 1) == 1);
		CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0);
		close(to_parent[0]);
		close(to_parent[1]);
		close(to_child[0]);
		close(to_child[1]);
		if (c) {
			CHECK(mfs_cache_lookup(c, "slow", 4, &e) == 0);
			CHECK(read_all_equal(c, e, data, len, 3 * MiB));
			mfs_cache_entry_put(e);
		}
	}
	mfs_cache_close(c);
out:
	free(data);
	rm_rf(dir);
	free(dir);
}

static void test_eviction(void)
{
	char *dir = tmpdir();
	struct mfs_cache *c = open_cache(dir, 16 * MiB, 0);
	const size_t len = 1 * MiB;
	const int n = 100;
	uint8_t *data = malloc(len);
	struct mfs_cache_entry *e, *held = NULL;
	struct mfs_cache_stats st;
	struct prod p;
	char key[32];
	int present = 0, rc, failed = 0;

	if (!c)
		goto out;
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "ev/%d", i);
		fill_random(data, len, 1000 + i);
		prod_init(&p, data, len);
		rc = get_entry(c, key, &p, &e, NULL);
		if (rc)
			failed++;
		else if (i == 1)
			held = e; /* an open handle: never evicted by this process */
		else
			mfs_cache_entry_put(e);
		/* keep ev/0 hot */
		if (mfs_cache_lookup(c, "ev/0", 4, &e) == 0)
			mfs_cache_entry_put(e);
		else
			CHECK_MSG(0, "ev/0 was evicted after ev/%d", i);
	}
	CHECK_MSG(failed == 0, "%d produces failed", failed);
	CHECK(mfs_cache_get_stats(c, &st) == 0);
	CHECK(st.evictions > 0);
	CHECK(st.entries < (uint64_t)n && st.entries > 3);
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "ev/%d", i);
		if (mfs_cache_lookup(c, key, strlen(key), &e) != 0)
			continue;
		present++;
		fill_random(data, len, 1000 + i);
		CHECK_MSG(read_all_equal(c, e, data, len, 200 * KiB), "entry %d", i);
		mfs_cache_entry_put(e);
	}
	CHECK((uint64_t)present == st.entries);
	CHECK(held != NULL);
	if (held) {
		fill_random(data, len, 1000 + 1);
		CHECK(read_all_equal(c, held, data, len, 100 * KiB));
		mfs_cache_entry_put(held);
	}
	/* the newest are there */
	CHECK(mfs_cache_lookup(c, "ev/99", 5, &e) == 0);
	mfs_cache_entry_put(e);
	{
		struct mfs_cache_debug d = counts(c);
		char path[512];
		struct stat sb;

		CHECK(d.used_pages <= d.budget_pages);
		CHECK(d.pending == 0 && d.live == d.entries && d.lru == d.entries);
		snprintf(path, sizeof(path), "%s/data.mdb", dir);
		CHECK(stat(path, &sb) == 0 && (uint64_t)sb.st_size <= st.map_size);
	}
	mfs_cache_close(c);
out:
	free(data);
	rm_rf(dir);
	free(dir);
}

static void test_too_big(void)
{
	char *dir = tmpdir();
	struct mfs_cache *c = open_cache(dir, 16 * MiB, 0);
	size_t len = 40 * MiB;
	uint8_t *data = malloc(len);
	struct mfs_cache_entry *e;
	struct prod p;
	int rc;

	if (!c)
		goto out;
	fill_random(data, len, 4);
	/* something evictable first */
	prod_init(&p, data, 2 * MiB);
	CHECK(get_entry(c, "small", &p, &e, NULL) == 0);
	mfs_cache_entry_put(e);
	prod_init(&p, data, len);
	rc = get_entry(c, "huge", &p, &e, NULL);
	CHECK_MSG(rc == -ENOSPC, "an entry larger than the cache: %d", rc);
	{
		struct mfs_cache_debug d = counts(c);

		CHECK(d.pending == 0 && d.entries == 0 && d.chunks == 0);
	}
	prod_init(&p, data, 3 * MiB);
	rc = get_entry(c, "after", &p, &e, NULL);
	CHECK(rc == 0);
	if (rc == 0) {
		CHECK(read_all_equal(c, e, data, 3 * MiB, 1 * MiB));
		mfs_cache_entry_put(e);
	}
	mfs_cache_close(c);
out:
	free(data);
	rm_rf(dir);
	free(dir);
}

static void test_two_handles(void)
{
	char *dir = tmpdir();
	struct mfs_cache *a = open_cache(dir, 64 * MiB, 0);
	struct mfs_cache *b = open_cache(dir, 128 * MiB, 64 * KiB);
	size_t len = 1 * MiB + 3;
	uint8_t *data = malloc(len);
	struct mfs_cache_entry *e;
	struct mfs_cache_stats st;
	struct prod p;
	int produced;

	if (!a || !b)
		goto out;
	fill_csv(data, len, 11);
	prod_init(&p, data, len);
	CHECK(get_entry(a, "shared", &p, &e, NULL) == 0);
	mfs_cache_entry_put(e);
	CHECK(get_entry(b, "shared", &p, &e, &produced) == 0 && produced == 0);
	CHECK(read_all_equal(b, e, data, len, 77777));
	mfs_cache_entry_put(e);
	/* b writes with its own chunk size; a reads it */
	CHECK(get_entry(b, "from-b", &p, &e, &produced) == 0 && produced == 1);
	mfs_cache_entry_put(e);
	mfs_cache_close(a);
	a = NULL;
	CHECK(mfs_cache_lookup(b, "from-b", 6, &e) == 0);
	CHECK(read_all_equal(b, e, data, len, 100000));
	mfs_cache_entry_put(e);
	CHECK(mfs_cache_get_stats(b, &st) == 0 && st.entries == 2 && st.map_size >= 128 * MiB);
	a = open_cache(dir, 64 * MiB, 0);
	if (a) {
		CHECK(mfs_cache_lookup(a, "from-b", 6, &e) == 0);
		CHECK(read_all_equal(a, e, data, len, 4096));
		mfs_cache_entry_put(e);
	}
out:
	mfs_cache_close(a);
	mfs_cache_close(b);
	free(data);
	rm_rf(dir);
	free(dir);
}

/* Content of key "P/i" for the multi-process test. */
static void proc_content(uint8_t *buf, size_t len, int who, int i)
{
	fill_csv(buf, len, (uint64_t)who * 1000 + (uint64_t)i);
}

static int produce_series(struct mfs_cache *c, int who, int n, size_t len)
{
	uint8_t *data = malloc(len);
	struct mfs_cache_entry *e;
	struct prod p;
	char key[32];
	int bad = 0;

	for (int i = 0; i < n; i++) {
		proc_content(data, len, who, i);
		snprintf(key, sizeof(key), "%d/%d", who, i);
		prod_init(&p, data, len);
		p.random_pieces = true;
		if (get_entry(c, key, &p, &e, NULL) != 0) {
			bad++;
			continue;
		}
		if (!read_all_equal(c, e, data, len, 65536))
			bad++;
		mfs_cache_entry_put(e);
		/* both processes also make the same key */
		snprintf(key, sizeof(key), "both/%d", i);
		proc_content(data, len, 7, i);
		prod_init(&p, data, len);
		if (get_entry(c, key, &p, &e, NULL) != 0) {
			bad++;
			continue;
		}
		if (!read_all_equal(c, e, data, len, 65536))
			bad++;
		mfs_cache_entry_put(e);
	}
	free(data);
	return bad;
}

static void test_processes(void)
{
	char *dir = tmpdir();
	struct mfs_cache *c = open_cache(dir, 256 * MiB, 0);
	size_t len = 700 * KiB;
	uint8_t *data = malloc(len);
	struct mfs_cache_entry *e;
	int status = 0, bad;
	pid_t pid;

	if (!c)
		goto out;
	pid = fork();
	if (pid == 0) {
		struct mfs_cache_config cfg = { .dir = dir, .max_bytes = 256 * MiB };
		struct mfs_cache *cc;

		if (mfs_cache_open(&cfg, &cc, NULL, 0))
			_exit(2);
		bad = produce_series(cc, 2, 20, len);
		mfs_cache_close(cc);
		_exit(bad ? 5 : 0);
	}
	bad = produce_series(c, 1, 20, len);
	CHECK(bad == 0);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (int who = 1; who <= 2; who++) {
		for (int i = 0; i < 20; i++) {
			char key[32];

			snprintf(key, sizeof(key), "%d/%d", who, i);
			proc_content(data, len, who, i);
			if (mfs_cache_lookup(c, key, strlen(key), &e) == 0) {
				CHECK(read_all_equal(c, e, data, len, 100000));
				mfs_cache_entry_put(e);
			} else {
				CHECK_MSG(0, "%s missing", key);
			}
		}
	}
	{
		struct mfs_cache_debug d = counts(c);
		uint64_t per = (len + 256 * KiB - 1) / (256 * KiB);

		/* the keys both made are there once; the loser's chunks were collected */
		CHECK(d.entries == 60);
		CHECK_MSG(d.chunks == 60 * per, "%llu chunks", (unsigned long long)d.chunks);
		CHECK(d.pending == 0);
	}
	mfs_cache_close(c);
out:
	free(data);
	rm_rf(dir);
	free(dir);
}

/* A process with a small map sees another grow it (MDB_MAP_RESIZED). */
static void test_map_grown_elsewhere(void)
{
	char *dir = tmpdir();
	struct mfs_cache *c = open_cache(dir, 16 * MiB, 0);
	size_t len = 30 * MiB;
	uint8_t *data = malloc(len);
	struct mfs_cache_entry *e;
	int status = 0;
	pid_t pid;

	if (!c)
		goto out;
	fill_random(data, len, 123);
	pid = fork();
	if (pid == 0) {
		struct mfs_cache_config cfg = { .dir = dir, .max_bytes = 256 * MiB };
		struct mfs_cache *cc;
		struct prod p;
		int rc;

		if (mfs_cache_open(&cfg, &cc, NULL, 0))
			_exit(2);
		prod_init(&p, data, len);
		rc = get_entry(cc, "big", &p, &e, NULL);
		if (rc == 0)
			mfs_cache_entry_put(e);
		mfs_cache_close(cc);
		_exit(rc ? 3 : 0);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(mfs_cache_lookup(c, "big", 3, &e) == 0);
	CHECK(read_all_equal(c, e, data, len, 1 * MiB));
	mfs_cache_entry_put(e);
	mfs_cache_close(c);
out:
	free(data);
	rm_rf(dir);
	free(dir);
}

static void test_invalidate_and_purge(void)
{
	char *dir = tmpdir();
	struct mfs_cache *c = open_cache(dir, 64 * MiB, 0);
	size_t len = 1 * MiB;
	uint8_t *data = malloc(len), buf[100];
	struct mfs_cache_entry *e, *e2;
	struct mfs_cache_stats st;
	struct prod p;
	char key[32];

	if (!c)
		goto out;
	fill_csv(data, len, 1);
	prod_init(&p, data, len);
	CHECK(get_entry(c, "inv", &p, &e, NULL) == 0);
	/* a second reference to the same entry is the same handle */
	CHECK(mfs_cache_lookup(c, "inv", 3, &e2) == 0 && e2 == e);
	mfs_cache_entry_put(e2);
	CHECK(mfs_cache_read(c, e, buf, sizeof(buf), 0) == sizeof(buf));
	CHECK(mfs_cache_invalidate(c, "inv", 3) == 0);
	CHECK(mfs_cache_invalidate(c, "inv", 3) == 0); /* absent: fine */
	CHECK(mfs_cache_lookup(c, "inv", 3, &e2) == -ENOENT);
	/* the open handle: chunks are gone */
	CHECK(mfs_cache_read(c, e, buf, sizeof(buf), 512 * KiB) == -ESTALE);
	mfs_cache_entry_put(e);
	CHECK(counts(c).chunks == 0);

	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "purge/%d", i);
		CHECK(get_entry(c, key, &p, &e, NULL) == 0);
		mfs_cache_entry_put(e);
	}
	CHECK(mfs_cache_get_stats(c, &st) == 0 && st.entries == 10);
	CHECK(st.bytes_content == 10ull * len);
	CHECK(mfs_cache_purge(c) == 0);
	CHECK(mfs_cache_get_stats(c, &st) == 0 && st.entries == 0 && st.bytes_stored == 0 &&
	      st.bytes_content == 0);
	{
		struct mfs_cache_debug d = counts(c);

		CHECK(d.chunks == 0 && d.live == 0 && d.lru == 0 && d.pending == 0);
	}
	CHECK(mfs_cache_lookup(c, "purge/3", 7, &e) == -ENOENT);
	CHECK(get_entry(c, "purge/3", &p, &e, NULL) == 0);
	CHECK(read_all_equal(c, e, data, len, 4000));
	mfs_cache_entry_put(e);
	mfs_cache_close(c);
out:
	free(data);
	rm_rf(dir);
	free(dir);
}

struct stress {
	struct mfs_cache *c;
	int seed;
	int bad;
};

static void *stress_main(void *arg)
{
	struct stress *s = arg;
	size_t len = 600 * KiB;
	uint8_t *data = malloc(len), *buf = malloc(len);
	uint64_t x = (uint64_t)s->seed * 7 + 1;

	for (int it = 0; it < 60; it++) {
		struct mfs_cache_entry *e;
		struct prod p;
		char key[32];
		int k;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k = (int)(x % 24);
		snprintf(key, sizeof(key), "stress/%d", k);
		fill_random(data, len, 5000 + (uint64_t)k);
		prod_init(&p, data, len);
		if (get_entry(s->c, key, &p, &e, NULL) != 0) {
			s->bad++;
			continue;
		}
		for (int r = 0; r < 4; r++) {
			uint64_t off = (x >> 8) % len;
			size_t n = (size_t)((x >> 24) % (200 * KiB));
			ssize_t got = mfs_cache_read(s->c, e, buf, n, off);
			size_t want = len - off < n ? len - off : n;

			if (got != (ssize_t)want || memcmp(buf, data + off, want))
				s->bad++;
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		mfs_cache_entry_put(e);
	}
	free(data);
	free(buf);
	return NULL;
}

static void test_threads_under_eviction(void)
{
	char *dir = tmpdir();
	struct mfs_cache *c = open_cache(dir, 16 * MiB, 0);
	struct stress s[8];
	pthread_t th[8];
	struct mfs_cache_stats st;

	if (!c)
		goto out;
	for (int i = 0; i < 8; i++) {
		s[i].c = c;
		s[i].seed = i + 1;
		s[i].bad = 0;
		pthread_create(&th[i], NULL, stress_main, &s[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		CHECK_MSG(s[i].bad == 0, "thread %d: %d bad", i, s[i].bad);
	}
	CHECK(mfs_cache_get_stats(c, &st) == 0 && st.evictions > 0);
	CHECK(counts(c).pending == 0);
	mfs_cache_close(c);
out:
	rm_rf(dir);
	free(dir);
}

static void test_records(void)
{
	struct mfs_cache_hdr h = { 0 }, g;
	uint8_t buf[256];
	size_t len;

	h.version = MFS_CACHE_FORMAT;
	h.chunk_size = 4096;
	h.id = 5;
	h.size = 10000;
	h.nchunks = 3;
	h.klen = 3;
	h.mlen = 4;
	h.key = (const uint8_t *)"key";
	h.meta = (const uint8_t *)"meta";
	len = mfs_cache_hdr_size(3, 4);
	mfs_cache_hdr_encode(&h, buf);
	CHECK(mfs_cache_hdr_decode(buf, len, &g) == 0);
	CHECK(g.id == 5 && g.size == 10000 && g.klen == 3 && memcmp(g.meta, "meta", 4) == 0);
	CHECK(mfs_cache_hdr_decode(buf, len - 1, &g) == -EBADMSG);
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 1;
		CHECK_MSG(mfs_cache_hdr_decode(buf, len, &g) == -EBADMSG, "flip at %zu", i);
		buf[i] ^= 1;
	}
	h.nchunks = 2; /* inconsistent with size */
	mfs_cache_hdr_encode(&h, buf);
	CHECK(mfs_cache_hdr_decode(buf, len, &g) == -EBADMSG);
}

int main(void)
{
	test_records();
	test_roundtrip();
	test_small_chunks_and_meta();
	test_persistence();
	test_producer_error();
	test_single_flight();
	test_corruption();
	test_kill9();
	test_eviction();
	test_too_big();
	test_two_handles();
	test_processes();
	test_map_grown_elsewhere();
	test_invalidate_and_purge();
	test_threads_under_eviction();
	return unit_done("cache");
}
