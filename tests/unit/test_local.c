/*
 * test_local.c - the local-directory store answers like S3 would for the same
 * tree, returns exactly the bytes on disk, notices rewritten files and never
 * reaches outside its root.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../store/store.h"
#include "../../util/err.h"
#include "unit.h"

/* "ünïcode.txt", spelled in bytes so the source stays ASCII. */
#define UNICODE_NAME "\xc3\xbc" "n" "\xc3\xaf" "code.txt"
#define BIG_SIZE (2 * 1024 * 1024 + 12345) /* crosses the 1 MiB read chunk twice */

static char root[256];
static char outside[256];
static unsigned char *big;

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so a failure replays identically. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void path_in(char *out, size_t len, const char *base, const char *rel)
{
	snprintf(out, len, "%s/%s", base, rel);
}

static void write_file(const char *base, const char *rel, const void *data, size_t len)
{
	char p[512];
	FILE *f;

	path_in(p, sizeof(p), base, rel);
	f = fopen(p, "wb");
	CHECK_MSG(f != NULL, "fopen %s: %s", p, strerror(errno));
	if (!f)
		return;
	CHECK(fwrite(data, 1, len, f) == len);
	CHECK(fclose(f) == 0);
}

static void make_dir(const char *base, const char *rel)
{
	char p[512];

	path_in(p, sizeof(p), base, rel);
	CHECK_MSG(mkdir(p, 0755) == 0, "mkdir %s: %s", p, strerror(errno));
}

static void make_link(const char *target, const char *rel)
{
	char p[512];

	path_in(p, sizeof(p), root, rel);
	CHECK_MSG(symlink(target, p) == 0, "symlink %s: %s", p, strerror(errno));
}

static void build_tree(void)
{
	char p[512];
	size_t i;

	big = malloc(BIG_SIZE);
	CHECK(big != NULL);
	if (!big)
		exit(1);
	for (i = 0; i < BIG_SIZE; i++)
		big[i] = (unsigned char)(rng() >> 56);

	write_file(root, "a.txt", "hello\n", 6);
	write_file(root, "empty", "", 0);
	write_file(root, "Case", "upper", 5);
	write_file(root, "case", "lower", 5);
	write_file(root, "with space.csv", "x,y\n", 4);
	write_file(root, UNICODE_NAME, "u", 1);
	write_file(root, "a+b.csv", "plus", 4);
	write_file(root, "100%.csv", "pct", 3);
	write_file(root, "big.bin", big, BIG_SIZE);
	make_dir(root, "emptydir");
	make_dir(root, "nested");
	make_dir(root, "nested/x");
	make_dir(root, "nested/x/y");
	write_file(root, "nested/x/y/deep.bin", big, 1000);
	write_file(root, "nested/top.csv", "t", 1);

	/* Not regular files or directories: left out. */
	path_in(p, sizeof(p), root, "fifo");
	CHECK(mkfifo(p, 0644) == 0);
	make_link("missing-target", "dangling");

	/* Links that stay inside: followed. One relative, one absolute. */
	make_link("big.bin", "link_in");
	path_in(p, sizeof(p), root, "a.txt");
	make_link(p, "link_abs_in");
	make_link("nested", "link_dir");

	/* A link back to an ancestor would make the tree infinite. */
	make_link("..", "nested/loop");
	make_link("../../nested", "nested/x/loop2");

	/* Links that leave the root: as if absent. */
	write_file(outside, "secret", "secret", 6);
	make_link(outside, "escape");
	path_in(p, sizeof(p), outside, "secret");
	make_link(p, "escape_file");
	make_link("../", "up");
}

struct collect {
	unsigned char *data;
	size_t len, cap;
	int calls;
	int fail_after;  /* return -EPIPE on this call (1-based), 0: never */
	const char *rewrite; /* append to this file on the first call */
};

