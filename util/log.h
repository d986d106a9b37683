/*
 * log.h - one logger for every module.
 *
 * In the foreground messages go to stderr, once detached to syslog. Nothing
 * that reaches a log line may contain a secret: callers pass header values and
 * URLs through mfs_log_redact() first (Authorization, X-Amz-Security-Token and
 * X-Amz-Credential/Signature query values are replaced by "REDACTED").
 */
#ifndef MFS_LOG_H
#define MFS_LOG_H

#include <stddef.h>

enum mfs_log_level {
	MFS_LOG_ERR = 3,
	MFS_LOG_WARN = 4,
	MFS_LOG_INFO = 6,
	MFS_LOG_DEBUG = 7,
};

/* Messages above @level are dropped; MFS_LOG_INFO unless -d. */
void mfs_log_set_level(enum mfs_log_level level);
enum mfs_log_level mfs_log_get_level(void);
/* Switch from stderr to syslog (after daemonising). */
void mfs_log_use_syslog(const char *ident);

void mfs_log(enum mfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define mfs_err(...) mfs_log(MFS_LOG_ERR, __VA_ARGS__)
#define mfs_warn(...) mfs_log(MFS_LOG_WARN, __VA_ARGS__)
#define mfs_info(...) mfs_log(MFS_LOG_INFO, __VA_ARGS__)
#define mfs_debug(...)                                              \
	do {                                                        \
		if (mfs_log_get_level() >= MFS_LOG_DEBUG)           \
			mfs_log(MFS_LOG_DEBUG, __VA_ARGS__);        \
	} while (0)

/*
 * Copy @in to @out (size @outlen, always NUL-terminated) with secrets
 * replaced: a header line "Authorization: ..." or "X-Amz-Security-Token: ..."
 * keeps its name, any X-Amz-Signature=/X-Amz-Security-Token=/X-Amz-Credential=
 * query value is cut. Returns @out.
 */
char *mfs_log_redact(const char *in, char *out, size_t outlen);

#endif
