/*
 * creds.c - where the S3 client's credentials come from.
 *
 * The chain (SPEC §2, creds.h) is walked once, when the provider is made at
 * mount time; the provider then remembers which source answered and re-fetches
 * expiring credentials from that same source. Walking the whole chain again on
 * a refresh could silently switch to another identity halfway through a mount.
 *
 * Everything here handles secrets. They never reach a message or a log line:
 * messages name the source (a variable, a file and line, a URL), never a value,
 * and parser errors of foreign libraries are dropped because they quote their
 * input. Buffers that held a secret are wiped before they are freed.
 *
 * DESIGN: see creds.h. The one mutex of a provider guards its current
 * credentials and refresh state; a refresh (a process or an HTTP call of at
 * most a few seconds) runs with it held, so concurrent requests wait for one
 * refresh rather than each starting its own. That is the one place in store/
 * where a lock is held across I/O, on purpose. After a failed refresh the next
 * attempt waits REFRESH_RETRY seconds, so a dead credential source costs the
 * request threads one timeout per interval, not one each.
 */
#include "creds.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <yajl/yajl_tree.h>

#include "buf.h"
#include "err.h"
#include "log.h"

/* Refresh temporary credentials this long before they expire (SDK default). */
#define REFRESH_AHEAD 300
/* After a failed refresh, wait this long before the next attempt. */
#define REFRESH_RETRY 10
/* Defaults from the AWS SDKs. */
#define DEFAULT_HTTP_TIMEOUT 2.0
#define PROCESS_TIMEOUT_FACTOR 15
#define CONTAINER_HOST "http://169.254.170.2"
#define IMDS_ENDPOINT "http://169.254.169.254"
#define IMDS_ENDPOINT_V6 "http://[fd00:ec2::254]"
#define IMDS_TOKEN_TTL "21600"
/* Sizes far above anything legitimate, so a broken source cannot eat memory. */
#define MAX_FILE_SIZE (1 << 20)
#define MAX_BODY_SIZE (64 << 10)
#define MAX_TOKEN_FILE (16 << 10)

enum creds_kind {
	KIND_ANONYMOUS,
	KIND_STATIC,    /* environment or a profile's keys: never expire */
	KIND_PROCESS,
	KIND_CONTAINER,
	KIND_IMDS,
};

struct mfs_creds_provider {
	enum creds_kind kind;
	double timeout;         /* seconds, for one HTTP call */
	char source[768];       /* set before the provider is returned, then constant */
	char *process;          /* credential_process command line */
	char *url;              /* container credentials URL */
	char *auth_token;       /* AWS_CONTAINER_AUTHORIZATION_TOKEN as seen at start */
	char *auth_token_file;  /* re-read on each fetch: it is rotated (EKS) */
	char *imds;             /* IMDS endpoint, no trailing slash */

	pthread_mutex_t lock;
	struct mfs_creds cur;   /* protected by lock */
	time_t retry_after;     /* protected by lock */
	int last_err;           /* protected by lock */
};

/* What one profile section of one file says; secrets wiped by profile_clear(). */
struct profile {
	int found;
	char access_key[sizeof(((struct mfs_creds *)0)->access_key)];
	char secret_key[sizeof(((struct mfs_creds *)0)->secret_key)];
	char session_token[sizeof(((struct mfs_creds *)0)->session_token)];
	char *process;
	char region[64];
	const char *unsupported; /* e.g. "role_arn": configured, but not by us */
};

/* State of one walk of the chain, for the final "checked ..." message. */
struct chain {
	const struct mfs_creds_config *cfg;
	char checked[1024];
	int stop;               /* a source said -ENOENT, but the walk must end */
	char *msg;
	size_t msglen;
};

