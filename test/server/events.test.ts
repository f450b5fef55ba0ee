// End-to-end tests of the live events (SSE and WebSocket) against the real server on a
// loopback port, the real Chroma child and the sample workspace.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import { createApp, type WritApp } from '../../src/app.js';
import { buildServer } from '../../src/server/index.js';
import { loadConfig, openKeyring, type Principal } from '../../src/core/index.js';
import { createLedger, ledgerMigrations, type LedgerEntry } from '../../src/ledger/index.js';
import { openStore, type Store } from '../../src/store/index.js';

/** The bits of the `ws` client these tests use (the package ships no types here). */
interface WsClient {
  on(event: 'open' | 'close' | 'error' | 'message' | 'unexpected-response', listener: (...args: any[]) => void): void;
  close(): void;
  readonly protocol: string;
}
const { WebSocket } = createRequire(import.meta.url)('ws') as {
  WebSocket: new (url: string, protocols?: string[], options?: { headers?: Record<string, string> }) => WsClient;
};

interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** A fetch-based SSE reader: collects events, lets a test wait for some. */
interface SseClient {
  readonly status: number;
  readonly events: SseEvent[];
  /** True once the server ended the response. */
  readonly ended: boolean;
  entries(): LedgerEntry[];
  waitFor(check: (events: SseEvent[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

let home: string;
let app: WritApp;
let server: FastifyInstance;
let base: string;
const keys: Record<string, string> = {};
const principals: Record<string, Principal> = {};
let secondStore: Store | undefined;
let target = 0;
const sessions: Record<string, string> = {};

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function openSse(key: string | undefined, query = '', headers: Record<string, string> = {}): Promise<SseClient> {
  const controller = new AbortController();
  const res = await fetch(`${base}/v1/events${query}`, {
    headers: { ...(key === undefined ? {} : { authorization: `Bearer ${key}` }), ...headers },
    signal: controller.signal,
  });
  const events: SseEvent[] = [];
  let ended = false;
  if (res.ok && res.body !== null) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      let buffer = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) {
            ended = true;
            return;
          }
          buffer += value;
          let cut: number;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const ev: SseEvent = { event: 'message', data: '' };
            let isEvent = false;
            for (const line of frame.split('\n')) {
              if (line.startsWith(':') || line === '') continue;
              const at = line.indexOf(':');
              const field = at < 0 ? line : line.slice(0, at);
              const value = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
              if (field === 'id') ev.id = value;
              if (field === 'event') ev.event = value;
              if (field === 'data') {
                ev.data = value;
                isEvent = true;
              }
            }
            if (isEvent) events.push(ev);
          }
        }
      } catch {
        // aborted
      }
    })();
  } else {
    await res.body?.cancel();
  }
  return {
    status: res.status,
    events,
    get ended() {
      return ended;
    },
    entries: () => events.filter((e) => e.id !== undefined).map((e) => JSON.parse(e.data) as LedgerEntry),
    waitFor: (check, timeoutMs = 5000) => until(() => check(events), timeoutMs, 'events'),
    close: () => controller.abort(),
  };
}

