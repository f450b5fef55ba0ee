// How a checkpoint is stored. Ledger schema version 3 added `checkpoint_every`, the interval
// the writer signed at; rows written before it (and by a store opened without that
// migration) hold NULL there and were signed over the payload without it.
import type { Db } from '../store/index.js';
import type { LedgerCheckpoint } from './types.js';

/** A checkpoint as selected by `checkpointColumns`: NULL interval for the old form. */
export type CheckpointRow = Omit<LedgerCheckpoint, 'checkpointEvery'> & { checkpointEvery: number | null };

/** True when the store's checkpoints table has the `checkpoint_every` column (ledger schema 3). */
export function hasIntervalColumn(db: Db): boolean {
  return (db.prepare("SELECT 1 FROM pragma_table_info('ledger_checkpoints') WHERE name = 'checkpoint_every'").get() as unknown) !== undefined;
}

/**
 * The select list of a checkpoint row. A database not yet migrated to schema 3 (a copy
 * audited read-only, say) still verifies: its checkpoints are all of the old form.
 */
export function checkpointColumns(hasInterval: boolean): string {
  return `seq, at, head_hash AS headHash, kid, signature, ${hasInterval ? 'checkpoint_every' : 'NULL'} AS checkpointEvery`;
}

/** The checkpoint of a row; an old-form one has no `checkpointEvery`. */
export function toCheckpoint(row: CheckpointRow): LedgerCheckpoint {
  const { checkpointEvery, ...rest } = row;
  return checkpointEvery === null ? rest : { ...rest, checkpointEvery };
}
