// A thin wrapper over the chromadb client for the retrieval half: one collection of
// L2-normalized vectors that records its model id and dimension, guarded writes (no NaN,
// infinite or zero vector ever reaches Chroma), batched upserts, and typed errors.
//
// Space: `cosine`. For L2-normalized vectors cosine and inner product rank identically
// (cos = dot when |a| = |b| = 1) and cost the same (hnswlib's cosine space normalizes each
// vector once on insert, then uses the inner product). Cosine keeps `score = 1 - distance`
// an exact cosine similarity in [-1, 1] even if a model's output is not quite normalized,
// where `ip` would give unbounded scores.
//
// Filters, measured (bench/chroma.ts, 2026-11-26, Chroma 1.0.0 from bindings 1.0.5, 100-d
// random unit vectors, k = 10, recall against brute force over the allowed rows, a loaded
// 2-core machine): with 10k vectors of which 10 carry `tenant: 't1'` (0.1 %),
// `where: { tenant: 't1' }` returned all 10 (recall 1.000, in exact order; p50 ~18 ms vs
// ~6-14 ms unfiltered), and so did an `ids` allow-list of those 10 (p50 ~14 ms). At 100k
// (100 matches) recall stayed 1.000 but p50 rose to ~190 ms and p99 to ~1.2 s, for `where`
// and `ids` alike: the cost grows with the collection, not with the matches (most likely
// the filtered HNSW walk visiting most of the graph when few rows match). So a selective
// filter never starves the result list, but it is slow on a large collection: for small
// allowed sets an exact scan outside Chroma is faster.
// A 10 % filter at 100k: recall 0.99 at ef_search 400 (0.87 at Chroma's default 100).
// Caveat: an `ids` allow-list naming an id that is not in the collection makes Chroma
// 1.0.0 fail the whole query ("Error finding id"); `query` then drops the unknown ids and
// asks again.
import { ChromaClient, type Collection, type Metadata, type Where } from 'chromadb';
import { z } from 'zod';
import { CoreErrors, WritError, parseInput } from '../core/index.js';
import type { ChromaServer } from './chroma-server.js';
import { RetrievalErrors } from './errors.js';
import type { VectorIndexPort, VectorMetadata } from './types.js';

/** The distance space Writ's collections use. */
export const VECTOR_SPACE = 'cosine';

/** HNSW `ef_search` of new collections (Chroma's own default is 100). */
export const DEFAULT_EF_SEARCH = 400;

/** A Chroma metadata filter (`{ tenant: 't1' }`, `{ $and: [...] }`, `{ n: { $gte: 2 } }`). */
export type VectorWhere = Record<string, unknown>;

/** One row to write. */
export interface VectorRow {
  readonly id: string;
  readonly vector: Float32Array | readonly number[];
  readonly metadata?: VectorMetadata;
}

/** One query hit, nearest first. */
export interface VectorHit {
  readonly id: string;
  /** Chroma's cosine distance, `1 - score`. */
  readonly distance: number;
  /** Cosine similarity, in [-1, 1]. */
  readonly score: number;
  readonly metadata: VectorMetadata;
}

/** A query: `k` nearest to `vector`, optionally only rows matching `where` and/or among `ids`. */
export interface VectorQuery {
  readonly vector: Float32Array | readonly number[];
  readonly k: number;
  readonly where?: VectorWhere;
  readonly ids?: readonly string[];
  /** Return each hit's metadata (default true); false saves Chroma a metadata read per hit. */
  readonly withMetadata?: boolean;
}

/** A collection of vectors for one model. */
export interface VectorIndex extends VectorIndexPort {
  readonly collection: string;
  readonly modelId: string;
  readonly dimension: number;
  /** Rows per request, from the server's pre-flight checks. */
  readonly maxBatchSize: number;
  /**
   * Inserts or replaces rows, in batches of at most `maxBatchSize`. Every vector is checked
   * first; one bad vector refuses the whole call and nothing is written. (A connection loss
   * midway can leave earlier batches written; upsert is idempotent, so retry.)
   */
  upsert(rows: readonly VectorRow[]): Promise<{ upserted: number }>;
  query(q: VectorQuery): Promise<VectorHit[]>;
  delete(ids: readonly string[]): Promise<void>;
  deleteWhere(where: VectorWhere): Promise<void>;
  count(): Promise<number>;
  /** Deletes the collection. Idempotent; the index is unusable afterwards. */
  drop(): Promise<void>;
}

