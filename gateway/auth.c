/* corral — users, roles and tokens (API.md §1 Authentication, §6).

   Tokens are 32 random bytes written as 64 hex characters. Only
   SHA-256(salt || token) with a 16-byte random salt is kept, in the users
   file and in memory, so reading either does not give a token away; hashes
   are compared with CRYPTO_memcmp so the time taken does not tell an
   attacker how many bytes of a guess were right.

   Threads: a corral_users_t is used by the gateway thread only (load at
   start, then check / add_ephemeral / remove from its loop), so it has no
   lock. corral_users_file_add is for the `corrald user-add` command and
   takes an flock on the file, so two of them do not interleave lines. */
#include "corral/auth.h"
#include "corral/buf.h"
#include "corral/envelope.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

enum {
    SALT_LEN = 16,
    HASH_LEN = 32,              /* SHA-256 */
    TOKEN_BYTES = 32,
    TOKEN_HEX = 2 * TOKEN_BYTES,
    /* Longest token or Basic credential looked at. Ours are 64 characters;
       the bound keeps the hash input on the stack and refuses junk early. */
    CRED_MAX = 512,
    LINE_MAX_LEN = 1024,        /* a users-file line: name role 32+64 hex */
};

typedef struct entry {
    corral_user_t user;
    unsigned char salt[SALT_LEN];
    unsigned char hash[HASH_LEN];
    bool ephemeral;
} entry_t;

/* Entries are allocated one by one so that the corral_user_t pointer
   corral_users_check returns stays valid while other users come and go. */
struct corral_users {
    entry_t **v;
    size_t n, cap;
    EVP_MD *sha256;             /* fetched once: an implicit fetch per hash is slow */
    EVP_MD_CTX *ctx;            /* reused: a Bearer check hashes once per user */
};

/* User names of the users file: [A-Za-z0-9_.-], 1..CORRAL_NAME_MAX-1. They
   end up in logs, envelopes and Basic credentials, so no ':', space or
   control character can get in. */
