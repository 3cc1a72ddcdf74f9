/* corral — target actors: one thread per traced program, which *is* its
   ptrace tracer (DESIGN.md). The supervisor allocates the address and hands
   the launch or attach request to a new target thread, which answers it. */
#ifndef CORRAL_TARGET_H
#define CORRAL_TARGET_H

#include "corral/actor.h"
#include "corral/config.h"
#include "corral/value.h"

/* Start the actor thread of target `address` ("t3@alpha") for the request
   msg (target.launch or target.attach). On success the thread owns msg and
   answers it itself (TargetInfo or a fault 6/7); returns 0. On failure (no
   thread could be made) returns -1 with *f, and msg stays the caller's.
   The thread connects to CORRAL_BROKER_INPROC itself; it keeps the
   supervisor up to date with events to "sup@<node>":
     target.state   [TargetInfo]   after every change of state
     target.removed [address]      once, just before the thread ends
   On context shutdown (ETERM) it kills and reaps its program, then ends. */
int corral_target_spawn(void *zctx, const corral_config_t *cfg, const char *address,
                        corral_msg_t *msg, corral_fault_t *f);

/* Number of target threads still running (the supervisor waits for 0 at
   shutdown, bounded by its shutdown timeout). */
int corral_target_threads(void);

#endif
