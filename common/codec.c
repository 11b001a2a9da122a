/*
 * codec: JSON in and out; the only file that includes <jansson.h>.
 *
 * Every way in (CLI flags with --data, a bulk line) is reduced to one struct op_input
 * plus an optional data object and goes through request_build, so the rules for each
 * operation type live in one table. A field given both on its own (a flag, a top-level
 * key) and in data must have the same value in both. The canonical operation_data is
 * compact with sorted keys, which makes equal requests byte-equal (deduplication compares
 * them). Output strings are copied into malloc'd buffers so callers free them with free()
 * whatever allocator jansson uses.
 */
#include "codec.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_CHARS 255
#define DESCRIPTION_MAX_BYTES 10000
#define TYPE_LIST                                                                        \
    "create_list, update_list, delete_list, clear_list, add_movie, remove_movie"

/* The keys operation_data may hold, as bits so a type's rule is two masks. */
enum field { F_NAME, F_DESCRIPTION, F_PUBLIC, F_MOVIE_ID, F_COUNT };

#define BIT(f) (1u << (f))

static const char *const field_keys[F_COUNT] = {
    [F_NAME] = "name",
    [F_DESCRIPTION] = "description",
    [F_PUBLIC] = "public",
    [F_MOVIE_ID] = "movie_id",
};

struct type_rule {
    unsigned allowed;  /* keys that may appear */
    unsigned required; /* keys that must appear */
    bool need_one;     /* at least one allowed key must appear (update_list) */
};

static const struct type_rule type_rules[OP_TYPE_COUNT] = {
    [OP_CREATE_LIST] = {BIT(F_NAME) | BIT(F_DESCRIPTION) | BIT(F_PUBLIC), BIT(F_NAME),
                        false},
    [OP_UPDATE_LIST] = {BIT(F_NAME) | BIT(F_DESCRIPTION) | BIT(F_PUBLIC), 0, true},
    [OP_DELETE_LIST] = {0, 0, false},
    [OP_CLEAR_LIST] = {0, 0, false},
    [OP_ADD_MOVIE] = {BIT(F_MOVIE_ID), BIT(F_MOVIE_ID), false},
    [OP_REMOVE_MOVIE] = {BIT(F_MOVIE_ID), BIT(F_MOVIE_ID), false},
};

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 when it is not one.
 * Overlong forms, surrogates and code points above U+10FFFF are rejected, as jansson
 * does. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0) {
        len = 2;
    } else if (c < 0xF0) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c < 0xF5) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    }
    return len;
}

static bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        size_t len = utf8_seq_len(p + i, n - i);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

/* A JSON string for n bytes of s. Text from outside (TMDB's error bodies, libcurl) may
 * not be UTF-8; rather than lose the whole object, bad bytes become U+FFFD. NULL on
 * OOM. */
static json_t *json_text(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    char *fixed = NULL;
    size_t used = 0, i = 0;
    json_t *v = NULL;

    if (utf8_valid(s, n))
        return json_stringn(s, n);
    if (n > (SIZE_MAX - 1) / 3)
        goto out;
    fixed = malloc(n * 3 + 1);
    if (fixed == NULL)
        goto out;
    while (i < n) {
        size_t len = utf8_seq_len(p + i, n - i);
        if (len == 0) {
            memcpy(fixed + used, "\xEF\xBF\xBD", 3);
            used += 3;
            i++;
        } else {
            memcpy(fixed + used, s + i, len);
            used += len;
            i += len;
        }
    }
    v = json_stringn(fixed, used);
out:
    free(fixed);
    return v;
}

