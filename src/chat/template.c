/* Chat templates without a Jinja engine.
 *
 * Like llama.cpp, ingot recognizes the *family* of a model's
 * tokenizer.chat_template by distinctive substrings and renders that family's
 * format in C. The renderers reproduce what the official Jinja templates give
 * (HF apply_chat_template, trim_blocks) for system/user/assistant messages,
 * with two deliberate deviations, both also made by llama.cpp:
 *
 *  - No leading BOS. Official templates often start with {{ bos_token }};
 *    callers tokenize the rendered text with add_special=true (which adds BOS
 *    when the vocab asks for it) and parse_special=true (so "<|im_start|>" and
 *    friends become their control tokens). Rendering the BOS as text as well
 *    would give two BOS tokens. A BOS *inside* the history (Llama 2's
 *    "</s><s>[INST]") is rendered as text and parsed as the control token.
 *  - Templates that reject a system message (Gemma, old Mistral) get it
 *    merged into a user turn instead of an error.
 *
 * The "plain" format, for models without a (recognized) template:
 *
 *     System: <system>\n            (only if there is a system message)
 *     User: <user>\n
 *     Assistant: <assistant>\n
 *     ...
 *     Assistant:                     (add_assistant; no trailing space, so
 *                                     SentencePiece vocabs can start the reply
 *                                     with a "▁word" token)
 *
 * and a reply ends where the model starts a "\nUser:" line. */
#include <ctype.h>
#include <string.h>

#include "core/util.h"
#include "model/model.h"

typedef enum tmpl_family {
    T_UNKNOWN = -1,
    T_PLAIN = 0,
    T_CHATML,
    T_LLAMA2,
    T_LLAMA3,
    T_MISTRAL,        /* Mistral-7B-Instruct v0.1/v0.2: no system role */
    T_MISTRAL_V1,
    T_MISTRAL_V3,
    T_MISTRAL_V3_TEKKEN,
    T_MISTRAL_V7,
    T_ZEPHYR,
    T_PHI3,
    T_GEMMA,
    T_COUNT
} tmpl_family;

