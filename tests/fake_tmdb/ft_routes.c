/*
 * ft_routes: fake-tmdb's answers. TMDB requests go through, in order: the refuse fault,
 * the invalid-API-key fault, the rate_limit window, the rate_limit_next and failure
 * faults, application auth, then the endpoint (user auth, body, list, ownership,
 * parameters). Every TMDB request is logged for GET /__control/requests; control requests
 * are not. Status codes follow docs/tmdb.md; where it leaves a choice, README.md
 * in this folder says which.
 */
#include "ft_routes.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bodies longer than this are logged as their length only. */
#define FT_RECORD_MAX_BODY 4096

/* TMDB's status codes that the fake answers, with their HTTP status and exact message. */
struct tmdb_code {
    int code;
    int http;
    const char *message;
};

static const struct tmdb_code TMDB_CODES[] = {
    {1, 201, "The item/record was created successfully."},
    {3, 401, "Authentication failed: You do not have permissions to access the service."},
    {5, 422, "Invalid parameters: Your request parameters are incorrect."},
    {7, 401, "Invalid API key: You must be granted a valid key."},
    {8, 403, "Duplicate entry: The data you tried to submit already exists."},
    {9, 503, "Service offline: This service is temporarily offline, try again later."},
    {11, 500, "Internal error: Something went wrong, contact TMDb."},
    {12, 201, "The item/record was updated successfully."},
    {13, 200, "The item/record was deleted successfully."},
    {15, 500, "Failed."},
    {21, 200, "Entry not found: The item you are trying to edit cannot be found."},
    {24, 504, "Your request to the backend server timed out. Try again."},
    {25, 429, "Your request count (#) is over the allowed limit of (40)."},
    {29, 400, "You must confirm this action: Please provide a confirm=true parameter."},
    {34, 404, "The resource you requested could not be found."},
    {35, 401, "Invalid token."},
    {36, 401, "This token hasn't been granted write permission by the user."},
    {38, 401, "You don't have permission to edit this resource."},
    {39, 401, "This resource is private."},
    {42, 405, "This request method is not supported for this resource."},
    {43, 502, "Couldn't connect to the backend server."},
    {46, 503, "The API is undergoing maintenance. Try again later."},
    {47, 400, "The input is not valid."},
};

static const struct tmdb_code *tmdb_code_find(int code)
{
    for (size_t i = 0; i < sizeof TMDB_CODES / sizeof TMDB_CODES[0]; i++) {
        if (TMDB_CODES[i].code == code)
            return &TMDB_CODES[i];
    }
    return NULL;
}

void ft_response_init(struct ft_response *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->retry_after = -1;
}

void ft_response_cleanup(struct ft_response *resp) { ft_buf_free(&resp->body); }

/* Serializes and steals body. A NULL body means a jansson allocation failed upstream. */
static void respond_json(struct ft_response *resp, int status, json_t *body)
{
    static const char OOM[] =
        "{\"success\":false,\"status_code\":11,\"status_message\":\"out of memory\"}";
    resp->body.len = 0;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text || ft_buf_puts(&resp->body, text) != 0) {
        free(text);
        resp->body.len = 0;
        resp->status = 500;
        ft_buf_append(&resp->body, OOM, sizeof OOM - 1);
        return;
    }
    free(text);
    resp->status = status;
}

static void respond_status(struct ft_response *resp, int http, int code,
                           const char *message)
{
    int success = code == 1 || code == 12 || code == 13;
    respond_json(resp, http,
                 json_pack("{s:b,s:i,s:s}", "success", success, "status_code", code,
                           "status_message", message));
}

/* Answers a TMDB status code with its usual HTTP status and message. */
static void respond_tmdb(struct ft_response *resp, int code)
{
    const struct tmdb_code *c = tmdb_code_find(code);
    if (!c)
        c = tmdb_code_find(11);
    respond_status(resp, c->http, c->code, c->message);
}

void ft_response_error(struct ft_response *resp, int http_status, const char *message)
{
    respond_status(resp, http_status, 47, message);
}

static void respond_control_error(struct ft_response *resp, int http, const char *message)
{
    respond_json(resp, http, json_pack("{s:b,s:s}", "ok", 0, "error", message));
}

/* ---- TMDB endpoints ---------------------------------------------------------------- */

enum endpoint {
    EP_UNKNOWN,
    EP_BAD_METHOD,
    EP_CREATE,      /* POST /3/list */
    EP_V3_GET,      /* GET /3/list/{id} */
    EP_V3_DELETE,   /* DELETE /3/list/{id} */
    EP_ADD,         /* POST /3/list/{id}/add_item */
    EP_REMOVE,      /* POST /3/list/{id}/remove_item */
    EP_CLEAR,       /* POST /3/list/{id}/clear */
    EP_ITEM_STATUS, /* GET /3/list/{id}/item_status */
    EP_V4_GET,      /* GET /4/list/{id} */
    EP_V4_UPDATE,   /* PUT /4/list/{id} */
};

