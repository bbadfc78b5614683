/* Chat templates (rendering and detection), the chat history JSON format, and
 * incremental evaluation of a conversation through the public API.
 *
 * Also a helper for tests/cli_chat.sh:
 *   test_chat --write-chatml-model OUT.gguf
 * writes llama-micro-f16 plus a ChatML tokenizer.chat_template. */
#include <unistd.h>

#include "gguf/gguf.h"
#include "ingot.h"
#include "model/model.h"
#include "test.h"

/* The CLI's history code is not in the library; compile it in. */
#include "../tools/ingot/chat_history.c"

static const ingot_chat_msg conv[] = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
};
#define N_CONV (sizeof conv / sizeof conv[0])

/* Written by hand from each family's official Jinja template (HF
 * apply_chat_template with add_generation_prompt), leading BOS left out. */
static const struct {
    const char *name, *expected;
} expect[] = {
    {"chatml",
     "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
     "<|im_start|>user\nHello<|im_end|>\n"
     "<|im_start|>assistant\nHi there<|im_end|>\n"
     "<|im_start|>user\nWho are you<|im_end|>\n"
     "<|im_start|>assistant\n"},
    {"llama2",
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s>"
     "<s>[INST] Who are you [/INST]"},
    {"llama3",
     "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"mistral", "[INST] You are a helpful assistant\n\nHello [/INST]Hi there</s>"
                "[INST] Who are you [/INST]"},
    {"mistral-v1", " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s>"
                   " [INST] Who are you [/INST]"},
    {"mistral-v3", "[INST] Hello[/INST] Hi there</s>"
                   "[INST] You are a helpful assistant\n\nWho are you[/INST]"},
    {"mistral-v3-tekken", "[INST]Hello[/INST]Hi there</s>"
                          "[INST]You are a helpful assistant\n\nWho are you[/INST]"},
    {"mistral-v7", "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT]"
                   "[INST] Hello[/INST] Hi there</s>[INST] Who are you[/INST]"},
    {"zephyr",
     "<|system|>\nYou are a helpful assistant</s>\n<|user|>\nHello</s>\n"
     "<|assistant|>\nHi there</s>\n<|user|>\nWho are you</s>\n<|assistant|>\n"},
    {"phi3",
     "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n"
     "<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n"},
    {"gemma",
     "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n"
     "<start_of_turn>model\nHi there<end_of_turn>\n"
     "<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\n"},
    {"plain", "System: You are a helpful assistant\nUser: Hello\nAssistant: Hi there\n"
              "User: Who are you\nAssistant:"},
};
#define N_EXPECT (sizeof expect / sizeof expect[0])

/* Short real-looking template texts as models ship them (abridged where the
 * full text is long; every marker the detector keys on is from the original). */
