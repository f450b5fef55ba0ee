// Transitions: the only code that changes resource state. `execute` verifies a warrant
// and applies the catalog transition in one store transaction; replays, expired, forged
// or tampered warrants and lost races fail with typed errors and change nothing. An
// `external` effect is two-phase: `execute` starts it and locks the target, the external
// executor reports the outcome with `reportTransition`.
import { z } from 'zod';
import { CoreErrors, WritError, canonicalJson, newId, parseInput, sha256Hex, type JsonValue, type Principal } from '../core/index.js';
import type { Db } from '../store/index.js';
import type { ActionSpec } from './catalog.js';
import type { BrokerContext } from './context.js';
import { BrokerErrors } from './errors.js';
import { moveProposal } from './lifecycle.js';
import { prep, readLock, readProposal, readResource, toTransition, type ParamValue, type ProposalRecord, type ResourceRecord, type TransitionRecord } from './records.js';
import { requireAuthorized } from './warrant-issue.js';
import { splitWarrant, verifyWarrantWith, type WarrantPayload } from './warrant.js';

/** What `execute` and `reportTransition` return. */
export interface TransitionResult {
  readonly transition: TransitionRecord;
  /** The resource after the transition (before it, for an external transition still in flight). */
  readonly resource: ResourceRecord | null;
  readonly proposal: ProposalRecord;
}

interface WarrantRow {
  id: string;
  nonce: string;
  proposal_id: string;
  decision_id: string;
  token_hash: string;
  status: 'issued' | 'in_flight' | 'consumed' | 'voided';
}

function notIssued(payload: WarrantPayload): WritError {
  return new WritError(BrokerErrors.BROKER_WARRANT_NOT_ISSUED, `warrant \`${payload.wid}\` was not issued by this broker`, { details: { wid: payload.wid } });
}

/**
 * A token's payload as it claims to be, read before anything in it is trusted: only its
 * `wid` is used, to find the record; the rest is used only once the token is the recorded one.
 */
function claimedPayload(payloadB64: string): Partial<WarrantPayload> | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(payloadB64, 'base64url').toString('utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Partial<WarrantPayload>) : undefined;
  } catch {
    return undefined;
  }
}

function expired(payload: WarrantPayload): WritError {
  return new WritError(BrokerErrors.BROKER_WARRANT_EXPIRED, `warrant \`${payload.wid}\` expired at \`${payload.exp}\``, {
    details: { wid: payload.wid, exp: payload.exp },
  });
}

/**
 * Matches the token to its issued record and returns its payload. A token whose SHA-256
 * equals the hash recorded when this broker signed it is that signed token, byte for
 * byte, so its signature was made here and checking it again proves nothing new (an
 * Ed25519 verify is the costliest step of `execute`: ~180 µs here); its key must still be
 * in the keyring. Any other token is verified in full, which names what is wrong with it.
 */
function loadWarrant(ctx: BrokerContext, db: Db, token: string, checkExpiry: boolean): { payload: WarrantPayload; row: WarrantRow } {
  const keyring = ctx.keyring;
  const { payloadB64, kid } = splitWarrant(token);
  const selectRow = prep(db, 'SELECT id, nonce, proposal_id, decision_id, token_hash, status FROM warrants WHERE id = ?');
  const claimed = claimedPayload(payloadB64);
  const recorded = typeof claimed?.wid === 'string' ? (selectRow.get(claimed.wid) as WarrantRow | undefined) : undefined;
  if (recorded !== undefined && recorded.token_hash === sha256Hex(token) && keyring.kids.includes(kid)) {
    const payload = claimed as WarrantPayload;
    // INVARIANT: an expired warrant authorizes nothing.
    if (checkExpiry && !(Date.parse(payload.exp) > ctx.clock.now().getTime())) throw expired(payload);
    return { payload, row: recorded };
  }
  // Not a token this broker recorded: verify it in full for a precise error.
  const { payload } = verifyWarrantWith(
    token,
    { verify: (k, b, s) => keyring.verify(k, b, s), knows: (k) => keyring.kids.includes(k), wasActiveAt: (k, at) => keyring.wasActiveAt(k, at) },
    { clock: ctx.clock, checkExpiry },
  );
  const row = selectRow.get(payload.wid) as WarrantRow | undefined;
  // INVARIANT: a warrant acts only when it is the very token this broker issued and recorded.
  if (
    row === undefined ||
    row.token_hash !== sha256Hex(token) ||
    row.nonce !== payload.nonce ||
    row.proposal_id !== payload.proposalId ||
    row.decision_id !== payload.decisionId
  ) {
    throw notIssued(payload);
  }
  return { payload, row };
}

