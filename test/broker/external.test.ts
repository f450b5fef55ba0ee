// External effects are two-phase: execute starts the transition and locks the target;
// the external executor reports success (state changes) or failure (nothing changes).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WritError, isWritError } from '../../src/core/index.js';
import { defineCatalog } from '../../src/broker/index.js';
import { createHarness, type Harness } from './helpers.js';

function caught(fn: () => unknown): WritError {
  try {
    fn();
  } catch (err) {
    if (isWritError(err)) return err;
    throw err;
  }
  assert.fail('expected a WritError');
}

const catalog = defineCatalog({
  namespace: 'Ops',
  resourceTypes: { Payout: { states: ['pending', 'sent'], attributes: { amountCents: { type: 'integer', min: 1 } } } },
  actions: {
    'payout.create': { resourceType: 'Payout', create: true, to: 'pending', effect: 'internal', params: { amountCents: { type: 'integer', min: 1 } } },
    'payout.send': { resourceType: 'Payout', from: ['pending'], to: 'sent', effect: 'external', params: { reference: { type: 'string', required: false } } },
  },
});

describe('external transitions', () => {
  let h: Harness;
  before(() => {
    h = createHarness({
      catalog,
      policies: () => [{ file: 'ops.cedar', text: '@id("ops.all")\npermit (principal is Ops::User, action, resource) when { principal.roles.contains("ops") };' }],
    });
    h.p['olga'] = h.broker.upsertPrincipal({ id: 'olga', kind: 'user', tenant: 'acme', roles: ['ops'] });
  });
  after(() => h.close());

  function payout(id: string): string {
    const c = h.broker.propose(h.p['olga']!, { action: 'payout.create', targetId: id, params: { amountCents: 500 } });
    assert.equal(h.broker.decide(c.id).outcome, 'allow');
    h.broker.execute(h.broker.issueWarrant(h.p['olga']!, c.id).token);
    const s = h.broker.propose(h.p['olga']!, { action: 'payout.send', targetId: id, params: { reference: 'wire-1' } });
    assert.equal(h.broker.decide(s.id).outcome, 'allow');
    return s.id;
  }

  test('execute starts an external transition and locks the target until the executor reports success', () => {
    const proposalId = payout('po-1');
    const { token } = h.broker.issueWarrant(h.p['olga']!, proposalId);
    const started = h.broker.execute(token);
    assert.equal(started.transition.status, 'started');
    assert.equal(h.broker.getResource('acme', 'Payout', 'po-1')?.state, 'pending');
    assert.equal(h.broker.getProposal(proposalId)?.status, 'authorized');
    assert.equal(caught(() => h.broker.execute(token)).code, 'BROKER_WARRANT_CONSUMED');

    // While in flight, another send on the same payout cannot even be decided legal.
    const other = h.broker.propose(h.p['olga']!, { action: 'payout.send', targetId: 'po-1', params: { reference: 'wire-2' } });
    const d = h.broker.decide(other.id);
    assert.equal(d.facts.transition.legal, false);
    assert.equal(d.outcome, 'deny');

    const done = h.broker.reportTransition(token, { outcome: 'succeeded', detail: { bankRef: 'B-77' } });
    assert.equal(done.transition.status, 'succeeded');
    assert.equal(done.resource?.state, 'sent');
    assert.equal(done.resource?.version, 2);
    assert.equal(h.broker.getProposal(proposalId)?.status, 'executed');
    assert.equal(caught(() => h.broker.reportTransition(token, { outcome: 'failed' })).code, 'BROKER_TRANSITION_NOT_IN_FLIGHT');
    const kinds = h.ledgerKinds();
    assert.ok(kinds.includes('transition.started') && kinds.includes('transition.executed'));
  });

  test('a reported failure leaves the target unchanged and fails the proposal', () => {
    const proposalId = payout('po-2');
    const { token, payload } = h.broker.issueWarrant(h.p['olga']!, proposalId);
    h.broker.execute(token);
    // The report may arrive after the warrant's expiry.
    h.clock.set(Date.parse(payload.exp) + 1000);
    const done = h.broker.reportTransition(token, { outcome: 'failed', detail: { error: 'bank timeout' } });
    assert.equal(done.transition.status, 'failed');
    assert.equal(h.broker.getResource('acme', 'Payout', 'po-2')?.state, 'pending');
    assert.equal(h.broker.getResource('acme', 'Payout', 'po-2')?.version, 1);
    assert.equal(h.broker.getProposal(proposalId)?.status, 'failed');
    assert.ok(h.ledgerKinds().includes('transition.failed'));
  });

  test("a report's detail nested too deep is refused as input and changes nothing; a deep one within bounds is recorded canonically", () => {
    const proposalId = payout('po-deep');
    const { token } = h.broker.issueWarrant(h.p['olga']!, proposalId);
    h.broker.execute(token);
    const tooDeep = JSON.parse(`${'['.repeat(1500)}${']'.repeat(1500)}`) as unknown;
    assert.equal(caught(() => h.broker.reportTransition(token, { outcome: 'succeeded', detail: tooDeep })).code, 'CORE_NOT_CANONICAL');
    assert.equal(h.broker.getResource('acme', 'Payout', 'po-deep')?.state, 'pending');
    // Keys out of order 60 levels down: written sorted (the writer once took time exponential in this depth).
    let detail: unknown = { b: 1, a: 2 };
    for (let i = 0; i < 60; i++) detail = { x: detail };
    const done = h.broker.reportTransition(token, { outcome: 'succeeded', detail });
    assert.equal(done.transition.status, 'succeeded');
    assert.ok(JSON.stringify(done.transition.detail).endsWith('{"a":2,"b":1}' + '}'.repeat(60)));
  });

  test('a report with a token that was never started is refused', () => {
    const proposalId = payout('po-3');
    const { token } = h.broker.issueWarrant(h.p['olga']!, proposalId);
    assert.equal(caught(() => h.broker.reportTransition(token, { outcome: 'succeeded' })).code, 'BROKER_TRANSITION_NOT_IN_FLIGHT');
    assert.equal(h.broker.getResource('acme', 'Payout', 'po-3')?.state, 'pending');
  });
  test("each tenant has its own resource ids: another tenant's id, even locked in flight, is neither seen nor blocking", () => {
    const acmeSend = payout('po-t');
    h.broker.execute(h.broker.issueWarrant(h.p['olga']!, acmeSend).token); // in flight, locked
    const gus = h.broker.upsertPrincipal({ id: 'gus', kind: 'user', tenant: 'globex', roles: ['ops'] });
    const create = h.broker.propose(gus, { action: 'payout.create', targetId: 'po-t', params: { amountCents: 700 } });
    const d = h.broker.decide(create.id);
    assert.deepEqual([d.outcome, d.facts.target.exists, d.facts.transition.legal], ['allow', false, true]);
    h.broker.execute(h.broker.issueWarrant(gus, create.id).token);
    assert.deepEqual(h.broker.getResource('globex', 'Payout', 'po-t')?.attributes, { amountCents: 700 });
    assert.deepEqual(h.broker.getResource('acme', 'Payout', 'po-t')?.attributes, { amountCents: 500 });
    // globex's own send is not blocked by acme's lock, and acme's is still in flight.
    const send = h.broker.propose(gus, { action: 'payout.send', targetId: 'po-t', params: {} });
    assert.equal(h.broker.decide(send.id).facts.transition.legal, true);
    const other = h.broker.propose(h.p['olga']!, { action: 'payout.send', targetId: 'po-t', params: {} });
    assert.equal(h.broker.decide(other.id).facts.transition.legal, false);
  });
});
