/*
 * test_sigv4.c - SigV4 signing against every case of the AWS test suite
 * ($MFS_SHARED_DIR/data/sigv4-test-suite, read at run time), the S3 examples
 * of the AWS documentation, S3 URI encoding of awkward keys and SHA-256.
 *
 * The suite describes each request as raw HTTP text; it is parsed here the
 * way aws-c-auth's own test driver does (continuation lines, body after the
 * blank line) and signed with the headers that signer adds itself
 * (X-Amz-Date, X-Amz-Security-Token, X-Amz-Content-Sha256). A folder that
 * cannot be read or parsed counts as failed, never as skipped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../store/sigv4.h"
#include "../../util/buf.h"
#include "unit.h"

#define MAX_HEADERS 32
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static int read_whole_file(const char *path, struct mfs_buf *out)
{
	char chunk[4096];
	int fd, r = 0;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Leaves data allocated and terminated even for an empty file. */
	r = mfs_buf_reserve(out, 0);
	if (!r)
		out->data[out->len] = '\0';
	while (!r) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		r = mfs_buf_append(out, chunk, (size_t)n);
	}
	close(fd);
	return r;
}

/*
 * context.json is small and fixed-format: "key": "string" or "key": bool.
 * Strings with escapes do not occur in the suite; refuse them rather than
 * half-parse them.
 */
