/* GGUF reader, writer and public API on the shared test files.
 *
 * `test_gguf --write-seeds DIR` instead writes the small valid GGUF files
 * that seed the fuzzer (fuzz/seeds/). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "gguf/gguf.h"
#include "ingot.h"
#include "quant/quant.h"
#include "test.h"

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static const char *kv_str(const gguf *g, const char *key) {
    const char *s = NULL;
    return gguf_get_str(g, key, &s) ? s : "";
}

static uint32_t kv_u32(const gguf *g, const char *key) {
    uint32_t v = 0;
    return gguf_get_u32(g, key, &v) ? v : 0xdeadbeef;
}

static int count_type(const gguf *g, uint32_t type) {
    int n = 0;
    for (int64_t i = 0; i < g->n_tensors; i++) n += g->tensors[i].type == type;
    return n;
}

static void check_shape(const gguf *g, const char *name, uint32_t type, int64_t ne0, int64_t ne1) {
    const gguf_tensor *t = gguf_find_tensor(g, name);
    CHECK(t != NULL, "%s: tensor %s missing", g->path, name);
    if (!t) return;
    CHECK(t->type == type, "%s: %s type %u, want %u", g->path, name, t->type, type);
    CHECK(t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 && t->ne[3] == 1,
          "%s: %s shape [%lld, %lld]", g->path, name, (long long)t->ne[0], (long long)t->ne[1]);
    CHECK(t->n_dims == (ne1 > 1 ? 2u : 1u), "%s: %s n_dims %u", g->path, name, t->n_dims);
}

/* Layout invariants every successfully parsed file must satisfy. */
static void check_layout(const gguf *g) {
    CHECK(g->alignment && !(g->alignment & (g->alignment - 1)), "%s: alignment", g->path);
    CHECK(g->data_offset % g->alignment == 0, "%s: data offset", g->path);
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        CHECK(t->offset % g->alignment == 0, "%s: %s offset", g->path, t->name.s);
        CHECK(t->data == g->buf + g->data_offset + t->offset, "%s: %s data", g->path, t->name.s);
        CHECK(g->data_offset + t->offset + t->nbytes <= g->size, "%s: %s bounds", g->path,
              t->name.s);
        CHECK(ig_row_size(t->type, t->ne[0]) * (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]) ==
                  t->nbytes,
              "%s: %s nbytes", g->path, t->name.s);
        CHECK(strlen(t->name.s) == t->name.len, "%s: name", g->path);
    }
}

static void test_llama_micro(void) {
    static const struct {
        const char *file;
        uint32_t type;
    } files[] = {
        {"llama-micro-f16.gguf", IG_TYPE_F16},   {"llama-micro-bf16.gguf", IG_TYPE_BF16},
        {"llama-micro-q8_0.gguf", IG_TYPE_Q8_0}, {"llama-micro-q4_0.gguf", IG_TYPE_Q4_0},
        {"llama-micro-q4_1.gguf", IG_TYPE_Q4_1}, {"llama-micro-q5_0.gguf", IG_TYPE_Q5_0},
        {"llama-micro-q5_1.gguf", IG_TYPE_Q5_1}, {"llama-micro-q2_k.gguf", IG_TYPE_Q2_K},
        {"llama-micro-q3_k.gguf", IG_TYPE_Q3_K}, {"llama-micro-q4_k.gguf", IG_TYPE_Q4_K},
        {"llama-micro-q5_k.gguf", IG_TYPE_Q5_K}, {"llama-micro-q6_k.gguf", IG_TYPE_Q6_K},
    };
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tests/data/models/%s", INGOT_SOURCE_DIR, files[f].file);
        gguf *g = NULL;
        ingot_status st = gguf_open(path, &g);
        CHECK(st == INGOT_OK, "%s: %s", path, ingot_last_error());
        if (st) continue;
        CHECK(g->version == 3, "%s: version %u", path, g->version);
        CHECK(!strcmp(kv_str(g, "general.architecture"), "llama"), "%s: arch", path);
        CHECK(g->n_tensors == 21, "%s: %lld tensors", path, (long long)g->n_tensors);
        CHECK(count_type(g, files[f].type) == 16, "%s: quantized count", path);
        CHECK(count_type(g, IG_TYPE_F32) == 5, "%s: F32 count", path);
        check_shape(g, "token_embd.weight", files[f].type, 256, 512);
        check_shape(g, "output.weight", files[f].type, 256, 512);
        check_shape(g, "blk.0.attn_k.weight", files[f].type, 256, 64);
        check_shape(g, "blk.1.ffn_down.weight", files[f].type, 768, 256);
        check_shape(g, "blk.1.attn_norm.weight", IG_TYPE_F32, 256, 1);
        check_shape(g, "output_norm.weight", IG_TYPE_F32, 256, 1);
        CHECK(kv_u32(g, "llama.embedding_length") == 256, "%s: n_embd", path);
        CHECK(kv_u32(g, "llama.block_count") == 2, "%s: n_layer", path);
        CHECK(kv_u32(g, "llama.attention.head_count") == 8, "%s: n_head", path);
        CHECK(kv_u32(g, "llama.attention.head_count_kv") == 2, "%s: n_head_kv", path);
        CHECK(kv_u32(g, "llama.feed_forward_length") == 768, "%s: n_ff", path);
        CHECK(kv_u32(g, "llama.context_length") == 256, "%s: n_ctx", path);
        uint32_t et = 0;
        uint64_t n = 0;
        CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) && et == GGUF_STRING && n == 512,
              "%s: tokens", path);
        check_layout(g);
        gguf_close(g);
    }
}

