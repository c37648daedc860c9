#!/usr/bin/env python3
"""Peer server for bench/mcp_load.sh: the official Python MCP SDK (PyPI `mcp`) serving the same
two tools as incident-mcp (`incident_get`, `incident_list`) from the same SQLite database,
streamable HTTP with sessions and JSON answers (json_response=True), on uvicorn.

Usage: server.py DB_PATH PORT
"""

import json
import sqlite3
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

DB, PORT = sys.argv[1], int(sys.argv[2])
conn = sqlite3.connect(f"file:{DB}?mode=ro", uri=True, check_same_thread=False)
conn.row_factory = sqlite3.Row

server = MCPServer("peer-python")


@server.tool()
def incident_get(id: str) -> str:
    """One incident with its 10 latest signals."""
    num = int(id.removeprefix("INC-"))
    row = conn.execute("SELECT * FROM incidents WHERE id = ?", (num,)).fetchone()
    if row is None:
        raise ValueError(f"incident {id} not found")
    signals = conn.execute(
        "SELECT * FROM signals WHERE incident_id = ? ORDER BY id DESC LIMIT 10", (num,)
    ).fetchall()
    return json.dumps({"incident": dict(row), "signals": [dict(s) for s in signals]})


@server.tool()
def incident_list(limit: int = 20) -> str:
    """The most recently active incidents, newest first."""
    rows = conn.execute(
        "SELECT * FROM incidents ORDER BY updated_at DESC, id DESC LIMIT ?", (min(limit, 200),)
    ).fetchall()
    return json.dumps({"incidents": [dict(r) for r in rows], "count": len(rows)})


app = server.streamable_http_app(json_response=True)
uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning")
