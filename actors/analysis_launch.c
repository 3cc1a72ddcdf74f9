/* corral — analysis.launch on the supervisor: parameters checked against
   the descriptor, the run's directory made, and the analysis host started
   with fork+exec. The supervisor process holds a ZeroMQ context, so
   between fork and exec the child makes only async-signal-safe calls. */
#include "actors/analysis_sup.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>
#include "corral/auth.h"
#include "corral/buf.h"
#include "corral/log.h"
#include "corral/reaper.h"

extern char **environ;

typedef struct launch {
    const corral_descriptor_t *d;
    const msgpack_object *given[CORRAL_DESC_PARAMS_MAX];  /* NULL: default or absent */
    const msgpack_object *stdin_data, *files;
    char target[CORRAL_ADDR_MAX];
    uid_t uid;
    gid_t gid;
    char user[CORRAL_NAME_MAX];
} launch_t;

static bool is_target_id(const char *s, size_t n) {
    const char *at = memchr(s, '@', n);
    return n > 2 && n < CORRAL_ADDR_MAX && s[0] == 't' && at && at > s + 1 && at < s + n - 1;
}

/* One given value against its declared type. */
static bool type_ok(const corral_dparam_t *p, const msgpack_object *v) {
    int64_t i;
    bool b;
    const char *s;
    size_t n;
    switch (p->type) {
    case CORRAL_P_INT: return corral_value_int(v, &i);
    case CORRAL_P_DOUBLE: return corral_value_int(v, &i) || v->type == MSGPACK_OBJECT_FLOAT64;
    case CORRAL_P_BOOL: return corral_value_bool(v, &b);
    case CORRAL_P_TARGET: return corral_value_str(v, &s, &n) && is_target_id(s, n);
    default: return corral_value_str(v, &s, &n) && n <= 4096 && !memchr(s, '\0', n);
    }
}

static int check_params(launch_t *l, const msgpack_object *params, corral_fault_t *f) {
    const corral_descriptor_t *d = l->d;
    if (params && params->type != MSGPACK_OBJECT_MAP && params->type != MSGPACK_OBJECT_NIL)
        return corral_fault_set(f, CORRAL_F_PARAMS, "analysis.launch(name, params): params must be a struct");
    uint32_t n = params && params->type == MSGPACK_OBJECT_MAP ? params->via.map.size : 0;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *k = &params->via.map.ptr[i].key;
        int found = -1;
        for (int j = 0; j < d->nparams; j++)
            if (corral_value_streq(k, d->params[j].name)) found = j;
        if (found < 0)
            return corral_fault_set(f, CORRAL_F_PARAMS, "analysis %s: unknown parameter '%.*s'", d->name,
                                    (int)(k->via.str.size > 64 ? 64 : k->via.str.size), k->via.str.ptr);
        const corral_dparam_t *p = &d->params[found];
        if (!type_ok(p, &params->via.map.ptr[i].val))
            return corral_fault_set(f, CORRAL_F_PARAMS, "analysis %s: parameter '%s' must be a%s %s%s", d->name,
                                    p->name, p->type == CORRAL_P_INT ? "n" : "", corral_ptype_name(p->type),
                                    p->type == CORRAL_P_TARGET ? " id such as t1@node" : "");
        l->given[found] = &params->via.map.ptr[i].val;
    }
    for (int j = 0; j < d->nparams; j++) {
        if (!l->given[j] && d->params[j].required)
            return corral_fault_set(f, CORRAL_F_PARAMS, "analysis %s: parameter '%s' (%s) is required", d->name,
                                    d->params[j].name, corral_ptype_name(d->params[j].type));
        if (d->params[j].type == CORRAL_P_TARGET && !l->target[0]) {
            if (l->given[j]) corral_value_strcpy(l->given[j], l->target, sizeof l->target);
            else if (d->params[j].has_default) snprintf(l->target, sizeof l->target, "%.*s",
                                                        (int)sizeof l->target - 1, d->params[j].def);
        }
    }
    return 0;
}

