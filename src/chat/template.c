/* PLACEHOLDER (replaced by the chat work). */
#include "core/util.h"
#include "model/model.h"
const char *ingot_chat_template_name(const ingot_model *m) { (void)m; return "plain"; }
int64_t ingot_chat_apply(const ingot_model *m, const char *t, const ingot_chat_msg *msgs, size_t n, bool a, char *b, size_t c) { (void)m; (void)t; (void)msgs; (void)n; (void)a; (void)b; (void)c; return -1; }
