/*
 * cli: the `tmdbq` command, a thin shell over tmdbq.h.
 *
 * It parses arguments (getopt_long, in order: options may stand anywhere on the line),
 * calls the library, prints results on stdout (JSON with --json, tables for people
 * otherwise) and messages on stderr, and returns the library's status, which is already
 * the exit status. The JSON of the library's objects comes from the library; the few
 * objects of the command's own are built with codec_pack (jansson).
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cfg.h"
#include "codec.h"
#include "err.h"
#include "log.h"
#include "tmdbq.h"

/* The text of --help, a line of it a line here, aligned as it prints. */
/* clang-format off */
static const char usage[] =
    "usage: tmdbq [--json] [--database-url URL] [--amqp-url URL] COMMAND ...\n"
    "\n"
    "  migrate                              apply the schema migrations, move RabbitMQ\n"
    "                                       queues an older tmdbq declared\n"
    "  enqueue TYPE --user N [--list N] [--movie N] [--name S] [--description S]\n"
    "               [--public true|false] [--data JSON]\n"
    "  enqueue --file F|-                   one JSON operation a line\n"
    "  apply TYPE ...same as enqueue...     to TMDB now when it answers and the list is idle,\n"
    "                                       else queued (needs TMDB_API_KEY or\n"
    "                                       TMDB_ACCESS_TOKEN)\n"
    "  show ID                              one operation\n"
    "  stats                                operations per status\n"
    "  pending --user N                     a user's pending and processing operations\n"
    "  failed [--limit N]                   failed operations, newest first (default 50)\n"
    "  session set --user N --stdin         credentials as JSON on stdin (preferred):\n"
    "                                       {\"session_id\":\"S\",\"access_token\":\"T\"}\n"
    "  session set --user N --session-id S [--access-token T]\n"
    "                                       (arguments are visible to every local user)\n"
    "  session rm --user N\n"
    "  retry ID                             a failed operation: pending again, published\n"
    "  cancel ID                            a pending or failed operation: cancelled\n"
    "  process ID | --user N | --all [--wait [--timeout D]]\n"
    "                                       publish now (a scheduled retry too); --wait:\n"
    "                                       until done (default timeout 60s; exit 1 then)\n"
    "  pause | resume                       stop / restart every consumer taking work\n"
    "  status                               paused?, consumers, reapers, counts, queues\n"
    "\n"
    "TYPE: create_list update_list delete_list clear_list add_movie remove_movie\n"
    "Exit status: 0 done, 1 service failed, 2 bad usage or input, 3 no such operation,\n"
    "4 the operation's status does not allow it, 5 (apply) TMDB refused the operation.\n";
/* clang-format on */

/* Everything the command line said; strings borrowed from argv. */
struct cli_args {
    bool json;
    const char *database_url;
    const char *amqp_url;
    const char *words[3]; /* the command and its positional arguments */
    int n_words;
    struct tmdbq_request req;
    const char *file;
    const char *session_id;
    const char *access_token;
    int64_t limit;
    bool has_limit;
    bool all;
    bool wait;
    bool stdin_creds;    /* --stdin: session set reads its credentials from stdin */
    const char *timeout; /* --timeout D, a duration */
};

/* The most --stdin reads: a session id and an access token take a few hundred bytes. */
#define STDIN_CREDENTIALS_MAX (64 * 1024)

static int usage_error(const char *fmt, const char *arg)
{
    fputs("tmdbq: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(run tmdbq --help for usage)\n", stderr);
    return TMDBQ_EINVAL;
}

static int parse_int(const char *flag, const char *s, int64_t *out)
{
    const char *digits = s[0] == '-' ? s + 1 : s;
    char *end = NULL;
    long long v;

    /* strtoll alone also takes " 5" and "+5": a number here is digits (a minus sign is
     * let through for the range check to refuse with the field's own message). */
    errno = 0;
    v = strtoll(s, &end, 10);
    if (digits[0] < '0' || digits[0] > '9' || errno != 0 || *end != '\0') {
        fprintf(stderr, "tmdbq: %s: \"%s\" is not an integer (digits only)\n", flag, s);
        return TMDBQ_EINVAL;
    }
    *out = v;
    return TMDBQ_OK;
}

