/* The GGUF reader against hostile files: a corpus of corrupted files built
 * at run time from the real test files (truncated at every byte of the
 * metadata, counts and lengths blown up, offsets and types broken, ...).
 * Every one must fail with INGOT_ERR_FORMAT and a one-line message naming
 * the file and the problem; a few are also fed to `ingot info`. */
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util.h"
#include "gguf/gguf.h"
#include "ingot.h"
#include "quant/quant.h"
#include "test.h"

/* ---- a trusting walker that records where every field of a valid file is */

#define MAXN 4096

typedef struct layout {
    int64_t n_kv, n_t;
    uint64_t kv_start[MAXN], kv_keylen[MAXN], kv_type_off[MAXN], kv_val_off[MAXN];
    uint32_t kv_type[MAXN];
    uint64_t t_start[MAXN], t_namelen[MAXN], t_ndims_off[MAXN], t_type_off[MAXN],
        t_off_off[MAXN];
    uint32_t t_ndims[MAXN];
    uint64_t infos_end;
} layout;

static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint64_t skip_value(const uint8_t *b, uint64_t pos, uint32_t type) {
    static const int sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == GGUF_STRING) return pos + 8 + get64(b + pos);
    if (type != GGUF_ARRAY) return pos + (uint64_t)sz[type];
    uint32_t et = get32(b + pos);
    uint64_t n = get64(b + pos + 4);
    pos += 12;
    if (et != GGUF_STRING && et != GGUF_ARRAY) return pos + n * (uint64_t)sz[et];
    for (uint64_t i = 0; i < n; i++) pos = skip_value(b, pos, et);
    return pos;
}

static void walk(const uint8_t *b, layout *L) {
    L->n_t = (int64_t)get64(b + 8);
    L->n_kv = (int64_t)get64(b + 16);
    uint64_t pos = 24;
    for (int64_t i = 0; i < L->n_kv; i++) {
        L->kv_start[i] = pos;
        L->kv_keylen[i] = get64(b + pos);
        pos += 8 + L->kv_keylen[i];
        L->kv_type_off[i] = pos;
        L->kv_type[i] = get32(b + pos);
        L->kv_val_off[i] = pos + 4;
        pos = skip_value(b, pos + 4, L->kv_type[i]);
    }
    for (int64_t i = 0; i < L->n_t; i++) {
        L->t_start[i] = pos;
        L->t_namelen[i] = get64(b + pos);
        pos += 8 + L->t_namelen[i];
        L->t_ndims_off[i] = pos;
        L->t_ndims[i] = get32(b + pos);
        pos += 4 + 8 * (uint64_t)L->t_ndims[i];
        L->t_type_off[i] = pos;
        L->t_off_off[i] = pos + 4;
        pos += 12;
    }
    L->infos_end = pos;
}

static int64_t find_key(const uint8_t *b, const layout *L, const char *key) {
    for (int64_t i = 0; i < L->n_kv; i++)
        if (L->kv_keylen[i] == strlen(key) && !memcmp(b + L->kv_start[i] + 8, key, strlen(key)))
            return i;
    return -1;
}

static int64_t find_tensor(const uint8_t *b, const layout *L, const char *name) {
    for (int64_t i = 0; i < L->n_t; i++)
        if (L->t_namelen[i] == strlen(name) && !memcmp(b + L->t_start[i] + 8, name, strlen(name)))
            return i;
    return -1;
}

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* ---- checking one corrupt buffer ------------------------------------------ */

static int n_cases;

/* Parse `b` as "corrupt/NAME.gguf"; it must fail with FORMAT and a one-line
 * message "corrupt/NAME.gguf: ..." containing `want` (if not NULL). */
