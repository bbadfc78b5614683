/* Decode megakernel (experiment, not used by the engine): the layers of one
 * decode step as one launch. Measured slower than the per-product kernels
 * on H100 (bench/cuda/NOTES.md, v9: 465 vs 566 tok/s Q4_0); kept, with its
 * stall counters, for the next attempt. bench_cuda_ops runs it with
 * BENCH_MEGA=1 (BENCH_MEGA_ONLY=1: nothing else) and compares its logits
 * with the op path's over 160 steps.
 *
 * Why. Decode reads every weight once, so a step should take bytes moved /
 * bandwidth. With one kernel per product (matvec.cu) every dependency -- Q/K/V
 * before attention, attention before wo, the norm before gate/up, SwiGLU
 * before down -- is a kernel boundary, and at each the weight stream stops:
 * the next kernel's loads can only be issued once its CTAs are resident, and
 * its first bytes arrive a DRAM latency later (bench/cuda/NOTES.md: ~16 us of
 * a 55 us layer). Weights never depend on activations, so nothing forces
 * the stream to stop: here one CTA per SM runs the whole step, and its
 * producer warp streams the CTA's share of every product's weights, in
 * program order, into a ring of shared-memory stages with bulk asynchronous
 * copies (TMA), while the consumer warps compute. A dependency is a grid
 * barrier for the consumers only; the producer runs ahead until the ring is
 * full (~190 KB per SM, ~9 us of the SM's share of bandwidth), so barriers,
 * prologues (norm, SwiGLU) and the attention itself overlap with the
 * weights of the products after them -- as long as the consumers are
 * faster than DRAM by more than those stalls, which they were not (v9).
 *
 * Program. A list of phases, built by the host once per recorded step:
 * MG_MV products (up to MG_MAXM matrices sharing one input; the input is
 * built by every CTA in shared memory as q8_1: RMSNorm of x, x itself or
 * silu(gate) * up) and MG_ATT decode attention (RoPE of q and k, the KV
 * store, split-K online softmax over (head, chunk) items, the last chunk
 * of a head merging). Every phase but the first waits at a grid barrier.
 * Rows of a product are split over the CTAs by bytes; each CTA walks its
 * rows in stages of whole rows (a stage never crosses a matrix).
 *
 * Requirements (cu_mega_supported): all CTAs resident at once (one per SM,
 * checked by occupancy), quantized weights whose rows are whole 16-byte
 * pieces (every layout of common.cuh), head_dim 128 with an f16 cache.
 */
#include <stdio.h>

#include "backend/cuda/attn_dec.cuh"
#include "backend/cuda/mvq.cuh"
#include "mega.h"

/* mbarriers and bulk asynchronous copies (TMA, sm_90): a copy of whole
 * rows into shared memory costs one instruction and no registers; its
 * arrival completes the barrier's transaction count. */
static __device__ __forceinline__ unsigned sa(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }
static __device__ __forceinline__ void mb_init(uint64_t *b, unsigned count) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(sa(b)), "r"(count) : "memory");
#endif
}
static __device__ __forceinline__ void mb_wait(uint64_t *b, unsigned parity) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile(
        "{\n .reg .pred p;\n"
        "W%=:\n mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n @!p bra W%=;\n}\n" ::"r"(sa(b)),
        "r"(parity)
        : "memory");
#endif
}
static __device__ __forceinline__ void mb_arrive(uint64_t *b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(sa(b)) : "memory");
#endif
}
static __device__ __forceinline__ void mb_expect(uint64_t *b, unsigned bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(sa(b)), "r"(bytes) : "memory");
#endif
}
/* After mb_init, before the barrier is used by copies (async proxy). */
static __device__ __forceinline__ void mb_fence_init() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("fence.mbarrier_init.release.cluster;\n fence.proxy.async.shared::cta;" ::: "memory");
#endif
}
/* Weights are read once per step: evict them first from L2, so the
 * activations and the KV cache stay. */
static __device__ __forceinline__ uint64_t evict_first() {
    uint64_t p = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(p));
#endif
    return p;
}
static __device__ __forceinline__ void bulk_g2s(void *dst, const void *src, unsigned bytes, uint64_t *b,
                                                uint64_t policy) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile(
        "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;" ::"r"(
            sa(dst)),
        "l"(src), "r"(bytes), "r"(sa(b)), "l"(policy)
        : "memory");
#endif
}

#ifndef MG_NCW
#define MG_NCW 15 /* consumer warps: 16 with the producer (registers are allocated per 4 warps) */
#endif
#define MG_THREADS ((MG_NCW + 1) * 32) /* + one producer warp */
#define MG_MAXREG (65536 / (((MG_NCW + 4) / 4) * 128) / 8 * 8 > 255 ? 255 : 65536 / (((MG_NCW + 4) / 4) * 128) / 8 * 8)
#ifndef MG_U
#define MG_U 2 /* rows per warp item (pairs share activation loads) */
#endif
#define MG_SB 32768                   /* bytes per stage */
#define MG_NS 6                       /* stages in the ring */
#define MG_MAXCOLS 14336              /* longest product input (q8_1 in shared memory): Llama-3-8B's n_ff */
#define MG_HD 128
#define MG_SO ((2 * MG_NCW + 3) / 4 * 4)  /* attention merge: m, l, then o */
#define MG_KPW 4                      /* keys in flight per warp (attention) */

/* The residual inputs of the CTA's rows of a phase. */
#define MG_MAXR 256
typedef struct mg_rows {
    float res[MG_MAXR];
} mg_rows;

static __host__ __device__ __forceinline__ size_t mg_smem_bytes() {
    return (size_t)MG_NS * MG_SB + MG_MAXCOLS + (size_t)MG_MAXCOLS / 32 * sizeof(float2);
}

/* ---- TMA ring and grid barrier (PTX) --------------------------------- */