static const char *json_value(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	p = strstr(json, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p != ':')
		return NULL;
	p++;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static int json_string(const char *json, const char *key, char *dst, size_t size)
{
	const char *p = json_value(json, key), *end;

	if (!p)
		return -ENOENT;
	if (*p != '"')
		return -EINVAL;
	p++;
	end = strchr(p, '"');
	if (!end || memchr(p, '\\', (size_t)(end - p)) || (size_t)(end - p) >= size)
		return -EINVAL;
	memcpy(dst, p, (size_t)(end - p));
	dst[end - p] = '\0';
	return 0;
}

static int json_bool(const char *json, const char *key, int *val)
{
	const char *p = json_value(json, key);

	if (!p)
		return -ENOENT;
	if (!strncmp(p, "true", 4))
		*val = 1;
	else if (!strncmp(p, "false", 5))
		*val = 0;
	else
		return -EINVAL;
	return 0;
}

struct suite_context {
	char access_key[128];
	char secret_key[128];
	char token[1024]; /* "" when the context has none */
	char region[64];
	char service[64];
	char amz_date[17];
	int normalize;
	int sign_body;
	int omit_token;
};

static int parse_context(const char *json, struct suite_context *c, const char **why)
{
	char ts[32];
	int r;

	memset(c, 0, sizeof(*c));
	*why = "credentials/region/service/timestamp";
	r = json_string(json, "access_key_id", c->access_key, sizeof(c->access_key));
	if (!r)
		r = json_string(json, "secret_access_key", c->secret_key, sizeof(c->secret_key));
	if (!r)
		r = json_string(json, "region", c->region, sizeof(c->region));
	if (!r)
		r = json_string(json, "service", c->service, sizeof(c->service));
	if (!r)
		r = json_string(json, "timestamp", ts, sizeof(ts));
	if (r)
		return r;
	*why = "token";
	r = json_string(json, "token", c->token, sizeof(c->token));
	if (r && r != -ENOENT)
		return r;
	*why = "normalize/sign_body";
	r = json_bool(json, "normalize", &c->normalize);
	if (!r)
		r = json_bool(json, "sign_body", &c->sign_body);
	if (r)
		return r;
	*why = "omit_session_token";
	r = json_bool(json, "omit_session_token", &c->omit_token);
	if (r && r != -ENOENT)
		return r;
	/* "2015-08-30T12:36:00Z" -> "20150830T123600Z" */
	*why = "timestamp format";
	if (strlen(ts) != 20 || ts[4] != '-' || ts[7] != '-' || ts[10] != 'T' || ts[13] != ':' ||
	    ts[16] != ':' || ts[19] != 'Z')
		return -EINVAL;
	snprintf(c->amz_date, sizeof(c->amz_date), "%.4s%.2s%.2sT%.2s%.2s%.2sZ", ts, ts + 5,
		 ts + 8, ts + 11, ts + 14, ts + 17);
	return 0;
}

struct suite_request {
	char *text; /* the file, cut in place */
	const char *method;
	const char *path; /* as in the request line, before any encoding */
	const char *query;
	const char *names[MAX_HEADERS];
	struct mfs_buf values[MAX_HEADERS]; /* continuation lines appended */
	size_t n_headers;
	const char *body;
	size_t body_len;
};

static void suite_request_free(struct suite_request *q)
{
	size_t i;

	for (i = 0; i < MAX_HEADERS; i++)
		mfs_buf_free(&q->values[i]);
}

/* Cut one line (LF or CRLF) off *@p; NULL at the end of the text. */
static char *next_line(char **p, char *end)
{
	char *line = *p, *nl;

	if (line >= end)
		return NULL;
	nl = memchr(line, '\n', (size_t)(end - line));
	if (!nl) {
		*p = end;
		return line; /* the text is NUL-terminated at end */
	}
	*nl = '\0';
	if (nl > line && nl[-1] == '\r')
		nl[-1] = '\0';
	*p = nl + 1;
	return line;
}

static int parse_request(struct mfs_buf *text, struct suite_request *q, const char **why)
{
	char *p = text->data, *end = text->data + text->len, *line, *sp, *qm;
	int r;

	memset(q, 0, sizeof(*q));
	q->text = text->data;
	*why = "request line";
	line = next_line(&p, end);
	if (!line)
		return -EINVAL;
	/* The target may itself hold spaces ("GET /example space/ HTTP/1.1"). */
	sp = strchr(line, ' ');
	qm = strrchr(line, ' ');
	if (!sp || qm == sp || strncmp(qm + 1, "HTTP/", 5))
		return -EINVAL;
	*sp = '\0';
	*qm = '\0';
	q->method = line;
	q->path = sp + 1;
	qm = strchr(sp + 1, '?');
	if (qm) {
		*qm = '\0';
		q->query = qm + 1;
	}

	*why = "headers";
	while ((line = next_line(&p, end)) != NULL) {
		char *colon;

		if (!*line) {
			q->body = p;
			q->body_len = (size_t)(end - p);
			break;
		}
		/* obs-fold: RFC 7230 replaces it by a space; the signer folds runs. */
		if (*line == ' ' || *line == '\t') {
			if (!q->n_headers)
				return -EINVAL;
			r = mfs_buf_appendf(&q->values[q->n_headers - 1], " %s", line);
			if (r)
				return r;
			continue;
		}
		colon = strchr(line, ':');
		if (!colon || q->n_headers == MAX_HEADERS)
			return -EINVAL;
		*colon = '\0';
		q->names[q->n_headers] = line;
		r = mfs_buf_append(&q->values[q->n_headers], colon + 1, strlen(colon + 1));
		if (r)
			return r;
		q->n_headers++;
	}
	if (!q->body)
		q->body = "";
	return 0;
}

/* The value of "Authorization:" in header-signed-request.txt. */
static const char *signed_authorization(char *text)
{
	char *p = text, *end = text + strlen(text), *line;

	while ((line = next_line(&p, end)) != NULL)
		if (!strncmp(line, "Authorization:", 14))
			return line + 14;
	return NULL;
}

/* One folder: 0 when all four outputs match, else -1 (reason printed). */
static int check_suite_case(const char *dir, const char *name)
{
	static const char *const files[] = {
		"context.json",
		"request.txt",
		"header-canonical-request.txt",
		"header-string-to-sign.txt",
		"header-signature.txt",
		"header-signed-request.txt",
	};
	struct mfs_buf text[6] = { MFS_BUF_INIT, MFS_BUF_INIT, MFS_BUF_INIT,
				   MFS_BUF_INIT, MFS_BUF_INIT, MFS_BUF_INIT };
	struct mfs_sigv4_header headers[MAX_HEADERS + 3];
	struct mfs_sigv4_request req = { 0 };
	struct mfs_sigv4_result res = { 0 };
	struct mfs_buf wire_path = MFS_BUF_INIT;
	struct suite_request q = { 0 };
	struct suite_context c;
	const char *why = "", *auth;
	char path[4096], body_hash[65];
	int r, failed = 0;
	size_t i, n = 0;

	for (i = 0; i < 6; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s/%s", dir, name, files[i]) >=
		    sizeof(path))
			r = -ENAMETOOLONG;
		else
			r = read_whole_file(path, &text[i]);
		CHECK_MSG(r == 0, "%s: cannot read %s: %s", name, files[i], strerror(-r));
		if (r) {
			failed = 1;
			goto out;
		}
	}
	r = parse_context(text[0].data, &c, &why);
	CHECK_MSG(r == 0, "%s: context.json: bad or missing %s", name, why);
	if (r) {
		failed = 1;
		goto out;
	}
	r = parse_request(&text[1], &q, &why);
	CHECK_MSG(r == 0, "%s: request.txt: cannot parse %s", name, why);
	if (r) {
		failed = 1;
		goto out;
	}

	for (i = 0; i < q.n_headers; i++) {
		headers[n].name = q.names[i];
		headers[n++].value = q.values[i].data;
	}
	/* What aws-c-auth adds before signing, so the suite expects it signed. */
	headers[n].name = "X-Amz-Date";
	headers[n++].value = c.amz_date;
	if (c.token[0] && !c.omit_token) {
		headers[n].name = "X-Amz-Security-Token";
		headers[n++].value = c.token;
	}
	mfs_sha256_hex(q.body, q.body_len, body_hash);
	if (c.sign_body) {
		headers[n].name = "X-Amz-Content-Sha256";
		headers[n++].value = body_hash;
	}

	/*
	 * The suite encodes the request-line path once in every case. With
	 * normalisation our signer does that itself (the "second" encoding of
	 * other services); without it (S3) the signer takes the wire path as it
	 * is, so hand it what the S3 client would send: the encoded path.
	 */
	req.method = q.method;
	req.normalize = c.normalize;
	if (c.normalize) {
		req.path = q.path;
	} else {
		r = mfs_uri_encode(&wire_path, q.path, strlen(q.path), 1);
		CHECK_MSG(r == 0, "%s: mfs_uri_encode: %s", name, strerror(-r));
		if (r) {
			failed = 1;
			goto out;
		}
		req.path = wire_path.data;
	}
	req.query = q.query;
	req.headers = headers;
	req.n_headers = n;
	req.payload_hash = body_hash;

	r = mfs_sigv4_sign(&req, c.region, c.service, c.amz_date, c.access_key, c.secret_key,
			   &res);
	CHECK_MSG(r == 0, "%s: mfs_sigv4_sign: %s", name, strerror(-r));
	if (r) {
		failed = 1;
		goto out;
	}
	if (strcmp(res.canonical_request.data, text[2].data)) {
		CHECK_MSG(0, "%s: canonical request differs\n--- got\n%s\n--- expected\n%s", name,
			  res.canonical_request.data, text[2].data);
		failed = 1;
	}
	if (strcmp(res.string_to_sign.data, text[3].data)) {
		CHECK_MSG(0, "%s: string to sign differs\n--- got\n%s\n--- expected\n%s", name,
			  res.string_to_sign.data, text[3].data);
		failed = 1;
	}
	CHECK_MSG(!strcmp(res.signature, text[4].data), "%s: signature %s, expected %s", name,
		  res.signature, text[4].data);
	failed |= strcmp(res.signature, text[4].data) != 0;
	auth = signed_authorization(text[5].data);
	CHECK_MSG(auth && !strcmp(res.authorization.data, auth),
		  "%s: Authorization \"%s\", expected \"%s\"", name, res.authorization.data,
		  auth ? auth : "(none in header-signed-request.txt)");
	failed |= !auth || strcmp(res.authorization.data, auth) != 0;
out:
	mfs_sigv4_result_free(&res);
	mfs_buf_free(&wire_path);
	suite_request_free(&q);
	for (i = 0; i < 6; i++)
		mfs_buf_free(&text[i]);
	return failed ? -1 : 0;
}

