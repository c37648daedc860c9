#!/bin/sh
# Fails with exit code 3 and a secret on stderr (which must be redacted).
echo "line 1 on stdout"
echo "cannot restart: docker said no, password=hunter2-canary" >&2
exit 3
