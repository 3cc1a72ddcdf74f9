/* corral — analyses on the supervisor (include/corral/analysis.h): the
   catalog, the node's list of analyses (kept up to date by the hosts'
   analysis.state events), and the answers for analyses whose host has
   ended, served from their run directories. */
#include "actors/analysis_sup.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "corral/log.h"

void corral_analyses_add(corral_analyses_t *self, aentry_t *e) {
    if (self->n == self->cap) {
        size_t ncap = self->cap ? self->cap * 2 : 64;
        aentry_t **nl = realloc(self->list, ncap * sizeof *nl);
        if (!nl) {
            LOG_ERROR("analysis", "%s: out of memory: left out of the list", e->info.id);
            corral_ainfo_clear(&e->info);
            free(e);
            return;
        }
        self->list = nl;
        self->cap = ncap;
    }
    self->list[self->n++] = e;
    zhashx_insert(self->byid, e->info.id, e);
}

static void entry_free(aentry_t *e) {
    corral_results_destroy(&e->res);
    corral_msg_destroy(&e->launch);
    corral_ainfo_clear(&e->info);
    free(e);
}

void corral_analyses_auth_remove(corral_analyses_t *self, const char *id) {
    msgpack_packer *pk = corral_actor_send_begin(self->sup, CORRAL_K_EVENT, self->gw_addr, "auth.remove");
    msgpack_pack_array(pk, 1);
    corral_pack_cstr(pk, id);
    corral_actor_send_end(self->sup);
}

static void control(corral_analyses_t *self, const char *verb, const char *id) {
    msgpack_packer *pk = corral_actor_send_begin(self->sup, CORRAL_K_CONTROL, "broker", verb);
    msgpack_pack_array(pk, 1);
    corral_pack_cstr(pk, id);
    corral_actor_send_end(self->sup);
}

static bool remove_tree(const char *path);

static void reply_info(corral_analyses_t *self, const corral_msg_t *m, const aentry_t *e) {
    msgpack_packer *pk = corral_actor_reply_begin(self->sup, m);
    corral_ainfo_pack(&e->info, pk, false);
    corral_actor_reply_end(self->sup, m);
}

/* Answer a parked launch from the entry's state. */
static void answer_launch(corral_analyses_t *self, aentry_t *e) {
    if (!e->launch) return;
    if (e->info.state == CORRAL_A_FAILED && e->info.error[0])
        corral_actor_fault(self->sup, e->launch, CORRAL_F_LAUNCH, "analysis %s (%s): launch failed: %s",
                           e->info.id, e->info.name, e->info.error);
    else reply_info(self, e->launch, e);
    corral_msg_destroy(&e->launch);
}

/* The host is done with the run (final state known): route the address to
   the supervisor and revoke the token. */
static void end_live(corral_analyses_t *self, aentry_t *e) {
    if (!e->live) return;
    e->live = false;
    self->live--;
    control(self, "adopt", e->info.id);
    if (!e->released) corral_analyses_auth_remove(self, e->info.id);
    answer_launch(self, e);
    if (e->remove_pending) {
        if (!remove_tree(e->run_dir))
            LOG_WARN("analysis", "%s: remove %s: %s", e->info.id, e->run_dir, strerror(errno));
        e->removed = true;
    }
}

/* The host reported its final state: it may finish. It answers what is
   queued for it and sends analysis.done, on which the address is adopted
   (the broker drops replies of an identity it has unbound, so adopting at
   once would lose answers to requests already on their way to the host). */
static void release(corral_analyses_t *self, aentry_t *e) {
    if (e->released) return;
    e->released = true;
    /* Revoked before the release, so before any wait is answered. */
    corral_analyses_auth_remove(self, e->info.id);
    msgpack_packer *pk = corral_actor_send_begin(self->sup, CORRAL_K_EVENT, e->info.id, "analysis.release");
    msgpack_pack_array(pk, 0);
    corral_actor_send_end(self->sup);
    answer_launch(self, e);
}

