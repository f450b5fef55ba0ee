// Keeps a long-running process's vector index on a live Chroma. An embedded child that exits
// unexpectedly (killed, out of memory) is started again, with a growing wait while it keeps
// crashing; a shared Chroma (another Writ process's child on the same data folder) that stops
// answering is taken over. Either way the index moves to the new server, and chunks committed
// meanwhile, which wait in SQLite (search reads them there), are written to it.
import { isWritError, type Logger } from '../core/index.js';
import type { ChromaServer } from './chroma-server.js';
import type { Retrieval } from './retrieval.js';
import type { VectorIndexPort } from './types.js';
import type { VectorIndex } from './vector-index.js';

/** When checks run and how the wait between failed starts grows. */
export interface ChromaRestartTiming {
  /** How often the process checks that its Chroma still runs (embedded) or answers (shared). */
  readonly checkEveryMs: number;
  /** The wait before the first start after a crash; it doubles at each crash in a row… */
  readonly firstDelayMs: number;
  /** …up to this. */
  readonly maxDelayMs: number;
  /** A child that exits sooner than this after it started has crashed, not just stopped once. */
  readonly stableMs: number;
  /** Crashes (or failed starts) in a row after which the log says, at error level, that Chroma keeps failing. */
  readonly crashLoopAfter: number;
}

export const DEFAULT_CHROMA_RESTART_TIMING: ChromaRestartTiming = {
  checkEveryMs: 2_000,
  firstDelayMs: 2_000,
  maxDelayMs: 60_000,
  stableMs: 60_000,
  crashLoopAfter: 3,
};

/** How the last unexpected exit of an embedded Chroma this process started went. */
export interface ChromaLastExit {
  readonly at: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** How long that child had run. */
  readonly ranMs: number;
}

/** What a count of failures tells the supervisor to do. */
export interface CrashCount {
  readonly crashesInARow: number;
  /** The wait before the next start. */
  readonly retryInMs: number;
  /** True exactly when this failure makes the streak long enough to log at error level. */
  readonly alarm: boolean;
}

/**
 * The restart rules, apart from processes and timers: when the next start may come, and how
 * failures in a row are counted. Times are passed in (milliseconds since the epoch).
 */
export interface ChromaRestartSchedule {
  readonly restarts: number;
  readonly crashesInARow: number;
  readonly lastExit: ChromaLastExit | null;
  /** A child (the first, or a restarted one) began running at `at`. */
  started(at: number): void;
  /** A start after an exit or a takeover succeeded. */
  restarted(): void;
  /**
   * The embedded child exited without being asked to. Returns the count when it had run less
   * than `stableMs` (a crash: the wait grows), or null when it had been up long enough (the
   * next start comes at once and the streak is over).
   */
  exited(exit: { code: number | null; signal: string | null }, at: number): CrashCount | null;
  /** Starting the embedded child again failed: counted, and the wait grows. */
  startFailed(at: number): CrashCount;
  /** Taking over a shared data folder failed: counted, tried again at the next check (it may be waiting on another process), the wait unchanged. */
  takeoverFailed(): CrashCount;
  /** A check at `at` found the child running: up `stableMs` since its start ends the streak. */
  runningAt(at: number): void;
  /** Whether a start may be tried at `at`. */
  mayStartAt(at: number): boolean;
  /** How long from `at` until a start may be tried (0 when it may now). */
  nextStartInMs(at: number): number;
}

