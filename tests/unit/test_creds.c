/*
 * test_creds.c - every source of the AWS credential chain.
 *
 * Files live in a fresh HOME under a mkdtemp directory; credential_process
 * helpers are shell scripts written there; the HTTP sources (container
 * credentials, IMDSv2) talk to a fake server thread on an ephemeral
 * 127.0.0.1 port.
 *
 * Nothing here may reach an instance-metadata or container-agent address:
 * every case starts with the inherited AWS_* variables removed and
 * AWS_EC2_METADATA_DISABLED=true, IMDS cases point
 * AWS_EC2_METADATA_SERVICE_ENDPOINT at the fake, a RELATIVE_URI is only set
 * together with MFS_TEST_CONTAINER_HOST (creds.c's test-only override of
 * 169.254.170.2), and guard() aborts before any provider is made if that
 * does not hold.
 *
 * Secrets in the fixtures all carry a marker ("SEKRIT", "TOKENVAL",
 * "AUTHTOK"); every message and everything a case logged (at debug level) is
 * checked for those markers.
 */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "creds.h"
#include "log.h"
#include "err.h"

static char tmp_root[64];  /* the mkdtemp directory */
static char case_dir[256]; /* one per case, also its HOME */

static void die(const char *what)
{
	perror(what);
	abort();
}

static void xsetenv(const char *name, const char *value)
{
	if (setenv(name, value, 1) < 0)
		die("setenv");
}

static void xunsetenv(const char *name)
{
	if (unsetenv(name) < 0)
		die("unsetenv");
}

static const char *pathf(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static const char *pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		die("path too long");
	return buf;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	size_t len = strlen(text), off = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die(path);
	/* fchmod, not the open mode: the umask must not make 0644 into 0600. */
	if (fchmod(fd, mode) < 0)
		die("fchmod");
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n < 0)
			die("write");
		off += (size_t)n;
	}
	if (close(fd) < 0)
		die("close");
}

static int read_int(const char *path)
{
	FILE *f = fopen(path, "r");
	int v = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static void iso_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		die("strftime");
}

static int contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

static int has_secret(const char *s)
{
	return contains(s, "SEKRIT") || contains(s, "TOKENVAL") || contains(s, "AUTHTOK");
}

/* Drop every inherited AWS_* variable, so the host's setup cannot leak in. */
static void clear_aws_env(void)
{
	extern char **environ;
	char name[256];
	int again = 1;
	size_t i, n;

	while (again) {
		again = 0;
		for (i = 0; environ[i]; i++) {
			if (strncmp(environ[i], "AWS_", 4) && strncmp(environ[i], "MFS_TEST_", 9))
				continue;
			n = strcspn(environ[i], "=");
			if (n >= sizeof(name))
				die("long variable name");
			memcpy(name, environ[i], n);
			name[n] = '\0';
			xunsetenv(name);
			again = 1; /* environ changed under us: scan again */
			break;
		}
	}
	xsetenv("AWS_EC2_METADATA_DISABLED", "true");
}

