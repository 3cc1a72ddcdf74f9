/* corral — the target's ptrace state machine: what each wait status means,
   all-stop (stop every thread when one stops), resuming with transparent
   step-over of breakpoints, and the lifecycle methods.

   All-stop invariant: while the target is TS_STOPPED every thread we follow
   is in a ptrace-stop. A thread that stops for its own reason while we stop
   the others keeps that reason for later: a breakpoint hit is rewound onto
   the int3 (it hits again when resumed, so no hit is lost or doubled), a
   signal is kept in pending_sig and delivered when it is restarted. */
#include "actors/target_int.h"
#include "actors/ptrace_ops.h"
#include "corral/log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

tthread_t *tgt_thread(target_t *t, pid_t tid) {
    for (size_t i = 0; i < t->nthreads; i++)
        if (t->threads[i].tid == tid) return &t->threads[i];
    return NULL;
}

static tthread_t *add_thread(target_t *t, pid_t tid, bool fresh) {
    tthread_t *th = tgt_thread(t, tid);
    if (th) return th;
    if (t->nthreads == t->cthreads) {
        size_t ncap = t->cthreads ? t->cthreads * 2 : 8;
        if (ncap > TGT_MAX_THREADS) return NULL;
        tthread_t *nt = realloc(t->threads, ncap * sizeof *nt);
        if (!nt) return NULL;
        t->threads = nt;
        t->cthreads = ncap;
    }
    th = &t->threads[t->nthreads++];
    *th = (tthread_t){.tid = tid, .fresh = fresh};
    corral_reaper_watch(tid, t->address);
    return th;
}

static void drop_thread(target_t *t, pid_t tid) {
    tthread_t *th = tgt_thread(t, tid);
    if (!th) return;
    *th = t->threads[--t->nthreads];
    if (tid != t->pid) corral_reaper_forget(tid);
}

static pid_t proc_tgid(pid_t tid) {
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
    FILE *f = fopen(path, "re");
    pid_t tgid = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Tgid:", 5) == 0) tgid = (pid_t)atoi(line + 5);
    if (f) fclose(f);
    return tgid;
}

void tgt_set_ended(target_t *t, int st) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    t->ended_sec = ts.tv_sec;
    t->ended_nsec = (uint32_t)ts.tv_nsec;
    t->nthreads = 0;
    if (WIFEXITED(st)) {
        t->state = TS_EXITED;
        t->has_exit = true;
        t->exit_code = WEXITSTATUS(st);
        t->signal = 0;
    } else {
        t->state = TS_KILLED;
        t->signal = WTERMSIG(st);
    }
    t->reason = "";
    tgt_event(t, t->state == TS_EXITED ? "exited" : "killed", t->pid, 0);
}

/* A tracee auto-attached by a fork of the target: take our breakpoints
   out of its copy of memory and let it run on untraced. It is in its first
   stop now (that is the status that brought it here). */
static void fork_child(target_t *t, pid_t child) {
    bp_remove_all(t, child, false);
    if (pt_detach(child, 0) != 0)
        LOG_WARN("target", "%s: detaching fork child %d: %s", t->address, (int)child, strerror(errno));
    corral_reaper_forget(child);
}

static kind_t on_trap(target_t *t, tthread_t *th, int *bp_id) {
    siginfo_t si;
    if (pt_siginfo(th->tid, &si) != 0) return K_NONE;
    if (si.si_code == SI_KERNEL || si.si_code == TRAP_BRKPT) {
        struct user_regs_struct r;
        if (pt_getregs(th->tid, &r) == 0) {
            bp_t *b = bp_at(t, r.rip - 1);
            if (b) {
                r.rip -= 1;   /* back onto the breakpoint's own address */
                pt_setregs(th->tid, &r);
                *bp_id = b->id;
                return K_BP;
            }
        }
    } else if (si.si_code == TRAP_HWBKPT || si.si_code == TRAP_TRACE) {
        int id = wp_hit(t, th->tid);
        if (id > 0) {
            *bp_id = id;
            return K_WATCH;
        }
        if (si.si_code == TRAP_TRACE) {
            if (th->tid == t->step_tid) return K_STEP;
            return K_NONE;      /* a stale single-step trap: nothing to report */
        }
    }
    th->pending_sig = SIGTRAP;  /* the program's own int3 or a sent SIGTRAP */
    return K_SIGNAL;
}

