/* corral — HTTP/1.1 request parsing (RFC 7230/7231) and response heads.

   The parser works on the connection's input buffer as it grows. It keeps
   only the progress fields of corral_http_parser_t between calls, so a
   header trickled in one byte at a time (slowloris) or a large body costs
   one pass over each byte, not one pass per read. Everything it is given
   comes from the network, and the server is root: every length is bounded
   before it is used, every ambiguity that could let two parsers disagree on
   where a request ends (request smuggling) is a 400. */
#include "corral/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum { HTTP_ERR_BAD = 400 };

void corral_http_parser_reset(corral_http_parser_t *p) {
    memset(p, 0, sizeof *p);
    p->content_length = -1;
    p->auth_off = p->ctype_off = SIZE_MAX;
}

bool corral_http_have_header(const corral_http_parser_t *p) { return p->header_len != 0; }

/* RFC 7230 3.2.6 tchar: the characters of a method or a field name. A
   table, as this runs for every byte of every field name. */
static const unsigned char TCHAR[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
    ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

static bool is_tchar(unsigned char c) { return TCHAR[c] != 0; }

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

/* Case-insensitive equality of s[0..n) and a lower-case literal. */
#define ieq(s, n, lit) ((n) == sizeof(lit) - 1 && strncasecmp((s), (lit), (n)) == 0)

/* RFC 7230 3.5: a server SHOULD ignore at least one empty line before the
   request line (old clients send CRLF after a POST body). One, not any
   number, so that skipping costs nothing to recompute on every call. */
static size_t lead_skip(const char *buf, size_t len) {
    return (len >= 2 && buf[0] == '\r' && buf[1] == '\n') ? 2 : 0;
}

/* Too much header: 414 when the request line alone is over the limit (the
   target is what is long), 431 otherwise. */
static int too_large(const char *buf, size_t start, size_t len, size_t max_header) {
    size_t n = len - start < max_header ? len - start : max_header;
    return memchr(buf + start, '\n', n) ? 431 : 414;
}

/* Look for the blank line that ends the header block, from where the last
   call stopped. DONE with p->header_len set (bytes from the buffer's start
   to the body), MORE, or a status. Every line must end in CRLF: a bare LF is
   400 at once, as some parsers take it for a line end and some do not. */
static int find_header_end(corral_http_parser_t *p, const char *buf, size_t len,
                           size_t max_header) {
    size_t start = lead_skip(buf, len);
    size_t i = p->scanned > start ? p->scanned : start;
    /* Never look past the limit: what lies beyond does not change the
       answer, so it is the same however the bytes were split into reads. */
    size_t lim = (len - start > max_header) ? start + max_header : len;
    while (i < lim) {
        const char *lf = memchr(buf + i, '\n', lim - i);
        if (!lf) {
            i = lim;
            break;
        }
        size_t at = (size_t)(lf - buf);
        if (at == start || buf[at - 1] != '\r') return HTTP_ERR_BAD;
        if (at == start + 1) return HTTP_ERR_BAD;       /* empty request line */
        if (at >= start + 2 && buf[at - 2] == '\n') {   /* this line is empty */
            p->header_len = at + 1;
            return CORRAL_HTTP_DONE;
        }
        i = at + 1;
    }
    p->scanned = i;
    if (len - start > max_header) return too_large(buf, start, len, max_header);
    return CORRAL_HTTP_MORE;
}

/* The request target, reduced to its path: the query is not part of the
   route, and an absolute-form target (RFC 7230 5.3.2) names the path after
   its authority. */
static void set_path(corral_http_parser_t *p, const char *buf, size_t t, size_t e) {
    const char *s = buf + t;
    size_t n = e - t, skip = 0;
    if (n >= 7 && strncasecmp(s, "http://", 7) == 0) skip = 7;
    else if (n >= 8 && strncasecmp(s, "https://", 8) == 0) skip = 8;
    if (skip) {
        const char *slash = memchr(s + skip, '/', n - skip);
        skip = slash ? (size_t)(slash - s) : n;
    }
    size_t end = skip;
    while (end < n && s[end] != '?' && s[end] != '#') end++;
    p->path_off = t + skip;
    p->req.path_len = end - skip;
}

/* method SP request-target SP HTTP-version, single spaces (RFC 7230 3.1.1:
   lenient whitespace is how smuggling starts). buf[s..e) is the line
   without its CRLF. */
static int parse_request_line(corral_http_parser_t *p, const char *buf, size_t s, size_t e) {
    size_t i = s;
    while (i < e && is_tchar((unsigned char)buf[i])) i++;
    if (i == s || i >= e || buf[i] != ' ') return HTTP_ERR_BAD;
    size_t mlen = i - s;
    if (mlen == 3 && memcmp(buf + s, "GET", 3) == 0) p->req.method = CORRAL_HTTP_GET;
    else if (mlen == 4 && memcmp(buf + s, "POST", 4) == 0) p->req.method = CORRAL_HTTP_POST;
    else if (mlen == 4 && memcmp(buf + s, "HEAD", 4) == 0) p->req.method = CORRAL_HTTP_HEAD;
    else p->req.method = CORRAL_HTTP_OTHER;   /* methods are case-sensitive */

    size_t t = ++i;
    while (i < e && (unsigned char)buf[i] > ' ' && (unsigned char)buf[i] < 0x7f) i++;
    if (i == t || i >= e || buf[i] != ' ') return HTTP_ERR_BAD;
    size_t te = i++;

    const char *v = buf + i;
    if (e - i != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
        v[6] != '.' || v[7] < '0' || v[7] > '9')
        return HTTP_ERR_BAD;
    if (v[5] != '1' || v[7] > '1') return 505;
    p->req.minor = v[7] - '0';
    set_path(p, buf, t, te);
    return CORRAL_HTTP_DONE;
}

/* Seen while parsing one header block; decided on at its end. */
typedef struct fields {
    bool conn_close, conn_keep, have_te;
} fields_t;

/* Content-Length: 1*DIGIT (RFC 7230 3.3.2). A list ("5, 5"), a sign, or a
   second header that differs is 400: a proxy in front of us may have read
   another length, and the difference is a smuggled request. */
static int field_content_length(corral_http_parser_t *p, const char *v, size_t n,
                                size_t max_body) {
    if (n == 0) return HTTP_ERR_BAD;
    int64_t cl = 0;
    for (size_t k = 0; k < n; k++) {
        if (v[k] < '0' || v[k] > '9') return HTTP_ERR_BAD;
        int d = v[k] - '0';
        if (cl > (INT64_MAX - d) / 10) return HTTP_ERR_BAD;
        cl = cl * 10 + d;
    }
    if (p->content_length >= 0 && p->content_length != cl) return HTTP_ERR_BAD;
    p->content_length = cl;
    /* Refuse a large claim now, before the client sends (or we buffer) it. */
    if ((uint64_t)cl > (uint64_t)max_body) return 413;
    return CORRAL_HTTP_DONE;
}

/* Connection: a comma-separated list of options (RFC 7230 6.1). */
static void field_connection(fields_t *f, const char *v, size_t n) {
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_ows(v[i]) || v[i] == ',')) i++;
        size_t s = i;
        while (i < n && v[i] != ',' && !is_ows(v[i])) i++;
        if (ieq(v + s, i - s, "close")) f->conn_close = true;
        else if (ieq(v + s, i - s, "keep-alive")) f->conn_keep = true;
    }
}

