/*
 * conn.c - every connection from accept to close: counted, guarded,
 * given deadlines, and its request bodies held to a budget.
 *
 * libevent 2.1's evhttp accepts by itself and offers one hook at accept:
 * the bufferevent callback (evhttp_set_bevcb).  mmd_conn_new, that hook,
 * counts the connection (so --connections-max holds from accept), makes
 * its bufferevent (socket or TLS) and puts the guard (conn_input) on
 * that bufferevent's input buffer: an evbuffer callback, which runs as
 * bytes are read and before evhttp's read callback parses them.  Once
 * evhttp has made its connection (in the same loop iteration: conn_adopt)
 * its close callback is set, and that is the one place a connection is
 * forgotten, whoever closes it.  (A filter bufferevent would give the
 * guard its own buffer, but evhttp over a filter loses answers: the
 * filter calls the write callback when it has passed bytes on, not
 * when they are sent, and evhttp closes right then.)
 *
 * The guard takes what each read added to the input (into c->raw) and
 * gives evhttp back what it may read:
 *   - a request head passes line by line, complete lines only, and at
 *     most --headers-max-bytes of them; Content-Length and
 *     Transfer-Encoding are held back and given to evhttp as one
 *     canonical line at the end of the head, once checked: digits only
 *     and below 2^63, not twice, not both, chunked only; so evhttp frames
 *     a body exactly as the guard does (no request smuggling between
 *     the two) and never waits for 2^64 bytes;
 *   - a body passes byte for byte up to its length, once its bytes are
 *     reserved from --body-budget-mib (whole length; chunked: the
 *     --body-max-bytes ceiling);
 *   - anything after a request (pipelined) waits until its answer is
 *     out, and is then read as the next head.
 * A refused request (a malformed head, two Content-Types, a body over
 * the limit or the budget, a connection over the limit) reaches evhttp
 * without its framing lines, as a request with no body, and
 * mmd_conn_admit answers the refusal (problem+json) instead of routing
 * it; its body, when it has a length and is not too long, is read and
 * dropped, so that the connection stays usable, else the answer closes.
 *
 * States of the input (enum conn_in), and who moves them:
 *
 *   HEAD --blank line--> BODY --length passed--> HOLD
 *     |         \--refused, with a body--> DISCARD --dropped--> HOLD
 *     |          \--no body--> HOLD        (or HEAD if answered)
 *     |           \--refused, closing--> SINK
 *     +--request line over the limit--> RAW (evhttp answers it)
 *   HOLD --answer sent (conn_answered)--> HEAD
 *
 * Deadlines are total, not per read: a head must be whole within
 * --header-timeout-s of its first byte (of accept, for a connection's
 * first request), a body within --body-timeout-s of the end of its
 * head, a keep-alive connection must start its next request within
 * --timeout-s.  A connection waiting for its client is in one of its
 * worker's queues (enum mmd_wait), oldest first, and mmd_conn_tick
 * closes the queues' expired heads; one whose answer is being made
 * (HOLD) is in none.  At --connections-max, a new connection closes the
 * longest-waiting one of its worker, or is refused (503) when the worker
 * has none.
 *
 * All of a connection's state is touched on its worker's thread only,
 * but for conn_by_fd's slot (atomic) and the server's counters.
 */
#include "mmd.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>

#define CL_DIGITS_MAX	 19    /* 2^63 - 1 has 19 digits */
#define CONN_FREED_BYTES 16384 /* what a closed connection freed, roughly */
/* The most a refused request's body is read to be dropped, in units of
 * --body-max-bytes; a longer one is answered and the connection closed. */
#define DISCARD_BODIES_MAX 4

enum conn_in {
	IN_HEAD,    /* reading a request head */
	IN_BODY,    /* passing a body (left bytes; or chunked) */
	IN_DISCARD, /* dropping a refused request's body (left bytes) */
	IN_HOLD,    /* a request is with evhttp: hold what follows */
	IN_SINK,    /* closing: drop everything */
	IN_RAW	    /* unguarded: evhttp refuses what it reads */
};

#define CONN_MAGIC 0x636f6e6eu /* "conn": a live struct mmd_conn */

