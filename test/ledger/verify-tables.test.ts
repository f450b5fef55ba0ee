// Tamper evidence below the rows, in every verify mode: ledger tables rebuilt with another
// shape (so a row can sit at a seq verify's pages never reach), and indexes pointed at
// b-trees that leave entries out (so lineage and impact lose them while the chain verifies).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { APPEND_ONLY_TRIGGERS, APPEND_ONLY_TRIGGERS_SQL, ledgerMigrations, type LedgerApi, type LedgerVerification } from '../../src/ledger/index.js';
import { tableShapeProblem } from '../../src/ledger/table-shape.js';
import { verifyChainParallel } from '../../src/ledger/verify-parallel.js';
import { verifyChain } from '../../src/ledger/verify.js';
import { openStore, type Db } from '../../src/store/index.js';
import { makeFixture, sampleEntry, type Fixture } from './fixtures.js';

const fixtures: Fixture[] = [];
after(() => fixtures.forEach((f) => f.cleanup()));

const MODES = {
  'three workers': { threads: 3, keepCallingThreadFree: true, minEntriesForThreads: 0, entriesPerRange: 2 },
  'calling thread and a worker': { threads: 2, minEntriesForThreads: 0, entriesPerRange: 2 },
};

function chainOf(n: number): Fixture {
  const f = makeFixture({ checkpointEvery: 4 });
  fixtures.push(f);
  f.store.transaction(() => f.ledger.appendMany(Array.from({ length: n }, (_, i) => sampleEntry(i + 1, [`bnd_${i + 1}`, 'doc_A']))));
  f.ledger.checkpoint();
  return f;
}

/**
 * Rebuilds `table` from `create` (a CREATE TABLE for the same name) as an attacker with the
 * file would: triggers dropped, every row copied, indexes and triggers added back.
 */
function rebuild(db: Db, table: string, create: string): void {
  const indexes = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL").pluck().all(table) as string[];
  const columns = (db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(table) as string[]).join(', ');
  for (const t of APPEND_ONLY_TRIGGERS) db.exec(`DROP TRIGGER ${t}`);
  db.exec(`ALTER TABLE ${table} RENAME TO rebuilt_old; ${create}; INSERT INTO ${table} (${columns}) SELECT ${columns} FROM rebuilt_old; DROP TABLE rebuilt_old;`);
  for (const sql of indexes) db.exec(sql);
  db.exec(APPEND_ONLY_TRIGGERS_SQL);
}

const ENTRY_COLUMNS = 'at TEXT NOT NULL, kind TEXT NOT NULL, subject_id TEXT NOT NULL, tenant TEXT, actor_id TEXT, request_id TEXT, refs TEXT NOT NULL, body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL';
const CHECKPOINT_COLUMNS = 'at TEXT NOT NULL, head_hash TEXT NOT NULL, kid TEXT NOT NULL, signature TEXT NOT NULL, checkpoint_every INTEGER';

function expectAltered(result: LedgerVerification, message: RegExp): void {
  assert.equal(result.ok, false, 'verify should fail');
  assert.deepEqual({ seq: result.firstBad?.seq, problem: result.firstBad?.problem, checked: result.checked }, { seq: 0, problem: 'schema_altered', checked: 0 }, result.firstBad?.message);
  assert.match(result.firstBad?.message ?? '', message);
}

async function expectAlteredEverywhere(ledger: LedgerApi, message: RegExp): Promise<void> {
  const result = ledger.verify();
  expectAltered(result, message);
  expectAltered(ledger.verify({ fromSeq: 3 }), message);
  for (const [mode, options] of Object.entries(MODES)) assert.deepEqual(await ledger.verifyAsync(options), result, mode);
  const tenant = await ledger.verifyForTenant('acme', MODES['three workers']);
  assert.deepEqual({ ok: tenant.ok, seq: tenant.firstBad?.seq, problem: tenant.firstBad?.problem }, { ok: false, seq: undefined, problem: 'schema_altered' });
}

