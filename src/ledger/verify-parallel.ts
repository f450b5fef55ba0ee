// Verify on several threads. The chain up to the head (read in one read transaction) is cut
// into ranges that worker threads, and the calling thread unless told not to, claim in turn
// and walk with the checks of verify-range.mjs, each on its own connection; the first worker
// also runs SQLite's integrity check of the ledger tables, off the calling thread. The calling
// thread then joins the ranges at their boundaries and finishes with verify's own walk:
// from the first range that did not pass (to name the problem exactly as verify does), or
// from the head (to check the tail). The result is the one `verifyChain` returns.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { SignatureVerifier } from '../core/index.js';
import type { Db } from '../store/index.js';
import type { LedgerParallelVerifyOptions, LedgerVerifyOptions } from './types.js';
import {
  alteredTablesResult,
  readChainSnapshot,
  signatureProblem,
  startOf,
  verifyChain,
  walkChain,
  type ChainSnapshot,
  type ChainVerification,
  type VerifyChainOptions,
  type WalkStart,
} from './verify.js';
import {
  claimLimit,
  claimRange,
  FAST_CHECKS,
  integrityProblem,
  isWholeRange,
  PAGE,
  rangeClaims,
  rangeWalker,
  stopClaimsFrom,
  type ChainRange,
  type RangeOutcome,
  type RangeProblem,
} from './verify-range.mjs';

/** `verifyChain`'s options and how to spread the walk over threads (see `LedgerParallelVerifyOptions`). */
export type ParallelVerifyOptions = VerifyChainOptions & Omit<LedgerParallelVerifyOptions, keyof LedgerVerifyOptions>;

/** What tests replace: the worker script, and how long a worker may hold a range without news. */
export interface VerifyWorkerSetup {
  readonly script?: URL;
  readonly stallMs?: number;
}

/**
 * One thread per core: two on a core only take turns. Capped at four because each worker
 * costs its start-up; the cap is a guess, as only two cores were there to measure on.
 */
export const DEFAULT_VERIFY_THREADS = Math.min(availableParallelism(), 4);
/**
 * A worker costs ~60–85 ms of wall time and ~65–90 ms of CPU to start and warm up
 * (bench/ledger.ts measures it). Two threads against one, measured on 2 cores: 20,000 entries 195 → 170 ms,
 * 30,000 313 → 252 ms, 50,000 540 → 390 ms; below this the wall time saved is too small
 * for the CPU spent.
 */
export const MIN_ENTRIES_FOR_THREADS = 30_000;
/**
 * One page: a range starts where verify's own walk would start a page, and a thread that
 * runs out of ranges waits at most one page's walk (~40 ms) for the others.
 */
export const ENTRIES_PER_RANGE = PAGE;

const WORKER_SCRIPT = new URL('./verify-worker.mjs', import.meta.url);
/** A worker that reports no range for this long is given up on; its ranges are walked here. */
const STALL_MS = 15_000;

/**
 * Verifies like `verifyChain`, walking ranges of the chain on worker threads. Falls back to
 * the calling thread alone for one thread, a short chain, a connection inside a transaction
 * (workers would not see its rows) or a database in memory; a worker that fails, or stalls,
 * only leaves its ranges to the calling thread.
 */
