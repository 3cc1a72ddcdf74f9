/* corral — the gateway's XML-RPC side: endpoints, authentication, routing
   a call to its actor, and turning replies (or their absence) into
   responses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "corral/log.h"
#include "corral/methods.h"
#include "corral/unpack.h"
#include "corral/xmlrpc.h"
#include "gateway/gw.h"

static const char UNAUTHORIZED_HDR[] = "WWW-Authenticate: Basic realm=\"corral\"\r\n";

int gw_method_index(const corral_method_t *m) {
    size_t n;
    return (int)(m - corral_methods(&n));
}

void gw_respond_fault(gw_t *g, slot_t *s, int code, const char *text) {
    corral_buf_clear(&g->xml);
    if (corral_xmlrpc_encode_fault(&g->xml, code, text, strlen(text)) < 0) {
        gw_respond(g, s, 500, "text/plain", "out of memory\n", 14, NULL);
        return;
    }
    gw_respond(g, s, 200, "text/xml", g->xml.data, g->xml.len, NULL);
}

void gw_respond_result(gw_t *g, slot_t *s, const msgpack_object *r) {
    corral_buf_clear(&g->xml);
    if (corral_xmlrpc_encode_result(&g->xml, r) < 0) {
        LOG_ERROR("gateway", "a result could not be written as XML-RPC");
        gw_respond_fault(g, s, CORRAL_F_INTERNAL, "internal error: the result has no XML-RPC form");
        return;
    }
    gw_respond(g, s, 200, "text/xml", g->xml.data, g->xml.len, NULL);
}

/* --- authentication -------------------------------------------------------- */

static const corral_user_t *authenticate(gw_t *g, conn_t *c, const corral_http_req_t *req,
                                         const scoped_t **scoped) {
    *scoped = NULL;
    if (!req->auth) return NULL;
    const corral_user_t *u;
    if (c->auth_len && req->auth_len == c->auth_len && memcmp(req->auth, c->auth, c->auth_len) == 0) {
        u = &c->user; /* keep-alive clients send the same header every call */
    } else {
        u = corral_users_check(g->users, req->auth, req->auth_len);
        if (!u) return NULL;
        c->user = *u;
        c->auth_len = 0;
        if (req->auth_len < sizeof c->auth) {
            memcpy(c->auth, req->auth, req->auth_len);
            c->auth_len = req->auth_len;
        }
        u = &c->user;
    }
    /* Analysis callers are named by their analysis id ("a3@node"), which no
       users-file name may contain; their token dies with the analysis. */
    if (strchr(u->name, '@')) {
        *scoped = zhashx_lookup(g->scoped, u->name);
        if (!*scoped) {
            c->auth_len = 0;
            return NULL;
        }
    }
    return u;
}

/* May a per-analysis caller call m with these params? */
static bool scoped_allows(const scoped_t *sc, const corral_method_t *m, const msgpack_object *params) {
    if (strncmp(m->name, "server.", 7) == 0 || strncmp(m->name, "system.", 7) == 0) return true;
    if (m->route != CORRAL_ROUTE_ENTITY) return false;
    const msgpack_object *p0 = corral_param(params, 0);
    if (!p0 || p0->type != MSGPACK_OBJECT_STR) return false;
    for (const char *a = zlistx_first(sc->allowed); a; a = zlistx_next(sc->allowed))
        if (strlen(a) == p0->via.str.size && memcmp(a, p0->via.str.ptr, p0->via.str.size) == 0)
            return true;
    return false;
}

/* --- sending calls ----------------------------------------------------------- */

/* The deadline of a call: waits get their own timeout plus slack. */
static int64_t call_timeout_ms(gw_t *g, const char *name, const msgpack_object *params) {
    int idx = -1;
    size_t n = strlen(name);
    if (n > 5 && strcmp(name + n - 5, ".wait") == 0) idx = 1;
    else if (strcmp(name, "target.events") == 0) idx = 2;
    int64_t t;
    if (idx >= 0 && corral_value_int(corral_param(params, (uint32_t)idx), &t) && t >= 0) {
        if (t > g->cfg->max_wait_ms) t = g->cfg->max_wait_ms;
        return t + g->cfg->wait_slack_ms;
    }
    return g->cfg->call_timeout_ms;
}

