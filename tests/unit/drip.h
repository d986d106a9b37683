/*
 * drip.h - a source over memory that returns 1..7 bytes per read in a seeded
 * pattern, so readers are tested on every way their input can be cut. For
 * the unit tests and the fuzz targets; header-only so each links it alone.
 */
#ifndef MFS_TEST_DRIP_H
#define MFS_TEST_DRIP_H

#include <stdlib.h>
#include <string.h>

#include "../../util/stream.h"

struct drip {
	struct mfs_source src;
	const void *data;
	size_t len, off;
	unsigned seed;
};

static inline ssize_t drip_read(struct mfs_source *src, void *buf, size_t len)
{
	struct drip *d = (struct drip *)src;
	size_t n = 1 + d->seed % 7;

	d->seed = d->seed * 1103515245u + 12345u;
	if (n > len)
		n = len;
	if (n > d->len - d->off)
		n = d->len - d->off;
	memcpy(buf, (const char *)d->data + d->off, n);
	d->off += n;
	return (ssize_t)n;
}

/* A drip the caller owns (on the stack); mfs_source_close() does nothing. */
static inline void drip_init(struct drip *d, const void *data, size_t len, unsigned seed)
{
	memset(d, 0, sizeof(*d));
	d->src.read = drip_read;
	d->data = data;
	d->len = len;
	d->seed = seed;
}

static inline void drip_free(struct mfs_source *src)
{
	free(src);
}

/* A drip freed by mfs_source_close(); NULL when out of memory. */
static inline struct mfs_source *drip_new(const void *data, size_t len, unsigned seed)
{
	struct drip *d = malloc(sizeof(*d));

	if (!d)
		return NULL;
	drip_init(d, data, len, seed);
	d->src.close = drip_free;
	return &d->src;
}

#endif
