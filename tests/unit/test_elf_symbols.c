/* Unit tests of actors/elf_symbols.c: real files parse, symbols resolve,
   and truncated or corrupted files are refused or parsed without a crash. */
#include "actors/elf_symbols.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

__attribute__((noinline)) int test_elf_marker_function(int x) { return x * 3; }

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc((size_t)sz);
    *n = fread(d, 1, (size_t)sz, f);
    fclose(f);
    return d;
}

static void test_self_symbols(void) {
    char err[256];
    elf_file_t *f = elf_load("/proc/self/exe", err, sizeof err);
    CHECK(f != NULL);
    if (!f) return;
    const elf_sym_t *s = elf_find(f, "test_elf_marker_function");
    CHECK(s != NULL);
    if (s) {
        const elf_sym_t *near = elf_nearest(f, s->value + 1);
        CHECK(near && strcmp(elf_sym_name(f, near), "test_elf_marker_function") == 0);
    }
    CHECK(elf_find(f, "no_such_symbol_anywhere") == NULL);
    CHECK(elf_nearest(f, 0) == NULL);
    elf_file_destroy(&f);
    CHECK(f == NULL);
}

static void test_modules_of_self(void) {
    elf_map_t *maps;
    size_t n;
    CHECK(elf_maps_read(getpid(), &maps, &n) == 0 && n > 0);
    elf_cache_t *c = elf_cache_new();
    elf_module_t *mods;
    size_t nm;
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[len > 0 ? len : 0] = '\0';
    CHECK(elf_modules(c, maps, n, exe, &mods, &nm) == 0 && nm > 0);
    if (nm > 0) {
        const elf_sym_t *s = elf_find(mods[0].file, "test_elf_marker_function");
        CHECK(s && mods[0].bias + s->value == (uint64_t)(uintptr_t)&test_elf_marker_function);
        bool libc = false;
        for (size_t i = 0; i < nm; i++) {
            const elf_sym_t *m = elf_find(mods[i].file, "malloc");
            if (m && strstr(mods[i].file->path, "libc")) {
                libc = true;
                CHECK(mods[i].bias + m->value == (uint64_t)(uintptr_t)&malloc ||
                      strstr(mods[i].file->path, "asan") == NULL);
            }
        }
        CHECK(libc);
    }
    free(mods);
    free(maps);
    elf_cache_destroy(&c);
}

/* Every prefix, and many single-byte corruptions, must not crash. */
static void test_hostile_files(void) {
    size_t n;
    unsigned char *d = slurp("/proc/self/exe", &n);
    CHECK(d != NULL);
    if (!d) return;
    char err[256];
    for (size_t len = 0; len < n; len += len < 4096 ? 1 : 4093) {
        elf_file_t *f = elf_parse(d, len, err, sizeof err);
        elf_file_destroy(&f);
    }
    unsigned char *copy = malloc(n);
    srand(42);
    for (int round = 0; round < 2000; round++) {
        memcpy(copy, d, n);
        for (int k = 0; k < 8; k++) {
            size_t at = round < 1000 ? (size_t)rand() % (sizeof(Elf64_Ehdr) + 512) : (size_t)rand() % n;
            copy[at] = (unsigned char)rand();
        }
        elf_file_t *f = elf_parse(copy, n, err, sizeof err);
        if (f) {
            for (size_t i = 0; i < f->nsyms; i++) CHECK(f->syms[i].name < f->strings_len);
            elf_nearest(f, 0x1234);
        }
        elf_file_destroy(&f);
    }
    /* section headers pointing past the end */
    memcpy(copy, d, n);
    Elf64_Ehdr eh;
    memcpy(&eh, copy, sizeof eh);
    eh.e_shoff = (Elf64_Off)n - 10;
    memcpy(copy, &eh, sizeof eh);
    CHECK(elf_parse(copy, n, err, sizeof err) == NULL);
    CHECK(elf_parse("garbage!", 8, err, sizeof err) == NULL);
    CHECK(elf_load("/no/such/file", err, sizeof err) == NULL && strstr(err, "No such file"));
    CHECK(elf_load("/proc/self/status", err, sizeof err) == NULL);
    free(copy);
    free(d);
}

int main(void) {
    test_self_symbols();
    test_modules_of_self();
    test_hostile_files();
    if (failures) fprintf(stderr, "%d failures\n", failures);
    else printf("ok\n");
    return failures ? 1 : 0;
}
