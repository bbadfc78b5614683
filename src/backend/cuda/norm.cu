/* Row-wise and elementwise ops: norms, add, SwiGLU, GELU, RoPE, the KV
 * store, embedding rows, bias and argmax. Each is one pass over its data;
 * the norms also emit the q8_1 form of their output so the matrix-vector
 * products that follow need no quantization pass of their own. */
#include <math.h>

#include "common.cuh"

/* ---- norms ------------------------------------------------------------- */


static __device__ float block_sum(float v, float *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads(); /* sh may still be read from a previous call */
    if (lane == 0) sh[w] = v;
    __syncthreads();
    float t = 0.0f;
    for (int i = 0; i < (int)(blockDim.x >> 5); i++) t += sh[i];
    return t;
}

/* One CTA per row, the row held in registers (NORM_VPT values a thread):
 * every load of x, w and b is issued before the first reduction, so a
 * decode-size row costs one memory latency, not one per loop trip.
 * layer: LayerNorm (mean removed, bias b), else RMSNorm. With xq, value k
 * = it*blockDim + tid puts each warp on one aligned 32-block per trip, so
 * the q8_1 form comes out of the same pass. */
#define NORM_VPT 8

static __global__ void __launch_bounds__(1024)
    k_norm(float *out, const float *x, const float *__restrict__ w, const float *__restrict__ b, int d,
           float eps, int layer, int8_t *__restrict__ xq, float2 *__restrict__ ds, int xc) {
    pdl_trigger();
    __shared__ float sh[32];
    const float *xr = x + (size_t)blockIdx.x * d;
    float *orow = out + (size_t)blockIdx.x * d;
    const int T = blockDim.x, tid = threadIdx.x;
    float v[NORM_VPT], g[NORM_VPT], bb[NORM_VPT];
    /* the weights are no earlier kernel's output: in flight before the wait */
#pragma unroll
    for (int it = 0; it < NORM_VPT; it++) {
        int k = it * T + tid;
        bool in = k < d;
        g[it] = in ? w[k] : 0.0f;
        bb[it] = in && b ? b[k] : 0.0f;
    }
    pdl_wait();
#pragma unroll
    for (int it = 0; it < NORM_VPT; it++) {
        int k = it * T + tid;
        v[it] = k < d ? xr[k] : 0.0f;
    }
    float mean = 0.0f;
    if (layer) {
        float s = 0.0f;
#pragma unroll
        for (int it = 0; it < NORM_VPT; it++) s += v[it];
        mean = block_sum(s, sh) / (float)d;
    }
    float s = 0.0f;
#pragma unroll
    for (int it = 0; it < NORM_VPT; it++) {
        float t = it * T + tid < d ? v[it] - mean : 0.0f;
        s += t * t;
    }
    float scale = rsqrtf(block_sum(s, sh) / (float)d + eps);
    const int lane = tid & 31;
#pragma unroll
    for (int it = 0; it < NORM_VPT; it++) {
        int k = it * T + tid;
        if (it * T >= d) break; /* uniform: no warp diverges here */
        float y = (v[it] - mean) * scale * g[it] + bb[it];
        if (k < d) orow[k] = y;
        if (xq) { /* d % 32 == 0: whole warps are in or out */
            float amax = warp_max(fabsf(y));
            float dq = amax / 127.0f;
            int q = q8_q(y, q8_id(amax));
            if (k < d) xq[(size_t)blockIdx.x * d + xk_pos(k, xc)] = (int8_t)q;
            float qs = warp_sum((float)q);
            if (lane == 0 && k < d) ds[((size_t)blockIdx.x * d + k) / 32] = make_float2(dq, dq * qs);
        }
    }
}