static __device__ __forceinline__ void cons_sync() {
    asm volatile("bar.sync 1, %0;" ::"n"(MG_NCW * 32) : "memory");
}
/* Consumers of every CTA: writes before, reads after (reads of other CTAs'
 * data go through L2: __ldcg). One release per CTA, not per warp. */
static __device__ __forceinline__ void grid_sync(unsigned *bar, unsigned target) {
    cons_sync();
    if (threadIdx.x == 0) {
        asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(bar) : "memory");
        unsigned v;
        /* 132 pollers on one L2 line: back off between polls */
        asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(bar) : "memory");
        while (v < target) {
            __nanosleep(64);
            asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(bar) : "memory");
        }
    }
    cons_sync();
}

/* ---- program ----------------------------------------------------------- */

/* Where a CTA walks: the stage of at most rs rows starting at `row` of the
 * phase's concatenated rows, clipped to the CTA's end and to its matrix. */
static __device__ __forceinline__ void mg_chunk(const mg_phase &P, int row, int end, int *mi, int *local, int *n) {
    int base = 0, i = 0;
    while (i + 1 < P.nm && row >= base + P.m[i].rows) base += P.m[i].rows, i++;
    *mi = i;
    *local = row - base;
    int k = P.m[i].rs;
    if (k > end - row) k = end - row;
    if (k > base + P.m[i].rows - row) k = base + P.m[i].rows - row;
    *n = k;
}

static __device__ __forceinline__ void mg_producer(const mg_phase *ph, int nph, const int *split, uint8_t *ring,
                                                   uint64_t *full, uint64_t *empty, mg_phase *pph,
                                                   unsigned long long *st) {
    unsigned long long pw = 0;
    const uint64_t policy = evict_first();
    const int g = blockIdx.x;
    unsigned k = 0;
    for (int p = 0; p < nph; p++) {
        if (ph[p].kind != MG_MV) continue;
        /* the descriptor in shared memory: global reads cost a round trip
         * per stage */
        for (int i = 0; i < (int)(sizeof(mg_phase) / 4); i++) ((uint32_t *)pph)[i] = ((const uint32_t *)(ph + p))[i];
        const mg_phase &P = *pph;
        const int r1 = split[P.split + g + 1];
        for (int row = split[P.split + g]; row < r1;) {
            int mi, local, n;
            mg_chunk(P, row, r1, &mi, &local, &n);
            const mg_mat &M = P.m[mi];
            const unsigned slot = k % MG_NS, qb = (unsigned)n * M.qrow, sb = (unsigned)n * M.srow;
            if (k >= MG_NS) {
                unsigned long long t = clock64();
                mb_wait(&empty[slot], ((k / MG_NS) - 1) & 1);
                pw += clock64() - t;
            }
            uint8_t *dst = ring + (size_t)slot * MG_SB;
            mb_expect(&full[slot], qb + sb);
            if (M.qs == M.qrow) {
                bulk_g2s(dst, M.q + (size_t)local * M.qrow, qb, &full[slot], policy);
            } else { /* padded rows: one copy each */
                for (int r = 0; r < n; r++)
                    bulk_g2s(dst + (size_t)r * M.qs, M.q + (size_t)(local + r) * M.qrow, (unsigned)M.qrow, &full[slot],
                             policy);
            }
            if (sb && M.ss == M.srow) {
                bulk_g2s(dst + (size_t)n * M.qs, M.s + (size_t)local * M.srow, sb, &full[slot], policy);
            } else if (sb) {
                for (int r = 0; r < n; r++)
                    bulk_g2s(dst + (size_t)n * M.qs + (size_t)r * M.ss, M.s + (size_t)(local + r) * M.srow,
                             (unsigned)M.srow, &full[slot], policy);
            }
            k++;
            row += n;
        }
    }
    if (st) st[1] = pw;
}

/* ---- consumers: product rows from the ring ------------------------------ */

/* The phase's input in shared memory (q8_1), from what the previous phases
 * wrote (through L2: other CTAs wrote it); every load is issued before the
 * first use (one round trip), and the residual inputs of the CTA's rows. */
#define MG_PV ((MG_MAXCOLS / 4 + MG_NCW * 32 - 1) / (MG_NCW * 32))
static __device__ __forceinline__ void mg_input(const mg_phase &P, const int *split, int8_t *xq, float2 *ds, float *red,
                                mg_rows *sr) {
    const int cols = P.cols, lane = threadIdx.x & 31, w = threadIdx.x >> 5, T = MG_NCW * 32;
    const int c4 = cols / 4, nit = (c4 + T - 1) / T;
    const float4 *x4 = (const float4 *)P.x;
    const float4 z4 = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (P.nm == 1 && P.m[0].res) {
        const int r0 = split[P.split + blockIdx.x], r1 = split[P.split + blockIdx.x + 1];
        for (int i = threadIdx.x; i < r1 - r0; i += T) sr->res[i] = __ldcg(P.m[0].res + r0 + i);
    }
    float4 v[MG_PV];
#pragma unroll
    for (int i = 0; i < MG_PV; i++) {
        const int f = threadIdx.x + i * T;
        v[i] = i < nit && f < c4 ? __ldcg(x4 + f) : z4;
    }
    if (P.in == MG_IN_NORM) {
        const float4 *w4 = (const float4 *)P.nw;
        float4 nw[MG_PV];
        float ss = 0.0f;
#pragma unroll
        for (int i = 0; i < MG_PV; i++) {
            const int f = threadIdx.x + i * T;
            nw[i] = i < nit && f < c4 ? w4[f] : z4;
            ss += v[i].x * v[i].x + v[i].y * v[i].y + v[i].z * v[i].z + v[i].w * v[i].w;
        }
        ss = warp_sum(ss);
        if (lane == 0) red[w] = ss;
        cons_sync();
        float t = 0.0f;
#pragma unroll
        for (int k = 0; k < MG_NCW; k++) t += red[k];
        const float sc = rsqrtf(t / (float)cols + P.eps);
#pragma unroll
        for (int i = 0; i < MG_PV; i++)
            v[i] = make_float4(v[i].x * sc * nw[i].x, v[i].y * sc * nw[i].y, v[i].z * sc * nw[i].z,
                               v[i].w * sc * nw[i].w);
    } else if (P.in == MG_IN_GLU) {
        const float4 *u4 = (const float4 *)P.x2;
        float4 u[MG_PV];
#pragma unroll
        for (int i = 0; i < MG_PV; i++) {
            const int f = threadIdx.x + i * T;
            u[i] = i < nit && f < c4 ? __ldcg(u4 + f) : z4;
        }
#pragma unroll
        for (int i = 0; i < MG_PV; i++) {
            const float4 a = v[i], b = u[i];
            v[i] = make_float4(swiglu1(a.x, b.x), swiglu1(a.y, b.y), swiglu1(a.z, b.z), swiglu1(a.w, b.w));
        }
    }
#pragma unroll
    for (int i = 0; i < MG_PV; i++) {
        const int f = threadIdx.x + i * T;
        if (i < nit) q8_put4(v[i], f < c4, xq, ds, (size_t)f * 4, 0);
    }
    cons_sync();
}

