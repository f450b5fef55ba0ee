// Retrieval quality metrics (nDCG@k, Recall@k, MRR@k) and loaders for test collections in the
// shared eval format (corpus.jsonl, queries.jsonl, qrels.tsv), computed as trec_eval and BEIR do.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One document of a test collection. */
export interface EvalDocument {
  readonly id: string;
  readonly title: string;
  readonly text: string;
}

/** One query of a test collection. */
export interface EvalQuery {
  readonly id: string;
  readonly text: string;
}

/** Relevance judgments: query id → (document id → graded score; > 0 means relevant). */
export type Qrels = Map<string, Map<string, number>>;

/** A loaded test collection. */
export interface EvalCollection {
  readonly name: string;
  readonly corpus: EvalDocument[];
  readonly queries: EvalQuery[];
  readonly qrels: Qrels;
}

/** Averaged metrics of a run. */
export interface EvalScores {
  readonly ndcg: number;
  readonly recall: number;
  readonly mrr: number;
  /** Queries averaged over: those with at least one relevant document. */
  readonly queries: number;
}

function readJsonl(path: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    out.push(JSON.parse(line) as Record<string, unknown>);
  }
  return out;
}

/** Reads `corpus.jsonl` (`{_id, title, text}` per line; extra fields are ignored). */
export function loadCorpus(path: string): EvalDocument[] {
  return readJsonl(path).map((r) => ({ id: String(r._id), title: String(r.title ?? ''), text: String(r.text ?? '') }));
}

/** Reads `queries.jsonl` (`{_id, text}` per line). */
export function loadQueries(path: string): EvalQuery[] {
  return readJsonl(path).map((r) => ({ id: String(r._id), text: String(r.text ?? '') }));
}

/** Reads `qrels.tsv` (header `query-id corpus-id score`, tab separated). */
export function loadQrels(path: string): Qrels {
  const qrels: Qrels = new Map();
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const [qid, did, score] = line.split('\t');
    if (i === 0 && qid === 'query-id') continue;
    if (qid === undefined || did === undefined || score === undefined) continue;
    let judged = qrels.get(qid);
    if (judged === undefined) qrels.set(qid, (judged = new Map()));
    judged.set(did, Number(score));
  }
  return qrels;
}

/**
 * Loads a collection folder. `split: 'train'` reads `queries-train.jsonl` / `qrels-train.tsv`
 * (for tuning only; never report them).
 *
 * @example
 * const scifact = loadCollection('../shared/eval/scifact');
 */
export function loadCollection(dir: string, split: 'test' | 'train' = 'test'): EvalCollection {
  const suffix = split === 'train' ? '-train' : '';
  return {
    name: dir.replace(/\/+$/, '').split('/').pop() ?? dir,
    corpus: loadCorpus(join(dir, 'corpus.jsonl')),
    queries: loadQueries(join(dir, `queries${suffix}.jsonl`)),
    qrels: loadQrels(join(dir, `qrels${suffix}.tsv`)),
  };
}

/** The text indexed for a document: `title + " " + text`. */
export function documentText(doc: EvalDocument): string {
  return `${doc.title} ${doc.text}`;
}

/** Number of relevant (score > 0) documents in a judgment set. */
export function countRelevant(judged: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const s of judged.values()) if (s > 0) n++;
  return n;
}

/** nDCG@k with gain 2^score − 1 and discount log2(rank + 1); 0 when nothing is relevant. */
export function ndcgAt(ranked: readonly string[], judged: ReadonlyMap<string, number>, k: number): number {
  let dcg = 0;
  const seen = new Set<string>();
  for (let i = 0; i < Math.min(k, ranked.length); i++) {
    const id = ranked[i]!;
    if (seen.has(id)) continue;
    seen.add(id);
    const s = judged.get(id) ?? 0;
    if (s > 0) dcg += (2 ** s - 1) / Math.log2(i + 2);
  }
  const ideal = [...judged.values()].filter((s) => s > 0).sort((a, b) => b - a);
  let idcg = 0;
  for (let i = 0; i < Math.min(k, ideal.length); i++) idcg += (2 ** ideal[i]! - 1) / Math.log2(i + 2);
  return idcg === 0 ? 0 : dcg / idcg;
}

/** Fraction of the relevant documents found in the top k; 0 when nothing is relevant. */
export function recallAt(ranked: readonly string[], judged: ReadonlyMap<string, number>, k: number): number {
  const total = countRelevant(judged);
  if (total === 0) return 0;
  const top = new Set(ranked.slice(0, k));
  let found = 0;
  for (const id of top) if ((judged.get(id) ?? 0) > 0) found++;
  return found / total;
}

/** Reciprocal rank of the first relevant document within the top k, else 0. */
export function mrrAt(ranked: readonly string[], judged: ReadonlyMap<string, number>, k: number): number {
  for (let i = 0; i < Math.min(k, ranked.length); i++) {
    if ((judged.get(ranked[i]!) ?? 0) > 0) return 1 / (i + 1);
  }
  return 0;
}

/**
 * Averages nDCG@k, Recall@k and MRR@k over the queries with at least one relevant document.
 * A query missing from `run` counts as an empty ranking (scores 0).
 */
export function evaluateRun(run: ReadonlyMap<string, readonly string[]>, qrels: Qrels, k = 10): EvalScores {
  let ndcg = 0;
  let recall = 0;
  let mrr = 0;
  let n = 0;
  for (const [qid, judged] of qrels) {
    if (countRelevant(judged) === 0) continue;
    const ranked = run.get(qid) ?? [];
    ndcg += ndcgAt(ranked, judged, k);
    recall += recallAt(ranked, judged, k);
    mrr += mrrAt(ranked, judged, k);
    n++;
  }
  return n === 0 ? { ndcg: 0, recall: 0, mrr: 0, queries: 0 } : { ndcg: ndcg / n, recall: recall / n, mrr: mrr / n, queries: n };
}

/**
 * Brute-force top-k by dot product of L2-normalized rows (cosine). Ties keep document order.
 * Zero rows score 0.
 */
export function topKByCosine(query: Float32Array, docs: readonly Float32Array[], k: number): number[] {
  const idx: number[] = [];
  const scores: number[] = [];
  for (let d = 0; d < docs.length; d++) {
    const row = docs[d]!;
    let s = 0;
    for (let i = 0; i < row.length; i++) s += row[i]! * query[i]!;
    if (idx.length < k || s > scores[idx.length - 1]!) {
      let pos = Math.min(idx.length, k - 1);
      if (idx.length < k) {
        idx.push(d);
        scores.push(s);
        pos = idx.length - 1;
      }
      while (pos > 0 && scores[pos - 1]! < s) {
        idx[pos] = idx[pos - 1]!;
        scores[pos] = scores[pos - 1]!;
        pos--;
      }
      idx[pos] = d;
      scores[pos] = s;
    }
  }
  return idx;
}
