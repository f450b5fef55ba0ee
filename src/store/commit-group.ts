// Group commit: write jobs from concurrent callers (HTTP requests in flight) share one
// transaction and one commit per turn of the event loop. A commit costs a WAL write per
// page it touches and the locks around it; jobs that append to the same B-tree right edges
// (the ledger, bundles) write those pages once per group instead of once each. Each job
// runs in its own savepoint (or, for jobs that only write, none: a throw then re-runs the
// group with one per job), so a failing job rolls back only its own writes, and every
// promise settles after the shared commit: no caller sees a result that is not committed.
import type { Db, Store } from './database.js';

export interface CommitGroup {
  /**
   * Runs `fn` inside the next group's transaction (in a savepoint of its own) and resolves
   * with its result once that transaction has committed; rejects with `fn`'s error (its
   * writes rolled back, the others' kept), or with the commit's error for every job of
   * the group. `fn` runs later than the call, outside any transaction the caller has open.
   */
  run<T>(fn: (db: Db) => T, options?: CommitJobOptions): Promise<T>;
}

export interface CommitJobOptions {
  /**
   * What a throw from `fn` does to its writes. `rollback` (default): they are undone.
   * `keep`: they commit with the group and the promise still rejects — for a function that
   * runs its own transaction and commits a record before throwing (the broker records a
   * refused proposal, then throws the refusal); its own transaction has already undone
   * whatever it had to.
   */
  readonly onThrow?: 'rollback' | 'keep';
  /**
   * `false`: the job runs straight in the group's transaction, without a savepoint of its
   * own. A savepoint makes SQLite copy every page the job then touches into its journal
   * (~20–30 µs for a retrieval's bundle and ledger entry, most of them the same right-edge
   * pages every job of the group writes). If the job throws, the group's transaction is
   * rolled back and the whole group runs again with a savepoint per job, so the failure is
   * still the job's alone: its writes are undone and its promise rejects. For jobs that
   * check their input before they write, where a throw means the database failed; `fn` may
   * then run twice, so it must have no effect outside the database. Default `true`. Cannot
   * be combined with `onThrow: 'keep'`.
   */
  readonly savepoint?: boolean;
}

export interface CommitGroupOptions {
  /** Most jobs in one transaction; the rest wait for the next turn. Default 256. */
  readonly maxJobs?: number;
}

interface Job {
  readonly fn: (db: Db) => unknown;
  readonly keepOnThrow: boolean;
  /** Runs without a savepoint of its own unless the group is re-run in isolation. */
  readonly bare: boolean;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly err: unknown };

/**
 * Creates a group committer over `store`.
 *
 * @example
 * const commits = createCommitGroup(store);
 * const sealed = await commits.run(() => storeBundle(store, ledger, bundle));
 */
export function createCommitGroup(store: Store, options: CommitGroupOptions = {}): CommitGroup {
  const maxJobs = options.maxJobs ?? 256;
  if (!Number.isSafeInteger(maxJobs) || maxJobs < 1) throw new RangeError(`maxJobs must be a positive integer, got ${String(maxJobs)}`);
  const queue: Job[] = [];
  let scheduled = false;

  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    // setImmediate runs after this turn's I/O callbacks: the requests whose bodies arrived
    // together are grouped, and a lone caller waits only for the end of the current turn.
    setImmediate(flush);
  };

  function flush(): void {
    scheduled = false;
    const jobs = queue.splice(0, maxJobs);
    if (queue.length > 0) schedule();
    if (jobs.length === 0) return;
    let outcomes: Outcome[];
    try {
      try {
        outcomes = runGroup(jobs, false);
      } catch (err) {
        if (!(err instanceof BareJobFailed)) throw err;
        // Rolled back whole: every job runs again in a savepoint of its own, so the
        // failing job fails alone and the others commit.
        outcomes = runGroup(jobs, true);
      }
    } catch (err) {
      // INVARIANT: nothing of the group committed, so every job fails, including those whose own work succeeded.
      for (const job of jobs) job.reject(err);
      return;
    }
    jobs.forEach((job, i) => {
      const outcome = outcomes[i] as Outcome;
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.err);
    });
  }

  /** One transaction over `jobs`; `isolated` gives every job a savepoint, bare ones too. */
  function runGroup(jobs: readonly Job[], isolated: boolean): Outcome[] {
    const outcomes: Outcome[] = [];
    store.transaction(() => {
      for (const job of jobs) {
        if (job.bare && !isolated) {
          try {
            outcomes.push({ ok: true, value: job.fn(store.db) });
          } catch (err) {
            throw new BareJobFailed(err);
          }
          continue;
        }
        try {
          // Nested, so a savepoint: a throw rolls back this job's writes only.
          outcomes.push({ ok: true, value: job.keepOnThrow ? job.fn(store.db) : store.transaction(job.fn) });
        } catch (err) {
          outcomes.push({ ok: false, err });
        }
      }
    });
    return outcomes;
  }

  return {
    run<T>(fn: (db: Db) => T, jobOptions: CommitJobOptions = {}): Promise<T> {
      const bare = jobOptions.savepoint === false;
      if (bare && jobOptions.onThrow === 'keep') throw new RangeError("a job without a savepoint cannot keep its writes on a throw (onThrow: 'keep')");
      return new Promise<T>((resolve, reject) => {
        queue.push({ fn, keepOnThrow: jobOptions.onThrow === 'keep', bare, resolve: resolve as (value: unknown) => void, reject });
        schedule();
      });
    },
  };
}

/** A throw from a job that ran without a savepoint: the group rolls back and runs again. */
class BareJobFailed extends Error {
  constructor(cause: unknown) {
    super('a job without a savepoint threw', { cause });
  }
}
