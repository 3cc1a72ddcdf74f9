/* corral — logfmt records (`hits=42 symbol=main note="two words"`), the
   format analysis programs write on file descriptor 3. One line becomes one
   msgpack map: integers → int, decimals → float64, the rest strings. */
#ifndef CORRAL_LOGFMT_H
#define CORRAL_LOGFMT_H

#include <msgpack.h>
#include <stddef.h>

/* Longest logfmt line accepted; longer lines are skipped whole (counted as
   garbage) so one runaway writer cannot make the host buffer without end. */
#define CORRAL_LOGFMT_LINE_MAX 65536
/* Most members one record may have. */
#define CORRAL_LOGFMT_KEYS_MAX 256

/* Parse line[0..n) (without its newline) and pack it as one map into pk.
   Returns the number of members packed (0 for an empty or blank line, in
   which case nothing is packed), or -1 for a line that is not logfmt
   (nothing is packed). Never reads past line+n. */
int corral_logfmt_pack(msgpack_packer *pk, const char *line, size_t n);

#endif