function requireProposalFor(ctx: BrokerContext, db: Db, payload: WarrantPayload, at: string): { proposal: ProposalRecord; action: ActionSpec } {
  const proposal = readProposal(db, payload.proposalId);
  if (proposal === undefined) throw notIssued(payload);
  const decision = requireAuthorized(db, proposal, at);
  // INVARIANT: the warrant binds this proposal's hash, its latest allow decision, and the catalog action it names.
  const action = ctx.catalog.actions[proposal.action];
  if (
    payload.proposalHash !== proposal.hash ||
    payload.decisionId !== decision.id ||
    payload.action !== proposal.action ||
    payload.targetType !== proposal.resourceType ||
    payload.targetId !== proposal.targetId ||
    payload.tenant !== proposal.tenant ||
    action === undefined ||
    payload.effect !== action.effect
  ) {
    throw new WritError(BrokerErrors.BROKER_DECISION_STALE, `warrant \`${payload.wid}\` no longer matches proposal \`${proposal.id}\``, {
      details: { wid: payload.wid, proposalId: proposal.id },
    });
  }
  return { proposal, action };
}

function targetChanged(payload: WarrantPayload, current: ResourceRecord | undefined): WritError {
  return new WritError(
    BrokerErrors.BROKER_TARGET_CHANGED,
    `\`${payload.targetType}\` \`${payload.targetId}\` is no longer at \`${payload.expectedState ?? '(absent)'}\` version ${payload.expectedVersion}`,
    {
      details: {
        wid: payload.wid,
        expectedState: payload.expectedState,
        expectedVersion: payload.expectedVersion,
        state: current?.state ?? null,
        version: current?.version ?? 0,
      },
    },
  );
}

/** Checks the target is exactly where the warrant expects it, and not locked. */
function requireExpectedTarget(db: Db, payload: WarrantPayload): ResourceRecord | undefined {
  const current = readResource(db, payload.tenant, payload.targetType, payload.targetId);
  // INVARIANT: the target must still be in the expected state and version (else another transition won the race).
  if (payload.expectedState === null) {
    if (current !== undefined || payload.expectedVersion !== 0) throw targetChanged(payload, current);
  } else if (current === undefined || current.state !== payload.expectedState || current.version !== payload.expectedVersion) {
    throw targetChanged(payload, current);
  }
  if (readLock(db, payload.tenant, payload.targetType, payload.targetId) !== null) {
    throw new WritError(BrokerErrors.BROKER_TARGET_BUSY, `an external transition on \`${payload.targetId}\` is in flight`, {
      details: { wid: payload.wid, resourceType: payload.targetType, targetId: payload.targetId },
    });
  }
  return current;
}

/**
 * Applies the catalog transition to the resource `current` (undefined for a create);
 * returns the resource after it, as written.
 */
