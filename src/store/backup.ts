// An online copy of a store's database file, safe while another process writes to it.
import { chmodSync, existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { WritError } from '../core/index.js';
import { StoreErrors } from './errors.js';

/** What `backupDatabase` copied. */
export interface DatabaseBackup {
  readonly pages: number;
  readonly bytes: number;
}

/**
 * Copies the database at `sourcePath` to `destPath` (a new file, mode 0600) with SQLite's
 * online backup API. The copy is one committed state of the source, never a torn file: a
 * raw copy of a WAL database misses what is still in `-wal`, or mixes two states.
 *
 * SQLite restarts a backup whenever another connection commits between two of its steps,
 * so a backup of small steps may never finish beside a busy server. After a first small
 * step (which learns the size) the rest is copied in one step, within one read transaction.
 *
 * @example
 * await backupDatabase(join(home, 'writ.db'), join(dest, 'writ.db'));
 */
export async function backupDatabase(sourcePath: string, destPath: string): Promise<DatabaseBackup> {
  if (existsSync(destPath)) {
    throw new WritError(StoreErrors.STORE_BACKUP_FAILED, `cannot back up to \`${destPath}\`: the file exists (a backup never overwrites)`, { details: { destPath } });
  }
  let db: Database.Database;
  try {
    db = new Database(sourcePath, { readonly: true, fileMustExist: true });
  } catch (cause) {
    throw new WritError(StoreErrors.STORE_OPEN_FAILED, `cannot open database \`${sourcePath}\`: ${(cause as Error).message}`, { cause, details: { path: sourcePath } });
  }
  try {
    db.pragma('busy_timeout = 5000');
    const result = await db.backup(destPath, { progress: ({ totalPages }) => Math.max(totalPages, 100) });
    chmodSync(destPath, 0o600);
    return { pages: result.totalPages, bytes: statSync(destPath).size };
  } catch (cause) {
    if (cause instanceof WritError) throw cause;
    throw new WritError(StoreErrors.STORE_BACKUP_FAILED, `backing up \`${sourcePath}\` to \`${destPath}\` failed: ${(cause as Error).message}`, {
      cause,
      details: { sourcePath, destPath },
    });
  } finally {
    db.close();
  }
}
