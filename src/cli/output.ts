// How the CLI speaks: human text by default, one JSON document with `--json`.
import { isWritError, type WritError } from '../core/index.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { isRemoteError } from './remote.js';

export interface Output {
  readonly json: boolean;
  /** Prints a result: `human` for people, `data` as JSON for machines. */
  result(data: unknown, human: string): void;
  /** One item of a stream (`audit tail --follow`): a line of text, or one compact JSON object per line. */
  line(data: unknown, human: string): void;
  /** Progress and notes for people; silent in JSON mode (stdout stays one document). */
  info(line: string): void;
  /** Prints an error in the chosen form and returns its exit code. */
  error(err: unknown): ExitCode;
}

/**
 * An error answered by a Writ server, as the CLI's remote mode (`RemoteError`) and the MCP
 * backend (`RemoteWritError`, src/mcp/http-backend.ts) raise it: the server's code, message
 * and details, and the HTTP status. Recognised by shape: importing the MCP class here would
 * load the broker and retrieval for every command.
 */
interface ServerAnswer extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Readonly<Record<string, unknown>>;
  toJSON(): { code: string; message: string; details: Readonly<Record<string, unknown>> };
}

function isServerAnswer(err: unknown): err is ServerAnswer {
  if (isRemoteError(err)) return true;
  if (!(err instanceof Error)) return false;
  const e = err as Partial<ServerAnswer>;
  return (
    typeof e.code === 'string' && /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/.test(e.code) &&
    Number.isInteger(e.status) && typeof e.details === 'object' && e.details !== null && typeof e.toJSON === 'function'
  );
}

/** A typed error: one of Writ's own, or a server's answer. */
function isTypedError(err: unknown): err is WritError | ServerAnswer {
  return isWritError(err) || isServerAnswer(err);
}

export function createOutput(json: boolean, stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Output {
  return {
    json,
    result(data, human) {
      stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
    },
    line(data, human) {
      stdout.write(json ? `${JSON.stringify(data)}\n` : `${human}\n`);
    },
    info(line) {
      if (!json) stderr.write(`${line}\n`);
    },
    error(err) {
      const code = exitCodeOf(err);
      if (isTypedError(err)) {
        if (json) stdout.write(`${JSON.stringify({ error: err.toJSON() }, null, 2)}\n`);
        else {
          stderr.write(`error: ${err.message} [${err.code}]\n`);
          const issues = err.details.issues as Array<{ path: string; message: string }> | undefined;
          for (const issue of issues ?? []) stderr.write(`  - ${issue.path}: ${issue.message}\n`);
          const problems = err.details.problems as Array<{ file: string; policyId: string | null; message: string }> | undefined;
          for (const p of problems ?? []) stderr.write(`  - ${p.file}${p.policyId ? ` (${p.policyId})` : ''}: ${p.message}\n`);
        }
      } else {
        const message = err instanceof Error ? err.message : String(err);
        if (json) stdout.write(`${JSON.stringify({ error: { code: 'INTERNAL_ERROR', message, details: {} } }, null, 2)}\n`);
        else stderr.write(`error: ${message}\n`);
      }
      return code;
    },
  };
}

/** Maps an error (local, or a server's `{ code, message }` answer) to the exit code scripts rely on. */
export function exitCodeOf(err: unknown): ExitCode {
  if (!isTypedError(err)) return EXIT.FAILURE;
  if (err.status === 404) return EXIT.NOT_FOUND;
  if (err.status === 401 || err.status === 403) return EXIT.DENIED;
  if (err.status === 400 || err.status === 409 || err.status === 413 || err.status === 422) return EXIT.INVALID_INPUT;
  return EXIT.FAILURE;
}
