/*
 * ingot — a large-language-model inference engine in C.
 *
 * This is the only public header. Everything the `ingot` command line tool
 * does goes through the functions declared here.
 *
 * Conventions
 *  - Handles are opaque. Functions that can fail return an ingot_status;
 *    after a failure, ingot_last_error() gives a one-line message for the
 *    calling thread ("FILE: problem"), valid until the next failing call.
 *  - The library never exits the process and never prints unless a log
 *    callback is installed with ingot_set_log().
 *  - Parameter structs start with a `size` field (set by the *_default_params
 *    functions) and only ever grow at the end, so old callers keep working.
 */
#ifndef INGOT_H
#define INGOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define INGOT_VERSION "0.1.0"

/* ------------------------------------------------------------------------ */
/* Status codes and errors                                                  */
/* ------------------------------------------------------------------------ */

typedef enum ingot_status {
    INGOT_OK = 0,
    INGOT_ERR_IO,            /* file missing, unreadable, mmap failed        */
    INGOT_ERR_FORMAT,        /* malformed or hostile file                    */
    INGOT_ERR_UNSUPPORTED,   /* valid but not handled (type, arch, ...)      */
    INGOT_ERR_NOMEM,         /* host or device allocation failed             */
    INGOT_ERR_INVALID_ARG,   /* bad parameter from the caller                */
    INGOT_ERR_CONTEXT_FULL,  /* tokens do not fit in the context window      */
    INGOT_ERR_BACKEND,       /* the compute backend failed (driver, kernel)  */
    INGOT_ERR_CANCELLED,     /* a callback asked to stop                     */
    INGOT_ERR_INTERNAL,
} ingot_status;

const char *ingot_status_str(ingot_status s);
/* Message of the last failure on this thread ("" if none). */
const char *ingot_last_error(void);

typedef enum ingot_log_level {
    INGOT_LOG_ERROR = 0,
    INGOT_LOG_WARN = 1,
    INGOT_LOG_INFO = 2,
    INGOT_LOG_DEBUG = 3,
} ingot_log_level;

typedef void (*ingot_log_fn)(ingot_log_level level, const char *msg, void *user);
/* Install a process-wide log sink (NULL: silent, the default). */
void ingot_set_log(ingot_log_fn fn, void *user);

/* ------------------------------------------------------------------------ */
/* Tensor types (ids are ggml's, as stored in GGUF files)                   */
/* ------------------------------------------------------------------------ */

/* Name of a ggml type id ("Q4_K"), or NULL for an id ingot has never heard of. */
const char *ingot_type_name(uint32_t type);
/* Whether ingot can dequantize / quantize the type. */
bool ingot_type_can_dequant(uint32_t type);
bool ingot_type_can_quant(uint32_t type);
/* Bytes used by `n` consecutive elements (n must be a multiple of the block). */
size_t ingot_type_row_size(uint32_t type, int64_t n);
int64_t ingot_type_block_size(uint32_t type);
/* Parse a type name (case-insensitive), -1 if unknown. */
int ingot_type_from_name(const char *name);
/* llama.cpp's name for a general.file_type id ("Q4_K - Medium"), NULL if unknown. */
const char *ingot_file_type_name(uint32_t ftype);

/* ------------------------------------------------------------------------ */
/* GGUF inspection (what `ingot info` shows)                                */
/* ------------------------------------------------------------------------ */

typedef struct ingot_gguf ingot_gguf;

typedef enum ingot_gguf_vtype {
    INGOT_GGUF_U8 = 0, INGOT_GGUF_I8 = 1, INGOT_GGUF_U16 = 2, INGOT_GGUF_I16 = 3,
    INGOT_GGUF_U32 = 4, INGOT_GGUF_I32 = 5, INGOT_GGUF_F32 = 6, INGOT_GGUF_BOOL = 7,
    INGOT_GGUF_STRING = 8, INGOT_GGUF_ARRAY = 9, INGOT_GGUF_U64 = 10, INGOT_GGUF_I64 = 11,
    INGOT_GGUF_F64 = 12,
} ingot_gguf_vtype;

typedef struct ingot_tensor_info {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];        /* ne[0] is the contiguous (row) dimension */
    uint64_t offset;      /* from the start of the data section      */
    uint64_t nbytes;
} ingot_tensor_info;

