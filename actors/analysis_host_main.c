/* corral-analysis-host — one analysis run: started by the supervisor with
   fork+exec, it reads its launch description from an inherited pipe
   (--launch-fd N: the secret never appears on a command line or in an
   environment), starts the analysis program as its child in a process
   group of its own, proxies its I/O, stores its results in the run's
   directory, and is the analysis's actor on the broker's ipc socket. */
#include "actors/analysis_host.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "actors/logfmt.h"
#include "corral/log.h"

#define CHUNK 65536

static volatile sig_atomic_t g_term;
static void on_term(int sig) { (void)sig; g_term = 1; }


/* A NULL-terminated copy of an array of strings. */
static char **str_array(const msgpack_object *a) {
    uint32_t n = a && a->type == MSGPACK_OBJECT_ARRAY ? a->via.array.size : 0;
    char **v = calloc(n + 1, sizeof *v);
    for (uint32_t i = 0; v && i < n; i++) {
        const msgpack_object *s = &a->via.array.ptr[i];
        v[i] = s->type == MSGPACK_OBJECT_STR ? strndup(s->via.str.ptr, s->via.str.size) : strdup("");
    }
    return v;
}

static void free_array(char **v) {
    for (size_t i = 0; v && v[i]; i++) free(v[i]);
    free(v);
}

/* Read and decode the launch description from fd. */
static int read_launch(host_t *h, int fd) {
    char *buf = malloc(CORRAL_ANALYSIS_DESC_MAX + 1);
    size_t n = 0;
    ssize_t r;
    while (buf && n <= CORRAL_ANALYSIS_DESC_MAX && (r = read(fd, buf + n, CORRAL_ANALYSIS_DESC_MAX + 1 - n)) != 0) {
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        n += (size_t)r;
    }
    close(fd);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc = -1;
    if (buf && n <= CORRAL_ANALYSIS_DESC_MAX &&
        msgpack_unpack_next(&u, buf, n, &off) == MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *o = &u.data;
        corral_ainfo_unpack(&h->info, o); /* id is "address" here: set below */
        corral_member_str(o, "address", h->info.id, sizeof h->info.id);
        corral_member_str(o, "identity", h->identity, sizeof h->identity);
        corral_member_str(o, "secret", h->secret, sizeof h->secret);
        corral_member_str(o, "endpoint", h->endpoint, sizeof h->endpoint);
        corral_member_str(o, "runDir", h->run_dir, sizeof h->run_dir);
        corral_member_str(o, "workDir", h->work_dir, sizeof h->work_dir);
        corral_member_str(o, "program", h->program, sizeof h->program);
        h->argv = str_array(corral_value_member(o, "argv"));
        h->envp = str_array(corral_value_member(o, "env"));
        h->uid = (uid_t)corral_member_int(o, "uid");
        h->gid = (gid_t)corral_member_int(o, "gid");
        corral_value_bool(corral_value_member(o, "stdin"), &h->has_stdin);
        h->heartbeat_ms = (int)corral_member_int(o, "heartbeatMs");
        h->output_buffer = (size_t)corral_member_int(o, "outputBuffer");
        h->input_buffer = (size_t)corral_member_int(o, "inputBuffer");
        h->sndhwm = (int)corral_member_int(o, "sndhwm");
        h->max_wait_ms = (int)corral_member_int(o, "maxWaitMs");
        corral_log_set_level((int)corral_member_int(o, "logLevel"));
        h->info.started_ms = corral_member_int(o, "startedAt");
        rc = h->info.id[0] && h->secret[0] && h->run_dir[0] && h->argv && h->argv[0] ? 0 : -1;
    }
    msgpack_unpacked_destroy(&u);
    free(buf);
    return rc;
}

/* The program's path: as given when it has a '/', else the first
   executable of that name on the program's PATH. Resolved before fork. */