/*
 * Matches "/N/list/{id}[/action]" for prefix "/N/list/". A non-numeric id (the legacy hex
 * form) gives id 0, which no list has, so it answers 404/34 like an unknown list.
 */
static int match_list_path(const char *path, const char *prefix, int64_t *id,
                           const char **action)
{
    size_t plen = strlen(prefix);
    if (strncmp(path, prefix, plen) != 0 || path[plen] == '\0' || path[plen] == '/')
        return 0;
    const char *p = path + plen;
    const char *slash = strchr(p, '/');
    *action = slash ? slash + 1 : "";
    char *end = NULL;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (errno != 0 || end == p || (end != slash && *end != '\0') || v <= 0)
        v = 0;
    *id = v;
    return 1;
}

static enum endpoint match_endpoint(const struct ft_request *req, int64_t *id)
{
    const char *m = req->method;
    const char *action = NULL;
    *id = 0;
    if (strcmp(req->path, "/3/list") == 0 || strcmp(req->path, "/3/list/") == 0)
        return strcmp(m, "POST") == 0 ? EP_CREATE : EP_BAD_METHOD;
    if (match_list_path(req->path, "/3/list/", id, &action)) {
        if (strcmp(action, "") == 0) {
            if (strcmp(m, "GET") == 0)
                return EP_V3_GET;
            return strcmp(m, "DELETE") == 0 ? EP_V3_DELETE : EP_BAD_METHOD;
        }
        if (strcmp(action, "add_item") == 0)
            return strcmp(m, "POST") == 0 ? EP_ADD : EP_BAD_METHOD;
        if (strcmp(action, "remove_item") == 0)
            return strcmp(m, "POST") == 0 ? EP_REMOVE : EP_BAD_METHOD;
        if (strcmp(action, "clear") == 0)
            return strcmp(m, "POST") == 0 ? EP_CLEAR : EP_BAD_METHOD;
        if (strcmp(action, "item_status") == 0)
            return strcmp(m, "GET") == 0 ? EP_ITEM_STATUS : EP_BAD_METHOD;
        return EP_UNKNOWN;
    }
    if (match_list_path(req->path, "/4/list/", id, &action) && strcmp(action, "") == 0) {
        if (strcmp(m, "GET") == 0)
            return EP_V4_GET;
        return strcmp(m, "PUT") == 0 ? EP_V4_UPDATE : EP_BAD_METHOD;
    }
    return EP_UNKNOWN;
}

/* v3 application auth: a given api_key must be right; else a Bearer read token or any
 * user's v4 access token (TMDB accepts both as application credentials). */
static int app_auth_ok(const struct ft_state *st, const struct ft_request *req)
{
    const char *key = ft_request_query(req, "api_key");
    if (key)
        return strcmp(key, st->api_key) == 0;
    const char *bearer = ft_request_bearer(req);
    if (!bearer)
        return 0;
    return strcmp(bearer, st->read_token) == 0 || ft_user_by_token(st, bearer) != 0;
}

static int content_type_is_json(const char *ct)
{
    if (!ct || strncasecmp(ct, "application/json", 16) != 0)
        return 0;
    return ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ';
}

/* Checks the body of a JSON write: 411 without Content-Length, 400/47 when it is not a
 * JSON object sent as application/json. Returns the object (borrowed) or NULL after
 * answering. */
static json_t *require_json_object(const struct ft_request *req, json_t *body,
                                   struct ft_response *resp)
{
    if (!req->has_content_length) {
        respond_status(resp, 411, 47,
                       "The input is not valid: Content-Length is required.");
        return NULL;
    }
    if (!content_type_is_json(req->content_type) || !json_is_object(body)) {
        respond_tmdb(resp, 47);
        return NULL;
    }
    return body;
}

static int is_positive_int(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) > 0;
}

static json_t *items_json(const struct ft_list *l)
{
    json_t *items = json_array();
    for (size_t i = 0; items && i < l->n_items; i++) {
        json_array_append_new(items, json_pack("{s:I,s:s}", "id", (json_int_t)l->items[i],
                                               "media_type", "movie"));
    }
    return items;
}

