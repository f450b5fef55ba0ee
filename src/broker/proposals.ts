// Proposals: an intended transition, created by the authenticated caller through the
// broker. Normalized, sealed and checked against the catalog; every rejection is
// recorded in the ledger; an idempotency key makes retries safe.
import { z } from 'zod';
import { CoreErrors, NameSchema, WritError, isWritError, newId, nowIso, parseInput, sealOf, toInputIssues, type JsonValue, type Principal } from '../core/index.js';
import type { Db } from '../store/index.js';
import type { BrokerContext } from './context.js';
import { BrokerErrors } from './errors.js';
import { ProposalStatusSchema, type ProposalStatus } from './lifecycle.js';
import { checkParams } from './params.js';
import { requireCaller } from './principals.js';
import { prep, readProposal, readResource, readSession, toProposal, type ParamValue, type ProposalRecord, type SessionRecord } from './records.js';
import { chargeLiveSession, requireLiveSession } from './sessions.js';

const IdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/, 'use letters, digits and . _ : @ - (at most 128)');

/** What a caller sends to propose. The actor is the authenticated caller, never a field. */
export const ProposeInputSchema = z
  .object({
    sessionId: IdSchema.optional(),
    action: z.string().min(1).max(200),
    /** Optional: when sent, must equal the resource type the action drives. */
    targetType: z.string().min(1).max(64).optional(),
    targetId: NameSchema,
    params: z.record(z.string().max(64), z.unknown()).default({}),
    /** Ids of the ContextBundles that informed the proposal. */
    basis: z.array(IdSchema).max(1000).default([]),
    rationale: z.string().max(4000).optional(),
    idempotencyKey: z.string().min(1).max(200).optional(),
  })
  .strict();
export type ProposeInput = z.input<typeof ProposeInputSchema>;

/** The sealed content of a proposal: what its hash covers (ids and times excluded). */
export interface ProposalContent {
  readonly v: 1;
  readonly tenant: string;
  readonly sessionId: string | null;
  readonly actorId: string;
  readonly onBehalfOf: string | null;
  readonly action: string;
  readonly resourceType: string;
  readonly targetId: string;
  readonly params: Record<string, ParamValue>;
  readonly basis: string[];
  readonly rationale: string | null;
}

/** The seal of a proposal's canonical content. */
export function sealProposal(content: ProposalContent): string {
  return sealOf(content);
}

/** Recomputes a stored proposal's content, e.g. to check its hash. */
export function contentOf(p: ProposalRecord): ProposalContent {
  return {
    action: p.action,
    actorId: p.actorId,
    basis: [...p.basis],
    onBehalfOf: p.onBehalfOf,
    params: { ...p.params },
    rationale: p.rationale,
    resourceType: p.resourceType,
    sessionId: p.sessionId,
    targetId: p.targetId,
    tenant: p.tenant,
    v: 1,
  };
}

function reject(code: string, message: string, details: Record<string, unknown> = {}): never {
  throw new WritError(code, message, { details });
}

function summarize(raw: unknown): JsonValue {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const r = raw as Record<string, unknown>;
  const s = (v: unknown) => (typeof v === 'string' ? v.slice(0, 200) : null);
  return {
    action: s(r.action),
    targetId: s(r.targetId),
    sessionId: s(r.sessionId),
    idempotencyKey: s(r.idempotencyKey),
    paramNames: typeof r.params === 'object' && r.params !== null ? Object.keys(r.params).slice(0, 50).map((k) => k.slice(0, 64)) : [],
    basis: Array.isArray(r.basis) ? r.basis.slice(0, 50).map((b) => String(b).slice(0, 128)) : [],
  };
}

/**
 * `value` with every string and key made well-formed (a lone surrogate becomes U+FFFD).
 * A rejection quotes what it refused, and an input that was refused for a lone surrogate
 * (or cut inside a pair by `summarize`) must still be recordable: the ledger holds only
 * canonical JSON, which has none.
 */
