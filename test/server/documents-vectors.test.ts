// POST and DELETE /v1/documents while the embedded Chroma is down (killed with SIGKILL): the
// answer tells the truth about what SQLite committed — success, with `vectors: 'pending'` and
// a warning — and the next start writes the pending vectors. A real app (SQLite file, Chroma
// child, sample workspace) in a temporary home, started twice.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createApp, type WritApp } from '../../src/app.js';
import { loadConfig } from '../../src/core/index.js';
import { openVectorIndex } from '../../src/retrieval/index.js';
import { buildServer } from '../../src/server/index.js';

const home = mkdtempSync(join(tmpdir(), 'writ-'));
// Chroma must stay down while the test looks: no restart of the killed child.
const config = loadConfig({ env: { WRIT_HOME: home, WRIT_LOG_LEVEL: 'silent', WRIT_CHROMA_RESTART: 'false' } });
let app: WritApp | undefined;
let server: FastifyInstance | undefined;
const keys = new Map<string, string>();

async function start(): Promise<{ app: WritApp; server: FastifyInstance }> {
  app = await createApp({ config });
  for (const k of app.firstStartKeys) keys.set(k.principalId, k.key);
  server = await buildServer(app, { logger: false });
  await server.ready();
  return { app, server };
}

async function stop(): Promise<void> {
  await server?.close();
  await app?.close();
  server = undefined;
  app = undefined;
}

function call(principal: string, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: Record<string, unknown>) {
  return server!.inject({ method, url, headers: { authorization: `Bearer ${keys.get(principal)}` }, ...(payload === undefined ? {} : { payload }) });
}

const count = (a: WritApp, sql: string, ...params: unknown[]): number => (a.store.db.prepare(sql).pluck().get(...params) as number) ?? 0;
const pendingChunks = (a: WritApp): number => count(a, 'SELECT count(*) FROM chunks WHERE active <> in_vector_index');

const NOTE = { sourceUri: 'kb://puffins', title: 'Puffins', text: 'Puffins dive for sand eels off the northern cliffs.', readers: ['group:support'] };
// Ingested while Chroma is up, revoked while it is down (not a workspace file: the next start would load that again).
const GANNETS = { sourceUri: 'kb://gannets', title: 'Gannets', text: 'Gannets plunge into the cold sea after mackerel shoals.', readers: ['group:support'] };

before(() => start());

after(async () => {
  await stop();
  rmSync(home, { recursive: true, force: true });
});