static int not_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static void test_suite(void)
{
	struct dirent **ents = NULL;
	char dir[4096];
	int i, n, r, passed = 0, folders = 0;

	snprintf(dir, sizeof(dir), "%s/data/sigv4-test-suite", unit_shared_dir());
	n = scandir(dir, &ents, not_hidden, alphasort);
	CHECK_MSG(n > 0, "cannot list %s: %s", dir, n < 0 ? strerror(errno) : "empty");
	for (i = 0; i < n; i++) {
		char sub[4096 + 256];
		struct stat st;

		/* LICENSE and SOURCE sit beside the case folders. */
		r = snprintf(sub, sizeof(sub), "%s/%s", dir, ents[i]->d_name);
		if (r > 0 && (size_t)r < sizeof(sub) && stat(sub, &st) == 0 &&
		    !S_ISDIR(st.st_mode)) {
			free(ents[i]);
			continue;
		}
		folders++;
		if (check_suite_case(dir, ents[i]->d_name) == 0) {
			passed++;
			printf("ok - sigv4 suite %s\n", ents[i]->d_name);
		} else {
			printf("not ok - sigv4 suite %s\n", ents[i]->d_name);
		}
		free(ents[i]);
	}
	free(ents);
	CHECK_MSG(folders > 0 && passed == folders, "sigv4 suite: %d of %d folders passed", passed,
		  folders);
	printf("sigv4 suite: %d of %d folders passed\n", passed, folders);
}

