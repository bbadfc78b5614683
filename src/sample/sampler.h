/* The sampler's inside, for ingot_decode_sample: a backend that holds the
 * logits does the penalty and the top-k, the sampler the rest, and the id
 * is the one ingot_sampler_sample would pick from all the logits. */
#ifndef INGOT_SAMPLER_H
#define INGOT_SAMPLER_H

#include "ingot.h"

/* How many candidates the sampler can pick from: its top-k, 1 when greedy;
 * 0 when it needs every logit (top-k off). */
int32_t ig_sampler_need(const ingot_sampler *s, int32_t n_vocab);
/* Most ids ig_sampler_penalty_ids may write (the penalty window). */
int32_t ig_sampler_window(const ingot_sampler *s);
/* The distinct ids the repetition penalty applies to now (0 when it is
 * off), and the penalty. */
int32_t ig_sampler_penalty_ids(const ingot_sampler *s, int32_t n_vocab, int32_t *ids, float *penalty);
/* Pick from n candidates (penalty applied, any order) that hold the top
 * ig_sampler_need() logits: the id ingot_sampler_sample would return, and
 * the same draw from the random state. -1: out of memory. */
int32_t ig_sampler_pick(ingot_sampler *s, const int32_t *ids, const float *logits, int32_t n);

#endif
