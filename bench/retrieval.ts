// Retrieval benchmark: end-to-end ingest throughput (chunks/s: load → chunk → embed →
// SQLite + FTS5 → Chroma) and query latency p50/p95/p99 at k = 10 on 10k and 100k chunks,
// for a principal who may read everything and one who may read 0.1% of the tenant; RSS of
// Writ and of the Chroma child. Writes bench/results/retrieval.json.
//
//   node --import tsx bench/retrieval.ts [--sizes 10000,100000] [--queries 300]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { openRetrievalStack } from '../scripts/retrieval-stack.js';
import { lexicalPruning } from '../src/retrieval/lexical.js';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10000,100000' }, queries: { type: 'string', default: '300' } } });
const sizes = values.sizes!.split(',').map(Number);
const nQueries = Number(values.queries);

// A vocabulary with a realistic frequency curve: words of the SciFact corpus by frequency.
const counts = new Map<string, number>();
for (const line of readFileSync('../shared/eval/scifact/corpus.jsonl', 'utf8').split('\n')) {
  if (!line) continue;
  const { text } = JSON.parse(line) as { text: string };
  for (const w of text.toLowerCase().match(/[a-z]{3,}/g) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
}
const vocab = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20_000).map(([w]) => w);
let seed = 7;
const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
// Zipf-like: index ~ vocab.length ^ u.
const word = (): string => vocab[Math.min(vocab.length - 1, Math.floor(vocab.length ** rand()) - 1)] as string;
const text = (n: number): string => Array.from({ length: n }, word).join(' ');

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Number((s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number).toFixed(2));
};
const chromaRss = (pid: number | null): number | null => {
  if (pid === null) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
};

const stack = await openRetrievalStack({ config: { ratePerSecond: 1e9, rateBurst: 1e9, maxK: 100 } });
// Stop the Chroma child and remove the temp home when interrupted.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void stack.close().finally(() => process.exit(130));
  });
}
const dataDir = join(stack.home, 'data');
mkdirSync(dataDir, { recursive: true });
const results: Record<string, unknown>[] = [];
const ingests: Record<string, unknown>[] = [];
let have = 0;
try {
  for (const size of sizes) {
    // One document = one chunk (≈ 80 words); every 1000th is readable by `sel` (0.1%).
    const lines: string[] = [];
    for (let i = have; i < size; i++) lines.push(JSON.stringify({ id: `d${i}`, title: '', text: text(60 + Math.floor(rand() * 40)) }));
    const file = join(dataDir, `part-${have}-${size}.jsonl`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const selFile = join(dataDir, `sel-${have}-${size}.jsonl`);
    const selLines = lines.filter((_, i) => (have + i) % 1000 === 7);
    const otherLines = lines.filter((_, i) => (have + i) % 1000 !== 7);
    writeFileSync(file, `${otherLines.join('\n')}\n`);
    writeFileSync(selFile, `${selLines.join('\n')}\n`);
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    const load0 = loadavg()[0] as number;
    // The last progress event of an ingest follows its last SQLite commit: from then on every
    // chunk is searchable lexically (and densely by exact scan); Chroma may still be catching up.
    // Measured on the main file (99.9% of the chunks): its last commit, before its final wait for Chroma.
    let committedAt = t0;
    const onProgress = (): void => {
      committedAt = Date.now();
    };
    const a = await stack.retrieval.ingestPath([file], { tenant: 'bench', readers: ['group:all'], fields: { idField: 'id' }, onProgress });
    const committedMs = committedAt - t0;
    const b = await stack.retrieval.ingestPath([selFile], { tenant: 'bench', readers: ['group:all', 'sel'], fields: { idField: 'id' } });
    const ms = Date.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const chunks = a.chunks + b.chunks;
    ingests.push({
      from: have, to: size, chunks, seconds: ms / 1000, chunksPerSecond: Math.round((chunks * 1000) / ms),
      committedSeconds: committedMs / 1000, committedChunksPerSecond: Math.round((a.chunks * 1000) / committedMs),
      cpuSecondsOfWrit: (cpu.user + cpu.system) / 1e6, loadavgBefore: Number(load0.toFixed(2)), loadavgAfter: Number((loadavg()[0] as number).toFixed(2)),
    });
    console.error(`ingested ${chunks} chunks in ${(ms / 1000).toFixed(1)} s: ${Math.round((chunks * 1000) / ms)} chunks/s with vectors in Chroma; committed (SQLite, lexically searchable) after ${(committedMs / 1000).toFixed(1)} s: ${Math.round((a.chunks * 1000) / committedMs)} chunks/s`);
    have = size;

    const principals = {
      broad: { id: 'reader', kind: 'user' as const, tenant: 'bench', groups: ['all'], roles: [], attributes: {} },
      selective: { id: 'sel', kind: 'agent' as const, tenant: 'bench', groups: [], roles: [], attributes: {} },
    };
    for (const [name, principal] of Object.entries(principals)) {
      // `lexical-unpruned`: the lexical run again without MaxScore pruning (same queries), for comparison.
      let lastQs: string[] = [];
      for (const variant of ['hybrid', 'lexical', 'lexical-unpruned', 'dense'] as const) {
        const mode = variant === 'lexical-unpruned' ? 'lexical' : variant;
        if (variant === 'lexical-unpruned' && name !== 'broad') continue;
        lexicalPruning.enabled = variant !== 'lexical-unpruned';
        const qs = variant === 'lexical-unpruned' ? lastQs : Array.from({ length: nQueries }, () => text(2 + Math.floor(rand() * 4)));
        lastQs = qs;
        for (const q of qs.slice(0, 20)) await stack.retrieval.retrieve({ principal, query: q, k: 10, mode });
        const lat: number[] = [];
        const cpuLat: number[] = [];
        let strategy = '';
        let short = 0;
        for (const q of qs) {
          const c0 = process.cpuUsage();
          const t = process.hrtime.bigint();
          const r = await stack.retrieval.retrieve({ principal, query: q, k: 10, mode });
          lat.push(Number(process.hrtime.bigint() - t) / 1e6);
          const c = process.cpuUsage(c0);
          cpuLat.push((c.user + c.system) / 1000);
          strategy = r.denseStrategy;
          if (r.results.length < 10) short++;
        }
        const row = {
          chunks: size, principal: name, mode: variant, queries: qs.length, p50: pct(lat, 50), p95: pct(lat, 95), p99: pct(lat, 99),
          cpuP50: pct(cpuLat, 50), cpuP99: pct(cpuLat, 99), loadavg: Number((loadavg()[0] as number).toFixed(2)), denseStrategy: strategy, shortResults: short,
        };
        results.push(row);
        console.error(JSON.stringify(row));
      }
    }
  }
  const out = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadavg: loadavg().map((x) => Number(x.toFixed(2))) },
    embedder: stack.embedder.modelId,
    ingest: ingests,
    queries: results,
    rssMb: { writ: Math.round(process.memoryUsage().rss / 2 ** 20), chroma: chromaRss(stack.chroma.pid) },
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/retrieval.json', `${JSON.stringify(out, null, 2)}\n`);
  console.log(JSON.stringify(out, null, 2));
} finally {
  await stack.close();
}
