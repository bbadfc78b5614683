/* PLACEHOLDER (replaced by the tokenizer work): public tokenizer API. */
#include "core/util.h"
#include "model/model.h"
int32_t ingot_n_vocab(const ingot_model *m) { (void)m; return 0; }
int32_t ingot_token_bos(const ingot_model *m) { (void)m; return -1; }
int32_t ingot_token_eos(const ingot_model *m) { (void)m; return -1; }
int32_t ingot_token_eot(const ingot_model *m) { (void)m; return -1; }
bool ingot_add_bos(const ingot_model *m) { (void)m; return false; }
bool ingot_token_is_eog(const ingot_model *m, int32_t id) { (void)m; (void)id; return false; }
int64_t ingot_tokenize(const ingot_model *m, const char *t, size_t l, bool a, bool p, int32_t *o, int64_t c) { (void)m; (void)t; (void)l; (void)a; (void)p; (void)o; (void)c; return -1; }
int32_t ingot_token_to_piece(const ingot_model *m, int32_t id, bool s, char *b, int32_t c) { (void)m; (void)id; (void)s; (void)b; (void)c; return -1; }
const char *ingot_token_text(const ingot_model *m, int32_t id) { (void)m; (void)id; return NULL; }
ingot_detok *ingot_detok_new(const ingot_model *m, bool s) { (void)m; (void)s; return NULL; }
size_t ingot_detok_push(ingot_detok *d, int32_t id, char *o, size_t c) { (void)d; (void)id; (void)o; (void)c; return 0; }
size_t ingot_detok_flush(ingot_detok *d, char *o, size_t c) { (void)d; (void)o; (void)c; return 0; }
void ingot_detok_free(ingot_detok *d) { (void)d; }
ingot_status ig_vocab_load(const gguf *g, ig_vocab **out) { (void)g; *out = 0; return ig_err(INGOT_ERR_UNSUPPORTED, "todo"); }
void ig_vocab_free(ig_vocab *v) { (void)v; }
