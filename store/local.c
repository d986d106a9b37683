/*
 * local.c - a local directory served through the store vtable.
 *
 * Keys are paths relative to the root directory. A listing is what
 * ListObjectsV2 with delimiter '/' would give for the same tree: regular files
 * are objects, directories are prefixes ("name/"), anything else (devices,
 * sockets, fifos) is left out. Symbolic links are followed, but only while
 * they stay inside the root: a link that resolves outside it, or back onto a
 * directory it lives in (a cycle that would make `find` walk forever), is
 * treated as if it did not exist. Keys are checked before they touch the
 * file system: "..", "." and empty components are refused, so no key names
 * anything outside the root.
 *
 * A local file has no ETag, so one is derived from what changes when the file
 * is replaced or rewritten: device, inode, size and the nanosecond mtime and
 * ctime. A file rewritten in place within one timestamp tick of the file
 * system, to the same size, keeps its ETag; nothing better is available
 * without reading the whole file.
 *
 * Writes (-o writable) go to an unnamed temporary file (O_TMPFILE) in the
 * directory of the key, linked under a temporary name and renamed over the
 * key when the upload is committed, so readers see the old file or the new
 * one, never a part, and a daemon killed in the middle leaves nothing
 * behind. Where O_TMPFILE is not supported the temporary file is named
 * ".mfs-upload-*" from the start; listings never show such names.
 *
 * DESIGN: the only shared mutable state is the abort flag (atomic). Every
 * call resolves its key from the root path on its own, so calls from many
 * threads need no lock. Resolution is done component by component with
 * lstat()/realpath(), which yields a path with no symbolic link in it; the
 * file is then opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
 * relative to the root, so a link swapped in between the check and the open
 * makes the open fail instead of escaping.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

/* Bytes read per pread() and handed to the sink at once. */
#define LOCAL_CHUNK (1024 * 1024)
/* Names of temporary files of uploads: never listed. */
#define UPLOAD_PREFIX ".mfs-upload-"

struct local_store {
	struct mfs_store base;
	char *root;        /* realpath of the root, never ends in '/' unless it is "/" */
	size_t root_len;
	int root_fd;       /* O_PATH handle on the root, for openat2() */
	atomic_bool aborted;
};

/* A directory passed on the way to a key, to recognise symlink cycles. */
struct dir_id {
	dev_t dev;
	ino_t ino;
};

struct dir_chain {
	struct dir_id *ids;
	size_t n;
	size_t cap;
};

/* Set once openat2() turns out to be missing (kernels before 5.6). */
static atomic_bool no_openat2;

static struct local_store *to_local(struct mfs_store *st)
{
	return (struct local_store *)st;
}

/*
 * Foreign errno to the store's vocabulary (store.h): whatever says "not
 * there" becomes ENOENT, whatever says "not allowed" EACCES.
 */
static int local_errno(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
	case ELOOP:
	case EXDEV:
		return -ENOENT;
	case EACCES:
	case EPERM:
		return -EACCES;
	case ENOMEM:
	case ENAMETOOLONG:
	case ECANCELED:
	case ESTALE:
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
	case ENOTEMPTY:
	case EISDIR:
	case EEXIST:
	case EROFS:
		return -e;
	default:
		return -EIO;
	}
}

static int local_check_abort(struct local_store *ls)
{
	if (atomic_load_explicit(&ls->aborted, memory_order_acquire)) {
		mfs_set_error("local store: aborted");
		return -ECANCELED;
	}
	return 0;
}

/*
 * A key is a '/'-separated path of non-empty components, none of them "." or
 * "..": that shape alone guarantees it cannot climb out of the root, before
 * symbolic links are considered. (A NUL cannot hide inside a C string, so
 * nothing after one is ever looked up.) @len lets a prefix be checked without
 * its trailing '/'.
 */
static int local_check_key(const char *key, size_t len)
{
	const char *p = key, *end = key + len, *slash;
	size_t n;

	if (len == 0) {
		mfs_set_error("local store: invalid key \"%.*s\"", (int)len, key);
		return -EINVAL;
	}
	while (p <= end) {
		slash = memchr(p, '/', (size_t)(end - p));
		if (!slash)
			slash = end;
		n = (size_t)(slash - p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			mfs_set_error("local store: invalid key \"%.*s\" (empty, \".\" or \"..\" "
				      "component)",
				      (int)len, key);
			return -EINVAL;
		}
		p = slash + 1;
	}
	return 0;
}

