/*
 * test_log.c - secrets never survive mfs_log_redact().
 */
#include <string.h>

#include "../../util/log.h"
#include "unit.h"

int main(void)
{
	char out[512];

	mfs_log_redact("Authorization: AWS4-HMAC-SHA256 Credential=AKID/x, Signature=abcdef", out,
		       sizeof(out));
	CHECK(strstr(out, "abcdef") == NULL);
	CHECK(strstr(out, "AKID") == NULL);
	CHECK(strncmp(out, "Authorization:", 14) == 0);

	mfs_log_redact("x-amz-security-token: FwoGZXIvYXdzEBsecret\r\nHost: h", out, sizeof(out));
	CHECK(strstr(out, "FwoGZXIvYXdzEBsecret") == NULL);
	CHECK(strstr(out, "Host: h") != NULL);

	mfs_log_redact("GET /b/k?X-Amz-Signature=deadbeef&list-type=2", out, sizeof(out));
	CHECK(strstr(out, "deadbeef") == NULL);
	CHECK(strstr(out, "list-type=2") != NULL);

	mfs_log_redact("{\"SecretAccessKey\": \"s3cr3t\", \"Token\": \"t0k3n\"}", out, sizeof(out));
	CHECK(strstr(out, "s3cr3t") == NULL);
	CHECK(strstr(out, "t0k3n") == NULL);

	mfs_log_redact("plain line, nothing secret", out, sizeof(out));
	CHECK(strcmp(out, "plain line, nothing secret") == 0);

	mfs_log_redact("Authorization: very long value", out, 8);
	CHECK(strlen(out) == 7);
	return unit_done("log");
}
