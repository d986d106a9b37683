/*
 * csvbench.c - how fast the CSV reader (transforms/csv.c) parses a file.
 *
 *   mfs-csvbench [-n RUNS] [--decode] [--fd] FILE
 *
 * The dialect is sniffed on the first MiB, as silver does. By default the
 * file is loaded into memory first and the reader runs over a memory
 * source, so the time is the reader's alone; --decode puts the text
 * decoder (detection on the first MiB) under it, --fd reads the file
 * through read(2) each run instead of from memory. The best of RUNS
 * (default 3) is reported in MB/s (10^6 bytes of input per second).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "reader.h"
#include "stream.h"

#define SAMPLE (1024 * 1024)

struct totals {
	unsigned long long records, fields, bytes, rejects;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(struct mfs_source *src, const struct mfs_csv_dialect *d, struct totals *t)
{
	struct mfs_reader *r;
	const struct mfs_record *rec;
	int ret = mfs_csv_reader_new(src, d, &r);

	if (ret)
		return ret;
	memset(t, 0, sizeof(*t));
	while ((ret = mfs_reader_next(r, &rec)) == 1) {
		size_t i;

		t->records++;
		t->fields += rec->nfields;
		t->rejects += rec->error != NULL;
		/* touch every field, as a consumer would */
		for (i = 0; i < rec->nfields; i++)
			t->bytes += rec->fields[i].len + (rec->fields[i].len ? (unsigned char)rec->fields[i].data[0] : 0);
	}
	mfs_reader_free(r);
	return ret;
}

static void usage(void)
{
	fprintf(stderr, "usage: mfs-csvbench [-n RUNS] [--decode] [--fd] FILE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int i, runs = 3, decode = 0, use_fd = 0, fd = -1, ret;
	const char *path = NULL;
	char *data = NULL, *sample = NULL;
	size_t size, slen;
	struct stat st;
	struct mfs_csv_dialect d;
	enum mfs_encoding enc = MFS_ENC_UTF8;
	double best = 0;
	struct totals t;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--decode"))
			decode = 1;
		else if (!strcmp(argv[i], "--fd"))
			use_fd = 1;
		else if (argv[i][0] == '-' || path)
			usage();
		else
			path = argv[i];
	}
	if (!path || runs < 1)
		usage();
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st)) {
		perror(path);
		return 1;
	}
	size = (size_t)st.st_size;
	data = malloc(size ? size : 1);
	if (!data || (size_t)pread(fd, data, size, 0) != size) {
		fprintf(stderr, "%s: cannot load\n", path);
		return 1;
	}

	/* The sample, decoded when asked, and the dialect. */
	slen = size < SAMPLE ? size : SAMPLE;
	if (decode) {
		struct mfs_source *dec;
		ssize_t n;

		enc = mfs_encoding_detect(data, slen);
		sample = malloc(SAMPLE);
		if (!sample || mfs_decode_open(mfs_source_mem(data, size), enc, &dec))
			return 1;
		n = mfs_source_read_full(dec, sample, SAMPLE);
		mfs_source_close(dec);
		if (n < 0)
			return 1;
		slen = (size_t)n;
	}
	ret = mfs_dialect_sniff(decode ? sample : data, slen, slen < SAMPLE, &d);
	if (ret) {
		fprintf(stderr, "%s: %s\n", path, mfs_last_error());
		return 1;
	}

	for (i = 0; i < runs; i++) {
		struct mfs_source *src, *dec = NULL;
		double t0, dt;

		if (use_fd) {
			if (lseek(fd, 0, SEEK_SET) != 0)
				return 1;
			src = mfs_source_fd(fd, 0);
		} else {
			src = mfs_source_mem(data, size);
		}
		if (!src)
			return 1;
		if (decode) {
			if (mfs_decode_open(src, enc, &dec))
				return 1;
			src = dec;
		}
		t0 = now();
		ret = run(src, &d, &t);
		dt = now() - t0;
		mfs_source_close(src);
		if (ret) {
			fprintf(stderr, "%s: read failed: %s\n", path, strerror(-ret));
			return 1;
		}
		if (!best || dt < best)
			best = dt;
	}
	printf("%s: %zu bytes, dialect '%s' quote %s header %d; %llu records, %llu fields, "
	       "%llu malformed; best of %d: %.3f s, %.1f MB/s (%s%s)\n",
	       path, size, d.delimiter == '\t' ? "\\t" : (char[]){ d.delimiter, 0 },
	       d.quote ? "\"" : "none", d.header, t.records, t.fields, t.rejects, runs, best,
	       (double)size / best / 1e6, decode ? "decode+reader" : "reader",
	       use_fd ? ", read(2)" : ", memory");
	close(fd);
	free(data);
	free(sample);
	return 0;
}
