/* corral — msgpack values -> XML-RPC methodResponse (API.md §2, §4).

   A hand-written writer into corral_buf_t: every response goes through here,
   and building a libxml2 tree only to serialise it would cost more than the
   rest of a call. What it writes must parse back to the same value in any
   XML-RPC client, so anything XML 1.0 cannot carry is refused (-1) rather
   than written ill-formed. */
#include "corral/xmlrpc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <msgpack/timestamp.h>

/* Results come from msgpack objects (already bounded by the unpacker); this
   only keeps a malformed tree from exhausting the C stack. */
#define ENCODE_DEPTH_MAX 1000

#define PUT(b, lit) corral_buf_append((b), (lit), sizeof(lit) - 1)

/* Byte classes for character data. */
enum { C_PLAIN, C_ESC, C_BAD, C_HIGH };

/* C0 controls other than tab/LF/CR are not XML 1.0 characters, not even as
   references. CR is written as &#13; because parsers turn a raw CR into LF. */
static const unsigned char byte_class[256] = {
    [0 ... 8] = C_BAD, [11 ... 12] = C_BAD, [14 ... 0x1F] = C_BAD, ['\r'] = C_ESC,
    ['<'] = C_ESC, ['>'] = C_ESC, ['&'] = C_ESC, [0x80 ... 0xFF] = C_HIGH,
};

/* Length of the UTF-8 sequence at s[0..n) if it is a valid XML character,
   else 0 (invalid UTF-8, or U+FFFE/U+FFFF, which XML excludes). */
static size_t xml_utf8_len(const unsigned char *s, size_t n) {
    size_t len = s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
    if (len > n || !corral_utf8_valid((const char *)s, len)) return 0;
    if (len == 3 && s[0] == 0xEF && s[1] == 0xBF && s[2] >= 0xBE) return 0;
    return len;
}

static int put_escape(corral_buf_t *b, char c) {
    switch (c) {
    case '<': return PUT(b, "&lt;");
    case '>': return PUT(b, "&gt;");
    case '&': return PUT(b, "&amp;");
    default: return PUT(b, "&#13;");
    }
}

/* Write s[0..n) as character data. A byte XML cannot carry fails (-1), or,
   when lossy (fault sentences, which must always go out), becomes '?'. */
static int put_text(corral_buf_t *b, const char *str, size_t n, bool lossy) {
    if (n == 0) return 0;
    const unsigned char *s = (const unsigned char *)str;
    size_t run = 0, i = 0;
    while (i < n) {
        unsigned cls = byte_class[s[i]];
        if (cls == C_PLAIN) {
            i++;
            continue;
        }
        size_t len = cls == C_HIGH ? xml_utf8_len(s + i, n - i) : 0;
        if (len) {
            i += len;
            continue;
        }
        if (corral_buf_append(b, s + run, i - run) < 0) return -1;
        if (cls == C_ESC) {
            if (put_escape(b, (char)s[i]) < 0) return -1;
        } else if (!lossy || PUT(b, "?") < 0) {
            return -1;
        }
        run = ++i;
    }
    return corral_buf_append(b, s + run, n - run);
}

static int put_int(corral_buf_t *b, int64_t v) {
    char tmp[24], *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0) *--p = '-';
    bool wide = v < INT32_MIN || v > INT32_MAX;
    if ((wide ? PUT(b, "<i8>") : PUT(b, "<int>")) < 0) return -1;
    if (corral_buf_append(b, p, (size_t)(tmp + sizeof tmp - p)) < 0) return -1;
    return wide ? PUT(b, "</i8>") : PUT(b, "</int>");
}

/* %.17g reads back to the same double in every client; inf and nan are
   spelled as Python's xmlrpc.client writes and reads them. */
static int put_double(corral_buf_t *b, double x) {
    if (PUT(b, "<double>") < 0) return -1;
    int rc;
    if (isnan(x)) rc = PUT(b, "nan");
    else if (isinf(x)) rc = x < 0 ? PUT(b, "-inf") : PUT(b, "inf");
    else rc = corral_buf_printf(b, "%.17g", x);
    return rc < 0 ? -1 : PUT(b, "</double>");
}

/* Base64 on one line: clients accept either, and breaking lines only adds
   bytes. readMemory answers are megabytes of it, so it is the hot loop of
   a big read: a table maps 12 bits to two characters, one 64-bit
   big-endian load yields 6 bytes (8 characters), and the loop does 48
   input bytes (64 characters) per turn without a branch per character. */
#define B64(x) ((x) < 26 ? 'A' + (x) : (x) < 52 ? 'a' + (x) - 26 : (x) < 62 ? '0' + (x) - 52 \
                : (x) == 62 ? '+' : '/')
