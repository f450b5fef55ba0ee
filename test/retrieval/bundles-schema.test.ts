// The bundles schema: migration 2 drops what every retrieval wrote and nothing read
// (bundle_chunks, two bundle indexes) and keeps every bundle readable, record and seal;
// migration 5 brings back the session index, once taint came to read a session's bundles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId, openKeyring } from '../../src/core/index.js';
import { createLedger, ledgerMigrations } from '../../src/ledger/index.js';
import { openStore } from '../../src/store/index.js';
import { retrievalMigrations } from '../../src/retrieval/index.js';
import { getBundle, sealBundle, storeBundle, type ContextBundle } from '../../src/retrieval/bundles.js';

test('migration 2 drops bundle_chunks and the unused bundle indexes, 5 brings back the session index; stored bundles read back unchanged', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'writ-bundles-schema-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'writ.db');
  const keys = join(dir, 'keys');
  const bundle: ContextBundle = {
    id: newId('bnd'),
    tenant: 'acme',
    principalId: 'sam',
    sessionId: 'ses_1',
    query: 'refund policy',
    filters: null,
    bounds: { k: 2, maxChars: 4000, maxChunksPerDocument: 2, timeLimitMs: 2000 } as unknown as ContextBundle['bounds'],
    truncated: false,
    chunks: [
      { chunkId: 'chk_1', documentId: 'doc_a', documentVersion: 1, contentHash: `sha256:${'1'.repeat(64)}`, scores: { dense: 0.5, lexical: 2.25, fused: 0.03 } },
      { chunkId: 'chk_2', documentId: 'doc_b', documentVersion: 3, contentHash: `sha256:${'2'.repeat(64)}`, scores: { dense: null, lexical: 1.5, fused: 0.016 } },
    ],
    createdAt: '2026-11-26T22:00:00.000Z',
  };

  // A home written by a Writ that knew only the first retrieval migration.
  const before = openStore({ path, migrations: [...ledgerMigrations, ...retrievalMigrations.slice(0, 1)] });
  const tables = (db: typeof before.db) => new Set((db.prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'index')").pluck().all() as string[]));
  assert.ok(tables(before.db).has('bundle_chunks'));
  const stored = storeBundle(before, createLedger({ store: before, keyring: openKeyring({ dir: keys, purpose: 'ledger' }) }), bundle, 'req_1');
  before.close();

  const second = openStore({ path, migrations: [...ledgerMigrations, ...retrievalMigrations.slice(0, 2)] });
  const afterTwo = tables(second.db);
  second.close();
  for (const gone of ['bundle_chunks', 'bundle_chunks_document', 'bundles_session', 'bundles_principal']) assert.equal(afterTwo.has(gone), false, `${gone} is dropped`);

  const after = openStore({ path, migrations: [...ledgerMigrations, ...retrievalMigrations] });
  t.after(() => after.close());
  const now = tables(after.db);
  for (const gone of ['bundle_chunks', 'bundle_chunks_document', 'bundles_principal']) assert.equal(now.has(gone), false, `${gone} stays dropped`);
  assert.equal(now.has('bundles_session'), true, 'migration 5 indexes bundles by session again');
  const read = getBundle(after.db, bundle.id);
  assert.deepEqual(read, stored);
  assert.equal(read.seal, sealBundle(bundle));
  // The ledger still says which documents the bundle drew on (what `audit impact` walks).
  const ledger = createLedger({ store: after, keyring: openKeyring({ dir: keys, purpose: 'ledger' }) });
  const [entry] = ledger.entriesAbout(bundle.id);
  assert.deepEqual(entry?.refs, ['doc_a', 'doc_b']);
  assert.deepEqual(ledger.verify().ok, true);
});
