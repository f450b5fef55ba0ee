// The anchor file: written after the transaction that signed a checkpoint commits (and
// only then), moved only forward, replaced whole, and caught up with at close.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openAnchorFile } from '../../src/ledger/anchor-file.js';
import type { LedgerCheckpoint } from '../../src/ledger/index.js';
import { makeFixture, sampleEntry, tamper, type Fixture } from './fixtures.js';

const fixtures: Fixture[] = [];
after(() => {
  for (const f of fixtures) f.cleanup();
});

const anchorSeq = (file: string): number | undefined => (existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as LedgerCheckpoint).seq : undefined);
const temporaries = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.tmp'));

/** A ledger (a second connection on a fresh fixture) that anchors to `ledger-anchor.json` every 5 entries. */
function anchoredLedger() {
  const f = makeFixture();
  fixtures.push(f);
  const anchorFile = join(f.dir, 'ledger-anchor.json');
  return { f, anchorFile, ...f.reopen({ anchorFile, checkpointEvery: 5 }) };
}

describe('ledger anchor file', () => {
  test("appends inside the caller's transactions write the anchor once they commit, and it catches a cut-off tail", async () => {
    const { f, anchorFile, store, ledger } = anchoredLedger();
    // As the broker and the server append: always inside a transaction of their own.
    for (let i = 1; i <= 12; i++) store.transaction(() => ledger.append(sampleEntry(i)));
    assert.equal(anchorSeq(anchorFile), undefined, 'written off the appending call');
    await ledger.anchorWritten();
    assert.equal(anchorSeq(anchorFile), 10);
    assert.deepEqual(temporaries(f.dir), []);
    assert.equal(ledger.verify().ok, true);
    // Cut the tail off with the checkpoints in it, without any close: the anchor names it.
    tamper(f.store.db, (db) => {
      for (const t of ['ledger_entries', 'ledger_refs', 'ledger_checkpoints']) db.prepare(`DELETE FROM ${t} WHERE seq >= 9`).run();
    });
    const verdict = ledger.verify();
    assert.equal(verdict.ok, false);
    assert.equal(verdict.firstBad?.problem, 'truncated');
    assert.equal(verdict.firstBad?.seq, 9);
  });

  test('a checkpoint whose transaction rolled back never reaches the anchor', async () => {
    const { f, anchorFile, store, ledger } = anchoredLedger();
    for (let i = 1; i <= 4; i++) store.transaction(() => ledger.append(sampleEntry(i)));
    assert.throws(() =>
      store.transaction(() => {
        for (let i = 5; i <= 7; i++) ledger.append(sampleEntry(i));
        throw new Error('the caller fails after the checkpoint at 5 was signed');
      }),
    );
    await ledger.anchorWritten();
    assert.equal(anchorSeq(anchorFile), undefined);
    assert.equal(ledger.head().seq, 4);
    // The chain goes on, and its next checkpoint is anchored.
    for (let i = 5; i <= 6; i++) store.transaction(() => ledger.append(sampleEntry(i)));
    await ledger.anchorWritten();
    assert.equal(anchorSeq(anchorFile), 5);
    assert.equal(ledger.verify().ok, true);
  });

  test('close signs the head and anchors it before returning; writes still queued do not move it back', async () => {
    const { f, anchorFile, store, ledger } = anchoredLedger();
    for (let i = 1; i <= 7; i++) store.transaction(() => ledger.append(sampleEntry(i)));
    // The anchor for 5 is scheduled, not written, when close writes the one for 7.
    ledger.close();
    assert.equal(anchorSeq(anchorFile), 7);
    await ledger.anchorWritten();
    assert.equal(anchorSeq(anchorFile), 7);
    assert.deepEqual(temporaries(f.dir), []);
    assert.equal(ledger.verify().ok, true);
  });

  test('an anchor never moves backward, whoever wrote the newer one', async () => {
    const f = makeFixture({ checkpointEvery: 3 });
    fixtures.push(f);
    for (let i = 1; i <= 9; i++) f.ledger.append(sampleEntry(i));
    const [three, six, nine] = f.ledger.checkpoints() as [LedgerCheckpoint, LedgerCheckpoint, LedgerCheckpoint];
    const path = join(f.dir, 'anchor.json');
    const anchor = openAnchorFile(path, f.dbPath);
    anchor.writeLater(three);
    anchor.writeLater(nine);
    anchor.writeLater(six);
    await anchor.settled();
    assert.deepEqual(anchor.read(), nine);
    anchor.writeSync(three);
    assert.deepEqual(anchor.read(), nine);
    // A queued write already past its first look at the file when a newer one is written
    // synchronously (as close does) still does not replace it.
    const later = openAnchorFile(join(f.dir, 'later.json'), f.dbPath);
    later.writeLater(six);
    await new Promise((resolve) => setImmediate(resolve));
    later.writeSync(nine);
    await later.settled();
    assert.deepEqual(later.read(), nine);
    // The file is replaced whole: what is there is exactly one checkpoint, mode 0600.
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), nine);
    assert.deepEqual(temporaries(f.dir), []);
  });

  test('a failed anchor write is reported, fails no append, and the next one that can be written is', async () => {
    const f = makeFixture();
    fixtures.push(f);
    const folder = join(f.dir, 'anchors');
    const anchorFile = join(folder, 'ledger-anchor.json');
    const failures: Array<{ code: string | undefined; seq: number }> = [];
    const { store, ledger } = f.reopen({
      anchorFile,
      checkpointEvery: 5,
      onAnchorError: (err, checkpoint) => failures.push({ code: (err as NodeJS.ErrnoException).code, seq: checkpoint.seq }),
    });
    // The anchor's folder does not exist yet.
    for (let i = 1; i <= 6; i++) assert.doesNotThrow(() => store.transaction(() => ledger.append(sampleEntry(i))));
    await ledger.anchorWritten();
    assert.deepEqual(failures, [{ code: 'ENOENT', seq: 5 }]);
    assert.equal(ledger.head().seq, 6);
    mkdirSync(folder);
    for (let i = 7; i <= 10; i++) store.transaction(() => ledger.append(sampleEntry(i)));
    await ledger.anchorWritten();
    assert.equal(anchorSeq(anchorFile), 10);
    assert.equal(failures.length, 1);
    assert.equal(ledger.verify().ok, true);
  });

  test("a dead process's temporary files are removed when the anchor is opened; a live one's are kept", () => {
    const f = makeFixture();
    fixtures.push(f);
    const path = join(f.dir, 'ledger-anchor.json');
    // No process has pid 2^22 + 1 (above Linux's pid_max limit).
    const dead = `${path}.4194305.1.tmp`;
    const live = `${path}.${process.ppid}.1.tmp`;
    const other = `${path}.notes.tmp`;
    for (const file of [dead, live, other]) writeFileSync(file, '{');
    openAnchorFile(path, f.dbPath);
    assert.equal(existsSync(dead), false);
    assert.equal(existsSync(live), true);
    assert.equal(existsSync(other), true);
  });
});
