/*
 * fuzz: what the libFuzzer targets share. A reader that takes typed pieces off the front
 * of libFuzzer's input (a missing byte reads as 0, so every input is usable), and
 * FUZZ_CHECK, which aborts when a property of the code under test does not hold:
 * libFuzzer keeps the input that made it fail, as it does for a sanitizer report.
 *
 * Strings are copied into buffers of exactly their size so AddressSanitizer sees a read
 * one byte past their end.
 */
#ifndef TMDBQ_FUZZ_H
#define TMDBQ_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry points (clang declares nothing for C). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, ...)                                                            \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
            abort();                                                                     \
        }                                                                                \
    } while (0)

struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
    uint8_t v = 0;

    if (in->n > 0) {
        v = in->p[0];
        in->p++;
        in->n--;
    }
    return v;
}

/* k bytes (at most 8), little-endian. */
static inline uint64_t fuzz_bits(struct fuzz_in *in, int k)
{
    uint64_t v = 0;

    for (int i = 0; i < k; i++)
        v |= (uint64_t)fuzz_u8(in) << (8 * i);
    return v;
}

static inline int64_t fuzz_i64(struct fuzz_in *in) { return (int64_t)fuzz_bits(in, 8); }

/* The bytes up to the next NUL (dropped) or the end, as a malloc'd string of exactly
 * that size; NULL only on out of memory. */
static inline char *fuzz_str(struct fuzz_in *in)
{
    const uint8_t *nul = memchr(in->p, 0, in->n);
    size_t len = nul != NULL ? (size_t)(nul - in->p) : in->n;
    char *s = malloc(len + 1);

    if (s == NULL)
        abort();
    if (len > 0)
        memcpy(s, in->p, len);
    s[len] = '\0';
    in->p += len;
    in->n -= len;
    if (nul != NULL) {
        in->p++;
        in->n--;
    }
    return s;
}

/* The whole input as one string (a NUL inside ends it, as it would for a C caller). */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL)
        abort();
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
