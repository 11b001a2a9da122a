/*
 * reconnect: the backoff of one connection (see reconnect.h).
 */
#include "reconnect.h"

#include "clock.h"

void reconnect_reset(struct reconnect *rc)
{
    rc->delay_ms = RECONNECT_FIRST_MS;
    rc->next_ms = 0;
}

void reconnect_failed(struct reconnect *rc)
{
    if (rc->delay_ms < RECONNECT_FIRST_MS)
        rc->delay_ms = RECONNECT_FIRST_MS;
    rc->next_ms = clock_now_ms() + rc->delay_ms;
    rc->delay_ms =
        rc->delay_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : rc->delay_ms * 2;
}

bool reconnect_due(const struct reconnect *rc) { return clock_now_ms() >= rc->next_ms; }

bool reconnect_fresh(const struct reconnect *rc)
{
    return rc->delay_ms <= RECONNECT_FIRST_MS;
}