/* The host died before it wrote an ended state: the run failed; what it
   wrote before stays (results are on disk record by record). */
static void host_dead(corral_analyses_t *self, aentry_t *e, const char *why) {
    if (!e->live) return;
    corral_ainfo_t disk = {0};
    char err[256];
    if (corral_ainfo_load(&disk, e->run_dir, err, sizeof err) == 0 && corral_astate_ended(disk.state)) {
        corral_ainfo_clear(&e->info);
        e->info = disk; /* it finished; only the goodbye was lost */
    } else {
        corral_ainfo_clear(&disk);
        if (e->info.pid > 1) kill(-e->info.pid, SIGKILL); /* PDEATHSIG did it already, normally */
        e->info.state = CORRAL_A_FAILED;
        e->info.ended_ms = corral_now_ms();
        snprintf(e->info.error, sizeof e->info.error, "analysis host %d %s", e->info.host_pid, why);
        corral_results_t *r = corral_results_open(e->run_dir, false, err, sizeof err);
        if (r) e->info.results = corral_results_count(r);
        corral_results_destroy(&r);
        if (corral_ainfo_save(&e->info, e->run_dir) < 0)
            LOG_ERROR("analysis", "%s: %s/info.mp: %s", e->info.id, e->run_dir, strerror(errno));
        LOG_WARN("analysis", "%s: failed: %s; %llu results kept", e->info.id, e->info.error,
                 (unsigned long long)e->info.results);
    }
    end_live(self, e);
}

static aentry_t *find(corral_analyses_t *self, const char *s, size_t n) {
    char id[CORRAL_ADDR_MAX];
    if (n >= sizeof id) return NULL;
    memcpy(id, s, n);
    id[n] = '\0';
    aentry_t *e = zhashx_lookup(self->byid, id);
    return e && !e->removed ? e : NULL;
}

static void on_state(corral_analyses_t *self, const corral_msg_t *m) {
    aentry_t *e = find(self, m->env.from, m->env.from_len);
    const msgpack_object *o = corral_param(m->env.p, 0);
    corral_ainfo_t in = {0};
    if (!e || !e->live || corral_ainfo_unpack(&in, o) < 0 || strcmp(in.id, e->info.id) != 0) {
        corral_ainfo_clear(&in);
        LOG_WARN("analysis", "analysis.state from %.*s: not a live analysis of ours, ignored",
                 (int)m->env.from_len, m->env.from);
        return;
    }
    /* What the supervisor decided stays its own, not the host's to say. */
    snprintf(in.owner, sizeof in.owner, "%s", e->info.owner);
    in.owner_role = e->info.owner_role;
    in.host_pid = e->host_pid;
    corral_ainfo_clear(&e->info);
    e->info = in;
    if (corral_astate_ended(e->info.state)) release(self, e);
    else if (e->info.state != CORRAL_A_STARTING) answer_launch(self, e);
}

static void on_gone(corral_analyses_t *self, const corral_msg_t *m) {
    const char *s;
    size_t n;
    char why[128] = "stopped answering";
    if (!corral_value_str(corral_param(m->env.p, 0), &s, &n)) return;
    aentry_t *e = find(self, s, n);
    corral_value_strcpy(corral_param(m->env.p, 1), why, sizeof why);
    if (!e || !e->live) return;
    char reason[160];
    snprintf(reason, sizeof reason, "is gone (%s)", why);
    /* A host that is silent but alive must not go on writing the run. */
    if (e->host_pid > 1) kill(e->host_pid, SIGKILL);
    host_dead(self, e, reason);
}

static bool remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (!d) return unlink(path) == 0 || errno == ENOENT;
    bool ok = true;
    struct dirent *de;
    char sub[CORRAL_PATH_MAX + 260];
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        if (de->d_type == DT_DIR) ok = remove_tree(sub) && ok;
        else ok = unlink(sub) == 0 && ok;
    }
    closedir(d);
    return rmdir(path) == 0 && ok;
}

