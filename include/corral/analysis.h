/* corral — analyses, seen from the supervisor: the catalog of descriptors,
   launching analysis hosts (separate processes, actors/analysis_host_main.c)
   and answering for analyses whose host has ended (from the state dir).

   The supervisor owns one corral_analyses_t and calls it from its own
   thread only. Routing (broker control verbs, see broker/broker.h):
     expect [address, identity, secret]  sup → broker before a host starts:
         the host's DEALER connects to the ipc endpoint with socket identity
         `identity` and sends hello [address, secret]; the broker accepts it
         only if both match, so no other local process can be that actor.
     adopt [address]   sup → broker: route requests for an ended analysis
         (host gone) to the supervisor, which answers from disk.
     gone [address, reason]   broker → sup: a process actor stopped sending
         heartbeats (cfg->heartbeat_dead_ms) or left; calls in flight to it
         were answered with fault 5 by the broker. */
#ifndef CORRAL_ANALYSIS_H
#define CORRAL_ANALYSIS_H

#include <stdbool.h>
#include <sys/types.h>
#include "corral/actor.h"
#include "corral/config.h"
#include "corral/value.h"

typedef struct corral_analyses corral_analyses_t;

/* Load the catalog from cfg->analysis_dirs (bad descriptors are logged and
   left out) and the ended analyses of earlier runs from the state dir.
   sup is the supervisor's actor (to send control messages and replies). */
corral_analyses_t *corral_analyses_new(const corral_config_t *cfg, corral_actor_t *sup);

/* End every live analysis (SIGTERM its host, then SIGKILL after a bound),
   write state, free. Sets *self to NULL. */
void corral_analyses_destroy(corral_analyses_t **self);

/* Handle msg if it is the analyses' business:
   analysis.launch is checked here (params against the descriptor: -32602
   naming the parameter; max_analyses: fault 9), the run dir is made, the
   token is given to the gateway (auth.add) and the host's identity and
   secret to the broker (expect), and the host is started with fork+exec.
   The request is then kept and answered when the host reports: with
   AnalysisInfo in state "running" once the program has been exec'd, or
   fault 6 naming the cause when it could not start (the failed analysis
   stays listed).
   Also: the requests analysis.catalog,
   analysis.launch, analysis.list, any analysis.* request addressed to an
   adopted (ended) analysis, events from analysis hosts, and the broker's
   `gone` control message. Returns true if handled (msg answered or kept:
   the caller must not touch it again), false to let the supervisor go on. */
bool corral_analyses_handle(corral_analyses_t *self, corral_msg_t **msg);

/* A child of the supervisor changed state (reaper delivery): pid, status. */
void corral_analyses_child(corral_analyses_t *self, pid_t pid, int status);

/* Live analyses (starting, running or paused) and all known ones. */
int corral_analyses_live(const corral_analyses_t *self);
int corral_analyses_total(const corral_analyses_t *self);

/* Milliseconds until the analyses need a tick (-1 for none), and the tick. */
int corral_analyses_next_timeout(const corral_analyses_t *self);
void corral_analyses_tick(corral_analyses_t *self);


/* --- between the supervisor and an analysis host (additive) -------------

   The supervisor writes the launch description, one msgpack map, into a
   pipe whose read end the host inherits as the fd named by
   `--launch-fd N` (so the secret is never on a command line or in an
   environment), then closes its end. Members: address, identity, secret,
   endpoint, node, name, owner, ownerRole, runDir, workDir, program, argv
   (array), env (array of "K=V"), uid, gid, stdin (bool: runDir/stdin.bin
   feeds the program, then input is closed), target, params (map),
   heartbeatMs, outputBuffer, inputBuffer, sndhwm, logLevel, maxWaitMs,
   startedAt (ms).

   Host → sup@node events:
     analysis.state [info]   after every change of state, and at most every
         CORRAL_ANALYSIS_STATE_MS while results or output grow; info is the
         full record of corral_ainfo_t (AnalysisInfo plus owner, output
         totals, and `error`, the reason a launch failed).
     analysis.done []        after analysis.release: the host has answered
         what was queued for it; the supervisor now adopts the address.
   sup → host events:
     analysis.release []     the supervisor has the final state: the host
         answers what is still queued, sends analysis.done, lingers
         CORRAL_ANALYSIS_LINGER_MS more, says bye and exits. */
