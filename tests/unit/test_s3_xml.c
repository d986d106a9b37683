/* test_s3_xml.c - placeholder until written. */
#include "unit.h"

int main(void)
{
	CHECK(1);
	return unit_done("s3_xml");
}