/* The long options, by id. Switches may be repeated; an option with a value may be given
 * once (which of two values was meant is not ours to guess). */
enum option_id {
    OPT_JSON = 256, /* past every short option's character */
    OPT_ALL,
    OPT_WAIT,
    OPT_STDIN,
    OPT_HELP,
    OPT_FIRST_VALUE, /* the options from here on take a value */
    OPT_DATABASE_URL = OPT_FIRST_VALUE,
    OPT_AMQP_URL,
    OPT_USER,
    OPT_LIST,
    OPT_MOVIE,
    OPT_NAME,
    OPT_DESCRIPTION,
    OPT_PUBLIC,
    OPT_DATA,
    OPT_FILE,
    OPT_LIMIT,
    OPT_SESSION_ID,
    OPT_ACCESS_TOKEN,
    OPT_TIMEOUT,
    OPT_END,
};

static const struct option options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"all", no_argument, NULL, OPT_ALL},
    {"wait", no_argument, NULL, OPT_WAIT},
    {"stdin", no_argument, NULL, OPT_STDIN},
    {"help", no_argument, NULL, OPT_HELP},
    {"database-url", required_argument, NULL, OPT_DATABASE_URL},
    {"amqp-url", required_argument, NULL, OPT_AMQP_URL},
    {"user", required_argument, NULL, OPT_USER},
    {"list", required_argument, NULL, OPT_LIST},
    {"movie", required_argument, NULL, OPT_MOVIE},
    {"name", required_argument, NULL, OPT_NAME},
    {"description", required_argument, NULL, OPT_DESCRIPTION},
    {"public", required_argument, NULL, OPT_PUBLIC},
    {"data", required_argument, NULL, OPT_DATA},
    {"file", required_argument, NULL, OPT_FILE},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"session-id", required_argument, NULL, OPT_SESSION_ID},
    {"access-token", required_argument, NULL, OPT_ACCESS_TOKEN},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {NULL, 0, NULL, 0},
};

static int unknown_option(const char *token)
{
    const char *eq = strchr(token, '=');
    char flag[64];

    /* The flag without its value: a value may be a secret. */
    snprintf(flag, sizeof flag, "%.*s", eq ? (int)(eq - token) : (int)strlen(token),
             token);
    return usage_error("unknown option \"%s\"", flag);
}

static int set_value(struct cli_args *a, int id, const char *flag, const char *v)
{
    struct tmdbq_request *r = &a->req;

    switch (id) {
    case OPT_DATABASE_URL:
        a->database_url = v;
        break;
    case OPT_AMQP_URL:
        a->amqp_url = v;
        break;
    case OPT_USER:
        r->has_user = true;
        return parse_int(flag, v, &r->user);
    case OPT_LIST:
        r->has_list = true;
        return parse_int(flag, v, &r->list);
    case OPT_MOVIE:
        r->has_movie = true;
        return parse_int(flag, v, &r->movie);
    case OPT_LIMIT:
        a->has_limit = true;
        return parse_int(flag, v, &a->limit);
    case OPT_NAME:
        r->name = v;
        break;
    case OPT_DESCRIPTION:
        r->description = v;
        break;
    case OPT_DATA:
        r->data_json = v;
        break;
    case OPT_FILE:
        a->file = v;
        break;
    case OPT_SESSION_ID:
        a->session_id = v;
        break;
    case OPT_ACCESS_TOKEN:
        a->access_token = v;
        break;
    case OPT_TIMEOUT:
        a->timeout = v;
        break;
    case OPT_PUBLIC:
        if (strcmp(v, "true") == 0)
            r->public_flag = 1;
        else if (strcmp(v, "false") == 0)
            r->public_flag = 0;
        else
            return usage_error("--public: \"%s\" is not true or false", v);
        break;
    }
    return TMDBQ_OK;
}

static int add_word(struct cli_args *a, const char *word)
{
    if (a->n_words == 3)
        return usage_error("unexpected argument \"%s\"", word);
    a->words[a->n_words++] = word;
    return TMDBQ_OK;
}

