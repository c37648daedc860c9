// The real OpenID Provider of the OAuth tests: panva's oidc-provider (OpenID Certified), installed
// by tests/oauth/install.sh and started by tests/oauth_support.rs. It listens on 127.0.0.1 (port 0
// picks a free one), its issuer is http://127.0.0.1:PORT, and it prints
// `oidc-provider listening address=127.0.0.1:PORT` once it serves.
//
// What it issues:
// - JWT access tokens (RFC 9068, `typ: at+jwt`) for the resource indicators given with
//   --resource (RFC 8707), through the client credentials grant, to these clients (secret in
//   $AGENT_CLIENT_SECRET):
//     mcp-agent             RS256 tokens
//     mcp-agent-es          ES256 tokens
//     mcp-agent-backdated   tokens issued and expired two hours ago (the JWT customizer moves
//                           iat and exp back: an expired token signed with the provider's key)
//     mcp-agent-early       tokens not valid before an hour from now (nbf)
// - ID tokens (ES256) to the approval page's client `approvals` (authorization code with PKCE,
//   secret in $APPROVALS_CLIENT_SECRET, redirect URI --redirect-uri), after its own login form
//   (the provider's development interactions: any login name, any password) and consent page.
//   The account signed in as `NAME` has the claims `--accounts` gives it (JSON, by name), else
//   sub NAME, email NAME@example.test, email_verified true.
//
// Keys: RSA and EC signing keys, read from --keys FILE, or generated and written there when the
// file does not exist (a restart with another file rotates the keys).
//
// Usage: node provider.mjs --port 0 --resource URL [--resource URL...] --redirect-uri URL
//                          --keys FILE [--accounts JSON]

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    resource: { type: 'string', multiple: true, default: [] },
    'redirect-uri': { type: 'string', multiple: true, default: [] },
    keys: { type: 'string' },
    accounts: { type: 'string', default: '{}' },
  },
});

const INCIDENT_SCOPES = 'incidents:read incidents:respond incidents:notify';
const agentSecret = process.env.AGENT_CLIENT_SECRET;
const approvalsSecret = process.env.APPROVALS_CLIENT_SECRET;
if (!agentSecret || !approvalsSecret || !args.keys || args.resource.length === 0) {
  console.error('provider.mjs: set AGENT_CLIENT_SECRET and APPROVALS_CLIENT_SECRET, and give --keys and --resource');
  process.exit(2);
}
const accounts = JSON.parse(args.accounts);

async function signingKeys(file) {
  if (existsSync(file)) {
    return JSON.parse(readFileSync(file, 'utf8'));
  }
  const tag = randomBytes(6).toString('hex');
  const keys = [];
  for (const [alg, kid] of [['RS256', `rsa-${tag}`], ['ES256', `ec-${tag}`]]) {
    const { privateKey } = await generateKeyPair(alg, { extractable: true });
    keys.push({ ...(await exportJWK(privateKey)), kid, alg, use: 'sig' });
  }
  const jwks = { keys };
  writeFileSync(file, JSON.stringify(jwks), { mode: 0o600 });
  return jwks;
}

const jwks = await signingKeys(args.keys);
const server = http.createServer();
await new Promise((resolve) => server.listen(Number(args.port), '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const agent = (clientId) => ({
  client_id: clientId,
  client_secret: agentSecret,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
  scope: INCIDENT_SCOPES,
});

const now = () => Math.floor(Date.now() / 1000);

const provider = new Provider(issuer, {
  clients: [
    agent('mcp-agent'),
    agent('mcp-agent-es'),
    agent('mcp-agent-backdated'),
    agent('mcp-agent-early'),
    {
      client_id: 'approvals',
      client_secret: approvalsSecret,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: args['redirect-uri'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks,
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'email', ...INCIDENT_SCOPES.split(' ')],
  pkce: { required: () => true },
  ttl: { AccessToken: 600, ClientCredentials: 600, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
  async findAccount(ctx, id) {
    const claims = accounts[id] ?? { email: `${id}@example.test`, email_verified: true };
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // The approval page asks for no resource: its tokens are for the userinfo endpoint only.
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, indicator, client) {
        if (!args.resource.includes(indicator)) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: INCIDENT_SCOPES,
          audience: indicator,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: client.clientId === 'mcp-agent-es' ? 'ES256' : 'RS256' } },
        };
      },
    },
  },
  formats: {
    customizers: {
      jwt(ctx, token, jwt) {
        if (token.clientId === 'mcp-agent-backdated') {
          jwt.payload.iat -= 7200;
          jwt.payload.exp -= 7200;
        } else if (token.clientId === 'mcp-agent-early') {
          jwt.payload.nbf = now() + 3600;
        }
      },
    },
  },
});

server.on('request', provider.callback());
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
console.log(`oidc-provider listening address=127.0.0.1:${port} issuer=${issuer}`);
