// Shared zod schemas of the HTTP API: the error body, ids in paths, and the main records
// (loose: they document the important fields; the domain records carry more).
import { z } from 'zod';

/** Every failure: a stable code, a one-line message, details, and the request id. */
export const ErrorSchema = z
  .looseObject({
    code: z.string().describe('stable error code, e.g. `AUTH_INVALID_KEY` (see docs/errors.md)'),
    message: z.string().describe('one line, lowercase'),
    details: z.record(z.string(), z.unknown()).describe('structured context; `issues` for INVALID_INPUT'),
    requestId: z.string().describe('the `x-request-id` of this request, also recorded in the ledger'),
  })
  .meta({ id: 'Error' });

/** The error responses every authenticated route may give. */
export const AUTH_ERRORS = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 429: ErrorSchema } as const;

const Id = z.string().min(1).max(200);
export const IdParamsSchema = z.object({ id: Id }).strict();

export const PrincipalIdSchema = z.string().describe('id of a principal');

export const SessionSchema = z
  .looseObject({
    id: z.string(),
    tenant: z.string(),
    actorId: z.string().describe('the principal that created the session (the caller)'),
    onBehalfOf: z.string().nullable(),
    status: z.enum(['active', 'ended', 'revoked']),
    createdAt: z.string(),
    expiresAt: z.string(),
    closedAt: z.string().nullable(),
    closeReason: z.string().nullable(),
    budgets: z.looseObject({ retrievals: z.number(), proposals: z.number(), contextChars: z.number() }),
    used: z.looseObject({ retrievals: z.number(), proposals: z.number(), contextChars: z.number() }),
  })
  .meta({ id: 'Session' });

export const ProposalSchema = z
  .looseObject({
    id: z.string(),
    tenant: z.string(),
    sessionId: z.string().nullable(),
    actorId: z.string().describe('the authenticated caller that proposed'),
    onBehalfOf: z.string().nullable().describe("from the session, never from the body"),
    action: z.string(),
    resourceType: z.string(),
    targetId: z.string(),
    params: z.record(z.string(), z.unknown()),
    basis: z.array(z.string()).describe('ids of the ContextBundles that informed the proposal'),
    rationale: z.string().nullable(),
    idempotencyKey: z.string().nullable(),
    hash: z.string().describe('seal of the canonical content; approvals and warrants bind it'),
    status: z.enum(['proposed', 'denied', 'pending_approval', 'authorized', 'rejected', 'expired', 'executed', 'failed', 'voided']),
    decisionId: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Proposal' });

export const DecisionSchema = z
  .looseObject({
    id: z.string(),
    proposalId: z.string(),
    proposalHash: z.string(),
    outcome: z.enum(['allow', 'deny', 'needs_approval']),
    determiningPolicies: z.array(z.string()).describe('ids of the Cedar policies that determined the outcome'),
    obligations: z.array(z.looseObject({ role: z.string(), count: z.number(), satisfied: z.boolean() })),
    reasons: z.array(z.string()),
    errors: z.array(z.string()),
    facts: z.record(z.string(), z.unknown()).describe('the facts policy saw (target, approvals, basis, taint…)'),
    policySetHash: z.string(),
    createdAt: z.string(),
  })
  .meta({ id: 'Decision' });

export const ApprovalSchema = z
  .looseObject({
    id: z.string(),
    proposalId: z.string(),
    proposalHash: z.string(),
    approverId: z.string().describe('the authenticated caller'),
    verdict: z.enum(['approved', 'rejected']),
    roles: z.array(z.string()).describe('roles of the stored principal that met an obligation'),
    note: z.string().nullable(),
    createdAt: z.string(),
    expiresAt: z.string(),
  })
  .meta({ id: 'Approval' });

export const ResourceSchema = z
  .looseObject({
    type: z.string(),
    id: z.string(),
    tenant: z.string(),
    state: z.string(),
    version: z.number().int(),
    attributes: z.record(z.string(), z.unknown()),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Resource' });

export const WarrantPayloadSchema = z
  .looseObject({
    v: z.literal(1),
    wid: z.string(),
    proposalId: z.string(),
    proposalHash: z.string(),
    decisionId: z.string(),
    action: z.string(),
    targetType: z.string(),
    targetId: z.string(),
    expectedState: z.string().nullable(),
    expectedVersion: z.number().int(),
    effect: z.enum(['internal', 'external', 'irreversible']),
    tenant: z.string(),
    iat: z.string(),
    exp: z.string(),
    nonce: z.string(),
  })
  .meta({ id: 'WarrantPayload' });

export const TransitionSchema = z
  .looseObject({
    id: z.string(),
    warrantId: z.string(),
    proposalId: z.string(),
    decisionId: z.string(),
    tenant: z.string(),
    action: z.string(),
    resourceType: z.string(),
    resourceId: z.string(),
    effect: z.enum(['internal', 'external', 'irreversible']),
    fromState: z.string().nullable(),
    toState: z.string(),
    fromVersion: z.number().int(),
    toVersion: z.number().int().nullable(),
    status: z.enum(['executed', 'started', 'succeeded', 'failed']),
  })
  .meta({ id: 'Transition' });

export const TransitionResultSchema = z
  .looseObject({
    transition: TransitionSchema,
    resource: ResourceSchema.nullable().describe('the resource after the transition (before it, for an external one in flight)'),
    proposal: ProposalSchema,
  })
  .meta({ id: 'TransitionResult' });

export const LedgerEntrySchema = z
  .looseObject({
    seq: z.number().int(),
    at: z.string(),
    kind: z.string().describe('`area.event`, e.g. `bundle.sealed`, `decision.made`'),
    subjectId: z.string(),
    tenant: z.string().nullable().optional(),
    actorId: z.string().nullable().optional(),
    requestId: z.string().nullable().optional().describe('the HTTP request that caused the entry'),
    refs: z.array(z.string()).optional(),
    body: z.unknown(),
    prevHash: z.string(),
    hash: z.string(),
  })
  .meta({ id: 'LedgerEntry' });

export const LedgerGraphSchema = z
  .looseObject({
    id: z.string(),
    entries: z.array(LedgerEntrySchema),
    byKind: z.record(z.string(), z.array(z.unknown())).describe('the same entries grouped by kind'),
    truncated: z.boolean(),
  })
  .meta({ id: 'LedgerGraph' });

/**
 * Hands a domain record to the reply. Records are readonly and carry more fields than the
 * loose response schemas name; the zod serializer still checks them at runtime.
 */
export function render(value: unknown): never {
  return value as never;
}
