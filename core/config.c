/* corral — configuration: defaults and the command line. Every limit is a
   field of corral_config_t with its default here and an option of its own,
   described in one table so the parser, the usage text and the README agree. */
#include "corral/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "corral/log.h"

#ifndef CORRAL_SOURCE_DIR
#define CORRAL_SOURCE_DIR "."
#endif

void corral_config_defaults(corral_config_t *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 8750;
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    host[strcspn(host, ".")] = '\0';
    snprintf(c->node, sizeof c->node, "%.47s", host);
    const char *home = getenv("HOME");
    if (geteuid() == 0 || !home) snprintf(c->state_dir, sizeof c->state_dir, "/var/lib/corral");
    else snprintf(c->state_dir, sizeof c->state_dir, "%s/.corral", home);
    snprintf(c->analysis_dirs[0], sizeof c->analysis_dirs[0], "%s/analyses", CORRAL_SOURCE_DIR);
    c->n_analysis_dirs = 1;
    snprintf(c->run_as, sizeof c->run_as, "%s", geteuid() == 0 ? "nobody" : "");
    c->log_level = CORRAL_LOG_INFO;

    c->max_body = 16u << 20;
    c->max_header = 16u << 10;
    c->max_depth = 64;
    c->io_timeout_ms = 10000;
    c->idle_timeout_ms = 60000;
    c->max_connections = 10000;
    c->max_pipeline = 64;
    c->max_output_queue = 64u << 20;

    c->call_timeout_ms = 30000;
    c->wait_slack_ms = 5000;
    c->max_wait_ms = 600000;
    c->max_inflight = 100000;
    c->max_multicall = 10000;

    c->sndhwm = 10000;
    c->heartbeat_ms = 1000;
    c->heartbeat_dead_ms = 3000;
    c->max_targets = 4096;
    c->max_analyses = 1024;

    c->output_buffer = 1u << 20;
    c->input_buffer = 1u << 20;
    c->event_log = 1024;
    c->max_read = 64u << 20;
}

typedef enum { OPT_STR, OPT_INT, OPT_SIZE, OPT_LEVEL, OPT_LISTEN, OPT_ADIR, OPT_UNBUILT } opt_type_t;

typedef struct {
    const char *name;
    opt_type_t type;
    size_t offset;
    size_t size;   /* of a string field */
    long long min, max;
} option_t;

#define F(field) offsetof(corral_config_t, field), sizeof(((corral_config_t *)0)->field)

static const option_t options[] = {
    {"--listen", OPT_LISTEN, 0, 0, 0, 0},
    {"--node", OPT_STR, F(node), 0, 0},
    {"--state-dir", OPT_STR, F(state_dir), 0, 0},
    {"--analysis-dir", OPT_ADIR, 0, 0, 0, 0},
    {"--users", OPT_STR, F(users_file), 0, 0},
    {"--run-as", OPT_STR, F(run_as), 0, 0},
    {"--log-level", OPT_LEVEL, F(log_level), 0, 3},
    {"--tls-cert", OPT_STR, F(tls_cert), 0, 0},
    {"--tls-key", OPT_STR, F(tls_key), 0, 0},
    {"--tls-client-ca", OPT_STR, F(tls_client_ca), 0, 0},
    {"--tls-ca", OPT_STR, F(tls_ca), 0, 0},
    {"--peer-listen", OPT_UNBUILT, 0, 0, 0, 0},
    {"--join", OPT_UNBUILT, 0, 0, 0, 0},
    {"--max-body", OPT_SIZE, F(max_body), 1024, 1LL << 32},
    {"--max-header", OPT_SIZE, F(max_header), 512, 1 << 24},
    {"--max-depth", OPT_INT, F(max_depth), 1, 1024},
    {"--io-timeout-ms", OPT_INT, F(io_timeout_ms), 10, 3600000},
    {"--idle-timeout-ms", OPT_INT, F(idle_timeout_ms), 10, 86400000},
    {"--max-connections", OPT_INT, F(max_connections), 1, 1000000},
    {"--max-pipeline", OPT_INT, F(max_pipeline), 1, 100000},
    {"--max-output-queue", OPT_SIZE, F(max_output_queue), 4096, 1LL << 34},
    {"--call-timeout-ms", OPT_INT, F(call_timeout_ms), 10, 3600000},
    {"--wait-slack-ms", OPT_INT, F(wait_slack_ms), 0, 600000},
    {"--max-wait-ms", OPT_INT, F(max_wait_ms), 0, 86400000},
    {"--max-inflight", OPT_INT, F(max_inflight), 1, 10000000},
    {"--max-multicall", OPT_INT, F(max_multicall), 1, 1000000},
    {"--sndhwm", OPT_INT, F(sndhwm), 1, 10000000},
    {"--heartbeat-ms", OPT_INT, F(heartbeat_ms), 10, 60000},
    {"--heartbeat-dead-ms", OPT_INT, F(heartbeat_dead_ms), 30, 600000},
    {"--max-targets", OPT_INT, F(max_targets), 0, 1000000},
    {"--max-analyses", OPT_INT, F(max_analyses), 0, 1000000},
    {"--output-buffer", OPT_SIZE, F(output_buffer), 4096, 1LL << 32},
    {"--input-buffer", OPT_SIZE, F(input_buffer), 4096, 1LL << 32},
    {"--event-log", OPT_INT, F(event_log), 16, 1000000},
    {"--max-read", OPT_SIZE, F(max_read), 4096, 1LL << 32},
};

