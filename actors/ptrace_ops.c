/* corral — ptrace and process primitives (see ptrace_ops.h). */
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#include "actors/ptrace_ops.h"
#include "corral/reaper.h"
#include "corral/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>

/* Stages the child reports through the exec-error pipe. */
enum { ST_FD, ST_CHDIR, ST_RLIMIT, ST_GROUPS, ST_GID, ST_UID, ST_EXEC };

int pt_resolve_path(const char *name, const char *pathlist, char *out, size_t cap) {
    if (!name[0]) {
        errno = ENOENT;
        return -1;
    }
    if (strchr(name, '/')) {
        if ((size_t)snprintf(out, cap, "%s", name) >= cap) {
            errno = ENAMETOOLONG;
            return -1;
        }
        return 0;    /* execve reports what is wrong with it */
    }
    int saved = ENOENT;
    const char *p = pathlist ? pathlist : "/usr/local/bin:/usr/bin:/bin";
    while (*p) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        size_t nl = strlen(name);
        if (n > 0 && n + nl + 2 <= cap) {
            memcpy(out, p, n);        /* "dir/name": no snprintf, whose size */
            out[n] = '/';             /* check GCC misreads under ASan */
            memcpy(out + n + 1, name, nl + 1);
            if (access(out, X_OK) == 0) return 0;
            if (errno == EACCES) saved = EACCES;
        }
        p += n;
        if (*p == ':') p++;
    }
    errno = saved;
    return -1;
}

/* The child between clone and exec runs in the server's address space
   (CLONE_VM, see pt_launch), on its own small stack, until execve gives it
   its own. So, beyond "only async-signal-safe calls":
   - no glibc call that keeps process-wide state: glibc's setuid() and
     friends would broadcast to the *server's* threads (its setxid
     machinery walks the thread list, which is shared memory here), so
     credentials are set with raw syscalls, which act on the calling task
     alone, and the child is a single task;
   - errno is the launching thread's (the child inherits its TLS pointer):
     the child reads errno only right after its own failed call and then
     ends, and the parent, blocked in read() meanwhile, reads errno only
     after its own failures;
   - every signal stays blocked from before clone until the dispositions are
     back to SIG_DFL, so no handler of the server can run on this stack;
   - the first call of a libc function in the process binds its PLT slot
     here, in shared memory: glibc's lazy binding is safe against
     concurrent binding by the server's threads (linking with -z now would
     take even that out of the child). */
#define CHILD_STACK (64 * 1024)

typedef struct child_arg {
    const pt_launch_t *l;
    int in, out, err, efd, gofd;   /* in: read end or -1; out, err: write ends */
} child_arg_t;

/* In the child: report the stage and errno to the parent, then die. */
static void child_fail(int fd, int stage) {
    int rec[2] = {stage, errno};
    ssize_t w = write(fd, rec, sizeof rec);
    (void)w;
    _exit(127);
}

static void child_limit(int efd, int res, long long v) {
    if (v < 0) return;
    struct rlimit rl = {(rlim_t)v, (rlim_t)v};
    if (setrlimit(res, &rl) != 0) child_fail(efd, ST_RLIMIT);
}

/* Put in/out/err on 0-2, the error pipe on 3 and the go pipe on 4, close
   the rest. Every fd we keep moves above 9 first, so that no dup2 below
   can clobber one of them. Returns the error pipe's fd (3). */
static int child_fds(const child_arg_t *a) {
    int efd = a->efd;
    int fds[5] = {a->in, a->out, a->err, a->efd, a->gofd};
    for (int i = 0; i < 5; i++) {
        if (fds[i] < 0) continue;
        int nfd = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
        if (nfd < 0) child_fail(efd, ST_FD);
        fds[i] = nfd;
        if (i == 3) efd = nfd;
    }
    if (fds[0] < 0) {
        fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fds[0] < 0) child_fail(efd, ST_FD);
    }
    if (dup2(fds[0], 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[2], 2) < 0 ||
        dup3(fds[3], 3, O_CLOEXEC) < 0 || dup3(fds[4], 4, O_CLOEXEC) < 0)
        child_fail(efd, ST_FD);
    if (syscall(SYS_close_range, 5u, ~0u, 0u) != 0) {
        for (int fd = 5; fd < 65536; fd++) close(fd);
    }
    return 3;
}