struct mmd_conn {
	uint32_t magic;
	struct mmd_worker *w;
	struct bufferevent *bev;	 /* evhttp's, made here */
	struct evhttp_connection *evcon; /* NULL until conn_adopt */
	struct mmd_conn *adopt_next;	 /* in w->adopting until then */
	struct evbuffer *raw;		 /* read, not yet given to evhttp */
	struct evbuffer_cb_entry *in_cb; /* conn_input on bev's input */
	bool guarding;			 /* conn_input is on the stack */
	struct mmd_pending *pending;
	struct mmd_conn *prev, *next; /* in w->waiting[wait] */
	int wait;		      /* enum mmd_wait, or -1 (none) */
	uint64_t since_us;	      /* when it joined that queue */
	int fd;			      /* -1 until evhttp sets it */
	enum conn_in in;
	bool began;	     /* a byte of the current head arrived */
	bool refused_accept; /* over the limit at accept */
	bool req_open;	     /* a request with evhttp, not yet answered */
	/* The head being read. */
	size_t head_bytes;
	unsigned lines;
	bool may_body; /* its method may carry a body (as evhttp says) */
	bool has_cl;
	bool chunked;
	char cl_text[CL_DIGITS_MAX + 1];
	uint64_t cl;
	unsigned ctypes;
	/* The body. */
	uint64_t left;
	size_t reserved; /* of srv->body_bytes */
	/* The refusal mmd_conn_admit answers, if status is not 0. */
	int refuse_status;
	int refuse_err;
	const char *refuse_code; /* a code beyond enum mm_err, or NULL */
	const char *refuse_why;
	bool refuse_close;
};

/* ------------------------------------------------------------------ */
/* Queues and lookups.                                                 */

static void unwait(struct mmd_conn *c)
{
	struct mmd_conn_queue *q;

	MM_ASSERT(c->magic == CONN_MAGIC);
	if (c->wait < 0)
		return;
	q = &c->w->waiting[c->wait];
	if (c->prev)
		c->prev->next = c->next;
	else
		q->first = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		q->last = c->prev;
	c->prev = c->next = NULL;
	c->wait = -1;
}

/* Puts c at the back of queue wait, its deadline counting from now. */
static void wait_for(struct mmd_conn *c, enum mmd_wait wait)
{
	struct mmd_conn_queue *q = &c->w->waiting[wait];

	unwait(c);
	c->wait = (int)wait;
	c->since_us = mmd_now_us();
	c->prev = q->last;
	if (q->last)
		q->last->next = c;
	else
		q->first = c;
	q->last = c;
}

/* Puts c at the front of the refused queue, already expired, so that
 * the next tick closes it (without upsetting the queue's order). */
static void wait_expired(struct mmd_conn *c)
{
	struct mmd_conn_queue *q = &c->w->waiting[MMD_WAIT_REFUSED];

	unwait(c);
	c->wait = MMD_WAIT_REFUSED;
	c->since_us = 0;
	c->next = q->first;
	if (q->first)
		q->first->prev = c;
	else
		q->last = c;
	q->first = c;
}

/* Gives up on c: what it sends is dropped, and the next tick closes it. */
static void conn_doom(struct mmd_conn *c)
{
	c->in = IN_SINK;
	wait_expired(c);
}

static uint64_t wait_us(const struct mmd_opts *o, int wait)
{
	switch (wait) {
	case MMD_WAIT_HEAD:
		return (uint64_t)o->header_timeout_s * 1000000;
	case MMD_WAIT_IDLE:
		return (uint64_t)o->timeout_s * 1000000;
	case MMD_WAIT_BODY:
		return (uint64_t)o->body_timeout_s * 1000000;
	default:
		return (uint64_t)MMD_REFUSED_MS * 1000;
	}
}

/* evhttp's connection for c: what it set as the bufferevent's callback
 * argument, which bufferevent_free clears (NULL once evhttp let go). */
static struct evhttp_connection *conn_evcon(struct mmd_conn *c)
{
	void *arg = NULL;

	bufferevent_getcb(c->bev, NULL, NULL, NULL, &arg);
	return arg;
}

static void learn_fd(struct mmd_conn *c)
{
	struct mmd *srv = c->w->srv;
	int fd;

	if (c->fd >= 0)
		return;
	fd = bufferevent_getfd(c->bev);
	if (fd < 0 || (size_t)fd >= srv->nfds)
		return;
	c->fd = fd;
	atomic_store_explicit(&srv->conn_by_fd[fd], c, memory_order_relaxed);
}

