/* http.c - a blocking, bounded HTTP/1.1 client on libevent's evhttp, over
 * TLS (bufferevent_openssl, the server's certificate always verified
 * unless --insecure-skip-verify says otherwise) for https:// URLs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cli.h"

#ifndef MM_VERSION
#define MM_VERSION "0"
#endif

#define CLI_RESP_HEADERS_BYTES_MAX (64u << 10)
#define CLI_TARGET_BYTES_MAX	   (2 * CLI_URL_BYTES_MAX)
#define CLI_TIMEOUT_SLACK_MS                                                   \
	250 /* timer granularity when telling a timeout                        \
	     */

static enum mm_err url_checks(const struct evhttp_uri *uri,
			      struct mm_diag *diag)
{
	const char *scheme = evhttp_uri_get_scheme(uri);
	const char *host = evhttp_uri_get_host(uri);

	if (!scheme)
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "missing scheme (expected http://HOST:PORT or "
			       "https://HOST:PORT)");
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "unsupported scheme (expected http:// or "
			       "https://)");
	if (!host || !*host)
		return mm_fail(diag, MM_ERR_INVALID, 0, "missing host");
	if (evhttp_uri_get_userinfo(uri))
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "user information in URLs is not supported");
	if (evhttp_uri_get_query(uri) || evhttp_uri_get_fragment(uri))
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "a server URL has no query or fragment");
	if (evhttp_uri_get_port(uri) == 0)
		return mm_fail(diag, MM_ERR_INVALID, 0, "port 0 is not valid");
	return MM_OK;
}

/* Sets host (an IPv6 literal loses its brackets), port and authority. */
static enum mm_err url_host(const char *host, int port, struct cli_url *u,
			    struct mm_diag *diag)
{
	size_t n = strlen(host);
	int len;

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(u->host))
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "host name empty or too long");
	memcpy(u->host, host, n);
	u->host[n] = '\0';
	if (port < 0)
		port = u->tls ? 443 : 80;
	u->port = (unsigned)port;
	len = snprintf(u->authority, sizeof(u->authority),
		       strchr(u->host, ':') ? "[%s]:%u" : "%s:%u", u->host,
		       u->port);
	MM_ASSERT(len > 0 && (size_t)len < sizeof(u->authority));
	return MM_OK;
}

enum mm_err cli_url_parse(const char *url, struct cli_url *u,
			  struct mm_diag *diag)
{
	struct evhttp_uri *uri = NULL;
	const char *path;
	size_t n;
	enum mm_err rc;

	memset(u, 0, sizeof(*u));
	if (strlen(url) >= CLI_URL_BYTES_MAX)
		return mm_fail(diag, MM_ERR_INVALID, 0, "longer than %u bytes",
			       CLI_URL_BYTES_MAX - 1);
	uri = evhttp_uri_parse(url);
	if (!uri)
		return mm_fail(diag, MM_ERR_INVALID, 0,
			       "not a valid URL (expected http://HOST:PORT)");
	rc = url_checks(uri, diag);
	if (rc != MM_OK)
		goto out;
	u->tls = strcasecmp(evhttp_uri_get_scheme(uri), "https") == 0;
	rc = url_host(evhttp_uri_get_host(uri), evhttp_uri_get_port(uri), u,
		      diag);
	if (rc != MM_OK)
		goto out;
	path = evhttp_uri_get_path(uri);
	n = path ? strlen(path) : 0;
	while (n > 0 && path[n - 1] == '/')
		n--;
	/* n < strlen(url) < CLI_URL_BYTES_MAX: the prefix fits. */
	if (n > 0)
		memcpy(u->prefix, path, n);
	u->prefix[n] = '\0';
out:
	evhttp_uri_free(uri);
	return rc;
}

/* The state of one request while the event loop runs. */
struct call {
	struct event_base *base;
	struct cli_resp *resp;
	bool done;
	bool failed;
	enum evhttp_request_error err;
	uint64_t start_ms; /* CLOCK_MONOTONIC */
	SSL *ssl;	   /* borrowed from the connection; NULL for http */
};

static void on_error(enum evhttp_request_error err, void *arg)
{
	struct call *c = arg;

	c->failed = true;
	c->err = err;
}

static void take_response(struct call *c, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *ct = evhttp_find_header(
		evhttp_request_get_input_headers(req), "Content-Type");
	size_t n = evbuffer_get_length(in);

	if (n > CLI_RESP_BYTES_MAX) {
		c->failed = true;
		c->err = EVREQ_HTTP_DATA_TOO_LONG;
		return;
	}
	c->resp->body = malloc(n + 1);
	if (!c->resp->body) {
		c->failed = true;
		c->err = EVREQ_HTTP_BUFFER_ERROR;
		return;
	}
	MM_ASSERT(evbuffer_remove(in, c->resp->body, n) == (int)n);
	c->resp->body[n] = 0;
	c->resp->n = n;
	c->resp->status = evhttp_request_get_response_code(req);
	snprintf(c->resp->ctype, sizeof(c->resp->ctype), "%s", ct ? ct : "");
}

