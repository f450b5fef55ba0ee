// Lexical search: the query becomes an FTS5 OR-query of its distinct words (stop words
// dropped), ranked by FTS5's BM25 inside the reader ACL join.
import type { Db } from '../store/index.js';
import type { SqlCondition } from './acl.js';

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
  return terms.map((t) => `"${t.replace(/"/g, '""')}"`).join(' OR ');
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

/**
 * Top `limit` readable chunks by BM25 for `match`, with the ACL condition inside the search.
 * When the principal may read most of its tenant (`readableFraction` high), the FTS index is
 * ranked alone first (fast) and over-fetched by the inverse fraction, then re-checked; if that
 * cannot fill `limit`, the search runs again with the ACL join for every match.
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
): LexicalHit[] {
  if (match === '') return [];
  if (readableSeqs !== undefined) {
    // Few readable chunks: rank only those (the IN list filters the match stream in SQLite).
    return db
      .prepare(
        `SELECT rowid AS seq, -bm25(chunks_fts, ?, ?, ?) AS score FROM chunks_fts
         WHERE chunks_fts MATCH ? AND +rowid IN (SELECT value FROM json_each(?)) ORDER BY score DESC LIMIT ?`,
      )
      .all(weights.title, weights.heading, weights.body, match, JSON.stringify(readableSeqs), limit) as LexicalHit[];
  }
  if (readableFraction >= 0.2) {
    const fetch = Math.ceil((limit / readableFraction) * 1.5) + 20;
    const top = db
      .prepare('SELECT rowid AS seq, -bm25(chunks_fts, ?, ?, ?) AS score FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY score DESC LIMIT ?')
      .all(weights.title, weights.heading, weights.body, match, fetch) as LexicalHit[];
    const ok = new Set(
      (
        db
          .prepare(
            `SELECT c.seq AS seq FROM json_each(?) j CROSS JOIN chunks c ON c.seq = j.value CROSS JOIN documents d ON d.id = c.document_id
             WHERE c.active = 1 AND ${cond.sql}`,
          )
          .all(JSON.stringify(top.map((h) => h.seq)), ...cond.params) as Array<{ seq: number }>
      ).map((r) => r.seq),
    );
    const kept = top.filter((h) => ok.has(h.seq));
    if (kept.length >= limit || top.length < fetch) return kept.slice(0, limit);
  }
  const sql = `SELECT c.seq AS seq, -bm25(chunks_fts, ?, ?, ?) AS score
    FROM chunks_fts CROSS JOIN chunks c ON c.seq = chunks_fts.rowid CROSS JOIN documents d ON d.id = c.document_id
    WHERE chunks_fts MATCH ? AND c.active = 1 AND ${cond.sql}
    ORDER BY score DESC LIMIT ?`;
  return db.prepare(sql).all(weights.title, weights.heading, weights.body, match, ...cond.params, limit) as LexicalHit[];
}

/**
 * BM25 scores of specific chunks for `match` (chunks that do not match are absent).
 */
export function lexicalScoresOf(db: Db, match: string, seqs: readonly number[], weights: ColumnWeights = DEFAULT_COLUMN_WEIGHTS): Map<number, number> {
  const out = new Map<number, number>();
  if (match === '' || seqs.length === 0) return out;
  const want = new Set(seqs);
  // `+rowid` keeps the IN list out of FTS5 (which would run one query per row): the matches
  // stream once, the list filters them, and BM25 is computed only for the rows kept.
  const rows = db
    .prepare('SELECT rowid, -bm25(chunks_fts, ?, ?, ?) FROM chunks_fts WHERE chunks_fts MATCH ? AND +rowid IN (SELECT value FROM json_each(?))')
    .raw()
    .all(weights.title, weights.heading, weights.body, match, JSON.stringify([...want])) as Array<[number, number]>;
  for (const [seq, score] of rows) out.set(seq, score);
  return out;
}
