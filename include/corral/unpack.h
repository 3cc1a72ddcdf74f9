/* corral — reading msgpack bytes into a msgpack_object tree (see
   core/unpack.c for why corral does not use msgpack_unpack()). */
#ifndef CORRAL_UNPACK_H
#define CORRAL_UNPACK_H

#include <msgpack.h>
#include <stddef.h>

/* Deep enough for --max-depth's largest setting plus an envelope's levels. */
#define CORRAL_UNPACK_DEPTH 1100

/* Unpack exactly one object filling buf[0..len) into *out, allocating from
   zone, with at most max_depth levels of arrays and maps. Returns
   MSGPACK_UNPACK_SUCCESS, _CONTINUE (truncated, or a length that lies),
   _EXTRA_BYTES (bytes after the object), _PARSE_ERROR (bad byte, too deep)
   or _NOMEM_ERROR. */
int corral_unpack(const char *buf, size_t len, msgpack_zone *zone, int max_depth, msgpack_object *out);

#endif