static void expect_fail(const uint8_t *b, size_t len, const char *name, const char *want) {
    char fname[160];
    snprintf(fname, sizeof fname, "corrupt/%s.gguf", name);
    /* An exact-size heap copy, so ASan catches any read past the end. */
    uint8_t *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, b, len);
    gguf *g = NULL;
    ingot_status st = gguf_parse(copy, len, fname, &g);
    const char *msg = ingot_last_error();
    n_cases++;
    CHECK(st == INGOT_ERR_FORMAT, "%s: status %d (%s)", fname, st, st ? msg : "parsed");
    if (st == INGOT_OK) gguf_close(g);
    else {
        CHECK(g == NULL, "%s: handle on failure", fname);
        CHECK(!strncmp(msg, fname, strlen(fname)) && !strncmp(msg + strlen(fname), ": ", 2),
              "%s: message does not start with the name: %s", fname, msg);
        CHECK(!strchr(msg, '\n'), "%s: multi-line message: %s", fname, msg);
        if (want) CHECK(strstr(msg, want) != NULL, "%s: want '%s' in: %s", fname, want, msg);
    }
    free(copy);
}

/* A mutated copy of `src`: apply `edit` then expect failure. */
typedef struct buf {
    uint8_t *p;
    size_t n;
} buf;

static buf dup_buf(const uint8_t *src, size_t n) {
    buf b = {malloc(n), n};
    memcpy(b.p, src, n);
    return b;
}

/* ---- the corpus ----------------------------------------------------------- */

/* Cut at every byte offset below `every` (the metadata of a small file), then
 * at a stride through the rest. */
static void truncations(const char *what, const uint8_t *b, size_t n, uint64_t every) {
    char name[64];
    int bad = 0;
    for (uint64_t cut = 0; cut < n; cut += cut < every ? 1 : 997) {
        snprintf(name, sizeof name, "%s-trunc-%llu", what, (unsigned long long)cut);
        int before = t_fail;
        expect_fail(b, (size_t)cut, name, NULL);
        const char *msg = ingot_last_error();
        if (!strstr(msg, "past end of file") && !strstr(msg, "cannot fit")) {
            CHECK(0, "%s: truncation not reported as such: %s", name, msg);
        }
        if (t_fail != before && ++bad > 20) break; /* don't flood the log */
    }
    expect_fail(b, n - 1, what, "runs past end of file");
}

static void header_cases(const uint8_t *src, size_t n) {
    buf b = dup_buf(src, n);
    b.p[0] = 'X';
    expect_fail(b.p, n, "bad-magic", "bad magic");
    memcpy(b.p, src, 8);
    put32(b.p + 4, 1);
    expect_fail(b.p, n, "version-1", "version 1 is not supported");
    put32(b.p + 4, 99);
    expect_fail(b.p, n, "version-99", "version 99");
    put32(b.p + 4, 0);
    expect_fail(b.p, n, "version-0", "version 0");
    put32(b.p + 4, 0x03000000);
    expect_fail(b.p, n, "big-endian", "big-endian");
    memcpy(b.p, src, 24);
    put64(b.p + 16, UINT64_MAX);
    expect_fail(b.p, n, "n-kv-max", "18446744073709551615 key/value pairs cannot fit");
    put64(b.p + 16, (uint64_t)1 << 40);
    expect_fail(b.p, n, "n-kv-2^40", "key/value pairs cannot fit");
    put64(b.p + 16, get64(src + 16) + 1);
    expect_fail(b.p, n, "n-kv-plus-1", NULL);
    put64(b.p + 16, get64(src + 16) - 1);
    expect_fail(b.p, n, "n-kv-minus-1", NULL);
    memcpy(b.p, src, 24);
    put64(b.p + 8, UINT64_MAX);
    expect_fail(b.p, n, "n-tensors-max", "tensor infos cannot fit");
    put64(b.p + 8, n / 40);
    expect_fail(b.p, n, "n-tensors-many", NULL);
    put64(b.p + 8, get64(src + 8) + 1);
    expect_fail(b.p, n, "n-tensors-plus-1", NULL);
    expect_fail(src, 3, "three-bytes", "past end of file");
    expect_fail(src, 0, "empty", "past end of file");
    free(b.p);
}

