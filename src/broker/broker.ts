// The broker facade: builds the context once (options checked here, not on first use)
// and exposes the operations bound to it.
import { WritError, nowIso, systemClock, toInputIssues, type Clock, type InputIssue, type Principal } from '../core/index.js';
import type { Ledger } from '../ledger/types.js';
import type { Db, Store } from '../store/index.js';
import { approve, listApprovals, reject } from './approvals.js';
import type { Catalog } from './catalog.js';
import { BrokerConfigSchema, type BrokerConfigInput } from './config.js';
import type { BrokerContext, DecisionEngine, WarrantKeyring } from './context.js';
import { recordPolicySetActivation } from './policy-activation.js';
import { decide, getDecision, proposeAndDecide, proposeAndDecideIn } from './decisions.js';
import { createTaintTextCache } from './taint.js';
import { BrokerErrors } from './errors.js';
import type { EvidenceReader } from './evidence.js';
import { expireStale } from './expiry.js';
import { computeFacts } from './facts.js';
import { getPrincipal, listPrincipals, readParties, readPrincipal, upsertPrincipal } from './principals.js';
import { getProposal, listProposals, propose, type ProposeInput } from './proposals.js';
import { readProposal, readSession, type SessionRecord } from './records.js';
import { chargeSession, chargeSessionIn, checkSessionCharge, createSession, endSession, revokeSession, type CreateSessionInput, type SessionCharge } from './sessions.js';
import { execute, getResource, reportTransition, type TransitionReport } from './transitions.js';
import { issueWarrant } from './warrant-issue.js';

export interface BrokerOptions {
  /** An open store whose migrations include `brokerMigrations` (and the ledger's). */
  readonly store: Store;
  readonly ledger: Ledger;
  readonly catalog: Catalog;
  readonly policyEngine: DecisionEngine;
  readonly evidenceReader: EvidenceReader;
  /** A keyring of purpose `warrant`. */
  readonly warrantKeyring: WarrantKeyring;
  readonly clock?: Clock;
  readonly config?: BrokerConfigInput;
}

const REQUIRED_TABLES = ['principals', 'sessions', 'resources', 'proposals', 'decisions', 'approvals', 'warrants', 'transitions', 'resource_locks'];

function checkOptions(options: BrokerOptions): InputIssue[] {
  const issues: InputIssue[] = [];
  const need = (ok: boolean, path: string, message: string) => {
    if (!ok) issues.push({ path, code: 'invalid_option', message });
  };
  const o = (options ?? {}) as Partial<BrokerOptions>;
  need(typeof o.store?.transaction === 'function' && o.store?.db !== undefined, 'store', 'pass an open store');
  need(typeof o.ledger?.append === 'function', 'ledger', 'pass a ledger with `append`');
  need(typeof o.catalog?.actions === 'object' && typeof o.catalog?.resourceTypes === 'object', 'catalog', 'pass a catalog from `defineCatalog` or `loadCatalogFile`');
  need(typeof o.policyEngine?.decide === 'function', 'policyEngine', 'pass a policy engine with `decide`');
  need(typeof o.evidenceReader?.getEvidence === 'function', 'evidenceReader', 'pass an evidence reader with `getEvidence`');
  need(typeof o.warrantKeyring?.sign === 'function' && typeof o.warrantKeyring?.verify === 'function', 'warrantKeyring', 'pass a keyring with `sign` and `verify`');
  const purpose = (o.warrantKeyring as { purpose?: string } | undefined)?.purpose;
  need(purpose === undefined || purpose === 'warrant', 'warrantKeyring', `the warrant keyring must have purpose \`warrant\`, not \`${purpose}\``);
  if (o.store?.db !== undefined) {
    const have = new Set((o.store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name));
    const missing = REQUIRED_TABLES.filter((t) => !have.has(t));
    need(missing.length === 0, 'store', `broker tables missing (${missing.join(', ')}): open the store with \`brokerMigrations\``);
  }
  return issues;
}

/**
 * Creates the broker. Throws BROKER_CONFIG_INVALID listing every problem with the options.
 *
 * @example
 * const broker = createBroker({ store, ledger, catalog, policyEngine, evidenceReader, warrantKeyring });
 * const p = broker.propose(agent, { sessionId, action: 'refund.approve', targetId: 'r-1', params: {}, basis: [] });
 * const d = broker.decide(p.id);
 * if (d.outcome === 'allow') broker.execute(broker.issueWarrant(agent, p.id).token);
 */
