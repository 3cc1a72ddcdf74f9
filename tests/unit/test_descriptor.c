/* tests for actors/descriptor.c: the shipped descriptors load; broken ones
   are left out without stopping anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "actors/descriptor.h"

#include "check.h"

static char dir[] = "/tmp/test_descriptor_XXXXXX";

static void put(const char *name, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_shipped_descriptors_load(void) {
    char dirs[1][CORRAL_PATH_MAX];
    snprintf(dirs[0], sizeof dirs[0], "%s/analyses", CORRAL_SOURCE_DIR);
    corral_catalog_t *c = corral_catalog_load(dirs, 1, CORRAL_DESC_SCHEMA);
    CHECK(c && c->n == 2);
    const corral_descriptor_t *d = corral_catalog_find(c, "logfmt-report", 13);
    CHECK(d && d->nparams == 3 && d->params[0].type == CORRAL_P_INT && !strcmp(d->params[0].flag, "--count"));
    CHECK(d && strstr(d->program, "/analyses/logfmt-report.sh"));
    d = corral_catalog_find(c, "breakpoint-count", 16);
    CHECK(d && d->params[0].type == CORRAL_P_TARGET && d->params[0].required);
    corral_catalog_destroy(&c);
    CHECK(c == NULL);
}

static void test_broken_descriptors_are_left_out(void) {
    put("a-good.xml", "<analysis name='good' version='1'><program>/bin/true</program>"
                      "<param name='n' type='int' default='3'>help</param></analysis>");
    put("b-notxml.xml", "<analysis name='x' version='1'><program>");
    put("c-schema.xml", "<analysis name='y' version='1'><param name='n' type='weird'/></analysis>");
    put("d-doctype.xml", "<!DOCTYPE a [<!ENTITY e 'x'>]><analysis name='z' version='1'><program>&e;</program></analysis>");
    put("e-default.xml", "<analysis name='w' version='1'><program>p</program>"
                         "<param name='n' type='int' default='abc'/></analysis>");
    put("f-dup.xml", "<analysis name='good' version='2'><program>p</program></analysis>");
    put("g-twice.xml", "<analysis name='v' version='1'><program>p</program>"
                       "<param name='n' type='int'/><param name='N' type='string'/></analysis>");
    put("notes.txt", "not a descriptor");
    char dirs[2][CORRAL_PATH_MAX];
    snprintf(dirs[0], sizeof dirs[0], "%s", dir);
    snprintf(dirs[1], sizeof dirs[1], "/nonexistent");
    corral_catalog_t *c = corral_catalog_load(dirs, 2, CORRAL_DESC_SCHEMA);
    CHECK(c && c->n == 1);
    CHECK(c && c->n && !strcmp(c->d[0].name, "good") && !strcmp(c->d[0].version, "1"));
    corral_catalog_destroy(&c);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    test_shipped_descriptors_load();
    test_broken_descriptors_are_left_out();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) failures++;
    if (failures) fprintf(stderr, "%d failures\n", failures);
    return failures != 0;
}
