// Tamper evidence: every edit, deletion, reorder or truncation made behind the triggers'
// back is found by verify, which names the first bad seq and the problem.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { canonicalJson, isWritError, openKeyring } from '../../src/core/index.js';
import { assertLedgerIntact, entryHashInput, GENESIS_HASH, LedgerErrors, type LedgerCheckpoint, type LedgerVerification } from '../../src/ledger/index.js';
import { REORDER_WINDOW } from '../../src/ledger/verify.js';
import { makeFixture, rehash, rowOf, sampleEntry, tamper, type Fixture } from './fixtures.js';

const fixtures: Fixture[] = [];
after(() => fixtures.forEach((f) => f.cleanup()));

/** A ledger of `n` entries with checkpoints every 4 and a final one at the head. */
function chainOf(n: number, options: Parameters<typeof makeFixture>[0] = {}): Fixture {
  const f = makeFixture({ checkpointEvery: 4, ...options });
  fixtures.push(f);
  for (let i = 1; i <= n; i++) f.ledger.append(sampleEntry(i, i % 3 === 0 ? [] : [`bnd_${i}`, `doc_${i % 2}`]));
  f.ledger.checkpoint();
  return f;
}

function expectBad(result: LedgerVerification, seq: number, problem: string): void {
  assert.equal(result.ok, false, 'verify should fail');
  assert.deepEqual({ seq: result.firstBad?.seq, problem: result.firstBad?.problem }, { seq, problem }, result.firstBad?.message);
}

