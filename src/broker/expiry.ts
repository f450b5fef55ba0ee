// Expiry of proposals past their time: pending approvals older than `pendingApprovalTtlMs`
// and authorizations older than `authorizationTtlMs` (with no external transition in
// flight) move to `expired`; their unused warrants are voided. `expireStale` sweeps them
// all; `expireIfWaitedTooLong` expires one pending proposal as an operation reaches it, so
// the time limit holds whether or not a sweep runs.
import { WritError, nowIso } from '../core/index.js';
import type { Db } from '../store/index.js';
import type { BrokerContext } from './context.js';
import { BrokerErrors } from './errors.js';
import { moveProposal, type ProposalStatus } from './lifecycle.js';
import { prep, type ProposalRecord } from './records.js';

type Row = { id: string; status: ProposalStatus; tenant: string };

/**
 * When `proposal`'s wait for approval began: its first decision's time. A proposal enters
 * pending_approval once, with its first decision (from `proposed`). Not `updated_at`: every
 * re-decision and every approval short of the obligations rewrites it, and would keep a
 * proposal pending for ever.
 */
function waitBegan(db: Db, proposalId: string): string | null {
  return prep(db, 'SELECT min(created_at) FROM decisions WHERE proposal_id = ?').pluck().get(proposalId) as string | null;
}

/** Moves one proposal to `expired` in the caller's transaction, voids its unused warrants, records `proposal.expired`. */
function expireIn(ctx: BrokerContext, db: Db, row: Row, at: string, requestId: string | null): void {
  moveProposal(db, row.id, row.status, 'expired', at);
  const voided = (
    prep(db, "UPDATE warrants SET status = 'voided', voided_at = ? WHERE proposal_id = ? AND status = 'issued' RETURNING id").all(at, row.id) as Array<{ id: string }>
  ).map((w) => w.id);
  ctx.ledger.append({
    kind: 'proposal.expired',
    subjectId: row.id,
    tenant: row.tenant,
    actorId: null,
    requestId,
    refs: [row.id],
    body: { proposalId: row.id, from: row.status, voidedWarrants: voided },
  });
}

/**
 * Expires `proposal` in the caller's transaction when it is `pending_approval` and its wait
 * began `pendingApprovalTtlMs` or more before `at` (the sweep's rule), and returns the
 * refusal the operation must answer (BROKER_PROPOSAL_WRONG_STATUS, status `expired`);
 * undefined when it may still be acted on. The caller commits, then throws the refusal:
 * thrown inside the transaction, it would roll the expiry back.
 */
export function expireIfWaitedTooLong(ctx: BrokerContext, db: Db, proposal: ProposalRecord, at: string, requestId: string | null): WritError | undefined {
  if (proposal.status !== 'pending_approval') return undefined;
  const began = waitBegan(db, proposal.id);
  // INVARIANT: a proposal pending approval past `pendingApprovalTtlMs` is acted on by no one; it expires.
  if (began === null || Date.parse(began) + ctx.config.pendingApprovalTtlMs > Date.parse(at)) return undefined;
  expireIn(ctx, db, { id: proposal.id, status: proposal.status, tenant: proposal.tenant }, at, requestId);
  return new WritError(
    BrokerErrors.BROKER_PROPOSAL_WRONG_STATUS,
    `proposal \`${proposal.id}\` is \`expired\`: it waited for approval since \`${began}\`, longer than \`pendingApprovalTtlMs\` (\`${ctx.config.pendingApprovalTtlMs}\` ms); propose again`,
    { details: { proposalId: proposal.id, status: 'expired', waitingSince: began, pendingApprovalTtlMs: ctx.config.pendingApprovalTtlMs } },
  );
}

/** Expires stale proposals; returns the ids moved to `expired`. */
export function expireStale(ctx: BrokerContext, options: { requestId?: string } = {}): string[] {
  const at = nowIso(ctx.clock);
  const now = Date.parse(at);
  const pendingBefore = new Date(now - ctx.config.pendingApprovalTtlMs).toISOString();
  const authorizedBefore = new Date(now - ctx.config.authorizationTtlMs).toISOString();
  return ctx.store.transaction((db) => {
    // Two queries with literal statuses, so each can use the partial index `proposals_open`.
    // A pending proposal's wait began with its first decision (see `waitBegan`).
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
    for (const row of rows) expireIn(ctx, db, row, at, options.requestId ?? null);
    return rows.map((r) => r.id);
  });
}
