// A real OAuth 2.0 server for the gateway's OAuth tests: oidc-provider with dynamic client
// registration, PKCE, the device authorization grant, refresh tokens, introspection,
// revocation and the Matrix scopes. Test-only: the login and consent pages below are plain
// forms a scripted HTTP client fills in.
//
// A device scope (urn:matrix:client:device:<id>) names a device the client made up, so it cannot
// be listed in advance; oidc-provider drops scopes it does not know. The outer server below sees
// every request first and registers the device scopes it carries, then passes the request on to
// the provider on an inner port. The access token's scope then names the device, as with
// Matrix Authentication Service.
//
// Environment: PORT (0 = any free port), ACCESS_TTL (seconds, default 60), PROXY_CLIENT_SECRET
// (the secret of the confidential client "homeserver-proxy" that may introspect tokens).
// Prints "READY <issuer>" on stdout once listening.
import http from 'node:http';
import Provider from 'oidc-provider';
import instance from 'oidc-provider/lib/helpers/weak_cache.js';

const port = Number(process.env.PORT || 0);
const accessTTL = Number(process.env.ACCESS_TTL || 60);
const proxySecret = process.env.PROXY_CLIENT_SECRET || 'proxy-secret';
const deviceScope = /^urn:matrix:(client|org\.matrix\.msc2967\.client):device:([A-Za-z0-9._~-]+)$/;

const server = http.createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const page = (title, body) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'homeserver-proxy', client_secret: proxySecret, grant_types: [], response_types: [],
      redirect_uris: [], token_endpoint_auth_method: 'client_secret_post',
    }],
    scopes: ['openid', 'offline_access', 'urn:matrix:client:api:*', 'urn:matrix:org.matrix.msc2967.client:api:*'],
    responseTypes: ['code'],
    pkce: { required: () => true },
    cookies: { keys: ['test-only-cookie-key'] },
    ttl: { AccessToken: accessTTL, RefreshToken: 3600, DeviceCode: 600, Interaction: 600, Grant: 3600, Session: 3600, AuthorizationCode: 60 },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx, form) => { ctx.body = page('Enter the code', form + '<button type="submit" form="op.deviceInputForm">Continue</button>'); },
        userCodeConfirmSource: async (ctx, form) => { ctx.body = page('Confirm the device', form + '<button type="submit" form="op.deviceConfirmForm">Continue</button>'); },
        successSource: async (ctx) => { ctx.body = page('Device approved', '<p id="device-approved">The device is signed in.</p>'); },
      },
    },
  });
  provider.proxy = false;

  const readForm = (req) => new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => resolve(new URLSearchParams(data)));
    req.on('error', reject);
  });

  async function interaction(req, res) {
    const details = await provider.interactionDetails(req, res);
    const { uid, prompt, params, session } = details;
    if (req.method === 'GET') {
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      if (prompt.name === 'login') {
        res.end(page('Log in', `<form method="post" action="/interaction/${uid}"><input name="login" value=""><button type="submit">Log in</button></form>`));
      } else {
        res.end(page('Approve', `<p>Scopes: ${params.scope}</p><form method="post" action="/interaction/${uid}"><input type="hidden" name="approve" value="yes"><button type="submit">Approve</button></form>`));
      }
      return;
    }
    const form = await readForm(req);
    if (prompt.name === 'login') {
      const login = form.get('login');
      if (!login) {
        res.statusCode = 400;
        res.end('login required');
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
      return;
    }
    if (form.get('approve') !== 'yes') {
      await provider.interactionFinished(req, res, { error: 'access_denied' }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    grant.addOIDCScope(params.scope);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  const statics = instance(provider).configuration.scopes;
  const learnScopes = (scope) => {
    for (const s of String(scope || '').split(' ')) {
      if (deviceScope.test(s)) statics.add(s);
    }
  };

  const inner = http.createServer(provider.callback());
  inner.listen(0, '127.0.0.1', () => {
    server.on('request', (req, res) => {
      if (req.url.startsWith('/interaction/')) {
        interaction(req, res).catch((err) => {
          res.statusCode = 500;
          res.end(String(err));
        });
        return;
      }
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        learnScopes(new URL(req.url, issuer).searchParams.get('scope'));
        if (String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
          learnScopes(new URLSearchParams(body.toString()).get('scope'));
        }
        const fwd = http.request({
          host: '127.0.0.1', port: inner.address().port, method: req.method, path: req.url, headers: req.headers,
        }, (up) => {
          res.writeHead(up.statusCode, up.headers);
          up.pipe(res);
        });
        fwd.on('error', (err) => {
          res.statusCode = 502;
          res.end(String(err));
        });
        fwd.end(body);
      });
    });
    console.log(`READY ${issuer}`);
  });
});
