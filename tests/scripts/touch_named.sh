#!/bin/sh
# Creates "$OUT_DIR/$1": the test sees which plan's script ran.
set -eu
touch "$OUT_DIR/$1"
echo "marked $1"
