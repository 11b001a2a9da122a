/*
 * test_cfg_readme: README.md's configuration table says what common/cfg.c reads.
 *
 * The rows of the first table under "## Configuration" in README.md, one variable a row,
 * are compared with those cfg_print_table writes from cfg.c's table: every variable of
 * either is in the other, with the same default. Then no program source outside cfg.c
 * calls getenv, so the table is every variable tmdbq reads. Needs no services; reads the
 * source tree (TMDBQ_SOURCE_DIR).
 *
 * With --print, writes cfg.c's table (the rows to paste into README.md) and exits.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "check.h"

#ifndef TMDBQ_SOURCE_DIR
#error "compile with -DTMDBQ_SOURCE_DIR=\"path of the source tree\""
#endif

#define ROWS_MAX 128
#define CELL_MAX 256
#define LINE_MAX_LEN 4096

struct row {
    char name[CELL_MAX];
    char dflt[CELL_MAX];
    int line;
};

struct table {
    struct row rows[ROWS_MAX];
    size_t n;
    int bad; /* rows that could not be read, each printed */
};

/* Copy cell i (0-based) of a Markdown table row into out, trimmed of spaces. False when
 * the row has fewer cells. */
static int cell(const char *line, int i, char *out, size_t n)
{
    const char *p = strchr(line, '|'), *end;
    size_t len;

    for (; p != NULL && i > 0; i--)
        p = strchr(p + 1, '|');
    if (p == NULL)
        return 0;
    p++;
    end = strchr(p, '|');
    if (end == NULL)
        return 0;
    while (p < end && *p == ' ')
        p++;
    while (end > p && end[-1] == ' ')
        end--;
    len = (size_t)(end - p);
    if (len >= n)
        len = n - 1;
    memcpy(out, p, len);
    out[len] = '\0';
    return 1;
}

/* Read the rows of a table from f, up to the first line that is not a row; the first
 * `skip` rows (the header, the |---| row) are not variables. line_no is the number of the
 * line before f's position, for messages. */
static void read_table(FILE *f, const char *what, int line_no, int skip, struct table *t)
{
    char line[LINE_MAX_LEN], first[CELL_MAX];
    int k = 0;

    t->n = 0;
    t->bad = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        size_t len = strlen(line);

        line_no++;
        if (line[0] != '|')
            break;
        if (len > 0 && line[len - 1] == '\n')
            line[len - 1] = '\0';
        if (k++ < skip)
            continue;
        if (t->n == ROWS_MAX || !cell(line, 0, first, sizeof first) ||
            !cell(line, 1, t->rows[t->n].dflt, sizeof t->rows[t->n].dflt)) {
            fprintf(stderr, "%s:%d: not a row of the table: %s\n", what, line_no, line);
            t->bad++;
            continue;
        }
        /* One variable a row: `NAME` and nothing else. */
        len = strlen(first);
        if (len < 3 || first[0] != '`' || first[len - 1] != '`' ||
            strcspn(first + 1, "` ,/") != len - 2) {
            fprintf(stderr,
                    "%s:%d: the first cell should be one variable, `NAME`, not \"%s\"\n",
                    what, line_no, first);
            t->bad++;
            continue;
        }
        snprintf(t->rows[t->n].name, sizeof t->rows[t->n].name, "%.*s", (int)(len - 2),
                 first + 1);
        t->rows[t->n].line = line_no;
        t->n++;
    }
}

static const struct row *find(const struct table *t, const char *name)
{
    size_t i;

    for (i = 0; i < t->n; i++) {
        if (strcmp(t->rows[i].name, name) == 0)
            return &t->rows[i];
    }
    return NULL;
}

/* The table under README.md's "## Configuration", before the next "## " heading. */
static int read_readme(const char *path, struct table *t)
{
    char line[LINE_MAX_LEN];
    FILE *f = fopen(path, "r");
    int line_no = 0, in_section = 0;

    if (f == NULL) {
        fprintf(stderr, "cannot read %s\n", path);
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        line_no++;
        if (strncmp(line, "## ", 3) == 0) {
            if (in_section)
                break;
            in_section = strcmp(line, "## Configuration\n") == 0;
            continue;
        }
        if (in_section && line[0] == '|') {
            /* That was the header; the |---| row is next. */
            read_table(f, path, line_no, 1, t);
            fclose(f);
            return 0;
        }
    }
    fclose(f);
    fprintf(stderr, "%s: no table under \"## Configuration\"\n", path);
    return -1;
}

