// The policy set in force, as a ledger record. Every decision names the hash of the policy
// set that made it (`policySetHash`, a seal of the catalog, the Cedar schema and every
// policy's id and text); the `policy_set.activated` entry keeps what that hash stands for,
// so an auditor reads the very policies behind a decision from the ledger, and can check
// them against the hash, long after the workspace's files have changed.
import { canonicalJson, sealOf, type JsonValue } from '../core/index.js';
import type { Db } from '../store/index.js';
import type { BrokerContext, PolicySetDescription } from './context.js';
import { prep } from './records.js';

/**
 * Largest activation body kept whole, in characters of canonical JSON: half the ledger's
 * limit on one body. A larger set is recorded by digests (see `activationBody`).
 */
export const MAX_ACTIVATION_BODY_CHARS = 500_000;

/** Ledger subject of a policy set's activations; decisions ref it. */
export function policySetSubject(policySetHash: string): string {
  return `policy_set:${policySetHash}`;
}

/**
 * What a `policy_set.activated` entry holds. `content` says how much:
 *  - `full`: the seal's own input — `catalog`, `schema`, and each policy's `id` and `text`
 *    (with `file`, `effect`, `isDefault`) — so `sealOf({ catalog, schema, policies: [{ id,
 *    text }] })` gives `policySetHash` back;
 *  - `digests`: too large for one entry; the same with `sealOf` digests in place of the
 *    catalog, the schema and each text, to match a copy of the files kept elsewhere;
 *  - `hash`: too large even so (or an engine that cannot describe its set); the hash alone;
 *  - `again` (written by `recordPolicySetActivation`): activated before; `firstSeq` is the
 *    entry with the content.
 */
export function activationBody(policySetHash: string, described: PolicySetDescription | undefined): JsonValue {
  if (described === undefined) return { policySetHash, content: 'hash' };
  const full = {
    policySetHash,
    content: 'full',
    catalog: described.catalog as JsonValue,
    schema: described.schema as JsonValue,
    policies: described.policies.map((p) => ({ id: p.id, file: p.file, effect: p.effect, isDefault: p.isDefault, text: p.text })),
  };
  if (canonicalJson(full).length <= MAX_ACTIVATION_BODY_CHARS) return full;
  const digests = {
    policySetHash,
    content: 'digests',
    catalogSeal: sealOf(described.catalog),
    schemaSeal: sealOf(described.schema),
    policies: described.policies.map((p) => ({ id: p.id, file: p.file, effect: p.effect, isDefault: p.isDefault, textSeal: sealOf(p.text) })),
  };
  if (canonicalJson(digests).length <= MAX_ACTIVATION_BODY_CHARS) return digests;
  return { policySetHash, content: 'hash', policies: described.policies.length };
}

/**
 * Appends `policy_set.activated` unless the newest activation in the ledger (by any process
 * on this home) is already this broker's set: before each decision, so the newest activation
 * always names the set of the newest decision, and a home whose processes switch between
 * sets records every switch. Runs in the caller's transaction: written with the decision or
 * not at all. (No memo: one read of the index, which a rolled-back transaction cannot fool.)
 */
export function recordPolicySetActivation(ctx: BrokerContext, db: Db): void {
  const engine = ctx.policyEngine;
  const hash = engine.policySetHash;
  const subject = policySetSubject(hash);
  // One step down the partial index of home-wide entries (ledger schema 5), however many
  // activations the ledger holds.
  const latest = prep(db, "SELECT subject_id FROM ledger_entries WHERE tenant IS NULL AND kind = 'policy_set.activated' ORDER BY seq DESC LIMIT 1")
    .pluck()
    .get() as string | undefined;
  if (latest === subject) return;
  // A set activated before (processes switching back and forth) is not written out again:
  // the entry points to its first activation, which holds the content.
  const first = prep(db, 'SELECT min(seq) FROM ledger_entries WHERE subject_id = ?').pluck().get(subject) as number | null;
  const body = first === null ? activationBody(hash, engine.describe?.()) : { policySetHash: hash, content: 'again', firstSeq: first };
  ctx.ledger.append({ kind: 'policy_set.activated', subjectId: subject, tenant: null, refs: [], body });
}
