// Prepared statements cached per connection. Preparing costs more than running a small
// query (SQLite parses and plans the SQL), so hot paths prepare each SQL text once.
import type { Db } from './database.js';

const prepareAny = (db: Db, sql: string) => db.prepare<unknown[]>(sql);
type Statement = ReturnType<typeof prepareAny>;

/** Per connection; bounded, because some SQL is built per call (e.g. IN lists). */
const MAX_CACHED = 512;
const caches = new WeakMap<Db, Map<string, Statement>>();

/**
 * The prepared statement for `sql` on `db`, prepared on first use. Each SQL text should
 * be used in one mode (plain, `.pluck()` or `.raw()`): the mode is a property of the
 * shared statement.
 *
 * @example
 * statement(db, 'SELECT text FROM chunks WHERE id = ?').pluck().get(id)
 */
export function statement(db: Db, sql: string): Statement {
  let cache = caches.get(db);
  if (cache === undefined) {
    cache = new Map();
    caches.set(db, cache);
  }
  let stmt = cache.get(sql);
  if (stmt === undefined) {
    stmt = prepareAny(db, sql);
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
    cache.set(sql, stmt);
  }
  return stmt;
}
