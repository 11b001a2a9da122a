/*
 * check: a tiny always-on assertion header for tests. A failed check prints where and
 * both sides, counts the failure and goes on; a test's main returns check_exit().
 */
#ifndef TMDBQ_CHECK_H
#define TMDBQ_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
            check_failures++;                                                            \
        }                                                                                \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                               \
    do {                                                                                 \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                  \
        if (check_a_ != check_b_) {                                                      \
            fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s == %s (%lld != %lld)\n",     \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);                     \
            check_failures++;                                                            \
        }                                                                                \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                               \
    do {                                                                                 \
        const char *check_a_ = (a), *check_b_ = (b);                                     \
        if (check_a_ == NULL || check_b_ == NULL || strcmp(check_a_, check_b_) != 0) {   \
            fprintf(stderr, "%s:%d: CHECK_STR_EQ failed: %s == %s (\"%s\" != \"%s\")\n", \
                    __FILE__, __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",          \
                    check_b_ ? check_b_ : "(null)");                                     \
            check_failures++;                                                            \
        }                                                                                \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                      \
    do {                                                                                 \
        const char *check_h_ = (hay), *check_n_ = (needle);                              \
        if (check_h_ == NULL || strstr(check_h_, check_n_) == NULL) {                    \
            fprintf(stderr,                                                              \
                    "%s:%d: CHECK_CONTAINS failed: \"%s\" does not contain \"%s\"\n",    \
                    __FILE__, __LINE__, check_h_ ? check_h_ : "(null)", check_n_);       \
            check_failures++;                                                            \
        }                                                                                \
    } while (0)

static inline int check_exit(void)
{
    if (check_failures)
        fprintf(stderr, "%d check(s) failed\n", check_failures);
    return check_failures ? 1 : 0;
}

#endif
