/* Matrix products for the CPU backend: reference version. Each weight row
 * is decoded once to f32 and dotted with every token's activations, with
 * rows split across the thread pool. */
#include <stdlib.h>

#include "cpu.h"
#include "quant/quant.h"

typedef struct {
    float *out;
    const ig_weight *w;
    const ig_weight *bias;
    const float *x;
    int n;
} mm_job;

static void mm_worker(void *arg, int ith, int nth) {
    mm_job *j = arg;
    const ig_weight *w = j->w;
    int64_t lo, hi;
    cpu_split(w->rows, ith, nth, &lo, &hi);
    size_t row_bytes = ig_row_size(w->type, w->cols);
    float *tmp = malloc((size_t)w->cols * sizeof(float));
    if (!tmp) return;
    const float *bias = j->bias ? (const float *)j->bias->data : NULL;
    for (int64_t r = lo; r < hi; r++) {
        const float *row;
        if (w->type == IG_TYPE_F32) {
            row = (const float *)((const char *)w->data + r * row_bytes);
        } else {
            ig_dequant_row(w->type, (const char *)w->data + r * row_bytes, tmp, w->cols);
            row = tmp;
        }
        for (int i = 0; i < j->n; i++) {
            const float *xi = j->x + (size_t)i * w->cols;
            float s = 0;
            for (int64_t k = 0; k < w->cols; k++) s += row[k] * xi[k];
            if (bias) s += bias[r];
            j->out[(size_t)i * w->rows + r] = s;
        }
    }
    free(tmp);
}

void cpu_matmul(cpu_ctx *c, float *out, const ig_weight *w, const ig_weight *bias, const float *x,
                int n) {
    mm_job j = {out, w, bias, x, n};
    ig_pool_run(c->pool, mm_worker, &j);
}
