/*
 * storecli.c - a command-line client of the store vtable, so the pytest
 * suite can test the S3 client (and the local store) without a mount.
 *
 *   mfs-storecli [OPTIONS] SOURCE CMD [ARGS]
 *   SOURCE  s3://BUCKET[/PREFIX] or a directory
 *   CMD     check | list PREFIX | head KEY | get KEY [OFF LEN [ETAG]]
 *           | pget KEY THREADS   (the whole object read by THREADS threads
 *                                  in 1 MiB ranges, written to stdout in order)
 *
 * list prints "F key size mtime_ns etag" and "D prefix" lines ("-" for an
 * empty ETag); head prints one F line. Exit status 0, or 1 with the reason on
 * stderr as "mfs-storecli: REASON [ERRNO-NAME]".
 *
 * --abort-after SECONDS calls the store's abort() from another thread after
 * that long, to measure how fast transfers in flight stop.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../util/err.h"
#include "../../util/log.h"
#include "store.h"

#define PGET_CHUNK (1u << 20)

static void usage(void)
{
	fprintf(stderr,
		"usage: mfs-storecli [--endpoint URL] [--path-style|--virtual-host] [--anonymous]\n"
		"                    [--region R] [--profile P] [--connect-timeout S]\n"
		"                    [--request-timeout S] [--retries N] [--abort-after S] [-d]\n"
		"                    SOURCE check|list PREFIX|head KEY|get KEY [OFF LEN [ETAG]]"
		"|pget KEY THREADS\n");
}

static int fail(int r, const char *what)
{
	const char *why = mfs_last_error();
	const char *name = strerrorname_np(-r);

	fprintf(stderr, "mfs-storecli: %s [%s]\n", why[0] ? why : what, name ? name : "?");
	return 1;
}

static void print_object(const struct mfs_object *o)
{
	printf("F %s %" PRIu64 " %" PRIu64 " %s\n", o->key, o->size,
	       (uint64_t)o->mtime.tv_sec * 1000000000u + (uint64_t)o->mtime.tv_nsec,
	       o->etag[0] ? o->etag : "-");
}

static int stdout_sink(void *arg, const void *data, size_t len)
{
	(void)arg;
	return fwrite(data, 1, len, stdout) == len ? 0 : -EIO;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end || *s == '-' ? -EINVAL : 0;
}

struct aborter {
	struct mfs_store *st;
	double after;
};

static void *abort_thread(void *arg)
{
	struct aborter *a = arg;
	struct timespec ts;

	ts.tv_sec = (time_t)a->after;
	ts.tv_nsec = (long)((a->after - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
	mfs_store_abort(a->st);
	return NULL;
}

/* ---- pget: many threads on one object, assembled in order ---- */

struct pget {
	struct mfs_store *st;
	const char *key;
	const char *etag;
	char *buf;
	uint64_t size;
	uint64_t n_chunks;
	uint64_t next; /* protected by lock */
	int err;       /* protected by lock */
	char why[512]; /* protected by lock */
	pthread_mutex_t lock;
};

static void *pget_worker(void *arg)
{
	struct pget *p = arg;

	for (;;) {
		uint64_t c, off;
		size_t len, got;
		int r;

		pthread_mutex_lock(&p->lock);
		c = p->err ? p->n_chunks : p->next++;
		pthread_mutex_unlock(&p->lock);
		if (c >= p->n_chunks)
			break;
		off = c * PGET_CHUNK;
		len = p->size - off < PGET_CHUNK ? (size_t)(p->size - off) : PGET_CHUNK;
		r = mfs_store_get_range(p->st, p->key, p->etag, off, len, p->buf + off, &got);
		if (!r && got != len)
			r = -EIO;
		if (r) {
			pthread_mutex_lock(&p->lock);
			if (!p->err) {
				p->err = r;
				snprintf(p->why, sizeof(p->why), "%s", mfs_last_error());
			}
			pthread_mutex_unlock(&p->lock);
		}
	}
	return NULL;
}

