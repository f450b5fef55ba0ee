// Live events: ledger entries streamed as they commit, over Server-Sent Events
// (`GET /v1/events`) and WebSocket (`GET /v1/events/ws`), filtered by kind, tenant and
// visibility, resumable by seq. Registered outside the `/v1` auth scope: it authenticates
// itself, because a browser's WebSocket cannot send an `Authorization` header.
// The rules are in docs/events.md.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import websocket from '@fastify/websocket';
import { z } from 'zod';
import { CoreErrors, WritError, type Principal } from '../../core/index.js';
import { AuthErrors } from '../../auth/index.js';
import { ServerErrors } from '../errors.js';
import { ErrorSchema } from '../schemas.js';
import { createLedgerFeed, type FeedEnd, type FeedSubscription, type LedgerEntry, type LedgerFeed } from '../../ledger/index.js';
import type { WritApp } from '../../app.js';
import { createEventVisibility, eventScopeOf } from '../event-visibility.js';

export interface EventRoutesOptions {
  readonly app: WritApp;
  /** Poll for other processes' appends every this many ms. Default 50. */
  readonly pollMs?: number;
  /** SSE comment / WebSocket ping interval. Default 15,000 ms. */
  readonly heartbeatMs?: number;
  /** Bytes a subscriber's socket may buffer before the feed stops sending to it. Default 1 MiB. */
  readonly highWaterBytes?: number;
  /** A stalled subscriber further behind than this many entries is disconnected. Default 10,000. */
  readonly maxLagEntries?: number;
  /** Open streams (SSE and WebSocket together) one principal may hold. Default 20. */
  readonly maxStreamsPerPrincipal?: number;
  /** Re-authenticate an open stream (key not revoked, principal enabled, current roles) at least this often, in ms. Default 1,000. */
  readonly authCheckMs?: number;
}

/** The WebSocket subprotocol clients offer; a browser passes its key as a second one, `writ.key.<key>`. */
export const EVENTS_SUBPROTOCOL = 'writ.events.v1';
const KEY_SUBPROTOCOL_PREFIX = 'writ.key.';
const KIND = /^[a-z_]+\.[a-z_]+$/;

const EventsQuerySchema = z.object({
  afterSeq: z.coerce.number().int().min(0).optional().describe('deliver entries after this seq (`Last-Event-ID` wins when both are sent); default: only new entries'),
  kinds: z
    .string()
    .max(4000)
    .optional()
    .describe('comma-separated kinds, e.g. `proposal.created,decision.made`; default: every kind'),
  tenant: z.string().min(1).max(200).optional().describe("must be the caller's own tenant (the only one it may see)"),
});
type EventsQuery = z.infer<typeof EventsQuerySchema>;

/** What this file uses of a `ws` socket (the package ships no types here). */
interface EventSocket {
  readonly OPEN: number;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string, callback?: (err?: Error) => void): void;
  close(code?: number, reason?: string): void;
  ping(): void;
  on(event: 'close' | 'error' | 'message', listener: (...args: unknown[]) => void): void;
}

interface Stream {
  readonly principal: Principal;
  /** The id of the key that opened the stream, to re-check it while the stream is open (the secret is not kept). */
  readonly keyId: string;
  readonly afterSeq: number;
  readonly kinds: readonly string[];
}

interface ClaimedStream extends Stream {
  /** Gives the principal's stream slot back; idempotent. */
  readonly release: () => void;
}

function parseKinds(text: string | undefined): string[] {
  if (text === undefined || text.trim() === '') return [];
  const kinds = [...new Set(text.split(',').map((k) => k.trim()).filter((k) => k !== ''))];
  const bad = kinds.filter((k) => !KIND.test(k) || k.length > 100);
  if (bad.length > 0 || kinds.length > 100) {
    throw new WritError(CoreErrors.INVALID_INPUT, 'invalid request querystring: `kinds` must be at most 100 kinds reading `area.event`', {
      details: { issues: bad.map((k) => ({ path: 'kinds', code: 'invalid_format', message: `\`${k}\` does not read \`area.event\`` })) },
    });
  }
  return kinds;
}

function headerKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string' && header.trim() !== '') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header.trim());
    return match?.[1] ?? header.trim();
  }
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey.trim() !== '' ? apiKey.trim() : undefined;
}

function subprotocolKey(request: FastifyRequest): string | undefined {
  const header = request.headers['sec-websocket-protocol'];
  if (typeof header !== 'string') return undefined;
  const offered = header.split(',').map((p) => p.trim());
  const key = offered.find((p) => p.startsWith(KEY_SUBPROTOCOL_PREFIX));
  return key === undefined ? undefined : key.slice(KEY_SUBPROTOCOL_PREFIX.length);
}

function lastEventId(request: FastifyRequest): number | undefined {
  const header = request.headers['last-event-id'];
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  const value = Number(header.trim());
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new WritError(CoreErrors.INVALID_INPUT, 'invalid request headers: `Last-Event-ID` must be a ledger seq (a non-negative integer)', {
      details: { issues: [{ path: 'last-event-id', code: 'invalid_type', message: 'expected a non-negative integer' }] },
    });
  }
  return value;
}

/** Authenticates the caller and checks the stream's parameters; every refusal is an HTTP error before any streaming. */
function openStream(app: WritApp, request: FastifyRequest, query: EventsQuery, key: string | undefined): Stream {
  // INVARIANT: the subscriber's principal comes from its key; nothing in the query names it.
  const principal = app.authenticate(key);
  const { keyId } = app.keys.authenticate(key);
  if (query.tenant !== undefined && query.tenant !== principal.tenant) {
    throw new WritError(AuthErrors.AUTH_FORBIDDEN, `principal \`${principal.id}\` may not read events of tenant \`${query.tenant}\``, {
      details: { principalId: principal.id, tenant: query.tenant },
    });
  }
  const kinds = parseKinds(query.kinds);
  const afterSeq = lastEventId(request) ?? query.afterSeq ?? app.ledger.head().seq;
  return { principal, keyId, afterSeq, kinds };
}

/**
 * Checks an open stream's authority again, as a new request would be checked: its key is
 * not revoked, and its principal is still enabled and in the same tenant. Returns the
 * principal as stored now (its roles may have changed). It reads SQLite, so it also sees a
 * revocation made by another process (the CLI on the same home); two indexed reads, cheap
 * enough to run every couple of seconds per stream.
 */
function reauthenticate(app: WritApp, stream: Stream): Principal {
  const key = app.keys.list(stream.principal.id).find((k) => k.id === stream.keyId);
  const record = app.broker.getPrincipalRecord(stream.principal.id);
  // INVARIANT: a stream delivers only while its key would still authenticate a new request.
  if (key === undefined || key.revokedAt !== null || record === undefined || record.disabled || record.principal.tenant !== stream.principal.tenant) {
    throw new WritError(AuthErrors.AUTH_INVALID_KEY, 'invalid api key: revoked, or its principal disabled, while the stream was open', {
      details: { principalId: stream.principal.id },
    });
  }
  return record.principal;
}

/** What a stream lets through, decided by its authority as re-checked every `everyMs`. */
interface StreamGuard {
  /** Whether the stream receives an entry; re-authenticates first when a check is due (throws AUTH_INVALID_KEY). */
  accept(entry: LedgerEntry): boolean;
  /** Re-authenticates now (throws AUTH_INVALID_KEY). */
  check(): void;
}

/** Re-checks a stream's key every `ms`, quiet or not: a revocation ends it within `ms`. */
function recheckEvery(ms: number, guard: StreamGuard, onRefused: (err: unknown) => void): NodeJS.Timeout {
  return setInterval(() => {
    try {
      guard.check();
    } catch (err) {
      onRefused(err);
    }
  }, ms);
}

