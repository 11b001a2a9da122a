/*
 * fuzz_capture: what a call writes to stderr, captured in a temporary file, for the
 * targets that check log lines (fuzz_cfg_env, fuzz_log_write). Only fd 2 is redirected,
 * and only during the call, so libFuzzer's own reports still reach the terminal.
 */
#ifndef TMDBQ_FUZZ_CAPTURE_H
#define TMDBQ_FUZZ_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static FILE *fuzz_capture_file;

/* Start capturing; returns the saved stderr for fuzz_capture_end. */
static inline int fuzz_capture_begin(void)
{
    int saved;

    if (fuzz_capture_file == NULL)
        fuzz_capture_file = tmpfile();
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    if (fuzz_capture_file == NULL || saved < 0 ||
        ftruncate(fileno(fuzz_capture_file), 0) != 0 ||
        lseek(fileno(fuzz_capture_file), 0, SEEK_SET) != 0 ||
        dup2(fileno(fuzz_capture_file), STDERR_FILENO) < 0)
        abort();
    return saved;
}

/* Stop capturing; what was written, malloc'd and NUL-terminated (a NUL written inside
 * would end it early: log lines hold none). */
static inline char *fuzz_capture_end(int saved)
{
    int fd = fileno(fuzz_capture_file);
    off_t n;
    char *text;

    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    n = lseek(fd, 0, SEEK_END);
    text = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (n < 0 || text == NULL || pread(fd, text, (size_t)n, 0) != n)
        abort();
    text[n] = '\0';
    return text;
}

#endif
