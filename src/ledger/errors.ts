// Error codes of the ledger.
import { defineErrors } from '../core/index.js';

export const LedgerErrors = defineErrors('ledger', {
  LEDGER_INVALID_ENTRY: {
    status: 400,
    meaning: 'an entry to append is malformed (kind not `area.event`, empty subject, refs not strings, body not canonical JSON…); `details.issues` lists every problem',
    fix: 'fix the caller that builds the entry; nothing was appended',
  },
  LEDGER_INVALID_QUERY: {
    status: 400,
    meaning: 'a ledger query has an invalid option (seq, limit, kinds, tenant or id), or verify was asked to start past the head + 1 (`details.head` says where the chain ends)',
    fix: 'send a non-negative integer `afterSeq`, a `limit` from 1 to 10000, kinds as `area.event` strings, and a `fromSeq` from 1 to the head + 1',
  },
  LEDGER_CHAIN_BROKEN: {
    status: 500,
    meaning: 'verification found the ledger altered: an entry edited, deleted or moved, a checkpoint that does not match, or a cut-off tail; `details` names the first bad seq and the problem',
    fix: 'treat the database as tampered with: keep a copy for investigation and restore from a verified backup',
  },
  LEDGER_APPEND_ONLY: {
    status: 500,
    meaning: 'the triggers that keep the ledger tables append-only are missing',
    fix: 'someone altered the schema; verify the ledger, then restore the triggers from the ledger migration or restore a backup',
  },
  LEDGER_SCHEMA_MISSING: {
    status: 500,
    meaning: 'the ledger tables do not exist in this store',
    fix: 'open the store with `ledgerMigrations` in its migrations',
  },
  LEDGER_CLOSED: {
    status: 500,
    meaning: 'an entry was appended after the ledger was closed',
    fix: 'append before shutting down, or create the ledger again',
  },
  LEDGER_OPTIONS_INVALID: {
    status: 500,
    meaning: 'createLedger was called with invalid options (no store, a keyring of another purpose, a bad checkpoint interval)',
    fix: 'pass an open store, a keyring opened with purpose `ledger` and a non-negative integer `checkpointEvery`',
  },
  LEDGER_FEED_LAGGING: {
    status: 503,
    meaning: 'a live-events subscriber read too slowly and fell too far behind the ledger, so it was disconnected; `details.resumeAfterSeq` says where to resume',
    fix: 'reconnect with `Last-Event-ID` (or `afterSeq`) set to `details.resumeAfterSeq`, and read the stream faster or filter it by kind',
  },
  LEDGER_FEED_CLOSED: {
    status: 503,
    meaning: 'the live-events feed shut down (the server is stopping); `details.resumeAfterSeq` says where to resume',
    fix: 'reconnect with `Last-Event-ID` (or `afterSeq`) set to `details.resumeAfterSeq` once the server is back',
  },
});
