/*
 * publish.c - silver and gold files written back to the bucket, and read
 * back by other mounts whose lineage matches (see publish.h for the layout).
 *
 * A job publishes the file (streamed from its cache entry through a writer,
 * so a multipart upload when large), its rejects, then the sidecar, which
 * names the ETags of both, then the directory's _schema.sql. A reader trusts
 * only a sidecar with the lineage hash it computed itself, and reads the
 * objects pinned to the sidecar's ETags.
 */
#include "publish.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>
#include <yajl/yajl_tree.h>

#include "../transforms/expr_i.h"
#include "../util/buf.h"
#include "../util/err.h"
#include "../util/log.h"
#include "writer.h"

#define SIDECAR_MAX (4u << 20)
#define COPY_CHUNK (1u << 20)

struct mfs_publish {
	struct mfs_store *st;
	char *root_url;
	struct mfs_pool *jobs, *parts;
	atomic_ullong published, failures, hits;
};

int mfs_publish_new(struct mfs_store *st, const char *root_url, struct mfs_pool *jobs,
		    struct mfs_pool *parts, struct mfs_publish **out)
{
	struct mfs_publish *p = calloc(1, sizeof(*p));

	if (!p || !(p->root_url = strdup(root_url))) {
		free(p);
		return -ENOMEM;
	}
	p->st = st;
	p->jobs = jobs;
	p->parts = parts;
	*out = p;
	return 0;
}

void mfs_publish_free(struct mfs_publish *p)
{
	if (!p)
		return;
	free(p->root_url);
	free(p);
}

void mfs_publish_counters(struct mfs_publish *p, uint64_t *published, uint64_t *failures,
			  uint64_t *hits)
{
	*published = p ? atomic_load(&p->published) : 0;
	*failures = p ? atomic_load(&p->failures) : 0;
	*hits = p ? atomic_load(&p->hits) : 0;
}

void mfs_publish_count_hit(struct mfs_publish *p)
{
	atomic_fetch_add(&p->hits, 1);
}

void mfs_publish_record_free(struct mfs_publish_record *r)
{
	free(r->schema);
	free(r->lineage);
	free(r->sidecar);
	r->schema = r->lineage = r->sidecar = NULL;
}

void mfs_publish_silver_hash(const char *key, const char *etag, const char *fingerprint,
			     char out[33])
{
	XXH3_state_t *s = XXH3_createState();
	XXH128_hash_t h;

	if (!s) {
		snprintf(out, 33, "%032x", 0);
		return;
	}
	XXH3_128bits_reset(s);
	XXH3_128bits_update(s, "medallionfs silver\n", 19);
	XXH3_128bits_update(s, key, strlen(key) + 1);
	XXH3_128bits_update(s, etag, strlen(etag) + 1);
	XXH3_128bits_update(s, fingerprint, strlen(fingerprint));
	h = XXH3_128bits_digest(s);
	XXH3_freeState(s);
	snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, (uint64_t)h.high64, (uint64_t)h.low64);
}

/* ---- keys ---- */

enum part { P_FILE, P_SIDECAR, P_REJECTS, P_SCHEMA };

/*
 * The key of @part of mount path @path: silver/DIR/NAME keeps its place,
 * gold/REL.EXT goes to gold/REL/ (a directory per view).
 */
static int part_key(const char *path, enum part part, struct mfs_buf *out)
{
	const char *slash = strrchr(path, '/'), *leaf = slash ? slash + 1 : path;
	const char *dot = strrchr(leaf, '.');
	int r;

	if (strncmp(path, "gold/", 5) == 0)
		r = mfs_buf_appendf(out, "%.*s/", (int)(dot ? (size_t)(dot - path) : strlen(path)),
				    path);
	else
		r = mfs_buf_appendf(out, "%.*s", (int)(leaf - path), path);
	if (r)
		return r;
	switch (part) {
	case P_FILE:
		return mfs_buf_appendf(out, "%s", leaf);
	case P_SIDECAR:
		return mfs_buf_appendf(out, "_%s.lineage.json", leaf);
	case P_REJECTS:
		return mfs_buf_appendf(out, "_%s.rejects.csv", leaf);
	default:
		return mfs_buf_appendf(out, "_schema.sql");
	}
}

