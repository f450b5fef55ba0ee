// Hybrid retrieval: lexical (FTS5 BM25) and dense (vectors) searches, both inside the
// reader ACL, fused by a convex combination of normalized scores, re-checked against
// SQLite, cut to the budget, sealed into a ContextBundle and stored before returning.
import { statement, type Db } from '../store/index.js';
import { searchableGeneration } from './generation.js';
import { newId, nowIso, parseInput, WritError, type JsonValue, type Principal } from '../core/index.js';
import { isZeroVector } from './embedder-types.js';
import { readableDocumentCondition, readerKeysOf, type SqlCondition } from './acl.js';
import { prepareBundle, writeBundle, type ContextBundle } from './bundles.js';
import { chunkContents } from './chunk-content.js';
import { countAllChunks, countReadableChunks, countTenantChunks, readableChunkSeqs, denseScoresOf, denseSearch, dot } from './dense.js';
import { RetrievalErrors } from './errors.js';
import type { RetrievalContext } from './ingest.js';
import { ftsQueryOf, lexicalScoresOf, lexicalSearch, queryTerms, termStatsOf, type ColumnWeights, type LexicalAids } from './lexical.js';
import type { RateLimiter } from './rate-limit.js';
import { RetrievalQuerySchema, type RetrievalQuery, type RetrievalResult, type RetrievedChunk } from './types.js';

/** Limits and tuning of search (from config `retrieval`). */
export interface SearchSettings {
  readonly maxK: number;
  readonly maxChars: number;
  readonly maxQueryChars: number;
  readonly timeoutMs: number;
  readonly maxTimeoutMs: number;
  readonly denseWeight: number;
  readonly exactScanMaxChunks: number;
  readonly columnWeights: ColumnWeights;
  /** Candidates taken from each input before fusion: max(k × factor, floor). */
  readonly candidateFactor: number;
  readonly candidateFloor: number;
  /** Pseudo-relevance feedback for the dense query: weight of the top lexical chunks' centroid (0 = off). */
  readonly prfWeight: number;
  readonly prfDocs: number;
  /**
   * Longest wait for one answer of the vector index before dense search scans the readable
   * set exactly, when that set is at most 20,000 chunks (dense.ts: SCAN_INSTEAD_MAX_CHUNKS;
   * at most half the time left is spent waiting). Chroma answers in ~10 ms at
   * 100k chunks when idle, but only after the upsert batch it is indexing: up to ~2 s for a
   * bulk ingest's first batch (bench/retrieval.ts, "queries while ingesting"), which used to
   * time whole retrievals out.
   */
  readonly indexWaitMs: number;
}

export const DEFAULT_SEARCH_TUNING = Object.freeze({
  columnWeights: Object.freeze({ title: 0.5, heading: 0.5, body: 1 }),
  candidateFactor: 4,
  candidateFloor: 40,
  prfWeight: 0,
  prfDocs: 3,
  indexWaitMs: 300,
});

function timeoutError(ms: number): WritError {
  return new WritError(RetrievalErrors.RETRIEVAL_TIMEOUT, `retrieval exceeded its time limit of ${ms} ms`, { details: { timeoutMs: ms } });
}

/** Races `p` against the deadline. */
async function beforeDeadline<T>(p: Promise<T>, deadline: number, ms: number): Promise<T> {
  const left = deadline - Date.now();
  if (left <= 0) throw timeoutError(ms);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(timeoutError(ms)), left)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Switch for measurements and tests: skip the exact lexical scoring of dense-only candidates
 * that cannot reach the top k (it never changes results or shown scores).
 */
export const hybridLexicalBound = { enabled: true };

interface Candidate {
  seq: number;
  lexical: number | null;
  dense: number | null;
  lexicalRank: number | null;
  denseRank: number | null;
  fused: number;
}

/** What a caller of `retrieve` may add to the transaction that stores the bundle. */
export interface RetrieveOptions {
  /**
   * Runs in the transaction that stores the bundle, just before it is written, with the
   * characters of context returned (the app charges the session's budgets here). A throw
   * fails the retrieval and undoes its writes: no bundle is stored, nothing is charged. It
   * may run twice (the commit group re-runs a group in which a job threw), so it must only
   * write to the database.
   */
  readonly alongsideBundle?: (db: Db, returned: { readonly contextChars: number }) => void;
}

