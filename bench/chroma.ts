// The embedded Chroma server: start time (spawn → heartbeat, median of 5), stop time, RSS
// of the child idle and holding 10k / 100k 100-d vectors, upsert throughput, and k = 10
// query latency (p50/p95/p99) unfiltered, with metadata filters of 0.1 % / 1 % / 10 %
// selectivity and with an `ids` allow-list — plus the recall of each against brute force.
// Writes bench/results/chroma.json and the "## Chroma" section of BENCHMARKS.md.
// Run: node --import tsx bench/chroma.ts [queries] [--ef-search N]
// (with --ef-search other than the default, only bench/results/chroma-efN.json is written)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChroma, type ChromaServer } from '../src/retrieval/chroma-server.js';
import { DEFAULT_EF_SEARCH, openVectorIndex, type VectorIndex } from '../src/retrieval/vector-index.js';

const args = process.argv.slice(2);
const efAt = args.indexOf('--ef-search');
const EF_SEARCH = efAt >= 0 ? Number(args.splice(efAt, 2)[1]) : DEFAULT_EF_SEARCH;
const QUERIES = Number(args[0] ?? 200);
const DIM = 100;
const K = 10;
const STARTS = 5;
const RECALL_QUERIES = 50;

/** Tenants by share of rows: t1 0.1 %, t2 1 %, t3 10 %, the rest t0. */
const TENANTS: ReadonlyArray<readonly [string, number]> = [['t1', 0.001], ['t2', 0.01], ['t3', 0.1]];

let seed = 12345;
function rnd(): number {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32 - 0.5;
}
function unitVector(): Float32Array {
  const v = new Float32Array(DIM);
  let n = 0;
  for (let i = 0; i < DIM; i++) {
    v[i] = rnd();
    n += (v[i] as number) ** 2;
  }
  n = Math.sqrt(n);
  for (let i = 0; i < DIM; i++) v[i] = (v[i] as number) / n;
  return v;
}
/** Row i's tenant: spread evenly so every 10k block holds its share. */
function tenantOf(i: number): string {
  for (const [name, share] of TENANTS) if (i % Math.round(1 / share) === (name === 't1' ? 7 : name === 't2' ? 3 : 1)) return name;
  return 't0';
}

function rssMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss: Math.round(kb('VmRSS') / 102.4) / 10, peak: Math.round(kb('VmHWM') / 102.4) / 10 };
}

function percentiles(samples: number[]): { p50: number; p95: number; p99: number; mean: number; n: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => Math.round((s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0) * 100) / 100;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), mean: Math.round((s.reduce((a, b) => a + b, 0) / s.length) * 100) / 100, n: s.length };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** Exact top-k ids among `rows` (indices) for `q`. */
function bruteForce(vectors: Float32Array[], rows: number[], q: Float32Array, k: number): string[] {
  return rows
    .map((i) => [i, dot(vectors[i] as Float32Array, q)] as const)
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(([i]) => `v${i}`);
}

const dir = mkdtempSync(join(tmpdir(), 'writ-bench-chroma-'));
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  loadAverage1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  dim: DIM,
  k: K,
  queries: QUERIES,
  efSearch: EF_SEARCH,
};

// 1. Start and stop time.
const startMs: number[] = [];
const stopMs: number[] = [];
let version = '';
for (let i = 0; i < STARTS; i++) {
  const t0 = performance.now();
  const s = await startChroma({ dataDir: join(dir, `start-${i}`) });
  startMs.push(performance.now() - t0);
  version = s.version;
  const t1 = performance.now();
  await s.stop();
  stopMs.push(performance.now() - t1);
}
results.chromaVersion = version;
results.startMs = { median: Math.round(median(startMs)), all: startMs.map(Math.round) };
results.stopMs = { median: Math.round(median(stopMs)), all: stopMs.map(Math.round) };
console.log(`start ${JSON.stringify(results.startMs)} stop ${JSON.stringify(results.stopMs)}`);

