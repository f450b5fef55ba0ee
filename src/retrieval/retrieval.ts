// The retrieval service: one object that ingests, revokes, searches, seals bundles,
// rebuilds the vector index from SQLite and watches folders. Built by `createRetrieval`.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { watch as chokidarWatch } from 'chokidar';
import { systemClock, type Clock, type Principal } from '../core/index.js';
import { createCommitGroup, type CommitGroup, type Store } from '../store/index.js';
import type { Ledger } from '../ledger/types.js';
import type { Embedder } from './embedder-types.js';
import { DEFAULT_CHUNKING } from './chunking.js';
import { bundleFreshness, getBundle, type SealedBundle, type StaleRef } from './bundles.js';
import {
  embedAll, hasPendingVectors, ingestDocuments, retryVectorSyncLater, revokeDocument, stopVectorRetry, syncVectorIndex, vectorToBlob,
  type ActorContext, type IngestOptions, type RetrievalContext, type VectorWaitOptions,
} from './ingest.js';
import { ingestPath, type IngestPathOptions, type IngestPathSummary } from './ingest-path.js';
import { isZeroVector } from './embedder-types.js';
import { createRateLimiter } from './rate-limit.js';
import { VectorCache } from './dense.js';
import { createTermLists, type TermLists, type TermListsOptions } from './term-lists.js';
import { DEFAULT_SEARCH_TUNING, retrieve, type RetrieveOptions, type SearchSettings } from './search.js';
import type { DocumentInput, IngestOutcome, RetrievalQuery, RetrievalResult, RevokeOutcome, VectorIndexPort } from './types.js';
import { formatOf, loadFile, type RecordFields } from './loaders.js';
import { getDocument, listDocuments, type DocumentRecord, type ListDocumentsOptions } from './documents.js';

/** Retrieval settings (config section `retrieval`), all optional here. */
export interface RetrievalConfig {
  readonly maxK?: number;
  readonly maxChars?: number;
  readonly maxQueryChars?: number;
  readonly timeoutMs?: number;
  readonly maxTimeoutMs?: number;
  readonly ratePerSecond?: number;
  readonly rateBurst?: number;
  readonly chunkMaxChars?: number;
  readonly chunkOverlapChars?: number;
  readonly denseWeight?: number;
  readonly exactScanMaxChunks?: number;
  readonly embedBatchSize?: number;
  /** Memory for per-word lexical score lists in MB (0: rank with FTS5 alone). */
  readonly lexicalCacheMb?: number;
  /** First wait before retrying a vector sync that failed (ms, default 2,000; doubles up to 60 s). Beyond config (tests). */
  readonly vectorRetryMs?: number;
  /** Score-list thresholds beyond config (tests: lists on small indexes). */
  readonly termLists?: Partial<Pick<TermListsOptions, 'minRows' | 'inlineMaxRows' | 'quietMs'>>;
  /** Search tuning beyond config (used by the eval tool). */
  readonly tuning?: Partial<Pick<SearchSettings, 'columnWeights' | 'candidateFactor' | 'candidateFloor' | 'prfWeight' | 'prfDocs' | 'indexWaitMs'>>;
}

/** What `createRetrieval` needs. */
export interface RetrievalDeps {
  readonly store: Store;
  readonly ledger: Ledger;
  readonly embedder: Embedder;
  readonly vectorIndex: VectorIndexPort;
  /** Opens an empty vector index of the same name (used by `reindex`, after dropping the old one). */
  readonly reopenVectorIndex?: () => Promise<VectorIndexPort>;
  readonly config?: RetrievalConfig;
  readonly clock?: Clock;
  /** Group committer for bundles; share one per store so all its writers group together. Default: a new one. */
  readonly commits?: CommitGroup;
}