/* Two characters of 12 bits, in memory order (little-endian uint16_t). */
#define B64P(i) (uint16_t)(B64((i) >> 6) | B64((i) & 63) << 8)
#define B64P4(i) B64P(i), B64P((i) + 1), B64P((i) + 2), B64P((i) + 3)
#define B64P16(i) B64P4(i), B64P4((i) + 4), B64P4((i) + 8), B64P4((i) + 12)
#define B64P64(i) B64P16(i), B64P16((i) + 16), B64P16((i) + 32), B64P16((i) + 48)
#define B64P256(i) B64P64(i), B64P64((i) + 64), B64P64((i) + 128), B64P64((i) + 192)
#define B64P1K(i) B64P256(i), B64P256((i) + 256), B64P256((i) + 512), B64P256((i) + 768)
static const uint16_t b64_pairs[4096] = {
    B64P1K(0), B64P1K(1024), B64P1K(2048), B64P1K(3072),
};

/* 6 input bytes at s -> 8 characters at o (reads 8 bytes at s). */
static inline void b64_six(char *o, const unsigned char *s) {
    uint64_t w;
    memcpy(&w, s, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w = __builtin_bswap64(w);      /* first byte into the top bits */
#endif
    uint16_t c[4] = {b64_pairs[w >> 52], b64_pairs[(w >> 40) & 0xFFF],
                     b64_pairs[(w >> 28) & 0xFFF], b64_pairs[(w >> 16) & 0xFFF]};
    memcpy(o, c, 8);
}

static char *b64_tail(char *o, const unsigned char *s, size_t n) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        memcpy(o, &b64_pairs[v >> 12], 2);
        memcpy(o + 2, &b64_pairs[v & 0xFFF], 2);
        o += 4;
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *o++ = abc[v >> 18];
        *o++ = abc[(v >> 12) & 63];
        *o++ = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    return o;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define B64_SIMD 1
/* SSSE3 (every x86-64 CPU since 2006; checked at run time, as the build
   targets baseline x86-64): 12 bytes -> 16 characters a turn, after
   W. Mula and D. Lemire, "Faster Base64 Encoding and Decoding using AVX2
   Instructions" (the SSE "pshufb improved" lookup). Reads 16 bytes per 12
   used, so it leaves the last 4+ bytes to the scalar code. Returns the
   bytes it encoded. */
__attribute__((target("ssse3"))) static size_t b64_ssse3(char *o, const unsigned char *s, size_t n) {
    /* each 32-bit lane gets bytes b1 b0 b2 b1 of its 3-byte group */
    const __m128i shuf = _mm_set_epi8(10, 11, 9, 10, 7, 8, 6, 7, 4, 5, 3, 4, 1, 2, 0, 1);
    const __m128i lut = _mm_setr_epi8('a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                      '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62,
                                      '/' - 63, 'A', 0, 0);
    size_t i = 0;
    for (; i + 16 <= n; i += 12, o += 16) {
        __m128i in = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(s + i)), shuf);
        /* the four 6-bit indices of each lane into its four bytes */
        __m128i hi = _mm_mulhi_epu16(_mm_and_si128(in, _mm_set1_epi32(0x0fc0fc00)),
                                     _mm_set1_epi32(0x04000040));
        __m128i lo = _mm_mullo_epi16(_mm_and_si128(in, _mm_set1_epi32(0x003f03f0)),
                                     _mm_set1_epi32(0x01000010));
        __m128i idx = _mm_or_si128(hi, lo);
        /* index -> offset to add: 0-25 +'A', 26-51 +'a'-26, 52-61 +'0'-52, 62 '+', 63 '/' */
        __m128i k = _mm_subs_epu8(idx, _mm_set1_epi8(51));
        __m128i below26 = _mm_cmpgt_epi8(_mm_set1_epi8(26), idx);
        k = _mm_or_si128(k, _mm_and_si128(below26, _mm_set1_epi8(13)));
        __m128i out = _mm_add_epi8(_mm_shuffle_epi8(lut, k), idx);
        _mm_storeu_si128((__m128i *)o, out);
    }
    return i;
}
#endif

static int put_base64(corral_buf_t *b, const unsigned char *s, size_t n) {
    if (PUT(b, "<base64>") < 0 || corral_buf_reserve(b, (n + 2) / 3 * 4) < 0) return -1;
    char *o = b->data + b->len;
    size_t i = 0;
#ifdef B64_SIMD
    if (n >= 16 && __builtin_cpu_supports("ssse3")) {   /* a load and a test */
        i = b64_ssse3(o, s, n);
        o += i / 3 * 4;
    }
#endif
    /* 48 bytes a turn; b64_six reads 2 bytes past its 6, so the last turn
       must leave 2 bytes of input after it. */
    for (; i + 50 <= n; i += 48, o += 64)
        for (int k = 0; k < 8; k++) b64_six(o + 8 * k, s + i + 6 * k);
    for (; i + 8 <= n; i += 6, o += 8) b64_six(o, s + i);
    o = b64_tail(o, s + i, n - i);
    b->len = (size_t)(o - b->data);
    return PUT(b, "</base64>");
}

