/* corral — the server's configuration: every limit, bound and timeout in
   one struct, each with its default beside it (see config.c). Parts read
   limits by name from here; there are no magic numbers elsewhere. */
#ifndef CORRAL_CONFIG_H
#define CORRAL_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define CORRAL_VERSION "0.1.0"
#define CORRAL_PATH_MAX 4096
#define CORRAL_ADDR_MAX 64      /* longest actor address, "t123@node" */
#define CORRAL_NAME_MAX 48      /* longest node or user name */
#define CORRAL_ANALYSIS_DIRS_MAX 8

typedef struct corral_config {
    /* where and who */
    char listen_host[256];          /* "127.0.0.1" */
    int  listen_port;               /* 8750; 0 picks a free one */
    char node[CORRAL_NAME_MAX];     /* short host name */
    char state_dir[CORRAL_PATH_MAX];/* "/var/lib/corral" as root, else ~/.corral */
    char users_file[CORRAL_PATH_MAX];   /* "" → STATE/admin.token */
    char analysis_dirs[CORRAL_ANALYSIS_DIRS_MAX][CORRAL_PATH_MAX];
    int  n_analysis_dirs;
    char run_as[CORRAL_NAME_MAX];   /* "nobody" when root */
    char tls_cert[CORRAL_PATH_MAX], tls_key[CORRAL_PATH_MAX], tls_client_ca[CORRAL_PATH_MAX];
    char tls_ca[CORRAL_PATH_MAX];   /* the CA analyses trust for CORRAL_URL ["" → tls_cert] */
    int  log_level;                 /* 0 error, 1 warn, 2 info, 3 debug [2] */

    /* HTTP limits (API.md §1) */
    size_t max_body;                /* 16 MiB → 413 */
    size_t max_header;              /* 16 KiB → 431 */
    int    max_depth;               /* 64 levels of array/struct → -32602 */
    int    io_timeout_ms;           /* 10 s to complete header or body → 408 */
    int    idle_timeout_ms;         /* 60 s an idle keep-alive connection is kept */
    int    max_connections;         /* 10000; past it new connections are refused with 503 */
    int    max_pipeline;            /* 64 requests in flight per connection; reading pauses past it */
    size_t max_output_queue;        /* 64 MiB of unsent response per connection; reading pauses past it */

    /* calls */
    int    call_timeout_ms;         /* 30 s deadline of a call to an actor → fault 4 */
    int    wait_slack_ms;           /* 5 s added to a *.wait timeout for its deadline */
    int    max_wait_ms;             /* 600 s: longest timeoutMs a wait may ask */
    int    max_inflight;            /* 100000 calls in flight in the gateway → fault 9 */
    int    max_multicall;           /* 10000 sub-calls in one system.multicall */

    /* broker and actors */
    int    sndhwm;                  /* 10000 messages queued per socket → fault 9 */
    int    heartbeat_ms;            /* 1 s between heartbeats of process actors */
    int    heartbeat_dead_ms;       /* 3 s of silence: the actor is gone → fault 5 */
    int    max_targets;             /* 4096 live targets per node → fault 9 */
    int    max_analyses;            /* 1024 live analyses per node → fault 9 */

    /* targets */
    size_t output_buffer;           /* 1 MiB kept of each of stdout and stderr */
    size_t input_buffer;            /* 1 MiB of stdin not yet taken by the program */
    int    event_log;               /* 1024 events kept per target */
    size_t max_read;                /* 64 MiB largest readMemory / readOutput */
} corral_config_t;

/* Fill *cfg with the defaults. */
void corral_config_defaults(corral_config_t *cfg);

/* Parse the command line into *cfg. Returns 0, or -1 with a sentence in err
   (the caller prints the usage line and exits 2). */
int corral_config_parse(corral_config_t *cfg, int argc, char **argv,
                        char *err, size_t errlen);

/* The usage line printed on bad options. */
const char *corral_config_usage(void);

#endif
