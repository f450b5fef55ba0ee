// The background WAL checkpointer: a worker thread with its own connection that copies
// committed WAL pages back into the database file, so writers' commits do not pay for
// checkpoints (SQLite's advice for latency-sensitive writers:
// https://sqlite.org/wal.html#application_initiated_checkpoints). Plain JS: a worker does
// not inherit the TypeScript loader in every setup.
import { statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { path, intervalMs, minWalBytes, attempts } = workerData;
const db = new Database(path, { fileMustExist: true });
// This connection never writes, so it never checkpoints on its own either.
db.pragma('wal_autocheckpoint = 0');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const walPath = `${path}-wal`;
const pause = new Int32Array(new SharedArrayBuffer(4));

function walBytes() {
  try {
    return statSync(walPath).size;
  } catch {
    return 0;
  }
}

let stopped = false;
function tick() {
  if (stopped) return;
  try {
    if (walBytes() >= minWalBytes) {
      // PASSIVE never waits for readers or writers, and it gives up at once (log = -1) when
      // it meets a writer in the middle of updating the WAL index: try again a few times.
      let result;
      for (let i = 0; i < attempts; i++) {
        result = checkpoint.get();
        if (result.log !== -1) break;
        // Sleep a millisecond rather than spin: the writer needs the CPU to finish.
        Atomics.wait(pause, 0, 0, 1);
      }
      parentPort.postMessage({ kind: 'checkpoint', ...result });
    }
  } catch (err) {
    parentPort.postMessage({ kind: 'error', message: String(err?.message ?? err) });
  }
  setTimeout(tick, intervalMs);
}

parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  stopped = true;
  db.close();
  parentPort.close();
});

setTimeout(tick, intervalMs);
