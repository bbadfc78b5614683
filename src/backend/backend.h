/* The seam between the transformer and the hardware.
 *
 * The transformer (src/model/forward.c) is written once as calls through
 * this op table; a backend never knows what a transformer is. Every pointer
 * passed to an op is a *backend* pointer (host memory for the CPU, device
 * memory for CUDA) obtained from alloc() or weight_upload(); the forward
 * pass never dereferences one. Ops are asynchronous: they may only queue
 * work, and a failure inside one is remembered and reported by sync().
 *
 * Layouts: activations are row-major f32 matrices, one row per token, with
 * an explicit leading dimension `ld` (in floats) where a view into a wider
 * row is useful (GPT-2's fused QKV). Weights are [rows][cols] in their file
 * type, each row `cols` elements long (GGUF ne[0] = cols, ne[1] = rows).
 * KV cache: per layer, K and V are [n_ctx][kv_dim] in the KV type.
 */
#ifndef INGOT_BACKEND_H
#define INGOT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingot.h"

typedef struct ig_backend ig_backend;

/* A tensor resident on a backend (weights, norms, biases, embeddings). */
typedef struct ig_weight {
    uint32_t type;     /* ggml type id */
    int64_t rows;      /* ne[1] (1 for vectors) */
    int64_t cols;      /* ne[0] */
    size_t nbytes;
    void *data;        /* backend pointer */
    void *extra;       /* backend-private (e.g. a repacked copy) */
} ig_weight;

typedef enum ig_rope_mode { IG_ROPE_NORMAL = 0, IG_ROPE_NEOX = 2 } ig_rope_mode;

typedef struct ig_rope {
    int n_rot;          /* rotated dims per head (<= head_dim) */
    float freq_base;
    float freq_scale;   /* 1 / linear scaling factor */
    ig_rope_mode mode;
} ig_rope;

typedef struct ig_attn {
    int n_head, n_head_kv, head_dim;
    float scale;         /* usually 1/sqrt(head_dim) */
    int kv_type;         /* INGOT_KV_F16 / INGOT_KV_F32 */
    int n_ctx;           /* rows in the cache */
    int max_len;         /* pos[i] + 1 <= max_len for every token of the call
                            (len_phase's bound); 0: unknown */
} ig_attn;

