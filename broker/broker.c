/* corral — the broker: its ROUTER, serviced from the gateway's loop.

   A message arrives as [sender identity, hops..., "", envelope]. Requests,
   events and controls are routed on `to`: sent as [destination identity,
   sender identity, hops..., "", envelope + from]. Replies are routed on
   their first hop: [hop1, hops..., "", envelope]. So every hop a request
   collects is undone by its reply, in reverse. */
#include "corral/broker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "broker/routes.h"
#include "corral/actor.h"
#include "corral/envelope.h"
#include "corral/log.h"

#define BROKER_BATCH 1024          /* messages handled per wake-up before timers run */
#define BROKER_SWEEP_MS 250        /* how often heartbeats are checked */
#define BROKER_HELD_MAX 256        /* messages held for one actor that is still starting */

struct corral_broker {
    void *sock;
    const corral_config_t *cfg;
    char ipc_endpoint[CORRAL_PATH_MAX + 32];
    char sup[CORRAL_ADDR_MAX];      /* "sup@node" */
    routes_t *routes;
    int64_t next_sweep;             /* monotonic ms of the next heartbeat sweep */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_zone zone;
};

/* Copy a frame's bytes as a C string (identities are short and printable). */
static void frame_str(zmq_msg_t *m, char *out, size_t cap) {
    size_t n = zmq_msg_size(m);
    if (n >= cap) n = cap - 1;
    memcpy(out, zmq_msg_data(m), n);
    out[n] = '\0';
}

/* Send [dest, route..., "", body]. With ZMQ_ROUTER_MANDATORY the first
   frame fails with EHOSTUNREACH for an unknown identity and EAGAIN for a
   full queue, before anything is queued. */
