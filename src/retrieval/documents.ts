// Reading document records (not their text): one by id, or a page of the documents a
// principal may read in its tenant. Used by the HTTP API to list and revoke documents.
import type { Principal } from '../core/index.js';
import type { Db } from '../store/index.js';
import { readerKeysOf } from './acl.js';

/** A stored document as callers see it (its chunks' text is not included). */
export interface DocumentRecord {
  readonly id: string;
  readonly tenant: string;
  readonly sourceUri: string;
  readonly title: string;
  readonly labels: readonly string[];
  readonly readers: readonly string[];
  readonly version: number;
  readonly contentHash: string;
  readonly chunks: number;
  readonly status: 'active' | 'revoked';
  readonly createdAt: string;
  readonly updatedAt: string;
}

function toDocument(row: Record<string, unknown>): DocumentRecord {
  return {
    id: row.id as string,
    tenant: row.tenant as string,
    sourceUri: row.source_uri as string,
    title: row.title as string,
    labels: JSON.parse(row.labels as string) as string[],
    readers: JSON.parse(row.readers as string) as string[],
    version: row.current_version as number,
    contentHash: row.content_hash as string,
    chunks: row.chunk_count as number,
    status: row.status as DocumentRecord['status'],
    createdAt: row.created_at as string,
    updatedAt: row.updated_at as string,
  };
}

/** The document with that id (any tenant), or undefined. */
export function getDocument(db: Db, id: string): DocumentRecord | undefined {
  const row = db.prepare('SELECT * FROM documents WHERE id = ?').get(id) as Record<string, unknown> | undefined;
  return row === undefined ? undefined : toDocument(row);
}

/** Options of `listDocuments`. */
export interface ListDocumentsOptions {
  /** 1–1000; default 100. */
  readonly limit?: number;
  /** Only documents with a larger id (the last id of the previous page). */
  readonly after?: string;
  /** Every document of the tenant, readable or not, active or revoked (for `ingest`/`admin` callers). */
  readonly all?: boolean;
}

/**
 * Active documents of `principal`'s tenant that it may read, in id order (or, with `all`,
 * every document of the tenant).
 */
export function listDocuments(db: Db, principal: Principal, options: ListDocumentsOptions = {}): DocumentRecord[] {
  const limit = Math.min(Math.max(Math.trunc(options.limit ?? 100), 1), 1000);
  const after = options.after ?? '';
  // INVARIANT: a listing never leaves the caller's tenant, and without `all` only names documents it may read.
  const rows = options.all
    ? db.prepare('SELECT * FROM documents d WHERE d.tenant = ? AND d.id > ? ORDER BY d.id LIMIT ?').all(principal.tenant, after, limit)
    : db
        .prepare(
          `SELECT * FROM documents d WHERE d.tenant = ? AND d.status = 'active' AND d.id > ?
             AND EXISTS (SELECT 1 FROM document_readers r WHERE r.document_id = d.id AND r.reader IN (SELECT value FROM json_each(?)))
           ORDER BY d.id LIMIT ?`,
        )
        .all(principal.tenant, after, JSON.stringify(readerKeysOf(principal)), limit);
  return (rows as Array<Record<string, unknown>>).map(toDocument);
}
