// Tamper evidence at the edges of the chain: rows planted below seq 1 or far past the head,
// checkpoints deleted before a rewrite, checkpoints signed by a retired key, and where
// `fromSeq` may start.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isWritError } from '../../src/core/index.js';
import { checkpointPayload, entryHash, GENESIS_HASH, LedgerErrors, type LedgerVerification } from '../../src/ledger/index.js';
import { makeFixture, rehash, rowOf, sampleEntry, tamper, type Fixture } from './fixtures.js';

const fixtures: Fixture[] = [];
after(() => fixtures.forEach((f) => f.cleanup()));

/** A ledger of `n` entries with checkpoints every 4 and a final one at the head. */
function chainOf(n: number, options: Parameters<typeof makeFixture>[0] = {}): Fixture {
  const f = makeFixture({ checkpointEvery: 4, ...options });
  fixtures.push(f);
  for (let i = 1; i <= n; i++) f.ledger.append(sampleEntry(i, [`bnd_${i}`, 'doc_A']));
  f.ledger.checkpoint();
  return f;
}

function expectBad(result: LedgerVerification, seq: number, problem: string): void {
  assert.equal(result.ok, false, 'verify should fail');
  assert.deepEqual({ seq: result.firstBad?.seq, problem: result.firstBad?.problem }, { seq, problem }, result.firstBad?.message);
}

const PARALLEL = { threads: 2, minEntriesForThreads: 0, entriesPerRange: 2 };