/* Parse argv into a: TMDBQ_OK, TMDBQ_EINVAL after a message on stderr, or -1 after the
 * usage went to stdout (--help). Options may stand anywhere, before, between or after
 * the words; "--" ends them. */
static int parse_args(int argc, char **argv, struct cli_args *a)
{
    bool given[OPT_END - OPT_FIRST_VALUE] = {false};
    char flag[64];
    int rc = TMDBQ_OK;

    memset(a, 0, sizeof *a);
    a->req = tmdbq_request_init();
    optind = 0; /* glibc: start afresh */
    opterr = 0; /* our messages, not getopt's */
    while (rc == TMDBQ_OK) {
        /* "-": words come back in place (as 1), whatever POSIXLY_CORRECT says;
         * ":": a missing value comes back as ':'. */
        int at = optind > 0 ? optind : 1;
        int idx = -1;
        int c = getopt_long(argc, argv, "-:h", options, &idx);
        const struct option *o;

        if (c == -1)
            break;
        /* The long option this token named: the one found, or the one that lacks or
         * refuses a value. */
        o = idx >= 0                 ? &options[idx]
            : (c == ':' || c == '?') ? args_option(options, optopt)
                                     : NULL;
        if (o != NULL && !args_whole_name(argv[at], o->name))
            return unknown_option(argv[at]);
        if (o != NULL)
            snprintf(flag, sizeof flag, "--%s", o->name);
        switch (c) {
        case 1:
            rc = add_word(a, optarg);
            break;
        case 'h':
        case OPT_HELP:
            fputs(usage, stdout);
            return -1;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_ALL:
            a->all = true;
            break;
        case OPT_WAIT:
            a->wait = true;
            break;
        case OPT_STDIN:
            a->stdin_creds = true;
            break;
        case ':':
            return usage_error("%s needs a value", o != NULL ? flag : argv[at]);
        case '?':
            if (o != NULL)
                return usage_error("%s takes no value", flag);
            if (optopt != 0) {
                snprintf(flag, sizeof flag, "-%c", optopt);
                return usage_error("unknown option \"%s\"", flag);
            }
            return unknown_option(argv[at]);
        default:
            if (c < OPT_FIRST_VALUE || c >= OPT_END || o == NULL)
                return unknown_option(argv[at]);
            if (given[c - OPT_FIRST_VALUE])
                return usage_error("%s given twice", flag);
            given[c - OPT_FIRST_VALUE] = true;
            rc = set_value(a, c, flag, optarg);
            break;
        }
    }
    for (int i = optind; rc == TMDBQ_OK && i < argc; i++)
        rc = add_word(a, argv[i]);
    if (rc == TMDBQ_OK && a->n_words == 0)
        rc = usage_error("%s", "no command given");
    return rc;
}

/* ---- output --------------------------------------------------------------------------
 */

/* Print what the library made, JSON (a line) or text for people, and free it; NULL means
 * it ran out of memory. */
static int print_made(const struct cli_args *a, char *s)
{
    if (s == NULL) {
        fputs("tmdbq: out of memory\n", stderr);
        return TMDBQ_ESERVICE;
    }
    fputs(s, stdout);
    if (a->json)
        fputc('\n', stdout);
    free(s);
    return TMDBQ_OK;
}

static int print_op(const struct cli_args *a, const struct tmdbq_op *op)
{
    return print_made(a, a->json ? tmdbq_op_to_json(op) : tmdbq_op_to_text(op));
}

static int print_list(const struct cli_args *a, const struct tmdbq_op_list *l)
{
    size_t n = tmdbq_op_list_count(l);

    if (a->json)
        return print_made(a, tmdbq_op_list_to_json(l));
    printf("%-36s  %-12s  %-10s  %-24s  %7s  %s\n", "ID", "TYPE", "STATUS", "INSERTED",
           "RETRIES", "ERROR");
    for (size_t i = 0; i < n; i++) {
        const struct tmdbq_op *op = tmdbq_op_list_get(l, i);
        const char *error = tmdbq_op_error(op);
        printf("%-36s  %-12s  %-10s  %-24s  %7d  %s\n", tmdbq_op_id(op),
               tmdbq_op_type(op), tmdbq_op_status(op), tmdbq_op_inserted_at(op),
               tmdbq_op_retry_count(op), error ? error : "");
    }
    printf("(%zu operation%s)\n", n, n == 1 ? "" : "s");
    return TMDBQ_OK;
}

