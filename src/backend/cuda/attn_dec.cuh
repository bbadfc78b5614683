/* Decode attention pieces shared by the attention kernels (attention.cu)
 * and the attention that runs inside the Q/K/V launch (matvec.cu). */
#ifndef INGOT_CUDA_ATTN_DEC_CUH
#define INGOT_CUDA_ATTN_DEC_CUH

#include <math.h>

#include "common.cuh"

/* Template branches for other widths are unreachable by design. */
#pragma nv_diag_suppress 128

/* Cache row element e of KV head g at position t. */
template <bool F16>
static __device__ __forceinline__ float kv_at(const void *c, size_t idx) {
    if (F16) return __half2float(((const __half *)c)[idx]);
    return ((const float *)c)[idx];
}

/* DPL values of a row slice for lane `lane` (dims lane*DPL ...), 16/8/4-byte
 * loads when the head is exactly 32*DPL wide, guarded scalars otherwise. */
template <int DPL, bool F16, bool VEC>
static __device__ __forceinline__ void ld_slice(const void *base, size_t off, int lane, int hd, float *y) {
    if (VEC) {
        if (F16) {
            const __half *p = (const __half *)base + off + lane * DPL;
            if (DPL == 8) {
                uint4 r = *(const uint4 *)p;
                const __half2 *h = (const __half2 *)&r;
#pragma unroll
                for (int k = 0; k < 4; k++) { float2 f = __half22float2(h[k]); y[2 * k] = f.x, y[2 * k + 1] = f.y; }
            } else if (DPL == 4) {
                uint2 r = *(const uint2 *)p;
                const __half2 *h = (const __half2 *)&r;
#pragma unroll
                for (int k = 0; k < 2; k++) { float2 f = __half22float2(h[k]); y[2 * k] = f.x, y[2 * k + 1] = f.y; }
            } else if (DPL == 2) {
                float2 f = __half22float2(*(const __half2 *)p);
                y[0] = f.x, y[1] = f.y;
            } else {
                y[0] = __half2float(*p);
            }
        } else {
            const float *p = (const float *)base + off + lane * DPL;
            if (DPL >= 4) {
#pragma unroll
                for (int k = 0; k < DPL; k += 4) {
                    float4 f = *(const float4 *)(p + k);
                    y[k] = f.x, y[k + 1] = f.y, y[k + 2] = f.z, y[k + 3] = f.w;
                }
            } else if (DPL == 2) {
                float2 f = *(const float2 *)p;
                y[0] = f.x, y[1] = f.y;
            } else {
                y[0] = *p;
            }
        }
        return;
    }
#pragma unroll
    for (int j = 0; j < DPL; j++) {
        int e = lane * DPL + j;
        y[j] = e < hd ? kv_at<F16>(base, off + e) : 0.0f;
    }
}

/* DPL halves to a DPL-aligned cache row slice in one store. */
template <int DPL>
static __device__ __forceinline__ void st_halves(__half *p, const __half *v) {
    if (DPL == 8) {
        uint4 r;
        __half *h = (__half *)&r;
#pragma unroll
        for (int j = 0; j < 8; j++) h[j] = v[j];
        *(uint4 *)p = r;
    } else if (DPL == 4) {
        uint2 r;
        __half *h = (__half *)&r;
#pragma unroll
        for (int j = 0; j < 4; j++) h[j] = v[j];
        *(uint2 *)p = r;
    } else if (DPL == 2) {
        *(__half2 *)p = __halves2half2(v[0], v[1]);
    } else {
        p[0] = v[0];
    }
}

/* Rotate the DPL values of one lane (adjacent pairs, RoPE "normal") by the
 * angles in rc/rs: k_rope_kv's arithmetic. */
template <int DPL>
static __device__ __forceinline__ void rot_pairs(float *v, const float *rc, const float *rs) {
#pragma unroll
    for (int j = 0; j < DPL / 2; j++) {
        float x0 = v[2 * j], x1 = v[2 * j + 1];
        v[2 * j] = x0 * rc[j] - x1 * rs[j];
        v[2 * j + 1] = x0 * rs[j] + x1 * rc[j];
    }
}

/* RoPE angles of position p for lane's DPL values (DPL/2 adjacent pairs,
 * dims lane*DPL..): the theta recurrence and double sincos of k_rope_kv,
 * so every path rotates alike. Pairs past n_rot stay unrotated. */
template <int DPL>
static __device__ __forceinline__ void rope_angles(int p, int lane, int n_rot, float theta_scale, float freq_scale,
                                                   float *rc, float *rs) {
    float theta = (float)p;
    for (int t = 0; t < lane * DPL / 2; t++) theta *= theta_scale;
#pragma unroll
    for (int j = 0; j < DPL / 2; j++) {
        rc[j] = 1.0f, rs[j] = 0.0f;
        if (lane * DPL + 2 * j < n_rot) {
            double sn, cs;
            sincos((double)(theta * freq_scale), &sn, &cs);
            rc[j] = (float)cs, rs[j] = (float)sn;
        }
        theta *= theta_scale;
    }
}

/* One warp's online-softmax step over KPW keys (kf(j, e), vf(j, e): this
 * lane's dim e of key j; keys from nvalid on are masked): running max m,
 * sum l and weighted values o. */
template <int DPL, int KPW, class KF, class VF>
static __device__ __forceinline__ void softmax_step(const float *qv, KF kf, VF vf, int nvalid, float &m, float &l,
                                                    float *o) {
    float sc[KPW];
#pragma unroll
    for (int j = 0; j < KPW; j++) {
        float a = 0.0f;
#pragma unroll
        for (int e = 0; e < DPL; e++) a += qv[e] * kf(j, e);
        sc[j] = a;
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1)
#pragma unroll
        for (int j = 0; j < KPW; j++) sc[j] += __shfl_xor_sync(0xffffffffu, sc[j], off);
    float mx = m;
#pragma unroll
    for (int j = 0; j < KPW; j++) {
        if (j >= nvalid) sc[j] = -INFINITY;
        mx = fmaxf(mx, sc[j]);
    }
    float corr = __expf(m - mx);
    l *= corr;
#pragma unroll
    for (int e = 0; e < DPL; e++) o[e] *= corr;
#pragma unroll
    for (int j = 0; j < KPW; j++) {
        float p = __expf(sc[j] - mx);
        l += p;
#pragma unroll
        for (int e = 0; e < DPL; e++) o[e] += p * vf(j, e);
    }
    m = mx;
}

/* A lane's DPL halves of an f16 cache row, kept packed (half the
 * registers of floats: twice the keys in flight). */
template <int DPL> struct hrow {
    uint32_t u[DPL / 2 > 0 ? DPL / 2 : 1];
};
template <int DPL> static __device__ __forceinline__ hrow<DPL> hrow_ld(const __half *p) {
    hrow<DPL> r;
    if (DPL == 8) {
        uint4 t = *(const uint4 *)p;
        r.u[0] = t.x, r.u[1] = t.y, r.u[2] = t.z, r.u[3] = t.w;
    } else if (DPL == 4) {
        uint2 t = *(const uint2 *)p;
        r.u[0] = t.x, r.u[1] = t.y;
    } else {
        r.u[0] = *(const uint32_t *)p;
    }
    return r;
}
template <int DPL> static __device__ __forceinline__ float hrow_at(const hrow<DPL> &r, int e) {
    const uint32_t w = r.u[e >> 1];
    return __half2float(__ushort_as_half((unsigned short)(e & 1 ? w >> 16 : w & 0xFFFFu)));
}

#endif