describe('ledger verify', () => {
  test('an untouched chain verifies, with every checkpoint checked', () => {
    const { ledger } = chainOf(10);
    const result = ledger.verify();
    assert.deepEqual(result, { ok: true, checked: 10, checkpoints: 3, head: ledger.head() });
    assert.doesNotThrow(() => assertLedgerIntact(result));
  });

  test('an edited entry is named by its seq as a hash mismatch', () => {
    const { ledger, store } = chainOf(10);
    tamper(store.db, (db) => db.prepare(`UPDATE ledger_entries SET body = '{"n":6,"action":"refund","params":{"amount":9999}}' WHERE seq = 6`).run());
    const result = ledger.verify();
    expectBad(result, 6, 'hash_mismatch');
    assert.throws(() => assertLedgerIntact(result), (err) => isWritError(err, LedgerErrors.LEDGER_CHAIN_BROKEN) && err.details.seq === 6);
  });

  test('an edited entry whose hash was recomputed is named as a broken link', () => {
    const { ledger, store } = chainOf(10);
    tamper(store.db, (db) => {
      const row = { ...rowOf(db, 6), actor_id: 'user:mallory' };
      db.prepare('UPDATE ledger_entries SET actor_id = ?, hash = ? WHERE seq = 6').run(row.actor_id, rehash(row));
    });
    expectBad(ledger.verify(), 6, 'broken_link');
  });

  test('a rewritten entry under a signed checkpoint is named as a checkpoint mismatch', () => {
    const { ledger, store } = chainOf(10);
    // Entry 8 carries a checkpoint; rewrite it and every later entry consistently.
    tamper(store.db, (db) => {
      let prev = rowOf(db, 7).hash;
      for (let seq = 8; seq <= 10; seq++) {
        const row = { ...rowOf(db, seq), prev_hash: prev, kind: seq === 8 ? 'approval.granted' : rowOf(db, seq).kind };
        const hash = rehash(row);
        db.prepare('UPDATE ledger_entries SET kind = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(row.kind, prev, hash, seq);
        prev = hash;
      }
    });
    expectBad(ledger.verify(), 8, 'checkpoint_mismatch');
  });

  test('a deleted entry is named as a gap', () => {
    const { ledger, store } = chainOf(10);
    tamper(store.db, (db) => {
      db.prepare('DELETE FROM ledger_entries WHERE seq = 5').run();
      db.prepare('DELETE FROM ledger_refs WHERE seq = 5').run();
    });
    expectBad(ledger.verify(), 5, 'gap');
  });

  test('two swapped entries are named as reordered', () => {
    const { ledger, store } = chainOf(10);
    tamper(store.db, (db) => {
      db.exec('UPDATE ledger_entries SET seq = -1 WHERE seq = 6; UPDATE ledger_entries SET seq = 6 WHERE seq = 7; UPDATE ledger_entries SET seq = 7 WHERE seq = -1');
      db.exec('UPDATE ledger_refs SET seq = -1 WHERE seq = 6; UPDATE ledger_refs SET seq = 6 WHERE seq = 7; UPDATE ledger_refs SET seq = 7 WHERE seq = -1');
    });
    expectBad(ledger.verify(), 6, 'reordered');
  });

  test('a moved entry is named as reordered within the reorder window, and as a hash mismatch at its seq beyond it', async () => {
    const f = makeFixture({ checkpointEvery: 0 });
    fixtures.push(f);
    const n = REORDER_WINDOW + 10;
    f.ledger.appendMany(Array.from({ length: n }, (_, i) => sampleEntry(i + 1)));
    const swap = (a: number, b: number) =>
      tamper(f.store.db, (db) => {
        for (const t of ['ledger_entries', 'ledger_refs']) db.exec(`UPDATE ${t} SET seq = -1 WHERE seq = ${a}; UPDATE ${t} SET seq = ${a} WHERE seq = ${b}; UPDATE ${t} SET seq = ${b} WHERE seq = -1`);
      });
    const parallel = { threads: 2, minEntriesForThreads: 0, entriesPerRange: 256 };

    swap(5, 5 + REORDER_WINDOW);
    const inside = f.ledger.verify();
    expectBad(inside, 5, 'reordered');
    assert.equal(inside.firstBad?.message, `entry 5 was written as entry ${5 + REORDER_WINDOW}: entries were reordered`);
    assert.deepEqual(await f.ledger.verifyAsync(parallel), inside);
    swap(5, 5 + REORDER_WINDOW);
    assert.equal(f.ledger.verify().ok, true);

    // One seq farther: still caught at the first bad entry, only no longer said to be moved.
    swap(5, 6 + REORDER_WINDOW);
    const beyond = f.ledger.verify();
    expectBad(beyond, 5, 'hash_mismatch');
    assert.equal(beyond.checked, 4);
    assert.equal(beyond.firstBad?.message, `entry 5 does not match its hash: it was edited, or moved from more than ${REORDER_WINDOW} entries away`);
    assert.deepEqual(await f.ledger.verifyAsync(parallel), beyond);
  });

  test('a cut-off tail is named as truncated by the signed last checkpoint', () => {
    const { ledger, store } = chainOf(10);
    tamper(store.db, (db) => {
      db.prepare('DELETE FROM ledger_entries WHERE seq >= 9').run();
      db.prepare('DELETE FROM ledger_refs WHERE seq >= 9').run();
    });
    expectBad(ledger.verify(), 9, 'truncated');
  });

  test('a tail cut off with its checkpoints is caught by the anchor file, or by an anchor held elsewhere', () => {
    const f = makeFixture({ checkpointEvery: 4 });
    fixtures.push(f);
    const anchored = f.reopen({ anchorFile: join(f.dir, 'ledger-anchor.json') });
    for (let i = 1; i <= 10; i++) anchored.ledger.append(sampleEntry(i));
    anchored.ledger.close();
    const published: LedgerCheckpoint | null = anchored.ledger.lastCheckpoint();
    assert.equal(published?.seq, 10);
    tamper(f.store.db, (db) => {
      for (const t of ['ledger_entries', 'ledger_refs', 'ledger_checkpoints']) db.prepare(`DELETE FROM ${t} WHERE seq >= 9`).run();
    });
    assert.equal(f.ledger.verify().ok, true, 'without an anchor the shortened chain looks whole');
    expectBad(anchored.ledger.verify(), 9, 'truncated');
    expectBad(f.ledger.verify({ anchor: published as LedgerCheckpoint }), 9, 'truncated');
  });

  test('a corrupted anchor file is reported by verify and does not fail appends', () => {
    const f = makeFixture();
    fixtures.push(f);
    const anchorFile = join(f.dir, 'ledger-anchor.json');
    const { ledger } = f.reopen({ anchorFile, checkpointEvery: 2 });
    ledger.append(sampleEntry(1));
    ledger.append(sampleEntry(2));
    assert.equal(ledger.verify().ok, true);
    writeFileSync(anchorFile, '{"seq": "two"}');
    assert.doesNotThrow(() => ledger.append(sampleEntry(3)));
    assert.doesNotThrow(() => ledger.append(sampleEntry(4)));
    expectBad(ledger.verify(), 0, 'checkpoint_signature');
  });

  test('a checkpoint with a forged signature or an unknown key is named', () => {
    const { ledger, store, dir } = chainOf(10);
    const mallory = openKeyring({ dir: join(dir, 'mallory'), purpose: 'ledger' });
    tamper(store.db, (db) => {
      const cp = db.prepare('SELECT * FROM ledger_checkpoints WHERE seq = 4').get() as { at: string; head_hash: string };
      const forged = mallory.sign(JSON.stringify({ at: cp.at, headHash: cp.head_hash, seq: 4 }));
      db.prepare('UPDATE ledger_checkpoints SET kid = ?, signature = ? WHERE seq = 4').run(forged.kid, forged.signature);
    });
    expectBad(ledger.verify(), 4, 'checkpoint_signature');
  });

  test('an edited refs index is named as a refs mismatch', () => {
    const { ledger, store } = chainOf(10);
    tamper(store.db, (db) => db.prepare("UPDATE ledger_refs SET ref = 'doc_forged' WHERE seq = 2 AND ref = 'doc_0'").run());
    expectBad(ledger.verify(), 2, 'refs_mismatch');
  });

  test('a body planted to shift text between fields cannot hide a rewrite of kind and refs', () => {
    const f = makeFixture();
    fixtures.push(f);
    // The body nests keys that mimic the entry's own fields, so the hash input of a row
    // rewritten to split the text differently would be byte-identical.
    const body = { z: { a: 0, kind: 'evil.kind', prevHash: GENESIS_HASH, refs: [], requestId: null } };
    const entry = f.ledger.append({ kind: 'a.b', subjectId: 's', body });
    const before = entryHashInput({ ...entry, refsText: '[]', bodyText: canonicalJson(body), tenant: null, actorId: null, requestId: null });
    const forged = { body: '{"z":{"a":0', kind: 'evil.kind', refs: `[],"requestId":null}},"kind":"a.b","prevHash":"${GENESIS_HASH}","refs":[]` };
    tamper(f.store.db, (db) => db.prepare('UPDATE ledger_entries SET body = ?, kind = ?, refs = ? WHERE seq = 1').run(forged.body, forged.kind, forged.refs));
    const after = { ...rowOf(f.store.db, 1) };
    assert.equal(rehash(after), entry.hash, 'the forged row hashes the same when its texts are not checked');
    assert.equal(entryHashInput({ ...entry, kind: forged.kind, refsText: forged.refs, bodyText: forged.body, tenant: null, actorId: null, requestId: null }), before);
    expectBad(f.ledger.verify(), 1, 'hash_mismatch');
  });

  test('an external auditor verifies checkpoints against the published JWKS alone', () => {
    const { ledger, keyring } = chainOf(10);
    const jwks = JSON.parse(JSON.stringify(keyring.publicJwks())) as unknown;
    assert.equal(ledger.verify({ jwks }).ok, true);
    expectBad(ledger.verify({ jwks: { keys: [] } }), 4, 'checkpoint_signature');
  });

  test('checkpoints made before a key rotation still verify after it', () => {
    const { ledger, keyring } = chainOf(6);
    keyring.rotate();
    for (let i = 7; i <= 9; i++) ledger.append(sampleEntry(i));
    const kids = new Set(ledger.checkpoints().map((c) => c.kid));
    assert.equal(kids.size, 2);
    assert.equal(ledger.verify().ok, true);
  });

  test('verify from a seq checks only the rest of the chain', () => {
    const { ledger, store } = chainOf(10);
    tamper(store.db, (db) => db.prepare("UPDATE ledger_entries SET tenant = 'evil' WHERE seq = 2").run());
    expectBad(ledger.verify(), 2, 'hash_mismatch');
    const tail = ledger.verify({ fromSeq: 5 });
    assert.equal(tail.ok, true);
    assert.equal(tail.checked, 6);
  });

  test('any single-row mutation of a random chain is detected', () => {
    const f = makeFixture({ checkpointEvery: 5 });
    fixtures.push(f);
    const columns = ['at', 'kind', 'subject_id', 'tenant', 'actor_id', 'request_id', 'refs', 'body', 'prev_hash', 'hash', 'seq'] as const;
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('edit' as const), column: fc.constantFrom(...columns), salt: fc.string({ minLength: 1, maxLength: 4 }) }),
      fc.record({ op: fc.constantFrom('delete' as const, 'swap_next' as const, 'edit_checkpoint' as const, 'edit_ref' as const) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 14 }), fc.nat(), mutation, (n, pick, m) => {
        // Build, mutate and verify inside one transaction, then roll it all back.
        const rolledBack = new Error('roll back');
        try {
          f.store.transaction((db) => {
            for (let i = 1; i <= n; i++) f.ledger.append(sampleEntry(i, i % 2 === 0 ? [`bnd_${i}`] : []));
            f.ledger.checkpoint();
            assert.equal(f.ledger.verify().ok, true);
            const seq = 1 + (pick % n);
            tamper(db, () => {
              if (m.op === 'delete') db.prepare('DELETE FROM ledger_entries WHERE seq = ?').run(seq);
              if (m.op === 'swap_next') {
                const other = seq === n ? seq - 1 : seq + 1;
                db.prepare('UPDATE ledger_entries SET seq = -1 WHERE seq = ?').run(seq);
                db.prepare('UPDATE ledger_entries SET seq = ? WHERE seq = ?').run(seq, other);
                db.prepare('UPDATE ledger_entries SET seq = ? WHERE seq = -1').run(other);
              }
              if (m.op === 'edit_checkpoint') db.prepare("UPDATE ledger_checkpoints SET at = at || 'x' WHERE seq = (SELECT max(seq) FROM ledger_checkpoints)").run();
              if (m.op === 'edit_ref') {
                const changed = db.prepare("UPDATE ledger_refs SET ref = ref || 'x' WHERE seq = (SELECT min(seq) FROM ledger_refs WHERE seq >= ?)").run(seq).changes;
                if (changed === 0) db.prepare("INSERT INTO ledger_refs (seq, ref) VALUES (?, 'bnd_injected')").run(seq);
              }
              if (m.op === 'edit') {
                if (m.column === 'seq') db.prepare('UPDATE ledger_entries SET seq = seq + 1000 WHERE seq = ?').run(seq);
                else if (m.column === 'refs') db.prepare(`UPDATE ledger_entries SET refs = json_insert(refs, '$[#]', ?) WHERE seq = ?`).run(m.salt, seq);
                else if (m.column === 'body') db.prepare(`UPDATE ledger_entries SET body = json_set(body, '$.salt', ?) WHERE seq = ?`).run(m.salt, seq);
                else db.prepare(`UPDATE ledger_entries SET ${m.column} = coalesce(${m.column}, '') || ? WHERE seq = ?`).run(m.salt, seq);
              }
            });
            const result = f.ledger.verify();
            assert.equal(result.ok, false, `${JSON.stringify(m)} at seq ${seq} of ${n} went unnoticed`);
            throw rolledBack;
          });
        } catch (err) {
          if (err !== rolledBack) throw err;
        }
      }),
      { numRuns: 150 },
    );
    assert.equal(f.ledger.head().seq, 0);
  });

  test('two processes appending to one file at once keep one valid chain', () => {
    const f = makeFixture();
    fixtures.push(f);
    const script = `
      import { openKeyring } from './src/core/index.js';
      import { createLedger, ledgerMigrations } from './src/ledger/index.js';
      import { openStore } from './src/store/index.js';
      const [dbPath, keyDir, tag] = process.argv.slice(-3);
      const store = openStore({ path: dbPath, migrations: ledgerMigrations });
      const ledger = createLedger({ store, keyring: openKeyring({ dir: keyDir, purpose: 'ledger' }), checkpointEvery: 50 });
      for (let i = 0; i < 300; i++) ledger.append({ kind: 'test.appended', subjectId: tag + i, refs: [tag], body: { i } });
      ledger.close();
      store.close();
    `;
    const run = (tag: string) =>
      new Promise<number>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, '--', f.dbPath, join(f.dir, 'keys', 'ledger'), tag], {
          cwd: process.cwd(),
          stdio: 'inherit',
        });
        child.on('exit', (code) => resolve(code ?? 1));
      });
    return Promise.all([run('a'), run('b')]).then((codes) => {
      assert.deepEqual(codes, [0, 0]);
      const result = f.ledger.verify();
      assert.equal(result.ok, true, result.firstBad?.message);
      assert.equal(result.checked, 600);
      assert.equal(f.ledger.entriesReferencing('a').length, 300);
      const kinds = f.ledger.entries({ limit: 600 }).map((e) => e.subjectId[0]);
      assert.ok(kinds.includes('a') && kinds.includes('b'));
    });
  });
});