ingot_status ingot_gguf_open(const char *path, ingot_gguf **out);
void ingot_gguf_close(ingot_gguf *g);
uint32_t ingot_gguf_version(const ingot_gguf *g);
uint64_t ingot_gguf_file_size(const ingot_gguf *g);
int64_t ingot_gguf_n_kv(const ingot_gguf *g);
const char *ingot_gguf_key(const ingot_gguf *g, int64_t i);
ingot_gguf_vtype ingot_gguf_kv_type(const ingot_gguf *g, int64_t i);
/* For arrays: element type and length. */
ingot_gguf_vtype ingot_gguf_arr_type(const ingot_gguf *g, int64_t i);
uint64_t ingot_gguf_arr_len(const ingot_gguf *g, int64_t i);
/* Render a value as JSON text into buf (arrays longer than max_items are
 * shortened with a trailing "..."); returns the length it needed. */
size_t ingot_gguf_value_json(const ingot_gguf *g, int64_t i, size_t max_items, char *buf,
                             size_t cap);
int64_t ingot_gguf_find_key(const ingot_gguf *g, const char *key);
int64_t ingot_gguf_n_tensors(const ingot_gguf *g);
void ingot_gguf_tensor(const ingot_gguf *g, int64_t i, ingot_tensor_info *out);

/* ------------------------------------------------------------------------ */
/* Models                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct ingot_model ingot_model;
typedef struct ingot_context ingot_context;
typedef struct ingot_sampler ingot_sampler;

typedef enum ingot_backend_kind {
    INGOT_BACKEND_AUTO = 0, /* CUDA when a device works, else CPU */
    INGOT_BACKEND_CPU = 1,
    INGOT_BACKEND_CUDA = 2,
    INGOT_BACKEND_METAL = 3,
} ingot_backend_kind;

/* Return false to cancel loading. */
typedef bool (*ingot_progress_fn)(float fraction, void *user);

typedef struct ingot_model_params {
    uint32_t size;
    bool vocab_only;              /* tokenizer only, no weights */
    ingot_backend_kind backend;
    int n_threads;                /* CPU threads; 0: physical cores */
    int device;                   /* GPU ordinal */
    ingot_progress_fn progress;
    void *progress_user;
} ingot_model_params;

ingot_model_params ingot_model_default_params(void);
ingot_status ingot_model_load(const char *path, const ingot_model_params *params,
                              ingot_model **out);
void ingot_model_free(ingot_model *m);

typedef struct ingot_model_info {
    const char *arch;             /* "llama", "gpt2" */
    const char *name;             /* general.name or "" */
    const char *file_type;        /* "Q4_K - Medium", "F16", ... */
    uint64_t n_params;
    uint64_t weight_bytes;        /* bytes of all tensors */
    uint32_t n_ctx_train, n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_rot;
    float rope_freq_base, rope_freq_scale, norm_eps;
    const char *tokenizer_model;  /* "llama", "gpt2", ... */
    const char *tokenizer_pre;    /* "default", "llama-bpe", ... */
    const char *chat_template;    /* NULL if the file has none */
    const char *backend;          /* "cpu", "cuda" — where the weights live */
    const char *device_name;      /* "NVIDIA H100 80GB HBM3", CPU model, ... */
} ingot_model_info;

void ingot_model_get_info(const ingot_model *m, ingot_model_info *out);

/* ------------------------------------------------------------------------ */
/* Tokenizer                                                                */
/* ------------------------------------------------------------------------ */

int32_t ingot_n_vocab(const ingot_model *m);
int32_t ingot_token_bos(const ingot_model *m);   /* -1 if none */
int32_t ingot_token_eos(const ingot_model *m);
int32_t ingot_token_eot(const ingot_model *m);   /* end of turn, -1 if none */
bool ingot_add_bos(const ingot_model *m);
bool ingot_token_is_eog(const ingot_model *m, int32_t id); /* EOS, EOT, ... */

/* Tokenize `len` bytes of text. add_special: BOS (and EOS) as the vocab
 * says; parse_special: match control tokens written in the text.
 * Writes at most `cap` ids, returns how many the text needs (so a return
 * value > cap means: call again with a larger buffer), or -1 on error. */
int64_t ingot_tokenize(const ingot_model *m, const char *text, size_t len, bool add_special,
                       bool parse_special, int32_t *out, int64_t cap);

/* Bytes of one token. special: also render control tokens (else they give
 * ""). Returns the length needed (may exceed cap), -1 for a bad id. */