typedef struct ig_backend_iface {
    const char *name; /* "cpu", "cuda" */
    void (*destroy)(ig_backend *be);
    /* One-line description of the device ("NVIDIA H100 80GB HBM3"). */
    const char *(*device_name)(ig_backend *be);
    /* Free/total memory in bytes where it is limited (0,0 for the host). */
    void (*memory)(ig_backend *be, size_t *free_bytes, size_t *total_bytes);
    /* Device memory this backend has taken since it started (weights, KV,
     * scratch, library workspaces), not counting the driver's own context.
     * NULL: not tracked (host memory). */
    size_t (*allocated)(ig_backend *be);

    /* ---- memory ---------------------------------------------------- */
    void *(*alloc)(ig_backend *be, size_t bytes); /* NULL + thread error on failure */
    void (*dealloc)(ig_backend *be, void *p);
    /* Make a weight resident: sets w->data (and maybe w->extra). `host`
     * stays valid for the model's lifetime (mmap), so the CPU aliases it. */
    ingot_status (*weight_upload)(ig_backend *be, ig_weight *w, const void *host);
    /* Optional: the weights about to be uploaded (type, rows, cols set), so
     * a device backend can take them in one allocation instead of hundreds
     * (each rounded up by the driver). Failure is not fatal: uploads then
     * allocate one by one. NULL: nothing to gain. */
    ingot_status (*weights_reserve)(ig_backend *be, const ig_weight *ws, int n);
    void (*weight_free)(ig_backend *be, ig_weight *w);
    ingot_status (*upload)(ig_backend *be, void *dst, const void *src, size_t n);
    ingot_status (*download)(ig_backend *be, void *dst, const void *src, size_t n);
    /* Wait for queued work; returns the first error since the last sync. */
    ingot_status (*sync)(ig_backend *be);

    /* ---- ops ------------------------------------------------------- */
    /* out[i][:] = row ids[i] of `table` dequantized to f32. */
    void (*embed)(ig_backend *be, float *out, const ig_weight *table, const int32_t *ids, int n);
    /* out = x / rms(x) * w, per row of d values. out may equal x. */
    void (*rms_norm)(ig_backend *be, float *out, const float *x, const ig_weight *w, int n, int d,
                     float eps);
    /* out = (x - mean) / sd * w + b. */
    void (*layer_norm)(ig_backend *be, float *out, const float *x, const ig_weight *w,
                       const ig_weight *b, int n, int d, float eps);
    /* out[i][r] = dot(W[r], x[i]) (+ bias[r] if bias): out is [n][W.rows],
     * x is [n][W.cols]. */
    void (*matmul)(ig_backend *be, float *out, const ig_weight *w, const ig_weight *bias,
                   const float *x, int n);
    /* out = a + b over `count` floats (out may alias a or b). */
    void (*add)(ig_backend *be, float *out, const float *a, const float *b, size_t count);
    /* Rotate heads in place: x is [n][ld], n_head heads of head_dim from
     * the start of each row; token i is at position pos[i]. A backend may
     * defer the rotation of q and k into the kv_store/attention that
     * follow (CUDA does for one token): what attention computes is the
     * same, but q and k themselves are unspecified after the attention. */
    void (*rope)(ig_backend *be, float *x, int ld, int n, int n_head, int head_dim,
                 const int32_t *pos, const ig_rope *r);
    /* Write k and v rows ([n][ld], kv_dim values each) into the cache at
     * rows pos[i], converting to the cache type. */
    void (*kv_store)(ig_backend *be, void *k_cache, void *v_cache, const float *k, const float *v,
                     int ld, int n, int kv_dim, const int32_t *pos, const ig_attn *a);
    /* Causal attention: token i (query row q + i*ld_q) attends to cache rows
     * 0..pos[i]. out is [n][n_head*head_dim]. GQA: query head h uses KV head
     * h / (n_head / n_head_kv). */
    void (*attention)(ig_backend *be, float *out, const float *q, int ld_q, const void *k_cache,
                      const void *v_cache, int n, const int32_t *pos, const ig_attn *a);
    /* out = silu(gate) * up over count values. When out is gate or up (in
     * place) and the next op is a matmul reading out, a backend may compute
     * the activation inside that matmul instead (CUDA does for one token):
     * the matmul's result is the same, but out is then unspecified. */
    void (*swiglu)(ig_backend *be, float *out, const float *gate, const float *up, size_t count);
    /* x = gelu(x) (tanh approximation, as GPT-2 and ggml). */
    void (*gelu)(ig_backend *be, float *x, size_t count);
    /* *out = argmax of x[0..n) (lowest index on ties). out is a backend pointer. */
    void (*argmax)(ig_backend *be, int32_t *out, const float *x, int n);

    /* ---- optional: measured memory bandwidth in bytes/s, used by `ingot
     * bench` for the decode floor: what a decode step's weight reads can get
     * (CUDA: a large device-to-device copy, bytes read plus written; CPU:
     * all threads streaming a large buffer). NULL: not measurable. */
    double (*bandwidth)(ig_backend *be);

    /* ---- optional: replaying a recorded step (CUDA graphs) ----------
     * If graph_replay(key) returns true the backend ran the recorded ops
     * for `key` and the caller issues nothing. Otherwise the caller may
     * bracket the ops with capture_begin/capture_end(key) so the next
     * replay works; capture_end also runs the recorded ops once (the
     * step being recorded must still happen). Only valid when every pointer and size is the same
     * from step to step (inputs vary only in device memory). NULL: none. */
    bool (*graph_replay)(ig_backend *be, int key);
    void (*capture_begin)(ig_backend *be, int key);
    void (*capture_end)(ig_backend *be, int key);
    /* ---- optional: lengths the backend runs differently. The phase
     * (0..3) of a step after which the longest sequence is `len` tokens;
     * *bound = the largest length of that phase (0: none), passed back as
     * ig_attn.max_len. A recorded step is replayed only within its phase.
     * NULL: one phase. */
    int (*len_phase)(ig_backend *be, int len, int *bound);
    /* ---- optional: greedy steps without a host round trip between them
     * (backends that queue work). greedy_next queues *ids = *argmax and
     * *pos = next_pos on the device, and that id's way back to the host;
     * false: nothing queued (use download). greedy_wait waits for that id
     * only, not for work queued after greedy_next, and returns the first
     * error since the last sync as sync does. NULL: not provided. */
    bool (*greedy_next)(ig_backend *be, int32_t *ids, int32_t *pos, const int32_t *argmax, int32_t next_pos);
    ingot_status (*greedy_wait)(ig_backend *be, int32_t *id);
    /* ---- optional: sampling's device part (ingot_decode_sample), exactly
     * the host sampler's numbers. penalize: the repetition penalty on
     * x[ids[i]] (ids distinct; out-of-range ones skipped), l <= 0 ? l * p :
     * l / p. topk (k <= n): out[2i], out[2i+1] = id and logit bits of the k
     * largest x (ties: lower id first; -0 == +0), in any order. NULL: the
     * logits come back whole. */
    void (*penalize)(ig_backend *be, float *x, int n_vocab, const int32_t *ids, int n, float penalty);
    void (*topk)(ig_backend *be, int32_t *out, const float *x, int n, int k);
} ig_backend_iface;

struct ig_backend {
    const ig_backend_iface *iface;
    void *ctx;
};

/* Constructors. n_threads 0: physical cores. */
ingot_status ig_backend_cpu_new(int n_threads, ig_backend **out);
/* Fails with INGOT_ERR_BACKEND and a reason when no usable device. */
ingot_status ig_backend_cuda_new(int device, ig_backend **out);
bool ig_backend_cuda_compiled(void);

#endif