static void test_stories_and_gpt2(void) {
    gguf *g = NULL;
    const char *path = INGOT_SOURCE_DIR "/models/stories260K.gguf";
    ingot_status st = gguf_open(path, &g);
    CHECK(st == INGOT_OK, "%s", ingot_last_error());
    if (!st) {
        CHECK(g->size == 1185376, "size");
        CHECK(g->n_tensors == 48 && count_type(g, IG_TYPE_F32) == 48, "48 F32 tensors");
        CHECK(!strcmp(kv_str(g, "general.architecture"), "llama"), "arch");
        CHECK(kv_u32(g, "llama.embedding_length") == 64, "n_embd");
        CHECK(kv_u32(g, "llama.block_count") == 5, "n_layer");
        CHECK(kv_u32(g, "llama.attention.head_count") == 8, "n_head");
        CHECK(kv_u32(g, "llama.attention.head_count_kv") == 4, "n_head_kv");
        CHECK(kv_u32(g, "llama.feed_forward_length") == 172, "n_ff");
        CHECK(kv_u32(g, "llama.context_length") == 2048, "n_ctx");
        CHECK(!strcmp(kv_str(g, "tokenizer.ggml.model"), "llama"), "tokenizer model");
        CHECK(gguf_find(g, "tokenizer.ggml.pre") < 0, "no pre-tokenizer key");
        check_shape(g, "token_embd.weight", IG_TYPE_F32, 64, 512);
        check_shape(g, "blk.4.ffn_gate.weight", IG_TYPE_F32, 64, 172);
        CHECK(gguf_find_tensor(g, "nope") == NULL, "missing tensor");
        float eps = 0;
        CHECK(gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps) &&
                  fabsf(eps - 1e-5f) < 1e-9f,
              "eps %g", eps);
        int32_t i32 = 0;
        CHECK(gguf_get_i32(g, "llama.block_count", &i32) && i32 == 5, "u32 as i32");
        const char *s = NULL;
        CHECK(!gguf_get_str(g, "llama.block_count", &s), "u32 is not a string");
        CHECK(!gguf_get_f32(g, "llama.block_count", &eps), "u32 is not a float");
        const gguf_value *tok = gguf_get_val(g, "tokenizer.ggml.tokens");
        CHECK(tok && tok->arr.n == 512 && !strcmp(tok->arr.strs[1].s, "<s>") &&
                  !strcmp(tok->arr.strs[3].s, "<0x00>"),
              "token texts");
        const gguf_value *sc = gguf_get_val(g, "tokenizer.ggml.scores");
        CHECK(sc && sc->arr.type == GGUF_F32 && sc->arr.n == 512, "scores");
        const gguf_value *tt = gguf_get_val(g, "tokenizer.ggml.token_type");
        CHECK(tt && tt->arr.type == GGUF_I32 && gguf_arr_i64(tt, 0) == 2 &&
                  gguf_arr_i64(tt, 1) == 3 && gguf_arr_i64(tt, 3) == 6 &&
                  gguf_arr_i64(tt, 300) == 1 && gguf_arr_i64(tt, 512) == 0,
              "token types");
        CHECK(gguf_arr_f32(tt, 3) == 6.0f, "i32 element as float");
        check_layout(g);
        gguf_close(g);
    }

    path = TDATA("models/gpt2-tiny-q8_0.gguf");
    st = gguf_open(path, &g);
    CHECK(st == INGOT_OK, "%s", ingot_last_error());
    if (!st) {
        CHECK(!strcmp(kv_str(g, "general.architecture"), "gpt2"), "gpt2 arch");
        CHECK(g->n_tensors == 28, "gpt2 tensors %lld", (long long)g->n_tensors);
        CHECK(count_type(g, IG_TYPE_F32) == 19 && count_type(g, IG_TYPE_Q8_0) == 9, "gpt2 types");
        CHECK(kv_u32(g, "gpt2.embedding_length") == 128, "gpt2 n_embd");
        CHECK(gguf_find_tensor(g, "output.weight") == NULL, "tied output");
        CHECK(gguf_find_tensor(g, "token_embd.weight") != NULL, "token_embd");
        uint64_t n = 0;
        CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", NULL, &n) && n == 50257, "gpt2 vocab");
        check_layout(g);
        gguf_close(g);
    }
}