static kind_t on_event_stop(target_t *t, tthread_t *th, int sig) {
    bool keep = t->stopping || t->state != TS_RUNNING;
    if (th->fresh) {
        th->fresh = false;
        wp_apply_thread(t, th->tid);   /* debug registers are not inherited by clones */
    } else if (th->interrupting) {
        th->interrupting = false;
    } else if (!keep && (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)) {
        /* A group-stop of a seized tracee: let job control keep it stopped
           without leaving it in a ptrace-stop (SIGCONT ends it). */
        if (pt_listen(th->tid) == 0) th->stopped = false;
        return K_NONE;
    }
    if (!keep && pt_cont(th->tid, 0) == 0) th->stopped = false;
    return K_NONE;
}

static kind_t on_ptrace_event(target_t *t, tthread_t *th, int ev) {
    unsigned long msg = 0;
    pt_eventmsg(th->tid, &msg);
    if (ev == PTRACE_EVENT_EXEC) {
        /* The other threads are gone and the address space is new: its
           breakpoints mean nothing now, and exec cleared debug registers. */
        pid_t keep = th->tid;
        for (size_t i = 0; i < t->nthreads;)
            if (t->threads[i].tid != keep) drop_thread(t, t->threads[i].tid);
            else i++;
        t->threads[0].tid = t->pid;
        free(t->bps);
        t->bps = NULL;
        t->nbps = 0;
        tgt_event(t, "exec", t->pid, 0);
        return K_EXEC;
    }
    if (ev == PTRACE_EVENT_CLONE) {
        if (!tgt_thread(t, (pid_t)msg)) {
            pid_t tid = th->tid;
            add_thread(t, (pid_t)msg, true);   /* may move the table: find th again */
            th = tgt_thread(t, tid);
            tgt_event(t, "thread-new", (pid_t)msg, 0);
        }
    } else if (ev == PTRACE_EVENT_FORK || ev == PTRACE_EVENT_VFORK) {
        tgt_event(t, "fork", th->tid, (pid_t)msg);
    }
    if (!t->stopping && t->state == TS_RUNNING && pt_cont(th->tid, 0) == 0) th->stopped = false;
    return K_NONE;
}

/* Book-keep one wait status and say what it means. */
kind_t tgt_on_status(target_t *t, pid_t tid, int st, int *bp_id) {
    tthread_t *th = tgt_thread(t, tid);
    bool ended = WIFEXITED(st) || WIFSIGNALED(st);
    if (ended) {
        if (tid == t->pid && (t->state == TS_RUNNING || t->state == TS_STOPPED)) {
            tgt_set_ended(t, st);
            return K_ENDED;
        }
        if (th) {
            drop_thread(t, tid);
            tgt_event(t, "thread-exit", tid, 0);
        }
        return K_NONE;
    }
    if (t->state != TS_RUNNING && t->state != TS_STOPPED) return K_NONE;
    if (!th) {
        /* A status from a task we do not know: a new thread whose clone
           event we have not seen yet, or the child of a fork. */
        if (proc_tgid(tid) != t->pid) {
            fork_child(t, tid);
            return K_NONE;
        }
        th = add_thread(t, tid, true);
        if (!th) return K_NONE;
        tgt_event(t, "thread-new", tid, 0);
    }
    if (!WIFSTOPPED(st)) return K_NONE;
    th->stopped = true;
    int sig = WSTOPSIG(st), ev = st >> 16;
    if (ev == PTRACE_EVENT_STOP) return on_event_stop(t, th, sig);
    if (ev) return on_ptrace_event(t, th, ev);
    if (sig == (SIGTRAP | 0x80)) sig = 0;   /* a syscall-stop: not asked for, run on */
    else if (sig == SIGTRAP) return on_trap(t, th, bp_id);
    bool silent = sig == 0 || sig == SIGCHLD || sig == SIGWINCH || sig == SIGURG ||
                  (sig < 65 && t->pass_sig[sig] > 0);
    if (!silent) {
        th->pending_sig = sig;
        return K_SIGNAL;
    }
    if (sig > 0 && sig < 65 && t->pass_sig[sig] > 0) t->pass_sig[sig]--;
    if (t->stopping || t->state != TS_RUNNING) th->pending_sig = sig;
    else if (pt_cont(tid, sig) == 0) th->stopped = false;
    return K_NONE;
}

