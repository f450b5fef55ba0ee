// Walks the hash chain and every signed checkpoint, and names the first thing wrong.
// Reads in one read transaction, so a concurrent writer never makes a sound chain look
// truncated. The algorithm is written out in README.md for auditors; the checks of each
// entry live in verify-range.mjs, shared with the worker threads of verify-parallel.ts.
import { WritError, type SignatureVerifier } from '../core/index.js';
import type { Db } from '../store/index.js';
import { LedgerErrors } from './errors.js';
import { checkpointPayload, entryHash, GENESIS_HASH, type HashedRow } from './hash-chain.js';
import type { LedgerCheckpoint, LedgerHead, LedgerVerification } from './types.js';
import { rangeWalker, type RangeChecks, type RangeProblem } from './verify-range.mjs';

/** How far from its place `verify` looks for the seq a moved entry was written at. */
const REORDER_WINDOW = 1024;

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
   * The interval the ledger signs checkpoints at (`createLedger`'s `checkpointEvery`); the
   * newest checkpoint must then be at or past the last multiple of it the chain reached.
   * 0 or absent: not checked.
   */
  readonly checkpointEvery?: number;
}

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
  /** The seq of the newest checkpoint row at or below the head; 0 when there is none. */
  readonly newestCheckpointSeq: number;
  readonly checkpointEvery: number;
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
  const checkpoints: PinnedCheckpoint[] = (
    db.prepare('SELECT seq, at, head_hash AS headHash, kid, signature FROM ledger_checkpoints WHERE seq >= ? ORDER BY seq').all(fromSeq) as LedgerCheckpoint[]
  ).map((cp) => ({ ...cp, source: 'checkpoint' }));
  if (options.anchor !== undefined && options.anchor.seq >= fromSeq) {
    checkpoints.push({ ...options.anchor, source: 'anchor' });
    checkpoints.sort((a, b) => a.seq - b.seq);
  }
  let prevHash: string | undefined = GENESIS_HASH;
  if (fromSeq > 1) prevHash = (db.prepare('SELECT hash FROM ledger_entries WHERE seq = ?').get(fromSeq - 1) as { hash: string } | undefined)?.hash;
  const refAfterHead = (db.prepare('SELECT min(seq) AS seq FROM ledger_refs WHERE seq > ?').get(head.seq) as { seq: number | null }).seq;
  const newestCheckpointSeq = (db.prepare('SELECT max(seq) FROM ledger_checkpoints WHERE seq <= ?').pluck().get(head.seq) as number | null) ?? 0;
  const checkpointEvery = options.checkpointEvery ?? 0;
  return { fromSeq, head, checkpoints, prevHash, refAfterHead, beforeChain: rowBeforeChain(db), newestCheckpointSeq, checkpointEvery };
}

/** A point the walk starts or resumes at: every entry and checkpoint before `from` passed. */
export interface WalkStart {
  readonly from: number;
  /** The hash of entry `from - 1`. */
  readonly prevHash: string | undefined;
  /** Entries and checkpoints (all those before `from`) that passed. */
  readonly checked: number;
  readonly checkpoints: number;
}

/** The start of a walk over the whole snapshot. */
export function startOf(snapshot: ChainSnapshot): WalkStart {
  return { from: snapshot.fromSeq, prevHash: snapshot.prevHash, checked: 0, checkpoints: 0 };
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
 * undefined. Every append that takes the chain across a multiple of `checkpointEvery`
 * signs a checkpoint at its last entry (and `close()` signs the head), so the newest
 * checkpoint is at or past the last multiple the head reached.
 */
function missingCheckpointProblem(snapshot: ChainSnapshot): RangeProblem | undefined {
  const every = snapshot.checkpointEvery;
  if (every <= 0) return undefined;
  const due = Math.floor(snapshot.head.seq / every) * every;
  if (due < 1 || snapshot.newestCheckpointSeq >= due) return undefined;
  return {
    seq: due,
    problem: 'checkpoint_missing',
    message: `no signed checkpoint at or after entry ${due}, which a checkpoint every ${every} entries requires: checkpoints were deleted`,
  };
}

/**
 * Walks the snapshot's chain from `start` to its head with every check, then checks the
 * tail (checkpoints and refs past the head). Entries at or below the head never change, so
 * this may run in a later transaction than the one that read the snapshot.
 */
export function walkChain(db: Db, verifier: SignatureVerifier, snapshot: ChainSnapshot, start: WalkStart): LedgerVerification {
  const { head, checkpoints, fromSeq } = snapshot;
  let checked = start.checked;
  let checkpointsChecked = start.checkpoints;
  const report = (firstBad: RangeProblem): LedgerVerification => ({ ok: false, checked, checkpoints: checkpointsChecked, head, firstBad });
  // Planted rows come before every seq the walk reaches; nothing past them was checked.
  const planted = beforeChainProblem(snapshot);
  if (planted !== undefined) return { ok: false, checked: 0, checkpoints: 0, head, firstBad: planted };
  if (start.prevHash === undefined) return report({ seq: start.from - 1, problem: 'gap', message: `entry ${start.from - 1} is missing` });

  const fullRow = db.prepare(`SELECT ${ROW_COLUMNS} FROM ledger_entries WHERE seq = ?`).raw();
  const checks: RangeChecks<PinnedCheckpoint> = {
    // A row whose SQL-built hash input does not hash right is re-checked with the JS form
    // before it is called bad; then the seq it was written at tells a move from an edit.
    hashFailed(seq) {
      const row = fullRow.get(seq) as Row;
      if (entryHash(hashedRow(row)) === row[10]) return undefined;
      const original = originalSeqOf(row);
      return original === undefined
        ? { seq, problem: 'hash_mismatch', message: `entry ${seq} does not match its hash: it was edited` }
        : { seq, problem: 'reordered', message: `entry ${seq} was written as entry ${original}: entries were reordered` };
    },
    checkpointSignature: (cp) => signatureProblem(verifier, cp),
  };
  const outcome = rangeWalker(db)(
    { chainStart: fromSeq, from: start.from, to: head.seq, prevHash: start.prevHash, checkpoints: checkpoints.slice(start.checkpoints) },
    checks,
  );
  checked += outcome.checked;
  checkpointsChecked += outcome.checkpoints;
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
  const missing = missingCheckpointProblem(snapshot);
  if (missing !== undefined) return report(missing);
  return { ok: true, checked, checkpoints: checkpointsChecked, head };
}

/**
 * Verifies the ledger tables of `db`, checking checkpoint signatures with `verifier`.
 * Stops at the first problem, which it names with its seq.
 */
export function verifyChain(db: Db, verifier: SignatureVerifier, options: VerifyChainOptions = {}): LedgerVerification {
  // A deferred transaction is a read snapshot in WAL mode: entries and checkpoints agree.
  return db
    .transaction(() => {
      const snapshot = readChainSnapshot(db, options);
      return walkChain(db, verifier, snapshot, startOf(snapshot));
    })
    .deferred();
}
