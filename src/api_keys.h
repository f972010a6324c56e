/* The API key routes (api_keys.c). */
#ifndef HERALD_API_KEYS_H
#define HERALD_API_KEYS_H

#include "api_http.h"

void api_keys_create(struct api_request *r);
void api_keys_list(struct api_request *r);
void api_keys_delete(struct api_request *r);
void api_keys_self(struct api_request *r);

#endif