static int collect_sink(void *arg, const void *data, size_t len)
{
	struct collect *c = arg;

	c->calls++;
	if (c->fail_after && c->calls == c->fail_after)
		return -EPIPE;
	if (c->rewrite && c->calls == 1) {
		FILE *f = fopen(c->rewrite, "ab");

		CHECK(f != NULL);
		if (f) {
			CHECK(fputc('!', f) == '!');
			CHECK(fclose(f) == 0);
		}
	}
	if (c->len + len > c->cap) {
		size_t cap = (c->len + len) * 2;
		unsigned char *d = realloc(c->data, cap);

		if (!d)
			return -ENOMEM;
		c->data = d;
		c->cap = cap;
	}
	memcpy(c->data + c->len, data, len);
	c->len += len;
	return 0;
}

static int contains(char **arr, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(arr[i], s) == 0)
			return 1;
	return 0;
}

static const struct mfs_object *find_obj(const struct mfs_listing *l, const char *key)
{
	size_t i;

	for (i = 0; i < l->n_objects; i++)
		if (strcmp(l->objects[i].key, key) == 0)
			return &l->objects[i];
	return NULL;
}

static int is_hex32(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 32;
}

static void test_list_root(struct mfs_store *st)
{
	static const char *const want_obj[] = {
		"100%.csv", "Case", "a+b.csv", "a.txt", "big.bin", "case", "empty",
		"link_abs_in", "link_in", "with space.csv", UNICODE_NAME,
	};
	static const char *const want_pre[] = { "emptydir/", "link_dir/", "nested/" };
	struct mfs_listing l;
	const struct mfs_object *o;
	struct stat sb;
	char p[512];
	size_t i;
	int r;

	r = mfs_store_list(st, "", &l);
	CHECK_MSG(r == 0, "list root: %d %s", r, mfs_last_error());
	CHECK_MSG(l.n_objects == sizeof(want_obj) / sizeof(want_obj[0]), "%zu objects",
		  l.n_objects);
	for (i = 0; i < l.n_objects && i < sizeof(want_obj) / sizeof(want_obj[0]); i++)
		CHECK_MSG(strcmp(l.objects[i].key, want_obj[i]) == 0, "object %zu: %s, want %s", i,
			  l.objects[i].key, want_obj[i]);
	CHECK_MSG(l.n_prefixes == 3, "%zu prefixes", l.n_prefixes);
	for (i = 0; i < l.n_prefixes && i < 3; i++)
		CHECK_MSG(strcmp(l.prefixes[i], want_pre[i]) == 0, "prefix %zu: %s", i,
			  l.prefixes[i]);
	for (i = 0; i < l.n_objects; i++) {
		CHECK(is_hex32(l.objects[i].etag));
		CHECK(l.objects[i].storage_class[0] == '\0');
		if (i > 0)
			CHECK(strcmp(l.objects[i - 1].key, l.objects[i].key) < 0);
	}

	o = find_obj(&l, "empty");
	CHECK(o && o->size == 0);
	o = find_obj(&l, "link_in");
	CHECK(o && o->size == BIG_SIZE);
	o = find_obj(&l, "big.bin");
	CHECK(o && o->size == BIG_SIZE);
	path_in(p, sizeof(p), root, "big.bin");
	CHECK(stat(p, &sb) == 0);
	CHECK(o && o->mtime.tv_sec == sb.st_mtim.tv_sec && o->mtime.tv_nsec == sb.st_mtim.tv_nsec);
	/* Different files, different ETags; a link shares its target's. */
	CHECK(strcmp(find_obj(&l, "Case")->etag, find_obj(&l, "case")->etag) != 0);
	CHECK(strcmp(find_obj(&l, "link_in")->etag, find_obj(&l, "big.bin")->etag) == 0);

	CHECK(!find_obj(&l, "fifo"));
	CHECK(!find_obj(&l, "dangling"));
	CHECK(!find_obj(&l, "escape_file"));
	CHECK(!contains(l.prefixes, l.n_prefixes, "escape/"));
	CHECK(!contains(l.prefixes, l.n_prefixes, "up/"));
	mfs_listing_free(&l);
	CHECK(l.objects == NULL && l.n_objects == 0 && l.prefixes == NULL);
}