/* Row r of the matrix (i of the CTA's phase range) is v: the product, and
 * the residual sum where the phase has one. */
static __device__ __forceinline__ void mg_out(const mg_mat &M, const mg_rows *sr, int r, int i, float v) {
    M.out[r] = v;
    if (M.out2) M.out2[r] = sr->res[i] + v;
}
/* A warp's pair of rows (lane 0 stores; the second only if there is one). */
static __device__ __forceinline__ void mg_pair_out(const mg_mat &M, const mg_rows *sr, int r, int i, bool two,
                                                   float a, float b) {
    if ((threadIdx.x & 31) != 0) return;
    mg_out(M, sr, r, i, a);
    if (two) mg_out(M, sr, r + 1, i + 1, b);
}

/* The warp's rows of a stage of n rows of type T: pairs of rows (2u,
 * 2u+1) for u = j, j+MG_NCW, ...; the whole row per warp, activations from
 * shared memory, each activation load shared by the pair. One branch per
 * stage around the loop (per-row type branches get if-converted: every
 * type's loads then live at once). */
template <int T>
static __device__ __forceinline__ void mg_rows_t(const mg_mat &M, const mg_rows *sr, const uint8_t *st, int n, int j,
                                                 int i0, int local, const int8_t *xq, const float2 *ds) {
    typedef mvq<T> Q;
    const int lane = threadIdx.x & 31, nb = M.cols / Q::QK, ntask = nb * Q::TPB;
    for (int a = MG_U * j; a < n; a += MG_U * MG_NCW) {
        const bool two = MG_U == 2 && a + 1 < n;
        const uint8_t *Qa = st + (size_t)a * M.qs, *Sa = st + (size_t)n * M.qs + (size_t)a * M.srow;
        const uint8_t *Qb = two ? Qa + M.qs : Qa, *Sb = two ? Sa + M.srow : Sa;
        float acc = 0.0f, acb = 0.0f;
#pragma unroll 2
        for (int t = lane; t < ntask; t += 32) {
            const typename Q::W wa = Q::template load<false>(Qa, Sa, t / Q::TPB, t % Q::TPB, nb);
            const typename Q::W wb = Q::template load<false>(Qb, Sb, t / Q::TPB, t % Q::TPB, nb);
            acc += Q::dot(wa, xq, ds, t / Q::TPB, t % Q::TPB, nb, xkv{0, 64});
            acb += Q::dot(wb, xq, ds, t / Q::TPB, t % Q::TPB, nb, xkv{0, 64});
        }
        mg_pair_out(M, sr, local + a, i0 + a, two, warp_sum(acc), warp_sum(acb));
    }
}

/* q4_0 rows of a stage as one 16-row tile on the tensor cores (MG_MMA):
 * per 32-value block one mma.m16n8k32 (s8) with the weights as A (a
 * thread's 4 bytes of a row hold its values k..k+3 in the low nibbles and
 * k+16.. in the high ones: exactly A's fragment) and the activations as
 * column 0 of B, so the activation loads are shared by 16 rows instead of
 * one (shared-memory traffic per weight byte ~6x lower than mg_rows_t).
 * Rows are 16 bytes apart beyond qrow in the stage: the 8 rows a warp's A
 * loads touch fall in different banks. MG_KS warps share a stage's blocks.
 * Correct but slower as written (-DMG_MMA, v9: 314 vs 463 tok/s): each
 * warp's block loop is a serial chain (mma, conversion, per-row scale
 * loads in 8-way bank conflict until S rows were padded too). */
#ifndef MG_KS
#define MG_KS 3 /* warps sharing a tile's blocks (MG_MMA) */
#endif
#ifdef MG_MMA
#error "MG_MMA reads q4_0 blocks in the file's nibble order, which the backend reorders since v20 (q40_reordered)"
#endif
typedef struct mg_tiles {
    float part[MG_NS][MG_KS][16];
    int cnt[MG_NS];
} mg_tiles;