static struct mmd_conn *conn_of(struct mmd *srv, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = NULL;
	struct mmd_conn *c = NULL;
	int fd = -1;

	if (evcon)
		bev = evhttp_connection_get_bufferevent(evcon);
	if (bev)
		fd = bufferevent_getfd(bev);
	if (fd >= 0 && (size_t)fd < srv->nfds)
		c = atomic_load_explicit(&srv->conn_by_fd[fd],
					 memory_order_relaxed);
	return c && c->bev == bev ? c : NULL;
}

/* ------------------------------------------------------------------ */
/* Closing.                                                            */

static const char *wait_reason(int wait)
{
	switch (wait) {
	case MMD_WAIT_HEAD:
		return "its request head took longer than --header-timeout-s";
	case MMD_WAIT_IDLE:
		return "it was idle longer than --timeout-s";
	case MMD_WAIT_BODY:
		return "its request body took longer than --body-timeout-s";
	default:
		return "it was over --connections-max";
	}
}

/* Closes c now (evhttp frees it; conn_closed forgets c).  why is logged,
 * with the peer's address, within the log's rate limit. */
static void conn_close(struct mmd_conn *c, const char *why)
{
	struct evhttp_connection *evcon = c->evcon ? c->evcon : conn_evcon(c);
	char *host = NULL;
	ev_uint16_t port = 0;

	unwait(c);
	c->in = IN_SINK;
	if (!evcon)
		return; /* evhttp has let go already */
	evhttp_connection_get_peer(evcon, &host, &port);
	mmd_log("warn",
		json_pack("{s:s,s:i}", "remote", host ? host : "?", "port",
			  (int)port),
		"closed a connection: %s", why);
	evhttp_connection_free(evcon);
}

/* The connection of w that has waited longest for its client, or NULL. */
static struct mmd_conn *longest_waiting(struct mmd_worker *w)
{
	struct mmd_conn *best = NULL;

	for (int i = 0; i < MMD_WAIT__COUNT; i++) {
		struct mmd_conn *c = w->waiting[i].first;

		if (c && (!best || c->since_us < best->since_us))
			best = c;
	}
	return best;
}

/* Another worker's connections may be what fills --connections-max or
 * the descriptors: asks the worker with the most to close its longest-
 * waiting one (evict_cb, on its thread).  False when no other has any. */
static bool ask_room(struct mmd_worker *self)
{
	struct mmd *srv = self->srv;
	struct mmd_worker *best = NULL;
	unsigned most = 0;

	for (unsigned i = 0; i < srv->nworkers; i++) {
		struct mmd_worker *o = &srv->workers[i];
		unsigned n =
			atomic_load_explicit(&o->nconns, memory_order_relaxed);

		if (o != self && o->evict_ev && n > most) {
			best = o;
			most = n;
		}
	}
	if (!best)
		return false;
	atomic_fetch_add(&best->evict_asked, 1);
	event_active(best->evict_ev, EV_READ, 0);
	return true;
}

static void evict_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mmd_worker *w = arg;
	unsigned n = atomic_exchange(&w->evict_asked, 0);
	struct mmd_conn *old;

	(void)fd;
	(void)what;
	while (n-- > 0 && (old = longest_waiting(w)))
		conn_close(old, "another worker needed room");
}

void mmd_conn_tick(struct mmd_worker *w)
{
	uint64_t now = mmd_now_us();
	struct mmd *srv = w->srv;

	for (int i = 0; i < MMD_WAIT__COUNT; i++) {
		uint64_t limit = wait_us(&srv->opts, i);
		struct mmd_conn *c;

		while ((c = w->waiting[i].first) && now - c->since_us >= limit)
			conn_close(c, wait_reason(i));
	}
	if (atomic_load(&srv->trim_bytes) >= MMD_TRIM_BYTES) {
		atomic_store(&srv->trim_bytes, 0);
		malloc_trim(0); /* glibc keeps freed pages otherwise */
	}
}

/* ------------------------------------------------------------------ */
/* The body budget.                                                    */

static bool budget_take(struct mmd_conn *c, size_t n)
{
	struct mmd *srv = c->w->srv;
	size_t max = (size_t)srv->opts.body_budget_mib << 20;
	size_t had = atomic_fetch_add(&srv->body_bytes, n);

	if (had + n > max) {
		atomic_fetch_sub(&srv->body_bytes, n);
		return false;
	}
	c->reserved = n;
	return true;
}

static void budget_release(struct mmd_conn *c)
{
	struct mmd *srv = c->w->srv;

	if (!c->reserved)
		return;
	atomic_fetch_sub(&srv->body_bytes, c->reserved);
	atomic_fetch_add(&srv->trim_bytes, c->reserved);
	c->reserved = 0;
}

