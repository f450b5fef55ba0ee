// A verify worker that claims a range and exits without reporting it (tests: the range is
// walked by the calling thread instead).
import { workerData } from 'node:worker_threads';
import { claimRange } from '../../../src/ledger/verify-range.mjs';

claimRange(workerData.claims);
process.exit(0);