/* Civil date of a day count since 1970-01-01 (Hinnant's civil_from_days):
   no gmtime, so no TZ state and no 32-bit time_t trouble. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Always UTC, YYYYMMDDTHH:MM:SS (API.md §2); sub-second parts are not part
   of the XML-RPC type and are dropped. */
static int put_time(corral_buf_t *b, const msgpack_object *o) {
    msgpack_timestamp ts;
    if (!msgpack_object_to_timestamp(o, &ts)) return -1;
    int64_t days = ts.tv_sec / 86400, rem = ts.tv_sec % 86400;
    if (rem < 0) rem += 86400, days--;
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) return -1;     /* four digits is all the format has */
    return corral_buf_printf(b, "<dateTime.iso8601>%04d%02d%02dT%02d:%02d:%02d</dateTime.iso8601>",
                             (int)y, m, d, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
}

static int put_value(corral_buf_t *b, const msgpack_object *o, int depth);

static int put_array(corral_buf_t *b, const msgpack_object *o, int depth) {
    if (PUT(b, "<array><data>") < 0) return -1;
    for (uint32_t i = 0; i < o->via.array.size; i++)
        if (put_value(b, &o->via.array.ptr[i], depth + 1) < 0) return -1;
    return PUT(b, "</data></array>");
}

static int put_struct(corral_buf_t *b, const msgpack_object *o, int depth) {
    if (PUT(b, "<struct>") < 0) return -1;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR) return -1;   /* names are strings */
        if (PUT(b, "<member><name>") < 0 ||
            put_text(b, kv->key.via.str.ptr, kv->key.via.str.size, false) < 0 ||
            PUT(b, "</name>") < 0 || put_value(b, &kv->val, depth + 1) < 0 ||
            PUT(b, "</member>") < 0)
            return -1;
    }
    return PUT(b, "</struct>");
}

static int put_inner(corral_buf_t *b, const msgpack_object *o, int depth) {
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return PUT(b, "<nil/>");
    case MSGPACK_OBJECT_BOOLEAN:
        return o->via.boolean ? PUT(b, "<boolean>1</boolean>") : PUT(b, "<boolean>0</boolean>");
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX) return -1;      /* no XML-RPC type holds it */
        return put_int(b, (int64_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return put_int(b, o->via.i64);
    case MSGPACK_OBJECT_FLOAT64: return put_double(b, o->via.f64);
    case MSGPACK_OBJECT_STR:
        if (PUT(b, "<string>") < 0 || put_text(b, o->via.str.ptr, o->via.str.size, false) < 0)
            return -1;
        return PUT(b, "</string>");
    case MSGPACK_OBJECT_BIN:
        return put_base64(b, (const unsigned char *)o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_EXT: return put_time(b, o);
    case MSGPACK_OBJECT_ARRAY: return put_array(b, o, depth);
    case MSGPACK_OBJECT_MAP: return put_struct(b, o, depth);
    default: return -1;          /* FLOAT32 and anything newer: not a value */
    }
}

static int put_value(corral_buf_t *b, const msgpack_object *o, int depth) {
    if (depth > ENCODE_DEPTH_MAX) return -1;
    if (PUT(b, "<value>") < 0 || put_inner(b, o, depth) < 0) return -1;
    return PUT(b, "</value>");
}

int corral_xmlrpc_encode_result(corral_buf_t *out, const msgpack_object *result) {
    size_t start = out->len;
    if (PUT(out, "<?xml version=\"1.0\"?>\n<methodResponse><params><param>") < 0 ||
        put_value(out, result, 0) < 0 || PUT(out, "</param></params></methodResponse>\n") < 0) {
        out->len = start;           /* no half response for the caller to send */
        return -1;
    }
    return 0;
}

int corral_xmlrpc_encode_fault(corral_buf_t *out, int code, const char *s, size_t n) {
    size_t start = out->len;
    if (corral_buf_printf(out, "<?xml version=\"1.0\"?>\n<methodResponse><fault><value><struct>"
                               "<member><name>faultCode</name><value><int>%d</int></value></member>"
                               "<member><name>faultString</name><value><string>", code) < 0 ||
        put_text(out, s, n, true) < 0 ||
        PUT(out, "</string></value></member></struct></value></fault></methodResponse>\n") < 0) {
        out->len = start;
        return -1;
    }
    return 0;
}
