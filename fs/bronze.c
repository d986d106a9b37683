/*
 * bronze.c - sequential read-ahead and random reads of one bronze object.
 *
 * A reader owns two windows. A read is sequential when it starts the file or
 * is the second in a row near the end of the one before. A sequential read
 * that is not inside a window starts one at its offset (1 MiB first); each
 * time the reader moves into a window the next one is started behind it,
 * twice as large, up to max_prefetch. Windows are filled by pool threads with one ranged GET each
 * and consumed while they fill, so the first bytes reach the reader as soon
 * as they arrive. A read far from the last one is random: it fetches the
 * aligned BLOCK (1 MiB) around it into the reader's block cache, so later
 * random reads nearby (fio randread, a Parquet footer then its column
 * chunks) are served from memory; all readers' blocks together stay under
 * the block_cache budget (oldest block of the reader evicted first), and
 * with no budget a random read fetches exactly what it asks for.
 *
 * DESIGN: r->lock protects the windows and the running count; fetch jobs
 * copy bytes into the part of the buffer beyond 'filled' without the lock
 * (only the job writes there, and nobody reads there until 'filled' moves)
 * and publish them under the lock. A window's buffer is freed only when no
 * job runs for it. mfs_bronze_reader_free() sets 'closing', which makes the
 * running sinks fail, and waits for the jobs to finish.
 */
#include "bronze.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../util/err.h"
#include "../util/log.h"

#define FIRST_WINDOW (1u << 20)
/* Reads this close to the last one still count as sequential: the kernel's
 * async read-ahead sends neighbouring requests out of order. */
#define SEQ_SLACK (4u << 20)
#define BLOCK (1u << 20)

enum { W_EMPTY, W_RUNNING, W_DONE };

struct window {
	uint64_t off;
	size_t len;
	char *buf;      /* cap bytes, counted in the budget; kept while the reader lives */
	size_t cap;
	size_t filled; /* protected by r->lock */
	int state;     /* protected by r->lock */
	int err;       /* protected by r->lock */
	int waiters;   /* readers sleeping on this window; protected by r->lock */
	size_t wake_at; /* the least 'filled' a sleeping reader waits for; protected by r->lock */
	unsigned gen;  /* bumped when the window is cleared; protected by r->lock */
	char why[512]; /* the store's reason for err, from the job's thread */
};

struct mfs_bronze_reader {
	struct mfs_store *st;
	struct mfs_pool *pool;
	char *key;
	char etag[80];
	uint64_t size;
	size_t max_prefetch;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct window w[2];     /* protected by lock */
	uint64_t next_expected; /* protected by lock */
	unsigned streak;        /* reads in a row near the one before; protected by lock */
	size_t win_size;        /* protected by lock */
	int running;            /* protected by lock */
	atomic_int closing;

	/* Random-read blocks: blk[i] holds [i * BLOCK, ...); fifo lists the
	 * cached indices oldest first. All protected by lock. */
	char **blk;
	uint64_t nblk;
	uint64_t *fifo;
	size_t fifo_head, fifo_n, fifo_cap;
};

struct fetch_job {
	struct mfs_bronze_reader *r;
	struct window *w;
};

/*
 * Windows and blocks are large, live for one open and are freed by other
 * threads than the ones that filled them: mapped and unmapped here, they
 * leave nothing behind in malloc's per-thread arenas.
 */
static void *big_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void big_free(void *p, size_t len)
{
	if (p)
		(void)munmap(p, len);
}

static atomic_size_t budget_used;
static atomic_ullong n_gets, n_bytes_fetched;

void mfs_bronze_counters(uint64_t *gets, uint64_t *bytes)
{
	*gets = atomic_load(&n_gets);
	*bytes = atomic_load(&n_bytes_fetched);
}
static size_t budget_max = 512u << 20;

void mfs_bronze_set_budget(size_t bytes)
{
	budget_max = bytes;
}

/* Reserve up to @want bytes of read-ahead memory, at least @min; 0 if none. */
static size_t budget_take(size_t want, size_t min)
{
	size_t used = atomic_load(&budget_used);

	for (;;) {
		size_t avail = used < budget_max ? budget_max - used : 0;
		size_t take = want < avail ? want : avail;

		if (take < min)
			return 0;
		if (atomic_compare_exchange_weak(&budget_used, &used, used + take))
			return take;
	}
}

static void budget_give(size_t n)
{
	atomic_fetch_sub(&budget_used, n);
}

static atomic_size_t blocks_used;
static size_t blocks_max = 256u << 20;
static atomic_ullong n_block_hits;

void mfs_bronze_set_block_cache(size_t bytes)
{
	blocks_max = bytes;
}

