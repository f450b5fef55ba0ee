// Document routes: ingest one document into the caller's tenant, list the documents the
// caller may read, revoke one. The tenant always comes from the caller, never the body.
// Ingest and revoke answer for what SQLite committed: Chroma being down is no failure of
// theirs, but `vectors: 'pending'` with a warning.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { WritError } from '../../core/index.js';
import { DocumentInputSchema, RetrievalErrors } from '../../retrieval/index.js';
import type { WritApp } from '../../app.js';
import { hasRole, requireKind, requireRole } from '../auth.js';
import { AUTH_ERRORS, IdParamsSchema, render } from '../schemas.js';

/** Roles that may ingest and revoke documents. */
const INGEST_ROLES = ['ingest', 'admin'];

const IngestBodySchema = DocumentInputSchema.omit({ tenant: true }).strict();

const IngestQuerySchema = z
  .object({
    keepRevoked: z
      .stringbool()
      .optional()
      .describe(
        '`true`: a revoked document sent again with the same text stays revoked (`status: kept_revoked`) — what a folder sync sends (`writ ingest --server`); ' +
          'default: sending a revoked document restores it',
      ),
  })
  .strict();

const VectorsSchema = z
  .enum(['synced', 'pending'])
  .describe(
    '`synced`: the vector index (Chroma) holds the change. `pending`: the change is committed and search already follows it, ' +
      'but Chroma has not taken it yet (it is down); Writ writes it when Chroma answers again. Nothing to resend',
  );

const VectorWarningSchema = z
  .object({
    code: z.string().describe('the vector index error, e.g. `RETRIEVAL_CHROMA_UNAVAILABLE`'),
    message: z.string(),
  })
  .describe('why `vectors` is `pending`');

const IngestOutcomeSchema = z.looseObject({
  documentId: z.string(),
  sourceUri: z.string(),
  version: z.number().int(),
  status: z.enum(['created', 'updated', 'unchanged', 'readers_changed', 'kept_revoked']).describe('`kept_revoked`: with `keepRevoked=true`, a revoked document with the same text, left revoked'),
  chunks: z.number().int(),
  vectors: VectorsSchema,
  warning: VectorWarningSchema.optional(),
});

const RevokeOutcomeSchema = z.object({
  documentId: z.string(),
  version: z.number().int(),
  revoked: z.boolean().describe('false when it was already revoked'),
  vectors: VectorsSchema,
  warning: VectorWarningSchema.optional(),
});

/**
 * How long ingest and revoke may take before their answer: what is left of the route's time
 * limit, less a margin. Passed as a time (`vectorWaitUntil`), so embedding counts against it
 * and a Chroma that does not answer after the commit gives `vectors: 'pending'` rather than
 * SERVER_TIMEOUT for a change that was committed.
 */
function vectorWaitMs(app: WritApp, elapsedMs: number): number {
  const limit = app.config.server.routeTimeoutMs;
  // The margin covers writing the answer; a quarter of a short limit, so a small limit still waits.
  return Math.max(0, Math.floor(limit - elapsedMs - Math.min(2_000, limit / 4)));
}

const DocumentSchema = z
  .looseObject({
    id: z.string(),
    tenant: z.string(),
    sourceUri: z.string(),
    title: z.string(),
    labels: z.array(z.string()),
    readers: z.array(z.string()).describe('principal ids, `group:NAME` or `*`'),
    version: z.number().int(),
    contentHash: z.string(),
    chunks: z.number().int(),
    status: z.enum(['active', 'revoked']),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Document' });

const ListQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    after: z.string().min(1).max(200).optional().describe('the last document id of the previous page'),
  })
  .strict();

export const documentRoutes: FastifyPluginAsync<{ app: WritApp }> = async (server, { app }) => {
  const typed = server.withTypeProvider<ZodTypeProvider>();

  typed.post(
    '/v1/documents',
    {
      schema: {
        tags: ['documents'],
        summary: "Ingest one document into the caller's tenant",
        description:
          'For users and services with the `ingest` or `admin` role. The same `sourceUri` with new text makes a new version; ' +
          'unchanged text is a no-op (`status: unchanged`). When Chroma is down the document is stored all the same ' +
          '(searchable at once) and the answer says `vectors: pending` with a `warning`; the vectors are written when Chroma answers again.',
        security: [{ bearer: [] }],
        body: IngestBodySchema,
        querystring: IngestQuerySchema,
        response: { 201: IngestOutcomeSchema, 200: IngestOutcomeSchema, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const who = request.principal;
      requireKind(who, ['user', 'service'], 'ingest documents');
      requireRole(who, INGEST_ROLES, 'ingest documents');
      const [outcome] = await app.retrieval.ingest([{ ...request.body, tenant: who.tenant }], { actorId: who.id, requestId: String(request.id) }, { vectorWaitUntil: Date.now() + vectorWaitMs(app, reply.elapsedTime), keepRevoked: request.query.keepRevoked === true });
      if (outcome?.warning !== undefined) request.log.warn({ documentId: outcome.documentId, code: outcome.warning.code, reason: outcome.warning.message }, 'document stored; its vectors are pending');
      return reply.status(outcome?.status === 'created' ? 201 : 200).send(render(outcome));
    },
  );

  typed.get(
    '/v1/documents',
    {
      schema: {
        tags: ['documents'],
        summary: "Documents of the caller's tenant that the caller may read, in id order",
        description: 'Users and services with `ingest` or `admin` see every document of the tenant, revoked ones included (agents never do).',
        security: [{ bearer: [] }],
        querystring: ListQuerySchema,
        response: { 200: z.object({ documents: z.array(DocumentSchema), nextAfter: z.string().nullable() }), ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      // Every document (ACLs and revocation aside) only for the people and services who manage them, never an agent.
      const all = request.principal.kind !== 'agent' && hasRole(request.principal, INGEST_ROLES);
      const documents = app.retrieval.listDocuments(request.principal, { limit, all, ...(after === undefined ? {} : { after }) });
      return render({ documents, nextAfter: documents.length === limit ? (documents.at(-1)?.id ?? null) : null });
    },
  );

  typed.delete(
    '/v1/documents/:id',
    {
      schema: {
        tags: ['documents'],
        summary: 'Revoke a document: its chunks leave search at once; bundles citing it become stale',
        description:
          'When Chroma is down the revocation still takes effect (search never returns the document: it checks SQLite) ' +
          'and the answer says `vectors: pending` with a `warning`; the vectors are removed when Chroma answers again.',
        security: [{ bearer: [] }],
        params: IdParamsSchema,
        response: { 200: RevokeOutcomeSchema, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const who = request.principal;
      requireKind(who, ['user', 'service'], 'revoke documents');
      requireRole(who, INGEST_ROLES, 'revoke documents');
      const doc = app.retrieval.getDocument(request.params.id);
      // INVARIANT: a document of another tenant is reported missing.
      if (doc === undefined || doc.tenant !== who.tenant) {
        throw new WritError(RetrievalErrors.RETRIEVAL_DOCUMENT_NOT_FOUND, `no document \`${request.params.id}\``, { details: { documentId: request.params.id } });
      }
      const outcome = await app.retrieval.revoke({ documentId: doc.id }, { actorId: who.id, requestId: String(request.id) }, { vectorWaitUntil: Date.now() + vectorWaitMs(app, reply.elapsedTime) });
      if (outcome.warning !== undefined) request.log.warn({ documentId: outcome.documentId, code: outcome.warning.code, reason: outcome.warning.message }, 'document revoked; its vectors are pending');
      return render(outcome);
    },
  );
};
