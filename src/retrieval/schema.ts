// SQLite schema of the retrieval area: the system of record for documents, versions,
// chunks (with a copy of each vector), reader ACLs, the FTS5 index, bundles and ingest jobs.
import type { Migration } from '../store/index.js';

/**
 * Migrations of the `retrieval` area.
 *
 * FTS5 tokenizer: `porter unicode61 remove_diacritics 2` — chosen by measurement on the
 * eval collections (see src/retrieval/README.md). The FTS table is contentless with
 * `contentless_delete=1`: chunk text lives once, in `chunks`; a chunk leaves the lexical
 * index with one `DELETE … WHERE rowid = ?`.
 */
export const retrievalMigrations: Migration[] = [
  {
    area: 'retrieval',
    version: 1,
    name: 'documents, chunks, readers, fts, bundles, ingest jobs',
    up: `
CREATE TABLE documents (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  source_uri TEXT NOT NULL,
  title TEXT NOT NULL DEFAULT '',
  labels TEXT NOT NULL DEFAULT '[]',
  readers TEXT NOT NULL DEFAULT '[]',
  current_version INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  chunk_count INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (tenant, source_uri)
) STRICT;
CREATE INDEX documents_tenant_status ON documents (tenant, status);

CREATE TABLE document_versions (
  document_id TEXT NOT NULL REFERENCES documents (id),
  version INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  chunk_count INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  superseded_at TEXT,
  revoked_at TEXT,
  PRIMARY KEY (document_id, version)
) STRICT;

CREATE TABLE document_readers (
  document_id TEXT NOT NULL REFERENCES documents (id),
  reader TEXT NOT NULL,
  PRIMARY KEY (document_id, reader)
) STRICT, WITHOUT ROWID;
CREATE INDEX document_readers_reader ON document_readers (reader, document_id);

CREATE TABLE chunks (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  document_id TEXT NOT NULL REFERENCES documents (id),
  tenant TEXT NOT NULL,
  version INTEGER NOT NULL,
  ordinal INTEGER NOT NULL,
  heading TEXT NOT NULL DEFAULT '',
  text TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  char_start INTEGER NOT NULL,
  char_end INTEGER NOT NULL,
  active INTEGER NOT NULL CHECK (active IN (0, 1)),
  in_vector_index INTEGER NOT NULL DEFAULT 0 CHECK (in_vector_index IN (0, 1)),
  UNIQUE (document_id, version, ordinal)
) STRICT;
CREATE INDEX chunks_document_active ON chunks (document_id, active);

-- A copy of each chunk's vector, apart from the text so scans read only small rows.
CREATE TABLE chunk_vectors (
  seq INTEGER PRIMARY KEY REFERENCES chunks (seq),
  vector BLOB NOT NULL
) STRICT;
CREATE INDEX chunks_vector_pending ON chunks (active, in_vector_index) WHERE active <> in_vector_index;

CREATE VIRTUAL TABLE chunks_fts USING fts5 (
  title, heading, body,
  tokenize = 'porter unicode61 remove_diacritics 2',
  content = '', contentless_delete = 1
);

CREATE TABLE bundles (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  principal_id TEXT NOT NULL,
  session_id TEXT,
  query TEXT NOT NULL,
  bounds TEXT NOT NULL,
  truncated INTEGER NOT NULL CHECK (truncated IN (0, 1)),
  created_at TEXT NOT NULL,
  seal TEXT NOT NULL,
  record TEXT NOT NULL
) STRICT;
CREATE INDEX bundles_session ON bundles (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX bundles_principal ON bundles (tenant, principal_id, created_at);

CREATE TABLE bundle_chunks (
  bundle_id TEXT NOT NULL REFERENCES bundles (id),
  ordinal INTEGER NOT NULL,
  chunk_id TEXT NOT NULL,
  document_id TEXT NOT NULL,
  document_version INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  dense_score REAL,
  lexical_score REAL,
  fused_score REAL NOT NULL,
  PRIMARY KEY (bundle_id, ordinal)
) STRICT;
CREATE INDEX bundle_chunks_document ON bundle_chunks (document_id);

CREATE TABLE ingest_jobs (
  id TEXT PRIMARY KEY,
  job_key TEXT NOT NULL,
  tenant TEXT NOT NULL,
  roots TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'done')),
  total INTEGER NOT NULL DEFAULT 0,
  done INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX ingest_jobs_key ON ingest_jobs (job_key, status);

CREATE TABLE ingest_job_files (
  job_id TEXT NOT NULL REFERENCES ingest_jobs (id),
  path TEXT NOT NULL,
  done INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, path)
) STRICT, WITHOUT ROWID;
`,
  },
  {
    area: 'retrieval',
    version: 2,
    name: 'drop bundle_chunks and bundle indexes nothing reads',
    // Every retrieval wrote its chunk list three times (the bundle record, bundle_chunks, the
    // ledger body) and kept two bundle indexes no query uses: bundles are read by id, and
    // lineage and impact walk the ledger's refs. The record holds every dropped value.
    up: `
DROP INDEX IF EXISTS bundles_session;
DROP INDEX IF EXISTS bundles_principal;
DROP TABLE IF EXISTS bundle_chunks;
`,
  },
  {
    area: 'retrieval',
    version: 3,
    name: "ingest job files remember the size and modification time they were ingested at",
    // A resumed job skipped every file it had done, even one edited since: the edit was never
    // ingested. Files done before this version have neither, and are read again on resume.
    up: `
ALTER TABLE ingest_job_files ADD COLUMN size INTEGER;
ALTER TABLE ingest_job_files ADD COLUMN mtime_ms REAL;
`,
  },
  {
    area: 'retrieval',
    version: 4,
    name: 'documents remember why they were revoked',
    // A folder ingest (a workspace load at start, a rerun of `writ ingest DIR`) brought back a
    // document someone had revoked, as long as its file was still there. It now keeps it
    // revoked, except one revoked only because its file had left the folder ('source_gone'),
    // which comes back with the file. NULL (revoked on request, or before this version): kept.
    up: `
ALTER TABLE documents ADD COLUMN revoked_reason TEXT CHECK (revoked_reason IN ('request', 'source_gone'));
`,
  },
  {
    area: 'retrieval',
    version: 5,
    name: "bundles findable by their session",
    // Taint reads every bundle the proposal's session retrieved (the broker's facts), at each
    // decision: without this index that was a scan of every bundle (~100 ms a decision with
    // 100k bundles stored). Bundles outside a session are not in it.
    up: `
CREATE INDEX IF NOT EXISTS bundles_session ON bundles (session_id) WHERE session_id IS NOT NULL;
`,
  },
  {
    area: 'retrieval',
    version: 6,
    name: 'document versions keep their title',
    // A new title is a new version (the content hash covers it), and search shows the title of
    // the version it found. Taint reads the title a bundle's chunk was shown with, so it must
    // not read the document's title of today. NULL on versions written before this one.
    up: `
ALTER TABLE document_versions ADD COLUMN title TEXT;
`,
  },
];
