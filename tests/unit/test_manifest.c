/*
 * test_manifest: every migration file is listed in migrations/checksums.txt with the
 * SHA-256 of its text, so a landed migration can never be edited silently and a new one
 * cannot land without its line. Needs no services.
 *
 * The texts are those embedded into the programs (migrations/embed.cmake reads them from
 * the source tree at build time), hashed here by a SHA-256 of the test's own rather than
 * trusting the checksum the build computed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "migrations.h"

#define FIX_HINT                                                                         \
    "a landed migration is never edited (add a new numbered file instead); a migration " \
    "that has not landed yet gets its new checksum in migrations/checksums.txt"

/* ---- SHA-256 (FIPS 180-4), for short texts ---- */

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64], a[8], t1, t2;
    int i;

    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 64; i++)
        w[i] = (rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)) + w[i - 7] +
               (rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 16];
    memcpy(a, h, sizeof a);
    for (i = 0; i < 64; i++) {
        t1 = a[7] + (rotr(a[4], 6) ^ rotr(a[4], 11) ^ rotr(a[4], 25)) +
             ((a[4] & a[5]) ^ (~a[4] & a[6])) + sha_k[i] + w[i];
        t2 = (rotr(a[0], 2) ^ rotr(a[0], 13) ^ rotr(a[0], 22)) +
             ((a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]));
        memmove(a + 1, a, 7 * sizeof a[0]);
        a[4] += t1;
        a[0] = t1 + t2;
    }
    for (i = 0; i < 8; i++)
        h[i] += a[i];
}

/* The SHA-256 of text (its bytes up to the NUL) as 64 lowercase hex digits into hex. */
static void sha256_hex(const char *text, char hex[65])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const unsigned char *p = (const unsigned char *)text;
    size_t n = strlen(text), done = 0, rest;
    uint64_t bits = (uint64_t)n * 8;
    unsigned char tail[128] = {0};
    int i;

    for (; n - done >= 64; done += 64)
        sha_block(h, p + done);
    rest = n - done;
    memcpy(tail, p + done, rest);
    tail[rest] = 0x80;
    /* The length goes in the last 8 bytes of one block, or of a second when it does not
     * fit after the 0x80. */
    rest = rest < 56 ? 64 : 128;
    for (i = 0; i < 8; i++)
        tail[rest - 1 - i] = (unsigned char)(bits >> (8 * i));
    sha_block(h, tail);
    if (rest == 128)
        sha_block(h, tail + 64);
    for (i = 0; i < 8; i++)
        snprintf(hex + 8 * i, 9, "%08x", (unsigned)h[i]);
}

static void test_sha256(void)
{
    char hex[65];

    sha256_hex("", hex);
    CHECK_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("abc", hex);
    CHECK_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* 56 bytes: the padding needs a second block. */
    sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
    CHECK_STR_EQ(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* ---- the manifest ---- */

static void test_every_file_listed(void)
{
    char hex[65];

    CHECK(migrations_count > 0);
    for (unsigned i = 0; i < migrations_count; i++) {
        const struct migration *m = &migrations[i];

        sha256_hex(m->sql, hex);
        CHECK_STR_EQ(m->sha256, hex);
        if (m->listed_sha256[0] == '\0') {
            fprintf(stderr,
                    "migration \"%s\" has no line in migrations/checksums.txt: a new "
                    "migration is added there in the same commit (%s current %s)\n",
                    m->name, m->name, hex);
            check_failures++;
        } else if (strcmp(m->listed_sha256, hex) != 0) {
            fprintf(stderr,
                    "migration \"%s\" differs from migrations/checksums.txt (its "
                    "SHA-256 is %s, the manifest says %s): " FIX_HINT "\n",
                    m->name, hex, m->listed_sha256);
            check_failures++;
        }
        /* db_migrate tells files apart by version alone. */
        if (i > 0)
            CHECK(m->version > migrations[i - 1].version);
    }
}

static bool has_earlier(const char *name)
{
    for (unsigned i = 0; i < migrations_count; i++) {
        if (strcmp(migrations[i].name, name) == 0)
            return migrations[i].earlier[0] != NULL;
    }
    return false;
}

static void test_earlier_checksums(void)
{
    for (unsigned i = 0; i < migrations_count; i++) {
        const struct migration *m = &migrations[i];

        for (const char *const *x = m->earlier; *x != NULL; x++) {
            CHECK_EQ_INT(strlen(*x), 64);
            /* An earlier text that is today's, or listed twice, is a slip. */
            CHECK(strcmp(*x, m->listed_sha256) != 0);
            for (const char *const *y = x + 1; *y != NULL; y++)
                CHECK(strcmp(*x, *y) != 0);
        }
    }
    /* The texts of issue 11 that landed before they were edited stay accepted. */
    CHECK(has_earlier("002_tmdbq_core.sql"));
    CHECK(has_earlier("003_tmdbq_consumer.sql"));
    CHECK(has_earlier("005_tmdbq_control.sql"));
}

static void test_no_file_missing(void)
{
    for (const char *const *x = migrations_manifest_extra; *x != NULL; x++) {
        fprintf(stderr,
                "migrations/checksums.txt lists \"%s\", which is no migration file: a "
                "landed migration is never deleted or renamed\n",
                *x);
        check_failures++;
    }
}

int main(void)
{
    test_sha256();
    test_every_file_listed();
    test_earlier_checksums();
    test_no_file_missing();
    return check_exit();
}