/* GET /3/list/{id}: TMDB sends the id as a JSON string here, and a number elsewhere. */
static void v3_list_details(const struct ft_list *l, struct ft_response *resp)
{
    char id[32], created_by[48];
    snprintf(id, sizeof id, "%" PRId64, l->id);
    snprintf(created_by, sizeof created_by, "user%" PRId64, l->owner);
    json_int_t n = (json_int_t)l->n_items;
    respond_json(resp, 200,
                 json_pack("{s:s,s:s,s:i,s:s,s:s,s:I,s:o,s:s,s:i,s:n,s:i,s:I}",
                           "created_by", created_by, "description", l->description,
                           "favorite_count", 0, "id", id, "iso_639_1", l->language,
                           "item_count", n, "items", items_json(l), "name", l->name,
                           "page", 1, "poster_path", "total_pages", 1, "total_results",
                           n));
}

static void v4_list_details(const struct ft_list *l, struct ft_response *resp)
{
    json_int_t n = (json_int_t)l->n_items;
    respond_json(resp, 200,
                 json_pack("{s:I,s:s,s:s,s:b,s:s,s:s,s:i,s:i,s:I,s:I,s:o}", "id",
                           (json_int_t)l->id, "name", l->name, "description",
                           l->description, "public", l->public, "iso_639_1", l->language,
                           "sort_by", "original_order.asc", "page", 1, "total_pages", 1,
                           "total_results", n, "item_count", n, "results",
                           items_json(l)));
}

static void tmdb_create(struct ft_state *st, int64_t user, json_t *body,
                        struct ft_response *resp)
{
    json_t *name = json_object_get(body, "name");
    json_t *desc = json_object_get(body, "description");
    json_t *lang = json_object_get(body, "language");
    /* TMDB wants description as a string even when empty (docs/tmdb.md). */
    if (!json_is_string(name) || json_string_length(name) == 0 || !json_is_string(desc) ||
        (lang && !json_is_string(lang))) {
        respond_tmdb(resp, 5);
        return;
    }
    struct ft_list *l =
        ft_list_create(st, 0, user, json_string_value(name), json_string_value(desc),
                       json_string_value(lang), 1);
    if (!l) {
        respond_tmdb(resp, 11);
        return;
    }
    const struct tmdb_code *c = tmdb_code_find(1);
    respond_json(resp, 201,
                 json_pack("{s:i,s:s,s:b,s:I}", "status_code", 1, "status_message",
                           c->message, "success", 1, "list_id", (json_int_t)l->id));
}

static void tmdb_update(struct ft_list *l, json_t *body, struct ft_response *resp)
{
    json_t *name = json_object_get(body, "name");
    json_t *desc = json_object_get(body, "description");
    json_t *pub = json_object_get(body, "public");
    json_t *sort = json_object_get(body, "sort_by");
    if ((name && (!json_is_string(name) || json_string_length(name) == 0)) ||
        (desc && !json_is_string(desc)) || (pub && !json_is_boolean(pub)) ||
        (sort && !json_is_string(sort)) || (!name && !desc && !pub && !sort)) {
        respond_tmdb(resp, 5);
        return;
    }
    if ((name && ft_list_set_string(&l->name, json_string_value(name)) != 0) ||
        (desc && ft_list_set_string(&l->description, json_string_value(desc)) != 0)) {
        respond_tmdb(resp, 11);
        return;
    }
    if (pub)
        l->public = json_is_true(pub);
    respond_tmdb(resp, 12);
}

/* v4 write auth: the Bearer must be a user's access token. Returns the user or 0 after
 * answering 401: 7 without any credential, 36 for an application-only credential, 35 for
 * an unknown token. */
static int64_t v4_user(const struct ft_state *st, const struct ft_request *req,
                       struct ft_response *resp)
{
    const char *bearer = ft_request_bearer(req);
    int64_t user = ft_user_by_token(st, bearer);
    if (user)
        return user;
    if (!bearer) {
        const char *key = ft_request_query(req, "api_key");
        respond_tmdb(resp, key && strcmp(key, st->api_key) == 0 ? 36 : 7);
    } else {
        respond_tmdb(resp, strcmp(bearer, st->read_token) == 0 ? 36 : 35);
    }
    return 0;
}

static void tmdb_endpoint(struct ft_state *st, const struct ft_request *req, json_t *body,
                          struct ft_response *resp)
{
    int64_t id = 0;
    enum endpoint ep = match_endpoint(req, &id);
    int64_t user = 0;

    if (ep != EP_V4_UPDATE && !app_auth_ok(st, req)) {
        respond_tmdb(resp, 7);
        return;
    }
    switch (ep) {
    case EP_UNKNOWN:
        respond_tmdb(resp, 34);
        return;
    case EP_BAD_METHOD:
        respond_tmdb(resp, 42);
        return;
    case EP_V3_GET:
    case EP_ITEM_STATUS:
    case EP_V4_GET:
        break;
    case EP_V4_UPDATE:
        user = v4_user(st, req, resp);
        if (!user)
            return;
        break;
    case EP_CREATE:
    case EP_V3_DELETE:
    case EP_ADD:
    case EP_REMOVE:
    case EP_CLEAR:
        user = ft_user_by_session(st, ft_request_query(req, "session_id"));
        if (!user) {
            respond_tmdb(resp, 3);
            return;
        }
        break;
    }

