/* corral — the supervisor actor's loop and its own methods. */
#include "corral/supervisor.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "actors/sup_methods.h"
#include "corral/actor.h"
#include "corral/analysis.h"
#include "corral/log.h"
#include "corral/reaper.h"
#include "corral/target.h"

#define SUP_POLL_MS 100   /* how often the stop flag is looked at */

struct corral_supervisor {
    void *zctx;
    const corral_config_t *cfg;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    corral_actor_t *actor;
    corral_reaper_box_t *box;
    corral_analyses_t *analyses;
    zhashx_t *targets;      /* address -> target_entry_t: the node's list */
    uint64_t next_target;
    char gw[CORRAL_ADDR_MAX];
    int64_t started_ms;     /* wall clock, for startedAt */
    int64_t started_mono;
};

typedef struct target_entry {
    char state[16];
    size_t len;
    char *info;             /* packed TargetInfo, "" until the first event */
} target_entry_t;

static void entry_free(void **item) {
    target_entry_t *e = *item;
    if (!e) return;
    free(e->info);
    free(e);
    *item = NULL;
}

/* --- targets ------------------------------------------------------------- */

static bool node_is_local(corral_supervisor_t *s, const msgpack_object *node) {
    return !node || node->type == MSGPACK_OBJECT_NIL || corral_value_streq(node, s->cfg->node);
}

static void target_launch(corral_supervisor_t *s, corral_msg_t **pmsg, bool attach) {
    corral_msg_t *msg = *pmsg;
    const msgpack_object *p0 = corral_param(msg->env.p, 0);
    const msgpack_object *node = attach ? corral_param(msg->env.p, 1) : corral_value_member(p0, "node");
    if (!node_is_local(s, node)) {
        corral_actor_fault(s->actor, msg, CORRAL_F_NOENT, "no such node '%.*s'",
                           node->type == MSGPACK_OBJECT_STR ? (int)node->via.str.size : 1,
                           node->type == MSGPACK_OBJECT_STR ? node->via.str.ptr : "?");
        return;
    }
    if ((int)zhashx_size(s->targets) >= s->cfg->max_targets) {
        corral_actor_fault(s->actor, msg, CORRAL_F_BUSY, "busy: %d targets already live on node %s "
                           "(--max-targets); remove ended ones or retry later", s->cfg->max_targets,
                           s->cfg->node);
        return;
    }
    char address[CORRAL_ADDR_MAX];
    snprintf(address, sizeof address, "t%llu@%s", (unsigned long long)++s->next_target, s->cfg->node);
    corral_fault_t f;
    if (corral_target_spawn(s->zctx, s->cfg, address, msg, &f) < 0) {
        corral_actor_fault_f(s->actor, msg, &f);
        return;
    }
    *pmsg = NULL; /* the target thread owns and answers it now */
    target_entry_t *e = calloc(1, sizeof *e);
    if (e) {
        snprintf(e->state, sizeof e->state, "starting");
        zhashx_update(s->targets, address, e);
    }
}

static void target_state(corral_supervisor_t *s, const corral_msg_t *msg) {
    const msgpack_object *info = corral_param(msg->env.p, 0);
    char address[CORRAL_ADDR_MAX];
    if (corral_value_strcpy(corral_value_member(info, "id"), address, sizeof address) < 0) {
        LOG_WARN("supervisor", "target.state without an id from %.*s", (int)msg->env.from_len, msg->env.from);
        return;
    }
    target_entry_t *e = zhashx_lookup(s->targets, address);
    if (!e) return; /* removed meanwhile */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_object(&pk, *info);
    free(e->info);
    e->len = sb.size;
    e->info = msgpack_sbuffer_release(&sb);
    corral_value_strcpy(corral_value_member(info, "state"), e->state, sizeof e->state);
}

