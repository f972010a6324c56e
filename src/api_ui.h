/* The web console's routes (api_ui.c). */
#ifndef HERALD_API_UI_H
#define HERALD_API_UI_H

#include "api_http.h"

void api_ui_redirect(struct api_request *r);
void api_ui_get(struct api_request *r);

#endif
