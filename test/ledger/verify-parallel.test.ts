// Parallel verify: walking ranges of the chain on worker threads gives exactly what the
// single-thread walk gives, for a sound chain and for every kind of tampering, wherever it
// falls relative to the ranges; a worker that fails never turns into a false ok or a hang.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import { isWritError, openKeyring } from '../../src/core/index.js';
import { LedgerErrors, ledgerMigrations, createLedger, type LedgerApi, type LedgerCheckpoint, type LedgerParallelVerifyOptions, type LedgerVerification } from '../../src/ledger/index.js';
import { verifyChainParallel } from '../../src/ledger/verify-parallel.js';
import { verifyChain } from '../../src/ledger/verify.js';
import { openStore } from '../../src/store/index.js';
import { makeFixture, rehash, rowOf, sampleEntry, tamper, type Fixture } from './fixtures.js';

const fixtures: Fixture[] = [];
after(() => fixtures.forEach((f) => f.cleanup()));

/** Ranges of 8 entries: a 40-entry chain is cut at 8|9, 16|17, 24|25 and 32|33. */
const RANGE = 8;
/** Ways to run in parallel: workers alone (they walk every range), and workers beside the calling thread. */
const MODES: Record<string, LedgerParallelVerifyOptions> = {
  'three workers': { threads: 3, keepCallingThreadFree: true, minEntriesForThreads: 0, entriesPerRange: RANGE },
  'calling thread and a worker': { threads: 2, minEntriesForThreads: 0, entriesPerRange: RANGE },
};

/** A ledger of `n` entries with checkpoints every 5 (none at a range boundary but 40) and a final one at the head. */
function chainOf(n: number, options: Parameters<typeof makeFixture>[0] = {}): Fixture {
  const f = makeFixture({ checkpointEvery: 5, ...options });
  fixtures.push(f);
  for (let i = 1; i <= n; i++) f.ledger.append(sampleEntry(i, i % 3 === 0 ? [] : [`bnd_${i}`, `doc_${i % 2}`]));
  f.ledger.checkpoint();
  return f;
}

/**
 * Asserts that every parallel mode returns what `verify` returns, and that this names
 * `seq` and `problem` (or is ok when `problem` is undefined). Returns verify's result.
 */
async function expectSame(ledger: LedgerApi, seq: number | undefined, problem: string | undefined, options: LedgerParallelVerifyOptions = {}): Promise<LedgerVerification> {
  const expected = ledger.verify(options);
  if (problem === undefined) assert.equal(expected.ok, true, expected.firstBad?.message);
  else assert.deepEqual({ seq: expected.firstBad?.seq, problem: expected.firstBad?.problem }, { seq, problem }, expected.firstBad?.message);
  for (const [mode, parallel] of Object.entries(MODES)) {
    assert.deepEqual(await ledger.verifyAsync({ ...options, ...parallel }), expected, mode);
  }
  return expected;
}

function editBody(f: Fixture, seq: number): void {
  tamper(f.store.db, (db) => db.prepare(`UPDATE ledger_entries SET body = json_set(body, '$.params.amount', 9999) WHERE seq = ?`).run(seq));
}

function deleteEntry(f: Fixture, seq: number): void {
  tamper(f.store.db, (db) => {
    db.prepare('DELETE FROM ledger_entries WHERE seq = ?').run(seq);
    db.prepare('DELETE FROM ledger_refs WHERE seq = ?').run(seq);
  });
}

function swapEntries(f: Fixture, a: number, b: number): void {
  tamper(f.store.db, (db) => {
    for (const t of ['ledger_entries', 'ledger_refs']) {
      db.prepare(`UPDATE ${t} SET seq = -1 WHERE seq = ?`).run(a);
      db.prepare(`UPDATE ${t} SET seq = ? WHERE seq = ?`).run(a, b);
      db.prepare(`UPDATE ${t} SET seq = ? WHERE seq = -1`).run(b);
    }
  });
}

