// The hash of a ledger entry and the payload of a checkpoint signature. The exact byte
// forms are specified in README.md beside this file; an auditor re-implements them there.
import { canonicalJson, sealOf, sha256Hex, type JsonValue } from '../core/index.js';

/** `prevHash` of the first entry. */
export const GENESIS_HASH = `sha256:${'0'.repeat(64)}`;

/** The fields an entry hash covers, with refs and body already in canonical text. */
export interface HashedRow {
  readonly seq: number;
  readonly at: string;
  readonly kind: string;
  readonly subjectId: string;
  readonly tenant: string | null;
  readonly actorId: string | null;
  readonly requestId: string | null;
  /** Canonical JSON text of the refs array. */
  readonly refsText: string;
  /** Canonical JSON text of the body. */
  readonly bodyText: string;
  readonly prevHash: string;
}

const q = JSON.stringify;

/**
 * The RFC 8785 form of `{ seq, at, kind, subjectId, tenant, actorId, requestId, refs, body,
 * prevHash }`, built by concatenation because refs and body are stored canonical already
 * (keys in RFC 8785 order; strings as JSON.stringify writes them, which RFC 8785 adopts).
 * Must equal `canonicalJson(entryHashObject(...))`; a property test keeps them equal.
 */
export function entryHashInput(row: HashedRow): string {
  return (
    `{"actorId":${q(row.actorId)},"at":${q(row.at)},"body":${row.bodyText},"kind":${q(row.kind)},` +
    `"prevHash":${q(row.prevHash)},"refs":${row.refsText},"requestId":${q(row.requestId)},"seq":${row.seq},` +
    `"subjectId":${q(row.subjectId)},"tenant":${q(row.tenant)}}`
  );
}

/** `sha256:` + hex SHA-256 of the entry's canonical form. */
export function entryHash(row: HashedRow): string {
  return `sha256:${sha256Hex(entryHashInput(row))}`;
}

/** The object an entry hash covers, for the reference (slow) path. */
export function entryHashObject(entry: {
  seq: number;
  at: string;
  kind: string;
  subjectId: string;
  tenant?: string | null;
  actorId?: string | null;
  requestId?: string | null;
  refs?: readonly string[];
  body: JsonValue;
  prevHash: string;
}): Record<string, JsonValue> {
  return {
    seq: entry.seq,
    at: entry.at,
    kind: entry.kind,
    subjectId: entry.subjectId,
    tenant: entry.tenant ?? null,
    actorId: entry.actorId ?? null,
    requestId: entry.requestId ?? null,
    refs: [...(entry.refs ?? [])],
    body: entry.body,
    prevHash: entry.prevHash,
  };
}

/** Reference implementation of the entry hash: `sealOf` of the hashed object. */
export function referenceEntryHash(entry: Parameters<typeof entryHashObject>[0]): string {
  return sealOf(entryHashObject(entry));
}

/**
 * The bytes a checkpoint signature covers: RFC 8785 form of `{ seq, headHash, at,
 * checkpointEvery }`, or of `{ seq, headHash, at }` for a checkpoint of the old form (signed
 * before the interval was). Neither form's text is ever the other's, so a signature made
 * over one never verifies as the other: a row cannot drop or gain its interval unnoticed.
 */
export function checkpointPayload(checkpoint: { seq: number; headHash: string; at: string; checkpointEvery?: number | null }): string {
  const { seq, headHash, at, checkpointEvery } = checkpoint;
  return canonicalJson(checkpointEvery === undefined || checkpointEvery === null ? { seq, headHash, at } : { seq, headHash, at, checkpointEvery });
}