function guardFor(app: WritApp, stream: Stream, everyMs: number): StreamGuard {
  const lookup = { proposal: (id: string) => app.broker.getProposal(id), session: (id: string) => app.broker.getSession(id) };
  const kinds = new Set(stream.kinds);
  let principal = stream.principal;
  let visible = createEventVisibility(principal, lookup);
  let checkedAt = Date.now();
  const check = (): void => {
    const now = reauthenticate(app, stream);
    checkedAt = Date.now();
    // The scope follows the principal's current roles: a role taken away narrows the stream at once.
    if (eventScopeOf(now) !== eventScopeOf(principal)) visible = createEventVisibility(now, lookup);
    principal = now;
  };
  return {
    check,
    accept(entry) {
      // Checked on delivery too, so a stream whose timer lags (a busy event loop) still stops in time.
      if (Date.now() - checkedAt >= everyMs) check();
      return (kinds.size === 0 || kinds.has(entry.kind)) && visible(entry);
    },
  };
}

/** What a stream opened while the server is stopping is told. */
function closedEnd(afterSeq: number): FeedEnd {
  return { code: 'LEDGER_FEED_CLOSED', message: `live feed closed: resume after seq \`${afterSeq}\``, resumeAfterSeq: afterSeq };
}

/** The body of a stream's last event: the standard error body, and the seq to resume after. */
function endBody(end: FeedEnd, requestId: string): string {
  return JSON.stringify({ code: end.code, message: end.error?.message ?? end.message, details: end.error?.details ?? {}, requestId, resumeAfterSeq: end.resumeAfterSeq });
}

/** How a stream ends when its own authority check fails (AUTH_INVALID_KEY), or the check itself fails. */
function refusedEnd(err: unknown, resumeAfterSeq: number): FeedEnd {
  const error = err instanceof WritError ? err : new WritError(CoreErrors.INTERNAL_ERROR, 'internal error', { cause: err });
  return { code: error.code, message: error.message, resumeAfterSeq, error };
}

/**
 * The live-events routes. Owns one ledger feed for the server; `preClose` ends every
 * stream (with LEDGER_FEED_CLOSED and the seq to resume after) so the server can stop.
 */