static int check_options(launch_t *l, const corral_analyses_t *self, const msgpack_object *opt,
                         corral_fault_t *f) {
    if (!opt || opt->type == MSGPACK_OBJECT_NIL) return 0;
    if (opt->type != MSGPACK_OBJECT_MAP)
        return corral_fault_set(f, CORRAL_F_PARAMS, "analysis.launch: options must be a struct");
    const msgpack_object *node = corral_value_member(opt, "node");
    if (node && !corral_value_streq(node, self->node))
        return corral_fault_set(f, CORRAL_F_NOENT, "analysis.launch: no such node (options.node)");
    l->stdin_data = corral_value_member(opt, "stdin");
    const char *s;
    size_t n;
    if (l->stdin_data && l->stdin_data->type != MSGPACK_OBJECT_BIN && !corral_value_str(l->stdin_data, &s, &n))
        return corral_fault_set(f, CORRAL_F_PARAMS, "analysis.launch: options.stdin must be base64");
    if (l->stdin_data && l->stdin_data->via.bin.size > CORRAL_ANALYSIS_STDIN_MAX)
        return corral_fault_set(f, CORRAL_F_PARAMS, "analysis.launch: options.stdin is over %u bytes",
                                CORRAL_ANALYSIS_STDIN_MAX);
    l->files = corral_value_member(opt, "files");
    if (!l->files) return 0;
    if (l->files->type != MSGPACK_OBJECT_MAP || l->files->via.map.size > CORRAL_ANALYSIS_FILES_MAX)
        return corral_fault_set(f, CORRAL_F_PARAMS, "analysis.launch: options.files must be a struct of at most %d files",
                                CORRAL_ANALYSIS_FILES_MAX);
    size_t total = 0;
    for (uint32_t i = 0; i < l->files->via.map.size; i++) {
        const msgpack_object *k = &l->files->via.map.ptr[i].key, *v = &l->files->via.map.ptr[i].val;
        const char *nm = k->via.str.ptr;
        size_t nl = k->via.str.size;
        /* Names stay inside the run's directory: no separators, no dot names. */
        if (nl == 0 || nl > 255 || memchr(nm, '/', nl) || memchr(nm, '\0', nl) || (nl <= 2 && nm[0] == '.' &&
            (nl == 1 || nm[1] == '.')) || (nl >= 2 && memmem(nm, nl, "..", 2)))
            return corral_fault_set(f, CORRAL_F_PARAMS, "analysis.launch: options.files: bad file name '%.*s'",
                                    (int)(nl > 64 ? 64 : nl), nm);
        if (v->type != MSGPACK_OBJECT_BIN && v->type != MSGPACK_OBJECT_STR)
            return corral_fault_set(f, CORRAL_F_PARAMS, "analysis.launch: options.files: '%.*s' must be base64",
                                    (int)(nl > 64 ? 64 : nl), nm);
        total += v->via.bin.size;
    }
    if (total > CORRAL_ANALYSIS_FILE_BYTES)
        return corral_fault_set(f, CORRAL_F_PARAMS, "analysis.launch: options.files hold over %u bytes",
                                CORRAL_ANALYSIS_FILE_BYTES);
    return 0;
}

/* The run-as user: cfg->run_as, "nobody" by default when root. */
static int resolve_user(launch_t *l, const corral_config_t *cfg, corral_fault_t *f) {
    const char *name = cfg->run_as[0] ? cfg->run_as : geteuid() == 0 ? "nobody" : NULL;
    if (!name) {
        l->uid = getuid();
        l->gid = getgid();
        snprintf(l->user, sizeof l->user, "%d", (int)l->uid);
        return 0;
    }
    struct passwd pw, *res = NULL;
    char buf[4096];
    int rc = getpwnam_r(name, &pw, buf, sizeof buf, &res);
    if (!res)
        return corral_fault_set(f, CORRAL_F_LAUNCH, "analysis.launch: run-as user '%s': %s", name,
                                rc ? strerror(rc) : "no such user");
    l->uid = pw.pw_uid;
    l->gid = pw.pw_gid;
    snprintf(l->user, sizeof l->user, "%s", name);
    return 0;
}

