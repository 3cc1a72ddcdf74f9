/* corral — the reaper: the one thread of corrald that waits for children.

   Why: waitpid(-1, ...) in any thread of a process collects the wait
   statuses of the children *and ptrace tracees* of every thread in it, so
   if target threads (or the supervisor) waited themselves, one would steal
   another's statuses. Instead corrald blocks SIGCHLD in every thread before
   any thread starts, and the reaper alone waits: it sleeps on a signalfd for
   SIGCHLD, then loops waitpid(-1, &st, __WALL | WNOHANG) until nothing is
   left, and puts each (pid, status) into the mailbox of the owner actor
   registered for that pid. A mailbox is a locked queue plus an eventfd that
   the owner polls beside its DEALER socket, so a ptrace stop reaches its
   tracer without a broker hop (a few microseconds).

   A status for a pid nobody registered is resolved through
   /proc/<pid>/status: a new thread of a watched process (Tgid), or a new
   tracee auto-attached by PTRACE_O_TRACEFORK/CLONE (TracerPid is the tid of
   a registered tracer thread); the pid is then registered to that owner.
   What still cannot be placed (a clone that already died) is held, bounded,
   for a while, and handed over when its pid is registered. Nothing is lost
   and nobody busy-polls (a 1 s safety timeout covers a SIGCHLD that a thread
   without the mask might have swallowed). */
#ifndef CORRAL_REAPER_H
#define CORRAL_REAPER_H

#include <stdbool.h>
#include <sys/types.h>
#include "corral/config.h"

typedef struct corral_reaper_box corral_reaper_box_t;

/* Start the reaper thread (once, from corrald's main, after SIGCHLD is
   blocked). zctx is unused today (statuses travel through mailboxes) and
   kept for delivery to remote owners later. 0, or -1 with errno. */
int corral_reaper_start(void *zctx, const corral_config_t *cfg);

/* Stop and join the reaper thread; boxes stay valid until destroyed. */
void corral_reaper_stop(void);

/* Open the mailbox of owner_address; tracer is the tid of the thread that
   will ptrace for it (0 if none), used to place auto-attached tracees.
   Works whether or not the reaper runs yet. NULL with errno on failure. */
corral_reaper_box_t *corral_reaper_box_new(const char *owner_address, pid_t tracer);

/* The eventfd that is readable while statuses are queued (poll it). */
int corral_reaper_box_fd(corral_reaper_box_t *box);

/* Take the oldest queued status: 1 and *pid, *status; 0 when empty. */
int corral_reaper_box_take(corral_reaper_box_t *box, pid_t *pid, int *status);

/* Forget every pid of the box and free it; sets *box to NULL. */
void corral_reaper_box_destroy(corral_reaper_box_t **box);

/* Deliver statuses of pid (a process or a thread id) to the box of
   owner_address; statuses held for pid are delivered now. 0, or -1 with
   errno ENOENT when no such box exists. */
int corral_reaper_watch(pid_t pid, const char *owner_address);

/* Stop delivering statuses of pid (they are then held, then dropped). */
void corral_reaper_forget(pid_t pid);

#endif
