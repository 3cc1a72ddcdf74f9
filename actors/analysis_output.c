/* corral — an analysis's stdout and stderr: a head kept on disk, a tail
   kept in a bounded ring, and readOutput over both (API.md target.readOutput
   semantics: offsets count from the start of the stream; `dropped` counts
   the bytes lost to the bounds before the returned offset). */
#include "corral/analysis.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "corral/log.h"

static const char *stream_name(int s) { return s ? "stderr" : "stdout"; }

int corral_aout_open(corral_aout_t *o, const char *run_dir, int stream, size_t cap) {
    memset(o, 0, sizeof *o);
    o->stream = stream;
    o->cap = cap ? cap : 1;
    snprintf(o->path, sizeof o->path, "%s/%s.log", run_dir, stream_name(stream));
    o->ring = malloc(o->cap);
    o->fd = open(o->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (!o->ring || o->fd < 0) {
        int e = o->ring ? errno : ENOMEM;
        free(o->ring);
        o->ring = NULL;
        if (o->fd >= 0) close(o->fd);
        errno = e;
        return -1;
    }
    return 0;
}

void corral_aout_write(corral_aout_t *o, const char *data, size_t n) {
    if (o->fd >= 0 && o->file_len < CORRAL_ANALYSIS_OUTPUT_FILE_MAX) {
        size_t k = n;
        if (k > CORRAL_ANALYSIS_OUTPUT_FILE_MAX - o->file_len) k = CORRAL_ANALYSIS_OUTPUT_FILE_MAX - o->file_len;
        ssize_t w = write(o->fd, data, k);
        if (w < 0) LOG_WARN("analysis", "%s: write: %s", o->path, strerror(errno));
        else o->file_len += (uint64_t)w;
    }
    /* Only the last cap bytes can matter to the ring. */
    const char *p = data;
    if (n > o->cap) {
        p += n - o->cap;
        o->total += n - o->cap;
        n = o->cap;
    }
    size_t at = (size_t)(o->total % o->cap), first = o->cap - at < n ? o->cap - at : n;
    memcpy(o->ring + at, p, first);
    memcpy(o->ring, p + first, n - first);
    o->total += n;
}

/* Where the tail held in the ring (or .tail file) starts. */
static uint64_t tail_start(uint64_t total, size_t cap) { return total > cap ? total - cap : 0; }

int corral_aout_finish(corral_aout_t *o, const char *run_dir) {
    if (!o->ring) return 0;
    char path[CORRAL_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.tail", run_dir, stream_name(o->stream));
    int rc = 0;
    /* Only what the head file lacks needs to go into the tail file. */
    if (o->total > o->file_len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        uint64_t from = tail_start(o->total, o->cap);
        if (from < o->file_len) from = o->file_len;
        size_t n = (size_t)(o->total - from), at = (size_t)(from % o->cap);
        size_t first = o->cap - at < n ? o->cap - at : n;
        if (fd < 0 || write(fd, o->ring + at, first) != (ssize_t)first ||
            write(fd, o->ring, n - first) != (ssize_t)(n - first) || fdatasync(fd) < 0) {
            LOG_WARN("analysis", "%s: %s", path, strerror(errno));
            rc = -1;
        }
        if (fd >= 0) close(fd);
    }
    if (o->fd >= 0) {
        fdatasync(o->fd);
        close(o->fd);
    }
    o->fd = -1;
    free(o->ring);
    o->ring = NULL;
    return rc;
}

/* The bytes of one stream: a head [0, file_len) in a file, and a tail
   [tstart, total) in memory or in a file. */
typedef struct view {
    int head_fd, tail_fd;
    uint64_t file_len, tstart, total;
    const corral_aout_t *ring;
    bool eof;
} view_t;

static int copy_tail(const view_t *v, uint64_t from, char *dst, size_t n) {
    if (v->ring) {
        const corral_aout_t *o = v->ring;
        size_t at = (size_t)(from % o->cap), first = o->cap - at < n ? o->cap - at : n;
        memcpy(dst, o->ring + at, first);
        memcpy(dst + first, o->ring, n - first);
        return 0;
    }
    return pread(v->tail_fd, dst, n, (off_t)(from - v->tstart)) == (ssize_t)n ? 0 : -1;
}

static int read_view(const view_t *v, int64_t offset, int64_t max, msgpack_packer *pk, corral_fault_t *f,
                     const char *what) {
    if (max < 0) max = 0;
    if (max > CORRAL_ANALYSIS_READ_MAX) max = CORRAL_ANALYSIS_READ_MAX;
    uint64_t off = offset < 0 ? (v->total > (uint64_t)max ? v->total - (uint64_t)max : 0) : (uint64_t)offset;
    if (off > v->total) off = v->total;
    uint64_t dropped = 0;
    if (off >= v->file_len && off < v->tstart) { /* in the gap neither bound kept */
        dropped = v->tstart - v->file_len;
        off = v->tstart;
    } else if (off >= v->tstart && v->tstart > v->file_len) {
        dropped = v->tstart - v->file_len;
    }
    uint64_t end = off < v->file_len ? v->file_len : v->total;
    size_t n = (size_t)(end - off < (uint64_t)max ? end - off : (uint64_t)max);
    char *buf = malloc(n ? n : 1);
    if (!buf) return corral_fault_set(f, CORRAL_F_INTERNAL, "%s: out of memory", what);
    int rc = n == 0 ? 0 : off < v->file_len ? (pread(v->head_fd, buf, n, (off_t)off) == (ssize_t)n ? 0 : -1)
                                            : copy_tail(v, off, buf, n);
    if (rc < 0) {
        free(buf);
        return corral_fault_set(f, CORRAL_F_INTERNAL, "%s: read: %s", what, strerror(errno));
    }
    msgpack_pack_map(pk, 5);
    corral_pack_cstr(pk, "data");
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, buf, n);
    free(buf);
    corral_pack_kv_int(pk, "offset", (int64_t)off);
    corral_pack_kv_int(pk, "next", (int64_t)(off + n));
    corral_pack_kv_bool(pk, "eof", v->eof && off + n == v->total);
    corral_pack_kv_int(pk, "dropped", (int64_t)dropped);
    return 0;
}

int corral_aout_read(const corral_aout_t *o, int64_t offset, int64_t max, msgpack_packer *pk,
                     corral_fault_t *f) {
    if (!o->ring) return corral_fault_set(f, CORRAL_F_INTERNAL, "%s: the stream is closed", o->path);
    view_t v = {.tail_fd = -1, .file_len = o->file_len, .total = o->total, .ring = o,
                .tstart = tail_start(o->total, o->cap), .eof = o->eof};
    if (v.tstart < v.file_len) v.tstart = v.file_len;
    v.head_fd = open(o->path, O_RDONLY | O_CLOEXEC);
    if (v.head_fd < 0 && o->file_len)
        return corral_fault_set(f, CORRAL_F_INTERNAL, "%s: %s", o->path, strerror(errno));
    int rc = read_view(&v, offset, max, pk, f, o->path);
    if (v.head_fd >= 0) close(v.head_fd);
    return rc;
}

int corral_aout_read_disk(const char *run_dir, int stream, const corral_ainfo_t *a, int64_t offset,
                          int64_t max, msgpack_packer *pk, corral_fault_t *f) {
    char head[CORRAL_PATH_MAX], tail[CORRAL_PATH_MAX];
    snprintf(head, sizeof head, "%s/%s.log", run_dir, stream_name(stream));
    snprintf(tail, sizeof tail, "%s/%s.tail", run_dir, stream_name(stream));
    view_t v = {.file_len = a->out_file[stream], .total = a->out_total[stream], .eof = true};
    v.head_fd = open(head, O_RDONLY | O_CLOEXEC);
    v.tail_fd = open(tail, O_RDONLY | O_CLOEXEC);
    off_t tlen = v.tail_fd >= 0 ? lseek(v.tail_fd, 0, SEEK_END) : 0;
    /* A host that died never wrote its tail: the stream ends where the head
       file does. */
    if (v.tail_fd < 0 || tlen <= 0) v.total = v.file_len;
    if (v.head_fd >= 0) {
        off_t hl = lseek(v.head_fd, 0, SEEK_END);
        if (hl >= 0 && (uint64_t)hl < v.file_len) v.file_len = (uint64_t)hl;
        if (v.tail_fd < 0 || tlen <= 0) v.total = v.file_len = hl > 0 ? (uint64_t)hl : 0;
    }
    v.tstart = v.total - (uint64_t)(tlen > 0 ? tlen : 0);
    if (v.tstart < v.file_len) v.tstart = v.file_len;
    int rc = read_view(&v, offset, max, pk, f, head);
    if (v.head_fd >= 0) close(v.head_fd);
    if (v.tail_fd >= 0) close(v.tail_fd);
    return rc;
}