/* A param's value as text, for the environment and the command line. */
static void value_text(const corral_dparam_t *p, const msgpack_object *v, char *buf, size_t cap) {
    int64_t i;
    bool b;
    if (!v) snprintf(buf, cap, "%s", p->def);
    else if (corral_value_int(v, &i)) snprintf(buf, cap, "%lld", (long long)i);
    else if (corral_value_bool(v, &b)) snprintf(buf, cap, "%s", b ? "true" : "false");
    else if (v->type == MSGPACK_OBJECT_FLOAT64) snprintf(buf, cap, "%.17g", v->via.f64);
    else snprintf(buf, cap, "%.*s", (int)v->via.str.size, v->via.str.ptr);
}

#define CORRAL_CA_FILE_NAME "corral-ca.pem"

static void pack_kv_fmt(msgpack_packer *pk, const char *fmt, const char *a, const char *b) {
    char tmp[8192];
    snprintf(tmp, sizeof tmp, fmt, a, b);
    corral_pack_cstr(pk, tmp);
}

/* The program's environment and argv, packed into the launch description. */
static void pack_env_argv(corral_analyses_t *self, const launch_t *l, const aentry_t *e, const char *token,
                          const char *work, msgpack_packer *pk) {
    const corral_descriptor_t *d = l->d;
    const corral_config_t *cfg = self->cfg;
    char url[512], text[4200], key[80];
    const char *h = cfg->listen_host;
    bool any = !h[0] || !strcmp(h, "0.0.0.0") || !strcmp(h, "::");
    snprintf(url, sizeof url, "%s://%s%s%s:%d/RPC2", cfg->tls_cert[0] ? "https" : "http",
             strchr(any ? "" : h, ':') ? "[" : "", any ? "127.0.0.1" : h, strchr(any ? "" : h, ':') ? "]" : "",
             cfg->listen_port); /* corrald writes the bound port back for --listen HOST:0 */
    int nenv = 8 + d->nparams + (l->target[0] ? 1 : 0) + (cfg->tls_cert[0] ? 1 : 0);
    corral_pack_cstr(pk, "env");
    msgpack_pack_array(pk, (size_t)nenv);
    corral_pack_cstr(pk, "PATH=/usr/local/bin:/usr/bin:/bin");
    corral_pack_cstr(pk, "LANG=C.UTF-8");
    pack_kv_fmt(pk, "HOME=%s%s", work, "");
    pack_kv_fmt(pk, "USER=%s%s", l->user, "");
    pack_kv_fmt(pk, "CORRAL_URL=%s%s", url, "");
    pack_kv_fmt(pk, "CORRAL_TOKEN=%s%s", token, "");
    pack_kv_fmt(pk, "CORRAL_ANALYSIS=%s%s", e->info.id, "");
    pack_kv_fmt(pk, "CORRAL_RUN_DIR=%s%s", work, "");
    if (l->target[0]) pack_kv_fmt(pk, "CORRAL_TARGET=%s%s", l->target, "");
    if (cfg->tls_cert[0]) pack_kv_fmt(pk, "CORRAL_CA_FILE=%s/%s", work, CORRAL_CA_FILE_NAME);
    for (int j = 0; j < d->nparams; j++) {
        size_t k = 0;
        for (const char *c = d->params[j].name; *c && k < sizeof key - 1; c++)
            key[k++] = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        key[k] = '\0';
        value_text(&d->params[j], l->given[j], text, sizeof text);
        pack_kv_fmt(pk, "CORRAL_PARAM_%s=%s", key, text);
    }
    int nargv = 1;
    for (int j = 0; j < d->nparams; j++) {
        const corral_dparam_t *p = &d->params[j];
        if (!p->flag[0] || (!l->given[j] && !p->has_default)) continue;
        value_text(p, l->given[j], text, sizeof text);
        nargv += p->type == CORRAL_P_BOOL ? !strcmp(text, "true") : 2;
    }
    corral_pack_cstr(pk, "argv");
    msgpack_pack_array(pk, (size_t)nargv);
    corral_pack_cstr(pk, d->program);
    for (int j = 0; j < d->nparams; j++) {
        const corral_dparam_t *p = &d->params[j];
        if (!p->flag[0] || (!l->given[j] && !p->has_default)) continue;
        value_text(p, l->given[j], text, sizeof text);
        if (p->type == CORRAL_P_BOOL) {
            if (!strcmp(text, "true")) corral_pack_cstr(pk, p->flag);
        } else {
            corral_pack_cstr(pk, p->flag);
            corral_pack_cstr(pk, text);
        }
    }
}

