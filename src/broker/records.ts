// The broker's stored records as callers see them, and the row mappers that read them.
// Records are read-only snapshots; every write goes through the module that owns it.
import { statement, type Db } from '../store/index.js';
import type { Facts } from './facts-schema.js';
import type { ProposalStatus } from './lifecycle.js';

/** A param or attribute value: what the catalog's param types produce. */
export type ParamValue = string | number | boolean | null;

export interface SessionRecord {
  readonly id: string;
  readonly tenant: string;
  readonly actorId: string;
  readonly onBehalfOf: string | null;
  readonly status: 'active' | 'ended' | 'revoked';
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly closedAt: string | null;
  readonly closeReason: string | null;
  readonly budgets: { readonly retrievals: number; readonly proposals: number; readonly contextChars: number };
  readonly used: { readonly retrievals: number; readonly proposals: number; readonly contextChars: number };
}

export interface ResourceRecord {
  readonly type: string;
  readonly id: string;
  readonly tenant: string;
  readonly state: string;
  readonly version: number;
  readonly attributes: Readonly<Record<string, ParamValue>>;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface ProposalRecord {
  readonly id: string;
  readonly tenant: string;
  readonly sessionId: string | null;
  readonly actorId: string;
  readonly onBehalfOf: string | null;
  readonly action: string;
  readonly resourceType: string;
  readonly targetId: string;
  readonly params: Readonly<Record<string, ParamValue>>;
  readonly basis: readonly string[];
  readonly rationale: string | null;
  readonly idempotencyKey: string | null;
  /** Seal of the proposal's canonical content; approvals and warrants bind it. */
  readonly hash: string;
  readonly status: ProposalStatus;
  /** The latest decision, once decided. */
  readonly decisionId: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface Obligation {
  readonly role: string;
  readonly count: number;
  readonly satisfied: boolean;
}

export interface DecisionRecord {
  readonly id: string;
  readonly proposalId: string;
  readonly proposalHash: string;
  readonly outcome: 'allow' | 'deny' | 'needs_approval';
  readonly determiningPolicies: readonly string[];
  readonly obligations: readonly Obligation[];
  readonly reasons: readonly string[];
  readonly errors: readonly string[];
  /** The facts policy saw, so the decision can be replayed. */
  readonly facts: Facts;
  readonly policySetHash: string;
  readonly createdAt: string;
}

export interface ApprovalRecord {
  readonly id: string;
  readonly proposalId: string;
  readonly proposalHash: string;
  readonly approverId: string;
  readonly verdict: 'approved' | 'rejected';
  readonly roles: readonly string[];
  readonly note: string | null;
  readonly createdAt: string;
  readonly expiresAt: string;
}

export interface TransitionRecord {
  readonly id: string;
  readonly warrantId: string;
  readonly proposalId: string;
  readonly decisionId: string;
  readonly tenant: string;
  readonly action: string;
  readonly resourceType: string;
  readonly resourceId: string;
  readonly effect: 'internal' | 'external' | 'irreversible';
  readonly fromState: string | null;
  readonly toState: string;
  readonly fromVersion: number;
  readonly toVersion: number | null;
  /** `executed` (applied at once), `started` (external, in flight), `succeeded` or `failed` (reported). */
  readonly status: 'executed' | 'started' | 'succeeded' | 'failed';
  readonly detail: unknown;
  readonly requestId: string | null;
  readonly createdAt: string;
  readonly completedAt: string | null;
}

type Row = Record<string, unknown>;

/** A prepared statement, cached per connection: the hot path prepares each SQL once. */
export const prep = statement;
const str = (v: unknown): string => v as string;
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : (v as string));

/** A session row as read: these columns, in this order, as an array (no object per row). */
type SessionRow = [
  id: string,
  tenant: string,
  actorId: string,
  onBehalfOf: string | null,
  status: SessionRecord['status'],
  createdAt: string,
  expiresAt: string,
  closedAt: string | null,
  closeReason: string | null,
  budgetRetrievals: number,
  budgetProposals: number,
  budgetContextChars: number,
  usedRetrievals: number,
  usedProposals: number,
  usedContextChars: number,
];

const SELECT_SESSION =
  'SELECT id, tenant, actor_id, on_behalf_of, status, created_at, expires_at, closed_at, close_reason, ' +
  'budget_retrievals, budget_proposals, budget_context_chars, used_retrievals, used_proposals, used_context_chars FROM sessions WHERE id = ?';

function toSession(r: SessionRow): SessionRecord {
  return {
    id: r[0],
    tenant: r[1],
    actorId: r[2],
    onBehalfOf: r[3],
    status: r[4],
    createdAt: r[5],
    expiresAt: r[6],
    closedAt: r[7],
    closeReason: r[8],
    budgets: { retrievals: r[9], proposals: r[10], contextChars: r[11] },
    used: { retrievals: r[12], proposals: r[13], contextChars: r[14] },
  };
}

export function toResource(r: Row): ResourceRecord {
  return {
    type: str(r.type),
    id: str(r.id),
    tenant: str(r.tenant),
    state: str(r.state),
    version: r.version as number,
    attributes: JSON.parse(str(r.attributes_json)),
    createdAt: str(r.created_at),
    updatedAt: str(r.updated_at),
  };
}

export function toProposal(r: Row): ProposalRecord {
  return {
    id: str(r.id),
    tenant: str(r.tenant),
    sessionId: strOrNull(r.session_id),
    actorId: str(r.actor_id),
    onBehalfOf: strOrNull(r.on_behalf_of),
    action: str(r.action),
    resourceType: str(r.resource_type),
    targetId: str(r.target_id),
    params: JSON.parse(str(r.params_json)),
    basis: JSON.parse(str(r.basis_json)),
    rationale: strOrNull(r.rationale),
    idempotencyKey: strOrNull(r.idempotency_key),
    hash: str(r.hash),
    status: r.status as ProposalStatus,
    decisionId: strOrNull(r.decision_id),
    createdAt: str(r.created_at),
    updatedAt: str(r.updated_at),
  };
}

export function toDecision(r: Row): DecisionRecord {
  return {
    id: str(r.id),
    proposalId: str(r.proposal_id),
    proposalHash: str(r.proposal_hash),
    outcome: r.outcome as DecisionRecord['outcome'],
    determiningPolicies: JSON.parse(str(r.determining_policies_json)),
    obligations: JSON.parse(str(r.obligations_json)),
    reasons: JSON.parse(str(r.reasons_json)),
    errors: JSON.parse(str(r.errors_json)),
    facts: JSON.parse(str(r.facts_json)),
    policySetHash: str(r.policy_set_hash),
    createdAt: str(r.created_at),
  };
}

export function toApproval(r: Row): ApprovalRecord {
  return {
    id: str(r.id),
    proposalId: str(r.proposal_id),
    proposalHash: str(r.proposal_hash),
    approverId: str(r.approver_id),
    verdict: r.verdict as ApprovalRecord['verdict'],
    roles: JSON.parse(str(r.roles_json)),
    note: strOrNull(r.note),
    createdAt: str(r.created_at),
    expiresAt: str(r.expires_at),
  };
}

export function toTransition(r: Row): TransitionRecord {
  return {
    id: str(r.id),
    warrantId: str(r.warrant_id),
    proposalId: str(r.proposal_id),
    decisionId: str(r.decision_id),
    tenant: str(r.tenant),
    action: str(r.action),
    resourceType: str(r.resource_type),
    resourceId: str(r.resource_id),
    effect: r.effect as TransitionRecord['effect'],
    fromState: strOrNull(r.from_state),
    toState: str(r.to_state),
    fromVersion: r.from_version as number,
    toVersion: (r.to_version as number | null) ?? null,
    status: r.status as TransitionRecord['status'],
    detail: r.detail_json === null ? null : JSON.parse(str(r.detail_json)),
    requestId: strOrNull(r.request_id),
    createdAt: str(r.created_at),
    completedAt: strOrNull(r.completed_at),
  };
}

/** Reads one resource of a tenant by type and id, or undefined. Each tenant has its own ids. */
export function readResource(db: Db, tenant: string, type: string, id: string): ResourceRecord | undefined {
  const row = prep(db, 'SELECT * FROM resources WHERE tenant = ? AND type = ? AND id = ?').get(tenant, type, id) as Row | undefined;
  return row === undefined ? undefined : toResource(row);
}

/** The external transition in flight on a tenant's resource (or a resource id being created), if any. */
export function readLock(db: Db, tenant: string, type: string, id: string): string | null {
  const row = prep(db, 'SELECT transition_id FROM resource_locks WHERE tenant = ? AND resource_type = ? AND resource_id = ?').get(tenant, type, id) as
    | { transition_id: string }
    | undefined;
  return row?.transition_id ?? null;
}

/** Reads one proposal by id, or undefined. */
export function readProposal(db: Db, id: string): ProposalRecord | undefined {
  const row = prep(db, 'SELECT * FROM proposals WHERE id = ?').get(id) as Row | undefined;
  return row === undefined ? undefined : toProposal(row);
}

/** Reads one decision by id, or undefined. */
export function readDecision(db: Db, id: string): DecisionRecord | undefined {
  const row = prep(db, 'SELECT * FROM decisions WHERE id = ?').get(id) as Row | undefined;
  return row === undefined ? undefined : toDecision(row);
}

/** What authorizing needs of a decision: its verdict, the hash it bound and the target it saw. */
export interface DecisionHead {
  readonly id: string;
  readonly outcome: DecisionRecord['outcome'];
  readonly proposalHash: string;
  readonly createdAt: string;
  readonly target: DecisionRecord['facts']['target'];
}

/**
 * Reads a decision's head, or undefined. The stored facts are large; issuing and executing
 * need only the target they saw, which SQLite extracts without parsing the rest in JS.
 */
export function readDecisionHead(db: Db, id: string): DecisionHead | undefined {
  const row = prep(db, "SELECT id, outcome, proposal_hash, created_at, facts_json -> '$.target' AS target FROM decisions WHERE id = ?").get(id) as
    | { id: string; outcome: DecisionRecord['outcome']; proposal_hash: string; created_at: string; target: string }
    | undefined;
  return row === undefined
    ? undefined
    : { id: row.id, outcome: row.outcome, proposalHash: row.proposal_hash, createdAt: row.created_at, target: JSON.parse(row.target) };
}

/** Reads one session by id, or undefined. */
export function readSession(db: Db, id: string): SessionRecord | undefined {
  // Every session retrieval and proposal reads its session: as an array, the cheap path.
  const row = prep(db, SELECT_SESSION).raw(true).get(id) as SessionRow | undefined;
  return row === undefined ? undefined : toSession(row);
}
