#!/bin/sh
# Creates a marker file: any run of it is visible to the test.
touch "$OUT_DIR/ran"
