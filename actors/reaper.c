/* corral — the reaper thread: the only waiter for children and tracees
   (see include/corral/reaper.h for why). */
#include "corral/reaper.h"
#include "corral/log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUCKETS 1024
#define HELD_MAX 256          /* statuses nobody claimed yet */
#define HELD_TTL_MS 30000     /* then they are dropped with a log line */
#define SAFETY_POLL_MS 1000   /* covers a SIGCHLD swallowed by an unmasked thread */

typedef struct item { pid_t pid; int status; } item_t;

struct corral_reaper_box {
    char owner[64];
    pid_t tracer;
    int efd;
    item_t *q;                /* ring of queued statuses */
    size_t cap, head, len;
    struct corral_reaper_box *next;
};

typedef struct watch {
    pid_t pid;
    corral_reaper_box_t *box;
    struct watch *next;
} watch_t;

typedef struct held { pid_t pid; int status; int64_t at; } held_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static corral_reaper_box_t *boxes;
static watch_t *table[BUCKETS];
static held_t held[HELD_MAX];
static int nheld;
static pthread_t thread;
static bool running;
static int stop_fd = -1;

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static watch_t **slot(pid_t pid) {
    watch_t **w = &table[(unsigned)pid % BUCKETS];
    while (*w && (*w)->pid != pid) w = &(*w)->next;
    return w;
}

/* Queue a status in box (lock held). The queue only grows with the number
   of tasks that can report, since a stopped tracee reports nothing more
   until its tracer restarts it. */
static void push(corral_reaper_box_t *box, pid_t pid, int status) {
    if (box->len == box->cap) {
        size_t ncap = box->cap ? box->cap * 2 : 64;
        item_t *nq = malloc(ncap * sizeof *nq);
        if (!nq) {
            LOG_ERROR("reaper", "out of memory: status %#x of pid %d for %s lost",
                      status, (int)pid, box->owner);
            return;
        }
        for (size_t i = 0; i < box->len; i++) nq[i] = box->q[(box->head + i) % box->cap];
        free(box->q);
        box->q = nq;
        box->cap = ncap;
        box->head = 0;
    }
    box->q[(box->head + box->len++) % box->cap] = (item_t){pid, status};
    uint64_t one = 1;
    if (write(box->efd, &one, sizeof one) < 0 && errno != EAGAIN)
        LOG_ERROR("reaper", "eventfd of %s: %s", box->owner, strerror(errno));
}

static corral_reaper_box_t *find_box(const char *owner) {
    for (corral_reaper_box_t *b = boxes; b; b = b->next)
        if (strcmp(b->owner, owner) == 0) return b;
    return NULL;
}

static int add_watch(pid_t pid, corral_reaper_box_t *box) {
    watch_t **w = slot(pid);
    if (*w) {
        (*w)->box = box;
        return 0;
    }
    watch_t *n = calloc(1, sizeof *n);
    if (!n) return -1;
    n->pid = pid;
    n->box = box;
    *w = n;
    return 0;
}

/* Tgid and TracerPid of a task from /proc (0 when unknown or gone). */
static void proc_ids(pid_t pid, pid_t *tgid, pid_t *tracer) {
    char path[64], line[256];
    *tgid = *tracer = 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Tgid:", 5) == 0) *tgid = (pid_t)atoi(line + 5);
        else if (strncmp(line, "TracerPid:", 10) == 0) *tracer = (pid_t)atoi(line + 10);
    }
    fclose(f);
}

/* The owner of an unregistered pid: its thread group's, or its tracer's. */
static corral_reaper_box_t *resolve(pid_t pid) {
    pid_t tgid, tracer;
    proc_ids(pid, &tgid, &tracer);
    watch_t *w = tgid > 0 ? *slot(tgid) : NULL;
    corral_reaper_box_t *box = w ? w->box : NULL;
    for (corral_reaper_box_t *b = boxes; !box && tracer > 0 && b; b = b->next)
        if (b->tracer == tracer) box = b;
    if (box) add_watch(pid, box);
    return box;
}

static void hold(pid_t pid, int status) {
    int64_t now = mono_ms();
    int j = 0;
    for (int i = 0; i < nheld; i++) {
        if (now - held[i].at < HELD_TTL_MS) held[j++] = held[i];
        else LOG_WARN("reaper", "dropped status %#x of unclaimed pid %d",
                      held[i].status, (int)held[i].pid);
    }
    nheld = j;
    if (nheld == HELD_MAX) {
        LOG_WARN("reaper", "dropped status %#x of unclaimed pid %d", held[0].status,
                 (int)held[0].pid);
        memmove(held, held + 1, (HELD_MAX - 1) * sizeof *held);
        nheld--;
    }
    held[nheld++] = (held_t){pid, status, now};
}