static void test_list_nested(struct mfs_store *st)
{
	struct mfs_listing l;
	int r;

	r = mfs_store_list(st, "nested/", &l);
	CHECK(r == 0);
	CHECK(l.n_objects == 1 && strcmp(l.objects[0].key, "nested/top.csv") == 0);
	/* nested/loop -> .. is a cycle and left out. */
	CHECK_MSG(l.n_prefixes == 1 && strcmp(l.prefixes[0], "nested/x/") == 0, "%zu prefixes",
		  l.n_prefixes);
	mfs_listing_free(&l);

	r = mfs_store_list(st, "nested/x/", &l);
	CHECK(r == 0);
	CHECK(l.n_objects == 0);
	/* nested/x/loop2 -> ../../nested is a cycle too. */
	CHECK_MSG(l.n_prefixes == 1 && strcmp(l.prefixes[0], "nested/x/y/") == 0,
		  "%zu prefixes", l.n_prefixes);
	mfs_listing_free(&l);

	r = mfs_store_list(st, "nested/x/y/", &l);
	CHECK(r == 0);
	CHECK(l.n_objects == 1 && strcmp(l.objects[0].key, "nested/x/y/deep.bin") == 0);
	CHECK(l.n_objects == 1 && l.objects[0].size == 1000);
	CHECK(l.n_prefixes == 0);
	mfs_listing_free(&l);

	/* Through a link to a directory inside the root. */
	r = mfs_store_list(st, "link_dir/", &l);
	CHECK(r == 0);
	CHECK(l.n_objects == 1 && strcmp(l.objects[0].key, "link_dir/top.csv") == 0);
	CHECK(l.n_prefixes == 1 && strcmp(l.prefixes[0], "link_dir/x/") == 0);
	mfs_listing_free(&l);

	/* Empty, missing and not-a-directory prefixes list empty, like S3. */
	r = mfs_store_list(st, "emptydir/", &l);
	CHECK(r == 0 && l.n_objects == 0 && l.n_prefixes == 0);
	mfs_listing_free(&l);
	r = mfs_store_list(st, "missing/", &l);
	CHECK(r == 0 && l.n_objects == 0 && l.n_prefixes == 0);
	mfs_listing_free(&l);
	r = mfs_store_list(st, "missing/deeper/", &l);
	CHECK(r == 0 && l.n_objects == 0 && l.n_prefixes == 0);
	mfs_listing_free(&l);
	r = mfs_store_list(st, "a.txt/", &l);
	CHECK(r == 0 && l.n_objects == 0 && l.n_prefixes == 0);
	mfs_listing_free(&l);
	r = mfs_store_list(st, "escape/", &l);
	CHECK(r == 0 && l.n_objects == 0 && l.n_prefixes == 0);
	mfs_listing_free(&l);
	r = mfs_store_list(st, "nested/loop/", &l);
	CHECK(r == 0 && l.n_objects == 0 && l.n_prefixes == 0);
	mfs_listing_free(&l);
}