static void test_vocab_files(void) {
    const char *dir = TDATA("vocab");
    DIR *d = opendir(dir);
    CHECK(d != NULL, "opendir %s", dir);
    if (!d) return;
    int n_files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".gguf")) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        gguf *g = NULL;
        double t0 = ig_time();
        ingot_status st = gguf_open(path, &g);
        double ms = (ig_time() - t0) * 1e3;
        CHECK(st == INGOT_OK, "%s", ingot_last_error());
        if (st) continue;
        n_files++;
        CHECK(g->n_tensors == 0, "%s: tensors", path);
        uint32_t et = 0;
        uint64_t n = 0;
        CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) && et == GGUF_STRING && n > 1000,
              "%s: tokens", path);
        CHECK(*kv_str(g, "general.architecture") && *kv_str(g, "tokenizer.ggml.model"),
              "%s: arch / tokenizer", path);
        if (strstr(path, "gpt-2")) {
            CHECK(n == 50257, "gpt-2 vocab %llu", (unsigned long long)n);
            CHECK(!strcmp(kv_str(g, "tokenizer.ggml.pre"), "gpt-2"), "gpt-2 pre");
            printf("parsed %s (%llu tokens) in %.2f ms\n", e->d_name, (unsigned long long)n, ms);
            /* Generous: a Debug+ASan build on a slow machine is still far below. */
            CHECK(ms < 500, "gpt-2 vocab parse took %.1f ms", ms);
        }
        if (strstr(path, "llama-spm")) CHECK(n == 32000, "llama-spm vocab");
        gguf_close(g);
    }
    closedir(d);
    CHECK(n_files == 10, "vocab files found: %d", n_files);
}

static void test_public_api(void) {
    const char *path = INGOT_SOURCE_DIR "/models/stories260K.gguf";
    ingot_gguf *g = NULL;
    ingot_status st = ingot_gguf_open(path, &g);
    CHECK(st == INGOT_OK, "%s", ingot_last_error());
    if (st) return;
    CHECK(ingot_gguf_version(g) == 3, "version");
    CHECK(ingot_gguf_file_size(g) == 1185376, "file size");
    CHECK(ingot_gguf_n_tensors(g) == 48, "n_tensors");
    int64_t n_kv = ingot_gguf_n_kv(g);
    CHECK(n_kv > 10, "n_kv");
    int64_t k = ingot_gguf_find_key(g, "tokenizer.ggml.tokens");
    CHECK(k >= 0 && !strcmp(ingot_gguf_key(g, k), "tokenizer.ggml.tokens"), "find_key");
    CHECK(ingot_gguf_kv_type(g, k) == INGOT_GGUF_ARRAY, "kv type");
    CHECK(ingot_gguf_arr_type(g, k) == INGOT_GGUF_STRING, "arr type");
    CHECK(ingot_gguf_arr_len(g, k) == 512, "arr len");
    char buf[256];
    size_t need = ingot_gguf_value_json(g, k, 3, buf, sizeof buf);
    const char *want = "[\"<unk>\", \"<s>\", \"</s>\", \"... (512 total)\"]";
    CHECK(!strcmp(buf, want) && need == strlen(want), "json: %s", buf);
    char small[8];
    CHECK(ingot_gguf_value_json(g, k, 3, small, sizeof small) == need &&
              !strcmp(small, "[\"<unk>"),
          "truncated json: %s", small);
    CHECK(ingot_gguf_value_json(g, k, 3, NULL, 0) == need, "length only");
    need = ingot_gguf_value_json(g, k, 0, NULL, 0);
    CHECK(need > 512 * 4, "unlimited json");
    int64_t kb = ingot_gguf_find_key(g, "llama.block_count");
    CHECK(ingot_gguf_value_json(g, kb, 8, buf, sizeof buf) == 1 && !strcmp(buf, "5"), "u32 json");
    CHECK(ingot_gguf_arr_len(g, kb) == 0, "scalar arr len");
    int64_t ke = ingot_gguf_find_key(g, "llama.attention.layer_norm_rms_epsilon");
    ingot_gguf_value_json(g, ke, 8, buf, sizeof buf);
    CHECK(!strcmp(buf, "1e-05"), "f32 json %s", buf);
    int64_t ks = ingot_gguf_find_key(g, "tokenizer.ggml.scores");
    ingot_gguf_value_json(g, ks, 2, buf, sizeof buf);
    CHECK(!strcmp(buf, "[0, 0, \"... (512 total)\"]"), "f32 array json %s", buf);
    CHECK(ingot_gguf_find_key(g, "nope") == -1, "missing key");
    CHECK(ingot_gguf_key(g, n_kv) == NULL && ingot_gguf_key(g, -1) == NULL, "key out of range");
    CHECK(ingot_gguf_value_json(g, n_kv, 8, buf, sizeof buf) == 0 && !buf[0], "json out of range");
    ingot_tensor_info ti;
    int found = 0;
    for (int64_t i = 0; i < ingot_gguf_n_tensors(g); i++) {
        ingot_gguf_tensor(g, i, &ti);
        if (!strcmp(ti.name, "token_embd.weight")) {
            found++;
            CHECK(ti.type == 0 && ti.n_dims == 2 && ti.ne[0] == 64 && ti.ne[1] == 512 &&
                      ti.nbytes == 64 * 512 * 4,
                  "tensor info");
        }
    }
    CHECK(found == 1, "token_embd via public API");
    ingot_gguf_tensor(g, 1000, &ti);
    CHECK(ti.name == NULL && ti.nbytes == 0, "tensor out of range");
    ingot_gguf_close(g);

    st = ingot_gguf_open("/nonexistent/dir/x.gguf", &g);
    CHECK(st == INGOT_ERR_IO && g == NULL, "missing file status %d", st);
    CHECK(strstr(ingot_last_error(), "/nonexistent/dir/x.gguf: ") == ingot_last_error(),
          "missing file message: %s", ingot_last_error());
    st = ingot_gguf_open(INGOT_SOURCE_DIR "/tests", &g);
    CHECK(st == INGOT_ERR_IO, "directory status %d", st);
}