int32_t ingot_token_to_piece(const ingot_model *m, int32_t id, bool special, char *buf,
                             int32_t cap);
/* The token's text as stored in the vocab (for --pieces). */
const char *ingot_token_text(const ingot_model *m, int32_t id);

/* Streaming decoder: feed ids, get back only whole UTF-8 characters. */
typedef struct ingot_detok ingot_detok;
ingot_detok *ingot_detok_new(const ingot_model *m, bool special);
/* Returns the number of bytes written to out. Bytes that do not fit in
 * `cap` are kept and come out with the next push or flush; at the end of a
 * stream call ingot_detok_flush until it returns 0. */
size_t ingot_detok_push(ingot_detok *d, int32_t id, char *out, size_t cap);
/* Emit held-back bytes (an incomplete character at the end of a stream). */
size_t ingot_detok_flush(ingot_detok *d, char *out, size_t cap);
void ingot_detok_free(ingot_detok *d);

/* ------------------------------------------------------------------------ */
/* Contexts: KV cache + forward pass                                        */
/* ------------------------------------------------------------------------ */

typedef enum ingot_kv_type {
    INGOT_KV_F16 = 0,
    INGOT_KV_F32 = 1,
} ingot_kv_type;

typedef struct ingot_context_params {
    uint32_t size;
    uint32_t n_ctx;       /* 0: the model's context length, capped at 4096 */
    uint32_t n_batch;     /* max tokens per ingot_decode call chunk; 0: 512 */
    ingot_kv_type kv_type;
} ingot_context_params;

ingot_context_params ingot_context_default_params(void);
ingot_status ingot_context_new(ingot_model *m, const ingot_context_params *p,
                               ingot_context **out);
void ingot_context_free(ingot_context *c);
uint32_t ingot_n_ctx(const ingot_context *c);
/* Number of tokens in the KV cache (the position of the next token). */
uint32_t ingot_context_pos(const ingot_context *c);
/* Forget every token from position `pos` on (0 clears the context). */
ingot_status ingot_context_truncate(ingot_context *c, uint32_t pos);

/* Run the model on `n` tokens appended at the current position.
 * all_logits: keep logits for every token (teacher forcing, perplexity);
 * otherwise only for the last one. Fails with INGOT_ERR_CONTEXT_FULL,
 * leaving the context unchanged, if the tokens do not fit. */
ingot_status ingot_decode(ingot_context *c, const int32_t *tokens, int32_t n, bool all_logits);
/* Logits of the i-th token of the last decode (i = -1: the last one);
 * NULL if that token's logits were not kept. n_vocab floats. */
const float *ingot_get_logits(ingot_context *c, int32_t i);
/* Decode and take the argmax of the last token's logits on the backend:
 * the logits never leave the device. Lowest id wins ties. */
ingot_status ingot_decode_greedy(ingot_context *c, const int32_t *tokens, int32_t n,
                                 int32_t *out_id);
/* Decode and sample the last token's successor: the id
 * ingot_sampler_sample(s, logits) would return, from the same draw. A GPU
 * backend applies the repetition penalty and takes the sampler's top-k on
 * the device, so k candidates come back instead of n_vocab logits (then
 * ingot_get_logits gives NULL). Does not call ingot_sampler_accept. */
ingot_status ingot_decode_sample(ingot_context *c, const int32_t *tokens, int32_t n, ingot_sampler *s,
                                 int32_t *out_id);

/* ------------------------------------------------------------------------ */
/* Sampling                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct ingot_sampler_params {
    uint32_t size;
    float temp;            /* <= 0: greedy */
    int32_t top_k;         /* <= 0: off */
    float top_p;           /* >= 1: off */
    float min_p;           /* <= 0: off */
    float repeat_penalty;  /* 1: off */
    int32_t repeat_last_n; /* tokens the penalty looks back over */
    uint64_t seed;
} ingot_sampler_params;

ingot_sampler_params ingot_sampler_default_params(void);
ingot_sampler *ingot_sampler_new(const ingot_sampler_params *p);
void ingot_sampler_free(ingot_sampler *s);
/* Pick a token from raw logits (not modified). */
int32_t ingot_sampler_sample(ingot_sampler *s, const float *logits, int32_t n_vocab);
/* Record a token in the penalty history (prompt tokens and sampled ones). */
void ingot_sampler_accept(ingot_sampler *s, int32_t id);
void ingot_sampler_reset(ingot_sampler *s);
/* Whether sampling is plain argmax (then ingot_decode_greedy may be used). */
bool ingot_sampler_is_greedy(const ingot_sampler *s);

