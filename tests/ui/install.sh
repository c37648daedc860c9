#!/usr/bin/env bash
# Installs what the approval-page browser test needs and prints the Python to run it with:
# Playwright for Python (PyPI, pinned) in .ci-tools/venv-playwright (git-ignored). The browser
# is Debian's `chromium` package (/usr/bin/chromium, installed by .ci/run); Playwright's own
# browser download (`playwright install`) is never used.
set -euo pipefail

PLAYWRIGHT_VERSION=1.65.3
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV="$ROOT/.ci-tools/venv-playwright"
PY="$VENV/bin/python"

venv_ok() {
    [[ -x "$PY" ]] && "$PY" - "$PLAYWRIGHT_VERSION" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version("playwright") == sys.argv[1] else 1)
PYEOF
}
if ! venv_ok; then
    echo "install.sh: installing playwright==$PLAYWRIGHT_VERSION into $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "playwright==$PLAYWRIGHT_VERSION" >&2
    venv_ok || { echo "install.sh: the venv at $VENV does not have playwright $PLAYWRIGHT_VERSION" >&2; exit 1; }
fi
[[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] || {
    echo "install.sh: ${CHROMIUM:-/usr/bin/chromium} is missing: apt-get install chromium" >&2
    exit 1
}
echo "$PY"
