/* bench/floor.c — the message floor.

   Times the round trip of one corral-like envelope (a ~100-byte msgpack map:
   v, k, id, to, who, dl, m, p) over plain ZeroMQ, with no HTTP and no XML, so
   that corral's routed calls can be compared with the cheapest possible
   version of the same route on the same machine:

     inproc   client DEALER  <-> worker ROUTER                (one hop, threads)
     ipc      client DEALER  <-> worker ROUTER                (one hop, unix socket)
     3hop     client DEALER  -> broker ROUTER -> worker DEALER, and back
              (the broker reads "to" from the request, as corral's broker does,
              and routes the reply on the routing frame the request collected)
     3hop-ipc the same, with the worker's leg over ipc (an analysis process)

   Each is run sequentially (one envelope in flight: latency) and pipelined
   (DEPTH in flight: throughput). The worker decodes the request and packs a
   reply carrying p[0] back, so the floor pays for msgpack as an actor does.

   Output, one line per case, for bench/run to parse:
     floor MODE seq|pipe trips_per_s=N us_per_trip=X bytes=B

   Usage: floor [-d SECONDS_PER_CASE] [-p DEPTH] [-m MODE]  */
#define _GNU_SOURCE
#include <msgpack.h>
#include <zmq.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DIE(...) do { fprintf(stderr, "floor: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- envelopes ---------------------------------------------------------- */

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* The request corral's gateway would send for server.echo("hello"). */
static void pack_request(msgpack_sbuffer *sb, uint64_t id)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 8);
    pack_str(&pk, "v");  msgpack_pack_int(&pk, 1);
    pack_str(&pk, "k");  msgpack_pack_int(&pk, 0);
    pack_str(&pk, "id"); msgpack_pack_uint64(&pk, id);
    pack_str(&pk, "to"); pack_str(&pk, "s0@bench");
    pack_str(&pk, "who");
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "user"); pack_str(&pk, "admin");
    pack_str(&pk, "role"); msgpack_pack_int(&pk, 3);
    pack_str(&pk, "dl"); msgpack_pack_int64(&pk, 1733000000000LL + 30000);
    pack_str(&pk, "m");  pack_str(&pk, "server.echo");
    pack_str(&pk, "p");
    msgpack_pack_array(&pk, 1);
    pack_str(&pk, "hello, corral benchmark");
}

/* Look up a string key of a decoded map; NULL if absent. */
static const msgpack_object *map_get(const msgpack_object *o, const char *key)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t kn = strlen(key);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == kn &&
            memcmp(kv->key.via.str.ptr, key, kn) == 0)
            return &kv->val;
    }
    return NULL;
}

/* The worker's side: decode the request, answer {v, k, id, r: p[0]}. */
static void answer(const void *req, size_t len, msgpack_sbuffer *out)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, req, len, NULL) != MSGPACK_UNPACK_SUCCESS)
        DIE("worker: bad envelope");
    const msgpack_object *id = map_get(&u.data, "id");
    const msgpack_object *p = map_get(&u.data, "p");
    if (!id || !p || p->type != MSGPACK_OBJECT_ARRAY || p->via.array.size < 1)
        DIE("worker: envelope lacks id or p");
    msgpack_packer pk;
    msgpack_sbuffer_clear(out);
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    pack_str(&pk, "v");  msgpack_pack_int(&pk, 1);
    pack_str(&pk, "k");  msgpack_pack_int(&pk, 1);
    pack_str(&pk, "id"); msgpack_pack_object(&pk, *id);
    pack_str(&pk, "r");  msgpack_pack_object(&pk, p->via.array.ptr[0]);
    msgpack_unpacked_destroy(&u);
}

/* The client's side: the reply must carry a result (we do not match ids:
   replies come back in order on one DEALER, and checking costs the same). */
static void check_reply(const void *rep, size_t len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, rep, len, NULL) != MSGPACK_UNPACK_SUCCESS ||
        !map_get(&u.data, "r"))
        DIE("client: bad reply");
    msgpack_unpacked_destroy(&u);
}

