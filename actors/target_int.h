/* corral — the target actor's state, shared by actors/target*.c,
   breakpoints.c and watchpoints.c. One target_t belongs to one thread (the
   tracer), so nothing in it is locked. */
#ifndef CORRAL_TARGET_INT_H
#define CORRAL_TARGET_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "corral/actor.h"
#include "corral/buf.h"
#include "corral/config.h"
#include "corral/reaper.h"
#include "actors/elf_symbols.h"

#define TGT_MAX_THREADS 4096   /* threads followed per target */
#define TGT_MAX_PARKED 256     /* parked wait/events calls per target → fault 9 */
#define TGT_MAX_BPS 1024       /* breakpoints per target → fault 9 */
#define TGT_WP_SLOTS 4         /* x86-64 debug address registers DR0-DR3 */
#define TGT_STOP_MS 2000       /* bound on stopping all threads / one step */
#define TGT_KILL_MS 5000       /* bound on reaping a killed program */
#define TGT_STACK (256u << 10) /* stack of a target thread */

typedef enum { TS_RUNNING, TS_STOPPED, TS_EXITED, TS_KILLED, TS_DETACHED } tstate_t;

/* What one wait status meant, after its bookkeeping. */
typedef enum { K_NONE, K_BP, K_WATCH, K_STEP, K_SIGNAL, K_EXEC, K_ENDED } kind_t;

typedef struct tthread {
    pid_t tid;
    bool stopped;        /* in a ptrace-stop we have seen */
    bool interrupting;   /* PTRACE_INTERRUPT sent, its stop not yet seen */
    bool fresh;          /* a new clone whose first stop we have not seen */
    bool rehit;          /* rewound onto a breakpoint whose hit was not reported:
                            resuming re-executes the int3 instead of stepping over */
    int pending_sig;     /* delivered when the thread is restarted */
} tthread_t;

typedef struct bp {
    int id;
    bool watch;
    uint64_t addr;
    char symbol[128];
    int64_t hits;
    bool enabled;
    bool inserted;       /* int3 in memory */
    uint8_t orig;        /* the byte the int3 replaced */
    int slot, len, access;   /* watchpoints: DR slot, length, 0 exec 1 write 3 rw */
} bp_t;

typedef struct tevent {
    int64_t seq;
    int64_t sec;
    uint32_t nsec;
    const char *type;
    const char *reason;
    int sig, bp, exit_code;
    bool has_exit;
    uint64_t pc;
    pid_t tid, child;
} tevent_t;

typedef struct ring {
    unsigned char *data;
    size_t cap;
    uint64_t end;        /* stream offset one past the last byte kept */
    bool eof;
    int fd;
} ring_t;

enum { PK_WAIT, PK_EVENTS };

typedef struct parked {
    corral_msg_t *msg;
    int64_t due;         /* monotonic ms */
    int kind;
    int64_t after;
} parked_t;

typedef struct target {
    corral_actor_t *actor;
    const corral_config_t *cfg;
    char address[CORRAL_ADDR_MAX], sup[CORRAL_ADDR_MAX + 8], owner[CORRAL_ADDR_MAX];
    const char *node;
    char name[256];
    char **argv;
    int argc;
    char exe[CORRAL_PATH_MAX];
    pid_t pid;
    bool ours;           /* launched by us (our child), not attached */
    tstate_t state;
    const char *reason;  /* stopReason */
    int signal, exit_code;
    bool has_exit;
    uint64_t pc;
    pid_t cur_tid;       /* the thread that caused the stop */
    int stop_bp;         /* the breakpoint or watchpoint of the stop, 0 if none */
    pid_t step_tid;      /* the thread being single-stepped, or 0 */
    bool stopping;       /* inside stop_all/step: other threads stay stopped */
    int64_t started_sec, ended_sec;
    uint32_t started_nsec, ended_nsec;
    tthread_t *threads;
    size_t nthreads, cthreads;
    bp_t *bps;
    size_t nbps;
    int next_bp;
    int pass_sig[65];    /* signals sent by target.signal, passed through */
    tevent_t *events;    /* ring of up to cfg->event_log, ev_cap allocated */
    size_t ev_head, ev_len, ev_cap;
    int64_t next_seq;
    parked_t parked[TGT_MAX_PARKED];
    int nparked;
    corral_reaper_box_t *box;
    ring_t out, err;
    int in_fd;
    bool in_null, in_close;
    corral_buf_t inbuf;
    elf_cache_t *elf;
    bool quit;
} target_t;

