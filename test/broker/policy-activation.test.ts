// The policy set in force is a ledger record: before a broker's first decision with a set
// the ledger has not last recorded, it appends `policy_set.activated` with what the set's
// hash seals (catalog, schema, policies); decisions ref it, so lineage shows the very
// policies behind a decision and impact shows every decision a set made.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sealOf } from '../../src/core/index.js';
import { policySetSubject } from '../../src/broker/index.js';
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

  test('each process records its set unless the ledger last recorded that one; decisions point to their own set', () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-activation-'));
    dirs.push(dir);
    const a = createHarness({ dir });
    // Another process with one more policy: another hash.
    const b = createHarness({ dir, policies: (sources) => [...sources, { file: 'extra.cedar', text: '@id("extra-forbid") forbid (principal, action, resource) when { false };' }] });
    try {
      const x = decideOne(a, 'rf-s1').policySetHash;
      const y = decideOne(b, 'rf-s2').policySetHash;
      assert.notEqual(x, y);
      // `a` recorded its set already: its next decision adds no record, and still names x.
      const later = decideOne(a, 'rf-s3');
      assert.equal(later.policySetHash, x);
      const activations = () => a.store.db.prepare("SELECT subject_id FROM ledger_entries WHERE kind = 'policy_set.activated' ORDER BY seq").pluck().all() as string[];
      assert.deepEqual(activations(), [policySetSubject(x), policySetSubject(y)]);
      assert.deepEqual(a.ledger.lineage(later.id).byKind['policy_set.activated']?.map((e) => e.subjectId), [policySetSubject(x)]);
      // A process starting with x after y was recorded records x again.
      const c = createHarness({ dir });
      try {
        c.broker.recordPolicySetActivation();
        c.broker.recordPolicySetActivation();
      } finally {
        c.store.close();
      }
      assert.deepEqual(activations(), [policySetSubject(x), policySetSubject(y), policySetSubject(x)]);
      assert.equal(a.ledger.verify().ok, true);
    } finally {
      b.store.close();
      a.store.close();
    }
  });
});
