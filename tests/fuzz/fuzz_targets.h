/* corral — the bodies of the fuzz targets, shared by the libFuzzer mains
   (tests/fuzz/fuzz_<name>.c, clang only) and by the replay test that the
   normal ctest runs (tests/unit/test_fuzz_replay.c, any compiler), so that a
   regression input kept in tests/fuzz/regressions/ is checked by exactly
   the code that found it.

   Each fuzz_<name>(data, size) feeds one input to an entry point that sees
   bytes from the network or from an analysis program, then checks what the
   entry point promises about its output (not only "no crash"): a violated
   promise calls fuzz_fail(), which prints where and aborts, so libFuzzer
   keeps the input and the replay test fails. */
#ifndef CORRAL_FUZZ_TARGETS_H
#define CORRAL_FUZZ_TARGETS_H

#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actors/descriptor.h"
#include "actors/logfmt.h"
#include "corral/buf.h"
#include "corral/envelope.h"
#include "corral/http.h"
#include "corral/log.h"
#include "corral/unpack.h"
#include "corral/value.h"
#include "corral/xmlrpc.h"

/* Every function here is used by some includers and not by others. */
#define FUZZ_FN static __attribute__((unused))

#define FUZZ_CHECK(c) do { if (!(c)) fuzz_fail(__FILE__, __LINE__, #c); } while (0)

FUZZ_FN void fuzz_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "%s:%d: fuzz property violated: %s\n", file, line, what);
    abort();
}

/* The project's own logging would print a line per rejected input. */
FUZZ_FN void fuzz_quiet(void) {
    static int done;
    if (!done) corral_log_set_level(CORRAL_LOG_ERROR);
    done = 1;
}

/* A heap copy of exactly n bytes (at least one allocated), so that ASan
   sees any read past the end the parser was given. */
FUZZ_FN char *fuzz_dup(const uint8_t *data, size_t n) {
    char *p = malloc(n ? n : 1);
    if (!p) abort();
    if (n) memcpy(p, data, n);
    return p;
}

/* Unpack msgpack bytes a packer wrote; they must be exactly one object. */
FUZZ_FN void fuzz_unpack_ok(const msgpack_sbuffer *sb, msgpack_zone *z, msgpack_object *o) {
    FUZZ_CHECK(corral_unpack(sb->data, sb->size, z, CORRAL_UNPACK_DEPTH, o) == MSGPACK_UNPACK_SUCCESS);
}

/* ---- HTTP -----------------------------------------------------------------

   Input: byte 0 picks the limits (the server's defaults, or small ones so
   that 413/431/414 are reachable), byte 1 the split point as a fraction of
   the rest, the rest is what a client sent. The request parsed from the
   whole buffer at once must equal the one parsed from the first k bytes
   (in a buffer of exactly k bytes, as after a short read) and then from the
   whole buffer after a realloc (as the gateway's input buffer grows): a
   request whose meaning depends on how it was split into reads is a
   request-smuggling or desync bug. */

typedef struct { size_t header, body; } fuzz_http_limits_t;

static const fuzz_http_limits_t fuzz_http_limit_sets[] = {
    {16 * 1024, 16 * 1024 * 1024}, {64, 100}, {300, 4096},
};

/* Check that one answer of the parser is in range, and that a DONE
   request points into buf[0..len). */
FUZZ_FN void fuzz_http_sane(int rc, const corral_http_req_t *r, const char *buf, size_t len) {
    FUZZ_CHECK(rc == CORRAL_HTTP_MORE || rc == CORRAL_HTTP_DONE ||
               (rc >= 400 && rc <= 505 && strcmp(corral_http_reason(rc), "Unknown") != 0));
    if (rc != CORRAL_HTTP_DONE) return;
    FUZZ_CHECK(r->total > 0 && r->total <= len);
    FUZZ_CHECK(r->method >= CORRAL_HTTP_GET && r->method <= CORRAL_HTTP_OTHER);
    FUZZ_CHECK(r->minor == 0 || r->minor == 1);
    FUZZ_CHECK(r->path >= buf && r->path + r->path_len <= buf + r->total);
    FUZZ_CHECK(r->body >= buf && r->body + r->body_len <= buf + r->total);
    FUZZ_CHECK(!r->auth || (r->auth >= buf && r->auth + r->auth_len <= r->body));
    FUZZ_CHECK(!r->ctype || (r->ctype >= buf && r->ctype + r->ctype_len <= r->body));
}

