/*
 * options.c - fuse_opt table for medallionfs (see options.h and the man page).
 */
#include "options.h"

#include <errno.h>
#include <fuse_opt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_IGNORED,
	KEY_PATH_STYLE,
	KEY_VIRTUAL_HOST,
	KEY_WRITABLE,
	KEY_READ_ONLY,
	KEY_VALUE, /* name=value options handled in parse_value() */
};

struct parse_state {
	struct mfs_options *o;
	int error;
};

#define MFS_OPT(t) FUSE_OPT_KEY(t, KEY_VALUE)

static const struct fuse_opt mfs_opts[] = {
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("path_style", KEY_PATH_STYLE),
	FUSE_OPT_KEY("virtual_host", KEY_VIRTUAL_HOST),
	/* mount(8) and systemd pass these to every helper */
	FUSE_OPT_KEY("_netdev", KEY_IGNORED),
	FUSE_OPT_KEY("nofail", KEY_IGNORED),
	FUSE_OPT_KEY("defaults", KEY_IGNORED),
	FUSE_OPT_KEY("rw", KEY_IGNORED),
	FUSE_OPT_KEY("ro", KEY_READ_ONLY),
	FUSE_OPT_KEY("default_permissions", KEY_IGNORED), /* always on */
	FUSE_OPT_KEY("auto", KEY_IGNORED),
	FUSE_OPT_KEY("noauto", KEY_IGNORED),
	FUSE_OPT_KEY("user", KEY_IGNORED),
	FUSE_OPT_KEY("nouser", KEY_IGNORED),
	FUSE_OPT_KEY("exec", KEY_IGNORED),
	FUSE_OPT_KEY("noexec", KEY_IGNORED),
	FUSE_OPT_KEY("suid", KEY_IGNORED),
	FUSE_OPT_KEY("nosuid", KEY_IGNORED),
	FUSE_OPT_KEY("dev", KEY_IGNORED),
	FUSE_OPT_KEY("nodev", KEY_IGNORED),
	FUSE_OPT_KEY("atime", KEY_IGNORED),
	FUSE_OPT_KEY("noatime", KEY_IGNORED),
	FUSE_OPT_KEY("comment=%s", KEY_IGNORED),
	FUSE_OPT_KEY("writable", KEY_WRITABLE),
	MFS_OPT("publish"),
	MFS_OPT("publish=%s"),
	MFS_OPT("endpoint=%s"),
	MFS_OPT("region=%s"),
	MFS_OPT("profile=%s"),
	MFS_OPT("anonymous"),
	MFS_OPT("metadata_ttl=%s"),
	MFS_OPT("connect_timeout=%s"),
	MFS_OPT("request_timeout=%s"),
	MFS_OPT("retries=%s"),
	MFS_OPT("uid=%s"),
	MFS_OPT("gid=%s"),
	MFS_OPT("allow_other"),
	MFS_OPT("max_prefetch=%s"),
	MFS_OPT("block_cache=%s"),
	MFS_OPT("pipeline=%s"),
	MFS_OPT("cache_dir=%s"),
	MFS_OPT("cache_size=%s"),
	FUSE_OPT_END
};

