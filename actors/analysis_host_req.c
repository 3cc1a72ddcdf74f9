/* corral — the analysis host answering analysis.* requests about its own
   run (the supervisor answers once the host has ended; analysis_sup*.c). */
#include "actors/analysis_host.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "corral/log.h"

static void reply_info(host_t *h, const corral_msg_t *m) {
    msgpack_packer *pk = corral_actor_reply_begin(h->actor, m);
    corral_ainfo_pack(&h->info, pk, false);
    corral_actor_reply_end(h->actor, m);
}

void host_waits_tick(host_t *h) {
    int64_t now = corral_now_ms();
    int k = 0;
    for (int i = 0; i < h->nwaits; i++) {
        corral_msg_t *m = h->waits[i];
        if (h->finished || now >= h->wait_until[i]) {
            if (!corral_msg_expired(m)) reply_info(h, m);
            corral_msg_destroy(&m);
        } else {
            h->wait_until[k] = h->wait_until[i];
            h->waits[k++] = m;
        }
    }
    h->nwaits = k;
}

/* A signal given as a number or a name ("SIGTERM", "TERM"). 0 if neither. */
static int parse_signal(const msgpack_object *o) {
    int64_t n;
    if (corral_value_int(o, &n)) return n > 0 && n < NSIG ? (int)n : 0;
    char s[32];
    if (corral_value_strcpy(o, s, sizeof s) < 0) return 0;
    const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
    for (int i = 1; i < NSIG; i++) {
        const char *ab = sigabbrev_np(i);
        if (ab && strcasecmp(ab, name) == 0) return i;
    }
    return 0;
}

static bool live(const host_t *h) { return !corral_astate_ended(h->info.state); }

/* kill, signal, pause, resume: to the program's whole process group. */
static void do_signal(host_t *h, corral_msg_t *m, const char *verb, int sig) {
    const char *id = h->info.id;
    if (!corral_msg_may_control(m, h->info.owner)) {
        corral_actor_fault(h->actor, m, CORRAL_F_PERM, "analysis %s: %s: permission denied (owned by %s)", id,
                           verb, h->info.owner);
        return;
    }
    if (!live(h)) {
        corral_actor_fault(h->actor, m, CORRAL_F_STATE, "analysis %s: %s: it has ended (%s)", id, verb,
                           corral_astate_name(h->info.state));
        return;
    }
    if (sig == SIGSTOP && h->info.state != CORRAL_A_RUNNING) {
        corral_actor_fault(h->actor, m, CORRAL_F_STATE, "analysis %s: pause: it is %s, not running", id,
                           corral_astate_name(h->info.state));
        return;
    }
    if (sig == SIGCONT && !strcmp(verb, "resume") && h->info.state != CORRAL_A_PAUSED) {
        corral_actor_fault(h->actor, m, CORRAL_F_STATE, "analysis %s: resume: it is %s, not paused", id,
                           corral_astate_name(h->info.state));
        return;
    }
    if (host_group_kill(h, sig) < 0) {
        corral_actor_fault(h->actor, m, CORRAL_F_OS, "analysis %s: %s: kill(-%d, %d): %s", id, verb,
                           h->info.pid, sig, strerror(errno));
        return;
    }
    if (strcmp(verb, "pause") && strcmp(verb, "resume")) h->api_signalled = true;
    if (sig == SIGSTOP) h->info.state = CORRAL_A_PAUSED;
    if (sig == SIGCONT && h->info.state == CORRAL_A_PAUSED) h->info.state = CORRAL_A_RUNNING;
    if (sig == SIGKILL) {
        host_group_kill(h, SIGCONT);
        /* SIGKILL is not caught: reaping is a matter of milliseconds, and
           the answer should say killed. */
        for (int i = 0; i < 20 && !host_reap(h, 100); i++) {}
    } else {
        host_reap(h, 20);
    }
    h->state_dirty = true;
    reply_info(h, m);
}

static void do_report(host_t *h, corral_msg_t *m) {
    const msgpack_object *data = corral_param(m->env.p, 1);
    corral_fault_t f;
    if (!data) {
        corral_actor_fault(h->actor, m, CORRAL_F_PARAMS, "analysis.report(id, data): data missing");
        return;
    }
    if (!corral_msg_may_control(m, h->info.owner)) {
        corral_actor_fault(h->actor, m, CORRAL_F_PERM, "analysis %s: report: permission denied", h->info.id);
        return;
    }
    if (h->stored) {
        corral_actor_fault(h->actor, m, CORRAL_F_STATE, "analysis %s: report: it has ended (%s)", h->info.id,
                           corral_astate_name(h->info.state));
        return;
    }
    msgpack_packer *rp = corral_results_begin(h->res);
    msgpack_pack_object(rp, *data);
    int64_t seq = corral_results_commit(h->res, corral_now_ms(), &f);
    if (seq < 0 || corral_results_flush(h->res) < 0) {
        if (seq >= 0) corral_fault_set(&f, CORRAL_F_INTERNAL, "analysis %s: report: write: %s", h->info.id,
                                       strerror(errno));
        corral_actor_fault_f(h->actor, m, &f);
        return;
    }
    h->info.results = (uint64_t)seq;
    h->state_dirty = true;
    msgpack_packer *pk = corral_actor_reply_begin(h->actor, m);
    msgpack_pack_int64(pk, seq);
    corral_actor_reply_end(h->actor, m);
}

