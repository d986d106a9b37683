/*
 * nodes.c - inode table with lookup-count lifetime (see nodes.h).
 */
#include "nodes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_BUCKETS 1024

double mfs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t hash_name(uint64_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ULL ^ parent;

	for (; *name; name++) {
		h ^= (unsigned char)*name;
		h *= 1099511628211ULL;
	}
	return h;
}

int mfs_nodes_init(struct mfs_nodes *t)
{
	memset(t, 0, sizeof(*t));
	t->nbuckets = INITIAL_BUCKETS;
	t->by_ino = calloc(t->nbuckets, sizeof(*t->by_ino));
	t->by_name = calloc(t->nbuckets, sizeof(*t->by_name));
	if (!t->by_ino || !t->by_name) {
		free(t->by_ino);
		free(t->by_name);
		return -ENOMEM;
	}
	t->next_ino = 2; /* 1 is FUSE_ROOT_ID, inserted by the caller */
	return pthread_mutex_init(&t->lock, NULL) ? -ENOMEM : 0;
}

static void node_free(struct mfs_nodes *t, struct mfs_node *n)
{
	if (n->list && t->put_list)
		t->put_list(n->list);
	free(n->mat_schema);
	free(n->mat_failed);
	free(n->mat_lineage);
	free(n->kids);
	free(n->name);
	free(n->key);
	free(n);
}

void mfs_nodes_destroy(struct mfs_nodes *t)
{
	size_t i;

	for (i = 0; i < t->nbuckets; i++) {
		struct mfs_node *n = t->by_ino[i], *next;

		for (; n; n = next) {
			next = n->next_ino;
			node_free(t, n);
		}
	}
	free(t->by_ino);
	free(t->by_name);
	pthread_mutex_destroy(&t->lock);
}

struct mfs_node *mfs_nodes_get(struct mfs_nodes *t, uint64_t ino)
{
	struct mfs_node *n = t->by_ino[ino % t->nbuckets];

	while (n && n->ino != ino)
		n = n->next_ino;
	return n;
}

struct mfs_node *mfs_nodes_child(struct mfs_nodes *t, struct mfs_node *parent, const char *name)
{
	struct mfs_node *n = t->by_name[hash_name(parent->ino, name) % t->nbuckets];

	while (n && !(n->parent == parent && strcmp(n->name, name) == 0))
		n = n->next_name;
	return n;
}

static void insert(struct mfs_nodes *t, struct mfs_node *n)
{
	size_t bi = n->ino % t->nbuckets;

	n->next_ino = t->by_ino[bi];
	t->by_ino[bi] = n;
	if (n->parent && !n->detached) {
		size_t bn = hash_name(n->parent->ino, n->name) % t->nbuckets;

		n->next_name = t->by_name[bn];
		t->by_name[bn] = n;
	}
	t->count++;
}

/* Double the tables when chains get long; rehash in place. */
static void maybe_grow(struct mfs_nodes *t)
{
	struct mfs_node **ino, **name;
	size_t nb = t->nbuckets * 2, i;

	if (t->count < t->nbuckets * 2)
		return;
	ino = calloc(nb, sizeof(*ino));
	name = calloc(nb, sizeof(*name));
	if (!ino || !name) {
		/* Longer chains are slower, not wrong: keep going. */
		free(ino);
		free(name);
		return;
	}
	for (i = 0; i < t->nbuckets; i++) {
		struct mfs_node *n = t->by_ino[i], *next;

		for (; n; n = next) {
			size_t b = n->ino % nb;

			next = n->next_ino;
			n->next_ino = ino[b];
			ino[b] = n;
			n->next_name = NULL;
			if (n->parent && !n->detached) {
				b = hash_name(n->parent->ino, n->name) % nb;
				n->next_name = name[b];
				name[b] = n;
			}
		}
	}
	free(t->by_ino);
	free(t->by_name);
	t->by_ino = ino;
	t->by_name = name;
	t->nbuckets = nb;
}

static void unlink_name(struct mfs_nodes *t, struct mfs_node *n);
static void maybe_free(struct mfs_nodes *t, struct mfs_node *n);

struct mfs_node *mfs_nodes_ensure(struct mfs_nodes *t, struct mfs_node *parent, const char *name,
				  enum mfs_node_kind kind, const char *key)
{
	struct mfs_node *n = parent ? mfs_nodes_child(t, parent, name) : NULL;
	struct mfs_node *old = NULL;

	if (n) {
		if (n->kind == kind && (!key || !n->key || strcmp(key, n->key) == 0))
			return n;
		old = n;
		/*
		 * A key became a prefix or back, or a silver name now comes from
		 * another object: the kernel must see a new inode (a file type or
		 * content never changes under an inode number). The old
		 * node leaves the name index and lives until it is forgotten.
		 */
		unlink_name(t, n);
		n->detached = 1;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->name = strdup(name);
	n->key = key ? strdup(key) : NULL;
	if (!n->name || (key && !n->key)) {
		node_free(t, n);
		return NULL;
	}
	n->kind = kind;
	n->ino = parent ? t->next_ino++ : 1;
	n->parent = parent;
	if (parent)
		parent->refs++;
	maybe_grow(t);
	insert(t, n);
	if (old)
		maybe_free(t, old);
	return n;
}

static void unlink_name(struct mfs_nodes *t, struct mfs_node *n)
{
	struct mfs_node **pp;

	if (!n->parent || n->detached)
		return;
	pp = &t->by_name[hash_name(n->parent->ino, n->name) % t->nbuckets];
	while (*pp && *pp != n)
		pp = &(*pp)->next_name;
	if (*pp)
		*pp = n->next_name;
}

static void unlink_node(struct mfs_nodes *t, struct mfs_node *n)
{
	struct mfs_node **pp = &t->by_ino[n->ino % t->nbuckets];

	while (*pp && *pp != n)
		pp = &(*pp)->next_ino;
	if (*pp)
		*pp = n->next_ino;
	unlink_name(t, n);
	t->count--;
}

/* Free @n and walk up while parents lose their last reference. */
static void maybe_free(struct mfs_nodes *t, struct mfs_node *n)
{
	while (n && !n->fixed && n->nlookup == 0 && n->refs == 0) {
		struct mfs_node *parent = n->parent;

		unlink_node(t, n);
		node_free(t, n);
		if (!parent)
			break;
		parent->refs--;
		n = parent;
	}
}

void mfs_nodes_forget(struct mfs_nodes *t, struct mfs_node *n, uint64_t nlookup)
{
	n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
	maybe_free(t, n);
}

void mfs_nodes_detach(struct mfs_nodes *t, struct mfs_node *n)
{
	unlink_name(t, n);
	n->detached = 1;
}

void mfs_nodes_unref(struct mfs_nodes *t, struct mfs_node *n)
{
	if (n->refs)
		n->refs--;
	maybe_free(t, n);
}
