// System routes: health of every part, and the version.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { HealthSchema, VersionSchema, type WritApp } from '../../app.js';

export const systemRoutes: FastifyPluginAsync<{ app: WritApp }> = async (server, { app }) => {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  typed.get(
    '/health',
    {
      schema: {
        tags: ['system'],
        summary: 'Status of SQLite, Chroma and the model, with versions, and the lexical score lists',
        response: { 200: HealthSchema, 503: HealthSchema },
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