static void kv_cases(const uint8_t *src, size_t n, const layout *L) {
    buf b = dup_buf(src, n);
    char name[64];
    for (int64_t i = 0; i < L->n_kv; i++) {
        memcpy(b.p, src, n);
        put64(b.p + L->kv_start[i], UINT64_MAX);
        snprintf(name, sizeof name, "key-%lld-len-max", (long long)i);
        char want[200];
        snprintf(want, sizeof want, "key #%lld at offset %llu: string length "
                 "18446744073709551615 runs past end of file", (long long)i,
                 (unsigned long long)L->kv_start[i]);
        expect_fail(b.p, n, name, "string length 18446744073709551615 runs past end of file");
        expect_fail(b.p, n, name, want);
        put64(b.p + L->kv_start[i], n - L->kv_start[i] - 7);
        snprintf(name, sizeof name, "key-%lld-len-rest", (long long)i);
        expect_fail(b.p, n, name, "runs past end of file");

        memcpy(b.p, src, n);
        put32(b.p + L->kv_type_off[i], 13);
        snprintf(name, sizeof name, "key-%lld-type-13", (long long)i);
        expect_fail(b.p, n, name, "unknown value type 13");
        put32(b.p + L->kv_type_off[i], 0xFFFFFFFFu);
        snprintf(name, sizeof name, "key-%lld-type-ffffffff", (long long)i);
        expect_fail(b.p, n, name, "unknown value type 4294967295");

        memcpy(b.p, src, n);
        if (L->kv_type[i] == GGUF_STRING) {
            put64(b.p + L->kv_val_off[i], (uint64_t)1 << 63);
            snprintf(name, sizeof name, "key-%lld-value-len", (long long)i);
            expect_fail(b.p, n, name, "string length 9223372036854775808 runs past end of file");
        } else if (L->kv_type[i] == GGUF_ARRAY) {
            put64(b.p + L->kv_val_off[i] + 4, UINT64_MAX);
            snprintf(name, sizeof name, "key-%lld-array-len-max", (long long)i);
            expect_fail(b.p, n, name, "array length 18446744073709551615");
            put64(b.p + L->kv_val_off[i] + 4, (uint64_t)1 << 40);
            snprintf(name, sizeof name, "key-%lld-array-len-2^40", (long long)i);
            expect_fail(b.p, n, name, "runs past end of file");
            memcpy(b.p, src, n);
            put32(b.p + L->kv_val_off[i], 13);
            snprintf(name, sizeof name, "key-%lld-array-type-13", (long long)i);
            expect_fail(b.p, n, name, "unknown array element type 13");
            memcpy(b.p, src, n);
            if (get32(src + L->kv_val_off[i]) == GGUF_STRING && get64(src + L->kv_val_off[i] + 4)) {
                put64(b.p + L->kv_val_off[i] + 12, UINT64_MAX - 3);
                snprintf(name, sizeof name, "key-%lld-elem-0-len", (long long)i);
                expect_fail(b.p, n, name, "element 0 at offset");
            }
        }
    }
    /* Duplicate key: give a key the name of an earlier one of the same length. */
    bool done = false;
    for (int64_t i = 1; i < L->n_kv && !done; i++)
        for (int64_t j = 0; j < i && !done; j++)
            if (L->kv_keylen[i] == L->kv_keylen[j]) {
                memcpy(b.p, src, n);
                memcpy(b.p + L->kv_start[i] + 8, src + L->kv_start[j] + 8, L->kv_keylen[i]);
                char want[200];
                snprintf(want, sizeof want, "duplicate key (also key #%lld)", (long long)j);
                expect_fail(b.p, n, "duplicate-key", want);
                done = true;
            }
    CHECK(done, "no two keys of the same length to make a duplicate");
    free(b.p);
}

