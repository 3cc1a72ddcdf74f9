/* corral — hardware watchpoints through the x86-64 debug registers.

   DR0-DR3 hold addresses, DR7 enables them (local enable bit 2*i) with a
   2-bit access kind at bit 16+4i (00 exec, 01 write, 11 read/write) and a
   2-bit length at bit 18+4i (00 1 byte, 01 2, 11 4, 10 8); DR6 bits 0-3 say
   which fired. Debug registers are per thread and clones do not inherit
   them, so every change is applied to each thread, and a new thread gets
   them at its first stop (target_control.c). */
#include "actors/target_int.h"
#include "actors/ptrace_ops.h"
#include "corral/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static uint64_t dr7_of(const target_t *t) {
    uint64_t v = 0;
    for (size_t i = 0; i < t->nbps; i++) {
        const bp_t *b = &t->bps[i];
        if (!b->watch || !b->enabled) continue;
        uint64_t len = b->len == 1 ? 0 : b->len == 2 ? 1 : b->len == 8 ? 2 : 3;
        v |= 1ull << (2 * b->slot);
        v |= (uint64_t)b->access << (16 + 4 * b->slot);
        v |= len << (18 + 4 * b->slot);
    }
    return v;
}

int wp_apply_thread(target_t *t, pid_t tid) {
    /* Disable first: the kernel checks each address against DR7 as set. */
    if (pt_set_dr(tid, 7, 0) != 0) return -1;
    for (size_t i = 0; i < t->nbps; i++)
        if (t->bps[i].watch && pt_set_dr(tid, t->bps[i].slot, t->bps[i].addr) != 0) return -1;
    uint64_t dr7 = dr7_of(t);
    return dr7 ? pt_set_dr(tid, 7, dr7) : 0;
}

int wp_apply_all(target_t *t) {
    int rc = 0;
    for (size_t i = 0; i < t->nthreads; i++)
        if (wp_apply_thread(t, t->threads[i].tid) != 0) {
            LOG_WARN("target", "%s: debug registers of thread %d: %s", t->address,
                     (int)t->threads[i].tid, strerror(errno));
            rc = -1;
        }
    return rc;
}

void wp_clear_thread(pid_t tid) {
    pt_set_dr(tid, 7, 0);
    pt_set_dr(tid, 6, 0);
}

int wp_hit(target_t *t, pid_t tid) {
    uint64_t dr6;
    if (pt_get_dr(tid, 6, &dr6) != 0 || (dr6 & 0xf) == 0) return 0;
    pt_set_dr(tid, 6, 0);   /* DR6 is sticky: clear it for the next hit */
    for (size_t i = 0; i < t->nbps; i++)
        if (t->bps[i].watch && (dr6 & (1ull << t->bps[i].slot))) return t->bps[i].id;
    return 0;
}

int wp_add(target_t *t, uint64_t addr, int len, const char *access, bp_t **out, corral_fault_t *f) {
    int acc = strcmp(access, "write") == 0 ? 1 : strcmp(access, "readwrite") == 0 ? 3
            : strcmp(access, "exec") == 0 ? 0 : -1;
    if (acc < 0) return corral_fault_set(f, CORRAL_F_PARAMS, "access must be write, readwrite or exec");
    if (len != 1 && len != 2 && len != 4 && len != 8)
        return corral_fault_set(f, CORRAL_F_PARAMS, "length must be 1, 2, 4 or 8");
    if (acc == 0 && len != 1)
        return corral_fault_set(f, CORRAL_F_PARAMS, "an exec watchpoint has length 1");
    if (addr % (uint64_t)len)
        return corral_fault_set(f, CORRAL_F_PARAMS, "address 0x%llx is not aligned to its length %d",
                                (unsigned long long)addr, len);
    bool used[TGT_WP_SLOTS] = {false};
    for (size_t i = 0; i < t->nbps; i++)
        if (t->bps[i].watch) used[t->bps[i].slot] = true;
    int slot = 0;
    while (slot < TGT_WP_SLOTS && used[slot]) slot++;
    if (slot == TGT_WP_SLOTS)
        return corral_fault_set(f, CORRAL_F_BUSY, "all %d hardware watchpoint slots are taken",
                                TGT_WP_SLOTS);
    if (t->nbps == TGT_MAX_BPS)
        return corral_fault_set(f, CORRAL_F_BUSY, "%d breakpoints already", TGT_MAX_BPS);
    bp_t *nb = realloc(t->bps, (t->nbps + 1) * sizeof *nb);
    if (!nb) return corral_fault_set(f, CORRAL_F_BUSY, "out of memory");
    t->bps = nb;
    bp_t *b = &t->bps[t->nbps++];
    *b = (bp_t){.id = ++t->next_bp, .watch = true, .addr = addr, .enabled = true, .slot = slot,
                .len = len, .access = acc};
    tgt_symbolize(t, addr, b->symbol, sizeof b->symbol);
    if (wp_apply_all(t) != 0) {
        int e = errno;
        t->nbps--;
        wp_apply_all(t);
        return corral_fault_set(f, CORRAL_F_OS, "debug registers at 0x%llx: %s",
                                (unsigned long long)addr, strerror(e));
    }
    *out = b;
    return 0;
}
