// Sessions: one agent run with its actor, the principal it acts for, an expiry and
// budgets. Ending or revoking a session voids its live proposals and unused warrants.
import { z } from 'zod';
import { CoreErrors, NameSchema, WritError, newId, nowIso, parseInput, type Principal } from '../core/index.js';
import type { Db } from '../store/index.js';
import { SessionBudgetsSchema, type SessionBudgets } from './config.js';
import type { BrokerContext } from './context.js';
import { BrokerErrors } from './errors.js';
import { moveProposal, type ProposalStatus } from './lifecycle.js';
import { readPrincipal, requireCaller } from './principals.js';
import { prep, readSession, type SessionRecord } from './records.js';

export const CreateSessionInputSchema = z
  .object({
    onBehalfOf: NameSchema.optional(),
    ttlMs: z.number().int().positive(),
    budgets: SessionBudgetsSchema.partial().optional(),
  })
  .strict();
export type CreateSessionInput = z.input<typeof CreateSessionInputSchema>;

export const SessionChargeSchema = z
  .object({
    retrievals: z.number().int().nonnegative().optional(),
    proposals: z.number().int().nonnegative().optional(),
    contextChars: z.number().int().nonnegative().optional(),
  })
  .strict();
export type SessionCharge = z.input<typeof SessionChargeSchema>;

/**
 * Opens a session for the authenticated `actor`. An agent acts on behalf of a user or
 * service of its own tenant: the one it is registered for, or (when it has none) the one
 * it names. Users and services act for themselves.
 *
 * @example
 * const session = broker.createSession(agent, { ttlMs: 15 * 60_000, budgets: { proposals: 5 } });
 */
export function createSession(ctx: BrokerContext, actor: Principal, input: CreateSessionInput, options: { requestId?: string } = {}): SessionRecord {
  const parsed = parseInput(CreateSessionInputSchema, input, 'session');
  if (parsed.ttlMs > ctx.config.maxSessionTtlMs) {
    const message = `at most \`${ctx.config.maxSessionTtlMs}\` ms`;
    throw new WritError(CoreErrors.INVALID_INPUT, `invalid session: \`ttlMs\`: ${message}`, {
      details: { issues: [{ path: 'ttlMs', code: 'too_big', message }] },
    });
  }
  // INVARIANT: a session's budgets never exceed the configured ceiling, whoever asks.
  const tooBig = Object.entries(parsed.budgets ?? {}).filter(([key, value]) => value !== undefined && value > ctx.config.maxBudgets[key as keyof SessionBudgets]);
  if (tooBig.length > 0) {
    const issues = tooBig.map(([key]) => ({ path: `budgets.${key}`, code: 'too_big', message: `at most \`${ctx.config.maxBudgets[key as keyof SessionBudgets]}\`` }));
    throw new WritError(CoreErrors.INVALID_INPUT, `invalid session: ${issues.map((i) => `\`${i.path}\`: ${i.message}`).join('; ')}`, {
      details: { issues },
    });
  }
  const budgets = { ...ctx.config.defaultBudgets, ...(parsed.budgets ?? {}) };
  const now = ctx.clock.now();
  const at = now.toISOString();
  return ctx.store.transaction((db) => {
    const stored = requireCaller(db, actor);
    const onBehalfOf = resolveOnBehalfOf(db, stored, parsed.onBehalfOf);
    const id = newId('ses', now.getTime());
    const expiresAt = new Date(now.getTime() + parsed.ttlMs).toISOString();
    prep(
      db,
      `INSERT INTO sessions (id, tenant, actor_id, on_behalf_of, status, created_at, expires_at, budget_retrievals, budget_proposals, budget_context_chars)
       VALUES (?, ?, ?, ?, 'active', ?, ?, ?, ?, ?)`,
    ).run(id, stored.tenant, stored.id, onBehalfOf, at, expiresAt, budgets.retrievals, budgets.proposals, budgets.contextChars);
    ctx.ledger.append({
      kind: 'session.created',
      subjectId: id,
      tenant: stored.tenant,
      actorId: stored.id,
      requestId: options.requestId ?? null,
      refs: onBehalfOf === null ? [] : [onBehalfOf],
      body: { sessionId: id, actorId: stored.id, onBehalfOf, expiresAt, budgets },
    });
    return readSession(db, id) as SessionRecord;
  });
}

function resolveOnBehalfOf(db: Db, actor: Principal, requested: string | undefined): string | null {
  if (actor.kind !== 'agent') {
    if (requested !== undefined && requested !== actor.id) {
      throw new WritError(BrokerErrors.BROKER_DELEGATION_INVALID, `only an agent acts on behalf of another principal; \`${actor.id}\` is a ${actor.kind}`, {
        details: { actorId: actor.id, onBehalfOf: requested },
      });
    }
    return null;
  }
  // INVARIANT: an agent registered for a principal may act only for that principal.
  if (actor.onBehalfOf !== undefined && requested !== undefined && requested !== actor.onBehalfOf) {
    throw new WritError(BrokerErrors.BROKER_DELEGATION_INVALID, `agent \`${actor.id}\` acts only for \`${actor.onBehalfOf}\`, not \`${requested}\``, {
      details: { actorId: actor.id, onBehalfOf: requested, registered: actor.onBehalfOf },
    });
  }
  const target = requested ?? actor.onBehalfOf;
  if (target === undefined) return null;
  const found = readPrincipal(db, target);
  // INVARIANT: delegation never crosses tenants. A principal of another tenant is refused
  // exactly as an unknown one, so the answer does not tell whether (or what) it is.
  const principal = found !== undefined && found.principal.tenant === actor.tenant ? found : undefined;
  if (principal === undefined || principal.disabled || principal.principal.kind === 'agent' || target === actor.id) {
    throw new WritError(BrokerErrors.BROKER_DELEGATION_INVALID, `agent \`${actor.id}\` cannot act on behalf of \`${target}\``, {
      details: { actorId: actor.id, onBehalfOf: target, reason: principal === undefined ? 'unknown' : principal.disabled ? 'disabled' : 'not a user or service' },
    });
  }
  return target;
}