static int send_frames(corral_broker_t *b, const void *dest, size_t dest_len, zmq_msg_t *route,
                       int nroute, const void *body, size_t len) {
    if (zmq_send(b->sock, dest, dest_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) return -1;
    for (int i = 0; i < nroute; i++) {
        zmq_msg_t copy;
        zmq_msg_init(&copy);
        zmq_msg_copy(&copy, &route[i]);
        if (zmq_msg_send(&copy, b->sock, ZMQ_SNDMORE) < 0) {
            zmq_msg_close(&copy);
            return -1;
        }
    }
    zmq_send(b->sock, "", 0, ZMQ_SNDMORE);
    return zmq_send(b->sock, body, len, 0) < 0 ? -1 : 0;
}

/* Answer a request with a fault along its own route (route[0] is the sender). */
static void answer_fault(corral_broker_t *b, zmq_msg_t *route, int nroute, uint64_t id, int code,
                         const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void answer_fault(corral_broker_t *b, zmq_msg_t *route, int nroute, uint64_t id, int code,
                         const char *fmt, ...) {
    char text[CORRAL_FAULT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    msgpack_sbuffer_clear(&b->sb);
    corral_env_pack_fault(&b->pk, id, code, text, strlen(text));
    if (send_frames(b, zmq_msg_data(&route[0]), zmq_msg_size(&route[0]), route + 1, nroute - 1,
                    b->sb.data, b->sb.size) < 0) {
        char dest[CORRAL_ADDR_MAX];
        frame_str(&route[0], dest, sizeof dest);
        LOG_WARN("broker", "fault %d for request %llu to %s lost: %s", code, (unsigned long long)id,
                 dest, zmq_strerror(errno));
    }
}

static void send_control(corral_broker_t *b, const char *to, const char *verb, const char *a1,
                         const char *a2) {
    route_t *r = routes_by_address(b->routes, to);
    if (!r || r->state != ROUTE_UP) return;
    msgpack_sbuffer_clear(&b->sb);
    corral_env_request_begin(&b->pk, CORRAL_K_CONTROL, 0, to, strlen(to), "broker", 6,
                             CORRAL_ROLE_NONE, 0, verb, strlen(verb));
    msgpack_pack_array(&b->pk, a2 ? 2 : 1);
    corral_pack_cstr(&b->pk, a1);
    if (a2) corral_pack_cstr(&b->pk, a2);
    corral_pack_cstr(&b->pk, "from");
    corral_pack_cstr(&b->pk, "broker");
    b->sb.data[0] = (char)(0x80 | 9); /* 8 members + from */
    if (send_frames(b, r->identity, strlen(r->identity), NULL, 0, b->sb.data, b->sb.size) < 0)
        LOG_WARN("broker", "%s to %s lost: %s", verb, to, zmq_strerror(errno));
}

/* A process actor is gone: answer its calls in flight with fault 5 and tell
   the supervisor (unless the news came from it). */
static void route_gone(corral_broker_t *b, route_t *r, const char *reason, bool tell_sup) {
    /* An adopted actor leaving is the normal end of an analysis. */
    if (r->state == ROUTE_ADOPTED && !strcmp(reason, "left")) LOG_DEBUG("broker", "actor %s left", r->address);
    else LOG_WARN("broker", "actor %s is gone: %s", r->address, reason);
    if (r->inflight) {
        for (inflight_t *f = zhashx_first(r->inflight); f; f = zhashx_next(r->inflight))
            answer_fault(b, f->route, f->nroute, f->id, CORRAL_F_GONE,
                         "actor %s is gone (%s) while the call was in flight", r->address, reason);
        zhashx_purge(r->inflight);
    }
    routes_unbind_identity(b->routes, r);
    if (r->state == ROUTE_UP) r->state = ROUTE_GONE;
    if (tell_sup) send_control(b, b->sup, "gone", r->address, reason);
}

/* A launched actor never connected: what waited for it ends with fault 5. */
static void held_fail(corral_broker_t *b, route_t *r) {
    LOG_WARN("broker", "actor %s was expected but never connected", r->address);
    r->state = ROUTE_GONE;
    frames_t *fr;
    corral_env_t env;
    corral_fault_t f;
    while ((fr = routes_take_held(r))) {
        msgpack_zone_clear(&b->zone);
        if (corral_env_decode(zmq_msg_data(&fr->f[fr->body]), zmq_msg_size(&fr->f[fr->body]), &b->zone, -1,
                              &env, &f) == 0 && env.kind == CORRAL_K_REQUEST)
            answer_fault(b, fr->f, fr->body - 1, env.id, CORRAL_F_GONE, "actor %s never started", r->address);
        frames_close(fr);
        free(fr);
    }
}

/* A process actor whose socket is still bound (running, or adopted and
   not yet gone) must keep sending: silence past heartbeat_dead_ms is death. */
static void sweep(corral_broker_t *b) {
    int64_t now = corral_mono_ms();
    for (route_t *r = routes_first_process(b->routes); r; r = routes_next_process(b->routes)) {
        if (r->state == ROUTE_PENDING && now - r->last_seen > 3 * b->cfg->heartbeat_dead_ms)
            held_fail(b, r);
        else if (r->identity[0] && r->state != ROUTE_GONE && now - r->last_seen > b->cfg->heartbeat_dead_ms)
            route_gone(b, r, "no heartbeat", r->state == ROUTE_UP);
    }
}

static void handle(corral_broker_t *b, frames_t *fr);

/* Route again, in order, what waited for r while it was pending. */
static void flush_held(corral_broker_t *b, route_t *r) {
    frames_t *fr;
    while ((fr = routes_take_held(r))) {
        handle(b, fr);
        frames_close(fr);
        free(fr);
    }
}

static bool is_sup(corral_broker_t *b, const char *sender) { return strcmp(sender, b->sup) == 0; }

static void control_hello(corral_broker_t *b, const char *sender, const corral_env_t *env) {
    char address[CORRAL_ADDR_MAX] = "", secret[128] = "";
    if (corral_value_strcpy(corral_param(env->p, 0), address, sizeof address) < 0) {
        LOG_WARN("broker", "hello from %s without an address: ignored", sender);
        return;
    }
    if (env->p->via.array.size < 2) {
        /* Threads of this process connect over inproc; their identity is
           their address, and nothing outside the process can reach inproc. */
        if (strcmp(address, sender) != 0) {
            LOG_WARN("broker", "hello from %s claiming %s: refused", sender, address);
            return;
        }
        routes_put(b->routes, address, sender, false)->last_seen = corral_mono_ms();
        return;
    }
    corral_value_strcpy(corral_param(env->p, 1), secret, sizeof secret);
    expectation_t *e = routes_take_expectation(b->routes, sender);
    bool ok = e && strcmp(e->address, address) == 0 &&
              CRYPTO_memcmp(e->secret, secret, sizeof secret) == 0;
    free(e);
    if (!ok) {
        LOG_WARN("broker", "hello from an ipc peer claiming %s with a wrong identity or secret: refused",
                 address);
        return;
    }
    route_t *r = routes_put(b->routes, address, sender, true);
    r->last_seen = corral_mono_ms();
    LOG_INFO("broker", "process actor %s connected", address);
    flush_held(b, r); /* what its program (or a client) sent while it started */
}

static void handle_control(corral_broker_t *b, const char *sender, route_t *from,
                           const corral_env_t *env) {
    char verb[32] = "";
    memcpy(verb, env->m, env->m_len < sizeof verb - 1 ? env->m_len : sizeof verb - 1);
    if (strcmp(verb, "hello") == 0) {
        control_hello(b, sender, env);
    } else if (!from) {
        if (strcmp(verb, "bye") == 0) LOG_DEBUG("broker", "bye from unbound peer %s", sender);
        else LOG_WARN("broker", "control %s from unknown peer %s: ignored", verb, sender);
    } else if (strcmp(verb, "heartbeat") == 0) {
        /* last_seen is updated for every message; nothing more to do */
    } else if (strcmp(verb, "bye") == 0) {
        /* A process leaving: calls it did not answer end with fault 5; the
           supervisor hears of it unless it already adopted the address. */
        if (from->process) route_gone(b, from, "left", from->state == ROUTE_UP);
        else routes_remove(b->routes, from->address);
    } else if (strcmp(verb, "expect") == 0 && is_sup(b, from->address)) {
        char address[CORRAL_ADDR_MAX], identity[CORRAL_ADDR_MAX], secret[128];
        if (corral_value_strcpy(corral_param(env->p, 0), address, sizeof address) == 0 &&
            corral_value_strcpy(corral_param(env->p, 1), identity, sizeof identity) == 0 &&
            corral_value_strcpy(corral_param(env->p, 2), secret, sizeof secret) == 0) {
            routes_expect(b->routes, identity, address, secret);
            route_t *r = routes_pending(b->routes, address);
            if (r && r->state == ROUTE_PENDING) r->last_seen = corral_mono_ms();
        }
    } else if (strcmp(verb, "adopt") == 0 && is_sup(b, from->address)) {
        char address[CORRAL_ADDR_MAX];
        if (corral_value_strcpy(corral_param(env->p, 0), address, sizeof address) == 0) {
            /* New requests for it go to the supervisor from now on. A host
               still connected may answer what it holds and say bye; a dead
               one's calls end at its missing heartbeat (route_gone). */
            route_t *r = routes_adopt(b->routes, address);
            if (r) flush_held(b, r); /* held for a launch that failed: the supervisor answers them */
        }
    } else {
        LOG_WARN("broker", "unknown control %s from %s: ignored", verb, sender);
    }
}

/* The envelope with `from` appended: senders pack a fixmap without it (see
   envelope.h), so stamping is one header byte and one member, no re-encoding. */
static int stamp_from(const zmq_msg_t *body, const char *from, zmq_msg_t *out) {
    const unsigned char *src = zmq_msg_data((zmq_msg_t *)body);
    size_t len = zmq_msg_size((zmq_msg_t *)body);
    if (len < 1 || (src[0] & 0xF0) != 0x80 || (src[0] & 0x0F) == 0x0F) return -1;
    size_t flen = strlen(from);
    size_t extra = 5 + 2 + flen; /* "from" fixstr + str8 header + bytes */
    if (zmq_msg_init_size(out, len + extra) < 0) return -1;
    unsigned char *dst = zmq_msg_data(out);
    memcpy(dst, src, len);
    dst[0] = (unsigned char)(src[0] + 1);
    unsigned char *p = dst + len;
    *p++ = 0xA4;
    memcpy(p, "from", 4);
    p += 4;
    *p++ = 0xD9; /* str8: addresses are at most CORRAL_ADDR_MAX bytes */
    *p++ = (unsigned char)flen;
    memcpy(p, from, flen);
    return 0;
}

static void route_request(corral_broker_t *b, frames_t *fr, route_t *from, const corral_env_t *env) {
    char to[CORRAL_ADDR_MAX];
    memcpy(to, env->to, env->to_len);
    to[env->to_len] = '\0';
    bool request = env->kind == CORRAL_K_REQUEST;
    int nroute = fr->body - 1; /* sender and its hops */
    route_t *r = routes_by_address(b->routes, to);
    const char *dest = NULL;
    if (r && r->state == ROUTE_PENDING) {
        /* Launched, not yet connected (its program may call before its host
           said hello): the message waits, bounded, for the hello. */
        if (routes_hold(r, fr, BROKER_HELD_MAX) < 0 && request)
            answer_fault(b, fr->f, nroute, env->id, CORRAL_F_BUSY, "busy: %s is starting and %d messages "
                         "already wait for it; retry later", to, BROKER_HELD_MAX);
        return;
    }
    if (r && r->state == ROUTE_ADOPTED) dest = b->sup;
    else if (r && r->state == ROUTE_UP) dest = r->identity;
    if (!dest) {
        const char *at = strchr(to, '@');
        if (!request)
            LOG_DEBUG("broker", "%s %.*s to %s dropped: no route", env->kind == CORRAL_K_EVENT ? "event"
                      : "control", (int)env->m_len, env->m, to);
        else if (r)
            answer_fault(b, fr->f, nroute, env->id, CORRAL_F_GONE, "actor %s is gone", to);
        else if (at && strcmp(at + 1, b->cfg->node) != 0)
            answer_fault(b, fr->f, nroute, env->id, CORRAL_F_NOENT, "no such node '%s' (for %s)", at + 1, to);
        else
            answer_fault(b, fr->f, nroute, env->id, CORRAL_F_NOENT, "no such target or analysis '%s'", to);
        return;
    }
    zmq_msg_t stamped;
    if (stamp_from(&fr->f[fr->body], from->address, &stamped) < 0) {
        LOG_WARN("broker", "envelope from %s is not a stampable fixmap: dropped", from->address);
        if (request) answer_fault(b, fr->f, nroute, env->id, CORRAL_F_REQUEST, "malformed envelope");
        return;
    }
    int rc = send_frames(b, dest, strlen(dest), fr->f, nroute, zmq_msg_data(&stamped), zmq_msg_size(&stamped));
    int err = errno;
    zmq_msg_close(&stamped);
    if (rc < 0) {
        if (!request) LOG_WARN("broker", "message to %s lost: %s", to, zmq_strerror(err));
        else if (err == EAGAIN)
            answer_fault(b, fr->f, nroute, env->id, CORRAL_F_BUSY, "busy: the queue to %s is full; retry later", to);
        else
            answer_fault(b, fr->f, nroute, env->id, r->process ? CORRAL_F_GONE : CORRAL_F_NOENT,
                         "actor %s is not reachable: %s", to, zmq_strerror(err));
        return;
    }
    if (request && r->process && r->state == ROUTE_UP) routes_inflight_add(r, env->id, fr->f, nroute);
}

static void route_reply(corral_broker_t *b, frames_t *fr, route_t *from, const corral_env_t *env) {
    if (fr->body < 3) { /* [sender, dest, "", body] at least */
        LOG_WARN("broker", "reply %llu from %s has no route back: dropped", (unsigned long long)env->id,
                 from->address);
        return;
    }
    zmq_msg_t *dest = &fr->f[1];
    if (from->process) routes_inflight_done(from, env->id, zmq_msg_data(dest), zmq_msg_size(dest));
    if (send_frames(b, zmq_msg_data(dest), zmq_msg_size(dest), fr->f + 2, fr->body - 3,
                    zmq_msg_data(&fr->f[fr->body]), zmq_msg_size(&fr->f[fr->body])) < 0) {
        char d[CORRAL_ADDR_MAX];
        frame_str(dest, d, sizeof d);
        /* The gateway sizes its queue for every call it has in flight, so
           this is a broken invariant or a vanished requester, never load. */
        LOG_ERROR("broker", "reply %llu from %s to %s lost: %s", (unsigned long long)env->id, from->address,
                  d, zmq_strerror(errno));
    }
}

static void handle(corral_broker_t *b, frames_t *fr) {
    char sender[CORRAL_ADDR_MAX];
    frame_str(&fr->f[0], sender, sizeof sender);
    corral_env_t env;
    corral_fault_t f;
    msgpack_zone_clear(&b->zone);
    zmq_msg_t *body = &fr->f[fr->body];
    if (corral_env_decode(zmq_msg_data(body), zmq_msg_size(body), &b->zone, -1, &env, &f) < 0) {
        LOG_WARN("broker", "malformed envelope from %s dropped: %s", sender, f.msg);
        if (env.kind == CORRAL_K_REQUEST && env.id && routes_by_identity(b->routes, sender))
            answer_fault(b, fr->f, fr->body - 1, env.id, CORRAL_F_REQUEST, "%s", f.msg);
        return;
    }
    route_t *from = routes_by_identity(b->routes, sender);
    if (from) from->last_seen = corral_mono_ms();
    if (env.kind == CORRAL_K_CONTROL && env.to_len == 6 && memcmp(env.to, "broker", 6) == 0) {
        handle_control(b, sender, from, &env);
        return;
    }
    if (!from) {
        /* An ipc peer that has not proven who it is gets nothing routed. */
        LOG_WARN("broker", "message from unverified peer dropped");
        return;
    }
    if (env.from_len) {
        LOG_WARN("broker", "envelope from %s carries its own `from`: dropped", from->address);
        if (env.kind == CORRAL_K_REQUEST)
            answer_fault(b, fr->f, fr->body - 1, env.id, CORRAL_F_REQUEST, "envelope may not set `from`");
        return;
    }
    if (env.kind == CORRAL_K_REPLY) route_reply(b, fr, from, &env);
    else route_request(b, fr, from, &env);
}

/* Receive one whole message. 0, 1 when a malformed one was skipped, or -1
   (errno EAGAIN or ETERM). */
static int recv_message(corral_broker_t *b, frames_t *fr) {
    fr->n = 0;
    fr->body = -1;
    int flags = ZMQ_DONTWAIT, more = 1;
    bool bad = false;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, b->sock, flags) < 0) {
            zmq_msg_close(&part);
            frames_close(fr);
            return -1;
        }
        flags = 0;
        more = zmq_msg_more(&part);
        if (fr->n == MAX_FRAMES || (fr->body >= 0 && fr->n > fr->body)) {
            bad = true; /* too many hops, or frames after the envelope */
            zmq_msg_close(&part);
            continue;
        }
        if (fr->n > 0 && zmq_msg_size(&part) == 0 && fr->body < 0 && more) fr->body = fr->n + 1;
        fr->f[fr->n++] = part;
    }
    if (bad || fr->body < 0 || fr->body >= fr->n) {
        char sender[CORRAL_ADDR_MAX] = "?";
        if (fr->n) frame_str(&fr->f[0], sender, sizeof sender);
        LOG_WARN("broker", "message from %s without a valid frame layout dropped", sender);
        frames_close(fr);
        return 1;
    }
    return 0;
}

