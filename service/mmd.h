/*
 * mmd.h - medmarketd's internals, shared by the daemon's files only (the
 * public forms are in edge.h; nothing outside service/ includes this).
 *
 * Threading: N worker threads each run their own event_base and evhttp,
 * each accepting on its own SO_REUSEPORT socket of the one port (so the
 * kernel spreads connections over them), and serve reads directly with
 * LMDB read transactions; POST /v1/tx hands the bytes to the ledger's
 * committer thread, whose done callback only records the result and
 * activates an event in the submitting worker's base, so every
 * evhttp_request is touched by its own worker thread alone.
 */
#ifndef MMD_H
#define MMD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "ledger/ledger.h"
#include "service/refusals.h"

#define MMD_THREADS_MAX	    64
#define MMD_CONNECTIONS_MAX 65536 /* ceiling of --connections-max */
#define MMD_PATH_MAX	    4096  /* data dir and key paths */
#define MMD_ADDR_MAX	    128	  /* "host:port" text */
#define MMD_AUTHORITY_MAX   280	  /* "host:port", host <= 255 bytes */
#define MMD_REMOTE_MAX	    64	  /* peer "addr:port" in logs */
#define MMD_CHAIN_MAX	    256	  /* chain name shown at startup */
#define MMD_DRAIN_MS_MAX    10000 /* shutdown waits this long for commits */
#define MMD_FLUSH_MS	    50	  /* then lets replies flush this long */
#define MMD_STEWARDS_MAX    16	  /* --steward (MARKET_STEWARDS_MAX) */
/* --contrib-cpu-ms: the CPU one patient key may spend per minute in the
 * record checks of POST /v1/contributions (service/budget.c). */
#define MMD_CONTRIB_CPU_MS_DEFAULT 2000
#define MMD_CONTRIB_CPU_MS_MAX	   60000
/* Connections (conn.c): deadlines are checked every MMD_LOG_FLUSH_MS. */
#define MMD_HEADER_TIMEOUT_S	10 /* --header-timeout-s default */
#define MMD_BODY_TIMEOUT_S	30 /* --body-timeout-s default */
#define MMD_BODY_BUDGET_MIB	64 /* --body-budget-mib default */
#define MMD_BODY_BUDGET_MIB_MAX 65536
#define MMD_REFUSED_MS		1000 /* an over-limit connection's head */
#define MMD_REFUSED_MAX		32   /* such connections per worker */
#define MMD_ACCEPT_PAUSE_MS	50   /* first pause after EMFILE... */
#define MMD_ACCEPT_PAUSE_MS_MAX 1000 /* doubling up to this */
/* Accepts in one loop iteration, before the accepted connections' reads
 * get their turn (so that a burst cannot close, to make room, the very
 * connections it just accepted before they could send a byte). */
#define MMD_ACCEPT_BATCH 32
/* Descriptors kept for everything but connections (LMDB, blobs, the
 * event bases, listening sockets, logs), plus MMD_FDS_PER_THREAD each. */
#define MMD_FDS_RESERVED   64
#define MMD_FDS_PER_THREAD 8
#define MMD_FDS_MAX	   (MMD_CONNECTIONS_MAX + 4096) /* RLIMIT_NOFILE */
/* Freed request memory (bodies, closed connections) after which a
 * worker gives the heap's free pages back to the system. */
#define MMD_TRIM_BYTES (32u << 20)
/* A worker's request log buffer: PIPE_BUF, so that each write of it
 * stays whole on a pipe shared with the other workers. */
#define MMD_LOG_BUF_BYTES 4096
#define MMD_LOG_FLUSH_MS  100 /* the longest a request line waits */

/* ------------------------------------------------------------------ */
/* Options (options.c).                                                */

