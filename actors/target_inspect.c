/* corral — inspection: threads, registers, maps, memory and symbols. */
#include "actors/target_int.h"
#include "actors/ptrace_ops.h"
#include "corral/log.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *name; size_t off; } regs[] = {
#define R(n) {#n, offsetof(struct user_regs_struct, n)}
    R(rax), R(rbx), R(rcx), R(rdx), R(rsi), R(rdi), R(rbp), R(rsp), R(r8), R(r9), R(r10),
    R(r11), R(r12), R(r13), R(r14), R(r15), R(rip), R(eflags), R(cs), R(ss), R(ds), R(es),
    R(fs), R(gs), R(fs_base), R(gs_base), R(orig_rax)
#undef R
};
#define NREGS (sizeof regs / sizeof regs[0])

static bool stopped(target_t *t, corral_msg_t *msg) {
    if (t->state == TS_STOPPED) return true;
    tgt_fault(t, msg, CORRAL_F_STATE, "the target is %s, not stopped",
              t->state == TS_RUNNING ? "running" : "ended");
    return false;
}

/* The thread named by params[i] (default: the one that stopped). */
static tthread_t *thread_param(target_t *t, corral_msg_t *msg, uint32_t i) {
    const msgpack_object *o = corral_param(msg->env.p, i);
    int64_t tid = t->cur_tid;
    if (o && o->type != MSGPACK_OBJECT_NIL && !corral_value_int(o, &tid)) {
        tgt_fault(t, msg, CORRAL_F_PARAMS, "tid must be an int");
        return NULL;
    }
    tthread_t *th = tgt_thread(t, (pid_t)tid);
    if (!th && !o && t->nthreads) th = &t->threads[0];
    if (!th) tgt_fault(t, msg, CORRAL_F_NOENT, "no thread %lld", (long long)tid);
    return th;
}

static int m_threads(target_t *t, corral_msg_t *msg) {
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    msgpack_pack_array(pk, t->nthreads);
    for (size_t i = 0; i < t->nthreads; i++) {
        msgpack_pack_map(pk, 2);
        corral_pack_kv_int(pk, "tid", t->threads[i].tid);
        corral_pack_kv_cstr(pk, "state", t->threads[i].stopped ? "stopped" : "running");
    }
    return corral_actor_reply_end(t->actor, msg);
}

static void pack_regs(msgpack_packer *pk, const struct user_regs_struct *r) {
    msgpack_pack_map(pk, NREGS);
    for (size_t i = 0; i < NREGS; i++) {
        uint64_t v;
        memcpy(&v, (const char *)r + regs[i].off, sizeof v);
        /* above INT64_MAX travels as a negative i8 (API.md §2) */
        corral_pack_kv_int(pk, regs[i].name, (int64_t)v);
    }
}

static int m_registers(target_t *t, corral_msg_t *msg, bool set) {
    if (!stopped(t, msg)) return 0;
    tthread_t *th = thread_param(t, msg, set ? 2 : 1);
    if (!th) return 0;
    struct user_regs_struct r;
    if (pt_getregs(th->tid, &r) != 0)
        return tgt_fault(t, msg, CORRAL_F_OS, "thread %d: %s", (int)th->tid, strerror(errno));
    if (set) {
        const msgpack_object *o = corral_param(msg->env.p, 1);
        if (!o || o->type != MSGPACK_OBJECT_MAP)
            return tgt_fault(t, msg, CORRAL_F_PARAMS, "regs must be a struct of register name to value");
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            size_t j = 0;
            while (j < NREGS && !corral_value_streq(&kv->key, regs[j].name)) j++;
            uint64_t v;
            if (j == NREGS) {
                const char *k = "";
                size_t kn = 0;
                corral_value_str(&kv->key, &k, &kn);
                return tgt_fault(t, msg, CORRAL_F_PARAMS, "no register %.*s", (int)(kn > 32 ? 32 : kn), k);
            }
            if (!corral_value_address(&kv->val, &v))
                return tgt_fault(t, msg, CORRAL_F_PARAMS, "register %s: value must be an int or a \"0x..\" string",
                                 regs[j].name);
            memcpy((char *)&r + regs[j].off, &v, sizeof v);
        }
        if (pt_setregs(th->tid, &r) != 0 || pt_getregs(th->tid, &r) != 0)
            return tgt_fault(t, msg, CORRAL_F_OS, "setRegisters of thread %d: %s", (int)th->tid,
                             strerror(errno));
        th->rehit = false;
        if (th->tid == t->cur_tid) t->pc = r.rip;
    }
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    pack_regs(pk, &r);
    return corral_actor_reply_end(t->actor, msg);
}

