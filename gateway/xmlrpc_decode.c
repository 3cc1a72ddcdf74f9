/* corral — XML-RPC methodCall -> msgpack (API.md §2, §4), on libxml2 SAX2.

   SAX rather than a DOM: the body is untrusted and may be 16 MiB, and a tree
   would cost a node per element. Values are packed as they close into a
   scratch buffer; array/map sizes are only known at the close tag, so each
   container records where its header belongs and how many elements it got,
   and the final copy into the caller's packer inserts the headers (minimal
   msgpack form) at those offsets. No backpatching, no second parse. */
#include "corral/xmlrpc.h"
#include "gateway/xmlrpc_scalar.h"

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>

/* Element nesting bound: libxml2's push parser has none of its own, and
   max_depth levels of array/struct take three elements each. Deeper is
   -32602 like any too-deep value. */
#define FRAMES_MAX 1024

/* Bytes handed to the push parser at a time (see parse()). */
#define PUSH_CHUNK (1u << 20)

/* Text bodies kept for a fault sentence are clipped to this many bytes. */
#define FAULT_TEXT_MAX 60

/* Untrusted input: no entity substitution (no NOENT), no DTD loading or
   validation, no network, libxml2's own size/depth limits kept (no HUGE),
   and the document's encoding declaration ignored because the bytes were
   already checked to be UTF-8. */
#define PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_IGNORE_ENC)

/* Element kinds. Text-bearing leaves come last so that one comparison
   tells whether character data is kept. */
typedef enum {
    K_UNKNOWN, K_CALL, K_PARAMS, K_PARAM, K_VALUE, K_ARRAY, K_DATA, K_STRUCT,
    K_MEMBER, K_NIL, K_METHOD, K_NAME, K_INT, K_I4, K_I8, K_BOOL, K_STRING,
    K_DOUBLE, K_DATE, K_BASE64
} kind_t;

static const char *const kind_tag[] = {
    "?", "methodCall", "params", "param", "value", "array", "data", "struct",
    "member", "nil", "methodName", "name", "int", "i4", "i8", "boolean",
    "string", "double", "dateTime.iso8601", "base64"
};

/* Bits of frame_t.seen: which children an element already had. */
enum { SEEN_A = 1, SEEN_B = 2 };

typedef struct {
    uint8_t kind;
    uint8_t seen;    /* call: A methodName, B params; member: A name, B value;
                        param/value/array: A its one child */
    uint32_t hdr;    /* array/struct: index into dec_t.hdrs */
} frame_t;

/* A container header still to be written: at scratch offset off. */
typedef struct {
    size_t off;
    uint32_t count;
    bool map;
} hdr_t;

typedef struct {
    xmlParserCtxtPtr ctxt;
    corral_fault_t *f;
    bool failed;
    int max_depth, depth;
    int nframes;
    frame_t frames[FRAMES_MAX];
    hdr_t *hdrs;
    size_t nhdrs, caphdrs;
    msgpack_sbuffer sbuf;
    msgpack_packer spk;
    corral_buf_t text;
    char *method;
    size_t method_cap;
} dec_t;

/* ---- faults ------------------------------------------------------------ */

static int line_of(const dec_t *d) {
    return d->ctxt && d->ctxt->input ? d->ctxt->input->line : 0;
}

/* Record the first fault only (the one that names the cause). A document
   that is not well-formed is -32700 whatever else is wrong with it, and
   libxml2 reports a start tag before it knows the tag is complete, so after
   a -32600/-32602 the parse runs on (callbacks ignored) in case a fatal XML
   error follows; only -32700 and -32603 stop it at once. */
__attribute__((format(printf, 3, 4)))
static void fail(dec_t *d, int code, const char *fmt, ...) {
    if (d->failed) return;
    d->failed = true;
    char msg[CORRAL_FAULT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    corral_fault_set(d->f, code, "line %d: %s", line_of(d), msg);
    if (d->ctxt && (code == CORRAL_F_PARSE || code == CORRAL_F_INTERNAL)) xmlStopParser(d->ctxt);
}

/* Length of s[0..n) clipped for a fault sentence, never inside a UTF-8
   sequence (the sentence itself must stay valid UTF-8). */
static int clip(const char *s, size_t n) {
    if (n <= FAULT_TEXT_MAX) return (int)n;
    n = FAULT_TEXT_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    return (int)n;
}

static void fail_scalar(dec_t *d, kind_t k, const char *why) {
    const char *s = d->text.data ? d->text.data : "";
    fail(d, CORRAL_F_PARAMS, "<%s> value '%.*s'%s%s", kind_tag[k], clip(s, d->text.len), s,
         d->text.len > FAULT_TEXT_MAX ? "..." : "", why);
}

/* ---- helpers ---------------------------------------------------------- */

static bool all_ws(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!xmlrpc_is_ws(s[i])) return false;
    return true;
}

