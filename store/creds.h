/*
 * creds.h - the AWS credential chain.
 *
 * Order (SPEC §2): environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN); the shared credentials and config files for the
 * profile (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE,
 * credential_process); container credentials
 * (AWS_CONTAINER_CREDENTIALS_FULL_URI / _RELATIVE_URI, with
 * AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]); instance metadata (IMDSv2,
 * disabled by AWS_EC2_METADATA_DISABLED=true, endpoint from
 * AWS_EC2_METADATA_SERVICE_ENDPOINT). A credentials/config file readable
 * by group or others is refused. Temporary credentials are refreshed before
 * they expire (5 minutes ahead).
 *
 * DESIGN: the provider is shared by every request thread. mfs_creds_get()
 * copies the current credentials out under the provider's mutex; a refresh
 * happens under the same mutex, so one thread refreshes while the others
 * wait for it instead of stampeding the credential source.
 */
#ifndef MFS_CREDS_H
#define MFS_CREDS_H

#include <time.h>

struct mfs_creds {
	char access_key[128];
	char secret_key[128];
	char session_token[4096]; /* "" when none */
	time_t expiration;        /* 0: does not expire */
};

struct mfs_creds_config {
	const char *profile;     /* NULL: AWS_PROFILE, else "default" */
	int anonymous;           /* no credentials; requests go unsigned */
	double http_timeout;     /* seconds for container/IMDS calls; 0: 2 */
};

struct mfs_creds_provider;

/*
 * Walk the chain and load the first source that has credentials. On
 * failure returns -errno (-ENOENT: no source had any, -EACCES: a file with
 * loose permissions, -EINVAL: malformed file/response, -EIO: a source failed)
 * and writes one line into @msg naming the source and what to check.
 * Never puts a secret into @msg.
 */
int mfs_creds_provider_new(const struct mfs_creds_config *cfg, struct mfs_creds_provider **out,
			   char *msg, size_t msglen);

/* Current credentials, refreshed first when they expire within 5 minutes. */
int mfs_creds_get(struct mfs_creds_provider *p, struct mfs_creds *out);

int mfs_creds_is_anonymous(const struct mfs_creds_provider *p);

/* Where the credentials came from, e.g. "environment", "profile dev (/root/.aws/credentials)". */
const char *mfs_creds_source(const struct mfs_creds_provider *p);

void mfs_creds_provider_free(struct mfs_creds_provider *p);

/*
 * Region for @profile (NULL: AWS_PROFILE/default): AWS_REGION,
 * AWS_DEFAULT_REGION, then "region" in the config file. Writes "" when none.
 */
void mfs_aws_region(const char *profile, char *out, size_t outlen);

/* Wipe a credentials struct (explicit_bzero). */
void mfs_creds_wipe(struct mfs_creds *c);

#endif
