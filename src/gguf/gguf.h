/* GGUF v2/v3 reader (and a small writer).
 *
 * The reader parses a memory buffer (normally an mmapped file) and treats it
 * as hostile: every count, length and offset is bounds- and overflow-checked
 * before use, so gguf_parse() can be fuzzed directly. After a successful
 * parse every string is NUL-terminated in memory owned by the gguf handle
 * and tensor data pointers point into the buffer. */
#ifndef INGOT_GGUF_H
#define INGOT_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingot.h"

enum gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5,
    GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_U64 = 10,
    GGUF_I64 = 11, GGUF_F64 = 12,
};

typedef struct gguf_str {
    const char *s; /* NUL-terminated copy (may contain NULs inside: use len) */
    uint64_t len;
} gguf_str;

typedef struct gguf_value gguf_value;
struct gguf_value {
    uint32_t type; /* enum gguf_vtype */
    union {
        uint64_t u64; /* every unsigned integer type, widened */
        int64_t i64;  /* every signed integer type, widened   */
        double f64;   /* F32 and F64, widened                 */
        bool b;
        gguf_str str;
        struct {
            uint32_t type; /* element type */
            uint64_t n;
            /* Scalars: `raw` points at the packed little-endian elements in the
             * buffer (possibly unaligned: read with gguf_arr_* helpers).
             * Strings: `strs` holds n entries. Arrays: `vals` holds n values. */
            const void *raw;
            gguf_str *strs;
            gguf_value *vals;
        } arr;
    };
};

typedef struct gguf_kv {
    gguf_str key;
    gguf_value val;
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t type;    /* ggml type id (validated: known to quant layer) */
    uint32_t n_dims;
    int64_t ne[4];    /* unused dims are 1 */
    uint64_t offset;  /* relative to the data section */
    uint64_t nbytes;
    const void *data; /* into the buffer */
} gguf_tensor;

/* Open-addressing hash over names (private to gguf.c). */
typedef struct gguf_index {
    int64_t *slot; /* entry index + 1; 0 = empty */
    uint64_t mask;
} gguf_index;

typedef struct gguf {
    const char *path;    /* for messages */
    uint32_t version;
    const uint8_t *buf;  /* whole file */
    uint64_t size;
    uint64_t alignment;
    uint64_t data_offset; /* start of the data section in the file */
    int64_t n_kv;
    gguf_kv *kv;
    int64_t n_tensors;
    gguf_tensor *tensors;
    /* private: ownership */
    void *mapping;
    uint64_t map_size;
    void *arena;
    gguf_index kv_index, tensor_index; /* gguf_find / gguf_find_tensor in O(1) */
} gguf;

/* Parse a buffer. `name` is used in messages. The buffer must outlive the
 * handle. On failure the thread's error is "NAME: problem (where)". */
ingot_status gguf_parse(const void *buf, size_t size, const char *name, gguf **out);
/* mmap a file and parse it. */
ingot_status gguf_open(const char *path, gguf **out);
void gguf_close(gguf *g);

int64_t gguf_find(const gguf *g, const char *key); /* -1 if missing */
/* Bytes of one scalar of a metadata value type (0 for string/array/unknown). */
size_t gguf_scalar_size(uint32_t vtype);
const gguf_tensor *gguf_find_tensor(const gguf *g, const char *name);

/* Typed getters: false if the key is missing or has an incompatible type
 * (integers convert when the value fits; floats accept F32/F64). */
bool gguf_get_u32(const gguf *g, const char *key, uint32_t *out);
bool gguf_get_i32(const gguf *g, const char *key, int32_t *out);
bool gguf_get_f32(const gguf *g, const char *key, float *out);
bool gguf_get_bool(const gguf *g, const char *key, bool *out);
bool gguf_get_str(const gguf *g, const char *key, const char **out); /* NUL-terminated */
/* Array accessors: false if missing / not an array of a compatible type. */
bool gguf_get_arr(const gguf *g, const char *key, uint32_t *elem_type, uint64_t *n);
const gguf_value *gguf_get_val(const gguf *g, const char *key);
float gguf_arr_f32(const gguf_value *v, uint64_t i);   /* numeric array element as float */
int64_t gguf_arr_i64(const gguf_value *v, uint64_t i); /* integer array element */

/* "u32", "string", ... ("unknown" for a bad id). */
const char *gguf_vtype_name(uint32_t vtype);
/* The public handle is the internal one (ingot_gguf_* take a cast gguf *). */
static inline ingot_gguf *gguf_public(gguf *g) { return (ingot_gguf *)g; }
static inline const gguf *gguf_internal(const ingot_gguf *g) { return (const gguf *)g; }
/* Same contract as ingot_gguf_value_json(), for any value. */
size_t gguf_value_json(const gguf_value *v, size_t max_items, char *buf, size_t cap);

/* ---- Writer ---------------------------------------------------------- */
/* Builds a GGUF v3 file: add metadata and tensor infos, then write. Tensor
 * data is supplied as pointers (or a callback) at write time. */
typedef struct gguf_writer gguf_writer;
gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
void gguf_writer_set_alignment(gguf_writer *w, uint32_t align);
/* Copy one key/value from a parsed file (used by quantize and mkmodel). */
void gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv);
void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n);
void gguf_writer_set_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n);
void gguf_writer_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
/* Add a tensor whose bytes will be produced by `fill` when writing (or are
 * at `data` if fill is NULL). n_dims <= 4. */
typedef ingot_status (*gguf_fill_fn)(void *user, int64_t tensor_index, void *dst, uint64_t nbytes);
void gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                            const int64_t *ne, const void *data, gguf_fill_fn fill, void *user);
ingot_status gguf_writer_write(gguf_writer *w, const char *path);

#endif