/* ---- packing ----------------------------------------------------------- */

static void pack_text_str(dec_t *d) {
    msgpack_pack_str(&d->spk, d->text.len);
    if (d->text.len) msgpack_pack_str_body(&d->spk, d->text.data, d->text.len);
}

/* Parse the text of a scalar element k and pack it. */
static void pack_scalar(dec_t *d, kind_t k) {
    const char *s = d->text.data ? d->text.data : "";
    size_t n = d->text.len;
    int64_t i;
    double x;
    int r;
    switch (k) {
    case K_STRING: pack_text_str(d); return;
    case K_INT:
    case K_I8:
    case K_I4:
        r = xmlrpc_parse_int(s, n, k == K_I4 ? INT32_MIN : INT64_MIN, k == K_I4 ? INT32_MAX : INT64_MAX, &i);
        if (r == 1) msgpack_pack_int64(&d->spk, i);
        else fail_scalar(d, k, r == 0 ? " is not an integer"
                                    : k == K_I4 ? " is out of 32-bit range" : " is out of 64-bit range");
        return;
    case K_BOOL:
        xmlrpc_trim(&s, &n);
        if (n == 1 && (s[0] == '0' || s[0] == '1')) {
            if (s[0] == '1') msgpack_pack_true(&d->spk);
            else msgpack_pack_false(&d->spk);
        } else fail_scalar(d, k, " is not 0 or 1");
        return;
    case K_DOUBLE:
        if (xmlrpc_parse_double(s, n, &x)) msgpack_pack_double(&d->spk, x);
        else fail_scalar(d, k, " is not a number");
        return;
    case K_DATE: {
        int64_t sec;
        uint32_t ns;
        if (xmlrpc_parse_datetime(s, n, &sec, &ns)) corral_pack_time(&d->spk, sec, ns);
        else fail_scalar(d, k, " is not YYYYMMDDTHH:MM:SS");
        return;
    }
    case K_BASE64: {
        ptrdiff_t len = d->text.len ? xmlrpc_base64_decode(d->text.data, d->text.len) : 0;
        if (len < 0) {
            fail_scalar(d, k, " is not base64");
            return;
        }
        msgpack_pack_bin(&d->spk, (size_t)len);
        if (len) msgpack_pack_bin_body(&d->spk, d->text.data, (size_t)len);
        return;
    }
    default: return;
    }
}

/* Method names per the XML-RPC spec: A-Z a-z 0-9 _ . : / only. */
static void take_method(dec_t *d) {
    const char *s = d->text.data ? d->text.data : "";
    size_t n = d->text.len;
    xmlrpc_trim(&s, &n);
    if (n == 0) return fail(d, CORRAL_F_REQUEST, "<methodName> is empty");
    if (n > CORRAL_METHOD_NAME_MAX || n >= d->method_cap)
        return fail(d, CORRAL_F_REQUEST, "<methodName> is longer than %d characters",
                    CORRAL_METHOD_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '/'))
            return fail(d, CORRAL_F_REQUEST, "<methodName> '%.*s' holds a character other than "
                        "A-Z a-z 0-9 _ . : /", clip(s, n), s);
    }
    memcpy(d->method, s, n);
    d->method[n] = '\0';
}

static bool add_hdr(dec_t *d, frame_t *fr, bool map) {
    if (d->nhdrs == d->caphdrs) {
        size_t cap = d->caphdrs ? d->caphdrs * 2 : 16;
        hdr_t *h = realloc(d->hdrs, cap * sizeof *h);
        if (!h) {
            fail(d, CORRAL_F_INTERNAL, "out of memory decoding the call");
            return false;
        }
        d->hdrs = h;
        d->caphdrs = cap;
    }
    d->hdrs[d->nhdrs] = (hdr_t){.off = d->sbuf.size, .count = 0, .map = map};
    fr->hdr = (uint32_t)d->nhdrs++;
    return true;
}

/* Checked at the open tag: a 100,000-deep document is refused at level
   max_depth + 1; libxml2 then only scans the rest for well-formedness
   (iteratively, no recursion), our callbacks returning at once. */
static void open_container(dec_t *d, frame_t *fr, bool map) {
    if (++d->depth > d->max_depth)
        return fail(d, CORRAL_F_PARAMS, "value nested deeper than %d levels of array/struct",
                    d->max_depth);
    add_hdr(d, fr, map);
}