/**
 * One retrieval for `principal`. Throws a typed error when a bound is exceeded; never
 * returns a chunk the principal may not read.
 */
export async function retrieve(
  ctx: RetrievalContext,
  settings: SearchSettings,
  limiter: RateLimiter,
  principal: Principal,
  input: RetrievalQuery,
  options: RetrieveOptions = {},
): Promise<RetrievalResult> {
  const started = Date.now();
  const req = parseInput(RetrievalQuerySchema, input, 'retrieval');
  // Bounds (guarantee 4): each is a typed error, checked before any work.
  if (req.k > settings.maxK) {
    throw new WritError(RetrievalErrors.RETRIEVAL_K_TOO_LARGE, `k \`${req.k}\` exceeds the maximum of ${settings.maxK}`, { details: { k: req.k, maxK: settings.maxK } });
  }
  const maxChars = req.budget?.maxChars ?? settings.maxChars;
  if (maxChars > settings.maxChars) {
    throw new WritError(RetrievalErrors.RETRIEVAL_BUDGET_TOO_LARGE, `budget of \`${maxChars}\` characters exceeds the maximum of ${settings.maxChars}`, {
      details: { maxChars, limit: settings.maxChars },
    });
  }
  if (req.query.length > settings.maxQueryChars) {
    throw new WritError(RetrievalErrors.RETRIEVAL_QUERY_TOO_LONG, `query of ${req.query.length} characters exceeds the maximum of ${settings.maxQueryChars}`, {
      details: { length: req.query.length, limit: settings.maxQueryChars },
    });
  }
  const timeoutMs = req.timeoutMs ?? Math.min(settings.timeoutMs, settings.maxTimeoutMs);
  if (timeoutMs > settings.maxTimeoutMs) {
    // A request asking too much is bad input (400), not a search that ran out of time (504, retried).
    throw new WritError(RetrievalErrors.RETRIEVAL_TIMEOUT_TOO_LARGE, `time limit \`${timeoutMs}\` ms exceeds the maximum of ${settings.maxTimeoutMs} ms`, {
      details: { timeoutMs, limit: settings.maxTimeoutMs },
    });
  }
  const wait = limiter.take(`${principal.tenant}\u0000${principal.id}`);
  if (wait > 0) {
    throw new WritError(RetrievalErrors.RETRIEVAL_RATE_LIMITED, `principal \`${principal.id}\` exceeded its retrieval rate limit`, {
      details: { principalId: principal.id, retryAfterMs: wait },
    });
  }
  const deadline = started + timeoutMs;
  const db = ctx.store.db;
  const k = req.k;
  const cond = readableDocumentCondition(principal.tenant, readerKeysOf(principal), req.filters);
  const nCand = Math.max(k * settings.candidateFactor, settings.candidateFloor);
  const useLexical = req.mode !== 'dense';
  const useDense = req.mode !== 'lexical';

  // Selectivity decides the strategy of both searches; cached until the next write.
  const generation = searchableGeneration(db);
  const sizes = selectivity(ctx, generation, principal.tenant, cond);
  // A small readable set is enumerated once (per store generation) and both searches rank only it.
  const readableSeqs = sizes.readable <= settings.exactScanMaxChunks ? readableSetOf(ctx, sizes, cond) : undefined;
  const terms = queryTerms(req.query);
  const match = ftsQueryOf(terms);

  // The dense search starts first: while its Chroma request is in flight (another process),
  // this thread runs the lexical search. (With PRF the dense query needs the lexical hits, so
  // it waits for them.)
  let indexQueried: (() => void) | undefined;
  const runDense = async (lexFeedback: readonly { seq: number }[]): Promise<{ qvec?: Float32Array; hits: Array<{ seq: number; score: number }>; strategy: RetrievalResult['denseStrategy'] }> => {
    const [row] = await beforeDeadline(ctx.embedder.embed([req.query]), deadline, timeoutMs);
    // Never query with a zero (or NaN) vector: it carries no signal and poisons scores.
    if (row === undefined || isZeroVector(row) || !row.every((x) => Number.isFinite(x))) return { hits: [], strategy: 'none' };
    let q = row;
    if (settings.prfWeight > 0 && lexFeedback.length > 0) q = feedbackQuery(ctx, row, lexFeedback.slice(0, settings.prfDocs).map((h) => h.seq), settings.prfWeight);
    const out = await beforeDeadline(
      denseSearch(db, ctx.vectorCache, ctx.vectorIndex, q, cond, {
        tenant: principal.tenant,
        k: nCand,
        exactScanMaxChunks: settings.exactScanMaxChunks,
        indexWaitMs: Math.min(settings.indexWaitMs, Math.max(0, (deadline - Date.now()) / 2)),
        ...sizes,
        ...(readableSeqs ? { readableSeqs } : {}),
        onIndexQuery: () => {
          ctx.lastIndexQueryAt = Date.now();
          indexQueried?.();
        },
      }),
      deadline,
      timeoutMs,
    );
    return { qvec: q, hits: out.hits, strategy: out.strategy };
  };
  const overlap = useDense && useLexical && !(settings.prfWeight > 0) && readableSeqs === undefined;
  const queried = overlap ? new Promise<void>((resolve) => (indexQueried = resolve)) : undefined;
  const early = useDense && !(settings.prfWeight > 0) ? runDense([]) : undefined;
  // Awaited below; until then a rejection must not count as unhandled.
  early?.catch(() => undefined);
  if (queried !== undefined && early !== undefined) {
    // The query embedding resolves on a later turn, and the HTTP request is written to the
    // socket on the turn after `fetch` is called: wait for both, or the lexical search below
    // would hold this thread while the request is still here, and the two would run in turn
    // (measured: hybrid p50 = lexical + dense before this wait).
    await Promise.race([queried, early.then(() => undefined, () => undefined)]);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  // Term document frequencies let the lexical search skip scoring rows that only match common
  // terms; score lists (when read) let it rank without FTS5 scoring rows at all.
  const aids: LexicalAids | undefined = useLexical ? { terms, stats: termStatsOf(db, generation, sizes.indexTotal), lists: ctx.termLists } : undefined;
  // A small readable set in hybrid mode: one FTS pass scores every readable match, which also
  // gives the lexical score of every dense candidate (they come from the same readable set).
  const readableScores = readableSeqs !== undefined && req.mode === 'hybrid' ? new Map<number, number>() : undefined;
  const lexHits = useLexical
    ? lexicalSearch(db, match, cond, nCand, settings.columnWeights, sizes.tenantTotal > 0 ? sizes.readable / sizes.tenantTotal : 0, readableSeqs, aids, readableScores)
    : [];
  if (Date.now() > deadline) throw timeoutError(timeoutMs);

  let denseStrategy: RetrievalResult['denseStrategy'] = 'none';
  let denseHits: Array<{ seq: number; score: number }> = [];
  let qvec: Float32Array | undefined;
  if (useDense) {
    const out = await (early ?? runDense(lexHits));
    qvec = out.qvec;
    denseHits = out.hits;
    denseStrategy = out.strategy;
  }

  // Union of both inputs; each candidate gets both scores (missing ones computed exactly).
  const cands = new Map<number, Candidate>();
  const get = (seq: number): Candidate => {
    let c = cands.get(seq);
    if (c === undefined) cands.set(seq, (c = { seq, lexical: null, dense: null, lexicalRank: null, denseRank: null, fused: 0 }));
    return c;
  };
  lexHits.forEach((h, i) => Object.assign(get(h.seq), { lexical: h.score, lexicalRank: i + 1 }));
  denseHits.forEach((h, i) => Object.assign(get(h.seq), { dense: h.score, denseRank: i + 1 }));
  // Dense-only candidates whose lexical score is not known yet (hybrid; see below).
  let unknownLexical: Candidate[] = [];
  if (req.mode === 'hybrid') {
    const needDense = [...cands.values()].filter((c) => c.dense === null).map((c) => c.seq);
    if (qvec !== undefined && needDense.length > 0) for (const [seq, s] of denseScoresOf(db, ctx.vectorCache, qvec, needDense)) get(seq).dense = s;
    const needLex = [...cands.values()].filter((c) => c.lexical === null);
    const readableSet = readableScores !== undefined && match !== '' ? new Set(readableSeqs) : undefined;
    if (readableSet !== undefined && needLex.every((c) => readableSet.has(c.seq))) {
      for (const c of needLex) c.lexical = readableScores!.get(c.seq) ?? 0;
    } else if (!hybridLexicalBound.enabled) {
      const scores = lexicalScoresOf(db, match, needLex.map((c) => c.seq), settings.columnWeights, aids);
      for (const c of needLex) c.lexical = scores.get(c.seq) ?? 0;
    } else if (lexHits.length < nCand) {
      // The lexical ranking is the exact top of the readable matches, and it came back short:
      // every readable chunk that matches is in it, so the dense-only candidates do not match.
      for (const c of needLex) c.lexical = 0;
    } else {
      // Their exact scores cost a second pass over every match of the query's terms. A
      // dense-only candidate scores at most the last lexical hit's score, so only those that
      // could still reach the top k with it need that pass; the rest keep 0 as a lower bound
      // (resolved below if one of them is ever returned). Same results, same shown scores.
      for (const c of needLex) c.lexical = 0;
      unknownLexical = needLex;
      fuse([...cands.values()], 'hybrid', settings.denseWeight);
      const kth = [...cands.values()].map((c) => c.fused).sort((a, b) => b - a)[k - 1] ?? -Infinity;
      const maxL = (lexHits[0] as { score: number }).score;
      const ceiling = maxL > 0 ? ((1 - settings.denseWeight) * (lexHits[lexHits.length - 1] as { score: number }).score) / maxL : 0;
      const contenders = needLex.filter((c) => c.fused + ceiling >= kth);
      if (contenders.length > 0) resolveLexical(contenders);
    }
  }
  /** Exact lexical scores for candidates that only had the lower bound. */
  function resolveLexical(list: readonly Candidate[]): void {
    const scores = lexicalScoresOf(db, match, list.map((c) => c.seq), settings.columnWeights, aids);
    for (const c of list) c.lexical = scores.get(c.seq) ?? 0;
    const resolved = new Set(list);
    unknownLexical = unknownLexical.filter((c) => !resolved.has(c));
  }
  fuse([...cands.values()], req.mode, settings.denseWeight);
  let ranked = [...cands.values()].sort((a, b) => b.fused - a.fused || a.seq - b.seq);
  if (Date.now() > deadline) throw timeoutError(timeoutMs);

  // INVARIANT: every candidate is re-checked against SQLite (tenant, readers, document and
  // chunk status) right before sealing; the index results are never trusted on their own.
  // The re-check reads only what can change (a chunk's id comes along to match its cached
  // content); a chunk's text and metadata never change and come from chunkContents.
  type ChunkRow = [
    seq: number, id: string, documentId: string, version: number, heading: string, text: string, contentHash: string,
    charStart: number, charEnd: number, title: string, sourceUri: string,
  ];
  const recheckStmt = statement(db,
    `SELECT c.seq, c.id, d.title, d.source_uri
     FROM json_each(?) j CROSS JOIN chunks c ON c.seq = j.value CROSS JOIN documents d ON d.id = c.document_id
     WHERE c.active = 1 AND d.current_version = c.version AND ${cond.sql}`,
  ).raw(true);
  // Candidates are re-checked in fused order, a batch at a time: one query in the usual case,
  // more only when chunks were revoked or replaced after they were ranked.
  const batch = Math.max(k * 3, k + 20);
  const checked = new Set<number>();
  const bySeq = new Map<number, ChunkRow>();
  const readableAt = (i: number): ChunkRow | undefined => {
    const seq = (ranked[i] as Candidate).seq;
    if (!checked.has(seq)) {
      const seqs: number[] = [];
      for (let j = i; j < ranked.length && seqs.length < batch; j++) {
        const next = (ranked[j] as Candidate).seq;
        if (!checked.has(next)) seqs.push(next);
      }
      for (const next of seqs) checked.add(next);
      const readable = recheckStmt.all(JSON.stringify(seqs), ...cond.params) as Array<[seq: number, id: string, title: string, sourceUri: string]>;
      const contents = chunkContents(db, new Map(readable.map(([s, id]) => [s, id])));
      for (const [s, , title, sourceUri] of readable) {
        const content = contents.get(s);
        if (content !== undefined) bySeq.set(s, [s, ...content, title, sourceUri]);
      }
    }
    return bySeq.get(seq);
  };
  if (unknownLexical.length > 0) {
    // A candidate ranked with only a lower bound on its lexical score is never returned with
    // it: if one would be among the first k readable (chunks ahead of it were revoked after
    // ranking), all get their exact scores and are ranked again.
    const unknown = new Set(unknownLexical);
    let reachedUnknown = false;
    for (let i = 0, readable = 0; i < ranked.length && readable < k && !reachedUnknown; i++) {
      if (readableAt(i) === undefined) continue;
      readable++;
      reachedUnknown = unknown.has(ranked[i] as Candidate);
    }
    if (reachedUnknown) {
      resolveLexical(unknownLexical);
      fuse([...cands.values()], req.mode, settings.denseWeight);
      ranked = [...cands.values()].sort((a, b) => b.fused - a.fused || a.seq - b.seq);
    }
  }
  const results: RetrievedChunk[] = [];
  let chars = 0;
  let truncatedReason: RetrievalResult['truncatedReason'];
  for (let i = 0; i < ranked.length && results.length < k; i++) {
    const c = ranked[i] as Candidate;
    const r = readableAt(i);
    if (r === undefined) continue;
    const [, chunkId, documentId, documentVersion, heading, text, contentHash, charStart, charEnd, title, sourceUri] = r;
    if (chars + text.length > maxChars) {
      truncatedReason = 'budget';
      break;
    }
    chars += text.length;
    results.push({
      rank: results.length + 1,
      chunkId,
      documentId,
      documentVersion,
      sourceUri,
      title,
      heading,
      text,
      contentHash,
      charStart,
      charEnd,
      scores: { dense: c.dense, lexical: c.lexical, denseRank: c.denseRank, lexicalRank: c.lexicalRank, fused: c.fused },
    });
  }
  if (truncatedReason === undefined && results.length < k && ranked.length > results.length) truncatedReason = 'candidates';
  const truncated = truncatedReason !== undefined;
  const bounds = { k, maxChars, timeoutMs };
  if (Date.now() > deadline) throw timeoutError(timeoutMs);

  const bundle: ContextBundle = {
    id: newId('bnd'),
    tenant: principal.tenant,
    principalId: principal.id,
    sessionId: req.sessionId ?? null,
    query: req.query,
    filters: (req.filters ?? {}) as JsonValue,
    bounds,
    truncated,
    chunks: results.map((r) => ({
      chunkId: r.chunkId,
      documentId: r.documentId,
      documentVersion: r.documentVersion,
      contentHash: r.contentHash,
      scores: { dense: r.scores.dense, lexical: r.scores.lexical, fused: r.scores.fused },
    })),
    createdAt: nowIso(ctx.clock),
  };
  // Grouped with the other retrievals in flight; committed before this returns. The bundle is
  // serialized and sealed first, so a value canonical JSON refuses fails this retrieval
  // alone; the job itself only writes, and needs no savepoint of its own. The caller's work
  // (a session's charge) runs first and may refuse, rarely (a race for the end of a budget
  // that the check before the search passed): the group then runs again with a savepoint
  // per job, and only this retrieval fails.
  const prepared = prepareBundle(bundle);
  const alongside = options.alongsideBundle;
  const sealed = await ctx.commits.run(
    (db) => {
      alongside?.(db, { contextChars: chars });
      return writeBundle(db, ctx.ledger, prepared, req.requestId);
    },
    { savepoint: false },
  );
  return {
    bundleId: sealed.id,
    seal: sealed.seal,
    results,
    truncated,
    ...(truncatedReason ? { truncatedReason } : {}),
    bounds,
    denseStrategy,
    tookMs: Date.now() - started,
  };
}

/** Sizes of a principal's readable set, and the set itself once enumerated (small sets only). */
interface Selectivity {
  readonly readable: number;
  readonly tenantTotal: number;
  readonly indexTotal: number;
  seqs?: readonly number[];
}

const selectivityCache = new WeakMap<RetrievalContext, { generation: number; entries: Map<string, Selectivity>; seqCount: number }>();

/** At most this many readable chunk numbers stay cached per store generation (all principals together). */
const MAX_CACHED_SEQS = 1_000_000;

/** The readable set of `sizes`' condition, enumerated once per store generation while the cache has room. */
function readableSetOf(ctx: RetrievalContext, sizes: Selectivity, cond: SqlCondition): readonly number[] {
  if (sizes.seqs !== undefined) return sizes.seqs;
  const seqs = Object.freeze(readableChunkSeqs(ctx.store.db, cond)) as number[];
  const cache = selectivityCache.get(ctx);
  if (cache !== undefined && cache.seqCount + seqs.length <= MAX_CACHED_SEQS) {
    cache.seqCount += seqs.length;
    sizes.seqs = seqs;
  }
  return seqs;
}

/** Readable and total active chunks for a condition, cached per store generation. */
function selectivity(ctx: RetrievalContext, generation: number, tenant: string, cond: SqlCondition): Selectivity {
  const db = ctx.store.db;
  let cache = selectivityCache.get(ctx);
  if (cache === undefined || cache.generation !== generation) selectivityCache.set(ctx, (cache = { generation, entries: new Map(), seqCount: 0 }));
  const key = JSON.stringify([cond.sql, cond.params]);
  let hit = cache.entries.get(key);
  if (hit === undefined) {
    hit = { readable: countReadableChunks(db, cond), tenantTotal: countTenantChunks(db, tenant), indexTotal: countAllChunks(db) };
    if (cache.entries.size > 10_000) {
      cache.entries.clear();
      cache.seqCount = 0;
    }
    cache.entries.set(key, hit);
  }
  return hit;
}

/**
 * Fused score: lexical alone, dense alone, or (1 − w)·lexical/max + w·min-max(dense) over
 * the candidate set (a chunk without a vector gets the lowest dense score).
 */
export function fuse(cands: Candidate[], mode: 'hybrid' | 'dense' | 'lexical', w: number): void {
  if (mode === 'lexical') {
    for (const c of cands) c.fused = c.lexical ?? 0;
    return;
  }
  if (mode === 'dense') {
    for (const c of cands) c.fused = c.dense ?? -1;
    return;
  }
  let maxL = 0;
  let minD = Infinity;
  let maxD = -Infinity;
  for (const c of cands) {
    if ((c.lexical ?? 0) > maxL) maxL = c.lexical ?? 0;
    if (c.dense !== null) {
      if (c.dense < minD) minD = c.dense;
      if (c.dense > maxD) maxD = c.dense;
    }
  }
  const spanD = maxD > minD ? maxD - minD : 1;
  for (const c of cands) {
    const l = maxL > 0 ? (c.lexical ?? 0) / maxL : 0;
    const d = c.dense === null ? 0 : (c.dense - minD) / spanD;
    c.fused = (1 - w) * l + w * d;
  }
}

/** Rocchio-style feedback: the query vector moved toward the top lexical chunks' centroid. */
function feedbackQuery(ctx: RetrievalContext, q: Float32Array, seqs: number[], weight: number): Float32Array {
  const rows = [...ctx.vectorCache.get(ctx.store.db, seqs).values()];
  if (rows.length === 0) return q;
  const out = new Float32Array(q.length);
  for (const v of rows) {
    for (let i = 0; i < v.length; i++) out[i] = (out[i] as number) + (v[i] as number) / rows.length;
  }
  for (let i = 0; i < q.length; i++) out[i] = (1 - weight) * (q[i] as number) + weight * (out[i] as number);
  const norm = Math.sqrt(dot(out, out));
  if (!(norm > 0)) return q;
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / norm;
  return out;
}