describe('ledger verify checks the shape of its tables', () => {
  test('the tables the migrations make have the shape verify expects, also before schema 3', () => {
    for (const migrations of [ledgerMigrations, ledgerMigrations.slice(0, 2)]) {
      const store = openStore({ path: ':memory:', migrations });
      try {
        assert.equal(tableShapeProblem(store.db), undefined, tableShapeProblem(store.db)?.message);
      } finally {
        store.close();
      }
    }
  });

  test('entries rebuilt without the INTEGER PRIMARY KEY, with a row planted between two pages, are named as schema_altered in every mode', async () => {
    // 4100 entries: verify's first page ends at 4096, so a row at 4096.5 falls between pages.
    const f = chainOf(4100);
    const planted = "(4096.5, '2026-11-26T09:00:00.000Z', 'approval.granted', 'apr_FAKE', 'acme', 'user:mallory', NULL, '[\"prp_10\"]', '{}', 'sha256:x', 'sha256:y')";
    rebuild(f.store.db, 'ledger_entries', `CREATE TABLE ledger_entries (seq NUMERIC PRIMARY KEY, ${ENTRY_COLUMNS})`);
    rebuild(f.store.db, 'ledger_refs', 'CREATE TABLE ledger_refs (seq NUMERIC NOT NULL, ref TEXT NOT NULL, PRIMARY KEY (seq, ref)) WITHOUT ROWID');
    f.store.db.exec(`INSERT INTO ledger_entries VALUES ${planted}; INSERT INTO ledger_refs VALUES (4096.5, 'prp_10');`);
    // What the attack gains: queries return the planted row.
    assert.ok(f.ledger.impact('prp_10').entries.some((e) => e.subjectId === 'apr_FAKE'));
    await expectAlteredEverywhere(f.ledger, /^table `ledger_entries` is not STRICT: it was rebuilt outside the migrations/);
    expectAltered(f.ledger.verify({ fromSeq: 4000 }), /ledger_entries/);
  });

  const alterations: Array<[string, string, string, RegExp]> = [
    ['a STRICT entries table whose seq takes any value', 'ledger_entries', `CREATE TABLE ledger_entries (seq ANY PRIMARY KEY, ${ENTRY_COLUMNS}) STRICT`, /`ledger_entries` has column `seq ANY NOT NULL PRIMARY KEY #1` where the migrations give `seq INTEGER PRIMARY KEY #1`/],
    ['an entries table keyed by INTEGER PRIMARY KEY DESC (not the rowid)', 'ledger_entries', `CREATE TABLE ledger_entries (seq INTEGER PRIMARY KEY DESC, ${ENTRY_COLUMNS}) STRICT`, /`ledger_entries` has column `seq INTEGER NOT NULL PRIMARY KEY #1` where the migrations give `seq INTEGER PRIMARY KEY #1`/],
    ['a WITHOUT ROWID entries table', 'ledger_entries', `CREATE TABLE ledger_entries (seq INTEGER PRIMARY KEY, ${ENTRY_COLUMNS}) STRICT, WITHOUT ROWID`, /`ledger_entries` is WITHOUT ROWID/],
    ['an entries table with a column more', 'ledger_entries', `CREATE TABLE ledger_entries (seq INTEGER PRIMARY KEY, ${ENTRY_COLUMNS}, note TEXT) STRICT`, /`ledger_entries` has columns `seq, at, .*, hash, note`/],
    ['a refs index keyed by (ref, seq)', 'ledger_refs', 'CREATE TABLE ledger_refs (seq INTEGER NOT NULL, ref TEXT NOT NULL, PRIMARY KEY (ref, seq)) STRICT, WITHOUT ROWID', /`ledger_refs` has column `seq INTEGER NOT NULL PRIMARY KEY #2` where the migrations give `seq INTEGER NOT NULL PRIMARY KEY #1`/],
    ['a refs index with a case-blind key', 'ledger_refs', 'CREATE TABLE ledger_refs (seq INTEGER NOT NULL, ref TEXT NOT NULL COLLATE NOCASE, PRIMARY KEY (seq, ref)) STRICT, WITHOUT ROWID', /`ledger_refs` has primary key `\(seq, ref COLLATE NOCASE\)`/],
    ['a refs index with a rowid', 'ledger_refs', 'CREATE TABLE ledger_refs (seq INTEGER NOT NULL, ref TEXT NOT NULL, PRIMARY KEY (seq, ref)) STRICT', /`ledger_refs` is not WITHOUT ROWID/],
    ['a checkpoints table that is not STRICT', 'ledger_checkpoints', `CREATE TABLE ledger_checkpoints (seq INTEGER PRIMARY KEY, ${CHECKPOINT_COLUMNS})`, /`ledger_checkpoints` is not STRICT/],
  ];
  for (const [name, table, create, message] of alterations) {
    test(`${name} is named as schema_altered`, async () => {
      const f = chainOf(6);
      rebuild(f.store.db, table, create);
      await expectAlteredEverywhere(f.ledger, message);
    });
  }

  test('a missing table is reported, not thrown', async () => {
    const f = chainOf(6);
    for (const t of APPEND_ONLY_TRIGGERS) f.store.db.exec(`DROP TRIGGER ${t}`);
    f.store.db.exec('DROP TABLE ledger_checkpoints');
    await expectAlteredEverywhere(f.ledger, /^table `ledger_checkpoints` is missing/);
    assert.equal(f.ledger.verify().head.seq, 6);
  });
});

/**
 * Points `ledger_refs_by_ref` and `ledger_entries_by_subject` at b-trees built without the
 * rows of entry `seq`, as an attacker with the file and `PRAGMA writable_schema` would
 * (the tables and their rows stay as they were). Takes effect on connections opened after.
 */
