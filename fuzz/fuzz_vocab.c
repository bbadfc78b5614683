/* libFuzzer target: a vocabulary built from hostile metadata. Whatever the
 * GGUF reader accepts goes to ig_vocab_load; a vocabulary that loads must
 * then tokenize (with and without control-token parsing), render every
 * token and stream-decode without tripping ASan/UBSan. The input's tail
 * doubles as the text, so the fuzzer mutates both at once. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "gguf/gguf.h"
#include "ingot.h"
#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf *g = NULL;
    if (gguf_parse(data, size, "fuzz.gguf", &g) != INGOT_OK) return 0;
    ig_vocab *v = NULL;
    if (ig_vocab_load(g, &v) == INGOT_OK) {
        const int32_t nv = ig_vocab_n(v);
        assert(nv > 0);
        /* text: a fixed sample plus the last bytes of the input */
        char text[256] = "Hello world! <s> </s> <|endoftext|>\n\t  12345 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 ";
        size_t base = strlen(text), tail = size < 96 ? size : 96;
        memcpy(text + base, data + size - tail, tail);
        size_t len = base + tail;
        int32_t ids[1024];
        for (int special = 0; special < 2; special++) {
            int64_t n = ig_tokenize(v, text, len, true, special, ids, 1024);
            if (n < 0) continue;
            if (n > 1024) n = 1024;
            char piece[64];
            for (int64_t i = 0; i < n; i++) {
                assert(ids[i] >= 0 && ids[i] < nv);
                (void)ig_token_to_piece(v, ids[i], special, piece, sizeof piece);
            }
        }
        char piece[16];
        for (int32_t id = 0; id < nv && id < 4096; id++) {
            int32_t k = ig_token_to_piece(v, id, true, piece, sizeof piece);
            assert(k >= 0);
            (void)ig_vocab_text(v, id);
            (void)ig_vocab_is_eog(v, id);
        }
        ig_vocab_free(v);
    } else {
        assert(strchr(ingot_last_error(), '\n') == NULL);
    }
    gguf_close(g);
    return 0;
}
