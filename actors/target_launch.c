/* corral — starting a target: target.launch (fork + exec under ptrace)
   and target.attach (PTRACE_SEIZE of a running process). Everything the
   child needs (path, env, user, groups) is resolved here, before fork. */
#include "actors/target_int.h"
#include "actors/ptrace_ops.h"
#include "corral/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ARGV_MAX 4096
#define ENV_MAX 4096
#define EXEC_WAIT_MS 10000

typedef struct strv { char **v; int n; } strv_t;

/* What one launch resolves, on the heap for its duration: as __thread
   statics these 20 KiB were in every thread's static TLS block, which
   glibc clears (so makes resident) for each thread the server starts. */
typedef struct launch_ctx {
    pt_launch_t l;
    char pwbuf[16384];
    char cwd[CORRAL_PATH_MAX];
} launch_ctx_t;

static void strv_free(strv_t *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int strv_add(strv_t *s, const char *a, size_t an, const char *b, size_t bn) {
    char **nv = realloc(s->v, (size_t)(s->n + 2) * sizeof *nv);
    if (!nv) return -1;
    s->v = nv;
    char *x = malloc(an + bn + 2);
    if (!x) return -1;
    memcpy(x, a, an);
    size_t n = an;
    if (b) {
        x[n++] = '=';
        memcpy(x + n, b, bn);
        n += bn;
    }
    x[n] = '\0';
    s->v[s->n++] = x;
    s->v[s->n] = NULL;
    return 0;
}

static bool has_nul(const char *s, size_t n) { return memchr(s, '\0', n) != NULL; }

static int parse_argv(const msgpack_object *o, strv_t *argv, corral_fault_t *f) {
    if (!o || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0 ||
        o->via.array.size > ARGV_MAX)
        return corral_fault_set(f, CORRAL_F_PARAMS, "spec.argv must be a non-empty array of strings");
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const char *s;
        size_t n;
        if (!corral_value_str(&o->via.array.ptr[i], &s, &n) || has_nul(s, n))
            return corral_fault_set(f, CORRAL_F_PARAMS, "spec.argv[%u] must be a string without NUL", i);
        if (strv_add(argv, s, n, NULL, 0) != 0) return corral_fault_set(f, CORRAL_F_BUSY, "out of memory");
    }
    if (argv->v[0][0] == '\0') return corral_fault_set(f, CORRAL_F_LAUNCH, "argv[0] is empty");
    return 0;
}

static int parse_env(const msgpack_object *o, strv_t *env, const struct passwd *pw,
                     corral_fault_t *f) {
    if (!o) {    /* the clean default environment */
        const char *home = pw ? pw->pw_dir : "/";
        const char *defs[][2] = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", home},
                                 {"LANG", "C.UTF-8"}, {"TERM", "dumb"},
                                 {"USER", pw ? pw->pw_name : "root"},
                                 {"LOGNAME", pw ? pw->pw_name : "root"}};
        for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
            if (strv_add(env, defs[i][0], strlen(defs[i][0]), defs[i][1], strlen(defs[i][1])) != 0)
                return corral_fault_set(f, CORRAL_F_BUSY, "out of memory");
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size > ENV_MAX)
        return corral_fault_set(f, CORRAL_F_PARAMS, "spec.env must be a struct of strings");
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const char *k, *v;
        size_t kn, vn;
        if (!corral_value_str(&o->via.map.ptr[i].key, &k, &kn) ||
            !corral_value_str(&o->via.map.ptr[i].val, &v, &vn) || kn == 0 || has_nul(k, kn) ||
            has_nul(v, vn) || memchr(k, '=', kn))
            return corral_fault_set(f, CORRAL_F_PARAMS, "spec.env member %u must be NAME: string", i);
        if (strv_add(env, k, kn, v, vn) != 0) return corral_fault_set(f, CORRAL_F_BUSY, "out of memory");
    }
    return 0;
}

static const char *env_path(const strv_t *env) {
    for (int i = 0; i < env->n; i++)
        if (strncmp(env->v[i], "PATH=", 5) == 0) return env->v[i] + 5;
    return NULL;
}

