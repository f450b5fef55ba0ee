// Per-word score lists: whenever they answer, they give FTS5's own ranking and scores (bit
// for bit); a write to the index retires every list; large lists come from the worker thread
// only once the index is quiet, and a search meanwhile is told to use FTS5 (null).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store/index.js';
import { retrievalMigrations } from '../../src/retrieval/schema.js';
import { DEFAULT_COLUMN_WEIGHTS, dfOf, ftsQueryOf, queryTerms, termStatsOf, type ColumnWeights } from '../../src/retrieval/lexical.js';
import { createTermLists, type TermLists } from '../../src/retrieval/term-lists.js';
import { noteSearchableWrite } from '../../src/retrieval/generation.js';

const dir = mkdtempSync(join(tmpdir(), 'writ-'));
let store: Store;
const ROWS = 4000;
const VOCAB = Array.from({ length: 2000 }, (_, i) => `w${i.toString(36)}x`);
let seed = 5;
const rand = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 2 ** 31;
// Zipf-like word choice: a few words are in most rows, most words are rare.
const word = (): string => VOCAB[Math.min(VOCAB.length - 1, Math.floor(VOCAB.length ** rand()) - 1)] as string;
const text = (n: number): string => Array.from({ length: n }, word).join(' ');
let generation = 1;
const open: TermLists[] = [];

function lists(options: Partial<Parameters<typeof createTermLists>[0]> = {}): TermLists {
  const l = createTermLists({ maxBytes: 64 * 2 ** 20, dbPath: join(dir, 'writ.db'), minRows: 0, inlineMaxRows: ROWS * 2, quietMs: 0, ...options });
  open.push(l);
  return l;
}

function plainTop(terms: readonly string[], limit: number, w: ColumnWeights = DEFAULT_COLUMN_WEIGHTS): Array<{ seq: number; score: number }> {
  return store.db
    .prepare('SELECT rowid AS seq, -bm25(chunks_fts, ?, ?, ?) AS score FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY score DESC, seq ASC LIMIT ?')
    .all(w.title, w.heading, w.body, ftsQueryOf(terms), limit) as Array<{ seq: number; score: number }>;
}

function listsTop(l: TermLists, terms: readonly string[], limit: number, w: ColumnWeights = DEFAULT_COLUMN_WEIGHTS): Array<{ seq: number; score: number }> | null {
  const stats = termStatsOf(store.db, generation, rowCount());
  const q = l.listsFor(store.db, terms, w, (t) => dfOf(store.db, stats, t), stats.rows);
  return q === null ? null : l.topK(q, limit);
}

const rowCount = (): number => store.db.prepare("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'w1x OR w2x OR w3x OR w4x OR w5x'").pluck().get() as number;

before(() => {
  store = openStore({ path: join(dir, 'writ.db'), migrations: retrievalMigrations });
  const ins = store.db.prepare('INSERT INTO chunks_fts (rowid, title, heading, body) VALUES (?, ?, ?, ?)');
  store.transaction(() => {
    for (let i = 1; i <= ROWS; i++) ins.run(i, i % 7 === 0 ? text(3) : '', i % 5 === 0 ? text(2) : '', text(20 + Math.floor(rand() * 60)));
  });
});