/* A command's answer: op printed when the call (its code rc) succeeded, and freed. */
static int print_op_answer(const struct cli_args *a, int rc, struct tmdbq_op *op)
{
    if (rc == TMDBQ_OK)
        rc = print_op(a, op);
    tmdbq_op_free(op);
    return rc;
}

/* As print_op_answer, for a list. */
static int print_list_answer(const struct cli_args *a, int rc, struct tmdbq_op_list *l)
{
    if (rc == TMDBQ_OK)
        rc = print_list(a, l);
    tmdbq_op_list_free(l);
    return rc;
}

/* ---- commands ------------------------------------------------------------------------
 */

static int cmd_migrate(const struct cli_args *a, struct tmdbq *h)
{
    int applied = 0, version = 0, queues = 0;
    long messages = 0, dropped = 0;
    int rc = tmdbq_migrate(h, &applied, &version);
    bool broker;

    if (rc != TMDBQ_OK)
        return rc;
    /* The broker's queues too. A broker that does not answer is not a failed migration
     * (every program declares the queues it finds missing), but queues an older tmdbq
     * declared need this command once it answers: say so. */
    rc = tmdbq_migrate_broker(h, &queues, &messages, &dropped);
    broker = rc == TMDBQ_OK;
    if (!broker && queues != -1)
        return rc;
    if (!broker)
        fprintf(stderr,
                "tmdbq: warning: RabbitMQ's queues were not checked (%s); run `tmdbq "
                "migrate` again when it answers\n",
                tmdbq_errmsg(h));
    if (a->json)
        return print_made(a, broker
                                 ? codec_pack("{s:i, s:i, s:{s:i, s:i, s:i}}", "applied",
                                              applied, "version", version, "broker",
                                              "queues_moved", queues, "messages_moved",
                                              (int)messages, "dropped", (int)dropped)
                                 : codec_pack("{s:i, s:i, s:n}", "applied", applied,
                                              "version", version, "broker"));
    printf("applied %d migration%s; schema version %d\n", applied,
           applied == 1 ? "" : "s", version);
    if (broker && queues > 0)
        printf(
            "moved %d RabbitMQ queue%s declared by an older tmdbq (%ld message%s kept, "
            "%ld that named no operation dropped)\n",
            queues, queues == 1 ? "" : "s", messages, messages == 1 ? "" : "s", dropped);
    return TMDBQ_OK;
}

static void emit_line(void *ctx, const struct tmdbq_line_result *r)
{
    const struct cli_args *a = ctx;
    char *s;

    if (!a->json) {
        if (r->status == TMDBQ_OK)
            printf("line %ld: %s %s%s%s\n", r->line, tmdbq_op_id(r->op),
                   tmdbq_op_status(r->op),
                   tmdbq_op_duplicate(r->op) ? " (duplicate)" : "",
                   tmdbq_op_published(r->op) ? "" : " (not published yet)");
        else
            printf("line %ld: error: %s\n", r->line, r->error);
        return;
    }
    s = tmdbq_line_result_to_json(r);
    if (s == NULL) {
        fputs("tmdbq: out of memory\n", stderr);
        return;
    }
    printf("%s\n", s);
    free(s);
}

