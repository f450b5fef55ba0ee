// Decisions: facts in, policy verdict out, recorded with the determining policies, the
// facts seen and the policy-set hash; the proposal moves by the outcome. A deny is a
// result, not an exception.
import { WritError, isWritError, newId, nowIso, type JsonValue, type Principal } from '../core/index.js';
import type { Db } from '../store/index.js';
import type { BrokerContext, PolicyVerdict } from './context.js';
import { disabledParties, readParties, requireCallerRecord, type PrincipalRecord } from './principals.js';
import { BrokerErrors } from './errors.js';
import { expireIfWaitedTooLong } from './expiry.js';
import { computeFacts } from './facts.js';
import { moveProposal, type ProposalStatus } from './lifecycle.js';
import { proposeIn } from './proposals.js';
import { prep, readDecision, readProposal, type DecisionRecord, type ProposalRecord } from './records.js';
import { policySetSubject, recordPolicySetActivation } from './policy-activation.js';

const NEXT: Record<DecisionRecord['outcome'], ProposalStatus> = {
  allow: 'authorized',
  deny: 'denied',
  needs_approval: 'pending_approval',
};

/**
 * Decides `proposal` inside the caller's transaction: computes facts, asks policy,
 * stores the decision, moves the proposal (staying `pending_approval` is no move) and
 * appends `decision.made`. `known` is a principal this transaction has already read.
 */
export function decideIn(
  ctx: BrokerContext,
  db: Db,
  proposal: ProposalRecord,
  at: string,
  meta: { requestId: string | null; actorId: string | null },
  known?: PrincipalRecord,
): DecisionRecord {
  if (proposal.status !== 'proposed' && proposal.status !== 'pending_approval') {
    throw new WritError(BrokerErrors.BROKER_PROPOSAL_WRONG_STATUS, `proposal \`${proposal.id}\` is \`${proposal.status}\`; only a proposed or pending proposal is decided`, {
      details: { proposalId: proposal.id, status: proposal.status },
    });
  }
  const parties = readParties(db, proposal, known);
  const facts = computeFacts(ctx, db, proposal, at, parties);
  const disabled = disabledParties(proposal, parties);
  // INVARIANT: a disabled actor or on-behalf-of principal is denied before policy is asked.
  const verdict: PolicyVerdict =
    disabled.length > 0
      ? {
          outcome: 'deny',
          determiningPolicies: [],
          obligations: [],
          reasons: disabled.map((id) => `principal \`${id}\` is disabled: denied`),
          errors: [],
          policySetHash: ctx.policyEngine.policySetHash,
        }
      : ctx.policyEngine.decide(facts);
  const id = newId('dec', Date.parse(at));
  const decision: DecisionRecord = {
    id,
    proposalId: proposal.id,
    proposalHash: proposal.hash,
    outcome: verdict.outcome,
    determiningPolicies: [...verdict.determiningPolicies],
    obligations: verdict.obligations.map((o) => ({ count: o.count, role: o.role, satisfied: o.satisfied })),
    reasons: [...verdict.reasons],
    errors: [...verdict.errors],
    facts,
    policySetHash: verdict.policySetHash,
    createdAt: at,
  };
  prep(
    db,
    `INSERT INTO decisions (id, proposal_id, proposal_hash, outcome, determining_policies_json, obligations_json, reasons_json, errors_json,
       facts_json, policy_set_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    id,
    proposal.id,
    proposal.hash,
    decision.outcome,
    JSON.stringify(decision.determiningPolicies),
    JSON.stringify(decision.obligations),
    JSON.stringify(decision.reasons),
    JSON.stringify(decision.errors),
    JSON.stringify(facts),
    decision.policySetHash,
    at,
  );
  const next = NEXT[decision.outcome];
  if (next !== proposal.status) moveProposal(db, proposal.id, proposal.status, next, at, id);
  else prep(db, 'UPDATE proposals SET decision_id = ?, updated_at = ? WHERE id = ?').run(id, at, proposal.id);
  // Lineage walks refs backward: a decision refs the approvals it counted and the earlier
  // decisions on the same proposal, so "what authorized this?" reaches every sign-off, and
  // the uncited bundles of the session whose text its taint facts read, so "what did this
  // document inform?" reaches the decisions they shaped.
  const approvalIds =
    facts.approvals.approverIds.length === 0
      ? []
      : (prep(
          db,
          `SELECT id FROM approvals WHERE proposal_id = ? AND proposal_hash = ? AND verdict = 'approved' AND expires_at > ?
           AND approver_id IN (SELECT value FROM json_each(?)) ORDER BY id`,
        )
          .pluck()
          .all(proposal.id, proposal.hash, at, JSON.stringify(facts.approvals.approverIds)) as string[]);
  // A proposal never decided before (no decision id yet) has no earlier decisions.
  const earlierDecisions =
    proposal.decisionId === null ? [] : (prep(db, 'SELECT id FROM decisions WHERE proposal_id = ? AND id <> ? ORDER BY id').pluck().all(proposal.id, id) as string[]);
  recordPolicySetActivation(ctx, db);
  ctx.ledger.append({
    kind: 'decision.made',
    subjectId: id,
    tenant: proposal.tenant,
    actorId: meta.actorId,
    requestId: meta.requestId,
    refs: [proposal.id, ...approvalIds, ...earlierDecisions, ...facts.taint.sessionBundles, policySetSubject(decision.policySetHash)],
    // Keys in RFC 8785 order (see computeFacts).
    body: {
      decisionId: id,
      determiningPolicies: decision.determiningPolicies as JsonValue,
      errors: decision.errors as JsonValue,
      facts: facts as unknown as JsonValue,
      obligations: decision.obligations as unknown as JsonValue,
      outcome: decision.outcome,
      policySetHash: decision.policySetHash,
      proposalHash: proposal.hash,
      proposalId: proposal.id,
      reasons: decision.reasons as JsonValue,
    },
  });
  return decision;
}

/**
 * Decides a proposal that is `proposed` (or re-decides one `pending_approval`). A pending
 * proposal past `pendingApprovalTtlMs` is expired instead, and refused.
 *
 * @example
 * const d = broker.decide(proposal.id);
 * d.outcome // 'allow' | 'deny' | 'needs_approval'
 */
export function decide(ctx: BrokerContext, proposalId: string, options: { requestId?: string; actorId?: string } = {}): DecisionRecord {
  const at = nowIso(ctx.clock);
  const outcome = ctx.store.transaction((db): DecisionRecord | { expired: WritError } => {
    const proposal = readProposal(db, proposalId);
    if (proposal === undefined) {
      throw new WritError(BrokerErrors.BROKER_PROPOSAL_NOT_FOUND, `proposal \`${proposalId}\` does not exist`, { details: { proposalId } });
    }
    const expired = expireIfWaitedTooLong(ctx, db, proposal, at, options.requestId ?? null);
    if (expired !== undefined) return { expired };
    return decideIn(ctx, db, proposal, at, { requestId: options.requestId ?? null, actorId: options.actorId ?? null });
  });
  // Thrown after the commit, so the expiry it reports stays recorded.
  if ('expired' in outcome) throw outcome.expired;
  return outcome;
}