static int cmd_pget(struct mfs_store *st, const char *key, int threads)
{
	struct mfs_object o = { 0 };
	struct pget p;
	pthread_t tid[64];
	int i, started = 0, r;

	memset(&p, 0, sizeof(p));
	r = mfs_store_head(st, key, &o);
	if (r)
		return fail(r, "head");
	p.st = st;
	p.key = key;
	p.etag = o.etag;
	p.size = o.size;
	p.n_chunks = (o.size + PGET_CHUNK - 1) / PGET_CHUNK;
	p.buf = malloc(o.size ? o.size : 1);
	if (!p.buf || pthread_mutex_init(&p.lock, NULL)) {
		free(p.buf);
		mfs_object_free(&o);
		return fail(-ENOMEM, "out of memory");
	}
	if (threads > 64)
		threads = 64;
	for (i = 0; i < threads; i++)
		if (pthread_create(&tid[started], NULL, pget_worker, &p) == 0)
			started++;
	for (i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	if (!started)
		p.err = -EAGAIN;
	if (p.err) {
		mfs_set_error("%s", p.why);
		r = fail(p.err, "pget");
	} else {
		r = fwrite(p.buf, 1, o.size, stdout) == o.size ? 0 : fail(-EIO, "stdout");
	}
	pthread_mutex_destroy(&p.lock);
	free(p.buf);
	mfs_object_free(&o);
	return r;
}

static int run(struct mfs_store *st, int argc, char **argv)
{
	const char *cmd = argv[0];
	char msg[1024];
	int r;

	if (strcmp(cmd, "check") == 0 && argc == 1) {
		r = mfs_store_check(st, msg, sizeof(msg));
		if (r) {
			fprintf(stderr, "mfs-storecli: %s [%s]\n", msg, strerrorname_np(-r));
			return 1;
		}
		printf("ok\n");
		return 0;
	}
	if (strcmp(cmd, "list") == 0 && argc <= 2) {
		struct mfs_listing l;
		size_t i;

		r = mfs_store_list(st, argc == 2 ? argv[1] : "", &l);
		if (r)
			return fail(r, "list");
		for (i = 0; i < l.n_objects; i++)
			print_object(&l.objects[i]);
		for (i = 0; i < l.n_prefixes; i++)
			printf("D %s\n", l.prefixes[i]);
		mfs_listing_free(&l);
		return 0;
	}
	if (strcmp(cmd, "head") == 0 && argc == 2) {
		struct mfs_object o;

		r = mfs_store_head(st, argv[1], &o);
		if (r)
			return fail(r, "head");
		print_object(&o);
		if (o.storage_class[0])
			printf("S %s\n", o.storage_class);
		mfs_object_free(&o);
		return 0;
	}
	if (strcmp(cmd, "get") == 0 && (argc == 2 || argc == 4 || argc == 5)) {
		uint64_t off = 0, len = UINT64_MAX;

		if (argc >= 4 && (parse_u64(argv[2], &off) || parse_u64(argv[3], &len))) {
			usage();
			return 2;
		}
		r = st->ops->get(st, argv[1], argc == 5 ? argv[4] : NULL, off, len, stdout_sink,
				 NULL);
		if (fflush(stdout) && !r)
			r = -EIO;
		if (r)
			return fail(r, "get");
		return 0;
	}
	if (strcmp(cmd, "pget") == 0 && argc == 3)
		return cmd_pget(st, argv[1], atoi(argv[2]) > 0 ? atoi(argv[2]) : 1);
	usage();
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "path-style", no_argument, NULL, 'P' },
		{ "virtual-host", no_argument, NULL, 'V' },
		{ "anonymous", no_argument, NULL, 'A' },
		{ "region", required_argument, NULL, 'r' },
		{ "profile", required_argument, NULL, 'p' },
		{ "connect-timeout", required_argument, NULL, 'c' },
		{ "request-timeout", required_argument, NULL, 't' },
		{ "retries", required_argument, NULL, 'n' },
		{ "abort-after", required_argument, NULL, 'a' },
		{ "debug", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct mfs_s3_config cfg = { 0 };
	struct mfs_store *st = NULL;
	struct aborter ab = { NULL, -1 };
	pthread_t abort_tid;
	int c, r, have_aborter = 0;
	char msg[1024], *bucket = NULL, *prefix = NULL;
	const char *source;

	cfg.path_style = -1;
	cfg.retries = -1;
	while ((c = getopt_long(argc, argv, "d", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			cfg.endpoint = optarg;
			break;
		case 'P':
			cfg.path_style = 1;
			break;
		case 'V':
			cfg.path_style = 0;
			break;
		case 'A':
			cfg.anonymous = 1;
			break;
		case 'r':
			cfg.region = optarg;
			break;
		case 'p':
			cfg.profile = optarg;
			break;
		case 'c':
			cfg.connect_timeout = atof(optarg);
			break;
		case 't':
			cfg.request_timeout = atof(optarg);
			break;
		case 'n':
			cfg.retries = atoi(optarg);
			break;
		case 'a':
			ab.after = atof(optarg);
			break;
		case 'd':
			mfs_log_set_level(MFS_LOG_DEBUG);
			break;
		default:
			usage();
			return 2;
		}
	}
	if (argc - optind < 2) {
		usage();
		return 2;
	}
	source = argv[optind];
	if (strncmp(source, "s3://", 5) == 0) {
		const char *b = source + 5, *slash = strchr(b, '/');

		bucket = slash ? strndup(b, (size_t)(slash - b)) : strdup(b);
		if (slash && slash[1]) {
			size_t n = strlen(slash + 1);

			prefix = malloc(n + 2);
			if (prefix) {
				memcpy(prefix, slash + 1, n + 1);
				if (prefix[n - 1] != '/')
					strcpy(prefix + n, "/");
			}
		} else {
			prefix = strdup("");
		}
		if (!bucket || !prefix) {
			fprintf(stderr, "mfs-storecli: out of memory\n");
			r = 1;
			goto out;
		}
		cfg.bucket = bucket;
		cfg.prefix = prefix;
		r = mfs_s3_store_open(&cfg, &st, msg, sizeof(msg));
	} else {
		char real[PATH_MAX];

		if (!realpath(source, real)) {
			fprintf(stderr, "mfs-storecli: %s: %s\n", source, strerror(errno));
			r = 1;
			goto out;
		}
		r = mfs_local_store_open(real, &st, msg, sizeof(msg));
	}
	if (r) {
		fprintf(stderr, "mfs-storecli: %s [%s]\n", msg, strerrorname_np(-r));
		r = 1;
		goto out;
	}
	if (ab.after >= 0) {
		ab.st = st;
		have_aborter = pthread_create(&abort_tid, NULL, abort_thread, &ab) == 0;
	}
	r = run(st, argc - optind - 1, argv + optind + 1);
	if (have_aborter)
		pthread_join(abort_tid, NULL);
out:
	mfs_store_destroy(st);
	free(bucket);
	free(prefix);
	return r;
}
