// Issues warrants: only for an authorized proposal whose decision still matches the
// proposal and its target, and only to the proposal's actor, its on-behalf-of principal
// or a service of its tenant. The token is returned once; the store keeps only its hash.
import { WritError, newId, randomBase64url, sha256Hex, type JsonValue, type Principal } from '../core/index.js';
import type { Db } from '../store/index.js';
import type { BrokerContext } from './context.js';
import { BrokerErrors } from './errors.js';
import { expireIfWaitedTooLong } from './expiry.js';
import { contentOf, sealProposal } from './proposals.js';
import { disabledParties, maySeeProposal, readParties, requireCallerRecord, type PrincipalRecord } from './principals.js';
import { prep, readDecisionHead, readLock, readProposal, readResource, type DecisionHead, type ProposalRecord } from './records.js';
import { requireLiveSession, requireOpenSession } from './sessions.js';
import { signWarrant, type WarrantPayload } from './warrant.js';

/** A freshly issued warrant. `token` is shown once and never stored. */
export interface IssuedWarrant {
  readonly warrantId: string;
  readonly token: string;
  readonly kid: string;
  readonly payload: WarrantPayload;
}

function stale(proposal: ProposalRecord, why: string): WritError {
  return new WritError(BrokerErrors.BROKER_DECISION_STALE, `decision of proposal \`${proposal.id}\` is stale: ${why}`, {
    details: { proposalId: proposal.id, decisionId: proposal.decisionId, why },
  });
}

/**
 * Checks that `proposal` is authorized by a decision that still holds: the proposal's
 * content still matches its seal, the decision allowed this exact hash, its session was
 * neither ended nor revoked. Shared by issuing and executing. `known` is a principal this
 * transaction has already read (the caller).
 *
 * A session's time limit bounds the agent's run, not the people's part: a proposal
 * approved after the run's time is up may still be carried out by the principal it acts
 * for or a service of the tenant (`issueWarrant` refuses the agent itself), and a warrant
 * already issued lives out its own lifetime. Ending or revoking the session voids both.
 */
export function requireAuthorized(db: Db, proposal: ProposalRecord, at: string, known?: PrincipalRecord): DecisionHead {
  // INVARIANT: only an authorized proposal gets (or uses) a warrant.
  if (proposal.status !== 'authorized') {
    throw new WritError(BrokerErrors.BROKER_PROPOSAL_WRONG_STATUS, `proposal \`${proposal.id}\` is \`${proposal.status}\`, not \`authorized\``, {
      details: { proposalId: proposal.id, status: proposal.status },
    });
  }
  // INVARIANT: the stored proposal still matches its seal; an edited row authorizes nothing.
  if (sealProposal(contentOf(proposal)) !== proposal.hash) throw stale(proposal, 'the proposal no longer matches its seal');
  const decision = proposal.decisionId === null ? undefined : readDecisionHead(db, proposal.decisionId);
  // INVARIANT: the latest decision allowed exactly this proposal hash.
  if (decision === undefined || decision.outcome !== 'allow' || decision.proposalHash !== proposal.hash) {
    throw stale(proposal, 'no allow decision for the current proposal hash');
  }
  if (proposal.sessionId !== null) requireOpenSession(db, proposal.sessionId);
  // INVARIANT: authority lapses when the actor or the principal it acts for is disabled.
  const disabled = disabledParties(proposal, readParties(db, proposal, known));
  if (disabled.length > 0) {
    throw new WritError(BrokerErrors.BROKER_PRINCIPAL_DISABLED, `principal \`${disabled[0]}\` is disabled`, { details: { principalId: disabled[0] } });
  }
  return decision;
}

/**
 * Issues a single-use warrant for an authorized proposal.
 *
 * @example
 * const { token } = broker.issueWarrant(agent, proposal.id);
 * broker.execute(token);
 */
