/*
 * naming.h - which bronze objects have a silver file, and its name (SPEC §4).
 *
 * Pure functions over names, so they are unit-tested without a mount.
 */
#ifndef MFS_NAMING_H
#define MFS_NAMING_H

#include <stddef.h>

#include "../transforms/pipeline.h"
#include "../transforms/reader.h"

struct mfs_tabular {
	enum mfs_in_format format;
	enum mfs_codec codec;
	int rank;        /* order among same-stem objects: lower keeps the plain name */
	size_t stem_len; /* bytes of the name before the tabular extension */
};

/*
 * Is the bronze object @name (last path segment) at @key tabular? Its
 * format comes from the extension (after a .gz/.zst suffix), or from the
 * owning dataset's declared format (which also admits other extensions,
 * e.g. .txt). Returns 1 and fills @t, or 0.
 */
int mfs_naming_classify(const struct mfs_pipeline *p, const char *key, const char *name,
			struct mfs_tabular *t);

struct mfs_naming_in {
	const char *name;        /* bronze name in the directory */
	struct mfs_tabular tab;  /* from mfs_naming_classify */
};

/*
 * Give each tabular object of one directory its silver name: the stem plus
 * @ext (".csv" or ".jsonl"); among objects with the same stem the one with
 * the lowest rank keeps it and the others keep their whole name before @ext
 * (a.tsv.csv, a.csv.gz.csv). names[i] (malloc'd) belongs to in[i]; NULL when
 * the name is taken by an earlier one (then the object is not shown).
 * Returns 0 or -ENOMEM.
 */
int mfs_naming_assign(const struct mfs_naming_in *in, size_t n, const char *ext, char **names);

/* Hive-style "k=v" segments of @key's directories, in order; caller frees
 * with mfs_naming_hive_free(). */
int mfs_naming_hive(const char *key, char ***names, char ***values, size_t *n);
void mfs_naming_hive_free(char **names, char **values, size_t n);

#endif