#undef F

const char *corral_config_usage(void) {
    return "usage: corrald [--listen HOST:PORT] [--node NAME] [--state-dir DIR] "
           "[--analysis-dir DIR]... [--users FILE] [--run-as USER] [--tls-cert FILE --tls-key FILE "
           "[--tls-client-ca FILE] [--tls-ca FILE]] [--log-level 0-3|error|warn|info|debug] "
           "[--max-body BYTES] [--max-header BYTES] [--max-depth N] [--io-timeout-ms MS] "
           "[--call-timeout-ms MS] [--LIMIT VALUE ...]\n"
           "       corrald user-add --users FILE NAME ROLE";
}

static int parse_number(const char *s, long long min, long long max, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static int parse_listen(corral_config_t *c, const char *v, char *err, size_t errlen) {
    const char *colon = strrchr(v, ':');
    long long port;
    if (!colon || colon == v || (size_t)(colon - v) >= sizeof c->listen_host ||
        parse_number(colon + 1, 0, 65535, &port) < 0) {
        snprintf(err, errlen, "--listen wants HOST:PORT, not '%s'", v);
        return -1;
    }
    memcpy(c->listen_host, v, (size_t)(colon - v));
    c->listen_host[colon - v] = '\0';
    c->listen_port = (int)port;
    return 0;
}

static int parse_level(const char *v, long long *out) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0) { *out = i; return 0; }
    return parse_number(v, 0, 3, out);
}

static int apply(corral_config_t *c, const option_t *o, const char *v, bool *adir_given,
                 char *err, size_t errlen) {
    char *base = (char *)c;
    long long n;
    switch (o->type) {
    case OPT_LISTEN:
        return parse_listen(c, v, err, errlen);
    case OPT_STR:
        if (strlen(v) >= o->size) break;
        snprintf(base + o->offset, o->size, "%s", v);
        return 0;
    case OPT_ADIR:
        if (!*adir_given) c->n_analysis_dirs = 0;
        *adir_given = true;
        if (c->n_analysis_dirs == CORRAL_ANALYSIS_DIRS_MAX || strlen(v) >= CORRAL_PATH_MAX) break;
        snprintf(c->analysis_dirs[c->n_analysis_dirs++], CORRAL_PATH_MAX, "%s", v);
        return 0;
    case OPT_LEVEL:
        if (parse_level(v, &n) < 0) break;
        c->log_level = (int)n;
        return 0;
    case OPT_INT:
        if (parse_number(v, o->min, o->max, &n) < 0) break;
        *(int *)(base + o->offset) = (int)n;
        return 0;
    case OPT_SIZE:
        if (parse_number(v, o->min, o->max, &n) < 0) break;
        *(size_t *)(base + o->offset) = (size_t)n;
        return 0;
    case OPT_UNBUILT:
        snprintf(err, errlen, "%s: not built in this version of corrald (multi-node is not "
                 "available yet)", o->name);
        return -1;
    }
    if (o->type == OPT_INT || o->type == OPT_SIZE)
        snprintf(err, errlen, "%s wants a whole number from %lld to %lld, not '%s'", o->name, o->min,
                 o->max, v);
    else
        snprintf(err, errlen, "%s: bad or too long value '%s'", o->name, v);
    return -1;
}

int corral_config_parse(corral_config_t *c, int argc, char **argv, char *err, size_t errlen) {
    bool adir_given = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        char name[64];
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        if (nlen >= sizeof name) nlen = sizeof name - 1;
        memcpy(name, arg, nlen);
        name[nlen] = '\0';
        const option_t *o = NULL;
        for (size_t k = 0; k < sizeof options / sizeof options[0]; k++)
            if (strcmp(options[k].name, name) == 0) o = &options[k];
        if (!o) {
            snprintf(err, errlen, "unknown option '%s'", arg);
            return -1;
        }
        if (eq) val = eq + 1;
        else if (i + 1 < argc) val = argv[++i];
        else {
            snprintf(err, errlen, "%s needs a value", name);
            return -1;
        }
        if (apply(c, o, val, &adir_given, err, errlen) < 0) return -1;
    }
    if (!c->tls_cert[0] != !c->tls_key[0] || (c->tls_client_ca[0] && !c->tls_cert[0])) {
        snprintf(err, errlen, "--tls-cert and --tls-key go together (and --tls-client-ca needs both)");
        return -1;
    }
    if (c->node[0] == '\0' || strpbrk(c->node, "@/ \t")) {
        snprintf(err, errlen, "--node: '%s' is not a valid node name", c->node);
        return -1;
    }
    return 0;
}
