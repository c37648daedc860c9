#!/usr/bin/env python3
"""A full incident-response conversation with incident-mcp through the official Python MCP SDK.

Run by tests/clients/python.sh (which makes the venv and starts the HTTP server); by hand:

    python_client.py stdio --cmd target/debug/incident-mcp --db /tmp/fresh.db [--era legacy|modern]
    python_client.py http --url http://127.0.0.1:PORT/mcp --api-key KEY [--era legacy|modern]
    python_client.py http --url http://127.0.0.1:PORT/mcp [--api-key WRONG] --expect-unauthorized

The server must start on an EMPTY database: the conversation expects `incident_detect env=dev`
to create exactly INC-000001 (network, pod/shop/web-7) and INC-000002 (auth, ip/203.0.113.9).

`--era legacy` connects with the initialize handshake (2025-11-25); `--era modern` with
`server/discover` (2026-07-28, stateless). Besides the checks here, the SDK itself validates
every successful tool result's structuredContent against the tool's outputSchema (a mismatch
raises, which is a crash below). Prints one line per check; exits 1 on the first failed check,
2 on a crash (exception, transport error or a call that took over 30 s).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

TOOLS = {"incident_detect", "incident_list", "incident_get", "incident_analyze", "incident_ack", "incident_resolve",
         "incident_contain", "incident_recover", "incident_apply", "incident_plan", "incident_notify",
         "incident_containments", "incident_outbox_retry", "incident_declare", "incident_note", "incident_assign",
         "incident_severity"}
PROMPTS = {"incident-triage", "incident-containment", "incident-postmortem"}
NET_ID, AUTH_ID = "INC-000001", "INC-000002"
NET_TITLE, AUTH_TITLE = "Egress traffic spike on pod/shop/web-7", "SSH brute force on ip/203.0.113.9"
# Each call gets a bounded wait: a hang is a failure, not a stuck CI job.
CALL_TIMEOUT = 30.0


class CheckFailed(Exception):
    pass


class Checks:
    def __init__(self, label: str) -> None:
        self.label = label
        self.passed = 0

    def ok(self, cond: Any, what: str, detail: Any = None) -> None:
        if not cond:
            extra = f": {detail}" if detail is not None else ""
            print(f"FAIL [{self.label}] {what}{extra}", flush=True)
            raise CheckFailed(what)
        self.passed += 1
        print(f"ok   [{self.label}] {what}", flush=True)

    def eq(self, actual: Any, expected: Any, what: str) -> None:
        self.ok(actual == expected, what, f"expected {expected!r}, got {actual!r}")


def short(x: Any, n: int = 400) -> str:
    s = x if isinstance(x, str) else repr(x)
    return s if len(s) <= n else s[:n] + "…"


async def call(session: ClientSession, name: str, args: dict[str, Any]) -> Any:
    """tools/call; returns the CallToolResult, or the MCPError if the server answered with a JSON-RPC error."""
    with anyio.fail_after(CALL_TIMEOUT):
        try:
            return await session.call_tool(name, args)
        except MCPError as e:
            return e


async def ok_call(c: Checks, session: ClientSession, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """A tools/call that must succeed: a result (no JSON-RPC error), not isError, structuredContent an
    object, and the first text block (kept for clients without structured output) the same JSON.
    One check line; the failure detail says which part broke."""
    r = await call(session, name, args)
    problem = None
    if isinstance(r, MCPError):
        problem = f"JSON-RPC error {r.error.code}: {r.error.message}"
    elif r.is_error:
        problem = f"isError: {short(r.content)}"
    elif not isinstance(r.structured_content, dict):
        problem = f"structuredContent is {short(r.structured_content)}"
    else:
        texts = [b.text for b in r.content if getattr(b, "type", None) == "text"]
        if not texts or json.loads(texts[0]) != r.structured_content:
            problem = f"the text block differs from structuredContent: {short(texts)}"
    c.ok(problem is None, f"{name} {json.dumps(args)}: result with structuredContent (= its text block)", problem)
    return r.structured_content


def error_text(r: Any) -> str:
    if isinstance(r, MCPError):
        return f"JSON-RPC error {r.error.code}: {r.error.message}"
    return " ".join(getattr(b, "text", "") for b in r.content)


def is_error(r: Any) -> bool:
    return isinstance(r, MCPError) or bool(getattr(r, "is_error", False))


def how(r: Any) -> str:
    """How the server reported an error, for the check line."""
    if isinstance(r, MCPError):
        return f"JSON-RPC error {r.error.code}"
    return "isError result" if getattr(r, "is_error", False) else "NO error"


def snapshot(lst: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (i["id"], i["status"], i["signal_count"], i.get("updated_at"), i.get("severity")) for i in lst["incidents"]
    )


async def conversation(session: ClientSession, c: Checks, era: str) -> None:
    with anyio.fail_after(CALL_TIMEOUT):
        if era == "legacy":
            init = await session.initialize()
            c.ok(init.server_info.name == "incident-mcp", "initialize: serverInfo.name is incident-mcp", init.server_info)
        else:
            disc = await session.discover()
            c.ok("2026-07-28" in disc.supported_versions, "server/discover lists 2026-07-28", disc.supported_versions)
        c.ok(session.protocol_version is not None, f"negotiated protocol {session.protocol_version}")
        caps = session.server_capabilities
        c.ok(caps is not None and caps.tools is not None and caps.resources is not None and caps.prompts is not None,
             "server declares tools, resources and prompts", caps)

    # --- discovery -----------------------------------------------------------------------
    with anyio.fail_after(CALL_TIMEOUT):
        tools = (await session.list_tools()).tools
    names = {t.name for t in tools}
    c.eq(names, TOOLS, "tools/list has exactly the seventeen incident tools")
    c.ok(all(t.annotations is not None and t.annotations.read_only_hint is not None for t in tools),
         "every tool has annotations with readOnlyHint")
    by = {t.name: t for t in tools}
    c.ok(by["incident_get"].annotations.read_only_hint is True and by["incident_resolve"].annotations.read_only_hint is False,
         "incident_get is read-only, incident_resolve is not")
    c.ok(all(t.output_schema for t in tools), "every tool declares an outputSchema")
    c.ok("note" in by["incident_resolve"].input_schema.get("required", []), "incident_resolve requires note")

    # --- detect ----------------------------------------------------------------------------
    det = await ok_call(c, session, "incident_detect", {"env": "dev"})
    c.eq(det["created"], 2, "detect on a fresh db creates 2 incidents")
    got = {i["id"]: i for i in det["incidents"]}
    c.eq(sorted(got), [NET_ID, AUTH_ID], "detect reports INC-000001 and INC-000002")
    c.ok(got[NET_ID]["type"] == "network" and got[NET_ID]["entity"] == "pod/shop/web-7"
         and got[NET_ID]["change"] == "created", "INC-000001 is a new network incident on pod/shop/web-7", got[NET_ID])
    c.ok(got[AUTH_ID]["type"] == "auth" and got[AUTH_ID]["entity"] == "ip/203.0.113.9",
         "INC-000002 is an auth incident on ip/203.0.113.9", got[AUTH_ID])

    again = await ok_call(c, session, "incident_detect", {"env": "dev"})
    c.eq(again["created"], 0, "detect again creates nothing (dedup)")
    c.ok({i["id"] for i in again["incidents"]} <= {NET_ID, AUTH_ID}, "detect again reports only the same ids", again["incidents"])

    # --- list / get --------------------------------------------------------------------------
    lst = await ok_call(c, session, "incident_list", {})
    c.eq(lst["count"], 2, "incident_list count is 2")
    c.eq({i["id"]: i["status"] for i in lst["incidents"]}, {NET_ID: "open", AUTH_ID: "open"}, "both incidents are open")
    net_only = await ok_call(c, session, "incident_list", {"type": "network"})
    c.eq([i["id"] for i in net_only["incidents"]], [NET_ID], "incident_list type=network gives only INC-000001")

    got1 = await ok_call(c, session, "incident_get", {"id": NET_ID})
    inc = got1["incident"]
    c.ok(inc["id"] == NET_ID and inc["title"] == NET_TITLE and inc["status"] == "open" and inc["env"] == "dev",
         "incident_get INC-000001: id, title, status open, env dev", inc)
    c.ok(0 < len(got1["recent_signals"]) <= 10, f"incident_get returns 1..10 recent signals ({len(got1['recent_signals'])})")

    # --- analyze -----------------------------------------------------------------------------
    an = await ok_call(c, session, "incident_analyze", {"id": NET_ID, "depth": 2})
    c.eq(an["incident"]["id"], NET_ID, "analyze is about INC-000001")
    entities = [r["entity"] for r in an["affected_resources"]]
    c.ok("pod/shop/web-7" in entities, "analyze affected_resources contains pod/shop/web-7", entities)
    c.ok(an["signal_groups"] and an["timeline"], "analyze depth 2 has signal_groups and a timeline")
    c.ok(an.get("signals") is None, "analyze depth 2 has no raw signals (depth 3 only)", short(an.get("signals")))

    # --- bad calls change nothing ---------------------------------------------------------------
    before = snapshot(await ok_call(c, session, "incident_list", {}))
    r = await call(session, "incident_get", {"id": "INC-000999"})
    c.ok(is_error(r), f"incident_get unknown id is an error ({how(r)})", short(r))
    c.ok("INC-000999" in error_text(r), "the error names the unknown id", error_text(r))
    r = await call(session, "incident_ack", {"id": "INC-000999"})
    c.ok(is_error(r), f"incident_ack unknown id is an error ({how(r)})", short(r))
    r = await call(session, "incident_detect", {"env": "dev", "threshold": 5})
    c.ok(is_error(r), f"incident_detect threshold=5 (schema: 0..1) is an error ({how(r)})", short(r))
    c.ok("threshold" in error_text(r), "the error names threshold", error_text(r))
    r = await call(session, "incident_resolve", {"id": NET_ID})
    c.ok(is_error(r), f"incident_resolve without the required note is an error ({how(r)})", short(r))
    r = await call(session, "incident_get", {"id": "not-an-id"})
    c.ok(is_error(r), f"incident_get with a malformed id is an error ({how(r)})", short(r))
    after = snapshot(await ok_call(c, session, "incident_list", {}))
    c.eq(after, before, "bad calls changed nothing (ids, statuses, signal counts, updated_at)")

    # --- ack -----------------------------------------------------------------------------------
    ack = await ok_call(c, session, "incident_ack", {"id": NET_ID, "note": "python-sdk client on it"})
    c.ok(ack["previous_status"] == "open" and ack["incident"]["status"] == "acknowledged" and ack["changed"] is True,
         "ack: open → acknowledged, changed", {k: ack[k] for k in ("previous_status", "changed", "message")})
    g = await ok_call(c, session, "incident_get", {"id": NET_ID})
    c.eq(g["incident"]["status"], "acknowledged", "incident_get shows acknowledged")
    ack2 = await ok_call(c, session, "incident_ack", {"id": NET_ID})
    c.ok(ack2["changed"] is False and ack2["incident"]["status"] == "acknowledged", "ack again is harmless (changed false)",
         {k: ack2[k] for k in ("previous_status", "changed", "message")})

    # --- resolve -------------------------------------------------------------------------------
    res = await ok_call(c, session, "incident_resolve", {"id": NET_ID, "note": "egress job misconfigured; rolled back"})
    c.ok(res["previous_status"] == "acknowledged" and res["incident"]["status"] == "resolved" and res["changed"] is True,
         "resolve: acknowledged → resolved, changed", {k: res[k] for k in ("previous_status", "changed", "message")})
    resolved = await ok_call(c, session, "incident_list", {"status": "resolved"})
    c.eq([i["id"] for i in resolved["incidents"]], [NET_ID], "incident_list status=resolved gives only INC-000001")
    still_open = await ok_call(c, session, "incident_list", {"status": "open"})
    c.eq([i["id"] for i in still_open["incidents"]], [AUTH_ID], "incident_list status=open gives only INC-000002")
    an3 = await ok_call(c, session, "incident_analyze", {"id": NET_ID, "depth": 2})
    c.ok(any("resolv" in json.dumps(e).lower() for e in an3["timeline"]), "the timeline records the resolution",
         short(an3["timeline"]))

    # --- resources -----------------------------------------------------------------------------
    with anyio.fail_after(CALL_TIMEOUT):
        rr = await session.read_resource("incident://incidents")
    body = json.loads(rr.contents[0].text)
    statuses = {i["id"]: i["status"] for i in body["incidents"]}
    c.eq(statuses, {NET_ID: "resolved", AUTH_ID: "open"}, "resource incident://incidents shows both with current status")
    with anyio.fail_after(CALL_TIMEOUT):
        one = await session.read_resource(f"incident://incidents/{AUTH_ID}")
    c.eq(json.loads(one.contents[0].text)["incident"]["title"], AUTH_TITLE, "resource incident://incidents/INC-000002 has its title")
    with anyio.fail_after(CALL_TIMEOUT):
        metrics = await session.read_resource("metrics://recent")
    c.ok(metrics.contents and json.loads(metrics.contents[0].text) is not None, "resource metrics://recent is JSON")
    with anyio.fail_after(CALL_TIMEOUT):
        templates = (await session.list_resource_templates()).resource_templates
    c.ok("incident://incidents/{id}" in [t.uri_template for t in templates], "resource template incident://incidents/{id} listed")
    with anyio.fail_after(CALL_TIMEOUT):
        try:
            bad = await session.read_resource("incident://incidents/INC-000999")
        except MCPError as e:
            bad = e
    c.ok(isinstance(bad, MCPError), "reading an unknown incident resource is a JSON-RPC error", short(bad))
    # Resource not found: -32002 up to 2025-11-25; -32602 (Invalid params) from 2026-07-28 (SEP-2164).
    want = -32002 if era == "legacy" else -32602
    c.eq(bad.error.code, want, f"its code is {want} for this protocol era")

    # --- prompts -------------------------------------------------------------------------------
    with anyio.fail_after(CALL_TIMEOUT):
        prompts = (await session.list_prompts()).prompts
    c.eq({p.name for p in prompts}, PROMPTS, "prompts/list has the three prompts")
    with anyio.fail_after(CALL_TIMEOUT):
        pr = await session.get_prompt("incident-triage", {"incident_id": AUTH_ID})
    text = "\n".join(getattr(m.content, "text", "") for m in pr.messages)
    c.ok(AUTH_TITLE in text and AUTH_ID in text, "incident-triage INC-000002 embeds the incident's id and title", short(text))
    with anyio.fail_after(CALL_TIMEOUT):
        pm = await session.get_prompt("incident-postmortem", {"incident_id": NET_ID, "audience": "executives"})
    text = "\n".join(getattr(m.content, "text", "") for m in pm.messages)
    c.ok("rolled back" in text, "incident-postmortem INC-000001 embeds the resolution note", short(text))
    with anyio.fail_after(CALL_TIMEOUT):
        try:
            badp = await session.get_prompt("incident-triage", {"incident_id": "INC-000999"})
        except MCPError as e:
            badp = e
    c.ok(isinstance(badp, MCPError), "incident-triage for an unknown id is a JSON-RPC error", short(badp))

    final = await ok_call(c, session, "incident_list", {})
    c.eq(final["count"], 2, "still exactly 2 incidents at the end")


async def expect_unauthorized(c: Checks, url: str, key: str | None, era: str) -> int:
    """Connecting to the HTTP endpoint with no key or a wrong key must fail promptly (the server
    answers 401, which the SDK surfaces as an error), never succeed or hang."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    outcome: BaseException | None = None
    try:
        with anyio.fail_after(CALL_TIMEOUT):
            async with (
                httpx2.AsyncClient(headers=headers, timeout=CALL_TIMEOUT) as http,
                streamable_http_client(url, http_client=http) as (read, write),
                ClientSession(read, write) as session,
            ):
                await (session.initialize() if era == "legacy" else session.discover())
    except BaseException as e:  # noqa: BLE001
        outcome = e
        while isinstance(outcome, BaseExceptionGroup) and outcome.exceptions:
            outcome = outcome.exceptions[0]
    try:
        c.ok(outcome is not None, "connecting is refused", "the handshake succeeded")
        c.ok(not isinstance(outcome, TimeoutError), "refused promptly, not a hang", outcome)
        c.ok(isinstance(outcome, (MCPError, httpx2.HTTPStatusError)), f"refused as an MCP/HTTP error ({type(outcome).__name__}: {outcome})",
             repr(outcome))
    except CheckFailed:
        return 1
    print(f"python-sdk {c.label}: {c.passed} checks passed", flush=True)
    return 0


