// An online copy of a store's database file, safe while another process writes to it.
import { closeSync, openSync, rmSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { WritError } from '../core/index.js';
import { StoreErrors } from './errors.js';

/** What `backupDatabase` copied. */
export interface DatabaseBackup {
  readonly pages: number;
  readonly bytes: number;
}

/**
 * Copies the database at `sourcePath` to `destPath` (a new file, created 0600; removed
 * again if the copy fails) with SQLite's online backup API. The copy is one committed state of the source, never a torn file: a
 * raw copy of a WAL database misses what is still in `-wal`, or mixes two states.
 *
 * SQLite restarts a backup whenever another connection commits between two of its steps,
 * so a backup of several steps may never finish beside a busy server (each pass finds more
 * pages than the last). The copy is therefore one step, within one read transaction.
 *
 * @example
 * await backupDatabase(join(home, 'writ.db'), join(dest, 'writ.db'));
 */
export async function backupDatabase(sourcePath: string, destPath: string): Promise<DatabaseBackup> {
  let db: Database.Database;
  try {
    db = new Database(sourcePath, { readonly: true, fileMustExist: true });
  } catch (cause) {
    throw new WritError(StoreErrors.STORE_OPEN_FAILED, `cannot open database \`${sourcePath}\`: ${(cause as Error).message}`, { cause, details: { path: sourcePath } });
  }
  try {
    // The copy holds every tenant's documents: it is created owner-only, before a byte is in
    // it (SQLite takes the empty file as an empty database), and never over another file.
    try {
      closeSync(openSync(destPath, 'wx', 0o600));
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new WritError(StoreErrors.STORE_BACKUP_TARGET_EXISTS, `cannot back up to \`${destPath}\`: the file exists (a backup never overwrites)`, { details: { destPath } });
      }
      throw new WritError(StoreErrors.STORE_BACKUP_FAILED, `cannot create \`${destPath}\`: ${(cause as Error).message}`, { cause, details: { sourcePath, destPath } });
    }
    try {
      db.pragma('busy_timeout = 5000');
      // After the first step (which only learns the size), everything left in one step: one
      // read transaction, so no other connection's commit can restart it.
      const result = await db.backup(destPath, { progress: () => 0x7fffffff });
      return { pages: result.totalPages, bytes: statSync(destPath).size };
    } catch (cause) {
      try {
        rmSync(destPath, { force: true });
      } catch {
        // The error to report is the copy's.
      }
      throw new WritError(StoreErrors.STORE_BACKUP_FAILED, `backing up \`${sourcePath}\` to \`${destPath}\` failed: ${(cause as Error).message}`, {
        cause,
        details: { sourcePath, destPath },
      });
    }
  } finally {
    db.close();
  }
}
