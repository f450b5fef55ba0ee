// Ledger schema version 2 re-keys the refs index by the time-ordered part of each id: a
// chain written by version 1 must answer the same lineage queries after the migration.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId, openKeyring } from '../../src/core/index.js';
import { createLedger, ledgerMigrations } from '../../src/ledger/index.js';
import { openStore } from '../../src/store/index.js';

describe('ledger schema migration 1 → 2', () => {
  test('entries referencing an id are the same before and after, for any id shape', () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-ledger-migrate-'));
    try {
      const path = join(dir, 'writ.db');
      const keyring = openKeyring({ dir: join(dir, 'keys'), purpose: 'ledger' });
      const doc = newId('doc');
      const chunkSameSuffix = `chk_${doc.slice(4)}`; // another kind, the very same ULID part
      const ids = [doc, chunkSameSuffix, 'refund-policy', 'sam', '_leading', 'trailing_', newId('prp')];
      const v1 = openStore({ path, migrations: ledgerMigrations.slice(0, 1) });
      const before = createLedger({ store: v1, keyring });
      for (let i = 0; i < 40; i++) before.append({ kind: 'bundle.sealed', subjectId: newId('bnd'), refs: [ids[i % ids.length]!, ids[(i * 3) % ids.length]!], body: { i } });
      const answer = (l: ReturnType<typeof createLedger>) => Object.fromEntries(ids.map((id) => [id, l.entriesReferencing(id).map((e) => e.seq)]));
      const expected = answer(before);
      assert.ok(Object.values(expected).every((seqs) => seqs.length > 0));
      before.close();
      v1.close();

      const v2 = openStore({ path, migrations: ledgerMigrations });
      try {
        assert.match(v2.db.prepare("SELECT sql FROM sqlite_master WHERE name = 'ledger_refs_by_ref'").pluck().get() as string, /substr\(ref, instr\(ref, '_'\) \+ 1\)/);
        const after = createLedger({ store: v2, keyring });
        assert.deepEqual(answer(after), expected);
        const plan = v2.db
          .prepare("EXPLAIN QUERY PLAN SELECT r.seq FROM ledger_refs r WHERE substr(r.ref, instr(r.ref, '_') + 1) = substr(@ref, instr(@ref, '_') + 1) AND r.ref = @ref ORDER BY r.seq")
          .all({ ref: doc }) as Array<{ detail: string }>;
        assert.match(plan.map((p) => p.detail).join(' | '), /USING COVERING INDEX ledger_refs_by_ref/);
        assert.equal(after.verify().ok, true);
      } finally {
        v2.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