static int has_prefix(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Abort rather than let a provider reach a real metadata or agent address. */
static void guard(void)
{
	const char *dis = getenv("AWS_EC2_METADATA_DISABLED");
	const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");

	if (!(dis && strcmp(dis, "true") == 0) && !has_prefix(ep, "http://127.0.0.1:")) {
		fprintf(stderr, "guard: IMDS enabled without a loopback endpoint\n");
		abort();
	}
	if (rel && !has_prefix(getenv("MFS_TEST_CONTAINER_HOST"), "http://127.0.0.1:")) {
		fprintf(stderr, "guard: RELATIVE_URI without a loopback host\n");
		abort();
	}
	if (full && !has_prefix(full, "http://127.0.0.1:") && strcmp(full, "http://0.0.0.0:1/c")) {
		fprintf(stderr, "guard: FULL_URI not loopback\n");
		abort();
	}
}

static int make(const struct mfs_creds_config *cfg, struct mfs_creds_provider **p, char *msg,
		size_t msglen)
{
	static const struct mfs_creds_config none;
	int ret;

	guard();
	ret = mfs_creds_provider_new(cfg ? cfg : &none, p, msg, msglen);
	CHECK_MSG(!has_secret(msg), "message holds a secret: %s", msg);
	if (ret)
		CHECK_MSG(*msg, "failure %d without a message", ret);
	else
		CHECK(*p != NULL);
	return ret;
}

/* mfs_creds_get, but a failed make() must fail checks, not crash the test. */
static int get(struct mfs_creds_provider *p, struct mfs_creds *c)
{
	if (!p) {
		memset(c, 0, sizeof(*c));
		return -EFAULT;
	}
	return mfs_creds_get(p, c);
}

/* ---- fake HTTP server ------------------------------------------------ */

enum fake_mode { FAKE_CONTAINER, FAKE_IMDS };

#define FAKE_MAX_REQ 32
#define IMDS_TOKEN "imds-TOKENVAL-xyz"

struct fake {
	int fd;
	int port;
	pthread_t thr;
	atomic_int stop;
	pthread_mutex_t lock;
	enum fake_mode mode;   /* the rest protected by lock */
	int status;            /* non-zero: every answer gets this status */
	int garbage;           /* answer truncated JSON that holds a secret */
	int no_role;           /* IMDS: no role attached */
	int first_expiring;    /* the first credentials expire in 60 s */
	int ncreds;
	int nreq;
	char req[FAKE_MAX_REQ][2048];
};

/* "Name: value" as a whole header line, case-insensitive name. */
static int has_header(const char *req, const char *line)
{
	char pat[512];
	const char *h;

	snprintf(pat, sizeof(pat), "\r\n%s\r\n", line);
	h = strcasestr(req, pat);
	return h != NULL;
}

static void fake_creds(struct fake *f, char *body, size_t len)
{
	int n = ++f->ncreds;
	char exp[32];

	iso_time(time(NULL) + (f->first_expiring && n == 1 ? 60 : 3600), exp, sizeof(exp));
	snprintf(body, len,
		 "{\"Code\": \"Success\", \"Type\": \"AWS-HMAC\", \"AccessKeyId\": \"ASIAFAKE%d\", "
		 "\"SecretAccessKey\": \"fakeSEKRIT%d\", \"Token\": \"fakeTOKENVAL%d\", "
		 "\"Expiration\": \"%s\"}",
		 n, n, n, exp);
}

static int fake_answer(struct fake *f, const char *req, char *body, size_t len)
{
	char method[16] = "", path[512] = "";
	const char *creds_path = "/latest/meta-data/iam/security-credentials/";

	body[0] = '\0';
	if (sscanf(req, "%15s %511s", method, path) != 2)
		return 400;
	if (f->status) {
		snprintf(body, len, "failure");
		return f->status;
	}
	if (f->garbage) {
		snprintf(body, len,
			 "{\"AccessKeyId\": \"X\", \"SecretAccessKey\": \"garbageSEKRIT\"");
		return 200;
	}
	if (f->mode == FAKE_CONTAINER) {
		if (strcmp(method, "GET"))
			return 405;
		fake_creds(f, body, len);
		return 200;
	}
	if (!strcmp(method, "PUT") && !strcmp(path, "/latest/api/token")) {
		if (!has_header(req, "X-aws-ec2-metadata-token-ttl-seconds: 21600"))
			return 400;
		snprintf(body, len, IMDS_TOKEN);
		return 200;
	}
	/* Like an instance that requires IMDSv2. */
	if (!has_header(req, "X-aws-ec2-metadata-token: " IMDS_TOKEN))
		return 401;
	if (strcmp(method, "GET"))
		return 405;
	if (!strcmp(path, creds_path)) {
		if (f->no_role)
			return 404;
		snprintf(body, len, "test-role");
		return 200;
	}
	if (!strncmp(path, creds_path, strlen(creds_path)) &&
	    !strcmp(path + strlen(creds_path), "test-role")) {
		fake_creds(f, body, len);
		return 200;
	}
	return 404;
}

static void fake_serve(struct fake *f, int c)
{
	struct timeval tv = { 2, 0 };
	char req[2048], body[1024], head[256];
	size_t got = 0;
	ssize_t n;
	int status;

	if (setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return;
	while (got < sizeof(req) - 1) {
		n = read(c, req + got, sizeof(req) - 1 - got);
		if (n <= 0)
			return;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	pthread_mutex_lock(&f->lock);
	if (f->nreq < FAKE_MAX_REQ)
		snprintf(f->req[f->nreq], sizeof(f->req[0]), "%s", req);
	f->nreq++;
	status = fake_answer(f, req, body, sizeof(body));
	pthread_mutex_unlock(&f->lock);
	snprintf(head, sizeof(head),
		 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
		 strlen(body));
	if (write(c, head, strlen(head)) < 0 || write(c, body, strlen(body)) < 0)
		return;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd pfd;
	int c;

	while (!atomic_load(&f->stop)) {
		pfd.fd = f->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		c = accept(f->fd, NULL, NULL);
		if (c < 0)
			continue;
		fake_serve(f, c);
		close(c);
	}
	return NULL;
}

static void fake_start(struct fake *f, enum fake_mode mode)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	if (pthread_mutex_init(&f->lock, NULL))
		die("mutex");
	f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->fd < 0)
		die("socket");
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	if (bind(f->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(f->fd, 16) < 0 ||
	    getsockname(f->fd, (struct sockaddr *)&a, &alen) < 0)
		die("bind");
	f->port = ntohs(a.sin_port);
	if (pthread_create(&f->thr, NULL, fake_main, f))
		die("pthread_create");
}

static void fake_stop(struct fake *f)
{
	atomic_store(&f->stop, 1);
	pthread_join(f->thr, NULL);
	close(f->fd);
	pthread_mutex_destroy(&f->lock);
}

static void fake_reset(struct fake *f)
{
	pthread_mutex_lock(&f->lock);
	f->status = 0;
	f->garbage = 0;
	f->no_role = 0;
	f->first_expiring = 0;
	f->ncreds = 0;
	f->nreq = 0;
	pthread_mutex_unlock(&f->lock);
}

static int fake_nreq(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->lock);
	n = f->nreq;
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* A loopback port with nobody listening: bind one, then let it go. */
static int closed_port(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
		die("closed_port");
	close(fd);
	return ntohs(a.sin_port);
}

/*
 * Proxy variables pointing at a dead port: a metadata call that honoured
 * them would fail. Undone by run_case().
 */
static void dead_proxy(void)
{
	char proxy[64];

	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", closed_port());
	xsetenv("http_proxy", proxy);
	xsetenv("HTTPS_PROXY", proxy);
	xsetenv("ALL_PROXY", proxy);
}

/* ---- cases ------------------------------------------------------------ */

static void case_anonymous(void)
{
	struct mfs_creds_config cfg = { .anonymous = 1 };
	struct mfs_creds_provider *p = NULL;
	struct mfs_creds c;
	char msg[512];

	/* anonymous wins even over credentials in the environment */
	xsetenv("AWS_ACCESS_KEY_ID", "AKIDENV");
	xsetenv("AWS_SECRET_ACCESS_KEY", "envSEKRIT");
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == 0);
	CHECK(mfs_creds_is_anonymous(p));
	CHECK(strcmp(mfs_creds_source(p), "anonymous") == 0);
	memset(&c, 'x', sizeof(c));
	CHECK(get(p, &c) == 0);
	CHECK(c.access_key[0] == '\0' && c.secret_key[0] == '\0' && c.session_token[0] == '\0');
	CHECK(c.expiration == 0);
	mfs_creds_provider_free(p);
}

static void case_env(void)
{
	struct mfs_creds_provider *p = NULL;
	struct mfs_creds c;
	char msg[512], path[512];

	/* the environment wins over a profile */
	pathf(path, sizeof(path), "%s/.aws", case_dir);
	if (mkdir(path, 0700) < 0)
		die("mkdir");
	pathf(path, sizeof(path), "%s/.aws/credentials", case_dir);
	write_file(path,
		   "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = fileSEKRIT\n",
		   0600);

	xsetenv("AWS_ACCESS_KEY_ID", "AKIDENV");
	xsetenv("AWS_SECRET_ACCESS_KEY", "envSEKRIT");
	CHECK(make(NULL, &p, msg, sizeof(msg)) == 0);
	CHECK(strcmp(mfs_creds_source(p), "environment") == 0);
	CHECK(!mfs_creds_is_anonymous(p));
	CHECK(get(p, &c) == 0);
	CHECK(strcmp(c.access_key, "AKIDENV") == 0);
	CHECK(strcmp(c.secret_key, "envSEKRIT") == 0);
	CHECK(c.session_token[0] == '\0');
	CHECK(c.expiration == 0);
	mfs_creds_provider_free(p);

	xsetenv("AWS_SESSION_TOKEN", "envTOKENVAL");
	CHECK(make(NULL, &p, msg, sizeof(msg)) == 0);
	CHECK(get(p, &c) == 0);
	CHECK(strcmp(c.access_key, "AKIDENV") == 0);
	CHECK(strcmp(c.session_token, "envTOKENVAL") == 0);
	mfs_creds_provider_free(p);

	/* half a pair is a mistake to report, not a reason to look elsewhere */
	xunsetenv("AWS_SECRET_ACCESS_KEY");
	p = NULL;
	CHECK(make(NULL, &p, msg, sizeof(msg)) == -EINVAL);
	CHECK(p == NULL);
	CHECK_MSG(contains(msg, "AWS_SECRET_ACCESS_KEY"), "%s", msg);
	mfs_creds_wipe(&c);
}

static void case_credentials_file(void)
{
	struct mfs_creds_config cfg = { 0 };
	struct mfs_creds_provider *p = NULL;
	struct mfs_creds c;
	char msg[512], path[512];

	pathf(path, sizeof(path), "%s/.aws", case_dir);
	if (mkdir(path, 0700) < 0)
		die("mkdir");
	pathf(path, sizeof(path), "%s/.aws/credentials", case_dir);
	write_file(path,
		   "# a comment\n"
		   "; another\n"
		   "\n"
		   "[default]\r\n"
		   "aws_access_key_id = AKIDFILE\r\n"
		   "aws_secret_access_key=fileSEKRIT\r\n"
		   "[dev]\n"
		   "AWS_ACCESS_KEY_ID   =   AKIDDEV  \n"
		   "aws_secret_access_key: devSEKRIT\n"
		   "aws_session_token = devTOKENVAL\n",
		   0600);

	CHECK(make(NULL, &p, msg, sizeof(msg)) == 0);
	CHECK_MSG(contains(mfs_creds_source(p), "profile default") &&
			  contains(mfs_creds_source(p), path),
		  "%s", mfs_creds_source(p));
	CHECK(get(p, &c) == 0);
	CHECK(strcmp(c.access_key, "AKIDFILE") == 0);
	CHECK(strcmp(c.secret_key, "fileSEKRIT") == 0);
	CHECK(c.session_token[0] == '\0' && c.expiration == 0);
	mfs_creds_provider_free(p);

	/* AWS_PROFILE picks the section */
	xsetenv("AWS_PROFILE", "dev");
	CHECK(make(NULL, &p, msg, sizeof(msg)) == 0);
	CHECK(contains(mfs_creds_source(p), "profile dev"));
	CHECK(get(p, &c) == 0);
	CHECK(strcmp(c.access_key, "AKIDDEV") == 0);
	CHECK(strcmp(c.secret_key, "devSEKRIT") == 0);
	CHECK(strcmp(c.session_token, "devTOKENVAL") == 0);
	mfs_creds_provider_free(p);

	/* -o profile= beats AWS_PROFILE */
	cfg.profile = "default";
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == 0);
	CHECK(get(p, &c) == 0);
	CHECK(strcmp(c.access_key, "AKIDFILE") == 0);
	mfs_creds_provider_free(p);

	/* a named profile that is nowhere stops the chain */
	cfg.profile = "nope";
	p = NULL;
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == -ENOENT);
	CHECK(p == NULL);
	CHECK_MSG(contains(msg, "profile nope not found") && contains(msg, path), "%s", msg);

	/* AWS_SHARED_CREDENTIALS_FILE moves the file, "~/" means HOME */
	xunsetenv("AWS_PROFILE");
	pathf(path, sizeof(path), "%s/elsewhere", case_dir);
	write_file(path,
		   "[default]\naws_access_key_id = AKIDMOVED\naws_secret_access_key = mSEKRIT\n",
		   0600);
	xsetenv("AWS_SHARED_CREDENTIALS_FILE", "~/elsewhere");
	CHECK(make(NULL, &p, msg, sizeof(msg)) == 0);
	CHECK(contains(mfs_creds_source(p), path));
	CHECK(get(p, &c) == 0);
	CHECK(strcmp(c.access_key, "AKIDMOVED") == 0);
	mfs_creds_provider_free(p);

	/* malformed: the message names file and line, never the text */
	write_file(path, "[default]\naws_access_key_id = AKIDX\nbadSEKRIT\n", 0600);
	CHECK(make(NULL, &p, msg, sizeof(msg)) == -EINVAL);
	CHECK_MSG(contains(msg, ":3:"), "%s", msg);

	/* half a pair */
	write_file(path, "[default]\naws_secret_access_key = halfSEKRIT\n", 0600);
	CHECK(make(NULL, &p, msg, sizeof(msg)) == -EINVAL);
	CHECK_MSG(contains(msg, "aws_access_key_id"), "%s", msg);
	mfs_creds_wipe(&c);
}

