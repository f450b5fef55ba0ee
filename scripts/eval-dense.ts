// Dense-only retrieval quality of an embedding model on test collections in the shared eval
// format (brute-force cosine in memory; rules in ../shared/eval/README.md).
//
//   node --import tsx scripts/eval-dense.ts ../shared/eval/scifact [more folders…] [--json] [--model bundled|PATH|ID] [--split test|train]
//
// Prints nDCG@10, Recall@10 and MRR@10 per collection.
import { createEmbedder } from '../src/retrieval/embedder.js';
import { documentText, evaluateRun, loadCollection, topKByCosine, type EvalScores } from '../src/retrieval/eval-metrics.js';

interface Args {
  readonly dirs: string[];
  readonly json: boolean;
  readonly model: string;
  readonly split: 'test' | 'train';
}

function parseArgs(argv: string[]): Args {
  const dirs: string[] = [];
  let json = false;
  let model = 'bundled';
  let split: 'test' | 'train' = 'test';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--model') model = argv[++i] ?? model;
    else if (a === '--split') split = argv[++i] === 'train' ? 'train' : 'test';
    else if (a.startsWith('--')) throw new Error(`unknown option \`${a}\``);
    else dirs.push(a);
  }
  if (dirs.length === 0) throw new Error('usage: eval-dense.ts COLLECTION_DIR… [--json] [--model bundled|PATH|ID] [--split test|train]');
  return { dirs, json, model, split };
}

const args = parseArgs(process.argv.slice(2));
const embedder = await createEmbedder({ model: args.model });
const rows: Array<{ collection: string; docs: number; seconds: number } & EvalScores> = [];
try {
  for (const dir of args.dirs) {
    const t0 = performance.now();
    const c = loadCollection(dir, args.split);
    const docs = await embedder.embed(c.corpus.map(documentText));
    const queries = await embedder.embed(c.queries.map((q) => q.text));
    const run = new Map<string, string[]>();
    c.queries.forEach((q, i) => run.set(q.id, topKByCosine(queries[i]!, docs, 10).map((d) => c.corpus[d]!.id)));
    const scores = evaluateRun(run, c.qrels, 10);
    rows.push({ collection: c.name + (args.split === 'train' ? ' (train)' : ''), docs: c.corpus.length, seconds: (performance.now() - t0) / 1000, ...scores });
  }
} finally {
  await embedder.close();
}

if (args.json) {
  console.log(JSON.stringify({ model: embedder.modelId, split: args.split, date: new Date().toISOString(), results: rows }));
} else {
  console.log(`dense-only retrieval, model ${embedder.modelId}, brute-force cosine`);
  console.log('| collection | docs | queries | nDCG@10 | Recall@10 | MRR@10 |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.collection} | ${r.docs} | ${r.queries} | ${r.ndcg.toFixed(3)} | ${r.recall.toFixed(3)} | ${r.mrr.toFixed(3)} |`);
}
