// Retrieval benchmark: end-to-end ingest throughput (chunks/s: load → chunk → embed →
// SQLite + FTS5 → Chroma) and query latency p50/p95/p99 at k = 10 on 10k and 100k chunks,
// for a principal who may read everything and one who may read 0.1% of the tenant; RSS of
// Writ and of the Chroma child. Writes bench/results/retrieval.json.
//
// Also: the CPU seconds of the Chroma child per ingest, and the recall@10 of the Chroma index
// against an exact scan of every stored vector (`--recall-queries`, at each size).
//
//   node --import tsx bench/retrieval.ts [--sizes 10000,100000] [--queries 300] [--recall-queries 200] [--ingest-only]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { isWritError } from '../src/core/index.js';
import { openRetrievalStack } from '../scripts/retrieval-stack.js';
import { lexicalPruning } from '../src/retrieval/lexical.js';
import { termListRanking } from '../src/retrieval/term-lists.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000' },
    queries: { type: 'string', default: '300' },
    'recall-queries': { type: 'string', default: '200' },
    /** Ingest (and recall) only, no latency rows: for iterating on ingest speed. */
    'ingest-only': { type: 'boolean', default: false },
  },
});
const sizes = values.sizes!.split(',').map(Number);
const nQueries = Number(values.queries);
const nRecallQueries = Number(values['recall-queries']);

// A vocabulary with a realistic frequency curve: words of the SciFact corpus by frequency.
const counts = new Map<string, number>();
for (const line of readFileSync('../shared/eval/scifact/corpus.jsonl', 'utf8').split('\n')) {
  if (!line) continue;
  const { text } = JSON.parse(line) as { text: string };
  for (const w of text.toLowerCase().match(/[a-z]{3,}/g) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
}
const vocab = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20_000).map(([w]) => w);
let seed = 7;
// The LCG in exact 32-bit integer arithmetic. (It was `seed * 1103515245` in doubles, which
// exceeds 2^53 and loses the low bits: the stream fell into a cycle of ~10,500 numbers, so the
// "100k" corpus held at most ~10,500 distinct documents, each repeated ~10 times.)
const rand = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 2 ** 31;
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