static void forget(corral_analyses_t *self, aentry_t *e) {
    zhashx_delete(self->byid, e->info.id);
    for (size_t i = 0; i < self->n; i++)
        if (self->list[i] == e) {
            memmove(&self->list[i], &self->list[i + 1], (self->n - i - 1) * sizeof *self->list);
            self->n--;
            break;
        }
    entry_free(e);
}

static void ended_results(corral_analyses_t *self, const corral_msg_t *m, aentry_t *e) {
    int64_t after = 0, max = 1000;
    const msgpack_object *pa = corral_param(m->env.p, 1), *pm = corral_param(m->env.p, 2);
    corral_fault_t f;
    char err[512];
    if ((pa && !corral_value_int(pa, &after)) || (pm && !corral_value_int(pm, &max)) || after < 0 || max < 0) {
        corral_actor_fault(self->sup, m, CORRAL_F_PARAMS,
                           "analysis.results(id, after, max): after and max are non-negative ints");
        return;
    }
    if (!e->res) e->res = corral_results_open(e->run_dir, false, err, sizeof err);
    if (!e->res) {
        corral_actor_fault(self->sup, m, CORRAL_F_INTERNAL, "analysis %s: results: %s", e->info.id, err);
        return;
    }
    msgpack_packer *pk = corral_actor_reply_begin(self->sup, m);
    if (corral_results_page(e->res, pk, after, max, true, &f) < 0) corral_actor_fault_f(self->sup, m, &f);
    else corral_actor_reply_end(self->sup, m);
}

static void ended_output(corral_analyses_t *self, const corral_msg_t *m, aentry_t *e) {
    const msgpack_object *st = corral_param(m->env.p, 1);
    int64_t off = 0, max = 65536;
    int s = corral_value_streq(st, "stdout") ? 0 : corral_value_streq(st, "stderr") ? 1 : -1;
    const msgpack_object *po = corral_param(m->env.p, 2), *pm = corral_param(m->env.p, 3);
    if (s < 0 || (po && !corral_value_int(po, &off)) || (pm && !corral_value_int(pm, &max)) || off < -1) {
        corral_actor_fault(self->sup, m, CORRAL_F_PARAMS,
                           "analysis.readOutput(id, stream, offset, maxBytes): stream is stdout or stderr");
        return;
    }
    corral_fault_t f;
    msgpack_packer *pk = corral_actor_reply_begin(self->sup, m);
    if (corral_aout_read_disk(e->run_dir, s, &e->info, off, max, pk, &f) < 0) corral_actor_fault_f(self->sup, m, &f);
    else corral_actor_reply_end(self->sup, m);
}

/* A request for an analysis whose host has ended (the broker routes its
   address here after adopt). */
static void ended_request(corral_analyses_t *self, corral_msg_t *m) {
    const corral_env_t *v = &m->env;
    aentry_t *e = find(self, v->to, v->to_len);
    if (!e || !corral_value_streq(corral_param(v->p, 0), e->info.id)) {
        corral_actor_fault(self->sup, m, CORRAL_F_NOENT, "no such analysis '%.*s'", (int)v->to_len, v->to);
        return;
    }
#define IS(s) (v->m_len == sizeof(s) - 1 && memcmp(v->m, s, sizeof(s) - 1) == 0)
    int64_t tmo;
    if (IS("analysis.wait") && (!corral_value_int(corral_param(v->p, 1), &tmo) || tmo < 0)) {
        corral_actor_fault(self->sup, m, CORRAL_F_PARAMS, "analysis.wait(id, timeoutMs): timeoutMs is an int >= 0");
    } else if (IS("analysis.info") || IS("analysis.wait")) {
        reply_info(self, m, e);
    } else if (IS("analysis.results")) {
        ended_results(self, m, e);
    } else if (IS("analysis.readOutput")) {
        ended_output(self, m, e);
    } else if (IS("analysis.remove")) {
        if (!corral_msg_may_control(m, e->info.owner)) {
            corral_actor_fault(self->sup, m, CORRAL_F_PERM, "analysis %s: remove: permission denied (owned by %s)",
                               e->info.id, e->info.owner);
            return;
        }
        if (!remove_tree(e->run_dir))
            LOG_WARN("analysis", "%s: remove %s: %s", e->info.id, e->run_dir, strerror(errno));
        forget(self, e);
        msgpack_packer *pk = corral_actor_reply_begin(self->sup, m);
        msgpack_pack_true(pk);
        corral_actor_reply_end(self->sup, m);
    } else if (IS("analysis.kill") || IS("analysis.signal") || IS("analysis.pause") || IS("analysis.resume") ||
               IS("analysis.report") || IS("analysis.writeInput") || IS("analysis.closeInput")) {
        corral_actor_fault(self->sup, m, CORRAL_F_STATE, "analysis %s: %.*s: it has ended (%s)", e->info.id,
                           (int)v->m_len, v->m, corral_astate_name(e->info.state));
    } else {
        corral_actor_fault(self->sup, m, CORRAL_F_METHOD, "no such method '%.*s'", (int)v->m_len, v->m);
    }
#undef IS
}

