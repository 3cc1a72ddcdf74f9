/* tests for actors/results.c: append, page, reload, torn tails. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "actors/results.h"
#include "corral/value.h"

#include "check.h"

static char dir[] = "/tmp/test_results_XXXXXX";

static void add_int(corral_results_t *r, int64_t v) {
    corral_fault_t f;
    msgpack_packer *pk = corral_results_begin(r);
    msgpack_pack_map(pk, 1);
    corral_pack_kv_int(pk, "i", v);
    CHECK(corral_results_commit(r, 1700000000123, &f) == v);
}

/* Page from after, max; checks seqs are consecutive and data i == seq. */
static int64_t page(corral_results_t *r, int64_t after, int64_t max, bool ended, int *got, bool *done) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    corral_fault_t f;
    CHECK(corral_results_page(r, &pk, after, max, ended, &f) == 0);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    CHECK(msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *res = corral_value_member(&u.data, "results");
    int64_t next = -1, seq, i;
    CHECK(res && res->type == MSGPACK_OBJECT_ARRAY);
    *got = res ? (int)res->via.array.size : 0;
    for (int k = 0; k < *got; k++) {
        const msgpack_object *e = &res->via.array.ptr[k];
        CHECK(corral_value_int(corral_value_member(e, "seq"), &seq) && seq == after + 1 + k);
        CHECK(corral_value_int(corral_value_member(corral_value_member(e, "data"), "i"), &i) && i == seq);
        const msgpack_object *t = corral_value_member(e, "time");
        CHECK(t && t->type == MSGPACK_OBJECT_EXT);
    }
    CHECK(corral_value_int(corral_value_member(&u.data, "next"), &next));
    CHECK(corral_value_bool(corral_value_member(&u.data, "done"), done));
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    return next;
}

static void test_append_page_and_reload(void) {
    char err[256];
    corral_results_t *r = corral_results_open(dir, true, err, sizeof err);
    CHECK(r);
    for (int i = 1; i <= 10000; i++) {
        add_int(r, i);
        if (i % 100 == 0) CHECK(corral_results_flush(r) == 0);
    }
    int got, total = 0;
    bool done;
    int64_t after = 0;
    do {
        after = page(r, after, 999, false, &got, &done);
        total += got;
        CHECK(!done);
    } while (got > 0);
    CHECK(total == 10000 && after == 10000);
    corral_results_destroy(&r);
    CHECK(r == NULL);

    r = corral_results_open(dir, false, err, sizeof err);
    CHECK(r && corral_results_count(r) == 10000);
    after = page(r, 9990, 100, true, &got, &done);
    CHECK(got == 10 && after == 10000 && done);
    after = page(r, 20000, 100, true, &got, &done);
    CHECK(got == 0 && after == 10000 && done);
    corral_results_destroy(&r);
}

static void test_torn_tail_is_cut(void) {
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, CORRAL_RESULTS_FILE);
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK(write(fd, "\x20\0\0\0\1\2\3", 7) == 7); /* half a header: what a crash leaves */
    close(fd);
    corral_results_t *r = corral_results_open(dir, true, err, sizeof err);
    CHECK(r && corral_results_count(r) == 10000);
    add_int(r, 10001);
    corral_results_destroy(&r);
    r = corral_results_open(dir, false, err, sizeof err);
    CHECK(r && corral_results_count(r) == 10001);
    corral_results_destroy(&r);
}

static void test_bounds(void) {
    char err[256];
    corral_results_t *r = corral_results_open(dir, true, err, sizeof err);
    corral_fault_t f;
    char *big = calloc(1, CORRAL_RESULT_MAX + 16);
    msgpack_packer *pk = corral_results_begin(r);
    msgpack_pack_bin(pk, CORRAL_RESULT_MAX + 1);
    msgpack_pack_bin_body(pk, big, CORRAL_RESULT_MAX + 1);
    CHECK(corral_results_commit(r, 0, &f) == -1 && f.code == CORRAL_F_PARAMS);
    free(big);
    CHECK(corral_results_count(r) == 10001);
    int got;
    bool done;
    page(r, 0, 1000000, false, &got, &done);
    CHECK(got == CORRAL_RESULTS_PAGE_MAX);
    corral_results_destroy(&r);
    CHECK(corral_results_open("/nonexistent/dir", true, err, sizeof err) == NULL && strstr(err, "No such file"));
}

static void test_speed(void) {
    char err[256];
    corral_results_t *r = corral_results_open(dir, true, err, sizeof err);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int n = 500000;
    corral_fault_t f;
    for (int i = 0; i < n; i++) {
        msgpack_packer *pk = corral_results_begin(r);
        msgpack_pack_map(pk, 2);
        corral_pack_kv_int(pk, "seq", i);
        corral_pack_kv_cstr(pk, "symbol", "main");
        corral_results_commit(r, 0, &f);
        if (i % 256 == 255) corral_results_flush(r);
    }
    corral_results_sync(r);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("results: %.0f records/s written (write per 256, one fdatasync)\n", n / s);
    corral_results_destroy(&r);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    test_append_page_and_reload();
    test_torn_tail_is_cut();
    test_bounds();
    test_speed();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) failures++;
    if (failures) fprintf(stderr, "%d failures\n", failures);
    return failures != 0;
}
