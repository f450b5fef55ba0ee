// The live feed: tells subscribers about ledger entries as they commit, strictly in seq
// order, with no gaps and no duplicates, resumable from any seq. SQLite is the only
// source: the feed reads committed entries by seq, woken by the ledger's in-process
// append signal and by a slow poll that catches other processes' appends.
import { WritError } from '../core/index.js';
import { LedgerErrors } from './errors.js';
import type { LedgerApi, LedgerEntry } from './types.js';

export interface LedgerFeedOptions {
  /** How often to look for entries appended by other processes, in ms; 0 turns the poll off. Default 250. */
  readonly pollMs?: number;
  /** Entries read from SQLite per query. Default 500. */
  readonly batchSize?: number;
  /** A subscriber whose sink is full and that is more than this many entries behind is disconnected. Default 10,000. */
  readonly maxLagEntries?: number;
  /** A subscriber whose sink stays full this long while entries wait is disconnected, in ms. Default 30,000. */
  readonly maxStallMs?: number;
  /** Told about read failures (the feed retries on the next signal or poll). */
  readonly onError?: (err: unknown) => void;
}

/** Why a subscription ended. `code` is null when the subscriber closed it itself. */
export interface FeedEnd {
  readonly code: string | null;
  readonly message: string;
  /** Every entry up to this seq was delivered or filtered out: resume after it. */
  readonly resumeAfterSeq: number;
  readonly error?: WritError;
}

export interface FeedSubscribeOptions {
  /** Deliver entries with a larger seq. Default: the feed's current position (only new entries). */
  readonly afterSeq?: number;
  /** Narrow catch-up reads in SQL (an optimisation; `accept` still decides). */
  readonly kinds?: readonly string[];
  readonly tenant?: string;
  /** Whether this subscriber receives an entry (kind filter, visibility…). Default: all. */
  readonly accept?: (entry: LedgerEntry) => boolean;
  /** Hands one accepted entry to the subscriber's sink (write it to a socket). */
  readonly send: (entry: LedgerEntry) => void;
  /** Whether the sink takes more now (its buffer is below its high-water mark). Default: always. */
  readonly isReady?: () => boolean;
  /** Called once when the subscription ends, for any reason. */
  readonly onEnd?: (end: FeedEnd) => void;
}

export interface FeedSubscription {
  /** Highest seq delivered or filtered out for this subscriber. */
  readonly seq: number;
  /** Tell the feed the sink drained (e.g. on the socket's `drain`); delivery continues. */
  resume(): void;
  /** Ends the subscription; `onEnd` is called with code null. */
  close(): void;
}

export interface LedgerFeed {
  /** Highest seq the feed has read from SQLite. */
  readonly seq: number;
  readonly subscriberCount: number;
  /** False once `close()` was called; `subscribe` then throws LEDGER_FEED_CLOSED. */
  readonly isOpen: boolean;
  subscribe(options: FeedSubscribeOptions): FeedSubscription;
  /** Reads new entries now (normally the append signal and the poll do this). */
  wake(): void;
  /** Stops the poll and ends every subscription with LEDGER_FEED_CLOSED. Idempotent. */
  close(): void;
}

interface Subscriber {
  seq: number;
  readonly options: FeedSubscribeOptions;
  readonly kinds: readonly string[] | undefined;
  readonly tenant: string | undefined;
  ended: boolean;
  catchingUp: boolean;
  stalledSince: number | null;
}

/**
 * Creates the live feed over a ledger. One feed serves any number of subscribers; a slow
 * subscriber never blocks appends or other subscribers: the feed holds no queue per
 * subscriber (missed entries stay in SQLite and are read again by seq), and a subscriber
 * whose sink stays full while it falls too far behind is disconnected with
 * LEDGER_FEED_LAGGING and the seq to resume after.
 *
 * @example
 * const feed = createLedgerFeed(app.ledger, { pollMs: 250 });
 * const sub = feed.subscribe({ afterSeq: 42, send: (e) => console.log(e.seq, e.kind) });
 * // later
 * sub.close();
 * feed.close();
 */