export function createBroker(options: BrokerOptions) {
  const issues = checkOptions(options);
  const config = BrokerConfigSchema.safeParse(options?.config ?? {});
  if (!config.success) issues.push(...toInputIssues(config.error.issues).map((i) => ({ ...i, path: `config.${i.path}` })));
  if (issues.length > 0 || !config.success) {
    const list = issues.map((i) => `\`${i.path}\`: ${i.message}`).join('; ');
    throw new WritError(BrokerErrors.BROKER_CONFIG_INVALID, `invalid broker options: ${list}`, { details: { issues } });
  }
  const ctx: BrokerContext = Object.freeze({
    store: options.store,
    ledger: options.ledger,
    catalog: options.catalog,
    policyEngine: options.policyEngine,
    evidence: options.evidenceReader,
    keyring: options.warrantKeyring,
    clock: options.clock ?? systemClock,
    config: Object.freeze(config.data),
    taintTexts: createTaintTextCache(config.data.taintCacheChars),
  });

  return Object.freeze({
    /** The parsed, frozen config. */
    config: ctx.config,
    catalog: ctx.catalog,
    upsertPrincipal: (principal: unknown, opts?: { disabled?: boolean; requestId?: string }) => upsertPrincipal(ctx, principal, opts),
    getPrincipal: (id: string) => getPrincipal(ctx, id),
    /** True when the principal is registered and not disabled. */
    isPrincipalEnabled: (id: string) => readPrincipal(ctx.store.db, id)?.disabled === false,
    /** The principal with its `disabled` flag, in one read, or undefined. */
    getPrincipalRecord: (id: string) => readPrincipal(ctx.store.db, id),
    /** Every registered principal with its `disabled` flag, by id. */
    listPrincipals: () => listPrincipals(ctx.store.db),
    createSession: (actor: Principal, input: CreateSessionInput, opts?: { requestId?: string }) => createSession(ctx, actor, input, opts),
    getSession: (id: string) => readSession(ctx.store.db, id),
    endSession: (caller: Principal, sessionId: string, opts?: { reason?: string; requestId?: string }) => endSession(ctx, caller, sessionId, opts),
    revokeSession: (caller: Principal, sessionId: string, opts?: { reason?: string; requestId?: string }) => revokeSession(ctx, caller, sessionId, opts),
    chargeSession: (sessionId: string, charge: SessionCharge) => chargeSession(ctx, sessionId, charge),
    /** Charges a session inside the caller's transaction (all or nothing, as `chargeSession`). */
    chargeSessionIn: (db: Db, sessionId: string, charge: SessionCharge) => chargeSessionIn(db, sessionId, charge, nowIso(ctx.clock)),
    /** Throws what `chargeSession` would for a session as just read, without charging. */
    checkSessionCharge: (session: SessionRecord, charge: SessionCharge) => checkSessionCharge(ctx, session, charge),
    propose: (caller: Principal, input: ProposeInput | unknown, opts?: { requestId?: string }) => propose(ctx, caller, input, opts),
    getProposal: (id: string, tenant?: string) => getProposal(ctx, id, tenant),
    listProposals: (filter?: Parameters<typeof listProposals>[1]) => listProposals(ctx, filter),
    /** The facts policy would see for a proposal now (read-only). */
    computeFacts: (proposalId: string) => {
      const p = readProposal(ctx.store.db, proposalId);
      return p === undefined ? undefined : computeFacts(ctx, ctx.store.db, p, ctx.clock.now().toISOString(), readParties(ctx.store.db, p));
    },
    decide: (proposalId: string, opts?: { requestId?: string; actorId?: string }) => decide(ctx, proposalId, opts),
    /**
     * Records the policy set as activated now, unless the ledger's newest activation is this
     * one (each decision checks the same): a server calls it at start, so the record comes
     * before any request's entries.
     */
    recordPolicySetActivation: () => ctx.store.transaction((db) => recordPolicySetActivation(ctx, db)),
    /** `propose` then `decide` in one transaction (what `POST /v1/proposals` does). */
    proposeAndDecide: (caller: Principal, input: ProposeInput | unknown, opts?: { requestId?: string }) => proposeAndDecide(ctx, caller, input, opts),
    /** `proposeAndDecide` in the caller's transaction, its refusal returned (throw it after the commit). */
    proposeAndDecideIn: (db: Db, caller: Principal, input: ProposeInput | unknown, opts?: { requestId?: string }) => proposeAndDecideIn(ctx, db, caller, input, opts),
    getDecision: (id: string) => getDecision(ctx, id),
    approve: (caller: Principal, proposalId: string, input?: { note?: string }, opts?: { requestId?: string }) => approve(ctx, caller, proposalId, input, opts),
    reject: (caller: Principal, proposalId: string, reason: string, opts?: { requestId?: string }) => reject(ctx, caller, proposalId, reason, opts),
    listApprovals: (proposalId: string) => listApprovals(ctx, proposalId),
    issueWarrant: (caller: Principal, proposalId: string, opts?: { requestId?: string }) => issueWarrant(ctx, caller, proposalId, opts),
    execute: (token: string, opts?: { requestId?: string; caller?: Principal }) => execute(ctx, token, opts),
    reportTransition: (token: string, report: TransitionReport, opts?: { requestId?: string; caller?: Principal }) => reportTransition(ctx, token, report, opts),
    getResource: (tenant: string, type: string, id: string) => getResource(ctx, tenant, type, id),
    expireStale: (opts?: { requestId?: string }) => expireStale(ctx, opts),
    /** The warrant keyring's public keys, for offline verification. */
    publicJwks: () => ctx.keyring.publicJwks(),
  });
}

/** The broker `createBroker` returns. */
export type Broker = ReturnType<typeof createBroker>;