static void list(corral_analyses_t *self, const corral_msg_t *m) {
    const msgpack_object *flt = corral_param(m->env.p, 0);
    if (flt && flt->type != MSGPACK_OBJECT_MAP && flt->type != MSGPACK_OBJECT_NIL) {
        corral_actor_fault(self->sup, m, CORRAL_F_PARAMS, "analysis.list([filter]): filter must be a struct");
        return;
    }
    const msgpack_object *st = corral_value_member(flt, "state"), *nm = corral_value_member(flt, "name");
    const msgpack_object *nd = corral_value_member(flt, "node"), *tg = corral_value_member(flt, "target");
    size_t count = 0;
    bool *pick = calloc(self->n + 1, sizeof *pick);
    for (size_t i = 0; pick && i < self->n; i++) {
        const corral_ainfo_t *a = &self->list[i]->info;
        pick[i] = !self->list[i]->removed && !self->list[i]->remove_pending && (!st || corral_value_streq(st, corral_astate_name(a->state))) &&
                  (!nm || corral_value_streq(nm, a->name)) && (!nd || corral_value_streq(nd, a->node)) &&
                  (!tg || corral_value_streq(tg, a->target));
        count += pick[i];
    }
    msgpack_packer *pk = corral_actor_reply_begin(self->sup, m);
    msgpack_pack_array(pk, count);
    for (size_t i = 0; pick && i < self->n; i++)
        if (pick[i]) corral_ainfo_pack(&self->list[i]->info, pk, false);
    free(pick);
    corral_actor_reply_end(self->sup, m);
}

bool corral_analyses_handle(corral_analyses_t *self, corral_msg_t **pmsg) {
    corral_msg_t *m = *pmsg;
    const corral_env_t *v = &m->env;
    bool to_sup = v->to_len == strlen(self->sup_addr) && !memcmp(v->to, self->sup_addr, v->to_len);
#define IS(s) (v->m_len == sizeof(s) - 1 && memcmp(v->m, s, sizeof(s) - 1) == 0)
    if (v->kind == CORRAL_K_REQUEST && to_sup) {
        if (IS("analysis.catalog")) {
            msgpack_packer *pk = corral_actor_reply_begin(self->sup, m);
            corral_catalog_pack(self->cat, pk);
            corral_actor_reply_end(self->sup, m);
        } else if (IS("analysis.launch")) {
            corral_analysis_launch(self, pmsg);
        } else if (IS("analysis.list")) {
            list(self, m);
        } else {
            return false;
        }
        return true;
    }
    if (v->kind == CORRAL_K_REQUEST && v->m_len > 9 && !memcmp(v->m, "analysis.", 9)) {
        ended_request(self, m);
        return true;
    }
    if (v->kind == CORRAL_K_EVENT && IS("analysis.state")) {
        on_state(self, m);
        return true;
    }
    if (v->kind == CORRAL_K_EVENT && IS("analysis.removed")) {
        aentry_t *e = find(self, v->from, v->from_len);
        if (e && e->live && corral_astate_ended(e->info.state)) e->remove_pending = true;
        return true;
    }
    if (v->kind == CORRAL_K_EVENT && IS("analysis.done")) {
        aentry_t *e = find(self, v->from, v->from_len);
        if (e && e->live && corral_astate_ended(e->info.state)) end_live(self, e);
        return true;
    }
    if (v->kind == CORRAL_K_CONTROL && IS("gone")) {
        const char *s;
        size_t n;
        if (corral_value_str(corral_param(v->p, 0), &s, &n) && find(self, s, n)) {
            on_gone(self, m);
            return true;
        }
    }
#undef IS
    return false;
}