void tgt_set_stopped(target_t *t, const char *reason, pid_t tid, int sig, int bp) {
    t->state = TS_STOPPED;
    t->reason = reason;
    t->cur_tid = tid;
    t->signal = sig;
    t->stop_bp = bp;
    struct user_regs_struct r;
    t->pc = pt_getregs(tid, &r) == 0 ? r.rip : 0;
    tgt_event(t, "stopped", tid, 0);
}

static void report(target_t *t, kind_t k, pid_t tid, int bp_id) {
    if (k == K_ENDED) {
        tgt_notify(t);
        return;
    }
    if (k == K_NONE || k == K_STEP) return;
    if (k == K_BP || k == K_WATCH) {
        bp_t *b = bp_by_id(t, bp_id);
        if (b) b->hits++;
    }
    tthread_t *th = tgt_thread(t, tid);
    int sig = k == K_SIGNAL && th ? th->pending_sig : 0;   /* th may move in stop_all */
    tgt_stop_all(t);
    if (t->state != TS_RUNNING) {
        if (t->state == TS_STOPPED) tgt_notify(t);
        return;
    }
    const char *reason = k == K_BP ? "breakpoint" : k == K_WATCH ? "watchpoint"
                       : k == K_EXEC ? "exec" : "signal";
    tgt_set_stopped(t, reason, tid, sig,
                k == K_BP || k == K_WATCH ? bp_id : 0);
    tgt_notify(t);
}

void tgt_handle_status(target_t *t, pid_t tid, int st) {
    int bp_id = 0;
    kind_t k = tgt_on_status(t, tid, st, &bp_id);
    if (t->state == TS_RUNNING || k == K_ENDED) report(t, k, tid, bp_id);
    else if (k == K_BP) {
        tthread_t *th = tgt_thread(t, tid);
        if (th) th->rehit = true;
    }
}

static bool all_stopped(target_t *t) {
    for (size_t i = 0; i < t->nthreads; i++)
        if (!t->threads[i].stopped) return false;
    return true;
}

/* Stop every running thread and wait (bounded) until each has reported.
   Statuses of other kinds that arrive meanwhile keep their meaning for
   later (see the invariant at the top). 0, or -1 when the target ended. */
int tgt_stop_all(target_t *t) {
    t->stopping = true;
    for (size_t i = 0; i < t->nthreads; i++) {
        tthread_t *th = &t->threads[i];
        /* Interrupt even a thread we interrupted before: a ptrace event
           stop may have consumed that interrupt. A surplus one shows up
           later as a bare EVENT_STOP, which on_event_stop runs on from. */
        if (!th->stopped && !th->fresh && pt_interrupt(th->tid) == 0) th->interrupting = true;
    }
    int64_t end = corral_mono_ms() + TGT_STOP_MS;
    while (!all_stopped(t) && (t->state == TS_RUNNING || t->state == TS_STOPPED)) {
        pid_t tid;
        int st, bp_id = 0;
        int64_t left = end - corral_mono_ms();
        if (left <= 0 || !tgt_next_status(t, (int)left, &tid, &st)) {
            LOG_WARN("target", "%s: some threads did not stop within %d ms", t->address, TGT_STOP_MS);
            break;
        }
        kind_t k = tgt_on_status(t, tid, st, &bp_id);
        tthread_t *th = tgt_thread(t, tid);
        if (k == K_BP && th) th->rehit = true;
        else if (k == K_WATCH) {
            bp_t *b = bp_by_id(t, bp_id);
            if (b) b->hits++;
        }
    }
    t->stopping = false;
    return t->state == TS_RUNNING || t->state == TS_STOPPED ? 0 : -1;
}