static int cmd_enqueue(const struct cli_args *a, struct tmdbq *h)
{
    struct tmdbq_op *op = NULL;
    FILE *in = NULL;
    int rc;

    if (a->file) {
        if (a->n_words > 1)
            return usage_error("enqueue --file takes no TYPE (got \"%s\")", a->words[1]);
        in = strcmp(a->file, "-") == 0 ? stdin : fopen(a->file, "r");
        if (in == NULL) {
            fprintf(stderr, "tmdbq: could not open \"%s\": %s\n", a->file,
                    strerror(errno));
            return TMDBQ_EINVAL;
        }
        rc = tmdbq_enqueue_stream(h, in, emit_line, (void *)a);
        if (in != stdin)
            fclose(in);
        return rc;
    }
    if (a->n_words < 2)
        return usage_error("%s", "enqueue needs an operation TYPE or --file");
    struct tmdbq_request req = a->req;
    req.type = a->words[1];
    rc = tmdbq_enqueue(h, &req, &op);
    return print_op_answer(a, rc, op);
}

/* apply TYPE ...: the result on stdout in every case where a row was written, the
 * permanent failure included (exit 5), so a script reads one JSON object either way. */
static int cmd_apply(const struct cli_args *a, struct tmdbq *h)
{
    struct tmdbq_apply_result *r = NULL;
    struct tmdbq_request req = a->req;
    int rc, prc;

    if (a->file)
        return usage_error("%s", "apply takes one operation, not --file");
    if (a->n_words != 2)
        return usage_error("%s", "apply needs one operation TYPE");
    req.type = a->words[1];
    rc = tmdbq_apply(h, &req, &r);
    if (r == NULL)
        return rc;
    prc = print_made(a, a->json ? tmdbq_apply_result_to_json(r)
                                : tmdbq_apply_result_to_text(r));
    if (rc == TMDBQ_OK)
        rc = prc;
    tmdbq_apply_result_free(r);
    return rc;
}

static int cmd_show(const struct cli_args *a, struct tmdbq *h)
{
    struct tmdbq_op *op = NULL;
    int rc;

    if (a->n_words != 2)
        return usage_error("%s", "show needs one operation ID");
    rc = tmdbq_show(h, a->words[1], &op);
    return print_op_answer(a, rc, op);
}

static int cmd_stats(const struct cli_args *a, struct tmdbq *h)
{
    struct tmdbq_stats s;
    int rc = tmdbq_stats(h, &s);

    if (rc != TMDBQ_OK)
        return rc;
    if (a->json)
        return print_made(a, tmdbq_stats_to_json(&s));
    printf("pending     %10" PRId64 "\nprocessing  %10" PRId64 "\ncompleted   %10" PRId64
           "\nfailed      %10" PRId64 "\ncancelled   %10" PRId64
           "\ntotal       %10" PRId64 "\n",
           s.pending, s.processing, s.completed, s.failed, s.cancelled, s.total);
    return TMDBQ_OK;
}

static int cmd_pending(const struct cli_args *a, struct tmdbq *h)
{
    struct tmdbq_op_list *l = NULL;
    int rc;

    if (!a->req.has_user)
        return usage_error("%s", "pending needs --user N");
    rc = tmdbq_pending(h, a->req.user, &l);
    return print_list_answer(a, rc, l);
}

static int cmd_failed(const struct cli_args *a, struct tmdbq *h)
{
    struct tmdbq_op_list *l = NULL;
    int64_t limit = a->has_limit ? a->limit : 50;
    int rc;

    if (limit < 1 || limit > 10000)
        return usage_error("%s", "--limit must be between 1 and 10000");
    rc = tmdbq_failed(h, (int)limit, &l);
    return print_list_answer(a, rc, l);
}

/* Read all of stdin (at most STDIN_CREDENTIALS_MAX bytes) into creds. read(2), not
 * stdio, so that no buffer but ours holds the secrets, and ours is wiped before it is
 * freed. */
