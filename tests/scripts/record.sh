#!/bin/sh
# Records its argv (one argument per line) and its environment, then reports success.
set -eu
for a in "$@"; do printf '%s\n' "$a"; done > "$OUT_DIR/argv"
env > "$OUT_DIR/env"
echo "restarted container $1"
