/* libFuzzer target: the GGUF reader on arbitrary bytes, then every getter
 * and the JSON rendering on whatever it accepted. ASan/UBSan do the
 * checking; the asserts catch getters that disagree with the parse. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "gguf/gguf.h"
#include "ingot.h"

static void touch_value(const gguf_value *v) {
    char buf[64];
    size_t need = gguf_value_json(v, 4, buf, sizeof buf);
    assert(gguf_value_json(v, 4, NULL, 0) == need);
    assert(strlen(buf) == (need < sizeof buf ? need : sizeof buf - 1));
    if (v->type == GGUF_ARRAY && v->arr.n) {
        (void)gguf_arr_f32(v, 0);
        (void)gguf_arr_i64(v, v->arr.n - 1);
        (void)gguf_arr_i64(v, v->arr.n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf *g = NULL;
    if (gguf_parse(data, size, "fuzz.gguf", &g) != INGOT_OK) {
        assert(g == NULL);
        assert(strncmp(ingot_last_error(), "fuzz.gguf: ", 11) == 0);
        assert(strchr(ingot_last_error(), '\n') == NULL);
        return 0;
    }
    const ingot_gguf *pg = gguf_public(g);
    for (int64_t i = 0; i < g->n_kv; i++) {
        const gguf_kv *kv = &g->kv[i];
        const char *key = kv->key.s;
        /* Keys with an embedded NUL are only reachable by their prefix. */
        if (strlen(key) == kv->key.len) assert(gguf_find(g, key) == i);
        uint32_t u32;
        int32_t i32;
        float f;
        bool b;
        const char *s;
        uint32_t et;
        uint64_t n;
        (void)gguf_get_u32(g, key, &u32);
        (void)gguf_get_i32(g, key, &i32);
        (void)gguf_get_f32(g, key, &f);
        (void)gguf_get_bool(g, key, &b);
        if (gguf_get_str(g, key, &s)) (void)strlen(s);
        (void)gguf_get_arr(g, key, &et, &n);
        touch_value(&kv->val);
        char buf[32];
        (void)ingot_gguf_value_json(pg, i, 0, buf, sizeof buf);
        (void)ingot_gguf_arr_type(pg, i);
        (void)ingot_gguf_arr_len(pg, i);
    }
    uint64_t sum = 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        if (strlen(t->name.s) == t->name.len) assert(gguf_find_tensor(g, t->name.s) == t);
        ingot_tensor_info ti;
        ingot_gguf_tensor(pg, i, &ti);
        assert(ti.nbytes == t->nbytes && t->nbytes > 0);
        const uint8_t *d = t->data;
        assert(d >= data && d + t->nbytes <= data + size);
        sum += d[0] + d[t->nbytes - 1];
    }
    (void)sum;
    gguf_close(g);
    return 0;
}
