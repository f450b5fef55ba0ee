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
