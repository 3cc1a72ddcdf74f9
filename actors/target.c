/* corral — the target actor: one thread per traced program, which is its
   tracer. This file holds the thread, its event loop, the dispatch of
   requests, TargetInfo, the event log and the parked wait/events calls.

   The loop polls, in one zmq_poll: the DEALER socket, the reaper mailbox
   (child statuses, see corral/reaper.h), the program's stdout and stderr
   pipes and, while input is queued, its stdin pipe; the timeout is that of
   the nearest parked call. Nothing here blocks for longer than a bounded
   ptrace round (TGT_STOP_MS), so calls to this target are answered while
   others wait. */
#include "actors/target_int.h"
#include "actors/ptrace_ops.h"
#include "corral/target.h"
#include "corral/log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static atomic_int live_threads;

int corral_target_threads(void) { return atomic_load(&live_threads); }

const char *tgt_method(const corral_msg_t *msg) {
    static __thread char m[64];
    const corral_env_t *e = &msg->env;
    size_t skip = e->m_len > 7 && memcmp(e->m, "target.", 7) == 0 ? 7 : 0;
    snprintf(m, sizeof m, "%.*s", (int)(e->m_len - skip), e->m + skip);
    return m;
}

int tgt_fault(target_t *t, const corral_msg_t *msg, int code, const char *fmt, ...) {
    char text[CORRAL_FAULT_MAX - 96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return corral_actor_fault(t->actor, msg, code, "target %s: %s: %s", t->address,
                              tgt_method(msg), text);
}

static const char *state_name(tstate_t s) {
    static const char *names[] = {"running", "stopped", "exited", "killed", "detached"};
    return names[s];
}

void tgt_pack_info(target_t *t, msgpack_packer *pk) {
    bool ended = t->state == TS_EXITED || t->state == TS_KILLED;
    bool stopped = t->state == TS_STOPPED;
    int n = 11 + (t->has_exit ? 1 : 0) + (ended || t->state == TS_DETACHED ? 1 : 0) + (stopped ? 1 : 0);
    msgpack_pack_map(pk, (size_t)n);
    corral_pack_kv_cstr(pk, "id", t->address);
    corral_pack_kv_cstr(pk, "name", t->name);
    corral_pack_kv_cstr(pk, "node", t->node);
    corral_pack_kv_int(pk, "pid", t->pid);
    corral_pack_cstr(pk, "argv");
    msgpack_pack_array(pk, (size_t)t->argc);
    for (int i = 0; i < t->argc; i++) corral_pack_cstr(pk, t->argv[i]);
    corral_pack_kv_cstr(pk, "state", state_name(t->state));
    corral_pack_kv_cstr(pk, "stopReason", stopped ? t->reason : "");
    corral_pack_kv_int(pk, "signal", t->signal);
    corral_pack_kv_time(pk, "startedAt", t->started_sec, t->started_nsec);
    corral_pack_kv_int(pk, "breakpoints", (int64_t)t->nbps);
    corral_pack_kv_cstr(pk, "owner", t->owner);
    if (t->has_exit) corral_pack_kv_int(pk, "exitCode", t->exit_code);
    if (ended || t->state == TS_DETACHED) corral_pack_kv_time(pk, "endedAt", t->ended_sec, t->ended_nsec);
    if (stopped) corral_pack_kv_int(pk, "pc", (int64_t)t->pc);
}

int tgt_reply_info(target_t *t, const corral_msg_t *msg) {
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    tgt_pack_info(t, pk);
    return corral_actor_reply_end(t->actor, msg);
}

/* Tell the supervisor, which serves target.list from these. */
void tgt_notify(target_t *t) {
    msgpack_packer *pk = corral_actor_send_begin(t->actor, CORRAL_K_EVENT, t->sup, "target.state");
    msgpack_pack_array(pk, 1);
    tgt_pack_info(t, pk);
    if (corral_actor_send_end(t->actor) != 0)
        LOG_WARN("target", "%s: state event to %s: %s", t->address, t->sup, strerror(errno));
}

void tgt_event(target_t *t, const char *type, pid_t tid, pid_t child) {
    size_t cap = (size_t)t->cfg->event_log;
    /* The log grows by doubling up to its bound: most targets log a few
       events, and a full 1024-entry log would make ~80 KiB resident in
       each. It wraps only once at the bound, so until then ev_head is 0
       and a plain realloc keeps the order. */
    if (t->ev_len == t->ev_cap && t->ev_cap < cap) {
        size_t ncap = t->ev_cap ? t->ev_cap * 2 : 16;
        if (ncap > cap) ncap = cap;
        tevent_t *ne = realloc(t->events, ncap * sizeof *ne);
        if (!ne) return;
        t->events = ne;
        t->ev_cap = ncap;
    }
    if (t->ev_len == cap) {            /* the log is bounded: old events fall off */
        t->ev_head = (t->ev_head + 1) % cap;
        t->ev_len--;
    }
    tevent_t *e = &t->events[(t->ev_head + t->ev_len++) % cap];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    bool stopped = strcmp(type, "stopped") == 0;
    int bp = stopped ? t->stop_bp : 0;
    *e = (tevent_t){.seq = ++t->next_seq, .sec = ts.tv_sec, .nsec = (uint32_t)ts.tv_nsec,
                    .type = type, .reason = stopped ? t->reason : "", .sig = t->signal,
                    .exit_code = t->exit_code, .has_exit = strcmp(type, "exited") == 0,
                    .pc = stopped ? t->pc : 0, .tid = tid, .child = child, .bp = bp};
}

static void pack_event(msgpack_packer *pk, const tevent_t *e) {
    msgpack_pack_map(pk, (size_t)(8 + (e->has_exit ? 1 : 0) + (e->child ? 1 : 0)));
    corral_pack_kv_int(pk, "seq", e->seq);
    corral_pack_kv_time(pk, "time", e->sec, e->nsec);
    corral_pack_kv_cstr(pk, "type", e->type);
    corral_pack_kv_cstr(pk, "stopReason", e->reason);
    corral_pack_kv_int(pk, "signal", e->sig);
    corral_pack_kv_int(pk, "pc", (int64_t)e->pc);
    corral_pack_kv_int(pk, "bp", e->bp);
    corral_pack_kv_int(pk, "tid", e->tid);
    if (e->has_exit) corral_pack_kv_int(pk, "exitCode", e->exit_code);
    if (e->child) corral_pack_kv_int(pk, "pid", e->child);
}

/* Events after seq `after` (at most max_n). */
static void reply_events(target_t *t, const corral_msg_t *msg, int64_t after) {
    size_t cap = (size_t)t->cfg->event_log, first = 0, n = 0;
    while (first < t->ev_len && t->events[(t->ev_head + first) % cap].seq <= after) first++;
    n = t->ev_len - first;
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    msgpack_pack_map(pk, 2);
    corral_pack_cstr(pk, "events");
    msgpack_pack_array(pk, n);
    int64_t next = after;
    for (size_t i = first; i < t->ev_len; i++) {
        const tevent_t *e = &t->events[(t->ev_head + i) % cap];
        pack_event(pk, e);
        next = e->seq;
    }
    corral_pack_kv_int(pk, "next", next);
    corral_actor_reply_end(t->actor, msg);
}

static bool has_events_after(target_t *t, int64_t after) {
    return t->ev_len > 0 && t->next_seq > after;
}

/* Answer the parked calls that are due or satisfied; drop expired ones
   (the gateway has answered them with fault 4 already). */
static void check_parked(target_t *t) {
    int64_t now = corral_mono_ms();
    int j = 0;
    for (int i = 0; i < t->nparked; i++) {
        parked_t *p = &t->parked[i];
        bool done = true;
        if (corral_msg_expired(p->msg)) {
        } else if (p->kind == PK_WAIT && (t->state != TS_RUNNING || now >= p->due)) {
            tgt_reply_info(t, p->msg);
        } else if (p->kind == PK_EVENTS && (has_events_after(t, p->after) || now >= p->due)) {
            reply_events(t, p->msg, p->after);
        } else done = false;
        if (done) corral_msg_destroy(&p->msg);
        else t->parked[j++] = *p;
    }
    t->nparked = j;
}

static int next_due(target_t *t) {
    if (t->nparked == 0) return -1;
    int64_t now = corral_mono_ms(), best = INT64_MAX;
    for (int i = 0; i < t->nparked; i++)
        if (t->parked[i].due < best) best = t->parked[i].due;
    return best <= now ? 0 : (int)(best - now > 600000 ? 600000 : best - now);
}

/* target.wait(id, timeoutMs) and target.events(id, after, timeoutMs):
   answered at once when satisfied, else parked. 1 when parked. */
static int park(target_t *t, corral_msg_t *msg, int kind) {
    const msgpack_object *p = msg->env.p;
    int64_t after = 0, timeout = 0;
    uint32_t ti = kind == PK_WAIT ? 1 : 2;
    if ((kind == PK_EVENTS && !corral_value_int(corral_param(p, 1), &after)) ||
        !corral_value_int(corral_param(p, ti), &timeout) || timeout < 0 || after < 0)
        return tgt_fault(t, msg, CORRAL_F_PARAMS, kind == PK_WAIT ? "timeoutMs must be an int >= 0"
                         : "after and timeoutMs must be ints >= 0"), 0;
    if (timeout > t->cfg->max_wait_ms) timeout = t->cfg->max_wait_ms;
    bool ready = kind == PK_WAIT ? t->state != TS_RUNNING : has_events_after(t, after);
    if (ready || timeout == 0) {
        if (kind == PK_WAIT) tgt_reply_info(t, msg);
        else reply_events(t, msg, after);
        return 0;
    }
    if (t->nparked == TGT_MAX_PARKED)
        return tgt_fault(t, msg, CORRAL_F_BUSY, "%d calls already wait on this target",
                         TGT_MAX_PARKED), 0;
    t->parked[t->nparked++] = (parked_t){msg, corral_mono_ms() + timeout, kind, after};
    return 1;
}

int tgt_next_status(target_t *t, int timeout_ms, pid_t *tid, int *st) {
    int64_t end = corral_mono_ms() + timeout_ms;
    for (;;) {
        if (corral_reaper_box_take(t->box, tid, st)) return 1;
        int64_t left = end - corral_mono_ms();
        if (left <= 0) return 0;
        struct pollfd pf = {.fd = corral_reaper_box_fd(t->box), .events = POLLIN};
        poll(&pf, 1, (int)left);
    }
}

static bool is_control(const char *m) {
    static const char *ro[] = {"info", "threads", "registers", "maps", "readMemory", "symbol",
                               "symbolize", "breakpoints", "events", "readOutput", "wait", NULL};
    for (int i = 0; ro[i]; i++)
        if (strcmp(m, ro[i]) == 0) return false;
    return true;
}

/* Handle one request; returns 1 when the message was kept (parked). */
static int dispatch(target_t *t, corral_msg_t *msg) {
    if (msg->env.kind != CORRAL_K_REQUEST) return 0;
    const char *m = tgt_method(msg);
    if (is_control(m) && !corral_msg_may_control(msg, t->owner))
        return tgt_fault(t, msg, CORRAL_F_PERM, "%.*s may not control a target of %s",
                         (int)msg->env.user_len, msg->env.user, t->owner), 0;
    if (strcmp(m, "info") == 0) return tgt_reply_info(t, msg), 0;
    if (strcmp(m, "wait") == 0) return park(t, msg, PK_WAIT);
    if (strcmp(m, "events") == 0) return park(t, msg, PK_EVENTS);
    if (tgt_dispatch_control(t, msg, m) || tgt_dispatch_inspect(t, msg, m) ||
        tgt_dispatch_bp(t, msg, m) || tgt_dispatch_io(t, msg, m))
        return 0;
    corral_actor_fault(t->actor, msg, CORRAL_F_METHOD, "target %s: no method %.*s", t->address,
                       (int)msg->env.m_len, msg->env.m);
    return 0;
}

static void drain_statuses(target_t *t) {
    pid_t tid;
    int st;
    while (corral_reaper_box_take(t->box, &tid, &st)) tgt_handle_status(t, tid, st);
}

static void loop(target_t *t) {
    while (!t->quit) {
        zmq_pollitem_t it[5] = {{corral_actor_socket(t->actor), 0, ZMQ_POLLIN, 0},
                                {NULL, corral_reaper_box_fd(t->box), ZMQ_POLLIN, 0}};
        int n = 2, iout = -1, ierr = -1, iin = -1;
        if (t->out.fd >= 0) it[iout = n++] = (zmq_pollitem_t){NULL, t->out.fd, ZMQ_POLLIN, 0};
        if (t->err.fd >= 0) it[ierr = n++] = (zmq_pollitem_t){NULL, t->err.fd, ZMQ_POLLIN, 0};
        if (t->in_fd >= 0 && t->inbuf.len > 0) it[iin = n++] = (zmq_pollitem_t){NULL, t->in_fd, ZMQ_POLLOUT, 0};
        if (zmq_poll(it, n, next_due(t)) < 0) {
            if (errno == ETERM) return;
            if (errno != EINTR) LOG_ERROR("target", "%s: zmq_poll: %s", t->address, strerror(errno));
            continue;
        }
        drain_statuses(t);
        /* Only what poll named: a call to target.info should cost no reads
           of the program's pipes. */
        if (iout >= 0 && it[iout].revents && t->out.fd >= 0) tgt_io_read(t, &t->out);
        if (ierr >= 0 && it[ierr].revents && t->err.fd >= 0) tgt_io_read(t, &t->err);
        if (iin >= 0 && it[iin].revents && t->in_fd >= 0 && t->inbuf.len > 0) tgt_io_flush(t);
        for (int i = 0; i < 64 && !t->quit; i++) {
            corral_msg_t *msg = corral_actor_recv(t->actor, ZMQ_DONTWAIT);
            if (!msg) {
                if (errno == ETERM) return;
                if (errno == EAGAIN) break;
                continue;
            }
            if (!dispatch(t, msg)) corral_msg_destroy(&msg);
            drain_statuses(t);
        }
        check_parked(t);
    }
}

typedef struct spawn_arg {
    void *zctx;
    const corral_config_t *cfg;
    char address[CORRAL_ADDR_MAX];
    corral_msg_t *msg;
} spawn_arg_t;

static void target_free(target_t *t) {
    for (int i = 0; i < t->nparked; i++) corral_msg_destroy(&t->parked[i].msg);
    tgt_io_close(t);
    for (int i = 0; i < t->argc; i++) free(t->argv[i]);
    free(t->argv);
    free(t->threads);
    free(t->bps);
    free(t->events);
    free(t->out.data);
    free(t->err.data);
    corral_buf_free(&t->inbuf);
    elf_cache_destroy(&t->elf);
    corral_reaper_box_destroy(&t->box);
    corral_actor_destroy(&t->actor);
    free(t);
}

/* Run the launch/attach request; 0 when the target lives. */
static int start(target_t *t, corral_msg_t *msg) {
    corral_fault_t f = {0, ""};
    const char *m = tgt_method(msg);
    int rc = strcmp(m, "attach") == 0 ? tgt_attach(t, msg, &f) : tgt_launch(t, msg, &f);
    if (rc != 0) {
        corral_actor_fault(t->actor, msg, f.code ? f.code : CORRAL_F_LAUNCH, "target %s: %s: %s",
                           t->address, m, f.msg);
        return -1;
    }
    tgt_reply_info(t, msg);
    tgt_notify(t);
    return 0;
}

static void *target_main(void *argp) {
    spawn_arg_t *a = argp;
    char name[16]; /* the kernel keeps 15 bytes: "t12@node" shows in top -H */
    snprintf(name, sizeof name, "%.15s", a->address);
    pthread_setname_np(pthread_self(), name);
    /* Statuses come from the reaper; SIGPIPE on a closed stdin pipe must
       turn into EPIPE, not a signal. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    target_t *t = calloc(1, sizeof *t);
    corral_msg_t *msg = a->msg;
    if (!t) goto oom;
    t->cfg = a->cfg;
    snprintf(t->address, sizeof t->address, "%s", a->address);
    const char *at = strchr(t->address, '@');
    t->node = at ? at + 1 : "";
    snprintf(t->sup, sizeof t->sup, "%s%s", CORRAL_SUP_PREFIX, t->node);
    snprintf(t->owner, sizeof t->owner, "%.*s", (int)msg->env.user_len, msg->env.user);
    t->in_fd = t->out.fd = t->err.fd = -1;
    t->reason = "";
    t->box = corral_reaper_box_new(t->address, (pid_t)syscall(SYS_gettid));
    t->elf = elf_cache_new();
    t->actor = corral_actor_new(a->zctx, CORRAL_BROKER_INPROC, t->address, t->address, NULL,
                                t->cfg->sndhwm);
    if (!t->box || !t->elf || !t->actor) {
        LOG_ERROR("target", "%s: cannot start: %s", a->address, strerror(errno));
        target_free(t);
        goto oom;
    }
    if (start(t, msg) == 0) {
        corral_msg_destroy(&msg);
        loop(t);
        if (t->state == TS_RUNNING || t->state == TS_STOPPED) tgt_kill_and_reap(t);
    } else {
        corral_msg_destroy(&msg);
    }
    msgpack_packer *pk = corral_actor_send_begin(t->actor, CORRAL_K_EVENT, t->sup, "target.removed");
    msgpack_pack_array(pk, 1);
    corral_pack_cstr(pk, t->address);
    corral_actor_send_end(t->actor);
    target_free(t);
    free(a);
    atomic_fetch_sub(&live_threads, 1);
    return NULL;
oom:
    /* Without an actor there is no route to answer on; the gateway's
       deadline answers the caller with fault 4. */
    corral_msg_destroy(&msg);
    free(a);
    atomic_fetch_sub(&live_threads, 1);
    return NULL;
}

int corral_target_spawn(void *zctx, const corral_config_t *cfg, const char *address,
                        corral_msg_t *msg, corral_fault_t *f) {
    if (corral_reaper_start(zctx, cfg) != 0)
        return corral_fault_set(f, CORRAL_F_INTERNAL, "target %s: reaper: %s", address,
                                strerror(errno));
    spawn_arg_t *a = calloc(1, sizeof *a);
    if (!a) return corral_fault_set(f, CORRAL_F_BUSY, "target %s: out of memory", address);
    a->zctx = zctx;
    a->cfg = cfg;
    a->msg = msg;
    snprintf(a->address, sizeof a->address, "%s", address);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The deepest frames of a target thread (NSS lookups at launch, the
       /proc readers, libzmq) need a few tens of KiB; only touched pages
       are resident, but a smaller mapping keeps 1,000 threads' address
       space and page tables small. */
    pthread_attr_setstacksize(&attr, TGT_STACK);
    pthread_t th;
    atomic_fetch_add(&live_threads, 1);
    int rc = pthread_create(&th, &attr, target_main, a);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        atomic_fetch_sub(&live_threads, 1);
        free(a);
        return corral_fault_set(f, CORRAL_F_BUSY, "target %s: no thread: %s", address,
                                strerror(rc));
    }
    return 0;
}