    if (ep == EP_CREATE || ep == EP_ADD || ep == EP_REMOVE || ep == EP_V4_UPDATE) {
        body = require_json_object(req, body, resp);
        if (!body)
            return;
    }
    if (ep == EP_CREATE) {
        tmdb_create(st, user, body, resp);
        return;
    }

    struct ft_list *l = ft_list_find(st, id);
    if (!l) {
        respond_tmdb(resp, 34);
        return;
    }
    if (ep == EP_V3_GET || ep == EP_ITEM_STATUS || ep == EP_V4_GET) {
        /* A private list shows only to its owner's session (v3) or token (v4). */
        int64_t viewer =
            ep == EP_V4_GET ? ft_user_by_token(st, ft_request_bearer(req))
                            : ft_user_by_session(st, ft_request_query(req, "session_id"));
        if (!l->public && viewer != l->owner) {
            respond_tmdb(resp, 39);
            return;
        }
    } else if (l->owner != user) {
        respond_tmdb(resp, 38);
        return;
    }

    json_t *media = NULL;
    switch (ep) {
    case EP_V3_GET:
        v3_list_details(l, resp);
        return;
    case EP_V4_GET:
        v4_list_details(l, resp);
        return;
    case EP_ITEM_STATUS: {
        const char *movie = ft_request_query(req, "movie_id");
        char *end = NULL;
        errno = 0;
        long long m = movie ? strtoll(movie, &end, 10) : 0;
        if (!movie || errno != 0 || end == movie || *end != '\0' || m <= 0) {
            respond_tmdb(resp, 5);
            return;
        }
        char sid[32];
        snprintf(sid, sizeof sid, "%" PRId64, l->id);
        respond_json(
            resp, 200,
            json_pack("{s:s,s:b}", "id", sid, "item_present", ft_list_has(l, m)));
        return;
    }
    case EP_V3_DELETE:
        ft_list_delete(st, id);
        /* Quirk 1 of docs/tmdb.md: deleted, yet TMDB answers 500/11. */
        respond_tmdb(resp, st->faults.delete_quirk ? 11 : 13);
        return;
    case EP_CLEAR:
        if (!ft_request_query(req, "confirm") ||
            strcmp(ft_request_query(req, "confirm"), "true") != 0) {
            respond_tmdb(resp, 29);
            return;
        }
        l->n_items = 0;
        respond_tmdb(resp, 12);
        return;
    case EP_ADD:
    case EP_REMOVE:
        media = json_object_get(body, "media_id");
        if (!is_positive_int(media)) {
            respond_tmdb(resp, 5);
            return;
        }
        if (ep == EP_ADD) {
            if (ft_list_has(l, json_integer_value(media)))
                respond_tmdb(resp, 8);
            else if (ft_list_add(l, json_integer_value(media)) != 0)
                respond_tmdb(resp, 11);
            else
                respond_tmdb(resp, 12);
        } else {
            respond_tmdb(resp, ft_list_remove(l, json_integer_value(media)) ? 13 : 21);
        }
        return;
    case EP_V4_UPDATE:
        tmdb_update(l, body, resp);
        return;
    case EP_UNKNOWN:
    case EP_BAD_METHOD:
    case EP_CREATE:
        break;
    }
    respond_tmdb(resp, 11);
}

static int faults_match(const struct ft_faults *f, const struct ft_request *req,
                        const json_t *body)
{
    if (f->path_contains && !strstr(req->path, f->path_contains))
        return 0;
    if (f->method && strcmp(f->method, req->method) != 0)
        return 0;
    if (f->media_id == 0)
        return 1;
    const json_t *media = json_object_get(body, "media_id");
    return json_is_integer(media) && json_integer_value(media) == f->media_id;
}

/* The TMDB status_code TMDB sends with a given 5xx. */
static int failure_code(int http)
{
    switch (http) {
    case 502:
        return 43;
    case 503:
        return 9;
    case 504:
        return 24;
    default:
        return 11;
    }
}

/* Answers from the rate-limit and failure faults; returns 1 when one fired. A request
 * that does not match does not draw from the PRNG, so a seed gives the same failures for
 * the same sequence of matching requests. */
