// Proposals: validation against the catalog (every issue at once), recorded rejections,
// idempotency, session rules and budgets, delegation and tenants.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WritError, isWritError } from '../../src/core/index.js';
import { BrokerConfigSchema } from '../../src/broker/index.js';
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

describe('proposals', () => {
  let h: Harness;
  let sessionId: string;
  before(() => {
    h = createHarness();
    sessionId = h.broker.createSession(h.p['desk-agent']!, { ttlMs: 3_600_000 }).id;
  });
  after(() => h.close());

  test('invalid params are refused with every issue at once and the rejection is recorded', () => {
    const before = h.ledgerKinds().filter((k) => k === 'proposal.rejected').length;
    const err = caught(() =>
      h.broker.propose(h.p['desk-agent']!, {
        sessionId,
        action: 'refund.request',
        targetId: 'rf-bad',
        params: { amountCents: 0, currency: 'XXX', orderId: 'order 1', recipientAccount: 42, colour: 'red' },
      }),
    );
    assert.equal(err.code, 'BROKER_PARAMS_INVALID');
    const issues = err.details.issues as Array<{ path: string; code: string }>;
    const paths = issues.map((i) => i.path).sort();
    assert.deepEqual(paths, ['params.amountCents', 'params.colour', 'params.currency', 'params.orderId', 'params.recipientAccount']);
    assert.deepEqual(issues.find((i) => i.path === 'params.colour')?.code, 'unrecognized_key');
    const after = h.ledgerKinds().filter((k) => k === 'proposal.rejected').length;
    assert.equal(after, before + 1);
    assert.equal(h.broker.listProposals({ tenant: 'acme' }).some((p) => p.targetId === 'rf-bad'), false);
  });

  test('a refusal quoting a lone surrogate is still recorded, with the typed error of the refusal', () => {
    const rejected = () => h.ledgerKinds().filter((k) => k === 'proposal.rejected').length;
    const before = rejected();
    const err = caught(() => h.broker.propose(h.p['sam']!, { action: 'refund.request', targetId: 'rf-s1', params: { ...refundParams(1), ['z\uD800']: 1 } }));
    assert.equal(err.code, 'BROKER_PARAMS_INVALID');
    // An action cut at 200 characters for the record, inside a surrogate pair.
    const cut = caught(() => h.broker.propose(h.p['sam']!, { action: `${'a'.repeat(199)}😀`, targetId: 'rf-s2', params: refundParams(1) }));
    assert.equal(cut.code, 'BROKER_ACTION_UNKNOWN');
    assert.equal(rejected(), before + 2);
  });

  test('a missing required param and a too-long string are both reported', () => {
    const err = caught(() =>
      h.broker.propose(h.p['desk-agent']!, {
        sessionId,
        action: 'refund.request',
        targetId: 'rf-bad2',
        params: { amountCents: 10, orderId: 'ord-1', reason: 'x'.repeat(2001) },
      }),
    );
    assert.equal(err.code, 'BROKER_PARAMS_INVALID');
    const paths = (err.details.issues as Array<{ path: string }>).map((i) => i.path).sort();
    assert.deepEqual(paths, ['params.reason', 'params.recipientAccount']);
  });

  test('an unknown action, a wrong target type and a missing target are typed errors, each recorded', () => {
    const before = h.ledgerKinds().filter((k) => k === 'proposal.rejected').length;
    assert.equal(caught(() => h.broker.propose(h.p['sam']!, { action: 'refund.delete', targetId: 'rf-1', params: {} })).code, 'BROKER_ACTION_UNKNOWN');
    assert.equal(
      caught(() => h.broker.propose(h.p['sam']!, { action: 'refund.approve', targetType: 'TicketNote', targetId: 'rf-1', params: {} })).code,
      'BROKER_TARGET_TYPE_MISMATCH',
    );
    assert.equal(caught(() => h.broker.propose(h.p['sam']!, { action: 'refund.approve', targetId: 'rf-nowhere', params: {} })).code, 'BROKER_TARGET_NOT_FOUND');
    assert.equal(caught(() => h.broker.propose(h.p['sam']!, { action: 'refund.approve', targetId: 'rf-1', actorId: 'fatima' })).code, 'INVALID_INPUT');
    assert.equal(h.ledgerKinds().filter((k) => k === 'proposal.rejected').length, before + 4);
  });

  test('the same idempotency key with the same content returns the same proposal and records nothing new', () => {
    const input = { sessionId, action: 'refund.request', targetId: 'rf-idem', params: refundParams(700), idempotencyKey: 'k-1' };
    const first = h.broker.propose(h.p['desk-agent']!, input);
    const count = h.ledgerKinds().length;
    const used = h.broker.getSession(sessionId)!.used.proposals;
    // Same content in another canonical spelling: key order and an equal number.
    const second = h.broker.propose(h.p['desk-agent']!, { ...input, params: { ...refundParams(700), amountCents: 700.0 } });
    assert.equal(second.id, first.id);
    assert.equal(h.ledgerKinds().length, count);
    assert.equal(h.broker.getSession(sessionId)!.used.proposals, used);
  });

  test('the same idempotency key with different content is a conflict', () => {
    const input = { sessionId, action: 'refund.request', targetId: 'rf-idem2', params: refundParams(700), idempotencyKey: 'k-2' };
    const first = h.broker.propose(h.p['desk-agent']!, input);
    const err = caught(() => h.broker.propose(h.p['desk-agent']!, { ...input, params: refundParams(701) }));
    assert.equal(err.code, 'BROKER_IDEMPOTENCY_CONFLICT');
    assert.equal(err.details.proposalId, first.id);
  });

  test('an agent must propose inside its own live session', () => {
    assert.equal(caught(() => h.broker.propose(h.p['desk-agent']!, { action: 'refund.request', targetId: 'rf-x', params: refundParams(1) })).code, 'BROKER_SESSION_REQUIRED');
    const other = h.broker.createSession(h.p['finance-bot']!, { ttlMs: 60_000, onBehalfOf: 'sam' });
    // Another actor's session answers as a missing one: an agent does not learn it exists.
    const othersSession = caught(() => h.broker.propose(h.p['desk-agent']!, { sessionId: other.id, action: 'refund.request', targetId: 'rf-x', params: refundParams(1) }));
    assert.equal(othersSession.code, 'BROKER_SESSION_NOT_FOUND');
    assert.equal(othersSession.message, `session \`${other.id}\` does not exist`);
    // A session of another tenant answers as a missing one.
    const globexAgent = h.broker.upsertPrincipal({ id: 'globex-agent', kind: 'agent', tenant: 'globex', roles: ['support_agent'] });
    const foreign = caught(() => h.broker.propose(globexAgent, { sessionId: other.id, action: 'refund.request', targetId: 'rf-x', params: refundParams(1) }));
    const missing = caught(() => h.broker.propose(globexAgent, { sessionId: 'ses_01M8DG47ET5K090MHKYRTFS8HW', action: 'refund.request', targetId: 'rf-x', params: refundParams(1) }));
    assert.deepEqual([foreign.code, missing.code], ['BROKER_SESSION_NOT_FOUND', 'BROKER_SESSION_NOT_FOUND']);
    const short = h.broker.createSession(h.p['desk-agent']!, { ttlMs: 1000 });
    h.clock.advance(2000);
    assert.equal(
      caught(() => h.broker.propose(h.p['desk-agent']!, { sessionId: short.id, action: 'refund.request', targetId: 'rf-x', params: refundParams(1) })).code,
      'BROKER_SESSION_NOT_ACTIVE',
    );
  });

  test('a session refuses proposals past its budget and charges nothing for the refused one', () => {
    const s = h.broker.createSession(h.p['desk-agent']!, { ttlMs: 60_000, budgets: { proposals: 1, retrievals: 2 } });
    h.broker.propose(h.p['desk-agent']!, { sessionId: s.id, action: 'refund.request', targetId: 'rf-b1', params: refundParams(1) });
    const err = caught(() => h.broker.propose(h.p['desk-agent']!, { sessionId: s.id, action: 'refund.request', targetId: 'rf-b2', params: refundParams(1) }));
    assert.equal(err.code, 'BROKER_SESSION_BUDGET_EXCEEDED');
    assert.equal(h.broker.getSession(s.id)!.used.proposals, 1);
    h.broker.chargeSession(s.id, { retrievals: 2, contextChars: 100 });
    assert.equal(caught(() => h.broker.chargeSession(s.id, { retrievals: 1 })).code, 'BROKER_SESSION_BUDGET_EXCEEDED');
    assert.equal(h.broker.getSession(s.id)!.used.retrievals, 2);
  });

  test("an agent holding the admin role cannot close another principal's session; a user admin can", () => {
    const s = h.broker.createSession(h.p['desk-agent']!, { ttlMs: 60_000 });
    const rogue = h.broker.upsertPrincipal({ id: 'admin-bot', kind: 'agent', tenant: 'acme', roles: ['admin'] });
    assert.equal(caught(() => h.broker.revokeSession(rogue, s.id)).code, 'BROKER_SESSION_FORBIDDEN');
    assert.equal(h.broker.getSession(s.id)?.status, 'active');
    const admin = h.broker.upsertPrincipal({ id: 'ada', kind: 'user', tenant: 'acme', roles: ['admin'] });
    h.broker.revokeSession(admin, s.id);
    assert.equal(h.broker.getSession(s.id)?.status, 'revoked');
  });

  test('a session may not ask for budgets above the configured ceiling', () => {
    const { maxBudgets } = h.broker.config;
    const err = caught(() =>
      h.broker.createSession(h.p['desk-agent']!, { ttlMs: 60_000, budgets: { proposals: maxBudgets.proposals + 1, contextChars: maxBudgets.contextChars + 1 } }),
    );
    assert.equal(err.code, 'INVALID_INPUT');
    assert.deepEqual((err.details.issues as Array<{ path: string }>).map((i) => i.path), ['budgets.proposals', 'budgets.contextChars']);
    const s = h.broker.createSession(h.p['desk-agent']!, { ttlMs: 60_000, budgets: { proposals: maxBudgets.proposals } });
    assert.equal(s.budgets.proposals, maxBudgets.proposals);
    assert.equal(s.budgets.retrievals, h.broker.config.defaultBudgets.retrievals);
  });

  test('default budgets above the ceiling are a configuration error', () => {
    const bad = BrokerConfigSchema.safeParse({ defaultBudgets: { retrievals: 100, proposals: 300, contextChars: 1 }, maxBudgets: { retrievals: 100, proposals: 200, contextChars: 1 } });
    assert.equal(bad.success, false);
    assert.deepEqual(bad.error?.issues.map((i) => i.path.join('.')), ['defaultBudgets.proposals']);
    assert.equal(BrokerConfigSchema.safeParse({}).success, true);
  });

  test('proposeAndDecideIn returns refusals instead of throwing, and writes only in the caller\'s transaction', () => {
    const agent = h.p['desk-agent']!;
    const s = h.broker.createSession(agent, { ttlMs: 60_000, budgets: { proposals: 5 } });
    const input = (targetId: string, amount: unknown = 100) => ({ sessionId: s.id, action: 'refund.request', targetId, params: { ...refundParams(1), amountCents: amount } });
    const before = h.ledger.head().seq;
    // A refusal that is recorded: the record is written with the caller's transaction.
    const refused = h.store.transaction((db) => h.broker.proposeAndDecideIn(db, agent, input('rf-in-bad', 'lots')));
    assert.ok('error' in refused && refused.error.code === 'BROKER_PARAMS_INVALID');
    assert.deepEqual(h.ledger.entries({ afterSeq: before }).map((e) => e.kind), ['proposal.rejected']);
    // A caller that is not registered: refused as a value, nothing written.
    const ghost = { ...agent, id: 'ghost-agent' };
    const unknown = h.store.transaction((db) => h.broker.proposeAndDecideIn(db, ghost, input('rf-in-ghost')));
    assert.ok('error' in unknown && unknown.error.code === 'BROKER_PRINCIPAL_NOT_FOUND');
    assert.equal(h.ledger.head().seq, before + 1);
    // Its writes are the caller's: rolled back with it, committed with it.
    const seq = h.ledger.head().seq;
    assert.throws(() =>
      h.store.transaction((db) => {
        const done = h.broker.proposeAndDecideIn(db, agent, input('rf-in-rolled-back'));
        assert.ok(!('error' in done) && done.decision?.outcome === 'allow');
        throw new Error('caller gives up');
      }),
    /caller gives up/);
    assert.equal(h.ledger.head().seq, seq);
    assert.equal(h.broker.getSession(s.id)!.used.proposals, 0);
    const ok = h.store.transaction((db) => h.broker.proposeAndDecideIn(db, agent, input('rf-in-ok')));
    assert.ok(!('error' in ok) && ok.decidedNow && ok.decision?.outcome === 'allow');
    // The harness's first decision: the policy set it records went with the rolled-back
    // transaction, so this commit carries it.
    assert.deepEqual(h.ledger.entries({ afterSeq: seq }).map((e) => e.kind), ['proposal.created', 'policy_set.activated', 'decision.made']);
    assert.equal(h.broker.getSession(s.id)!.used.proposals, 1);
  });

  test('proposeAndDecide charges the session once per proposal and refuses, recorded, past its budget or after it ends', () => {
    const agent = h.p['desk-agent']!;
    const s = h.broker.createSession(agent, { ttlMs: 60_000, budgets: { proposals: 2 } });
    const input = (targetId: string) => ({ sessionId: s.id, action: 'refund.request', targetId, params: refundParams(1) });
    assert.equal(h.broker.proposeAndDecide(agent, input('rf-pd1')).decision?.outcome, 'allow');
    assert.equal(h.broker.getSession(s.id)!.used.proposals, 1);
    assert.equal(h.broker.proposeAndDecide(agent, { ...input('rf-pd2'), idempotencyKey: 'pd-2' }).decidedNow, true);
    assert.equal(h.broker.getSession(s.id)!.used.proposals, 2);
    const before = h.ledger.head().seq;
    assert.equal(caught(() => h.broker.proposeAndDecide(agent, input('rf-pd3'))).code, 'BROKER_SESSION_BUDGET_EXCEEDED');
    assert.deepEqual(h.ledger.entries({ afterSeq: before }).map((e) => e.kind), ['proposal.rejected']);
    assert.equal(h.broker.getSession(s.id)!.used.proposals, 2);
    // An idempotent retry is answered even past the budget and after the session ended: it charges nothing.
    h.broker.endSession(agent, s.id);
    const retry = h.broker.proposeAndDecide(agent, { ...input('rf-pd2'), idempotencyKey: 'pd-2' });
    assert.equal(retry.decidedNow, false);
    assert.equal(h.broker.getSession(s.id)!.used.proposals, 2);
    assert.equal(caught(() => h.broker.proposeAndDecide(agent, input('rf-pd4'))).code, 'BROKER_SESSION_NOT_ACTIVE');
  });

  test('an agent cannot act for a principal of another tenant, nor for another agent', () => {
    h.broker.upsertPrincipal({ id: 'free-agent', kind: 'agent', tenant: 'acme', roles: ['support_agent'] });
    h.broker.upsertPrincipal({ id: 'gina', kind: 'user', tenant: 'globex', roles: ['support'] });
    const agent = h.broker.getPrincipal('free-agent')!;
    // Another tenant's principal is refused exactly as one that does not exist: no oracle.
    const foreign = caught(() => h.broker.createSession(agent, { ttlMs: 60_000, onBehalfOf: 'gina' }));
    const missing = caught(() => h.broker.createSession(agent, { ttlMs: 60_000, onBehalfOf: 'nobody-at-all' }));
    assert.deepEqual([foreign.code, foreign.details.reason], ['BROKER_DELEGATION_INVALID', 'unknown']);
    assert.deepEqual([missing.code, missing.details.reason], ['BROKER_DELEGATION_INVALID', 'unknown']);
    assert.equal(caught(() => h.broker.createSession(agent, { ttlMs: 60_000, onBehalfOf: 'desk-agent' })).code, 'BROKER_DELEGATION_INVALID');
    // desk-agent is registered for sam: it may not pick someone else.
    assert.equal(caught(() => h.broker.createSession(h.p['desk-agent']!, { ttlMs: 60_000, onBehalfOf: 'fatima' })).code, 'BROKER_DELEGATION_INVALID');
  });

  test('a caller that disagrees with its registered principal is refused', () => {
    const forged = { ...h.p['desk-agent']!, tenant: 'globex' };
    assert.equal(caught(() => h.broker.propose(forged, { sessionId, action: 'refund.request', targetId: 'rf-f', params: refundParams(1) })).code, 'BROKER_PRINCIPAL_MISMATCH');
    const unknown = { ...h.p['sam']!, id: 'nobody' };
    assert.equal(caught(() => h.broker.propose(unknown, { action: 'refund.request', targetId: 'rf-f', params: refundParams(1) })).code, 'BROKER_PRINCIPAL_NOT_FOUND');
  });

  test('a proposal citing a bundle of another session or actor is denied by policy', () => {
    const bundle = h.addBundle({ principalId: 'sam', sessionId: null, texts: ['order ord-1001 was damaged'] });
    const proposal = h.broker.propose(h.p['desk-agent']!, { sessionId, action: 'refund.request', targetId: 'rf-basis', params: refundParams(100), basis: [bundle, 'bnd_missing'] });
    const d = h.broker.decide(proposal.id);
    assert.equal(d.outcome, 'deny');
    assert.equal(d.facts.basis.allExist, false);
    assert.equal(d.facts.basis.allOwned, false);
    assert.equal(d.facts.basis.allSameSession, false);
    assert.ok(d.determiningPolicies.includes('writ.default.foreign_basis'), JSON.stringify(d.determiningPolicies));
  });
});