static bool name_ok(const char *s, size_t n) {
    if (n == 0 || n >= CORRAL_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

static int hex_val(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Exactly 2*n hex characters in s[0..len) → out[0..n). 0 or -1. */
static int hex_decode(const char *s, size_t len, unsigned char *out, size_t n) {
    if (len != 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* SHA-256(salt || token) into out. 0 or -1. */
static int hash_token(const corral_users_t *u, const unsigned char *salt, const char *token,
                      size_t len, unsigned char *out) {
    if (len > CRED_MAX) return -1;
    unsigned int outlen = 0;
    int ok = EVP_DigestInit_ex2(u->ctx, u->sha256, NULL) == 1 &&
             EVP_DigestUpdate(u->ctx, salt, SALT_LEN) == 1 &&
             EVP_DigestUpdate(u->ctx, token, len) == 1 &&
             EVP_DigestFinal_ex(u->ctx, out, &outlen) == 1;
    return (ok && outlen == HASH_LEN) ? 0 : -1;
}

int corral_token_new(char *buf, size_t cap) {
    unsigned char raw[TOKEN_BYTES];
    if (cap < TOKEN_HEX + 1 || RAND_bytes(raw, sizeof raw) != 1) return -1;
    corral_hex(raw, sizeof raw, buf);
    OPENSSL_cleanse(raw, sizeof raw);
    return 0;
}

static corral_users_t *users_new(void) {
    corral_users_t *u = calloc(1, sizeof *u);
    if (!u) return NULL;
    u->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    u->ctx = EVP_MD_CTX_new();
    if (!u->sha256 || !u->ctx) corral_users_destroy(&u);
    return u;
}

void corral_users_destroy(corral_users_t **self) {
    if (!self || !*self) return;
    corral_users_t *u = *self;
    for (size_t i = 0; i < u->n; i++) {
        OPENSSL_cleanse(u->v[i], sizeof *u->v[i]);
        free(u->v[i]);
    }
    free(u->v);
    EVP_MD_CTX_free(u->ctx);
    EVP_MD_free(u->sha256);
    free(u);
    *self = NULL;
}

static entry_t *find(corral_users_t *u, const char *name, size_t n) {
    for (size_t i = 0; i < u->n; i++)
        if (strlen(u->v[i]->user.name) == n && memcmp(u->v[i]->user.name, name, n) == 0)
            return u->v[i];
    return NULL;
}

/* Append a copy of e. 0 or -1 (out of memory). */
static int push(corral_users_t *u, const entry_t *e) {
    if (u->n == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 8;
        entry_t **v = realloc(u->v, cap * sizeof *v);
        if (!v) return -1;
        u->v = v;
        u->cap = cap;
    }
    entry_t *copy = malloc(sizeof *copy);
    if (!copy) return -1;
    *copy = *e;
    u->v[u->n++] = copy;
    return 0;
}

/* A new entry for token: fresh salt, salted hash. 0 or -1. */
static int entry_make(const corral_users_t *u, entry_t *e, const char *name, size_t n,
                      int role, const char *token) {
    memset(e, 0, sizeof *e);
    if (n >= sizeof e->user.name) return -1;
    memcpy(e->user.name, name, n);
    e->user.role = role;
    if (RAND_bytes(e->salt, SALT_LEN) != 1) return -1;
    return hash_token(u, e->salt, token, strlen(token), e->hash);
}

/* Split s at runs of spaces/tabs into at most max fields; the count. */
static int split(char *s, char **f, int max) {
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (n == max) return max + 1;
        f[n++] = t;
    }
    return n;
}

/* One line of a users file into *e. NULL, or the reason it is wrong. */
static const char *parse_line(char *line, entry_t *e) {
    char *f[4];
    int n = split(line, f, 4);
    if (n != 4) return "expected \"name role salt-hex hash-hex\"";
    memset(e, 0, sizeof *e);
    if (!name_ok(f[0], strlen(f[0]))) return "bad user name (A-Z a-z 0-9 _ . -, under 48)";
    strcpy(e->user.name, f[0]);
    e->user.role = corral_role_parse(f[1], strlen(f[1]));
    if (e->user.role == CORRAL_ROLE_NONE) return "bad role (viewer, operator or admin)";
    if (hex_decode(f[2], strlen(f[2]), e->salt, SALT_LEN) < 0) return "salt is not 32 hex digits";
    if (hex_decode(f[3], strlen(f[3]), e->hash, HASH_LEN) < 0) return "hash is not 64 hex digits";
    return NULL;
}

/* Read a users file from fp into u. 0, or -1 with file:line and reason. */
static int read_users(corral_users_t *u, FILE *fp, const char *path, char *err, size_t errlen) {
    char line[LINE_MAX_LEN];
    int lineno = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(fp)) {
            snprintf(err, errlen, "users file %s:%d: line too long", path, lineno);
            return -1;
        }
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        line[strcspn(line, "\r\n")] = '\0';
        if (line[strspn(line, " \t")] == '\0') continue;
        entry_t e;
        const char *why = parse_line(line, &e);
        if (!why && find(u, e.user.name, strlen(e.user.name))) why = "duplicate user name";
        if (!why && push(u, &e) < 0) why = "out of memory";
        if (why) {
            snprintf(err, errlen, "users file %s:%d: %s", path, lineno, why);
            return -1;
        }
    }
    if (ferror(fp)) {
        snprintf(err, errlen, "users file %s: read: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static corral_users_t *load_file(const char *path, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "users file %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    const char *why = NULL;
    if (fstat(fd, &st) < 0) why = strerror(errno);
    /* The server runs as root: a file others may write lets them make
       themselves admin. */
    else if (st.st_mode & (S_IWGRP | S_IWOTH)) why = "writable by group or others (chmod go-w)";
    if (why) {
        snprintf(err, errlen, "users file %s: %s", path, why);
        close(fd);
        return NULL;
    }
    FILE *fp = fdopen(fd, "r");
    corral_users_t *u = fp ? users_new() : NULL;
    if (!u || read_users(u, fp, path, err, errlen) < 0) {
        if (!u) snprintf(err, errlen, "users file %s: out of memory", path);
        corral_users_destroy(&u);
    }
    if (fp) fclose(fp);
    else close(fd);
    return u;
}

/* mkdir -p with mode 0700 for every directory it makes: the state
   directory holds the admin token. */
static int make_dirs(const char *dir, char *err, size_t errlen) {
    char path[CORRAL_PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        snprintf(err, errlen, "state directory %s: name too long", dir);
        return -1;
    }
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "state directory %s: mkdir %s: %s", dir, path, strerror(errno));
            return -1;
        }
        *p = c;
        if (c == '\0') return 0;
    }
}

/* Write a new token to path, which must not exist yet (O_EXCL: never
   follow a link someone planted, never overwrite). 0, 1 if it appeared
   meanwhile, -1 with err. */
static int token_file_create(const char *path, char *token, char *err, size_t errlen) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) return 1;
    if (fd < 0) {
        snprintf(err, errlen, "admin token %s: create: %s", path, strerror(errno));
        return -1;
    }
    char line[TOKEN_HEX + 2];
    int rc = corral_token_new(token, TOKEN_HEX + 1);
    if (rc == 0) {
        memcpy(line, token, TOKEN_HEX);
        line[TOKEN_HEX] = '\n';
        rc = (write(fd, line, TOKEN_HEX + 1) == TOKEN_HEX + 1 && fsync(fd) == 0) ? 0 : -1;
        OPENSSL_cleanse(line, sizeof line);
    }
    if (rc < 0) {
        snprintf(err, errlen, "admin token %s: write: %s", path, strerror(errno));
        unlink(path);
    }
    close(fd);
    return rc;
}

