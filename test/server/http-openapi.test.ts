// The API's self-description and the real server on a loopback port: /openapi.json lists
// every route of the contract (docs/dev/http-routes.md), /docs serves offline, the JWKS
// verifies warrants, and an end-to-end run over `fetch`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { verifyWarrantOffline } from '../../src/broker/index.js';
import { renderApiDocs } from '../../scripts/api-docs.js';
import { loadAllErrorCodes } from '../../scripts/error-docs.js';
import { ACCOUNT_ON_FILE, startHttpFixture, type HttpFixture } from './http-helpers.js';

/** `[method, openapi path]` of every row of the route table, WebSocket routes excepted (OpenAPI 3 cannot describe them). */
function contractRoutes(): Array<[string, string]> {
  const table = readFileSync(new URL('../../docs/dev/http-routes.md', import.meta.url), 'utf8');
  const routes: Array<[string, string]> = [];
  for (const line of table.split('\n')) {
    const m = /^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*([^|]+?)\s*\|\s*([^|]*)\|/.exec(line);
    if (m === null) continue;
    if (/WebSocket/i.test(m[3] ?? '')) continue;
    for (const path of (m[2] as string).split(',').map((p) => p.trim())) {
      routes.push([(m[1] as string).toLowerCase(), path.replace(/:([A-Za-z]+)/g, '{$1}')]);
    }
  }
  return routes;
}

