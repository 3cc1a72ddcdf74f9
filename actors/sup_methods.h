/* corral — the supervisor's own methods: server.*, node.list, and the
   system.* introspection answered from the one method table. */
#ifndef CORRAL_SUP_METHODS_H
#define CORRAL_SUP_METHODS_H

#include <stdbool.h>
#include <stdint.h>
#include "corral/actor.h"
#include "corral/config.h"

/* server.info: counts from the supervisor, uptime in seconds. */
void sup_server_info(corral_actor_t *a, const corral_msg_t *msg, const corral_config_t *cfg,
                     int targets, int analyses, int64_t started_ms, int64_t uptime_ms);

/* node.list: this node (the only one until peer links exist). */
void sup_node_list(corral_actor_t *a, const corral_msg_t *msg, const corral_config_t *cfg,
                   int targets, int analyses);

/* server.echo and system.listMethods/methodHelp/methodSignature/getCapabilities.
   Returns false if msg is none of these. */
bool sup_common_method(corral_actor_t *a, const corral_msg_t *msg, const corral_config_t *cfg);

#endif
