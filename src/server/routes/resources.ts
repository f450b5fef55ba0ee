// Read routes for the broker's state: a resource (state, version, attributes) and a
// decision (with the facts policy saw and the policies that determined it).
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { WritError } from '../../core/index.js';
import { BrokerErrors } from '../../broker/index.js';
import type { WritApp } from '../../app.js';
import { maySeeProposal } from '../auth.js';
import { ServerErrors } from '../errors.js';
import { AUTH_ERRORS, DecisionSchema, IdParamsSchema, ResourceSchema, render } from '../schemas.js';

const ResourceParamsSchema = z.object({ type: z.string().min(1).max(64), id: z.string().min(1).max(200) }).strict();

export const resourceRoutes: FastifyPluginAsync<{ app: WritApp }> = async (server, { app }) => {
  const typed = server.withTypeProvider<ZodTypeProvider>();

  typed.get(
    '/v1/resources/:type/:id',
    {
      schema: {
        tags: ['resources'],
        summary: 'A resource: its state, version and attributes',
        security: [{ bearer: [] }],
        params: ResourceParamsSchema,
        response: { 200: ResourceSchema, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const { type, id } = request.params;
      // INVARIANT: only the caller's tenant's resources are looked up; each tenant has its own ids.
      const resource = app.broker.getResource(request.principal.tenant, type, id);
      if (resource === undefined) {
        throw new WritError(ServerErrors.SERVER_RECORD_NOT_FOUND, `no \`${type}\` \`${id}\` exists`, { details: { kind: 'resource', type, id } });
      }
      return render(resource);
    },
  );

  typed.get(
    '/v1/decisions/:id',
    {
      schema: {
        tags: ['resources'],
        summary: 'A decision with its facts and determining policies',
        description: 'Visible to whoever may see its proposal: people and services of its tenant, and the agent that proposed it.',
        security: [{ bearer: [] }],
        params: IdParamsSchema,
        response: { 200: DecisionSchema, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const decision = app.broker.getDecision(request.params.id);
      // A decision is visible exactly when its proposal is (same tenant; for an agent, its own proposal).
      const proposal = decision === undefined ? undefined : app.broker.getProposal(decision.proposalId, request.principal.tenant);
      if (decision === undefined || proposal === undefined || !maySeeProposal(request.principal, proposal)) {
        throw new WritError(BrokerErrors.BROKER_DECISION_NOT_FOUND, `decision \`${request.params.id}\` does not exist`, { details: { decisionId: request.params.id } });
      }
      return render(decision);
    },
  );
};