static int child_main(void *arg) {
    const child_arg_t *a = arg;
    const pt_launch_t *l = a->l;
    /* Own process group, so signals aimed at the server's group (a ^C on
       its terminal) do not reach the target. */
    setpgid(0, 0);
    int efd = child_fds(a);
    /* Wait until the parent has seized us, so the tracer sees the exec. */
    char go;
    if (read(4, &go, 1) != 1) _exit(127);
    close(4);
    if (l->cwd && chdir(l->cwd) != 0) child_fail(efd, ST_CHDIR);
    child_limit(efd, RLIMIT_CPU, l->cpu_seconds);
    child_limit(efd, RLIMIT_AS, l->memory_bytes);
    child_limit(efd, RLIMIT_NOFILE, l->files);
    if (l->set_user) {
        if (syscall(SYS_setgroups, (size_t)l->ngroups, l->groups) != 0) child_fail(efd, ST_GROUPS);
        if (syscall(SYS_setgid, l->gid) != 0) child_fail(efd, ST_GID);
        if (syscall(SYS_setuid, l->uid) != 0) child_fail(efd, ST_UID);
    }
    /* A program must start with default dispositions (an ignored signal,
       like the server's SIGPIPE, stays ignored across exec) and an empty
       mask (the server blocks SIGCHLD and the stop signals); handlers must
       go before the mask does (see above). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(l->path, l->argv, l->envp);
    child_fail(efd, ST_EXEC);
    return 127;
}

static const char *stage_name(int stage) {
    switch (stage) {
    case ST_FD: return "setting up file descriptors";
    case ST_CHDIR: return "chdir";
    case ST_RLIMIT: return "setrlimit";
    case ST_GROUPS: return "setgroups";
    case ST_GID: return "setgid";
    case ST_UID: return "setuid";
    default: return "execve";
    }
}

static void close_all(int *fds, int n) {
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) close(fds[i]);
}

/* Read until EOF, which comes only once the child has left the server's
   address space: exec has switched it to its own, or exit has dropped it
   (exit releases the mm before it closes the fds), so its stack may go. */
static void drain_to_eof(int fd) {
    char tmp[64];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof tmp)) > 0 || (n < 0 && errno == EINTR)) {}
}

/* Read the child's verdict: EOF alone means the exec happened (the pipe is
   close-on-exec), a record means a stage failed. */
static int read_verdict(const pt_launch_t *l, int fd, char *err, size_t errlen) {
    int rec[2];
    ssize_t n;
    do n = read(fd, rec, sizeof rec); while (n < 0 && errno == EINTR);
    if (n > 0) drain_to_eof(fd);
    if (n == 0) return 0;
    if (n != (ssize_t)sizeof rec) {
        snprintf(err, errlen, "launch of %s: the child died before exec", l->path);
        return -1;
    }
    const char *arg = rec[0] == ST_CHDIR ? l->cwd : rec[0] == ST_EXEC ? l->path : "";
    snprintf(err, errlen, "%s%s%s: %s", stage_name(rec[0]), arg[0] ? " " : "", arg,
             strerror(rec[1]));
    errno = rec[1];
    return -1;
}

/* Valgrind (the memcheck test label) cannot run a general clone() and
   stops the process; under it the launch falls back to fork. */
static bool under_valgrind(void) {
#if __has_include(<valgrind/valgrind.h>)
    return RUNNING_ON_VALGRIND != 0;
#else
    return false;
#endif
}

/* clone(CLONE_VM) rather than fork: fork copies the server's page tables
   (it grows with every target thread's stack and every mapping) and makes
   the child's exec tear the copy down again; both were most of a launch.
   Not CLONE_VFORK: this thread must PTRACE_SEIZE the child before it execs.
   All signals are blocked around clone so that the child starts with them
   blocked. Returns the pid, or -1 with errno. */