/* ------------------------------------------------------------------ */
/* The guard: request heads.                                           */

/* Marks the request refused (the first reason stands). */
static void refuse(struct mmd_conn *c, int status, int err, const char *why,
		   bool close)
{
	if (!c->refuse_status) {
		c->refuse_status = status;
		c->refuse_err = err;
		c->refuse_code = status == 501 ? "not_implemented" : NULL;
		c->refuse_why = why;
	}
	c->refuse_close = c->refuse_close || close;
}

static void head_reset(struct mmd_conn *c)
{
	c->head_bytes = 0;
	c->lines = 0;
	c->may_body = false;
	c->has_cl = false;
	c->chunked = false;
	c->cl = 0;
	c->cl_text[0] = '\0';
	c->ctypes = 0;
	c->left = 0;
	if (!c->refused_accept) {
		c->refuse_status = 0;
		c->refuse_close = false;
	}
}

/* Whether evhttp reads a body for this method (as its own
 * evhttp_method_may_have_body says: HEAD, TRACE and unknown do not). */
static bool method_may_have_body(const char *line, size_t n)
{
	static const char *const with[] = {
		"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT"};
	const char *sp = memchr(line, ' ', n);
	size_t m = sp ? (size_t)(sp - line) : n;

	for (size_t i = 0; i < MM_ARRAY_LEN(with); i++)
		if (strlen(with[i]) == m && memcmp(line, with[i], m) == 0)
			return true;
	return false;
}

