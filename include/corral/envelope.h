/* corral — the envelope (DESIGN.md): one msgpack map after the routing
   frames and the empty delimiter of a ZeroMQ multipart message.

   Keys: v (1), k (kind), id, to, from (set by the broker only), who {user,
   role}, dl (deadline, ms since the epoch), m and p (method and params of a
   request or event), r or f {c, s} (result or fault of a reply).

   Envelopes are packed in a fixed key order so that the broker can stamp
   `from` by bumping the fixmap header and appending one member, without
   re-encoding anything a sender wrote. */
#ifndef CORRAL_ENVELOPE_H
#define CORRAL_ENVELOPE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include "corral/value.h"

#define CORRAL_PROTOCOL 1

typedef enum corral_kind {
    CORRAL_K_REQUEST = 0,
    CORRAL_K_REPLY = 1,
    CORRAL_K_EVENT = 2,     /* one-way notice: no reply is sent */
    CORRAL_K_CONTROL = 3    /* m is the verb: hello, heartbeat, bye, gone, ... */
} corral_kind_t;

typedef enum corral_role {
    CORRAL_ROLE_NONE = 0,
    CORRAL_ROLE_VIEWER = 1,
    CORRAL_ROLE_OPERATOR = 2,
    CORRAL_ROLE_ADMIN = 3
} corral_role_t;

/* A decoded envelope. Every pointer points into the message buffer or into
   the zone it was decoded with; strings are not NUL-terminated. */
typedef struct corral_env {
    int kind;
    uint64_t id;
    const char *to;   uint32_t to_len;
    const char *from; uint32_t from_len;
    const char *user; uint32_t user_len;   /* who.user, "" if absent */
    int role;                              /* who.role, CORRAL_ROLE_NONE if absent */
    int64_t dl;                            /* 0 if absent */
    const char *m;    uint32_t m_len;
    const msgpack_object *p;               /* params array, NULL if absent */
    const msgpack_object *r;               /* result, NULL if absent */
    bool is_fault;
    int fcode;
    const char *fstr; uint32_t fstr_len;
} corral_env_t;

/* Decode and validate one envelope from buf[0..len) into *env, allocating
   from zone. Checks the version, the kind, every field's type, and that a
   request has to, m and p, and a reply r or f. Values in p and r are
   checked with corral_value_check(max_depth). Returns 0, or -1 with *f. */
int corral_env_decode(const char *buf, size_t len, msgpack_zone *zone,
                      int max_depth, corral_env_t *env, corral_fault_t *f);

/* Start a request: packs v, k, id, to, who, dl, m and the key "p"; the
   caller then packs exactly one array (the params). */
void corral_env_request_begin(msgpack_packer *pk, corral_kind_t kind, uint64_t id,
                              const char *to, size_t to_len,
                              const char *user, size_t user_len, int role,
                              int64_t dl, const char *m, size_t m_len);

/* Start a reply: packs v, k, id and the key "r"; the caller then packs
   exactly one value (the result). */
void corral_env_reply_begin(msgpack_packer *pk, uint64_t id);

/* Pack a whole fault reply. */
void corral_env_pack_fault(msgpack_packer *pk, uint64_t id, int code,
                           const char *s, size_t s_len);

/* Role names "viewer", "operator", "admin" <-> corral_role_t. */
const char *corral_role_name(int role);
int corral_role_parse(const char *s, size_t n);   /* CORRAL_ROLE_NONE if unknown */

/* Milliseconds since the epoch, wall clock (deadlines cross processes). */
int64_t corral_now_ms(void);

/* Milliseconds on the monotonic clock (timers within a process). */
int64_t corral_mono_ms(void);

#endif
