// The anchor file: the newest signed checkpoint, kept outside the database so that cutting
// off the ledger's tail together with its checkpoints is still caught. Two rules keep it
// honest across crashes, power loss included:
//  - it names only a checkpoint that is durable in the database (the WAL holding its commit
//    is synced first), else an OS crash could keep the anchor and lose the entries it
//    names, and `verify` would call the lost tail a truncation;
//  - it is replaced whole (a synced temporary file renamed over it, then the folder
//    synced), so no crash leaves it torn or empty.
// It moves only forward: a checkpoint older than the file's is not written.
import { closeSync, fdatasyncSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { WritError } from '../core/index.js';
import { LedgerErrors } from './errors.js';
import type { LedgerCheckpoint } from './types.js';

/** Numbers the temporary files of every anchor file this process writes (two ledgers may share one file). */
let tmpCounter = 0;

export interface AnchorFile {
  /** The checkpoint in the file; undefined when there is none; LEDGER_CHAIN_BROKEN when it is not a signed checkpoint. */
  read(): LedgerCheckpoint | undefined;
  /** Writes `checkpoint` (durable first, see above) before returning. */
  writeSync(checkpoint: LedgerCheckpoint): void;
  /**
   * Writes `checkpoint` off this thread (the syncs run on libuv's pool), after any write
   * queued before it. Never rejects: a failed write leaves the file as it was and is
   * reported to `onError`.
   */
  writeLater(checkpoint: LedgerCheckpoint): void;
  /** Resolves when every write queued so far has finished. */
  settled(): Promise<void>;
  /** Stops queued writes that have not reached their rename (`writeSync` still works). */
  stop(): void;
}

/**
 * @param path the anchor file
 * @param databasePath the SQLite file whose WAL must be durable before the anchor names a checkpoint in it (`:memory:`: none)
 * @param onError told of a write made off the calling thread that failed
 */
export function openAnchorFile(
  path: string,
  databasePath: string,
  onError: (err: unknown, checkpoint: LedgerCheckpoint) => void = () => undefined,
): AnchorFile {
  const wal = databasePath === ':memory:' ? undefined : `${databasePath}-wal`;
  const folder = dirname(path);
  const tmpPrefix = `${basename(path)}.${process.pid}.`;
  let queue: Promise<void> = Promise.resolve();
  let stopped = false;
  removeStaleTemporaries(folder, basename(path));

  function read(): LedgerCheckpoint | undefined {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    const v = value as Partial<LedgerCheckpoint> | undefined;
    if (
      typeof v !== 'object' || v === null || !Number.isSafeInteger(v.seq) || typeof v.at !== 'string' ||
      typeof v.headHash !== 'string' || typeof v.kid !== 'string' || typeof v.signature !== 'string' ||
      // Absent in a file written before checkpoints stated their interval.
      (v.checkpointEvery !== undefined && (!Number.isSafeInteger(v.checkpointEvery) || (v.checkpointEvery as number) < 0))
    ) {
      throw new WritError(LedgerErrors.LEDGER_CHAIN_BROKEN, `anchor file \`${path}\` is not a signed checkpoint`, { details: { anchorFile: path } });
    }
    const checkpoint = { seq: v.seq as number, at: v.at, headHash: v.headHash, kid: v.kid, signature: v.signature };
    return v.checkpointEvery === undefined ? checkpoint : { ...checkpoint, checkpointEvery: v.checkpointEvery };
  }

  /** True when the file already names `checkpoint` or a later one (another process may write it too). */
  const superseded = (checkpoint: LedgerCheckpoint): boolean => {
    const current = read();
    return current !== undefined && current.seq >= checkpoint.seq;
  };
  const text = (checkpoint: LedgerCheckpoint) => `${JSON.stringify(checkpoint, null, 2)}\n`;
  const nextTmp = () => join(folder, `${tmpPrefix}${++tmpCounter}.tmp`);

  function syncPathSync(file: string, data: boolean): void {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (err) {
      // No WAL: nothing committed waits in one.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      if (data) fdatasyncSync(fd);
      else fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  async function syncPath(file: string, data: boolean): Promise<void> {
    let handle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      await (data ? handle.datasync() : handle.sync());
    } finally {
      await handle.close();
    }
  }

  function writeSync(checkpoint: LedgerCheckpoint): void {
    if (superseded(checkpoint)) return;
    // INVARIANT: the commit holding the checkpoint is durable before the anchor names it.
    if (wal !== undefined) syncPathSync(wal, true);
    const tmp = nextTmp();
    try {
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeFileSync(fd, text(checkpoint));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    syncPathSync(folder, false);
  }

  async function writeAsync(checkpoint: LedgerCheckpoint): Promise<void> {
    if (stopped || superseded(checkpoint)) return;
    if (wal !== undefined) await syncPath(wal, true);
    const tmp = nextTmp();
    try {
      const handle = await open(tmp, 'w', 0o600);
      try {
        await handle.writeFile(text(checkpoint));
        await handle.sync();
      } finally {
        await handle.close();
      }
      // The check and the rename run in one turn of this thread, so a `writeSync` (at close)
      // never lands between them and is never overwritten by an older checkpoint.
      if (stopped || superseded(checkpoint)) {
        await rm(tmp, { force: true });
        return;
      }
      renameSync(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    await syncPath(folder, false);
  }

  return {
    read,
    writeSync,
    writeLater(checkpoint) {
      // A failed write is not the appender's failure: the entries are committed. It is
      // reported, since until a later write succeeds the anchor pins an older checkpoint.
      queue = queue
        .then(() => writeAsync(checkpoint))
        .catch((err: unknown) => {
          try {
            onError(err, checkpoint);
          } catch {
            // a reporter's failure is its own
          }
        });
    },
    settled: () => queue,
    stop() {
      stopped = true;
    },
  };
}

/** Temporary files a killed process left beside the anchor (`NAME.PID.N.tmp` of a dead PID). */
function removeStaleTemporaries(folder: string, name: string): void {
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return;
  }
  const pattern = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.\\d+\\.tmp$`);
  for (const file of names) {
    const pid = Number(pattern.exec(file)?.[1]);
    if (!Number.isSafeInteger(pid) || pid === process.pid || isRunning(pid)) continue;
    rmSync(join(folder, file), { force: true });
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