static void test_json_rendering(void) {
    char buf[256];
    const char raw[] = "a\"b\\c\nd\x01" "e\xff\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xed\xa0\x80z";
    gguf_value v = {.type = GGUF_STRING, .str = {raw, sizeof raw - 1}};
    gguf_value_json(&v, 0, buf, sizeof buf);
    CHECK(!strcmp(buf, "\"a\\\"b\\\\c\\nd\\u0001e\\ufffd\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                       "\\ufffd\\ufffd\\ufffdz\""),
          "escaping: %s", buf);
    const char nul[] = {'x', 0, 'y'};
    v.str = (gguf_str){nul, 3};
    gguf_value_json(&v, 0, buf, sizeof buf);
    CHECK(!strcmp(buf, "\"x\\u0000y\""), "embedded NUL: %s", buf);
    static const struct {
        uint32_t type;
        double f;
        const char *want;
    } fl[] = {{GGUF_F32, 0.1f, "0.1"},        {GGUF_F32, 1e-5f, "1e-05"},
              {GGUF_F32, 10000.0f, "10000"},  {GGUF_F64, 0.1, "0.1"},
              {GGUF_F64, 1.0 / 3, "0.3333333333333333"}, {GGUF_F32, -2.5f, "-2.5"},
              {GGUF_F32, NAN, "null"},        {GGUF_F64, INFINITY, "null"},
              {GGUF_F32, 1e10f, "10000000000"}, {GGUF_F64, -1.5e20, "-150000000000000000000"},
              {GGUF_F64, 1e21, "1e+21"},       {GGUF_F32, 3.4028235e38f, "3.4028235e+38"},
              {GGUF_F64, 0.0, "0"},            {GGUF_F32, 1.17549435e-38f, "1.1754944e-38"}};
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        gguf_value f = {.type = fl[i].type, .f64 = fl[i].f};
        gguf_value_json(&f, 0, buf, sizeof buf);
        CHECK(!strcmp(buf, fl[i].want), "float %zu: %s, want %s", i, buf, fl[i].want);
    }
    gguf_value b = {.type = GGUF_BOOL, .b = true};
    gguf_value_json(&b, 0, buf, sizeof buf);
    CHECK(!strcmp(buf, "true"), "bool");
    gguf_value neg = {.type = GGUF_I64, .i64 = INT64_MIN};
    gguf_value_json(&neg, 0, buf, sizeof buf);
    CHECK(!strcmp(buf, "-9223372036854775808"), "i64 min");
    /* [[["a"], []], [["b", "c", "d"]]] shortened to 2 items per level. */
    gguf_str s1[] = {{"a", 1}}, s2[] = {{"b", 1}, {"c", 1}, {"d", 1}};
    gguf_value l2a[] = {{.type = GGUF_ARRAY, .arr = {.type = GGUF_STRING, .n = 1, .strs = s1}},
                        {.type = GGUF_ARRAY, .arr = {.type = GGUF_STRING, .n = 0}}};
    gguf_value l2b[] = {{.type = GGUF_ARRAY, .arr = {.type = GGUF_STRING, .n = 3, .strs = s2}}};
    gguf_value l1[] = {{.type = GGUF_ARRAY, .arr = {.type = GGUF_ARRAY, .n = 2, .vals = l2a}},
                       {.type = GGUF_ARRAY, .arr = {.type = GGUF_ARRAY, .n = 1, .vals = l2b}}};
    gguf_value top = {.type = GGUF_ARRAY, .arr = {.type = GGUF_ARRAY, .n = 2, .vals = l1}};
    gguf_value_json(&top, 2, buf, sizeof buf);
    CHECK(!strcmp(buf, "[[[\"a\"], []], [[\"b\", \"c\", \"... (3 total)\"]]]"), "nested: %s", buf);
    gguf_value_json(&top, 0, buf, sizeof buf);
    CHECK(!strcmp(buf, "[[[\"a\"], []], [[\"b\", \"c\", \"d\"]]]"), "nested full: %s", buf);
}

/* ---- writer ------------------------------------------------------------- */