static __device__ __forceinline__ void mg_tile_q40(const mg_mat &M, const mg_rows *sr, const uint8_t *st, int n,
                                                   int i0, int local, const int8_t *xq, const float2 *ds,
                                                   mg_tiles *tl, int slot, int ks) {
    const int lane = threadIdx.x & 31, gid = lane >> 2, tig = lane & 3, nb = M.cols / 32;
    const bool ra = gid < n, rb = gid + 8 < n;
    const uint8_t *Qa = st + (size_t)gid * M.qs, *Qb = st + (size_t)(gid + 8) * M.qs;
    const uint8_t *Sa = st + (size_t)n * M.qs + (size_t)gid * M.ss, *Sb = Sa + (size_t)8 * M.ss;
    float acc_a = 0.0f, acc_b = 0.0f;
#pragma unroll 4
    for (int b = ks; b < nb; b += MG_KS) {
        const uint32_t va = ra ? *(const uint32_t *)(Qa + b * 16 + tig * 4) : 0u;
        const uint32_t vb = rb ? *(const uint32_t *)(Qb + b * 16 + tig * 4) : 0u;
        uint32_t x0 = 0, x1 = 0;
        if (gid == 0) x0 = *(const uint32_t *)(xq + b * 32 + tig * 4), x1 = *(const uint32_t *)(xq + b * 32 + 16 + tig * 4);
        int c0 = 0, c1 = 0, c2 = 0, c3 = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
        asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
            : "+r"(c0), "+r"(c1), "+r"(c2), "+r"(c3)
            : "r"(va & M4), "r"(vb & M4), "r"((va >> 4) & M4), "r"((vb >> 4) & M4), "r"(x0), "r"(x1));
#endif
        if (tig == 0) {
            const float2 d8 = ds[b];
            if (ra) acc_a += h2f(ld16(Sa + b * 2)) * ((float)c0 * d8.x - 8.0f * d8.y);
            if (rb) acc_b += h2f(ld16(Sb + b * 2)) * ((float)c2 * d8.x - 8.0f * d8.y);
        }
        (void)c1, (void)c3;
    }
    /* the tile's last warp adds the MG_KS parts in a fixed order */
    if (tig == 0) tl->part[slot][ks][gid] = acc_a, tl->part[slot][ks][gid + 8] = acc_b;
    __syncwarp();
    int last = 0;
    if (lane == 0) {
        __threadfence_block();
        last = atomicAdd(&tl->cnt[slot], 1) == MG_KS - 1;
    }
    last = __shfl_sync(0xffffffffu, last, 0);
    if (!last) return;
    __threadfence_block();
    if (lane < n) {
        const volatile float *pp = &tl->part[slot][0][0];
        float v = 0.0f;
        for (int q = 0; q < MG_KS; q++) v += pp[q * 16 + lane];
        mg_out(M, sr, local + lane, i0 + lane, v);
    }
    if (lane == 0) tl->cnt[slot] = 0;
}

static __device__ __forceinline__ void mg_products(const mg_phase &P, const int *split, const uint8_t *ring,
                                                   uint64_t *full, uint64_t *empty, unsigned *k, const int8_t *xq,
                                                   const float2 *ds, const mg_rows *sr, mg_tiles *tl,
                                                   unsigned long long *fw, int dbg) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = blockIdx.x;
    const int r0 = split[P.split + g], r1 = split[P.split + g + 1];
    for (int row = r0; row < r1;) {
        int mi, local, n;
        mg_chunk(P, row, r1, &mi, &local, &n);
        const mg_mat &M = P.m[mi];
        const unsigned rs = *k % MG_NS;
        unsigned long long t = clock64();
        mb_wait(&full[rs], (*k / MG_NS) & 1);
        *fw += clock64() - t;
        const uint8_t *st = ring + (size_t)rs * MG_SB;
        /* row pairs u = w (mod MG_NCW) of the CTA's range (stages hold an
         * even number of rows): the warps spread over consecutive stages
         * when a stage has fewer pairs than warps */
        const int i0 = row - r0;
        int j = (w - i0 / MG_U) % MG_NCW;
        if (j < 0) j += MG_NCW;
        if (!(dbg & 1) && M.qs != M.qrow) {
            /* groups of MG_KS warps, one stage each, blocks split over the group */
            if ((int)(*k % (MG_NCW / MG_KS)) == w / MG_KS && w / MG_KS < MG_NCW / MG_KS)
                mg_tile_q40(M, sr, st, n, i0, local, xq, ds, tl, (int)rs, w % MG_KS);
        } else if (!(dbg & 1)) {
#define MG_T(T) \
    case T: mg_rows_t<T>(M, sr, st, n, j, i0, local, xq, ds); break;
            switch (M.type) {
                MG_T(IG_TYPE_Q4_0)
                MG_T(IG_TYPE_Q4_1)
                MG_T(IG_TYPE_Q5_0)
                MG_T(IG_TYPE_Q5_1)
                MG_T(IG_TYPE_Q8_0)
                MG_T(IG_TYPE_Q2_K)
                MG_T(IG_TYPE_Q3_K)
                MG_T(IG_TYPE_Q4_K)
                MG_T(IG_TYPE_Q5_K)
                MG_T(IG_TYPE_Q6_K)
            default: break;
            }
#undef MG_T
        }
        __syncwarp();
        if (lane == 0) mb_arrive(&empty[rs]);
        ++*k;
        row += n;
    }
}

/* ---- consumers: decode attention ---------------------------------------- */

/* Item (head h, chunk s) of one token at length len = pos + 1: RoPE of q and
 * of this token's k (adjacent pairs, k_rope_kv's arithmetic: theta
 * recurrence, double sincos), the KV store of row len-1 by the first head of
 * each group's last chunk, an online softmax per warp over its keys, merged
 * across warps. Output: the head's row (one chunk) or a partial (M, L, O). */
