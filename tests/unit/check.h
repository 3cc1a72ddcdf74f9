/* corral — the unit tests' one assertion: CHECK(cond) reports the file,
   line, function and condition of a failure and counts it; main returns
   CHECK_RESULT(name) (0 only if nothing failed). No framework: each test
   is a plain program ctest runs. */
#ifndef CORRAL_TEST_CHECK_H
#define CORRAL_TEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__,     \
                    __func__, #cond);                                                \
            failures++;                                                              \
        }                                                                            \
    } while (0)

#define CHECK_RESULT(name) \
    (failures ? (fprintf(stderr, "%s: %d checks failed\n", name, failures), 1) \
              : (printf("%s: all checks passed\n", name), 0))

#endif
