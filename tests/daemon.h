/* daemon.h - end-to-end test helpers: run a real medmarketd on a fresh
 * data directory and a free loopback port, and talk HTTP/1.1 to it. */
#ifndef DAEMON_H
#define DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tu_daemon {
	pid_t pid;
	char *dir; /* the temporary data directory (removed by stop) */
	int port;
	char url[64];	    /* "http://127.0.0.1:PORT" */
	char node_pem[512]; /* path of the node key file in dir */
	uint8_t chain[32];  /* its chain id, which envelopes must name */
};

/*
 * Starts $MM_BIN_DIR/service/medmarketd --init --data <fresh tmp dir>
 * --listen 127.0.0.1:<free port> plus the NULL-terminated extra arguments,
 * and waits (bounded, ~10 s) until GET /healthz answers 200, then reads
 * its chain id (the "id" of GET /v1/ledger/entries/0) into d->chain.
 * Fails the test if it cannot.
 */
void tu_daemon_start(struct tu_daemon *d, const char *const *extra_args);
/* Like start, but on an existing data directory (kept by stop_keep). */
void tu_daemon_restart(struct tu_daemon *d, const char *const *extra_args);
/* SIGTERM, waits for exit (asserts status 0), removes the directory
 * (and the log); after tu_daemon_stop_keep, only removes. */
void tu_daemon_stop(struct tu_daemon *d);
/* SIGTERM and wait, but keep the directory for a restart. */
void tu_daemon_stop_keep(struct tu_daemon *d);

/*
 * One blocking HTTP/1.1 request to the daemon (Connection: close).
 * Returns the status code (or -1 on a transport error) and a malloc'd,
 * NUL-terminated response body in *resp (may be NULL if not wanted).
 * ctype may be NULL when there is no body.  extra_headers is NULL or
 * "Name: value\r\n..." lines.
 */
int tu_http(const struct tu_daemon *d, const char *method, const char *path,
	    const char *ctype, const void *body, size_t n,
	    const char *extra_headers, char **resp, size_t *resp_n);
/* tu_http, and the response's status line and headers in a malloc'd
 * *head (when head is not NULL); a HEAD request's answer has no body. */
int tu_http_full(const struct tu_daemon *d, const char *method,
		 const char *path, const char *ctype, const void *body,
		 size_t n, const char *extra_headers, char **resp,
		 size_t *resp_n, char **head);

#endif
