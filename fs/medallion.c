/*
 * medallion.c - the registries behind .medallion/errors and .medallion/shadowed.
 *
 * DESIGN: one mutex per registry instance guards both lists. Errors are a
 * ring so a flapping server cannot grow memory; shadowed keys are a set
 * (a listing is re-read every metadata_ttl and finds the same keys again).
 */
#include "medallion.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/log.h"

#define ERROR_RING 1000
#define SHADOW_BUCKETS 256

struct shadow {
	char *line;
	struct shadow *next;
};

struct mfs_medallion {
	pthread_mutex_t lock;
	char *errors[ERROR_RING]; /* protected by lock */
	size_t error_next;        /* protected by lock */
	size_t error_count;       /* protected by lock */
	struct shadow *shadowed[SHADOW_BUCKETS]; /* protected by lock */
	size_t shadowed_count;
};

int mfs_medallion_new(struct mfs_medallion **out)
{
	struct mfs_medallion *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	*out = m;
	return 0;
}

void mfs_medallion_free(struct mfs_medallion *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < ERROR_RING; i++)
		free(m->errors[i]);
	for (i = 0; i < SHADOW_BUCKETS; i++) {
		struct shadow *s = m->shadowed[i], *next;

		for (; s; s = next) {
			next = s->next;
			free(s->line);
			free(s);
		}
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void mfs_medallion_error(struct mfs_medallion *m, const char *path, const char *reason)
{
	struct mfs_buf b = MFS_BUF_INIT;
	char stamp[32];
	struct tm tm;
	time_t now = time(NULL);

	mfs_warn("%s: %s", path, reason);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (mfs_buf_appendf(&b, "%s %s: %s\n", stamp, path, reason))
		return; /* out of memory: the log line above still tells */
	pthread_mutex_lock(&m->lock);
	free(m->errors[m->error_next]);
	m->errors[m->error_next] = b.data;
	m->error_next = (m->error_next + 1) % ERROR_RING;
	if (m->error_count < ERROR_RING)
		m->error_count++;
	pthread_mutex_unlock(&m->lock);
}

static size_t hash_str(const char *s)
{
	size_t h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

void mfs_medallion_shadowed(struct mfs_medallion *m, const char *key, const char *why)
{
	struct mfs_buf b = MFS_BUF_INIT;
	struct shadow *s;
	size_t h;

	if (mfs_buf_appendf(&b, "%s\t%s\n", key, why))
		return;
	h = hash_str(b.data) % SHADOW_BUCKETS;
	pthread_mutex_lock(&m->lock);
	for (s = m->shadowed[h]; s; s = s->next)
		if (strcmp(s->line, b.data) == 0)
			break;
	if (!s) {
		s = malloc(sizeof(*s));
		if (s) {
			s->line = b.data;
			b.data = NULL;
			s->next = m->shadowed[h];
			m->shadowed[h] = s;
			m->shadowed_count++;
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (b.data)
		mfs_info("shadowed: %s: %s", key, why);
	mfs_buf_free(&b);
}

int mfs_medallion_render_errors(struct mfs_medallion *m, struct mfs_buf *out)
{
	size_t i, start;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	start = (m->error_next + ERROR_RING - m->error_count) % ERROR_RING;
	for (i = 0; i < m->error_count && !r; i++)
		r = mfs_buf_append(out, m->errors[(start + i) % ERROR_RING],
				   strlen(m->errors[(start + i) % ERROR_RING]));
	pthread_mutex_unlock(&m->lock);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int mfs_medallion_render_shadowed(struct mfs_medallion *m, struct mfs_buf *out)
{
	char **lines;
	size_t i, n = 0;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	lines = malloc((m->shadowed_count + 1) * sizeof(*lines));
	if (!lines) {
		pthread_mutex_unlock(&m->lock);
		return -ENOMEM;
	}
	for (i = 0; i < SHADOW_BUCKETS; i++)
		for (struct shadow *s = m->shadowed[i]; s; s = s->next)
			lines[n++] = s->line;
	qsort(lines, n, sizeof(*lines), cmp_str);
	for (i = 0; i < n && !r; i++)
		r = mfs_buf_append(out, lines[i], strlen(lines[i]));
	pthread_mutex_unlock(&m->lock);
	free(lines);
	return r;
}
