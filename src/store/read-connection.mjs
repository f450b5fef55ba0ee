// A read-only connection for worker threads (parallel ledger verify): a worker cannot
// borrow the store's connection, and only src/store opens SQLite. Plain JS: a worker does
// not inherit the TypeScript loader in every setup.
import Database from 'better-sqlite3';

/** Opens the existing database file at `path` read-only. */
export function openReadConnection(path) {
  return new Database(path, { readonly: true, fileMustExist: true });
}
