// Error codes of the retrieval area: ingestion, search, bounds and bundles.
import { defineErrors } from '../core/index.js';

export const RetrievalErrors = defineErrors('retrieval', {
  RETRIEVAL_K_TOO_LARGE: {
    status: 400,
    meaning: 'the requested number of results `k` exceeds the configured maximum',
    fix: 'ask for at most `retrieval.maxK` results (env `WRIT_RETRIEVAL_MAX_K`)',
  },
  RETRIEVAL_BUDGET_TOO_LARGE: {
    status: 400,
    meaning: 'the requested character budget exceeds the configured maximum context size',
    fix: 'ask for at most `retrieval.maxChars` characters (env `WRIT_RETRIEVAL_MAX_CHARS`)',
  },
  RETRIEVAL_QUERY_TOO_LONG: {
    status: 400,
    meaning: 'the query text is longer than the configured maximum',
    fix: 'shorten the query to at most `retrieval.maxQueryChars` characters',
  },
  RETRIEVAL_TIMEOUT_TOO_LARGE: {
    status: 400,
    meaning: 'the requested time limit `timeoutMs` exceeds the configured maximum',
    fix: 'ask for at most `retrieval.maxTimeoutMs` milliseconds (env `WRIT_RETRIEVAL_MAX_TIMEOUT_MS`), or leave `timeoutMs` out for the default',
  },
  RETRIEVAL_TIMEOUT: {
    status: 504,
    meaning: 'the search did not finish within its time limit; nothing was returned or recorded',
    fix: 'retry, narrow the query with filters, or raise `timeoutMs` up to `retrieval.maxTimeoutMs`',
  },
  RETRIEVAL_RATE_LIMITED: {
    status: 429,
    meaning: 'the principal made more retrievals than its rate limit allows',
    fix: 'wait `details.retryAfterMs` milliseconds and retry',
  },
  RETRIEVAL_DOCUMENT_NOT_FOUND: {
    status: 404,
    meaning: 'no document with that id or source exists in the tenant',
    fix: 'check the document id or source URI',
  },
  RETRIEVAL_BUNDLE_NOT_FOUND: {
    status: 404,
    meaning: 'no context bundle with that id exists',
    fix: 'check the bundle id',
  },
  RETRIEVAL_LOAD_FAILED: {
    status: 400,
    meaning: 'a file or folder entry could not be read or parsed into documents: missing or unreadable, a dangling symbolic link, not UTF-8, invalid JSON, a JSON string with a lone surrogate, two records with one id, HTML nested too deeply to convert',
    fix: 'read the message: it names the file (and the record, field or line); make it readable and valid for its format (JSON/JSONL records need the chosen text field and distinct ids), then rerun: a folder ingest resumes and retries only the failed files',
  },
  RETRIEVAL_INDEX_MISMATCH: {
    status: 500,
    meaning: 'the vector index was built with another embedding model or dimension',
    fix: 'run `writ reindex --reembed` to embed every chunk again with the configured model and rebuild the vector index',
  },
  RETRIEVAL_MODEL_NOT_FOUND: {
    status: 500,
    meaning: 'the embedding model folder does not exist or lacks a required file (config.json, tokenizer.json, an onnx/ model)',
    fix: 'check the model path; use `bundled` for the built-in model, or rebuild it with `npm run build-model`',
  },
  RETRIEVAL_MODEL_LOAD_FAILED: {
    status: 500,
    meaning: 'the embedding model could not be loaded or run (corrupt files, unsupported graph, or a model id that cannot be downloaded)',
    fix: 'read the cause; for a model id make sure a model hub is reachable or the model is in the cache folder',
  },
  RETRIEVAL_VECTOR_INDEX_FAILED: {
    status: 503,
    meaning: 'the vector index (Chroma) failed; SQLite stays the system of record and pending vectors are synced later',
    fix: 'check that Chroma is running, then run `writ reindex` or retry',
  },
  RETRIEVAL_CHROMA_START_FAILED: {
    status: 500,
    meaning: 'the embedded Chroma server did not start: it exited, could not bind its port, or did not answer its heartbeat in time (`details.lastLogLines` holds its last output); or another live Writ process owns the data folder (`details.ownerPid`) and its Chroma does not answer',
    fix: 'read `details.lastLogLines`; check that the Chroma data folder is a writable folder and the port is free, or raise `WRIT_CHROMA_START_TIMEOUT_MS`; with `details.ownerPid`, stop or restart that process',
  },
  RETRIEVAL_CHROMA_UNAVAILABLE: {
    status: 503,
    meaning: 'Chroma cannot be reached: the embedded server died or an external `CHROMA_URL` does not answer; `details.lastLogLines` holds the embedded server\'s last output',
    fix: 'restart Writ (it starts a new embedded Chroma), or start the external Chroma server / correct `CHROMA_URL`; SQLite keeps every chunk, `writ reindex` rebuilds the vectors',
  },
  RETRIEVAL_INVALID_VECTOR: {
    status: 400,
    meaning: 'a vector sent to the vector index has the wrong dimension, a NaN or infinite value, or is all zeros; nothing was written',
    fix: 'embed non-empty text with the configured model; never index or query a zero or NaN vector',
  },
});
