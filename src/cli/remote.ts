// Remote mode: the CLI as an HTTP client of a running Writ server (`--server URL` or
// `WRIT_SERVER`). The key comes from `WRIT_KEY` or `--key-file`, never from a flag value,
// so it stays out of shell history. Errors keep the server's `{ code, message }`.
import { readFileSync } from 'node:fs';
import { WritError } from '../core/index.js';
import { AuthErrors } from '../auth/index.js';
import type { CommandContext, OptionSpec } from './command.js';
import { CliErrors } from './errors.js';

/** Options every command that can talk to a server accepts. */
export const REMOTE_OPTIONS: Record<string, OptionSpec> = {
  server: { type: 'string', description: 'talk to this Writ server (env WRIT_SERVER); key from env WRIT_KEY' },
  'key-file': { type: 'string', description: 'read the API key from this file instead of WRIT_KEY' },
};

/** An error answer of a Writ server: its code, message and status, as the server sent them. */
export class RemoteError extends Error {
  override readonly name = 'RemoteError';
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details: Readonly<Record<string, unknown>> = {},
    readonly requestId: string | null = null,
  ) {
    super(message);
  }

  toJSON(): { code: string; message: string; details: Readonly<Record<string, unknown>>; requestId?: string } {
    return { code: this.code, message: this.message, details: this.details, ...(this.requestId ? { requestId: this.requestId } : {}) };
  }
}

/** True for a server's error answer. */
export function isRemoteError(err: unknown): err is RemoteError {
  return err instanceof RemoteError;
}

/** A connection to a Writ server. */
export interface Remote {
  readonly url: string;
  /** Calls one route; resolves to the JSON body, rejects with a RemoteError for an error answer. */
  call<T = unknown>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T>;
}

/** The server URL of this invocation, or undefined for local mode. */
export function serverUrlOf(ctx: Pick<CommandContext, 'values' | 'env'>): string | undefined {
  const flag = ctx.values.server;
  const url = typeof flag === 'string' && flag !== '' ? flag : ctx.env.WRIT_SERVER;
  return url === undefined || url === '' ? undefined : url.replace(/\/+$/, '');
}

/** Refuses remote mode for a command that works only on the local home. */
export function requireLocal(ctx: Pick<CommandContext, 'values' | 'env'>, command: string): void {
  const url = serverUrlOf(ctx);
  if (url !== undefined) {
    throw new WritError(CliErrors.CLI_USAGE, `\`writ ${command}\` works on the local home only: drop \`--server\` and unset \`WRIT_SERVER\` (server is \`${url}\`)`);
  }
}

function keyOf(ctx: Pick<CommandContext, 'values' | 'env'>): string {
  const file = ctx.values['key-file'];
  if (typeof file === 'string') {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (cause) {
      throw new WritError(CliErrors.CLI_USAGE, `cannot read key file \`${file}\`: ${(cause as Error).message}`, { cause });
    }
  }
  const key = ctx.env.WRIT_KEY;
  if (key === undefined || key === '') throw new WritError(AuthErrors.AUTH_MISSING_KEY, 'missing api key: set `WRIT_KEY` or pass `--key-file FILE`');
  return key.trim();
}

/** The remote connection when `--server`/`WRIT_SERVER` is set, else undefined (local mode). */
export function remoteOf(ctx: Pick<CommandContext, 'values' | 'env'>): Remote | undefined {
  const url = serverUrlOf(ctx);
  if (url === undefined) return undefined;
  const key = keyOf(ctx);
  return {
    url,
    async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
      let response: Response;
      try {
        response = await fetch(`${url}${path}`, {
          method,
          headers: { authorization: `Bearer ${key}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (cause) {
        const reason = (cause as { cause?: { code?: string } }).cause?.code ?? (cause as Error).message;
        throw new WritError(CliErrors.CLI_SERVER_UNREACHABLE, `cannot reach \`${url}\`: ${reason}`, { cause, details: { url } });
      }
      const text = await response.text();
      let data: unknown;
      try {
        data = text === '' ? null : JSON.parse(text);
      } catch (cause) {
        throw new WritError(CliErrors.CLI_SERVER_UNREACHABLE, `\`${method} ${path}\` answered ${response.status} with something that is not JSON`, { cause, details: { url, status: response.status } });
      }
      if (!response.ok) {
        const e = (data ?? {}) as { code?: unknown; message?: unknown; details?: unknown; requestId?: unknown };
        throw new RemoteError(
          typeof e.code === 'string' ? e.code : `HTTP_${response.status}`,
          typeof e.message === 'string' ? e.message : `\`${method} ${path}\` answered ${response.status}`,
          response.status,
          typeof e.details === 'object' && e.details !== null ? (e.details as Record<string, unknown>) : {},
          typeof e.requestId === 'string' ? e.requestId : response.headers.get('x-request-id'),
        );
      }
      return data as T;
    },
  };
}