static void test_head(struct mfs_store *st)
{
	struct mfs_object o, o2;
	struct stat sb;
	char p[512];
	int r;

	r = mfs_store_head(st, "a.txt", &o);
	CHECK_MSG(r == 0, "head: %d %s", r, mfs_last_error());
	CHECK(o.key && strcmp(o.key, "a.txt") == 0);
	CHECK(o.size == 6);
	path_in(p, sizeof(p), root, "a.txt");
	CHECK(stat(p, &sb) == 0);
	CHECK(o.mtime.tv_sec == sb.st_mtim.tv_sec && o.mtime.tv_nsec == sb.st_mtim.tv_nsec);
	CHECK(is_hex32(o.etag));
	r = mfs_store_head(st, "a.txt", &o2);
	CHECK(r == 0 && strcmp(o.etag, o2.etag) == 0); /* stable */
	mfs_object_free(&o2);
	r = mfs_store_head(st, "link_abs_in", &o2);
	CHECK(r == 0 && strcmp(o.etag, o2.etag) == 0 && o2.size == 6);
	mfs_object_free(&o2);
	mfs_object_free(&o);

	r = mfs_store_head(st, "nested/x/y/deep.bin", &o);
	CHECK(r == 0 && o.size == 1000);
	mfs_object_free(&o);
	r = mfs_store_head(st, "link_dir/x/y/deep.bin", &o);
	CHECK(r == 0 && o.size == 1000);
	mfs_object_free(&o);
	r = mfs_store_head(st, UNICODE_NAME, &o);
	CHECK(r == 0 && o.size == 1);
	mfs_object_free(&o);
	r = mfs_store_head(st, "empty", &o);
	CHECK(r == 0 && o.size == 0);
	mfs_object_free(&o);

	mfs_clear_error();
	CHECK(mfs_store_head(st, "missing", &o) == -ENOENT);
	CHECK(mfs_last_error()[0] != '\0');
	CHECK(mfs_store_head(st, "emptydir", &o) == -ENOENT);
	CHECK(mfs_store_head(st, "nested", &o) == -ENOENT);
	CHECK(mfs_store_head(st, "a.txt/x", &o) == -ENOENT);
	CHECK(mfs_store_head(st, "fifo", &o) == -ENOENT);
	CHECK(mfs_store_head(st, "dangling", &o) == -ENOENT);
	CHECK(mfs_store_head(st, "A.TXT", &o) == -ENOENT);
}

static void test_escape(struct mfs_store *st)
{
	static const char *const bad[] = {
		"../x", "a/../../x", "/etc/passwd", "./a.txt", "a.txt/.", "nested//top.csv",
		"", "nested/", "..", ".", "nested/x/..", "nested/../a.txt",
	};
	struct mfs_listing l;
	struct mfs_object o;
	struct collect c = { 0 };
	size_t i;
	int r;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mfs_clear_error();
		r = mfs_store_head(st, bad[i], &o);
		CHECK_MSG(r == -EINVAL, "head \"%s\": %d", bad[i], r);
		CHECK(mfs_last_error()[0] != '\0');
		r = st->ops->get(st, bad[i], NULL, 0, 10, collect_sink, &c);
		CHECK_MSG(r == -EINVAL, "get \"%s\": %d", bad[i], r);
	}
	CHECK(c.calls == 0);

	CHECK(mfs_store_list(st, "../", &l) == -EINVAL);
	CHECK(mfs_store_list(st, "/", &l) == -EINVAL);
	CHECK(mfs_store_list(st, "/etc/", &l) == -EINVAL);
	CHECK(mfs_store_list(st, "nested/../../", &l) == -EINVAL);
	CHECK(mfs_store_list(st, "nested", &l) == -EINVAL);
	CHECK(mfs_store_list(st, "a//", &l) == -EINVAL);

	/* Through links that leave the root. */
	CHECK(mfs_store_head(st, "escape/secret", &o) == -ENOENT);
	CHECK(mfs_store_head(st, "escape_file", &o) == -ENOENT);
	CHECK(mfs_store_head(st, "up/a.txt", &o) == -ENOENT);
	r = st->ops->get(st, "escape/secret", NULL, 0, 10, collect_sink, &c);
	CHECK(r == -ENOENT && c.calls == 0);
	/* A cycle resolves to nothing, as it is not listed. */
	CHECK(mfs_store_head(st, "nested/loop/a.txt", &o) == -ENOENT);
}

