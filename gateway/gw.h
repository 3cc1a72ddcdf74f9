/* corral — the gateway's insides, shared by its files: gateway.c (the
   event loop, connections), rpc.c (XML-RPC calls: auth, routing, replies,
   multicall) and metrics.c. Everything here runs on the gateway's one
   thread, so nothing locks. */
#ifndef CORRAL_GATEWAY_GW_H
#define CORRAL_GATEWAY_GW_H

#include <czmq.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "corral/actor.h"
#include "corral/auth.h"
#include "corral/buf.h"
#include "corral/config.h"
#include "corral/http.h"
#include "corral/methods.h"
#include "gateway/calls.h"
#include "gateway/tls.h"

#define GW_LATENCY_BUCKETS 16

/* One response of a connection, in request order. A slot is done when its
   bytes (a whole HTTP response) are ready; responses leave in order. */
typedef struct slot {
    struct slot *next;
    struct conn *conn;
    bool done;
    bool close_after;        /* close the connection once this is written */
    bool keep_alive;
    int minor;
    call_t *call;            /* a plain call in flight, or NULL */
    struct multicall *mc;    /* a multicall in flight, or NULL */
    corral_buf_t data;
} slot_t;

/* A system.multicall in flight: one packed result per sub-call. */
typedef struct multicall {
    slot_t *slot;            /* NULL once the connection is gone */
    uint32_t n, pending;
    corral_buf_t *results;   /* each: a packed [value] or {faultCode, faultString} */
    uint64_t *ids;           /* the sub-calls' ids (0 once answered) */
} multicall_t;

typedef struct conn {
    int fd;
    SSL *ssl;                /* NULL on plain HTTP */
    int tls_want;            /* TLS_WANT_*: what the last TLS call waits for */
    struct conn *prev, *next;
    corral_buf_t in, out;
    size_t out_off;
    corral_http_parser_t parser;
    slot_t *head, *tail;
    int nslots;
    int64_t deadline;        /* monotonic ms: 408 if a request is partial, else idle close */
    int64_t last_read;       /* monotonic ms: buffers of a quiet connection are given back */
    uint32_t events;         /* the epoll mask in force */
    bool peer_closed;        /* read 0: finish the responses, then close */
    bool closing;            /* a close_after response was queued */
    bool continue_sent;
    bool partial;            /* part of a request has arrived; its io deadline runs */
    bool lingering;          /* answered and shut for writing: draining input before close */
    bool resume;             /* queued on gw.resume: input held back by a bound */
    char auth[256];          /* the last Authorization value that passed */
    size_t auth_len;
    corral_user_t user;
} conn_t;

/* Per-analysis callers (tokens made for one analysis): what they may touch. */
typedef struct scoped {
    char owner[CORRAL_ADDR_MAX];
    int owner_role;
    zlistx_t *allowed;       /* actor addresses (strings) */
} scoped_t;

typedef struct metrics {
    uint64_t *ok, *fault;    /* per method table index */
    uint64_t unknown_method;
    uint64_t http_errors[6]; /* 400, 401, 404/405, 408, 413/431, other */
    uint64_t hist[GW_LATENCY_BUCKETS + 1];
    double latency_sum;      /* seconds */
    uint64_t latency_count;
    uint64_t accepted;
} metrics_t;

typedef struct gw {
    const corral_config_t *cfg;
    corral_users_t *users;
    corral_actor_t *actor;
    char address[CORRAL_ADDR_MAX];
    char sup[CORRAL_ADDR_MAX];
    int listen_fd, epoll_fd, zmq_fd;
    int port;
    conn_t *conns;
    int nconns;
    conn_t *dead;            /* closed this turn; freed when the turn ends */
    conn_t **resume;         /* connections whose held-back input to parse */
    size_t nresume, resume_cap;
    calls_t *calls;
    zhashx_t *scoped;        /* analysis caller name -> scoped_t */
    metrics_t metrics;
    msgpack_sbuffer params;  /* scratch: decoded params of the call at hand */
    msgpack_packer params_pk;
    msgpack_zone zone;
    msgpack_sbuffer sub;     /* scratch: re-packed params of a multicall's sub-call */
    msgpack_packer sub_pk;
    corral_buf_t xml;        /* scratch: a response body */
    tls_t *tls;              /* NULL when serving plain HTTP */
    struct corral_broker *broker; /* serviced by this loop (see broker.h) */
    int broker_fd;
    atomic_bool quiesce;     /* stop serving HTTP; keep routing until stop */
    bool http_closed;
    bool zmq_ended;          /* the context was shut down */
    atomic_bool reload;      /* SIGHUP: load the certificate and key again */
    atomic_bool stop;
} gw_t;

