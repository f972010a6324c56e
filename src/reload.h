/* SIGHUP: re-read the configuration, apply the keys that change live, name those that need a restart. */
#ifndef HERALD_RELOAD_H
#define HERALD_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define RELOAD_KEYS_MAX 64

/* What changed between two configurations, in table order. */
struct reload_plan {
	const char *live[RELOAD_KEYS_MAX];    /* applied at once */
	size_t nlive;
	const char *restart[RELOAD_KEYS_MAX]; /* kept until a restart */
	size_t nrestart;
};

/* Pure: compare every key of old and next. */
void reload_plan(const struct config *old, const struct config *next,
		 struct reload_plan *plan);

/* Does a live key have the function that applies it?  (Each RELOAD_LIVE
 * key must; the unit tests check.) */
bool reload_has_hook(const char *key);

/* Copy plan's live keys from next into *current and apply each, once per
 * hook; then the hooks that read files (the TLS certificate) run whether
 * their keys changed or not.  The restart keys of *current stay as they
 * are. */
void reload_apply(struct config *current, const struct config *next,
		  const struct reload_plan *plan);

/* Run only the hooks that read files, with *current's settings (a reload
 * without a configuration file still re-reads the certificate). */
void reload_files(const struct config *current);

/* The whole reload, on the thread that took SIGHUP: re-read argv's -c file
 * under argv's flags, apply what is live to *current and log what changed.
 * On any error every setting is kept and the reason is logged; 0 or -1.
 * Without -c the settings are kept and the files re-read (reload_files). */
int reload_run(struct config *current, int argc, char **argv);

#endif
