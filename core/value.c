/* corral — values (msgpack objects) and faults: checking, reading, packing. */
#include "corral/value.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <msgpack/timestamp.h>

int corral_fault_set(corral_fault_t *f, int code, const char *fmt, ...) {
    if (!f) return -1;
    f->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
    return -1;
}

bool corral_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned cp, min;
        if ((c & 0xE0) == 0xC0) { need = 1; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { need = 2; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { need = 3; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (n - i <= need) return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += need + 1;
    }
    return true;
}

static int check(const msgpack_object *o, int depth, int max_depth, corral_fault_t *f) {
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
    case MSGPACK_OBJECT_BOOLEAN:
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    case MSGPACK_OBJECT_FLOAT64:
    case MSGPACK_OBJECT_BIN:
        break;
    case MSGPACK_OBJECT_FLOAT32:
        return corral_fault_set(f, CORRAL_F_PARAMS, "value: 32-bit floats are not a value type");
    case MSGPACK_OBJECT_STR:
        if (!corral_utf8_valid(o->via.str.ptr, o->via.str.size))
            return corral_fault_set(f, CORRAL_F_PARSE, "value: string is not valid UTF-8");
        break;
    case MSGPACK_OBJECT_EXT: {
        msgpack_timestamp ts;
        if (!msgpack_object_to_timestamp(o, &ts))
            return corral_fault_set(f, CORRAL_F_PARAMS, "value: extension type %d is not a value type",
                                    o->via.ext.type);
        /* msgpack-c does not check this: 8- and 12-byte timestamps can hold
           nanoseconds past one second. */
        if (ts.tv_nsec >= 1000000000)
            return corral_fault_set(f, CORRAL_F_PARAMS, "value: timestamp nanoseconds out of range");
        break;
    }
    case MSGPACK_OBJECT_ARRAY:
        if (depth >= max_depth)
            return corral_fault_set(f, CORRAL_F_PARAMS, "value: nested deeper than %d levels", max_depth);
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (check(&o->via.array.ptr[i], depth + 1, max_depth, f) < 0) return -1;
        break;
    case MSGPACK_OBJECT_MAP:
        if (depth >= max_depth)
            return corral_fault_set(f, CORRAL_F_PARAMS, "value: nested deeper than %d levels", max_depth);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR)
                return corral_fault_set(f, CORRAL_F_PARAMS, "value: struct member name is not a string");
            if (check(&kv->key, depth, max_depth, f) < 0) return -1;
            if (check(&kv->val, depth + 1, max_depth, f) < 0) return -1;
        }
        break;
    default:
        return corral_fault_set(f, CORRAL_F_PARAMS, "value: unknown type %d", (int)o->type);
    }
    return 0;
}

int corral_value_check(const msgpack_object *o, int max_depth, corral_fault_t *f) {
    /* The outermost array of params is the container, not a level. */
    return check(o, -1, max_depth, f);
}

const msgpack_object *corral_value_member(const msgpack_object *o, const char *name) {
    if (!o || o->type != MSGPACK_OBJECT_MAP) return NULL;
    size_t n = strlen(name);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            memcmp(k->via.str.ptr, name, n) == 0)
            return &o->via.map.ptr[i].val;
    }
    return NULL;
}

bool corral_value_streq(const msgpack_object *o, const char *s) {
    size_t n = strlen(s);
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, s, n) == 0;
}

bool corral_value_str(const msgpack_object *o, const char **s, size_t *n) {
    if (!o || o->type != MSGPACK_OBJECT_STR) return false;
    *s = o->via.str.ptr;
    *n = o->via.str.size;
    return true;
}

int corral_value_strcpy(const msgpack_object *o, char *buf, size_t cap) {
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap) return -1;
    if (memchr(o->via.str.ptr, '\0', o->via.str.size)) return -1;
    memcpy(buf, o->via.str.ptr, o->via.str.size);
    buf[o->via.str.size] = '\0';
    return 0;
}