static bool value_eq(const gguf_value *a, const gguf_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case GGUF_STRING: return a->str.len == b->str.len && !memcmp(a->str.s, b->str.s, a->str.len);
    case GGUF_BOOL: return a->b == b->b;
    case GGUF_F32: case GGUF_F64: return !memcmp(&a->f64, &b->f64, 8);
    case GGUF_ARRAY: {
        if (a->arr.type != b->arr.type || a->arr.n != b->arr.n) return false;
        for (uint64_t i = 0; i < a->arr.n; i++) {
            if (a->arr.type == GGUF_STRING) {
                gguf_value x = {.type = GGUF_STRING, .str = a->arr.strs[i]};
                gguf_value y = {.type = GGUF_STRING, .str = b->arr.strs[i]};
                if (!value_eq(&x, &y)) return false;
            } else if (a->arr.type == GGUF_ARRAY) {
                if (!value_eq(&a->arr.vals[i], &b->arr.vals[i])) return false;
            }
        }
        if (a->arr.type == GGUF_STRING || a->arr.type == GGUF_ARRAY) return true;
        static const size_t es[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
        return a->arr.type < 13 && !memcmp(a->arr.raw, b->arr.raw, a->arr.n * es[a->arr.type]);
    }
    default: return a->u64 == b->u64;
    }
}

/* Same metadata (in the same order, `skip` aside) and same tensors. */
static void check_same(const gguf *a, const gguf *b, const char *skip) {
    int64_t ib = 0;
    for (int64_t ia = 0; ia < a->n_kv; ia++) {
        if (skip && !strcmp(a->kv[ia].key.s, skip)) continue;
        if (ib < b->n_kv && skip && !strcmp(b->kv[ib].key.s, skip)) ib++;
        CHECK(ib < b->n_kv && !strcmp(a->kv[ia].key.s, b->kv[ib].key.s) &&
                  value_eq(&a->kv[ia].val, &b->kv[ib].val),
              "%s: kv %s differs", b->path, a->kv[ia].key.s);
        ib++;
    }
    CHECK(a->n_tensors == b->n_tensors, "%s: tensor count", b->path);
    for (int64_t i = 0; i < a->n_tensors && i < b->n_tensors; i++) {
        const gguf_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        CHECK(!strcmp(x->name.s, y->name.s) && x->type == y->type && x->n_dims == y->n_dims &&
                  !memcmp(x->ne, y->ne, sizeof x->ne) && x->nbytes == y->nbytes &&
                  !memcmp(x->data, y->data, x->nbytes),
              "%s: tensor %s differs", b->path, x->name.s);
    }
}

static ingot_status fill_ramp(void *user, int64_t idx, void *dst, uint64_t nbytes) {
    int *calls = user;
    (*calls)++;
    for (uint64_t i = 0; i < nbytes; i++) ((uint8_t *)dst)[i] = (uint8_t)(i * 7 + (uint64_t)idx);
    return INGOT_OK;
}

static ingot_status fill_fail(void *user, int64_t idx, void *dst, uint64_t nbytes) {
    (void)user; (void)dst; (void)nbytes;
    return ig_err(INGOT_ERR_CANCELLED, "fill %lld refused", (long long)idx);
}

