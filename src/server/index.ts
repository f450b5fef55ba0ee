// The HTTP server: fastify with zod schemas on every route, typed errors, request ids,
// API-key authentication and per-principal rate limits on `/v1`, OpenAPI at
// `/openapi.json` and browsable docs at `/docs`.
import Fastify, { type FastifyInstance } from 'fastify';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, jsonSchemaTransformObject, validatorCompiler } from 'fastify-type-provider-zod';
import { WRIT_VERSION, WritError, newId, rejectIllFormedText, type Logger } from '../core/index.js';
import type { WritApp } from '../app.js';
import { authPlugin } from './auth.js';
import { answerFrameworkError, installErrorHandlers } from './error-handler.js';
import { ServerErrors } from './errors.js';
import { auditRoutes } from './routes/audit.js';
import { catalogRoutes } from './routes/catalog.js';
import { documentRoutes } from './routes/documents.js';
import { proposalRoutes } from './routes/proposals.js';
import { resourceRoutes } from './routes/resources.js';
import { retrieveRoutes } from './routes/retrieve.js';
import { sessionRoutes } from './routes/sessions.js';
import { systemRoutes } from './routes/system.js';
import { transitionRoutes } from './routes/transitions.js';
import { wellKnownRoutes } from './routes/well-known.js';
import { eventRoutes } from './routes/events.js';
import { responseSerializerCompiler } from './response-serializer.js';

export { ServerErrors } from './errors.js';
export { authPlugin, readApiKey, hasRole, requireRole, requireKind } from './auth.js';

export interface ServerOptions {
  readonly logger?: Logger | false;
  /** Largest accepted request body, in bytes (default: config `server.bodyLimit`). */
  readonly bodyLimit?: number;
  /** Per-principal token bucket on `/v1` (default: config `server.ratePerSecond` / `rateBurst`). */
  readonly rateLimit?: { readonly ratePerSecond: number; readonly burst: number };
  /** Time limit of one request in ms (default: config `server.routeTimeoutMs`); a route may set `config.timeoutMs` (0: none). */
  readonly routeTimeoutMs?: number;
  /**
   * More authenticated route plugins, registered in the `/v1` scope after the built-in ones
   * (each gets `{ app }`; `request.principal` is set). E.g. the live-events routes.
   */
  readonly routes?: ReadonlyArray<(scope: FastifyInstance, options: { app: WritApp }) => Promise<void>>;
  /**
   * How often the server expires proposals past their time (`broker.expireStale`), in ms
   * (default 60,000; 0: never). Operations expire a pending proposal they reach anyway; the
   * sweep makes lists and live events show `expired` without one.
   */
  readonly expirySweepMs?: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Time limit of this route in ms; 0 turns it off (streams). */
    timeoutMs?: number;
  }
}

/**
 * Builds (but does not start) the HTTP server for an app.
 *
 * @example
 * const server = await buildServer(app);
 * await server.listen({ host: '127.0.0.1', port: 8787 });
 */
export async function buildServer(app: WritApp, options: ServerOptions = {}): Promise<FastifyInstance> {
  const settings = app.config.server;
  const server = Fastify({
    loggerInstance: options.logger === false || options.logger === undefined ? undefined : options.logger,
    logger: options.logger === false || options.logger === undefined ? false : undefined,
    bodyLimit: options.bodyLimit ?? settings.bodyLimit,
    genReqId: () => newId('req'),
    requestIdHeader: false,
    connectionTimeout: 30_000,
    requestTimeout: 60_000,
    // Ids may be 200 characters, percent-encoded up to three times that; Fastify's default
    // (100) answered longer ones 414 in its own shape.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: answerFrameworkError,
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  server.setValidatorCompiler(validatorCompiler);
  server.setSerializerCompiler(responseSerializerCompiler);
  server.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', String(request.id));
  });
  installRouteTimeouts(server, options.routeTimeoutMs ?? settings.routeTimeoutMs);
  installExpirySweep(server, app, options.expirySweepMs ?? 60_000);
  acceptEmptyJsonBodies(server);
  installErrorHandlers(server);
  server.addHook('preValidation', async (request) => rejectIllFormedText(request.body));

  await server.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Writ',
        version: WRIT_VERSION,
        description:
          'Bounded, permission-aware context for AI agents, and an authorization broker between their proposals and real state. ' +
          'Context informs; authority decides. Every `/v1` route needs `Authorization: Bearer writ_…`; the caller is the principal ' +
          'the key names, never a body field. Errors are `{ code, message, details, requestId }` (codes: docs/errors.md).',
      },
      tags: [
        { name: 'system', description: 'health, version, public keys' },
        { name: 'documents', description: 'ingest, list and revoke documents' },
        { name: 'retrieval', description: 'bounded retrieval sealed as ContextBundles' },
        { name: 'sessions', description: 'agent runs with budgets' },
        { name: 'proposals', description: 'propose, decide, approve, reject, warrants' },
        { name: 'transitions', description: 'execute with a warrant; verify warrants' },
        { name: 'resources', description: 'resource state and decisions' },
        { name: 'audit', description: 'ledger verification, lineage, impact, entries' },
        { name: 'catalog', description: 'catalog and Cedar policies' },
        { name: 'events', description: 'live ledger entries' },
      ],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API key `writ_…` from `writ keys create --principal ID`' } },
      },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await server.register(fastifySwaggerUi, { routePrefix: '/docs', staticCSP: true, uiConfig: { url: '/openapi.json', deepLinking: true } });
  server.get('/openapi.json', { schema: { hide: true } as never }, async () => server.swagger());

  await server.register(systemRoutes, { app });
  await server.register(wellKnownRoutes, { app });
  await server.register(eventRoutes, { app });
  await server.register(async (v1) => {
    await v1.register(authPlugin, {
      app,
      ratePerSecond: options.rateLimit?.ratePerSecond ?? settings.ratePerSecond,
      rateBurst: options.rateLimit?.burst ?? settings.rateBurst,
    });
    for (const routes of [documentRoutes, retrieveRoutes, sessionRoutes, proposalRoutes, transitionRoutes, resourceRoutes, auditRoutes, catalogRoutes]) {
      await v1.register(routes, { app });
    }
    for (const routes of options.routes ?? []) await v1.register(routes, { app });
  });
  return server;
}

