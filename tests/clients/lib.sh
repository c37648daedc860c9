# Shared helpers for the client acceptance scripts in tests/clients/ (sourced, not run).
# Sets ROOT, TOOLS_DIR, BIN, TMP; traps EXIT to stop the servers it started and remove TMP.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOOLS_DIR="$ROOT/.ci-tools" # git-ignored
TMP=$(mktemp -d "${TMPDIR:-/tmp}/incident-mcp-clients.XXXXXX")
SERVER_PIDS=()
PASSED=0
FAILED=0

cleanup() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${SERVER_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that a killed run (e.g. a test timeout) still cleans up

# The servers get their settings from flags only: no key, config or db from the caller's environment.
unset OPENCLAW_API_KEY INCIDENT_MCP_CONFIG INCIDENT_MCP_DB

log() { printf '%s\n' "$*"; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

# The server binary: $INCIDENT_MCP_BIN, or a fresh `cargo build` of target/debug/incident-mcp.
build_server() {
    if [[ -n "${INCIDENT_MCP_BIN:-}" ]]; then
        BIN=$INCIDENT_MCP_BIN
    else
        (cd "$ROOT" && cargo build --quiet --bin incident-mcp) || die "cargo build --bin incident-mcp failed"
        BIN="$ROOT/target/debug/incident-mcp"
    fi
    [[ -x "$BIN" ]] || die "server binary $BIN is missing"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_http_server NAME KEY → sets PORT and URL; the server uses a fresh db $TMP/NAME.db and logs to $TMP/NAME.log.
# Waits (bounded) for /healthz; fails if the server exits or never answers.
start_http_server() {
    local name=$1 key=$2 pid i
    PORT=$(free_port)
    OPENCLAW_API_KEY="$key" "$BIN" --db "$TMP/$name.db" serve --http "127.0.0.1:$PORT" >"$TMP/$name.log" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    for i in $(seq 1 150); do # up to ~15 s
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -20 "$TMP/$name.log" >&2
            die "HTTP server $name exited during startup"
        fi
        if python3 - "$PORT" <<'EOF' 2>/dev/null; then
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
            URL="http://127.0.0.1:$PORT/mcp"
            return 0
        fi
        sleep 0.1
    done
    tail -20 "$TMP/$name.log" >&2
    die "HTTP server $name did not answer /healthz on port $PORT"
}

pass() {
    PASSED=$((PASSED + 1))
    log "ok   $*"
}
fail() {
    FAILED=$((FAILED + 1))
    log "FAIL $*"
}
