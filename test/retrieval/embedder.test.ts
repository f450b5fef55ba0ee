import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { AutoTokenizer, env } from '@xenova/transformers';
import { isWritError } from '../../src/core/index.js';
import { BUNDLED_MODEL_DIR, createEmbedder, type LoadedEmbedder } from '../../src/retrieval/embedder.js';
import { isZeroVector } from '../../src/retrieval/embedder-types.js';
import { WordTokenizer } from '../../src/retrieval/word-tokenizer.js';

const SCIFACT = join(import.meta.dirname, '..', '..', '..', 'shared', 'eval', 'scifact', 'corpus.jsonl');

function sampleTexts(n: number): string[] {
  let lines: string[] = [];
  try {
    lines = readFileSync(SCIFACT, 'utf8').split('\n').filter((l) => l !== '').slice(0, n);
  } catch {
    // the shared eval data is optional here; the fixed samples below still run
  }
  return lines.map((l) => {
    const d = JSON.parse(l) as { title: string; text: string };
    return `${d.title} ${d.text}`;
  });
}

const TRICKY = [
  'The cat sat on the mat.',
  'Café NAÏVE résumé Ångström façade coöperate',
  'state-of-the-art, 1,000 genomes; e-mail: someone@example.com (U.S.A.)',
  'tabs\tand\nnewlines\r\nand\u000bvertical\u000cfeeds\u0007bell\u0000nul\uFFFDreplacement',
  'zero\u200Bwidth\uFEFFbom and \u00A0nbsp \u2003em-space',
  '中文字符 mixed with english 日本語 and 𠀀 astral CJK',
  'emoji 😀 and lone surrogate \uD800 here',
  'special [CLS] tokens [SEP] inside [MASK] text [PAD] [UNK] [cls]',
  'İstanbul ß straße ﬁ ligature Ⅻ numerals',
  '«quotes» “curly” ‘single’ — dash … ellipsis ¿question? ¡bang!',
  '',
  '   ',
  'zzqxv qqqzz',
];

function randomText(seed: number): string {
  const pool = ['a', 'the', ' ', ' ', 'é', 'E\u0301', '-', ',', '.', '\t', '\u0085', '\u200B', '中', '😀', 'Ä', 'word', 'Protein', '[CLS]', '[', ']', '#', '$', '\u00AD', 'İ', 'ǅ', '\u0301'];
  let s = '';
  let x = seed;
  for (let i = 0; i < 40; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    s += pool[x % pool.length];
  }
  return s;
}

function randomAscii(seed: number): string {
  let s = '';
  let x = seed;
  for (let i = 0; i < 60; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const r = x % 100;
    s += r < 60 ? 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'[x % 62] : r < 80 ? ' ' : r < 95 ? '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'[x % 32] : '\t\n\r'[x % 3];
    if (r < 8) s += ['the', 'protein', 'Cell', 'DNA', ' and '][x % 5];
  }
  return s;
}

describe('embedder (bundled model)', () => {
  let fast: LoadedEmbedder;
  let generic: LoadedEmbedder;

  before(async () => {
    fast = await createEmbedder();
    generic = await createEmbedder({ fastPath: false });
  });
  after(async () => {
    await fast?.close();
    await generic?.close();
  });

  test('loads the bundled model on the fast path with a model id naming the exact weights', () => {
    assert.equal(fast.mode, 'fast');
    assert.equal(generic.mode, 'pipeline');
    assert.match(fast.modelId, /^writ-glove-100d@[0-9a-f]{12}$/);
    assert.equal(fast.modelId, generic.modelId);
    assert.equal(fast.dimension, 100);
  });

  test('returns one L2-normalized row per text', async () => {
    const texts = ['The cat sat on the mat.', 'Proteins fold into structures.', 'a b c'];
    const rows = await fast.embed(texts);
    assert.equal(rows.length, 3);
    for (const row of rows.slice(0, 2)) {
      assert.equal(row.length, 100);
      const norm = Math.hypot(...row);
      assert.ok(Math.abs(norm - 1) < 1e-5, `norm ${norm}`);
    }
  });

  test('is deterministic across calls and independent of the batch a text is in', async () => {
    const texts = sampleTexts(20).concat(TRICKY);
    const a = await fast.embed(texts);
    const b = await fast.embed(texts);
    assert.deepEqual(a, b);
    for (let i = 0; i < texts.length; i++) {
      const [alone] = await fast.embed([texts[i]!]);
      for (let d = 0; d < 100; d++) assert.ok(Math.abs(a[i]![d]! - alone![d]!) < 1e-6, `text ${i} dim ${d}`);
    }
  });

  test('concurrent one-text calls share a model call and each gets its own row back', async () => {
    const texts = sampleTexts(12).concat(TRICKY);
    const together = await fast.embed(texts);
    const apart = await Promise.all(texts.map((t) => fast.embed([t])));
    assert.equal(apart.length, texts.length);
    for (let i = 0; i < texts.length; i++) {
      assert.equal(apart[i]!.length, 1);
      for (let d = 0; d < 100; d++) assert.ok(Math.abs(together[i]![d]! - apart[i]![0]![d]!) < 1e-6, `text ${i} dim ${d}`);
    }
    // Distinct texts give distinct rows: no caller got another caller's vector.
    assert.notDeepEqual(apart[0]![0], apart[1]![0]);
  });

  test('gives an all-zero row, never NaN, for a text with no known word', async () => {
    for (const e of [fast, generic]) {
      const [unknown, empty, known] = await e.embed(['zzqxv qqqzz', '', 'the cat']);
      assert.ok(isZeroVector(unknown!), `${e.mode}: unknown-only text`);
      assert.ok(isZeroVector(empty!), `${e.mode}: empty text`);
      assert.ok(!isZeroVector(known!));
      for (const row of [unknown!, empty!, known!]) assert.ok(row.every((v) => Number.isFinite(v)));
    }
  });

  test('scores semantically close sentences higher than unrelated ones', async () => {
    const [cat, kitten, stocks, dog] = await fast.embed([
      'The cat sat on the mat.',
      'A kitten was sleeping on the rug.',
      'Stock markets fell sharply after the earnings report.',
      'The dog chased the cat around the garden.',
    ]);
    const cos = (x: Float32Array, y: Float32Array): number => x.reduce((s, v, i) => s + v * y[i]!, 0);
    assert.ok(cos(cat!, kitten!) > cos(cat!, stocks!) + 0.2);
    assert.ok(cos(cat!, dog!) > cos(cat!, stocks!));
  });

  test('the generic pipeline path gives the same vectors as the fast path (within 1e-5)', async () => {
    const texts = sampleTexts(64).concat(TRICKY);
    const a = await fast.embed(texts);
    const b = await generic.embed(texts);
    for (let i = 0; i < texts.length; i++) {
      for (let d = 0; d < 100; d++) assert.ok(Math.abs(a[i]![d]! - b[i]![d]!) < 1e-5, `text ${i} dim ${d}: ${a[i]![d]} vs ${b[i]![d]}`);
    }
  });
});