static int read_stdin_credentials(struct codec_credentials *creds)
{
    char *buf = malloc(STDIN_CREDENTIALS_MAX + 1);
    size_t n = 0;
    ssize_t got;
    struct err e = {0};
    int rc = TMDBQ_OK;

    memset(creds, 0, sizeof *creds);
    if (buf == NULL) {
        fputs("tmdbq: out of memory\n", stderr);
        return TMDBQ_ESERVICE;
    }
    if (isatty(STDIN_FILENO))
        fputs("tmdbq: reading {\"session_id\": \"...\", \"access_token\": \"...\"} from "
              "standard input (end with Ctrl-D)\n",
              stderr);
    /* One byte past the limit tells a full buffer from a longer input. */
    do {
        got = read(STDIN_FILENO, buf + n, STDIN_CREDENTIALS_MAX + 1 - n);
        if (got > 0)
            n += (size_t)got;
    } while ((got > 0 || (got < 0 && errno == EINTR)) && n <= STDIN_CREDENTIALS_MAX);
    if (got < 0) {
        fprintf(stderr, "tmdbq: --stdin: could not read standard input: %s\n",
                strerror(errno));
        rc = TMDBQ_ESERVICE;
    } else if (n > STDIN_CREDENTIALS_MAX) {
        fprintf(stderr, "tmdbq: --stdin: standard input is longer than %d bytes\n",
                STDIN_CREDENTIALS_MAX);
        rc = TMDBQ_EINVAL;
    } else if (codec_credentials_from_json(buf, n, creds, &e) != ST_OK) {
        fprintf(stderr, "tmdbq: --stdin: %s\n", e.msg);
        rc = e.code == ST_NOMEM ? TMDBQ_ESERVICE : TMDBQ_EINVAL;
    }
    explicit_bzero(buf, n);
    free(buf);
    return rc;
}

static int cmd_session_set(const struct cli_args *a, struct tmdbq *h)
{
    struct codec_credentials creds = {0};
    const char *session_id = a->session_id, *access_token = a->access_token;
    size_t retried = 0;
    int rc;

    if (a->stdin_creds && (session_id != NULL || access_token != NULL))
        return usage_error("%s", "--stdin reads the credentials from standard input: "
                                 "give neither --session-id nor --access-token with it");
    if (!a->stdin_creds && session_id == NULL)
        return usage_error("%s", "session set needs --stdin or --session-id S");
    if (a->stdin_creds) {
        rc = read_stdin_credentials(&creds);
        if (rc != TMDBQ_OK)
            goto out;
        session_id = creds.session_id;
        access_token = creds.access_token;
    }
    rc = tmdbq_session_set(h, a->req.user, session_id, access_token, &retried);
    if (rc != TMDBQ_OK)
        goto out;
    /* The secrets are never echoed: only whether they are set. */
    if (a->json)
        rc = print_made(a, codec_pack("{s:I, s:s, s:s, s:I}", "tmdb_user_id",
                                      (long long)a->req.user, "session_id", "set",
                                      "access_token", access_token ? "set" : "unset",
                                      "retried", (long long)retried));
    else
        printf("stored TMDB credentials for user %" PRId64 " (session id%s); %zu failed "
               "operation(s) retried\n",
               a->req.user, access_token ? " and access token" : "", retried);
out:
    codec_credentials_cleanup(&creds);
    return rc;
}

static int cmd_session(const struct cli_args *a, struct tmdbq *h)
{
    const char *sub = a->n_words > 1 ? a->words[1] : "";
    int rc;

    if (!a->req.has_user)
        return usage_error("%s", "session needs --user N");
    if (strcmp(sub, "set") == 0)
        return cmd_session_set(a, h);
    if (strcmp(sub, "rm") == 0) {
        rc = tmdbq_session_rm(h, a->req.user);
        if (rc != TMDBQ_OK)
            return rc;
        if (a->json)
            return print_made(a, codec_pack("{s:I, s:b}", "tmdb_user_id",
                                            (long long)a->req.user, "removed", 1));
        printf("removed TMDB credentials of user %" PRId64 "\n", a->req.user);
        return TMDBQ_OK;
    }
    return usage_error("session: unknown subcommand \"%s\" (expected set or rm)", sub);
}

/* ---- control ----------------------------------------------------------------------- */

/* retry ID / cancel ID: one operation changed, printed afterwards. */
static int cmd_change(const struct cli_args *a, struct tmdbq *h,
                      int (*change)(struct tmdbq *, const char *, struct tmdbq_op **))
{
    struct tmdbq_op *op = NULL;
    int rc;

    if (a->n_words != 2)
        return usage_error("%s needs one operation ID", a->words[0]);
    rc = change(h, a->words[1], &op);
    if (op != NULL) {
        int prc = print_op(a, op);
        if (rc == TMDBQ_OK)
            rc = prc;
    }
    tmdbq_op_free(op);
    return rc;
}

