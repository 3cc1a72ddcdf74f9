/* Unit tests of gateway/xmlrpc_*.c: XML-RPC methodCall -> msgpack and
   msgpack -> methodResponse. Each check compares real bytes or fault codes;
   a failure prints where and what, and the program exits non-zero. */
#include "corral/xmlrpc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define MAX_DEPTH 64

/* ---- helpers ------------------------------------------------------------ */

typedef struct {
    int rc;
    corral_fault_t f;
    char method[CORRAL_METHOD_NAME_MAX + 1];
    msgpack_sbuffer sb;
} dec_t;

static void dec_len(dec_t *d, const char *xml, size_t len, int depth) {
    msgpack_sbuffer_init(&d->sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &d->sb, msgpack_sbuffer_write);
    memset(&d->f, 0, sizeof d->f);
    d->rc = corral_xmlrpc_decode_call(xml, len, depth, d->method, sizeof d->method, &pk, &d->f);
}

static void dec(dec_t *d, const char *xml) { dec_len(d, xml, strlen(xml), MAX_DEPTH); }

static void dec_free(dec_t *d) { msgpack_sbuffer_destroy(&d->sb); }

/* A methodCall of method "m" with one param whose <value> holds inner. */
static char *call1(const char *inner) {
    const char *a = "<?xml version=\"1.0\"?>\n<methodCall><methodName>m</methodName>"
                    "<params><param><value>";
    const char *b = "</value></param></params></methodCall>\n";
    size_t n = strlen(a) + strlen(inner) + strlen(b) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%s%s%s", a, inner, b);
    return s;
}

static void hexdump(const char *label, const char *p, size_t n) {
    fprintf(stderr, "  %s (%zu bytes):", label, n);
    for (size_t i = 0; i < n && i < 64; i++) fprintf(stderr, " %02x", (unsigned char)p[i]);
    fprintf(stderr, "%s\n", n > 64 ? " ..." : "");
}

/* Expected msgpack is built with a packer in the test itself. */
typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} exp_t;

static msgpack_packer *exp_begin(exp_t *e, uint32_t nparams) {
    msgpack_sbuffer_init(&e->sb);
    msgpack_packer_init(&e->pk, &e->sb, msgpack_sbuffer_write);
    msgpack_pack_array(&e->pk, nparams);
    return &e->pk;
}

static void expect_doc(int line, const char *doc, exp_t *e) {
    dec_t d;
    dec(&d, doc);
    if (d.rc != 0) {
        failures++;
        fprintf(stderr, "line %d: decode failed (%d %s)\n  doc: %.200s\n", line, d.f.code, d.f.msg, doc);
    } else if (d.sb.size != e->sb.size || memcmp(d.sb.data, e->sb.data, d.sb.size) != 0) {
        failures++;
        fprintf(stderr, "line %d: decoded bytes differ\n  doc: %.200s\n", line, doc);
        hexdump("got", d.sb.data, d.sb.size);
        hexdump("want", e->sb.data, e->sb.size);
    }
    dec_free(&d);
    msgpack_sbuffer_destroy(&e->sb);
}

/* <value>inner</value> must decode to one param packed by the statement. */
#define EXPECT_VALUE(inner, PACK)            \
    do {                                     \
        exp_t e_;                            \
        msgpack_packer *pk = exp_begin(&e_, 1); \
        PACK;                                \
        char *doc_ = call1(inner);           \
        expect_doc(__LINE__, doc_, &e_);     \
        free(doc_);                          \
    } while (0)

static void expect_fault_len(int line, const char *doc, size_t len, int depth, int code,
                             const char *part) {
    dec_t d;
    dec_len(&d, doc, len, depth);
    if (d.rc != -1 || d.f.code != code || (part && !strstr(d.f.msg, part))) {
        failures++;
        fprintf(stderr, "line %d: want fault %d '%s', got rc %d fault %d '%s'\n  doc: %.200s\n", line,
                code, part ? part : "", d.rc, d.f.code, d.f.msg, doc);
    }
    if (d.rc == -1 && !corral_utf8_valid(d.f.msg, strlen(d.f.msg))) {
        failures++;
        fprintf(stderr, "line %d: fault sentence is not UTF-8\n", line);
    }
    dec_free(&d);
}

#define EXPECT_FAULT(doc, code, part) expect_fault_len(__LINE__, doc, strlen(doc), MAX_DEPTH, code, part)

#define EXPECT_VALUE_FAULT(inner, code, part)    \
    do {                                         \
        char *doc_ = call1(inner);               \
        EXPECT_FAULT(doc_, code, part);          \
        free(doc_);                              \
    } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- decoding scalars --------------------------------------------------- */

static void test_ints_decode_with_their_ranges(void) {
    EXPECT_VALUE("<int>42</int>", msgpack_pack_int64(pk, 42));
    EXPECT_VALUE("<i4>-2147483648</i4>", msgpack_pack_int64(pk, INT32_MIN));
    EXPECT_VALUE("<i4>2147483647</i4>", msgpack_pack_int64(pk, INT32_MAX));
    EXPECT_VALUE("<i4> +7\n</i4>", msgpack_pack_int64(pk, 7));
    EXPECT_VALUE("<i8>9223372036854775807</i8>", msgpack_pack_int64(pk, INT64_MAX));
    EXPECT_VALUE("<i8>-9223372036854775808</i8>", msgpack_pack_int64(pk, INT64_MIN));
    EXPECT_VALUE("<int>4294967296</int>", msgpack_pack_int64(pk, 4294967296LL));
    EXPECT_VALUE("<ex:i8 xmlns:ex=\"http://ws.apache.org/xmlrpc/namespaces/extensions\">-5</ex:i8>",
                 msgpack_pack_int64(pk, -5));
    EXPECT_VALUE("<ex:i8>12</ex:i8>", msgpack_pack_int64(pk, 12));   /* undeclared prefix */
    EXPECT_VALUE_FAULT("<i4>2147483648</i4>", CORRAL_F_PARAMS, "out of 32-bit range");
    EXPECT_VALUE_FAULT("<i4>-2147483649</i4>", CORRAL_F_PARAMS, "'-2147483649'");
    EXPECT_VALUE_FAULT("<i8>9223372036854775808</i8>", CORRAL_F_PARAMS, "out of 64-bit range");
    EXPECT_VALUE_FAULT("<i8>-9223372036854775809</i8>", CORRAL_F_PARAMS, "<i8>");
    EXPECT_VALUE_FAULT("<int>99999999999999999999999</int>", CORRAL_F_PARAMS, "range");
    EXPECT_VALUE_FAULT("<int>1.0</int>", CORRAL_F_PARAMS, "<int> value '1.0' is not an integer");
    EXPECT_VALUE_FAULT("<int></int>", CORRAL_F_PARAMS, "not an integer");
    EXPECT_VALUE_FAULT("<int>-</int>", CORRAL_F_PARAMS, "not an integer");
    EXPECT_VALUE_FAULT("<int>0x10</int>", CORRAL_F_PARAMS, "not an integer");
    EXPECT_VALUE_FAULT("<i4>1 2</i4>", CORRAL_F_PARAMS, "not an integer");
    EXPECT_VALUE_FAULT("<i8>99999999999999999999999x</i8>", CORRAL_F_PARAMS, "not an integer");
    EXPECT_VALUE_FAULT("<foo:int>1</foo:int>", CORRAL_F_REQUEST, "unknown element");
}

