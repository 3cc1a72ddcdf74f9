/* corral — the supervisor's side of analyses, internal to analysis_sup*.c
   and analysis_launch.c (the public face is include/corral/analysis.h). */
#ifndef CORRAL_ANALYSIS_SUP_H
#define CORRAL_ANALYSIS_SUP_H

#include <czmq.h>
#include "actors/descriptor.h"
#include "actors/results.h"
#include "corral/analysis.h"

typedef struct aentry {
    corral_ainfo_t info;
    char run_dir[CORRAL_PATH_MAX];
    uint64_t num;               /* n of "a<n>@node" */
    bool live;                  /* its host runs (address not yet adopted) */
    bool released;              /* final state received, analysis.release sent */
    bool remove_pending;        /* the host took analysis.remove: delete once adopted */
    bool removed;               /* deleted: kept only so the list stays valid; never found */
    int host_pid;
    corral_msg_t *launch;       /* the analysis.launch request, answered once running */
    corral_results_t *res;      /* opened on demand to page an ended run */
} aentry_t;

struct corral_analyses {
    const corral_config_t *cfg;
    corral_actor_t *sup;
    corral_catalog_t *cat;
    zhashx_t *byid;             /* id -> aentry_t */
    aentry_t **list;            /* in launch order */
    size_t n, cap;
    uint64_t next_num;
    int live;
    char node[CORRAL_NAME_MAX], sup_addr[CORRAL_ADDR_MAX], gw_addr[CORRAL_ADDR_MAX];
    char runs_dir[CORRAL_PATH_MAX], endpoint[CORRAL_PATH_MAX + 16], host_path[CORRAL_PATH_MAX];
};

/* analysis.launch: check, prepare, start the host; the request is parked
   in the new entry (answered when the host reports) or answered now. */
void corral_analysis_launch(corral_analyses_t *self, corral_msg_t **msg);

/* Add an entry to the table (it takes ownership). */
void corral_analyses_add(corral_analyses_t *self, aentry_t *e);

/* Send auth.remove for id to the gateway. */
void corral_analyses_auth_remove(corral_analyses_t *self, const char *id);

#endif