static __device__ __forceinline__ void mg_attention(const mg_att &A, int h, int s, int nsplit, float *sh) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, hd = MG_HD, DPL = 4;
    const int len = *A.pos + 1, kv_dim = (A.n_head / A.group) * hd, gk = h / A.group;
    int chunk = (len + nsplit - 1) / nsplit;
    const int t0 = s * chunk, t1 = min(len, t0 + chunk);
    const size_t base = (size_t)gk * hd;
    float rc[2], rs[2];
    {
        float theta = (float)(len - 1);
        for (int t = 0; t < lane * DPL / 2; t++) theta *= A.theta_scale;
#pragma unroll
        for (int j = 0; j < 2; j++) {
            rc[j] = 1.0f, rs[j] = 0.0f;
            if (lane * DPL + 2 * j < A.n_rot) {
                double sn, cs;
                sincos((double)(theta * A.freq_scale), &sn, &cs);
                rc[j] = (float)cs, rs[j] = (float)sn;
            }
            theta *= A.theta_scale;
        }
    }
    auto rot = [&](float *v) {
#pragma unroll
        for (int j = 0; j < 2; j++) {
            float x0 = v[2 * j], x1 = v[2 * j + 1];
            v[2 * j] = x0 * rc[j] - x1 * rs[j];
            v[2 * j + 1] = x0 * rs[j] + x1 * rc[j];
        }
    };
    float qv[4], o[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    {
        float4 t = __ldcg((const float4 *)(A.q + (size_t)h * hd) + lane);
        qv[0] = t.x, qv[1] = t.y, qv[2] = t.z, qv[3] = t.w;
    }
    rot(qv);
#pragma unroll
    for (int j = 0; j < 4; j++) qv[j] = __half2float(__float2half_rn(qv[j])) * A.scale; /* q meets an f16 cache in f16 */
    float kn[4], vn[4];
    const bool cur = t0 < t1 && t1 == len;
    if (cur) {
        float4 a = __ldcg((const float4 *)(A.k + base) + lane), b = __ldcg((const float4 *)(A.v + base) + lane);
        kn[0] = a.x, kn[1] = a.y, kn[2] = a.z, kn[3] = a.w;
        vn[0] = b.x, vn[1] = b.y, vn[2] = b.z, vn[3] = b.w;
        rot(kn);
        __half *kc = (__half *)A.kc + (size_t)(len - 1) * kv_dim + base + lane * 4;
        __half *vc = (__half *)A.vc + (size_t)(len - 1) * kv_dim + base + lane * 4;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            __half hk = __float2half_rn(kn[j]), hv = __float2half_rn(vn[j]);
            kn[j] = __half2float(hk), vn[j] = __half2float(hv);
            if (h % A.group == 0 && w == 0) kc[j] = hk, vc[j] = hv;
        }
    }
    float m = -INFINITY, l = 0.0f;
    const int STEP = MG_NCW * MG_KPW;
    for (int tb = t0 + w * MG_KPW; tb < t1; tb += STEP) {
        float kf[MG_KPW][4], vf[MG_KPW][4];
#pragma unroll
        for (int j = 0; j < MG_KPW; j++) {
            int t = tb + j < t1 ? tb + j : t1 - 1;
            if (t == len - 1) t = 0; /* being written: comes from registers */
            const size_t row = (size_t)t * kv_dim + base + lane * 4;
            uint2 a = *(const uint2 *)((const __half *)A.kc + row), b = *(const uint2 *)((const __half *)A.vc + row);
            float2 a0 = __half22float2(*(const __half2 *)&a.x), a1 = __half22float2(*(const __half2 *)&a.y);
            float2 b0 = __half22float2(*(const __half2 *)&b.x), b1 = __half22float2(*(const __half2 *)&b.y);
            kf[j][0] = a0.x, kf[j][1] = a0.y, kf[j][2] = a1.x, kf[j][3] = a1.y;
            vf[j][0] = b0.x, vf[j][1] = b0.y, vf[j][2] = b1.x, vf[j][3] = b1.y;
            if (cur && tb + j == len - 1)
#pragma unroll
                for (int e = 0; e < 4; e++) kf[j][e] = kn[e], vf[j][e] = vn[e];
        }
        softmax_step<4, MG_KPW>(
            qv, [&](int j, int e) { return kf[j][e]; }, [&](int j, int e) { return vf[j][e]; }, t1 - tb, m, l, o);
    }
    /* merge the warps: sh = [MG_NCW] m, [MG_NCW] l, [MG_NCW][hd] o */
    float *sm = sh, *sl = sh + MG_NCW, *so = sh + MG_SO; /* so: float4 stores */
    if (lane == 0) sm[w] = m, sl[w] = l;
    *(float4 *)(so + w * hd + lane * 4) = make_float4(o[0], o[1], o[2], o[3]);
    cons_sync();
    if (w == 0) {
        float M = -INFINITY, L = 0.0f;
#pragma unroll
        for (int k = 0; k < MG_NCW; k++) M = fmaxf(M, sm[k]);
        float4 O = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
        for (int k = 0; k < MG_NCW; k++) {
            const float f = sm[k] == -INFINITY ? 0.0f : __expf(sm[k] - M);
            L += sl[k] * f;
            float4 v = *(const float4 *)(so + k * hd + lane * 4);
            O.x += v.x * f, O.y += v.y * f, O.z += v.z * f, O.w += v.w * f;
        }
        if (nsplit == 1) {
            ((float4 *)(A.out + (size_t)h * hd))[lane] = make_float4(O.x / L, O.y / L, O.z / L, O.w / L);
        } else {
            float *pp = A.part + ((size_t)h * A.nsplit + s) * (hd + 4);
            ((float4 *)(pp + 4))[lane] = O;
            if (lane == 0) pp[0] = M, pp[1] = L;
        }
    }
    if (nsplit == 1) {
        cons_sync();
        return;
    }
    /* the head's last chunk to finish merges the partials (through L2) */
    __shared__ int s_last;
    cons_sync();
    if (threadIdx.x == 0) {
        __threadfence();
        s_last = atomicAdd(A.cnt + h, 1u) == (unsigned)nsplit - 1;
    }
    cons_sync();
    if (s_last && w == 0) {
        __threadfence();
        const float *pp = A.part + (size_t)h * A.nsplit * (hd + 4);
        float M = -INFINITY;
        for (int c = 0; c < nsplit; c++) M = fmaxf(M, __ldcg(pp + (size_t)c * (hd + 4)));
        float L = 0.0f;
        float4 O = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        for (int c = 0; c < nsplit; c++) {
            const float *q = pp + (size_t)c * (hd + 4);
            const float m = __ldcg(q);
            if (m == -INFINITY) continue; /* empty chunk */
            const float f = __expf(m - M);
            L += __ldcg(q + 1) * f;
            const float4 u = __ldcg((const float4 *)(q + 4) + lane);
            O.x += u.x * f, O.y += u.y * f, O.z += u.z * f, O.w += u.w * f;
        }
        ((float4 *)(A.out + (size_t)h * hd))[lane] = make_float4(O.x / L, O.y / L, O.z / L, O.w / L);
        if (lane == 0) A.cnt[h] = 0; /* for the next layer */
    }
}