/* A stopped thread to make memory requests through (the leader if known). */
static inline pid_t tgt_any_tid(const target_t *t) {
    return t->nthreads ? t->threads[0].tid : t->pid;
}

/* target.c */
void tgt_event(target_t *t, const char *type, pid_t tid, pid_t child);
void tgt_notify(target_t *t);
void tgt_pack_info(target_t *t, msgpack_packer *pk);
int tgt_reply_info(target_t *t, const corral_msg_t *msg);
int tgt_fault(target_t *t, const corral_msg_t *msg, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int tgt_next_status(target_t *t, int timeout_ms, pid_t *tid, int *st);
const char *tgt_method(const corral_msg_t *msg);   /* "readMemory" of "target.readMemory" */

/* target_control.c */
tthread_t *tgt_thread(target_t *t, pid_t tid);
kind_t tgt_on_status(target_t *t, pid_t tid, int st, int *bp_id);
void tgt_handle_status(target_t *t, pid_t tid, int st);
int tgt_stop_all(target_t *t);
void tgt_set_stopped(target_t *t, const char *reason, pid_t tid, int sig, int bp);
void tgt_set_ended(target_t *t, int status);
int tgt_resume_all(target_t *t);
void tgt_kill_and_reap(target_t *t);
int tgt_launch(target_t *t, corral_msg_t *msg, corral_fault_t *f);
int tgt_attach(target_t *t, corral_msg_t *msg, corral_fault_t *f);
int tgt_dispatch_control(target_t *t, corral_msg_t *msg, const char *m);   /* 1 handled */

/* target_inspect.c */
int tgt_symbol_lookup(target_t *t, const char *name, uint64_t *addr, corral_fault_t *f);
int tgt_symbolize(target_t *t, uint64_t addr, char *sym, size_t cap);
int tgt_dispatch_inspect(target_t *t, corral_msg_t *msg, const char *m);

/* target_io.c */
void tgt_io_read(target_t *t, ring_t *r);
void tgt_io_flush(target_t *t);
void tgt_io_close(target_t *t);
int tgt_dispatch_io(target_t *t, corral_msg_t *msg, const char *m);

/* breakpoints.c */
int tgt_dispatch_bp(target_t *t, corral_msg_t *msg, const char *m);
bp_t *bp_at(target_t *t, uint64_t addr);          /* inserted int3 at addr */
bp_t *bp_by_id(target_t *t, int id);
int bp_insert(target_t *t, bp_t *b, pid_t tid);
int bp_restore(target_t *t, bp_t *b, pid_t tid);   /* put the original byte back */
void bp_remove_all(target_t *t, pid_t tid, bool forget);
void bp_shadow(target_t *t, uint64_t addr, unsigned char *buf, size_t len);
void bp_coherent_write(target_t *t, uint64_t addr, unsigned char *buf, size_t len);

/* watchpoints.c */
int wp_add(target_t *t, uint64_t addr, int len, const char *access, bp_t **out, corral_fault_t *f);
int wp_apply_all(target_t *t);
int wp_apply_thread(target_t *t, pid_t tid);
int wp_hit(target_t *t, pid_t tid);     /* bp id of the watchpoint that fired, or 0 */
void wp_clear_thread(pid_t tid);

#endif