/* v serialised into a buffer from malloc (not jansson's allocator), NUL-terminated. */
static char *dump_malloc(const json_t *v, size_t flags)
{
    size_t n = json_dumpb(v, NULL, 0, flags);
    char *buf = NULL;

    if (n == 0)
        return NULL;
    buf = malloc(n + 1);
    if (buf == NULL)
        return NULL;
    if (json_dumpb(v, buf, n, flags) != n) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static enum field field_of(const char *key)
{
    for (int f = 0; f < F_COUNT; f++) {
        if (strcmp(key, field_keys[f]) == 0)
            return (enum field)f;
    }
    return F_COUNT;
}

/* Tell which keys the type takes, for the unknown-field message. */
static void describe_allowed(unsigned allowed, char *buf, size_t size)
{
    size_t used = 0;
    int count = 0;
    bool first = true;

    for (int f = 0; f < F_COUNT; f++)
        count += (allowed & BIT(f)) ? 1 : 0;
    if (count == 0) {
        snprintf(buf, size, "it takes no data");
        return;
    }
    used = (size_t)snprintf(buf, size, "%s", count == 1 ? "expected" : "expected one of");
    for (int f = 0; f < F_COUNT && used < size; f++) {
        if (!(allowed & BIT(f)))
            continue;
        int w = snprintf(buf + used, size - used, "%s \"%s\"", first ? "" : ",",
                         field_keys[f]);
        if (w < 0)
            break;
        used += (size_t)w;
        first = false;
    }
}

static bool is_id(json_int_t v) { return v >= 1 && v <= INT32_MAX; }

/* The first control character of s (n bytes of valid UTF-8): C0 (U+0000 to U+001F), DEL
 * and C1 (U+0080 to U+009F), but tab, LF and CR when text may hold them (a description
 * may have lines). Returns its code point and sets *at to its 1-based position in
 * characters; -1 when there is none. A name or description is shown by TMDB and by
 * terminals; a control character there is a paste gone wrong or an escape sequence. */
static long control_char(const char *s, size_t n, bool text, size_t *at)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t chars = 0;

    for (size_t i = 0; i < n; i++) {
        long cp = -1;

        if ((p[i] & 0xC0) == 0x80)
            continue; /* inside a multibyte character */
        chars++;
        if (p[i] < 0x20 || p[i] == 0x7F)
            cp = p[i];
        else if (p[i] == 0xC2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F)
            cp = p[i + 1];
        if (cp < 0 || (text && (cp == '\t' || cp == '\n' || cp == '\r')))
            continue;
        *at = chars;
        return cp;
    }
    return -1;
}

/* A string value of key: at most max code points (chars; else bytes) and no control
 * character (text: but tab and line breaks). */
static enum status check_text(const char *tname, const char *key, const json_t *v,
                              size_t max, bool chars, bool text, struct err *e)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v), n = len, at = 0;
    long cp;

    if (chars) {
        /* Count code points, not bytes: the limit is what a person sees. */
        n = 0;
        for (size_t i = 0; i < len; i++)
            n += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    if (n > max)
        return err_set(e, ST_INVALID, "%s: \"%s\" is longer than %zu %s", tname, key, max,
                       chars ? "characters" : "bytes");
    cp = control_char(s, len, text, &at);
    if (cp >= 0)
        return err_set(e, ST_INVALID,
                       "%s: \"%s\" must not contain control characters%s (U+%04lX at "
                       "character %zu)",
                       tname, key, text ? " but tab and line breaks" : "",
                       (unsigned long)cp, at);
    return ST_OK;
}

/* Check one present value; the rules for a key are the same whatever the type. */
static enum status check_field(const char *tname, enum field f, const json_t *v,
                               struct err *e)
{
    const char *key = field_keys[f];

    switch (f) {
    case F_NAME:
        if (!json_is_string(v))
            return err_set(e, ST_INVALID, "%s: \"%s\" must be a string", tname, key);
        if (json_string_length(v) == 0)
            return err_set(e, ST_INVALID, "%s: \"%s\" must not be empty", tname, key);
        return check_text(tname, key, v, NAME_MAX_CHARS, true, false, e);
    case F_DESCRIPTION:
        if (!json_is_string(v))
            return err_set(e, ST_INVALID, "%s: \"%s\" must be a string", tname, key);
        return check_text(tname, key, v, DESCRIPTION_MAX_BYTES, false, true, e);
    case F_PUBLIC:
        if (!json_is_boolean(v))
            return err_set(e, ST_INVALID, "%s: \"%s\" must be true or false", tname, key);
        break;
    case F_MOVIE_ID:
        if (!json_is_integer(v) || !is_id(json_integer_value(v)))
            return err_set(e, ST_INVALID, "%s: \"%s\" must be a positive integer", tname,
                           key);
        break;
    case F_COUNT:
        break;
    }
    return ST_OK;
}

