// Retrievals in a session over HTTP, on the real app: each is refused before any work when
// the session's retrievals are spent, and charged (one retrieval, the characters returned) in
// the very transaction that stores its bundle — so a refused retrieval stores nothing and
// charges nothing, even when two race for the last retrieval of a budget.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHttpFixture, type HttpFixture } from './http-helpers.js';

type Used = { retrievals: number; proposals: number; contextChars: number };

describe('HTTP: retrievals charged to a session', () => {
  let fx: HttpFixture;
  before(async () => {
    fx = await startHttpFixture();
  });
  after(async () => fx?.close());

  const bundles = (): number => (fx.app.store.db.prepare('SELECT count(*) AS n FROM bundles').get() as { n: number }).n;
  const sealedEntries = (): number =>
    (fx.app.store.db.prepare("SELECT count(*) AS n FROM ledger_entries WHERE kind = 'bundle.sealed'").get() as { n: number }).n;
  const newSession = async (budgets: Partial<Used>): Promise<string> => {
    const res = await fx.call('desk-agent', 'POST', '/v1/sessions', { ttlMs: 600_000, budgets });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id as string;
  };
  const used = async (id: string): Promise<Used> => {
    const res = await fx.call('desk-agent', 'GET', `/v1/sessions/${id}`);
    assert.equal(res.statusCode, 200, res.body);
    return res.json().used as Used;
  };
  const retrieve = (sessionId: string, query = 'refund policy for damaged items', k = 3) =>
    fx.call('desk-agent', 'POST', '/v1/retrieve', { query, k, sessionId });
  const charsOf = (body: { results: Array<{ text: string }> }): number => body.results.reduce((n, r) => n + r.text.length, 0);

  test('each retrieval charges one retrieval and exactly the characters it returned; a spent budget refuses the next with nothing stored', async () => {
    const id = await newSession({ retrievals: 2 });
    const first = await retrieve(id);
    assert.equal(first.statusCode, 200, first.body);
    const firstChars = charsOf(first.json());
    assert.ok(firstChars > 0, 'the sample workspace answers the query');
    assert.deepEqual(await used(id), { retrievals: 1, proposals: 0, contextChars: firstChars });
    const second = await retrieve(id, 'how long do refunds take');
    assert.equal(second.statusCode, 200, second.body);
    assert.deepEqual(await used(id), { retrievals: 2, proposals: 0, contextChars: firstChars + charsOf(second.json()) });

    const [bundlesBefore, entriesBefore] = [bundles(), sealedEntries()];
    const refused = await retrieve(id);
    assert.equal(refused.statusCode, 429, refused.body);
    assert.equal(refused.json().code, 'BROKER_SESSION_BUDGET_EXCEEDED');
    assert.deepEqual(refused.json().details.exceeded, ['retrievals']);
    assert.equal(bundles(), bundlesBefore, 'no bundle stored');
    assert.equal(sealedEntries(), entriesBefore, 'no bundle.sealed entry');
    assert.equal((await used(id)).retrievals, 2, 'nothing charged');
  });

  test('the context budget bounds what a retrieval returns, and what it returned is what is charged', async () => {
    const id = await newSession({ contextChars: 400 });
    const res = await retrieve(id, 'refund policy for damaged items', 10);
    assert.equal(res.statusCode, 200, res.body);
    const chars = charsOf(res.json());
    assert.ok(chars <= 400, `returned ${chars} characters on a budget of 400`);
    assert.equal(res.json().bounds.maxChars, 400);
    assert.deepEqual(await used(id), { retrievals: 1, proposals: 0, contextChars: chars });
  });

  test('a session with no context characters left is refused before any work, like any spent budget, and charged nothing', async () => {
    // A budget of exactly what one retrieval returns: that retrieval spends it all.
    const probe = await retrieve(await newSession({}), 'refund policy for damaged items', 1);
    const chars = charsOf(probe.json());
    assert.ok(chars > 0);
    const id = await newSession({ contextChars: chars });
    const first = await retrieve(id, 'refund policy for damaged items', 1);
    assert.equal(first.statusCode, 200, first.body);
    const full = await used(id);
    assert.equal(full.contextChars, chars, JSON.stringify(full));
    const [bundlesBefore, entriesBefore] = [bundles(), sealedEntries()];
    const refused = await retrieve(id);
    assert.equal(refused.statusCode, 429, refused.body);
    assert.equal(refused.json().code, 'BROKER_SESSION_BUDGET_EXCEEDED');
    assert.deepEqual(refused.json().details.exceeded, ['contextChars']);
    assert.deepEqual(await used(id), full, 'nothing charged');
    assert.equal(bundles(), bundlesBefore, 'no bundle stored');
    assert.equal(sealedEntries(), entriesBefore, 'no bundle.sealed entry');
  });

  test('a disabled principal retrieves nothing through app.retrieve (the path of the CLI and library callers), and nothing is stored', async () => {
    const riley = fx.app.broker.getPrincipalRecord('riley')!.principal;
    fx.app.broker.upsertPrincipal(riley, { disabled: true });
    try {
      const before = bundles();
      await assert.rejects(fx.app.retrieve(riley, { query: 'refund policy', k: 2 }), (e: unknown) => (e as { code?: string }).code === 'BROKER_PRINCIPAL_DISABLED');
      assert.equal(bundles(), before);
    } finally {
      fx.app.broker.upsertPrincipal(riley, { disabled: false });
    }
  });

  test('two retrievals racing for the last retrieval of a budget: one is recorded and charged, the other stores nothing', async () => {
    const id = await newSession({ retrievals: 1 });
    const [bundlesBefore, entriesBefore] = [bundles(), sealedEntries()];
    // Both pass the check made before searching; the second to commit finds the budget spent.
    // A retrieval outside any session shares their commit group and is stored regardless.
    const [outside, ...results] = await Promise.all([
      fx.call('sam', 'POST', '/v1/retrieve', { query: 'how long do refunds take', k: 3 }),
      retrieve(id),
      retrieve(id, 'who approves large refunds'),
    ]);
    const statuses = results.map((r) => r.statusCode).sort();
    assert.deepEqual(statuses, [200, 429], results.map((r) => r.body).join('\n'));
    const ok = results.find((r) => r.statusCode === 200)!;
    assert.equal(results.find((r) => r.statusCode === 429)!.json().code, 'BROKER_SESSION_BUDGET_EXCEEDED');
    assert.equal(outside!.statusCode, 200, outside!.body);
    assert.equal((await fx.call('sam', 'GET', `/v1/bundles/${outside!.json().bundleId}`)).statusCode, 200);
    assert.equal(bundles(), bundlesBefore + 2);
    assert.equal(sealedEntries(), entriesBefore + 2);
    assert.deepEqual(await used(id), { retrievals: 1, proposals: 0, contextChars: charsOf(ok.json()) });
    // The stored bundle is the one the successful caller got.
    assert.equal((await fx.call('desk-agent', 'GET', `/v1/bundles/${ok.json().bundleId}`)).statusCode, 200);
  });

  test('an agent naming no session is refused before any work, over HTTP and through app.retrieve; people and services retrieve without one', async () => {
    const [bundlesBefore, entriesBefore] = [bundles(), sealedEntries()];
    const res = await fx.call('desk-agent', 'POST', '/v1/retrieve', { query: 'refund policy for damaged items', k: 3 });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().code, 'BROKER_SESSION_REQUIRED');
    assert.match(res.json().message, /must retrieve within a session: open one first/);
    const agent = fx.app.authenticate(fx.key('desk-agent'));
    await assert.rejects(fx.app.retrieve(agent, { query: 'refund policy for damaged items', k: 3 }), { code: 'BROKER_SESSION_REQUIRED' });
    assert.equal(bundles(), bundlesBefore, 'no bundle stored');
    assert.equal(sealedEntries(), entriesBefore, 'no bundle.sealed entry');
    for (const who of ['sam', 'payouts'] as const) {
      const ok = await fx.call(who, 'POST', '/v1/retrieve', { query: 'refund policy for damaged items', k: 3 });
      assert.equal(ok.statusCode, 200, `${who}: ${ok.body}`);
    }
  });

  test('an agent proposing with no session is refused the same way', async () => {
    const res = await fx.call('desk-agent', 'POST', '/v1/proposals', {
      action: 'refund.request',
      targetId: 'rf-no-session',
      params: { amountCents: 300, currency: 'EUR', orderId: 'ord-1001', recipientAccount: 'DE89370400440532014471' },
    });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().code, 'BROKER_SESSION_REQUIRED');
    assert.match(res.json().message, /must propose within a session: open one first/);
  });

  test("another principal's session is not found, and charges nothing", async () => {
    const id = await newSession({ retrievals: 5 });
    const res = await fx.call('sam', 'POST', '/v1/retrieve', { query: 'refund policy', k: 2, sessionId: id });
    assert.equal(res.statusCode, 404, res.body);
    assert.equal(res.json().code, 'BROKER_SESSION_NOT_FOUND');
    assert.equal((await used(id)).retrievals, 0);
  });
});