/* ---- multipart helpers -------------------------------------------------- */

#define MAXFRAMES 8

typedef struct { zmq_msg_t f[MAXFRAMES]; int n; } parts_t;

static void recv_parts(void *sock, parts_t *m)
{
    int more = 1;
    m->n = 0;
    while (more) {
        if (m->n == MAXFRAMES)
            DIE("too many frames");
        zmq_msg_init(&m->f[m->n]);
        if (zmq_msg_recv(&m->f[m->n], sock, 0) < 0)
            DIE("recv: %s", zmq_strerror(zmq_errno()));
        more = zmq_msg_more(&m->f[m->n]);
        m->n++;
    }
}

static void close_parts(parts_t *m)
{
    for (int i = 0; i < m->n; i++)
        zmq_msg_close(&m->f[i]);
    m->n = 0;
}

static void send_buf(void *sock, const void *p, size_t n, int flags)
{
    if (zmq_send(sock, p, n, flags) < 0)
        DIE("send: %s", zmq_strerror(zmq_errno()));
}

/* Forward frame i of m (zero copy: zmq_msg_send takes it over). */
static void send_frame(void *sock, parts_t *m, int i, int flags)
{
    if (zmq_msg_send(&m->f[i], sock, flags) < 0)
        DIE("send: %s", zmq_strerror(zmq_errno()));
    zmq_msg_init(&m->f[i]);
}

/* ---- the actors --------------------------------------------------------- */

typedef struct {
    void *ctx;
    const char *worker_ep;   /* where the worker binds (1 hop) or connects (3 hop) */
    const char *broker_ep;   /* where the broker's ROUTER binds (3 hop) */
    int three_hop;
} route_t;

/* One-hop worker: a ROUTER, as an actor that serves many clients is. */
static void *worker_router(void *arg)
{
    void *s = arg;
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    for (;;) {
        parts_t m;
        recv_parts(s, &m);              /* [client-id, "", env] */
        if (m.n != 3)
            DIE("worker: %d frames", m.n);
        if (zmq_msg_size(&m.f[2]) == 4 && memcmp(zmq_msg_data(&m.f[2]), "STOP", 4) == 0) {
            close_parts(&m);
            break;
        }
        answer(zmq_msg_data(&m.f[2]), zmq_msg_size(&m.f[2]), &out);
        send_frame(s, &m, 0, ZMQ_SNDMORE);
        send_buf(s, "", 0, ZMQ_SNDMORE);
        send_buf(s, out.data, out.size, 0);
        close_parts(&m);
    }
    msgpack_sbuffer_destroy(&out);
    zmq_close(s);
    return NULL;
}

/* Three-hop worker: a DEALER with an identity, connected to the broker, as
   corral's actors are. It sees [from, "", env] and answers along it. */
static void *worker_dealer(void *arg)
{
    void *s = arg;
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    for (;;) {
        parts_t m;
        recv_parts(s, &m);              /* [from, "", env] */
        if (m.n != 3)
            DIE("worker: %d frames", m.n);
        if (zmq_msg_size(&m.f[2]) == 4 && memcmp(zmq_msg_data(&m.f[2]), "STOP", 4) == 0) {
            close_parts(&m);
            break;
        }
        answer(zmq_msg_data(&m.f[2]), zmq_msg_size(&m.f[2]), &out);
        send_frame(s, &m, 0, ZMQ_SNDMORE);
        send_buf(s, "", 0, ZMQ_SNDMORE);
        send_buf(s, out.data, out.size, 0);
        close_parts(&m);
    }
    msgpack_sbuffer_destroy(&out);
    zmq_close(s);
    return NULL;
}

/* The broker: one ROUTER. A message arrives as [sender, route..., "", env].
   With no route frames it is a request: the destination is the envelope's
   "to" (decoded, as a broker that never trusts frames must), and the sender
   is pushed as the route back. With route frames it is a reply: pop the
   next hop. Returns on a STOP envelope after forwarding it. */
