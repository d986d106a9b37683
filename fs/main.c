/*
 * main.c - medallionfs entry: parse options, open and check the store,
 * mount, detach, run the FUSE loop, and shut down within a bounded time.
 *
 * Every check runs before the process detaches, so the exit status of the
 * command the user typed tells the truth (SPEC §2). Paths are resolved with
 * realpath first because the daemon changes directory to /.
 *
 * DESIGN: SIGINT/SIGTERM/SIGHUP reach only the thread that runs the FUSE
 * loop (libfuse's and our pool's threads block them). The handler ends the
 * session and wakes a watcher thread through a pipe; the watcher aborts
 * transfers in flight so worker threads return promptly and the loop's
 * joins finish.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cache/cache.h"
#include "../transforms/pipeline.h"
#include "../util/log.h"
#include "goldview.h"
#include "ll.h"
#include "options.h"
#include "warm.h"

static struct fuse_session *the_session;
static int signal_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	char c = (char)sig;
	int saved = errno;

	if (the_session)
		fuse_session_exit(the_session);
	if (write(signal_pipe[1], &c, 1) < 0) {
		/* Nothing more can be done in a signal handler. */
	}
	errno = saved;
}

static void *watcher(void *arg)
{
	struct mfs_store *st = arg;
	char c;
	ssize_t n;

	do
		n = read(signal_pipe[0], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1) {
		mfs_info("signal %d: unmounting", c);
		mfs_store_abort(st);
	}
	return NULL;
}

static int install_signals(void)
{
	struct sigaction sa;
	int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL))
		return -errno;
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the loop's sem_wait must see EINTR. */
	for (i = 0; i < sizeof(sigs) / sizeof(*sigs); i++)
		if (sigaction(sigs[i], &sa, NULL))
			return -errno;
	return 0;
}

/* s3://BUCKET[/PREFIX] → bucket and a prefix that is "" or ends in '/'. */
static int split_s3_source(const char *src, char **bucket, char **prefix)
{
	const char *b = src + 5, *slash = strchr(b, '/');
	size_t blen = slash ? (size_t)(slash - b) : strlen(b);
	const char *p = slash ? slash + 1 : "";
	size_t plen;

	if (blen == 0)
		return -EINVAL;
	while (*p == '/')
		p++;
	plen = strlen(p);
	while (plen && p[plen - 1] == '/')
		plen--;
	*bucket = strndup(b, blen);
	*prefix = malloc(plen + 2);
	if (!*bucket || !*prefix)
		return -ENOMEM;
	memcpy(*prefix, p, plen);
	if (plen)
		(*prefix)[plen++] = '/';
	(*prefix)[plen] = '\0';
	return 0;
}

/* An S3 store for s3://@bucket/@prefix with the mount's endpoint, credentials, timeouts. */
static int open_s3(const struct mfs_options *o, const char *bucket, const char *prefix,
		   struct mfs_store **st, char *msg, size_t mlen)
{
	struct mfs_s3_config c;

	memset(&c, 0, sizeof(c));
	c.bucket = bucket;
	c.prefix = prefix;
	c.endpoint = o->endpoint;
	c.region = o->region;
	c.profile = o->profile;
	c.path_style = o->path_style;
	c.anonymous = o->anonymous;
	c.connect_timeout = o->connect_timeout;
	c.request_timeout = o->request_timeout;
	c.retries = o->retries;
	return mfs_s3_store_open(&c, st, msg, mlen);
}

static int open_store(const struct mfs_options *o, struct mfs_store **st, char *msg, size_t mlen)
{
	char *bucket = NULL, *prefix = NULL, *root = NULL;
	int err;

	if (strncmp(o->source, "s3://", 5) == 0) {
		err = split_s3_source(o->source, &bucket, &prefix);
		if (err) {
			snprintf(msg, mlen, "%s: expected s3://BUCKET[/PREFIX]", o->source);
			goto out;
		}
		err = open_s3(o, bucket, prefix, st, msg, mlen);
		goto out;
	}
	if (strstr(o->source, "://")) {
		snprintf(msg, mlen, "%s: unsupported source (expected s3://BUCKET[/PREFIX] or a "
				    "directory)", o->source);
		err = -EINVAL;
		goto out;
	}
	root = realpath(o->source, NULL);
	if (!root) {
		err = -errno;
		snprintf(msg, mlen, "source directory %s: %s", o->source, strerror(errno));
		goto out;
	}
	err = mfs_local_store_open(root, st, msg, mlen);
out:
	free(bucket);
	free(prefix);
	free(root);
	return err;
}