static int parse_limits(const msgpack_object *o, pt_launch_t *l, corral_fault_t *f) {
    l->cpu_seconds = l->memory_bytes = l->files = -1;
    if (!o) return 0;
    if (o->type != MSGPACK_OBJECT_MAP) return corral_fault_set(f, CORRAL_F_PARAMS, "spec.limits must be a struct");
    const char *names[] = {"cpuSeconds", "memoryBytes", "files"};
    long long *dst[] = {&l->cpu_seconds, &l->memory_bytes, &l->files};
    for (int i = 0; i < 3; i++) {
        const msgpack_object *v = corral_value_member(o, names[i]);
        int64_t n;
        if (!v) continue;
        if (!corral_value_int(v, &n) || n < 0)
            return corral_fault_set(f, CORRAL_F_PARAMS, "spec.limits.%s must be an int >= 0", names[i]);
        *dst[i] = n;
    }
    return 0;
}

/* The OS user to run as: spec.user (admins only), else --run-as. */
static int resolve_user(target_t *t, const corral_msg_t *msg, const msgpack_object *uo,
                        pt_launch_t *l, struct passwd *pw, char *pwbuf, size_t pwlen,
                        bool *have_pw, corral_fault_t *f) {
    char user[CORRAL_NAME_MAX * 2];
    snprintf(user, sizeof user, "%s", t->cfg->run_as);
    if (uo) {
        if (corral_value_strcpy(uo, user, sizeof user) != 0)
            return corral_fault_set(f, CORRAL_F_PARAMS, "spec.user must be a short string");
        if (msg->env.role != CORRAL_ROLE_ADMIN)
            return corral_fault_set(f, CORRAL_F_PERM, "only an admin may launch as another user (%s)", user);
    }
    *have_pw = false;
    if (!user[0]) return 0;
    struct passwd *res = NULL;
    int rc = getpwnam_r(user, pw, pwbuf, pwlen, &res);
    if (!res)
        return corral_fault_set(f, CORRAL_F_LAUNCH, "user %s: %s", user,
                                rc ? strerror(rc) : "no such user");
    *have_pw = true;
    l->set_user = true;
    l->uid = pw->pw_uid;
    l->gid = pw->pw_gid;
    l->ngroups = PT_GROUPS_MAX;
    if (getgrouplist(pw->pw_name, pw->pw_gid, l->groups, &l->ngroups) < 0) l->ngroups = PT_GROUPS_MAX;
    return 0;
}

/* Wait for the PTRACE_EVENT_EXEC stop of a freshly launched tracee. */
static int wait_exec(target_t *t, corral_fault_t *f) {
    int64_t end = corral_mono_ms() + EXEC_WAIT_MS;
    for (;;) {
        pid_t tid;
        int st;
        int64_t left = end - corral_mono_ms();
        if (left <= 0 || !tgt_next_status(t, (int)left, &tid, &st)) {
            kill(t->pid, SIGKILL);
            return corral_fault_set(f, CORRAL_F_LAUNCH, "pid %d did not exec within %d ms",
                                    (int)t->pid, EXEC_WAIT_MS);
        }
        if (tid != t->pid) continue;
        if (WIFEXITED(st) || WIFSIGNALED(st))
            return corral_fault_set(f, CORRAL_F_LAUNCH, "pid %d ended before exec", (int)t->pid);
        if (WIFSTOPPED(st) && (st >> 16) == PTRACE_EVENT_EXEC) return 0;
        if (WIFSTOPPED(st))   /* a signal before exec: let it take effect */
            pt_cont(tid, (st >> 16) ? 0 : WSTOPSIG(st));
    }
}

static void started_now(target_t *t) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    t->started_sec = ts.tv_sec;
    t->started_nsec = (uint32_t)ts.tv_nsec;
}

static int setup_io(target_t *t, const pt_child_t *c) {
    t->in_fd = c->in_fd;
    t->in_null = c->in_fd < 0;
    t->out.fd = c->out_fd;
    t->err.fd = c->err_fd;
    t->out.cap = t->err.cap = t->cfg->output_buffer;
    t->out.data = malloc(t->out.cap);
    t->err.data = malloc(t->err.cap);
    return t->out.data && t->err.data ? 0 : -1;
}