describe('documents while Chroma is down', () => {
  let revokedId = '';

  test('ingest commits and answers 201 with vectors pending and a warning, never a 503', async () => {
    const a = app!;
    const up = await call('sam', 'POST', '/v1/documents', GANNETS);
    assert.equal(up.statusCode, 201, up.body);
    assert.equal(up.json().vectors, 'synced');
    assert.equal(up.json().warning, undefined);
    revokedId = up.json().documentId;
    const entries = count(a, "SELECT count(*) FROM ledger_entries WHERE kind LIKE 'document.%'");
    process.kill(a.chroma.pid as number, 'SIGKILL');
    for (let i = 0; i < 100 && a.chroma.isRunning(); i++) await new Promise((res) => setTimeout(res, 50));
    assert.equal(a.chroma.isRunning(), false, 'the chroma child is gone');

    const res = await call('sam', 'POST', '/v1/documents', NOTE);
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json();
    assert.equal(body.status, 'created');
    assert.equal(body.vectors, 'pending');
    assert.equal(body.warning.code, 'RETRIEVAL_CHROMA_UNAVAILABLE');
    assert.match(body.warning.message, /^upsert into `writ-chunks` failed: the embedded chroma \(pid \d+\) exited unexpectedly/);
    // What was committed: the document, its chunk (waiting for the vector index) and its ledger entry, under this request id.
    assert.equal(count(a, "SELECT count(*) FROM documents WHERE id = ? AND status = 'active'", body.documentId), 1);
    assert.equal(count(a, 'SELECT count(*) FROM chunks WHERE document_id = ? AND active = 1 AND in_vector_index = 0', body.documentId), 1);
    assert.equal(count(a, "SELECT count(*) FROM ledger_entries WHERE kind LIKE 'document.%'"), entries + 1);
    // Operators see the backlog in the health report.
    const health = await call('sam', 'GET', '/health');
    assert.equal(health.statusCode, 503);
    assert.equal(health.json().parts.chroma.status, 'down');
    assert.equal(health.json().parts.chroma.pendingVectors, pendingChunks(a));
    assert.ok(health.json().parts.chroma.pendingVectors >= 1);
    assert.equal(count(a, "SELECT count(*) FROM ledger_entries WHERE kind = 'document.ingested' AND subject_id = ? AND request_id = ?", body.documentId, res.headers['x-request-id']), 1);
    // Searchable at once.
    const found = await call('sam', 'POST', '/v1/retrieve', { query: 'puffins sand eels cliffs', k: 3 });
    assert.equal(found.statusCode, 200, found.body);
    assert.equal(found.json().results[0]?.documentId, body.documentId);
    // Sending it again (a client that did not trust the answer) changes nothing and still says pending.
    const again = await call('sam', 'POST', '/v1/documents', NOTE);
    assert.equal(again.statusCode, 200, again.body);
    assert.deepEqual([again.json().status, again.json().vectors, again.json().documentId], ['unchanged', 'pending', body.documentId]);
    assert.equal(count(a, "SELECT count(*) FROM ledger_entries WHERE kind LIKE 'document.%'"), entries + 1);
  });

  test('revoke commits and answers 200 with vectors pending, and search never returns the revoked document', async () => {
    const a = app!;
    assert.ok(count(a, 'SELECT count(*) FROM chunks WHERE document_id = ? AND in_vector_index = 1', revokedId) > 0, 'its vectors are in chroma');

    const res = await call('sam', 'DELETE', `/v1/documents/${revokedId}`);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.deepEqual([body.revoked, body.vectors, body.warning?.code], [true, 'pending', 'RETRIEVAL_CHROMA_UNAVAILABLE']);
    assert.equal(count(a, "SELECT count(*) FROM documents WHERE id = ? AND status = 'revoked'", revokedId), 1);
    assert.equal(count(a, "SELECT count(*) FROM ledger_entries WHERE kind = 'document.revoked' AND subject_id = ? AND request_id = ?", revokedId, res.headers['x-request-id']), 1);
    for (const mode of ['hybrid', 'dense', 'lexical']) {
      const r = await call('sam', 'POST', '/v1/retrieve', { query: 'gannets plunge into the sea after mackerel', k: 10, mode });
      assert.equal(r.statusCode, 200, r.body);
      assert.ok(r.json().results.every((x: { documentId: string }) => x.documentId !== revokedId), mode);
    }
    // Revoking again is a no-op that still reports the vectors left to remove.
    const again = (await call('sam', 'DELETE', `/v1/documents/${revokedId}`)).json();
    assert.deepEqual([again.revoked, again.vectors], [false, 'pending']);
  });

  test('the next start writes the pending vectors: chroma then holds exactly the active chunks', async () => {
    assert.ok(pendingChunks(app!) > 0);
    await stop();
    const { app: a } = await start();
    for (let i = 0; i < 200 && pendingChunks(a) > 0; i++) await new Promise((res) => setTimeout(res, 50));
    assert.equal(pendingChunks(a), 0);
    const index = await openVectorIndex({ server: a.chroma, collection: 'writ-chunks', modelId: a.embedder.modelId, dimension: a.embedder.dimension });
    assert.equal(await index.count(), count(a, 'SELECT count(*) FROM chunks c JOIN chunk_vectors v ON v.seq = c.seq WHERE c.active = 1'));
    const revoked = (a.store.db.prepare('SELECT id FROM chunks WHERE document_id = ?').pluck().all(revokedId) as string[]);
    const left = await index.query({ vector: (await a.embedder.embed(['gannets mackerel']))[0]!, k: 50, ids: revoked });
    assert.deepEqual(left, [], 'the revoked chunks left chroma');
    const ingested = await call('sam', 'POST', '/v1/documents', NOTE);
    assert.deepEqual([ingested.json().status, ingested.json().vectors], ['unchanged', 'synced']);
  });
});
