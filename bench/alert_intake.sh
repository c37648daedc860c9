#!/usr/bin/env bash
# Alertmanager intake benchmark: starts the release server on loopback with a fresh SQLite
# database (WAL, synchronous=FULL) on disk, posts webhook batches from concurrent
# connections, prints sustained alerts/second and verifies that every alert fingerprint sent
# is in the store (bench/alert_intake.py does the posting and the check).
#
# Usage: bench/alert_intake.sh [--batches N] [--batch-size N] [--concurrency N] [--seed N]
# Env:   INCIDENT_MCP_BIN (default: cargo build --release, target/release/incident-mcp)
#        BENCH_DIR (default: a new directory under /var/tmp, i.e. on disk, not tmpfs)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf 'alert_intake.sh: %s\n' "$*" >&2; }

if [[ -n "${INCIDENT_MCP_BIN:-}" ]]; then
    BIN="$INCIDENT_MCP_BIN"
else
    (cd "$ROOT" && cargo build --release --quiet --bin incident-mcp)
    BIN="$ROOT/target/release/incident-mcp"
fi

WORK="${BENCH_DIR:-$(mktemp -d -p /var/tmp incident-mcp-bench.XXXXXX)}"
mkdir -p "$WORK"
KEY="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
SERVER_PID=""
cleanup() {
    local rc=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 && -s "$WORK/server.log" ]]; then
        log "server log (last 20 lines):"
        tail -n 20 "$WORK/server.log" >&2 || true
    fi
    [[ -n "${BENCH_DIR:-}" ]] || rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT INT TERM

: >"$WORK/server.log"
OPENCLAW_API_KEY="$KEY" RUST_LOG="${RUST_LOG:-warn}" "$BIN" --db "$WORK/incidents.db" serve --http 127.0.0.1:0 \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

# Bounded readiness poll: the bound address from the log, then /healthz.
BASE=""
for _ in $(seq 1 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || { log "server exited early"; exit 1; }
    [[ -n "$BASE" ]] || BASE="$(sed -n 's|.*listening on \(http://127\.0\.0\.1:[0-9][0-9]*\).*|\1|p' "$WORK/server.log" | head -n 1)"
    if [[ -n "$BASE" ]] && curl --silent --fail --max-time 1 "$BASE/healthz" >/dev/null 2>&1; then
        break
    fi
    sleep 0.1 # paces the poll; readiness is decided by the checks above
done
[[ -n "$BASE" ]] || { log "server did not report its address"; exit 1; }

echo "== alert intake: $BIN at $BASE, database $WORK/incidents.db ($(stat -f -c %T "$WORK") filesystem), $(nproc) CPUs"
python3 "$ROOT/bench/alert_intake.py" --url "$BASE" --key "$KEY" --env dev --db "$WORK/incidents.db" --server-pid "$SERVER_PID" "$@"