uint64_t mfs_bronze_block_hits(void)
{
	return atomic_load(&n_block_hits);
}

static int blocks_take(size_t n)
{
	size_t used = atomic_load(&blocks_used);

	do {
		if (used + n > blocks_max)
			return 0;
	} while (!atomic_compare_exchange_weak(&blocks_used, &used, used + n));
	return 1;
}

static size_t block_len(const struct mfs_bronze_reader *r, uint64_t i)
{
	uint64_t off = i * BLOCK;

	return r->size - off < BLOCK ? (size_t)(r->size - off) : BLOCK;
}

/* Drop the reader's oldest block; lock held. 0 when it has none. */
static int block_evict_oldest(struct mfs_bronze_reader *r)
{
	uint64_t i;

	if (!r->fifo_n)
		return 0;
	i = r->fifo[r->fifo_head];
	r->fifo_head = (r->fifo_head + 1) % r->fifo_cap;
	r->fifo_n--;
	big_free(r->blk[i], block_len(r, i));
	r->blk[i] = NULL;
	atomic_fetch_sub(&blocks_used, block_len(r, i));
	return 1;
}

int mfs_bronze_reader_new(struct mfs_store *st, struct mfs_pool *pool, const char *key,
			  const char *etag, uint64_t size, size_t max_prefetch,
			  struct mfs_bronze_reader **out)
{
	struct mfs_bronze_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->key = strdup(key);
	if (!r->key) {
		free(r);
		return -ENOMEM;
	}
	snprintf(r->etag, sizeof(r->etag), "%s", etag);
	r->st = st;
	r->pool = pool;
	r->size = size;
	r->max_prefetch = max_prefetch;
	r->win_size = FIRST_WINDOW;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	*out = r;
	return 0;
}

/* Forget the window's bytes; its buffer stays for the next window. */
static void window_clear(struct window *w)
{
	unsigned gen = w->gen + 1;
	int waiters = w->waiters;
	char *buf = w->buf;
	size_t cap = w->cap;

	memset(w, 0, sizeof(*w));
	w->gen = gen;
	w->waiters = waiters;
	w->buf = buf;
	w->cap = cap;
}

static void window_release(struct window *w)
{
	window_clear(w);
	if (w->buf) {
		big_free(w->buf, w->cap);
		budget_give(w->cap);
	}
	w->buf = NULL;
	w->cap = 0;
}