/* Rows too long for the registers: loop (prefill of very wide models). */
static __global__ void __launch_bounds__(1024)
    k_norm_loop(float *out, const float *x, const float *__restrict__ w, const float *__restrict__ b, int d,
                float eps, int layer) {
    pdl_trigger();
    pdl_wait();
    __shared__ float sh[32];
    const float *xr = x + (size_t)blockIdx.x * d;
    float *orow = out + (size_t)blockIdx.x * d;
    float mean = 0.0f;
    if (layer) {
        float s = 0.0f;
        for (int k = threadIdx.x; k < d; k += blockDim.x) s += xr[k];
        mean = block_sum(s, sh) / (float)d;
    }
    float s = 0.0f;
    for (int k = threadIdx.x; k < d; k += blockDim.x) {
        float t = xr[k] - mean;
        s += t * t;
    }
    float scale = rsqrtf(block_sum(s, sh) / (float)d + eps);
    __syncthreads(); /* out may be x */
    for (int k = threadIdx.x; k < d; k += blockDim.x) {
        float y = (xr[k] - mean) * scale * w[k];
        orow[k] = b ? y + b[k] : y;
    }
}

void cu_rms_norm(cuda_ctx *c, float *out, const float *x, const float *w, const float *b, int n, int d,
                 float eps, bool layer, bool q8) {
    if (n <= 0 || d <= 0) return;
    int8_t *xq = NULL;
    float2 *ds = NULL;
    q8 = q8 && d % 32 == 0 && n <= MV_MAXN;
    int threads = (d + NORM_VPT - 1) / NORM_VPT;
    threads = (threads + 31) / 32 * 32;
    if (threads < 128) threads = d >= 128 ? 128 : 32;
    if (threads > 1024) {
        cu_launch(c, k_norm_loop, dim3(n), dim3(1024), 0, out, x, w, b, d, eps, layer ? 1 : 0);
        return;
    }
    if (q8) {
        void *buf = cu_scratch(c, SCR_Q8, q8_bytes(n, d));
        if (!buf) return;
        xq = (int8_t *)buf;
        ds = q8_ds(buf, n, d);
    }
    cu_launch(c, k_norm, dim3(n), dim3(threads), 0, out, x, w, b, d, eps, layer ? 1 : 0, xq, ds, cu_xc(c, d));
    if (q8) q8_set(c, out, (size_t)n * d, xq, cu_xc(c, d));
}

/* ---- elementwise ------------------------------------------------------- */

static unsigned grid_for(size_t count, int per_block) {
    size_t g = (count + per_block - 1) / per_block;
    return (unsigned)(g > 65535u * 16 ? 65535u * 16 : g);
}

static __global__ void k_add4(float4 *out, const float4 *a, const float4 *b, size_t n4) {
    pdl_trigger();
    pdl_wait();
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += (size_t)gridDim.x * blockDim.x) {
        float4 x = a[i], y = b[i];
        out[i] = make_float4(x.x + y.x, x.y + y.y, x.z + y.z, x.w + y.w);
    }
}
static __global__ void k_add(float *out, const float *a, const float *b, size_t n) {
    pdl_trigger();
    pdl_wait();
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = a[i] + b[i];
}

static bool al16(const void *p) { return ((uintptr_t)p & 15) == 0; }

void cu_add(cuda_ctx *c, float *out, const float *a, const float *b, size_t count) {
    if (!count) return;
    if (count % 4 == 0 && al16(out) && al16(a) && al16(b))
        cu_launch(c, k_add4, dim3(grid_for(count / 4, 256)), dim3(256), 0, (float4 *)out, (const float4 *)a,
                  (const float4 *)b, count / 4);
    else
        cu_launch(c, k_add, dim3(grid_for(count, 256)), dim3(256), 0, out, a, b, count);
}

static __global__ void k_swiglu(float *out, const float *g, const float *u, size_t n) {
    pdl_trigger();
    pdl_wait();
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float x = g[i];
        out[i] = swiglu1(x, u[i]);
    }
}

