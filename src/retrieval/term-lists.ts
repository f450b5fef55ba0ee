// Exact BM25 rankings without FTS5 scoring every matching row: per-word score lists.
//
// FTS5's bm25() is a sum over the query's phrases of idf · tf-part, each part depending only
// on its phrase, the row and index-wide counts (fts5_aux.c adds them in query order, from 0).
// So a row's score for an OR query of words is the sum of its scores for each word alone —
// bit for bit when added in the same order. A word's list (every matching row with its
// one-word score) is read from FTS5 once per state of the index and summed here, at a few
// nanoseconds per posting instead of ~2 µs per matching row inside FTS5.
//
// A list is valid for one state of the FTS index, named by its averages and structure records
// (both change on every write): any write retires every list. Lists are keyed by the token the
// index makes of a word ("studies" → "studi"), so words sharing a token share a list. Small
// lists are read inline; large ones by a worker thread on its own read connection once the
// index has been quiet for a moment — first those queries asked for, then every token of the
// index with a large list (largest first, within the memory budget). Until a query's lists
// are all there, `listsFor` returns null and the caller ranks with FTS5 — the result is
// FTS5's ranking either way.
import { Worker } from 'node:worker_threads';
import { statement, type Db } from '../store/index.js';
import { createWordKeys, ftsStateOf, FTS_STATE_SQL, phraseOf, TERM_LIST_SQL } from './fts-words.mjs';
import { searchableGeneration } from './generation.js';
import type { ColumnWeights } from './lexical.js';

/** One token's list: matching rows in ascending order, each with its one-word BM25 score. */
interface TermList {
  readonly rows: Int32Array;
  readonly scores: Float64Array;
}

/** The lists of one query's words, in query order. */
export interface QueryLists {
  readonly lists: readonly TermList[];
}

export interface TermListsOptions {
  /** Memory for lists (bytes, 12 per posting); 0 turns lists off. */
  readonly maxBytes: number;
  /** Database file for the worker; absent or `:memory:`: small lists only (read inline). */
  readonly dbPath?: string;
  /**
   * Below this many FTS rows lists are not used (default 0: always). Even on a 7-chunk index
   * a list lookup costs less than FTS5's per-query setup: HTTP retrieve on the sample
   * workspace, ~1,025 → ~1,110 req/s (bench/tmp A/B, two runs each).
   */
  readonly minRows?: number;
  /** A word matching at most this many rows is read inline (≤ ~1.5 ms); larger ones by the worker. */
  readonly inlineMaxRows?: number;
  /** The worker reads large lists only once the index has not changed for this long. */
  readonly quietMs?: number;
  /** Whether the worker also reads every large list of the index, not only those queries asked for. */
  readonly readAhead?: boolean;
  /**
   * Memory the row-indexed accumulator may take (12 bytes per row number up to the largest
   * row); beyond it rankings merge the row-sorted lists instead (slower, no memory). Default:
   * half of `maxBytes`, at least 32 MB.
   */
  readonly directBytes?: number;
}

/** Counters for benchmarks and tests. */
export interface TermListsStats {
  /** Rankings served from lists, and those that fell back to FTS5. */
  served: number;
  fellBack: number;
  /** Lists read inline and by the worker. */
  readInline: number;
  readByWorker: number;
  lists: number;
  bytes: number;
}

export interface TermLists {
  /**
   * The lists of `terms` for the index as it is now (reading small missing ones inline), or
   * null when one is missing: it is then read in the background and the caller uses FTS5.
   * `df` gives a word's matching rows; `rows` is the FTS row count.
   */
  listsFor(db: Db, terms: readonly string[], weights: ColumnWeights, df: (term: string) => number, rows: number): QueryLists | null;
  /** Exact top `limit` rows by summed score (ties: lower row first). */
  topK(q: QueryLists, limit: number): Array<{ seq: number; score: number }>;
  /** Summed scores of specific rows (rows matching no word are absent). */
  scoresOf(q: QueryLists, seqs: readonly number[]): Map<number, number>;
  /** Resolves once no list read is pending or scheduled (tests, benchmarks). */
  idle(): Promise<void>;
  readonly stats: TermListsStats;
  close(): void;
}

