/*
 * sink: the benchmark's webhook receiver.  Answers 204 to every POST on
 * 127.0.0.1, as cheaply as libmicrohttpd allows, and, when a request
 * carries a send stamp, records how long it took to get here.
 *
 *   sink --port N [--portfile F] [--lat FILE] [--threads T] [--max M]
 *
 * --port 0 picks a free port and writes it to --portfile.  The stamp is
 * the `ce-sentns` header (herald's binary mode turns the `sentns`
 * extension of an event into it): CLOCK_REALTIME nanoseconds at which the
 * publisher started the POST.  Arrival is taken when the request's headers
 * are complete.  GET /_count answers "<requests> <stamped>".  On SIGTERM or
 * SIGINT the sink stops and writes one latency per line (nanoseconds, in
 * arrival order) to --lat.
 *
 * Built by contrib/bench/run.sh:
 *   gcc -O2 -o sink sink.c -lmicrohttpd -lpthread
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>

static int64_t *lat;        /* recorded latencies, ns */
static size_t lat_cap;
static atomic_size_t lat_n;  /* slots taken (may exceed lat_cap) */
static atomic_ulong requests;
static struct MHD_Response *empty;

static int64_t
realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
	   const char *method, const char *version, const char *upload,
	   size_t *upload_size, void **state)
{
	static int mark; /* a non-NULL state: headers seen */
	char buf[64];

	(void)cls;
	(void)version;
	(void)upload;
	if (*state == NULL) {
		const char *stamp;

		*state = &mark;
		if (strcmp(method, "POST") == 0) {
			stamp = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							    "ce-sentns");
			atomic_fetch_add(&requests, 1);
			if (stamp != NULL) {
				int64_t sent = strtoll(stamp, NULL, 10);
				size_t i = atomic_fetch_add(&lat_n, 1);

				if (i < lat_cap)
					lat[i] = realtime_ns() - sent;
			}
		}
		return MHD_YES;
	}
	if (*upload_size > 0) { /* the body is not needed: drop it */
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") == 0 && strcmp(url, "/_count") == 0) {
		struct MHD_Response *r;
		enum MHD_Result ok;
		size_t n = atomic_load(&lat_n);
		int len = snprintf(buf, sizeof(buf), "%lu %zu\n",
				   atomic_load(&requests), n);

		r = MHD_create_response_from_buffer((size_t)len, buf,
						    MHD_RESPMEM_MUST_COPY);
		ok = MHD_queue_response(c, MHD_HTTP_OK, r);
		MHD_destroy_response(r);
		return ok;
	}
	return MHD_queue_response(c, MHD_HTTP_NO_CONTENT, empty);
}

static void
usage(void)
{
	fprintf(stderr, "usage: sink --port N [--portfile F] [--lat FILE]"
			" [--threads T] [--max M]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	unsigned port = 0, threads = 2;
	const char *portfile = NULL, *latfile = NULL;
	struct MHD_Daemon *d;
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;
	sigset_t set;
	int sig;

	lat_cap = 4u << 20;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--port") == 0)
			port = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--portfile") == 0)
			portfile = argv[++i];
		else if (strcmp(argv[i], "--lat") == 0)
			latfile = argv[++i];
		else if (strcmp(argv[i], "--threads") == 0)
			threads = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--max") == 0)
			lat_cap = (size_t)atoll(argv[++i]);
		else
			usage();
	}
	lat = calloc(lat_cap ? lat_cap : 1, sizeof(*lat));
	if (lat == NULL)
		return 1;

	/* the signals are taken by sigwait below, in this thread only */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	empty = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
				     MHD_USE_ERROR_LOG,
			     0, NULL, NULL, on_request, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			     MHD_OPTION_THREAD_POOL_SIZE, threads,
			     MHD_OPTION_CONNECTION_LIMIT, 4000u,
			     MHD_OPTION_CONNECTION_TIMEOUT, 120u,
			     MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
			     MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "sink: cannot listen on 127.0.0.1:%u\n", port);
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (portfile != NULL && info != NULL) {
		FILE *f = fopen(portfile, "w");

		if (f == NULL) {
			perror(portfile);
			return 1;
		}
		fprintf(f, "%u\n", (unsigned)info->port);
		fclose(f);
	}
	while (sigwait(&set, &sig) != 0 || (sig != SIGTERM && sig != SIGINT))
		;
	MHD_stop_daemon(d);
	MHD_destroy_response(empty);
	if (latfile != NULL) {
		FILE *f = fopen(latfile, "w");
		size_t n = atomic_load(&lat_n);

		if (f == NULL) {
			perror(latfile);
			return 1;
		}
		if (n > lat_cap) {
			fprintf(stderr, "sink: %zu stamps, only %zu kept\n", n,
				lat_cap);
			n = lat_cap;
		}
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%" PRId64 "\n", lat[i]);
		if (fclose(f) != 0) {
			perror(latfile);
			return 1;
		}
	}
	fprintf(stderr, "sink: %lu requests, %zu stamped\n",
		atomic_load(&requests), atomic_load(&lat_n));
	return 0;
}