bool corral_value_int(const msgpack_object *o, int64_t *v) {
    if (!o) return false;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX) return false;
        *v = (int64_t)o->via.u64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return true;
    }
    return false;
}

bool corral_value_bool(const msgpack_object *o, bool *v) {
    if (!o || o->type != MSGPACK_OBJECT_BOOLEAN) return false;
    *v = o->via.boolean;
    return true;
}

bool corral_value_address(const msgpack_object *o, uint64_t *v) {
    if (!o) return false;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        *v = o->via.u64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        /* i8 carries addresses above 2^63 as negative numbers. */
        *v = (uint64_t)o->via.i64;
        return true;
    }
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 || o->via.str.size > 20) return false;
    /* A NUL would end the digit scan early and "12\0junk" would read as 12. */
    if (memchr(o->via.str.ptr, '\0', o->via.str.size)) return false;
    char tmp[24];
    memcpy(tmp, o->via.str.ptr, o->via.str.size);
    tmp[o->via.str.size] = '\0';
    int base = 10;
    const char *digits = tmp;
    if (tmp[0] == '0' && (tmp[1] == 'x' || tmp[1] == 'X')) {
        base = 16;
        digits = tmp + 2;
    }
    if (*digits == '\0') return false;
    for (const char *c = digits; *c; c++) {
        bool ok = base == 16 ? ((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') ||
                                (*c >= 'A' && *c <= 'F'))
                             : (*c >= '0' && *c <= '9');
        if (!ok) return false;
    }
    errno = 0;
    unsigned long long x = strtoull(digits, NULL, base);
    if (errno == ERANGE) return false;
    *v = (uint64_t)x;
    return true;
}

int64_t corral_member_int(const msgpack_object *o, const char *k) {
    int64_t v = 0;
    corral_value_int(corral_value_member(o, k), &v);
    return v;
}

void corral_member_str(const msgpack_object *o, const char *k, char *buf, size_t cap) {
    if (corral_value_strcpy(corral_value_member(o, k), buf, cap) < 0) buf[0] = '\0';
}

const msgpack_object *corral_param(const msgpack_object *params, uint32_t i) {
    if (!params || params->type != MSGPACK_OBJECT_ARRAY || i >= params->via.array.size) return NULL;
    return &params->via.array.ptr[i];
}

uint32_t corral_param_count(const msgpack_object *params) {
    if (!params || params->type != MSGPACK_OBJECT_ARRAY) return 0;
    return params->via.array.size;
}

void corral_pack_cstr(msgpack_packer *pk, const char *s) { corral_pack_str(pk, s, strlen(s)); }

void corral_pack_str(msgpack_packer *pk, const char *s, size_t n) {
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void corral_pack_time(msgpack_packer *pk, int64_t sec, uint32_t nsec) {
    msgpack_timestamp ts = {.tv_sec = sec, .tv_nsec = nsec};
    msgpack_pack_timestamp(pk, &ts);
}

void corral_pack_kv_cstr(msgpack_packer *pk, const char *k, const char *v) {
    corral_pack_cstr(pk, k);
    corral_pack_cstr(pk, v);
}

void corral_pack_kv_int(msgpack_packer *pk, const char *k, int64_t v) {
    corral_pack_cstr(pk, k);
    msgpack_pack_int64(pk, v);
}

void corral_pack_kv_bool(msgpack_packer *pk, const char *k, bool v) {
    corral_pack_cstr(pk, k);
    if (v) msgpack_pack_true(pk);
    else msgpack_pack_false(pk);
}

void corral_pack_kv_double(msgpack_packer *pk, const char *k, double v) {
    corral_pack_cstr(pk, k);
    msgpack_pack_double(pk, v);
}

void corral_pack_kv_time(msgpack_packer *pk, const char *k, int64_t sec, uint32_t nsec) {
    corral_pack_cstr(pk, k);
    corral_pack_time(pk, sec, nsec);
}

void corral_pack_object(msgpack_packer *pk, const msgpack_object *o) {
    msgpack_pack_object(pk, *o);
}