export function issueWarrant(ctx: BrokerContext, caller: Principal, proposalId: string, options: { requestId?: string } = {}): IssuedWarrant {
  const now = ctx.clock.now();
  const at = now.toISOString();
  const outcome = ctx.store.transaction((db): IssuedWarrant | { expired: WritError } => {
    const stored = requireCallerRecord(db, caller);
    const who = stored.principal;
    const proposal = readProposal(db, proposalId);
    // INVARIANT: another tenant's proposal, or one an agent caller may not see, is refused
    // exactly as an unknown id: its existence is not the caller's to learn.
    if (proposal === undefined || !maySeeProposal(who, proposal)) {
      throw new WritError(BrokerErrors.BROKER_PROPOSAL_NOT_FOUND, `proposal \`${proposalId}\` does not exist`, { details: { proposalId } });
    }
    // INVARIANT: a warrant goes only to the proposal's actor, the principal it acts for, or a service of its tenant.
    if (who.id !== proposal.actorId && who.id !== proposal.onBehalfOf && who.kind !== 'service') {
      throw new WritError(BrokerErrors.BROKER_WARRANT_FORBIDDEN, `principal \`${who.id}\` may not obtain a warrant for proposal \`${proposal.id}\``, {
        details: { principalId: who.id, proposalId: proposal.id },
      });
    }
    const expired = expireIfWaitedTooLong(ctx, db, proposal, at, options.requestId ?? null);
    if (expired !== undefined) return { expired };
    // INVARIANT: an agent obtains warrants only within its session's time limit.
    if (proposal.sessionId !== null && who.kind === 'agent') requireLiveSession(db, proposal.sessionId, at);
    const decision = requireAuthorized(db, proposal, at, stored);
    if (Date.parse(decision.createdAt) + ctx.config.authorizationTtlMs <= now.getTime()) {
      throw stale(proposal, 'the authorization is older than `authorizationTtlMs`');
    }
    const action = ctx.catalog.actions[proposal.action];
    if (action === undefined) throw stale(proposal, `the catalog no longer has action \`${proposal.action}\``);
    const resource = readResource(db, proposal.tenant, proposal.resourceType, proposal.targetId);
    const seen = decision.target;
    // INVARIANT: the warrant binds the target exactly as the decision saw it.
    if (action.create) {
      if (resource !== undefined || seen.exists) throw stale(proposal, 'the target now exists');
    } else if (
      resource === undefined ||
      resource.state !== seen.state ||
      resource.version !== seen.version ||
      !action.from.includes(resource.state)
    ) {
      throw stale(proposal, 'the target changed since the decision');
    }
    if (readLock(db, proposal.tenant, proposal.resourceType, proposal.targetId) !== null) {
      throw new WritError(BrokerErrors.BROKER_TARGET_BUSY, `an external transition on \`${proposal.targetId}\` is in flight`, {
        details: { resourceType: proposal.resourceType, targetId: proposal.targetId },
      });
    }
    const wid = newId('wrt', now.getTime());
    // Keys in RFC 8785 order, as in WarrantPayloadSchema.
    const payload: WarrantPayload = {
      action: proposal.action,
      decisionId: decision.id,
      effect: action.effect,
      exp: new Date(now.getTime() + ctx.config.warrantTtlMs).toISOString(),
      expectedState: resource?.state ?? null,
      expectedVersion: resource?.version ?? 0,
      iat: at,
      nonce: randomBase64url(16),
      proposalHash: proposal.hash,
      proposalId: proposal.id,
      targetId: proposal.targetId,
      targetType: proposal.resourceType,
      tenant: proposal.tenant,
      v: 1,
      wid,
    };
    const kid = ctx.keyring.activeKid;
    const token = signWarrant(payload, (bytes) => ctx.keyring.sign(bytes), kid);
    prep(
      db,
      `INSERT INTO warrants (id, nonce, proposal_id, decision_id, kid, token_hash, payload_json, status, issued_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'issued', ?, ?)`,
    ).run(wid, payload.nonce, proposal.id, decision.id, kid, sha256Hex(token), JSON.stringify(payload), at, payload.exp);
    ctx.ledger.append({
      kind: 'warrant.issued',
      subjectId: wid,
      tenant: proposal.tenant,
      actorId: who.id,
      requestId: options.requestId ?? null,
      refs: [decision.id, proposal.id],
      body: { kid, payload: payload as unknown as JsonValue, warrantId: wid },
    });
    return { warrantId: wid, token, kid, payload };
  });
  // Thrown after the commit, so the expiry it reports stays recorded.
  if ('expired' in outcome) throw outcome.expired;
  return outcome;
}