/* Warp per 32 outputs, also written as q8_1 for the down projection. */
static __global__ void k_swiglu_q8(float *out, const float *g, const float *u, int nblk, int8_t *__restrict__ xq,
                                   float2 *__restrict__ ds, int xc) {
    pdl_trigger();
    pdl_wait();
    int b = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (b >= nblk) return;
    size_t i = (size_t)b * 32 + lane;
    float x = g[i];
    float v = swiglu1(x, u[i]);
    out[i] = v;
    float amax = warp_max(fabsf(v));
    float d = amax / 127.0f;
    int q = q8_q(v, q8_id(amax));
    xq[xk_pos(i, xc)] = (int8_t)q;
    float qs = warp_sum((float)q);
    if (lane == 0) ds[b] = make_float2(d, d * qs);
}

void cu_swiglu(cuda_ctx *c, float *out, const float *g, const float *u, size_t count, bool q8) {
    if (!count) return;
    if (q8 && count % 32 == 0 && count <= Q8_MAX_COUNT) {
        void *buf = cu_scratch(c, SCR_Q8, q8_bytes(1, (int)count));
        if (!buf) return;
        int nblk = (int)(count / 32);
        /* one row of count values: a product of n > 1 rows in k order
         * takes its own (cu_quantize_q8 compares the layouts) */
        const int xc = cu_xc(c, (int)count); /* count <= Q8_MAX_COUNT */
        cu_launch(c, k_swiglu_q8, dim3((nblk + 7) / 8), dim3(256), 0, out, g, u, nblk, (int8_t *)buf,
                  q8_ds(buf, 1, (int)count), xc);
        q8_set(c, out, count, buf, xc);
        return;
    }
    cu_launch(c, k_swiglu, dim3(grid_for(count, 256)), dim3(256), 0, out, g, u, count);
}

/* ggml evaluates GELU on the f16 value of x and stores an f16 result (a
 * table on the CPU); rounding the same way keeps GPT-2 close to it. */
static __global__ void k_gelu(float *x, size_t n) {
    pdl_trigger();
    pdl_wait();
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float v = x[i];
        if (v <= -10.0f) {
            x[i] = 0.0f;
        } else if (v < 10.0f) {
            float h = __half2float(__float2half_rn(v));
            float y = 0.5f * h * (1.0f + tanhf(0.7978845608028654f * h * (1.0f + 0.044715f * h * h)));
            x[i] = __half2float(__float2half_rn(y));
        }
    }
}

void cu_gelu(cuda_ctx *c, float *x, size_t count) {
    if (!count) return;
    cu_launch(c, k_gelu, dim3(grid_for(count, 256)), dim3(256), 0, x, count);
}

static __global__ void k_bias(float *out, const float *bias, int rows, size_t n) {
    pdl_trigger();
    pdl_wait();
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] += bias[i % rows];
}

void cu_bias_add(cuda_ctx *c, float *out, const float *bias, int n, int rows) {
    size_t count = (size_t)n * rows;
    if (!count) return;
    cu_launch(c, k_bias, dim3(grid_for(count, 256)), dim3(256), 0, out, bias, rows, count);
}

/* ---- RoPE and the KV store ----------------------------------------------- */

/* One thread per (token, head, pair). theta follows the CPU backend's
 * recurrence (theta *= theta_scale per pair) so both round alike; sin/cos
 * in double because fast-math sinf is poor for angles of thousands of
 * radians (late positions). */