void corral_analyses_child(corral_analyses_t *self, pid_t pid, int status) {
    if (!WIFEXITED(status) && !WIFSIGNALED(status)) return;
    for (size_t i = 0; i < self->n; i++) {
        aentry_t *e = self->list[i];
        if (e->host_pid != pid) continue;
        char why[64];
        if (WIFSIGNALED(status)) snprintf(why, sizeof why, "died of signal %d (%s)", WTERMSIG(status),
                                          strsignal(WTERMSIG(status)));
        else snprintf(why, sizeof why, "exited with status %d", WEXITSTATUS(status));
        e->host_pid = -pid; /* reaped: never signal that pid again */
        if (e->live) host_dead(self, e, why);
        return;
    }
}

/* The host program: beside the running corrald, else in the build dir. */
static void find_host(corral_analyses_t *self) {
    char exe[CORRAL_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(self->host_path, sizeof self->host_path, "%.4000s/%s", exe, CORRAL_ANALYSIS_HOST);
            if (access(self->host_path, X_OK) == 0) return;
        }
    }
    snprintf(self->host_path, sizeof self->host_path, "%s/%s", CORRAL_BINARY_DIR, CORRAL_ANALYSIS_HOST);
}

static int by_num(const void *a, const void *b) {
    uint64_t x = (*(aentry_t *const *)a)->num, y = (*(aentry_t *const *)b)->num;
    return x < y ? -1 : x > y;
}

/* Ended analyses of earlier runs of the server, from STATE/runs/. */
static void reload(corral_analyses_t *self) {
    DIR *d = opendir(self->runs_dir);
    if (!d) return;
    struct dirent *de;
    char dir[CORRAL_PATH_MAX], err[512];
    while ((de = readdir(d))) {
        unsigned long long num;
        char at;
        if (sscanf(de->d_name, "a%llu%c", &num, &at) != 2 || at != '@') continue;
        aentry_t *e = calloc(1, sizeof *e);
        snprintf(dir, sizeof dir, "%.3800s/%.64s", self->runs_dir, de->d_name);
        if (!e || corral_ainfo_load(&e->info, dir, err, sizeof err) < 0) {
            LOG_WARN("analysis", "run %s: %s: left out", dir, e ? err : "out of memory");
            free(e);
            continue;
        }
        e->num = num;
        snprintf(e->run_dir, sizeof e->run_dir, "%s", dir);
        if (!corral_astate_ended(e->info.state)) { /* the server died under it */
            e->info.state = CORRAL_A_FAILED;
            if (!e->info.ended_ms) e->info.ended_ms = corral_now_ms();
            snprintf(e->info.error, sizeof e->info.error, "the server stopped while it ran");
            corral_ainfo_save(&e->info, dir);
        }
        if (num >= self->next_num) self->next_num = num + 1;
        corral_analyses_add(self, e);
        control(self, "adopt", e->info.id);
    }
    closedir(d);
    qsort(self->list, self->n, sizeof *self->list, by_num);
    if (self->n) LOG_INFO("analysis", "%zu analyses of earlier runs listed again", self->n);
}

