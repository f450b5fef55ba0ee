// Walks the hash chain and every signed checkpoint, and names the first thing wrong.
// Reads in one read transaction, so a concurrent writer never makes a sound chain look
// truncated. The algorithm is written out in README.md for auditors; the checks of each
// entry live in verify-range.mjs, shared with the worker threads of verify-parallel.ts.
import { WritError, type SignatureVerifier } from '../core/index.js';
import type { Db } from '../store/index.js';
import { checkpointColumns, hasIntervalColumn, toCheckpoint, type CheckpointRow } from './checkpoint-row.js';
import { LedgerErrors } from './errors.js';
import { checkpointPayload, entryHash, GENESIS_HASH, type HashedRow } from './hash-chain.js';
import type { LedgerCheckpoint, LedgerHead, LedgerVerification } from './types.js';
import { tableShapeProblem } from './table-shape.js';
import { integrityProblem, rangeWalker, type RangeChecks, type RangeProblem } from './verify-range.mjs';

/**
 * How far from its place (in seqs, either way) `verify` looks for the seq a moved entry was
 * written at. Each candidate costs an entry hash, and only a row that failed its hash is
 * looked at, so an intact chain never pays for it; a bad row costs at most 2048 hashes of
 * itself. A row moved farther is still caught at its seq, as `hash_mismatch`.
 */
export const REORDER_WINDOW = 1024;

/** A checkpoint or the anchor, as verify checks it. */
export type PinnedCheckpoint = LedgerCheckpoint & { readonly source: 'checkpoint' | 'anchor' };
type Row = [number, string, string, string, string | null, string | null, string | null, string, string, string, string];

const ROW_COLUMNS = 'seq, at, kind, subject_id, tenant, actor_id, request_id, refs, body, prev_hash, hash';

function hashedRow(row: Row, seq = row[0]): HashedRow {
  return {
    seq,
    at: row[1],
    kind: row[2],
    subjectId: row[3],
    tenant: row[4],
    actorId: row[5],
    requestId: row[6],
    refsText: row[7],
    bodyText: row[8],
    prevHash: row[9],
  };
}

function originalSeqOf(row: Row): number | undefined {
  const seq = row[0];
  for (let d = 1; d <= REORDER_WINDOW; d++) {
    for (const c of [seq - d, seq + d]) {
      if (c >= 1 && entryHash(hashedRow(row, c)) === row[10]) return c;
    }
  }
  return undefined;
}

export interface VerifyChainOptions {
  /** Start at this seq, trusting entry `fromSeq - 1`; at most the head's seq + 1. Default 1. */
  readonly fromSeq?: number;
  readonly anchor?: LedgerCheckpoint;
  /**
   * The interval used when the newest checkpoint does not state one (it is of the old form,
   * or there is none): the newest checkpoint must be at or past the last multiple of it the
   * chain reached. 0 or absent: not checked then. A stated interval always wins.
   */
  readonly checkpointEvery?: number;
  /** Also count the verified entries of this tenant (`ChainVerification.tenantEntries`). */
  readonly tenant?: string;
}

/** Entries of one tenant among those a walk verified. */
export interface TenantEntries {
  readonly checked: number;
  /** The seq of the newest one; 0 when there is none. */
  readonly lastSeq: number;
}

/** What verify returns, with the tenant's entries counted when the `tenant` option was given. */
export type ChainVerification = LedgerVerification & { readonly tenantEntries?: TenantEntries };

/** What verify reads first, in the read transaction that fixes the head it verifies up to. */
export interface ChainSnapshot {
  readonly fromSeq: number;
  readonly head: LedgerHead;
  /** Checkpoints at `fromSeq` or later, the anchor among them, in seq order. */
  readonly checkpoints: readonly PinnedCheckpoint[];
  /** The hash entry `fromSeq` must link to; undefined when entry `fromSeq - 1` is missing. */
  readonly prevHash: string | undefined;
  /** The lowest seq in the refs index past the head, or null. */
  readonly refAfterHead: number | null;
  /** The lowest seq below 1 of a row in any ledger table, with its table, or null. */
  readonly beforeChain: { readonly seq: number; readonly table: string } | null;
  /** The newest checkpoint row at or below the head (whatever `fromSeq`), if any. */
  readonly newestCheckpoint: PinnedCheckpoint | undefined;
  readonly checkpointEvery: number;
  readonly tenant: string | undefined;
}

