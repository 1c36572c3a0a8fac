/*
 * worker.c - HTTP worker threads: one event_base and evhttp each, each
 * accepting on its own listening socket of the shared port (setup.c),
 * which its evhttp owns and closes.  Each connection is conn.c's from
 * accept (evhttp's bufferevent callback) to close; the worker's flush
 * timer also runs conn.c's deadlines, and accept errors (EMFILE) go to
 * conn.c, which makes room or pauses accepting (resume_ev).
 */
#include "mmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/listener.h>

/* Every method evhttp parses, and those it does not know (its private
 * EVHTTP_REQ_UNKNOWN_ bit is in the 16): the router answers each, 501
 * for the ones it does not implement, as problem+json. */
#define METHODS_ALL 0xffff

/* The worker this thread runs: what the listener's error callback
 * needs, since evhttp made the listener with its own callback argument
 * (the evhttp). */
static _Thread_local struct mmd_worker *this_worker;

static void *worker_main(void *arg)
{
	struct mmd_worker *w = arg;
	char name[16];

	snprintf(name, sizeof(name), "mmd-http-%u",
		 (unsigned)(w - w->srv->workers));
	pthread_setname_np(pthread_self(), name); /* top -H, perf */
	this_worker = w;
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	mmd_log_flush(w);
	return NULL;
}

static void worker_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mmd_worker *w = arg;

	(void)fd;
	(void)what;
	if (w->logn > 0)
		mmd_log_flush(w);
	mmd_conn_tick(w);
	mmd_log_tick();
}

/* The listener gave up on accept(2) (EMFILE, ENFILE, ENOMEM...). */
static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
	int err = errno;

	(void)lev;
	(void)arg; /* the evhttp */
	MM_ASSERT(this_worker != NULL);
	mmd_conn_accept_failed(this_worker, err);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mmd_worker *w = arg;

	(void)fd;
	(void)what;
	w->accepts = 0;
	if (w->bound)
		evconnlistener_enable(
			evhttp_bound_socket_get_listener(w->bound));
}

/* On the worker's thread: stop accepting, flush replies, then leave. */
static void worker_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mmd_worker *w = arg;
	struct timeval flush = {0, MMD_FLUSH_MS * 1000};

	(void)fd;
	(void)what;
	event_del(w->resume_ev);
	if (w->bound)
		evhttp_del_accept_socket(w->http, w->bound);
	w->bound = NULL;
	event_base_loopexit(w->base, &flush);
}

/* The worker's own listening socket goes to its evhttp, which closes
 * it when it stops accepting (no other fd may keep it open: the epoll
 * changelist removes a closed fd from the set only when the file itself
 * closes). */
static int worker_http(struct mmd_worker *w)
{
	const struct mmd_opts *o = &w->srv->opts;
	int *slot = &w->srv->listen_fds[w - w->srv->workers];

	w->http = evhttp_new(w->base);
	if (!w->http)
		return MM_ERR_NOMEM;
	evhttp_set_max_body_size(w->http, o->body_bytes_max);
	evhttp_set_max_headers_size(w->http, o->headers_bytes_max);
	evhttp_set_timeout(w->http, (int)o->timeout_s);
	evhttp_set_allowed_methods(w->http, METHODS_ALL);
	/* Read an oversized chunked body to its end before answering 413,
	 * so the client sees the answer rather than a reset (conn.c refuses
	 * a declared length over the limit before evhttp sees it). */
	evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_gencb(w->http, mmd_route, w);
	evhttp_set_bevcb(w->http, mmd_conn_new, w);
	w->bound = evhttp_accept_socket_with_handle(w->http, *slot);
	if (!w->bound)
		return MM_ERR_IO; /* the socket stays the server's to close */
	*slot = -1;
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(w->bound),
				    accept_error_cb);
	return MM_OK;
}

/*
 * The epoll changelist folds the interest changes one loop iteration
 * makes on a socket into one epoll_ctl: evhttp turns reading off and
 * writing on for each answer, then the reverse once it is sent, four
 * calls a request without it.  Its caveat: a removal is applied after
 * the fd is closed, so it only works when closing the fd closes the file
 * (epoll then drops it by itself).  Hence no fd here is ever dup'd: each
 * worker's listening socket is its own (worker_http).
 */
static struct event_base *worker_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base = NULL;

	if (!cfg)
		return NULL;
	if (event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) ==
	    0)
		base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

static int worker_init(struct mmd *srv, struct mmd_worker *w)
{
	struct timeval flush = {0, MMD_LOG_FLUSH_MS * 1000};

	w->srv = srv;
	w->base = worker_base();
	if (!w->base)
		return MM_ERR_NOMEM;
	w->stop_ev = event_new(w->base, -1, 0, worker_stop_cb, w);
	w->flush_ev = event_new(w->base, -1, EV_PERSIST, worker_flush_cb, w);
	w->resume_ev = evtimer_new(w->base, resume_cb, w);
	if (!w->stop_ev || !w->flush_ev || !w->resume_ev ||
	    mmd_conn_worker_init(w) || event_add(w->flush_ev, &flush))
		return MM_ERR_NOMEM;
	return worker_http(w);
}

int mmd_workers_start(struct mmd *srv)
{
	srv->workers = calloc(srv->opts.threads, sizeof(*srv->workers));
	if (!srv->workers)
		return MM_ERR_NOMEM;
	srv->nworkers = srv->opts.threads;
	/* All of them first: a running worker may ask another for room
	 * (conn.c). */
	for (unsigned i = 0; i < srv->nworkers; i++) {
		int err = worker_init(srv, &srv->workers[i]);

		if (err)
			return err;
	}
	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct mmd_worker *w = &srv->workers[i];

		if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
			return MM_ERR_NOMEM;
		w->started = true;
	}
	return MM_OK;
}

void mmd_workers_stop(struct mmd *srv)
{
	for (unsigned i = 0; i < srv->nworkers; i++)
		if (srv->workers[i].started)
			event_active(srv->workers[i].stop_ev, EV_READ, 0);
	for (unsigned i = 0; i < srv->nworkers; i++) {
		if (srv->workers[i].started)
			pthread_join(srv->workers[i].thread, NULL);
		srv->workers[i].started = false;
	}
}

void mmd_workers_free(struct mmd *srv)
{
	for (unsigned i = 0; srv->workers && i < srv->nworkers; i++) {
		struct mmd_worker *w = &srv->workers[i];

		MM_ASSERT(!w->started);
		/* Frees connections and requests; conn_closed forgets them
		 * now, and conn.c's conn_free as the base is freed. */
		mmd_conn_worker_free(w);
		if (w->http)
			evhttp_free(w->http);
		while (w->pending) {
			struct mmd_pending *p = w->pending;

			w->pending = p->next;
			mmd_pending_free(p);
		}
		if (w->stop_ev)
			event_free(w->stop_ev);
		if (w->flush_ev)
			event_free(w->flush_ev);
		if (w->resume_ev)
			event_free(w->resume_ev);
		if (w->base)
			event_base_free(w->base);
	}
	free(srv->workers);
	srv->workers = NULL;
	srv->nworkers = 0;
}
