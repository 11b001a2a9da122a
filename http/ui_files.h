/*
 * ui_files: the dashboard's files (http/ui/), embedded into the binary at build time by
 * embed.cmake, one array each (NUL-terminated; _len is without the NUL). ui.c serves
 * them.
 */
#ifndef TMDBQ_HTTP_UI_FILES_H
#define TMDBQ_HTTP_UI_FILES_H

#include <stddef.h>

extern const char ui_index_html[];
extern const size_t ui_index_html_len;
extern const char ui_app_css[];
extern const size_t ui_app_css_len;
extern const char ui_app_js[];
extern const size_t ui_app_js_len;
extern const char ui_icon_svg[];
extern const size_t ui_icon_svg_len;

#endif
