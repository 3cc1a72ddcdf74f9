/* corral — software breakpoints (int3) and the breakpoint methods.

   An inserted breakpoint is the byte 0xCC over the first byte of an
   instruction; the byte it replaced is kept in bp_t.orig. Memory reads
   patch the originals back into their copy (readMemory never shows int3),
   and memory writes over a breakpoint update orig and keep the int3.
   Breakpoints change memory only while every thread is stopped; a call on
   a running target stops it briefly around the change (all-stop). */
#include "actors/target_int.h"
#include "actors/ptrace_ops.h"
#include "corral/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bp_t *bp_at(target_t *t, uint64_t addr) {
    for (size_t i = 0; i < t->nbps; i++)
        if (!t->bps[i].watch && t->bps[i].inserted && t->bps[i].addr == addr) return &t->bps[i];
    return NULL;
}

bp_t *bp_by_id(target_t *t, int id) {
    for (size_t i = 0; i < t->nbps; i++)
        if (t->bps[i].id == id) return &t->bps[i];
    return NULL;
}

int bp_insert(target_t *t, bp_t *b, pid_t tid) {
    unsigned char orig, cc = 0xCC;
    if (b->inserted) return 0;
    if (pt_read(t->pid, tid, b->addr, &orig, 1) != 0 || pt_write(tid, b->addr, &cc, 1) != 0)
        return -1;
    b->orig = orig;
    b->inserted = true;
    return 0;
}

int bp_restore(target_t *t, bp_t *b, pid_t tid) {
    if (!b->inserted) return 0;
    if (pt_write(tid, b->addr, &b->orig, 1) != 0) return -1;
    b->inserted = false;
    return 0;
}

/* Put every original byte back in the memory seen through tid: a fork
   child's copy (forget false: our table stays as it is), or the target's
   own before a detach (forget true: the table is emptied). */
void bp_remove_all(target_t *t, pid_t tid, bool forget) {
    for (size_t i = 0; i < t->nbps; i++) {
        bp_t *b = &t->bps[i];
        if (b->watch || !b->inserted) continue;
        if (pt_write(tid, b->addr, &b->orig, 1) != 0)
            LOG_WARN("target", "%s: restoring 0x%llx in %d: %s", t->address,
                     (unsigned long long)b->addr, (int)tid, strerror(errno));
        if (forget) b->inserted = false;
    }
    if (forget) t->nbps = 0;
}

void bp_shadow(target_t *t, uint64_t addr, unsigned char *buf, size_t len) {
    for (size_t i = 0; i < t->nbps; i++) {
        bp_t *b = &t->bps[i];
        if (!b->watch && b->inserted && b->addr >= addr && b->addr - addr < len)
            buf[b->addr - addr] = b->orig;
    }
}

void bp_coherent_write(target_t *t, uint64_t addr, unsigned char *buf, size_t len) {
    for (size_t i = 0; i < t->nbps; i++) {
        bp_t *b = &t->bps[i];
        if (!b->watch && b->inserted && b->addr >= addr && b->addr - addr < len) {
            b->orig = buf[b->addr - addr];
            buf[b->addr - addr] = 0xCC;
        }
    }
}

/* Stop a running target around a change of breakpoints; returns whether
   it must be resumed afterwards, -1 when it ended meanwhile. */
static int hold(target_t *t) {
    if (t->state == TS_STOPPED) return 0;
    if (t->state != TS_RUNNING || tgt_stop_all(t) != 0) return -1;
    t->state = TS_STOPPED;
    t->reason = "pause";
    return 1;
}

static void release(target_t *t, int held) {
    if (held == 1) tgt_resume_all(t);
    tgt_notify(t);
}

static int m_breakpoint(target_t *t, corral_msg_t *msg) {
    const msgpack_object *loc = corral_param(msg->env.p, 1);
    uint64_t addr;
    char sym[128] = "";
    corral_fault_t f = {0, ""};
    if (!loc) return tgt_fault(t, msg, CORRAL_F_PARAMS, "location (a symbol or an address) is missing");
    if (!corral_value_address(loc, &addr)) {
        if (corral_value_strcpy(loc, sym, sizeof sym) != 0)
            return tgt_fault(t, msg, CORRAL_F_PARAMS, "location must be a symbol name or an address");
        if (tgt_symbol_lookup(t, sym, &addr, &f) != 0) return tgt_fault(t, msg, f.code, "%s", f.msg);
    } else tgt_symbolize(t, addr, sym, sizeof sym);
    bp_t *b = NULL;
    for (size_t i = 0; i < t->nbps && !b; i++)
        if (!t->bps[i].watch && t->bps[i].addr == addr) b = &t->bps[i];
    if (!b) {
        if (t->nbps == TGT_MAX_BPS) return tgt_fault(t, msg, CORRAL_F_BUSY, "%d breakpoints already", TGT_MAX_BPS);
        int held = hold(t);
        if (held < 0) return tgt_fault(t, msg, CORRAL_F_STATE, "the target has ended");
        bp_t *nb = realloc(t->bps, (t->nbps + 1) * sizeof *nb);
        if (!nb) return release(t, held), tgt_fault(t, msg, CORRAL_F_BUSY, "out of memory");
        t->bps = nb;
        b = &t->bps[t->nbps];
        *b = (bp_t){.id = t->next_bp + 1, .addr = addr, .enabled = true};
        snprintf(b->symbol, sizeof b->symbol, "%s", sym);
        if (bp_insert(t, b, tgt_any_tid(t)) != 0) {
            int e = errno;
            release(t, held);
            return tgt_fault(t, msg, CORRAL_F_OS, "breakpoint at 0x%llx: %s", (unsigned long long)addr,
                             strerror(e));
        }
        t->next_bp++;
        t->nbps++;
        release(t, held);
    }
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    msgpack_pack_map(pk, 2);
    corral_pack_kv_int(pk, "bp", b->id);
    corral_pack_kv_int(pk, "address", (int64_t)b->addr);
    return corral_actor_reply_end(t->actor, msg);
}

