/* corral — the gateway's event loop: accept, read, parse, write, timeouts.

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
#define GW_READ_CHUNK 65536
#define GW_EVENTS 256
#define GW_ZMQ_BATCH 4096       /* broker messages handled per loop turn */
#define GW_LINGER_MS 2000       /* how long a closing connection's input is drained */
#define GW_QUIET_MS 1000        /* a connection idle this long gives its buffers back */

struct corral_gateway {
    gw_t g;
    pthread_t thread;
    bool started;
};

static const int LISTEN_TAG = -1, ZMQ_TAG = -2;

int64_t gw_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* --- connections ---------------------------------------------------------- */

static void conn_set_events(gw_t *g, conn_t *c, uint32_t events) {
    if (c->events == events) return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(g->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        LOG_WARN("gateway", "epoll_ctl fd %d: %s", c->fd, strerror(errno));
    c->events = events;
}

/* Close now; free at the end of the loop turn, because the same turn may
   still hold events or replies naming this connection (they see fd < 0). */
static void conn_close(gw_t *g, conn_t *c) {
    if (c->fd < 0) return;
    epoll_ctl(g->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    tls_close(c->ssl);
    c->ssl = NULL;
    close(c->fd);
    c->fd = -1;
    while (c->head) {
        slot_t *s = c->head;
        c->head = s->next;
        gw_slot_abandon(g, s);
        corral_buf_free(&s->data);
        free(s);
    }
    c->tail = NULL;
    c->nslots = 0;
    if (c->prev) c->prev->next = c->next;
    else g->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    corral_buf_free(&c->in);
    corral_buf_free(&c->out);
    c->next = g->dead;
    g->dead = c;
    g->nconns--;
}

static void free_dead(gw_t *g) {
    while (g->dead) {
        conn_t *c = g->dead;
        g->dead = c->next;
        free(c);
    }
}

/* Whether the connection should read more: not while its answers pile up. */
static bool conn_may_read(gw_t *g, conn_t *c) {
    return !c->peer_closed && !c->closing && c->nslots < g->cfg->max_pipeline &&
           c->out.len - c->out_off < g->cfg->max_output_queue;
}

static void conn_update_events(gw_t *g, conn_t *c) {
    uint32_t ev = 0;
    if (conn_may_read(g, c) || c->tls_want == TLS_WANT_READ) ev |= EPOLLIN;
    if (c->out.len > c->out_off || c->tls_want == TLS_WANT_WRITE) ev |= EPOLLOUT;
    conn_set_events(g, c, ev);
}

/* The connection's deadline: a TLS handshake, or a request once its first
   bytes are in, must complete within io_timeout (then 408); an idle
   connection, or one whose client does not read its answers, is closed
   after idle_timeout; one waiting for actors has none (its calls carry
   their own deadlines). */
static void conn_set_deadline(gw_t *g, conn_t *c) {
    int64_t now = corral_mono_ms();
    if (c->ssl && !SSL_is_init_finished(c->ssl)) {
        if (!c->deadline) c->deadline = now + g->cfg->io_timeout_ms;
    } else if (c->nslots > 0) {
        c->deadline = 0;
        c->partial = false;
    } else if (c->out.len > c->out_off) {
        c->deadline = now + g->cfg->idle_timeout_ms;
    } else if (c->in.len > 0) {
        if (!c->partial) c->deadline = now + g->cfg->io_timeout_ms;
        c->partial = true;
    } else {
        c->partial = false;
        c->deadline = now + g->cfg->idle_timeout_ms;
    }
}

/* Read from the socket, through TLS when it has it: > 0 bytes, 0 at the
   end, -1 to wait, -2 broken. */
static ssize_t conn_recv(conn_t *c, void *buf, size_t n) {
    if (c->ssl) return tls_read(c->ssl, buf, n, &c->tls_want);
    ssize_t r = recv(c->fd, buf, n, 0);
    if (r < 0) return errno == EAGAIN || errno == EINTR ? -1 : -2;
    return r;
}

static ssize_t conn_send(conn_t *c, const void *buf, size_t n) {
    if (c->ssl) return tls_write(c->ssl, buf, n, &c->tls_want);
    ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL);
    if (r < 0) return errno == EAGAIN || errno == EINTR ? -1 : -2;
    return r;
}

/* Closing with unread input makes the kernel send RST, which can destroy
   an answer before the client reads it: shut our side, drain theirs for a
   while, then close (a "lingering close"). tls_ok: the session is sound
   enough to send close_notify. */
static void conn_linger(gw_t *g, conn_t *c, bool tls_ok) {
    if (c->ssl && tls_ok) SSL_shutdown(c->ssl);
    shutdown(c->fd, SHUT_WR);
    c->lingering = true;
    c->in.len = 0;
    c->deadline = corral_mono_ms() + GW_LINGER_MS;
    conn_set_events(g, c, EPOLLIN);
}

/* Write what is queued. Returns -1 if the connection was closed. */
static int conn_write(gw_t *g, conn_t *c) {
    while (c->out_off < c->out.len) {
        ssize_t n = conn_send(c, c->out.data + c->out_off, c->out.len - c->out_off);
        if (n == -1) break;
        if (n < 0) {
            conn_close(g, c); /* the peer went away: its calls are abandoned */
            return -1;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out.len) {
        c->out.len = c->out_off = 0;
        if (c->peer_closed && (c->closing || c->nslots == 0)) {
            conn_close(g, c);
            return -1;
        }
        if (c->closing && !c->lingering) {
            conn_linger(g, c, true);
            return -1;
        }
    } else if (c->out_off > (1u << 20)) {
        corral_buf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
    return 0;
}

/* Have the loop look at c again at the end of this turn if input waits
   that no epoll event will announce: bytes in c->in held back by a bound,
   or TLS records already read into OpenSSL. */
static void conn_schedule_resume(gw_t *g, conn_t *c) {
    if (c->resume || !(c->in.len || (c->ssl && SSL_has_pending(c->ssl)))) return;
    if (g->nresume == g->resume_cap) {
        size_t cap = g->resume_cap ? g->resume_cap * 2 : 64;
        conn_t **r = realloc(g->resume, cap * sizeof *r);
        if (!r) return; /* its next read event will parse it */
        g->resume = r;
        g->resume_cap = cap;
    }
    c->resume = true;
    g->resume[g->nresume++] = c;
}

/* Move the done responses at the head of the queue into the output. */
static void conn_flush(gw_t *g, conn_t *c) {
    while (c->head && c->head->done && !c->closing) {
        slot_t *s = c->head;
        c->head = s->next;
        if (!c->head) c->tail = NULL;
        c->nslots--;
        if (c->out.len == 0) { /* the usual case: hand the response over, no copy */
            corral_buf_t empty = c->out;
            c->out = s->data;
            s->data = empty;
            c->out_off = 0;
        } else if (corral_buf_append(&c->out, s->data.data, s->data.len) < 0) {
            c->closing = true;
        }
        if (s->close_after) c->closing = true;
        corral_buf_free(&s->data);
        free(s);
    }
    if (conn_write(g, c) < 0) return;
    conn_set_deadline(g, c);
    conn_update_events(g, c);
    /* Requests held back by the pipeline bound are parsed by the loop, not
       here: this may run in the middle of parsing this very connection. */
    if (conn_may_read(g, c)) conn_schedule_resume(g, c);
}

void gw_slot_done(gw_t *g, slot_t *s) {
    s->done = true;
    if (s->conn && s->conn->fd >= 0 && s->conn->head == s) conn_flush(g, s->conn);
}

void gw_respond(gw_t *g, slot_t *s, int status, const char *ctype, const char *body, size_t len,
                const char *extra) {
    char head[1024];
    /* A status that leaves the request stream unreadable closes the connection. */
    if (status == 400 || status == 408 || status == 411 || status == 413 || status == 431 ||
        status == 501 || status == 505 || status == 503)
        s->close_after = true;
    size_t n = corral_http_head(head, sizeof head, s->minor, status, ctype, len,
                                s->keep_alive && !s->close_after, extra);
    if (!s->keep_alive) s->close_after = true;
    corral_buf_clear(&s->data);
    if (corral_buf_append(&s->data, head, n) < 0 || corral_buf_append(&s->data, body, len) < 0) {
        s->close_after = true;
        LOG_ERROR("gateway", "out of memory for a %zu-byte response", len);
    }
    gw_slot_done(g, s);
}

static slot_t *slot_new(conn_t *c, int minor, bool keep_alive) {
    slot_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->conn = c;
    s->minor = minor;
    s->keep_alive = keep_alive;
    if (c->tail) c->tail->next = s;
    else c->head = s;
    c->tail = s;
    c->nslots++;
    return s;
}

static void answer_error(gw_t *g, conn_t *c, int status) {
    slot_t *s = slot_new(c, 1, false);
    if (!s) {
        c->closing = true;
        return;
    }
    char body[128];
    int n = snprintf(body, sizeof body, "%d %s\n", status, corral_http_reason(status));
    if (status == 408) g->metrics.http_errors[3]++;
    else if (status == 413 || status == 431) g->metrics.http_errors[4]++;
    else if (status == 400) g->metrics.http_errors[0]++;
    else g->metrics.http_errors[5]++;
    gw_respond(g, s, status, "text/plain", body, (size_t)n, NULL);
}

/* Parse and answer every complete request in the input buffer. */
static void conn_process(gw_t *g, conn_t *c) {
    while (c->fd >= 0 && c->in.len && conn_may_read(g, c)) {
        corral_http_req_t req;
        int rc = corral_http_parse(&c->parser, c->in.data, c->in.len, g->cfg->max_header,
                                   g->cfg->max_body, &req);
        if (rc == CORRAL_HTTP_MORE) {
            if (corral_http_have_header(&c->parser) && c->parser.req.expect_continue &&
                !c->continue_sent && !c->head) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                corral_buf_append(&c->out, cont, sizeof cont - 1);
                c->continue_sent = true;
            }
            break;
        }
        if (rc != CORRAL_HTTP_DONE) {
            answer_error(g, c, rc);
            c->in.len = 0;
            break;
        }
        slot_t *s = slot_new(c, req.minor, req.keep_alive);
        if (!s) {
            c->closing = true;
            break;
        }
        gw_handle_http(g, c, s, &req); /* may flush, and a failed write may close c */
        if (c->fd < 0) return;
        corral_buf_consume(&c->in, req.total);
        corral_http_parser_reset(&c->parser);
        c->continue_sent = false;
    }
    if (conn_write(g, c) < 0) return;
    conn_set_deadline(g, c);
    conn_update_events(g, c);
}

static void conn_drain(gw_t *g, conn_t *c) {
    char junk[16384];
    ssize_t n = recv(c->fd, junk, sizeof junk, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) conn_close(g, c);
}

static void conn_read(gw_t *g, conn_t *c) {
    if (c->lingering) {
        conn_drain(g, c);
        return;
    }
    /* TLS may hold decrypted bytes the socket no longer signals: read on
       until it wants more, bounded by one chunk's worth per turn. */
    size_t budget = GW_READ_CHUNK;
    for (;;) {
        if (corral_buf_reserve(&c->in, GW_READ_CHUNK) < 0) {
            conn_close(g, c);
            return;
        }
        ssize_t n = conn_recv(c, c->in.data + c->in.len, c->in.cap - c->in.len);
        if (n == -1) break;
        if (n < -1) {
            /* A refused handshake (plain HTTP on the TLS port, no client
               certificate) ends without a reset; a broken socket just ends. */
            if (c->ssl) conn_linger(g, c, false);
            else conn_close(g, c);
            return;
        }
        if (n == 0) {
            c->peer_closed = true;
            if (c->nslots == 0 && c->out.len == c->out_off) {
                conn_close(g, c);
                return;
            }
            break;
        }
        c->in.len += (size_t)n;
        c->last_read = corral_mono_ms();
        if (!c->ssl || !SSL_has_pending(c->ssl)) break;
        if ((size_t)n >= budget) {
            conn_schedule_resume(g, c); /* the rest next turn: others get theirs first */
            break;
        }
        budget -= (size_t)n;
    }
    conn_process(g, c);
}

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

/* Handle what the broker sent. Returns true if it stopped at the batch
   bound with messages perhaps left: ZMQ_FD signals only edges, so the loop
   must then come back without waiting. */
static bool drain_broker(gw_t *g) {
    for (int i = 0; i < GW_ZMQ_BATCH; i++) {
        corral_msg_t *msg = corral_actor_recv(g->actor, ZMQ_DONTWAIT);
        if (!msg) {
            if (errno == EAGAIN || errno == ETERM) return false;
            continue;
        }
        gw_handle_message(g, msg);
        corral_msg_destroy(&msg);
    }
    return true;
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

/* The end of a loop turn. Any zmq_send may swallow the DEALER's ZMQ_FD edge
   for replies that arrived meanwhile, so the turn must end with a drain
   that no send follows; resumed connections send, hence the rounds. True
   if work is left for the next turn (then it must not sleep). */
static bool finish_turn(gw_t *g) {
    for (int round = 0; round < 8; round++) {
        bool more = drain_broker(g);
        expire_calls(g);
        if (more) return true;
        if (!g->nresume) return false;
        run_resumes(g);
    }
    return true;
}

static void *gw_run(void *arg) {
    gw_t *g = arg;
    pthread_setname_np(pthread_self(), "gateway");
    struct epoll_event events[GW_EVENTS];
    int64_t next_sweep = corral_mono_ms() + GW_TICK_MS;
    bool busy = false;
    while (!atomic_load(&g->stop)) {
        int64_t now = corral_mono_ms(), wake = next_sweep;
        int64_t dl = calls_next_deadline(g->calls);
        if (dl < wake) wake = dl;
        int timeout = busy || wake <= now ? 0 : (int)(wake - now);
        int n = epoll_wait(g->epoll_fd, events, GW_EVENTS, timeout);
        for (int i = 0; i < n; i++) {
            void *tag = events[i].data.ptr;
            if (tag == &LISTEN_TAG) {
                accept_all(g);
            } else if (tag != &ZMQ_TAG) {
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
                                     char *err, size_t errlen, int *in_use) {
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
    g->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = (void *)&LISTEN_TAG};
    struct epoll_event zev = {.events = EPOLLIN, .data.ptr = (void *)&ZMQ_TAG};
    if (g->epoll_fd < 0 || epoll_ctl(g->epoll_fd, EPOLL_CTL_ADD, g->listen_fd, &lev) < 0 ||
        epoll_ctl(g->epoll_fd, EPOLL_CTL_ADD, g->zmq_fd, &zev) < 0) {
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
