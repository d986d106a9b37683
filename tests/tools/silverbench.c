/*
 * silverbench.c - how fast silver (transforms/silver.c) cleans a file, with
 * no mount, cache or compression: the transform alone, for profiling.
 *
 *   mfs-silverbench [-n RUNS] FILE.csv
 *
 * The file is loaded into memory first; output and rejects are counted and
 * dropped. The best of RUNS (default 3) is reported in MB/s of input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../transforms/pipeline.h"
#include "../../transforms/silver.h"
#include "../../util/stream.h"

struct count_sink {
	struct mfs_sink sink;
	unsigned long long bytes;
};

static int count_write(struct mfs_sink *s, const void *buf, size_t len)
{
	(void)buf;
	((struct count_sink *)s)->bytes += len;
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int runs = 3, i, fd;
	struct stat sb;
	char *data;
	struct mfs_pipeline *p;
	double best = 0;

	if (argc > 3 && strcmp(argv[1], "-n") == 0) {
		runs = atoi(argv[2]);
		argv += 2;
		argc -= 2;
	}
	if (argc != 2 || runs < 1) {
		fprintf(stderr, "usage: mfs-silverbench [-n RUNS] FILE.csv\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		perror(argv[1]);
		return 1;
	}
	data = malloc((size_t)sb.st_size + 1);
	if (!data || read(fd, data, (size_t)sb.st_size) != sb.st_size) {
		perror(argv[1]);
		return 1;
	}
	close(fd);
	if (mfs_pipeline_defaults(&p)) {
		fprintf(stderr, "mfs-silverbench: no default pipeline\n");
		return 1;
	}
	for (i = 0; i < runs; i++) {
		struct count_sink out = { { count_write, 0 }, 0 }, rej = { { count_write, 0 }, 0 };
		struct mfs_silver_input in = { argv[1], MFS_IN_CSV, MFS_CODEC_NONE, NULL, NULL, 0 };
		struct mfs_silver_result res;
		struct mfs_source *src = mfs_source_mem(data, (size_t)sb.st_size);
		double t0 = now(), t;
		int rc;

		memset(&res, 0, sizeof(res));
		rc = mfs_silver_run(p, NULL, &in, src, &out.sink, &rej.sink, "/tmp", &res);
		t = now() - t0;
		mfs_source_close(src);
		if (rc) {
			fprintf(stderr, "mfs-silverbench: %s: %s\n", strerror(-rc), res.reason);
			return 1;
		}
		if (!best || t < best)
			best = t;
		printf("run %d: %.3f s, %.0f MB/s; rows in %llu out %llu rejected %llu duplicates %llu; "
		       "%llu bytes out\n", i + 1, t, (double)sb.st_size / t / 1e6,
		       (unsigned long long)res.rows_in, (unsigned long long)res.rows_out,
		       (unsigned long long)res.rows_rejected,
		       (unsigned long long)res.duplicates_removed, out.bytes);
		mfs_silver_result_free(&res);
	}
	printf("best: %.0f MB/s\n", (double)sb.st_size / best / 1e6);
	mfs_pipeline_free(p);
	free(data);
	return 0;
}