struct mmd_opts {
	const char *data_dir;
	const char *listen;
	char listen_host[MMD_ADDR_MAX]; /* "" = every address */
	char listen_port[8];
	char key_path[MMD_PATH_MAX];
	const char *chain;
	bool init;
	unsigned threads;
	unsigned block_tx_max; /* 0: ledger default */
	unsigned block_wait_ms;
	bool block_wait_set;
	uint64_t map_mib;   /* 0: ledger default */
	unsigned queue_max; /* 0: ledger default */
	size_t body_bytes_max;
	size_t headers_bytes_max;
	unsigned timeout_s;	   /* per read or write; and idle keep-alive */
	unsigned header_timeout_s; /* a whole request head, from its start */
	unsigned body_timeout_s;   /* a whole body, from the end of its head */
	unsigned body_budget_mib; /* request bodies held at once, all workers */
	unsigned connections_max;
	const char *tls_cert; /* PEM chain; NULL: plain HTTP */
	const char *tls_key;  /* PEM private key (with tls_cert) */
	unsigned session_ttl_s;
	unsigned sessions_max;	      /* --sessions-max */
	const char *public_authority; /* NULL: the listen address */
	unsigned contrib_cpu_ms;      /* --contrib-cpu-ms: per key per minute */
	bool routes;   /* --routes: print the route table and exit */
	bool contract; /* --contract: statuses and refusals, exit */
	/* --init --registrar --steward... --threshold: tokens.init and
	 * market.init after genesis (docs/OPERATIONS.md). */
	bool market_init; /* --registrar given */
	uint8_t registrar[LEDGER_HASH_BYTES];
	uint8_t stewards[MMD_STEWARDS_MAX][LEDGER_HASH_BYTES];
	unsigned nstewards;
	unsigned threshold;
	unsigned precision;		     /* --precision, default 6 */
	const char *supply_max;		     /* --supply-max base units */
	uint8_t treasury[LEDGER_HASH_BYTES]; /* default: the registrar */
	bool treasury_set;
};

enum { MMD_OPTS_OK, MMD_OPTS_HELP, MMD_OPTS_ERROR };

/* Parses argv into o (defaults first).  MMD_OPTS_HELP after printing
 * --help; MMD_OPTS_ERROR after saying which option is wrong and why. */
int mmd_opts_parse(int argc, char **argv, struct mmd_opts *o);
/* The ledger configuration the options ask for. */
void mmd_opts_config(const struct mmd_opts *o, struct ledger_config *cfg);

/* ------------------------------------------------------------------ */
/* Metrics (metrics.c): counters with C11 atomics.                     */

enum mmd_route {
	MMD_R_HEALTHZ,
	MMD_R_HEAD,
	MMD_R_TX_POST,
	MMD_R_TX_GET,
	MMD_R_ENTRY,
	MMD_R_INCLUSION,
	MMD_R_CONSISTENCY,
	MMD_R_BLOCK,
	MMD_R_METRICS,
	MMD_R_SESSION,
	MMD_R_WHOAMI,
	MMD_R_REQUESTS,
	MMD_R_REQUEST,
	MMD_R_PARTICIPANT,
	MMD_R_ACCOUNT,
	MMD_R_CONSENT,
	MMD_R_CONTRIBUTION,
	MMD_R_RELEASE,
	MMD_R_PAYOUTS,
	MMD_R_CONTRIBUTE,
	MMD_R_POLICY,
	MMD_R_PROPOSE,
	MMD_R_DATASET,
	MMD_R_UNMATCHED,
	MMD_R__COUNT
};

#define MMD_STATUS_SLOTS    17 /* the statuses we answer, plus "other" */
#define MMD_LATENCY_BUCKETS 14

#define MMD_BLOCK_BUCKETS 5

struct mmd_metrics {
	atomic_uint_fast64_t requests[MMD_R__COUNT][MMD_STATUS_SLOTS];
	atomic_uint_fast64_t committed;
	atomic_uint_fast64_t refused;
	/* Answers with a status their route does not declare (a bug). */
	atomic_uint_fast64_t undeclared;
	atomic_uint_fast64_t latency[MMD_LATENCY_BUCKETS + 1]; /* + +Inf */
	atomic_uint_fast64_t latency_us_sum;
	/* Transactions per block: buckets 1, 2-8, 9-64, 65-512, 513+. */
	atomic_uint_fast64_t block_txs[MMD_BLOCK_BUCKETS];
	atomic_uint_fast64_t block_txs_sum;
	uint64_t last_size; /* log size after the last block; set at start,
			       then committer thread only */
};

/* The ledger's after-block hook (arg: struct mmd_metrics); register it
 * before ledger_start. */
void mmd_metrics_block(void *arg, const struct ledger_head *h);

