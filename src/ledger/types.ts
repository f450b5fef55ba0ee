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

/**
 * A signed statement that the chain's entry `seq` had hash `headHash`, and that its writer
 * signs a checkpoint every `checkpointEvery` entries.
 */
export interface LedgerCheckpoint {
  readonly seq: number;
  readonly at: string;
  readonly headHash: string;
  /**
   * The interval of the ledger that signed it (`createLedger`'s `checkpointEvery`; 0: only
   * `checkpoint()` and `close()` sign). Signed with the rest; verify holds the chain after the
   * newest checkpoint to it. Absent on checkpoints signed before the interval was (the old
   * payload form), for which verify uses its own `checkpointEvery`.
   */
  readonly checkpointEvery?: number;
  /** Key id in the ledger keyring (or its published JWKS). */
  readonly kid: string;
  /** base64url Ed25519 signature over the checkpoint payload (see src/ledger/README.md). */
  readonly signature: string;
}

/** What `verify` names as the first thing wrong. */
export type LedgerProblem =
  /**
   * The entry's stored hash is not the hash of its fields: the entry was edited, or moved
   * from more than `REORDER_WINDOW` (1024) seqs away, farther than verify looks for its origin.
   */
  | 'hash_mismatch'
  /** The entry does not record its predecessor's hash: the predecessor was rewritten. */
  | 'broken_link'
  /** A sequence number is missing: an entry was deleted. */
  | 'gap'
  /**
   * The entry is intact but sits at another sequence number than it was written at, within
   * `REORDER_WINDOW` (1024) seqs of it; the message names that seq. A move farther than that
   * is reported as `hash_mismatch`, at the same seq.
   */
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
  /**
   * The newest checkpoint is older than the checkpoint interval allows (the interval the
   * newest checkpoint signed, or verify's own `checkpointEvery` for an old-form one):
   * checkpoints were deleted.
   */
  | 'checkpoint_missing'
  /**
   * A ledger table no longer has the shape the migrations give it (not STRICT, another
   * primary key, a seq that is not its INTEGER rowid, other columns, a view, missing): it was
   * rebuilt, so rows at seqs verify never reads could be in it. Reported first, at seq 0.
   */
  | 'schema_altered'
  /**
   * SQLite's integrity check of a ledger table and its indexes fails (the message quotes its
   * first complaint): typically an index that lineage and impact read was pointed at a
   * b-tree that leaves out entries, which the walk itself never reads. Reported before the
   * walk, at seq 0.
   */
  | 'index_corrupt';

/** The outcome of walking the chain. */
export interface LedgerVerification {
  readonly ok: boolean;
  /** Entries checked. */
  readonly checked: number;
  /** Signed checkpoints checked (the anchor included). */
  readonly checkpoints: number;
  readonly head: LedgerHead;
  /**
   * The first problem. `problem` says what kind; `message` says more, e.g. for `reordered`
   * the seq the entry was written at (found only within 1024 seqs of where it sits).
   */
  readonly firstBad?: { readonly seq: number; readonly problem: LedgerProblem; readonly message: string };
}

/**
 * What verify tells an auditor of one tenant (`GET /v1/audit/verify`). The chain is one, so
 * its verdict is the whole chain's; every figure is of the tenant's own entries. Nothing
 * about other tenants' entries comes out: not how many there are, not the newest one's seq,
 * hash or time, not where one failed.
 */
export interface LedgerTenantVerification {
  /** The whole chain is intact. */
  readonly ok: boolean;
  readonly tenant: string;
  /** Entries of the tenant among those verified (all of them when `ok`). */
  readonly checked: number;
  /** The tenant's newest verified entry; null when none was verified. */
  readonly lastChecked: { readonly seq: number; readonly hash: string; readonly at: string } | null;
  /**
   * The first problem of the chain. `seq` and the detailed message only when it is an entry
   * of the tenant (by its stored `tenant`); otherwise no seq and a message that names no entry.
   */
  readonly firstBad?: { readonly seq?: number; readonly problem: LedgerProblem; readonly message: string };
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
   * With fewer entries in the ledger (all of them, whatever `fromSeq`: the integrity check
   * reads every row), the calling thread walks and checks them alone: a worker thread costs
   * ~60–85 ms and as much CPU to start and warm up. Default 30,000.
   */
  readonly minEntriesForThreads?: number;
  /** Entries a thread claims at a time. Default 4096. */
  readonly entriesPerRange?: number;
  /**
   * Walk, and run the integrity check, on worker threads only, so the calling thread's event
   * loop stays free (a server); it does that work itself only for a worker that failed. Default false.
   */
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
  /** Only entries this request caused (the server's request id, `req_…`). */
  readonly requestId?: string;
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
  /**
   * Only walk through entries of this tenant, and the home-wide kinds of `HOME_WIDE_KINDS`
   * (the policy set activations, whose content every tenant's auditor may read at `/v1/policies`).
   */
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
   * `verifyAsync`, told as an auditor of `tenant` may see it: the whole chain's verdict, the
   * tenant's own figures (counted during the walk, so no extra pass over the chain) and the
   * first problem in detail only when it is one of the tenant's entries.
   */
  verifyForTenant(tenant: string, options?: LedgerParallelVerifyOptions): Promise<LedgerTenantVerification>;
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
