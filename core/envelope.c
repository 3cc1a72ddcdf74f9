/* corral — the envelope: packing in a fixed key order, strict decoding. */
#include "corral/envelope.h"

#include <string.h>
#include <time.h>
#include "corral/config.h"
#include "corral/unpack.h"

static const char *role_names[] = {"", "viewer", "operator", "admin"};

const char *corral_role_name(int role) {
    return role >= CORRAL_ROLE_VIEWER && role <= CORRAL_ROLE_ADMIN ? role_names[role] : "none";
}

int corral_role_parse(const char *s, size_t n) {
    for (int r = CORRAL_ROLE_VIEWER; r <= CORRAL_ROLE_ADMIN; r++)
        if (strlen(role_names[r]) == n && memcmp(role_names[r], s, n) == 0) return r;
    return CORRAL_ROLE_NONE;
}

int64_t corral_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t corral_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keys are single short strings; packing them through one helper keeps the
   key spelling in one place per key. */
static void key(msgpack_packer *pk, const char *k) {
    size_t n = strlen(k);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, k, n);
}

void corral_env_request_begin(msgpack_packer *pk, corral_kind_t kind, uint64_t id,
                              const char *to, size_t to_len,
                              const char *user, size_t user_len, int role,
                              int64_t dl, const char *m, size_t m_len) {
    /* 8 members: the broker relies on a fixmap here to stamp `from`. */
    msgpack_pack_map(pk, 8);
    key(pk, "v");  msgpack_pack_int(pk, CORRAL_PROTOCOL);
    key(pk, "k");  msgpack_pack_int(pk, kind);
    key(pk, "id"); msgpack_pack_uint64(pk, id);
    key(pk, "to"); msgpack_pack_str(pk, to_len); msgpack_pack_str_body(pk, to, to_len);
    key(pk, "who");
    msgpack_pack_map(pk, 2);
    key(pk, "user"); msgpack_pack_str(pk, user_len); msgpack_pack_str_body(pk, user, user_len);
    key(pk, "role"); key(pk, corral_role_name(role));
    key(pk, "dl"); msgpack_pack_int64(pk, dl);
    key(pk, "m");  msgpack_pack_str(pk, m_len); msgpack_pack_str_body(pk, m, m_len);
    key(pk, "p");
}

void corral_env_reply_begin(msgpack_packer *pk, uint64_t id) {
    msgpack_pack_map(pk, 4);
    key(pk, "v");  msgpack_pack_int(pk, CORRAL_PROTOCOL);
    key(pk, "k");  msgpack_pack_int(pk, CORRAL_K_REPLY);
    key(pk, "id"); msgpack_pack_uint64(pk, id);
    key(pk, "r");
}

void corral_env_pack_fault(msgpack_packer *pk, uint64_t id, int code, const char *s, size_t s_len) {
    msgpack_pack_map(pk, 4);
    key(pk, "v");  msgpack_pack_int(pk, CORRAL_PROTOCOL);
    key(pk, "k");  msgpack_pack_int(pk, CORRAL_K_REPLY);
    key(pk, "id"); msgpack_pack_uint64(pk, id);
    key(pk, "f");
    msgpack_pack_map(pk, 2);
    key(pk, "c"); msgpack_pack_int(pk, code);
    key(pk, "s"); msgpack_pack_str(pk, s_len); msgpack_pack_str_body(pk, s, s_len);
}

/* --- decoding ------------------------------------------------------------ */

static bool keyis(const msgpack_object *k, const char *name) {
    size_t n = strlen(name);
    return k->via.str.size == n && memcmp(k->via.str.ptr, name, n) == 0;
}

static int want_str(const msgpack_object *o, const char *what, size_t max,
                    const char **s, uint32_t *n, corral_fault_t *f) {
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max)
        return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: `%s` is not a string of at most %zu bytes",
                                what, max);
    *s = o->via.str.ptr;
    *n = o->via.str.size;
    return 0;
}

static int decode_who(const msgpack_object *o, corral_env_t *env, corral_fault_t *f) {
    if (o->type != MSGPACK_OBJECT_MAP)
        return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: `who` is not a map");
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR) continue;
        if (keyis(k, "user")) {
            if (want_str(v, "who.user", CORRAL_ADDR_MAX, &env->user, &env->user_len, f) < 0) return -1;
        } else if (keyis(k, "role")) {
            const char *r = NULL;
            uint32_t rn = 0;
            if (want_str(v, "who.role", 16, &r, &rn, f) < 0) return -1;
            env->role = corral_role_parse(r, rn);
        }
    }
    return 0;
}