function openWs(options: { key?: string; subprotocolKey?: string; query?: string }): Promise<{ ws: WsClient; messages: any[]; status?: number; closed: { code?: number } }> {
  const protocols = options.subprotocolKey === undefined ? undefined : ['writ.events.v1', `writ.key.${options.subprotocolKey}`];
  const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/events/ws${options.query ?? ''}`, protocols, {
    headers: options.key === undefined ? {} : { authorization: `Bearer ${options.key}` },
  });
  const messages: any[] = [];
  const closed: { code?: number } = {};
  return new Promise((resolve, reject) => {
    ws.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString('utf8'))));
    ws.on('close', (code: number) => (closed.code = code));
    ws.on('open', () => resolve({ ws, messages, closed }));
    ws.on('unexpected-response', (_req: unknown, res: { statusCode: number }) => resolve({ ws, messages, closed, status: res.statusCode }));
    ws.on('error', reject);
  });
}

/** A new principal of acme and a key for it (tests that revoke, disable or re-role keep to their own). */
function newPrincipal(id: string, kind: Principal['kind'], roles: string[]): { principal: Principal; keyId: string; key: string } {
  app.broker.upsertPrincipal({ id, kind, tenant: 'acme', roles, groups: [] });
  const issued = app.keys.create(id, 'events test');
  return { principal: app.broker.getPrincipal(id)!, keyId: issued.id, key: issued.key };
}

/** Proposes a refund as `who` and decides it; large amounts need a finance approval. */
function proposeRefund(who: string, amountCents: number): { proposalId: string; outcome: string } {
  target += 1;
  const p = app.broker.propose(principals[who]!, {
    ...(sessions[who] === undefined ? {} : { sessionId: sessions[who] }),
    action: 'refund.request',
    targetId: `rf-ev-${target}`,
    params: { amountCents, currency: 'EUR', orderId: 'ord-1001', recipientAccount: 'DE44500105175407324931' },
  });
  const d = app.broker.decide(p.id);
  return { proposalId: p.id, outcome: d.outcome };
}

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'writ-'));
  app = await createApp({ config: loadConfig({ env: { WRIT_HOME: home, WRIT_LOG_LEVEL: 'silent' } }) });
  for (const k of app.firstStartKeys) keys[k.principalId] = k.key;
  for (const id of ['desk-agent', 'sam', 'riley', 'fatima', 'globex-agent']) principals[id] = app.broker.getPrincipal(id)!;
  for (const agent of ['desk-agent', 'globex-agent']) {
    sessions[agent] = app.broker.createSession(principals[agent]!, { ttlMs: 3600_000, budgets: { proposals: 200 } }).id;
  }
  server = await buildServer(app, { logger: false });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const address = server.server.address() as { port: number };
  base = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  await server?.close();
  secondStore?.close();
  await app?.close();
  rmSync(home, { recursive: true, force: true });
});

describe('GET /v1/events (SSE)', () => {
  test('refuses a subscriber without a key (401) or with a bad one (401)', async () => {
    const none = await openSse(undefined);
    assert.equal(none.status, 401);
    const bad = await openSse('writ_key_01JD0000000000000000000000_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    assert.equal(bad.status, 401);
  });

  test('streams a new proposal and its decision to an auditor at once, in seq order, with the seq as event id', async () => {
    const sse = await openSse(keys.fatima);
    assert.equal(sse.status, 200);
    await sse.waitFor((evs) => evs.some((e) => e.event === 'ready'));
    const { proposalId } = proposeRefund('desk-agent', 2500);
    await sse.waitFor((evs) => evs.some((e) => e.event === 'decision.made'));
    const entries = sse.entries();
    assert.deepEqual(
      entries.map((e) => e.kind),
      ['proposal.created', 'decision.made'],
    );
    assert.equal(entries[0]?.subjectId, proposalId);
    assert.equal(entries[1]!.seq, entries[0]!.seq + 1);
    for (const ev of sse.events.filter((e) => e.id !== undefined)) assert.equal(ev.id, String((JSON.parse(ev.data) as LedgerEntry).seq));
    assert.deepEqual(entries, app.ledger.entries({ afterSeq: entries[0]!.seq - 1, limit: 2 }), 'the stream carries the stored entries');
    sse.close();
  });

  test('an approver filtering on decision.made sees a pending proposal (needs_approval) and nothing else', async () => {
    const sse = await openSse(keys.fatima, '?kinds=decision.made');
    await sse.waitFor((evs) => evs.some((e) => e.event === 'ready'));
    const { proposalId, outcome } = proposeRefund('desk-agent', 50_000);
    assert.equal(outcome, 'needs_approval');
    await sse.waitFor((evs) => evs.some((e) => e.event === 'decision.made'));
    await new Promise((r) => setTimeout(r, 100));
    const entries = sse.entries();
    assert.equal(entries.length, 1);
    assert.equal(entries[0]?.kind, 'decision.made');
    assert.deepEqual([(entries[0]?.body as { proposalId: string }).proposalId, (entries[0]?.body as { outcome: string }).outcome], [proposalId, 'needs_approval']);
    sse.close();
  });

  test('resuming with Last-Event-ID delivers exactly the entries missed, then new ones', async () => {
    const first = await openSse(keys.fatima);
    await first.waitFor((evs) => evs.some((e) => e.event === 'ready'));
    proposeRefund('desk-agent', 1000);
    await first.waitFor((evs) => evs.some((e) => e.event === 'decision.made'));
    const lastId = first.events.filter((e) => e.id !== undefined).at(-1)!.id!;
    first.close();

    proposeRefund('desk-agent', 1100);
    proposeRefund('desk-agent', 1200);
    const missed = app.ledger.entries({ afterSeq: Number(lastId), tenant: 'acme' });
    assert.equal(missed.length, 4);

    const resumed = await openSse(keys.fatima, '', { 'last-event-id': lastId });
    await resumed.waitFor((evs) => evs.filter((e) => e.id !== undefined).length >= 4);
    proposeRefund('desk-agent', 1300);
    await resumed.waitFor((evs) => evs.filter((e) => e.id !== undefined).length >= 6);
    await new Promise((r) => setTimeout(r, 100));
    const got = resumed.entries().map((e) => e.seq);
    const expected = app.ledger.entries({ afterSeq: Number(lastId), tenant: 'acme' }).map((e) => e.seq);
    assert.deepEqual(got, expected, 'no gap, no duplicate');
    assert.equal(got.length, 6);
    resumed.close();

    const byQuery = await openSse(keys.fatima, `?afterSeq=${lastId}&kinds=proposal.created`);
    await byQuery.waitFor((evs) => evs.filter((e) => e.id !== undefined).length >= 3);
    assert.deepEqual(
      byQuery.entries().map((e) => e.kind),
      ['proposal.created', 'proposal.created', 'proposal.created'],
    );
    byQuery.close();
  });

  test("another tenant's subscriber never receives acme entries, and may not ask for them", async () => {
    const globex = await openSse(keys['globex-agent'], '?afterSeq=0');
    await globex.waitFor((evs) => evs.some((e) => e.event === 'ready'));
    proposeRefund('desk-agent', 700);
    const own = proposeRefund('globex-agent', 700);
    await globex.waitFor((evs) => evs.some((e) => e.event === 'decision.made'));
    await new Promise((r) => setTimeout(r, 100));
    const entries = globex.entries();
    assert.ok(entries.length >= 2);
    assert.ok(entries.every((e) => e.tenant === 'globex'), 'only globex entries');
    assert.ok(entries.some((e) => e.subjectId === own.proposalId));
    globex.close();

    const forged = await openSse(keys['globex-agent'], '?tenant=acme');
    assert.equal(forged.status, 403);
  });

  test("an agent sees its own proposals' entries, including others' approvals, but not other principals' private entries", async () => {
    const from = app.ledger.head().seq;
    const agent = await openSse(keys['desk-agent'], `?afterSeq=${from}`);
    const riley = await openSse(keys.riley, `?afterSeq=${from}`);
    await agent.waitFor((evs) => evs.some((e) => e.event === 'ready'));
    // Private to sam: a session and a retrieval (bundle.sealed).
    const samSession = app.broker.createSession(principals.sam!, { ttlMs: 60_000 });
    const bundle = await app.retrieve(principals.sam!, { query: 'refund policy', k: 3 });
    // Riley's own pending proposal: not the agent's business.
    const rileys = proposeRefund('riley', 60_000);
    // The agent's proposal, approved by fatima: the approval concerns the agent's proposal.
    const mine = proposeRefund('desk-agent', 60_000);
    assert.equal(mine.outcome, 'needs_approval');
    app.broker.approve(principals.fatima!, mine.proposalId);
    await agent.waitFor((evs) => evs.some((e) => e.event === 'approval.granted'));
    await riley.waitFor((evs) => evs.some((e) => e.event === 'approval.granted'));
    await new Promise((r) => setTimeout(r, 100));

    const seen = agent.entries();
    const ids = new Set(seen.flatMap((e) => [e.subjectId, ...(e.refs ?? [])]));
    assert.ok(seen.some((e) => e.kind === 'proposal.created' && e.subjectId === mine.proposalId));
    assert.ok(seen.some((e) => e.kind === 'approval.granted' && e.actorId === 'fatima'), "fatima's approval of the agent's proposal");
    assert.ok(!ids.has(samSession.id), "no entry about sam's session");
    assert.ok(!ids.has(bundle.bundleId), "no entry about sam's bundle");
    assert.ok(!ids.has(rileys.proposalId), "no entry about riley's proposal");
    assert.ok(seen.every((e) => e.tenant === 'acme'));

    // A support user follows the tenant's proposal workflow, but not sam's private entries.
    const rileySees = riley.entries();
    assert.ok(rileySees.some((e) => e.subjectId === mine.proposalId), "riley sees the agent's proposal");
    assert.ok(!rileySees.some((e) => e.kind === 'bundle.sealed' || e.kind === 'session.created'), "riley sees neither sam's bundle nor sam's session");
    agent.close();
    riley.close();
  });

  test('refuses a 21st open stream of one principal with 429, and frees the slot when a stream closes', async () => {
    const open: SseClient[] = [];
    for (let i = 0; i < 20; i++) open.push(await openSse(keys.riley));
    assert.ok(open.every((s) => s.status === 200));
    const extra = await openSse(keys.riley);
    assert.equal(extra.status, 429);
    const ws = await openWs({ key: keys.riley });
    assert.equal(ws.status, 429);
    ws.ws.close();
    const sam = await openSse(keys.sam);
    assert.equal(sam.status, 200, 'other principals are not affected');
    sam.close();
    open.pop()!.close();
    let again: SseClient | undefined;
    for (let i = 0; i < 50 && again?.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 20));
      again = await openSse(keys.riley);
    }
    assert.equal(again?.status, 200);
    again?.close();
    for (const s of open) s.close();
  });

  test("ends a stream with AUTH_INVALID_KEY within a second of its key's revocation, and delivers nothing after", async () => {
    const watcher = newPrincipal('sse-revoked', 'user', ['auditor']);
    const sse = await openSse(watcher.key);
    await sse.waitFor((evs) => evs.some((e) => e.event === 'ready'));
    proposeRefund('desk-agent', 2600);
    await sse.waitFor((evs) => evs.some((e) => e.event === 'decision.made'));

    // As `writ keys revoke` would, from any process: a write to the key's row, no signal to the server.
    app.keys.revoke(watcher.keyId);
    const revokedAt = Date.now();
    proposeRefund('desk-agent', 2700);
    await sse.waitFor((evs) => evs.some((e) => e.event === 'error'), 3000);
    const tookMs = Date.now() - revokedAt;
    assert.ok(tookMs < 2500, `the stream ended ${tookMs} ms after the revocation`);
    const last = sse.events.at(-1)!;
    assert.equal(last.event, 'error', 'the error is the last event');
    const end = JSON.parse(last.data) as { code: string; message: string; details: Record<string, unknown>; requestId: string; resumeAfterSeq: number };
    assert.equal(end.code, 'AUTH_INVALID_KEY');
    assert.deepEqual(end.details, { principalId: 'sse-revoked' });
    assert.match(end.requestId, /^req_/);
    assert.equal(end.resumeAfterSeq >= sse.entries().at(-1)!.seq, true);
    await until(() => sse.ended, 2000, 'the server to end the response');

    const delivered = sse.events.length;
    proposeRefund('desk-agent', 2800);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(sse.events.length, delivered, 'nothing after the error');
    sse.close();
  });

  test('narrows a stream at once when its principal loses the auditor role, and keeps it open', async () => {
    const watcher = newPrincipal('sse-rerole', 'user', ['auditor']);
    const sse = await openSse(watcher.key, '?kinds=bundle.sealed');
    await sse.waitFor((evs) => evs.some((e) => e.event === 'ready'));
    const first = await app.retrieve(principals.sam!, { query: 'refund policy', k: 1 });
    await sse.waitFor((evs) => evs.some((e) => e.id !== undefined));
    assert.deepEqual(sse.entries().map((e) => e.subjectId), [first.bundleId], "an auditor sees sam's bundle");

    app.broker.upsertPrincipal({ ...watcher.principal, roles: [] });
    await new Promise((r) => setTimeout(r, 1300));
    const second = await app.retrieve(principals.sam!, { query: 'refund policy', k: 1 });
    proposeRefund('desk-agent', 2900);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!sse.entries().some((e) => e.subjectId === second.bundleId), "without the role, sam's bundle is not streamed");
    assert.ok(!sse.ended && !sse.events.some((e) => e.event === 'error'), 'the key is still good: the stream stays open');
    sse.close();
  });

  test('HEAD answers the stream headers (and refusals) without opening a stream or holding a slot', async () => {
    const { key } = newPrincipal('sse-head', 'user', []);
    const head = (k: string) => fetch(`${base}/v1/events`, { method: 'HEAD', headers: { authorization: `Bearer ${k}` }, signal: AbortSignal.timeout(3000) });
    for (let i = 0; i < 25; i++) {
      const res = await head(key);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    }
    assert.equal((await head('writ_key_01JD0000000000000000000000_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).status, 401);
    const sse = await openSse(key);
    assert.equal(sse.status, 200, 'no slot is held by the HEAD requests');
    sse.close();
  });

  test('delivers entries appended by another process (a second store connection) through the poll', async () => {
    const sse = await openSse(keys.fatima);
    await sse.waitFor((evs) => evs.some((e) => e.event === 'ready'));
    secondStore = openStore({ path: join(home, 'writ.db'), migrations: ledgerMigrations });
    const other = createLedger({ store: secondStore, keyring: openKeyring({ dir: join(home, 'keys', 'ledger'), purpose: 'ledger' }) });
    const appended = other.append({ kind: 'note.added', subjectId: 'note-from-cli', tenant: 'acme', actorId: 'fatima', body: { text: 'from another process' } });
    await sse.waitFor((evs) => evs.some((e) => e.event === 'note.added'), 3000);
    const got = sse.entries().find((e) => e.kind === 'note.added');
    assert.equal(got?.seq, appended.seq);
    assert.equal(got?.hash, appended.hash);
    sse.close();
  });
});

describe('OpenAPI', () => {
  test('the OpenAPI document describes both event routes and their query', async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, { get?: { parameters?: Array<{ name: string }> } }> };
    for (const path of ['/v1/events', '/v1/events/ws']) {
      const names = (doc.paths[path]?.get?.parameters ?? []).map((p) => p.name).sort();
      assert.deepEqual(names, ['afterSeq', 'kinds', 'tenant'], path);
    }
  });
});

describe('shutdown', () => {
  test('closing the server ends an open stream with LEDGER_FEED_CLOSED and the seq to resume after', async () => {
    const second = await buildServer(app, { logger: false });
    await second.listen({ host: '127.0.0.1', port: 0 });
    const savedBase = base;
    base = `http://127.0.0.1:${(second.server.address() as { port: number }).port}`;
    try {
      const sse = await openSse(keys.fatima);
      await sse.waitFor((evs) => evs.some((e) => e.event === 'ready'));
      proposeRefund('desk-agent', 800);
      await sse.waitFor((evs) => evs.some((e) => e.event === 'decision.made'));
      await Promise.race([second.close(), new Promise((_, reject) => setTimeout(() => reject(new Error('server.close hung on an open stream')), 5000))]);
      await sse.waitFor((evs) => evs.some((e) => e.event === 'error'));
      const end = JSON.parse(sse.events.find((e) => e.event === 'error')!.data) as { code: string; resumeAfterSeq: number };
      assert.equal(end.code, 'LEDGER_FEED_CLOSED');
      assert.equal(end.resumeAfterSeq, sse.entries().at(-1)!.seq);
    } finally {
      base = savedBase;
    }
  });
});