static void test_booleans_are_only_0_or_1(void) {
    EXPECT_VALUE("<boolean>1</boolean>", msgpack_pack_true(pk));
    EXPECT_VALUE("<boolean>0</boolean>", msgpack_pack_false(pk));
    EXPECT_VALUE_FAULT("<boolean>true</boolean>", CORRAL_F_PARAMS, "<boolean> value 'true'");
    EXPECT_VALUE_FAULT("<boolean>2</boolean>", CORRAL_F_PARAMS, "boolean");
    EXPECT_VALUE_FAULT("<boolean></boolean>", CORRAL_F_PARAMS, "boolean");
    EXPECT_VALUE_FAULT("<boolean>01</boolean>", CORRAL_F_PARAMS, "boolean");
}

static void test_doubles_decode_python_spellings(void) {
    EXPECT_VALUE("<double>1.5</double>", msgpack_pack_double(pk, 1.5));
    EXPECT_VALUE("<double>-0.0</double>", msgpack_pack_double(pk, -0.0));
    EXPECT_VALUE("<double>1e+100</double>", msgpack_pack_double(pk, 1e100));
    EXPECT_VALUE("<double>.5</double>", msgpack_pack_double(pk, 0.5));
    EXPECT_VALUE("<double>3</double>", msgpack_pack_double(pk, 3.0));
    EXPECT_VALUE("<double>0.10000000000000001</double>", msgpack_pack_double(pk, 0.1));
    EXPECT_VALUE("<double>inf</double>", msgpack_pack_double(pk, INFINITY));
    EXPECT_VALUE("<double>-inf</double>", msgpack_pack_double(pk, -INFINITY));
    EXPECT_VALUE_FAULT("<double>abc</double>", CORRAL_F_PARAMS, "<double> value 'abc'");
    EXPECT_VALUE_FAULT("<double>1.2.3</double>", CORRAL_F_PARAMS, "double");
    EXPECT_VALUE_FAULT("<double>0x1p3</double>", CORRAL_F_PARAMS, "double");
    EXPECT_VALUE_FAULT("<double></double>", CORRAL_F_PARAMS, "double");
    EXPECT_VALUE_FAULT("<double>1e</double>", CORRAL_F_PARAMS, "double");
    EXPECT_VALUE_FAULT("<double>.</double>", CORRAL_F_PARAMS, "double");
    /* nan never equals itself: check the type and isnan directly. */
    dec_t d;
    char *doc = call1("<double>nan</double>");
    dec(&d, doc);
    CHECK(d.rc == 0);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    CHECK(msgpack_unpack_next(&u, d.sb.data, d.sb.size, &off) == MSGPACK_UNPACK_SUCCESS);
    CHECK(u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 1 &&
          u.data.via.array.ptr[0].type == MSGPACK_OBJECT_FLOAT64 && isnan(u.data.via.array.ptr[0].via.f64));
    msgpack_unpacked_destroy(&u);
    dec_free(&d);
    free(doc);
}

static void pack_s(msgpack_packer *pk, const char *s) { corral_pack_cstr(pk, s); }

static void test_strings_keep_their_text_exactly(void) {
    EXPECT_VALUE("<string>  two  words \n</string>", pack_s(pk, "  two  words \n"));
    EXPECT_VALUE("bare text", pack_s(pk, "bare text"));
    EXPECT_VALUE(" ", pack_s(pk, " "));
    EXPECT_VALUE("", pack_s(pk, ""));
    EXPECT_VALUE("<string></string>", pack_s(pk, ""));
    EXPECT_VALUE("<string/>", pack_s(pk, ""));
    EXPECT_VALUE("<string>&lt;&gt;&amp;&quot;&apos;</string>", pack_s(pk, "<>&\"'"));
    EXPECT_VALUE("<string>a&#13;b&#x1F600;</string>", pack_s(pk, "a\rb\xF0\x9F\x98\x80"));
    EXPECT_VALUE("<string>a\r\nb</string>", pack_s(pk, "a\nb"));   /* XML end-of-line rule */
    EXPECT_VALUE("<string><![CDATA[<x>&]]></string>", pack_s(pk, "<x>&"));
    EXPECT_VALUE("<string>caf\xC3\xA9 \xE2\x82\xAC</string>", pack_s(pk, "caf\xC3\xA9 \xE2\x82\xAC"));
    EXPECT_VALUE("<string>a<!-- c -->b</string>", pack_s(pk, "ab"));
    EXPECT_VALUE("\n  <string>x</string>\n", pack_s(pk, "x"));
    EXPECT_VALUE_FAULT("<string><b>x</b></string>", CORRAL_F_REQUEST, "<string>");
    EXPECT_VALUE_FAULT("text<string>x</string>", CORRAL_F_REQUEST, "both text");
    EXPECT_VALUE_FAULT("<string>x</string>junk", CORRAL_F_REQUEST, "junk");
    EXPECT_VALUE_FAULT("<string>x</string><string>y</string>", CORRAL_F_REQUEST, "<string>");
}

static void pack_bin(msgpack_packer *pk, const char *s, size_t n) {
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, s, n);
}

static void test_base64_padding_optional_whitespace_allowed(void) {
    EXPECT_VALUE("<base64>aGVsbG8=</base64>", pack_bin(pk, "hello", 5));
    EXPECT_VALUE("<base64>aGVsbG8</base64>", pack_bin(pk, "hello", 5));
    EXPECT_VALUE("<base64>aGVs\n bG8h\r\n</base64>", pack_bin(pk, "hell\x6f!", 6));
    EXPECT_VALUE("<base64>aA==</base64>", pack_bin(pk, "h", 1));
    EXPECT_VALUE("<base64>aA</base64>", pack_bin(pk, "h", 1));
    EXPECT_VALUE("<base64></base64>", pack_bin(pk, "", 0));
    EXPECT_VALUE("<base64>  \n</base64>", pack_bin(pk, "", 0));
    EXPECT_VALUE("<base64>AP8A/w==</base64>", pack_bin(pk, "\0\xff\0\xff", 4));
    EXPECT_VALUE_FAULT("<base64>a$==</base64>", CORRAL_F_PARAMS, "<base64> value 'a$=='");
    EXPECT_VALUE_FAULT("<base64>a</base64>", CORRAL_F_PARAMS, "base64");
    EXPECT_VALUE_FAULT("<base64>aA=</base64>", CORRAL_F_PARAMS, "base64");
    EXPECT_VALUE_FAULT("<base64>aA===</base64>", CORRAL_F_PARAMS, "base64");
    EXPECT_VALUE_FAULT("<base64>aGVsbG8=x</base64>", CORRAL_F_PARAMS, "base64");
    EXPECT_VALUE_FAULT("<base64>====</base64>", CORRAL_F_PARAMS, "base64");
    EXPECT_VALUE_FAULT("<base64>aGVs-G8=</base64>", CORRAL_F_PARAMS, "base64");
}

