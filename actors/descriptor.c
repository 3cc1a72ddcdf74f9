/* corral — analysis descriptors and the catalog (see descriptor.h).
   Descriptor files come from directories the operator chose, but are read
   as untrusted input all the same: bounded size, no DTD, no entities, no
   network (DESIGN.md). */
#include "actors/descriptor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/xmlerror.h>
#include "corral/log.h"

/* The first error libxml2 reports while one file is read. */
typedef struct xerr {
    int line;
    char msg[256];
} xerr_t;

static void on_error(void *ctx, xmlErrorPtr e) {
    xerr_t *x = ctx;
    if (x->msg[0] || !e) return;
    x->line = e->line;
    snprintf(x->msg, sizeof x->msg, "%s", e->message ? e->message : "error");
    size_t n = strlen(x->msg);
    while (n && (x->msg[n - 1] == '\n' || x->msg[n - 1] == ' ')) x->msg[--n] = '\0';
}

static void on_generic(void *ctx, const char *fmt, ...) { (void)ctx; (void)fmt; }

const char *corral_ptype_name(corral_ptype_t t) {
    static const char *names[] = {"string", "int", "double", "bool", "target"};
    return names[t];
}

static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return snprintf(err, errlen, "%s", strerror(errno)), -1;
    char *buf = malloc(CORRAL_DESC_FILE_MAX + 1);
    size_t n = 0;
    ssize_t r;
    while (buf && (r = read(fd, buf + n, CORRAL_DESC_FILE_MAX + 1 - n)) > 0) n += (size_t)r;
    close(fd);
    if (!buf) return snprintf(err, errlen, "out of memory"), -1;
    if (n > CORRAL_DESC_FILE_MAX) {
        free(buf);
        return snprintf(err, errlen, "larger than %d bytes", CORRAL_DESC_FILE_MAX), -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static char *prop(xmlNodePtr n, const char *name) { return (char *)xmlGetProp(n, (const xmlChar *)name); }

static bool is_elem(xmlNodePtr n, const char *name) {
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* Text of n with surrounding white space trimmed (malloc'd). */
static char *text_of(xmlNodePtr n) {
    char *t = (char *)xmlNodeGetContent(n);
    if (!t) return strdup("");
    char *s = t;
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\t' || s[len - 1] == '\r')) len--;
    char *out = strndup(s, len);
    xmlFree(t);
    return out;
}

/* True if v is a valid text of type t (a default, or a launch string). */
static bool text_fits(corral_ptype_t t, const char *v) {
    char *end;
    errno = 0;
    switch (t) {
    case CORRAL_P_INT: strtoll(v, &end, 10); return *v && !*end && !errno;
    case CORRAL_P_DOUBLE: strtod(v, &end); return *v && !*end && !errno;
    case CORRAL_P_BOOL: return !strcmp(v, "true") || !strcmp(v, "false");
    default: return true;
    }
}

static int take_param(corral_descriptor_t *d, xmlNodePtr n, xerr_t *x) {
    if (d->nparams == CORRAL_DESC_PARAMS_MAX)
        return x->line = n->line, snprintf(x->msg, sizeof x->msg, "more than %d params", CORRAL_DESC_PARAMS_MAX), -1;
    corral_dparam_t *p = &d->params[d->nparams];
    char *name = prop(n, "name"), *type = prop(n, "type"), *req = prop(n, "required");
    char *def = prop(n, "default"), *flag = prop(n, "flag");
    snprintf(p->name, sizeof p->name, "%s", name);
    for (int t = CORRAL_P_STRING; t <= CORRAL_P_TARGET; t++)
        if (!strcmp(type, corral_ptype_name(t))) p->type = t;
    p->required = req && !strcmp(req, "true");
    p->has_default = def != NULL;
    snprintf(p->def, sizeof p->def, "%s", def ? def : "");
    snprintf(p->flag, sizeof p->flag, "%s", flag ? flag : "");
    p->help = text_of(n);
    d->nparams++;
    int rc = 0;
    for (int i = 0; i < d->nparams - 1; i++)
        if (!strcasecmp(d->params[i].name, p->name)) { /* env names are upper-cased */
            snprintf(x->msg, sizeof x->msg, "param \"%s\" declared twice", p->name);
            rc = -1;
        }
    if (!rc && def && !text_fits(p->type, def)) {
        snprintf(x->msg, sizeof x->msg, "param \"%s\": default \"%.64s\" is not a %s", p->name, def, type);
        rc = -1;
    }
    if (rc) x->line = n->line;
    xmlFree(name); xmlFree(type); xmlFree(req); xmlFree(def); xmlFree(flag);
    return rc;
}

/* The program: relative to the descriptor's dir when it has a '/' or names
   a file there, else a bare name for PATH. */
static void set_program(corral_descriptor_t *d, const char *dir, const char *prog) {
    char cand[CORRAL_PATH_MAX];
    snprintf(cand, sizeof cand, "%s/%s", dir, prog);
    if (prog[0] == '/') snprintf(d->program, sizeof d->program, "%s", prog);
    else if (strchr(prog, '/') || access(cand, F_OK) == 0) snprintf(d->program, sizeof d->program, "%s", cand);
    else snprintf(d->program, sizeof d->program, "%s", prog);
}

static int extract(corral_descriptor_t *d, xmlDocPtr doc, const char *dir, xerr_t *x) {
    xmlNodePtr root = xmlDocGetRootElement(doc);
    char *name = prop(root, "name"), *version = prop(root, "version");
    snprintf(d->name, sizeof d->name, "%s", name);
    snprintf(d->version, sizeof d->version, "%s", version);
    xmlFree(name);
    xmlFree(version);
    for (xmlNodePtr n = root->children; n; n = n->next) {
        if (is_elem(n, "description")) {
            d->description = text_of(n);
        } else if (is_elem(n, "program")) {
            char *p = text_of(n);
            set_program(d, dir, p);
            free(p);
        } else if (is_elem(n, "param") && take_param(d, n, x) < 0) {
            return -1;
        }
    }
    if (!d->description) d->description = strdup("");
    return 0;
}

static void descriptor_free(corral_descriptor_t *d) {
    free(d->description);
    for (int i = 0; i < d->nparams; i++) free(d->params[i].help);
}

/* Read, parse, validate and extract one file. 0, or -1 with *x. */
static int load_one(corral_descriptor_t *d, const char *path, const char *dir, xmlRelaxNGPtr schema,
                    xerr_t *x) {
    char *buf;
    size_t len;
    if (read_file(path, &buf, &len, x->msg, sizeof x->msg) < 0) return -1;
    if (strstr(buf, "<!DOCTYPE") || strstr(buf, "<!ENTITY")) {
        free(buf);
        snprintf(x->msg, sizeof x->msg, "DOCTYPE and entity declarations are refused");
        return -1;
    }
    xmlSetStructuredErrorFunc(x, on_error);
    xmlDocPtr doc = xmlReadMemory(buf, (int)len, path, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    free(buf);
    int rc = -1;
    if (!doc) {
        if (!x->msg[0]) snprintf(x->msg, sizeof x->msg, "not well-formed XML");
        goto out;
    }
    xmlRelaxNGValidCtxtPtr v = xmlRelaxNGNewValidCtxt(schema);
    xmlRelaxNGSetValidStructuredErrors(v, on_error, x);
    int valid = v ? xmlRelaxNGValidateDoc(v, doc) : -1;
    xmlRelaxNGFreeValidCtxt(v);
    if (valid != 0) {
        if (!x->msg[0]) snprintf(x->msg, sizeof x->msg, "does not match the descriptor schema");
        goto out;
    }
    memset(d, 0, sizeof *d);
    snprintf(d->file, sizeof d->file, "%s", path);
    rc = extract(d, doc, dir, x);
    if (rc < 0) descriptor_free(d);
out:
    xmlSetStructuredErrorFunc(NULL, NULL);
    xmlFreeDoc(doc);
    return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static void load_dir(corral_catalog_t *cat, const char *dir, xmlRelaxNGPtr schema) {
    struct dirent **names;
    int n = scandir(dir, &names, NULL, by_name);
    if (n < 0) {
        LOG_WARN("analysis", "analysis dir %s: %s", dir, strerror(errno));
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        size_t len = strlen(nm);
        char path[CORRAL_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        xerr_t x = {0, ""};
        corral_descriptor_t *d = &cat->d[cat->n];
        if (len < 5 || strcmp(nm + len - 4, ".xml") != 0 || nm[0] == '.') goto next;
        if (cat->n == CORRAL_DESC_MAX) {
            LOG_WARN("analysis", "%s: left out: the catalog holds %d analyses already", path, CORRAL_DESC_MAX);
            goto next;
        }
        if (load_one(d, path, dir, schema, &x) < 0) {
            LOG_WARN("analysis", "descriptor %s:%d: left out: %s", path, x.line, x.msg);
        } else if (corral_catalog_find(cat, d->name, strlen(d->name))) {
            LOG_WARN("analysis", "descriptor %s:1: left out: analysis \"%s\" is already described",
                     path, d->name);
            descriptor_free(d);
        } else {
            LOG_INFO("analysis", "analysis %s %s from %s", d->name, d->version, path);
            cat->n++;
        }
    next:
        free(names[i]);
    }
    free(names);
}

corral_catalog_t *corral_catalog_load(const char dirs[][CORRAL_PATH_MAX], int ndirs, const char *schema_path) {
    corral_catalog_t *cat = calloc(1, sizeof *cat);
    if (!cat) return NULL;
    cat->d = calloc(CORRAL_DESC_MAX, sizeof *cat->d);
    if (!cat->d) {
        free(cat);
        return NULL;
    }
    xerr_t x = {0, ""};
    xmlSetStructuredErrorFunc(&x, on_error);
    xmlSetGenericErrorFunc(NULL, on_generic);
    xmlRelaxNGParserCtxtPtr pc = xmlRelaxNGNewParserCtxt(schema_path);
    xmlRelaxNGPtr schema = pc ? xmlRelaxNGParse(pc) : NULL;
    xmlRelaxNGFreeParserCtxt(pc);
    xmlSetStructuredErrorFunc(NULL, NULL);
    xmlSetGenericErrorFunc(NULL, NULL);
    if (!schema) {
        LOG_ERROR("analysis", "descriptor schema %s:%d: %s; the catalog is empty", schema_path, x.line,
                  x.msg[0] ? x.msg : "cannot be read");
        return cat;
    }
    for (int i = 0; i < ndirs; i++) load_dir(cat, dirs[i], schema);
    xmlRelaxNGFree(schema);
    return cat;
}

void corral_catalog_destroy(corral_catalog_t **pself) {
    corral_catalog_t *self = *pself;
    if (!self) return;
    for (int i = 0; i < self->n; i++) descriptor_free(&self->d[i]);
    free(self->d);
    free(self);
    *pself = NULL;
}

const corral_descriptor_t *corral_catalog_find(const corral_catalog_t *self, const char *name, size_t n) {
    for (int i = 0; i < self->n; i++)
        if (strlen(self->d[i].name) == n && memcmp(self->d[i].name, name, n) == 0) return &self->d[i];
    return NULL;
}

void corral_dparam_pack_text(const corral_dparam_t *p, const char *v, msgpack_packer *pk) {
    switch (p->type) {
    case CORRAL_P_INT: msgpack_pack_int64(pk, strtoll(v, NULL, 10)); break;
    case CORRAL_P_DOUBLE: msgpack_pack_double(pk, strtod(v, NULL)); break;
    case CORRAL_P_BOOL:
        if (!strcmp(v, "true")) msgpack_pack_true(pk);
        else msgpack_pack_false(pk);
        break;
    default: corral_pack_cstr(pk, v);
    }
}

void corral_catalog_pack(const corral_catalog_t *self, msgpack_packer *pk) {
    msgpack_pack_array(pk, (size_t)self->n);
    for (int i = 0; i < self->n; i++) {
        const corral_descriptor_t *d = &self->d[i];
        msgpack_pack_map(pk, 4);
        corral_pack_kv_cstr(pk, "name", d->name);
        corral_pack_kv_cstr(pk, "version", d->version);
        corral_pack_kv_cstr(pk, "description", d->description);
        corral_pack_cstr(pk, "params");
        msgpack_pack_array(pk, (size_t)d->nparams);
        for (int k = 0; k < d->nparams; k++) {
            const corral_dparam_t *p = &d->params[k];
            msgpack_pack_map(pk, p->has_default ? 5 : 4);
            corral_pack_kv_cstr(pk, "name", p->name);
            corral_pack_kv_cstr(pk, "type", corral_ptype_name(p->type));
            corral_pack_kv_bool(pk, "required", p->required);
            if (p->has_default) {
                corral_pack_cstr(pk, "default");
                corral_dparam_pack_text(p, p->def, pk);
            }
            corral_pack_kv_cstr(pk, "help", p->help);
        }
    }
}
