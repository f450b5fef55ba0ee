// Contract of the ledger: what every other area may call. The implementation lives beside
// this file (append, checkpoints, verify, lineage).
import type { JsonValue } from '../core/index.js';

/**
 * What a caller appends. `kind` reads `area.event` (`document.ingested`, `bundle.sealed`,
 * `proposal.created`, `decision.made`, `approval.granted`, `warrant.issued`,
 * `transition.executed`…). `refs` names the records this entry links to, for lineage and
 * impact queries (e.g. a decision refs its proposal; a proposal refs its basis bundles).
 */
export interface LedgerAppend {
  readonly kind: string;
  /** Id of the record this entry is about (document, bundle, proposal, decision…). */
  readonly subjectId: string;
  readonly tenant?: string | null;
  /** The authenticated principal that caused it; never a caller-filled field. */
  readonly actorId?: string | null;
  readonly requestId?: string | null;
  readonly refs?: readonly string[];
  readonly body: JsonValue;
}

/** A stored entry: the appended fields plus its place and hashes in the chain. */
export interface LedgerEntry extends LedgerAppend {
  readonly seq: number;
  readonly at: string;
  readonly prevHash: string;
  readonly hash: string;
}

export interface Ledger {
  /**
   * Appends one entry and returns it. Synchronous: called inside `store.transaction()`
   * it joins that transaction, so the entry commits or rolls back with the change it
   * records. Never drops an entry; a busy store makes the caller wait.
   */
  append(entry: LedgerAppend): LedgerEntry;
}

/** The last entry of the chain; `seq` 0 and the genesis hash when the ledger is empty. */
export interface LedgerHead {
  readonly seq: number;
  readonly hash: string;
  readonly at: string | null;
}

/** A signed statement that the chain's entry `seq` had hash `headHash`. */
export interface LedgerCheckpoint {
  readonly seq: number;
  readonly at: string;
  readonly headHash: string;
  /** Key id in the ledger keyring (or its published JWKS). */
  readonly kid: string;
  /** base64url Ed25519 signature over the checkpoint payload (see src/ledger/README.md). */
  readonly signature: string;
}

/** What `verify` names as the first thing wrong. */
export type LedgerProblem =
  /** The entry's stored hash is not the hash of its fields: the entry was edited. */
  | 'hash_mismatch'
  /** The entry does not record its predecessor's hash: the predecessor was rewritten. */
  | 'broken_link'
  /** A sequence number is missing: an entry was deleted. */
  | 'gap'
  /** The entry is intact but sits at another sequence number than it was written at. */
  | 'reordered'
  /** A checkpoint's signature does not verify (or its key is unknown). */
  | 'checkpoint_signature'
  /** A signed checkpoint names a hash the entry at its seq no longer has. */
  | 'checkpoint_mismatch'
  /** A signed checkpoint (or the anchor) names an entry past the end: the tail was cut off. */
  | 'truncated'
  /** The refs index (`ledger_refs`) disagrees with the entry's hashed refs. */
  | 'refs_mismatch'
  /** A row of a ledger table sits at a seq below 1, outside the chain: it was planted. */
  | 'out_of_range'
  /** The newest checkpoint is older than the checkpoint interval allows: checkpoints were deleted. */
  | 'checkpoint_missing';

/** The outcome of walking the chain. */
export interface LedgerVerification {
  readonly ok: boolean;
  /** Entries checked. */
  readonly checked: number;
  /** Signed checkpoints checked (the anchor included). */
  readonly checkpoints: number;
  readonly head: LedgerHead;
  readonly firstBad?: { readonly seq: number; readonly problem: LedgerProblem; readonly message: string };
}

export interface LedgerVerifyOptions {
  /**
   * Start at this seq, trusting the stored hash of the entry before it. Default 1. At most
   * the head's seq + 1 (which checks no entry); a larger one is refused as
   * LEDGER_INVALID_QUERY, as there is no entry before it to trust.
   */
  readonly fromSeq?: number;
  /** A checkpoint kept outside the database (published, or from `anchorFile`); catches a cut-off tail. */
  readonly anchor?: LedgerCheckpoint;
  /** Verify checkpoint signatures against this JWKS instead of the ledger keyring (external auditors). */
  readonly jwks?: unknown;
}

