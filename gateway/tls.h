/* corral — TLS for the gateway (OpenSSL), non-blocking on its event loop:
   a handshake is just reads and writes that may want the other direction,
   so a client stalling mid-handshake only ever holds its own connection. */
#ifndef CORRAL_GATEWAY_TLS_H
#define CORRAL_GATEWAY_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <sys/types.h>
#include "corral/config.h"

typedef struct tls tls_t;

enum { TLS_WANT_NONE = 0, TLS_WANT_READ = 1, TLS_WANT_WRITE = 2 };

/* A server context from cfg's certificate, key and optional client CA
   (then a client certificate signed by it is required). TLS 1.2 or newer.
   NULL with a sentence in err (which file, OpenSSL's reason). */
tls_t *tls_new(const corral_config_t *cfg, char *err, size_t errlen);

/* Load the certificate and key again (SIGHUP). New connections use them;
   open ones keep theirs. 0, or -1 with err (the old ones stay in force). */
int tls_reload(tls_t *t, char *err, size_t errlen);

/* Free. Sets *t to NULL. */
void tls_destroy(tls_t **t);

/* A server-side SSL for an accepted socket, or NULL. */
SSL *tls_accept(tls_t *t, int fd);

/* Read into buf: bytes read (> 0), 0 at a clean end, -1 when it must wait
   (*want says for what), -2 when the connection is broken (handshake
   refused, plain HTTP on the TLS port, a bad record). */
ssize_t tls_read(SSL *ssl, void *buf, size_t n, int *want);

/* Write from buf: bytes written (> 0), -1 to wait (*want), -2 broken. */
ssize_t tls_write(SSL *ssl, const void *buf, size_t n, int *want);

/* Send close_notify (best effort, never waits) and free. */
void tls_close(SSL *ssl);

#endif
