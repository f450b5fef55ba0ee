// The policy set in force is a ledger record: before a broker's first decision with a set
// the ledger has not last recorded, it appends `policy_set.activated` with what the set's
// hash seals (catalog, schema, policies); decisions ref it, so lineage shows the very
// policies behind a decision and impact shows every decision a set made.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, sealOf } from '../../src/core/index.js';
import { policySetSubject } from '../../src/broker/index.js';
import { MAX_ACTIVATION_BODY_CHARS, activationBody } from '../../src/broker/policy-activation.js';
import { createHarness, refundParams, type Harness } from './helpers.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function decideOne(h: Harness, targetId: string): { id: string; policySetHash: string } {
  const proposal = h.broker.propose(h.p['sam']!, { action: 'refund.request', targetId, params: refundParams(1500) });
  const decision = h.broker.decide(proposal.id);
  assert.equal(decision.outcome, 'allow', decision.reasons.join('; '));
  return decision;
}

describe('policy set activation', () => {
  test('is recorded once, before the first decision, with the exact content its hash seals', () => {
    const h = createHarness();
    try {
      assert.equal(h.ledgerKinds().includes('policy_set.activated'), false, 'nothing recorded before a decision');
      const first = decideOne(h, 'rf-a1');
      decideOne(h, 'rf-a2');
      const kinds = h.ledgerKinds();
      assert.equal(kinds.filter((k) => k === 'policy_set.activated').length, 1);
      assert.ok(kinds.indexOf('policy_set.activated') < kinds.indexOf('decision.made'));

      const [activation] = h.ledger.entriesAbout(policySetSubject(first.policySetHash));
      assert.ok(activation);
      assert.equal(activation.kind, 'policy_set.activated');
      assert.equal(activation.tenant, null);
      const body = activation.body as { policySetHash: string; catalog: unknown; schema: unknown; policies: Array<{ id: string; text: string; file: string; isDefault: boolean }> };
      assert.equal(body.policySetHash, first.policySetHash);
      // An auditor recomputes the hash from the entry alone.
      assert.equal(sealOf({ catalog: body.catalog, schema: body.schema, policies: body.policies.map(({ id, text }) => ({ id, text })) }), first.policySetHash);
      assert.ok(body.policies.some((p) => p.isDefault) && body.policies.some((p) => !p.isDefault && p.file.endsWith('.cedar')));

      // Lineage of a decision reaches the policies; impact of the set reaches its decisions.
      const lineage = h.ledger.lineage(first.id);
      assert.deepEqual(lineage.byKind['policy_set.activated']?.map((e) => e.seq), [activation.seq]);
      const impact = h.ledger.impact(policySetSubject(first.policySetHash));
      assert.equal(impact.byKind['decision.made']?.length, 2);
    } finally {
      h.close();
    }
  });

  test('processes on one home that switch policy sets record every switch; decisions point to their own set', () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-activation-'));
    dirs.push(dir);
    const a = createHarness({ dir });
    // Another process with one more policy: another hash.
    const b = createHarness({ dir, policies: (sources) => [...sources, { file: 'extra.cedar', text: '@id("extra-forbid") forbid (principal, action, resource) when { false };' }] });
    try {
      const x = decideOne(a, 'rf-s1').policySetHash;
      const y = decideOne(b, 'rf-s2').policySetHash;
      assert.notEqual(x, y);
      const later = decideOne(a, 'rf-s3');
      decideOne(a, 'rf-s4');
      const activations = a.store.db.prepare("SELECT subject_id FROM ledger_entries WHERE kind = 'policy_set.activated' ORDER BY seq").pluck().all() as string[];
      assert.deepEqual(activations, [policySetSubject(x), policySetSubject(y), policySetSubject(x)]);
      // The switch back points to the entry with the content instead of repeating it.
      const [firstX, againX] = a.ledger.entriesAbout(policySetSubject(x));
      assert.deepEqual(againX?.body, { policySetHash: x, content: 'again', firstSeq: firstX?.seq });
      // Lineage reaches the activations of the decision's own set (both, here), never the other's.
      assert.deepEqual(new Set(a.ledger.lineage(later.id).byKind['policy_set.activated']?.map((e) => e.subjectId)), new Set([policySetSubject(x)]));
      assert.equal(a.ledger.verify().ok, true);
    } finally {
      b.store.close();
      a.store.close();
    }
  });

  test('an activation rolled back with its decision is written again with the next one', () => {
    const h = createHarness();
    try {
      const input = { action: 'refund.request', targetId: 'rf-rb-1', params: refundParams(1500) };
      assert.throws(() =>
        h.store.transaction((db) => {
          h.broker.proposeAndDecideIn(db, h.p['sam']!, input);
          throw new Error('the caller gives up');
        }),
      );
      assert.equal(h.ledgerKinds().includes('policy_set.activated'), false);
      const decision = decideOne(h, 'rf-rb-2');
      const [activation] = h.ledger.entriesAbout(policySetSubject(decision.policySetHash));
      assert.equal(activation?.kind, 'policy_set.activated');
    } finally {
      h.close();
    }
  });

  test('a set too large for one entry is recorded by digests, then by its hash alone', () => {
    const policies = (n: number, size: number) => Array.from({ length: n }, (_, i) => ({ id: `p${i}`, file: `p${i}.cedar`, effect: 'permit', isDefault: false, text: 'x'.repeat(size) }));
    const whole = activationBody('sha256:h', { catalog: { a: 1 }, schema: { b: 2 }, policies: policies(2, 100) }) as { content: string; policies: Array<{ text: string }> };
    assert.equal(whole.content, 'full');
    const big = activationBody('sha256:h', { catalog: { a: 1 }, schema: { b: 2 }, policies: policies(3, MAX_ACTIVATION_BODY_CHARS / 2) }) as { content: string; catalogSeal: string; policies: Array<{ textSeal: string }> };
    assert.equal(big.content, 'digests');
    assert.equal(big.catalogSeal, sealOf({ a: 1 }));
    assert.equal(big.policies[0]?.textSeal, sealOf('x'.repeat(MAX_ACTIVATION_BODY_CHARS / 2)));
    const huge = activationBody('sha256:h', { catalog: {}, schema: {}, policies: policies(20_000, 1) }) as { content: string; policies: number };
    assert.deepEqual(huge, { policySetHash: 'sha256:h', content: 'hash', policies: 20_000 });
    // Every form fits in one ledger entry.
    for (const body of [whole, big, huge]) assert.ok(canonicalJson(body as never).length <= MAX_ACTIVATION_BODY_CHARS);
  });
});
