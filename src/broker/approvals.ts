// Approvals: a human user's sign-off on a pending proposal, bound to its hash and
// expiring. The role comes from the stored principal, never from the request. After each
// approval the proposal is decided again; when obligations are met it becomes authorized.
import { z } from 'zod';
import { WritError, newId, nowIso, parseInput, type Principal } from '../core/index.js';
import type { Db } from '../store/index.js';
import type { BrokerContext } from './context.js';
import { decideIn } from './decisions.js';
import { BrokerErrors } from './errors.js';
import { expireIfWaitedTooLong } from './expiry.js';
import { moveProposal } from './lifecycle.js';
import { maySeeProposal, requireCaller } from './principals.js';
import { prep, readDecision, readProposal, toApproval, type ApprovalRecord, type DecisionRecord, type ProposalRecord } from './records.js';

export const ApproveInputSchema = z.object({ note: z.string().max(2000).optional() }).strict();
export const RejectInputSchema = z.object({ reason: z.string().min(1).max(2000) }).strict();

/** What an approval returns: the approval and the decision taken after it. */
export interface ApprovalResult {
  readonly approval: ApprovalRecord;
  readonly decision: DecisionRecord;
  readonly proposal: ProposalRecord;
}

type Approver = { approver: Principal; proposal: ProposalRecord; roles: string[] };

/**
 * Checks that `caller` may approve or reject `proposal`; returns the roles it approves with,
 * or (a pending proposal past its time, expired here) the refusal to throw once committed.
 */
