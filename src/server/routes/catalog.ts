// Catalog and policy routes: the catalog (resource types, state machines, actions and
// their params), the loaded Cedar policies, and validating candidate policies.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CoreErrors, WritError, isWritError, type InputIssue } from '../../core/index.js';
import {
  BrokerErrors,
  checkPolicySetSize,
  checkPolicyText,
  loadPolicies,
  MAX_POLICY_NESTING,
  MAX_POLICY_OPERATORS,
  MAX_POLICY_SET_CHARS,
  MAX_POLICY_SOURCE_CHARS,
} from '../../broker/index.js';
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
        summary: "Validate candidate Cedar policies against the catalog's schema, loading nothing (users and services with auditor/admin)",
        description:
          'Invalid policies are a result (`valid: false` with every problem), not an error. Only users and services holding `auditor` or `admin` may validate, ' +
          'as for `GET /v1/policies`; anyone else, an agent always, gets 403 `AUTH_FORBIDDEN`. Text Cedar\'s parser cannot take safely is refused with 400 ' +
          `\`INVALID_INPUT\` before Cedar sees it: brackets and \`if\`s nested over ${MAX_POLICY_NESTING} deep, over ${MAX_POLICY_OPERATORS} chained operators ` +
          `(\`&&\`, \`||\`, \`+\`, \`-\`, \`*\`, \`.\`) and clauses in one policy, a source over ${MAX_POLICY_SOURCE_CHARS} characters, or over ${MAX_POLICY_SET_CHARS} in all.`,
        security: [{ bearer: [] }],
        body: ValidateBodySchema,
        response: { 200: ValidateResultSchema, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      // INVARIANT: deny by default: only a tenant reader may have text parsed by Cedar here.
      requireTenantReader(request.principal, 'validate policies');
      // INVARIANT: text past the bounds never reaches Cedar: it could overflow Cedar's parser.
      const issues: InputIssue[] = [];
      request.body.sources.forEach((source, index) => {
        for (const problem of checkPolicyText(source.text)) issues.push({ path: `sources.${index}.text`, code: problem.limit, message: problem.message });
      });
      const size = checkPolicySetSize(request.body.sources.map((s) => s.text));
      if (size !== null) issues.push({ path: 'sources', code: size.limit, message: size.message });
      const first = issues[0];
      if (first !== undefined) {
        const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
        throw new WritError(CoreErrors.INVALID_INPUT, `invalid request body: \`${first.path}\`: ${first.message}${more}`, { details: { issues, in: 'body' } });
      }
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
