// The embedder: turns texts into L2-normalized vectors with a transformers.js model — the
// bundled static model (models/writ-glove-100d), a local model folder, or a model id from a
// hub. Models load through the transformers.js pipeline; for Writ's word-level static models
// with pooling in the graph (the bundled one) a fast path tokenizes in plain JS and runs the
// same ONNX file in its own onnxruntime session, many times faster than the generic pipeline.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type * as TransformersModule from '@xenova/transformers';
import { parseInput, WritError } from '../core/index.js';
import { RetrievalErrors } from './errors.js';
import type { Embedder } from './embedder-types.js';
import { WordTokenizer, type TokenizerConfigJson, type TokenizerJson } from './word-tokenizer.js';

/** Name of the bundled model folder under `models/`. */
export const BUNDLED_MODEL_NAME = 'writ-glove-100d';

/** Folder of the bundled model, resolved from the package root (not the working directory). */
export const BUNDLED_MODEL_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', BUNDLED_MODEL_NAME);

/** Options of {@link createEmbedder}. */
export const EmbedderOptionsSchema = z
  .object({
    /** `bundled`, a local model folder, or a transformers.js model id (e.g. `Xenova/all-MiniLM-L6-v2`). */
    model: z.string().min(1).default('bundled'),
    /** Texts per model call. */
    batchSize: z.number().int().min(1).max(8192).default(256),
    /** Where downloaded models are cached (model ids only). */
    cacheDir: z.string().min(1).optional(),
    /** Use the fast tokenizer + pooled graph output when the model allows it (default true). */
    fastPath: z.boolean().default(true),
  })
  .strict();

/** Input type of {@link createEmbedder}'s options. */
export type EmbedderOptions = z.input<typeof EmbedderOptionsSchema>;

/** Which way the embedder runs: `fast` (own tokenizer, pooled graph output) or `pipeline`. */
export type EmbedderMode = 'fast' | 'pipeline';

/** An {@link Embedder} that also says how it runs. */
export interface LoadedEmbedder extends Embedder {
  readonly mode: EmbedderMode;
  /** Where the model came from: a folder, or the model id. */
  readonly source: string;
}

// transformers.js (and onnxruntime under it) takes a second or more to import, so it is
// loaded on the first model load — commands that never embed start fast.
let transformersModule: typeof TransformersModule | undefined;
async function loadTransformers(): Promise<typeof TransformersModule> {
  transformersModule ??= await import('@xenova/transformers');
  return transformersModule;
}
function loadedTransformers(): typeof TransformersModule {
  if (transformersModule === undefined) throw new Error('transformers.js is used before a model was loaded');
  return transformersModule;
}

// transformers.js keeps its settings in one global `env`; loads are serialized so that each
// sees the settings it asked for.
let loadQueue: Promise<unknown> = Promise.resolve();

function withEnv<T>(settings: { localModelPath?: string; allowRemoteModels: boolean; allowLocalModels: boolean }, load: () => Promise<T>): Promise<T> {
  const run = async (): Promise<T> => {
    const { env } = await loadTransformers();
    const saved = { localModelPath: env.localModelPath, allowRemoteModels: env.allowRemoteModels, allowLocalModels: env.allowLocalModels };
    if (settings.localModelPath !== undefined) env.localModelPath = settings.localModelPath;
    env.allowRemoteModels = settings.allowRemoteModels;
    env.allowLocalModels = settings.allowLocalModels;
    try {
      return await load();
    } finally {
      Object.assign(env, saved);
    }
  };
  const result = loadQueue.then(run, run);
  loadQueue = result.catch(() => undefined);
  return result;
}

