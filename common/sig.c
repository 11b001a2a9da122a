/*
 * sig: stop signals (see sig.h). The handler touches nothing but one volatile
 * sig_atomic_t, or calls _exit, both async-signal-safe.
 */
#include "sig.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    (void)sig;
    if (stop_signal)
        _exit(1);
    stop_signal = 1;
}

void sig_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

bool sig_stop_requested(void) { return stop_signal != 0; }