/* Every kind of metadata and tensor source the writer offers. */
static gguf_writer *build_sample(int *fill_calls, const float *f32data) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "general.name", "round \"trip\" \xc3\xa9");
    gguf_writer_set_u32(w, "llama.block_count", 7); /* replaced below */
    gguf_writer_set_i32(w, "test.i32", -123456);
    gguf_writer_set_f32(w, "test.f32", 0.125f);
    gguf_writer_set_bool(w, "test.bool", true);
    gguf_writer_set_u32(w, "llama.block_count", 3);
    const char *toks[] = {"<unk>", "", "h\xc3\xa9llo", "a\nb"};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
    const float sc[] = {0.f, -1.5f, 3.25f, 1e-7f};
    gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", sc, 4);
    const int32_t tt[] = {2, 1, 1, -6};
    gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", tt, 4);
    gguf_writer_set_arr_i32(w, "test.empty", NULL, 0);
    static const gguf_kv scalars[] = {
        {{"s.u8", 4}, {.type = GGUF_U8, .u64 = 200}},
        {{"s.i8", 4}, {.type = GGUF_I8, .i64 = -100}},
        {{"s.u16", 5}, {.type = GGUF_U16, .u64 = 65000}},
        {{"s.i16", 5}, {.type = GGUF_I16, .i64 = -32000}},
        {{"s.u64", 5}, {.type = GGUF_U64, .u64 = UINT64_MAX - 1}},
        {{"s.i64", 5}, {.type = GGUF_I64, .i64 = INT64_MIN + 1}},
        {{"s.f64", 5}, {.type = GGUF_F64, .f64 = 2.718281828459045}},
    };
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++)
        gguf_writer_copy_kv(w, &scalars[i]);
    static const uint8_t u8s[] = {1, 2, 3, 250};
    gguf_kv u8arr = {{"a.u8", 4}, {.type = GGUF_ARRAY, .arr = {.type = GGUF_U8, .n = 4, .raw = u8s}}};
    gguf_writer_copy_kv(w, &u8arr);
    /* [[["a"], []], [["b", "c"]]] and [[[1, 2], [3]]] as i32 */
    static gguf_str s1[] = {{"a", 1}}, s2[] = {{"b", 1}, {"c", 1}};
    static gguf_value l2a[] = {{.type = GGUF_ARRAY, .arr = {.type = GGUF_STRING, .n = 1, .strs = s1}},
                               {.type = GGUF_ARRAY, .arr = {.type = GGUF_STRING, .n = 0}}};
    static gguf_value l2b[] = {{.type = GGUF_ARRAY, .arr = {.type = GGUF_STRING, .n = 2, .strs = s2}}};
    static gguf_value l1[] = {{.type = GGUF_ARRAY, .arr = {.type = GGUF_ARRAY, .n = 2, .vals = l2a}},
                              {.type = GGUF_ARRAY, .arr = {.type = GGUF_ARRAY, .n = 1, .vals = l2b}}};
    gguf_kv nested = {{"a.nested", 8}, {.type = GGUF_ARRAY, .arr = {.type = GGUF_ARRAY, .n = 2, .vals = l1}}};
    gguf_writer_copy_kv(w, &nested);
    static const uint8_t i12[] = {1, 0, 0, 0, 2, 0, 0, 0}, i3[] = {3, 0, 0, 0};
    static gguf_value m2[] = {{.type = GGUF_ARRAY, .arr = {.type = GGUF_I32, .n = 2, .raw = i12}},
                              {.type = GGUF_ARRAY, .arr = {.type = GGUF_I32, .n = 1, .raw = i3}}};
    gguf_kv nested_i = {{"a.nested_i32", 12}, {.type = GGUF_ARRAY, .arr = {.type = GGUF_ARRAY, .n = 2, .vals = m2}}};
    gguf_writer_copy_kv(w, &nested_i);

    const int64_t ne_a[] = {4, 3}, ne_b[] = {64, 2}, ne_c[] = {7}, ne_d[] = {256, 1, 1, 2};
    gguf_writer_add_tensor(w, "a.f32", IG_TYPE_F32, 2, ne_a, f32data, NULL, NULL);
    gguf_writer_add_tensor(w, "b.q8_0", IG_TYPE_Q8_0, 2, ne_b, NULL, fill_ramp, fill_calls);
    gguf_writer_add_tensor(w, "c.f16", IG_TYPE_F16, 1, ne_c, f32data, NULL, NULL);
    gguf_writer_add_tensor(w, "d.q4_k", IG_TYPE_Q4_K, 4, ne_d, NULL, NULL, NULL);
    return w;
}