static void target_list(corral_supervisor_t *s, const corral_msg_t *msg) {
    const msgpack_object *filter = corral_param(msg->env.p, 0);
    if (filter && filter->type != MSGPACK_OBJECT_MAP && filter->type != MSGPACK_OBJECT_NIL) {
        corral_actor_fault(s->actor, msg, CORRAL_F_PARAMS, "target.list: filter must be a struct");
        return;
    }
    const msgpack_object *fnode = corral_value_member(filter, "node");
    const msgpack_object *fstate = corral_value_member(filter, "state");
    /* Targets of other nodes would come from their supervisors; this node
       holds only its own, so a filter naming another node matches none. */
    bool none = fnode && !corral_value_streq(fnode, s->cfg->node);
    uint32_t n = 0;
    for (target_entry_t *e = zhashx_first(s->targets); e; e = zhashx_next(s->targets))
        if (!none && e->len && (!fstate || corral_value_streq(fstate, e->state))) n++;
    msgpack_packer *pk = corral_actor_reply_begin(s->actor, msg);
    msgpack_pack_array(pk, n);
    for (target_entry_t *e = zhashx_first(s->targets); e; e = zhashx_next(s->targets))
        if (!none && e->len && (!fstate || corral_value_streq(fstate, e->state)))
            pk->callback(pk->data, e->info, e->len); /* already packed by the target */
    corral_actor_reply_end(s->actor, msg);
}

/* --- dispatch ------------------------------------------------------------ */

static bool from_is(const corral_msg_t *msg, const char *addr) {
    size_t n = strlen(addr);
    return msg->env.from_len == n && memcmp(msg->env.from, addr, n) == 0;
}

static void handle_event(corral_supervisor_t *s, const corral_msg_t *msg) {
    if (msg->env.m_len == 12 && memcmp(msg->env.m, "target.state", 12) == 0) {
        target_state(s, msg);
    } else if (msg->env.m_len == 14 && memcmp(msg->env.m, "target.removed", 14) == 0) {
        char address[CORRAL_ADDR_MAX];
        if (corral_value_strcpy(corral_param(msg->env.p, 0), address, sizeof address) == 0)
            zhashx_delete(s->targets, address);
    } else {
        LOG_DEBUG("supervisor", "event %.*s ignored", (int)msg->env.m_len, msg->env.m);
    }
}

static void handle_request(corral_supervisor_t *s, corral_msg_t **pmsg) {
    corral_msg_t *msg = *pmsg;
    /* Only the gateway stamps `who` after authenticating the caller; a
       request from anywhere else carries no credentials we can trust. */
    if (!from_is(msg, s->gw)) {
        corral_actor_fault(s->actor, msg, CORRAL_F_PERM, "requests to the supervisor come through the gateway");
        return;
    }
    const char *m = msg->env.m;
    size_t n = msg->env.m_len;
#define IS(name) (n == sizeof(name) - 1 && memcmp(m, name, n) == 0)
    if (IS("target.launch")) target_launch(s, pmsg, false);
    else if (IS("target.attach")) target_launch(s, pmsg, true);
    else if (IS("target.list")) target_list(s, msg);
    else if (IS("server.info")) {
        sup_server_info(s->actor, msg, s->cfg, (int)zhashx_size(s->targets),
                        s->analyses ? corral_analyses_total(s->analyses) : 0, s->started_ms,
                        corral_mono_ms() - s->started_mono);
    } else if (IS("node.list")) {
        sup_node_list(s->actor, msg, s->cfg, (int)zhashx_size(s->targets),
                      s->analyses ? corral_analyses_total(s->analyses) : 0);
    } else if (!sup_common_method(s->actor, msg, s->cfg)) {
        corral_actor_fault(s->actor, msg, CORRAL_F_METHOD, "no such method '%.*s' on the supervisor",
                           (int)n, m);
    }
#undef IS
}

