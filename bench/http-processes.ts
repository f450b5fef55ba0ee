// Several `writ serve` processes on one Writ home (each on its own port, sharing SQLite and
// the first process's Chroma), driven at once by autocannon from this process: what a second
// core buys when writes from processes meet at SQLite's write lock.
//
//   node --import tsx bench/http-processes.ts [processes = 2] [seconds per run = 10]
//
// Writes bench/results/http-processes.json. Rate limits are raised as in bench/http.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { freePort } from './free-port.js';

const require = createRequire(import.meta.url);
const autocannon = require('autocannon') as (o: Record<string, unknown>) => Promise<{ requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number }>;
const LIMITS = {
  WRIT_RETRIEVAL_RATE_PER_SECOND: '1000000',
  WRIT_RETRIEVAL_RATE_BURST: '1000000',
  WRIT_RATE_PER_SECOND: '1000000',
  WRIT_RATE_BURST: '1000000',
  WRIT_SESSION_MAX_PROPOSALS: '1000000000',
};
const PROCESSES = Number(process.argv[2] ?? 2);
const SECONDS = Number(process.argv[3] ?? 10);
const home = mkdtempSync(join(tmpdir(), 'writ-bench-processes-'));
const load = (): number[] => loadavg().map((x) => Math.round(x * 100) / 100);


async function start(port: number): Promise<ChildProcess> {
  const env = { ...process.env, WRIT_HOME: home, WRIT_PORT: String(port), WRIT_HOST: '127.0.0.1', WRIT_LOG_LEVEL: 'silent', ...LIMITS };
  const child = spawn(process.execPath, ['bin/writ.mjs', 'serve'], { env, stdio: 'ignore' });
  for (let i = 0; i < 720; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).status === 200) return child;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill('SIGTERM');
  throw new Error(`writ serve on port ${port} did not start`);
}

const loadAtStart = load();
const ports: number[] = [];
const children: ChildProcess[] = [];
try {
  // One after the other: the first seeds the home and owns Chroma; the others share both.
  for (let i = 0; i < PROCESSES; i++) {
    const port = await freePort();
    ports.push(port);
    children.push(await start(port));
  }
  const keys = JSON.parse(readFileSync(join(home, 'first-start-keys.json'), 'utf8')) as Record<string, string>;
  const auth = (who: string) => ({ authorization: `Bearer ${keys[who]}`, 'content-type': 'application/json' });
  /** `connections` spread evenly over the processes, all at once; requests/s summed. */
  const run = async (requests: () => unknown[], connections: number) => {
    const rs = await Promise.all(ports.map((p) => autocannon({ url: `http://127.0.0.1:${p}`, connections: Math.round(connections / PROCESSES), duration: SECONDS, requests: requests() })));
    return {
      connections,
      requestsPerSecond: Math.round(rs.reduce((s, r) => s + r.requests.average, 0)),
      p50PerProcess: rs.map((r) => r.latency.p50),
      p99PerProcess: rs.map((r) => r.latency.p99),
      non2xx: rs.reduce((s, r) => s + r.non2xx, 0),
      errors: rs.reduce((s, r) => s + r.errors, 0),
      loadAvgAfter: load(),
    };
  };
  const queries = ['refund policy for damaged items', 'how long do refunds take', 'order notes for ord-1001', 'who approves large refunds', 'refund to a different account'];
  const retrieveRequests = () => queries.map((q) => ({ method: 'POST', path: '/v1/retrieve', headers: auth('sam'), body: JSON.stringify({ query: q, k: 5 }) }));
  await run(retrieveRequests, 10); // warm-up
  const retrieve = await run(retrieveRequests, 50);
  console.log('retrieve', JSON.stringify(retrieve));

  const sres = await fetch(`http://127.0.0.1:${ports[0]}/v1/sessions`, { method: 'POST', headers: auth('desk-agent'), body: JSON.stringify({ ttlMs: 3600_000, budgets: { proposals: 10_000_000 } }) });
  const session = (await sres.json()) as { id: string };
  if (sres.status !== 201) throw new Error(`session create answered ${sres.status}`);
  let counter = 0;
  const body = () =>
    JSON.stringify({
      sessionId: session.id,
      action: 'refund.request',
      targetId: `rf-bench-${++counter}`,
      params: { amountCents: 2500, currency: 'EUR', orderId: 'ord-1001', recipientAccount: 'DE44500105175407324931' },
      basis: [],
      idempotencyKey: `bench-${counter}`,
    });
  const decideRequests = () => [{ method: 'POST', path: '/v1/proposals', headers: auth('desk-agent'), setupRequest: (req: Record<string, unknown>) => ({ ...req, body: body() }) }];
  await run(decideRequests, 10); // warm-up
  const decide = [await run(decideRequests, 10), await run(decideRequests, 50)];
  for (const d of decide) console.log('decide', JSON.stringify(d));
  mkdirSync('bench/results', { recursive: true });
  const out = { date: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadAvgAtStart: loadAtStart }, processes: PROCESSES, secondsPerRun: SECONDS, retrieve, decide };
  writeFileSync('bench/results/http-processes.json', `${JSON.stringify(out, null, 2)}\n`);
  console.log('wrote bench/results/http-processes.json');
} finally {
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1000));
  rmSync(home, { recursive: true, force: true });
}