/* ---- the sidecar ---- */

static int sidecar_json(const char *path, const struct mfs_publish_record *rec,
			struct mfs_buf *b)
{
	int r = mfs_buf_appendf(b, "{\n  \"medallionfs\": 1,\n  \"path\": ");

	if (!r)
		r = mfs_buf_append_json(b, path);
	if (!r)
		r = mfs_buf_appendf(
			b,
			",\n  \"lineage_hash\": \"%s\",\n  \"etag\": \"%s\",\n"
			"  \"rejects_etag\": \"%s\",\n  \"size\": %" PRIu64 ",\n"
			"  \"rows_in\": %" PRIu64 ",\n  \"rows_out\": %" PRIu64 ",\n"
			"  \"rejected\": %" PRIu64 ",\n  \"duplicates\": %" PRIu64 ",\n"
			"  \"warnings\": %" PRIu64 ",\n  \"rows\": %" PRIu64 ",\n"
			"  \"sources\": %" PRIu64 ",\n  \"mtime\": %lld,\n  \"fingerprint\": \"%s\",\n"
			"  \"schema\": %s,\n  \"lineage\": %s\n}\n",
			rec->hash, rec->etag, rec->rejects_etag, rec->size, rec->rows_in,
			rec->rows_out, rec->rejected, rec->duplicates, rec->warnings, rec->rows,
			rec->nsources, (long long)rec->mtime.tv_sec, rec->fingerprint,
			rec->schema && *rec->schema ? rec->schema : "[]",
			rec->lineage && *rec->lineage ? rec->lineage : "null");
	return r;
}

static uint64_t num(yajl_val root, const char *name)
{
	const char *path[] = { name, NULL };
	yajl_val v = yajl_tree_get(root, path, yajl_t_number);

	return v && YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) > 0 ? (uint64_t)YAJL_GET_INTEGER(v)
								   : 0;
}

static void str(yajl_val root, const char *name, char *out, size_t len)
{
	const char *path[] = { name, NULL };
	yajl_val v = yajl_tree_get(root, path, yajl_t_string);

	snprintf(out, len, "%s", v && YAJL_GET_STRING(v) ? YAJL_GET_STRING(v) : "");
}