const LEDGER_TABLES = ['ledger_entries', 'ledger_refs', 'ledger_checkpoints'] as const;

/** The lowest seq below 1 in the ledger tables: seqs are primary keys, so each is one index probe. */
function rowBeforeChain(db: Db): ChainSnapshot['beforeChain'] {
  let lowest: ChainSnapshot['beforeChain'] = null;
  for (const table of LEDGER_TABLES) {
    const seq = (db.prepare(`SELECT min(seq) FROM ${table}`).pluck().get() as number | null) ?? 1;
    if (seq < 1 && (lowest === null || seq < lowest.seq)) lowest = { seq, table };
  }
  return lowest;
}

/**
 * The result for ledger tables that no longer have the shape the migrations give them, or
 * undefined. Call it inside the read transaction, before `readChainSnapshot`: with such a
 * table nothing else verify reads can be trusted (or may even be there to read).
 */
export function alteredTablesResult(db: Db, options: VerifyChainOptions = {}): ChainVerification | undefined {
  const altered = tableShapeProblem(db);
  if (altered === undefined) return undefined;
  let head: LedgerHead = { seq: 0, hash: GENESIS_HASH, at: null };
  try {
    head = (db.prepare('SELECT seq, hash, at FROM ledger_entries ORDER BY seq DESC LIMIT 1').get() as LedgerHead | undefined) ?? head;
  } catch {
    // The table, or a column of it, is gone: the report says so; there is no head to give.
  }
  const result: LedgerVerification = { ok: false, checked: 0, checkpoints: 0, head, firstBad: altered };
  return options.tenant === undefined ? result : { ...result, tenantEntries: { checked: 0, lastSeq: 0 } };
}

/** Reads the head, checkpoints and tail facts of the chain; call it inside a read transaction. */
export function readChainSnapshot(db: Db, options: VerifyChainOptions = {}): ChainSnapshot {
  const fromSeq = options.fromSeq ?? 1;
  const headRow = db.prepare('SELECT seq, hash, at FROM ledger_entries ORDER BY seq DESC LIMIT 1').get() as LedgerHead | undefined;
  const head: LedgerHead = headRow ?? { seq: 0, hash: GENESIS_HASH, at: null };
  if (fromSeq > head.seq + 1) {
    // Nothing at or after `fromSeq` exists to verify, and no entry `fromSeq - 1` to trust.
    throw new WritError(LedgerErrors.LEDGER_INVALID_QUERY, `invalid ledger query: \`fromSeq\` ${fromSeq} is past the head: the chain ends at entry ${head.seq}`, {
      details: { fromSeq, head: head.seq },
    });
  }
  const columns = checkpointColumns(hasIntervalColumn(db));
  const checkpoints: PinnedCheckpoint[] = (db.prepare(`SELECT ${columns} FROM ledger_checkpoints WHERE seq >= ? ORDER BY seq`).all(fromSeq) as CheckpointRow[]).map(
    (row) => ({ ...toCheckpoint(row), source: 'checkpoint' }),
  );
  if (options.anchor !== undefined && options.anchor.seq >= fromSeq) {
    checkpoints.push({ ...options.anchor, source: 'anchor' });
    checkpoints.sort((a, b) => a.seq - b.seq);
  }
  let prevHash: string | undefined = GENESIS_HASH;
  if (fromSeq > 1) prevHash = (db.prepare('SELECT hash FROM ledger_entries WHERE seq = ?').get(fromSeq - 1) as { hash: string } | undefined)?.hash;
  const refAfterHead = (db.prepare('SELECT min(seq) AS seq FROM ledger_refs WHERE seq > ?').get(head.seq) as { seq: number | null }).seq;
  const newestRow = db.prepare(`SELECT ${columns} FROM ledger_checkpoints WHERE seq <= ? ORDER BY seq DESC LIMIT 1`).get(head.seq) as CheckpointRow | undefined;
  const newestCheckpoint: PinnedCheckpoint | undefined = newestRow === undefined ? undefined : { ...toCheckpoint(newestRow), source: 'checkpoint' };
  const checkpointEvery = options.checkpointEvery ?? 0;
  return { fromSeq, head, checkpoints, prevHash, refAfterHead, beforeChain: rowBeforeChain(db), newestCheckpoint, checkpointEvery, tenant: options.tenant };
}

