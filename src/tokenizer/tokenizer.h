/* Text <-> token ids from the vocabulary a GGUF file carries
 * (tokenizer.ggml.*): SentencePiece-style BPE with scores ("llama") and
 * byte-level BPE with merges ("gpt2") with llama.cpp's pre-tokenizers. */
#ifndef INGOT_TOKENIZER_H
#define INGOT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

typedef struct ig_vocab ig_vocab;

/* Build from a parsed file. Fails (thread error "PATH: problem") on missing
 * or inconsistent tokenizer keys; an unsupported tokenizer model gives
 * INGOT_ERR_UNSUPPORTED naming it. Warnings go through ig_log. */
ingot_status ig_vocab_load(const gguf *g, ig_vocab **out);
void ig_vocab_free(ig_vocab *v);

int32_t ig_vocab_n(const ig_vocab *v);
const char *ig_vocab_model(const ig_vocab *v); /* "llama", "gpt2" */
const char *ig_vocab_pre(const ig_vocab *v);   /* pre-tokenizer name in use */
int32_t ig_vocab_bos(const ig_vocab *v);
int32_t ig_vocab_eos(const ig_vocab *v);
int32_t ig_vocab_eot(const ig_vocab *v);
bool ig_vocab_add_bos(const ig_vocab *v);
bool ig_vocab_add_eos(const ig_vocab *v);
bool ig_vocab_is_eog(const ig_vocab *v, int32_t id);
bool ig_vocab_is_control(const ig_vocab *v, int32_t id);
const char *ig_vocab_text(const ig_vocab *v, int32_t id); /* NULL for bad id */

/* Same contract as ingot_tokenize(). */
int64_t ig_tokenize(const ig_vocab *v, const char *text, size_t len, bool add_special,
                    bool parse_special, int32_t *out, int64_t cap);
/* Same contract as ingot_token_to_piece(). */
int32_t ig_token_to_piece(const ig_vocab *v, int32_t id, bool special, char *buf, int32_t cap);

#endif
