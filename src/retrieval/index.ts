// Front door of retrieval: ingestion, permission-aware hybrid search, sealed context bundles.
export { retrievalMigrations } from './schema.js';
export { RetrievalErrors } from './errors.js';
export { createEmbedder, EmbedderOptionsSchema, BUNDLED_MODEL_DIR, type EmbedderOptions, type LoadedEmbedder, type EmbedderMode } from './embedder.js';
export { isZeroVector, type Embedder } from './embedder-types.js';
export { startChroma, connectChroma, type ChromaServer, type ChromaExit, type StartChromaOptions } from './chroma-server.js';
export {
  superviseChroma,
  createChromaRestartSchedule,
  DEFAULT_CHROMA_RESTART_TIMING,
  type ChromaSupervisor,
  type ChromaSupervisorOptions,
  type ChromaSupervisionStatus,
  type ChromaRestartSchedule,
  type ChromaRestartTiming,
  type ChromaLastExit,
  type CrashCount,
  type SupervisedRetrieval,
} from './chroma-supervision.js';
export { openVectorIndex, VECTOR_SPACE, DEFAULT_EF_SEARCH, type VectorIndex, type VectorIndexOptions, type VectorRow, type VectorHit, type VectorQuery, type VectorWhere } from './vector-index.js';
export { createRetrieval, type Retrieval, type RetrievalDeps, type RetrievalConfig, type RetrievalWatcher, type WatchOptions } from './retrieval.js';
export type { RetrieveOptions } from './search.js';
export { createBundleEvidenceReader, sealBundle, type BundleEvidence, type ContextBundle, type SealedBundle, type StaleRef, type BundleChunkRef } from './bundles.js';
export type { DocumentRecord, ListDocumentsOptions } from './documents.js';
export { chunkText, DEFAULT_CHUNKING, type ChunkingOptions, type TextChunk } from './chunking.js';
export { loadFile, loadText, listLoadableFiles, type LoadedDocument, type RecordFields, type ContentFormat } from './loaders.js';
export type { IngestFileFailure, IngestProgress, IngestPathOptions, IngestPathSummary } from './ingest-path.js';
export type { IngestOptions, VectorWaitOptions } from './ingest.js';
export {
  DocumentInputSchema, RetrievalQuerySchema, RetrievalFiltersSchema, ReaderSchema,
  type DocumentInput, type IngestOutcome, type RevokeOutcome, type VectorState, type VectorWarning, type RetrievalQuery, type RetrievalResult, type RetrievedChunk, type RetrievalFilters, type ResultScores, type VectorIndexPort,
} from './types.js';
