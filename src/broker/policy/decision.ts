// The result of asking policy: an outcome with the policies that determined it, the
// approvals it still needs, human reasons and evaluation errors. A deny is a result.
import { z } from 'zod';

export const PolicyOutcomeSchema = z.enum(['allow', 'deny', 'needs_approval']);
export type PolicyOutcome = z.infer<typeof PolicyOutcomeSchema>;

export const ObligationStatusSchema = z
  .object({
    /** The role approvers must hold. */
    role: z.string(),
    /** How many distinct approvers holding `role` are needed. */
    count: z.number().int().positive(),
    satisfied: z.boolean(),
    /** The policies that asked for it (`@requires_approval` permits, `@unless_approved` forbids). */
    policies: z.array(z.string()),
  })
  .strict();
export type ObligationStatus = z.infer<typeof ObligationStatusSchema>;

export const PolicyDecisionSchema = z
  .object({
    outcome: PolicyOutcomeSchema,
    /**
     * allow: the satisfied permits; needs_approval: those permits plus the softened forbids
     * still waiting; deny: the forbids that fired (empty when nothing permitted: deny by default).
     */
    determiningPolicies: z.array(z.string()),
    obligations: z.array(ObligationStatusSchema),
    /** Human explanations, lowercase, one per line of thought. */
    reasons: z.array(z.string()),
    /** Evaluation errors (a policy that erred, a value that did not fit its type). */
    errors: z.array(z.string()),
    policySetHash: z.string(),
  })
  .strict();
export type PolicyDecision = z.infer<typeof PolicyDecisionSchema>;