static void do_results(host_t *h, corral_msg_t *m) {
    int64_t after = 0, max = 1000;
    const msgpack_object *pa = corral_param(m->env.p, 1), *pm = corral_param(m->env.p, 2);
    if ((pa && !corral_value_int(pa, &after)) || (pm && !corral_value_int(pm, &max)) || max < 0 || after < 0) {
        corral_actor_fault(h->actor, m, CORRAL_F_PARAMS,
                           "analysis.results(id, after, max): after and max are non-negative ints");
        return;
    }
    corral_fault_t f;
    msgpack_packer *pk = corral_actor_reply_begin(h->actor, m);
    if (corral_results_page(h->res, pk, after, max, h->stored, &f) < 0) corral_actor_fault_f(h->actor, m, &f);
    else corral_actor_reply_end(h->actor, m);
}

static void do_read_output(host_t *h, corral_msg_t *m) {
    const msgpack_object *st = corral_param(m->env.p, 1);
    int64_t off = 0, max = 65536;
    int s = corral_value_streq(st, "stdout") ? 0 : corral_value_streq(st, "stderr") ? 1 : -1;
    const msgpack_object *po = corral_param(m->env.p, 2), *pm = corral_param(m->env.p, 3);
    if (s < 0 || (po && !corral_value_int(po, &off)) || (pm && !corral_value_int(pm, &max)) || off < -1) {
        corral_actor_fault(h->actor, m, CORRAL_F_PARAMS,
                           "analysis.readOutput(id, stream, offset, maxBytes): stream is stdout or stderr");
        return;
    }
    corral_fault_t f;
    msgpack_packer *pk = corral_actor_reply_begin(h->actor, m);
    /* Once finished, the ring is on disk (its .tail file) and freed. */
    int rc = h->stored ? corral_aout_read_disk(h->run_dir, s, &h->info, off, max, pk, &f)
                       : corral_aout_read(&h->out[s], off, max, pk, &f);
    if (rc < 0) corral_actor_fault_f(h->actor, m, &f);
    else corral_actor_reply_end(h->actor, m);
}

static void do_input(host_t *h, corral_msg_t *m, bool close_it) {
    const char *id = h->info.id;
    if (!corral_msg_may_control(m, h->info.owner)) {
        corral_actor_fault(h->actor, m, CORRAL_F_PERM, "analysis %s: input: permission denied", id);
        return;
    }
    if (h->fd_in < 0 || h->input_closing) {
        corral_actor_fault(h->actor, m, CORRAL_F_STATE, "analysis %s: its input is closed", id);
        return;
    }
    msgpack_packer *pk;
    if (close_it) {
        h->input_closing = true;
        if (!h->input.len) close(h->fd_in), h->fd_in = -1;
        pk = corral_actor_reply_begin(h->actor, m);
        msgpack_pack_true(pk);
        corral_actor_reply_end(h->actor, m);
        return;
    }
    const msgpack_object *d = corral_param(m->env.p, 1);
    const char *p;
    size_t n;
    if (d && d->type == MSGPACK_OBJECT_BIN) p = d->via.bin.ptr, n = d->via.bin.size;
    else if (!corral_value_str(d, &p, &n)) {
        corral_actor_fault(h->actor, m, CORRAL_F_PARAMS, "analysis.writeInput(id, data): data is base64 or string");
        return;
    }
    size_t room = h->input_buffer > h->input.len ? h->input_buffer - h->input.len : 0;
    if (n > room) n = room; /* accepted bytes are counted in the answer */
    if (corral_buf_append(&h->input, p, n) < 0) n = 0;
    pk = corral_actor_reply_begin(h->actor, m);
    msgpack_pack_int64(pk, (int64_t)n);
    corral_actor_reply_end(h->actor, m);
}

