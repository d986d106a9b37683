/*
 * nodes.h - the inode table: every name the kernel knows, by inode number and
 * by (parent, name).
 *
 * A node lives while the kernel holds lookups on it (nlookup, exactly as
 * lookup/readdirplus/forget count them), while a child node lives under it,
 * or while something inside the daemon holds a reference (an open file). The
 * fixed nodes (root, layer directories, .medallion files) never die.
 *
 * DESIGN: one mutex (nodes->lock) protects the two indexes, every refcount
 * and the mutable attribute fields of every node. It is never held across
 * network I/O or a fuse_reply_*: callers copy what they need out under the
 * lock, drop it, do the I/O, then take it again to publish results.
 */
#ifndef MFS_NODES_H
#define MFS_NODES_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

enum mfs_node_kind {
	MFS_NODE_ROOT,
	MFS_NODE_LAYER,        /* silver/, gold/: empty in this version */
	MFS_NODE_BRONZE_DIR,   /* bronze/ itself and every prefix under it */
	MFS_NODE_BRONZE_FILE,
	MFS_NODE_META_DIR,     /* .medallion/ */
	MFS_NODE_META_FILE,    /* .medallion/<name>: generated text */
	MFS_NODE_SILVER_DIR,   /* silver/ and every prefix under it */
	MFS_NODE_SILVER_FILE,  /* key: the bronze object it is computed from */
	MFS_NODE_REJECTS_DIR,  /* .medallion/rejects/ mirrors silver/ */
	MFS_NODE_REJECTS_FILE, /* key: the bronze object */
	MFS_NODE_GOLD_DIR,     /* gold/ */
	MFS_NODE_GOLD_FILE,    /* meta_id: the view's index in the pipeline */
	MFS_NODE_PROFILE_DIR,  /* gold/_profile/: one file per top-level prefix */
	MFS_NODE_PROFILE_FILE, /* key: the dataset name */
	MFS_NODE_FIXED_DIR,    /* .medallion/lineage/, .medallion/lineage/gold/ */
	MFS_NODE_LINEAGE_FILE, /* meta_id: the view's index */
};

struct mfs_node {
	uint64_t ino;
	enum mfs_node_kind kind;
	struct mfs_node *parent; /* holds a reference on the parent */
	char *name;
	/* bronze: key relative to the store root; dirs end in '/', bronze/ is "" */
	char *key;
	int meta_id;             /* MFS_NODE_META_FILE: which generated file */
	int fixed;               /* never freed */
	struct mfs_node **kids;  /* fixed directories: their fixed children, in order */
	size_t nkids;

	/* protected by nodes->lock */
	uint64_t nlookup;
	uint64_t refs;           /* children + open handles */
	uint64_t size;
	struct timespec mtime;
	char etag[80];
	char storage_class[32];
	double attr_time;        /* monotonic seconds when size/etag were fetched */
	char kernel_etag[80];    /* the ETag of the pages the kernel may cache */
	int detached;            /* replaced under its name (kind changed) */

	/* silver and rejects files: what the materialised version says */
	int tab_format, tab_codec; /* enum mfs_in_format, enum mfs_codec */
	char mat_etag[80];         /* the bronze ETag it was computed from; "" none */
	uint64_t mat_size, mat_rows_in, mat_rows_out, mat_rejected, mat_duplicates;
	uint64_t mat_rejects_size;
	char *mat_schema;          /* JSON; freed with the node */
	char mat_fingerprint[33];
	char *mat_failed;          /* why the transform of mat_etag failed; freed with the node */
	char *mat_lineage;         /* gold: the inputs, JSON; freed with the node */
	double mat_failed_at;      /* monotonic time of that failure */
	char mat_published[33];    /* gold: lineage hash this mount published last (-o publish) */

	/* bronze writes (-o writable) */
	int writers;             /* open write handles */
	uint64_t wsize;          /* bytes written through them so far */
	int overlay;             /* in lake's overlay: exists before the store lists it */

	/* directories: the last listing, shared with open directory handles */
	struct mfs_dirlist *list; /* protected by nodes->lock */
	int listing;              /* a listing of this node is being fetched */
	double stat_hint;         /* silver dirs: when a stat last had to transform a child */
	const void *siblings_for; /* silver dirs: the listing whose files were all queued */

	struct mfs_node *next_ino;  /* hash chains */
	struct mfs_node *next_name;
};

struct mfs_dirlist;

struct mfs_nodes {
	pthread_mutex_t lock;
	/* drops a node's reference on its listing when the node is freed */
	void (*put_list)(struct mfs_dirlist *list);
	struct mfs_node **by_ino;
	struct mfs_node **by_name;
	size_t nbuckets;
	size_t count;
	uint64_t next_ino;
};

int mfs_nodes_init(struct mfs_nodes *t);
void mfs_nodes_destroy(struct mfs_nodes *t);

/* Monotonic clock in seconds. */
double mfs_now(void);

/* All of the following require t->lock held. */

struct mfs_node *mfs_nodes_get(struct mfs_nodes *t, uint64_t ino);
struct mfs_node *mfs_nodes_child(struct mfs_nodes *t, struct mfs_node *parent, const char *name);

/*
 * The child @name of @parent, created with @kind and @key when missing.
 * NULL on ENOMEM. When the existing node has another kind (a key became a
 * prefix) or another key, a new node with a new inode number takes the name.
 */
struct mfs_node *mfs_nodes_ensure(struct mfs_nodes *t, struct mfs_node *parent, const char *name,
				  enum mfs_node_kind kind, const char *key);

/* Drop @n kernel lookups / internal references; frees nodes that reach zero. */
void mfs_nodes_forget(struct mfs_nodes *t, struct mfs_node *n, uint64_t nlookup);
void mfs_nodes_unref(struct mfs_nodes *t, struct mfs_node *n);

/* Take @n out of the name index (removed): lookups no longer find it; it
 * lives on until forgotten. */
void mfs_nodes_detach(struct mfs_nodes *t, struct mfs_node *n);

#endif