corral_analyses_t *corral_analyses_new(const corral_config_t *cfg, corral_actor_t *sup) {
    corral_analyses_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->cfg = cfg;
    self->sup = sup;
    self->next_num = 1;
    snprintf(self->node, sizeof self->node, "%s", cfg->node);
    snprintf(self->sup_addr, sizeof self->sup_addr, "%s%s", CORRAL_SUP_PREFIX, cfg->node);
    snprintf(self->gw_addr, sizeof self->gw_addr, "%s%s", CORRAL_GW_PREFIX, cfg->node);
    snprintf(self->runs_dir, sizeof self->runs_dir, "%.4000s/runs", cfg->state_dir);
    snprintf(self->endpoint, sizeof self->endpoint, "ipc://%.4000s/ipc/broker", cfg->state_dir);
    find_host(self);
    self->byid = zhashx_new();
    self->cat = corral_catalog_load(cfg->analysis_dirs, cfg->n_analysis_dirs, CORRAL_DESC_SCHEMA);
    if (!self->byid || !self->cat) {
        corral_analyses_destroy(&self);
        return NULL;
    }
    LOG_INFO("analysis", "%d analyses in the catalog; host %s", self->cat->n, self->host_path);
    reload(self);
    return self;
}

/* Shutdown: TERM every live host (each ends its program and writes its
   state), serve their final events so they can leave, KILL what remains. */
static void end_all(corral_analyses_t *self) {
    for (size_t i = 0; i < self->n; i++)
        if (self->list[i]->live && self->list[i]->host_pid > 0) kill(self->list[i]->host_pid, SIGTERM);
    int64_t until = corral_mono_ms() + CORRAL_ANALYSIS_TERM_MS + 1500;
    while (self->live > 0 && corral_mono_ms() < until) {
        zmq_pollitem_t it = {corral_actor_socket(self->sup), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 50) < 0 && errno == ETERM) break;
        corral_msg_t *m;
        while ((m = corral_actor_recv(self->sup, ZMQ_DONTWAIT))) {
            if (!corral_analyses_handle(self, &m) && m && m->env.kind == CORRAL_K_REQUEST)
                corral_actor_fault(self->sup, m, CORRAL_F_GONE, "the server is stopping");
            corral_msg_destroy(&m);
        }
        for (size_t i = 0; i < self->n; i++) { /* hosts reaped by the reaper are gone for kill(0) */
            aentry_t *e = self->list[i];
            if (e->live && e->host_pid > 0 && kill(e->host_pid, 0) < 0 && errno == ESRCH)
                host_dead(self, e, "ended during shutdown");
        }
    }
    for (size_t i = 0; i < self->n; i++) {
        aentry_t *e = self->list[i];
        if (!e->live) continue;
        if (e->host_pid > 1) kill(e->host_pid, SIGKILL);
        host_dead(self, e, "did not end in time at shutdown");
    }
}

void corral_analyses_destroy(corral_analyses_t **pself) {
    corral_analyses_t *self = *pself;
    if (!self) return;
    if (self->live) end_all(self);
    for (size_t i = 0; i < self->n; i++) entry_free(self->list[i]);
    free(self->list);
    zhashx_destroy(&self->byid);
    corral_catalog_destroy(&self->cat);
    free(self);
    *pself = NULL;
}

int corral_analyses_live(const corral_analyses_t *self) { return self->live; }

int corral_analyses_total(const corral_analyses_t *self) {
    int n = 0;
    for (size_t i = 0; i < self->n; i++) n += !self->list[i]->removed && !self->list[i]->remove_pending;
    return n;
}

int corral_analyses_next_timeout(const corral_analyses_t *self) {
    for (size_t i = 0; i < self->n; i++)
        if (self->list[i]->launch) return 500;
    return -1;
}

void corral_analyses_tick(corral_analyses_t *self) {
    /* A launch whose caller gave up (the gateway answered fault 4) need
       not be kept: the analysis goes on and is listed. */
    for (size_t i = 0; i < self->n; i++)
        if (self->list[i]->launch && corral_msg_expired(self->list[i]->launch))
            corral_msg_destroy(&self->list[i]->launch);
}
