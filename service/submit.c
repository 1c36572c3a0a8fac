/*
 * submit.c - POST /v1/tx: a signed envelope as canonical msgpack or as
 * its JSON form, submitted to the ledger and answered with its receipt
 * once the block holding it is durable.
 *
 * Statuses: 200 logged (or logged before: the same signed bytes answer
 * the original receipt); 413 over --body-max-bytes (refused by conn.c as
 * the head is read); a refusal as refusals.c's table says for its code
 * and phase (before queueing, or from the committer), which
 * docs/PROTOCOL.md section 6.3 prints.
 *
 * Life of a submission: the worker allocates a struct mmd_pending with an
 * event in its own base and calls ledger_submit_async.  The committer's
 * done callback only fills in the result and activates that event, so the
 * reply (and the receipt's proof reads) happen on the worker thread.  If
 * the client goes away first, conn_closed clears rq.req and the event
 * just frees the pending struct.
 */
#include "mmd.h"

#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "edge/edge.h"

/* A code the table says cannot happen in this phase: a node bug,
 * answered 500 and logged (never the request's contents). */
static int status_of(int err, enum mmd_phase phase)
{
	int status = mmd_refusal_status(err, phase);

	if (status)
		return status;
	mmd_log("error", NULL,
		"refusal code %s is not expected %s (refusals.c): answered 500",
		mm_errcode(err),
		phase == MMD_BEFORE_QUEUE ? "before queueing"
					  : "from the committer");
	return 500;
}

int mmd_status_refused(int err)
{
	return status_of(err, MMD_BEFORE_QUEUE);
}

int mmd_status_done(int err)
{
	return status_of(err, MMD_BY_COMMITTER);
}

void mmd_pending_free(struct mmd_pending *p)
{
	if (!p)
		return;
	if (p->ev)
		event_free(p->ev);
	free(p);
}

/* Takes p off its worker's list of submissions in flight. */
static void pending_unlink(struct mmd_pending *p)
{
	struct mmd_worker *w = p->rq.w;

	if (p->prev)
		p->prev->next = p->next;
	else
		w->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
}

/* The answer to a logged submission: its receipt. */
static void reply_receipt(struct mmd_pending *p, void *ctx)
{
	struct mmd_req *rq = &p->rq;
	uint64_t index = p->index;
	struct ledger_receipt *r = malloc(sizeof(*r));
	int err = r ? ledger_receipt(rq->srv->ledger, index, r) : MM_ERR_NOMEM;

	(void)ctx;
	if (err)
		mmd_reply_problemf(rq, 500, err,
				   "logged at index %llu but the receipt "
				   "cannot be read",
				   (unsigned long long)index);
	else
		mmd_reply_receipt(rq, r);
	free(r);
}

void mmd_pending_answer(struct mmd_pending *p,
			void (*ok)(struct mmd_pending *p, void *ctx), void *ctx)
{
	struct mmd *srv = p->rq.srv;

	if (!p->rq.req) {
		mmd_reply_gone(&p->rq);
	} else {
		mmd_conn_set_pending(p->rq.w, p->rq.req, NULL);
		if (p->err == MM_OK)
			ok(p, ctx);
		else
			mmd_reply_problem(&p->rq, mmd_status_done(p->err),
					  p->err, &p->why);
	}
	pending_unlink(p);
	mmd_pending_free(p);
	atomic_fetch_sub(&srv->inflight, 1);
}

/* On the worker thread, after the committer answered. */
static void pending_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mmd_pending *p = arg;

	(void)fd;
	(void)what;
	mmd_metrics_commit(&p->rq.srv->metrics, p->err,
			   p->t_done_us - p->t_submit_us);
	mmd_pending_answer(p, reply_receipt, NULL);
}

void mmd_pending_done(void *arg, int err, uint64_t index,
		      const struct mm_diag *why)
{
	struct mmd_pending *p = arg;

	p->err = err;
	p->index = index;
	if (why)
		p->why = *why;
	p->t_done_us = mmd_now_us();
	event_active(p->ev, EV_READ, 0);
}