static void case_config_file(void)
{
	struct mfs_creds_config cfg = { .profile = "x" };
	struct mfs_creds_provider *p = NULL;
	struct mfs_creds c;
	char msg[512], conf[512], region[64];

	pathf(conf, sizeof(conf), "%s/conf", case_dir);
	write_file(conf,
		   "[default]\n"
		   "region = eu-west-1\n"
		   "[x]\n"
		   "aws_access_key_id = AKIDDECOY\n"
		   "aws_secret_access_key = decoySEKRIT\n"
		   "[profile   x]\n"
		   "region = us-east-2\n"
		   "aws_access_key_id = AKIDCONFX\n"
		   "aws_secret_access_key = confxSEKRIT\n"
		   "s3 =\n"
		   "  max_concurrent_requests = 20\n"
		   "[profile role]\n"
		   "role_arn = arn:aws:iam::123456789012:role/r\n"
		   "source_profile = default\n",
		   0600);
	xsetenv("AWS_CONFIG_FILE", conf);

	CHECK(make(&cfg, &p, msg, sizeof(msg)) == 0);
	CHECK_MSG(contains(mfs_creds_source(p), "profile x") && contains(mfs_creds_source(p), conf),
		  "%s", mfs_creds_source(p));
	CHECK(get(p, &c) == 0);
	CHECK(strcmp(c.access_key, "AKIDCONFX") == 0);
	CHECK(strcmp(c.secret_key, "confxSEKRIT") == 0);
	mfs_creds_provider_free(p);

	/* the same profile through AWS_PROFILE */
	xsetenv("AWS_PROFILE", "x");
	CHECK(make(NULL, &p, msg, sizeof(msg)) == 0);
	CHECK(get(p, &c) == 0);
	CHECK(strcmp(c.access_key, "AKIDCONFX") == 0);
	mfs_creds_provider_free(p);
	xunsetenv("AWS_PROFILE");

	/* a profile that needs STS: refused with what to do instead */
	cfg.profile = "role";
	p = NULL;
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == -EINVAL);
	CHECK_MSG(contains(msg, "role_arn") && contains(msg, "credential_process"), "%s", msg);

	/* a default profile with only a region: the chain goes on, and ends */
	CHECK(make(NULL, &p, msg, sizeof(msg)) == -ENOENT);
	CHECK_MSG(contains(msg, "no AWS credentials found"), "%s", msg);

	/* regions: environment first, then the profile's */
	mfs_aws_region("x", region, sizeof(region));
	CHECK_MSG(strcmp(region, "us-east-2") == 0, "%s", region);
	mfs_aws_region(NULL, region, sizeof(region));
	CHECK_MSG(strcmp(region, "eu-west-1") == 0, "%s", region);
	xsetenv("AWS_PROFILE", "x");
	mfs_aws_region(NULL, region, sizeof(region));
	CHECK_MSG(strcmp(region, "us-east-2") == 0, "%s", region);
	mfs_aws_region("nope", region, sizeof(region));
	CHECK(region[0] == '\0');
	xsetenv("AWS_DEFAULT_REGION", "ap-south-1");
	mfs_aws_region("x", region, sizeof(region));
	CHECK(strcmp(region, "ap-south-1") == 0);
	xsetenv("AWS_REGION", "sa-east-1");
	mfs_aws_region("x", region, sizeof(region));
	CHECK(strcmp(region, "sa-east-1") == 0);
	mfs_creds_wipe(&c);
}

