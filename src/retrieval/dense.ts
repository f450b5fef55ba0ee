// Dense search with permissions inside: an exact scan of the readable chunks' vectors
// (kept as BLOBs in SQLite) when the principal may read few chunks, otherwise the ANN index
// (Chroma) filtered by tenant, over-fetched by the inverse selectivity and re-checked
// against SQLite, escalating to the exact scan if the index cannot fill the list. Chunks
// committed but not yet synced to the index are scanned exactly beside it while they are few.
import { statement, type Db } from '../store/index.js';
import type { SqlCondition } from './acl.js';
import { blobToVector } from './ingest.js';
import type { VectorIndexPort } from './types.js';

export interface DenseHit {
  readonly seq: number;
  readonly score: number;
}

export interface DenseOutcome {
  readonly hits: DenseHit[];
  readonly strategy: 'exact' | 'index' | 'none';
  /** Readable active chunks (the size of the allowed set). */
  readonly readable: number;
}

/** Dot product of two L2-normalized vectors (cosine). */
export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** Keeps the `k` best hits (descending score). */
function topK(hits: DenseHit[], k: number): DenseHit[] {
  hits.sort((x, y) => y.score - x.score || x.seq - y.seq);
  return hits.slice(0, k);
}

/** Readable active chunks under `cond`. */
export function countReadableChunks(db: Db, cond: SqlCondition): number {
  const row = statement(db, `SELECT coalesce(sum(d.chunk_count), 0) AS n FROM ${cond.enumFrom} WHERE ${cond.enumSql}`).get(...cond.enumParams) as { n: number };
  return row.n;
}

/** Active chunks of every tenant (what the vector index holds once synced). */
export function countAllChunks(db: Db): number {
  return (statement(db, "SELECT coalesce(sum(chunk_count), 0) AS n FROM documents WHERE status = 'active'").get() as { n: number }).n;
}

/** Active chunks of a tenant. */
export function countTenantChunks(db: Db, tenant: string): number {
  return (statement(db, "SELECT coalesce(sum(chunk_count), 0) AS n FROM documents WHERE tenant = ? AND status = 'active'").get(tenant) as { n: number }).n;
}

/**
 * Chunk vectors by row, read through an in-process cache (vectors of a chunk row never
 * change; `reindex({ reembed })` clears the cache). Chunks without a vector are absent.
 */
export class VectorCache {
  private readonly rows = new Map<number, Float32Array>();
  constructor(private readonly maxRows = 250_000) {}

  get(db: Db, seqs: readonly number[]): Map<number, Float32Array> {
    const out = new Map<number, Float32Array>();
    const missing: number[] = [];
    for (const seq of seqs) {
      const v = this.rows.get(seq);
      if (v === undefined) missing.push(seq);
      else out.set(seq, v);
    }
    if (missing.length > 0) {
      const stmt = statement(db, 'SELECT v.seq, v.vector FROM json_each(?) j CROSS JOIN chunk_vectors v ON v.seq = j.value').raw();
      for (let i = 0; i < missing.length; i += 10_000) {
        for (const [seq, blob] of stmt.all(JSON.stringify(missing.slice(i, i + 10_000))) as Array<[number, Buffer]>) {
          const v = blobToVector(blob);
          out.set(seq, v);
          if (this.rows.size >= this.maxRows) this.rows.delete(this.rows.keys().next().value as number);
          this.rows.set(seq, v);
        }
      }
    }
    return out;
  }

  clear(): void {
    this.rows.clear();
  }
}

/** The active chunks readable under `cond`, enumerated from the reader index. */
export function readableChunkSeqs(db: Db, cond: SqlCondition): number[] {
  return (
    statement(db, `SELECT c.seq FROM ${cond.enumFrom} CROSS JOIN chunks c ON c.document_id = d.id AND c.active = 1 WHERE ${cond.enumSql}`)
      .raw()
      .all(...cond.enumParams) as Array<[number]>
  ).map((r) => r[0]);
}

