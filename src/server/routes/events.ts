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
  if (query.tenant !== undefined && query.tenant !== principal.tenant) {
    throw new WritError(AuthErrors.AUTH_FORBIDDEN, `principal \`${principal.id}\` may not read events of tenant \`${query.tenant}\``, {
      details: { principalId: principal.id, tenant: query.tenant },
    });
  }
  const kinds = parseKinds(query.kinds);
  const afterSeq = lastEventId(request) ?? query.afterSeq ?? app.ledger.head().seq;
  return { principal, afterSeq, kinds };
}

function acceptFor(app: WritApp, stream: Stream): (entry: LedgerEntry) => boolean {
  const visible = createEventVisibility(stream.principal, {
    proposal: (id) => app.broker.getProposal(id),
    session: (id) => app.broker.getSession(id),
  });
  const kinds = new Set(stream.kinds);
  return (entry) => (kinds.size === 0 || kinds.has(entry.kind)) && visible(entry);
}

/** What a stream opened while the server is stopping is told. */
function closedEnd(afterSeq: number): FeedEnd {
  return { code: 'LEDGER_FEED_CLOSED', message: `live feed closed: resume after seq \`${afterSeq}\``, resumeAfterSeq: afterSeq };
}

function endBody(end: FeedEnd): string {
  return JSON.stringify({ code: end.code, message: end.message, resumeAfterSeq: end.resumeAfterSeq });
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

  // @fastify/websocket hides WebSocket routes from OpenAPI; this one is documented (as the
  // GET that upgrades), so clients find its query and authentication there.
  server.addHook('onRoute', (route) => {
    if (route.url === '/v1/events/ws' && route.method === 'GET' && route.schema !== undefined) route.schema.hide = false;
  });

  const typed = server.withTypeProvider<ZodTypeProvider>();
  const streams = new WeakMap<FastifyRequest, Stream>();

  typed.get(
    '/v1/events',
    {
      config: { timeoutMs: 0 },
      schema: {
        tags: ['events'],
        summary: 'Live ledger entries the caller may see, as Server-Sent Events',
        description:
          'A `text/event-stream`: each entry as `id: <seq>`, `event: <kind>`, `data: <entry JSON>`; a `ready` event first; a comment every 15 s; ' +
          'an `error` event (`LEDGER_FEED_LAGGING`, `LEDGER_FEED_CLOSED`) with `resumeAfterSeq` before the server ends a stream. Resume with `Last-Event-ID` or `afterSeq`. See docs/events.md.',
        security: [{ bearer: [] }],
        querystring: EventsQuerySchema,
      },
    },
    async (request, reply) => {
      const stream = openStream(app, request, request.query, headerKey(request));
      serveSse(request, reply, { ...stream, release: claimStream(stream.principal) });
    },
  );

  typed.get(
    '/v1/events/ws',
    {
      websocket: true,
      config: { timeoutMs: 0 },
      schema: {
        tags: ['events'],
        summary: 'Live ledger entries the caller may see, over WebSocket',
        description:
          `JSON text frames: \`{type:"ready"}\`, \`{type:"entry",entry}\`, \`{type:"error",code,message,resumeAfterSeq}\`. Authenticate with \`Authorization: Bearer\`, or (browsers) offer the subprotocols \`${EVENTS_SUBPROTOCOL}\` and \`writ.key.<key>\`. See docs/events.md.`,
        security: [{ bearer: [] }],
        querystring: EventsQuerySchema,
      },
      // After validation, so the query is parsed; a refusal here is a plain HTTP error, before the upgrade.
      preHandler: async (request) => {
        const key = headerKey(request) ?? subprotocolKey(request);
        const stream = openStream(app, request, request.query as EventsQuery, key);
        // Refuse over the limit before the upgrade; the slot is claimed once the socket is open.
        claimStream(stream.principal)();
        streams.set(request, stream);
      },
    },
    (socket, request) => {
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
        socket.send(JSON.stringify({ type: 'error', code: (err as WritError).code, message: (err as WritError).message, resumeAfterSeq: stream.afterSeq }));
        socket.close(1008, 'too many streams');
        return;
      }
      serveWebSocket(socket as EventSocket, { ...stream, release });
    },
  );
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
    let finished = false;
    let subscription: FeedSubscription | undefined;
    const heartbeat = setInterval(() => raw.write(': keepalive\n\n'), heartbeatMs);
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearInterval(heartbeat);
      stream.release();
      subscription?.close();
    };
    raw.on('close', finish);
    raw.on('error', finish);
    raw.on('drain', () => subscription?.resume());
    if (!feed.isOpen) {
      raw.end(`event: error\ndata: ${endBody(closedEnd(stream.afterSeq))}\n\n`);
      finish();
      return;
    }
    subscription = feed.subscribe({
      afterSeq: stream.afterSeq,
      tenant: stream.principal.tenant,
      ...(stream.kinds.length > 0 ? { kinds: stream.kinds } : {}),
      accept: acceptFor(app, stream),
      isReady: () => !raw.destroyed && raw.writableLength < highWater,
      send: (entry) => {
        raw.write(`id: ${entry.seq}\nevent: ${entry.kind}\ndata: ${JSON.stringify(entry)}\n\n`);
      },
      onEnd: (end) => {
        if (end.code !== null && !raw.destroyed) raw.end(`event: error\ndata: ${endBody(end)}\n\n`);
        finish();
      },
    });
  }

  function serveWebSocket(socket: EventSocket, stream: ClaimedStream): void {
    let finished = false;
    let waiting = false;
    let subscription: FeedSubscription | undefined;
    const heartbeat = setInterval(() => socket.ping(), heartbeatMs);
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearInterval(heartbeat);
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
      socket.send(`{"type":"error",${endBody(closedEnd(stream.afterSeq)).slice(1)}`);
      socket.close(1013, 'LEDGER_FEED_CLOSED');
      finish();
      return;
    }
    subscription = feed.subscribe({
      afterSeq: stream.afterSeq,
      tenant: stream.principal.tenant,
      ...(stream.kinds.length > 0 ? { kinds: stream.kinds } : {}),
      accept: acceptFor(app, stream),
      isReady: () => {
        const ready = socket.readyState === socket.OPEN && socket.bufferedAmount < highWater;
        if (!ready) waiting = true;
        return ready;
      },
      send: (entry) => socket.send(`{"type":"entry","entry":${JSON.stringify(entry)}}`, afterFlush),
      onEnd: (end) => {
        if (end.code !== null && socket.readyState === socket.OPEN) {
          socket.send(`{"type":"error",${endBody(end).slice(1)}`);
          // 1013 "try again later": the client may resume from `resumeAfterSeq`.
          socket.close(1013, end.code);
        }
        finish();
      },
    });
  }
};
