// Lexical search: the query becomes an FTS5 OR-query of its distinct words (stop words
// dropped), ranked by FTS5's BM25 inside the reader ACL join.
import { statement, type Db } from '../store/index.js';
import type { SqlCondition } from './acl.js';
import { phraseOf } from './fts-words.mjs';
import type { QueryLists, TermLists } from './term-lists.js';

// A short English stop-word list: these words match most chunks, add cost and carry no signal.
const STOP_WORDS = new Set(
  (
    'a an and are as at be been but by can could did do does for from had has have how i if in into is it its ' +
    'may might no not of on or our should so such than that the their them then there these they this those ' +
    'to was we were what when where which while who whom why will with would you your'
  ).split(' '),
);

/** The distinct words of a query (lowercased, stop words dropped), at most `max`. */
export function queryTerms(query: string, max = 64): string[] {
  const words = query.toLowerCase().normalize('NFKC').match(/[\p{L}\p{N}]+/gu) ?? [];
  const out: string[] = [];
  const seen = new Set<string>();
  for (const w of words) {
    if (STOP_WORDS.has(w) || seen.has(w)) continue;
    seen.add(w);
    out.push(w);
    if (out.length >= max) break;
  }
  return out;
}

/** An FTS5 MATCH expression: every term quoted (so no FTS syntax gets through), joined by OR. */
export function ftsQueryOf(terms: readonly string[]): string {
  return terms.map(phraseOf).join(' OR ');
}

/** BM25 weights of the FTS columns (title, heading, body). */
export interface ColumnWeights {
  readonly title: number;
  readonly heading: number;
  readonly body: number;
}

export const DEFAULT_COLUMN_WEIGHTS: ColumnWeights = Object.freeze({ title: 0.5, heading: 0.5, body: 1 });

/** One lexical hit: the chunk's row and its BM25 score (higher is better). */
export interface LexicalHit {
  readonly seq: number;
  readonly score: number;
}

/** Document frequencies of query terms and the FTS row count, valid for one store generation. */
export interface TermStats {
  readonly generation: number;
  /** Rows in `chunks_fts` (active chunks of every tenant): BM25's N. */
  readonly rows: number;
  readonly df: Map<string, number>;
}

const statsCache = new WeakMap<Db, TermStats>();

/** The term statistics of `db` for `generation` (a new generation starts an empty cache). */
export function termStatsOf(db: Db, generation: number, rows: number): TermStats {
  let s = statsCache.get(db);
  if (s === undefined || s.generation !== generation || s.rows !== rows) statsCache.set(db, (s = { generation, rows, df: new Map() }));
  return s;
}

/** Rows of the FTS index matching `term` (cached for the statistics' generation). */
export function dfOf(db: Db, stats: TermStats, term: string): number {
  let n = stats.df.get(term);
  if (n === undefined) {
    n = statement(db, 'SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?').pluck().get(ftsQueryOf([term])) as number;
    if (stats.df.size > 50_000) stats.df.clear();
    stats.df.set(term, n);
  }
  return n;
}

/** FTS5's BM25 constants (fts5_aux.c) and the most one phrase can add to a row's score. */
const BM25_K1 = 1.2;
function maxContribution(rows: number, df: number): number {
  const idf = Math.log((rows - df + 0.5) / (df + 0.5));
  return (idf <= 0 ? 1e-6 : idf) * (BM25_K1 + 1);
}

/** Terms are left out of the first pass ("non-essential") when they match more than this share of rows. */
const COMMON_TERM_SHARE = 0.05;
/** The essential set is widened only by terms matching at most this share of rows (else: plain query). */
const WIDEN_MAX_SHARE = 0.15;
/** Switch for measurements (bench/retrieval.ts compares both); pruning never changes results. */
export const lexicalPruning = { enabled: true };

/** A restricted ranking tries pruning only over at least this many allowed rows. */
const PRUNE_MIN_RESTRICTED = 1_000;
/** Below this many FTS rows the plain query is cheap enough; pruning is not tried. */
export const PRUNE_MIN_ROWS = 20_000;

/**
 * Exact top `limit` by BM25 without scoring every row that matches a common term
 * (MaxScore): FTS5's BM25 is a sum of per-phrase terms, each below `idf · (k1 + 1)`. The
 * rare ("essential") terms are ranked first, their top rows get the common terms' scores
 * added, and the result is returned only when no other row can reach the `limit`-th score
 * (its bound is its essential score plus every common term's maximum). Returns null when
 * pruning does not apply or cannot prove the result exact: the caller runs the plain query.
 */
