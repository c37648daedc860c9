#!/bin/sh
# Starts a child in its process group, records its pid, then waits far beyond the timeout.
sleep 30 &
echo $! > "$OUT_DIR/child.pid.tmp"
mv "$OUT_DIR/child.pid.tmp" "$OUT_DIR/child.pid"
wait
touch "$OUT_DIR/finished"
