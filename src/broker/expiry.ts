// Sweeps proposals past their time: pending approvals older than `pendingApprovalTtlMs`
// and authorizations older than `authorizationTtlMs` (with no external transition in
// flight) move to `expired`; their unused warrants are voided.
import { nowIso } from '../core/index.js';
import type { BrokerContext } from './context.js';
import { moveProposal, type ProposalStatus } from './lifecycle.js';
import { prep } from './records.js';

type Row = { id: string; status: ProposalStatus; tenant: string };

/** Expires stale proposals; returns the ids moved to `expired`. */
export function expireStale(ctx: BrokerContext, options: { requestId?: string } = {}): string[] {
  const at = nowIso(ctx.clock);
  const now = Date.parse(at);
  const pendingBefore = new Date(now - ctx.config.pendingApprovalTtlMs).toISOString();
  const authorizedBefore = new Date(now - ctx.config.authorizationTtlMs).toISOString();
  return ctx.store.transaction((db) => {
    // Two queries with literal statuses, so each can use the partial index `proposals_open`.
    // A proposal enters pending_approval once, with its first decision (from `proposed`),
    // so that decision's time is when its wait began. Not `updated_at`: every re-decision
    // and every approval short of the obligations rewrites it, and would keep a proposal
    // pending for ever.
    const rows = [
      ...(prep(
        db,
        `SELECT p.id, p.status, p.tenant FROM proposals p
         WHERE p.status = 'pending_approval' AND (SELECT min(d.created_at) FROM decisions d WHERE d.proposal_id = p.id) <= ?`,
      ).all(pendingBefore) as Row[]),
      ...(prep(
        db,
        `SELECT p.id, p.status, p.tenant FROM proposals p JOIN decisions d ON d.id = p.decision_id
         WHERE p.status = 'authorized' AND d.created_at <= ?
           AND NOT EXISTS (SELECT 1 FROM warrants w WHERE w.proposal_id = p.id AND w.status = 'in_flight')`,
      ).all(authorizedBefore) as Row[]),
    ];
    for (const row of rows) {
      moveProposal(db, row.id, row.status, 'expired', at);
      const voided = (
        prep(db, "UPDATE warrants SET status = 'voided', voided_at = ? WHERE proposal_id = ? AND status = 'issued' RETURNING id").all(at, row.id) as Array<{ id: string }>
      ).map((w) => w.id);
      ctx.ledger.append({
        kind: 'proposal.expired',
        subjectId: row.id,
        tenant: row.tenant,
        actorId: null,
        requestId: options.requestId ?? null,
        refs: [row.id],
        body: { proposalId: row.id, from: row.status, voidedWarrants: voided },
      });
    }
    return rows.map((r) => r.id);
  });
}