static void test_writer_roundtrip(void) {
    float f32data[12];
    for (int i = 0; i < 12; i++) f32data[i] = (float)i * 0.5f - 1.0f;
    for (int pass = 0; pass < 2; pass++) {
        int fill_calls = 0;
        gguf_writer *w = build_sample(&fill_calls, f32data);
        if (pass) gguf_writer_set_alignment(w, 64);
        const char *path = tmp_path(pass ? "sample64.gguf" : "sample.gguf");
        ingot_status st = gguf_writer_write(w, path);
        gguf_writer_free(w);
        CHECK(st == INGOT_OK, "write: %s", ingot_last_error());
        CHECK(fill_calls == 1, "fill called %d times", fill_calls);
        gguf *g = NULL;
        st = gguf_open(path, &g);
        CHECK(st == INGOT_OK, "reparse: %s", ingot_last_error());
        if (st) continue;
        uint64_t align = pass ? 64 : 32;
        CHECK(g->version == 3 && g->alignment == align, "alignment %llu",
              (unsigned long long)g->alignment);
        CHECK(g->n_kv == 20 + pass, "n_kv %lld", (long long)g->n_kv);
        CHECK(kv_u32(g, "llama.block_count") == 3, "replaced value");
        CHECK(!strcmp(g->kv[2].key.s, "llama.block_count"), "replacement keeps position");
        CHECK(!strcmp(kv_str(g, "general.name"), "round \"trip\" \xc3\xa9"), "string");
        int32_t i32;
        CHECK(gguf_get_i32(g, "test.i32", &i32) && i32 == -123456, "i32");
        uint32_t u32;
        CHECK(!gguf_get_u32(g, "test.i32", &u32), "negative is not u32");
        float f;
        CHECK(gguf_get_f32(g, "test.f32", &f) && f == 0.125f, "f32");
        bool b = false;
        CHECK(gguf_get_bool(g, "test.bool", &b) && b, "bool");
        const gguf_value *v = gguf_get_val(g, "tokenizer.ggml.tokens");
        CHECK(v && v->arr.n == 4 && !strcmp(v->arr.strs[2].s, "h\xc3\xa9llo") &&
                  v->arr.strs[1].len == 0 && !strcmp(v->arr.strs[3].s, "a\nb"),
              "string array");
        v = gguf_get_val(g, "tokenizer.ggml.scores");
        CHECK(v && v->arr.type == GGUF_F32 && gguf_arr_f32(v, 1) == -1.5f &&
                  gguf_arr_f32(v, 3) == 1e-7f,
              "f32 array");
        v = gguf_get_val(g, "tokenizer.ggml.token_type");
        CHECK(v && v->arr.type == GGUF_I32 && gguf_arr_i64(v, 3) == -6, "i32 array");
        v = gguf_get_val(g, "test.empty");
        CHECK(v && v->type == GGUF_ARRAY && v->arr.n == 0, "empty array");
        v = gguf_get_val(g, "s.u8");
        CHECK(v && v->type == GGUF_U8 && v->u64 == 200, "u8");
        v = gguf_get_val(g, "s.i8");
        CHECK(v && v->type == GGUF_I8 && v->i64 == -100, "i8");
        v = gguf_get_val(g, "s.u16");
        CHECK(v && v->type == GGUF_U16 && v->u64 == 65000, "u16");
        v = gguf_get_val(g, "s.i16");
        CHECK(v && v->type == GGUF_I16 && v->i64 == -32000, "i16");
        v = gguf_get_val(g, "s.u64");
        CHECK(v && v->type == GGUF_U64 && v->u64 == UINT64_MAX - 1, "u64");
        v = gguf_get_val(g, "s.i64");
        CHECK(v && v->type == GGUF_I64 && v->i64 == INT64_MIN + 1, "i64");
        v = gguf_get_val(g, "s.f64");
        CHECK(v && v->type == GGUF_F64 && v->f64 == 2.718281828459045, "f64");
        CHECK(gguf_get_u32(g, "s.u16", &u32) && u32 == 65000, "u16 as u32");
        CHECK(!gguf_get_u32(g, "s.u64", &u32), "u64 too big for u32");
        v = gguf_get_val(g, "a.u8");
        CHECK(v && v->arr.type == GGUF_U8 && gguf_arr_i64(v, 3) == 250, "u8 array");
        char buf[128];
        v = gguf_get_val(g, "a.nested");
        gguf_value_json(v, 0, buf, sizeof buf);
        CHECK(!strcmp(buf, "[[[\"a\"], []], [[\"b\", \"c\"]]]"), "nested strings: %s", buf);
        v = gguf_get_val(g, "a.nested_i32");
        gguf_value_json(v, 0, buf, sizeof buf);
        CHECK(!strcmp(buf, "[[1, 2], [3]]"), "nested i32: %s", buf);

        CHECK(g->n_tensors == 4, "tensors");
        const gguf_tensor *t = gguf_find_tensor(g, "a.f32");
        CHECK(t && t->nbytes == 48 && !memcmp(t->data, f32data, 48) && t->ne[1] == 3, "a.f32");
        t = gguf_find_tensor(g, "b.q8_0");
        bool ok = t && t->nbytes == 4 * 34 && t->type == IG_TYPE_Q8_0;
        for (uint64_t i = 0; ok && i < t->nbytes; i++)
            ok = ((const uint8_t *)t->data)[i] == (uint8_t)(i * 7 + 1);
        CHECK(ok, "b.q8_0 from fill callback");
        t = gguf_find_tensor(g, "c.f16");
        CHECK(t && t->nbytes == 14 && t->n_dims == 1 && !memcmp(t->data, f32data, 14), "c.f16");
        t = gguf_find_tensor(g, "d.q4_k");
        ok = t && t->nbytes == 2 * 144 && t->n_dims == 4 && t->ne[3] == 2;
        for (uint64_t i = 0; ok && i < t->nbytes; i++) ok = ((const uint8_t *)t->data)[i] == 0;
        CHECK(ok, "d.q4_k zeros");
        check_layout(g);
        gguf_close(g);
    }
}

/* Copy every kv and tensor of a file into a new one: same content. */
static void test_rewrite(const char *src) {
    gguf *a = NULL, *b = NULL;
    ingot_status st = gguf_open(src, &a);
    CHECK(st == INGOT_OK, "%s", ingot_last_error());
    if (st) return;
    gguf_writer *w = gguf_writer_new();
    for (int64_t i = 0; i < a->n_kv; i++) gguf_writer_copy_kv(w, &a->kv[i]);
    for (int64_t i = 0; i < a->n_tensors; i++) {
        const gguf_tensor *t = &a->tensors[i];
        gguf_writer_add_tensor(w, t->name.s, t->type, t->n_dims, t->ne, t->data, NULL, NULL);
    }
    const char *out = tmp_path("rewrite.gguf");
    st = gguf_writer_write(w, out);
    gguf_writer_free(w);
    CHECK(st == INGOT_OK, "rewrite %s: %s", src, ingot_last_error());
    if (!st && (st = gguf_open(out, &b)) != INGOT_OK) CHECK(0, "reparse: %s", ingot_last_error());
    if (!st) {
        CHECK(a->n_kv == b->n_kv, "%s: n_kv", src);
        check_same(a, b, NULL);
        /* gguf-py lays files out the same way, so the bytes match too. */
        if (a->n_tensors)
            CHECK(a->size == b->size && !memcmp(a->buf, b->buf, a->size), "%s: bytes differ", src);
        gguf_close(b);
    }
    gguf_close(a);
    unlink(out);
}

