/* router.c - the evhttp generic callback: admission, route matching,
 * 404 and 405 with problem documents. */
#include "mmd.h"
#include "service/mkt.h"

#include <stdio.h>
#include <string.h>

#define M_GET  (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)
#define M_POST EVHTTP_REQ_POST

#define ROUTE_STATUSES_MAX 16

struct route {
	int id;
	const char *path; /* exact path, or prefix when param is true */
	bool param;	  /* the rest of the path is one {param} segment */
	const char *param_name; /* "{id}": how the spec names it */
	const char *suffix;	/* after the {param}: "/dataset", or NULL */
	unsigned methods;
	const char *allow; /* the Allow header for 405 */
	void (*fn)(struct mmd_req *rq, const char *arg);
};

static const struct route routes[] = {
	{MMD_R_HEALTHZ, "/healthz", false, NULL, NULL, M_GET, "GET, HEAD",
	 mmd_get_healthz},
	{MMD_R_HEAD, "/v1/ledger/head", false, NULL, NULL, M_GET, "GET, HEAD",
	 mmd_get_head},
	{MMD_R_TX_POST, "/v1/tx", false, NULL, NULL, M_POST, "POST",
	 mmd_post_tx},
	{MMD_R_TX_GET, "/v1/tx/", true, "{id}", NULL, M_GET, "GET, HEAD",
	 mmd_get_tx},
	{MMD_R_ENTRY, "/v1/ledger/entries/", true, "{index}", NULL, M_GET,
	 "GET, HEAD", mmd_get_entry},
	{MMD_R_INCLUSION, "/v1/ledger/proof/inclusion", false, NULL, NULL,
	 M_GET, "GET, HEAD", mmd_get_inclusion},
	{MMD_R_CONSISTENCY, "/v1/ledger/proof/consistency", false, NULL, NULL,
	 M_GET, "GET, HEAD", mmd_get_consistency},
	{MMD_R_BLOCK, "/v1/ledger/blocks/", true, "{height}", NULL, M_GET,
	 "GET, HEAD", mmd_get_block},
	{MMD_R_METRICS, "/metrics", false, NULL, NULL, M_GET, "GET, HEAD",
	 mmd_get_metrics},
	{MMD_R_SESSION, "/v1/session", false, NULL, NULL,
	 EVHTTP_REQ_POST | EVHTTP_REQ_DELETE, "POST, DELETE", mmd_session},
	{MMD_R_WHOAMI, "/v1/whoami", false, NULL, NULL, M_GET, "GET, HEAD",
	 mmd_get_whoami},
	{MMD_R_REQUESTS, "/v1/requests", false, NULL, NULL, M_GET, "GET, HEAD",
	 mmd_get_requests},
	{MMD_R_REQUEST, "/v1/requests/", true, "{id}", NULL, M_GET, "GET, HEAD",
	 mmd_get_request},
	{MMD_R_PARTICIPANT, "/v1/participants/", true, "{id}", NULL, M_GET,
	 "GET, HEAD", mmd_get_participant},
	{MMD_R_ACCOUNT, "/v1/accounts/", true, "{id}", NULL, M_GET, "GET, HEAD",
	 mmd_get_account},
	{MMD_R_CONSENT, "/v1/consents/", true, "{request}", NULL, M_GET,
	 "GET, HEAD", mmd_get_consent},
	{MMD_R_CONTRIBUTION, "/v1/contributions/", true, "{tx}", NULL, M_GET,
	 "GET, HEAD", mmd_get_contribution},
	{MMD_R_RELEASE, "/v1/releases/", true, "{id}", NULL, M_GET, "GET, HEAD",
	 mmd_get_release},
	{MMD_R_PAYOUTS, "/v1/payouts/", true, "{release}", NULL, M_GET,
	 "GET, HEAD", mmd_get_payouts},
	{MMD_R_CONTRIBUTE, "/v1/contributions", false, NULL, NULL, M_POST,
	 "POST", mmd_post_contribution},
	{MMD_R_POLICY, "/v1/policies/", true, "{hash}", NULL, M_GET,
	 "GET, HEAD", mmd_get_policy},
	{MMD_R_PROPOSE, "/v1/releases", false, NULL, NULL, M_POST, "POST",
	 mmd_post_release},
	{MMD_R_DATASET, "/v1/releases/", true, "{id}", "/dataset",
	 EVHTTP_REQ_GET, "GET", mmd_get_dataset},
};

