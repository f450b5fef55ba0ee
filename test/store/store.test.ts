import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { endianness, tmpdir } from 'node:os';
import { openStore, statement, type Migration } from '../../src/store/index.js';
import { isWritError } from '../../src/core/index.js';

const migrations: Migration[] = [
  { area: 'demo', version: 1, name: 'items', up: 'CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT' },
  { area: 'demo', version: 2, name: 'tags', up: 'CREATE TABLE tags (item_id INTEGER NOT NULL REFERENCES items(id), tag TEXT NOT NULL) STRICT' },
];

describe('store', () => {
  test('a new database, its folder, WAL and shared memory are owner-only', () => {
    const root = mkdtempSync(join(tmpdir(), 'writ-mode-'));
    try {
      const path = join(root, 'home', 'writ.db');
      const store = openStore({ path });
      store.transaction((db) => db.exec('CREATE TABLE t (x INTEGER)'));
      const mode = (p: string) => statSync(p).mode & 0o777;
      assert.equal(mode(join(root, 'home')), 0o700);
      assert.equal(mode(path), 0o600);
      assert.equal(mode(`${path}-wal`), 0o600);
      assert.equal(mode(`${path}-shm`), 0o600);
      store.close();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'writ-store-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('opens a real SQLite file in WAL mode with foreign keys and a busy timeout', () => {
    const store = openStore({ path: join(dir, 'a.db'), migrations });
    try {
      assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
      assert.equal(store.db.pragma('busy_timeout', { simple: true }), 5000);
      assert.throws(() => store.db.prepare('INSERT INTO tags (item_id, tag) VALUES (42, ?)').run('x'), /FOREIGN KEY/);
    } finally {
      store.close();
    }
  });

  test('applies each migration once, in order, and records it', () => {
    const path = join(dir, 'b.db');
    openStore({ path, migrations: migrations.slice(0, 1) }).close();
    const store = openStore({ path, migrations });
    try {
      assert.deepEqual(
        store.appliedMigrations().map((m) => [m.area, m.version]),
        [['demo', 1], ['demo', 2]],
      );
    } finally {
      store.close();
    }
    // Reopening applies nothing new.
    const again = openStore({ path, migrations });
    assert.equal(again.appliedMigrations().length, 2);
    again.close();
  });

  test('refuses a database written by a newer schema', () => {
    const path = join(dir, 'c.db');
    openStore({ path, migrations }).close();
    assert.throws(() => openStore({ path, migrations: migrations.slice(0, 1) }), (e: unknown) => isWritError(e, 'STORE_NEWER_SCHEMA'));
  });

  test('a failed migration leaves the database at the last good version', () => {
    const path = join(dir, 'd.db');
    const bad: Migration[] = [migrations[0] as Migration, { area: 'demo', version: 2, name: 'broken', up: 'CREATE TABLE nope (' }];
    assert.throws(() => openStore({ path, migrations: bad }), (e: unknown) => isWritError(e, 'STORE_MIGRATION_FAILED'));
    const store = openStore({ path, migrations });
    assert.deepEqual(store.appliedMigrations().map((m) => m.version), [1, 2]);
    store.close();
  });

  test('transaction commits together or not at all, and nests', () => {
    const store = openStore({ path: join(dir, 'e.db'), migrations });
    try {
      const insert = store.db.prepare('INSERT INTO items (name) VALUES (?)');
      assert.throws(() =>
        store.transaction(() => {
          insert.run('one');
          insert.run('one'); // UNIQUE violation rolls back the first insert too
        }),
      );
      assert.equal((store.db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n, 0);
      store.transaction(() => {
        insert.run('outer');
        try {
          store.transaction(() => {
            insert.run('inner');
            throw new Error('inner fails');
          });
        } catch {
          // the inner savepoint rolls back alone
        }
      });
      assert.deepEqual(store.db.prepare('SELECT name FROM items').pluck().all(), ['outer']);
    } finally {
      store.close();
    }
  });

  test('two connections on one file see each other and serialize writers', () => {
    const path = join(dir, 'f.db');
    const a = openStore({ path, migrations });
    const b = openStore({ path, migrations });
    try {
      a.transaction((db) => db.prepare('INSERT INTO items (name) VALUES (?)').run('from-a'));
      assert.deepEqual(b.db.prepare('SELECT name FROM items').pluck().all(), ['from-a']);
    } finally {
      a.close();
      b.close();
    }
  });
  test('statement() prepares each SQL text once per connection, and stays bounded', () => {
    const store = openStore({ path: join(dir, 'stmt.db'), migrations });
    const other = openStore({ path: join(dir, 'stmt.db'), migrations });
    try {
      const sql = 'SELECT count(*) FROM items WHERE name = ?';
      const first = statement(store.db, sql);
      assert.equal(statement(store.db, sql), first);
      assert.notEqual(statement(other.db, sql), first, 'one cache per connection');
      assert.equal(first.pluck().get('none'), 0);
      // Built-per-call SQL cannot grow the cache without bound: the oldest entries go.
      for (let i = 0; i < 600; i++) statement(store.db, `SELECT ${i} AS n`);
      assert.notEqual(statement(store.db, sql), first);
      assert.equal(statement(store.db, 'SELECT 599 AS n').pluck().get(), 599);
    } finally {
      store.close();
      other.close();
    }
  });
  test('a background checkpointer copies the WAL back while a writer keeps committing', async () => {
    const path = join(dir, 'bg.db');
    const store = openStore({ path, migrations, backgroundCheckpoint: true });
    try {
      const insert = store.db.prepare('INSERT INTO items (name) VALUES (?)');
      const filler = 'x'.repeat(3000);
      // ~25 MiB of commits, past the worker's 16 MiB threshold, with pauses for its ticks.
      for (let round = 0; round < 12; round++) {
        for (let i = 0; i < 700; i++) store.transaction(() => insert.run(`${round}-${i}-${filler}`));
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      assert.ok(store.backgroundCheckpoints() > 0, 'the worker completed checkpoints');
      assert.equal((store.db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n, 8400);
    } finally {
      store.close();
    }
    const plain = openStore({ path: join(dir, 'plain.db'), migrations });
    assert.equal(plain.backgroundCheckpoints(), 0);
    plain.close();
  });
  test('with a background checkpointer, a busy WAL starts over without any commit checkpointing, and a quiet one is left alone', { skip: endianness() !== 'LE' }, async () => {
    const path = join(dir, 'bg-busy.db');
    const store = openStore({ path, migrations, backgroundCheckpoint: true });
    // Frames in the WAL, from the wal-index header (mxFrame, native byte order).
    const walFrames = () => readFileSync(`${path}-shm`).readUInt32LE(16);
    try {
      // Commits never checkpoint here: only the worker and the tail copy it asks for can.
      store.db.pragma('wal_autocheckpoint = 0');
      const insert = store.db.prepare('INSERT INTO items (name) VALUES (?)');
      const filler = 'y'.repeat(3000);
      let peak = 0;
      let startedOver = false;
      const deadline = Date.now() + 30_000;
      // A writer that never pauses for long: the event loop turns between small batches.
      for (let i = 0; !startedOver && Date.now() < deadline; i++) {
        store.transaction(() => insert.run(`${i}-${filler}`));
        const frames = walFrames();
        peak = Math.max(peak, frames);
        if (peak >= 4000 && frames < peak / 2) startedOver = true;
        if (i % 4 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      assert.ok(peak >= 4000, `the WAL reached the worker's threshold (peak ${peak} frames)`);
      assert.ok(startedOver, `the WAL started over while the writer kept committing (peak ${peak}, now ${walFrames()} frames)`);
      // Quiet now: the WAL file keeps its size, but nothing is left to copy, so no more checkpoints.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const settled = store.backgroundCheckpoints();
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.equal(store.backgroundCheckpoints(), settled, 'no checkpoints while nothing is written');
    } finally {
      store.close();
    }
  });
});