/** A point the walk starts or resumes at: every entry and checkpoint before `from` passed. */
export interface WalkStart {
  readonly from: number;
  /** The hash of entry `from - 1`. */
  readonly prevHash: string | undefined;
  /** Entries and checkpoints (all those before `from`) that passed. */
  readonly checked: number;
  readonly checkpoints: number;
  /** Of the entries that passed, those of the snapshot's tenant. */
  readonly tenantEntries: TenantEntries;
}

/** The start of a walk over the whole snapshot. */
export function startOf(snapshot: ChainSnapshot): WalkStart {
  return { from: snapshot.fromSeq, prevHash: snapshot.prevHash, checked: 0, checkpoints: 0, tenantEntries: { checked: 0, lastSeq: 0 } };
}

/** The problem of a checkpoint whose signature does not verify, or that its key signed after its retirement; or undefined. */
export function signatureProblem(verifier: SignatureVerifier, cp: PinnedCheckpoint): RangeProblem | undefined {
  if (!verifier.verify(cp.kid, checkpointPayload(cp), cp.signature)) {
    return { seq: cp.seq, problem: 'checkpoint_signature', message: `${cp.source} at seq ${cp.seq} has no valid signature by key \`${cp.kid}\`` };
  }
  // INVARIANT: a retired key signs no checkpoint: one dated after its retirement was made
  // with a copy of the old key.
  if (!verifier.wasActiveAt(cp.kid, cp.at)) {
    return { seq: cp.seq, problem: 'checkpoint_signature', message: `${cp.source} at seq ${cp.seq} is dated after its key \`${cp.kid}\` was retired` };
  }
  return undefined;
}

/** The problem of a row planted below the chain's first seq, or undefined. */
function beforeChainProblem(snapshot: ChainSnapshot): RangeProblem | undefined {
  const row = snapshot.beforeChain;
  if (row === null) return undefined;
  return { seq: row.seq, problem: 'out_of_range', message: `\`${row.table}\` has a row at seq ${row.seq}, before the chain's first entry 1: it was planted` };
}

/**
 * The problem of a chain whose newest checkpoint is older than the interval allows, or
 * undefined. The newest checkpoint states the interval its writer signs at; that writer,
 * and any later one (a ledger whose interval differs signs a checkpoint stating its own with
 * its first append), signs a checkpoint at the last entry of every append that takes the
 * chain across a multiple of it, and `close()` signs the head. So the newest checkpoint is
 * at or past the last multiple of its interval the head reached. A checkpoint of the old
 * form states none: then the verifier's own `checkpointEvery` stands in.
 */
function missingCheckpointProblem(verifier: SignatureVerifier, snapshot: ChainSnapshot): RangeProblem | undefined {
  const newest = snapshot.newestCheckpoint;
  // The walk checked the signatures of the checkpoints from `fromSeq` on; one before it is
  // checked here, since its seq and interval decide this step.
  if (newest !== undefined && newest.seq < snapshot.fromSeq) {
    const wrong = signatureProblem(verifier, newest);
    if (wrong !== undefined) return wrong;
  }
  const stated = newest?.checkpointEvery;
  const every = stated ?? snapshot.checkpointEvery;
  if (every <= 0) return undefined;
  const due = Math.floor(snapshot.head.seq / every) * every;
  if (due < 1 || (newest?.seq ?? 0) >= due) return undefined;
  const rule = stated === undefined ? `a checkpoint every ${every} entries (this ledger's \`checkpointEvery\`)` : `the interval of ${every} entries signed in checkpoint ${(newest as PinnedCheckpoint).seq}`;
  return { seq: due, problem: 'checkpoint_missing', message: `no signed checkpoint at or after entry ${due}, which ${rule} requires: checkpoints were deleted` };
}

/**
 * Walks the snapshot's chain from `start` to its head with every check, then checks the
 * tail (checkpoints and refs past the head). Entries at or below the head never change, so
 * this may run in a later transaction than the one that read the snapshot. `integrity`
 * gives the outcome of `integrityProblem` (run here, or already on a worker thread); it is
 * asked only when no row lies below the chain and its start is there.
 */