static bool local_inside(const struct local_store *ls, const char *path)
{
	if (ls->root_len == 1) /* root is "/" */
		return path[0] == '/';
	return strncmp(path, ls->root, ls->root_len) == 0 &&
	       (path[ls->root_len] == '\0' || path[ls->root_len] == '/');
}

/* "DIR/NAME" without doubling the '/' when DIR is "/"; NULL on ENOMEM. */
static char *path_join(const char *dir, const char *name, size_t name_len)
{
	size_t dlen = strlen(dir);
	char *p;

	if (dlen == 1 && dir[0] == '/')
		dlen = 0;
	p = malloc(dlen + 1 + name_len + 1);
	if (!p)
		return NULL;
	memcpy(p, dir, dlen);
	p[dlen] = '/';
	memcpy(p + dlen + 1, name, name_len);
	p[dlen + 1 + name_len] = '\0';
	return p;
}

static bool chain_has(const struct dir_chain *c, const struct stat *st)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->ids[i].dev == st->st_dev && c->ids[i].ino == st->st_ino)
			return true;
	return false;
}

static int chain_push(struct dir_chain *c, const struct stat *st)
{
	struct dir_id *ids;
	size_t cap;

	if (c->n == c->cap) {
		cap = c->cap ? c->cap * 2 : 16;
		ids = realloc(c->ids, cap * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		c->ids = ids;
		c->cap = cap;
	}
	c->ids[c->n].dev = st->st_dev;
	c->ids[c->n].ino = st->st_ino;
	c->n++;
	return 0;
}

/*
 * Follow the symbolic link at @path (whose directory part has no link in it).
 * Returns 0 with *@real (malloc'd, link-free) and its stat, -ENOENT when the
 * link dangles or leads outside the root, another -errno otherwise.
 */
static int local_follow(struct local_store *ls, const char *path, char **real, struct stat *st)
{
	char *r = NULL;
	int ret;

	*real = NULL;
	r = realpath(path, NULL);
	if (!r) {
		ret = local_errno(errno);
		goto out;
	}
	if (!local_inside(ls, r)) {
		ret = -ENOENT;
		goto out;
	}
	if (lstat(r, st) < 0) {
		ret = local_errno(errno);
		goto out;
	}
	*real = r;
	r = NULL;
	ret = 0;
out:
	free(r);
	return ret;
}

/*
 * Resolve the first @len bytes of @key (already checked by local_check_key;
 * len 0 is the root) to an absolute path with no symbolic link in it, one
 * component at a time so that every intermediate directory, not only the
 * end, must lie inside the root. A directory met twice on the way is a
 * symlink cycle and resolves to nothing, as listings leave it out.
 *
 * On success *@out is malloc'd (caller frees), @st describes it and, when
 * @chain is non-NULL, it holds every directory passed including the last one
 * if it is a directory (caller frees chain->ids).
 */
static int local_resolve(struct local_store *ls, const char *key, size_t len, char **out,
			 struct stat *st, struct dir_chain *chain)
{
	struct dir_chain own = { NULL, 0, 0 };
	struct dir_chain *c = chain ? chain : &own;
	const char *p = key, *end = key + len, *slash;
	char *cur = NULL, *next = NULL, *real;
	int r;

	*out = NULL;
	cur = strdup(ls->root);
	if (!cur) {
		r = -ENOMEM;
		goto out;
	}
	if (lstat(cur, st) < 0) {
		r = local_errno(errno);
		goto out;
	}
	r = chain_push(c, st);
	if (r < 0)
		goto out;

	while (p < end) {
		slash = memchr(p, '/', (size_t)(end - p));
		if (!slash)
			slash = end;
		if (!S_ISDIR(st->st_mode)) {
			r = -ENOENT;
			goto out;
		}
		next = path_join(cur, p, (size_t)(slash - p));
		if (!next) {
			r = -ENOMEM;
			goto out;
		}
		if (lstat(next, st) < 0) {
			r = local_errno(errno);
			goto out;
		}
		if (S_ISLNK(st->st_mode)) {
			r = local_follow(ls, next, &real, st);
			if (r < 0)
				goto out;
			free(next);
			next = real;
		}
		free(cur);
		cur = next;
		next = NULL;
		if (S_ISDIR(st->st_mode)) {
			if (chain_has(c, st)) {
				r = -ENOENT;
				goto out;
			}
			r = chain_push(c, st);
			if (r < 0)
				goto out;
		}
		p = slash + 1;
	}
	*out = cur;
	cur = NULL;
	r = 0;
out:
	free(next);
	free(cur);
	free(own.ids);
	if (r < 0 && chain) {
		free(chain->ids);
		memset(chain, 0, sizeof(*chain));
	}
	return r;
}

/*
 * Open @path (a result of local_resolve) so that a symbolic link swapped in
 * since it was resolved makes the open fail rather than lead elsewhere.
 * Returns the fd or -errno.
 */
static int local_open_resolved(struct local_store *ls, const char *path, int flags)
{
	struct open_how how;
	const char *rel;
	long fd;

	flags |= O_CLOEXEC | O_NOFOLLOW;
	if (!atomic_load_explicit(&no_openat2, memory_order_relaxed)) {
		rel = path + ls->root_len;
		while (*rel == '/')
			rel++;
		if (*rel == '\0')
			rel = ".";
		memset(&how, 0, sizeof(how));
		how.flags = (uint64_t)flags;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
		fd = syscall(SYS_openat2, ls->root_fd, rel, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS)
			return local_errno(errno);
		atomic_store_explicit(&no_openat2, true, memory_order_relaxed);
	}
	/* Old kernel: O_NOFOLLOW still guards the last component. */
	fd = open(path, flags);
	if (fd < 0)
		return local_errno(errno);
	return (int)fd;
}

static uint64_t mix64(uint64_t h)
{
	/* The splitmix64 / murmur3 finaliser: every input bit moves every output bit. */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

/*
 * The ETag of a local file: 32 hex digits, a function of identity (device,
 * inode), size and both timestamps to the nanosecond, so a file replaced by
 * rename or rewritten with another size or at another time gets a new one.
 * Stable across processes and mounts, since it reads nothing else.
 */
static void local_etag(const struct stat *st, char *out, size_t outlen)
{
	const uint64_t w[] = {
		(uint64_t)st->st_dev,          (uint64_t)st->st_ino,
		(uint64_t)st->st_size,         (uint64_t)st->st_mtim.tv_sec,
		(uint64_t)st->st_mtim.tv_nsec, (uint64_t)st->st_ctim.tv_sec,
		(uint64_t)st->st_ctim.tv_nsec,
	};
	uint64_t h1 = 0x6d65646c6c696f6eULL, h2 = 0x6c6f63616c737472ULL;
	size_t i;

	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		h1 = mix64(h1 ^ w[i]);
		h2 = mix64(h2 + w[i] * 0x9e3779b97f4a7c15ULL + i);
	}
	snprintf(out, outlen, "%016" PRIx64 "%016" PRIx64, h1, h2);
}

static void local_fill_object(struct mfs_object *o, const struct stat *st)
{
	o->size = (uint64_t)st->st_size;
	o->mtime = st->st_mtim;
	local_etag(st, o->etag, sizeof(o->etag));
	o->storage_class[0] = '\0';
}

static int cmp_objects(const void *a, const void *b)
{
	const struct mfs_object *x = a, *y = b;

	return strcmp(x->key, y->key);
}

static int cmp_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Append @prefix@name to the listing: an object, or for a directory the
 * prefix "@prefix@name/". 0 or -ENOMEM.
 */
static int listing_add(struct mfs_listing *l, size_t *cap_obj, size_t *cap_pre, const char *prefix,
		       const char *name, const struct stat *st)
{
	size_t plen = strlen(prefix), nlen = strlen(name), cap;
	bool dir = S_ISDIR(st->st_mode);
	struct mfs_object *objs;
	char *s = NULL, **pres;
	int r = -ENOMEM;

	s = malloc(plen + nlen + 2);
	if (!s)
		goto out;
	memcpy(s, prefix, plen);
	memcpy(s + plen, name, nlen);
	s[plen + nlen] = dir ? '/' : '\0';
	s[plen + nlen + 1] = '\0';

	if (dir) {
		if (l->n_prefixes == *cap_pre) {
			cap = *cap_pre ? *cap_pre * 2 : 16;
			pres = realloc(l->prefixes, cap * sizeof(*pres));
			if (!pres)
				goto out;
			l->prefixes = pres;
			*cap_pre = cap;
		}
		l->prefixes[l->n_prefixes++] = s;
	} else {
		if (l->n_objects == *cap_obj) {
			cap = *cap_obj ? *cap_obj * 2 : 16;
			objs = realloc(l->objects, cap * sizeof(*objs));
			if (!objs)
				goto out;
			l->objects = objs;
			*cap_obj = cap;
		}
		memset(&l->objects[l->n_objects], 0, sizeof(l->objects[0]));
		l->objects[l->n_objects].key = s;
		local_fill_object(&l->objects[l->n_objects], st);
		l->n_objects++;
	}
	s = NULL; /* owned by the listing now */
	r = 0;
out:
	free(s);
	return r;
}

/*
 * What a directory entry stands for in a listing: 1 (with @st filled) for a
 * regular file or a directory, 0 to leave it out. Errors on one entry (it
 * vanished, a dangling link) only drop that entry, as a listing in S3 never
 * fails because of one key.
 */
static int local_entry(struct local_store *ls, int dfd, const char *dir, const char *name,
		       const struct dir_chain *chain, struct stat *st)
{
	char *full = NULL, *real = NULL;
	int r = 0;

	if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) < 0) {
		mfs_debug("local: skipping %s/%s: %s", dir, name, strerror(errno));
		goto out;
	}
	if (S_ISLNK(st->st_mode)) {
		full = path_join(dir, name, strlen(name));
		if (!full) {
			r = -ENOMEM;
			goto out;
		}
		if (local_follow(ls, full, &real, st) < 0) {
			mfs_debug("local: skipping link %s: dangling or outside the root", full);
			goto out;
		}
		if (S_ISDIR(st->st_mode) && chain_has(chain, st)) {
			mfs_debug("local: skipping link %s: it loops back to %s", full, real);
			goto out;
		}
	}
	r = S_ISREG(st->st_mode) || S_ISDIR(st->st_mode);