static int resolve_program(host_t *h) {
    if (strchr(h->program, '/')) return access(h->program, X_OK);
    const char *path = "/usr/local/bin:/usr/bin:/bin";
    for (char **e = h->envp; *e; e++)
        if (!strncmp(*e, "PATH=", 5)) path = *e + 5;
    char dirs[CORRAL_PATH_MAX], cand[2 * CORRAL_PATH_MAX + 2];
    snprintf(dirs, sizeof dirs, "%s", path);
    for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(cand, sizeof cand, "%s/%s", d, h->program);
        if (strlen(cand) < sizeof h->program && access(cand, X_OK) == 0) {
            memcpy(h->program, cand, strlen(cand) + 1);
            return 0;
        }
    }
    errno = ENOENT;
    return -1;
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void child(host_t *h, int fds[4], int errfd) {
    int e;
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    if (setpgid(0, 0) < 0) goto fail;
    for (int i = 0; i < 4; i++)
        if (dup2(fds[i], i) < 0) goto fail;
    if (chdir(h->work_dir) < 0) goto fail;
    if (getuid() == 0 && (setgroups(1, &h->gid) < 0 || setgid(h->gid) < 0 || setuid(h->uid) < 0)) goto fail;
    /* After setuid (which clears it): the program dies with its host, so a
       SIGKILLed host leaves no unsupervised program behind. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execve(h->program, h->argv, h->envp);
fail:
    e = errno;
    (void)!write(errfd, &e, sizeof e);
    _exit(127);
}

/* A pipe whose ends are both above fd 3 (so the dup2s in the child cannot
   clobber one another) and close-on-exec. */
static int high_pipe(int p[2]) {
    int q[2];
    if (pipe2(q, O_CLOEXEC) < 0) return -1;
    for (int i = 0; i < 2; i++) {
        p[i] = fcntl(q[i], F_DUPFD_CLOEXEC, 10);
        close(q[i]);
    }
    return p[0] < 0 || p[1] < 0 ? -1 : 0;
}

/* Start the program. 0, or -1 with info.error set. */
static int spawn(host_t *h) {
    int in[2], out[2], err[2], res[2], ep[2];
    if (resolve_program(h) < 0) {
        snprintf(h->info.error, sizeof h->info.error, "program %.180s: %s", h->program, strerror(errno));
        return -1;
    }
    if (high_pipe(in) < 0 || high_pipe(out) < 0 || high_pipe(err) < 0 || high_pipe(res) < 0 || high_pipe(ep) < 0) {
        snprintf(h->info.error, sizeof h->info.error, "pipe: %s", strerror(errno));
        return -1;
    }
    int fds[4] = {in[0], out[1], err[1], res[1]};
    pid_t pid = fork();
    if (pid == 0) child(h, fds, ep[1]);
    int fork_errno = errno;
    for (int i = 0; i < 4; i++) close(fds[i]);
    close(ep[1]);
    if (pid < 0) {
        snprintf(h->info.error, sizeof h->info.error, "fork: %s", strerror(fork_errno));
        return -1;
    }
    int e = 0;
    ssize_t r;
    while ((r = read(ep[0], &e, sizeof e)) < 0 && errno == EINTR) {}
    close(ep[0]);
    h->info.pid = pid;
    h->fd_in = in[1];
    h->fd_out = out[0];
    h->fd_err = err[0];
    h->fd_res = res[0];
    for (int i = 0; i < 3; i++) fcntl(i == 0 ? h->fd_in : i == 1 ? h->fd_out : h->fd_err, F_SETFL, O_NONBLOCK);
    fcntl(h->fd_res, F_SETFL, O_NONBLOCK);
    h->pidfd = pidfd_open(pid, 0);
    if (r > 0) { /* exec failed: the child wrote its errno */
        waitpid(pid, NULL, 0);
        h->reaped = true;
        snprintf(h->info.error, sizeof h->info.error, "exec %.180s: %s", h->program, strerror(e));
        return -1;
    }
    return 0;
}

/* Feed runDir/stdin.bin (options.stdin) to the program, then close input. */
static void load_stdin(host_t *h) {
    if (!h->has_stdin) return;
    char path[CORRAL_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/stdin.bin", h->run_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char buf[CHUNK];
    ssize_t n;
    while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0) corral_buf_append(&h->input, buf, (size_t)n);
    if (fd >= 0) close(fd);
    h->input_closing = true;
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Parse the complete lines of h->line[0..line_len); keep the partial one. */
static void take_lines(host_t *h, int64_t now) {
    size_t start = 0;
    corral_fault_t f;
    for (;;) {
        char *nl = memchr(h->line + start, '\n', h->line_len - start);
        if (!nl) break;
        size_t n = (size_t)(nl - (h->line + start));
        if (h->line_skip) {
            h->line_skip = false; /* the end of an over-long line */
        } else {
            msgpack_packer *pk = corral_results_begin(h->res);
            int k = corral_logfmt_pack(pk, h->line + start, n);
            if (k > 0) {
                if (corral_results_commit(h->res, now, &f) < 0) h->info.skipped++;
            } else {
                corral_results_abort(h->res);
                if (k < 0) h->info.skipped++;
            }
        }
        start += n + 1;
    }
    memmove(h->line, h->line + start, h->line_len - start);
    h->line_len -= start;
    if (h->line_len > CORRAL_LOGFMT_LINE_MAX) { /* no newline within the bound */
        if (!h->line_skip) h->info.skipped++;
        h->line_skip = true;
        h->line_len = 0;
    }
}

static void read_results(host_t *h) {
    ssize_t n = read(h->fd_res, h->line + h->line_len, CHUNK);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (h->line_len && !h->line_skip) { /* a last line without its newline */
            h->line[h->line_len++] = '\n';
            take_lines(h, corral_now_ms());
        }
        close_fd(&h->fd_res);
    } else {
        h->line_len += (size_t)n;
        take_lines(h, corral_now_ms());
    }
    /* One write(2) per batch: from here a result survives the host dying. */
    corral_results_flush(h->res);
    h->info.results = corral_results_count(h->res);
    h->state_dirty = true;
}

static void read_output(host_t *h, int s) {
    int *fd = s ? &h->fd_err : &h->fd_out;
    char buf[CHUNK];
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n > 0) {
        corral_aout_write(&h->out[s], buf, (size_t)n);
        h->info.out_total[s] = h->out[s].total;
        h->info.out_file[s] = h->out[s].file_len;
        h->state_dirty = true;
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        close_fd(fd);
        h->out[s].eof = true;
    }
}

