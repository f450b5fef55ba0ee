// Folder ingest: lists loadable files, ingests them in batches with progress events
// (count, rate, ETA), and records a job so an interrupted run resumes where it stopped.
// Content hashing makes re-runs idempotent; the job table skips files already done. A file
// that cannot be loaded (bad JSON, not UTF-8, a lone surrogate, markup too deep to convert,
// a document that breaks a bound) or a folder entry that cannot be listed (a dangling link,
// a subfolder without permission) is reported and left pending; the others are ingested,
// and a rerun retries only what is left.
import { statSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import { canonicalJson, isWritError, nowIso, parseInput, sha256Hex } from '../core/index.js';
import { hasPendingVectors, ingestDocuments, revokeDocument, syncAfterCommit, type ActorContext, type RetrievalContext } from './ingest.js';
import { RetrievalErrors } from './errors.js';
import { listLoadableFiles, loadFile, type RecordFields } from './loaders.js';
import { DocumentInputSchema, type DocumentInput, type IngestOutcome, type VectorState, type VectorWarning } from './types.js';

/** One progress event of a folder ingest. */
export interface IngestProgress {
  readonly jobId: string;
  readonly resumed: boolean;
  readonly filesDone: number;
  readonly filesTotal: number;
  readonly documents: number;
  readonly chunks: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly elapsedMs: number;
  readonly chunksPerSecond: number;
  /** Estimated seconds left (by bytes), null before the first batch. */
  readonly etaSeconds: number | null;
}

/** Options of `ingestPath`. */
export interface IngestPathOptions extends ActorContext {
  readonly tenant: string;
  readonly readers: readonly string[];
  readonly labels?: readonly string[];
  /** JSON/JSONL record fields. */
  readonly fields?: RecordFields;
  readonly onProgress?: (p: IngestProgress) => void;
  /** Aborting stops after the current batch; rerunning the same ingest resumes. */
  readonly signal?: AbortSignal;
  /** Characters of text per batch (default 1,000,000). */
  readonly batchChars?: number;
  /**
   * After a complete run, revoke the tenant's active documents under the given paths whose
   * file is gone (or no longer loadable): the paths are the whole truth, as a workspace's
   * document folders are. A file that failed to load keeps its documents, and so does every
   * file under a folder entry that could not be listed. Default false.
   */
  readonly revokeMissing?: boolean;
}

/** A file a folder ingest could not take, with the typed error that says why. */
export interface IngestFileFailure {
  readonly path: string;
  readonly code: string;
  readonly message: string;
}

/** Summary of a folder ingest. */
export interface IngestPathSummary {
  readonly jobId: string;
  readonly resumed: boolean;
  readonly interrupted: boolean;
  readonly filesTotal: number;
  readonly filesSkipped: number;
  readonly created: number;
  readonly updated: number;
  readonly unchanged: number;
  /** Revoked documents whose file is unchanged: left revoked (a folder ingest never undoes a revocation). */
  readonly keptRevoked: number;
  readonly chunks: number;
  readonly elapsedMs: number;
  readonly chunksPerSecond: number;
  /**
   * Files not ingested, and folder entries that could not be listed (a dangling link, a
   * subfolder without permission): each still pending in the job: fix them and rerun to resume.
   */
  readonly failed: readonly IngestFileFailure[];
  /** Documents revoked because their file is gone (`revokeMissing` only). */
  readonly revoked: number;
  /**
   * `pending` when the vector index could not be brought in step at the end (Chroma down):
   * everything counted above is stored all the same; the vectors follow (a background retry,
   * the next ingest or start, `writ reindex`).
   */
  readonly vectors: VectorState;
  /** Why vectors are pending: the vector index's error. */
  readonly warning?: VectorWarning;
}

/**
 * Ingests files and folders (Markdown, text, HTML, JSON/JSONL) for one tenant.
 */
export async function ingestPath(ctx: RetrievalContext, paths: readonly string[], options: IngestPathOptions): Promise<IngestPathSummary> {
  const started = Date.now();
  // An entry of a folder that cannot be listed (a dangling link, a subfolder without
  // permission) or a file gone since it was listed is one failure; the rest is ingested.
  const failed: IngestFileFailure[] = [];
  const stats = new Map<string, Stats>();
  for (const f of listLoadableFiles(paths, failed)) {
    try {
      stats.set(f, statSync(f));
    } catch (cause) {
      failed.push({ path: f, code: RetrievalErrors.RETRIEVAL_LOAD_FAILED, message: `cannot read \`${f}\`: ${(cause as Error).message}` });
    }
  }
  // Documents under these paths keep their state: what is there could not be seen.
  const unlisted = failed.map((f) => f.path);
  const files = [...stats.keys()];
  const sizes = new Map(files.map((f) => [f, (stats.get(f) as Stats).size]));
  const bytesTotal = [...sizes.values()].reduce((a, b) => a + b, 0);
  const db = ctx.store.db;
  const jobKey = sha256Hex(
    canonicalJson({ tenant: options.tenant, roots: paths.map((p) => resolve(p)).sort(), readers: [...options.readers].sort(), labels: [...(options.labels ?? [])].sort(), fields: { ...(options.fields ?? {}) } }),
  );
  const at = nowIso(ctx.clock);
  const existing = db.prepare("SELECT id FROM ingest_jobs WHERE job_key = ? AND status = 'running' ORDER BY created_at DESC LIMIT 1").get(jobKey) as { id: string } | undefined;
  const resumed = existing !== undefined;
  const jobId = existing?.id ?? `ing_${randomUUID()}`;
  ctx.store.transaction((tx) => {
    if (!resumed) {
      tx.prepare("INSERT INTO ingest_jobs (id, job_key, tenant, roots, status, total, done, created_at, updated_at) VALUES (?, ?, ?, ?, 'running', ?, 0, ?, ?)").run(
        jobId, jobKey, options.tenant, JSON.stringify(paths.map((p) => resolve(p))), files.length, at, at,
      );
    }
    const ins = tx.prepare('INSERT OR IGNORE INTO ingest_job_files (job_id, path, done) VALUES (?, ?, 0)');
    for (const f of files) ins.run(jobId, f);
    tx.prepare('UPDATE ingest_jobs SET total = (SELECT count(*) FROM ingest_job_files WHERE job_id = ?), updated_at = ? WHERE id = ?').run(jobId, at, jobId);
  });
  // A file done by an earlier run is skipped only if it is still as it was then (size and
  // modification time); one edited since is ingested again.
  const done = new Set(
    (db.prepare('SELECT path, size, mtime_ms FROM ingest_job_files WHERE job_id = ? AND done = 1').all(jobId) as Array<{ path: string; size: number | null; mtime_ms: number | null }>)
      .filter((r) => {
        const st = stats.get(r.path);
        return st !== undefined && r.size === st.size && r.mtime_ms === st.mtimeMs;
      })
      .map((r) => r.path),
  );
  const markDone = (paths: string[]): void => {
    if (paths.length === 0) return;
    ctx.store.transaction((tx) => {
      const upd = tx.prepare('UPDATE ingest_job_files SET done = 1, size = ?, mtime_ms = ? WHERE job_id = ? AND path = ?');
      for (const p of paths) upd.run(stats.get(p)?.size ?? null, stats.get(p)?.mtimeMs ?? null, jobId, p);
      tx.prepare('UPDATE ingest_jobs SET done = (SELECT count(*) FROM ingest_job_files WHERE job_id = ? AND done = 1), updated_at = ? WHERE id = ?').run(jobId, nowIso(ctx.clock), jobId);
    });
  };

  let bytesDone = 0;
  let filesDone = 0;
  const skipped = files.filter((f) => done.has(f));
  for (const f of skipped) {
    bytesDone += sizes.get(f) ?? 0;
    filesDone++;
  }
  const startBytes = bytesDone;
  const counts = { created: 0, updated: 0, unchanged: 0, keptRevoked: 0, chunks: 0, documents: 0 };
  const batchChars = options.batchChars ?? 1_000_000;
  let batch: DocumentInput[] = [];
  let batchLen = 0;
  // Files whose documents are all in `batch` (or earlier batches) and wait for its commit.
  let waiting: string[] = [];
  let interrupted = false;

  const report = (): void => {
    if (!options.onProgress) return;
    const elapsedMs = Date.now() - started;
    const rate = elapsedMs > 0 ? (counts.chunks * 1000) / elapsedMs : 0;
    const bytesRate = elapsedMs > 0 ? (bytesDone - startBytes) / elapsedMs : 0;
    options.onProgress({
      jobId, resumed, filesDone, filesTotal: files.length, documents: counts.documents, chunks: counts.chunks, bytesDone, bytesTotal, elapsedMs,
      chunksPerSecond: Math.round(rate),
      etaSeconds: bytesRate > 0 ? Math.max(0, Math.round((bytesTotal - bytesDone) / bytesRate / 1000)) : null,
    });
  };
  const tally = (outs: IngestOutcome[]): void => {
    for (const o of outs) {
      counts.documents++;
      counts.chunks += o.chunks;
      if (o.status === 'created') counts.created++;
      else if (o.status === 'updated') counts.updated++;
      else if (o.status === 'kept_revoked') counts.keptRevoked++;
      else counts.unchanged++;
    }
  };
  const flush = async (): Promise<void> => {
    if (batch.length > 0) tally(await ingestDocuments(ctx, batch, options, { deferVectorSync: true, keepRevoked: true }));
    batch = [];
    batchLen = 0;
    markDone(waiting);
    for (const f of waiting) {
      bytesDone += sizes.get(f) ?? 0;
      filesDone++;
    }
    waiting = [];
    report();
    // Let signal handlers (Ctrl-C) run: a batch's work may never yield to the event loop.
    await new Promise<void>((resolveTurn) => setImmediate(resolveTurn));
  };

  for (const file of files) {
    if (done.has(file)) continue;
    if (options.signal?.aborted) {
      interrupted = true;
      break;
    }
    // A file is loaded and every document of it checked before any joins the batch: a bad
    // file is one failure, never the loss of the batch's other files.
    let inputs: DocumentInput[];
    try {
      inputs = loadFile(file, options.fields ?? {}).map((d, i) => {
        const input = { tenant: options.tenant, sourceUri: d.sourceUri, title: d.title, text: d.text, readers: [...options.readers], labels: [...(options.labels ?? [])], format: d.format };
        parseInput(DocumentInputSchema, input, `\`${file}\` document ${i + 1}`);
        return input;
      });
    } catch (err) {
      if (!isWritError(err)) throw err;
      failed.push({ path: file, code: err.code, message: err.message });
      bytesDone += sizes.get(file) ?? 0;
      filesDone++;
      report();
      continue;
    }
    for (const input of inputs) {
      batch.push(input);
      batchLen += input.text.length;
      if (batchLen >= batchChars) {
        await flush();
        if (options.signal?.aborted) break;
      }
    }
    if (options.signal?.aborted && batch.length === 0 && waiting.length === 0) {
      // The file was cut short mid-way: it stays pending and its rest comes on resume.
      interrupted = true;
      break;
    }
    waiting.push(file);
  }
  if (!interrupted) await flush();
  const revoked = !interrupted && options.revokeMissing === true ? await revokeGone(ctx, paths, files, unlisted, options) : 0;
  const warning = await syncAfterCommit(ctx);
  const vectors: VectorState = hasPendingVectors(db) ? 'pending' : 'synced';
  // A job with failed files stays open: the same command resumes it and retries only them.
  if (!interrupted && failed.length === 0) {
    ctx.store.transaction((tx) => tx.prepare("UPDATE ingest_jobs SET status = 'done', updated_at = ? WHERE id = ?").run(nowIso(ctx.clock), jobId));
  }
  const elapsedMs = Date.now() - started;
  return {
    jobId, resumed, interrupted, filesTotal: files.length, filesSkipped: skipped.length,
    created: counts.created, updated: counts.updated, unchanged: counts.unchanged, keptRevoked: counts.keptRevoked, chunks: counts.chunks, elapsedMs,
    chunksPerSecond: elapsedMs > 0 ? Math.round((counts.chunks * 1000) / elapsedMs) : 0,
    failed,
    revoked,
    vectors,
    ...(vectors === 'pending' && warning !== undefined ? { warning } : {}),
  };
}

/**
 * Revokes the tenant's active documents under `roots` whose file is not among `files` (the
 * loadable files listed for this run, failed ones included), nor at or under an `unlisted`
 * path (a folder entry that could not be listed: its files may well be there). A document of
 * a JSON file is `FILE_URI#ID`; its file is the part before `#`.
 */
async function revokeGone(ctx: RetrievalContext, roots: readonly string[], files: readonly string[], unlisted: readonly string[], options: IngestPathOptions): Promise<number> {
  const present = new Set(files.map((f) => pathToFileURL(f).href));
  const unseen = unlisted.map((p) => pathToFileURL(p).href);
  const isUnseen = (file: string): boolean => unseen.some((u) => file === u || file.startsWith(u.endsWith('/') ? u : `${u}/`));
  const select = ctx.store.db.prepare(
    "SELECT id, source_uri FROM documents WHERE tenant = ? AND status = 'active' AND (source_uri = ? OR substr(source_uri, 1, ?) = ? OR substr(source_uri, 1, ?) = ?)",
  );
  let revoked = 0;
  for (const root of roots) {
    const uri = pathToFileURL(resolve(root)).href;
    const folder = uri.endsWith('/') ? uri : `${uri}/`;
    const rows = select.all(options.tenant, uri, uri.length + 1, `${uri}#`, folder.length, folder) as Array<{ id: string; source_uri: string }>;
    for (const row of rows) {
      const file = row.source_uri.split('#')[0] as string;
      if (present.has(file) || isUnseen(file)) continue;
      // The run's last sync writes the vector deletes of them all.
      const result = await revokeDocument(ctx, { documentId: row.id }, options, { vectorWaitMs: 0, reason: 'source_gone' });
      if (result.revoked) revoked++;
    }
  }
  return revoked;
}
