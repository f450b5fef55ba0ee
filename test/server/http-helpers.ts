// Shared setup of the HTTP tests: a real app (SQLite file, Chroma child, sample workspace)
// in a temporary home, its server, and the first-start keys of the sample principals.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createApp, type WritApp } from '../../src/app.js';
import { loadConfig } from '../../src/core/index.js';
import { buildServer, type ServerOptions } from '../../src/server/index.js';

export type SamplePrincipal = 'desk-agent' | 'sam' | 'riley' | 'fatima' | 'payouts' | 'globex-agent';

export interface HttpFixture {
  readonly app: WritApp;
  readonly server: FastifyInstance;
  /** Authorization headers for a sample principal. */
  auth(principal: SamplePrincipal): { authorization: string };
  key(principal: SamplePrincipal): string;
  /** `server.inject` as a principal, with a JSON body when given. */
  call(principal: SamplePrincipal | null, method: string, url: string, payload?: unknown): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function startHttpFixture(options: ServerOptions = {}): Promise<HttpFixture> {
  const home = mkdtempSync(join(tmpdir(), 'writ-'));
  const app = await createApp({ config: loadConfig({ env: { WRIT_HOME: home, WRIT_LOG_LEVEL: 'silent' } }) });
  const server = await buildServer(app, { logger: false, ...options });
  await server.ready();
  const keys = new Map(app.firstStartKeys.map((k) => [k.principalId, k.key]));
  const key = (p: SamplePrincipal): string => {
    const k = keys.get(p);
    if (k === undefined) throw new Error(`no first-start key for ${p}`);
    return k;
  };
  return {
    app,
    server,
    key,
    auth: (p) => ({ authorization: `Bearer ${key(p)}` }),
    call: (p, method, url, payload) =>
      server.inject({
        method: method as 'GET',
        url,
        headers: p === null ? {} : { authorization: `Bearer ${key(p)}` },
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      }),
    async close() {
      await server.close();
      await app.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** A recipient account that is on file for the customer, never in any document. */
export const ACCOUNT_ON_FILE = 'DE89370400440532014471';
/** The account the injected ticket note of ord-1003 asks for. */
export const INJECTED_ACCOUNT = 'DE44500105175407324931';