/*
 * -o publish: the store of the publish root, its URL (for _schema.sql) and,
 * when the root lies inside SOURCE, its place there (hidden from bronze).
 * Default root: the parent of the SOURCE prefix (s3://lake/raw ->
 * s3://lake/), or of a local SOURCE directory.
 */
static int open_publish(const struct mfs_options *o, struct mfs_store **st, char **url,
			char **hidden, char *msg, size_t mlen)
{
	char *sbucket = NULL, *sprefix = NULL, *bucket = NULL, *prefix = NULL, *dir = NULL;
	int err, s3_source = strncmp(o->source, "s3://", 5) == 0;
	size_t n;

	*st = NULL;
	*url = *hidden = NULL;
	err = s3_source ? split_s3_source(o->source, &sbucket, &sprefix) : 0;
	if (!err && o->publish_url) {
		err = split_s3_source(o->publish_url, &bucket, &prefix);
	} else if (!err && s3_source) {
		/* "raw/" -> "", "a/b/" -> "a/", "" -> "" (then inside SOURCE) */
		bucket = strdup(sbucket);
		n = strlen(sprefix);
		while (n && sprefix[n - 1] == '/')
			n--;
		while (n && sprefix[n - 1] != '/')
			n--;
		prefix = strndup(sprefix, n);
	} else if (!err) {
		dir = realpath(o->source, NULL);
		if (dir && strcmp(dir, "/") != 0)
			*strrchr(dir, '/') = '\0';
		if (dir && !dir[0])
			strcpy(dir, "/");
	}
	if (err || (!bucket && !dir) || (bucket && !prefix)) {
		snprintf(msg, mlen, "-o publish: %s", err == -EINVAL ? "expected s3://BUCKET[/PREFIX]"
								      : strerror(err ? -err : ENOMEM));
		err = err ? err : -ENOMEM;
		goto out;
	}
	if (bucket) {
		err = open_s3(o, bucket, prefix, st, msg, mlen);
		if (!err && asprintf(url, "s3://%s/%s", bucket, prefix) < 0)
			err = -ENOMEM;
		if (!err && s3_source && strcmp(bucket, sbucket) == 0 &&
		    strncmp(prefix, sprefix, strlen(sprefix)) == 0)
			*hidden = strdup(prefix + strlen(sprefix));
	} else {
		err = mfs_local_store_open(dir, st, msg, mlen);
		if (!err && asprintf(url, "%s%s", dir, strcmp(dir, "/") ? "/" : "") < 0)
			err = -ENOMEM;
	}
	if (!err)
		err = mfs_store_check(*st, msg, mlen);
	if (err && !msg[0])
		snprintf(msg, mlen, "-o publish: %s", strerror(-err));
out:
	if (err) {
		mfs_store_destroy(*st);
		*st = NULL;
		free(*url);
		free(*hidden);
		*url = *hidden = NULL;
	}
	free(sbucket);
	free(sprefix);
	free(bucket);
	free(prefix);
	free(dir);
	return err;
}

/*
 * The pipeline: -o pipeline=FILE, else _medallion.ini at the SOURCE root,
 * else the defaults. A malformed file stops the mount: "FILE:LINE: message".
 */
static int load_pipeline(const struct mfs_options *o, struct mfs_store *st,
			 struct mfs_pipeline **out, char *msg, size_t mlen)
{
	struct mfs_object obj = { 0 };
	char *text = NULL, *where = NULL;
	size_t got = 0;
	int err;

	if (o->pipeline)
		return mfs_pipeline_load(o->pipeline, out, msg, mlen);
	err = mfs_store_head(st, "_medallion.ini", &obj);
	if (err == -ENOENT)
		return mfs_pipeline_defaults(out);
	if (err) {
		snprintf(msg, mlen, "_medallion.ini at the source root: %s", strerror(-err));
		return err;
	}
	err = -ENOMEM;
	if (obj.size > (16u << 20)) {
		snprintf(msg, mlen, "_medallion.ini at the source root: larger than 16 MiB");
		err = -EFBIG;
		goto out;
	}
	text = malloc(obj.size + 1);
	if (!text || asprintf(&where, "%s%s_medallion.ini", o->source,
			      o->source[strlen(o->source) - 1] == '/' ? "" : "/") < 0)
		goto out;
	err = mfs_store_get_range(st, "_medallion.ini", obj.etag, 0, obj.size, text, &got);
	if (err) {
		snprintf(msg, mlen, "%s: %s", where, strerror(-err));
		goto out;
	}
	err = mfs_pipeline_parse(text, got, where, out, msg, mlen);
out:
	mfs_object_free(&obj);
	free(text);
	free(where);
	return err;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char *p = strdup(path), *s;
	int err = 0;

