/*
 * unit.h - the tiny test harness every unit test uses.
 *
 * CHECK() records a failure and goes on; unit_done() prints the summary and
 * returns the exit status for main().
 */
#ifndef MFS_UNIT_H
#define MFS_UNIT_H

#include <stdio.h>

extern int unit_failures;
extern int unit_checks;

#define CHECK(cond)                                                                  \
	do {                                                                         \
		unit_checks++;                                                       \
		if (!(cond)) {                                                       \
			unit_failures++;                                             \
			fprintf(stderr, "not ok: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                    \
	} while (0)

#define CHECK_MSG(cond, ...)                                                         \
	do {                                                                         \
		unit_checks++;                                                       \
		if (!(cond)) {                                                       \
			unit_failures++;                                             \
			fprintf(stderr, "not ok: %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                \
			fputc('\n', stderr);                                         \
		}                                                                    \
	} while (0)

/* Prints "N checks, M failed" and returns 0 when nothing failed. */
int unit_done(const char *name);

/* $MFS_SHARED_DIR or "../shared" next to the source tree. */
const char *unit_shared_dir(void);

#endif
