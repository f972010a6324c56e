/* The web console's files, compiled in (ui_files.c is generated from ui/ by build-aux/embed-ui.sh). */
#ifndef HERALD_UI_FILES_H
#define HERALD_UI_FILES_H

#include <stddef.h>

struct ui_file {
	const char *path;         /* as requested, e.g. "/ui/app.js" */
	const char *content_type;
	const char *etag;         /* quoted, changes with the content */
	const unsigned char *data;
	size_t len;
};

extern const struct ui_file ui_files[];
extern const size_t ui_nfiles;

#endif
