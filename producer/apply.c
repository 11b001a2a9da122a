/*
 * apply: one operation to TMDB now, when TMDB answers and nothing conflicting is
 * active on its list; queued otherwise (tmdbq_apply, steps in tmdbq.h).
 *
 * The direct attempt is a consumer's work done in the caller's process: the row is
 * claimed under a lease by "apply:<host>:<pid>", TMDB is called with the consumers'
 * client and request budget, and the outcome is recorded with the consumers' call, so a
 * crash in between is rescued by the reaper like any consumer's.
 */
#include "tmdbq_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "db_apply.h"
#include "jsonout.h"
#include "log.h"
#include "outcome.h"
#include "rate.h"
#include "tmdb.h"

/* The direct attempt keeps to the consumers' request budget: it takes a slot like they
 * do, waiting no longer than its own timeout (then it is queued, unsent), and a 429 sets
 * the cool-down for everyone. */
struct apply_pace {
    struct rate *rate;
    struct tmdbq *h; /* its db may be replaced by a reconnect */
    int64_t deadline_ms;
};

static bool apply_pace_quit(void *arg)
{
    const struct apply_pace *p = arg;

    return clock_now_ms() >= p->deadline_ms;
}

static bool apply_pace_before(void *arg)
{
    struct apply_pace *p = arg;
    struct err e = {0};
    enum status st = rate_take(p->rate, p->h->db, apply_pace_quit, p, &e);

    if (st != ST_OK)
        log_debug("the direct attempt gets no TMDB request slot: %s", e.msg);
    return st == ST_OK;
}

static void apply_pace_after(void *arg, const struct tmdb_sent *sent)
{
    struct apply_pace *p = arg;

    rate_note(p->rate, p->h->db, sent->limited, sent->retry_after_ms);
}

/* The consumer id of a direct attempt, "apply:<host>:<pid>": a row left processing says
 * which process held it, and no consumer's id can be the same. */
static void apply_consumer_id(char *buf, size_t n)
{
    char host[256];

    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    snprintf(buf, n, "apply:%s:%ld", host, (long)getpid());
}

/* Record the direct attempt's outcome with the consumer's call. db_finish is idempotent,
 * so after a lost connection one reconnect and the same call again is safe: TMDB has
 * answered, and an outcome left unrecorded means the operation runs once more after its
 * lease. */
static enum status apply_record(struct tmdbq *h, const char *id, const char *consumer,
                                const struct db_outcome *o, struct db_handon *next)
{
    bool recorded = false;
    struct db *fresh = NULL;
    enum status st = db_finish(h->db, id, consumer, o, &recorded, next, &h->call.err);

    if (st == ST_DB && !db_connected(h->db)) {
        log_warn("op=%s could not record the outcome of the direct attempt: %s; "
                 "reconnecting once",
                 id, h->call.err.msg);
        if (db_open(h->cfg.database_url, h->cfg.connect_timeout_ms, &fresh,
                    &h->call.err) == ST_OK) {
            db_close(h->db);
            h->db = fresh;
            st = db_finish(h->db, id, consumer, o, &recorded, next, &h->call.err);
        }
    }
    if (st != ST_OK) {
        err_prefix(&h->call.err,
                   "TMDB answered but the outcome of operation %s was not recorded (it "
                   "stays processing and is performed again after its lease)",
                   id);
        return st;
    }
    if (!recorded)
        return err_set(&h->call.err, ST_DB,
                       "TMDB answered but operation %s was taken over before its outcome "
                       "was recorded (its lease ran out); it is performed again",
                       id);
    return ST_OK;
}

/* The direct attempt: steps 2 and 3 of tmdbq_apply. c is the claimed row. The decision
 * is the consumers' (common/outcome.c, as OUTCOME_DIRECT), recorded with their call, and
 * what follows is published as they publish it. */
static enum status apply_direct(struct tmdbq *h, struct tmdb_client *client,
                                const char *consumer, struct db_claim *c,
                                struct tmdbq_apply_result *res)
{
    struct tmdb_result tr;
    struct tmdb_creds creds = {c->session_id, c->access_token};
    struct backoff_policy policy = backoff_policy_of(&h->cfg);
    struct outcome o;
    struct db_handon next = {0};
    enum status st;