void mfs_options_usage(const char *progname)
{
	printf("usage: %s SOURCE MOUNTPOINT [-f] [-d] [-o OPT[,OPT...]]\n"
	       "       %s cache [-o cache_dir=DIR] stats|purge\n"
	       "       %s warm PATH...   compute the silver/gold files under PATHs of a mount\n"
	       "\n"
	       "Mount an S3 bucket or a local directory as a medallion data lake:\n"
	       "  MOUNTPOINT/bronze/      the raw objects, byte for byte\n"
	       "  MOUNTPOINT/silver/      one cleaned, typed, deduplicated file per tabular object\n"
	       "  MOUNTPOINT/gold/        SQL views of the pipeline file (or _profile/ without one)\n"
	       "  MOUNTPOINT/.medallion/  status: errors, shadowed keys, stats, pipeline, rejects/\n"
	       "\n"
	       "SOURCE is s3://BUCKET[/PREFIX] or a local directory.\n"
	       "\n"
	       "general options:\n"
	       "  -f                     stay in the foreground, log to stderr\n"
	       "  -d                     debug log (implies -f; secrets are redacted)\n"
	       "  -h, --help             this text\n"
	       "  -V, --version          the version\n"
	       "\n"
	       "-o options:\n"
	       "  endpoint=URL           S3 endpoint (default https://s3.REGION.amazonaws.com)\n"
	       "  region=NAME            signing region (default: AWS_REGION, profile, us-east-1)\n"
	       "  profile=NAME           credentials/config profile (default: AWS_PROFILE, default)\n"
	       "  path_style             http://HOST/BUCKET/KEY (the default with endpoint=)\n"
	       "  virtual_host           http://BUCKET.HOST/KEY (the default for AWS)\n"
	       "  anonymous              send unsigned requests (public buckets)\n"
	       "  metadata_ttl=SECONDS   how long listings and sizes are trusted (default 1)\n"
	       "  connect_timeout=SECS   TCP/TLS connect timeout (default 10)\n"
	       "  request_timeout=SECS   a request with no progress for this long fails (default 30)\n"
	       "  retries=N              retries of 5xx, 429/SlowDown, network errors (default 4)\n"
	       "  max_prefetch=SIZE      largest sequential read-ahead per open file (default 32M)\n"
	       "  block_cache=SIZE       memory for 1 MiB blocks around random reads, all open\n"
	       "                         files together (default 256M; 0 = off)\n"
	       "  pipeline=FILE          the pipeline file (default: _medallion.ini at the SOURCE\n"
	       "                         root if present, else defaults); see medallionfs-pipeline(5)\n"
	       "  cache_dir=DIR          the LMDB cache (default /var/cache/medallionfs for root,\n"
	       "                         else $XDG_CACHE_HOME/medallionfs)\n"
	       "  cache_size=SIZE        bound of the cache, least recently used evicted (default 10G)\n"
	       "  uid=N, gid=N           owner of every file (default: the mounting user)\n"
	       "  allow_other            let other users in (needs user_allow_other for non-root);\n"
	       "                         the kernel checks file modes (default_permissions, always on)\n"
	       "  writable               bronze/ accepts new files written sequentially (multipart\n"
	       "                         upload, visible on close), unlink, mkdir, rmdir; rename\n"
	       "                         gives EXDEV; appends and random writes EOPNOTSUPP\n"
	       "  ro                     read-only even with writable\n"
	       "  _netdev, nofail, defaults, rw, x-systemd.*   accepted and ignored (fstab; rw does\n"
	       "                         not make the mount writable)\n"
	       "  publish[=s3://BUCKET/PREFIX]  write every computed silver and gold file back\n"
	       "                         to the bucket (default: beside SOURCE, s3://lake/raw ->\n"
	       "                         s3://lake/silver/, s3://lake/gold/) with its lineage; a\n"
	       "                         published file whose lineage matches is served, not\n"
	       "                         computed again\n"
	       "\n"
	       "Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN], the shared\n"
	       "credentials and config files (profiles, credential_process), container credentials,\n"
	       "instance metadata (IMDSv2). Secrets are never accepted on the command line.\n"
	       "See medallionfs(1) and medallionfs-pipeline(5).\n",
	       progname, progname, progname);
}

static int parse_double(const char *name, const char *v, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || d < 0 || d > 86400 * 365) {
		fprintf(stderr, "medallionfs: -o %s=%s: expected a number of seconds\n", name, v);
		return -1;
	}
	*out = d;
	return 0;
}

static int parse_ulong(const char *name, const char *v, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || n > max) {
		fprintf(stderr, "medallionfs: -o %s=%s: expected a whole number up to %lu\n", name, v,
			max);
		return -1;
	}
	*out = n;
	return 0;
}

static int parse_size(const char *name, const char *v, size_t *out)
{
	char *end;
	unsigned long long n;
	unsigned long long mul = 1;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || end == v || *v == '-')
		goto bad;
	switch (*end) {
	case 'k': case 'K': mul = 1ULL << 10; end++; break;
	case 'm': case 'M': mul = 1ULL << 20; end++; break;
	case 'g': case 'G': mul = 1ULL << 30; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end == 'B')
		end++;
	if (*end || n > (1ULL << 50) / mul)
		goto bad;
	*out = (size_t)(n * mul);
	return 0;
bad:
	fprintf(stderr, "medallionfs: -o %s=%s: expected a size such as 64M\n", name, v);
	return -1;
}

