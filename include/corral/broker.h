/* corral — the broker: a ZeroMQ ROUTER on inproc:// (actor threads) and
   ipc://STATE/ipc/broker (actor processes, in a 0700 directory). It routes
   requests on the envelope's `to`, replies back along the routing frames
   they collected, stamps `from` from the socket identity, and answers at
   once what it cannot deliver: fault 1 (no such actor), 5 (actor gone),
   9 (queue full). It never looks inside params.

   Control verbs, sent to "broker" (kind control):
     hello [address] | [address, secret]   an actor announces itself
     bye []                                 an actor leaves cleanly
     heartbeat []                           a process actor is alive
     expect [address, identity, secret]     (supervisor only) a process actor
                                            will connect with this identity
     adopt [address]                        (supervisor only) route requests
                                            for an ended process actor to it
   and the broker sends `gone [address, reason]` to the supervisor when a
   process actor falls silent for cfg->heartbeat_dead_ms or leaves. */
#ifndef CORRAL_BROKER_H
#define CORRAL_BROKER_H

#include <stddef.h>
#include "corral/config.h"

typedef struct corral_broker corral_broker_t;

/* Create the ROUTER and bind it (the ipc directory is made 0700). NULL with
   a sentence in err on failure. */
corral_broker_t *corral_broker_new(void *zctx, const corral_config_t *cfg, char *err, size_t errlen);

/* The broker has no thread of its own: the gateway's loop services it
   (corral_gateway_new), so a call's hops from the gateway to the broker and
   back cost no thread switch. The fd to poll: the ROUTER's ZMQ_FD, which
   signals edges only (service until it reports nothing handled). */
int corral_broker_fd(const corral_broker_t *self);

/* Handle what is queued, up to a batch, and run the heartbeat sweep when
   due. Returns the number of messages handled (BROKER_BATCH: maybe more
   left), or -1 once the context is shut down. One thread at a time. */
int corral_broker_service(corral_broker_t *self);

/* The ipc endpoint process actors connect to. */
const char *corral_broker_ipc_endpoint(const corral_broker_t *self);

/* Close the ROUTER and free (after the servicing thread has ended). */
void corral_broker_destroy(corral_broker_t **self);

#endif
