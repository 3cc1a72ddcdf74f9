/* bench/vm_read_floor.c — the readMemory floor: copying the fixture's 1 MiB
   buffer out with process_vm_readv in a loop, which is what corral's
   target.readMemory does at its core, without HTTP, base64 or routing.

   It starts the fixture in "hold" mode itself, reads "buf=0xADDR len=N" from
   its stdout, copies for SECONDS, kills it, and prints:
     vm_read_floor bytes=N reads_per_s=R mib_per_s=M

   Usage: vm_read_floor [-d SECONDS] FIXTURE  */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double secs = 2.0;
    int opt;
    while ((opt = getopt(argc, argv, "d:")) != -1) {
        if (opt == 'd')
            secs = atof(optarg);
        else
            return 2;
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: vm_read_floor [-d SECONDS] FIXTURE\n");
        return 2;
    }

    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(argv[optind], argv[optind], "hold", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    unsigned long addr = 0;
    size_t len = 0;
    if (!in || fscanf(in, "buf=%lx len=%zu", &addr, &len) != 2 || len == 0) {
        fprintf(stderr, "vm_read_floor: fixture did not report its buffer\n");
        kill(pid, SIGKILL);
        return 1;
    }

    char *buf = malloc(len);
    if (!buf)
        return 1;
    struct iovec local = { buf, len }, remote = { (void *)addr, len };
    long n = 0;
    double t0 = now_s(), t = t0;
    while (t - t0 < secs) {
        for (int i = 0; i < 16; i++, n++) {
            if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)len) {
                perror("vm_read_floor: process_vm_readv");
                kill(pid, SIGKILL);
                return 1;
            }
        }
        t = now_s();
    }
    /* check the copy is the fixture's pattern, so we timed real data */
    if ((unsigned char)buf[1] != (unsigned char)(131 + 7)) {
        fprintf(stderr, "vm_read_floor: unexpected buffer contents\n");
        return 1;
    }
    printf("vm_read_floor bytes=%zu reads_per_s=%.1f mib_per_s=%.1f\n",
           len, n / (t - t0), n * (double)len / (1 << 20) / (t - t0));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    free(buf);
    return 0;
}
