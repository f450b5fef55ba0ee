// Types of verify-range.mjs (plain JS, so worker threads can load it without a TypeScript loader).
import type { Db } from '../store/index.js';
import type { LedgerProblem } from './types.js';

/** What a walk names as the first thing wrong. */
export interface RangeProblem {
  readonly seq: number;
  readonly problem: LedgerProblem;
  readonly message: string;
}

/** A signed checkpoint (or the anchor) as the walk checks it against the entries. */
export interface RangeCheckpoint {
  readonly seq: number;
  readonly headHash: string;
  readonly source: 'checkpoint' | 'anchor';
}

/** A stretch of the chain to walk. */
export interface ChainRange<C extends RangeCheckpoint = RangeCheckpoint> {
  /** The seq verify started at: a broken first link there is named at that entry. */
  readonly chainStart: number;
  /** First and last seq of the range (inclusive). */
  readonly from: number;
  readonly to: number;
  /** The hash entry `from` must link to; undefined: the walk records it as `firstPrevHash` instead. */
  readonly prevHash: string | undefined;
  /** Checkpoints to check on the way, in seq order; those past the last entry walked are left alone. */
  readonly checkpoints: readonly C[];
}

/** Where a walk stopped. Counts are those of this walk alone. */
export interface RangeOutcome {
  /** Entries that passed every check. */
  readonly checked: number;
  /** Checkpoints that passed (a prefix of `range.checkpoints`). */
  readonly checkpoints: number;
  /** Entries that passed and belong to the walker's tenant (0 without one). */
  readonly tenantChecked: number;
  /** The seq of the last of those; 0 when there is none. */
  readonly tenantLastSeq: number;
  /** The seq after the last entry that passed. */
  readonly next: number;
  /** Hash of the last entry that passed; `range.prevHash` when none did. */
  readonly lastHash: string | undefined;
  /** The prev_hash of the first entry, recorded when `range.prevHash` is undefined. */
  readonly firstPrevHash: string | undefined;
  readonly firstBad: RangeProblem | undefined;
}

/** How a walk looks closer at what the SQL fast path cannot settle. */
export interface RangeChecks<C extends RangeCheckpoint = RangeCheckpoint> {
  /** A row whose SQL-built hash input does not hash to its stored hash: a problem, or undefined when it is sound after all. */
  hashFailed(seq: number): RangeProblem | undefined;
  /** A checkpoint's signature: a problem, or undefined when it verifies. Omitted: not checked here. */
  checkpointSignature?(checkpoint: C): RangeProblem | undefined;
}

export type WalkRange = <C extends RangeCheckpoint>(range: ChainRange<C>, checks: RangeChecks<C>) => RangeOutcome;

/** Entries read per query. */
export declare const PAGE: number;
/** Checks for a walk that cannot look closer (a worker): a failed fast hash check stops the walk. */
export declare const FAST_CHECKS: RangeChecks;
/** Prepares the walk's statements on `db` once; the returned function walks one range, counting the passed entries of `tenant` when given. */
export declare function rangeWalker(db: Db, tenant?: string): WalkRange;
/** SQLite's integrity check of each ledger table and its indexes: the problem (`index_corrupt`) quoting its first complaint, or undefined. */
export declare function integrityProblem(db: Db): RangeProblem | undefined;
/** True when a walk of `range` found nothing wrong and reached its last seq. */
export declare function isWholeRange(outcome: RangeOutcome, range: ChainRange): boolean;
/** The shared counters through which threads claim `count` ranges. */
export declare function rangeClaims(count: number): Int32Array;
/** Claims the next range: its index, or -1 when none is left worth walking. */
export declare function claimRange(claims: Int32Array): number;
/** Ranges from `index` on need no walk: stop claiming them. */
export declare function stopClaimsFrom(claims: Int32Array, index: number): void;
/** How many ranges are worth walking now. */
export declare function claimLimit(claims: Int32Array): number;