static void *broker(void *arg)
{
    void *s = arg;
    for (;;) {
        parts_t m;
        recv_parts(s, &m);
        int delim = 1;
        while (delim < m.n && zmq_msg_size(&m.f[delim]) != 0)
            delim++;
        if (delim != m.n - 2)
            DIE("broker: malformed message (%d frames)", m.n);
        zmq_msg_t *env = &m.f[m.n - 1];
        int stop = zmq_msg_size(env) == 4 && memcmp(zmq_msg_data(env), "STOP", 4) == 0;
        if (delim == 1) {
            /* request: decode the envelope for "to" (a broker never trusts
               frames for the destination) and look it up; the floor's route
               table has one entry, a real one is a hash probe. */
            const char *to = "w";
            if (!stop) {
                msgpack_unpacked u;
                msgpack_unpacked_init(&u);
                if (msgpack_unpack_next(&u, zmq_msg_data(env), zmq_msg_size(env), NULL) !=
                    MSGPACK_UNPACK_SUCCESS)
                    DIE("broker: bad envelope");
                const msgpack_object *o = map_get(&u.data, "to");
                if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size != 8 ||
                    memcmp(o->via.str.ptr, "s0@bench", 8) != 0)
                    DIE("broker: unroutable envelope");
                msgpack_unpacked_destroy(&u);
            }
            send_buf(s, to, strlen(to), ZMQ_SNDMORE);
            send_frame(s, &m, 0, ZMQ_SNDMORE);      /* route back */
            send_buf(s, "", 0, ZMQ_SNDMORE);
            send_frame(s, &m, m.n - 1, 0);
        } else {
            /* reply: [worker, client, "", env] -> client gets [..., "", env] */
            send_frame(s, &m, 1, ZMQ_SNDMORE);
            for (int i = 2; i < m.n - 1; i++)
                send_frame(s, &m, i, ZMQ_SNDMORE);
            send_frame(s, &m, m.n - 1, 0);
        }
        close_parts(&m);
        if (stop)
            break;
    }
    zmq_close(s);
    return NULL;
}

/* ---- the client: sequential and pipelined loops ------------------------- */

static void client_recv(void *c)
{
    parts_t m;
    recv_parts(c, &m);      /* ["", env] from a DEALER */
    if (m.n != 2)
        DIE("client: %d frames", m.n);
    check_reply(zmq_msg_data(&m.f[1]), zmq_msg_size(&m.f[1]));
    close_parts(&m);
}

static void client_send(void *c, msgpack_sbuffer *sb, uint64_t id)
{
    pack_request(sb, id);
    send_buf(c, "", 0, ZMQ_SNDMORE);
    send_buf(c, sb->data, sb->size, 0);
}

/* Runs for `secs`; returns trips per second. depth 1 = sequential. */
static double run_client(void *c, int depth, double secs, size_t *bytes)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    uint64_t id = 1, done = 0;
    for (int i = 0; i < depth; i++)
        client_send(c, &sb, id++);
    *bytes = sb.size;
    double t0 = now_s(), t = t0;
    while (t - t0 < secs) {
        for (int i = 0; i < 256; i++) {
            client_recv(c);
            done++;
            client_send(c, &sb, id++);
        }
        t = now_s();
    }
    for (int i = 0; i < depth; i++)       /* drain what is still in flight */
        client_recv(c);
    msgpack_sbuffer_destroy(&sb);
    return done / (t - t0);
}

static void *socket_or_die(void *ctx, int type)
{
    void *s = zmq_socket(ctx, type);
    if (!s)
        DIE("zmq_socket: %s", zmq_strerror(zmq_errno()));
    int zero = 0;   /* no high-water limit: the pipelined loop bounds itself */
    zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    return s;
}

static void bind_or_die(void *s, const char *ep)
{
    if (zmq_bind(s, ep) != 0)
        DIE("bind %s: %s", ep, zmq_strerror(zmq_errno()));
}

static void connect_or_die(void *s, const char *ep)
{
    if (zmq_connect(s, ep) != 0)
        DIE("connect %s: %s", ep, zmq_strerror(zmq_errno()));
}