static int faults_inject(struct ft_faults *f, const struct ft_request *req,
                         const json_t *body, struct ft_response *resp)
{
    if (!faults_match(f, req, body))
        return 0;
    if (f->rate_limit_next > 0) {
        f->rate_limit_next--;
        respond_tmdb(resp, 25);
        resp->retry_after = f->retry_after;
        return 1;
    }
    int fail = 0;
    if (f->fail_first > 0) {
        f->fail_first--;
        fail = 1;
    } else if (f->fail_rate > 0 && ft_faults_random(f) < f->fail_rate) {
        fail = 1;
    }
    if (!fail)
        return 0;
    int code = f->fail_code ? f->fail_code : failure_code(f->fail_status);
    const struct tmdb_code *c = tmdb_code_find(code);
    respond_status(resp, f->fail_status, code, c ? c->message : "Failed.");
    return 1;
}

static void record_request(struct ft_state *st, const struct ft_request *req,
                           json_t *body, const struct ft_response *resp, int64_t now_ms)
{
    json_t *rec = json_object();
    if (!rec)
        return;
    json_object_set_new(rec, "seq", json_integer((json_int_t)ft_record_next_seq(st)));
    json_object_set_new(rec, "method", json_string(req->method));
    json_object_set_new(rec, "path", json_string(req->path));
    json_object_set(rec, "query", req->query);
    json_object_set_new(
        rec, "auth", req->authorization ? json_string(req->authorization) : json_null());
    json_object_set_new(rec, "content_type",
                        req->content_type ? json_string(req->content_type) : json_null());
    /* Large bodies are not kept whole: 200,000 records must fit in memory. */
    if (req->body_len > FT_RECORD_MAX_BODY) {
        json_object_set_new(rec, "body", json_null());
        json_object_set_new(rec, "body_truncated",
                            json_integer((json_int_t)req->body_len));
    } else {
        json_object_set(rec, "body", body ? body : json_null());
        /* Keep what a non-JSON body said, e.g. a form-encoded one sent by mistake. */
        if (!body && req->body_len > 0)
            json_object_set_new(rec, "body_raw", json_stringn(req->body, req->body_len));
    }
    json_object_set_new(rec, "status", json_integer(resp->drop ? 0 : resp->status));
    json_object_set_new(rec, "t_ms", json_integer((json_int_t)(now_ms - st->start_ms)));
    ft_record_add(st, json_dumps(rec, JSON_COMPACT));
    json_decref(rec);
}

/* The rate_limit window, TMDB's global ceiling: answers 429/25 and returns 1 when the
 * request is over it. Applies to every TMDB request, whatever path_contains and method
 * say. */
static int rate_window_limit(struct ft_state *st, struct ft_response *resp,
                             int64_t now_ms)
{
    int retry_after = 1;
    if (!ft_rate_full(&st->faults, now_ms, &retry_after))
        return 0;
    char msg[96];
    snprintf(msg, sizeof msg,
             "Your request count (#) is over the allowed limit of (%" PRId64 ").",
             st->faults.rate_limit);
    respond_status(resp, 429, 25, msg);
    resp->retry_after = retry_after;
    st->n_limited++;
    return 1;
}

static void tmdb_route(struct ft_state *st, const struct ft_request *req,
                       struct ft_response *resp, int64_t now_ms)
{
    json_t *body = NULL;
    if (req->body_len > 0)
        body = json_loadb(req->body, req->body_len, JSON_DECODE_ANY, NULL);

    int limited = 0;
    resp->tmdb = 1;
    if (st->faults.refuse) {
        resp->drop = 1;
    } else if (st->faults.invalid_api_key) {
        respond_tmdb(resp, 7);
    } else {
        limited = rate_window_limit(st, resp, now_ms);
        if (!limited && !faults_inject(&st->faults, req, body, resp))
            tmdb_endpoint(st, req, body, resp);
    }
    if (!resp->drop) {
        resp->delay_ms = st->faults.latency_ms;
        /* Like real limiters, the window counts every answered request but its own 429s;
         * a refused request gets no answer and is not counted either. */
        if (!limited)
            ft_rate_accept(&st->faults, now_ms);
    }
    record_request(st, req, body, resp, now_ms);
    json_decref(body);
}

/* ---- control API ------------------------------------------------------------------- */

static json_t *list_state_json(const struct ft_list *l)
{
    json_t *items = json_array();
    for (size_t i = 0; items && i < l->n_items; i++)
        json_array_append_new(items, json_integer((json_int_t)l->items[i]));
    return json_pack("{s:I,s:I,s:s,s:s,s:s,s:b,s:o,s:I}", "id", (json_int_t)l->id,
                     "owner", (json_int_t)l->owner, "name", l->name, "description",
                     l->description, "language", l->language, "public", l->public,
                     "items", items, "item_count", (json_int_t)l->n_items);
}

static void collect_list(const struct ft_list *l, void *arg)
{
    json_array_append_new(arg, list_state_json(l));
}

