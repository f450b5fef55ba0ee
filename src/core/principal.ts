// The authenticated actor, shared by both halves: retrieval filters by it, the broker
// decides for it. Only the auth layer builds one; no request body ever supplies it.
import { z } from 'zod';

export const PrincipalKindSchema = z.enum(['user', 'agent', 'service']);
export type PrincipalKind = z.infer<typeof PrincipalKindSchema>;

/** Tenant, principal, group and role names: short, printable, no separators that could forge a Cedar uid. */
export const NameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/, 'use letters, digits and . _ : @ - (at most 128)');

/** Prefixes of ledger subjects that name home-wide records, not principals. */
const RESERVED_SUBJECT_PREFIXES = ['policy_set:', 'keyring:'] as const;

/**
 * A principal id: a name that cannot pass for a reader key of another kind, nor for a
 * home-wide ledger subject. Documents name readers by principal id, `group:NAME` or `*`, so a
 * principal called `group:finance` would read the finance group's documents; and the ledger
 * names a principal's entries by its id, so one called `policy_set:…` would sit among the
 * policy set activations that every decision's lineage follows.
 */
export const PrincipalIdSchema = NameSchema.refine((id) => !id.startsWith('group:'), 'a principal id may not start with `group:` (reserved for group readers)').refine(
  (id) => !RESERVED_SUBJECT_PREFIXES.some((prefix) => id.startsWith(prefix)),
  `a principal id may not start with ${RESERVED_SUBJECT_PREFIXES.map((p) => `\`${p}\``).join(' or ')} (reserved for home-wide ledger records)`,
);

export const PrincipalSchema = z
  .object({
    id: PrincipalIdSchema,
    kind: PrincipalKindSchema,
    tenant: NameSchema,
    displayName: z.string().max(200).optional(),
    /** Groups the principal belongs to; documents name readers by principal id or group. */
    groups: z.array(NameSchema).default([]),
    /** Roles the principal holds, e.g. `approver:finance`. */
    roles: z.array(NameSchema).default([]),
    /** For agents: the principal it acts for by default. */
    onBehalfOf: NameSchema.optional(),
    attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  })
  .strict();
export type Principal = z.output<typeof PrincipalSchema>;