static void write_input(host_t *h) {
    if (h->input.len) {
        ssize_t n = write(h->fd_in, h->input.data, h->input.len);
        if (n > 0) corral_buf_consume(&h->input, (size_t)n);
        else if (n < 0 && errno != EAGAIN && errno != EINTR) h->input.len = 0, h->input_closing = true;
    }
    if (!h->input.len && h->input_closing) close_fd(&h->fd_in);
}

bool host_reap(host_t *h, int ms) {
    if (h->reaped) return true;
    if (ms > 0 && h->pidfd >= 0) {
        struct pollfd p = {.fd = h->pidfd, .events = POLLIN};
        poll(&p, 1, ms);
    }
    int st;
    pid_t r = waitpid(h->info.pid, &st, WNOHANG);
    if (r != h->info.pid) return false;
    h->reaped = true;
    close_fd(&h->pidfd);
    if (WIFEXITED(st)) {
        h->info.state = CORRAL_A_EXITED;
        h->info.exit_code = WEXITSTATUS(st);
    } else {
        h->info.signal = WTERMSIG(st);
        /* killed only when the API sent it; a signal nobody sent is a failure */
        h->info.state = h->api_signalled ? CORRAL_A_KILLED : CORRAL_A_FAILED;
    }
    h->info.ended_ms = corral_now_ms();
    h->drain_until = corral_mono_ms() + CORRAL_ANALYSIS_DRAIN_MS;
    LOG_INFO("analysis", "%s: program %d %s (exit code %d, signal %d)", h->info.id, h->info.pid,
             corral_astate_name(h->info.state), h->info.exit_code, h->info.signal);
    h->state_dirty = true;
    return true;
}

