/* corral — the gateway actor: the HTTP(S) side of corral. One thread, one
   epoll loop over the listening socket, every client connection and the
   DEALER to the broker; it never waits on an actor (calls in flight are
   matched to their connections by request id, each with a deadline). */
#ifndef CORRAL_GATEWAY_H
#define CORRAL_GATEWAY_H

#include <stdbool.h>
#include "corral/auth.h"
#include "corral/broker.h"
#include "corral/config.h"

typedef struct corral_gateway corral_gateway_t;

/* Bind the listening socket (so a port in use is known before anything
   starts) and connect to the broker, which the gateway's loop services from
   then on (broker.h). users and broker are borrowed; users is used from the
   gateway's thread only. NULL with a sentence in err; *in_use is set when
   the address was already taken. */
corral_gateway_t *corral_gateway_new(void *zctx, const corral_config_t *cfg, corral_users_t *users,
                                     corral_broker_t *broker, char *err, size_t errlen, int *in_use);

/* Stop serving HTTP (close the listener and every connection) but keep
   routing, so that actors can still end cleanly. Safe from any thread. */
void corral_gateway_quiesce(corral_gateway_t *self);

/* The port actually bound (for --listen HOST:0). */
int corral_gateway_port(const corral_gateway_t *self);

/* True when it serves HTTPS. */
bool corral_gateway_tls(const corral_gateway_t *self);

/* Ask the gateway to load its TLS certificate and key again (SIGHUP);
   safe from any thread. */
void corral_gateway_reload(corral_gateway_t *self);

/* Start the gateway's thread. 0, or -1 with errno. */
int corral_gateway_start(corral_gateway_t *self);

/* Stop (routing too), join the thread, free. The broker may be destroyed
   after this. */
void corral_gateway_destroy(corral_gateway_t **self);

#endif