static void test_get(struct mfs_store *st)
{
	struct mfs_object o;
	struct collect c;
	unsigned char *buf;
	size_t got;
	int i, r;

	buf = malloc(BIG_SIZE);
	CHECK(buf != NULL);
	if (!buf)
		return;
	CHECK(mfs_store_head(st, "big.bin", &o) == 0);

	/* The whole object, in more than one sink call. */
	memset(&c, 0, sizeof(c));
	r = st->ops->get(st, "big.bin", o.etag, 0, UINT64_MAX, collect_sink, &c);
	CHECK_MSG(r == 0, "get: %d %s", r, mfs_last_error());
	CHECK(c.len == BIG_SIZE && memcmp(c.data, big, BIG_SIZE) == 0);
	CHECK(c.calls >= 3);
	free(c.data);

	/* Random ranges, pinned and unpinned. */
	for (i = 0; i < 200; i++) {
		uint64_t off = rng() % (BIG_SIZE + 100);
		size_t len = (size_t)(rng() % (i % 10 == 0 ? BIG_SIZE : 70000));
		size_t want = off >= BIG_SIZE ? 0 : (len < BIG_SIZE - off ? len : BIG_SIZE - off);

		r = mfs_store_get_range(st, i % 2 ? "big.bin" : "link_in", i % 3 ? o.etag : NULL,
					off, len, buf, &got);
		CHECK_MSG(r == 0, "get_range %" PRIu64 "+%zu: %d %s", off, len, r,
			  mfs_last_error());
		CHECK_MSG(got == want, "get_range %" PRIu64 "+%zu: got %zu, want %zu", off, len,
			  got, want);
		if (got == want && want > 0)
			CHECK_MSG(memcmp(buf, big + off, want) == 0,
				  "bytes differ at %" PRIu64 "+%zu", off, len);
	}

	/* Past the end: nothing. Straddling it: short. */
	r = mfs_store_get_range(st, "big.bin", o.etag, BIG_SIZE, 100, buf, &got);
	CHECK(r == 0 && got == 0);
	r = mfs_store_get_range(st, "big.bin", o.etag, (uint64_t)BIG_SIZE * 4, 100, buf, &got);
	CHECK(r == 0 && got == 0);
	r = mfs_store_get_range(st, "big.bin", o.etag, BIG_SIZE - 10, 100, buf, &got);
	CHECK(r == 0 && got == 10 && memcmp(buf, big + BIG_SIZE - 10, 10) == 0);
	r = mfs_store_get_range(st, "empty", NULL, 0, 100, buf, &got);
	CHECK(r == 0 && got == 0);
	memset(&c, 0, sizeof(c));
	r = st->ops->get(st, "big.bin", NULL, 5, 0, collect_sink, &c);
	CHECK(r == 0 && c.calls == 0);
	r = st->ops->get(st, "big.bin", NULL, UINT64_MAX - 1, UINT64_MAX, collect_sink, &c);
	CHECK(r == 0 && c.calls == 0);
	r = mfs_store_get_range(st, "with space.csv", NULL, 0, 100, buf, &got);
	CHECK(r == 0 && got == 4 && memcmp(buf, "x,y\n", 4) == 0);
	r = mfs_store_get_range(st, "a+b.csv", NULL, 1, 2, buf, &got);
	CHECK(r == 0 && got == 2 && memcmp(buf, "lu", 2) == 0);
	r = mfs_store_get_range(st, "100%.csv", NULL, 0, 3, buf, &got);
	CHECK(r == 0 && got == 3 && memcmp(buf, "pct", 3) == 0);

	/* The sink's error stops the transfer and is returned. */
	memset(&c, 0, sizeof(c));
	c.fail_after = 2;
	r = st->ops->get(st, "big.bin", NULL, 0, BIG_SIZE, collect_sink, &c);
	CHECK(r == -EPIPE && c.calls == 2);
	free(c.data);

	/* Errors. */
	r = mfs_store_get_range(st, "missing", NULL, 0, 10, buf, &got);
	CHECK(r == -ENOENT && got == 0);
	r = mfs_store_get_range(st, "emptydir", NULL, 0, 10, buf, &got);
	CHECK(r == -ENOENT);
	memset(&c, 0, sizeof(c));
	r = st->ops->get(st, "big.bin", "0123456789abcdef0123456789abcdef", 0, 10, collect_sink,
			 &c);
	CHECK(r == -ESTALE && c.calls == 0);

	mfs_object_free(&o);
	free(buf);
}

/* Set @rel's mtime to @sec.@nsec, to control what the ETag sees. */
static void set_mtime(const char *rel, time_t sec, long nsec)
{
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };
	char p[512];

	path_in(p, sizeof(p), root, rel);
	CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0);
}