    memset(&tr, 0, sizeof tr);
    if (!outcome_check_creds(&c->op, c->session_id, c->access_token, OUTCOME_DIRECT,
                             &o)) {
        tmdb_execute(client, c->op.type, c->op.list_id, c->op.data_json, &creds, &tr);
        res->tmdb_called = tr.outcome != TMDB_NOT_SENT;
        res->http_status = tr.http_status;
        res->tmdb_code = tr.tmdb_code;
        outcome_decide(&tr, &c->op, &policy, 0, OUTCOME_DIRECT, &o);
    }
    res->outcome = o.rec.kind == DB_OUT_COMPLETED ? TMDBQ_APPLIED
                   : o.rec.kind == DB_OUT_RETRY   ? TMDBQ_QUEUED
                                                  : TMDBQ_FAILED;
    if (res->outcome == TMDBQ_QUEUED)
        res->reason = TMDBQ_QUEUED_UNAVAILABLE;
    st = apply_record(h, c->op.id, consumer, &o.rec, &next);
    if (st != ST_OK)
        goto out;
    st = db_get_op(h->db, c->op.id, &res->op->op, &h->call.err);
    if (st != ST_OK)
        goto out;
    if (res->outcome == TMDBQ_QUEUED) {
        log_info("op=%s TMDB unavailable (%s): queued", c->op.id, o.message);
        st = publish_ops(h, res->op, 1);
    } else {
        st = publish_handon(h, &next);
    }
    log_debug("op=%s %s%s%s", c->op.id,
              res->outcome == TMDBQ_APPLIED ? "applied" : o.name,
              o.message[0] ? ": " : "", o.message);
out:
    tmdb_result_cleanup(&tr);
    return st;
}

int tmdbq_apply(struct tmdbq *h, const struct tmdbq_request *req,
                struct tmdbq_apply_result **out)
{
    struct op_request r = {0};
    struct db_claim c;
    struct tmdb_client *client = NULL;
    struct tmdbq_apply_result *res = NULL;
    struct tmdb_config tc;
    struct apply_pace pace = {NULL, h, clock_now_ms() + h->cfg.apply_timeout_ms};
    struct tmdb_pacer pacer = {apply_pace_before, apply_pace_after, &pace};
    enum db_apply_start how;
    char consumer[320], host[256];
    int64_t lease_ms;
    enum status st;

    call_begin(h);
    *out = NULL;
    memset(&c, 0, sizeof c);
    st = request_build(req, &r, &h->call.err);
    if (st != ST_OK)
        goto out;
    if (h->cfg.tmdb_api_key == NULL && h->cfg.tmdb_access_token == NULL) {
        st = err_set(&h->call.err, ST_INVALID,
                     "apply calls TMDB and needs the application's credential: set "
                     "TMDB_API_KEY or TMDB_ACCESS_TOKEN (or use tmdbq enqueue)");
        goto out;
    }
    /* The client first: nothing is written unless the call can be made. */
    memset(&tc, 0, sizeof tc);
    tc.base_url = h->cfg.tmdb_api_url;
    tc.api_key = h->cfg.tmdb_api_key;
    tc.read_token = h->cfg.tmdb_access_token;
    tc.timeout_ms = h->cfg.apply_timeout_ms;
    tc.connect_timeout_ms = h->cfg.connect_timeout_ms < h->cfg.apply_timeout_ms
                                ? h->cfg.connect_timeout_ms
                                : h->cfg.apply_timeout_ms;
    st = tmdb_client_new(&tc, &client, &h->call.err);
    if (st != ST_OK)
        goto out;
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    st = rate_scope_new(&h->cfg, host, &pace.rate, &h->call.err);
    if (st != ST_OK)
        goto out;
    tmdb_client_set_pacer(client, &pacer);
    res = calloc(1, sizeof *res);
    if (res == NULL || (res->op = calloc(1, sizeof *res->op)) == NULL) {
        st = err_set(&h->call.err, ST_NOMEM, "out of memory");
        goto out;
    }
    res->op->from_enqueue = true;
    apply_consumer_id(consumer, sizeof consumer);
    /* The lease must outlive the direct attempt (two requests for a delete, and a
     * reconnect to record it), or a rescue could run the operation a second time. */
    lease_ms = 2 * h->cfg.apply_timeout_ms + h->cfg.connect_timeout_ms + 1000;
    if (lease_ms < h->cfg.lease_ms)
        lease_ms = h->cfg.lease_ms;
    st = db_apply_begin(h->db, &r, consumer, lease_ms, &how, &c, &h->call.err);
    if (st != ST_OK)
        goto out;
    if (how == DB_APPLY_DIRECT) {
        st = apply_direct(h, client, consumer, &c, res);
    } else {
        res->outcome = TMDBQ_QUEUED;
        res->reason = how == DB_APPLY_DUPLICATE       ? TMDBQ_QUEUED_DUPLICATE
                      : how == DB_APPLY_QUEUED_PAUSED ? TMDBQ_QUEUED_PAUSED
                                                      : TMDBQ_QUEUED_LIST_BUSY;
        res->op->op = c.op;
        memset(&c.op, 0, sizeof c.op);
        res->op->duplicate = how == DB_APPLY_DUPLICATE;
        log_debug("op=%s queued without a TMDB call (%s)", res->op->op.id,
                  how == DB_APPLY_DUPLICATE ? "duplicate"
                  : how == DB_APPLY_QUEUED_PAUSED
                      ? "paused"
                      : "a conflicting operation of its list is active");
        st = publish_ops(h, res->op, 1);
    }
    if (st != ST_OK)
        goto out;
    res->result = res->outcome == TMDBQ_APPLIED ? res->op->op.result_json : NULL;
    if (res->outcome == TMDBQ_FAILED || res->reason == TMDBQ_QUEUED_UNAVAILABLE)
        res->error = res->op->op.error_message;
    if (res->outcome == TMDBQ_FAILED)
        err_set(&h->call.err, ST_INVALID, "operation %s failed: %s", res->op->op.id,
                res->error ? res->error : "");
    *out = res;
    res = NULL;
out:
    tmdbq_apply_result_free(res);
    db_claim_cleanup(&c);
    if (pace.rate != NULL)
        rate_flush(pace.rate, h->db, true);
    rate_free(pace.rate);
    tmdb_client_free(client);
    op_request_cleanup(&r);
    if (st == ST_OK && *out != NULL && (*out)->outcome == TMDBQ_FAILED)
        return TMDBQ_EREJECTED;
    return public_code(st);
}

