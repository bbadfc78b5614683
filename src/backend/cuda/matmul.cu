/* Matrix-matrix products for prefill (n > MV_MAXN tokens) on tensor cores.
 *
 * The weight is dequantized to an f16 scratch matrix (in column chunks so
 * the scratch stays bounded) and multiplied by the f16 activations with
 * cuBLAS, accumulating in f32. Dequantization costs one read of the packed
 * weight and one write+read of the f16 copy, small next to the 2*rows*
 * cols*n flops once n is in the hundreds. Without cuBLAS (INGOT_HAVE_CUBLAS
 * unset) cu_mm_launch declines and the backend loops the matrix-vector
 * kernels instead.
 */
#include <stdlib.h>

#include "common.cuh"

#ifdef INGOT_HAVE_CUBLAS

#define CB_CHECK(c, expr)                                                                   \
    do {                                                                                    \
        cublasStatus_t s_ = (expr);                                                         \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                    \
            cu_fail((c), INGOT_ERR_BACKEND, __FILE__, __LINE__, cublasGetStatusString(s_)); \
    } while (0)

/* Thread per 8 values of the [nrows][kc] tile at (r0, k0): one 16-byte
 * store of halves. */
static __global__ void k_deq_f16(__half *__restrict__ out, uint32_t type, const uint8_t *Q, const uint8_t *S,
                                 int64_t r0, int64_t nrows, int k0, int kc, int cols) {
    pdl_trigger();
    pdl_wait();
    int64_t id = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int per_row = kc / 8;
    if (id >= nrows * per_row) return;
    int64_t r = id / per_row;
    int k = (int)(id % per_row) * 8;
    float y[8];
    weight_deq8(type, Q, S, r0 + r, cols, k0 + k, y);
    __half2 h[4];
#pragma unroll
    for (int i = 0; i < 4; i++) h[i] = __floats2half2_rn(y[2 * i], y[2 * i + 1]);
    *(uint4 *)(out + r * kc + k) = *(uint4 *)h;
}

static __global__ void k_f32_to_f16(__half *__restrict__ out, const float *__restrict__ x, size_t n) {
    pdl_trigger();
    pdl_wait();
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = __float2half_rn(x[i]);
}

/* How a rows x cols weight is cut into f16 tiles of at most `chunk`
 * values: all rows and as many whole blocks of columns as fit, the column
 * chunks balanced. Cutting along K (accumulating in f32 with beta = 1)
 * keeps every GEMM as wide as the weight; cutting rows instead left the
 * GEMMs too small to fill an H100 (ffn_down 144 -> 273 us at 32 MiB). */
static void mm_plan(int64_t rows, int cols, int qk, size_t chunk, int64_t *rc, int *kc) {
    const int al = qk > 8 ? qk : 8;
    int64_t kmax = (int64_t)(chunk / (size_t)rows);
    kmax -= kmax % al;
    *rc = rows;
    if (kmax >= cols) {
        *kc = cols;
        return;
    }
    if (kmax < al) { /* very tall: one block column, rows in chunks */
        *kc = al;
        *rc = (int64_t)(chunk / (size_t)al);
        if (*rc < 1) *rc = 1;
        return;
    }
    for (int nk = (int)((cols + kmax - 1) / kmax);; nk++) {
        int k = (cols + nk - 1) / nk;
        k = (k + al - 1) / al * al;
        if (k <= kmax) {
            *kc = k;
            return;
        }
    }
}

