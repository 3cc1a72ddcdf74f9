#!/bin/sh
# corral analysis template in plain sh: results are logfmt lines written to
# file descriptor 3, one record a line (`key=value key="quoted value"`).
# Parameters arrive as CORRAL_PARAM_<NAME>; `count` also as `--count N`.
count="${CORRAL_PARAM_COUNT:-10}"
if [ "$1" = "--count" ]; then count="$2"; fi
delay="${CORRAL_PARAM_DELAY:-0}"
message="${CORRAL_PARAM_MESSAGE:-hello}"
# logfmt quoting: backslashes and double quotes are escaped.
note=$(printf '%s' "$message" | sed 's/\\/\\\\/g; s/"/\\"/g')
echo "logfmt-report: $count records for $CORRAL_ANALYSIS"
i=1
while [ "$i" -le "$count" ]; do
    echo "n=$i note=\"$note\" ratio=0.5" >&3
    [ "$delay" != "0" ] && sleep "$delay"
    i=$((i + 1))
done
echo "summary=true total=$count" >&3
