// Shared set-up for ledger tests: a real SQLite file and ledger keyring in a temp folder,
// and a way to tamper with rows the way an attacker with the file would (triggers dropped).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Clock, openKeyring, type Keyring } from '../../src/core/index.js';
import {
  APPEND_ONLY_TRIGGERS,
  APPEND_ONLY_TRIGGERS_SQL,
  createLedger,
  entryHash,
  ledgerMigrations,
  type LedgerApi,
  type LedgerAppend,
  type LedgerOptions,
} from '../../src/ledger/index.js';
import { openStore, type Db, type Store } from '../../src/store/index.js';

export interface Fixture {
  readonly dir: string;
  readonly dbPath: string;
  readonly store: Store;
  readonly keyring: Keyring;
  readonly ledger: LedgerApi;
  /** Opens another store + ledger on the same file (a second process). */
  reopen(options?: Partial<LedgerOptions>): { store: Store; ledger: LedgerApi };
  cleanup(): void;
}

/** A fixed clock that steps one millisecond per call. */
export function steppingClock(start = Date.parse('2026-11-26T09:00:00.000Z')): Clock {
  let t = start;
  return { now: () => new Date(t++) };
}

export function makeFixture(options: Partial<LedgerOptions> = {}): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'writ-'));
  const dbPath = join(dir, 'writ.db');
  const store = openStore({ path: dbPath, migrations: ledgerMigrations });
  const keyring = openKeyring({ dir: join(dir, 'keys', 'ledger'), purpose: 'ledger' });
  const ledger = createLedger({ store, keyring, clock: steppingClock(), ...options });
  const opened: Store[] = [store];
  return {
    dir,
    dbPath,
    store,
    keyring,
    ledger,
    reopen(more = {}) {
      const s = openStore({ path: dbPath, migrations: ledgerMigrations });
      opened.push(s);
      const k = openKeyring({ dir: join(dir, 'keys', 'ledger'), purpose: 'ledger' });
      return { store: s, ledger: createLedger({ store: s, keyring: k, clock: steppingClock(), ...options, ...more }) };
    },
    cleanup() {
      for (const s of opened) s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An entry numbered `i`, with a body and refs that differ per entry. */
export function sampleEntry(i: number, refs: string[] = [`bnd_${i}`]): LedgerAppend {
  return {
    kind: 'proposal.created',
    subjectId: `prp_${i}`,
    tenant: 'acme',
    actorId: 'agent:bot',
    requestId: `req_${i}`,
    refs,
    body: { n: i, action: 'refund', params: { amount: 10 + i, currency: 'EUR' } },
  };
}

/** Runs `fn` with the append-only triggers dropped, as an attacker editing the file would. */
export function tamper(db: Db, fn: (db: Db) => void): void {
  for (const t of APPEND_ONLY_TRIGGERS) db.exec(`DROP TRIGGER ${t}`);
  try {
    fn(db);
  } finally {
    db.exec(APPEND_ONLY_TRIGGERS_SQL);
  }
}

type Row = {
  seq: number;
  at: string;
  kind: string;
  subject_id: string;
  tenant: string | null;
  actor_id: string | null;
  request_id: string | null;
  refs: string;
  body: string;
  prev_hash: string;
  hash: string;
};

/** The stored row of entry `seq`. */
export function rowOf(db: Db, seq: number): Row {
  return db.prepare('SELECT * FROM ledger_entries WHERE seq = ?').get(seq) as Row;
}

/** The hash a row should carry, recomputed from its (possibly edited) fields. */
export function rehash(row: Row): string {
  return entryHash({
    seq: row.seq,
    at: row.at,
    kind: row.kind,
    subjectId: row.subject_id,
    tenant: row.tenant,
    actorId: row.actor_id,
    requestId: row.request_id,
    refsText: row.refs,
    bodyText: row.body,
    prevHash: row.prev_hash,
  });
}
