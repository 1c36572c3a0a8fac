/*
 * tls.c - HTTPS for medmarketd: one SSL_CTX (TLS 1.2 and later, forward
 * secret AEAD suites only for 1.2, no renegotiation, no compression, no
 * session tickets) shared by every worker, and the bufferevent_openssl
 * each accepted socket is read through (under conn.c's guard).
 * A certificate whose key does not match is refused at start.
 */
#include "mmd.h"

#include <stdio.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define TLS12_CIPHERS                                                          \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_ERR_MAX 160

/* The last OpenSSL error, for the log (names a reason, never a secret). */
static const char *tls_why(char out[TLS_ERR_MAX])
{
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, out, TLS_ERR_MAX);
	else
		snprintf(out, TLS_ERR_MAX, "unknown reason");
	ERR_clear_error();
	return out;
}

static int ctx_policy(SSL_CTX *ctx)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1)
		return MM_ERR_CRYPTO;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_NO_COMPRESSION |
					 SSL_OP_NO_TICKET |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return MM_OK;
}

int mmd_tls_setup(struct mmd *srv)
{
	const struct mmd_opts *o = &srv->opts;
	char why[TLS_ERR_MAX];
	SSL_CTX *ctx = NULL;
	bool loaded, mismatch;

	if (!o->tls_cert)
		return MM_OK;
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || ctx_policy(ctx) != MM_OK) {
		mmd_log("error", NULL, "cannot set up TLS: %s", tls_why(why));
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert) != 1) {
		mmd_log("error", NULL,
			"--tls-cert %s: cannot load a PEM certificate chain: "
			"%s",
			o->tls_cert, tls_why(why));
		goto fail;
	}
	/* OpenSSL 3 compares the key with the certificate as it loads it. */
	loaded = SSL_CTX_use_PrivateKey_file(ctx, o->tls_key,
					     SSL_FILETYPE_PEM) == 1;
	mismatch = !loaded && ERR_GET_REASON(ERR_peek_last_error()) ==
				      X509_R_KEY_VALUES_MISMATCH;
	if (!loaded && !mismatch) {
		mmd_log("error", NULL,
			"--tls-key %s: cannot load a PEM private key: %s",
			o->tls_key, tls_why(why));
		goto fail;
	}
	if (mismatch || SSL_CTX_check_private_key(ctx) != 1) {
		mmd_log("error", NULL,
			"--tls-key %s does not match the certificate in "
			"--tls-cert %s",
			o->tls_key, o->tls_cert);
		ERR_clear_error();
		goto fail;
	}
	srv->tls = ctx;
	return MM_OK;
fail:
	SSL_CTX_free(ctx);
	return MM_ERR_CRYPTO;
}

void mmd_tls_free(struct mmd *srv)
{
	SSL_CTX_free(srv->tls);
	srv->tls = NULL;
}

struct bufferevent *mmd_tls_bev(struct event_base *base, struct mmd *srv)
{
	SSL *ssl = SSL_new(srv->tls);
	struct bufferevent *bev = NULL;

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
					     BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		return NULL;
	}
	/* Clients often close without close_notify; the HTTP framing
	 * already tells a complete response from a truncated one. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}
