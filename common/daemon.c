/*
 * daemon: start-up and exit status of the long-running programs (see daemon.h).
 */
#include "daemon.h"

#include <stdio.h>

#include "log.h"

bool daemon_start(const char *program, struct cfg *cfg,
                  enum status (*check)(const struct cfg *cfg, void *arg, struct err *e),
                  void *arg)
{
    struct err e = {0};

    if (cfg_load(cfg, &e) != ST_OK || (check != NULL && check(cfg, arg, &e) != ST_OK)) {
        fprintf(stderr, "%s: %s\n", program, e.msg);
        return false;
    }
    log_init(program, cfg->log_level, cfg->log_format);
    cfg_log_summary(cfg, TMDBQ_VERSION);
    return true;
}

int daemon_exit(enum status st, const struct err *e)
{
    if (st != ST_OK) {
        log_error("%s", e->msg);
        return status_exit_code(st) == 2 ? 2 : 1;
    }
    log_info("stopped");
    return 0;
}
