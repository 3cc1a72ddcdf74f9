/* corral — append-only results of one analysis run (see results.h). */
#include "actors/results.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "corral/envelope.h"
#include "corral/log.h"

#define HDR 12 /* u32 length + i64 time */

struct corral_results {
    int fd;
    bool writable, dirty;
    char path[4096];
    uint64_t *off;          /* off[i]: file offset of record seq i+1 */
    uint64_t count, cap;
    uint64_t size;          /* bytes in the file (flushed) */
    msgpack_sbuffer pend;   /* records not yet written */
    msgpack_packer pk;
    size_t rec_start;       /* start of the record being packed in pend */
};

static void put32(char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (char)(v >> (8 * i)); }
static void put64(char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (char)(v >> (8 * i)); }
static uint32_t get32(const char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | (unsigned char)p[i];
    return v;
}
static uint64_t get64(const char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | (unsigned char)p[i];
    return v;
}

static int index_push(corral_results_t *self, uint64_t off) {
    if (self->count == self->cap) {
        uint64_t ncap = self->cap ? self->cap * 2 : 1024;
        uint64_t *n = realloc(self->off, ncap * sizeof *n);
        if (!n) return -1;
        self->off = n;
        self->cap = ncap;
    }
    self->off[self->count++] = off;
    return 0;
}

/* True if data[0..n) is exactly one msgpack value. */
static bool one_value(const char *data, size_t n) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t pos = 0;
    bool ok = msgpack_unpack_next(&u, data, n, &pos) == MSGPACK_UNPACK_SUCCESS && pos == n;
    msgpack_unpacked_destroy(&u);
    return ok;
}

/* Read the whole file once, indexing every complete record; a torn or
   corrupt tail is cut off (writable) or ignored (read-only). */
static int load(corral_results_t *self, char *err, size_t errlen) {
    off_t end = lseek(self->fd, 0, SEEK_END);
    if (end < 0) return snprintf(err, errlen, "%s: %s", self->path, strerror(errno)), -1;
    uint64_t pos = 0;
    char hdr[HDR];
    char *data = NULL;
    while (pos + HDR <= (uint64_t)end) {
        if (pread(self->fd, hdr, HDR, (off_t)pos) != HDR) break;
        uint32_t len = get32(hdr);
        if (len == 0 || len > CORRAL_RESULT_MAX || pos + HDR + len > (uint64_t)end) break;
        char *nd = realloc(data, len);
        if (!nd) break;
        data = nd;
        if (pread(self->fd, data, len, (off_t)(pos + HDR)) != (ssize_t)len || !one_value(data, len)) break;
        if (index_push(self, pos) < 0) break;
        pos += HDR + len;
    }
    free(data);
    if (pos != (uint64_t)end) {
        LOG_WARN("results", "%s: cut a torn record off at byte %llu of %lld", self->path,
                 (unsigned long long)pos, (long long)end);
        if (self->writable && ftruncate(self->fd, (off_t)pos) < 0)
            return snprintf(err, errlen, "%s: truncate: %s", self->path, strerror(errno)), -1;
    }
    self->size = pos;
    return 0;
}

corral_results_t *corral_results_open(const char *dir, bool writable, char *err, size_t errlen) {
    corral_results_t *self = calloc(1, sizeof *self);
    if (!self) return snprintf(err, errlen, "results: out of memory"), NULL;
    snprintf(self->path, sizeof self->path, "%s/%s", dir, CORRAL_RESULTS_FILE);
    self->writable = writable;
    self->fd = open(self->path, writable ? O_RDWR | O_CREAT | O_CLOEXEC : O_RDONLY | O_CLOEXEC, 0600);
    if (self->fd < 0) {
        snprintf(err, errlen, "%s: %s", self->path, strerror(errno));
        free(self);
        return NULL;
    }
    msgpack_sbuffer_init(&self->pend);
    msgpack_packer_init(&self->pk, &self->pend, msgpack_sbuffer_write);
    if (load(self, err, errlen) < 0) {
        corral_results_destroy(&self);
        return NULL;
    }
    return self;
}

void corral_results_destroy(corral_results_t **pself) {
    corral_results_t *self = *pself;
    if (!self) return;
    if (self->writable) corral_results_sync(self);
    close(self->fd);
    msgpack_sbuffer_destroy(&self->pend);
    free(self->off);
    free(self);
    *pself = NULL;
}

msgpack_packer *corral_results_begin(corral_results_t *self) {
    self->rec_start = self->pend.size;
    static const char zero[HDR];
    msgpack_sbuffer_write(&self->pend, zero, HDR);
    return &self->pk;
}

void corral_results_abort(corral_results_t *self) { self->pend.size = self->rec_start; }

