/* The subscription routes (api_subscriptions.c). */
#ifndef HERALD_API_SUBSCRIPTIONS_H
#define HERALD_API_SUBSCRIPTIONS_H

#include "api_http.h"

void api_subscriptions_create(struct api_request *r);
void api_subscriptions_list(struct api_request *r);
void api_subscriptions_get(struct api_request *r);
void api_subscriptions_replace(struct api_request *r);
void api_subscriptions_patch(struct api_request *r);
void api_subscriptions_delete(struct api_request *r);
void api_subscriptions_rotate(struct api_request *r);

#endif
