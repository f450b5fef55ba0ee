// Lineage (what informed a record) and impact (what a record informed) over a small,
// hand-made graph of ledger entries.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LedgerApi } from '../../src/ledger/index.js';
import { makeFixture, type Fixture } from './fixtures.js';

let f: Fixture;
let ledger: LedgerApi;

// doc_a ─┬─► bnd_1 ─► prp_1 ─► dec_1 ─► wrt_1 ─► trn_1
//        │                 └─► apr_1
// doc_b ─┘   bnd_2 ─► prp_2 ─► dec_2 (deny)
// doc_c ─────┘
// doc_d (ingested, never cited); doc_a revoked after dec_1.
before(() => {
  f = makeFixture();
  ledger = f.ledger;
  const add = (kind: string, subjectId: string, refs: string[] = [], tenant = 'acme') => ledger.append({ kind, subjectId, refs, tenant, body: null });
  add('document.ingested', 'doc_a');
  add('document.ingested', 'doc_b');
  add('document.ingested', 'doc_c');
  add('document.ingested', 'doc_d');
  add('bundle.sealed', 'bnd_1', ['doc_a', 'doc_b']);
  add('bundle.sealed', 'bnd_2', ['doc_c']);
  add('proposal.created', 'prp_1', ['bnd_1']);
  add('proposal.created', 'prp_2', ['bnd_2']);
  add('decision.made', 'dec_1', ['prp_1']);
  add('decision.made', 'dec_2', ['prp_2']);
  add('approval.granted', 'apr_1', ['prp_1']);
  add('warrant.issued', 'wrt_1', ['dec_1', 'prp_1']);
  add('transition.executed', 'trn_1', ['wrt_1', 'dec_1', 'prp_1']);
  add('document.revoked', 'doc_a', []);
  add('bundle.sealed', 'bnd_other', ['doc_a'], 'globex');
  add('session.created', 'ses_1');
  add('proposal.created', 'prp_3', ['bnd_2', 'ses_1']);
  add('session.revoked', 'ses_1', ['prp_1']);
});
after(() => f.cleanup());

const subjects = (entries: ReadonlyArray<{ subjectId: string }>): string[] => entries.map((e) => e.subjectId);

describe('ledger lineage and impact', () => {
  test('lineage of a decision walks back to its proposal, bundles and documents', () => {
    const graph = ledger.lineage('dec_1');
    assert.equal(graph.truncated, false);
    assert.deepEqual(subjects(graph.entries), ['doc_a', 'doc_b', 'bnd_1', 'prp_1', 'dec_1']);
    assert.deepEqual(Object.keys(graph.byKind).sort(), ['bundle.sealed', 'decision.made', 'document.ingested', 'proposal.created']);
    assert.deepEqual(subjects(graph.byKind['document.ingested'] ?? []), ['doc_a', 'doc_b']);
  });

  test('lineage leaves out events about an input that happened after the record', () => {
    const graph = ledger.lineage('dec_1');
    assert.equal(graph.entries.some((e) => e.kind === 'document.revoked'), false);
  });

  test('lineage of a transition reaches its warrant, decision, proposal and evidence', () => {
    const graph = ledger.lineage('trn_1');
    assert.deepEqual(subjects(graph.entries), ['doc_a', 'doc_b', 'bnd_1', 'prp_1', 'dec_1', 'wrt_1', 'trn_1']);
  });

  test('impact of a document reaches every bundle, proposal, decision, approval, warrant and transition it informed', () => {
    const graph = ledger.impact('doc_a');
    assert.deepEqual(subjects(graph.byKind['decision.made'] ?? []), ['dec_1']);
    assert.deepEqual(subjects(graph.byKind['transition.executed'] ?? []), ['trn_1']);
    assert.deepEqual(subjects(graph.byKind['approval.granted'] ?? []), ['apr_1']);
    assert.deepEqual(subjects(graph.byKind['warrant.issued'] ?? []), ['wrt_1']);
    assert.deepEqual(subjects(graph.byKind['bundle.sealed'] ?? []), ['bnd_1', 'bnd_other']);
    assert.equal(subjects(graph.entries).includes('dec_2'), false);
    assert.equal(subjects(graph.entries).includes('doc_b'), false);
  });

  test('impact includes an event that acted on an informed record without following that record’s other links', () => {
    const graph = ledger.impact('doc_a');
    assert.deepEqual(subjects(graph.byKind['session.revoked'] ?? []), ['ses_1']);
    assert.equal(subjects(graph.entries).includes('prp_3'), false);
    assert.equal(graph.entries.some((e) => e.kind === 'session.created'), false);
  });

  test('impact of a document cited nowhere is only its own entries', () => {
    assert.deepEqual(subjects(ledger.impact('doc_d').entries), ['doc_d']);
    assert.deepEqual(ledger.impact('doc_unknown').entries, []);
  });

  test('impact and lineage can be kept inside one tenant', () => {
    const graph = ledger.impact('doc_a', { tenant: 'acme' });
    assert.deepEqual(subjects(graph.byKind['bundle.sealed'] ?? []), ['bnd_1']);
    assert.deepEqual(ledger.lineage('dec_1', { tenant: 'globex' }).entries, []);
  });

  test("a tenant's walk passes the home-wide policy set entries, and no other entry without a tenant", () => {
    const g = makeFixture();
    try {
      g.ledger.append({ kind: 'policy_set.activated', subjectId: 'policy_set:sha256:x', tenant: null, body: null });
      g.ledger.append({ kind: 'keyring.rotated', subjectId: 'keyring:warrant', tenant: null, body: null });
      g.ledger.append({ kind: 'decision.made', subjectId: 'dec_9', tenant: 'acme', refs: ['policy_set:sha256:x', 'keyring:warrant'], body: null });
      const kinds = g.ledger.lineage('dec_9', { tenant: 'acme' }).entries.map((e) => e.kind);
      assert.deepEqual(kinds, ['policy_set.activated', 'decision.made']);
      assert.deepEqual(g.ledger.lineage('keyring:warrant', { tenant: 'acme' }).entries, []);
      assert.deepEqual(subjects(g.ledger.impact('policy_set:sha256:x', { tenant: 'globex' }).entries), ['policy_set:sha256:x']);
    } finally {
      g.cleanup();
    }
  });

  test('a walk stops at maxEntries and says so', () => {
    const graph = ledger.impact('doc_a', { maxEntries: 3 });
    assert.equal(graph.truncated, true);
    assert.equal(graph.entries.length, 3);
  });

  test('walks terminate on cycles in refs', () => {
    const g = makeFixture();
    try {
      g.ledger.append({ kind: 'thing.made', subjectId: 'x', refs: ['y'], body: null });
      g.ledger.append({ kind: 'thing.made', subjectId: 'y', refs: ['x'], body: null });
      g.ledger.append({ kind: 'thing.made', subjectId: 'x', refs: ['y'], body: null });
      assert.deepEqual(subjects(g.ledger.lineage('x').entries), ['x', 'y', 'x']);
      assert.deepEqual(subjects(g.ledger.impact('x').entries), ['x', 'y', 'x']);
    } finally {
      g.cleanup();
    }
  });
});