static const struct {
    const char *family, *jinja;
} real[] = {
    {"chatml", "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
               "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if "
               "add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"},
    {"llama2",
     "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set "
     "system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages "
     "%}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if "
     "loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + "
     "system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = "
     "message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + "
     "'[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ "
     "' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"},
    {"llama3",
     "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
     "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | "
     "trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% "
     "endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
     "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"},
    {"mistral",
     "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
     "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
     "user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ "
     "'[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' "
     "%}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and "
     "assistant roles are supported!') }}{% endif %}{% endfor %}"},
    {"mistral-v1",
     "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = "
     "messages[0]['content'] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    "
     "{%- set loop_messages = messages %}\n{%- endif %}\n\n{{- bos_token }}\n{%- for message in "
     "loop_messages %}\n    {%- if message['role'] == 'user' %}\n        {%- if loop.first and "
     "system_message is defined %}\n            {{- ' [INST] ' + system_message + '\\n\\n' + "
     "message['content'] + ' [/INST]' }}\n        {%- else %}\n            {{- ' [INST] ' + "
     "message['content'] + ' [/INST]' }}\n        {%- endif %}\n    {%- elif message['role'] "
     "== 'assistant' %}\n        {{- ' ' + message['content'] + eos_token}}\n    {%- endif "
     "%}\n{%- endfor %}\n"},
    {"mistral-v3",
     "{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if message[\"role\"] == "
     "\"user\" %}\n        {%- if tools is not none and (message == user_messages[-1]) %}\n   "
     "         {{- \"[AVAILABLE_TOOLS] [\" }}\n        {%- endif %}\n        {%- if loop.last "
     "and system_message is defined %}\n            {{- \"[INST] \" + system_message + "
     "\"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}\n        {%- else %}\n            {{- "
     "\"[INST] \" + message[\"content\"] + \"[/INST]\" }}\n        {%- endif %}\n    {%- elif "
     "message[\"role\"] == \"assistant\" %}\n        {{- \" \" + message[\"content\"]|trim + "
     "eos_token}}\n    {%- endif %}\n{%- endfor %}\n"},
    {"mistral-v3-tekken",
     "{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if message[\"role\"] == "
     "\"user\" %}\n        {%- if tools is not none and (message == user_messages[-1]) %}\n   "
     "         {{- \"[AVAILABLE_TOOLS][\" }}\n        {%- endif %}\n        {%- if loop.last "
     "and system_message is defined %}\n            {{- \"[INST]\" + system_message + "
     "\"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}\n        {%- else %}\n            {{- "
     "\"[INST]\" + message[\"content\"] + \"[/INST]\" }}\n        {%- endif %}\n    {%- elif "
     "message[\"role\"] == \"assistant\" %}\n        {{- message[\"content\"] + eos_token}}\n  "
     "  {%- endif %}\n{%- endfor %}\n"},
    {"mistral-v7",
     "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] "
     "' + message['content'] + '[/INST]' }}{% elif message['role'] == 'system' %}{{ "
     "'[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' }}{% elif message['role'] "
     "== 'assistant' %}{{ ' ' + message['content'] + eos_token }}{% endif %}{% endfor %}"},
    {"zephyr",
     "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + "
     "message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ "
     "'<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == "
     "'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif "
     "%}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% "
     "endfor %}"},
    {"phi3",
     "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') "
     "%}{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + "
     "'\n'}}{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + "
     "'\n'}}{% endif %}{% endfor %}"},
    {"gemma",
     "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role "
     "not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == "
     "'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% "
     "endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + "
     "'<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}"
     "{% endif %}"},
    /* Not a family ingot renders: falls back to plain. */
    {"plain", "{% for message in messages %}{{ message['content'] }}{% endfor %}"},
    {"plain", "{% for message in messages %}{{'<|im_start|>' + message['role'] + '<|im_sep|>' "
              "+ message['content'] + '<|im_end|>'}}{% endfor %}"},
};
#define N_REAL (sizeof real / sizeof real[0])

