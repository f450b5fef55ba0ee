// Loading policies: the Cedar schema generated from the catalog, validation that refuses
// bad policies with Cedar's own messages, stable ids and hashes, and two properties of
// decisions (determinism; a forbid never widens authority).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { defineCatalog, type Catalog } from '../../src/broker/catalog.js';
import { isWritError } from '../../src/core/index.js';
import {
  createPolicyEngine,
  defaultPolicySources,
  generateCedarSchema,
  loadPolicies,
  loadPolicyDir,
  readPolicyDir,
  type PolicyOutcome,
  type PolicySource,
} from '../../src/broker/policy/index.js';
import { factsFrom, sampleCatalog, SAMPLE_DIR } from './fixtures/decisions/fixtures.js';

const catalog = sampleCatalog();
const samplePolicies = readPolicyDir(`${SAMPLE_DIR}policies`);
const A = 'SupportDesk::Action::';

function refusal(fn: () => unknown): { message: string; problems: Array<{ file: string; policyId: string | null; message: string }> } {
  try {
    fn();
  } catch (err) {
    assert.ok(isWritError(err, 'BROKER_POLICY_INVALID'), `expected BROKER_POLICY_INVALID, got ${String(err)}`);
    return { message: err.message, problems: err.details['problems'] as Array<{ file: string; policyId: string | null; message: string }> };
  }
  assert.fail('expected the policies to be refused');
}

describe('cedar schema generation', () => {
  const schema = generateCedarSchema(catalog);
  const ns = schema['SupportDesk'];

  test('puts everything in the catalog namespace with principal and resource entity types', () => {
    assert.deepEqual(Object.keys(schema), ['SupportDesk']);
    assert.ok(ns !== undefined);
    assert.deepEqual(Object.keys(ns.entityTypes).sort(), ['Agent', 'Refund', 'Service', 'TicketNote', 'User']);
    const user = ns.entityTypes['User'] as { shape: { attributes: Record<string, unknown> } };
    assert.deepEqual(Object.keys(user.shape.attributes).sort(), ['groups', 'id', 'kind', 'roles', 'tenant']);
  });

  test('types resource attributes from the catalog and marks optional ones', () => {
    const refund = ns?.entityTypes['Refund'] as { shape: { attributes: Record<string, { type: string; required?: boolean }> } };
    const attrs = refund.shape.attributes;
    assert.equal(attrs['tenant']?.type, 'String');
    assert.equal(attrs['state']?.type, 'String');
    assert.equal(attrs['version']?.type, 'Long');
    assert.equal(attrs['amountCents']?.type, 'Long');
    assert.equal(attrs['recipientAccount']?.type, 'String');
    assert.equal(attrs['currency']?.required, false);
    assert.equal(attrs['orderId']?.required, true);
  });

  test('declares one action per catalog action with the facts as context', () => {
    assert.deepEqual(Object.keys(ns?.actions ?? {}).sort(), ['refund.approve', 'refund.pay', 'refund.reject', 'refund.request', 'ticket.note']);
    const pay = ns?.actions['refund.pay']?.appliesTo as unknown as { principalTypes: string[]; resourceTypes: string[]; context: { attributes: Record<string, { attributes?: Record<string, unknown>; required?: boolean }> } };
    assert.deepEqual(pay.principalTypes, ['User', 'Agent', 'Service']);
    assert.deepEqual(pay.resourceTypes, ['Refund']);
    const ctx = pay.context.attributes;
    assert.deepEqual(Object.keys(ctx).sort(), ['actingFor', 'approvals', 'basis', 'isActor', 'params', 'taint', 'transition']);
    assert.deepEqual(Object.keys(ctx['taint']?.attributes ?? {}).sort(), ['anyTrusted', 'params', 'trustedParams']);
    assert.deepEqual(Object.keys(ctx['transition']?.attributes ?? {}).sort(), ['effect', 'from', 'legal', 'to']);
    assert.equal(ctx['actingFor']?.required, false);
    const request = ns?.actions['refund.request']?.appliesTo as unknown as { context: { attributes: { params: { attributes: Record<string, { type: string; required: boolean }> } } } };
    assert.deepEqual(request.context.attributes.params.attributes['amountCents'], { type: 'Long', required: true });
    assert.deepEqual(request.context.attributes.params.attributes['reason'], { type: 'String', required: false });
  });

  test('maps decimal params to the decimal extension type', () => {
    const shop = defineCatalog({
      namespace: 'Shop',
      resourceTypes: { Credit: { states: ['open', 'granted'] } },
      actions: { 'credit.grant': { resourceType: 'Credit', from: ['open'], to: 'granted', effect: 'internal', params: { amount: { type: 'decimal' }, ok: { type: 'boolean' } } } },
    });
    const params = (generateCedarSchema(shop)['Shop']?.actions['credit.grant']?.appliesTo as unknown as { context: { attributes: { params: { attributes: Record<string, unknown> } } } }).context.attributes.params.attributes;
    assert.deepEqual(params['amount'], { type: 'Extension', name: 'decimal', required: true });
    assert.deepEqual(params['ok'], { type: 'Boolean', required: true });
  });

  test('refuses a catalog whose names collide with the broker\'s reserved names', () => {
    // Typed by hand, so it never went through defineCatalog's own check of these names.
    const clash = {
      namespace: 'Writ',
      version: '1',
      resourceTypes: { User: { states: ['a'], attributes: { tenant: { type: 'string', required: true, trusted: false, maxLength: 1000 } } }, Action: { states: ['a'], attributes: {} } },
      actions: {},
    } as unknown as Catalog;
    assert.throws(
      () => generateCedarSchema(clash),
      (err: unknown) =>
        isWritError(err, 'BROKER_CATALOG_INVALID') &&
        /`User` cannot name a resource type \(it is reserved for principals\)/.test(err.message) &&
        /`Action` cannot name a resource type \(cedar uses it for actions\)/.test(err.message) &&
        /`tenant` is set by the broker/.test(err.message),
    );
  });
});

