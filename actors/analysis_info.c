/* corral — AnalysisInfo records: packed for replies and events, kept in
   each run's directory (info.mp) so ended analyses outlive their host and
   the server. */
#include "corral/analysis.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "corral/envelope.h"

#define INFO_FILE "info.mp"
#define INFO_MAX (256 * 1024)

const char *corral_astate_name(int s) {
    static const char *names[] = {"starting", "running", "paused", "exited", "killed", "failed"};
    return s >= 0 && s <= CORRAL_A_FAILED ? names[s] : "failed";
}

static void pack_ms(msgpack_packer *pk, const char *k, int64_t ms) {
    corral_pack_kv_time(pk, k, ms / 1000, (uint32_t)(ms % 1000) * 1000000u);
}

void corral_ainfo_pack(const corral_ainfo_t *a, msgpack_packer *pk, bool full) {
    bool ended = corral_astate_ended(a->state);
    msgpack_pack_map(pk, 13 + (ended ? 1 : 0) + (full ? 9 : 0));
    corral_pack_kv_cstr(pk, "id", a->id);
    corral_pack_kv_cstr(pk, "name", a->name);
    corral_pack_kv_cstr(pk, "node", a->node);
    corral_pack_kv_int(pk, "pid", a->pid);
    corral_pack_kv_int(pk, "hostPid", a->host_pid);
    corral_pack_kv_cstr(pk, "state", corral_astate_name(a->state));
    corral_pack_kv_int(pk, "exitCode", a->exit_code);
    corral_pack_kv_int(pk, "signal", a->signal);
    corral_pack_kv_int(pk, "results", (int64_t)a->results);
    corral_pack_kv_int(pk, "skipped", (int64_t)a->skipped);
    pack_ms(pk, "startedAt", a->started_ms);
    if (ended) pack_ms(pk, "endedAt", a->ended_ms);
    corral_pack_cstr(pk, "params");
    if (a->params_len) pk->callback(pk->data, a->params, a->params_len);
    else msgpack_pack_map(pk, 0);
    corral_pack_kv_cstr(pk, "target", a->target);
    if (!full) return;
    corral_pack_kv_cstr(pk, "owner", a->owner);
    corral_pack_kv_int(pk, "ownerRole", a->owner_role);
    corral_pack_kv_int(pk, "startedMs", a->started_ms);
    corral_pack_kv_int(pk, "endedMs", a->ended_ms);
    corral_pack_kv_int(pk, "outTotal0", (int64_t)a->out_total[0]);
    corral_pack_kv_int(pk, "outTotal1", (int64_t)a->out_total[1]);
    corral_pack_kv_int(pk, "outFile0", (int64_t)a->out_file[0]);
    corral_pack_kv_int(pk, "outFile1", (int64_t)a->out_file[1]);
    corral_pack_kv_cstr(pk, "error", a->error);
}


int corral_ainfo_unpack(corral_ainfo_t *a, const msgpack_object *o) {
    if (!o || o->type != MSGPACK_OBJECT_MAP || !corral_value_member(o, "id")) return -1;
    corral_ainfo_clear(a);
    corral_member_str(o, "id", a->id, sizeof a->id);
    corral_member_str(o, "name", a->name, sizeof a->name);
    corral_member_str(o, "node", a->node, sizeof a->node);
    corral_member_str(o, "owner", a->owner, sizeof a->owner);
    corral_member_str(o, "target", a->target, sizeof a->target);
    corral_member_str(o, "error", a->error, sizeof a->error);
    a->owner_role = (int)corral_member_int(o, "ownerRole");
    a->pid = (int)corral_member_int(o, "pid");
    a->host_pid = (int)corral_member_int(o, "hostPid");
    a->state = CORRAL_A_FAILED;
    for (int s = CORRAL_A_STARTING; s <= CORRAL_A_FAILED; s++)
        if (corral_value_streq(corral_value_member(o, "state"), corral_astate_name(s))) a->state = s;
    a->exit_code = (int)corral_member_int(o, "exitCode");
    a->signal = (int)corral_member_int(o, "signal");
    a->results = (uint64_t)corral_member_int(o, "results");
    a->skipped = (uint64_t)corral_member_int(o, "skipped");
    a->started_ms = corral_member_int(o, "startedMs");
    a->ended_ms = corral_member_int(o, "endedMs");
    a->out_total[0] = (uint64_t)corral_member_int(o, "outTotal0");
    a->out_total[1] = (uint64_t)corral_member_int(o, "outTotal1");
    a->out_file[0] = (uint64_t)corral_member_int(o, "outFile0");
    a->out_file[1] = (uint64_t)corral_member_int(o, "outFile1");
    const msgpack_object *p = corral_value_member(o, "params");
    if (p && p->type == MSGPACK_OBJECT_MAP) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_object(&pk, *p);
        a->params = sb.data; /* ownership moves to a */
        a->params_len = sb.size;
    }
    return 0;
}

void corral_ainfo_clear(corral_ainfo_t *a) {
    free(a->params);
    a->params = NULL;
    a->params_len = 0;
}

int corral_ainfo_save(const corral_ainfo_t *a, const char *run_dir) {
    char tmp[CORRAL_PATH_MAX], path[CORRAL_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", run_dir, INFO_FILE);
    snprintf(path, sizeof path, "%s/%s", run_dir, INFO_FILE);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    corral_ainfo_pack(a, &pk, true);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = -1, e = 0;
    if (fd >= 0) {
        /* fsync before rename: after a crash the file is the old or the new
           record, never an empty one. */
        if (write(fd, sb.data, sb.size) == (ssize_t)sb.size && fdatasync(fd) == 0 && rename(tmp, path) == 0)
            rc = 0;
        e = errno;
        close(fd);
    } else {
        e = errno;
    }
    msgpack_sbuffer_destroy(&sb);
    errno = e;
    return rc;
}

int corral_ainfo_load(corral_ainfo_t *a, const char *run_dir, char *err, size_t errlen) {
    char path[CORRAL_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", run_dir, INFO_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1;
    char *buf = malloc(INFO_MAX);
    ssize_t n = buf ? read(fd, buf, INFO_MAX) : -1;
    close(fd);
    int rc = -1;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (n <= 0 || n == INFO_MAX) snprintf(err, errlen, "%s: empty, unreadable or too large", path);
    else if (msgpack_unpack_next(&u, buf, (size_t)n, &off) != MSGPACK_UNPACK_SUCCESS ||
             corral_ainfo_unpack(a, &u.data) < 0)
        snprintf(err, errlen, "%s: not an analysis record", path);
    else rc = 0;
    msgpack_unpacked_destroy(&u);
    free(buf);
    return rc;
}
