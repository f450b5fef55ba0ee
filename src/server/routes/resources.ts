// Read routes for the broker's state: a resource (state, version, attributes) and a
// decision (with the facts policy saw and the policies that determined it).
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { WritError } from '../../core/index.js';
import { BrokerErrors } from '../../broker/index.js';
import type { WritApp } from '../../app.js';
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
      const resource = app.broker.getResource(type, id);
      // INVARIANT: a resource of another tenant is reported missing, like one that does not exist.
      if (resource === undefined || resource.tenant !== request.principal.tenant) {
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
        security: [{ bearer: [] }],
        params: IdParamsSchema,
        response: { 200: DecisionSchema, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const decision = app.broker.getDecision(request.params.id);
      // A decision belongs to the tenant of its proposal.
      if (decision === undefined || app.broker.getProposal(decision.proposalId, request.principal.tenant) === undefined) {
        throw new WritError(BrokerErrors.BROKER_DECISION_NOT_FOUND, `decision \`${request.params.id}\` does not exist`, { details: { decisionId: request.params.id } });
      }
      return render(decision);
    },
  );
};