/* The params as the analysis sees them: given values, defaults applied. */
static void pack_params(const launch_t *l, msgpack_packer *pk) {
    int n = 0;
    for (int j = 0; j < l->d->nparams; j++) n += l->given[j] || l->d->params[j].has_default;
    msgpack_pack_map(pk, (size_t)n);
    for (int j = 0; j < l->d->nparams; j++) {
        const corral_dparam_t *p = &l->d->params[j];
        if (!l->given[j] && !p->has_default) continue;
        corral_pack_cstr(pk, p->name);
        if (l->given[j] && p->type == CORRAL_P_DOUBLE && l->given[j]->type != MSGPACK_OBJECT_FLOAT64) {
            int64_t i = 0;
            corral_value_int(l->given[j], &i);
            msgpack_pack_double(pk, (double)i);
        } else if (l->given[j]) {
            msgpack_pack_object(pk, *l->given[j]);
        } else {
            corral_dparam_pack_text(p, p->def, pk);
        }
    }
}

static int write_file(const char *path, const char *data, size_t n, uid_t uid, gid_t gid, bool chown_it) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, data + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        done += (size_t)w;
    }
    if (chown_it && fchown(fd, uid, gid) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return close(fd);
}

/* Over HTTPS the program must trust the server's CA: a copy of it (the
   --tls-ca file, else the certificate chain) goes into its own work dir,
   readable by the run-as user, named by CORRAL_CA_FILE. */
static int copy_ca(const corral_config_t *cfg, const char *work, const launch_t *l, bool root, corral_fault_t *f,
                   const char *id) {
    const char *src = cfg->tls_ca[0] ? cfg->tls_ca : cfg->tls_cert;
    char path[CORRAL_PATH_MAX + 32], buf[65536];
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
    int e = errno;
    if (fd >= 0) close(fd);
    snprintf(path, sizeof path, "%s/%s", work, CORRAL_CA_FILE_NAME);
    if (n < 0 || write_file(path, buf, (size_t)n, l->uid, l->gid, root) < 0)
        return corral_fault_set(f, CORRAL_F_LAUNCH, "analysis %s: CA file %s: %s", id, src,
                                strerror(n < 0 ? e : errno));
    return 0;
}

/* STATE/runs/<id>/ (root's: results, output, info; others may only pass
   through) and its work/ (the program's own, its working directory). */
static int make_run_dir(corral_analyses_t *self, const launch_t *l, aentry_t *e, char *work, size_t cap,
                        corral_fault_t *f) {
    const char *id = e->info.id;
    bool root = geteuid() == 0;
    snprintf(work, cap, "%s/work", e->run_dir);
    if ((mkdir(self->runs_dir, 0711) < 0 && errno != EEXIST) || mkdir(e->run_dir, 0711) < 0 ||
        mkdir(work, 0700) < 0 || (root && chown(work, l->uid, l->gid) < 0))
        return corral_fault_set(f, CORRAL_F_LAUNCH, "analysis %s: run directory %s: %s", id, e->run_dir,
                                strerror(errno));
    char path[CORRAL_PATH_MAX + 300];
    for (uint32_t i = 0; l->files && i < l->files->via.map.size; i++) {
        const msgpack_object *k = &l->files->via.map.ptr[i].key, *v = &l->files->via.map.ptr[i].val;
        snprintf(path, sizeof path, "%s/%.*s", work, (int)k->via.str.size, k->via.str.ptr);
        if (write_file(path, v->via.bin.ptr, v->via.bin.size, l->uid, l->gid, root) < 0)
            return corral_fault_set(f, CORRAL_F_LAUNCH, "analysis %s: support file %s: %s", id, path,
                                    strerror(errno));
    }
    if (self->cfg->tls_cert[0] && copy_ca(self->cfg, work, l, root, f, id) < 0) return -1;
    if (l->stdin_data) {
        snprintf(path, sizeof path, "%s/stdin.bin", e->run_dir);
        if (write_file(path, l->stdin_data->via.bin.ptr, l->stdin_data->via.bin.size, 0, 0, false) < 0)
            return corral_fault_set(f, CORRAL_F_LAUNCH, "analysis %s: %s: %s", id, path, strerror(errno));
    }
    return 0;
}

