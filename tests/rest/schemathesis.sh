#!/usr/bin/env bash
# Property-based contract test of the REST API with schemathesis (PyPI), against the
# OpenAPI 3.1 document the server itself serves at /api/openapi.json.
#
# Usage: tests/rest/schemathesis.sh            (from anywhere; builds target/debug/incident-mcp)
# Env:   SCHEMATHESIS_MAX_EXAMPLES (default 80)  SCHEMATHESIS_SEED (default: random, printed; set it
#        to replay a run)
#        INCIDENT_MCP_BIN (default: cargo build + target/debug/incident-mcp)
# Exits non-zero when schemathesis reports any failure or error, or the server cannot start.
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.ci-tools/venv-schemathesis"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-80}"
SEED="${SCHEMATHESIS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
API_KEY="${INCIDENT_MCP_TEST_CANARY:-cnry}-schemathesis-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
# A human approver's own key (`[[approvers]]`), for `POST /api/plans/{plan_id}/approve`.
APPROVER_KEY="${INCIDENT_MCP_TEST_CANARY:-cnry}-approver-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

log() { printf 'schemathesis.sh: %s\n' "$*" >&2; }

# --- tool: a pinned schemathesis in a private venv (.ci-tools is git-ignored) ---
if [[ ! -x "$VENV/bin/schemathesis" ]] || [[ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" != *"$SCHEMATHESIS_VERSION"* ]]; then
    log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# --- server under test ---
if [[ -n "${INCIDENT_MCP_BIN:-}" ]]; then
    BIN="$INCIDENT_MCP_BIN"
else
    (cd "$ROOT" && cargo build --quiet --bin incident-mcp)
    BIN="$ROOT/target/debug/incident-mcp"
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    local rc=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 && -s "$WORK/server.log" ]]; then
        log "server log (last 40 lines):"
        tail -n 40 "$WORK/server.log" >&2 || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT INT TERM

# Port 0: the kernel picks a free port and the server prints the address it bound
# ("incident-mcp listening on http://127.0.0.1:PORT ..."), so there is no port race.
log "starting $BIN"
: >"$WORK/server.log" # exists before the reader below looks at it
# The built-in configuration plus one webhook target, so that `POST /api/incident/notify/{id}`
# has a schema-valid `service`. Its secret variable is unset: a queued row stays queued (this
# process cannot sign it) without any network traffic.
# A policy and a harmless allowlisted script let planning succeed (so a plan can be seeded for
# the plan operations), and one approver is configured.
# The built-in default minus its dev policy (the sandbox's), which the table below replaces.
"$BIN" config default | awk '/^\[environments\.dev\.policy\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip' \
    >"$WORK/config.toml"
printf '#!/bin/sh\nexit 0\n' >"$WORK/noop.sh"
chmod 755 "$WORK/noop.sh"
NOOP_SHA="$(sha256sum "$WORK/noop.sh" | cut -d' ' -f1)"
cat >>"$WORK/config.toml" <<TOML

[notify]
[[notify.webhooks]]
name = "ops"
url = "https://hooks.example.invalid/incidents"
secret_env = "SCHEMATHESIS_UNSET_HOOK_SECRET"

[[scripts]]
id = "web-noop"
path = "$WORK/noop.sh"
sha256 = "$NOOP_SHA"

[environments.dev.policy]
allowed_actions = ["isolate", "restore", "revert"]
allowed_namespaces = ["shop"]
resource_patterns = ["web-*"]
scripts = ["web-noop"]

[[approvers]]
name = "schemathesis"
key_env = "SCHEMATHESIS_APPROVER_KEY"
TOML
SCHEMATHESIS_APPROVER_KEY="$APPROVER_KEY" OPENCLAW_API_KEY="$API_KEY" "$BIN" --db "$WORK/incidents.db" --config "$WORK/config.toml" serve --http 127.0.0.1:0 \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

# Bounded readiness poll (at most 300 rounds): first the bound address in the log, then
# /healthz answering 200 on it.
BASE=""
for _ in $(seq 1 300); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        log "server exited before becoming ready"
        exit 1
    fi
    if [[ -z "$BASE" ]]; then
        BASE="$(sed -n 's|.*listening on \(http://127\.0\.0\.1:[0-9][0-9]*\).*|\1|p' "$WORK/server.log" | head -n 1)"
    fi
    if [[ -n "$BASE" ]] && curl --silent --fail --max-time 1 "$BASE/healthz" >/dev/null 2>&1; then
        break
    fi
    # Paces the poll; readiness itself is decided by the log line and /healthz above.
    sleep 0.1
done
if [[ -z "$BASE" ]] || ! curl --silent --fail --max-time 5 "$BASE/healthz" >/dev/null; then
    log "server did not become ready (no bound address in its log, or /healthz not answering)"
    exit 1
