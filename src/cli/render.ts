// Human renderings shared by several commands: aligned tables and decision summaries.
import type { DecisionRecord, ProposalRecord } from '../broker/index.js';

/** An aligned text table; `columns` names the header of each column. */
export function table(columns: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | null | undefined>>): string {
  const cells = [columns, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}

/** Decision shape the CLI renders (local records and server answers alike). */
export type DecisionView = Pick<DecisionRecord, 'id' | 'outcome' | 'determiningPolicies' | 'obligations' | 'reasons'> & Partial<Pick<DecisionRecord, 'errors' | 'policySetHash'>>;

const OUTCOME_WORD = { allow: 'ALLOWED', deny: 'DENIED', needs_approval: 'NEEDS APPROVAL' } as const;

/** A few lines explaining a decision: outcome, the policies that determined it, obligations, reasons. */
export function renderDecision(decision: DecisionView, proposal?: Pick<ProposalRecord, 'id' | 'action' | 'targetId' | 'status'>): string {
  const lines = [
    `${OUTCOME_WORD[decision.outcome]}${proposal ? `: ${proposal.action} on ${proposal.targetId} (proposal ${proposal.id}, now ${proposal.status})` : ''}`,
    `  decision:  ${decision.id}`,
    `  policies:  ${decision.determiningPolicies.length === 0 ? '(none: deny by default)' : decision.determiningPolicies.join(', ')}`,
  ];
  for (const o of decision.obligations) lines.push(`  approval:  ${o.count} × ${o.role} ${o.satisfied ? '(satisfied)' : '(pending)'}`);
  for (const r of decision.reasons) lines.push(`  reason:    ${r}`);
  for (const e of decision.errors ?? []) lines.push(`  error:     ${e}`);
  return lines.join('\n');
}
