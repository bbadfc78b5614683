/* Matrix products of the CPU backend.
 *
 * One matmul is one job on the thread pool, in two phases:
 *  1. the activations are converted to the weight type's activation format
 *     (8-bit blocks, f16, ...), each thread taking a share, then a barrier;
 *     skipped when the previous matmul already converted the same input;
 *  2. each thread owns an equal share of the output rows (and takes work
 *     from the others' shares when done early); it walks them in blocks
 *     small enough to stay in L1 and runs every token through a block
 *     before moving on, so a weight is read from memory once per matmul
 *     however many tokens there are.
 * Every output is computed by one kernel call whose arithmetic depends only
 * on its row and token, so results do not depend on the thread count.
 *
 * Weights whose type has an interleaved layout in the kernel set are
 * repacked on first use (one copy, the same size as the file's; the file's
 * pages are then released so the resident size does not double). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/util.h"
#include "cpu.h"

void *cpu_big_alloc(size_t bytes, size_t *alloc_bytes) {
    const size_t huge = (size_t)2 << 20;
    size_t sz = (bytes + huge - 1) & ~(huge - 1);
    if (!sz) sz = huge;
    void *p = aligned_alloc(huge, sz);
    if (!p) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, sz, MADV_HUGEPAGE);
#endif
    *alloc_bytes = sz;
    return p;
}

void cpu_big_free(void *p, size_t alloc_bytes) {
    (void)alloc_bytes;
    free(p);
}

void cpu_matmul_free(cpu_ctx *c) {
    for (cpu_chunk *p = c->chunks, *next; p; p = next) {
        next = p->next;
        cpu_big_free(p->base, p->alloc_bytes);
        free(p);
    }
    c->chunks = NULL;
    free(c->act);
    c->act = NULL;
}

/* ---- repacking ---------------------------------------------------------- */

/* Whether [p, p+n) lies in one file-backed mapping (/proc/self/maps:
 * an inode other than 0). Only such pages can be released: dropping pages
 * of anonymous memory would zero them. */
static bool file_backed(const void *p, size_t n) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return false;
    char line[512];
    bool ok = false;
    const uintptr_t a = (uintptr_t)p, e = a + n;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, ino;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &lo, &hi, &ino) != 3) continue;
        if (a >= lo && a < hi) {
            ok = ino != 0 && e <= hi;
            break;
        }
    }
    fclose(f);
    return ok;
}

/* Give the file's pages of a tensor back to the kernel: the packed copy
 * replaces them. Only whole pages inside the tensor are released, and a
 * later read (the rows past the last packed group, or the embedding table
 * of a model with tied output) simply faults them in again from the file. */
static void release_pages(const void *p, size_t n) {
    const uintptr_t page = 4096;
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)p + n) & ~(page - 1);
    if (hi > lo && file_backed(p, n)) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

typedef struct {
    const cpu_mm_kernels *mk;
    const ig_weight *w;
    void *dst;
    size_t group_bytes;
} pack_job;

static void pack_worker(void *arg, int ith, int nth) {
    pack_job *j = arg;
    const int64_t groups = j->w->rows / CPU_PACK_ROWS;
    int64_t lo, hi;
    cpu_split(groups, ith, nth, &lo, &hi);
    if (hi <= lo) return;
    const size_t row_bytes = ig_row_size(j->w->type, j->w->cols);
    j->mk->pack((const char *)j->w->data + (size_t)lo * CPU_PACK_ROWS * row_bytes,
                (char *)j->dst + (size_t)lo * j->group_bytes, (hi - lo) * CPU_PACK_ROWS, j->w->cols);
}

/* Room for `bytes` of packed weights, 64-byte aligned. */
static void *chunk_alloc(cpu_ctx *c, size_t bytes) {
    bytes = (bytes + 63) & ~(size_t)63;
    cpu_chunk *ch = c->chunks;
    if (!ch || ch->size - ch->used < bytes) {
        const size_t min_chunk = (size_t)64 << 20;
        ch = calloc(1, sizeof *ch);
        if (!ch) return NULL;
        ch->size = bytes > min_chunk ? bytes : min_chunk;
        ch->base = cpu_big_alloc(ch->size, &ch->alloc_bytes);
        if (!ch->base) {
            free(ch);
            return NULL;
        }
        ch->size = ch->alloc_bytes;
        ch->next = c->chunks;
        c->chunks = ch;
    }
    void *p = ch->base + ch->used;
    ch->used += bytes;
    return p;
}

