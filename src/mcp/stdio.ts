// `writ mcp` on stdio: authenticate once, open the agent-run session, serve the tools until
// the client closes stdin or a signal arrives, then stop everything (Chroma included).
// stdout carries only the protocol: every log and note goes to stderr.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createLogger, loadConfig, WritError, type Config } from '../core/index.js';
import type { WritApp } from '../app.js';
import { createLocalBackend, type McpBackend, type McpIdentity } from './backend.js';
import { AuthErrors } from '../auth/index.js';
import { createHttpBackend } from './http-backend.js';
import { createMcpServer } from './server.js';

export interface McpStdioOptions {
  /** The agent's API key (the CLI reads it from `WRIT_KEY`). */
  readonly key: string | undefined;
  /** Proxy to this running Writ server instead of opening a local Writ home. */
  readonly serverUrl?: string | undefined;
  /** Config of the local Writ home (local mode); default `loadConfig()`. */
  readonly config?: Config;
  /** Notes for people, written to stderr by the CLI. */
  readonly onInfo?: (line: string) => void;
  readonly stdin?: NodeJS.ReadableStream & { pause(): unknown };
  readonly stdout?: NodeJS.WritableStream;
}

export interface McpStdioHandle {
  readonly identity: McpIdentity;
  /** Resolves once the server has stopped and every part is closed. */
  readonly closed: Promise<void>;
  close(reason?: string): Promise<void>;
}

/**
 * Starts the MCP server on stdio. In local mode it opens the Writ home (`createApp`, which
 * loads the workspace once the key is known to be good: a bad key writes nothing); with
 * `serverUrl` it talks to that server over HTTP.
 *
 * @example
 * const mcp = await serveMcpStdio({ key: process.env.WRIT_KEY });
 * await mcp.closed;
 */
export async function serveMcpStdio(options: McpStdioOptions): Promise<McpStdioHandle> {
  const info = options.onInfo ?? (() => undefined);
  if (options.key === undefined || options.key === '') {
    throw new WritError(AuthErrors.AUTH_MISSING_KEY, 'missing api key: set `WRIT_KEY` (or pass `--key-file FILE`) to the agent\'s key');
  }
  let app: WritApp | undefined;
  let backend: McpBackend;
  if (options.serverUrl !== undefined) {
    backend = await createHttpBackend({ url: options.serverUrl, key: options.key });
  } else {
    const config = options.config ?? loadConfig();
    // A home that was never started has issued no key: refused before a file of it is created.
    if (!existsSync(join(config.home, 'writ.db'))) {
      throw new WritError(AuthErrors.AUTH_INVALID_KEY, `invalid api key: the Writ home \`${config.home}\` has issued no keys yet (start it once with \`writ serve\`)`, {
        details: { home: config.home },
      });
    }
    // Loaded here so the remote mode never starts Chroma or the model.
    const { createApp } = await import('../app.js');
    // The key is checked before the workspace is loaded into the home or Chroma is started.
    app = await createApp({ config, authenticateFirst: options.key, onProgress: (line) => info(`writ mcp: ${line}`) });
    try {
      backend = createLocalBackend(app, options.key);
    } catch (err) {
      await app.close();
      throw err;
    }
  }
  // Logs go to stderr (pino on fd 2), never to stdout.
  const server = createMcpServer(backend, { logger: app?.logger ?? createLogger(options.config?.logLevel ?? 'warn', 'writ-mcp') });
  const stdin = options.stdin ?? process.stdin;
  const transport = new StdioServerTransport(stdin as NodeJS.ReadStream, (options.stdout ?? process.stdout) as NodeJS.WriteStream);

  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  let stopping: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => void close(signal);
  const onEnd = () => void close('stdin closed');
  function close(reason = 'closed'): Promise<void> {
    stopping ??= (async () => {
      info(`writ mcp: ${reason}: shutting down`);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      stdin.off('end', onEnd);
      stdin.off('close', onEnd);
      await server.close().catch(() => undefined);
      await backend.close().catch(() => undefined);
      await app?.close();
      resolveClosed();
    })();
    return stopping;
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The SDK's stdio transport does not watch for EOF: a client that closes stdin is gone.
  stdin.on('end', onEnd);
  stdin.on('close', onEnd);
  server.onclose = () => void close('transport closed');
  try {
    await server.connect(transport);
  } catch (err) {
    await close('connect failed');
    throw err;
  }
  const { identity } = backend;
  info(`writ mcp: serving tools retrieve, propose, proposal_status for \`${identity.principalId}\` (tenant \`${identity.tenant}\`, session \`${identity.sessionId}\`)${options.serverUrl ? ` via ${options.serverUrl}` : ''}`);
  return { identity, closed, close };
}
