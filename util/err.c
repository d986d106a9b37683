/*
 * err.c - thread-local failure reason.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

static __thread char last_error[512];

void mfs_set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

void mfs_clear_error(void)
{
	last_error[0] = '\0';
}

const char *mfs_last_error(void)
{
	return last_error;
}