/** A folder watcher started by `watch`. */
export interface RetrievalWatcher {
  /** Resolves once the initial scan is ingested. */
  readonly ready: Promise<void>;
  /** Resolves when every change seen so far is applied. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** Options of `watch`. */
export interface WatchOptions extends Omit<IngestPathOptions, 'onProgress' | 'signal'> {
  readonly fields?: RecordFields;
  /** Called with the error of a change that could not be applied and the file it came from (the initial scan's error rejects `ready` instead). Chroma being down is no such error: the change is stored and its vectors follow. */
  readonly onError?: (error: unknown, path: string) => void;
}

/** The retrieval half's public surface. */
export interface Retrieval {
  /** Ingests documents; once stored, a failing vector index makes outcomes `vectors: 'pending'` (with a `warning`), never an error. */
  ingest(docs: readonly DocumentInput[], actor?: ActorContext, options?: IngestOptions): Promise<IngestOutcome[]>;
  ingestPath(paths: readonly string[], options: IngestPathOptions): Promise<IngestPathSummary>;
  /** Revokes a document; once stored, a failing vector index makes it `vectors: 'pending'` (with a `warning`), never an error. */
  revoke(ref: { documentId: string } | { tenant: string; sourceUri: string }, actor?: ActorContext, options?: VectorWaitOptions): Promise<RevokeOutcome>;
  /**
   * A bounded, permission-checked retrieval, sealed and stored as a ContextBundle before it
   * returns; `options.alongsideBundle` adds work to the transaction that stores it.
   */
  retrieve(request: RetrievalQuery & { principal: Principal }, options?: RetrieveOptions): Promise<RetrievalResult>;
  getBundle(id: string): SealedBundle;
  /** The document record with that id (any tenant: the caller checks), or undefined. */
  getDocument(id: string): DocumentRecord | undefined;
  /** Documents of the principal's tenant it may read (every one of the tenant with `all`). */
  listDocuments(principal: Principal, options?: ListDocumentsOptions): DocumentRecord[];
  bundleFreshness(id: string): { fresh: boolean; stale: StaleRef[] };
  /** Pushes pending vector upserts/deletes to the index. */
  syncVectors(): Promise<{ upserted: number; deleted: number }>;
  /**
   * When vectors are pending (left by a process that could not reach Chroma), starts pushing
   * them in the background, retrying with back-off while the index fails, until `close()`.
   */
  resumeVectorSync(): void;
  /**
   * An empty vector index while SQLite marks vectors as in it (a home restored from `writ
   * backup`, or Chroma's folder lost) gets every vector marked pending, for the next sync
   * to write them all again from SQLite (`requeued`: the active ones). An index that holds
   * anything is left alone (`found`).
   */
  reconcileVectorIndex(): Promise<{ found: number; requeued: number }>;
  /** Rebuilds the vector index from SQLite (re-embedding chunk text when `reembed`). */
  reindex(options?: { reembed?: boolean }): Promise<{ chunks: number }>;
  /**
   * Follows a folder: added and changed files are ingested, deleted ones revoked. A change that
   * fails (a file that does not load) goes to `onError` and the watch goes on; with Chroma
   * down a change is stored all the same and its vectors are written when Chroma answers.
   */
  watch(dir: string, options: WatchOptions): RetrievalWatcher;
  /** Lexical score lists: counters, and a promise for reads in flight (benchmarks, tests). */
  readonly termLists: Pick<TermLists, 'stats' | 'idle'>;
  /** Stops background work (the score-list reader, vector retries); call before closing the store. */
  close(): void;
}

/**
 * Builds the retrieval service over a store whose migrations include `retrievalMigrations`.
 *
 * @example
 * const retrieval = createRetrieval({ store, ledger, embedder, vectorIndex });
 * await retrieval.ingest([{ tenant: 'acme', sourceUri: 'kb://refunds', text: '…', readers: ['group:support'] }]);
 * const { results, bundleId } = await retrieval.retrieve({ principal, query: 'refund policy', k: 5 });
 */
export function createRetrieval(deps: RetrievalDeps): Retrieval {
  const cfg = deps.config ?? {};
  const clock = deps.clock ?? systemClock;
  if (!deps.store || !deps.ledger || !deps.embedder || !deps.vectorIndex) throw new TypeError('createRetrieval needs store, ledger, embedder and vectorIndex');
  const termLists = createTermLists({ maxBytes: (cfg.lexicalCacheMb ?? 128) * 2 ** 20, dbPath: deps.store.path, ...(cfg.termLists ?? {}) });
  const ctx: RetrievalContext = {
    store: deps.store,
    ledger: deps.ledger,
    embedder: deps.embedder,
    vectorIndex: deps.vectorIndex,
    chunking: { ...DEFAULT_CHUNKING, maxChars: cfg.chunkMaxChars ?? DEFAULT_CHUNKING.maxChars, overlapChars: cfg.chunkOverlapChars ?? DEFAULT_CHUNKING.overlapChars },
    embedBatchSize: cfg.embedBatchSize ?? 256,
    clock,
    syncChain: Promise.resolve(),
    lastIndexQueryAt: 0,
    vectorCache: new VectorCache(),
    commits: deps.commits ?? createCommitGroup(deps.store),
    termLists,
    vectorRetry: { timer: undefined, delayMs: cfg.vectorRetryMs ?? 2_000, firstDelayMs: cfg.vectorRetryMs ?? 2_000, maxDelayMs: 60_000, stopped: false },
  };
  const settings: SearchSettings = {
    maxK: cfg.maxK ?? 50,
    maxChars: cfg.maxChars ?? 40_000,
    maxQueryChars: cfg.maxQueryChars ?? 4_000,
    timeoutMs: cfg.timeoutMs ?? 2_000,
    maxTimeoutMs: cfg.maxTimeoutMs ?? 30_000,
    denseWeight: cfg.denseWeight ?? 0.3,
    exactScanMaxChunks: cfg.exactScanMaxChunks ?? 5_000,
    ...DEFAULT_SEARCH_TUNING,
    ...(cfg.tuning ?? {}),
  };
  const limiter = createRateLimiter({ ratePerSecond: cfg.ratePerSecond ?? 20, burst: cfg.rateBurst ?? 40, clock });

  /** Empties the vector index, recreating the collection when it can, and marks every vector pending. */
  const emptyVectorIndex = async (): Promise<void> => {
    const db = deps.store.db;
    // Ids to clear when the collection cannot be recreated, read while SQLite still marks them.
    const indexed = deps.reopenVectorIndex ? [] : (db.prepare('SELECT id FROM chunks WHERE in_vector_index = 1 OR active = 1').all() as Array<{ id: string }>).map((r) => r.id);
    // INVARIANT: SQLite forgets what the index holds before the index loses it. A failure
    // anywhere after this (Chroma down, the process killed) leaves every active chunk pending,
    // so the next sync or reindex pushes it: never an empty index that SQLite thinks is full.
    deps.store.transaction((tx) => {
      tx.prepare('UPDATE chunks SET in_vector_index = 0 WHERE in_vector_index = 1').run();
      // Chunks without a vector (no known word) never go to the index: nothing is pending for them.
      tx.prepare('UPDATE chunks SET in_vector_index = 1 WHERE active = 1 AND seq NOT IN (SELECT seq FROM chunk_vectors)').run();
    });
    if (deps.reopenVectorIndex) {
      await ctx.vectorIndex.drop?.();
      ctx.vectorIndex = await deps.reopenVectorIndex();
    } else {
      for (let i = 0; i < indexed.length; i += 4096) await ctx.vectorIndex.delete(indexed.slice(i, i + 4096));
    }
  };

  const reindex = async (options: { reembed?: boolean } = {}): Promise<{ chunks: number }> => {
    const db = deps.store.db;
    // An index of another model (opened for rebuild) refuses every call: its vectors in SQLite
    // are of that model too, so only a re-embedding rebuild may replace it. Ask before dropping.
    if (!options.reembed) await ctx.vectorIndex.count();
    if (options.reembed) {
      const rows = db.prepare('SELECT seq, heading, text FROM chunks WHERE active = 1').all() as Array<{ seq: number; heading: string; text: string }>;
      for (let i = 0; i < rows.length; i += 4096) {
        const part = rows.slice(i, i + 4096);
        const vecs = await embedAll(ctx.embedder, part.map((r) => (r.heading ? `${r.heading}\n${r.text}` : r.text)), ctx.embedBatchSize);
        deps.store.transaction((tx) => {
          const del = tx.prepare('DELETE FROM chunk_vectors WHERE seq = ?');
          const ins = tx.prepare('INSERT INTO chunk_vectors (seq, vector) VALUES (?, ?)');
          part.forEach((r, j) => {
            const v = vecs[j] as Float32Array;
            del.run(r.seq);
            if (!isZeroVector(v)) ins.run(r.seq, vectorToBlob(v));
          });
        });
      }
    }
    ctx.vectorCache.clear();
    // In the sync chain: no sync of this process may mark rows between the reset and the drop.
    const emptied = ctx.syncChain.then(emptyVectorIndex, emptyVectorIndex);
    ctx.syncChain = emptied.catch(() => undefined);
    await emptied;
    const out = await syncVectorIndex(ctx);
    return { chunks: out.upserted };
  };

  const watch: Retrieval['watch'] = (dir, options) => {
    const root = resolve(dir);
    let chain: Promise<unknown> = Promise.resolve();
    // One failed change must not stop the ones after it: it is reported, and the chain goes on.
    const report = (error: unknown, path: string): void => {
      try {
        options.onError?.(error, path);
      } catch {
        // A failing reporter must not stop the watch either.
      }
    };
    const enqueue = (path: string, fn: () => Promise<unknown>): void => {
      chain = chain.then(fn).catch((error: unknown) => report(error, path));
    };
    const fileUri = (p: string): string => pathToFileURL(resolve(p)).href;
    const ingestFile = async (p: string): Promise<void> => {
      const docs = loadFile(p, options.fields ?? {});
      await ingestDocuments(
        ctx,
        docs.map((d) => ({ tenant: options.tenant, sourceUri: d.sourceUri, title: d.title, text: d.text, readers: [...options.readers], labels: [...(options.labels ?? [])], format: d.format })),
        options,
        { keepRevoked: true },
      );
      // JSON records that vanished from the file are revoked.
      const keep = new Set(docs.map((d) => d.sourceUri));
      await revokeUnder(p, keep);
    };
    const revokeUnder = async (p: string, keep: Set<string> = new Set()): Promise<void> => {
      const uri = fileUri(p);
      const rows = deps.store.db
        .prepare("SELECT id, source_uri FROM documents WHERE tenant = ? AND status = 'active' AND (source_uri = ? OR substr(source_uri, 1, ?) = ?)")
        .all(options.tenant, uri, uri.length + 1, `${uri}#`) as Array<{ id: string; source_uri: string }>;
      for (const r of rows) if (!keep.has(r.source_uri)) await revokeDocument(ctx, { documentId: r.id }, options, { reason: 'source_gone' });
    };
    const watcher = chokidarWatch(root, {
      ignoreInitial: true,
      ignored: (p: string, st?: { isFile(): boolean }) => /(^|[/\\])(\.|node_modules)/.test(p.slice(root.length)) || (st?.isFile() === true && formatOf(p) === undefined),
      awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 20 },
    });
    watcher.on('add', (p) => enqueue(p, () => ingestFile(p)));
    watcher.on('change', (p) => enqueue(p, () => ingestFile(p)));
    watcher.on('unlink', (p) => enqueue(p, () => revokeUnder(p)));
    const { onError: _onError, ...ingestOptions } = options;
    const ready = new Promise<void>((res) => watcher.once('ready', () => res())).then(() =>
      ingestPath(ctx, [root], ingestOptions).then(() => undefined),
    );
    // Changes wait for the initial scan; its failure is the caller's through `ready`.
    chain = chain.then(() => ready).catch(() => undefined);
    return {
      ready,
      idle: async () => {
        let seen: Promise<unknown>;
        do {
          seen = chain;
          await seen;
        } while (seen !== chain);
      },
      close: async () => {
        await watcher.close();
        await chain;
      },
    };
  };

