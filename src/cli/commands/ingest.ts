// `writ ingest PATH…`: loads files and folders (Markdown, text, HTML, JSON/JSONL) for one
// tenant with their readers, showing progress. Ctrl-C stops after the current batch and a
// rerun resumes; `--watch` then follows changes until Ctrl-C.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { listLoadableFiles, loadFile, type IngestFileFailure, type IngestPathSummary } from '../../retrieval/index.js';
import { CoreErrors, WritError, isWritError } from '../../core/index.js';
import { argsOf } from '../args.js';
import { CliErrors } from '../errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { openLocalHome } from '../local-home.js';
import { createProgressLine, onInterrupt } from '../progress.js';
import { isRemoteError, remoteOf, REMOTE_OPTIONS, type Remote } from '../remote.js';
import type { CommandContext, CommandSpec } from '../command.js';

interface RemoteIngestAnswer {
  readonly status?: string;
  readonly chunks?: number;
  readonly vectors?: string;
  readonly warning?: { readonly code?: string; readonly message?: string };
}

/**
 * The line that says the vector index lags: everything is stored (and searchable), so this is
 * no failure and nothing is to be sent again; the vectors follow once Chroma answers.
 */
function pendingLine(warning: { code?: string; message?: string } | undefined, documents?: number): string {
  const which = documents === undefined ? 'vectors' : `vectors of ${documents} document${documents === 1 ? '' : 's'}`;
  const why = warning?.message === undefined ? '' : `: ${warning.message}${warning.code === undefined ? '' : ` [${warning.code}]`}`;
  return `\nstored, but ${which} pending${why}\nnothing to resend: Writ writes them when Chroma answers again (a running server retries; else the next start, ingest or \`writ reindex\`)`;
}

/** The files a run could not take, one line each, and what to do about them. */
function failureLines(failed: readonly IngestFileFailure[], resume: string): string {
  if (failed.length === 0) return '';
  return (
    `\n${failed.length} file${failed.length === 1 ? '' : 's'} not ingested:\n` +
    failed.map((f) => `  ${f.path}: ${f.message} [${f.code}]`).join('\n') +
    `\n${resume}`
  );
}

function summaryLine(s: Pick<IngestPathSummary, 'filesTotal' | 'filesSkipped' | 'created' | 'updated' | 'unchanged' | 'keptRevoked' | 'chunks' | 'elapsedMs' | 'chunksPerSecond'>): string {
  const kept = s.keptRevoked > 0 ? `, ${s.keptRevoked} kept revoked (revoked earlier; edit the file or ingest it on its own to restore)` : '';
  return (
    `ingested ${s.filesTotal} files${s.filesSkipped > 0 ? ` (${s.filesSkipped} done by an earlier run)` : ''}: ` +
    `${s.created} new, ${s.updated} updated, ${s.unchanged} unchanged documents${kept}; ${s.chunks} chunks in ${(s.elapsedMs / 1000).toFixed(1)} s (${s.chunksPerSecond} chunks/s)`
  );
}

export const ingestCommand: CommandSpec = {
  name: 'ingest',
  summary: 'ingest files and folders for a tenant, with progress; rerun resumes; --watch follows changes',
  usage: 'writ ingest PATH… --tenant T --readers R[,R] [--labels L[,L]] [--watch] [--as PRINCIPAL]',
  options: {
    tenant: { type: 'string', description: 'tenant the documents belong to (remote: the key\'s tenant)' },
    readers: { type: 'string', multiple: true, description: 'who may read them: principal ids, `group:NAME`, or `*` (comma-separated or repeated)' },
    labels: { type: 'string', multiple: true, description: 'labels to attach (comma-separated or repeated)' },
    watch: { type: 'boolean', description: 'after the ingest, follow changes in the folders until Ctrl-C (local mode)' },
    as: { type: 'string', description: 'local mode: record this principal as the actor in the ledger (default: the operator, no principal)' },
    ...REMOTE_OPTIONS,
  },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const args = argsOf(ctx, 'ingest');
    args.positional(0, 'PATH (a file or folder to ingest)');
    const paths = ctx.positionals.map((p) => resolve(p));
    const readers = args.list('readers');
    if (readers.length === 0) args.need('readers');
    const labels = args.list('labels');
    const remote = remoteOf(ctx);
    if (remote !== undefined) {
      if (args.bool('watch')) throw new WritError(CliErrors.CLI_USAGE, '`--watch` follows folders on the local home only: drop `--server` (or `--watch`)');
      return ingestRemote(ctx, remote, paths, readers, labels);
    }
    const tenant = args.need('tenant');
    const actorId = args.string('as') ?? null;

    const progress = createProgressLine(ctx.stderr, { label: 'ingest', silent: ctx.out.json });
    const controller = new AbortController();
    const release = onInterrupt(() => {
      progress.done();
      ctx.out.info('interrupted: finishing the current batch (run the same command again to resume)');
      controller.abort();
    });
    const home = await openLocalHome(ctx.env, { withRetrieval: true });
    try {
      const retrieval = home.app!.retrieval;
      if (actorId !== null) home.principal(actorId);
      const summary = await retrieval.ingestPath(paths, { tenant, readers, labels, actorId, signal: controller.signal, onProgress: (p) => progress.update(p) });
      progress.done();
      if (summary.interrupted) {
        ctx.out.result({ ...summary }, `${summaryLine(summary)}\ninterrupted: run the same command again to resume (job ${summary.jobId})`);
        return EXIT.INTERRUPTED;
      }
      const failures = failureLines(summary.failed, 'fix or remove them and run the same command again: it resumes, retrying only those');
      const pending = summary.vectors === 'pending' ? pendingLine(summary.warning) : '';
      if (!args.bool('watch')) {
        ctx.out.result({ ...summary }, summaryLine(summary) + failures + pending);
        return summary.failed.length > 0 ? EXIT.INVALID_INPUT : EXIT.OK;
      }
      release();
      ctx.out.info(summaryLine(summary) + failures + pending);
      const dirs = paths.filter((p) => statSync(p).isDirectory());
      const onError = (error: unknown, path: string): void => reportWatchError(ctx, error, path);
      const watchers = dirs.map((dir) => retrieval.watch(dir, { tenant, readers, labels, actorId, onError }));
      await Promise.all(watchers.map((w) => w.ready));
      ctx.out.info(`watching ${dirs.join(', ') || '(no folders given)'} for changes; Ctrl-C to stop`);
      await new Promise<void>((resolveWait) => onInterrupt(resolveWait));
      for (const w of watchers) await w.close();
      // While watching, `--json` stdout is a stream of one object per line; the summary ends it.
      ctx.out.line({ ...summary, watched: dirs }, 'stopped watching');
      return EXIT.OK;
    } finally {
      release();
      await home.close();
    }
  },
};

