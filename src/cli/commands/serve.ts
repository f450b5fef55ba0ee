// `writ serve`: starts every part and the HTTP server; Ctrl-C stops them all.
import { loadConfig, WRIT_VERSION } from '../../core/index.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { CommandContext, CommandSpec } from '../command.js';

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
    const started = Date.now();
    ctx.out.info(`writ ${WRIT_VERSION}: starting (home ${config.home})`);
    // The app and server load on demand, so `writ --help` and light commands start fast.
    const { createApp } = await import('../../app.js');
    const { buildServer } = await import('../../server/index.js');
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
      await server.listen({ host: config.server.host, port: config.server.port });
    } catch (err) {
      await stop('listen failed');
      throw err;
    }
    const address = server.server.address();
    const url =
      address === null || typeof address === 'string'
        ? `http://${config.server.host}:${config.server.port}`
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
        startedInMs: Date.now() - started,
        keys: keys.map((k) => ({ principalId: k.principalId, key: k.key })),
      },
      [
        `writ ${WRIT_VERSION} listening on ${url} (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
        `  data:   ${config.home}`,
        `  chroma: ${app.chroma.url}${app.chroma.pid !== null ? ` (embedded, pid ${app.chroma.pid})` : app.chroma.mode === 'shared' ? ' (shared with another writ process on this home)' : ''}`,
        `  model:  ${app.embedder.modelId} (${app.embedder.dimension}-d)`,
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
