// Peer server for bench/mcp_load.sh: the official TypeScript MCP SDK (npm
// @modelcontextprotocol/sdk) serving the same two tools as incident-mcp (`incident_get`,
// `incident_list`) from the same SQLite database (node:sqlite, Node >= 22), streamable HTTP with
// sessions and JSON answers (enableJsonResponse), on express with express.json(): the SDK's
// documented server setup, and the one issue 12 measured ("TypeScript SDK 1.32 + express").
//
// Usage: node server.mjs DB_PATH PORT
import express from 'express';
import { randomUUID } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const [db, port] = [process.argv[2], Number(process.argv[3])];
const sql = new DatabaseSync(db, { readOnly: true });
const getIncident = sql.prepare('SELECT * FROM incidents WHERE id = ?');
const getSignals = sql.prepare('SELECT * FROM signals WHERE incident_id = ? ORDER BY id DESC LIMIT 10');
const listIncidents = sql.prepare('SELECT * FROM incidents ORDER BY updated_at DESC, id DESC LIMIT ?');

function makeServer() {
  const server = new McpServer({ name: 'peer-typescript', version: '1' });
  server.registerTool('incident_get', { description: 'One incident with its 10 latest signals.', inputSchema: { id: z.string() } },
    async ({ id }) => {
      const num = Number(id.replace(/^INC-/, ''));
      const row = getIncident.get(num);
      if (!row) return { isError: true, content: [{ type: 'text', text: `incident ${id} not found` }] };
      return { content: [{ type: 'text', text: JSON.stringify({ incident: row, signals: getSignals.all(num) }) }] };
    });
  server.registerTool('incident_list', { description: 'The most recently active incidents, newest first.', inputSchema: { limit: z.number().int().optional() } },
    async ({ limit }) => {
      const rows = listIncidents.all(Math.min(limit ?? 20, 200));
      return { content: [{ type: 'text', text: JSON.stringify({ incidents: rows, count: rows.length }) }] };
    });
  return server;
}

const transports = new Map();
const app = express();
app.use(express.json({ limit: '4mb' }));
app.all('/mcp', async (req, res) => {
  const sid = req.headers['mcp-session-id'];
  let transport = sid ? transports.get(sid) : undefined;
  if (!transport && req.method === 'POST' && isInitializeRequest(req.body)) {
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: true,
      onsessioninitialized: (id) => transports.set(id, transport),
    });
    transport.onclose = () => { if (transport.sessionId) transports.delete(transport.sessionId); };
    await makeServer().connect(transport);
  }
  if (!transport) { res.status(400).end(); return; }
  await transport.handleRequest(req, res, req.body);
});
app.listen(port, '127.0.0.1');