static bool name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Content-Length: 1 to 19 digits, below 2^63, given once. */
static void length_line(struct mmd_conn *c, const char *v, size_t n)
{
	uint64_t x = 0;

	if (c->has_cl) {
		refuse(c, 400, MM_ERR_INVALID, "Content-Length given twice",
		       true);
		return;
	}
	c->has_cl = true;
	for (size_t i = 0; i < n && n <= CL_DIGITS_MAX; i++) {
		if (v[i] < '0' || v[i] > '9' ||
		    x > ((uint64_t)INT64_MAX - (uint64_t)(v[i] - '0')) / 10) {
			n = 0;
			break;
		}
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (n == 0 || n > CL_DIGITS_MAX) {
		refuse(c, 400, MM_ERR_INVALID,
		       "Content-Length: expected decimal digits below 2^63",
		       true);
		return;
	}
	c->cl = x;
	memcpy(c->cl_text, v, n);
	c->cl_text[n] = '\0';
}

static void coding_line(struct mmd_conn *c, const char *v, size_t n)
{
	if (c->chunked)
		refuse(c, 400, MM_ERR_INVALID, "Transfer-Encoding given twice",
		       true);
	else if (!name_is(v, n, "chunked"))
		refuse(c, 501, MM_ERR_INVALID,
		       "Transfer-Encoding: only chunked is implemented", true);
	c->chunked = true;
}

/* One header line (without its end of line); true to pass it on. */
static bool header_line(struct mmd_conn *c, const char *line, size_t n)
{
	const char *colon = memchr(line, ':', n), *v;
	size_t name_n, vn;

	if (line[0] == ' ' || line[0] == '\t' || !colon || colon == line ||
	    memchr(line, ' ', (size_t)(colon - line)) ||
	    memchr(line, '\t', (size_t)(colon - line))) {
		refuse(c, 400, MM_ERR_INVALID,
		       "a malformed header line (or obsolete line folding)",
		       true);
		return false;
	}
	name_n = (size_t)(colon - line);
	v = colon + 1;
	vn = n - name_n - 1;
	while (vn > 0 && (*v == ' ' || *v == '\t'))
		v++, vn--;
	while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
		vn--;
	if (name_is(line, name_n, "Content-Length")) {
		length_line(c, v, vn);
		return false;
	}
	if (name_is(line, name_n, "Transfer-Encoding")) {
		coding_line(c, v, vn);
		return false;
	}
	if (name_is(line, name_n, "Content-Type") && ++c->ctypes > 1)
		refuse(c, 400, MM_ERR_INVALID, "Content-Type given twice",
		       false);
	return true;
}

/* After the head: the next state, given whether a body follows. */
static void head_next(struct mmd_conn *c, bool body)
{
	const struct mmd_opts *o = &c->w->srv->opts;

	if (c->refuse_status && body &&
	    (c->chunked || c->cl > DISCARD_BODIES_MAX * o->body_bytes_max))
		c->refuse_close = true;
	if (c->refuse_status && c->refuse_close) {
		c->in = IN_SINK;
		unwait(c);
	} else if (body) {
		c->in = c->refuse_status ? IN_DISCARD : IN_BODY;
		c->left = c->cl;
		wait_for(c, MMD_WAIT_BODY);
	} else {
		c->in = IN_HOLD;
		unwait(c);
	}
}

/* The blank line ending a head: the body's framing, checked against the
 * limit and the budget, passed on as one canonical line (none when the
 * request is refused), then the blank line itself. */
static void head_end(struct mmd_conn *c, struct evbuffer *dst)
{
	const struct mmd_opts *o = &c->w->srv->opts;
	bool body = c->may_body && (c->chunked || c->cl > 0);
	uint64_t need = c->chunked ? o->body_bytes_max : c->cl;
	int rc = 0;

	if (c->has_cl && c->chunked)
		refuse(c, 400, MM_ERR_INVALID,
		       "both Content-Length and Transfer-Encoding", true);
	if (body && need > o->body_bytes_max)
		refuse(c, 413, MM_ERR_LIMIT,
		       "the body is over --body-max-bytes", false);
	if (body && !c->refuse_status && !budget_take(c, (size_t)need))
		refuse(c, 503, MM_ERR_BUSY,
		       "request bodies fill the node's --body-budget-mib; "
		       "retry",
		       false);
	if (body && !c->refuse_status && c->chunked)
		rc = evbuffer_add_printf(dst, "Transfer-Encoding: chunked\r\n");
	else if (body && !c->refuse_status)
		rc = evbuffer_add_printf(dst, "Content-Length: %s\r\n",
					 c->cl_text);
	if (rc < 0 || evbuffer_add(dst, "\r\n", 2) != 0) {
		conn_doom(c);
		return;
	}
	c->req_open = true;
	head_next(c, body);
}

/* A head over --headers-max-bytes: refused once its request line is
 * through; before that there is no request to answer, and evhttp reads
 * the rest as it is (and refuses it by the same limit). */
static void head_too_long(struct mmd_conn *c, struct evbuffer *dst)
{
	if (c->lines == 0) {
		c->in = IN_RAW;
		return;
	}
	refuse(c, 400, MM_ERR_LIMIT,
	       "the request head is over --headers-max-bytes", true);
	head_end(c, dst);
}

/* Moves n bytes from src to dst; SINK when it cannot (out of memory),
 * since a byte lost or left behind would shift evhttp's framing. */
static void pass(struct mmd_conn *c, struct evbuffer *src, struct evbuffer *dst,
		 size_t n)
{
	if (evbuffer_remove_buffer(src, dst, n) != (int)n)
		conn_doom(c);
}

/* One complete line of a head, or nothing: false when it must wait. */
static bool head_step(struct mmd_conn *c, struct evbuffer *src,
		      struct evbuffer *dst)
{
	size_t max = c->w->srv->opts.headers_bytes_max, eol = 0, n, total;
	struct evbuffer_ptr p;
	const char *line;

	if (!c->began) {
		c->began = true;
		if (c->wait == MMD_WAIT_IDLE)
			wait_for(c, MMD_WAIT_HEAD);
	}
	p = evbuffer_search_eol(src, NULL, &eol, EVBUFFER_EOL_CRLF);
	if (p.pos < 0) {
		if (c->head_bytes + evbuffer_get_length(src) <= max)
			return false;
		head_too_long(c, dst);
		return true;
	}
	n = (size_t)p.pos;
	total = n + eol;
	if (c->head_bytes + total > max) {
		head_too_long(c, dst);
		return true;
	}
	c->head_bytes += total;
	line = (const char *)evbuffer_pullup(src, (ev_ssize_t)total);
	if (!line) {
		conn_doom(c); /* out of memory */
		return true;
	}
	if (c->lines == 0 && n == 0) { /* RFC 9112 2.2: ignore it */
		evbuffer_drain(src, total);
		return true;
	}
	if (c->lines++ == 0) {
		c->may_body = method_may_have_body(line, n);
		pass(c, src, dst, total);
	} else if (n == 0) {
		evbuffer_drain(src, total);
		head_end(c, dst);
	} else if (header_line(c, line, n)) {
		pass(c, src, dst, total);
	} else {
		evbuffer_drain(src, total);
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* The guard: bodies and the rest.                                     */

static bool body_step(struct mmd_conn *c, struct evbuffer *src,
		      struct evbuffer *dst)
{
	size_t n = evbuffer_get_length(src);

	if (!c->chunked && n > c->left)
		n = (size_t)c->left;
	if (n == 0)
		return false;
	pass(c, src, dst, n);
	if (c->in != IN_BODY || c->chunked)
		return true; /* evhttp finds the end; mmd_conn_admit holds */
	c->left -= n;
	if (c->left == 0) {
		c->in = IN_HOLD;
		unwait(c);
	}
	return true;
}

/* Starts waiting for the connection's next request. */
static void next_request(struct mmd_conn *c)
{
	c->in = IN_HEAD;
	c->began = false;
	head_reset(c);
	wait_for(c, MMD_WAIT_IDLE);
}

static bool discard_step(struct mmd_conn *c, struct evbuffer *src)
{
	size_t n = evbuffer_get_length(src);

	if (n > c->left)
		n = (size_t)c->left;
	evbuffer_drain(src, n);
	atomic_fetch_add(&c->w->srv->trim_bytes, n);
	c->left -= n;
	if (c->left > 0)
		return false;
	if (c->req_open) {
		c->in = IN_HOLD;
		unwait(c);
	} else {
		next_request(c);
	}
	return true;
}

static bool conn_step(struct mmd_conn *c, struct evbuffer *src,
		      struct evbuffer *dst)
{
	size_t n = evbuffer_get_length(src);

	switch (c->in) {
	case IN_HEAD:
		return head_step(c, src, dst);
	case IN_BODY:
		return body_step(c, src, dst);
	case IN_DISCARD:
		return discard_step(c, src);
	case IN_SINK:
		evbuffer_drain(src, n);
		atomic_fetch_add(&c->w->srv->trim_bytes, n);
		return false;
	case IN_RAW:
		evbuffer_add_buffer(dst, src);
		return false;
	case IN_HOLD:
	default:
		return false;
	}
}

/* Runs the guard over what is waiting in c->raw. */
static void guard_run(struct mmd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	c->guarding = true;
	while (evbuffer_get_length(c->raw) > 0 && conn_step(c, c->raw, in))
		;
	if (c->in == IN_HOLD &&
	    evbuffer_get_length(c->raw) > c->w->srv->opts.headers_bytes_max) {
		/* Pipelining that much before an answer: closed at the next
		 * tick (mmd_conn_tick), as if its deadline had passed. */
		evbuffer_drain(c->raw, evbuffer_get_length(c->raw));
		conn_doom(c);
	}
	c->guarding = false;
}

/* Moves the last n bytes of in (what a read just added) to raw. */
static void take_added(struct evbuffer *in, size_t n, struct evbuffer *raw)
{
	size_t old = evbuffer_get_length(in) - n;
	struct evbuffer *front = NULL;

	if (old > 0) {
		front = evbuffer_new();
		MM_ASSERT(front != NULL);
		evbuffer_remove_buffer(in, front, old);
	}
	evbuffer_add_buffer(raw, in);
	if (front) {
		evbuffer_add_buffer(in, front);
		evbuffer_free(front);
	}
}

/* The evbuffer callback on the input: a read added info->n_added bytes
 * at its end, which evhttp has not seen yet. */
static void conn_input(struct evbuffer *in, const struct evbuffer_cb_info *info,
		       void *arg)
{
	struct mmd_conn *c = arg;

	MM_ASSERT(c->magic == CONN_MAGIC);
	if (c->guarding || info->n_added == 0)
		return; /* our own changes, or evhttp draining */
	if (c->in == IN_BODY && evbuffer_get_length(c->raw) == 0 &&
	    (c->chunked || info->n_added <= c->left)) {
		if (!c->chunked && (c->left -= info->n_added) == 0) {
			c->in = IN_HOLD; /* the body is whole: as it stands */
			unwait(c);
		}
		return;
	}
	c->guarding = true;
	take_added(in, info->n_added, c->raw);
	guard_run(c);
}

/* ------------------------------------------------------------------ */
/* Life of a connection.                                               */

/* Forgets c: its place in the queues, its budget, its count. */
static void conn_forget(struct mmd_conn *c)
{
	struct mmd_worker *w = c->w;
	struct mmd *srv = w->srv;
	struct mmd_conn *self = c;

	unwait(c);
	c->magic = 0;
	if (c->pending)
		c->pending->rq.req = NULL;
	budget_release(c);
	if (c->fd >= 0)
		atomic_compare_exchange_strong(&srv->conn_by_fd[c->fd], &self,
					       NULL);
	if (c->refused_accept)
		w->refused_open--;
	atomic_fetch_sub_explicit(&w->nconns, 1, memory_order_relaxed);
	atomic_fetch_sub(&srv->connections, 1);
	atomic_fetch_add(&srv->trim_bytes,
			 CONN_FREED_BYTES + evbuffer_get_length(c->raw));
	evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cb);
	evbuffer_free(c->raw);
	free(c);
}

/* evhttp's close callback: as evhttp_connection_free starts, before it
 * frees the requests (so a submission in flight forgets its request
 * first) and the bufferevent. */
static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	conn_forget(arg);
}

/* The connections w accepted in this loop iteration, now that evhttp
 * made theirs (or failed to, freeing the bufferevent, or not even
 * taking it: the callback argument tells). */
static void conn_adopt_all(struct mmd_worker *w)
{
	while (w->adopting) {
		struct mmd_conn *c = w->adopting;

		w->adopting = c->adopt_next;
		c->adopt_next = NULL;
		c->evcon = conn_evcon(c);
		if (!c->evcon) {
			conn_forget(c);
			continue;
		}
		evhttp_connection_set_closecb(c->evcon, conn_closed, c);
		learn_fd(c);
	}
}

static void adopt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mmd_worker *w = arg;

	(void)fd;
	(void)what;
	conn_adopt_all(w);
	w->accepts = 0; /* the listener's loop is over */
}