/* ---- SAX callbacks ----------------------------------------------------- */

static kind_t kind_of(const xmlChar *local, const xmlChar *prefix) {
    const char *s = (const char *)local;
    for (int k = K_CALL; k <= K_BASE64; k++)
        if (strcmp(s, kind_tag[k]) == 0)
            /* Extension tags come as <ex:i8>, <ex:nil/> from Apache-style
               clients; the prefix is not checked (nor is it elsewhere). */
            return prefix && k != K_I8 && k != K_NIL ? K_UNKNOWN : (kind_t)k;
    return K_UNKNOWN;
}

static bool is_type(kind_t k) { return k == K_ARRAY || k == K_STRUCT || k == K_NIL || k >= K_INT; }

/* Whether child k may open inside parent p (the XML-RPC grammar, each
   parent's children in order); marks what p has now seen. */
static bool child_ok(dec_t *d, frame_t *p, kind_t k) {
    uint8_t want = 0;         /* the seen bit k sets, and what must precede it */
    uint8_t before = 0;
    switch (p->kind) {
    case K_PARAMS: return k == K_PARAM;
    case K_DATA: return k == K_VALUE;
    case K_STRUCT: return k == K_MEMBER;
    case K_CALL:
        if (k == K_METHOD) want = SEEN_A;
        else if (k == K_PARAMS) want = SEEN_B, before = SEEN_A;
        break;
    case K_MEMBER:
        if (k == K_NAME) want = SEEN_A;
        else if (k == K_VALUE) want = SEEN_B, before = SEEN_A;
        break;
    case K_PARAM: want = k == K_VALUE ? SEEN_A : 0; break;
    case K_ARRAY: want = k == K_DATA ? SEEN_A : 0; break;
    case K_VALUE:
        if (!is_type(k)) break;
        if (!all_ws(d->text.data, d->text.len)) {
            fail(d, CORRAL_F_REQUEST, "<value> holds both text and <%s>", kind_tag[k]);
            return false;
        }
        want = SEEN_A;
        break;
    default: break;
    }
    if (!want || p->seen != before) return false;
    p->seen |= want;
    return true;
}

static void on_start(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                     int nns, const xmlChar **ns, int nattr, int ndef, const xmlChar **attrs) {
    dec_t *d = ud;
    if (d->failed) return;
    kind_t k = kind_of(local, prefix);
    if (d->nframes == 0) {
        if (k != K_CALL)
            return fail(d, CORRAL_F_REQUEST, "root element is <%s>, not <methodCall>", local);
    } else {
        frame_t *p = &d->frames[d->nframes - 1];
        if (k == K_UNKNOWN)
            return fail(d, CORRAL_F_REQUEST, "unknown element <%s> in <%s>", local, kind_tag[p->kind]);
        if (!child_ok(d, p, k)) {
            if (!d->failed)
                fail(d, CORRAL_F_REQUEST, "<%s> is not allowed here in <%s>", kind_tag[k],
                     kind_tag[p->kind]);
            return;
        }
    }
    if (d->nframes == FRAMES_MAX)
        return fail(d, CORRAL_F_PARAMS, "elements nested deeper than %d", FRAMES_MAX);
    frame_t *fr = &d->frames[d->nframes++];
    *fr = (frame_t){.kind = (uint8_t)k};
    if (k == K_ARRAY || k == K_STRUCT) open_container(d, fr, k == K_STRUCT);
    d->text.len = 0;
}

static void on_end(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri) {
    dec_t *d = ud;
    if (d->failed || d->nframes == 0) return;
    frame_t fr = d->frames[--d->nframes];
    frame_t *p = d->nframes ? &d->frames[d->nframes - 1] : NULL;
    switch ((kind_t)fr.kind) {
    case K_CALL:
        if (!(fr.seen & SEEN_A)) fail(d, CORRAL_F_REQUEST, "<methodCall> has no <methodName>");
        break;
    case K_METHOD: take_method(d); break;
    case K_PARAM:
        if (!fr.seen) return fail(d, CORRAL_F_REQUEST, "<param> has no <value>");
        d->hdrs[0].count++;
        break;
    case K_VALUE:
        if (!fr.seen) pack_text_str(d);            /* bare text is a string */
        if (p->kind == K_DATA) d->hdrs[d->frames[d->nframes - 2].hdr].count++;
        break;
    case K_MEMBER:
        if (fr.seen != (SEEN_A | SEEN_B))
            return fail(d, CORRAL_F_REQUEST, "<member> needs a <name> and then a <value>");
        d->hdrs[p->hdr].count++;
        break;
    case K_NAME: pack_text_str(d); break;
    case K_ARRAY:
    case K_STRUCT: d->depth--; break;
    case K_NIL: msgpack_pack_nil(&d->spk); break;
    default:
        if (fr.kind >= K_INT) pack_scalar(d, (kind_t)fr.kind);
        break;
    }
    d->text.len = 0;
}