FUZZ_FN int fuzz_http_same_bytes(const char *a, size_t an, const char *b, size_t bn) {
    if (!a || !b) return !a && !b && an == bn;
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* Two requests parsed from different buffers say the same thing. */
FUZZ_FN void fuzz_http_same(const corral_http_req_t *a, const corral_http_req_t *b) {
    FUZZ_CHECK(a->method == b->method && a->minor == b->minor);
    FUZZ_CHECK(a->keep_alive == b->keep_alive && a->expect_continue == b->expect_continue);
    FUZZ_CHECK(a->total == b->total);
    FUZZ_CHECK(fuzz_http_same_bytes(a->path, a->path_len, b->path, b->path_len));
    FUZZ_CHECK(fuzz_http_same_bytes(a->auth, a->auth_len, b->auth, b->auth_len));
    FUZZ_CHECK(fuzz_http_same_bytes(a->ctype, a->ctype_len, b->ctype, b->ctype_len));
    FUZZ_CHECK(fuzz_http_same_bytes(a->body, a->body_len, b->body, b->body_len));
}

/* Parse the pipelined requests after the first, as the gateway does:
   consume `total`, reset, parse the rest. */
FUZZ_FN void fuzz_http_pipeline(char *buf, size_t len, fuzz_http_limits_t lim) {
    corral_http_parser_t p;
    for (int i = 0; i < 64 && len; i++) {
        corral_http_req_t r;
        corral_http_parser_reset(&p);
        int rc = corral_http_parse(&p, buf, len, lim.header, lim.body, &r);
        fuzz_http_sane(rc, &r, buf, len);
        if (rc != CORRAL_HTTP_DONE) return;
        memmove(buf, buf + r.total, len - r.total);
        len -= r.total;
    }
}

FUZZ_FN int fuzz_http(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    fuzz_http_limits_t lim = fuzz_http_limit_sets[data[0] % 3];
    size_t len = size - 2, k = len * data[1] / 255;
    const uint8_t *in = data + 2;

    /* all at once */
    corral_http_parser_t pw;
    corral_http_req_t rw = {0};
    char *whole = fuzz_dup(in, len);
    corral_http_parser_reset(&pw);
    int rcw = corral_http_parse(&pw, whole, len, lim.header, lim.body, &rw);
    fuzz_http_sane(rcw, &rw, whole, len);
    if (rcw == CORRAL_HTTP_DONE) FUZZ_CHECK(corral_http_have_header(&pw));

    /* k bytes, again k bytes (a wake-up with nothing new), then all */
    corral_http_parser_t ps;
    corral_http_req_t rs = {0};
    char *split = fuzz_dup(in, k);
    corral_http_parser_reset(&ps);
    int rcs = corral_http_parse(&ps, split, k, lim.header, lim.body, &rs);
    fuzz_http_sane(rcs, &rs, split, k);
    if (rcs == CORRAL_HTTP_MORE) {
        rcs = corral_http_parse(&ps, split, k, lim.header, lim.body, &rs);
        FUZZ_CHECK(rcs == CORRAL_HTTP_MORE);
        split = realloc(split, len ? len : 1);
        if (!split) abort();
        /* bytes past what was consumed were never written, so the rest of
           the input goes on after them unchanged */
        if (len > k) memcpy(split + k, in + k, len - k);
        rcs = corral_http_parse(&ps, split, len, lim.header, lim.body, &rs);
        fuzz_http_sane(rcs, &rs, split, len);
    }
    FUZZ_CHECK(rcs == rcw);
    if (rcw == CORRAL_HTTP_DONE) {
        fuzz_http_same(&rw, &rs);
        /* a complete request keeps its answer when asked again */
        corral_http_req_t again;
        FUZZ_CHECK(corral_http_parse(&pw, whole, len, lim.header, lim.body, &again) == CORRAL_HTTP_DONE);
        fuzz_http_same(&rw, &again);
        size_t rest = len - rw.total;
        memmove(whole, whole + rw.total, rest);
        fuzz_http_pipeline(whole, rest, lim);
    }
    free(split);
    free(whole);
    return 0;
}

/* ---- XML-RPC --------------------------------------------------------------

   A methodCall body as a client sends it. Decoding either fails with one of
   the four codes the decoder may give, or packs params that the server's
   own msgpack reader takes back, that pass the value check every actor
   relies on, and that encode as a result without crashing. Whatever the
   encoder writes must be valid UTF-8 (it is the XML on the wire). */

FUZZ_FN void fuzz_xmlrpc_init(void) {
    static int done;
    if (!done) corral_xmlrpc_init();
    done = 1;
}

FUZZ_FN int fuzz_xmlrpc(const uint8_t *data, size_t size) {
    fuzz_quiet();
    fuzz_xmlrpc_init();
    char method[CORRAL_METHOD_NAME_MAX + 1];
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    corral_fault_t f = {0, ""};
    corral_buf_t out = {0};
    int rc = corral_xmlrpc_decode_call((const char *)data, size, 64, method, sizeof method, &pk, &f);
    if (rc < 0) {
        FUZZ_CHECK(f.code == CORRAL_F_PARSE || f.code == CORRAL_F_REQUEST ||
                   f.code == CORRAL_F_PARAMS || f.code == CORRAL_F_INTERNAL);
        FUZZ_CHECK(memchr(f.msg, '\0', sizeof f.msg) != NULL);
        FUZZ_CHECK(corral_xmlrpc_encode_fault(&out, f.code, f.msg, strlen(f.msg)) == 0);
        FUZZ_CHECK(corral_utf8_valid(out.data, out.len));
    } else {
        size_t mn = strnlen(method, sizeof method);
        FUZZ_CHECK(mn > 0 && mn <= CORRAL_METHOD_NAME_MAX);
        msgpack_zone z;
        msgpack_zone_init(&z, 2048);
        msgpack_object o;
        fuzz_unpack_ok(&sb, &z, &o);
        FUZZ_CHECK(o.type == MSGPACK_OBJECT_ARRAY);
        FUZZ_CHECK(corral_value_check(&o, 64, &f) == 0);
        /* the params as echo would return them: each one, and all as one array */
        for (uint32_t i = 0; i < o.via.array.size; i++) {
            corral_buf_clear(&out);
            if (corral_xmlrpc_encode_result(&out, &o.via.array.ptr[i]) == 0)
                FUZZ_CHECK(corral_utf8_valid(out.data, out.len));
            else
                FUZZ_CHECK(out.len == 0);   /* no half response */
        }
        corral_buf_clear(&out);
        if (corral_xmlrpc_encode_result(&out, &o) == 0) FUZZ_CHECK(corral_utf8_valid(out.data, out.len));
        msgpack_zone_destroy(&z);
    }
    corral_buf_free(&out);
    msgpack_sbuffer_destroy(&sb);
    return 0;
}

/* ---- envelope -------------------------------------------------------------

   Bytes from any peer on the broker's sockets (an analysis host is a
   separate process; with multi-node, another machine). A decoded envelope
   points only into the buffer, and packing its fields again with the
   project's own packers must decode to the same fields: the broker and
   the actors re-pack what they receive. A reply's result must encode as
   XML-RPC without crashing: the gateway writes it to the client. */

FUZZ_FN void fuzz_env_in(const char *s, uint32_t n, const uint8_t *data, size_t size) {
    if (n) FUZZ_CHECK(s >= (const char *)data && s + n <= (const char *)data + size);
}

FUZZ_FN void fuzz_env_repack(const corral_env_t *e, msgpack_packer *pk) {
    if (e->kind == CORRAL_K_REPLY && e->is_fault) {
        corral_env_pack_fault(pk, e->id, e->fcode, e->fstr, e->fstr_len);
    } else if (e->kind == CORRAL_K_REPLY) {
        corral_env_reply_begin(pk, e->id);
        corral_pack_object(pk, e->r);
    } else {
        corral_env_request_begin(pk, e->kind, e->id, e->to, e->to_len, e->user, e->user_len, e->role,
                                 e->dl, e->m, e->m_len);
        corral_pack_object(pk, e->p);
    }
}

FUZZ_FN int fuzz_envelope(const uint8_t *data, size_t size) {
    fuzz_quiet();
    msgpack_zone z;
    msgpack_zone_init(&z, 2048);
    corral_env_t e;
    corral_fault_t f = {0, ""};
    int rc = corral_env_decode((const char *)data, size, &z, 64, &e, &f);
    if (rc < 0) {
        FUZZ_CHECK(f.code == CORRAL_F_REQUEST || f.code == CORRAL_F_PARAMS || f.code == CORRAL_F_PARSE);
        msgpack_zone_destroy(&z);
        return 0;
    }
    FUZZ_CHECK(e.kind >= CORRAL_K_REQUEST && e.kind <= CORRAL_K_CONTROL);
    FUZZ_CHECK(e.role >= CORRAL_ROLE_NONE && e.role <= CORRAL_ROLE_ADMIN);
    FUZZ_CHECK(e.to_len <= CORRAL_ADDR_MAX && e.from_len <= CORRAL_ADDR_MAX && e.user_len <= CORRAL_ADDR_MAX);
    fuzz_env_in(e.to, e.to_len, data, size);
    fuzz_env_in(e.from, e.from_len, data, size);
    fuzz_env_in(e.user, e.user_len, data, size);
    fuzz_env_in(e.m, e.m_len, data, size);
    if (e.is_fault) fuzz_env_in(e.fstr, e.fstr_len, data, size);
    if (e.kind == CORRAL_K_REPLY) FUZZ_CHECK(e.r || e.is_fault);
    else FUZZ_CHECK(e.p && e.p->type == MSGPACK_OBJECT_ARRAY && e.m_len > 0);

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    fuzz_env_repack(&e, &pk);
    msgpack_zone z2;
    msgpack_zone_init(&z2, 2048);
    corral_env_t e2;
    FUZZ_CHECK(corral_env_decode(sb.data, sb.size, &z2, 64, &e2, &f) == 0);
    FUZZ_CHECK(e2.kind == e.kind && e2.id == e.id && e2.is_fault == e.is_fault);
    if (e.kind == CORRAL_K_REPLY && e.is_fault) {
        FUZZ_CHECK(e2.fcode == e.fcode && fuzz_http_same_bytes(e2.fstr, e2.fstr_len, e.fstr, e.fstr_len));
    } else if (e.kind != CORRAL_K_REPLY) {
        FUZZ_CHECK(e2.role == e.role && e2.dl == e.dl);
        FUZZ_CHECK(fuzz_http_same_bytes(e2.to, e2.to_len, e.to, e.to_len));
        FUZZ_CHECK(fuzz_http_same_bytes(e2.user, e2.user_len, e.user, e.user_len));
        FUZZ_CHECK(fuzz_http_same_bytes(e2.m, e2.m_len, e.m, e.m_len));
        FUZZ_CHECK(e2.p && e2.p->via.array.size == e.p->via.array.size);
    }
    if (e.r) {
        corral_buf_t out = {0};
        if (corral_xmlrpc_encode_result(&out, e.r) == 0) FUZZ_CHECK(corral_utf8_valid(out.data, out.len));
        corral_buf_free(&out);
    }
    msgpack_zone_destroy(&z2);
    msgpack_sbuffer_destroy(&sb);
    msgpack_zone_destroy(&z);
    return 0;
}

/* ---- logfmt ---------------------------------------------------------------

   What an analysis program (running as an unprivileged user, possibly
   hostile) writes on fd 3, one line at a time. A line is packed as a map
   with exactly as many members as the return value says, each member name
   once, or not at all; the map must pass the value check (it becomes a
   stored result, read back over XML-RPC). The input is fed whole and also
   line by line, as the host splits it. */

FUZZ_FN void fuzz_logfmt_line(const char *s, size_t n) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int k = corral_logfmt_pack(&pk, s, n);
    FUZZ_CHECK(k >= -1 && k <= CORRAL_LOGFMT_KEYS_MAX);
    if (k <= 0) {
        FUZZ_CHECK(sb.size == 0);
    } else {
        msgpack_zone z;
        msgpack_zone_init(&z, 2048);
        msgpack_object o;
        corral_fault_t f;
        fuzz_unpack_ok(&sb, &z, &o);
        FUZZ_CHECK(o.type == MSGPACK_OBJECT_MAP && o.via.map.size == (uint32_t)k);
        FUZZ_CHECK(corral_value_check(&o, 64, &f) == 0);
        for (uint32_t i = 0; i < o.via.map.size; i++) {
            const msgpack_object *a = &o.via.map.ptr[i].key;
            FUZZ_CHECK(a->via.str.size > 0);
            for (uint32_t j = i + 1; j < o.via.map.size; j++) {
                const msgpack_object *b = &o.via.map.ptr[j].key;
                FUZZ_CHECK(!fuzz_http_same_bytes(a->via.str.ptr, a->via.str.size, b->via.str.ptr,
                                                 b->via.str.size));
            }
        }
        msgpack_zone_destroy(&z);
    }
    msgpack_sbuffer_destroy(&sb);
}

