// The eval tool: runs a test collection in the shared eval format (corpus.jsonl,
// queries.jsonl, qrels.tsv) through the real ingest and retrieve path — real SQLite, real
// Chroma child, bundled model, in a temporary Writ home — and prints nDCG@10, Recall@10, MRR@10.
//
//   npm run eval -- --collection ../shared/eval/scifact [--mode dense|lexical|hybrid] [--json] [--limit N]
//                   [--split test|train] [--dense-weight W]
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { evaluateRun, loadCollection } from '../src/retrieval/eval-metrics.js';
import { openRetrievalStack } from './retrieval-stack.js';

const USAGE = 'usage: npm run eval -- --collection DIR [--mode dense|lexical|hybrid] [--json] [--limit N] [--split test|train] [--dense-weight W]';

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        collection: { type: 'string' },
        mode: { type: 'string', default: 'hybrid' },
        json: { type: 'boolean', default: false },
        limit: { type: 'string' },
        split: { type: 'string', default: 'test' },
        'dense-weight': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const mode = args.mode as 'dense' | 'lexical' | 'hybrid';
  if (!args.collection || !['dense', 'lexical', 'hybrid'].includes(mode) || !['test', 'train'].includes(args.split ?? '')) {
    console.error(USAGE);
    return 2;
  }
  const dir = resolve(args.collection);
  const suffix = args.split === 'train' ? '-train' : '';
  for (const f of ['corpus.jsonl', `queries${suffix}.jsonl`, `qrels${suffix}.tsv`]) {
    if (!existsSync(join(dir, f))) {
      console.error(`missing \`${join(dir, f)}\``);
      return 2;
    }
  }
  const collection = loadCollection(dir, args.split as 'test' | 'train');
  const limit = args.limit ? Number(args.limit) : Infinity;
  const denseWeight = args['dense-weight'] !== undefined ? Number(args['dense-weight']) : undefined;
  const log = (s: string): void => {
    if (!args.json) process.stderr.write(`${s}\n`);
  };

  const stack = await openRetrievalStack({
    config: {
      maxK: 100, maxChars: 10_000_000, ratePerSecond: 1e9, rateBurst: 1e9, timeoutMs: 60_000, maxTimeoutMs: 60_000,
      ...(denseWeight !== undefined ? { denseWeight } : {}),
    },
  });
  try {
    const started = Date.now();
    const summary = await stack.retrieval.ingestPath([join(dir, 'corpus.jsonl')], {
      tenant: 'eval',
      readers: ['*'],
      fields: { idField: '_id', titleField: 'title', textField: 'text' },
      actorId: 'eval',
      onProgress: (p) => log(`ingest: ${p.documents} documents, ${p.chunks} chunks, ${p.chunksPerSecond} chunks/s, eta ${p.etaSeconds ?? '?'} s`),
    });
    const ingestMs = Date.now() - started;
    const principal = { id: 'eval', kind: 'service' as const, tenant: 'eval', groups: [], roles: [], attributes: {} };
    const run = new Map<string, string[]>();
    const queryStart = Date.now();
    let n = 0;
    for (const q of collection.queries) {
      const judged = collection.qrels.get(q.id);
      if (!judged || ![...judged.values()].some((s) => s > 0)) continue;
      if (n++ >= limit) break;
      // Chunks are ranked; a document ranks where its best chunk does.
      const r = await stack.retrieval.retrieve({ principal, query: q.text, k: 30, mode });
      const ids: string[] = [];
      for (const x of r.results) {
        const id = decodeURIComponent(x.sourceUri.slice(x.sourceUri.lastIndexOf('#') + 1));
        if (!ids.includes(id)) ids.push(id);
      }
      run.set(q.id, ids.slice(0, 10));
    }
    const qrels = limit === Infinity ? collection.qrels : new Map([...collection.qrels].filter(([qid]) => run.has(qid)));
    const scores = evaluateRun(run, qrels, 10);
    const queryMs = Date.now() - queryStart;
    const out = {
      collection: collection.name,
      split: args.split,
      mode,
      ndcg10: Number(scores.ndcg.toFixed(4)),
      recall10: Number(scores.recall.toFixed(4)),
      mrr10: Number(scores.mrr.toFixed(4)),
      queries: scores.queries,
      documents: collection.corpus.length,
      chunks: summary.chunks,
      ingestMs,
      ingestChunksPerSecond: summary.chunksPerSecond,
      msPerQuery: Number((queryMs / Math.max(1, run.size)).toFixed(2)),
      model: stack.embedder.modelId,
    };
    if (args.json) console.log(JSON.stringify(out));
    else {
      console.log(`${out.collection} (${out.split}, ${out.queries} queries, ${out.documents} documents, ${out.chunks} chunks) mode=${mode}`);
      console.log(`nDCG@10 ${out.ndcg10.toFixed(4)}  Recall@10 ${out.recall10.toFixed(4)}  MRR@10 ${out.mrr10.toFixed(4)}`);
      console.log(`ingest ${(ingestMs / 1000).toFixed(1)} s (${out.ingestChunksPerSecond} chunks/s), ${out.msPerQuery} ms/query`);
    }
    return 0;
  } finally {
    await stack.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
