/* corral — msgpack bytes -> msgpack_object, with a nesting limit of our own.

   Why not msgpack_unpack(): Debian's msgpack-c is built with a fixed
   32-level stack (MSGPACK_EMBED_STACK_SIZE), so it refuses the 64 levels of
   nesting API.md promises (plus the envelope's own levels). The format is
   small; this reader follows it strictly, checks every length against the
   bytes left before allocating, and builds the same msgpack_object tree
   (strings, bins and exts point into the buffer, as msgpack-c's do). */
#include "corral/unpack.h"

#include <string.h>

typedef struct {
    const unsigned char *p, *end;
    msgpack_zone *zone;
} reader_t;

static bool need(reader_t *r, size_t n) { return (size_t)(r->end - r->p) >= n; }

static uint64_t be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* Read an n-byte big-endian length or value. */
static bool take(reader_t *r, int n, uint64_t *v) {
    if (!need(r, (size_t)n)) return false;
    *v = be(r->p, n);
    r->p += n;
    return true;
}

static int read_obj(reader_t *r, msgpack_object *o, int depth);

static int read_raw(reader_t *r, msgpack_object *o, msgpack_object_type t, uint64_t n) {
    if (!need(r, n)) return MSGPACK_UNPACK_CONTINUE;
    o->type = t;
    if (t == MSGPACK_OBJECT_STR) { o->via.str.ptr = (const char *)r->p; o->via.str.size = (uint32_t)n; }
    else { o->via.bin.ptr = (const char *)r->p; o->via.bin.size = (uint32_t)n; }
    r->p += n;
    return MSGPACK_UNPACK_SUCCESS;
}

static int read_ext(reader_t *r, msgpack_object *o, uint64_t n) {
    if (!need(r, n + 1)) return MSGPACK_UNPACK_CONTINUE;
    o->type = MSGPACK_OBJECT_EXT;
    o->via.ext.type = (int8_t)r->p[0];
    o->via.ext.ptr = (const char *)r->p + 1;
    o->via.ext.size = (uint32_t)n;
    r->p += n + 1;
    return MSGPACK_UNPACK_SUCCESS;
}

static int read_array(reader_t *r, msgpack_object *o, uint64_t n, int depth) {
    /* Each element takes at least one byte: a count past the bytes left is a lie. */
    if (n > (uint64_t)(r->end - r->p)) return MSGPACK_UNPACK_CONTINUE;
    if (depth <= 0) return MSGPACK_UNPACK_PARSE_ERROR;
    o->type = MSGPACK_OBJECT_ARRAY;
    o->via.array.size = (uint32_t)n;
    o->via.array.ptr = n ? msgpack_zone_malloc(r->zone, n * sizeof(msgpack_object)) : NULL;
    if (n && !o->via.array.ptr) return MSGPACK_UNPACK_NOMEM_ERROR;
    for (uint64_t i = 0; i < n; i++) {
        int rc = read_obj(r, &o->via.array.ptr[i], depth - 1);
        if (rc != MSGPACK_UNPACK_SUCCESS) return rc;
    }
    return MSGPACK_UNPACK_SUCCESS;
}

static int read_map(reader_t *r, msgpack_object *o, uint64_t n, int depth) {
    if (n > (uint64_t)(r->end - r->p) / 2) return MSGPACK_UNPACK_CONTINUE;
    if (depth <= 0) return MSGPACK_UNPACK_PARSE_ERROR;
    o->type = MSGPACK_OBJECT_MAP;
    o->via.map.size = (uint32_t)n;
    o->via.map.ptr = n ? msgpack_zone_malloc(r->zone, n * sizeof(msgpack_object_kv)) : NULL;
    if (n && !o->via.map.ptr) return MSGPACK_UNPACK_NOMEM_ERROR;
    for (uint64_t i = 0; i < n; i++) {
        int rc = read_obj(r, &o->via.map.ptr[i].key, depth - 1);
        if (rc == MSGPACK_UNPACK_SUCCESS) rc = read_obj(r, &o->via.map.ptr[i].val, depth - 1);
        if (rc != MSGPACK_UNPACK_SUCCESS) return rc;
    }
    return MSGPACK_UNPACK_SUCCESS;
}

static int read_int(reader_t *r, msgpack_object *o, int bytes, bool is_signed) {
    uint64_t v;
    if (!take(r, bytes, &v)) return MSGPACK_UNPACK_CONTINUE;
    if (is_signed) {
        int64_t s = bytes == 1 ? (int8_t)v : bytes == 2 ? (int16_t)v : bytes == 4 ? (int32_t)v : (int64_t)v;
        o->type = s < 0 ? MSGPACK_OBJECT_NEGATIVE_INTEGER : MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.i64 = s;
    } else {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = v;
    }
    return MSGPACK_UNPACK_SUCCESS;
}