function wellFormed(value: JsonValue): JsonValue {
  if (typeof value === 'string') return value.toWellFormed();
  if (Array.isArray(value)) return value.map(wellFormed);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key.toWellFormed(), wellFormed(item)]));
}

/**
 * Creates a proposal for the authenticated `caller`. Invalid input throws a typed error
 * (INVALID_INPUT, BROKER_ACTION_UNKNOWN, BROKER_PARAMS_INVALID with every issue,
 * BROKER_TARGET_TYPE_MISMATCH, BROKER_TARGET_NOT_FOUND, session errors,
 * BROKER_IDEMPOTENCY_CONFLICT) and is recorded as `proposal.rejected`.
 *
 * @example
 * const p = broker.propose(agent, { sessionId, action: 'refund.approve', targetId: 'r-991', params: { amount: '12.50' }, basis: [bundleId] });
 * p.status // 'proposed'
 */
export function propose(ctx: BrokerContext, caller: Principal, input: unknown, options: { requestId?: string } = {}): ProposalRecord {
  const at = nowIso(ctx.clock);
  const outcome = ctx.store.transaction((db) => proposeIn(ctx, db, requireCaller(db, caller), input, at, options.requestId ?? null));
  if ('error' in outcome) throw outcome.error;
  return outcome.proposal;
}

/**
 * `propose` inside the caller's transaction, for `actor`, the caller as `requireCaller`
 * resolved it in this transaction. A refused proposal is returned as `error` (with its
 * `proposal.rejected` record written), so the caller can commit the record and then throw.
 */
export function proposeIn(
  ctx: BrokerContext,
  db: Db,
  actor: Principal,
  input: unknown,
  at: string,
  requestId: string | null,
): { proposal: ProposalRecord; existing: boolean } | { error: WritError } {
  let checked: Checked;
  try {
    checked = checkProposal(ctx, db, actor, input, at);
  } catch (err) {
    if (!isWritError(err)) throw err;
    // Validation wrote nothing, so recording the rejection here commits only the record.
    ctx.ledger.append({
      kind: 'proposal.rejected',
      subjectId: newId('prp'),
      tenant: actor.tenant,
      actorId: actor.id,
      requestId,
      refs: [],
      body: wellFormed({ code: err.code, message: err.message, issues: (err.details.issues ?? []) as JsonValue, input: summarize(input) }),
    });
    return { error: err };
  }
  if (checked.existing !== undefined) return { proposal: checked.existing, existing: true };
  return { proposal: insertProposal(ctx, db, checked, at, requestId), existing: false };
}

interface Checked {
  readonly existing?: ProposalRecord;
  readonly content: ProposalContent;
  readonly hash: string;
  readonly idempotencyKey: string | null;
  /** The session proposed in, as read (once) in this transaction and found live. */
  readonly session?: SessionRecord;
}

