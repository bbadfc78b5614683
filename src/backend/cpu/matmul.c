/* Matrix products of the CPU backend.
 *
 * One matmul is one job on the thread pool, in two phases:
 *  1. the activations are converted to the weight type's activation format
 *     (8-bit blocks, f16, ...), each thread taking a share, then a barrier;
 *     skipped when the previous matmul already converted the same input;
 *  2. output rows are split between threads; each thread walks its rows in
 *     blocks small enough to stay in L1 and runs every token through a
 *     block before moving on, so a weight is read from memory once per
 *     matmul however many tokens there are.
 * Every output is computed by one kernel call whose arithmetic depends only
 * on its row and token, so results do not depend on the thread count.
 *
 * Weights whose type has an interleaved layout in the kernel set are
 * repacked on first use (one copy, the same size as the file's; the file's
 * pages are then released so the resident size does not double). */
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

/* Give the file's pages of a tensor back to the kernel: the packed copy
 * replaces them. Only whole pages inside the tensor are released, and a
 * later read (the embedding table of a model with tied output) simply
 * faults them in again from the file. */
static void release_pages(const void *p, size_t n) {
    const uintptr_t page = 4096;
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)p + n) & ~(page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
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
    if (!mk->pack || c->no_pack || w->rows % CPU_PACK_ROWS || w->rows < CPU_PACK_ROWS) return NULL;
    if (w->extra) return w->extra;
    pthread_mutex_lock(&c->pack_mu);
    void *res = w->extra;
    if (!res) {
        const size_t bytes = ig_row_size(w->type, w->cols) * (size_t)w->rows;
        void *dst = chunk_alloc(c, bytes);
        if (dst) { /* else out of memory: keep using the file layout */
            pack_job j = {mk, w, dst, bytes / (size_t)(w->rows / CPU_PACK_ROWS)};
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

    const size_t ldo = (size_t)w->rows;
    int64_t r0, r1;
    if (j->packed) {
        int64_t g0, g1;
        cpu_split(w->rows / CPU_PACK_ROWS, ith, nth, &g0, &g1);
        for (int64_t g = g0; g < g1; g += ROW_BLOCK / CPU_PACK_ROWS) {
            const int64_t ge = g + ROW_BLOCK / CPU_PACK_ROWS < g1 ? g + ROW_BLOCK / CPU_PACK_ROWS : g1;
            j->mk->gemm_packed(K, (const char *)j->packed + (size_t)g * j->group_bytes, j->group_bytes,
                               (int)((ge - g) * CPU_PACK_ROWS), j->act, j->as, j->n,
                               j->out + g * CPU_PACK_ROWS, ldo);
        }
        r0 = g0 * CPU_PACK_ROWS;
        r1 = g1 * CPU_PACK_ROWS;
    } else {
        cpu_split(w->rows, ith, nth, &r0, &r1);
        const size_t ws = ig_row_size(w->type, K);
        const int64_t rb = j->n == 1 ? r1 - r0 : ROW_BLOCK;
        for (int64_t r = r0; r < r1; r += rb) {
            const int64_t re = r + rb < r1 ? r + rb : r1;
            j->mk->gemm(K, (const char *)w->data + (size_t)r * ws, ws, (int)(re - r), j->act, j->as, j->n,
                        j->out + r, ldo);
        }
    }
    if (j->bias)
        for (int i = 0; i < j->n; i++)
            for (int64_t r = r0; r < r1; r++) j->out[(size_t)i * ldo + r] += j->bias[r];
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
    ig_pool_run(c->pool, mm_worker, &j);
    /* The output may overlap the cached input (it never does in the
     * forward pass, but nothing forbids it). */
    const char *o0 = (const char *)out, *o1 = o0 + (size_t)n * (size_t)w->rows * sizeof(float);
    const char *x0 = (const char *)c->act_x, *x1 = x0 + (size_t)c->act_n * (size_t)c->act_cols * sizeof(float);
    if (o0 < x1 && x0 < o1) c->act_fmt = -1;
}