static int m_watchpoint(target_t *t, corral_msg_t *msg) {
    const msgpack_object *p = msg->env.p;
    uint64_t addr;
    int64_t len;
    char access[16];
    if (!corral_value_address(corral_param(p, 1), &addr) || !corral_value_int(corral_param(p, 2), &len) ||
        corral_value_strcpy(corral_param(p, 3), access, sizeof access) != 0)
        return tgt_fault(t, msg, CORRAL_F_PARAMS, "expected (id, address, length, access)");
    int held = hold(t);
    if (held < 0) return tgt_fault(t, msg, CORRAL_F_STATE, "the target has ended");
    corral_fault_t f = {0, ""};
    bp_t *b;
    if (wp_add(t, addr, (int)len, access, &b, &f) != 0) {
        release(t, held);
        return tgt_fault(t, msg, f.code, "%s", f.msg);
    }
    int id = b->id;
    release(t, held);
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    msgpack_pack_map(pk, 2);
    corral_pack_kv_int(pk, "bp", id);
    corral_pack_kv_int(pk, "address", (int64_t)addr);
    return corral_actor_reply_end(t->actor, msg);
}

static int m_breakpoints(target_t *t, corral_msg_t *msg) {
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    msgpack_pack_array(pk, t->nbps);
    for (size_t i = 0; i < t->nbps; i++) {
        const bp_t *b = &t->bps[i];
        msgpack_pack_map(pk, 6);
        corral_pack_kv_int(pk, "bp", b->id);
        corral_pack_kv_cstr(pk, "kind", b->watch ? "watchpoint" : "breakpoint");
        corral_pack_kv_int(pk, "address", (int64_t)b->addr);
        corral_pack_kv_cstr(pk, "symbol", b->symbol);
        corral_pack_kv_int(pk, "hits", b->hits);
        corral_pack_kv_bool(pk, "enabled", b->enabled);
    }
    return corral_actor_reply_end(t->actor, msg);
}

/* enableBreakpoint(id, bp, enabled) and removeBreakpoint(id, bp). */
static int m_change(target_t *t, corral_msg_t *msg, bool remove) {
    int64_t id;
    bool en = false;
    if (!corral_value_int(corral_param(msg->env.p, 1), &id) ||
        (!remove && !corral_value_bool(corral_param(msg->env.p, 2), &en)))
        return tgt_fault(t, msg, CORRAL_F_PARAMS, remove ? "expected (id, bp)" : "expected (id, bp, enabled)");
    bp_t *b = bp_by_id(t, (int)id);
    if (!b) return tgt_fault(t, msg, CORRAL_F_NOENT, "no breakpoint %lld", (long long)id);
    int held = hold(t);
    if (held < 0) return tgt_fault(t, msg, CORRAL_F_STATE, "the target has ended");
    pid_t tid = tgt_any_tid(t);
    int rc = 0;
    if (!b->watch && (remove || !en)) rc = bp_restore(t, b, tid);
    else if (!b->watch && en) rc = bp_insert(t, b, tid);
    int e = errno;
    if (rc == 0) {
        bool watch = b->watch;
        b->enabled = en;
        if (remove) *b = t->bps[--t->nbps];
        if (watch) wp_apply_all(t);
    }
    release(t, held);
    if (rc != 0) return tgt_fault(t, msg, CORRAL_F_OS, "breakpoint %lld: %s", (long long)id, strerror(e));
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    msgpack_pack_true(pk);
    return corral_actor_reply_end(t->actor, msg);
}

int tgt_dispatch_bp(target_t *t, corral_msg_t *msg, const char *m) {
    bool ended = t->state != TS_RUNNING && t->state != TS_STOPPED;
    bool known = !strcmp(m, "breakpoint") || !strcmp(m, "watchpoint") ||
                 !strcmp(m, "enableBreakpoint") || !strcmp(m, "removeBreakpoint");
    if (strcmp(m, "breakpoints") == 0) return m_breakpoints(t, msg), 1;
    if (!known) return 0;
    if (ended) return tgt_fault(t, msg, CORRAL_F_STATE, "the target has ended"), 1;
    if (strcmp(m, "breakpoint") == 0) m_breakpoint(t, msg);
    else if (strcmp(m, "watchpoint") == 0) m_watchpoint(t, msg);
    else m_change(t, msg, strcmp(m, "removeBreakpoint") == 0);
    return 1;
}