/* The pattern of a route, for logs and labels. */
const char *mmd_route_name(int route);
void mmd_metrics_request(struct mmd_metrics *m, int route, int status);
/* One submission answered by the committer after latency_us. */
void mmd_metrics_commit(struct mmd_metrics *m, int err, uint64_t latency_us);
/* Prometheus text format.  An mm_err. */
int mmd_metrics_render(struct mmd_metrics *m, struct ledger *l,
		       struct evbuffer *out);

/* ------------------------------------------------------------------ */
/* The server, its workers and one request.                            */

struct mmd_worker;
struct mmd_pending;
struct mmd_conn;
struct sockaddr;
struct mmd_auth;
struct intake;
struct intake_blobs;
struct mmd_budget;

struct mmd {
	struct mmd_opts opts;
	struct ledger *ledger;
	struct ledger_key *node;
	const struct ledger_type *types;
	size_t ntypes;
	/* One listening socket per worker, all on one port (setup.c);
	 * -1 once handed to its worker's evhttp (which closes it). */
	int listen_fds[MMD_THREADS_MAX];
	unsigned nlisten;
	char listen_addr[MMD_ADDR_MAX]; /* what the sockets are bound to */
	/* What signatures must cover as @authority (mmd_authority_canon). */
	char authority[MMD_AUTHORITY_MAX];
	struct mmd_worker *workers;
	unsigned nworkers;
	atomic_uint connections; /* open connections, counted from accept */
	/* Bytes of request bodies admitted and not yet answered (conn.c),
	 * at most opts.body_budget_mib MiB. */
	atomic_size_t body_bytes;
	atomic_size_t trim_bytes; /* freed since the last malloc_trim */
	/* The connection behind each descriptor (conn.c): nfds slots, the
	 * RLIMIT_NOFILE setup.c settled on; a slot is written only by the
	 * worker serving that descriptor. */
	_Atomic(struct mmd_conn *) *conn_by_fd;
	size_t nfds;
	atomic_uint inflight; /* submissions the committer still holds */
	atomic_bool stopping;
	struct mmd_metrics metrics;
	SSL_CTX *tls;		    /* NULL: plain HTTP */
	struct mmd_auth *auth;	    /* session key, replay cache, revocations */
	struct intake_blobs *blobs; /* rows, datasets (intake/intake.h) */
	struct intake *intake;	    /* the record-to-release pipeline */
	struct tokens *tokens;	    /* the token module (setup.c owns it) */
	struct market *market;	    /* NULL when built without market/ */
	struct mmd_budget *contrib_budget; /* record checks' CPU (mkt.h) */
};

/* One request being answered, on its worker's thread. */
struct mmd_req {
	struct mmd *srv;
	struct mmd_worker *w;
	struct evhttp_request *req; /* NULL once the connection is gone */
	int route;
	const char *method;
	struct timespec t0;
	char remote[MMD_REMOTE_MAX];
};

/* A worker's connections waiting for their client, oldest first, one
 * queue per deadline (conn.c). */
enum mmd_wait {
	MMD_WAIT_HEAD,	  /* a request head: --header-timeout-s */
	MMD_WAIT_IDLE,	  /* keep-alive, no byte yet: --timeout-s */
	MMD_WAIT_BODY,	  /* a body: --body-timeout-s */
	MMD_WAIT_REFUSED, /* over --connections-max: MMD_REFUSED_MS */
	MMD_WAIT__COUNT
};

struct mmd_conn_queue {
	struct mmd_conn *first, *last;
};

struct mmd_worker {
	struct mmd *srv;
	pthread_t thread;
	bool started;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *stop_ev;
	struct event *resume_ev;   /* accepting again after a pause */
	struct event *adopt_ev;	   /* conn.c: after accepts, in the same loop */
	struct mmd_conn *adopting; /* accepted, evhttp's not yet known */
	unsigned accept_pause_ms;  /* the last pause; 0 after an accept */
	unsigned accepts;	   /* in this loop iteration (conn.c) */
	struct mmd_conn_queue waiting[MMD_WAIT__COUNT];
	/* This worker's connections (written by it alone; read by the
	 * others choosing whom to ask for room), and how many of its
	 * longest-waiting ones the others asked it to close (evict_ev). */
	atomic_uint nconns;
	atomic_uint evict_asked;
	struct event *evict_ev;
	unsigned refused_open;	     /* of them, refused at accept */
	struct mmd_pending *pending; /* list of submissions in flight */
	/* Request log lines not yet written (log.c): flushed when the next
	 * line would not fit, by flush_ev every MMD_LOG_FLUSH_MS, and as
	 * the worker stops.  flush_ev also checks conn.c's deadlines. */
	struct event *flush_ev;
	char logbuf[MMD_LOG_BUF_BYTES];
	size_t logn;
};