/* The fault settings, plus the rate_limit window's counters as of now_ms. */
static json_t *faults_json(const struct ft_state *st, int64_t now_ms)
{
    const struct ft_faults *f = &st->faults;
    json_t *o = json_pack("{s:I,s:f,s:i,s:i,s:I,s:i,s:I,s:b,s:b,s:b}", "fail_first",
                          (json_int_t)f->fail_first, "fail_rate", f->fail_rate,
                          "fail_status", f->fail_status, "fail_code", f->fail_code,
                          "rate_limit_next", (json_int_t)f->rate_limit_next,
                          "retry_after", f->retry_after, "latency_ms",
                          (json_int_t)f->latency_ms, "delete_quirk", f->delete_quirk,
                          "refuse", f->refuse, "invalid_api_key", f->invalid_api_key);
    if (o) {
        json_object_set_new(o, "path_contains",
                            f->path_contains ? json_string(f->path_contains)
                                             : json_null());
        json_object_set_new(o, "method",
                            f->method ? json_string(f->method) : json_null());
        json_object_set_new(o, "media_id",
                            f->media_id ? json_integer((json_int_t)f->media_id)
                                        : json_null());
        json_object_set_new(o, "rate_limit", json_integer((json_int_t)f->rate_limit));
        json_object_set_new(o, "rate_window_ms",
                            json_integer((json_int_t)f->rate_window_ms));
        json_object_set_new(o, "accepted_in_window",
                            json_integer((json_int_t)ft_rate_in_window(f, now_ms)));
        json_object_set_new(o, "limited", json_integer((json_int_t)st->n_limited));
    }
    return o;
}

static int int_in(const json_t *v, json_int_t lo, json_int_t hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo &&
           json_integer_value(v) <= hi;
}

/* Checks every key before changing anything, so a typo leaves the faults as they were. */
static const char *faults_validate(json_t *body)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        int ok;
        if (strcmp(key, "fail_first") == 0 || strcmp(key, "rate_limit_next") == 0)
            ok = int_in(v, 0, INT64_MAX);
        else if (strcmp(key, "fail_status") == 0)
            ok = int_in(v, 100, 599);
        else if (strcmp(key, "fail_code") == 0)
            ok = int_in(v, 0, 1000);
        else if (strcmp(key, "fail_rate") == 0)
            ok = json_is_number(v) && json_number_value(v) >= 0 &&
                 json_number_value(v) <= 1;
        else if (strcmp(key, "seed") == 0)
            ok = json_is_integer(v);
        else if (strcmp(key, "retry_after") == 0)
            ok = int_in(v, 0, 86400);
        else if (strcmp(key, "latency_ms") == 0)
            ok = int_in(v, 0, 600000);
        else if (strcmp(key, "delete_quirk") == 0 || strcmp(key, "refuse") == 0 ||
                 strcmp(key, "invalid_api_key") == 0)
            ok = json_is_boolean(v);
        else if (strcmp(key, "path_contains") == 0 || strcmp(key, "method") == 0)
            ok = json_is_null(v) || (json_is_string(v) && json_string_length(v) > 0);
        else if (strcmp(key, "media_id") == 0)
            ok = json_is_null(v) || int_in(v, 1, INT64_MAX);
        else if (strcmp(key, "rate_limit") == 0)
            ok = int_in(v, 0, FT_MAX_RATE_LIMIT);
        else if (strcmp(key, "rate_window_ms") == 0)
            ok = int_in(v, 1, 86400000);
        else
            return key;
        if (!ok)
            return key;
    }
    return NULL;
}

static int set_opt_string(char **field, const json_t *v)
{
    free(*field);
    *field = NULL;
    if (json_is_null(v))
        return 0;
    size_t n = json_string_length(v);
    *field = malloc(n + 1);
    if (!*field)
        return -1;
    memcpy(*field, json_string_value(v), n + 1);
    return 0;
}