/* ---- the kernel ------------------------------------------------------------ */

static __global__ void __maxnreg__(MG_MAXREG)
    k_mega(const mg_phase *__restrict__ ph, int nph, const int *__restrict__ split, unsigned *bar,
           unsigned long long *dst, int dbg) {
    unsigned long long t_start = clock64();
    unsigned long long *st = dst ? dst + 8 * blockIdx.x : NULL;
    extern __shared__ __align__(128) uint8_t smem[];
    __shared__ __align__(8) uint64_t full[MG_NS], empty[MG_NS];
    __shared__ __align__(16) float sh[MG_SO + MG_NCW * MG_HD];
    __shared__ mg_rows sr;
    __shared__ mg_tiles tls;
    __shared__ __align__(16) mg_phase sph[2], pph; /* consumers' (double-buffered) and producer's phase */
    uint8_t *ring = smem;
    int8_t *xq = (int8_t *)(smem + (size_t)MG_NS * MG_SB);
    float2 *ds = (float2 *)(xq + MG_MAXCOLS);
    if (threadIdx.x == 0) {
        for (int i = 0; i < MG_NS; i++) mb_init(&full[i], 1), mb_init(&empty[i], MG_NCW);
        for (int i = 0; i < MG_NS; i++) tls.cnt[i] = 0;
        mb_fence_init();
    }
    __syncthreads();
    pdl_trigger();
    const int w = threadIdx.x >> 5;
    if (w == MG_NCW) {
        /* weights never depend on the previous kernel: stream before the wait */
        if ((threadIdx.x & 31) == 0) mg_producer(ph, nph, split, ring, full, empty, &pph, st);
        return;
    }
    pdl_wait();
    unsigned k = 0, nbar = 0;
    const int g = blockIdx.x, G = gridDim.x;
    unsigned long long fw = 0, tb = 0, tp = 0, ta = 0, tm = 0;
    /* phase descriptors in shared memory (read from global, the compiler
     * kept their fields in ~200 registers and spilled), double-buffered:
     * the next one is copied (cp.async, no registers) while this one runs */
    const int nw16 = (int)(sizeof(mg_phase) / 16);
    for (int i = threadIdx.x; i < nw16; i += MG_NCW * 32) cp16((int4 *)&sph[0] + i, (const int4 *)ph + i);
    cp_commit();
    for (int p = 0; p < nph; p++) {
        unsigned long long t0 = clock64();
        cp_wait<0>();
        if (p > 0 && !(dbg & 2)) grid_sync(bar, ++nbar * (unsigned)G);
        else cons_sync();
        const mg_phase &P = sph[p & 1];
        if (p + 1 < nph)
            for (int i = threadIdx.x; i < nw16; i += MG_NCW * 32)
                cp16((int4 *)&sph[(p + 1) & 1] + i, (const int4 *)(ph + p + 1) + i);
        cp_commit();
        unsigned long long t1 = clock64();
        tb += t1 - t0;
        if (P.kind == MG_MV) {
            mg_input(P, split, xq, ds, sh, &sr);
            unsigned long long t2 = clock64();
            tp += t2 - t1;
            mg_products(P, split, ring, full, empty, &k, xq, ds, &sr, &tls, &fw, dbg);
            tm += clock64() - t2;
        } else {
            const mg_att &A = P.a;
            const int nsplit = *A.pos + 1 > A.single ? A.nsplit : 1;
            for (int it = g; it < A.n_head * A.nsplit; it += G) {
                const int h = it / A.nsplit, s = it % A.nsplit;
                if (s < nsplit) mg_attention(A, h, s, nsplit, sh);
            }
            ta += clock64() - t1;
        }
    }
    if (st && threadIdx.x == 0) st[0] = fw, st[2] = tb, st[3] = tp, st[4] = ta, st[5] = tm, st[6] = clock64() - t_start;
    /* the last CTA out re-arms the barrier for the next launch: every CTA
     * has passed every barrier by then */
    cons_sync();
    if (threadIdx.x == 0) {
        unsigned old;
        asm volatile("atom.add.acq_rel.gpu.global.u32 %0, [%1], 1;" : "=r"(old) : "l"(bar + 1) : "memory");
        if (old == (unsigned)G - 1) bar[0] = 0, bar[1] = 0;
    }
}

/* Cost of the grid barrier alone (bench): n barriers back to back. */
static __global__ void __maxnreg__(MG_MAXREG) k_mega_barriers(unsigned *bar, int n) {
    if ((threadIdx.x >> 5) == MG_NCW) return;
    for (int i = 1; i <= n; i++) grid_sync(bar, (unsigned)i * gridDim.x);
    cons_sync();
    if (threadIdx.x == 0) {
        unsigned old;
        asm volatile("atom.add.acq_rel.gpu.global.u32 %0, [%1], 1;" : "=r"(old) : "l"(bar + 1) : "memory");
        if (old == gridDim.x - 1) bar[0] = 0, bar[1] = 0;
    }
}
/* ---- host ------------------------------------------------------------------ */

struct cu_mega {
    mg_phase *ph;          /* host copy */
    int nph, cap;
    int *split;            /* host: per MV phase G+1 starts */
    int nsplit_used, split_cap;
    mg_phase *d_ph;
    int *d_split;
    unsigned *d_bar;
    float *d_part;
    size_t part_cap;
    int G;
    bool bad;              /* something the kernel cannot run was added */
    unsigned *d_cnt;       /* attention merge counters (zeroed, self-resetting) */
    unsigned long long *dst; /* per-CTA stall counters (INGOT_MEGA_STATS) */
    int dbg;
};

