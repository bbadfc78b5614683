/* Internal helpers shared by every part of the library: errors, logging,
 * overflow-checked arithmetic, half-precision conversions. */
#ifndef INGOT_UTIL_H
#define INGOT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ingot.h"

/* Record the thread's last error (printf-style) and return `s`, so that
 * failures read `return ig_err(INGOT_ERR_FORMAT, "%s: bad magic", path);`. */
ingot_status ig_err(ingot_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ig_clear_err(void);

/* A printable, one-line rendering of len bytes from a file (a key, a name,
 * a model string) for messages: non-ASCII, control bytes, quote and
 * backslash as \xNN, cut after 40 bytes. */
void ig_show(char *out, size_t cap, const char *s, size_t len);

void ig_log(ingot_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Overflow-checked size arithmetic: return false on overflow. */
static inline bool ig_add_ok(uint64_t a, uint64_t b, uint64_t *r) {
    return !__builtin_add_overflow(a, b, r);
}
static inline bool ig_mul_ok(uint64_t a, uint64_t b, uint64_t *r) {
    return !__builtin_mul_overflow(a, b, r);
}

/* IEEE half <-> float, exact in both directions (round to nearest even). */
static inline float ig_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t ig_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffff;
    if (absx > 0x7f800000) return (uint16_t)(sign | 0x7e00); /* NaN */
    if (absx >= 0x47800000) {                                 /* overflow -> inf */
        /* values that round to 65520 or more become infinity */
        return (uint16_t)(sign | 0x7c00);
    }
    if (absx < 0x38800000) { /* subnormal half or zero */
        if (absx < 0x33000000) return (uint16_t)sign; /* < 2^-25 rounds to 0 */
        uint32_t e = absx >> 23;
        uint32_t m = (absx & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t e = (absx >> 23) - 127 + 15;
    uint32_t m = absx & 0x7fffff;
    uint32_t r = (e << 10) | (m >> 13);
    uint32_t rem = m & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++; /* may carry into exp: correct */
    return (uint16_t)(sign | r);
}

static inline float ig_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t ig_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 64); /* quiet NaN */
    return (uint16_t)((x + (0x7fff + ((x >> 16) & 1))) >> 16);
}

/* Monotonic clock in seconds. */
double ig_time(void);

#endif