static char *apply(const ingot_model *m, const char *tmpl, const ingot_chat_msg *msgs, size_t n,
                   bool add_ass) {
    int64_t need = ingot_chat_apply(m, tmpl, msgs, n, add_ass, NULL, 0);
    if (need < 0) return NULL;
    char *buf = malloc((size_t)need + 1);
    int64_t got = ingot_chat_apply(m, tmpl, msgs, n, add_ass, buf, (size_t)need + 1);
    if (got != need) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void test_render(void) {
    for (size_t i = 0; i < N_EXPECT; i++) {
        char *s = apply(NULL, expect[i].name, conv, N_CONV, true);
        CHECK(s && !strcmp(s, expect[i].expected), "%s renders\n%s\n--- expected ---\n%s",
              expect[i].name, s ? s : "(null)", expect[i].expected);
        free(s);
    }

    /* llama.cpp's test conversation, with whitespace around a reply, against
     * its expectations for the families whose official template trims (or
     * not). */
    static const ingot_chat_msg conv6[] = {
        {"system", "You are a helpful assistant"}, {"user", "Hello"},
        {"assistant", "Hi there"},                 {"user", "Who are you"},
        {"assistant", "   I am an assistant   "},  {"user", "Another question"},
    };
    char *s = apply(NULL, "chatml", conv6, 6, true);
    CHECK(s && !strcmp(s, "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
                          "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi "
                          "there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n"
                          "<|im_start|>assistant\n   I am an assistant   <|im_end|>\n"
                          "<|im_start|>user\nAnother question<|im_end|>\n"
                          "<|im_start|>assistant\n"),
          "chatml keeps whitespace: %s", s);
    free(s);
    s = apply(NULL, "llama3", conv6, 6, true);
    CHECK(s && strstr(s, "<|end_header_id|>\n\nI am an assistant<|eot_id|>"), "llama3 trims: %s",
          s);
    free(s);
    s = apply(NULL, "llama2", conv6, 6, true);
    CHECK(s && !strcmp(s, "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello "
                          "[/INST] Hi there </s><s>[INST] Who are you [/INST] I am an "
                          "assistant </s><s>[INST] Another question [/INST]"),
          "llama2 strips: %s", s);
    free(s);
    s = apply(NULL, "gemma", conv6, 6, true);
    CHECK(s && strstr(s, "<start_of_turn>model\nI am an assistant<end_of_turn>\n"), "gemma trims");
    free(s);
    s = apply(NULL, "mistral-v3", conv6, 6, true);
    CHECK(s && !strcmp(s, "[INST] Hello[/INST] Hi there</s>[INST] Who are you[/INST] I am an "
                          "assistant</s>[INST] You are a helpful assistant\n\nAnother "
                          "question[/INST]"),
          "mistral-v3 (system on the last user turn): %s", s);
    free(s);

    /* add_assistant=false ends after the last message. */
    s = apply(NULL, "chatml", conv, 2, false);
    CHECK(s && !strcmp(s, "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
                          "<|im_start|>user\nHello<|im_end|>\n"),
          "chatml without assistant prefix: %s", s);
    free(s);
    s = apply(NULL, "plain", conv + 1, 1, true);
    CHECK(s && !strcmp(s, "User: Hello\nAssistant:"), "plain, no system: %s", s);
    free(s);

    /* Buffer contract: the needed length whatever the cap, never overrun. */
    char small[8];
    memset(small, 'x', sizeof small);
    int64_t need = ingot_chat_apply(NULL, "chatml", conv, N_CONV, true, small, 5);
    CHECK(need == (int64_t)strlen(expect[0].expected), "needed length %lld", (long long)need);
    CHECK(!memcmp(small, "<|im_x", 6), "writes at most cap bytes");
    need = ingot_chat_apply(NULL, "chatml", NULL, 0, true, small, sizeof small);
    CHECK(need == (int64_t)strlen("<|im_start|>assistant\n"), "no messages: %lld", (long long)need);

    /* Errors. */
    CHECK(ingot_chat_apply(NULL, "no such template", conv, N_CONV, true, NULL, 0) < 0,
          "unknown template name is an error");
    CHECK(ingot_chat_apply(NULL, "{% for m in x %}\n{{ m }}", conv, N_CONV, true, NULL, 0) < 0 &&
              !strchr(ingot_last_error(), '\n') && strstr(ingot_last_error(), "%}\\x0a{{"),
          "an unknown template's text shown on one line: %s", ingot_last_error());
    CHECK(ingot_chat_apply(NULL, NULL, conv, N_CONV, true, NULL, 0) < 0,
          "no model and no template is an error");
    ingot_chat_msg bad = {"user", NULL};
    CHECK(ingot_chat_apply(NULL, "chatml", &bad, 1, true, NULL, 0) < 0, "NULL content");
}

static void test_detect(void) {
    /* ingot_chat_template_name reads the model's GGUF metadata: give it a
     * model with nothing but a parsed file holding that key. */
    char path[] = "/tmp/ingot_tmpl_XXXXXX";
    if (!test_tmpfile(path)) return;
    for (size_t i = 0; i < N_REAL; i++) {
        gguf_writer *w = gguf_writer_new();
        gguf_writer_set_str(w, "general.architecture", "llama");
        gguf_writer_set_str(w, "tokenizer.chat_template", real[i].jinja);
        ingot_status st = gguf_writer_write(w, path);
        gguf_writer_free(w);
        gguf *g = NULL;
        if (st != INGOT_OK || gguf_open(path, &g) != INGOT_OK) {
            CHECK(0, "template file %zu: %s", i, ingot_last_error());
            continue;
        }
        struct ingot_model m;
        memset(&m, 0, sizeof m);
        m.g = g;
        const char *name = ingot_chat_template_name(&m);
        CHECK(!strcmp(name, real[i].family), "template %zu detected as %s, expected %s", i,
              name, real[i].family);
        /* A template text given as tmpl renders like its family name. */
        if (strcmp(real[i].family, "plain")) {
            char *a = apply(NULL, real[i].jinja, conv, N_CONV, true);
            char *b = apply(NULL, real[i].family, conv, N_CONV, true);
            CHECK(a && b && !strcmp(a, b), "text %zu renders as %s", i, real[i].family);
            free(a);
            free(b);
        }
        gguf_close(g);
    }
    unlink(path);
    CHECK(!strcmp(ingot_chat_template_name(NULL), "plain"), "no model: plain");
}

/* ---- history JSON ----------------------------------------------------- */

static bool same_history(const chat_history *a, const chat_history *b) {
    if ((a->system == NULL) != (b->system == NULL)) return false;
    if (a->system && strcmp(a->system, b->system)) return false;
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->msgs[i].role, b->msgs[i].role) ||
            strcmp(a->msgs[i].content, b->msgs[i].content))
            return false;
    return true;
}

