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

/** The bytes of `entryHashInput`, written in three pieces; grows up to SCRATCH_MAX. */
let scratch = Buffer.allocUnsafeSlow(16 * 1024);
/** Larger entries get a buffer of their own, so one huge entry does not stay allocated. */
const SCRATCH_MAX = 256 * 1024;
/** A piece's UTF-8 length is at most three bytes per UTF-16 code unit. */
const MAX_BYTES_PER_UNIT = 3;

/**
 * `sha256:` + hex SHA-256 of the entry's canonical form (`entryHashInput`), hashed from one
 * reused buffer: the fields before the body, the body, and the fields after it are written
 * there in turn. Joining them into one string first copied the whole input (body included)
 * again for every entry, and on the broker's hot path that garbage set how often a
 * young-generation GC paused a round trip. (Three writes, not one per field: each write is
 * a native call, and twenty of them cost more time than the copy.) A test holds this equal
 * to hashing `entryHashInput`.
 */
export function entryHash(row: HashedRow): string {
  const head = `{"actorId":${q(row.actorId)},"at":${q(row.at)},"body":`;
  const tail =
    `,"kind":${q(row.kind)},"prevHash":${q(row.prevHash)},"refs":${row.refsText},"requestId":${q(row.requestId)},` +
    `"seq":${row.seq},"subjectId":${q(row.subjectId)},"tenant":${q(row.tenant)}}`;
  const need = (head.length + row.bodyText.length + tail.length) * MAX_BYTES_PER_UNIT;
  if (scratch.length < need && need <= SCRATCH_MAX) scratch = Buffer.allocUnsafeSlow(Math.min(SCRATCH_MAX, Math.max(need, scratch.length * 2)));
  const b = need <= scratch.length ? scratch : Buffer.allocUnsafe(need);
  let n = b.write(head, 0, 'utf8');
  n += b.write(row.bodyText, n, 'utf8');
  n += b.write(tail, n, 'utf8');
  return `sha256:${sha256Hex(b.subarray(0, n))}`;
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