describe('ledger verify at the edges of the chain', () => {
  test('entries planted at seq 0 and below are named as out of range and never reach a query', async () => {
    const { ledger, store } = chainOf(6);
    tamper(store.db, (db) => {
      const forged = { seq: 0, at: '2026-11-26T08:00:00.000Z', kind: 'decision.made', subjectId: 'dec_FORGED', tenant: 'acme', actorId: 'user:mallory', requestId: null, refsText: '["doc_A"]', bodyText: '{"outcome":"allow"}', prevHash: GENESIS_HASH };
      db.prepare('INSERT INTO ledger_entries VALUES (?,?,?,?,?,?,?,?,?,?,?)').run(0, forged.at, forged.kind, forged.subjectId, forged.tenant, forged.actorId, null, forged.refsText, forged.bodyText, forged.prevHash, entryHash(forged));
      db.prepare("INSERT INTO ledger_refs VALUES (0, 'doc_A')").run();
      db.prepare("INSERT INTO ledger_entries VALUES (-7, 'x', 'transition.executed', 'trn_FORGED', 'acme', NULL, NULL, '[\"doc_A\"]', '{}', 'junk', 'junk')").run();
      db.prepare("INSERT INTO ledger_refs VALUES (-7, 'doc_A')").run();
    });
    const result = ledger.verify();
    expectBad(result, -7, 'out_of_range');
    assert.equal(result.checked, 0);
    assert.match(result.firstBad?.message ?? '', /`ledger_entries` has a row at seq -7/);
    assert.deepEqual(await ledger.verifyAsync(PARALLEL), result);
    expectBad(ledger.verify({ fromSeq: 5 }), -7, 'out_of_range');

    const seqs = (entries: ReadonlyArray<{ seq: number }>) => entries.map((e) => e.seq);
    assert.deepEqual(seqs(ledger.entriesReferencing('doc_A')), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(seqs(ledger.impact('doc_A').entries), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(seqs(ledger.lineage('prp_3').entries), [3]);
    assert.deepEqual(ledger.entriesAbout('trn_FORGED'), []);
    assert.deepEqual(ledger.entriesAbout('dec_FORGED'), []);
    assert.equal(ledger.entry(0), undefined);
    assert.equal(ledger.entry(-7), undefined);
    assert.equal(ledger.entry(1)?.subjectId, 'prp_1');
  });

  test('a refs index row or a checkpoint row planted at seq 0 is named as out of range', async () => {
    const refs = chainOf(5);
    tamper(refs.store.db, (db) => db.prepare("INSERT INTO ledger_refs VALUES (0, 'doc_A')").run());
    expectBad(refs.ledger.verify(), 0, 'out_of_range');
    assert.deepEqual(await refs.ledger.verifyAsync(PARALLEL), refs.ledger.verify());

    const cps = chainOf(5);
    tamper(cps.store.db, (db) => db.prepare("INSERT INTO ledger_checkpoints (seq, at, head_hash, kid, signature) VALUES (-1, 'x', 'y', 'z', 'w')").run());
    const result = cps.ledger.verify();
    expectBad(result, -1, 'out_of_range');
    assert.match(result.firstBad?.message ?? '', /`ledger_checkpoints`/);
  });

  test('a checkpoint or a refs index row past the head is named', () => {
    const unsigned = chainOf(5);
    tamper(unsigned.store.db, (db) => db.prepare("INSERT INTO ledger_checkpoints (seq, at, head_hash, kid, signature) VALUES (9, '2026-11-26T10:00:00.000Z', 'sha256:x', 'k', 'sig')").run());
    expectBad(unsigned.ledger.verify(), 9, 'checkpoint_signature');
    const refs = chainOf(5);
    tamper(refs.store.db, (db) => db.prepare("INSERT INTO ledger_refs VALUES (9, 'doc_A')").run());
    expectBad(refs.ledger.verify(), 6, 'truncated');
  });

  test('an entry planted at a huge seq is a gap that parallel verify names without cutting ranges up to it', async () => {
    const f = makeFixture({ checkpointEvery: 0 });
    fixtures.push(f);
    for (let i = 1; i <= 10; i++) f.ledger.append(sampleEntry(i));
    tamper(f.store.db, (db) => db.prepare("INSERT INTO ledger_entries VALUES (?, 'x', 'a.b', 's', NULL, NULL, NULL, '[]', '{}', 'x', 'x')").run(2 ** 40));
    // In a child with a small heap: ranges cut up to seq 2^40 would run it out of memory.
    const script = `
      import { openKeyring } from './src/core/index.js';
      import { createLedger, ledgerMigrations } from './src/ledger/index.js';
      import { openStore } from './src/store/index.js';
      const [dbPath, keyDir] = process.argv.slice(-2);
      const store = openStore({ path: dbPath, migrations: ledgerMigrations });
      const ledger = createLedger({ store, keyring: openKeyring({ dir: keyDir, purpose: 'ledger' }), checkpointEvery: 0 });
      const result = await ledger.verifyAsync({ threads: 2, minEntriesForThreads: 0, entriesPerRange: 1 });
      process.stdout.write(JSON.stringify(result.firstBad));
      store.close();
    `;
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, ['--max-old-space-size=64', '--import', 'tsx', '--input-type=module', '-e', script, '--', f.dbPath, join(f.dir, 'keys', 'ledger')], {
        cwd: process.cwd(),
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('exit', (exitCode) => {
        clearTimeout(timer);
        resolve({ code: exitCode ?? 1, stdout: out });
      });
    });
    assert.equal(code, 0, 'verifyAsync finished within a 64 MB heap');
    assert.deepEqual(JSON.parse(stdout), { seq: 11, problem: 'gap', message: `entry 11 is missing (the next entry is ${2 ** 40})` });
  });

  test('deleting the checkpoints of a stretch and rewriting it is named as a missing checkpoint', async () => {
    const f = makeFixture({ checkpointEvery: 4 });
    fixtures.push(f);
    for (let i = 1; i <= 10; i++) f.ledger.append(sampleEntry(i));
    f.ledger.checkpoint();
    tamper(f.store.db, (db) => {
      db.prepare('DELETE FROM ledger_checkpoints WHERE seq >= 4').run();
      let prev = rowOf(db, 3).hash;
      for (let seq = 4; seq <= 10; seq++) {
        const row = { ...rowOf(db, seq), prev_hash: prev };
        if (seq === 6) row.body = '{"action":"refund","n":6,"params":{"amount":999999,"currency":"EUR"}}';
        const hash = rehash(row);
        db.prepare('UPDATE ledger_entries SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(row.body, prev, hash, seq);
        prev = hash;
      }
    });
    const result = f.ledger.verify();
    expectBad(result, 8, 'checkpoint_missing');
    assert.equal(result.checked, 10);
    assert.deepEqual(await f.ledger.verifyAsync(PARALLEL), result);
    // Only the newest due checkpoint is required: with the one at 8 back, the chain passes.
    const g = makeFixture({ checkpointEvery: 4 });
    fixtures.push(g);
    for (let i = 1; i <= 10; i++) g.ledger.append(sampleEntry(i));
    tamper(g.store.db, (db) => db.prepare('DELETE FROM ledger_checkpoints WHERE seq = 4').run());
    assert.equal(g.ledger.verify().ok, true);
  });

  test('a chain checkpointed as its interval requires verifies, across an interval changed at a clean restart', () => {
    const f = makeFixture({ checkpointEvery: 4 });
    fixtures.push(f);
    for (let i = 1; i <= 6; i++) f.ledger.append(sampleEntry(i));
    assert.deepEqual(f.ledger.checkpoints().map((c) => c.seq), [4]);
    assert.equal(f.ledger.verify().ok, true);
    f.ledger.close(); // signs the head, 6, stating 4
    const next = f.reopen({ checkpointEvery: 10 });
    for (let i = 7; i <= 9; i++) next.ledger.append(sampleEntry(i));
    // The first append under the new interval states it; 8, a multiple of 4, is owed nothing.
    assert.deepEqual(next.ledger.checkpoints().map((c) => [c.seq, c.checkpointEvery]), [[4, 4], [6, 4], [7, 10]]);
    assert.equal(next.ledger.verify().ok, true);
    assert.equal(f.ledger.verify().ok, true, 'a verifier configured with 4 goes by the signed interval');
    next.ledger.append(sampleEntry(10));
    assert.deepEqual(next.ledger.checkpoints().map((c) => c.seq), [4, 6, 7, 10]);
    // With no checkpoint left to state an interval, the verifier's own stands in.
    const off = f.reopen({ checkpointEvery: 0 });
    tamper(off.store.db, (db) => db.prepare('DELETE FROM ledger_checkpoints').run());
    assert.equal(off.ledger.verify().ok, true);
    expectBad(next.ledger.verify(), 10, 'checkpoint_missing');
    expectBad(f.ledger.verify(), 8, 'checkpoint_missing');
  });

  test('verify from the head + 1 checks nothing, and from further on is refused as invalid input', async () => {
    const { ledger } = chainOf(10);
    assert.deepEqual(ledger.verify({ fromSeq: 11 }), { ok: true, checked: 0, checkpoints: 0, head: ledger.head() });
    const refused = (err: unknown) => isWritError(err, LedgerErrors.LEDGER_INVALID_QUERY) && err.details.fromSeq === 12 && err.details.head === 10;
    assert.throws(() => ledger.verify({ fromSeq: 12 }), refused);
    await assert.rejects(ledger.verifyAsync({ fromSeq: 12, ...PARALLEL }), refused);
  });

  test('a checkpoint signed by a retired key after its retirement is named; those signed before still verify', () => {
    const f = chainOf(6);
    const oldKid = f.keyring.activeKid;
    const stolen = createPrivateKey(readFileSync(join(f.keyring.dir, `${oldKid}.pem`), 'utf8'));
    f.keyring.rotate();
    const retiredAt = Date.parse(f.keyring.list().find((k) => k.kid === oldKid)?.retiredAt ?? '');
    assert.equal(f.ledger.verify().ok, true, 'checkpoints made before the rotation');
    const head = f.ledger.head();
    const forge = (atMs: number) => {
      const at = new Date(atMs).toISOString();
      return { seq: head.seq, at, headHash: head.hash, kid: oldKid, signature: sign(null, Buffer.from(checkpointPayload({ seq: head.seq, headHash: head.hash, at })), stolen).toString('base64url') };
    };
    const late = forge(retiredAt + 5_000);
    expectBad(f.ledger.verify({ anchor: late }), 6, 'checkpoint_signature');
    assert.match(f.ledger.verify({ anchor: late }).firstBad?.message ?? '', /after its key .* was retired/);
    expectBad(f.ledger.verify({ anchor: late, jwks: f.keyring.publicJwks() }), 6, 'checkpoint_signature');
    // Another process may sign with the old key for a moment after the rotation.
    assert.equal(f.ledger.verify({ anchor: forge(retiredAt + 500) }).ok, true);
    // A forged checkpoint row for new entries is named the same way.
    for (let i = 7; i <= 8; i++) f.ledger.append(sampleEntry(i));
    tamper(f.store.db, (db) => {
      const cp = db.prepare('SELECT seq, head_hash AS headHash FROM ledger_checkpoints WHERE seq = 8').get() as { seq: number; headHash: string };
      const at = new Date(retiredAt + 60_000).toISOString();
      const signature = sign(null, Buffer.from(checkpointPayload({ seq: 8, headHash: cp.headHash, at })), stolen).toString('base64url');
      db.prepare('UPDATE ledger_checkpoints SET at = ?, kid = ?, signature = ? WHERE seq = 8').run(at, oldKid, signature);
    });
    expectBad(f.ledger.verify(), 8, 'checkpoint_signature');
  });
});