static void test_datetimes_both_forms_and_offsets(void) {
    /* 2024-02-29T12:34:56Z = 1709210096 */
    EXPECT_VALUE("<dateTime.iso8601>20240229T12:34:56</dateTime.iso8601>",
                 corral_pack_time(pk, 1709210096, 0));
    EXPECT_VALUE("<dateTime.iso8601>2024-02-29T12:34:56Z</dateTime.iso8601>",
                 corral_pack_time(pk, 1709210096, 0));
    EXPECT_VALUE("<dateTime.iso8601>2024-02-29T14:34:56+02:00</dateTime.iso8601>",
                 corral_pack_time(pk, 1709210096, 0));
    EXPECT_VALUE("<dateTime.iso8601>20240229T07:04:56-0530</dateTime.iso8601>",
                 corral_pack_time(pk, 1709210096, 0));
    EXPECT_VALUE("<dateTime.iso8601>20240229T12:34:56.25</dateTime.iso8601>",
                 corral_pack_time(pk, 1709210096, 250000000));
    EXPECT_VALUE("<dateTime.iso8601>20240229T12:34:56.1234567891Z</dateTime.iso8601>",
                 corral_pack_time(pk, 1709210096, 123456789));
    EXPECT_VALUE("<dateTime.iso8601>19691231T23:59:59</dateTime.iso8601>", corral_pack_time(pk, -1, 0));
    EXPECT_VALUE("<dateTime.iso8601>19700101T00:00:00</dateTime.iso8601>", corral_pack_time(pk, 0, 0));
    EXPECT_VALUE("<dateTime.iso8601>00010101T00:00:00</dateTime.iso8601>",
                 corral_pack_time(pk, -62135596800LL, 0));
    EXPECT_VALUE_FAULT("<dateTime.iso8601>20230229T00:00:00</dateTime.iso8601>", CORRAL_F_PARAMS,
                       "<dateTime.iso8601> value '20230229T00:00:00'");
    EXPECT_VALUE_FAULT("<dateTime.iso8601>20241301T00:00:00</dateTime.iso8601>", CORRAL_F_PARAMS, "dateTime");
    EXPECT_VALUE_FAULT("<dateTime.iso8601>20240101T24:00:00</dateTime.iso8601>", CORRAL_F_PARAMS, "dateTime");
    EXPECT_VALUE_FAULT("<dateTime.iso8601>2024-01-01</dateTime.iso8601>", CORRAL_F_PARAMS, "dateTime");
    EXPECT_VALUE_FAULT("<dateTime.iso8601>20240101T00:00:00X</dateTime.iso8601>", CORRAL_F_PARAMS, "dateTime");
    EXPECT_VALUE_FAULT("<dateTime.iso8601>20240101T00:00:00.</dateTime.iso8601>", CORRAL_F_PARAMS, "dateTime");
    EXPECT_VALUE_FAULT("<dateTime.iso8601>20240101T00:00:00+25:00</dateTime.iso8601>", CORRAL_F_PARAMS, "dateTime");
    EXPECT_VALUE_FAULT("<dateTime.iso8601>2024-0101T00:00:00</dateTime.iso8601>", CORRAL_F_PARAMS, "dateTime");
    EXPECT_VALUE_FAULT("<dateTime.iso8601></dateTime.iso8601>", CORRAL_F_PARAMS, "dateTime");
}

static void test_nil_with_or_without_prefix(void) {
    EXPECT_VALUE("<nil/>", msgpack_pack_nil(pk));
    EXPECT_VALUE("<nil></nil>", msgpack_pack_nil(pk));
    EXPECT_VALUE("<ex:nil/>", msgpack_pack_nil(pk));
    EXPECT_VALUE("<e:nil xmlns:e=\"urn:x\"/>", msgpack_pack_nil(pk));
    EXPECT_VALUE_FAULT("<nil>x</nil>", CORRAL_F_REQUEST, "nil");
}

/* ---- decoding containers and the call ----------------------------------- */

static void test_arrays_and_structs_nest(void) {
    EXPECT_VALUE("<array><data></data></array>", msgpack_pack_array(pk, 0));
    EXPECT_VALUE("<array><data/></array>", msgpack_pack_array(pk, 0));
    EXPECT_VALUE("<struct></struct>", msgpack_pack_map(pk, 0));
    EXPECT_VALUE("<array>\n <data>\n  <value><i4>1</i4></value>\n  <value>x</value>\n </data>\n</array>", {
        msgpack_pack_array(pk, 2);
        msgpack_pack_int64(pk, 1);
        pack_s(pk, "x");
    });
    EXPECT_VALUE("<struct><member><name>a</name><value><int>1</int></value></member>"
                 "<member><name> b c </name><value><array><data><value><struct>"
                 "<member><name></name><value/></member></struct></value></data></array></value>"
                 "</member></struct>", {
        msgpack_pack_map(pk, 2);
        pack_s(pk, "a");
        msgpack_pack_int64(pk, 1);
        pack_s(pk, " b c ");
        msgpack_pack_array(pk, 1);
        msgpack_pack_map(pk, 1);
        pack_s(pk, "");
        pack_s(pk, "");
    });
    /* 20 elements: past msgpack's fixarray, so the header form changes. */
    char inner[2048] = "<array><data>";
    for (int i = 0; i < 20; i++) strcat(inner, "<value><int>7</int></value>");
    strcat(inner, "</data></array>");
    EXPECT_VALUE(inner, {
        msgpack_pack_array(pk, 20);
        for (int i = 0; i < 20; i++) msgpack_pack_int64(pk, 7);
    });
    EXPECT_VALUE_FAULT("<struct><member><value>1</value></member></struct>", CORRAL_F_REQUEST, "member");
    EXPECT_VALUE_FAULT("<struct><member><name>a</name></member></struct>", CORRAL_F_REQUEST,
                       "<member> needs a <name> and then a <value>");
    EXPECT_VALUE_FAULT("<struct><member><value>1</value><name>a</name></member></struct>",
                       CORRAL_F_REQUEST, "member");
    EXPECT_VALUE_FAULT("<struct><member><name>a</name><name>b</name></member></struct>", CORRAL_F_REQUEST, "name");
    EXPECT_VALUE_FAULT("<struct><value>1</value></struct>", CORRAL_F_REQUEST, "struct");
    EXPECT_VALUE_FAULT("<struct>x</struct>", CORRAL_F_REQUEST, "text 'x'");
    EXPECT_VALUE_FAULT("<array><value>1</value></array>", CORRAL_F_REQUEST, "array");
    EXPECT_VALUE_FAULT("<array><data><int>1</int></data></array>", CORRAL_F_REQUEST, "data");
    EXPECT_VALUE_FAULT("<array><data/><data/></array>", CORRAL_F_REQUEST, "data");
    EXPECT_VALUE_FAULT("<list/>", CORRAL_F_REQUEST, "unknown element <list>");
}