static void on_done(struct evhttp_request *req, void *arg)
{
	struct call *c = arg;

	c->done = true;
	if (!req || evhttp_request_get_response_code(req) == 0)
		c->failed = true;
	else if (!c->failed)
		take_response(c, req);
	event_base_loopexit(c->base, NULL);
}

static enum mm_err fail_reason(const struct call *c, const struct cli_url *u,
			       unsigned timeout_s, struct mm_diag *diag)
{
	long verify = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;

	ERR_clear_error();
	if (verify != X509_V_OK)
		return mm_fail(diag, MM_ERR_IO, 0,
			       "TLS: the server's certificate is not trusted: "
			       "%s (see --ca-file)",
			       X509_verify_cert_error_string(verify));
	if (!c->done && !c->failed)
		return mm_fail(diag, MM_ERR_IO, 0,
			       "the request never finished");
	/* libevent reports a refused connection as a timeout too: only
	 * call it one when the time really ran out. */
	uint64_t elapsed_ms = mm_monotonic_ms() - c->start_ms;

	switch (c->err) {
	case EVREQ_HTTP_TIMEOUT:
		if (elapsed_ms + CLI_TIMEOUT_SLACK_MS < timeout_s * 1000ull)
			break;
		return mm_fail(diag, MM_ERR_IO, 0, "no answer within %u s",
			       timeout_s);
	case EVREQ_HTTP_DATA_TOO_LONG:
		return mm_fail(diag, MM_ERR_IO, 0,
			       "response larger than the limit of %u bytes",
			       CLI_RESP_BYTES_MAX);
	case EVREQ_HTTP_INVALID_HEADER:
		return mm_fail(diag, MM_ERR_IO, 0,
			       "invalid HTTP response headers");
	default:
		break;
	}
	return mm_fail(diag, MM_ERR_IO, 0,
		       "no HTTP response from %s (connection refused or "
		       "closed%s)",
		       u->authority,
		       u->tls ? ", or the TLS handshake failed" : "");
}

static enum mm_err add_headers(struct evhttp_request *req,
			       const struct cli_url *u, const char *ctype,
			       const void *body, size_t n,
			       const char *const *extra)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char len[24];
	enum mm_err rc = MM_OK;

	for (size_t i = 0; extra && extra[i]; i += 2)
		rc |= evhttp_add_header(h, extra[i], extra[i + 1]);
	rc |= evhttp_add_header(h, "Host", u->authority);
	rc |= evhttp_add_header(h, "User-Agent", "medmarket/" MM_VERSION);
	rc |= evhttp_add_header(h, "Accept",
				"application/json, application/problem+json");
	rc |= evhttp_add_header(h, "Connection", "close");
	if (ctype) {
		snprintf(len, sizeof(len), "%zu", n);
		rc |= evhttp_add_header(h, "Content-Type", ctype);
		rc |= evhttp_add_header(h, "Content-Length", len);
		rc |= evbuffer_add(evhttp_request_get_output_buffer(req), body,
				   n);
	}
	return rc == 0 ? MM_OK : MM_ERR_NOMEM;
}

/* Starts the request on conn; the connection owns req from here on. */
static enum mm_err send_request(struct evhttp_connection *conn, struct call *c,
				const struct cli_url *u, const char *method,
				const char *target, const char *ctype,
				const void *body, size_t n,
				const char *const *extra)
{
	enum evhttp_cmd_type type =
		strcmp(method, "POST") == 0	? EVHTTP_REQ_POST
		: strcmp(method, "DELETE") == 0 ? EVHTTP_REQ_DELETE
						: EVHTTP_REQ_GET;
	struct evhttp_request *req = evhttp_request_new(on_done, c);

	if (!req)
		return MM_ERR_NOMEM;
	evhttp_request_set_error_cb(req, on_error);
	if (add_headers(req, u, ctype, body, n, extra) != MM_OK) {
		evhttp_request_free(req);
		return MM_ERR_NOMEM;
	}
	/* On failure evhttp_make_request has freed req. */
	return evhttp_make_request(conn, req, type, target) == 0 ? MM_OK
								 : MM_ERR_IO;
}

/* A client context: TLS 1.2+, the peer verified against --ca-file or
 * the system store (unless u->insecure). */