/**
 * A change the watcher could not apply: one line on stderr, or with `--json` one
 * `{ event: "error", path, error: { code, message, details } }` line on stdout. The watch goes on.
 */
function reportWatchError(ctx: CommandContext, error: unknown, path: string): void {
  const typed = isWritError(error) ? error.toJSON() : { code: CoreErrors.INTERNAL_ERROR, message: error instanceof Error ? error.message : String(error), details: {} };
  if (ctx.out.json) ctx.out.line({ event: 'error', path, error: typed }, '');
  else ctx.stderr.write(`watch: \`${path}\` was not ingested: ${typed.message} [${typed.code}]; still watching\n`);
}

// Remote: files are read here and sent one document at a time to POST /v1/documents in the
// key's tenant. Unchanged documents are no-ops on the server (content hash), so a rerun
// after Ctrl-C skips quickly over what already arrived.
async function ingestRemote(ctx: CommandContext, remote: Remote, paths: string[], readers: string[], labels: string[]): Promise<ExitCode> {
  // A folder entry that cannot be read (a dangling link, a subfolder without permission) is one failure, as locally.
  const failed: IngestFileFailure[] = [];
  const files = listLoadableFiles(paths, failed);
  const started = Date.now();
  const progress = createProgressLine(ctx.stderr, { label: 'ingest', silent: ctx.out.json });
  let stop = false;
  const release = onInterrupt(() => {
    stop = true;
  });
  const counts = { created: 0, updated: 0, unchanged: 0, keptRevoked: 0, chunks: 0 };
  let vectorsPending = 0;
  let warning: RemoteIngestAnswer['warning'];
  let filesDone = 0;
  try {
    for (const file of files) {
      if (stop) break;
      try {
        for (const doc of loadFile(file)) {
          const answer = await remote.call<RemoteIngestAnswer>('POST', '/v1/documents?keepRevoked=true', { sourceUri: doc.sourceUri, title: doc.title, text: doc.text, format: doc.format, readers, labels });
          counts.chunks += answer?.chunks ?? 0;
          if (answer?.vectors === 'pending') {
            vectorsPending++;
            warning = answer.warning ?? warning;
          }
          if (answer?.status === 'created') counts.created++;
          else if (answer?.status === 'unchanged') counts.unchanged++;
          else if (answer?.status === 'kept_revoked') counts.keptRevoked++;
          else counts.updated++;
        }
      } catch (err) {
        // A file that cannot be loaded, or a document the server refuses as invalid, is this
        // file's failure; anything else (auth, an unreachable server) stops the run.
        const bad = isWritError(err) || (isRemoteError(err) && err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 403 && err.status !== 429);
        if (!bad) throw err;
        failed.push({ path: file, code: (err as { code: string }).code, message: (err as Error).message });
      }
      filesDone++;
      const elapsedMs = Date.now() - started;
      const rate = elapsedMs > 0 ? filesDone / elapsedMs : 0;
      progress.update({
        filesDone, filesTotal: files.length, chunks: counts.chunks, resumed: false,
        chunksPerSecond: elapsedMs > 0 ? Math.round((counts.chunks * 1000) / elapsedMs) : 0,
        etaSeconds: rate > 0 ? Math.round((files.length - filesDone) / rate / 1000) : null,
      } as never);
    }
  } finally {
    release();
    progress.done();
  }
  const elapsedMs = Date.now() - started;
  const summary = {
    server: remote.url, interrupted: stop, filesTotal: files.length, filesSkipped: 0, filesDone, ...counts, elapsedMs,
    chunksPerSecond: elapsedMs > 0 ? Math.round((counts.chunks * 1000) / elapsedMs) : 0, failed,
    vectors: vectorsPending > 0 ? 'pending' : 'synced', vectorsPending, ...(warning === undefined ? {} : { warning }),
  };
  const failures = failureLines(failed, 'fix or remove them and run the same command again (unchanged documents are skipped)') + (vectorsPending > 0 ? pendingLine(warning, vectorsPending) : '');
  if (stop) {
    ctx.out.result(summary, `${summaryLine(summary)}${failures}\ninterrupted after ${filesDone}/${files.length} files: run the same command again to resume`);
    return EXIT.INTERRUPTED;
  }
  ctx.out.result(summary, summaryLine(summary) + failures);
  return failed.length > 0 ? EXIT.INVALID_INPUT : EXIT.OK;
}