/* A submission waiting for the committer (submit.c). */
struct mmd_pending {
	struct mmd_req rq;
	struct event *ev;
	int err;
	uint64_t index;
	struct mm_diag why;
	uint64_t t_submit_us;
	uint64_t t_done_us;
	struct mmd_pending *prev, *next;
};

/* setup.c: node key, --init, ledger open and start, listening socket. */
int mmd_setup_ledger(struct mmd *srv);
int mmd_setup_listen(struct mmd *srv);
/* Raises RLIMIT_NOFILE (to its hard limit, at most MMD_FDS_MAX), lowers
 * --connections-max to what it leaves after the reserve (saying so), and
 * allocates srv->conn_by_fd.  MM_ERR_LIMIT when too few descriptors are
 * left, MM_ERR_NOMEM. */
int mmd_setup_fds(struct mmd *srv);
/* The chain name from the genesis entry ("?" when unreadable). */
void mmd_chain_name(struct ledger *l, char *out, size_t cap);

/* worker.c */
int mmd_workers_start(struct mmd *srv);
/* Stops accepting, lets replies flush, joins every worker. */
void mmd_workers_stop(struct mmd *srv);
/* Frees what the workers hold (after the ledger is closed). */
void mmd_workers_free(struct mmd *srv);
/* Frees the descriptor table, once the workers are freed. */
void mmd_conns_free(struct mmd *srv);

/* conn.c: every connection from accept to close (see its header). */
/* What a worker needs for its connections (after its base); and frees
 * it, making sure evhttp_free's closes reach every connection (before
 * evhttp_free).  MM_ERR_NOMEM. */
int mmd_conn_worker_init(struct mmd_worker *w);
void mmd_conn_worker_free(struct mmd_worker *w);
/* evhttp's bufferevent callback (arg: the worker): counts the accepted
 * connection, makes room for it or marks it refused, and returns its
 * guarded bufferevent (NULL when out of memory: evhttp then makes a
 * plain one, which mmd_conn_admit refuses). */
struct bufferevent *mmd_conn_new(struct event_base *base, void *arg);
/* A request evhttp has read: true when it is to be routed; false after
 * answering the refusal its connection carries (400, 413, 501, 503). */
bool mmd_conn_admit(struct mmd_req *rq);
/* Records (or clears, with NULL) the submission a connection awaits. */
void mmd_conn_set_pending(struct mmd_worker *w, struct evhttp_request *req,
			  struct mmd_pending *p);
/* Closes w's connections past their deadline; gives freed memory back. */
void mmd_conn_tick(struct mmd_worker *w);
/* EMFILE and the like from w's listener: closes w's longest-waiting
 * connection to make room, or pauses accepting (50 ms doubling to 1 s)
 * when it has none. */
void mmd_conn_accept_failed(struct mmd_worker *w, int err);

/* router.c: the evhttp generic callback. */
void mmd_route(struct evhttp_request *req, void *arg);
/* Prints one "METHOD /path/{param}" line per operation the router serves
 * (HEAD, served with every GET, is not listed): what docs/openapi.yaml
 * must describe. */
void mmd_routes_print(FILE *f);
/* Prints the HTTP contract docs/openapi.yaml and docs/PROTOCOL.md state
 * (medmarketd --contract): "status METHOD /path S..." with every status
 * each operation can answer, then "refusal CODE BEFORE APPLY WHO" for
 * each row of refusals.c's table (0: cannot happen; WHO "client" when a
 * request can cause it, "node" for the node's own failures). */
void mmd_contract_print(FILE *f);
/* Whether route (an enum mmd_route) declares status; reply.c checks
 * every answer with it. */
bool mmd_route_declares(int route, int status);