FUZZ_FN int fuzz_logfmt(const uint8_t *data, size_t size) {
    char *buf = fuzz_dup(data, size);
    fuzz_logfmt_line(buf, size);
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || buf[i] == '\n') {
            if (i < size || start > 0) fuzz_logfmt_line(buf + start, i - start);
            start = i + 1;
        }
    }
    free(buf);
    return 0;
}

/* ---- descriptor -----------------------------------------------------------

   The descriptor parser reads only directories (corral_catalog_load), so
   the input is written as the one file of a private temporary directory and
   the catalog is loaded from it, schema and all. A descriptor is either
   left out or makes a catalog whose analysis.catalog() answer passes the
   value check and encodes as XML-RPC. */

static char fuzz_desc_dir[64];

FUZZ_FN void fuzz_descriptor_cleanup(void) {
    if (!fuzz_desc_dir[0]) return;
    char path[128];
    snprintf(path, sizeof path, "%s/fuzz.xml", fuzz_desc_dir);
    unlink(path);
    rmdir(fuzz_desc_dir);
    fuzz_desc_dir[0] = '\0';
}

FUZZ_FN int fuzz_descriptor(const uint8_t *data, size_t size) {
    fuzz_quiet();
    if (!fuzz_desc_dir[0]) {
        snprintf(fuzz_desc_dir, sizeof fuzz_desc_dir, "/tmp/corral-fuzz-desc-XXXXXX");
        if (!mkdtemp(fuzz_desc_dir)) abort();
        atexit(fuzz_descriptor_cleanup);
    }
    char dirs[1][CORRAL_PATH_MAX];
    snprintf(dirs[0], sizeof dirs[0], "%s", fuzz_desc_dir);
    char path[CORRAL_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/fuzz.xml", fuzz_desc_dir);
    FILE *fp = fopen(path, "wb");
    if (!fp) abort();
    if (size && fwrite(data, 1, size, fp) != size) abort();
    fclose(fp);

    corral_catalog_t *c = corral_catalog_load(dirs, 1, CORRAL_DESC_SCHEMA);
    FUZZ_CHECK(c != NULL && (c->n == 0 || c->n == 1));
    if (c->n == 1) {
        const corral_descriptor_t *d = &c->d[0];
        FUZZ_CHECK(corral_catalog_find(c, d->name, strlen(d->name)) == d);
        FUZZ_CHECK(d->nparams >= 0 && d->nparams <= CORRAL_DESC_PARAMS_MAX);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        corral_catalog_pack(c, &pk);
        msgpack_zone z;
        msgpack_zone_init(&z, 2048);
        msgpack_object o;
        corral_fault_t f;
        fuzz_unpack_ok(&sb, &z, &o);
        FUZZ_CHECK(o.type == MSGPACK_OBJECT_ARRAY && o.via.array.size == 1);
        FUZZ_CHECK(corral_value_check(&o, 64, &f) == 0);
        corral_buf_t out = {0};
        FUZZ_CHECK(corral_xmlrpc_encode_result(&out, &o) == 0);
        corral_buf_free(&out);
        msgpack_zone_destroy(&z);
        msgpack_sbuffer_destroy(&sb);
    }
    corral_catalog_destroy(&c);
    FUZZ_CHECK(c == NULL);
    return 0;
}

#endif
