// Facts → Cedar request: projection to what policies read, and canonical values for those
// used only against literals (the engine's memo shares answers across such requests).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { defineCatalog } from '../../src/broker/catalog.js';
import { createPolicyEngine, loadPolicies } from '../../src/broker/policy/index.js';
import { buildCedarRequest, buildRequestBase, requestNeedsOf } from '../../src/broker/policy/request.js';
import { factsFrom, sampleCatalog } from './fixtures/decisions/fixtures.js';

const catalog = sampleCatalog();
const A = 'SupportDesk::Action::';

function requestFor(policyText: string, overrides: unknown = {}) {
  const set = loadPolicies({ catalog, sources: [{ file: 'p.cedar', text: policyText }], defaults: false });
  const needs = requestNeedsOf(set.policies.map((p) => p.json));
  const facts = factsFrom('refund.request', overrides);
  return buildCedarRequest({
    namespace: 'SupportDesk',
    resourceType: 'Refund',
    targetId: facts.proposal.targetId,
    base: buildRequestBase(catalog, facts),
    principal: facts.actor,
    other: facts.onBehalfOf,
    isActor: true,
    needs,
  });
}

describe('cedar requests built from facts', () => {
  test('carry only the attributes the policies read', () => {
    const request = requestFor(`permit (principal, action == ${A}"refund.request", resource) when { principal.tenant == resource.tenant && context.taint.anyTrusted == false };`);
    assert.deepEqual(request.context, { taint: { anyTrusted: false } });
    assert.deepEqual(request.entities.map((e) => e.attrs), [{ tenant: 'acme' }, { tenant: 'acme' }]);
    assert.equal(request.principal.id, '(principal)', 'no policy compares uids, so the id is a placeholder');
  });

  test('keep real uids when a policy compares them', () => {
    const request = requestFor(`permit (principal == SupportDesk::Agent::"desk-agent", action, resource);`);
    assert.equal(request.principal.id, 'desk-agent');
    assert.equal(request.resource.id, 'rf_01JFIXTURE0000000000000001');
  });

  test('replace a long compared only with literals by a representative of its interval', () => {
    const text = `permit (principal, action == ${A}"refund.request", resource) when { context.params.amountCents <= 10000 };`;
    const amountOf = (amountCents: number) => (requestFor(text, { proposal: { params: { amountCents } } }).context['params'] as { amountCents: number }).amountCents;
    assert.equal(amountOf(4500), 9999);
    assert.equal(amountOf(1), 9999);
    assert.equal(amountOf(10000), 10000);
    assert.equal(amountOf(25000), 10001);
  });

  test('keep a value that a policy uses in arithmetic exactly as it is', () => {
    const text = `permit (principal, action == ${A}"refund.request", resource) when { context.params.amountCents <= 10000 && context.params.amountCents * 2 > 5 };`;
    const request = requestFor(text, { proposal: { params: { amountCents: 4500 } } });
    assert.equal((request.context['params'] as { amountCents: number }).amountCents, 4500);
  });

  test('reduce a set asked about literal members to those members', () => {
    const request = requestFor(`permit (principal, action == ${A}"refund.request", resource) when { principal.roles.contains("support_agent") };`, {
      actor: { id: 'a1', kind: 'agent', tenant: 'acme', roles: ['zeta', 'support_agent', 'alpha'], groups: [], attributes: {} },
    });
    assert.deepEqual(request.entities[0]?.attrs, { roles: ['support_agent'] });
  });

  test('send only the presence of a record a policy tests with has', () => {
    const request = requestFor(`permit (principal, action == ${A}"refund.request", resource) when { context has actingFor };`);
    assert.deepEqual(request.context, { actingFor: {} });
  });
});

describe('facts a request cannot carry', () => {
  const shop = defineCatalog({
    namespace: 'Shop',
    resourceTypes: { Payment: { states: ['open', 'spent'], attributes: { limit: { type: 'integer', required: false } } } },
    actions: {
      'payment.create': { resourceType: 'Payment', create: true, to: 'open', effect: 'internal', params: { tip: { type: 'decimal', required: false } } },
      'payment.spend': { resourceType: 'Payment', from: ['open'], to: 'spent', effect: 'internal' },
    },
  });
  const text = [
    '@id("users") permit (principal is Shop::User, action, resource);',
    '@id("big_tip_forbidden") forbid (principal, action, resource) when { context.params has tip && context.params.tip.greaterThan(decimal("100.0")) };',
  ].join('\n');
  const create = (tip: string) =>
    factsFrom('refund.request', { actor: 'sam', onBehalfOf: null, proposal: { action: 'payment.create', resourceType: 'Payment', params: { tip } }, transition: { to: 'open' } });

  for (const optimise of [true, false]) {
    test(`deny, with the reason recorded, when a value had to be left out (optimise: ${optimise})`, () => {
      const engine = createPolicyEngine({ catalog: shop, policies: [{ file: 'p.cedar', text }], optimise });
      assert.equal(engine.decide(create('99.5')).outcome, 'allow');
      const tooPrecise = engine.decide(create('5000.00001'));
      assert.deepEqual(
        { outcome: tooPrecise.outcome, determiningPolicies: tooPrecise.determiningPolicies, errors: tooPrecise.errors },
        { outcome: 'deny', determiningPolicies: [], errors: ['param `tip` has more than 4 decimal places, the most a policy decimal holds: left out'] },
      );
      assert.deepEqual(tooPrecise.reasons, ['some facts cannot be given to policy as their catalog types: denied to fail closed']);
      const tooBig = engine.decide(create('999999999999999.0'));
      assert.deepEqual([tooBig.outcome, tooBig.errors], ['deny', ['param `tip` is beyond ±922337203685477.5807, the range of a policy decimal: left out']]);
      const spend = factsFrom('refund.approve', {
        actor: 'sam',
        onBehalfOf: null,
        proposal: { action: 'payment.spend', resourceType: 'Payment' },
        target: { state: 'open', attributes: { limit: '500' } },
        transition: { from: 'open', to: 'spent' },
      });
      const wrongType = engine.decide(spend);
      assert.deepEqual([wrongType.outcome, wrongType.errors], ['deny', ['resource attribute `limit` is not a cedar integer: left out']]);
    });
  }
});
