// `writ serve`: starts every part and the HTTP server; Ctrl-C stops them all.
import { createServer } from 'node:net';
import { loadConfig, signingBackend, WritError, WRIT_VERSION } from '../../core/index.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { CommandContext, CommandSpec } from '../command.js';

/** Why `host:port` cannot be bound, and what to do about it, in words. */
function listenProblem(host: string, port: number, code: string | undefined): string {
  switch (code) {
    case 'EADDRINUSE':
      return `\`${host}:${port}\` is already in use: pick a free port with \`--port\` or \`WRIT_PORT\` (0 picks one), or stop the process holding it`;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return `\`${host}\` is not an address of this machine: pass \`--host\` (or \`WRIT_HOST\`) an address it has, e.g. \`127.0.0.1\` or \`0.0.0.0\``;
    case 'EACCES':
      return `no permission to bind \`${host}:${port}\`: ports below 1024 need privileges, pick another with \`--port\` or \`WRIT_PORT\``;
    default:
      return `pick another port with \`--port\` or \`WRIT_PORT\` (0 picks one), or another address with \`--host\``;
  }
}

/** A listen failure as SERVER_LISTEN_FAILED, naming host, port and the system's reason. */
function listenFailed(code: string, host: string, port: number, cause: unknown): WritError {
  const reason = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new WritError(code, `cannot listen on \`${host}:${port}\`${reason ? ` (${reason})` : ''}: ${listenProblem(host, port, reason)}`, {
    cause,
    details: { host, port, reason: reason ?? (cause instanceof Error ? cause.message : String(cause)) },
  });
}

/** Binds and releases `host:port` so a taken port or a bad host fails in a moment, not after the slow start. */
async function probeListen(host: string, port: number): Promise<void> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ host, port, exclusive: true }, resolve);
  });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

export const serveCommand: CommandSpec = {
  name: 'serve',
  summary: 'start the Writ server (SQLite, Chroma, model, HTTP API)',
  usage: 'writ serve [--port N] [--host ADDR]',
  options: {
    port: { type: 'string', description: 'HTTP port (default 8787, env WRIT_PORT; 0 picks a free one)' },
    host: { type: 'string', description: 'address to bind (default 127.0.0.1, env WRIT_HOST)' },
  },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const overrides: Record<string, unknown> = {};
    if (ctx.values.port !== undefined || ctx.values.host !== undefined) {
      overrides.server = {
        ...(ctx.values.port !== undefined ? { port: ctx.values.port } : {}),
        ...(ctx.values.host !== undefined ? { host: ctx.values.host } : {}),
      };
    }
    const config = loadConfig({ env: ctx.env, overrides });
    const { host, port } = config.server;
    const started = Date.now();
    // The app and server load on demand, so `writ --help` and light commands start fast.
    const { buildServer, ServerErrors } = await import('../../server/index.js');
    await probeListen(host, port).catch((cause: unknown) => {
      throw listenFailed(ServerErrors.SERVER_LISTEN_FAILED, host, port, cause);
    });
    ctx.out.info(`writ ${WRIT_VERSION}: starting (home ${config.home})`);
    const { createApp } = await import('../../app.js');
    const app = await createApp({ config, onProgress: (line) => ctx.out.info(`writ: ${line}`) });
    const server = await buildServer(app, { logger: config.logLevel === 'silent' ? false : app.logger });
    let stopping: Promise<void> | undefined;
    const stop = (signal: string): Promise<void> => {
      stopping ??= (async () => {
        ctx.out.info(`writ: ${signal}: shutting down`);
        await server.close().catch(() => undefined);
        await app.close();
      })();
      return stopping;
    };
    try {
      await server.listen({ host, port });
    } catch (err) {
      // Someone took the port between the probe and now.
      await stop('listen failed');
      throw listenFailed(ServerErrors.SERVER_LISTEN_FAILED, host, port, err);
    }
    const address = server.server.address();
    const url =
      address === null || typeof address === 'string'
        ? `http://${host}:${port}`
        : `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
    const keys = app.firstStartKeys;
    const agentKey = keys.find((k) => app.broker.getPrincipal(k.principalId)?.kind === 'agent')?.key ?? '$WRIT_KEY';
    // Pending approvals are an approver's view (an agent lists only its own proposals).
    const users = keys.filter((k) => app.broker.getPrincipal(k.principalId)?.kind === 'user');
    const approverKey =
      (users.find((k) => app.broker.getPrincipal(k.principalId)?.roles.some((r) => /approv|finance/.test(r))) ?? users[0])?.key ?? '$WRIT_KEY';
    const keyLines =
      keys.length === 0
        ? ['  keys:   created on first start (see `writ keys list`; new ones with `writ keys create --principal ID`)']
        : [
            '  API keys (shown once; stored only as hashes — also saved to first-start-keys.json in the home, mode 0600):',
            ...keys.map((k) => `    ${k.principalId.padEnd(14)}${k.key}`),
          ];
    ctx.out.result(
      {
        url,
        home: config.home,
        workspace: config.workspace,
        chroma: app.chroma.url,
        model: app.embedder.modelId,
        signing: signingBackend(),
        startedInMs: Date.now() - started,
        keys: keys.map((k) => ({ principalId: k.principalId, key: k.key })),
      },
      [
        `writ ${WRIT_VERSION} listening on ${url} (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
        `  data:   ${config.home}`,
        `  chroma: ${app.chroma.url}${app.chroma.pid !== null ? ` (embedded, pid ${app.chroma.pid})` : app.chroma.mode === 'shared' ? ' (shared with another writ process on this home)' : ''}`,
        `  model:  ${app.embedder.modelId} (${app.embedder.dimension}-d)`,
        // Where libsodium does not load, signing falls back to node:crypto: slower, and its GC cost is what libsodium avoids.
        `  signing: ${signingBackend() === 'sodium' ? 'libsodium (sodium-native)' : 'node:crypto (sodium-native did not load)'}`,
        `  workspace: ${config.workspace}`,
        ...keyLines,
        '',
        'Try:',
        `  curl ${url}/health`,
        `  curl -s ${url}/v1/retrieve -H 'authorization: Bearer ${agentKey}' -H 'content-type: application/json' -d '{"query":"refund for a cracked teapot","k":3}'`,
        `  curl -s ${url}/v1/proposals?status=pending_approval -H 'authorization: Bearer ${approverKey}'`,
        `  open ${url}/docs for the API reference; \`npm run demo\` runs the whole story`,
        'Press Ctrl-C to stop.',
      ].join('\n'),
    );
    await new Promise<void>((resolve) => {
      const onSignal = (signal: NodeJS.Signals) => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        void stop(signal).then(resolve);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
    return EXIT.OK;
  },
};