static const char *const family_names[T_COUNT] = {
    [T_PLAIN] = "plain",
    [T_CHATML] = "chatml",
    [T_LLAMA2] = "llama2",
    [T_LLAMA3] = "llama3",
    [T_MISTRAL] = "mistral",
    [T_MISTRAL_V1] = "mistral-v1",
    [T_MISTRAL_V3] = "mistral-v3",
    [T_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
    [T_MISTRAL_V7] = "mistral-v7",
    [T_ZEPHYR] = "zephyr",
    [T_PHI3] = "phi3",
    [T_GEMMA] = "gemma",
};

static tmpl_family family_from_name(const char *s) {
    for (int i = 0; i < T_COUNT; i++)
        if (!strcmp(s, family_names[i])) return (tmpl_family)i;
    return T_UNKNOWN;
}

static bool has(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

/* Order matters: several families share markers (Phi-3 and Zephyr both use
 * <|user|>; Llama 2 and Mistral both use [INST]). */
static tmpl_family detect(const char *t) {
    if (has(t, "<|im_start|>")) {
        /* Phi-4 and SmolVLM reuse <|im_start|> with a different layout. */
        if (has(t, "<|im_sep|>") || has(t, "<end_of_utterance>")) return T_UNKNOWN;
        return T_CHATML;
    }
    if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>")) return T_LLAMA3;
    if (has(t, "[INST]") || strncmp(t, "mistral", 7) == 0) {
        if (has(t, "[SYSTEM_PROMPT]")) return T_MISTRAL_V7;
        if (has(t, "<<SYS>>")) return T_LLAMA2;
        /* Mistral's published v1 template prefixes turns with " [INST] ";
         * v3 and v3-tekken carry the [AVAILABLE_TOOLS] block and differ in
         * whether "[INST]" is followed by a space. */
        if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
            if (has(t, " [INST]")) return T_MISTRAL_V1;
            if (has(t, "\"[INST]\"")) return T_MISTRAL_V3_TEKKEN;
            return T_MISTRAL_V3;
        }
        return T_MISTRAL;
    }
    if (has(t, "<start_of_turn>")) return T_GEMMA;
    if (has(t, "<|end|>") && (has(t, "<|user|>") || has(t, "<|assistant|>"))) return T_PHI3;
    if (has(t, "<|user|>") &&
        (has(t, "</s>") || has(t, "eos_token") || has(t, "<|endoftext|>")))
        return T_ZEPHYR;
    return T_UNKNOWN;
}

static const char *model_template(const ingot_model *m) {
    const char *s = NULL;
    if (!m || !m->g || !gguf_get_str(m->g, "tokenizer.chat_template", &s)) return NULL;
    return s;
}

const char *ingot_chat_template_name(const ingot_model *m) {
    const char *t = model_template(m);
    if (!t) return family_names[T_PLAIN];
    tmpl_family f = detect(t);
    return family_names[f == T_UNKNOWN ? T_PLAIN : f];
}

/* ---- rendering --------------------------------------------------------- */

/* Appends into a caller buffer while counting the full length, so the caller
 * can size a second attempt from the return value. */
typedef struct out {
    char *buf;
    size_t cap, len;
} out;

static void put_n(out *o, const char *s, size_t n) {
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void put(out *o, const char *s) { put_n(o, s, strlen(s)); }

/* Jinja's |trim and Python's str.strip() (ASCII whitespace only: that is
 * what shows up in chat text in practice). */
static void put_trim(out *o, const char *s) {
    size_t a = 0, b = strlen(s);
    while (a < b && isspace((unsigned char)s[a])) a++;
    while (b > a && isspace((unsigned char)s[b - 1])) b--;
    put_n(o, s + a, b - a);
}

static bool is_role(const ingot_chat_msg *m, const char *r) { return !strcmp(m->role, r); }

/* Text of a special token as the template's bos_token / eos_token variables
 * would give it: the model's own when there is a model. */
static const char *special_text(const ingot_model *m, bool eos, const char *dflt) {
    if (!m || !m->vocab) return dflt;
    int32_t id = eos ? ingot_token_eos(m) : ingot_token_bos(m);
    const char *s = id >= 0 ? ingot_token_text(m, id) : NULL;
    return s && *s ? s : dflt;
}

static void render_simple_roles(out *o, const ingot_chat_msg *msgs, size_t n, bool add_ass,
                                const char *pre, const char *mid, const char *end,
                                const char *ass_prefix, bool trim) {
    for (size_t i = 0; i < n; i++) {
        put(o, pre);
        put(o, msgs[i].role);
        put(o, mid);
        if (trim) put_trim(o, msgs[i].content);
        else put(o, msgs[i].content);
        put(o, end);
    }
    if (add_ass) put(o, ass_prefix);
}

/* Llama 2 chat (Meta's template): the system prompt goes inside the first
 * [INST] in <<SYS>> tags; every turn after the first starts with BOS; content
 * is strip()ped after the system block is prepended. */
static void render_llama2(out *o, const ingot_model *m, const ingot_chat_msg *msgs, size_t n) {
    const char *bos = special_text(m, false, "<s>");
    const char *eos = special_text(m, true, "</s>");
    const char *sys = NULL;
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (is_role(&msgs[i], "system")) {
            sys = msgs[i].content;
            continue;
        }
        if (is_role(&msgs[i], "user")) {
            if (!first) put(o, bos);
            put(o, "[INST] ");
            if (sys) {
                /* strip() applies to the whole "<<SYS>>\n...content" string:
                 * only the content's right end (and, if the content is blank,
                 * the "\n\n" before it) loses whitespace. */
                put(o, "<<SYS>>\n");
                put(o, sys);
                const char *c = msgs[i].content;
                size_t b = strlen(c);
                while (b > 0 && isspace((unsigned char)c[b - 1])) b--;
                put(o, b ? "\n<</SYS>>\n\n" : "\n<</SYS>>");
                put_n(o, c, b);
                sys = NULL;
            } else {
                put_trim(o, msgs[i].content);
            }
            put(o, " [/INST]");
        } else {
            put(o, " ");
            put_trim(o, msgs[i].content);
            put(o, " ");
            put(o, eos);
        }
        first = false;
    }
}

/* The Mistral families. Where the system prompt goes differs: v0.x has no
 * system role (we prepend it to the first user turn like v1 does), v1 uses the
 * first user turn, v3 and v3-tekken the *last* one, v7 has its own block. */
static void render_mistral(out *o, const ingot_model *m, tmpl_family f,
                           const ingot_chat_msg *msgs, size_t n) {
    const char *eos = special_text(m, true, "</s>");
    const char *sys = NULL;
    size_t last_user = n;
    for (size_t i = 0; i < n; i++)
        if (is_role(&msgs[i], "user")) last_user = i;
    bool sys_last = f == T_MISTRAL_V3 || f == T_MISTRAL_V3_TEKKEN;
    for (size_t i = 0; i < n; i++) {
        const char *c = msgs[i].content;
        if (is_role(&msgs[i], "system")) {
            if (f == T_MISTRAL_V7) {
                put(o, "[SYSTEM_PROMPT] ");
                put(o, c);
                put(o, "[/SYSTEM_PROMPT]");
            } else {
                sys = c;
            }
            continue;
        }
        if (is_role(&msgs[i], "user")) {
            bool with_sys = sys && (!sys_last || i == last_user);
            switch (f) {
            case T_MISTRAL_V1: put(o, " [INST] "); break;
            case T_MISTRAL_V3_TEKKEN: put(o, "[INST]"); break;
            default: put(o, "[INST] "); break;
            }
            if (with_sys) {
                put(o, sys);
                put(o, "\n\n");
                sys = NULL;
            }
            put(o, c);
            switch (f) {
            case T_MISTRAL: case T_MISTRAL_V1: put(o, " [/INST]"); break;
            default: put(o, "[/INST]"); break;
            }
        } else {
            switch (f) {
            case T_MISTRAL: case T_MISTRAL_V3_TEKKEN: put(o, c); break;
            case T_MISTRAL_V3: put(o, " "); put_trim(o, c); break;
            default: put(o, " "); put(o, c); break;
            }
            put(o, eos);
        }
    }
}

/* Gemma: assistant is "model", content is trimmed, and the system prompt (no
 * role of its own) is prepended to the next user turn as Gemma 3 does. */
static void render_gemma(out *o, const ingot_chat_msg *msgs, size_t n, bool add_ass) {
    const char *sys = NULL;
    for (size_t i = 0; i < n; i++) {
        if (is_role(&msgs[i], "system")) {
            sys = msgs[i].content;
            continue;
        }
        bool model = is_role(&msgs[i], "assistant");
        put(o, "<start_of_turn>");
        put(o, model ? "model" : msgs[i].role);
        put(o, "\n");
        if (sys && !model) {
            put(o, sys);
            put(o, "\n\n");
            sys = NULL;
        }
        put_trim(o, msgs[i].content);
        put(o, "<end_of_turn>\n");
    }
    if (add_ass) put(o, "<start_of_turn>model\n");
}

static void render_plain(out *o, const ingot_chat_msg *msgs, size_t n, bool add_ass) {
    for (size_t i = 0; i < n; i++) {
        const ingot_chat_msg *m = &msgs[i];
        if (is_role(m, "system")) put(o, "System: ");
        else if (is_role(m, "user")) put(o, "User: ");
        else if (is_role(m, "assistant")) put(o, "Assistant: ");
        else {
            put(o, m->role);
            put(o, ": ");
        }
        put_trim(o, m->content);
        put(o, "\n");
    }
    if (add_ass) put(o, "Assistant:");
}

int64_t ingot_chat_apply(const ingot_model *m, const char *tmpl, const ingot_chat_msg *msgs,
                         size_t n_msgs, bool add_assistant, char *buf, size_t cap) {
    if ((!msgs && n_msgs) || (!buf && cap)) {
        ig_err(INGOT_ERR_INVALID_ARG, "chat: NULL messages or buffer");
        return -1;
    }
    for (size_t i = 0; i < n_msgs; i++) {
        if (!msgs[i].role || !msgs[i].content) {
            ig_err(INGOT_ERR_INVALID_ARG, "chat: message %zu has no role or content", i);
            return -1;
        }
    }
    tmpl_family f;
    if (tmpl) {
        /* A family name, or a Jinja template text to recognize. */
        f = family_from_name(tmpl);
        if (f == T_UNKNOWN) f = detect(tmpl);
        if (f == T_UNKNOWN) {
            char shown[168];
            ig_show(shown, sizeof shown, tmpl, strlen(tmpl));
            ig_err(INGOT_ERR_UNSUPPORTED, "chat: unknown chat template '%s'", shown);
            return -1;
        }
    } else if (m) {
        f = family_from_name(ingot_chat_template_name(m));
    } else {
        ig_err(INGOT_ERR_INVALID_ARG, "chat: need a model or a template name");
        return -1;
    }

    out o = {buf, cap, 0};
    switch (f) {
    case T_CHATML:
        render_simple_roles(&o, msgs, n_msgs, add_assistant, "<|im_start|>", "\n",
                            "<|im_end|>\n", "<|im_start|>assistant\n", false);
        break;
    case T_LLAMA3:
        render_simple_roles(&o, msgs, n_msgs, add_assistant, "<|start_header_id|>",
                            "<|end_header_id|>\n\n", "<|eot_id|>",
                            "<|start_header_id|>assistant<|end_header_id|>\n\n", true);
        break;
    case T_PHI3:
        render_simple_roles(&o, msgs, n_msgs, add_assistant, "<|", "|>\n", "<|end|>\n",
                            "<|assistant|>\n", false);
        break;
    case T_ZEPHYR: {
        const char *eos = special_text(m, true, "</s>");
        for (size_t i = 0; i < n_msgs; i++) {
            put(&o, "<|");
            put(&o, msgs[i].role);
            put(&o, "|>\n");
            put(&o, msgs[i].content);
            put(&o, eos);
            put(&o, "\n");
        }
        if (add_assistant) put(&o, "<|assistant|>\n");
        break;
    }
    case T_LLAMA2: render_llama2(&o, m, msgs, n_msgs); break;
    case T_MISTRAL:
    case T_MISTRAL_V1:
    case T_MISTRAL_V3:
    case T_MISTRAL_V3_TEKKEN:
    case T_MISTRAL_V7: render_mistral(&o, m, f, msgs, n_msgs); break;
    case T_GEMMA: render_gemma(&o, msgs, n_msgs, add_assistant); break;
    default: render_plain(&o, msgs, n_msgs, add_assistant); break;
    }
    if (o.len < cap) buf[o.len] = 0;
    if (o.len > (uint64_t)INT64_MAX) {
        ig_err(INGOT_ERR_INTERNAL, "chat: rendered text too long");
        return -1;
    }
    return (int64_t)o.len;
}
