/* bench/spawn_floor.c — the launch floor: what creating the fixture costs
   without corral, so corral's launch rows are ratios to it.

     spawn   posix_spawn + waitpid: the program runs to its exit
     ptrace  fork, PTRACE_TRACEME, execve, waitpid for the exec stop (the
             state corral's stopAtEntry reaches), then kill and reap (not
             timed); this is the least a debugger's launch can cost

   Output, one line per mode, for bench/run to parse:
     spawn_floor MODE per_s=N us_p50=X us_mean=Y n=COUNT

   Usage: spawn_floor [-d SECONDS] PROGRAM [ARGS...]  */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAXN 200000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double spawn_once(char **argv)
{
    pid_t pid;
    int st;
    double t0 = now_s();
    int rc = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
    if (rc != 0) {
        fprintf(stderr, "spawn_floor: posix_spawn %s: %s\n", argv[0], strerror(rc));
        exit(1);
    }
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) {
        fprintf(stderr, "spawn_floor: %s did not exit normally\n", argv[0]);
        exit(1);
    }
    return now_s() - t0;
}

static double ptrace_once(char **argv)
{
    int st;
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        perror("spawn_floor: fork");
        exit(1);
    }
    if (pid == 0) {
        /* only async-signal-safe calls between fork and exec */
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        execv(argv[0], argv);
        _exit(127);
    }
    /* the exec of a PTRACE_TRACEME child stops it with SIGTRAP */
    if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP) {
        fprintf(stderr, "spawn_floor: %s did not stop at exec\n", argv[0]);
        exit(1);
    }
    double t = now_s() - t0;
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return t;
}

static void run(const char *name, double (*once)(char **), char **argv, double secs,
                double *lat)
{
    int n = 0;
    double total = 0, t0 = now_s();
    once(argv);     /* warm the page cache and the loader */
    while (n < MAXN && now_s() - t0 < secs) {
        lat[n] = once(argv);
        total += lat[n++];
    }
    qsort(lat, n, sizeof *lat, cmp_double);
    printf("spawn_floor %s per_s=%.1f us_p50=%.1f us_mean=%.1f n=%d\n",
           name, n / total, lat[n / 2] * 1e6, total / n * 1e6, n);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    double secs = 2.0;
    int opt;
    while ((opt = getopt(argc, argv, "+d:")) != -1) {
        if (opt == 'd')
            secs = atof(optarg);
        else {
            fprintf(stderr, "usage: spawn_floor [-d SECONDS] PROGRAM [ARGS...]\n");
            return 2;
        }
    }
    if (optind >= argc || secs <= 0) {
        fprintf(stderr, "usage: spawn_floor [-d SECONDS] PROGRAM [ARGS...]\n");
        return 2;
    }
    double *lat = malloc(MAXN * sizeof *lat);
    if (!lat)
        return 1;
    run("spawn", spawn_once, argv + optind, secs, lat);
    run("ptrace", ptrace_once, argv + optind, secs, lat);
    free(lat);
    return 0;
}
