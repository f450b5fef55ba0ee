// HTTP benchmarks from a second process on loopback: the server runs as a child process
// (`node bin/writ.mjs serve`, temporary WRIT_HOME and WRIT_PORT), driven by autocannon
// from this process. Measures (goals from issue 5):
//   - POST /v1/retrieve p99 at 50 concurrent clients (goal ≤ 40 ms); also in a session (no goal)
//   - POST /v1/proposals (propose + decision) requests/s and p99 (goal ≥ 2,000 req/s, p99 ≤ 20 ms)
//   - SSE delivery latency of an appended entry to a subscriber, p50/p99 over ~1000 appends (goal ≤ 50 ms p99)
// Rate limits are raised for the run through the environment (see RAISED_LIMITS).
// Writes bench/results/http.json. Run: node --import tsx bench/http.ts [seconds-per-load-run]
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { openKeyring } from '../src/core/index.js';
import { createLedger, ledgerMigrations } from '../src/ledger/index.js';
import { openStore } from '../src/store/index.js';
import { freePort } from './free-port.js';

type AutocannonResult = {
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; average: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
  statusCodeStats?: Record<string, { count: number }>;
};
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const SECONDS = Number(process.argv[2] ?? 15);
const RAISED_LIMITS = {
  WRIT_RETRIEVAL_RATE_PER_SECOND: '1000000',
  WRIT_RETRIEVAL_RATE_BURST: '1000000',
  WRIT_RATE_PER_SECOND: '1000000',
  WRIT_RATE_BURST: '1000000',
  // The session a load run opens asks for budgets far above the default ceiling.
  WRIT_SESSION_MAX_RETRIEVALS: '1000000000',
  WRIT_SESSION_MAX_PROPOSALS: '1000000000',
  WRIT_SESSION_MAX_CONTEXT_CHARS: '1000000000000',
};


const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;
const load = (): number[] => loadavg().map((x) => round(x));

async function startServer(home: string, port: number): Promise<{ child: ChildProcess; command: string; startedMs: number }> {
  const env = { ...process.env, WRIT_HOME: home, WRIT_PORT: String(port), WRIT_HOST: '127.0.0.1', WRIT_LOG_LEVEL: 'silent', ...RAISED_LIMITS };
  const attempts: Array<[string, string[]]> = [
    ['node bin/writ.mjs serve', ['bin/writ.mjs', 'serve']],
    ['node --import tsx bench/http-server.ts', ['--import', 'tsx', 'bench/http-server.ts']],
  ];
  for (const [command, args] of attempts) {
    const started = Date.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    let exited = false;
    child.once('exit', () => (exited = true));
    while (!exited && Date.now() - started < 180_000) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        if (res.status === 200) return { child, command, startedMs: Date.now() - started };
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    console.error(`${command} did not start:\n${output.slice(-2000)}`);
    if (!exited) child.kill('SIGTERM');
  }
  throw new Error('the server did not start');
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** CPU seconds (user + system) the server process has used so far, from /proc (Linux). */
function serverCpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 10 ms
  } catch {
    return NaN;
  }
}

/** Runs autocannon and measures the server's and this process's CPU time during the run. */
async function measure(pid: number | undefined, opts: Record<string, unknown>): Promise<{ result: AutocannonResult; cpu: Record<string, number> }> {
  const serverBefore = serverCpuSeconds(pid);
  const clientBefore = process.cpuUsage();
  const result = await autocannon(opts);
  const client = process.cpuUsage(clientBefore);
  const serverCpuS = serverCpuSeconds(pid) - serverBefore;
  return {
    result,
    cpu: {
      serverCpuSeconds: round(serverCpuS),
      serverCoresUsed: round(serverCpuS / result.duration),
      clientCoresUsed: round((client.user + client.system) / 1e6 / result.duration),
      serverCpuMsPerRequest: round((serverCpuS * 1000) / Math.max(1, result.requests.total), 3),
    },
  };
}