void host_send_state(host_t *h) {
    char sup[CORRAL_ADDR_MAX];
    snprintf(sup, sizeof sup, CORRAL_SUP_PREFIX "%s", h->info.node);
    msgpack_packer *pk = corral_actor_send_begin(h->actor, CORRAL_K_EVENT, sup, "analysis.state");
    msgpack_pack_array(pk, 1);
    corral_ainfo_pack(&h->info, pk, true);
    corral_actor_send_end(h->actor);
    h->state_dirty = false;
    h->next_state = corral_mono_ms() + CORRAL_ANALYSIS_STATE_MS;
}

/* Milliseconds until the next timer of the loop. */
static long next_timeout(host_t *h, int64_t now) {
    int64_t t = h->next_hb;
    if (h->state_dirty && h->next_state < t) t = h->next_state;
    if (corral_results_dirty(h->res) && h->last_sync + CORRAL_RESULTS_SYNC_MS < t)
        t = h->last_sync + CORRAL_RESULTS_SYNC_MS;
    if (h->reaped && h->drain_until < t) t = h->drain_until;
    if (h->term_kill_at && h->term_kill_at < t) t = h->term_kill_at;
    if (h->nwaits && now + 100 < t) t = now + 100; /* parked waits: deadlines checked at 100 ms */
    if (!h->reaped && h->pidfd < 0 && now + 50 < t) t = now + 50;
    return t > now ? (long)(t - now) : 0;
}

static void heartbeat(host_t *h, int64_t now) {
    if (now < h->next_hb) return;
    msgpack_packer *pk = corral_actor_send_begin(h->actor, CORRAL_K_CONTROL, "broker", "heartbeat");
    msgpack_pack_array(pk, 0);
    corral_actor_send_end(h->actor);
    h->next_hb = now + h->heartbeat_ms;
}

static void timers(host_t *h) {
    int64_t now = corral_mono_ms();
    heartbeat(h, now);
    if (corral_results_dirty(h->res) && now >= h->last_sync + CORRAL_RESULTS_SYNC_MS) {
        corral_results_sync(h->res);
        h->last_sync = now;
    }
    if (g_term && !h->term_kill_at && !h->reaped) {
        /* The server is ending its analyses: TERM the group, KILL it later. */
        h->api_signalled = true;
        host_group_kill(h, SIGTERM);
        host_group_kill(h, SIGCONT);
        h->term_kill_at = now + CORRAL_ANALYSIS_TERM_MS;
    }
    if (h->term_kill_at && now >= h->term_kill_at && !h->reaped) host_group_kill(h, SIGKILL);
    if (!h->reaped) host_reap(h, 0);
    if (h->state_dirty && now >= h->next_state) host_send_state(h);
    host_waits_tick(h);
}

/* Poll the broker socket and the program's pipes until the program has
   ended and its output is drained. */
static void run(host_t *h) {
    zmq_pollitem_t it[6];
    while (!h->reaped || ((h->fd_out >= 0 || h->fd_err >= 0 || h->fd_res >= 0) &&
                          corral_mono_ms() < h->drain_until)) {
        int n = 0;
        it[n++] = (zmq_pollitem_t){corral_actor_socket(h->actor), 0, ZMQ_POLLIN, 0};
        int fds[5] = {h->fd_out, h->fd_err, h->fd_res, h->fd_in, h->pidfd};
        int base = n;
        for (int i = 0; i < 5; i++) {
            short ev = i == 3 ? ((h->input.len || h->input_closing) ? ZMQ_POLLOUT : 0) : ZMQ_POLLIN;
            it[n++] = (zmq_pollitem_t){NULL, fds[i] >= 0 && ev ? fds[i] : -1, ev, 0};
        }
        int rc = zmq_poll(it, n, next_timeout(h, corral_mono_ms()));
        if (rc < 0 && errno == ETERM) return;
        if (rc > 0) {
            if (it[base].revents) read_output(h, 0);
            if (it[base + 1].revents) read_output(h, 1);
            if (it[base + 2].revents) read_results(h);
            if (it[base + 3].revents) write_input(h);
            if (it[base + 4].revents) host_reap(h, 0);
            for (int k = 0; k < 64 && (it[0].revents & ZMQ_POLLIN); k++) {
                corral_msg_t *m = corral_actor_recv(h->actor, ZMQ_DONTWAIT);
                if (!m) {
                    if (errno == EAGAIN) break;
                    if (errno == ETERM) return;
                    continue;
                }
                host_handle(h, &m);
            }
        }
        timers(h);
    }
}

