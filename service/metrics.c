/* metrics.c - request, commit and latency counters (C11 atomics) and
 * their Prometheus text rendering. */
#include "mmd.h"

#include <inttypes.h>

/* The statuses medmarketd answers; anything else counts as "other". */
static const int statuses[MMD_STATUS_SLOTS - 1] = {200, 400, 404, 405, 413, 415,
						   422, 499, 500, 503, 507, 416,
						   501, 401, 403, 409};

/* Upper bounds of the commit latency buckets, in milliseconds. */
static const unsigned latency_ms[MMD_LATENCY_BUCKETS] = {
	1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000};

static const char *const route_names[MMD_R__COUNT] = {
	[MMD_R_HEALTHZ] = "/healthz",
	[MMD_R_HEAD] = "/v1/ledger/head",
	[MMD_R_TX_POST] = "/v1/tx",
	[MMD_R_TX_GET] = "/v1/tx/{id}",
	[MMD_R_ENTRY] = "/v1/ledger/entries/{index}",
	[MMD_R_INCLUSION] = "/v1/ledger/proof/inclusion",
	[MMD_R_CONSISTENCY] = "/v1/ledger/proof/consistency",
	[MMD_R_BLOCK] = "/v1/ledger/blocks/{height}",
	[MMD_R_METRICS] = "/metrics",
	[MMD_R_SESSION] = "/v1/session",
	[MMD_R_WHOAMI] = "/v1/whoami",
	[MMD_R_REQUESTS] = "/v1/requests",
	[MMD_R_REQUEST] = "/v1/requests/{id}",
	[MMD_R_PARTICIPANT] = "/v1/participants/{id}",
	[MMD_R_ACCOUNT] = "/v1/accounts/{id}",
	[MMD_R_CONSENT] = "/v1/consents/{request}",
	[MMD_R_CONTRIBUTION] = "/v1/contributions/{tx}",
	[MMD_R_RELEASE] = "/v1/releases/{id}",
	[MMD_R_PAYOUTS] = "/v1/payouts/{release}",
	[MMD_R_CONTRIBUTE] = "/v1/contributions",
	[MMD_R_POLICY] = "/v1/policies/{hash}",
	[MMD_R_PROPOSE] = "/v1/releases",
	[MMD_R_DATASET] = "/v1/releases/{id}/dataset",
	[MMD_R_UNMATCHED] = "unmatched",
};

const char *mmd_route_name(int route)
{
	MM_ASSERT(route >= 0 && route < MMD_R__COUNT);
	return route_names[route];
}

static size_t status_slot(int status)
{
	for (size_t i = 0; i < MM_ARRAY_LEN(statuses); i++)
		if (statuses[i] == status)
			return i;
	return MMD_STATUS_SLOTS - 1;
}

void mmd_metrics_request(struct mmd_metrics *m, int route, int status)
{
	MM_ASSERT(route >= 0 && route < MMD_R__COUNT);
	atomic_fetch_add_explicit(&m->requests[route][status_slot(status)], 1,
				  memory_order_relaxed);
}