static int fetch_sink(void *arg, const void *data, size_t len)
{
	struct fetch_job *j = arg;
	struct mfs_bronze_reader *r = j->r;
	struct window *w = j->w;
	size_t filled;

	if (atomic_load(&r->closing))
		return -ECANCELED;
	pthread_mutex_lock(&r->lock);
	filled = w->filled;
	pthread_mutex_unlock(&r->lock);
	if (len > w->len - filled)
		return -EIO; /* more than asked for: never pass it on */
	memcpy(w->buf + filled, data, len);
	atomic_fetch_add(&n_bytes_fetched, len);
	pthread_mutex_lock(&r->lock);
	w->filled = filled + len;
	/* Wake readers only when one has its bytes: curl hands over 16-64 KiB
	 * at a time, a reader waits for up to 1 MiB. */
	if (w->waiters && w->filled >= w->wake_at)
		pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void fetch_run(void *arg)
{
	struct fetch_job *j = arg;
	struct mfs_bronze_reader *r = j->r;
	struct window *w = j->w;
	int err;

	mfs_clear_error();
	atomic_fetch_add(&n_gets, 1);
	err = r->st->ops->get(r->st, r->key, r->etag, w->off, w->len, fetch_sink, j);
	pthread_mutex_lock(&r->lock);
	if (!err && w->filled < w->len) {
		err = -EIO;
		mfs_set_error("object is shorter than its listed size");
	}
	w->err = err;
	/* The reason is thread-local: carry it to the reader's thread. */
	snprintf(w->why, sizeof(w->why), "%s", mfs_last_error());
	w->state = W_DONE;
	r->running--;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	free(j);
}

/* Start filling @w at @off; lock held. Returns 0 or -errno (nothing started). */
static int window_start(struct mfs_bronze_reader *r, struct window *w, uint64_t off, size_t want,
			size_t need)
{
	struct fetch_job *j;
	size_t len;
	int err;

	if (off >= r->size)
		return -EINVAL;
	if (want > r->size - off)
		want = (size_t)(r->size - off);
	if (need > want)
		need = want;
	window_clear(w);
	if (w->cap >= want) {
		len = want; /* the buffer of an earlier window: no new pages to fault in */
	} else {
		window_release(w);
		len = budget_take(want, need);
		if (!len)
			return -ENOMEM;
		w->buf = big_alloc(len);
		if (!w->buf) {
			budget_give(len);
			return -ENOMEM;
		}
		w->cap = len;
	}
	j = malloc(sizeof(*j));
	if (!j)
		return -ENOMEM;
	w->off = off;
	w->len = len;
	w->state = W_RUNNING;
	j->r = r;
	j->w = w;
	r->running++;
	err = mfs_pool_submit(r->pool, fetch_run, j);
	if (err) {
		r->running--;
		free(j);
		window_clear(w);
	}
	return err;
}

static struct window *window_for(struct mfs_bronze_reader *r, uint64_t off)
{
	int i;

	for (i = 0; i < 2; i++) {
		struct window *w = &r->w[i];

		if (w->state != W_EMPTY && off >= w->off && off < w->off + w->len &&
		    !(w->state == W_DONE && w->err))
			return w;
	}
	return NULL;
}

/* A window can be reused when no job writes into it and no reader waits on it. */
static int window_free(const struct window *w)
{
	return w->state != W_RUNNING && w->waiters == 0;
}

/* The other window, if it can be reused. */
static struct window *window_spare(struct mfs_bronze_reader *r, struct window *cur)
{
	struct window *o = cur == &r->w[0] ? &r->w[1] : &r->w[0];

	return window_free(o) ? o : NULL;
}

/* Keep one window ahead of @cur; lock held. Failure only means no read-ahead. */
static void prefetch_next(struct mfs_bronze_reader *r, struct window *cur)
{
	uint64_t next = cur->off + cur->len;
	struct window *o;

	if (next >= r->size || window_for(r, next))
		return;
	o = window_spare(r, cur);
	if (!o)
		return;
	if (r->win_size < r->max_prefetch)
		r->win_size = r->win_size * 2 < r->max_prefetch ? r->win_size * 2 : r->max_prefetch;
	(void)window_start(r, o, next, r->win_size, 1);
}

static ssize_t read_direct(struct mfs_bronze_reader *r, char *buf, size_t size, uint64_t off)
{
	size_t got = 0;
	int err;

	atomic_fetch_add(&n_gets, 1);
	err = mfs_store_get_range(r->st, r->key, r->etag, off, size, buf, &got);
	if (err)
		return err;
	atomic_fetch_add(&n_bytes_fetched, got);
	if (got < size)
		return -EIO; /* shorter than its listed size: treat as changed */
	return (ssize_t)got;
}

/* Block @i of the object into the reader's cache; lock held (dropped while
 * fetching). 1 when cached, 0 when the budget has no room, -errno. */
static int block_load(struct mfs_bronze_reader *r, uint64_t i)
{
	size_t len = block_len(r, i);
	ssize_t got;
	char *b;
	int err;

	if (blocks_max < BLOCK)
		return 0; /* block_cache=0: off */
	if (!r->blk) {
		r->nblk = (r->size + BLOCK - 1) / BLOCK;
		r->fifo_cap = blocks_max / BLOCK + 1;
		if (r->fifo_cap > r->nblk)
			r->fifo_cap = (size_t)r->nblk;
		r->blk = calloc((size_t)r->nblk, sizeof(*r->blk));
		r->fifo = calloc(r->fifo_cap, sizeof(*r->fifo));
		if (!r->blk || !r->fifo) {
			free(r->blk);
			free(r->fifo);
			r->blk = NULL;
			r->fifo = NULL;
			return 0;
		}
	}
	if (r->fifo_n == r->fifo_cap)
		block_evict_oldest(r);
	while (!blocks_take(len))
		if (!block_evict_oldest(r))
			return 0;
	b = big_alloc(len);
	if (!b) {
		atomic_fetch_sub(&blocks_used, len);
		return 0;
	}
	pthread_mutex_unlock(&r->lock);
	got = read_direct(r, b, len, i * BLOCK);
	err = got < 0 ? (int)got : 0;
	pthread_mutex_lock(&r->lock);
	if (err || r->blk[i]) {
		/* failed, or another thread of the reader got it first */
		big_free(b, len);
		atomic_fetch_sub(&blocks_used, len);
		return err ? err : 1;
	}
	if (r->fifo_n == r->fifo_cap)
		block_evict_oldest(r);
	r->blk[i] = b;
	r->fifo[(r->fifo_head + r->fifo_n) % r->fifo_cap] = i;
	r->fifo_n++;
	return 1;
}

/* Every byte of [@off, @off + @size) is in the block cache; lock held. */
static int blocks_cover(const struct mfs_bronze_reader *r, uint64_t off, size_t size)
{
	uint64_t i;

	if (!r->blk)
		return 0;
	for (i = off / BLOCK; i <= (off + size - 1) / BLOCK; i++)
		if (!r->blk[i])
			return 0;
	return 1;
}

/* A random read: from the block cache, loading the blocks it touches. */
static ssize_t read_random(struct mfs_bronze_reader *r, char *buf, size_t size, uint64_t off)
{
	size_t done = 0;

	pthread_mutex_lock(&r->lock);
	while (done < size) {
		uint64_t at = off + done, i = at / BLOCK;
		size_t in = (size_t)(at - i * BLOCK), n = block_len(r, i) - in;
		int hit = r->blk && r->blk[i];

		if (!hit) {
			int got = block_load(r, i);

			if (got <= 0) {
				ssize_t d;

				pthread_mutex_unlock(&r->lock);
				if (got < 0)
					return done ? (ssize_t)done : got;
				d = read_direct(r, buf + done, size - done, at);
				if (d < 0)
					return done ? (ssize_t)done : d;
				return (ssize_t)(done + (size_t)d);
			}
		} else {
			atomic_fetch_add(&n_block_hits, 1);
		}
		if (n > size - done)
			n = size - done;
		memcpy(buf + done, r->blk[i] + in, n);
		done += n;
	}
	pthread_mutex_unlock(&r->lock);
	return (ssize_t)done;
}

ssize_t mfs_bronze_read(struct mfs_bronze_reader *r, char *buf, size_t size, uint64_t off)
{
	size_t done = 0;
	int sequential;

	if (off >= r->size)
		return 0;
	if (size > r->size - off)
		size = (size_t)(r->size - off);
	if (size == 0)
		return 0;

	pthread_mutex_lock(&r->lock);
	if (off + SEQ_SLACK >= r->next_expected && off <= r->next_expected + SEQ_SLACK)
		r->streak++;
	else
		r->streak = 0;
	/* Two near reads in a row make a sequential reader: one random read
	 * that lands near the last one must not start a window. */
	sequential = off == 0 || r->streak >= 2;
	if (!sequential || blocks_cover(r, off, size)) {
		/* random, or all in blocks already: no window for bytes we have */
		r->next_expected = off + size;
		pthread_mutex_unlock(&r->lock);
		return read_random(r, buf, size, off);
	}
	while (done < size) {
		uint64_t at = off + done;
		struct window *w = window_for(r, at);
		size_t want, avail;

		if (!w) {
			struct window *spare = window_free(&r->w[0]) ? &r->w[0] : &r->w[1];
			ssize_t n;

			if (!window_free(spare) ||
			    window_start(r, spare, at, r->win_size, size - done)) {
				/* Both windows busy elsewhere, or no memory: read directly. */
				pthread_mutex_unlock(&r->lock);
				n = read_direct(r, buf + done, size - done, at);
				if (n < 0)
					return done ? (ssize_t)done : n;
				return (ssize_t)(done + (size_t)n);
			}
			continue;
		}
		prefetch_next(r, w);
		want = (size_t)(at - w->off) + (size - done);
		if (want > w->len)
			want = w->len;
		if (w->filled < want && w->state == W_RUNNING) {
			unsigned gen = w->gen;

			w->waiters++;
			while (w->filled < want && w->state == W_RUNNING && w->gen == gen) {
				if (w->waiters == 1 || want < w->wake_at)
					w->wake_at = want;
				pthread_cond_wait(&r->cond, &r->lock);
			}
			w->waiters--;
			if (w->gen != gen)
				continue; /* cleared while we slept: look again */
		}
		if (w->filled < want && w->err) {
			int err = w->err;

			if (w->why[0])
				mfs_set_error("%s", w->why);
			window_clear(w);
			pthread_mutex_unlock(&r->lock);
			return done ? (ssize_t)done : err;
		}
		avail = w->filled > (size_t)(at - w->off) ? w->filled - (size_t)(at - w->off) : 0;
		if (avail == 0) {
			/* Finished without error yet short: cannot happen (fetch_run says EIO). */
			pthread_mutex_unlock(&r->lock);
			return done ? (ssize_t)done : -EIO;
		}
		if (avail > size - done)
			avail = size - done;
		memcpy(buf + done, w->buf + (at - w->off), avail);
		done += avail;
	}
	r->next_expected = off + done;
	pthread_mutex_unlock(&r->lock);
	return (ssize_t)done;
}

void mfs_bronze_reader_free(struct mfs_bronze_reader *r)
{
	if (!r)
		return;
	atomic_store(&r->closing, 1);
	pthread_mutex_lock(&r->lock);
	while (r->running > 0)
		pthread_cond_wait(&r->cond, &r->lock);
	window_release(&r->w[0]);
	window_release(&r->w[1]);
	while (block_evict_oldest(r))
		;
	free(r->blk);
	free(r->fifo);
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r->key);
	free(r);
}