static void tensor_cases(const uint8_t *src, size_t n, const layout *L, const char *tag) {
    buf b = dup_buf(src, n);
    char name[80];
    static const uint32_t bad_types[] = {4, 5, 31, 33, 36, 99, 0xFFFFFFFFu};
    for (int64_t i = 0; i < L->n_t; i += L->n_t / 4 + 1) {
        for (size_t k = 0; k < sizeof bad_types / sizeof bad_types[0]; k++) {
            memcpy(b.p, src, n);
            put32(b.p + L->t_type_off[i], bad_types[k]);
            snprintf(name, sizeof name, "%s-t%lld-type-%u", tag, (long long)i, bad_types[k]);
            char want[200];
            snprintf(want, sizeof want, "unknown tensor type id %u", bad_types[k]);
            expect_fail(b.p, n, name, want);
        }
        memcpy(b.p, src, n);
        put32(b.p + L->t_ndims_off[i], 5);
        snprintf(name, sizeof name, "%s-t%lld-ndims-5", tag, (long long)i);
        expect_fail(b.p, n, name, "n_dims 5 is not in 1..4");
        put32(b.p + L->t_ndims_off[i], 0);
        snprintf(name, sizeof name, "%s-t%lld-ndims-0", tag, (long long)i);
        expect_fail(b.p, n, name, "n_dims 0");
        memcpy(b.p, src, n);
        put64(b.p + L->t_ndims_off[i] + 4, 0);
        snprintf(name, sizeof name, "%s-t%lld-dim-zero", tag, (long long)i);
        expect_fail(b.p, n, name, "dimension 0 is 0");
        put64(b.p + L->t_ndims_off[i] + 4, (uint64_t)-256);
        snprintf(name, sizeof name, "%s-t%lld-dim-negative", tag, (long long)i);
        expect_fail(b.p, n, name, "dimension 0 is negative (-256)");
        memcpy(b.p, src, n);
        put64(b.p + L->t_start[i], UINT64_MAX);
        snprintf(name, sizeof name, "%s-t%lld-name-len", tag, (long long)i);
        expect_fail(b.p, n, name, "string length 18446744073709551615 runs past end of file");
        memcpy(b.p, src, n);
        put64(b.p + L->t_off_off[i], get64(src + L->t_off_off[i]) + 1);
        snprintf(name, sizeof name, "%s-t%lld-misaligned", tag, (long long)i);
        expect_fail(b.p, n, name, "is not a multiple of the alignment 32");
        put64(b.p + L->t_off_off[i], get64(src + L->t_off_off[i]) + ((uint64_t)1 << 30));
        snprintf(name, sizeof name, "%s-t%lld-out-of-range", tag, (long long)i);
        expect_fail(b.p, n, name, "runs past end of file");
        put64(b.p + L->t_off_off[i], UINT64_MAX & ~(uint64_t)31);
        snprintf(name, sizeof name, "%s-t%lld-offset-wraps", tag, (long long)i);
        expect_fail(b.p, n, name, "runs past end of file");
    }
    /* Two-dimensional tensors: dims whose product or byte size overflow. */
    for (int64_t i = 0; i < L->n_t; i++) {
        if (L->t_ndims[i] != 2) continue;
        memcpy(b.p, src, n);
        put64(b.p + L->t_ndims_off[i] + 4, (uint64_t)1 << 32);
        put64(b.p + L->t_ndims_off[i] + 12, (uint64_t)1 << 32);
        snprintf(name, sizeof name, "%s-t%lld-nel-overflow", tag, (long long)i);
        expect_fail(b.p, n, name, "element count overflows");
        put64(b.p + L->t_ndims_off[i] + 4, (uint64_t)1 << 40);
        put64(b.p + L->t_ndims_off[i] + 12, (uint64_t)1 << 22);
        snprintf(name, sizeof name, "%s-t%lld-bytes-overflow", tag, (long long)i);
        expect_fail(b.p, n, name, get32(src + L->t_type_off[i]) == IG_TYPE_F32 ?
                    "byte size overflows" : "runs past end of file");
        put64(b.p + L->t_ndims_off[i] + 4, (uint64_t)1 << 31);
        put64(b.p + L->t_ndims_off[i] + 12, (uint64_t)1 << 31);
        snprintf(name, sizeof name, "%s-t%lld-bytes-overflow-2", tag, (long long)i);
        expect_fail(b.p, n, name, get32(src + L->t_type_off[i]) == IG_TYPE_F32 ?
                    "byte size overflows" : "runs past end of file");
        if (get32(src + L->t_type_off[i]) != IG_TYPE_F32) {
            memcpy(b.p, src, n);
            put64(b.p + L->t_ndims_off[i] + 4, get64(src + L->t_ndims_off[i] + 4) - 1);
            snprintf(name, sizeof name, "%s-t%lld-row-not-block", tag, (long long)i);
            expect_fail(b.p, n, name, "is not a multiple of the block size");
        }
        break;
    }
    /* Overlaps: a tensor placed on its predecessor, fully and partially. */
    if (L->n_t >= 2) {
        memcpy(b.p, src, n);
        memcpy(b.p + L->t_off_off[1], src + L->t_off_off[0], 8);
        snprintf(name, sizeof name, "%s-overlap-same", tag);
        expect_fail(b.p, n, name, "overlaps tensor");
        memcpy(b.p, src, n);
        put64(b.p + L->t_off_off[1], get64(src + L->t_off_off[1]) - 32);
        snprintf(name, sizeof name, "%s-overlap-partial", tag);
        expect_fail(b.p, n, name, "overlaps tensor");
        memcpy(b.p, src, n);
        int64_t last = L->n_t - 1;
        memcpy(b.p + L->t_off_off[last], src + L->t_off_off[0], 8);
        snprintf(name, sizeof name, "%s-overlap-last-on-first", tag);
        expect_fail(b.p, n, name, "overlaps tensor");
    }
    /* Duplicate tensor name: "blk.1.x" renamed "blk.0.x". */
    int64_t a = find_tensor(src, L, "blk.0.attn_q.weight");
    int64_t c = find_tensor(src, L, "blk.1.attn_q.weight");
    CHECK(a >= 0 && c >= 0, "%s: attn_q tensors", tag);
    if (a >= 0 && c >= 0) {
        memcpy(b.p, src, n);
        b.p[L->t_start[c] + 8 + 4] = '0';
        char want[200];
        snprintf(want, sizeof want, "tensor #%lld 'blk.0.attn_q.weight' at offset %llu: "
                 "duplicate tensor name (also tensor #%lld)", (long long)c,
                 (unsigned long long)L->t_start[c], (long long)a);
        snprintf(name, sizeof name, "%s-duplicate-tensor", tag);
        expect_fail(b.p, n, name, want);
    }
    free(b.p);
}