static void put_msg(char *msg, size_t msglen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void put_msg(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (!msg || msglen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
}

static void checked_add(struct chain *ch, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void checked_add(struct chain *ch, const char *fmt, ...)
{
	size_t len = strlen(ch->checked);
	va_list ap;

	if (len + 3 >= sizeof(ch->checked))
		return;
	if (len) {
		strcpy(ch->checked + len, ", ");
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(ch->checked + len, sizeof(ch->checked) - len, fmt, ap);
	va_end(ap);
}

/* An unset and an empty variable mean the same to the AWS SDKs. */
static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static int set_str(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstlen)
		return -EINVAL;
	memcpy(dst, src, n + 1);
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static void wipe_buf(struct mfs_buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	mfs_buf_free(b);
}

static void free_secret(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

/* A header value must not smuggle a second header in. */
static int header_safe(const char *s)
{
	return strpbrk(s, "\r\n") == NULL;
}

void mfs_creds_wipe(struct mfs_creds *c)
{
	if (c)
		explicit_bzero(c, sizeof(*c));
}

/*
 * RFC 3339 / ISO 8601 UTC or offset time, as every credential source writes
 * it: 2024-05-01T12:00:00Z, with optional fraction and "+hh:mm" offset.
 */
static int digits(const char **s, int n)
{
	int v = 0;

	while (n--) {
		if (!isdigit((unsigned char)**s))
			return -1;
		v = v * 10 + (*(*s)++ - '0');
	}
	return v;
}

static int parse_time(const char *s, time_t *out)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	struct tm tm;
	time_t t;

	if ((y = digits(&s, 4)) < 0 || *s++ != '-' || (mo = digits(&s, 2)) < 0 ||
	    *s++ != '-' || (d = digits(&s, 2)) < 0 || (*s != 'T' && *s != 't' && *s != ' '))
		return -EINVAL;
	s++;
	if ((h = digits(&s, 2)) < 0 || *s++ != ':' || (mi = digits(&s, 2)) < 0 ||
	    *s++ != ':' || (sec = digits(&s, 2)) < 0)
		return -EINVAL;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		while (isdigit((unsigned char)*s))
			s++;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if ((oh = digits(&s, 2)) < 0)
			return -EINVAL;
		if (*s == ':')
			s++;
		if ((om = digits(&s, 2)) < 0)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
	    oh > 23 || om > 59)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*out = t - sign * (oh * 3600 + om * 60);
	return 0;
}

/* ---- JSON answers of credential_process, container and IMDS ---------- */

static const char *json_str(yajl_val root, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(root, path, yajl_t_string);

	return v ? YAJL_GET_STRING(v) : NULL;
}

/* yajl keeps its own copies of the strings; clear them before the free. */
static void json_free(yajl_val root)
{
	size_t i;

	if (root && YAJL_IS_OBJECT(root)) {
		for (i = 0; i < root->u.object.len; i++) {
			yajl_val v = root->u.object.values[i];

			if (YAJL_IS_STRING(v))
				explicit_bzero(v->u.string, strlen(v->u.string));
		}
	}
	yajl_tree_free(root);
}

enum json_shape {
	JSON_PROCESS,   /* Version 1, SessionToken */
	JSON_CONTAINER, /* Token */
	JSON_IMDS,      /* Token, and Code "Success" */
};

/*
 * Fill @out from a JSON answer. @why gets "what is wrong" without any value:
 * yajl's own error text quotes the input, so it is never shown.
 */
static int creds_from_json(const char *body, enum json_shape shape, struct mfs_creds *out,
			   char *why, size_t whylen)
{
	char yerr[128];
	yajl_val root = NULL;
	const char *ak, *sk, *tok, *exp, *code;
	const char *version_path[] = { "Version", NULL };
	yajl_val version;
	int ret;

	memset(out, 0, sizeof(*out));
	root = yajl_tree_parse(body, yerr, sizeof(yerr));
	explicit_bzero(yerr, sizeof(yerr));
	if (!root || !YAJL_IS_OBJECT(root)) {
		ret = -EINVAL;
		put_msg(why, whylen, "answer is not a JSON object");
		goto out;
	}
	if (shape == JSON_PROCESS) {
		version = yajl_tree_get(root, version_path, yajl_t_number);
		if (!version || !YAJL_IS_INTEGER(version) || YAJL_GET_INTEGER(version) != 1) {
			ret = -EINVAL;
			put_msg(why, whylen, "answer has no \"Version\": 1");
			goto out;
		}
	}
	if (shape == JSON_IMDS) {
		code = json_str(root, "Code");
		if (code && strcmp(code, "Success") != 0) {
			ret = -EIO;
			put_msg(why, whylen, "answer has Code other than Success");
			goto out;
		}
	}
	ak = json_str(root, "AccessKeyId");
	sk = json_str(root, "SecretAccessKey");
	tok = json_str(root, shape == JSON_PROCESS ? "SessionToken" : "Token");
	exp = json_str(root, "Expiration");
	if (!ak || !*ak || !sk || !*sk) {
		ret = -EINVAL;
		put_msg(why, whylen, "answer lacks AccessKeyId or SecretAccessKey");
		goto out;
	}
	if (set_str(out->access_key, sizeof(out->access_key), ak) ||
	    set_str(out->secret_key, sizeof(out->secret_key), sk) ||
	    (tok && set_str(out->session_token, sizeof(out->session_token), tok))) {
		ret = -EINVAL;
		put_msg(why, whylen, "a credential in the answer is too long");
		goto out;
	}
	if (exp && parse_time(exp, &out->expiration)) {
		ret = -EINVAL;
		put_msg(why, whylen, "Expiration is not an ISO 8601 time");
		goto out;
	}
	ret = 0;
out:
	if (ret)
		mfs_creds_wipe(out);
	json_free(root);
	return ret;
}

/* ---- shared credentials and config files ----------------------------- */

static int home_dir(char *out, size_t len)
{
	const char *h = env("HOME");
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (!h) {
		if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) != 0 || !res)
			return -ENOENT;
		h = res->pw_dir;
	}
	if ((size_t)snprintf(out, len, "%s", h) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* The file named by @var ("~/" expanded, as the SDKs do), else ~/@rel. */
static int shared_path(const char *var, const char *rel, char *out, size_t len)
{
	const char *v = env(var);
	char home[PATH_MAX];
	int ret, n;

	if (v && !(v[0] == '~' && v[1] == '/')) {
		n = snprintf(out, len, "%s", v);
	} else {
		ret = home_dir(home, sizeof(home));
		if (ret)
			return ret;
		n = v ? snprintf(out, len, "%s%s", home, v + 1) :
			snprintf(out, len, "%s/%s", home, rel);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void profile_clear(struct profile *pr)
{
	free_secret(pr->process);
	explicit_bzero(pr, sizeof(*pr));
}

/*
 * The config file names sections "[profile NAME]" except "[default]"; the
 * credentials file names them "[NAME]" (botocore's rules).
 */
static int section_matches(char *sec, const char *name, int is_config)
{
	if (!is_config)
		return strcmp(sec, name) == 0;
	if (strcmp(sec, "default") == 0)
		return strcmp(name, "default") == 0;
	if (strncmp(sec, "profile", 7) != 0 || !isspace((unsigned char)sec[7]))
		return 0;
	return strcmp(trim(sec + 8), name) == 0;
}

/* Keys that select a way of getting credentials this client does not have. */
static const char *const unsupported_keys[] = {
	"role_arn", "web_identity_token_file", "sso_session", "sso_start_url",
	"credential_source", "login_session",
};

static int profile_set(struct profile *pr, const char *key, const char *val)
{
	size_t i;

	if (!strcasecmp(key, "aws_access_key_id"))
		return set_str(pr->access_key, sizeof(pr->access_key), val);
	if (!strcasecmp(key, "aws_secret_access_key"))
		return set_str(pr->secret_key, sizeof(pr->secret_key), val);
	if (!strcasecmp(key, "aws_session_token"))
		return set_str(pr->session_token, sizeof(pr->session_token), val);
	if (!strcasecmp(key, "region"))
		return set_str(pr->region, sizeof(pr->region), val);
	if (!strcasecmp(key, "credential_process")) {
		free_secret(pr->process);
		pr->process = strdup(val);
		return pr->process ? 0 : -ENOMEM;
	}
	for (i = 0; i < sizeof(unsupported_keys) / sizeof(unsupported_keys[0]); i++)
		if (!strcasecmp(key, unsupported_keys[i]))
			pr->unsupported = unsupported_keys[i];
	return 0;
}

/*
 * INI as botocore reads it: "key = value" or "key: value", whole-line
 * comments with '#' or ';', indented lines belong to a nested setting (such
 * as "s3 =") and are skipped. Errors name the line, never its text.
 */
static int parse_profile(char *text, const char *path, const char *name, int is_config,
			 struct profile *pr, char *why, size_t whylen)
{
	char *line, *next, *s, *end, *eq;
	int lineno, in = 0, ret;

	for (line = text, lineno = 1; line; line = next, lineno++) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (line[0] == ' ' || line[0] == '\t')
			continue;
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			end = strrchr(s, ']');
			if (!end) {
				put_msg(why, whylen, "%s:%d: malformed section header", path,
					lineno);
				return -EINVAL;
			}
			*end = '\0';
			in = section_matches(trim(s + 1), name, is_config);
			pr->found |= in;
			continue;
		}
		if (!in)
			continue;
		eq = strpbrk(s, "=:");
		if (!eq) {
			put_msg(why, whylen, "%s:%d: expected \"key = value\"", path, lineno);
			return -EINVAL;
		}
		*eq = '\0';
		s = trim(s);
		ret = profile_set(pr, s, trim(eq + 1));
		if (ret) {
			put_msg(why, whylen, "%s:%d: value of %s is too long", path, lineno, s);
			return ret;
		}
	}
	return 0;
}

static int read_all(int fd, struct mfs_buf *b, size_t max)
{
	char chunk[4096];
	ssize_t n;
	int ret;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		if (b->len + (size_t)n > max) {
			ret = -EFBIG;
			goto out;
		}
		ret = mfs_buf_append(b, chunk, (size_t)n);
		if (ret)
			goto out;
	}
	/* An empty read still leaves a NUL-terminated string for the parsers. */
	ret = mfs_buf_append(b, "", 0);
out:
	explicit_bzero(chunk, sizeof(chunk));
	return ret;
}

/*
 * Read profile @name of @path into @pr. A missing file is no error (nothing
 * is configured there). With @private, a file group or others can access is
 * refused: it holds secrets, and the AWS tools create it 0600.
 */
static int read_profile(const char *path, const char *name, int is_config, int private,
			struct profile *pr, char *why, size_t whylen)
{
	struct mfs_buf text = MFS_BUF_INIT;
	struct stat st;
	int fd = -1, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT || ret == -ENOTDIR)
			ret = 0;
		else
			put_msg(why, whylen, "cannot open %s: %s", path, strerror(-ret));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		put_msg(why, whylen, "cannot stat %s: %s", path, strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		put_msg(why, whylen, "%s is not a regular file", path);
		goto out;
	}
	if (private && (st.st_mode & 077)) {
		ret = -EACCES;
		put_msg(why, whylen,
			"%s is accessible by group or others (mode %04o) and holds secrets; "
			"refusing it: run chmod 600 %s",
			path, (unsigned int)(st.st_mode & 07777), path);
		goto out;
	}
	/* One allocation: a realloc would leave copies of the secrets unwiped. */
	ret = mfs_buf_reserve(&text, (size_t)st.st_size);
	if (!ret)
		ret = read_all(fd, &text, MAX_FILE_SIZE);
	if (ret) {
		put_msg(why, whylen, "cannot read %s: %s", path, strerror(-ret));
		goto out;
	}
	ret = parse_profile(text.data, path, name, is_config, pr, why, whylen);
out:
	if (fd >= 0)
		close(fd);
	wipe_buf(&text);
	return ret;
}

/* ---- credential_process ----------------------------------------------- */

static double elapsed_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Kill the helper's whole process group: the shell may have started children. */
static void kill_and_reap(pid_t pid)
{
	int status;

	if (kill(-pid, SIGKILL) < 0 && errno == ESRCH)
		(void)kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/*
 * Run the command with /bin/sh -c, as the AWS CLI does, stdout into a pipe,
 * stdin from /dev/null, stderr shared with ours (the helper's complaints are
 * for the user). posix_spawn instead of a bare fork: the daemon is
 * multi-threaded, and it lets us close every other descriptor (the FUSE
 * device, S3 sockets) and reset the signals the daemon ignores, such as
 * SIGPIPE, before the helper starts. Its own process group lets a timeout
 * kill the shell and everything it started.
 */
static int spawn_process(const char *cmd, pid_t *pid, int *outfd, char *why, size_t whylen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int fa_ok = 0, attr_ok = 0;
	int pfd[2] = { -1, -1 };
	char sh[] = "sh", dash_c[] = "-c";
	char *argv[] = { sh, dash_c, (char *)cmd, NULL };
	sigset_t def, none;
	int ret;

	ret = pipe2(pfd, O_CLOEXEC) < 0 ? -errno : 0;
	if (!ret) {
		ret = -posix_spawn_file_actions_init(&fa);
		fa_ok = !ret;
	}
	if (!ret) {
		ret = -posix_spawnattr_init(&attr);
		attr_ok = !ret;
	}
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGCHLD);
	if (!ret)
		ret = -posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	if (!ret)
		ret = -posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
							O_RDONLY, 0);
	if (!ret)
		ret = -posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	if (!ret)
		ret = -posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
							       POSIX_SPAWN_SETSIGMASK |
							       POSIX_SPAWN_SETSIGDEF);
	if (!ret)
		ret = -posix_spawnattr_setpgroup(&attr, 0);
	if (!ret)
		ret = -posix_spawnattr_setsigmask(&attr, &none);
	if (!ret)
		ret = -posix_spawnattr_setsigdefault(&attr, &def);
	if (!ret)
		ret = -posix_spawn(pid, "/bin/sh", &fa, &attr, argv, environ);
	if (ret) {
		put_msg(why, whylen, "cannot start /bin/sh: %s", strerror(-ret));
		goto out;
	}
	*outfd = pfd[0];
	pfd[0] = -1;
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	return ret;
}

