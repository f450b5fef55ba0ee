// The warrant token: the only key to a transition. A canonical-JSON payload binding the
// proposal hash, the decision, the target and its expected state/version, an expiry and a
// nonce, signed with Ed25519 by the warrant keyring. Format in WARRANT.md. This file is
// pure (no store), so external executors can verify a warrant offline.
import { z } from 'zod';
import { WritError, canonicalJson, loadPublicKeys, systemClock, type Clock, type SignatureVerifier } from '../core/index.js';
import { EffectClassSchema } from './catalog.js';
import { BrokerErrors } from './errors.js';

/**
 * The signed content of a warrant (version 1). Fields in RFC 8785 order: a parsed payload
 * holds its keys in this order, so writing it canonically needs no sorted copy.
 */
export const WarrantPayloadSchema = z
  .object({
    action: z.string().min(1).max(200),
    decisionId: z.string().min(1).max(64),
    effect: EffectClassSchema,
    /** Expires at, UTC ISO. */
    exp: z.string(),
    /** Null when the action creates the target. */
    expectedState: z.string().nullable(),
    /** 0 when the action creates the target. */
    expectedVersion: z.number().int().nonnegative(),
    /** Issued at, UTC ISO. */
    iat: z.string(),
    /** 128 random bits, base64url; single use. */
    nonce: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
    proposalHash: z.string().regex(/^sha256:[0-9a-f]{64}$/),
    proposalId: z.string().min(1).max(64),
    targetId: z.string().min(1).max(128),
    targetType: z.string().min(1).max(64),
    tenant: z.string().min(1).max(128),
    v: z.literal(1),
    wid: z.string().min(1).max(64),
  })
  .strict();
export type WarrantPayload = z.output<typeof WarrantPayloadSchema>;

const MAX_TOKEN_CHARS = 8192;
const TOKEN = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{86})$/;

/** The bytes a warrant signature covers: ASCII `<payload b64url>.<kid>`. */
export function warrantSigningInput(payloadB64: string, kid: string): string {
  return `${payloadB64}.${kid}`;
}

/** Serializes a payload as the token's first part: base64url of its canonical JSON. */
export function encodeWarrantPayload(payload: WarrantPayload): string {
  return Buffer.from(canonicalJson(payload), 'utf8').toString('base64url');
}

/** Signs a payload: returns `<payload>.<kid>.<signature>`. */
export function signWarrant(payload: WarrantPayload, sign: (bytes: string) => { kid: string; signature: string }, kid: string): string {
  const payloadB64 = encodeWarrantPayload(payload);
  const signed = sign(warrantSigningInput(payloadB64, kid));
  // INVARIANT: the kid inside the signed input is the kid that signed it.
  if (signed.kid !== kid) throw new Error('warrant keyring rotated while signing');
  return `${payloadB64}.${signed.kid}.${signed.signature}`;
}

function malformed(why: string): WritError {
  return new WritError(BrokerErrors.BROKER_WARRANT_MALFORMED, `warrant is malformed: ${why}`, { details: { why } });
}

/** The three parts of a token, checked for shape only (nothing is trusted yet). */
export function splitWarrant(token: unknown): { payloadB64: string; kid: string; signature: string } {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS) throw malformed('not a token string');
  const m = TOKEN.exec(token);
  if (m === null) throw malformed('expected `payload.kid.signature` in base64url');
  return { payloadB64: m[1] as string, kid: m[2] as string, signature: m[3] as string };
}

/** Decodes a payload part that must be canonical JSON of a valid payload, in canonical base64url. */
export function decodeWarrantPayload(payloadB64: string): WarrantPayload {
  const text = Buffer.from(payloadB64, 'base64url').toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw malformed('payload is not JSON');
  }
  const result = WarrantPayloadSchema.safeParse(parsed);
  if (!result.success) throw malformed('payload does not match warrant version 1');
  // INVARIANT: one payload has one byte form; a re-encoded payload is refused.
  if (canonicalJson(result.data) !== text || encodeWarrantPayload(result.data) !== payloadB64) throw malformed('payload is not canonical');
  return result.data;
}

/**
 * Verifies a token's signature with `verifier`, that its key was not retired before its
 * `iat` (when the verifier can tell), and its expiry against `clock`; returns the payload.
 * Throws BROKER_WARRANT_MALFORMED, _UNKNOWN_KEY, _SIGNATURE_INVALID or _EXPIRED. Does not
 * check single use: only the broker's store knows the nonce.
 */
export function verifyWarrantWith(
  token: unknown,
  verifier: Pick<SignatureVerifier, 'verify'> & { knows(kid: string): boolean; wasActiveAt?(kid: string, at: string): boolean },
  options: { clock?: Clock; checkExpiry?: boolean } = {},
): { payload: WarrantPayload; kid: string } {
  const { payloadB64, kid, signature } = splitWarrant(token);
  // INVARIANT: nothing in a warrant is believed before its signature verifies.
  if (!verifier.verify(kid, warrantSigningInput(payloadB64, kid), signature)) {
    if (!verifier.knows(kid)) {
      throw new WritError(BrokerErrors.BROKER_WARRANT_UNKNOWN_KEY, `warrant names unknown key \`${kid}\``, { details: { kid } });
    }
    throw new WritError(BrokerErrors.BROKER_WARRANT_SIGNATURE_INVALID, 'warrant signature does not verify', { details: { kid } });
  }
  const payload = decodeWarrantPayload(payloadB64);
  // INVARIANT: a retired key issues nothing: a warrant dated after its key's retirement was
  // signed by a copy of the old key (the few moments another process may still sign with
  // it after a rotation are allowed for).
  if (verifier.wasActiveAt !== undefined && !verifier.wasActiveAt(kid, payload.iat)) {
    throw new WritError(BrokerErrors.BROKER_WARRANT_SIGNATURE_INVALID, `warrant \`${payload.wid}\` is dated after its key \`${kid}\` was retired`, {
      details: { wid: payload.wid, kid, iat: payload.iat },
    });
  }
  const now = (options.clock ?? systemClock).now().getTime();
  // INVARIANT: an expired warrant authorizes nothing.
  if ((options.checkExpiry ?? true) && !(Date.parse(payload.exp) > now)) {
    throw new WritError(BrokerErrors.BROKER_WARRANT_EXPIRED, `warrant \`${payload.wid}\` expired at \`${payload.exp}\``, {
      details: { wid: payload.wid, exp: payload.exp },
    });
  }
  return { payload, kid };
}

/**
 * Verifies a warrant offline against a published JWKS (signature, key retirement and
 * expiry) and returns its payload. For external executors: they must still refuse a nonce they have
 * seen, and check the target's state and version themselves.
 *
 * @example
 * const payload = verifyWarrantOffline(token, await (await fetch(jwksUrl)).json());
 * payload.targetId // the one resource this warrant may change
 */
export function verifyWarrantOffline(token: string, jwks: unknown, options: { clock?: Clock } = {}): WarrantPayload {
  const keys = loadPublicKeys(jwks);
  const kids = new Set(keys.kids);
  return verifyWarrantWith(token, { verify: keys.verify, knows: (kid) => kids.has(kid), wasActiveAt: keys.wasActiveAt }, options).payload;
}
