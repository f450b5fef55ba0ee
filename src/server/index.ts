// The HTTP server: fastify with zod schemas on every route, typed errors, request ids.
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { newId, type Logger } from '../core/index.js';
import type { WritApp } from '../app.js';
import { installErrorHandlers } from './error-handler.js';
import { systemRoutes } from './routes/system.js';

export { ServerErrors } from './errors.js';

export interface ServerOptions {
  readonly logger?: Logger | false;
  /** Largest accepted request body, in bytes. */
  readonly bodyLimit?: number;
}

/**
 * Builds (but does not start) the HTTP server for an app.
 *
 * @example
 * const server = await buildServer(app);
 * await server.listen({ host: '127.0.0.1', port: 8787 });
 */
export async function buildServer(app: WritApp, options: ServerOptions = {}): Promise<FastifyInstance> {
  const server = Fastify({
    loggerInstance: options.logger === false || options.logger === undefined ? undefined : options.logger,
    logger: options.logger === false || options.logger === undefined ? false : undefined,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    genReqId: () => newId('req'),
    requestIdHeader: false,
    connectionTimeout: 30_000,
    requestTimeout: 60_000,
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  server.setValidatorCompiler(validatorCompiler);
  server.setSerializerCompiler(serializerCompiler);
  server.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', String(request.id));
  });
  installErrorHandlers(server);
  await server.register(systemRoutes, { app });
  return server;
}