describe('GET /v1/events/ws (WebSocket)', () => {
  test('refuses an upgrade without a key (401)', async () => {
    const { status, ws } = await openWs({});
    assert.equal(status, 401);
    ws.close();
  });

  test('a plain GET (no upgrade) with a good key answers 426 SERVER_UPGRADE_REQUIRED with the error body', async () => {
    const res = await fetch(`${base}/v1/events/ws`, { headers: { authorization: `Bearer ${keys.sam}` } });
    assert.equal(res.status, 426);
    assert.equal(res.headers.get('upgrade'), 'websocket');
    const body = (await res.json()) as { code: string; requestId: string };
    assert.equal(body.code, 'SERVER_UPGRADE_REQUIRED');
    assert.equal(body.requestId, res.headers.get('x-request-id'));
  });

  test('ends a socket with an AUTH_INVALID_KEY frame and close code 1008 once its principal is disabled', async () => {
    const watcher = newPrincipal('ws-disabled', 'user', []);
    const socket = await openWs({ subprotocolKey: watcher.key });
    await until(() => socket.messages.some((m) => m.type === 'ready'), 3000, 'ready');
    app.broker.upsertPrincipal(watcher.principal, { disabled: true });
    const disabledAt = Date.now();
    await until(() => socket.closed.code !== undefined, 3000, 'the socket to close');
    assert.ok(Date.now() - disabledAt < 2500);
    assert.equal(socket.closed.code, 1008);
    const last = socket.messages.at(-1);
    assert.equal(last.type, 'error');
    assert.equal(last.code, 'AUTH_INVALID_KEY');
    assert.match(last.requestId, /^req_/);
    assert.equal(typeof last.resumeAfterSeq, 'number');
  });

  test('delivers the same entries as SSE, authenticated by header or by subprotocol', async () => {
    const from = app.ledger.head().seq;
    const byHeader = await openWs({ key: keys.fatima, query: `?afterSeq=${from}` });
    const byProtocol = await openWs({ subprotocolKey: keys.fatima, query: `?afterSeq=${from}` });
    assert.equal(byProtocol.ws.protocol, 'writ.events.v1', 'the server echoes the events subprotocol, never the key');
    const sse = await openSse(keys.fatima, `?afterSeq=${from}`);
    await sse.waitFor((evs) => evs.some((e) => e.event === 'ready'));
    proposeRefund('desk-agent', 900);
    const done = (m: any[]) => m.some((x) => x.type === 'entry' && x.entry.kind === 'decision.made');
    await until(() => done(byHeader.messages) && done(byProtocol.messages), 5000, 'websocket entries');
    await sse.waitFor((evs) => evs.some((e) => e.event === 'decision.made'));
    assert.equal(byHeader.messages[0].type, 'ready');
    const wsEntries = byHeader.messages.filter((m) => m.type === 'entry').map((m) => m.entry);
    assert.deepEqual(wsEntries, sse.entries());
    assert.deepEqual(byProtocol.messages.filter((m) => m.type === 'entry').map((m) => m.entry), wsEntries);
    byHeader.ws.close();
    byProtocol.ws.close();
    sse.close();
  });
});
