// Session routes: open a session for the caller, read it, end or revoke it (which voids
// its pending proposals and unused warrants).
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { NameSchema, WritError } from '../../core/index.js';
import { BrokerErrors } from '../../broker/index.js';
import type { WritApp } from '../../app.js';
import { AuthErrors } from '../../auth/index.js';
import { isTenantReader } from '../auth.js';
import { AUTH_ERRORS, ErrorSchema, IdParamsSchema, SessionSchema, render } from '../schemas.js';

/** A session lasts 15 minutes unless the caller asks otherwise (at most the broker's `maxSessionTtlMs`). */
export const DEFAULT_SESSION_TTL_MS = 15 * 60_000;

const CreateSessionBodySchema = z
  .object({
    onBehalfOf: NameSchema.optional().describe('for agents: the user or service it acts for (default: the one it is registered for)'),
    ttlMs: z.number().int().positive().optional().describe(`lifetime in ms (default ${DEFAULT_SESSION_TTL_MS})`),
    budgets: z
      .object({ retrievals: z.number().int().nonnegative(), proposals: z.number().int().nonnegative(), contextChars: z.number().int().nonnegative() })
      .partial()
      .strict()
      .optional(),
  })
  .strict();

const CloseBodySchema = z.object({ reason: z.string().min(1).max(2000).optional() }).strict();

const CloseResultSchema = z.object({
  session: SessionSchema,
  voidedProposals: z.array(z.string()),
  voidedWarrants: z.array(z.string()),
});

export const sessionRoutes: FastifyPluginAsync<{ app: WritApp }> = async (server, { app }) => {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  typed.post(
    '/v1/sessions',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Open a session; the caller is its actor',
        security: [{ bearer: [] }],
        body: CreateSessionBodySchema.nullish(),
        response: { 201: SessionSchema, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const session = app.broker.createSession(request.principal, { ...body, ttlMs: body.ttlMs ?? DEFAULT_SESSION_TTL_MS }, { requestId: String(request.id) });
      return reply.status(201).send(render(session));
    },
  );

  typed.get(
    '/v1/sessions/:id',
    {
      schema: {
        tags: ['sessions'],
        summary: 'A session, with its budgets and what it used',
        description: 'Visible to its actor, the principal it acts for, and users and services with `auditor`/`admin` in its tenant (never agents).',
        security: [{ bearer: [] }],
        params: IdParamsSchema,
        response: { 200: SessionSchema, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const who = request.principal;
      const session = app.broker.getSession(request.params.id);
      if (session === undefined || session.tenant !== who.tenant) {
        throw new WritError(BrokerErrors.BROKER_SESSION_NOT_FOUND, `session \`${request.params.id}\` does not exist`, { details: { sessionId: request.params.id } });
      }
      if (who.id !== session.actorId && who.id !== session.onBehalfOf && !isTenantReader(who)) {
        throw new WritError(AuthErrors.AUTH_FORBIDDEN, `principal \`${who.id}\` may not read session \`${session.id}\``, {
          details: { principalId: who.id, sessionId: session.id },
        });
      }
      return render(session);
    },
  );

  for (const verb of ['end', 'revoke'] as const) {
    typed.post(
      `/v1/sessions/:id/${verb}`,
      {
        schema: {
          tags: ['sessions'],
          summary: verb === 'end' ? 'End a session (its actor is done)' : 'Revoke a session (e.g. the agent misbehaved)',
          description: 'Voids its pending proposals and unused warrants. Allowed to its actor, the principal it acts for, services and `admin`.',
          security: [{ bearer: [] }],
          params: IdParamsSchema,
          body: CloseBodySchema.nullish(),
          response: { 200: CloseResultSchema, ...AUTH_ERRORS, 409: ErrorSchema },
        },
      },
      async (request) => {
        const opts = { requestId: String(request.id), ...(request.body?.reason === undefined ? {} : { reason: request.body.reason }) };
        return render(
          verb === 'end' ? app.broker.endSession(request.principal, request.params.id, opts) : app.broker.revokeSession(request.principal, request.params.id, opts),
        );
      },
    );
  }
};