/** Edits entry `seq` and recomputes its hash, so only the next entry's link betrays it. */
function rewriteEntry(f: Fixture, seq: number): void {
  tamper(f.store.db, (db) => {
    const row = { ...rowOf(db, seq), actor_id: 'user:mallory' };
    db.prepare('UPDATE ledger_entries SET actor_id = ?, hash = ? WHERE seq = ?').run(row.actor_id, rehash(row), seq);
  });
}

describe('ledger verifyAsync (parallel verify)', () => {
  test('a sound chain verifies with the same counts and head as verify', async () => {
    const { ledger } = chainOf(40);
    const result = await expectSame(ledger, undefined, undefined);
    assert.deepEqual(result, { ok: true, checked: 40, checkpoints: 8, head: ledger.head() });
  });

  test('a chain of one range, or shorter than the threshold, verifies on the calling thread alike', async () => {
    const { ledger } = chainOf(6);
    assert.deepEqual(await ledger.verifyAsync({ threads: 4, minEntriesForThreads: 0, entriesPerRange: RANGE }), ledger.verify());
    assert.deepEqual(await ledger.verifyAsync(), ledger.verify());
    assert.deepEqual(await ledger.verifyAsync({ threads: 1 }), ledger.verify());
  });

  for (const seq of [12, 16, 17, 40]) {
    test(`an edited entry ${seq} (${seq % RANGE === 0 ? 'last of its range' : seq % RANGE === 1 ? 'first of its range' : 'inside its range'}) is a hash mismatch at ${seq}`, async () => {
      const f = chainOf(40);
      editBody(f, seq);
      await expectSame(f.ledger, seq, 'hash_mismatch');
    });
  }

  test('a rewritten last entry of a range is a broken link found across the boundary', async () => {
    const f = chainOf(40);
    rewriteEntry(f, 16);
    await expectSame(f.ledger, 16, 'broken_link');
  });

  test('a rewritten entry inside the second range is a broken link', async () => {
    const f = chainOf(40);
    rewriteEntry(f, 11);
    await expectSame(f.ledger, 11, 'broken_link');
  });

  for (const seq of [13, 16, 17]) {
    test(`a deleted entry ${seq} is a gap at ${seq}`, async () => {
      const f = chainOf(40);
      deleteEntry(f, seq);
      await expectSame(f.ledger, seq, 'gap');
    });
  }

  test('a deleted entry is walked up to on worker threads: the calling thread kept free walks only from the range holding it', async () => {
    const f = chainOf(40);
    deleteEntry(f, 30);
    // The first seq of each page the calling thread's walk reads.
    const db = f.store.db;
    const starts: number[] = [];
    const prepare = db.prepare;
    db.prepare = ((sql: string) => {
      const statement = prepare.call(db, sql);
      if (!sql.includes('json_valid(body)')) return statement;
      const all = statement.all.bind(statement) as (...args: unknown[]) => unknown[];
      return Object.assign(statement, { all: (...args: unknown[]) => (starts.push(args[0] as number), all(...args)) });
    }) as typeof db.prepare;
    let result: LedgerVerification;
    try {
      result = await f.ledger.verifyAsync(MODES['three workers'] as LedgerParallelVerifyOptions);
    } finally {
      delete (db as { prepare?: unknown }).prepare;
    }
    assert.deepEqual(result, f.ledger.verify());
    assert.equal(result.firstBad?.problem, 'gap');
    assert.deepEqual(starts, [25], 'the walk here started at the range holding the hole');
  });

  test('entries swapped across a range boundary are reordered', async () => {
    const f = chainOf(40);
    swapEntries(f, 16, 17);
    await expectSame(f.ledger, 16, 'reordered');
  });

  test('entries swapped inside the second range are reordered', async () => {
    const f = chainOf(40);
    swapEntries(f, 10, 11);
    await expectSame(f.ledger, 10, 'reordered');
  });

  test('a cut-off tail is truncated by the signed last checkpoint', async () => {
    const f = chainOf(40);
    tamper(f.store.db, (db) => {
      db.prepare('DELETE FROM ledger_entries WHERE seq >= 33').run();
      db.prepare('DELETE FROM ledger_refs WHERE seq >= 33').run();
    });
    const result = await expectSame(f.ledger, 33, 'truncated');
    assert.equal(result.checked, 32);
  });

  test('a tail cut off with its checkpoints exactly at a boundary is truncated by the anchor', async () => {
    const f = chainOf(40);
    const anchor = f.ledger.lastCheckpoint() as LedgerCheckpoint;
    assert.equal(anchor.seq, 40);
    tamper(f.store.db, (db) => {
      for (const t of ['ledger_entries', 'ledger_refs', 'ledger_checkpoints']) db.prepare(`DELETE FROM ${t} WHERE seq >= 25`).run();
    });
    await expectSame(f.ledger, undefined, undefined);
    await expectSame(f.ledger, 25, 'truncated', { anchor });
  });

  test('an anchor whose hash the chain no longer has is a checkpoint mismatch inside its range', async () => {
    const f = chainOf(40);
    const anchor = { ...(f.ledger.checkpoints().find((c) => c.seq === 20) as LedgerCheckpoint) };
    tamper(f.store.db, (db) => db.prepare('DELETE FROM ledger_checkpoints WHERE seq = 20').run());
    await expectSame(f.ledger, undefined, undefined, { anchor });
    // Rewrite 18..40 consistently: only the checkpoints (and the anchor at 20) betray it.
    tamper(f.store.db, (db) => {
      let prev = rowOf(db, 17).hash;
      for (let seq = 18; seq <= 40; seq++) {
        const row = { ...rowOf(db, seq), prev_hash: prev, request_id: `req_forged_${seq}` };
        const hash = rehash(row);
        db.prepare('UPDATE ledger_entries SET request_id = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(row.request_id, prev, hash, seq);
        prev = hash;
      }
    });
    const result = await expectSame(f.ledger, 20, 'checkpoint_mismatch', { anchor });
    assert.match(result.firstBad?.message ?? '', /signed anchor/);
  });

  test('a rewritten stretch up to the head is a checkpoint mismatch at the first checkpoint in it (fourth range)', async () => {
    const f = chainOf(40);
    tamper(f.store.db, (db) => {
      let prev = rowOf(db, 21).hash;
      for (let seq = 22; seq <= 40; seq++) {
        const row = { ...rowOf(db, seq), prev_hash: prev, kind: seq === 22 ? 'approval.granted' : rowOf(db, seq).kind };
        const hash = rehash(row);
        db.prepare('UPDATE ledger_entries SET kind = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(row.kind, prev, hash, seq);
        prev = hash;
      }
    });
    await expectSame(f.ledger, 25, 'checkpoint_mismatch');
  });

  test('a forged checkpoint signature in the second range is named, before later tampering', async () => {
    const f = chainOf(40);
    const mallory = openKeyring({ dir: join(f.dir, 'mallory'), purpose: 'ledger' });
    tamper(f.store.db, (db) => {
      const cp = db.prepare('SELECT * FROM ledger_checkpoints WHERE seq = 15').get() as { at: string; head_hash: string };
      const forged = mallory.sign(JSON.stringify({ at: cp.at, headHash: cp.head_hash, seq: 15 }));
      db.prepare('UPDATE ledger_checkpoints SET kid = ?, signature = ? WHERE seq = 15').run(forged.kid, forged.signature);
    });
    editBody(f, 30);
    await expectSame(f.ledger, 15, 'checkpoint_signature');
  });

  test('an edited entry before a forged checkpoint is named first', async () => {
    const f = chainOf(40);
    const mallory = openKeyring({ dir: join(f.dir, 'mallory'), purpose: 'ledger' });
    tamper(f.store.db, (db) => {
      const forged = mallory.sign('{}');
      db.prepare('UPDATE ledger_checkpoints SET kid = ?, signature = ? WHERE seq = 30').run(forged.kid, forged.signature);
    });
    editBody(f, 27);
    await expectSame(f.ledger, 27, 'hash_mismatch');
  });

  test('a refs index that disagrees with an entry in the second range is a refs mismatch', async () => {
    const f = chainOf(40);
    tamper(f.store.db, (db) => db.prepare("UPDATE ledger_refs SET ref = 'doc_forged' WHERE seq = 10 AND ref = 'doc_0'").run());
    await expectSame(f.ledger, 10, 'refs_mismatch');
  });

  test('a refs index row added at a boundary entry is a refs mismatch', async () => {
    const f = chainOf(40);
    tamper(f.store.db, (db) => db.prepare("INSERT INTO ledger_refs (seq, ref) VALUES (17, 'bnd_injected')").run());
    await expectSame(f.ledger, 17, 'refs_mismatch');
  });

  test('a refs index row past the head is a truncated tail', async () => {
    const f = chainOf(40);
    tamper(f.store.db, (db) => db.prepare("INSERT INTO ledger_refs (seq, ref) VALUES (41, 'bnd_ghost')").run());
    await expectSame(f.ledger, 41, 'truncated');
  });

  test('verify from a seq joins its first range to the entry before it', async () => {
    const f = chainOf(40);
    editBody(f, 3);
    await expectSame(f.ledger, 3, 'hash_mismatch');
    await expectSame(f.ledger, undefined, undefined, { fromSeq: 13 });
    // Entry 13 rewritten to link elsewhere: named at 13, the start, as verify names it.
    tamper(f.store.db, (db) => {
      const row = { ...rowOf(db, 13), prev_hash: `sha256:${'1'.repeat(64)}` };
      db.prepare('UPDATE ledger_entries SET prev_hash = ?, hash = ? WHERE seq = 13').run(row.prev_hash, rehash(row));
    });
    const result = await expectSame(f.ledger, 13, 'broken_link', { fromSeq: 13 });
    assert.match(result.firstBad?.message ?? '', /^entry 13 does not link/);
    deleteEntry(f, 11);
    await expectSame(f.ledger, 11, 'gap', { fromSeq: 12 });
  });

  test('any single-row tampering gives the same report as verify', async () => {
    const base = chainOf(40);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom('edit', 'rewrite', 'delete', 'swap_next', 'edit_ref', 'edit_checkpoint', 'cut_tail'),
        async (seq, op) => {
          const f = makeFixture({ checkpointEvery: 5 });
          try {
            // A copy of the base chain, so each run tampers with a fresh one.
            f.store.db.exec(`ATTACH DATABASE '${base.dbPath}' AS base`);
            for (const t of ['ledger_entries', 'ledger_refs', 'ledger_checkpoints']) f.store.db.exec(`INSERT INTO main.${t} SELECT * FROM base.${t}`);
            f.store.db.exec('DETACH DATABASE base');
            const copy = { ...f, ledger: createLedger({ store: f.store, keyring: base.keyring, checkpointEvery: 5 }) };
            if (op === 'edit') editBody(copy, seq);
            if (op === 'rewrite') rewriteEntry(copy, seq);
            if (op === 'delete') deleteEntry(copy, seq);
            if (op === 'swap_next') swapEntries(copy, seq === 40 ? 39 : seq, seq === 40 ? 40 : seq + 1);
            if (op === 'edit_ref') tamper(f.store.db, (db) => db.prepare("INSERT OR REPLACE INTO ledger_refs (seq, ref) VALUES (?, 'bnd_injected')").run(seq));
            if (op === 'edit_checkpoint') tamper(f.store.db, (db) => db.prepare("UPDATE ledger_checkpoints SET at = at || 'x' WHERE seq = ?").run(5 * Math.ceil(seq / 5)));
            if (op === 'cut_tail') tamper(f.store.db, (db) => db.prepare('DELETE FROM ledger_entries WHERE seq >= ?').run(seq));
            const expected = copy.ledger.verify();
            assert.equal(expected.ok, false, `${op} at ${seq} went unnoticed`);
            for (const [mode, parallel] of Object.entries(MODES)) assert.deepEqual(await copy.ledger.verifyAsync(parallel), expected, `${mode}: ${op} at ${seq}`);
          } finally {
            f.cleanup();
          }
        },
      ),
      { numRuns: 20 },
    );
  });

  test('entries appended while the workers walk do not change the result: it is the head read at the start', async () => {
    const f = chainOf(40);
    const head = f.ledger.head();
    const pending = f.ledger.verifyAsync(MODES['three workers']);
    for (let i = 41; i <= 60; i++) f.ledger.append(sampleEntry(i));
    const result = await pending;
    assert.deepEqual(result, { ok: true, checked: 40, checkpoints: 8, head });
    assert.equal(f.ledger.head().seq, 60);
  });

  test('inside a transaction it walks on the calling thread and sees the uncommitted entries', async () => {
    const f = chainOf(40);
    let pending: Promise<LedgerVerification> | undefined;
    f.store.transaction(() => {
      f.ledger.append(sampleEntry(41));
      pending = f.ledger.verifyAsync(MODES['three workers']);
    });
    const result = await (pending as Promise<LedgerVerification>);
    assert.equal(result.ok, true);
    assert.equal(result.checked, 41);
  });

  test('a ledger in memory is verified on the calling thread', async () => {
    const store = openStore({ path: ':memory:', migrations: ledgerMigrations });
    const f = makeFixture();
    fixtures.push(f);
    try {
      const ledger = createLedger({ store, keyring: f.keyring, checkpointEvery: 4 });
      for (let i = 1; i <= 20; i++) ledger.append(sampleEntry(i));
      assert.deepEqual(await ledger.verifyAsync(MODES['three workers']), { ok: true, checked: 20, checkpoints: 5, head: ledger.head() });
    } finally {
      store.close();
    }
  });

  test('refuses invalid thread options', async () => {
    const { ledger } = chainOf(4);
    for (const bad of [{ threads: 0 }, { threads: 1.5 }, { minEntriesForThreads: -1 }, { entriesPerRange: 0 }, { keepCallingThreadFree: 'yes' as unknown as boolean }]) {
      await assert.rejects(ledger.verifyAsync(bad), (err) => isWritError(err, LedgerErrors.LEDGER_INVALID_QUERY), JSON.stringify(bad));
    }
  });
});

describe('parallel verify when workers fail', () => {
  const script = (name: string) => new URL(`./verify-workers/${name}.mjs`, import.meta.url);
  const options = { threads: 3, keepCallingThreadFree: true, minEntriesForThreads: 0, entriesPerRange: RANGE };

  for (const name of ['crash', 'quit', 'hang']) {
    test(`a worker that ${name === 'crash' ? 'cannot start' : name === 'quit' ? 'exits holding a range' : 'hangs holding a range'} leaves its ranges to the calling thread`, async () => {
      const f = chainOf(40);
      const started = performance.now();
      const sound = await verifyChainParallel(f.store.db, f.keyring, options, { script: script(name), stallMs: 300 });
      assert.deepEqual(sound, verifyChain(f.store.db, f.keyring));
      assert.equal(sound.ok, true);
      editBody(f, 22);
      const broken = await verifyChainParallel(f.store.db, f.keyring, options, { script: script(name), stallMs: 300 });
      assert.deepEqual(broken, verifyChain(f.store.db, f.keyring));
      assert.deepEqual({ ok: broken.ok, seq: broken.firstBad?.seq }, { ok: false, seq: 22 });
      assert.ok(performance.now() - started < 10_000, 'gave up on the workers in time');
    });
  }
});