/* A file with general.alignment = 64, then that value broken. */
static void alignment_cases(const char *tmpdir) {
    char path[256];
    snprintf(path, sizeof path, "%s/align64.gguf", tmpdir);
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_alignment(w, 64);
    const int64_t ne[] = {16, 1};
    static const float data[16];
    gguf_writer_add_tensor(w, "a", IG_TYPE_F32, 2, ne, data, NULL, NULL);
    gguf_writer_add_tensor(w, "b", IG_TYPE_F32, 2, ne, data, NULL, NULL);
    ingot_status st = gguf_writer_write(w, path);
    gguf_writer_free(w);
    CHECK(st == INGOT_OK, "%s", ingot_last_error());
    size_t n;
    uint8_t *src = read_all(path, &n);
    unlink(path);
    if (!src) return;
    static layout L;
    walk(src, &L);
    int64_t k = find_key(src, &L, "general.alignment");
    CHECK(k >= 0 && L.kv_type[k] == GGUF_U32 && get32(src + L.kv_val_off[k]) == 64, "align kv");
    if (k < 0) return;
    gguf *g = NULL;
    st = gguf_parse(src, n, "align64", &g);
    CHECK(st == INGOT_OK && g->alignment == 64, "align64 parses");
    gguf_close(g);
    buf b = dup_buf(src, n);
    put32(b.p + L.kv_val_off[k], 0);
    expect_fail(b.p, n, "alignment-0", "'general.alignment': alignment 0 is not a power of two");
    put32(b.p + L.kv_val_off[k], 3);
    expect_fail(b.p, n, "alignment-3", "alignment 3 is not a power of two");
    put32(b.p + L.kv_val_off[k], 96);
    expect_fail(b.p, n, "alignment-96", "alignment 96 is not a power of two");
    put32(b.p + L.kv_val_off[k], 0x80000000u);
    expect_fail(b.p, n, "alignment-2^31", "runs past end of file");
    put32(b.p + L.kv_val_off[k], 64);
    put32(b.p + L.kv_type_off[k], GGUF_F32);
    expect_fail(b.p, n, "alignment-f32", "has type f32, expected an unsigned integer");
    put32(b.p + L.kv_type_off[k], GGUF_I32);
    put32(b.p + L.kv_val_off[k], (uint32_t)-64);
    expect_fail(b.p, n, "alignment-negative", "not a power of two");
    /* With alignment 128 the (64-aligned) second tensor is misaligned. */
    memcpy(b.p, src, n);
    put32(b.p + L.kv_val_off[k], 128);
    expect_fail(b.p, n, "alignment-128", NULL);
    free(b.p);
    free(src);
}

