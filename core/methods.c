/* corral — the method table. Rows for each part's methods live beside the
   part (actors/target_methods.inc, actors/analysis_methods.inc) so that a
   method enters the table in the same change that builds it. */
#include "corral/methods.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CORRAL_METHOD(n, r, rt, sig, h) {n, r, rt, sig, h},

static corral_method_t table[] = {
    CORRAL_METHOD("node.list", CORRAL_ROLE_VIEWER, CORRAL_ROUTE_SUPERVISOR, "array",
                  "The nodes of the farm: [{name, address, state, targets, analyses, lastSeen}]; "
                  "the local node is always in it.")
    CORRAL_METHOD("server.echo", CORRAL_ROLE_VIEWER, CORRAL_ROUTE_SUPERVISOR,
                  "nil nil|nil nil string",
                  "echo(value [, node]): the same value, unchanged, after a full round trip "
                  "through the broker to the node's supervisor.")
    CORRAL_METHOD("server.info", CORRAL_ROLE_VIEWER, CORRAL_ROUTE_SUPERVISOR, "struct",
                  "{version, node, nodes, targets, analyses, uptime, startedAt}.")
    CORRAL_METHOD("system.getCapabilities", CORRAL_ROLE_VIEWER, CORRAL_ROUTE_SUPERVISOR, "struct",
                  "The specifications this server follows, each {specUrl, specVersion}.")
    CORRAL_METHOD("system.listMethods", CORRAL_ROLE_VIEWER, CORRAL_ROUTE_SUPERVISOR, "array",
                  "The names of every method this server has.")
    CORRAL_METHOD("system.methodHelp", CORRAL_ROLE_VIEWER, CORRAL_ROUTE_SUPERVISOR, "string string",
                  "methodHelp(name): a sentence on what the method does.")
    CORRAL_METHOD("system.methodSignature", CORRAL_ROLE_VIEWER, CORRAL_ROUTE_SUPERVISOR,
                  "array string",
                  "methodSignature(name): its signatures, each an array of type names, result first.")
    CORRAL_METHOD("system.multicall", CORRAL_ROLE_VIEWER, CORRAL_ROUTE_GATEWAY, "array array",
                  "multicall([{methodName, params}, ...]): one [result] or fault struct per call, "
                  "in order; calls to different actors run concurrently.")
#if __has_include("actors/target_methods.inc")
#include "actors/target_methods.inc"
#endif
#if __has_include("actors/analysis_methods.inc")
#include "actors/analysis_methods.inc"
#endif
};

#define TABLE_SIZE (sizeof table / sizeof table[0])

static pthread_once_t sorted_once = PTHREAD_ONCE_INIT;

static int by_name(const void *a, const void *b) {
    return strcmp(((const corral_method_t *)a)->name, ((const corral_method_t *)b)->name);
}

static void sort_table(void) { qsort(table, TABLE_SIZE, sizeof table[0], by_name); }

const corral_method_t *corral_methods(size_t *count) {
    pthread_once(&sorted_once, sort_table);
    *count = TABLE_SIZE;
    return table;
}

const corral_method_t *corral_method_find(const char *name, size_t n) {
    pthread_once(&sorted_once, sort_table);
    size_t lo = 0, hi = TABLE_SIZE;
    while (lo < hi) { /* binary search: the gateway looks up every call */
        size_t mid = (lo + hi) / 2;
        const char *m = table[mid].name;
        int c = strncmp(m, name, n);
        if (c == 0 && m[n] != '\0') c = 1;
        if (c == 0) return &table[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
