// `writ serve`: starts every part and the HTTP server; Ctrl-C stops them all.
import { createApp } from '../../app.js';
import { buildServer } from '../../server/index.js';
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
    const config = loadConfig({ overrides });
    const started = Date.now();
    ctx.out.info(`writ ${WRIT_VERSION}: starting (home ${config.home})`);
    const app = await createApp({ config });
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
    ctx.out.result(
      { url, home: config.home, chroma: app.chroma.url, model: app.embedder.modelId, startedInMs: Date.now() - started },
      [
        `writ ${WRIT_VERSION} listening on ${url} (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
        `  data:   ${config.home}`,
        `  chroma: ${app.chroma.url}${app.chroma.pid !== null ? ` (embedded, pid ${app.chroma.pid})` : ''}`,
        `  model:  ${app.embedder.modelId} (${app.embedder.dimension}-d)`,
        `  try:    curl ${url}/health`,
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
