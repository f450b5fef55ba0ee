// The policy set in force, as a ledger record. Every decision names the hash of the policy
// set that made it (`policySetHash`, a seal of the catalog, the Cedar schema and every
// policy's id and text); the `policy_set.activated` entry keeps what that hash stands for,
// so an auditor reads the very policies behind a decision from the ledger, and can check
// them against the hash, long after the workspace's files have changed.
import type { JsonValue } from '../core/index.js';
import type { Db } from '../store/index.js';
import type { BrokerContext } from './context.js';
import { prep } from './records.js';

/** Ledger subject of a policy set's activations; decisions ref it. */
export function policySetSubject(policySetHash: string): string {
  return `policy_set:${policySetHash}`;
}

/**
 * Appends `policy_set.activated` when the broker's policy set is not the one the ledger
 * last recorded as activated (by any process on this home), before the first decision this
 * broker makes with it. A home whose processes switch between sets records each switch.
 * Runs inside the decision's transaction: it is written with that decision or not at all.
 */
export function recordPolicySetActivation(ctx: BrokerContext, db: Db): void {
  const engine = ctx.policyEngine;
  const hash = engine.policySetHash;
  if (ctx.activation.recorded === hash) return;
  const subject = policySetSubject(hash);
  // The subjects sort together ('policy_set:' < … < 'policy_set;'), so this reads the index
  // entries of activations only, however long the ledger.
  const latest = prep(db, "SELECT subject_id FROM ledger_entries WHERE subject_id >= 'policy_set:' AND subject_id < 'policy_set;' ORDER BY seq DESC LIMIT 1")
    .pluck()
    .get() as string | undefined;
  if (latest !== subject) {
    const described = engine.describe?.();
    ctx.ledger.append({
      kind: 'policy_set.activated',
      subjectId: subject,
      tenant: null,
      refs: [],
      body: {
        policySetHash: hash,
        // The seal's own input (sealOf({ catalog, schema, policies: [{ id, text }] })), and
        // where each policy came from.
        ...(described === undefined
          ? {}
          : {
              catalog: described.catalog as JsonValue,
              schema: described.schema as JsonValue,
              policies: described.policies.map((p) => ({ id: p.id, file: p.file, effect: p.effect, isDefault: p.isDefault, text: p.text })),
            }),
      },
    });
  }
  ctx.activation.recorded = hash;
}
