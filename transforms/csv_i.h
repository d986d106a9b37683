/*
 * csv_i.h - inside transforms/: the CSV reader with a chosen block size.
 *
 * mfs_csv_reader_new() reads in blocks of 256 KiB. The sniffer reads a
 * sample it already holds, often a few KiB, many times over: it sizes the
 * block to the sample. The fuzz target uses tiny blocks so that records
 * cross block boundaries and the buffer grows on small inputs, and a small
 * record limit so that cutting records too long is exercised.
 */
#ifndef MFS_CSV_I_H
#define MFS_CSV_I_H

#include "reader.h"

/* Smallest block; smaller requests are rounded up to it. */
#define MFS_CSV_MIN_BLOCK 64

/* The longest record, in bytes of raw text (see csv.c). */
#define MFS_CSV_MAX_RECORD (64 * 1024 * 1024)

/* @max_record: 0 for MFS_CSV_MAX_RECORD. */
int mfs_csv_reader_open(struct mfs_source *src, const struct mfs_csv_dialect *d, size_t block,
			size_t max_record, struct mfs_reader **out);

#endif