static int set_string(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

static int parse_value(struct mfs_options *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
	const char *v = eq ? eq + 1 : "";
	unsigned long n;

#define IS(s) (nlen == strlen(s) && strncmp(arg, s, nlen) == 0)
	if (IS("endpoint")) {
		if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
			fprintf(stderr, "medallionfs: -o endpoint=%s: expected http://HOST[:PORT] or "
					"https://HOST[:PORT]\n", v);
			return -1;
		}
		return set_string(&o->endpoint, v);
	}
	if (IS("region"))
		return set_string(&o->region, v);
	if (IS("profile"))
		return set_string(&o->profile, v);
	if (IS("anonymous")) {
		o->anonymous = 1;
		return 0;
	}
	if (IS("allow_other")) {
		o->allow_other = 1;
		return 0;
	}
	if (IS("metadata_ttl"))
		return parse_double("metadata_ttl", v, &o->metadata_ttl);
	if (IS("connect_timeout"))
		return parse_double("connect_timeout", v, &o->connect_timeout);
	if (IS("request_timeout"))
		return parse_double("request_timeout", v, &o->request_timeout);
	if (IS("retries")) {
		if (parse_ulong("retries", v, 100, &n))
			return -1;
		o->retries = (int)n;
		return 0;
	}
	if (IS("uid")) {
		if (parse_ulong("uid", v, UINT_MAX - 1, &n))
			return -1;
		o->uid = (uid_t)n;
		return 0;
	}
	if (IS("gid")) {
		if (parse_ulong("gid", v, UINT_MAX - 1, &n))
			return -1;
		o->gid = (gid_t)n;
		return 0;
	}
	if (IS("max_prefetch")) {
		if (parse_size("max_prefetch", v, &o->max_prefetch))
			return -1;
		if (o->max_prefetch < (1 << 20)) {
			fprintf(stderr, "medallionfs: -o max_prefetch=%s: at least 1M\n", v);
			return -1;
		}
		return 0;
	}
	if (IS("block_cache"))
		return parse_size("block_cache", v, &o->block_cache) ? -1 : 0;
	if (IS("pipeline"))
		return set_string(&o->pipeline, v);
	if (IS("publish")) {
		o->publish = 1;
		if (!eq)
			return 0;
		if (strncmp(v, "s3://", 5) != 0 || !v[5] || v[5] == '/') {
			fprintf(stderr, "medallionfs: -o publish=%s: expected s3://BUCKET[/PREFIX]\n", v);
			return -1;
		}
		return set_string(&o->publish_url, v);
	}
	if (IS("cache_dir"))
		return set_string(&o->cache_dir, v);
	if (IS("cache_size")) {
		size_t sz;

		if (parse_size("cache_size", v, &sz))
			return -1;
		if (sz < (16 << 20)) {
			fprintf(stderr, "medallionfs: -o cache_size=%s: at least 16M\n", v);
			return -1;
		}
		o->cache_size = sz;
		return 0;
	}
#undef IS
	fprintf(stderr, "medallionfs: unknown option -o %s\n", arg);
	return -1;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct parse_state *ps = data;
	struct mfs_options *o = ps->o;

	switch (key) {
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case KEY_FOREGROUND:
		o->foreground = 1;
		return 0;
	case KEY_DEBUG:
		o->debug = 1;
		o->foreground = 1;
		return 0;
	case KEY_IGNORED:
		return 0;
	case KEY_WRITABLE:
		o->writable = 1;
		return 0;
	case KEY_READ_ONLY:
		o->read_only = 1;
		return 0;
	case KEY_PATH_STYLE:
		o->path_style = 1;
		return 0;
	case KEY_VIRTUAL_HOST:
		o->path_style = 0;
		return 0;
	case KEY_VALUE:
		if (parse_value(o, arg)) {
			ps->error = 1;
			return -1;
		}
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (!o->source)
			return set_string(&o->source, arg);
		if (!o->mountpoint)
			return set_string(&o->mountpoint, arg);
		fprintf(stderr, "medallionfs: unexpected argument '%s'\n", arg);
		ps->error = 1;
		return -1;
	case FUSE_OPT_KEY_OPT:
	default:
		/* fuse_opt matches a prefix only before "=%s": systemd's own options by hand. */
		if (strncmp(arg, "x-systemd.", 10) == 0 || strncmp(arg, "x-initrd.", 9) == 0)
			return 0;
		if (arg[0] == '-')
			fprintf(stderr, "medallionfs: unknown option %s (see --help)\n", arg);
		else
			fprintf(stderr, "medallionfs: unknown option -o %s (see --help)\n", arg);
		ps->error = 1;
		return -1;
	}
}

int mfs_options_parse(int argc, char **argv, struct mfs_options *o)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct parse_state ps = { o, 0 };
	int r;

	memset(o, 0, sizeof(*o));
	o->path_style = -1;
	o->metadata_ttl = 1;
	o->connect_timeout = 10;
	o->request_timeout = 30;
	o->retries = 4;
	o->uid = getuid();
	o->gid = getgid();
	o->max_prefetch = 32 << 20;
	o->block_cache = 256 << 20;
	o->cache_size = 10ULL << 30;

	r = fuse_opt_parse(&args, &ps, mfs_opts, opt_proc);
	fuse_opt_free_args(&args);
	if (r || ps.error)
		return 2;
	if (o->show_help || o->show_version)
		return 0;
	if (!o->source || !o->mountpoint) {
		fprintf(stderr, "medallionfs: usage: medallionfs SOURCE MOUNTPOINT [-f] [-d] "
				"[-o OPT[,OPT...]] (see --help)\n");
		return 2;
	}
	return 0;
}

char *mfs_options_cache_dir(const struct mfs_options *o)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *d = NULL;

	if (o->cache_dir)
		return strdup(o->cache_dir);
	if (getuid() == 0)
		return strdup("/var/cache/medallionfs");
	if (xdg && xdg[0] == '/') {
		if (asprintf(&d, "%s/medallionfs", xdg) < 0)
			return NULL;
	} else if (asprintf(&d, "%s/.cache/medallionfs", home ? home : "/tmp") < 0) {
		return NULL;
	}
	return d;
}

void mfs_options_free(struct mfs_options *o)
{
	free(o->source);
	free(o->mountpoint);
	free(o->endpoint);
	free(o->region);
	free(o->profile);
	free(o->pipeline);
	free(o->cache_dir);
	free(o->publish_url);
	memset(o, 0, sizeof(*o));
}
