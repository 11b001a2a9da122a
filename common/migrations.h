/*
 * migrations: the SQL files of migrations/, embedded at build time (migrations/embed.cmake).
 * Ordered by version; the SQL text is NUL-terminated and lives for the whole process.
 */
#ifndef TMDBQ_MIGRATIONS_H
#define TMDBQ_MIGRATIONS_H

struct migration {
    int version;      /* from the file name: 001_init.sql -> 1 */
    const char *name; /* the file name */
    const char *sql;
};

extern const struct migration migrations[];
extern const unsigned migrations_count;

#endif