static int cmd_retry(const struct cli_args *a, struct tmdbq *h)
{
    return cmd_change(a, h, tmdbq_retry);
}

static int cmd_cancel(const struct cli_args *a, struct tmdbq *h)
{
    return cmd_change(a, h, tmdbq_cancel);
}

/* Ids of a list, borrowed from it, for tmdbq_wait. */
static const char **list_ids(const struct tmdbq_op_list *l)
{
    size_t n = tmdbq_op_list_count(l);
    const char **ids = calloc(n > 0 ? n : 1, sizeof *ids);

    for (size_t i = 0; ids != NULL && i < n; i++)
        ids[i] = tmdbq_op_id(tmdbq_op_list_get(l, i));
    return ids;
}

#define WAIT_TIMEOUT_MAX_MS (30LL * 24 * 3600 * 1000)

/* process ID | --user N | --all [--wait [--timeout D]] */
static int cmd_process(const struct cli_args *a, struct tmdbq *h)
{
    struct tmdbq_op *op = NULL;
    struct tmdbq_op_list *l = NULL, *done = NULL;
    const char **ids = NULL;
    const char *one_id[1];
    int64_t timeout_ms = 60000;
    struct err e = {0};
    int targets = (a->n_words == 2) + a->req.has_user + a->all;
    int rc, prc;

    if (a->n_words > 2 || targets != 1)
        return usage_error("%s", "process needs exactly one of ID, --user N, --all");
    if (a->timeout != NULL && !a->wait)
        return usage_error("%s", "--timeout goes with --wait");
    if (a->timeout != NULL && cfg_parse_duration(a->timeout, &timeout_ms, &e) != ST_OK)
        return usage_error("--timeout: %s", e.msg);
    /* tmdbq_wait adds it to the clock: past 30d it would only risk overflowing. */
    if (timeout_ms > WAIT_TIMEOUT_MAX_MS)
        return usage_error("--timeout: \"%s\" is too long (at most 30d)", a->timeout);

    if (a->n_words == 2)
        rc = tmdbq_process(h, a->words[1], &op);
    else if (a->req.has_user)
        rc = tmdbq_process_user(h, a->req.user, &l);
    else
        rc = tmdbq_process_all(h, &l);
    if (rc != TMDBQ_OK || !a->wait)
        goto print;

    if (op != NULL) {
        one_id[0] = tmdbq_op_id(op);
        rc = tmdbq_wait(h, one_id, 1, timeout_ms, &done, NULL);
    } else {
        ids = list_ids(l);
        if (ids == NULL) {
            fputs("tmdbq: out of memory\n", stderr);
            rc = TMDBQ_ESERVICE;
            goto out;
        }
        rc = tmdbq_wait(h, ids, tmdbq_op_list_count(l), timeout_ms, &done, NULL);
    }
    /* Printed even after a timeout: the rows say where each one stands. */
    if (done == NULL)
        goto out;
    if (op != NULL && tmdbq_op_list_count(done) == 1) {
        prc = print_op(a, tmdbq_op_list_get(done, 0));
        goto printed;
    }
    tmdbq_op_list_free(l);
    l = done;
    done = NULL;
print:
    if (op != NULL)
        prc = print_op(a, op);
    else if (l != NULL)
        prc = print_list(a, l);
    else
        goto out;
printed:
    if (rc == TMDBQ_OK)
        rc = prc;
out:
    free(ids);
    tmdbq_op_free(op);
    tmdbq_op_list_free(l);
    tmdbq_op_list_free(done);
    return rc;
}

static int print_pause(const struct cli_args *a, const struct tmdbq_pause_state *s)
{
    if (a->json)
        return print_made(a, tmdbq_pause_state_to_json(s));
    if (s->paused)
        printf("%s since %s: consumers take no new operations until tmdbq resume\n",
               s->changed ? "paused" : "already paused", s->since);
    else
        printf("%s since %s: consumers take operations\n",
               s->changed ? "resumed; running" : "already running", s->since);
    return TMDBQ_OK;
}

