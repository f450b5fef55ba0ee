// The SQLite store: one better-sqlite3 connection with WAL, foreign keys and a busy
// timeout, versioned migrations per area, and the one transaction helper.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { WritError } from '../core/index.js';
import { StoreErrors } from './errors.js';

export type Db = Database.Database;

/**
 * One schema step of one area. Areas (`retrieval`, `broker`, `ledger`…) own their tables
 * and number their migrations from 1; the store records `(area, version)` once applied.
 */
export interface Migration {
  readonly area: string;
  readonly version: number;
  readonly name: string;
  readonly up: string | ((db: Db) => void);
  /**
   * Set for a migration that rebuilds tables other tables reference (SQLite's "create new,
   * copy, drop, rename"): it runs with foreign-key enforcement off, as SQLite requires,
   * and commits only when `PRAGMA foreign_key_check` finds nothing broken.
   */
  readonly rebuildsTables?: boolean;
}

export interface StoreOptions {
  /** Path of the database file, or `:memory:`. */
  readonly path: string;
  readonly migrations?: readonly Migration[];
  /** Milliseconds a writer waits on a lock before STORE_BUSY. */
  readonly busyTimeoutMs?: number;
  readonly readonly?: boolean;
  /**
   * Checkpoint the WAL from a background worker thread instead of inside commits, so no
   * commit pays for a checkpoint's page copies and fsyncs. For a server, where an inline
   * checkpoint stalls the event loop for every request in flight (HTTP propose + decide p99
   * 30–31 ms with it, 74–82 ms without, bench/http.ts). Off by default: a tight in-process
   * loop on two cores does better without the second thread (broker round trip p90 1.6–1.7
   * vs 2.0–2.1 ms). SQLite's own automatic checkpoint stays on as the fallback.
   */
  readonly backgroundCheckpoint?: boolean;
}

/** An open store. Close it once; closing twice is a no-op. */
export interface Store {
  readonly db: Db;
  readonly path: string;
  /** Runs `fn` in one IMMEDIATE transaction; nested calls join the outer one via savepoints. */
  transaction<T>(fn: (db: Db) => T): T;
  /** Checkpoints the background checkpointer has completed (0 without `backgroundCheckpoint`). */
  backgroundCheckpoints(): number;
  /**
   * True while the store polls for the write lock, for some seconds after a BEGIN that met
   * another connection's write (diagnostics; see `writeLock`).
   */
  writeLockPolling(): boolean;
  /** Applied migrations, oldest first. */
  appliedMigrations(): Array<{ area: string; version: number; name: string; appliedAt: string }>;
  readonly sqliteVersion: string;
  close(): void;
}

/**
 * Opens (and creates) the database at `options.path` and applies pending migrations.
 *
 * @example
 * const store = openStore({ path: join(home, 'writ.db'), migrations: [...ledgerMigrations] });
 * store.transaction((db) => db.prepare('INSERT …').run());
 */
export function openStore(options: StoreOptions): Store {
  let db: Db;
  try {
    if (options.path !== ':memory:' && !(options.readonly ?? false)) {
      mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
      // A new database file is owner-only, and SQLite gives its WAL and shared-memory files
      // the database file's mode: every tenant's records are in them.
      createOwnerOnly(options.path);
    }
    db = new Database(options.path, { readonly: options.readonly ?? false });
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
    // WAL with synchronous=NORMAL is durable across application crashes (only an OS
    // crash can lose the last transactions) and keeps commits fast.
    db.pragma('synchronous = NORMAL');
    // Checkpoint the WAL every 8000 pages (~32 MiB) instead of SQLite's 1000: hot pages
    // (B-tree right edges, the ledger head) are copied back once per checkpoint rather than
    // eight times, and the checkpoint's fsyncs come an eighth as often. Durability is
    // unchanged (synchronous stays NORMAL; a commit is in the WAL either way). Measured:
    // ~5–8% less CPU per broker round trip (bench/broker.ts).
    db.pragma('wal_autocheckpoint = 8000');
  } catch (cause) {
    throw new WritError(StoreErrors.STORE_OPEN_FAILED, `cannot open database \`${options.path}\`: ${String((cause as Error).message)}`, {
      cause,
      details: { path: options.path },
    });
  }

  // Nested calls (a transaction inside another) become savepoints through better-sqlite3's
  // wrapper, so helpers compose; the outermost call takes the write lock itself (writeLock).
  const nested = db.transaction((fn: (d: Db) => unknown) => fn(db));
  const lock = writeLock(db, Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000)));
  const runTransaction = <T>(fn: (d: Db) => T): T => {
    try {
      if (db.inTransaction) return nested(fn) as T;
      lock.begin();
      try {
        const out = fn(db);
        lock.commit();
        return out;
      } catch (err) {
        if (db.inTransaction) lock.rollback();
        throw err;
      }
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_BUSY') {
        throw new WritError(StoreErrors.STORE_BUSY, 'database is locked by another writer', { cause: err });
      }
      throw err;
    }
  };

  if (!(options.readonly ?? false)) applyMigrations(db, options.migrations ?? []);

  let checkpoints = 0;
  // The worker copies the bulk of the WAL back; the last few frames of a busy WAL are
  // copied here, between transactions (see checkpointer.mjs).
  const checkpointTail = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
  let closed = false;
  const checkpointer =
    options.backgroundCheckpoint === true && options.path !== ':memory:' && !(options.readonly ?? false)
      ? startCheckpointer(options.path, {
          onCheckpoint: () => void checkpoints++,
          onTail: () => {
            if (!closed && !db.inTransaction) checkpointTail.get();
          },
        })
      : undefined;
  // With the worker copying the WAL back, a commit checkpoints only as a fallback.
  if (checkpointer !== undefined) db.pragma(`wal_autocheckpoint = ${CHECKPOINT_FALLBACK_FRAMES}`);

  return {
    db,
    path: options.path,
    sqliteVersion: (db.prepare('select sqlite_version() as v').get() as { v: string }).v,
    transaction: runTransaction,
    backgroundCheckpoints: () => checkpoints,
    writeLockPolling: () => lock.polling(),
    appliedMigrations: () =>
      db.prepare('SELECT area, version, name, applied_at AS appliedAt FROM schema_migrations ORDER BY applied_at, area, version').all() as Array<{
        area: string;
        version: number;
        name: string;
        appliedAt: string;
      }>,
    close: () => {
      if (closed) return;
      closed = true;
      checkpointer?.postMessage('stop');
      db.close();
    },
  };
}