static int decode_fault(const msgpack_object *o, corral_env_t *env, corral_fault_t *f) {
    const msgpack_object *c = corral_value_member(o, "c"), *s = corral_value_member(o, "s");
    int64_t code;
    if (!c || !s || !corral_value_int(c, &code) || code < INT32_MIN || code > INT32_MAX ||
        s->type != MSGPACK_OBJECT_STR)
        return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: `f` is not a fault {c int, s string}");
    env->is_fault = true;
    env->fcode = (int)code;
    env->fstr = s->via.str.ptr;
    env->fstr_len = s->via.str.size;
    return 0;
}

static int decode_member(const msgpack_object *k, const msgpack_object *v, corral_env_t *env,
                         int *version, corral_fault_t *f) {
    int64_t x;
    if (keyis(k, "v")) {
        if (!corral_value_int(v, &x)) return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: `v` is not an int");
        *version = (int)x;
    } else if (keyis(k, "k")) {
        if (!corral_value_int(v, &x) || x < CORRAL_K_REQUEST || x > CORRAL_K_CONTROL)
            return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: `k` is not a known kind");
        env->kind = (int)x;
    } else if (keyis(k, "id")) {
        if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: `id` is not an unsigned int");
        env->id = v->via.u64;
    } else if (keyis(k, "to")) {
        return want_str(v, "to", CORRAL_ADDR_MAX, &env->to, &env->to_len, f);
    } else if (keyis(k, "from")) {
        return want_str(v, "from", CORRAL_ADDR_MAX, &env->from, &env->from_len, f);
    } else if (keyis(k, "who")) {
        return decode_who(v, env, f);
    } else if (keyis(k, "dl")) {
        if (!corral_value_int(v, &x)) return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: `dl` is not an int");
        env->dl = x;
    } else if (keyis(k, "m")) {
        return want_str(v, "m", 256, &env->m, &env->m_len, f);
    } else if (keyis(k, "p")) {
        if (v->type != MSGPACK_OBJECT_ARRAY)
            return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: `p` is not an array");
        env->p = v;
    } else if (keyis(k, "r")) {
        env->r = v;
    } else if (keyis(k, "f")) {
        return decode_fault(v, env, f);
    }
    /* Unknown keys are ignored: later versions may add members. */
    return 0;
}

int corral_env_decode(const char *buf, size_t len, msgpack_zone *zone, int max_depth,
                      corral_env_t *env, corral_fault_t *f) {
    memset(env, 0, sizeof *env);
    env->kind = -1;
    env->user = env->to = env->from = env->m = "";
    msgpack_object o;
    int rc = corral_unpack(buf, len, zone, CORRAL_UNPACK_DEPTH, &o);
    if (rc != MSGPACK_UNPACK_SUCCESS)
        return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: %s",
                                rc == MSGPACK_UNPACK_EXTRA_BYTES ? "trailing bytes after the map"
                                : rc == MSGPACK_UNPACK_CONTINUE ? "truncated"
                                : rc == MSGPACK_UNPACK_NOMEM_ERROR ? "out of memory" : "not msgpack, or nested too deep");
    if (o.type != MSGPACK_OBJECT_MAP) return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: not a map");
    int version = -1;
    for (uint32_t i = 0; i < o.via.map.size; i++) {
        const msgpack_object *k = &o.via.map.ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR) return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: non-string key");
        if (decode_member(k, &o.via.map.ptr[i].val, env, &version, f) < 0) return -1;
    }
    if (version != CORRAL_PROTOCOL)
        return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: protocol version %d, want %d", version,
                                CORRAL_PROTOCOL);
    if (env->kind < 0) return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: no kind");
    if (env->kind == CORRAL_K_REPLY) {
        if (!env->r && !env->is_fault) return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: reply without r or f");
    } else if (!env->m_len || !env->p) {
        return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: message without m and p");
    }
    if (env->kind == CORRAL_K_REQUEST && !env->to_len)
        return corral_fault_set(f, CORRAL_F_REQUEST, "envelope: request without `to`");
    if (max_depth >= 0) {
        if (env->p && corral_value_check(env->p, max_depth, f) < 0) return -1;
        if (env->r && corral_value_check(env->r, max_depth + 1, f) < 0) return -1;
    }
    return 0;
}