/* fork+exec the host with the description readable on its fd 3. */
static pid_t fork_host(corral_analyses_t *self, const msgpack_sbuffer *desc, corral_fault_t *f, const char *id) {
    int p[2];
    if (desc->size > CORRAL_ANALYSIS_DESC_MAX)
        return corral_fault_set(f, CORRAL_F_PARAMS, "analysis %s: parameters too large (%zu bytes)", id, desc->size);
    if (pipe2(p, O_CLOEXEC) < 0)
        return corral_fault_set(f, CORRAL_F_LAUNCH, "analysis %s: pipe: %s", id, strerror(errno));
    /* The whole description fits the pipe's buffer (64 KiB), so it is
       written before fork and the write end closed: no blocking, and the
       child holds nothing but the read end. */
    if (write(p[1], desc->data, desc->size) != (ssize_t)desc->size) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return corral_fault_set(f, CORRAL_F_LAUNCH, "analysis %s: pipe write: %s", id, strerror(e));
    }
    close(p[1]);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    char *argv[] = {(char *)CORRAL_ANALYSIS_HOST, (char *)"--launch-fd", (char *)"3", NULL};
    pid_t pid = fork();
    if (pid == 0) {
        /* async-signal-safe only from here to execve */
        if (p[0] != 3) dup2(p[0], 3);
        else fcntl(3, F_SETFD, 0);
        if (null >= 0) dup2(null, 0), dup2(null, 1);
        close_range(4, ~0U, 0);
        execve(self->host_path, argv, environ);
        _exit(127);
    }
    int e = errno;
    close(p[0]);
    if (null >= 0) close(null);
    if (pid < 0) return corral_fault_set(f, CORRAL_F_LAUNCH, "analysis %s: fork: %s", id, strerror(e));
    return pid;
}

static void send_auth_add(corral_analyses_t *self, const aentry_t *e, const launch_t *l, const char *token) {
    msgpack_packer *pk = corral_actor_send_begin(self->sup, CORRAL_K_EVENT, self->gw_addr, "auth.add");
    msgpack_pack_array(pk, 5);
    corral_pack_cstr(pk, e->info.id);
    corral_pack_cstr(pk, token);
    corral_pack_cstr(pk, e->info.owner);
    corral_pack_cstr(pk, corral_role_name(e->info.owner_role));
    int nt = 0;
    for (int j = 0; j < l->d->nparams; j++)
        nt += l->d->params[j].type == CORRAL_P_TARGET && (l->given[j] || l->d->params[j].has_default);
    msgpack_pack_array(pk, (size_t)(1 + nt));
    corral_pack_cstr(pk, e->info.id);
    for (int j = 0; j < l->d->nparams; j++) {
        if (l->d->params[j].type != CORRAL_P_TARGET) continue;
        if (l->given[j]) msgpack_pack_object(pk, *l->given[j]);
        else if (l->d->params[j].has_default) corral_pack_cstr(pk, l->d->params[j].def);
    }
    corral_actor_send_end(self->sup);
}

