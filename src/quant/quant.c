/* PLACEHOLDER (replaced by the tensor-format work). */
#include "quant/quant.h"
#include "ingot.h"
const ig_type_traits *ig_type_traits_get(uint32_t t) { (void)t; return 0; }
size_t ig_row_size(uint32_t t, int64_t n) { (void)t; (void)n; return 0; }
void ig_dequant_row(uint32_t t, const void *s, float *d, int64_t n) { (void)t; (void)s; (void)d; (void)n; }
void ig_quant_row(uint32_t t, const float *s, void *d, int64_t n) { (void)t; (void)s; (void)d; (void)n; }
size_t ig_quantize(uint32_t t, const float *s, void *d, int64_t r, int64_t c) { (void)t; (void)s; (void)d; (void)r; (void)c; return 0; }
const char *ingot_type_name(uint32_t t) { (void)t; return 0; }
bool ingot_type_can_dequant(uint32_t t) { (void)t; return 0; }
bool ingot_type_can_quant(uint32_t t) { (void)t; return 0; }
size_t ingot_type_row_size(uint32_t t, int64_t n) { (void)t; (void)n; return 0; }
int64_t ingot_type_block_size(uint32_t t) { (void)t; return 0; }
int ingot_type_from_name(const char *n) { (void)n; return -1; }