static void run_case(const char *name, const char *worker_ep, const char *broker_ep,
                     double secs, int depth)
{
    void *ctx = zmq_ctx_new();
    pthread_t wt, bt = 0;
    void *c = socket_or_die(ctx, ZMQ_DEALER);

    if (!broker_ep) {
        void *w = socket_or_die(ctx, ZMQ_ROUTER);
        bind_or_die(w, worker_ep);
        pthread_create(&wt, NULL, worker_router, w);
        connect_or_die(c, worker_ep);
    } else {
        void *b = socket_or_die(ctx, ZMQ_ROUTER);
        int one = 1;
        zmq_setsockopt(b, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        bind_or_die(b, broker_ep);
        if (strcmp(worker_ep, broker_ep) != 0)
            bind_or_die(b, worker_ep);      /* the worker's leg on its own transport */
        void *w = socket_or_die(ctx, ZMQ_DEALER);
        zmq_setsockopt(w, ZMQ_ROUTING_ID, "w", 1);
        zmq_setsockopt(c, ZMQ_ROUTING_ID, "c", 1);
        connect_or_die(w, worker_ep);
        pthread_create(&bt, NULL, broker, b);
        pthread_create(&wt, NULL, worker_dealer, w);
        /* ROUTER_MANDATORY fails a send to a peer not yet connected (ipc
           connects asynchronously): wait until the worker is routable. */
        usleep(100 * 1000);
        connect_or_die(c, broker_ep);
    }

    /* warm up: connections, caches, page faults */
    size_t bytes;
    run_client(c, 1, secs / 10 > 0.2 ? 0.2 : secs / 10, &bytes);
    double seq = run_client(c, 1, secs, &bytes);
    printf("floor %s seq trips_per_s=%.0f us_per_trip=%.2f bytes=%zu\n",
           name, seq, 1e6 / seq, bytes);
    fflush(stdout);
    double pipe = run_client(c, depth, secs, &bytes);
    printf("floor %s pipe%d trips_per_s=%.0f us_per_trip=%.2f bytes=%zu\n",
           name, depth, pipe, 1e6 / pipe, bytes);
    fflush(stdout);

    send_buf(c, "", 0, ZMQ_SNDMORE);
    send_buf(c, "STOP", 4, 0);
    pthread_join(wt, NULL);
    if (bt)
        pthread_join(bt, NULL);
    zmq_close(c);
    zmq_ctx_term(ctx);
}

int main(int argc, char **argv)
{
    double secs = 2.0;
    int depth = 64, opt;
    const char *only = NULL;
    while ((opt = getopt(argc, argv, "d:p:m:")) != -1) {
        switch (opt) {
        case 'd': secs = atof(optarg); break;
        case 'p': depth = atoi(optarg); break;
        case 'm': only = optarg; break;
        default:
            fprintf(stderr, "usage: floor [-d SECONDS] [-p DEPTH] [-m inproc|ipc|3hop|3hop-ipc]\n");
            return 2;
        }
    }
    if (secs <= 0 || depth < 1)
        DIE("bad -d or -p");

    /* ipc endpoints in a private directory, removed at the end */
    char dir[] = "/tmp/corral-floor-XXXXXX";
    if (!mkdtemp(dir))
        DIE("mkdtemp failed");
    char ipc1[128], ipc2[128];
    snprintf(ipc1, sizeof ipc1, "ipc://%s/w", dir);
    snprintf(ipc2, sizeof ipc2, "ipc://%s/b", dir);

    if (!only || !strcmp(only, "inproc"))
        run_case("inproc", "inproc://w", NULL, secs, depth);
    if (!only || !strcmp(only, "ipc"))
        run_case("ipc", ipc1, NULL, secs, depth);
    if (!only || !strcmp(only, "3hop"))
        run_case("3hop", "inproc://b", "inproc://b", secs, depth);
    if (!only || !strcmp(only, "3hop-ipc"))
        run_case("3hop-ipc", ipc2, "inproc://b", secs, depth);

    unlink(ipc1 + 6);
    unlink(ipc2 + 6);
    rmdir(dir);
    return 0;
}
