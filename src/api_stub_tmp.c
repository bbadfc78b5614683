/* PLACEHOLDER (replaced by the model/context/sampler work). */
#include "core/util.h"
#include "model/model.h"
ingot_model_params ingot_model_default_params(void) { ingot_model_params p = {0}; p.size = sizeof p; return p; }
ingot_status ingot_model_load(const char *path, const ingot_model_params *p, ingot_model **out) { (void)p; *out = 0; return ig_err(INGOT_ERR_UNSUPPORTED, "%s: todo", path); }
void ingot_model_free(ingot_model *m) { (void)m; }
void ingot_model_get_info(const ingot_model *m, ingot_model_info *o) { (void)m; memset(o, 0, sizeof *o); }
ingot_context_params ingot_context_default_params(void) { ingot_context_params p = {0}; p.size = sizeof p; return p; }
ingot_status ingot_context_new(ingot_model *m, const ingot_context_params *p, ingot_context **o) { (void)m; (void)p; *o = 0; return INGOT_ERR_UNSUPPORTED; }
void ingot_context_free(ingot_context *c) { (void)c; }
uint32_t ingot_n_ctx(const ingot_context *c) { (void)c; return 0; }
uint32_t ingot_context_pos(const ingot_context *c) { (void)c; return 0; }
ingot_status ingot_context_truncate(ingot_context *c, uint32_t p) { (void)c; (void)p; return INGOT_ERR_UNSUPPORTED; }
ingot_status ingot_decode(ingot_context *c, const int32_t *t, int32_t n, bool a) { (void)c; (void)t; (void)n; (void)a; return INGOT_ERR_UNSUPPORTED; }
const float *ingot_get_logits(ingot_context *c, int32_t i) { (void)c; (void)i; return 0; }
ingot_status ingot_decode_greedy(ingot_context *c, const int32_t *t, int32_t n, int32_t *o) { (void)c; (void)t; (void)n; (void)o; return INGOT_ERR_UNSUPPORTED; }
ingot_sampler_params ingot_sampler_default_params(void) { ingot_sampler_params p = {0}; p.size = sizeof p; return p; }
ingot_sampler *ingot_sampler_new(const ingot_sampler_params *p) { (void)p; return 0; }
void ingot_sampler_free(ingot_sampler *s) { (void)s; }
int32_t ingot_sampler_sample(ingot_sampler *s, const float *l, int32_t n) { (void)s; (void)l; (void)n; return 0; }
void ingot_sampler_accept(ingot_sampler *s, int32_t id) { (void)s; (void)id; }
void ingot_sampler_reset(ingot_sampler *s) { (void)s; }
bool ingot_sampler_is_greedy(const ingot_sampler *s) { (void)s; return true; }
