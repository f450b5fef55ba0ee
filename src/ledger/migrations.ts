// Schema of the ledger: entries, their refs index and signed checkpoints, each made
// append-only by triggers that abort any UPDATE or DELETE.
import type { Migration } from '../store/index.js';

const LEDGER_TABLES = ['ledger_entries', 'ledger_refs', 'ledger_checkpoints'] as const;

/** Names of the triggers that keep the ledger tables append-only. */
export const APPEND_ONLY_TRIGGERS: readonly string[] = LEDGER_TABLES.flatMap((t) => [`${t}_no_update`, `${t}_no_delete`]);

/** The SQL that (re)creates the append-only triggers; idempotent. */
export const APPEND_ONLY_TRIGGERS_SQL = LEDGER_TABLES.map(
  (t) => `
CREATE TRIGGER IF NOT EXISTS ${t}_no_update BEFORE UPDATE ON ${t}
BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ${t}_no_delete BEFORE DELETE ON ${t}
BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;`,
).join('\n');

/**
 * The key of a ref in the refs index: the id after its first `_` (the whole id when it has
 * none). Queries must use this very expression for SQLite to use the index.
 */
export const REF_KEY_SQL = (column: string): string => `substr(${column}, instr(${column}, '_') + 1)`;

/** Migrations of the `ledger` area; pass them to `openStore`. */
export const ledgerMigrations: Migration[] = [
  {
    area: 'ledger',
    version: 1,
    name: 'hash-chained entries, refs index, signed checkpoints',
    up: `
CREATE TABLE ledger_entries (
  seq INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  kind TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  tenant TEXT,
  actor_id TEXT,
  request_id TEXT,
  refs TEXT NOT NULL,
  body TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
) STRICT;
CREATE INDEX ledger_entries_by_subject ON ledger_entries (subject_id, seq);
CREATE TABLE ledger_refs (
  seq INTEGER NOT NULL,
  ref TEXT NOT NULL,
  PRIMARY KEY (seq, ref)
) STRICT, WITHOUT ROWID;
CREATE INDEX ledger_refs_by_ref ON ledger_refs (ref, seq);
CREATE TABLE ledger_checkpoints (
  seq INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  head_hash TEXT NOT NULL,
  kid TEXT NOT NULL,
  signature TEXT NOT NULL
) STRICT;
${APPEND_ONLY_TRIGGERS_SQL}
`,
  },
  {
    area: 'ledger',
    version: 2,
    // Writ's ids are a kind prefix and a ULID (\`prp_01J…\`, \`dec_01J…\`): indexed by the full
    // id, the refs of one entry land at the right edge of one region per kind, a page each
    // per commit. Keyed by the ULID part, every recent id sorts to one right edge, so an
    // append touches one page of this index. Lookups match the same expression.
    name: 'refs index keyed by the time-ordered part of each id',
    up: `
DROP INDEX ledger_refs_by_ref;
CREATE INDEX ledger_refs_by_ref ON ledger_refs (${REF_KEY_SQL('ref')});
`,
  },
  {
    area: 'ledger',
    version: 3,
    // Verify holds the chain after the newest checkpoint to the interval its writer signed
    // at; stored, and signed, with each checkpoint, it no longer depends on the config of
    // whoever verifies. NULL on the rows signed before (their payload has no interval).
    name: 'checkpoints state the interval they were signed at',
    up: `
ALTER TABLE ledger_checkpoints ADD COLUMN checkpoint_every INTEGER CHECK (checkpoint_every >= 0);
`,
  },
  {
    area: 'ledger',
    version: 4,
    // "What did request X do?" — after a timed-out write, or for an auditor following one
    // request. Request ids are time-ordered (\`req_\` + ULID), so an append touches the right
    // edge of this index only; entries written outside any request (NULL) are not in it.
    name: 'entries findable by the request that caused them',
    up: `
CREATE INDEX ledger_entries_by_request ON ledger_entries (request_id) WHERE request_id IS NOT NULL;
`,
  },
  {
    area: 'ledger',
    version: 5,
    // Home-wide entries (no tenant: policy set activations, key rotations) by kind, newest
    // last: "which policy set was recorded last?" is one step down this index before every
    // decision, however many activations there are. Tenant entries are not in it.
    name: 'home-wide entries findable by kind',
    up: `
CREATE INDEX ledger_entries_home_wide ON ledger_entries (kind, seq) WHERE tenant IS NULL;
`,
  },
];