/* The packed copy of w, made on first use; NULL when w stays as it is. */
static const void *packed_weight(cpu_ctx *c, const ig_weight *w, const cpu_mm_kernels *mk) {
    if (!mk->pack || c->no_pack || w->rows < CPU_PACK_ROWS) return NULL;
    if (w->extra) return w->extra;
    pthread_mutex_lock(&c->pack_mu);
    void *res = w->extra;
    if (!res) {
        /* whole groups of rows; a remainder (50257-token vocabularies)
         * stays in the file layout */
        const size_t group_bytes = ig_row_size(w->type, w->cols) * CPU_PACK_ROWS;
        const size_t bytes = group_bytes * (size_t)(w->rows / CPU_PACK_ROWS);
        void *dst = chunk_alloc(c, bytes);
        if (dst) { /* else out of memory: keep using the file layout */
            pack_job j = {mk, w, dst, group_bytes};
            ig_pool_run(c->pool, pack_worker, &j);
            release_pages(w->data, bytes);
            /* The weight struct belongs to the model and is writable; the
             * op table passes it const because ops do not change weights'
             * meaning, only this cache. */
            ((ig_weight *)w)->extra = dst;
            res = dst;
        }
    }
    pthread_mutex_unlock(&c->pack_mu);
    return res;
}

/* ---- the job ------------------------------------------------------------ */

typedef struct {
    cpu_ctx *c;
    float *out;
    const ig_weight *w;
    const float *bias;
    const float *x;
    int n;
    const cpu_mm_kernels *mk;
    cpu_quant_fn quant; /* NULL: activations ready */
    void *act;
    size_t as;          /* bytes per activation row */
    int64_t ablk;       /* elements per activation block */
    const void *packed;
    size_t group_bytes;
} mm_job;

/* Claim up to c units from the front / the back of a share. Relaxed
 * order is enough: inputs were published before the job started and the
 * pool's completion count publishes the outputs. */
