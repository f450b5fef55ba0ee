// Settings of the broker, with their defaults: warrant and approval lifetimes, session
// limits and the taint rule's minimum length. Parsed once when the broker is created.
import { z } from 'zod';

const ms = z.number().int().positive();
const count = z.number().int().nonnegative();

export const SessionBudgetsSchema = z
  .object({
    retrievals: count.default(100),
    proposals: count.default(20),
    contextChars: count.default(200_000),
  })
  .strict();
export type SessionBudgets = z.output<typeof SessionBudgetsSchema>;

/** The ceiling of a session's budgets; each one left out stays at its default. */
export const MaxSessionBudgetsSchema = z
  .object({
    retrievals: count.default(1_000),
    proposals: count.default(200),
    contextChars: count.default(2_000_000),
  })
  .strict();

export const BrokerConfigSchema = z
  .object({
    /** Lifetime of a warrant (default 5 minutes). */
    warrantTtlMs: ms.max(24 * 3600_000).default(5 * 60_000),
    /** Lifetime of an approval (default 24 hours). */
    approvalTtlMs: ms.default(24 * 3600_000),
    /** How long an authorized proposal may still obtain warrants (default 1 hour). */
    authorizationTtlMs: ms.default(3600_000),
    /** How long a proposal may wait for approvals before `expireStale` expires it (default 7 days). */
    pendingApprovalTtlMs: ms.default(7 * 24 * 3600_000),
    /** Longest session a caller may ask for (default 24 hours). */
    maxSessionTtlMs: ms.default(24 * 3600_000),
    /** Budgets of a session that asks for none. */
    defaultBudgets: SessionBudgetsSchema.default({ retrievals: 100, proposals: 20, contextChars: 200_000 }),
    /**
     * The most a session may ask for, budget by budget (default ten times the default
     * budgets). Whoever opens a session (an agent, usually) names its budgets; without a
     * ceiling an agent could give itself an unbounded run.
     */
    maxBudgets: MaxSessionBudgetsSchema.default({ retrievals: 1_000, proposals: 200, contextChars: 2_000_000 }),
    /** Most bundles a proposal may cite. */
    maxBasis: z.number().int().min(0).max(1000).default(50),
    /**
     * Untrusted param values shorter than this (after normalization) are never reported
     * tainted; trusted ones are checked at any length, as whole tokens.
     */
    taintMinLength: z.number().int().min(1).max(64).default(4),
    /**
     * Characters of shown text, with the forms taint cuts from it (about seven times the
     * text), kept prepared between decisions, so a long session's texts are folded once, not
     * at every decision; 0 turns it off. The default holds two sessions at the 2M-character
     * ceiling of \`maxBudgets\`, or about twenty at the default budget: ~16–32 MB at most.
     */
    taintCacheChars: count.max(1_000_000_000).default(32_000_000),
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const key of ['retrievals', 'proposals', 'contextChars'] as const) {
      if (config.defaultBudgets[key] > config.maxBudgets[key]) {
        ctx.addIssue({ code: 'custom', path: ['defaultBudgets', key], message: `at most \`maxBudgets.${key}\` (${config.maxBudgets[key]})` });
      }
    }
  });
export type BrokerConfig = z.output<typeof BrokerConfigSchema>;
export type BrokerConfigInput = z.input<typeof BrokerConfigSchema>;
