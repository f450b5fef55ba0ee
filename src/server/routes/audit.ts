// Audit routes (users and services with auditor/admin): verify the ledger, walk lineage and impact, page through
// entries — always inside the caller's tenant.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { WritError } from '../../core/index.js';
import type { WritApp } from '../../app.js';
import { requireTenantReader } from '../auth.js';
import { ServerErrors } from '../errors.js';
import { AUTH_ERRORS, IdParamsSchema, LedgerEntrySchema, LedgerGraphSchema, render } from '../schemas.js';

// A strict object, not a loose one: the whole-home figures of a verification (entries of
// every tenant, the head, the checkpoints) must not reach a tenant's auditor by accident.
const TenantVerificationSchema = z
  .object({
    ok: z.boolean().describe('the whole chain is intact: there is one chain for all tenants'),
    tenant: z.string().describe("the caller's tenant"),
    checked: z.number().int().describe("entries of the caller's tenant among those verified"),
    lastChecked: z
      .object({ seq: z.number().int(), hash: z.string(), at: z.string() })
      .nullable()
      .describe("the caller's tenant's newest verified entry; null when it has none"),
    firstBad: z
      .object({
        seq: z.number().int().optional().describe("only when the entry is of the caller's tenant"),
        problem: z.string().describe('`hash_mismatch`, `broken_link`, `gap`, `reordered`, `checkpoint_signature`, `checkpoint_mismatch`, `truncated`, `refs_mismatch`, `out_of_range`, `checkpoint_missing`, `schema_altered` or `index_corrupt`'),
        message: z.string().describe("the detail when the entry is of the caller's tenant; otherwise one that names no entry"),
      })
      .optional()
      .describe('the first problem of the chain, when it is broken'),
  })
  .meta({ id: 'LedgerTenantVerification' });

const EntriesQuerySchema = z
  .object({
    afterSeq: z.coerce.number().int().min(0).default(0),
    limit: z.coerce.number().int().min(1).max(10_000).default(100),
    kinds: z.string().max(2000).optional().describe('comma-separated kinds, e.g. `decision.made,transition.executed`'),
    requestId: z.string().min(1).max(200).optional().describe('only the entries this request caused (its `requestId`, e.g. from a `SERVER_TIMEOUT` answer)'),
  })
  .strict();

const GraphQuerySchema = z.object({ maxEntries: z.coerce.number().int().min(1).max(10_000).optional() }).strict();

export const auditRoutes: FastifyPluginAsync<{ app: WritApp }> = async (server, { app }) => {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  // Runs after the auth hook of the parent scope, before validation.
  server.addHook('onRequest', async (request) => requireTenantReader(request.principal, 'read the audit trail'));

  typed.get(
    '/v1/audit/verify',
    {
      schema: {
        tags: ['audit'],
        summary: 'Verify the whole ledger: hash chain, order, signed checkpoints',
        description:
          "A broken chain is a result (`ok: false` with the first problem), not an error. The verdict is the whole chain's; the figures are the caller's tenant's " +
          "own, and the first problem is named (its seq and detail) only when it is an entry of that tenant. Other tenants' entry counts, head and timing are never given: " +
          'an operator with the database sees them with `writ audit verify` on the home.',
        security: [{ bearer: [] }],
        response: { 200: TenantVerificationSchema, ...AUTH_ERRORS },
      },
      // The walk takes as long as the chain is long; a time limit would only throw its result away.
      config: { timeoutMs: 0 },
    },
    // Worker threads walk the chain (and count the tenant's entries), so this thread keeps serving requests meanwhile.
    async (request) => render(await app.ledger.verifyForTenant(request.principal.tenant, { keepCallingThreadFree: true })),
  );

  for (const walk of ['lineage', 'impact'] as const) {
    typed.get(
      `/v1/audit/${walk}/:id`,
      {
        schema: {
          tags: ['audit'],
          summary:
            walk === 'lineage'
              ? 'What informed a record: decision → proposal → bundles → documents'
              : 'What a record informed: document → bundles → proposals → decisions → transitions',
          security: [{ bearer: [] }],
          params: IdParamsSchema,
          querystring: GraphQuerySchema,
          response: { 200: LedgerGraphSchema, ...AUTH_ERRORS },
        },
      },
      async (request) => {
        const tenant = request.principal.tenant;
        const options = { tenant, ...(request.query.maxEntries === undefined ? {} : { maxEntries: request.query.maxEntries }) };
        const graph = walk === 'lineage' ? app.ledger.lineage(request.params.id, options) : app.ledger.impact(request.params.id, options);
        // INVARIANT: the walk stays in the caller's tenant; nothing there means "not found", whoever owns the id.
        if (graph.entries.length === 0) {
          throw new WritError(ServerErrors.SERVER_RECORD_NOT_FOUND, `no ledger entries about \`${request.params.id}\``, { details: { kind: 'ledger subject', id: request.params.id } });
        }
        return render(graph);
      },
    );
  }

  typed.get(
    '/v1/audit/entries',
    {
      schema: {
        tags: ['audit'],
        summary: "Ledger entries of the caller's tenant, in sequence order",
        security: [{ bearer: [] }],
        querystring: EntriesQuerySchema,
        response: { 200: z.object({ entries: z.array(LedgerEntrySchema), nextAfterSeq: z.number().int().nullable() }), ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const { afterSeq, limit, kinds, requestId } = request.query;
      const kindList = kinds === undefined ? undefined : kinds.split(',').map((k) => k.trim()).filter((k) => k !== '');
      const entries = app.ledger.entries({
        afterSeq,
        limit,
        tenant: request.principal.tenant,
        ...(kindList === undefined || kindList.length === 0 ? {} : { kinds: kindList }),
        ...(requestId === undefined ? {} : { requestId }),
      });
      return render({ entries, nextAfterSeq: entries.length === limit ? (entries.at(-1)?.seq ?? null) : null });
    },
  );
};
