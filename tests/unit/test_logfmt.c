/* tests for actors/logfmt.c: logfmt lines into msgpack maps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "actors/logfmt.h"
#include "corral/value.h"

#include "check.h"

/* Parse s; return the number of members and leave the map in *out. */
static msgpack_sbuffer sb; /* kept: unpacked strings point into it */

static int parse(const char *s, msgpack_unpacked *out) {
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int n = corral_logfmt_pack(&pk, s, strlen(s));
    if (n > 0) {
        size_t off = 0;
        if (msgpack_unpack_next(out, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS || off != sb.size) n = -99;
    } else if (sb.size != 0) {
        n = -98; /* nothing may be packed for a skipped line */
    }
    return n;
}

static void test_types_of_values(void) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    CHECK(parse("hits=42 symbol=main note=\"two words\" ratio=0.5 neg=-7 big=99999999999999999999 flag", &u) == 7);
    const msgpack_object *m = &u.data;
    int64_t v;
    CHECK(corral_value_int(corral_value_member(m, "hits"), &v) && v == 42);
    CHECK(corral_value_int(corral_value_member(m, "neg"), &v) && v == -7);
    CHECK(corral_value_streq(corral_value_member(m, "symbol"), "main"));
    CHECK(corral_value_streq(corral_value_member(m, "note"), "two words"));
    CHECK(corral_value_streq(corral_value_member(m, "big"), "99999999999999999999"));
    const msgpack_object *r = corral_value_member(m, "ratio");
    CHECK(r && r->type == MSGPACK_OBJECT_FLOAT64 && r->via.f64 == 0.5);
    bool b;
    CHECK(corral_value_bool(corral_value_member(m, "flag"), &b) && b);
    msgpack_unpacked_destroy(&u);
}

static void test_quoted_escapes_and_numbers_stay_strings(void) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    CHECK(parse("a=\"say \\\"hi\\\"\\n\" b=\"42\" c= d=1e3 e=nan f=1.2.3 a2=x=y", &u) == 7);
    const msgpack_object *m = &u.data;
    CHECK(corral_value_streq(corral_value_member(m, "a"), "say \"hi\"\n"));
    CHECK(corral_value_streq(corral_value_member(m, "b"), "42"));
    CHECK(corral_value_streq(corral_value_member(m, "c"), ""));
    const msgpack_object *d = corral_value_member(m, "d");
    CHECK(d && d->type == MSGPACK_OBJECT_FLOAT64 && d->via.f64 == 1000.0);
    CHECK(corral_value_streq(corral_value_member(m, "e"), "nan"));
    CHECK(corral_value_streq(corral_value_member(m, "f"), "1.2.3"));
    CHECK(corral_value_streq(corral_value_member(m, "a2"), "x=y"));
    msgpack_unpacked_destroy(&u);
}

static void test_duplicate_key_last_wins(void) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    CHECK(parse("k=1 k=2", &u) == 1);
    int64_t v;
    CHECK(corral_value_int(corral_value_member(&u.data, "k"), &v) && v == 2);
    msgpack_unpacked_destroy(&u);
}

static void test_garbage_is_refused(void) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    const char *bad[] = {"=x", "a=\"unterminated", "a=\"x\"y", "a=b\"c", "\"q\"=1", "a=\"\\q\"",
                         "k=\xff\xfe", "a=1 =2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(parse(bad[i], &u) == -1);
    CHECK(parse("", &u) == 0);
    CHECK(parse("   \t ", &u) == 0);
    char *huge = malloc(CORRAL_LOGFMT_LINE_MAX + 2);
    memset(huge, 'a', CORRAL_LOGFMT_LINE_MAX + 1);
    huge[CORRAL_LOGFMT_LINE_MAX + 1] = '\0';
    CHECK(parse(huge, &u) == -1);
    free(huge);
    msgpack_unpacked_destroy(&u);
}

static void test_random_bytes_never_crash(void) {
    char line[256];
    unsigned seed = 12345;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    for (int i = 0; i < 200000; i++) {
        size_t n = (size_t)(rand_r(&seed) % (sizeof line - 1));
        const char alphabet[] = "ab=\" \\\t1.-e\xc3\xa9\xff";
        for (size_t k = 0; k < n; k++) line[k] = alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
        line[n] = '\0';
        int r = parse(line, &u);
        CHECK(r >= -1);
    }
    msgpack_unpacked_destroy(&u);
}

static void test_speed(void) {
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const char *line = "seq=12345 symbol=main hits=42 note=\"two words\" ratio=0.25";
    size_t n = strlen(line);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int count = 1000000;
    for (int i = 0; i < count; i++) {
        sb.size = 0;
        corral_logfmt_pack(&pk, line, n);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("logfmt: %.0f records/s parsed\n", count / s);
    msgpack_sbuffer_destroy(&sb);
}

int main(void) {
    test_types_of_values();
    test_quoted_escapes_and_numbers_stay_strings();
    test_duplicate_key_last_wins();
    test_garbage_is_refused();
    test_random_bytes_never_crash();
    test_speed();
    if (failures) fprintf(stderr, "%d failures\n", failures);
    return failures != 0;
}