static __global__ void k_rope(float *x, int ld, int n, int n_head, int head_dim, const int32_t *pos, int n_rot,
                              float theta_scale, float freq_scale, int neox) {
    pdl_trigger();
    pdl_wait();
    int half = n_rot / 2;
    size_t total = (size_t)n * n_head * half;
    size_t id = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= total) return;
    int p = (int)(id % half);
    int h = (int)((id / half) % n_head);
    int i = (int)(id / ((size_t)half * n_head));
    float theta = (float)pos[i];
    for (int k = 0; k < p; k++) theta *= theta_scale;
    double sn, cs;
    sincos((double)(theta * freq_scale), &sn, &cs);
    float c = (float)cs, s = (float)sn;
    float *v = x + (size_t)i * ld + (size_t)h * head_dim;
    int a = neox ? p : 2 * p, b = neox ? p + half : 2 * p + 1;
    float x0 = v[a], x1 = v[b];
    v[a] = x0 * c - x1 * s;
    v[b] = x0 * s + x1 * c;
}

void cu_rope(cuda_ctx *c, float *x, int ld, int n, int n_head, int head_dim, const int32_t *pos,
             const ig_rope *r) {
    int n_rot = r->n_rot > head_dim ? head_dim : r->n_rot;
    size_t total = (size_t)n * n_head * (n_rot / 2);
    if (!total) return;
    float theta_scale = powf(r->freq_base, -2.0f / (float)r->n_rot);
    cu_launch(c, k_rope, dim3((unsigned)((total + 255) / 256)), dim3(256), 0, x, ld, n, n_head, head_dim, pos, n_rot,
              theta_scale, r->freq_scale, (int)(r->mode == IG_ROPE_NEOX));
}

static __global__ void k_kv_store(void *kc, void *vc, const float *k, const float *v, int ld, int n, int kv_dim,
                                  const int32_t *pos, int f16) {
    pdl_trigger();
    pdl_wait();
    size_t id = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (size_t)n * kv_dim) return;
    int i = (int)(id / kv_dim), e = (int)(id % kv_dim);
    size_t dst = (size_t)pos[i] * kv_dim + e, src = (size_t)i * ld + e;
    if (f16) {
        ((__half *)kc)[dst] = __float2half_rn(k[src]);
        ((__half *)vc)[dst] = __float2half_rn(v[src]);
    } else {
        ((float *)kc)[dst] = k[src];
        ((float *)vc)[dst] = v[src];
    }
}

void cu_kv_store(cuda_ctx *c, void *kc, void *vc, const float *k, const float *v, int ld, int n, int kv_dim,
                 const int32_t *pos, int kv_type) {
    size_t total = (size_t)n * kv_dim;
    if (!total) return;
    cu_launch(c, k_kv_store, dim3((unsigned)((total + 255) / 256)), dim3(256), 0, kc, vc, k, v, ld, n, kv_dim, pos,
              (int)(kv_type == INGOT_KV_F16));
}

/* rope(q), rope(k) and the KV store of one decode step in one launch:
 * thread per (token, head, pair slot); heads [0, n_head) are query heads,
 * the next n_head_kv key/value heads. Slot j < n_rot/2 rotates pair j in
 * place; slots past it carry the unrotated tail two values at a time. */
