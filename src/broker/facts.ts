// Computes the facts policy decides on: the target's state and version, whether the
// action's transition is legal from there, the valid approvals of this exact proposal
// hash, the basis bundles' existence, ownership, session and freshness, and taint.
import type { Principal } from '../core/index.js';
import type { Db } from '../store/index.js';
import type { BrokerContext } from './context.js';
import type { BasisItemFacts, Facts } from './facts-schema.js';
import { readPrincipal, type Parties } from './principals.js';
import { prep, readLock, readResource, toApproval, type ProposalRecord } from './records.js';
import type { EvidenceBundle } from './evidence.js';
import { buildTaintCorpus, isTainted } from './taint.js';

/**
 * What the shown bundles put before their reader, as taint sources: each document
 * version's chunks in order as one run (a value cut by a chunk boundary is still one
 * value), and each distinct title and heading path on its own.
 */
function taintSources(bundles: readonly EvidenceBundle[]): Array<string | string[]> {
  const runs = new Map<string, Map<number | string, string>>();
  const labels = new Set<string>();
  for (const bundle of bundles) {
    for (const chunk of bundle.chunks) {
      const key = `${chunk.documentId}@${chunk.documentVersion}`;
      const run = runs.get(key) ?? new Map<number | string, string>();
      runs.set(key, run);
      run.set(chunk.ordinal ?? chunk.chunkId, chunk.text);
      if (chunk.title !== undefined && chunk.title !== '') labels.add(chunk.title);
      if (chunk.heading !== undefined && chunk.heading !== '') labels.add(chunk.heading);
    }
  }
  const sources: Array<string | string[]> = [];
  for (const run of runs.values()) {
    sources.push([...run].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, text]) => text));
  }
  return [...sources, ...labels];
}

/**
 * The approvals that count for `proposal` at `at`: verdict approved, bound to the
 * proposal's current hash, unexpired, by an enabled human user of the same tenant who is
 * neither the actor nor its on-behalf-of principal; one per approver. Roles are those
 * recorded at approval that the approver still holds, listed once per approver (so
 * `roles` holds `finance` twice when two finance approvers signed off).
 */
export function validApprovals(db: Db, proposal: ProposalRecord, at: string): { approverIds: string[]; roles: string[] } {
  const rows = prep(db, "SELECT * FROM approvals WHERE proposal_id = ? AND verdict = 'approved' ORDER BY created_at").all(proposal.id) as Array<
    Record<string, unknown>
  >;
  const approverIds: string[] = [];
  const rolesBy = new Map<string, Set<string>>();
  const now = Date.parse(at);
  for (const approval of rows.map(toApproval)) {
    // INVARIANT: an approval counts only for the exact proposal hash it signed off, and only until it expires.
    if (approval.proposalHash !== proposal.hash || Date.parse(approval.expiresAt) <= now) continue;
    // INVARIANT: the proposer and the principal it acts for never approve their own proposal.
    if (approval.approverId === proposal.actorId || approval.approverId === proposal.onBehalfOf) continue;
    const approver = readPrincipal(db, approval.approverId);
    // INVARIANT: only an enabled human user of the proposal's tenant approves.
    if (approver === undefined || approver.disabled || approver.principal.kind !== 'user' || approver.principal.tenant !== proposal.tenant) continue;
    const held = approval.roles.filter((r) => approver.principal.roles.includes(r));
    if (held.length === 0) continue;
    if (!approverIds.includes(approval.approverId)) approverIds.push(approval.approverId);
    const mine = rolesBy.get(approval.approverId) ?? new Set<string>();
    for (const r of held) mine.add(r);
    rolesBy.set(approval.approverId, mine);
  }
  // One entry per (approver, role): policy counts approvers holding a role by counting entries.
  const roles = [...rolesBy.values()].flatMap((set) => [...set]).sort();
  return { approverIds, roles };
}

/**
 * Computes the facts for `proposal`, reading the store and the evidence reader. `parties`
 * are the proposal's actor and on-behalf-of principal as read in the same transaction.
 */