def has_check_failed(e: BaseException) -> bool:
    """A failed check, possibly wrapped in (nested) exception groups by the SDK's task groups."""
    if isinstance(e, CheckFailed):
        return True
    return isinstance(e, BaseExceptionGroup) and any(has_check_failed(x) for x in e.exceptions)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("transport", choices=["stdio", "http"])
    ap.add_argument("--cmd", help="stdio: the server binary")
    ap.add_argument("--db", help="stdio: a fresh database file")
    ap.add_argument("--url", help="http: the /mcp endpoint")
    ap.add_argument("--api-key", help="http: the bearer key")
    ap.add_argument("--era", choices=["legacy", "modern"], default="legacy")
    ap.add_argument("--expect-unauthorized", action="store_true", help="http: connecting must be refused")
    a = ap.parse_args()

    c = Checks(f"{a.transport}/{a.era}" + ("/" + ("bad-key" if a.api_key else "no-key") if a.expect_unauthorized else ""))
    if a.expect_unauthorized:
        return await expect_unauthorized(c, a.url, a.api_key, a.era)
    try:
        async with AsyncExitStack() as stack:
            if a.transport == "stdio":
                if not (a.cmd and a.db):
                    ap.error("stdio needs --cmd and --db")
                params = StdioServerParameters(command=a.cmd, args=["--db", a.db, "serve"])
                read, write = await stack.enter_async_context(stdio_client(params))
            else:
                if not a.url:
                    ap.error("http needs --url")
                headers = {"Authorization": f"Bearer {a.api_key}"} if a.api_key else {}
                http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=CALL_TIMEOUT))
                read, write = await stack.enter_async_context(streamable_http_client(a.url, http_client=http))
            session = await stack.enter_async_context(ClientSession(read, write))
            await conversation(session, c, a.era)
    except BaseException as e:  # noqa: BLE001 - any crash (timeout, transport error) is a failure with a trace
        if has_check_failed(e):
            return 1
        print(f"FAIL [{c.label}] crashed after {c.passed} checks:", flush=True)
        traceback.print_exc()
        return 2
    print(f"python-sdk {c.label}: {c.passed} checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