static bool take_front(cpu_slot *s, uint32_t c, uint32_t *u0, uint32_t *u1) {
    unsigned long long v = atomic_load_explicit(&s->fb, memory_order_relaxed);
    for (;;) {
        const uint32_t f = (uint32_t)(v >> 32), b = (uint32_t)v;
        if (f >= b) return false;
        const uint32_t nf = b - f > c ? f + c : b;
        if (atomic_compare_exchange_weak_explicit(&s->fb, &v, (unsigned long long)nf << 32 | b,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            *u0 = f;
            *u1 = nf;
            return true;
        }
    }
}

static bool take_back(cpu_slot *s, uint32_t c, uint32_t *u0, uint32_t *u1) {
    unsigned long long v = atomic_load_explicit(&s->fb, memory_order_relaxed);
    for (;;) {
        const uint32_t f = (uint32_t)(v >> 32), b = (uint32_t)v;
        if (f >= b) return false;
        const uint32_t nb = b - f > c ? b - c : f;
        if (atomic_compare_exchange_weak_explicit(&s->fb, &v, (unsigned long long)f << 32 | nb,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            *u0 = nb;
            *u1 = b;
            return true;
        }
    }
}

/* Rows per block of phase 2: enough to amortise the activation reads,
 * few enough that the weights of a block stay in L1 across tokens. */
#define ROW_BLOCK 16

static void mm_worker(void *arg, int ith, int nth) {
    mm_job *j = arg;
    const ig_weight *w = j->w;
    const int64_t K = w->cols;

    if (j->quant) {
        if (j->n >= nth) {
            int64_t lo, hi;
            cpu_split(j->n, ith, nth, &lo, &hi);
            for (int64_t i = lo; i < hi; i++)
                j->quant(j->x + i * K, (char *)j->act + (size_t)i * j->as, K);
        } else {
            /* few tokens: split each row by blocks */
            const int64_t nb = K / j->ablk;
            int64_t lo, hi;
            cpu_split(nb, ith, nth, &lo, &hi);
            const size_t bb = j->as / (size_t)nb;
            for (int i = 0; i < j->n && hi > lo; i++)
                j->quant(j->x + i * K + lo * j->ablk, (char *)j->act + (size_t)i * j->as + (size_t)lo * bb,
                         (hi - lo) * j->ablk);
        }
        ig_pool_barrier(j->c->pool);
    }

    /* Each thread owns an equal share of the rows and walks it front to
     * back, one contiguous stream (what the prefetcher likes); a thread
     * that finishes early takes chunks from the back of the others'
     * shares, so one that loses its core for a while (other processes, a
     * slower core) does not hold everyone up. Which thread computes a row
     * never changes how it is computed. */
    const size_t ldo = (size_t)w->rows;
    const size_t ws = ig_row_size(w->type, K);
    const int64_t main_rows = j->packed ? w->rows / CPU_PACK_ROWS * CPU_PACK_ROWS : w->rows;
    const int64_t units = (main_rows + ROW_BLOCK - 1) / ROW_BLOCK;
    cpu_slot *slots = j->c->slots;
    for (int k = 0; k < nth; k++) {
        cpu_slot *sl = &slots[(ith + k) % nth];
        uint32_t u0, u1;
        while (k == 0 ? take_front(sl, 4, &u0, &u1) : take_back(sl, 2, &u0, &u1)) {
            const int64_t r0 = (int64_t)u0 * ROW_BLOCK;
            int64_t r1 = (int64_t)u1 * ROW_BLOCK < main_rows ? (int64_t)u1 * ROW_BLOCK : main_rows;
            if (j->packed) {
                for (int64_t r = r0; r < r1; r += ROW_BLOCK) {
                    const int64_t re = r + ROW_BLOCK < r1 ? r + ROW_BLOCK : r1;
                    j->mk->gemm_packed(K, (const char *)j->packed + (size_t)(r / CPU_PACK_ROWS) * j->group_bytes,
                                       j->group_bytes, (int)(re - r), j->act, j->as, j->n, j->out + r, ldo);
                }
                if (u1 == units && main_rows < w->rows) { /* rows past the last group: file layout */
                    j->mk->gemm(K, (const char *)w->data + (size_t)main_rows * ws, ws, (int)(w->rows - main_rows),
                                j->act, j->as, j->n, j->out + main_rows, ldo);
                    r1 = w->rows;
                }
            } else {
                const int64_t rb = j->n == 1 ? r1 - r0 : ROW_BLOCK;
                for (int64_t r = r0; r < r1; r += rb) {
                    const int64_t re = r + rb < r1 ? r + rb : r1;
                    j->mk->gemm(K, (const char *)w->data + (size_t)r * ws, ws, (int)(re - r), j->act, j->as,
                                j->n, j->out + r, ldo);
                }
            }
            if (j->bias)
                for (int i = 0; i < j->n; i++)
                    for (int64_t r = r0; r < r1; r++) j->out[(size_t)i * ldo + r] += j->bias[r];
        }
    }
}

void cpu_matmul(cpu_ctx *c, float *out, const ig_weight *w, const ig_weight *bias, const float *x,
                int n) {
    const cpu_mm_kernels *mk = &c->k->mm[w->type];
    if (!mk->gemm) mk = &cpu_kernels_generic.mm[w->type];
    mm_job j = {.c = c, .out = out, .w = w, .bias = bias ? (const float *)bias->data : NULL, .x = x,
                .n = n, .mk = mk};
    const cpu_act fmt = mk->act;
    j.as = cpu_act_row_size(fmt, w->cols);
    j.ablk = fmt == CPU_ACT_Q8A ? 32 : fmt == CPU_ACT_Q8K ? QK_K : 1;
    if (fmt == CPU_ACT_F32) {
        j.act = (void *)x;
    } else if (c->act_fmt == (int)fmt && c->act_x == x && c->act_n >= n && c->act_cols == w->cols) {
        j.act = c->act; /* converted by the previous matmul */
    } else {
        const size_t need = j.as * (size_t)n;
        if (need > c->act_cap) {
            free(c->act);
            c->act = aligned_alloc(64, (need + 63) & ~(size_t)63);
            c->act_cap = c->act ? need : 0;
            if (!c->act) {
                cpu_fail(c, INGOT_ERR_NOMEM, "matmul: out of memory for activations");
                c->act_fmt = -1;
                memset(out, 0, (size_t)n * (size_t)w->rows * sizeof(float));
                return;
            }
        }
        j.act = c->act;
        j.quant = c->k->quant[fmt];
        c->act_fmt = (int)fmt;
        c->act_x = x;
        c->act_n = n;
        c->act_cols = w->cols;
    }
    j.packed = mk->gemm_packed ? packed_weight(c, w, mk) : NULL;
    if (j.packed) j.group_bytes = ig_row_size(w->type, w->cols) * CPU_PACK_ROWS;
    const int64_t main_rows = j.packed ? w->rows / CPU_PACK_ROWS * CPU_PACK_ROWS : w->rows;
    const uint64_t units = (uint64_t)(main_rows + ROW_BLOCK - 1) / ROW_BLOCK;
    for (int t = 0; t < c->n_threads; t++) {
        const uint64_t f = units * (uint64_t)t / (uint64_t)c->n_threads;
        const uint64_t b = units * (uint64_t)(t + 1) / (uint64_t)c->n_threads;
        atomic_store_explicit(&c->slots[t].fb, f << 32 | b, memory_order_relaxed);
    }
    ig_pool_run(c->pool, mm_worker, &j);
    /* The output may overlap the cached input (it never does in the
     * forward pass, but nothing forbids it). */
    const char *o0 = (const char *)out, *o1 = o0 + (size_t)n * (size_t)w->rows * sizeof(float);
    const char *x0 = (const char *)c->act_x, *x1 = x0 + (size_t)c->act_n * (size_t)c->act_cols * sizeof(float);
    if (o0 < x1 && x0 < o1) c->act_fmt = -1;
}
