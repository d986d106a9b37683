/*
 * dedupe.c - duplicate detection by 128-bit row hash with bounded memory,
 * and the buffered, unlinked temp files it and silver spill to.
 *
 * DESIGN: one open-addressing table of (hash, row) entries, linear probing,
 * at most two thirds full. If the table for every row fits the budget it lives
 * for the whole file: FIRST answers per row (the caller streams), LAST
 * keeps the newest row per hash and marks survivors in a bitmap. Otherwise
 * the entries are written to 2^k partition files by the hash's top bits
 * (k chosen so one partition's table fits the budget) and each partition
 * is deduped alone in finish(); the bitmap (nrows bits) is all that spans
 * partitions. Rows arrive in increasing order, so in a partition the first
 * entry of a hash is its first row and the last its last.
 */
#include "dedupe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- spill files ---- */

struct mfs_spill {
	int fd;
	char *buf;
	size_t cap;
	size_t len;      /* writing: bytes buffered; reading: bytes in buf */
	size_t pos;      /* reading: next byte in buf */
	uint64_t flushed;/* writing: bytes already in the file */
	uint64_t roff;   /* reading: file offset of buf's end */
	int reading;
	int eof;
	size_t mem_max;  /* the buffer grows up to this before the first flush */
	size_t bufsize;  /* and shrinks back to this at it */
};

