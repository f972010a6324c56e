/* Test helper: a configuration field as the text a herald.conf line holds. */
#include <stdio.h>
#include <string.h>

#include "config_text.h"

bool
config_field_text(const struct config *c, const char *key, char *buf, size_t len)
{
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	const struct {
		const char *key;
		long value;
	} ints[] = {
		{"max_event_bytes", c->max_event_bytes},
		{"max_batch_bytes", c->max_batch_bytes},
		{"api_threads", c->api_threads},
		{"db_pool_size", c->db_pool_size},
		{"max_connections", c->max_connections},
		{"connection_timeout", c->connection_timeout},
		{"writer_batch_max", c->writer_batch_max},
		{"writers", c->writers},
		{"max_connections_per_ip", c->max_connections_per_ip},
		{"api_rate", c->api_rate},
		{"api_burst", c->api_burst},
		{"secret_grace", c->secret_grace},
		{"backlog_alert", c->backlog_alert},
		{"group_max_failures", c->group_max_failures},
		{"group_refused_seconds", c->group_refused_seconds},
		{"relay_lag_warn", c->relay_lag_warn},
	};

	const struct {
		const char *key;
		long value;
	} durations[] = {
		{"retention", c->retention},
		{"partition_interval", c->partition_interval},
	};

	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		long v = durations[i].value;

		if (strcmp(key, durations[i].key) != 0)
			continue;
		/* the largest of d, h, m, s that divides it */
		if (v > 0 && v % 86400 == 0)
			snprintf(buf, len, "%ldd", v / 86400);
		else if (v > 0 && v % 3600 == 0)
			snprintf(buf, len, "%ldh", v / 3600);
		else if (v > 0 && v % 60 == 0)
			snprintf(buf, len, "%ldm", v / 60);
		else
			snprintf(buf, len, "%lds", v);
		return true;
	}
	if (strcmp(key, "listen") == 0)
		snprintf(buf, len, "%s", c->listen);
	else if (strcmp(key, "database_url") == 0)
		snprintf(buf, len, "%s", c->database_url);
	else if (strcmp(key, "admin_key") == 0)
		snprintf(buf, len, "%s", c->admin_key);
	else if (strcmp(key, "allow_private_sinks") == 0)
		snprintf(buf, len, "%s", c->allow_private_sinks ? "true" : "false");
	else if (strcmp(key, "tls_cert_file") == 0)
		snprintf(buf, len, "%s", c->tls_cert_file);
	else if (strcmp(key, "tls_key_file") == 0)
		snprintf(buf, len, "%s", c->tls_key_file);
	else if (strcmp(key, "tls_priorities") == 0)
		snprintf(buf, len, "%s", c->tls_priorities);
	else if (strcmp(key, "relay_from") == 0)
		snprintf(buf, len, "%s", c->relay_from);
	else if (strcmp(key, "relay_slot") == 0)
		snprintf(buf, len, "%s", c->relay_slot);
	else if (strcmp(key, "metrics_listen") == 0)
		snprintf(buf, len, "%s", c->metrics_listen);
	else if (strcmp(key, "metrics_per_subscription") == 0)
		snprintf(buf, len, "%s", c->metrics_per_subscription ? "true" : "false");
	else if (strcmp(key, "log_level") == 0)
		snprintf(buf, len, "%s", levels[c->log_level]);
	else if (strcmp(key, "log_format") == 0)
		snprintf(buf, len, "%s",
			 c->log_format == LOG_FORMAT_JSON ? "json" : "text");
	else {
		for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
			if (strcmp(key, ints[i].key) == 0) {
				snprintf(buf, len, "%ld", ints[i].value);
				return true;
			}
		}
		return false;
	}
	return true;
}
