/* corral — growable byte buffer. */
#include "corral/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int corral_buf_reserve(corral_buf_t *b, size_t n) {
    if (b->cap - b->len >= n) return 0;
    size_t want = b->cap ? b->cap : 256;
    while (want - b->len < n) {
        if (want > SIZE_MAX / 2) return -1;
        want *= 2;
    }
    char *p = realloc(b->data, want);
    if (!p) return -1;
    b->data = p;
    b->cap = want;
    return 0;
}

int corral_buf_append(corral_buf_t *b, const void *p, size_t n) {
    if (corral_buf_reserve(b, n) < 0) return -1;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int corral_buf_puts(corral_buf_t *b, const char *s) {
    return corral_buf_append(b, s, strlen(s));
}

int corral_buf_printf(corral_buf_t *b, const char *fmt, ...) {
    va_list ap;
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) return -1;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return 0;
        }
        if (corral_buf_reserve(b, (size_t)n + 1) < 0) return -1;
    }
    return -1;
}

void corral_buf_consume(corral_buf_t *b, size_t n) {
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void corral_buf_clear(corral_buf_t *b) { b->len = 0; }

void corral_buf_free(corral_buf_t *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void corral_hex(const void *in, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}
