/* corral — the ptrace and process primitives of a target actor: launching
   a program as a seized tracee, restarting and inspecting its threads, and
   reading and writing its memory. Every call here must be made from the
   target's own thread, the tracer (DESIGN.md). */
#ifndef CORRAL_PTRACE_OPS_H
#define CORRAL_PTRACE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/user.h>

#define PT_GROUPS_MAX 64

/* Options for every tracee: no target outlives its tracer thread, and
   clones, forks and execs are reported. */
#define PT_OPTIONS (PTRACE_O_EXITKILL | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | \
                    PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACESYSGOOD)

/* Everything a launch needs, resolved before fork so that the child runs
   only async-signal-safe calls. */
typedef struct pt_launch {
    char path[4096];          /* argv[0] resolved on PATH */
    char *const *argv;
    char *const *envp;
    const char *cwd;          /* NULL: the server's */
    bool stdin_null;
    bool set_user;
    uid_t uid;
    gid_t gid;
    gid_t groups[PT_GROUPS_MAX];
    int ngroups;
    long long cpu_seconds, memory_bytes, files;   /* -1: unchanged */
} pt_launch_t;

typedef struct pt_child {
    pid_t pid;
    int in_fd, out_fd, err_fd;   /* our ends, non-blocking; in_fd -1 for null */
} pt_child_t;

/* Find name on the colon-separated path list (name without '/'), or check
   name itself. 0 with out set, or -1 with errno. */
int pt_resolve_path(const char *name, const char *pathlist, char *out, size_t cap);

/* Fork the program, seize it before it execs, let it exec. The child's
   statuses go to the reaper box of owner (registered right after fork).
   0, or -1 with err holding "chdir /x: No such file or directory". On
   success the tracee's first report will be its PTRACE_EVENT_EXEC stop. */
int pt_launch(const pt_launch_t *l, const char *owner, pt_child_t *c, char *err, size_t errlen);

/* Thin wrappers: 0, or -1 with errno. */
int pt_seize(pid_t tid);
int pt_cont(pid_t tid, int sig);
int pt_step(pid_t tid, int sig);
int pt_interrupt(pid_t tid);
int pt_listen(pid_t tid);
int pt_detach(pid_t tid, int sig);
int pt_getregs(pid_t tid, struct user_regs_struct *r);
int pt_setregs(pid_t tid, const struct user_regs_struct *r);
int pt_eventmsg(pid_t tid, unsigned long *msg);
int pt_siginfo(pid_t tid, siginfo_t *si);

/* Debug register i (0-7) of a thread. */
int pt_get_dr(pid_t tid, int i, uint64_t *v);
int pt_set_dr(pid_t tid, int i, uint64_t v);

/* Read len bytes at addr of process pid: process_vm_readv, then (when tid
   is a stopped thread, else 0) PTRACE_PEEKDATA for what it could not read
   (pages without read permission). 0, or -1 with errno. */
int pt_read(pid_t pid, pid_t tid, uint64_t addr, void *buf, size_t len);

/* Write len bytes at addr through PTRACE_POKEDATA on the stopped thread
   tid, which, unlike process_vm_writev, can patch read-only text. */
int pt_write(pid_t tid, uint64_t addr, const void *buf, size_t len);

#endif
