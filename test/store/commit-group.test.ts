// Group commit on a real SQLite file: jobs of one turn share a transaction, each settles
// after the shared commit, and a failing job loses only its own writes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createCommitGroup, openStore, type Migration, type Store } from '../../src/store/index.js';

const migrations: Migration[] = [{ area: 'demo', version: 1, name: 'items', up: 'CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT' }];

describe('commit group', () => {
  let dir: string;
  let n = 0;
  const open = (): { store: Store; reader: Store } => {
    const path = join(dir, `g${++n}.db`);
    const store = openStore({ path, migrations });
    return { store, reader: openStore({ path, readonly: true }) };
  };
  const names = (s: Store): string[] => (s.db.prepare('SELECT name FROM items ORDER BY id').all() as Array<{ name: string }>).map((r) => r.name);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'writ-commit-group-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('jobs of one turn run in one transaction and settle after its commit', async () => {
    const { store, reader } = open();
    try {
      const group = createCommitGroup(store);
      const seenByReader: string[][] = [];
      const results = await Promise.all(
        ['a', 'b', 'c'].map((name) =>
          group.run((db) => {
            // Another connection sees none of the group's rows before the shared commit.
            seenByReader.push(names(reader));
            return Number(db.prepare('INSERT INTO items (name) VALUES (?)').run(name).lastInsertRowid);
          }),
        ),
      );
      assert.deepEqual(results, [1, 2, 3]);
      assert.deepEqual(seenByReader, [[], [], []]);
      // Settled means committed: the other connection sees every row now.
      assert.deepEqual(names(reader), ['a', 'b', 'c']);
    } finally {
      reader.close();
      store.close();
    }
  });

  test('a failing job rejects with its own error and loses only its own writes', async () => {
    const { store, reader } = open();
    try {
      const group = createCommitGroup(store);
      const ok1 = group.run((db) => db.prepare('INSERT INTO items (name) VALUES (?)').run('kept-1').changes);
      const bad = group.run((db) => {
        db.prepare('INSERT INTO items (name) VALUES (?)').run('rolled-back');
        db.prepare('INSERT INTO items (name) VALUES (?)').run('kept-1'); // UNIQUE violation
        return 'unreachable';
      });
      const ok2 = group.run((db) => db.prepare('INSERT INTO items (name) VALUES (?)').run('kept-2').changes);
      assert.equal(await ok1, 1);
      await assert.rejects(bad, /UNIQUE constraint failed/);
      assert.equal(await ok2, 1);
      assert.deepEqual(names(reader), ['kept-1', 'kept-2']);
    } finally {
      reader.close();
      store.close();
    }
  });

  test("onThrow 'keep' commits what the job's own transaction kept, and still rejects", async () => {
    const { store, reader } = open();
    try {
      const group = createCommitGroup(store);
      // Like the broker refusing a proposal: its own transaction records the refusal and commits, then it throws.
      const refuse = (name: string) => (db: Store['db']): never => {
        store.transaction(() => db.prepare('INSERT INTO items (name) VALUES (?)').run(name));
        throw new Error('refused');
      };
      await assert.rejects(group.run(refuse('refusal recorded'), { onThrow: 'keep' }), /refused/);
      // The default undoes even what the job's own transaction committed.
      await assert.rejects(group.run(refuse('refusal undone')), /refused/);
      assert.deepEqual(names(reader), ['refusal recorded']);
      // A nested transaction that fails is still undone in keep mode.
      await assert.rejects(
        group.run(() => store.transaction((db) => {
          db.prepare("INSERT INTO items (name) VALUES ('half')").run();
          throw new Error('midway');
        }), { onThrow: 'keep' }),
        /midway/,
      );
      assert.deepEqual(names(reader), ['refusal recorded']);
    } finally {
      reader.close();
      store.close();
    }
  });

  test('more jobs than maxJobs are split over turns, in order', async () => {
    const { store, reader } = open();
    try {
      const group = createCommitGroup(store, { maxJobs: 2 });
      const visible: number[] = [];
      const all = Array.from({ length: 5 }, (_, i) =>
        group.run((db) => {
          visible.push(names(reader).length);
          db.prepare('INSERT INTO items (name) VALUES (?)').run(`i${i}`);
        }),
      );
      await Promise.all(all);
      // Groups [0,1], [2,3], [4]: each group sees what the earlier groups committed.
      assert.deepEqual(visible, [0, 0, 2, 2, 4]);
      assert.deepEqual(names(reader), ['i0', 'i1', 'i2', 'i3', 'i4']);
    } finally {
      reader.close();
      store.close();
    }
  });

  test('when the shared transaction cannot run, every job of the group rejects and nothing is written', async () => {
    const { store, reader } = open();
    try {
      const group = createCommitGroup(store);
      const jobs = [group.run((db) => db.prepare("INSERT INTO items (name) VALUES ('x')").run()), group.run(() => 'no writes')];
      store.close(); // before the group's turn: its transaction cannot begin
      const settled = await Promise.allSettled(jobs);
      assert.deepEqual(settled.map((s) => s.status), ['rejected', 'rejected']);
      assert.deepEqual(names(reader), []);
    } finally {
      reader.close();
      store.close();
    }
  });

  test('a job without a savepoint writes straight into the group; a throw re-runs the group so it fails alone', async () => {
    const { store, reader } = open();
    try {
      const group = createCommitGroup(store);
      let runsOfGood = 0;
      let runsOfBad = 0;
      const before = group.run((db) => db.prepare('INSERT INTO items (name) VALUES (?)').run('first').changes);
      const good = group.run((db) => {
        runsOfGood++;
        return db.prepare('INSERT INTO items (name) VALUES (?)').run('bare-ok').changes;
      }, { savepoint: false });
      const bad = group.run((db) => {
        runsOfBad++;
        db.prepare('INSERT INTO items (name) VALUES (?)').run('bare-half');
        db.prepare('INSERT INTO items (name) VALUES (?)').run('first'); // UNIQUE violation
      }, { savepoint: false });
      const after = group.run((db) => db.prepare('INSERT INTO items (name) VALUES (?)').run('last').changes);
      assert.equal(await before, 1);
      assert.equal(await good, 1);
      await assert.rejects(bad, /UNIQUE constraint failed/);
      assert.equal(await after, 1);
      // The first run was rolled back whole, then every job ran again in its own savepoint.
      assert.equal(runsOfGood, 2);
      assert.equal(runsOfBad, 2);
      assert.deepEqual(names(reader), ['first', 'bare-ok', 'last']);

      // Without a throw, nothing runs twice.
      let runs = 0;
      await group.run((db) => {
        runs++;
        db.prepare('INSERT INTO items (name) VALUES (?)').run('once');
      }, { savepoint: false });
      assert.equal(runs, 1);
      assert.deepEqual(names(reader), ['first', 'bare-ok', 'last', 'once']);
      assert.throws(() => group.run(() => 1, { savepoint: false, onThrow: 'keep' }), RangeError);
    } finally {
      reader.close();
      store.close();
    }
  });

  test('rejects a bad maxJobs', () => {
    const { store, reader } = open();
    try {
      assert.throws(() => createCommitGroup(store, { maxJobs: 0 }), RangeError);
    } finally {
      reader.close();
      store.close();
    }
  });
});
