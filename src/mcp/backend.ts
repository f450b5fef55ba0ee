// What the MCP tools call: one agent's view of Writ, either a local Writ home (in-process
// app) or a running server over HTTP. Both act as the key's principal only, and read it
// afresh for every call: a revoked key, a disabled principal or a withdrawn group takes
// effect at once, as it does over HTTP.
import { newId, parseInput, WritError, type Principal } from '../core/index.js';
import { BrokerErrors, type Catalog } from '../broker/index.js';
import type { WritApp } from '../app.js';
import type { RetrievalResult } from '../retrieval/index.js';
import { ProposalStatusToolInputSchema, ProposeToolInputSchema, RetrieveToolInputSchema, type ProposalStatusToolInput, type ProposeToolInput, type RetrieveToolInput } from './tools.js';

/** Who the MCP server acts as, and the session it opened for this agent run. */
export interface McpIdentity {
  readonly principalId: string;
  readonly kind: string;
  readonly tenant: string;
  readonly sessionId: string;
}

/** The operations behind the tools. Results are plain JSON. */
export interface McpBackend {
  readonly identity: McpIdentity;
  /** The catalog's actions, to tell the agent what it may propose (when known). */
  readonly actions?: Catalog['actions'] | undefined;
  retrieve(input: unknown): Promise<RetrievalResult & { sessionId: string }>;
  propose(input: unknown): Promise<{ proposal: unknown; decision: unknown }>;
  proposalStatus(input: unknown): Promise<{ proposal: unknown; decision: unknown; approvals: unknown }>;
  close(): Promise<void>;
}

/** Lifetime of the session an MCP server opens for its agent run (the broker's maximum is 24 h). */
export const MCP_SESSION_TTL_MS = 8 * 3600_000;

/**
 * A backend over an in-process app: authenticates `key`, then opens one session for the
 * agent run. The session is not ended on close: ending it would void proposals still
 * waiting for a person's approval; it expires on its own.
 */
export function createLocalBackend(app: WritApp, key: string): McpBackend {
  // INVARIANT: the principal comes from the key; no tool input names an actor. It is read
  // again for every call (never a copy from start-up), so its current groups, roles and
  // status are what retrieval filters by and what the broker checks.
  const caller = (): Principal => app.authenticate(key);
  const principal = caller();
  const session = app.broker.createSession(principal, { ttlMs: MCP_SESSION_TTL_MS }, { requestId: newId('req') });
  const identity: McpIdentity = { principalId: principal.id, kind: principal.kind, tenant: principal.tenant, sessionId: session.id };

  return {
    identity,
    actions: app.catalog.actions,
    async retrieve(input) {
      const q: RetrieveToolInput = parseInput(RetrieveToolInputSchema, input, 'retrieve');
      const sessionId = q.sessionId ?? session.id;
      const result = await app.retrieve(caller(), { ...q, sessionId, requestId: newId('req') });
      return { ...result, sessionId };
    },
    async propose(input) {
      const p: ProposeToolInput = parseInput(ProposeToolInputSchema, input, 'proposal');
      const requestId = newId('req');
      // One transaction; an idempotent retry returns the proposal as decided before.
      const { proposal, decision } = app.broker.proposeAndDecide(caller(), { ...p, sessionId: p.sessionId ?? session.id }, { requestId });
      return { proposal, decision };
    },
    async proposalStatus(input) {
      const { proposalId }: ProposalStatusToolInput = parseInput(ProposalStatusToolInputSchema, input, 'proposal status');
      // A proposal of another tenant, or (for an agent) another principal's, is reported as
      // missing: its existence is not ours to learn. The same rule as GET /v1/proposals/:id.
      const who = caller();
      const proposal = app.broker.getProposal(proposalId, who.tenant);
      if (proposal === undefined || (who.kind === 'agent' && proposal.actorId !== who.id && proposal.onBehalfOf !== who.id)) {
        throw new WritError(BrokerErrors.BROKER_PROPOSAL_NOT_FOUND, `proposal \`${proposalId}\` does not exist`, { details: { proposalId } });
      }
      const decision = proposal.decisionId === null ? null : (app.broker.getDecision(proposal.decisionId) ?? null);
      return { proposal, decision, approvals: app.broker.listApprovals(proposal.id) };
    },
    async close() {},
  };
}
