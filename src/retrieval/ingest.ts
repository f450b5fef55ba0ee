// Ingestion: documents → chunks → vectors → SQLite (system of record: documents, versions,
// chunks with a vector copy, readers, FTS5) in one transaction per batch, then the vector
// index (Chroma) is brought in step. Re-ingesting unchanged content does nothing; changed
// content becomes a new version whose old chunks leave both indexes. A vector write that fails
// after the commit never undoes or hides it: the answer says the vectors are pending, and a
// background retry writes them.
import { canonicalJson, isWritError, newId, nowIso, parseInput, sha256Hex, type Clock, type JsonValue } from '../core/index.js';
import { noteSearchableWrite } from './generation.js';
import type { TermLists } from './term-lists.js';
import { statement, type CommitGroup, type Db, type Store } from '../store/index.js';
import type { Ledger, LedgerAppend } from '../ledger/types.js';
import type { Embedder } from './embedder-types.js';
import { isZeroVector } from './embedder-types.js';
import { chunkText, type ChunkingOptions } from './chunking.js';
import { DocumentInputSchema, type DocumentInput, type IngestOutcome, type RevokeOutcome, type VectorIndexPort, type VectorState, type VectorWarning } from './types.js';
import { WritError } from '../core/index.js';
import { RetrievalErrors } from './errors.js';
import type { VectorCache } from './dense.js';

/** Everything the ingest and search code shares. */
export interface RetrievalContext {
  readonly store: Store;
  readonly ledger: Ledger;
  readonly embedder: Embedder;
  vectorIndex: VectorIndexPort;
  readonly chunking: ChunkingOptions;
  readonly embedBatchSize: number;
  readonly clock: Clock;
  /** Serializes vector-index syncs. */
  syncChain: Promise<unknown>;
  /** When a search last asked the vector index (ms since epoch; 0: never): the sync sends smaller batches while searches run. */
  lastIndexQueryAt: number;
  /** In-process copy of chunk vectors read from SQLite. */
  readonly vectorCache: VectorCache;
  /** Stores the bundles of concurrent retrievals with one commit per turn of the event loop. */
  readonly commits: CommitGroup;
  /** Per-word BM25 score lists for lexical ranking without FTS5 scoring every match (absent: FTS5 only). */
  readonly termLists?: TermLists;
  /** The background retry of a vector sync that failed after a commit. */
  readonly vectorRetry: VectorRetryState;
}

/** When the next attempt to push pending vectors runs (see `retryVectorSyncLater`). */
export interface VectorRetryState {
  timer: NodeJS.Timeout | undefined;
  /** Wait before the next attempt: `firstDelayMs`, doubled after each failure up to `maxDelayMs`. */
  delayMs: number;
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
  /** Set when retrieval closes: nothing more is scheduled. */
  stopped: boolean;
}

/** Who caused an ingest (recorded in the ledger). */
export interface ActorContext {
  readonly actorId?: string | null;
  readonly requestId?: string | null;
}

interface DocRow {
  id: string;
  content_hash: string;
  status: string;
  revoked_reason: string | null;
  current_version: number;
  readers: string;
  labels: string;
}

/** The text embedded for a chunk: its heading path, then the chunk. */
function embeddingText(heading: string, text: string): string {
  return heading ? `${heading}\n${text}` : text;
}

