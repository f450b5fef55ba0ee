// End-to-end broker flow over a real SQLite file, the real ledger, keyrings, the sample
// catalog and Cedar policies: propose → decide → (approve) → warrant → execute.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isWritError } from '../../src/core/index.js';
import { createHarness, refundParams, type Harness } from './helpers.js';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isWritError(err)) return err.code;
    throw err;
  }
  return 'NO_ERROR';
}

describe('broker flow', () => {
  let h: Harness;
  before(() => {
    h = createHarness();
  });
  after(() => h.close());

  test('an allowed proposal gets a warrant whose execution changes state and is recorded', () => {
    const { broker, p } = h;
    const session = broker.createSession(p['desk-agent']!, { ttlMs: 600_000 });
    assert.equal(session.onBehalfOf, 'sam');
    const proposal = broker.propose(p['desk-agent']!, { sessionId: session.id, action: 'refund.request', targetId: 'rf-1', params: refundParams(5000) });
    assert.equal(proposal.status, 'proposed');
    assert.equal(proposal.actorId, 'desk-agent');
    assert.equal(proposal.onBehalfOf, 'sam');
    assert.match(proposal.hash, /^sha256:[0-9a-f]{64}$/);
    const decision = broker.decide(proposal.id);
    assert.equal(decision.outcome, 'allow', JSON.stringify(decision.reasons));
    assert.ok(decision.determiningPolicies.length > 0);
    assert.equal(broker.getProposal(proposal.id)?.status, 'authorized');
    assert.equal(broker.getResource('acme', 'Refund', 'rf-1'), undefined);

    const warrant = broker.issueWarrant(p['desk-agent']!, proposal.id);
    assert.equal(warrant.payload.expectedState, null);
    assert.equal(warrant.payload.expectedVersion, 0);
    const result = broker.execute(warrant.token, { requestId: 'req-1' });
    assert.equal(result.transition.status, 'executed');
    const resource = broker.getResource('acme', 'Refund', 'rf-1');
    assert.equal(resource?.state, 'requested');
    assert.equal(resource?.version, 1);
    assert.equal(resource?.attributes.amountCents, 5000);
    assert.equal(broker.getProposal(proposal.id)?.status, 'executed');
    const kinds = h.ledgerKinds();
    for (const k of ['session.created', 'proposal.created', 'decision.made', 'warrant.issued', 'transition.executed']) assert.ok(kinds.includes(k), k);
    const row = h.store.db.prepare("SELECT refs, request_id FROM ledger_entries WHERE kind = 'transition.executed'").get() as { refs: string; request_id: string };
    assert.equal(row.request_id, 'req-1');
    for (const id of [warrant.warrantId, decision.id, proposal.id]) assert.ok(row.refs.includes(id));
  });

  test('a large refund waits for a finance approval, then executes', () => {
    const { broker, p } = h;
    const session = broker.createSession(p['desk-agent']!, { ttlMs: 600_000 });
    const proposal = broker.propose(p['desk-agent']!, { sessionId: session.id, action: 'refund.request', targetId: 'rf-2', params: refundParams(50_000) });
    const decision = broker.decide(proposal.id);
    assert.equal(decision.outcome, 'needs_approval', JSON.stringify(decision));
    assert.deepEqual(decision.obligations.map((o) => o.role), ['finance']);
    assert.equal(broker.getProposal(proposal.id)?.status, 'pending_approval');
    assert.equal(code(() => broker.issueWarrant(p['desk-agent']!, proposal.id)), 'BROKER_PROPOSAL_WRONG_STATUS');

    const { decision: after, approval } = broker.approve(p['fatima']!, proposal.id, { note: 'invoice checked' });
    assert.equal(approval.proposalHash, proposal.hash);
    assert.deepEqual(approval.roles, ['finance']);
    assert.equal(after.outcome, 'allow', JSON.stringify(after.reasons));
    assert.equal(broker.getProposal(proposal.id)?.status, 'authorized');
    const { token } = broker.issueWarrant(p['desk-agent']!, proposal.id);
    const transition = broker.execute(token);
    assert.equal(broker.getResource('acme', 'Refund', 'rf-2')?.state, 'requested');
    assert.ok(h.ledgerKinds().includes('approval.granted'));
    // Lineage of the transition reaches the approval and the earlier needs-approval decision.
    const lineage = h.ledger.lineage(transition.transition.id);
    assert.deepEqual(lineage.byKind['approval.granted']?.map((e) => e.subjectId), [approval.id]);
    assert.deepEqual(new Set(lineage.byKind['decision.made']?.map((e) => e.subjectId)), new Set([decision.id, after.id]));

    // The next transition of the same refund carries the request's lineage with it.
    const approveProposal = broker.propose(p['fatima']!, { action: 'refund.approve', targetId: 'rf-2', params: {} });
    assert.equal(broker.decide(approveProposal.id).outcome, 'allow');
    const second = broker.execute(broker.issueWarrant(p['fatima']!, approveProposal.id).token);
    assert.equal(broker.getResource('acme', 'Refund', 'rf-2')?.state, 'approved');
    const history = h.ledger.lineage(second.transition.id);
    assert.deepEqual(new Set(history.byKind['proposal.created']?.map((e) => e.subjectId)), new Set([proposal.id, approveProposal.id]));
    assert.deepEqual(history.byKind['approval.granted']?.map((e) => e.subjectId), [approval.id]);
  });

  test('an agent never approves, even holding the role', () => {
    const { broker, p } = h;
    const session = broker.createSession(p['desk-agent']!, { ttlMs: 600_000 });
    const proposal = broker.propose(p['desk-agent']!, { sessionId: session.id, action: 'refund.request', targetId: 'rf-3', params: refundParams(50_000) });
    broker.decide(proposal.id);
    // Another agent's proposal is not its to see: answered as an unknown id.
    assert.equal(code(() => broker.approve(p['finance-bot']!, proposal.id)), 'BROKER_PROPOSAL_NOT_FOUND');
    assert.equal(code(() => broker.approve(p['payments']!, proposal.id)), 'BROKER_APPROVER_NOT_HUMAN');
    assert.equal(broker.getProposal(proposal.id)?.status, 'pending_approval');
    // Its own proposal it sees, and is refused as an agent.
    const botSession = broker.createSession(p['finance-bot']!, { ttlMs: 600_000 });
    const own = broker.propose(p['finance-bot']!, { sessionId: botSession.id, action: 'refund.request', targetId: 'rf-3b', params: refundParams(50_000) });
    broker.decide(own.id);
    assert.equal(code(() => broker.approve(p['finance-bot']!, own.id)), 'BROKER_APPROVER_NOT_HUMAN');
  });

  test('the proposer and its on-behalf-of principal cannot approve their own proposal', () => {
    const { broker, p } = h;
    broker.upsertPrincipal({ id: 'sam', kind: 'user', tenant: 'acme', roles: ['support', 'finance'], groups: ['support'] });
    try {
      const session = broker.createSession(p['desk-agent']!, { ttlMs: 600_000 });
      const proposal = broker.propose(p['desk-agent']!, { sessionId: session.id, action: 'refund.request', targetId: 'rf-4', params: refundParams(50_000) });
      assert.equal(broker.decide(proposal.id).outcome, 'needs_approval');
      assert.equal(code(() => broker.approve(p['sam']!, proposal.id)), 'BROKER_APPROVER_IS_PROPOSER');
      assert.equal(code(() => broker.approve(p['riley']!, proposal.id)), 'BROKER_APPROVER_LACKS_ROLE');
      assert.equal(broker.getProposal(proposal.id)?.status, 'pending_approval');
    } finally {
      broker.upsertPrincipal({ id: 'sam', kind: 'user', tenant: 'acme', roles: ['support'], groups: ['support'] });
    }
  });

  test('a rejected proposal is terminal and gets no warrant', () => {
    const { broker, p } = h;
    const session = broker.createSession(p['desk-agent']!, { ttlMs: 600_000 });
    const proposal = broker.propose(p['desk-agent']!, { sessionId: session.id, action: 'refund.request', targetId: 'rf-5', params: refundParams(50_000) });
    broker.decide(proposal.id);
    assert.equal(broker.reject(p['fatima']!, proposal.id, 'duplicate of rf-2').status, 'rejected');
    assert.equal(code(() => broker.approve(p['omar']!, proposal.id)), 'BROKER_PROPOSAL_WRONG_STATUS');
    assert.equal(code(() => broker.issueWarrant(p['desk-agent']!, proposal.id)), 'BROKER_PROPOSAL_WRONG_STATUS');
  });

  test('a denied proposal is a result, not an exception, and records its reasons', () => {
    const { broker, p } = h;
    // sam is support, not finance: refund.approve is not his to do.
    const create = broker.propose(p['sam']!, { action: 'refund.request', targetId: 'rf-6', params: refundParams(1000) });
    broker.decide(create.id);
    broker.execute(broker.issueWarrant(p['sam']!, create.id).token);
    const proposal = broker.propose(p['sam']!, { action: 'refund.approve', targetId: 'rf-6', params: {} });
    const decision = broker.decide(proposal.id);
    assert.equal(decision.outcome, 'deny');
    assert.ok(decision.reasons.length > 0);
    assert.equal(decision.facts.target.state, 'requested');
    assert.equal(broker.getProposal(proposal.id)?.status, 'denied');
    assert.equal(broker.getResource('acme', 'Refund', 'rf-6')?.state, 'requested');
  });

  test('an irreversible payout needs a finance approval and records its rollback note', () => {
    const { broker, p } = h;
    const create = broker.propose(p['sam']!, { action: 'refund.request', targetId: 'rf-pay', params: refundParams(2000) });
    broker.decide(create.id);
    broker.execute(broker.issueWarrant(p['sam']!, create.id).token);
    const approve = broker.propose(p['fatima']!, { action: 'refund.approve', targetId: 'rf-pay', params: {} });
    assert.equal(broker.decide(approve.id).outcome, 'allow');
    broker.execute(broker.issueWarrant(p['fatima']!, approve.id).token);

    const pay = broker.propose(p['payments']!, { action: 'refund.pay', targetId: 'rf-pay', params: { reference: 'wire-77' } });
    const decision = broker.decide(pay.id);
    assert.equal(decision.outcome, 'needs_approval', JSON.stringify(decision.reasons));
    assert.equal(decision.facts.transition.effect, 'irreversible');
    assert.equal(broker.approve(p['fatima']!, pay.id).decision.outcome, 'allow');
    const { transition } = broker.execute(broker.issueWarrant(p['payments']!, pay.id).token);
    assert.equal(broker.getResource('acme', 'Refund', 'rf-pay')?.state, 'paid');
    assert.equal(broker.getResource('acme', 'Refund', 'rf-pay')?.version, 3);
    const entry = h.store.db.prepare('SELECT body FROM ledger_entries WHERE subject_id = ?').get(transition.id) as { body: string };
    assert.match(entry.body, /rollbackNote/);
  });
});