/* Synthetic files: arrays nested `depth` levels deep around one u8. */
static size_t build_nested(uint8_t *out, int depth) {
    size_t o = 0;
    memcpy(out, "GGUF", 4);
    put32(out + 4, 3);
    put64(out + 8, 0);
    put64(out + 16, 1);
    o = 24;
    put64(out + o, 4);
    memcpy(out + o + 8, "deep", 4);
    o += 12;
    put32(out + o, GGUF_ARRAY);
    o += 4;
    for (int d = 1; d < depth; d++) {
        put32(out + o, GGUF_ARRAY);
        put64(out + o + 4, 1);
        o += 12;
    }
    put32(out + o, GGUF_U8);
    put64(out + o + 4, 1);
    out[o + 12] = 7;
    return o + 13;
}

static void nesting_cases(void) {
    static uint8_t b[4096];
    for (int depth = 1; depth <= 8; depth++) {
        size_t n = build_nested(b, depth);
        gguf *g = NULL;
        ingot_status st = gguf_parse(b, n, "nested", &g);
        CHECK(st == INGOT_OK, "depth %d: %s", depth, ingot_last_error());
        if (st) continue;
        const gguf_value *v = gguf_get_val(g, "deep");
        for (int d = 1; d < depth && v; d++) v = v->arr.n == 1 ? &v->arr.vals[0] : NULL;
        CHECK(v && v->arr.type == GGUF_U8 && gguf_arr_i64(v, 0) == 7, "depth %d value", depth);
        gguf_close(g);
    }
    size_t n = build_nested(b, 9);
    expect_fail(b, n, "nested-9", "arrays nested deeper than 8 levels");
    n = build_nested(b, 300);
    expect_fail(b, n, "nested-300", "arrays nested deeper than 8 levels");
    for (size_t cut = 0; cut < n; cut++) expect_fail(b, cut, "nested-trunc", NULL);
}

/* Random byte and word corruption of the metadata: never crash, and a
 * failure is always FORMAT with a proper message. */
static void random_mutations(const uint8_t *src, size_t n, uint64_t meta_end) {
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    uint8_t *b = malloc(n);
    int ok = 0, bad = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(b, src, n);
        int edits = 1 + it % 4;
        for (int e = 0; e < edits; e++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t r = seed >> 17;
            size_t at = (size_t)(r % (meta_end - 8));
            switch ((r >> 40) % 4) {
            case 0: b[at] ^= (uint8_t)(1u << ((r >> 50) % 8)); break;
            case 1: b[at] = (uint8_t)(r >> 32); break;
            case 2: put32(b + at, (uint32_t)(r >> 8)); break;
            default: put64(b + at, (r & 1) ? UINT64_MAX : (r >> 20)); break;
            }
        }
        gguf *g = NULL;
        ingot_status st = gguf_parse(b, n, "corrupt/random.gguf", &g);
        if (st == INGOT_OK) {
            ok++;
            gguf_close(g);
        } else {
            bad++;
            const char *msg = ingot_last_error();
            if (st != INGOT_ERR_FORMAT || strncmp(msg, "corrupt/random.gguf: ", 21) ||
                strchr(msg, '\n'))
                CHECK(0, "random mutation %d: status %d: %s", it, st, msg);
        }
    }
    printf("random mutations: %d parsed, %d rejected\n", ok, bad);
    free(b);
}

