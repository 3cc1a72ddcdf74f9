/* corrald — the corral server: broker, reaper, supervisor and gateway in
   one process (API.md §6). Exit status: 0 after a clean stop, 1 when it
   cannot start (a port in use, a bad users file), 2 for bad options. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include "corral/auth.h"
#include "corral/broker.h"
#include "corral/config.h"
#include "corral/gateway.h"
#include "corral/log.h"
#include "corral/reaper.h"
#include "corral/supervisor.h"
#include "corral/target.h"
#include "corral/xmlrpc.h"

#define SHUTDOWN_TARGETS_MS 3000   /* targets get this long to kill and reap their programs */

static int user_add(int argc, char **argv) {
    const char *users = NULL, *name = NULL, *role = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--users") == 0 && i + 1 < argc) users = argv[++i];
        else if (!name) name = argv[i];
        else if (!role) role = argv[i];
        else users = NULL, i = argc; /* too many words */
    }
    if (!users || !name || !role) {
        fprintf(stderr, "usage: corrald user-add --users FILE NAME ROLE (ROLE: viewer, operator, admin)\n");
        return 2;
    }
    char token[80], err[512];
    if (corral_users_file_add(users, name, role, token, sizeof token, err, sizeof err) < 0) {
        fprintf(stderr, "corrald user-add: %s\n", err);
        return 1;
    }
    printf("user %s (%s) added to %s; its token:\n%s\n", name, role, users, token);
    return 0;
}

/* mkdir -p with mode 0700 for the directories it makes. */
static int make_dirs(const char *path) {
    char tmp[CORRAL_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

/* Every thread inherits this mask: SIGCHLD is the reaper's (signalfd), the
   stop signals are main's (sigwait), so no thread is interrupted by them. */
static void block_signals(sigset_t *stop) {
    sigset_t all;
    sigemptyset(&all);
    sigaddset(&all, SIGCHLD);
    sigaddset(&all, SIGTERM);
    sigaddset(&all, SIGINT);
    sigaddset(&all, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(stop);
    sigaddset(stop, SIGTERM);
    sigaddset(stop, SIGINT);
    sigaddset(stop, SIGHUP);
}

static void wait_for_stop(const sigset_t *stop, corral_gateway_t *gateway) {
    for (;;) {
        int sig = sigwaitinfo(stop, NULL);
        if (sig == SIGTERM || sig == SIGINT) {
            LOG_INFO("corrald", "%s: stopping", strsignal(sig));
            return;
        }
        if (sig == SIGHUP && corral_gateway_tls(gateway)) corral_gateway_reload(gateway);
        else if (sig == SIGHUP) LOG_INFO("corrald", "SIGHUP: nothing to reload (serving plain HTTP)");
    }
}

static void wait_for_targets(void) {
    int64_t until = corral_mono_ms() + SHUTDOWN_TARGETS_MS;
    while (corral_target_threads() > 0 && corral_mono_ms() < until) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (corral_target_threads() > 0)
        LOG_WARN("corrald", "%d target threads did not end in time", corral_target_threads());
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "user-add") == 0) return user_add(argc, argv);
    static corral_config_t cfg;
    char err[1024];
    corral_config_defaults(&cfg);
    if (corral_config_parse(&cfg, argc, argv, err, sizeof err) < 0) {
        fprintf(stderr, "corrald: %s\n%s\n", err, corral_config_usage());
        return 2;
    }
    corral_log_set_level(cfg.log_level);
    /* 0711: others may pass through to their own run directories (an
       analysis runs as --run-as in STATE/runs/<id>/work) but not list or
       read anything; secrets inside are 0600 files and a 0700 ipc dir. */
    if (make_dirs(cfg.state_dir) < 0 || chmod(cfg.state_dir, 0711) < 0) {
        fprintf(stderr, "corrald: state directory %s: %s\n", cfg.state_dir, strerror(errno));
        return 1;
    }
    sigset_t stop;
    block_signals(&stop);
    corral_xmlrpc_init();
    corral_users_t *users = corral_users_load(cfg.users_file, cfg.state_dir, err, sizeof err);
    if (!users) {
        fprintf(stderr, "corrald: %s\n", err);
        return 1;
    }
    void *zctx = zmq_ctx_new();
    zmq_ctx_set(zctx, ZMQ_MAX_SOCKETS, cfg.max_targets + 256);
    int in_use = 0, status = 1;
    corral_broker_t *broker = corral_broker_new(zctx, &cfg, err, sizeof err);
    corral_gateway_t *gateway = broker ? corral_gateway_new(zctx, &cfg, users, broker, err, sizeof err, &in_use) : NULL;
    corral_supervisor_t *sup = NULL;
    if (!gateway) {
        fprintf(stderr, "corrald: %s\n", err);
        goto out;
    }
    /* With --listen HOST:0 the port is known only now; analyses are told
       it (CORRAL_URL), so the config carries the bound one from here on. */
    cfg.listen_port = corral_gateway_port(gateway);
    if (corral_reaper_start(zctx, &cfg) < 0 ||
        !(sup = corral_supervisor_new(zctx, &cfg)) || corral_supervisor_start(sup) < 0 ||
        corral_gateway_start(gateway) < 0) {
        fprintf(stderr, "corrald: cannot start its threads: %s\n", strerror(errno));
        goto out;
    }
    printf("corral %s: node %s listening on %s://%s:%d/RPC2\n", CORRAL_VERSION, cfg.node,
           corral_gateway_tls(gateway) ? "https" : "http", cfg.listen_host, corral_gateway_port(gateway));
    if (!cfg.users_file[0]) printf("corral: admin token in %s/admin.token\n", cfg.state_dir);
    fflush(stdout);
    LOG_INFO("corrald", "node %s serving on %s:%d, state in %s", cfg.node, cfg.listen_host,
             corral_gateway_port(gateway), cfg.state_dir);
    wait_for_stop(&stop, gateway);
    status = 0;
out:
    /* Order: no new calls, then analyses end (they need the broker, which
       the gateway's loop still services), then the context shuts down and
       every target thread kills and reaps its program (they need the
       reaper), then the rest. */
    if (gateway) corral_gateway_quiesce(gateway);
    corral_supervisor_destroy(&sup);
    zmq_ctx_shutdown(zctx);
    wait_for_targets();
    corral_reaper_stop();
    corral_gateway_destroy(&gateway);
    corral_broker_destroy(&broker);
    zmq_ctx_term(zctx);
    corral_users_destroy(&users);
    LOG_INFO("corrald", "stopped");
    return status;
}
