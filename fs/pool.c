/*
 * pool.c - fixed-size worker pool with a FIFO job queue.
 *
 * DESIGN: one mutex protects the queue and the stopping flag; workers sleep
 * on a condition variable. Worker threads block SIGINT/SIGTERM/SIGHUP so
 * those signals reach the thread that runs the FUSE loop.
 */
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

struct job {
	mfs_job_fn fn;
	void *arg;
	struct job *next;
};

struct mfs_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail; /* protected by lock */
	int stopping;            /* protected by lock */
	int nthreads;
	pthread_t *threads;
};

static void *worker(void *arg)
{
	struct mfs_pool *p = arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&p->lock);
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		j = p->head;
		if (!j) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);
		j->fn(j->arg);
		free(j);
	}
}

int mfs_pool_new(int nthreads, struct mfs_pool **out)
{
	struct mfs_pool *p = calloc(1, sizeof(*p));
	sigset_t block, old;
	int i, r = 0;

	if (!p)
		return -ENOMEM;
	p->threads = calloc((size_t)nthreads, sizeof(*p->threads));
	if (!p->threads) {
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (i = 0; i < nthreads; i++) {
		r = pthread_create(&p->threads[i], NULL, worker, p);
		if (r)
			break;
		p->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		mfs_pool_stop(p);
		mfs_pool_free(p);
		return -r;
	}
	*out = p;
	return 0;
}

int mfs_pool_submit(struct mfs_pool *p, mfs_job_fn fn, void *arg)
{
	struct job *j = malloc(sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->fn = fn;
	j->arg = arg;
	j->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->stopping) {
		pthread_mutex_unlock(&p->lock);
		free(j);
		return -ESHUTDOWN;
	}
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void mfs_pool_stop(struct mfs_pool *p)
{
	int i;

	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	p->nthreads = 0;
}

void mfs_pool_free(struct mfs_pool *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->threads);
	free(p);
}
