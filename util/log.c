/*
 * log.c - stderr or syslog logging with secret redaction.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

static enum mfs_log_level log_level = MFS_LOG_INFO;
static int log_syslog;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void mfs_log_set_level(enum mfs_log_level level)
{
	log_level = level;
}

enum mfs_log_level mfs_log_get_level(void)
{
	return log_level;
}

void mfs_log_use_syslog(const char *ident)
{
	openlog(ident, LOG_PID, LOG_DAEMON);
	log_syslog = 1;
}

static const char *level_name(enum mfs_log_level level)
{
	switch (level) {
	case MFS_LOG_ERR:
		return "error";
	case MFS_LOG_WARN:
		return "warning";
	case MFS_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void mfs_log(enum mfs_log_level level, const char *fmt, ...)
{
	char msg[4096], clean[4096];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Last line of defence: whatever a caller formatted is redacted again. */
	mfs_log_redact(msg, clean, sizeof(clean));
	if (log_syslog) {
		syslog((int)level, "%s", clean);
		return;
	}
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "medallionfs: %s: %s\n", level_name(level), clean);
	pthread_mutex_unlock(&log_lock);
}

/* Names whose value runs to the end of the line (headers). */
static const char *const secret_headers[] = {
	"authorization:",
	"x-amz-security-token:",
	"aws_secret_access_key",
	"aws_session_token",
};

/* Names whose value runs to the next '&', space or end (query strings, JSON). */
static const char *const secret_params[] = {
	"x-amz-signature=",
	"x-amz-security-token=",
	"x-amz-credential=",
	"\"secretaccesskey\"",
	"\"token\"",
	"\"sessiontoken\"",
	"signature=",
};

char *mfs_log_redact(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	const char *p = in;

	if (outlen == 0)
		return out;
	while (*p && o + 1 < outlen) {
		size_t i, n = 0;
		int cut = 0; /* 1: to end of line, 2: to delimiter */

		for (i = 0; i < sizeof(secret_headers) / sizeof(*secret_headers); i++) {
			n = strlen(secret_headers[i]);
			if (strncasecmp(p, secret_headers[i], n) == 0) {
				cut = 1;
				break;
			}
		}
		if (!cut) {
			for (i = 0; i < sizeof(secret_params) / sizeof(*secret_params); i++) {
				n = strlen(secret_params[i]);
				if (strncasecmp(p, secret_params[i], n) == 0) {
					cut = 2;
					break;
				}
			}
		}
		if (!cut) {
			out[o++] = *p++;
			continue;
		}
		/* Copy the name, then write REDACTED instead of the value. */
		while (n-- && o + 1 < outlen)
			out[o++] = *p++;
		if (cut == 1) {
			while (*p && *p != '\n' && *p != '\r')
				p++;
		} else {
			while (*p == ':' || *p == ' ' || *p == '"')
				p++;
			while (*p && *p != '&' && *p != ' ' && *p != '"' && *p != ',' &&
			       *p != '\n' && *p != '}')
				p++;
		}
		for (const char *r = " REDACTED"; *r && o + 1 < outlen; r++)
			out[o++] = *r;
	}
	out[o] = '\0';
	return out;
}
