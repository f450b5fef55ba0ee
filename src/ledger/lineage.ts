// Lineage and impact: walks over the refs graph of ledger entries. Lineage goes backward
// (what informed this record), impact goes forward (what this record informed).
import type { LedgerEntry, LedgerGraph, LedgerGraphOptions } from './types.js';

/** The two lookups a walk needs. */
export interface RefsGraph {
  entriesAbout(subjectId: string): LedgerEntry[];
  entriesReferencing(id: string): LedgerEntry[];
  /** Seq of the first entry about `subjectId` (the one that created it), if any. */
  firstSeqAbout(subjectId: string): number | undefined;
}

const DEFAULT_MAX = 10_000;

/**
 * Entry kinds recorded for the whole home (no tenant) that every tenant's walk passes
 * through: the policy set activations, whose content every tenant's auditor may read at
 * `/v1/policies`. Any other entry without a tenant stays out of a tenant's walk.
 */
export const HOME_WIDE_KINDS: ReadonlySet<string> = new Set(['policy_set.activated']);

function visibleTo(entry: LedgerEntry, tenant: string | undefined): boolean {
  return tenant === undefined || entry.tenant === tenant || (entry.tenant === null && HOME_WIDE_KINDS.has(entry.kind));
}

function collect(id: string, found: Map<number, LedgerEntry>, truncated: boolean): LedgerGraph {
  const entries = [...found.values()].sort((a, b) => a.seq - b.seq);
  const byKind: Record<string, LedgerEntry[]> = {};
  for (const entry of entries) (byKind[entry.kind] ??= []).push(entry);
  return { id, entries, byKind, truncated };
}

/**
 * Everything that informed `id`: the entries about `id`, then the entries about each id
 * they ref, and so on. Only entries older than the entry that refs them are followed,
 * so later events about an input (a revocation after the decision) stay out.
 */
export function walkLineage(graph: RefsGraph, id: string, options: LedgerGraphOptions = {}): LedgerGraph {
  const max = options.maxEntries ?? DEFAULT_MAX;
  const found = new Map<number, LedgerEntry>();
  // For each id, the largest seq bound it was expanded with; a larger bound re-expands it.
  const expanded = new Map<string, number>();
  const queue: Array<{ id: string; beforeSeq: number }> = [{ id, beforeSeq: Number.POSITIVE_INFINITY }];
  while (queue.length > 0) {
    const next = queue.shift() as { id: string; beforeSeq: number };
    if ((expanded.get(next.id) ?? -1) >= next.beforeSeq) continue;
    expanded.set(next.id, next.beforeSeq);
    for (const entry of graph.entriesAbout(next.id)) {
      if (entry.seq >= next.beforeSeq) break;
      if (!visibleTo(entry, options.tenant)) continue;
      if (found.has(entry.seq)) continue;
      if (found.size >= max) return collect(id, found, true);
      found.set(entry.seq, entry);
      for (const ref of entry.refs ?? []) queue.push({ id: ref, beforeSeq: entry.seq });
    }
  }
  return collect(id, found, false);
}

/**
 * Everything `id` informed: the entries about `id`, the entries that ref it, then the
 * same for each record those entries created, and so on. A record is followed only when
 * the entry that refs the current one is its first entry (the one that created it): a
 * decision made from a proposal is derived from it, but a session revoked while voiding
 * that proposal is not, so the session's other proposals stay out.
 */
export function walkImpact(graph: RefsGraph, id: string, options: LedgerGraphOptions = {}): LedgerGraph {
  const max = options.maxEntries ?? DEFAULT_MAX;
  const found = new Map<number, LedgerEntry>();
  const expanded = new Set<string>();
  const queue: string[] = [id];
  const add = (entry: LedgerEntry, follow: boolean): boolean => {
    if (!visibleTo(entry, options.tenant)) return true;
    if (found.has(entry.seq)) return true;
    if (found.size >= max) return false;
    found.set(entry.seq, entry);
    if (follow && !expanded.has(entry.subjectId) && graph.firstSeqAbout(entry.subjectId) === entry.seq) queue.push(entry.subjectId);
    return true;
  };
  while (queue.length > 0) {
    const next = queue.shift() as string;
    if (expanded.has(next)) continue;
    expanded.add(next);
    for (const entry of graph.entriesAbout(next)) if (!add(entry, false)) return collect(id, found, true);
    for (const entry of graph.entriesReferencing(next)) if (!add(entry, true)) return collect(id, found, true);
  }
  return collect(id, found, false);
}