static int launch_spec(target_t *t, const corral_msg_t *msg, const msgpack_object *spec,
                       strv_t *argv, strv_t *env, launch_ctx_t *c, corral_fault_t *f) {
    pt_launch_t *l = &c->l;
    struct passwd pw;
    bool have_pw;
    bool stop = false;
    const msgpack_object *o;
    if (!spec || spec->type != MSGPACK_OBJECT_MAP)
        return corral_fault_set(f, CORRAL_F_PARAMS, "the launch spec must be a struct");
    if (parse_argv(corral_value_member(spec, "argv"), argv, f) != 0 ||
        resolve_user(t, msg, corral_value_member(spec, "user"), l, &pw, c->pwbuf, sizeof c->pwbuf,
                     &have_pw, f) != 0 ||
        parse_env(corral_value_member(spec, "env"), env, have_pw ? &pw : NULL, f) != 0 ||
        parse_limits(corral_value_member(spec, "limits"), l, f) != 0)
        return -1;
    if ((o = corral_value_member(spec, "stopAtEntry")) && !corral_value_bool(o, &stop))
        return corral_fault_set(f, CORRAL_F_PARAMS, "spec.stopAtEntry must be a boolean");
    if ((o = corral_value_member(spec, "stdin"))) {
        if (corral_value_streq(o, "null")) l->stdin_null = true;
        else if (!corral_value_streq(o, "pipe"))
            return corral_fault_set(f, CORRAL_F_PARAMS, "spec.stdin must be \"pipe\" or \"null\"");
    }
    if ((o = corral_value_member(spec, "cwd"))) {
        if (corral_value_strcpy(o, c->cwd, sizeof c->cwd) != 0)
            return corral_fault_set(f, CORRAL_F_PARAMS, "spec.cwd must be a path string");
        l->cwd = c->cwd;
    }
    if ((o = corral_value_member(spec, "name")) && corral_value_strcpy(o, t->name, sizeof t->name) != 0)
        return corral_fault_set(f, CORRAL_F_PARAMS, "spec.name must be a short string");
    if (pt_resolve_path(argv->v[0], env_path(env), l->path, sizeof l->path) != 0)
        return corral_fault_set(f, CORRAL_F_LAUNCH, "%s: %s", argv->v[0], strerror(errno));
    l->argv = argv->v;
    l->envp = env->v;
    return stop ? 1 : 0;
}

int tgt_launch(target_t *t, corral_msg_t *msg, corral_fault_t *f) {
    strv_t argv = {0}, env = {0};
    /* malloc, not calloc: only the pt_launch_t part needs zeroing */
    launch_ctx_t *ctx = malloc(sizeof *ctx);
    if (!ctx) return corral_fault_set(f, CORRAL_F_BUSY, "out of memory");
    memset(&ctx->l, 0, sizeof ctx->l);
    pt_launch_t *l = &ctx->l;
    int stop = launch_spec(t, msg, corral_param(msg->env.p, 0), &argv, &env, ctx, f);
    pt_child_t c;
    char err[512];
    int rc = -1;
    if (stop < 0) goto out;
    if (pt_launch(l, t->address, &c, err, sizeof err) != 0) {
        corral_fault_set(f, CORRAL_F_LAUNCH, "%s", err);
        goto out;
    }
    t->pid = c.pid;
    t->ours = true;
    if (setup_io(t, &c) != 0 || wait_exec(t, f) != 0) {
        if (!f->code) corral_fault_set(f, CORRAL_F_LAUNCH, "out of memory");
        kill(t->pid, SIGKILL);
        goto out;
    }
    snprintf(t->exe, sizeof t->exe, "%s", l->path);
    if (!t->name[0]) {
        const char *slash = strrchr(argv.v[0], '/');
        snprintf(t->name, sizeof t->name, "%s", slash ? slash + 1 : argv.v[0]);
    }
    t->argv = argv.v;
    t->argc = argv.n;
    argv.v = NULL;
    argv.n = 0;
    started_now(t);
    tthread_t *th = calloc(1, sizeof *th);
    if (!th) goto out;
    t->threads = th;
    t->nthreads = t->cthreads = 1;
    *th = (tthread_t){.tid = t->pid, .stopped = true};
    t->state = TS_STOPPED;
    if (stop) tgt_set_stopped(t, "entry", t->pid, 0, 0);
    else tgt_resume_all(t);
    rc = 0;
out:
    strv_free(&argv);
    strv_free(&env);
    free(ctx);
    return rc;
}