static void send_expect(corral_analyses_t *self, const char *id, const char *identity, const char *secret) {
    msgpack_packer *pk = corral_actor_send_begin(self->sup, CORRAL_K_CONTROL, "broker", "expect");
    msgpack_pack_array(pk, 3);
    corral_pack_cstr(pk, id);
    corral_pack_cstr(pk, identity);
    corral_pack_cstr(pk, secret);
    corral_actor_send_end(self->sup);
}

/* Pack the launch description (include/corral/analysis.h). */
static void pack_desc(corral_analyses_t *self, const launch_t *l, const aentry_t *e, const char *work,
                      const char *identity, const char *secret, const char *token, msgpack_packer *pk) {
    const corral_config_t *cfg = self->cfg;
    msgpack_pack_map(pk, 26);
    corral_pack_kv_cstr(pk, "id", e->info.id);
    corral_pack_kv_cstr(pk, "address", e->info.id);
    corral_pack_kv_cstr(pk, "identity", identity);
    corral_pack_kv_cstr(pk, "secret", secret);
    corral_pack_kv_cstr(pk, "endpoint", self->endpoint);
    corral_pack_kv_cstr(pk, "node", self->node);
    corral_pack_kv_cstr(pk, "name", l->d->name);
    corral_pack_kv_cstr(pk, "owner", e->info.owner);
    corral_pack_kv_int(pk, "ownerRole", e->info.owner_role);
    corral_pack_kv_cstr(pk, "runDir", e->run_dir);
    corral_pack_kv_cstr(pk, "workDir", work);
    corral_pack_kv_cstr(pk, "program", l->d->program);
    pack_env_argv(self, l, e, token, work, pk); /* env and argv: two members */
    corral_pack_kv_int(pk, "uid", l->uid);
    corral_pack_kv_int(pk, "gid", l->gid);
    corral_pack_kv_bool(pk, "stdin", l->stdin_data != NULL);
    corral_pack_kv_cstr(pk, "target", l->target);
    corral_pack_cstr(pk, "params");
    pk->callback(pk->data, e->info.params, e->info.params_len);
    corral_pack_kv_int(pk, "heartbeatMs", cfg->heartbeat_ms);
    corral_pack_kv_int(pk, "outputBuffer", (int64_t)cfg->output_buffer);
    corral_pack_kv_int(pk, "inputBuffer", (int64_t)cfg->input_buffer);
    corral_pack_kv_int(pk, "sndhwm", cfg->sndhwm);
    corral_pack_kv_int(pk, "logLevel", cfg->log_level);
    corral_pack_kv_int(pk, "maxWaitMs", cfg->max_wait_ms);
    corral_pack_kv_int(pk, "startedAt", e->info.started_ms);
}

static aentry_t *new_entry(corral_analyses_t *self, const launch_t *l, const corral_msg_t *msg) {
    aentry_t *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->num = self->next_num++;
    snprintf(e->info.id, sizeof e->info.id, "a%llu@%s", (unsigned long long)e->num, self->node);
    snprintf(e->info.name, sizeof e->info.name, "%s", l->d->name);
    snprintf(e->info.node, sizeof e->info.node, "%s", self->node);
    snprintf(e->info.target, sizeof e->info.target, "%s", l->target);
    snprintf(e->info.owner, sizeof e->info.owner, "%.*s", (int)msg->env.user_len, msg->env.user);
    e->info.owner_role = msg->env.role;
    e->info.state = CORRAL_A_STARTING;
    e->info.started_ms = corral_now_ms();
    snprintf(e->run_dir, sizeof e->run_dir, "%.3900s/%s", self->runs_dir, e->info.id);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_params(l, &pk);
    e->info.params = sb.data;
    e->info.params_len = sb.size;
    return e;
}

/* The steps after the checks; on failure *f and the entry is marked failed
   (its directory, if made, stays as the record of the failed launch). */