static int encode(const char *s, size_t len, int keep_slash, char *dst, size_t size)
{
	struct mfs_buf b = MFS_BUF_INIT;
	int r = mfs_uri_encode(&b, s, len, keep_slash);

	if (!r)
		snprintf(dst, size, "%s", b.data);
	mfs_buf_free(&b);
	return r;
}

static void check_encode(const char *in, int keep_slash, const char *want)
{
	char got[512];
	int r = encode(in, strlen(in), keep_slash, got, sizeof(got));

	CHECK_MSG(r == 0 && !strcmp(got, want), "mfs_uri_encode(\"%s\", %d) = \"%s\", want \"%s\"",
		  in, keep_slash, r ? strerror(-r) : got, want);
}

static void test_uri_encode(void)
{
	struct mfs_buf b = MFS_BUF_INIT;
	char got[16], want[16];
	int c, r;

	check_encode("sales 2024/jan.csv", 1, "sales%202024/jan.csv");
	check_encode("a+b", 1, "a%2Bb");
	check_encode("100%.csv", 1, "100%25.csv");
	check_encode("%41", 1, "%2541"); /* never decoded: a key is a key */
	check_encode("~user/x-y_z.1", 1, "~user/x-y_z.1");
	check_encode("caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.csv", 1,
		     "caf%C3%A9/%E6%97%A5%E6%9C%AC.csv");
	check_encode("\xf0\x9f\x98\x80", 0, "%F0%9F%98%80");
	check_encode("region=eu/a&b.csv", 1, "region%3Deu/a%26b.csv");
	check_encode("a/b/c", 1, "a/b/c");
	check_encode("a/b/c", 0, "a%2Fb%2Fc");
	check_encode("//", 1, "//");
	check_encode("!*'();:@$,?#[]", 1, "%21%2A%27%28%29%3B%3A%40%24%2C%3F%23%5B%5D");
	check_encode("", 0, "");

	/* Every byte: unreserved as is, the rest as upper-case %XX. */
	for (c = 0; c < 256; c++) {
		char in = (char)c;

		r = encode(&in, 1, 0, got, sizeof(got));
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			snprintf(want, sizeof(want), "%c", c);
		else
			snprintf(want, sizeof(want), "%%%02X", c);
		CHECK_MSG(r == 0 && !strcmp(got, want), "byte 0x%02x -> \"%s\", want \"%s\"", c,
			  got, want);
	}

	/* It appends, and an embedded NUL is just a byte. */
	r = mfs_buf_append(&b, "/bucket/", 8);
	CHECK(r == 0);
	r = mfs_uri_encode(&b, "a\0b", 3, 1);
	CHECK(r == 0 && b.len == 13 && !strcmp(b.data, "/bucket/a%00b"));
	mfs_buf_free(&b);
}