out:
	free(full);
	free(real);
	return r;
}

static int local_list(struct mfs_store *st, const char *prefix, struct mfs_listing *out)
{
	struct local_store *ls = to_local(st);
	struct dir_chain chain = { NULL, 0, 0 };
	size_t plen = strlen(prefix), cap_obj = 0, cap_pre = 0;
	char *dir = NULL;
	DIR *d = NULL;
	struct dirent *de;
	struct stat sb;
	int fd = -1, r;

	memset(out, 0, sizeof(*out));
	r = local_check_abort(ls);
	if (r < 0)
		return r;
	if (plen > 0) {
		if (prefix[plen - 1] != '/') {
			mfs_set_error("local store: prefix \"%s\" does not end with '/'", prefix);
			return -EINVAL;
		}
		r = local_check_key(prefix, plen - 1);
		if (r < 0)
			return r;
	}

	r = local_resolve(ls, prefix, plen ? plen - 1 : 0, &dir, &sb, &chain);
	if (r == -ENOENT || (r == 0 && !S_ISDIR(sb.st_mode))) {
		/* S3 has no directories: a prefix with nothing under it lists empty. */
		r = 0;
		goto out;
	}
	if (r < 0) {
		mfs_set_error("local store: cannot list \"%s\": %s", prefix, strerror(-r));
		goto out;
	}

	fd = local_open_resolved(ls, dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		r = fd;
		fd = -1;
		if (r == -ENOENT) {
			r = 0; /* removed since it was resolved */
			goto out;
		}
		mfs_set_error("local store: cannot open directory %s: %s", dir, strerror(-r));
		goto out;
	}
	d = fdopendir(fd);
	if (!d) {
		r = local_errno(errno);
		mfs_set_error("local store: cannot read directory %s: %s", dir, strerror(errno));
		goto out;
	}
	fd = -1; /* owned by d now */

	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno) {
				r = local_errno(errno);
				mfs_set_error("local store: reading directory %s: %s", dir,
					      strerror(errno));
				goto out;
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strncmp(de->d_name, UPLOAD_PREFIX, strlen(UPLOAD_PREFIX)) == 0)
			continue;
		r = local_entry(ls, dirfd(d), dir, de->d_name, &chain, &sb);
		if (r < 0)
			goto out;
		if (r == 0)
			continue;
		r = listing_add(out, &cap_obj, &cap_pre, prefix, de->d_name, &sb);
		if (r < 0)
			goto out;
	}
	r = local_check_abort(ls);
	if (r < 0)
		goto out;

	if (out->n_objects)
		qsort(out->objects, out->n_objects, sizeof(out->objects[0]), cmp_objects);
	if (out->n_prefixes)
		qsort(out->prefixes, out->n_prefixes, sizeof(out->prefixes[0]), cmp_strings);
	r = 0;
