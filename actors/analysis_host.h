/* corral — the analysis host's state (one process per analysis run; see
   actors/analysis_host_main.c). Internal to the host's files. */
#ifndef CORRAL_ANALYSIS_HOST_H
#define CORRAL_ANALYSIS_HOST_H

#include <errno.h>
#include <signal.h>
#include "actors/results.h"
#include "corral/actor.h"
#include "corral/analysis.h"
#include "corral/buf.h"

typedef struct host {
    void *zctx;
    corral_actor_t *actor;
    corral_ainfo_t info;
    char run_dir[CORRAL_PATH_MAX], work_dir[CORRAL_PATH_MAX], program[CORRAL_PATH_MAX];
    char endpoint[CORRAL_PATH_MAX + 16], identity[64], secret[80];
    char **argv, **envp;
    uid_t uid;
    gid_t gid;
    bool has_stdin;
    int heartbeat_ms, sndhwm, max_wait_ms;
    size_t output_buffer, input_buffer;

    int fd_in, fd_out, fd_err, fd_res, pidfd;   /* -1 once closed */
    corral_aout_t out[2];
    corral_results_t *res;
    char *line;                 /* partial fd-3 line */
    size_t line_len;
    bool line_skip;             /* inside an over-long line: drop to its newline */
    corral_buf_t input;         /* stdin bytes not yet taken by the program */
    bool input_closing;         /* closeInput: close once input drains */

    corral_msg_t *waits[CORRAL_ANALYSIS_WAITS_MAX];
    int64_t wait_until[CORRAL_ANALYSIS_WAITS_MAX];   /* ms since the epoch */
    int nwaits;
    bool api_signalled, reaped, released;
    bool stored;                /* the run is over and all of it is on disk */
    bool finished;              /* parked waits are answered */
    bool removed;               /* analysis.remove taken while finishing: fault 1 from now */
    int64_t drain_until, next_hb, next_state, last_sync, term_kill_at;
    bool state_dirty;
} host_t;

/* Signal the program's process group. Never with pid <= 1: kill(-0) would
   signal the host's own group, which is the server's. */
static inline int host_group_kill(const host_t *h, int sig) {
    if (h->info.pid <= 1) {
        errno = ESRCH;
        return -1;
    }
    return kill(-h->info.pid, sig);
}

/* Handle one message from the broker (a request, or sup's release). */
void host_handle(host_t *h, corral_msg_t **msg);

/* Answer parked waits whose time is up (or all, when the run has ended). */
void host_waits_tick(host_t *h);

/* Send analysis.state to the supervisor now. */
void host_send_state(host_t *h);

/* Reap the program if it has ended (block up to ms). True once reaped. */
bool host_reap(host_t *h, int ms);

#endif