function isFolderPath(model: string): boolean {
  if (isAbsolute(model) || model.startsWith('./') || model.startsWith('../') || model === '.' || model === '..') return true;
  try {
    return statSync(model).isDirectory();
  } catch {
    return false;
  }
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

interface Resolved {
  readonly kind: 'folder' | 'hub';
  /** Folder path or model id. */
  readonly source: string;
  readonly quantized: boolean;
  readonly modelId: string;
}

function resolveFolder(folder: string, name: string): Resolved {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new WritError(RetrievalErrors.RETRIEVAL_MODEL_NOT_FOUND, `model folder \`${folder}\` does not exist`, { details: { model: name, folder } });
  }
  const missing = ['config.json', 'tokenizer.json'].filter((f) => !existsSync(join(folder, f)));
  const quantizedFile = join(folder, 'onnx', 'model_quantized.onnx');
  const plainFile = join(folder, 'onnx', 'model.onnx');
  const onnxFile = existsSync(quantizedFile) ? quantizedFile : existsSync(plainFile) ? plainFile : null;
  if (onnxFile === null) missing.push('onnx/model_quantized.onnx or onnx/model.onnx');
  if (missing.length > 0 || onnxFile === null) {
    throw new WritError(RetrievalErrors.RETRIEVAL_MODEL_NOT_FOUND, `model folder \`${folder}\` lacks ${missing.map((m) => `\`${m}\``).join(', ')}`, {
      details: { model: name, folder, missing },
    });
  }
  const id = name === 'bundled' ? BUNDLED_MODEL_NAME : basename(folder);
  return { kind: 'folder', source: folder, quantized: onnxFile === quantizedFile, modelId: `${id}@${sha256File(onnxFile).slice(0, 12)}` };
}

/** Pools token vectors [B,T,D] with the attention mask (mean) and L2-normalizes; zero rows stay zero. */
export function meanPoolNormalize(hidden: Float32Array, mask: ArrayLike<bigint | number>, batch: number, tokens: number, dim: number): Float32Array[] {
  const rows: Float32Array[] = [];
  for (let b = 0; b < batch; b++) {
    const acc = new Float64Array(dim);
    let count = 0;
    for (let t = 0; t < tokens; t++) {
      if (Number(mask[b * tokens + t]) === 0) continue;
      count++;
      const o = (b * tokens + t) * dim;
      for (let d = 0; d < dim; d++) acc[d]! += hidden[o + d]!;
    }
    rows.push(normalizeRow(acc, count === 0 ? 1 : count));
  }
  return rows;
}

function normalizeRow(acc: Float64Array, divisor: number): Float32Array {
  const dim = acc.length;
  let norm = 0;
  for (let d = 0; d < dim; d++) {
    const v = acc[d]! / divisor;
    acc[d] = v;
    norm += v * v;
  }
  norm = Math.sqrt(norm);
  const out = new Float32Array(dim);
  // INVARIANT: a row with no signal is all zeros, never NaN (a NaN vector poisons a Chroma collection).
  if (!(norm > 1e-12) || !Number.isFinite(norm)) return out;
  for (let d = 0; d < dim; d++) out[d] = acc[d]! / norm;
  return out;
}

/** Copies one row of a [B,D] output, zeroing it if it holds anything not finite. */
function takeRow(data: Float32Array, b: number, dim: number): Float32Array {
  const row = data.slice(b * dim, (b + 1) * dim);
  for (let d = 0; d < dim; d++) {
    // INVARIANT: never hand out NaN or Infinity.
    if (!Number.isFinite(row[d]!)) return new Float32Array(dim);
  }
  return row;
}

interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, unknown>, fetches?: readonly string[]): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>>;
}

/**
 * The fast path's own ONNX session, on one thread. transformers.js creates its sessions with
 * onnxruntime's defaults (a thread per core, spinning between runs) and takes no session
 * options; this graph (a gather and a sum) gains nothing from a second thread. Measured
 * (bench/embedder.ts, 2 cores): 7,433 → 17,076 chunks/s and 6,632 → 15,013 chunks per
 * CPU-second; HTTP retrieve 1.25 → 1.07 ms of CPU per request (bench/http.ts) — the other core
 * stays free for SQLite, Chroma and other requests. Null when it cannot be created (the
 * pipeline is loaded then).
 */
async function singleThreadSession(modelFile: string): Promise<{ session: OrtSession; tensor: (data: BigInt64Array, dims: number[]) => unknown } | null> {
  try {
    // Loaded the way transformers.js loads it (CommonJS), so both share one onnxruntime.
    const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof import('onnxruntime-node');
    const session = await ort.InferenceSession.create(modelFile, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
    return { session: session as unknown as OrtSession, tensor: (data, dims) => new ort.Tensor('int64', data, dims) };
  } catch {
    return null;
  }
}

interface FeaturePipeline {
  tokenizer: (texts: string[], options: { padding: boolean; truncation: boolean }) => Record<string, { data: BigInt64Array; dims: number[] }>;
  model: ((inputs: Record<string, unknown>) => Promise<Record<string, { data: Float32Array; dims: number[] } | undefined>>) & { session: OrtSession };
  dispose(): Promise<void>;
}

function makeFastRunner(session: OrtSession, tok: WordTokenizer, tensor: (data: BigInt64Array, dims: number[]) => unknown): (texts: readonly string[]) => Promise<Float32Array[]> {
  // The Writ static graph multiplies each token vector by its attention-mask value, so a
  // word that occurs n times is fed once with mask n: same sum, far fewer tokens to gather.
  // Its special tokens ([PAD] [UNK] [CLS] [SEP] [MASK]) have zero rows, so they are not fed at all.
  const counts = new Uint32Array(tok.maxId + 1);
  const isZeroRow = new Uint8Array(tok.maxId + 1);
  for (const id of tok.specialIds) isZeroRow[id] = 1;
  return async (texts) => {
    const uniques: number[][] = [];
    const multiplicities: number[][] = [];
    let tokens = 1;
    for (const text of texts) {
      const ids = tok.encode(text);
      const uniq: number[] = [];
      for (const id of ids) if (isZeroRow[id] === 0 && counts[id]!++ === 0) uniq.push(id);
      const mult = uniq.map((id) => counts[id]!);
      for (const id of uniq) counts[id] = 0;
      uniques.push(uniq);
      multiplicities.push(mult);
      if (uniq.length > tokens) tokens = uniq.length;
    }
    const batch = texts.length;
    const ids = new BigInt64Array(batch * tokens);
    const mask = new BigInt64Array(batch * tokens);
    const pad = BigInt(tok.padId);
    if (pad !== 0n) ids.fill(pad);
    for (let b = 0; b < batch; b++) {
      const row = uniques[b]!;
      const mult = multiplicities[b]!;
      const o = b * tokens;
      for (let t = 0; t < row.length; t++) {
        ids[o + t] = BigInt(row[t]!);
        mask[o + t] = BigInt(mult[t]!);
      }
    }
    const out = await session.run(
      { input_ids: tensor(ids, [batch, tokens]), attention_mask: tensor(mask, [batch, tokens]) },
      ['sentence_embedding'],
    );
    const emb = out.sentence_embedding!;
    const dim = emb.dims[1]!;
    const rows: Float32Array[] = [];
    for (let b = 0; b < batch; b++) rows.push(takeRow(emb.data, b, dim));
    return rows;
  };
}

function makePipelineRunner(pipe: FeaturePipeline): (texts: readonly string[]) => Promise<Float32Array[]> {
  return async (texts) => {
    const inputs = pipe.tokenizer([...texts], { padding: true, truncation: true });
    const outputs = await pipe.model(inputs);
    const hidden = outputs.last_hidden_state ?? outputs.logits ?? outputs.token_embeddings;
    if (hidden === undefined) throw new Error('model has no last_hidden_state, logits or token_embeddings output');
    const mask = inputs.attention_mask!;
    if (hidden.dims.length === 2) {
      // Already pooled [B, D]: only normalize.
      const [batch, dim] = hidden.dims as [number, number];
      return Array.from({ length: batch }, (_, b) => normalizeRow(Float64Array.from(hidden.data.subarray(b * dim, (b + 1) * dim)), 1));
    }
    const [batch, tokens, dim] = hidden.dims as [number, number, number];
    return meanPoolNormalize(hidden.data, mask.data, batch, tokens, dim);
  };
}

function loadFailed(source: string, cause: unknown): WritError {
  const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
  return new WritError(RetrievalErrors.RETRIEVAL_MODEL_LOAD_FAILED, `embedding model \`${source}\` could not be loaded: ${reason}`, { details: { model: source }, cause });
}

