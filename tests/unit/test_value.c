/* Unit tests of core/value.c: UTF-8 validation, corral_value_check, the
   readers (address parsing above all) and the packers. */
#include "corral/value.h"

#include <stdio.h>
#include <string.h>
#include <msgpack/timestamp.h>

#include "check.h"

#define UTF8(lit) corral_utf8_valid(lit, sizeof(lit) - 1)

static void test_utf8_accepts_every_boundary(void) {
    CHECK(corral_utf8_valid("", 0));
    CHECK(corral_utf8_valid(NULL, 0));
    CHECK(UTF8("plain ascii \t\n"));
    CHECK(UTF8("\0"));                        /* NUL is a valid code point */
    CHECK(UTF8("\x7F"));                      /* U+007F */
    CHECK(UTF8("\xC2\x80"));                  /* U+0080 */
    CHECK(UTF8("\xDF\xBF"));                  /* U+07FF */
    CHECK(UTF8("\xE0\xA0\x80"));              /* U+0800 */
    CHECK(UTF8("\xED\x9F\xBF"));              /* U+D7FF, just below surrogates */
    CHECK(UTF8("\xEE\x80\x80"));              /* U+E000, just above */
    CHECK(UTF8("\xEF\xBF\xBF"));              /* U+FFFF */
    CHECK(UTF8("\xF0\x90\x80\x80"));          /* U+10000 */
    CHECK(UTF8("\xF4\x8F\xBF\xBF"));          /* U+10FFFF */
    CHECK(UTF8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80!"));
}

static void test_utf8_rejects_overlongs_surrogates_and_truncation(void) {
    CHECK(!UTF8("\x80"));                     /* lone continuation */
    CHECK(!UTF8("\xBF"));
    CHECK(!UTF8("\xC0\x80"));                 /* overlong NUL */
    CHECK(!UTF8("\xC1\xBF"));                 /* overlong U+007F */
    CHECK(!UTF8("\xE0\x80\x80"));
    CHECK(!UTF8("\xE0\x9F\xBF"));             /* overlong U+07FF */
    CHECK(!UTF8("\xF0\x80\x80\x80"));
    CHECK(!UTF8("\xF0\x8F\xBF\xBF"));         /* overlong U+FFFF */
    CHECK(!UTF8("\xED\xA0\x80"));             /* U+D800 */
    CHECK(!UTF8("\xED\xBF\xBF"));             /* U+DFFF */
    CHECK(!UTF8("\xF4\x90\x80\x80"));         /* U+110000 */
    CHECK(!UTF8("\xF5\x80\x80\x80"));
    CHECK(!UTF8("\xF8\x88\x80\x80\x80"));     /* 5-byte form */
    CHECK(!UTF8("\xFC\x84\x80\x80\x80\x80"));
    CHECK(!UTF8("\xFE"));
    CHECK(!UTF8("\xFF"));
    CHECK(!UTF8("\xC3"));                     /* truncated at the end */
    CHECK(!UTF8("ab\xE2\x82"));
    CHECK(!UTF8("\xF0\x9F\x98"));
    CHECK(!UTF8("\xE2\x41\x82"));             /* continuation replaced by ASCII */
    CHECK(!UTF8("\xC3\xC3\xA9"));
    /* The length is honoured: a valid prefix of an invalid buffer. */
    CHECK(corral_utf8_valid("ab\xFF", 2));
    CHECK(!corral_utf8_valid("\xE2\x82\xAC", 2));
}

/* ---- objects built by hand: no packer, no unpacker depth limit ---------- */

static msgpack_object str_obj(const char *s, size_t n) {
    msgpack_object o = {.type = MSGPACK_OBJECT_STR};
    o.via.str.ptr = s;
    o.via.str.size = (uint32_t)n;
    return o;
}

static msgpack_object cstr_obj(const char *s) { return str_obj(s, strlen(s)); }

static msgpack_object int_obj(int64_t v) {
    msgpack_object o;
    if (v >= 0) {
        o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o.via.u64 = (uint64_t)v;
    } else {
        o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o.via.i64 = v;
    }
    return o;
}

#define LEVELS_MAX 200

/* params = [ x ] where x is `levels` nested containers (arrays, or maps with
   one member "k") around nil. */
typedef struct {
    msgpack_object objs[LEVELS_MAX + 2];
    msgpack_object_kv kvs[LEVELS_MAX + 1];
} nest_t;

static msgpack_object *nest(nest_t *t, int levels, bool maps) {
    t->objs[levels + 1].type = MSGPACK_OBJECT_NIL;
    for (int i = levels; i >= 0; i--) {
        msgpack_object *o = &t->objs[i];
        if (maps && i > 0) {
            o->type = MSGPACK_OBJECT_MAP;
            o->via.map.size = 1;
            o->via.map.ptr = &t->kvs[i];
            t->kvs[i].key = cstr_obj("k");
            t->kvs[i].val = t->objs[i + 1];
        } else {
            o->type = MSGPACK_OBJECT_ARRAY;
            o->via.array.size = 1;
            o->via.array.ptr = &t->objs[i + 1];
        }
    }
    return &t->objs[0];
}

static int check_code(const msgpack_object *o, int max_depth) {
    corral_fault_t f = {0};
    int rc = corral_value_check(o, max_depth, &f);
    return rc == 0 ? 0 : f.code;
}

static void test_check_depth_counts_containers_not_params(void) {
    static nest_t t;
    CHECK(check_code(nest(&t, 64, false), 64) == 0);
    CHECK(check_code(nest(&t, 65, false), 64) == CORRAL_F_PARAMS);
    CHECK(check_code(nest(&t, 64, true), 64) == 0);
    CHECK(check_code(nest(&t, 65, true), 64) == CORRAL_F_PARAMS);
    CHECK(check_code(nest(&t, 0, false), 0) == 0);         /* [nil] at max 0 */
    CHECK(check_code(nest(&t, 1, false), 0) == CORRAL_F_PARAMS);
    CHECK(check_code(nest(&t, 1, false), 1) == 0);
    corral_fault_t f;
    CHECK(corral_value_check(nest(&t, 65, false), 64, &f) == -1 && strstr(f.msg, "64") != NULL);
}

static void test_check_types(void) {
    msgpack_object params = {.type = MSGPACK_OBJECT_ARRAY};
    msgpack_object el[1];
    params.via.array.size = 1;
    params.via.array.ptr = el;
    el[0] = (msgpack_object){.type = MSGPACK_OBJECT_FLOAT32};
    CHECK(check_code(&params, 64) == CORRAL_F_PARAMS);
    el[0] = (msgpack_object){.type = MSGPACK_OBJECT_FLOAT64};
    CHECK(check_code(&params, 64) == 0);
    el[0] = str_obj("caf\xC3\xA9", 5);
    CHECK(check_code(&params, 64) == 0);
    el[0] = str_obj("bad \xC3(", 6);
    CHECK(check_code(&params, 64) == CORRAL_F_PARSE);
    el[0] = (msgpack_object){.type = (msgpack_object_type)0x42};
    CHECK(check_code(&params, 64) == CORRAL_F_PARAMS);
    /* ext: only a well-formed timestamp (type -1, 4/8/12 bytes, nsec < 1e9). */
    static const char ts4[] = {0, 0, 0, 1}, ts8_bad_ns[] = {(char)0xFF, (char)0xFF, (char)0xFF, (char)0xFC, 0, 0, 0, 0};
    el[0] = (msgpack_object){.type = MSGPACK_OBJECT_EXT};
    el[0].via.ext.type = -1;
    el[0].via.ext.ptr = ts4;
    el[0].via.ext.size = 4;
    CHECK(check_code(&params, 64) == 0);
    el[0].via.ext.size = 3;
    CHECK(check_code(&params, 64) == CORRAL_F_PARAMS);
    el[0].via.ext.type = 1;
    el[0].via.ext.size = 4;
    CHECK(check_code(&params, 64) == CORRAL_F_PARAMS);
    el[0].via.ext.type = -1;
    el[0].via.ext.ptr = ts8_bad_ns;          /* nsec 0x3FFFFFFF: not a time */
    el[0].via.ext.size = 8;
    CHECK(check_code(&params, 64) == CORRAL_F_PARAMS);
    /* struct member names: strings, valid UTF-8. */
    msgpack_object_kv kv = {.key = int_obj(1), .val = int_obj(2)};
    el[0] = (msgpack_object){.type = MSGPACK_OBJECT_MAP};
    el[0].via.map.size = 1;
    el[0].via.map.ptr = &kv;
    CHECK(check_code(&params, 64) == CORRAL_F_PARAMS);
    kv.key = str_obj("\xFF", 1);
    CHECK(check_code(&params, 64) == CORRAL_F_PARSE);
    kv.key = cstr_obj("k");
    kv.val = str_obj("\xED\xA0\x80", 3);
    CHECK(check_code(&params, 64) == CORRAL_F_PARSE);
    kv.val = (msgpack_object){.type = MSGPACK_OBJECT_NIL};
    CHECK(check_code(&params, 64) == 0);
}

static bool addr(msgpack_object o, uint64_t *v) { return corral_value_address(&o, v); }

static void test_address_forms(void) {
    uint64_t v = 0;
    CHECK(addr(cstr_obj("0x10"), &v) && v == 16);
    CHECK(addr(cstr_obj("0X1f"), &v) && v == 31);
    CHECK(addr(cstr_obj("0x7ffdDEADbeef"), &v) && v == 0x7ffddeadbeefULL);
    CHECK(addr(cstr_obj("0xffffffffffffffff"), &v) && v == UINT64_MAX);
    CHECK(addr(cstr_obj("0x0000000000000001"), &v) && v == 1);
    CHECK(addr(cstr_obj("31"), &v) && v == 31);
    CHECK(addr(cstr_obj("0"), &v) && v == 0);
    CHECK(addr(cstr_obj("18446744073709551615"), &v) && v == UINT64_MAX);
    CHECK(addr(int_obj(4096), &v) && v == 4096);
    CHECK(addr(int_obj(-1), &v) && v == UINT64_MAX);        /* i8 of an address >= 2^63 */
    CHECK(addr(int_obj(INT64_MIN), &v) && v == 0x8000000000000000ULL);
    msgpack_object big = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER};
    big.via.u64 = UINT64_MAX;
    CHECK(addr(big, &v) && v == UINT64_MAX);
    v = 12345;
    CHECK(!addr(cstr_obj("18446744073709551616"), &v));
    CHECK(!addr(cstr_obj("0x10000000000000000"), &v));
    CHECK(!addr(cstr_obj("0x"), &v));
    CHECK(!addr(cstr_obj(""), &v));
    CHECK(!addr(cstr_obj("-1"), &v));
    CHECK(!addr(cstr_obj("+1"), &v));
    CHECK(!addr(cstr_obj(" 1"), &v));
    CHECK(!addr(cstr_obj("1 "), &v));
    CHECK(!addr(cstr_obj("0x1g"), &v));
    CHECK(!addr(cstr_obj("1f"), &v));
    CHECK(!addr(cstr_obj("0b101"), &v));
    CHECK(!addr(cstr_obj("1e3"), &v));
    CHECK(!addr(cstr_obj("000000000000000000001"), &v));   /* 21 characters */
    CHECK(!addr(str_obj("12\0" "34", 5), &v));                /* NUL inside */
    CHECK(!addr(str_obj("0x1\0", 4), &v));
    CHECK(!addr((msgpack_object){.type = MSGPACK_OBJECT_BOOLEAN}, &v));
    CHECK(!addr((msgpack_object){.type = MSGPACK_OBJECT_FLOAT64}, &v));
    CHECK(!addr((msgpack_object){.type = MSGPACK_OBJECT_NIL}, &v));
    CHECK(!corral_value_address(NULL, &v));
    CHECK(v == 12345);                                      /* untouched on failure */
}