static void test_the_call_and_its_params(void) {
    exp_t e;
    msgpack_packer *pk = exp_begin(&e, 0);
    (void)pk;
    expect_doc(__LINE__, "<methodCall><methodName>system.listMethods</methodName></methodCall>", &e);
    exp_begin(&e, 0);
    expect_doc(__LINE__, "<methodCall><methodName>a</methodName><params/></methodCall>", &e);
    pk = exp_begin(&e, 3);
    msgpack_pack_int64(pk, 1);
    pack_s(pk, "two");
    msgpack_pack_nil(pk);
    expect_doc(__LINE__, "<?xml version='1.0' encoding='UTF-8'?>\n<methodCall>\n <methodName>x</methodName>\n"
               " <params>\n  <param><value><int>1</int></value></param>\n"
               "  <param>\n<value>two</value>\n</param>\n  <param><value><nil/></value></param>\n"
               " </params>\n</methodCall>\n", &e);
    dec_t d;
    dec(&d, "<methodCall><methodName> target.launch_2:x/y </methodName></methodCall>");
    CHECK(d.rc == 0 && strcmp(d.method, "target.launch_2:x/y") == 0);
    dec_free(&d);
    /* A Latin-1 declaration is ignored: the bytes were checked as UTF-8. */
    pk = exp_begin(&e, 1);
    pack_s(pk, "\xC3\xA9");
    expect_doc(__LINE__, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><methodCall><methodName>a"
               "</methodName><params><param><value>\xC3\xA9</value></param></params></methodCall>", &e);
}

static void test_not_a_method_call_is_32600(void) {
    EXPECT_FAULT("<methodResponse/>", CORRAL_F_REQUEST, "root element is <methodResponse>");
    EXPECT_FAULT("<x:methodCall xmlns:x='u'><methodName>a</methodName></x:methodCall>", CORRAL_F_REQUEST, "root");
    EXPECT_FAULT("<methodCall/>", CORRAL_F_REQUEST, "no <methodName>");
    EXPECT_FAULT("<methodCall><params/></methodCall>", CORRAL_F_REQUEST, "params");
    EXPECT_FAULT("<methodCall><methodName>a</methodName><methodName>b</methodName></methodCall>",
                 CORRAL_F_REQUEST, "methodName");
    EXPECT_FAULT("<methodCall><methodName>a</methodName><params/><params/></methodCall>", CORRAL_F_REQUEST, "params");
    EXPECT_FAULT("<methodCall><methodName>a</methodName><params><value>1</value></params></methodCall>",
                 CORRAL_F_REQUEST, "<value> is not allowed here in <params>");
    EXPECT_FAULT("<methodCall><methodName>a</methodName><params><param>1</param></params></methodCall>",
                 CORRAL_F_REQUEST, "text '1'");
    EXPECT_FAULT("<methodCall><methodName>a</methodName><params><param></param></params></methodCall>",
                 CORRAL_F_REQUEST, "<param> has no <value>");
    EXPECT_FAULT("<methodCall><methodName>a</methodName><params><param><value>1</value><value>2</value>"
                 "</param></params></methodCall>", CORRAL_F_REQUEST, "value");
    EXPECT_FAULT("<methodCall><methodName>a</methodName><params><param><value><float>1</float></value>"
                 "</param></params></methodCall>", CORRAL_F_REQUEST, "unknown element <float>");
    EXPECT_FAULT("<methodCall><methodName>a</methodName>junk</methodCall>", CORRAL_F_REQUEST, "junk");
    EXPECT_FAULT("<methodCall><methodName><b/>a</methodName></methodCall>", CORRAL_F_REQUEST, "methodName");
    EXPECT_FAULT("<methodCall><methodName></methodName></methodCall>", CORRAL_F_REQUEST, "empty");
    EXPECT_FAULT("<methodCall><methodName>a b</methodName></methodCall>", CORRAL_F_REQUEST, "'a b'");
    EXPECT_FAULT("<methodCall><methodName>a-b</methodName></methodCall>", CORRAL_F_REQUEST, "character");
    EXPECT_FAULT("<methodCall><methodName>caf\xC3\xA9</methodName></methodCall>", CORRAL_F_REQUEST, "character");
    char doc[512], name[CORRAL_METHOD_NAME_MAX + 2];
    memset(name, 'a', sizeof name - 1);
    name[CORRAL_METHOD_NAME_MAX + 1] = '\0';
    snprintf(doc, sizeof doc, "<methodCall><methodName>%s</methodName></methodCall>", name);
    EXPECT_FAULT(doc, CORRAL_F_REQUEST, "longer than");
    name[CORRAL_METHOD_NAME_MAX] = '\0';           /* exactly the maximum: fine */
    snprintf(doc, sizeof doc, "<methodCall><methodName>%s</methodName></methodCall>", name);
    dec_t d;
    dec(&d, doc);
    CHECK(d.rc == 0 && strlen(d.method) == CORRAL_METHOD_NAME_MAX);
    dec_free(&d);
}

/* ---- well-formedness and attacks ---------------------------------------- */

static void test_not_well_formed_is_32700_with_line(void) {
    EXPECT_FAULT("", CORRAL_F_PARSE, "line");
    EXPECT_FAULT("<methodCall><methodName>a</methodName>\n<params></param></methodCall>", CORRAL_F_PARSE,
                 "at line 2");
    EXPECT_FAULT("<methodCall><methodName>a</methodName></methodCall><x/>", CORRAL_F_PARSE, "Extra content");
    EXPECT_FAULT("<methodCall a='1' a='2'><methodName>a</methodName></methodCall>", CORRAL_F_PARSE, "line 1");
    EXPECT_VALUE_FAULT("<string>&undefined;</string>", CORRAL_F_PARSE, "undefined");
    EXPECT_VALUE_FAULT("<string>&#0;</string>", CORRAL_F_PARSE, NULL);
    EXPECT_VALUE_FAULT("<string>\x01</string>", CORRAL_F_PARSE, NULL);
    EXPECT_VALUE_FAULT("<string>a & b</string>", CORRAL_F_PARSE, NULL);
    EXPECT_VALUE_FAULT("<string>a < b</string>", CORRAL_F_PARSE, NULL);
}

