/*
 * aggregate.c - what gold's partial results are made of: the binary form
 * of values, a byte-keyed hash map (groups, join keys and DISTINCT sets
 * are all "encoded values → index"), and the aggregate states with their
 * update, merge and (de)serialisation.
 *
 * The states are exactly mergeable: counts and integer/decimal sums are
 * integers (sums as scaled 128-bit, as DuckDB's HUGEINT and DECIMAL(38,s)),
 * min/max keep a value, avg is sum+count, and count(DISTINCT) keeps the set
 * of encoded values. Only double sums depend on the order of addition.
 *
 * The encoding is canonical (one byte string per value of a type; -0.0 and
 * NaNs are normalised), so that equal group keys hash equal.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "../util/err.h"
#include "aggregate.h"

enum {
	TAG_NULL = 0, TAG_FALSE, TAG_TRUE, TAG_INT, TAG_DEC, TAG_DBL, TAG_DATE, TAG_TS,
	TAG_TSZ, TAG_STR,
};

/* ---- values ---- */

int mfs_gold_put_u64(struct mfs_buf *b, uint64_t v)
{
	unsigned char t[8];
	int i;

	for (i = 0; i < 8; i++)
		t[i] = (unsigned char)(v >> (8 * i));
	return mfs_buf_append(b, t, 8);
}

static int put_tag(struct mfs_buf *b, int tag)
{
	unsigned char c = (unsigned char)tag;

	return mfs_buf_append(b, &c, 1);
}

int mfs_gold_val_put(struct mfs_buf *b, const struct mfs_value *v)
{
	unsigned char t[17];
	double d;
	int rc;

	if (v->is_null || v->type == MFS_T_NULL)
		return put_tag(b, TAG_NULL);
	switch (v->type) {
	case MFS_T_BOOL:
		return put_tag(b, v->u.b ? TAG_TRUE : TAG_FALSE);
	case MFS_T_INT:
		rc = put_tag(b, TAG_INT);
		return rc ? rc : mfs_gold_put_u64(b, (uint64_t)v->u.i);
	case MFS_T_DECIMAL:
		t[0] = (unsigned char)v->u.dec.scale;
		rc = put_tag(b, TAG_DEC);
		if (!rc)
			rc = mfs_buf_append(b, t, 1);
		if (!rc)
			rc = mfs_gold_put_u64(b, (uint64_t)v->u.dec.v);
		if (!rc)
			rc = mfs_gold_put_u64(b, (uint64_t)((unsigned __int128)v->u.dec.v >> 64));
		return rc;
	case MFS_T_DOUBLE: {
		uint64_t u;

		d = v->u.d;
		if (d == 0)
			d = 0; /* -0.0 groups with 0.0 */
		if (isnan(d))
			d = NAN;
		memcpy(&u, &d, 8);
		rc = put_tag(b, TAG_DBL);
		return rc ? rc : mfs_gold_put_u64(b, u);
	}
	case MFS_T_DATE:
		rc = put_tag(b, TAG_DATE);
		return rc ? rc : mfs_gold_put_u64(b, (uint64_t)(int64_t)v->u.date);
	case MFS_T_TIMESTAMP:
		/*
		 * One instant, one encoding: the UTC flag only says how silver
		 * wrote it, so 12:00Z and 12:00 group together (as in DuckDB)
		 * and gold prints timestamps without a zone, as DuckDB does.
		 */
		rc = put_tag(b, TAG_TS);
		return rc ? rc : mfs_gold_put_u64(b, (uint64_t)v->u.ts.us);
	case MFS_T_STRING:
		rc = put_tag(b, TAG_STR);
		if (!rc)
			rc = mfs_gold_put_u64(b, v->u.s.len);
		return rc ? rc : mfs_buf_append(b, v->u.s.p, v->u.s.len);
	default:
		return put_tag(b, TAG_NULL);
	}
}

int mfs_gold_val_dup(struct mfs_value *dst, const struct mfs_value *src)
{
	char *p;

	*dst = *src;
	if (src->is_null || src->type != MFS_T_STRING)
		return 0;
	p = malloc(src->u.s.len + 1);
	if (!p) {
		dst->is_null = 1;
		dst->u.s.p = NULL;
		return -ENOMEM;
	}
	memcpy(p, src->u.s.p, src->u.s.len);
	p[src->u.s.len] = '\0';
	dst->u.s.p = p;
	return 0;
}

