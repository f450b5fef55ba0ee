// Ledger throughput on a real SQLite file (WAL, synchronous=NORMAL, as the store opens it):
// appends with one entry per transaction, 1000 appends inside one outer transaction,
// appendMany batches of 1000, and verify over the whole chain, on one thread (`verify`)
// and on worker threads (`verifyAsync`), optionally also on longer chains. Reports
// wall-clock rates and rates per CPU second of this process, every thread counted (the
// machine is shared; the load average is recorded). Writes bench/results/ledger.json and
// the "## Ledger" section of BENCHMARKS.md.
// Run: node --import tsx bench/ledger.ts [entries] [longer chains to verify, e.g. 200000]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId, openKeyring } from '../src/core/index.js';
import { createLedger, ledgerMigrations, type LedgerApi, type LedgerAppend, type LedgerVerification } from '../src/ledger/index.js';
import { ENTRIES_PER_RANGE, MIN_ENTRIES_FOR_THREADS } from '../src/ledger/verify-parallel.js';
import { openStore } from '../src/store/index.js';
import { writeBenchmarkSection } from './benchmarks-md.js';

const N = Number(process.argv[2] ?? 50_000);
const VERIFY_AT = (process.argv[3] ?? '').split(',').filter((x) => x !== '').map(Number);
const BATCH = 1000;
/** Verify runs per way, interleaved so every way sees the same machine; the median is reported. */
const ROUNDS = 5;
/** `verifyAsync`'s default: the cores available, at most 4. */
const THREADS = Math.min(availableParallelism(), 4);
const dir = mkdtempSync(join(tmpdir(), 'writ-bench-ledger-'));

/**
 * A realistic entry: a proposal citing two bundles, ~300 bytes of body. Ids are Writ's
 * time-ordered ids (`newId`), as in production, so index inserts land near the right edge.
 */
function entryFor(i: number): LedgerAppend {
  return {
    kind: 'proposal.created',
    subjectId: newId('prp'),
    tenant: 'acme',
    actorId: 'agent:support-bot',
    requestId: newId('req'),
    refs: [newId('bnd'), newId('bnd')],
    body: { action: 'refund', target: { type: 'Order', id: `ord_${i}` }, params: { amount: 120.5, currency: 'EUR' }, rationale: 'customer asked twice' },
  };
}

interface Measured {
  perSec: number;
  perCpuSec: number;
}

function measure(count: number, fn: () => void): Measured {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const cpuMs = (c.user + c.system) / 1000;
  return { perSec: Math.round((count / wallMs) * 1000), perCpuSec: Math.round((count / cpuMs) * 1000) };
}

/** CPU time every process on the machine has used so far, in ms (Linux /proc/stat, USER_HZ 100); undefined elsewhere. */
function machineBusyMs(): number | undefined {
  try {
    const ticks = (readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] as string).trim().split(/\s+/).slice(1).map(Number);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return (ticks.reduce((a, b) => a + b, 0) - idle) * 10;
  } catch {
    return undefined;
  }
}

/** A verify measurement, with the share of the machine's CPU (all cores) other processes used meanwhile. */
interface VerifyMeasured extends Measured {
  othersCpuShare: number | null;
}

