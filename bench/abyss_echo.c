/* bench/abyss_echo.c — the xmlrpc-c peer: an Abyss XML-RPC server with one
   method, server.echo(value) -> value, as corral's is (without the routing).

   It listens on 127.0.0.1:PORT (0 picks a free one) and prints
   "listening on http://127.0.0.1:PORT/RPC2" as corrald does, so bench/run
   starts both the same way. Abyss runs one thread per connection; it is tuned
   to do its best on the benchmark rather than left at defaults that would
   cripple it (15 connections, a close every 30 requests).
   system.multicall and system.listMethods come with xmlrpc-c's registry.

   Usage: abyss_echo [PORT]  */
#define _GNU_SOURCE
#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>
#include <xmlrpc-c/server_abyss.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static void die_env(const char *what, xmlrpc_env *env)
{
    fprintf(stderr, "abyss_echo: %s: %s\n", what, env->fault_string);
    exit(1);
}

/* server.echo: return the first parameter unchanged (a new reference). */
static xmlrpc_value *echo(xmlrpc_env *env, xmlrpc_value *params,
                          void *server_info, void *call_info)
{
    (void)server_info;
    (void)call_info;
    xmlrpc_value *v = NULL;
    if (xmlrpc_array_size(env, params) < 1) {
        xmlrpc_env_set_fault(env, -32602, "server.echo takes one value");
        return NULL;
    }
    xmlrpc_array_read_item(env, params, 0, &v);
    return env->fault_occurred ? NULL : v;
}

int main(int argc, char **argv)
{
    unsigned port = argc > 1 ? (unsigned)atoi(argv[1]) : 0;

    /* Bind the socket ourselves: only then can we insist on loopback and
       learn the port the kernel picked. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Abyss writes a response in nine send()s (one per header line); with
       Nagle on, the later ones wait for the client's delayed ACK and
       latency jumps to tens of ms. Linux hands TCP_NODELAY on from the
       listening socket to every accepted one, so set it here. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(fd, 1024) != 0 || getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        perror("abyss_echo: bind 127.0.0.1");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);   /* a client gone mid-reply is not our death */

    xmlrpc_env env;
    xmlrpc_env_init(&env);
    xmlrpc_server_abyss_global_init(&env);
    if (env.fault_occurred)
        die_env("global init", &env);
    xmlrpc_registry *reg = xmlrpc_registry_new(&env);
    if (env.fault_occurred)
        die_env("registry", &env);
    struct xmlrpc_method_info3 m = {
        .methodName = "server.echo",
        .methodFunction = echo,
        .signatureString = "?",
        .help = "Return the value given.",
    };
    xmlrpc_registry_add_method3(&env, reg, &m);
    if (env.fault_occurred)
        die_env("add method", &env);

    xmlrpc_server_abyss_parms p = {
        .registryP = reg,
        .keepalive_timeout = 60,
        .keepalive_max_conn = 1000000000,   /* requests per connection */
        .timeout = 60,
        .socket_bound = 1,
        .socket_handle = fd,
        .uri_path = "/RPC2",
        .max_conn = 256,                    /* threads, one per connection */
        .max_conn_backlog = 1024,
    };
    xmlrpc_server_abyss_t *srv;
    xmlrpc_server_abyss_create(&env, &p, XMLRPC_APSIZE(max_conn_backlog), &srv);
    if (env.fault_occurred)
        die_env("create", &env);

    printf("listening on http://127.0.0.1:%u/RPC2\n", ntohs(sa.sin_port));
    fflush(stdout);
    xmlrpc_server_abyss_run_server(&env, srv);
    if (env.fault_occurred)
        die_env("run", &env);
    xmlrpc_server_abyss_destroy(srv);
    xmlrpc_registry_free(reg);
    xmlrpc_server_abyss_global_term();
    return 0;
}