/** True when at most `max` active chunks wait for the vector index (reads at most `max` + 1 index entries). */
export function pendingBacklogAtMost(db: Db, max: number): boolean {
  return statement(db, 'SELECT 1 FROM chunks WHERE active <> in_vector_index AND active = 1 LIMIT 1 OFFSET ?').pluck().get(max) === undefined;
}

/**
 * Readable active chunks not yet in the vector index. Reads the partial index of pending
 * rows (`chunks_vector_pending`), so it costs an index probe when the index is in sync.
 */
export function readablePendingSeqs(db: Db, cond: SqlCondition): number[] {
  return (
    statement(db, `SELECT c.seq FROM chunks c CROSS JOIN documents d ON d.id = c.document_id WHERE c.active <> c.in_vector_index AND c.active = 1 AND ${cond.sql}`)
      .raw()
      .all(...cond.params) as Array<[number]>
  ).map((r) => r[0]);
}

export function exactDenseSearch(db: Db, cache: VectorCache, query: Float32Array, cond: SqlCondition, k: number, readable?: readonly number[]): DenseHit[] {
  const seqs = readable ?? readableChunkSeqs(db, cond);
  const hits: DenseHit[] = [];
  for (const [seq, v] of cache.get(db, seqs)) hits.push({ seq, score: dot(query, v) });
  return topK(hits, k);
}

/** Dense scores of given chunks from their stored vectors (chunks without one are absent). */
export function denseScoresOf(db: Db, cache: VectorCache, query: Float32Array, seqs: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const [seq, v] of cache.get(db, seqs)) out.set(seq, dot(query, v));
  return out;
}

/** Options of the dense search. */
export interface DenseOptions {
  readonly tenant: string;
  readonly k: number;
  /** At or below this many readable chunks, scan exactly. */
  readonly exactScanMaxChunks: number;
  /** Largest number of neighbours asked of the index before falling back to the exact scan. */
  readonly maxIndexFetch?: number;
  /** Told when the first index request has been issued (the caller can then use this thread meanwhile). */
  readonly onIndexQuery?: () => void;
  /**
   * Longest wait for one index answer, in ms; past it, or when the index fails, a readable
   * set of at most SCAN_INSTEAD_MAX_CHUNKS is scanned exactly instead (the index request is
   * left to finish on its own). Unset, or a larger set: wait as long as it takes, and a
   * failure is the search's.
   */
  readonly indexWaitMs?: number;
}

/**
 * Largest readable set scanned exactly when the index is slow to answer (or down). The scan runs on the
 * caller's thread and grows with the set: at 100k chunks during a bulk ingest, probes that
 * scanned took up to ~2 s (bench/retrieval.ts) — no better than waiting for Chroma, and the
 * scan holds every other request meanwhile. Larger sets wait for the index.
 */
export const SCAN_INSTEAD_MAX_CHUNKS = 20_000;

/**
 * An index answer, or `undefined` when it did not come within `ms` or the index failed
 * (Chroma down: its own reconnects already ran inside `request`). Without `ms`, the
 * answer or the failure as it comes.
 */
async function answerWithin<T>(request: Promise<T>, ms: number | undefined): Promise<T | undefined> {
  if (ms === undefined) return request;
  let timer: NodeJS.Timeout | undefined;
  try {
    // A late answer or a failure is no longer anyone's concern.
    return await Promise.race([request.catch(() => undefined), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, ms))))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The `k` nearest readable chunks. Recall against a brute-force scan of the readable set is
 * exact on the scan path; on the index path every hit is re-checked in SQLite and the fetch
 * grows until `k` readable hits are found (or the scan takes over).
 */
