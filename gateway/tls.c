/* corral — TLS for the gateway. */
#include "gateway/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "corral/log.h"

struct tls {
    const corral_config_t *cfg;
    SSL_CTX *ctx;
};

static void ssl_reason(char *out, size_t cap) {
    unsigned long e = ERR_get_error();
    if (e) ERR_error_string_n(e, out, cap);
    else snprintf(out, cap, "%s", strerror(errno));
    ERR_clear_error();
}

static SSL_CTX *make_ctx(const corral_config_t *cfg, char *err, size_t errlen) {
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_reason(why, sizeof why);
        snprintf(err, errlen, "TLS: %s", why);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Partial writes and a moving buffer: the output buffer may grow
       (realloc) between a write that wanted more room and its retry. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Without read-ahead every record costs two read(2)s (its 5-byte header,
       then its body) and a third to learn the socket is empty. With it,
       records wait inside OpenSSL where epoll cannot see them: the gateway
       asks SSL_has_pending() before it waits for the socket again. */
    SSL_CTX_set_read_ahead(ctx, 1);
    const char *file = cfg->tls_cert;
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1 ||
        (file = cfg->tls_key, SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) ||
        (file = cfg->tls_key, SSL_CTX_check_private_key(ctx) != 1)) {
        ssl_reason(why, sizeof why);
        snprintf(err, errlen, "TLS: %s: %s", file, why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (cfg->tls_client_ca[0]) {
        if (SSL_CTX_load_verify_locations(ctx, cfg->tls_client_ca, NULL) != 1) {
            ssl_reason(why, sizeof why);
            snprintf(err, errlen, "TLS: --tls-client-ca %s: %s", cfg->tls_client_ca, why);
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(cfg->tls_client_ca));
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
}

tls_t *tls_new(const corral_config_t *cfg, char *err, size_t errlen) {
    tls_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cfg = cfg;
    t->ctx = make_ctx(cfg, err, errlen);
    if (!t->ctx) {
        free(t);
        return NULL;
    }
    return t;
}

int tls_reload(tls_t *t, char *err, size_t errlen) {
    SSL_CTX *ctx = make_ctx(t->cfg, err, errlen);
    if (!ctx) return -1;
    SSL_CTX_free(t->ctx); /* reference counted: open connections keep theirs */
    t->ctx = ctx;
    return 0;
}

void tls_destroy(tls_t **pt) {
    tls_t *t = *pt;
    if (!t) return;
    SSL_CTX_free(t->ctx);
    free(t);
    *pt = NULL;
}

SSL *tls_accept(tls_t *t, int fd) {
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl) return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

static ssize_t outcome(SSL *ssl, int rc, int *want) {
    int e = SSL_get_error(ssl, rc);
    *want = TLS_WANT_NONE;
    switch (e) {
    case SSL_ERROR_WANT_READ:
        *want = TLS_WANT_READ;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        *want = TLS_WANT_WRITE;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == EAGAIN || errno == EINTR) {
            *want = TLS_WANT_READ;
            return -1;
        }
        ERR_clear_error();
        return -2;
    default: {
        char why[256];
        ssl_reason(why, sizeof why);
        LOG_DEBUG("tls", "connection refused or broken: %s", why);
        return -2;
    }
    }
}

ssize_t tls_read(SSL *ssl, void *buf, size_t n, int *want) {
    size_t got = 0;
    int rc = SSL_read_ex(ssl, buf, n, &got);
    if (rc == 1) {
        *want = TLS_WANT_NONE;
        return (ssize_t)got;
    }
    return outcome(ssl, rc, want);
}

ssize_t tls_write(SSL *ssl, const void *buf, size_t n, int *want) {
    size_t put = 0;
    int rc = SSL_write_ex(ssl, buf, n, &put);
    if (rc == 1) {
        *want = TLS_WANT_NONE;
        return (ssize_t)put;
    }
    return outcome(ssl, rc, want);
}

void tls_close(SSL *ssl) {
    if (!ssl) return;
    if (SSL_is_init_finished(ssl)) SSL_shutdown(ssl); /* one try: never waits for the peer's */
    SSL_free(ssl);
    ERR_clear_error();
}