const OptionsSchema = z
  .object({
    url: z.url({ protocol: /^https?$/ }).optional(),
    server: z.custom<ChromaServer>((v) => typeof v === 'object' && v !== null && typeof (v as ChromaServer).url === 'string').optional(),
    collection: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/, 'use 3 to 63 letters, digits and . _ -, starting and ending with a letter or digit')
      .refine((s) => !s.includes('..'), 'must not contain `..`'),
    modelId: z.string().min(1).max(500),
    dimension: z.number().int().positive().max(65_536),
    /** A request that takes longer fails with RETRIEVAL_CHROMA_UNAVAILABLE. */
    requestTimeoutMs: z.number().int().positive().default(30_000),
    /**
     * HNSW search breadth. Chroma's default (100) found only 0.71 of the true top 10 among 20k
     * random 100-d vectors; 400 found 0.98 for ~2 ms more per query (see BENCHMARKS.md).
     */
    efSearch: z.number().int().min(10).max(10_000).default(DEFAULT_EF_SEARCH),
    /**
     * A collection that records another model, dimension or space: `refuse` it
     * (RETRIEVAL_INDEX_MISMATCH), or open it for `rebuild` only: every call but `drop`
     * then throws RETRIEVAL_INDEX_MISMATCH, so a re-embedding reindex can replace it.
     */
    onMismatch: z.enum(['refuse', 'rebuild']).default('refuse'),
  })
  .strict()
  .refine((o) => o.url !== undefined || o.server !== undefined, { message: 'give `url` or `server`', path: ['url'] });

/** Options of `openVectorIndex`: the server (preferred: its errors can say the child died) or a URL. */
export type VectorIndexOptions = z.input<typeof OptionsSchema>;

const METADATA_KEY = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;

/** Why a vector may not be written or queried, or undefined when it is fine. */
export function vectorProblem(vector: Float32Array | readonly number[], dimension: number): string | undefined {
  if (vector.length !== dimension) return `has ${vector.length} values, expected ${dimension}`;
  let nonZero = false;
  for (let i = 0; i < vector.length; i++) {
    const x = vector[i] as number;
    if (!Number.isFinite(x)) return `has a non-finite value (\`${x}\`) at ${i}`;
    if (x !== 0) nonZero = true;
  }
  return nonZero ? undefined : 'is all zeros (a text with no known word)';
}

function metadataProblem(metadata: unknown): string | undefined {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return 'must be an object';
  for (const [key, value] of Object.entries(metadata)) {
    if (!METADATA_KEY.test(key)) return `key \`${key}\` is not a plain name`;
    const ok = typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
    if (!ok) return `\`${key}\` must be a string, a finite number or a boolean`;
  }
  return undefined;
}

/** Chroma wants exactly one operator at the top of a filter; `{ a: 1, b: 2 }` means both. */
function normalizeWhere(where: VectorWhere): Where {
  const keys = Object.keys(where);
  if (keys.length > 1 && !keys.some((k) => k.startsWith('$'))) return { $and: keys.map((k) => ({ [k]: where[k] })) } as unknown as Where;
  return where as unknown as Where;
}

function toNumbers(vector: Float32Array | readonly number[]): number[] {
  return Array.from(vector);
}

/** A failure Chroma reports as a lost connection (refused, reset, closed mid-request). */
function isConnectionFailure(err: unknown): boolean {
  const name = (err as { name?: unknown })?.name;
  const message = String((err as { message?: unknown })?.message ?? '');
  return name === 'ChromaConnectionError' || (name === 'TypeError' && /fetch failed/i.test(message));
}

function clientFor(url: string): ChromaClient {
  const u = new URL(url);
  const ssl = u.protocol === 'https:';
  return new ChromaClient({ host: u.hostname, port: u.port === '' ? (ssl ? 443 : 80) : Number(u.port), ssl });
}

/**
 * Opens (creating when missing) the collection `collection` for vectors of `modelId` with
 * `dimension` values, in the cosine space, with no embedding function (Writ supplies the
 * vectors). Refuses a collection that records another model, dimension or space (or, with
 * `onMismatch: 'rebuild'`, opens it so that it can only be dropped).
 *
 * @throws WritError RETRIEVAL_INDEX_MISMATCH, RETRIEVAL_CHROMA_UNAVAILABLE, INVALID_INPUT.
 * @example
 * const index = await openVectorIndex({ server: chroma, collection: 'writ-chunks', modelId: embedder.modelId, dimension: embedder.dimension });
 * await index.upsert([{ id: 'c1', vector, metadata: { tenant: 'acme' } }]);
 * const hits = await index.query({ vector: queryVector, k: 10, where: { tenant: 'acme' } });
 */