static void case_permissions(void)
{
	struct mfs_creds_config cfg = { .profile = "p" };
	struct mfs_creds_provider *p = NULL;
	char msg[512], cred[512], conf[512];

	pathf(cred, sizeof(cred), "%s/credentials", case_dir);
	pathf(conf, sizeof(conf), "%s/config", case_dir);
	xsetenv("AWS_SHARED_CREDENTIALS_FILE", cred);
	xsetenv("AWS_CONFIG_FILE", conf);
	write_file(cred, "[p]\naws_access_key_id = AKIDP\naws_secret_access_key = pSEKRIT\n", 0644);
	write_file(conf, "[profile q]\nregion = us-west-1\n", 0600);

	CHECK(make(&cfg, &p, msg, sizeof(msg)) == -EACCES);
	CHECK(p == NULL);
	CHECK_MSG(contains(msg, cred) && contains(msg, "chmod 600"), "%s", msg);

	/* the config file is held to the same rule */
	write_file(cred, "[q]\naws_access_key_id = AKIDQ\naws_secret_access_key = qSEKRIT\n", 0600);
	write_file(conf,
		   "[profile p]\naws_access_key_id = AKIDP\naws_secret_access_key = pSEKRIT\n",
		   0640);
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == -EACCES);
	CHECK_MSG(contains(msg, conf) && contains(msg, "chmod 600"), "%s", msg);

	/* once private, it loads */
	if (chmod(conf, 0600) < 0)
		die("chmod");
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == 0);
	mfs_creds_provider_free(p);
}