async function measureVerify(count: number, fn: () => Promise<void> | void): Promise<VerifyMeasured> {
  const busy0 = machineBusyMs();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const busy1 = machineBusyMs();
  const cpuMs = (c.user + c.system) / 1000;
  const others = busy0 === undefined || busy1 === undefined ? null : Math.max(0, busy1 - busy0 - cpuMs) / (wallMs * cpus().length);
  return { perSec: Math.round((count / wallMs) * 1000), perCpuSec: Math.round((count / cpuMs) * 1000), othersCpuShare: others === null ? null : Math.round(others * 100) / 100 };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const medianOf = (runs: VerifyMeasured[]): VerifyMeasured => ({
  perSec: median(runs.map((r) => r.perSec)),
  perCpuSec: median(runs.map((r) => r.perCpuSec)),
  othersCpuShare: runs.some((r) => r.othersCpuShare === null) ? null : median(runs.map((r) => r.othersCpuShare as number)),
});

function sound(v: LedgerVerification): void {
  if (!v.ok) throw new Error(`verify failed on an untouched chain: ${v.firstBad?.message}`);
}

interface VerifyWays {
  /** `verify()`: the calling thread alone. */
  single: VerifyMeasured & { entries: number };
  /** `verifyAsync()`: the calling thread and THREADS - 1 workers. */
  parallel: VerifyMeasured & { entries: number };
  /** `verifyAsync({ keepCallingThreadFree: true })`: THREADS workers (the HTTP route). */
  workersOnly: VerifyMeasured & { entries: number };
}

/** Each way of verifying the whole chain, ROUNDS times interleaved; medians. */
async function verifyWays(ledger: LedgerApi): Promise<VerifyWays> {
  const entries = ledger.head().seq;
  sound(ledger.verify()); // warm-up
  const runs: Record<keyof VerifyWays, VerifyMeasured[]> = { single: [], parallel: [], workersOnly: [] };
  for (let r = 0; r < ROUNDS; r++) {
    runs.single.push(await measureVerify(entries, () => sound(ledger.verify())));
    runs.parallel.push(await measureVerify(entries, async () => sound(await ledger.verifyAsync({ threads: THREADS }))));
    runs.workersOnly.push(await measureVerify(entries, async () => sound(await ledger.verifyAsync({ threads: THREADS, keepCallingThreadFree: true }))));
  }
  return {
    single: { entries, ...medianOf(runs.single) },
    parallel: { entries, ...medianOf(runs.parallel) },
    workersOnly: { entries, ...medianOf(runs.workersOnly) },
  };
}

/**
 * What one worker adds: verify of the last 1000 entries by one worker (the calling thread
 * free) minus the same on the calling thread; medians of ROUNDS, in ms.
 */
async function workerStartup(ledger: LedgerApi): Promise<{ wallMs: number; cpuMs: number }> {
  const fromSeq = ledger.head().seq - 999;
  const time = async (fn: () => Promise<void> | void) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    const c = process.cpuUsage(c0);
    return { wallMs: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 };
  };
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const here = await time(() => sound(ledger.verify({ fromSeq })));
    const worker = await time(async () =>
      sound(await ledger.verifyAsync({ fromSeq, threads: 2, keepCallingThreadFree: true, minEntriesForThreads: 0, entriesPerRange: 1000 })),
    );
    walls.push(worker.wallMs - here.wallMs);
    cpus.push(worker.cpuMs - here.cpuMs);
  }
  return { wallMs: Math.round(median(walls)), cpuMs: Math.round(median(cpus)) };
}

function fresh(name: string) {
  const opened = openStore({ path: join(dir, `${name}.db`), migrations: ledgerMigrations });
  const store = opened;
  const keyring = openKeyring({ dir: join(dir, 'keys', name), purpose: 'ledger' });
  const ledger = createLedger({ store, keyring, checkpointEvery: 1000 });
  for (let i = 0; i < 1000; i++) ledger.append(entryFor(-i)); // warm-up
  return { store, opened, ledger };
}