/* Remember a string header's place; a second copy is ambiguous (which one
   authenticates?) and is refused. */
static int field_offset(size_t *off, size_t *len_out, size_t at, size_t n) {
    if (*off != SIZE_MAX) return HTTP_ERR_BAD;
    *off = at;
    *len_out = n;
    return CORRAL_HTTP_DONE;
}

/* One header field, buf[s..e) without its CRLF. */
static int parse_field(corral_http_parser_t *p, fields_t *f, const char *buf, size_t s,
                       size_t e, size_t max_body) {
    /* obs-fold (RFC 7230 3.2.4): a line that continues the previous one.
       Refused rather than joined, since parsers disagree on it. */
    if (is_ows(buf[s])) return HTTP_ERR_BAD;
    size_t i = s;
    while (i < e && is_tchar((unsigned char)buf[i])) i++;
    /* No whitespace between name and colon (RFC 7230 3.2.4: MUST be 400). */
    if (i == s || i >= e || buf[i] != ':') return HTTP_ERR_BAD;
    const char *name = buf + s;
    size_t nlen = i - s, v = i + 1, ve = e;
    while (v < ve && is_ows(buf[v])) v++;
    while (ve > v && is_ows(buf[ve - 1])) ve--;
    /* NUL, bare CR and other controls end strings early or split lines in
       whatever reads the value next (logs, C strings). */
    for (size_t k = v; k < ve; k++) {
        unsigned char c = (unsigned char)buf[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return HTTP_ERR_BAD;
    }
    const char *val = buf + v;
    size_t vlen = ve - v;
    if (ieq(name, nlen, "content-length"))
        return field_content_length(p, val, vlen, max_body);
    if (ieq(name, nlen, "transfer-encoding")) {
        /* Only a lone "chunked": any other coding, or chunked twice, is
           something we cannot decode (RFC 7230 3.3.1 → 501). */
        if (f->have_te || !ieq(val, vlen, "chunked")) return 501;
        f->have_te = p->chunked = true;
    } else if (ieq(name, nlen, "connection")) {
        field_connection(f, val, vlen);
    } else if (ieq(name, nlen, "expect")) {
        if (ieq(val, vlen, "100-continue")) p->req.expect_continue = true;
    } else if (ieq(name, nlen, "authorization")) {
        return field_offset(&p->auth_off, &p->req.auth_len, v, vlen);
    } else if (ieq(name, nlen, "content-type")) {
        return field_offset(&p->ctype_off, &p->req.ctype_len, v, vlen);
    }
    return CORRAL_HTTP_DONE;
}

/* Parse the complete header block buf[start..p->header_len). */
static int parse_header_block(corral_http_parser_t *p, const char *buf, size_t max_body) {
    size_t pos = lead_skip(buf, p->header_len), end = p->header_len - 2;
    fields_t f = {0};
    bool first = true;
    while (pos < end) {
        /* find_header_end checked that every LF here follows a CR */
        const char *lf = memchr(buf + pos, '\n', end - pos);
        size_t le = (size_t)(lf - buf) - 1;
        int st = first ? parse_request_line(p, buf, pos, le)
                       : parse_field(p, &f, buf, pos, le, max_body);
        if (st != CORRAL_HTTP_DONE) return st;
        first = false;
        pos = le + 2;
    }
    /* Both framings at once is the classic smuggling vector (RFC 7230
       3.3.3 step 3): refuse instead of choosing one. */
    if (p->chunked && p->content_length >= 0) return HTTP_ERR_BAD;
    if (p->req.method == CORRAL_HTTP_POST && !p->chunked && p->content_length < 0)
        return 411;
    /* HTTP/1.1 persists unless told to close; 1.0 only when asked to. */
    p->req.keep_alive = !f.conn_close && (p->req.minor == 1 || f.conn_keep);
    /* RFC 7231 5.1.1: a 100-continue from an HTTP/1.0 client MUST be
       ignored (it would not understand the interim response). */
    if (p->req.minor == 0) p->req.expect_continue = false;
    return CORRAL_HTTP_DONE;
}

/* chunk-size [ chunk-ext ], s[0..n) without CRLF. Extensions are ignored
   but may not hold control characters. *size is the size, or 413 is
   returned when it would take the body past room bytes. */
static int parse_chunk_size(const char *s, size_t n, size_t room, size_t *size) {
    size_t i = 0;
    uint64_t v = 0;
    bool big = false;
    for (; i < n; i++) {
        int d;
        char c = s[i];
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else break;
        /* saturate rather than wrap: a wrapped size is a smuggled body */
        if (!big && v > (UINT64_MAX - (uint64_t)d) / 16) big = true;
        if (!big) v = v * 16 + (uint64_t)d;
    }
    if (i == 0) return HTTP_ERR_BAD;
    size_t x = i;
    while (x < n && is_ows(s[x])) x++;
    if (x < n && s[x] != ';') return HTTP_ERR_BAD;
    for (; x < n; x++) {
        unsigned char c = (unsigned char)s[x];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return HTTP_ERR_BAD;
    }
    if (big || v > (uint64_t)room) return 413;
    *size = (size_t)v;
    return CORRAL_HTTP_DONE;
}

/* Skip the trailer section after the last chunk (its fields are not used):
   CRLF-terminated lines up to an empty one. b[at..avail) is what follows
   the last-chunk line. *end is set past the final CRLF. */
static int skip_trailers(const char *b, size_t at, size_t avail, size_t max_header,
                         size_t *end) {
    size_t pos = at;
    /* as for the header: nothing past the limit is looked at */
    size_t lim = (avail - at > max_header) ? at + max_header : avail;
    for (;;) {
        const char *lf = memchr(b + pos, '\n', lim - pos);
        if (!lf) return (avail - at > max_header) ? 431 : CORRAL_HTTP_MORE;
        size_t le = (size_t)(lf - b);
        if (le == pos || b[le - 1] != '\r') return HTTP_ERR_BAD;
        if (le == pos + 1) {
            *end = le + 1;
            return CORRAL_HTTP_DONE;
        }
        pos = le + 1;
    }
}

/* Decode as many whole chunks as have arrived, moving their data down over
   the chunk framing (in place: the output never overtakes the input). A
   chunk is moved only once it is complete, so chunk_in always sits at the
   start of a chunk-size line and nothing is decoded twice. */
static int decode_chunks(corral_http_parser_t *p, char *buf, size_t len, size_t max_header,
                         size_t max_body) {
    char *b = buf + p->header_len;
    size_t avail = len - p->header_len;
    for (;;) {
        size_t in = p->chunk_in, look = avail - in;
        /* a size line is short: do not search megabytes for its end */
        if (look > max_header) look = max_header;
        const char *lf = memchr(b + in, '\n', look);
        if (!lf) return (avail - in >= max_header) ? HTTP_ERR_BAD : CORRAL_HTTP_MORE;
        size_t le = (size_t)(lf - b);
        if (le == in || b[le - 1] != '\r') return HTTP_ERR_BAD;
        size_t size = 0;
        int st = parse_chunk_size(b + in, le - 1 - in, max_body - p->chunk_out, &size);
        if (st != CORRAL_HTTP_DONE) return st;
        size_t data = le + 1;
        if (size == 0) {
            size_t end = 0;
            st = skip_trailers(b, data, avail, max_header, &end);
            if (st == CORRAL_HTTP_DONE) p->chunk_in = end;
            return st;
        }
        if (avail - data < size || avail - data - size < 2) return CORRAL_HTTP_MORE;
        if (b[data + size] != '\r' || b[data + size + 1] != '\n') return HTTP_ERR_BAD;
        memmove(b + p->chunk_out, b + data, size);
        p->chunk_out += size;
        p->chunk_in = data + size + 2;
    }
}

/* Point p->req and *req into buf, which may not be the buffer the header
   was parsed in (the caller's buffer may have been reallocated). */
static void point_req(corral_http_parser_t *p, char *buf, corral_http_req_t *req) {
    p->req.path = buf + p->path_off;
    p->req.auth = p->auth_off == SIZE_MAX ? NULL : buf + p->auth_off;
    p->req.ctype = p->ctype_off == SIZE_MAX ? NULL : buf + p->ctype_off;
    p->req.body = buf + p->header_len;
    if (req) *req = p->req;
}

int corral_http_parse(corral_http_parser_t *p, char *buf, size_t len, size_t max_header,
                      size_t max_body, corral_http_req_t *req) {
    if (len < p->header_len) return CORRAL_HTTP_MORE; /* caller shrank the buffer */
    if (p->req.total) {                 /* already complete: same answer */
        point_req(p, buf, req);
        return CORRAL_HTTP_DONE;
    }
    if (!p->header_len) {
        int st = find_header_end(p, buf, len, max_header);
        if (st != CORRAL_HTTP_DONE) return st;
        /* Start from a clean slate, so a retry after an error finds the
           same error (not a "duplicate" of what the first try stored). */
        size_t header_len = p->header_len;
        corral_http_parser_reset(p);
        p->header_len = header_len;
        st = parse_header_block(p, buf, max_body);
        if (st != CORRAL_HTTP_DONE) {
            p->header_len = 0;          /* a retry finds the same error */
            return st;
        }
    }
    int st;
    if (p->chunked) {
        st = decode_chunks(p, buf, len, max_header, max_body);
        if (st == CORRAL_HTTP_DONE) {
            p->req.body_len = p->chunk_out;
            p->req.total = p->header_len + p->chunk_in;
        }
    } else {
        size_t cl = p->content_length > 0 ? (size_t)p->content_length : 0;
        st = (len - p->header_len < cl) ? CORRAL_HTTP_MORE : CORRAL_HTTP_DONE;
        if (st == CORRAL_HTTP_DONE) {
            p->req.body_len = cl;
            p->req.total = p->header_len + cl;
        }
    }
    point_req(p, buf, req);
    return st;
}

const char *corral_http_reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* RFC 7231 7.1.1.2: an origin server with a clock MUST send Date. Formatted
   once a second; the cache is per thread, so no lock is needed. */
static const char *http_date(void) {
    static _Thread_local time_t last = (time_t)-1;
    static _Thread_local char text[40];
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return text;
}

size_t corral_http_head(char *out, size_t cap, int minor, int status, const char *ctype,
                        size_t body_len, bool keep_alive, const char *extra) {
    /* A CR or LF in the type would let it write headers of its own. */
    if (ctype && strpbrk(ctype, "\r\n")) return 0;
    if (minor != 0) minor = 1;
    int n;
    if (status >= 100 && status < 200) {
        /* RFC 7230 3.3.2: no Content-Length in a 1xx response */
        n = snprintf(out, cap, "HTTP/1.%d %d %s\r\n%s\r\n", minor, status,
                     corral_http_reason(status), extra ? extra : "");
    } else {
        n = snprintf(out, cap,
                     "HTTP/1.%d %d %s\r\nDate: %s\r\n%s%s%sContent-Length: %zu\r\n"
                     "Connection: %s\r\n%s\r\n",
                     minor, status, corral_http_reason(status), http_date(),
                     ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
                     body_len, keep_alive ? "keep-alive" : "close", extra ? extra : "");
    }
    if (n < 0 || (size_t)n >= cap) return 0;
    return (size_t)n;
}