void mfs_gold_val_free(struct mfs_value *v)
{
	if (!v->is_null && v->type == MFS_T_STRING)
		free((char *)v->u.s.p);
	v->is_null = 1;
	v->u.s.p = NULL;
}

int mfs_gold_val_same(const struct mfs_value *a, const struct mfs_value *b)
{
	if (a->is_null || b->is_null)
		return a->is_null == b->is_null;
	return a->type == b->type && !mfs_expr_value_cmp(a, b);
}

/* ---- reading partials ---- */

void mfs_gold_rd_init(struct mfs_gold_rd *r, struct mfs_source *src)
{
	r->src = src;
	r->pos = r->len = 0;
	r->eof = 0;
	r->err = 0;
	r->scratch = (struct mfs_buf)MFS_BUF_INIT;
}

void mfs_gold_rd_reset(struct mfs_gold_rd *r)
{
	r->scratch.len = 0;
}

void mfs_gold_rd_free(struct mfs_gold_rd *r)
{
	mfs_buf_free(&r->scratch);
}

int mfs_gold_rd_bytes(struct mfs_gold_rd *r, void *dst, size_t n)
{
	unsigned char *d = dst;
	ssize_t got;
	size_t k;

	if (r->err)
		return r->err;
	while (n) {
		if (r->pos == r->len) {
			got = mfs_source_read(r->src, r->buf, sizeof(r->buf));
			if (got < 0)
				return r->err = (int)got;
			if (got == 0) {
				mfs_set_error("gold partial result is truncated");
				return r->err = -EBADMSG;
			}
			r->pos = 0;
			r->len = (size_t)got;
		}
		k = r->len - r->pos < n ? r->len - r->pos : n;
		memcpy(d, r->buf + r->pos, k);
		r->pos += k;
		d += k;
		n -= k;
	}
	return 0;
}

int mfs_gold_rd_u8(struct mfs_gold_rd *r, uint8_t *v)
{
	return mfs_gold_rd_bytes(r, v, 1);
}

int mfs_gold_rd_u64(struct mfs_gold_rd *r, uint64_t *v)
{
	unsigned char t[8];
	int i, rc = mfs_gold_rd_bytes(r, t, 8);

	if (rc)
		return rc;
	*v = 0;
	for (i = 0; i < 8; i++)
		*v |= (uint64_t)t[i] << (8 * i);
	return 0;
}

int mfs_gold_rd_blob(struct mfs_gold_rd *r, size_t n, size_t *off)
{
	int rc;

	if (n > ((size_t)1 << 40)) {
		mfs_set_error("gold partial result is corrupt");
		return r->err = -EBADMSG;
	}
	rc = mfs_buf_reserve(&r->scratch, n + 1);
	if (rc)
		return rc;
	*off = r->scratch.len;
	rc = mfs_gold_rd_bytes(r, r->scratch.data + r->scratch.len, n);
	if (rc)
		return rc;
	r->scratch.len += n;
	r->scratch.data[r->scratch.len] = '\0';
	return 0;
}