	if (!p)
		return -ENOMEM;
	for (s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, mode) && errno != EEXIST) {
				err = -errno;
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return err;
}

static int open_cache(const struct mfs_options *o, struct mfs_cache **cache, char **tmpdir,
		      char *msg, size_t mlen)
{
	struct mfs_cache_config cc;
	char *dir = mfs_options_cache_dir(o);
	int err;

	if (!dir)
		return -ENOMEM;
	memset(&cc, 0, sizeof(cc));
	cc.dir = dir;
	cc.max_bytes = o->cache_size;
	err = mkdir_p(dir, 0700);
	if (err) {
		snprintf(msg, mlen, "cache directory %s: %s", dir, strerror(-err));
		goto out;
	}
	err = mfs_cache_open(&cc, cache, msg, mlen);
	if (err)
		goto out;
	err = -ENOMEM;
	if (asprintf(tmpdir, "%s/tmp", dir) < 0) {
		*tmpdir = NULL;
		goto out;
	}
	err = mkdir_p(*tmpdir, 0700);
	if (err)
		snprintf(msg, mlen, "temporary directory %s: %s", *tmpdir, strerror(-err));
out:
	free(dir);
	return err;
}

/* medallionfs cache [-o cache_dir=DIR] stats|purge */
static int cache_command(int argc, char **argv)
{
	struct mfs_options o;
	struct mfs_cache *cache = NULL;
	struct mfs_cache_stats cs;
	char msg[1024] = "", *tmpdir = NULL;
	const char *verb = NULL;
	int i, rc = 1, err;

	memset(&o, 0, sizeof(o));
	o.cache_size = 10ULL << 30;
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc &&
		    strncmp(argv[i + 1], "cache_dir=", 10) == 0) {
			free(o.cache_dir);
			o.cache_dir = strdup(argv[++i] + 10);
		} else if (!verb && (strcmp(argv[i], "stats") == 0 || strcmp(argv[i], "purge") == 0)) {
			verb = argv[i];
		} else {
			fprintf(stderr, "medallionfs: usage: medallionfs cache [-o cache_dir=DIR] "
					"stats|purge\n");
			free(o.cache_dir);
			return 2;
		}
	}
	if (!verb)
		verb = "stats";
	err = open_cache(&o, &cache, &tmpdir, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "medallionfs: %s\n", msg[0] ? msg : strerror(-err));
		goto out;
	}
	if (strcmp(verb, "purge") == 0) {
		err = mfs_cache_purge(cache);
		if (err) {
			fprintf(stderr, "medallionfs: purge: %s\n", strerror(-err));
			goto out;
		}
	}
	err = mfs_cache_get_stats(cache, &cs);
	if (err) {
		fprintf(stderr, "medallionfs: cache: %s\n", strerror(-err));
		goto out;
	}
	printf("entries\t%llu\nbytes_stored\t%llu\nbytes_content\t%llu\nmap_size\t%llu\n",
	       (unsigned long long)cs.entries, (unsigned long long)cs.bytes_stored,
	       (unsigned long long)cs.bytes_content, (unsigned long long)cs.map_size);
	rc = 0;
out:
	mfs_cache_close(cache);
	free(tmpdir);
	free(o.cache_dir);
	return rc;
}

/*
 * The kernel reads ahead at most 128 KiB on a FUSE mount (its backing device's
 * default), so a sequential reader sends 128 KiB requests however fast the
 * store is. Raise the read-ahead of this mount's device to @kb, as root can;
 * an unprivileged mount keeps the default. The device is found in
 * /proc/self/mountinfo: a stat of the mountpoint would wait for the FUSE loop,
 * which is not running yet.
 */
static void raise_readahead(const char *mp, unsigned kb)
{
	char line[8192], path[128];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	unsigned maj = 0, min = 0;
	int found = 0;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char point[4096];

		/* 36 35 0:52 / /mnt/lake rw,... - fuse.medallionfs ... (last match wins) */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, point) == 3 &&
		    strcmp(point, mp) == 0 && strstr(line, "fuse.medallionfs"))
			found = 1;
		else if (!found)
			maj = min = 0;
		if (found)
			break;
	}
	fclose(f);
	if (!found)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
	f = fopen(path, "w");
	if (!f) {
		mfs_debug("read-ahead stays at the kernel default: %s: %s", path, strerror(errno));
		return;
	}
	fprintf(f, "%u\n", kb);
	if (fclose(f))
		mfs_debug("read-ahead stays at the kernel default: %s", strerror(errno));
}

