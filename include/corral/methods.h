/* corral — the one method table: every public method with its required
   role, where it is routed, its signatures and its help text. The gateway
   routes and checks roles from it; system.listMethods, methodHelp and
   methodSignature answer from it. A method that is not built is not in it. */
#ifndef CORRAL_METHODS_H
#define CORRAL_METHODS_H

#include <stddef.h>
#include "corral/envelope.h"

typedef enum corral_route {
    CORRAL_ROUTE_SUPERVISOR = 0,  /* the node's supervisor (or params[i]'s node) */
    CORRAL_ROUTE_ENTITY = 1,      /* the actor named by params[0] ("t3@alpha") */
    CORRAL_ROUTE_GATEWAY = 2      /* answered by the gateway itself (multicall) */
} corral_route_t;

typedef struct corral_method {
    const char *name;
    int role;                 /* least role that may call it */
    corral_route_t route;
    const char *signatures;   /* "result param param|result param" in XML-RPC type names */
    const char *help;
} corral_method_t;

/* The method called name[0..n), or NULL. */
const corral_method_t *corral_method_find(const char *name, size_t n);

/* The whole table, *count entries, sorted by name. */
const corral_method_t *corral_methods(size_t *count);

#endif