/* Seize every thread listed in /proc/pid/task, again until no new one
   appears (threads may be created while we go; once a thread is seized
   its clones are attached by the kernel). */
static int seize_all(target_t *t, corral_fault_t *f) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)t->pid);
    for (int round = 0; round < 16; round++) {
        DIR *d = opendir(path);
        if (!d) return corral_fault_set(f, CORRAL_F_OS, "pid %d: %s", (int)t->pid, strerror(errno));
        int added = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            pid_t tid = (pid_t)atoi(de->d_name);
            if (tid <= 0 || tgt_thread(t, tid)) continue;
            if (pt_seize(tid) != 0) {
                if (errno == ESRCH && tid != t->pid) continue;   /* it just ended */
                int e = errno;
                closedir(d);
                return corral_fault_set(f, e == EPERM ? CORRAL_F_PERM : CORRAL_F_OS,
                                        "ptrace seize of %d: %s", (int)tid, strerror(e));
            }
            tthread_t *nt = realloc(t->threads, (t->nthreads + 1) * sizeof *nt);
            if (!nt) break;
            t->threads = nt;
            t->cthreads = t->nthreads + 1;
            t->threads[t->nthreads++] = (tthread_t){.tid = tid};
            corral_reaper_watch(tid, t->address);
            added++;
        }
        closedir(d);
        if (!added) return 0;
    }
    return 0;
}

static void read_cmdline(target_t *t) {
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)t->pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) close(fd);
    strv_t v = {0};
    for (ssize_t i = 0; i < n;) {
        size_t len = strnlen(buf + i, (size_t)(n - i));
        if (strv_add(&v, buf + i, len, NULL, 0) != 0) break;
        i += (ssize_t)len + 1;
    }
    t->argv = v.v;
    t->argc = v.n;
    snprintf(path, sizeof path, "/proc/%d/exe", (int)t->pid);
    ssize_t m = readlink(path, t->exe, sizeof t->exe - 1);
    t->exe[m > 0 ? m : 0] = '\0';
    const char *base = strrchr(t->exe, '/');
    snprintf(t->name, sizeof t->name, "%s", base ? base + 1 : t->argc ? t->argv[0] : "?");
}

/* Operators may attach only to processes of the --run-as user (the user
   their own targets run as); admins to any but the server itself. */
static int may_attach(target_t *t, const corral_msg_t *msg, pid_t pid, corral_fault_t *f) {
    if (pid == getpid()) return corral_fault_set(f, CORRAL_F_PERM, "pid %d is the server itself", (int)pid);
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    if (stat(path, &st) != 0) return corral_fault_set(f, CORRAL_F_OS, "pid %d: %s", (int)pid, strerror(errno));
    if (msg->env.role == CORRAL_ROLE_ADMIN) return 0;
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (!t->cfg->run_as[0] || getpwnam_r(t->cfg->run_as, &pw, buf, sizeof buf, &res) != 0 || !res ||
        res->pw_uid != st.st_uid)
        return corral_fault_set(f, CORRAL_F_PERM, "pid %d belongs to uid %u; only an admin may attach to it",
                                (int)pid, (unsigned)st.st_uid);
    return 0;
}

int tgt_attach(target_t *t, corral_msg_t *msg, corral_fault_t *f) {
    int64_t pid;
    if (!corral_value_int(corral_param(msg->env.p, 0), &pid) || pid <= 0 || pid > 0x7fffffff)
        return corral_fault_set(f, CORRAL_F_PARAMS, "pid must be a positive int");
    if (may_attach(t, msg, (pid_t)pid, f) != 0) return -1;
    t->pid = (pid_t)pid;
    corral_reaper_watch(t->pid, t->address);
    if (seize_all(t, f) != 0) {
        for (size_t i = 0; i < t->nthreads; i++) pt_detach(t->threads[i].tid, 0);
        t->nthreads = 0;
        return -1;
    }
    read_cmdline(t);
    started_now(t);
    /* Stop every thread once, so that the table is complete and each is
       in a known state, then let them all run on. */
    t->state = TS_RUNNING;
    if (tgt_stop_all(t) != 0)
        return corral_fault_set(f, CORRAL_F_OS, "pid %d ended while attaching", (int)pid);
    seize_all(t, f);
    tgt_stop_all(t);
    t->state = TS_STOPPED;
    tgt_resume_all(t);
    return 0;
}
