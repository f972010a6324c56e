/* The web console's routes: the files under /ui/, compiled in, with a strict Content-Security-Policy; they hold no data, so they need no key. */
#include <string.h>

#include "api_ui.h"
#include "ui_files.h"

/* Only herald's own files, scripts and styles; no inline script or
 * style, no framing, no form posted elsewhere. */
#define UI_CSP \
	"default-src 'self'; script-src 'self'; style-src 'self'; " \
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; " \
	"base-uri 'none'; form-action 'self'"

static const struct ui_file *
find_file(const char *path)
{
	for (size_t i = 0; i < ui_nfiles; i++)
		if (strcmp(ui_files[i].path, path) == 0)
			return &ui_files[i];
	return NULL;
}

/* /ui: the console is /ui/, where its relative links resolve. */
void
api_ui_redirect(struct api_request *r)
{
	strcpy(r->location, "/ui/");
	api_reply_empty(r, MHD_HTTP_MOVED_PERMANENTLY);
}

/* /ui/ (index.html) and /ui/{file}.  Revalidated on every load (no
 * version in the names): a matching If-None-Match is 304. */
void
api_ui_get(struct api_request *r)
{
	const struct ui_file *f;
	const char *inm;

	f = find_file(strcmp(r->url, "/ui/") == 0 ? "/ui/index.html" : r->url);
	if (f == NULL) {
		api_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found",
				"no such resource: %s", r->url);
		return;
	}
	api_add_header(r, "Content-Security-Policy", UI_CSP);
	api_add_header(r, "X-Content-Type-Options", "nosniff");
	api_add_header(r, "Referrer-Policy", "no-referrer");
	api_add_header(r, "Cache-Control", "no-cache");
	api_add_header(r, "ETag", f->etag);
	inm = api_header(r, "If-None-Match");
	if (inm != NULL && strstr(inm, f->etag) != NULL) {
		api_reply_empty(r, MHD_HTTP_NOT_MODIFIED);
		return;
	}
	api_reply_static(r, MHD_HTTP_OK, f->content_type, f->data, f->len);
}
