// Lexical pruning (MaxScore over FTS5's BM25): whenever it answers, it returns exactly the
// plain FTS5 ranking; when it cannot prove that, it declines (null) and the plain query runs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store/index.js';
import { retrievalMigrations } from '../../src/retrieval/schema.js';
import { DEFAULT_COLUMN_WEIGHTS, ftsQueryOf, prunedTopK, queryTerms, termStatsOf } from '../../src/retrieval/lexical.js';

const dir = mkdtempSync(join(tmpdir(), 'writ-'));
let store: Store;
const ROWS = 6000;
const VOCAB = Array.from({ length: 3000 }, (_, i) => `w${i.toString(36)}x`);
let seed = 11;
const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
// Zipf-like word choice: a few words are in most rows, most words are rare.
const word = (): string => VOCAB[Math.min(VOCAB.length - 1, Math.floor(VOCAB.length ** rand()) - 1)] as string;
const text = (n: number): string => Array.from({ length: n }, word).join(' ');

before(() => {
  store = openStore({ path: join(dir, 'writ.db'), migrations: retrievalMigrations });
  const ins = store.db.prepare('INSERT INTO chunks_fts (rowid, title, heading, body) VALUES (?, ?, ?, ?)');
  store.transaction(() => {
    for (let i = 1; i <= ROWS; i++) ins.run(i, i % 7 === 0 ? text(3) : '', '', text(20 + Math.floor(rand() * 60)));
  });
});

after(() => {
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('lexical pruning', () => {
  test('returns the same rows and scores as the plain FTS5 ranking, or declines', () => {
    const plain = store.db.prepare('SELECT rowid AS seq, -bm25(chunks_fts, ?, ?, ?) AS score FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY score DESC, seq ASC LIMIT ?');
    const w = DEFAULT_COLUMN_WEIGHTS;
    let answered = 0;
    for (let q = 0; q < 200; q++) {
      const terms = queryTerms(text(2 + Math.floor(rand() * 4)));
      const limit = [10, 40, 80][q % 3] as number;
      const stats = termStatsOf(store.db, 1, ROWS);
      const pruned = prunedTopK(store.db, terms, limit, w, stats, undefined, 0);
      if (pruned === null) continue;
      answered++;
      const want = plain.all(w.title, w.heading, w.body, ftsQueryOf(terms), limit) as Array<{ seq: number; score: number }>;
      assert.equal(pruned.length, want.length);
      for (let i = 0; i < want.length; i++) {
        // Equal scores may come in either order; the score at each rank must match.
        assert.ok(Math.abs((pruned[i] as { score: number }).score - (want[i] as { score: number }).score) < 1e-9, `query ${terms.join(' ')} rank ${i + 1}`);
      }
      const wantSet = new Set(want.filter((h) => h.score > (want[want.length - 1] as { score: number }).score + 1e-9).map((h) => h.seq));
      for (const s of wantSet) assert.ok(pruned.some((h) => h.seq === s), `query ${terms.join(' ')} misses row ${s}`);
    }
    // The test must exercise the pruned path, not only its refusals.
    assert.ok(answered >= 20, `pruning answered only ${answered} of 200 queries`);
  });

  test('restricted to a set of rows, it ranks only those rows', () => {
    const allowed = Array.from({ length: 2000 }, (_, i) => i * 3 + 1);
    const allowedSet = new Set(allowed);
    const stats = termStatsOf(store.db, 1, ROWS);
    let answered = 0;
    for (let q = 0; q < 100; q++) {
      const terms = queryTerms(text(2 + Math.floor(rand() * 4)));
      const pruned = prunedTopK(store.db, terms, 10, DEFAULT_COLUMN_WEIGHTS, stats, JSON.stringify(allowed), 0);
      if (pruned === null) continue;
      answered++;
      for (const h of pruned) assert.ok(allowedSet.has(h.seq));
    }
    assert.ok(answered > 0);
  });

  test('declines below the row threshold and for single-term queries', () => {
    const stats = termStatsOf(store.db, 1, ROWS);
    assert.equal(prunedTopK(store.db, [VOCAB[0] as string, VOCAB[500] as string], 10, DEFAULT_COLUMN_WEIGHTS, stats), null);
    assert.equal(prunedTopK(store.db, [VOCAB[500] as string], 10, DEFAULT_COLUMN_WEIGHTS, stats, undefined, 0), null);
  });
});
