// The checkpoint interval is a signed fact of the ledger: each checkpoint states the
// interval its writer signs at, and verify holds the chain after the newest checkpoint to
// it, whatever the verifier is configured with. Checkpoints signed before that (the old
// payload form) still verify, with the verifier's own interval standing in.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openKeyring } from '../../src/core/index.js';
import { createLedger, ledgerMigrations, type LedgerCheckpoint, type LedgerVerification } from '../../src/ledger/index.js';
import { openStore, type Db } from '../../src/store/index.js';
import { makeFixture, rehash, rowOf, sampleEntry, steppingClock, tamper, type Fixture } from './fixtures.js';

const fixtures: Fixture[] = [];
after(() => fixtures.forEach((f) => f.cleanup()));

const PARALLEL = { threads: 2, minEntriesForThreads: 0, entriesPerRange: 3 };

function expectBad(result: LedgerVerification, seq: number, problem: string): void {
  assert.equal(result.ok, false, 'verify should fail');
  assert.deepEqual({ seq: result.firstBad?.seq, problem: result.firstBad?.problem }, { seq, problem }, result.firstBad?.message);
}

/** Deletes the checkpoints from `from` on, then rewrites entries `from`…`head` (the first one edited) with recomputed hashes. */
function rewriteFrom(db: Db, from: number, head: number): void {
  tamper(db, () => {
    db.prepare('DELETE FROM ledger_checkpoints WHERE seq >= ?').run(from);
    let prev = rowOf(db, from - 1).hash;
    for (let seq = from; seq <= head; seq++) {
      const row = { ...rowOf(db, seq), prev_hash: prev };
      if (seq === from) row.body = `{"action":"refund","n":${seq},"params":{"amount":999999,"currency":"EUR"}}`;
      const hash = rehash(row);
      db.prepare('UPDATE ledger_entries SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(row.body, prev, hash, seq);
      prev = hash;
    }
  });
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('the checkpoint interval, signed into the ledger', () => {
  test('verify goes by the interval the newest checkpoint signed, not by its own configuration', async () => {
    const f = makeFixture({ checkpointEvery: 4 });
    fixtures.push(f);
    for (let i = 1; i <= 10; i++) f.ledger.append(sampleEntry(i));
    assert.deepEqual(f.ledger.checkpoints().map((c) => [c.seq, c.checkpointEvery]), [[4, 4], [8, 4]]);
    // Verifiers configured otherwise read the same file (they append nothing).
    const every3 = f.reopen({ checkpointEvery: 3 }).ledger;
    const off = f.reopen({ checkpointEvery: 0 }).ledger;
    assert.equal(every3.verify().ok, true, 'a multiple of 3 (9) is owed nothing: the chain was written every 4');
    assert.equal(off.verify().ok, true);

    // Checkpoint 8 deleted, entries 5–10 rewritten: the interval checkpoint 4 signed still
    // requires one at 8, even of a verifier configured with none.
    rewriteFrom(f.store.db, 5, 10);
    for (const ledger of [f.ledger, every3, off]) {
      const result = ledger.verify();
      expectBad(result, 8, 'checkpoint_missing');
      assert.match(result.firstBad?.message ?? '', /the interval of 4 entries signed in checkpoint 4/);
      assert.deepEqual(await ledger.verifyAsync(PARALLEL), result);
    }
  });

  test('the interval cannot be changed, dropped or added on a stored checkpoint, nor on an anchor', () => {
    const f = makeFixture({ checkpointEvery: 4 });
    fixtures.push(f);
    for (let i = 1; i <= 10; i++) f.ledger.append(sampleEntry(i));
    for (const value of [0, 1_000_000, null]) {
      tamper(f.store.db, (db) => db.prepare('UPDATE ledger_checkpoints SET checkpoint_every = ? WHERE seq = 8').run(value));
      expectBad(f.ledger.verify(), 8, 'checkpoint_signature');
      tamper(f.store.db, (db) => db.prepare('UPDATE ledger_checkpoints SET checkpoint_every = 4 WHERE seq = 8').run());
    }
    assert.equal(f.ledger.verify().ok, true);
    const newest = f.ledger.lastCheckpoint() as LedgerCheckpoint;
    const oldForm = { seq: newest.seq, at: newest.at, headHash: newest.headHash, kid: newest.kid, signature: newest.signature };
    for (const anchor of [{ ...newest, checkpointEvery: 0 }, oldForm]) expectBad(f.ledger.verify({ anchor }), 8, 'checkpoint_signature');
    assert.equal(f.ledger.verify({ anchor: newest }).ok, true);
  });

  test('a home whose checkpoints were signed before the interval was still verifies, by the configured interval', async () => {
    const f = makeFixture();
    fixtures.push(f);
    const keyring = openKeyring({ dir: join(f.dir, 'keys', 'ledger'), purpose: 'ledger' });
    const path = join(f.dir, 'old.db');
    const anchorFile = join(f.dir, 'old-anchor.json');
    // Written by ledger schema 2: no column for the interval, checkpoints of the old form.
    const v2 = openStore({ path, migrations: ledgerMigrations.slice(0, 2) });
    const old = createLedger({ store: v2, keyring, clock: steppingClock(), checkpointEvery: 4, anchorFile });
    for (let i = 1; i <= 10; i++) old.append(sampleEntry(i));
    old.close();
    v2.close();
    assert.equal('checkpointEvery' in JSON.parse(readFileSync(anchorFile, 'utf8')), false);

    const v3 = openStore({ path, migrations: ledgerMigrations });
    try {
      const upgraded = createLedger({ store: v3, keyring, clock: steppingClock(), checkpointEvery: 4, anchorFile });
      assert.deepEqual(upgraded.checkpoints().map((c) => [c.seq, c.checkpointEvery]), [[4, undefined], [8, undefined], [10, undefined]]);
      assert.equal(upgraded.verify().ok, true);
      assert.equal((await upgraded.verifyAsync(PARALLEL)).ok, true);

      // Its first append states the interval from then on.
      upgraded.append(sampleEntry(11));
      const stated = upgraded.lastCheckpoint();
      assert.deepEqual([stated?.seq, stated?.checkpointEvery], [11, 4]);
      assert.equal(upgraded.verify().ok, true);
      await upgraded.anchorWritten();
      assert.equal(JSON.parse(readFileSync(anchorFile, 'utf8')).checkpointEvery, 4);
    } finally {
      v3.close();
    }

    // With only old-form checkpoints left, the configured interval is the one required.
    const copy = join(f.dir, 'old-copy.db');
    const again = openStore({ path: copy, migrations: ledgerMigrations.slice(0, 2) });
    const writer = createLedger({ store: again, keyring, clock: steppingClock(), checkpointEvery: 4 });
    for (let i = 1; i <= 10; i++) writer.append(sampleEntry(i));
    again.close();
    const reopened = openStore({ path: copy, migrations: ledgerMigrations });
    try {
      rewriteFrom(reopened.db, 5, 10);
      const result = createLedger({ store: reopened, keyring, checkpointEvery: 4 }).verify();
      expectBad(result, 8, 'checkpoint_missing');
      assert.match(result.firstBad?.message ?? '', /a checkpoint every 4 entries \(this ledger's `checkpointEvery`\)/);
      assert.equal(createLedger({ store: reopened, keyring, checkpointEvery: 0 }).verify().ok, true, 'nothing signed says otherwise');
    } finally {
      reopened.close();
    }
  });

  test('a read-only copy not yet migrated to schema 3 verifies', () => {
    const f = makeFixture();
    fixtures.push(f);
    const keyring = openKeyring({ dir: join(f.dir, 'keys', 'ledger'), purpose: 'ledger' });
    const path = join(f.dir, 'v2.db');
    const v2 = openStore({ path, migrations: ledgerMigrations.slice(0, 2) });
    const old = createLedger({ store: v2, keyring, clock: steppingClock(), checkpointEvery: 4 });
    for (let i = 1; i <= 6; i++) old.append(sampleEntry(i));
    old.close();
    v2.close();
    const readonly = openStore({ path, readonly: true });
    try {
      const ledger = createLedger({ store: readonly, keyring, checkpointEvery: 4 });
      assert.deepEqual(ledger.verify(), { ok: true, checked: 6, checkpoints: 2, head: ledger.head() });
      ledger.close();
    } finally {
      readonly.close();
    }
  });

  test('a ledger whose interval differs from the newest checkpoint states its own with its first append, again after a rollback', async () => {
    const f = makeFixture({ checkpointEvery: 4 });
    fixtures.push(f);
    for (let i = 1; i <= 6; i++) f.ledger.append(sampleEntry(i));
    f.ledger.close(); // the head, 6, signed stating 4
    const next = f.reopen({ checkpointEvery: 10 });
    const rolledBack = new Error('roll back');
    assert.throws(
      () =>
        next.store.transaction(() => {
          next.ledger.append(sampleEntry(7));
          throw rolledBack;
        }),
      (err) => err === rolledBack,
    );
    await tick();
    next.ledger.append(sampleEntry(7));
    next.ledger.append(sampleEntry(8));
    assert.deepEqual(next.ledger.checkpoints().map((c) => [c.seq, c.checkpointEvery]), [[4, 4], [6, 4], [7, 10]]);
    // Without the checkpoint at 7 a verifier would hold 7 and 8 to the interval of 4 and
    // miss one at 8; with it, every verifier agrees.
    assert.equal(next.ledger.verify().ok, true);
    assert.equal(f.reopen({ checkpointEvery: 4 }).ledger.verify().ok, true);
    // Once stated, appends sign only at its multiples.
    await tick();
    next.ledger.append(sampleEntry(9));
    assert.deepEqual(next.ledger.checkpoints().map((c) => c.seq), [4, 6, 7]);
  });
});
