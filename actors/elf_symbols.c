/* corral — ELF symbol tables (see elf_symbols.h). */
#include "actors/elf_symbols.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE_MASK_4K (~0xfffull)
#define MAX_SYMS (1u << 22)          /* a bound on what one file may cost us */
#define MAX_FILE (1ull << 32)        /* 4 GiB: larger "ELF files" are refused */

/* True if [off, off+len) lies within a file of size bytes. */
static bool in_file(uint64_t off, uint64_t len, size_t size) {
    return off <= size && len <= size - off;
}

static int sym_cmp(const void *a, const void *b) {
    const elf_sym_t *x = a, *y = b;
    return x->value < y->value ? -1 : x->value > y->value;
}

static bool wanted(const Elf64_Sym *s) {
    int type = ELF64_ST_TYPE(s->st_info);
    if (s->st_shndx == SHN_UNDEF || s->st_value == 0 || s->st_name == 0) return false;
    return type == STT_FUNC || type == STT_OBJECT || type == STT_GNU_IFUNC || type == STT_NOTYPE ||
           type == STT_TLS;
}

/* Append the symbols of one SHT_SYMTAB/SHT_DYNSYM section. */
static int add_section(elf_file_t *f, const unsigned char *d, size_t size, const Elf64_Shdr *sh,
                       const Elf64_Shdr *shs, uint16_t shnum, size_t *cap) {
    if (!in_file(sh->sh_offset, sh->sh_size, size) || sh->sh_link >= shnum) return 0;
    if (sh->sh_entsize != sizeof(Elf64_Sym)) return 0;
    const Elf64_Shdr *str = &shs[sh->sh_link];
    if (str->sh_type != SHT_STRTAB || !in_file(str->sh_offset, str->sh_size, size)) return 0;
    const char *strtab = (const char *)d + str->sh_offset;
    size_t strsz = (size_t)str->sh_size, n = (size_t)(sh->sh_size / sizeof(Elf64_Sym));
    for (size_t i = 0; i < n; i++) {
        Elf64_Sym s;
        memcpy(&s, d + sh->sh_offset + i * sizeof s, sizeof s);   /* may be unaligned */
        if (!wanted(&s) || s.st_name >= strsz) continue;
        size_t len = strnlen(strtab + s.st_name, strsz - s.st_name);
        if (len == strsz - s.st_name || len == 0) continue;       /* not NUL-terminated */
        if (f->nsyms >= MAX_SYMS) return 0;
        if (f->nsyms == *cap) {
            size_t ncap = *cap ? *cap * 2 : 256;
            elf_sym_t *ns = realloc(f->syms, ncap * sizeof *ns);
            if (!ns) return -1;
            f->syms = ns;
            *cap = ncap;
        }
        char *nstr = realloc(f->strings, f->strings_len + len + 1);
        if (!nstr) return -1;
        f->strings = nstr;
        memcpy(f->strings + f->strings_len, strtab + s.st_name, len + 1);
        f->syms[f->nsyms++] = (elf_sym_t){s.st_value, s.st_size, (uint32_t)f->strings_len,
                                          (uint8_t)ELF64_ST_TYPE(s.st_info),
                                          (uint8_t)ELF64_ST_BIND(s.st_info)};
        f->strings_len += len + 1;
    }
    return 0;
}

static void read_loads(elf_file_t *f, const unsigned char *d, size_t size, const Elf64_Ehdr *eh) {
    if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
        !in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), size))
        return;
    for (uint16_t i = 0; i < eh->e_phnum && f->nload < 16; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, d + eh->e_phoff + i * sizeof ph, sizeof ph);
        if (ph.p_type != PT_LOAD) continue;
        f->load_vaddr[f->nload] = ph.p_vaddr & PAGE_MASK_4K;
        f->load_offset[f->nload] = ph.p_offset & PAGE_MASK_4K;
        f->nload++;
    }
}

static elf_file_t *fail(elf_file_t *f, char *err, size_t errlen, const char *why) {
    snprintf(err, errlen, "%s", why);
    elf_file_destroy(&f);
    return NULL;
}

