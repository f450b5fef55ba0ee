// The policy engine: decides a proposal's facts against a validated policy set with Cedar.
// Deny by default, forbid beats permit, both sides of a delegation must allow, and
// approval obligations (policy annotations) turn an allow into needs_approval.
// Evaluation does no I/O: policy sets are pre-parsed per (action, principal type) slice
// when the engine is created (one Cedar call per side of a decision), requests carry only
// what the slice's policies read, and Cedar's answers are memoised on that request. Should
// Cedar fail (a trap), its instance is replaced (./cedar.ts) and the slices pre-parsed again.
import { callCedar, cedarGeneration, cedarReplacements } from './cedar.js'; // first: keeps V8 from an abort on Node 20 (./wasm-calls.ts)
import type { AuthorizationAnswer, EntityJson, PolicyJson } from '@cedar-policy/cedar-wasm/nodejs';
import { WritError, isWritError, sealOf, type Principal } from '../../core/index.js';
import type { Catalog } from '../catalog.js';
import { BrokerErrors } from '../errors.js';
import type { Facts } from '../facts-schema.js';
import type { ObligationStatus, PolicyDecision, PolicyOutcome } from './decision.js';
import { loadPolicies, type LoadedPolicySet, type Obligation, type ParsedPolicy, type PolicySource } from './load.js';
import { buildCedarRequest, buildRequestBase, EVERYTHING, principalEntityType, requestNeedsOf, type CedarRequest, type RequestBase, type RequestNeeds } from './request.js';
import { createMemo } from './memo.js';
import { PRINCIPAL_ENTITY_TYPES, type CedarSchemaJson } from './schema.js';

export interface PolicyEngineOptions {
  readonly catalog: Catalog;
  /** A set from `loadPolicies`/`loadPolicyDir`, or sources to load (with the defaults). */
  readonly policies: LoadedPolicySet | readonly PolicySource[];
  /**
   * Cedar answers memoised per projected request: an answer used within the last this many
   * new ones is kept, as in an LRU of this size; at most twice this many are held (two
   * generations, so that a hit writes nothing: memo.ts). 0 turns the memo off. Default 4096.
   */
  readonly cacheSize?: number;
  /**
   * Slice by action and principal type, send only the attributes policies read, and
   * canonicalise values used only against literals. Default true; false is the plain
   * reference path the tests compare against.
   */
  readonly optimise?: boolean;
}

/** Decides facts against one policy set. Create with `createPolicyEngine`. */
export interface PolicyEngine {
  readonly policySetHash: string;
  readonly schema: CedarSchemaJson;
  readonly policies: readonly ParsedPolicy[];
  /**
   * Decides `facts` (as the broker computes them: `FactsSchema` output; not re-parsed here,
   * to keep decisions fast). Never throws for a deny or a policy error: those are results.
   * Throws BROKER_POLICY_ENGINE_FAILED when Cedar itself fails (a WebAssembly trap) on a
   * fresh instance too: that is no decision, so it is not turned into a deny.
   */
  decide(facts: Facts): PolicyDecision;
  /** What `policySetHash` seals: the catalog, the schema and the policies (recorded in the ledger when the set is activated). */
  describe(): { readonly catalog: Catalog; readonly schema: CedarSchemaJson; readonly policies: readonly ParsedPolicy[] };
  /**
   * Counters since creation: Cedar calls made and answers served from the memo; `memoSize` is
   * the answers held now (at most 2 × `cacheSize`; one moved to the newer generation counts
   * twice until the older is dropped); `cedarReplacements`: Cedar instances replaced after a
   * failure in this process (any caller's), `repreparsed`: times this engine pre-parsed its
   * slices again on a fresh instance.
   */
  stats(): { cedarCalls: number; memoHits: number; memoSize: number; cedarReplacements: number; repreparsed: number };
}