export async function verifyChainParallel(
  db: Db,
  verifier: SignatureVerifier,
  options: ParallelVerifyOptions = {},
  setup: VerifyWorkerSetup = {},
): Promise<ChainVerification> {
  const threads = options.threads ?? DEFAULT_VERIFY_THREADS;
  const callerWalks = options.keepCallingThreadFree !== true;
  // The file as SQLite resolved it when it opened the database, whatever the cwd is now.
  const file = (db.pragma('database_list') as Array<{ name: string; file: string }>).find((d) => d.name === 'main')?.file ?? '';
  if (threads <= 1 || db.inTransaction || file === '') return verifyChain(db, verifier, options);

  const read = db
    .transaction(() => {
      const altered = alteredTablesResult(db, options);
      if (altered !== undefined) return { altered };
      return { snapshot: readChainSnapshot(db, options), rows: countEntries(db) };
    })
    .deferred();
  if (read.altered !== undefined) return read.altered;
  const { snapshot, rows } = read;
  // The integrity check's outcome as a worker reported it (null: ok); undefined until then.
  // Without one (no worker started, or it died or stalled first) it runs here, in `finish`.
  let integrity: RangeProblem | null | undefined;
  const integrityHere = (): RangeProblem | undefined => (integrity === undefined ? integrityProblem(db) : (integrity ?? undefined));
  const finish = (start: WalkStart): ChainVerification => db.transaction(() => walkChain(db, verifier, snapshot, start, integrityHere)).deferred();
  // A planted row below seq 1, or a missing entry before `fromSeq`, is reported before the
  // integrity check and the walk.
  if (snapshot.beforeChain !== null || snapshot.prevHash === undefined) return finish(startOf(snapshot));
  // The integrity check reads every row of the tables, so their size (not how many entries
  // from `fromSeq` on are walked) decides whether threads pay off.
  if (rows < (options.minEntriesForThreads ?? MIN_ENTRIES_FOR_THREADS)) return finish(startOf(snapshot));
  const ranges = rangesOf(snapshot, lastSeqToCut(snapshot, rows), options.entriesPerRange ?? ENTRIES_PER_RANGE);
  // At least one worker: the first runs the integrity check off this thread.
  const workerCount = Math.max(1, Math.min(callerWalks ? threads - 1 : threads, callerWalks ? ranges.length - 1 : ranges.length));

  const claims = rangeClaims(ranges.length);
  const outcomes: Array<RangeOutcome | undefined> = new Array<RangeOutcome | undefined>(ranges.length);
  const workers = startWorkers(workerCount, setup.script ?? WORKER_SCRIPT, { path: file, ranges, claims, tenant: snapshot.tenant }, (message) => {
    if ('integrity' in message) integrity = message.integrity;
    else if (Number.isSafeInteger(message.index) && message.index >= 0 && message.index < ranges.length) outcomes[message.index] = message.outcome;
  });

  let badSignatureSeq = Infinity;
  try {
    // Signatures need this thread's verifier; check them while the workers start. Ranges
    // past the first bad one need no walk: verify stops there.
    badSignatureSeq = snapshot.checkpoints.find((cp) => cp.seq <= snapshot.head.seq && signatureProblem(verifier, cp) !== undefined)?.seq ?? Infinity;
    if (badSignatureSeq !== Infinity) stopClaimsFrom(claims, rangeIndexOf(ranges, badSignatureSeq) + 1);
    if (callerWalks) {
      const walk = rangeWalker(db, snapshot.tenant);
      db.transaction(() => {
        for (let index = claimRange(claims); index !== -1; index = claimRange(claims)) {
          const range = ranges[index] as ChainRange;
          const outcome = walk(range, FAST_CHECKS);
          outcomes[index] = outcome;
          if (!isWholeRange(outcome, range)) stopClaimsFrom(claims, index + 1);
        }
      }).deferred();
    }
  } catch (err) {
    // An SQLite error here fails verify as it fails `verifyChain`; the workers stop with it.
    for (const w of workers) w.terminate().catch(() => undefined);
    throw err;
  }
  await collect(workers, () => integrity !== undefined && isEveryRangeIn(outcomes, claimLimit(claims)), setup.stallMs ?? STALL_MS);
  return finish(joinRanges(snapshot, ranges, outcomes, badSignatureSeq));
}

/**
 * The number of entries. A bare `count(*)` is SQLite's cheapest count: it reads the
 * smallest index's pages without decoding a row (measured: ~3 ms per 200,000 entries,
 * against ~40 ms for a count over a seq range and ~2 s for the walk).
 */
function countEntries(db: Db): number {
  return db.prepare('SELECT count(*) FROM ledger_entries').pluck().get() as number;
}

/**
 * The last seq the ranges reach: the head, or the last seq before it at which `rows`
 * entries run out. The seqs are distinct integers from 1 on (the table's shape and the
 * out_of_range check saw to that), so when fewer than `head - fromSeq + 1` of them lie in
 * [fromSeq, head], one of [fromSeq, fromSeq - 1 + rows] is missing: the first hole lies in
 * the ranges, where the walk names it as verify does (as a gap, or an earlier problem
 * first). Ranges cut up to a row planted at a huge seq would take memory in proportion to
 * its seq rather than to the entries there are.
 */
function lastSeqToCut(snapshot: ChainSnapshot, rows: number): number {
  return Math.min(snapshot.head.seq, snapshot.fromSeq - 1 + rows);
}

