/* Unit tests of gateway/http.c: the request parser and response heads. */
#include "corral/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define MAXH 16384
#define MAXB (16u << 20)

/* Parse s in a buffer of exactly its size (so ASan sees any overread). */
static int parse_str(const char *s, size_t n, size_t max_header, size_t max_body,
                     corral_http_req_t *req, char **keep) {
    char *buf = malloc(n ? n : 1);
    memcpy(buf, s, n);
    corral_http_parser_t p;
    corral_http_parser_reset(&p);
    corral_http_req_t r;
    memset(&r, 0, sizeof r);
    int st = corral_http_parse(&p, buf, n, max_header, max_body, &r);
    if (req) *req = r;
    if (keep) *keep = buf;
    else free(buf);
    return st;
}

static int status_of(const char *s) { return parse_str(s, strlen(s), MAXH, MAXB, NULL, NULL); }

static bool eqs(const char *p, size_t n, const char *lit) {
    return p && n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static void test_post_with_content_length_is_done(void) {
    const char *s = "POST /RPC2?x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: text/xml\r\n"
                    "authorization:  Basic YTpi \r\nContent-Length: 5\r\n\r\nhello";
    corral_http_req_t r;
    char *buf;
    CHECK(parse_str(s, strlen(s), MAXH, MAXB, &r, &buf) == CORRAL_HTTP_DONE);
    CHECK(r.method == CORRAL_HTTP_POST);
    CHECK(eqs(r.path, r.path_len, "/RPC2"));
    CHECK(r.minor == 1 && r.keep_alive && !r.expect_continue);
    CHECK(eqs(r.ctype, r.ctype_len, "text/xml"));
    CHECK(eqs(r.auth, r.auth_len, "Basic YTpi"));
    CHECK(eqs(r.body, r.body_len, "hello"));
    CHECK(r.total == strlen(s));
    free(buf);
}

static void test_get_without_body(void) {
    const char *s = "GET /health HTTP/1.1\r\n\r\n";
    corral_http_req_t r;
    CHECK(parse_str(s, strlen(s), MAXH, MAXB, &r, NULL) == CORRAL_HTTP_DONE);
    CHECK(r.method == CORRAL_HTTP_GET && r.body_len == 0 && r.auth == NULL && r.ctype == NULL);
    CHECK(r.total == strlen(s));
    CHECK(status_of("HEAD / HTTP/1.1\r\n\r\n") == CORRAL_HTTP_DONE);
}

static void test_connection_semantics(void) {
    corral_http_req_t r;
    const char *a = "GET / HTTP/1.0\r\n\r\n";
    CHECK(parse_str(a, strlen(a), MAXH, MAXB, &r, NULL) == 1 && !r.keep_alive && r.minor == 0);
    const char *b = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    CHECK(parse_str(b, strlen(b), MAXH, MAXB, &r, NULL) == 1 && r.keep_alive);
    const char *c = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    CHECK(parse_str(c, strlen(c), MAXH, MAXB, &r, NULL) == 1 && !r.keep_alive);
    const char *d = "GET / HTTP/1.1\r\nConnection: TE, keep-alive, Close\r\n\r\n";
    CHECK(parse_str(d, strlen(d), MAXH, MAXB, &r, NULL) == 1 && !r.keep_alive);
    const char *e = "GET / HTTP/1.1\r\n\r\n";
    CHECK(parse_str(e, strlen(e), MAXH, MAXB, &r, NULL) == 1 && r.keep_alive);
}

static void test_other_methods_are_other(void) {
    corral_http_req_t r;
    const char *s = "PUT /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nab";
    CHECK(parse_str(s, strlen(s), MAXH, MAXB, &r, NULL) == 1 && r.method == CORRAL_HTTP_OTHER);
    CHECK(r.total == strlen(s));
    const char *g = "get / HTTP/1.1\r\n\r\n";   /* methods are case-sensitive */
    CHECK(parse_str(g, strlen(g), MAXH, MAXB, &r, NULL) == 1 && r.method == CORRAL_HTTP_OTHER);
}

static void test_bad_version_is_505(void) {
    CHECK(status_of("GET / HTTP/2.0\r\n\r\n") == 505);
    CHECK(status_of("GET / HTTP/1.2\r\n\r\n") == 505);
    CHECK(status_of("GET / HTTP/0.9\r\n\r\n") == 505);
    CHECK(status_of("GET / HTTP/1\r\n\r\n") == 400);
    CHECK(status_of("GET / http/1.1\r\n\r\n") == 400);
}

static void test_malformed_is_400(void) {
    static const char *bad[] = {
        "GET /\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1 \r\n\r\n",
        " GET / HTTP/1.1\r\n\r\n",
        "\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\nHost: x\n\n",                     /* bare LF */
        "GET / HTTP/1.1\r\nHost x\r\n\r\n",                /* no colon */
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",              /* space before colon */
        "GET / HTTP/1.1\r\nX-A: a\r\n  folded\r\n\r\n",    /* obs-fold */
        "GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n",             /* bare CR */
        "GET / HTTP/1.1\r\nX-A: a\001b\r\n\r\n",           /* control */
        "GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5x\r\n\r\nhello",
        "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello",
        "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello",
        "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a\001\r\nhello\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = status_of(bad[i]);
        if (st != 400) {
            fprintf(stderr, "malformed #%zu: got %d, want 400\n", i, st);
            failures++;
        }
    }
    /* NUL inside a header value */
    const char nul[] = "GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n";
    CHECK(parse_str(nul, sizeof nul - 1, MAXH, MAXB, NULL, NULL) == 400);
    /* the same Content-Length twice is one length */
    CHECK(status_of("POST / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nx") == 1);
}

static void test_post_without_length_is_411(void) {
    CHECK(status_of("POST /RPC2 HTTP/1.1\r\nHost: x\r\n\r\n") == 411);
    CHECK(status_of("POST /RPC2 HTTP/1.0\r\n\r\n") == 411);
}

static void test_too_large_is_413(void) {
    CHECK(parse_str("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 39, MAXH, 10, NULL, NULL)
          == 413);
    /* a 4 GiB claim is refused as soon as the header is in, body or not */
    CHECK(status_of("POST / HTTP/1.1\r\nContent-Length: 4294967296\r\n\r\n") == 413);
    CHECK(status_of("POST / HTTP/1.1\r\nContent-Length: 4294967296\r\n\r\nabc") == 413);
    CHECK(status_of("POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\n") == 413);
    const char *ch = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n";
    CHECK(parse_str(ch, strlen(ch), MAXH, 11, NULL, NULL) == 413);
    CHECK(parse_str(ch, strlen(ch), MAXH, 12, NULL, NULL) == CORRAL_HTTP_DONE);
    /* a huge chunk size is refused before its data arrives */
    CHECK(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "ffffffffffffffffffffffff\r\n") == 413);
    CHECK(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000001\r\n") == 413);
}

static void test_long_request_line_is_414(void) {
    size_t n = 20000;
    char *s = malloc(n);
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', n - 5);
    CHECK(parse_str(s, n, MAXH, MAXB, NULL, NULL) == 414);
    memcpy(s + n - 13, " HTTP/1.1\r\n\r\n", 13);      /* ended, but still too long */
    CHECK(parse_str(s, n, MAXH, MAXB, NULL, NULL) == 414);
    free(s);
}

static void test_large_header_is_431(void) {
    /* 10,000 headers, complete */
    size_t cap = 10000 * 12 + 64, n = 0;
    char *s = malloc(cap);
    n += (size_t)sprintf(s + n, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 10000; i++) n += (size_t)sprintf(s + n, "X-%05d: 1\r\n", i % 100000);
    n += (size_t)sprintf(s + n, "\r\n");
    CHECK(parse_str(s, n, MAXH, MAXB, NULL, NULL) == 431);
    /* no blank line yet, but more than max_header buffered */
    CHECK(parse_str(s, n - 2, MAXH, MAXB, NULL, NULL) == 431);
    CHECK(parse_str(s, 1000, MAXH, MAXB, NULL, NULL) == CORRAL_HTTP_MORE);
    free(s);
}

static void test_unknown_coding_is_501(void) {
    CHECK(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n") == 501);
    CHECK(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == 501);
    CHECK(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n") == 501);
}

static void test_chunked_with_extensions_and_trailers(void) {
    const char *s = "POST /RPC2 HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
                    "4;name=val\r\nWiki\r\n5 ; x\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
                    "0;last\r\nX-Trailer: 1\r\nY: 2\r\n\r\n";
    corral_http_req_t r;
    char *buf;
    CHECK(parse_str(s, strlen(s), MAXH, MAXB, &r, &buf) == CORRAL_HTTP_DONE);
    CHECK(eqs(r.body, r.body_len, "Wikipedia in\r\n\r\nchunks."));
    CHECK(r.total == strlen(s));
    free(buf);
    const char *e = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    CHECK(parse_str(e, strlen(e), MAXH, MAXB, &r, NULL) == 1 && r.body_len == 0);
    CHECK(r.total == strlen(e));
}

/* Parse the requests of s one after another, as the gateway does:
   consume total, reset, parse the rest. Returns how many were complete. */
static int parse_pipeline(const char *s, const char **bodies, int nbodies) {
    size_t n = strlen(s), off = 0;
    char *buf = malloc(n);
    memcpy(buf, s, n);
    int count = 0;
    corral_http_parser_t p;
    for (;;) {
        corral_http_parser_reset(&p);
        corral_http_req_t r;
        int st = corral_http_parse(&p, buf + off, n - off, MAXH, MAXB, &r);
        if (st != CORRAL_HTTP_DONE) break;
        if (count < nbodies) CHECK(eqs(r.body, r.body_len, bodies[count]));
        count++;
        off += r.total;
    }
    CHECK(off == n);
    free(buf);
    return count;
}

static void test_pipelined_requests(void) {
    const char *s = "POST /RPC2 HTTP/1.1\r\nContent-Length: 3\r\n\r\none"
                    "POST /RPC2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n"
                    "GET /health HTTP/1.1\r\n\r\n"
                    "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nthree";
    const char *bodies[] = {"one", "two", "", "three"};
    CHECK(parse_pipeline(s, bodies, 4) == 4);
}

/* Feed s one byte at a time into a buffer that moves on every read (as a
   realloc'd connection buffer may), and compare with parsing it whole. */
static void feed_bytewise(const char *s, size_t max_body) {
    size_t n = strlen(s);
    corral_http_req_t whole, r;
    char *wbuf;
    int want = parse_str(s, n, MAXH, max_body, &whole, &wbuf);
    corral_http_parser_t p;
    corral_http_parser_reset(&p);
    char *buf = NULL;
    int st = CORRAL_HTTP_MORE;
    size_t k;
    for (k = 1; k <= n && st == CORRAL_HTTP_MORE; k++) {
        char *nb = malloc(k);
        if (buf) memcpy(nb, buf, k - 1);
        nb[k - 1] = s[k - 1];
        free(buf);
        buf = nb;
        st = corral_http_parse(&p, buf, k, MAXH, max_body, &r);
        if (st == CORRAL_HTTP_MORE && p.header_len)
            CHECK(corral_http_have_header(&p) && r.path >= buf && r.path < buf + k);
    }
    CHECK(st == want);
    if (st == CORRAL_HTTP_DONE && want == CORRAL_HTTP_DONE) {
        CHECK(k - 1 == n);
        CHECK(r.total == whole.total && r.method == whole.method && r.minor == whole.minor);
        CHECK(r.keep_alive == whole.keep_alive && r.body_len == whole.body_len);
        CHECK(r.path_len == whole.path_len && memcmp(r.path, whole.path, r.path_len) == 0);
        CHECK(memcmp(r.body, whole.body, r.body_len) == 0);
        CHECK((r.auth == NULL) == (whole.auth == NULL));
        /* asking again after DONE gives the same request */
        corral_http_req_t again;
        CHECK(corral_http_parse(&p, buf, n, MAXH, max_body, &again) == CORRAL_HTTP_DONE);
        CHECK(again.total == r.total && again.body == r.body);
    }
    free(buf);
    free(wbuf);
}

static void test_one_byte_at_a_time(void) {
    feed_bytewise("POST /RPC2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
                  "Content-Length: 11\r\n\r\nhello world", MAXB);
    feed_bytewise("\r\nPOST /RPC2 HTTP/1.0\r\nConnection: keep-alive\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n"
                  "4;ext=\"q\"\r\nWiki\r\n5\r\npedia\r\n0\r\nT: 1\r\n\r\n", MAXB);
    feed_bytewise("GET /health?verbose HTTP/1.1\r\n\r\n", MAXB);
    feed_bytewise("POST / HTTP/1.1\r\nContent-Length: 4294967296\r\n\r\n", MAXB);
    feed_bytewise("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n", 10);
    feed_bytewise("POST / HTTP/1.1\r\nX: a\nb\r\n\r\n", MAXB);
}

static void test_expect_continue_header_before_body(void) {
    const char *s = "POST /RPC2 HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n";
    corral_http_parser_t p;
    corral_http_parser_reset(&p);
    char *buf = malloc(strlen(s) + 4);
    memcpy(buf, s, strlen(s));
    corral_http_req_t r;
    CHECK(corral_http_parse(&p, buf, strlen(s), MAXH, MAXB, &r) == CORRAL_HTTP_MORE);
    CHECK(corral_http_have_header(&p) && r.expect_continue && r.method == CORRAL_HTTP_POST);
    memcpy(buf + strlen(s), "body", 4);
    CHECK(corral_http_parse(&p, buf, strlen(s) + 4, MAXH, MAXB, &r) == CORRAL_HTTP_DONE);
    CHECK(eqs(r.body, r.body_len, "body"));
    free(buf);
}

static void test_expect_continue_ignored_from_http10(void) {
    corral_http_req_t r;
    const char *s = "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx";
    CHECK(parse_str(s, strlen(s), MAXH, MAXB, &r, NULL) == 1 && !r.expect_continue);
}

static void test_absolute_form_target(void) {
    corral_http_req_t r;
    char *buf;
    const char *s = "GET http://example.com:80/metrics?x HTTP/1.1\r\n\r\n";
    CHECK(parse_str(s, strlen(s), MAXH, MAXB, &r, &buf) == 1 && eqs(r.path, r.path_len, "/metrics"));
    free(buf);
}

static void test_error_is_stable_on_retry(void) {
    const char *s = "POST / HTTP/1.1\r\nAuthorization: a\r\nContent-Length: 5x\r\n\r\n";
    corral_http_parser_t p;
    corral_http_parser_reset(&p);
    char *buf = strdup(s);
    corral_http_req_t r;
    CHECK(corral_http_parse(&p, buf, strlen(s), MAXH, MAXB, &r) == 400);
    CHECK(corral_http_parse(&p, buf, strlen(s), MAXH, MAXB, &r) == 400);
    free(buf);
}

static void test_response_head(void) {
    char out[512];
    size_t n = corral_http_head(out, sizeof out, 1, 200, "text/xml", 42, true, "X-A: b\r\n");
    CHECK(n > 0 && n == strlen(out));
    CHECK(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(strstr(out, "\r\nContent-Type: text/xml\r\n") && strstr(out, "\r\nContent-Length: 42\r\n"));
    CHECK(strstr(out, "\r\nConnection: keep-alive\r\n") && strstr(out, "\r\nDate: "));
    CHECK(n >= 10 && strcmp(out + n - 10, "X-A: b\r\n\r\n") == 0);
    n = corral_http_head(out, sizeof out, 0, 401, NULL, 0, false,
                         "WWW-Authenticate: Basic realm=\"corral\"\r\n");
    CHECK(n > 0 && strncmp(out, "HTTP/1.0 401 Unauthorized\r\n", 27) == 0);
    CHECK(strstr(out, "Connection: close\r\n") && !strstr(out, "Content-Type"));
    n = corral_http_head(out, sizeof out, 1, 100, NULL, 0, true, NULL);
    CHECK(n > 0 && strcmp(out, "HTTP/1.1 100 Continue\r\n\r\n") == 0);
    CHECK(corral_http_head(out, 20, 1, 200, "text/xml", 42, true, NULL) == 0);
    CHECK(corral_http_head(out, sizeof out, 1, 200, "text/xml\r\nX: y", 1, true, NULL) == 0);
    static const int st[] = {100, 200, 400, 401, 403, 404, 405, 408, 411, 413, 414, 431,
                             500, 501, 503, 505};
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++)
        CHECK(strcmp(corral_http_reason(st[i]), "Unknown") != 0);
    CHECK(strcmp(corral_http_reason(404), "Not Found") == 0);
    CHECK(strcmp(corral_http_reason(431), "Request Header Fields Too Large") == 0);
}

/* Not a check: how long a typical XML-RPC request head takes to parse. */
static void bench_typical_header(void) {
    const char *s = "POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1:8750\r\n"
                    "Accept-Encoding: gzip\r\nContent-Type: text/xml\r\n"
                    "User-Agent: Python-xmlrpc/3.11\r\nConnection: keep-alive\r\n"
                    "Authorization: Basic YWRtaW46MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\r\n"
                    "Content-Length: 0\r\n\r\n";
    size_t n = strlen(s);
    char *buf = strdup(s);
    const int iters = 200000;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    size_t sum = 0;
    for (int i = 0; i < iters; i++) {
        corral_http_parser_t p;
        corral_http_req_t r;
        corral_http_parser_reset(&p);
        if (corral_http_parse(&p, buf, n, MAXH, MAXB, &r) == CORRAL_HTTP_DONE) sum += r.total;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / iters;
    CHECK(sum == (size_t)iters * n);
    printf("parse of a %zu-byte POST head: %.0f ns/request\n", n, ns);
    free(buf);
}

int main(void) {
    test_post_with_content_length_is_done();
    test_get_without_body();
    test_connection_semantics();
    test_other_methods_are_other();
    test_bad_version_is_505();
    test_malformed_is_400();
    test_post_without_length_is_411();
    test_too_large_is_413();
    test_long_request_line_is_414();
    test_large_header_is_431();
    test_unknown_coding_is_501();
    test_chunked_with_extensions_and_trailers();
    test_pipelined_requests();
    test_one_byte_at_a_time();
    test_expect_continue_header_before_body();
    test_expect_continue_ignored_from_http10();
    test_absolute_form_target();
    test_error_is_stable_on_retry();
    test_response_head();
    bench_typical_header();
    if (failures) {
        fprintf(stderr, "test_http: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_http: all passed\n");
    return 0;
}