static void test_int_bool_str_readers(void) {
    int64_t i = 0;
    msgpack_object o = int_obj(INT64_MAX);
    CHECK(corral_value_int(&o, &i) && i == INT64_MAX);
    o = int_obj(INT64_MIN);
    CHECK(corral_value_int(&o, &i) && i == INT64_MIN);
    o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    o.via.u64 = (uint64_t)INT64_MAX + 1;
    CHECK(!corral_value_int(&o, &i));
    o = cstr_obj("1");
    CHECK(!corral_value_int(&o, &i) && !corral_value_int(NULL, &i));
    bool b = false;
    o = (msgpack_object){.type = MSGPACK_OBJECT_BOOLEAN, .via.boolean = true};
    CHECK(corral_value_bool(&o, &b) && b);
    o = int_obj(1);
    CHECK(!corral_value_bool(&o, &b));
    char buf[4];
    o = cstr_obj("abc");
    CHECK(corral_value_strcpy(&o, buf, sizeof buf) == 0 && strcmp(buf, "abc") == 0);
    o = cstr_obj("abcd");
    CHECK(corral_value_strcpy(&o, buf, sizeof buf) == -1);   /* no room for the NUL */
    o = str_obj("a\0b", 3);
    CHECK(corral_value_strcpy(&o, buf, sizeof buf) == -1);
    o = int_obj(3);
    CHECK(corral_value_strcpy(&o, buf, sizeof buf) == -1);
    o = cstr_obj("stop");
    CHECK(corral_value_streq(&o, "stop") && !corral_value_streq(&o, "sto") && !corral_value_streq(&o, "stopp"));
    CHECK(!corral_value_streq(NULL, "x"));
    const char *s;
    size_t n;
    CHECK(corral_value_str(&o, &s, &n) && n == 4 && memcmp(s, "stop", 4) == 0);
}

