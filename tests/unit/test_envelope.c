/* Unit tests: the envelope and the msgpack reader (core/envelope.c,
   core/unpack.c): round trips of every kind and value type, strict
   validation, and truncated, oversized and garbage input rejected cleanly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "corral/envelope.h"
#include "corral/unpack.h"
#include "corral/value.h"

#include "check.h"

static void pack_all_types(msgpack_packer *pk) {
    msgpack_pack_array(pk, 11);
    msgpack_pack_nil(pk);
    msgpack_pack_true(pk);
    msgpack_pack_int64(pk, INT64_MIN);
    msgpack_pack_uint64(pk, UINT64_MAX);
    msgpack_pack_double(pk, 3.25);
    corral_pack_cstr(pk, "ünï");
    msgpack_pack_bin(pk, 3);
    msgpack_pack_bin_body(pk, "\0\1\2", 3);
    corral_pack_time(pk, 1764800000, 5);
    msgpack_pack_map(pk, 1);
    corral_pack_kv_int(pk, "k", -5);
    msgpack_pack_array(pk, 0);
    corral_pack_str(pk, "", 0);
}

static void test_request_round_trip(void) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    corral_env_request_begin(&pk, CORRAL_K_REQUEST, 77, "t3@alpha", 8, "alice", 5, CORRAL_ROLE_OPERATOR,
                             123456789, "target.info", 11);
    pack_all_types(&pk);
    msgpack_zone z;
    msgpack_zone_init(&z, 256);
    corral_env_t env;
    corral_fault_t f;
    CHECK(corral_env_decode(sb.data, sb.size, &z, 64, &env, &f) == 0);
    CHECK(env.kind == CORRAL_K_REQUEST && env.id == 77 && env.dl == 123456789);
    CHECK(env.to_len == 8 && memcmp(env.to, "t3@alpha", 8) == 0);
    CHECK(env.user_len == 5 && memcmp(env.user, "alice", 5) == 0 && env.role == CORRAL_ROLE_OPERATOR);
    CHECK(env.m_len == 11 && memcmp(env.m, "target.info", 11) == 0);
    CHECK(env.p && env.p->via.array.size == 11);
    CHECK(env.p->via.array.ptr[2].via.i64 == INT64_MIN);
    CHECK(env.p->via.array.ptr[3].via.u64 == UINT64_MAX);
    CHECK(env.p->via.array.ptr[4].via.f64 == 3.25);
    CHECK(env.p->via.array.ptr[7].type == MSGPACK_OBJECT_EXT);
    /* The envelope is a fixmap of 8, so the broker can stamp `from`. */
    CHECK((unsigned char)sb.data[0] == 0x88);
    /* Re-pack the params and compare bytes: nothing changed in transit. */
    msgpack_sbuffer a, b;
    msgpack_sbuffer_init(&a);
    msgpack_sbuffer_init(&b);
    msgpack_packer pa, pb;
    msgpack_packer_init(&pa, &a, msgpack_sbuffer_write);
    msgpack_packer_init(&pb, &b, msgpack_sbuffer_write);
    pack_all_types(&pa);
    msgpack_pack_object(&pb, *env.p);
    CHECK(a.size == b.size && memcmp(a.data, b.data, a.size) == 0);
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
    /* Every truncation is rejected, never read past. */
    for (size_t n = 0; n < sb.size; n++) {
        msgpack_zone_clear(&z);
        CHECK(corral_env_decode(sb.data, n, &z, 64, &env, &f) < 0);
    }
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
}

static void test_reply_and_fault(void) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    corral_env_reply_begin(&pk, 9);
    corral_pack_cstr(&pk, "done");
    msgpack_zone z;
    msgpack_zone_init(&z, 256);
    corral_env_t env;
    corral_fault_t f;
    CHECK(corral_env_decode(sb.data, sb.size, &z, 64, &env, &f) == 0);
    CHECK(env.kind == CORRAL_K_REPLY && env.id == 9 && env.r && !env.is_fault);
    msgpack_sbuffer_clear(&sb);
    corral_env_pack_fault(&pk, 10, CORRAL_F_NOENT, "no such target t9@x", 19);
    CHECK(corral_env_decode(sb.data, sb.size, &z, 64, &env, &f) == 0);
    CHECK(env.is_fault && env.fcode == 1 && env.fstr_len == 19 && env.id == 10);
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
}