static void test_stale(struct mfs_store *st)
{
	struct mfs_object o1, o2, o3;
	struct collect c;
	char p[512], tmp[512];
	unsigned char b[16];
	size_t got;
	int r;

	/* Same size, same second, another nanosecond: a new ETag. */
	write_file(root, "v.txt", "version-1", 9);
	set_mtime("v.txt", 1700000000, 100);
	CHECK(mfs_store_head(st, "v.txt", &o1) == 0);
	write_file(root, "v.txt", "version-2", 9);
	set_mtime("v.txt", 1700000000, 200);
	CHECK(mfs_store_head(st, "v.txt", &o2) == 0);
	CHECK(o1.size == o2.size && o1.mtime.tv_sec == o2.mtime.tv_sec);
	CHECK(strcmp(o1.etag, o2.etag) != 0);
	r = mfs_store_get_range(st, "v.txt", o1.etag, 0, sizeof(b), b, &got);
	CHECK(r == -ESTALE && got == 0);
	r = mfs_store_get_range(st, "v.txt", o2.etag, 0, sizeof(b), b, &got);
	CHECK(r == 0 && got == 9 && memcmp(b, "version-2", 9) == 0);

	/* Replaced by rename with identical size and times: the inode decides. */
	write_file(root, "v.tmp", "version-3", 9);
	set_mtime("v.tmp", 1700000000, 200);
	path_in(tmp, sizeof(tmp), root, "v.tmp");
	path_in(p, sizeof(p), root, "v.txt");
	CHECK(rename(tmp, p) == 0);
	CHECK(mfs_store_head(st, "v.txt", &o3) == 0);
	CHECK(strcmp(o3.etag, o2.etag) != 0);
	r = mfs_store_get_range(st, "v.txt", o2.etag, 0, sizeof(b), b, &got);
	CHECK(r == -ESTALE);
	mfs_object_free(&o1);
	mfs_object_free(&o2);
	mfs_object_free(&o3);

	/* Rewritten while it is read: the read fails rather than mix versions. */
	write_file(root, "grow.bin", big, BIG_SIZE);
	CHECK(mfs_store_head(st, "grow.bin", &o1) == 0);
	path_in(p, sizeof(p), root, "grow.bin");
	memset(&c, 0, sizeof(c));
	c.rewrite = p;
	r = st->ops->get(st, "grow.bin", o1.etag, 0, BIG_SIZE, collect_sink, &c);
	CHECK_MSG(r == -ESTALE, "get during rewrite: %d", r);
	CHECK(c.calls == 1); /* nothing after the change reached the sink */
	free(c.data);
	/* Unpinned too: one call serves one version. */
	memset(&c, 0, sizeof(c));
	c.rewrite = p;
	r = st->ops->get(st, "grow.bin", NULL, 0, BIG_SIZE, collect_sink, &c);
	CHECK(r == -ESTALE && c.calls == 1);
	free(c.data);
	mfs_object_free(&o1);
}

struct reader_arg {
	struct mfs_store *st;
	uint64_t seed;
	int failures;
};

static void *reader(void *p)
{
	struct reader_arg *a = p;
	unsigned char *buf = malloc(200000);
	uint64_t s = a->seed;
	size_t got;
	int i;

	if (!buf) {
		a->failures++;
		return NULL;
	}
	for (i = 0; i < 100; i++) {
		uint64_t off, len;

		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		off = (s >> 20) % BIG_SIZE;
		len = (s >> 8) % 200000;
		if (mfs_store_get_range(a->st, "big.bin", NULL, off, len, buf, &got) != 0)
			a->failures++;
		else if (got != (len < BIG_SIZE - off ? len : BIG_SIZE - off) ||
			 memcmp(buf, big + off, got) != 0)
			a->failures++;
	}
	free(buf);
	return NULL;
}

static void test_threads(struct mfs_store *st)
{
	struct reader_arg args[8];
	pthread_t th[8];
	int i;

	for (i = 0; i < 8; i++) {
		args[i].st = st;
		args[i].seed = (uint64_t)i * 7919 + 1;
		args[i].failures = 0;
		CHECK(pthread_create(&th[i], NULL, reader, &args[i]) == 0);
	}
	for (i = 0; i < 8; i++) {
		CHECK(pthread_join(th[i], NULL) == 0);
		CHECK_MSG(args[i].failures == 0, "reader %d: %d failures", i, args[i].failures);
	}
}

