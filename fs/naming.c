/*
 * naming.c - silver names for bronze objects (SPEC §4, "silver/").
 */
#include "naming.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *ext;
	enum mfs_in_format format;
} exts[] = {
	{ ".csv", MFS_IN_CSV },     { ".tsv", MFS_IN_TSV },   { ".psv", MFS_IN_PSV },
	{ ".jsonl", MFS_IN_JSONL }, { ".ndjson", MFS_IN_JSONL }, { ".json", MFS_IN_JSON },
};

static const struct {
	const char *suffix;
	enum mfs_codec codec;
} codecs[] = {
	{ "", MFS_CODEC_NONE },
	{ ".gz", MFS_CODEC_GZIP },
	{ ".zst", MFS_CODEC_ZSTD },
};

#define NEXTS (sizeof(exts) / sizeof(*exts))
#define NCODECS (sizeof(codecs) / sizeof(*codecs))

static int ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && strncasecmp(s + len - n, suffix, n) == 0;
}

int mfs_naming_classify(const struct mfs_pipeline *p, const char *key, const char *name,
			struct mfs_tabular *t)
{
	const struct mfs_dataset *ds = p ? mfs_pipeline_dataset_for(p, key) : NULL;
	size_t len = strlen(name), c, e;

	for (c = NCODECS; c-- > 0;) {
		size_t base;

		if (c && !ends_with(name, len, codecs[c].suffix))
			continue;
		base = len - strlen(codecs[c].suffix);
		for (e = 0; e < NEXTS; e++) {
			if (!ends_with(name, base, exts[e].ext) || base == strlen(exts[e].ext))
				continue;
			t->format = ds && ds->format != MFS_IN_AUTO ? ds->format : exts[e].format;
			t->codec = codecs[c].codec;
			t->rank = (int)(e * NCODECS + c);
			t->stem_len = base - strlen(exts[e].ext);
			return 1;
		}
		/* A declared format admits any other extension (e.g. .txt). */
		if (ds && ds->format != MFS_IN_AUTO && base > 0) {
			const char *dot = memrchr(name, '.', base);

			t->format = ds->format;
			t->codec = codecs[c].codec;
			t->rank = (int)(NEXTS * NCODECS + c);
			t->stem_len = dot && dot > name ? (size_t)(dot - name) : base;
			return 1;
		}
		if (c == 0)
			break;
	}
	return 0;
}

struct order {
	size_t i;
	const struct mfs_naming_in *in;
};

static int cmp_order(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	size_t lx = x->in->tab.stem_len, ly = y->in->tab.stem_len;
	int c = memcmp(x->in->name, y->in->name, lx < ly ? lx : ly);

	if (c)
		return c;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	if (x->in->tab.rank != y->in->tab.rank)
		return x->in->tab.rank - y->in->tab.rank;
	return strcmp(x->in->name, y->in->name);
}

static char *join(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	char *s = malloc(alen + blen + 1);

	if (!s)
		return NULL;
	memcpy(s, a, alen);
	memcpy(s + alen, b, blen + 1);
	return s;
}

static int name_taken(char **names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] && strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

int mfs_naming_assign(const struct mfs_naming_in *in, size_t n, const char *ext, char **names)
{
	struct order *o = calloc(n ? n : 1, sizeof(*o));
	size_t i;

	if (!o)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		o[i].i = i;
		o[i].in = &in[i];
		names[i] = NULL;
	}
	qsort(o, n, sizeof(*o), cmp_order);
	for (i = 0; i < n; i++) {
		const struct mfs_naming_in *x = o[i].in;
		char *name;
		int first;

		/* Same stem as the previous one: it keeps its whole name. */
		first = i == 0 || o[i - 1].in->tab.stem_len != x->tab.stem_len ||
			memcmp(o[i - 1].in->name, x->name, x->tab.stem_len) != 0;
		name = first ? join(x->name, x->tab.stem_len, ext) : join(x->name, strlen(x->name), ext);
		if (!name)
			goto nomem;
		if (name_taken(names, n, name)) {
			free(name);
			continue;
		}
		names[o[i].i] = name;
	}
	free(o);
	return 0;
nomem:
	for (i = 0; i < n; i++) {
		free(names[i]);
		names[i] = NULL;
	}
	free(o);
	return -ENOMEM;
}

int mfs_naming_hive(const char *key, char ***names, char ***values, size_t *n)
{
	const char *p = key, *slash;
	size_t cap = 0;

	*names = NULL;
	*values = NULL;
	*n = 0;
	while ((slash = strchr(p, '/'))) {
		const char *eq = memchr(p, '=', (size_t)(slash - p));

		if (eq && eq > p) {
			if (*n == cap) {
				size_t nc = cap ? cap * 2 : 4;
				char **nn = realloc(*names, nc * sizeof(char *));
				char **nv;

				if (!nn)
					goto nomem;
				*names = nn;
				nv = realloc(*values, nc * sizeof(char *));
				if (!nv)
					goto nomem;
				*values = nv;
				cap = nc;
			}
			(*names)[*n] = strndup(p, (size_t)(eq - p));
			(*values)[*n] = strndup(eq + 1, (size_t)(slash - eq - 1));
			(*n)++;
			if (!(*names)[*n - 1] || !(*values)[*n - 1])
				goto nomem;
		}
		p = slash + 1;
	}
	return 0;
nomem:
	mfs_naming_hive_free(*names, *values, *n);
	*names = NULL;
	*values = NULL;
	*n = 0;
	return -ENOMEM;
}

void mfs_naming_hive_free(char **names, char **values, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(names[i]);
		free(values[i]);
	}
	free(names);
	free(values);
}
