/*
 * ui: the dashboard's embedded files by path (see ui.h).
 */
#include "ui.h"

#include <string.h>

#include "ui_files.h"

static const struct entry {
    const char *path;
    const char *content_type;
    const char *data;
    const size_t *len;
} files[] = {
    {"/", "text/html; charset=utf-8", ui_index_html, &ui_index_html_len},
    {"/ui/app.css", "text/css; charset=utf-8", ui_app_css, &ui_app_css_len},
    {"/ui/app.js", "text/javascript; charset=utf-8", ui_app_js, &ui_app_js_len},
    {"/ui/icon.svg", "image/svg+xml", ui_icon_svg, &ui_icon_svg_len},
};

bool ui_owns(const char *path)
{
    return strcmp(path, "/") == 0 || strncmp(path, "/ui/", 4) == 0;
}

bool ui_find(const char *path, struct ui_file *out)
{
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (strcmp(files[i].path, path) == 0) {
            out->content_type = files[i].content_type;
            out->data = files[i].data;
            out->len = *files[i].len;
            return true;
        }
    }
    return false;
}