static void handle(corral_supervisor_t *s, corral_msg_t **pmsg) {
    if (s->analyses && corral_analyses_handle(s->analyses, pmsg)) return;
    corral_msg_t *msg = *pmsg;
    if (msg->env.kind == CORRAL_K_REQUEST) handle_request(s, pmsg);
    else if (msg->env.kind == CORRAL_K_EVENT) handle_event(s, msg);
    else LOG_DEBUG("supervisor", "control %.*s ignored", (int)msg->env.m_len, msg->env.m);
}

static void drain_children(corral_supervisor_t *s) {
    pid_t pid;
    int status;
    while (corral_reaper_box_take(s->box, &pid, &status) == 1)
        if (s->analyses) corral_analyses_child(s->analyses, pid, status);
}

static void *sup_run(void *arg) {
    corral_supervisor_t *s = arg;
    pthread_setname_np(pthread_self(), "supervisor");
    zmq_pollitem_t items[2] = {
        {corral_actor_socket(s->actor), 0, ZMQ_POLLIN, 0},
        {NULL, corral_reaper_box_fd(s->box), ZMQ_POLLIN, 0},
    };
    while (!atomic_load(&s->stop)) {
        int timeout = SUP_POLL_MS;
        if (s->analyses) {
            int t = corral_analyses_next_timeout(s->analyses);
            if (t >= 0 && t < timeout) timeout = t;
        }
        if (zmq_poll(items, 2, timeout) < 0) {
            if (errno == ETERM) break;
            continue;
        }
        if (items[1].revents & ZMQ_POLLIN) drain_children(s);
        for (int i = 0; i < 256; i++) { /* a batch, then timers get their turn */
            corral_msg_t *msg = corral_actor_recv(s->actor, ZMQ_DONTWAIT);
            if (!msg) {
                if (errno == ETERM) goto out;
                if (errno == EAGAIN) break;
                continue;
            }
            handle(s, &msg);
            corral_msg_destroy(&msg);
        }
        if (s->analyses) corral_analyses_tick(s->analyses);
    }
out:
    /* Analyses are processes of their own: end them while the broker still
       runs, so their hosts can say goodbye and write their state. */
    corral_analyses_destroy(&s->analyses);
    return NULL;
}

corral_supervisor_t *corral_supervisor_new(void *zctx, const corral_config_t *cfg) {
    corral_supervisor_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->zctx = zctx;
    s->cfg = cfg;
    s->targets = zhashx_new();
    zhashx_set_destructor(s->targets, entry_free);
    snprintf(s->gw, sizeof s->gw, "%s%s", CORRAL_GW_PREFIX, cfg->node);
    s->started_ms = corral_now_ms();
    s->started_mono = corral_mono_ms();
    char address[CORRAL_ADDR_MAX];
    snprintf(address, sizeof address, "%s%s", CORRAL_SUP_PREFIX, cfg->node);
    s->actor = corral_actor_new(zctx, CORRAL_BROKER_INPROC, address, NULL, NULL, cfg->sndhwm);
    s->box = corral_reaper_box_new(address, 0);
    if (!s->actor || !s->box) {
        LOG_ERROR("supervisor", "cannot start: %s", strerror(errno));
        corral_supervisor_destroy(&s);
        return NULL;
    }
    s->analyses = corral_analyses_new(cfg, s->actor);
    return s;
}

int corral_supervisor_start(corral_supervisor_t *s) {
    int rc = pthread_create(&s->thread, NULL, sup_run, s);
    if (rc) {
        errno = rc;
        return -1;
    }
    s->started = true;
    return 0;
}

void corral_supervisor_destroy(corral_supervisor_t **ps) {
    corral_supervisor_t *s = *ps;
    if (!s) return;
    atomic_store(&s->stop, true);
    if (s->started) pthread_join(s->thread, NULL);
    corral_analyses_destroy(&s->analyses);
    corral_actor_destroy(&s->actor);
    corral_reaper_box_destroy(&s->box);
    zhashx_destroy(&s->targets);
    free(s);
    *ps = NULL;
}
