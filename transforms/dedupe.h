/*
 * dedupe.h - duplicate rows by 128-bit hash under a memory budget, and the
 * unlinked, buffered temp files ("spills") silver and dedupe write to
 * tmpdir. Internal to transforms/.
 *
 * Rows are numbered 0..nrows-1 in file order and handed in that order with
 * the XXH3-128 hash of what makes them equal (the whole cleaned row, or its
 * key). Two modes:
 *   FIRST  the first row of each hash survives (exact duplicates);
 *   LAST   the last row of each hash survives (key dedupe, last wins).
 * When the table for nrows fits the budget, FIRST answers at once
 * (streaming: silver writes the row or drops it in the same pass); LAST,
 * and FIRST past the budget, answer after mfs_dedupe_finish() through
 * mfs_dedupe_keep(), so silver reads its spill once more. Past the budget
 * the (hash, row) pairs go to 2^k partition files by the hash's top bits,
 * each partition small enough to dedupe in memory; only a bitmap of nrows
 * bits stays in memory across partitions.
 */
#ifndef MFS_DEDUPE_H
#define MFS_DEDUPE_H

#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

/* ---- spill files ---- */

struct mfs_spill;

/* An unlinked temp file in @tmpdir with a write/read buffer of @bufsize. */
int mfs_spill_open(const char *tmpdir, size_t bufsize, struct mfs_spill **out);
/* Let the buffer grow up to @max before anything is written to the file: a
 * spill that fits is written and read in memory only. */
void mfs_spill_keep_in_memory(struct mfs_spill *s, size_t max);
int mfs_spill_write(struct mfs_spill *s, const void *p, size_t n);
/* @n contiguous bytes of the write buffer to fill, then mfs_spill_commit()
 * with how many were used (<= n). NULL on -ENOMEM or a failed flush. */
void *mfs_spill_reserve(struct mfs_spill *s, size_t n);
void mfs_spill_commit(struct mfs_spill *s, size_t n);
/* Bytes written so far (the offset the next write lands at). */
uint64_t mfs_spill_tell(const struct mfs_spill *s);
/* Flush and start reading from offset 0 (again). */
int mfs_spill_rewind(struct mfs_spill *s);
/* The next @n bytes, contiguous, valid until the next call: 1; 0 at the
 * end (no bytes left); -EBADMSG for a partial tail; -errno. */
int mfs_spill_read(struct mfs_spill *s, size_t n, const void **p);
/* Random read of what was written (flushes first). */
int mfs_spill_pread(struct mfs_spill *s, uint64_t off, void *buf, size_t n);
void mfs_spill_close(struct mfs_spill *s);

/* ---- dedupe ---- */

enum mfs_dedupe_mode { MFS_DEDUPE_FIRST, MFS_DEDUPE_LAST };

struct mfs_dedupe;

/* For rows 0..@nrows-1, in @budget bytes of memory (plus nrows/8). */
int mfs_dedupe_new(enum mfs_dedupe_mode mode, uint64_t nrows, size_t budget, const char *tmpdir,
		   struct mfs_dedupe **out);
/* 1 when mfs_dedupe_add() answers at once. */
int mfs_dedupe_streaming(const struct mfs_dedupe *d);
/* Optional: start loading what mfs_dedupe_add() of @h will touch, a few
 * rows ahead, so that table lookups overlap instead of stalling in turn. */
void mfs_dedupe_prefetch(const struct mfs_dedupe *d, XXH128_hash_t h);
/* Row @idx (increasing) hashes to @h. Streaming: 1 when a duplicate of an
 * earlier row, 0 when first. Otherwise 0. -errno on failure. */
int mfs_dedupe_add(struct mfs_dedupe *d, uint64_t idx, XXH128_hash_t h);
/* After the last add (not needed when streaming). */
int mfs_dedupe_finish(struct mfs_dedupe *d);
/* After finish: 1 when row @idx was added and survives. */
int mfs_dedupe_keep(const struct mfs_dedupe *d, uint64_t idx);
/* Rows added that did not survive. */
uint64_t mfs_dedupe_removed(const struct mfs_dedupe *d);
void mfs_dedupe_free(struct mfs_dedupe *d);

/* The budget silver gives dedupe (64 MiB). Tests lower it, before any run,
 * to reach the partitioned paths with small inputs. */
extern size_t mfs_silver_dedupe_budget;

#endif
