// Guarantee 3 inside search: no result is ever unreadable by the asker or revoked (a
// fast-check property over random tenants, readers, documents and queries), and recall
// under a 0.1%-selective principal matches a brute-force scan of what it may read.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { startChroma, type ChromaServer } from '../../src/retrieval/chroma-server.js';
import { createEmbedder } from '../../src/retrieval/embedder.js';
import type { Embedder } from '../../src/retrieval/embedder-types.js';
import { openRetrievalStack, type RetrievalStack } from '../../scripts/retrieval-stack.js';

const dir = mkdtempSync(join(tmpdir(), 'writ-'));
let chroma: ChromaServer;
let embedder: Embedder;
let stack: RetrievalStack;

const WORDS = (
  'river mountain invoice refund parcel engine harbour forest ledger policy account garden winter summer ' +
  'doctor teacher market bridge castle rocket planet ocean desert island village station window kitchen ' +
  'letter camera guitar pencil coffee bread cheese apple orange banana carrot potato tomato onion pepper'
).split(' ');

before(async () => {
  chroma = await startChroma({ dataDir: join(dir, 'chroma') });
  embedder = await createEmbedder({ model: 'bundled' });
  stack = await openRetrievalStack({ chroma, embedder, home: mkdtempSync(join(dir, 'home-')), config: { ratePerSecond: 1e6, rateBurst: 1e6, maxK: 100 } });
});

after(async () => {
  await stack?.close();
  await embedder?.close();
  await chroma?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('permissions inside search', () => {
  test('no result is ever unreadable by the asker, and revoked documents never appear', async () => {
    const indexPath = stack.withConfig({ ratePerSecond: 1e6, rateBurst: 1e6, exactScanMaxChunks: 1 });
    // The index path again with lexical ranking from score lists (on any index size).
    const withLists = stack.withConfig({ ratePerSecond: 1e6, rateBurst: 1e6, exactScanMaxChunks: 1, termLists: { minRows: 0, inlineMaxRows: 1e9 } });
    const readerArb = fc.constantFrom('p1', 'p2', 'p3', 'group:g1', 'group:g2', '*');
    const docArb = fc.record({
      tenant: fc.constantFrom('t1', 't2'),
      readers: fc.uniqueArray(readerArb, { minLength: 1, maxLength: 3 }),
      words: fc.array(fc.constantFrom(...WORDS), { minLength: 3, maxLength: 12 }),
      revoked: fc.boolean(),
    });
    const principalArb = fc.record({
      id: fc.constantFrom('p1', 'p2', 'p3', 'p4'),
      tenant: fc.constantFrom('t1', 't2'),
      groups: fc.uniqueArray(fc.constantFrom('g1', 'g2'), { maxLength: 2 }),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(docArb, { minLength: 1, maxLength: 12 }),
        fc.array(fc.tuple(principalArb, fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 4 }), fc.constantFrom('hybrid', 'dense', 'lexical')), {
          minLength: 1,
          maxLength: 4,
        }),
        async (docs, queries) => {
          run++;
          // Each run gets its own tenants, so runs cannot see each other's documents.
          const tn = (t: string) => `r${run}-${t}`;
          const outcomes = await stack.retrieval.ingest(
            docs.map((d, i) => ({ tenant: tn(d.tenant), sourceUri: `mem://${i}`, text: d.words.join(' '), readers: d.readers })),
          );
          const model = new Map<string, { tenant: string; readers: string[]; revoked: boolean }>();
          for (const [i, d] of docs.entries()) {
            const o = outcomes[i]!;
            if (d.revoked) await stack.retrieval.revoke({ documentId: o.documentId });
            model.set(o.documentId, { tenant: tn(d.tenant), readers: d.readers, revoked: d.revoked });
          }
          for (const [p, words, mode] of queries) {
            const principal = { id: p.id, kind: 'user' as const, tenant: tn(p.tenant), groups: p.groups, roles: [], attributes: {} };
            const keys = new Set([p.id, ...p.groups.map((g) => `group:${g}`), '*']);
            for (const r of [stack.retrieval, indexPath, withLists]) {
              const out = await r.retrieve({ principal, query: words.join(' '), k: 10, mode });
              for (const res of out.results) {
                const m = model.get(res.documentId);
                assert.ok(m, 'result is a document of this run');
                assert.equal(m.tenant, principal.tenant, 'same tenant');
                assert.ok(m.readers.some((x) => keys.has(x)), 'asker is a reader');
                assert.equal(m.revoked, false, 'not revoked');
              }
            }
          }
        },
      ),
      { numRuns: 20 },
    );
  });

  test('under a 0.1%-selective principal, recall@10 against a brute-force scan of its readable chunks is at least 0.99', async () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = () => WORDS[Math.floor(rand() * WORDS.length)]!;
    const N = 4000;
    const docs = Array.from({ length: N }, (_, i) => ({
      tenant: 'big',
      sourceUri: `syn://${i}`,
      text: Array.from({ length: 8 }, pick).join(' '),
      // Every 1000th document (0.1%) is readable by `sel`; all are readable by `group:all`.
      readers: i % 1000 === 7 ? ['group:all', 'sel'] : ['group:all'],
    }));
    for (let i = 0; i < N; i += 2000) await stack.retrieval.ingest(docs.slice(i, i + 2000));
    const readable = docs.filter((d) => d.readers.includes('sel'));
    assert.equal(readable.length, 4);
    const sel = { id: 'sel', kind: 'agent' as const, tenant: 'big', groups: [], roles: [], attributes: {} };
    const all = { id: 'someone', kind: 'user' as const, tenant: 'big', groups: ['all'], roles: [], attributes: {} };
    const vecs = await embedder.embed(readable.map((d) => d.text));
    const index = stack.withConfig({ ratePerSecond: 1e6, rateBurst: 1e6, maxK: 100, exactScanMaxChunks: 1 });
    let recall = 0;
    let queries = 0;
    for (let q = 0; q < 10; q++) {
      const text = Array.from({ length: 3 }, pick).join(' ');
      const [qv] = await embedder.embed([text]);
      const brute = readable
        .map((d, i) => ({ uri: d.sourceUri, s: vecs[i]!.reduce((a, x, j) => a + x * qv![j]!, 0) }))
        .sort((a, b) => b.s - a.s)
        .slice(0, 10)
        .map((x) => x.uri);
      for (const r of [stack.retrieval, index]) {
        const out = await r.retrieve({ principal: sel, query: text, k: 10, mode: 'dense' });
        const got = new Set(out.results.map((x) => x.sourceUri));
        recall += brute.filter((u) => got.has(u)).length / brute.length;
        queries++;
        // Never fewer than k when k readable matches exist (here: all 4 are readable, k = 10).
        assert.equal(out.results.length, readable.length);
        assert.equal(out.truncated, false);
        const hybrid = await r.retrieve({ principal: sel, query: text, k: 4 });
        assert.equal(hybrid.results.length, 4);
      }
    }
    assert.ok(recall / queries >= 0.99, `recall ${recall / queries}`);
    // The broad principal goes through the ANN index and still gets k results.
    const broad = await index.retrieve({ principal: all, query: 'river mountain', k: 10 });
    assert.equal(broad.results.length, 10);
    assert.equal(broad.denseStrategy, 'index');
  });
});