const round = (xs: number[]) => xs.map((l) => Math.round(l * 100) / 100);
const loadAtStart = round(loadavg());
const results: Record<string, Measured & { entries: number }> = {};
let startup = { wallMs: 0, cpuMs: 0 };
const verifyScaling: VerifyWays[] = [];
try {
  {
    const { opened, ledger } = fresh('single');
    results.appendOnePerTransaction = { entries: N, ...measure(N, () => { for (let i = 0; i < N; i++) ledger.append(entryFor(i)); }) };
    opened.close();
  }
  {
    const { store, opened, ledger } = fresh('outer');
    results.appendInOuterTransaction = {
      entries: N,
      ...measure(N, () => {
        for (let b = 0; b < N; b += BATCH) store.transaction(() => { for (let i = b; i < b + BATCH; i++) ledger.append(entryFor(i)); });
      }),
    };
    opened.close();
  }
  {
    const { opened, ledger } = fresh('many');
    results.appendMany = {
      entries: N,
      ...measure(N, () => {
        for (let b = 0; b < N; b += BATCH) ledger.appendMany(Array.from({ length: BATCH }, (_, k) => entryFor(b + k)));
      }),
    };
    const ways = await verifyWays(ledger);
    results.verify = ways.single;
    results.verifyParallel = ways.parallel;
    results.verifyWorkersOnly = ways.workersOnly;
    startup = await workerStartup(ledger);
    for (const size of VERIFY_AT) {
      for (let b = ledger.head().seq; b < size; b += BATCH) ledger.appendMany(Array.from({ length: Math.min(BATCH, size - b) }, (_, k) => entryFor(b + k)));
      verifyScaling.push(await verifyWays(ledger));
    }
    opened.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const out = {
  note: 'generated by bench/ledger.ts; do not edit',
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  loadAverageAtStart: loadAtStart,
  loadAverageAtEnd: round(loadavg()),
  checkpointEvery: 1000,
  goals: { appendPerSec: 20_000, verifyPerSec: 100_000 },
  verifyThreads: THREADS,
  verifyRounds: ROUNDS,
  workerStartup: startup,
  results,
  verifyScaling,
};
mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
writeFileSync(join(import.meta.dirname, 'results', 'ledger.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log(JSON.stringify(out, null, 2));

const row = (name: string, m: Measured & { entries: number }, goal: number) =>
  `| ${name} | ${m.entries} | ${m.perSec.toLocaleString('en')} | ${m.perCpuSec.toLocaleString('en')} | ${goal.toLocaleString('en')} |`;
const r = results as Record<string, Measured & { entries: number }>;

function othersShares(): string {
  const shares = [r.verify, r.verifyParallel, r.verifyWorkersOnly, ...verifyScaling.flatMap((w) => [w.single, w.parallel, w.workersOnly])]
    .map((m) => (m as Partial<VerifyMeasured> | undefined)?.othersCpuShare)
    .filter((x): x is number => typeof x === 'number');
  if (shares.length === 0) return 'an unknown share';
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const [low, high] = [pct(Math.min(...shares)), pct(Math.max(...shares))];
  return low === high ? low : `${low}–${high}`;
}
const section = `## Ledger

\`node --import tsx bench/ledger.ts ${process.argv.slice(2).join(' ') || N}\` on a real SQLite file (WAL, synchronous=NORMAL), ${out.cores} cores (${out.cpu}), Node ${out.node}, load average ${out.loadAverageAtStart[0]} → ${out.loadAverageAtEnd[0]} (a shared machine: "per CPU s" divides by the CPU time of the whole process, every thread). Entries of ~300 bytes with two refs (time-ordered ids, as Writ makes them); a signed checkpoint every 1000 entries. Raw figures: \`bench/results/ledger.json\`.

| operation | entries | entries/s (wall) | entries per CPU s | goal |
|---|---|---|---|---|
${row('append, one entry per transaction', r.appendOnePerTransaction as never, 20_000)}
${row('append, 1000 per outer transaction', r.appendInOuterTransaction as never, 20_000)}
${row('appendMany, batches of 1000', r.appendMany as never, 20_000)}
${[
  row('verify (hash chain, refs index, checkpoint signatures), one thread: `verify()`', r.verify as never, 100_000),
  row(`verify, ${THREADS} threads (this one + ${THREADS - 1} worker${THREADS === 2 ? '' : 's'}): \`verifyAsync()\``, r.verifyParallel as never, 100_000),
  row(`verify, ${THREADS} worker threads, this one free (the HTTP route): \`verifyAsync({ keepCallingThreadFree: true })\``, r.verifyWorkersOnly as never, 100_000),
  ...verifyScaling.flatMap((w) => [
    row('verify, longer chain, one thread', w.single, 100_000),
    row(`verify, longer chain, ${THREADS} threads`, w.parallel, 100_000),
    row(`verify, longer chain, ${THREADS} worker threads, this one free`, w.workersOnly, 100_000),
  ]),
].join('\n')}

Verify rows: median of ${ROUNDS} runs of each way, interleaved (wall and CPU medians taken separately); other processes used ${othersShares()} of the machine's CPU during them (median per row, from \`/proc/stat\`): threads only gain wall time on a core nobody else is using. Verify on worker threads walks ranges of ${ENTRIES_PER_RANGE} entries that the threads claim in turn, each on its own read-only connection, joined at the boundaries; below ${MIN_ENTRIES_FOR_THREADS.toLocaleString('en')} entries \`verifyAsync\` walks on the calling thread alone. One worker costs ${startup.wallMs} ms of wall time and ${startup.cpuMs} ms of CPU to start, open the database and walk its first range cold (verify of the last 1000 entries on one worker, minus the same on the calling thread), which is why the CPU per entry is higher with threads: they buy wall time with a second core.
`;
writeBenchmarkSection('## Ledger', section);
