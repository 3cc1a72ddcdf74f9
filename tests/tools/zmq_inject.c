/* zmq_inject — a hostile peer on a corral ZeroMQ socket, for the
   integration tests (Python's stdlib has no ZeroMQ).

   zmq_inject ENDPOINT IDENTITY TIMEOUT_MS FRAME... [-- FRAME...]...

   Connects a DEALER with the given routing identity ("" for none) to
   ENDPOINT (e.g. ipc://STATE/ipc/broker), sends each group of frames as one
   multipart message (groups separated by "--"; each FRAME is hex, "-" is an
   empty frame, "@FILE" the raw bytes of FILE for frames too long for a
   command line), then prints every message received within TIMEOUT_MS, one
   line each, "recv" and its frames in hex. Exit 0 when everything was sent,
   1 on a usage or socket error, 2 when the connection was refused or never
   came up (nothing could be sent within the timeout). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include "corral/envelope.h"

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The bytes of a file, for "@FILE" frames. */
static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    unsigned char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            unsigned char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    fclose(f);
    *n = len;
    return b;
}

/* Decode hex s into a fresh buffer; *n its length. NULL on bad hex. */
static unsigned char *unhex(const char *s, size_t *n) {
    if (s[0] == '@') return slurp(s + 1, n);
    size_t len = strcmp(s, "-") == 0 ? 0 : strlen(s);
    if (len % 2) return NULL;
    unsigned char *b = malloc(len / 2 + 1);
    if (!b) return NULL;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0) {
            free(b);
            return NULL;
        }
        b[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    *n = len / 2;
    return b;
}

/* Send argv[from..to) as one message. 0, -1 on bad hex, -2 when the send
   did not go out in time (no peer). */
static int send_group(void *sock, char **argv, int from, int to) {
    for (int i = from; i < to; i++) {
        size_t n;
        unsigned char *b = unhex(argv[i], &n);
        if (!b) {
            fprintf(stderr, "zmq_inject: bad hex frame '%s'\n", argv[i]);
            return -1;
        }
        int rc = zmq_send(sock, b, n, i + 1 < to ? ZMQ_SNDMORE : 0);
        free(b);
        if (rc < 0) return -2;
    }
    return 0;
}

static void print_message(void *sock) {
    fputs("recv", stdout);
    int more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) break;
        const unsigned char *d = zmq_msg_data(&m);
        fputc(' ', stdout);
        if (zmq_msg_size(&m) == 0) fputc('-', stdout);
        for (size_t i = 0; i < zmq_msg_size(&m); i++) printf("%02x", d[i]);
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    fputc('\n', stdout);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: zmq_inject ENDPOINT IDENTITY TIMEOUT_MS FRAME... [-- FRAME...]...\n");
        return 1;
    }
    int timeout = atoi(argv[3]);
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    if (argv[2][0]) zmq_setsockopt(sock, ZMQ_ROUTING_ID, argv[2], strlen(argv[2]));
    /* Sends block until the connection is up, but never past the timeout:
       a refused peer (identity already taken) must not hang the test. */
    zmq_setsockopt(sock, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(sock, ZMQ_LINGER, &timeout, sizeof timeout);
    int immediate = 1;
    zmq_setsockopt(sock, ZMQ_IMMEDIATE, &immediate, sizeof immediate);
    if (zmq_connect(sock, argv[1]) < 0) {
        fprintf(stderr, "zmq_inject: connect %s: %s\n", argv[1], zmq_strerror(zmq_errno()));
        return 1;
    }
    int status = 0, start = 4;
    for (int i = 4; i <= argc; i++) {
        if (i < argc && strcmp(argv[i], "--") != 0) continue;
        int rc = i > start ? send_group(sock, argv, start, i) : 0;
        if (rc == -1) return 1;
        if (rc == -2) {
            printf("unsent\n");
            status = 2;
            break;
        }
        printf("sent\n");
        start = i + 1;
    }
    fflush(stdout);
    int64_t end = corral_mono_ms() + timeout;
    for (;;) {
        int64_t left = end - corral_mono_ms();
        if (left <= 0) break;
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long)left) <= 0) break;
        print_message(sock);
    }
    int zero = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return status;
}