static int read_cfg(struct table *t)
{
    FILE *f = tmpfile();

    if (f == NULL) {
        perror("tmpfile");
        return -1;
    }
    cfg_print_table(f);
    rewind(f);
    read_table(f, "cfg_print_table", 0, 2, t);
    fclose(f);
    return 0;
}

static void test_readme_table(void)
{
    static struct table readme, cfg;
    const char *path = TMDBQ_SOURCE_DIR "/README.md";
    int failures = check_failures;
    size_t i;

    CHECK_EQ_INT(read_cfg(&cfg), 0);
    CHECK_EQ_INT(cfg.bad, 0);
    CHECK(cfg.n >= 20);
    if (read_readme(path, &readme) != 0) {
        check_failures++;
        return;
    }
    CHECK_EQ_INT(readme.bad, 0);
    for (i = 0; i < cfg.n; i++) {
        const struct row *r = find(&readme, cfg.rows[i].name);

        if (r == NULL) {
            fprintf(stderr, "%s: no row for %s, which common/cfg.c reads\n", path,
                    cfg.rows[i].name);
            check_failures++;
        } else if (strcmp(r->dflt, cfg.rows[i].dflt) != 0) {
            fprintf(stderr, "%s:%d: %s: the default is %s, common/cfg.c says %s\n", path,
                    r->line, r->name, r->dflt, cfg.rows[i].dflt);
            check_failures++;
        }
    }
    for (i = 0; i < readme.n; i++) {
        const struct row *r = find(&cfg, readme.rows[i].name);

        if (r == NULL) {
            fprintf(stderr, "%s:%d: %s is not read by common/cfg.c\n", path,
                    readme.rows[i].line, readme.rows[i].name);
            check_failures++;
        }
        if (find(&readme, readme.rows[i].name) != &readme.rows[i]) {
            fprintf(stderr, "%s:%d: %s has a row already\n", path, readme.rows[i].line,
                    readme.rows[i].name);
            check_failures++;
        }
    }
    if (check_failures != failures) {
        fprintf(stderr,
                "\nThe table common/cfg.c describes (unit_test_cfg_readme --print):\n");
        cfg_print_table(stderr);
    }
}

/* Whether the file calls getenv (or secure_getenv). */
static int calls_getenv(const char *path)
{
    char line[LINE_MAX_LEN];
    FILE *f = fopen(path, "r");
    int found = 0, line_no = 0;

    if (f == NULL) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        line_no++;
        if (strstr(line, "getenv(") != NULL) {
            fprintf(stderr, "%s:%d: %s", path, line_no, line);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* Every variable a program reads is in cfg.c's table: no other source of the programs
 * calls getenv. common/tmdb.c looks at libcurl's proxy variables (http_proxy and the
 * like) to tell whether a proxy is in the way; they are libcurl's, not tmdbq's. */
static void test_only_cfg_reads_env(void)
{
    static const char *const dirs[] = {"common", "producer", "consumer", "reaper",
                                       "http"};
    static const char *const allowed[] = {"common/cfg.c", "common/tmdb.c"};
    size_t d, a, scanned = 0;

    for (d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
        char dir[1024];
        DIR *h;
        struct dirent *ent;

        snprintf(dir, sizeof dir, "%s/%s", TMDBQ_SOURCE_DIR, dirs[d]);
        h = opendir(dir);
        CHECK(h != NULL);
        if (h == NULL)
            continue;
        while ((ent = readdir(h)) != NULL) {
            char rel[512], path[1600];
            size_t len = strlen(ent->d_name);
            int skip = 0;

            if (len < 3 || (strcmp(ent->d_name + len - 2, ".c") != 0 &&
                            strcmp(ent->d_name + len - 2, ".h") != 0))
                continue;
            snprintf(rel, sizeof rel, "%s/%s", dirs[d], ent->d_name);
            for (a = 0; a < sizeof allowed / sizeof allowed[0]; a++)
                skip |= strcmp(rel, allowed[a]) == 0;
            if (skip)
                continue;
            snprintf(path, sizeof path, "%s/%s", TMDBQ_SOURCE_DIR, rel);
            scanned++;
            if (calls_getenv(path)) {
                fprintf(stderr,
                        "%s reads the environment itself: read the variable in "
                        "common/cfg.c's table and use its struct cfg field\n",
                        rel);
                check_failures++;
            }
        }
        closedir(h);
    }
    CHECK(scanned > 10);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--print") == 0) {
        cfg_print_table(stdout);
        return 0;
    }
    test_readme_table();
    test_only_cfg_reads_env();
    return check_exit();
}
