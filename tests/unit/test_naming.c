/*
 * test_naming.c - silver names (SPEC §4) and Hive-style path columns.
 */
#include <stdlib.h>
#include <string.h>

#include "../../fs/naming.h"
#include "unit.h"

static int classify(const char *name, struct mfs_tabular *t)
{
	return mfs_naming_classify(NULL, name, name, t);
}

static void check_assign(const char *const *names, size_t n, const char *const *want)
{
	struct mfs_naming_in in[16];
	char *out[16];
	size_t i;

	for (i = 0; i < n; i++) {
		in[i].name = names[i];
		CHECK_MSG(classify(names[i], &in[i].tab), "%s is tabular", names[i]);
	}
	CHECK(mfs_naming_assign(in, n, ".csv", out) == 0);
	for (i = 0; i < n; i++) {
		if (!want[i])
			CHECK_MSG(out[i] == NULL, "%s: got %s, want none", names[i], out[i]);
		else
			CHECK_MSG(out[i] && strcmp(out[i], want[i]) == 0, "%s: got %s, want %s",
				  names[i], out[i] ? out[i] : "(none)", want[i]);
		free(out[i]);
	}
}

int main(void)
{
	struct mfs_tabular t;
	char **hn, **hv;
	size_t nh;

	CHECK(classify("jan.csv", &t) && t.format == MFS_IN_CSV && t.codec == MFS_CODEC_NONE &&
	      t.stem_len == 3);
	CHECK(classify("jan.csv.gz", &t) && t.format == MFS_IN_CSV && t.codec == MFS_CODEC_GZIP);
	CHECK(classify("x.TSV.zst", &t) && t.format == MFS_IN_TSV && t.codec == MFS_CODEC_ZSTD);
	CHECK(classify("e.ndjson", &t) && t.format == MFS_IN_JSONL && t.stem_len == 1);
	CHECK(classify("e.jsonl", &t) && t.format == MFS_IN_JSONL);
	CHECK(classify("d.json", &t) && t.format == MFS_IN_JSON);
	CHECK(classify("p.psv", &t) && t.format == MFS_IN_PSV);
	CHECK(!classify("notes.txt", &t));
	CHECK(!classify("archive.gz", &t));
	CHECK(!classify(".csv", &t)); /* no stem: nothing to name it */
	CHECK(!classify("image.png", &t));

	{
		const char *names[] = { "a.json", "a.csv.gz", "a.tsv", "a.csv", "b.jsonl" };
		const char *want[] = { "a.json.csv", "a.csv.gz.csv", "a.tsv.csv", "a.csv",
				       "b.csv" };

		check_assign(names, 5, want);
	}
	{
		const char *names[] = { "a.csv.zst", "a.csv.gz" };
		const char *want[] = { "a.csv.zst.csv", "a.csv" };

		check_assign(names, 2, want);
	}
	{
		/* an object literally named like another's silver name loses it */
		const char *names[] = { "a.tsv", "a.tsv.csv", "a.csv" };
		const char *want[] = { "a.tsv.csv", NULL, "a.csv" };

		check_assign(names, 3, want);
	}

	CHECK(mfs_naming_hive("events/region=eu/day=2024-01-01/e.jsonl", &hn, &hv, &nh) == 0);
	CHECK(nh == 2 && strcmp(hn[0], "region") == 0 && strcmp(hv[0], "eu") == 0 &&
	      strcmp(hn[1], "day") == 0 && strcmp(hv[1], "2024-01-01") == 0);
	mfs_naming_hive_free(hn, hv, nh);
	CHECK(mfs_naming_hive("a=b.csv", &hn, &hv, &nh) == 0 && nh == 0); /* not a directory */
	mfs_naming_hive_free(hn, hv, nh);
	CHECK(mfs_naming_hive("x/=v/y.csv", &hn, &hv, &nh) == 0 && nh == 0); /* no name */
	mfs_naming_hive_free(hn, hv, nh);
	return unit_done("naming");
}