static void deliver(pid_t pid, int status) {
    pthread_mutex_lock(&lock);
    watch_t *w = *slot(pid);
    corral_reaper_box_t *box = w ? w->box : resolve(pid);
    if (box) push(box, pid, status);
    else hold(pid, status);
    pthread_mutex_unlock(&lock);
}

static void reap_all(void) {
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, __WALL | WNOHANG);
        if (pid <= 0) {
            if (pid < 0 && errno == EINTR) continue;
            return;    /* 0: nothing more now; ECHILD: no children at all */
        }
        deliver(pid, st);
    }
}

static void *reaper_main(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "reaper");
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) LOG_ERROR("reaper", "signalfd: %s; polling every %d ms", strerror(errno),
                           SAFETY_POLL_MS);
    struct pollfd pf[2] = {{.fd = stop_fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    for (;;) {
        int n = poll(pf, sfd >= 0 ? 2 : 1, SAFETY_POLL_MS);
        if (n < 0 && errno != EINTR) {
            LOG_ERROR("reaper", "poll: %s", strerror(errno));
            break;
        }
        if (pf[0].revents) break;
        if (sfd >= 0 && pf[1].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {}
        }
        reap_all();
    }
    if (sfd >= 0) close(sfd);
    return NULL;
}

int corral_reaper_start(void *zctx, const corral_config_t *cfg) {
    (void)zctx;
    (void)cfg;
    pthread_mutex_lock(&lock);
    int rc = 0;
    if (!running) {
        stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (stop_fd < 0) rc = -1;
        else if ((errno = pthread_create(&thread, NULL, reaper_main, NULL)) != 0) {
            close(stop_fd);
            stop_fd = -1;
            rc = -1;
        } else running = true;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

void corral_reaper_stop(void) {
    pthread_mutex_lock(&lock);
    bool was = running;
    running = false;
    pthread_mutex_unlock(&lock);
    if (!was) return;
    uint64_t one = 1;
    if (write(stop_fd, &one, sizeof one) < 0) LOG_ERROR("reaper", "stop: %s", strerror(errno));
    pthread_join(thread, NULL);
    close(stop_fd);
    stop_fd = -1;
}

corral_reaper_box_t *corral_reaper_box_new(const char *owner_address, pid_t tracer) {
    corral_reaper_box_t *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    snprintf(b->owner, sizeof b->owner, "%s", owner_address);
    b->tracer = tracer;
    b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b->efd < 0) {
        free(b);
        return NULL;
    }
    pthread_mutex_lock(&lock);
    b->next = boxes;
    boxes = b;
    pthread_mutex_unlock(&lock);
    return b;
}

int corral_reaper_box_fd(corral_reaper_box_t *box) { return box->efd; }

int corral_reaper_box_take(corral_reaper_box_t *box, pid_t *pid, int *status) {
    int got = 0;
    pthread_mutex_lock(&lock);
    if (box->len > 0) {
        item_t it = box->q[box->head];
        box->head = (box->head + 1) % box->cap;
        box->len--;
        *pid = it.pid;
        *status = it.status;
        got = 1;
    }
    if (box->len == 0) {
        /* Reset the eventfd under the lock, so that a push after this
           point makes it readable again. */
        uint64_t v;
        if (read(box->efd, &v, sizeof v) < 0 && errno != EAGAIN)
            LOG_ERROR("reaper", "eventfd of %s: %s", box->owner, strerror(errno));
    }
    pthread_mutex_unlock(&lock);
    return got;
}

void corral_reaper_box_destroy(corral_reaper_box_t **boxp) {
    corral_reaper_box_t *box = *boxp;
    if (!box) return;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < BUCKETS; i++) {
        for (watch_t **w = &table[i]; *w;) {
            if ((*w)->box == box) {
                watch_t *dead = *w;
                *w = dead->next;
                free(dead);
            } else w = &(*w)->next;
        }
    }
    for (corral_reaper_box_t **b = &boxes; *b; b = &(*b)->next)
        if (*b == box) {
            *b = box->next;
            break;
        }
    pthread_mutex_unlock(&lock);
    close(box->efd);
    free(box->q);
    free(box);
    *boxp = NULL;
}

int corral_reaper_watch(pid_t pid, const char *owner_address) {
    pthread_mutex_lock(&lock);
    corral_reaper_box_t *box = find_box(owner_address);
    int rc = -1;
    if (!box) errno = ENOENT;
    else if (add_watch(pid, box) == 0) {
        rc = 0;
        int j = 0;
        for (int i = 0; i < nheld; i++) {
            if (held[i].pid == pid) push(box, pid, held[i].status);
            else held[j++] = held[i];
        }
        nheld = j;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

void corral_reaper_forget(pid_t pid) {
    pthread_mutex_lock(&lock);
    watch_t **w = slot(pid);
    if (*w) {
        watch_t *dead = *w;
        *w = dead->next;
        free(dead);
    }
    pthread_mutex_unlock(&lock);
}
