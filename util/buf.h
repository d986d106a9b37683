/*
 * buf.h - growable byte buffer. The owner frees with mfs_buf_free(); data is
 * NUL-terminated for convenience (the NUL is not counted in len).
 */
#ifndef MFS_BUF_H
#define MFS_BUF_H

#include <stddef.h>

struct mfs_buf {
	char *data;
	size_t len;
	size_t cap;
};

#define MFS_BUF_INIT { NULL, 0, 0 }

/* 0 or -ENOMEM. */
int mfs_buf_reserve(struct mfs_buf *b, size_t extra);
int mfs_buf_append(struct mfs_buf *b, const void *data, size_t len);
int mfs_buf_appendf(struct mfs_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* @s as a JSON string, quotes included (escapes '"', '\\' and control bytes). */
int mfs_buf_append_json(struct mfs_buf *b, const char *s);
void mfs_buf_reset(struct mfs_buf *b);
void mfs_buf_free(struct mfs_buf *b);

#endif
