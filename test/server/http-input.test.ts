// Input the HTTP layer must refuse in Writ's own shape (a code, a message, a request id),
// before anything is written: URLs the router cannot take, bodies that are not JSON, text
// that is not well-formed Unicode, and bounds asked beyond their maximum.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHttpFixture, type HttpFixture } from './http-helpers.js';

describe('HTTP: input refused at the boundary', () => {
  let fx: HttpFixture;
  before(async () => {
    fx = await startHttpFixture();
  });
  after(async () => fx?.close());

  const count = (table: string): number => (fx.app.store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  const assertWritShape = (res: { json(): Record<string, unknown>; headers: Record<string, unknown> }): void => {
    const body = res.json();
    assert.equal(typeof body.code, 'string');
    assert.equal(typeof body.message, 'string');
    assert.match(String(body.requestId), /^req_/);
    assert.equal(res.headers['x-request-id'], body.requestId);
  };

  test('an id of up to 200 characters reaches its route; a longer path segment and a bad percent-encoding are typed', async () => {
    const long = `prp_${'x'.repeat(150)}`;
    const missing = await fx.call('sam', 'GET', `/v1/proposals/${long}`);
    assert.equal(missing.statusCode, 404, missing.body);
    assert.notEqual(missing.json().code, 'FST_ERR_MAX_PARAM_LENGTH');
    assertWritShape(missing);

    const resource = await fx.call('sam', 'GET', `/v1/resources/Refund/${'r'.repeat(180)}`);
    assert.equal(resource.statusCode, 404, resource.body);
    assertWritShape(resource);

    const huge = await fx.call('sam', 'GET', `/v1/proposals/${'x'.repeat(2000)}`);
    assert.equal(huge.statusCode, 400, huge.body);
    assert.equal(huge.json().code, 'INVALID_INPUT');
    assertWritShape(huge);

    const bad = await fx.call('sam', 'GET', '/v1/proposals/%E0%A4%A');
    assert.equal(bad.statusCode, 400, bad.body);
    assert.equal(bad.json().code, 'INVALID_INPUT');
    assertWritShape(bad);
  });

  test('a plain-text body is refused as an unsupported content type', async () => {
    const res = await fx.server.inject({
      method: 'POST',
      url: '/v1/retrieve',
      headers: { ...fx.auth('sam'), 'content-type': 'text/plain' },
      payload: 'refund policy',
    });
    assert.equal(res.statusCode, 415, res.body);
    assert.equal(res.json().code, 'SERVER_UNSUPPORTED_MEDIA_TYPE');
  });

  test('a lone surrogate anywhere in a body is refused with its path, and nothing is written', async () => {
    const [documents, proposals, entries] = [count('documents'), count('proposals'), count('ledger_entries')];
    const ingest = await fx.call('fatima', 'POST', '/v1/documents', {
      documents: [{ sourceUri: 'kb://bad-\ud800-uri', title: 'Bad', text: 'Fine text.', readers: ['group:support'] }],
    });
    assert.equal(ingest.statusCode, 400, ingest.body);
    assert.equal(ingest.json().code, 'INVALID_INPUT');
    assert.equal(ingest.json().details.issues[0].path, 'documents.0.sourceUri');
    assert.match(ingest.json().message, /lone surrogate \(\\ud800\) at character 9/);

    const session = await fx.call('desk-agent', 'POST', '/v1/sessions', {});
    const proposal = await fx.call('desk-agent', 'POST', '/v1/proposals', {
      sessionId: session.json().id,
      action: 'refund.request',
      targetId: 'rf-surrogate',
      params: { amountCents: 100, currency: 'EUR', orderId: 'ord-1001', recipientAccount: 'DE89370400440532014471' },
      idempotencyKey: 'key-\udc00',
    });
    assert.equal(proposal.statusCode, 400, proposal.body);
    assert.equal(proposal.json().details.issues[0].path, 'idempotencyKey');
    // A key of the body itself is checked too.
    const key = await fx.call('sam', 'POST', '/v1/retrieve', { query: 'refunds', k: 1, filters: { ['\ud83d']: 1 } });
    assert.equal(key.statusCode, 400, key.body);
    assert.equal(key.json().details.issues[0].path, 'filters.\ud83d');
    assert.deepEqual([count('documents'), count('proposals'), count('ledger_entries') - 1], [documents, proposals, entries], 'only the session was recorded');
    // A deep path is cut in the message, whole in the details.
    let deep: unknown = '\ud800';
    for (let i = 0; i < 300; i++) deep = { nested: deep };
    const deepRes = await fx.call('sam', 'POST', '/v1/retrieve', { query: 'refunds', k: 1, filters: deep });
    assert.equal(deepRes.statusCode, 400, deepRes.body.slice(0, 300));
    assert.ok(deepRes.json().message.length < 400, deepRes.json().message);
    assert.equal(deepRes.json().details.issues[0].path.length, 'filters'.length + 300 * '.nested'.length);
    // Well-formed text outside the BMP passes.
    const emoji = await fx.call('sam', 'POST', '/v1/retrieve', { query: 'refund 😀 policy', k: 1 });
    assert.equal(emoji.statusCode, 200, emoji.body);
  });

  test('a time limit above the maximum is bad input (400), not a search that timed out (504)', async () => {
    const res = await fx.call('sam', 'POST', '/v1/retrieve', { query: 'refund policy', k: 1, timeoutMs: fx.app.config.retrieval.maxTimeoutMs + 1 });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().code, 'RETRIEVAL_TIMEOUT_TOO_LARGE');
  });
});
