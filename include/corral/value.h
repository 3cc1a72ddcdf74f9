/* corral — values and faults.

   A value is what an XML-RPC <value> and a msgpack object both are
   (API.md §2). Inside corral a value *is* a msgpack object: the gateway
   decodes XML straight into msgpack bytes, actors read params as
   msgpack_object trees and pack results with msgpack_packer, and the gateway
   writes XML straight from the reply's objects. One representation, no
   intermediate tree, no copy.

   XML-RPC type   msgpack
   int, i4, i8    POSITIVE_INTEGER / NEGATIVE_INTEGER (int64 range)
   boolean        BOOLEAN
   string         STR (valid UTF-8)
   double         FLOAT64
   dateTime       EXT type -1 (msgpack timestamp)
   base64         BIN
   struct         MAP with STR keys
   array          ARRAY
   nil            NIL */
#ifndef CORRAL_VALUE_H
#define CORRAL_VALUE_H

#include <msgpack.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fault codes of API.md §4. */
enum {
    CORRAL_F_PARSE = -32700,     /* not well-formed XML, bad encoding */
    CORRAL_F_REQUEST = -32600,   /* not an XML-RPC methodCall */
    CORRAL_F_METHOD = -32601,    /* no such method */
    CORRAL_F_PARAMS = -32602,    /* wrong parameters */
    CORRAL_F_INTERNAL = -32603,  /* a bug */
    CORRAL_F_NOENT = 1,          /* no such target/analysis/node/breakpoint */
    CORRAL_F_STATE = 2,          /* not allowed in the current state */
    CORRAL_F_PERM = 3,           /* permission denied */
    CORRAL_F_TIMEOUT = 4,        /* actor did not answer before the deadline */
    CORRAL_F_GONE = 5,           /* actor died while the call was in flight */
    CORRAL_F_LAUNCH = 6,         /* launch failed */
    CORRAL_F_OS = 7,             /* operating-system error on the target */
    CORRAL_F_UNREACH = 8,        /* node unreachable */
    CORRAL_F_BUSY = 9            /* a queue is full; nothing was done */
};

#define CORRAL_FAULT_MAX 512

/* A fault: its code and a sentence naming the cause. */
typedef struct corral_fault {
    int code;
    char msg[CORRAL_FAULT_MAX];
} corral_fault_t;

/* Set *f to code and a printf-formatted sentence. Returns -1 so that
   `return corral_fault_set(f, ...)` reads as a failing return. */
int corral_fault_set(corral_fault_t *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True if s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool corral_utf8_valid(const char *s, size_t n);

/* Check that o is a value corral accepts: only the types above, map keys
   strings, strings valid UTF-8, timestamps well-formed, array/map nesting
   at most max_depth levels. Returns 0, or -1 with *f (-32602 or -32700). */
int corral_value_check(const msgpack_object *o, int max_depth, corral_fault_t *f);

/* --- reading ------------------------------------------------------------ */

/* The member `name` of map o, or NULL when o is not a map or lacks it. */
const msgpack_object *corral_value_member(const msgpack_object *o, const char *name);

/* True if o is a string equal to the NUL-terminated s. */
bool corral_value_streq(const msgpack_object *o, const char *s);

/* True if o is a string; sets *s and *n to its bytes (not NUL-terminated). */
bool corral_value_str(const msgpack_object *o, const char **s, size_t *n);

/* Copy string o into buf (NUL-terminated). Returns 0, or -1 when o is not a
   string, holds a NUL byte, or does not fit. */
int corral_value_strcpy(const msgpack_object *o, char *buf, size_t cap);

/* True if o is an integer in int64 range; sets *v. */
bool corral_value_int(const msgpack_object *o, int64_t *v);

/* True if o is a boolean; sets *v. */
bool corral_value_bool(const msgpack_object *o, bool *v);

/* An address or register value (API.md §2): an int, or a string "0x1f",
   "31" (decimal). True and *v on success. */
bool corral_value_address(const msgpack_object *o, uint64_t *v);

/* Member k of map o as an int (0 when absent or not an int). */
int64_t corral_member_int(const msgpack_object *o, const char *k);

/* Member k of map o copied into buf as a string ("" when absent, not a
   string, or too long). */
void corral_member_str(const msgpack_object *o, const char *k, char *buf, size_t cap);

/* The params array's element i, or NULL past its end. */
const msgpack_object *corral_param(const msgpack_object *params, uint32_t i);

/* Number of elements of the params array (0 if params is NULL). */
uint32_t corral_param_count(const msgpack_object *params);

/* --- writing ------------------------------------------------------------ */

/* Pack a NUL-terminated string. */
void corral_pack_cstr(msgpack_packer *pk, const char *s);

/* Pack a string of n bytes. */
void corral_pack_str(msgpack_packer *pk, const char *s, size_t n);

/* Pack a timestamp (seconds and nanoseconds since the epoch, UTC). */
void corral_pack_time(msgpack_packer *pk, int64_t sec, uint32_t nsec);

/* Map members: the key (a C string) then the value. */
void corral_pack_kv_cstr(msgpack_packer *pk, const char *k, const char *v);
void corral_pack_kv_int(msgpack_packer *pk, const char *k, int64_t v);
void corral_pack_kv_bool(msgpack_packer *pk, const char *k, bool v);
void corral_pack_kv_double(msgpack_packer *pk, const char *k, double v);
void corral_pack_kv_time(msgpack_packer *pk, const char *k, int64_t sec, uint32_t nsec);

/* Pack a copy of the object o (any value). */
void corral_pack_object(msgpack_packer *pk, const msgpack_object *o);

#endif