/**
 * Answers 503 SERVER_TIMEOUT when a route has not replied within its time limit. A handler
 * still running is not interrupted (SQLite work is synchronous and short); its late reply
 * is dropped.
 */
function installRouteTimeouts(server: FastifyInstance, defaultMs: number): void {
  const timers = new WeakMap<object, NodeJS.Timeout>();
  server.addHook('onRequest', async (request, reply) => {
    const ms = request.routeOptions.config?.timeoutMs ?? defaultMs;
    if (!(ms > 0)) return;
    const timer = setTimeout(() => {
      if (reply.sent || reply.raw.headersSent) return;
      // A write is not cancelled by its time limit: it goes on and may still commit, so the
      // caller must not read this answer as "nothing happened" and blindly send it again.
      const mayStillComplete = request.method !== 'GET' && request.method !== 'HEAD';
      const message = mayStillComplete
        ? `request did not finish within \`${ms}\` ms and goes on: it may still complete. Look for its entries (GET /v1/audit/entries?requestId=${String(request.id)}) before sending it again, or send it again with the same idempotency key where the route takes one`
        : `request did not finish within \`${ms}\` ms`;
      void reply.send(new WritError(ServerErrors.SERVER_TIMEOUT, message, { details: { timeoutMs: ms, requestId: String(request.id), mayStillComplete } }));
    }, ms);
    timer.unref();
    timers.set(request, timer);
  });
  const clear = async (request: object) => {
    clearTimeout(timers.get(request));
    timers.delete(request);
  };
  server.addHook('onResponse', clear);
  server.addHook('onRequestAbort', clear);
}

/**
 * Runs `broker.expireStale` every `everyMs` while the server is up (from `onReady` to
 * `onClose`; the timer never keeps the process alive). A failed sweep (e.g. the database
 * stayed locked) is logged and tried again at the next tick.
 */
function installExpirySweep(server: FastifyInstance, app: WritApp, everyMs: number): void {
  if (!(everyMs > 0)) return;
  let timer: NodeJS.Timeout | undefined;
  server.addHook('onReady', async () => {
    timer = setInterval(() => {
      try {
        const expired = app.broker.expireStale();
        if (expired.length > 0) server.log.info({ expired: expired.length }, 'expired proposals past their time');
      } catch (err) {
        server.log.warn({ err }, 'expiry sweep failed; trying again at the next tick');
      }
    }, everyMs);
    timer.unref();
  });
  server.addHook('onClose', async () => clearInterval(timer));
}

/** Longest path parameter the router takes: ids are at most 200 characters, up to 600 percent-encoded. */
const MAX_PARAM_LENGTH = 1024;

/** A POST with `content-type: application/json` and no body reads as no body (e.g. `curl -X POST`). Other content types, plain text included, are refused (415). */
function acceptEmptyJsonBodies(server: FastifyInstance): void {
  server.removeContentTypeParser('text/plain');
  // Fastify's own parser (it refuses `__proto__` and `constructor` poisoning).
  const parseJson = server.getDefaultJsonParser('error', 'error');
  server.removeContentTypeParser('application/json');
  server.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if ((typeof body === 'string' ? body : body.toString('utf8')).trim() === '') return done(null, undefined);
    return parseJson(request, typeof body === 'string' ? body : body.toString('utf8'), done);
  });
}
