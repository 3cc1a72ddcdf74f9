/* corral — analysis descriptors: the XML files of the analysis dirs,
   validated against analyses/descriptor.rng (RELAX NG), and the catalog
   they make. A bad file is logged (file, line, reason) and left out. */
#ifndef CORRAL_DESCRIPTOR_H
#define CORRAL_DESCRIPTOR_H

#include <msgpack.h>
#include <stdbool.h>
#include "corral/config.h"
#include "corral/value.h"

#define CORRAL_DESC_FILE_MAX (256 * 1024)   /* largest descriptor file read */
#define CORRAL_DESC_PARAMS_MAX 32           /* params one analysis may declare */
#define CORRAL_DESC_MAX 512                 /* analyses in the catalog */
#define CORRAL_DESC_SCHEMA CORRAL_SOURCE_DIR "/analyses/descriptor.rng"

typedef enum corral_ptype { CORRAL_P_STRING, CORRAL_P_INT, CORRAL_P_DOUBLE, CORRAL_P_BOOL,
                            CORRAL_P_TARGET } corral_ptype_t;

typedef struct corral_dparam {
    char name[64];
    corral_ptype_t type;
    bool required, has_default;
    char def[1025];         /* the default as written */
    char flag[64];          /* "" when not passed on the command line */
    char *help;
} corral_dparam_t;

typedef struct corral_descriptor {
    char name[64], version[40];
    char *description;
    char program[CORRAL_PATH_MAX];  /* absolute, or a bare name looked up on PATH */
    char file[CORRAL_PATH_MAX];     /* the descriptor file, for messages */
    corral_dparam_t params[CORRAL_DESC_PARAMS_MAX];
    int nparams;
} corral_descriptor_t;

typedef struct corral_catalog {
    corral_descriptor_t *d;
    int n;
} corral_catalog_t;

/* Load every *.xml of dirs[0..ndirs) (in name order; the first of two with
   one name wins). Never fails for a bad file: it is logged and skipped. */
corral_catalog_t *corral_catalog_load(const char dirs[][CORRAL_PATH_MAX], int ndirs,
                                      const char *schema);

void corral_catalog_destroy(corral_catalog_t **self);

/* The descriptor called name[0..n), or NULL. */
const corral_descriptor_t *corral_catalog_find(const corral_catalog_t *self, const char *name, size_t n);

/* Pack the analysis.catalog() answer. */
void corral_catalog_pack(const corral_catalog_t *self, msgpack_packer *pk);

/* Pack p's value v (a string as written: a default) as its type. */
void corral_dparam_pack_text(const corral_dparam_t *p, const char *v, msgpack_packer *pk);

/* The names of param types, "string" ... */
const char *corral_ptype_name(corral_ptype_t t);

#endif
