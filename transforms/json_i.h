/*
 * json_i.h - internals of the JSON reader that its tests and fuzz target
 * need: the default limits, and a way to lower them so the limit paths can
 * be reached with small inputs. Not for other modules.
 */
#ifndef MFS_JSON_I_H
#define MFS_JSON_I_H

#include <stddef.h>

#include "reader.h"

/* Containers open at once within one record, the record's own object being
 * the first; deeper is a malformed record (and the most the limit can be). */
#define MFS_JSON_MAX_DEPTH 64
/* A record's raw text is cut here (at a UTF-8 character boundary). */
#define MFS_JSON_MAX_RAW ((size_t)4 << 20)
/* A record's input bytes, and separately the memory its flattened fields
 * take, may not pass this: beyond it the record is malformed. */
#define MFS_JSON_MAX_RECORD ((size_t)64 << 20)

/*
 * Lower the limits of @r, a reader from mfs_json_reader_new(), before its
 * first mfs_reader_next(). @max_depth is 1..MFS_JSON_MAX_DEPTH, the sizes
 * are at least 1. -EINVAL otherwise.
 */
int mfs_json_reader_set_limits(struct mfs_reader *r, size_t max_raw, size_t max_record,
			       int max_depth);

#endif
