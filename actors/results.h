/* corral — an analysis run's results: an append-only file in the run's own
   directory (STATE/runs/<id>/results.bin), one record per result, and an
   in-memory index of record offsets for paging.

   Record: u32 length (little-endian) of the data, i64 time (ms since the
   epoch), then the data: exactly one msgpack value. The seq of a record is
   its position (1, 2, ...). Opening an existing file re-reads it and cuts a
   torn last record (a write cut short by a crash) off.

   Durability: records are gathered per batch and written with one write(2)
   (corral_results_flush) — from then on they survive the writer being
   SIGKILLed — and fdatasync'd by corral_results_sync, which the host calls
   at a bounded interval and at the end (for machine crashes). */
#ifndef CORRAL_RESULTS_H
#define CORRAL_RESULTS_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "corral/value.h"

#define CORRAL_RESULTS_FILE "results.bin"
#define CORRAL_RESULT_MAX (1u << 20)        /* largest one result's data, bytes */
#define CORRAL_RESULTS_MAX 4000000u          /* results kept per run; past it they are refused */
#define CORRAL_RESULTS_PAGE_MAX 10000        /* most results one analysis.results call returns */
#define CORRAL_RESULTS_PAGE_BYTES (8u << 20) /* ... and most bytes of data */
#define CORRAL_RESULTS_SYNC_MS 1000          /* longest a written result waits for fdatasync */

typedef struct corral_results corral_results_t;

/* Open dir/results.bin (created when writable and missing) and index it.
   NULL with a sentence in err naming the file and the errno text. */
corral_results_t *corral_results_open(const char *dir, bool writable, char *err, size_t errlen);

/* Flush, sync, close, free. Sets *self to NULL. */
void corral_results_destroy(corral_results_t **self);

/* Add one result: data[0..n) is one msgpack value. Buffered until the next
   flush. Returns its seq, or -1 with *f (too large, too many, no memory). */
int64_t corral_results_add(corral_results_t *self, const char *data, size_t n, int64_t time_ms,
                           corral_fault_t *f);

/* Begin a record whose data the caller packs into the returned packer
   (exactly one value), then commit it (or drop it on a parse failure). */
msgpack_packer *corral_results_begin(corral_results_t *self);
int64_t corral_results_commit(corral_results_t *self, int64_t time_ms, corral_fault_t *f);
void corral_results_abort(corral_results_t *self);

/* Write the pending batch with write(2). 0, or -1 with errno (logged). */
int corral_results_flush(corral_results_t *self);

/* flush, then fdatasync. 0 or -1 with errno. */
int corral_results_sync(corral_results_t *self);

/* Results held (the last seq). */
uint64_t corral_results_count(const corral_results_t *self);

/* Bytes flushed but not yet fdatasync'd: the caller syncs when > 0 and the
   interval is up. */
bool corral_results_dirty(const corral_results_t *self);

/* Pack the analysis.results answer {results: [{seq, time, data}], next, done}
   for seq > after, at most max (clamped to the bounds above). 0, or -1 with
   *f (a read error, named with the file and errno text). */
int corral_results_page(corral_results_t *self, msgpack_packer *pk, int64_t after, int64_t max,
                        bool done, corral_fault_t *f);

#endif