/** Switch for measurements (bench/retrieval.ts compares rankings with and without lists); lists never change results. */
export const termListRanking = { enabled: true };

export const TERM_LISTS_DEFAULTS = Object.freeze({ minRows: 0, inlineMaxRows: 500, quietMs: 1_000 });
/** The row-indexed accumulator (12 bytes per row number) may take at least this much memory. */
const MIN_DIRECT_BYTES = 32 * 2 ** 20;

/** The FTS index's state (see `ftsStateOf`). */
function stampOf(db: Db): string {
  return ftsStateOf(statement(db, FTS_STATE_SQL).pluck().all() as Buffer[]);
}

/**
 * `stampOf`, read again only when the searchable generation moved: the FTS index changes
 * only with it (ingest and revoke note their writes; other connections move data_version).
 * Reading and hex-encoding the structure record on every query was ~2% of an HTTP retrieve.
 */
const stamps = new WeakMap<Db, { generation: number; stamp: string }>();
function currentStamp(db: Db): string {
  const generation = searchableGeneration(db);
  const seen = stamps.get(db);
  if (seen !== undefined && seen.generation === generation) return seen.stamp;
  const stamp = stampOf(db);
  stamps.set(db, { generation, stamp });
  return stamp;
}

function weightsKey(w: ColumnWeights): string {
  return `${w.title},${w.heading},${w.body}`;
}

function listOf(rowsAndScores: Array<[number, number]>): TermList {
  const rows = new Int32Array(rowsAndScores.length);
  const scores = new Float64Array(rowsAndScores.length);
  for (let i = 0; i < rowsAndScores.length; i++) {
    const [r, s] = rowsAndScores[i] as [number, number];
    rows[i] = r;
    scores[i] = s;
  }
  return inRowOrder({ rows, scores });
}

/** The list sorted by row: FTS5 returns rows in ascending order and `scoresOf` relies on it, so never assume it. */
function inRowOrder(list: TermList): TermList {
  const { rows, scores } = list;
  let sorted = true;
  for (let i = 1; i < rows.length && sorted; i++) sorted = (rows[i] as number) > (rows[i - 1] as number);
  if (sorted) return list;
  const order = [...rows.keys()].sort((a, b) => (rows[a] as number) - (rows[b] as number));
  return { rows: Int32Array.from(order, (i) => rows[i] as number), scores: Float64Array.from(order, (i) => scores[i] as number) };
}

type FromWorker =
  | { kind: 'list'; stamp: string; wkey: string; key: string; rows: Int32Array; scores: Float64Array }
  | { kind: 'large'; stamp: string; wkey: string; tokens: Array<[string, number]> }
  | { kind: 'idle'; handled: number }
  | { kind: 'error'; message: string };

