/*
 * options.h - the command line and -o options of medallionfs.
 *
 * Parsed with libfuse's fuse_opt so the same line works in /etc/fstab.
 * Options of later releases are refused with a message, never accepted
 * silently; the mount(8) noise (_netdev, nofail, defaults, rw,
 * x-systemd.*) is accepted and ignored.
 */
#ifndef MFS_OPTIONS_H
#define MFS_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mfs_options {
	char *source;       /* as given */
	char *mountpoint;   /* as given; realpath'd by main */
	int foreground;
	int debug;
	int show_help;
	int show_version;

	char *endpoint;
	char *region;
	char *profile;
	int path_style;     /* -1: path-style iff endpoint given */
	int anonymous;
	double metadata_ttl;
	double connect_timeout;
	double request_timeout;
	int retries;
	uid_t uid;
	gid_t gid;
	int allow_other;
	size_t max_prefetch;
	size_t block_cache;
	char *pipeline;     /* -o pipeline=FILE */
	char *cache_dir;    /* NULL: the default (see mfs_options_cache_dir) */
	uint64_t cache_size;
	int writable;       /* -o writable: bronze accepts writes */
	int read_only;      /* -o ro: wins over writable */
	int publish;        /* -o publish[=URL] */
	char *publish_url;  /* NULL: the parent of the SOURCE prefix */
};

/* The cache directory @o names, or the default: /var/cache/medallionfs for
 * root, else $XDG_CACHE_HOME/medallionfs or ~/.cache/medallionfs. Caller frees. */
char *mfs_options_cache_dir(const struct mfs_options *o);

/*
 * Parse argv into @o. Returns 0, or 2 (usage error) after printing one
 * line to stderr. Strings in @o are malloc'd; free with mfs_options_free().
 */
int mfs_options_parse(int argc, char **argv, struct mfs_options *o);
void mfs_options_free(struct mfs_options *o);
void mfs_options_usage(const char *progname);

#endif