export function prunedTopK(
  db: Db,
  terms: readonly string[],
  limit: number,
  weights: ColumnWeights,
  stats: TermStats,
  restrictJson?: string,
  minRows = PRUNE_MIN_ROWS,
): LexicalHit[] | null {
  if (!lexicalPruning.enabled || terms.length < 2 || stats.rows < minRows || limit <= 0) return null;
  const withDf = terms.map((t) => ({ t, df: dfOf(db, stats, t) })).sort((a, b) => a.df - b.df);
  let cut = withDf.length;
  while (cut > 1 && (withDf[cut - 1] as { df: number }).df > stats.rows * COMMON_TERM_SHARE) cut--;
  const restrict = restrictJson === undefined ? '' : ' AND +rowid IN (SELECT value FROM json_each(?))';
  const firstStmt = statement(db, `SELECT rowid AS seq, -bm25(chunks_fts, ?, ?, ?) AS score FROM chunks_fts WHERE chunks_fts MATCH ?${restrict} ORDER BY score DESC`);
  // Widen the essential set one term at a time (while it stays cheap) until the bound holds.
  for (; cut < withDf.length; cut++) {
    if (cut > 1 && (withDf[cut - 1] as { df: number }).df > stats.rows * WIDEN_MAX_SHARE) return null;
    const essential = withDf.slice(0, cut).map((x) => x.t);
    const common = withDf.slice(cut).map((x) => x.t);
    // 5 % head-room on the bound covers any drift between these counts and FTS5's own.
    const commonMax = withDf.slice(cut).reduce((sum, x) => sum + maxContribution(stats.rows, x.df), 0) * 1.05;
    // Every row matching a rare term, with its essential score (rare terms: few rows).
    const first = firstStmt.all(weights.title, weights.heading, weights.body, ftsQueryOf(essential), ...(restrictJson === undefined ? [] : [restrictJson])) as LexicalHit[];
    if (first.length < limit) continue;
    // The `limit`-th essential score is a floor of the `limit`-th full score: rows whose essential
    // score plus every common term's maximum stays below it can never enter the top `limit`.
    const floor = (first[limit - 1] as LexicalHit).score;
    if (!(floor > commonMax)) continue;
    const cands = first.filter((h) => h.score + commonMax >= floor);
    const extra = lexicalScoresOf(db, ftsQueryOf(common), cands.map((h) => h.seq), weights);
    const full = cands.map((h) => ({ seq: h.seq, score: h.score + (extra.get(h.seq) ?? 0) })).sort((x, y) => y.score - x.score || x.seq - y.seq);
    // Rows matching only common terms score at most `commonMax` < floor ≤ the `limit`-th full score.
    return full.slice(0, limit);
  }
  return null;
}

/** What a lexical search may use beyond FTS5: the query's words, their statistics and score lists. */
export interface LexicalAids {
  readonly terms: readonly string[];
  readonly stats: TermStats;
  readonly lists?: TermLists;
}

/** The score lists of the query's words, when `aids` has lists and they are all there. */
function queryListsOf(db: Db, aids: LexicalAids | undefined, weights: ColumnWeights): { lists: TermLists; q: QueryLists } | null {
  if (aids?.lists === undefined) return null;
  const q = aids.lists.listsFor(db, aids.terms, weights, (t) => dfOf(db, aids.stats, t), aids.stats.rows);
  return q === null ? null : { lists: aids.lists, q };
}

/** A ranking from score lists fetches at most this many rows before it checks readers (beyond: the ACL join). */
const LISTS_MAX_FETCH = 16_384;

/**
 * Top `limit` readable chunks by BM25 for `match`, with the ACL condition inside the search.
 * With score lists for every word (`aids.lists`), the whole index is ranked from them and
 * the best rows are checked against the ACL, widening until `limit` are readable. Otherwise,
 * when the principal may read most of its tenant (`readableFraction` high), the FTS index is
 * ranked alone first (fast) and over-fetched by the inverse fraction, then re-checked; if that
 * cannot fill `limit`, the search runs again with the ACL join for every match. Those FTS-only
 * rankings try `prunedTopK` first (same result, fewer rows scored).
 */