/* Counts c; past --connections-max, closes the worker's longest-waiting
 * connection for it, or else refuses it (503 once its head is read, at
 * most MMD_REFUSED_MAX at once; past those it is closed at the next
 * tick). */
static void conn_count(struct mmd_conn *c)
{
	struct mmd_worker *w = c->w;
	unsigned open = atomic_fetch_add(&w->srv->connections, 1) + 1;
	struct mmd_conn *old = NULL;

	if (open > w->srv->opts.connections_max)
		old = longest_waiting(w);
	if (old)
		conn_close(old, "a new connection took its place "
				"(--connections-max)");
	if (open <= w->srv->opts.connections_max || old) {
		wait_for(c, MMD_WAIT_HEAD);
		return;
	}
	(void)ask_room(w); /* so that the next one finds room */
	c->refused_accept = true;
	w->refused_open++;
	refuse(c, 503, MM_ERR_BUSY, "more than --connections-max connections",
	       true);
	wait_for(c, MMD_WAIT_REFUSED);
	if (w->refused_open > MMD_REFUSED_MAX) {
		c->in = IN_SINK;
		wait_expired(c);
	}
}

/* Stops w's listener for ms (0: until the next loop iteration's timers,
 * which run after its reads). */
static void accept_pause(struct mmd_worker *w, unsigned ms)
{
	struct evconnlistener *lev = NULL;
	struct timeval tv = {ms / 1000, (suseconds_t)(ms % 1000) * 1000};

	if (w->bound)
		lev = evhttp_bound_socket_get_listener(w->bound);
	if (lev)
		evconnlistener_disable(lev);
	event_add(w->resume_ev, &tv);
}