static bool mg_type_ok(uint32_t t) {
    switch (t) {
    case IG_TYPE_Q4_0: case IG_TYPE_Q4_1: case IG_TYPE_Q5_0: case IG_TYPE_Q5_1: case IG_TYPE_Q8_0:
    case IG_TYPE_Q2_K: case IG_TYPE_Q3_K: case IG_TYPE_Q4_K: case IG_TYPE_Q5_K: case IG_TYPE_Q6_K: return true;
    default: return false;
    }
}

/* NULL when the kernel can run here, else why not. */
const char *cu_mega_unsupported(cuda_ctx *c) {
    int dev = 0, cc = 0, smem = 0, nb = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return "no device";
    cudaDeviceGetAttribute(&cc, cudaDevAttrComputeCapabilityMajor, dev);
    cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
    if (cc < 9) return "needs sm_90 (bulk copies)";
    if ((size_t)smem < mg_smem_bytes()) return "not enough shared memory per block";
    cudaError_t e = cudaFuncSetAttribute(k_mega, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)mg_smem_bytes());
    if (e != cudaSuccess) {
        cudaGetLastError();
        return cudaGetErrorString(e);
    }
    e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nb, k_mega, MG_THREADS, mg_smem_bytes());
    if (e != cudaSuccess || nb < 1) {
        cudaGetLastError();
        return e != cudaSuccess ? cudaGetErrorString(e) : "a CTA does not fit an SM";
    }
    (void)c;
    return NULL;
}
bool cu_mega_supported(cuda_ctx *c) { return cu_mega_unsupported(c) == NULL; }

cu_mega *cu_mega_new(cuda_ctx *c) {
    cu_mega *m = (cu_mega *)calloc(1, sizeof *m);
    if (m) m->G = c->n_sm;
    if (m && getenv("INGOT_MEGA_DBG")) m->dbg = atoi(getenv("INGOT_MEGA_DBG"));
    if (m && getenv("INGOT_MEGA_STATS")) {
        cudaMalloc(&m->dst, (size_t)m->G * 8 * 8);
        cudaMemset(m->dst, 0, (size_t)m->G * 8 * 8);
    }
    return m;
}

void cu_mega_stats(cu_mega *m) {
    if (!m || !m->dst) return;
    unsigned long long h[8 * 1024];
    cudaDeviceSynchronize();
    cudaMemcpy(h, m->dst, (size_t)m->G * 64, cudaMemcpyDeviceToHost);
    double a[8] = {0}, mx[8] = {0};
    for (int g = 0; g < m->G; g++)
        for (int i = 0; i < 8; i++) a[i] += (double)h[8 * g + i] / m->G, mx[i] = fmax(mx[i], (double)h[8 * g + i]);
    printf("    mega stats (last step, cycles, mean/max over CTAs): total %.0f/%.0f | consumer full-wait %.0f/%.0f | "
           "producer empty-wait %.0f/%.0f | grid barriers %.0f/%.0f | prologues %.0f/%.0f | attention %.0f/%.0f | "
           "products %.0f/%.0f\n",
           a[6], mx[6], a[0], mx[0], a[1], mx[1], a[2], mx[2], a[3], mx[3], a[4], mx[4], a[5], mx[5]);
}

void cu_mega_free(cu_mega *m) {
    if (!m) return;
    cudaFree(m->dst), cudaFree(m->d_cnt);
    cudaFree(m->d_ph), cudaFree(m->d_split), cudaFree(m->d_bar), cudaFree(m->d_part);
    free(m->ph), free(m->split);
    free(m);
}

static mg_phase *mg_push(cu_mega *m) {
    if (m->nph == m->cap) {
        int cap = m->cap ? 2 * m->cap : 64;
        mg_phase *p = (mg_phase *)realloc(m->ph, (size_t)cap * sizeof *p);
        if (!p) return m->bad = true, (mg_phase *)NULL;
        m->ph = p, m->cap = cap;
    }
    mg_phase *p = &m->ph[m->nph++];
    memset(p, 0, sizeof *p);
    return p;
}

mg_mat mg_weight(const ig_weight *w, float *out, const float *res, float *out2) {
    mg_mat M;
    memset(&M, 0, sizeof M);
    const uint8_t *q = NULL, *s = NULL;
    qlayout L = ql_get(w->type);
    if (L.qk) cu_weight_parts(w, &q, &s);
    M.q = q, M.s = s, M.type = w->type, M.rows = (int)w->rows, M.out = out, M.res = res, M.out2 = out2;
    M.cols = (int)w->cols;
    if (L.qk) {
        M.qrow = (int)((size_t)(w->cols / L.qk) * L.qn);
        M.srow = (int)ql_srow(L, w->cols);
        M.qs = M.qrow, M.ss = M.srow;
#ifdef MG_MMA
        if (w->type == IG_TYPE_Q4_0) M.qs = M.qrow + 16, M.ss = M.srow + 16;
#endif
    }
    return M;
}