interface Slice {
  /**
   * The pre-parsed set. Softened forbids (`@unless_approved`) are pre-parsed as permits: a
   * hard forbid still overrides everything, and one Cedar call then tells which permits
   * and which softened forbids matched (see decideSide).
   */
  readonly setId: string;
  readonly byId: ReadonlyMap<string, ParsedPolicy>;
  readonly needs: RequestNeeds;
  /** Context sets the slice reads only as `set.contains(principal.id)` (see selfMembershipPaths); null for none. */
  readonly selfPaths: readonly (readonly string[])[] | null;
}

interface CedarVerdict {
  readonly decision: 'allow' | 'deny';
  readonly reason: readonly string[];
  readonly errors: ReadonlyArray<{ policyId: string; message: string }>;
  readonly failure: string | null;
}

interface PendingObligation extends Obligation {
  readonly policyId: string;
}

interface SideResult {
  readonly outcome: PolicyOutcome;
  readonly determining: string[];
  readonly obligations: PendingObligation[];
  readonly reasons: string[];
  readonly errors: string[];
}

let engineSequence = 0;

/** The side's result when no policy permits: deny by default, after any `extra` reasons. */
function denyByDefault(who: string, actionId: string, extra: string[] = [], errors: string[] = []): SideResult {
  return { outcome: 'deny', determining: [], obligations: [], reasons: [...extra, `no policy permits ${who} to \`${actionId}\`: denied by default`], errors };
}

/** Approvers holding `role` so far: each approver contributes each of its roles once. */
function approversWithRole(facts: Facts, role: string): number {
  let n = 0;
  for (const held of facts.approvals.roles) if (held === role) n++;
  return n;
}

function toVerdict(answer: AuthorizationAnswer): CedarVerdict {
  if (answer.type === 'failure') {
    return { decision: 'deny', reason: [], errors: [], failure: answer.errors.map((e) => e.message).join('; ') };
  }
  const { decision, diagnostics } = answer.response;
  return {
    decision,
    reason: [...diagnostics.reason].sort(),
    errors: diagnostics.errors.map((e) => ({ policyId: e.policyId, message: e.error.message })),
    failure: null,
  };
}

/** `principal.a.b` → ['principal', 'a', 'b']; anything else → null. */
function exprPath(expr: unknown): string[] | null {
  if (expr === null || typeof expr !== 'object') return null;
  const node = expr as Record<string, unknown>;
  if (typeof node['Var'] === 'string') return [node['Var']];
  const dot = node['.'] as { left?: unknown; attr?: unknown } | undefined;
  if (dot !== undefined && dot !== null && typeof dot === 'object' && typeof dot.attr === 'string') {
    const left = exprPath(dot.left);
    return left === null ? null : [...left, dot.attr];
  }
  return null;
}

const isPrincipalId = (path: readonly string[] | null): boolean => path !== null && path.length === 2 && path[0] === 'principal' && path[1] === 'id';

/**
 * The context sets (paths below `context`) that `policies` read only as
 * `<set>.contains(principal.id)`, when that is also the only way they read `principal.id`
 * (the sample's separation-of-duties forbid: `context.approvals.approverIds.contains(principal.id)`).
 * For such a slice the request may carry, instead of the principal's id and those sets, a
 * fixed placeholder id and for each set `[placeholder]` or `[]` (whether it holds the id):
 * every expression that reads them evaluates as before, and requests that differ only in
 * the principal's id share one memo entry. Null when the slice has no such use, or reads
 * `principal.id`, a self set, or anything above a self set in any other way.
 */