/** CPU seconds (user + system) a process has used so far, from /proc; null when unreadable. */
const cpuSecondsOf = (pid: number | null): number | null => {
  if (pid === null) return null;
  try {
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15 (clock ticks, 100/s on Linux).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
};

/**
 * Recall@10 of the Chroma index against an exact scan of every stored chunk vector
 * (`chunk_vectors`, the vectors Chroma was given), over `n` embedded query texts.
 */
const denseRecallAt10 = async (n: number): Promise<{ queries: number; recallAt10: number; minRecall: number } | null> => {
  if (n <= 0) return null;
  const rows = stack.store.db.prepare('SELECT c.id, v.vector FROM chunks c JOIN chunk_vectors v ON v.seq = c.seq WHERE c.active = 1').all() as Array<{ id: string; vector: Buffer }>;
  const dim = stack.embedder.dimension;
  const all = new Float32Array(rows.length * dim);
  const indexOf = new Map(rows.map((r, i) => [r.id, i]));
  rows.forEach((r, i) => all.set(new Float32Array(r.vector.buffer.slice(r.vector.byteOffset, r.vector.byteOffset + r.vector.byteLength)), i * dim));
  // Own random stream, so the corpus of the next size stays the same with or without this.
  let s = 99;
  const r01 = (): number => (s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff) / 2 ** 31;
  const qText = (): string => Array.from({ length: 2 + Math.floor(r01() * 4) }, () => vocab[Math.min(vocab.length - 1, Math.floor(vocab.length ** r01()) - 1)] as string).join(' ');
  const queries = (await stack.embedder.embed(Array.from({ length: n * 2 }, qText))).filter((q) => q.some((x) => x !== 0)).slice(0, n);
  let sum = 0;
  let min = 1;
  for (const q of queries) {
    // Exact top 10 by cosine (= dot: stored vectors are L2-normalized).
    const top: Array<[number, number]> = [];
    for (let i = 0; i < rows.length; i++) {
      let d = 0;
      const o = i * dim;
      for (let j = 0; j < dim; j++) d += (all[o + j] as number) * (q[j] as number);
      if (top.length < 10 || d > (top[top.length - 1] as [number, number])[1]) {
        top.push([i, d]);
        top.sort((a, b) => b[1] - a[1]);
        if (top.length > 10) top.pop();
      }
    }
    // A hit counts when its exact score reaches the 10th best (ties: equal vectors are equally right).
    const kth = (top[top.length - 1] as [number, number])[1];
    const hits = await stack.vectorIndex.query({ vector: q, k: 10 });
    const r = hits.filter((h) => {
      const i = indexOf.get(h.id);
      if (i === undefined) return false;
      let d = 0;
      for (let j = 0; j < dim; j++) d += (all[i * dim + j] as number) * (q[j] as number);
      return d >= kth - 1e-6;
    }).length / top.length;
    sum += r;
    min = Math.min(min, r);
  }
  return { queries: queries.length, recallAt10: Number((sum / queries.length).toFixed(4)), minRecall: Number(min.toFixed(2)) };
};

// The store is opened as the server opens it: WAL checkpoints in a background thread, not in commits.
const stack = await openRetrievalStack({ backgroundCheckpoint: true, config: { ratePerSecond: 1e9, rateBurst: 1e9, maxK: 100 } });
const broadReader = { id: 'reader', kind: 'user' as const, tenant: 'bench', groups: ['all'], roles: [], attributes: {} };

/**
 * Broad dense queries issued while an ingest runs, one a second (fixed words, so the corpus
 * generator's stream is untouched), each tagged with how many committed chunks Chroma does
 * not hold yet: what a caller pays while the vector index catches up (those chunks are
 * scanned exactly beside it).
 */
async function probeWhileIngesting(done: () => boolean): Promise<Array<{ ms: number; pending: number; results: number; strategy: string }>> {
  const out: Array<{ ms: number; pending: number; results: number; strategy: string }> = [];
  const pendingCount = stack.store.db.prepare('SELECT count(*) AS n FROM chunks WHERE active <> in_vector_index AND active = 1');
  for (let i = 0; !done(); i++) {
    await new Promise((r) => setTimeout(r, 1000));
    if (done()) break;
    const pending = (pendingCount.get() as { n: number }).n;
    const query = `${vocab[(i * 37) % 500]} ${vocab[(i * 53 + 11) % 500]} ${vocab[(i * 71 + 5) % 2000]}`;
    const t = process.hrtime.bigint();
    try {
      const r = await stack.retrieval.retrieve({ principal: broadReader, query, k: 10, mode: 'dense' });
      out.push({ ms: Number(process.hrtime.bigint() - t) / 1e6, pending, results: r.results.length, strategy: r.denseStrategy });
    } catch (err) {
      // A probe past the retrieval time limit is a finding, not the end of the run.
      if (!isWritError(err, 'RETRIEVAL_TIMEOUT')) throw err;
      out.push({ ms: Number(process.hrtime.bigint() - t) / 1e6, pending, results: 0, strategy: 'timed out' });
    }
  }
  return out;
}
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
    const chromaCpu0 = cpuSecondsOf(stack.chroma.pid);
    const t0 = Date.now();
    const load0 = loadavg()[0] as number;
    // The last progress event of an ingest follows its last SQLite commit: from then on every
    // chunk is searchable, lexically and densely (chunks Chroma does not hold yet are scanned
    // exactly beside it, src/retrieval/dense.ts); Chroma may still be catching up.
    // Measured on the main file (99.9% of the chunks): its last commit, before its final wait for Chroma.
    let committedAt = t0;
    const onProgress = (): void => {
      committedAt = Date.now();
    };
    let ingesting = true;
    const probing = probeWhileIngesting(() => !ingesting);
    const a = await stack.retrieval.ingestPath([file], { tenant: 'bench', readers: ['group:all'], fields: { idField: 'id' }, onProgress });
    ingesting = false;
    const probes = await probing;
    const committedMs = committedAt - t0;
    const b = await stack.retrieval.ingestPath([selFile], { tenant: 'bench', readers: ['group:all', 'sel'], fields: { idField: 'id' } });
    const ms = Date.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const chromaCpu1 = cpuSecondsOf(stack.chroma.pid);
    const cpuSecondsOfChroma = chromaCpu0 !== null && chromaCpu1 !== null ? Number((chromaCpu1 - chromaCpu0).toFixed(2)) : null;
    const chunks = a.chunks + b.chunks;
    const whilePending = probes.filter((p) => p.pending > 0);
    const queriesWhileIngesting = {
      queries: probes.length,
      p50: pct(probes.map((p) => p.ms), 50),
      max: Number(Math.max(0, ...probes.map((p) => p.ms)).toFixed(2)),
      whileChromaBehind: { queries: whilePending.length, p50: pct(whilePending.map((p) => p.ms), 50), max: Number(Math.max(0, ...whilePending.map((p) => p.ms)).toFixed(2)), maxPendingChunks: Math.max(0, ...whilePending.map((p) => p.pending)) },
      shortResults: probes.filter((p) => p.results < 10).length,
      strategies: Object.fromEntries([...new Set(probes.map((p) => p.strategy))].map((k) => [k, probes.filter((p) => p.strategy === k).length])),
    };
    console.error(`broad dense queries while ingesting: ${JSON.stringify(queriesWhileIngesting)}`);
    ingests.push({
      queriesWhileIngesting,
      from: have, to: size, chunks, seconds: ms / 1000, chunksPerSecond: Math.round((chunks * 1000) / ms),
      committedSeconds: committedMs / 1000, committedChunksPerSecond: Math.round((a.chunks * 1000) / committedMs),
      cpuSecondsOfWrit: (cpu.user + cpu.system) / 1e6, cpuSecondsOfChroma, loadavgBefore: Number(load0.toFixed(2)), loadavgAfter: Number((loadavg()[0] as number).toFixed(2)),
    });
    console.error(`ingested ${chunks} chunks in ${(ms / 1000).toFixed(1)} s: ${Math.round((chunks * 1000) / ms)} chunks/s with vectors in Chroma; committed in SQLite (searchable) after ${(committedMs / 1000).toFixed(1)} s: ${Math.round((a.chunks * 1000) / committedMs)} chunks/s; CPU s: writ ${((cpu.user + cpu.system) / 1e6).toFixed(1)}, chroma ${cpuSecondsOfChroma ?? '?'}; load ${load0.toFixed(2)} → ${(loadavg()[0] as number).toFixed(2)}`);
    have = size;
    const recall = await denseRecallAt10(nRecallQueries);
    if (recall !== null) {
      (ingests[ingests.length - 1] as Record<string, unknown>).denseRecall = recall;
      console.error(`dense recall@10 of the Chroma index vs exact scan at ${size} chunks: ${JSON.stringify(recall)}`);
    }
    if (values['ingest-only']) continue;

    // Lexical score lists: the first search at this size starts reading them (once the index
    // has been quiet for 1 s, in a worker thread); the rows below are measured after that.
    {
      const t0 = Date.now();
      const c0 = process.cpuUsage();
      await stack.retrieval.retrieve({ principal: broadReader, query: text(3), k: 10, mode: 'lexical' });
      await stack.retrieval.termLists.idle();
      const { lists, bytes, readByWorker } = stack.retrieval.termLists.stats;
      const c = process.cpuUsage(c0);
      const listsRead = { ms: Date.now() - t0, cpuSeconds: Number(((c.user + c.system) / 1e6).toFixed(1)), lists, mb: Math.round(bytes / 2 ** 20), readByWorker };
      (ingests[ingests.length - 1] as Record<string, unknown>).termLists = listsRead;
      console.error(`lexical score lists at ${size} chunks: ${JSON.stringify(listsRead)}`);
    }

    const principals = {
      broad: broadReader,
      selective: { id: 'sel', kind: 'agent' as const, tenant: 'bench', groups: [], roles: [], attributes: {} },
    };
    for (const [name, principal] of Object.entries(principals)) {
      // `lexical-fts5` and `lexical-unpruned`: the lexical row's queries again, ranked by FTS5
      // without score lists (with MaxScore pruning, then without), for comparison.
      let lastQs: string[] = [];
      for (const variant of ['hybrid', 'lexical', 'lexical-fts5', 'lexical-unpruned', 'dense'] as const) {
        const mode = variant === 'lexical-unpruned' || variant === 'lexical-fts5' ? 'lexical' : variant;
        if ((variant === 'lexical-unpruned' || variant === 'lexical-fts5') && name !== 'broad') continue;
        lexicalPruning.enabled = variant !== 'lexical-unpruned';
        termListRanking.enabled = variant !== 'lexical-unpruned' && variant !== 'lexical-fts5';
        const qs = mode === 'lexical' && variant !== 'lexical' ? lastQs : Array.from({ length: nQueries }, () => text(2 + Math.floor(rand() * 4)));
        lastQs = qs;
        for (const q of qs.slice(0, 20)) await stack.retrieval.retrieve({ principal, query: q, k: 10, mode });
        const lists0 = { ...stack.retrieval.termLists.stats };
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
          // Lexical rankings served from score lists vs by FTS5 (lists not read yet, or off).
          termLists: { served: stack.retrieval.termLists.stats.served - lists0.served, fellBack: stack.retrieval.termLists.stats.fellBack - lists0.fellBack },
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
  writeFileSync(values['ingest-only'] ? 'bench/results/retrieval-ingest.json' : 'bench/results/retrieval.json', `${JSON.stringify(out, null, 2)}\n`);
  console.log(JSON.stringify(out, null, 2));
} finally {
  await stack.close();
}