/* A string flag as a JSON string; the CLI hands us raw argv bytes, so check UTF-8 here to
 * tell bad input (ST_INVALID) from out of memory. */
static enum status flag_string(const char *tname, const char *key, const char *s,
                               json_t **out, struct err *e)
{
    if (!utf8_valid(s, strlen(s)))
        return err_set(e, ST_INVALID, "%s: \"%s\" is not valid UTF-8", tname, key);
    *out = json_string(s);
    if (*out == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    return ST_OK;
}

/* Put v (stolen, NULL on OOM) under key in data for the flag named flag. When data
 * already holds key with another value the two disagree, and which one was meant is not
 * ours to guess: refused, rather than one silently winning. The same value twice is
 * fine. */
static enum status put_flag(const char *tname, const char *flag, const char *key,
                            json_t *v, json_t *data, struct err *e)
{
    const json_t *old = json_object_get(data, key);
    enum status st = ST_OK;

    if (v == NULL)
        return err_set(e, ST_NOMEM, "out of memory");
    if (old != NULL && !json_equal(old, v)) {
        if (json_is_integer(old) && json_is_integer(v))
            st = err_set(e, ST_INVALID,
                         "%s: \"%s\" (%lld) and \"%s\" in \"data\" (%lld) differ; give "
                         "one of them",
                         tname, flag, (long long)json_integer_value(v), key,
                         (long long)json_integer_value(old));
        else
            st = err_set(e, ST_INVALID,
                         "%s: \"%s\" and \"%s\" in \"data\" differ; give one of them",
                         tname, flag, key);
        json_decref(v);
        return st;
    }
    if (json_object_set_new(data, key, v) != 0)
        return err_set(e, ST_NOMEM, "out of memory");
    return ST_OK;
}

/* Lay the flags over data; a flag the type does not take is caught later as an unknown
 * field under the key it maps to, so --movie on create_list names "movie_id". */
static enum status apply_flags(const char *tname, const struct op_input *in, json_t *data,
                               struct err *e)
{
    enum status st = ST_OK;
    json_t *v = NULL;

    if (in->has_movie) {
        st = put_flag(tname, "movie", "movie_id", json_integer((json_int_t)in->movie),
                      data, e);
        if (st != ST_OK)
            return st;
    }
    if (in->name != NULL) {
        st = flag_string(tname, "name", in->name, &v, e);
        if (st == ST_OK)
            st = put_flag(tname, "name", "name", v, data, e);
        if (st != ST_OK)
            return st;
    }
    if (in->description != NULL) {
        st = flag_string(tname, "description", in->description, &v, e);
        if (st == ST_OK)
            st = put_flag(tname, "description", "description", v, data, e);
        if (st != ST_OK)
            return st;
    }
    if (in->public_flag != -1) {
        if (in->public_flag != 0 && in->public_flag != 1)
            return err_set(e, ST_INVALID, "%s: \"public\" must be true or false", tname);
        st = put_flag(tname, "public", "public", json_boolean(in->public_flag), data, e);
        if (st != ST_OK)
            return st;
    }
    return ST_OK;
}

/* Check data's keys and values against the type's rule. */
static enum status check_data(enum op_type type, const char *tname, const json_t *data,
                              struct err *e)
{
    const struct type_rule *rule = &type_rules[type];
    unsigned present = 0;
    const char *key;
    json_t *v;
    enum status st;

    /* Unknown keys first: {"movie": 550} should say "movie" is wrong, not that "movie_id"
     * is missing. */
    json_object_foreach((json_t *)data, key, v)
    {
        enum field f = field_of(key);
        if (f == F_COUNT || !(rule->allowed & BIT(f))) {
            char allowed[128];
            describe_allowed(rule->allowed, allowed, sizeof allowed);
            return err_set(e, ST_INVALID, "%s: unknown field \"%s\" (%s)", tname, key,
                           allowed);
        }
        present |= BIT(f);
    }
    for (int f = 0; f < F_COUNT; f++) {
        if ((rule->required & BIT(f)) && !(present & BIT(f)))
            return err_set(e, ST_INVALID, "%s: \"%s\" is required", tname, field_keys[f]);
    }
    if (rule->need_one && present == 0)
        return err_set(e, ST_INVALID,
                       "%s: at least one of \"name\", \"description\", \"public\" is "
                       "required",
                       tname);
    for (int f = 0; f < F_COUNT; f++) {
        if (!(present & BIT(f)))
            continue;
        st = check_field(tname, (enum field)f, json_object_get(data, field_keys[f]), e);
        if (st != ST_OK)
            return st;
    }
    return ST_OK;
}

/* The one validation path. data is a reference this function takes over (NULL when the
 * caller has none as an object; then in->data_json, if any, is parsed here, after the
 * type, user and list are known good so those errors come first). */
static enum status request_build(const struct op_input *in, json_t *data,
                                 struct op_request *out, struct err *e)
{
    enum status st = ST_OK;
    enum op_type type;
    const char *tname;
    char *text = NULL;

    memset(out, 0, sizeof *out);
    if (in->type == NULL) {
        st = err_set(e, ST_INVALID, "\"type\" is required (one of " TYPE_LIST ")");
        goto out;
    }
    if (!op_type_parse(in->type, &type)) {
        st = err_set(e, ST_INVALID,
                     "unknown operation type \"%s\" (expected one of " TYPE_LIST ")",
                     in->type);
        goto out;
    }
    tname = op_type_name(type);
    if (!in->has_user) {
        st = err_set(e, ST_INVALID, "\"user\" is required");
        goto out;
    }
    if (in->user < 1 || in->user > INT32_MAX) {
        st = err_set(e, ST_INVALID,
                     "\"user\" must be a positive integer (1 to 2147483647), got %lld",
                     (long long)in->user);
        goto out;
    }
    if (op_type_needs_list(type)) {
        if (!in->has_list) {
            st = err_set(e, ST_INVALID, "%s: \"list\" is required", tname);
            goto out;
        }
        if (in->list < 1 || in->list > INT32_MAX) {
            st = err_set(e, ST_INVALID,
                         "%s: \"list\" must be a positive integer (1 to 2147483647), got "
                         "%lld",
                         tname, (long long)in->list);
            goto out;
        }
    } else if (in->has_list) {
        st = err_set(e, ST_INVALID, "%s: \"list\" must not be given", tname);
        goto out;
    }

    if (data == NULL && in->data_json != NULL) {
        json_error_t jerr;
        data = json_loads(in->data_json, JSON_REJECT_DUPLICATES, &jerr);
        if (data == NULL) {
            st = err_set(e, ST_INVALID,
                         "\"data\" must be a JSON object: invalid JSON: %s at column %d",
                         jerr.text, jerr.column);
            goto out;
        }
    } else if (data == NULL) {
        data = json_object();
        if (data == NULL) {
            st = err_set(e, ST_NOMEM, "out of memory");
            goto out;
        }
    }
    if (!json_is_object(data)) {
        st = err_set(e, ST_INVALID, "\"data\" must be a JSON object");
        goto out;
    }
    st = apply_flags(tname, in, data, e);
    if (st != ST_OK)
        goto out;
    st = check_data(type, tname, data, e);
    if (st != ST_OK)
        goto out;

    text = dump_malloc(data, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL) {
        st = err_set(e, ST_NOMEM, "out of memory");
        goto out;
    }
    out->type = type;
    out->user_id = (int32_t)in->user;
    out->list_id = op_type_needs_list(type) ? (int32_t)in->list : 0;
    out->data_json = text;
out:
    json_decref(data);
    return st;
}

enum status codec_request_build(const struct op_input *in, struct op_request *out,
                                struct err *e)
{
    return request_build(in, NULL, out, e);
}

enum status codec_request_from_line(const char *line, struct op_request *out,
                                    struct err *e)
{
    enum status st = ST_OK;
    json_error_t jerr;
    json_t *root = NULL, *data = NULL, *v;
    const char *key;
    struct op_input in = {.public_flag = -1};

    memset(out, 0, sizeof *out);
    if (line == NULL) {
        st = err_set(e, ST_INVALID, "invalid JSON: empty line");
        goto out;
    }
    root = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        st = err_set(e, ST_INVALID, "invalid JSON: %s at column %d", jerr.text,
                     jerr.column);
        goto out;
    }
    if (!json_is_object(root)) {
        st = err_set(e, ST_INVALID, "a line must be a JSON object");
        goto out;
    }
    /* Only shape is checked here; values and ranges are request_build's job. */
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "type") == 0) {
            if (!json_is_string(v)) {
                st = err_set(e, ST_INVALID, "\"type\" must be a string");
                goto out;
            }
            in.type = json_string_value(v);
        } else if (strcmp(key, "user") == 0 || strcmp(key, "list") == 0 ||
                   strcmp(key, "movie") == 0) {
            if (!json_is_integer(v)) {
                st = err_set(e, ST_INVALID, "\"%s\" must be an integer", key);
                goto out;
            }
            if (key[0] == 'u') {
                in.user = json_integer_value(v);
                in.has_user = true;
            } else if (key[0] == 'l') {
                in.list = json_integer_value(v);
                in.has_list = true;
            } else {
                in.movie = json_integer_value(v);
                in.has_movie = true;
            }
        } else if (strcmp(key, "name") == 0 || strcmp(key, "description") == 0) {
            if (!json_is_string(v)) {
                st = err_set(e, ST_INVALID, "\"%s\" must be a string", key);
                goto out;
            }
            if (key[0] == 'n')
                in.name = json_string_value(v);
            else
                in.description = json_string_value(v);
        } else if (strcmp(key, "public") == 0) {
            if (!json_is_boolean(v)) {
                st = err_set(e, ST_INVALID, "\"public\" must be true or false");
                goto out;
            }
            in.public_flag = json_is_true(v) ? 1 : 0;
        } else if (strcmp(key, "data") == 0) {
            if (!json_is_object(v)) {
                st = err_set(e, ST_INVALID, "\"data\" must be a JSON object");
                goto out;
            }
            data = v;
        } else {
            st = err_set(e, ST_INVALID,
                         "unknown field \"%s\" (expected type, user, list, data, movie, "
                         "name, description, public)",
                         key);
            goto out;
        }
    }
    /* Hand over the nested object itself; root is dropped afterwards, so the flags may be
     * laid over it in place. The strings in `in` are borrowed from root until out. */
    st = request_build(&in, json_incref(data), out, e);