fi
log "server ready at $BASE"

# Seed two incidents so that id-taking operations can reach their 200/409 paths too.
curl --silent --fail --max-time 30 -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
    -d '{"env":"dev"}' "$BASE/api/incident/detect" >/dev/null
# And a registered webhook, so that `DELETE /api/hooks/{name}` (example `seed-hook`) can reach 204.
curl --silent --fail --max-time 30 -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
    -d '{"name":"seed-hook","url":"https://hooks.example.invalid/seed","events":["resolve"],"secret_env":"INCIDENT_MCP_HOOK_SCHEMATHESIS_UNSET"}' \
    "$BASE/api/hooks" >/dev/null

# And a dead notification, so that `POST /api/outbox/{id}/retry` reaches 200 (then 409): queued for
# a registered hook that is removed before it can be delivered ("not configured any more" is final).
curl --silent --fail --max-time 30 -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
    -d '{"name":"seed-dead","url":"https://hooks.example.invalid/dead","events":["resolve"],"secret_env":"INCIDENT_MCP_HOOK_SCHEMATHESIS_UNSET"}' \
    "$BASE/api/hooks" >/dev/null
SEEDED_OUTBOX_ID="$(curl --silent --fail --max-time 30 -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
    -d '{"service":"seed-dead"}' "$BASE/api/incident/notify/INC-000002" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["outbox_id"])')"
curl --silent --fail --max-time 30 -H "Authorization: Bearer $API_KEY" -X DELETE "$BASE/api/hooks/seed-dead" >/dev/null
export SEEDED_OUTBOX_ID
# The server's dispatcher retries the row (its secret is unset here) until it finds the hook gone:
# bounded wait for the dead letter, read from the server's database with the CLI.
for _ in $(seq 1 300); do
    if "$BIN" --db "$WORK/incidents.db" --config "$WORK/config.toml" outbox list --dead 2>/dev/null |
        python3 -c 'import json, os, sys; sys.exit(0 if any(str(r["id"]) == os.environ["SEEDED_OUTBOX_ID"] for r in json.load(sys.stdin)["rows"]) else 1)'; then
        break
    fi
    # Paces the poll; the condition above decides.
    sleep 0.1
done
log "seeded dead outbox row $SEEDED_OUTBOX_ID"

# And a pending plan, so that the plan operations reach their 200/409 paths (schemathesis.toml
# pins `plan_id` to it).
SEEDED_PLAN_ID="$(curl --silent --fail --max-time 30 -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
    -d '{"method":"restore","resource":"script/web-noop","namespace":"shop"}' "$BASE/api/incident/recover/INC-000001" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["plan_id"])')"
export SEEDED_PLAN_ID
log "seeded plan $SEEDED_PLAN_ID"

# Run from the scratch directory: schemathesis keeps a `.schemathesis/` crash cache in its
# working directory, which must not land in the repository (and would make runs depend on
# earlier ones).
cd "$WORK"
# st_run KEY [schemathesis options...]
st_run() {
    local key="$1"
    shift
    "$VENV/bin/schemathesis" --config-file "$ROOT/tests/rest/schemathesis.toml" run "$BASE/api/openapi.json" \
        --checks all \
        --header "Authorization: Bearer $key" \
        --max-examples "$MAX_EXAMPLES" \
        --seed "$SEED" \
        --generation-database none \
        --workers 1 \
        --request-timeout 30 \
        --no-color \
        "$@"
}
# Two passes. A webhook registered by `POST /api/hooks` becomes a valid `service` of
# `POST /api/incident/notify/{id}` although the served document (rendered at start-up) cannot
# list it, so a negative notify test could name a hook the run itself created. Registering
# therefore runs last, alone, after every other operation.
log "running schemathesis $SCHEMATHESIS_VERSION (max $MAX_EXAMPLES examples per operation, seed $SEED)"
log "replay this run with: SCHEMATHESIS_SEED=$SEED tests/rest/schemathesis.sh"
# Approving takes an approver's key, not the agent's: it runs in a pass of its own, last
# (it approves the seeded plan, which the first pass could then have applied).
st_run "$API_KEY" --exclude-operation-id addHook --exclude-operation-id approvePlan \
    --exclude-operation-id approveAndApplyPlan --exclude-operation-id denyPlan "$@"
log "running schemathesis on addHook"
st_run "$API_KEY" --include-operation-id addHook "$@"
log "running schemathesis on approvePlan, approveAndApplyPlan and denyPlan with the approver's key"
st_run "$APPROVER_KEY" --include-operation-id approvePlan --include-operation-id approveAndApplyPlan \
    --include-operation-id denyPlan "$@"
