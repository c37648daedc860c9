#!/bin/sh
# Writes about 110 kB on stdout (10 bytes per line), far over a small output cap.
yes 012345678 | head -n 11000
echo "last line"