static __global__ void k_rope_kv(float *q, int ld_q, int n_head, float *k, const float *v, int ld_kv, int n,
                                 int n_head_kv, int hd, const int32_t *pos, int n_rot, float theta_scale,
                                 float freq_scale, int neox, void *kc, void *vc, int f16) {
    pdl_trigger();
    const int half = hd / 2, heads = n_head + n_head_kv;
    size_t id = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (size_t)n * heads * half) return;
    int j = (int)(id % half), h = (int)((id / half) % heads), i = (int)(id / ((size_t)half * heads));
    /* The angle before the wait: positions come from the host (uploaded
     * before the step), and the theta loop plus a double sincos is the
     * longest part of this kernel. */
    float c = 1.0f, s = 0.0f;
    if (j < n_rot / 2) {
        float theta = (float)pos[i];
        for (int t = 0; t < j; t++) theta *= theta_scale;
        double sn, cs;
        sincos((double)(theta * freq_scale), &sn, &cs);
        c = (float)cs, s = (float)sn;
    }
    pdl_wait();
    bool isq = h < n_head;
    int hk = h - n_head;
    float *x = isq ? q + (size_t)i * ld_q + (size_t)h * hd : k + (size_t)i * ld_kv + (size_t)hk * hd;
    int a, b;
    float ya, yb;
    if (j < n_rot / 2) {
        a = neox ? j : 2 * j;
        b = neox ? j + n_rot / 2 : 2 * j + 1;
        float x0 = x[a], x1 = x[b];
        ya = x0 * c - x1 * s;
        yb = x0 * s + x1 * c;
        x[a] = ya;
        x[b] = yb;
    } else {
        a = n_rot + 2 * (j - n_rot / 2);
        b = a + 1;
        ya = x[a];
        yb = x[b];
    }
    if (isq) return;
    const int kv_dim = n_head_kv * hd;
    size_t dst = (size_t)pos[i] * kv_dim + (size_t)hk * hd;
    const float *vr = v + (size_t)i * ld_kv + (size_t)hk * hd;
    if (f16) {
        __half *K = (__half *)kc + dst, *V = (__half *)vc + dst;
        K[a] = __float2half_rn(ya), K[b] = __float2half_rn(yb);
        V[a] = __float2half_rn(vr[a]), V[b] = __float2half_rn(vr[b]);
    } else {
        float *K = (float *)kc + dst, *V = (float *)vc + dst;
        K[a] = ya, K[b] = yb;
        V[a] = vr[a], V[b] = vr[b];
    }
}

void cu_rope_kv(cuda_ctx *c, float *q, int ld_q, int n_head, float *k, const float *v, int ld_kv, int n,
                int n_head_kv, int head_dim, const int32_t *pos, const ig_rope *r, void *kc, void *vc, int kv_type) {
    size_t total = (size_t)n * (n_head + n_head_kv) * (head_dim / 2);
    if (!total) return;
    float theta_scale = powf(r->freq_base, -2.0f / (float)r->n_rot);
    cu_launch(c, k_rope_kv, dim3((unsigned)((total + 255) / 256)), dim3(256), 0, q, ld_q, n_head, k, v, ld_kv, n,
              n_head_kv, head_dim, pos, r->n_rot, theta_scale, r->freq_scale, (int)(r->mode == IG_ROPE_NEOX), kc, vc,
              (int)(kv_type == INGOT_KV_F16));
}

/* ---- embedding rows ---------------------------------------------------------- */

/* Thread per 8 values of a row; ids outside the table give zeros rather
 * than a read out of bounds. */
static __global__ void k_embed8(float *out, uint32_t type, const uint8_t *Q, const uint8_t *S, int64_t rows,
                                int cols, const int32_t *ids) {
    pdl_trigger();
    pdl_wait();
    int i = blockIdx.y, k0 = (blockIdx.x * blockDim.x + threadIdx.x) * 8;
    if (k0 >= cols) return;
    int32_t id = ids[i];
    float y[8];
    if (id < 0 || id >= rows) {
#pragma unroll
        for (int j = 0; j < 8; j++) y[j] = 0.0f;
    } else {
        weight_deq8(type, Q, S, id, cols, k0, y);
    }
    float4 *o = (float4 *)(out + (size_t)i * cols + k0);
    o[0] = make_float4(y[0], y[1], y[2], y[3]);
    o[1] = make_float4(y[4], y[5], y[6], y[7]);
}

static __global__ void k_embed1(float *out, uint32_t type, const void *data, int64_t rows, int cols,
                                const int32_t *ids) {
    pdl_trigger();
    pdl_wait();
    int i = blockIdx.y, k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= cols) return;
    int32_t id = ids[i];
    float v = 0.0f;
    if (id >= 0 && id < rows) {
        size_t o = (size_t)id * cols + k;
        if (type == IG_TYPE_F32) v = ((const float *)data)[o];
        else if (type == IG_TYPE_F16) v = h2f(((const uint16_t *)data)[o]);
        else v = bf2f(((const uint16_t *)data)[o]);
    }
    out[(size_t)i * cols + k] = v;
}