static void control_faults(struct ft_state *st, json_t *body, struct ft_response *resp,
                           int64_t now_ms)
{
    struct ft_faults *f = &st->faults;
    char msg[160];
    const char *bad = faults_validate(body);
    if (bad) {
        snprintf(msg, sizeof msg, "invalid or unknown fault field \"%.60s\"", bad);
        respond_control_error(resp, 400, msg);
        return;
    }
    if (json_object_size(body) == 0)
        ft_faults_clear(f);
    /* First the one change that allocates, so running out of memory changes nothing. */
    json_t *v = json_object_get(body, "rate_limit");
    if (v && ft_rate_set_limit(f, json_integer_value(v)) != 0) {
        respond_control_error(resp, 500, "out of memory");
        return;
    }
    /* Keys present change their setting; the others keep theirs (see README.md). */
    v = json_object_get(body, "rate_window_ms");
    if (v)
        f->rate_window_ms = json_integer_value(v);
    v = json_object_get(body, "media_id");
    if (v)
        f->media_id = json_is_null(v) ? 0 : json_integer_value(v);
    v = json_object_get(body, "fail_first");
    if (v)
        f->fail_first = json_integer_value(v);
    v = json_object_get(body, "rate_limit_next");
    if (v)
        f->rate_limit_next = json_integer_value(v);
    v = json_object_get(body, "fail_status");
    if (v)
        f->fail_status = (int)json_integer_value(v);
    v = json_object_get(body, "fail_code");
    if (v)
        f->fail_code = (int)json_integer_value(v);
    v = json_object_get(body, "fail_rate");
    if (v)
        f->fail_rate = json_number_value(v);
    v = json_object_get(body, "seed");
    if (v)
        f->rng = (uint64_t)json_integer_value(v);
    v = json_object_get(body, "retry_after");
    if (v)
        f->retry_after = (int)json_integer_value(v);
    v = json_object_get(body, "latency_ms");
    if (v)
        f->latency_ms = json_integer_value(v);
    v = json_object_get(body, "delete_quirk");
    if (v)
        f->delete_quirk = json_is_true(v);
    v = json_object_get(body, "refuse");
    if (v)
        f->refuse = json_is_true(v);
    v = json_object_get(body, "invalid_api_key");
    if (v)
        f->invalid_api_key = json_is_true(v);
    json_t *path = json_object_get(body, "path_contains");
    json_t *method = json_object_get(body, "method");
    if ((path && set_opt_string(&f->path_contains, path) != 0) ||
        (method && set_opt_string(&f->method, method) != 0)) {
        respond_control_error(resp, 500, "out of memory");
        return;
    }
    respond_json(resp, 200, faults_json(st, now_ms));
}

static void control_users(struct ft_state *st, json_t *body, struct ft_response *resp)
{
    json_t *uid = json_object_get(body, "user_id");
    json_t *sid = json_object_get(body, "session_id");
    json_t *tok = json_object_get(body, "access_token");
    if (!is_positive_int(uid) || (sid && !json_is_null(sid) && !json_is_string(sid)) ||
        (tok && !json_is_null(tok) && !json_is_string(tok))) {
        respond_control_error(resp, 400,
                              "want {\"user_id\":N>0,\"session_id\":S|null,"
                              "\"access_token\":T|null}");
        return;
    }
    if (ft_user_set(st, json_integer_value(uid), json_string_value(sid),
                    json_string_value(tok)) != 0) {
        respond_control_error(resp, 500, "out of memory");
        return;
    }
    respond_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

/* POST /__control/lists creates a list, replacing any list with the same id. */
static void control_create_list(struct ft_state *st, json_t *body,
                                struct ft_response *resp)
{
    json_t *id = json_object_get(body, "id");
    json_t *owner = json_object_get(body, "owner");
    json_t *name = json_object_get(body, "name");
    json_t *desc = json_object_get(body, "description");
    json_t *lang = json_object_get(body, "language");
    json_t *pub = json_object_get(body, "public");
    json_t *items = json_object_get(body, "items");
    size_t i;
    json_t *item;
    int items_ok = !items || json_is_array(items);
    json_array_foreach(items, i, item) { items_ok = items_ok && is_positive_int(item); }
    if ((id && !is_positive_int(id)) || !is_positive_int(owner) ||
        (name && !json_is_string(name)) || (desc && !json_is_string(desc)) ||
        (lang && !json_is_string(lang)) || (pub && !json_is_boolean(pub)) || !items_ok) {
        respond_control_error(
            resp, 400,
            "want {\"id\"?:N>0,\"owner\":N>0,\"name\"?:S,\"description\"?:S,"
            "\"language\"?:S,\"public\"?:B,\"items\"?:[N>0,...]}");
        return;
    }
    int64_t list_id = id ? json_integer_value(id) : 0;
    if (list_id)
        ft_list_delete(st, list_id);
    struct ft_list *l = ft_list_create(st, list_id, json_integer_value(owner),
                                       name ? json_string_value(name) : "fixture list",
                                       json_string_value(desc), json_string_value(lang),
                                       pub ? json_is_true(pub) : 1);
    if (!l) {
        respond_control_error(resp, 500, "out of memory");
        return;
    }
    json_array_foreach(items, i, item)
    {
        if (!ft_list_has(l, json_integer_value(item)) &&
            ft_list_add(l, json_integer_value(item)) != 0) {
            respond_control_error(resp, 500, "out of memory");
            return;
        }
    }
    respond_json(resp, 201, list_state_json(l));
}

/* Parses a non-negative decimal query value; def when absent, -1 when malformed. */
static long long query_number(const struct ft_request *req, const char *name,
                              long long def)
{
    const char *s = ft_request_query(req, name);
    if (!s)
        return def;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0)
        return -1;
    return v;
}