export async function denseSearch(
  db: Db,
  cache: VectorCache,
  index: VectorIndexPort,
  query: Float32Array,
  cond: SqlCondition,
  opts: DenseOptions & { readable: number; tenantTotal: number; indexTotal: number; readableSeqs?: readonly number[] },
): Promise<DenseOutcome> {
  const { readable, tenantTotal } = opts;
  if (readable === 0) return { hits: [], strategy: 'none', readable };
  if (readable <= opts.exactScanMaxChunks) return { hits: exactDenseSearch(db, cache, query, cond, opts.k, opts.readableSeqs), strategy: 'exact', readable };
  const maxFetch = opts.maxIndexFetch ?? 4000;
  // Chroma's metadata `where` pre-filters by scanning (measured: ~150 ms at 100k rows, vs ~10 ms
  // unfiltered), so the tenant filter is used only when other tenants hold much of the index;
  // otherwise the query over-fetches by the inverse share and SQLite re-checks every hit.
  const useWhere = opts.indexTotal > 0 && tenantTotal / opts.indexTotal < 0.5;
  const pool = useWhere ? tenantTotal : Math.max(tenantTotal, opts.indexTotal);
  const needed = Math.ceil(opts.k * Math.max(1, pool / readable) * 1.3) + 10;
  // Too selective for the index to find k readable hits cheaply: scan the allowed set exactly.
  if (needed > maxFetch) return { hits: exactDenseSearch(db, cache, query, cond, opts.k), strategy: 'exact', readable };
  // Chunks committed but not yet in the index (the vector sync runs behind ingest, or the
  // index is down) are scanned exactly and merged, so a chunk is densely searchable from the
  // moment its ingest commits — while the backlog is at most `exactScanMaxChunks`. A larger
  // backlog (a bulk ingest Chroma is still indexing) would make every broad query scan it
  // with the ACL join (~3 µs a chunk); then the index answers alone until it catches up, and
  // lexical search still sees every chunk.
  const pending = pendingBacklogAtMost(db, opts.exactScanMaxChunks) ? readablePendingSeqs(db, cond) : [];
  const pendingHits: DenseHit[] = [];
  if (pending.length > 0) for (const [seq, v] of cache.get(db, pending)) pendingHits.push({ seq, score: dot(query, v) });
  const wantIndexed = Math.min(opts.k, readable - pending.length);
  if (wantIndexed <= 0) return { hits: topK(pendingHits, opts.k), strategy: 'exact', readable };
  const merged = (indexHits: DenseHit[]): DenseHit[] => {
    if (pendingHits.length === 0) return topK(indexHits, opts.k);
    // A chunk synced after `pending` was read can come from both: keep one hit per chunk.
    const seen = new Set(pendingHits.map((h) => h.seq));
    return topK([...pendingHits, ...indexHits.filter((h) => !seen.has(h.seq))], opts.k);
  };
  let fetch = needed;
  const check = statement(db,
    `SELECT c.id AS id, c.seq AS seq FROM json_each(?) j CROSS JOIN chunks c ON c.id = j.value CROSS JOIN documents d ON d.id = c.document_id
     WHERE c.active = 1 AND ${cond.sql}`,
  );
  for (;;) {
    const request = index.query({ vector: query, k: fetch, withMetadata: false, ...(useWhere ? { where: { tenant: opts.tenant } } : {}) });
    opts.onIndexQuery?.();
    // Chroma answers a query only after the upsert batch it is indexing (seconds, during a bulk
    // ingest), and not at all while it is down: then a small enough readable set is scanned
    // exactly — the same ranking, bounded cost.
    const found = await answerWithin(request, readable <= SCAN_INSTEAD_MAX_CHUNKS ? opts.indexWaitMs : undefined);
    if (found === undefined) return { hits: exactDenseSearch(db, cache, query, cond, opts.k), strategy: 'exact', readable };
    // INVARIANT: index hits are only candidates; SQLite decides what is readable and active.
    const ok = new Map<string, number>();
    for (const r of check.all(JSON.stringify(found.map((f) => f.id)), ...cond.params) as Array<{ id: string; seq: number }>) ok.set(r.id, r.seq);
    const hits: DenseHit[] = [];
    for (const f of found) {
      const seq = ok.get(f.id);
      if (seq !== undefined) hits.push({ seq, score: f.score });
    }
    if (hits.length >= wantIndexed) return { hits: merged(hits), strategy: 'index', readable };
    if (found.length < fetch || fetch >= maxFetch) break;
    fetch = Math.min(maxFetch, fetch * 4);
  }
  return { hits: exactDenseSearch(db, cache, query, cond, opts.k), strategy: 'exact', readable };
}