/** Creates `path` empty with mode 0600 unless it exists (an existing file keeps its mode). */
function createOwnerOnly(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw err;
  }
}

/** How long after a contended BEGIN the connection keeps waiting for the lock by polling. */
const CONTENDED_FOR_MS = 10_000;
/** A BEGIN slower than this may have met another writer (SQLite's busy handler sleeps 1 ms first). */
const CONTENDED_BEGIN_NS = 900_000n;

/**
 * BEGIN IMMEDIATE / COMMIT / ROLLBACK for outermost transactions. When another connection
 * holds the write lock, SQLite's busy handler sleeps 1, 2, 5, 10, 15… ms between tries, so a
 * writer waits up to ~10 ms past the lock's release (two server processes deciding on one
 * home: p99 133 ms at 10 connections). After a contended BEGIN, the connection polls for the
 * lock every ~50 µs instead, for CONTENDED_FOR_MS (same home: p99 23 ms). An uncontended
 * process keeps SQLite's handler and pays nothing per transaction.
 *
 * A slow BEGIN alone is not contention: on a busy machine the thread is also descheduled
 * mid-BEGIN. It counts only when another connection has committed since this connection's
 * previous transaction (`PRAGMA data_version`, which moves only for other connections'
 * commits), or when BEGIN gave up with SQLITE_BUSY. Polling costs two `db.pragma` calls per transaction, each a new
 * statement whose handle the next young-generation GC must finalise: taken for contention
 * by mistake, it added ~1.7 ms to every scavenge of an in-process broker loop.
 */
function writeLock(db: Db, timeoutMs: number): { begin(): void; commit(): void; rollback(): void; polling(): boolean } {
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  let seenVersion = dataVersion.get();
  // Through `db.pragma` (~6 µs): SQLite applies `PRAGMA busy_timeout = N` when the statement
  // is prepared, not when it runs, so a prepared one cannot be reused to set it.
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let pollUntil = 0;
  const polling = (): void => {
    const deadline = Date.now() + timeoutMs;
    db.pragma('busy_timeout = 0');
    try {
      for (;;) {
        try {
          begin.run();
          seenVersion = dataVersion.get();
          return;
        } catch (err) {
          if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw err;
          Atomics.wait(pause, 0, 0, 0.05);
        }
      }
    } finally {
      db.pragma(`busy_timeout = ${timeoutMs}`);
    }
  };
  return {
    begin: () => {
      if (pollUntil > Date.now()) return polling();
      const t0 = process.hrtime.bigint();
      try {
        begin.run();
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_BUSY') pollUntil = Date.now() + CONTENDED_FOR_MS;
        throw err;
      }
      const slow = process.hrtime.bigint() - t0 > CONTENDED_BEGIN_NS;
      // Read at every BEGIN (one step of a prepared statement): "another connection
      // committed" then means since this connection's last transaction, not since hours ago.
      const version = dataVersion.get();
      if (slow && version !== seenVersion) pollUntil = Date.now() + CONTENDED_FOR_MS;
      seenVersion = version;
    },
    commit: () => void commit.run(),
    rollback: () => void rollback.run(),
    polling: () => pollUntil > Date.now(),
  };
}