int64_t corral_results_commit(corral_results_t *self, int64_t time_ms, corral_fault_t *f) {
    size_t len = self->pend.size - self->rec_start - HDR;
    if (len == 0 || len > CORRAL_RESULT_MAX) {
        corral_results_abort(self);
        return corral_fault_set(f, CORRAL_F_PARAMS, "result of %zu bytes (at most %u)", len,
                                CORRAL_RESULT_MAX);
    }
    if (self->count >= CORRAL_RESULTS_MAX) {
        corral_results_abort(self);
        return corral_fault_set(f, CORRAL_F_BUSY, "results: the run already holds %u results",
                                CORRAL_RESULTS_MAX);
    }
    if (index_push(self, self->size + self->rec_start) < 0) {
        corral_results_abort(self);
        return corral_fault_set(f, CORRAL_F_INTERNAL, "results: out of memory");
    }
    char *h = self->pend.data + self->rec_start;
    put32(h, (uint32_t)len);
    put64(h + 4, (uint64_t)time_ms);
    return (int64_t)self->count;
}

int64_t corral_results_add(corral_results_t *self, const char *data, size_t n, int64_t time_ms,
                           corral_fault_t *f) {
    msgpack_packer *pk = corral_results_begin(self);
    msgpack_sbuffer_write(pk->data, data, n);
    return corral_results_commit(self, time_ms, f);
}

int corral_results_flush(corral_results_t *self) {
    size_t done = 0;
    while (done < self->pend.size) {
        ssize_t w = pwrite(self->fd, self->pend.data + done, self->pend.size - done,
                           (off_t)(self->size + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            LOG_ERROR("results", "%s: write: %s", self->path, strerror(e));
            /* Keep what is unwritten pending; the index already counts it. */
            memmove(self->pend.data, self->pend.data + done, self->pend.size - done);
            self->pend.size -= done;
            self->size += done;
            errno = e;
            return -1;
        }
        done += (size_t)w;
    }
    self->size += done;
    self->pend.size = 0;
    if (done) self->dirty = true;
    return 0;
}

int corral_results_sync(corral_results_t *self) {
    if (corral_results_flush(self) < 0) return -1;
    if (!self->dirty) return 0;
    if (fdatasync(self->fd) < 0) {
        LOG_ERROR("results", "%s: fdatasync: %s", self->path, strerror(errno));
        return -1;
    }
    self->dirty = false;
    return 0;
}

uint64_t corral_results_count(const corral_results_t *self) { return self->count; }

bool corral_results_dirty(const corral_results_t *self) { return self->dirty; }

static void pack_record(msgpack_packer *pk, uint64_t seq, const char *rec, uint32_t len) {
    int64_t ms = (int64_t)get64(rec + 4);
    msgpack_pack_map(pk, 3);
    corral_pack_kv_int(pk, "seq", (int64_t)seq);
    corral_pack_kv_time(pk, "time", ms / 1000, (uint32_t)(ms % 1000) * 1000000u);
    corral_pack_cstr(pk, "data");
    pk->callback(pk->data, rec + HDR, len); /* the stored value, as it was packed */
}

int corral_results_page(corral_results_t *self, msgpack_packer *pk, int64_t after, int64_t max,
                        bool done, corral_fault_t *f) {
    if (self->writable && corral_results_flush(self) < 0)
        return corral_fault_set(f, CORRAL_F_INTERNAL, "%s: write: %s", self->path, strerror(errno));
    if (after < 0) after = 0;
    if (max > CORRAL_RESULTS_PAGE_MAX) max = CORRAL_RESULTS_PAGE_MAX;
    uint64_t first = (uint64_t)after, last = first; /* records first+1 .. last */
    if (first > self->count) first = last = self->count;
    while (max > 0 && last < self->count) {
        uint64_t end = last + 1 < self->count ? self->off[last + 1] : self->size;
        if (last > first && end - self->off[first] > CORRAL_RESULTS_PAGE_BYTES) break;
        last++;
        max--;
    }
    char *buf = NULL;
    size_t span = 0;
    if (last > first) {
        uint64_t from = self->off[first], to = last < self->count ? self->off[last] : self->size;
        span = (size_t)(to - from);
        buf = malloc(span);
        if (!buf) return corral_fault_set(f, CORRAL_F_INTERNAL, "%s: out of memory", self->path);
        if (pread(self->fd, buf, span, (off_t)from) != (ssize_t)span) {
            int e = errno;
            free(buf);
            return corral_fault_set(f, CORRAL_F_INTERNAL, "%s: read: %s", self->path, strerror(e));
        }
    }
    msgpack_pack_map(pk, 3);
    corral_pack_cstr(pk, "results");
    msgpack_pack_array(pk, (size_t)(last - first));
    for (uint64_t s = first; s < last; s++) {
        const char *rec = buf + (self->off[s] - self->off[first]);
        pack_record(pk, s + 1, rec, get32(rec));
    }
    free(buf);
    corral_pack_kv_int(pk, "next", (int64_t)last);
    /* done: the run has ended and this page reaches its last result. */
    corral_pack_kv_bool(pk, "done", done && last == self->count);
    return 0;
}