static void test_writer_errors(void) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_u32(w, "x", 1);
    ingot_status st = gguf_writer_write(w, "/nonexistent/dir/out.gguf");
    CHECK(st == INGOT_ERR_IO, "bad dir status %d", st);
    CHECK(strstr(ingot_last_error(), "/nonexistent/dir/out.gguf: ") == ingot_last_error(),
          "bad dir message: %s", ingot_last_error());
    if (access("/dev/full", W_OK) == 0) {
        const int64_t ne[] = {1 << 20};
        static float zeros[1 << 20];
        gguf_writer_add_tensor(w, "big", IG_TYPE_F32, 1, ne, zeros, NULL, NULL);
        st = gguf_writer_write(w, "/dev/full");
        CHECK(st == INGOT_ERR_IO && strstr(ingot_last_error(), "/dev/full: ") &&
                  strstr(ingot_last_error(), "space"),
              "disk full: %d %s", st, ingot_last_error());
    }
    gguf_writer_free(w);

    const char *path = tmp_path("err.gguf");
    w = gguf_writer_new();
    gguf_writer_set_alignment(w, 3);
    st = gguf_writer_write(w, path);
    CHECK(st == INGOT_ERR_INVALID_ARG && strstr(ingot_last_error(), "alignment 3"),
          "alignment 3: %s", ingot_last_error());
    gguf_writer_free(w);

    const int64_t ne[] = {33, 2};
    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "t", 99, 2, ne, NULL, NULL, NULL);
    st = gguf_writer_write(w, path);
    CHECK(st == INGOT_ERR_INVALID_ARG && strstr(ingot_last_error(), "unknown tensor type id 99"),
          "type 99: %s", ingot_last_error());
    gguf_writer_free(w);
    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "t", IG_TYPE_Q8_0, 2, ne, NULL, NULL, NULL);
    st = gguf_writer_write(w, path);
    CHECK(st == INGOT_ERR_INVALID_ARG && strstr(ingot_last_error(), "block size"),
          "row 33 in Q8_0: %s", ingot_last_error());
    gguf_writer_free(w);
    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "t", IG_TYPE_F32, 2, ne, NULL, fill_fail, NULL);
    st = gguf_writer_write(w, path);
    CHECK(st == INGOT_ERR_CANCELLED && strstr(ingot_last_error(), "refused"),
          "fill failure: %s", ingot_last_error());
    CHECK(access(path, F_OK) != 0, "partial file removed");
    gguf_writer_free(w);
    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "t", IG_TYPE_F32, 2, ne, NULL, NULL, NULL);
    gguf_writer_add_tensor(w, "t", IG_TYPE_F32, 2, ne, NULL, NULL, NULL);
    st = gguf_writer_write(w, path);
    CHECK(st == INGOT_ERR_INVALID_ARG && strstr(ingot_last_error(), "duplicate tensor name"),
          "duplicate tensor: %s", ingot_last_error());
    gguf_writer_free(w);
}

/* Small valid files that reach every parser path, for the fuzzer. */
static int write_seeds(const char *dir) {
    char path[512];
    float f32data[12] = {0};
    int calls = 0;
    gguf_writer *w = build_sample(&calls, f32data);
    snprintf(path, sizeof path, "%s/sample.gguf", dir);
    ingot_status st = gguf_writer_write(w, path);
    gguf_writer_free(w);
    if (!st) {
        w = build_sample(&calls, f32data);
        gguf_writer_set_alignment(w, 64);
        snprintf(path, sizeof path, "%s/sample-align64.gguf", dir);
        st = gguf_writer_write(w, path);
        gguf_writer_free(w);
    }
    if (!st) {
        /* A vocab-only file: the first 64 tokens of stories260K. */
        gguf *g = NULL;
        st = gguf_open(INGOT_SOURCE_DIR "/models/stories260K.gguf", &g);
        if (!st) {
            w = gguf_writer_new();
            for (int64_t i = 0; i < g->n_kv; i++) {
                gguf_kv kv = g->kv[i];
                if (kv.val.type == GGUF_ARRAY && kv.val.arr.n > 64) kv.val.arr.n = 64;
                gguf_writer_copy_kv(w, &kv);
            }
            snprintf(path, sizeof path, "%s/vocab64.gguf", dir);
            st = gguf_writer_write(w, path);
            gguf_writer_free(w);
            gguf_close(g);
        }
    }
    if (st) fprintf(stderr, "write-seeds: %s\n", ingot_last_error());
    return st ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write-seeds")) return write_seeds(argv[2]);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ingot-test-gguf-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_llama_micro();
    test_stories_and_gpt2();
    test_vocab_files();
    test_public_api();
    test_json_rendering();
    test_writer_roundtrip();
    test_rewrite(INGOT_SOURCE_DIR "/models/stories260K.gguf");
    test_rewrite(TDATA("models/llama-micro-q4_k.gguf"));
    test_rewrite(TDATA("models/gpt2-tiny-q8_0.gguf"));
    test_rewrite(TDATA("vocab/ggml-vocab-gpt-2.gguf"));
    test_writer_errors();
    unlink(tmp_path("sample.gguf"));
    unlink(tmp_path("sample64.gguf"));
    rmdir(tmpdir);
    return test_done();
}