int mfs_gold_rd_val(struct mfs_gold_rd *r, struct mfs_value *v)
{
	uint8_t tag, sc;
	uint64_t lo, hi;
	size_t off;
	int rc;

	memset(v, 0, sizeof(*v));
	rc = mfs_gold_rd_u8(r, &tag);
	if (rc)
		return rc;
	switch (tag) {
	case TAG_NULL:
		v->is_null = 1;
		return 0;
	case TAG_FALSE:
	case TAG_TRUE:
		v->type = MFS_T_BOOL;
		v->u.b = tag == TAG_TRUE;
		return 0;
	case TAG_INT:
		v->type = MFS_T_INT;
		rc = mfs_gold_rd_u64(r, &lo);
		v->u.i = (int64_t)lo;
		return rc;
	case TAG_DEC:
		v->type = MFS_T_DECIMAL;
		rc = mfs_gold_rd_u8(r, &sc);
		if (!rc)
			rc = mfs_gold_rd_u64(r, &lo);
		if (!rc)
			rc = mfs_gold_rd_u64(r, &hi);
		if (!rc && sc > MFS_DEC_MAX_SCALE) {
			mfs_set_error("gold partial result is corrupt");
			rc = r->err = -EBADMSG;
		}
		v->u.dec.scale = sc;
		v->u.dec.v = (__int128)(((unsigned __int128)hi << 64) | lo);
		return rc;
	case TAG_DBL:
		v->type = MFS_T_DOUBLE;
		rc = mfs_gold_rd_u64(r, &lo);
		memcpy(&v->u.d, &lo, 8);
		return rc;
	case TAG_DATE:
		v->type = MFS_T_DATE;
		rc = mfs_gold_rd_u64(r, &lo);
		v->u.date = (int32_t)(int64_t)lo;
		return rc;
	case TAG_TS:
	case TAG_TSZ:
		v->type = MFS_T_TIMESTAMP;
		v->u.ts.utc = tag == TAG_TSZ;
		rc = mfs_gold_rd_u64(r, &lo);
		v->u.ts.us = (int64_t)lo;
		return rc;
	case TAG_STR:
		v->type = MFS_T_STRING;
		rc = mfs_gold_rd_u64(r, &lo);
		if (!rc)
			rc = mfs_gold_rd_blob(r, (size_t)lo, &off);
		v->u.s.p = (const char *)(uintptr_t)off;
		v->u.s.len = (size_t)lo;
		return rc;
	}
	mfs_set_error("gold partial result is corrupt (tag %u)", tag);
	return r->err = -EBADMSG;
}

void mfs_gold_rd_fix(const struct mfs_gold_rd *r, struct mfs_value *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!v[i].is_null && v[i].type == MFS_T_STRING)
			v[i].u.s.p = r->scratch.data + (uintptr_t)v[i].u.s.p;
}

/* ---- the hash map ---- */

void mfs_bmap_init(struct mfs_bmap *m)
{
	memset(m, 0, sizeof(*m));
}

void mfs_bmap_free(struct mfs_bmap *m)
{
	free(m->slots);
	free(m->hashes);
	free(m->koff);
	free(m->klen);
	mfs_buf_free(&m->keys);
	mfs_bmap_init(m);
}