/* The media type of the request body, without parameters. */
static bool ctype_is(struct evhttp_request *req, const char *type)
{
	const char *v = evhttp_find_header(
		evhttp_request_get_input_headers(req), "Content-Type");
	size_t n = strlen(type);

	if (!v)
		return false;
	while (*v == ' ' || *v == '\t')
		v++;
	if (strncasecmp(v, type, n) != 0)
		return false;
	v += n;
	while (*v == ' ' || *v == '\t')
		v++;
	return *v == '\0' || *v == ';';
}

/* The JSON form converted to canonical bytes in out; false after
 * answering 400. */
static bool body_from_json(struct mmd_req *rq, const uint8_t *body, size_t n,
			   struct ledger_buf *out)
{
	struct mm_diag diag = {0};
	json_error_t jerr;
	json_t *j = json_loadb((const char *)body, n, JSON_REJECT_DUPLICATES,
			       &jerr);
	int err;

	if (!j) {
		/* jerr.text may quote the input: say only where. */
		mmd_reply_problemf(rq, mmd_status_refused(MM_ERR_DECODE),
				   MM_ERR_DECODE,
				   "JSON syntax error at line %d column %d",
				   jerr.line, jerr.column);
		return false;
	}
	err = edge_tx_from_json(j, rq->srv->types, rq->srv->ntypes, out, &diag);
	json_decref(j);
	if (err) {
		mmd_reply_problem(rq, mmd_status_refused(err), err, &diag);
		return false;
	}
	return true;
}

static struct mmd_pending *pending_new(struct mmd_req *rq)
{
	struct mmd_pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->rq = *rq;
	p->ev = event_new(rq->w->base, -1, 0, pending_cb, p);
	if (!p->ev) {
		free(p);
		return NULL;
	}
	p->t_submit_us = mmd_now_us();
	return p;
}

void mmd_pending_queue(struct mmd_req *rq, struct mmd_pending *p)
{
	p->next = rq->w->pending;
	if (p->next)
		p->next->prev = p;
	rq->w->pending = p;
	mmd_conn_set_pending(rq->w, rq->req, p);
}

void mmd_reply_refused(struct mmd_req *rq, int err, const struct mm_diag *diag)
{
	atomic_fetch_add_explicit(&rq->srv->metrics.refused, 1,
				  memory_order_relaxed);
	if (err == MM_ERR_BUSY || err == MM_ERR_CLOSED)
		mmd_reply_header(rq, "Retry-After", "1");
	mmd_reply_problem(rq, mmd_status_refused(err), err, diag);
}

/* Queues bytes; on success the pending struct owns the request. */
static void submit(struct mmd_req *rq, const uint8_t *bytes, size_t n)
{
	struct mmd *srv = rq->srv;
	struct mm_diag diag = {0};
	struct mmd_pending *p = pending_new(rq);
	int err = p ? MM_OK : MM_ERR_NOMEM;

	if (!err && atomic_load(&srv->stopping))
		err = mm_fail(&diag, MM_ERR_CLOSED, 0, "the node is stopping");
	if (!err) {
		atomic_fetch_add(&srv->inflight, 1);
		err = ledger_submit_async(srv->ledger, bytes, n,
					  mmd_pending_done, p, &diag);
		if (err) /* counted only while the committer holds it */
			atomic_fetch_sub(&srv->inflight, 1);
	}
	if (err) {
		mmd_pending_free(p);
		mmd_reply_refused(rq, err, &diag);
		return;
	}
	mmd_pending_queue(rq, p);
}

void mmd_post_tx(struct mmd_req *rq, const char *arg)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(rq->req);
	size_t n = evbuffer_get_length(in);
	const uint8_t *body = n ? evbuffer_pullup(in, -1) : (const uint8_t *)"";
	struct ledger_buf b;

	(void)arg;
	if (ctype_is(rq->req, "application/msgpack")) {
		submit(rq, body, n);
		return;
	}
	if (!ctype_is(rq->req, "application/json")) {
		mmd_reply_problemf(rq, mmd_status_refused(MM_ERR_INVALID),
				   MM_ERR_INVALID,
				   "Content-Type: expected application/msgpack "
				   "or application/json");
		return;
	}
	ledger_buf_init(&b, LEDGER_TX_BYTES_MAX);
	if (body_from_json(rq, body, n, &b))
		submit(rq, b.p, b.len);
	ledger_buf_release(&b);
}
