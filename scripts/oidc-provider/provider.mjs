// A real OpenID Connect provider for the end-to-end tests: panva's certified `oidc-provider`
// (pinned and installed by scripts/test into RAPPORT_TOOLS_DIR), one confidential client,
// authorization code flow with PKCE (S256), RS256 ID tokens, any login name accepted.
// Development only: plain http on 127.0.0.1, in-memory sessions, no passwords.
//
//   node scripts/oidc-provider/provider.mjs
//
// Environment:
//   OIDC_PROVIDER_MODULES   the node_modules directory oidc-provider is installed in (required)
//   OIDC_PORT               listens on 127.0.0.1:PORT, the issuer is http://127.0.0.1:PORT
//                           (required)
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI
//                           the one client (required)
//   OIDC_KEYS_FILE          a private JWKS {"keys": [...]}, read at start; made with one new RSA key
//                           when missing (required)
//   OIDC_ROTATE             1: a new key first (it signs), the old ones kept after it (still
//                           published); replace: a new key only. The file is written back.
//   OIDC_CLIENT_AUTH_METHOD the client's registered token endpoint auth method (default
//                           client_secret_basic; oidc-provider accepts client_secret_post for it
//                           too, and the other way round)
//   OIDC_PKCE               required (default: an authorization request without an S256
//                           code_challenge is refused) or optional
//   OIDC_CLOCK_OFFSET_SECONDS  shifts the provider's clock (iat, exp, auth_time) by this much
//
// Prints `listening <issuer>` on stdout once it accepts connections, and nothing else there
// (diagnostics go to stderr). Exits 0 on SIGTERM or SIGINT.
//
// Accounts: any login name signs in, as typed. Claims: sub = the login; email = the login when it
// holds an @, else <login>@example.test; email_verified = true unless the login starts with
// "unverified"; name = the part before the @, capitalised. With conformIdTokenClaims off, the
// claims of the granted scopes (openid email profile) are in the ID token too.
//
// The pages (no scripts, no outside resources): GET /interaction/:uid shows the login form
// (POST /interaction/:uid/login, field `login`) or the consent form (POST
// /interaction/:uid/confirm); /interaction/:uid/abort cancels (access_denied to the client).

import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

function fail(message) {
  process.stderr.write(`provider.mjs: ${message}\n`);
  process.exit(1);
}

function required(name) {
  const value = process.env[name];
  if (!value) fail(`${name} is not set`);
  return value;
}

const modules = required('OIDC_PROVIDER_MODULES');
const port = Number(required('OIDC_PORT'));
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  fail(`OIDC_PORT is not a port: ${process.env.OIDC_PORT}`);
}
const clientId = required('OIDC_CLIENT_ID');
const clientSecret = required('OIDC_CLIENT_SECRET');
const redirectUri = required('OIDC_REDIRECT_URI');
const keysFile = required('OIDC_KEYS_FILE');
const rotate = process.env.OIDC_ROTATE ?? '';
const authMethod = process.env.OIDC_CLIENT_AUTH_METHOD || 'client_secret_basic';
const pkce = process.env.OIDC_PKCE || 'required';
if (!['required', 'optional'].includes(pkce)) {
  fail(`OIDC_PKCE must be required or optional, not ${pkce}`);
}
const issuer = `http://127.0.0.1:${port}`;

const clockOffset = Number(process.env.OIDC_CLOCK_OFFSET_SECONDS || 0);
if (!Number.isFinite(clockOffset)) fail('OIDC_CLOCK_OFFSET_SECONDS is not a number');
if (clockOffset !== 0) {
  const realNow = Date.now;
  Date.now = () => realNow() + clockOffset * 1000;
}

// ESM ignores NODE_PATH: resolve the package inside the given node_modules, import it by file URL.
let Provider;
try {
  const require = createRequire(join(modules, '..', 'noop.js'));
  ({ default: Provider } = await import(pathToFileURL(require.resolve('oidc-provider')).href));
} catch (error) {
  fail(`cannot load oidc-provider from ${modules} (scripts/test installs it): ${error.message}`);
}

// --- signing keys ---------------------------------------------------------------------------

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  // The RFC 7638 thumbprint as kid.
  const kid = createHash('sha256')
    .update(JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n }))
    .digest('base64url');
  return { kid, alg: 'RS256', use: 'sig', ...jwk };
}