/**
 * Creates an embedder. `model` is `bundled` (the built-in offline model, default), a local
 * model folder (transformers.js layout: config.json, tokenizer.json, onnx/model[_quantized].onnx),
 * or a transformers.js model id, downloaded into `cacheDir` when a hub is reachable (only a
 * model id ever reaches the network). Options and folders are checked here, not on first use.
 *
 * @example
 * const embedder = await createEmbedder();
 * const [row] = await embedder.embed(['how do refunds work?']);
 * await embedder.close();
 */
export async function createEmbedder(options: EmbedderOptions = {}): Promise<LoadedEmbedder> {
  const opts = parseInput(EmbedderOptionsSchema, options, 'embedder options');
  let resolved: Resolved;
  if (opts.model === 'bundled') resolved = resolveFolder(BUNDLED_MODEL_DIR, 'bundled');
  else if (isFolderPath(opts.model)) resolved = resolveFolder(resolve(opts.model), opts.model);
  else resolved = { kind: 'hub', source: opts.model, quantized: true, modelId: opts.model };

  // A Writ static model (the bundled one) runs on the fast path: its own tokenizer and its
  // own single-threaded onnxruntime session over the same ONNX file. The transformers.js
  // pipeline would load a second copy of the model (its session constant-folds the 4-bit table
  // into ~90 MB of floats) on a spinning thread per core, and cost ~0.9 s more at start; it is
  // loaded only for other models, or if the fast path cannot be set up. The bundled model
  // still loads through the pipeline like any transformers.js model (`fastPath: false`; a test
  // checks both give the same vectors).
  let runner: ((texts: readonly string[]) => Promise<Float32Array[]>) | undefined;
  let mode: EmbedderMode = 'pipeline';
  if (opts.fastPath && resolved.kind === 'folder' && isWritStaticModel(resolved.source)) {
    const tok = readFastTokenizer(resolved.source);
    const own = tok === null ? null : await singleThreadSession(join(resolved.source, 'onnx', resolved.quantized ? 'model_quantized.onnx' : 'model.onnx'));
    if (
      tok !== null && own !== null &&
      own.session.outputNames.includes('sentence_embedding') &&
      own.session.inputNames.every((n) => n === 'input_ids' || n === 'attention_mask')
    ) {
      runner = makeFastRunner(own.session, tok, own.tensor);
      mode = 'fast';
    }
  }

  let pipe: FeaturePipeline | undefined;
  if (runner === undefined) {
    try {
      pipe =
        resolved.kind === 'folder'
          ? await withEnv({ localModelPath: dirname(resolved.source), allowRemoteModels: false, allowLocalModels: true }, async () =>
              (await (await loadTransformers()).pipeline('feature-extraction', basename(resolved.source), { quantized: resolved.quantized, local_files_only: true })) as unknown as FeaturePipeline,
            )
          : await withEnv({ allowRemoteModels: true, allowLocalModels: false }, async () =>
              (await (await loadTransformers()).pipeline('feature-extraction', resolved.source, { quantized: true, ...(opts.cacheDir ? { cache_dir: opts.cacheDir } : {}) })) as unknown as FeaturePipeline,
            );
    } catch (err) {
      throw loadFailed(resolved.source, err);
    }
    runner = makePipelineRunner(pipe);
  }
  const run = runner;

  let dimension: number;
  try {
    const [probe] = await run(['dimension probe']);
    dimension = probe!.length;
  } catch (err) {
    await pipe?.dispose().catch(() => undefined);
    throw loadFailed(resolved.source, err);
  }

  let closed = false;
  const batchSize = opts.batchSize;
  // Small calls (a search's query) made in the same turn of the event loop share one model
  // call: under concurrent searches the model's fixed cost per call is paid once per turn.
  let waiting: Array<{ text: string; resolve: (row: Float32Array) => void; reject: (err: unknown) => void }> = [];
  const flushWaiting = (): void => {
    const calls = waiting;
    waiting = [];
    void embedAll(calls.map((c) => c.text)).then(
      (rows) => calls.forEach((c, i) => c.resolve(rows[i] as Float32Array)),
      (err: unknown) => calls.forEach((c) => c.reject(err)),
    );
  };
  const embedAll = async (texts: readonly string[]): Promise<Float32Array[]> => {
    // Batches of similar length pad less; rows go back to the callers' order.
    const order = texts.map((_, i) => i).sort((a, b) => texts[a]!.length - texts[b]!.length || a - b);
    const out = new Array<Float32Array>(texts.length);
    for (let i = 0; i < order.length; i += batchSize) {
      const idx = order.slice(i, i + batchSize);
      const rows = await run(idx.map((j) => texts[j]!));
      idx.forEach((j, k) => (out[j] = rows[k]!));
    }
    return out;
  };
  return {
    modelId: resolved.modelId,
    dimension,
    mode,
    source: resolved.source,
    async embed(texts: readonly string[]): Promise<Float32Array[]> {
      if (closed) throw new Error('embedder is closed');
      if (texts.length === 1) {
        if (waiting.length === 0) setImmediate(flushWaiting);
        return [await new Promise<Float32Array>((resolve, reject) => waiting.push({ text: texts[0] as string, resolve, reject }))];
      }
      return embedAll(texts);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await pipe?.dispose();
    },
  };
}

/** True for models built by scripts/build-model.ts: the graph weights each token by its attention-mask value, and special tokens have zero rows. */
function isWritStaticModel(folder: string): boolean {
  try {
    const config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')) as { writ?: { attention_mask?: string } };
    return config.writ?.attention_mask === 'token weight';
  } catch {
    return false;
  }
}

function readFastTokenizer(folder: string): WordTokenizer | null {
  try {
    const json = JSON.parse(readFileSync(join(folder, 'tokenizer.json'), 'utf8')) as TokenizerJson;
    const configPath = join(folder, 'tokenizer_config.json');
    const config = existsSync(configPath) ? (JSON.parse(readFileSync(configPath, 'utf8')) as TokenizerConfigJson) : {};
    return WordTokenizer.fromJson(json, config);
  } catch {
    return null;
  }
}
