/* Test helper: a configuration field as the text a herald.conf line holds. */
#ifndef HERALD_TEST_CONFIG_TEXT_H
#define HERALD_TEST_CONFIG_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Write the field named key of *c into buf the way the file writes it
 * ("true", "warn", "1048576"); false for an unknown key. */
bool config_field_text(const struct config *c, const char *key, char *buf,
		       size_t len);

#endif
