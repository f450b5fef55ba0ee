// Front door of the ledger: append-only, hash-chained log with signed checkpoints,
// verification, and lineage/impact queries.
export { createLedger, assertLedgerIntact, type LedgerOptions } from './ledger.js';
export { ledgerMigrations, APPEND_ONLY_TRIGGERS, APPEND_ONLY_TRIGGERS_SQL } from './migrations.js';
export { LedgerErrors } from './errors.js';
export { GENESIS_HASH, entryHash, entryHashInput, entryHashObject, referenceEntryHash, checkpointPayload, type HashedRow } from './hash-chain.js';
export { verifyChain } from './verify.js';
export { createLedgerFeed, type LedgerFeed, type LedgerFeedOptions, type FeedEnd, type FeedSubscribeOptions, type FeedSubscription } from './feed.js';
export type {
  Ledger,
  LedgerApi,
  LedgerAppend,
  LedgerEntry,
  LedgerHead,
  LedgerCheckpoint,
  LedgerProblem,
  LedgerVerification,
  LedgerTenantVerification,
  LedgerVerifyOptions,
  LedgerParallelVerifyOptions,
  LedgerQuery,
  LedgerGraph,
  LedgerGraphOptions,
} from './types.js';