function applyTransition(
  ctx: BrokerContext,
  db: Db,
  proposal: ProposalRecord,
  action: ActionSpec,
  payload: WarrantPayload,
  at: string,
  current: ResourceRecord | undefined,
): ResourceRecord {
  if (action.create) {
    const type = ctx.catalog.resourceTypes[action.resourceType];
    const attributes: Record<string, ParamValue> = {};
    for (const name of Object.keys(type?.attributes ?? {})) {
      const value = proposal.params[name];
      if (value !== undefined) attributes[name] = value;
    }
    const attributesJson = canonicalJson(attributes);
    prep(db, 'INSERT INTO resources (type, id, tenant, state, version, attributes_json, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?)').run(
      payload.targetType,
      payload.targetId,
      payload.tenant,
      action.to,
      attributesJson,
      at,
      at,
    );
    return { type: payload.targetType, id: payload.targetId, tenant: payload.tenant, state: action.to, version: 1, attributes: JSON.parse(attributesJson), createdAt: at, updatedAt: at };
  }
  if (current === undefined) throw targetChanged(payload, current);
  const attributes: Record<string, ParamValue> = { ...current.attributes };
  for (const name of action.updates) {
    const value = proposal.params[name];
    if (value !== undefined) attributes[name] = value;
  }
  const attributesJson = canonicalJson(attributes);
  // INVARIANT: optimistic check in the write itself: the row changes only at the expected state and version.
  const result = prep(
    db,
    'UPDATE resources SET state = ?, version = version + 1, attributes_json = ?, updated_at = ? WHERE tenant = ? AND type = ? AND id = ? AND state = ? AND version = ?',
  ).run(action.to, attributesJson, at, payload.tenant, payload.targetType, payload.targetId, payload.expectedState, payload.expectedVersion);
  if (result.changes !== 1) throw targetChanged(payload, readResource(db, payload.tenant, payload.targetType, payload.targetId));
  return { ...current, state: action.to, version: (payload.expectedVersion as number) + 1, attributes: JSON.parse(attributesJson), updatedAt: at };
}

function consumeWarrant(db: Db, wid: string, from: 'issued' | 'in_flight', to: 'in_flight' | 'consumed', at: string): void {
  // INVARIANT: single use: the warrant leaves `issued` exactly once (compare-and-set).
  const result = prep(db, 'UPDATE warrants SET status = ?, consumed_at = coalesce(consumed_at, ?) WHERE id = ? AND status = ?').run(to, at, wid, from);
  if (result.changes !== 1) {
    throw new WritError(BrokerErrors.BROKER_WARRANT_CONSUMED, `warrant \`${wid}\` was already used`, { details: { wid } });
  }
}

function readTransition(db: Db, id: string): TransitionRecord {
  return toTransition(prep(db, 'SELECT * FROM transitions WHERE id = ?').get(id) as Record<string, unknown>);
}

/**
 * Executes the transition a warrant authorizes, in one store transaction. For an
 * `external` effect it starts the transition instead: the warrant is used up, the target
 * locked, and the outcome awaits `reportTransition`.
 *
 * @example
 * const { resource } = broker.execute(token, { requestId });
 * resource.state // the action's `to` state
 */
