/* corral — XML-RPC <-> values (API.md §2), on libxml2. Knows nothing of
   sockets. Untrusted input: no DTD, no entities, no network, a depth and a
   size limit. */
#ifndef CORRAL_XMLRPC_H
#define CORRAL_XMLRPC_H

#include <msgpack.h>
#include <stddef.h>
#include "corral/buf.h"
#include "corral/value.h"

#define CORRAL_METHOD_NAME_MAX 128

/* Decode one methodCall from body[0..len). Copies the method name into
   method (NUL-terminated) and packs the params as one msgpack array into pk.
   max_depth bounds array/struct nesting. Returns 0, or -1 with *f:
   -32700 not well-formed or bad encoding (invalid UTF-8, a DOCTYPE),
   -32600 not a methodCall, -32602 a bad value (bad int, i8 out of range,
   bad base64, bad dateTime, too deep). pk may hold partial output then. */
int corral_xmlrpc_decode_call(const char *body, size_t len, int max_depth,
                              char *method, size_t method_cap,
                              msgpack_packer *pk, corral_fault_t *f);

/* Append a methodResponse holding the value result to out. Integers that fit
   32 bits are <int>, others <i8>. Returns 0 or -1 (out of memory, or a value
   type XML-RPC cannot carry: then the caller answers -32603). */
int corral_xmlrpc_encode_result(corral_buf_t *out, const msgpack_object *result);

/* Append a fault methodResponse. */
int corral_xmlrpc_encode_fault(corral_buf_t *out, int code, const char *s, size_t n);

/* Call once at start (libxml2's global init, from the main thread). */
void corral_xmlrpc_init(void);

#endif
