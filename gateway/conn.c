/* corral — the gateway's connections: reading, parsing into response
   slots, writing in order, TLS or plain, deadlines and lingering close.
   The loop that drives them is gateway.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "corral/log.h"
#include "gateway/gw.h"

#define GW_READ_CHUNK 65536
#define GW_LINGER_MS 2000       /* how long a closing connection's input is drained */

void conn_set_events(gw_t *g, conn_t *c, uint32_t events) {
    if (c->events == events) return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(g->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        LOG_WARN("gateway", "epoll_ctl fd %d: %s", c->fd, strerror(errno));
    c->events = events;
}

/* Close now; free at the end of the loop turn, because the same turn may
   still hold events or replies naming this connection (they see fd < 0). */
void conn_close(gw_t *g, conn_t *c) {
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

void free_dead(gw_t *g) {
    while (g->dead) {
        conn_t *c = g->dead;
        g->dead = c->next;
        free(c);
    }
}

/* Whether the connection should read more: not while its answers pile up. */
bool conn_may_read(gw_t *g, conn_t *c) {
    return !c->peer_closed && !c->closing && c->nslots < g->cfg->max_pipeline &&
           c->out.len - c->out_off < g->cfg->max_output_queue;
}

void conn_update_events(gw_t *g, conn_t *c) {
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
void conn_set_deadline(gw_t *g, conn_t *c) {
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
int conn_write(gw_t *g, conn_t *c) {
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

void answer_error(gw_t *g, conn_t *c, int status) {
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
void conn_process(gw_t *g, conn_t *c) {
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

void conn_read(gw_t *g, conn_t *c) {
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