/* tls.c: the shared SSL_CTX from --tls-cert/--tls-key (nothing without
 * them); an mm_err after logging why (unreadable files, a key that does
 * not match the certificate). */
int mmd_tls_setup(struct mmd *srv);
void mmd_tls_free(struct mmd *srv);
/* A TLS bufferevent (server side, no descriptor yet) for one accepted
 * connection; NULL when out of memory. */
struct bufferevent *mmd_tls_bev(struct event_base *base, struct mmd *srv);

/* ------------------------------------------------------------------ */
/* Authentication (auth.c, authstate.c; docs/PROTOCOL.md               */
/* "Authenticating reads").                                            */

#define MMD_SIG_WINDOW_S 60 /* created within now +- this */
/* The replay cache: accepted signatures, each kept two windows. */
#define MMD_REPLAY_MAX		65536 /* in all */
#define MMD_REPLAY_UNREG_MAX	16384 /* by keys no participant holds */
#define MMD_REPLAY_PER_KEY_MAX	1024  /* by one key */
#define MMD_REPLAY_PER_ADDR_MAX 4096  /* unregistered, from one address */
/* Live sessions: --sessions-max in all (its default, ceiling and floor);
 * unregistered keys hold at most a quarter of it together. */
#define MMD_SESSIONS_MAX	  16384
#define MMD_SESSIONS_MAX_MAX	  1000000
#define MMD_SESSIONS_MAX_MIN	  4
#define MMD_SESSIONS_UNREG_DIV	  4
#define MMD_SESSIONS_PER_KEY_MAX  16  /* of one key */
#define MMD_SESSIONS_PER_ADDR_MAX 256 /* unregistered, from one address */
#define MMD_SESSION_TTL_S_DEFAULT 900
#define MMD_SESSION_TTL_S_MAX	  86400
#define MMD_SID_BYTES		  16
#define MMD_TOKEN_RAW		  (1 + 32 + 8 + MMD_SID_BYTES + 32)
#define MMD_TOKEN_MAX		  ((MMD_TOKEN_RAW + 2) / 3 * 4 + 1)
#define MMD_DIGEST_BYTES	  16 /* keyed digests in the tables */
#define MMD_HORIZON_FILE	  "replay-horizon" /* in the data directory */
#define MMD_HORIZON_WAIT_S_MAX	  2 /* a start waits at most this for it */

enum mmd_auth_how { MMD_AUTH_SIGNATURE, MMD_AUTH_TOKEN };

/*
 * Whose capacity a signed request or a login draws on: keyed digests of
 * the signer's hash ID and of the peer's address (IPv4 /32, IPv6 /64),
 * and whether the signer is a registered participant.  Unregistered
 * keys share a small part of each table, capped per address; every key
 * is capped on its own.
 */
struct mmd_origin {
	uint8_t key[MMD_DIGEST_BYTES];
	uint8_t addr[MMD_DIGEST_BYTES];
	bool registered;
};

/* Who sent a request, and how they proved it. */
struct mmd_caller {
	uint8_t id[LEDGER_HASH_BYTES]; /* participant hash ID */
	enum mmd_auth_how how;
	uint64_t expires_s;	    /* token only: unix seconds */
	uint8_t sid[MMD_SID_BYTES]; /* token only: the session id */
	struct mmd_origin origin;   /* signature only */
};

#define MMD_AUTH_ALLOW_TOKEN 1u /* else only a request signature will do */

/*
 * Authenticates rq: a bearer session token (when allow has
 * MMD_AUTH_ALLOW_TOKEN) or an RFC 9421 signature.  True with *who filled;
 * false after answering (401 problem+json with code unauthenticated,
 * bad_signature, wrong_authority, stale_signature, replayed_signature,
 * bad_token, expired_token or revoked_token; 503 busy when the replay
 * cache, the signer's share of it or the signer's quota is full).
 * The route handler must return without replying when false.
 */
bool mmd_authenticate(struct mmd_req *rq, unsigned allow,
		      struct mmd_caller *who);
void mmd_get_whoami(struct mmd_req *rq, const char *arg);
/* POST (login: signature -> token) and DELETE (logout) /v1/session. */
void mmd_session(struct mmd_req *rq, const char *arg);
/*
 * Before serving: the node's public authority (--public-authority, else
 * the address it listens on) and the replay horizon of its data
 * directory (mmd_auth_horizon_open).  An mm_err after logging why.
 */