export function lexicalSearch(
  db: Db,
  match: string,
  cond: SqlCondition,
  limit: number,
  weights: ColumnWeights = DEFAULT_COLUMN_WEIGHTS,
  readableFraction = 0,
  /** When given (a small readable set, already ACL-filtered), only these chunks are ranked. */
  readableSeqs?: readonly number[],
  aids?: LexicalAids,
  /**
   * With `readableSeqs`: filled with the score of *every* readable chunk that matches (one pass),
   * so the caller needs no second FTS pass for other readable candidates (absent = no match).
   */
  allReadableScores?: Map<number, number>,
): LexicalHit[] {
  if (match === '') return [];
  const fromLists = queryListsOf(db, aids, weights);
  if (readableSeqs !== undefined && fromLists !== null) {
    // Score lists give every readable chunk's score directly (no pass over the matches).
    const scores = fromLists.lists.scoresOf(fromLists.q, readableSeqs);
    allReadableScores?.clear();
    for (const [seq, score] of scores) allReadableScores?.set(seq, score);
    return [...scores].map(([seq, score]) => ({ seq, score })).sort((a, b) => b.score - a.score || a.seq - b.seq).slice(0, limit);
  }
  if (readableSeqs !== undefined && allReadableScores !== undefined) {
    const all = statement(db,
        `SELECT rowid AS seq, -bm25(chunks_fts, ?, ?, ?) AS score FROM chunks_fts
         WHERE chunks_fts MATCH ? AND +rowid IN (SELECT value FROM json_each(?)) ORDER BY score DESC`,
      )
      .all(weights.title, weights.heading, weights.body, match, JSON.stringify(readableSeqs)) as LexicalHit[];
    for (const h of all) allReadableScores.set(h.seq, h.score);
    return all.slice(0, limit);
  }
  if (readableSeqs !== undefined) {
    // Few readable chunks: rank only those (the IN list filters the match stream in SQLite).
    const restrict = JSON.stringify(readableSeqs);
    // Pruning pays only when the allowed set is large; for a few rows the IN filter is the cost.
    const pruned = aids && readableSeqs.length >= PRUNE_MIN_RESTRICTED ? prunedTopK(db, aids.terms, limit, weights, aids.stats, restrict) : null;
    if (pruned !== null) return pruned;
    return statement(db,
        `SELECT rowid AS seq, -bm25(chunks_fts, ?, ?, ?) AS score FROM chunks_fts
         WHERE chunks_fts MATCH ? AND +rowid IN (SELECT value FROM json_each(?)) ORDER BY score DESC LIMIT ?`,
      )
      .all(weights.title, weights.heading, weights.body, match, restrict, limit) as LexicalHit[];
  }
  const readable = (top: readonly LexicalHit[]): LexicalHit[] => {
    const ok = new Set(
      (
        statement(db,
            `SELECT c.seq AS seq FROM json_each(?) j CROSS JOIN chunks c ON c.seq = j.value CROSS JOIN documents d ON d.id = c.document_id
             WHERE c.active = 1 AND ${cond.sql}`,
          )
          .all(JSON.stringify(top.map((h) => h.seq)), ...cond.params) as Array<{ seq: number }>
      ).map((r) => r.seq),
    );
    return top.filter((h) => ok.has(h.seq));
  };
  const overFetch = (fraction: number): number => Math.ceil((limit / fraction) * 1.5) + 20;
  if (fromLists !== null) {
    for (let fetch = overFetch(Math.max(readableFraction, 0.01)); fetch <= LISTS_MAX_FETCH; fetch *= 4) {
      const top = fromLists.lists.topK(fromLists.q, fetch);
      const kept = readable(top);
      if (kept.length >= limit || top.length < fetch) return kept.slice(0, limit);
    }
  } else if (readableFraction >= 0.2) {
    const fetch = overFetch(readableFraction);
    const top =
      (aids ? prunedTopK(db, aids.terms, fetch, weights, aids.stats) : null) ??
      (statement(db, 'SELECT rowid AS seq, -bm25(chunks_fts, ?, ?, ?) AS score FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY score DESC LIMIT ?')
        .all(weights.title, weights.heading, weights.body, match, fetch) as LexicalHit[]);
    const kept = readable(top);
    if (kept.length >= limit || top.length < fetch) return kept.slice(0, limit);
  }
  const sql = `SELECT c.seq AS seq, -bm25(chunks_fts, ?, ?, ?) AS score
    FROM chunks_fts CROSS JOIN chunks c ON c.seq = chunks_fts.rowid CROSS JOIN documents d ON d.id = c.document_id
    WHERE chunks_fts MATCH ? AND c.active = 1 AND ${cond.sql}
    ORDER BY score DESC LIMIT ?`;
  return statement(db, sql).all(weights.title, weights.heading, weights.body, match, ...cond.params, limit) as LexicalHit[];
}

/**
 * BM25 scores of specific chunks for `match` (chunks that do not match are absent); from
 * score lists when `aids` has them for every word.
 */
export function lexicalScoresOf(db: Db, match: string, seqs: readonly number[], weights: ColumnWeights = DEFAULT_COLUMN_WEIGHTS, aids?: LexicalAids): Map<number, number> {
  const out = new Map<number, number>();
  if (match === '' || seqs.length === 0) return out;
  const fromLists = queryListsOf(db, aids, weights);
  if (fromLists !== null) return fromLists.lists.scoresOf(fromLists.q, seqs);
  const want = new Set(seqs);
  // `+rowid` keeps the IN list out of FTS5 (which would run one query per row): the matches
  // stream once, the list filters them, and BM25 is computed only for the rows kept.
  const rows = statement(db, 'SELECT rowid, -bm25(chunks_fts, ?, ?, ?) FROM chunks_fts WHERE chunks_fts MATCH ? AND +rowid IN (SELECT value FROM json_each(?))')
    .raw()
    .all(weights.title, weights.heading, weights.body, match, JSON.stringify([...want])) as Array<[number, number]>;
  for (const [seq, score] of rows) out.set(seq, score);
  return out;
}