/* rpc.c: answer one complete HTTP request of connection c into slot s. */
void gw_handle_http(gw_t *g, conn_t *c, slot_t *s, const corral_http_req_t *req);

/* rpc.c: a message from the broker (a reply, or an event for the gateway). */
void gw_handle_message(gw_t *g, corral_msg_t *msg);

/* rpc.c: a call's deadline passed: answer it with fault 4. */
void gw_call_timeout(gw_t *g, call_t *call);

/* rpc.c: forget the calls of a slot whose connection is closing. */
void gw_slot_abandon(gw_t *g, slot_t *s);

/* rpc.c: answer slot s with an XML-RPC fault / result. */
void gw_respond_fault(gw_t *g, slot_t *s, int code, const char *text);
void gw_respond_result(gw_t *g, slot_t *s, const msgpack_object *r);

/* rpc.c: check role and scope of who for m (0, or -1 with *f: fault 3). */
int gw_allowed(const corral_method_t *m, const corral_user_t *who, const scoped_t *sc,
               const msgpack_object *params, corral_fault_t *f);

/* rpc.c: send m with its packed params (and their unpacked view) to its
   actor as who (or sc's owner). The call in flight, or NULL with *f. */
call_t *gw_send_call(gw_t *g, const corral_method_t *m, const char *packed, size_t plen,
                     const msgpack_object *params, const corral_user_t *who, const scoped_t *sc,
                     corral_fault_t *f);

/* rpc.c: the method's index in the table (for metrics). */
int gw_method_index(const corral_method_t *m);

/* multicall.c: run system.multicall(params[0]) for slot s. */
void gw_multicall(gw_t *g, slot_t *s, const msgpack_object *params, const corral_user_t *who,
                  const scoped_t *sc);

/* multicall.c: a sub-call's answer: result r or fault (code, text). */
void gw_multicall_answer(gw_t *g, call_t *call, const msgpack_object *r, int code, const char *text,
                         size_t text_len);

/* multicall.c: the multicall's slot is gone: end its sub-calls, free it. */
void gw_multicall_abandon(gw_t *g, multicall_t *mc);

/* gateway.c: fill slot s with a whole response and send what is ready. */
void gw_respond(gw_t *g, slot_t *s, int status, const char *ctype, const char *body, size_t len,
                const char *extra);

/* gateway.c: the slot is done (its data filled): write what is ready. */
void gw_slot_done(gw_t *g, slot_t *s);

/* conn.c: the connection side (see there). */
void conn_set_events(gw_t *g, conn_t *c, uint32_t events);
void conn_close(gw_t *g, conn_t *c);          /* closes now, frees at free_dead */
void free_dead(gw_t *g);
bool conn_may_read(gw_t *g, conn_t *c);       /* not while answers pile up */
void conn_update_events(gw_t *g, conn_t *c);
void conn_set_deadline(gw_t *g, conn_t *c);
int conn_write(gw_t *g, conn_t *c);           /* -1 if the connection closed */
void conn_process(gw_t *g, conn_t *c);        /* parse and answer what is buffered */
void conn_read(gw_t *g, conn_t *c);
void answer_error(gw_t *g, conn_t *c, int status);

/* metrics.c */
int metrics_init(metrics_t *m);
void metrics_free(metrics_t *m);
void metrics_call(metrics_t *m, int method, bool ok, int64_t started_us);
void metrics_render(const gw_t *g, corral_buf_t *out);

/* Monotonic microseconds. */
int64_t gw_now_us(void);

#endif