function checkProposal(ctx: BrokerContext, db: Db, actor: Principal, input: unknown, at: string): Checked {
  const parsed = ProposeInputSchema.safeParse(input);
  if (!parsed.success) {
    const issues = toInputIssues(parsed.error.issues);
    reject(CoreErrors.INVALID_INPUT, `invalid proposal: \`${issues[0]?.path}\`: ${issues[0]?.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`, { issues });
  }
  const p = parsed.data;
  const basis = [...new Set(p.basis)].sort();
  if (basis.length > ctx.config.maxBasis) {
    const message = `cite at most ${ctx.config.maxBasis} bundles`;
    reject(CoreErrors.INVALID_INPUT, `invalid proposal: \`basis\`: ${message}`, { issues: [{ path: 'basis', code: 'too_big', message }] });
  }
  const action = ctx.catalog.actions[p.action];
  if (action === undefined) {
    reject(BrokerErrors.BROKER_ACTION_UNKNOWN, `unknown action \`${p.action}\``, { action: p.action, known: Object.keys(ctx.catalog.actions) });
  }
  if (p.targetType !== undefined && p.targetType !== action.resourceType) {
    reject(BrokerErrors.BROKER_TARGET_TYPE_MISMATCH, `action \`${p.action}\` drives \`${action.resourceType}\`, not \`${p.targetType}\``, {
      action: p.action,
      expected: action.resourceType,
      got: p.targetType,
    });
  }
  const { params, issues } = checkParams(action, p.params);
  if (issues.length > 0) {
    const list = issues.map((i) => `\`${i.path}\`: ${i.message}`).join('; ');
    reject(BrokerErrors.BROKER_PARAMS_INVALID, `invalid params for \`${p.action}\`: ${list}`, { action: p.action, issues });
  }

  let session: SessionRecord | undefined;
  let onBehalfOf: string | null = null;
  if (p.sessionId !== undefined) {
    const found = readSession(db, p.sessionId);
    // INVARIANT: a proposal joins only a session of its own actor; on-behalf-of comes from that session, never the body.
    // Another actor's session, of this tenant or another, is refused exactly as a missing one (as retrieve does): its existence is not ours to learn.
    session = found !== undefined && found.tenant === actor.tenant && found.actorId === actor.id ? found : undefined;
    if (session === undefined) reject(BrokerErrors.BROKER_SESSION_NOT_FOUND, `session \`${p.sessionId}\` does not exist`, { sessionId: p.sessionId });
    onBehalfOf = session.onBehalfOf;
  } else if (actor.kind === 'agent') {
    reject(
      BrokerErrors.BROKER_SESSION_REQUIRED,
      `agent \`${actor.id}\` must propose within a session: open one first (\`POST /v1/sessions\`, \`writ session create\`) and pass its id as \`sessionId\``,
      { actorId: actor.id },
    );
  }

  // Keys in RFC 8785 order, as in contentOf: sealing then needs no sorted copy.
  const content: ProposalContent = {
    action: p.action,
    actorId: actor.id,
    basis,
    onBehalfOf,
    params,
    rationale: p.rationale ?? null,
    resourceType: action.resourceType,
    sessionId: p.sessionId ?? null,
    targetId: p.targetId,
    tenant: actor.tenant,
    v: 1,
  };
  const hash = sealProposal(content);
  const idempotencyKey = p.idempotencyKey ?? null;
  if (idempotencyKey !== null) {
    const row = prep(db, 'SELECT * FROM proposals WHERE actor_id = ? AND idempotency_key = ?').get(actor.id, idempotencyKey) as
      | Record<string, unknown>
      | undefined;
    if (row !== undefined) {
      const existing = toProposal(row);
      if (existing.hash === hash) return { existing, content, hash, idempotencyKey };
      reject(BrokerErrors.BROKER_IDEMPOTENCY_CONFLICT, `idempotency key \`${idempotencyKey}\` was used for a different proposal`, {
        idempotencyKey,
        proposalId: existing.id,
      });
    }
  }

  if (session !== undefined) requireLiveSession(db, session.id, at, session);
  if (!action.create) {
    // Only the actor's tenant's resources are looked at: another tenant's id is not ours to learn.
    const target = readResource(db, actor.tenant, action.resourceType, p.targetId);
    if (target === undefined) {
      reject(BrokerErrors.BROKER_TARGET_NOT_FOUND, `no \`${action.resourceType}\` \`${p.targetId}\` exists`, {
        resourceType: action.resourceType,
        targetId: p.targetId,
      });
    }
  }
  // Throws before writing when over budget; the charge commits with the proposal.
  if (session !== undefined && session.used.proposals + 1 > session.budgets.proposals) {
    reject(BrokerErrors.BROKER_SESSION_BUDGET_EXCEEDED, `session \`${p.sessionId}\` budget exceeded: \`proposals\``, {
      sessionId: p.sessionId,
      exceeded: ['proposals'],
      budgets: session.budgets,
      used: session.used,
    });
  }
  return { content, hash, idempotencyKey, session };
}

