// A real pino logger whose lines a test reads back (warnings and errors by default).
import pino from 'pino';

export interface LogEntry {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export function capturingLogger(level = 'warn'): { logger: pino.Logger; entries: () => LogEntry[]; warnings: () => string[] } {
  const lines: string[] = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(line) });
  const entries = (): LogEntry[] => lines.map((l) => JSON.parse(l) as LogEntry);
  return { logger, entries, warnings: () => entries().map((e) => e.msg) };
}
