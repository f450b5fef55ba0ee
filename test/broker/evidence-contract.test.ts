// Retrieval's bundle reader is the EvidenceReader the app wires into the broker: this test
// keeps the two shapes in step (at compile time) and checks the reader on an empty store.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/index.js';
import { createBundleEvidenceReader, retrievalMigrations } from '../../src/retrieval/index.js';
import type { EvidenceReader } from '../../src/broker/index.js';

describe('evidence reader contract', () => {
  const dir = mkdtempSync(join(tmpdir(), 'writ-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("retrieval's bundle reader satisfies the broker's EvidenceReader and omits unknown bundles", () => {
    const store = openStore({ path: join(dir, 'writ.db'), migrations: retrievalMigrations });
    try {
      const reader: EvidenceReader = createBundleEvidenceReader(store);
      assert.equal(reader.getEvidence(['bnd_unknown']).size, 0);
      assert.deepEqual(reader.sessionBundleIds?.('ses_unknown'), []);
    } finally {
      store.close();
    }
  });

  test("a session's bundles are found through an index, not a scan of every bundle (taint reads them at each decision)", () => {
    const store = openStore({ path: join(dir, 'plan.db'), migrations: retrievalMigrations });
    try {
      const plan = (store.db.prepare('EXPLAIN QUERY PLAN SELECT id FROM bundles WHERE session_id = ?').all('ses_x') as Array<{ detail: string }>).map((r) => r.detail);
      assert.ok(plan.some((d) => d.includes('USING INDEX bundles_session')), plan.join('; '));
    } finally {
      store.close();
    }
  });
});