/* ---- the CLI on a few corrupt files -------------------------------------- */

static void cli_case(const char *dir, const char *name, const uint8_t *b, size_t n) {
    char path[256], err[256], cmd[1024];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    snprintf(err, sizeof err, "%s/%s.err", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, n, f) == n, "write %s", path);
    if (f) fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' info '%s' >/dev/null 2>'%s'", INGOT_CLI, path, err);
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "%s: exit %d", name,
          WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
    size_t len = 0;
    uint8_t *out = read_all(err, &len);
    char prefix[300];
    snprintf(prefix, sizeof prefix, "ingot: %s: ", path);
    bool one_line = out && len > 0 && out[len - 1] == '\n' && memchr(out, '\n', len) == out + len - 1;
    CHECK(one_line && len > strlen(prefix) && !memcmp(out, prefix, strlen(prefix)),
          "%s: stderr: %.*s", name, (int)len, out ? (const char *)out : "");
    free(out);
    unlink(path);
    unlink(err);
}

static void cli_cases(const char *dir, const uint8_t *src, size_t n, const layout *L) {
    buf b = dup_buf(src, n);
    b.p[1] = 'X';
    cli_case(dir, "bad-magic", b.p, n);
    memcpy(b.p, src, n);
    put32(b.p + 4, 1);
    cli_case(dir, "version-1", b.p, n);
    memcpy(b.p, src, n);
    put64(b.p + L->kv_start[2], UINT64_MAX);
    cli_case(dir, "huge-string", b.p, n);
    memcpy(b.p, src, n);
    memcpy(b.p + L->t_off_off[1], src + L->t_off_off[0], 8);
    cli_case(dir, "overlap", b.p, n);
    memcpy(b.p, src, n);
    put32(b.p + L->t_type_off[0], 99);
    cli_case(dir, "type-99", b.p, n);
    cli_case(dir, "truncated", src, (size_t)L->kv_val_off[1] + 3);
    cli_case(dir, "empty", src, 0);
    free(b.p);
}

int main(void) {
    char tmpdir[] = "/tmp/ingot-test-corrupt-XXXXXX";
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    static layout S, Q, V;
    size_t ns, nq, nv;
    uint8_t *s = read_all(INGOT_SOURCE_DIR "/models/stories260K.gguf", &ns);
    uint8_t *q = read_all(TDATA("models/llama-micro-q4_k.gguf"), &nq);
    uint8_t *v = read_all(TDATA("vocab/ggml-vocab-llama-spm.gguf"), &nv);
    CHECK(s && q && v, "test files");
    if (!s || !q || !v) return test_done();
    walk(s, &S);
    walk(q, &Q);
    walk(v, &V);

    /* The originals parse (and the vocab-only one needs no data section). */
    gguf *g = NULL;
    CHECK(gguf_parse(s, ns, "stories", &g) == INGOT_OK, "%s", ingot_last_error());
    gguf_close(g);
    CHECK(gguf_parse(v, (size_t)V.infos_end, "vocab", &g) == INGOT_OK, "vocab cut at kv end: %s",
          ingot_last_error());
    gguf_close(g);

    truncations("stories", s, ns, S.infos_end + 64);
    truncations("vocab", v, (size_t)V.infos_end, 4096);
    header_cases(s, ns);
    kv_cases(s, ns, &S);
    tensor_cases(s, ns, &S, "stories");
    tensor_cases(q, nq, &Q, "q4_k");
    alignment_cases(tmpdir);
    nesting_cases();
    random_mutations(s, ns, S.infos_end);
    random_mutations(q, nq, Q.infos_end);
    printf("%d corrupt files rejected\n", n_cases);
    cli_cases(tmpdir, s, ns, &S);
    rmdir(tmpdir);
    free(s);
    free(q);
    free(v);
    return test_done();
}
