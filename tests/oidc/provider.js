// A local OpenID Connect provider shaped like Pro Santé Connect, for the tests only.
//
// It is the certified `oidc-provider` package, configured as PSC answers its clients:
// authorization code flow, PKCE required (S256), scopes `openid scope_all`, the
// `acr_values=eidas1` level echoed in the ID token, and the national identifier of the
// professional ("8" + RPPS) in `preferred_username` (ID token) and `SubjectNameID`
// (userinfo). Its login page stands in for the e-CPS app: the professional types the
// national identifier the test wants PSC to vouch for.
//
// Usage: node provider.js CONFIG.json  (port, client_id, client_secret, redirect_uris);
// it prints "listening <issuer>" once it answers.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
// The browser journeys run the app at a fixed instant that then ticks (tests/browser/
// clock.py); the provider's tokens must be issued on the same clock.
if (config.now) {
  const RealDate = Date;
  const offset = RealDate.parse(config.now) - RealDate.now();
  globalThis.Date = class extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + offset);
      else super(...args);
    }

    static now() { return RealDate.now() + offset; }
  };
}
const issuer = `http://127.0.0.1:${config.port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'test' };

const claimsOf = (nationalId) => ({
  sub: nationalId,
  preferred_username: nationalId,
  SubjectNameID: nationalId,
  given_name: 'Claire',
  family_name: 'Martin',
});

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: config.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  acrValues: ['eidas1'],
  scopes: ['openid', 'scope_all'],
  claims: {
    openid: ['sub'],
    scope_all: ['preferred_username', 'SubjectNameID', 'given_name', 'family_name'],
    acr: null,
    auth_time: null,
  },
  // PSC puts the identity in the ID token too; clients need not call userinfo.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => claimsOf(id) }),
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>Erreur</title><h1>Erreur</h1><p id="error">${out.error}</p>`;
  },
});

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

// The login page: a national identifier, then the provider's own consent-free grant.
provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === 'GET' && !match[2]) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>Pro Santé Connect (test)</title></head><body>
<h1>Pro Santé Connect (fournisseur de test)</h1>
<form method="post" action="/interaction/${escape(details.uid)}/login">
<label for="login">Identifiant national</label>
<input id="login" name="login" autocomplete="off" required>
<button type="submit">Valider avec e-CPS</button>
</form></body></html>`;
    return undefined;
  }
  if (ctx.method === 'POST' && match[2]) {
    const login = ((await readForm(ctx.req)).get('login') || '').trim();
    const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    await provider.interactionFinished(ctx.req, ctx.res, {
      login: { accountId: login, acr: 'eidas1', amr: ['mfa'] },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
    ctx.respond = false;
    return undefined;
  }
  return next();
});

provider.listen(config.port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