void mmd_metrics_commit(struct mmd_metrics *m, int err, uint64_t latency_us)
{
	size_t b = 0;

	atomic_fetch_add_explicit(err == MM_OK ? &m->committed : &m->refused, 1,
				  memory_order_relaxed);
	while (b < MMD_LATENCY_BUCKETS &&
	       latency_us > (uint64_t)latency_ms[b] * 1000)
		b++;
	atomic_fetch_add_explicit(&m->latency[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->latency_us_sum, latency_us,
				  memory_order_relaxed);
}

static uint64_t load(atomic_uint_fast64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

static int render_requests(struct mmd_metrics *m, struct evbuffer *out)
{
	int rc = evbuffer_add_printf(
		out,
		"# HELP medmarket_http_requests_total HTTP requests "
		"answered.\n# TYPE medmarket_http_requests_total counter\n");

	for (int r = 0; rc >= 0 && r < MMD_R__COUNT; r++) {
		for (size_t s = 0; rc >= 0 && s < MMD_STATUS_SLOTS; s++) {
			uint64_t v = load(&m->requests[r][s]);
			char status[8];

			if (v == 0)
				continue;
			if (s < MM_ARRAY_LEN(statuses))
				snprintf(status, sizeof(status), "%d",
					 statuses[s]);
			else
				snprintf(status, sizeof(status), "other");
			rc = evbuffer_add_printf(
				out,
				"medmarket_http_requests_total{route=\"%s\","
				"status=\"%s\"} %" PRIu64 "\n",
				route_names[r], status, v);
		}
	}
	return rc < 0 ? MM_ERR_NOMEM : MM_OK;
}

static int render_latency(struct mmd_metrics *m, struct evbuffer *out)
{
	const char *name = "medmarket_commit_latency_seconds";
	uint64_t cum = 0;
	int rc = evbuffer_add_printf(
		out,
		"# HELP %s Time from submission to the "
		"committer's answer.\n# TYPE %s histogram\n",
		name, name);

	for (size_t b = 0; rc >= 0 && b < MMD_LATENCY_BUCKETS; b++) {
		cum += load(&m->latency[b]);
		rc = evbuffer_add_printf(
			out, "%s_bucket{le=\"%u.%03u\"} %" PRIu64 "\n", name,
			latency_ms[b] / 1000, latency_ms[b] % 1000, cum);
	}
	cum += load(&m->latency[MMD_LATENCY_BUCKETS]);
	if (rc >= 0)
		rc = evbuffer_add_printf(
			out,
			"%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %" PRIu64
			".%06" PRIu64 "\n%s_count %" PRIu64 "\n",
			name, cum, name, load(&m->latency_us_sum) / 1000000,
			load(&m->latency_us_sum) % 1000000, name, cum);
	return rc < 0 ? MM_ERR_NOMEM : MM_OK;
}

static const unsigned block_le[MMD_BLOCK_BUCKETS - 1] = {1, 8, 64, 512};

void mmd_metrics_block(void *arg, const struct ledger_head *h)
{
	struct mmd_metrics *m = arg;
	uint64_t n = h->size - m->last_size;
	size_t b = 0;

	m->last_size = h->size;
	while (b < MMD_BLOCK_BUCKETS - 1 && n > block_le[b])
		b++;
	atomic_fetch_add(&m->block_txs[b], 1);
	atomic_fetch_add(&m->block_txs_sum, n);
}

static int render_blocks(struct mmd_metrics *m, struct ledger *l,
			 struct evbuffer *out)
{
	const char *name = "medmarket_block_transactions";
	uint64_t cum = 0;
	int rc = evbuffer_add_printf(
		out,
		"# HELP %s Transactions per committed block.\n"
		"# TYPE %s histogram\n",
		name, name);

	for (size_t b = 0; rc >= 0 && b < MMD_BLOCK_BUCKETS - 1; b++) {
		cum += load(&m->block_txs[b]);
		rc = evbuffer_add_printf(out,
					 "%s_bucket{le=\"%u\"} %" PRIu64 "\n",
					 name, block_le[b], cum);
	}
	cum += load(&m->block_txs[MMD_BLOCK_BUCKETS - 1]);
	if (rc >= 0)
		rc = evbuffer_add_printf(
			out,
			"%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %" PRIu64
			"\n%s_count %" PRIu64 "\n"
			"# HELP medmarket_queue_depth Submissions waiting for "
			"the committer.\n# TYPE medmarket_queue_depth gauge\n"
			"medmarket_queue_depth %u\n",
			name, cum, name, load(&m->block_txs_sum), name, cum,
			ledger_queue_len(l));
	return rc < 0 ? MM_ERR_NOMEM : MM_OK;
}

int mmd_metrics_render(struct mmd_metrics *m, struct ledger *l,
		       struct evbuffer *out)
{
	struct ledger_head h;
	int err = ledger_head(l, &h);

	if (err)
		return err;
	err = render_requests(m, out);
	if (!err &&
	    evbuffer_add_printf(
		    out,
		    "# TYPE medmarket_ledger_size gauge\n"
		    "medmarket_ledger_size %" PRIu64 "\n"
		    "# TYPE medmarket_ledger_height gauge\n"
		    "medmarket_ledger_height %" PRIu64 "\n"
		    "# TYPE medmarket_tx_committed_total counter\n"
		    "medmarket_tx_committed_total %" PRIu64 "\n"
		    "# TYPE medmarket_tx_refused_total counter\n"
		    "medmarket_tx_refused_total %" PRIu64 "\n"
		    "# TYPE medmarket_http_undeclared_status_total "
		    "counter\n"
		    "medmarket_http_undeclared_status_total %" PRIu64 "\n",
		    h.size, h.height, load(&m->committed), load(&m->refused),
		    load(&m->undeclared)) < 0)
		err = MM_ERR_NOMEM;
	if (!err)
		err = render_latency(m, out);
	if (!err)
		err = render_blocks(m, l, out);
	return err;
}
