/* The dispatcher: one thread whose loop drives libcurl, its PostgreSQL session and the rate limits, delivering the work of the partitions this instance owns. */
#include "dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "dispatch_core.h"
#include "log.h"
#include "monotime.h"
#include "xalloc.h"

/* --- small helpers --- */

/* xorshift64* */
double
dispatch_uniform(struct dispatch *d)
{
	d->rng ^= d->rng >> 12;
	d->rng ^= d->rng << 25;
	d->rng ^= d->rng >> 27;
	return (double)((d->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* The earlier of two waits (-1: none). */
static void
wait_min(int64_t *wait, int64_t next)
{
	if (next >= 0 && (*wait < 0 || next < *wait))
		*wait = next;
}

/*
 * The member of a consumer group that takes job j now, or -1 when none
 * may (its member's limits are reached).  Chosen here, as it is sent,
 * so that a member out of rotation holds nothing back: a keyed job goes
 * to its key's member among those in rotation (sinkgroup_for_key), an
 * unkeyed one to the member with the least in flight.  An out member
 * whose probe is due takes the next job whose key is its own when all
 * are in rotation, or the next unkeyed one, as its probe.  *probe says
 * which.  A key has one delivery in flight at most (its head), so it
 * moves to another member only once that one has finished.
 */
static int
group_choose(struct dsub *s, struct job *j, int64_t now, bool *probe)
{
	size_t n = s->nmembers;
	const char *urls[SINKGROUP_MAX] = {NULL};
	bool in[SINKGROUP_MAX] = {false}, all[SINKGROUP_MAX] = {false};
	bool ok[SINKGROUP_MAX] = {false};
	int flying[SINKGROUP_MAX] = {0}, m;

	*probe = false;
	if (n == 0 || n > SINKGROUP_MAX)
		return -1; /* (the subscription's validation allows neither) */
	for (size_t i = 0; i < n; i++) {
		urls[i] = s->members[i].url;
		in[i] = !s->members[i].health.out;
		all[i] = true;
		flying[i] = s->members[i].rl.in_flight;
	}
	if (j->key != NULL) {
		m = sinkgroup_for_key(urls, all, n, j->key);
		if (m >= 0 && sinkgroup_probe_due(&s->members[m].health, now)) {
			*probe = true;
			return m;
		}
		return sinkgroup_for_key(urls, in, n, j->key);
	}
	for (size_t i = 0; i < n; i++) {
		if (sinkgroup_probe_due(&s->members[i].health, now)) {
			*probe = true;
			return (int)i;
		}
	}
	/* (none in rotation: any of them, as sinkgroup_for_key does) */
	m = sinkgroup_least_loaded(flying, in, n, 0);
	for (size_t i = 0; i < n; i++)
		ok[i] = (m < 0 || in[i]) &&
			ratelimit_next_us(&s->members[i].rl, now) == 0;
	m = sinkgroup_least_loaded(flying, ok, n, s->turn);
	if (m >= 0)
		s->turn = (size_t)m + 1;
	return m;
}

/* Start what a consumer group's members' limits allow, from anywhere in
 * its queue: a busy member holds back only its own keys. */
static void
start_group(struct dispatch *d, struct dsub *s, int64_t now, int64_t *wait)
{
	struct job *j = s->queue.head, *next;
	size_t blocked = 0;
	bool seen_blocked[SINKGROUP_MAX] = {false};

	for (; j && blocked < s->nmembers && !atomic_load(&d->stopping); j = next) {
		struct dmember *m;
		bool probe;
		int i = group_choose(s, j, now, &probe);

		next = j->next;
		if (i < 0) {
			/* no member may take an unkeyed one: wait for the first */
			for (size_t k = 0; k < s->nmembers; k++)
				wait_min(wait, ratelimit_next_us(&s->members[k].rl, now));
			continue;
		}
		m = &s->members[i];
		if (!ratelimit_try_acquire(&m->rl, now)) {
			wait_min(wait, ratelimit_next_us(&m->rl, now));
			if (!seen_blocked[i]) {
				seen_blocked[i] = true;
				blocked++;
			}
			continue;
		}
		free(j->sink);
		j->sink = xstrdup(m->url);
		j->probe = probe;
		if (probe)
			m->health.probing = true;
		if (!transfer_start(d, j))
			ratelimit_release(&m->rl);
	}
}

/* Start what the rate limits allow; returns the time (us from now) when
 * a limited subscription may go again, or -1 when none waits on time. */
static int64_t
start_allowed(struct dispatch *d)
{
	struct dsub **pp = &d->busy;
	int64_t wait = -1, now = monotime_us();

	while (*pp) {
		struct dsub *s = *pp;

		if (s->nmembers > 0)
			start_group(d, s, now, &wait);
		while (s->nmembers == 0 && s->queue.head &&
		       !atomic_load(&d->stopping)) {
			int64_t next;

			if (!ratelimit_try_acquire(&s->rl, now)) {
				next = ratelimit_next_us(&s->rl, now);
				if (next >= 0 && (wait < 0 || next < wait))
					wait = next;
				break;
			}
			if (!transfer_start(d, s->queue.head))
				ratelimit_release(&s->rl);
		}
		if (s->queue.head == NULL) {
			s->listed = false;
			*pp = s->bnext;
		} else {
			pp = &s->bnext;
		}
	}
	return wait;
}

/* --- the database session --- */

/* Everything the session held (partitions) is gone with it: stop every
 * transfer, forget all work, start over. */
static void
lose_session(struct dispatch *d)
{
	jobs_forget_all(d);
	/* a change to a subscription while the session was down was
	 * announced to nobody: learn each one anew when it has work */
	jobs_free_subs(d);
	d->db_op = DB_IDLE;
	owner_forget(d);
}

/* A deleted subscription: stop its requests in flight at once. */
static void
abort_transfers(struct dispatch *d, struct dsub *s)
{
	struct job *j = d->flying.head, *next;

	for (; j; j = next) {
		next = j->next;
		if (j->sub != s)
			continue;
		transfer_abort(d, j);
		jobs_move(d, j, JOB_FINISHED); /* not attempted */
	}
}

/* A writer (or the API) announced new work: the ids of the subscriptions
 * concerned, comma-separated, or "*" when there were too many to list. */
static void
announced(struct dispatch *d, const char *payload)
{
	char *copy, *tok, *save = NULL, **ids = NULL;
	size_t n = 0;

	if (payload == NULL || payload[0] == '\0' || payload[0] == '*') {
		d->want_sweep = true;
		return;
	}
	copy = xstrdup(payload);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		ids = xrealloc(ids, (n + 1) * sizeof(*ids));
		ids[n++] = tok;
	}
	if (!db_mark_work(d, ids, n))
		d->want_sweep = true;
	free(ids);
	free(copy);
}

/* Our own retries that fall due now: their subscriptions have work. */
static void
wake_retries(struct dispatch *d, int64_t now)
{
	d->next_retry_us = 0;
	for (size_t h = 0; h < HASH_BUCKETS; h++) {
		for (struct dsub *s = d->subs[h]; s; s = s->hnext) {
			if (s->wake_us == 0)
				continue;
			if (s->wake_us <= now) {
				s->wake_us = 0;
				s->work = true;
				d->want_fetch = true;
			} else if (d->next_retry_us == 0 || s->wake_us < d->next_retry_us) {
				d->next_retry_us = s->wake_us;
			}
		}
	}
}

/* Act on the notifications taken in: new events want a fetch; a changed subscription
 * is reloaded (or forgotten, with its work, when deleted). */
static void
notifications(struct dispatch *d)
{
	PGnotify *n;

	while ((n = PQnotifies(store_pg(d->conn))) != NULL) {
		if (strcmp(n->relname, "herald_event") == 0) {
			announced(d, n->extra);
		} else if (strcmp(n->relname, "herald_subscription") == 0) {
			struct dsub *s = jobs_sub_find(d, n->extra);

			if (s != NULL) {
				char *ids[1] = {s->id};
				bool loaded;

				/* unless the reload finds it active */
				s->active = false;
				s->seen = false;
				loaded = db_subs_load(d, ids, 1);
				s->work = s->active; /* resumed: its backlog waits */
				if (!s->active)
					jobs_release_queue(d, s);
				if (!loaded)
					s->stale = true; /* known again when it has work */
				else if (!s->seen)
					abort_transfers(d, s); /* deleted */
			}
			d->want_fetch = true;
		}
		PQfreemem(n);
	}
}

/* epoll tags of the two sockets that are not libcurl's (whose tag is
 * the descriptor itself) */
#define TAG_SESSION (UINT64_C(1) << 32)
#define TAG_WAKE (UINT64_C(2) << 32)
#define MAX_EVENTS 256

/* libcurl says which events of a socket to wait for, or to forget it. */
static int
on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct dispatch *d = userp;
	struct epoll_event ev = {0};

	(void)e;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL); /* gone if closed */
		return 0;
	}
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) |
		    ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	ev.data.u64 = (uint64_t)(unsigned)fd;
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) != 0 &&
	    epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		log_error("dispatch: cannot watch a socket: %s", strerror(errno));
	return 0;
}