export function computeFacts(ctx: BrokerContext, db: Db, proposal: ProposalRecord, at: string, parties: Parties): Facts {
  const action = ctx.catalog.actions[proposal.action];
  if (action === undefined) throw new Error(`catalog has no action \`${proposal.action}\``);
  const actor = parties.actor?.principal as Principal;
  const onBehalfOf = parties.onBehalfOf?.principal ?? null;

  // Resources are the proposal's tenant's own: another tenant's with the same id is not seen.
  const target = readResource(db, proposal.tenant, proposal.resourceType, proposal.targetId);
  const exists = target !== undefined;
  const locked = readLock(db, proposal.tenant, proposal.resourceType, proposal.targetId) !== null;
  const legal = !locked && (action.create ? !exists : target !== undefined && action.from.includes(target.state));

  // Only a proposal pending approval is approved, and only a decision moves it there: one
  // never decided (no decision id yet) has no approvals to look up.
  const approvals = proposal.decisionId === null ? { approverIds: [], roles: [] } : validApprovals(db, proposal, at);

  const evidence = ctx.evidence.getEvidence(proposal.basis);
  const items: BasisItemFacts[] = [];
  const shown: EvidenceBundle[] = [];
  for (const bundleId of proposal.basis) {
    const bundle = evidence.get(bundleId);
    // INVARIANT: a bundle of another tenant, or one whose record no longer matches its seal, is treated as absent; its text never feeds any fact.
    if (bundle === undefined || bundle.tenant !== proposal.tenant || bundle.sealValid === false) {
      items.push({ bundleId, exists: false, fresh: false, ownedByActor: false, sameSession: false, staleDocuments: [] });
      continue;
    }
    const stale = bundle.chunks.filter((c) => !c.fresh);
    const staleDocuments = [...new Map(stale.map((c) => [`${c.documentId}@${c.documentVersion}`, c])).values()].map((c) => ({
      documentId: c.documentId,
      reason: c.staleReason ?? ('superseded' as const),
      version: c.documentVersion,
    }));
    const ownedByActor = bundle.principalId === proposal.actorId;
    items.push({
      bundleId,
      exists: true,
      fresh: bundle.fresh && stale.length === 0,
      ownedByActor,
      sameSession: bundle.sessionId === proposal.sessionId,
      staleDocuments,
    });
    // INVARIANT: only text the actor itself retrieved feeds taint. Another principal's bundle may hold text the actor may not read, and which params it taints would tell, a guess at a time.
    if (ownedByActor) shown.push(bundle);
  }
  // The session's other bundles retrieved up to the proposal were shown to the same actor:
  // an injected text need not be cited to have shaped the proposal (it can even ask not to be).
  const sessionBundles: string[] = [];
  if (proposal.sessionId !== null && ctx.evidence.sessionBundleIds !== undefined) {
    const cited = new Set(proposal.basis);
    const ids = ctx.evidence
      .sessionBundleIds(proposal.sessionId)
      .filter((id) => !cited.has(id))
      .sort();
    const more = ids.length > 0 ? ctx.evidence.getEvidence(ids) : new Map<string, EvidenceBundle>();
    for (const id of ids) {
      const bundle = more.get(id);
      if (bundle === undefined || bundle.tenant !== proposal.tenant || bundle.sealValid === false) continue;
      if (bundle.principalId !== proposal.actorId || bundle.sessionId !== proposal.sessionId) continue;
      // INVARIANT: only what was shown before the proposal was made can have shaped it; a later retrieval changes no decision on it, first or again.
      if (bundle.createdAt > proposal.createdAt) continue;
      shown.push(bundle);
      sessionBundles.push(id);
    }
  }

  const tainted: string[] = [];
  const trustedTainted: string[] = [];
  const sources = taintSources(shown);
  // Without shown text nothing is tainted, so the corpus is built only when there is some.
  if (sources.length > 0) {
    // One scope per actor: its texts were shown to it alone (see TaintTextCache).
    const corpus = buildTaintCorpus(sources, { cache: ctx.taintTexts, scope: `${proposal.tenant}/${proposal.actorId}` });
    for (const [name, value] of Object.entries(proposal.params)) {
      const trusted = action.params[name]?.trusted ?? false;
      if (isTainted(value, corpus, { trusted, minLength: ctx.config.taintMinLength })) {
        tainted.push(name);
        if (trusted) trustedTainted.push(name);
      }
    }
  }

  // Keys in RFC 8785 order, here and below: the decision's ledger entry then writes the facts
  // without a sorted copy (see canonicalJson).
  return {
    actor,
    approvals: { approverIds: approvals.approverIds, count: approvals.approverIds.length, roles: approvals.roles },
    at,
    basis: {
      allExist: items.every((i) => i.exists),
      allFresh: items.every((i) => i.fresh),
      allOwned: items.every((i) => i.ownedByActor),
      allSameSession: items.every((i) => i.sameSession),
      count: items.length,
      items,
    },
    onBehalfOf,
    proposal: {
      action: proposal.action,
      hash: proposal.hash,
      id: proposal.id,
      params: { ...proposal.params },
      resourceType: proposal.resourceType,
      sessionId: proposal.sessionId,
      targetId: proposal.targetId,
    },
    taint: { anyTrusted: trustedTainted.length > 0, params: tainted.sort(), sessionBundles, trustedParams: trustedTainted.sort() },
    target: {
      attributes: { ...(target?.attributes ?? {}) },
      exists: target !== undefined,
      state: target?.state ?? null,
      tenant: target?.tenant ?? null,
      version: target?.version ?? 0,
    },
    transition: { effect: action.effect, from: target?.state ?? null, legal, to: action.to },
  };
}