struct bufferevent *mmd_conn_new(struct event_base *base, void *arg)
{
	struct mmd_worker *w = arg;
	struct mmd *srv = w->srv;
	struct mmd_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->magic = CONN_MAGIC;
	c->w = w;
	c->fd = -1;
	c->wait = -1;
	c->in = IN_HEAD;
	c->raw = evbuffer_new();
	c->bev = srv->tls ? mmd_tls_bev(base, srv)
			  : bufferevent_socket_new(base, -1,
						   BEV_OPT_CLOSE_ON_FREE);
	if (c->bev && c->raw)
		c->in_cb = evbuffer_add_cb(bufferevent_get_input(c->bev),
					   conn_input, c);
	if (!c->in_cb) {
		if (c->bev)
			bufferevent_free(c->bev);
		if (c->raw)
			evbuffer_free(c->raw);
		free(c);
		return NULL;
	}
	c->adopt_next = w->adopting;
	w->adopting = c;
	event_active(w->adopt_ev, EV_READ, 0);
	atomic_fetch_add_explicit(&w->nconns, 1, memory_order_relaxed);
	w->accept_pause_ms = 0;
	conn_count(c);
	if (++w->accepts >= MMD_ACCEPT_BATCH)
		accept_pause(w, 0); /* the accepted ones read first */
	return c->bev;
}