static void test_invalid_utf8_anywhere_is_32700(void) {
    static const char *bad[] = {
        "\xC0\x80", "\xC1\xBF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xF8\x88\x80\x80\x80",
        "\xFF", "\x80", "\xE2\x82", "\xC3",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char inner[64];
        snprintf(inner, sizeof inner, "<string>a%sb</string>", bad[i]);
        EXPECT_VALUE_FAULT(inner, CORRAL_F_PARSE, "UTF-8");
        snprintf(inner, sizeof inner, "<string>x</string><!-- %s -->", bad[i]);
        EXPECT_VALUE_FAULT(inner, CORRAL_F_PARSE, "UTF-8");
    }
    static const char nul[] = "<methodCall><methodName>a\0b</methodName></methodCall>";
    expect_fault_len(__LINE__, nul, sizeof nul - 1, MAX_DEPTH, CORRAL_F_PARSE, "NUL");
    /* UTF-16 with a byte-order mark is not UTF-8 either. */
    static const char u16[] = "\xFF\xFE<\0m\0/\0>\0";
    expect_fault_len(__LINE__, u16, sizeof u16 - 1, MAX_DEPTH, CORRAL_F_PARSE, "UTF-8");
}

static void test_doctype_xxe_and_entity_bombs_are_refused(void) {
    EXPECT_FAULT("<?xml version=\"1.0\"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>\n"
                 "<methodCall><methodName>a</methodName><params><param><value>&e;</value></param></params>"
                 "</methodCall>", CORRAL_F_PARSE, "DOCTYPE");
    EXPECT_FAULT("<!DOCTYPE methodCall SYSTEM \"http://127.0.0.1:1/evil.dtd\"><methodCall><methodName>a"
                 "</methodName></methodCall>", CORRAL_F_PARSE, "DOCTYPE");
    EXPECT_FAULT("<!DOCTYPE methodCall><methodCall><methodName>a</methodName></methodCall>", CORRAL_F_PARSE,
                 "DOCTYPE");
    EXPECT_FAULT("<!DOCTYPE x [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]><methodCall/>", CORRAL_F_PARSE,
                 "DOCTYPE");
    /* Billion laughs: ten levels of ten-fold expansion. */
    char doc[4096] = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol0 \"lol\">";
    for (int i = 1; i < 10; i++) {
        char line[200];
        snprintf(line, sizeof line, "<!ENTITY lol%d \"", i);
        strcat(doc, line);
        for (int k = 0; k < 10; k++) {
            snprintf(line, sizeof line, "&lol%d;", i - 1);
            strcat(doc, line);
        }
        strcat(doc, "\">");
    }
    strcat(doc, "]><methodCall><methodName>a</methodName><params><param><value>&lol9;</value></param>"
                "</params></methodCall>");
    double t0 = now_s();
    EXPECT_FAULT(doc, CORRAL_F_PARSE, "DOCTYPE");
    CHECK(now_s() - t0 < 0.5);
    /* XInclude is not processed: an include element is just unknown. */
    EXPECT_VALUE_FAULT("<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"/etc/passwd\"/>",
                       CORRAL_F_REQUEST, "unknown element <include>");
}

/* n nested arrays around an int; the params array itself is not a level. */
static char *nested(int n, bool structs) {
    const char *open = structs ? "<struct><member><name>k</name><value>" : "<array><data><value>";
    const char *close = structs ? "</value></member></struct>" : "</value></data></array>";
    size_t lo = strlen(open), lc = strlen(close);
    char *s = malloc((size_t)n * (lo + lc) + 32), *p = s;
    for (int i = 0; i < n; i++) p = memcpy(p, open, lo), p += lo;
    p += sprintf(p, "<i4>1</i4>");
    for (int i = 0; i < n; i++) p = memcpy(p, close, lc), p += lc;
    *p = '\0';
    char *doc = call1(s);
    free(s);
    return doc;
}

static void expect_nested_ok(int line, int n, bool structs, int depth) {
    char *doc = nested(n, structs);
    dec_t d;
    dec_len(&d, doc, strlen(doc), depth);
    /* The packed bytes: array(1), then n headers of one element, then 1. */
    bool ok = d.rc == 0 && d.sb.size == (size_t)n * (structs ? 3 : 1) + 2 &&
              (unsigned char)d.sb.data[0] == 0x91 && d.sb.data[d.sb.size - 1] == 1;
    for (int i = 0; ok && i < n; i++)
        ok = (unsigned char)d.sb.data[1 + i * (structs ? 3 : 1)] == (structs ? 0x81 : 0x91);
    if (!ok) {
        failures++;
        fprintf(stderr, "line %d: %d nested %s at max %d: rc %d %s\n", line, n, structs ? "structs" : "arrays",
                depth, d.rc, d.f.msg);
    }
    dec_free(&d);
    free(doc);
}

static void test_depth_limit_counts_arrays_and_structs(void) {
    expect_nested_ok(__LINE__, 64, false, 64);
    expect_nested_ok(__LINE__, 64, true, 64);
    expect_nested_ok(__LINE__, 0, false, 0);
    char *doc = nested(65, false);
    expect_fault_len(__LINE__, doc, strlen(doc), 64, CORRAL_F_PARAMS, "deeper than 64");
    free(doc);
    doc = nested(65, true);
    expect_fault_len(__LINE__, doc, strlen(doc), 64, CORRAL_F_PARAMS, "deeper than 64");
    free(doc);
    doc = nested(1, false);
    expect_fault_len(__LINE__, doc, strlen(doc), 0, CORRAL_F_PARAMS, "deeper than 0");
    free(doc);
    /* Scalars are not levels: a struct of strings at max 1 is fine. */
    EXPECT_VALUE("<struct><member><name>a</name><value><string>b</string></value></member></struct>", {
        msgpack_pack_map(pk, 1);
        pack_s(pk, "a");
        pack_s(pk, "b");
    });
}

static void test_100000_nested_arrays_fail_fast(void) {
    char *doc = nested(100000, false);
    double t0 = now_s();
    expect_fault_len(__LINE__, doc, strlen(doc), 64, CORRAL_F_PARAMS, "deeper than 64");
    /* Above libxml2's own element-depth cap, that cap answers, also -32602. */
    expect_fault_len(__LINE__, doc, strlen(doc), 1000000, CORRAL_F_PARAMS, "nested deeper than");
    double dt = now_s() - t0;
    CHECK(dt < 1.0);
    free(doc);
}