/* ------------------------------------------------------------------------ */
/* Chat templates                                                           */
/* ------------------------------------------------------------------------ */

typedef struct ingot_chat_msg {
    const char *role;    /* "system", "user", "assistant" */
    const char *content;
} ingot_chat_msg;

/* Name of the template family ingot recognizes in the model's
 * tokenizer.chat_template ("chatml", "llama2", "llama3", "mistral",
 * "mistral-v1", "mistral-v3", "mistral-v3-tekken", "mistral-v7", "zephyr",
 * "phi3", "gemma"), or "plain" when there is none / unknown. */
const char *ingot_chat_template_name(const ingot_model *m);
/* Render messages with a template family (NULL: the model's). add_assistant:
 * end with the prefix of an assistant reply. Writes at most cap bytes (NUL
 * terminated when room), returns the length needed, -1 on error. */
int64_t ingot_chat_apply(const ingot_model *m, const char *tmpl, const ingot_chat_msg *msgs,
                         size_t n_msgs, bool add_assistant, char *buf, size_t cap);

/* ------------------------------------------------------------------------ */
/* Tools: quantize, synthetic models, benchmarks                            */
/* ------------------------------------------------------------------------ */

/* File type names quantize and mkmodel accept ("Q4_0 Q4_1 ... F16 BF16"),
 * and whether one is valid (case-insensitive; Q4_K means Q4_K_M). */
const char *ingot_ftype_names(void);
bool ingot_ftype_valid(const char *name);

typedef struct ingot_quantize_params {
    uint32_t size;
    int n_threads;      /* 0: physical cores */
    bool pure;          /* no per-tensor mix: every weight matrix in the type */
    ingot_progress_fn progress;
    void *progress_user;
} ingot_quantize_params;

ingot_quantize_params ingot_quantize_default_params(void);
/* Convert a GGUF model to file type `ftype` ("Q4_K_M", "Q8_0", "F16", ...)
 * with llama.cpp's per-tensor choices, streaming tensor by tensor. Input
 * tensors that are already quantized are dequantized and requantized (a
 * warning is logged). All metadata is copied; general.file_type is set. */
ingot_status ingot_quantize_file(const char *in_path, const char *out_path, const char *ftype,
                                 const ingot_quantize_params *p);

typedef struct ingot_mkmodel_params {
    uint32_t size;
    const char *arch;    /* "llama" | "gpt2"; NULL: the preset's */
    const char *preset;  /* see ingot_mkmodel_preset() */
    const char *ftype;   /* as for ingot_quantize_file; NULL: F16 */
    const char *vocab;   /* GGUF file whose tokenizer.* keys are copied */
    uint64_t seed;
    int n_threads;       /* 0: physical cores */
    ingot_progress_fn progress;
    void *progress_user;
} ingot_mkmodel_params;

ingot_mkmodel_params ingot_mkmodel_default_params(void);
/* Write a model with random weights (N(0, 0.02^2) matrices, norms near 1)
 * shaped like a real one, with a real tokenizer. Same seed, same file,
 * whatever the thread count. */
ingot_status ingot_mkmodel(const char *out_path, const ingot_mkmodel_params *p);
/* Preset i (0, 1, ...): its name, NULL past the end; *arch and *desc (a
 * one-line shape summary) when not NULL. */
const char *ingot_mkmodel_preset(int i, const char **arch, const char **desc);

/* Peak resident memory of the process in bytes (0 if unknown), and a reset
 * so a caller can measure one phase (Linux: VmHWM, /proc/self/clear_refs). */
uint64_t ingot_peak_rss(void);
void ingot_reset_peak_rss(void);
/* Memory bandwidth of the model's backend in bytes/s, measured on the spot
 * with a large copy (bytes read plus written); 0 if not measurable. */
double ingot_backend_bandwidth(ingot_model *m);
/* Free / total memory of the model's device in bytes (0, 0 for the host). */
void ingot_backend_memory(const ingot_model *m, size_t *free_bytes, size_t *total_bytes);
/* Device memory ingot itself holds on the model's backend (weights, KV
 * caches, scratch, library workspaces; not the driver's context); 0 on the
 * CPU backend. */
size_t ingot_backend_allocated(const ingot_model *m);

#ifdef __cplusplus
}
#endif
#endif /* INGOT_H */