static int process_timed_out(struct mfs_creds_provider *p, double limit, char *why,
			     size_t whylen)
{
	put_msg(why, whylen, "%s: timed out after %.0f s, killed", p->source, limit);
	return -EIO;
}

static int run_process(struct mfs_creds_provider *p, struct mfs_creds *out, char *why,
		       size_t whylen)
{
	struct mfs_buf body = MFS_BUF_INIT;
	double limit = p->timeout * PROCESS_TIMEOUT_FACTOR, left;
	struct timespec t0;
	struct pollfd pfd;
	char chunk[4096], sub[160];
	pid_t pid = -1, w;
	int fd = -1, status, ret, n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = mfs_buf_reserve(&body, MAX_BODY_SIZE);
	if (ret)
		goto out;
	ret = spawn_process(p->process, &pid, &fd, sub, sizeof(sub));
	if (ret) {
		put_msg(why, whylen, "%s: %s", p->source, sub);
		goto out;
	}
	for (;;) {
		left = limit - elapsed_since(&t0);
		if (left <= 0) {
			ret = process_timed_out(p, limit, why, whylen);
			goto out;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		n = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			put_msg(why, whylen, "%s: poll: %s", p->source, strerror(-ret));
			goto out;
		}
		if (n == 0)
			continue;
		n = (int)read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			put_msg(why, whylen, "%s: read: %s", p->source, strerror(-ret));
			goto out;
		}
		if (n == 0)
			break;
		if (body.len + (size_t)n > MAX_BODY_SIZE) {
			ret = -EINVAL;
			put_msg(why, whylen, "%s: printed more than %d bytes", p->source,
				MAX_BODY_SIZE);
			goto out;
		}
		ret = mfs_buf_append(&body, chunk, (size_t)n);
		if (ret)
			goto out;
	}
	/* Output is complete; the helper gets what is left of the time to exit. */
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			ret = -errno;
			pid = -1;
			put_msg(why, whylen, "%s: waitpid: %s", p->source, strerror(-ret));
			goto out;
		}
		if (w == pid)
			break;
		if (elapsed_since(&t0) >= limit) {
			ret = process_timed_out(p, limit, why, whylen);
			goto out;
		}
		usleep(10000);
	}
	pid = -1;
	if (WIFSIGNALED(status)) {
		ret = -EIO;
		put_msg(why, whylen, "%s: killed by signal %d", p->source, WTERMSIG(status));
		goto out;
	}
	if (WEXITSTATUS(status) != 0) {
		ret = -EIO;
		put_msg(why, whylen, "%s: exited with status %d", p->source, WEXITSTATUS(status));
		goto out;
	}
	ret = mfs_buf_append(&body, "", 0);
	if (ret)
		goto out;
	ret = creds_from_json(body.data, JSON_PROCESS, out, sub, sizeof(sub));
	if (ret)
		put_msg(why, whylen, "%s: %s", p->source, sub);