/* A document using every type, for truncation, fuzzing and round trips. */
static const char rich[] =
    "<?xml version=\"1.0\"?>\n<methodCall><methodName>server.echo</methodName><params>\n"
    "<param><value><struct>"
    "<member><name>i</name><value><i4>-7</i4></value></member>"
    "<member><name>big</name><value><i8>-9223372036854775808</i8></value></member>"
    "<member><name>u</name><value><ex:i8>4294967296</ex:i8></value></member>"
    "<member><name>b</name><value><boolean>1</boolean></value></member>"
    "<member><name>d</name><value><double>-1.25e-300</double></value></member>"
    "<member><name>s</name><value><string>&lt;a&gt; &amp; &#13;\n\t caf\xC3\xA9 \xF0\x9F\x98\x80</string></value></member>"
    "<member><name>t</name><value><dateTime.iso8601>20240229T12:34:56</dateTime.iso8601></value></member>"
    "<member><name>bin</name><value><base64>AAECAwT/</base64></value></member>"
    "<member><name>n</name><value><nil/></value></member>"
    "<member><name>a</name><value><array><data><value>x</value><value><array><data/></array></value>"
    "<value><struct/></value><value><double>inf</double></value></data></array></value></member>"
    "</struct></value></param>\n"
    "<param><value>plain</value></param><param><value><int>2147483647</int></value></param>"
    "</params></methodCall>";

static void test_every_truncation_is_32700(void) {
    size_t n = sizeof rich - 1;
    dec_t d;
    dec_len(&d, rich, n, MAX_DEPTH);
    CHECK(d.rc == 0);
    dec_free(&d);
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        dec_len(&d, rich, len, MAX_DEPTH);
        if (d.rc != -1 || d.f.code != CORRAL_F_PARSE) {
            if (bad++ < 5) fprintf(stderr, "truncated at %zu: rc %d code %d %s\n", len, d.rc, d.f.code, d.f.msg);
        }
        dec_free(&d);
    }
    CHECK(bad == 0);
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static void test_garbage_bytes_are_faults(void) {
    char buf[512];
    int bad = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = rnd() % sizeof buf;
        bool ascii = iter % 2;
        for (size_t i = 0; i < n; i++) buf[i] = ascii ? (char)(32 + rnd() % 95) : (char)rnd();
        if (ascii && n > 0) buf[0] = '<';
        dec_t d;
        dec_len(&d, buf, n, MAX_DEPTH);
        if (d.rc != -1 || d.f.code != CORRAL_F_PARSE) bad++;
        dec_free(&d);
    }
    CHECK(bad == 0);
}

static bool valid_fault(int code) {
    return code == CORRAL_F_PARSE || code == CORRAL_F_REQUEST || code == CORRAL_F_PARAMS;
}

/* Random edits of a valid call: never a crash, a fault of the three decode
   classes, or a value that corral_value_check accepts. */
static void test_mutated_documents_stay_safe(void) {
    size_t n = sizeof rich - 1;
    char *buf = malloc(n + 64);
    int bad = 0, ok = 0;
    for (int iter = 0; iter < 5000; iter++) {
        memcpy(buf, rich, n);
        size_t len = n;
        for (int k = 0; k < 1 + (int)(rnd() % 3); k++) {
            size_t at = rnd() % len;
            switch (rnd() % 3) {
            case 0: buf[at] = "<>/&;=x0 \n#a\"'"[rnd() % 15]; break;
            case 1: memmove(buf + at, buf + at + 1, len - at - 1), len--; break;
            default: buf[at] = (char)rnd(); break;
            }
        }
        dec_t d;
        dec_len(&d, buf, len, MAX_DEPTH);
        if (d.rc == 0) {
            ok++;
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            size_t off = 0;
            corral_fault_t f;
            if (msgpack_unpack_next(&u, d.sb.data, d.sb.size, &off) != MSGPACK_UNPACK_SUCCESS ||
                off != d.sb.size || corral_value_check(&u.data, MAX_DEPTH, &f) != 0)
                bad++;
            msgpack_unpacked_destroy(&u);
        } else if (d.rc != -1 || !valid_fault(d.f.code) || !d.f.msg[0]) {
            bad++;
        }
        dec_free(&d);
    }
    free(buf);
    CHECK(bad == 0);
    CHECK(ok > 0);
}

/* Bodies go to libxml2 1 MiB at a time: characters split across a piece
   boundary must arrive whole. */
static void test_utf8_across_parser_pieces(void) {
    const char *a = "<methodCall><methodName>m</methodName><params><param><value><string>";
    const char *b = "</string></value></param></params></methodCall>";
    size_t body = (1u << 20) + 64, cap = strlen(a) + 4 + body + strlen(b) + 1;
    char *doc = malloc(cap);
    for (int pad = 0; pad < 4; pad++) {
        char *p = doc + sprintf(doc, "%s%.*s", a, pad, "xxx");
        for (size_t i = 0; i + 4 <= body; i += 4) memcpy(p + i, "\xF0\x9F\x98\x80", 4);
        p += body / 4 * 4;
        p += sprintf(p, "%s", b);
        dec_t d;
        dec_len(&d, doc, (size_t)(p - doc), MAX_DEPTH);
        CHECK(d.rc == 0);
        /* array(1), str32 header, pad x's, the emoji */
        CHECK(d.sb.size == 1 + 5 + (size_t)pad + body / 4 * 4);
        CHECK(d.sb.size > 10 && memcmp(d.sb.data + d.sb.size - 4, "\xF0\x9F\x98\x80", 4) == 0);
        dec_free(&d);
    }
    free(doc);
}

/* The parser is kept per thread: a call that failed half-way, or one with
   many distinct element names, must not leak into the next. */
static void test_reused_parser_starts_clean(void) {
    for (int i = 0; i < 600; i++) {
        char doc[200];
        snprintf(doc, sizeof doc, "<methodCall><methodName>a</methodName><params><param><value>"
                 "<x%d/></value></param></params></methodCall>", i);
        EXPECT_FAULT(doc, CORRAL_F_REQUEST, "unknown element");
        EXPECT_FAULT("<!DOCTYPE a><methodCall/>", CORRAL_F_PARSE, "DOCTYPE");
        EXPECT_FAULT("<methodCall><methodName>a</methodName><params><param><value><i4>x", CORRAL_F_PARSE, NULL);
        EXPECT_VALUE("<i4>5</i4>", msgpack_pack_int64(pk, 5));
    }
}

static void test_huge_base64_decodes(void) {
    size_t raw = 12u << 20;       /* 12 MiB -> 16 MiB of base64 */
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *a = "<methodCall><methodName>m</methodName><params><param><value><base64>";
    const char *b = "</base64></value></param></params></methodCall>";
    size_t cap = strlen(a) + raw / 3 * 4 + raw / 57 * 2 + strlen(b) + 16;
    char *doc = malloc(cap), *p = doc;
    p += sprintf(p, "%s", a);
    /* Bytes i % 251, three at a time, with a CRLF every 76 characters. */
    for (size_t i = 0; i < raw; i += 3) {
        uint32_t v = (uint32_t)(i % 251) << 16 | (uint32_t)((i + 1) % 251) << 8 | (uint32_t)((i + 2) % 251);
        *p++ = abc[v >> 18], *p++ = abc[(v >> 12) & 63], *p++ = abc[(v >> 6) & 63], *p++ = abc[v & 63];
        if (i % 57 == 54) *p++ = '\r', *p++ = '\n';
    }
    p += sprintf(p, "%s", b);
    double t0 = now_s();
    dec_t d;
    dec_len(&d, doc, (size_t)(p - doc), MAX_DEPTH);
    double dt = now_s() - t0;
    CHECK(d.rc == 0);
    if (d.rc != 0) fprintf(stderr, "  huge base64: %s\n", d.f.msg);
    /* array(1), bin32 header (5 bytes), the bytes. */
    CHECK(d.sb.size == 1 + 5 + raw);
    bool same = d.sb.size == 1 + 5 + raw;
    for (size_t i = 0; same && i < raw; i += 4093) same = (unsigned char)d.sb.data[6 + i] == i % 251;
    CHECK(same);
    printf("  16 MiB base64 decoded in %.1f ms\n", dt * 1e3);
    dec_free(&d);
    free(doc);
}