/* Read the 64 hex characters of an existing token file. 0 or -1 with err. */
static int token_file_read(const char *path, char *token, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "admin token %s: %s", path, strerror(errno));
        return -1;
    }
    char buf[TOKEN_HEX + 3];
    ssize_t n = read(fd, buf, sizeof buf);
    struct stat st;
    /* a token others can read is a leaked admin: take it back to 0600 */
    if (fstat(fd, &st) == 0 && (st.st_mode & 077)) (void)fchmod(fd, 0600);
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
    unsigned char raw[TOKEN_BYTES];
    int rc = (n == TOKEN_HEX && hex_decode(buf, TOKEN_HEX, raw, TOKEN_BYTES) == 0) ? 0 : -1;
    if (rc == 0) {
        memcpy(token, buf, TOKEN_HEX);
        token[TOKEN_HEX] = '\0';
    } else {
        snprintf(err, errlen, "admin token %s: not 64 hex digits", path);
    }
    OPENSSL_cleanse(buf, sizeof buf);
    OPENSSL_cleanse(raw, sizeof raw);
    return rc;
}

/* The default admin of API.md §6: STATE/admin.token, made at first start. */
static corral_users_t *load_admin(const char *state_dir, char *err, size_t errlen) {
    char path[CORRAL_PATH_MAX], token[TOKEN_HEX + 1];
    if (!state_dir || !*state_dir) {
        snprintf(err, errlen, "no users file and no state directory for admin.token");
        return NULL;
    }
    if (snprintf(path, sizeof path, "%s/admin.token", state_dir) >= (int)sizeof path) {
        snprintf(err, errlen, "state directory %s: name too long", state_dir);
        return NULL;
    }
    if (make_dirs(state_dir, err, errlen) < 0) return NULL;
    int rc = token_file_create(path, token, err, errlen);
    if (rc == 1) rc = token_file_read(path, token, err, errlen);
    if (rc < 0) return NULL;
    corral_users_t *u = users_new();
    entry_t e;
    if (!u || entry_make(u, &e, "admin", 5, CORRAL_ROLE_ADMIN, token) < 0 || push(u, &e) < 0) {
        snprintf(err, errlen, "admin token %s: out of memory", path);
        corral_users_destroy(&u);
    }
    OPENSSL_cleanse(token, sizeof token);
    OPENSSL_cleanse(&e, sizeof e);
    return u;
}

corral_users_t *corral_users_load(const char *path, const char *state_dir, char *err,
                                  size_t errlen) {
    if (!path || !*path) return load_admin(state_dir, err, errlen);
    return load_file(path, err, errlen);
}

/* Strict base64 (RFC 4648 §4: padded, no whitespace, no stray bits) of
   s[0..n) into out (cap bytes). The length, or -1. Strict so that one
   credential has one spelling. */
