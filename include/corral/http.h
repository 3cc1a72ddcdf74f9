/* corral — HTTP/1.1 request parsing and response heads. Knows nothing of
   sockets or XML-RPC: it reads a connection's input buffer and says whether
   a whole request is there, what it is, or which status to answer. */
#ifndef CORRAL_HTTP_H
#define CORRAL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CORRAL_HTTP_GET = 1, CORRAL_HTTP_POST = 2, CORRAL_HTTP_HEAD = 3, CORRAL_HTTP_OTHER = 4 };

/* corral_http_parse results below 100; anything >= 400 is the status to answer. */
enum { CORRAL_HTTP_MORE = 0, CORRAL_HTTP_DONE = 1 };

/* One parsed request. Pointers point into the buffer given to the parser
   and stay valid until the caller consumes `total` bytes of it. */
typedef struct corral_http_req {
    int method;                         /* CORRAL_HTTP_GET, ... */
    const char *path;   size_t path_len;/* without the query string */
    int minor;                          /* HTTP/1.<minor>: 0 or 1 */
    bool keep_alive;                    /* after Connection: and the version's default */
    bool expect_continue;               /* "Expect: 100-continue" was sent */
    const char *auth;   size_t auth_len;/* the Authorization value, or NULL */
    const char *ctype;  size_t ctype_len;
    const char *body;   size_t body_len;/* chunked bodies are decoded in place */
    size_t total;                       /* bytes of the buffer this request took */
} corral_http_req_t;

/* Parser state carried between reads of one request, so that bytes already
   examined are not scanned again. */
typedef struct corral_http_parser {
    size_t scanned;        /* header bytes already searched for the blank line */
    size_t header_len;     /* 0 until the header block is complete */
    int64_t content_length;/* -1 when absent */
    bool chunked;
    bool head_sent_continue; /* 100 Continue already written for this request */
    size_t chunk_in, chunk_out; /* chunked decoding progress (input read, body written) */
    /* Offsets in the buffer of req's strings (SIZE_MAX: header absent). The
       caller's buffer may move (realloc) between reads, so every call points
       req (and *req) again into the buffer it is given. */
    size_t path_off, auth_off, ctype_off;
    corral_http_req_t req; /* filled as soon as the header is parsed */
} corral_http_parser_t;

/* Ready the parser for the next request. */
void corral_http_parser_reset(corral_http_parser_t *p);

/* Look at buf[0..len): the start of a request. Returns CORRAL_HTTP_DONE with
   *req filled, CORRAL_HTTP_MORE when more bytes are needed, or an HTTP error
   status: 400 malformed, 413 body over max_body, 431 header over max_header,
   411 POST without length, 501 unsupported transfer coding, 505 version.
   May rewrite buf in place (chunked decoding). */
int corral_http_parse(corral_http_parser_t *p, char *buf, size_t len,
                      size_t max_header, size_t max_body, corral_http_req_t *req);

/* True once the parser has the whole header block (and *req's head fields). */
bool corral_http_have_header(const corral_http_parser_t *p);

/* The reason phrase of a status ("Not Found"). */
const char *corral_http_reason(int status);

/* Write a response head into out (cap bytes): status line, Content-Type,
   Content-Length, Connection (close unless keep_alive), extra (already
   formatted "Name: value\r\n" lines, or NULL), blank line. Returns its
   length, or 0 if it did not fit. */
size_t corral_http_head(char *out, size_t cap, int minor, int status, const char *ctype,
                        size_t body_len, bool keep_alive, const char *extra);

#endif
