/* corral — XML-RPC scalar texts -> C values. Private to gateway/xmlrpc_*.c:
   the decoder's grammar lives in xmlrpc_decode.c, what an <int> or a
   <dateTime.iso8601> may look like lives here. Texts are not NUL-terminated;
   surrounding XML whitespace is ignored except where noted. */
#ifndef CORRAL_GATEWAY_XMLRPC_SCALAR_H
#define CORRAL_GATEWAY_XMLRPC_SCALAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Call once from corral_xmlrpc_init (the C locale for numbers). */
void xmlrpc_scalar_init(void);

/* Space, tab, LF, CR: the XML whitespace characters. */
bool xmlrpc_is_ws(char c);

/* Narrow [*s, *s + *n) to drop leading and trailing XML whitespace. */
void xmlrpc_trim(const char **s, size_t *n);

/* A decimal integer with optional sign, within [lo, hi]. 1 and *out,
   0 when it is not an integer, -1 when out of range. */
int xmlrpc_parse_int(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out);

/* A decimal double (exponent allowed) or inf/-inf/nan. */
bool xmlrpc_parse_double(const char *s, size_t n, double *out);

/* Decode base64 in place; whitespace anywhere, padding optional but exact
   when present. The decoded length, or -1. */
ptrdiff_t xmlrpc_base64_decode(char *buf, size_t n);

/* YYYYMMDDTHH:MM:SS or YYYY-MM-DDTHH:MM:SS, optional .fraction, optional
   Z or +-HH:MM / +-HHMM (none means UTC): seconds and nanoseconds since
   the epoch. */
bool xmlrpc_parse_datetime(const char *s, size_t n, int64_t *sec, uint32_t *nsec);

#endif
