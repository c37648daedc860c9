#!/usr/bin/env bash
# Alertmanager intake benchmark: starts the release server on loopback with a fresh SQLite
# database (WAL, synchronous=FULL) on disk, posts webhook batches from concurrent
# connections, prints sustained alerts/second and verifies that every alert fingerprint sent
# is in the store (bench/alert_intake.py does the posting and the check).
#
# Usage: bench/alert_intake.sh [--postgres] [--batches N] [--batch-size N] [--concurrency N] [--seed N]
#   --postgres: the store is a throw-away PostgreSQL server (Debian's postgresql package: initdb
#               in the work directory, fsync on, loopback TCP) instead of a SQLite file; the
#               zero-loss check then reads it through psql.
# Env:   INCIDENT_MCP_BIN (default: cargo build --release, target/release/incident-mcp)
#        BENCH_DIR (default: a new directory under /var/tmp, i.e. on disk, not tmpfs)
set -euo pipefail
PG=0
if [[ "${1:-}" == "--postgres" ]]; then PG=1; shift; fi

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
PG_PID=""
cleanup() {
    local rc=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n "$PG_PID" ]]; then
        kill "$PG_PID" 2>/dev/null || true
        wait "$PG_PID" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 && -s "$WORK/server.log" ]]; then
        log "server log (last 20 lines):"
        tail -n 20 "$WORK/server.log" >&2 || true
    fi
    [[ -n "${BENCH_DIR:-}" ]] || rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT INT TERM

DB="$WORK/incidents.db"
if [[ "$PG" == 1 ]]; then
    PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    [[ -x "$PGBIN/initdb" ]] || { log "PostgreSQL is not installed (apt-get install postgresql)"; exit 1; }
    PGPORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    mkdir -p "$WORK/pg" "$WORK/pgsock"
    as_pg=()
    if [[ "$(id -u)" == 0 ]]; then chown postgres: "$WORK" "$WORK/pg" "$WORK/pgsock"; as_pg=(runuser -u postgres --); fi
    "${as_pg[@]}" "$PGBIN/initdb" -U postgres --auth=trust -E UTF8 -D "$WORK/pg/data" >"$WORK/initdb.log" 2>&1
    "${as_pg[@]}" "$PGBIN/postgres" -D "$WORK/pg/data" -p "$PGPORT" -k "$WORK/pgsock" \
        -c listen_addresses=127.0.0.1 >"$WORK/postgres.log" 2>&1 &
    PG_PID=$!
    for _ in $(seq 1 300); do
        "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break
        sleep 0.1 # paces the poll; readiness is decided by pg_isready
    done
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" || { log "PostgreSQL did not start"; exit 1; }
    DB="postgres://postgres@127.0.0.1:$PGPORT/postgres"
fi

: >"$WORK/server.log"
OPENCLAW_API_KEY="$KEY" RUST_LOG="${RUST_LOG:-warn}" "$BIN" --db "$DB" serve --http 127.0.0.1:0 \
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

if [[ "$PG" == 1 ]]; then
    echo "== alert intake: $BIN at $BASE, PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') in $WORK ($(stat -f -c %T "$WORK") filesystem, fsync on), $(nproc) CPUs"
else
    echo "== alert intake: $BIN at $BASE, database $DB ($(stat -f -c %T "$WORK") filesystem), $(nproc) CPUs"
fi
python3 "$ROOT/bench/alert_intake.py" --url "$BASE" --key "$KEY" --env dev --db "$DB" --server-pid "$SERVER_PID" "$@"