export const eventRoutes: FastifyPluginAsync<EventRoutesOptions> = async (server, options) => {
  const { app } = options;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const highWater = options.highWaterBytes ?? 1024 * 1024;
  const maxStreams = options.maxStreamsPerPrincipal ?? 20;
  const authCheckMs = options.authCheckMs ?? 1_000;
  const openStreams = new Map<string, number>();
  /** Counts a stream against its principal; returns the release function. */
  const claimStream = (principal: Principal): (() => void) => {
    const open = openStreams.get(principal.id) ?? 0;
    if (open >= maxStreams) {
      throw new WritError(ServerErrors.SERVER_TOO_MANY_STREAMS, `principal \`${principal.id}\` already has \`${open}\` open event streams`, {
        details: { principalId: principal.id, limit: maxStreams },
      });
    }
    openStreams.set(principal.id, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (openStreams.get(principal.id) ?? 1) - 1;
      if (left <= 0) openStreams.delete(principal.id);
      else openStreams.set(principal.id, left);
    };
  };
  const feed: LedgerFeed = createLedgerFeed(app.ledger, {
    // Other processes' appends (the CLI on the same home) are found by this poll; one
    // `ledger.head()` read per tick, and only while someone is subscribed.
    pollMs: options.pollMs ?? 50,
    ...(options.maxLagEntries === undefined ? {} : { maxLagEntries: options.maxLagEntries }),
    onError: (err) => server.log.warn({ err }, 'live feed read failed'),
  });
  server.addHook('preClose', async () => feed.close());

  await server.register(websocket, {
    options: {
      maxPayload: 4096,
      // Echo only the events subprotocol, never the key one.
      handleProtocols: (protocols: Set<string>) => (protocols.has(EVENTS_SUBPROTOCOL) ? EVENTS_SUBPROTOCOL : false),
    },
  });

  const typed = server.withTypeProvider<ZodTypeProvider>();
  const streams = new WeakMap<FastifyRequest, Stream>();

  typed.get(
    '/v1/events',
    {
      config: { timeoutMs: 0 },
      // HEAD is its own route below: Fastify's automatic one would run this handler and hold a stream.
      exposeHeadRoute: false,
      schema: {
        tags: ['events'],
        summary: 'Live ledger entries the caller may see, as Server-Sent Events',
        description:
          'A `text/event-stream`: each entry as `id: <seq>`, `event: <kind>`, `data: <entry JSON>`; a `ready` event first; a comment every 15 s; ' +
          'an `error` event (`LEDGER_FEED_LAGGING`, `LEDGER_FEED_CLOSED`, or `AUTH_INVALID_KEY` once the key is revoked or its principal disabled) with `resumeAfterSeq` before the server ends a stream. Resume with `Last-Event-ID` or `afterSeq`. See docs/events.md.',
        security: [{ bearer: [] }],
        querystring: EventsQuerySchema,
      },
    },
    async (request, reply) => {
      const stream = openStream(app, request, request.query, headerKey(request));
      serveSse(request, reply, { ...stream, release: claimStream(stream.principal) });
    },
  );

  // The answer a GET would start with (the same checks and refusals), without opening a
  // stream: no subscription, no stream slot.
  typed.head(
    '/v1/events',
    { schema: { hide: true, querystring: EventsQuerySchema } },
    async (request, reply) => {
      openStream(app, request, request.query, headerKey(request));
      return reply.status(200).header('content-type', 'text/event-stream; charset=utf-8').header('cache-control', 'no-cache, no-transform').send();
    },
  );

  // The full form (`handler` for plain HTTP, `wsHandler` for upgrades), so a plain GET gets
  // a typed error instead of @fastify/websocket's empty 404, and the route stays in OpenAPI.
  typed.route({
    method: 'GET',
    url: '/v1/events/ws',
    config: { timeoutMs: 0 },
    schema: {
      tags: ['events'],
      summary: 'Live ledger entries the caller may see, over WebSocket',
      description:
        `JSON text frames: \`{type:"ready"}\`, \`{type:"entry",entry}\`, \`{type:"error",code,message,details,requestId,resumeAfterSeq}\`. A plain GET (no upgrade) answers 426 \`SERVER_UPGRADE_REQUIRED\`. Authenticate with \`Authorization: Bearer\`, or (browsers) offer the subprotocols \`${EVENTS_SUBPROTOCOL}\` and \`writ.key.<key>\`. See docs/events.md.`,
      security: [{ bearer: [] }],
      querystring: EventsQuerySchema,
      response: { 426: ErrorSchema },
    },
    // After validation, so the query is parsed; a refusal here is a plain HTTP error, before the upgrade.
    preHandler: async (request) => {
      const key = headerKey(request) ?? subprotocolKey(request);
      const stream = openStream(app, request, request.query as EventsQuery, key);
      if (!request.ws) return;
      // Refuse over the limit before the upgrade; the slot is claimed once the socket is open.
      claimStream(stream.principal)();
      streams.set(request, stream);
    },
    handler: async (request, reply) => {
      void reply.header('upgrade', 'websocket');
      throw new WritError(ServerErrors.SERVER_UPGRADE_REQUIRED, `\`${request.method} /v1/events/ws\` answers only websocket upgrades`, {
        details: { upgrade: 'websocket', subprotocol: EVENTS_SUBPROTOCOL },
      });
    },
    wsHandler: (socket, request) => {
      const stream = streams.get(request);
      streams.delete(request);
      if (stream === undefined) {
        socket.close(1011, 'not authenticated');
        return;
      }
      let release: () => void;
      try {
        release = claimStream(stream.principal);
      } catch (err) {
        const error = err as WritError;
        socket.send(JSON.stringify({ type: 'error', code: error.code, message: error.message, details: error.details, requestId: String(request.id), resumeAfterSeq: stream.afterSeq }));
        socket.close(1008, 'too many streams');
        return;
      }
      serveWebSocket(socket as unknown as EventSocket, String(request.id), { ...stream, release });
    },
  });
  function serveSse(request: FastifyRequest, reply: FastifyReply, stream: ClaimedStream): void {
    reply.hijack();
    const raw = reply.raw;
    // The heartbeat keeps the connection alive; the idle timeout would cut a quiet stream.
    request.raw.socket.setTimeout(0);
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': String(request.id),
    });
    const head = app.ledger.head().seq;
    raw.write(`retry: 2000\n\nevent: ready\ndata: ${JSON.stringify({ afterSeq: stream.afterSeq, head, scope: eventScopeOf(stream.principal), principalId: stream.principal.id })}\n\n`);
    const requestId = String(request.id);
    const guard = guardFor(app, stream, authCheckMs);
    let finished = false;
    let subscription: FeedSubscription | undefined;
    const heartbeat = setInterval(() => raw.write(': keepalive\n\n'), heartbeatMs);
    const endWith = (end: FeedEnd): void => {
      if (!finished && !raw.destroyed) raw.end(`event: error\ndata: ${endBody(end, requestId)}\n\n`);
      finish();
    };
    const authCheck = recheckEvery(authCheckMs, guard, (err) => endWith(refusedEnd(err, subscription?.seq ?? stream.afterSeq)));
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearInterval(heartbeat);
      clearInterval(authCheck);
      stream.release();
      subscription?.close();
    };
    raw.on('close', finish);
    raw.on('error', finish);
    raw.on('drain', () => subscription?.resume());
    if (!feed.isOpen) {
      endWith(closedEnd(stream.afterSeq));
      return;
    }
    subscription = feed.subscribe({
      afterSeq: stream.afterSeq,
      tenant: stream.principal.tenant,
      ...(stream.kinds.length > 0 ? { kinds: stream.kinds } : {}),
      accept: guard.accept,
      isReady: () => !raw.destroyed && raw.writableLength < highWater,
      send: (entry) => {
        raw.write(`id: ${entry.seq}\nevent: ${entry.kind}\ndata: ${JSON.stringify(entry)}\n\n`);
      },
      onEnd: (end) => {
        if (end.code !== null) endWith(end);
        else finish();
      },
    });
  }

  function serveWebSocket(socket: EventSocket, requestId: string, stream: ClaimedStream): void {
    const guard = guardFor(app, stream, authCheckMs);
    let finished = false;
    let waiting = false;
    let subscription: FeedSubscription | undefined;
    const heartbeat = setInterval(() => socket.ping(), heartbeatMs);
    const endWith = (end: FeedEnd): void => {
      if (!finished && socket.readyState === socket.OPEN) {
        socket.send(`{"type":"error",${endBody(end, requestId).slice(1)}`);
        // 1008 "policy violation": the key no longer authorizes the stream, a retry with it is pointless;
        // 1013 "try again later": the client may resume from `resumeAfterSeq`.
        socket.close(end.code === AuthErrors.AUTH_INVALID_KEY ? 1008 : 1013, end.code ?? undefined);
      }
      finish();
    };
    const authCheck = recheckEvery(authCheckMs, guard, (err) => endWith(refusedEnd(err, subscription?.seq ?? stream.afterSeq)));
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearInterval(heartbeat);
      clearInterval(authCheck);
      stream.release();
      subscription?.close();
    };
    socket.on('close', finish);
    socket.on('error', finish);
    // Clients only listen; anything they send is ignored.
    socket.on('message', () => undefined);
    const afterFlush = (): void => {
      if (waiting && socket.bufferedAmount < highWater / 2) {
        waiting = false;
        subscription?.resume();
      }
    };
    const head = app.ledger.head().seq;
    socket.send(JSON.stringify({ type: 'ready', afterSeq: stream.afterSeq, head, scope: eventScopeOf(stream.principal), principalId: stream.principal.id }));
    if (!feed.isOpen) {
      endWith(closedEnd(stream.afterSeq));
      return;
    }
    subscription = feed.subscribe({
      afterSeq: stream.afterSeq,
      tenant: stream.principal.tenant,
      ...(stream.kinds.length > 0 ? { kinds: stream.kinds } : {}),
      accept: guard.accept,
      isReady: () => {
        const ready = socket.readyState === socket.OPEN && socket.bufferedAmount < highWater;
        if (!ready) waiting = true;
        return ready;
      },
      send: (entry) => socket.send(`{"type":"entry","entry":${JSON.stringify(entry)}}`, afterFlush),
      onEnd: (end) => {
        if (end.code !== null) endWith(end);
        else finish();
      },
    });
  }
};
