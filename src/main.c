/* herald's entry point: configuration, start-up, signals and orderly shutdown. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "api.h"
#include "api_table.h"
#include "auth.h"
#include "backlog.h"
#include "bulkop.h"
#include "config.h"
#include "dispatch.h"
#include "keylimit.h"
#include "log.h"
#include "reload.h"
#include "outbox.h"
#include "relay.h"
#include "partition.h"
#include "metrics.h"
#include "metrics_listen.h"
#include "store.h"
#include "tls.h"
#include "writer.h"
#include "xalloc.h"

/* How long start-up waits for PostgreSQL before giving up. */
#define CONNECT_PATIENCE_S 30
/* How long shutdown waits for requests in progress. */
#define DRAIN_TIMEOUT_MS 10000

static void
exit_now(int sig)
{
	(void)sig;
	/* a second signal during shutdown: stop without draining */
	_exit(1);
}

/* Connect, retrying while the database starts; NULL after the patience. */
static struct store_conn *
connect_patiently(const char *url)
{
	char err[512];
	struct timespec wait = {0, 500 * 1000000L};

	for (int i = 0; i < CONNECT_PATIENCE_S * 2; i++) {
		struct store_conn *c = store_connect(url, err, sizeof(err));

		if (c)
			return c;
		if (i == 0)
			log_warn("cannot connect to postgresql yet: %s", err);
		nanosleep(&wait, NULL);
	}
	log_error("cannot connect to postgresql: %s", err);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct config cfg, live;
	struct store_conn *conn = NULL;
	struct writer *writer = NULL;
	struct api *api = NULL;
	struct dispatch *dispatch = NULL;
	struct outbox *outbox = NULL;
	struct relays *relays = NULL;
	struct backlog *backlog = NULL;
	struct bulkop *bulkop = NULL;
	struct partition *partition = NULL;
	struct metrics_listen *mlisten = NULL;
	const char *admin_key;
	sigset_t sigs;
	char err[512];
	int sig = 0, rc = 1;

	switch (config_from_args(&cfg, argc, argv, stdout, stderr)) {
	case CONFIG_RUN:
		break;
	case CONFIG_EXIT_OK:
		config_free(&cfg);
		return 0;
	case CONFIG_EXIT_ERR:
		config_free(&cfg);
		return 1;
	}
	log_set_level(cfg.log_level);
	log_set_format(cfg.log_format);
	/* what SIGHUP compares a re-read file with; cfg, which the other
	 * threads hold, never changes */
	config_copy(&live, &cfg);
	{
		/* cJSON allocates under the same out-of-memory policy */
		cJSON_Hooks hooks = {xmalloc, free};

		cJSON_InitHooks(&hooks);
	}

	/* every thread started from here on inherits the blocked signals;
	 * main alone takes them with sigwait */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	/* before the database: a wrong file is said at once */
	if (tls_start(&cfg, err, sizeof(err)) != 0) {
		log_error("cannot serve HTTPS: %s", err);
		goto out;
	}
	admin_key = cfg.admin_key[0] ? cfg.admin_key : getenv("HERALD_ADMIN_KEY");
	conn = connect_patiently(cfg.database_url);
	if (conn == NULL)
		goto out;
	if (store_migrate(conn, err, sizeof(err)) != 0) {
		log_error("cannot apply the schema: %s", err);
		goto out;
	}
	if (auth_bootstrap(conn, admin_key) != 0)
		goto out;
	store_close(conn);
	conn = NULL;

	keylimit_init(cfg.api_rate, cfg.api_burst);
	writer = writer_start(cfg.database_url, cfg.writer_batch_max,
			      cfg.writers);
	if (writer == NULL)
		goto out;
	{
		size_t nroutes;
		const struct api_route *routes = api_table(&nroutes);

		api = api_start(&cfg, writer, routes, nroutes);
	}
	if (api == NULL)
		goto out;
	dispatch = dispatch_start(&cfg);
	if (dispatch == NULL)
		goto out;
	outbox = outbox_start(cfg.database_url, writer);
	if (outbox == NULL)
		goto out;
	relays = relays_start(&cfg, writer);
	if (relays == NULL)
		goto out;
	bulkop = bulkop_start(cfg.database_url);
	if (bulkop == NULL)
		goto out;
	partition = partition_start(cfg.database_url, cfg.partition_interval,
				    cfg.retention);
	if (partition == NULL)
		goto out;
	metrics_set_per_subscription(cfg.metrics_per_subscription);
	backlog = backlog_start(cfg.database_url, cfg.backlog_alert);
	if (backlog == NULL)
		goto out;
	if (cfg.metrics_listen[0] != '\0') {
		mlisten = metrics_listen_start(cfg.metrics_listen);
		if (mlisten == NULL)
			goto out;
	}
	log_info("herald %s ready", PACKAGE_VERSION);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			sig = SIGTERM;
		if (sig != SIGHUP)
			break;
		log_info("received SIGHUP: re-reading the configuration");
		reload_run(&live, argc, argv);
	}
	sigdelset(&sigs, SIGHUP); /* stays blocked: ignored from now on */
	signal(SIGINT, exit_now);
	signal(SIGTERM, exit_now);
	pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
	log_info("received %s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");

	/* stop accepting, commit what was handed over, let those answers go
	 * out, then close */
	metrics_listen_stop(mlisten);
	mlisten = NULL;
	/* bulk operations stop between chunks (a chunk waiting is cut
	 * short) and resume at the next start */
	bulkop_quit(bulkop);
	api_quiesce(api);
	outbox_stop(outbox); /* it publishes through the writer */
	outbox = NULL;
	relays_stop(relays); /* so do they */
	relays = NULL;
	writer_drain(writer);
	bulkop_stop(bulkop);
	bulkop = NULL;
	api_wait_idle(api, DRAIN_TIMEOUT_MS);
	api_stop(api);
	api = NULL;
	dispatch_stop(dispatch, DRAIN_TIMEOUT_MS);
	dispatch = NULL;
	rc = 0;
	log_info("stopped");
out:
	partition_stop(partition);
	bulkop_stop(bulkop);
	relays_stop(relays);
	outbox_stop(outbox);
	metrics_listen_stop(mlisten);
	backlog_stop(backlog);
	dispatch_stop(dispatch, 0);
	api_stop(api);
	writer_free(writer);
	store_close(conn);
	keylimit_free();
	tls_stop();
	curl_global_cleanup();
	config_free(&live);
	config_free(&cfg);
	return rc;
}