static void do_wait(host_t *h, corral_msg_t **pm) {
    corral_msg_t *m = *pm;
    int64_t tmo = 0;
    if (!corral_value_int(corral_param(m->env.p, 1), &tmo) || tmo < 0) {
        corral_actor_fault(h->actor, m, CORRAL_F_PARAMS, "analysis.wait(id, timeoutMs): timeoutMs is an int >= 0");
        return;
    }
    /* The gateway caps a wait's deadline at max_wait_ms (plus slack). */
    if (h->max_wait_ms > 0 && tmo > h->max_wait_ms) tmo = h->max_wait_ms;
    if (!live(h) || tmo == 0) {
        reply_info(h, m);
        return;
    }
    if (h->nwaits == CORRAL_ANALYSIS_WAITS_MAX) {
        corral_actor_fault(h->actor, m, CORRAL_F_BUSY, "analysis %s: %d waits are parked already", h->info.id,
                           CORRAL_ANALYSIS_WAITS_MAX);
        return;
    }
    /* The gateway's deadline is timeoutMs plus slack: answer at timeoutMs.
       A wait is answered when the run is finished (results all stored), not
       merely when the program has exited. */
    h->wait_until[h->nwaits] = corral_now_ms() + tmo;
    h->waits[h->nwaits++] = m;
    *pm = NULL;
}

/* remove while the run is finishing (a client's call right after its
   wait): the supervisor deletes the run once it has adopted the address. */
static void take_remove(host_t *h, corral_msg_t *m) {
    char sup[CORRAL_ADDR_MAX];
    snprintf(sup, sizeof sup, CORRAL_SUP_PREFIX "%s", h->info.node);
    msgpack_packer *pk = corral_actor_send_begin(h->actor, CORRAL_K_EVENT, sup, "analysis.removed");
    msgpack_pack_array(pk, 0);
    corral_actor_send_end(h->actor);
    h->removed = true;
    pk = corral_actor_reply_begin(h->actor, m);
    msgpack_pack_true(pk);
    corral_actor_reply_end(h->actor, m);
}

static void dispatch(host_t *h, corral_msg_t **pm) {
    corral_msg_t *m = *pm;
    const corral_env_t *e = &m->env;
    if (h->removed) {
        corral_actor_fault(h->actor, m, CORRAL_F_NOENT, "no such analysis '%s' (removed)", h->info.id);
        return;
    }
#define IS(s) (e->m_len == sizeof(s) - 1 && memcmp(e->m, s, sizeof(s) - 1) == 0)
    if (IS("analysis.info")) reply_info(h, m);
    else if (IS("analysis.wait")) do_wait(h, pm);
    else if (IS("analysis.kill")) do_signal(h, m, "kill", SIGKILL);
    else if (IS("analysis.pause")) do_signal(h, m, "pause", SIGSTOP);
    else if (IS("analysis.resume")) do_signal(h, m, "resume", SIGCONT);
    else if (IS("analysis.signal")) {
        int sig = parse_signal(corral_param(e->p, 1));
        if (!sig) corral_actor_fault(h->actor, m, CORRAL_F_PARAMS, "analysis.signal(id, signal): no such signal");
        else do_signal(h, m, "signal", sig);
    } else if (IS("analysis.results")) do_results(h, m);
    else if (IS("analysis.report")) do_report(h, m);
    else if (IS("analysis.readOutput")) do_read_output(h, m);
    else if (IS("analysis.writeInput")) do_input(h, m, false);
    else if (IS("analysis.closeInput")) do_input(h, m, true);
    else if (IS("analysis.remove") && h->stored && corral_msg_may_control(m, h->info.owner))
        take_remove(h, m);
    else if (IS("analysis.remove") && !corral_msg_may_control(m, h->info.owner))
        corral_actor_fault(h->actor, m, CORRAL_F_PERM, "analysis %s: remove: permission denied (owned by %s)",
                           h->info.id, h->info.owner);
    else if (IS("analysis.remove"))
        corral_actor_fault(h->actor, m, CORRAL_F_STATE, "analysis %s: remove: it has not ended (%s)", h->info.id,
                           h->stored ? "finishing; retry" : corral_astate_name(h->info.state));
    else corral_actor_fault(h->actor, m, CORRAL_F_METHOD, "analysis %s: no method %.*s", h->info.id,
                            (int)e->m_len, e->m);
#undef IS
}

void host_handle(host_t *h, corral_msg_t **pm) {
    corral_msg_t *m = *pm;
    const corral_env_t *e = &m->env;
    if (e->kind == CORRAL_K_EVENT && e->m_len == 16 && !memcmp(e->m, "analysis.release", 16)) {
        h->released = true;
    } else if (e->kind == CORRAL_K_REQUEST) {
        const msgpack_object *id = corral_param(e->p, 0);
        if (!corral_value_streq(id, h->info.id))
            corral_actor_fault(h->actor, m, CORRAL_F_PARAMS, "analysis %s: params[0] must be its id", h->info.id);
        else
            dispatch(h, pm);
    }
    corral_msg_destroy(pm);
}
