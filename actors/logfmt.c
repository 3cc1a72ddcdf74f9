/* corral — logfmt lines into msgpack maps. Hand-rolled scanning, no
   allocation: the host parses every line an analysis writes on fd 3, and the
   goal is well past 100,000 records a second. */
#include "actors/logfmt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "corral/value.h"

typedef struct span {
    const char *k; size_t kn;
    const char *v; size_t vn;
    bool quoted, bare;      /* bare: a key without '=' (a flag, packed as true) */
} span_t;

/* Unescaped quoted values live here until packed; a quoted value never grows
   when unescaped, so one line's worth is enough. Thread-local: parsers in
   several threads (unit tests, benches) must not share it. */
static _Thread_local char scratch[CORRAL_LOGFMT_LINE_MAX];

static bool is_key_char(unsigned char c) { return c > ' ' && c != '=' && c != '"' && c != 0x7f; }

/* Scan a quoted value starting after its opening quote at *i; write the
   unescaped bytes at scratch+*used. Returns false on an unterminated string
   or an unknown escape. */
static bool scan_quoted(const char *s, size_t n, size_t *i, size_t *used, span_t *sp) {
    char *out = scratch + *used;
    size_t o = 0, j = *i;
    while (j < n && s[j] != '"') {
        char c = s[j++];
        if (c == '\\') {
            if (j >= n) return false;
            char e = s[j++];
            switch (e) {
            case '"': case '\\': case '/': c = e; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            default: return false;
            }
        }
        out[o++] = c;
    }
    if (j >= n) return false;
    *i = j + 1;
    sp->v = out;
    sp->vn = o;
    *used += o;
    return true;
}

/* Split the line into spans. Returns the count, or -1 if not logfmt. */
static int scan(const char *s, size_t n, span_t *sp) {
    size_t i = 0, used = 0;
    int count = 0;
    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
        if (i >= n) return count;
        if (count == CORRAL_LOGFMT_KEYS_MAX) return -1;
        span_t *p = &sp[count];
        memset(p, 0, sizeof *p);
        p->k = s + i;
        while (i < n && is_key_char((unsigned char)s[i])) i++;
        p->kn = (size_t)(s + i - p->k);
        if (p->kn == 0) return -1; /* '=' or '"' where a key should start */
        if (i >= n || s[i] == ' ' || s[i] == '\t') {
            p->bare = true;
        } else if (s[i] != '=') {
            return -1;
        } else if (++i < n && s[i] == '"') {
            i++;
            p->quoted = true;
            if (!scan_quoted(s, n, &i, &used, p)) return -1;
            if (i < n && s[i] != ' ' && s[i] != '\t') return -1;
        } else {
            p->v = s + i;
            while (i < n && s[i] != ' ' && s[i] != '\t') {
                if (s[i] == '"') return -1;
                i++;
            }
            p->vn = (size_t)(s + i - p->v);
        }
        count++;
    }
}

/* Pack a bare value: an int if it is one in int64 range, a double if it is
   a finite decimal, else a string. */
static void pack_bare(msgpack_packer *pk, const char *v, size_t n) {
    char tmp[40];
    if (n > 0 && n < sizeof tmp) {
        size_t j = (v[0] == '-' || v[0] == '+') ? 1 : 0;
        bool digits = j < n, dec = false, exp = false;
        for (size_t k = j; k < n && digits; k++) {
            char c = v[k];
            if (c >= '0' && c <= '9') continue;
            if (c == '.' && !dec && !exp) dec = true;
            else if ((c == 'e' || c == 'E') && !exp && k > j && k + 1 < n) {
                exp = true;
                if (v[k + 1] == '-' || v[k + 1] == '+') k++;
            } else digits = false;
        }
        if (digits && (v[n - 1] >= '0' && v[n - 1] <= '9')) {
            memcpy(tmp, v, n);
            tmp[n] = '\0';
            errno = 0;
            char *end;
            if (!dec && !exp) {
                long long x = strtoll(tmp, &end, 10);
                if (errno == 0 && *end == '\0') {
                    msgpack_pack_int64(pk, x);
                    return;
                }
            } else {
                double d = strtod(tmp, &end);
                if (errno == 0 && *end == '\0') {
                    msgpack_pack_double(pk, d);
                    return;
                }
            }
        }
    }
    corral_pack_str(pk, v, n);
}

/* A later member with the same key replaces an earlier one: a struct has
   each member name once. */
static bool superseded(const span_t *sp, int count, int i) {
    for (int j = i + 1; j < count; j++)
        if (sp[j].kn == sp[i].kn && memcmp(sp[j].k, sp[i].k, sp[i].kn) == 0) return true;
    return false;
}

int corral_logfmt_pack(msgpack_packer *pk, const char *line, size_t n) {
    span_t sp[CORRAL_LOGFMT_KEYS_MAX];
    if (n > CORRAL_LOGFMT_LINE_MAX) return -1;
    if (n && line[n - 1] == '\r') n--;
    int count = scan(line, n, sp);
    if (count <= 0) return count;
    int uniq = 0;
    for (int i = 0; i < count; i++) {
        /* Values become strings of an XML-RPC struct: they must be UTF-8. */
        if (!corral_utf8_valid(sp[i].k, sp[i].kn) || !corral_utf8_valid(sp[i].v ? sp[i].v : "", sp[i].vn))
            return -1;
        if (!superseded(sp, count, i)) uniq++;
    }
    msgpack_pack_map(pk, (size_t)uniq);
    for (int i = 0; i < count; i++) {
        if (superseded(sp, count, i)) continue;
        corral_pack_str(pk, sp[i].k, sp[i].kn);
        if (sp[i].bare) msgpack_pack_true(pk);
        else if (sp[i].quoted) corral_pack_str(pk, sp[i].v, sp[i].vn);
        else pack_bare(pk, sp[i].v, sp[i].vn);
    }
    return uniq;
}
