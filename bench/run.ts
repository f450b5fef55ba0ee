// `npm run bench -- NAME [args…]` runs one benchmark; `npm run bench -- all` runs every one
// with the arguments BENCHMARKS.md quotes, each in its own process (a clean heap, its own
// Chroma child where it needs one). Without a name it lists them. Results go to
// bench/results/*.json; broker, ledger and policy also rewrite their BENCHMARKS.md sections.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

interface Bench {
  readonly file: string;
  /** The arguments BENCHMARKS.md's figures come from. */
  readonly args: readonly string[];
  readonly measures: string;
  readonly minutes: number;
}

const BENCHES: Record<string, Bench> = {
  embedder: { file: 'embedder.ts', args: ['10000', '512'], measures: 'embedding throughput, fast path vs the transformers.js pipeline', minutes: 1 },
  chroma: { file: 'chroma.ts', args: [], measures: 'embedded Chroma start, RSS, upsert and query latency/recall', minutes: 6 },
  retrieval: { file: 'retrieval.ts', args: [], measures: 'ingest throughput and query latency at 10k and 100k chunks', minutes: 11 },
  policy: { file: 'policy.ts', args: [], measures: 'Cedar policy decisions with 100 policies', minutes: 2 },
  broker: { file: 'broker.ts', args: ['5000'], measures: 'propose → decide → warrant → execute round trip', minutes: 1 },
  'wal-pages': { file: 'wal-pages.ts', args: [], measures: 'WAL pages a broker round trip writes, by table', minutes: 1 },
  ledger: { file: 'ledger.ts', args: ['50000', '200000'], measures: 'ledger append and verify rates', minutes: 3 },
  http: { file: 'http.ts', args: ['15'], measures: 'HTTP retrieve, propose + decide and SSE under autocannon', minutes: 4 },
  'http-processes': { file: 'http-processes.ts', args: ['2', '10'], measures: 'two server processes on one home: HTTP retrieve and propose + decide', minutes: 2 },
};

function run(name: string, args: readonly string[]): number {
  const bench = BENCHES[name] as Bench;
  console.log(`\n== bench ${name}: ${bench.measures}`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, bench.file), ...(args.length > 0 ? args : bench.args)], { stdio: 'inherit' });
  return result.status ?? 1;
}

const [name, ...args] = process.argv.slice(2);
if (name === undefined) {
  console.log('usage: npm run bench -- NAME [args…] | all\n');
  for (const [n, b] of Object.entries(BENCHES)) console.log(`  ${n.padEnd(10)} ${b.measures} (~${b.minutes} min; default args: ${b.args.join(' ') || 'none'})`);
  console.log('\nMeasure on a quiet machine: the figures record the load average, and two cores are easily shared.');
} else if (name === 'all') {
  let failed = 0;
  for (const n of Object.keys(BENCHES)) if (run(n, []) !== 0) failed++;
  process.exit(failed === 0 ? 0 : 1);
} else if (BENCHES[name] === undefined) {
  console.error(`unknown benchmark \`${name}\`: one of ${Object.keys(BENCHES).join(', ')}, or all`);
  process.exit(2);
} else {
  process.exit(run(name, args));
}
