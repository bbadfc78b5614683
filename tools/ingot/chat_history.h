/* A chat conversation (system prompt + messages) and its JSON file form:
 *
 *   {"system": "...", "messages": [{"role": "user", "content": "..."}, ...]}
 *
 * Self-contained (no cli.h) so that tests/test_chat.c can compile it in. */
#ifndef INGOT_CHAT_HISTORY_H
#define INGOT_CHAT_HISTORY_H

#include <stdbool.h>
#include <stddef.h>

#include "ingot.h"

typedef struct chat_history {
    char *system;        /* NULL: none */
    ingot_chat_msg *msgs; /* role and content are owned (malloc'd) */
    size_t n, cap;
} chat_history;

void chat_history_init(chat_history *h);
void chat_history_free(chat_history *h);
/* Forget the messages, keep the system prompt. */
void chat_history_clear(chat_history *h);
/* Copies role and content. false when out of memory. */
bool chat_history_add(chat_history *h, const char *role, const char *content);
/* Remove messages [i, i + k). */
void chat_history_remove(chat_history *h, size_t i, size_t k);
bool chat_history_set_system(chat_history *h, const char *system); /* NULL clears */

/* System prompt (if any) followed by the messages, as views into h, in a new
 * malloc'd array of *n entries (NULL and *n = 0 when empty or out of memory). */
ingot_chat_msg *chat_history_view(const chat_history *h, size_t *n);

/* Serialize to a malloc'd NUL-terminated JSON text. */
char *chat_history_to_json(const chat_history *h, size_t *len);
/* Parse JSON text of exactly the shape above into *out (which must be
 * initialized; replaced only on success). On failure returns false and writes
 * a message like "line 3: expected ':'" into err. */
bool chat_history_from_json(const char *text, size_t len, chat_history *out, char *err,
                            size_t errcap);

/* File forms of the above; on failure err says why (with the path). */
bool chat_history_save(const chat_history *h, const char *path, char *err, size_t errcap);
bool chat_history_load(const char *path, chat_history *out, char *err, size_t errcap);

#endif