bool cu_mega_mv(cu_mega *m, int in, const float *x, const float *x2, const float *nw, float eps, int nm,
                const mg_mat *mats) {
    mg_phase *P = mg_push(m);
    if (!P) return false;
    P->kind = MG_MV, P->in = in, P->x = x, P->x2 = x2, P->nw = nw, P->eps = eps, P->nm = nm;
    bool ok = nm >= 1 && nm <= MG_MAXM && mats[0].cols % 32 == 0 && mats[0].cols <= MG_MAXCOLS;
    P->cols = mats[0].cols;
    for (int i = 0; ok && i < nm; i++) {
        mg_mat M = mats[i];
        const size_t rb = (size_t)M.qs + M.ss;
        /* q4_0 rows of odd block counts keep the file's order: not taken (q40_reordered) */
        ok = mg_type_ok(M.type) && (M.type != IG_TYPE_Q4_0 || q40_reordered(M.type, M.cols / 32)) &&
             M.cols == P->cols && rb > 0 && 2 * rb <= MG_SB && M.qrow % 16 == 0 &&
             M.srow % 16 == 0 && ((uintptr_t)M.q & 15) == 0 && ((uintptr_t)M.s & 15) == 0 && M.rows > 0;
        M.rs = (int)(MG_SB / rb) & ~(MG_U - 1); /* whole row pairs (mg_rows_t) */
        if (M.qs != M.qrow && M.rs > 16) M.rs = 16; /* one mma tile */
        if (M.res && nm != 1) ok = false;
        P->m[i] = M;
    }
    if (!ok) m->bad = true;
    return ok;
}

bool cu_mega_att(cu_mega *m, const mg_att *a) {
    mg_phase *P = mg_push(m);
    if (!P) return false;
    P->kind = MG_ATT, P->a = *a;
    bool ok = a->hd == MG_HD && a->group >= 1 && a->n_head % a->group == 0 && a->n_rot <= a->hd && a->cnt &&
              a->n_head <= 1024 && a->nsplit >= 1;
    if (!ok) m->bad = true;
    return ok;
}

/* Attention chunks per head for long sequences: as many (head, chunk) items
 * as CTAs. */
int cu_mega_nsplit(const cu_mega *m, int n_head) {
    int s = m->G / n_head;
    return s < 1 ? 1 : s > 32 ? 32 : s;
}
unsigned *cu_mega_counters(cuda_ctx *c, cu_mega *m) {
    if (!m->d_cnt) {
        CU_CHECK(c, cudaMalloc(&m->d_cnt, 1024 * sizeof(unsigned)));
        if (m->d_cnt) CU_CHECK(c, cudaMemset(m->d_cnt, 0, 1024 * sizeof(unsigned)));
    }
    return m->d_cnt;
}
float *cu_mega_part(cuda_ctx *c, cu_mega *m, size_t floats) {
    if (floats > m->part_cap) {
        cudaFree(m->d_part);
        m->d_part = NULL, m->part_cap = 0;
        CU_CHECK(c, cudaMalloc(&m->d_part, floats * sizeof(float)));
        if (m->d_part) m->part_cap = floats;
    }
    return m->d_part;
}

/* Split every product's rows over the CTAs by bytes, upload the program. */
bool cu_mega_finish(cuda_ctx *c, cu_mega *m) {
    if (m->bad || m->nph == 0) return false;
    const int G = m->G;
    int nmv = 0;
    for (int p = 0; p < m->nph; p++) nmv += m->ph[p].kind == MG_MV;
    free(m->split);
    m->split = (int *)malloc((size_t)nmv * (G + 1) * sizeof(int));
    if (!m->split) return false;
    int off = 0;
    for (int p = 0; p < m->nph; p++) {
        mg_phase *P = &m->ph[p];
        if (P->kind != MG_MV) continue;
        P->split = off;
        size_t total = 0;
        for (int i = 0; i < P->nm; i++) total += (size_t)P->m[i].rows * (P->m[i].qrow + P->m[i].srow);
        int *s = m->split + off, row = 0, cta = 0;
        size_t acc = 0;
        s[0] = 0;
        for (int i = 0; i < P->nm; i++) {
            const size_t rb = (size_t)P->m[i].qrow + P->m[i].srow;
            for (int r = 0; r < P->m[i].rows; r++, row++) {
                while (cta + 1 < G && acc >= total * (size_t)(cta + 1) / G) s[++cta] = row;
                acc += rb;
            }
        }
        while (cta + 1 <= G) s[++cta] = row;
        for (int g = 0; g < G && P->m[0].res; g++)
            if (s[g + 1] - s[g] > MG_MAXR) return false; /* residual rows staged per CTA */
        off += G + 1;
    }
    cudaFree(m->d_ph), cudaFree(m->d_split);
    m->d_ph = NULL, m->d_split = NULL;
    CU_CHECK(c, cudaMalloc(&m->d_ph, (size_t)m->nph * sizeof(mg_phase)));
    CU_CHECK(c, cudaMalloc(&m->d_split, (size_t)off * sizeof(int)));
    if (!m->d_bar) {
        CU_CHECK(c, cudaMalloc(&m->d_bar, 2 * sizeof(unsigned)));
        if (m->d_bar) CU_CHECK(c, cudaMemset(m->d_bar, 0, 2 * sizeof(unsigned)));
    }
    if (!m->d_ph || !m->d_split || !m->d_bar) return false;
    CU_CHECK(c, cudaMemcpy(m->d_ph, m->ph, (size_t)m->nph * sizeof(mg_phase), cudaMemcpyHostToDevice));
    CU_CHECK(c, cudaMemcpy(m->d_split, m->split, (size_t)off * sizeof(int), cudaMemcpyHostToDevice));
    return c->err == INGOT_OK;
}

void cu_mega_launch(cuda_ctx *c, const cu_mega *m) {
    cu_launch(c, k_mega, dim3(m->G), dim3(MG_THREADS), mg_smem_bytes(), (const mg_phase *)m->d_ph, m->nph,
              (const int *)m->d_split, m->d_bar, m->dst, m->dbg);
}

double cu_mega_barrier_us(cuda_ctx *c, cu_mega *m, int n) {
    cudaEvent_t a, b;
    cudaEventCreate(&a), cudaEventCreate(&b);
    cudaEventRecord(a, c->stream);
    k_mega_barriers<<<m->G, MG_THREADS, 0, c->stream>>>(m->d_bar, n);
    cudaEventRecord(b, c->stream);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    cudaEventDestroy(a), cudaEventDestroy(b);
    return ms * 1e3 / n;
}