static void test_open_check(void)
{
	struct mfs_store *st = NULL;
	char msg[768], dir[512], p[512];
	int r;

	msg[0] = '\0';
	r = mfs_local_store_open("/nonexistent/medallionfs-test", &st, msg, sizeof(msg));
	CHECK(r == -ENOENT && st == NULL);
	CHECK(strstr(msg, "/nonexistent/medallionfs-test") != NULL);

	path_in(p, sizeof(p), root, "a.txt");
	msg[0] = '\0';
	r = mfs_local_store_open(p, &st, msg, sizeof(msg));
	CHECK(r < 0 && st == NULL);
	CHECK_MSG(strstr(msg, "not a directory") != NULL, "%s", msg);

	/* Check notices a root that went away after open. */
	snprintf(dir, sizeof(dir), "%s/gone", outside);
	CHECK(mkdir(dir, 0755) == 0);
	r = mfs_local_store_open(dir, &st, msg, sizeof(msg));
	CHECK(r == 0 && st != NULL);
	if (!st)
		return;
	CHECK(strcmp(st->ops->name, "local") == 0);
	CHECK(mfs_store_check(st, msg, sizeof(msg)) == 0);
	CHECK(rmdir(dir) == 0);
	msg[0] = '\0';
	CHECK(mfs_store_check(st, msg, sizeof(msg)) == -ENOENT);
	CHECK_MSG(strstr(msg, dir) != NULL, "%s", msg);
	CHECK(strchr(msg, '\n') == NULL);
	mfs_store_destroy(st);
	mfs_store_destroy(NULL);
}

static void test_abort(struct mfs_store *st)
{
	struct mfs_listing l;
	struct mfs_object o;
	unsigned char b[4];
	char msg[256];
	size_t got;

	CHECK(mfs_store_check(st, msg, sizeof(msg)) == 0);
	mfs_store_abort(st);
	CHECK(mfs_store_list(st, "", &l) == -ECANCELED);
	CHECK(mfs_store_head(st, "a.txt", &o) == -ECANCELED);
	CHECK(mfs_store_get_range(st, "a.txt", NULL, 0, 4, b, &got) == -ECANCELED);
	CHECK(mfs_store_check(st, msg, sizeof(msg)) == -ECANCELED);
	mfs_store_abort(st); /* twice is fine */
}

/* Read a whole file of the tree; NULL when missing. Caller frees. */
static char *slurp(const char *rel, size_t *len)
{
	char path[512];
	char *buf = NULL;
	struct stat sb;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fstat(fileno(f), &sb) == 0 && (buf = malloc((size_t)sb.st_size + 1)))
		*len = fread(buf, 1, (size_t)sb.st_size, f);
	fclose(f);
	return buf;
}

