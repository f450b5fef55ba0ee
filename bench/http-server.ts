// Fallback server for bench/http.ts when `node bin/writ.mjs serve` cannot start: the same
// two calls `writ serve` makes (createApp + buildServer), configured from the environment.
// Run: WRIT_HOME=… WRIT_PORT=… node --import tsx bench/http-server.ts
import { createApp } from '../src/app.js';
import { buildServer } from '../src/server/index.js';
import { loadConfig } from '../src/core/index.js';

const config = loadConfig();
const app = await createApp({ config });
const server = await buildServer(app, { logger: false });
await server.listen({ host: config.server.host, port: config.server.port });
console.log(`listening on ${config.server.host}:${config.server.port}`);
const stop = async (): Promise<void> => {
  await server.close().catch(() => undefined);
  await app.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