static char readahead_mp[PATH_MAX]; /* a copy: the thread may outlive main's buffers */

/* The kernel lowers the read-ahead again when it gets the FUSE_INIT reply,
 * so raise it once the loop has answered INIT. */
static void *readahead_thread(void *arg)
{
	int i;

	for (i = 0; i < 5; i++) {
		usleep(100 * 1000);
		raise_readahead(readahead_mp, 1024);
	}
	return NULL;
}

static int add_mount_opts(struct fuse_args *args, const struct mfs_options *o)
{
	char opt[PATH_MAX + 64];
	char *esc = NULL;
	size_t i, j;

	/* fsname shows the source in mount(8); commas would split the option. */
	esc = malloc(strlen(o->source) * 2 + 1);
	if (!esc)
		return -1;
	for (i = 0, j = 0; o->source[i]; i++) {
		if (o->source[i] == ',' || o->source[i] == '\\')
			esc[j++] = '\\';
		esc[j++] = o->source[i];
	}
	esc[j] = '\0';
	/* Read-only at kernel level unless -o writable (mount(8)'s "rw" is no switch). */
	snprintf(opt, sizeof(opt), "-o%s,default_permissions,subtype=medallionfs,fsname=%s%s",
		 o->writable && !o->read_only ? "rw" : "ro", esc,
		 o->allow_other ? ",allow_other" : "");
	free(esc);
	return fuse_opt_add_arg(args, opt);
}