/*
 * A credential_process script: the first run prints @first, every later one
 * @later (each a printf format body, or a shell command when it starts with
 * '!'). It counts its runs in DIR/count.
 */
static void write_process(const char *script, const char *first, const char *later)
{
	char text[4096];

	snprintf(text, sizeof(text),
		 "#!/bin/sh\n"
		 "dir=$(dirname \"$0\")\n"
		 "n=$(cat \"$dir/count\" 2>/dev/null || echo 0)\n"
		 "n=$((n + 1))\n"
		 "echo $n > \"$dir/count\"\n"
		 "if [ \"$n\" = 1 ]; then\n%s\nelse\n%s\nfi\n",
		 first, later);
	write_file(script, text, 0700);
}

static void process_json(char *out, size_t len, const char *ak, int n, const char *exp)
{
	snprintf(out, len,
		 "printf '%%s\\n' '{\"Version\": 1, \"AccessKeyId\": \"%s\", "
		 "\"SecretAccessKey\": \"procSEKRIT%d\", \"SessionToken\": \"procTOKENVAL%d\", "
		 "\"Expiration\": \"%s\"}'",
		 ak, n, n, exp);
}

static void use_process(const char *script, const char *profile)
{
	char conf[512], text[1024];

	pathf(conf, sizeof(conf), "%s/config", case_dir);
	snprintf(text, sizeof(text),
		 "[profile %s]\ncredential_process = %s --profile \"%s\"\nregion = us-east-1\n",
		 profile, script, profile);
	write_file(conf, text, 0600);
	xsetenv("AWS_CONFIG_FILE", conf);
	xsetenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials");
}

struct getter {
	struct mfs_creds_provider *p;
	int ret;
	struct mfs_creds c;
};

static void *getter_main(void *arg)
{
	struct getter *g = arg;

	g->ret = get(g->p, &g->c);
	return NULL;
}

static void case_process(void)
{
	struct mfs_creds_config cfg = { .profile = "proc" };
	struct mfs_creds_provider *p = NULL;
	struct getter g[8];
	pthread_t thr[8];
	struct mfs_creds c;
	char msg[512], script[512], count[512], first[512], later[512], exp1[32], exp2[48];
	time_t t1 = time(NULL) + 60, t2 = time(NULL) + 3600, shifted = t2 + 7200;
	struct tm tm;
	int i;

	pathf(script, sizeof(script), "%s/helper.sh", case_dir);
	pathf(count, sizeof(count), "%s/count", case_dir);
	iso_time(t1, exp1, sizeof(exp1));
	/* the second Expiration with a fraction and an offset: the same instant */
	if (!gmtime_r(&shifted, &tm) ||
	    !strftime(exp2, sizeof(exp2), "%Y-%m-%dT%H:%M:%S.250+02:00", &tm))
		die("strftime");
	process_json(first, sizeof(first), "AKIDPROC1", 1, exp1);
	process_json(later, sizeof(later), "AKIDPROC2", 2, exp2);
	write_process(script, first, later);
	use_process(script, "proc");

	CHECK(make(&cfg, &p, msg, sizeof(msg)) == 0);
	CHECK_MSG(contains(mfs_creds_source(p), "credential_process of profile proc"), "%s",
		  mfs_creds_source(p));
	CHECK(read_int(count) == 1);
	/* 60 s left, under the 5-minute margin: this get refreshes */
	CHECK(get(p, &c) == 0);
	CHECK(read_int(count) == 2);
	CHECK(strcmp(c.access_key, "AKIDPROC2") == 0);
	CHECK(strcmp(c.secret_key, "procSEKRIT2") == 0);
	CHECK(strcmp(c.session_token, "procTOKENVAL2") == 0);
	CHECK_MSG(c.expiration == t2, "%ld != %ld", (long)c.expiration, (long)t2);
	/* an hour left: no more runs */
	CHECK(get(p, &c) == 0);
	CHECK(read_int(count) == 2);
	mfs_creds_provider_free(p);

	/* eight threads hit an expiring provider at once: one refresh */
	if (unlink(count) < 0)
		die("unlink");
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == 0);
	CHECK(read_int(count) == 1);
	for (i = 0; i < 8; i++) {
		g[i].p = p;
		if (pthread_create(&thr[i], NULL, getter_main, &g[i]))
			die("pthread_create");
	}
	for (i = 0; i < 8; i++) {
		pthread_join(thr[i], NULL);
		CHECK(g[i].ret == 0);
		CHECK(strcmp(g[i].c.access_key, "AKIDPROC2") == 0);
		mfs_creds_wipe(&g[i].c);
	}
	CHECK_MSG(read_int(count) == 2, "%d runs", read_int(count));
	mfs_creds_provider_free(p);
	mfs_creds_wipe(&c);
}

/* Has @pid exited (gone, or a zombie waiting for its new parent)? */
static int proc_gone(pid_t pid)
{
	char path[64], buf[512], *s;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (i = 0; i < 200; i++) {
		f = fopen(path, "r");
		if (!f)
			return 1;
		s = fgets(buf, sizeof(buf), f);
		fclose(f);
		if (s && (s = strrchr(buf, ')')) && (s[2] == 'Z' || s[2] == 'X'))
			return 1;
		usleep(10000);
	}
	return 0;
}

