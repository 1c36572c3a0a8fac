/* reply.c - sending answers: JSON, RFC 9457 problems and text, each
 * logged and counted once. */
#include "mmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge/edge.h"

#define PROBLEM_CODE_BASE "https://medmarket.dev/problems/"

uint64_t mmd_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Content Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Content";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 507:
		return "Insufficient Storage";
	default:
		return status >= 500 ? "Internal Server Error" : "Error";
	}
}

/* Every answer's status must be one its route declares (router.c), as
 * docs/openapi.yaml lists them: one that is not is a bug, logged and
 * counted (debug builds then exit non-zero at shutdown, so a test that
 * provokes it fails). */
static void check_declared(struct mmd_req *rq, int status)
{
	if (mmd_route_declares(rq->route, status))
		return;
	atomic_fetch_add_explicit(&rq->srv->metrics.undeclared, 1,
				  memory_order_relaxed);
	mmd_log("error",
		json_pack("{s:s,s:s,s:i}", "route", mmd_route_name(rq->route),
			  "method", rq->method, "status", status),
		"answered a status the route does not declare (router.c, "
		"docs/openapi.yaml)");
}

static void finish(struct mmd_req *rq, int status, struct evbuffer *body)
{
	check_declared(rq, status);
	mmd_metrics_request(&rq->srv->metrics, rq->route, status);
	mmd_log_request(rq, status);
	/* libevent 2.1 would send a HEAD answer's body after its headers:
	 * say how long the GET answer is and send none (RFC 9110 9.3.2). */
	if (evhttp_request_get_command(rq->req) == EVHTTP_REQ_HEAD && body) {
		char n[24];

		snprintf(n, sizeof(n), "%zu", evbuffer_get_length(body));
		mmd_reply_header(rq, "Content-Length", n);
		evbuffer_drain(body, evbuffer_get_length(body));
	}
	evhttp_send_reply(rq->req, status, reason(status), body);
	/* libevent may free the request (and connection) from here on. */
	rq->req = NULL;
}

void mmd_reply_header(struct mmd_req *rq, const char *name, const char *value)
{
	evhttp_add_header(evhttp_request_get_output_headers(rq->req), name,
			  value);
}

void mmd_reply_buffer(struct mmd_req *rq, int status, const char *ctype,
		      struct evbuffer *body)
{
	mmd_reply_header(rq, "Content-Type", ctype);
	finish(rq, status, body);
}

/* Dumps j (stolen) into a fresh buffer; NULL on failure. */
static struct evbuffer *dump(json_t *j)
{
	struct evbuffer *b = NULL;
	char *s = NULL;

	if (j)
		s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!s)
		return NULL;
	b = evbuffer_new();
	if (b && (evbuffer_add(b, s, strlen(s)) || evbuffer_add(b, "\n", 1))) {
		evbuffer_free(b);
		b = NULL;
	}
	free(s);
	return b;
}

/* The last resort when even a problem document cannot be built. */
static void reply_bare_500(struct mmd_req *rq)
{
	check_declared(rq, 500);
	mmd_metrics_request(&rq->srv->metrics, rq->route, 500);
	mmd_log_request(rq, 500);
	/* evhttp_send_error writes an HTML body, which HEAD must not get. */
	if (evhttp_request_get_command(rq->req) == EVHTTP_REQ_HEAD)
		evhttp_send_reply(rq->req, 500, reason(500), NULL);
	else
		evhttp_send_error(rq->req, 500, NULL);
	rq->req = NULL;
}

void mmd_reply_problem(struct mmd_req *rq, int status, int err,
		       const struct mm_diag *diag)
{
	struct evbuffer *b = dump(edge_problem_json(err, status, diag));

	if (!b) {
		reply_bare_500(rq);
		return;
	}
	mmd_reply_buffer(rq, status, "application/problem+json", b);
	evbuffer_free(b);
}

void mmd_reply_problem_code(struct mmd_req *rq, int status, const char *code,
			    const char *title, const char *fmt, ...)
{
	char detail[MM_DIAG_MSG_MAX], type[sizeof(PROBLEM_CODE_BASE) + 32];
	struct evbuffer *b = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(type, sizeof(type), PROBLEM_CODE_BASE "%s", code);
	b = dump(json_pack("{s:s,s:s,s:i,s:s,s:s}", "type", type, "title",
			   title, "status", status, "detail", detail, "code",
			   code));
	if (!b) {
		reply_bare_500(rq);
		return;
	}
	mmd_reply_buffer(rq, status, "application/problem+json", b);
	evbuffer_free(b);
}

void mmd_reply_problemf(struct mmd_req *rq, int status, int err,
			const char *fmt, ...)
{
	struct mm_diag diag = {0};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(diag.msg, sizeof(diag.msg), fmt, ap);
	va_end(ap);
	mmd_reply_problem(rq, status, err, &diag);
}

void mmd_reply_json(struct mmd_req *rq, int status, json_t *body)
{
	struct evbuffer *b = dump(body);

	if (!b) {
		mmd_reply_problemf(rq, 500, MM_ERR_NOMEM,
				   "cannot build the response");
		return;
	}
	mmd_reply_buffer(rq, status, "application/json", b);
	evbuffer_free(b);
}

void mmd_reply_receipt(struct mmd_req *rq, const struct ledger_receipt *r)
{
	char text[EDGE_RECEIPT_TEXT_MAX];
	size_t n = edge_receipt_text(r, text);
	struct evbuffer *b = evbuffer_new();

	text[n++] = '\n'; /* in place of the NUL, as dump() ends a body */
	if (!b || evbuffer_add(b, text, n)) {
		if (b)
			evbuffer_free(b);
		mmd_reply_problemf(rq, 500, MM_ERR_NOMEM,
				   "cannot build the response");
		return;
	}
	mmd_reply_buffer(rq, 200, "application/json", b);
	evbuffer_free(b);
}

void mmd_reply_gone(struct mmd_req *rq)
{
	mmd_metrics_request(&rq->srv->metrics, rq->route, 499);
	mmd_log_request(rq, 499);
}
