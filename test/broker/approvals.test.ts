// Approvals bind the proposal hash and expire; counts are per distinct approver.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WritError, isWritError } from '../../src/core/index.js';
import { sealProposal, type ProposalRecord } from '../../src/broker/index.js';
import { createHarness, refundParams, type Harness } from './helpers.js';

function caught(fn: () => unknown): WritError {
  try {
    fn();
  } catch (err) {
    if (isWritError(err)) return err;
    throw err;
  }
  assert.fail('expected a WritError');
}

describe('approvals', () => {
  let h: Harness;
  let n = 0;
  // The sample policies, with large refunds needing two finance approvers.
  before(() => {
    h = createHarness({
      config: { approvalTtlMs: 3_600_000 },
      policies: (sources) =>
        sources.map((s) => ({ ...s, text: s.text.replace('@requires_approval("finance")', '@requires_approval("finance")\n@approvals("2")') })),
    });
  });
  after(() => h.close());

  function pendingLarge(): ProposalRecord {
    const s = h.broker.createSession(h.p['desk-agent']!, { ttlMs: 24 * 3_600_000 });
    const p = h.broker.propose(h.p['desk-agent']!, { sessionId: s.id, action: 'refund.request', targetId: `rf-a${++n}`, params: refundParams(50_000) });
    assert.equal(h.broker.decide(p.id).outcome, 'needs_approval');
    return p;
  }

  test('two distinct finance approvers are needed; the same approver twice counts once', () => {
    const p = pendingLarge();
    assert.equal(h.broker.approve(h.p['fatima']!, p.id).decision.outcome, 'needs_approval');
    assert.equal(h.broker.approve(h.p['fatima']!, p.id).decision.outcome, 'needs_approval');
    assert.equal(h.broker.computeFacts(p.id)?.approvals.count, 1);
    const { decision } = h.broker.approve(h.p['omar']!, p.id);
    assert.equal(decision.outcome, 'allow', JSON.stringify(decision.reasons));
    assert.deepEqual(decision.facts.approvals.approverIds.sort(), ['fatima', 'omar']);
    assert.equal(h.broker.getProposal(p.id)?.status, 'authorized');
  });

  test('an expired approval is ignored', () => {
    const p = pendingLarge();
    h.broker.approve(h.p['fatima']!, p.id);
    assert.equal(h.broker.computeFacts(p.id)?.approvals.count, 1);
    h.clock.advance(3_600_000);
    assert.equal(h.broker.computeFacts(p.id)?.approvals.count, 0);
    const { decision } = h.broker.approve(h.p['omar']!, p.id);
    assert.equal(decision.outcome, 'needs_approval');
    assert.deepEqual(decision.facts.approvals.approverIds, ['omar']);
  });

  test('a changed proposal invalidates earlier approvals', () => {
    const p = pendingLarge();
    h.broker.approve(h.p['fatima']!, p.id);
    // The proposal's content changes (as a revision would): new params, new seal.
    const params = { ...p.params, amountCents: 90_000 };
    const hash = sealProposal({
      v: 1,
      tenant: p.tenant,
      sessionId: p.sessionId,
      actorId: p.actorId,
      onBehalfOf: p.onBehalfOf,
      action: p.action,
      resourceType: p.resourceType,
      targetId: p.targetId,
      params,
      basis: [...p.basis],
      rationale: p.rationale,
    });
    assert.notEqual(hash, p.hash);
    h.store.db.prepare('UPDATE proposals SET params_json = ?, hash = ? WHERE id = ?').run(JSON.stringify(params), hash, p.id);
    assert.equal(h.broker.computeFacts(p.id)?.approvals.count, 0);
    const { decision } = h.broker.approve(h.p['omar']!, p.id);
    assert.equal(decision.outcome, 'needs_approval');
    assert.deepEqual(decision.facts.approvals.approverIds, ['omar']);
  });

  test('an edited proposal row that no longer matches its seal gets no warrant', () => {
    const p = pendingLarge();
    h.broker.approve(h.p['fatima']!, p.id);
    h.broker.approve(h.p['omar']!, p.id);
    assert.equal(h.broker.getProposal(p.id)?.status, 'authorized');
    h.store.db.prepare('UPDATE proposals SET params_json = ? WHERE id = ?').run(JSON.stringify({ ...p.params, amountCents: 99_999_999 }), p.id);
    assert.equal(caught(() => h.broker.issueWarrant(h.p['desk-agent']!, p.id)).code, 'BROKER_DECISION_STALE');
  });

  test('an approver whose role was withdrawn no longer counts', () => {
    const p = pendingLarge();
    h.broker.approve(h.p['fatima']!, p.id);
    h.broker.upsertPrincipal({ id: 'fatima', kind: 'user', tenant: 'acme', roles: [], groups: ['finance'] });
    try {
      assert.equal(h.broker.computeFacts(p.id)?.approvals.count, 0);
    } finally {
      h.broker.upsertPrincipal({ id: 'fatima', kind: 'user', tenant: 'acme', roles: ['finance'], groups: ['finance', 'support'] });
    }
  });

  test("an agent is answered for another principal's proposal as for an unknown id by approve, reject and issueWarrant", () => {
    const p = pendingLarge();
    const bot = h.p['finance-bot']!;
    for (const [name, op] of [
      ['approve', (id: string) => h.broker.approve(bot, id)],
      ['reject', (id: string) => h.broker.reject(bot, id, 'no')],
      ['issueWarrant', (id: string) => h.broker.issueWarrant(bot, id)],
    ] as const) {
      const seen = caught(() => op(p.id));
      const unknown = caught(() => op('prp_unknown'));
      assert.equal(seen.code, 'BROKER_PROPOSAL_NOT_FOUND', name);
      assert.equal(seen.status, unknown.status, name);
      assert.equal(seen.message.replace(p.id, 'ID'), unknown.message.replace('prp_unknown', 'ID'), name);
    }
    assert.equal(h.broker.getProposal(p.id)?.status, 'pending_approval');
  });

  test('a proposal waiting for approvals past its time expires and can no longer be approved', () => {
    const p = pendingLarge();
    h.clock.advance(h.broker.config.pendingApprovalTtlMs + 1000);
    assert.ok(h.broker.expireStale().includes(p.id));
    assert.equal(h.broker.getProposal(p.id)?.status, 'expired');
    assert.equal(caught(() => h.broker.approve(h.p['fatima']!, p.id)).code, 'BROKER_PROPOSAL_WRONG_STATUS');
  });

  test('approving a proposal that waited past pendingApprovalTtlMs expires it and refuses, with no sweep; the expiry stays recorded', () => {
    const p = pendingLarge();
    h.clock.advance(h.broker.config.pendingApprovalTtlMs + 1000);
    const err = caught(() => h.broker.approve(h.p['fatima']!, p.id, {}, { requestId: 'req_late' }));
    assert.equal(err.code, 'BROKER_PROPOSAL_WRONG_STATUS');
    assert.equal(err.details.status, 'expired');
    assert.match(err.message, /`expired`.*pendingApprovalTtlMs/);
    // Durable though the call threw: the proposal is expired and the ledger says so.
    assert.equal(h.broker.getProposal(p.id)?.status, 'expired');
    const expired = h.ledger.entriesReferencing(p.id).filter((e) => e.kind === 'proposal.expired');
    assert.equal(expired.length, 1);
    assert.deepEqual(expired[0]!.body, { proposalId: p.id, from: 'pending_approval', voidedWarrants: [] });
    assert.equal(expired[0]!.requestId, 'req_late');
    assert.deepEqual(h.broker.listApprovals(p.id), [], 'no approval was recorded');
    assert.ok(!h.broker.expireStale().includes(p.id), 'nothing left for a sweep');
    // And it stays refused, as after a sweep.
    assert.equal(caught(() => h.broker.approve(h.p['omar']!, p.id)).code, 'BROKER_PROPOSAL_WRONG_STATUS');
  });

  test('rejecting, deciding again or asking a warrant for a proposal past its wait expires it the same way', () => {
    const ops: Array<[string, (id: string) => unknown]> = [
      ['reject', (id) => h.broker.reject(h.p['fatima']!, id, 'too late')],
      ['decide', (id) => h.broker.decide(id)],
      ['issueWarrant', (id) => h.broker.issueWarrant(h.p['payments']!, id)],
    ];
    for (const [name, op] of ops) {
      const p = pendingLarge();
      h.clock.advance(h.broker.config.pendingApprovalTtlMs);
      const err = caught(() => op(p.id));
      assert.equal(err.code, 'BROKER_PROPOSAL_WRONG_STATUS', name);
      assert.equal(err.details.status, 'expired', name);
      assert.equal(h.broker.getProposal(p.id)?.status, 'expired', name);
      // Expired and nothing else: no rejection, no new decision, no warrant after it.
      const kinds = h.ledger.entriesReferencing(p.id).map((e) => e.kind);
      assert.equal(kinds.at(-1), 'proposal.expired', name);
      assert.equal(kinds.filter((k) => k === 'proposal.expired' || k === 'approval.rejected' || k === 'warrant.issued').length, 1, name);
    }
  });

  test('a proposal is still approved just before its wait runs out', () => {
    const p = pendingLarge();
    h.clock.advance(h.broker.config.pendingApprovalTtlMs - 1);
    assert.equal(h.broker.approve(h.p['fatima']!, p.id).decision.outcome, 'needs_approval');
    assert.equal(h.broker.getProposal(p.id)?.status, 'pending_approval');
  });

  test('the wait for approvals counts from the first decision: re-decisions and approvals short of the count do not restart it', () => {
    const p = pendingLarge();
    const day = 24 * 3_600_000;
    const ttl = h.broker.config.pendingApprovalTtlMs;
    h.clock.advance(ttl - day);
    assert.equal(h.broker.decide(p.id).outcome, 'needs_approval');
    assert.equal(h.broker.approve(h.p['fatima']!, p.id).decision.outcome, 'needs_approval');
    assert.ok(!h.broker.expireStale().includes(p.id), 'not yet past its time');
    h.clock.advance(2 * day);
    assert.ok(h.broker.expireStale().includes(p.id));
    assert.equal(h.broker.getProposal(p.id)?.status, 'expired');
  });

  test('an authorization past its time gets no warrant, and expiring it voids its unused warrants', () => {
    const p = pendingLarge();
    h.broker.approve(h.p['fatima']!, p.id);
    h.broker.approve(h.p['omar']!, p.id);
    const issued = h.broker.issueWarrant(h.p['desk-agent']!, p.id);
    h.clock.advance(h.broker.config.authorizationTtlMs + 1000);
    assert.equal(caught(() => h.broker.issueWarrant(h.p['desk-agent']!, p.id)).code, 'BROKER_DECISION_STALE');
    assert.ok(h.broker.expireStale().includes(p.id));
    assert.equal(h.broker.getProposal(p.id)?.status, 'expired');
    const row = h.store.db.prepare('SELECT status FROM warrants WHERE id = ?').get(issued.warrantId) as { status: string };
    assert.equal(row.status, 'voided');
  });
});