/* pause / resume: the switch set, its state printed. */
static int cmd_switch(const struct cli_args *a, struct tmdbq *h,
                      int (*set)(struct tmdbq *, struct tmdbq_pause_state *))
{
    struct tmdbq_pause_state s;
    int rc;

    if (a->n_words != 1)
        return usage_error("unexpected argument \"%s\"", a->words[1]);
    rc = set(h, &s);
    return rc != TMDBQ_OK ? rc : print_pause(a, &s);
}

static int cmd_pause(const struct cli_args *a, struct tmdbq *h)
{
    return cmd_switch(a, h, tmdbq_pause);
}

static int cmd_resume(const struct cli_args *a, struct tmdbq *h)
{
    return cmd_switch(a, h, tmdbq_resume);
}

static int cmd_status(const struct cli_args *a, struct tmdbq *h)
{
    struct tmdbq_status *s = NULL;
    int rc;

    if (a->n_words != 1)
        return usage_error("unexpected argument \"%s\"", a->words[1]);
    rc = tmdbq_status(h, &s);
    if (rc != TMDBQ_OK)
        return rc;
    rc = print_made(a, a->json ? tmdbq_status_to_json(s) : tmdbq_status_to_text(s));
    /* The database part is printed; a broker that cannot be reached is still a failed
     * service, which scripts see in the exit status. */
    if (rc == TMDBQ_OK && !s->broker_reachable) {
        fprintf(stderr, "tmdbq: the broker is unreachable: %s\n",
                s->broker_error ? s->broker_error : "");
        rc = TMDBQ_ESERVICE;
    }
    tmdbq_status_free(s);
    return rc;
}

struct command {
    const char *name;
    int (*run)(const struct cli_args *a, struct tmdbq *h);
};

static const struct command commands[] = {
    {"migrate", cmd_migrate}, {"enqueue", cmd_enqueue}, {"apply", cmd_apply},
    {"show", cmd_show},       {"stats", cmd_stats},     {"pending", cmd_pending},
    {"failed", cmd_failed},   {"session", cmd_session}, {"retry", cmd_retry},
    {"cancel", cmd_cancel},   {"process", cmd_process}, {"pause", cmd_pause},
    {"resume", cmd_resume},   {"status", cmd_status},   {NULL, NULL},
};

int cli_main(int argc, char **argv)
{
    struct cli_args a;
    const struct command *cmd = NULL;
    struct tmdbq *h = NULL;
    struct cfg cfg;
    struct err e = {0};
    int rc;

    rc = parse_args(argc, argv, &a);
    if (rc < 0)
        return TMDBQ_OK;
    if (rc != TMDBQ_OK)
        return rc;
    for (const struct command *c = commands; c->name; c++) {
        if (strcmp(c->name, a.words[0]) == 0)
            cmd = c;
    }
    if (cmd == NULL)
        return usage_error("unknown command \"%s\"", a.words[0]);
    if (a.stdin_creds && (strcmp(a.words[0], "session") != 0 || a.n_words < 2 ||
                          strcmp(a.words[1], "set") != 0))
        return usage_error("%s", "--stdin goes with session set");

    /* The log follows the configuration; a bad value is reported by tmdbq_open below. */
    if (cfg_load(&cfg, &e) == ST_OK)
        log_init("tmdbq", cfg.log_level, cfg.log_format);
    else
        log_init("tmdbq", LOG_LEVEL_INFO, LOG_FORMAT_TEXT);

    rc = tmdbq_open(a.database_url, a.amqp_url, &h);
    if (rc == TMDBQ_OK)
        rc = cmd->run(&a, h);
    if (rc != TMDBQ_OK && h != NULL && tmdbq_errmsg(h)[0] != '\0')
        fprintf(stderr, "tmdbq: %s\n", tmdbq_errmsg(h));
    tmdbq_close(h);
    return rc;
}
