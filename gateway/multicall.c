/* corral — system.multicall in the gateway. Every sub-call is sent at once,
   so sub-calls to different actors run concurrently; sub-calls to the same
   actor reach it in the order given, because one socket pair keeps order
   and an actor handles one message at a time. The answer is assembled when
   the last sub-call is answered (or times out). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "corral/log.h"
#include "corral/unpack.h"
#include "gateway/gw.h"

static void mc_free(multicall_t *mc) {
    for (uint32_t i = 0; i < mc->n; i++) corral_buf_free(&mc->results[i]);
    free(mc->results);
    free(mc->ids);
    free(mc);
}

static int buf_write(void *data, const char *p, size_t n) {
    return corral_buf_append(data, p, n) < 0 ? -1 : 0;
}

/* Store entry i's fault struct {faultCode, faultString}. */
static void store_fault(multicall_t *mc, uint32_t i, int code, const char *text, size_t len) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, &mc->results[i], buf_write);
    corral_buf_clear(&mc->results[i]);
    msgpack_pack_map(&pk, 2);
    corral_pack_kv_int(&pk, "faultCode", code);
    corral_pack_cstr(&pk, "faultString");
    corral_pack_str(&pk, text, len);
}

static void store_result(multicall_t *mc, uint32_t i, const msgpack_object *r) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, &mc->results[i], buf_write);
    corral_buf_clear(&mc->results[i]);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_object(&pk, *r);
}

static void mc_finish(gw_t *g, multicall_t *mc) {
    slot_t *s = mc->slot;
    if (s) {
        s->mc = NULL;
        msgpack_sbuffer_clear(&g->sub);
        msgpack_pack_array(&g->sub_pk, mc->n);
        for (uint32_t i = 0; i < mc->n; i++) msgpack_sbuffer_write(&g->sub, mc->results[i].data, mc->results[i].len);
        msgpack_object all;
        msgpack_zone_clear(&g->zone);
        if (corral_unpack(g->sub.data, g->sub.size, &g->zone, CORRAL_UNPACK_DEPTH, &all) == MSGPACK_UNPACK_SUCCESS)
            gw_respond_result(g, s, &all);
        else
            gw_respond_fault(g, s, CORRAL_F_INTERNAL, "internal error: multicall results do not unpack");
    }
    mc_free(mc);
}

/* Start sub-call i; on failure store its fault. */
static void start_one(gw_t *g, multicall_t *mc, uint32_t i, const msgpack_object *entry,
                      const corral_user_t *who, const scoped_t *sc) {
    const msgpack_object *mn = corral_value_member(entry, "methodName");
    const msgpack_object *mp = corral_value_member(entry, "params");
    char text[CORRAL_FAULT_MAX];
    if (!mn || mn->type != MSGPACK_OBJECT_STR || (mp && mp->type != MSGPACK_OBJECT_ARRAY)) {
        snprintf(text, sizeof text, "system.multicall: call %u is not {methodName string, params array}", i);
        store_fault(mc, i, CORRAL_F_PARAMS, text, strlen(text));
        return;
    }
    const corral_method_t *m = corral_method_find(mn->via.str.ptr, mn->via.str.size);
    if (!m) {
        snprintf(text, sizeof text, "no such method '%.*s'", (int)mn->via.str.size, mn->via.str.ptr);
        store_fault(mc, i, CORRAL_F_METHOD, text, strlen(text));
        return;
    }
    if (m->route == CORRAL_ROUTE_GATEWAY) {
        snprintf(text, sizeof text, "system.multicall may not be nested (call %u)", i);
        store_fault(mc, i, CORRAL_F_REQUEST, text, strlen(text));
        return;
    }
    msgpack_object empty = {.type = MSGPACK_OBJECT_ARRAY};
    if (!mp) mp = &empty;
    corral_fault_t f;
    if (gw_allowed(m, who, sc, mp, &f) < 0) {
        store_fault(mc, i, f.code, f.msg, strlen(f.msg));
        return;
    }
    msgpack_sbuffer_clear(&g->sub);
    msgpack_pack_object(&g->sub_pk, *mp);
    call_t *call = gw_send_call(g, m, g->sub.data, g->sub.size, mp, who, sc, &f);
    if (!call) {
        store_fault(mc, i, f.code, f.msg, strlen(f.msg));
        return;
    }
    call->mc = mc;
    call->mc_index = i;
    mc->ids[i] = call->id;
    mc->pending++;
}

void gw_multicall(gw_t *g, slot_t *s, const msgpack_object *params, const corral_user_t *who,
                  const scoped_t *sc) {
    const msgpack_object *calls = corral_param(params, 0);
    char text[CORRAL_FAULT_MAX];
    if (corral_param_count(params) != 1 || calls->type != MSGPACK_OBJECT_ARRAY) {
        gw_respond_fault(g, s, CORRAL_F_PARAMS, "system.multicall takes one array of {methodName, params}");
        return;
    }
    uint32_t n = calls->via.array.size;
    if (n > (uint32_t)g->cfg->max_multicall) {
        snprintf(text, sizeof text, "system.multicall: %u calls, more than the limit of %d (--max-multicall)",
                 n, g->cfg->max_multicall);
        gw_respond_fault(g, s, CORRAL_F_PARAMS, text);
        return;
    }
    multicall_t *mc = calloc(1, sizeof *mc);
    if (mc) {
        mc->results = calloc(n ? n : 1, sizeof *mc->results);
        mc->ids = calloc(n ? n : 1, sizeof *mc->ids);
    }
    if (!mc || !mc->results || !mc->ids) {
        if (mc) mc_free(mc);
        gw_respond_fault(g, s, CORRAL_F_BUSY, "busy: out of memory for the multicall; retry later");
        return;
    }
    mc->n = n;
    mc->slot = s;
    s->mc = mc;
    /* The params object points into g->params, which start_one leaves alone
       (it packs each sub-call's params into g->sub). */
    for (uint32_t i = 0; i < n; i++) start_one(g, mc, i, &calls->via.array.ptr[i], who, sc);
    if (mc->pending == 0) mc_finish(g, mc);
}

void gw_multicall_answer(gw_t *g, call_t *call, const msgpack_object *r, int code, const char *text,
                         size_t text_len) {
    multicall_t *mc = call->mc;
    uint32_t i = call->mc_index;
    if (r) store_result(mc, i, r);
    else store_fault(mc, i, code, text, text_len);
    mc->ids[i] = 0;
    calls_end(g->calls, call);
    if (--mc->pending == 0) mc_finish(g, mc);
}

void gw_multicall_abandon(gw_t *g, multicall_t *mc) {
    for (uint32_t i = 0; i < mc->n; i++) {
        call_t *call = mc->ids[i] ? calls_find(g->calls, mc->ids[i]) : NULL;
        if (call) calls_end(g->calls, call);
    }
    mc_free(mc);
}