after(() => {
  for (const l of open) l.close();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('term score lists', () => {
  test('rank exactly as FTS5: same scores bit for bit at every rank, same rows up to ties', () => {
    const l = lists();
    for (const w of [DEFAULT_COLUMN_WEIGHTS, { title: 2, heading: 0.25, body: 1 }]) {
      for (let q = 0; q < 150; q++) {
        const terms = queryTerms(text(1 + Math.floor(rand() * 5)));
        if (terms.length === 0) continue;
        const limit = [10, 40, 300][q % 3] as number;
        const got = listsTop(l, terms, limit, w);
        assert.ok(got !== null, 'every list is small enough to read inline here');
        const want = plainTop(terms, limit, w);
        assert.deepEqual(got.map((h) => h.score), want.map((h) => h.score), `query ${terms.join(' ')}`);
        // Rows with a score not tied with the last one are the same rows.
        const last = (want[want.length - 1] as { score: number }).score;
        assert.deepEqual(new Set(got.filter((h) => h.score !== last).map((h) => h.seq)), new Set(want.filter((h) => h.score !== last).map((h) => h.seq)));
      }
    }
    assert.ok(l.stats.served >= 290 && l.stats.fellBack === 0, JSON.stringify(l.stats));
  });

  test('rank the same by merging the lists when the row-indexed accumulator may not take the memory', () => {
    const l = lists({ directBytes: 0 });
    for (let q = 0; q < 60; q++) {
      const terms = queryTerms(text(1 + Math.floor(rand() * 5)));
      if (terms.length === 0) continue;
      const got = listsTop(l, terms, 40);
      assert.deepEqual(got?.map((h) => h.score), plainTop(terms, 40).map((h) => h.score), `query ${terms.join(' ')}`);
    }
  });

  test('give the scores of given rows as FTS5 does, and none for rows that do not match', () => {
    const l = lists();
    const stats = termStatsOf(store.db, generation, rowCount());
    for (let q = 0; q < 50; q++) {
      const terms = queryTerms(text(2 + Math.floor(rand() * 3)));
      if (terms.length === 0) continue;
      const seqs = Array.from({ length: 100 }, () => 1 + Math.floor(rand() * ROWS));
      const ql = l.listsFor(store.db, terms, DEFAULT_COLUMN_WEIGHTS, (t) => dfOf(store.db, stats, t), stats.rows);
      assert.ok(ql !== null);
      const got = l.scoresOf(ql, seqs);
      const want = new Map(
        (store.db
          .prepare('SELECT rowid, -bm25(chunks_fts, 0.5, 0.5, 1) FROM chunks_fts WHERE chunks_fts MATCH ? AND +rowid IN (SELECT value FROM json_each(?))')
          .raw()
          .all(ftsQueryOf(terms), JSON.stringify(seqs)) as Array<[number, number]>),
      );
      assert.deepEqual(got, want);
    }
  });

  test('a write retires every list: new and deleted rows count at once', () => {
    const l = lists();
    const terms = [VOCAB[40] as string, VOCAB[300] as string];
    const before = listsTop(l, terms, 10);
    assert.deepEqual(before?.map((h) => h.score), plainTop(terms, 10).map((h) => h.score));
    // A row made of the query's words outranks every other; then it is deleted again.
    store.transaction(() => store.db.prepare('INSERT INTO chunks_fts (rowid, title, heading, body) VALUES (?, ?, ?, ?)').run(ROWS + 1, '', '', `${terms[0]} ${terms[1]} ${terms[1]}`));
    // Ingest and revoke note their writes; so does this test, which writes FTS rows itself.
    noteSearchableWrite(store.db);
    generation++;
    const withRow = listsTop(l, terms, 10);
    assert.equal(withRow?.[0]?.seq, ROWS + 1);
    assert.deepEqual(withRow?.map((h) => h.score), plainTop(terms, 10).map((h) => h.score));
    store.transaction(() => store.db.prepare('DELETE FROM chunks_fts WHERE rowid = ?').run(ROWS + 1));
    noteSearchableWrite(store.db);
    generation++;
    const without = listsTop(l, terms, 10);
    assert.ok(without?.every((h) => h.seq !== ROWS + 1));
    assert.deepEqual(without?.map((h) => h.score), plainTop(terms, 10).map((h) => h.score));
  });

  test('a write by another connection (another process) retires the lists too', () => {
    const l = lists();
    const terms = [VOCAB[60] as string, VOCAB[700] as string];
    assert.ok(listsTop(l, terms, 10) !== null);
    const other = openStore({ path: join(dir, 'writ.db'), migrations: retrievalMigrations });
    try {
      other.transaction(() => other.db.prepare('INSERT INTO chunks_fts (rowid, title, heading, body) VALUES (?, ?, ?, ?)').run(ROWS + 3, '', '', `${terms[1]} ${terms[1]} ${terms[0]}`));
    } finally {
      other.close();
    }
    generation++;
    const got = listsTop(l, terms, 10);
    assert.equal(got?.[0]?.seq, ROWS + 3);
    assert.deepEqual(got?.map((h) => h.score), plainTop(terms, 10).map((h) => h.score));
  });

  test('large lists come from the worker once the index is quiet; until then the caller uses FTS5', async () => {
    const l = lists({ inlineMaxRows: 50, quietMs: 150 });
    const common = [VOCAB[0] as string, VOCAB[2] as string, VOCAB[900] as string];
    const t0 = Date.now();
    assert.equal(listsTop(l, common, 20), null);
    assert.equal(l.stats.fellBack, 1);
    await l.idle();
    assert.ok(Date.now() - t0 >= 140, 'the worker waited for the quiet time');
    assert.ok(l.stats.readByWorker >= 2, JSON.stringify(l.stats));
    const got = listsTop(l, common, 20);
    assert.deepEqual(got?.map((h) => h.score), plainTop(common, 20).map((h) => h.score));
    // A write retires the worker's lists too: FTS5 again until they are read anew.
    store.transaction(() => store.db.prepare('INSERT INTO chunks_fts (rowid, title, heading, body) VALUES (?, ?, ?, ?)').run(ROWS + 2, '', '', `${common[0]} ${common[1]}`));
    noteSearchableWrite(store.db);
    generation++;
    assert.equal(listsTop(l, common, 20), null);
    await l.idle();
    const again = listsTop(l, common, 20);
    assert.deepEqual(again?.map((h) => h.score), plainTop(common, 20).map((h) => h.score));
    assert.ok(again?.some((h) => h.seq === ROWS + 2) || plainTop(common, 20).every((h) => h.seq !== ROWS + 2));
  });

  test('once the index is quiet, the worker reads ahead every large list, so words never asked for are served at once', async () => {
    const l = lists({ inlineMaxRows: 50, quietMs: 50 });
    const rare = queryTerms(text(1)).filter((t) => dfOf(store.db, termStatsOf(store.db, generation, rowCount()), t) <= 50);
    const first = listsTop(l, rare.length > 0 ? rare : [VOCAB[1999] as string], 10);
    assert.ok(first !== null, 'a rare word is read inline');
    await l.idle();
    assert.ok(l.stats.readByWorker > 0, JSON.stringify(l.stats));
    // Common words no query asked for: served from lists, without falling back.
    const fell = l.stats.fellBack;
    const common = [VOCAB[1] as string, VOCAB[3] as string, VOCAB[8] as string];
    const got = listsTop(l, common, 15);
    assert.equal(l.stats.fellBack, fell);
    assert.deepEqual(got?.map((h) => h.score), plainTop(common, 15).map((h) => h.score));
  });

  test('words that make the same token share one list', () => {
    const l = lists();
    assert.ok(listsTop(l, ['studies'], 5) !== null && listsTop(l, ['study'], 5) !== null);
    assert.equal(l.stats.readInline, 1);
  });

  test('stay within their memory budget, and are off with a budget of 0 or a small index', () => {
    const budget = 200_000;
    const l = lists({ maxBytes: budget });
    for (let q = 0; q < 100; q++) {
      const terms = queryTerms(text(3));
      if (terms.length > 0) listsTop(l, terms, 10);
      assert.ok(l.stats.bytes <= budget, `${l.stats.bytes} bytes`);
    }
    assert.equal(listsTop(lists({ maxBytes: 0 }), [VOCAB[5] as string], 10), null);
    assert.equal(listsTop(lists({ minRows: ROWS * 10 }), [VOCAB[5] as string], 10), null);
  });
});