static int tmpfile_open(const char *tmpdir)
{
	char path[PATH_MAX];
	int fd;

	fd = open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (snprintf(path, sizeof(path), "%s/.mfs-spill-XXXXXX", tmpdir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

int mfs_spill_open(const char *tmpdir, size_t bufsize, struct mfs_spill **out)
{
	struct mfs_spill *s = calloc(1, sizeof(*s));
	int fd;

	if (!s)
		return -ENOMEM;
	s->buf = malloc(bufsize);
	if (!s->buf) {
		free(s);
		return -ENOMEM;
	}
	fd = tmpfile_open(tmpdir);
	if (fd < 0) {
		free(s->buf);
		free(s);
		return fd;
	}
	s->fd = fd;
	s->cap = bufsize;
	s->mem_max = bufsize;
	s->bufsize = bufsize;
	*out = s;
	return 0;
}

void mfs_spill_keep_in_memory(struct mfs_spill *s, size_t max)
{
	s->mem_max = max;
}

/* Room for @n more bytes by growing the buffer, while nothing went to the
 * file yet and the whole spill stays under mem_max: 1, else 0. */
static int spill_grow(struct mfs_spill *s, size_t n)
{
	size_t want = s->cap * 2;
	char *nb;

	if (s->flushed || s->reading || s->len + n > s->mem_max)
		return 0;
	if (want < s->len + n)
		want = s->len + n;
	if (want > s->mem_max)
		want = s->mem_max;
	nb = realloc(s->buf, want);
	if (!nb)
		return 0;
	s->buf = nb;
	s->cap = want;
	return 1;
}

static int write_all(int fd, const char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int spill_flush(struct mfs_spill *s)
{
	int r;

	if (s->reading || !s->len)
		return 0;
	r = write_all(s->fd, s->buf, s->len, s->flushed);
	if (r < 0)
		return r;
	s->flushed += s->len;
	s->len = 0;
	if (s->cap > s->bufsize) {
		/* It did not fit in memory: back to the plain buffer size. */
		char *nb = realloc(s->buf, s->bufsize);

		if (nb) {
			s->buf = nb;
			s->cap = s->bufsize;
		}
	}
	return 0;
}

void *mfs_spill_reserve(struct mfs_spill *s, size_t n)
{
	if (s->cap - s->len < n && !spill_grow(s, n)) {
		if (spill_flush(s) < 0)
			return NULL;
		if (n > s->cap) {
			char *nb = realloc(s->buf, n);

			if (!nb)
				return NULL;
			s->buf = nb;
			s->cap = n;
		}
	}
	return s->buf + s->len;
}

void mfs_spill_commit(struct mfs_spill *s, size_t n)
{
	s->len += n;
}

int mfs_spill_write(struct mfs_spill *s, const void *p, size_t n)
{
	int r;

	if (s->cap - s->len < n)
		(void)spill_grow(s, n);
	if (n > s->cap) {
		r = spill_flush(s);
		if (r < 0)
			return r;
		r = write_all(s->fd, p, n, s->flushed);
		if (r < 0)
			return r;
		s->flushed += n;
		return 0;
	}
	if (s->cap - s->len < n) {
		r = spill_flush(s);
		if (r < 0)
			return r;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return 0;
}

uint64_t mfs_spill_tell(const struct mfs_spill *s)
{
	return s->flushed + (s->reading ? 0 : s->len);
}

int mfs_spill_rewind(struct mfs_spill *s)
{
	int r;

	if (!s->flushed) {
		/* All of it is in the buffer: read it there, the file stays empty. */
		s->reading = 1;
		s->pos = 0;
		s->roff = 0;
		s->eof = 1;
		return 0;
	}
	r = spill_flush(s);
	if (r < 0)
		return r;
	s->reading = 1;
	s->len = s->pos = 0;
	s->roff = 0;
	s->eof = 0;
	return 0;
}

int mfs_spill_read(struct mfs_spill *s, size_t n, const void **p)
{
	while (s->len - s->pos < n) {
		size_t have = s->len - s->pos;
		ssize_t got;

		if (s->eof)
			return have ? -EBADMSG : 0;
		if (s->pos) {
			memmove(s->buf, s->buf + s->pos, have);
			s->len = have;
			s->pos = 0;
		}
		if (n > s->cap) {
			char *nb = realloc(s->buf, n);

			if (!nb)
				return -ENOMEM;
			s->buf = nb;
			s->cap = n;
		}
		got = pread(s->fd, s->buf + s->len, s->cap - s->len, (off_t)s->roff);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0)
			s->eof = 1;
		s->len += (size_t)got;
		s->roff += (uint64_t)got;
	}
	*p = s->buf + s->pos;
	s->pos += n;
	return 1;
}

int mfs_spill_pread(struct mfs_spill *s, uint64_t off, void *buf, size_t n)
{
	char *p = buf;
	int r;

	if (!s->flushed) {
		/* in the buffer, from offset 0 (writing or reading in memory) */
		if (off > s->len || n > s->len - off)
			return -EBADMSG;
		memcpy(buf, s->buf + off, n);
		return 0;
	}
	r = spill_flush(s);
	if (r < 0)
		return r;
	while (n) {
		ssize_t got = pread(s->fd, p, n, (off_t)off);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0)
			return -EBADMSG;
		p += got;
		n -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

void mfs_spill_close(struct mfs_spill *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
	free(s);
}

/* ---- the hash table ---- */

/*
 * Open addressing with linear probing, 1.5 slots per row, home slot by
 * "fastrange" (no power-of-two rounding: the table is the biggest memory
 * of a run). Memory comes zeroed (a big table straight from mmap, cleared
 * lazily by the kernel and backed by huge pages where it can), so zero is
 * "empty": entries keep the row as idx + 1, and a hash of all zero bits
 * is stored as (1, 0) - an extra collision of probability 2^-128.
 * FIRST-wins tables while streaming need no row: 16-byte entries.
 */
struct entry {
	uint64_t lo, hi;
	uint64_t idx1; /* row + 1; 0: empty (wide entries only) */
};

struct table {
	char *mem;
	size_t bytes;    /* of the mapping (0: from calloc) */
	char *e;
	uint64_t cap;
	size_t esize;    /* 16 or 24 */
};

#define HUGE_PAGE ((size_t)2 << 20)

static uint64_t table_cap(uint64_t n)
{
	return n + n / 2 + 16;
}

static int table_init(struct table *t, uint64_t n, size_t esize)
{
	size_t bytes;

	memset(t, 0, sizeof(*t));
	t->cap = table_cap(n);
	t->esize = esize;
	bytes = t->cap * esize;
	if (bytes >= 2 * HUGE_PAGE) {
		size_t map = bytes + HUGE_PAGE;
		char *m = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uintptr_t a;

		if (m == MAP_FAILED)
			return -ENOMEM;
		a = ((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
		t->mem = m;
		t->bytes = map;
		t->e = (char *)a;
		/* Random slots: huge pages spare a TLB miss per row. */
		madvise(t->e, bytes, MADV_HUGEPAGE);
	} else {
		t->mem = t->e = calloc(1, bytes);
		if (!t->e)
			return -ENOMEM;
	}
	return 0;
}

static void table_free(struct table *t)
{
	if (t->bytes)
		munmap(t->mem, t->bytes);
	else
		free(t->mem);
	memset(t, 0, sizeof(*t));
}

static inline uint64_t table_home(const struct table *t, uint64_t lo, uint64_t hi)
{
	return (uint64_t)(((unsigned __int128)(lo ^ (hi >> 17)) * t->cap) >> 64);
}

static inline struct entry *table_at(const struct table *t, uint64_t i)
{
	return (struct entry *)(t->e + i * t->esize);
}

static inline int entry_empty(const struct table *t, const struct entry *e)
{
	return t->esize == 16 ? (e->lo | e->hi) == 0 : e->idx1 == 0;
}

/* The entry of (@lo, @hi): found, or the empty slot to fill (*@found 0). */
static struct entry *table_slot(struct table *t, uint64_t lo, uint64_t hi, int *found)
{
	uint64_t i = table_home(t, lo, hi);

	if (t->esize == 16 && !(lo | hi))
		lo = 1;
	for (;;) {
		struct entry *e = table_at(t, i);

		if (entry_empty(t, e)) {
			*found = 0;
			return e;
		}
		if (e->lo == lo && e->hi == hi) {
			*found = 1;
			return e;
		}
		if (++i == t->cap)
			i = 0;
	}
}

static inline void entry_set(struct entry *e, uint64_t lo, uint64_t hi)
{
	e->lo = lo;
	e->hi = hi;
	if (!(lo | hi))
		e->lo = 1;
}

/* ---- dedupe ---- */

#define PART_BUF (32 * 1024)
#define MAX_PARTS 1024

struct mfs_dedupe {
	enum mfs_dedupe_mode mode;
	uint64_t nrows;
	size_t budget;
	struct table t;        /* in-memory modes */
	uint8_t *keep;         /* nrows bits; not for streaming FIRST */
	unsigned nparts;       /* 0: in memory */
	unsigned part_shift;
	struct mfs_spill **parts;
	uint64_t *part_rows;
	uint64_t added, removed;
};

static uint64_t table_bytes(uint64_t n, size_t esize)
{
	return table_cap(n) * esize;
}

int mfs_dedupe_new(enum mfs_dedupe_mode mode, uint64_t nrows, size_t budget, const char *tmpdir,
		   struct mfs_dedupe **out)
{
	struct mfs_dedupe *d = calloc(1, sizeof(*d));
	unsigned i, bits = 0;
	int r = -ENOMEM;

	if (!d)
		return -ENOMEM;
	d->mode = mode;
	d->nrows = nrows;
	d->budget = budget;
	if (table_bytes(nrows, mode == MFS_DEDUPE_FIRST ? 16 : 24) <= budget) {
		r = table_init(&d->t, nrows, mode == MFS_DEDUPE_FIRST ? 16 : 24);
		if (r < 0)
			goto out;
	} else {
		/* Partitions small enough that each one's table fits, with a
		 * quarter to spare for an unlucky spread. */
		while (bits < 10 && table_bytes((nrows >> bits) + (nrows >> bits) / 4, 24) > budget)
			bits++;
		d->nparts = 1u << bits;
		d->part_shift = 64 - bits;
		d->parts = calloc(d->nparts, sizeof(*d->parts));
		d->part_rows = calloc(d->nparts, sizeof(*d->part_rows));
		if (!d->parts || !d->part_rows)
			goto out;
		for (i = 0; i < d->nparts; i++) {
			r = mfs_spill_open(tmpdir, PART_BUF, &d->parts[i]);
			if (r < 0)
				goto out;
		}
	}
	if (mode == MFS_DEDUPE_LAST || d->nparts) {
		d->keep = calloc(nrows / 8 + 1, 1);
		if (!d->keep) {
			r = -ENOMEM;
			goto out;
		}
	}
	*out = d;
	return 0;
out:
	mfs_dedupe_free(d);
	return r;
}

int mfs_dedupe_streaming(const struct mfs_dedupe *d)
{
	return d->mode == MFS_DEDUPE_FIRST && !d->nparts;
}

static inline void bit_set(uint8_t *b, uint64_t i)
{
	b[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static inline void bit_clear(uint8_t *b, uint64_t i)
{
	b[i >> 3] &= (uint8_t)~(1u << (i & 7));
}

void mfs_dedupe_prefetch(const struct mfs_dedupe *d, XXH128_hash_t h)
{
	if (!d->nparts)
		__builtin_prefetch(table_at(&d->t, table_home(&d->t, h.low64, h.high64)), 1);
}

int mfs_dedupe_add(struct mfs_dedupe *d, uint64_t idx, XXH128_hash_t h)
{
	struct entry *e;
	int found;

	if (idx >= d->nrows)
		return -EINVAL;
	d->added++;
	if (d->nparts) {
		uint64_t rec[3] = { h.low64, h.high64, idx };
		unsigned p = d->part_shift >= 64 ? 0 : (unsigned)(h.high64 >> d->part_shift);

		d->part_rows[p]++;
		return mfs_spill_write(d->parts[p], rec, sizeof(rec));
	}
	e = table_slot(&d->t, h.low64, h.high64, &found);
	if (!found) {
		entry_set(e, h.low64, h.high64);
		if (d->t.esize == 24)
			e->idx1 = idx + 1;
		if (d->keep)
			bit_set(d->keep, idx);
		return 0;
	}
	d->removed++;
	if (d->mode == MFS_DEDUPE_FIRST)
		return 1;
	bit_clear(d->keep, e->idx1 - 1);
	bit_set(d->keep, idx);
	e->idx1 = idx + 1;
	return 0;
}

int mfs_dedupe_finish(struct mfs_dedupe *d)
{
	unsigned p;
	int r;

	if (!d->nparts)
		return 0;
	for (p = 0; p < d->nparts; p++) {
		struct table t;
		uint64_t i, n = d->part_rows[p];
		const void *rec;

		if (!n)
			continue;
		r = table_init(&t, n, 24);
		if (r < 0)
			return r;
		r = mfs_spill_rewind(d->parts[p]);
		while (r >= 0 && (r = mfs_spill_read(d->parts[p], 24, &rec)) == 1) {
			uint64_t v[3];
			struct entry *e;
			int found;

			memcpy(v, rec, sizeof(v));
			e = table_slot(&t, v[0], v[1], &found);
			if (!found) {
				entry_set(e, v[0], v[1]);
				e->idx1 = v[2] + 1;
			} else {
				d->removed++;
				if (d->mode == MFS_DEDUPE_LAST)
					e->idx1 = v[2] + 1;
			}
		}
		if (r < 0) {
			table_free(&t);
			return r;
		}
		for (i = 0; i < t.cap; i++)
			if (table_at(&t, i)->idx1)
				bit_set(d->keep, table_at(&t, i)->idx1 - 1);
		table_free(&t);
		mfs_spill_close(d->parts[p]);
		d->parts[p] = NULL;
	}
	return 0;
}

int mfs_dedupe_keep(const struct mfs_dedupe *d, uint64_t idx)
{
	if (!d->keep || idx >= d->nrows)
		return 0;
	return (d->keep[idx >> 3] >> (idx & 7)) & 1;
}

uint64_t mfs_dedupe_removed(const struct mfs_dedupe *d)
{
	return d->removed;
}

void mfs_dedupe_free(struct mfs_dedupe *d)
{
	unsigned i;

	if (!d)
		return;
	table_free(&d->t);
	if (d->parts)
		for (i = 0; i < d->nparts; i++)
			mfs_spill_close(d->parts[i]);
	free(d->parts);
	free(d->part_rows);
	free(d->keep);
	free(d);
}