static int m_maps(target_t *t, corral_msg_t *msg) {
    elf_map_t *maps = NULL;
    size_t n = 0;
    if (t->state != TS_RUNNING && t->state != TS_STOPPED)
        return tgt_fault(t, msg, CORRAL_F_STATE, "the target has ended");
    if (elf_maps_read(t->pid, &maps, &n) != 0)
        return tgt_fault(t, msg, CORRAL_F_OS, "/proc/%d/maps: %s", (int)t->pid, strerror(errno));
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_map(pk, 5);
        corral_pack_kv_int(pk, "start", (int64_t)maps[i].start);
        corral_pack_kv_int(pk, "end", (int64_t)maps[i].end);
        corral_pack_kv_cstr(pk, "perms", maps[i].perms);
        corral_pack_kv_int(pk, "offset", (int64_t)maps[i].offset);
        corral_pack_kv_cstr(pk, "path", maps[i].path);
    }
    free(maps);
    return corral_actor_reply_end(t->actor, msg);
}

static int m_read(target_t *t, corral_msg_t *msg) {
    uint64_t addr;
    int64_t len;
    if (!corral_value_address(corral_param(msg->env.p, 1), &addr) ||
        !corral_value_int(corral_param(msg->env.p, 2), &len))
        return tgt_fault(t, msg, CORRAL_F_PARAMS, "expected (id, address, length)");
    if (len < 0 || (uint64_t)len > t->cfg->max_read)
        return tgt_fault(t, msg, CORRAL_F_PARAMS, "length %lld is outside 0..%zu", (long long)len,
                         t->cfg->max_read);
    if (t->state != TS_RUNNING && t->state != TS_STOPPED)
        return tgt_fault(t, msg, CORRAL_F_STATE, "the target has ended");
    unsigned char *buf = malloc(len ? (size_t)len : 1);
    if (!buf) return tgt_fault(t, msg, CORRAL_F_BUSY, "out of memory for %lld bytes", (long long)len);
    pid_t tid = t->state == TS_STOPPED ? tgt_any_tid(t) : 0;
    if (pt_read(t->pid, tid, addr, buf, (size_t)len) != 0) {
        int e = errno;
        free(buf);
        return tgt_fault(t, msg, CORRAL_F_OS, "at 0x%llx: %s", (unsigned long long)addr, strerror(e));
    }
    bp_shadow(t, addr, buf, (size_t)len);
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    msgpack_pack_bin(pk, (size_t)len);
    msgpack_pack_bin_body(pk, buf, (size_t)len);
    free(buf);
    return corral_actor_reply_end(t->actor, msg);
}

static int m_write(target_t *t, corral_msg_t *msg) {
    uint64_t addr;
    const msgpack_object *d = corral_param(msg->env.p, 2);
    if (!corral_value_address(corral_param(msg->env.p, 1), &addr) || !d ||
        (d->type != MSGPACK_OBJECT_BIN && d->type != MSGPACK_OBJECT_STR))
        return tgt_fault(t, msg, CORRAL_F_PARAMS, "expected (id, address, data as base64)");
    if (!stopped(t, msg)) return 0;
    size_t len = d->type == MSGPACK_OBJECT_BIN ? d->via.bin.size : d->via.str.size;
    if (len > t->cfg->max_read)
        return tgt_fault(t, msg, CORRAL_F_PARAMS, "%zu bytes is more than %zu", len, t->cfg->max_read);
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) return tgt_fault(t, msg, CORRAL_F_BUSY, "out of memory");
    memcpy(buf, d->type == MSGPACK_OBJECT_BIN ? d->via.bin.ptr : d->via.str.ptr, len);
    /* Keep inserted int3s in memory; what was written under them becomes
       their new original byte. Check the whole range first, so that a
       write to unmapped memory changes nothing. */
    unsigned char probe;
    if (len && (pt_read(t->pid, tgt_any_tid(t), addr, &probe, 1) != 0 ||
                pt_read(t->pid, tgt_any_tid(t), addr + len - 1, &probe, 1) != 0)) {
        int e = errno;
        free(buf);
        return tgt_fault(t, msg, CORRAL_F_OS, "at 0x%llx: %s", (unsigned long long)addr, strerror(e));
    }
    uint8_t saved[TGT_MAX_BPS];
    for (size_t i = 0; i < t->nbps; i++) saved[i] = t->bps[i].orig;
    bp_coherent_write(t, addr, buf, len);
    int rc = pt_write(tgt_any_tid(t), addr, buf, len);
    int e = errno;
    free(buf);
    if (rc != 0) {
        for (size_t i = 0; i < t->nbps; i++) t->bps[i].orig = saved[i];
        return tgt_fault(t, msg, CORRAL_F_OS, "at 0x%llx: %s", (unsigned long long)addr, strerror(e));
    }
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    msgpack_pack_int64(pk, (int64_t)len);
    return corral_actor_reply_end(t->actor, msg);
}

static int modules(target_t *t, elf_module_t **mods, size_t *n) {
    elf_map_t *maps = NULL;
    size_t nmaps = 0;
    if (elf_maps_read(t->pid, &maps, &nmaps) != 0) return -1;
    int rc = elf_modules(t->elf, maps, nmaps, t->exe, mods, n);
    free(maps);
    return rc;
}

/* True if the module's file name is lib ("libc.so.6"), or lib followed by
   a version or suffix ("libc" matches libc.so.6, "libm" libm-2.36.so). */
