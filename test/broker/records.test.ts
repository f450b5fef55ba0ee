// The records the broker returns from a write are built from what it wrote, not read
// back; they must equal what a later read returns, field for field.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { toTransition } from '../../src/broker/records.js';
import { createHarness, refundParams, type Harness } from './helpers.js';

describe('broker write results', () => {
  let h: Harness;
  before(() => {
    h = createHarness();
  });
  after(() => h.close());

  const readTransition = (id: string) => toTransition(h.store.db.prepare('SELECT * FROM transitions WHERE id = ?').get(id) as Record<string, unknown>);

  test('propose and execute return exactly what a read returns, for a create and an update', () => {
    const { broker, p } = h;
    const session = broker.createSession(p['desk-agent']!, { ttlMs: 600_000 });
    const proposal = broker.propose(p['desk-agent']!, {
      sessionId: session.id,
      action: 'refund.request',
      targetId: 'rf-rec-1',
      params: refundParams(4200),
      rationale: 'customer asked twice',
      idempotencyKey: 'rec-1',
    });
    assert.deepEqual(proposal, broker.getProposal(proposal.id));
    assert.equal(broker.decide(proposal.id).outcome, 'allow');
    const created = broker.execute(broker.issueWarrant(p['desk-agent']!, proposal.id).token, { requestId: 'req-rec-1' });
    assert.deepEqual(created.resource, broker.getResource('acme', 'Refund', 'rf-rec-1'));
    assert.deepEqual(created.proposal, broker.getProposal(proposal.id));
    assert.deepEqual(created.transition, readTransition(created.transition.id));
    assert.equal(created.proposal.status, 'executed');

    // An update of the same resource: finance approves the requested refund.
    const approve = broker.propose(p['fatima']!, { action: 'refund.approve', targetId: 'rf-rec-1', params: {} });
    assert.deepEqual(approve, broker.getProposal(approve.id));
    assert.equal(broker.decide(approve.id).outcome, 'allow');
    const updated = broker.execute(broker.issueWarrant(p['fatima']!, approve.id).token);
    assert.equal(updated.resource?.version, 2);
    assert.deepEqual(updated.resource, broker.getResource('acme', 'Refund', 'rf-rec-1'));
    assert.deepEqual(updated.proposal, broker.getProposal(approve.id));
    assert.deepEqual(updated.transition, readTransition(updated.transition.id));
  });
  test('proposeAndDecide decides in the same transaction and returns what a read returns', () => {
    const { broker, p } = h;
    const session = broker.createSession(p['desk-agent']!, { ttlMs: 600_000 });
    const before = h.ledger.head().seq;
    const input = { sessionId: session.id, action: 'refund.request', targetId: 'rf-rec-2', params: refundParams(25_000), idempotencyKey: 'rec-2' };
    const first = broker.proposeAndDecide(p['desk-agent']!, input, { requestId: 'req-pd' });
    assert.equal(first.decidedNow, true);
    assert.equal(first.decision?.outcome, 'needs_approval');
    assert.equal(first.proposal.status, 'pending_approval');
    assert.deepEqual(first.proposal, broker.getProposal(first.proposal.id));
    assert.deepEqual(first.decision, broker.getDecision(first.decision!.id));
    // Both records, in order, from one request.
    const entries = h.ledger.entries({ afterSeq: before });
    assert.deepEqual(entries.map((e) => e.kind), ['proposal.created', 'decision.made']);
    assert.ok(entries.every((e) => e.requestId === 'req-pd'));
    // An idempotent retry answers with the same proposal and decision and writes nothing.
    const again = broker.proposeAndDecide(p['desk-agent']!, input);
    assert.equal(again.decidedNow, false);
    assert.deepEqual(again.proposal, first.proposal);
    assert.deepEqual(again.decision, first.decision);
    assert.equal(h.ledger.head().seq, before + 2);
    // A refused proposal is recorded and thrown, as with propose.
    assert.throws(() => broker.proposeAndDecide(p['desk-agent']!, { ...input, idempotencyKey: 'rec-3', params: {} }), /BROKER_PARAMS_INVALID|invalid params/);
    assert.equal(h.ledger.entries({ afterSeq: before + 2 }).map((e) => e.kind).join(), 'proposal.rejected');
  });
});