static void case_process_failures(void)
{
	struct mfs_creds_config cfg = { .profile = "bad" };
	struct mfs_creds_provider *p = NULL;
	struct timespec a, b;
	struct mfs_creds c;
	char msg[512], script[512], count[512], first[512], exp[32], pidfile[512], later[600];
	int pid;

	pathf(script, sizeof(script), "%s/helper.sh", case_dir);
	pathf(count, sizeof(count), "%s/count", case_dir);
	pathf(pidfile, sizeof(pidfile), "%s/pid", case_dir);
	use_process(script, "bad");

	write_process(script, "echo 'helper: no session' >&2; exit 3", "exit 3");
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == -EIO);
	CHECK_MSG(contains(msg, "credential_process of profile bad") && contains(msg, "status 3"),
		  "%s", msg);

	/* truncated JSON: the parser's complaint would quote the secret */
	write_process(script,
		      "printf '{\"Version\": 1, \"AccessKeyId\": \"AKIDBAD\", \"SecretAccessKey\": "
		      "\"badSEKRIT\"'",
		      "exit 1");
	if (unlink(count) < 0)
		die("unlink");
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == -EINVAL);
	CHECK_MSG(contains(msg, "JSON"), "%s", msg);

	/* no output at all */
	write_process(script, "true", "exit 1");
	if (unlink(count) < 0)
		die("unlink");
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == -EINVAL);
	CHECK_MSG(contains(msg, "JSON"), "%s", msg);

	write_process(script,
		      "echo '{\"Version\": 2, \"AccessKeyId\": \"AKID\", "
		      "\"SecretAccessKey\": \"vSEKRIT\"}'",
		      "exit 1");
	if (unlink(count) < 0)
		die("unlink");
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == -EINVAL);
	CHECK_MSG(contains(msg, "Version"), "%s", msg);

	write_process(script, "echo '{\"Version\": 1, \"AccessKeyId\": \"AKID\"}'", "exit 1");
	if (unlink(count) < 0)
		die("unlink");
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == -EINVAL);
	CHECK_MSG(contains(msg, "SecretAccessKey"), "%s", msg);

	write_process(script,
		      "echo '{\"Version\": 1, \"AccessKeyId\": \"AKID\", \"SecretAccessKey\": "
		      "\"eSEKRIT\", \"Expiration\": \"tomorrow\"}'",
		      "exit 1");
	if (unlink(count) < 0)
		die("unlink");
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == -EINVAL);
	CHECK_MSG(contains(msg, "Expiration"), "%s", msg);

	/* a hung helper is killed, its children with it, in bounded time */
	snprintf(later, sizeof(later), "sleep 30 & echo $! > '%s'; wait", pidfile);
	write_process(script, later, "exit 1");
	if (unlink(count) < 0)
		die("unlink");
	cfg.http_timeout = 0.1; /* 15 times that: 1.5 s */
	clock_gettime(CLOCK_MONOTONIC, &a);
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == -EIO);
	clock_gettime(CLOCK_MONOTONIC, &b);
	CHECK_MSG(contains(msg, "timed out"), "%s", msg);
	CHECK_MSG(b.tv_sec - a.tv_sec < 6, "took %ld s", (long)(b.tv_sec - a.tv_sec));
	pid = read_int(pidfile);
	CHECK(pid > 0);
	if (pid > 0)
		CHECK_MSG(proc_gone(pid), "helper child %d still running", pid);
	cfg.http_timeout = 0;

	/* a refresh that fails while the old credentials still hold keeps them */
	iso_time(time(NULL) + 120, exp, sizeof(exp));
	process_json(first, sizeof(first), "AKIDOLD", 1, exp);
	write_process(script, first, "exit 4");
	if (unlink(count) < 0)
		die("unlink");
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == 0);
	CHECK(get(p, &c) == 0);
	CHECK(strcmp(c.access_key, "AKIDOLD") == 0);
	CHECK(read_int(count) == 2);
	/* and does not hammer the helper: the next try waits */
	CHECK(get(p, &c) == 0);
	CHECK(read_int(count) == 2);
	mfs_creds_provider_free(p);

	/* already expired and the refresh fails: an error, with a reason */
	iso_time(time(NULL) - 10, exp, sizeof(exp));
	process_json(first, sizeof(first), "AKIDGONE", 1, exp);
	write_process(script, first, "exit 4");
	if (unlink(count) < 0)
		die("unlink");
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == 0);
	mfs_clear_error();
	CHECK(get(p, &c) == -EIO);
	CHECK_MSG(contains(mfs_last_error(), "expired"), "%s", mfs_last_error());
	mfs_creds_provider_free(p);
	mfs_creds_wipe(&c);
}

static const char *req_of(struct fake *f, int i)
{
	return i < FAKE_MAX_REQ ? f->req[i] : "";
}