static bool lib_matches(const char *path, const char *lib, size_t n) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strncmp(base, lib, n) == 0 && (base[n] == '\0' || base[n] == '.' || base[n] == '-');
}

int tgt_symbol_lookup(target_t *t, const char *name, uint64_t *addr, corral_fault_t *f) {
    elf_module_t *mods = NULL;
    size_t n = 0;
    if (modules(t, &mods, &n) != 0)
        return corral_fault_set(f, CORRAL_F_OS, "/proc/%d/maps: %s", (int)t->pid, strerror(errno));
    const char *colon = strchr(name, ':');
    const char *sym = colon ? colon + 1 : name;
    int rc = corral_fault_set(f, CORRAL_F_NOENT, "no symbol %s", name);
    for (size_t i = 0; i < n; i++) {
        if (colon && !lib_matches(mods[i].file->path, name, (size_t)(colon - name))) continue;
        const elf_sym_t *s = elf_find(mods[i].file, sym);
        if (s) {
            *addr = mods[i].bias + s->value;
            rc = 0;
            break;
        }
    }
    free(mods);
    return rc;
}

/* "symbol" or "symbol+0x10" of addr into sym; returns the offset or -1
   (sym empty) when no symbol lies at or below it. */
static int64_t lookup_addr(target_t *t, uint64_t addr, char *sym, size_t cap, char *lib, size_t libcap) {
    elf_module_t *mods = NULL;
    size_t n = 0;
    int64_t off = -1;
    sym[0] = '\0';
    if (modules(t, &mods, &n) != 0) return -1;
    for (size_t i = 0; i < n && off < 0; i++) {
        if (addr < mods[i].start || addr >= mods[i].end) continue;
        const elf_sym_t *s = elf_nearest(mods[i].file, addr - mods[i].bias);
        if (!s) continue;
        snprintf(sym, cap, "%s", elf_sym_name(mods[i].file, s));
        if (lib) snprintf(lib, libcap, "%s", mods[i].file->path);
        off = (int64_t)(addr - mods[i].bias - s->value);
    }
    free(mods);
    return off;
}

int tgt_symbolize(target_t *t, uint64_t addr, char *sym, size_t cap) {
    return lookup_addr(t, addr, sym, cap, NULL, 0) < 0 ? -1 : 0;
}

static int m_symbol(target_t *t, corral_msg_t *msg) {
    char name[256];
    corral_fault_t f = {0, ""};
    uint64_t addr;
    if (corral_value_strcpy(corral_param(msg->env.p, 1), name, sizeof name) != 0 || !name[0])
        return tgt_fault(t, msg, CORRAL_F_PARAMS, "name must be a symbol name (\"main\", \"libc.so.6:malloc\")");
    if (t->state != TS_RUNNING && t->state != TS_STOPPED)
        return tgt_fault(t, msg, CORRAL_F_STATE, "the target has ended");
    if (tgt_symbol_lookup(t, name, &addr, &f) != 0) return tgt_fault(t, msg, f.code, "%s", f.msg);
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    msgpack_pack_int64(pk, (int64_t)addr);
    return corral_actor_reply_end(t->actor, msg);
}

static int m_symbolize(target_t *t, corral_msg_t *msg) {
    uint64_t addr;
    char sym[256], lib[CORRAL_PATH_MAX];
    if (!corral_value_address(corral_param(msg->env.p, 1), &addr))
        return tgt_fault(t, msg, CORRAL_F_PARAMS, "address must be an int or a \"0x..\" string");
    if (t->state != TS_RUNNING && t->state != TS_STOPPED)
        return tgt_fault(t, msg, CORRAL_F_STATE, "the target has ended");
    int64_t off = lookup_addr(t, addr, sym, sizeof sym, lib, sizeof lib);
    if (off < 0) return tgt_fault(t, msg, CORRAL_F_NOENT, "no symbol at or below 0x%llx", (unsigned long long)addr);
    msgpack_packer *pk = corral_actor_reply_begin(t->actor, msg);
    msgpack_pack_map(pk, 3);
    corral_pack_kv_cstr(pk, "symbol", sym);
    corral_pack_kv_int(pk, "offset", off);
    corral_pack_kv_cstr(pk, "library", lib);
    return corral_actor_reply_end(t->actor, msg);
}

int tgt_dispatch_inspect(target_t *t, corral_msg_t *msg, const char *m) {
    if (strcmp(m, "threads") == 0) m_threads(t, msg);
    else if (strcmp(m, "registers") == 0) m_registers(t, msg, false);
    else if (strcmp(m, "setRegisters") == 0) m_registers(t, msg, true);
    else if (strcmp(m, "maps") == 0) m_maps(t, msg);
    else if (strcmp(m, "readMemory") == 0) m_read(t, msg);
    else if (strcmp(m, "writeMemory") == 0) m_write(t, msg);
    else if (strcmp(m, "symbol") == 0) m_symbol(t, msg);
    else if (strcmp(m, "symbolize") == 0) m_symbolize(t, msg);
    else return 0;
    return 1;
}