function swapIndexesLeavingOut(db: Db, seq: number): void {
  db.exec(`
    CREATE TABLE swap_refs (seq INTEGER NOT NULL, ref TEXT NOT NULL, PRIMARY KEY (seq, ref)) STRICT, WITHOUT ROWID;
    INSERT INTO swap_refs SELECT * FROM ledger_refs WHERE seq <> ${seq};
    CREATE INDEX swap_refs_by_ref ON swap_refs (substr(ref, instr(ref, '_') + 1));
    CREATE TABLE swap_entries (seq INTEGER PRIMARY KEY, subject_id TEXT);
    INSERT INTO swap_entries SELECT seq, subject_id FROM ledger_entries WHERE seq <> ${seq};
    CREATE INDEX swap_entries_by_subject ON swap_entries (subject_id, seq);`);
  db.unsafeMode(true);
  try {
    db.pragma('writable_schema = ON');
    db.exec(`
      UPDATE sqlite_master SET rootpage = (SELECT rootpage FROM sqlite_master WHERE name = 'swap_refs_by_ref') WHERE name = 'ledger_refs_by_ref';
      UPDATE sqlite_master SET rootpage = (SELECT rootpage FROM sqlite_master WHERE name = 'swap_entries_by_subject') WHERE name = 'ledger_entries_by_subject';
      DELETE FROM sqlite_master WHERE name LIKE 'swap_%';`);
    db.pragma('writable_schema = OFF');
  } finally {
    db.unsafeMode(false);
  }
}

/** Records the SQL the connection prepares that runs SQLite's integrity check. */
function spyIntegrityChecks(db: Db): { readonly seen: string[]; restore(): void } {
  const seen: string[] = [];
  const prepare = db.prepare;
  db.prepare = ((sql: string) => {
    if (sql.includes('integrity_check')) seen.push(sql);
    return prepare.call(db, sql);
  }) as typeof db.prepare;
  return { seen, restore: () => void delete (db as { prepare?: unknown }).prepare };
}

describe('ledger verify checks the indexes lineage and impact read', () => {
  test('indexes pointed at b-trees that leave an entry out are named as index_corrupt in every mode', async () => {
    const f = chainOf(12);
    swapIndexesLeavingOut(f.store.db, 5);
    const { store, ledger } = f.reopen();
    // What the attack gains: the chain still links, but queries lose entry 5.
    assert.deepEqual(ledger.entriesAbout('prp_5'), []);
    assert.equal(ledger.impact('doc_A').entries.some((e) => e.seq === 5), false);
    const result = ledger.verify();
    assert.deepEqual({ ok: result.ok, seq: result.firstBad?.seq, problem: result.firstBad?.problem, checked: result.checked }, { ok: false, seq: 0, problem: 'index_corrupt', checked: 0 });
    assert.match(result.firstBad?.message ?? '', /^SQLite's integrity check of `ledger_entries` and its indexes fails: `(wrong # of entries in|row \d+ missing from) index ledger_entries_by_subject/);
    assert.deepEqual(ledger.verify({ fromSeq: 9 }), result);
    for (const [mode, options] of Object.entries(MODES)) {
      assert.deepEqual(await ledger.verifyAsync(options), result, mode);
      assert.deepEqual(await ledger.verifyAsync({ ...options, fromSeq: 9 }), result, `${mode}, from 9`);
    }
    const tenant = await ledger.verifyForTenant('acme', MODES['three workers']);
    assert.deepEqual({ ok: tenant.ok, seq: tenant.firstBad?.seq, problem: tenant.firstBad?.problem }, { ok: false, seq: undefined, problem: 'index_corrupt' });
    assert.equal(store.db.prepare('PRAGMA integrity_check(ledger_refs)').pluck().get() === 'ok', false, 'the refs index is caught too');
  });

  test('with the calling thread kept free, the integrity check runs on a worker thread', async () => {
    const f = chainOf(12);
    const spy = spyIntegrityChecks(f.store.db);
    try {
      assert.equal((await f.ledger.verifyAsync(MODES['three workers'])).ok, true);
      assert.deepEqual(spy.seen, [], 'no integrity check on the calling thread');
      f.ledger.verify();
      assert.equal(spy.seen.length, 3, 'verify checks the three tables on its own thread');
    } finally {
      spy.restore();
    }
    swapIndexesLeavingOut(f.store.db, 5);
    const { store, ledger } = f.reopen();
    const reopened = spyIntegrityChecks(store.db);
    try {
      assert.equal((await ledger.verifyAsync(MODES['three workers'])).firstBad?.problem, 'index_corrupt');
      assert.deepEqual(reopened.seen, [], 'the worker reported it');
    } finally {
      reopened.restore();
    }
  });

  for (const name of ['crash', 'quit']) {
    test(`a worker that ${name === 'crash' ? 'cannot start' : 'exits first'} leaves the integrity check to the calling thread`, async () => {
      const f = chainOf(12);
      swapIndexesLeavingOut(f.store.db, 5);
      const { store } = f.reopen();
      const script = new URL(`./verify-workers/${name}.mjs`, import.meta.url);
      const result = await verifyChainParallel(store.db, f.keyring, MODES['three workers'], { script, stallMs: 300 });
      assert.deepEqual(result, verifyChain(store.db, f.keyring));
      assert.equal(result.firstBad?.problem, 'index_corrupt');
    });
  }
});