static long b64_decode(const char *s, size_t n, unsigned char *out, size_t cap) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (n == 0 || n % 4) return -1;
    size_t pad = (s[n - 1] == '=') + (s[n - 1] == '=' && s[n - 2] == '=');
    size_t outlen = n / 4 * 3 - pad;
    if (outlen > cap) return -1;
    for (size_t i = 0, o = 0; i < n; i += 4) {
        unsigned long w = 0;
        for (size_t k = 0; k < 4; k++) {
            const char *at = s[i + k] ? strchr(A, s[i + k]) : NULL;
            bool padded = i + 4 == n && k >= 4 - pad;
            if (!padded && !at) return -1;
            w = w << 6 | (padded ? 0 : (unsigned long)(at - A));
        }
        unsigned char b[3] = {(unsigned char)(w >> 16), (unsigned char)(w >> 8), (unsigned char)w};
        size_t take = (i + 4 == n) ? 3 - pad : 3;
        if (take < 3 && b[take] != 0) return -1;    /* non-zero bits in the padding */
        memcpy(out + o, b, take);
        o += take;
    }
    return (long)outlen;
}

/* A Basic credential name:token. Hashes even when the name is unknown, so
   the time taken does not say which user names exist. */
static const corral_user_t *check_basic(corral_users_t *u, const char *cred, size_t n) {
    static const unsigned char no_salt[SALT_LEN];
    const char *colon = memchr(cred, ':', n);
    if (!colon) return NULL;
    size_t nlen = (size_t)(colon - cred);
    entry_t *e = find(u, cred, nlen);
    unsigned char h[HASH_LEN];
    if (hash_token(u, e ? e->salt : no_salt, colon + 1, n - nlen - 1, h) < 0)
        return NULL;
    bool ok = e && CRYPTO_memcmp(h, e->hash, HASH_LEN) == 0;
    return ok ? &e->user : NULL;
}

/* A Bearer token names no user: hash it with every user's salt and
   compare with every user's hash, all the way through the list. */
static const corral_user_t *check_bearer(corral_users_t *u, const char *tok, size_t n) {
    const corral_user_t *found = NULL;
    for (size_t i = 0; i < u->n; i++) {
        unsigned char h[HASH_LEN];
        if (hash_token(u, u->v[i]->salt, tok, n, h) < 0) return NULL;
        if (CRYPTO_memcmp(h, u->v[i]->hash, HASH_LEN) == 0 && !found) found = &u->v[i]->user;
    }
    return found;
}

const corral_user_t *corral_users_check(corral_users_t *self, const char *authz, size_t len) {
    if (!self || !authz) return NULL;
    while (len && (authz[0] == ' ' || authz[0] == '\t')) authz++, len--;
    while (len && (authz[len - 1] == ' ' || authz[len - 1] == '\t')) len--;
    size_t sl = 0;
    while (sl < len && authz[sl] != ' ') sl++;
    size_t c = sl;
    while (c < len && authz[c] == ' ') c++;
    const char *cred = authz + c;
    size_t cn = len - c;
    if (cn == 0 || cn > 2 * CRED_MAX) return NULL;
    /* auth-scheme is case-insensitive (RFC 7235 §2.1) */
    if (sl == 5 && strncasecmp(authz, "basic", 5) == 0) {
        unsigned char raw[CRED_MAX + 1];
        long n = b64_decode(cred, cn, raw, sizeof raw);
        const corral_user_t *who = n > 0 ? check_basic(self, (const char *)raw, (size_t)n) : NULL;
        OPENSSL_cleanse(raw, sizeof raw);
        return who;
    }
    if (sl == 6 && strncasecmp(authz, "bearer", 6) == 0) return check_bearer(self, cred, cn);
    return NULL;
}

/* Ephemeral names are actor addresses ("a3@beta"): printable, no ':' (it
   ends the name in a Basic credential), no space. */
static bool ephemeral_name_ok(const char *s, size_t n) {
    if (n == 0 || n >= CORRAL_ADDR_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || s[i] == ':') return false;
    return true;
}

int corral_users_add_ephemeral(corral_users_t *self, const char *name, int role,
                               const char *token) {
    size_t n = name ? strlen(name) : 0;
    if (!self || !token || !*token || strlen(token) > CRED_MAX || !ephemeral_name_ok(name, n) ||
        role < CORRAL_ROLE_VIEWER || role > CORRAL_ROLE_ADMIN || find(self, name, n))
        return -1;
    entry_t e;
    int rc = entry_make(self, &e, name, n, role, token);
    if (rc == 0) {
        e.ephemeral = true;
        rc = push(self, &e);
    }
    OPENSSL_cleanse(&e, sizeof e);
    return rc;
}