out:
    json_decref(root);
    return st;
}

/* A copy of a secret: malloc'd, so codec_credentials_cleanup can wipe it. */
static char *secret_dup(const json_t *v)
{
    size_t n = json_string_length(v);
    char *s = malloc(n + 1);

    if (s != NULL) {
        memcpy(s, json_string_value(v), n);
        s[n] = '\0';
    }
    return s;
}

enum status codec_credentials_from_json(const char *text, size_t n,
                                        struct codec_credentials *out, struct err *e)
{
    enum status st = ST_OK;
    json_error_t jerr;
    json_t *root = NULL, *v;
    const char *key;

    memset(out, 0, sizeof *out);
    root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        /* jerr.text may quote the input ("near 'abc'"): only the place is told. */
        st = err_set(e, ST_INVALID,
                     "the credentials are not valid JSON (line %d, column %d); expected "
                     "{\"session_id\": \"...\", \"access_token\": \"...\"}",
                     jerr.line, jerr.column);
        goto out;
    }
    if (!json_is_object(root)) {
        st = err_set(e, ST_INVALID,
                     "the credentials must be a JSON object: {\"session_id\": \"...\", "
                     "\"access_token\": \"...\"}");
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        bool is_session = strcmp(key, "session_id") == 0;
        char **slot = is_session ? &out->session_id : &out->access_token;

        if (!is_session && strcmp(key, "access_token") != 0) {
            st = err_set(e, ST_INVALID,
                         "unknown field \"%.64s\" (expected session_id, access_token)",
                         key);
            goto out;
        }
        if (json_is_null(v) && !is_session)
            continue;
        if (!json_is_string(v)) {
            st = err_set(e, ST_INVALID, "\"%s\" must be a string", key);
            goto out;
        }
        *slot = secret_dup(v);
        if (*slot == NULL) {
            st = err_set(e, ST_NOMEM, "out of memory");
            goto out;
        }
    }
    if (out->session_id == NULL)
        st = err_set(e, ST_INVALID, "\"session_id\" is required");