static int read_float(reader_t *r, msgpack_object *o, int bytes) {
    uint64_t v;
    if (!take(r, bytes, &v)) return MSGPACK_UNPACK_CONTINUE;
    if (bytes == 4) {
        uint32_t w = (uint32_t)v;
        float f;
        memcpy(&f, &w, sizeof f);
        o->type = MSGPACK_OBJECT_FLOAT32;
        o->via.f64 = f;
    } else {
        double d;
        memcpy(&d, &v, sizeof d);
        o->type = MSGPACK_OBJECT_FLOAT64;
        o->via.f64 = d;
    }
    return MSGPACK_UNPACK_SUCCESS;
}

/* Sizes of the length field for the variable-length types. */
static int read_sized(reader_t *r, msgpack_object *o, unsigned c, int depth) {
    uint64_t n;
    switch (c) {
    case 0xc4: case 0xc5: case 0xc6:
        if (!take(r, 1 << (c - 0xc4), &n)) return MSGPACK_UNPACK_CONTINUE;
        return read_raw(r, o, MSGPACK_OBJECT_BIN, n);
    case 0xc7: case 0xc8: case 0xc9:
        if (!take(r, 1 << (c - 0xc7), &n)) return MSGPACK_UNPACK_CONTINUE;
        return read_ext(r, o, n);
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        return read_ext(r, o, (uint64_t)1 << (c - 0xd4));
    case 0xd9: case 0xda: case 0xdb:
        if (!take(r, 1 << (c - 0xd9), &n)) return MSGPACK_UNPACK_CONTINUE;
        return read_raw(r, o, MSGPACK_OBJECT_STR, n);
    case 0xdc: case 0xdd:
        if (!take(r, c == 0xdc ? 2 : 4, &n)) return MSGPACK_UNPACK_CONTINUE;
        return read_array(r, o, n, depth);
    case 0xde: case 0xdf:
        if (!take(r, c == 0xde ? 2 : 4, &n)) return MSGPACK_UNPACK_CONTINUE;
        return read_map(r, o, n, depth);
    default:
        return MSGPACK_UNPACK_PARSE_ERROR; /* 0xc1 is never used */
    }
}

static int read_obj(reader_t *r, msgpack_object *o, int depth) {
    if (!need(r, 1)) return MSGPACK_UNPACK_CONTINUE;
    unsigned c = *r->p++;
    if (c <= 0x7f) { o->type = MSGPACK_OBJECT_POSITIVE_INTEGER; o->via.u64 = c; return MSGPACK_UNPACK_SUCCESS; }
    if (c >= 0xe0) { o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER; o->via.i64 = (int8_t)c; return MSGPACK_UNPACK_SUCCESS; }
    if (c <= 0x8f) return read_map(r, o, c & 0x0f, depth);
    if (c <= 0x9f) return read_array(r, o, c & 0x0f, depth);
    if (c <= 0xbf) return read_raw(r, o, MSGPACK_OBJECT_STR, c & 0x1f);
    switch (c) {
    case 0xc0: o->type = MSGPACK_OBJECT_NIL; return MSGPACK_UNPACK_SUCCESS;
    case 0xc2: case 0xc3: o->type = MSGPACK_OBJECT_BOOLEAN; o->via.boolean = c == 0xc3; return MSGPACK_UNPACK_SUCCESS;
    case 0xca: return read_float(r, o, 4);
    case 0xcb: return read_float(r, o, 8);
    case 0xcc: return read_int(r, o, 1, false);
    case 0xcd: return read_int(r, o, 2, false);
    case 0xce: return read_int(r, o, 4, false);
    case 0xcf: return read_int(r, o, 8, false);
    case 0xd0: return read_int(r, o, 1, true);
    case 0xd1: return read_int(r, o, 2, true);
    case 0xd2: return read_int(r, o, 4, true);
    case 0xd3: return read_int(r, o, 8, true);
    default: return read_sized(r, o, c, depth);
    }
}

int corral_unpack(const char *buf, size_t len, msgpack_zone *zone, int max_depth, msgpack_object *out) {
    reader_t r = {(const unsigned char *)buf, (const unsigned char *)buf + len, zone};
    memset(out, 0, sizeof *out);
    int rc = read_obj(&r, out, max_depth);
    if (rc == MSGPACK_UNPACK_SUCCESS && r.p != r.end) return MSGPACK_UNPACK_EXTRA_BYTES;
    return rc;
}
