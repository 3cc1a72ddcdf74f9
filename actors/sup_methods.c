/* corral — the supervisor's own methods. */
#include "actors/sup_methods.h"

#include <string.h>
#include "corral/methods.h"

static void pack_time_ms(msgpack_packer *pk, int64_t ms) {
    corral_pack_time(pk, ms / 1000, (uint32_t)(ms % 1000) * 1000000u);
}

void sup_server_info(corral_actor_t *a, const corral_msg_t *msg, const corral_config_t *cfg,
                     int targets, int analyses, int64_t started_ms, int64_t uptime_ms) {
    msgpack_packer *pk = corral_actor_reply_begin(a, msg);
    msgpack_pack_map(pk, 7);
    corral_pack_kv_cstr(pk, "version", CORRAL_VERSION);
    corral_pack_kv_cstr(pk, "node", cfg->node);
    corral_pack_kv_int(pk, "nodes", 1);
    corral_pack_kv_int(pk, "targets", targets);
    corral_pack_kv_int(pk, "analyses", analyses);
    corral_pack_kv_double(pk, "uptime", (double)uptime_ms / 1000.0);
    corral_pack_cstr(pk, "startedAt");
    pack_time_ms(pk, started_ms);
    corral_actor_reply_end(a, msg);
}

void sup_node_list(corral_actor_t *a, const corral_msg_t *msg, const corral_config_t *cfg,
                   int targets, int analyses) {
    msgpack_packer *pk = corral_actor_reply_begin(a, msg);
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 6);
    corral_pack_kv_cstr(pk, "name", cfg->node);
    corral_pack_kv_cstr(pk, "address", "local");
    corral_pack_kv_cstr(pk, "state", "up");
    corral_pack_kv_int(pk, "targets", targets);
    corral_pack_kv_int(pk, "analyses", analyses);
    corral_pack_cstr(pk, "lastSeen");
    pack_time_ms(pk, corral_now_ms());
    corral_actor_reply_end(a, msg);
}

static void echo(corral_actor_t *a, const corral_msg_t *msg, const corral_config_t *cfg) {
    uint32_t n = corral_param_count(msg->env.p);
    const msgpack_object *node = corral_param(msg->env.p, 1);
    if (n < 1 || n > 2) {
        corral_actor_fault(a, msg, CORRAL_F_PARAMS, "server.echo takes (value [, node]), not %u parameters", n);
        return;
    }
    if (node && node->type != MSGPACK_OBJECT_STR) {
        corral_actor_fault(a, msg, CORRAL_F_PARAMS, "server.echo: node must be a string");
        return;
    }
    if (node && !corral_value_streq(node, cfg->node)) {
        corral_actor_fault(a, msg, CORRAL_F_NOENT, "no such node '%.*s'", (int)node->via.str.size,
                           node->via.str.ptr);
        return;
    }
    msgpack_packer *pk = corral_actor_reply_begin(a, msg);
    msgpack_pack_object(pk, msg->env.p->via.array.ptr[0]);
    corral_actor_reply_end(a, msg);
}

static void list_methods(corral_actor_t *a, const corral_msg_t *msg) {
    size_t count;
    const corral_method_t *t = corral_methods(&count);
    msgpack_packer *pk = corral_actor_reply_begin(a, msg);
    msgpack_pack_array(pk, count);
    for (size_t i = 0; i < count; i++) corral_pack_cstr(pk, t[i].name);
    corral_actor_reply_end(a, msg);
}

/* The method named by params[0], or NULL after answering the fault. */
static const corral_method_t *named_method(corral_actor_t *a, const corral_msg_t *msg) {
    const char *name;
    size_t n;
    if (corral_param_count(msg->env.p) != 1 || !corral_value_str(corral_param(msg->env.p, 0), &name, &n)) {
        corral_actor_fault(a, msg, CORRAL_F_PARAMS, "%.*s takes one string, the method name",
                           (int)msg->env.m_len, msg->env.m);
        return NULL;
    }
    const corral_method_t *m = corral_method_find(name, n);
    if (!m) corral_actor_fault(a, msg, CORRAL_F_METHOD, "no such method '%.*s'", (int)n, name);
    return m;
}

/* Signatures are kept as "result param ...|result param ..."; each becomes
   an array of type names. */
static void pack_signatures(msgpack_packer *pk, const char *sig) {
    uint32_t nsig = 1;
    for (const char *c = sig; *c; c++) nsig += *c == '|';
    msgpack_pack_array(pk, nsig);
    const char *p = sig;
    for (uint32_t i = 0; i < nsig; i++) {
        size_t len = strcspn(p, "|");
        uint32_t ntypes = 0;
        for (size_t k = 0; k < len; k++)
            if (p[k] != ' ' && (k == 0 || p[k - 1] == ' ')) ntypes++;
        msgpack_pack_array(pk, ntypes);
        for (size_t k = 0; k < len;) {
            while (k < len && p[k] == ' ') k++;
            size_t start = k;
            while (k < len && p[k] != ' ') k++;
            if (k > start) corral_pack_str(pk, p + start, k - start);
        }
        p += len + (p[len] == '|');
    }
}

static void pack_spec(msgpack_packer *pk, const char *name, const char *url, int version) {
    corral_pack_cstr(pk, name);
    msgpack_pack_map(pk, 2);
    corral_pack_kv_cstr(pk, "specUrl", url);
    corral_pack_kv_int(pk, "specVersion", version);
}

static void capabilities(corral_actor_t *a, const corral_msg_t *msg) {
    msgpack_packer *pk = corral_actor_reply_begin(a, msg);
    msgpack_pack_map(pk, 6);
    pack_spec(pk, "xmlrpc", "http://www.xmlrpc.com/spec", 1);
    pack_spec(pk, "introspection", "http://xmlrpc-c.sourceforge.net/introspection.html", 1);
    pack_spec(pk, "multicall", "http://www.xmlrpc.com/discuss/msgReader$1208", 1);
    pack_spec(pk, "nil", "http://www.ontosys.com/xml-rpc/extensions.php", 20010516);
    pack_spec(pk, "i8", "http://ws.apache.org/xmlrpc/types.html", 1);
    pack_spec(pk, "faults_interop", "http://xmlrpc-epi.sourceforge.net/specs/rfc.fault_codes.php", 20010516);
    corral_actor_reply_end(a, msg);
}

bool sup_common_method(corral_actor_t *a, const corral_msg_t *msg, const corral_config_t *cfg) {
    const char *m = msg->env.m;
    size_t n = msg->env.m_len;
#define IS(name) (n == sizeof(name) - 1 && memcmp(m, name, n) == 0)
    if (IS("server.echo")) {
        echo(a, msg, cfg);
    } else if (IS("system.listMethods")) {
        list_methods(a, msg);
    } else if (IS("system.methodHelp")) {
        const corral_method_t *meth = named_method(a, msg);
        if (!meth) return true;
        msgpack_packer *pk = corral_actor_reply_begin(a, msg);
        corral_pack_cstr(pk, meth->help);
        corral_actor_reply_end(a, msg);
    } else if (IS("system.methodSignature")) {
        const corral_method_t *meth = named_method(a, msg);
        if (!meth) return true;
        msgpack_packer *pk = corral_actor_reply_begin(a, msg);
        pack_signatures(pk, meth->signatures);
        corral_actor_reply_end(a, msg);
    } else if (IS("system.getCapabilities")) {
        capabilities(a, msg);
    } else {
        return false;
    }
#undef IS
    return true;
}