/* libcurl wants to be called in timeout_ms (-1: no timer). */
static int
on_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct dispatch *d = userp;

	(void)m;
	d->curl_due_us = timeout_ms < 0 ? -1 : monotime_us() + (int64_t)timeout_ms * 1000;
	return 0;
}

/* Watch the session's socket (a new one after a reconnect). */
static void
watch_session(struct dispatch *d)
{
	int fd = PQsocket(store_pg(d->conn));
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_SESSION};

	if (fd == d->pgfd)
		return;
	d->pgfd = fd;
	/* (a closed socket left the set by itself: never delete by number,
	 * which may be libcurl's now) */
	if (fd >= 0 && epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 &&
	    (errno != EEXIST || epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) != 0))
		log_error("dispatch: cannot watch the session: %s", strerror(errno));
}

/* Wait at most timeout_ms, then let libcurl act on the ready sockets and
 * its timer.  true when the session's socket has input. */
static bool
wait_and_transfer(struct dispatch *d, int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	bool pg_input = false;
	int n, running;

	if (d->curl_due_us >= 0) {
		int64_t due = d->curl_due_us - monotime_us();
		int t = due <= 0 ? 0 : (int)((due + 999) / 1000);

		if (t < timeout_ms)
			timeout_ms = t;
	}
	n = epoll_wait(d->epfd, evs, MAX_EVENTS, timeout_ms);
	for (int i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;

		if (tag == TAG_SESSION) {
			pg_input = true;
		} else if (tag == TAG_WAKE) {
			uint64_t v;

			if (read(d->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_error("dispatch: wake: %s", strerror(errno));
		} else {
			uint32_t e = evs[i].events;
			int mask = ((e & EPOLLIN) ? CURL_CSELECT_IN : 0) |
				   ((e & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
				   ((e & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);

			curl_multi_socket_action(d->multi, (curl_socket_t)tag, mask,
						 &running);
		}
	}
	if (d->curl_due_us >= 0 && monotime_us() >= d->curl_due_us) {
		d->curl_due_us = -1; /* on_timer sets the next one */
		curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	transfer_reap(d);
	return pg_input;
}

/*
 * The loop.  At most one statement is in flight on the session (a fetch
 * or a write-back, sent without waiting); transfers go on while
 * PostgreSQL works, and its socket wakes the loop like theirs do.  The
 * rarer statements (sweep, rebalance, loading subscriptions) run, and
 * wait, only when none is in flight.
 */
static void *
dispatch_main(void *arg)
{
	struct dispatch *d = arg;
	int64_t stop_deadline = 0;
	bool pg_input = true; /* the session's socket may have input */

	owner_rebalance(d);
	d->want_sweep = true;
	for (;;) {
		int64_t now = monotime_us(), wait_us, limited;
		bool stopping = atomic_load(&d->stopping);

		if (stopping && stop_deadline == 0) {
			stop_deadline = now + (int64_t)d->stop_timeout_ms * 1000;
			/* hand back what has not started */
			for (struct dsub *s = d->busy; s; s = s->bnext) {
				jobs_release_queue(d, s);
				s->listed = false;
			}
			d->busy = NULL;
		}
		if (stopping && (d->flying.n == 0 || now >= stop_deadline))
			break;
		if (store_conn_broken(d->conn)) {
			lose_session(d);
			d->pgfd = -1; /* a new socket, maybe with the old number */
			if (!store_ensure(d->conn) || !db_session_setup(d)) {
				struct timespec ts = {0, 500 * 1000000L};

				nanosleep(&ts, NULL);
				continue;
			}
			log_info("dispatch: database session restored");
			owner_rebalance(d);
		}
		/* (a read with nothing there is a wasted system call; but a
		 * statement that never answers must meet its deadline) */
		if (d->db_op != DB_IDLE &&
		    (pg_input || now - d->db_checked_us >= POLL_MS * 1000)) {
			d->db_checked_us = now;
			db_collect(d, false);
		} else if (pg_input) {
			PQconsumeInput(store_pg(d->conn));
		}
		if (d->db_op == DB_IDLE) {
			notifications(d);
			if (d->next_retry_us != 0 && now >= d->next_retry_us)
				wake_retries(d, now);
			if (!stopping && now - d->last_rebalance_us >= REBALANCE_MS * 1000)
				owner_rebalance(d);
			if (!stopping && (d->want_sweep ||
					  now - d->last_sweep_us >= POLL_MS * 1000))
				db_sweep(d);
			if (stopping)
				d->want_fetch = false;
			db_next(d);
		}
		limited = start_allowed(d);

		wait_us = POLL_MS * 1000;
		if (limited >= 0 && limited < wait_us)
			wait_us = limited;
		if (d->next_retry_us != 0 && d->next_retry_us - monotime_us() < wait_us)
			wait_us = d->next_retry_us - monotime_us() > 0 ?
				  d->next_retry_us - monotime_us() : 0;
		if (d->db_op == DB_IDLE &&
		    (d->want_fetch || d->want_sweep || d->results.head != NULL)) {
			/* more to do at once, unless a failure asked for a pause */
			int64_t pause = d->db_pause_us - monotime_us();

			if (pause <= 0)
				wait_us = 0;
			else if (pause < wait_us)
				wait_us = pause;
		}
		watch_session(d);
		pg_input = wait_and_transfer(d, (int)((wait_us + 999) / 1000));
	}
	/* record what finished; the rest stays pending for whoever is next */
	db_collect(d, true);
	if (db_writeback_send(d))
		db_collect(d, true);
	return NULL;
}

static void
close_fds(struct dispatch *d)
{
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->wakefd >= 0)
		close(d->wakefd);
}

struct dispatch *
dispatch_start(const struct config *cfg)
{
	struct dispatch *d = xcalloc(1, sizeof(*d));
	char err[256];

	d->cfg = cfg;
	d->epfd = d->wakefd = -1;
	d->rng = (uint64_t)time(NULL) ^ ((uint64_t)monotime_us() << 17) ^ 0x9e3779b97f4a7c15ULL;
	d->conn = store_connect(cfg->database_url, err, sizeof(err));
	if (d->conn == NULL) {
		log_error("dispatch: cannot connect: %s", err);
		free(d);
		return NULL;
	}
	store_set_timeout(d->conn, DB_TIMEOUT_MS);
	if (!db_session_setup(d)) {
		log_error("dispatch: cannot set up the session");
		goto err;
	}
	d->pgfd = -1;
	d->curl_due_us = -1;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->epfd < 0 || d->wakefd < 0) {
		log_error("dispatch: cannot set up polling: %s", strerror(errno));
		goto err;
	}
	{
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_WAKE};

		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->wakefd, &ev) != 0)
			goto err;
	}
	d->multi = curl_multi_init();
	if (d->multi == NULL)
		goto err;
	curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
	if (pthread_create(&d->thread, NULL, dispatch_main, d) != 0) {
		log_error("dispatch: cannot start thread");
		goto err;
	}
	return d;
err:
	if (d->multi)
		curl_multi_cleanup(d->multi);
	close_fds(d);
	store_close(d->conn);
	free(d);
	return NULL;
}

void
dispatch_stop(struct dispatch *d, int timeout_ms)
{
	if (d == NULL)
		return;
	d->stop_timeout_ms = timeout_ms;
	atomic_store(&d->stopping, true);
	{
		uint64_t one = 1;

		if (write(d->wakefd, &one, sizeof(one)) < 0)
			log_error("dispatch: cannot wake: %s", strerror(errno));
	}
	pthread_join(d->thread, NULL);
	lose_session(d);
	jobs_free_subs(d);
	transfer_free_spares(d);
	curl_multi_cleanup(d->multi);
	close_fds(d);
	store_close(d->conn);
	free(d);
}