void cu_embed(cuda_ctx *c, float *out, const ig_weight *t, const int32_t *ids, int n) {
    if (n <= 0) return;
    int cols = (int)t->cols;
    const uint8_t *Q, *S;
    cu_weight_parts(t, &Q, &S);
    if (cols % 8 == 0 && al16(out)) {
        dim3 g((cols / 8 + 127) / 128, n);
        cu_launch(c, k_embed8, g, dim3(128), 0, out, t->type, Q, S, t->rows, cols, ids);
    } else if (ql_get(t->type).qk == 1) {
        dim3 g((cols + 127) / 128, n);
        cu_launch(c, k_embed1, g, dim3(128), 0, out, t->type, (const void *)t->data, t->rows, cols, ids);
    } else {
        cu_fail(c, INGOT_ERR_UNSUPPORTED, __FILE__, __LINE__, "embed: row not a multiple of 8 values");
    }
}

/* A decode step's first two ops in one CTA: the token's embedding row
 * (written to x, the residual stream) and its RMSNorm with q8_1, eight
 * consecutive values a thread (so four threads hold one q8_1 block). One
 * kernel boundary less per step than embed, then k_norm. */
static __global__ void __launch_bounds__(1024)
    k_embed_norm(float *x, float *out, uint32_t type, const uint8_t *Q, const uint8_t *S, int64_t rows, int d,
                 const int32_t *ids, const float *__restrict__ w, float eps, int8_t *__restrict__ xq,
                 float2 *__restrict__ ds, int xc) {
    pdl_trigger();
    __shared__ float sh[32];
    const int k0 = 8 * (int)threadIdx.x;
    const bool in = k0 < d; /* whole 4-thread groups (d % 32 == 0); the last warp may be part idle */
    float g[8], y[8];
#pragma unroll
    for (int j = 0; j < 8; j++) g[j] = y[j] = 0.0f;
    if (in) { /* no earlier kernel's output: before the wait */
        const float4 *w4 = (const float4 *)(w + k0);
        const float4 g0 = w4[0], g1 = w4[1];
        g[0] = g0.x, g[1] = g0.y, g[2] = g0.z, g[3] = g0.w, g[4] = g1.x, g[5] = g1.y, g[6] = g1.z, g[7] = g1.w;
    }
    pdl_wait();
    const int32_t id = ids[0];
    if (in && id >= 0 && id < rows) weight_deq8(type, Q, S, id, d, k0, y);
    if (in) {
        float4 *x4 = (float4 *)(x + k0);
        x4[0] = make_float4(y[0], y[1], y[2], y[3]);
        x4[1] = make_float4(y[4], y[5], y[6], y[7]);
    }
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < 8; j++) s += y[j] * y[j];
    const float scale = rsqrtf(block_sum(s, sh) / (float)d + eps);
    float amax = 0.0f;
#pragma unroll
    for (int j = 0; j < 8; j++) {
        y[j] = y[j] * scale * g[j];
        amax = fmaxf(amax, fabsf(y[j]));
    }
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
    const float id8 = q8_id(amax);
    int qs = 0;
    char4 c[2];
    int8_t *cq = (int8_t *)c;
#pragma unroll
    for (int j = 0; j < 8; j++) {
        const int q = q8_q(y[j], id8);
        cq[j] = (int8_t)q;
        qs += q;
    }
    qs += __shfl_xor_sync(0xffffffffu, qs, 1);
    qs += __shfl_xor_sync(0xffffffffu, qs, 2);
    if (!in) return;
    float4 *o4 = (float4 *)(out + k0);
    o4[0] = make_float4(y[0], y[1], y[2], y[3]);
    o4[1] = make_float4(y[4], y[5], y[6], y[7]);
    *(int2 *)(xq + xk_pos(k0, xc)) = *(const int2 *)c; /* 8 values of one 16-value piece */
    const float dq = amax / 127.0f;
    if ((threadIdx.x & 3) == 0) ds[k0 / 32] = make_float2(dq, dq * (float)qs);
}

