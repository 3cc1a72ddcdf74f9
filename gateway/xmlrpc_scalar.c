/* corral — XML-RPC scalar texts -> C values (see xmlrpc_scalar.h). */
#include "gateway/xmlrpc_scalar.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static locale_t c_locale;

void xmlrpc_scalar_init(void) {
    if (!c_locale) c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

bool xmlrpc_is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Trim XML whitespace from both ends of [*s, *s+*n). */
void xmlrpc_trim(const char **s, size_t *n) {
    while (*n && xmlrpc_is_ws(**s)) (*s)++, (*n)--;
    while (*n && xmlrpc_is_ws((*s)[*n - 1])) (*n)--;
}

/* Decimal integer, optional sign. 1 ok, 0 not an integer, -1 out of range. */
int xmlrpc_parse_int(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out) {
    xmlrpc_trim(&s, &n);
    bool neg = n && s[0] == '-';
    if (n && (s[0] == '-' || s[0] == '+')) s++, n--;
    if (n == 0) return 0;
    uint64_t v = 0;
    bool big = false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        if (v > (UINT64_MAX - 9) / 10) big = true;   /* keep scanning for junk */
        else v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (big || v > (uint64_t)INT64_MAX + neg) return -1;
    int64_t x = neg ? (int64_t)(0 - v) : (int64_t)v;
    if (x < lo || x > hi) return -1;
    *out = x;
    return 1;
}

static bool ieq(const char *s, size_t n, const char *lit) {
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* A decimal number (what XML-RPC and Python's repr write) or inf/nan as
   Python writes them; strtod alone would also take hex and "infinity(...)"
   spellings no client sends. */
bool xmlrpc_parse_double(const char *s, size_t n, double *out) {
    xmlrpc_trim(&s, &n);
    char tmp[64];
    if (n == 0 || n >= sizeof tmp) return false;
    size_t i = (s[0] == '-' || s[0] == '+');
    bool special = ieq(s + i, n - i, "inf") || ieq(s + i, n - i, "infinity") ||
                   ieq(s + i, n - i, "nan");
    if (!special) {
        size_t digits = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++, digits++;
        if (i < n && s[i] == '.')
            for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) digits++;
        if (digits == 0) return false;
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
            i++;
            if (i < n && (s[i] == '-' || s[i] == '+')) i++;
            size_t e0 = i;
            while (i < n && s[i] >= '0' && s[i] <= '9') i++;
            if (i == e0) return false;
        }
        if (i != n) return false;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    /* The C locale: a server that called setlocale must still read '.'. */
    *out = c_locale ? strtod_l(tmp, NULL, c_locale) : strtod(tmp, NULL);
    return true;
}

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decode base64 in place (the output never overtakes the input). Whitespace
   anywhere; padding optional but, when present, exact. Returns the decoded
   length or -1. */
ptrdiff_t xmlrpc_base64_decode(char *buf, size_t n) {
    size_t out = 0, chars = 0, pad = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (xmlrpc_is_ws((char)c)) continue;
        if (c == '=') { pad++; continue; }
        int v = b64_value(c);
        if (v < 0 || pad) return -1;          /* data after padding */
        acc = (acc << 6) | (uint32_t)v;
        if (++chars % 4 == 0) {
            buf[out++] = (char)(acc >> 16);
            buf[out++] = (char)(acc >> 8);
            buf[out++] = (char)acc;
            acc = 0;
        }
    }
    size_t rest = chars % 4;
    if (rest == 1 || (pad && (rest + pad) != 4) || (!rest && pad)) return -1;
    if (rest == 2) buf[out++] = (char)(acc >> 4);
    if (rest == 3) {
        buf[out++] = (char)(acc >> 10);
        buf[out++] = (char)(acc >> 2);
    }
    return (ptrdiff_t)out;
}

/* k decimal digits at s, or -1. */
static int digits(const char *s, int k) {
    int v = 0;
    for (int i = 0; i < k; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's
   days_from_civil), so no timegm/TZ state is involved. */
static int64_t days_from_civil(int64_t y, int m, int dd) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

/* Offset suffix at s[0..n): "", "Z", "+HH:MM", "-HHMM". Seconds east of UTC
   into *off; false when malformed. */
static bool parse_offset(const char *s, size_t n, int *off) {
    *off = 0;
    if (n == 0 || (n == 1 && s[0] == 'Z')) return true;
    if ((s[0] != '+' && s[0] != '-') || (n != 6 && n != 5)) return false;
    int h = digits(s + 1, 2), m = digits(s + n - 2, 2);
    if (h < 0 || m < 0 || h > 23 || m > 59 || (n == 6 && s[3] != ':')) return false;
    *off = (s[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
    return true;
}

/* YYYYMMDDTHH:MM:SS or YYYY-MM-DDTHH:MM:SS, optional .fraction, optional
   Z/±HH:MM; a value without offset is UTC. */
bool xmlrpc_parse_datetime(const char *s, size_t n, int64_t *sec, uint32_t *nsec) {
    xmlrpc_trim(&s, &n);
    bool dashed = n > 4 && s[4] == '-';
    size_t dl = dashed ? 10 : 8;
    if (n < dl + 9 || s[dl] != 'T') return false;
    if (dashed && (s[7] != '-')) return false;
    int y = digits(s, 4), mo = digits(s + (dashed ? 5 : 4), 2), dd = digits(s + dl - 2, 2);
    const char *t = s + dl + 1;
    int h = digits(t, 2), mi = digits(t + 3, 2), se = digits(t + 6, 2);
    if (y < 0 || mo < 1 || mo > 12 || dd < 1 || t[2] != ':' || t[5] != ':' || h < 0 ||
        h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59 || dd > days_in_month(y, mo))
        return false;
    size_t i = dl + 9;
    uint32_t ns = 0;
    if (i < n && s[i] == '.') {
        size_t f0 = ++i;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (i - f0 < 9) ns = ns * 10 + (uint32_t)(s[i] - '0');
        if (i == f0) return false;
        for (size_t k = i - f0; k < 9; k++) ns *= 10;
    }
    int off;
    if (!parse_offset(s + i, n - i, &off)) return false;
    *sec = days_from_civil(y, mo, dd) * 86400 + h * 3600 + mi * 60 + se - off;
    *nsec = ns;
    return true;
}

