/*
 * test_publish.c - the publish layout, sidecar and lookup against a local
 * store: a result is found only under its own lineage hash, read only at the
 * ETags its sidecar names.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../fs/publish.h"
#include "../../util/buf.h"
#include "unit.h"

static int buf_sink(void *arg, const void *data, size_t len)
{
	return mfs_buf_append(arg, data, len);
}

static void put(struct mfs_store *st, const char *key, const char *text, char *etag, size_t len)
{
	struct mfs_object o = { 0 };

	CHECK(st->ops->put(st, key, text, strlen(text), NULL, 0, &o) == 0);
	if (etag)
		snprintf(etag, len, "%s", o.etag);
	mfs_object_free(&o);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	struct mfs_publish_record rec;
	struct mfs_store *st = NULL;
	struct mfs_publish *p = NULL;
	struct mfs_buf b = MFS_BUF_INIT, side = MFS_BUF_INIT;
	char root[256], msg[256], hash[33], other[33], etag[80], retag[80], cmd[300];

	snprintf(root, sizeof(root), "%s/mfs-publish-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root))
		return 1;
	CHECK(mfs_local_store_open(root, &st, msg, sizeof(msg)) == 0);
	CHECK(mfs_publish_new(st, "s3://lake/", NULL, NULL, &p) == 0);

	mfs_publish_silver_hash("sales/a.csv", "e1", "fp", hash);
	mfs_publish_silver_hash("sales/a.csv", "e2", "fp", other);
	CHECK(strlen(hash) == 32 && strcmp(hash, other) != 0);

	/* Nothing published yet. */
	CHECK(mfs_publish_lookup(p, "silver/sales/a.csv", hash, &rec) == -ENOENT);

	put(st, "silver/sales/a.csv", "x,y\n1,2\n", etag, sizeof(etag));
	put(st, "silver/sales/_a.csv.rejects.csv", "line,reason,raw\n", retag, sizeof(retag));
	CHECK(mfs_buf_appendf(&side,
			      "{\n  \"medallionfs\": 1,\n  \"path\": \"silver/sales/a.csv\",\n"
			      "  \"lineage_hash\": \"%s\",\n  \"etag\": \"%s\",\n"
			      "  \"rejects_etag\": \"%s\",\n  \"size\": 8,\n  \"rows_in\": 1,\n"
			      "  \"rows_out\": 1,\n  \"rejected\": 0,\n  \"duplicates\": 0,\n"
			      "  \"warnings\": 0,\n  \"rows\": 0,\n  \"sources\": 0,\n"
			      "  \"mtime\": 1700000000,\n  \"fingerprint\": \"fp\",\n"
			      "  \"schema\": [{\"name\":\"x\",\"type\":\"integer\"}],\n"
			      "  \"lineage\": {\"key\": \"sales/a.csv\", \"etag\": \"e1\"}\n}\n",
			      hash, etag, retag) == 0);
	put(st, "silver/sales/_a.csv.lineage.json", side.data, NULL, 0);

	/* Another lineage (the object changed): not served. */
	CHECK(mfs_publish_lookup(p, "silver/sales/a.csv", other, &rec) == -ENOENT);
	CHECK(mfs_publish_lookup(p, "silver/sales/a.csv", hash, &rec) == 0);
	CHECK(rec.size == 8 && rec.rows_in == 1 && rec.mtime.tv_sec == 1700000000);
	CHECK(strcmp(rec.etag, etag) == 0 && strcmp(rec.rejects_etag, retag) == 0);
	CHECK(rec.schema && strcmp(rec.schema, "[{\"name\":\"x\",\"type\":\"integer\"}]") == 0);
	CHECK(rec.lineage && strstr(rec.lineage, "\"e1\""));
	CHECK(mfs_publish_read(p, "silver/sales/a.csv", 0, &rec, buf_sink, &b) == 0);
	CHECK(b.len == 8 && memcmp(b.data, "x,y\n1,2\n", 8) == 0);
	mfs_buf_reset(&b);
	CHECK(mfs_publish_read(p, "silver/sales/a.csv", 1, &rec, buf_sink, &b) == 0);
	CHECK(b.len == 16);
	/* Replaced since the sidecar was written: never served. */
	usleep(20000);
	put(st, "silver/sales/a.csv", "x,y\n9,9\n", NULL, 0);
	mfs_buf_reset(&b);
	CHECK(mfs_publish_read(p, "silver/sales/a.csv", 0, &rec, buf_sink, &b) == -ESTALE);
	mfs_publish_record_free(&rec);

	/* A sidecar in memory (the gold cache keeps it as metadata). */
	CHECK(mfs_publish_parse(side.data, hash, &rec) == 0 && rec.sidecar &&
	      strcmp(rec.sidecar, side.data) == 0);
	mfs_publish_record_free(&rec);
	CHECK(mfs_publish_parse("{\"lineage_hash\": 1}", hash, &rec) == -ENOENT);
	CHECK(mfs_publish_parse("not json", hash, &rec) == -ENOENT);

	/* Gold views get a directory each. */
	put(st, "gold/rev/_rev.csv.lineage.json", side.data, NULL, 0);
	CHECK(mfs_publish_lookup(p, "gold/rev.csv", hash, &rec) == 0);
	mfs_publish_record_free(&rec);

	mfs_buf_free(&b);
	mfs_buf_free(&side);
	mfs_publish_free(p);
	mfs_store_destroy(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
	return unit_done("publish");
}