static pid_t spawn_child(child_arg_t *a, void *stack) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid;
    if (under_valgrind()) { /* it runs only fork-like clones */
        pid = fork();
        if (pid == 0) _exit(child_main(a));
    } else {
        pid = clone(child_main, (char *)stack + CHILD_STACK, CLONE_VM | SIGCHLD, a);
    }
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return pid;
}

/* Seize the child, let it exec, read its verdict. */
static int start_child(const pt_launch_t *l, pid_t pid, int gofd, int exfd, char *err,
                       size_t errlen) {
    int rc = 0;
    if (ptrace(PTRACE_SEIZE, pid, 0L, (long)PT_OPTIONS) != 0) {
        snprintf(err, errlen, "ptrace seize of pid %d: %s", (int)pid, strerror(errno));
        kill(pid, SIGKILL);
        rc = -1;
    } else if (write(gofd, "g", 1) != 1) {
        snprintf(err, errlen, "starting pid %d: %s", (int)pid, strerror(errno));
        kill(pid, SIGKILL);
        rc = -1;
    }
    close(gofd);
    if (rc != 0) {
        drain_to_eof(exfd);
        return rc;
    }
    return read_verdict(l, exfd, err, errlen);
}

int pt_launch(const pt_launch_t *l, const char *owner, pt_child_t *c, char *err, size_t errlen) {
    int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1}, ex[2] = {-1, -1}, go[2] = {-1, -1};
    /* All O_CLOEXEC: a fork in another target thread must not keep our
       pipes open (its child closes them at exec, and at close_range). */
    if ((!l->stdin_null && pipe2(in, O_CLOEXEC) != 0) || pipe2(out, O_CLOEXEC) != 0 ||
        pipe2(er, O_CLOEXEC) != 0 || pipe2(ex, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        int all[10] = {in[0], in[1], out[0], out[1], er[0], er[1], ex[0], ex[1], go[0], go[1]};
        close_all(all, 10);
        return -1;
    }
    void *stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    child_arg_t a = {l, in[0], out[1], er[1], ex[1], go[0]};
    pid_t pid = stack == MAP_FAILED ? -1 : spawn_child(&a, stack);
    int e = errno;
    int child_ends[5] = {in[0], out[1], er[1], ex[1], go[0]};
    close_all(child_ends, 5);
    if (pid < 0) {
        snprintf(err, errlen, "%s: %s", stack == MAP_FAILED ? "mmap" : "clone", strerror(e));
        if (stack != MAP_FAILED) munmap(stack, CHILD_STACK);
        int ours[5] = {in[1], out[0], er[0], ex[0], go[1]};
        close_all(ours, 5);
        return -1;
    }
    corral_reaper_watch(pid, owner);
    int rc = start_child(l, pid, go[1], ex[0], err, errlen);
    close(ex[0]);
    munmap(stack, CHILD_STACK);    /* the child has left our address space */
    if (rc != 0) {
        int ours[3] = {in[1], out[0], er[0]};
        close_all(ours, 3);
        return -1;
    }
    c->pid = pid;
    c->in_fd = in[1];
    c->out_fd = out[0];
    c->err_fd = er[0];
    int mine[3] = {c->in_fd, c->out_fd, c->err_fd};
    for (int i = 0; i < 3; i++)
        if (mine[i] >= 0) fcntl(mine[i], F_SETFL, fcntl(mine[i], F_GETFL) | O_NONBLOCK);
    return 0;
}

