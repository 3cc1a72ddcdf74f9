/* corral — an actor's DEALER end of the broker. */
#include "corral/actor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "corral/config.h"
#include "corral/log.h"

/* A reply must not stall an actor forever when the broker's queue is full;
   past this bound it is dropped with a log line (the caller's deadline then
   answers fault 4). */
#define ACTOR_SEND_TIMEOUT_MS 2000

struct corral_actor {
    void *sock;
    char address[CORRAL_ADDR_MAX];
    msgpack_sbuffer out;
    msgpack_packer pk;
    int max_depth;
};

static int send_body(corral_actor_t *self, const corral_msg_t *route_of) {
    /* Route frames of the request, then the delimiter, then the body. */
    int nroute = route_of ? route_of->nroute : 0;
    for (int i = 0; i < nroute; i++) {
        zmq_msg_t copy;
        zmq_msg_init(&copy);
        zmq_msg_copy(&copy, (zmq_msg_t *)&route_of->route[i]);
        if (zmq_msg_send(&copy, self->sock, ZMQ_SNDMORE) < 0) {
            zmq_msg_close(&copy);
            return -1;
        }
    }
    if (zmq_send(self->sock, "", 0, ZMQ_SNDMORE) < 0) return -1;
    if (zmq_send(self->sock, self->out.data, self->out.size, 0) < 0) return -1;
    return 0;
}

corral_actor_t *corral_actor_new(void *zctx, const char *endpoint, const char *address,
                                 const char *identity, const char *secret, int sndhwm) {
    return corral_actor_new_hwm(zctx, endpoint, address, identity, secret, sndhwm, sndhwm);
}

corral_actor_t *corral_actor_new_hwm(void *zctx, const char *endpoint, const char *address,
                                     const char *identity, const char *secret, int sndhwm, int rcvhwm) {
    corral_actor_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    snprintf(self->address, sizeof self->address, "%s", address);
    msgpack_sbuffer_init(&self->out);
    msgpack_packer_init(&self->pk, &self->out, msgpack_sbuffer_write);
    self->sock = zmq_socket(zctx, ZMQ_DEALER);
    if (!self->sock) goto fail;
    const char *id = identity ? identity : address;
    int linger = 0, tmo = ACTOR_SEND_TIMEOUT_MS;
    zmq_setsockopt(self->sock, ZMQ_ROUTING_ID, id, strlen(id));
    zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(self->sock, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm);
    zmq_setsockopt(self->sock, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    zmq_setsockopt(self->sock, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    if (zmq_connect(self->sock, endpoint) < 0) {
        LOG_ERROR("actor", "%s: connect %s: %s", address, endpoint, zmq_strerror(errno));
        goto fail;
    }
    msgpack_packer *pk = corral_actor_send_begin(self, CORRAL_K_CONTROL, "broker", "hello");
    msgpack_pack_array(pk, secret ? 2 : 1);
    corral_pack_cstr(pk, address);
    if (secret) corral_pack_cstr(pk, secret);
    if (corral_actor_send_end(self) < 0) {
        LOG_ERROR("actor", "%s: hello: %s", address, zmq_strerror(errno));
        goto fail;
    }
    return self;
fail:
    if (self->sock) zmq_close(self->sock);
    msgpack_sbuffer_destroy(&self->out);
    free(self);
    return NULL;
}

void corral_actor_destroy(corral_actor_t **pself) {
    corral_actor_t *self = *pself;
    if (!self) return;
    msgpack_packer *pk = corral_actor_send_begin(self, CORRAL_K_CONTROL, "broker", "bye");
    msgpack_pack_array(pk, 0);
    int tmo = 0;
    zmq_setsockopt(self->sock, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    corral_actor_send_end(self); /* best effort: the context may be ending */
    zmq_close(self->sock);
    msgpack_sbuffer_destroy(&self->out);
    free(self);
    *pself = NULL;
}

void corral_actor_set_send_timeout(corral_actor_t *self, int ms) {
    zmq_setsockopt(self->sock, ZMQ_SNDTIMEO, &ms, sizeof ms);
}

void *corral_actor_socket(corral_actor_t *self) { return self->sock; }

const char *corral_actor_address(corral_actor_t *self) { return self->address; }

void corral_msg_destroy(corral_msg_t **pmsg) {
    corral_msg_t *msg = *pmsg;
    if (!msg) return;
    for (int i = 0; i < msg->nroute; i++) zmq_msg_close(&msg->route[i]);
    zmq_msg_close(&msg->body);
    msgpack_zone_destroy(&msg->zone);
    free(msg);
    *pmsg = NULL;
}

/* Read the frames of one message into msg. 0, or -1 (errno EAGAIN/ETERM/EPROTO). */
static int recv_frames(corral_actor_t *self, corral_msg_t *msg, int flags) {
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, self->sock, flags) < 0) {
            zmq_msg_close(&part);
            return -1;
        }
        flags = 0; /* the rest of a multipart message is already here */
        int more = zmq_msg_more(&part);
        if (zmq_msg_size(&part) == 0 && more) { /* the delimiter: the body follows */
            zmq_msg_close(&part);
            if (zmq_msg_recv(&msg->body, self->sock, 0) < 0) return -1;
            bool extra = zmq_msg_more(&msg->body);
            while (zmq_msg_more(&msg->body)) { /* drain frames past the body */
                zmq_msg_t junk;
                zmq_msg_init(&junk);
                zmq_msg_recv(&junk, self->sock, 0);
                int m = zmq_msg_more(&junk);
                zmq_msg_close(&junk);
                if (!m) break;
            }
            if (extra) {
                errno = EPROTO;
                return -1;
            }
            return 0;
        }
        if (!more || msg->nroute == CORRAL_MAX_HOPS) {
            zmq_msg_close(&part);
            while (more) { /* drain a message with no delimiter or too many hops */
                zmq_msg_init(&part);
                if (zmq_msg_recv(&part, self->sock, 0) < 0) break;
                more = zmq_msg_more(&part);
                zmq_msg_close(&part);
            }
            errno = EPROTO;
            return -1;
        }
        msg->route[msg->nroute++] = part;
    }
}