bool cu_mm_launch(cuda_ctx *c, float *out, const ig_weight *w, const ig_weight *bias, const float *x, int n) {
    cublasHandle_t h = (cublasHandle_t)c->cublas;
    if (!h) return false;
    const int rows = (int)w->rows, cols = (int)w->cols;
    const float one = 1.0f, zero = 0.0f;
    if (w->type == IG_TYPE_F32) {
        CB_CHECK(c, cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &one, w->data, CUDA_R_32F, cols, x,
                                 CUDA_R_32F, cols, &zero, out, CUDA_R_32F, rows, CUBLAS_COMPUTE_32F,
                                 CUBLAS_GEMM_DEFAULT));
    } else {
        if (cols % 8) return false;
        /* activations in f16, kept while nothing rewrites them (Q/K/V share one) */
        if (!(c->f16x_src == x && c->f16x_n == n && c->f16x_cols == cols)) {
            __half *xh = (__half *)cu_scratch_ex(c, SCR_F16X, (size_t)n * cols * sizeof(__half), true);
            if (!xh) return true;
            size_t cnt = (size_t)n * cols;
            unsigned g = (unsigned)((cnt + 255) / 256);
            if (g > 65535u * 8) g = 65535u * 8;
            cu_launch(c, k_f32_to_f16, dim3(g), dim3(256), 0, xh, x, cnt);
            c->f16x_src = x;
            c->f16x_n = n;
            c->f16x_cols = cols;
        }
        const __half *xh = (const __half *)c->scr[SCR_F16X].p;
        if (w->type == IG_TYPE_F16) {
            CB_CHECK(c, cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, cols, &one, w->data, CUDA_R_16F, cols,
                                     xh, CUDA_R_16F, cols, &zero, out, CUDA_R_32F, rows, CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT));
        } else {
            /* one size for every product, allocated once: the largest
             * weight's, at most a chunk */
            size_t want = c->max_w_elems < c->mm_chunk ? c->max_w_elems : c->mm_chunk;
            int64_t rc;
            int kc;
            mm_plan(rows, cols, ql_get(w->type).qk, want, &rc, &kc);
            if ((size_t)rc * kc > want) want = (size_t)rc * kc;
            __half *wh = (__half *)cu_scratch_ex(c, SCR_F16W, want * sizeof(__half), true);
            if (!wh) return true;
            const uint8_t *Q, *S;
            cu_weight_parts(w, &Q, &S);
            for (int64_t r0 = 0; r0 < rows; r0 += rc) {
                int64_t nr = rows - r0 < rc ? rows - r0 : rc;
                for (int k0 = 0; k0 < cols; k0 += kc) {
                    int kk = cols - k0 < kc ? cols - k0 : kc;
                    int64_t threads = nr * (kk / 8);
                    cu_launch(c, k_deq_f16, dim3((unsigned)((threads + 255) / 256)), dim3(256), 0, wh, w->type, Q,
                              S, r0, nr, k0, kk, cols);
                    const float *beta = k0 == 0 ? &zero : &one;
                    CB_CHECK(c, cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)nr, n, kk, &one, wh, CUDA_R_16F, kk,
                                             xh + k0, CUDA_R_16F, cols, beta, out + r0, CUDA_R_32F, rows,
                                             CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
                }
            }
        }
    }
    if (bias) cu_bias_add(c, out, (const float *)bias->data, n, rows);
    return true;
}

void *cu_cublas_new(cuda_ctx *c) {
    /* cuBLAS keeps a default workspace pool of its own per handle (64 MiB
     * measured on an H100) unless told otherwise; it is never used here
     * (cublasSetWorkspace below), so ask for none -- unless the user set
     * this variable. Read once, when the handle is created. */
    setenv("CUBLAS_WORKSPACE_CONFIG", ":0:0", 0);
    cublasHandle_t h = NULL;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return NULL;
    CB_CHECK(c, cublasSetStream(h, c->stream));
    /* A fixed workspace keeps cuBLAS from allocating inside graph capture.
     * INGOT_CUDA_CUBLAS_WS_MB: its size (default 4 MiB). */
    const char *e = getenv("INGOT_CUDA_CUBLAS_WS_MB");
    size_t ws = (size_t)((e ? atof(e) : 4.0) * 1048576.0);
    if (ws < 4096) ws = 4096;
    void *p = cu_scratch_ex(c, SCR_CUBLAS, ws, true);
    if (p) CB_CHECK(c, cublasSetWorkspace(h, p, ws));
    ig_log(INGOT_LOG_DEBUG, "cuda: cuBLAS ready, device memory taken %.1f MiB", cu_taken(c) / 1048576.0);
    return h;
}

void cu_cublas_free(void *h) {
    if (h) cublasDestroy((cublasHandle_t)h);
}

#else

bool cu_mm_launch(cuda_ctx *c, float *out, const ig_weight *w, const ig_weight *bias, const float *x, int n) {
    (void)c, (void)out, (void)w, (void)bias, (void)x, (void)n;
    return false;
}
void *cu_cublas_new(cuda_ctx *c) {
    (void)c;
    return NULL;
}
void cu_cublas_free(void *h) { (void)h; }

#endif

CU_TRACE_SETTER(matmul)
