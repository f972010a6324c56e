/* SIGHUP: re-read the configuration, apply the keys that change live, name those that need a restart. */
#include "reload.h"

#include <stdio.h>
#include <string.h>

#include "keylimit.h"
#include "log.h"
#include "metrics.h"
#include "tls.h"

/*
 * Runs on main's thread alone.  The struct config the other threads hold
 * never changes after start: a live value reaches them only through its
 * hook, which stores it where they read it safely (an atomic, or under the
 * module's lock).
 */

static void
apply_log_level(const struct config *c)
{
	log_set_level(c->log_level);
}

static void
apply_log_format(const struct config *c)
{
	log_set_format(c->log_format);
}

static void
apply_api_rate(const struct config *c)
{
	keylimit_init(c->api_rate, c->api_burst);
}

static void
apply_metrics_per_subscription(const struct config *c)
{
	metrics_set_per_subscription(c->metrics_per_subscription);
}

static void
apply_tls(const struct config *c)
{
	tls_reload(c);
}

/* One row per RELOAD_LIVE key: keys that share a hook run it once.  A
 * hook that reads the files its keys name runs on every reload, changed
 * or not: a renewed certificate keeps its file name. */
static const struct live_hook {
	const char *key;
	void (*apply)(const struct config *c);
	bool reads_files;
} hooks[] = {
	{"log_level", apply_log_level, false},
	{"log_format", apply_log_format, false},
	{"api_rate", apply_api_rate, false},
	{"api_burst", apply_api_rate, false},
	{"metrics_per_subscription", apply_metrics_per_subscription, false},
	{"tls_cert_file", apply_tls, true},
	{"tls_key_file", apply_tls, true},
};

#define N_HOOKS (sizeof(hooks) / sizeof(hooks[0]))

static const struct live_hook *
find_hook(const char *key)
{
	for (size_t i = 0; i < N_HOOKS; i++)
		if (strcmp(hooks[i].key, key) == 0)
			return &hooks[i];
	return NULL;
}

bool
reload_has_hook(const char *key)
{
	return find_hook(key) != NULL;
}

void
reload_plan(const struct config *old, const struct config *next,
	    struct reload_plan *plan)
{
	const char *const *keys = config_key_names();

	plan->nlive = plan->nrestart = 0;
	for (size_t i = 0; keys[i] != NULL; i++) {
		if (!config_key_differs(old, next, keys[i]))
			continue;
		/* a live key without a hook could not be applied: it waits
		 * for a restart like the others */
		if (config_key_reload(keys[i]) == RELOAD_LIVE &&
		    reload_has_hook(keys[i])) {
			if (plan->nlive < RELOAD_KEYS_MAX)
				plan->live[plan->nlive++] = keys[i];
		} else if (plan->nrestart < RELOAD_KEYS_MAX) {
			plan->restart[plan->nrestart++] = keys[i];
		}
	}
}

/* Run h's function on c unless it ran already (done holds *ndone). */
static void
run_once(const struct live_hook *h, const struct config *c,
	 void (**done)(const struct config *), size_t *ndone)
{
	for (size_t k = 0; k < *ndone; k++)
		if (done[k] == h->apply)
			return;
	h->apply(c);
	if (*ndone < N_HOOKS)
		done[(*ndone)++] = h->apply;
}

void
reload_files(const struct config *current)
{
	void (*done[N_HOOKS])(const struct config *);
	size_t ndone = 0;

	for (size_t i = 0; i < N_HOOKS; i++)
		if (hooks[i].reads_files)
			run_once(&hooks[i], current, done, &ndone);
}

void
reload_apply(struct config *current, const struct config *next,
	     const struct reload_plan *plan)
{
	void (*done[N_HOOKS])(const struct config *);
	size_t ndone = 0;

	for (size_t i = 0; i < plan->nlive; i++)
		config_copy_key(current, next, plan->live[i]);
	for (size_t i = 0; i < plan->nlive; i++) {
		const struct live_hook *h = find_hook(plan->live[i]);

		if (h != NULL)
			run_once(h, current, done, &ndone);
	}
	for (size_t i = 0; i < N_HOOKS; i++)
		if (hooks[i].reads_files)
			run_once(&hooks[i], current, done, &ndone);
}

int
reload_run(struct config *current, int argc, char **argv)
{
	struct config next;
	struct reload_plan plan;
	char err[1024];
	char summary[1024];
	size_t n = 0;

	if (config_file_arg(argc, argv) == NULL) {
		log_warn("reload: no configuration file to re-read (herald "
			 "was started without -c); the settings are kept");
		reload_files(current);
		return -1;
	}
	config_defaults(&next);
	if (config_reread(&next, argc, argv, err, sizeof(err)) != 0) {
		log_error("reload failed: %s; every setting is kept", err);
		config_free(&next);
		return -1;
	}
	reload_plan(current, &next, &plan);
	for (size_t i = 0; i < plan.nrestart; i++)
		log_warn("reload: %s changed and needs a restart; the running "
			 "value is kept", plan.restart[i]);
	summary[0] = '\0';
	for (size_t i = 0; i < plan.nlive && n < sizeof(summary); i++) {
		char from[64], to[64];

		config_value_text(current, plan.live[i], from, sizeof(from));
		config_value_text(&next, plan.live[i], to, sizeof(to));
		n += (size_t)snprintf(summary + n, sizeof(summary) - n, "%s%s %s -> %s",
				      i ? ", " : "", plan.live[i], from, to);
	}
	/* said before it applies, under the level that was asked for the
	 * lines until now */
	if (plan.nlive > 0)
		log_info("reloaded: %s", summary);
	else
		log_info("reloaded: no live setting changed");
	reload_apply(current, &next, &plan);
	config_free(&next);
	return 0;
}
