import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { documentText, evaluateRun, loadCollection, mrrAt, ndcgAt, recallAt, topKByCosine } from '../../src/retrieval/eval-metrics.js';

const judged = new Map([
  ['b', 1],
  ['d', 2],
  ['e', 1],
  ['x', 0],
]);
const ranked = ['a', 'b', 'c', 'd'];

function close(actual: number, expected: number): void {
  assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} ≠ ${expected}`);
}

describe('retrieval metrics', () => {
  test('nDCG@k uses gain 2^score − 1 and the ideal ordering of all relevant documents', () => {
    const dcg = 1 / Math.log2(3) + 3 / Math.log2(5);
    const idcg = 3 + 1 / Math.log2(3) + 1 / Math.log2(4);
    close(ndcgAt(ranked, judged, 10), dcg / idcg);
    close(ndcgAt(ranked, judged, 2), 1 / Math.log2(3) / (3 + 1 / Math.log2(3)));
    close(ndcgAt(ranked, judged, 1), 0);
    close(ndcgAt(['d', 'b', 'e'], judged, 10), 1);
  });

  test('recall@k counts relevant documents (score > 0) found in the top k', () => {
    close(recallAt(ranked, judged, 10), 2 / 3);
    close(recallAt(ranked, judged, 2), 1 / 3);
    close(recallAt(['x'], judged, 10), 0);
  });

  test('MRR@k is the reciprocal rank of the first relevant document within k', () => {
    close(mrrAt(ranked, judged, 10), 1 / 2);
    close(mrrAt(ranked, judged, 1), 0);
    close(mrrAt(['x', 'c', 'e'], judged, 10), 1 / 3);
  });

  test('averages only over queries with at least one relevant document; a missing run scores 0', () => {
    const qrels = new Map([
      ['q1', judged],
      ['q2', new Map([['a', 0]])],
      ['q3', new Map([['z', 1]])],
    ]);
    const scores = evaluateRun(new Map([['q1', ranked], ['q2', ['a']]]), qrels, 10);
    assert.equal(scores.queries, 2);
    close(scores.recall, 2 / 3 / 2);
    close(scores.mrr, 1 / 4);
  });

  test('topKByCosine returns the best rows first', () => {
    const docs = [Float32Array.of(1, 0), Float32Array.of(0, 1), Float32Array.of(0.6, 0.8)];
    assert.deepEqual(topKByCosine(Float32Array.of(0, 1), docs, 2), [1, 2]);
    assert.deepEqual(topKByCosine(Float32Array.of(1, 0), docs, 5), [0, 2, 1]);
  });
});

describe('collection loading', () => {
  const dir = mkdtempSync(join(tmpdir(), 'writ-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('reads corpus, queries and qrels (header skipped) in the shared eval format', () => {
    writeFileSync(join(dir, 'corpus.jsonl'), '{"_id": "d1", "title": "T", "text": "body", "metadata": {}}\n{"_id": 2, "title": "", "text": "two"}\n');
    writeFileSync(join(dir, 'queries.jsonl'), '{"_id": "q1", "text": "question"}\n');
    writeFileSync(join(dir, 'qrels.tsv'), 'query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\t2\t0\n');
    const c = loadCollection(dir);
    assert.equal(c.corpus.length, 2);
    assert.equal(documentText(c.corpus[0]!), 'T body');
    assert.equal(c.corpus[1]!.id, '2');
    assert.deepEqual(c.queries, [{ id: 'q1', text: 'question' }]);
    assert.deepEqual([...c.qrels.get('q1')!], [['d1', 2], ['2', 0]]);
  });
});