static void on_text(void *ud, const xmlChar *s, int n) {
    dec_t *d = ud;
    if (d->failed || d->nframes == 0) return;
    const frame_t *fr = &d->frames[d->nframes - 1];
    if (fr->kind >= K_METHOD || (fr->kind == K_VALUE && !fr->seen)) {
        if (corral_buf_append(&d->text, s, (size_t)n) < 0)
            fail(d, CORRAL_F_INTERNAL, "out of memory decoding the call");
    } else if (!all_ws((const char *)s, (size_t)n)) {
        fail(d, CORRAL_F_REQUEST, "text '%.*s' is not allowed in <%s>", clip((const char *)s, (size_t)n),
             s, kind_tag[fr->kind]);
    }
}

/* A DOCTYPE is where entity bombs and external entities (XXE) live;
   XML-RPC never needs one, so its mere presence ends the parse. */
static void on_doctype(void *ud, const xmlChar *name, const xmlChar *eid, const xmlChar *sid) {
    fail(ud, CORRAL_F_PARSE, "a DOCTYPE is not allowed in XML-RPC");
}

/* Only the five predefined entities exist (libxml2 resolves those before
   asking); every other reference is undeclared, hence not well-formed. */
static xmlEntityPtr on_entity(void *ud, const xmlChar *name) { return NULL; }

static void on_error(void *ud, xmlErrorPtr e) {
    dec_t *d = ud;
    if (e->level != XML_ERR_FATAL) return;        /* e.g. an undeclared ex: prefix */
    if (d->failed && (d->f->code == CORRAL_F_PARSE || d->f->code == CORRAL_F_INTERNAL)) return;
    char msg[CORRAL_FAULT_MAX];
    snprintf(msg, sizeof msg, "%s", e->message ? e->message : "error");
    size_t n = strlen(msg);
    while (n && xmlrpc_is_ws(msg[n - 1])) msg[--n] = '\0';
    /* libxml2's own element-depth cap (when it has one) is a too-deep
       value, like ours. */
    bool deep = strstr(msg, "Excessive depth") != NULL;
    if (!(deep && d->failed))
        corral_fault_set(d->f, deep ? CORRAL_F_PARAMS : CORRAL_F_PARSE,
                         "XML not well-formed at line %d: %s", e->line, msg);
    d->failed = true;
    xmlStopParser(d->ctxt);
}

static xmlSAXHandler sax = {
    .initialized = XML_SAX2_MAGIC,
    .startElementNs = on_start,
    .endElementNs = on_end,
    .characters = on_text,
    .cdataBlock = on_text,
    .internalSubset = on_doctype,
    .externalSubset = on_doctype,
    .getEntity = on_entity,
    .getParameterEntity = on_entity,
    .serror = on_error,
};

/* ---- entry points ------------------------------------------------------ */

/* Copy the scratch to pk, writing each container's header at its offset. */
static int flush(dec_t *d, msgpack_packer *pk) {
    size_t pos = 0;
    for (size_t i = 0; i < d->nhdrs; i++) {
        const hdr_t *h = &d->hdrs[i];
        if (h->off > pos && pk->callback(pk->data, d->sbuf.data + pos, h->off - pos) != 0) return -1;
        pos = h->off;
        if ((h->map ? msgpack_pack_map(pk, h->count) : msgpack_pack_array(pk, h->count)) != 0) return -1;
    }
    if (d->sbuf.size > pos && pk->callback(pk->data, d->sbuf.data + pos, d->sbuf.size - pos) != 0)
        return -1;
    return 0;
}

/* Per-thread decoder, kept between calls: creating a libxml2 parser costs
   about a microsecond, a quarter of decoding a small call. Bounded so that
   one huge or hostile request does not pin memory: libxml2 interns every
   element name in the context's dictionary for as long as it lives. */
#define KEEP_DICT_NAMES 256
#define KEEP_BYTES (1u << 20)

static pthread_key_t dec_key;
static bool have_key;

static void dec_destroy(void *p) {
    dec_t *d = p;
    if (!d) return;
    if (d->ctxt) xmlFreeParserCtxt(d->ctxt);
    msgpack_sbuffer_destroy(&d->sbuf);
    corral_buf_free(&d->text);
    free(d->hdrs);
    free(d);
}

