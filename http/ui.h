/*
 * ui: the dashboard, a page in the browser over the /v1 API (http/ui/: plain HTML, CSS
 * and JavaScript, no library). Its files are embedded into the binary and served without
 * a token at / and /ui/<file>: they hold no data. The page asks a person for the token,
 * keeps it in the browser tab's sessionStorage, and calls /v1 with it like any client.
 *
 * Every file is served with a Content-Security-Policy that allows only this server's own
 * scripts, styles, images and API (no inline script, no other origin, no framing), so
 * the token the page holds cannot be sent anywhere else by injected content.
 */
#ifndef TMDBQ_HTTP_UI_H
#define TMDBQ_HTTP_UI_H

#include <stdbool.h>
#include <stddef.h>

struct ui_file {
    const char *content_type; /* with charset for text */
    const char *data;         /* static storage, NUL-terminated */
    size_t len;               /* without the NUL */
};

/* Whether path (without the query) is the dashboard's: "/" or under "/ui/". */
bool ui_owns(const char *path);

/* The file served at path: true and *out filled, or false when there is none. */
bool ui_find(const char *path, struct ui_file *out);

/* The Content-Security-Policy header of every dashboard response. */
#define UI_CSP                                                                           \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "          \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

#endif