/* The JSON text of member @name: the sidecar's own bytes, cut out where yajl found it. */
static char *raw_member(const char *text, const char *name)
{
	char pat[32];
	const char *p, *end;

	snprintf(pat, sizeof(pat), "\n  \"%s\": ", name);
	p = strstr(text, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	/* Every member sits on lines of its own and ends with ",\n  \"" or "\n}". */
	end = strstr(p, ",\n  \"");
	if (!end)
		end = strstr(p, "\n}");
	return end ? strndup(p, (size_t)(end - p)) : NULL;
}

int mfs_publish_parse(const char *text, const char *hash, struct mfs_publish_record *rec)
{
	char errbuf[128];
	yajl_val root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
	int err = -ENOENT;

	memset(rec, 0, sizeof(*rec));
	if (!root || !YAJL_IS_OBJECT(root))
		goto out;
	str(root, "lineage_hash", rec->hash, sizeof(rec->hash));
	if (strcmp(rec->hash, hash) != 0)
		goto out; /* published from other inputs or another pipeline */
	str(root, "etag", rec->etag, sizeof(rec->etag));
	str(root, "rejects_etag", rec->rejects_etag, sizeof(rec->rejects_etag));
	str(root, "fingerprint", rec->fingerprint, sizeof(rec->fingerprint));
	rec->size = num(root, "size");
	rec->rows_in = num(root, "rows_in");
	rec->rows_out = num(root, "rows_out");
	rec->rejected = num(root, "rejected");
	rec->duplicates = num(root, "duplicates");
	rec->warnings = num(root, "warnings");
	rec->rows = num(root, "rows");
	rec->nsources = num(root, "sources");
	rec->mtime.tv_sec = (time_t)num(root, "mtime");
	rec->schema = raw_member(text, "schema");
	rec->lineage = raw_member(text, "lineage");
	rec->sidecar = strdup(text);
	err = rec->etag[0] && rec->schema && rec->sidecar ? 0 : -ENOENT;
out:
	if (err)
		mfs_publish_record_free(rec);
	yajl_tree_free(root);
	return err;
}

static int buf_sink(void *arg, const void *data, size_t len)
{
	struct mfs_buf *b = arg;

	if (b->len + len > SIDECAR_MAX)
		return -EFBIG;
	return mfs_buf_append(b, data, len);
}

int mfs_publish_lookup(struct mfs_publish *p, const char *path, const char *hash,
		       struct mfs_publish_record *rec)
{
	struct mfs_buf key = MFS_BUF_INIT, text = MFS_BUF_INIT;
	int err;

	memset(rec, 0, sizeof(*rec));
	err = part_key(path, P_SIDECAR, &key);
	if (!err)
		err = p->st->ops->get(p->st, key.data, NULL, 0, SIDECAR_MAX, buf_sink, &text);
	if (!err)
		err = mfs_buf_append(&text, "", 1);
	if (!err)
		err = mfs_publish_parse(text.data, hash, rec);
	if (err == -EFBIG)
		err = -ENOENT;
	if (err && err != -ENOENT)
		mfs_debug("publish: looking for %s: %s", path, mfs_last_error());
	mfs_buf_free(&key);
	mfs_buf_free(&text);
	return err;
}

int mfs_publish_read(struct mfs_publish *p, const char *path, int rejects,
		     const struct mfs_publish_record *rec, mfs_store_sink_fn sink, void *arg)
{
	struct mfs_buf key = MFS_BUF_INIT;
	const char *etag = rejects ? rec->rejects_etag : rec->etag;
	int err;

	if (!etag[0])
		return -ENOENT;
	err = part_key(path, rejects ? P_REJECTS : P_FILE, &key);
	if (!err)
		err = p->st->ops->get(p->st, key.data, etag, 0, UINT64_MAX, sink, arg);
	mfs_buf_free(&key);
	return err;
}

/* ---- _schema.sql ---- */

/* A schema type (silver's "decimal", gold's "DECIMAL(38,2)") as Spark SQL and Athena name it. */
static const char *sql_type(const char *t, long long json_scale, char *buf, size_t len)
{
	struct mfs_expr_error perr;
	enum mfs_type type;
	int scale = 0;

	if (strcasecmp(t, "HUGEINT") == 0)
		return "DECIMAL(38,0)";
	if (mfs_expr_parse_type(t, strlen(t), &type, &scale, &perr))
		return "STRING";
	switch (type) {
	case MFS_T_BOOL:
		return "BOOLEAN";
	case MFS_T_INT:
		return "BIGINT";
	case MFS_T_DECIMAL:
		snprintf(buf, len, "DECIMAL(38,%lld)", json_scale ? json_scale : (long long)scale);
		return buf;
	case MFS_T_DOUBLE:
		return "DOUBLE";
	case MFS_T_DATE:
		return "DATE";
	case MFS_T_TIMESTAMP:
		return "TIMESTAMP";
	default:
		return "STRING";
	}
}

/* An SQL identifier from @s: [a-z0-9_], not starting with a digit. */
static int identifier(struct mfs_buf *b, const char *s)
{
	int r = 0;

	if (*s >= '0' && *s <= '9')
		r = mfs_buf_append(b, "t_", 2);
	for (; *s && !r; s++) {
		char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			c = '_';
		r = mfs_buf_append(b, &c, 1);
	}
	return r;
}

/*
 * CREATE TABLE for the directory of @path (Spark SQL; DuckDB and Athena in
 * comments), from @rec's schema. @root_url: where the publish root is.
 */
static int schema_sql(const char *root_url, const char *path,
		      const struct mfs_publish_record *rec, struct mfs_buf *b)
{
	const char *name_path[] = { "name", NULL }, *type_path[] = { "type", NULL };
	const char *scale_path[] = { "scale", NULL };
	struct mfs_buf dir = MFS_BUF_INIT, table = MFS_BUF_INIT;
	const char *ext = strrchr(path, '.');
	int json = ext && strcmp(ext, ".jsonl") == 0;
	char errbuf[128], tbuf[32];
	yajl_val root = yajl_tree_parse(rec->schema ? rec->schema : "[]", errbuf, sizeof(errbuf));
	size_t i;
	int r = -EINVAL;

	if (!root || !YAJL_IS_ARRAY(root))
		goto out;
	r = part_key(path, P_SCHEMA, &dir);
	if (r)
		goto out;
	dir.len -= strlen("_schema.sql");
	dir.data[dir.len] = '\0';
	/* silver/sales/2024/ -> sales_2024; gold/revenue/ -> revenue */
	r = identifier(&table, dir.data + (strncmp(dir.data, "gold/", 5) == 0 ? 5 : 7));
	if (r)
		goto out;
	while (table.len && table.data[table.len - 1] == '_')
		table.data[--table.len] = '\0';
	r = mfs_buf_appendf(b, "-- medallionfs: the %s files of %s%s (columns of %s)\n"
			       "CREATE TABLE IF NOT EXISTS %s (",
			    json ? "JSON lines" : "CSV", root_url, dir.data, path,
			    table.data ? table.data : "t");
	for (i = 0; !r && i < root->u.array.len; i++) {
		yajl_val o = root->u.array.values[i];
		yajl_val nm = yajl_tree_get(o, name_path, yajl_t_string);
		yajl_val ty = yajl_tree_get(o, type_path, yajl_t_string);
		yajl_val sc = yajl_tree_get(o, scale_path, yajl_t_number);

		r = mfs_buf_appendf(b, "%s\n  `%s` %s", i ? "," : "",
				    nm && YAJL_GET_STRING(nm) ? YAJL_GET_STRING(nm) : "?",
				    sql_type(ty && YAJL_GET_STRING(ty) ? YAJL_GET_STRING(ty) : "",
					     sc && YAJL_IS_INTEGER(sc) ? YAJL_GET_INTEGER(sc) : 0,
					     tbuf, sizeof(tbuf)));
	}
	if (!r)
		r = mfs_buf_appendf(b,
				    "\n)\nUSING %s%s\nLOCATION '%s%s';\n"
				    "-- DuckDB: SELECT * FROM %s('%s%s*%s');\n",
				    json ? "JSON" : "CSV", json ? "" : " OPTIONS (header 'true')",
				    root_url, dir.data, json ? "read_json" : "read_csv", root_url,
				    dir.data, ext ? ext : "");
out:
	yajl_tree_free(root);
	mfs_buf_free(&dir);
	mfs_buf_free(&table);
	return r;
}

/* ---- the job ---- */

struct job {
	struct mfs_publish *p;
	struct mfs_cache *cache;
	char *path;
	char *root_url;
	struct mfs_cache_entry *table, *rejects;
	struct mfs_publish_record rec;
};

/* Stream cache entry @e to @key of the publish store; its ETag into @etag. */
static int upload_entry(struct job *j, struct mfs_cache_entry *e, const char *key,
			char *etag, size_t etaglen)
{
	const struct mfs_store_meta meta[] = {
		{ "medallion-lineage", j->rec.hash },
		{ "medallion-layer", strncmp(j->path, "gold/", 5) == 0 ? "gold" : "silver" },
	};
	struct mfs_object o = { 0 };
	struct mfs_writer *w = NULL;
	uint64_t off = 0, size = mfs_cache_entry_size(e);
	char *buf = malloc(COPY_CHUNK);
	int err;

	err = buf ? mfs_writer_new(j->p->st, j->p->parts, key, meta, 2, &w) : -ENOMEM;
	while (!err && off < size) {
		ssize_t n = mfs_cache_read(j->cache, e, buf, COPY_CHUNK, off);

		if (n <= 0) {
			err = n < 0 ? (int)n : -EIO;
			mfs_set_error("reading the cached file: %s", strerror(-err));
			break;
		}
		n = mfs_writer_write(w, buf, (size_t)n, off);
		if (n < 0)
			err = (int)n;
		else
			off += (uint64_t)n;
	}
	if (!err)
		err = mfs_writer_commit(w, &o);
	if (!err)
		snprintf(etag, etaglen, "%s", o.etag);
	mfs_object_free(&o);
	mfs_writer_free(w);
	free(buf);
	return err;
}

static int put_text(struct job *j, enum part part, const struct mfs_buf *text)
{
	const struct mfs_store_meta meta[] = { { "medallion-lineage", j->rec.hash } };
	struct mfs_buf key = MFS_BUF_INIT;
	int err = part_key(j->path, part, &key);

	if (!err)
		err = j->p->st->ops->put(j->p->st, key.data, text->data, text->len, meta, 1, NULL);
	mfs_buf_free(&key);
	return err;
}

static void job_run(void *arg)
{
	struct job *j = arg;
	struct mfs_publish *p = j->p;
	struct mfs_buf key = MFS_BUF_INIT, text = MFS_BUF_INIT;
	int err;

	mfs_clear_error();
	err = part_key(j->path, P_FILE, &key);
	if (!err)
		err = upload_entry(j, j->table, key.data, j->rec.etag, sizeof(j->rec.etag));
	if (!err && j->rejects) {
		mfs_buf_reset(&key);
		err = part_key(j->path, P_REJECTS, &key);
		if (!err)
			err = upload_entry(j, j->rejects, key.data, j->rec.rejects_etag,
					   sizeof(j->rec.rejects_etag));
	}
	/* The sidecar last: it makes the result findable. */
	if (!err)
		err = sidecar_json(j->path, &j->rec, &text);
	if (!err)
		err = put_text(j, P_SIDECAR, &text);
	mfs_buf_reset(&text);
	if (!err && !schema_sql(j->root_url, j->path, &j->rec, &text))
		err = put_text(j, P_SCHEMA, &text);
	if (err == -ECANCELED) {
		mfs_info("publish %s: stopped by the unmount", j->path);
	} else if (err) {
		atomic_fetch_add(&p->failures, 1);
		mfs_warn("publish %s: %s", j->path,
			 mfs_last_error()[0] ? mfs_last_error() : strerror(-err));
	} else {
		atomic_fetch_add(&p->published, 1);
		mfs_debug("published %s (lineage %s)", j->path, j->rec.hash);
	}
	mfs_cache_entry_put(j->table);
	mfs_cache_entry_put(j->rejects);
	mfs_publish_record_free(&j->rec);
	mfs_buf_free(&key);
	mfs_buf_free(&text);
	free(j->path);
	free(j->root_url);
	free(j);
}

int mfs_publish_submit(struct mfs_publish *p, struct mfs_cache *cache, const char *path,
		       struct mfs_cache_entry *table, struct mfs_cache_entry *rejects,
		       const struct mfs_publish_record *rec)
{
	struct job *j = calloc(1, sizeof(*j));
	int err = -ENOMEM;

	if (!j)
		return err;
	j->p = p;
	j->cache = cache;
	j->rec = *rec;
	j->rec.schema = rec->schema ? strdup(rec->schema) : NULL;
	j->rec.lineage = rec->lineage ? strdup(rec->lineage) : NULL;
	j->path = strdup(path);
	j->root_url = strdup(p->root_url);
	if (!j->path || !j->root_url || (rec->schema && !j->rec.schema) ||
	    (rec->lineage && !j->rec.lineage))
		goto fail;
	j->table = mfs_cache_entry_get(table);
	j->rejects = mfs_cache_entry_get(rejects);
	err = mfs_pool_submit(p->jobs, job_run, j);
	if (!err)
		return 0;
	mfs_cache_entry_put(j->table);
	mfs_cache_entry_put(j->rejects);
fail:
	mfs_publish_record_free(&j->rec);
	free(j->path);
	free(j->root_url);
	free(j);
	return err;
}
