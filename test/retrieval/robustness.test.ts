// Integration tests of retrieval under failure and concurrency: a reindex that fails midway,
// a rebuild after a model change, concurrent ingests of one source, a watcher whose change
// fails to load, a query with no word. Real SQLite, ledger, one Chroma child, the bundled model.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isWritError } from '../../src/core/index.js';
import { startChroma, type ChromaServer } from '../../src/retrieval/chroma-server.js';
import { createEmbedder } from '../../src/retrieval/embedder.js';
import type { Embedder } from '../../src/retrieval/embedder-types.js';
import { createRetrieval, openVectorIndex, type Retrieval, type VectorIndex, type VectorIndexPort } from '../../src/retrieval/index.js';
import { openRetrievalStack, type RetrievalStack } from '../../scripts/retrieval-stack.js';

const dir = mkdtempSync(join(tmpdir(), 'writ-robust-'));
let chroma: ChromaServer;
let embedder: Embedder;
const stacks: RetrievalStack[] = [];
const extra: Retrieval[] = [];

const ana = { id: 'ana', kind: 'user' as const, tenant: 'acme', groups: [], roles: [], attributes: {} };
const doc = (sourceUri: string, text: string) => ({ tenant: 'acme', sourceUri, text, readers: ['*'] });

async function stack(): Promise<RetrievalStack> {
  const s = await openRetrievalStack({ chroma, embedder, home: mkdtempSync(join(dir, 'home-')), config: { ratePerSecond: 1000, rateBurst: 1000 } });
  stacks.push(s);
  return s;
}

/** A retrieval over the stack's store and ledger with other parts swapped in. */
function retrievalOver(s: RetrievalStack, parts: { embedder?: Embedder; vectorIndex?: VectorIndexPort; reopenVectorIndex?: () => Promise<VectorIndexPort> }): Retrieval {
  const r = createRetrieval({ store: s.store, ledger: s.ledger, embedder: parts.embedder ?? embedder, vectorIndex: parts.vectorIndex ?? s.vectorIndex, ...(parts.reopenVectorIndex ? { reopenVectorIndex: parts.reopenVectorIndex } : {}), config: { ratePerSecond: 1000, rateBurst: 1000 } });
  extra.push(r);
  return r;
}

const count = (s: RetrievalStack, sql: string, ...params: unknown[]): number => (s.store.db.prepare(sql).get(...params) as { n: number }).n;

before(async () => {
  chroma = await startChroma({ dataDir: join(dir, 'chroma') });
  embedder = await createEmbedder({ model: 'bundled' });
});