/* Decode hand-made bytes; expect failure. */
static void expect_bad(const char *what, const char *bytes, size_t n) {
    msgpack_zone z;
    msgpack_zone_init(&z, 256);
    corral_env_t env;
    corral_fault_t f = {0};
    int rc = corral_env_decode(bytes, n, &z, 64, &env, &f);
    if (rc == 0) fprintf(stderr, "accepted bad envelope: %s\n", what);
    CHECK(rc < 0 && f.code == CORRAL_F_REQUEST);
    msgpack_zone_destroy(&z);
}

static void test_bad_envelopes(void) {
    expect_bad("empty", "", 0);
    expect_bad("not a map", "\x93\x01\x02\x03", 4);
    expect_bad("no version", "\x81\xa1k\x00", 4);
    expect_bad("wrong version", "\x82\xa1v\x02\xa1k\x01", 7);
    expect_bad("bad kind", "\x82\xa1v\x01\xa1k\x09", 7);
    expect_bad("reply without r", "\x83\xa1v\x01\xa1k\x01\xa2id\x01", 11);
    expect_bad("request without to", "\x84\xa1v\x01\xa1k\x00\xa1m\xa1x\xa1p\x90", 14);
    expect_bad("trailing bytes", "\x83\xa1v\x01\xa1k\x01\xa1r\xc0\xc0", 11);
    expect_bad("non-string key", "\x81\x01\x01", 3);
    expect_bad("id negative", "\x84\xa1v\x01\xa1k\x01\xa2id\xff\xa1r\xc0", 14);
    expect_bad("to too long", "\x85\xa1v\x01\xa1k\x00\xa2to\xd9\xff", 12);
    /* a map that claims 2^32-1 members in 6 bytes: refused before allocating */
    expect_bad("lying map length", "\xdf\xff\xff\xff\xff\x00", 6);
    expect_bad("lying str length", "\x81\xdb\xff\xff\xff\xff", 6);
    expect_bad("reserved byte", "\xc1", 1);
    /* random garbage never crashes and never decodes as a request */
    srand(42);
    char buf[64];
    for (int i = 0; i < 200000; i++) {
        size_t n = (size_t)(rand() % (int)sizeof buf);
        for (size_t k = 0; k < n; k++) buf[k] = (char)rand();
        msgpack_zone z;
        msgpack_zone_init(&z, 256);
        corral_env_t env;
        corral_fault_t f;
        if (corral_env_decode(buf, n, &z, 64, &env, &f) == 0) CHECK(env.kind != CORRAL_K_REQUEST || env.to_len);
        msgpack_zone_destroy(&z);
    }
}

static void test_unpack_depth(void) {
    /* 200 nested arrays: msgpack-c's own unpacker stops at 32. */
    char buf[256];
    for (int i = 0; i < 200; i++) buf[i] = (char)0x91;
    buf[200] = 0x01;
    msgpack_zone z;
    msgpack_zone_init(&z, 4096);
    msgpack_object o;
    CHECK(corral_unpack(buf, 201, &z, 200, &o) == MSGPACK_UNPACK_SUCCESS);
    CHECK(corral_unpack(buf, 201, &z, 199, &o) == MSGPACK_UNPACK_PARSE_ERROR);
    CHECK(corral_unpack(buf, 200, &z, 300, &o) == MSGPACK_UNPACK_CONTINUE);
    corral_fault_t f;
    CHECK(corral_unpack(buf, 201, &z, 300, &o) == MSGPACK_UNPACK_SUCCESS);
    CHECK(corral_value_check(&o, 64, &f) < 0 && f.code == CORRAL_F_PARAMS);
    msgpack_zone_destroy(&z);
}

static void test_roles(void) {
    CHECK(corral_role_parse("admin", 5) == CORRAL_ROLE_ADMIN);
    CHECK(corral_role_parse("viewer", 6) == CORRAL_ROLE_VIEWER);
    CHECK(corral_role_parse("operator", 8) == CORRAL_ROLE_OPERATOR);
    CHECK(corral_role_parse("root", 4) == CORRAL_ROLE_NONE);
    CHECK(corral_role_parse("admi", 4) == CORRAL_ROLE_NONE);
    CHECK(strcmp(corral_role_name(CORRAL_ROLE_OPERATOR), "operator") == 0);
}

int main(void) {
    test_request_round_trip();
    test_reply_and_fault();
    test_bad_envelopes();
    test_unpack_depth();
    test_roles();
    if (failures) {
        fprintf(stderr, "test_envelope: %d failures\n", failures);
        return 1;
    }
    printf("test_envelope: all passed\n");
    return 0;
}