void corral_users_remove(corral_users_t *self, const char *name) {
    if (!self || !name) return;
    entry_t *e = find(self, name, strlen(name));
    /* only ephemeral users: a file user outlives any analysis id */
    if (!e || !e->ephemeral) return;
    for (size_t i = 0; i < self->n; i++) {
        if (self->v[i] != e) continue;
        self->v[i] = self->v[--self->n];
        break;
    }
    OPENSSL_cleanse(e, sizeof *e);
    free(e);
}

/* The users already in the open file fd (locked by the caller). */
static corral_users_t *read_locked(int fd, const char *path, char *err, size_t errlen) {
    int dfd = dup(fd);
    FILE *fp = dfd >= 0 ? fdopen(dfd, "r") : NULL;
    corral_users_t *u = fp ? users_new() : NULL;
    if (!u) {
        snprintf(err, errlen, "users file %s: %s", path, strerror(errno ? errno : ENOMEM));
    } else if (read_users(u, fp, path, err, errlen) < 0) {
        corral_users_destroy(&u);
    }
    if (fp) fclose(fp);
    else if (dfd >= 0) close(dfd);
    return u;
}

/* Append "name role salt hash\n" to fd, after a newline if the file does
   not end with one (hand-edited). 0 or -1 with err. */
static int append_line(int fd, const char *path, const entry_t *e, char *err, size_t errlen) {
    char salt[2 * SALT_LEN + 1], hash[2 * HASH_LEN + 1], line[LINE_MAX_LEN];
    corral_hex(e->salt, SALT_LEN, salt);
    corral_hex(e->hash, HASH_LEN, hash);
    struct stat st;
    char last = '\n';
    if (fstat(fd, &st) == 0 && st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1)
        last = '\n';
    int n = snprintf(line, sizeof line, "%s%s %s %s %s\n", last == '\n' ? "" : "\n",
                     e->user.name, corral_role_name(e->user.role), salt, hash);
    if (write(fd, line, (size_t)n) != n || fsync(fd) < 0) {
        snprintf(err, errlen, "users file %s: write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int corral_users_file_add(const char *path, const char *name, const char *role, char *token,
                          size_t cap, char *err, size_t errlen) {
    int r = role ? corral_role_parse(role, strlen(role)) : CORRAL_ROLE_NONE;
    if (!name || !name_ok(name, strlen(name))) {
        snprintf(err, errlen, "bad user name \"%s\": use A-Z a-z 0-9 _ . - (1 to %d)",
                 name ? name : "", CORRAL_NAME_MAX - 1);
        return -1;
    }
    if (r == CORRAL_ROLE_NONE) {
        snprintf(err, errlen, "bad role \"%s\": viewer, operator or admin", role ? role : "");
        return -1;
    }
    if (!token || cap < TOKEN_HEX + 1) {
        snprintf(err, errlen, "token buffer too small");
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "users file %s: %s", path, strerror(errno));
        return -1;
    }
    /* two user-adds at once must not both pass the duplicate check */
    int rc = -1;
    corral_users_t *u = NULL;
    entry_t e;
    memset(&e, 0, sizeof e);
    if (flock(fd, LOCK_EX) < 0) {
        snprintf(err, errlen, "users file %s: lock: %s", path, strerror(errno));
    } else if ((u = read_locked(fd, path, err, errlen)) == NULL) {
        /* err says which line is broken; appending to it would not help */
    } else if (find(u, name, strlen(name))) {
        snprintf(err, errlen, "users file %s: user %s already exists", path, name);
    } else if (corral_token_new(token, cap) < 0 ||
               entry_make(u, &e, name, strlen(name), r, token) < 0) {
        snprintf(err, errlen, "users file %s: no random bytes for a token", path);
    } else {
        rc = append_line(fd, path, &e, err, errlen);
    }
    if (rc < 0 && token && cap) OPENSSL_cleanse(token, cap);
    OPENSSL_cleanse(&e, sizeof e);
    corral_users_destroy(&u);
    close(fd);
    return rc;
}