out:
    json_decref(root);
    return st;
}

static void secret_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void codec_credentials_cleanup(struct codec_credentials *c)
{
    if (c == NULL)
        return;
    secret_free(c->session_id);
    secret_free(c->access_token);
    c->session_id = NULL;
    c->access_token = NULL;
}

/* Add v under key; v is stolen even on failure. false when v is NULL or on OOM. */
static bool put(json_t *obj, const char *key, json_t *v)
{
    return v != NULL && json_object_set_new(obj, key, v) == 0;
}

/* A fixed-size text column: empty means NULL. */
static json_t *column_text(const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    return n == 0 ? json_null() : json_text(s, n);
}

static json_t *nullable_text(const char *s)
{
    return s == NULL ? json_null() : json_text(s, strlen(s));
}

/* Stored JSON back as a value; text that does not parse is shown as a string rather than
 * dropped, so a bad row can still be inspected. */
static json_t *stored_json(const char *s)
{
    json_t *v;

    if (s == NULL)
        return json_null();
    v = json_loads(s, JSON_DECODE_ANY, NULL);
    return v != NULL ? v : json_text(s, strlen(s));
}

char *codec_op_to_json(const struct op *o, const struct codec_op_extra *extra)
{
    const char *tname = op_type_name(o->type);
    const char *sname = op_status_name(o->status);
    json_t *obj = json_object();
    char *text = NULL;
    bool ok;

    if (obj == NULL)
        goto out;
    /* Insertion order is output order (jansson >= 2.8 keeps it; the flag says we rely on
     * it), matching the table's column order. */
    ok = put(obj, "id", column_text(o->id, sizeof o->id)) &&
         put(obj, "operation_type", tname ? json_string(tname) : json_null()) &&
         put(obj, "tmdb_user_id", json_integer(o->user_id)) &&
         put(obj, "tmdb_list_id", o->list_id ? json_integer(o->list_id) : json_null()) &&
         put(obj, "operation_data", stored_json(o->data_json)) &&
         put(obj, "retry_count", json_integer(o->retry_count)) &&
         put(obj, "last_retry_at",
             column_text(o->last_retry_at, sizeof o->last_retry_at)) &&
         put(obj, "status", sname ? json_string(sname) : json_null()) &&
         put(obj, "error_message", nullable_text(o->error_message)) &&
         put(obj, "scheduled_for",
             column_text(o->scheduled_for, sizeof o->scheduled_for)) &&
         put(obj, "inserted_at", column_text(o->inserted_at, sizeof o->inserted_at)) &&
         put(obj, "updated_at", column_text(o->updated_at, sizeof o->updated_at)) &&
         put(obj, "result", stored_json(o->result_json)) &&
         put(obj, "published", json_boolean(o->published));
    if (ok && extra != NULL && extra->with_enqueue)
        ok = put(obj, "duplicate", json_boolean(extra->duplicate));
    if (!ok)
        goto out;
    text = dump_malloc(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
    json_decref(obj);
    return text;
}

char *codec_json_quote(const char *s)
{
    json_t *v = nullable_text(s);
    char *text = NULL;

    if (v != NULL)
        text = dump_malloc(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    return text;
}

/* json_int_t must be what codec.h promises its callers. */
_Static_assert(sizeof(json_int_t) == sizeof(long long), "json_int_t is long long");

char *codec_pack(const char *fmt, ...)
{
    va_list ap;
    json_t *v;
    char *text;

    va_start(ap, fmt);
    v = json_vpack_ex(NULL, 0, fmt, ap);
    va_end(ap);
    if (v == NULL)
        return NULL;
    text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_decref(v);
    return text;
}
