/*
 * warm.c - `medallionfs warm PATH...`: compute every silver and gold file
 * under the given paths of a mounted lake, in parallel, before anyone reads
 * them. A `stat` is what makes the daemon materialise a file, so this is a
 * client of the mount like any other: it walks the paths, stats every file
 * from a few threads, and reports progress (a bar on a terminal, one line per
 * file otherwise). The exit status is 1 if any file failed, with its reason
 * from MOUNT/.medallion/errors.
 *
 * DESIGN: one mutex guards the work list cursor and the counters; worker
 * threads take the next path, stat it without the lock, and publish.
 */
#include "warm.h"

#include <errno.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WARM_THREADS 8

struct warm {
	char **paths;
	size_t n, cap;
	pthread_mutex_t lock;
	size_t next;          /* protected by lock */
	size_t done, failed;  /* protected by lock */
	unsigned long long bytes; /* protected by lock */
	char **errors;        /* protected by lock: "path: reason" */
	int tty;
	double start;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int add_path(struct warm *w, const char *path)
{
	if (w->n == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 256;
		char **np = realloc(w->paths, nc * sizeof(*np));

		if (!np)
			return -ENOMEM;
		w->paths = np;
		w->cap = nc;
	}
	w->paths[w->n] = strdup(path);
	if (!w->paths[w->n])
		return -ENOMEM;
	w->n++;
	return 0;
}

/*
 * Every file under @path, by readdir's d_type alone: a stat here would
 * compute each file one at a time (and stop at the first that fails).
 */
static int collect(struct warm *w, const char *path, int depth)
{
	struct dirent *de;
	DIR *d;
	int err = 0;

	if (depth > 64)
		return 0;
	d = opendir(path);
	if (!d)
		return errno == ENOTDIR ? add_path(w, path) : -errno;
	while (!err && (de = readdir(d))) {
		char *child = NULL;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (asprintf(&child, "%s/%s", path, de->d_name) < 0) {
			err = -ENOMEM;
			break;
		}
		if (de->d_type == DT_DIR)
			err = collect(w, child, depth + 1);
		else if (de->d_type == DT_REG || de->d_type == DT_UNKNOWN)
			err = add_path(w, child);
		free(child);
	}
	closedir(d);
	return err;
}

/* The mount root above @path: the first directory holding .medallion/errors. */
static int mount_root(const char *path, char *root, size_t len)
{
	char buf[PATH_MAX], probe[PATH_MAX + 32], *dir = strdup(path), *slash;

	/* From the directory: the file itself may be the one that fails to stat. */
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	if (!realpath(dir, buf)) {
		free(dir);
		return -errno;
	}
	free(dir);
	for (;;) {
		char *slash;

		snprintf(probe, sizeof(probe), "%s/.medallion/errors", buf);
		if (access(probe, R_OK) == 0) {
			snprintf(root, len, "%s", buf);
			return 0;
		}
		slash = strrchr(buf, '/');
		if (!slash || slash == buf)
			return -ENOENT;
		*slash = '\0';
	}
}

/* The last line of MOUNT/.medallion/errors that names @path's layer path. */
static void reason_for(const char *root, const char *path, char *out, size_t len)
{
	char errs[PATH_MAX + 32], line[4096];
	const char *rel = strstr(path, "/silver/");
	FILE *f;

	snprintf(out, len, "%s", strerror(EIO));
	if (!rel)
		rel = strstr(path, "/gold/");
	if (!rel)
		return;
	rel++;
	snprintf(errs, sizeof(errs), "%s/.medallion/errors", root);
	f = fopen(errs, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *hit = strstr(line, rel);

		if (hit && hit[strlen(rel)] == ':') {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, len, "%s", hit + strlen(rel) + 2);
		}
	}
	fclose(f);
}

static void progress(struct warm *w, int final)
{
	double el = now() - w->start;
	double rate = el > 0 ? (double)w->done / el : 0;
	double eta = rate > 0 ? (double)(w->n - w->done) / rate : 0;
	int width = 30, fill = w->n ? (int)((double)w->done * width / (double)w->n) : width;

	fprintf(stderr, "\r[%.*s%*s] %zu/%zu files, %.1f MiB, %zu failed, ETA %.0fs%s",
		fill, "##############################", width - fill, "", w->done, w->n,
		(double)w->bytes / 1048576.0, w->failed, eta, final ? "\n" : "   ");
}

static void *worker(void *arg)
{
	struct warm *w = arg;
	char root[PATH_MAX];

	for (;;) {
		struct stat st;
		size_t i;
		int ok;

		pthread_mutex_lock(&w->lock);
		i = w->next++;
		pthread_mutex_unlock(&w->lock);
		if (i >= w->n)
			return NULL;
		ok = stat(w->paths[i], &st) == 0;
		pthread_mutex_lock(&w->lock);
		w->done++;
		if (ok) {
			w->bytes += (unsigned long long)st.st_size;
			if (!w->tty)
				printf("ok %s %lld\n", w->paths[i], (long long)st.st_size);
		} else {
			char reason[1024], *line = NULL;
			int e = errno;

			if (e == EIO && mount_root(w->paths[i], root, sizeof(root)) == 0)
				reason_for(root, w->paths[i], reason, sizeof(reason));
			else
				snprintf(reason, sizeof(reason), "%s", strerror(e));
			if (asprintf(&line, "%s: %s", w->paths[i], reason) >= 0)
				w->errors[w->failed] = line;
			w->failed++;
			if (!w->tty)
				printf("failed %s: %s\n", w->paths[i], reason);
		}
		if (w->tty)
			progress(w, 0);
		fflush(stdout);
		pthread_mutex_unlock(&w->lock);
	}
}

int mfs_warm_main(int argc, char **argv)
{
	struct warm w;
	pthread_t th[WARM_THREADS];
	int i, nth = 0, rc = 0;
	size_t k;

	if (argc < 3) {
		fprintf(stderr, "usage: medallionfs warm PATH... (silver/gold paths of a mounted lake)\n");
		return 2;
	}
	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.lock, NULL);
	w.tty = isatty(2);
	for (i = 2; i < argc; i++) {
		int err = collect(&w, argv[i], 0);

		if (err) {
			fprintf(stderr, "medallionfs warm: %s: %s\n", argv[i], strerror(-err));
			rc = 1;
		}
	}
	w.errors = calloc(w.n + 1, sizeof(*w.errors));
	if (!w.errors) {
		fprintf(stderr, "medallionfs warm: out of memory\n");
		return 1;
	}
	w.start = now();
	for (i = 0; i < WARM_THREADS; i++)
		if (pthread_create(&th[i], NULL, worker, &w) == 0)
			nth++;
	if (!nth)
		worker(&w);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if (w.tty)
		progress(&w, 1);
	printf("warmed %zu files, %.1f MiB, %zu failed in %.1fs\n", w.done - w.failed,
	       (double)w.bytes / 1048576.0, w.failed, now() - w.start);
	for (k = 0; k < w.failed; k++)
		if (w.errors[k])
			fprintf(stderr, "medallionfs warm: %s\n", w.errors[k]);
	if (w.failed)
		rc = 1;
	for (k = 0; k < w.n; k++)
		free(w.paths[k]);
	for (k = 0; k < w.failed; k++)
		free(w.errors[k]);
	free(w.paths);
	free(w.errors);
	pthread_mutex_destroy(&w.lock);
	return rc;
}