export function createChromaRestartSchedule(timing: ChromaRestartTiming = DEFAULT_CHROMA_RESTART_TIMING): ChromaRestartSchedule {
  let restarts = 0;
  let crashesInARow = 0;
  let lastExit: ChromaLastExit | null = null;
  let startedAt = 0;
  let delayMs = timing.firstDelayMs;
  let startAllowedAt = 0;
  const count = (retryInMs: number): CrashCount => {
    crashesInARow += 1;
    return { crashesInARow, retryInMs, alarm: crashesInARow === timing.crashLoopAfter };
  };
  const grow = (at: number): number => {
    const waitMs = delayMs;
    startAllowedAt = at + waitMs;
    delayMs = Math.min(delayMs * 2, timing.maxDelayMs);
    return waitMs;
  };
  const streakOver = (): void => {
    crashesInARow = 0;
    delayMs = timing.firstDelayMs;
    startAllowedAt = 0;
  };
  return {
    get restarts() {
      return restarts;
    },
    get crashesInARow() {
      return crashesInARow;
    },
    get lastExit() {
      return lastExit;
    },
    started(at) {
      startedAt = at;
    },
    restarted() {
      restarts += 1;
    },
    exited(exit, at) {
      const ranMs = at - startedAt;
      lastExit = { at: new Date(at).toISOString(), exitCode: exit.code, signal: exit.signal, ranMs };
      if (ranMs >= timing.stableMs) {
        streakOver();
        return null;
      }
      return count(grow(at));
    },
    startFailed: (at) => count(grow(at)),
    takeoverFailed: () => count(timing.checkEveryMs),
    runningAt(at) {
      if (crashesInARow > 0 && at - startedAt >= timing.stableMs) streakOver();
    },
    mayStartAt: (at) => at >= startAllowedAt,
    nextStartInMs: (at) => Math.max(0, startAllowedAt - at),
  };
}

/** `/health`'s view of Chroma, less what SQLite knows (pending vectors). */
export interface ChromaSupervisionStatus {
  readonly status: 'ok' | 'down';
  readonly version: string | null;
  readonly url: string;
  readonly embedded: boolean;
  readonly mode: ChromaServer['mode'];
  readonly restarts: number;
  readonly crashesInARow: number;
  readonly lastExit: ChromaLastExit | null;
  /** When the embedded Chroma is down and will be started again: in how long. */
  readonly nextStartInMs: number | null;
  readonly error?: string;
}

export interface ChromaSupervisorOptions {
  /** The Chroma this process found (shared, external) or started (embedded). */
  readonly server: ChromaServer;
  /** Starts this process's own Chroma on the data folder (a restart or a takeover). */
  readonly startOwn: () => Promise<ChromaServer>;
  /** Opens the vector collection on a server; `rebuild` replaces one built with another model. */
  readonly openIndex: (server: ChromaServer, onMismatch: 'refuse' | 'rebuild') => Promise<VectorIndex>;
  /** Open the first index with `rebuild` (`writ reindex --reembed`), and skip the empty-index check it would defeat. */
  readonly rebuild?: boolean;
  /** Start an embedded Chroma again when it exits unexpectedly (`WRIT_CHROMA_RESTART`). */
  readonly restartOnExit: boolean;
  readonly logger: Logger;
  readonly timing?: Partial<ChromaRestartTiming>;
}

/** What the supervisor asks of retrieval once the index moved or may have lost its rows. */
export type SupervisedRetrieval = Pick<Retrieval, 'reconcileVectorIndex' | 'resumeVectorSync' | 'syncVectors'>;

export interface ChromaSupervisor {
  /** The Chroma in use now (a restart or a takeover replaces it). */
  readonly chroma: ChromaServer;
  /** The index retrieval holds: it forwards to the collection on the current server. */
  readonly index: VectorIndexPort;
  /** Opens the collection again by name on the current server (after a reindex dropped it). */
  reopenIndex(): Promise<VectorIndexPort>;
  /**
   * Checks the index against SQLite once (an empty collection while SQLite records vectors in
   * it: a restored home, a lost chroma folder, gets them written again), then starts watching
   * the server. Never throws: a check that fails (Chroma down) is tried again at the next tick.
   */
  watch(retrieval: SupervisedRetrieval): Promise<void>;
  status(): Promise<ChromaSupervisionStatus>;
  /** No restart or takeover begins after this (one already started stops what it started). */
  halt(): void;
  /** Halts, then stops the current server. */
  close(): Promise<void>;
}

/**
 * Opens the index on `options.server` and returns a supervisor that keeps it on a live Chroma
 * once `watch` is called.
 *
 * @example
 * const chroma = await startChroma({ dataDir });
 * const supervisor = await superviseChroma({ server: chroma, startOwn: () => startChroma({ dataDir }), openIndex, restartOnExit: true, logger });
 * const retrieval = createRetrieval({ …, vectorIndex: supervisor.index, reopenVectorIndex: supervisor.reopenIndex });
 * await supervisor.watch(retrieval);
 */
