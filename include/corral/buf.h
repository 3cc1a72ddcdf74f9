/* corral — a growable byte buffer, for building responses and files. */
#ifndef CORRAL_BUF_H
#define CORRAL_BUF_H

#include <stddef.h>
#include <stdarg.h>

typedef struct corral_buf {
    char *data;
    size_t len;
    size_t cap;
} corral_buf_t;

/* Make room for n more bytes. 0, or -1 when memory runs out (the buffer is
   left as it was). */
int corral_buf_reserve(corral_buf_t *b, size_t n);

/* Append n bytes. 0 or -1 (out of memory). */
int corral_buf_append(corral_buf_t *b, const void *p, size_t n);

/* Append a NUL-terminated string. */
int corral_buf_puts(corral_buf_t *b, const char *s);

/* Append printf-formatted text. */
int corral_buf_printf(corral_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Drop the first n bytes (consumed input), keeping the rest. */
void corral_buf_consume(corral_buf_t *b, size_t n);

/* Empty it, keeping its memory. */
void corral_buf_clear(corral_buf_t *b);

/* Write n bytes as 2n lower-case hex digits and a NUL into out. */
void corral_hex(const void *in, size_t n, char *out);

/* Free its memory; the buffer is then empty and may be used again. */
void corral_buf_free(corral_buf_t *b);

#endif
