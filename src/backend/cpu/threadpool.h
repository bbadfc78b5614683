/* A persistent pool of worker threads: ops hand it a function to run on
 * every thread and wait for all of them, so no thread is created per op. */
#ifndef INGOT_THREADPOOL_H
#define INGOT_THREADPOOL_H

typedef struct ig_pool ig_pool;
typedef void (*ig_pool_fn)(void *arg, int ith, int nth);

ig_pool *ig_pool_new(int n_threads);
void ig_pool_free(ig_pool *p);
int ig_pool_size(const ig_pool *p);
/* Run fn(arg, ith, nth) for ith = 0..nth-1, the caller being thread 0;
 * returns when every thread has finished. */
void ig_pool_run(ig_pool *p, ig_pool_fn fn, void *arg);
/* Inside a job run by ig_pool_run: wait until every thread of the job has
 * reached this point (all of them must call it the same number of times). */
void ig_pool_barrier(ig_pool *p);
/* Number of physical cores (falls back to logical CPUs). */
int ig_physical_cores(void);

#endif
