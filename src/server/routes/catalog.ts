// Catalog and policy routes: the catalog (resource types, state machines, actions and
// their params), the loaded Cedar policies, and validating candidate policies.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isWritError } from '../../core/index.js';
import { BrokerErrors, loadPolicies } from '../../broker/index.js';
import type { WritApp } from '../../app.js';
import { requireTenantReader } from '../auth.js';
import { AUTH_ERRORS, render } from '../schemas.js';

const CatalogResponseSchema = z
  .looseObject({
    namespace: z.string(),
    version: z.string(),
    resourceTypes: z.record(
      z.string(),
      z.looseObject({ states: z.array(z.string()), attributes: z.record(z.string(), z.unknown()).describe('attribute specs; `trusted` ones must never come from retrieved text') }),
    ),
    actions: z.record(
      z.string(),
      z.looseObject({
        resourceType: z.string(),
        from: z.array(z.string()),
        to: z.string(),
        create: z.boolean(),
        effect: z.enum(['internal', 'external', 'irreversible']),
        params: z.record(z.string(), z.unknown()),
      }),
    ),
  })
  .meta({ id: 'Catalog' });

const PolicySchema = z.looseObject({
  id: z.string(),
  file: z.string(),
  effect: z.enum(['permit', 'forbid']),
  text: z.string(),
  isDefault: z.boolean().describe("one of Writ's built-in defaults"),
  obligation: z.looseObject({ role: z.string(), count: z.number() }).nullable().describe('from `@requires_approval` / `@unless_approved`'),
  annotations: z.record(z.string(), z.string()),
});

const ValidateBodySchema = z
  .object({
    sources: z
      .array(z.object({ id: z.string().min(1).max(200).describe('a name for the source, e.g. its file name'), text: z.string().max(1_000_000) }).strict())
      .min(1)
      .max(200),
  })
  .strict();

const ValidateResultSchema = z.object({
  valid: z.boolean(),
  policySetHash: z.string().optional().describe('hash of the set (defaults included) when valid'),
  policies: z.array(z.string()).optional().describe('ids of the policies parsed, defaults included'),
  problems: z
    .array(z.looseObject({ file: z.string(), policyId: z.string().nullable(), message: z.string() }))
    .optional()
    .describe("every problem, with Cedar's own message; `file` is the source id"),
});

export const catalogRoutes: FastifyPluginAsync<{ app: WritApp }> = async (server, { app }) => {
  const typed = server.withTypeProvider<ZodTypeProvider>();

  typed.get(
    '/v1/catalog',
    {
      schema: {
        tags: ['catalog'],
        summary: 'The catalog: resource types with their state machines, and the actions that drive them',
        security: [{ bearer: [] }],
        response: { 200: CatalogResponseSchema, ...AUTH_ERRORS },
      },
    },
    async () => render(app.catalog),
  );

  typed.get(
    '/v1/policies',
    {
      schema: {
        tags: ['catalog'],
        summary: 'The loaded Cedar policies and the policy-set hash (users and services with auditor/admin)',
        security: [{ bearer: [] }],
        response: { 200: z.object({ policySetHash: z.string(), policies: z.array(PolicySchema) }), ...AUTH_ERRORS },
      },
    },
    async (request) => {
      requireTenantReader(request.principal, 'read the policies');
      return render({
        policySetHash: app.policy.policySetHash,
        policies: app.policy.policies.map((p) => ({
          id: p.id,
          file: p.file,
          effect: p.effect,
          text: p.text,
          isDefault: p.isDefault,
          obligation: p.obligation,
          annotations: p.annotations,
        })),
      });
    },
  );

  typed.post(
    '/v1/policies/validate',
    {
      schema: {
        tags: ['catalog'],
        summary: "Validate candidate Cedar policies against the catalog's schema (loads nothing)",
        description: 'Invalid policies are a result (`valid: false` with every problem), not an error.',
        security: [{ bearer: [] }],
        body: ValidateBodySchema,
        response: { 200: ValidateResultSchema, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      try {
        const set = loadPolicies({ catalog: app.catalog, sources: request.body.sources.map((s) => ({ file: s.id, text: s.text })) });
        return { valid: true, policySetHash: set.hash, policies: set.policies.map((p) => p.id) };
      } catch (err) {
        if (!isWritError(err, BrokerErrors.BROKER_POLICY_INVALID)) throw err;
        return { valid: false, problems: err.details.problems as Array<{ file: string; policyId: string | null; message: string }> };
      }
    },
  );
};