/* Send method m with its packed params to its actor. Returns the call in
   flight, or NULL with *f. params is the unpacked view of the same bytes. */
call_t *gw_send_call(gw_t *g, const corral_method_t *m, const char *packed, size_t plen,
                         const msgpack_object *params, const corral_user_t *who, const scoped_t *sc,
                         corral_fault_t *f) {
    const char *to = g->sup;
    size_t to_len = strlen(g->sup);
    if (m->route == CORRAL_ROUTE_ENTITY) {
        const msgpack_object *p0 = corral_param(params, 0);
        if (!p0 || p0->type != MSGPACK_OBJECT_STR || p0->via.str.size == 0 ||
            p0->via.str.size >= CORRAL_ADDR_MAX) {
            corral_fault_set(f, CORRAL_F_PARAMS, "%s: the first parameter must be a target or analysis id "
                             "such as \"t1@node\"", m->name);
            return NULL;
        }
        to = p0->via.str.ptr;
        to_len = p0->via.str.size;
    }
    int64_t timeout = call_timeout_ms(g, m->name, params);
    call_t *call = calls_start(g->calls, corral_mono_ms() + timeout);
    if (!call) {
        corral_fault_set(f, CORRAL_F_BUSY, "busy: %d calls already in flight; retry later", calls_live(g->calls));
        return NULL;
    }
    call->method = gw_method_index(m);
    call->started = gw_now_us();
    const char *user = sc ? sc->owner : who->name;
    int role = sc ? sc->owner_role : who->role;
    msgpack_packer *pk = corral_actor_request_begin(g->actor, call->id, to, to_len, m->name, strlen(m->name),
                                                    user, role, corral_now_ms() + timeout);
    pk->callback(pk->data, packed, plen);
    if (corral_actor_send_end(g->actor) < 0) {
        int e = errno;
        calls_end(g->calls, call);
        if (e == EAGAIN)
            corral_fault_set(f, CORRAL_F_BUSY, "busy: the queue to the broker is full; retry later");
        else
            corral_fault_set(f, CORRAL_F_INTERNAL, "internal error: broker send: %s", zmq_strerror(e));
        return NULL;
    }
    return call;
}

/* Check that who may call m (role, and a per-analysis caller's scope). */
int gw_allowed(const corral_method_t *m, const corral_user_t *who, const scoped_t *sc,
                   const msgpack_object *params, corral_fault_t *f) {
    int role = sc ? sc->owner_role : who->role;
    if (role < m->role)
        return corral_fault_set(f, CORRAL_F_PERM, "permission denied: %s needs role %s; %s is %s", m->name,
                                corral_role_name(m->role), who->name, corral_role_name(role));
    if (sc && !scoped_allows(sc, m, params))
        return corral_fault_set(f, CORRAL_F_PERM, "permission denied: analysis %s may not call %s on that "
                                "entity", who->name, m->name);
    return 0;
}

/* --- one XML-RPC call ------------------------------------------------------- */