export async function superviseChroma(options: ChromaSupervisorOptions): Promise<ChromaSupervisor> {
  const timing = { ...DEFAULT_CHROMA_RESTART_TIMING, ...options.timing };
  const { logger, startOwn, openIndex } = options;
  let chroma = options.server;
  let vectorIndex = await openIndex(chroma, options.rebuild === true ? 'rebuild' : 'refuse');
  const schedule = createChromaRestartSchedule(timing);
  let halted = false;
  /** The restart or takeover under way, if any: `close` waits for it, so nothing it started outlives the close. */
  let moving: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let retrieval: SupervisedRetrieval | undefined;

  // Another process sharing this Chroma (a local `writ reindex`) may drop the collection and
  // create it again: the index is then opened again by name, once, and the call retried.
  const onCurrent = async <T>(op: (index: VectorIndex) => Promise<T>): Promise<T> => {
    const index = vectorIndex;
    try {
      return await op(index);
    } catch (err) {
      if (!(isWritError(err, 'RETRIEVAL_VECTOR_INDEX_FAILED') && err.details.gone === true)) throw err;
      if (vectorIndex === index) vectorIndex = await openIndex(chroma, 'refuse');
      return op(vectorIndex);
    }
  };
  const index: VectorIndexPort = {
    upsert: (rows) => onCurrent((i) => i.upsert(rows)),
    query: (q) => onCurrent((i) => i.query(q)),
    delete: (ids) => onCurrent((i) => i.delete(ids)),
    count: () => onCurrent((i) => i.count()),
    drop: () => vectorIndex.drop(),
  };

  const alarm = (what: string, count: CrashCount, lastLogLines: string[]): void => {
    if (!count.alarm) return;
    logger.error(
      { crashesInARow: count.crashesInARow, retryInMs: count.retryInMs, lastExit: schedule.lastExit, lastLogLines },
      `chroma: keeps failing (${what}); still retrying, with longer waits; search reads SQLite meanwhile; the last log lines may say why`,
    );
  };

  // Watches each embedded child this process starts: when and how it ended, and whether it
  // had run long enough for the next start to come at once rather than after a growing wait.
  const follow = (server: ChromaServer): void => {
    if (server.mode !== 'embedded') return;
    const startedAt = Date.now();
    schedule.started(startedAt);
    server.onExit((exit) => {
      if (exit.expected) return;
      const at = Date.now();
      const count = schedule.exited({ code: exit.code, signal: exit.signal }, at);
      if (count !== null) alarm(`it exited ${Math.round((at - startedAt) / 1000)} s after it started`, count, server.lastLogLines(10));
    });
  };

  // A home restored from `writ backup` starts with an empty Chroma folder (as does a Chroma
  // whose folder was lost): SQLite holds every vector, so they are queued to be written again
  // rather than silently missing. Checked at start and after every move to a new server.
  let reconcilePending = options.rebuild !== true;
  let reconciling = false;
  const reconcile = async (): Promise<void> => {
    if (retrieval === undefined || !reconcilePending || reconciling) return;
    reconciling = true;
    try {
      const found = await retrieval.reconcileVectorIndex();
      reconcilePending = false;
      if (found.requeued > 0) {
        logger.warn(
          { requeued: found.requeued },
          'chroma: the vector index was empty while SQLite records vectors in it (a restored home, or a lost chroma folder): writing them again from SQLite',
        );
      }
    } catch (err) {
      logger.warn({ err }, 'chroma: could not compare the vector index with SQLite; trying again shortly');
    } finally {
      reconciling = false;
    }
  };

  /** Starts a Chroma of this process's own and moves the index to it. */
  const moveOn = async (wasEmbedded: boolean): Promise<void> => {
    if (!wasEmbedded) {
      try {
        await chroma.heartbeat();
        return; // still answers
      } catch {
        // Gone: take the folder over below.
      }
    }
    if (halted) return;
    const next = await startOwn();
    let nextIndex: VectorIndex | undefined;
    try {
      if (!halted) nextIndex = await openIndex(next, 'refuse');
    } catch (err) {
      await next.stop();
      throw err;
    }
    if (halted || nextIndex === undefined) {
      // Closing: what this move started must not outlive the close.
      await next.stop();
      return;
    }
    const previous = chroma;
    chroma = next;
    vectorIndex = nextIndex;
    follow(next);
    schedule.restarted();
    await previous.stop();
    logger.warn(
      { url: next.url, mode: next.mode, pid: next.pid },
      wasEmbedded ? 'chroma: the embedded chroma exited; started it again' : 'chroma: the process that served this data folder is gone; moved to a new server',
    );
    reconcilePending = true;
    if (halted) return; // retrieval is closing: the next start checks and syncs
    await reconcile();
    if (halted) return;
    await retrieval?.syncVectors().catch(() => undefined);
  };

  const check = (): void => {
    if (moving !== undefined || halted) return;
    const now = Date.now();
    if (reconcilePending && chroma.isRunning()) {
      void reconcile().then(() => {
        if (reconcilePending || halted) return;
        try {
          retrieval?.resumeVectorSync();
        } catch (err) {
          logger.warn({ err }, 'chroma: could not resume writing pending vectors; the next sync writes them');
        }
      });
    }
    const wasEmbedded = chroma.mode === 'embedded';
    if (wasEmbedded) {
      if (chroma.isRunning()) {
        // Up long enough: the streak is over, and a later exit is met by a prompt start.
        schedule.runningAt(now);
        return;
      }
      if (!options.restartOnExit || !schedule.mayStartAt(now)) return;
    } else if (chroma.mode !== 'shared') {
      return; // an external Chroma is the operator's to run
    }
    moving = moveOn(wasEmbedded)
      .catch((err: unknown) => {
        if (halted) return; // a start that failed during the close is no crash to count
        const lastLogLines = isWritError(err) && Array.isArray(err.details.lastLogLines) ? (err.details.lastLogLines as string[]).slice(-10) : [];
        if (!wasEmbedded) {
          // A shared folder is tried again at every check (it may wait on another process):
          // failures count toward the error log, without growing the embedded child's wait.
          const count = schedule.takeoverFailed();
          logger.warn({ err, retryInMs: count.retryInMs }, 'chroma: taking over the data folder failed; retrying');
          alarm('taking over the data folder failed', count, lastLogLines);
          return;
        }
        const count = schedule.startFailed(Date.now());
        logger.warn({ err, retryInMs: count.retryInMs }, 'chroma: starting the embedded chroma again failed; retrying');
        alarm('a start failed', count, lastLogLines);
      })
      .finally(() => {
        moving = undefined;
      });
  };

  follow(chroma);
  const halt = (): void => {
    halted = true;
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
  };
  return {
    get chroma() {
      return chroma;
    },
    index,
    async reopenIndex() {
      vectorIndex = await openIndex(chroma, 'refuse');
      return index;
    },
    async watch(r) {
      if (retrieval !== undefined || halted) return;
      retrieval = r;
      await reconcile();
      if (halted) return;
      timer = setInterval(check, timing.checkEveryMs);
      timer.unref();
    },
    async status() {
      const now = Date.now();
      const down = chroma.mode === 'embedded' && !chroma.isRunning();
      const about = {
        version: chroma.version,
        url: chroma.url,
        embedded: chroma.pid !== null,
        mode: chroma.mode,
      };
      const counts = { restarts: schedule.restarts, crashesInARow: schedule.crashesInARow, lastExit: schedule.lastExit };
      const nextStartInMs = down && options.restartOnExit && !halted ? schedule.nextStartInMs(now) : null;
      return chroma.heartbeat().then(
        () => ({ status: 'ok' as const, ...about, ...counts, nextStartInMs: null }),
        (err: Error) => ({ status: 'down' as const, ...about, ...counts, nextStartInMs, error: err.message }),
      );
    },
    halt,
    async close() {
      halt();
      // A start under way finishes first (it cannot be cancelled), then stops what it started.
      await moving;
      await chroma.stop();
    },
  };
}
