// Retrieval routes: a bounded, ACL-filtered retrieval sealed as a ContextBundle, and
// reading a bundle back with its freshness.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { WritError } from '../../core/index.js';
import { RetrievalErrors, RetrievalQuerySchema } from '../../retrieval/index.js';
import type { WritApp } from '../../app.js';
import { isTenantReader } from '../auth.js';
import { AUTH_ERRORS, ErrorSchema, IdParamsSchema, render } from '../schemas.js';
import { AuthErrors } from '../../auth/index.js';

const RetrieveBodySchema = RetrievalQuerySchema.omit({ requestId: true }).strict();

const ScoresSchema = z.looseObject({
  dense: z.number().nullable().describe('cosine similarity to the query'),
  lexical: z.number().nullable().describe('BM25 score'),
  denseRank: z.number().nullable(),
  lexicalRank: z.number().nullable(),
  fused: z.number().describe('the fused score the ranking uses'),
});

const RetrievedChunkSchema = z.looseObject({
  rank: z.number().int(),
  chunkId: z.string(),
  documentId: z.string(),
  documentVersion: z.number().int(),
  sourceUri: z.string(),
  title: z.string(),
  heading: z.string(),
  text: z.string(),
  contentHash: z.string(),
  charStart: z.number().int(),
  charEnd: z.number().int(),
  scores: ScoresSchema,
});

export const RetrievalResultSchema = z
  .looseObject({
    bundleId: z.string().describe('id of the sealed ContextBundle; cite it as a proposal `basis`'),
    seal: z.string().describe('`sha256:` seal of the bundle'),
    results: z.array(RetrievedChunkSchema),
    truncated: z.boolean(),
    truncatedReason: z.enum(['budget', 'candidates']).optional(),
    bounds: z.looseObject({ k: z.number().int(), maxChars: z.number().int(), timeoutMs: z.number().int() }),
    denseStrategy: z.enum(['exact', 'index', 'none']),
    tookMs: z.number(),
  })
  .meta({ id: 'RetrievalResult' });

const BundleResponseSchema = z.object({
  bundle: z
    .looseObject({
      id: z.string(),
      tenant: z.string(),
      principalId: z.string(),
      sessionId: z.string().nullable(),
      query: z.string(),
      chunks: z.array(z.looseObject({ chunkId: z.string(), documentId: z.string(), documentVersion: z.number(), contentHash: z.string() })),
      seal: z.string(),
      createdAt: z.string(),
    })
    .describe('the sealed bundle as recorded'),
  freshness: z.object({
    fresh: z.boolean().describe('false when a cited document version was revoked or superseded'),
    stale: z.array(z.looseObject({ documentId: z.string(), version: z.number(), reason: z.enum(['revoked', 'superseded']) })),
  }),
});

export const retrieveRoutes: FastifyPluginAsync<{ app: WritApp }> = async (server, { app }) => {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  typed.post(
    '/v1/retrieve',
    {
      schema: {
        tags: ['retrieval'],
        summary: 'Retrieve context the caller may read; sealed and recorded as a ContextBundle',
        description:
          'Hybrid (vector + lexical) search inside the caller\'s tenant and reader ACLs, bounded by `k`, `budget.maxChars` and `timeoutMs`, ' +
          'rate limited per principal. With `sessionId`, the session must be the caller\'s and live, and its budgets are charged. ' +
          'An agent must name one (400 `BROKER_SESSION_REQUIRED` otherwise: open a session first); users and services may retrieve without.',
        security: [{ bearer: [] }],
        body: RetrieveBodySchema,
        response: { 200: RetrievalResultSchema, ...AUTH_ERRORS, 409: ErrorSchema, 503: ErrorSchema, 504: ErrorSchema },
      },
      // Retrieval enforces its own time limit; the route's is a backstop past the largest one a caller may ask for.
      config: { timeoutMs: app.config.retrieval.maxTimeoutMs + 5_000 },
    },
    async (request) => render(await app.retrieve(request.principal, { ...request.body, requestId: String(request.id) })),
  );

  typed.get(
    '/v1/bundles/:id',
    {
      schema: {
        tags: ['retrieval'],
        summary: 'A sealed ContextBundle and whether it is still fresh',
        description: 'Visible to the principal that retrieved it and to users and services with `auditor`/`admin` in its tenant (never agents); other tenants get 404.',
        security: [{ bearer: [] }],
        params: IdParamsSchema,
        response: { 200: BundleResponseSchema, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const who = request.principal;
      const notFound = () => new WritError(RetrievalErrors.RETRIEVAL_BUNDLE_NOT_FOUND, `no bundle \`${request.params.id}\``, { details: { bundleId: request.params.id } });
      let bundle;
      try {
        bundle = app.retrieval.getBundle(request.params.id);
      } catch {
        throw notFound();
      }
      // INVARIANT: a bundle of another tenant is reported missing; its existence is not the caller's to learn.
      if (bundle.tenant !== who.tenant) throw notFound();
      if (bundle.principalId !== who.id && !isTenantReader(who)) {
        throw new WritError(AuthErrors.AUTH_FORBIDDEN, `principal \`${who.id}\` may not read bundle \`${bundle.id}\``, {
          details: { principalId: who.id, bundleId: bundle.id },
        });
      }
      return render({ bundle, freshness: app.retrieval.bundleFreshness(bundle.id) });
    },
  );
};