out:
	if (r == -ENOMEM)
		mfs_set_error("local store: out of memory listing \"%s\"", prefix);
	if (r < 0)
		mfs_listing_free(out);
	if (d)
		closedir(d);
	if (fd >= 0)
		close(fd);
	free(chain.ids);
	free(dir);
	return r;
}

/* Resolve @key to a regular file; the shared first half of head and get. */
static int local_resolve_file(struct local_store *ls, const char *key, char **path,
			      struct stat *sb)
{
	int r;

	*path = NULL;
	r = local_check_abort(ls);
	if (r < 0)
		return r;
	r = local_check_key(key, strlen(key));
	if (r < 0)
		return r;
	r = local_resolve(ls, key, strlen(key), path, sb, NULL);
	if (r == 0 && !S_ISREG(sb->st_mode)) {
		free(*path);
		*path = NULL;
		r = -ENOENT;
	}
	if (r < 0)
		mfs_set_error("local store: \"%s\": %s", key,
			      r == -ENOENT ? "no such file" : strerror(-r));
	return r;
}

static int local_head(struct mfs_store *st, const char *key, struct mfs_object *out)
{
	struct local_store *ls = to_local(st);
	struct stat sb;
	char *path = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	r = local_resolve_file(ls, key, &path, &sb);
	if (r < 0)
		goto out;
	out->key = strdup(key);
	if (!out->key) {
		mfs_set_error("local store: out of memory");
		r = -ENOMEM;
		goto out;
	}
	local_fill_object(out, &sb);
out:
	free(path);
	return r;
}

