/*
 * args: shared command-line helpers (see args.h).
 */
#include "args.h"

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