static const char *queued_reason_name(enum tmdbq_queued_reason r)
{
    switch (r) {
    case TMDBQ_QUEUED_LIST_BUSY:
        return "list_busy";
    case TMDBQ_QUEUED_DUPLICATE:
        return "duplicate";
    case TMDBQ_QUEUED_PAUSED:
        return "paused";
    case TMDBQ_QUEUED_UNAVAILABLE:
        return "tmdb_unavailable";
    case TMDBQ_QUEUED_NONE:
        break;
    }
    return "none";
}

static const char *apply_outcome_name(enum tmdbq_apply_outcome o)
{
    return o == TMDBQ_APPLIED ? "applied" : o == TMDBQ_QUEUED ? "queued" : "failed";
}

char *tmdbq_apply_result_to_json(const struct tmdbq_apply_result *r)
{
    const char *outcome = apply_outcome_name(r->outcome);
    json_t *v;

    if (r->outcome == TMDBQ_APPLIED)
        v = json_pack("{s:s, s:o, s:o}", "outcome", outcome, "result",
                      jsonout_stored(r->result), "operation", jsonout_op(r->op));
    else if (r->outcome == TMDBQ_QUEUED && r->error == NULL)
        v = json_pack("{s:s, s:s, s:o}", "outcome", outcome, "reason",
                      queued_reason_name(r->reason), "operation", jsonout_op(r->op));
    else if (r->outcome == TMDBQ_QUEUED)
        v = json_pack("{s:s, s:s, s:o, s:o}", "outcome", outcome, "reason",
                      queued_reason_name(r->reason), "error", jsonout_text(r->error),
                      "operation", jsonout_op(r->op));
    else
        v = json_pack("{s:s, s:o, s:o, s:o, s:o}", "outcome", outcome, "error",
                      jsonout_text(r->error ? r->error : ""), "http_status",
                      jsonout_count(r->http_status > 0 ? r->http_status : -1),
                      "tmdb_status_code",
                      jsonout_count(r->tmdb_code > 0 ? r->tmdb_code : -1), "operation",
                      jsonout_op(r->op));
    return jsonout_dump(v, 0);
}

char *tmdbq_apply_result_to_text(const struct tmdbq_apply_result *r)
{
    char *text = NULL, *op = NULL;
    size_t len = 0;
    FILE *f;

    op = tmdbq_op_to_text(r->op);
    if (op == NULL)
        return NULL;
    f = open_memstream(&text, &len);
    if (f == NULL) {
        free(op);
        return NULL;
    }
    fprintf(f, "outcome:        %s", apply_outcome_name(r->outcome));
    if (r->outcome == TMDBQ_QUEUED)
        fprintf(f, " (%s)", queued_reason_name(r->reason));
    fputc('\n', f);
    if (r->outcome == TMDBQ_APPLIED && r->result != NULL)
        fprintf(f, "tmdb result:    %s\n", r->result);
    if (r->error != NULL)
        fprintf(f, "why:            %s\n", r->error);
    fputs(op, f);
    free(op);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

void tmdbq_apply_result_free(struct tmdbq_apply_result *r)
{
    if (r == NULL)
        return;
    tmdbq_op_free(r->op);
    free(r);
}
