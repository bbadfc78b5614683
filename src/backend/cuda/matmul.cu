/* Matrix-matrix products for prefill (n > MV_MAXN tokens) on tensor cores.
 *
 * The weight is dequantized to an f16 scratch matrix (in row chunks so the
 * scratch stays bounded) and multiplied by the f16 activations with
 * cuBLAS, accumulating in f32. Dequantization costs one read of the packed
 * weight and one write+read of the f16 copy, small next to the 2*rows*
 * cols*n flops once n is in the hundreds. Without cuBLAS (INGOT_HAVE_CUBLAS
 * unset) cu_mm_launch declines and the backend loops the matrix-vector
 * kernels instead.
 */
#include "common.cuh"

#ifdef INGOT_HAVE_CUBLAS

#define CB_CHECK(c, expr)                                                                   \
    do {                                                                                    \
        cublasStatus_t s_ = (expr);                                                         \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                    \
            cu_fail((c), INGOT_ERR_BACKEND, __FILE__, __LINE__, cublasGetStatusString(s_)); \
    } while (0)

/* Thread per 8 values: one 16-byte store of halves. */
static __global__ void k_deq_f16(__half *__restrict__ out, uint32_t type, const uint8_t *Q, const uint8_t *S,
                                 int64_t r0, int64_t nrows, int cols) {
    pdl_trigger();
    pdl_wait();
    int64_t id = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int per_row = cols / 8;
    if (id >= nrows * per_row) return;
    int64_t r = id / per_row;
    int k0 = (int)(id % per_row) * 8;
    float y[8];
    weight_deq8(type, Q, S, r0 + r, cols, k0, y);
    __half2 h[4];
#pragma unroll
    for (int i = 0; i < 4; i++) h[i] = __floats2half2_rn(y[2 * i], y[2 * i + 1]);
    *(uint4 *)(out + r * cols + k0) = *(uint4 *)h;
}

static __global__ void k_f32_to_f16(__half *__restrict__ out, const float *__restrict__ x, size_t n) {
    pdl_trigger();
    pdl_wait();
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = __float2half_rn(x[i]);
}

#define MM_CHUNK_ELEMS ((size_t)64 << 20) /* f16 scratch: 128 MiB (32 MiB cost 15% of pp512 on H100) */

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
            __half *xh = (__half *)cu_scratch(c, SCR_F16X, (size_t)n * cols * sizeof(__half));
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
            int64_t chunk = (int64_t)(MM_CHUNK_ELEMS / (size_t)cols);
            if (chunk > rows) chunk = rows;
            if (chunk < 1) chunk = 1;
            /* One size for every product (the largest weight's, at most a
             * chunk): a scratch slot that grew would keep its old buffers
             * alive for the graphs that might use them. */
            size_t want = c->max_w_elems < MM_CHUNK_ELEMS ? c->max_w_elems : MM_CHUNK_ELEMS;
            if (want < (size_t)chunk * cols) want = (size_t)chunk * cols;
            __half *wh = (__half *)cu_scratch(c, SCR_F16W, want * sizeof(__half));
            if (!wh) return true;
            const uint8_t *Q, *S;
            cu_weight_parts(w, &Q, &S);
            for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
                int64_t nr = rows - r0 < chunk ? rows - r0 : chunk;
                int64_t threads = nr * (cols / 8);
                cu_launch(c, k_deq_f16, dim3((unsigned)((threads + 255) / 256)), dim3(256), 0, wh, w->type, Q, S, r0,
                          nr, cols);
                CB_CHECK(c, cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)nr, n, cols, &one, wh, CUDA_R_16F,
                                         cols, xh, CUDA_R_16F, cols, &zero, out + r0, CUDA_R_32F, rows,
                                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
            }
        }
    }
    if (bias) cu_bias_add(c, out, (const float *)bias->data, n, rows);
    return true;
}

void *cu_cublas_new(cuda_ctx *c) {
    cublasHandle_t h = NULL;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return NULL;
    CB_CHECK(c, cublasSetStream(h, c->stream));
    /* A fixed workspace keeps cuBLAS from allocating inside graph capture. */
    size_t ws = (size_t)32 << 20;
    void *p = cu_scratch(c, SCR_CUBLAS, ws);
    if (p) CB_CHECK(c, cublasSetWorkspace(h, p, ws));
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