/* GET /__control/requests: the stored records are already JSON text, joined as is. */
static void control_requests(struct ft_state *st, const struct ft_request *req,
                             struct ft_response *resp)
{
    const char *count = ft_request_query(req, "count");
    if (count && strcmp(count, "0") != 0 && strcmp(count, "false") != 0) {
        respond_json(resp, 200, json_pack("{s:I}", "count", (json_int_t)st->n_records));
        return;
    }
    long long since = query_number(req, "since", 0);
    if (since < 0) {
        respond_control_error(resp, 400, "since must be a non-negative integer");
        return;
    }
    uint64_t first = (uint64_t)since + 1;
    if (st->n_records > FT_MAX_RECORDS && first <= st->n_records - FT_MAX_RECORDS)
        first = st->n_records - FT_MAX_RECORDS + 1;
    int failed = ft_buf_puts(&resp->body, "[");
    int any = 0;
    for (uint64_t seq = first; !failed && seq <= st->n_records; seq++) {
        const char *r = ft_record_get(st, seq);
        if (!r)
            continue;
        failed =
            (any && ft_buf_puts(&resp->body, ",") != 0) || ft_buf_puts(&resp->body, r);
        any = 1;
    }
    if (failed || ft_buf_puts(&resp->body, "]") != 0) {
        respond_control_error(resp, 500, "out of memory");
        return;
    }
    resp->status = 200;
}

static void control_route(struct ft_state *st, const struct ft_request *req,
                          struct ft_response *resp, int64_t now_ms)
{
    const char *m = req->method;
    const char *p = req->path + strlen("/__control");
    int is_get = strcmp(m, "GET") == 0;
    int is_post = strcmp(m, "POST") == 0;
    int is_delete = strcmp(m, "DELETE") == 0;
    json_t *body = NULL;

    if (is_post && req->body_len > 0) {
        body = json_loadb(req->body, req->body_len, 0, NULL);
        if (!json_is_object(body)) {
            respond_control_error(resp, 400, "body must be a JSON object");
            goto out;
        }
    } else if (is_post) {
        body = json_object();
    }

    if (strcmp(p, "/health") == 0 && is_get) {
        respond_json(resp, 200, json_pack("{s:b}", "ok", 1));
    } else if (strcmp(p, "/reset") == 0 && is_post) {
        ft_state_reset(st);
        respond_json(resp, 200, json_pack("{s:b}", "ok", 1));
    } else if (strcmp(p, "/users") == 0 && is_post) {
        control_users(st, body, resp);
    } else if (strcmp(p, "/lists") == 0 && is_post) {
        control_create_list(st, body, resp);
    } else if (strcmp(p, "/lists") == 0 && is_get) {
        json_t *all = json_array();
        if (all)
            ft_list_each(st, collect_list, all);
        respond_json(resp, 200, json_pack("{s:o}", "lists", all));
    } else if (strncmp(p, "/lists/", 7) == 0 && (is_get || is_delete)) {
        char *end = NULL;
        errno = 0;
        long long id = strtoll(p + 7, &end, 10);
        struct ft_list *l = NULL;
        if (errno == 0 && end != p + 7 && *end == '\0' && id > 0)
            l = ft_list_find(st, id);
        if (!l) {
            respond_control_error(resp, 404, "no such list");
        } else if (is_get) {
            respond_json(resp, 200, list_state_json(l));
        } else {
            ft_list_delete(st, id);
            respond_json(resp, 200, json_pack("{s:b}", "ok", 1));
        }
    } else if (strcmp(p, "/faults") == 0 && is_post) {
        control_faults(st, body, resp, now_ms);
    } else if (strcmp(p, "/faults") == 0 && is_get) {
        respond_json(resp, 200, faults_json(st, now_ms));
    } else if (strcmp(p, "/requests") == 0 && is_get) {
        control_requests(st, req, resp);
    } else if (strcmp(p, "/requests") == 0 && is_delete) {
        ft_records_clear(st);
        respond_json(resp, 200, json_pack("{s:b}", "ok", 1));
    } else {
        respond_control_error(resp, 404, "unknown control endpoint");
    }
out:
    json_decref(body);
}

void ft_route(struct ft_state *st, const struct ft_request *req, struct ft_response *resp,
              int64_t now_ms)
{
    if (strncmp(req->path, "/__control/", 11) == 0)
        control_route(st, req, resp, now_ms);
    else
        tmdb_route(st, req, resp, now_ms);
}