/** Cuts [fromSeq, last] into ranges of `size` entries, each with the checkpoints inside it. */
function rangesOf(snapshot: ChainSnapshot, last: number, size: number): ChainRange[] {
  const ranges: ChainRange[] = [];
  const { checkpoints } = snapshot;
  let cp = 0;
  for (let from = snapshot.fromSeq; from <= last; from += size) {
    const to = Math.min(last, from + size - 1);
    const first = cp;
    while (cp < checkpoints.length && (checkpoints[cp] as { seq: number }).seq <= to) cp++;
    const inside = checkpoints.slice(first, cp).map(({ seq, headHash, source }) => ({ seq, headHash, source }));
    ranges.push({ chainStart: snapshot.fromSeq, from, to, prevHash: undefined, checkpoints: inside });
  }
  return ranges;
}

function rangeIndexOf(ranges: readonly ChainRange[], seq: number): number {
  const index = ranges.findIndex((r) => seq <= r.to);
  return index === -1 ? ranges.length : index;
}

function isEveryRangeIn(outcomes: ReadonlyArray<RangeOutcome | undefined>, count: number): boolean {
  for (let i = 0; i < count; i++) if (outcomes[i] === undefined) return false;
  return true;
}

/**
 * The point verify's own walk resumes at: past every range that passed whole and links to
 * the range before it, up to the first that did not (or was never walked).
 */
function joinRanges(snapshot: ChainSnapshot, ranges: readonly ChainRange[], outcomes: ReadonlyArray<RangeOutcome | undefined>, badSignatureSeq: number): WalkStart {
  let start = startOf(snapshot);
  for (const [index, range] of ranges.entries()) {
    const outcome = outcomes[index];
    // INVARIANT: a range counts as verified only when every entry in it passed and its first
    // entry records the hash the range before it ends with (the genesis hash, or the hash
    // of entry fromSeq - 1, for the first range).
    if (outcome === undefined || !isWholeRange(outcome, range) || outcome.firstPrevHash !== start.prevHash || badSignatureSeq <= range.to) return start;
    start = {
      from: range.to + 1,
      prevHash: outcome.lastHash,
      checked: start.checked + outcome.checked,
      checkpoints: start.checkpoints + outcome.checkpoints,
      tenantEntries: { checked: start.tenantEntries.checked + outcome.tenantChecked, lastSeq: outcome.tenantLastSeq || start.tenantEntries.lastSeq },
    };
  }
  // INVARIANT: the joined ranges end at the head this thread read. A worker that opened
  // another file by the same path (the database replaced while open) cannot pass for it.
  if (ranges.length > 0 && start.prevHash !== snapshot.head.hash) return startOf(snapshot);
  return start;
}

/** What a worker posts: the outcome of a range, or (the first worker, once) of the integrity check. */
type WorkerMessage = { readonly index: number; readonly outcome: RangeOutcome } | { readonly integrity: RangeProblem | null };

function startWorkers(
  count: number,
  script: URL,
  data: { path: string; ranges: ChainRange[]; claims: Int32Array; tenant: string | undefined },
  onMessage: (message: WorkerMessage) => void,
): Worker[] {
  const workers: Worker[] = [];
  for (let i = 0; i < count; i++) {
    let worker: Worker;
    try {
      // No inherited `--import tsx`: the worker is plain JS, and the loader would cost
      // ~200 ms of CPU per worker (measured). The first runs the integrity check before
      // claiming ranges, while the others walk.
      worker = new Worker(script, { workerData: { ...data, checkIntegrity: i === 0 }, execArgv: [] });
    } catch {
      break; // fewer workers; the calling thread walks (and checks) what they would have
    }
    worker.on('message', onMessage);
    // A failed worker is not the caller's error: its ranges are walked here instead.
    worker.on('error', () => undefined);
    workers.push(worker);
  }
  return workers;
}

/**
 * Waits until `isDone`, every worker has exited, or no worker has reported for `stallMs`;
 * then stops the workers still running.
 */
function collect(workers: readonly Worker[], isDone: () => boolean, stallMs: number): Promise<void> {
  return new Promise((resolve) => {
    let running = workers.length;
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      // Not awaited: a worker stuck in a native call must not hold the result back.
      for (const w of workers) w.terminate().catch(() => undefined);
      resolve();
    };
    const progress = (): void => {
      if (finished) return;
      if (running === 0 || isDone()) return finish();
      clearTimeout(timer);
      timer = setTimeout(finish, stallMs);
    };
    for (const w of workers) {
      w.on('message', progress);
      w.on('exit', () => {
        running--;
        progress();
      });
    }
    progress();
  });
}
