// A verify worker that fails as it starts (tests: parallel verify falls back to the calling thread).
throw new Error('this worker cannot start');
