// System routes: health of every part, and the version.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HealthSchema, VersionSchema, type WritApp } from '../../app.js';
import { ErrorSchema } from '../schemas.js';

// A 503 is either a degraded part, or the check itself outliving the route time limit
// (SERVER_TIMEOUT, the standard error body): a hung part must not turn into a 500.
const UnhealthySchema = z.union([HealthSchema, ErrorSchema]).describe('a degraded part (the health report), or `SERVER_TIMEOUT` when the check outlived the route time limit');

export const systemRoutes: FastifyPluginAsync<{ app: WritApp }> = async (server, { app }) => {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  typed.get(
    '/health',
    {
      schema: {
        tags: ['system'],
        summary: 'Status of SQLite, Chroma and the model, with versions, and the lexical score lists',
        response: { 200: HealthSchema, 503: UnhealthySchema },
      },
    },
    async (_request, reply) => {
      const health = await app.health();
      return reply.status(health.status === 'ok' ? 200 : 503).send(health);
    },
  );
  typed.get(
    '/version',
    { schema: { tags: ['system'], summary: 'Writ version and the versions of its parts', response: { 200: VersionSchema } } },
    async () => app.version(),
  );
};

