// Contract of the embedder (implemented in embedder.ts).

export interface Embedder {
  /** Stable id of the model, recorded per Chroma collection (mixing models is refused). */
  readonly modelId: string;
  readonly dimension: number;
  /**
   * Embeds texts in batches. Each row is an L2-normalized Float32Array of `dimension`
   * values — except a text with no token the model knows, whose row is all zeros (never
   * NaN). Callers must not index or query a zero row (see `isZeroVector`).
   */
  embed(texts: readonly string[]): Promise<Float32Array[]>;
  /** Frees the model session. */
  close(): Promise<void>;
}

/** True when a row carries no signal (a text with no known word). */
export function isZeroVector(row: Float32Array): boolean {
  for (let i = 0; i < row.length; i++) if (row[i] !== 0) return false;
  return true;
}