let keys = [];
if (existsSync(keysFile)) {
  try {
    keys = JSON.parse(readFileSync(keysFile, 'utf8')).keys;
  } catch (error) {
    fail(`cannot read the keys in ${keysFile}: ${error.message}`);
  }
  if (!Array.isArray(keys)) fail(`${keysFile} holds no "keys" array`);
}
let changed = false;
if (keys.length === 0) {
  keys = [newKey()];
  changed = true;
} else if (['1', 'true', 'yes', 'prepend', 'keep'].includes(rotate)) {
  keys = [newKey(), ...keys];
  changed = true;
} else if (rotate === 'replace') {
  keys = [newKey()];
  changed = true;
} else if (!['', '0', 'false', 'no'].includes(rotate)) {
  fail(`OIDC_ROTATE must be 1 or replace, not ${rotate}`);
}
if (changed) {
  writeFileSync(`${keysFile}.tmp`, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${keysFile}.tmp`, keysFile);
}

// --- accounts -------------------------------------------------------------------------------

function claimsOf(login) {
  const email = login.includes('@') ? login : `${login}@example.test`;
  const local = email.slice(0, email.indexOf('@'));
  return {
    sub: login,
    email,
    email_verified: !login.startsWith('unverified'),
    name: local.charAt(0).toUpperCase() + local.slice(1),
  };
}

async function findAccount(_ctx, id) {
  if (typeof id !== 'string' || id === '') return undefined;
  return {
    accountId: id,
    async claims() {
      return claimsOf(id);
    },
  };
}

// --- the provider ---------------------------------------------------------------------------

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: authMethod,
      id_token_signed_response_alg: 'RS256',
    },
  ],
  jwks: { keys },
  findAccount,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // The scope's claims in the ID token as well as at the userinfo endpoint.
  conformIdTokenClaims: false,
  pkce: { required: () => pkce === 'required' },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: {
    // Signed cookies; lax, not none (browsers drop SameSite=None cookies that are not Secure,
    // and this is plain http).
    keys: ['rapport-test-oidc-provider-cookies'],
    long: { httpOnly: true, sameSite: 'lax', signed: true },
    short: { httpOnly: true, sameSite: 'lax', signed: true },
  },
});

for (const event of [
  'server_error',
  'authorization.error',
  'grant.error',
  'userinfo.error',
  'end_session.error',
  'jwks.error',
  'discovery.error',
]) {
  provider.on(event, (_ctx, error) => {
    const description = error.error_description ? ` (${error.error_description})` : '';
    process.stderr.write(`oidc-provider ${event}: ${error.name}: ${error.message}${description}\n`);
  });
}

// --- the interaction pages ------------------------------------------------------------------

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

function page(res, status, title, body) {
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} – test OpenID provider</title>
<style>body{font-family:sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}
label,input,button{display:block;margin:.5rem 0;font-size:1rem}input{width:100%;padding:.4rem}
button{padding:.5rem 1rem}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`;
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
  });
  res.end(html);
}

function loginPage(res, uid, details, error) {
  const hint = details.params.login_hint;
  page(res, error ? 400 : 200, 'Sign in', `<p>Any login name signs in.</p>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<input type="hidden" name="prompt" value="login">
<label for="login">Login</label>
<input id="login" name="login" type="text" autocomplete="username" required autofocus${hint ? ` value="${escapeHtml(hint)}"` : ''}>
<button id="submit" type="submit">Sign in</button>
</form>
<p><a href="/interaction/${escapeHtml(uid)}/abort">Cancel</a></p>`);
}

function consentPage(res, uid, details) {
  const scopes = (details.prompt.details.missingOIDCScope || []).filter((s) => s !== 'openid');
  const claims = (details.prompt.details.missingOIDCClaims || [])
    .filter((c) => !['sub', 'sid', 'auth_time', 'acr', 'amr', 'iss'].includes(c));
  const list = [...scopes.map((s) => `scope ${s}`), ...claims.map((c) => `claim ${c}`)];
  page(res, 200, 'Allow access', `<p>Signed in as <strong>${escapeHtml(details.session?.accountId ?? '')}</strong>.
The client <strong>${escapeHtml(details.params.client_id)}</strong> asks for:</p>
<ul>${list.length ? list.map((i) => `<li>${escapeHtml(i)}</li>`).join('') : '<li>what you allowed before</li>'}</ul>
<form method="post" action="/interaction/${escapeHtml(uid)}/confirm">
<input type="hidden" name="prompt" value="consent">
<button id="submit" type="submit">Allow</button>
</form>
<p><a href="/interaction/${escapeHtml(uid)}/abort">Cancel</a></p>`);
}

async function formBody(req) {
  let body = '';
  req.setEncoding('utf8');
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 * 1024) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    page(res, 400, 'Wrong interaction', '<p>This page belongs to another sign-in. Start again.</p>');
    return;
  }
  const prompt = details.prompt.name;
  if (action === undefined && req.method === 'GET') {
    if (prompt === 'login') loginPage(res, uid, details);
    else if (prompt === 'consent') consentPage(res, uid, details);
    else page(res, 501, 'Not implemented', `<p>Prompt ${escapeHtml(prompt)}.</p>`);
    return;
  }
  if (action === 'abort' && req.method === 'GET') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (action === 'login' && req.method === 'POST' && prompt === 'login') {
    const login = (await formBody(req)).get('login') ?? '';
    if (login === '') {
      loginPage(res, uid, details, 'Enter a login name.');
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  if (action === 'confirm' && req.method === 'POST' && prompt === 'consent') {
    await formBody(req);
    const { grantId, session, params } = details;
    const missing = details.prompt.details;
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, {
      mergeWithLastSubmission: true,
    });
    return;
  }
  page(res, 400, 'Unexpected request', `<p>${escapeHtml(req.method)} ${escapeHtml(action ?? '')} while the prompt is ${escapeHtml(prompt)}.</p>`);
}

const callback = provider.callback();
const server = createServer((req, res) => {
  const { pathname } = new URL(req.url, issuer);
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/.exec(pathname);
  if (!match) {
    callback(req, res);
    return;
  }
  interaction(req, res, match[1], match[2]).catch((error) => {
    process.stderr.write(`interaction ${pathname}: ${error.name}: ${error.message}\n`);
    if (!res.headersSent) {
      page(res, error.statusCode ?? 500, 'Sign-in failed', `<p>${escapeHtml(error.error_description ?? error.message)}</p>`);
    } else {
      res.end();
    }
  });
});

// Nothing to flush (every session and grant is in memory): stopping is exiting.
function stop() {
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// Restarted on the same port (key rotation), the old process's socket may linger a moment.
function listen(attempt) {
  const onError = (error) => {
    if (error.code === 'EADDRINUSE' && attempt < 50) {
      setTimeout(() => listen(attempt + 1), 100);
    } else {
      fail(`cannot listen on 127.0.0.1:${port}: ${error.message}`);
    }
  };
  server.once('error', onError);
  server.listen(port, '127.0.0.1', () => {
    server.off('error', onError);
    process.stdout.write(`listening ${issuer}\n`);
  });
}
listen(0);
