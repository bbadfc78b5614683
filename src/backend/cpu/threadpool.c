#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Ops come back to back during a forward pass (hundreds per token), so
 * waiting threads spin on an atomic first: a futex wake per op would cost
 * more than many small ops. But the cores may be shared (or fewer than the
 * threads), and a thread spinning on a waiter's core starves the thread it
 * waits for; so spinning turns into sched_yield() quickly, and workers with
 * nothing to do for a while sleep on a condition variable. */
struct ig_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;      /* bumped once per job */
    atomic_int pending;   /* workers still running the current job */
    atomic_int sleeping;  /* workers waiting on cv */
    atomic_bool stop;
    /* barrier inside a job: arrivals and a generation that flips when the
     * last thread arrives */
    atomic_int bar_count;
    atomic_uint bar_gen;
    ig_pool_fn fn;
    void *arg;
};

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Spins before yielding, and yields before a worker goes to sleep. */
#define SPINS 2000
#define YIELDS 2000

typedef struct {
    ig_pool *p;
    int ith;
} worker_arg;

static void *worker(void *v) {
    worker_arg *wa = v;
    ig_pool *p = wa->p;
    int ith = wa->ith;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int waits = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_relaxed)) {
            if (++waits < SPINS) {
                relax();
            } else if (waits < SPINS + YIELDS) {
                sched_yield();
            } else {
                pthread_mutex_lock(&p->mu);
                atomic_fetch_add(&p->sleeping, 1);
                while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                    pthread_cond_wait(&p->cv, &p->mu);
                atomic_fetch_sub(&p->sleeping, 1);
                pthread_mutex_unlock(&p->mu);
                waits = 0;
            }
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        p->fn(p->arg, ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
}

ig_pool *ig_pool_new(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    ig_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        free(p);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) { p->n = i; break; }
        wa->p = p;
        wa->ith = i;
        if (pthread_create(&p->threads[i], NULL, worker, wa) != 0) {
            free(wa);
            p->n = i; /* run with the threads we got */
            break;
        }
    }
    return p;
}

void ig_pool_free(ig_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

int ig_pool_size(const ig_pool *p) { return p ? p->n : 1; }

void ig_pool_barrier(ig_pool *p) {
    if (!p || p->n == 1) return;
    /* The generation cannot move before this thread arrives, so reading it
     * first is safe. */
    const unsigned gen = atomic_load_explicit(&p->bar_gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->bar_count, 1, memory_order_acq_rel) == p->n - 1) {
        atomic_store_explicit(&p->bar_count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->bar_gen, 1, memory_order_release);
        return;
    }
    for (int waits = 0; atomic_load_explicit(&p->bar_gen, memory_order_acquire) == gen; waits++) {
        if (waits < SPINS) relax();
        else sched_yield();
    }
}

void ig_pool_run(ig_pool *p, ig_pool_fn fn, void *arg) {
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    /* seq_cst on both sides: either a worker about to sleep sees the new
     * generation, or this sees it sleeping and wakes it */
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n);
    for (int waits = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; waits++) {
        if (waits < SPINS) relax();
        else sched_yield();
    }
}

int ig_physical_cores(void) {
    /* Count distinct (physical id, core id) pairs in /proc/cpuinfo. */
    FILE *f = fopen("/proc/cpuinfo", "r");
    int pairs[1024][2], n = 0, phys = 0;
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            int v;
            if (sscanf(line, "physical id : %d", &v) == 1) phys = v;
            else if (sscanf(line, "core id : %d", &v) == 1) {
                int dup = 0;
                for (int i = 0; i < n; i++)
                    if (pairs[i][0] == phys && pairs[i][1] == v) dup = 1;
                if (!dup && n < 1024) { pairs[n][0] = phys; pairs[n][1] = v; n++; }
            }
        }
        fclose(f);
    }
    if (n > 0) return n;
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)c : 1;
}
