/* Unit tests of gateway/auth.c: users file, tokens, Basic and Bearer. */
#include "corral/auth.h"
#include "corral/envelope.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "check.h"

static char tmpdir[256];

static void path_in(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *text, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror(path);
        exit(2);
    }
    close(fd);
    chmod(path, mode);
}

static const corral_user_t *check_str(corral_users_t *u, const char *authz) {
    return corral_users_check(u, authz, strlen(authz));
}

/* "Basic " + base64(user:token), as Python's ServerProxy sends it. */
static void basic(char *out, size_t cap, const char *user, const char *token) {
    char plain[256];
    int n = snprintf(plain, sizeof plain, "%s:%s", user, token);
    unsigned char b64[400];
    EVP_EncodeBlock(b64, (const unsigned char *)plain, n);
    snprintf(out, cap, "Basic %s", (const char *)b64);
}

static void test_token_new_is_64_hex(void) {
    char a[65], b[65], small[10];
    CHECK(corral_token_new(a, sizeof a) == 0 && corral_token_new(b, sizeof b) == 0);
    CHECK(strlen(a) == 64 && strspn(a, "0123456789abcdef") == 64 && strcmp(a, b) != 0);
    CHECK(corral_token_new(small, sizeof small) == -1);
}

static void test_add_load_check_basic_and_bearer(void) {
    char path[512], err[512], t_op[65], t_view[65], authz[512];
    path_in(path, sizeof path, "users");
    CHECK(corral_users_file_add(path, "alice", "operator", t_op, sizeof t_op, err, sizeof err) == 0);
    CHECK(corral_users_file_add(path, "bob.v-1_", "viewer", t_view, sizeof t_view, err,
                                sizeof err) == 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

    corral_users_t *u = corral_users_load(path, NULL, err, sizeof err);
    CHECK(u != NULL);
    if (!u) {
        fprintf(stderr, "load: %s\n", err);
        return;
    }
    basic(authz, sizeof authz, "alice", t_op);
    const corral_user_t *who = check_str(u, authz);
    CHECK(who && strcmp(who->name, "alice") == 0 && who->role == CORRAL_ROLE_OPERATOR);
    authz[0] = 'b';                                     /* scheme is case-insensitive */
    CHECK(check_str(u, authz) == who);
    char bearer[128];
    snprintf(bearer, sizeof bearer, "Bearer %s", t_view);
    who = check_str(u, bearer);
    CHECK(who && strcmp(who->name, "bob.v-1_") == 0 && who->role == CORRAL_ROLE_VIEWER);
    snprintf(bearer, sizeof bearer, "  BEARER   %s  ", t_op);
    who = check_str(u, bearer);
    CHECK(who && strcmp(who->name, "alice") == 0);

    /* wrong token, wrong user, another user's token */
    basic(authz, sizeof authz, "alice", "0000");
    CHECK(check_str(u, authz) == NULL);
    basic(authz, sizeof authz, "mallory", t_op);
    CHECK(check_str(u, authz) == NULL);
    basic(authz, sizeof authz, "alice", t_view);
    CHECK(check_str(u, authz) == NULL);
    snprintf(bearer, sizeof bearer, "Bearer %.63s", t_op);
    CHECK(check_str(u, bearer) == NULL);
    CHECK(check_str(u, "Bearer ") == NULL);
    CHECK(check_str(u, "Digest abc") == NULL);
    CHECK(check_str(u, "") == NULL);
    CHECK(corral_users_check(u, NULL, 0) == NULL);
    /* not NUL-terminated: only len bytes count */
    snprintf(bearer, sizeof bearer, "Bearer %sXYZ", t_op);
    CHECK(corral_users_check(u, bearer, strlen(bearer) - 3) != NULL);
    corral_users_destroy(&u);
    CHECK(u == NULL);
}

static void test_malformed_base64_is_refused(void) {
    char path[512], err[512], tok[65];
    path_in(path, sizeof path, "users-b64");
    CHECK(corral_users_file_add(path, "carol", "admin", tok, sizeof tok, err, sizeof err) == 0);
    corral_users_t *u = corral_users_load(path, NULL, err, sizeof err);
    CHECK(u != NULL);
    if (!u) return;
    static const char *bad[] = {
        "Basic", "Basic ", "Basic Y2Fyb2w6", "Basic Y2Fyb2w6eA",      /* no token / no pad */
        "Basic Y2Fy b2w6eA==", "Basic Y2Fyb2w6eA=!", "Basic ====", "Basic Y2Fyb2w6eB==",
        "Basic Y=Fyb2w6", "Basic *!*!", "Basic Y2Fyb2w",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (check_str(u, bad[i]) != NULL) {
            fprintf(stderr, "malformed base64 #%zu accepted\n", i);
            failures++;
        }
    char authz[512];
    basic(authz, sizeof authz, "carol", tok);
    CHECK(check_str(u, authz) != NULL);
    /* the right credential spelt with non-zero padding bits: "carol:" + 64
       is 70 bytes, so the last group is "XY==" and Y's low 4 bits are pad */
    size_t n = strlen(authz);
    CHECK(n > 3 && authz[n - 1] == '=' && authz[n - 2] == '=');
    authz[n - 3] = (char)(authz[n - 3] + 1);
    CHECK(check_str(u, authz) == NULL);
    corral_users_destroy(&u);
}

static void test_file_add_refuses_bad_input(void) {
    char path[512], err[512], tok[65];
    path_in(path, sizeof path, "users-dup");
    CHECK(corral_users_file_add(path, "dave", "viewer", tok, sizeof tok, err, sizeof err) == 0);
    CHECK(corral_users_file_add(path, "dave", "admin", tok, sizeof tok, err, sizeof err) == -1);
    CHECK(strstr(err, "already exists") != NULL);
    CHECK(corral_users_file_add(path, "erin", "root", tok, sizeof tok, err, sizeof err) == -1);
    CHECK(strstr(err, "bad role") != NULL);
    CHECK(corral_users_file_add(path, "erin", "Admin", tok, sizeof tok, err, sizeof err) == -1);
    static const char *names[] = {"", "a b", "a:b", "a/b", "\xc3\xa9", "x\n",
                                  "0123456789012345678901234567890123456789012345678"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (corral_users_file_add(path, names[i], "viewer", tok, sizeof tok, err,
                                  sizeof err) != -1) {
            fprintf(stderr, "bad name #%zu accepted\n", i);
            failures++;
        }
    CHECK(corral_users_file_add(path, "frank", "viewer", tok, 10, err, sizeof err) == -1);
    corral_users_t *u = corral_users_load(path, NULL, err, sizeof err);
    CHECK(u != NULL);
    corral_users_destroy(&u);
}

static void test_load_reports_file_and_line(void) {
    char path[512], err[512];
    path_in(path, sizeof path, "users-bad");
    static const char salt[] = "00112233445566778899aabbccddeeff";
    static const char hash[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    char text[1024];
    snprintf(text, sizeof text, "# users\n\n   \nok admin %s %s # comment\nbad root %s %s\n",
             salt, hash, salt, hash);
    write_file(path, text, 0600);
    corral_users_t *u = corral_users_load(path, NULL, err, sizeof err);
    CHECK(u == NULL && strstr(err, ":5:") && strstr(err, "role") && strstr(err, path));

    struct { const char *line; const char *why; } cases[] = {
        {"x admin 0011 %s\n", "salt"},
        {"x admin %s zz\n", "hash"},
        {"x admin %s\n", "expected"},
        {"x admin %s %s extra\n", "expected"},
        {"x/y admin %s %s\n", "name"},
        {"x admin %s %s\nx viewer %s %s\n", "duplicate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, cases[i].line, salt, hash, salt, hash);
        write_file(path, text, 0600);
        u = corral_users_load(path, NULL, err, sizeof err);
        if (u || !strstr(err, cases[i].why)) {
            fprintf(stderr, "bad line case %zu: %s\n", i, u ? "loaded" : err);
            failures++;
        }
        corral_users_destroy(&u);
    }
    snprintf(text, sizeof text, "ok admin %s %s\n", salt, hash);
    write_file(path, text, 0666);
    u = corral_users_load(path, NULL, err, sizeof err);
    CHECK(u == NULL && strstr(err, "writable"));
    path_in(path, sizeof path, "no-such-file");
    u = corral_users_load(path, NULL, err, sizeof err);
    CHECK(u == NULL && strstr(err, "No such file"));
}

static void read_token(const char *path, char *tok) {
    FILE *fp = fopen(path, "r");
    tok[0] = '\0';
    if (fp) {
        if (!fgets(tok, 66, fp)) tok[0] = '\0';
        fclose(fp);
    }
    tok[strcspn(tok, "\n")] = '\0';
}

static void test_admin_token_created_then_reused(void) {
    char state[512], path[600], err[512], tok1[80], tok2[80], authz[200];
    snprintf(state, sizeof state, "%s/state/deeper", tmpdir);
    corral_users_t *u = corral_users_load("", state, err, sizeof err);
    CHECK(u != NULL);
    if (!u) {
        fprintf(stderr, "admin load: %s\n", err);
        return;
    }
    snprintf(path, sizeof path, "%s/admin.token", state);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(stat(state, &st) == 0 && (st.st_mode & 0777) == 0700);
    read_token(path, tok1);
    CHECK(strlen(tok1) == 64);
    snprintf(authz, sizeof authz, "Bearer %s", tok1);
    const corral_user_t *who = check_str(u, authz);
    CHECK(who && strcmp(who->name, "admin") == 0 && who->role == CORRAL_ROLE_ADMIN);
    basic(authz, sizeof authz, "admin", tok1);
    CHECK(check_str(u, authz) == who);
    corral_users_destroy(&u);

    /* second start: the same token still works, the file is unchanged */
    u = corral_users_load("", state, err, sizeof err);
    CHECK(u != NULL);
    read_token(path, tok2);
    CHECK(strcmp(tok1, tok2) == 0);
    basic(authz, sizeof authz, "admin", tok1);
    CHECK(u && check_str(u, authz) != NULL);
    corral_users_destroy(&u);

    /* a damaged token file is an error, not a new admin */
    write_file(path, "short\n", 0600);
    u = corral_users_load("", state, err, sizeof err);
    CHECK(u == NULL && strstr(err, "admin.token"));
}

static void test_ephemeral_users(void) {
    char path[512], err[512], tok[65], eph[65], authz[256];
    path_in(path, sizeof path, "users-eph");
    CHECK(corral_users_file_add(path, "gina", "operator", tok, sizeof tok, err, sizeof err) == 0);
    corral_users_t *u = corral_users_load(path, NULL, err, sizeof err);
    CHECK(u != NULL);
    if (!u) return;
    CHECK(corral_token_new(eph, sizeof eph) == 0);
    CHECK(corral_users_add_ephemeral(u, "a3@beta", CORRAL_ROLE_OPERATOR, eph) == 0);
    CHECK(corral_users_add_ephemeral(u, "a3@beta", CORRAL_ROLE_OPERATOR, eph) == -1);
    CHECK(corral_users_add_ephemeral(u, "gina", CORRAL_ROLE_ADMIN, eph) == -1);
    CHECK(corral_users_add_ephemeral(u, "a:b", CORRAL_ROLE_VIEWER, eph) == -1);
    CHECK(corral_users_add_ephemeral(u, "a4@beta", 7, eph) == -1);
    basic(authz, sizeof authz, "a3@beta", eph);
    const corral_user_t *who = check_str(u, authz);
    CHECK(who && strcmp(who->name, "a3@beta") == 0);
    snprintf(authz, sizeof authz, "Bearer %s", eph);
    CHECK(check_str(u, authz) == who);
    /* many come and go; a user pointer stays valid meanwhile */
    for (int i = 0; i < 100; i++) {
        char name[32];
        snprintf(name, sizeof name, "a%d@n", 100 + i);
        CHECK(corral_users_add_ephemeral(u, name, CORRAL_ROLE_VIEWER, "t") == 0);
    }
    CHECK(strcmp(who->name, "a3@beta") == 0);
    /* not a check: what a Bearer check costs with ~100 users */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 200; i++) CHECK(check_str(u, authz) == who);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("Bearer check over %d users: %.1f us\n", 102,
           ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 200 / 1e3);
    corral_users_remove(u, "a3@beta");
    CHECK(check_str(u, authz) == NULL);
    corral_users_remove(u, "gina");                     /* file users stay */
    basic(authz, sizeof authz, "gina", tok);
    CHECK(check_str(u, authz) != NULL);
    corral_users_destroy(&u);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_auth.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_token_new_is_64_hex();
    test_add_load_check_basic_and_bearer();
    test_malformed_base64_is_refused();
    test_file_add_refuses_bad_input();
    test_load_reports_file_and_line();
    test_admin_token_created_then_reused();
    test_ephemeral_users();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    if (failures) {
        fprintf(stderr, "test_auth: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_auth: all passed\n");
    return 0;
}