/* Serve requests until the release has come (quiet: and then no message
   for CORRAL_ANALYSIS_LINGER_MS) or the time is up. */
static void serve_until_quiet(host_t *h, int64_t until, bool quiet) {
    for (;;) {
        int64_t now = corral_mono_ms();
        if (now >= until || (!quiet && h->released)) return;
        heartbeat(h, now); /* finishing must not look like silence to the broker */
        zmq_pollitem_t it = {corral_actor_socket(h->actor), 0, ZMQ_POLLIN, 0};
        long tmo = quiet ? CORRAL_ANALYSIS_LINGER_MS : (long)(until - now);
        if (tmo > h->next_hb - now) tmo = (long)(h->next_hb - now);
        int rc = zmq_poll(&it, 1, tmo);
        if (rc < 0 && errno == ETERM) return;
        if (rc == 0 && quiet && corral_mono_ms() - now >= CORRAL_ANALYSIS_LINGER_MS) return;
        corral_msg_t *m = corral_actor_recv(h->actor, ZMQ_DONTWAIT);
        if (m) host_handle(h, &m);
    }
}

/* The program has ended: make everything durable, tell the supervisor, and
   wait (bounded) until it has adopted the address. */
static void finish(host_t *h) {
    close_fd(&h->fd_in);
    close_fd(&h->fd_out);
    close_fd(&h->fd_err);
    close_fd(&h->fd_res);
    if (h->info.pid > 0) host_group_kill(h, SIGKILL); /* strays left in its group */
    if (h->res) corral_results_sync(h->res);
    h->info.results = h->res ? corral_results_count(h->res) : 0;
    for (int s = 0; s < 2; s++) {
        h->out[s].eof = true;
        h->info.out_total[s] = h->out[s].total;
        h->info.out_file[s] = h->out[s].file_len;
        corral_aout_finish(&h->out[s], h->run_dir);
    }
    if (!h->info.ended_ms) h->info.ended_ms = corral_now_ms();
    if (corral_ainfo_save(&h->info, h->run_dir) < 0)
        LOG_ERROR("analysis", "%s: %s/info.mp: %s", h->info.id, h->run_dir, strerror(errno));
    h->stored = true;
    if (h->info.skipped)
        LOG_WARN("analysis", "%s: %llu lines on fd 3 were not logfmt and were skipped", h->info.id,
                 (unsigned long long)h->info.skipped);
    host_send_state(h);
    /* Until release the address routes here: keep answering. The release
       comes after the supervisor revoked the token, so waits answered from
       here on tell of a run whose token is gone. Then serve what is still
       waits, serve until the queue is quiet (a client's next call after its
       wait returned comes here, remove included), and say done: the
       supervisor adopts the address on that, and the broker answers
       whatever is still in flight to this identity with fault 5 (so the
       quiet period keeps that to calls racing the adopt itself). */
    int64_t until = corral_mono_ms() + CORRAL_ANALYSIS_RELEASE_MS;
    serve_until_quiet(h, until, false);
    h->finished = true;
    host_waits_tick(h);
    serve_until_quiet(h, until, true);
    char sup[CORRAL_ADDR_MAX];
    snprintf(sup, sizeof sup, CORRAL_SUP_PREFIX "%s", h->info.node);
    msgpack_packer *pk = corral_actor_send_begin(h->actor, CORRAL_K_EVENT, sup, "analysis.done");
    msgpack_pack_array(pk, 0);
    corral_actor_send_end(h->actor);
    serve_until_quiet(h, until + CORRAL_ANALYSIS_LINGER_MS, true);
}