int mmd_auth_start(struct mmd *srv);
/*
 * "host:port" of in ("host", "host:port", "[v6]:port"; the port defaults
 * to 443 with tls, else 80), the host lower-cased, into out (cap >=
 * MMD_AUTHORITY_MAX).  False when in is not such an authority.
 */
bool mmd_authority_canon(const char *in, bool tls, char *out, size_t cap);

/* authstate.c.  A fresh session key; MM_ERR_NOMEM, MM_ERR_CRYPTO. */
int mmd_auth_new(unsigned ttl_s, unsigned sessions_max, struct mmd_auth **out);
void mmd_auth_free(struct mmd_auth *a);
/*
 * Reads (or creates, durably) dir/MMD_HORIZON_FILE: the newest `created`
 * of a signature any earlier run accepted.  Signatures created at or
 * before it are refused from now on (mmd_auth_horizon_floor).  When it
 * lies at most MMD_HORIZON_WAIT_S_MAX seconds ahead, waits until the
 * clock has passed it, so that clients signing now are not refused.  A
 * file that cannot be parsed counts as now + MMD_SIG_WINDOW_S (every
 * signature an earlier run can have accepted).  MM_ERR_IO after saying
 * why in diag.
 */
int mmd_auth_horizon_open(struct mmd_auth *a, const char *dir,
			  struct mm_diag *diag);
/* Signatures created at or before this are refused (0: none). */
uint64_t mmd_auth_horizon_floor(struct mmd_auth *a);
/* Records durably that a signature created at created_s was accepted,
 * before the request is answered.  MM_ERR_IO (the caller answers 503). */
int mmd_auth_horizon_note(struct mmd_auth *a, uint64_t created_s);
/* The origin of a request by id from peer (NULL: unknown address). */
void mmd_auth_origin(struct mmd_auth *a, const uint8_t id[LEDGER_HASH_BYTES],
		     const struct sockaddr *peer, bool registered,
		     struct mmd_origin *o);
/* Whether o may add a signature to the replay cache now: MM_OK, or
 * MM_ERR_BUSY with *why naming the full share.  Cheap: called before the
 * signature is verified, so a flood past its quota costs no
 * verification. */
int mmd_replay_admit(struct mmd_auth *a, const struct mmd_origin *o,
		     uint64_t now_s, const char **why);
/* Records an accepted signature of o: MM_OK the first time,
 * MM_ERR_EXISTS after, MM_ERR_BUSY (with *why) when o's share is full
 * (nothing recorded then). */
int mmd_replay_note(struct mmd_auth *a, const uint8_t sig[LEDGER_SIG_BYTES],
		    const struct mmd_origin *o, uint64_t now_s,
		    const char **why);
/* A new session of id (logged in from o) until *expires_s, and its
 * token.  MM_ERR_BUSY (with *why) when the session table, o's share of
 * it or o's key's MMD_SESSIONS_PER_KEY_MAX is full; MM_ERR_CRYPTO. */
int mmd_token_mint(struct mmd_auth *a, const uint8_t id[LEDGER_HASH_BYTES],
		   const struct mmd_origin *o, uint64_t now_s,
		   char out[MMD_TOKEN_MAX], uint64_t *expires_s,
		   const char **why);
/* Checks a token: MM_OK with *who filled, MM_ERR_DECODE or
 * MM_ERR_SIGNATURE (not ours), MM_ERR_STALE (expired), MM_ERR_DENIED
 * (its session was ended by a logout). */
int mmd_token_check(struct mmd_auth *a, const char *token, uint64_t now_s,
		    struct mmd_caller *who, struct mm_diag *diag);
/* Ends who's session (a token check then answers MM_ERR_DENIED) and
 * frees its place; nobody else's session changes.  Never fails. */
void mmd_token_revoke(struct mmd_auth *a, const struct mmd_caller *who);

