// The proposal lifecycle as an explicit state machine. Every status change of a proposal
// goes through `moveProposal`, which checks the move against this table and applies it
// as a compare-and-set, so a racing writer cannot skip or repeat a step.
import { z } from 'zod';
import { WritError } from '../core/index.js';
import type { Db } from '../store/index.js';
import { BrokerErrors } from './errors.js';
import { prep } from './records.js';

export const ProposalStatusSchema = z.enum([
  'proposed',
  'denied',
  'pending_approval',
  'authorized',
  'rejected',
  'expired',
  'executed',
  'failed',
  'voided',
]);
export type ProposalStatus = z.infer<typeof ProposalStatusSchema>;

/**
 * Legal moves. DESIGN.md's lifecycle plus two documented additions:
 * `pending_approval → denied` (a re-decision after an approval may deny, e.g. the target
 * moved or the basis went stale) and `→ voided` from every live status (the session was
 * ended or revoked).
 */
export const PROPOSAL_MOVES: Readonly<Record<ProposalStatus, readonly ProposalStatus[]>> = Object.freeze({
  proposed: ['denied', 'pending_approval', 'authorized', 'voided'],
  pending_approval: ['authorized', 'rejected', 'expired', 'denied', 'voided'],
  authorized: ['executed', 'expired', 'failed', 'voided'],
  denied: [],
  rejected: [],
  expired: [],
  executed: [],
  failed: [],
  voided: [],
});

/** Statuses from which no move is possible. */
export const TERMINAL_STATUSES: readonly ProposalStatus[] = (Object.keys(PROPOSAL_MOVES) as ProposalStatus[]).filter(
  (s) => PROPOSAL_MOVES[s].length === 0,
);

/** True when the lifecycle allows `from → to`. */
export function canMove(from: ProposalStatus, to: ProposalStatus): boolean {
  return PROPOSAL_MOVES[from]?.includes(to) ?? false;
}

/** Throws BROKER_PROPOSAL_ILLEGAL_MOVE unless `from → to` is a legal move. */
export function assertMove(from: ProposalStatus, to: ProposalStatus, proposalId = ''): void {
  // INVARIANT: a proposal moves only along the edges of PROPOSAL_MOVES.
  if (!canMove(from, to)) {
    throw new WritError(BrokerErrors.BROKER_PROPOSAL_ILLEGAL_MOVE, `proposal \`${proposalId}\` cannot move from \`${from}\` to \`${to}\``, {
      details: { proposalId, from, to, allowed: PROPOSAL_MOVES[from] ?? [] },
    });
  }
}

/**
 * Moves a stored proposal `from → to` inside the caller's transaction (recording the
 * decision that moved it, when given). Throws
 * BROKER_PROPOSAL_ILLEGAL_MOVE for an illegal move, or when the stored status is no
 * longer `from` (someone else moved it first).
 */
export function moveProposal(db: Db, proposalId: string, from: ProposalStatus, to: ProposalStatus, at: string, decisionId?: string): void {
  assertMove(from, to, proposalId);
  // INVARIANT: compare-and-set on the status: the move applies only to the status it was checked against.
  const result =
    decisionId === undefined
      ? prep(db, 'UPDATE proposals SET status = ?, updated_at = ? WHERE id = ? AND status = ?').run(to, at, proposalId, from)
      : prep(db, 'UPDATE proposals SET status = ?, decision_id = ?, updated_at = ? WHERE id = ? AND status = ?').run(to, decisionId, at, proposalId, from);
  if (result.changes !== 1) {
    const row = prep(db, 'SELECT status FROM proposals WHERE id = ?').get(proposalId) as { status: ProposalStatus } | undefined;
    throw new WritError(
      BrokerErrors.BROKER_PROPOSAL_ILLEGAL_MOVE,
      `proposal \`${proposalId}\` cannot move from \`${from}\` to \`${to}\`: it is \`${row?.status ?? 'missing'}\``,
      { details: { proposalId, from, to, actual: row?.status ?? null } },
    );
  }
}
