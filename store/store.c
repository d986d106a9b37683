/*
 * store.c - what every store shares: listing lifetime and buffered reads.
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void mfs_object_free(struct mfs_object *o)
{
	free(o->key);
	o->key = NULL;
}

void mfs_listing_free(struct mfs_listing *l)
{
	size_t i;

	for (i = 0; i < l->n_objects; i++)
		mfs_object_free(&l->objects[i]);
	for (i = 0; i < l->n_prefixes; i++)
		free(l->prefixes[i]);
	free(l->objects);
	free(l->prefixes);
	memset(l, 0, sizeof(*l));
}

struct range_sink {
	char *buf;
	size_t cap;
	size_t got;
};

static int range_sink_write(void *arg, const void *data, size_t len)
{
	struct range_sink *rs = arg;

	if (len > rs->cap - rs->got)
		return -EIO; /* the store sent more than asked for */
	memcpy(rs->buf + rs->got, data, len);
	rs->got += len;
	return 0;
}

int mfs_store_get_range(struct mfs_store *st, const char *key, const char *etag, uint64_t off,
			size_t len, void *buf, size_t *got)
{
	struct range_sink rs = { buf, len, 0 };
	int r;

	*got = 0;
	if (len == 0)
		return 0;
	r = st->ops->get(st, key, etag, off, len, range_sink_write, &rs);
	if (r == 0)
		*got = rs.got;
	return r;
}
