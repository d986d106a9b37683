/* test_sigv4.c - placeholder until written. */
#include "unit.h"

int main(void)
{
	CHECK(1);
	return unit_done("sigv4");
}
