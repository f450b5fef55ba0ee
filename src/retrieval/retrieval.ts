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
import { embedAll, ingestDocuments, revokeDocument, syncVectorIndex, vectorToBlob, type ActorContext, type RetrievalContext } from './ingest.js';
import { ingestPath, type IngestPathOptions, type IngestPathSummary } from './ingest-path.js';
import { isZeroVector } from './embedder-types.js';
import { createRateLimiter } from './rate-limit.js';
import { VectorCache } from './dense.js';
import { createTermLists, type TermLists, type TermListsOptions } from './term-lists.js';
import { DEFAULT_SEARCH_TUNING, retrieve, type RetrieveOptions, type SearchSettings } from './search.js';
import type { DocumentInput, IngestOutcome, RetrievalQuery, RetrievalResult, VectorIndexPort } from './types.js';
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

/** The retrieval half's public surface. */
export interface Retrieval {
  ingest(docs: readonly DocumentInput[], actor?: ActorContext): Promise<IngestOutcome[]>;
  ingestPath(paths: readonly string[], options: IngestPathOptions): Promise<IngestPathSummary>;
  revoke(ref: { documentId: string } | { tenant: string; sourceUri: string }, actor?: ActorContext): Promise<{ documentId: string; version: number; revoked: boolean }>;
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
  /** Rebuilds the vector index from SQLite (re-embedding chunk text when `reembed`). */
  reindex(options?: { reembed?: boolean }): Promise<{ chunks: number }>;
  watch(dir: string, options: Omit<IngestPathOptions, 'onProgress' | 'signal'> & { fields?: RecordFields }): RetrievalWatcher;
  /** Lexical score lists: counters, and a promise for reads in flight (benchmarks, tests). */
  readonly termLists: Pick<TermLists, 'stats' | 'idle'>;
  /** Stops background work (the score-list reader); call before closing the store. */
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

  const reindex = async (options: { reembed?: boolean } = {}): Promise<{ chunks: number }> => {
    const db = deps.store.db;
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
    await ctx.syncChain;
    if (deps.reopenVectorIndex) {
      await ctx.vectorIndex.drop?.();
      ctx.vectorIndex = await deps.reopenVectorIndex();
    } else {
      // Without a way to recreate the collection, delete every id SQLite knows.
      const ids = (db.prepare('SELECT id FROM chunks WHERE in_vector_index = 1 OR active = 1').all() as Array<{ id: string }>).map((r) => r.id);
      for (let i = 0; i < ids.length; i += 4096) await ctx.vectorIndex.delete(ids.slice(i, i + 4096));
    }
    deps.store.transaction((tx) => {
      tx.prepare('UPDATE chunks SET in_vector_index = 0 WHERE in_vector_index = 1').run();
      tx.prepare('UPDATE chunks SET in_vector_index = 1 WHERE active = 1 AND seq NOT IN (SELECT seq FROM chunk_vectors)').run();
    });
    const out = await syncVectorIndex(ctx);
    return { chunks: out.upserted };
  };

  const watch: Retrieval['watch'] = (dir, options) => {
    const root = resolve(dir);
    let chain: Promise<unknown> = Promise.resolve();
    const enqueue = (fn: () => Promise<unknown>): void => {
      chain = chain.then(fn).catch(() => undefined);
    };
    const fileUri = (p: string): string => pathToFileURL(resolve(p)).href;
    const ingestFile = async (p: string): Promise<void> => {
      const docs = loadFile(p, options.fields ?? {});
      await ingestDocuments(
        ctx,
        docs.map((d) => ({ tenant: options.tenant, sourceUri: d.sourceUri, title: d.title, text: d.text, readers: [...options.readers], labels: [...(options.labels ?? [])], format: d.format })),
        options,
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
      for (const r of rows) if (!keep.has(r.source_uri)) await revokeDocument(ctx, { documentId: r.id }, options);
    };
    const watcher = chokidarWatch(root, {
      ignoreInitial: true,
      ignored: (p: string, st?: { isFile(): boolean }) => /(^|[/\\])(\.|node_modules)/.test(p.slice(root.length)) || (st?.isFile() === true && formatOf(p) === undefined),
      awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 20 },
    });
    watcher.on('add', (p) => enqueue(() => ingestFile(p)));
    watcher.on('change', (p) => enqueue(() => ingestFile(p)));
    watcher.on('unlink', (p) => enqueue(() => revokeUnder(p)));
    const ready = new Promise<void>((res) => watcher.once('ready', () => res())).then(() =>
      ingestPath(ctx, [root], { ...options }).then(() => undefined),
    );
    enqueue(() => ready);
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
    ingest: (docs, actor) => ingestDocuments(ctx, docs, actor),
    ingestPath: (paths, options) => ingestPath(ctx, paths, options),
    revoke: (ref, actor) => revokeDocument(ctx, ref, actor),
    retrieve: (request, options) => {
      const { principal, ...rest } = request;
      return retrieve(ctx, settings, limiter, principal, rest, options);
    },
    getBundle: (id) => getBundle(deps.store.db, id),
    getDocument: (id) => getDocument(deps.store.db, id),
    listDocuments: (principal, options) => listDocuments(deps.store.db, principal, options),
    bundleFreshness: (id) => bundleFreshness(deps.store.db, id),
    syncVectors: () => syncVectorIndex(ctx),
    reindex,
    watch,
    termLists,
    close: () => termLists.close(),
  };
}
