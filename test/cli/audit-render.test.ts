// What `writ audit verify` prints for a broken ledger: the entry where a chain problem sits,
// and no entry for a problem of the tables themselves (reported at seq 0).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderVerification } from '../../src/cli/commands/audit.js';

const head = { seq: 12, hash: 'sha256:ab', at: '2026-11-27T10:00:00.000Z' };

test('a chain problem names its entry; a table problem names none', () => {
  assert.equal(
    renderVerification({ ok: false, checked: 6, checkpoints: 0, head, firstBad: { seq: 7, problem: 'hash_mismatch', message: 'entry 7 does not match its hash' } }),
    'ledger BROKEN at entry 7: hash_mismatch: entry 7 does not match its hash (6 entries checked)',
  );
  assert.equal(
    renderVerification({ ok: false, checked: 0, checkpoints: 0, head, firstBad: { seq: 0, problem: 'schema_altered', message: '`ledger_entries` is not STRICT' } }),
    'ledger BROKEN: schema_altered: `ledger_entries` is not STRICT (0 entries checked)',
  );
});