#define CORRAL_ANALYSIS_HOST "corral-analysis-host"
#define CORRAL_ANALYSIS_STATE_MS 250          /* least gap between progress events */
#define CORRAL_ANALYSIS_DESC_MAX (60 * 1024)  /* launch description: fits one pipe buffer */
#define CORRAL_ANALYSIS_STDIN_MAX (16u << 20) /* options.stdin bytes */
#define CORRAL_ANALYSIS_FILES_MAX 64          /* options.files entries */
#define CORRAL_ANALYSIS_FILE_BYTES (16u << 20) /* options.files bytes in all */
#define CORRAL_ANALYSIS_OUTPUT_FILE_MAX (16u << 20) /* head of each stream kept on disk */
#define CORRAL_ANALYSIS_DRAIN_MS 1000         /* output drained after the program ends */
#define CORRAL_ANALYSIS_RELEASE_MS 3000       /* host waits this long for analysis.release */
#define CORRAL_ANALYSIS_LINGER_MS 50        /* host serves stragglers this long after release */
#define CORRAL_ANALYSIS_TERM_MS 2000          /* SIGTERM → SIGKILL at shutdown */
#define CORRAL_ANALYSIS_WAITS_MAX 1024        /* parked analysis.wait calls per analysis */

enum { CORRAL_A_STARTING, CORRAL_A_RUNNING, CORRAL_A_PAUSED, CORRAL_A_EXITED, CORRAL_A_KILLED,
       CORRAL_A_FAILED };

/* One analysis, as the host knows it and the supervisor caches it. */
typedef struct corral_ainfo {
    char id[CORRAL_ADDR_MAX], name[64], node[CORRAL_NAME_MAX];
    char owner[CORRAL_ADDR_MAX], target[CORRAL_ADDR_MAX];
    int owner_role;
    int pid, host_pid;
    int state, exit_code, signal;
    uint64_t results, skipped;            /* skipped: fd-3 lines that were not logfmt */
    int64_t started_ms, ended_ms;
    uint64_t out_total[2], out_file[2];   /* stdout, stderr: bytes seen, bytes on disk */
    char error[256];
    char *params; size_t params_len;      /* packed map (malloc'd) */
} corral_ainfo_t;

const char *corral_astate_name(int state);
static inline bool corral_astate_ended(int s) { return s >= CORRAL_A_EXITED; }

/* Pack AnalysisInfo (full: also the private members kept on disk). */
void corral_ainfo_pack(const corral_ainfo_t *a, msgpack_packer *pk, bool full);
/* Read a full record back. 0, or -1 when o is not one. */
int corral_ainfo_unpack(corral_ainfo_t *a, const msgpack_object *o);
/* Write runDir/info.mp atomically (tmp, fsync, rename). 0 or -1 with errno. */
int corral_ainfo_save(const corral_ainfo_t *a, const char *run_dir);
/* Read runDir/info.mp. 0, or -1 with a sentence in err. */
int corral_ainfo_load(corral_ainfo_t *a, const char *run_dir, char *err, size_t errlen);
void corral_ainfo_clear(corral_ainfo_t *a);   /* free params */

/* readOutput for a stream whose head is on disk (runDir/<stream>.log) and
   whose tail was written at the end (runDir/<stream>.tail); used by the
   supervisor for ended analyses. */
int corral_aout_read_disk(const char *run_dir, int stream, const corral_ainfo_t *a, int64_t offset,
                          int64_t max, msgpack_packer *pk, corral_fault_t *f);

/* One output stream of a running analysis (host side): its head appended to
   runDir/<stream>.log up to CORRAL_ANALYSIS_OUTPUT_FILE_MAX, its last `cap`
   bytes in a ring; at the end the ring goes to runDir/<stream>.tail. */
#define CORRAL_ANALYSIS_READ_MAX (16u << 20)  /* largest readOutput answer */
typedef struct corral_aout {
    int fd, stream;
    bool eof;
    uint64_t total, file_len;
    char *ring;
    size_t cap;
    char path[CORRAL_PATH_MAX];
} corral_aout_t;
int corral_aout_open(corral_aout_t *o, const char *run_dir, int stream, size_t cap);
void corral_aout_write(corral_aout_t *o, const char *data, size_t n);
int corral_aout_finish(corral_aout_t *o, const char *run_dir);   /* write the tail, close */
int corral_aout_read(const corral_aout_t *o, int64_t offset, int64_t max, msgpack_packer *pk,
                     corral_fault_t *f);

#endif