static void test_json(void) {
    chat_history h, back;
    chat_history_init(&h);
    chat_history_init(&back);
    chat_history_set_system(&h, "Tu es un assistant \xe2\x80\x94 utile \xe2\x9c\x93");
    chat_history_add(&h, "user", "quote \" backslash \\ slash / newline\n tab\t cr\r ctl\x01\x1f del\x7f");
    chat_history_add(&h, "assistant", "emoji \xf0\x9f\x98\x80 CJK \xe4\xb8\xad\xe6\x96\x87 \xc3\xa9");
    chat_history_add(&h, "user", "");
    char path[] = "/tmp/ingot_chat_test_XXXXXX";
    test_tmpfile(path); /* on failure the checks below fail as well */
    char err[256] = "";
    CHECK(chat_history_save(&h, path, err, sizeof err), "save: %s", err);
    CHECK(chat_history_load(path, &back, err, sizeof err), "load: %s", err);
    CHECK(same_history(&h, &back), "round trip");
    unlink(path);

    /* No system prompt round-trips as null. */
    chat_history_set_system(&h, NULL);
    size_t len;
    char *js = chat_history_to_json(&h, &len);
    CHECK(js && strstr(js, "\"system\": null"), "null system");
    CHECK(chat_history_from_json(js, len, &back, err, sizeof err) && same_history(&h, &back),
          "round trip without system: %s", err);
    free(js);

    /* Escapes written by other tools. */
    const char *in = "{ \"messages\" : [ {\"content\":\"\\u00e9\\u4E2D\\ud83d\\ude00\\n\\\"\\\\\\/"
                     "\\b\\f\\r\\t\", \"role\":\"user\"} ], \"system\":\"s\" }";
    CHECK(chat_history_from_json(in, strlen(in), &back, err, sizeof err), "escapes: %s", err);
    CHECK(back.n == 1 && back.system && !strcmp(back.system, "s") &&
              !strcmp(back.msgs[0].content,
                      "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\n\"\\/\b\f\r\t"),
          "escapes decoded");
    const char *empty = "{\"messages\":[]}";
    CHECK(chat_history_from_json(empty, strlen(empty), &back, err, sizeof err) && back.n == 0 &&
              !back.system,
          "empty conversation: %s", err);

    /* Malformed: each rejected with a message, and the target left alone. */
    chat_history_add(&back, "user", "keep me");
    static const char *bad[] = {
        "",
        "[]",
        "{",
        "{\"messages\":[}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]} x",
        "{\"messages\":[{\"role\":\"user\"}]}",
        "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"extra\":1}]}",
        "{\"messages\":[{\"role\":\"user\",\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud83d\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\\ude00\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud83d\\u0041\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\\u12\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\\u0000\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\\x\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"a\nb\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\xed\xa0\x80\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\xc0\xaf\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"unterminated}]}",
        "{\"system\":\"a\",\"system\":\"b\",\"messages\":[]}",
        "{\"system\":1,\"messages\":[]}",
        "{\"system\":\"a\"}",
        "{\"messages\":{}}",
        "{\"other\":[],\"messages\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        bool ok = chat_history_from_json(bad[i], strlen(bad[i]), &back, err, sizeof err);
        CHECK(!ok && err[0], "malformed %zu accepted: %s", i, bad[i]);
        CHECK(back.n == 1 && !strcmp(back.msgs[0].content, "keep me"), "malformed %zu clobbered",
              i);
    }
    /* Truncations of a valid file must all fail cleanly (no over-read:
     * ASan checks). */
    js = chat_history_to_json(&h, &len);
    for (size_t k = 0; js && k < len - 2; k++) {
        char *cut = malloc(k ? k : 1);
        memcpy(cut, js, k);
        CHECK(!chat_history_from_json(cut, k, &back, err, sizeof err), "truncated at %zu", k);
        free(cut);
    }
    free(js);
    CHECK(!chat_history_load("/nonexistent/ingot.json", &back, err, sizeof err) &&
              strstr(err, "/nonexistent/ingot.json"),
          "missing file: %s", err);
    chat_history_free(&h);
    chat_history_free(&back);
}

