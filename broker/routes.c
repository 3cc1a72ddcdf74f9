/* corral — the broker's route table (CZMQ hash tables keyed by strings). */
#include "broker/routes.h"

#include <stdio.h>
#include <string.h>

struct routes {
    zhashx_t *by_address;     /* address -> route_t (owned) */
    zhashx_t *by_identity;    /* identity -> route_t (borrowed) */
    zhashx_t *expected;       /* identity -> expectation_t (owned) */
    zlistx_t *processes;      /* route_t of process actors (borrowed), for sweeps */
};

static void inflight_free(void **item) {
    inflight_t *f = *item;
    if (!f) return;
    for (int i = 0; i < f->nroute; i++) zmq_msg_close(&f->route[i]);
    free(f);
    *item = NULL;
}

void frames_close(frames_t *fr) {
    for (int i = 0; i < fr->n; i++) zmq_msg_close(&fr->f[i]);
    fr->n = 0;
}

static void route_free(void **item) {
    route_t *r = *item;
    if (!r) return;
    zhashx_destroy(&r->inflight);
    frames_t *fr;
    while ((fr = routes_take_held(r))) {
        frames_close(fr);
        free(fr);
    }
    zlistx_destroy(&r->held);
    free(r);
    *item = NULL;
}

routes_t *routes_new(void) {
    routes_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->by_address = zhashx_new();
    self->by_identity = zhashx_new();
    self->expected = zhashx_new();
    self->processes = zlistx_new();
    zhashx_set_destructor(self->by_address, route_free);
    return self;
}

void routes_destroy(routes_t **pself) {
    routes_t *self = *pself;
    if (!self) return;
    zlistx_destroy(&self->processes);
    zhashx_destroy(&self->by_identity);
    zhashx_destroy(&self->by_address);
    for (void *e = zhashx_first(self->expected); e; e = zhashx_next(self->expected)) free(e);
    zhashx_destroy(&self->expected);
    free(self);
    *pself = NULL;
}

route_t *routes_by_address(routes_t *self, const char *address) {
    return zhashx_lookup(self->by_address, address);
}

route_t *routes_by_identity(routes_t *self, const char *identity) {
    return zhashx_lookup(self->by_identity, identity);
}

route_t *routes_put(routes_t *self, const char *address, const char *identity, bool process) {
    route_t *r = zhashx_lookup(self->by_address, address);
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return NULL;
        snprintf(r->address, sizeof r->address, "%s", address);
        zhashx_insert(self->by_address, address, r);
        if (process) {
            r->inflight = zhashx_new();
            zhashx_set_destructor(r->inflight, inflight_free);
            zlistx_add_end(self->processes, r);
        }
    } else if (r->identity[0]) {
        zhashx_delete(self->by_identity, r->identity);
    }
    r->process = process;
    snprintf(r->identity, sizeof r->identity, "%s", identity);
    r->state = ROUTE_UP;
    zhashx_update(self->by_identity, identity, r);
    return r;
}

route_t *routes_pending(routes_t *self, const char *address) {
    route_t *r = zhashx_lookup(self->by_address, address);
    if (r) return r;
    r = routes_adopt(self, address); /* makes an unbound process route */
    if (r) r->state = ROUTE_PENDING;
    return r;
}

int routes_hold(route_t *r, const frames_t *fr, size_t max) {
    if (!r->held) r->held = zlistx_new();
    if (!r->held || zlistx_size(r->held) >= max) return -1;
    frames_t *copy = calloc(1, sizeof *copy);
    if (!copy) return -1;
    for (int i = 0; i < fr->n; i++) {
        zmq_msg_init(&copy->f[i]);
        zmq_msg_copy(&copy->f[i], (zmq_msg_t *)&fr->f[i]);
    }
    copy->n = fr->n;
    copy->body = fr->body;
    zlistx_add_end(r->held, copy);
    return 0;
}

frames_t *routes_take_held(route_t *r) {
    if (!r->held) return NULL;
    frames_t *fr = zlistx_first(r->held);
    if (fr) zlistx_delete(r->held, zlistx_cursor(r->held));
    return fr;
}

route_t *routes_adopt(routes_t *self, const char *address) {
    route_t *r = zhashx_lookup(self->by_address, address);
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return NULL;
        snprintf(r->address, sizeof r->address, "%s", address);
        r->process = true;
        r->inflight = zhashx_new();
        zhashx_set_destructor(r->inflight, inflight_free);
        zhashx_insert(self->by_address, address, r);
        zlistx_add_end(self->processes, r);
    }
    r->state = ROUTE_ADOPTED;
    return r;
}

void routes_unbind_identity(routes_t *self, route_t *r) {
    if (r->identity[0]) zhashx_delete(self->by_identity, r->identity);
    r->identity[0] = '\0';
}

void routes_remove(routes_t *self, const char *address) {
    route_t *r = zhashx_lookup(self->by_address, address);
    if (!r) return;
    routes_unbind_identity(self, r);
    if (r->process) {
        void *h = zlistx_find(self->processes, r);
        if (h) zlistx_delete(self->processes, h);
    }
    zhashx_delete(self->by_address, address);
}

void routes_expect(routes_t *self, const char *identity, const char *address, const char *secret) {
    free(routes_take_expectation(self, identity));
    expectation_t *e = calloc(1, sizeof *e);
    if (!e) return;
    snprintf(e->address, sizeof e->address, "%s", address);
    snprintf(e->secret, sizeof e->secret, "%s", secret);
    zhashx_update(self->expected, identity, e);
}

expectation_t *routes_take_expectation(routes_t *self, const char *identity) {
    expectation_t *e = zhashx_lookup(self->expected, identity);
    if (e) zhashx_delete(self->expected, identity); /* no destructor: the caller frees it */
    return e;
}

route_t *routes_first_process(routes_t *self) { return zlistx_first(self->processes); }

route_t *routes_next_process(routes_t *self) { return zlistx_next(self->processes); }

static void inflight_key(char *key, size_t cap, uint64_t id, const void *sender, size_t n) {
    int len = snprintf(key, cap, "%llu/", (unsigned long long)id);
    if (len < 0) len = 0;
    if (n > cap - (size_t)len - 1) n = cap - (size_t)len - 1;
    memcpy(key + len, sender, n);
    key[(size_t)len + n] = '\0';
}

void routes_inflight_add(route_t *r, uint64_t id, zmq_msg_t *frames, int nframes) {
    if (!r->inflight || nframes < 1) return;
    inflight_t *f = calloc(1, sizeof *f);
    if (!f) return;
    f->id = id;
    for (int i = 0; i < nframes && i < CORRAL_MAX_HOPS + 1; i++) {
        zmq_msg_init(&f->route[i]);
        zmq_msg_copy(&f->route[i], &frames[i]);
        f->nroute++;
    }
    char key[CORRAL_ADDR_MAX + 32];
    inflight_key(key, sizeof key, id, zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]));
    zhashx_update(r->inflight, key, f);
}

void routes_inflight_done(route_t *r, uint64_t id, const void *sender, size_t sender_len) {
    if (!r->inflight) return;
    char key[CORRAL_ADDR_MAX + 32];
    inflight_key(key, sizeof key, id, sender, sender_len);
    zhashx_delete(r->inflight, key);
}

size_t routes_count(routes_t *self) { return zhashx_size(self->by_address); }