static void test_sha256(void)
{
	static const struct {
		const char *in;
		const char *hex;
	} v[] = {
		{ "", EMPTY_SHA256 },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
		{ "Welcome to Amazon S3.",
		  "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072" },
	};
	char hex[65];
	size_t i;
	char *million;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		mfs_sha256_hex(v[i].in, strlen(v[i].in), hex);
		CHECK_MSG(!strcmp(hex, v[i].hex), "sha256(\"%s\") = %s", v[i].in, hex);
	}
	million = malloc(1000000);
	CHECK(million != NULL);
	if (million) {
		memset(million, 'a', 1000000);
		mfs_sha256_hex(million, 1000000, hex);
		CHECK(!strcmp(hex,
			      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
		free(million);
	}
}

/*
 * The worked examples of the S3 documentation ("Signature Calculations for
 * the Authorization Header"): the same algorithm as the suite, but with S3's
 * rules (no normalisation, x-amz-content-sha256).
 */
static const char s3_key_id[] = "AKIAIOSFODNN7EXAMPLE";
static const char s3_secret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
static const char s3_date[] = "20130524T000000Z";

static void check_s3_example(const char *what, const char *method, const char *path,
			     const char *query, const struct mfs_sigv4_header *h, size_t n,
			     const char *payload, const char *want_creq, const char *want_sig)
{
	struct mfs_sigv4_request req = {
		.method = method,
		.path = path,
		.query = query,
		.headers = h,
		.n_headers = n,
		.payload_hash = payload,
		.normalize = 0,
	};
	struct mfs_sigv4_result res;
	int r;

	r = mfs_sigv4_sign(&req, "us-east-1", "s3", s3_date, s3_key_id, s3_secret, &res);
	CHECK_MSG(r == 0, "%s: %s", what, strerror(-r));
	if (r)
		return;
	CHECK_MSG(!strcmp(res.canonical_request.data, want_creq),
		  "%s: canonical request\n%s\n--- expected\n%s", what, res.canonical_request.data,
		  want_creq);
	CHECK_MSG(!strcmp(res.signature, want_sig), "%s: signature %s, expected %s", what,
		  res.signature, want_sig);
	mfs_sigv4_result_free(&res);
}

static void test_s3_examples(void)
{
	const struct mfs_sigv4_header get_object[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "Range", "bytes=0-9" },
		{ "x-amz-content-sha256", EMPTY_SHA256 },
		{ "x-amz-date", s3_date },
	};
	const struct mfs_sigv4_header put_object[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "Date", "Fri, 24 May 2013 00:00:00 GMT" },
		{ "x-amz-date", s3_date },
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
		{ "x-amz-content-sha256",
		  "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072" },
	};
	const struct mfs_sigv4_header bucket[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "x-amz-date", s3_date },
		{ "x-amz-content-sha256", EMPTY_SHA256 },
	};
	char key_path[64] = "/";
	struct mfs_buf b = MFS_BUF_INIT;

	check_s3_example("GET Object", "GET", "/test.txt", NULL, get_object, 4, EMPTY_SHA256,
			 "GET\n/test.txt\n\n"
			 "host:examplebucket.s3.amazonaws.com\n"
			 "range:bytes=0-9\n"
			 "x-amz-content-sha256:" EMPTY_SHA256 "\n"
			 "x-amz-date:20130524T000000Z\n\n"
			 "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
			 "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");

	/* The key "test$file.text", encoded as the S3 client will do it. */
	CHECK(mfs_uri_encode(&b, "test$file.text", 14, 1) == 0);
	if (b.data)
		snprintf(key_path + 1, sizeof(key_path) - 1, "%s", b.data);
	mfs_buf_free(&b);
	check_s3_example(
		"PUT Object", "PUT", key_path, "", put_object, 5,
		"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
		"PUT\n/test%24file.text\n\n"
		"date:Fri, 24 May 2013 00:00:00 GMT\n"
		"host:examplebucket.s3.amazonaws.com\n"
		"x-amz-content-sha256:"
		"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
		"x-amz-date:20130524T000000Z\n"
		"x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
		"date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
		"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
		"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");

	/* A parameter without '=' signs with an empty value. */
	check_s3_example("GET Bucket lifecycle", "GET", "/", "lifecycle", bucket, 3, EMPTY_SHA256,
			 "GET\n/\nlifecycle=\n"
			 "host:examplebucket.s3.amazonaws.com\n"
			 "x-amz-content-sha256:" EMPTY_SHA256 "\n"
			 "x-amz-date:20130524T000000Z\n\n"
			 "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
			 "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");

	check_s3_example("GET Bucket", "GET", "/", "max-keys=2&prefix=J", bucket, 3, EMPTY_SHA256,
			 "GET\n/\nmax-keys=2&prefix=J\n"
			 "host:examplebucket.s3.amazonaws.com\n"
			 "x-amz-content-sha256:" EMPTY_SHA256 "\n"
			 "x-amz-date:20130524T000000Z\n\n"
			 "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
			 "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

/* Sign and return line @line (0-based) of the canonical request in @dst. */
static int creq_line(const struct mfs_sigv4_request *req, int line, char *dst, size_t size)
{
	struct mfs_sigv4_result res;
	const char *p, *nl;
	int r;

	r = mfs_sigv4_sign(req, "us-east-1", "s3", s3_date, s3_key_id, s3_secret, &res);
	if (r)
		return r;
	p = res.canonical_request.data;
	while (line-- > 0 && p)
		p = (nl = strchr(p, '\n')) ? nl + 1 : NULL;
	if (p) {
		nl = strchr(p, '\n');
		snprintf(dst, size, "%.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
	}
	mfs_sigv4_result_free(&res);
	return p ? 0 : -ERANGE;
}

static void check_query(const char *query, const char *want)
{
	const struct mfs_sigv4_header h[] = { { "host", "b.s3.amazonaws.com" },
					      { "x-amz-date", s3_date } };
	struct mfs_sigv4_request req = { "GET", "/", query, h, 2, "UNSIGNED-PAYLOAD", 0 };
	char got[512];
	int r = creq_line(&req, 2, got, sizeof(got));

	CHECK_MSG(r == 0 && !strcmp(got, want), "query \"%s\" -> \"%s\", want \"%s\"", query,
		  r ? strerror(-r) : got, want);
}

static void check_path(const char *path, int normalize, const char *want)
{
	const struct mfs_sigv4_header h[] = { { "host", "b.s3.amazonaws.com" },
					      { "x-amz-date", s3_date } };
	struct mfs_sigv4_request req = { "GET", path, NULL, h, 2, "UNSIGNED-PAYLOAD", normalize };
	char got[512];
	int r = creq_line(&req, 1, got, sizeof(got));

	CHECK_MSG(r == 0 && !strcmp(got, want), "path \"%s\" (normalize %d) -> \"%s\", want \"%s\"",
		  path, normalize, r ? strerror(-r) : got, want);
}

static int has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static void test_canonical_parts(void)
{
	const struct mfs_sigv4_header h[] = {
		{ "X-Meta", "  one \t  two  " },
		{ "host", "b.s3.amazonaws.com" },
		{ "x-amz-date", s3_date },
		{ "x-meta", "three" },
		{ "X-Empty", "" },
	};
	struct mfs_sigv4_request req = { "HEAD", "/b/k", NULL, h, 5, "UNSIGNED-PAYLOAD", 0 };
	struct mfs_sigv4_result res;
	int r;

	/* What s3.c sends for a listing page, in any order. */
	check_query("prefix=sales%2F2024%2F&list-type=2&delimiter=%2F&"
		    "continuation-token=1%2Bab%3D%3D",
		    "continuation-token=1%2Bab%3D%3D&delimiter=%2F&list-type=2&"
		    "prefix=sales%2F2024%2F");
	check_query("prefix=a%2fb", "prefix=a%2Fb"); /* lower-case hex re-encoded */
	check_query("prefix=%7Euser%20x", "prefix=~user%20x");
	check_query("prefix=a+b", "prefix=a%2Bb"); /* '+' is a '+', not a space */
	check_query("uploads", "uploads=");
	check_query("a=2&a=1&A=3", "A=3&a=1&a=2");
	check_query("&&x=1&", "x=1");
	check_query("k=v=w", "k=v%3Dw");
	check_query("", "");

	check_path("/b/sales%202024/%C3%A9t%C3%A9.csv", 0, "/b/sales%202024/%C3%A9t%C3%A9.csv");
	check_path("/b//a/./../k", 0, "/b//a/./../k"); /* S3 keys may hold these */
	check_path("", 0, "/");
	check_path("/a/b/../c/./d//", 1, "/a/c/d/");
	check_path("/a/b/..", 1, "/a/");
	check_path("/..", 1, "/");
	check_path("/a/%41", 1, "/a/%2541"); /* other services: encoded twice */

	r = mfs_sigv4_sign(&req, "eu-west-1", "s3", s3_date, s3_key_id, s3_secret, &res);
	CHECK(r == 0);
	if (!r) {
		CHECK_MSG(strstr(res.canonical_request.data,
				 "\nx-empty:\nx-meta:one two,three\n\n"
				 "host;x-amz-date;x-empty;x-meta\nUNSIGNED-PAYLOAD") != NULL,
			  "headers:\n%s", res.canonical_request.data);
		CHECK(has_prefix(res.string_to_sign.data, "AWS4-HMAC-SHA256\n20130524T000000Z\n"
							   "20130524/eu-west-1/s3/aws4_request\n"));
		CHECK(strlen(res.signature) == 64);
		CHECK(has_prefix(res.authorization.data,
				 "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/"
				 "eu-west-1/s3/aws4_request, "
				 "SignedHeaders=host;x-amz-date;x-empty;x-meta, Signature="));
		CHECK(!strcmp(res.authorization.data + strlen(res.authorization.data) - 64,
			      res.signature));
		mfs_sigv4_result_free(&res);
	}
}

static void check_refused(const char *what, const struct mfs_sigv4_request *req,
			  const char *amz_date)
{
	struct mfs_sigv4_result res;
	int r;

	memset(&res, 0x5a, sizeof(res));
	r = mfs_sigv4_sign(req, "us-east-1", "s3", amz_date, s3_key_id, s3_secret, &res);
	CHECK_MSG(r == -EINVAL, "%s: got %d, want -EINVAL", what, r);
	/* Nothing to free after a failure, and freeing anyway is harmless. */
	CHECK_MSG(res.canonical_request.data == NULL && res.authorization.data == NULL,
		  "%s: result not cleared", what);
	mfs_sigv4_result_free(&res);
}

static void test_refused(void)
{
	const struct mfs_sigv4_header ok[] = { { "host", "b" }, { "x-amz-date", s3_date } };
	const struct mfs_sigv4_header no_host[] = { { "x-amz-date", s3_date } };
	const struct mfs_sigv4_header no_date[] = { { "host", "b" } };
	const struct mfs_sigv4_header other_date[] = { { "host", "b" },
						       { "x-amz-date", "20130524T000001Z" } };
	const struct mfs_sigv4_header newline[] = { { "host", "b" },
						    { "x-amz-date", s3_date },
						    { "x-a", "1\r\nx-b: 2" } };
	const struct mfs_sigv4_header bad_name[] = { { "host", "b" },
						     { "x-amz-date", s3_date },
						     { "x a", "1" } };
	struct mfs_sigv4_request req = { "GET", "/b/k", NULL, ok, 2, "UNSIGNED-PAYLOAD", 0 };
	struct mfs_sigv4_request r2;

	r2 = req;
	r2.headers = no_host;
	r2.n_headers = 1;
	check_refused("no host header", &r2, s3_date);
	r2 = req;
	r2.headers = no_date;
	r2.n_headers = 1;
	check_refused("no x-amz-date header", &r2, s3_date);
	r2 = req;
	r2.headers = other_date;
	check_refused("x-amz-date differs", &r2, s3_date);
	r2 = req;
	r2.headers = newline;
	r2.n_headers = 3;
	check_refused("CR LF in a value", &r2, s3_date);
	r2 = req;
	r2.headers = bad_name;
	r2.n_headers = 3;
	check_refused("space in a name", &r2, s3_date);
	check_refused("bad date", &req, "2013-05-24T00:00:00Z");
	check_refused("no date", &req, NULL);
	r2 = req;
	r2.path = "/b/a b";
	check_refused("unencoded space in an S3 path", &r2, s3_date);
	r2.path = "/b/a+b";
	check_refused("unencoded '+' in an S3 path", &r2, s3_date);
	r2.path = "/b/a%2fb";
	check_refused("lower-case escape in an S3 path", &r2, s3_date);
	r2.path = "/b/100%";
	check_refused("stray '%' in an S3 path", &r2, s3_date);
	r2.path = "b/k";
	check_refused("relative path", &r2, s3_date);
	r2.path = NULL;
	check_refused("no path", &r2, s3_date);
	r2 = req;
	r2.query = "prefix=100%";
	check_refused("stray '%' in the query", &r2, s3_date);
	r2.query = "prefix=%zz";
	check_refused("bad escape in the query", &r2, s3_date);
	r2 = req;
	r2.payload_hash = NULL;
	check_refused("no payload hash", &r2, s3_date);
	r2.payload_hash = "";
	check_refused("empty payload hash", &r2, s3_date);
	r2 = req;
	r2.method = "";
	check_refused("empty method", &r2, s3_date);
	check_refused("no request", NULL, s3_date);
}

int main(void)
{
	test_sha256();
	test_uri_encode();
	test_suite();
	test_s3_examples();
	test_canonical_parts();
	test_refused();
	return unit_done("sigv4");
}