static void case_container(void)
{
	struct mfs_creds_provider *p = NULL;
	struct mfs_creds c;
	struct fake f;
	char msg[512], url[128], tokfile[512], host[64];

	dead_proxy();
	fake_start(&f, FAKE_CONTAINER);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/creds", f.port);
	xsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url);
	xsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer-AUTHTOK-1");

	CHECK(make(NULL, &p, msg, sizeof(msg)) == 0);
	CHECK_MSG(contains(mfs_creds_source(p), "container credentials") &&
			  contains(mfs_creds_source(p), url),
		  "%s", mfs_creds_source(p));
	CHECK(get(p, &c) == 0);
	CHECK(strcmp(c.access_key, "ASIAFAKE1") == 0);
	CHECK(strcmp(c.secret_key, "fakeSEKRIT1") == 0);
	CHECK(strcmp(c.session_token, "fakeTOKENVAL1") == 0);
	CHECK(c.expiration > time(NULL) + 3000);
	CHECK(fake_nreq(&f) == 1);
	CHECK_MSG(has_prefix(req_of(&f, 0), "GET /creds HTTP/1.1\r\n"), "%s", req_of(&f, 0));
	CHECK(has_header(req_of(&f, 0), "Authorization: Bearer-AUTHTOK-1"));
	mfs_creds_provider_free(p);

	/* the token file wins over the variable, and is re-read on refresh */
	fake_reset(&f);
	pathf(tokfile, sizeof(tokfile), "%s/token", case_dir);
	write_file(tokfile, "file-AUTHTOK-2\n", 0600);
	xsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokfile);
	f.first_expiring = 1;
	CHECK(make(NULL, &p, msg, sizeof(msg)) == 0);
	CHECK(has_header(req_of(&f, 0), "Authorization: file-AUTHTOK-2"));
	write_file(tokfile, "file-AUTHTOK-3", 0600);
	CHECK(get(p, &c) == 0);
	CHECK(strcmp(c.access_key, "ASIAFAKE2") == 0);
	CHECK(fake_nreq(&f) == 2);
	CHECK(has_header(req_of(&f, 1), "Authorization: file-AUTHTOK-3"));
	CHECK(get(p, &c) == 0);
	CHECK(fake_nreq(&f) == 2);
	mfs_creds_provider_free(p);
	xunsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");

	/* RELATIVE_URI goes before FULL_URI, on the agent's host */
	fake_reset(&f);
	snprintf(host, sizeof(host), "http://127.0.0.1:%d", f.port);
	xsetenv("MFS_TEST_CONTAINER_HOST", host);
	xsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc-123");
	CHECK(make(NULL, &p, msg, sizeof(msg)) == 0);
	CHECK_MSG(has_prefix(req_of(&f, 0), "GET /v2/credentials/abc-123 HTTP/1.1\r\n"), "%s",
		  req_of(&f, 0));
	mfs_creds_provider_free(p);
	xunsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	xunsetenv("MFS_TEST_CONTAINER_HOST");

	/* a failing agent: -EIO naming the URL, no fallback to IMDS */
	fake_reset(&f);
	f.status = 500;
	CHECK(make(NULL, &p, msg, sizeof(msg)) == -EIO);
	CHECK_MSG(contains(msg, url) && contains(msg, "500"), "%s", msg);

	fake_reset(&f);
	f.garbage = 1;
	CHECK(make(NULL, &p, msg, sizeof(msg)) == -EINVAL);
	CHECK_MSG(contains(msg, url), "%s", msg);

	/* plain http to a host that is not loopback would leak the token */
	fake_reset(&f);
	xsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://0.0.0.0:1/c");
	CHECK(make(NULL, &p, msg, sizeof(msg)) == -EINVAL);
	CHECK_MSG(contains(msg, "AWS_CONTAINER_CREDENTIALS_FULL_URI"), "%s", msg);
	CHECK(fake_nreq(&f) == 0);

	fake_stop(&f);
	mfs_creds_wipe(&c);
}

static void case_imds(void)
{
	struct mfs_creds_config cfg = { .http_timeout = 1 };
	struct mfs_creds_provider *p = NULL;
	struct mfs_creds c;
	struct fake f;
	char msg[512], ep[128];
	const char *creds_req = "GET /latest/meta-data/iam/security-credentials/test-role ";
	int i;

	dead_proxy();
	fake_start(&f, FAKE_IMDS);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/", f.port);
	xsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep);
	ep[strlen(ep) - 1] = '\0';

	/* disabled means not even asked */
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == -ENOENT);
	CHECK_MSG(contains(msg, "disabled"), "%s", msg);
	CHECK(fake_nreq(&f) == 0);

	xsetenv("AWS_EC2_METADATA_DISABLED", "false");
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == 0);
	CHECK_MSG(contains(mfs_creds_source(p), "instance metadata") &&
			  contains(mfs_creds_source(p), ep) &&
			  contains(mfs_creds_source(p), "test-role"),
		  "%s", mfs_creds_source(p));
	CHECK(get(p, &c) == 0);
	CHECK(strcmp(c.access_key, "ASIAFAKE1") == 0);
	CHECK(strcmp(c.secret_key, "fakeSEKRIT1") == 0);
	CHECK(strcmp(c.session_token, "fakeTOKENVAL1") == 0);
	CHECK(fake_nreq(&f) == 3);
	CHECK_MSG(has_prefix(req_of(&f, 0), "PUT /latest/api/token "), "%s", req_of(&f, 0));
	CHECK(has_header(req_of(&f, 0), "X-aws-ec2-metadata-token-ttl-seconds: 21600"));
	CHECK_MSG(has_prefix(req_of(&f, 1), "GET /latest/meta-data/iam/security-credentials/ "),
		  "%s", req_of(&f, 1));
	CHECK_MSG(has_prefix(req_of(&f, 2), creds_req), "%s", req_of(&f, 2));
	for (i = 1; i < 3; i++)
		CHECK(has_header(req_of(&f, i), "X-aws-ec2-metadata-token: " IMDS_TOKEN));
	mfs_creds_provider_free(p);

	/* expiring instance credentials are refreshed, with a new token */
	fake_reset(&f);
	f.first_expiring = 1;
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == 0);
	CHECK(get(p, &c) == 0);
	CHECK(strcmp(c.access_key, "ASIAFAKE2") == 0);
	CHECK(fake_nreq(&f) == 6);
	CHECK(has_prefix(req_of(&f, 3), "PUT /latest/api/token "));
	CHECK(has_prefix(req_of(&f, 5), creds_req));
	CHECK(has_header(req_of(&f, 5), "X-aws-ec2-metadata-token: " IMDS_TOKEN));
	mfs_creds_provider_free(p);

	/* an instance without a role has no credentials */
	fake_reset(&f);
	f.no_role = 1;
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == -ENOENT);
	CHECK_MSG(contains(msg, "no AWS credentials found") && contains(msg, "no IAM role"), "%s",
		  msg);

	fake_reset(&f);
	f.garbage = 1;
	CHECK(make(&cfg, &p, msg, sizeof(msg)) == -EINVAL);
	CHECK_MSG(contains(msg, ep), "%s", msg);

	fake_stop(&f);
	mfs_creds_wipe(&c);
}

