/*
 * unit.c - summary and paths for the unit tests.
 */
#include "unit.h"

#include <stdlib.h>

int unit_failures;
int unit_checks;

int unit_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
	if (unit_checks == 0) {
		fprintf(stderr, "%s: no check ran\n", name);
		return 1;
	}
	return unit_failures ? 1 : 0;
}

const char *unit_shared_dir(void)
{
	const char *d = getenv("MFS_SHARED_DIR");

	return d ? d : "../shared";
}
