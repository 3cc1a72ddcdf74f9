/* corral — the gateway's event loop: accept, dispatch events, drain the
   broker, timeouts (each connection's own work is conn.c).

   Level-triggered epoll over client sockets; the broker's DEALER is polled
   through its ZMQ_FD, which only signals edges, so its messages are drained
   at the end of every loop turn (and the loop never sleeps longer than
   GW_TICK_MS), whatever woke it. */
#include "corral/gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "corral/log.h"
#include "corral/xmlrpc.h"
#include "gateway/gw.h"

#define GW_TICK_MS 100          /* longest sleep: stop flag, sweeps, ZMQ_FD safety */
#define GW_EVENTS 256
#define GW_ZMQ_BATCH 4096       /* broker messages handled per loop turn */
#define GW_QUIET_MS 1000        /* a connection idle this long gives its buffers back */

struct corral_gateway {
    gw_t g;
    pthread_t thread;
    bool started;
};

static const int LISTEN_TAG = -1, ZMQ_TAG = -2, BROKER_TAG = -3;

int64_t gw_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* --- the loop ------------------------------------------------------------- */

static void accept_all(gw_t *g) {
    for (;;) {
        int fd = accept4(g->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                LOG_WARN("gateway", "accept: %s (raise the file limit or lower --max-connections)",
                         strerror(errno));
            return;
        }
        g->metrics.accepted++;
        if (g->nconns >= g->cfg->max_connections) {
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                       "Connection: close\r\n\r\n";
            ssize_t w = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)w; /* a refused client learns it from the close as well */
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_t *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->events = EPOLLIN;
        if (g->tls && !(c->ssl = tls_accept(g->tls, fd))) {
            LOG_WARN("gateway", "TLS: cannot make a session for a new connection");
            close(fd);
            free(c);
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(g->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            tls_close(c->ssl);
            close(fd);
            free(c);
            continue;
        }
        corral_http_parser_reset(&c->parser);
        c->next = g->conns;
        if (g->conns) g->conns->prev = c;
        g->conns = c;
        g->nconns++;
        conn_set_deadline(g, c);
    }
}

/* Close connections past their deadline (408 for a partial request), and
   give back the buffers of quiet ones: an idle keep-alive connection then
   costs its conn_t alone, not a 64 KiB read buffer. */
static void sweep(gw_t *g) {
    int64_t now = corral_mono_ms();
    for (conn_t *c = g->conns, *next; c; c = next) {
        next = c->next;
        if (c->in.len == 0 && c->out.len == 0 && c->nslots == 0 && (c->in.cap || c->out.cap) &&
            now - c->last_read > GW_QUIET_MS) {
            corral_buf_free(&c->in);
            corral_buf_free(&c->out);
        }
        if (!c->deadline || now < c->deadline) continue;
        if (c->lingering) {
            conn_close(g, c);
        } else if (c->in.len > 0 && !c->closing && c->nslots == 0 && c->out.len == c->out_off) {
            c->in.len = 0;
            answer_error(g, c, 408);
            if (conn_write(g, c) == 0) conn_update_events(g, c);
        } else if (c->nslots == 0) {
            conn_close(g, c);
        }
    }
}

static void expire_calls(gw_t *g) {
    int64_t now = corral_mono_ms();
    call_t *call;
    while ((call = calls_expired(g->calls, now))) gw_call_timeout(g, call);
}

/* Handle what the broker sent to the gateway, up to a batch. Returns how
   many messages were handled. */
static int drain_broker(gw_t *g) {
    int n = 0;
    for (; n < GW_ZMQ_BATCH; n++) {
        corral_msg_t *msg = corral_actor_recv(g->actor, ZMQ_DONTWAIT);
        if (!msg) {
            if (errno == EAGAIN || errno == ETERM) break;
            continue;
        }
        gw_handle_message(g, msg);
        corral_msg_destroy(&msg);
    }
    return n;
}

static void run_resumes(gw_t *g) {
    size_t n = g->nresume; /* ones scheduled meanwhile wait for the next round */
    for (size_t i = 0; i < n; i++) {
        conn_t *c = g->resume[i];
        c->resume = false;
        if (c->fd < 0) continue;
        if (c->ssl && SSL_has_pending(c->ssl) && conn_may_read(g, c)) conn_read(g, c);
        else conn_process(g, c);
    }
    memmove(g->resume, g->resume + n, (g->nresume - n) * sizeof *g->resume);
    g->nresume -= n;
}

/* The end of a loop turn: the broker and the gateway's DEALER hand each
   other messages within this thread, so both are serviced in rounds until a
   round finds nothing. Any zmq_send may swallow a socket's ZMQ_FD edge for
   messages that arrived meanwhile, so the turn must end on a round with no
   send after its receives; resumed connections send, hence the rounds.
   True if work is left for the next turn (then it must not sleep). */
static bool finish_turn(gw_t *g) {
    for (int round = 0; round < 16; round++) {
        int routed = g->zmq_ended ? 0 : corral_broker_service(g->broker);
        if (routed < 0) { /* the context is shut down: stop polling its fds */
            g->zmq_ended = true;
            epoll_ctl(g->epoll_fd, EPOLL_CTL_DEL, g->broker_fd, NULL);
            epoll_ctl(g->epoll_fd, EPOLL_CTL_DEL, g->zmq_fd, NULL);
            routed = 0;
        }
        int answered = g->zmq_ended ? 0 : drain_broker(g);
        expire_calls(g);
        if (g->nresume) run_resumes(g);
        else if (routed == 0 && answered == 0) return false;
    }
    return true;
}

/* Quiescing: no more HTTP; calls in flight are dropped with their connections. */
static void close_http(gw_t *g) {
    epoll_ctl(g->epoll_fd, EPOLL_CTL_DEL, g->listen_fd, NULL);
    close(g->listen_fd);
    g->listen_fd = -1;
    while (g->conns) conn_close(g, g->conns);
    free_dead(g);
    g->http_closed = true;
}

static void *gw_run(void *arg) {
    gw_t *g = arg;
    pthread_setname_np(pthread_self(), "gateway");
    struct epoll_event events[GW_EVENTS];
    int64_t next_sweep = corral_mono_ms() + GW_TICK_MS;
    bool busy = false;
    while (!atomic_load(&g->stop)) {
        if (atomic_load(&g->quiesce) && !g->http_closed) close_http(g);
        int64_t now = corral_mono_ms(), wake = next_sweep;
        int64_t dl = calls_next_deadline(g->calls);
        if (dl < wake) wake = dl;
        int timeout = busy || wake <= now ? 0 : (int)(wake - now);
        int n = epoll_wait(g->epoll_fd, events, GW_EVENTS, timeout);
        for (int i = 0; i < n; i++) {
            void *tag = events[i].data.ptr;
            if (tag == &LISTEN_TAG) {
                accept_all(g);
            } else if (tag != &ZMQ_TAG && tag != &BROKER_TAG) {
                conn_t *c = tag;
                if (c->fd < 0) continue; /* closed earlier this turn */
                uint32_t ev = events[i].events;
                if ((ev & (EPOLLERR | EPOLLHUP)) && !(ev & EPOLLIN)) {
                    conn_close(g, c);
                    continue;
                }
                /* A TLS read may wait for the socket to be writable (and a
                   write for it to be readable): retry both on any event. */
                bool tls_retry = c->ssl && c->tls_want != TLS_WANT_NONE;
                if ((ev & EPOLLOUT) || tls_retry) {
                    if (conn_write(g, c) < 0) continue;
                }
                if ((ev & EPOLLIN) || tls_retry) conn_read(g, c);
                else if (c->in.len) conn_process(g, c);
                else conn_update_events(g, c);
            }
        }
        busy = finish_turn(g);
        free_dead(g);
        if (atomic_exchange(&g->reload, false) && g->tls) {
            char err[512];
            if (tls_reload(g->tls, err, sizeof err) < 0) LOG_ERROR("gateway", "SIGHUP: %s; keeping the old certificate", err);
            else LOG_INFO("gateway", "SIGHUP: certificate and key reloaded");
        }
        if (corral_mono_ms() >= next_sweep) {
            sweep(g);
            next_sweep = corral_mono_ms() + GW_TICK_MS;
        }
    }
    while (g->conns) conn_close(g, g->conns);
    free_dead(g);
    return NULL;
}

static int listen_on(const corral_config_t *cfg, int *port, char *err, size_t errlen, int *in_use) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", cfg->listen_port);
    int rc = getaddrinfo(cfg->listen_host, portstr, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "--listen %s: %s", cfg->listen_host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        *in_use = errno == EADDRINUSE;
        snprintf(err, errlen, "cannot listen on %s:%d: %s%s", cfg->listen_host, cfg->listen_port,
                 strerror(errno), *in_use ? " (the port is in use by another program)" : "");
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static void scoped_free(void **item) {
    scoped_t *sc = *item;
    if (!sc) return;
    zlistx_destroy(&sc->allowed);
    free(sc);
    *item = NULL;
}

corral_gateway_t *corral_gateway_new(void *zctx, const corral_config_t *cfg, corral_users_t *users,
                                     corral_broker_t *broker, char *err, size_t errlen, int *in_use) {
    *in_use = 0;
    corral_gateway_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    gw_t *g = &self->g;
    g->cfg = cfg;
    g->users = users;
    g->epoll_fd = -1;
    /* Everything destroy frees is made first, so any failure below can
       simply call destroy. */
    msgpack_sbuffer_init(&g->params);
    msgpack_packer_init(&g->params_pk, &g->params, msgpack_sbuffer_write);
    msgpack_zone_init(&g->zone, 8192);
    msgpack_sbuffer_init(&g->sub);
    msgpack_packer_init(&g->sub_pk, &g->sub, msgpack_sbuffer_write);
    if (cfg->tls_cert[0] && !(g->tls = tls_new(cfg, err, errlen))) goto fail;
    g->listen_fd = listen_on(cfg, &g->port, err, errlen, in_use);
    if (g->listen_fd < 0) goto fail;
    snprintf(g->address, sizeof g->address, "%s%s", CORRAL_GW_PREFIX, cfg->node);
    snprintf(g->sup, sizeof g->sup, "%s%s", CORRAL_SUP_PREFIX, cfg->node);
    g->calls = calls_new(cfg->max_inflight);
    g->scoped = zhashx_new();
    zhashx_set_destructor(g->scoped, scoped_free);
    if (!g->calls || metrics_init(&g->metrics) < 0) {
        snprintf(err, errlen, "gateway: out of memory");
        goto fail;
    }
    /* Room for a reply to every call it lets be in flight, and then some for
       late replies and events: on this pipe the broker must never find it full. */
    g->actor = corral_actor_new_hwm(zctx, CORRAL_BROKER_INPROC, g->address, NULL, NULL, cfg->sndhwm,
                                    cfg->max_inflight + cfg->sndhwm);
    if (!g->actor) {
        snprintf(err, errlen, "gateway: cannot connect to the broker: %s", zmq_strerror(errno));
        goto fail;
    }
    corral_actor_set_send_timeout(g->actor, 0); /* a full queue is fault 9, never a stall */
    size_t zl = sizeof g->zmq_fd;
    zmq_getsockopt(corral_actor_socket(g->actor), ZMQ_FD, &g->zmq_fd, &zl);
    g->broker = broker;
    g->broker_fd = corral_broker_fd(broker);
    g->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = (void *)&LISTEN_TAG};
    struct epoll_event zev = {.events = EPOLLIN, .data.ptr = (void *)&ZMQ_TAG};
    struct epoll_event bev = {.events = EPOLLIN, .data.ptr = (void *)&BROKER_TAG};
    if (g->epoll_fd < 0 || epoll_ctl(g->epoll_fd, EPOLL_CTL_ADD, g->listen_fd, &lev) < 0 ||
        epoll_ctl(g->epoll_fd, EPOLL_CTL_ADD, g->zmq_fd, &zev) < 0 ||
        epoll_ctl(g->epoll_fd, EPOLL_CTL_ADD, g->broker_fd, &bev) < 0) {
        snprintf(err, errlen, "gateway: epoll: %s", strerror(errno));
        goto fail;
    }
    return self;
fail:
    corral_gateway_destroy(&self);
    return NULL;
}

int corral_gateway_port(const corral_gateway_t *self) { return self->g.port; }

bool corral_gateway_tls(const corral_gateway_t *self) { return self->g.tls != NULL; }

void corral_gateway_reload(corral_gateway_t *self) { atomic_store(&self->g.reload, true); }

void corral_gateway_quiesce(corral_gateway_t *self) { atomic_store(&self->g.quiesce, true); }

int corral_gateway_start(corral_gateway_t *self) {
    int rc = pthread_create(&self->thread, NULL, gw_run, &self->g);
    if (rc) {
        errno = rc;
        return -1;
    }
    self->started = true;
    return 0;
}

void corral_gateway_destroy(corral_gateway_t **pself) {
    corral_gateway_t *self = *pself;
    if (!self) return;
    gw_t *g = &self->g;
    atomic_store(&g->stop, true);
    if (self->started) pthread_join(self->thread, NULL);
    while (g->conns) conn_close(g, g->conns);
    free_dead(g);
    if (g->listen_fd >= 0) close(g->listen_fd);
    if (g->epoll_fd >= 0) close(g->epoll_fd);
    corral_actor_destroy(&g->actor);
    calls_destroy(&g->calls);
    zhashx_destroy(&g->scoped);
    msgpack_sbuffer_destroy(&g->params);
    msgpack_zone_destroy(&g->zone);
    msgpack_sbuffer_destroy(&g->sub);
    corral_buf_free(&g->xml);
    free(g->resume);
    metrics_free(&g->metrics);
    tls_destroy(&g->tls);
    free(self);
    *pself = NULL;
}