/** Options of `verifyAsync`: those of `verify`, and how to spread the walk over threads. */
export interface LedgerParallelVerifyOptions extends LedgerVerifyOptions {
  /**
   * Threads that walk the chain, the calling one included (unless `keepCallingThreadFree`);
   * 1 walks it on the calling thread alone. Default: the cores available, at most 4.
   */
  readonly threads?: number;
  /**
   * With fewer entries to check, the calling thread walks them alone: a worker thread costs
   * ~60–85 ms and as much CPU to start and warm up. Default 30,000.
   */
  readonly minEntriesForThreads?: number;
  /** Entries a thread claims at a time. Default 4096. */
  readonly entriesPerRange?: number;
  /** Walk on worker threads only, so the calling thread's event loop stays free (a server). Default false. */
  readonly keepCallingThreadFree?: boolean;
}

/** A page of entries in seq order. */
export interface LedgerQuery {
  /** Only entries with a larger seq. Default 0. */
  readonly afterSeq?: number;
  /** 1–10,000; default 100. */
  readonly limit?: number;
  readonly kinds?: readonly string[];
  /** Only this tenant; `null` for entries without one. */
  readonly tenant?: string | null;
}

/** Entries reached by a lineage or impact walk, in seq order and grouped by kind. */
export interface LedgerGraph {
  /** The id the walk started from. */
  readonly id: string;
  readonly entries: readonly LedgerEntry[];
  readonly byKind: Readonly<Record<string, readonly LedgerEntry[]>>;
  /** True when the walk stopped at `maxEntries`. */
  readonly truncated: boolean;
}

export interface LedgerGraphOptions {
  /** Stop after this many entries. Default 10,000. */
  readonly maxEntries?: number;
  /** Only walk through entries of this tenant. */
  readonly tenant?: string;
}

/** The full ledger API; `Ledger` above is the part every area appends through. */
export interface LedgerApi extends Ledger {
  /** Appends several entries in one transaction, in order. */
  appendMany(entries: readonly LedgerAppend[]): LedgerEntry[];
  /** Signs the current head; returns the existing checkpoint when the head is already signed, null when empty. */
  checkpoint(): LedgerCheckpoint | null;
  /** The newest checkpoint, or null. */
  lastCheckpoint(): LedgerCheckpoint | null;
  checkpoints(options?: { afterSeq?: number; limit?: number }): LedgerCheckpoint[];
  head(): LedgerHead;
  entry(seq: number): LedgerEntry | undefined;
  entries(query?: LedgerQuery): LedgerEntry[];
  /** Entries whose refs name `id`, oldest first. */
  entriesReferencing(id: string): LedgerEntry[];
  /** Entries whose subject is `subjectId`, oldest first. */
  entriesAbout(subjectId: string): LedgerEntry[];
  /** Walks refs backward from `id`: what informed it (decision → proposal → bundles → documents). */
  lineage(id: string, options?: LedgerGraphOptions): LedgerGraph;
  /** Walks refs forward from `id`: what it informed (document → bundles → proposals → decisions → transitions). */
  impact(id: string, options?: LedgerGraphOptions): LedgerGraph;
  /** Walks the whole chain and every checkpoint; never throws for a broken chain, reports it. */
  verify(options?: LedgerVerifyOptions): LedgerVerification;
  /**
   * `verify` on several threads: worker threads, each with its own read-only connection,
   * walk disjoint ranges of the chain up to the head read at the start, joined at their
   * boundaries. Resolves to exactly what `verify` returns. Walks on the calling thread
   * alone for `threads` 1, a short chain, a database in memory, or when called inside a
   * transaction; a worker that fails only leaves its ranges to the calling thread.
   */
  verifyAsync(options?: LedgerParallelVerifyOptions): Promise<LedgerVerification>;
  /**
   * Resolves once the anchor file (`anchorFile`) names the newest checkpoint committed so
   * far. After a commit the anchor is written off the calling thread, once the WAL holding
   * the checkpoint is synced; `checkpoint()` and `close()` write it before returning.
   */
  anchorWritten(): Promise<void>;
  /** Checkpoints the head (its anchor written before returning) and refuses further appends. Idempotent. Does not close the store. */
  close(): void;
  /**
   * Calls `listener` after entries were appended through this ledger, once their
   * transaction has ended (committed or rolled back: read the entries by seq to know).
   * Calls are coalesced and never run inside a transaction. Returns an unsubscribe function.
   */
  onAppend(listener: () => void): () => void;
}