function selfMembershipPaths(policies: readonly PolicyJson[]): string[][] | null {
  const selfSets = new Map<string, string[]>();
  const otherReads: string[][] = [];
  const visit = (expr: unknown): void => {
    if (Array.isArray(expr)) {
      for (const item of expr) visit(item);
      return;
    }
    if (expr === null || typeof expr !== 'object') return;
    const node = expr as Record<string, unknown>;
    if ('Value' in node) return;
    const path = exprPath(node);
    if (path !== null) {
      otherReads.push(path);
      return;
    }
    const contains = node['contains'] as { left?: unknown; right?: unknown } | undefined;
    if (contains !== undefined && contains !== null && typeof contains === 'object') {
      const set = exprPath(contains.left);
      if (set !== null && set.length >= 2 && set[0] === 'context' && isPrincipalId(exprPath(contains.right))) {
        selfSets.set(set.join('\u0000'), set);
        return;
      }
    }
    // `x has a` tests presence only; the projection keeps every attribute present.
    const has = node['has'] as { left?: unknown } | undefined;
    if (has !== undefined && has !== null && typeof has === 'object' && exprPath(has.left) !== null) return;
    for (const value of Object.values(node)) visit(value);
  };
  for (const policy of policies) visit(policy.conditions);
  if (selfSets.size === 0) return null;
  for (const read of otherReads) {
    if (isPrincipalId(read)) return null;
    for (const set of selfSets.values()) {
      // Reading a self set, anything inside it, or anything above it (e.g. all of `context`) in another way.
      const n = Math.min(read.length, set.length);
      let same = true;
      for (let i = 0; i < n && same; i++) same = read[i] === set[i];
      if (same) return null;
    }
  }
  return [...selfSets.values()];
}

/** A copy of `record` with `value` at `path` from `path[i]` down (copy on write). */
function setAt(record: Record<string, unknown>, path: readonly string[], i: number, value: string[]): Record<string, unknown> {
  const key = path[i] as string;
  return { ...record, [key]: i === path.length - 1 ? value : setAt(record[key] as Record<string, unknown>, path, i + 1, value) };
}

/** The placeholder principal id of a self-membership projection. */
const SELF = '(self)';

/**
 * `request` with the principal's id replaced by SELF and each self set by `[SELF]` or `[]`
 * (copy on write). Returns `request` itself unless the principal entity carries `selfId`
 * as its `id` and every self set is present as an array of strings.
 */
function projectSelfMembership(request: CedarRequest, paths: readonly (readonly string[])[], selfId: string): CedarRequest {
  // buildCedarRequest gives the principal's entity the very uid object of `request.principal`.
  let index = -1;
  for (let i = 0; i < request.entities.length; i++) {
    if ((request.entities[i] as EntityJson).uid === request.principal) {
      index = i;
      break;
    }
  }
  const entity = request.entities[index];
  if (entity === undefined || (entity.attrs as Record<string, unknown> | undefined)?.['id'] !== selfId) return request;
  const replacements: Array<{ path: readonly string[]; value: string[] }> = [];
  for (const path of paths) {
    let node: unknown = request.context;
    for (let i = 1; i < path.length && node !== undefined; i++) {
      node = node !== null && typeof node === 'object' && !Array.isArray(node) ? (node as Record<string, unknown>)[path[i] as string] : undefined;
    }
    if (!Array.isArray(node)) return request;
    let holds = false;
    for (const item of node as unknown[]) {
      if (typeof item !== 'string') return request;
      if (item === selfId) holds = true;
    }
    replacements.push({ path, value: holds ? [SELF] : [] });
  }
  let context = request.context as Record<string, unknown>;
  for (const { path, value } of replacements) context = setAt(context, path, 1, value);
  const entities = [...request.entities];
  entities[index] = { ...entity, attrs: { ...entity.attrs, id: SELF } };
  return { ...request, context: context as CedarRequest['context'], entities };
}

/**
 * Creates a policy engine. Loads (when given sources), pre-parses every slice and checks
 * the options now, so a bad policy set fails at start-up rather than at the first decision.
 *
 * @example
 * const engine = createPolicyEngine({ catalog, policies: loadPolicyDir('policies', { catalog }) });
 * const decision = engine.decide(facts);
 * if (decision.outcome === 'needs_approval') console.log(decision.obligations);
 */
