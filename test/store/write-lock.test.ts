// The outermost transaction's write lock: a writer that meets another connection's lock gets
// it soon after its release (after the first contended BEGIN, the connection polls instead of
// sleeping in SQLite's busy handler), and one that cannot get it in time fails with STORE_BUSY.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { isWritError } from '../../src/core/index.js';
import { openStore, type Migration } from '../../src/store/index.js';

const dir = mkdtempSync(join(tmpdir(), 'writ-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const migrations: Migration[] = [{ area: 'test', version: 1, name: 'notes', up: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL) STRICT' }];

/**
 * A thread with its own connection that takes the write lock, says so, holds it `holdMs`,
 * commits and records when (ms since epoch) in `shared[1]`.
 */
function holdLock(path: string, holdMs: number, shared: Float64Array, end: 'COMMIT' | 'ROLLBACK' = 'COMMIT'): { held: Promise<void>; done: Promise<void> } {
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    const Database = require(workerData.driver);
    const db = new Database(workerData.path);
    db.pragma('busy_timeout = 5000');
    db.prepare('BEGIN IMMEDIATE').run();
    db.prepare("INSERT INTO notes (text) VALUES ('worker')").run();
    parentPort.postMessage('held');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.holdMs);
    db.prepare(workerData.end).run();
    workerData.shared[1] = Date.now();
    db.close();
  `;
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(code, { eval: true, workerData: { path, holdMs, shared, driver, end } });
  const held = new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  const done = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return { held, done };
}

describe('write lock', () => {
  test('after a contended BEGIN, a waiting writer gets the lock within a few ms of its release', async () => {
    const path = join(dir, 'a.db');
    const store = openStore({ path, migrations });
    try {
      const shared = new Float64Array(new SharedArrayBuffer(16));
      // First contention: SQLite's busy handler waits, and the connection learns it has company.
      let w = holdLock(path, 30, shared);
      await w.held;
      store.transaction((db) => db.prepare("INSERT INTO notes (text) VALUES ('first')").run());
      await w.done;
      // Second: a hold of 195 ms. SQLite's handler retries 178 and 228 ms after BEGIN (its
      // sleeps: 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 ms), so it would get the lock 33–43 ms
      // after this release; polling gets it within a few ms. The bound leaves room for a
      // loaded machine (the whole suite runs on two cores) and still tells the two apart.
      w = holdLock(path, 195, shared);
      await w.held;
      store.transaction((db) => db.prepare("INSERT INTO notes (text) VALUES ('second')").run());
      const acquiredAt = Date.now();
      await w.done;
      const late = acquiredAt - (shared[1] as number);
      assert.equal(store.writeLockPolling(), true);
      assert.ok(late >= 0 && late < 20, `got the lock ${late} ms after its release`);
      assert.deepEqual(store.db.prepare('SELECT text FROM notes ORDER BY id').pluck().all(), ['worker', 'first', 'worker', 'second']);
    } finally {
      store.close();
    }
  });

  test('a writer that cannot get the lock in time fails with STORE_BUSY and writes nothing', async () => {
    const path = join(dir, 'b.db');
    const store = openStore({ path, migrations, busyTimeoutMs: 100 });
    try {
      const shared = new Float64Array(new SharedArrayBuffer(16));
      // Twice: with SQLite's handler, then (having met contention) while polling.
      for (let round = 0; round < 2; round++) {
        assert.equal(store.writeLockPolling(), round === 1, 'a BEGIN that gave up on a held lock switches to polling');
        const w = holdLock(path, 600, shared);
        await w.held;
        const t0 = Date.now();
        assert.throws(
          () => store.transaction((db) => db.prepare("INSERT INTO notes (text) VALUES ('late')").run()),
          (err: unknown) => isWritError(err) && err.code === 'STORE_BUSY',
        );
        const waited = Date.now() - t0;
        assert.ok(waited >= 90 && waited < 500, `gave up after ${waited} ms`);
        await w.done;
      }
      assert.deepEqual(store.db.prepare('SELECT text FROM notes ORDER BY id').pluck().all(), ['worker', 'worker']);
      assert.equal(store.db.inTransaction, false);
    } finally {
      store.close();
    }
  });

  test('a slow BEGIN is taken for contention only when another connection committed meanwhile', async () => {
    // A contender that writes nothing (it rolls back) slows this BEGIN as much as one that
    // commits; polling costs every later transaction two statement preparations, so only
    // the committing contender, proof of another writer, switches it on.
    const path = join(dir, 'c.db');
    const store = openStore({ path, migrations });
    try {
      const shared = new Float64Array(new SharedArrayBuffer(16));
      let w = holdLock(path, 30, shared, 'ROLLBACK');
      await w.held;
      const t0 = Date.now();
      store.transaction((db) => db.prepare("INSERT INTO notes (text) VALUES ('after rollback')").run());
      assert.ok(Date.now() - t0 >= 20, 'the BEGIN waited for the contender');
      await w.done;
      assert.equal(store.writeLockPolling(), false);
      for (let i = 0; i < 100; i++) store.transaction((db) => db.prepare("INSERT INTO notes (text) VALUES ('alone')").run());
      assert.equal(store.writeLockPolling(), false);
      // A commit by another connection that never met this one, then one of this store's
      // own transactions, then a slow BEGIN behind a contender that writes nothing: the old
      // commit is not news any more.
      w = holdLock(path, 0, shared, 'COMMIT');
      await w.held;
      await w.done;
      store.transaction((db) => db.prepare("INSERT INTO notes (text) VALUES ('after an old commit')").run());
      w = holdLock(path, 30, shared, 'ROLLBACK');
      await w.held;
      store.transaction((db) => db.prepare("INSERT INTO notes (text) VALUES ('after a second rollback')").run());
      await w.done;
      assert.equal(store.writeLockPolling(), false);
      w = holdLock(path, 30, shared, 'COMMIT');
      await w.held;
      store.transaction((db) => db.prepare("INSERT INTO notes (text) VALUES ('after commit')").run());
      await w.done;
      assert.equal(store.writeLockPolling(), true);
      assert.deepEqual(store.db.prepare("SELECT count(*) FROM notes WHERE text = 'worker'").pluck().get(), 2);
    } finally {
      store.close();
    }
  });
});