export function createLedgerFeed(ledger: LedgerApi, options: LedgerFeedOptions = {}): LedgerFeed {
  const pollMs = options.pollMs ?? 250;
  const batchSize = options.batchSize ?? 500;
  const maxLagEntries = options.maxLagEntries ?? 10_000;
  const maxStallMs = options.maxStallMs ?? 30_000;
  const checks: Array<[string, unknown, boolean]> = [
    ['pollMs', pollMs, Number.isSafeInteger(pollMs) && pollMs >= 0],
    ['batchSize', batchSize, Number.isSafeInteger(batchSize) && batchSize >= 1 && batchSize <= 10_000],
    ['maxLagEntries', maxLagEntries, Number.isSafeInteger(maxLagEntries) && maxLagEntries >= 1],
    ['maxStallMs', maxStallMs, Number.isSafeInteger(maxStallMs) && maxStallMs >= 1],
  ];
  const bad = checks.filter(([, , ok]) => !ok);
  if (typeof ledger?.entries !== 'function' || typeof ledger.onAppend !== 'function' || bad.length > 0) {
    const list = bad.map(([name, value]) => `\`${name}\` is \`${String(value)}\``).join(', ');
    throw new WritError(LedgerErrors.LEDGER_OPTIONS_INVALID, `invalid ledger feed options: ${list || 'pass a ledger with `entries` and `onAppend`'}`);
  }

  let readSeq = ledger.head().seq;
  let closed = false;
  let reading = false;
  let readAgain = false;
  const subscribers = new Set<Subscriber>();

  function end(sub: Subscriber, result: FeedEnd): void {
    if (sub.ended) return;
    sub.ended = true;
    subscribers.delete(sub);
    try {
      sub.options.onEnd?.(result);
    } catch (err) {
      options.onError?.(err);
    }
  }

  function lagging(sub: Subscriber): void {
    const error = new WritError(
      LedgerErrors.LEDGER_FEED_LAGGING,
      `subscriber fell behind by \`${readSeq - sub.seq}\` entries: resume after seq \`${sub.seq}\``,
      { details: { resumeAfterSeq: sub.seq, head: readSeq } },
    );
    end(sub, { code: error.code, message: error.message, resumeAfterSeq: sub.seq, error });
  }

  const isReady = (sub: Subscriber): boolean => sub.options.isReady?.() ?? true;

  /** The sink is full: remember since when, and disconnect once it is too far behind or too long. */
  function stalled(sub: Subscriber): void {
    sub.stalledSince ??= Date.now();
    if (readSeq - sub.seq > maxLagEntries || Date.now() - sub.stalledSince > maxStallMs) lagging(sub);
  }

  /** Delivers entries (in seq order, all > sub.seq) until the sink is full. Returns false when it stopped early. */
  function deliver(sub: Subscriber, entries: readonly LedgerEntry[]): boolean {
    for (const entry of entries) {
      if (sub.ended) return false;
      // INVARIANT: no duplicates, no gaps: a subscriber's position only moves forward, one
      // seq at a time, over entries read from SQLite in seq order.
      if (entry.seq <= sub.seq) continue;
      if (!isReady(sub)) {
        stalled(sub);
        return false;
      }
      sub.seq = entry.seq;
      let accepted: boolean;
      try {
        accepted = sub.options.accept?.(entry) ?? true;
        if (accepted) sub.options.send(entry);
      } catch (err) {
        const error = err instanceof WritError ? err : undefined;
        end(sub, { code: error?.code ?? 'LEDGER_FEED_CLOSED', message: `subscriber failed: ${(err as Error).message}`, resumeAfterSeq: entry.seq - 1, ...(error ? { error } : {}) });
        return false;
      }
    }
    sub.stalledSince = null;
    return true;
  }

  /** Brings a subscriber that is behind the feed up to it, one page per turn of the event loop. */
  function catchUp(sub: Subscriber): void {
    if (sub.catchingUp || sub.ended) return;
    sub.catchingUp = true;
    const step = (): void => {
      if (sub.ended || closed) return;
      try {
        while (sub.seq < readSeq) {
          if (!isReady(sub)) {
            sub.catchingUp = false;
            stalled(sub);
            return;
          }
          const target = readSeq;
          const page = ledger.entries({
            afterSeq: sub.seq,
            limit: batchSize,
            ...(sub.kinds === undefined ? {} : { kinds: sub.kinds }),
            ...(sub.tenant === undefined ? {} : { tenant: sub.tenant }),
          });
          const upTo = page.filter((e) => e.seq <= target);
          if (!deliver(sub, upTo)) {
            sub.catchingUp = false;
            return;
          }
          // A short page holds every matching entry up to the committed head, which is at
          // least `target`: nothing the SQL filter kept lies between, so skip ahead.
          if (page.length < batchSize || upTo.length < page.length) sub.seq = Math.max(sub.seq, target);
          else {
            setImmediate(step);
            return;
          }
        }
        sub.catchingUp = false;
      } catch (err) {
        sub.catchingUp = false;
        options.onError?.(err);
        setTimeout(() => catchUp(sub), Math.max(pollMs, 50)).unref();
      }
    };
    setImmediate(step);
  }

  function readNew(): void {
    for (;;) {
      const page = ledger.entries({ afterSeq: readSeq, limit: batchSize });
      if (page.length === 0) return;
      // INVARIANT: writers are serialized and assign seqs inside the write transaction, so
      // the committed entries always form a gap-free prefix of the chain.
      readSeq = (page[page.length - 1] as LedgerEntry).seq;
      const first = (page[0] as LedgerEntry).seq;
      for (const sub of subscribers) {
        if (sub.catchingUp) continue;
        if (sub.seq < first - 1) {
          catchUp(sub);
          continue;
        }
        // A full sink stops here; `resume()` (or the poll) catches it up from SQLite later.
        deliver(sub, page);
      }
      if (page.length < batchSize) return;
    }
  }

  function wake(): void {
    if (closed) return;
    // Nobody listens: skip the read; the next subscriber starts from the committed head.
    if (subscribers.size === 0) return;
    if (reading) {
      readAgain = true;
      return;
    }
    reading = true;
    try {
      do {
        readAgain = false;
        readNew();
      } while (readAgain && !closed);
    } catch (err) {
      options.onError?.(err);
    } finally {
      reading = false;
    }
  }

  const unhook = ledger.onAppend(wake);
  const poll =
    pollMs === 0
      ? undefined
      : setInterval(() => {
          if (subscribers.size === 0) return;
          try {
            if (ledger.head().seq > readSeq) wake();
          } catch (err) {
            options.onError?.(err);
          }
          for (const sub of [...subscribers]) {
            if (sub.seq >= readSeq || sub.catchingUp) continue;
            if (isReady(sub)) catchUp(sub);
            else stalled(sub);
          }
        }, pollMs);
  poll?.unref();

  return {
    get seq() {
      return readSeq;
    },
    get subscriberCount() {
      return subscribers.size;
    },
    get isOpen() {
      return !closed;
    },
    subscribe(subscribeOptions) {
      if (closed) throw new WritError(LedgerErrors.LEDGER_FEED_CLOSED, 'live feed is closed', { details: { resumeAfterSeq: subscribeOptions.afterSeq ?? readSeq } });
      if (subscribers.size === 0) {
        // Entries committed while nobody listened were never dispatched: start the live
        // position at the committed head; a subscriber asking for older ones catches up from SQLite.
        readSeq = ledger.head().seq;
      }
      const afterSeq = subscribeOptions.afterSeq ?? readSeq;
      if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
        throw new WritError(LedgerErrors.LEDGER_INVALID_QUERY, `invalid ledger query: \`afterSeq\` must be a non-negative integer`, { details: { afterSeq } });
      }
      const sub: Subscriber = {
        seq: afterSeq,
        options: subscribeOptions,
        kinds: subscribeOptions.kinds !== undefined && subscribeOptions.kinds.length > 0 ? subscribeOptions.kinds : undefined,
        tenant: subscribeOptions.tenant,
        ended: false,
        catchingUp: false,
        stalledSince: null,
      };
      subscribers.add(sub);
      if (sub.seq < readSeq) catchUp(sub);
      return {
        get seq() {
          return sub.seq;
        },
        resume() {
          if (sub.ended) return;
          sub.stalledSince = null;
          if (sub.seq < readSeq) catchUp(sub);
        },
        close() {
          end(sub, { code: null, message: 'closed by the subscriber', resumeAfterSeq: sub.seq });
        },
      };
    },
    wake,
    close() {
      if (closed) return;
      closed = true;
      unhook();
      if (poll !== undefined) clearInterval(poll);
      for (const sub of [...subscribers]) {
        const error = new WritError(LedgerErrors.LEDGER_FEED_CLOSED, `live feed closed: resume after seq \`${sub.seq}\``, { details: { resumeAfterSeq: sub.seq } });
        end(sub, { code: error.code, message: error.message, resumeAfterSeq: sub.seq, error });
      }
    },
  };
}