/* Uploads: parts in any order at their offsets, all or nothing, no litter. */
static void test_writes(struct mfs_store *st)
{
	struct mfs_upload *u = NULL;
	struct mfs_object o = { 0 };
	struct mfs_listing l = { 0 };
	size_t len = 0, i;
	char *got;
	int r, aerr = 0;

	r = st->ops->upload_begin(st, "w/new/deep/obj.bin", NULL, 0, &u);
	CHECK_MSG(r == 0, "%s", mfs_last_error());
	if (r)
		return;
	CHECK(st->ops->upload_part(st, u, 2, 1000, big + 1000, 2000) == 0);
	CHECK(st->ops->upload_part(st, u, 1, 0, big, 1000) == 0);
	CHECK(slurp("w/new/deep/obj.bin", &len) == NULL); /* not before commit */
	CHECK(mfs_store_list(st, "w/new/deep/", &l) == 0 && l.n_objects == 0);
	mfs_listing_free(&l);
	r = st->ops->upload_end(st, u, 1, 2, &o, &aerr, NULL, 0);
	CHECK_MSG(r == 0, "%s", mfs_last_error());
	CHECK(aerr == 1);
	CHECK(o.size == 3000 && o.etag[0] && o.key && strcmp(o.key, "w/new/deep/obj.bin") == 0);
	got = slurp("w/new/deep/obj.bin", &len);
	CHECK(got && len == 3000 && memcmp(got, big, 3000) == 0);
	free(got);
	mfs_object_free(&o);

	/* Aborted: nothing appears, the old object stays. */
	CHECK(st->ops->upload_begin(st, "w/new/deep/obj.bin", NULL, 0, &u) == 0);
	CHECK(st->ops->upload_part(st, u, 1, 0, "xyz", 3) == 0);
	CHECK(st->ops->upload_end(st, u, 0, 1, NULL, NULL, NULL, 0) == 0);
	got = slurp("w/new/deep/obj.bin", &len);
	CHECK(got && len == 3000);
	free(got);
	CHECK(mfs_store_list(st, "w/new/deep/", &l) == 0);
	CHECK(l.n_objects == 1 && l.n_prefixes == 0);
	for (i = 0; i < l.n_objects; i++)
		CHECK(strstr(l.objects[i].key, ".mfs-upload-") == NULL);
	mfs_listing_free(&l);

	/* put: empty and small, replacing. */
	CHECK(st->ops->put(st, "w/empty", NULL, 0, NULL, 0, NULL) == 0);
	got = slurp("w/empty", &len);
	CHECK(got && len == 0);
	free(got);
	CHECK(st->ops->put(st, "w/new/deep/obj.bin", "new", 3, NULL, 0, &o) == 0);
	CHECK(o.size == 3);
	mfs_object_free(&o);
	got = slurp("w/new/deep/obj.bin", &len);
	CHECK(got && len == 3 && memcmp(got, "new", 3) == 0);
	free(got);
	CHECK(st->ops->put(st, "../escape", "x", 1, NULL, 0, NULL) == -EINVAL);

	/* remove: files, then directories once empty; a missing key is fine. */
	CHECK(mfs_store_remove(st, "w/new/deep/") == -ENOTEMPTY);
	CHECK(mfs_store_remove(st, "w/new/deep/obj.bin") == 0);
	CHECK(mfs_store_remove(st, "w/new/deep/obj.bin") == 0);
	CHECK(mfs_store_remove(st, "w/new/deep/") == 0);
	CHECK(mfs_store_remove(st, "w/new/") == 0);
	CHECK(mfs_store_remove(st, "w/empty") == 0);
	CHECK(mfs_store_remove(st, "w/") == 0);
	CHECK(mfs_store_list(st, "w/", &l) == 0 && l.n_objects == 0 && l.n_prefixes == 0);
	mfs_listing_free(&l);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	struct mfs_store *st = NULL;
	char msg[256];
	int r;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(root, sizeof(root), "%s/mfs-local-XXXXXX", tmp);
	snprintf(outside, sizeof(outside), "%s/mfs-outside-XXXXXX", tmp);
	if (!mkdtemp(root) || !mkdtemp(outside)) {
		perror("mkdtemp");
		return 1;
	}
	/* The store compares against the real path; so must the absolute links. */
	{
		char *real = realpath(root, NULL);

		CHECK(real != NULL);
		if (real) {
			snprintf(root, sizeof(root), "%s", real);
			free(real);
		}
		real = realpath(outside, NULL);
		CHECK(real != NULL);
		if (real) {
			snprintf(outside, sizeof(outside), "%s", real);
			free(real);
		}
	}
	build_tree();

	r = mfs_local_store_open(root, &st, msg, sizeof(msg));
	CHECK_MSG(r == 0, "open: %s", msg);
	if (r == 0) {
		CHECK(mfs_store_check(st, msg, sizeof(msg)) == 0);
		test_list_root(st);
		test_list_nested(st);
		test_head(st);
		test_escape(st);
		test_get(st);
		test_threads(st);
		test_writes(st);
		test_stale(st);
		test_abort(st);
		mfs_store_destroy(st);
	}
	test_open_check();

	CHECK(nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
	CHECK(nftw(outside, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
	free(big);
	return unit_done("local");
}
