/*
 * args: shared command-line helpers (see args.h).
 */
#include "args.h"

#include <stdio.h>
#include <string.h>

const struct option *args_option(const struct option *opts, int val)
{
    for (; opts->name != NULL; opts++) {
        if (opts->val == val)
            return opts;
    }
    return NULL;
}

bool args_whole_name(const char *arg, const char *name)
{
    size_t n = strlen(name);

    return strncmp(arg, "--", 2) == 0 && strncmp(arg + 2, name, n) == 0 &&
           (arg[2 + n] == '\0' || arg[2 + n] == '=');
}

int args_refuse(const char *program, const char *usage, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", program);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

int args_next(int argc, char **argv, const struct option *opts, bool *seen,
              const char *program, const char *usage)
{
    int at = optind;
    const struct option *opt;
    const char *arg;
    int c;

    /* "+": stop at the first argument that is not a flag, which is an error; ":": a
     * missing value is told apart from an unknown flag. The messages are ours. */
    opterr = 0;
    c = getopt_long(argc, argv, "+:h", opts, NULL);
    if (c == -1) {
        if (optind < argc) {
            args_refuse(program, usage, "unexpected argument \"%s\"", argv[optind]);
            return ARGS_REFUSED;
        }
        return ARGS_END;
    }
    arg = argv[at];
    opt = args_option(opts, c == '?' || c == ':' ? optopt : c);
    if (opt == NULL || (arg[1] == '-' && !args_whole_name(arg, opt->name)))
        args_refuse(program, usage, "unknown option \"%s\"", arg);
    else if (c == ':')
        args_refuse(program, usage, "--%s needs a value", opt->name);
    else if (c == '?')
        args_refuse(program, usage, "--%s takes no value", opt->name);
    else if (seen[opt - opts])
        args_refuse(program, usage, "--%s given more than once", opt->name);
    else if (c == 'h') {
        fputs(usage, stdout);
        return ARGS_ANSWERED;
    } else if (c == ARGS_VERSION) {
        printf("%s %s\n", program, TMDBQ_VERSION);
        return ARGS_ANSWERED;
    } else {
        seen[opt - opts] = true;
        return c;
    }
    return ARGS_REFUSED;
}

int args_exit_status(int c)
{
    if (c == ARGS_ANSWERED)
        return 0;
    return c == ARGS_REFUSED ? 2 : -1;
}