/* ---- a real model ------------------------------------------------------- */

static const char *chatml_jinja =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";

static bool write_chatml_model(const char *out) {
    gguf *g = NULL;
    if (gguf_open(TDATA("models/llama-micro-f16.gguf"), &g) != INGOT_OK) {
        fprintf(stderr, "open: %s\n", ingot_last_error());
        return false;
    }
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_alignment(w, (uint32_t)g->alignment);
    for (int64_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv[i].key.s, "tokenizer.chat_template")) gguf_writer_copy_kv(w, &g->kv[i]);
    gguf_writer_set_str(w, "tokenizer.chat_template", chatml_jinja);
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        gguf_writer_add_tensor(w, t->name.s, t->type, t->n_dims, t->ne, t->data, NULL, NULL);
    }
    ingot_status st = gguf_writer_write(w, out);
    if (st != INGOT_OK) fprintf(stderr, "write: %s\n", ingot_last_error());
    gguf_writer_free(w);
    gguf_close(g);
    return st == INGOT_OK;
}

static int32_t *tok(const ingot_model *m, const char *s, int64_t *n) {
    int64_t cap = (int64_t)strlen(s) + 16; /* never more tokens than bytes, plus BOS/EOS */
    int32_t *t = malloc((size_t)cap * sizeof *t);
    *n = ingot_tokenize(m, s, strlen(s), true, true, t, cap);
    return t;
}