export function walkChain(
  db: Db,
  verifier: SignatureVerifier,
  snapshot: ChainSnapshot,
  start: WalkStart,
  integrity: () => RangeProblem | undefined,
): ChainVerification {
  const { head, checkpoints, fromSeq } = snapshot;
  let checked = start.checked;
  let checkpointsChecked = start.checkpoints;
  let tenantEntries = start.tenantEntries;
  const withTenant = (result: LedgerVerification): ChainVerification => (snapshot.tenant === undefined ? result : { ...result, tenantEntries });
  const report = (firstBad: RangeProblem): ChainVerification => withTenant({ ok: false, checked, checkpoints: checkpointsChecked, head, firstBad });
  // Planted rows come before every seq the walk reaches; nothing past them was checked.
  const planted = beforeChainProblem(snapshot);
  if (planted !== undefined) {
    tenantEntries = { checked: 0, lastSeq: 0 };
    return withTenant({ ok: false, checked: 0, checkpoints: 0, head, firstBad: planted });
  }
  if (start.prevHash === undefined) return report({ seq: start.from - 1, problem: 'gap', message: `entry ${start.from - 1} is missing` });
  // An index that disagrees with its table is a problem of the tables, not of one entry:
  // named before the walk, whatever it would find.
  const corrupt = integrity();
  if (corrupt !== undefined) {
    tenantEntries = { checked: 0, lastSeq: 0 };
    return withTenant({ ok: false, checked: 0, checkpoints: 0, head, firstBad: corrupt });
  }

  const fullRow = db.prepare(`SELECT ${ROW_COLUMNS} FROM ledger_entries WHERE seq = ?`).raw();
  const checks: RangeChecks<PinnedCheckpoint> = {
    // A row whose SQL-built hash input does not hash right is re-checked with the JS form
    // before it is called bad; then the seq it was written at tells a move from an edit.
    hashFailed(seq) {
      const row = fullRow.get(seq) as Row;
      if (entryHash(hashedRow(row)) === row[10]) return undefined;
      const original = originalSeqOf(row);
      return original === undefined
        ? { seq, problem: 'hash_mismatch', message: `entry ${seq} does not match its hash: it was edited, or moved from more than ${REORDER_WINDOW} entries away` }
        : { seq, problem: 'reordered', message: `entry ${seq} was written as entry ${original}: entries were reordered` };
    },
    checkpointSignature: (cp) => signatureProblem(verifier, cp),
  };
  const outcome = rangeWalker(db, snapshot.tenant)(
    { chainStart: fromSeq, from: start.from, to: head.seq, prevHash: start.prevHash, checkpoints: checkpoints.slice(start.checkpoints) },
    checks,
  );
  checked += outcome.checked;
  checkpointsChecked += outcome.checkpoints;
  tenantEntries = { checked: tenantEntries.checked + outcome.tenantChecked, lastSeq: outcome.tenantLastSeq || tenantEntries.lastSeq };
  if (outcome.firstBad !== undefined) return report(outcome.firstBad);

  // Every checkpoint up to the head passed; one past it names an entry that is gone.
  const end = outcome.next - 1;
  const beyond = checkpoints[checkpointsChecked];
  if (beyond !== undefined) {
    const wrong = signatureProblem(verifier, beyond);
    if (wrong !== undefined) return report(wrong);
    return report({ seq: end + 1, problem: 'truncated', message: `a signed ${beyond.source} names entry ${beyond.seq} but the chain ends at ${end}: its tail was cut off` });
  }
  if (snapshot.refAfterHead !== null) {
    return report({ seq: end + 1, problem: 'truncated', message: `the refs index lists entry ${snapshot.refAfterHead} but the chain ends at ${end}: its tail was cut off` });
  }
  const missing = missingCheckpointProblem(verifier, snapshot);
  if (missing !== undefined) return report(missing);
  return withTenant({ ok: true, checked, checkpoints: checkpointsChecked, head });
}

/**
 * Verifies the ledger tables of `db`, checking checkpoint signatures with `verifier`.
 * Stops at the first problem, which it names with its seq.
 */
export function verifyChain(db: Db, verifier: SignatureVerifier, options: VerifyChainOptions = {}): ChainVerification {
  // A deferred transaction is a read snapshot in WAL mode: entries and checkpoints agree.
  return db
    .transaction(() => {
      const altered = alteredTablesResult(db, options);
      if (altered !== undefined) return altered;
      const snapshot = readChainSnapshot(db, options);
      return walkChain(db, verifier, snapshot, startOf(snapshot), () => integrityProblem(db));
    })
    .deferred();
}