/* Wait until thread tid stops again (other threads' statuses are kept
   for later, as in tgt_stop_all). The kind of its stop; K_STEP when it had
   to be interrupted (stuck in a blocking system call). */
static kind_t wait_thread(target_t *t, pid_t tid) {
    int64_t end = corral_mono_ms() + TGT_STOP_MS;
    bool interrupted = false;
    for (;;) {
        pid_t who;
        int st, bp_id = 0;
        int64_t left = end - corral_mono_ms();
        if (left <= 0 || !tgt_next_status(t, (int)left, &who, &st)) {
            tthread_t *th = tgt_thread(t, tid);
            if (interrupted || !th) return K_NONE;
            if (pt_interrupt(tid) == 0) th->interrupting = true;
            interrupted = true;
            end = corral_mono_ms() + TGT_STOP_MS;
            continue;
        }
        kind_t k = tgt_on_status(t, who, st, &bp_id);
        if (k == K_ENDED) return K_ENDED;
        tthread_t *th = tgt_thread(t, who);
        if (who != tid) {
            if (k == K_BP && th) th->rehit = true;
            continue;
        }
        if (!th) return K_ENDED;
        if (th->stopped) return interrupted && k == K_NONE ? K_STEP : k;
    }
}

/* Single-step th (with the int3 under it taken out when there is one) and
   wait for the step to finish; the other threads stay stopped. Returns the
   kind of the thread's last stop (K_STEP normally). */
static kind_t single_step(target_t *t, tthread_t *th, int *bp_id) {
    pid_t tid = th->tid;
    struct user_regs_struct r;
    bp_t *b = pt_getregs(tid, &r) == 0 ? bp_at(t, r.rip) : NULL;
    int bid = b ? b->id : 0;
    if (b) bp_restore(t, b, tid);
    t->step_tid = tid;
    t->stopping = true;
    kind_t k = K_NONE;
    for (int round = 0; round < 8; round++) {
        if (pt_step(tid, 0) != 0) break;
        th->stopped = false;
        k = wait_thread(t, tid);
        th = tgt_thread(t, tid);
        if (!th) k = K_ENDED;
        /* K_NONE: a clone/fork event stop inside the stepped syscall; the
           instruction has not finished, so step on. */
        if (k != K_NONE) break;
    }
    if (k == K_WATCH) {
        int id = wp_hit(t, tid);
        *bp_id = id;
    }
    t->stopping = false;
    t->step_tid = 0;
    if (bid && (t->state == TS_RUNNING || t->state == TS_STOPPED) && (b = bp_by_id(t, bid)) &&
        b->enabled)
        bp_insert(t, b, t->pid);
    return k;
}

/* Restart every thread. A thread sitting on an enabled breakpoint whose
   hit was reported is first stepped over it alone (all-stop: the others
   stay stopped while its int3 is out of memory), then the int3 goes back. */
int tgt_resume_all(target_t *t) {
    for (size_t i = 0; i < t->nthreads && t->state == TS_STOPPED; i++) {
        tthread_t *th = &t->threads[i];
        struct user_regs_struct r;
        if (!th->stopped || th->rehit || pt_getregs(th->tid, &r) != 0 || !bp_at(t, r.rip)) continue;
        int bp_id = 0;
        pid_t tid = th->tid;
        kind_t k = single_step(t, th, &bp_id);
        if (k == K_ENDED) return -1;
        th = tgt_thread(t, tid);
        if (th) th->rehit = true;   /* stepped over: must not be stepped again */
        if (k == K_WATCH) {
            bp_t *b = bp_by_id(t, bp_id);
            if (b) b->hits++;
        }
        i = (size_t)-1;
    }
    if (t->state != TS_STOPPED) return -1;
    for (size_t i = 0; i < t->nthreads; i++) {
        tthread_t *th = &t->threads[i];
        if (!th->stopped) continue;
        if (pt_cont(th->tid, th->pending_sig) != 0)
            LOG_WARN("target", "%s: restarting thread %d: %s", t->address, (int)th->tid,
                     strerror(errno));
        th->stopped = th->rehit = th->interrupting = false;
        th->pending_sig = 0;
    }
    t->state = TS_RUNNING;
    t->reason = "";
    t->signal = 0;
    t->stop_bp = 0;
    tgt_event(t, "resumed", t->cur_tid, 0);
    return 0;
}