static int bmap_grow(struct mfs_bmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 16, i, j;
	uint32_t *ns;

	if (ncap > UINT32_MAX)
		return -ENOMEM;
	ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (i = 0; i < m->n; i++) {
		j = m->hashes[i] & (ncap - 1);
		while (ns[j])
			j = (j + 1) & (ncap - 1);
		ns[j] = (uint32_t)(i + 1);
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

long mfs_bmap_find(const struct mfs_bmap *m, const void *k, size_t n)
{
	uint64_t h;
	size_t j, e;

	if (!m->cap)
		return -1;
	h = XXH3_64bits(k, n);
	for (j = h & (m->cap - 1); m->slots[j]; j = (j + 1) & (m->cap - 1)) {
		e = m->slots[j] - 1;
		if (m->hashes[e] == h && m->klen[e] == n &&
		    (!n || !memcmp(m->keys.data + m->koff[e], k, n)))
			return (long)e;
	}
	return -1;
}

int mfs_bmap_add(struct mfs_bmap *m, const void *k, size_t n, size_t *idx, int *added)
{
	uint64_t h = XXH3_64bits(k, n);
	size_t j, e;
	int rc;

	*added = 0;
	if (m->cap) {
		for (j = h & (m->cap - 1); m->slots[j]; j = (j + 1) & (m->cap - 1)) {
			e = m->slots[j] - 1;
			if (m->hashes[e] == h && m->klen[e] == n &&
			    (!n || !memcmp(m->keys.data + m->koff[e], k, n))) {
				*idx = e;
				return 0;
			}
		}
	}
	if ((m->n + 1) * 2 > m->cap) {
		rc = bmap_grow(m);
		if (rc)
			return rc;
	}
	if (m->n == m->ecap) {
		size_t nc = m->ecap ? m->ecap * 2 : 16;
		uint64_t *hh = realloc(m->hashes, nc * sizeof(*hh));
		size_t *ko, *kl;

		if (!hh)
			return -ENOMEM;
		m->hashes = hh;
		ko = realloc(m->koff, nc * sizeof(*ko));
		if (!ko)
			return -ENOMEM;
		m->koff = ko;
		kl = realloc(m->klen, nc * sizeof(*kl));
		if (!kl)
			return -ENOMEM;
		m->klen = kl;
		m->ecap = nc;
	}
	e = m->n;
	m->koff[e] = m->keys.len;
	m->klen[e] = n;
	rc = n ? mfs_buf_append(&m->keys, k, n) : 0;
	if (rc)
		return rc;
	m->hashes[e] = h;
	for (j = h & (m->cap - 1); m->slots[j]; j = (j + 1) & (m->cap - 1))
		;
	m->slots[j] = (uint32_t)(e + 1);
	m->n++;
	*idx = e;
	*added = 1;
	return 0;
}

/* ---- aggregate states ---- */

static const __int128 I128_LIMIT = (__int128)100000000000000000LL * 100000000000000000LL *
				   (__int128)10000; /* 10^38: DECIMAL(38,s) */

void mfs_agg_init(struct mfs_agg_state *s)
{
	memset(s, 0, sizeof(*s));
	s->mm.is_null = 1;
}

void mfs_agg_clear(struct mfs_agg_state *s)
{
	mfs_gold_val_free(&s->mm);
	if (s->set) {
		mfs_bmap_free(s->set);
		free(s->set);
	}
	mfs_agg_init(s);
}

static int add_i128(struct mfs_agg_state *s, __int128 v)
{
	if ((v > 0 && s->isum > I128_LIMIT - v) || (v < 0 && s->isum < -I128_LIMIT - v)) {
		mfs_set_error("overflow in sum(): the result does not fit DECIMAL(38)");
		return -ERANGE;
	}
	s->isum += v;
	return 0;
}

/* Feed a non-DISTINCT aggregate. */
static int agg_feed(const struct gold_agg *a, struct mfs_agg_state *s, const struct mfs_value *v)
{
	int rc;

	if (a->op == MFS_AGG_COUNT_STAR) {
		s->count++;
		return 0;
	}
	if (v->is_null)
		return 0;
	switch (a->op) {
	case MFS_AGG_COUNT:
		s->count++;
		return 0;
	case MFS_AGG_SUM:
	case MFS_AGG_AVG:
		s->has = 1;
		s->count++;
		if (v->type == MFS_T_INT)
			return add_i128(s, v->u.i);
		if (v->type == MFS_T_DECIMAL)
			return add_i128(s, v->u.dec.v);
		if (v->type == MFS_T_DOUBLE)
			s->dsum += v->u.d;
		return 0;
	case MFS_AGG_MIN:
	case MFS_AGG_MAX:
		if (s->has) {
			int c = mfs_expr_value_cmp(v, &s->mm);

			if (a->op == MFS_AGG_MIN ? c >= 0 : c <= 0)
				return 0;
		}
		mfs_gold_val_free(&s->mm);
		rc = mfs_gold_val_dup(&s->mm, v);
		s->has = !rc;
		return rc;
	}
	return 0;
}

int mfs_agg_update(const struct gold_agg *a, struct mfs_agg_state *s, const struct mfs_value *v,
		   struct mfs_buf *tmp)
{
	size_t idx;
	int added, rc;

	if (!a->distinct || a->op == MFS_AGG_COUNT_STAR)
		return agg_feed(a, s, v);
	if (v->is_null)
		return 0;
	if (!s->set) {
		s->set = malloc(sizeof(*s->set));
		if (!s->set)
			return -ENOMEM;
		mfs_bmap_init(s->set);
	}
	tmp->len = 0;
	rc = mfs_gold_val_put(tmp, v);
	if (!rc)
		rc = mfs_bmap_add(s->set, tmp->data, tmp->len, &idx, &added);
	return rc;
}

int mfs_agg_merge(const struct gold_agg *a, struct mfs_agg_state *d, struct mfs_agg_state *s)
{
	size_t i, idx, n;
	const void *k;
	int added, rc = 0;

	if (a->distinct && a->op != MFS_AGG_COUNT_STAR) {
		if (!s->set)
			return 0;
		if (!d->set) {
			d->set = s->set;
			s->set = NULL;
			return 0;
		}
		for (i = 0; i < s->set->n && !rc; i++) {
			k = mfs_bmap_key(s->set, i, &n);
			rc = mfs_bmap_add(d->set, k, n, &idx, &added);
		}
		return rc;
	}
	switch (a->op) {
	case MFS_AGG_COUNT_STAR:
	case MFS_AGG_COUNT:
		d->count += s->count;
		return 0;
	case MFS_AGG_SUM:
	case MFS_AGG_AVG:
		if (!s->has)
			return 0;
		d->has = 1;
		d->count += s->count;
		d->dsum += s->dsum;
		return add_i128(d, s->isum);
	case MFS_AGG_MIN:
	case MFS_AGG_MAX:
		if (!s->has)
			return 0;
		if (d->has) {
			int c = mfs_expr_value_cmp(&s->mm, &d->mm);

			if (a->op == MFS_AGG_MIN ? c >= 0 : c <= 0)
				return 0;
		}
		mfs_gold_val_free(&d->mm);
		d->mm = s->mm; /* moved */
		s->mm.is_null = 1;
		s->has = 0;
		d->has = 1;
		return 0;
	}
	return 0;
}

int mfs_agg_put(const struct gold_agg *a, const struct mfs_agg_state *s, struct mfs_buf *b)
{
	size_t i, cnt, kl;
	const void *k;
	int rc;

	if (a->distinct && a->op != MFS_AGG_COUNT_STAR) {
		cnt = s->set ? s->set->n : 0;
		rc = mfs_gold_put_u64(b, cnt);
		for (i = 0; i < cnt && !rc; i++) {
			k = mfs_bmap_key(s->set, i, &kl);
			rc = mfs_gold_put_u64(b, kl);
			if (!rc)
				rc = mfs_buf_append(b, k, kl);
		}
		return rc;
	}
	rc = mfs_gold_put_u64(b, (uint64_t)s->count);
	if (!rc)
		rc = put_tag(b, s->has);
	if (rc || a->op == MFS_AGG_COUNT_STAR || a->op == MFS_AGG_COUNT)
		return rc;
	if (a->op == MFS_AGG_MIN || a->op == MFS_AGG_MAX)
		return mfs_gold_val_put(b, &s->mm);
	rc = mfs_gold_put_u64(b, (uint64_t)s->isum);
	if (!rc)
		rc = mfs_gold_put_u64(b, (uint64_t)((unsigned __int128)s->isum >> 64));
	if (!rc) {
		uint64_t u;

		memcpy(&u, &s->dsum, 8);
		rc = mfs_gold_put_u64(b, u);
	}
	return rc;
}

int mfs_agg_get(const struct gold_agg *a, struct mfs_agg_state *s, struct mfs_gold_rd *r)
{
	uint64_t n, i, len, lo, hi;
	size_t off, idx;
	uint8_t has;
	int added, rc;

	mfs_agg_init(s);
	if (a->distinct && a->op != MFS_AGG_COUNT_STAR) {
		rc = mfs_gold_rd_u64(r, &n);
		if (rc || !n)
			return rc;
		s->set = malloc(sizeof(*s->set));
		if (!s->set)
			return -ENOMEM;
		mfs_bmap_init(s->set);
		for (i = 0; i < n; i++) {
			size_t mark = r->scratch.len;

			rc = mfs_gold_rd_u64(r, &len);
			if (!rc)
				rc = mfs_gold_rd_blob(r, (size_t)len, &off);
			if (!rc)
				rc = mfs_bmap_add(s->set, r->scratch.data + off, (size_t)len, &idx,
						  &added);
			if (rc)
				return rc;
			r->scratch.len = mark;
		}
		return 0;
	}
	rc = mfs_gold_rd_u64(r, &n);
	if (!rc)
		rc = mfs_gold_rd_u8(r, &has);
	if (rc)
		return rc;
	s->count = (int64_t)n;
	s->has = has != 0;
	if (a->op == MFS_AGG_COUNT_STAR || a->op == MFS_AGG_COUNT)
		return 0;
	if (a->op == MFS_AGG_MIN || a->op == MFS_AGG_MAX) {
		struct mfs_value v;

		rc = mfs_gold_rd_val(r, &v);
		if (rc)
			return rc;
		mfs_gold_rd_fix(r, &v, 1);
		if (v.is_null) {
			s->has = 0;
			return 0;
		}
		rc = mfs_gold_val_dup(&s->mm, &v);
		s->has = !rc;
		return rc;
	}
	rc = mfs_gold_rd_u64(r, &lo);
	if (!rc)
		rc = mfs_gold_rd_u64(r, &hi);
	if (!rc)
		rc = mfs_gold_rd_u64(r, &n);
	s->isum = (__int128)(((unsigned __int128)hi << 64) | lo);
	memcpy(&s->dsum, &n, 8);
	return rc;
}

static double pow10d(int n)
{
	long double p = 1;

	while (n-- > 0)
		p *= 10;
	return (double)p;
}

int mfs_agg_result(const struct gold_agg *a, const struct mfs_agg_state *s,
		   struct mfs_arena *arena, struct mfs_value *out)
{
	const struct mfs_expr *e = a->node;
	struct mfs_agg_state t;
	struct mfs_gold_rd rd;
	struct mfs_value v;
	size_t i, n;
	const void *k;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->type = e->type;
	if (a->distinct && a->op != MFS_AGG_COUNT_STAR) {
		struct gold_agg plain = *a;

		/* Replay the set into a plain state: DISTINCT is exact at merge. */
		plain.distinct = 0;
		mfs_agg_init(&t);
		for (i = 0; s->set && i < s->set->n && !rc; i++) {
			struct mfs_source *src;

			k = mfs_bmap_key(s->set, i, &n);
			src = mfs_source_mem(k, n);
			if (!src) {
				rc = -ENOMEM;
				break;
			}
			mfs_gold_rd_init(&rd, src);
			rc = mfs_gold_rd_val(&rd, &v);
			if (!rc) {
				mfs_gold_rd_fix(&rd, &v, 1);
				rc = agg_feed(&plain, &t, &v);
			}
			mfs_gold_rd_free(&rd);
			mfs_source_close(src);
		}
		if (!rc)
			rc = mfs_agg_result(&plain, &t, arena, out);
		if (!rc && out->type == MFS_T_STRING && !out->is_null) {
			char *p = mfs_arena_alloc(arena, out->u.s.len + 1);

			if (!p)
				rc = -ENOMEM;
			else
				memcpy(p, out->u.s.p, out->u.s.len);
			out->u.s.p = p;
		}
		mfs_agg_clear(&t);
		return rc;
	}
	switch (a->op) {
	case MFS_AGG_COUNT_STAR:
	case MFS_AGG_COUNT:
		out->type = MFS_T_INT;
		out->u.i = s->count;
		return 0;
	case MFS_AGG_SUM:
		if (!s->has || e->type == MFS_T_NULL)
			break;
		if (e->type == MFS_T_DOUBLE) {
			out->u.d = s->dsum;
		} else {
			out->type = MFS_T_DECIMAL;
			out->u.dec.v = s->isum;
			out->u.dec.scale = a->in_type == MFS_T_DECIMAL ? a->in_scale : 0;
		}
		return 0;
	case MFS_AGG_AVG:
		if (!s->has || !s->count)
			break;
		out->type = MFS_T_DOUBLE;
		if (a->in_type == MFS_T_DOUBLE)
			out->u.d = s->dsum / (double)s->count;
		else
			out->u.d = (double)((long double)s->isum / (long double)s->count /
					    (long double)pow10d(a->in_type == MFS_T_DECIMAL ?
								a->in_scale : 0));
		return 0;
	case MFS_AGG_MIN:
	case MFS_AGG_MAX:
		if (!s->has)
			break;
		*out = s->mm;
		return 0;
	}
	out->is_null = 1;
	return 0;
}