/*
 * Compare the file's current ETag with @want; -ESTALE when it moved. Called
 * after every pread() and before its bytes reach the sink: a writer updates
 * the timestamps before it changes the data, so bytes read after a change
 * are always followed by a stat that shows it.
 */
static int local_same_version(int fd, const char *key, const char *want)
{
	char etag[80];
	struct stat sb;

	if (fstat(fd, &sb) < 0) {
		mfs_set_error("local store: fstat \"%s\": %s", key, strerror(errno));
		return local_errno(errno);
	}
	local_etag(&sb, etag, sizeof(etag));
	if (strcmp(etag, want) != 0) {
		mfs_set_error("local store: \"%s\" changed during the read (ETag %s, now %s)", key,
			      want, etag);
		return -ESTALE;
	}
	return 0;
}

static int local_get(struct mfs_store *st, const char *key, const char *etag, uint64_t off,
		     uint64_t len, mfs_store_sink_fn sink, void *arg)
{
	struct local_store *ls = to_local(st);
	char cur[80], *path = NULL, *buf = NULL;
	uint64_t end, pos, size;
	struct stat sb;
	size_t want, bufsz;
	ssize_t n;
	int fd = -1, r;

	r = local_resolve_file(ls, key, &path, &sb);
	if (r < 0)
		goto out;
	fd = local_open_resolved(ls, path, O_RDONLY);
	if (fd < 0) {
		r = fd;
		fd = -1;
		mfs_set_error("local store: open \"%s\": %s", key, strerror(-r));
		goto out;
	}
	if (fstat(fd, &sb) < 0) {
		r = local_errno(errno);
		mfs_set_error("local store: fstat \"%s\": %s", key, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		r = -ENOENT;
		mfs_set_error("local store: \"%s\": not a regular file", key);
		goto out;
	}
	local_etag(&sb, cur, sizeof(cur));
	if (etag && etag[0] && strcmp(etag, cur) != 0) {
		r = -ESTALE;
		mfs_set_error("local store: \"%s\" has ETag %s, not %s", key, cur, etag);
		goto out;
	}

	size = (uint64_t)sb.st_size;
	end = len > UINT64_MAX - off ? UINT64_MAX : off + len;
	if (end > size)
		end = size;
	if (off >= end) {
		r = 0; /* past the end: nothing to deliver, as with a short read */
		goto out;
	}
	bufsz = end - off < LOCAL_CHUNK ? (size_t)(end - off) : LOCAL_CHUNK;
	buf = malloc(bufsz);
	if (!buf) {
		r = -ENOMEM;
		mfs_set_error("local store: out of memory reading \"%s\"", key);
		goto out;
	}

	/*
	 * Even without a pinned ETag one call serves one version: the bytes are
	 * checked against the version that was opened, so a file rewritten
	 * under the reader yields -ESTALE, never a mix of old and new.
	 */
	for (pos = off; pos < end;) {
		r = local_check_abort(ls);
		if (r < 0)
			goto out;
		want = end - pos < bufsz ? (size_t)(end - pos) : bufsz;
		n = pread(fd, buf, want, (off_t)pos);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = local_errno(errno);
			mfs_set_error("local store: read \"%s\" at %" PRIu64 ": %s", key, pos,
				      strerror(errno));
			goto out;
		}
		r = local_same_version(fd, key, cur);
		if (r < 0)
			goto out;
		if (n == 0)
			break; /* cannot happen while the version holds; be safe */
		r = sink(arg, buf, (size_t)n);
		if (r < 0)
			goto out;
		pos += (uint64_t)n;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(path);
	return r;
}

/* ---- writes ---- */

struct mfs_upload {
	char *key;
	int dfd;           /* the directory of the key */
	int fd;            /* the temporary file */
	const char *name;  /* last component of key */
	char tmpname[64];  /* named temporary file; "" while unnamed (O_TMPFILE) */
};

/*
 * Resolve the directory part of @key (the first @len bytes; 0: the root),
 * creating missing directories as mkdir -p would. *@out is malloc'd.
 */
static int local_mkdirs(struct local_store *ls, const char *key, size_t len, char **out)
{
	struct stat sb;
	char *parent = NULL, *path = NULL;
	size_t i, start = 0;
	int r;

	*out = NULL;
	r = local_resolve(ls, key, len, out, &sb, NULL);
	if (r != -ENOENT)
		goto check;
	/* Walk down from the root; create each component that is missing. */
	for (i = 0; i <= len; i++) {
		if (i < len && key[i] != '/')
			continue;
		free(*out);
		*out = NULL;
		r = local_resolve(ls, key, i, out, &sb, NULL);
		if (r == -ENOENT) {
			r = local_resolve(ls, key, start ? start - 1 : 0, &parent, &sb, NULL);
			if (r)
				goto out;
			path = path_join(parent, key + start, i - start);
			if (!path) {
				r = -ENOMEM;
				goto out;
			}
			if (mkdir(path, 0755) < 0 && errno != EEXIST) {
				r = local_errno(errno);
				goto out;
			}
			free(parent);
			free(path);
			parent = path = NULL;
			r = local_resolve(ls, key, i, out, &sb, NULL);
		}
		if (r || !S_ISDIR(sb.st_mode))
			goto check;
		start = i + 1;
	}
check:
	if (!r && !S_ISDIR(sb.st_mode))
		r = -ENOTDIR;
out:
	if (r) {
		free(*out);
		*out = NULL;
		mfs_set_error("local store: directory of \"%s\": %s", key, strerror(-r));
	}
	free(parent);
	free(path);
	return r;
}

static void upload_free(struct mfs_upload *u)
{
	if (u->fd >= 0)
		close(u->fd);
	if (u->tmpname[0] && u->dfd >= 0)
		(void)unlinkat(u->dfd, u->tmpname, 0);
	if (u->dfd >= 0)
		close(u->dfd);
	free(u->key);
	free(u);
}

static void tmp_name(char *out, size_t len)
{
	uint64_t v;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (uint64_t)getpid() ^ ((uint64_t)time(NULL) << 20) ^ (uint64_t)(uintptr_t)out;
	snprintf(out, len, "%s%016" PRIx64, UPLOAD_PREFIX, v);
}

static int local_upload_begin(struct mfs_store *st, const char *key,
			      const struct mfs_store_meta *meta, size_t n_meta,
			      struct mfs_upload **out)
{
	struct local_store *ls = to_local(st);
	struct mfs_upload *u = NULL;
	const char *slash;
	char *dir = NULL;
	int r;

	*out = NULL;
	r = local_check_abort(ls);
	if (!r)
		r = local_check_key(key, strlen(key));
	if (r)
		return r;
	u = calloc(1, sizeof(*u));
	if (!u || !(u->key = strdup(key))) {
		free(u);
		mfs_set_error("local store: out of memory");
		return -ENOMEM;
	}
	u->dfd = u->fd = -1;
	slash = strrchr(u->key, '/');
	u->name = slash ? slash + 1 : u->key;
	r = local_mkdirs(ls, key, slash ? (size_t)(slash - u->key) : 0, &dir);
	if (r)
		goto out;
	u->dfd = local_open_resolved(ls, dir, O_RDONLY | O_DIRECTORY);
	if (u->dfd < 0) {
		r = u->dfd;
		mfs_set_error("local store: open directory %s: %s", dir, strerror(-r));
		goto out;
	}
	u->fd = openat(u->dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (u->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		tmp_name(u->tmpname, sizeof(u->tmpname));
		u->fd = openat(u->dfd, u->tmpname, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (u->fd < 0)
			u->tmpname[0] = '\0';
	}
	if (u->fd < 0) {
		r = local_errno(errno);
		mfs_set_error("local store: temporary file in %s: %s", dir, strerror(errno));
		goto out;
	}
	*out = u;
	u = NULL;
out:
	if (u)
		upload_free(u);
	free(dir);
	return r;
}

static int local_upload_part(struct mfs_store *st, struct mfs_upload *u, unsigned part,
			     uint64_t off, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;
	int r;

	while (len) {
		r = local_check_abort(to_local(st));
		if (r)
			return r;
		n = pwrite(u->fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? local_errno(errno) : -EIO;
			mfs_set_error("local store: write \"%s\" at %" PRIu64 ": %s", u->key, off,
				      strerror(n < 0 ? errno : EIO));
			return r;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Put the temporary file in place of the key. */
static int local_upload_commit(struct mfs_upload *u, struct mfs_object *out)
{
	char proc[64];
	struct stat sb;

	if (!u->tmpname[0]) {
		tmp_name(u->tmpname, sizeof(u->tmpname));
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", u->fd);
		if (linkat(AT_FDCWD, proc, u->dfd, u->tmpname, AT_SYMLINK_FOLLOW) < 0) {
			u->tmpname[0] = '\0';
			goto fail;
		}
	}
	if (renameat(u->dfd, u->tmpname, u->dfd, u->name) < 0)
		goto fail;
	u->tmpname[0] = '\0';
	if (out) {
		memset(out, 0, sizeof(*out));
		if (fstat(u->fd, &sb) == 0)
			local_fill_object(out, &sb);
		out->key = strdup(u->key);
	}
	return 0;
fail:
	mfs_set_error("local store: put \"%s\" in place: %s", u->key, strerror(errno));
	return local_errno(errno);
}

static int local_upload_end(struct mfs_store *st, struct mfs_upload *u, int commit,
			    unsigned nparts, struct mfs_object *out, int *abort_err,
			    char *abort_why, size_t abort_why_len)
{
	int r = 0;

	if (commit) {
		r = local_check_abort(to_local(st));
		if (!r)
			r = local_upload_commit(u, out);
	}
	/* The temporary file goes with the upload: nothing to abort elsewhere. */
	if (abort_err)
		*abort_err = 1;
	if (abort_why && abort_why_len)
		abort_why[0] = '\0';
	upload_free(u);
	return r;
}

static int local_put(struct mfs_store *st, const char *key, const void *data, size_t len,
		     const struct mfs_store_meta *meta, size_t n_meta, struct mfs_object *out)
{
	struct mfs_upload *u;
	int r;

	r = local_upload_begin(st, key, meta, n_meta, &u);
	if (r)
		return r;
	r = len ? local_upload_part(st, u, 1, 0, data, len) : 0;
	return local_upload_end(st, u, !r, 1, out, NULL, NULL, 0) ?: r;
}

static int local_remove(struct mfs_store *st, const char *key)
{
	struct local_store *ls = to_local(st);
	size_t len = strlen(key);
	int dir = len && key[len - 1] == '/';
	const char *slash;
	char *parent = NULL, *path = NULL;
	struct stat sb;
	int r;

	r = local_check_abort(ls);
	if (!r)
		r = local_check_key(key, dir ? len - 1 : len);
	if (r)
		return r;
	if (dir)
		len--;
	slash = memrchr(key, '/', len);
	r = local_resolve(ls, key, slash ? (size_t)(slash - key) : 0, &parent, &sb, NULL);
	if (r == -ENOENT)
		return 0;
	if (r)
		goto out;
	path = path_join(parent, slash ? slash + 1 : key, slash ? len - (size_t)(slash + 1 - key)
								 : len);
	if (!path) {
		r = -ENOMEM;
		goto out;
	}
	if ((dir ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
		r = local_errno(errno);
out:
	if (r)
		mfs_set_error("local store: remove \"%s\": %s", key, strerror(-r));
	free(parent);
	free(path);
	return r;
}

static int local_check(struct mfs_store *st, char *msg, size_t msglen)
{
	struct local_store *ls = to_local(st);
	struct stat sb;
	int fd = -1, r;

	r = local_check_abort(ls);
	if (r < 0) {
		snprintf(msg, msglen, "local directory %s: store aborted", ls->root);
		return r;
	}
	if (stat(ls->root, &sb) < 0) {
		r = local_errno(errno);
		snprintf(msg, msglen, "local directory %s: %s (check the path)", ls->root,
			 strerror(errno));
		goto out;
	}
	if (!S_ISDIR(sb.st_mode)) {
		r = -ENOTDIR;
		snprintf(msg, msglen, "local directory %s: not a directory", ls->root);
		goto out;
	}
	/* Reading the entries needs r, reaching the files beneath needs x. */
	if (access(ls->root, R_OK | X_OK) < 0) {
		r = local_errno(errno);
		snprintf(msg, msglen, "local directory %s: %s (check its permissions)", ls->root,
			 strerror(errno));
		goto out;
	}
	fd = local_open_resolved(ls, ls->root, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		r = fd;
		fd = -1;
		snprintf(msg, msglen, "local directory %s: cannot open: %s", ls->root,
			 strerror(-r));
		goto out;
	}
	r = 0;
out:
	if (r < 0)
		mfs_set_error("%s", msg);
	if (fd >= 0)
		close(fd);
	return r;
}

static void local_abort(struct mfs_store *st)
{
	atomic_store_explicit(&to_local(st)->aborted, true, memory_order_release);
}

static void local_destroy(struct mfs_store *st)
{
	struct local_store *ls = to_local(st);

	if (ls->root_fd >= 0)
		close(ls->root_fd);
	free(ls->root);
	free(ls);
}

static const struct mfs_store_ops local_ops = {
	.name = "local",
	.list = local_list,
	.head = local_head,
	.get = local_get,
	.check = local_check,
	.put = local_put,
	.remove = local_remove,
	.upload_begin = local_upload_begin,
	.upload_part = local_upload_part,
	.upload_end = local_upload_end,
	.abort = local_abort,
	.destroy = local_destroy,
};

int mfs_local_store_open(const char *root, struct mfs_store **out, char *msg, size_t msglen)
{
	struct local_store *ls = NULL;
	int r;

	*out = NULL;
	ls = calloc(1, sizeof(*ls));
	if (!ls) {
		r = -ENOMEM;
		snprintf(msg, msglen, "local directory %s: out of memory", root);
		goto out;
	}
	ls->base.ops = &local_ops;
	ls->root_fd = -1;
	atomic_init(&ls->aborted, false);

	/*
	 * The caller already passes a realpath; resolving again costs little
	 * and makes the containment test of local_inside() exact.
	 */
	ls->root = realpath(root, NULL);
	if (!ls->root) {
		r = local_errno(errno);
		snprintf(msg, msglen, "local directory %s: %s", root, strerror(errno));
		goto out;
	}
	ls->root_len = strlen(ls->root);
	ls->root_fd = open(ls->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ls->root_fd < 0) {
		r = local_errno(errno);
		snprintf(msg, msglen, "local directory %s: %s", root,
			 errno == ENOTDIR ? "not a directory" : strerror(errno));
		goto out;
	}
	*out = &ls->base;
	ls = NULL;
	r = 0;
out:
	if (r < 0)
		mfs_set_error("%s", msg);
	if (ls)
		local_destroy(&ls->base);
	return r;
}