static int start(corral_analyses_t *self, launch_t *l, aentry_t *e, corral_fault_t *f) {
    char work[CORRAL_PATH_MAX + 8], token[80], secret[80], identity[40];
    unsigned char rnd[32];
    if (make_run_dir(self, l, e, work, sizeof work, f) < 0) return -1;
    if (corral_token_new(token, sizeof token) < 0 || RAND_bytes(rnd, sizeof rnd) != 1)
        return corral_fault_set(f, CORRAL_F_INTERNAL, "analysis %s: no random bytes", e->info.id);
    corral_hex(rnd, sizeof rnd, secret);
    if (RAND_bytes(rnd, 8) != 1) return corral_fault_set(f, CORRAL_F_INTERNAL, "analysis %s: no random bytes", e->info.id);
    memcpy(identity, "ah-", 3);
    corral_hex(rnd, 8, identity + 3);
    if (corral_ainfo_save(&e->info, e->run_dir) < 0)
        return corral_fault_set(f, CORRAL_F_LAUNCH, "analysis %s: %s/info.mp: %s", e->info.id, e->run_dir,
                                strerror(errno));
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_desc(self, l, e, work, identity, secret, token, &pk);
    /* The token works before the program can use it, and the broker knows
       the host's identity and secret before the host can say hello. */
    send_auth_add(self, e, l, token);
    send_expect(self, e->info.id, identity, secret);
    pid_t pid = fork_host(self, &sb, f, e->info.id);
    memset(sb.data, 0, sb.size); /* the secret and the token */
    msgpack_sbuffer_destroy(&sb);
    memset(secret, 0, sizeof secret);
    memset(token, 0, sizeof token);
    if (pid < 0) {
        corral_analyses_auth_remove(self, e->info.id);
        return -1;
    }
    e->host_pid = e->info.host_pid = pid;
    e->live = true;
    self->live++;
    if (corral_reaper_watch(pid, self->sup_addr) < 0)
        LOG_WARN("analysis", "%s: reaper watch for host %d: %s", e->info.id, (int)pid, strerror(errno));
    LOG_INFO("analysis", "%s: %s launched for %s (host %d)", e->info.id, e->info.name, e->info.owner, (int)pid);
    return 0;
}

void corral_analysis_launch(corral_analyses_t *self, corral_msg_t **pmsg) {
    corral_msg_t *msg = *pmsg;
    corral_fault_t f;
    launch_t l;
    memset(&l, 0, sizeof l);
    char name[128];
    if (corral_value_strcpy(corral_param(msg->env.p, 0), name, sizeof name) < 0) {
        corral_actor_fault(self->sup, msg, CORRAL_F_PARAMS, "analysis.launch(name, params [, options]): name must be a string");
        return;
    }
    l.d = corral_catalog_find(self->cat, name, strlen(name));
    if (!l.d) {
        corral_actor_fault(self->sup, msg, CORRAL_F_NOENT, "no such analysis '%s' in the catalog", name);
        return;
    }
    if (check_params(&l, corral_param(msg->env.p, 1), &f) < 0 ||
        check_options(&l, self, corral_param(msg->env.p, 2), &f) < 0 || resolve_user(&l, self->cfg, &f) < 0) {
        corral_actor_fault_f(self->sup, msg, &f);
        return;
    }
    if (self->live >= self->cfg->max_analyses) {
        corral_actor_fault(self->sup, msg, CORRAL_F_BUSY, "analysis.launch: %d analyses are live already (the bound)",
                           self->live);
        return;
    }
    aentry_t *e = new_entry(self, &l, msg);
    if (!e) {
        corral_actor_fault(self->sup, msg, CORRAL_F_INTERNAL, "analysis.launch: out of memory");
        return;
    }
    if (start(self, &l, e, &f) < 0) {
        LOG_WARN("analysis", "%s: launch failed: %s", e->info.id, f.msg);
        e->info.state = CORRAL_A_FAILED;
        e->info.ended_ms = corral_now_ms();
        snprintf(e->info.error, sizeof e->info.error, "%.250s", f.msg);
        corral_ainfo_save(&e->info, e->run_dir);
        corral_actor_fault_f(self->sup, msg, &f);
    } else {
        e->launch = msg; /* answered when the host reports running (or failed) */
        *pmsg = NULL;
    }
    corral_analyses_add(self, e);
}