/* ---- encoding ------------------------------------------------------------ */

#define RESP_HEAD "<?xml version=\"1.0\"?>\n<methodResponse><params><param>"
#define RESP_TAIL "</param></params></methodResponse>\n"

/* Unpack what the statement packed and encode it as a result. */
#define PACKED(PACK, obj)                                            \
    msgpack_sbuffer sb_;                                             \
    msgpack_sbuffer_init(&sb_);                                      \
    msgpack_packer pk_;                                              \
    msgpack_packer_init(&pk_, &sb_, msgpack_sbuffer_write);          \
    msgpack_packer *pk = &pk_;                                       \
    PACK;                                                            \
    msgpack_zone z_;                                                 \
    msgpack_zone_init(&z_, 1024);                                    \
    msgpack_object obj;                                              \
    CHECK(msgpack_unpack(sb_.data, sb_.size, NULL, &z_, &obj) == MSGPACK_UNPACK_SUCCESS)

#define PACKED_END() msgpack_zone_destroy(&z_), msgpack_sbuffer_destroy(&sb_)

static void expect_encoded(int line, const msgpack_object *o, const char *value) {
    corral_buf_t b = {0};
    int rc = corral_xmlrpc_encode_result(&b, o);
    char want[4096];
    snprintf(want, sizeof want, "%s%s%s", RESP_HEAD, value, RESP_TAIL);
    if (rc != 0 || b.len != strlen(want) || memcmp(b.data, want, b.len) != 0) {
        failures++;
        fprintf(stderr, "line %d: encode rc %d\n  got:  %.*s\n  want: %s\n", line, rc, (int)b.len,
                b.data ? b.data : "", want);
    }
    corral_buf_free(&b);
}

#define EXPECT_ENCODED(PACK, value)                   \
    do {                                              \
        PACKED(PACK, o_);                             \
        expect_encoded(__LINE__, &o_, value);         \
        PACKED_END();                                 \
    } while (0)

/* Refused values leave the buffer as it was. */
#define EXPECT_ENCODE_FAILS(PACK)                                        \
    do {                                                                 \
        PACKED(PACK, o_);                                                \
        corral_buf_t b_ = {0};                                           \
        corral_buf_puts(&b_, "keep");                                    \
        CHECK(corral_xmlrpc_encode_result(&b_, &o_) == -1);              \
        CHECK(b_.len == 4 && memcmp(b_.data, "keep", 4) == 0);           \
        corral_buf_free(&b_);                                            \
        PACKED_END();                                                    \
    } while (0)

static void test_encode_each_type(void) {
    EXPECT_ENCODED(msgpack_pack_int64(pk, 0), "<value><int>0</int></value>");
    EXPECT_ENCODED(msgpack_pack_int64(pk, INT32_MAX), "<value><int>2147483647</int></value>");
    EXPECT_ENCODED(msgpack_pack_int64(pk, INT32_MIN), "<value><int>-2147483648</int></value>");
    EXPECT_ENCODED(msgpack_pack_int64(pk, 2147483648LL), "<value><i8>2147483648</i8></value>");
    EXPECT_ENCODED(msgpack_pack_int64(pk, -2147483649LL), "<value><i8>-2147483649</i8></value>");
    EXPECT_ENCODED(msgpack_pack_int64(pk, INT64_MIN), "<value><i8>-9223372036854775808</i8></value>");
    EXPECT_ENCODED(msgpack_pack_uint64(pk, INT64_MAX), "<value><i8>9223372036854775807</i8></value>");
    EXPECT_ENCODED(msgpack_pack_true(pk), "<value><boolean>1</boolean></value>");
    EXPECT_ENCODED(msgpack_pack_false(pk), "<value><boolean>0</boolean></value>");
    EXPECT_ENCODED(msgpack_pack_nil(pk), "<value><nil/></value>");
    EXPECT_ENCODED(msgpack_pack_double(pk, 0.1), "<value><double>0.10000000000000001</double></value>");
    EXPECT_ENCODED(msgpack_pack_double(pk, -2.5), "<value><double>-2.5</double></value>");
    EXPECT_ENCODED(msgpack_pack_double(pk, INFINITY), "<value><double>inf</double></value>");
    EXPECT_ENCODED(msgpack_pack_double(pk, -INFINITY), "<value><double>-inf</double></value>");
    EXPECT_ENCODED(msgpack_pack_double(pk, NAN), "<value><double>nan</double></value>");
    EXPECT_ENCODED(pack_s(pk, "a<b>&c\rd\ne\tf \xC3\xA9\xF0\x9F\x98\x80"),
                   "<value><string>a&lt;b&gt;&amp;c&#13;d\ne\tf \xC3\xA9\xF0\x9F\x98\x80</string></value>");
    EXPECT_ENCODED(pack_s(pk, ""), "<value><string></string></value>");
    EXPECT_ENCODED(pack_bin(pk, "hello", 5), "<value><base64>aGVsbG8=</base64></value>");
    EXPECT_ENCODED(pack_bin(pk, "hell", 4), "<value><base64>aGVsbA==</base64></value>");
    EXPECT_ENCODED(pack_bin(pk, "hel", 3), "<value><base64>aGVs</base64></value>");
    EXPECT_ENCODED(pack_bin(pk, "", 0), "<value><base64></base64></value>");
    EXPECT_ENCODED(corral_pack_time(pk, 1709210096, 999999999),
                   "<value><dateTime.iso8601>20240229T12:34:56</dateTime.iso8601></value>");
    EXPECT_ENCODED(corral_pack_time(pk, -1, 0), "<value><dateTime.iso8601>19691231T23:59:59</dateTime.iso8601></value>");
    EXPECT_ENCODED(corral_pack_time(pk, 253402300799LL, 0),
                   "<value><dateTime.iso8601>99991231T23:59:59</dateTime.iso8601></value>");
    EXPECT_ENCODED({
        msgpack_pack_map(pk, 2);
        pack_s(pk, "k<");
        msgpack_pack_array(pk, 0);
        pack_s(pk, "z");
        msgpack_pack_array(pk, 2);
        msgpack_pack_int64(pk, 1);
        msgpack_pack_map(pk, 0);
    }, "<value><struct><member><name>k&lt;</name><value><array><data></data></array></value></member>"
       "<member><name>z</name><value><array><data><value><int>1</int></value><value><struct></struct>"
       "</value></data></array></value></member></struct></value>");
}

