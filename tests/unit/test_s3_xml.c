/*
 * test_s3_xml.c - ListObjectsV2 and <Error> parsing, ISO-8601 times, and the
 * S3 failure -> errno table (store/s3_xml.c).
 */
#include <curl/curl.h>
#include <errno.h>
#include <string.h>

#include "s3_xml.h"
#include "unit.h"

static int parse(const char *xml, struct mfs_listing *page, struct mfs_s3_list_info *info)
{
	return mfs_s3_parse_list(xml, strlen(xml), page, info);
}

static void test_truncated_page(void)
{
	static const char xml[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>lake</Name><Prefix>raw/</Prefix><KeyCount>2</KeyCount>"
		"<MaxKeys>2</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
		"<Contents><Key>raw/a.csv</Key>"
		"<LastModified>2024-01-02T03:04:05.678Z</LastModified>"
		"<ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag>"
		"<Size>1234567890123</Size><StorageClass>STANDARD</StorageClass></Contents>"
		"<Contents><Key>raw/b.csv</Key>"
		"<LastModified>2024-01-02T03:04:05Z</LastModified>"
		"<ETag>\"9b2cf535f27731c974343645a3985328-3\"</ETag>"
		"<Size>0</Size><StorageClass>GLACIER</StorageClass></Contents>"
		"</ListBucketResult>";
	struct mfs_listing page;
	struct mfs_s3_list_info info;

	CHECK(parse(xml, &page, &info) == 0);
	CHECK(info.is_truncated == 1);
	CHECK(info.next_token &&
	      strcmp(info.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=") == 0);
	CHECK(info.key_count == 2);
	CHECK(info.url_encoded == 0);
	CHECK(page.n_objects == 2);
	CHECK(page.n_prefixes == 0);
	if (page.n_objects == 2) {
		struct mfs_object *a = &page.objects[0], *b = &page.objects[1];

		CHECK(strcmp(a->key, "raw/a.csv") == 0);
		CHECK(a->size == 1234567890123ULL);
		CHECK(a->mtime.tv_sec == 1704164645);
		CHECK(a->mtime.tv_nsec == 678000000);
		CHECK(strcmp(a->etag, "0cc175b9c0f1b6a831c399e269772661") == 0);
		CHECK(strcmp(a->storage_class, "") == 0);
		CHECK(strcmp(b->key, "raw/b.csv") == 0);
		CHECK(b->size == 0);
		CHECK(b->mtime.tv_nsec == 0);
		CHECK(strcmp(b->etag, "9b2cf535f27731c974343645a3985328-3") == 0);
		CHECK(strcmp(b->storage_class, "GLACIER") == 0);
	}
	mfs_listing_free(&page);
	mfs_s3_list_info_free(&info);
}

static void test_prefixes(void)
{
	/* The top-level <Prefix> is the request's, not a child. */
	static const char xml[] =
		"<ListBucketResult><Prefix>raw/</Prefix><IsTruncated>false</IsTruncated>"
		"<Contents><Key>raw/x</Key><Size>1</Size>"
		"<LastModified>2020-02-29T23:59:59.999Z</LastModified><ETag>\"e\"</ETag></Contents>"
		"<CommonPrefixes><Prefix>raw/2023/</Prefix></CommonPrefixes>"
		"<CommonPrefixes><Prefix>raw/2024/</Prefix></CommonPrefixes>"
		"<KeyCount>3</KeyCount></ListBucketResult>";
	struct mfs_listing page;
	struct mfs_s3_list_info info;

	CHECK(parse(xml, &page, &info) == 0);
	CHECK(info.is_truncated == 0);
	CHECK(info.next_token == NULL);
	CHECK(info.key_count == 3);
	CHECK(page.n_objects == 1);
	CHECK(page.n_prefixes == 2);
	if (page.n_prefixes == 2) {
		CHECK(strcmp(page.prefixes[0], "raw/2023/") == 0);
		CHECK(strcmp(page.prefixes[1], "raw/2024/") == 0);
	}
	if (page.n_objects == 1)
		CHECK(page.objects[0].mtime.tv_nsec == 999000000);
	mfs_listing_free(&page);
	mfs_s3_list_info_free(&info);
}

static void test_entities_unicode(void)
{
	/* Entities split character data into several expat callbacks. */
	static const char xml[] =
		"<ListBucketResult><IsTruncated>false</IsTruncated>"
		"<Contents><Key>a &amp; b &lt;c&gt; &quot;q&quot; &apos;s&apos; &#x41;&#66;.csv</Key>"
		"<Size>7</Size><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
		"<ETag>&quot;x&quot;</ETag></Contents>"
		"<Contents><Key>caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80+%~=&amp;.txt</Key>"
		"<Size>8</Size><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
		"<ETag>&quot;y&quot;</ETag></Contents>"
		"<CommonPrefixes><Prefix>d&amp;e/</Prefix></CommonPrefixes>"
		"</ListBucketResult>";
	struct mfs_listing page;
	struct mfs_s3_list_info info;

	CHECK(parse(xml, &page, &info) == 0);
	CHECK(page.n_objects == 2);
	if (page.n_objects == 2) {
		CHECK_MSG(strcmp(page.objects[0].key, "a & b <c> \"q\" 's' AB.csv") == 0, "%s",
			  page.objects[0].key);
		CHECK(strcmp(page.objects[1].key,
			     "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80+%~=&.txt") == 0);
	}
	CHECK(page.n_prefixes == 1 && strcmp(page.prefixes[0], "d&e/") == 0);
	mfs_listing_free(&page);
	mfs_s3_list_info_free(&info);
}

static void test_empty(void)
{
	static const char xml[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>lake</Name><Prefix>nothing/</Prefix><KeyCount>0</KeyCount>"
		"<MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>false</IsTruncated>"
		"</ListBucketResult>";
	static const char selfclosed[] = "<ListBucketResult/>";
	struct mfs_listing page;
	struct mfs_s3_list_info info;

	CHECK(parse(xml, &page, &info) == 0);
	CHECK(page.n_objects == 0 && page.n_prefixes == 0);
	CHECK(page.objects == NULL && page.prefixes == NULL);
	CHECK(info.key_count == 0 && !info.is_truncated);
	mfs_listing_free(&page);
	mfs_s3_list_info_free(&info);

	CHECK(parse(selfclosed, &page, &info) == 0);
	CHECK(page.n_objects == 0 && info.key_count == -1);
	mfs_listing_free(&page);
	mfs_s3_list_info_free(&info);
}

static void test_url_encoded(void)
{
	static const char xml[] =
		"<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
		"<Contents><Key>dir/a+b%2Bc%25d%01e%C3%A9</Key><Size>1</Size>"
		"<LastModified>2024-01-01T00:00:00.000Z</LastModified></Contents>"
		"<CommonPrefixes><Prefix>dir/sp+ace%2F</Prefix></CommonPrefixes>"
		"</ListBucketResult>";
	static const char bad[] =
		"<ListBucketResult><EncodingType>url</EncodingType>"
		"<Contents><Key>a%G1</Key><Size>1</Size></Contents></ListBucketResult>";
	struct mfs_listing page;
	struct mfs_s3_list_info info;

	CHECK(parse(xml, &page, &info) == 0);
	CHECK(info.url_encoded == 1);
	if (page.n_objects == 1)
		CHECK(strcmp(page.objects[0].key, "dir/a b+c%d\x01" "e\xc3\xa9") == 0);
	if (page.n_prefixes == 1)
		CHECK(strcmp(page.prefixes[0], "dir/sp ace/") == 0);
	mfs_listing_free(&page);
	mfs_s3_list_info_free(&info);

	CHECK(parse(bad, &page, &info) == -EINVAL);
	mfs_listing_free(&page);
	mfs_s3_list_info_free(&info);
}

static void test_malformed(void)
{
	static const char *const bad[] = {
		"",
		"not xml at all",
		"<ListBucketResult><Contents><Key>a</Key>",               /* unclosed */
		"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", /* no Key */
		"<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><Size>12x</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><LastModified>yesterday</LastModified>"
		"</Contents></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", /* no token */
		"<Error><Code>NoSuchBucket</Code></Error>",
		"<ListBucketResult><Key>&undefined;</Key></ListBucketResult>",
		/* Entity expansion: no DTD is accepted at all. */
		"<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">"
		"<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">]>"
		"<ListBucketResult><Contents><Key>&c;</Key><Size>1</Size></Contents></ListBucketResult>",
		"<!DOCTYPE ListBucketResult SYSTEM \"file:///etc/passwd\"><ListBucketResult/>",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct mfs_listing page;
		struct mfs_s3_list_info info;
		int r = parse(bad[i], &page, &info);

		CHECK_MSG(r == -EINVAL, "case %zu gave %d", i, r);
		mfs_listing_free(&page);
		mfs_s3_list_info_free(&info);
	}
}

static void test_error_body(void)
{
	static const char xml[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<Error><Code>SignatureDoesNotMatch</Code>"
		"<Message>The request signature we calculated does not match the signature you "
		"provided. Check your key and signing method.</Message>"
		"<AWSAccessKeyId>S3RVER</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256 ...</StringToSign>"
		"<RequestId>1</RequestId></Error>";
	static const char redirect[] =
		"<Error><Code>AuthorizationHeaderMalformed</Code><Message>wrong region</Message>"
		"<Region>eu-west-1</Region></Error>";
	struct mfs_s3_error e;

	CHECK(mfs_s3_parse_error(xml, strlen(xml), &e) == 0);
	CHECK(strcmp(e.code, "SignatureDoesNotMatch") == 0);
	CHECK(strncmp(e.message, "The request signature we calculated", 35) == 0);
	CHECK(e.region[0] == '\0');
	CHECK(mfs_s3_parse_error(redirect, strlen(redirect), &e) == 0);
	CHECK(strcmp(e.code, "AuthorizationHeaderMalformed") == 0);
	CHECK(strcmp(e.region, "eu-west-1") == 0);
	CHECK(mfs_s3_parse_error("", 0, &e) == -EINVAL);
	CHECK(mfs_s3_parse_error("<html>502</html>", 16, &e) == -EINVAL);
	CHECK(mfs_s3_parse_error("<Error><Code>X", 14, &e) == -EINVAL);
	CHECK(mfs_s3_parse_error("<ListBucketResult/>", 19, &e) == -EINVAL);
	/* A long message is cut, not overflowed. */
	{
		char big[2048];
		size_t n;

		strcpy(big, "<Error><Code>InternalError</Code><Message>");
		n = strlen(big);
		memset(big + n, 'm', 1500);
		strcpy(big + n + 1500, "</Message></Error>");
		CHECK(mfs_s3_parse_error(big, strlen(big), &e) == 0);
		CHECK(strcmp(e.code, "InternalError") == 0);
		CHECK(strlen(e.message) == sizeof(e.message) - 1);
	}
}

static void test_iso8601(void)
{
	struct timespec ts;

	CHECK(mfs_s3_parse_iso8601("1970-01-01T00:00:00Z", &ts) == 0 && ts.tv_sec == 0);
	CHECK(mfs_s3_parse_iso8601("2024-02-29T12:00:00.5Z", &ts) == 0 &&
	      ts.tv_sec == 1709208000 && ts.tv_nsec == 500000000);
	CHECK(mfs_s3_parse_iso8601("2024-02-29T12:00:00.123456789123Z", &ts) == 0 &&
	      ts.tv_nsec == 123456789);
	CHECK(mfs_s3_parse_iso8601("2024-02-29T12:00:00.000+00:00", &ts) == 0);
	CHECK(mfs_s3_parse_iso8601("2024-02-29 12:00:00Z", &ts) == -EINVAL);
	CHECK(mfs_s3_parse_iso8601("2024-13-01T00:00:00Z", &ts) == -EINVAL);
	CHECK(mfs_s3_parse_iso8601("2024-01-01T00:00:00", &ts) == -EINVAL);
	CHECK(mfs_s3_parse_iso8601("2024-01-01T00:00:00.Z", &ts) == -EINVAL);
	CHECK(mfs_s3_parse_iso8601("", &ts) == -EINVAL);
}

static void test_errno_table(void)
{
	static const struct {
		int curl;
		long status;
		const char *code;
		int err;
		int retry;
	} cases[] = {
		{ CURLE_OK, 200, "", 0, 0 },
		{ CURLE_OK, 206, NULL, 0, 0 },
		{ CURLE_OK, 404, "NoSuchKey", -ENOENT, 0 },
		{ CURLE_OK, 404, "NoSuchBucket", -ENOENT, 0 },
		{ CURLE_OK, 404, "", -ENOENT, 0 }, /* HEAD: no body */
		{ CURLE_OK, 403, "AccessDenied", -EACCES, 0 },
		{ CURLE_OK, 403, "SignatureDoesNotMatch", -EACCES, 0 },
		{ CURLE_OK, 403, "InvalidAccessKeyId", -EACCES, 0 },
		{ CURLE_OK, 400, "ExpiredToken", -EACCES, 0 },
		{ CURLE_OK, 400, "InvalidToken", -EACCES, 0 },
		{ CURLE_OK, 403, NULL, -EACCES, 0 },
		{ CURLE_OK, 403, "InvalidObjectState", -EIO, 0 },
		{ CURLE_OK, 416, "InvalidRange", 0, 0 },
		{ CURLE_OK, 416, "", 0, 0 },
		{ CURLE_OK, 503, "SlowDown", -EIO, 1 },
		{ CURLE_OK, 503, "", -EIO, 1 },
		{ CURLE_OK, 500, "InternalError", -EIO, 1 },
		{ CURLE_OK, 502, "", -EIO, 1 },
		{ CURLE_OK, 429, "", -EIO, 1 },
		{ CURLE_OK, 400, "InvalidArgument", -EIO, 0 },
		{ CURLE_OK, 400, "", -EIO, 0 },
		{ CURLE_OK, 409, "Conflict", -EIO, 0 },
		{ CURLE_COULDNT_CONNECT, 0, NULL, -ECONNREFUSED, 1 },
		{ CURLE_COULDNT_RESOLVE_HOST, 0, NULL, -EHOSTUNREACH, 1 },
		{ CURLE_OPERATION_TIMEDOUT, 0, NULL, -ETIMEDOUT, 1 },
		{ CURLE_ABORTED_BY_CALLBACK, 0, NULL, -ECANCELED, 0 },
		{ CURLE_RECV_ERROR, 0, NULL, -EIO, 1 },
		{ CURLE_PARTIAL_FILE, 0, NULL, -EIO, 1 },
		{ CURLE_GOT_NOTHING, 0, NULL, -EIO, 1 },
		{ CURLE_PEER_FAILED_VERIFICATION, 0, NULL, -EIO, 0 },
		{ CURLE_UNSUPPORTED_PROTOCOL, 0, NULL, -EIO, 0 },
	};
	const char *reason;
	size_t i;
	int retry;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		int r = mfs_s3_errno(cases[i].curl, cases[i].status, cases[i].code, &retry, NULL);

		CHECK_MSG(r == cases[i].err && retry == cases[i].retry,
			  "case %zu (%d, %ld, %s): %d retry %d", i, cases[i].curl,
			  cases[i].status, cases[i].code ? cases[i].code : "NULL", r, retry);
	}
	CHECK(mfs_s3_errno(CURLE_OK, 403, "InvalidObjectState", &retry, &reason) == -EIO);
	CHECK(reason && strcmp(reason, "object is archived (InvalidObjectState): restore it "
				       "first") == 0);
	CHECK(mfs_s3_errno(CURLE_OK, 404, "NoSuchKey", &retry, &reason) == -ENOENT);
	CHECK(reason == NULL);
	CHECK(mfs_s3_errno(CURLE_PEER_FAILED_VERIFICATION, 0, NULL, &retry, &reason) == -EIO);
	CHECK(reason && strstr(reason, "AWS_CA_BUNDLE"));
}

static void test_results(void)
{
	static const char init[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
				   "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/"
				   "doc/2006-03-01/\"><Bucket>b</Bucket><Key>k</Key>"
				   "<UploadId>VXBsb2FkIElE&amp;x</UploadId>"
				   "</InitiateMultipartUploadResult>";
	static const char done[] = "<CompleteMultipartUploadResult><Location>l</Location>"
				   "<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
				   "</CompleteMultipartUploadResult>";
	/* S3 can answer CompleteMultipartUpload with 200 and an error in the body. */
	static const char err[] = "<Error><Code>InternalError</Code><Message>m</Message></Error>";
	char out[128];

	CHECK(mfs_s3_parse_result(init, strlen(init), "InitiateMultipartUploadResult", "UploadId",
				  out, sizeof(out)) == 0);
	CHECK(strcmp(out, "VXBsb2FkIElE&x") == 0);
	CHECK(mfs_s3_parse_result(done, strlen(done), "CompleteMultipartUploadResult", "ETag", out,
				  sizeof(out)) == 0);
	CHECK(strcmp(out, "3858f62230ac3c915f300c664312c11f-9") == 0);
	CHECK(mfs_s3_parse_result(err, strlen(err), "CompleteMultipartUploadResult", "ETag", out,
				  sizeof(out)) == -EINVAL);
	CHECK(out[0] == '\0');
	CHECK(mfs_s3_parse_result(done, strlen(done), "InitiateMultipartUploadResult", "UploadId",
				  out, sizeof(out)) == -EINVAL);
	CHECK(mfs_s3_parse_result("<a", 2, "CompleteMultipartUploadResult", "ETag", out,
				  sizeof(out)) == -EINVAL);
	CHECK(mfs_s3_parse_result(done, strlen(done), "Nonsense", "ETag", out, sizeof(out)) ==
	      -EINVAL);
	CHECK(mfs_s3_parse_result(NULL, 0, "CompleteMultipartUploadResult", "ETag", out,
				  sizeof(out)) == -EINVAL);
}

int main(void)
{
	test_results();
	test_truncated_page();
	test_prefixes();
	test_entities_unicode();
	test_empty();
	test_url_encoded();
	test_malformed();
	test_error_body();
	test_iso8601();
	test_errno_table();
	return unit_done("s3_xml");
}
