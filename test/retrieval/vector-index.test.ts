import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChromaClient } from 'chromadb';
import { isWritError } from '../../src/core/index.js';
import { pickFreePort, startChroma, type ChromaServer } from '../../src/retrieval/chroma-server.js';
import { openVectorIndex, type VectorIndex, type VectorRow } from '../../src/retrieval/vector-index.js';

const f32 = (...xs: number[]): Float32Array => new Float32Array(xs);

/** A deterministic random unit vector. */
function unitVectors(n: number, dim: number, seed: number): Float32Array[] {
  let s = seed >>> 0;
  const rnd = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  return Array.from({ length: n }, () => {
    const v = new Float32Array(dim);
    let norm = 0;
    for (let i = 0; i < dim; i++) {
      v[i] = rnd();
      norm += (v[i] as number) ** 2;
    }
    norm = Math.sqrt(norm);
    for (let i = 0; i < dim; i++) v[i] = (v[i] as number) / norm;
    return v;
  });
}

const dot = (a: Float32Array, b: Float32Array): number => a.reduce((sum, x, i) => sum + x * (b[i] as number), 0);

describe('vector index over chroma', () => {
  let dir: string;
  let chroma: ChromaServer;
  let counter = 0;
  const open = (dimension = 4, modelId = 'test-model'): Promise<VectorIndex> =>
    openVectorIndex({ server: chroma, collection: `vi-${++counter}`, modelId, dimension });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'writ-'));
    chroma = await startChroma({ dataDir: join(dir, 'chroma') });
  });
  after(async () => {
    await chroma?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('creates the collection in the cosine space with model id and dimension recorded, and reopens it', async () => {
    const index = await openVectorIndex({ url: chroma.url, collection: 'recorded', modelId: 'm-1', dimension: 4 });
    const raw = await new ChromaClient({ host: '127.0.0.1', port: Number(new URL(chroma.url).port) }).getCollection({ name: 'recorded' });
    assert.deepEqual(raw.metadata, { modelId: 'm-1', dimension: 4, space: 'cosine' });
    assert.equal(raw.configuration.hnsw?.space, 'cosine');
    assert.equal(raw.configuration.hnsw?.ef_search, 400, 'a wider HNSW search than Chroma\'s default 100');
    assert.equal(index.maxBatchSize, 5461);
    const again = await openVectorIndex({ url: chroma.url, collection: 'recorded', modelId: 'm-1', dimension: 4, efSearch: 200 });
    assert.equal(await again.count(), 0);
    const reread = await new ChromaClient({ host: '127.0.0.1', port: Number(new URL(chroma.url).port) }).getCollection({ name: 'recorded' });
    assert.equal(reread.configuration.hnsw?.ef_search, 200, 'reopening with another efSearch records it');
  });

  test('refuses a collection recorded for another model or dimension', async () => {
    await openVectorIndex({ server: chroma, collection: 'mixed', modelId: 'model-a', dimension: 4 });
    for (const [modelId, dimension] of [['model-b', 4], ['model-a', 8]] as const) {
      await assert.rejects(openVectorIndex({ server: chroma, collection: 'mixed', modelId, dimension }), (err: unknown) => {
        assert.ok(isWritError(err, 'RETRIEVAL_INDEX_MISMATCH'));
        assert.match(err.message, /collection `mixed` holds vectors of model `model-a` \(4-d/);
        assert.deepEqual(err.details.found, { modelId: 'model-a', dimension: 4, space: 'cosine' });
        return true;
      });
    }
  });

  test('query returns the nearest ids in order with cosine scores and their metadata', async () => {
    const index = await open();
    await index.upsert([
      { id: 'far', vector: f32(-1, 0, 0, 0), metadata: { tenant: 't0' } },
      { id: 'same', vector: f32(1, 0, 0, 0), metadata: { tenant: 't1', n: 1, ok: true } },
      { id: 'near', vector: f32(0.8, 0.6, 0, 0), metadata: { tenant: 't1' } },
      { id: 'side', vector: f32(0, 1, 0, 0) },
    ]);
    const hits = await index.query({ vector: f32(1, 0, 0, 0), k: 4 });
    assert.deepEqual(hits.map((h) => h.id), ['same', 'near', 'side', 'far']);
    const expected = [1, 0.8, 0, -1];
    hits.forEach((h, i) => {
      assert.ok(Math.abs(h.score - (expected[i] as number)) < 1e-5, `${h.id} scores ${h.score}`);
      assert.ok(Math.abs(h.distance - (1 - h.score)) < 1e-9);
    });
    assert.deepEqual(hits[0]?.metadata, { tenant: 't1', n: 1, ok: true });
    assert.deepEqual(hits[2]?.metadata, {});
    // An unnormalized query gets the same cosine scores.
    const scaled = await index.query({ vector: f32(3, 0, 0, 0), k: 2 });
    assert.ok(Math.abs((scaled[1]?.score ?? 0) - 0.8) < 1e-5);
    // Upsert replaces.
    await index.upsert([{ id: 'far', vector: f32(0.6, 0.8, 0, 0), metadata: { tenant: 't0' } }]);
    assert.equal(await index.count(), 4);
    assert.deepEqual((await index.query({ vector: f32(0, 1, 0, 0), k: 2 })).map((h) => h.id), ['side', 'far']);
  });

  test('where filters and id allow-lists keep only their rows, multi-key filters mean all keys', async () => {
    const index = await open();
    await index.upsert([
      { id: 'a', vector: f32(1, 0, 0, 0), metadata: { tenant: 't1', kind: 'doc' } },
      { id: 'b', vector: f32(0.9, 0.1, 0, 0), metadata: { tenant: 't2', kind: 'doc' } },
      { id: 'c', vector: f32(0, 1, 0, 0), metadata: { tenant: 't1', kind: 'faq' } },
    ]);
    const q = f32(1, 0, 0, 0);
    assert.deepEqual((await index.query({ vector: q, k: 5, where: { tenant: 't1' } })).map((h) => h.id), ['a', 'c']);
    assert.deepEqual((await index.query({ vector: q, k: 5, where: { tenant: 't1', kind: 'faq' } })).map((h) => h.id), ['c']);
    assert.deepEqual((await index.query({ vector: q, k: 5, ids: ['b', 'c'] })).map((h) => h.id), ['b', 'c']);
    // Chroma 1.0.0 fails the whole query on an unknown id; the index drops unknown ids instead.
    assert.deepEqual((await index.query({ vector: q, k: 5, ids: ['c', 'gone'] })).map((h) => h.id), ['c']);
    assert.deepEqual(await index.query({ vector: q, k: 5, ids: ['gone'] }), []);
    assert.deepEqual(await index.query({ vector: q, k: 5, ids: [] }), []);
  });

  test('a where filter matching 0.1 % of 10k rows returns every match in exact order (pre-filtering, not post-filtering)', async () => {
    const dim = 32;
    const index = await open(dim);
    const vectors = unitVectors(10_000, dim, 7);
    const selected = new Set(Array.from({ length: 10 }, (_, i) => i * 997 + 3));
    const rows: VectorRow[] = vectors.map((vector, i) => ({ id: `r${i}`, vector, metadata: { tenant: selected.has(i) ? 't1' : 't0' } }));
    await index.upsert(rows);
    const queries = unitVectors(10, dim, 99);
    for (const q of queries) {
      const exact = [...selected].sort((x, y) => dot(vectors[y] as Float32Array, q) - dot(vectors[x] as Float32Array, q)).map((i) => `r${i}`);
      const byWhere = await index.query({ vector: q, k: 10, where: { tenant: 't1' } });
      assert.deepEqual(byWhere.map((h) => h.id), exact);
      const byIds = await index.query({ vector: q, k: 10, ids: exact });
      assert.deepEqual(byIds.map((h) => h.id), exact);
    }
  });

  test('refuses NaN, infinite, zero and wrongly sized vectors and writes nothing of the batch', async () => {
    const index = await open();
    await index.upsert([{ id: 'keep', vector: f32(1, 0, 0, 0) }]);
    const cases: Array<[string, Float32Array, RegExp]> = [
      ['nan', f32(1, NaN, 0, 0), /non-finite value \(`NaN`\) at 1/],
      ['inf', f32(Infinity, 0, 0, 0), /non-finite value \(`Infinity`\) at 0/],
      ['zero', f32(0, 0, 0, 0), /is all zeros/],
      ['short', f32(1, 0, 0), /has 3 values, expected 4/],
    ];
    for (const [id, vector, message] of cases) {
      await assert.rejects(index.upsert([{ id: `good-${id}`, vector: f32(0, 1, 0, 0) }, { id, vector }]), (err: unknown) => {
        assert.ok(isWritError(err, 'RETRIEVAL_INVALID_VECTOR'));
        assert.match(err.message, message);
        assert.match(err.message, /nothing was written/);
        return true;
      });
    }
    assert.equal(await index.count(), 1, 'the good rows of refused batches were not written either');
    await assert.rejects(index.upsert([{ id: 'x', vector: f32(1, 0, 0, 0), metadata: { bad: NaN } }]), (err: unknown) => isWritError(err, 'INVALID_INPUT'));
    await assert.rejects(
      index.upsert([{ id: 'x', vector: f32(1, 0, 0, 0) }, { id: 'x', vector: f32(0, 1, 0, 0) }]),
      (err: unknown) => isWritError(err, 'INVALID_INPUT') && /appears twice/.test(err.message),
    );
  });

  test('refuses a NaN, zero or wrongly sized query vector and a bad k', async () => {
    const index = await open();
    await index.upsert([{ id: 'a', vector: f32(1, 0, 0, 0) }]);
    for (const vector of [f32(NaN, 0, 0, 0), f32(0, 0, 0, 0), f32(1, 0)]) {
      await assert.rejects(index.query({ vector, k: 1 }), (err: unknown) => isWritError(err, 'RETRIEVAL_INVALID_VECTOR'));
    }
    await assert.rejects(index.query({ vector: f32(1, 0, 0, 0), k: 0 }), (err: unknown) => isWritError(err, 'INVALID_INPUT'));
  });

  test('upserts more rows than the server batch size in several requests', async () => {
    const index = await open(8);
    const n = index.maxBatchSize + 100;
    await index.upsert(unitVectors(n, 8, 3).map((vector, i) => ({ id: `b${i}`, vector })));
    assert.equal(await index.count(), n);
  });

  test('upsert stores the exact Float32 values and metadata (base64 request), from typed arrays, subarrays and number arrays', async () => {
    const index = await open(4);
    const backing = new Float32Array([9, 9, 0.1, -0.2, 0.3, 0.4]);
    const sub = backing.subarray(2); // a view at a byte offset: only its own 4 values may be sent
    await index.upsert([
      { id: 'typed', vector: f32(0.5, -0.25, 1e-7, 0.123456789), metadata: { tenant: 't1', n: 2, ok: false } },
      { id: 'sub', vector: sub },
      { id: 'plain', vector: [0.1, 0.2, 0.3, 0.4], metadata: {} },
    ]);
    const raw = await new ChromaClient({ host: '127.0.0.1', port: Number(new URL(chroma.url).port) }).getCollection({ name: index.collection });
    const got = await raw.get({ ids: ['typed', 'sub', 'plain'], include: ['embeddings', 'metadatas'] as never });
    const byId = new Map(got.ids.map((id, i) => [id, { e: got.embeddings[i] as number[], m: got.metadatas[i] }]));
    // Chroma's `get` prints floats with 7 significant digits, so compare within 1e-7 (a wrong
    // byte order or offset would be off by far more).
    const near = (actual: number[] | undefined, expected: Float32Array): void => {
      assert.equal(actual?.length, expected.length);
      expected.forEach((x, i) => assert.ok(Math.abs((actual?.[i] ?? NaN) - x) <= 1e-7 * Math.max(1, Math.abs(x)), `value ${i}: ${actual?.[i]} vs ${x}`));
    };
    near(byId.get('typed')?.e, f32(0.5, -0.25, 1e-7, 0.123456789));
    assert.deepEqual(byId.get('typed')?.m, { tenant: 't1', n: 2, ok: false });
    near(byId.get('sub')?.e, sub);
    near(byId.get('plain')?.e, f32(0.1, 0.2, 0.3, 0.4));
    assert.equal(byId.get('plain')?.m ?? null, null);
    // Upserting again replaces the vector.
    await index.upsert([{ id: 'typed', vector: f32(0, 0, 0, 1) }]);
    assert.equal(await index.count(), 3);
    const hits = await index.query({ vector: f32(0, 0, 0, 1), k: 1 });
    assert.equal(hits[0]?.id, 'typed');
    assert.ok(Math.abs((hits[0]?.score ?? 0) - 1) < 1e-6);
    // A collection deleted behind the index's back: a typed error naming reindex.
    await new ChromaClient({ host: '127.0.0.1', port: Number(new URL(chroma.url).port) }).deleteCollection({ name: index.collection });
    await assert.rejects(index.upsert([{ id: 'x', vector: f32(1, 0, 0, 0) }]), (err: unknown) => isWritError(err, 'RETRIEVAL_VECTOR_INDEX_FAILED'));
  });

  test('delete, deleteWhere, count and drop', async () => {
    const index = await open();
    await index.upsert([
      { id: 'a', vector: f32(1, 0, 0, 0), metadata: { doc: 'd1' } },
      { id: 'b', vector: f32(0, 1, 0, 0), metadata: { doc: 'd1' } },
      { id: 'c', vector: f32(0, 0, 1, 0), metadata: { doc: 'd2' } },
      { id: 'd', vector: f32(0, 0, 0, 1), metadata: { doc: 'd3' } },
    ]);
    await index.delete(['a', 'a', 'missing']);
    assert.equal(await index.count(), 3);
    await index.deleteWhere({ doc: 'd1' });
    assert.equal(await index.count(), 2);
    await index.delete([]);
    await assert.rejects(index.deleteWhere({}), (err: unknown) => isWritError(err, 'INVALID_INPUT'));
    await index.drop();
    await index.drop();
    await assert.rejects(index.count(), (err: unknown) => isWritError(err, 'RETRIEVAL_VECTOR_INDEX_FAILED') && /was dropped/.test(err.message));
    const reopened = await openVectorIndex({ server: chroma, collection: index.collection, modelId: 'test-model', dimension: 4 });
    assert.equal(await reopened.count(), 0);
  });

  test('opening against a closed port gives RETRIEVAL_CHROMA_UNAVAILABLE; bad options give INVALID_INPUT', async () => {
    const port = await pickFreePort('127.0.0.1');
    await assert.rejects(openVectorIndex({ url: `http://127.0.0.1:${port}`, collection: 'abc', modelId: 'm', dimension: 4 }), (err: unknown) => {
      assert.ok(isWritError(err, 'RETRIEVAL_CHROMA_UNAVAILABLE'));
      assert.match(err.message, /opening collection `abc` failed: chroma at `http:\/\/127.0.0.1:\d+` does not answer/);
      return true;
    });
    await assert.rejects(openVectorIndex({ server: chroma, collection: 'ab', modelId: 'm', dimension: 0 }), (err: unknown) => {
      assert.ok(isWritError(err, 'INVALID_INPUT'));
      assert.deepEqual((err.details.issues as Array<{ path: string }>).map((i) => i.path).sort(), ['collection', 'dimension']);
      return true;
    });
  });
});
