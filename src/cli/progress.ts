// Progress of long operations on stderr: one updating line on a terminal, a line every
// few seconds otherwise (logs, CI), nothing with `--json`.
import type { IngestProgress } from '../retrieval/index.js';
import { EXIT } from './exit-codes.js';

export interface ProgressLine {
  update(p: IngestProgress): void;
  /** Ends the updating line so later output starts on its own line. */
  done(): void;
}

function formatEta(seconds: number | null): string {
  if (seconds === null) return 'ETA -';
  if (seconds < 90) return `ETA ${seconds} s`;
  const m = Math.floor(seconds / 60);
  return m < 90 ? `ETA ${m} min ${seconds % 60} s` : `ETA ${Math.floor(m / 60)} h ${m % 60} min`;
}

/** The text of one progress event: count, rate and ETA. */
export function formatProgress(label: string, p: Pick<IngestProgress, 'filesDone' | 'filesTotal' | 'chunks' | 'chunksPerSecond' | 'etaSeconds' | 'resumed'>): string {
  return `${label}: ${p.filesDone}/${p.filesTotal} files, ${p.chunks} chunks, ${p.chunksPerSecond} chunks/s, ${formatEta(p.etaSeconds)}${p.resumed ? ' (resumed)' : ''}`;
}

/** A progress reporter on `stream`; `everyMs` spaces the lines when it is not a terminal. */
export function createProgressLine(stream: NodeJS.WritableStream, options: { label: string; silent: boolean; everyMs?: number }): ProgressLine {
  const isTty = (stream as { isTTY?: boolean }).isTTY === true;
  const everyMs = options.everyMs ?? 2_000;
  let last = 0;
  let open = false;
  return {
    update(p) {
      if (options.silent) return;
      const line = formatProgress(options.label, p);
      if (isTty) {
        stream.write(`\r\x1b[K${line}`);
        open = true;
        return;
      }
      const now = Date.now();
      if (now - last >= everyMs || p.filesDone === p.filesTotal) {
        last = now;
        stream.write(`${line}\n`);
      }
    },
    done() {
      if (open) stream.write('\n');
      open = false;
    },
  };
}

/**
 * Calls `onInterrupt` on the first Ctrl-C (SIGINT) or SIGTERM until the returned function
 * is called; a second one exits at once (130, or 143 for SIGTERM).
 *
 * The handler stays registered after the first signal: while it is, the shutdown registry
 * (core/shutdown.ts) sees that the command owns the signal and leaves Chroma running until
 * the command has finished its batch, printed its summary and closed the app.
 */
export function onInterrupt(onInterrupt: () => void): () => void {
  let interrupted = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (!interrupted) {
      interrupted = true;
      onInterrupt();
      return;
    }
    // With the shutdown registry listening too, it makes the second signal exit; alone,
    // this handler does. (A handler never released, in a process that runs several
    // commands, then stays quiet.)
    if (process.listenerCount(signal) === 1) process.exit(signal === 'SIGTERM' ? 143 : EXIT.INTERRUPTED);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
