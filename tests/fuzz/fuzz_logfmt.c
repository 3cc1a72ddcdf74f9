/* libFuzzer entry point for the logfmt target; the body and the properties it
   checks are in fuzz_targets.h, shared with tests/unit/test_fuzz_replay.c. */
#include "tests/fuzz/fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_logfmt(data, size); }
