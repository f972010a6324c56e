/* The bulk operation routes of a subscription: replay (as an operation, or a dry run), show, list, cancel. */
#ifndef HERALD_API_OPERATIONS_H
#define HERALD_API_OPERATIONS_H

#include "api_http.h"

void api_operations_replay(struct api_request *r);
void api_operations_list(struct api_request *r);
void api_operations_get(struct api_request *r);
void api_operations_cancel(struct api_request *r);

#endif
