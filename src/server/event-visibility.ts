// Who may see which ledger entry on the live-events stream (docs/events.md states the rule).
import type { Principal } from '../core/index.js';
import type { LedgerEntry } from '../ledger/index.js';
import { isTenantReader } from './auth.js';

/** How much of its tenant's ledger a principal sees live. */
export type EventScope = 'tenant' | 'workflow' | 'own';

/** Entries about the proposal workflow, which every person of the tenant may follow. */
export const WORKFLOW_KINDS: ReadonlySet<string> = new Set([
  'proposal.created',
  'proposal.expired',
  'decision.made',
  'approval.granted',
  'approval.rejected',
  'warrant.issued',
  'transition.started',
  'transition.executed',
  'transition.failed',
]);

/**
 * The scope of a principal. Agents are always `own`, whatever roles they hold; people and
 * services holding `auditor` or `admin` see the whole tenant; other people and services
 * follow the proposal workflow of their tenant plus their own entries.
 */
export function eventScopeOf(principal: Principal): EventScope {
  if (principal.kind === 'agent') return 'own';
  return isTenantReader(principal) ? 'tenant' : 'workflow';
}

/** Looks up who owns a proposal or a session (`undefined` when there is none). */
export interface OwnershipLookup {
  proposal(id: string): { actorId: string; onBehalfOf: string | null; tenant: string } | undefined;
  session(id: string): { actorId: string; onBehalfOf: string | null; tenant: string } | undefined;
}

/**
 * Builds the visibility predicate of one subscriber. It caches ownership answers (a
 * proposal's or session's actor never changes), bounded to `cacheSize` ids.
 */
export function createEventVisibility(principal: Principal, lookup: OwnershipLookup, cacheSize = 10_000): (entry: LedgerEntry) => boolean {
  const scope = eventScopeOf(principal);
  const owned = new Map<string, boolean>();
  const isMine = (owner: { actorId: string; onBehalfOf: string | null; tenant: string } | undefined): boolean =>
    owner !== undefined && owner.tenant === principal.tenant && (owner.actorId === principal.id || owner.onBehalfOf === principal.id);
  const ownsRecord = (id: string): boolean => {
    const kind = id.startsWith('prp_') ? 'proposal' : id.startsWith('ses_') ? 'session' : undefined;
    if (kind === undefined) return false;
    let answer = owned.get(id);
    if (answer === undefined) {
      answer = isMine(kind === 'proposal' ? lookup.proposal(id) : lookup.session(id));
      if (owned.size >= cacheSize) owned.clear();
      owned.set(id, answer);
    }
    return answer;
  };

  return (entry) => {
    // INVARIANT: no principal ever sees another tenant's entries, nor entries without a tenant.
    if (entry.tenant !== principal.tenant) return false;
    if (scope === 'tenant') return true;
    if (entry.actorId === principal.id || entry.subjectId === principal.id) return true;
    if (scope === 'workflow' && WORKFLOW_KINDS.has(entry.kind)) return true;
    // INVARIANT: an agent sees others' entries only when they concern a proposal or session
    // that it (or the principal it acts for) owns: a decision, approval, warrant, transition.
    if (entry.kind === 'bundle.sealed' || entry.kind.startsWith('document.') || entry.kind === 'principal.upserted') return false;
    if (ownsRecord(entry.subjectId)) return true;
    return (entry.refs ?? []).some(ownsRecord);
  };
}