/* This thread's decoder (NULL when out of memory), reset for a new call. */
static dec_t *dec_get(void) {
    dec_t *d = have_key ? pthread_getspecific(dec_key) : NULL;
    if (!d) {
        d = malloc(sizeof *d);
        if (!d) return NULL;
        memset(d, 0, offsetof(dec_t, frames));
        msgpack_sbuffer_init(&d->sbuf);
        d->text = (corral_buf_t){0};
        d->hdrs = NULL;
        d->caphdrs = 0;
        if (have_key && pthread_setspecific(dec_key, d) != 0) {
            free(d);
            return NULL;
        }
    }
    if (d->ctxt && xmlDictSize(d->ctxt->dict) > KEEP_DICT_NAMES) {
        xmlFreeParserCtxt(d->ctxt);
        d->ctxt = NULL;
    }
    d->failed = false;
    d->depth = d->nframes = 0;
    d->nhdrs = 0;
    d->sbuf.size = 0;
    d->text.len = 0;
    msgpack_packer_init(&d->spk, &d->sbuf, msgpack_sbuffer_write);
    return d;
}

/* After a call: give back what a big request grew, or everything when
   there is no per-thread slot to keep it in. */
static void dec_put(dec_t *d) {
    if (!have_key) return dec_destroy(d);
    if (d->sbuf.alloc > KEEP_BYTES) {
        msgpack_sbuffer_destroy(&d->sbuf);
        msgpack_sbuffer_init(&d->sbuf);
    }
    if (d->text.cap > KEEP_BYTES) corral_buf_free(&d->text);
    if (d->caphdrs * sizeof *d->hdrs > KEEP_BYTES) {
        free(d->hdrs);
        d->hdrs = NULL;
        d->caphdrs = 0;
    }
}

static void parse(dec_t *d, const char *body, size_t len) {
    if (d->ctxt) {
        xmlCtxtResetPush(d->ctxt, NULL, 0, NULL, NULL);
        d->ctxt->userData = d;
    } else {
        d->ctxt = xmlCreatePushParserCtxt(&sax, d, NULL, 0, NULL);
        if (!d->ctxt) return fail(d, CORRAL_F_INTERNAL, "out of memory creating the XML parser");
    }
    xmlCtxtUseOptions(d->ctxt, PARSE_OPTIONS);
    /* In pieces: libxml2 refuses more than 10 MB of unparsed lookahead
       without XML_PARSE_HUGE, and a 16 MiB body is allowed. */
    size_t off = 0;
    do {
        size_t n = len - off < PUSH_CHUNK ? len - off : PUSH_CHUNK;
        xmlParseChunk(d->ctxt, body + off, (int)n, off + n == len);
        off += n;
    } while (off < len);     /* a stopped parser returns at once */
    if (!d->failed && !d->ctxt->wellFormed) fail(d, CORRAL_F_PARSE, "XML not well-formed");
}

int corral_xmlrpc_decode_call(const char *body, size_t len, int max_depth, char *method,
                              size_t method_cap, msgpack_packer *pk, corral_fault_t *f) {
    /* Checked before libxml2 sees the bytes: the rule is "invalid UTF-8
       anywhere", comments and names included, and NUL is never XML. */
    if (!corral_utf8_valid(body, len))
        return corral_fault_set(f, CORRAL_F_PARSE, "request is not valid UTF-8");
    if (memchr(body, '\0', len))
        return corral_fault_set(f, CORRAL_F_PARSE, "request holds a NUL byte");
    if (len > INT_MAX) return corral_fault_set(f, CORRAL_F_PARSE, "request is too large");
    if (method_cap == 0) return corral_fault_set(f, CORRAL_F_INTERNAL, "no room for the method name");
    dec_t *d = dec_get();
    if (!d) return corral_fault_set(f, CORRAL_F_INTERNAL, "out of memory decoding the call");
    d->f = f;
    d->max_depth = max_depth;
    d->method = method;
    d->method_cap = method_cap;
    method[0] = '\0';
    frame_t root = {0};
    add_hdr(d, &root, false);                  /* the params array: not a level */
    parse(d, body, len);
    int rc = d->failed ? -1 : 0;
    if (rc == 0 && flush(d, pk) < 0)
        rc = corral_fault_set(f, CORRAL_F_INTERNAL, "out of memory packing the call");
    dec_put(d);
    return rc;
}

void corral_xmlrpc_init(void) {
    xmlInitParser();
    xmlrpc_scalar_init();
    have_key = pthread_key_create(&dec_key, dec_destroy) == 0;
}
