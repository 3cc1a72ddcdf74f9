/* corral — the supervisor: one actor thread per node ("sup@<node>"). It
   serves server.*, node.list and the system.* introspection methods from
   the method table, launches targets (handing each launch to a new target
   thread, which answers it) and analyses (through corral_analyses_t), and
   keeps the node's list of both, up to date from the actors' events. */
#ifndef CORRAL_SUPERVISOR_H
#define CORRAL_SUPERVISOR_H

#include "corral/config.h"

typedef struct corral_supervisor corral_supervisor_t;

/* Make the supervisor (its thread connects to the broker when started). */
corral_supervisor_t *corral_supervisor_new(void *zctx, const corral_config_t *cfg);

/* Start its thread. 0, or -1 with errno. */
int corral_supervisor_start(corral_supervisor_t *self);

/* Ask it to end its analyses and stop, join it, free. Sets *self to NULL.
   Targets end when the ZeroMQ context is shut down afterwards. */
void corral_supervisor_destroy(corral_supervisor_t **self);

#endif