/* routes.c and submit.c: handlers; arg is the {param} of the path. */
void mmd_get_healthz(struct mmd_req *rq, const char *arg);
void mmd_get_head(struct mmd_req *rq, const char *arg);
void mmd_get_tx(struct mmd_req *rq, const char *arg);
void mmd_get_entry(struct mmd_req *rq, const char *arg);
void mmd_get_inclusion(struct mmd_req *rq, const char *arg);
void mmd_get_consistency(struct mmd_req *rq, const char *arg);
void mmd_get_block(struct mmd_req *rq, const char *arg);
void mmd_get_metrics(struct mmd_req *rq, const char *arg);
void mmd_post_tx(struct mmd_req *rq, const char *arg);
/* Decimal digits only, at most 20, no more than INT64_MAX (answers
 * carry numbers as JSON integers). */
bool mmd_parse_u64(const char *s, uint64_t *out);
/* Answers a failed read: 404 not found, 400 range, else 500. */
void mmd_reply_read_error(struct mmd_req *rq, int err, const char *what);
/* Frees a submission whose event never ran (shutdown only). */
void mmd_pending_free(struct mmd_pending *p);
/* The ledger_submit_async callback for a submission (arg is its struct
 * mmd_pending), on the committer thread: records the answer in it and
 * wakes its worker, nothing else. */
void mmd_pending_done(void *arg, int err, uint64_t index,
		      const struct mm_diag *why);
/* On the worker thread, once the committer answered: answers p's client
 * (ok(p, ctx) when logged, else the committer's problem; only logged
 * and counted as 499 when the client is gone), then unlinks and frees p
 * and drops it from the inflight count. */
void mmd_pending_answer(struct mmd_pending *p,
			void (*ok)(struct mmd_pending *p, void *ctx),
			void *ctx);
/* After a successful ledger_submit_async: links p into rq's worker's list
 * and marks rq's connection as waiting for it. */
void mmd_pending_queue(struct mmd_req *rq, struct mmd_pending *p);
/* Counts and answers a submission refused before queueing (with
 * Retry-After when busy or closed). */
void mmd_reply_refused(struct mmd_req *rq, int err, const struct mm_diag *diag);
/* The HTTP status for a submission refused with err before queueing,
 * and for one the committer refused with err: refusals.c's table (500,
 * logged, for a code the table says cannot happen there). */
int mmd_status_refused(int err);
int mmd_status_done(int err);

/* reply.c: every answer goes through these; they log, count and send. */
void mmd_reply_json(struct mmd_req *rq, int status, json_t *body);
void mmd_reply_problem(struct mmd_req *rq, int status, int err,
		       const struct mm_diag *diag);
/* A problem whose code is not an mm_err ("bad_signature", ...). */
void mmd_reply_problem_code(struct mmd_req *rq, int status, const char *code,
			    const char *title, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Problem with a formatted detail. */
void mmd_reply_problemf(struct mmd_req *rq, int status, int err,
			const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void mmd_reply_buffer(struct mmd_req *rq, int status, const char *ctype,
		      struct evbuffer *body);
/* 200 with a receipt's JSON (edge_receipt_text: no json_t built). */
void mmd_reply_receipt(struct mmd_req *rq, const struct ledger_receipt *r);
/* Adds a response header (before a reply). */
void mmd_reply_header(struct mmd_req *rq, const char *name, const char *value);
/* Logs and counts a request whose client went away (status 499). */
void mmd_reply_gone(struct mmd_req *rq);
/* Monotonic microseconds. */
uint64_t mmd_now_us(void);

/* log.c: JSON lines on stderr.  Request lines go through rq's worker's
 * buffer (on that worker's thread); mmd_log writes at once. */
void mmd_log_request(const struct mmd_req *rq, int status);
/* Writes what w's buffer holds. */
void mmd_log_flush(struct mmd_worker *w);
/* {"ts","level","msg"} plus the members of extra (stolen; may be NULL).
 * "warn" and "error" lines (and request lines of 5xx answers) share a
 * budget of LOG_LIMITED_PER_S a second; past it they are counted, and
 * one line says how many were suppressed once the second is over. */
void mmd_log(const char *level, json_t *extra, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Says how many lines the last full second suppressed (from the
 * workers' flush timer, so that it is said without a next line). */
void mmd_log_tick(void);
/* libevent's log callback: its warnings and errors, rate limited. */
void mmd_log_libevent(int severity, const char *msg);

#endif