/** True when the session is active and unexpired at `at`. */
export function isSessionLive(session: SessionRecord, at: string): boolean {
  return session.status === 'active' && Date.parse(session.expiresAt) > Date.parse(at);
}

/**
 * Reads a session that must exist and be live; throws the typed error otherwise. Pass
 * `session` when this transaction has already read it.
 */
export function requireLiveSession(db: Db, sessionId: string, at: string, session = readSession(db, sessionId)): SessionRecord {
  if (session === undefined) {
    throw new WritError(BrokerErrors.BROKER_SESSION_NOT_FOUND, `session \`${sessionId}\` does not exist`, { details: { sessionId } });
  }
  if (!isSessionLive(session, at)) {
    const why = session.status === 'active' ? 'expired' : session.status;
    throw new WritError(BrokerErrors.BROKER_SESSION_NOT_ACTIVE, `session \`${sessionId}\` is ${why}`, { details: { sessionId, status: why } });
  }
  return session;
}

/**
 * Reads a session that must exist and be neither ended nor revoked (its time limit aside);
 * throws the typed error otherwise.
 */
export function requireOpenSession(db: Db, sessionId: string): SessionRecord {
  const session = readSession(db, sessionId);
  if (session === undefined) {
    throw new WritError(BrokerErrors.BROKER_SESSION_NOT_FOUND, `session \`${sessionId}\` does not exist`, { details: { sessionId } });
  }
  if (session.status !== 'active') {
    throw new WritError(BrokerErrors.BROKER_SESSION_NOT_ACTIVE, `session \`${sessionId}\` is ${session.status}`, { details: { sessionId, status: session.status } });
  }
  return session;
}

/**
 * Charges a session's budgets in the caller's transaction (or its own). Charges all or
 * nothing: when any counter would pass its budget, throws BROKER_SESSION_BUDGET_EXCEEDED.
 */
export function chargeSessionIn(db: Db, sessionId: string, charge: SessionCharge, at: string): SessionRecord {
  const c = parseInput(SessionChargeSchema, charge, 'session charge');
  return chargeLiveSession(db, requireLiveSession(db, sessionId, at), c);
}

/**
 * Charges a session this transaction has read and found live, with a charge that is
 * already valid (parsed, or made by the broker itself). All or nothing, as `chargeSessionIn`.
 */
export function chargeLiveSession(db: Db, session: SessionRecord, c: z.output<typeof SessionChargeSchema>): SessionRecord {
  const sessionId = session.id;
  const want = usageAfter(session, c);
  prep(db, 'UPDATE sessions SET used_retrievals = ?, used_proposals = ?, used_context_chars = ? WHERE id = ?').run(
    want.retrievals,
    want.proposals,
    want.contextChars,
    sessionId,
  );
  return { ...session, used: want };
}