static void test_members_and_params(void) {
    msgpack_object_kv kv[3] = {
        {.key = int_obj(5), .val = int_obj(0)},
        {.key = cstr_obj("argv"), .val = int_obj(1)},
        {.key = cstr_obj("arg"), .val = int_obj(2)},
    };
    msgpack_object m = {.type = MSGPACK_OBJECT_MAP};
    m.via.map.size = 3;
    m.via.map.ptr = kv;
    const msgpack_object *v = corral_value_member(&m, "arg");
    CHECK(v && v->via.u64 == 2);
    v = corral_value_member(&m, "argv");
    CHECK(v && v->via.u64 == 1);
    CHECK(corral_value_member(&m, "ar") == NULL && corral_value_member(NULL, "arg") == NULL);
    msgpack_object el[2] = {int_obj(7), cstr_obj("x")};
    msgpack_object p = {.type = MSGPACK_OBJECT_ARRAY};
    p.via.array.size = 2;
    p.via.array.ptr = el;
    CHECK(corral_param_count(&p) == 2 && corral_param_count(NULL) == 0 && corral_param_count(&m) == 0);
    CHECK(corral_param(&p, 1) == &el[1] && corral_param(&p, 2) == NULL && corral_param(NULL, 0) == NULL);
}

static void test_packers_round_trip(void) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    corral_pack_kv_cstr(&pk, "s", "str");
    corral_pack_kv_int(&pk, "i", -40);
    corral_pack_kv_bool(&pk, "b", true);
    corral_pack_kv_double(&pk, "d", 0.5);
    corral_pack_kv_time(&pk, "t", -86400 * 365, 7);
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object o;
    CHECK(msgpack_unpack(sb.data, sb.size, NULL, &z, &o) == MSGPACK_UNPACK_SUCCESS);
    CHECK(corral_value_streq(corral_value_member(&o, "s"), "str"));
    int64_t i;
    CHECK(corral_value_int(corral_value_member(&o, "i"), &i) && i == -40);
    bool b;
    CHECK(corral_value_bool(corral_value_member(&o, "b"), &b) && b);
    const msgpack_object *d = corral_value_member(&o, "d");
    CHECK(d && d->type == MSGPACK_OBJECT_FLOAT64 && d->via.f64 == 0.5);
    msgpack_timestamp ts;
    const msgpack_object *t = corral_value_member(&o, "t");
    CHECK(t && msgpack_object_to_timestamp(t, &ts) && ts.tv_sec == -86400 * 365 && ts.tv_nsec == 7);
    corral_fault_t f;
    CHECK(corral_value_check(&o, 1, &f) == 0);
    /* corral_pack_object copies a value byte for byte. */
    msgpack_sbuffer sb2;
    msgpack_sbuffer_init(&sb2);
    msgpack_packer pk2;
    msgpack_packer_init(&pk2, &sb2, msgpack_sbuffer_write);
    corral_pack_object(&pk2, &o);
    CHECK(sb2.size == sb.size && memcmp(sb2.data, sb.data, sb.size) == 0);
    msgpack_sbuffer_destroy(&sb2);
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
}

static void test_fault_set(void) {
    corral_fault_t f;
    CHECK(corral_fault_set(&f, CORRAL_F_NOENT, "target %s: %d", "t3@alpha", 7) == -1);
    CHECK(f.code == 1 && strcmp(f.msg, "target t3@alpha: 7") == 0);
    char big[CORRAL_FAULT_MAX * 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    corral_fault_set(&f, 2, "%s", big);
    CHECK(strlen(f.msg) == CORRAL_FAULT_MAX - 1);
    CHECK(corral_fault_set(NULL, 2, "ignored") == -1);
}

int main(void) {
    test_utf8_accepts_every_boundary();
    test_utf8_rejects_overlongs_surrogates_and_truncation();
    test_check_depth_counts_containers_not_params();
    test_check_types();
    test_address_forms();
    test_int_bool_str_readers();
    test_members_and_params();
    test_packers_round_trip();
    test_fault_set();
    if (failures) {
        fprintf(stderr, "test_value: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_value: all checks passed\n");
    return 0;
}
