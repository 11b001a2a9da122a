/*
 * migrations: the SQL files of migrations/, embedded at build time
 * (migrations/embed.cmake), with what the manifest migrations/checksums.txt says of each.
 * Ordered by version; every string is NUL-terminated and lives for the whole process.
 */
#ifndef TMDBQ_MIGRATIONS_H
#define TMDBQ_MIGRATIONS_H

struct migration {
    int version;      /* from the file name: 001_init.sql -> 1 */
    const char *name; /* the file name */
    const char *sql;
    /* SHA-256 (lowercase hex) of the file as built, and the manifest's `current` checksum
     * of it ("" when the manifest has no line for it). They differ only in a tree where a
     * migration changed without the manifest, which test_manifest refuses. */
    const char *sha256;
    const char *listed_sha256;
    /* The manifest's `earlier` checksums of this file: texts of it that landed before
     * today's, which db_migrate accepts as recorded. NULL-terminated, maybe empty. */
    const char *const *earlier;
};

extern const struct migration migrations[];
extern const unsigned migrations_count;

/* File names the manifest lists that are no migration file (NULL-terminated; empty in a
 * sound tree). */
extern const char *const migrations_manifest_extra[];

#endif