/** The session's usage with `c` added; throws BROKER_SESSION_BUDGET_EXCEEDED when any counter would pass its budget. */
function usageAfter(session: SessionRecord, c: z.output<typeof SessionChargeSchema>): SessionRecord['used'] {
  const want = {
    retrievals: session.used.retrievals + (c.retrievals ?? 0),
    proposals: session.used.proposals + (c.proposals ?? 0),
    contextChars: session.used.contextChars + (c.contextChars ?? 0),
  };
  const over = (Object.keys(want) as Array<keyof typeof want>).filter((k) => want[k] > session.budgets[k]);
  if (over.length > 0) {
    throw new WritError(BrokerErrors.BROKER_SESSION_BUDGET_EXCEEDED, `session \`${session.id}\` budget exceeded: ${over.map((k) => `\`${k}\``).join(', ')}`, {
      details: { sessionId: session.id, exceeded: over, budgets: session.budgets, used: session.used },
    });
  }
  return want;
}

/** Charges a session's budgets in a transaction of its own. */
export function chargeSession(ctx: BrokerContext, sessionId: string, charge: SessionCharge): SessionRecord {
  return ctx.store.transaction((db) => chargeSessionIn(db, sessionId, charge, nowIso(ctx.clock)));
}

/**
 * Throws what `chargeSession` would throw now for a session as just read (not live, or
 * over budget), and writes nothing: a check before work that is charged later, in the
 * transaction that records it.
 */
export function checkSessionCharge(ctx: BrokerContext, session: SessionRecord, charge: SessionCharge): void {
  const c = parseInput(SessionChargeSchema, charge, 'session charge');
  usageAfter(requireLiveSession(ctx.store.db, session.id, nowIso(ctx.clock), session), c);
}

/** What closing a session voided. */
export interface SessionCloseResult {
  readonly session: SessionRecord;
  readonly voidedProposals: readonly string[];
  readonly voidedWarrants: readonly string[];
}

/** Ends a session normally (its actor is done). Voids its live proposals and unused warrants. */
export function endSession(ctx: BrokerContext, caller: Principal, sessionId: string, options: { reason?: string; requestId?: string } = {}): SessionCloseResult {
  return closeSession(ctx, caller, sessionId, 'ended', options);
}

/**
 * Revokes a session (e.g. the agent misbehaved). Voids its live proposals and unused
 * warrants; an external transition already in flight stays in flight until reported.
 */
export function revokeSession(ctx: BrokerContext, caller: Principal, sessionId: string, options: { reason?: string; requestId?: string } = {}): SessionCloseResult {
  return closeSession(ctx, caller, sessionId, 'revoked', options);
}

const LIVE: readonly ProposalStatus[] = ['proposed', 'pending_approval', 'authorized'];

function closeSession(
  ctx: BrokerContext,
  caller: Principal,
  sessionId: string,
  status: 'ended' | 'revoked',
  options: { reason?: string; requestId?: string },
): SessionCloseResult {
  const at = nowIso(ctx.clock);
  return ctx.store.transaction((db) => {
    const who = requireCaller(db, caller);
    const session = readSession(db, sessionId);
    if (session === undefined || session.tenant !== who.tenant) {
      throw new WritError(BrokerErrors.BROKER_SESSION_NOT_FOUND, `session \`${sessionId}\` does not exist`, { details: { sessionId } });
    }
    // An agent never closes another's run, even holding the admin role (roles held by an
    // agent are never tenant-wide authority; see docs/security.md).
    const mayClose =
      who.id === session.actorId || who.id === session.onBehalfOf || who.kind === 'service' || (who.kind === 'user' && who.roles.includes('admin'));
    if (!mayClose) {
      throw new WritError(BrokerErrors.BROKER_SESSION_FORBIDDEN, `principal \`${who.id}\` may not close session \`${sessionId}\``, {
        details: { sessionId, principalId: who.id },
      });
    }
    if (session.status !== 'active') {
      throw new WritError(BrokerErrors.BROKER_SESSION_NOT_ACTIVE, `session \`${sessionId}\` is already ${session.status}`, {
        details: { sessionId, status: session.status },
      });
    }
    prep(db, "UPDATE sessions SET status = ?, closed_at = ?, close_reason = ? WHERE id = ? AND status = 'active'").run(
      status,
      at,
      options.reason ?? null,
      sessionId,
    );
    const voidedWarrants = (
      prep(
        db,
        `UPDATE warrants SET status = 'voided', voided_at = ?
         WHERE status = 'issued' AND proposal_id IN (SELECT id FROM proposals WHERE session_id = ?) RETURNING id`,
      ).all(at, sessionId) as Array<{ id: string }>
    ).map((r) => r.id);
    const live = prep(
      db,
      `SELECT id, status FROM proposals p WHERE session_id = ? AND status IN ('proposed', 'pending_approval', 'authorized')
       AND NOT EXISTS (SELECT 1 FROM warrants w WHERE w.proposal_id = p.id AND w.status = 'in_flight')`,
    ).all(sessionId) as Array<{ id: string; status: ProposalStatus }>;
    for (const p of live) {
      if (LIVE.includes(p.status)) moveProposal(db, p.id, p.status, 'voided', at);
    }
    const voidedProposals = live.map((p) => p.id);
    ctx.ledger.append({
      kind: status === 'ended' ? 'session.ended' : 'session.revoked',
      subjectId: sessionId,
      tenant: session.tenant,
      actorId: who.id,
      requestId: options.requestId ?? null,
      refs: voidedProposals,
      body: { sessionId, reason: options.reason ?? null, voidedProposals, voidedWarrants },
    });
    return { session: readSession(db, sessionId) as SessionRecord, voidedProposals, voidedWarrants };
  });
}