/* SIGKILL the program and reap it (bounded). */
void tgt_kill_and_reap(target_t *t) {
    if (t->state != TS_RUNNING && t->state != TS_STOPPED) return;
    kill(t->pid, SIGKILL);
    int64_t end = corral_mono_ms() + TGT_KILL_MS;
    while (t->state == TS_RUNNING || t->state == TS_STOPPED) {
        pid_t tid;
        int st, bp_id;
        int64_t left = end - corral_mono_ms();
        if (left <= 0 || !tgt_next_status(t, (int)left, &tid, &st)) {
            LOG_WARN("target", "%s: pid %d not reaped %d ms after SIGKILL", t->address,
                     (int)t->pid, TGT_KILL_MS);
            tgt_set_ended(t, SIGKILL);   /* as if: W_EXITCODE(0, SIGKILL) */
            break;
        }
        tgt_on_status(t, tid, st, &bp_id);
    }
}

/* A signal given as a number or a name ("SIGTERM", "TERM"). 0 if invalid. */
static int parse_signal(const msgpack_object *o, bool allow_zero) {
    int64_t n;
    if (corral_value_int(o, &n)) return (n > 0 || (allow_zero && n == 0)) && n < 65 ? (int)n : -1;
    char name[32];
    if (!o || corral_value_strcpy(o, name, sizeof name) != 0) return -1;
    const char *p = strncmp(name, "SIG", 3) == 0 ? name + 3 : name;
    for (int s = 1; s < 32; s++) {
        const char *abbrev = sigabbrev_np(s);
        if (abbrev && strcmp(abbrev, p) == 0) return s;
    }
    return -1;
}

static bool alive(target_t *t) { return t->state == TS_RUNNING || t->state == TS_STOPPED; }

static int m_pause(target_t *t, corral_msg_t *msg) {
    if (t->state != TS_RUNNING)
        return tgt_fault(t, msg, CORRAL_F_STATE, "the target is %s, not running",
                         t->state == TS_STOPPED ? "stopped" : "ended");
    tgt_stop_all(t);
    if (t->state == TS_RUNNING) tgt_set_stopped(t, "pause", t->pid, 0, 0);
    tgt_notify(t);
    return tgt_reply_info(t, msg);
}

static int m_resume(target_t *t, corral_msg_t *msg) {
    if (t->state != TS_STOPPED)
        return tgt_fault(t, msg, CORRAL_F_STATE, "the target is not stopped");
    const msgpack_object *sp = corral_param(msg->env.p, 1);
    tthread_t *cur = tgt_thread(t, t->cur_tid);
    if (sp && sp->type != MSGPACK_OBJECT_NIL) {
        int sig = parse_signal(sp, true);
        if (sig < 0) return tgt_fault(t, msg, CORRAL_F_PARAMS, "bad signal");
        if (cur) cur->pending_sig = sig;   /* replaces (0: discards) the stop's signal */
    }
    tgt_resume_all(t);
    tgt_notify(t);
    return tgt_reply_info(t, msg);
}