export function createTermLists(options: TermListsOptions): TermLists {
  const minRows = options.minRows ?? TERM_LISTS_DEFAULTS.minRows;
  const inlineMaxRows = options.inlineMaxRows ?? TERM_LISTS_DEFAULTS.inlineMaxRows;
  const quietMs = options.quietMs ?? TERM_LISTS_DEFAULTS.quietMs;
  const readAhead = options.readAhead ?? true;
  const stats: TermListsStats = { served: 0, fellBack: 0, readInline: 0, readByWorker: 0, lists: 0, bytes: 0 };

  // Lists of the current index state and column weights, by token key; Map order is recency (LRU).
  let stamp = '';
  let wkey = '';
  let weights: ColumnWeights | undefined;
  let stampSeenAt = 0;
  /** Rows of the index in this state: no list is longer, so a small index needs no read-ahead (nor a worker). */
  let stateRows = 0;
  let lists = new Map<string, TermList>();
  // Keys asked of the worker in this state, and those still to ask (key → a word that makes it).
  let requested = new Set<string>();
  const wanted = new Map<string, string>();
  let readAheadAsked = false;
  // This state's tokens with more than `inlineMaxRows` rows (from the worker's read-ahead); until
  // known, a word's rows are counted to tell whether it can be read inline.
  let largeKeys: Map<string, number> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let worker: Worker | undefined;
  // Messages posted to the worker, and handled by it (the worker is busy while they differ).
  let posted = 0;
  let handled = 0;
  // The read-ahead in flight (its message number) and how long the last one took.
  let readAheadJob = 0;
  let readAheadStartedAt = 0;
  let lastReadAheadMs = 0;
  let workerFailed = options.dbPath === undefined || options.dbPath === ':memory:';
  let keysOf: ((words: readonly string[]) => string[]) | undefined;
  let keysDb: Db | undefined;

  // The accumulator, indexed by row: score and the query that last touched it; then the rows a
  // ranking touched and their sums.
  let acc = new Float64Array(0);
  let mark = new Int32Array(0);
  let touched = new Int32Array(0);
  let sums = new Float64Array(0);
  let queryId = 0;
  const directBytes = options.directBytes ?? Math.max(MIN_DIRECT_BYTES, options.maxBytes / 2);

  const add = (key: string, list: TermList): void => {
    const bytes = list.rows.length * 12;
    if (bytes > options.maxBytes) return;
    const old = lists.get(key);
    if (old !== undefined) {
      stats.bytes -= old.rows.length * 12;
      lists.delete(key);
    }
    // Least recently used lists leave first.
    for (const [k, l] of lists) {
      if (stats.bytes + bytes <= options.maxBytes) break;
      lists.delete(k);
      stats.bytes -= l.rows.length * 12;
    }
    lists.set(key, list);
    stats.bytes += bytes;
    stats.lists = lists.size;
  };

  const startWorker = (): Worker | undefined => {
    if (worker !== undefined || workerFailed) return worker;
    try {
      // Plain JS without the TypeScript loader (as the ledger's verify workers).
      worker = new Worker(new URL('./term-lists-worker.mjs', import.meta.url), { workerData: { path: options.dbPath }, execArgv: [] });
    } catch {
      workerFailed = true;
      return undefined;
    }
    worker.unref();
    worker.on('message', (m: FromWorker) => {
      if (m.kind === 'idle') {
        handled = m.handled;
        if (readAheadJob > 0 && handled >= readAheadJob) {
          lastReadAheadMs = Date.now() - readAheadStartedAt;
          readAheadJob = 0;
        }
        return;
      }
      // A list that could not be read stays missing: its queries use FTS5.
      if (m.kind === 'error') return;
      if (m.kind === 'large') {
        if (m.stamp === stamp) largeKeys = new Map(m.tokens);
        return;
      }
      if (m.stamp === stamp && m.wkey === wkey) {
        add(m.key, inRowOrder({ rows: m.rows, scores: m.scores }));
        stats.readByWorker++;
      }
    });
    // A failed worker only means large lists are not read: searches use FTS5 as before.
    worker.on('error', () => {
      workerFailed = true;
      worker = undefined;
      handled = posted;
    });
    return worker;
  };

  /**
   * Sends the worker what this state still needs: lists queries asked for once the index has
   * been quiet for `quietMs`; the read-ahead once it has been quiet for twice as long as the
   * last read-ahead took, so an index written every few seconds does not keep a core busy
   * reading lists that the next write retires.
   */
  const flush = (): void => {
    if (workerFailed || weights === undefined) return;
    const now = Date.now();
    const readsIn = wanted.size > 0 ? stampSeenAt + quietMs - now : Infinity;
    const aheadIn = readAhead && !readAheadAsked && stateRows > inlineMaxRows ? stampSeenAt + Math.max(quietMs, 2 * lastReadAheadMs) - now : Infinity;
    const later = Math.min(readsIn > 0 ? readsIn : Infinity, aheadIn > 0 ? aheadIn : Infinity);
    if (later !== Infinity && timer === undefined) {
      timer = setTimeout(() => {
        timer = undefined;
        flush();
      }, later);
      timer.unref();
    }
    if (readsIn > 0 && aheadIn > 0) return;
    const w = startWorker();
    if (w === undefined) return;
    const w3 = [weights.title, weights.heading, weights.body];
    if (readsIn <= 0) {
      posted++;
      for (const k of wanted.keys()) requested.add(k);
      w.postMessage({ kind: 'read', stamp, wkey, weights: w3, words: [...wanted], maxBytes: options.maxBytes });
      wanted.clear();
    }
    if (aheadIn <= 0) {
      readAheadAsked = true;
      readAheadJob = ++posted;
      readAheadStartedAt = now;
      w.postMessage({ kind: 'readAhead', stamp, wkey, weights: w3, minRows: inlineMaxRows, have: [...lists.keys(), ...requested], maxBytes: Math.max(0, options.maxBytes - stats.bytes) });
    }
  };

  return {
    stats,
    listsFor(db, terms, w, df, rows) {
      if (!termListRanking.enabled || options.maxBytes <= 0 || rows < minRows || terms.length === 0) return null;
      const now = currentStamp(db);
      const k = weightsKey(w);
      if (now !== stamp || k !== wkey) {
        stamp = now;
        wkey = k;
        weights = w;
        stampSeenAt = Date.now();
        stateRows = rows;
        lists = new Map();
        requested = new Set();
        wanted.clear();
        readAheadAsked = false;
        largeKeys = undefined;
        stats.bytes = 0;
        stats.lists = 0;
        clearTimeout(timer);
        timer = undefined;
        // This state's large lists are read ahead once it has been quiet for `quietMs`.
        flush();
      }
      if (keysDb !== db) {
        keysOf = createWordKeys(db);
        keysDb = db;
      }
      const keys = (keysOf as (words: readonly string[]) => string[])(terms);
      const out: TermList[] = [];
      let missing = false;
      for (let i = 0; i < terms.length; i++) {
        const key = keys[i] as string;
        const hit = lists.get(key);
        if (hit !== undefined) {
          lists.delete(key);
          lists.set(key, hit);
          out.push(hit);
          continue;
        }
        const term = terms[i] as string;
        const large = largeKeys !== undefined && !key.startsWith('\u0000') ? largeKeys.has(key) : df(term) > inlineMaxRows;
        if (large) {
          if (!requested.has(key)) wanted.set(key, term);
          missing = true;
          continue;
        }
        const list = listOf(statement(db, TERM_LIST_SQL).raw().all(w.title, w.heading, w.body, phraseOf(term)) as Array<[number, number]>);
        stats.readInline++;
        add(key, list);
        out.push(list);
      }
      if (missing) {
        flush();
        stats.fellBack++;
        return null;
      }
      // The index is searched at this size: read its large lists ahead of the queries that need them.
      if (readAhead && !readAheadAsked) flush();
      stats.served++;
      return { lists: out };
    },

    topK(q, limit) {
      let maxRow = 0;
      let total = 0;
      for (const l of q.lists) {
        total += l.rows.length;
        if (l.rows.length > 0) maxRow = Math.max(maxRow, l.rows[l.rows.length - 1] as number);
      }
      if (sums.length < total) {
        sums = new Float64Array(Math.max(total, sums.length * 2));
        touched = new Int32Array(sums.length);
      }
      let n = 0;
      if ((maxRow + 1) * 12 <= directBytes) {
        // Row-indexed accumulator: one pass per list.
        if (acc.length <= maxRow) {
          const size = Math.min(Math.max(maxRow + 1, acc.length * 2), Math.floor(directBytes / 12));
          acc = new Float64Array(size);
          mark = new Int32Array(size);
        }
        // A new query id marks rows untouched without clearing the arrays (wraps after 2^31 queries).
        if (++queryId === 0x7fffffff) {
          mark.fill(0);
          queryId = 1;
        }
        const id = queryId;
        // Words in query order, so each row's sum is FTS5's, bit for bit.
        for (const { rows, scores } of q.lists) {
          for (let i = 0; i < rows.length; i++) {
            const r = rows[i] as number;
            if (mark[r] !== id) {
              mark[r] = id;
              acc[r] = 0;
              touched[n++] = r;
            }
            acc[r] = (acc[r] as number) + (scores[i] as number);
          }
        }
        for (let j = 0; j < n; j++) sums[j] = acc[touched[j] as number] as number;
      } else {
        // Row numbers too large to index directly: merge the row-sorted lists, adding each
        // row's scores in query order (the same sums, bit for bit).
        const at = new Int32Array(q.lists.length);
        for (;;) {
          let r = 0x7fffffff;
          q.lists.forEach((l, k) => {
            if ((at[k] as number) < l.rows.length && (l.rows[at[k] as number] as number) < r) r = l.rows[at[k] as number] as number;
          });
          if (r === 0x7fffffff) break;
          let sum = 0;
          q.lists.forEach((l, k) => {
            if ((at[k] as number) < l.rows.length && l.rows[at[k] as number] === r) {
              sum += l.scores[at[k] as number] as number;
              at[k] = (at[k] as number) + 1;
            }
          });
          touched[n] = r;
          sums[n++] = sum;
        }
      }
      // A min-heap of the best `limit` (root: the worst kept, by lower score, then higher row).
      const hs = new Float64Array(Math.max(0, limit));
      const hr = new Int32Array(Math.max(0, limit));
      let size = 0;
      const worse = (s1: number, r1: number, s2: number, r2: number): boolean => s1 < s2 || (s1 === s2 && r1 > r2);
      for (let j = 0; j < n; j++) {
        const r = touched[j] as number;
        const s = sums[j] as number;
        if (size < limit) {
          let i = size++;
          while (i > 0) {
            const p = (i - 1) >> 1;
            if (!worse(s, r, hs[p] as number, hr[p] as number)) break;
            hs[i] = hs[p] as number;
            hr[i] = hr[p] as number;
            i = p;
          }
          hs[i] = s;
          hr[i] = r;
        } else if (size > 0 && worse(hs[0] as number, hr[0] as number, s, r)) {
          let i = 0;
          for (;;) {
            let c = 2 * i + 1;
            if (c >= size) break;
            if (c + 1 < size && worse(hs[c + 1] as number, hr[c + 1] as number, hs[c] as number, hr[c] as number)) c++;
            if (!worse(hs[c] as number, hr[c] as number, s, r)) break;
            hs[i] = hs[c] as number;
            hr[i] = hr[c] as number;
            i = c;
          }
          hs[i] = s;
          hr[i] = r;
        }
      }
      const out: Array<{ seq: number; score: number }> = [];
      for (let i = 0; i < size; i++) out.push({ seq: hr[i] as number, score: hs[i] as number });
      return out.sort((a, b) => b.score - a.score || a.seq - b.seq);
    },

    scoresOf(q, seqs) {
      const out = new Map<number, number>();
      for (const seq of new Set(seqs)) {
        let sum = 0;
        let matched = false;
        for (const { rows, scores } of q.lists) {
          let lo = 0;
          let hi = rows.length - 1;
          while (lo <= hi) {
            const mid = (lo + hi) >> 1;
            const r = rows[mid] as number;
            if (r < seq) lo = mid + 1;
            else if (r > seq) hi = mid - 1;
            else {
              sum += scores[mid] as number;
              matched = true;
              break;
            }
          }
        }
        if (matched) out.set(seq, sum);
      }
      return out;
    },

    idle() {
      // Polls: a referenced timer keeps the process alive while the unreferenced worker reads.
      return new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (posted > handled || timer !== undefined) return;
          clearInterval(poll);
          resolve();
        }, 10);
      });
    },

    close() {
      clearTimeout(timer);
      timer = undefined;
      worker?.postMessage({ kind: 'stop' });
      worker = undefined;
      workerFailed = true;
      handled = posted;
      lists = new Map();
    },
  };
}