export function execute(ctx: BrokerContext, token: string, options: { requestId?: string; caller?: Principal } = {}): TransitionResult {
  const now = ctx.clock.now();
  const at = now.toISOString();
  return ctx.store.transaction((db) => {
    const { payload, row } = loadWarrant(ctx, db, token, true);
    // INVARIANT: a consumed, in-flight or voided warrant never acts again.
    if (row.status === 'consumed' || row.status === 'in_flight') {
      throw new WritError(BrokerErrors.BROKER_WARRANT_CONSUMED, `warrant \`${payload.wid}\` was already used`, { details: { wid: payload.wid } });
    }
    if (row.status === 'voided') {
      throw new WritError(BrokerErrors.BROKER_WARRANT_VOIDED, `warrant \`${payload.wid}\` was voided`, { details: { wid: payload.wid } });
    }
    const { proposal, action } = requireProposalFor(ctx, db, payload, at);
    const before = requireExpectedTarget(db, payload);
    const tid = newId('trn', now.getTime());
    // The resource's previous transition is part of this one's lineage: "what informed
    // the payout?" reaches the request, its approvals and the context it cited. A target
    // that does not exist has none: every executed or succeeded transition leaves its
    // resource row, and no resource row is ever deleted.
    const previous =
      before === undefined
        ? undefined
        : (prep(
            db,
            "SELECT id FROM transitions WHERE resource_type = ? AND resource_id = ? AND tenant = ? AND status IN ('executed', 'succeeded') ORDER BY id DESC LIMIT 1",
          )
            .pluck()
            .get(payload.targetType, payload.targetId, proposal.tenant) as string | undefined);
    const refs = [payload.wid, payload.decisionId, proposal.id, ...(previous === undefined ? [] : [previous])];
    const external = action.effect === 'external';
    const insert = prep(
      db,
      `INSERT INTO transitions (id, warrant_id, proposal_id, decision_id, tenant, action, resource_type, resource_id, effect, from_state, to_state,
         from_version, to_version, status, request_id, created_at, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    if (external) {
      consumeWarrant(db, payload.wid, 'issued', 'in_flight', at);
      insert.run(tid, payload.wid, proposal.id, payload.decisionId, proposal.tenant, proposal.action, payload.targetType, payload.targetId, action.effect,
        payload.expectedState, action.to, payload.expectedVersion, null, 'started', options.requestId ?? null, at, null);
      prep(db, 'INSERT INTO resource_locks (tenant, resource_type, resource_id, transition_id, created_at) VALUES (?, ?, ?, ?, ?)').run(payload.tenant, payload.targetType, payload.targetId, tid, at);
      ctx.ledger.append({
        kind: 'transition.started',
        subjectId: tid,
        tenant: proposal.tenant,
        actorId: options.caller?.id ?? null,
        requestId: options.requestId ?? null,
        refs,
        body: { action: proposal.action, effect: action.effect, fromState: payload.expectedState, fromVersion: payload.expectedVersion, targetId: payload.targetId,
          targetType: payload.targetType, toState: action.to, transitionId: tid, warrantId: payload.wid },
      });
      return { transition: readTransition(db, tid), resource: before ?? null, proposal: readProposal(db, proposal.id) as ProposalRecord };
    }
    const after = applyTransition(ctx, db, proposal, action, payload, at, before);
    consumeWarrant(db, payload.wid, 'issued', 'consumed', at);
    insert.run(tid, payload.wid, proposal.id, payload.decisionId, proposal.tenant, proposal.action, payload.targetType, payload.targetId, action.effect,
      payload.expectedState, action.to, payload.expectedVersion, after.version, 'executed', options.requestId ?? null, at, at);
    moveProposal(db, proposal.id, 'authorized', 'executed', at);
    ctx.ledger.append({
      kind: 'transition.executed',
      subjectId: tid,
      tenant: proposal.tenant,
      actorId: options.caller?.id ?? null,
      requestId: options.requestId ?? null,
      refs,
      // Keys in RFC 8785 order (a rollback note, when there is one, comes between them).
      body: { action: proposal.action, effect: action.effect, fromState: payload.expectedState, fromVersion: payload.expectedVersion,
        ...(action.effect === 'irreversible' ? { rollbackNote: action.rollbackNote ?? null } : {}),
        targetId: payload.targetId, targetType: payload.targetType, toState: after.state, toVersion: after.version, transitionId: tid, warrantId: payload.wid },
    });
    // The records as just written (read back, they are equal: a test checks it).
    const transition: TransitionRecord = {
      id: tid,
      warrantId: payload.wid,
      proposalId: proposal.id,
      decisionId: payload.decisionId,
      tenant: proposal.tenant,
      action: proposal.action,
      resourceType: payload.targetType,
      resourceId: payload.targetId,
      effect: action.effect,
      fromState: payload.expectedState,
      toState: action.to,
      fromVersion: payload.expectedVersion,
      toVersion: after.version,
      status: 'executed',
      detail: null,
      requestId: options.requestId ?? null,
      createdAt: at,
      completedAt: at,
    };
    return { transition, resource: after, proposal: { ...proposal, status: 'executed', updatedAt: at } };
  });
}

export const TransitionReportSchema = z
  .object({
    outcome: z.enum(['succeeded', 'failed']),
    /** What the executor did or saw (JSON, at most 10,000 characters). */
    detail: z.unknown().optional(),
  })
  .strict();
export type TransitionReport = z.input<typeof TransitionReportSchema>;

/**
 * Reports the outcome of an external transition started by `execute`, authenticated by
 * the same warrant token (its signature; the report may come after the warrant's
 * expiry). `succeeded` applies the catalog transition and executes the proposal;
 * `failed` leaves the target unchanged and fails the proposal. Reported once.
 */
export function reportTransition(ctx: BrokerContext, token: string, report: TransitionReport, options: { requestId?: string; caller?: Principal } = {}): TransitionResult {
  const { outcome, detail } = parseInput(TransitionReportSchema, report, 'transition report');
  const detailJson = detail === undefined ? null : canonicalJson(detail);
  if (detailJson !== null && detailJson.length > 10_000) {
    const message = 'at most 10000 characters of JSON';
    throw new WritError(CoreErrors.INVALID_INPUT, `invalid transition report: \`detail\`: ${message}`, { details: { issues: [{ path: 'detail', code: 'too_big', message }] } });
  }
  const at = ctx.clock.now().toISOString();
  return ctx.store.transaction((db) => {
    const { payload, row } = loadWarrant(ctx, db, token, false);
    const started = prep(db, "SELECT * FROM transitions WHERE warrant_id = ? AND status = 'started'").get(payload.wid) as Record<string, unknown> | undefined;
    // INVARIANT: only a started external transition is reported, and only once.
    if (row.status !== 'in_flight' || started === undefined) {
      throw new WritError(BrokerErrors.BROKER_TRANSITION_NOT_IN_FLIGHT, `warrant \`${payload.wid}\` has no external transition in flight`, {
        details: { wid: payload.wid, status: row.status },
      });
    }
    const transition = toTransition(started);
    const proposal = readProposal(db, payload.proposalId) as ProposalRecord;
    const action = ctx.catalog.actions[proposal.action] as ActionSpec;
    prep(db, 'DELETE FROM resource_locks WHERE transition_id = ?').run(transition.id);
    consumeWarrant(db, payload.wid, 'in_flight', 'consumed', at);
    const refs = [payload.wid, payload.decisionId, proposal.id];
    let resource: ResourceRecord | null;
    if (outcome === 'succeeded') {
      resource = applyTransition(ctx, db, proposal, action, payload, at, readResource(db, payload.tenant, payload.targetType, payload.targetId));
      prep(db, "UPDATE transitions SET status = 'succeeded', to_version = ?, detail_json = ?, completed_at = ? WHERE id = ?").run(resource.version, detailJson, at, transition.id);
      moveProposal(db, proposal.id, 'authorized', 'executed', at);
    } else {
      resource = readResource(db, payload.tenant, payload.targetType, payload.targetId) ?? null;
      prep(db, "UPDATE transitions SET status = 'failed', detail_json = ?, completed_at = ? WHERE id = ?").run(detailJson, at, transition.id);
      moveProposal(db, proposal.id, 'authorized', 'failed', at);
    }
    ctx.ledger.append({
      kind: outcome === 'succeeded' ? 'transition.executed' : 'transition.failed',
      subjectId: transition.id,
      tenant: proposal.tenant,
      actorId: options.caller?.id ?? null,
      requestId: options.requestId ?? null,
      refs,
      body: { transitionId: transition.id, warrantId: payload.wid, reported: true, outcome, detail: (detail ?? null) as JsonValue,
        targetType: payload.targetType, targetId: payload.targetId, fromState: payload.expectedState, toState: resource?.state ?? null,
        toVersion: resource?.version ?? null, effect: action.effect },
    });
    return { transition: readTransition(db, transition.id), resource, proposal: readProposal(db, proposal.id) as ProposalRecord };
  });
}

/** The tenant's resource of that type and id, or undefined. */
export function getResource(ctx: BrokerContext, tenant: string, type: string, id: string): ResourceRecord | undefined {
  return readResource(ctx.store.db, tenant, type, id);
}
