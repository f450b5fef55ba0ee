// A verification as an auditor of one tenant may see it. The chain is one for the whole
// home, so its verdict is shared; but how many entries other tenants have, when the newest
// was written, or which of theirs failed, is their activity, not this tenant's to learn.
import type { Db } from '../store/index.js';
import type { LedgerProblem, LedgerTenantVerification } from './types.js';
import type { ChainVerification } from './verify.js';

/** Problems named at an existing entry of the chain; the others concern the chain as a whole (its tail, checkpoints, rows outside it). */
const ENTRY_PROBLEMS: ReadonlySet<LedgerProblem> = new Set<LedgerProblem>(['hash_mismatch', 'broken_link', 'reordered', 'checkpoint_mismatch', 'refs_mismatch']);

/**
 * Scopes `result` (verified with the `tenant` option, so its tenant's entries were counted
 * during the walk) to what an auditor of `tenant` may see.
 */
export function tenantVerification(db: Db, result: ChainVerification, tenant: string): LedgerTenantVerification {
  const counted = result.tenantEntries ?? { checked: 0, lastSeq: 0 };
  const lastChecked =
    counted.lastSeq > 0 ? ((db.prepare('SELECT seq, hash, at FROM ledger_entries WHERE seq = ?').get(counted.lastSeq) as LedgerTenantVerification['lastChecked']) ?? null) : null;
  const scoped: LedgerTenantVerification = { ok: result.ok, tenant, checked: counted.checked, lastChecked };
  const bad = result.firstBad;
  if (bad === undefined) return scoped;
  // Judged by the entry's stored tenant: for an edited entry that may be the edited field,
  // which can show its detail to the wrong tenant's auditor, but never another entry's.
  const isOwnEntry =
    ENTRY_PROBLEMS.has(bad.problem) && bad.seq >= 1 && db.prepare('SELECT tenant FROM ledger_entries WHERE seq = ?').pluck().get(bad.seq) === tenant;
  if (isOwnEntry) return { ...scoped, firstBad: bad };
  const message = ENTRY_PROBLEMS.has(bad.problem)
    ? 'an entry outside your tenant failed verification: an operator with the database can name it with `writ audit verify`'
    : 'the ledger failed verification outside the entries of your tenant: an operator with the database can name the problem with `writ audit verify`';
  return { ...scoped, firstBad: { problem: bad.problem, message } };
}