/*
 * Every status each route's handler can answer (0 ends a list), for every
 * method it serves: what docs/openapi.yaml lists for its operations, and
 * what reply.c checks each answer against.  413 (over --body-max-bytes)
 * is listed for the routes that take a body.  Beyond these, every matched
 * route may answer 405, an unmatched path 404, and any request refused
 * as it is read (conn.c) 400, 413, 501 or 503 (the spec's general
 * rules).
 */
#define S_READ	    200, 500
#define S_READ_ARG  200, 400, 404, 500 /* a {param} or query to check */
#define S_AUTH	    401, 503	       /* mmd_authenticate's (and 500) */
#define S_SUBMITTED 413, 422, 503, 507 /* a body, and refusals.c's table */

static const struct {
	int route;
	int statuses[ROUTE_STATUSES_MAX];
} declared[] = {
	{MMD_R_HEALTHZ, {S_READ, 503}},
	{MMD_R_HEAD, {S_READ}},
	{MMD_R_TX_POST, {200, 400, 415, 500, S_SUBMITTED}},
	{MMD_R_TX_GET, {S_READ_ARG}},
	{MMD_R_ENTRY, {S_READ_ARG}},
	{MMD_R_INCLUSION, {S_READ, 400}},
	{MMD_R_CONSISTENCY, {S_READ, 400}},
	{MMD_R_BLOCK, {S_READ_ARG}},
	{MMD_R_METRICS, {S_READ}},
	{MMD_R_SESSION, {200, 500, S_AUTH}},
	{MMD_R_WHOAMI, {200, 500, S_AUTH}},
	{MMD_R_REQUESTS, {S_READ_ARG}},
	{MMD_R_REQUEST, {S_READ_ARG}},
	{MMD_R_PARTICIPANT, {S_READ_ARG}},
	{MMD_R_ACCOUNT, {S_READ, 400, 403, S_AUTH}},
	{MMD_R_CONSENT, {S_READ_ARG, S_AUTH}},
	{MMD_R_CONTRIBUTION, {S_READ_ARG, 403, S_AUTH}},
	{MMD_R_RELEASE, {S_READ_ARG, 403, S_AUTH}},
	{MMD_R_PAYOUTS, {S_READ_ARG, 403, S_AUTH}},
	{MMD_R_CONTRIBUTE, {S_READ_ARG, 401, 403, 409, 415, 429, S_SUBMITTED}},
	{MMD_R_POLICY, {S_READ_ARG}},
	{MMD_R_PROPOSE, {S_READ_ARG, 401, 403, S_SUBMITTED}},
	{MMD_R_DATASET, {S_READ_ARG, 401, 403, 409, 422, 503, 507}},
};

_Static_assert(MM_ARRAY_LEN(declared) == MMD_R_UNMATCHED,
	       "every route declares its statuses");

/* The statuses route declares (0-terminated), or NULL. */
static const int *statuses_of(int route)
{
	for (size_t i = 0; i < MM_ARRAY_LEN(declared); i++)
		if (declared[i].route == route)
			return declared[i].statuses;
	return NULL;
}

bool mmd_route_declares(int route, int status)
{
	const int *st = statuses_of(route);

	if (!st) /* before or without a match; or refused as it was read
		  * (conn.c: 400, 413, 501, 503) */
		return status == 400 || status == 404 || status == 413 ||
		       status == 501 || status == 503;
	if (status == 405)
		return true;
	for (size_t i = 0; i < ROUTE_STATUSES_MAX && st[i]; i++)
		if (st[i] == status)
			return true;
	return false;
}

/* "METHOD /path/{param}" of route r for verb. */
static void op_print(FILE *f, const struct route *r, const char *verb)
{
	fprintf(f, "%s %s%s%s", verb, r->path, r->param ? r->param_name : "",
		r->suffix ? r->suffix : "");
}

static const struct {
	unsigned bit;
	const char *name;
} verbs[] = {{EVHTTP_REQ_GET, "GET"},	  {EVHTTP_REQ_POST, "POST"},
	     {EVHTTP_REQ_PUT, "PUT"},	  {EVHTTP_REQ_DELETE, "DELETE"},
	     {EVHTTP_REQ_PATCH, "PATCH"}, {EVHTTP_REQ_OPTIONS, "OPTIONS"}};

void mmd_routes_print(FILE *f)
{
	for (size_t i = 0; i < MM_ARRAY_LEN(routes); i++)
		for (size_t v = 0; v < MM_ARRAY_LEN(verbs); v++)
			if (routes[i].methods & verbs[v].bit) {
				op_print(f, &routes[i], verbs[v].name);
				fputc('\n', f);
			}
}

