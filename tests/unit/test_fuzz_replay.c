/* Replays every seed (tests/fuzz/corpus/<name>/) and every kept crash
   input (tests/fuzz/regressions/<name>/) through the fuzz targets' bodies
   (tests/fuzz/fuzz_targets.h), without libFuzzer, so the normal suite fails
   again if a crash the fuzzer once found comes back. A violated property
   aborts with the file's name printed just before. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz_targets.h"

typedef int (*fuzz_fn_t)(const uint8_t *, size_t);

static const struct { const char *name; fuzz_fn_t fn; } targets[] = {
    {"http", fuzz_http},         {"xmlrpc", fuzz_xmlrpc},         {"envelope", fuzz_envelope},
    {"logfmt", fuzz_logfmt},     {"descriptor", fuzz_descriptor},
};

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Feed every regular file of dir to fn; returns how many, -1 if dir is
   missing. */
static int replay_dir(const char *dir, fuzz_fn_t fn) {
    struct dirent **names;
    int n = scandir(dir, &names, NULL, by_name);
    if (n < 0) return -1;
    int fed = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        free(names[i]);
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) continue;
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        uint8_t *buf = malloc((size_t)st.st_size + 1);
        size_t len = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
        fclose(f);
        if (!buf) abort();
        fprintf(stderr, "replay %s (%zu bytes)\n", path, len);
        fn(buf, len);
        free(buf);
        fed++;
    }
    free(names);
    return fed;
}

int main(void) {
    int failures = 0;
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", CORRAL_SOURCE_DIR, targets[t].name);
        int seeds = replay_dir(dir, targets[t].fn);
        snprintf(dir, sizeof dir, "%s/tests/fuzz/regressions/%s", CORRAL_SOURCE_DIR, targets[t].name);
        int regs = replay_dir(dir, targets[t].fn);
        printf("%-10s %d seeds, %d regression inputs\n", targets[t].name, seeds, regs < 0 ? 0 : regs);
        /* a missing corpus would make this test pass without testing anything */
        if (seeds <= 0) {
            fprintf(stderr, "no seed corpus for %s in %s/tests/fuzz/corpus\n", targets[t].name,
                    CORRAL_SOURCE_DIR);
            failures++;
        }
    }
    fuzz_descriptor_cleanup();
    return failures ? 1 : 0;
}