export function createPolicyEngine(options: PolicyEngineOptions): PolicyEngine {
  const { catalog } = options;
  const loaded: LoadedPolicySet = Array.isArray(options.policies)
    ? loadPolicies({ catalog, sources: options.policies as readonly PolicySource[] })
    : (options.policies as LoadedPolicySet);
  if (loaded.catalog !== catalog && sealOf(loaded.catalog) !== sealOf(catalog)) {
    throw new WritError(BrokerErrors.BROKER_POLICY_INVALID, 'policies were loaded for another catalog: load them with this catalog', {
      details: { problems: [] },
    });
  }
  const optimise = options.optimise ?? true;
  const cacheSize = optimise ? (options.cacheSize ?? 4096) : 0;
  if (!Number.isInteger(cacheSize) || cacheSize < 0) {
    throw new WritError(BrokerErrors.BROKER_POLICY_INVALID, `\`cacheSize\` must be a whole number ≥ 0, got \`${cacheSize}\``, {
      details: { problems: [] },
    });
  }
  const namespace = catalog.namespace;
  const actionType = `${namespace}::Action`;
  const prefix = `writ:${++engineSequence}:${loaded.hash.slice(7, 19)}`;

  // INVARIANT: a slice holds every policy whose scope could match its (action, principal
  // type); leaving out only policies that cannot match keeps Cedar's answer unchanged.
  const slices = new Map<string, Slice | null>();
  // What each slice pre-parsed, kept to pre-parse again on a fresh Cedar instance.
  const preparsedSets: Array<{ setId: string; actionId: string; set: Record<string, PolicyJson> }> = [];
  for (const actionId of Object.keys(catalog.actions)) {
    for (const principalType of Object.values(PRINCIPAL_ENTITY_TYPES)) {
      const members = loaded.policies.filter(
        (p) => !optimise || ((p.actions === null || p.actions.includes(actionId)) && (p.principalTypes === null || p.principalTypes.includes(principalType))),
      );
      const key = `${actionId}\u0000${principalType}`;
      if (members.length === 0) {
        slices.set(key, null);
        continue;
      }
      // A slice with forbids but no permit still asks Cedar, so a deny names the forbids that fired.
      const setId = `${prefix}:${actionId}:${principalType}`;
      const set: Record<string, PolicyJson> = {};
      for (const p of members) set[p.id] = p.effect === 'forbid' && p.obligation !== null ? { ...p.json, effect: 'permit' } : p.json;
      preparsedSets.push({ setId, actionId, set });
      slices.set(key, {
        setId,
        byId: new Map(members.map((p) => [p.id, p])),
        needs: optimise ? requestNeedsOf(members.map((p) => p.json)) : EVERYTHING,
        selfPaths: optimise ? selfMembershipPaths(members.map((p) => p.json)) : null,
      });
    }
  }

  /** Pre-parses every slice on the current Cedar instance. */
  function preparseAll(): void {
    for (const { setId, actionId, set } of preparsedSets) {
      const answer = callCedar('pre-parsing policies', (cedar) => cedar.preparsePolicySet(setId, { staticPolicies: set }));
      if (answer.type === 'failure') {
        throw new WritError(BrokerErrors.BROKER_POLICY_INVALID, `policies for \`${actionId}\` do not pre-parse: ${answer.errors.map((e) => e.message).join('; ')}`, {
          details: { problems: answer.errors.map((e) => ({ file: '(policy set)', policyId: null, message: e.message })) },
        });
      }
    }
  }
  preparseAll();
  let preparsedIn = cedarGeneration();
  let repreparsed = 0;

  /** One Cedar call on the current instance, pre-parsing the slices first if it is a new one. */
  function askCedar(setId: string, actionId: string, request: CedarRequest): AuthorizationAnswer {
    // INVARIANT: a replaced instance holds none of our sets; ask only one that has them all.
    if (preparsedIn !== cedarGeneration()) {
      preparseAll();
      preparsedIn = cedarGeneration();
      repreparsed++;
    }
    return callCedar('deciding a proposal', (cedar) => cedar.statefulIsAuthorized({ ...request, action: { type: actionType, id: actionId }, preparsedPolicySetId: setId }));
  }

  const memo = createMemo<CedarVerdict>(cacheSize);
  let cedarCalls = 0;
  let memoHits = 0;
  function authorize(setId: string, actionId: string, request: CedarRequest): CedarVerdict {
    const key = cacheSize > 0 ? `${setId}\u0000${JSON.stringify(request)}` : '';
    if (cacheSize > 0) {
      const hit = memo.get(key);
      if (hit !== undefined) {
        memoHits++;
        return hit;
      }
    }
    cedarCalls++;
    let answer: AuthorizationAnswer;
    try {
      answer = askCedar(setId, actionId, request);
    } catch (err) {
      if (!isWritError(err, BrokerErrors.BROKER_POLICY_ENGINE_FAILED)) throw err;
      // The instance that failed is gone (./cedar.ts). Evaluation is pure, so the answer of a
      // fresh instance is the answer; should that fail too, the error goes up: a trap is not
      // a deny by policy, and recording it as one would deny a legitimate proposal for good.
      cedarCalls++;
      answer = askCedar(setId, actionId, request);
    }
    const verdict = toVerdict(answer);
    if (cacheSize > 0 && verdict.failure === null) {
      memo.set(key, verdict);
    }
    return verdict;
  }

  function decideSide(facts: Facts, base: RequestBase, principal: Principal, other: Principal | null, isActor: boolean): SideResult {
    const actionId = facts.proposal.action;
    const who = `${principal.kind} \`${principal.id}\``;
    const slice = slices.get(`${actionId}\u0000${principalEntityType(principal)}`) ?? null;
    if (slice === null) return denyByDefault(who, actionId);

    const built = buildCedarRequest({
      namespace,
      resourceType: facts.proposal.resourceType,
      targetId: facts.proposal.targetId,
      base,
      principal,
      other,
      isActor,
      needs: slice.needs,
    });
    // INVARIANT: the self-membership projection renames the principal's id consistently in
    // every place policies can read it, so Cedar's answer is unchanged (selfMembershipPaths).
    const request = slice.selfPaths === null ? built : projectSelfMembership(built, slice.selfPaths, principal.id);
    const first = authorize(slice.setId, actionId, request);
    const errors = first.errors.map((e) => `policy \`${e.policyId}\`: ${e.message}`);
    if (first.failure !== null) {
      return { outcome: 'deny', determining: [], obligations: [], reasons: [`policy evaluation failed for ${who}: denied`], errors: [first.failure] };
    }
    // INVARIANT: fail closed. Cedar skips a policy that errs; a skipped forbid could let a
    // request through that it was written to stop, so an erring forbid denies.
    const erredForbids = first.errors.map((e) => e.policyId).filter((id) => slice.byId.get(id)?.effect === 'forbid');
    if (erredForbids.length > 0) {
      const ids = [...new Set(erredForbids)];
      return {
        outcome: 'deny',
        determining: ids,
        obligations: [],
        reasons: ids.map((id) => `forbid policy \`${id}\` could not be evaluated for ${who}: denied to fail closed`),
        errors,
      };
    }

    const obligations: PendingObligation[] = [];
    const reasons: string[] = [];
    const matched = first.reason.map((id) => slice.byId.get(id)).filter((p): p is ParsedPolicy => p !== undefined);
    if (first.decision === 'deny') {
      // Only hard forbids deny in this set (softened ones were pre-parsed as permits).
      if (matched.length === 0) return denyByDefault(who, actionId, [], errors);
      return {
        outcome: 'deny',
        determining: matched.map((p) => p.id),
        obligations: [],
        reasons: matched.map((p) => `\`${p.id}\` forbids this for ${who}`),
        errors,
      };
    }
    // A softened forbid that matched holds the request for approval instead of denying; it
    // grants nothing, so a real permit must have matched too.
    const softened = matched.filter((p) => p.effect === 'forbid');
    const permits = matched.filter((p) => p.effect === 'permit').map((p) => p.id);
    for (const p of softened) {
      const obligation = p.obligation as Obligation;
      obligations.push({ ...obligation, policyId: p.id });
      reasons.push(`\`${p.id}\` forbids this for ${who} unless approved by ${obligation.count} \`${obligation.role}\``);
    }
    if (permits.length === 0) return denyByDefault(who, actionId, reasons, errors);
    for (const id of permits) {
      const policy = slice.byId.get(id);
      reasons.push(`\`${id}\` permits this for ${who}`);
      if (policy?.obligation) obligations.push({ ...policy.obligation, policyId: id });
    }
    const unmet = obligations.filter((o) => approversWithRole(facts, o.role) < o.count);
    const waiting = softened.map((p) => p.id).filter((id) => unmet.some((o) => o.policyId === id));
    return {
      outcome: unmet.length === 0 ? 'allow' : 'needs_approval',
      determining: unmet.length === 0 ? [...permits] : [...permits, ...waiting],
      obligations,
      reasons,
      errors,
    };
  }

  function mergeObligations(facts: Facts, pending: readonly PendingObligation[]): ObligationStatus[] {
    const byRole = new Map<string, { count: number; policies: Set<string> }>();
    for (const o of pending) {
      const entry = byRole.get(o.role) ?? { count: 0, policies: new Set<string>() };
      entry.count = Math.max(entry.count, o.count);
      entry.policies.add(o.policyId);
      byRole.set(o.role, entry);
    }
    return [...byRole.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([role, { count, policies }]) => ({ role, count, satisfied: approversWithRole(facts, role) >= count, policies: [...policies].sort() }));
  }

  /** The distinct strings of `pick` over the sides, in order (a copy; no set for one side, the common case). */
  function union(sides: readonly SideResult[], pick: (side: SideResult) => readonly string[]): string[] {
    if (sides.length === 1) {
      const only = pick(sides[0] as SideResult);
      return only.length < 2 ? [...only] : [...new Set(only)];
    }
    return [...new Set(sides.flatMap(pick))];
  }

  function decide(facts: Facts): PolicyDecision {
    const action = catalog.actions[facts.proposal.action];
    if (action === undefined || action.resourceType !== facts.proposal.resourceType) {
      return {
        outcome: 'deny',
        determiningPolicies: [],
        obligations: [],
        reasons: [`\`${facts.proposal.action}\` on \`${facts.proposal.resourceType}\` is not in the catalog: denied`],
        errors: [],
        policySetHash: loaded.hash,
      };
    }
    const base = buildRequestBase(catalog, facts);
    // INVARIANT: fail closed. A value the request had to leave out would look absent to a
    // `has` test, and a forbid guarded by one would be skipped; so nothing is decided on it.
    if (base.errors.length > 0) {
      return {
        outcome: 'deny',
        determiningPolicies: [],
        obligations: [],
        reasons: ['some facts cannot be given to policy as their catalog types: denied to fail closed'],
        errors: [...base.errors],
        policySetHash: loaded.hash,
      };
    }
    // INVARIANT: an agent never has more authority than the principal it acts for: with a
    // delegation the request is decided for both, each seeing the other as `actingFor`.
    const sides: SideResult[] = [decideSide(facts, base, facts.actor, facts.onBehalfOf, true)];
    if (facts.onBehalfOf !== null) sides.push(decideSide(facts, base, facts.onBehalfOf, facts.actor, false));

    const denied = sides.filter((s) => s.outcome === 'deny');
    const outcome: PolicyOutcome = denied.length > 0 ? 'deny' : sides.some((s) => s.outcome === 'needs_approval') ? 'needs_approval' : 'allow';
    const counted = outcome === 'deny' ? denied : sides;
    const determining = union(counted, (s) => s.determining).sort();
    const obligations = outcome === 'deny' ? [] : mergeObligations(facts, sides.length === 1 ? (sides[0] as SideResult).obligations : sides.flatMap((s) => s.obligations));
    const reasons = union(sides, (s) => s.reasons);
    for (const o of obligations) {
      if (!o.satisfied) reasons.push(`needs ${o.count} approval${o.count === 1 ? '' : 's'} by \`${o.role}\`: ${approversWithRole(facts, o.role)} so far`);
    }
    return {
      outcome,
      determiningPolicies: determining,
      obligations,
      reasons,
      errors: union(sides, (s) => s.errors),
      policySetHash: loaded.hash,
    };
  }

  const stats = () => ({ cedarCalls, memoHits, memoSize: memo.size, cedarReplacements: cedarReplacements(), repreparsed });
  const describe = () => ({ catalog: loaded.catalog, schema: loaded.schema, policies: loaded.policies });
  return Object.freeze({ policySetHash: loaded.hash, schema: loaded.schema, policies: loaded.policies, decide, describe, stats });
}