/** What `proposeAndDecide` returns. */
export interface ProposedAndDecided {
  /** The proposal after its decision. */
  readonly proposal: ProposalRecord;
  /** Its latest decision (null only for an idempotent retry of a proposal never decided). */
  readonly decision: DecisionRecord | null;
  /** True when this call decided it; false for an idempotent retry of one already decided. */
  readonly decidedNow: boolean;
}

/**
 * Proposes and decides in one transaction: one commit instead of two, and the decision
 * sees exactly the proposal just written. Same errors and records as `propose` then
 * `decide`; an idempotent retry returns the proposal with its earlier decision.
 *
 * @example
 * const { proposal, decision } = broker.proposeAndDecide(agent, { sessionId, action: 'refund.request', targetId: 'rf-1', params });
 * decision?.outcome // 'allow' | 'deny' | 'needs_approval'
 */
export function proposeAndDecide(ctx: BrokerContext, caller: Principal, input: unknown, options: { requestId?: string } = {}): ProposedAndDecided {
  const outcome = ctx.store.transaction((db) => proposeAndDecideIn(ctx, db, caller, input, options));
  if ('error' in outcome) throw outcome.error;
  return outcome;
}

/**
 * `proposeAndDecide` inside the caller's transaction (a commit group's), with its refusal
 * returned rather than thrown: commit, then throw `error`. A refusal that is recorded
 * (`proposal.rejected`) is written with the transaction; one that is not wrote nothing. It
 * throws only when the database fails, so it can run without a savepoint of its own.
 */
export function proposeAndDecideIn(
  ctx: BrokerContext,
  db: Db,
  caller: Principal,
  input: unknown,
  options: { requestId?: string } = {},
): ProposedAndDecided | { error: WritError } {
  const at = nowIso(ctx.clock);
  const requestId = options.requestId ?? null;
  let actor: PrincipalRecord;
  try {
    actor = requireCallerRecord(db, caller);
  } catch (err) {
    // Checked before anything is written.
    if (isWritError(err)) return { error: err };
    throw err;
  }
  const proposed = proposeIn(ctx, db, actor.principal, input, at, requestId);
  if ('error' in proposed) return proposed;
  const { proposal } = proposed;
  if (proposal.status !== 'proposed') {
    const decision = proposal.decisionId === null ? null : (readDecision(db, proposal.decisionId) ?? null);
    return { proposal, decision, decidedNow: false };
  }
  const decision = decideIn(ctx, db, proposal, at, { requestId, actorId: caller.id }, actor);
  // The proposal as decideIn left it (a test checks it equals a read-back).
  return { proposal: { ...proposal, status: NEXT[decision.outcome], decisionId: decision.id, updatedAt: at }, decision, decidedNow: true };
}

/** The decision with that id, or undefined. */
export function getDecision(ctx: BrokerContext, id: string): DecisionRecord | undefined {
  return readDecision(ctx.store.db, id);
}
