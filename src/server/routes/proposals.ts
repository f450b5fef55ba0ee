// Proposal routes: propose (and decide at once), list and read, decide again, approve,
// reject, and obtain a warrant. The caller is always the authenticated principal.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { WritError, type Principal } from '../../core/index.js';
import { BrokerErrors, ProposalStatusSchema, ProposeInputSchema, type ProposalRecord } from '../../broker/index.js';
import type { WritApp } from '../../app.js';
import { maySeeProposal } from '../auth.js';
import { ApprovalSchema, AUTH_ERRORS, DecisionSchema, ErrorSchema, IdParamsSchema, ProposalSchema, WarrantPayloadSchema, render } from '../schemas.js';

const ProposeBodySchema = ProposeInputSchema.describe(
  'what the caller intends; the actor is the authenticated caller and on-behalf-of comes from the session — a body field naming either is refused',
);

const ProposeResultSchema = z.object({
  proposal: ProposalSchema,
  decision: DecisionSchema.nullable().describe('the decision taken at once (null only for an idempotent retry of a proposal that was never decided)'),
});

const ListQuerySchema = z
  .object({
    status: ProposalStatusSchema.optional(),
    sessionId: z.string().min(1).max(200).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

const ProposalDetailSchema = z.object({
  proposal: ProposalSchema,
  decision: DecisionSchema.nullable().describe('the latest decision'),
  decisions: z.array(DecisionSchema).describe('every decision taken for the proposal, oldest first'),
  approvals: z.array(ApprovalSchema),
});

const ApproveBodySchema = z.object({ note: z.string().max(2000).optional() }).strict();
const RejectBodySchema = z.object({ reason: z.string().min(1).max(2000) }).strict();

const ApproveResultSchema = z.object({ approval: ApprovalSchema, decision: DecisionSchema, proposal: ProposalSchema });

const WarrantResultSchema = z.object({
  warrantId: z.string(),
  token: z.string().describe('the signed warrant `payload.kid.signature`; shown once, pass it to `POST /v1/transitions`'),
  kid: z.string(),
  payload: WarrantPayloadSchema,
});

export const proposalRoutes: FastifyPluginAsync<{ app: WritApp }> = async (server, { app }) => {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  const rid = (request: FastifyRequest) => String(request.id);

  /**
   * A proposal the caller may see (`maySeeProposal`), or BROKER_PROPOSAL_NOT_FOUND: another
   * tenant's, or another principal's for an agent, is reported missing, so its existence is
   * not the caller's to learn.
   */
  const proposalOf = (who: Principal, id: string): ProposalRecord => {
    const proposal = app.broker.getProposal(id, who.tenant);
    if (proposal === undefined || !maySeeProposal(who, proposal)) throw new WritError(BrokerErrors.BROKER_PROPOSAL_NOT_FOUND, `proposal \`${id}\` does not exist`, { details: { proposalId: id } });
    return proposal;
  };

  typed.post(
    '/v1/proposals',
    {
      schema: {
        tags: ['proposals'],
        summary: 'Propose a transition and decide it at once',
        description:
          'Normalized, sealed and checked against the catalog, then decided by policy: `allow` (authorized), `deny`, or `needs_approval`. ' +
          'A deny is a result (201 with `decision.outcome: deny`), not an error. Agents must propose within a session.',
        security: [{ bearer: [] }],
        body: ProposeBodySchema,
        response: { 201: ProposeResultSchema, 200: ProposeResultSchema, ...AUTH_ERRORS, 409: ErrorSchema },
      },
    },
    async (request, reply) => {
      // One transaction, grouped with the other writes in flight (one commit per turn). An
      // idempotent retry of a proposal already decided answers 200 with what was decided. A
      // refusal comes back as a value, its record (if any) committed with the group, and is
      // thrown once committed; the job throws only if the database fails, so it needs no
      // savepoint of its own (which cost ~10% of a decide: SQLite journals every page it touches).
      const outcome = await app.commits.run(
        (db) => app.broker.proposeAndDecideIn(db, request.principal, request.body, { requestId: rid(request) }),
        { savepoint: false },
      );
      if ('error' in outcome) throw outcome.error;
      const { proposal, decision, decidedNow } = outcome;
      return reply.status(decidedNow ? 201 : 200).send(render({ proposal, decision }));
    },
  );

  typed.get(
    '/v1/proposals',
    {
      schema: {
        tags: ['proposals'],
        summary: "Proposals of the caller's tenant, newest first (an agent: only its own)",
        description: 'Users and services list the proposals of their tenant; an agent lists only the proposals it made (a session that is not its own lists nothing).',
        security: [{ bearer: [] }],
        querystring: ListQuerySchema,
        response: { 200: z.object({ proposals: z.array(ProposalSchema) }), ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const who = request.principal;
      const { status, sessionId, limit } = request.query;
      // INVARIANT: an agent's list holds only its own proposals (`maySeeProposal`), filtered in
      // the query so a page is full, not a tenant page thinned out.
      const proposals = app.broker.listProposals({
        tenant: who.tenant,
        limit,
        ...(who.kind === 'agent' ? { actorId: who.id } : {}),
        ...(status === undefined ? {} : { status }),
        ...(sessionId === undefined ? {} : { sessionId }),
      });
      return render({ proposals });
    },
  );

  typed.get(
    '/v1/proposals/:id',
    {
      schema: {
        tags: ['proposals'],
        summary: 'A proposal with its decisions and approvals',
        description: "Visible to people and services of its tenant, and to the agent that proposed it; anyone else gets 404.",
        security: [{ bearer: [] }],
        params: IdParamsSchema,
        response: { 200: ProposalDetailSchema, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const proposal = proposalOf(request.principal, request.params.id);
      const decisions = app.ledger
        .entriesReferencing(proposal.id)
        .filter((e) => e.kind === 'decision.made')
        .map((e) => app.broker.getDecision(e.subjectId))
        .filter((d) => d !== undefined && d.proposalId === proposal.id);
      return render({
        proposal,
        decision: proposal.decisionId === null ? null : (app.broker.getDecision(proposal.decisionId) ?? null),
        decisions,
        approvals: app.broker.listApprovals(proposal.id),
      });
    },
  );

  typed.post(
    '/v1/proposals/:id/decide',
    {
      schema: {
        tags: ['proposals'],
        summary: 'Decide a proposed or pending proposal again (e.g. after its facts changed)',
        description: 'Open to whoever may see the proposal (see `GET /v1/proposals/{id}`).',
        security: [{ bearer: [] }],
        params: IdParamsSchema,
        response: { 200: DecisionSchema, ...AUTH_ERRORS, 409: ErrorSchema },
      },
    },
    async (request) => {
      // The broker's decide takes no caller: the tenant check is made here.
      const proposal = proposalOf(request.principal, request.params.id);
      return render(app.broker.decide(proposal.id, { requestId: rid(request), actorId: request.principal.id }));
    },
  );

  typed.post(
    '/v1/proposals/:id/approve',
    {
      schema: {
        tags: ['proposals'],
        summary: 'Approve a pending proposal as the caller',
        description:
          'Only a human user holding a role a pending obligation names, and never the proposer or the principal it acts for. ' +
          'Roles come from the stored principal; agents get 403 (404 for a proposal they may not see, as for an unknown id). The proposal is decided again after the approval.',
        security: [{ bearer: [] }],
        params: IdParamsSchema,
        body: ApproveBodySchema.nullish(),
        response: { 200: ApproveResultSchema, ...AUTH_ERRORS, 409: ErrorSchema },
      },
    },
    async (request) => {
      const input = request.body?.note === undefined ? {} : { note: request.body.note };
      return render(app.broker.approve(request.principal, request.params.id, input, { requestId: rid(request) }));
    },
  );

  typed.post(
    '/v1/proposals/:id/reject',
    {
      schema: {
        tags: ['proposals'],
        summary: 'Reject a pending proposal as the caller (same rules as approving)',
        security: [{ bearer: [] }],
        params: IdParamsSchema,
        body: RejectBodySchema,
        response: { 200: z.object({ proposal: ProposalSchema }), ...AUTH_ERRORS, 409: ErrorSchema },
      },
    },
    async (request) => render({ proposal: app.broker.reject(request.principal, request.params.id, request.body.reason, { requestId: rid(request) }) }),
  );

  typed.post(
    '/v1/proposals/:id/warrant',
    {
      schema: {
        tags: ['proposals'],
        summary: 'Issue a single-use warrant for an authorized proposal',
        description: "Only to the proposal's actor, the principal it acts for, or a service of its tenant. An agent that may not see the proposal gets 404, as for an unknown id.",
        security: [{ bearer: [] }],
        params: IdParamsSchema,
        response: { 201: WarrantResultSchema, ...AUTH_ERRORS, 409: ErrorSchema },
      },
    },
    async (request, reply) => reply.status(201).send(render(app.broker.issueWarrant(request.principal, request.params.id, { requestId: rid(request) }))),
  );
};
