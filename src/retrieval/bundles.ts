// ContextBundle: the sealed record of one retrieval (who asked, the query, the bounds and
// the ordered chunk references), stored with its ledger entry before the caller sees it;
// read back by id, checked for freshness, and read as evidence by the broker.
import { canonicalJson, sealOf, sha256Hex, type JsonValue } from '../core/index.js';
import { statement, type Db, type Store } from '../store/index.js';
import type { Ledger } from '../ledger/types.js';
import { WritError } from '../core/index.js';
import { RetrievalErrors } from './errors.js';
import type { AppliedBounds } from './types.js';

/** One chunk reference in a bundle. */
export interface BundleChunkRef {
  readonly chunkId: string;
  readonly documentId: string;
  readonly documentVersion: number;
  readonly contentHash: string;
  readonly scores: { readonly dense: number | null; readonly lexical: number | null; readonly fused: number };
}

/** The sealed body of a bundle (everything the seal covers). */
export interface ContextBundle {
  readonly id: string;
  readonly tenant: string;
  readonly principalId: string;
  readonly sessionId: string | null;
  readonly query: string;
  readonly filters: JsonValue;
  readonly bounds: AppliedBounds;
  readonly truncated: boolean;
  readonly chunks: BundleChunkRef[];
  readonly createdAt: string;
}

/** A stored bundle: the body and its seal. */
export interface SealedBundle extends ContextBundle {
  readonly seal: string;
}

/** The seal of a bundle body: `sha256:` + SHA-256 of its canonical JSON. */
export function sealBundle(bundle: ContextBundle): string {
  return sealOf(bundle as unknown as JsonValue);
}

/** A bundle with its canonical record and seal, ready to write. */
export interface PreparedBundle {
  readonly bundle: ContextBundle;
  /** The canonical JSON the seal covers, stored as the bundle's record. */
  readonly record: string;
  readonly seal: string;
}

/**
 * Serializes and seals a bundle; throws CORE_NOT_CANONICAL for a value canonical JSON
 * cannot hold (a query with a lone surrogate), before anything is written.
 */
export function prepareBundle(bundle: ContextBundle): PreparedBundle {
  // The seal is the hash of the very text stored as the record (what `sealBundle` computes),
  // so the bundle is serialized once.
  const record = canonicalJson(bundle as unknown as JsonValue);
  return { bundle, record, seal: `sha256:${sha256Hex(record)}` };
}

/**
 * Writes a prepared bundle and its `bundle.sealed` ledger entry inside the caller's
 * transaction (a commit group's), which makes the two writes one.
 */