out:
	if (pid > 0)
		kill_and_reap(pid);
	if (fd >= 0)
		close(fd);
	explicit_bzero(chunk, sizeof(chunk));
	wipe_buf(&body);
	return ret;
}

/* ---- HTTP: container credentials and IMDS ----------------------------- */

/* CURLcode to -errno, the one translation of libcurl errors in this file. */
static int curl_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OK:
		return 0;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EINVAL;
	case CURLE_WRITE_ERROR:
		return -EFBIG; /* only our write callback fails, on an oversized body */
	default:
		return -EIO;
	}
}

static size_t body_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct mfs_buf *b = arg;
	size_t n = size * nmemb;

	if (b->len + n > MAX_BODY_SIZE || mfs_buf_append(b, data, n))
		return 0;
	return n;
}

/* curl copies header lines; wipe the copies that carry a token. */
static void free_headers(struct curl_slist *h)
{
	struct curl_slist *i;

	for (i = h; i; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(h);
}

/*
 * One request, no proxy (a proxy variable must not redirect a metadata
 * call; CURLOPT_PROXY "" overrides the environment), no redirects, http(s)
 * only, bounded in time and size. @body gets the answer, @status the HTTP
 * status. On failure @why gets curl's reason, which holds no secret.
 */
static int http_call(const char *method, const char *url, struct curl_slist *hdrs,
		     double timeout, struct mfs_buf *body, long *status, char *why, size_t whylen)
{
	long ms = (long)(timeout * 1000);
	CURL *h = NULL;
	CURLcode cc;
	int ret;

	mfs_buf_reset(body);
	*status = 0;
	/* The whole body fits without a realloc, which would leave copies unwiped. */
	ret = mfs_buf_reserve(body, MAX_BODY_SIZE);
	if (ret)
		goto out;
	h = curl_easy_init();
	if (!h) {
		ret = -ENOMEM;
		put_msg(why, whylen, "cannot create a curl handle");
		goto out;
	}
	if (ms < 1)
		ms = 1;
	cc = curl_easy_setopt(h, CURLOPT_URL, url);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_PROXY, "");
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_PROTOCOLS,
				      (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	if (cc == CURLE_OK && strcmp(method, "PUT") == 0) {
		/* An empty body with Content-Length: 0, which IMDS expects. */
		cc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		if (cc == CURLE_OK)
			cc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
		if (cc == CURLE_OK)
			cc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
	}
	if (cc == CURLE_OK)
		cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		cc = curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	ret = curl_errno(cc);
	if (ret) {
		put_msg(why, whylen, "%s", curl_easy_strerror(cc));
		goto out;
	}
	ret = mfs_buf_append(body, "", 0);
out:
	if (h)
		curl_easy_cleanup(h);
	return ret;
}

/*
 * The SDKs send the authorization token only over https, or over http to
 * the container agent's own addresses or loopback: a FULL_URI pointing
 * elsewhere over plain http would hand the token to whoever is on the path.
 */
static int container_url_allowed(const char *url)
{
	static const char *const hosts[] = {
		"localhost", "[::1]", "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]",
	};
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	struct in_addr a;
	int ok = 0;
	size_t i;

	if (!u)
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	if (!strcasecmp(scheme, "https")) {
		ok = 1;
		goto out;
	}
	if (strcasecmp(scheme, "http"))
		goto out;
	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
		if (!strcasecmp(host, hosts[i]))
			ok = 1;
	if (inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127)
		ok = 1;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

static int container_auth_header(struct mfs_creds_provider *p, struct curl_slist **hdrs,
				 char *why, size_t whylen)
{
	struct mfs_buf tok = MFS_BUF_INIT, line = MFS_BUF_INIT;
	struct curl_slist *n;
	const char *value = p->auth_token;
	int fd = -1, ret = 0;

	if (p->auth_token_file) {
		fd = open(p->auth_token_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			ret = -errno;
			put_msg(why, whylen,
				"cannot open AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s: %s",
				p->auth_token_file, strerror(-ret));
			goto out;
		}
		ret = read_all(fd, &tok, MAX_TOKEN_FILE);
		if (ret) {
			put_msg(why, whylen, "cannot read %s: %s", p->auth_token_file,
				strerror(-ret));
			goto out;
		}
		while (tok.len && isspace((unsigned char)tok.data[tok.len - 1]))
			tok.data[--tok.len] = '\0';
		value = tok.data;
	}
	if (!value || !*value)
		goto out;
	if (!header_safe(value)) {
		ret = -EINVAL;
		put_msg(why, whylen, "the container authorization token contains a line break");
		goto out;
	}
	ret = mfs_buf_appendf(&line, "Authorization: %s", value);
	if (ret)
		goto out;
	n = curl_slist_append(*hdrs, line.data);
	if (!n) {
		ret = -ENOMEM;
		goto out;
	}
	*hdrs = n;
out:
	if (fd >= 0)
		close(fd);
	wipe_buf(&tok);
	wipe_buf(&line);
	return ret;
}

static int fetch_container(struct mfs_creds_provider *p, struct mfs_creds *out, char *why,
			   size_t whylen)
{
	struct mfs_buf body = MFS_BUF_INIT;
	struct curl_slist *hdrs = NULL;
	char sub[256];
	long status;
	int ret;

	ret = container_auth_header(p, &hdrs, sub, sizeof(sub));
	if (ret) {
		put_msg(why, whylen, "%s: %s", p->source, sub);
		goto out;
	}
	ret = http_call("GET", p->url, hdrs, p->timeout, &body, &status, sub, sizeof(sub));
	if (ret) {
		put_msg(why, whylen, "%s: %s", p->source, sub);
		ret = -EIO;
		goto out;
	}
	if (status != 200) {
		ret = -EIO;
		put_msg(why, whylen, "%s: HTTP status %ld", p->source, status);
		goto out;
	}
	ret = creds_from_json(body.data, JSON_CONTAINER, out, sub, sizeof(sub));
	if (ret)
		put_msg(why, whylen, "%s: %s", p->source, sub);
out:
	free_headers(hdrs);
	wipe_buf(&body);
	return ret;
}

/*
 * IMDSv2 only: a session token from PUT /latest/api/token, sent with every
 * GET. IMDSv1 (no token) is not tried; it is the variant that SSRF bugs in
 * instance software exploit, and instances can be set to refuse it.
 * -ENOENT/-ECONNREFUSED/-ETIMEDOUT/-EHOSTUNREACH mean "no metadata service
 * or no role here"; @role gets the role name when not NULL.
 */
static int fetch_imds(struct mfs_creds_provider *p, struct mfs_creds *out, char *role,
		      size_t rolelen, char *why, size_t whylen)
{
	struct mfs_buf body = MFS_BUF_INIT, url = MFS_BUF_INIT, line = MFS_BUF_INIT;
	struct curl_slist *hdrs = NULL, *n;
	char sub[256], *name, *nl, *token;
	long status;
	int ret;

	ret = mfs_buf_appendf(&url, "%s/latest/api/token", p->imds);
	if (ret)
		goto out;
	n = curl_slist_append(NULL, "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL);
	if (!n) {
		ret = -ENOMEM;
		goto out;
	}
	hdrs = n;
	/* curl would add one for the empty PUT body; IMDS has no use for it. */
	n = curl_slist_append(hdrs, "Content-Type:");
	if (!n) {
		ret = -ENOMEM;
		goto out;
	}
	hdrs = n;
	ret = http_call("PUT", url.data, hdrs, p->timeout, &body, &status, sub, sizeof(sub));
	if (ret) {
		put_msg(why, whylen, "token request: %s", sub);
		goto out;
	}
	if (status != 200) {
		/* 403: IMDS switched off on this instance; 404/405: not an IMDS. */
		ret = status == 403 || status == 404 || status == 405 ? -ENOENT : -EIO;
		put_msg(why, whylen, "token request: HTTP status %ld", status);
		goto out;
	}
	token = trim(body.data);
	if (!*token || !header_safe(token)) {
		ret = -EINVAL;
		put_msg(why, whylen, "token request: not a token");
		goto out;
	}
	free_headers(hdrs);
	hdrs = NULL;
	ret = mfs_buf_appendf(&line, "X-aws-ec2-metadata-token: %s", token);
	if (ret)
		goto out;
	hdrs = curl_slist_append(NULL, line.data);
	if (!hdrs) {
		ret = -ENOMEM;
		goto out;
	}

	mfs_buf_reset(&url);
	ret = mfs_buf_appendf(&url, "%s/latest/meta-data/iam/security-credentials/", p->imds);
	if (ret)
		goto out;
	ret = http_call("GET", url.data, hdrs, p->timeout, &body, &status, sub, sizeof(sub));
	if (ret) {
		put_msg(why, whylen, "role request: %s", sub);
		goto out;
	}
	if (status == 404) {
		ret = -ENOENT;
		put_msg(why, whylen, "no IAM role attached to the instance");
		goto out;
	}
	if (status != 200) {
		ret = -EIO;
		put_msg(why, whylen, "role request: HTTP status %ld", status);
		goto out;
	}
	name = trim(body.data);
	nl = strchr(name, '\n');
	if (nl)
		*nl = '\0';
	name = trim(name);
	if (!*name || strpbrk(name, "/?#% \t\r")) {
		ret = -EINVAL;
		put_msg(why, whylen, "role request: not a role name");
		goto out;
	}
	if (role && (size_t)snprintf(role, rolelen, "%s", name) >= rolelen)
		role[0] = '\0';
	mfs_buf_reset(&line);
	ret = mfs_buf_append(&line, name, strlen(name));
	if (ret)
		goto out;
	ret = mfs_buf_appendf(&url, "%s", line.data);
	if (ret)
		goto out;
	ret = http_call("GET", url.data, hdrs, p->timeout, &body, &status, sub, sizeof(sub));
	if (ret) {
		put_msg(why, whylen, "credentials request: %s", sub);
		goto out;
	}
	if (status != 200) {
		ret = status == 404 ? -ENOENT : -EIO;
		put_msg(why, whylen, "credentials request: HTTP status %ld", status);
		goto out;
	}
	ret = creds_from_json(body.data, JSON_IMDS, out, sub, sizeof(sub));
	if (ret)
		put_msg(why, whylen, "%s", sub);
out:
	free_headers(hdrs);
	wipe_buf(&body);
	wipe_buf(&line);
	mfs_buf_free(&url);
	return ret;
}

/* Re-fetch from the source the provider was made with. */
static int fetch(struct mfs_creds_provider *p, struct mfs_creds *out, char *why, size_t whylen)
{
	char sub[384];
	int ret;

	switch (p->kind) {
	case KIND_PROCESS:
		return run_process(p, out, why, whylen);
	case KIND_CONTAINER:
		return fetch_container(p, out, why, whylen);
	case KIND_IMDS:
		ret = fetch_imds(p, out, NULL, 0, sub, sizeof(sub));
		if (ret)
			put_msg(why, whylen, "%s: %s", p->source, sub);
		return ret;
	default:
		/* Static and anonymous credentials never expire, so never get here. */
		put_msg(why, whylen, "%s: nothing to refresh", p->source);
		return -EINVAL;
	}
}

/* ---- the chain --------------------------------------------------------- */

static int try_env(struct chain *ch, struct mfs_creds_provider *p)
{
	const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
	const char *tok = env("AWS_SESSION_TOKEN");

	if (!ak && !sk) {
		checked_add(ch, "environment");
		return -ENOENT;
	}
	if (!ak || !sk) {
		put_msg(ch->msg, ch->msglen, "%s is set in the environment but %s is not",
			ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return -EINVAL;
	}
	if (set_str(p->cur.access_key, sizeof(p->cur.access_key), ak) ||
	    set_str(p->cur.secret_key, sizeof(p->cur.secret_key), sk) ||
	    (tok && set_str(p->cur.session_token, sizeof(p->cur.session_token), tok))) {
		put_msg(ch->msg, ch->msglen, "a credential in the environment is too long");
		return -EINVAL;
	}
	p->kind = KIND_STATIC;
	put_msg(p->source, sizeof(p->source), "environment");
	return 0;
}

/* A profile's keys, if it has any; -ENOENT when it has none. */
static int use_keys(struct chain *ch, struct mfs_creds_provider *p, struct profile *pr,
		    const char *name, const char *path)
{
	if (!pr->access_key[0] && !pr->secret_key[0])
		return -ENOENT;
	if (!pr->access_key[0] || !pr->secret_key[0]) {
		put_msg(ch->msg, ch->msglen,
			"profile %s in %s has only one of aws_access_key_id and "
			"aws_secret_access_key",
			name, path);
		return -EINVAL;
	}
	memcpy(p->cur.access_key, pr->access_key, sizeof(p->cur.access_key));
	memcpy(p->cur.secret_key, pr->secret_key, sizeof(p->cur.secret_key));
	memcpy(p->cur.session_token, pr->session_token, sizeof(p->cur.session_token));
	p->kind = KIND_STATIC;
	put_msg(p->source, sizeof(p->source), "profile %s (%s)", name, path);
	return 0;
}

/*
 * Precedence as in botocore: keys in the credentials file, then a
 * credential_process (either file), then keys in the config file.
 */
static int try_profile(struct chain *ch, struct mfs_creds_provider *p)
{
	const char *name = ch->cfg->profile;
	char cred_path[PATH_MAX], conf_path[PATH_MAX];
	struct profile c, g;
	int explicit, ret;

	memset(&c, 0, sizeof(c));
	memset(&g, 0, sizeof(g));
	if (!name || !*name)
		name = env("AWS_PROFILE");
	if (!name)
		name = "default";
	explicit = strcmp(name, "default") != 0;
	ret = shared_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", cred_path,
			  sizeof(cred_path));
	if (!ret)
		ret = shared_path("AWS_CONFIG_FILE", ".aws/config", conf_path, sizeof(conf_path));
	if (ret) {
		if (explicit) {
			ch->stop = 1;
			put_msg(ch->msg, ch->msglen,
				"cannot locate the AWS credentials file for profile %s: %s", name,
				strerror(-ret));
			goto out;
		}
		checked_add(ch, "shared files (no home directory)");
		ret = -ENOENT;
		goto out;
	}

	ret = read_profile(cred_path, name, 0, 1, &c, ch->msg, ch->msglen);
	if (ret)
		goto out;
	if (c.found) {
		ret = use_keys(ch, p, &c, name, cred_path);
		if (ret != -ENOENT)
			goto out;
	}
	ret = read_profile(conf_path, name, 1, 1, &g, ch->msg, ch->msglen);
	if (ret)
		goto out;
	if (c.process || g.process) {
		p->process = strdup(c.process ? c.process : g.process);
		if (!p->process) {
			ret = -ENOMEM;
			goto out;
		}
		p->kind = KIND_PROCESS;
		put_msg(p->source, sizeof(p->source), "credential_process of profile %s (%s)",
			 name, c.process ? cred_path : conf_path);
		ret = run_process(p, &p->cur, ch->msg, ch->msglen);
		goto out;
	}
	if (g.found) {
		ret = use_keys(ch, p, &g, name, conf_path);
		if (ret != -ENOENT)
			goto out;
	}
	if (c.unsupported || g.unsupported) {
		ret = -EINVAL;
		put_msg(ch->msg, ch->msglen,
			"profile %s uses %s, which medallionfs does not support; give it "
			"credential_process instead (for example `aws configure export-credentials "
			"--profile %s --format process`)",
			name, c.unsupported ? c.unsupported : g.unsupported, name);
		goto out;
	}
	if (!c.found && !g.found && explicit) {
		ret = -ENOENT;
		ch->stop = 1;
		put_msg(ch->msg, ch->msglen, "AWS profile %s not found in %s or %s", name,
			cred_path, conf_path);
		goto out;
	}
	checked_add(ch, "%s and %s profile %s", cred_path, conf_path, name);
	ret = -ENOENT;
out:
	profile_clear(&c);
	profile_clear(&g);
	return ret;
}

static int try_container(struct chain *ch, struct mfs_creds_provider *p)
{
	const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *tok = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *tokfile = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	/*
	 * MFS_TEST_CONTAINER_HOST is internal, for the unit tests only: it
	 * replaces the ECS agent address in front of a RELATIVE_URI so the
	 * tests can point it at a loopback fake instead of 169.254.170.2.
	 */
	const char *host = env("MFS_TEST_CONTAINER_HOST");
	struct mfs_buf url = MFS_BUF_INIT;
	int ret;

	if (!rel && !full) {
		checked_add(ch, "container credentials (not configured)");
		return -ENOENT;
	}
	if (rel)
		ret = mfs_buf_appendf(&url, "%s%s%s", host ? host : CONTAINER_HOST,
				      rel[0] == '/' ? "" : "/", rel);
	else
		ret = mfs_buf_appendf(&url, "%s", full);
	if (ret)
		goto out;
	if (!rel && !container_url_allowed(url.data)) {
		ret = -EINVAL;
		put_msg(ch->msg, ch->msglen,
			"AWS_CONTAINER_CREDENTIALS_FULL_URI %s must be https, or http to a "
			"loopback or container-agent address",
			url.data);
		goto out;
	}
	p->url = strdup(url.data);
	p->auth_token = tok ? strdup(tok) : NULL;
	p->auth_token_file = tokfile ? strdup(tokfile) : NULL;
	if (!p->url || (tok && !p->auth_token) || (tokfile && !p->auth_token_file)) {
		ret = -ENOMEM;
		goto out;
	}
	p->kind = KIND_CONTAINER;
	put_msg(p->source, sizeof(p->source), "container credentials (%s)", p->url);
	ret = fetch_container(p, &p->cur, ch->msg, ch->msglen);
out:
	mfs_buf_free(&url);
	return ret;
}

static int try_imds(struct chain *ch, struct mfs_creds_provider *p)
{
	const char *dis = getenv("AWS_EC2_METADATA_DISABLED");
	const char *ep = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *mode = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	char role[256] = "", why[384];
	size_t len;
	int ret;

	if (dis && !strcasecmp(dis, "true")) {
		checked_add(ch, "instance metadata (disabled by AWS_EC2_METADATA_DISABLED)");
		return -ENOENT;
	}
	if (!ep)
		ep = mode && !strcasecmp(mode, "IPv6") ? IMDS_ENDPOINT_V6 : IMDS_ENDPOINT;
	p->imds = strdup(ep);
	if (!p->imds)
		return -ENOMEM;
	len = strlen(p->imds);
	while (len && p->imds[len - 1] == '/')
		p->imds[--len] = '\0';
	p->kind = KIND_IMDS;
	ret = fetch_imds(p, &p->cur, role, sizeof(role), why, sizeof(why));
	if (ret == -ENOENT || ret == -ECONNREFUSED || ret == -ETIMEDOUT || ret == -EHOSTUNREACH ||
	    ret == -ENETUNREACH) {
		checked_add(ch, "instance metadata at %s (%s)", p->imds, why);
		return -ENOENT;
	}
	if (ret) {
		put_msg(ch->msg, ch->msglen, "instance metadata at %s: %s", p->imds, why);
		return ret;
	}
	put_msg(p->source, sizeof(p->source), "instance metadata (%s, role %s)", p->imds, role);
	return 0;
}

int mfs_creds_provider_new(const struct mfs_creds_config *cfg, struct mfs_creds_provider **out,
			   char *msg, size_t msglen)
{
	static const struct mfs_creds_config defaults;
	struct mfs_creds_provider *p = NULL;
	struct chain ch;
	int ret;

	*out = NULL;
	put_msg(msg, msglen, "%s", "");
	if (!cfg)
		cfg = &defaults;
	memset(&ch, 0, sizeof(ch));
	ch.cfg = cfg;
	ch.msg = msg;
	ch.msglen = msglen;
	p = calloc(1, sizeof(*p));
	if (!p) {
		ret = -ENOMEM;
		goto out;
	}
	ret = -pthread_mutex_init(&p->lock, NULL);
	if (ret) {
		free(p);
		p = NULL;
		goto out;
	}
	p->timeout = cfg->http_timeout > 0 ? cfg->http_timeout : DEFAULT_HTTP_TIMEOUT;
	if (cfg->anonymous) {
		p->kind = KIND_ANONYMOUS;
		put_msg(p->source, sizeof(p->source), "anonymous");
		ret = 0;
		goto out;
	}
	ret = try_env(&ch, p);
	if (ret != -ENOENT)
		goto out;
	ret = try_profile(&ch, p);
	if (ret != -ENOENT || ch.stop)
		goto out;
	ret = try_container(&ch, p);
	if (ret != -ENOENT)
		goto out;
	ret = try_imds(&ch, p);
	if (ret != -ENOENT)
		goto out;
	put_msg(msg, msglen,
		"no AWS credentials found (checked %s); set AWS_ACCESS_KEY_ID/"
		"AWS_SECRET_ACCESS_KEY, use -o profile=, or -o anonymous",
		ch.checked);
out:
	if (ret == -ENOMEM && msg && msglen && !*msg)
		put_msg(msg, msglen, "out of memory while loading AWS credentials");
	if (ret) {
		mfs_creds_provider_free(p);
		return ret;
	}
	if (p->cur.expiration && p->cur.expiration - time(NULL) <= REFRESH_AHEAD)
		mfs_debug("credentials from %s expire within %d s", p->source, REFRESH_AHEAD);
	mfs_debug("AWS credentials from %s", p->source);
	*out = p;
	return 0;
}

int mfs_creds_get(struct mfs_creds_provider *p, struct mfs_creds *out)
{
	struct mfs_creds fresh;
	char why[1024];
	time_t now;
	int ret;

	ret = -pthread_mutex_lock(&p->lock);
	if (ret)
		return ret;
	now = time(NULL);
	if (p->cur.expiration && p->cur.expiration - now <= REFRESH_AHEAD &&
	    now >= p->retry_after) {
		ret = fetch(p, &fresh, why, sizeof(why));
		if (!ret) {
			memcpy(&p->cur, &fresh, sizeof(p->cur));
			p->retry_after = 0;
			p->last_err = 0;
			mfs_debug("refreshed AWS credentials from %s", p->source);
		} else {
			p->retry_after = now + REFRESH_RETRY;
			p->last_err = ret;
			mfs_warn("cannot refresh AWS credentials: %s", why);
		}
		mfs_creds_wipe(&fresh);
	}
	if (p->cur.expiration && p->cur.expiration <= now) {
		ret = p->last_err ? p->last_err : -EIO;
		mfs_set_error("AWS credentials from %s expired and could not be refreshed",
			      p->source);
		goto out;
	}
	memcpy(out, &p->cur, sizeof(*out));
	ret = 0;
out:
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int mfs_creds_is_anonymous(const struct mfs_creds_provider *p)
{
	return p && p->kind == KIND_ANONYMOUS;
}

const char *mfs_creds_source(const struct mfs_creds_provider *p)
{
	return p ? p->source : "";
}

void mfs_creds_provider_free(struct mfs_creds_provider *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	mfs_creds_wipe(&p->cur);
	free_secret(p->process);
	free(p->url);
	free_secret(p->auth_token);
	free(p->auth_token_file);
	free(p->imds);
	free(p);
}

void mfs_aws_region(const char *profile, char *out, size_t outlen)
{
	const char *r = env("AWS_REGION");
	char path[PATH_MAX];
	struct profile pr;

	if (!outlen)
		return;
	out[0] = '\0';
	if (!r)
		r = env("AWS_DEFAULT_REGION");
	if (r) {
		snprintf(out, outlen, "%s", r);
		return;
	}
	if (!profile || !*profile)
		profile = env("AWS_PROFILE");
	if (!profile)
		profile = "default";
	if (shared_path("AWS_CONFIG_FILE", ".aws/config", path, sizeof(path)))
		return;
	memset(&pr, 0, sizeof(pr));
	/*
	 * The region is no secret, so a loose config file still gives it; the
	 * credential chain refuses that file on its own when it reads it.
	 */
	if (read_profile(path, profile, 1, 0, &pr, NULL, 0) == 0 && pr.found)
		snprintf(out, outlen, "%s", pr.region);
	profile_clear(&pr);
}
