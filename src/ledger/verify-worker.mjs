// A worker thread of parallel verify (verify-parallel.ts): claims ranges of the chain in
// turn and walks each with the shared checks of verify-range.mjs on its own read-only
// connection, posting one outcome per range; the first worker runs SQLite's integrity check
// of the ledger tables before it claims any, and posts that outcome first. Plain JS: a worker does not inherit the
// TypeScript loader in every setup. It cannot borrow the store's connection, so it opens its
// own read-only one through src/store.
import { parentPort, workerData } from 'node:worker_threads';
import { openReadConnection } from '../store/read-connection.mjs';
import { claimRange, FAST_CHECKS, integrityProblem, isWholeRange, rangeWalker, stopClaimsFrom } from './verify-range.mjs';

const { path, ranges, claims, tenant, checkIntegrity } = workerData;
const db = openReadConnection(path);
try {
  const walk = rangeWalker(db, tenant);
  // One read transaction: the ranges lie at or below the head the caller read, and those
  // entries never change, so any snapshot at least that new sees the same rows.
  db.transaction(() => {
    // The first worker runs SQLite's integrity check of the ledger tables, so the calling
    // thread (a server's event loop) does not. A failure is reported before any walk: the
    // ranges need none.
    if (checkIntegrity === true) {
      const problem = integrityProblem(db) ?? null;
      if (problem !== null) stopClaimsFrom(claims, 0);
      parentPort.postMessage({ integrity: problem });
    }
    for (let index = claimRange(claims); index !== -1; index = claimRange(claims)) {
      const outcome = walk(ranges[index], FAST_CHECKS);
      // Ranges after one with a problem need no walk: the caller re-walks from there.
      if (!isWholeRange(outcome, ranges[index])) stopClaimsFrom(claims, index + 1);
      parentPort.postMessage({ index, outcome });
    }
  }).deferred();
} finally {
  db.close();
}