function summarize(r: AutocannonResult, extra: Record<string, unknown> = {}) {
  return {
    ...extra,
    durationS: r.duration,
    requests: r.requests.total,
    requestsPerSecond: round(r.requests.average, 1),
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, mean: round(r.latency.average), max: r.latency.max },
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    loadAvgAfter: load(),
  };
}

const home = mkdtempSync(join(tmpdir(), 'writ-bench-http-'));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const loadAtStart = load();
const { child, command, startedMs } = await startServer(home, port);
try {
  const keys = JSON.parse(readFileSync(join(home, 'first-start-keys.json'), 'utf8')) as Record<string, string>;
  const auth = (who: string) => ({ authorization: `Bearer ${keys[who]}`, 'content-type': 'application/json' });
  console.log(`server: ${command} on ${base} (started in ${startedMs} ms), load ${loadAtStart.join(' ')}`);

  // ---- retrieve ----
  const queries = ['refund policy for damaged items', 'how long do refunds take', 'order notes for ord-1001', 'who approves large refunds', 'refund to a different account'];
  const retrieveRequests = queries.map((q) => ({ method: 'POST', path: '/v1/retrieve', headers: auth('sam'), body: JSON.stringify({ query: q, k: 5 }) }));
  const probe = await fetch(`${base}/v1/retrieve`, { method: 'POST', headers: auth('sam'), body: JSON.stringify({ query: queries[0], k: 5 }) });
  const probeBody = (await probe.json()) as { results?: unknown[] };
  if (probe.status !== 200) throw new Error(`retrieve probe answered ${probe.status}: ${JSON.stringify(probeBody)}`);
  await autocannon({ url: base, connections: 10, duration: 3, requests: retrieveRequests }); // warm-up
  const retrieve = await measure(child.pid, { url: base, connections: 50, duration: SECONDS, requests: retrieveRequests });
  const retrieveSummary = summarize(retrieve.result, { route: 'POST /v1/retrieve', principal: 'sam', k: 5, connections: 50, resultsPerQuery: probeBody.results?.length ?? null, cpu: retrieve.cpu });
  console.log('retrieve', JSON.stringify(retrieveSummary));

  // ---- retrieve in a session: the agent's path (each retrieval charged to its session) ----
  const retrievalSessionRes = await fetch(`${base}/v1/sessions`, {
    method: 'POST',
    headers: auth('desk-agent'),
    body: JSON.stringify({ ttlMs: 3600_000, budgets: { retrievals: 100_000_000, contextChars: 1_000_000_000_000 } }),
  });
  const retrievalSession = (await retrievalSessionRes.json()) as { id: string };
  if (retrievalSessionRes.status !== 201) throw new Error(`session create answered ${retrievalSessionRes.status}: ${JSON.stringify(retrievalSession)}`);
  const sessionRetrieveRequests = queries.map((q) => ({
    method: 'POST',
    path: '/v1/retrieve',
    headers: auth('desk-agent'),
    body: JSON.stringify({ query: q, k: 5, sessionId: retrievalSession.id }),
  }));
  await autocannon({ url: base, connections: 10, duration: 2, requests: sessionRetrieveRequests }); // warm-up
  const sessionRetrieve = await measure(child.pid, { url: base, connections: 50, duration: SECONDS, requests: sessionRetrieveRequests });
  const sessionRetrieveSummary = summarize(sessionRetrieve.result, {
    route: 'POST /v1/retrieve (sessionId)',
    principal: 'desk-agent (in one session)',
    k: 5,
    connections: 50,
    cpu: sessionRetrieve.cpu,
  });
  console.log('retrieve-in-session', JSON.stringify(sessionRetrieveSummary));

  // ---- decide: propose + decision, as the agent within one session with a large proposal budget ----
  const sessionRes = await fetch(`${base}/v1/sessions`, {
    method: 'POST',
    headers: auth('desk-agent'),
    body: JSON.stringify({ ttlMs: 3600_000, budgets: { proposals: 10_000_000 } }),
  });
  const session = (await sessionRes.json()) as { id: string };
  if (sessionRes.status !== 201) throw new Error(`session create answered ${sessionRes.status}: ${JSON.stringify(session)}`);
  let counter = 0;
  const proposeBody = () => {
    counter += 1;
    return JSON.stringify({
      sessionId: session.id,
      action: 'refund.request',
      targetId: `rf-bench-${counter}`,
      params: { amountCents: 2500, currency: 'EUR', orderId: 'ord-1001', recipientAccount: 'DE44500105175407324931' },
      basis: [],
      idempotencyKey: `bench-${counter}`,
    });
  };
  const outcomes: Record<string, number> = {};
  const decideRequests = [
    {
      method: 'POST',
      path: '/v1/proposals',
      headers: auth('desk-agent'),
      setupRequest: (req: Record<string, unknown>) => ({ ...req, body: proposeBody() }),
      onResponse: (status: number, body: string) => {
        if (status !== 201) outcomes[`http ${status}`] = (outcomes[`http ${status}`] ?? 0) + 1;
        else {
          const outcome = /"outcome":"([a-z_]+)"/.exec(body)?.[1] ?? 'unknown';
          outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        }
      },
    },
  ];
  const probeDecide = await fetch(`${base}/v1/proposals`, { method: 'POST', headers: auth('desk-agent'), body: proposeBody() });
  if (probeDecide.status !== 201) throw new Error(`propose probe answered ${probeDecide.status}: ${await probeDecide.text()}`);
  await autocannon({ url: base, connections: 10, duration: 3, requests: decideRequests }); // warm-up
  for (const k of Object.keys(outcomes)) delete outcomes[k];
  const decideRuns = [];
  for (const connections of [10, 50]) {
    const r = await measure(child.pid, { url: base, connections, duration: SECONDS, requests: decideRequests });
    const s = summarize(r.result, { route: 'POST /v1/proposals', principal: 'desk-agent (in one session)', connections, outcomes: { ...outcomes }, cpu: r.cpu });
    for (const k of Object.keys(outcomes)) delete outcomes[k];
    console.log('decide', JSON.stringify(s));
    decideRuns.push(s);
  }

  // ---- SSE delivery latency ----
  // Let requests still queued in the server from the load runs finish first.
  await new Promise((r) => setTimeout(r, 3000));
  const APPENDS = 1000;
  const controller = new AbortController();
  const sse = await fetch(`${base}/v1/events?kinds=proposal.created`, { headers: { authorization: `Bearer ${keys.fatima}` }, signal: controller.signal });
  if (sse.status !== 200 || sse.body === null) throw new Error(`SSE answered ${sse.status}`);
  const commitToDelivery: number[] = [];
  const sendToDelivery: number[] = [];
  const sentAt = new Map<string, number>();
  let ready = false;
  let delivered = 0;
  let wake: (() => void) | undefined;
  void (async () => {
    const reader = sse.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        const now = Date.now();
        buffer += value;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          if (frame.includes('event: ready')) ready = true;
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (data === undefined || !frame.includes('event: proposal.created')) continue;
          const entry = JSON.parse(data) as { at: string; body: { idempotencyKey: string | null } };
          const sent = sentAt.get(entry.body.idempotencyKey ?? '');
          if (sent === undefined) continue; // a straggler from the load runs
          commitToDelivery.push(now - Date.parse(entry.at));
          sendToDelivery.push(now - sent);
          delivered += 1;
          wake?.();
        }
      }
    } catch {
      // aborted at the end
    }
  })();
  while (!ready) await new Promise((r) => setTimeout(r, 5));
  const sseLoadBefore = load();
  for (let i = 0; i < APPENDS; i++) {
    const body = proposeBody();
    sentAt.set(`bench-${counter}`, Date.now());
    const waitDelivered = new Promise<void>((r) => (wake = r));
    const res = await fetch(`${base}/v1/proposals`, { method: 'POST', headers: auth('desk-agent'), body });
    if (res.status !== 201) throw new Error(`propose answered ${res.status}`);
    await res.arrayBuffer();
    await Promise.race([waitDelivered, new Promise((r) => setTimeout(r, 1000))]);
  }
  controller.abort();
  commitToDelivery.sort((a, b) => a - b);
  sendToDelivery.sort((a, b) => a - b);
  const sseSummary = {
    route: 'GET /v1/events?kinds=proposal.created (SSE, fatima)',
    appends: APPENDS,
    delivered,
    appendedBy: 'POST /v1/proposals from this process, one at a time (the server appends proposal.created and decision.made)',
    commitToDeliveryMs: { p50: percentile(commitToDelivery, 50), p99: percentile(commitToDelivery, 99), max: commitToDelivery.at(-1) ?? null, resolution: '1 ms (entry `at` is millisecond ISO time; same machine clock)' },
    requestToDeliveryMs: { p50: percentile(sendToDelivery, 50), p99: percentile(sendToDelivery, 99), max: sendToDelivery.at(-1) ?? null },
    loadAvgBefore: sseLoadBefore,
    loadAvgAfter: load(),
  };
  console.log('sse', JSON.stringify(sseSummary));

  // ---- SSE delivery of entries appended by another process (this one, on a second SQLite connection): the poll path ----
  const OTHER_APPENDS = 200;
  const otherStore = openStore({ path: join(home, 'writ.db'), migrations: ledgerMigrations });
  const otherLedger = createLedger({ store: otherStore, keyring: openKeyring({ dir: join(home, 'keys', 'ledger'), purpose: 'ledger' }) });
  const pollController = new AbortController();
  const pollSse = await fetch(`${base}/v1/events?kinds=note.added`, { headers: { authorization: `Bearer ${keys.fatima}` }, signal: pollController.signal });
  const pollLatency: number[] = [];
  let pollReady = false;
  void (async () => {
    const reader = pollSse.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        const now = Date.now();
        buffer += value;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          if (frame.includes('event: ready')) pollReady = true;
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (data === undefined || !frame.includes('event: note.added')) continue;
          pollLatency.push(now - Date.parse((JSON.parse(data) as { at: string }).at));
        }
      }
    } catch {
      // aborted at the end
    }
  })();
  while (!pollReady) await new Promise((r) => setTimeout(r, 5));
  for (let i = 0; i < OTHER_APPENDS; i++) {
    otherLedger.append({ kind: 'note.added', subjectId: `bench-note-${i}`, tenant: 'acme', actorId: 'fatima', body: { i } });
    await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
  }
  await new Promise((r) => setTimeout(r, 1000));
  pollController.abort();
  otherStore.close();
  pollLatency.sort((a, b) => a - b);
  const pollSummary = {
    route: 'GET /v1/events?kinds=note.added (SSE, fatima)',
    appends: OTHER_APPENDS,
    delivered: pollLatency.length,
    appendedBy: 'a second SQLite connection in this process (stands for the CLI), 20–50 ms apart; the server learns of them by its 50 ms poll',
    commitToDeliveryMs: { p50: percentile(pollLatency, 50), p99: percentile(pollLatency, 99), max: pollLatency.at(-1) ?? null },
    loadAvgAfter: load(),
  };
  console.log('sse-other-process', JSON.stringify(pollSummary));

  const result = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version, loadAvgAtStart: loadAtStart },
    server: { command, env: { WRIT_LOG_LEVEL: 'silent', ...RAISED_LIMITS }, workspace: 'examples/support-desk', startupMs: startedMs },
    client: 'autocannon 9 in a second process on loopback (this process; shares the 2 cores with the server)',
    secondsPerRun: SECONDS,
    retrieve: { goal: 'p99 <= 40 ms at 50 connections', ...retrieveSummary },
    retrieveInSession: { goal: 'none (the agent path: same as retrieve, charged to a session)', ...sessionRetrieveSummary },
    decide: { goal: '>= 2000 req/s with p99 <= 20 ms', runs: decideRuns },
    sse: { goal: 'p99 <= 50 ms from append to subscriber', ...sseSummary },
    sseOtherProcess: { goal: 'none (bounded by the 50 ms poll)', ...pollSummary },
  };
  if (!existsSync('bench/results')) mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/http.json', `${JSON.stringify(result, null, 2)}\n`);
  console.log('wrote bench/results/http.json');
} finally {
  await stopServer(child);
  rmSync(home, { recursive: true, force: true });
}