int corral_broker_service(corral_broker_t *b) {
    int handled = 0;
    for (int i = 0; i < BROKER_BATCH; i++) {
        frames_t fr;
        int rc = recv_message(b, &fr);
        if (rc < 0) {
            if (errno == ETERM) return -1;
            break;
        }
        if (rc == 0) {
            handle(b, &fr);
            frames_close(&fr);
        }
        handled++;
    }
    int64_t now = corral_mono_ms();
    if (now >= b->next_sweep) {
        sweep(b);
        b->next_sweep = now + BROKER_SWEEP_MS;
    }
    return handled;
}

int corral_broker_fd(const corral_broker_t *b) {
    int fd = -1;
    size_t len = sizeof fd;
    zmq_getsockopt(b->sock, ZMQ_FD, &fd, &len);
    return fd;
}

corral_broker_t *corral_broker_new(void *zctx, const corral_config_t *cfg, char *err, size_t errlen) {
    corral_broker_t *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->cfg = cfg;
    snprintf(b->sup, sizeof b->sup, "%s%s", CORRAL_SUP_PREFIX, cfg->node);
    b->routes = routes_new();
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
    msgpack_zone_init(&b->zone, 4096);
    b->sock = zmq_socket(zctx, ZMQ_ROUTER);
    int one = 1, linger = 0, hwm = cfg->sndhwm;
    zmq_setsockopt(b->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(b->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(b->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(b->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    char dir[CORRAL_PATH_MAX + 8];
    _Static_assert(sizeof dir + 16 < sizeof b->ipc_endpoint, "room for ipc://DIR/broker");
    snprintf(dir, sizeof dir, "%s/ipc", cfg->state_dir);
    /* Only the server's user may connect to the ipc socket: the directory is
       private, whatever the umask. */
    if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || chmod(dir, 0700) < 0) {
        snprintf(err, errlen, "ipc directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    snprintf(b->ipc_endpoint, sizeof b->ipc_endpoint, "ipc://%s/broker", dir);
    unlink(b->ipc_endpoint + 6); /* a stale socket file of an earlier run */
    if (zmq_bind(b->sock, CORRAL_BROKER_INPROC) < 0 || zmq_bind(b->sock, b->ipc_endpoint) < 0) {
        snprintf(err, errlen, "broker bind %s: %s", b->ipc_endpoint, zmq_strerror(errno));
        goto fail;
    }
    return b;
fail:
    corral_broker_destroy(&b);
    return NULL;
}

const char *corral_broker_ipc_endpoint(const corral_broker_t *b) { return b->ipc_endpoint; }

void corral_broker_destroy(corral_broker_t **pb) {
    corral_broker_t *b = *pb;
    if (!b) return;
    if (b->sock) zmq_close(b->sock);
    routes_destroy(&b->routes);
    msgpack_sbuffer_destroy(&b->sb);
    msgpack_zone_destroy(&b->zone);
    free(b);
    *pb = NULL;
}