  return {
    ingest: (docs, actor, options) => ingestDocuments(ctx, docs, actor, options),
    ingestPath: (paths, options) => ingestPath(ctx, paths, options),
    revoke: (ref, actor, options) => revokeDocument(ctx, ref, actor, options),
    retrieve: (request, options) => {
      const { principal, ...rest } = request;
      return retrieve(ctx, settings, limiter, principal, rest, options);
    },
    getBundle: (id) => getBundle(deps.store.db, id),
    getDocument: (id) => getDocument(deps.store.db, id),
    listDocuments: (principal, options) => listDocuments(deps.store.db, principal, options),
    bundleFreshness: (id) => bundleFreshness(deps.store.db, id),
    syncVectors: () => syncVectorIndex(ctx),
    resumeVectorSync: () => {
      if (hasPendingVectors(deps.store.db)) retryVectorSyncLater(ctx, 0);
    },
    reconcileVectorIndex: async () => {
      const db = deps.store.db;
      const found = await ctx.vectorIndex.count();
      // Only an empty index is checked further: a count of SQLite's marks would read every
      // chunk, at every start, however large the home.
      if (found > 0) return { found, requeued: 0 };
      const marked = db.prepare('SELECT 1 FROM chunks c WHERE c.in_vector_index = 1 AND EXISTS (SELECT 1 FROM chunk_vectors v WHERE v.seq = c.seq) LIMIT 1').pluck().get() !== undefined;
      if (!marked) return { found, requeued: 0 };
      // INVARIANT: the marks change in one transaction, with the same rule as `reindex`: a
      // chunk without a vector (no known word) never goes to the index, so it stays marked.
      const requeued = deps.store.transaction((tx) => {
        const upserts = tx.prepare('SELECT count(*) FROM chunks c WHERE c.active = 1 AND c.in_vector_index = 1 AND EXISTS (SELECT 1 FROM chunk_vectors v WHERE v.seq = c.seq)').pluck().get() as number;
        tx.prepare('UPDATE chunks SET in_vector_index = 0 WHERE in_vector_index = 1').run();
        tx.prepare('UPDATE chunks SET in_vector_index = 1 WHERE active = 1 AND seq NOT IN (SELECT seq FROM chunk_vectors)').run();
        return upserts;
      });
      return { found, requeued };
    },
    reindex,
    watch,
    termLists,
    close: () => {
      stopVectorRetry(ctx);
      termLists.close();
    },
  };
}