describe('fast tokenizer', () => {
  test('gives the same ids as the transformers.js tokenizer', async () => {
    const saved = { path: env.localModelPath, remote: env.allowRemoteModels };
    env.localModelPath = dirname(BUNDLED_MODEL_DIR);
    env.allowRemoteModels = false;
    const reference = await AutoTokenizer.from_pretrained(basename(BUNDLED_MODEL_DIR), { local_files_only: true });
    Object.assign(env, { localModelPath: saved.path, allowRemoteModels: saved.remote });
    const fast = WordTokenizer.fromJson(
      JSON.parse(readFileSync(join(BUNDLED_MODEL_DIR, 'tokenizer.json'), 'utf8')),
      JSON.parse(readFileSync(join(BUNDLED_MODEL_DIR, 'tokenizer_config.json'), 'utf8')),
    );
    assert.ok(fast !== null);
    const ascii = Array.from({ length: 300 }, (_, i) => randomAscii(i + 7));
    const texts = sampleTexts(300).concat(TRICKY, ascii, Array.from({ length: 300 }, (_, i) => randomText(i + 1)));
    for (const text of texts) {
      const expected = Array.from(reference(text).input_ids.data as BigInt64Array, Number);
      assert.deepEqual(fast.encode(text), expected, JSON.stringify(text));
    }
  });
});

describe('embedder options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'writ-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('rejects a missing model folder with RETRIEVAL_MODEL_NOT_FOUND', async () => {
    await assert.rejects(createEmbedder({ model: join(dir, 'no-such-model') }), (err) => isWritError(err, 'RETRIEVAL_MODEL_NOT_FOUND'));
  });

  test('rejects a folder without model files, naming what is missing', async () => {
    const empty = join(dir, 'empty-model');
    mkdirSync(empty);
    writeFileSync(join(empty, 'config.json'), '{}');
    await assert.rejects(createEmbedder({ model: empty }), (err) => {
      assert.ok(isWritError(err, 'RETRIEVAL_MODEL_NOT_FOUND'));
      assert.deepEqual(err.details.missing, ['tokenizer.json', 'onnx/model_quantized.onnx or onnx/model.onnx']);
      return true;
    });
  });

  test('rejects a folder whose model cannot be loaded with RETRIEVAL_MODEL_LOAD_FAILED', async () => {
    const broken = join(dir, 'broken-model');
    mkdirSync(join(broken, 'onnx'), { recursive: true });
    writeFileSync(join(broken, 'config.json'), '{"model_type":"bert"}');
    writeFileSync(join(broken, 'tokenizer.json'), readFileSync(join(BUNDLED_MODEL_DIR, 'tokenizer.json')));
    writeFileSync(join(broken, 'tokenizer_config.json'), readFileSync(join(BUNDLED_MODEL_DIR, 'tokenizer_config.json')));
    writeFileSync(join(broken, 'onnx', 'model_quantized.onnx'), 'not an onnx file');
    // transformers.js logs its own retries on the console; keep the test output clean.
    const saved = { warn: console.warn, error: console.error };
    console.warn = () => undefined;
    console.error = () => undefined;
    try {
      await assert.rejects(createEmbedder({ model: broken }), (err) => isWritError(err, 'RETRIEVAL_MODEL_LOAD_FAILED'));
    } finally {
      Object.assign(console, saved);
    }
  });

  test('rejects bad options with INVALID_INPUT listing every issue', async () => {
    await assert.rejects(createEmbedder({ batchSize: 0, model: '' }), (err) => {
      assert.ok(isWritError(err, 'INVALID_INPUT'));
      assert.equal((err.details.issues as unknown[]).length, 2);
      return true;
    });
  });
});
