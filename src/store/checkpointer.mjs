// The background WAL checkpointer: a worker thread with its own connection that copies
// committed WAL pages back into the database file, so writers' commits do not pay for
// checkpoints (SQLite's advice for latency-sensitive writers:
// https://sqlite.org/wal.html#application_initiated_checkpoints). Plain JS: a worker does
// not inherit the TypeScript loader in every setup.
import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { path, intervalMs, minFrames, tailFrames, restartFrames, attempts } = workerData;
const db = new Database(path, { fileMustExist: true });
// This connection never writes, so it never checkpoints on its own either.
db.pragma('wal_autocheckpoint = 0');
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const shmPath = `${path}-shm`;
const pause = new Int32Array(new SharedArrayBuffer(4));

// The WAL file is reused from its start after a checkpoint, never shrunk, so its size says
// nothing about how much waits to be copied back. The wal-index (the -shm file) does: its
// header's mxFrame (offset 16) is the last valid frame and the checkpoint info's nBackfill
// (offset 96) the last one already copied (https://sqlite.org/walformat.html, native byte
// order). Read without SQLite's locks, a torn value only moves one checkpoint by one tick.
const header = Buffer.alloc(100);
const u32 = endianness() === 'LE' ? (at) => header.readUInt32LE(at) : (at) => header.readUInt32BE(at);
let shm = -1;
/** Frames in the WAL, and how many of them are already copied back. */
function walState() {
  try {
    if (shm === -1) shm = openSync(shmPath, 'r');
    if (readSync(shm, header, 0, 100, 0) < 100) return { frames: 0, copied: 0 };
    const frames = u32(16);
    return { frames, copied: Math.min(frames, u32(96)) };
  } catch {
    return { frames: 0, copied: 0 };
  }
}

/** A PASSIVE checkpoint, retried a few times when it meets a writer mid-update (log = -1). */
function checkpointPassive() {
  let result;
  for (let i = 0; i < attempts; i++) {
    result = passive.get();
    if (result.log !== -1) break;
    // Sleep a millisecond rather than spin: the writer needs the CPU to finish.
    Atomics.wait(pause, 0, 0, 1);
  }
  return result;
}

// A writer starts the WAL over from its beginning only when every frame is copied back.
// Under steady writes that never happens by itself (frames are appended while a PASSIVE
// checkpoint copies), so the WAL grows until a commit checkpoints inline. Whoever does the
// final copy pays two fsyncs while no frame may be appended, ~15–20 ms on this machine's
// disk however few frames are left, and on the writing thread. So that stall comes rarely:
// the worker keeps the backlog under `minFrames` (the DB file stays current, fsynced off
// the writer's thread), and only once the WAL holds `restartFrames` does it shrink the tail
// with a few more PASSIVE rounds (each shorter, so less is appended during it) and ask the
// writing thread to copy the last frames between two transactions; its next commit then
// starts the WAL over. A quiet WAL needs no help: a PASSIVE checkpoint completes and the
// next writer starts over. (A RESTART checkpoint here would hold the write lock through the
// same fsyncs, and a writer waiting on it sleeps in SQLite's busy handler in steps of 1, 2,
// 5, 10 ms: 10–20 ms stalls, measured.)
const TAIL_ROUNDS = 6;
function finishTail() {
  let result;
  let rounds = 0;
  let { frames, copied } = walState();
  for (; rounds < TAIL_ROUNDS && frames - copied > tailFrames; rounds++) {
    result = checkpointPassive();
    ({ frames, copied } = walState());
  }
  return { ...result, rounds, tail: copied > 0 && frames > copied && frames - copied <= tailFrames };
}

let stopped = false;
let lastFrames = 0;
function tick() {
  if (stopped) return;
  try {
    const { frames, copied } = walState();
    const quiet = frames === lastFrames;
    lastFrames = frames;
    if (frames - copied >= minFrames || (quiet && frames > copied)) {
      parentPort.postMessage({ kind: 'checkpoint', ...checkpointPassive() });
    } else if (copied > 0 && frames > copied && frames >= restartFrames) {
      parentPort.postMessage({ kind: 'checkpoint', ...finishTail() });
    }
  } catch (err) {
    parentPort.postMessage({ kind: 'error', message: String(err?.message ?? err) });
  }
  setTimeout(tick, intervalMs);
}

parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  stopped = true;
  if (shm !== -1) closeSync(shm);
  db.close();
  parentPort.close();
});

setTimeout(tick, intervalMs);