static void test_model(void) {
    char path[] = "/tmp/ingot_chatml_XXXXXX";
    if (!test_tmpfile(path)) return;
    bool ok = write_chatml_model(path);
    CHECK(ok, "write the ChatML model");
    ingot_model *m = NULL;
    ingot_model_params mp = ingot_model_default_params();
    mp.backend = INGOT_BACKEND_CPU;
    if (!ok || ingot_model_load(path, &mp, &m) != INGOT_OK) {
        CHECK(0, "load the ChatML model: %s", ingot_last_error());
        unlink(path);
        return;
    }
    CHECK(!strcmp(ingot_chat_template_name(m), "chatml"), "detected %s",
          ingot_chat_template_name(m));
    ingot_model_info info;
    ingot_model_get_info(m, &info);
    CHECK(info.chat_template && !strcmp(info.chat_template, chatml_jinja), "info.chat_template");

    ingot_context *c = NULL;
    ingot_context_params cp = ingot_context_default_params();
    cp.n_ctx = 256;
    CHECK(ingot_context_new(m, &cp, &c) == INGOT_OK, "context: %s", ingot_last_error());
    if (!c) {
        ingot_model_free(m);
        unlink(path);
        return;
    }

    /* Turn 1. */
    ingot_chat_msg msgs[4] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", ""},
                              {"user", "Tell me more"}};
    char *p1 = apply(m, NULL, msgs, 2, true);
    int64_t n1;
    int32_t *t1 = tok(m, p1, &n1);
    CHECK(n1 > 0 && t1[0] == ingot_token_bos(m), "one BOS first");
    CHECK(n1 > 1 && t1[1] != ingot_token_bos(m), "no double BOS");
    int32_t id;
    CHECK(ingot_decode_greedy(c, t1, (int32_t)n1, &id) == INGOT_OK, "decode turn 1");
    ingot_detok *dt = ingot_detok_new(m, false);
    char reply[512] = "";
    size_t rl = 0;
    for (int i = 0; i < 6 && !ingot_token_is_eog(m, id); i++) {
        rl += ingot_detok_push(dt, id, reply + rl, sizeof reply - rl - 1);
        int32_t cur = id;
        CHECK(ingot_decode_greedy(c, &cur, 1, &id) == INGOT_OK, "decode reply");
    }
    rl += ingot_detok_flush(dt, reply + rl, sizeof reply - rl - 1);
    reply[rl] = 0;
    ingot_detok_free(dt);
    uint32_t pos1 = ingot_context_pos(c);

    /* Turn 2: only what differs from the cache is evaluated. */
    msgs[2].content = reply;
    char *p2 = apply(m, NULL, msgs, 4, true);
    CHECK(!strncmp(p2, p1, strlen(p1)), "turn 2 text extends turn 1");
    int64_t n2;
    int32_t *t2 = tok(m, p2, &n2);
    int64_t common = 0;
    while (common < n1 && common < n2 && t1[common] == t2[common]) common++;
    /* SentencePiece may merge the last prompt token with the reply. */
    CHECK(common >= n1 - 2, "turn 2 tokens keep turn 1's prompt (%lld of %lld)",
          (long long)common, (long long)n1);
    CHECK(ingot_context_truncate(c, (uint32_t)common) == INGOT_OK, "truncate");
    CHECK(ingot_decode(c, t2 + common, (int32_t)(n2 - common), false) == INGOT_OK, "decode 2");
    CHECK(ingot_context_pos(c) == (uint32_t)n2, "context holds exactly turn 2 (%u vs %lld)",
          ingot_context_pos(c), (long long)n2);
    CHECK(pos1 >= (uint32_t)common, "turn 1 cache %u", pos1);
    const float *lg = ingot_get_logits(c, -1);
    int32_t nv = ingot_n_vocab(m);
    float *inc = malloc((size_t)nv * sizeof *inc);
    if (lg) memcpy(inc, lg, (size_t)nv * sizeof *inc);

    /* Same logits as evaluating turn 2 from scratch. */
    CHECK(ingot_context_truncate(c, 0) == INGOT_OK, "clear");
    CHECK(ingot_decode(c, t2, (int32_t)n2, false) == INGOT_OK, "decode fresh");
    const float *fresh = ingot_get_logits(c, -1);
    double maxd = 0;
    for (int32_t i = 0; lg && fresh && i < nv; i++) {
        double d = fabs((double)inc[i] - fresh[i]);
        if (d > maxd) maxd = d;
    }
    CHECK(lg && fresh && maxd < 1e-2, "incremental == fresh logits (max diff %g)", maxd);

    free(inc);
    free(p1);
    free(p2);
    free(t1);
    free(t2);
    ingot_context_free(c);
    ingot_model_free(m);
    unlink(path);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write-chatml-model"))
        return write_chatml_model(argv[2]) ? 0 : 1;
    test_render();
    test_detect();
    test_json();
    test_model();
    return test_done();
}