static int setup(host_t *h) {
    char err[512];
    h->line = malloc(CORRAL_LOGFMT_LINE_MAX + CHUNK + 1);
    h->res = corral_results_open(h->run_dir, true, err, sizeof err);
    if (!h->line || !h->res) {
        snprintf(h->info.error, sizeof h->info.error, "%.250s", h->res ? "out of memory" : err);
        return -1;
    }
    for (int s = 0; s < 2; s++)
        if (corral_aout_open(&h->out[s], h->run_dir, s, h->output_buffer) < 0) {
            snprintf(h->info.error, sizeof h->info.error, "%.180s: %s", h->out[s].path, strerror(errno));
            return -1;
        }
    load_stdin(h);
    return spawn(h);
}

int main(int argc, char **argv) {
    host_t hs = {.fd_in = -1, .fd_out = -1, .fd_err = -1, .fd_res = -1, .pidfd = -1};
    host_t *h = &hs;
    if (argc != 3 || strcmp(argv[1], "--launch-fd") != 0) {
        fprintf(stderr, "usage: %s --launch-fd N (started by corrald only)\n", argv[0]);
        return 2;
    }
    /* corrald blocks SIGTERM, SIGINT and SIGCHLD in every thread, and exec
       keeps the mask: unblock, or the server's SIGTERM at shutdown would
       never reach this host. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (read_launch(h, atoi(argv[2])) < 0) {
        LOG_ERROR("analysis", "host %d: bad or missing launch description", (int)getpid());
        return 2;
    }
    h->info.host_pid = (int)getpid();
    /* fd 3 held by /dev/null: no pipe made later can land on 0..3. */
    int null = open("/dev/null", O_RDWR);
    if (null >= 0 && null != 3) dup2(null, 3), close(null);
    /* The program is forked before any ZeroMQ context exists, so the child
       between fork and exec is a copy of a single-threaded process. */
    int ok = setup(h);
    h->info.state = ok == 0 ? CORRAL_A_RUNNING : CORRAL_A_FAILED;
    if (ok < 0) {
        h->info.ended_ms = corral_now_ms();
        LOG_WARN("analysis", "%s: launch failed: %s", h->info.id, h->info.error);
    }
    h->zctx = zmq_ctx_new();
    h->actor = corral_actor_new(h->zctx, h->endpoint, h->info.id, h->identity, h->secret, h->sndhwm);
    memset(h->secret, 0, sizeof h->secret);
    if (!h->actor) {
        LOG_ERROR("analysis", "%s: cannot connect to %s: %s", h->info.id, h->endpoint, strerror(errno));
        if (h->info.pid > 0) host_group_kill(h, SIGKILL);
        h->reaped = h->reaped || h->info.pid <= 0;
        while (!h->reaped) host_reap(h, 100);
        /* The supervisor learns of it from the reaper and marks it failed. */
        h->info.state = CORRAL_A_FAILED;
        snprintf(h->info.error, sizeof h->info.error, "analysis host cannot reach the broker");
        if (h->res) corral_results_sync(h->res);
        corral_ainfo_save(&h->info, h->run_dir);
        goto out;
    }
    h->next_hb = corral_mono_ms();
    h->last_sync = corral_mono_ms();
    host_send_state(h);
    if (ok == 0) run(h);
    if (h->info.pid <= 0) h->reaped = true; /* never started: nothing to signal (kill(-0) is our own group) */
    if (!h->reaped) { /* context ended under us: do not leave the program behind */
        host_group_kill(h, SIGKILL);
        while (!host_reap(h, 100)) {}
    }
    finish(h);
    for (int i = 0; i < h->nwaits; i++) corral_msg_destroy(&h->waits[i]);
    corral_actor_destroy(&h->actor);
out:
    zmq_ctx_term(h->zctx);
    corral_results_destroy(&h->res);
    for (int s = 0; s < 2; s++) corral_aout_finish(&h->out[s], h->run_dir);
    corral_buf_free(&h->input);
    corral_ainfo_clear(&h->info);
    free_array(h->argv);
    free_array(h->envp);
    free(h->line);
    return 0;
}
