/* corral — the broker's route table: which socket identity an actor
   address lives behind, whether it is a thread or a process, and, for
   processes, the calls in flight to it (answered with fault 5 if it dies). */
#ifndef CORRAL_BROKER_ROUTES_H
#define CORRAL_BROKER_ROUTES_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include "corral/actor.h"
#include "corral/config.h"

typedef enum {
    ROUTE_UP = 0,       /* connected and said hello */
    ROUTE_GONE = 1,     /* a process that died or fell silent */
    ROUTE_ADOPTED = 2,  /* ended; the supervisor answers for it */
    ROUTE_PENDING = 3   /* expected (launched), not yet connected: messages wait */
} route_state_t;

#define MAX_FRAMES (CORRAL_MAX_HOPS + 3)

/* One whole message as the ROUTER received it: [sender, hops..., "", body]. */
typedef struct frames {
    zmq_msg_t f[MAX_FRAMES];
    int n;          /* frames received */
    int body;       /* index of the envelope frame */
} frames_t;

typedef struct route {
    char address[CORRAL_ADDR_MAX];
    char identity[CORRAL_ADDR_MAX];   /* socket identity to send to */
    bool process;                      /* connected over ipc */
    route_state_t state;
    int64_t last_seen;                 /* monotonic ms */
    zhashx_t *inflight;                /* "id/sender" -> inflight_t, processes only */
    zlistx_t *held;                    /* frames_t waiting for a pending actor's hello */
} route_t;

/* A call in flight to a process actor: enough to answer it if the actor dies. */
typedef struct inflight {
    uint64_t id;
    int nroute;
    zmq_msg_t route[CORRAL_MAX_HOPS + 1];   /* sender identity first, then its hops */
} inflight_t;

typedef struct routes routes_t;

/* An expected process actor (see `expect`). */
typedef struct expectation {
    char address[CORRAL_ADDR_MAX];
    char secret[128];
    int64_t since;
} expectation_t;

routes_t *routes_new(void);
void routes_destroy(routes_t **self);

/* The route of an address, or NULL. */
route_t *routes_by_address(routes_t *self, const char *address);

/* The route whose socket identity is identity, or NULL. */
route_t *routes_by_identity(routes_t *self, const char *identity);

/* Add (or revive) the route of address behind identity. */
route_t *routes_put(routes_t *self, const char *address, const char *identity, bool process);

/* Mark address adopted by the supervisor (creating its route, unbound, if
   it has none). Its identity, if still bound, stays bound: the ending host
   may still answer calls and say bye. */
route_t *routes_adopt(routes_t *self, const char *address);

/* Mark address expected: a process actor being launched. Messages to it
   are held (routes_hold) until it connects. No effect on a live route. */
route_t *routes_pending(routes_t *self, const char *address);

/* Keep a copy of fr for r, a pending route. 0, or -1 when r holds max already. */
int routes_hold(route_t *r, const frames_t *fr, size_t max);

/* Take the oldest held message of r (the caller handles and frees it), or NULL. */
frames_t *routes_take_held(route_t *r);

/* Close the frames of fr (not fr itself). */
void frames_close(frames_t *fr);

/* Forget address entirely. */
void routes_remove(routes_t *self, const char *address);

/* Stop routing to identity (the route stays, to answer fault 5 / adoption). */
void routes_unbind_identity(routes_t *self, route_t *r);

/* Record an expectation for identity; take one (removed; NULL if none). */
void routes_expect(routes_t *self, const char *identity, const char *address, const char *secret);
expectation_t *routes_take_expectation(routes_t *self, const char *identity);

/* Process routes, for the heartbeat sweep: first/next, NULL at the end. */
route_t *routes_first_process(routes_t *self);
route_t *routes_next_process(routes_t *self);

/* Record / finish a call in flight to process route r. */
void routes_inflight_add(route_t *r, uint64_t id, zmq_msg_t *frames, int nframes);
void routes_inflight_done(route_t *r, uint64_t id, const void *sender, size_t sender_len);

/* Number of routes (for metrics). */
size_t routes_count(routes_t *self);

#endif
