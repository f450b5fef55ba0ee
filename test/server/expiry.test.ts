// Proposals waiting for approval past `pendingApprovalTtlMs`, on the real app over HTTP: an
// approval that comes too late expires the proposal and is refused (with no sweep running),
// and a running server sweeps them on its own.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildServer } from '../../src/server/index.js';
import { waitUntil } from '../wait.js';
import { ACCOUNT_ON_FILE, startHttpFixture, type HttpFixture } from './http-helpers.js';

describe('HTTP: proposals past their wait for approval', () => {
  let fx: HttpFixture;
  let n = 0;
  before(async () => {
    fx = await startHttpFixture({ expirySweepMs: 0 });
  });
  after(async () => fx?.close());

  /** A large refund waiting for finance, whose wait began `daysAgo` days ago (its first decision backdated). */
  async function pendingSince(daysAgo: number): Promise<string> {
    const session = await fx.call('desk-agent', 'POST', '/v1/sessions', {});
    assert.equal(session.statusCode, 201, session.body);
    const res = await fx.call('desk-agent', 'POST', '/v1/proposals', {
      sessionId: session.json().id,
      action: 'refund.request',
      targetId: `rf-wait-${++n}`,
      params: { amountCents: 40_000, currency: 'EUR', orderId: 'ord-1001', recipientAccount: ACCOUNT_ON_FILE },
    });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().decision.outcome, 'needs_approval');
    const id = res.json().proposal.id as string;
    const then = new Date(Date.now() - daysAgo * 24 * 3_600_000).toISOString();
    fx.app.store.db.prepare('UPDATE decisions SET created_at = ? WHERE proposal_id = ?').run(then, id);
    return id;
  }
  const statusOf = (id: string): string => (fx.app.store.db.prepare('SELECT status FROM proposals WHERE id = ?').get(id) as { status: string }).status;

  test('an approval after pendingApprovalTtlMs is refused with 409 and leaves the proposal expired, on record', async () => {
    const id = await pendingSince(8);
    const res = await fx.call('fatima', 'POST', `/v1/proposals/${id}/approve`, { note: 'back from holiday' });
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(res.json().code, 'BROKER_PROPOSAL_WRONG_STATUS');
    assert.equal(res.json().details.status, 'expired');
    const detail = await fx.call('fatima', 'GET', `/v1/proposals/${id}`);
    assert.equal(detail.json().proposal.status, 'expired');
    assert.deepEqual(detail.json().approvals, []);
    const entries = fx.app.ledger.entriesReferencing(id).filter((e) => e.kind === 'proposal.expired');
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.requestId, res.headers['x-request-id']);
    const warrant = await fx.call('sam', 'POST', `/v1/proposals/${id}/warrant`);
    assert.equal(warrant.statusCode, 409);
  });

  test('a running server sweeps proposals past their wait, and leaves younger ones pending', async () => {
    const old = await pendingSince(8);
    const young = await pendingSince(6);
    const server = await buildServer(fx.app, { logger: false, expirySweepMs: 50 });
    await server.ready();
    try {
      assert.ok(await waitUntil(() => statusOf(old) === 'expired', 5_000, 25), 'the sweep expired the old proposal');
    } finally {
      await server.close();
    }
    assert.equal(statusOf(young), 'pending_approval');
  });
});
