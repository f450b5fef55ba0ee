// The facts the broker computes before asking policy, and hands to Cedar as entities and
// request context. Computed by facts.ts; consumed by policy/. A decision records the
// facts it saw, so an auditor can replay it.
import { z } from 'zod';
import { PrincipalSchema } from '../core/index.js';
import { EffectClassSchema } from './catalog.js';

const JsonScalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const BasisItemFactsSchema = z
  .object({
    bundleId: z.string(),
    exists: z.boolean(),
    /** Retrieved by the same actor (principal id) that proposes. */
    ownedByActor: z.boolean(),
    /** Retrieved in the proposal's own session. */
    sameSession: z.boolean(),
    /** No document version in it was revoked or superseded since it was sealed. */
    fresh: z.boolean(),
    staleDocuments: z.array(z.object({ documentId: z.string(), version: z.number().int(), reason: z.enum(['revoked', 'superseded']) }).strict()),
  })
  .strict();

export const FactsSchema = z
  .object({
    /** When the facts were computed (UTC ISO). */
    at: z.string(),
    proposal: z
      .object({
        id: z.string(),
        hash: z.string(),
        action: z.string(),
        resourceType: z.string(),
        targetId: z.string(),
        params: z.record(z.string(), JsonScalar),
        sessionId: z.string().nullable(),
      })
      .strict(),
    /** The authenticated proposer (often an agent). */
    actor: PrincipalSchema,
    /** The principal the actor acts for; both must be permitted. Null when acting for itself. */
    onBehalfOf: PrincipalSchema.nullable(),
    target: z
      .object({
        exists: z.boolean(),
        tenant: z.string().nullable(),
        state: z.string().nullable(),
        version: z.number().int().nonnegative(),
        attributes: z.record(z.string(), JsonScalar),
      })
      .strict(),
    transition: z
      .object({
        /** The action may move the target from its current state (or create it). */
        legal: z.boolean(),
        from: z.string().nullable(),
        to: z.string(),
        effect: EffectClassSchema,
      })
      .strict(),
    approvals: z
      .object({
        count: z.number().int().nonnegative(),
        /** Roles held by the (distinct, valid, unexpired) approvers of this exact proposal hash. */
        roles: z.array(z.string()),
        approverIds: z.array(z.string()),
      })
      .strict(),
    basis: z
      .object({
        count: z.number().int().nonnegative(),
        allExist: z.boolean(),
        allOwned: z.boolean(),
        allSameSession: z.boolean(),
        allFresh: z.boolean(),
        items: z.array(BasisItemFactsSchema),
      })
      .strict(),
    taint: z
      .object({
        /** Params whose value occurs in text the actor was shown: its own cited bundles and the other bundles of its session (chunks, titles, headings). */
        params: z.array(z.string()),
        /** The bundles of the proposal's session, retrieved by its actor and not cited, whose text was checked too. */
        sessionBundles: z.array(z.string()).default([]),
        /** The subset that the catalog marks trusted: the prompt-injection signal. */
        trustedParams: z.array(z.string()),
        anyTrusted: z.boolean(),
      })
      .strict(),
  })
  .strict();

export type Facts = z.output<typeof FactsSchema>;
export type BasisItemFacts = z.output<typeof BasisItemFactsSchema>;
