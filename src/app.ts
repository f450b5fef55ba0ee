// The composition root: builds the store, ledger, retrieval and broker from one config,
// and owns their lifecycle. Servers, the CLI and MCP all start from here.
import { join } from 'node:path';
import { z } from 'zod';
import { WRIT_VERSION, createLogger, loadConfig, type Config, type Logger } from './core/index.js';
import { openStore, type Store } from './store/index.js';
import { connectChroma, createEmbedder, startChroma, type ChromaServer, type Embedder } from './retrieval/index.js';

const PartStatusSchema = z.enum(['ok', 'down']);

export const HealthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  version: z.string(),
  parts: z.object({
    sqlite: z.object({ status: PartStatusSchema, version: z.string(), path: z.string(), error: z.string().optional() }),
    chroma: z.object({
      status: PartStatusSchema,
      version: z.string().nullable(),
      url: z.string(),
      embedded: z.boolean(),
      error: z.string().optional(),
    }),
    model: z.object({ status: PartStatusSchema, id: z.string(), dimension: z.number().int(), error: z.string().optional() }),
  }),
});
export type Health = z.infer<typeof HealthSchema>;

export const VersionSchema = z.object({
  writ: z.string(),
  node: z.string(),
  sqlite: z.string(),
  chroma: z.string().nullable(),
  model: z.string(),
});
export type Version = z.infer<typeof VersionSchema>;

/** A running Writ: every part, built from one config. Close it once. */
export interface WritApp {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  readonly chroma: ChromaServer;
  readonly embedder: Embedder;
  health(): Promise<Health>;
  version(): Version;
  close(): Promise<void>;
}

export interface AppOptions {
  /** A parsed config; defaults to `loadConfig()` from the environment. */
  readonly config?: Config;
  readonly logger?: Logger;
}

/**
 * Starts every part of Writ: the SQLite store, Chroma (embedded child or `CHROMA_URL`)
 * and the embedder. On failure, whatever had started is stopped again.
 *
 * @example
 * const app = await createApp();
 * console.log(await app.health());
 * await app.close();
 */
export async function createApp(options: AppOptions = {}): Promise<WritApp> {
  const config = options.config ?? loadConfig();
  const logger = options.logger ?? createLogger(config.logLevel);
  const cleanup: Array<() => Promise<void> | void> = [];
  try {
    const store = openStore({ path: join(config.home, 'writ.db'), migrations: [] });
    cleanup.push(() => store.close());

    const chroma =
      config.chroma.url !== undefined
        ? await connectChroma(config.chroma.url)
        : await startChroma({ dataDir: join(config.home, 'chroma'), port: config.chroma.port, startTimeoutMs: config.chroma.startTimeoutMs, logger });
    cleanup.push(() => chroma.stop());

    const embedder = await createEmbedder({ model: config.embedder.model, batchSize: config.embedder.batchSize });
    cleanup.push(() => embedder.close());

    let closed = false;
    const app: WritApp = {
      config,
      logger,
      store,
      chroma,
      embedder,
      async health() {
        const sqlite = (() => {
          try {
            store.db.prepare('SELECT 1').get();
            return { status: 'ok' as const, version: store.sqliteVersion, path: store.path };
          } catch (err) {
            return { status: 'down' as const, version: store.sqliteVersion, path: store.path, error: (err as Error).message };
          }
        })();
        const chromaPart = await chroma.heartbeat().then(
          () => ({ status: 'ok' as const, version: chroma.version, url: chroma.url, embedded: chroma.pid !== null }),
          (err: Error) => ({ status: 'down' as const, version: chroma.version, url: chroma.url, embedded: chroma.pid !== null, error: err.message }),
        );
        const model = { status: 'ok' as const, id: embedder.modelId, dimension: embedder.dimension };
        const ok = sqlite.status === 'ok' && chromaPart.status === 'ok' && model.status === 'ok';
        return { status: ok ? 'ok' : 'degraded', version: WRIT_VERSION, parts: { sqlite, chroma: chromaPart, model } };
      },
      version: () => ({
        writ: WRIT_VERSION,
        node: process.version,
        sqlite: store.sqliteVersion,
        chroma: chroma.version,
        model: embedder.modelId,
      }),
      async close() {
        if (closed) return;
        closed = true;
        await runCleanup(cleanup, logger);
      },
    };
    return app;
  } catch (err) {
    await runCleanup(cleanup, logger);
    throw err;
  }
}

async function runCleanup(steps: Array<() => Promise<void> | void>, logger: Logger): Promise<void> {
  for (const step of steps.reverse()) {
    try {
      await step();
    } catch (err) {
      logger.warn({ err }, 'shutdown step failed');
    }
  }
}