/* The answer is out: the body's budget goes back, and what the client
 * sent after the request (held) is read as the next head. */
static void conn_answered(struct evhttp_request *req, void *arg)
{
	struct mmd_conn *c = arg;

	(void)req;
	MM_ASSERT(c->magic == CONN_MAGIC);
	c->req_open = false;
	budget_release(c);
	if (c->in != IN_HOLD)
		return; /* DISCARD goes on; SINK is closing */
	next_request(c);
	/* Outside a read a socket bufferevent keeps its input's end
	 * frozen (bufferevent_sock.c); TLS ones do not freeze it. */
	if (!c->w->srv->tls)
		evbuffer_unfreeze(bufferevent_get_input(c->bev), 0);
	guard_run(c);
	if (!c->w->srv->tls)
		evbuffer_freeze(bufferevent_get_input(c->bev), 0);
}

bool mmd_conn_admit(struct mmd_req *rq)
{
	struct mmd_conn *c = conn_of(rq->srv, rq->req);

	if (!c) { /* evhttp made its own bufferevent: mmd_conn_new failed */
		mmd_reply_header(rq, "Connection", "close");
		mmd_reply_problemf(rq, 503, MM_ERR_NOMEM,
				   "out of memory for connections");
		return false;
	}
	if (c->in == IN_BODY) { /* chunked: evhttp has read it whole */
		c->in = IN_HOLD;
		unwait(c);
	}
	evhttp_request_set_on_complete_cb(rq->req, conn_answered, c);
	if (!c->refuse_status)
		return true;
	if (c->refuse_close)
		mmd_reply_header(rq, "Connection", "close");
	if (c->refuse_status == 503)
		mmd_reply_header(rq, "Retry-After", "1");
	if (c->refuse_code)
		mmd_reply_problem_code(rq, c->refuse_status, c->refuse_code,
				       "not implemented", "%s", c->refuse_why);
	else
		mmd_reply_problemf(rq, c->refuse_status, c->refuse_err, "%s",
				   c->refuse_why);
	return false;
}

void mmd_conn_set_pending(struct mmd_worker *w, struct evhttp_request *req,
			  struct mmd_pending *p)
{
	struct mmd_conn *c = conn_of(w->srv, req);

	MM_ASSERT(c != NULL); /* mmd_conn_admit routed it */
	c->pending = p;
}

void mmd_conn_accept_failed(struct mmd_worker *w, int err)
{
	struct mmd_conn *old = NULL;
	bool out_of_fds = err == EMFILE || err == ENFILE;

	if (out_of_fds)
		old = longest_waiting(w);
	if (old) {
		conn_close(old, "out of descriptors (EMFILE): making room");
		return;
	}
	if (out_of_fds && ask_room(w)) {
		accept_pause(w, MMD_ACCEPT_PAUSE_MS);
		return;
	}
	w->accept_pause_ms = w->accept_pause_ms ? 2 * w->accept_pause_ms
						: MMD_ACCEPT_PAUSE_MS;
	if (w->accept_pause_ms > MMD_ACCEPT_PAUSE_MS_MAX)
		w->accept_pause_ms = MMD_ACCEPT_PAUSE_MS_MAX;
	mmd_log("error", NULL, "cannot accept connections: %s; pausing %u ms",
		strerror(err), w->accept_pause_ms);
	accept_pause(w, w->accept_pause_ms);
}

int mmd_conn_worker_init(struct mmd_worker *w)
{
	w->adopt_ev = event_new(w->base, -1, 0, adopt_cb, w);
	w->evict_ev = event_new(w->base, -1, 0, evict_cb, w);
	return w->adopt_ev && w->evict_ev ? MM_OK : MM_ERR_NOMEM;
}

void mmd_conn_worker_free(struct mmd_worker *w)
{
	conn_adopt_all(w); /* so that evhttp_free's closes reach them */
	if (w->adopt_ev)
		event_free(w->adopt_ev);
	w->adopt_ev = NULL;
	if (w->evict_ev)
		event_free(w->evict_ev);
	w->evict_ev = NULL;
}

void mmd_conns_free(struct mmd *srv)
{
	free(srv->conn_by_fd);
	srv->conn_by_fd = NULL;
	srv->nfds = 0;
}
