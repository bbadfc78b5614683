/* Minimal test harness: CHECK records a failure and goes on; the program
 * ends with "N passed, N failed" and a non-zero exit on any failure. */
#ifndef INGOT_TEST_H
#define INGOT_TEST_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int t_pass, t_fail;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (cond) {                                                         \
            t_pass++;                                                       \
        } else {                                                            \
            t_fail++;                                                       \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

#define CHECK_NEAR(a, b, tol, what)                                                    \
    CHECK(fabs((double)(a) - (double)(b)) <= (tol), "%s: %.9g vs %.9g (tol %.3g)", what, \
          (double)(a), (double)(b), (double)(tol))

/* Create an empty temporary file from a mkstemp template (its XXXXXX
 * replaced in place); false (and a failed check) when it cannot be made. */
static inline bool test_tmpfile(char *path) {
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp %s", path);
    if (fd < 0) return false;
    close(fd);
    return true;
}

static inline int test_done(void) {
    printf("%d passed, %d failed\n", t_pass, t_fail);
    return t_fail ? 1 : 0;
}

/* Path of a file under tests/data (tests run from the source tree). */
#define TDATA(p) INGOT_SOURCE_DIR "/tests/data/" p

#endif
