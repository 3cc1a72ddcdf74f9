/* corral — calls in flight. Ids increase; a call lives in table[id % max],
   and an id whose cell is taken is skipped, so lookups are one index and a
   compare. The heap holds (deadline, id) pairs; a pair whose call has ended
   is discarded when it reaches the top (lazy deletion). */
#include "gateway/calls.h"

#include <stdlib.h>

typedef struct { int64_t deadline; uint64_t id; } timer_t_;

struct calls {
    call_t **table;
    uint64_t max;
    uint64_t next_id;
    int live;
    timer_t_ *heap;
    size_t heap_len, heap_cap;
};

calls_t *calls_new(int max) {
    calls_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->max = (uint64_t)max;
    self->table = calloc((size_t)max, sizeof *self->table);
    self->next_id = 1;
    if (!self->table) {
        free(self);
        return NULL;
    }
    return self;
}

void calls_destroy(calls_t **pself) {
    calls_t *self = *pself;
    if (!self) return;
    for (uint64_t i = 0; i < self->max; i++) free(self->table[i]);
    free(self->table);
    free(self->heap);
    free(self);
    *pself = NULL;
}

static void heap_push(calls_t *self, int64_t deadline, uint64_t id) {
    if (self->heap_len == self->heap_cap) {
        size_t cap = self->heap_cap ? self->heap_cap * 2 : 1024;
        timer_t_ *h = realloc(self->heap, cap * sizeof *h);
        if (!h) return; /* the call then just lacks a timer; its answer still ends it */
        self->heap = h;
        self->heap_cap = cap;
    }
    size_t i = self->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (self->heap[parent].deadline <= deadline) break;
        self->heap[i] = self->heap[parent];
        i = parent;
    }
    self->heap[i] = (timer_t_){deadline, id};
}

static void heap_pop(calls_t *self) {
    timer_t_ last = self->heap[--self->heap_len];
    size_t i = 0, n = self->heap_len;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        int64_t md = last.deadline;
        if (l < n && self->heap[l].deadline < md) { m = l; md = self->heap[l].deadline; }
        if (r < n && self->heap[r].deadline < md) m = r;
        if (m == i) break;
        self->heap[i] = self->heap[m];
        i = m;
    }
    if (n) self->heap[i] = last;
}

call_t *calls_start(calls_t *self, int64_t deadline) {
    if ((uint64_t)self->live >= self->max) return NULL;
    while (self->table[self->next_id % self->max]) self->next_id++;
    call_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->id = self->next_id++;
    c->deadline = deadline;
    self->table[c->id % self->max] = c;
    self->live++;
    heap_push(self, deadline, c->id);
    return c;
}

call_t *calls_find(calls_t *self, uint64_t id) {
    call_t *c = self->table[id % self->max];
    return c && c->id == id ? c : NULL;
}

void calls_end(calls_t *self, call_t *c) {
    self->table[c->id % self->max] = NULL;
    self->live--;
    free(c);
}

/* Drop heap tops whose calls have ended. */
static void heap_clean(calls_t *self) {
    while (self->heap_len) {
        call_t *c = calls_find(self, self->heap[0].id);
        if (c && c->deadline == self->heap[0].deadline) return;
        heap_pop(self);
    }
}

int64_t calls_next_deadline(calls_t *self) {
    heap_clean(self);
    return self->heap_len ? self->heap[0].deadline : INT64_MAX;
}

call_t *calls_expired(calls_t *self, int64_t now) {
    heap_clean(self);
    if (!self->heap_len || self->heap[0].deadline > now) return NULL;
    call_t *c = calls_find(self, self->heap[0].id);
    heap_pop(self);
    return c;
}

int calls_live(const calls_t *self) { return self->live; }
