#!/usr/bin/env bash
# Acceptance: the official Python MCP SDK (PyPI `mcp`) runs a full detect → list → get → analyze →
# ack → resolve conversation with incident-mcp, plus resources, prompts and bad calls, over stdio
# and over streamable HTTP with the bearer key, in both protocol eras (2025-11-25 initialize
# handshake and 2026-07-28 server/discover). Also checks that HTTP without the key (or with a wrong
# one) is refused. The conversation itself is tests/clients/python_client.py.
#
# Installs into .ci-tools/venv-mcp (git-ignored) on first use. Env: INCIDENT_MCP_BIN to test a
# prebuilt binary instead of `cargo build`.
set -euo pipefail

MCP_VERSION=2.3.0     # PyPI mcp; 2.x speaks both eras
HTTPX2_VERSION=2.16.2 # mcp 2.3's HTTP client library (it uses httpx2, not httpx)

# shellcheck source=tests/clients/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VENV="$TOOLS_DIR/venv-mcp"
PY="$VENV/bin/python"
CLIENT="$ROOT/tests/clients/python_client.py"

venv_ok() {
    [[ -x "$PY" ]] && "$PY" - "$MCP_VERSION" "$HTTPX2_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if (version("mcp"), version("httpx2")) == (sys.argv[1], sys.argv[2]) else 1)
EOF
}
if ! venv_ok; then
    log "installing mcp==$MCP_VERSION httpx2==$HTTPX2_VERSION into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "mcp==$MCP_VERSION" "httpx2==$HTTPX2_VERSION"
    venv_ok || die "the venv at $VENV does not have mcp $MCP_VERSION"
fi
build_server
START=$SECONDS

# run_client LABEL ARGS...: one conversation; its per-check lines go to stdout, the server's and
# SDK's stderr to $TMP/LABEL.err (shown on failure). Adds its check count to PASSED.
run_client() {
    local label=$1 rc=0 n
    shift
    timeout 120 "$PY" "$CLIENT" "$@" >"$TMP/$label.out" 2>"$TMP/$label.err" || rc=$?
    cat "$TMP/$label.out"
    n=$(grep -c '^ok ' "$TMP/$label.out" || true)
    PASSED=$((PASSED + n))
    if [[ $rc -ne 0 ]]; then
        FAILED=$((FAILED + 1))
        log "FAIL [$label] python_client.py exited $rc$([[ $rc -eq 124 ]] && echo ' (timed out)'); its stderr (last 40 lines):"
        tail -40 "$TMP/$label.err" | sed 's/^/    /'
    fi
}

for era in legacy modern; do
    run_client "stdio-$era" stdio --era "$era" --cmd "$BIN" --db "$TMP/stdio-$era.db"
done

KEY="${INCIDENT_MCP_TEST_CANARY:-cnry}-py-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
for era in legacy modern; do
    start_http_server "http-$era" "$KEY"
    run_client "http-$era" http --era "$era" --url "$URL" --api-key "$KEY"
    run_client "http-$era-nokey" http --era "$era" --url "$URL" --expect-unauthorized
    run_client "http-$era-badkey" http --era "$era" --url "$URL" --api-key "not-$KEY" --expect-unauthorized
done

log "(python-sdk checks took $((SECONDS - START)) s)"
if [[ $FAILED -ne 0 ]]; then
    log "python-sdk: $PASSED checks passed, $FAILED runs failed"
    exit 1
fi
log "python-sdk: $PASSED checks passed"