static SSL_CTX *tls_ctx(const struct cli_url *u, struct mm_diag *diag)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int ok = ctx != NULL;

	if (ok)
		ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1;
	if (ok && u->ca_file) {
		ok = SSL_CTX_load_verify_locations(ctx, u->ca_file, NULL) == 1;
		if (!ok) {
			SSL_CTX_free(ctx);
			ERR_clear_error();
			mm_fail(diag, MM_ERR_IO, 0,
				"--ca-file %s: cannot load PEM certificates",
				u->ca_file);
			return NULL;
		}
	} else if (ok) {
		ok = SSL_CTX_set_default_verify_paths(ctx) == 1;
	}
	if (!ok) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		mm_fail(diag, MM_ERR_CRYPTO, 0, "cannot set up TLS");
		return NULL;
	}
	SSL_CTX_set_verify(ctx, u->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
			   NULL);
	return ctx;
}

/* An SSL for u's host: the certificate must name it (DNS or IP). */
static SSL *tls_ssl(SSL_CTX *ctx, const struct cli_url *u)
{
	SSL *ssl = SSL_new(ctx);
	bool ip = strchr(u->host, ':') ||
		  strspn(u->host, "0123456789.") == strlen(u->host);
	int ok = ssl != NULL;

	if (ok && ip)
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
						   u->host) == 1;
	else if (ok)
		ok = SSL_set1_host(ssl, u->host) == 1 &&
		     SSL_set_tlsext_host_name(ssl, u->host) == 1;
	if (!ok) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	return ssl;
}

/* The connection to u: plain, or TLS through bufferevent_openssl (the
 * connection then owns the bufferevent, which owns the SSL). */
static struct evhttp_connection *
connect_to(struct call *c, const struct cli_url *u, struct mm_diag *diag)
{
	struct bufferevent *bev = NULL;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	struct evhttp_connection *conn = NULL;

	if (!u->tls)
		return evhttp_connection_base_new(c->base, NULL, u->host,
						  (unsigned short)u->port);
	ctx = tls_ctx(u, diag);
	if (!ctx)
		return NULL;
	ssl = tls_ssl(ctx, u);
	SSL_CTX_free(ctx); /* the SSL keeps its own reference */
	if (ssl)
		bev = bufferevent_openssl_socket_new(
			c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
			BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!bev) {
		SSL_free(ssl);
		mm_fail(diag, MM_ERR_CRYPTO, 0, "cannot set up TLS");
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	conn = evhttp_connection_base_bufferevent_new(
		c->base, NULL, bev, u->host, (unsigned short)u->port);
	if (!conn) {
		bufferevent_free(bev);
		return NULL;
	}
	c->ssl = ssl;
	return conn;
}

enum mm_err cli_http(const struct cli_url *u, const char *method,
		     const char *path, const char *ctype, const void *body,
		     size_t n, unsigned timeout_s, struct cli_resp *resp,
		     struct mm_diag *diag)
{
	return cli_http_h(u, method, path, ctype, body, n, NULL, timeout_s,
			  resp, diag);
}

enum mm_err cli_http_h(const struct cli_url *u, const char *method,
		       const char *path, const char *ctype, const void *body,
		       size_t n, const char *const *headers, unsigned timeout_s,
		       struct cli_resp *resp, struct mm_diag *diag)
{
	struct call c = {.resp = resp, .start_ms = mm_monotonic_ms()};
	struct evhttp_connection *conn = NULL;
	char target[CLI_TARGET_BYTES_MAX];
	int len;
	enum mm_err rc;

	MM_ASSERT(path[0] == '/' && timeout_s > 0);
	memset(resp, 0, sizeof(*resp));
	len = snprintf(target, sizeof(target), "%s%s", u->prefix, path);
	if (len < 0 || (size_t)len >= sizeof(target))
		return mm_fail(diag, MM_ERR_LIMIT, 0, "request path too long");
	c.base = event_base_new();
	if (c.base)
		conn = connect_to(&c, u, diag);
	if (!conn) {
		rc = diag && diag->msg[0]
			     ? MM_ERR_IO
			     : mm_fail(diag, MM_ERR_NOMEM, 0,
				       "cannot set up a connection");
		goto fail;
	}
	evhttp_connection_set_timeout(conn, (int)timeout_s);
	evhttp_connection_set_retries(conn, 0);
	evhttp_connection_set_max_body_size(conn, CLI_RESP_BYTES_MAX);
	evhttp_connection_set_max_headers_size(conn,
					       CLI_RESP_HEADERS_BYTES_MAX);
	rc = send_request(conn, &c, u, method, target, ctype, body, n, headers);
	if (rc != MM_OK) {
		rc = mm_fail(diag, rc, 0, "cannot send the request");
		goto fail;
	}
	event_base_dispatch(c.base);
	if (c.failed || !c.done) {
		rc = fail_reason(&c, u, timeout_s, diag);
		goto fail;
	}
	evhttp_connection_free(conn);
	event_base_free(c.base);
	return MM_OK;
fail:
	cli_resp_release(resp);
	if (conn)
		evhttp_connection_free(conn);
	if (c.base)
		event_base_free(c.base);
	return rc;
}

void cli_resp_release(struct cli_resp *resp)
{
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}
