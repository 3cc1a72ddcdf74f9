/* corral — an actor's end of the broker: one ZeroMQ DEALER socket whose
   identity is the actor's socket identity, and the helpers to receive
   envelopes and answer them on the route they came by.

   An actor handles one message at a time from its own thread (or process),
   so nothing here locks. A received message keeps its routing frames; the
   actor may answer at once or keep the message (a parked `wait`) and answer
   it later, then destroy it. */
#ifndef CORRAL_ACTOR_H
#define CORRAL_ACTOR_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>
#include "corral/envelope.h"

#define CORRAL_MAX_HOPS 8                 /* routing frames kept per message */
#define CORRAL_BROKER_INPROC "inproc://corral-broker"

/* The local addresses of the node's fixed actors: "<name>@<node>". */
#define CORRAL_SUP_PREFIX "sup@"
#define CORRAL_GW_PREFIX  "gw@"

typedef struct corral_actor corral_actor_t;

/* One received message: routing frames, the body, and its decoded envelope. */
typedef struct corral_msg {
    zmq_msg_t route[CORRAL_MAX_HOPS];
    int nroute;
    zmq_msg_t body;
    msgpack_zone zone;
    corral_env_t env;
} corral_msg_t;

/* Connect a DEALER to the broker at endpoint with the given socket
   identity (the actor's address unless the broker maps it, as for
   analysis hosts), and send `hello` (with secret when not NULL). The
   socket's high-water marks come from sndhwm. NULL with errno on failure. */
corral_actor_t *corral_actor_new(void *zctx, const char *endpoint,
                                 const char *address, const char *identity,
                                 const char *secret, int sndhwm);

/* The same, with a receive high-water mark of its own: the gateway's is
   its bound on calls in flight, so that every reply fits on the way back
   (a reply is never dropped for a full queue; requests are refused with
   fault 9 before they are sent instead). */
corral_actor_t *corral_actor_new_hwm(void *zctx, const char *endpoint, const char *address,
                                     const char *identity, const char *secret, int sndhwm, int rcvhwm);

/* Send `bye`, close the socket, free. Sets *self to NULL. */
void corral_actor_destroy(corral_actor_t **self);

/* How long a send may wait for room in the queue to the broker (0: fail
   at once with EAGAIN, as the gateway wants, answering fault 9). */
void corral_actor_set_send_timeout(corral_actor_t *self, int ms);

/* The DEALER socket, for zmq_poll. */
void *corral_actor_socket(corral_actor_t *self);

/* This actor's address, e.g. "t3@alpha". */
const char *corral_actor_address(corral_actor_t *self);

/* Receive one message (flags: 0 or ZMQ_DONTWAIT). A malformed envelope is
   logged, answered with a fault where it was a request, and skipped.
   Returns NULL on EAGAIN, ETERM (context shut down: errno is ETERM) or a
   skipped message (errno EPROTO). */
corral_msg_t *corral_actor_recv(corral_actor_t *self, int flags);

/* Free a message and set *msg to NULL. */
void corral_msg_destroy(corral_msg_t **msg);

/* Begin the reply to req: returns a packer positioned where the caller
   packs exactly one value (the result); then call corral_actor_reply_end. */
msgpack_packer *corral_actor_reply_begin(corral_actor_t *self, const corral_msg_t *req);

/* Send the reply begun with corral_actor_reply_begin. 0, or -1 with errno. */
int corral_actor_reply_end(corral_actor_t *self, const corral_msg_t *req);

/* Answer req with a fault (printf-style sentence). Returns 0 or -1. */
int corral_actor_fault(corral_actor_t *self, const corral_msg_t *req, int code,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Answer req with the fault in *f. */
int corral_actor_fault_f(corral_actor_t *self, const corral_msg_t *req,
                         const corral_fault_t *f);

/* Begin a one-way event (or control message when kind is CONTROL) to the
   actor `to`: returns a packer where the caller packs one array (params);
   then corral_actor_send_end. */
msgpack_packer *corral_actor_send_begin(corral_actor_t *self, corral_kind_t kind,
                                        const char *to, const char *method);

/* Begin a request on behalf of a caller (the gateway): packs the envelope
   with who = {user, role} and deadline dl; the caller packs one array. */
msgpack_packer *corral_actor_request_begin(corral_actor_t *self, uint64_t id, const char *to,
                                           size_t to_len, const char *method, size_t m_len,
                                           const char *user, int role, int64_t dl);

/* Send the message begun with corral_actor_send_begin or
   corral_actor_request_begin. 0, or -1 with errno (EAGAIN: queue full). */
int corral_actor_send_end(corral_actor_t *self);

/* True if the request's deadline has passed (the gateway has already
   answered it with fault 4, so the actor need not). */
bool corral_msg_expired(const corral_msg_t *msg);

/* The caller of a request is allowed to control an entity owned by owner:
   admins always; operators only their own; analysis callers (user
   "a<n>@node") only entities they were given (caller decides). */
bool corral_msg_may_control(const corral_msg_t *msg, const char *owner);

#endif
