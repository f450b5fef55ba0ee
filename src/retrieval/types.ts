// Shapes of the retrieval area: document input, the vector-index port it writes to, and
// the request/response of a retrieval. Schemas first; types derive from them.
import { z } from 'zod';
import { NameSchema, loneSurrogateAt, loneSurrogateProblem } from '../core/index.js';

/** A reader of a document: a principal id, `group:NAME`, or `*` (every principal of the tenant). */
export const ReaderSchema = z.union([NameSchema, z.literal('*')]);

/**
 * A string that is well-formed Unicode. A lone surrogate cannot be stored as UTF-8 (SQLite
 * would keep U+FFFD instead) nor written as canonical JSON (the hash and the ledger): it is
 * refused here, naming where it is, rather than altered.
 */
const wellFormed = <S extends z.ZodString>(schema: S) =>
  schema.superRefine((value, ctx) => {
    const at = loneSurrogateAt(value);
    if (at >= 0) ctx.addIssue({ code: 'custom', message: `${loneSurrogateProblem(value, at)}: replace or remove it` });
  });

/** One document to ingest. The tenant and readers come from the caller, never from the text. */
export const DocumentInputSchema = z
  .object({
    tenant: NameSchema,
    sourceUri: wellFormed(z.string().min(1).max(2048)),
    title: wellFormed(z.string().max(1000)).default(''),
    text: wellFormed(z.string().max(50_000_000)),
    readers: z.array(ReaderSchema).min(1).max(10_000),
    labels: z.array(wellFormed(z.string().min(1).max(200))).max(200).default([]),
    /** Markdown headings shape chunks; other formats chunk by paragraph. */
    format: z.enum(['markdown', 'text', 'html', 'json']).default('text'),
  })
  .strict();
export type DocumentInput = z.input<typeof DocumentInputSchema>;

/**
 * Whether the vector index (Chroma) holds what SQLite committed for a document: `synced`, or
 * `pending` when it could not be written yet (Chroma down). SQLite is the system of record:
 * pending chunks are already searchable (lexically, and densely by an exact scan while the
 * backlog is small), a revoked document's chunks are never returned, and the vectors are
 * written by a later sync (the next ingest or revoke, a background retry, the next start).
 */
export type VectorState = 'synced' | 'pending';

/** Why vectors are pending: the vector index's error (a RETRIEVAL_* code) and its message. */
export interface VectorWarning {
  readonly code: string;
  readonly message: string;
}

/** What ingesting one document did. */
export interface IngestOutcome {
  readonly documentId: string;
  readonly sourceUri: string;
  readonly version: number;
  /** `kept_revoked`: a folder ingest met a revoked document with the same text and left it revoked. */
  readonly status: 'created' | 'updated' | 'unchanged' | 'readers_changed' | 'kept_revoked';
  readonly chunks: number;
  readonly vectors: VectorState;
  /** Set when the vector write after the commit failed: the document is stored all the same. */
  readonly warning?: VectorWarning;
}

/** What revoking a document did. */
export interface RevokeOutcome {
  readonly documentId: string;
  readonly version: number;
  /** False when it was already revoked. */
  readonly revoked: boolean;
  /** `pending`: Chroma still holds vectors of the document (never returned: search re-checks SQLite). */
  readonly vectors: VectorState;
  readonly warning?: VectorWarning;
}

/** Metadata stored with each vector. */
export type VectorMetadata = Record<string, string | number | boolean>;

/**
 * What retrieval needs of a vector index (implemented over Chroma in vector-index.ts).
 * Vectors are L2-normalized; `score` is cosine similarity.
 */
export interface VectorIndexPort {
  upsert(rows: ReadonlyArray<{ id: string; vector: Float32Array | number[]; metadata: VectorMetadata }>): Promise<unknown>;
  query(q: { vector: Float32Array | number[]; k: number; where?: Record<string, unknown>; ids?: string[]; withMetadata?: boolean }): Promise<
    ReadonlyArray<{ id: string; distance?: number; score: number; metadata?: unknown }>
  >;
  delete(ids: readonly string[]): Promise<unknown>;
  count(): Promise<number>;
  drop?(): Promise<unknown>;
}

/** Narrowing filters of a retrieval. They only ever remove results. */
export const RetrievalFiltersSchema = z
  .object({
    /** Keep documents carrying every one of these labels. */
    labels: z.array(z.string().min(1).max(200)).max(50).optional(),
    /** Keep only these documents. */
    documentIds: z.array(z.string().min(1).max(100)).max(1000).optional(),
    /** Keep documents whose source URI starts with this. */
    sourcePrefix: z.string().min(1).max(2048).optional(),
  })
  .strict();
export type RetrievalFilters = z.infer<typeof RetrievalFiltersSchema>;

const HAS_WORD = /[\p{L}\p{N}]/u;

/** The caller-supplied part of a retrieval (the principal is passed separately, from auth). */
export const RetrievalQuerySchema = z
  .object({
    // A query of spaces or punctuation matches nothing yet would be recorded and charged.
    // One check (an empty query fails it too), so a bad query is one issue, not two.
    query: z.string().refine((q) => HAS_WORD.test(q), 'must contain a letter or digit'),
    k: z.number().int().positive(),
    sessionId: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe('the session this retrieval belongs to (charged to its budgets); an agent must name a live session of its own, people and services may omit it'),
    budget: z.object({ maxChars: z.number().int().positive() }).strict().optional(),
    filters: RetrievalFiltersSchema.optional(),
    timeoutMs: z.number().int().positive().optional(),
    /** `hybrid` (default), or one input alone for evaluation. */
    mode: z.enum(['hybrid', 'dense', 'lexical']).default('hybrid'),
    /** Request id of the HTTP call, recorded in the ledger. */
    requestId: z.string().min(1).max(200).optional(),
  })
  .strict();
export type RetrievalQuery = z.input<typeof RetrievalQuerySchema>;

/** How one result was found: each input's score and rank, and the fused score. */
export interface ResultScores {
  /** Cosine similarity to the query (null: no vector, e.g. no known word). */
  readonly dense: number | null;
  /** BM25 (FTS5, higher is better; 0: no query term matched). */
  readonly lexical: number | null;
  readonly denseRank: number | null;
  readonly lexicalRank: number | null;
  /** (1 − w)·lexical/maxLexical + w·dense-normalized, w = the dense weight. */
  readonly fused: number;
}

/** One returned chunk. */
export interface RetrievedChunk {
  readonly rank: number;
  readonly chunkId: string;
  readonly documentId: string;
  readonly documentVersion: number;
  readonly sourceUri: string;
  readonly title: string;
  readonly heading: string;
  readonly text: string;
  readonly contentHash: string;
  readonly charStart: number;
  readonly charEnd: number;
  readonly scores: ResultScores;
}

/** The bounds that applied to one retrieval (recorded in the bundle). */
export interface AppliedBounds {
  readonly k: number;
  readonly maxChars: number;
  readonly timeoutMs: number;
}

/** The answer to one retrieval: the sealed bundle's id and seal, and the chunks. */
export interface RetrievalResult {
  readonly bundleId: string;
  readonly seal: string;
  readonly results: RetrievedChunk[];
  /** True when fewer than `k` chunks (or fewer characters) were returned than readable matches exist. */
  readonly truncated: boolean;
  readonly truncatedReason?: 'budget' | 'candidates';
  readonly bounds: AppliedBounds;
  /** How the dense side searched: exact scan of the readable set, or the ANN index plus re-check. */
  readonly denseStrategy: 'exact' | 'index' | 'none';
  readonly tookMs: number;
}