static void case_missing(void)
{
	struct mfs_creds_provider *p = NULL;
	char msg[1024], ep[64], path[512];

	/* empty shared files are no credentials, and no error */
	pathf(path, sizeof(path), "%s/.aws", case_dir);
	if (mkdir(path, 0700) < 0)
		die("mkdir");
	pathf(path, sizeof(path), "%s/.aws/config", case_dir);
	write_file(path, "# nothing yet\n", 0600);
	pathf(path, sizeof(path), "%s/.aws/credentials", case_dir);
	write_file(path, "", 0600);
	CHECK(make(NULL, &p, msg, sizeof(msg)) == -ENOENT);
	CHECK(p == NULL);
	CHECK_MSG(contains(msg, "no AWS credentials found") && contains(msg, "environment") &&
			  contains(msg, path) && contains(msg, "profile default") &&
			  contains(msg, "container") && contains(msg, "disabled") &&
			  contains(msg, "-o anonymous"),
		  "%s", msg);
	CHECK(strchr(msg, '\n') == NULL);

	/* metadata enabled, but nobody answers on the (loopback) endpoint */
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", closed_port());
	xsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep);
	xsetenv("AWS_EC2_METADATA_DISABLED", "false");
	CHECK(make(NULL, &p, msg, sizeof(msg)) == -ENOENT);
	CHECK_MSG(contains(msg, "no AWS credentials found") && contains(msg, ep), "%s", msg);
}

static void case_wipe(void)
{
	struct mfs_creds c, zero;
	size_t i;
	int clean = 1;

	memset(&c, 'x', sizeof(c));
	memset(&zero, 0, sizeof(zero));
	mfs_creds_wipe(&c);
	for (i = 0; i < sizeof(c); i++)
		clean &= ((unsigned char *)&c)[i] == 0;
	CHECK(clean);
	mfs_creds_wipe(NULL);
}

/* ---- driver ----------------------------------------------------------- */

/*
 * Run one case in its own HOME with a clean environment, its stderr (the
 * library's log) captured so that it can be searched for secrets, then
 * passed on.
 */
static void run_case(const char *name, void (*fn)(void))
{
	char log[512], buf[8192];
	int saved, fd;
	ssize_t n;
	FILE *f;
	char *all = NULL;
	size_t len = 0;

	pathf(case_dir, sizeof(case_dir), "%s/%s", tmp_root, name);
	if (mkdir(case_dir, 0700) < 0)
		die("mkdir");
	clear_aws_env();
	xsetenv("HOME", case_dir);

	pathf(log, sizeof(log), "%s/%s.log", tmp_root, name);
	/* Should the case crash, its output is in the log file. */
	printf("%s: running, stderr in %s\n", name, log);
	fflush(stdout);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open(log, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (saved < 0 || fd < 0 || dup2(fd, STDERR_FILENO) < 0)
		die("capture stderr");
	close(fd);

	fn();

	fflush(stderr);
	if (dup2(saved, STDERR_FILENO) < 0)
		die("restore stderr");
	close(saved);
	clear_aws_env();
	xunsetenv("http_proxy");
	xunsetenv("HTTPS_PROXY");
	xunsetenv("ALL_PROXY");

	f = open_memstream(&all, &len);
	fd = open(log, O_RDONLY | O_CLOEXEC);
	if (!f || fd < 0)
		die("read log");
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, f);
	close(fd);
	fclose(f);
	fputs(all, stderr);
	CHECK_MSG(!has_secret(all), "case %s logged a secret", name);
	free(all);
	printf("%s: done\n", name);
}

int main(void)
{
	char cmd[128];

	snprintf(tmp_root, sizeof(tmp_root), "/tmp/mfs-creds-XXXXXX");
	if (!mkdtemp(tmp_root))
		die("mkdtemp");
	printf("creds: working in %s\n", tmp_root);
	/* The helpers' failures must not end the test when it writes to them. */
	signal(SIGPIPE, SIG_IGN);
	mfs_log_set_level(MFS_LOG_DEBUG);

	run_case("anonymous", case_anonymous);
	run_case("env", case_env);
	run_case("credentials_file", case_credentials_file);
	run_case("config_file", case_config_file);
	run_case("permissions", case_permissions);
	run_case("process", case_process);
	run_case("process_failures", case_process_failures);
	run_case("container", case_container);
	run_case("imds", case_imds);
	run_case("missing", case_missing);
	run_case("wipe", case_wipe);

	/* Keep the directory for a post-mortem when something failed. */
	if (!unit_failures) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmp_root);
	}
	return unit_done("creds");
}
