/*
 * value.h - typed values shared by silver cleaning, expectations and gold.
 *
 * The types are SPEC §4's column types; their text forms are SPEC §5's
 * output forms (dates YYYY-MM-DD, timestamps ISO 8601, decimals with their
 * scale, doubles with up to 17 significant digits). A string value points
 * into memory owned by someone else (the record, or an arena): it lives as
 * long as that owner says.
 */
#ifndef MFS_VALUE_H
#define MFS_VALUE_H

#include <stddef.h>
#include <stdint.h>

enum mfs_type {
	MFS_T_NULL = 0, /* only the type of the literal NULL / an all-null column */
	MFS_T_BOOL,
	MFS_T_INT,      /* int64 */
	MFS_T_DECIMAL,  /* 128-bit integer scaled by 10^scale, scale 0..18 */
	MFS_T_DOUBLE,
	MFS_T_DATE,     /* days since 1970-01-01 */
	MFS_T_TIMESTAMP,/* microseconds since 1970-01-01T00:00:00, utc flag */
	MFS_T_STRING,
};

struct mfs_value {
	enum mfs_type type;
	int is_null;
	union {
		int b;
		int64_t i;
		struct {
			__int128 v;
			int scale;
		} dec;
		double d;
		int32_t date;
		struct {
			int64_t us;
			int utc; /* written with a zone: shown with Z */
		} ts;
		struct {
			const char *p;
			size_t len;
		} s;
	} u;
};

/* Name of a type as the schema and DuckDB call it: "BIGINT", "DECIMAL(18,2)"... */
const char *mfs_type_name(enum mfs_type t);

#endif