static int m_step(target_t *t, corral_msg_t *msg) {
    if (t->state != TS_STOPPED)
        return tgt_fault(t, msg, CORRAL_F_STATE, "the target is not stopped");
    tthread_t *th = tgt_thread(t, t->cur_tid);
    if (!th) th = tgt_thread(t, t->pid);
    if (!th && t->nthreads) th = &t->threads[0];
    if (!th) return tgt_fault(t, msg, CORRAL_F_STATE, "the target has no thread");
    pid_t tid = th->tid;
    int bp_id = 0;
    th->rehit = false;
    kind_t k = single_step(t, th, &bp_id);
    if (k != K_ENDED && alive(t)) {
        th = tgt_thread(t, tid);
        int sig = k == K_SIGNAL && th ? th->pending_sig : 0;
        tgt_set_stopped(t, k == K_WATCH ? "watchpoint" : k == K_SIGNAL ? "signal" : "step", tid, sig,
                    k == K_WATCH ? bp_id : 0);
        if (k == K_WATCH && bp_by_id(t, bp_id)) bp_by_id(t, bp_id)->hits++;
    }
    tgt_notify(t);
    return tgt_reply_info(t, msg);
}

static int m_signal(target_t *t, corral_msg_t *msg) {
    int sig = parse_signal(corral_param(msg->env.p, 1), false);
    if (sig <= 0) return tgt_fault(t, msg, CORRAL_F_PARAMS, "signal must be a number or a name");
    if (!alive(t)) return tgt_fault(t, msg, CORRAL_F_STATE, "the target has ended");
    /* Delivered as kill(1) would: its signal-delivery-stop is passed
       straight through instead of stopping the target (pass_sig). */
    if (sig < 65) t->pass_sig[sig]++;
    if (kill(t->pid, sig) != 0) {
        t->pass_sig[sig]--;
        return tgt_fault(t, msg, CORRAL_F_OS, "kill %d: %s", sig, strerror(errno));
    }
    if (sig == SIGKILL) tgt_kill_and_reap(t);
    if (!alive(t)) tgt_notify(t);
    return tgt_reply_info(t, msg);
}

static int m_kill(target_t *t, corral_msg_t *msg) {
    if (!alive(t)) return tgt_fault(t, msg, CORRAL_F_STATE, "the target has already ended");
    tgt_kill_and_reap(t);
    tgt_notify(t);
    return tgt_reply_info(t, msg);
}

static int m_detach(target_t *t, corral_msg_t *msg) {
    if (!alive(t)) return tgt_fault(t, msg, CORRAL_F_STATE, "the target has ended");
    if (t->state == TS_RUNNING && tgt_stop_all(t) != 0) {
        tgt_notify(t);
        return tgt_reply_info(t, msg);
    }
    bp_remove_all(t, t->pid, true);
    for (size_t i = 0; i < t->nthreads; i++) {
        wp_clear_thread(t->threads[i].tid);
        if (pt_detach(t->threads[i].tid, t->threads[i].pending_sig) != 0)
            LOG_WARN("target", "%s: detaching thread %d: %s", t->address,
                     (int)t->threads[i].tid, strerror(errno));
    }
    t->nthreads = 0;
    t->state = TS_DETACHED;
    t->reason = "";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    t->ended_sec = ts.tv_sec;
    t->ended_nsec = (uint32_t)ts.tv_nsec;
    tgt_notify(t);
    return tgt_reply_info(t, msg);
}

static int m_remove(target_t *t, corral_msg_t *msg) {
    if (alive(t)) return tgt_fault(t, msg, CORRAL_F_STATE, "the target still runs; kill or detach it first");
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    msgpack_pack_true(pk);
    corral_actor_reply_end(t->actor, msg);
    t->quit = true;
    return 0;
}

int tgt_dispatch_control(target_t *t, corral_msg_t *msg, const char *m) {
    static const struct { const char *name; int (*fn)(target_t *, corral_msg_t *); } tab[] = {
        {"pause", m_pause}, {"resume", m_resume}, {"step", m_step}, {"signal", m_signal},
        {"kill", m_kill}, {"detach", m_detach}, {"remove", m_remove}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(m, tab[i].name) == 0) {
            tab[i].fn(t, msg);
            return 1;
        }
    return 0;
}