function checkApprover(ctx: BrokerContext, db: Db, caller: Principal, proposalId: string, at: string, requestId: string | null): Approver | { expired: WritError } {
  const approver = requireCaller(db, caller);
  const proposal = readProposal(db, proposalId);
  // INVARIANT: another tenant's proposal, or one an agent caller may not see, is refused
  // exactly as an unknown id: its existence is not the caller's to learn.
  if (proposal === undefined || !maySeeProposal(approver, proposal)) {
    throw new WritError(BrokerErrors.BROKER_PROPOSAL_NOT_FOUND, `proposal \`${proposalId}\` does not exist`, { details: { proposalId } });
  }
  // INVARIANT: only a human user approves; an agent or a service never does.
  if (approver.kind !== 'user') {
    throw new WritError(BrokerErrors.BROKER_APPROVER_NOT_HUMAN, `principal \`${approver.id}\` is a ${approver.kind}; only a user approves`, {
      details: { principalId: approver.id, kind: approver.kind },
    });
  }
  // INVARIANT: the proposer and the principal it acts for cannot approve their own proposal.
  if (approver.id === proposal.actorId || approver.id === proposal.onBehalfOf) {
    throw new WritError(BrokerErrors.BROKER_APPROVER_IS_PROPOSER, `principal \`${approver.id}\` cannot approve its own proposal \`${proposal.id}\``, {
      details: { principalId: approver.id, proposalId: proposal.id },
    });
  }
  const expired = expireIfWaitedTooLong(ctx, db, proposal, at, requestId);
  if (expired !== undefined) return { expired };
  if (proposal.status !== 'pending_approval') {
    throw new WritError(BrokerErrors.BROKER_PROPOSAL_WRONG_STATUS, `proposal \`${proposal.id}\` is \`${proposal.status}\`, not \`pending_approval\``, {
      details: { proposalId: proposal.id, status: proposal.status },
    });
  }
  const decision = proposal.decisionId === null ? undefined : readDecision(db, proposal.decisionId);
  const wanted = (decision?.obligations ?? []).filter((o) => !o.satisfied).map((o) => o.role);
  // INVARIANT: the approving role is one the stored principal holds and a pending obligation names.
  const roles = [...new Set(approver.roles.filter((r) => wanted.includes(r)))].sort();
  if (roles.length === 0) {
    throw new WritError(BrokerErrors.BROKER_APPROVER_LACKS_ROLE, `principal \`${approver.id}\` holds none of the roles ${wanted.map((r) => `\`${r}\``).join(', ') || '(none pending)'}`, {
      details: { principalId: approver.id, roles: wanted },
    });
  }
  return { approver, proposal, roles };
}

/**
 * Approves a pending proposal as the authenticated `caller`, then decides it again.
 *
 * @example
 * const { decision } = broker.approve(financeUser, proposal.id, { note: 'checked the invoice' });
 * decision.outcome // 'allow' once every obligation is met
 */
export function approve(ctx: BrokerContext, caller: Principal, proposalId: string, input: { note?: string } = {}, options: { requestId?: string } = {}): ApprovalResult {
  const { note } = parseInput(ApproveInputSchema, input, 'approval');
  const now = ctx.clock.now();
  const at = now.toISOString();
  const outcome = ctx.store.transaction((db): ApprovalResult | { expired: WritError } => {
    const checked = checkApprover(ctx, db, caller, proposalId, at, options.requestId ?? null);
    if ('expired' in checked) return checked;
    const { approver, proposal, roles } = checked;
    const id = newId('apr', now.getTime());
    const expiresAt = new Date(now.getTime() + ctx.config.approvalTtlMs).toISOString();
    prep(
      db,
      `INSERT INTO approvals (id, proposal_id, proposal_hash, approver_id, verdict, roles_json, note, created_at, expires_at)
       VALUES (?, ?, ?, ?, 'approved', ?, ?, ?, ?)`,
    ).run(id, proposal.id, proposal.hash, approver.id, JSON.stringify(roles), note ?? null, at, expiresAt);
    ctx.ledger.append({
      kind: 'approval.granted',
      subjectId: id,
      tenant: proposal.tenant,
      actorId: approver.id,
      requestId: options.requestId ?? null,
      refs: [proposal.id],
      body: { approvalId: id, proposalId: proposal.id, proposalHash: proposal.hash, approverId: approver.id, roles, note: note ?? null, expiresAt },
    });
    const decision = decideIn(ctx, db, proposal, at, { requestId: options.requestId ?? null, actorId: approver.id });
    const approval = toApproval(prep(db, 'SELECT * FROM approvals WHERE id = ?').get(id) as Record<string, unknown>);
    return { approval, decision, proposal: readProposal(db, proposal.id) as ProposalRecord };
  });
  // Thrown after the commit, so the expiry it reports stays recorded.
  if ('expired' in outcome) throw outcome.expired;
  return outcome;
}

/** Rejects a pending proposal as the authenticated `caller` (a user holding a pending role). */
export function reject(ctx: BrokerContext, caller: Principal, proposalId: string, reason: string, options: { requestId?: string } = {}): ProposalRecord {
  parseInput(RejectInputSchema, { reason }, 'rejection');
  const now = ctx.clock.now();
  const at = now.toISOString();
  const outcome = ctx.store.transaction((db): ProposalRecord | { expired: WritError } => {
    const checked = checkApprover(ctx, db, caller, proposalId, at, options.requestId ?? null);
    if ('expired' in checked) return checked;
    const { approver, proposal, roles } = checked;
    const id = newId('apr', now.getTime());
    prep(
      db,
      `INSERT INTO approvals (id, proposal_id, proposal_hash, approver_id, verdict, roles_json, note, created_at, expires_at)
       VALUES (?, ?, ?, ?, 'rejected', ?, ?, ?, ?)`,
    ).run(id, proposal.id, proposal.hash, approver.id, JSON.stringify(roles), reason, at, at);
    moveProposal(db, proposal.id, 'pending_approval', 'rejected', at);
    ctx.ledger.append({
      kind: 'approval.rejected',
      subjectId: id,
      tenant: proposal.tenant,
      actorId: approver.id,
      requestId: options.requestId ?? null,
      refs: [proposal.id],
      body: { approvalId: id, proposalId: proposal.id, proposalHash: proposal.hash, approverId: approver.id, roles, reason },
    });
    return readProposal(db, proposal.id) as ProposalRecord;
  });
  // Thrown after the commit, so the expiry it reports stays recorded.
  if ('expired' in outcome) throw outcome.expired;
  return outcome;
}

/** Every approval and rejection recorded for a proposal, oldest first. */
export function listApprovals(ctx: BrokerContext, proposalId: string): ApprovalRecord[] {
  return (prep(ctx.store.db, 'SELECT * FROM approvals WHERE proposal_id = ? ORDER BY created_at, id').all(proposalId) as Array<Record<string, unknown>>).map(
    toApproval,
  );
}
