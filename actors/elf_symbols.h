/* corral — ELF symbol tables of a target's executable and shared objects,
   and the map from a target's address space to them.

   Files are untrusted: every offset and size read from an ELF file is
   checked against the file before use, so a truncated or hostile file is
   an error, never a crash. Symbols are copied out, so the file is not kept
   mapped (a file truncated under us cannot SIGBUS the server). */
#ifndef CORRAL_ELF_SYMBOLS_H
#define CORRAL_ELF_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

typedef struct elf_sym {
    uint64_t value, size;     /* as in the file (not relocated) */
    uint32_t name;            /* offset into elf_file_t.strings */
    uint8_t type, bind;       /* STT_*, STB_* */
} elf_sym_t;

typedef struct elf_file {
    char *path;
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    int type;                 /* ET_EXEC or ET_DYN */
    uint64_t load_vaddr[16];  /* page-aligned vaddr of each PT_LOAD */
    uint64_t load_offset[16]; /* page-aligned file offset of each PT_LOAD */
    int nload;
    elf_sym_t *syms;          /* sorted by value */
    size_t nsyms;
    char *strings;
    size_t strings_len;
} elf_file_t;

/* Parse an ELF image held in memory. NULL with err set when it is not a
   well-formed 64-bit ELF file. A file without symbols is fine (nsyms 0). */
elf_file_t *elf_parse(const void *data, size_t size, char *err, size_t errlen);

/* Map and parse the file at path (fills dev, ino, mtime). */
elf_file_t *elf_load(const char *path, char *err, size_t errlen);

void elf_file_destroy(elf_file_t **f);

/* Name of a symbol. */
static inline const char *elf_sym_name(const elf_file_t *f, const elf_sym_t *s) {
    return f->strings + s->name;
}

/* The symbol called name (a global one preferred), or NULL. */
const elf_sym_t *elf_find(const elf_file_t *f, const char *name);

/* The nearest symbol at or below the file address vaddr, or NULL. */
const elf_sym_t *elf_nearest(const elf_file_t *f, uint64_t vaddr);

/* One line of /proc/PID/maps. */
typedef struct elf_map {
    uint64_t start, end, offset;
    char perms[5];
    char path[256];
} elf_map_t;

/* Read /proc/pid/maps into a malloc'd array. 0, or -1 with errno. */
int elf_maps_read(pid_t pid, elf_map_t **maps, size_t *n);

/* A loaded module: a file of the address space and its load bias. */
typedef struct elf_module {
    const elf_file_t *file;
    uint64_t bias, start, end;
} elf_module_t;

/* Parsed files keyed by path + inode + mtime, reloaded when they change. */
typedef struct elf_cache elf_cache_t;

elf_cache_t *elf_cache_new(void);
void elf_cache_destroy(elf_cache_t **c);

/* The modules of the address space described by maps, in a malloc'd
   array, the one whose path is exe (may be NULL) first. Files that fail to
   parse are skipped. 0, or -1 (out of memory). */
int elf_modules(elf_cache_t *c, const elf_map_t *maps, size_t nmaps, const char *exe,
                elf_module_t **mods, size_t *nmods);

#endif