bool cu_embed_norm(cuda_ctx *c, float *x, float *out, const ig_weight *t, const int32_t *ids, const float *w,
                   int d, float eps) {
    if (d != (int)t->cols || d % 32 || d / 8 > 1024 || !al16(x) || !al16(out) || !al16(w)) return false;
    void *buf = cu_scratch(c, SCR_Q8, q8_bytes(1, d));
    if (!buf) return false;
    const uint8_t *Q, *S;
    cu_weight_parts(t, &Q, &S);
    const int threads = (d / 8 + 31) / 32 * 32;
    cu_launch(c, k_embed_norm, dim3(1), dim3(threads), 0, x, out, t->type, Q, S, t->rows, d, ids, w, eps,
              (int8_t *)buf, q8_ds(buf, 1, d), cu_xc(c, d));
    q8_set(c, out, (size_t)d, buf, cu_xc(c, d));
    return true;
}

/* ---- argmax ------------------------------------------------------------------- */

static __device__ __forceinline__ void amax_merge(float &bv, int &bi, float v, int i) {
    if (v > bv || (v == bv && i < bi)) bv = v, bi = i;
}

static __global__ void __launch_bounds__(1024) k_argmax(int32_t *out, const float *x, int n) {
    pdl_trigger();
    pdl_wait();
    __shared__ float sv[32];
    __shared__ int si[32];
    float bv = -INFINITY;
    int bi = 0x7fffffff;
    if (((uintptr_t)x & 15) == 0) {
        /* eight 16-byte loads in flight per thread (32k logits: one
         * round), not one 4-byte load per L2 round trip: ops tg128 Q4_0
         * 580.2-583.0 vs 580.5-580.7 (NOTES v16) */
        const int n4 = n / 4;
        const float4 *x4 = (const float4 *)x;
        for (int f0 = threadIdx.x; f0 < n4; f0 += 8 * blockDim.x) {
            float4 v[8];
#pragma unroll
            for (int u = 0; u < 8; u++) {
                const int f = f0 + u * (int)blockDim.x;
                v[u] = f < n4 ? __ldcg(x4 + f) : make_float4(-INFINITY, -INFINITY, -INFINITY, -INFINITY);
            }
#pragma unroll
            for (int u = 0; u < 8; u++) { /* increasing index: the first of equals stays */
                const int i = 4 * (f0 + u * (int)blockDim.x);
                if (v[u].x > bv) bv = v[u].x, bi = i; /* NaN never wins */
                if (v[u].y > bv) bv = v[u].y, bi = i + 1;
                if (v[u].z > bv) bv = v[u].z, bi = i + 2;
                if (v[u].w > bv) bv = v[u].w, bi = i + 3;
            }
        }
        for (int i = 4 * n4 + threadIdx.x; i < n; i += blockDim.x) amax_merge(bv, bi, x[i], i);
    } else
        for (int i = threadIdx.x; i < n; i += blockDim.x) {
            float v = x[i];
            if (v > bv) bv = v, bi = i; /* NaN never wins */
        }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        amax_merge(bv, bi, ov, oi);
    }
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    if (lane == 0) sv[w] = bv, si[w] = bi;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int k = 1; k < (int)(blockDim.x >> 5); k++) amax_merge(bv, bi, sv[k], si[k]);
        *out = bi == 0x7fffffff ? 0 : bi;
    }
}

void cu_argmax(cuda_ctx *c, int32_t *out, const float *x, int n) {
    if (n <= 0) return;
    cu_launch(c, k_argmax, dim3(1), dim3(1024), 0, out, x, n);
}

CU_TRACE_SETTER(norm)