// 2. One server for the rest.
const chroma: ChromaServer = await startChroma({ dataDir: join(dir, 'main') });
const pid = chroma.pid as number;
await new Promise((r) => setTimeout(r, 1000));
const rss: Record<string, { rss: number; peak: number }> = { idle: rssMb(pid) };
const index: VectorIndex = await openVectorIndex({ server: chroma, collection: 'bench', modelId: 'bench-random', dimension: DIM, efSearch: EF_SEARCH });
const vectors: Float32Array[] = [];
const upsert: Record<string, { rows: number; seconds: number; rowsPerSecond: number }> = {};
const latency: Record<string, Record<string, ReturnType<typeof percentiles>>> = {};
const recall: Record<string, Record<string, number>> = {};

async function grow(to: number): Promise<void> {
  const from = vectors.length;
  for (let i = from; i < to; i++) vectors.push(unitVector());
  const t0 = performance.now();
  const step = 10_000;
  for (let i = from; i < to; i += step) {
    await index.upsert(
      vectors.slice(i, Math.min(to, i + step)).map((vector, j) => ({ id: `v${i + j}`, vector, metadata: { tenant: tenantOf(i + j), doc: `d${Math.floor((i + j) / 10)}` } })),
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  upsert[`${from}->${to}`] = { rows: to - from, seconds: Math.round(seconds * 10) / 10, rowsPerSecond: Math.round((to - from) / seconds) };
}

async function measure(label: string): Promise<void> {
  const n = vectors.length;
  const byTenant = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const t = tenantOf(i);
    if (!byTenant.has(t)) byTenant.set(t, []);
    byTenant.get(t)?.push(i);
  }
  const all = Array.from({ length: n }, (_, i) => i);
  const t1Ids = (byTenant.get('t1') ?? []).map((i) => `v${i}`);
  const scenarios: Array<[string, (q: Float32Array) => Promise<string[]>, number[]]> = [
    ['unfiltered', async (q) => (await index.query({ vector: q, k: K })).map((h) => h.id), all],
    ['where 0.1%', async (q) => (await index.query({ vector: q, k: K, where: { tenant: 't1' } })).map((h) => h.id), byTenant.get('t1') ?? []],
    ['where 1%', async (q) => (await index.query({ vector: q, k: K, where: { tenant: 't2' } })).map((h) => h.id), byTenant.get('t2') ?? []],
    ['where 10%', async (q) => (await index.query({ vector: q, k: K, where: { tenant: 't3' } })).map((h) => h.id), byTenant.get('t3') ?? []],
    ['ids 0.1%', async (q) => (await index.query({ vector: q, k: K, ids: t1Ids })).map((h) => h.id), byTenant.get('t1') ?? []],
  ];
  latency[label] = {};
  recall[label] = {};
  for (const [name, run, allowed] of scenarios) {
    for (let i = 0; i < 10; i++) await run(unitVector()); // warm-up
    const ms: number[] = [];
    for (let i = 0; i < QUERIES; i++) {
      const q = unitVector();
      const t0 = performance.now();
      await run(q);
      ms.push(performance.now() - t0);
    }
    latency[label][name] = percentiles(ms);
    let hit = 0;
    let want = 0;
    for (let i = 0; i < RECALL_QUERIES; i++) {
      const q = unitVector();
      const exact = bruteForce(vectors, allowed, q, K);
      const got = new Set(await run(q));
      want += exact.length;
      hit += exact.filter((id) => got.has(id)).length;
    }
    recall[label][name] = Math.round((hit / want) * 1000) / 1000;
    console.log(`${label} ${name}: ${JSON.stringify(latency[label][name])} recall ${recall[label][name]} (${allowed.length} allowed rows)`);
  }
}

await grow(10_000);
rss['10k'] = rssMb(pid);
await measure('10k');
await grow(100_000);
rss['100k'] = rssMb(pid);
await measure('100k');
results.rssMb = rss;
results.upsert = upsert;
results.latencyMs = latency;
results.recallAt10 = recall;
await chroma.stop();
rmSync(dir, { recursive: true, force: true });

mkdirSync('bench/results', { recursive: true });
const isDefault = EF_SEARCH === DEFAULT_EF_SEARCH;
writeFileSync(isDefault ? 'bench/results/chroma.json' : `bench/results/chroma-ef${EF_SEARCH}.json`, `${JSON.stringify(results, null, 2)}\n`);

const cell = (label: string, name: string): string => {
  const l = latency[label]?.[name];
  return l === undefined ? '' : `${l.p50} / ${l.p95} / ${l.p99}`;
};
const scenarioNames = Object.keys(latency['10k'] ?? {});
const table = [
  '| query (k = 10) | 10k: p50 / p95 / p99 ms | recall@10 | 100k: p50 / p95 / p99 ms | recall@10 |',
  '|---|---|---|---|---|',
  ...scenarioNames.map((n) => `| ${n} | ${cell('10k', n)} | ${recall['10k']?.[n]} | ${cell('100k', n)} | ${recall['100k']?.[n]} |`),
];
/** One line comparing with a run at Chroma's default ef_search (bench/results/chroma-ef100.json), when there is one. */
function baselineNote(): string[] {
  const file = 'bench/results/chroma-ef100.json';
  if (!existsSync(file)) return [];
  const b = JSON.parse(readFileSync(file, 'utf8')) as { date: string; recallAt10: Record<string, Record<string, number>>; latencyMs: Record<string, Record<string, { p50: number }>> };
  const r = (size: string, n: string): string => `${b.recallAt10[size]?.[n]} (p50 ${b.latencyMs[size]?.[n]?.p50} ms)`;
  return [
    `- With Chroma's default \`ef_search\` 100 (run of ${b.date.slice(0, 10)}, \`--ef-search 100\`): unfiltered recall@10 ${r('10k', 'unfiltered')} at 10k and ${r('100k', 'unfiltered')} at 100k; \`where 10%\` ${r('100k', 'where 10%')} at 100k. Hence Writ creates collections with \`ef_search\` ${DEFAULT_EF_SEARCH}.`,
  ];
}

const section = [
  '## Chroma',
  '',
  `Embedded Chroma ${version} (\`chroma\` CLI of chromadb 3.5, bindings 1.0.5) on loopback, driven through \`openVectorIndex\`; ${DIM}-d random unit vectors (a hard case for HNSW: no structure), cosine space, HNSW \`ef_search\` ${EF_SEARCH}. ${cpus().length} cores (${results.cpu}), Node ${process.version}, load ${results.loadAverage1m} at start (the machine is shared with other workers). ${String(results.date).slice(0, 10)}.`,
  '',
  `- Start (spawn → heartbeat answers), median of ${STARTS}: **${(results.startMs as { median: number }).median} ms** (all: ${(results.startMs as { all: number[] }).all.join(', ')}). Stop (SIGTERM → exit): median ${(results.stopMs as { median: number }).median} ms.`,
  `- RSS of the Chroma child (VmRSS): idle **${rss.idle?.rss} MB**, 10k vectors **${rss['10k']?.rss} MB**, 100k vectors **${rss['100k']?.rss} MB** (peak ${rss['100k']?.peak} MB).`,
  `- Upsert: ${Object.entries(upsert).map(([k, v]) => `${k}: ${v.rowsPerSecond} rows/s`).join(', ')} (batches of ${index.maxBatchSize}, metadata \`tenant\` + \`doc\`).`,
  ...baselineNote(),
  '',
  `Query latency over ${QUERIES} sequential queries per row; recall@10 against brute force over the rows the filter allows (${RECALL_QUERIES} queries). \`where 0.1%\` is \`{ tenant: 't1' }\` matching 10 rows of 10k (100 of 100k); \`ids 0.1%\` passes those rows as an \`ids\` allow-list.`,
  '',
  ...table,
  '',
  'Command: `node --import tsx bench/chroma.ts` (figures in `bench/results/chroma.json`).',
  '',
].join('\n');

if (!isDefault) {
  console.log(['', ...table].join('\n'));
  process.exit(0);
}
const path = 'BENCHMARKS.md';
// Re-read just before writing: other benchmarks may have added their sections meanwhile.
const current = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
const start = current.indexOf('## Chroma\n');
let next: string;
if (start === -1) {
  next = `${current.trimEnd()}\n\n${section}`;
} else {
  const after = current.indexOf('\n## ', start + 1);
  next = `${current.slice(0, start)}${section}${after === -1 ? '' : current.slice(after + 1)}`;
}
writeFileSync(path, next);
console.log(['', ...table].join('\n'));
