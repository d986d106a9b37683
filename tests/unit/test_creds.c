/* test_creds.c - placeholder until written. */
#include "unit.h"

int main(void)
{
	CHECK(1);
	return unit_done("creds");
}