int pt_seize(pid_t tid) { return (int)ptrace(PTRACE_SEIZE, tid, 0L, (long)PT_OPTIONS); }
int pt_cont(pid_t tid, int sig) { return (int)ptrace(PTRACE_CONT, tid, 0L, (long)sig); }
int pt_step(pid_t tid, int sig) { return (int)ptrace(PTRACE_SINGLESTEP, tid, 0L, (long)sig); }
int pt_interrupt(pid_t tid) { return (int)ptrace(PTRACE_INTERRUPT, tid, 0L, 0L); }
int pt_listen(pid_t tid) { return (int)ptrace(PTRACE_LISTEN, tid, 0L, 0L); }
int pt_detach(pid_t tid, int sig) { return (int)ptrace(PTRACE_DETACH, tid, 0L, (long)sig); }
int pt_getregs(pid_t tid, struct user_regs_struct *r) {
    return (int)ptrace(PTRACE_GETREGS, tid, 0L, r);
}
int pt_setregs(pid_t tid, const struct user_regs_struct *r) {
    return (int)ptrace(PTRACE_SETREGS, tid, 0L, r);
}
int pt_eventmsg(pid_t tid, unsigned long *msg) {
    return (int)ptrace(PTRACE_GETEVENTMSG, tid, 0L, msg);
}
int pt_siginfo(pid_t tid, siginfo_t *si) { return (int)ptrace(PTRACE_GETSIGINFO, tid, 0L, si); }

int pt_get_dr(pid_t tid, int i, uint64_t *v) {
    errno = 0;
    long r = ptrace(PTRACE_PEEKUSER, tid, (long)(offsetof(struct user, u_debugreg) + 8 * i), 0L);
    if (r == -1 && errno) return -1;
    *v = (uint64_t)r;
    return 0;
}

int pt_set_dr(pid_t tid, int i, uint64_t v) {
    return (int)ptrace(PTRACE_POKEUSER, tid, (long)(offsetof(struct user, u_debugreg) + 8 * i),
                       (long)v);
}

static int peek(pid_t tid, uint64_t addr, uint64_t *word) {
    errno = 0;
    long w = ptrace(PTRACE_PEEKDATA, tid, (long)addr, 0L);
    if (w == -1 && errno) return -1;
    *word = (uint64_t)w;
    return 0;
}

/* Word-wise copy through the aligned words covering [addr, addr+len): an
   aligned word never straddles a page, so no spurious EIO at a map end. */
static int peek_range(pid_t tid, uint64_t addr, unsigned char *buf, size_t len) {
    while (len > 0) {
        uint64_t base = addr & ~7ull, word = 0;
        if (peek(tid, base, &word) != 0) return -1;
        size_t skip = (size_t)(addr - base), n = 8 - skip < len ? 8 - skip : len;
        memcpy(buf, (unsigned char *)&word + skip, n);
        buf += n;
        addr += n;
        len -= n;
    }
    return 0;
}

int pt_read(pid_t pid, pid_t tid, uint64_t addr, void *buf, size_t len) {
    if (addr + len < addr) {
        errno = EFAULT;
        return -1;
    }
    size_t done = 0;
    while (done < len) {
        struct iovec local = {(char *)buf + done, len - done};
        struct iovec remote = {(void *)(uintptr_t)(addr + done), len - done};
        ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (n <= 0) break;
        done += (size_t)n;
    }
    if (done == len) return 0;
    /* process_vm_readv honours page protections; PEEKDATA (FOLL_FORCE)
       reads what the tracer may, such as execute-only text. */
    int saved = errno ? errno : EFAULT;
    if (tid <= 0) {
        errno = saved;
        return -1;
    }
    return peek_range(tid, addr + done, (unsigned char *)buf + done, len - done);
}

int pt_write(pid_t tid, uint64_t addr, const void *buf, size_t len) {
    const unsigned char *p = buf;
    if (addr + len < addr) {
        errno = EFAULT;
        return -1;
    }
    while (len > 0) {
        uint64_t base = addr & ~7ull, word = 0;
        size_t skip = (size_t)(addr - base), n = 8 - skip < len ? 8 - skip : len;
        if (n < 8 && peek(tid, base, &word) != 0) return -1;
        memcpy((unsigned char *)&word + skip, p, n);
        if (ptrace(PTRACE_POKEDATA, tid, (long)base, (long)word) != 0) return -1;
        p += n;
        addr += n;
        len -= n;
    }
    return 0;
}
