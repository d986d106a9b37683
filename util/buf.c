/*
 * buf.c - growable byte buffer.
 */
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mfs_buf_reserve(struct mfs_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1, cap = b->cap ? b->cap : 256;
	char *p;

	if (need < b->len)
		return -ENOMEM;
	if (need <= b->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int mfs_buf_append(struct mfs_buf *b, const void *data, size_t len)
{
	int r = mfs_buf_reserve(b, len);

	if (r)
		return r;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int mfs_buf_appendf(struct mfs_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	r = mfs_buf_reserve(b, (size_t)n);
	if (r)
		return r;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void mfs_buf_reset(struct mfs_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void mfs_buf_free(struct mfs_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int mfs_buf_append_json(struct mfs_buf *b, const char *s)
{
	int r = mfs_buf_append(b, "\"", 1);

	for (; *s && !r; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			r = mfs_buf_appendf(b, "\\%c", c);
		else if (c < 0x20)
			r = mfs_buf_appendf(b, "\\u%04x", c);
		else
			r = mfs_buf_append(b, s, 1);
	}
	return r ? r : mfs_buf_append(b, "\"", 1);
}
