// Transition routes: execute the transition a warrant authorizes, report the outcome of
// an external one, and verify a warrant the way an external executor would (offline).
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { WritError, isWritError, type Principal } from '../../core/index.js';
import { BrokerErrors, decodeWarrantPayload, splitWarrant, verifyWarrantOffline } from '../../broker/index.js';
import type { WritApp } from '../../app.js';
import { AuthErrors } from '../../auth/index.js';
import { hasRole } from '../auth.js';
import { AUTH_ERRORS, ErrorSchema, TransitionResultSchema, WarrantPayloadSchema, render } from '../schemas.js';

const Token = z.string().min(1).max(8192);

const VerifyBodySchema = z.object({ token: Token }).strict();
const VerifyResultSchema = z.object({
  valid: z.boolean().describe('signature verifies against the published keys and the warrant has not expired'),
  payload: WarrantPayloadSchema.optional(),
  reason: z.string().optional().describe('the error code when not valid, e.g. `BROKER_WARRANT_EXPIRED`'),
  message: z.string().optional(),
});

const ExecuteBodySchema = z.object({ warrant: Token.describe('the token from `POST /v1/proposals/:id/warrant`') }).strict();
const ReportBodySchema = z
  .object({
    warrant: Token,
    outcome: z.enum(['succeeded', 'failed']),
    detail: z.unknown().optional().describe('what the executor did or saw (JSON, at most 10,000 characters)'),
  })
  .strict();

/** Roles (besides being a service) that let a user report the outcome of an external transition. */
const EXECUTOR_ROLES = ['executor', 'admin'];

/**
 * Throws AUTH_FORBIDDEN unless `who` may report an external transition's outcome: a service,
 * or a user holding `executor` or `admin`.
 */
function requireExecutor(who: Principal): void {
  // INVARIANT: an agent never reports an outcome, whatever roles it holds: a report changes
  // resource state, and roles held by an agent are never tenant-wide authority.
  if (who.kind === 'agent') {
    throw new WritError(AuthErrors.AUTH_FORBIDDEN, `principal \`${who.id}\` is an agent and may not report transitions: only services and executors do`, {
      details: { principalId: who.id, operation: 'report transitions', kinds: ['user', 'service'] },
    });
  }
  if (who.kind !== 'service' && !hasRole(who, EXECUTOR_ROLES)) {
    throw new WritError(AuthErrors.AUTH_FORBIDDEN, `principal \`${who.id}\` may not report transitions: only services and executors do`, {
      details: { principalId: who.id, operation: 'report transitions', roles: EXECUTOR_ROLES },
    });
  }
}

/**
 * Refuses a warrant whose (claimed) tenant is not the caller's. Only ever refuses: the
 * broker still verifies the signature before anything in the warrant is believed.
 */
function requireSameTenant(who: Principal, token: string): void {
  let tenant: string | undefined;
  try {
    tenant = decodeWarrantPayload(splitWarrant(token).payloadB64).tenant;
  } catch {
    return; // malformed: the broker reports it precisely
  }
  if (tenant !== who.tenant) {
    throw new WritError(BrokerErrors.BROKER_TENANT_MISMATCH, `principal \`${who.id}\` cannot use a warrant of another tenant`, { details: { principalId: who.id } });
  }
}

export const transitionRoutes: FastifyPluginAsync<{ app: WritApp }> = async (server, { app }) => {
  const typed = server.withTypeProvider<ZodTypeProvider>();

  typed.post(
    '/v1/warrants/verify',
    {
      schema: {
        tags: ['transitions'],
        summary: 'Verify a warrant offline-style (signature against the JWKS, expiry)',
        description:
          'What an external executor does with `GET /.well-known/jwks.json`. Does not check single use: only executing does. ' +
          'An invalid warrant is a result (`valid: false` with the reason), not an error.',
        security: [{ bearer: [] }],
        body: VerifyBodySchema,
        response: { 200: VerifyResultSchema, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      try {
        return render({ valid: true, payload: verifyWarrantOffline(request.body.token, app.broker.publicJwks()) });
      } catch (err) {
        if (!isWritError(err) || !err.code.startsWith('BROKER_WARRANT_')) throw err;
        return { valid: false, reason: err.code, message: err.message };
      }
    },
  );

  typed.post(
    '/v1/transitions',
    {
      schema: {
        tags: ['transitions'],
        summary: 'Execute the transition a warrant authorizes',
        description:
          'In one transaction: verify the warrant, check the target is still in the expected state and version, apply the transition, ' +
          'consume the warrant and append to the ledger. Any holder of a valid warrant of its own tenant may execute; the caller is recorded. ' +
          'An `external` effect is started here and completed by `POST /v1/transitions/report`.',
        security: [{ bearer: [] }],
        body: ExecuteBodySchema,
        response: { 200: TransitionResultSchema, ...AUTH_ERRORS, 409: ErrorSchema },
      },
    },
    async (request) => {
      requireSameTenant(request.principal, request.body.warrant);
      return render(app.broker.execute(request.body.warrant, { requestId: String(request.id), caller: request.principal }));
    },
  );

  typed.post(
    '/v1/transitions/report',
    {
      schema: {
        tags: ['transitions'],
        summary: 'Report the outcome of an external transition',
        description: 'Authenticated by the same warrant. For services, and users with the `executor` or `admin` role; agents get 403 whatever roles they hold.',
        security: [{ bearer: [] }],
        body: ReportBodySchema,
        response: { 200: TransitionResultSchema, ...AUTH_ERRORS, 409: ErrorSchema },
      },
    },
    async (request) => {
      const who = request.principal;
      requireExecutor(who);
      requireSameTenant(who, request.body.warrant);
      const { warrant, ...report } = request.body;
      return render(app.broker.reportTransition(warrant, report, { requestId: String(request.id), caller: who }));
    },
  );
};