static void rpc_call(gw_t *g, conn_t *c, slot_t *s, const corral_http_req_t *req) {
    const scoped_t *sc;
    const corral_user_t *who = authenticate(g, c, req, &sc);
    if (!who) {
        g->metrics.http_errors[1]++;
        static const char body[] = "401 Unauthorized: credentials needed (HTTP Basic user:token or Bearer token)\n";
        gw_respond(g, s, 401, "text/plain", body, sizeof body - 1, UNAUTHORIZED_HDR);
        return;
    }
    char name[CORRAL_METHOD_NAME_MAX];
    corral_fault_t f;
    msgpack_sbuffer_clear(&g->params);
    if (corral_xmlrpc_decode_call(req->body, req->body_len, g->cfg->max_depth, name, sizeof name,
                                  &g->params_pk, &f) < 0) {
        gw_respond_fault(g, s, f.code, f.msg);
        return;
    }
    const corral_method_t *m = corral_method_find(name, strlen(name));
    if (!m) {
        g->metrics.unknown_method++;
        char text[CORRAL_FAULT_MAX];
        snprintf(text, sizeof text, "no such method '%s' (system.listMethods names them all)", name);
        gw_respond_fault(g, s, CORRAL_F_METHOD, text);
        return;
    }
    msgpack_object params;
    msgpack_zone_clear(&g->zone);
    if (corral_unpack(g->params.data, g->params.size, &g->zone, CORRAL_UNPACK_DEPTH, &params) !=
        MSGPACK_UNPACK_SUCCESS) {
        LOG_ERROR("gateway", "%s: the decoder's params do not unpack", name);
        gw_respond_fault(g, s, CORRAL_F_INTERNAL, "internal error: params could not be read back");
        return;
    }
    if (gw_allowed(m, who, sc, &params, &f) < 0) {
        metrics_call(&g->metrics, gw_method_index(m), false, gw_now_us());
        gw_respond_fault(g, s, f.code, f.msg);
        return;
    }
    if (m->route == CORRAL_ROUTE_GATEWAY) {
        gw_multicall(g, s, &params, who, sc);
        return;
    }
    call_t *call = gw_send_call(g, m, g->params.data, g->params.size, &params, who, sc, &f);
    if (!call) {
        metrics_call(&g->metrics, gw_method_index(m), false, gw_now_us());
        gw_respond_fault(g, s, f.code, f.msg);
        return;
    }
    call->slot = s;
    s->call = call;
}

static bool path_is(const corral_http_req_t *req, const char *p) {
    size_t n = strlen(p);
    return req->path_len == n && memcmp(req->path, p, n) == 0;
}

void gw_handle_http(gw_t *g, conn_t *c, slot_t *s, const corral_http_req_t *req) {
    bool rpc = path_is(req, "/RPC2") || path_is(req, "/");
    if (path_is(req, "/health")) {
        if (req->method == CORRAL_HTTP_GET) gw_respond(g, s, 200, "text/plain", "ok\n", 3, NULL);
        else gw_respond(g, s, 405, "text/plain", "405 use GET\n", 12, "Allow: GET\r\n");
    } else if (path_is(req, "/metrics")) {
        const scoped_t *sc;
        if (req->method != CORRAL_HTTP_GET) {
            gw_respond(g, s, 405, "text/plain", "405 use GET\n", 12, "Allow: GET\r\n");
        } else if (!authenticate(g, c, req, &sc)) {
            g->metrics.http_errors[1]++;
            gw_respond(g, s, 401, "text/plain", "401 Unauthorized\n", 17, UNAUTHORIZED_HDR);
        } else {
            corral_buf_clear(&g->xml);
            metrics_render(g, &g->xml);
            gw_respond(g, s, 200, "text/plain; version=0.0.4", g->xml.data, g->xml.len, NULL);
        }
    } else if (rpc && req->method == CORRAL_HTTP_POST) {
        rpc_call(g, c, s, req);
    } else if (rpc) {
        g->metrics.http_errors[2]++;
        gw_respond(g, s, 405, "text/plain", "405 XML-RPC wants POST\n", 23, "Allow: POST\r\n");
    } else {
        g->metrics.http_errors[2]++;
        gw_respond(g, s, 404, "text/plain", "404 not found: XML-RPC is at POST /RPC2\n", 40, NULL);
    }
}

/* --- replies and events -------------------------------------------------------- */

/* auth.add [name, token, ownerUser, ownerRole, allowed] and auth.remove
   [name], from the supervisor only: per-analysis tokens. */