export async function openVectorIndex(options: VectorIndexOptions): Promise<VectorIndex> {
  const opts = parseInput(OptionsSchema, options, 'vector index options');
  const server = opts.server;
  const url = (server?.url ?? opts.url ?? '').replace(/\/+$/, '');
  const { collection: name, modelId, dimension, requestTimeoutMs, efSearch } = opts;
  const client = clientFor(url);

  /** Runs one Chroma call with a time limit, mapping its failures to Writ's codes. */
  const call = async <T>(during: string, fn: () => Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${requestTimeoutMs} ms`), { name: 'ChromaConnectionError' })), requestTimeoutMs);
    });
    try {
      return await Promise.race([fn(), timeout]);
    } catch (err) {
      throw mapError(err, during);
    } finally {
      clearTimeout(timer);
    }
  };

  const mapError = (err: unknown, during: string): WritError => {
    if (err instanceof WritError) return err;
    if (isConnectionFailure(err)) {
      if (server !== undefined) return server.unavailableError(during, err);
      return new WritError(RetrievalErrors.RETRIEVAL_CHROMA_UNAVAILABLE, `${during} failed: chroma at \`${url}\` does not answer: start it or correct \`CHROMA_URL\``, {
        details: { url, pid: null, lastLogLines: [] },
        cause: err,
      });
    }
    if ((err as { name?: unknown })?.name === 'ChromaNotFoundError') {
      // `gone`: the collection was dropped (by `writ reindex` in another process, say); opening
      // the index again by name finds its replacement.
      return new WritError(RetrievalErrors.RETRIEVAL_VECTOR_INDEX_FAILED, `${during} failed: collection \`${name}\` no longer exists in chroma: run \`writ reindex\``, {
        details: { url, collection: name, gone: true },
        cause: err,
      });
    }
    return new WritError(RetrievalErrors.RETRIEVAL_VECTOR_INDEX_FAILED, `${during} failed: ${(err as Error)?.message ?? String(err)}`, { details: { url, collection: name }, cause: err });
  };

  const wanted = { modelId, dimension, space: VECTOR_SPACE };
  const col: Collection = await call(`opening collection \`${name}\``, async () => {
    try {
      return await client.getCollection({ name });
    } catch (err) {
      if ((err as { name?: unknown })?.name !== 'ChromaNotFoundError') throw err;
    }
    try {
      return await client.createCollection({
        name,
        embeddingFunction: null,
        metadata: wanted,
        configuration: { hnsw: { space: VECTOR_SPACE, ef_search: efSearch } },
      });
    } catch (err) {
      // Another process created it first.
      if ((err as { name?: unknown })?.name === 'ChromaUniqueError') return client.getCollection({ name });
      throw err;
    }
  });

  const found = {
    modelId: col.metadata?.modelId ?? null,
    dimension: col.metadata?.dimension ?? null,
    space: col.configuration?.hnsw?.space ?? col.metadata?.['hnsw:space'] ?? null,
  };
  // INVARIANT: one collection holds vectors of one model and dimension; mixing them would
  // make scores meaningless, so an index built otherwise is refused, never written to
  // (opened for `rebuild`, it can only be dropped).
  if (found.modelId !== modelId || found.dimension !== dimension || found.space !== VECTOR_SPACE) {
    const mismatch = new WritError(
      RetrievalErrors.RETRIEVAL_INDEX_MISMATCH,
      `collection \`${name}\` holds vectors of model \`${String(found.modelId)}\` (${String(found.dimension)}-d, space \`${String(found.space)}\`), not \`${modelId}\` (${dimension}-d, \`${VECTOR_SPACE}\`): run \`writ reindex --reembed\``,
      { details: { collection: name, url, expected: wanted, found } },
    );
    if (opts.onMismatch === 'refuse') throw mismatch;
    return rebuildOnlyIndex({ name, modelId, dimension, mismatch, drop: () => dropCollection(client, name, call) });
  }
  if (col.configuration?.hnsw?.ef_search !== undefined && col.configuration.hnsw.ef_search !== efSearch) {
    // Recorded now; Chroma 1.0.0 applies it to a loaded index only after it restarts.
    await call(`configuring \`${name}\``, () => col.modify({ configuration: { hnsw: { ef_search: efSearch } } }));
  }
  const maxBatchSize = await call('reading chroma limits', () => client.getMaxBatchSize());
  const batchSize = maxBatchSize > 0 ? maxBatchSize : 1000;
  // Upserts go straight to the REST endpoint with base64 vectors when the server takes them
  // (Chroma 1.0.0 here does): the client's own path turns each Float32 vector into a number
  // array, back into a Float32Array, then into base64 one byte-string character at a time
  // (~48 µs per 100-d row in a profile), and validates again what `upsert` already checked.
  // Measured (bench/retrieval.ts --sizes 5000,30000 --ingest-only, 25k chunks, 2026-11-26,
  // load 3-4, two runs each): Writ CPU 8.5 / 8.1 s direct vs 9.4 / 9.5 s through the client.
  // Other servers get the client's path.
  const base64 = await call('reading chroma limits', () => client.supportsBase64Encoding());
  let dropped = false;

  const usable = (): void => {
    if (dropped) throw new WritError(RetrievalErrors.RETRIEVAL_VECTOR_INDEX_FAILED, `collection \`${name}\` was dropped: open the vector index again`, { details: { collection: name } });
  };

  const refuse = (message: string, details: Record<string, unknown>): WritError =>
    new WritError(RetrievalErrors.RETRIEVAL_INVALID_VECTOR, message, { details: { collection: name, dimension, ...details } });
  const invalid = (path: string, message: string): WritError =>
    new WritError(CoreErrors.INVALID_INPUT, `invalid vector index call: \`${path}\`: ${message}`, { details: { issues: [{ path, code: 'custom', message }] } });

  /**
   * POSTs a JSON body to one of the collection's REST endpoints and returns the parsed answer.
   * HTTP failures become errors named like the client's, so `mapError` treats them alike
   * (404: the collection is gone).
   */
  const collectionUrl = `${url}/api/v2/tenants/${encodeURIComponent(col.tenant)}/databases/${encodeURIComponent(col.database)}/collections/${encodeURIComponent(col.id)}`;
  const post = async (endpoint: 'upsert' | 'query', body: string): Promise<unknown> => {
    const response = await fetch(`${collectionUrl}/${endpoint}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (response.ok) return parsed;
    const problem = parsed as { message?: unknown; error?: unknown } | undefined;
    const message = String(problem?.message ?? problem?.error ?? text);
    throw Object.assign(new Error(`HTTP ${response.status}: ${message}`), { name: response.status === 404 ? 'ChromaNotFoundError' : 'ChromaServerError' });
  };

  /**
   * One upsert request with the Float32 vectors in base64, in platform byte order (exactly
   * what the chromadb client sends, built here with one Buffer copy per vector). The rows were
   * validated by `upsert`.
   */
  const upsertDirect = async (part: readonly VectorRow[]): Promise<void> => {
    const body = JSON.stringify({
      ids: part.map((r) => r.id),
      embeddings: part.map((r) => {
        const v = r.vector instanceof Float32Array ? r.vector : Float32Array.from(r.vector);
        return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
      }),
      // Chroma refuses an empty metadata object but takes null.
      metadatas: part.map((r) => (r.metadata !== undefined && Object.keys(r.metadata).length > 0 ? r.metadata : null)),
    });
    await post('upsert', body);
  };

  const index: VectorIndex = {
    collection: name,
    modelId,
    dimension,
    maxBatchSize: batchSize,

    async upsert(rows) {
      usable();
      // INVARIANT: nothing reaches Chroma unless every row is valid; a NaN vector is
      // accepted by Chroma without error and silently ruins the collection's search.
      const seen = new Set<string>();
      rows.forEach((row, i) => {
        if (typeof row.id !== 'string' || row.id === '') throw invalid(`rows.${i}.id`, 'must be a non-empty string; nothing was written');
        if (seen.has(row.id)) throw invalid(`rows.${i}.id`, `\`${row.id}\` appears twice; nothing was written`);
        seen.add(row.id);
        const problem = vectorProblem(row.vector, dimension);
        if (problem !== undefined) throw refuse(`vector of \`${row.id}\` ${problem}: nothing was written`, { row: i, id: row.id });
        const metaProblem = row.metadata === undefined ? undefined : metadataProblem(row.metadata);
        if (metaProblem !== undefined) throw invalid(`rows.${i}.metadata`, `${metaProblem}; nothing was written`);
      });
      for (let start = 0; start < rows.length; start += batchSize) {
        const part = rows.slice(start, start + batchSize);
        if (base64) {
          await call(`upsert into \`${name}\``, () => upsertDirect(part));
          continue;
        }
        await call(`upsert into \`${name}\``, () =>
          col.upsert({
            ids: part.map((r) => r.id),
            embeddings: part.map((r) => toNumbers(r.vector)),
            // Chroma refuses an empty metadata object but takes null.
            metadatas: part.map((r) => (r.metadata !== undefined && Object.keys(r.metadata).length > 0 ? (r.metadata as Metadata) : (null as unknown as Metadata))),
          }),
        );
      }
      return { upserted: rows.length };
    },

    async query(q) {
      usable();
      if (!Number.isInteger(q.k) || q.k < 1) throw invalid('k', `must be a positive integer, got \`${q.k}\``);
      const problem = vectorProblem(q.vector, dimension);
      if (problem !== undefined) throw refuse(`query vector ${problem}`, {});
      if (q.ids !== undefined && q.ids.length === 0) return [];
      // Straight to the REST endpoint, like upserts: the client's query path costs ~1 ms of
      // CPU a call (validation, a number-array copy, its request pipeline); and metadata is
      // asked for only when the caller wants it (Chroma reads it from its SQLite per hit).
      const include = q.withMetadata === false ? ['distances'] : ['distances', 'metadatas'];
      const where = q.where !== undefined ? normalizeWhere(q.where) : undefined;
      const run = (ids: string[] | undefined) =>
        call(`query on \`${name}\``, async () => {
          const body = JSON.stringify({ query_embeddings: [toNumbers(q.vector)], n_results: q.k, include, ...(where !== undefined ? { where } : {}), ...(ids !== undefined ? { ids } : {}) });
          const answer = (await post('query', body)) as { ids?: string[][]; distances?: Array<Array<number | null>>; metadatas?: Array<Array<Record<string, unknown> | null>> } | undefined;
          return { ids: answer?.ids ?? [], distances: answer?.distances ?? [], metadatas: answer?.metadatas ?? [] };
        });
      let ids = q.ids === undefined ? undefined : [...new Set(q.ids)];
      let result;
      try {
        result = await run(ids);
      } catch (err) {
        // Chroma 1.0.0 fails a query whose allow-list names an unknown id: keep the known ones.
        if (ids === undefined || !/error finding id/i.test((err as Error).message)) throw err;
        const known = await call(`reading ids of \`${name}\``, () => col.get({ ids: ids as string[], include: [] as never }));
        ids = known.ids;
        if (ids.length === 0) return [];
        result = await run(ids);
      }
      const outIds = result.ids[0] ?? [];
      const distances = result.distances[0] ?? [];
      const metadatas = result.metadatas[0] ?? [];
      const hits: VectorHit[] = [];
      outIds.forEach((id, i) => {
        const distance = distances[i];
        // A row without a distance holds a broken vector (written by someone else): skip it.
        if (typeof distance !== 'number' || !Number.isFinite(distance)) return;
        hits.push({ id, distance, score: 1 - distance, metadata: (metadatas[i] ?? {}) as VectorMetadata });
      });
      return hits;
    },

    async delete(ids) {
      usable();
      const unique = [...new Set(ids)];
      for (let start = 0; start < unique.length; start += batchSize) {
        const part = unique.slice(start, start + batchSize);
        await call(`delete from \`${name}\``, () => col.delete({ ids: part }));
      }
    },

    async deleteWhere(where) {
      usable();
      if (Object.keys(where).length === 0) throw invalid('where', 'must not be empty (use drop() to remove everything)');
      await call(`delete from \`${name}\``, () => col.delete({ where: normalizeWhere(where) }));
    },

    async count() {
      usable();
      return call(`count of \`${name}\``, () => col.count());
    },

    async drop() {
      if (dropped) return;
      await dropCollection(client, name, call);
      dropped = true;
    },
  };
  return index;
}

/** Deletes the collection `name`; one already gone counts as dropped. */
async function dropCollection(client: ChromaClient, name: string, call: <T>(during: string, fn: () => Promise<T>) => Promise<T>): Promise<void> {
  await call(`dropping \`${name}\``, async () => {
    try {
      await client.deleteCollection({ name });
    } catch (err) {
      if ((err as { name?: unknown })?.name !== 'ChromaNotFoundError') throw err;
    }
  });
}

/**
 * A collection of another model, opened so that a re-embedding reindex can drop it: every
 * read or write throws the mismatch, so no vector of either model ever meets the other.
 */
function rebuildOnlyIndex(o: { name: string; modelId: string; dimension: number; mismatch: WritError; drop: () => Promise<void> }): VectorIndex {
  const refuse = async (): Promise<never> => {
    throw o.mismatch;
  };
  let dropped = false;
  return {
    collection: o.name,
    modelId: o.modelId,
    dimension: o.dimension,
    maxBatchSize: 1,
    upsert: refuse,
    query: refuse,
    delete: refuse,
    deleteWhere: refuse,
    count: refuse,
    async drop() {
      if (dropped) return;
      await o.drop();
      dropped = true;
    },
  };
}
