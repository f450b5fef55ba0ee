// Authentication of HTTP requests: the API key names the principal, and nothing in a
// request body ever does. Also the per-principal rate limit and the role guards routes use.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { WritError, type Principal } from '../core/index.js';
import type { WritApp } from '../app.js';
import { AuthErrors } from '../auth/index.js';
import { ServerErrors } from './errors.js';
import { createTokenBucket } from '../core/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller (set by the auth hook on every `/v1` route). */
    principal: Principal;
  }
}

export interface AuthOptions {
  readonly app: WritApp;
  /** Sustained requests per second per principal. */
  readonly ratePerSecond: number;
  /** Requests a principal may send at once. */
  readonly rateBurst: number;
}

/** The API key of a request: `Authorization: Bearer <key>`, else `x-api-key`. */
export function readApiKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string' && header.trim() !== '') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header.trim());
    // Another scheme (Basic …) is a key we cannot use: reported as invalid, not missing.
    return match?.[1] ?? header.trim();
  }
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey.trim() !== '' ? apiKey.trim() : undefined;
}

/**
 * Authenticates every request of the scope it is registered in (it is not encapsulated):
 * missing key → 401 AUTH_MISSING_KEY, bad key → 401 AUTH_INVALID_KEY; then charges the
 * principal's token bucket (429 SERVER_RATE_LIMITED with `Retry-After`).
 */
export const authPlugin: FastifyPluginAsync<AuthOptions> = async (scope, options) => {
  const limiter = createTokenBucket({ ratePerSecond: options.ratePerSecond, burst: options.rateBurst });
  if (!scope.hasRequestDecorator('principal')) scope.decorateRequest('principal', null as unknown as Principal);
  scope.addHook('onRequest', async (request, reply) => {
    // INVARIANT: the principal of a request is the stored principal its key names, never a body field.
    const principal = options.app.authenticate(readApiKey(request));
    request.principal = principal;
    const waitMs = limiter.take(principal.id);
    if (waitMs > 0) {
      void reply.header('retry-after', String(Math.max(1, Math.ceil(waitMs / 1000))));
      throw new WritError(ServerErrors.SERVER_RATE_LIMITED, `rate limit of principal \`${principal.id}\` exceeded: retry in \`${waitMs}\` ms`, {
        details: { principalId: principal.id, retryAfterMs: waitMs },
      });
    }
  });
};
// Not encapsulated: the hook applies to the scope that registers the plugin (fastify-plugin's `skip-override`).
(authPlugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;

/** True when the principal holds any of `roles`. */
export function hasRole(principal: Principal, roles: readonly string[]): boolean {
  return principal.roles.some((r) => roles.includes(r));
}

/** Throws AUTH_FORBIDDEN unless the principal holds one of `roles`. */
export function requireRole(principal: Principal, roles: readonly string[], operation: string): void {
  if (!hasRole(principal, roles)) {
    throw new WritError(AuthErrors.AUTH_FORBIDDEN, `principal \`${principal.id}\` may not ${operation}: it needs one of the roles ${roles.map((r) => `\`${r}\``).join(', ')}`, {
      details: { principalId: principal.id, operation, roles: [...roles] },
    });
  }
}

/** Throws AUTH_FORBIDDEN unless the principal is of one of `kinds`. */
export function requireKind(principal: Principal, kinds: ReadonlyArray<Principal['kind']>, operation: string): void {
  if (!kinds.includes(principal.kind)) {
    throw new WritError(AuthErrors.AUTH_FORBIDDEN, `principal \`${principal.id}\` is a ${principal.kind} and may not ${operation}`, {
      details: { principalId: principal.id, operation, kinds: [...kinds] },
    });
  }
}

/** Roles that read a tenant's audit trail. */
export const AUDIT_ROLES = ['auditor', 'admin'] as const;

/**
 * True when the principal may read its whole tenant (audit trail, policies, others'
 * bundles and sessions): a user or service holding `auditor` or `admin`. Agents never
 * may, whatever roles they hold: an agent is compromisable by its input, so a role granted
 * to one by mistake must not open the tenant to it (the live-events scope follows the same rule).
 */
export function isTenantReader(principal: Principal): boolean {
  return principal.kind !== 'agent' && hasRole(principal, AUDIT_ROLES);
}

/** Throws AUTH_FORBIDDEN unless the principal is a tenant reader (`isTenantReader`). */
export function requireTenantReader(principal: Principal, operation: string): void {
  requireKind(principal, ['user', 'service'], operation);
  requireRole(principal, AUDIT_ROLES, operation);
}

/**
 * Whether the principal may read a proposal of its own tenant (and what hangs off it:
 * decisions, approvals): the broker's rule, which its approve, reject and warrant apply too.
 */
export { maySeeProposal } from '../broker/index.js';
