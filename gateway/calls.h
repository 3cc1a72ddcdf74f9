/* corral — the gateway's calls in flight: each has a request id, a place
   to put its answer (a response slot of a connection, or one entry of a
   multicall), and a deadline. Ids index a fixed table (at most
   cfg->max_inflight live calls), deadlines a min-heap. */
#ifndef CORRAL_GATEWAY_CALLS_H
#define CORRAL_GATEWAY_CALLS_H

#include <stdbool.h>
#include <stdint.h>

struct slot;
struct multicall;

typedef struct call {
    uint64_t id;
    int64_t deadline;        /* monotonic ms */
    int64_t started;         /* monotonic µs, for the latency histogram */
    int method;              /* index in the method table, for metrics */
    struct slot *slot;       /* where a plain call's answer goes; NULL if its connection closed */
    struct multicall *mc;    /* or the multicall it belongs to */
    uint32_t mc_index;
} call_t;

typedef struct calls calls_t;

/* A table for at most max live calls. */
calls_t *calls_new(int max);
void calls_destroy(calls_t **self);

/* A new call with a fresh id and the deadline given, or NULL when max calls
   are live (the caller answers fault 9). */
call_t *calls_start(calls_t *self, int64_t deadline);

/* The live call with this id, or NULL (answered already, or timed out). */
call_t *calls_find(calls_t *self, uint64_t id);

/* Forget a call (answered or abandoned). */
void calls_end(calls_t *self, call_t *c);

/* The earliest deadline still pending (INT64_MAX if none). */
int64_t calls_next_deadline(calls_t *self);

/* A live call whose deadline is <= now, or NULL; call repeatedly. */
call_t *calls_expired(calls_t *self, int64_t now);

/* Number of live calls. */
int calls_live(const calls_t *self);

#endif