after(async () => {
  for (const r of extra) r.close();
  for (const s of stacks) await s.close();
  await embedder?.close();
  await chroma?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('reindex', () => {
  test('a reindex that fails after dropping the collection leaves every chunk pending, and the next sync restores the index', async () => {
    const s = await stack();
    const open = () => openVectorIndex({ server: chroma, collection: s.vectorIndex.collection, modelId: embedder.modelId, dimension: embedder.dimension });
    let current: VectorIndex = s.vectorIndex;
    let failReopen = true;
    const port: VectorIndexPort = {
      upsert: (rows) => current.upsert(rows),
      query: (q) => current.query(q),
      delete: (ids) => current.delete(ids),
      count: () => current.count(),
      drop: () => current.drop(),
    };
    const r = retrievalOver(s, {
      vectorIndex: port,
      reopenVectorIndex: async () => {
        if (failReopen) throw new Error('chroma restarting');
        current = await open();
        return port;
      },
    });
    await r.ingest(Array.from({ length: 20 }, (_, i) => doc(`kb://river/${i}`, `river mountain forest valley ${i}`)));
    assert.equal(await current.count(), 20);

    await assert.rejects(r.reindex(), /chroma restarting/);
    current = await open();
    assert.equal(await current.count(), 0, 'the collection was dropped');
    assert.equal(count(s, 'SELECT count(*) AS n FROM chunks WHERE active = 1 AND in_vector_index = 1'), 0, 'SQLite no longer claims the index holds them');

    failReopen = false;
    assert.deepEqual(await r.syncVectors(), { upserted: 20, deleted: 0 });
    assert.equal(await current.count(), 20);
  });

  test('after a model change only a re-embedding reindex may replace the collection, and it does', async () => {
    const s = await stack();
    await s.retrieval.ingest([doc('kb://glacier', 'Glacier melt measurements from the northern station.'), doc('kb://volcano', 'Volcano ash forecasts for the airport.')]);
    // The collection as an older model left it.
    const collection = `old-${Math.random().toString(36).slice(2, 10)}`;
    const old = await openVectorIndex({ server: chroma, collection, modelId: 'older-model@000000000000', dimension: embedder.dimension });
    await old.upsert([{ id: 'stale', vector: Float32Array.from({ length: embedder.dimension }, (_, i) => (i === 0 ? 1 : 0)) }]);
    const strict = () => openVectorIndex({ server: chroma, collection, modelId: embedder.modelId, dimension: embedder.dimension });
    await assert.rejects(strict(), (err) => isWritError(err, 'RETRIEVAL_INDEX_MISMATCH') && /writ reindex --reembed/.test(err.message));

    const forRebuild = await openVectorIndex({ server: chroma, collection, modelId: embedder.modelId, dimension: embedder.dimension, onMismatch: 'rebuild' });
    await assert.rejects(forRebuild.query({ vector: new Float32Array(embedder.dimension).fill(0.1), k: 1 }), (err) => isWritError(err, 'RETRIEVAL_INDEX_MISMATCH'));
    const r = retrievalOver(s, { vectorIndex: forRebuild, reopenVectorIndex: strict });

    // Without re-embedding, SQLite's vectors are the old model's too: refused, nothing dropped.
    await assert.rejects(r.reindex(), (err) => isWritError(err, 'RETRIEVAL_INDEX_MISMATCH'));
    assert.equal(await old.count(), 1);

    assert.deepEqual(await r.reindex({ reembed: true }), { chunks: 2 });
    const rebuilt = await strict();
    assert.equal(await rebuilt.count(), 2);
    const hits = await rebuilt.query({ vector: (await embedder.embed(['volcano ash']))[0]!, k: 1 });
    assert.equal(count(s, 'SELECT count(*) AS n FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id = ? AND d.source_uri = ?', hits[0]?.id, 'kb://volcano'), 1);
  });
});

describe('concurrent ingests', () => {
  test('two ingests of one new source both succeed: one creates it, the other finds it unchanged', async () => {
    const s = await stack();
    const outs = await Promise.all([s.retrieval.ingest([doc('kb://same', 'the refund policy')]), s.retrieval.ingest([doc('kb://same', 'the refund policy')])]);
    assert.deepEqual(outs.map((o) => o[0]?.status).sort(), ['created', 'unchanged']);
    assert.equal(count(s, "SELECT count(*) AS n FROM documents WHERE source_uri = 'kb://same'"), 1);
  });

  test('two concurrent updates of one source become consecutive versions, and the last one is current', async () => {
    const s = await stack();
    await s.retrieval.ingest([doc('kb://same', 'version one')]);
    const [a, b] = await Promise.all([s.retrieval.ingest([doc('kb://same', 'version two A')]), s.retrieval.ingest([doc('kb://same', 'version two B')])]);
    assert.deepEqual([a[0]?.version, b[0]?.version].sort(), [2, 3]);
    const current = s.store.db.prepare("SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.source_uri = 'kb://same' AND c.active = 1").all() as Array<{ text: string }>;
    assert.deepEqual(current.map((c) => c.text), [a[0]!.version === 3 ? 'version two A' : 'version two B']);
    assert.equal(count(s, 'SELECT count(*) AS n FROM document_versions'), 3);
  });

  test('a batch whose document another ingest changed while it embedded decides again, and keeps its other documents', async () => {
    const s = await stack();
    await s.retrieval.ingest([doc('kb://same', 'version one')]);
    // The batch's embedding waits at the gate until the other ingest has committed.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const slow: Embedder = { modelId: embedder.modelId, dimension: embedder.dimension, embed: async (texts) => (await gate, embedder.embed(texts)), close: async () => undefined } as Embedder;
    const batch = retrievalOver(s, { embedder: slow }).ingest([doc('kb://same', 'version one'), doc('kb://other', 'an unrelated document')]);
    const other = await s.retrieval.ingest([doc('kb://same', 'version two')]);
    assert.equal(other[0]?.version, 2);
    open();
    const outs = await batch;
    // `kb://same` was unchanged when the batch read it, then changed: the batch's text comes back as version 3.
    assert.deepEqual(outs.map((o) => [o.sourceUri, o.status, o.version]), [['kb://same', 'updated', 3], ['kb://other', 'created', 1]]);
    const active = s.store.db.prepare("SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.source_uri = 'kb://same' AND c.active = 1").all() as Array<{ text: string }>;
    assert.deepEqual(active.map((c) => c.text), ['version one']);
  });
});

describe('watch', () => {
  test('a change that fails to load is reported with its path and typed error, and later changes are still applied', async () => {
    const s = await stack();
    const root = mkdtempSync(join(dir, 'watch-'));
    mkdirSync(join(root, 'kb'));
    const faq = join(root, 'kb', 'faq.jsonl');
    writeFileSync(faq, '{"id":"1","text":"refunds take five days"}\n');
    const errors: Array<{ error: unknown; path: string }> = [];
    const w = s.retrieval.watch(root, { tenant: 'acme', readers: ['*'], onError: (error, path) => errors.push({ error, path }) });
    try {
      await w.ready;
      writeFileSync(faq, '{"id":"1","text":"refunds take ten days"}\n{"id":"2", BROKEN\n');
      for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.path, faq);
      assert.ok(isWritError(errors[0]!.error, 'RETRIEVAL_LOAD_FAILED'));

      writeFileSync(join(root, 'kb', 'new.md'), '# Ferries\n\nThe harbour ferry leaves at noon.');
      const uri = pathToFileURL(join(root, 'kb', 'new.md')).href;
      for (let i = 0; i < 100 && count(s, 'SELECT count(*) AS n FROM documents WHERE source_uri = ?', uri) === 0; i++) await new Promise((r) => setTimeout(r, 100));
      await w.idle();
      assert.equal(count(s, 'SELECT count(*) AS n FROM documents WHERE source_uri = ?', uri), 1);
    } finally {
      await w.close();
    }
  });
});

describe('queries', () => {
  test('a query with no letter or digit is invalid input and records no bundle', async () => {
    const s = await stack();
    await s.retrieval.ingest([doc('kb://a', 'refunds take five days')]);
    await assert.rejects(s.retrieval.retrieve({ principal: ana, query: '   ', k: 3 }), (err) => isWritError(err, 'INVALID_INPUT'));
    assert.equal(count(s, 'SELECT count(*) AS n FROM bundles'), 0);
  });
});