elf_file_t *elf_parse(const void *data, size_t size, char *err, size_t errlen) {
    const unsigned char *d = data;
    Elf64_Ehdr eh;
    if (size < sizeof eh || memcmp(d, ELFMAG, SELFMAG) != 0)
        return fail(NULL, err, errlen, "not an ELF file");
    memcpy(&eh, d, sizeof eh);
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
        return fail(NULL, err, errlen, "not a 64-bit little-endian ELF file");
    elf_file_t *f = calloc(1, sizeof *f);
    if (!f || !(f->strings = calloc(1, 1))) return fail(f, err, errlen, "out of memory");
    f->strings_len = 1;
    f->type = eh.e_type;
    read_loads(f, d, size, &eh);
    if (eh.e_shnum == 0) return f;
    if (eh.e_shentsize != sizeof(Elf64_Shdr) ||
        !in_file(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr), size))
        return fail(f, err, errlen, "section headers lie outside the file");
    Elf64_Shdr *shs = malloc((size_t)eh.e_shnum * sizeof *shs);
    if (!shs) return fail(f, err, errlen, "out of memory");
    memcpy(shs, d + eh.e_shoff, (size_t)eh.e_shnum * sizeof *shs);
    size_t cap = 0;
    int rc = 0;
    for (uint16_t i = 0; i < eh.e_shnum && rc == 0; i++)
        if (shs[i].sh_type == SHT_SYMTAB || shs[i].sh_type == SHT_DYNSYM)
            rc = add_section(f, d, size, &shs[i], shs, eh.e_shnum, &cap);
    free(shs);
    if (rc != 0) return fail(f, err, errlen, "out of memory");
    if (f->nsyms) qsort(f->syms, f->nsyms, sizeof *f->syms, sym_cmp);
    return f;
}

elf_file_t *elf_load(const char *path, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > MAX_FILE) {
        snprintf(err, errlen, "%s: not a regular file of a sensible size", path);
        close(fd);
        return NULL;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
        return NULL;
    }
    char why[128];
    elf_file_t *f = elf_parse(m, (size_t)st.st_size, why, sizeof why);
    munmap(m, (size_t)st.st_size);
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, why);
        return NULL;
    }
    f->path = strdup(path);
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->mtime = st.st_mtim;
    if (!f->path) return fail(f, err, errlen, "out of memory");
    return f;
}

void elf_file_destroy(elf_file_t **fp) {
    elf_file_t *f = *fp;
    if (!f) return;
    free(f->path);
    free(f->syms);
    free(f->strings);
    free(f);
    *fp = NULL;
}

const elf_sym_t *elf_find(const elf_file_t *f, const char *name) {
    const elf_sym_t *local = NULL;
    for (size_t i = 0; i < f->nsyms; i++) {
        if (strcmp(elf_sym_name(f, &f->syms[i]), name) != 0) continue;
        if (f->syms[i].bind != STB_LOCAL) return &f->syms[i];
        if (!local) local = &f->syms[i];
    }
    return local;
}

const elf_sym_t *elf_nearest(const elf_file_t *f, uint64_t vaddr) {
    size_t lo = 0, hi = f->nsyms;    /* first index with value > vaddr */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->syms[mid].value <= vaddr) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return NULL;
    /* Among symbols at the same value prefer a function or object over a
       bare label, and a global over a local. */
    const elf_sym_t *best = &f->syms[lo - 1];
    for (size_t i = lo - 1; i > 0 && f->syms[i - 1].value == best->value; i--) {
        const elf_sym_t *s = &f->syms[i - 1];
        if ((best->type == STT_NOTYPE && s->type != STT_NOTYPE) ||
            (best->bind == STB_LOCAL && s->bind != STB_LOCAL && s->type == best->type))
            best = s;
    }
    return best;
}

/* --- maps and modules ------------------------------------------------ */