static void handle_auth_event(gw_t *g, const corral_msg_t *msg, bool add) {
    char name[CORRAL_ADDR_MAX], token[128], owner[CORRAL_ADDR_MAX], role[16];
    const msgpack_object *p = msg->env.p;
    if (corral_value_strcpy(corral_param(p, 0), name, sizeof name) < 0) return;
    if (!add) {
        zhashx_delete(g->scoped, name);
        corral_users_remove(g->users, name);
        return;
    }
    const msgpack_object *list = corral_param(p, 4);
    if (corral_value_strcpy(corral_param(p, 1), token, sizeof token) < 0 ||
        corral_value_strcpy(corral_param(p, 2), owner, sizeof owner) < 0 ||
        corral_value_strcpy(corral_param(p, 3), role, sizeof role) < 0 || !list ||
        list->type != MSGPACK_OBJECT_ARRAY) {
        LOG_WARN("gateway", "malformed auth.add for %s ignored", name);
        return;
    }
    scoped_t *sc = calloc(1, sizeof *sc);
    if (!sc) return;
    snprintf(sc->owner, sizeof sc->owner, "%s", owner);
    sc->owner_role = corral_role_parse(role, strlen(role));
    sc->allowed = zlistx_new();
    zlistx_set_destructor(sc->allowed, (zlistx_destructor_fn *)zstr_free);
    zlistx_add_end(sc->allowed, strdup(name));
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        char a[CORRAL_ADDR_MAX];
        if (corral_value_strcpy(&list->via.array.ptr[i], a, sizeof a) == 0) zlistx_add_end(sc->allowed, strdup(a));
    }
    zhashx_update(g->scoped, name, sc);
    if (corral_users_add_ephemeral(g->users, name, sc->owner_role, token) < 0)
        LOG_WARN("gateway", "token for %s not added (name taken?)", name);
}

void gw_handle_message(gw_t *g, corral_msg_t *msg) {
    const corral_env_t *env = &msg->env;
    if (env->kind == CORRAL_K_EVENT) {
        bool from_sup = env->from_len == strlen(g->sup) && memcmp(env->from, g->sup, env->from_len) == 0;
        bool add = env->m_len == 8 && memcmp(env->m, "auth.add", 8) == 0;
        bool remove = env->m_len == 11 && memcmp(env->m, "auth.remove", 11) == 0;
        if (from_sup && (add || remove)) handle_auth_event(g, msg, add);
        else LOG_DEBUG("gateway", "event %.*s ignored", (int)env->m_len, env->m);
        return;
    }
    if (env->kind != CORRAL_K_REPLY) return;
    call_t *call = calls_find(g->calls, env->id);
    if (!call) return; /* answered already (timed out, or its connection went) */
    metrics_call(&g->metrics, call->method, !env->is_fault, call->started);
    if (call->mc) {
        gw_multicall_answer(g, call, env->r, env->fcode, env->fstr, env->fstr_len);
        return;
    }
    slot_t *s = call->slot;
    calls_end(g->calls, call);
    if (!s) return;
    s->call = NULL;
    if (env->is_fault) {
        char text[CORRAL_FAULT_MAX];
        snprintf(text, sizeof text, "%.*s", (int)env->fstr_len, env->fstr);
        gw_respond_fault(g, s, env->fcode, text);
    } else {
        gw_respond_result(g, s, env->r);
    }
}

void gw_call_timeout(gw_t *g, call_t *call) {
    char text[CORRAL_FAULT_MAX];
    size_t n;
    const corral_method_t *m = &corral_methods(&n)[call->method];
    snprintf(text, sizeof text, "timed out: %s got no answer before its deadline", m->name);
    metrics_call(&g->metrics, call->method, false, call->started);
    if (call->mc) {
        gw_multicall_answer(g, call, NULL, CORRAL_F_TIMEOUT, text, strlen(text));
        return;
    }
    slot_t *s = call->slot;
    calls_end(g->calls, call);
    if (!s) return;
    s->call = NULL;
    gw_respond_fault(g, s, CORRAL_F_TIMEOUT, text);
}

void gw_slot_abandon(gw_t *g, slot_t *s) {
    if (s->call) {
        calls_end(g->calls, s->call); /* its late reply finds no call and is dropped */
        s->call = NULL;
    }
    if (s->mc) {
        gw_multicall_abandon(g, s->mc);
        s->mc = NULL;
    }
    s->conn = NULL;
}
