// A verify worker that claims a range and never reports it (tests: parallel verify gives up
// on it after its stall time and walks the range itself).
import { workerData } from 'node:worker_threads';
import { claimRange } from '../../../src/ledger/verify-range.mjs';

claimRange(workerData.claims);
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