static void test_encode_refuses_what_xml_rpc_cannot_carry(void) {
    EXPECT_ENCODE_FAILS(msgpack_pack_uint64(pk, (uint64_t)INT64_MAX + 1));
    EXPECT_ENCODE_FAILS(msgpack_pack_float(pk, 1.5f));
    EXPECT_ENCODE_FAILS({
        msgpack_pack_ext(pk, 1, 5);
        msgpack_pack_ext_body(pk, "\1", 1);
    });
    EXPECT_ENCODE_FAILS(corral_pack_time(pk, 253402300800LL, 0));      /* year 10000 */
    EXPECT_ENCODE_FAILS(pack_s(pk, "bell\x07"));
    EXPECT_ENCODE_FAILS(pack_s(pk, "bad \xC3("));
    EXPECT_ENCODE_FAILS(pack_s(pk, "\xEF\xBF\xBF"));
    EXPECT_ENCODE_FAILS({
        msgpack_pack_map(pk, 1);
        msgpack_pack_int64(pk, 1);
        msgpack_pack_int64(pk, 2);
    });
    EXPECT_ENCODE_FAILS({                               /* deep inside a struct */
        msgpack_pack_map(pk, 1);
        pack_s(pk, "a");
        msgpack_pack_array(pk, 2);
        msgpack_pack_nil(pk);
        msgpack_pack_float(pk, 1.0f);
    });
}

static void test_encode_fault(void) {
    corral_buf_t b = {0};
    const char *msg = "bad <x> & \xFF\x01 end";
    CHECK(corral_xmlrpc_encode_fault(&b, -32602, msg, strlen(msg)) == 0);
    const char *want = "<?xml version=\"1.0\"?>\n<methodResponse><fault><value><struct>"
                       "<member><name>faultCode</name><value><int>-32602</int></value></member>"
                       "<member><name>faultString</name><value><string>bad &lt;x&gt; &amp; ?? end</string>"
                       "</value></member></struct></value></fault></methodResponse>\n";
    CHECK(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0);
    if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0) fprintf(stderr, "  got %.*s\n", (int)b.len, b.data);
    corral_buf_free(&b);
}

/* decode -> msgpack -> encode each param -> decode again: same bytes. */
static void roundtrip(int line, const char *doc, size_t len, int depth) {
    dec_t d1, d2;
    dec_len(&d1, doc, len, depth);
    if (d1.rc != 0) {
        failures++;
        fprintf(stderr, "line %d: round trip decode: %s\n", line, d1.f.msg);
        return dec_free(&d1);
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    CHECK(msgpack_unpack_next(&u, d1.sb.data, d1.sb.size, &off) == MSGPACK_UNPACK_SUCCESS);
    corral_buf_t out = {0}, call = {0};
    corral_buf_puts(&call, "<methodCall><methodName>m</methodName><params>");
    for (uint32_t i = 0; i < corral_param_count(&u.data); i++) {
        corral_buf_clear(&out);
        CHECK(corral_xmlrpc_encode_result(&out, corral_param(&u.data, i)) == 0);
        size_t head = strlen(RESP_HEAD), tail = strlen(RESP_TAIL);
        CHECK(out.len > head + tail);
        corral_buf_puts(&call, "<param>");
        corral_buf_append(&call, out.data + head, out.len - head - tail);
        corral_buf_puts(&call, "</param>");
    }
    corral_buf_puts(&call, "</params></methodCall>");
    dec_len(&d2, call.data, call.len, depth);
    if (d2.rc != 0 || d2.sb.size != d1.sb.size || memcmp(d2.sb.data, d1.sb.data, d1.sb.size) != 0) {
        failures++;
        fprintf(stderr, "line %d: round trip differs (%s)\n  %.300s\n", line, d2.f.msg, call.data);
    }
    msgpack_unpacked_destroy(&u);
    corral_buf_free(&out);
    corral_buf_free(&call);
    dec_free(&d1);
    dec_free(&d2);
}

static void test_round_trips(void) {
    roundtrip(__LINE__, rich, sizeof rich - 1, MAX_DEPTH);
    /* msgpack-c's unpacker stops at 32 nested containers, params included. */
    char *doc = nested(31, false);
    roundtrip(__LINE__, doc, strlen(doc), MAX_DEPTH);
    free(doc);
    doc = nested(31, true);
    roundtrip(__LINE__, doc, strlen(doc), MAX_DEPTH);
    free(doc);
    static const char *values[] = {
        "<double>0.1</double>", "<double>-1.7976931348623157e308</double>", "<double>5e-324</double>",
        "<double>-0.0</double>", "<double>123456789.125</double>", "<string>\r\r\n]]&gt;</string>",
        "<base64>////</base64>", "<dateTime.iso8601>1900-01-01T00:00:00-01:00</dateTime.iso8601>",
        "<array><data><value><array><data><value><struct><member><name>x</name><value><array><data>"
        "<value><nil/></value></data></array></value></member></struct></value></data></array></value>"
        "</data></array>",
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        doc = call1(values[i]);
        roundtrip(__LINE__, doc, strlen(doc), MAX_DEPTH);
        free(doc);
    }
}

static void encode_tests(void) {
    test_encode_each_type();
    test_encode_refuses_what_xml_rpc_cannot_carry();
    test_encode_fault();
    test_round_trips();
}

int main(void) {
    corral_xmlrpc_init();
    test_ints_decode_with_their_ranges();
    test_booleans_are_only_0_or_1();
    test_doubles_decode_python_spellings();
    test_strings_keep_their_text_exactly();
    test_base64_padding_optional_whitespace_allowed();
    test_datetimes_both_forms_and_offsets();
    test_nil_with_or_without_prefix();
    test_arrays_and_structs_nest();
    test_the_call_and_its_params();
    test_not_a_method_call_is_32600();
    test_not_well_formed_is_32700_with_line();
    test_invalid_utf8_anywhere_is_32700();
    test_doctype_xxe_and_entity_bombs_are_refused();
    test_depth_limit_counts_arrays_and_structs();
    test_100000_nested_arrays_fail_fast();
    test_every_truncation_is_32700();
    test_garbage_bytes_are_faults();
    test_mutated_documents_stay_safe();
    test_huge_base64_decodes();
    test_utf8_across_parser_pieces();
    test_reused_parser_starts_clean();
    encode_tests();
    if (failures) {
        fprintf(stderr, "test_xmlrpc: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_xmlrpc: all checks passed\n");
    return 0;
}