/** Float32Array → BLOB (little-endian, as the platform stores it). */
export function vectorToBlob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** BLOB → Float32Array (copied, so alignment never matters). */
export function blobToVector(b: Uint8Array): Float32Array {
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** Embeds texts in batches; NaN never leaves this function (zero rows mean "no signal"). */
export async function embedAll(embedder: Embedder, texts: readonly string[], batchSize: number): Promise<Float32Array[]> {
  // Batches of similar length pad less: embed in length order, return in input order.
  const order = texts.map((_, i) => i).sort((a, b) => (texts[a] as string).length - (texts[b] as string).length);
  const out = new Array<Float32Array>(texts.length);
  for (let i = 0; i < order.length; i += batchSize) {
    const idx = order.slice(i, i + batchSize);
    const rows = await embedder.embed(idx.map((j) => texts[j] as string));
    rows.forEach((row, n) => {
      // Guard: a NaN vector silently poisons a Chroma collection.
      let ok = row.length === embedder.dimension;
      for (let j = 0; ok && j < row.length; j++) if (!Number.isFinite(row[j] as number)) ok = false;
      out[idx[n] as number] = ok ? row : new Float32Array(embedder.dimension);
    });
  }
  return out;
}

/** One `appendMany` when the ledger has it (one chain pass and one anchor flush), else one append each. */
function appendAll(ledger: Ledger, entries: readonly LedgerAppend[]): void {
  if (entries.length === 0) return;
  const many = (ledger as Ledger & { appendMany?: (e: readonly LedgerAppend[]) => unknown }).appendMany;
  if (typeof many === 'function') many.call(ledger, entries);
  else for (const e of entries) ledger.append(e);
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
};

type ParsedDocument = ReturnType<typeof parseDocument>;
type IngestKind = IngestOutcome['status'];
/** What a batch's transaction wrote for one document, before the vector index is asked. */
type Written = Omit<IngestOutcome, 'vectors' | 'warning'>;

/** A document of the batch with what does not depend on the stored row: hash, readers, labels. */
interface Prepared {
  readonly doc: ParsedDocument;
  readonly hash: string;
  readonly readers: string[];
  readonly labels: string[];
}

/** A document's chunks and their vectors (they depend on its text alone, so they survive a re-plan). */
interface Embedded {
  readonly chunks: ReturnType<typeof chunkText>;
  readonly vectors: Float32Array[];
}

function parseDocument(d: DocumentInput, i: number) {
  return parseInput(DocumentInputSchema, d, `document ${i + 1}`);
}

const keyOf = (doc: ParsedDocument): string => `${doc.tenant}\u0000${doc.sourceUri}`;

function prepare(doc: ParsedDocument): Prepared {
  return {
    doc,
    hash: `sha256:${sha256Hex(canonicalJson({ title: doc.title, text: doc.text }))}`,
    readers: [...new Set(doc.readers)].sort(),
    labels: [...new Set(doc.labels)].sort(),
  };
}

/** What ingesting `p` over the stored row `existing` does. */
function classify(p: Prepared, existing: DocRow | undefined, keepRevoked: boolean): IngestKind {
  if (existing === undefined) return 'created';
  // INVARIANT: a folder ingest never undoes a revocation: the same text stays revoked (only a
  // file that had left the folder comes back with it); new text, or an explicit ingest, restores.
  if (keepRevoked && existing.status === 'revoked' && existing.content_hash === p.hash && existing.revoked_reason !== 'source_gone') return 'kept_revoked';
  if (existing.content_hash !== p.hash || existing.status !== 'active') return 'updated';
  if (!sameSet(JSON.parse(existing.readers) as string[], p.readers) || !sameSet(JSON.parse(existing.labels) as string[], p.labels)) return 'readers_changed';
  return 'unchanged';
}

const needsChunks = (kind: IngestKind): boolean => kind === 'created' || kind === 'updated';

const FIND_DOC = 'SELECT id, content_hash, status, revoked_reason, current_version, readers, labels FROM documents WHERE tenant = ? AND source_uri = ?';

/** Chunks and embeds the given documents (one embedding pass for all of them). */
async function embedDocuments(ctx: RetrievalContext, docs: readonly Prepared[]): Promise<Map<string, Embedded>> {
  const chunked = docs.map((p) => ({ p, chunks: chunkText(p.doc.text, { ...ctx.chunking, markdown: p.doc.format === 'markdown' }) }));
  const texts = chunked.flatMap(({ chunks }) => chunks.map((c) => embeddingText(c.heading, c.text)));
  const vectors = texts.length > 0 ? await embedAll(ctx.embedder, texts, ctx.embedBatchSize) : [];
  const out = new Map<string, Embedded>();
  let offset = 0;
  for (const { p, chunks } of chunked) {
    out.set(keyOf(p.doc), { chunks, vectors: vectors.slice(offset, offset + chunks.length) });
    offset += chunks.length;
  }
  return out;
}

/** Options of `ingest`. */
export interface IngestOptions extends VectorWaitOptions {
  /**
   * Leave a revoked document revoked when its text is unchanged (outcome `kept_revoked`),
   * unless it was revoked because its file had left the folder. Folder ingests set it: they
   * sync a folder, they do not undo a revocation. Default false: an explicit ingest restores.
   */
  readonly keepRevoked?: boolean;
}

/** How long an ingest or revoke waits for the vector index once SQLite has committed. */
export interface VectorWaitOptions {
  /**
   * Answer after at most this many ms of the vector write (0: do not wait); vectors not
   * written by then are reported `pending` and written in the background. Default: until done.
   */
  readonly vectorWaitMs?: number;
  /**
   * The same as a time (epoch ms): the wait is what is left of it once SQLite has committed,
   * so time spent embedding counts against it (an HTTP route's time limit). Wins over `vectorWaitMs`.
   */
  readonly vectorWaitUntil?: number;
}

/** How long to wait for the vector index now, from `vectorWaitUntil` or `vectorWaitMs`. */
function vectorWaitOf(options: VectorWaitOptions): number | undefined {
  return options.vectorWaitUntil !== undefined ? Math.max(0, options.vectorWaitUntil - Date.now()) : options.vectorWaitMs;
}

/**
 * Ingests a batch of documents. Unchanged documents are skipped; changed ones get a new
 * version. One SQLite transaction covers the whole batch (with its ledger entries); the
 * vector index is synced afterwards (a crash in between leaves pending rows that the next
 * sync or `reindex()` pushes). Once the transaction has committed the call succeeds: a vector
 * index that fails (Chroma down) makes each affected outcome `vectors: 'pending'` with the
 * error as its `warning`, never an error of the call.
 *
 * Concurrent ingests of the same source serialize: each one's transaction decides against
 * the row as committed then (the later one updates what the earlier one wrote, or finds it
 * unchanged), so neither fails and the batch's other documents are stored either way.
 */
export async function ingestDocuments(
  ctx: RetrievalContext,
  inputs: readonly DocumentInput[],
  actor: ActorContext = {},
  options: IngestOptions & { deferVectorSync?: boolean } = {},
): Promise<IngestOutcome[]> {
  const keepRevoked = options.keepRevoked === true;
  const docs = inputs.map(parseDocument);
  // Last occurrence of a source wins within one batch.
  const bySource = new Map<string, ParsedDocument>();
  for (const d of docs) bySource.set(keyOf(d), d);
  const prepared = [...bySource.values()].map(prepare);

  const findDoc = ctx.store.db.prepare(FIND_DOC);
  const embedded = await embedDocuments(ctx, prepared.filter((p) => needsChunks(classify(p, findDoc.get(p.doc.tenant, p.doc.sourceUri) as DocRow | undefined, keepRevoked))));
  for (;;) {
    const written = writeBatch(ctx, prepared, embedded, actor, keepRevoked);
    if (written !== undefined) {
      noteSearchableWrite(ctx.store.db);
      const ids = written.map((o) => o.documentId);
      // A document re-sent while its vectors are pending (say by a client retrying) gets them written now.
      const hasWork = written.some((o) => needsChunks(o.status)) || pendingDocuments(ctx.store.db, ids).size > 0;
      const warning = hasWork ? await syncAfterCommit(ctx, options.deferVectorSync ? 0 : vectorWaitOf(options)) : undefined;
      const pending = pendingDocuments(ctx.store.db, ids);
      return written.map((o) => ({ ...o, ...vectorStateOf(pending.has(o.documentId), warning) }));
    }
    // Another writer changed a document meanwhile so that it now needs chunks it was not
    // given: embed those and decide again. Chunks depend only on the text, so each document
    // is embedded at most once and this loop ends.
    const missing = prepared.filter((p) => !embedded.has(keyOf(p.doc)) && needsChunks(classify(p, findDoc.get(p.doc.tenant, p.doc.sourceUri) as DocRow | undefined, keepRevoked)));
    for (const [key, value] of await embedDocuments(ctx, missing)) embedded.set(key, value);
  }
}

/**
 * Writes the batch in one transaction, deciding each document against its row as read inside
 * that transaction. Returns undefined, having written nothing, when a document needs chunks
 * that are not in `embedded`.
 */
function writeBatch(ctx: RetrievalContext, prepared: readonly Prepared[], embedded: ReadonlyMap<string, Embedded>, actor: ActorContext, keepRevoked: boolean): Written[] | undefined {
  const at = nowIso(ctx.clock);
  return ctx.store.transaction((tx) => {
    const findDoc = tx.prepare(FIND_DOC);
    // INVARIANT: a document is written against the row committed now, never a row read before
    // an await: two ingests of one source could otherwise both insert it or both make version n + 1.
    const plans = prepared.map((p) => {
      const existing = findDoc.get(p.doc.tenant, p.doc.sourceUri) as DocRow | undefined;
      return { ...p, existing, kind: classify(p, existing, keepRevoked), embedded: embedded.get(keyOf(p.doc)) };
    });
    if (plans.some((p) => needsChunks(p.kind) && p.embedded === undefined)) return undefined;
    const insDoc = tx.prepare(
      `INSERT INTO documents (id, tenant, source_uri, title, labels, readers, current_version, content_hash, chunk_count, status, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, 'active', ?, ?)`,
    );
    const updDoc = tx.prepare(
      `UPDATE documents SET title = ?, labels = ?, readers = ?, current_version = ?, content_hash = ?, chunk_count = ?, status = 'active', revoked_reason = NULL, updated_at = ? WHERE id = ?`,
    );
    const updAcl = tx.prepare('UPDATE documents SET labels = ?, readers = ?, updated_at = ? WHERE id = ?');
    const insVersion = tx.prepare('INSERT INTO document_versions (document_id, version, content_hash, chunk_count, created_at, title) VALUES (?, ?, ?, ?, ?, ?)');
    const supersede = tx.prepare('UPDATE document_versions SET superseded_at = ? WHERE document_id = ? AND version = ? AND superseded_at IS NULL');
    const delReaders = tx.prepare('DELETE FROM document_readers WHERE document_id = ?');
    const insReader = tx.prepare('INSERT INTO document_readers (document_id, reader) VALUES (?, ?)');
    const delFts = tx.prepare('DELETE FROM chunks_fts WHERE rowid IN (SELECT seq FROM chunks WHERE document_id = ? AND active = 1)');
    const deactivate = tx.prepare('UPDATE chunks SET active = 0 WHERE document_id = ? AND active = 1');
    const insChunk = tx.prepare(
      `INSERT INTO chunks (id, document_id, tenant, version, ordinal, heading, text, content_hash, char_start, char_end, active, in_vector_index)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`,
    );
    const insVector = tx.prepare('INSERT INTO chunk_vectors (seq, vector) VALUES (?, ?)');
    const insFts = tx.prepare('INSERT INTO chunks_fts (rowid, title, heading, body) VALUES (?, ?, ?, ?)');

    const result: Written[] = [];
    // The batch's ledger entries, appended together (in plan order) before the transaction commits.
    const entries: LedgerAppend[] = [];
    for (const p of plans) {
      const { doc } = p;
      if (p.kind === 'unchanged' || p.kind === 'kept_revoked') {
        result.push({ documentId: p.existing!.id, sourceUri: doc.sourceUri, version: p.existing!.current_version, status: p.kind, chunks: 0 });
        continue;
      }
      let documentId: string;
      let version: number;
      if (p.kind === 'readers_changed') {
        documentId = p.existing!.id;
        version = p.existing!.current_version;
        // INVARIANT: an ACL change applies to search at once (readers are read at query time).
        updAcl.run(JSON.stringify(p.labels), JSON.stringify(p.readers), at, documentId);
        delReaders.run(documentId);
        for (const r of p.readers) insReader.run(documentId, r);
        entries.push({
          kind: 'document.readers_changed',
          subjectId: documentId,
          tenant: doc.tenant,
          actorId: actor.actorId ?? null,
          requestId: actor.requestId ?? null,
          refs: [documentId],
          body: { documentId, version, sourceUri: doc.sourceUri, readers: p.readers, labels: p.labels } as JsonValue,
        });
        result.push({ documentId, sourceUri: doc.sourceUri, version, status: 'readers_changed', chunks: 0 });
        continue;
      }
      const { chunks, vectors } = p.embedded as Embedded;
      if (p.kind === 'created') {
        documentId = newId('doc');
        version = 1;
        insDoc.run(documentId, doc.tenant, doc.sourceUri, doc.title, JSON.stringify(p.labels), JSON.stringify(p.readers), p.hash, chunks.length, at, at);
      } else {
        documentId = p.existing!.id;
        version = p.existing!.current_version + 1;
        // INVARIANT: old chunks leave the lexical index and become inactive in the same
        // transaction that makes the new version current; search re-checks `active`.
        delFts.run(documentId);
        deactivate.run(documentId);
        supersede.run(at, documentId, p.existing!.current_version);
        updDoc.run(doc.title, JSON.stringify(p.labels), JSON.stringify(p.readers), version, p.hash, chunks.length, at, documentId);
        delReaders.run(documentId);
      }
      insVersion.run(documentId, version, p.hash, chunks.length, at, doc.title);
      for (const r of p.readers) insReader.run(documentId, r);
      chunks.forEach((c, i) => {
        const v = vectors[i] as Float32Array;
        const zero = isZeroVector(v);
        const info = insChunk.run(
          newId('chk'), documentId, doc.tenant, version, c.ordinal, c.heading, c.text, `sha256:${sha256Hex(c.text)}`, c.charStart, c.charEnd, zero ? 1 : 0,
        );
        if (!zero) insVector.run(info.lastInsertRowid, vectorToBlob(v));
        insFts.run(info.lastInsertRowid, doc.title, c.heading, c.text);
      });
      entries.push({
        kind: p.kind === 'created' ? 'document.ingested' : 'document.updated',
        subjectId: documentId,
        tenant: doc.tenant,
        actorId: actor.actorId ?? null,
        requestId: actor.requestId ?? null,
        refs: [documentId],
        body: { documentId, version, sourceUri: doc.sourceUri, title: doc.title, contentHash: p.hash, chunks: chunks.length, readers: p.readers, labels: p.labels } as JsonValue,
      });
      result.push({ documentId, sourceUri: doc.sourceUri, version, status: p.kind, chunks: chunks.length });
    }
    appendAll(ctx.ledger, entries);
    return result;
  });
}

/**
 * Revokes a document: its chunks leave SQLite search (FTS rows deleted, chunks inactive)
 * in one transaction, then the vector index. Revoking twice is a no-op (but pushes vectors
 * still pending). Once the transaction has committed the call succeeds: if Chroma cannot drop
 * the vectors they are reported `pending` (search never returns them: it re-checks SQLite).
 */
export async function revokeDocument(
  ctx: RetrievalContext,
  ref: { documentId: string } | { tenant: string; sourceUri: string },
  actor: ActorContext = {},
  options: VectorWaitOptions & {
    /** Why: `request` (default) stays revoked through folder ingests; `source_gone` (its file left the folder) comes back with the file. */
    reason?: 'request' | 'source_gone';
  } = {},
): Promise<RevokeOutcome> {
  const at = nowIso(ctx.clock);
  const out = ctx.store.transaction((tx) => {
    const row = (
      'documentId' in ref
        ? tx.prepare('SELECT id, tenant, status, revoked_reason, current_version, source_uri FROM documents WHERE id = ?').get(ref.documentId)
        : tx.prepare('SELECT id, tenant, status, revoked_reason, current_version, source_uri FROM documents WHERE tenant = ? AND source_uri = ?').get(ref.tenant, ref.sourceUri)
    ) as { id: string; tenant: string; status: string; revoked_reason: string | null; current_version: number; source_uri: string } | undefined;
    if (row === undefined) {
      throw new WritError(RetrievalErrors.RETRIEVAL_DOCUMENT_NOT_FOUND, 'documentId' in ref ? `no document \`${ref.documentId}\`` : `no document \`${ref.sourceUri}\` in tenant \`${ref.tenant}\``, {
        details: { ...ref },
      });
    }
    const reason = options.reason ?? 'request';
    const recordRevoked = (extra: Record<string, JsonValue> = {}): void => {
      ctx.ledger.append({
        kind: 'document.revoked',
        subjectId: row.id,
        tenant: row.tenant,
        actorId: actor.actorId ?? null,
        requestId: actor.requestId ?? null,
        refs: [row.id],
        body: { documentId: row.id, version: row.current_version, sourceUri: row.source_uri, reason, ...extra },
      });
    };
    if (row.status === 'revoked') {
      // INVARIANT: a revocation on request sticks, also over one made because the file left
      // the folder (which would otherwise come back with the file): the reason is raised and recorded.
      if (reason === 'request' && row.revoked_reason === 'source_gone') {
        tx.prepare("UPDATE documents SET revoked_reason = 'request', updated_at = ? WHERE id = ?").run(at, row.id);
        recordRevoked({ wasRevoked: 'source_gone' });
      }
      return { documentId: row.id, version: row.current_version, revoked: false };
    }
    // INVARIANT: revocation removes the chunks from search in this transaction (SQLite first);
    // the vector index may lag, and search re-checks SQLite, so it can never return them.
    tx.prepare('DELETE FROM chunks_fts WHERE rowid IN (SELECT seq FROM chunks WHERE document_id = ? AND active = 1)').run(row.id);
    tx.prepare('UPDATE chunks SET active = 0 WHERE document_id = ? AND active = 1').run(row.id);
    tx.prepare("UPDATE documents SET status = 'revoked', revoked_reason = ?, updated_at = ? WHERE id = ?").run(reason, at, row.id);
    tx.prepare('UPDATE document_versions SET revoked_at = ? WHERE document_id = ? AND version = ?').run(at, row.id, row.current_version);
    recordRevoked();
    return { documentId: row.id, version: row.current_version, revoked: true };
  });
  noteSearchableWrite(ctx.store.db);
  const hasWork = out.revoked || pendingDocuments(ctx.store.db, [out.documentId]).size > 0;
  const warning = hasWork ? await syncAfterCommit(ctx, vectorWaitOf(options)) : undefined;
  return { ...out, ...vectorStateOf(pendingDocuments(ctx.store.db, [out.documentId]).size > 0, warning) };
}

function vectorStateOf(isPending: boolean, warning: VectorWarning | undefined): { vectors: VectorState; warning?: VectorWarning } {
  if (!isPending) return { vectors: 'synced' };
  return warning === undefined ? { vectors: 'pending' } : { vectors: 'pending', warning };
}

/** The documents among `documentIds` with chunks whose vectors the index does not hold, or still holds, against SQLite. */
export function pendingDocuments(db: Db, documentIds: readonly string[]): Set<string> {
  const probe = statement(db, 'SELECT 1 FROM chunks WHERE document_id = ? AND active <> in_vector_index LIMIT 1').pluck();
  return new Set([...new Set(documentIds)].filter((id) => probe.get(id) !== undefined));
}

/** True when any chunk waits for the vector index (to be added or removed). Reads the partial index of pending rows. */
export function hasPendingVectors(db: Db): boolean {
  return statement(db, 'SELECT 1 FROM chunks WHERE active <> in_vector_index LIMIT 1').pluck().get() !== undefined;
}

/**
 * Pushes what SQLite committed to the vector index and says why it could not, without ever
 * throwing: the commit stands whatever Chroma does. A failed sync schedules a background
 * retry. With `waitMs` the answer comes after at most that long (0: at once, no warning)
 * while the sync goes on.
 */
export async function syncAfterCommit(ctx: RetrievalContext, waitMs?: number): Promise<VectorWarning | undefined> {
  const sync = syncVectorIndex(ctx);
  sync.then(
    () => {
      ctx.vectorRetry.delayMs = ctx.vectorRetry.firstDelayMs;
    },
    () => retryVectorSyncLater(ctx),
  );
  if (waitMs === 0) return undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    if (waitMs === undefined) await sync;
    else {
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new WritError(RetrievalErrors.RETRIEVAL_CHROMA_UNAVAILABLE, `the vector index did not finish within \`${waitMs}\` ms: the vectors are written in the background`, { details: { waitMs } })),
          waitMs,
        );
      });
      await Promise.race([sync, late]);
    }
    return undefined;
  } catch (err) {
    const code = isWritError(err) ? err.code : RetrievalErrors.RETRIEVAL_VECTOR_INDEX_FAILED;
    return { code, message: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Schedules one more attempt to push pending vectors, unless one is scheduled already or
 * retrieval has closed. Each failure doubles the wait (up to `maxDelayMs`); any successful
 * sync resets it. The timer never keeps the process alive.
 */
export function retryVectorSyncLater(ctx: RetrievalContext, delayMs = ctx.vectorRetry.delayMs): void {
  const retry = ctx.vectorRetry;
  if (retry.stopped || retry.timer !== undefined) return;
  retry.timer = setTimeout(() => {
    retry.timer = undefined;
    syncVectorIndex(ctx).then(
      () => {
        retry.delayMs = retry.firstDelayMs;
      },
      () => {
        retry.delayMs = Math.min(retry.delayMs * 2, retry.maxDelayMs);
        retryVectorSyncLater(ctx);
      },
    );
  }, delayMs);
  retry.timer.unref();
}

/** Stops the background retry (retrieval is closing). */
export function stopVectorRetry(ctx: RetrievalContext): void {
  ctx.vectorRetry.stopped = true;
  clearTimeout(ctx.vectorRetry.timer);
  ctx.vectorRetry.timer = undefined;
}

/**
 * Brings the vector index in step with SQLite: upserts active chunks not yet indexed and
 * deletes inactive ones still indexed. Safe to call any time; calls are serialized.
 * Returns how many rows it pushed and removed.
 */
/** Rows per upsert while nobody searches the index: Chroma indexes large batches with the least CPU per row. */
const SYNC_BATCH = 4096;
/**
 * Rows per upsert while searches use the index (one in the last few seconds): a search that
 * arrives while Chroma indexes a batch waits for it, so batches shrink. Measured (bench/retrieval.ts
 * --sizes 5000,30000 --ingest-only, broad dense queries once a second during a 25k ingest, load
 * ~1.7–2): 4096 rows: query p50 89–172 ms, max 477–685 ms, 1,817–1,971 chunks/s end to end;
 * 512 rows: p50 39–70 ms, max 92–153 ms, 1,514–1,718 chunks/s.
 */
const SYNC_BATCH_WHILE_SEARCHED = 512;
const SEARCHED_RECENTLY_MS = 5_000;

export function syncVectorIndex(ctx: RetrievalContext, batch = SYNC_BATCH): Promise<{ upserted: number; deleted: number }> {
  const run = async (): Promise<{ upserted: number; deleted: number }> => {
    const db = ctx.store.db;
    let upserted = 0;
    let deleted = 0;
    // `active <> in_vector_index` lets SQLite use the partial index of pending rows instead of
    // scanning every chunk (which cost O(all chunks) per batch).
    const pendingDel = db.prepare('SELECT seq, id FROM chunks WHERE active <> in_vector_index AND active = 0 AND in_vector_index = 1 LIMIT ?');
    const pendingUp = db.prepare(
      'SELECT c.seq, c.id, c.document_id, c.tenant, c.version, v.vector FROM chunks c LEFT JOIN chunk_vectors v ON v.seq = c.seq WHERE c.active <> c.in_vector_index AND c.active = 1 AND c.in_vector_index = 0 AND c.seq > ? ORDER BY c.seq LIMIT ?',
    );
    const mark = (value: 0 | 1, seqs: number[]): void => {
      ctx.store.transaction((tx) => {
        tx.prepare(`UPDATE chunks SET in_vector_index = ? WHERE seq IN (SELECT value FROM json_each(?))`).run(value, JSON.stringify(seqs));
      });
    };
    try {
      for (;;) {
        const rows = pendingDel.all(batch) as Array<{ seq: number; id: string }>;
        if (rows.length === 0) break;
        await ctx.vectorIndex.delete(rows.map((r) => r.id));
        mark(0, rows.map((r) => r.seq));
        deleted += rows.length;
      }
      // Up to two upserts in flight: Chroma parses and indexes one batch while the next is
      // read and serialized here. Rows are taken in `seq` order past the last one sent, so the
      // two never overlap; each batch is marked once Chroma has acknowledged it.
      let lastSeq = 0;
      const inFlight = new Set<Promise<void>>();
      let failure: unknown;
      for (;;) {
        const size = Date.now() - ctx.lastIndexQueryAt < SEARCHED_RECENTLY_MS ? Math.min(batch, SYNC_BATCH_WHILE_SEARCHED) : batch;
        const rows = pendingUp.all(lastSeq, size) as Array<{ seq: number; id: string; document_id: string; tenant: string; version: number; vector: Buffer | null }>;
        if (rows.length === 0) break;
        lastSeq = (rows[rows.length - 1] as { seq: number }).seq;
        const withVectors = rows.filter((r) => r.vector !== null);
        const send = (async () => {
          if (withVectors.length > 0) {
            await ctx.vectorIndex.upsert(
              withVectors.map((r) => ({
                id: r.id,
                vector: blobToVector(r.vector as Buffer),
                metadata: { tenant: r.tenant, document_id: r.document_id, version: r.version },
              })),
            );
          }
          mark(1, rows.map((r) => r.seq));
          upserted += withVectors.length;
        })();
        const tracked: Promise<void> = send.then(
          () => void inFlight.delete(tracked),
          (e: unknown) => {
            inFlight.delete(tracked);
            failure ??= e;
          },
        );
        inFlight.add(tracked);
        if (inFlight.size >= 2) await Promise.race(inFlight);
        if (failure !== undefined) break;
      }
      await Promise.all(inFlight);
      if (failure !== undefined) throw failure;
    } catch (cause) {
      if (cause instanceof WritError) throw cause;
      throw new WritError(RetrievalErrors.RETRIEVAL_VECTOR_INDEX_FAILED, `vector index sync failed: ${(cause as Error).message}`, { cause });
    }
    return { upserted, deleted };
  };
  const next = ctx.syncChain.then(run, run);
  ctx.syncChain = next.catch(() => undefined);
  return next;
}
