/*
 * pipeline.h - the pipeline file (SPEC §6): an INI file with [silver],
 * [dataset NAME] and [gold NAME] sections.
 *
 * INI rules (our own reader, transforms/ini.c — libinih gets them wrong):
 * "key = value"; a value continues on following lines that start with white
 * space (for SQL); '#' and ';' start a comment only at the start of a line;
 * no line-length limit; keys are case-insensitive, values keep their case.
 * Every error is "FILE:LINE: message" (FILE:LINE:COL for expressions).
 */
#ifndef MFS_PIPELINE_H
#define MFS_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "expr.h"
#include "value.h"

/* ---- the INI layer ---- */

struct mfs_ini_entry {
	const char *section; /* "silver", "dataset sales", "gold revenue"; "" before any */
	const char *key;     /* lower-cased */
	const char *value;   /* continuation lines joined with '\n', trimmed */
	int line;            /* line of the key */
	int value_line;      /* line where the value starts (same as line) */
	int value_col;       /* 1-based column where the value starts */
};

/* Called per entry in file order (sections with no entries are reported
 * with key NULL). Return 0 to go on, -errno (with @err filled) to stop. */
typedef int (*mfs_ini_fn)(void *arg, const struct mfs_ini_entry *e, char *err, size_t errlen);

/* Parse @text; on error returns -EINVAL with "LINE: message" in @err. */
int mfs_ini_parse(const char *text, size_t len, mfs_ini_fn fn, void *arg, char *err,
		  size_t errlen);

/* ---- the pipeline ---- */

enum mfs_out_format { MFS_OUT_CSV = 0, MFS_OUT_JSONL };
enum mfs_date_order { MFS_DATE_MDY = 0, MFS_DATE_DMY, MFS_DATE_YMD };
enum mfs_evolution { MFS_EVOLVE_ADD = 0, MFS_EVOLVE_DROP, MFS_EVOLVE_FAIL };
enum mfs_expect_action { MFS_EXPECT_DROP, MFS_EXPECT_WARN, MFS_EXPECT_FAIL };
enum mfs_in_format { MFS_IN_AUTO = 0, MFS_IN_CSV, MFS_IN_TSV, MFS_IN_PSV, MFS_IN_JSONL,
		     MFS_IN_JSON };

/* The steps of SPEC §4, each switchable in [silver] (and per dataset). */
struct mfs_silver_steps {
	int trim;           /* trim = true */
	int null_tokens;    /* null_tokens = ... (a list); "none" switches off */
	int infer_types;    /* types = infer | off (all strings) */
	int normalize_names;/* names = snake_case | keep */
	int dedupe;         /* dedupe = true */
};

struct mfs_column_decl {
	char *name;
	enum mfs_type type;
	int scale;          /* decimal(p,s) */
};

struct mfs_expectation {
	char *name;
	char *text;         /* the expression as written */
	struct mfs_expr *expr; /* parsed at load; bound per file */
	enum mfs_expect_action action;
	int line;           /* for messages */
};

struct mfs_dataset {
	char *name;
	char *prefix;       /* relative to the SOURCE root, "" or ending in '/' */
	enum mfs_in_format format;
	struct mfs_column_decl *columns;
	size_t ncolumns;    /* 0: inferred */
	char **key;         /* key columns, or NULL */
	size_t nkey;
	int decimal_comma;
	struct mfs_expectation *expects;
	size_t nexpects;
	enum mfs_evolution evolution;
	struct mfs_silver_steps steps;
	int line;           /* of the section header */
	char *section_text; /* the section's entries, normalised, for the fingerprint */
};

struct mfs_gold_view {
	char *name;
	char *sql;          /* parsed by gold (issue 4) */
	enum mfs_out_format format;
	int line, col;      /* where the sql value starts */
};

struct mfs_pipeline {
	char *path;         /* for messages; "(defaults)" without a file */
	/* [silver] */
	struct mfs_silver_steps steps;
	char **null_tokens; /* default: "", NULL, null, N/A, NA, n/a, None, - */
	size_t nnull_tokens;
	enum mfs_date_order date_order;
	enum mfs_out_format format;
	char *silver_text;  /* normalised [silver] section, for fingerprints */
	struct mfs_dataset *datasets;
	size_t ndatasets;
	struct mfs_gold_view *views;
	size_t nviews;
};

/* The defaults of SPEC §4 (no file). */
int mfs_pipeline_defaults(struct mfs_pipeline **out);

/*
 * Load and validate @path. On error returns -EINVAL (or -errno for I/O)
 * with "PATH:LINE: message" (or PATH:LINE:COL) in @err.
 */
int mfs_pipeline_load(const char *path, struct mfs_pipeline **out, char *err, size_t errlen);
int mfs_pipeline_parse(const char *text, size_t len, const char *path, struct mfs_pipeline **out,
		       char *err, size_t errlen);
void mfs_pipeline_free(struct mfs_pipeline *p);

/* The dataset owning @key (longest matching prefix), or NULL. */
const struct mfs_dataset *mfs_pipeline_dataset_for(const struct mfs_pipeline *p, const char *key);

/* The effective pipeline as text, for .medallion/pipeline. Caller frees. */
char *mfs_pipeline_render(const struct mfs_pipeline *p);

#endif