int main(int argc, char **argv)
{
	struct mfs_options o;
	struct mfs_store *st = NULL, *pst = NULL;
	char *publish_url = NULL, *publish_hidden = NULL;
	struct mfs_pipeline *pipeline = NULL;
	struct mfs_cache *cache = NULL;
	char *tmpdir = NULL;
	struct mfs_lake *lake = NULL;
	struct fuse_session *se = NULL;
	struct fuse_args fargs = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *lcfg = NULL;
	struct mfs_lake_config lc;
	pthread_t watch;
	int have_watch = 0, mounted = 0;
	char msg[1024] = "", *mp = NULL;
	struct stat sb;
	int rc = 1, err;

	if (argc > 1 && strcmp(argv[1], "cache") == 0)
		return cache_command(argc, argv);
	if (argc > 1 && strcmp(argv[1], "warm") == 0)
		return mfs_warm_main(argc, argv);
	err = mfs_options_parse(argc, argv, &o);
	if (err) {
		mfs_options_free(&o);
		return err;
	}
	if (o.show_help) {
		mfs_options_usage(argv[0]);
		mfs_options_free(&o);
		return 0;
	}
	if (o.show_version) {
		printf("medallionfs %s (libfuse %d.%d)\n", MFS_VERSION, FUSE_MAJOR_VERSION,
		       FUSE_MINOR_VERSION);
		mfs_options_free(&o);
		return 0;
	}
	if (o.debug)
		mfs_log_set_level(MFS_LOG_DEBUG);

	mp = realpath(o.mountpoint, NULL);
	if (!mp || stat(mp, &sb)) {
		fprintf(stderr, "medallionfs: mountpoint %s: %s\n", o.mountpoint, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "medallionfs: mountpoint %s is not a directory\n", o.mountpoint);
		goto out;
	}

	err = open_store(&o, &st, msg, sizeof(msg));
	if (!err)
		err = mfs_store_check(st, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "medallionfs: %s\n", msg[0] ? msg : strerror(-err));
		goto out;
	}

	if (o.publish) {
		err = open_publish(&o, &pst, &publish_url, &publish_hidden, msg, sizeof(msg));
		if (err) {
			fprintf(stderr, "medallionfs: %s\n", msg);
			goto out;
		}
	}

	err = load_pipeline(&o, st, &pipeline, msg, sizeof(msg));
	if (!err)
		err = mfs_goldview_check(pipeline, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "medallionfs: %s\n", msg[0] ? msg : strerror(-err));
		goto out;
	}
	/* Checked now, opened for good after detaching: LMDB must not cross a fork. */
	err = open_cache(&o, &cache, &tmpdir, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "medallionfs: %s\n", msg[0] ? msg : strerror(-err));
		goto out;
	}
	mfs_cache_close(cache);
	cache = NULL;
	free(tmpdir);
	tmpdir = NULL;

	memset(&lc, 0, sizeof(lc));
	lc.store = st;
	lc.pipeline = pipeline;
	lc.source = o.source;
	lc.metadata_ttl = o.metadata_ttl;
	lc.uid = o.uid;
	lc.gid = o.gid;
	lc.max_prefetch = o.max_prefetch;
	lc.writable = o.writable && !o.read_only;
	lc.publish_store = pst;
	lc.publish_url = publish_url;
	lc.publish_hidden = publish_hidden;
	lc.block_cache = o.block_cache;
	err = mfs_lake_new(&lc, &lake);
	if (err) {
		fprintf(stderr, "medallionfs: %s\n", strerror(-err));
		goto out;
	}

	if (fuse_opt_add_arg(&fargs, argv[0]) || add_mount_opts(&fargs, &o)) {
		fprintf(stderr, "medallionfs: out of memory\n");
		goto out;
	}
	se = fuse_session_new(&fargs, &mfs_ll_ops, sizeof(mfs_ll_ops), lake);
	if (!se) {
		fprintf(stderr, "medallionfs: cannot create the FUSE session\n");
		goto out;
	}
	if (fuse_session_mount(se, mp)) {
		fprintf(stderr, "medallionfs: cannot mount on %s (is /dev/fuse available and "
				"fusermount3 installed?)\n", mp);
		goto out;
	}
	mounted = 1;
	mfs_lake_set_inval(lake, mfs_ll_inval, se);

	if (pipe2(signal_pipe, O_CLOEXEC)) {
		fprintf(stderr, "medallionfs: pipe: %s\n", strerror(errno));
		goto out;
	}
	if (fuse_daemonize(o.foreground)) {
		fprintf(stderr, "medallionfs: cannot detach\n");
		goto out;
	}
	if (!o.foreground)
		mfs_log_use_syslog("medallionfs");
	err = open_cache(&o, &cache, &tmpdir, msg, sizeof(msg));
	if (err) {
		mfs_err("%s", msg[0] ? msg : strerror(-err));
		goto out;
	}
	mfs_lake_set_cache(lake, cache);
	mfs_lake_set_tmpdir(lake, tmpdir);

	err = mfs_lake_start(lake);
	if (!err)
		err = -pthread_create(&watch, NULL, watcher, st);
	if (err) {
		mfs_err("cannot start threads: %s", strerror(-err));
		goto out;
	}
	have_watch = 1;
	the_session = se;
	err = install_signals();
	if (err) {
		mfs_err("cannot install signal handlers: %s", strerror(-err));
		goto out;
	}
	mfs_info("mounted %s on %s", o.source, mp);

	snprintf(readahead_mp, sizeof(readahead_mp), "%s", mp);
	{
		sigset_t block, old;
		pthread_t t;

		/* Signals must reach the loop's thread, not this short-lived one. */
		sigemptyset(&block);
		sigaddset(&block, SIGINT);
		sigaddset(&block, SIGTERM);
		sigaddset(&block, SIGHUP);
		pthread_sigmask(SIG_BLOCK, &block, &old);
		if (pthread_create(&t, NULL, readahead_thread, NULL) == 0)
			pthread_detach(t);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	lcfg = fuse_loop_cfg_create();
	if (!lcfg) {
		mfs_err("out of memory");
		goto out;
	}
	fuse_loop_cfg_set_max_threads(lcfg, 32);
	fuse_loop_cfg_set_idle_threads(lcfg, 8);
	err = fuse_session_loop_mt(se, lcfg);
	rc = err < 0 ? 1 : 0;
out:
	if (lake)
		mfs_lake_shutdown(lake);
	if (pst)
		mfs_store_abort(pst);
	if (mounted)
		fuse_session_unmount(se);
	if (have_watch) {
		/* Wake the watcher if no signal did. */
		if (signal_pipe[1] >= 0)
			close(signal_pipe[1]);
		signal_pipe[1] = -1;
		pthread_join(watch, NULL);
	}
	the_session = NULL;
	if (se)
		fuse_session_destroy(se);
	if (lcfg)
		fuse_loop_cfg_destroy(lcfg);
	mfs_lake_free(lake);
	mfs_cache_close(cache);
	mfs_pipeline_free(pipeline);
	free(tmpdir);
	mfs_store_destroy(st);
	mfs_store_destroy(pst);
	free(publish_url);
	free(publish_hidden);
	fuse_opt_free_args(&fargs);
	if (signal_pipe[0] >= 0)
		close(signal_pipe[0]);
	if (signal_pipe[1] >= 0)
		close(signal_pipe[1]);
	free(mp);
	mfs_options_free(&o);
	return rc;
}