describe('HTTP API: OpenAPI, docs, JWKS and the real server', () => {
  let fx: HttpFixture;
  before(async () => {
    fx = await startHttpFixture();
  });
  after(async () => fx?.close());

  test('/openapi.json lists every route of the contract, with the bearer scheme on /v1 routes', async () => {
    const res = await fx.server.inject({ url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    const spec = res.json();
    assert.match(spec.openapi, /^3\./);
    assert.deepEqual(spec.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', description: spec.components.securitySchemes.bearer.description });
    const routes = contractRoutes();
    assert.ok(routes.length >= 28, `parsed ${routes.length} routes from the table`);
    for (const [method, path] of routes) {
      const op = spec.paths[path]?.[method];
      assert.ok(op, `${method.toUpperCase()} ${path} is in /openapi.json`);
      if (path.startsWith('/v1/') && path !== '/v1/events') assert.deepEqual(op.security, [{ bearer: [] }], `${method} ${path} needs a key`);
    }
    for (const path of ['/health', '/version', '/.well-known/jwks.json']) assert.ok(spec.paths[path]?.get, path);
    // Request bodies are described from the zod schemas, strict (no extra fields).
    const propose = spec.paths['/v1/proposals'].post.requestBody.content['application/json'].schema;
    assert.deepEqual(Object.keys(propose.properties).sort(), ['action', 'basis', 'idempotencyKey', 'params', 'rationale', 'sessionId', 'targetId', 'targetType']);
    assert.equal(propose.additionalProperties, false);
  });

  test('docs/api.md is in step with /openapi.json (run `npm run docs:api`)', async () => {
    const spec = (await fx.server.inject({ url: '/openapi.json' })).json();
    const expected = renderApiDocs(spec, await loadAllErrorCodes());
    assert.equal(readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8'), expected);
    assert.match(expected, /### POST \/v1\/proposals\n/);
  });

  test('/docs answers HTML whose assets are served locally, without a CDN', async () => {
    const page = await fx.server.inject({ url: '/docs/' });
    const html = page.statusCode === 302 ? await fx.server.inject({ url: String(page.headers.location) }) : page;
    assert.equal(html.statusCode, 200);
    assert.match(String(html.headers['content-type']), /text\/html/);
    assert.doesNotMatch(html.body, /https?:\/\/(?!localhost)[a-z0-9.-]+\/[^"']*\.(js|css)/i, 'no remote script or style');
    const bundle = await fx.server.inject({ url: '/docs/static/swagger-ui-bundle.js' });
    assert.equal(bundle.statusCode, 200);
    assert.ok(bundle.body.length > 100_000);
    const bare = await fx.server.inject({ url: '/docs' });
    assert.ok([200, 302].includes(bare.statusCode));
  });

  test('/.well-known/jwks.json is public, cacheable, and verifies an issued warrant offline', async () => {
    const jwks = await fx.server.inject({ url: '/.well-known/jwks.json' });
    assert.equal(jwks.statusCode, 200);
    assert.match(String(jwks.headers['cache-control']), /max-age=\d+/);
    assert.equal(jwks.json().keys[0].kty, 'OKP');
    assert.equal(jwks.json().keys[0].crv, 'Ed25519');

    const session = (await fx.call('desk-agent', 'POST', '/v1/sessions', {})).json().id;
    const bundle = (await fx.call('desk-agent', 'POST', '/v1/retrieve', { query: 'teapot', k: 2, sessionId: session })).json().bundleId;
    const p = await fx.call('desk-agent', 'POST', '/v1/proposals', {
      sessionId: session,
      action: 'refund.request',
      targetId: 'rf-jwks',
      params: { amountCents: 200, orderId: 'ord-1001', recipientAccount: ACCOUNT_ON_FILE },
      basis: [bundle],
    });
    const { token } = (await fx.call('desk-agent', 'POST', `/v1/proposals/${p.json().proposal.id}/warrant`)).json();
    const payload = verifyWarrantOffline(token, jwks.json());
    assert.equal(payload.targetId, 'rf-jwks');
  });

  test('the real server on a loopback port runs retrieve → propose → warrant → execute over fetch', async () => {
    await fx.server.listen({ host: '127.0.0.1', port: 0 });
    const address = fx.server.server.address();
    assert.ok(address !== null && typeof address === 'object');
    const base = `http://127.0.0.1:${address.port}`;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${fx.key('desk-agent')}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, requestId: res.headers.get('x-request-id'), json: (await res.json()) as Record<string, any> };
    };

    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 200);
    const healthBody = (await health.json()) as { status: string; parts: { lexical: { status: string; lists: number; served: number; fellBack: number } } };
    assert.equal(healthBody.status, 'ok');
    assert.equal(healthBody.parts.lexical.status, 'ok');
    assert.equal((await fetch(`${base}/v1/catalog`)).status, 401);

    const session = await call('POST', '/v1/sessions', {});
    assert.equal(session.status, 201);
    const retrieved = await call('POST', '/v1/retrieve', { query: 'ord-1001 cracked teapot', k: 3, sessionId: session.json.id });
    assert.equal(retrieved.status, 200);
    assert.match(String(retrieved.requestId), /^req_/);
    // Its words' score lists were read on the way (inline: the sample's lists are short) and ranked it.
    const lexical = ((await (await fetch(`${base}/health`)).json()) as { parts: { lexical: { lists: number; served: number; fellBack: number } } }).parts.lexical;
    assert.ok(lexical.lists >= 2 && lexical.served > healthBody.parts.lexical.served && lexical.fellBack === 0, JSON.stringify({ before: healthBody.parts.lexical, after: lexical }));
    const proposed = await call('POST', '/v1/proposals', {
      sessionId: session.json.id,
      action: 'refund.request',
      targetId: 'rf-loopback',
      params: { amountCents: 4200, orderId: 'ord-1001', recipientAccount: ACCOUNT_ON_FILE },
      basis: [retrieved.json.bundleId],
    });
    assert.equal(proposed.status, 201);
    assert.equal(proposed.json.decision.outcome, 'allow');
    const warrant = await call('POST', `/v1/proposals/${proposed.json.proposal.id}/warrant`);
    assert.equal(warrant.status, 201);
    const executed = await call('POST', '/v1/transitions', { warrant: warrant.json.token });
    assert.equal(executed.status, 200);
    assert.equal(executed.json.resource.state, 'requested');
    const resource = await call('GET', '/v1/resources/Refund/rf-loopback');
    assert.equal(resource.json.version, executed.json.resource.version);

    const entries = fx.app.ledger.entriesAbout(executed.json.transition.id);
    assert.equal(entries[0]?.kind, 'transition.executed');
    assert.match(String(entries[0]?.requestId), /^req_/);
  });
});