// The worker looks every 50 ms and checkpoints once ~4000 frames wait to be copied back:
// large enough that hot pages are copied once for many commits. It retries a checkpoint
// that met a writer mid-update up to 10 times, 1 ms apart. How the WAL starts over under
// steady writes, and why only every ~24,000 frames: checkpointer.mjs.
const CHECKPOINT_INTERVAL_MS = 50;
const CHECKPOINT_MIN_FRAMES = 4000;
const CHECKPOINT_TAIL_FRAMES = 64;
/** WAL frames at which the worker asks the writing thread to copy the tail (~94 MiB of 4 KiB pages). */
const CHECKPOINT_RESTART_FRAMES = 24_000;
/** The commits' own checkpoint threshold while the worker runs: a fallback, above the worker's. */
const CHECKPOINT_FALLBACK_FRAMES = 32_000;
const CHECKPOINT_ATTEMPTS = 10;

function startCheckpointer(path: string, on: { onCheckpoint(): void; onTail(): void }): Worker {
  const worker = new Worker(new URL('./checkpointer.mjs', import.meta.url), {
    workerData: { path, intervalMs: CHECKPOINT_INTERVAL_MS, minFrames: CHECKPOINT_MIN_FRAMES, tailFrames: CHECKPOINT_TAIL_FRAMES, restartFrames: CHECKPOINT_RESTART_FRAMES, attempts: CHECKPOINT_ATTEMPTS },
  });
  // A failed worker only means commits checkpoint inline again (SQLite's automatic
  // checkpoint is still on), so its errors are not the caller's.
  worker.on('error', () => undefined);
  worker.on('message', (m: { kind?: string; log?: number; tail?: boolean }) => {
    if (m?.kind !== 'checkpoint' || m.log === -1) return;
    // A tail already small enough comes without a checkpoint of the worker's own.
    if (m.log !== undefined) on.onCheckpoint();
    if (m.tail === true) {
      try {
        on.onTail();
      } catch {
        // Another connection's lock or a closing store: the next cycle tries again.
      }
    }
  });
  worker.unref();
  return worker;
}

function applyMigrations(db: Db, migrations: readonly Migration[]): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    area TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL,
    PRIMARY KEY (area, version)) STRICT`);
  const applied = new Map<string, number>();
  for (const row of db.prepare('SELECT area, max(version) AS v FROM schema_migrations GROUP BY area').all() as Array<{ area: string; v: number }>) {
    applied.set(row.area, row.v);
  }
  const byArea = new Map<string, Migration[]>();
  for (const m of migrations) byArea.set(m.area, [...(byArea.get(m.area) ?? []), m]);
  for (const [area, list] of byArea) {
    list.sort((a, b) => a.version - b.version);
    list.forEach((m, i) => {
      if (m.version !== i + 1) throw new Error(`migrations of area \`${area}\` must be numbered 1, 2, 3…`);
    });
    const current = applied.get(area) ?? 0;
    if (current > list.length) {
      throw new WritError(StoreErrors.STORE_NEWER_SCHEMA, `database schema of \`${area}\` is at version ${current}, this Writ knows ${list.length}`, {
        details: { area, current, known: list.length },
      });
    }
    for (const m of list.slice(current)) {
      const rebuild = m.rebuildsTables === true;
      // foreign_keys cannot change inside a transaction, so it is switched around it.
      if (rebuild) db.pragma('foreign_keys = OFF');
      try {
        db.transaction(() => {
          if (typeof m.up === 'string') db.exec(m.up);
          else m.up(db);
          if (rebuild) {
            const broken = db.pragma('foreign_key_check') as Array<{ table: string; rowid: number; parent: string }>;
            if (broken.length > 0) {
              const first = broken[0] as { table: string; rowid: number; parent: string };
              throw new Error(`${broken.length} foreign key(s) broken, first: \`${first.table}\` row ${first.rowid} → \`${first.parent}\``);
            }
          }
          db.prepare('INSERT INTO schema_migrations (area, version, name, applied_at) VALUES (?, ?, ?, ?)').run(
            m.area,
            m.version,
            m.name,
            new Date().toISOString(),
          );
        }).immediate();
      } catch (cause) {
        throw new WritError(StoreErrors.STORE_MIGRATION_FAILED, `migration \`${area}\` ${m.version} \`${m.name}\` failed: ${(cause as Error).message}`, {
          cause,
          details: { area, version: m.version },
        });
      } finally {
        if (rebuild) db.pragma('foreign_keys = ON');
      }
    }
  }
}