/* Route r's statuses in increasing order (into out; their count). */
static size_t statuses_sorted(const struct route *r,
			      int out[ROUTE_STATUSES_MAX])
{
	const int *st = statuses_of(r->id);
	size_t n = 0;

	MM_ASSERT(st != NULL);
	while (n < ROUTE_STATUSES_MAX && st[n]) {
		size_t j = n++;

		for (; j > 0 && out[j - 1] > st[n - 1]; j--)
			out[j] = out[j - 1];
		out[j] = st[n - 1];
	}
	return n;
}

void mmd_contract_print(FILE *f)
{
	const struct mmd_refusal *t;
	int st[ROUTE_STATUSES_MAX];
	size_t n = 0;

	for (size_t i = 0; i < MM_ARRAY_LEN(routes); i++)
		for (size_t v = 0; v < MM_ARRAY_LEN(verbs); v++) {
			if (!(routes[i].methods & verbs[v].bit))
				continue;
			fputs("status ", f);
			op_print(f, &routes[i], verbs[v].name);
			n = statuses_sorted(&routes[i], st);
			for (size_t s = 0; s < n; s++)
				fprintf(f, " %d", st[s]);
			fputc('\n', f);
		}
	t = mmd_refusals(&n);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "refusal %s %d %d %s\n", mm_errcode(t[i].err),
			t[i].before, t[i].apply,
			t[i].outside ? "client" : "node");
}

static const char *method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	default:
		return "OTHER";
	}
}

#define PARAM_BYTES_MAX 128 /* a {param} followed by a suffix */

/* The route path matches, and *arg is its {param} (or NULL; a param
 * before a suffix is copied into buf). */
static bool route_match(const struct route *r, const char *path,
			const char **arg, char buf[PARAM_BYTES_MAX])
{
	size_t n = strlen(r->path), pn;
	const char *slash;

	*arg = NULL;
	if (!r->param)
		return strcmp(path, r->path) == 0;
	if (strncmp(path, r->path, n) != 0 || path[n] == '\0')
		return false;
	slash = strchr(path + n, '/');
	if (!r->suffix) {
		*arg = path + n;
		return slash == NULL;
	}
	pn = slash ? (size_t)(slash - (path + n)) : 0;
	if (pn == 0 || pn >= PARAM_BYTES_MAX || strcmp(slash, r->suffix) != 0)
		return false;
	memcpy(buf, path + n, pn);
	buf[pn] = '\0';
	*arg = buf;
	return true;
}

static void req_init(struct mmd_req *rq, struct mmd_worker *w,
		     struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port = 0;

	memset(rq, 0, sizeof(*rq));
	clock_gettime(CLOCK_MONOTONIC, &rq->t0);
	rq->srv = w->srv;
	rq->w = w;
	rq->req = req;
	rq->route = MMD_R_UNMATCHED;
	rq->method = method_name(evhttp_request_get_command(req));
	if (evcon)
		evhttp_connection_get_peer(evcon, &addr, &port);
	snprintf(rq->remote, sizeof(rq->remote), "%s:%u", addr ? addr : "?",
		 (unsigned)port);
}

void mmd_route(struct evhttp_request *req, void *arg)
{
	struct mmd_worker *w = arg;
	struct mmd_req rq;
	const char *path =
		evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	const char *param = NULL;
	char param_buf[PARAM_BYTES_MAX];
	unsigned cmd = evhttp_request_get_command(req);

	req_init(&rq, w, req);
	if (!mmd_conn_admit(&rq))
		return; /* refused as its connection was read (conn.c) */
	if (strcmp(rq.method, "OTHER") == 0) { /* TRACE, CONNECT, unknown */
		mmd_reply_problem_code(&rq, 501, "not_implemented",
				       "not implemented",
				       "this node implements GET, HEAD, POST, "
				       "PUT, DELETE, OPTIONS and PATCH only");
		return;
	}
	for (size_t i = 0; path && i < MM_ARRAY_LEN(routes); i++) {
		const struct route *r = &routes[i];

		if (!route_match(r, path, &param, param_buf))
			continue;
		rq.route = r->id;
		if (!(cmd & r->methods)) {
			mmd_reply_header(&rq, "Allow", r->allow);
			mmd_reply_problemf(&rq, 405, MM_ERR_INVALID,
					   "method %s is not allowed here; "
					   "allowed: %s",
					   rq.method, r->allow);
			return;
		}
		r->fn(&rq, param);
		return;
	}
	mmd_reply_problemf(&rq, 404, MM_ERR_NOTFOUND, "no such route");
}