corral_msg_t *corral_actor_recv(corral_actor_t *self, int flags) {
    corral_msg_t *msg = calloc(1, sizeof *msg);
    if (!msg) {
        errno = ENOMEM;
        return NULL;
    }
    zmq_msg_init(&msg->body);
    msgpack_zone_init(&msg->zone, 1024);
    if (recv_frames(self, msg, flags) < 0) {
        int e = errno;
        if (e == EPROTO) LOG_WARN("actor", "%s: dropped a message without a well-formed frame layout",
                                  self->address);
        corral_msg_destroy(&msg);
        errno = e;
        return NULL;
    }
    corral_fault_t f;
    /* Values were checked by the gateway; here only the envelope itself. */
    if (corral_env_decode(zmq_msg_data(&msg->body), zmq_msg_size(&msg->body), &msg->zone, -1,
                          &msg->env, &f) < 0) {
        LOG_WARN("actor", "%s: dropped a malformed envelope: %s", self->address, f.msg);
        if (msg->env.kind == CORRAL_K_REQUEST && msg->env.id)
            corral_actor_fault(self, msg, CORRAL_F_REQUEST, "%s", f.msg);
        corral_msg_destroy(&msg);
        errno = EPROTO;
        return NULL;
    }
    return msg;
}

msgpack_packer *corral_actor_reply_begin(corral_actor_t *self, const corral_msg_t *req) {
    msgpack_sbuffer_clear(&self->out);
    corral_env_reply_begin(&self->pk, req->env.id);
    return &self->pk;
}

int corral_actor_reply_end(corral_actor_t *self, const corral_msg_t *req) {
    if (req->env.kind != CORRAL_K_REQUEST) return 0; /* events and controls get no reply */
    if (send_body(self, req) < 0) {
        LOG_WARN("actor", "%s: reply to request %llu lost: %s", self->address,
                 (unsigned long long)req->env.id, zmq_strerror(errno));
        return -1;
    }
    return 0;
}

int corral_actor_fault(corral_actor_t *self, const corral_msg_t *req, int code, const char *fmt, ...) {
    corral_fault_t f;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f.msg, sizeof f.msg, fmt, ap);
    va_end(ap);
    f.code = code;
    return corral_actor_fault_f(self, req, &f);
}

int corral_actor_fault_f(corral_actor_t *self, const corral_msg_t *req, const corral_fault_t *f) {
    if (req->env.kind != CORRAL_K_REQUEST) return 0;
    msgpack_sbuffer_clear(&self->out);
    corral_env_pack_fault(&self->pk, req->env.id, f->code, f->msg, strlen(f->msg));
    return corral_actor_reply_end(self, req);
}

msgpack_packer *corral_actor_send_begin(corral_actor_t *self, corral_kind_t kind, const char *to,
                                        const char *method) {
    msgpack_sbuffer_clear(&self->out);
    corral_env_request_begin(&self->pk, kind, 0, to, strlen(to), self->address, strlen(self->address),
                             CORRAL_ROLE_NONE, 0, method, strlen(method));
    return &self->pk;
}

msgpack_packer *corral_actor_request_begin(corral_actor_t *self, uint64_t id, const char *to,
                                           size_t to_len, const char *method, size_t m_len,
                                           const char *user, int role, int64_t dl) {
    msgpack_sbuffer_clear(&self->out);
    corral_env_request_begin(&self->pk, CORRAL_K_REQUEST, id, to, to_len, user, strlen(user), role, dl,
                             method, m_len);
    return &self->pk;
}

int corral_actor_send_end(corral_actor_t *self) { return send_body(self, NULL); }

bool corral_msg_expired(const corral_msg_t *msg) {
    return msg->env.dl > 0 && corral_now_ms() > msg->env.dl;
}

bool corral_msg_may_control(const corral_msg_t *msg, const char *owner) {
    if (msg->env.role == CORRAL_ROLE_ADMIN) return true;
    size_t n = strlen(owner);
    return msg->env.role >= CORRAL_ROLE_OPERATOR && msg->env.user_len == n &&
           memcmp(msg->env.user, owner, n) == 0;
}