export function writeBundle(db: Db, ledger: Ledger, prepared: PreparedBundle, requestId?: string | null): SealedBundle {
  // INVARIANT: the bundle row and its ledger entry commit together or not at all.
  if (!db.inTransaction) throw new Error('writeBundle must run inside a transaction');
  const { bundle, record, seal } = prepared;
  statement(db,
    'INSERT INTO bundles (id, tenant, principal_id, session_id, query, bounds, truncated, created_at, seal, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  ).run(bundle.id, bundle.tenant, bundle.principalId, bundle.sessionId, bundle.query, canonicalJson(bundle.bounds as unknown as JsonValue), bundle.truncated ? 1 : 0, bundle.createdAt, seal, record);
  ledger.append({
    kind: 'bundle.sealed',
    subjectId: bundle.id,
    tenant: bundle.tenant,
    actorId: bundle.principalId,
    requestId: requestId ?? null,
    refs: [...new Set(bundle.chunks.map((c) => c.documentId))],
    // Keys in RFC 8785 order: the entry is written without a sorted copy (see canonicalJson).
    body: {
      bounds: bundle.bounds as unknown as JsonValue,
      bundleId: bundle.id,
      chunks: bundle.chunks.map((c) => ({ chunkId: c.chunkId, contentHash: c.contentHash, documentId: c.documentId, documentVersion: c.documentVersion })),
      query: bundle.query,
      seal,
      sessionId: bundle.sessionId,
      truncated: bundle.truncated,
    },
  });
  return { ...bundle, seal };
}

/**
 * Seals and stores a bundle with its `bundle.sealed` ledger entry in one transaction.
 */
export function storeBundle(store: Store, ledger: Ledger, bundle: ContextBundle, requestId?: string | null): SealedBundle {
  const prepared = prepareBundle(bundle);
  return store.transaction((tx) => writeBundle(tx, ledger, prepared, requestId));
}

/** Reads a stored bundle, or throws RETRIEVAL_BUNDLE_NOT_FOUND. */
export function getBundle(db: Db, id: string): SealedBundle {
  const row = statement(db, 'SELECT record, seal FROM bundles WHERE id = ?').get(id) as { record: string; seal: string } | undefined;
  if (row === undefined) throw new WritError(RetrievalErrors.RETRIEVAL_BUNDLE_NOT_FOUND, `no bundle \`${id}\``, { details: { bundleId: id } });
  return { ...(JSON.parse(row.record) as ContextBundle), seal: row.seal };
}

/** Why a cited document version is no longer current. */
export interface StaleRef {
  readonly documentId: string;
  readonly version: number;
  readonly reason: 'revoked' | 'superseded';
}

/** Stale document versions among `refs` (revoked wins over superseded). */
function staleVersions(db: Db, refs: ReadonlyArray<{ documentId: string; version: number }>): StaleRef[] {
  const q = statement(db, 'SELECT superseded_at, revoked_at FROM document_versions WHERE document_id = ? AND version = ?');
  const doc = statement(db, 'SELECT status, current_version FROM documents WHERE id = ?');
  const out: StaleRef[] = [];
  const seen = new Set<string>();
  for (const r of refs) {
    const key = `${r.documentId}@${r.version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const v = q.get(r.documentId, r.version) as { superseded_at: string | null; revoked_at: string | null } | undefined;
    const d = doc.get(r.documentId) as { status: string; current_version: number } | undefined;
    if (v === undefined || d === undefined || v.revoked_at !== null || (d.status === 'revoked' && d.current_version === r.version)) {
      out.push({ documentId: r.documentId, version: r.version, reason: 'revoked' });
    } else if (v.superseded_at !== null || d.current_version !== r.version) {
      out.push({ documentId: r.documentId, version: r.version, reason: 'superseded' });
    }
  }
  return out;
}

/**
 * Whether a bundle is still fresh: no document version it cites was revoked or superseded.
 *
 * @example
 * const { fresh, stale } = bundleFreshness(store.db, bundleId);
 */
export function bundleFreshness(db: Db, id: string): { fresh: boolean; stale: StaleRef[] } {
  const bundle = getBundle(db, id);
  const stale = staleVersions(db, bundle.chunks.map((c) => ({ documentId: c.documentId, version: c.documentVersion })));
  return { fresh: stale.length === 0, stale };
}

/** Evidence of one bundle, as the broker reads it. */
export interface BundleEvidence {
  readonly id: string;
  readonly seal: string;
  readonly tenant: string;
  readonly principalId: string;
  readonly sessionId: string | null;
  readonly createdAt: string;
  readonly fresh: boolean;
  /** True when the stored record still hashes to its seal. */
  readonly sealValid: boolean;
  readonly chunks: Array<{
    chunkId: string;
    documentId: string;
    documentVersion: number;
    contentHash: string;
    text: string;
    ordinal: number;
    title: string;
    heading: string;
    fresh: boolean;
  }>;
}

/**
 * Reads bundles as evidence, straight from the store, so the broker needs no retrieval code.
 * Unknown ids are absent from the map.
 *
 * @example
 * const reader = createBundleEvidenceReader(store);
 * const evidence = reader.getEvidence(['bnd_01…']).get('bnd_01…');
 */
export function createBundleEvidenceReader(store: Store): {
  getEvidence(ids: readonly string[]): Map<string, BundleEvidence>;
  sessionBundleIds(sessionId: string): string[];
} {
  return {
    sessionBundleIds(sessionId) {
      // Through the partial index `bundles_session` (schema version 5); ids are time-ordered.
      return (statement(store.db, 'SELECT id FROM bundles WHERE session_id = ?').pluck().all(sessionId) as string[]).sort();
    },
    getEvidence(ids) {
      const db = store.db;
      const out = new Map<string, BundleEvidence>();
      // The title the chunk was shown with: its version's (the document's today for versions
      // written before retrieval schema 6 kept one).
      const text = statement(
        db,
        `SELECT c.text, c.ordinal, c.heading, coalesce(v.title, d.title) AS title FROM chunks c
         JOIN documents d ON d.id = c.document_id
         LEFT JOIN document_versions v ON v.document_id = c.document_id AND v.version = c.version
         WHERE c.id = ?`,
      );
      for (const id of new Set(ids)) {
        const row = statement(db, 'SELECT record, seal FROM bundles WHERE id = ?').get(id) as { record: string; seal: string } | undefined;
        if (row === undefined) continue;
        const bundle = JSON.parse(row.record) as ContextBundle;
        const stale = staleVersions(db, bundle.chunks.map((c) => ({ documentId: c.documentId, version: c.documentVersion })));
        const staleKeys = new Set(stale.map((s) => `${s.documentId}@${s.version}`));
        out.set(id, {
          id,
          seal: row.seal,
          tenant: bundle.tenant,
          principalId: bundle.principalId,
          sessionId: bundle.sessionId,
          createdAt: bundle.createdAt,
          fresh: stale.length === 0,
          sealValid: sealBundle(bundle) === row.seal,
          chunks: bundle.chunks.map((c) => {
            const row = text.get(c.chunkId) as { text: string; ordinal: number; heading: string; title: string } | undefined;
            return {
              chunkId: c.chunkId,
              documentId: c.documentId,
              documentVersion: c.documentVersion,
              contentHash: c.contentHash,
              text: row?.text ?? '',
              ordinal: row?.ordinal ?? 0,
              title: row?.title ?? '',
              heading: row?.heading ?? '',
              fresh: !staleKeys.has(`${c.documentId}@${c.documentVersion}`),
            };
          }),
        });
      }
      return out;
    },
  };
}