int elf_maps_read(pid_t pid, elf_map_t **maps, size_t *n) {
    char path[64], line[4096 + 128];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *fp = fopen(path, "re");
    if (!fp) return -1;
    elf_map_t *v = NULL;
    size_t len = 0, cap = 0;
    while (fgets(line, sizeof line, fp)) {
        elf_map_t m;
        memset(&m, 0, sizeof m);
        unsigned long long s, e, off;
        int pos = 0;
        if (sscanf(line, "%llx-%llx %4s %llx %*s %*s %n", &s, &e, m.perms, &off, &pos) < 4)
            continue;
        m.start = s;
        m.end = e;
        m.offset = off;
        if (pos > 0) {
            char *p = line + pos;
            p[strcspn(p, "\n")] = '\0';
            snprintf(m.path, sizeof m.path, "%s", p);
        }
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            elf_map_t *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                free(v);
                fclose(fp);
                errno = ENOMEM;
                return -1;
            }
            v = nv;
            cap = ncap;
        }
        v[len++] = m;
    }
    fclose(fp);
    *maps = v;
    *n = len;
    return 0;
}

#define CACHE_MAX 256

struct elf_cache {
    elf_file_t *files[CACHE_MAX];
    uint64_t used[CACHE_MAX];     /* last use, for eviction */
    uint64_t tick;
};

elf_cache_t *elf_cache_new(void) { return calloc(1, sizeof(elf_cache_t)); }

void elf_cache_destroy(elf_cache_t **cp) {
    elf_cache_t *c = *cp;
    if (!c) return;
    for (int i = 0; i < CACHE_MAX; i++) elf_file_destroy(&c->files[i]);
    free(c);
    *cp = NULL;
}

/* The parsed file at path, reparsed when its inode or mtime changed. */
static const elf_file_t *cache_get(elf_cache_t *c, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return NULL;
    int victim = -1;
    for (int i = 0; i < CACHE_MAX && victim < 0; i++) {
        elf_file_t *f = c->files[i];
        if (!f || strcmp(f->path, path) != 0) continue;
        if (f->dev == st.st_dev && f->ino == st.st_ino && f->mtime.tv_sec == st.st_mtim.tv_sec &&
            f->mtime.tv_nsec == st.st_mtim.tv_nsec) {
            c->used[i] = ++c->tick;
            return f;
        }
        victim = i;    /* the file changed: reparse it in place */
    }
    for (int i = 0; i < CACHE_MAX && victim < 0; i++)
        if (!c->files[i]) victim = i;
    if (victim < 0) {  /* full: evict the least recently used */
        victim = 0;
        for (int i = 1; i < CACHE_MAX; i++)
            if (c->used[i] < c->used[victim]) victim = i;
    }
    char err[256];
    elf_file_t *f = elf_load(path, err, sizeof err);
    if (!f) return NULL;
    elf_file_destroy(&c->files[victim]);
    c->files[victim] = f;
    c->used[victim] = ++c->tick;
    return f;
}

static uint64_t bias_of(const elf_file_t *f, uint64_t start, uint64_t offset) {
    if (f->type == ET_EXEC) return 0;
    for (int i = 0; i < f->nload; i++)
        if (f->load_offset[i] == (offset & PAGE_MASK_4K)) return start - f->load_vaddr[i];
    return start - offset;
}

int elf_modules(elf_cache_t *c, const elf_map_t *maps, size_t nmaps, const char *exe,
                elf_module_t **mods, size_t *nmods) {
    elf_module_t *v = calloc(nmaps ? nmaps : 1, sizeof *v);
    if (!v) return -1;
    size_t n = 0;
    for (size_t i = 0; i < nmaps; i++) {
        const elf_map_t *m = &maps[i];
        if (m->path[0] != '/' || strstr(m->path, " (deleted)")) continue;
        size_t j = 0;
        while (j < n && strcmp(v[j].file->path, m->path) != 0) j++;
        if (j < n) {     /* a further segment of a known file */
            if (m->end > v[j].end) v[j].end = m->end;
            continue;
        }
        const elf_file_t *f = cache_get(c, m->path);
        if (!f) continue;
        /* The first mapping of a file (lowest address) is its first
           segment; the bias is where that segment landed minus where the
           file asked for it. */
        v[n++] = (elf_module_t){f, bias_of(f, m->start, m->offset), m->start, m->end};
    }
    for (size_t j = 1; exe && j < n; j++) {
        if (strcmp(v[j].file->path, exe) == 0) {
            elf_module_t t = v[0];
            v[0] = v[j];
            v[j] = t;
            break;
        }
    }
    *mods = v;
    *nmods = n;
    return 0;
}
