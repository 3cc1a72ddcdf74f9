/* corral — the program's standard streams. stdout and stderr are read,
   non-blocking, into rings of cfg->output_buffer bytes each (older bytes
   fall off and are counted as dropped); stdin is written non-blocking from
   a queue of at most cfg->input_buffer bytes, so a program that does not
   read its input never blocks the actor. */
#include "actors/target_int.h"
#include "corral/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define READ_ROUND (1u << 20)   /* per loop turn, so other work is not starved */

/* Read at most max bytes straight into the ring, around its wrap point
   (older bytes fall off): no bounce buffer, so no copy, and no 64 KiB of
   stack made resident in every target thread whose program ever prints. */
static ssize_t ring_read(ring_t *r, size_t max) {
    if (!r->cap) {                        /* no ring: the bytes are dropped */
        unsigned char sink[512];
        return read(r->fd, sink, max < sizeof sink ? max : sizeof sink);
    }
    size_t at = (size_t)(r->end % r->cap), first = r->cap - at < max ? r->cap - at : max;
    size_t second = max - first < at ? max - first : at;
    struct iovec iov[2] = {{r->data + at, first}, {r->data, second}};
    ssize_t n = readv(r->fd, iov, second ? 2 : 1);
    if (n > 0) r->end += (uint64_t)n;
    return n;
}

static uint64_t ring_start(const ring_t *r) { return r->end > r->cap ? r->end - r->cap : 0; }

void tgt_io_read(target_t *t, ring_t *r) {
    for (size_t total = 0; total < READ_ROUND && r->fd >= 0;) {
        ssize_t n = ring_read(r, READ_ROUND - total);
        if (n > 0) {
            total += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n < 0) LOG_WARN("target", "%s: reading output: %s", t->address, strerror(errno));
        close(r->fd);   /* end of file: every writer has closed it */
        r->fd = -1;
        r->eof = true;
    }
}

void tgt_io_flush(target_t *t) {
    while (t->in_fd >= 0 && t->inbuf.len > 0) {
        ssize_t n = write(t->in_fd, t->inbuf.data, t->inbuf.len);
        if (n > 0) {
            corral_buf_consume(&t->inbuf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        /* EPIPE: the program closed its stdin; what is queued can never go */
        corral_buf_clear(&t->inbuf);
        close(t->in_fd);
        t->in_fd = -1;
    }
    if (t->in_close && t->inbuf.len == 0 && t->in_fd >= 0) {
        close(t->in_fd);
        t->in_fd = -1;
    }
}

void tgt_io_close(target_t *t) {
    int *fds[] = {&t->in_fd, &t->out.fd, &t->err.fd};
    for (int i = 0; i < 3; i++)
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
}

static int m_read_output(target_t *t, corral_msg_t *msg) {
    const msgpack_object *p = msg->env.p;
    int64_t off, max;
    ring_t *r = corral_value_streq(corral_param(p, 1), "stdout") ? &t->out
              : corral_value_streq(corral_param(p, 1), "stderr") ? &t->err : NULL;
    if (!r) return tgt_fault(t, msg, CORRAL_F_PARAMS, "stream must be \"stdout\" or \"stderr\"");
    if (!corral_value_int(corral_param(p, 2), &off) || !corral_value_int(corral_param(p, 3), &max) ||
        off < -1 || max < 0 || (uint64_t)max > t->cfg->max_read)
        return tgt_fault(t, msg, CORRAL_F_PARAMS, "offset must be >= -1 and maxBytes within 0..%zu",
                         t->cfg->max_read);
    if (r->fd >= 0) tgt_io_read(t, r);   /* the freshest bytes */
    uint64_t start = ring_start(r), from;
    if (off == -1) from = r->end > (uint64_t)max ? r->end - (uint64_t)max : 0;
    else from = (uint64_t)off;
    if (from < start) from = start;
    if (from > r->end) from = r->end;
    size_t n = (size_t)(r->end - from < (uint64_t)max ? r->end - from : (uint64_t)max);
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    msgpack_pack_map(pk, 5);
    corral_pack_cstr(pk, "data");
    msgpack_pack_bin(pk, n);
    if (n) {
        size_t at = (size_t)(from % r->cap), first = r->cap - at < n ? r->cap - at : n;
        msgpack_pack_bin_body(pk, r->data + at, first);
        if (n > first) msgpack_pack_bin_body(pk, r->data, n - first);
    }
    corral_pack_kv_int(pk, "offset", (int64_t)from);
    corral_pack_kv_int(pk, "next", (int64_t)(from + n));
    corral_pack_kv_bool(pk, "eof", r->eof && from + n == r->end);
    corral_pack_kv_int(pk, "dropped", (int64_t)start);
    return corral_actor_reply_end(t->actor, msg);
}

static int m_write_input(target_t *t, corral_msg_t *msg) {
    const msgpack_object *d = corral_param(msg->env.p, 1);
    if (!d || (d->type != MSGPACK_OBJECT_BIN && d->type != MSGPACK_OBJECT_STR))
        return tgt_fault(t, msg, CORRAL_F_PARAMS, "data must be base64 or a string");
    if (t->in_null || t->in_close || t->in_fd < 0)
        return tgt_fault(t, msg, CORRAL_F_STATE, "stdin is %s", t->in_null ? "/dev/null" : "closed");
    const char *p = d->type == MSGPACK_OBJECT_BIN ? d->via.bin.ptr : d->via.str.ptr;
    size_t n = d->type == MSGPACK_OBJECT_BIN ? d->via.bin.size : d->via.str.size;
    if (t->inbuf.len + n > t->cfg->input_buffer)
        return tgt_fault(t, msg, CORRAL_F_BUSY, "%zu bytes of input are still queued (bound %zu)",
                         t->inbuf.len, t->cfg->input_buffer);
    if (corral_buf_append(&t->inbuf, p, n) != 0)
        return tgt_fault(t, msg, CORRAL_F_BUSY, "out of memory");
    tgt_io_flush(t);
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    msgpack_pack_int64(pk, (int64_t)n);
    return corral_actor_reply_end(t->actor, msg);
}

static int m_close_input(target_t *t, corral_msg_t *msg) {
    t->in_close = true;
    tgt_io_flush(t);
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    msgpack_pack_true(pk);
    return corral_actor_reply_end(t->actor, msg);
}

int tgt_dispatch_io(target_t *t, corral_msg_t *msg, const char *m) {
    if (strcmp(m, "readOutput") == 0) m_read_output(t, msg);
    else if (strcmp(m, "writeInput") == 0) m_write_input(t, msg);
    else if (strcmp(m, "closeInput") == 0) m_close_input(t, msg);
    else return 0;
    return 1;
}
