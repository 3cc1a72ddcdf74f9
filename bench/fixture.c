/* bench/fixture.c — the program that bench/run's launch, readMemory and
   scale rows run, under corral and under the floors alike.

   Without arguments it exits 0 at once (the launch rows time process
   creation, not the program). With "hold" as its argument, or with
   CORRAL_PARAM_MODE=hold in its environment (how an analysis receives its
   parameters), it fills a 1 MiB buffer, prints "buf=0xADDR len=N" on stdout
   and sleeps until killed, so a reader can copy that buffer out. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUF_LEN (1 << 20)

/* Non-zero data: the pages must be real, not the shared zero page. */
unsigned char bench_buf[BUF_LEN];

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : getenv("CORRAL_PARAM_MODE");
    if (!mode || strcmp(mode, "hold") != 0)
        return 0;
    for (size_t i = 0; i < BUF_LEN; i++)
        bench_buf[i] = (unsigned char)(i * 131 + 7);
    printf("buf=%p len=%d\n", (void *)bench_buf, BUF_LEN);
    fflush(stdout);
    for (;;)
        pause();
}