describe('loading policies', () => {
  test('the sample workspace policies and the defaults validate against the generated schema', () => {
    const set = loadPolicyDir(`${SAMPLE_DIR}policies`, { catalog });
    assert.match(set.hash, /^sha256:[0-9a-f]{64}$/);
    const ids = set.policies.map((p) => p.id);
    assert.ok(ids.includes('support.request_large_refund'));
    assert.ok(ids.includes('writ.default.cross_tenant'));
    assert.deepEqual(ids, [...ids].sort());
  });

  test('refuses a policy that does not validate, with cedar\'s message and the file name', () => {
    const { message, problems } = refusal(() =>
      loadPolicies({ catalog, sources: [{ file: 'typo.cedar', text: `permit (principal, action == ${A}"refund.request", resource) when { context.params.amount > 10 };` }] }),
    );
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.file, 'typo.cedar');
    assert.equal(problems[0]?.policyId, 'typo.cedar:0');
    assert.match(problems[0]?.message ?? '', /attribute `params\.amount` in context .* not found/);
    assert.match(problems[0]?.message ?? '', /did you mean `amountCents`\?/);
    assert.match(message, /`typo\.cedar`/);
  });

  test('lists every problem in every file at once', () => {
    const { problems } = refusal(() =>
      loadPolicies({
        catalog,
        sources: [
          { file: 'a.cedar', text: `permit (principal, action, resource) when { resource.owner == "x" };` },
          { file: 'b.cedar', text: `permit (principal, action, resource) when { 1 + };` },
          { file: 'c.cedar', text: `@id("ok") permit (principal, action == ${A}"refund.pay", resource);\n@id("bad") forbid (principal, action, resource) when { principal.tenant == 3 };` },
        ],
      }),
    );
    const files = new Set(problems.map((p) => p.file));
    assert.deepEqual([...files].sort(), ['a.cedar', 'b.cedar', 'c.cedar']);
    assert.ok(problems.some((p) => p.file === 'b.cedar' && /unexpected token/.test(p.message) && /line 1/.test(p.message)));
    assert.ok(problems.some((p) => p.policyId === 'bad' && /line 2, column/.test(p.message)), 'validation messages point at the line in the file');
    assert.ok(!problems.some((p) => p.policyId === 'ok'));
  });

  test('refuses misplaced or malformed obligation annotations', () => {
    const { problems } = refusal(() =>
      loadPolicies({
        catalog,
        sources: [
          {
            file: 'obligations.cedar',
            text: [
              `@id("f") @requires_approval("finance") forbid (principal, action, resource);`,
              `@id("p") @unless_approved("finance") permit (principal, action, resource);`,
              `@id("n") @requires_approval("finance") @approvals("0") permit (principal, action, resource);`,
              `@id("c") @approvals("2") permit (principal, action, resource);`,
              `@id("r") @requires_approval("no spaces") permit (principal, action, resource);`,
            ].join('\n'),
          },
        ],
      }),
    );
    assert.deepEqual([...new Set(problems.map((p) => p.policyId))].sort(), ['c', 'f', 'n', 'p', 'r']);
  });

  test('refuses two policies with the same id, but lets a workspace policy replace a default', () => {
    const { problems } = refusal(() =>
      loadPolicies({
        catalog,
        sources: [
          { file: 'one.cedar', text: `@id("same") permit (principal, action, resource);` },
          { file: 'two.cedar', text: `@id("same") forbid (principal, action, resource);` },
        ],
      }),
    );
    assert.match(problems[0]?.message ?? '', /`same` is also used in `one\.cedar`/);
    const replaced = loadPolicies({
      catalog,
      sources: [{ file: 'taint.cedar', text: `@id("writ.default.tainted_trusted_param") @unless_approved("security") forbid (principal, action, resource) when { context.taint.anyTrusted };` }],
    });
    const taint = replaced.policies.find((p) => p.id === 'writ.default.tainted_trusted_param');
    assert.equal(taint?.file, 'taint.cedar');
    assert.deepEqual(taint?.obligation, { role: 'security', count: 1 });
  });

  test('names policies without @id by file and position, in source order', () => {
    const text = Array.from({ length: 12 }, (_, i) => `permit (principal, action == ${A}"refund.request", resource) when { context.params.amountCents == ${i} };`).join('\n');
    const set = loadPolicies({ catalog, sources: [{ file: 'many.cedar', text }], defaults: false });
    for (let i = 0; i < 12; i++) {
      const policy = set.policies.find((p) => p.id === `many.cedar:${i}`);
      assert.ok(policy?.text.includes(`== ${i} }`), `many.cedar:${i} is the policy at position ${i}`);
    }
  });

  test('the policy-set hash does not depend on file order, and changes with any policy text', () => {
    const forward = loadPolicies({ catalog, sources: samplePolicies });
    const backward = loadPolicies({ catalog, sources: [...samplePolicies].reverse() });
    assert.equal(forward.hash, backward.hash);
    const edited: PolicySource[] = samplePolicies.map((s) => (s.file === 'notes.cedar' ? { ...s, text: s.text.replace('"support"', '"support_lead"') } : s));
    assert.notEqual(loadPolicies({ catalog, sources: edited }).hash, forward.hash);
    assert.notEqual(loadPolicies({ catalog, sources: samplePolicies, defaults: false }).hash, forward.hash);
  });

  test('refuses an annotation written without a value instead of dropping it', () => {
    const { problems } = refusal(() =>
      loadPolicies({
        catalog,
        sources: [
          {
            file: 'bare.cedar',
            text: [
              `@id("large") @requires_approval permit (principal is SupportDesk::User, action == ${A}"refund.request", resource);`,
              `@id("soft") @unless_approved forbid (principal, action, resource) when { context.taint.anyTrusted };`,
              `@id("count") @requires_approval("finance") @approvals permit (principal, action, resource);`,
              `@id permit (principal, action, resource);`,
              `@id("") permit (principal, action, resource);`,
            ].join('\n'),
          },
        ],
      }),
    );
    assert.deepEqual(
      problems.map((p) => `${p.policyId}: ${p.message}`),
      [
        'large: annotation `@requires_approval` needs a value, e.g. `@requires_approval("finance")`',
        'soft: annotation `@unless_approved` needs a value, e.g. `@unless_approved("security")`',
        'count: annotation `@approvals` needs a value, e.g. `@approvals("2")`',
        'bare.cedar:3: annotation `@id` needs a value, e.g. `@id("refunds.small")`',
        'bare.cedar:4: annotation `@id` needs a value, e.g. `@id("refunds.small")`',
      ],
    );
  });

  test('refuses unknown annotations, so a misspelt obligation cannot grant', () => {
    const { problems } = refusal(() =>
      loadPolicies({
        catalog,
        sources: [{ file: 'typo.cedar', text: `@id("big") @require_approval("finance") permit (principal is SupportDesk::User, action == ${A}"refund.request", resource);` }],
      }),
    );
    assert.deepEqual(problems, [
      {
        file: 'typo.cedar',
        policyId: 'big',
        message: 'unknown annotation `@require_approval`: writ reads only `@id`, `@requires_approval`, `@unless_approved`, `@approvals`',
      },
    ]);
  });

  test('numbers policies in source order even when a comment repeats a later policy\'s text', () => {
    const text = [
      '// previously: forbid (principal, action, resource) when { context.basis.count > 3 };',
      '// and "a string; in a comment',
      `@id("first") permit (principal is SupportDesk::User, action, resource) // a trailing ; comment`,
      '  when { principal.id != "a;b\\";" };',
      'permit (principal is SupportDesk::User, action, resource);',
      'forbid (principal, action, resource) when { context.basis.count > 3 };',
    ].join('\n');
    const set = loadPolicies({ catalog, sources: [{ file: 'p.cedar', text }], defaults: false });
    assert.deepEqual(
      set.policies.map((p) => [p.id, p.effect]),
      [
        ['first', 'permit'],
        ['p.cedar:1', 'permit'],
        ['p.cedar:2', 'forbid'],
      ],
    );
  });

  test('points validation messages at the right line when a comment repeats the policy\'s text', () => {
    const text = ['// was: forbid (principal, action, resource) when { principal.tenant == 3 };', 'permit (principal, action, resource);', 'forbid (principal, action, resource) when { principal.tenant == 3 };'].join('\n');
    const { problems } = refusal(() => loadPolicies({ catalog, sources: [{ file: 'p.cedar', text }], defaults: false }));
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.policyId, 'p.cedar:1');
    assert.match(problems[0]?.message ?? '', /\(line 3, column 45\)/);
  });

  test('the policy-set hash changes with any catalog change, even one the cedar schema does not show', () => {
    const shop = (effect: string, trusted: boolean) =>
      defineCatalog({
        namespace: 'Shop',
        resourceTypes: { Payment: { states: ['open', 'paid'] } },
        actions: { 'payment.pay': { resourceType: 'Payment', from: ['open'], to: 'paid', effect, rollbackNote: 'n/a', params: { account: { type: 'string', trusted } } } },
      });
    const sources = [{ file: 'p.cedar', text: 'permit (principal is Shop::User, action, resource);' }];
    const hashOf = (c: Catalog) => loadPolicies({ catalog: c, sources }).hash;
    const base = hashOf(shop('internal', false));
    assert.deepEqual(generateCedarSchema(shop('internal', false)), generateCedarSchema(shop('irreversible', true)), 'the schema alone cannot tell these catalogs apart');
    assert.notEqual(hashOf(shop('irreversible', false)), base, 'the effect class changes the hash');
    assert.notEqual(hashOf(shop('internal', true)), base, 'a trusted flag changes the hash');
    assert.equal(hashOf(shop('internal', false)), base, 'an equal catalog gives an equal hash');
  });

  test('reads policy files whatever the case of their `.cedar` extension', () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-policies-'));
    try {
      writeFileSync(join(dir, 'LOUD.CEDAR'), '@id("loud") forbid (principal, action, resource) when { context.basis.count > 9 };');
      writeFileSync(join(dir, 'quiet.cedar'), '@id("quiet") permit (principal is SupportDesk::User, action, resource);');
      writeFileSync(join(dir, 'notes.txt'), 'not a policy');
      assert.deepEqual(readPolicyDir(dir).map((s) => s.file), ['LOUD.CEDAR', 'quiet.cedar']);
      const ids = loadPolicyDir(dir, { catalog, defaults: false }).policies.map((p) => p.id);
      assert.deepEqual(ids, ['loud', 'quiet']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('reports an unreadable policy folder with its own code', () => {
    assert.throws(() => loadPolicyDir('/nonexistent/writ-policies', { catalog }), (err: unknown) => isWritError(err, 'BROKER_POLICY_UNREADABLE'));
  });

  test('ships default policies that name no entity type', () => {
    const defaults = defaultPolicySources();
    assert.ok(defaults.length >= 3);
    for (const source of defaults) assert.ok(!source.text.includes('::'), `${source.file} is catalog-independent`);
  });
});

describe('decision properties', () => {
  const rank: Record<PolicyOutcome, number> = { deny: 0, needs_approval: 1, allow: 2 };
  const extraForbids = [
    `@id("extra") forbid (principal, action, resource) when { context.params has amountCents && context.params.amountCents > 5000 };`,
    `@id("extra") forbid (principal is SupportDesk::Agent, action, resource);`,
    `@id("extra") forbid (principal, action, resource) when { context.approvals.count < 1 };`,
    `@id("extra") @unless_approved("finance") forbid (principal, action, resource) when { principal.roles.contains("support") };`,
    `@id("extra") @unless_approved("security") @approvals("2") forbid (principal, action, resource);`,
    `@id("extra") forbid (principal, action == ${A}"refund.pay", resource) unless { resource.amountCents < 100 };`,
  ];
  const base = createPolicyEngine({ catalog, policies: samplePolicies });
  const extended = extraForbids.map((text) => createPolicyEngine({ catalog, policies: [...samplePolicies, { file: 'extra.cedar', text }] }));

  const principalName = fc.constantFrom('desk-agent', 'rogue-agent', 'globex-agent', 'sam', 'riley', 'fatima', 'visitor', 'payments');
  const factsArb = fc.record({
    baseName: fc.constantFrom('refund.request', 'refund.approve', 'refund.pay', 'ticket.note'),
    actor: principalName,
    onBehalfOf: fc.option(fc.constantFrom('sam', 'riley', 'fatima', 'visitor', 'globex-sam'), { nil: null }),
    amountCents: fc.oneof(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom(99, 100, 101, 4999, 5000, 5001, 9999, 10_000, 10_001)),
    tainted: fc.boolean(),
    fresh: fc.boolean(),
    legal: fc.boolean(),
    approverRoles: fc.array(fc.constantFrom('finance', 'security', 'approver', 'support'), { maxLength: 3 }),
  }).map((r) =>
    factsFrom(r.baseName, {
      actor: r.actor,
      onBehalfOf: r.onBehalfOf,
      proposal: r.baseName === 'refund.request' ? { params: { amountCents: r.amountCents } } : {},
      target: r.baseName === 'refund.approve' || r.baseName === 'refund.pay' ? { attributes: { amountCents: r.amountCents } } : {},
      taint: r.tainted ? { params: ['recipientAccount'], trustedParams: ['recipientAccount'], anyTrusted: true } : {},
      basis: { allFresh: r.fresh },
      transition: { legal: r.legal },
      approvals: { count: r.approverRoles.length, roles: r.approverRoles, approverIds: r.approverRoles.map((_, i) => `approver-${i}`) },
    }),
  );

  test('the same facts always get the same decision', () => {
    const cold = createPolicyEngine({ catalog, policies: samplePolicies, cacheSize: 0 });
    fc.assert(
      fc.property(factsArb, (facts) => {
        const first = base.decide(facts);
        assert.deepEqual(base.decide(facts), first);
        assert.deepEqual(cold.decide(facts), first);
      }),
      { numRuns: 100 },
    );
  });

  test('slicing, projection, canonical values and the memo never change a decision', () => {
    const reference = createPolicyEngine({ catalog, policies: samplePolicies, optimise: false });
    const plainExtended = extraForbids.map((text) => createPolicyEngine({ catalog, policies: [...samplePolicies, { file: 'extra.cedar', text }], optimise: false }));
    const pick = (d: ReturnType<typeof base.decide>) => ({ outcome: d.outcome, determiningPolicies: d.determiningPolicies, obligations: d.obligations });
    fc.assert(
      fc.property(factsArb, fc.integer({ min: 0, max: extended.length }), (facts, which) => {
        const optimised = which === extended.length ? base : (extended[which] as typeof base);
        const plain = which === extended.length ? reference : (plainExtended[which] as typeof base);
        assert.deepEqual(pick(optimised.decide(facts)), pick(plain.decide(facts)));
      }),
      { numRuns: Number(process.env.WRIT_PROPERTY_RUNS ?? 150) },
    );
  });

  test('approvals by the principal itself (`approverIds.contains(principal.id)`) are decided as by the plain engine', () => {
    // The optimised engine sends a placeholder id and `[placeholder]`/`[]` for sets policies
    // read only as `set.contains(principal.id)`; here approvers include the deciding principals.
    const reference = createPolicyEngine({ catalog, policies: samplePolicies, optimise: false });
    const plainExtended = extraForbids.map((text) => createPolicyEngine({ catalog, policies: [...samplePolicies, { file: 'extra.cedar', text }], optimise: false }));
    const selfReading = [
      `@id("extra") forbid (principal, action, resource) when { context has actingFor && context.approvals.approverIds.contains(context.actingFor.id) };`,
      `@id("extra") forbid (principal, action, resource) when { context has actingFor && principal.id == context.actingFor.id };`,
      `@id("extra") forbid (principal, action, resource) when { principal.id == "sam" || context.approvals.approverIds.contains(principal.id) };`,
      `@id("extra") forbid (principal, action, resource) when { context.approvals.approverIds.containsAny(["sam", "riley"]) };`,
      `@id("extra") forbid (principal, action, resource) when { principal has id && context.approvals.approverIds.contains(principal.id) && context.approvals.count > 1 };`,
    ];
    const optimisedSelf = selfReading.map((text) => createPolicyEngine({ catalog, policies: [...samplePolicies, { file: 'extra.cedar', text }] }));
    const plainSelf = selfReading.map((text) => createPolicyEngine({ catalog, policies: [...samplePolicies, { file: 'extra.cedar', text }], optimise: false }));
    const optimised = [base, ...extended, ...optimisedSelf];
    const plain = [reference, ...plainExtended, ...plainSelf];
    const pick = (d: ReturnType<typeof base.decide>) => ({ outcome: d.outcome, determiningPolicies: d.determiningPolicies, obligations: d.obligations });
    const names = ['desk-agent', 'rogue-agent', 'globex-agent', 'sam', 'riley', 'fatima', 'visitor', 'payments', 'globex-sam', 'approver-0'];
    const withSelfApprovals = fc
      .record({ facts: factsArb, approvers: fc.subarray(names), which: fc.integer({ min: 0, max: optimised.length - 1 }) })
      .map(({ facts, approvers, which }) => ({ facts: { ...facts, approvals: { ...facts.approvals, approverIds: approvers } }, which }));
    fc.assert(
      fc.property(withSelfApprovals, ({ facts, which }) => {
        assert.deepEqual(pick((optimised[which] as typeof base).decide(facts)), pick((plain[which] as typeof base).decide(facts)));
      }),
      { numRuns: Number(process.env.WRIT_PROPERTY_RUNS ?? 300) },
    );
  });

  test('decisions that differ only in who the principals are share one memo entry', () => {
    const engine = createPolicyEngine({ catalog, policies: samplePolicies });
    const reference = createPolicyEngine({ catalog, policies: samplePolicies, optimise: false });
    const first = factsFrom('refund.request', { actor: 'desk-agent', onBehalfOf: 'sam', proposal: { params: { amountCents: 500 } } });
    const renamed = (i: number, approve: boolean) => {
      const actor = { ...first.actor, id: `agent-${i}` };
      const onBehalfOf = first.onBehalfOf === null ? null : { ...first.onBehalfOf, id: `user-${i}` };
      return { ...first, actor, onBehalfOf, approvals: { ...first.approvals, approverIds: approve ? [`user-${i}`] : [] } };
    };
    engine.decide(renamed(0, false));
    engine.decide(renamed(0, true));
    const callsBefore = engine.stats().cedarCalls;
    for (let i = 1; i <= 5; i++) {
      for (const approve of [false, true]) {
        const facts = renamed(i, approve);
        assert.deepEqual(engine.decide(facts).outcome, reference.decide(facts).outcome);
      }
    }
    assert.equal(engine.stats().cedarCalls, callsBefore, 'no new Cedar call for new principal ids');
    assert.equal(engine.decide(renamed(9, true)).outcome, 'deny', 'an approval by the principal it acts for still denies');
  });

  test('adding a forbid never turns a deny into an allow, nor widens any outcome', () => {
    fc.assert(
      fc.property(factsArb, fc.integer({ min: 0, max: extended.length - 1 }), (facts, which) => {
        const before = base.decide(facts).outcome;
        const after = (extended[which] ?? base).decide(facts).outcome;
        assert.ok(rank[after] <= rank[before], `${before} became ${after} after adding forbid #${which}`);
      }),
      { numRuns: 150 },
    );
  });
});