function insertProposal(ctx: BrokerContext, db: Db, checked: Checked, at: string, requestId: string | null): ProposalRecord {
  const { content, hash } = checked;
  // checkProposal found this session live and within budget, in this transaction.
  if (checked.session !== undefined) chargeLiveSession(db, checked.session, { proposals: 1 });
  const id = newId('prp', Date.parse(at));
  const status: ProposalStatus = 'proposed';
  const paramsJson = JSON.stringify(content.params);
  prep(
    db,
    `INSERT INTO proposals (id, tenant, session_id, actor_id, on_behalf_of, action, resource_type, target_id, params_json, basis_json,
       rationale, idempotency_key, hash, status, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    id,
    content.tenant,
    content.sessionId,
    content.actorId,
    content.onBehalfOf,
    content.action,
    content.resourceType,
    content.targetId,
    paramsJson,
    JSON.stringify(content.basis),
    content.rationale,
    checked.idempotencyKey,
    hash,
    status,
    at,
    at,
  );
  ctx.ledger.append({
    kind: 'proposal.created',
    subjectId: id,
    tenant: content.tenant,
    actorId: content.actorId,
    requestId,
    refs: content.basis,
    body: { content: content as unknown as JsonValue, hash, idempotencyKey: checked.idempotencyKey, proposalId: id },
  });
  // The record as just written (a test checks it equals a read-back).
  return {
    id,
    tenant: content.tenant,
    sessionId: content.sessionId,
    actorId: content.actorId,
    onBehalfOf: content.onBehalfOf,
    action: content.action,
    resourceType: content.resourceType,
    targetId: content.targetId,
    params: JSON.parse(paramsJson),
    basis: [...content.basis],
    rationale: content.rationale,
    idempotencyKey: checked.idempotencyKey,
    hash,
    status,
    decisionId: null,
    createdAt: at,
    updatedAt: at,
  };
}

/** Reads a proposal of the caller's tenant (or any tenant when `tenant` is omitted). */
export function getProposal(ctx: BrokerContext, id: string, tenant?: string): ProposalRecord | undefined {
  const p = readProposal(ctx.store.db, id);
  return p === undefined || (tenant !== undefined && p.tenant !== tenant) ? undefined : p;
}

export const ListProposalsSchema = z
  .object({
    status: ProposalStatusSchema.optional(),
    tenant: z.string().optional(),
    sessionId: z.string().optional(),
    /** Only the proposals this principal made. */
    actorId: z.string().optional(),
    limit: z.number().int().min(1).max(1000).default(100),
  })
  .strict();

/** Statuses covered by the partial index `proposals_open` (schema.ts). */
const OPEN_STATUSES: ReadonlySet<string> = new Set(['pending_approval', 'authorized']);

/** Lists proposals, newest first, filtered by status, tenant, session or actor. */
export function listProposals(ctx: BrokerContext, filter: z.input<typeof ListProposalsSchema> = {}): ProposalRecord[] {
  const f = parseInput(ListProposalsSchema, filter, 'proposal filter');
  const where: string[] = [];
  const args: unknown[] = [];
  // Open statuses are written into the SQL so SQLite can use the partial index on them.
  if (f.status !== undefined) {
    if (OPEN_STATUSES.has(f.status)) where.push(`status = '${f.status}'`);
    else (where.push('status = ?'), args.push(f.status));
  }
  if (f.tenant !== undefined) (where.push('tenant = ?'), args.push(f.tenant));
  if (f.sessionId !== undefined) (where.push('session_id = ?'), args.push(f.sessionId));
  if (f.actorId !== undefined) (where.push('actor_id = ?'), args.push(f.actorId));
  const sql = `SELECT * FROM proposals ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
  return (ctx.store.db.prepare(sql).all(...args, f.limit) as Array<Record<string, unknown>>).map(toProposal);
}
