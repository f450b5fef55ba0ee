// Turns facts into a Cedar request (principal and resource entities, context), and
// projects it down to the attributes a slice of policies actually reads: Cedar parses
// every value it is given (~10 µs each here), so unread values are never sent.
import type { CedarValueJson, EntityJson, PolicyJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { Principal } from '../../core/index.js';
import type { Catalog, ParamSpec } from '../catalog.js';
import type { Facts } from '../facts-schema.js';
import { cedarDecimalProblem, specEntries } from '../params.js';
import { PRINCIPAL_ENTITY_TYPES } from './schema.js';

type JsonRecord = Record<string, CedarValueJson>;

/** Which attributes are read below a point: `true` = the whole value, else per attribute. */
export type AttributeNeeds = true | Map<string, AttributeNeeds>;

/**
 * How the policies of a slice use one value, when they use it only against literals:
 * a Long compared with integer literals, a String compared for equality with string
 * literals, a Set of strings asked whether it contains string literals. Such a value can
 * be replaced by a representative that gives every one of those comparisons the same
 * result, so requests that differ only there share one memo entry.
 */
type LiteralUse =
  | { readonly kind: 'long'; readonly thresholds: readonly number[] }
  | { readonly kind: 'string'; readonly literals: ReadonlySet<string> }
  | { readonly kind: 'set'; readonly literals: ReadonlySet<string> };

/** A value (by path below its root) that may be replaced by its representative. */
export interface Canonicalisable {
  readonly path: readonly string[];
  readonly use: LiteralUse;
}

/** What a set of policies reads of principal, resource and context. */
export interface RequestNeeds {
  readonly principal: AttributeNeeds;
  readonly resource: AttributeNeeds;
  readonly context: AttributeNeeds;
  /** True when some policy compares entity uids (scope `==`/`in`, an entity literal, or a whole `principal`/`resource`). */
  readonly readsUids: boolean;
  /** Values used only against literals, by root (`principal`, `resource`, `context`). */
  readonly canonical: ReadonlyMap<string, readonly Canonicalisable[]>;
}

/** Marks `path` as read (its whole value), or with `presenceOnly` as tested by `has` (the key alone). */
function addPath(root: Map<string, AttributeNeeds>, path: readonly string[], presenceOnly = false): void {
  let node: AttributeNeeds = root;
  for (let i = 0; i < path.length; i++) {
    if (node === true) return;
    const key = path[i] as string;
    if (i === path.length - 1) {
      if (!presenceOnly) node.set(key, true);
      else if (!node.has(key)) node.set(key, new Map());
      return;
    }
    let next: AttributeNeeds | undefined = node.get(key);
    if (next === undefined) {
      next = new Map();
      node.set(key, next);
    }
    node = next;
  }
}

/** `principal.a.b` → ['principal', 'a', 'b']; anything else → null. */
function pathOf(expr: unknown): string[] | null {
  if (expr === null || typeof expr !== 'object') return null;
  const node = expr as Record<string, unknown>;
  if (typeof node['Var'] === 'string') return [node['Var']];
  const dot = node['.'] as { left?: unknown; attr?: unknown } | undefined;
  if (dot !== undefined && typeof dot === 'object' && typeof dot.attr === 'string') {
    const left = pathOf(dot.left);
    return left === null ? null : [...left, dot.attr];
  }
  return null;
}

type UseRecord = { kind: 'opaque' } | { kind: 'long'; thresholds: Set<number> } | { kind: 'string' | 'set'; literals: Set<string> };
type Reader = (path: string[], use?: { kind: 'long'; value: number } | { kind: 'string' | 'set'; values: string[] }, presenceOnly?: boolean) => void;

const COMPARISONS = ['<', '<=', '>', '>=', '==', '!='];

function literalOf(expr: unknown): unknown {
  return expr !== null && typeof expr === 'object' && 'Value' in (expr as object) ? (expr as { Value: unknown }).Value : undefined;
}

function stringLiterals(expr: unknown): string[] | null {
  const value = literalOf(expr);
  if (Array.isArray(value)) return value.every((v) => typeof v === 'string') ? (value as string[]) : null;
  const set = expr !== null && typeof expr === 'object' ? (expr as { Set?: unknown }).Set : undefined;
  if (!Array.isArray(set)) return null;
  const out: string[] = [];
  for (const item of set) {
    const v = literalOf(item);
    if (typeof v !== 'string') return null;
    out.push(v);
  }
  return out;
}

/** A path compared with a literal: records the literal use and returns true. */
function readLiteralUse(node: Record<string, unknown>, read: Reader): boolean {
  for (const op of COMPARISONS) {
    const pair = node[op] as { left?: unknown; right?: unknown } | undefined;
    if (pair === undefined || typeof pair !== 'object') continue;
    for (const [a, b] of [[pair.left, pair.right], [pair.right, pair.left]] as const) {
      const path = pathOf(a);
      const value = literalOf(b);
      if (path === null) continue;
      if (typeof value === 'number' && Number.isSafeInteger(value) && Number.isSafeInteger(value - 1) && Number.isSafeInteger(value + 1)) {
        read(path, { kind: 'long', value });
        return true;
      }
      if (typeof value === 'string' && (op === '==' || op === '!=')) {
        read(path, { kind: 'string', values: [value] });
        return true;
      }
    }
    return false;
  }
  for (const op of ['contains', 'containsAll', 'containsAny']) {
    const pair = node[op] as { left?: unknown; right?: unknown } | undefined;
    if (pair === undefined || typeof pair !== 'object') continue;
    const path = pathOf(pair.left);
    const values = op === 'contains' ? (typeof literalOf(pair.right) === 'string' ? [literalOf(pair.right) as string] : null) : stringLiterals(pair.right);
    if (path === null || values === null) return false;
    read(path, { kind: 'set', values });
    return true;
  }
  return false;
}

function walk(expr: unknown, add: Reader): void {
  if (Array.isArray(expr)) {
    for (const item of expr) walk(item, add);
    return;
  }
  if (expr === null || typeof expr !== 'object') return;
  const node = expr as Record<string, unknown>;
  if ('Value' in node) return;
  const path = pathOf(node);
  if (path !== null) {
    add(path);
    return;
  }
  if (readLiteralUse(node, add)) return;
  const has = node['has'] as { left?: unknown; attr?: unknown } | undefined;
  if (has !== undefined && typeof has === 'object' && has !== null && 'left' in has) {
    const left = pathOf(has.left);
    const attrs = Array.isArray(has.attr) ? (has.attr as string[]) : [has.attr as string];
    if (left !== null) add([...left, ...attrs], undefined, true);
    else walk(has.left, add);
    return;
  }
  for (const value of Object.values(node)) walk(value, add);
}

/** Needs that keep everything: no projection, no canonicalisation (the reference path). */
export const EVERYTHING: RequestNeeds = Object.freeze({ principal: true, resource: true, context: true, readsUids: true, canonical: new Map() });

/** Collects what `policies` read, so requests carry nothing else. */
export function requestNeedsOf(policies: readonly PolicyJson[]): RequestNeeds {
  const root = new Map<string, AttributeNeeds>();
  const uses = new Map<string, { path: string[]; use: UseRecord }>();
  let readsUids = false;
  const read: Reader = (path, use, presenceOnly = false) => {
    if (path.length === 1 && (path[0] === 'principal' || path[0] === 'resource')) readsUids = true;
    addPath(root, path, presenceOnly);
    if (presenceOnly) return;
    const key = path.join('\u0000');
    const seen = uses.get(key)?.use;
    let next: UseRecord;
    if (use === undefined || seen?.kind === 'opaque' || (seen !== undefined && seen.kind !== use.kind)) next = { kind: 'opaque' };
    else if (use.kind === 'long') next = { kind: 'long', thresholds: new Set([...(seen?.kind === 'long' ? seen.thresholds : []), use.value]) };
    else next = { kind: use.kind, literals: new Set([...(seen !== undefined && seen.kind !== 'long' ? seen.literals : []), ...use.values]) };
    uses.set(key, { path, use: next });
  };
  for (const policy of policies) {
    walk(policy.conditions, read);
    if (policy.principal.op === '==' || policy.principal.op === 'in' || policy.resource.op === '==' || policy.resource.op === 'in') readsUids = true;
    if (('in' in policy.principal && policy.principal.in !== undefined) || ('in' in policy.resource && policy.resource.in !== undefined)) readsUids = true;
    if (JSON.stringify(policy.conditions).includes('"__entity"')) readsUids = true;
  }
  const part = (name: string): AttributeNeeds => root.get(name) ?? new Map();
  // INVARIANT: a value is canonicalised only when every read of it, and of nothing above
  // it, is a comparison with a literal; then its representative decides every policy alike.
  const canonical = new Map<string, Canonicalisable[]>();
  for (const { path, use } of uses.values()) {
    if (use.kind === 'opaque' || path.length < 2) continue;
    const shadowed = path.slice(1, -1).some((_, i) => uses.has(path.slice(0, i + 2).join('\u0000'))) || uses.has(path[0] as string);
    if (shadowed) continue;
    const literal: LiteralUse = use.kind === 'long' ? { kind: 'long', thresholds: [...use.thresholds].sort((a, b) => a - b) } : use;
    const list = canonical.get(path[0] as string) ?? [];
    list.push({ path: path.slice(1), use: literal });
    canonical.set(path[0] as string, list);
  }
  return { principal: part('principal'), resource: part('resource'), context: part('context'), readsUids, canonical };
}

/** A value that answers every literal comparison of `use` as `value` does. */
function representative(value: CedarValueJson, use: LiteralUse): CedarValueJson {
  if (use.kind === 'long') {
    if (typeof value !== 'number') return value;
    const t = use.thresholds;
    if (t.includes(value)) return value;
    let below: number | undefined;
    for (const x of t) if (x < value) below = x;
    return below === undefined ? (t[0] as number) - 1 : below + 1;
  }
  if (use.kind === 'string') return typeof value === 'string' && !use.literals.has(value) ? '\u0000' : value;
  if (!Array.isArray(value)) return value;
  return [...new Set(value.filter((v) => typeof v === 'string' && use.literals.has(v)))].sort() as CedarValueJson;
}

/** A copy of `node` with the value at `path` (from `path[i]` down) replaced by its representative (copy on write). */
function replaceAt(node: CedarValueJson, path: readonly string[], use: LiteralUse, i = 0): CedarValueJson {
  if (!isPlainRecord(node)) return node;
  const head = path[i] as string;
  const child = (node as JsonRecord)[head];
  if (child === undefined) return node;
  return { ...node, [head]: i === path.length - 1 ? representative(child, use) : replaceAt(child, path, use, i + 1) };
}

/** Copies of `record` with each canonicalisable value replaced by its representative (copy on write). */
function canonicalise(record: JsonRecord, items: readonly Canonicalisable[] | undefined): JsonRecord {
  if (items === undefined) return record;
  let out: CedarValueJson = record;
  for (const { path, use } of items) out = replaceAt(out, path, use);
  return out as JsonRecord;
}

function isPlainRecord(value: CedarValueJson): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !('__extn' in value) && !('__entity' in value);
}

/** Keeps only what `needs` names (a record's presence survives even if none of its attributes do). */
export function project(value: CedarValueJson, needs: AttributeNeeds): CedarValueJson {
  if (needs === true || !isPlainRecord(value)) return value;
  const out: JsonRecord = {};
  // forEach, not for…of: iterating a Map with for…of allocated an entry array per key, and
  // every decision (memo hits too) projects its request.
  needs.forEach((sub, key) => {
    const child = (value as JsonRecord)[key];
    if (child !== undefined) out[key] = project(child, sub);
  });
  return out;
}

const DECIMAL = /^-?[0-9]+(\.[0-9]+)?$/;

/**
 * A catalog-typed JSON scalar as a Cedar value, or undefined (and a note in `errors`)
 * when it does not fit the declared type or Cedar cannot represent it. Such a value is
 * left out of the request, so the engine denies any decision that has a note (a value
 * that is there must never look absent to a `has` test; see engine.ts).
 */
export function toCedarValue(spec: ParamSpec, value: unknown, what: string, errors: string[]): CedarValueJson | undefined {
  if (value === null || value === undefined) return undefined;
  switch (spec.type) {
    case 'integer':
      if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
      break;
    case 'decimal': {
      const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
      if (typeof text !== 'string' || !DECIMAL.test(text)) break;
      const problem = cedarDecimalProblem(text);
      if (problem === null) return { __extn: { fn: 'decimal', arg: text.includes('.') ? text : `${text}.0` } };
      errors.push(`${what} ${problem}: left out`);
      return undefined;
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      break;
    case 'string':
      if (typeof value === 'string') return value;
      break;
  }
  errors.push(`${what} is not a cedar ${spec.type}: left out`);
  return undefined;
}

function typedRecord(specs: Record<string, ParamSpec>, values: Record<string, unknown>, what: string, errors: string[]): JsonRecord {
  const out: JsonRecord = {};
  for (const [name, spec] of specEntries(specs)) {
    const value = toCedarValue(spec, values[name], `${what} \`${name}\``, errors);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** The Cedar entity type of a principal (without namespace). */
export function principalEntityType(principal: Principal): string {
  return PRINCIPAL_ENTITY_TYPES[principal.kind];
}

/** A principal as Cedar attributes (also the shape of `context.actingFor`). */
export function principalAttributes(principal: Principal): JsonRecord {
  return { id: principal.id, kind: principal.kind, tenant: principal.tenant, roles: principal.roles, groups: principal.groups };
}

/**
 * The parts of a request that do not depend on which side of a delegation is evaluated:
 * the resource's attributes and the shared context (without `isActor`/`actingFor`).
 */
export interface RequestBase {
  readonly resourceAttributes: JsonRecord;
  readonly context: JsonRecord;
  readonly errors: readonly string[];
}

/**
 * Builds the resource attributes and shared context from facts. For a create action the
 * target does not exist yet: its attributes come from the params and its tenant is the
 * tenant of the principal it is created for.
 */
export function buildRequestBase(catalog: Catalog, facts: Facts): RequestBase {
  const errors: string[] = [];
  const action = catalog.actions[facts.proposal.action];
  const type = action === undefined ? undefined : catalog.resourceTypes[action.resourceType];
  const target = facts.target;
  const creating = !target.exists;
  const owner = facts.onBehalfOf ?? facts.actor;
  const attributeValues: Record<string, unknown> = creating ? { ...facts.proposal.params, ...target.attributes } : target.attributes;
  const resourceAttributes: JsonRecord = {
    tenant: target.tenant ?? (creating ? owner.tenant : ''),
    state: target.state ?? '',
    version: target.version,
    ...typedRecord(type?.attributes ?? {}, attributeValues, 'resource attribute', errors),
  };
  const context: JsonRecord = {
    params: typedRecord(action?.params ?? {}, facts.proposal.params, 'param', errors),
    taint: { anyTrusted: facts.taint.anyTrusted, trustedParams: facts.taint.trustedParams, params: facts.taint.params },
    basis: {
      count: facts.basis.count,
      allExist: facts.basis.allExist,
      allOwned: facts.basis.allOwned,
      allSameSession: facts.basis.allSameSession,
      allFresh: facts.basis.allFresh,
    },
    approvals: { count: facts.approvals.count, roles: distinct(facts.approvals.roles), approverIds: facts.approvals.approverIds },
    transition: { legal: facts.transition.legal, from: facts.transition.from ?? '', to: facts.transition.to, effect: facts.transition.effect },
  };
  return { resourceAttributes, context, errors };
}

/** `values` without repeats, in first-seen order (a copy); no set for the common zero or one. */
function distinct(values: readonly string[]): string[] {
  return values.length < 2 ? [...values] : [...new Set(values)];
}

/** The JSON Cedar receives for one side of a decision (entities, uids and context). */
export interface CedarRequest {
  readonly principal: { type: string; id: string };
  readonly resource: { type: string; id: string };
  readonly context: JsonRecord;
  readonly entities: EntityJson[];
}

/** Placeholder uid ids used when no policy of the slice can tell entities apart by uid. */
const ANY_PRINCIPAL = '(principal)';
const ANY_RESOURCE = '(resource)';

/**
 * The request for `principal` (with `other` as `context.actingFor`), projected to `needs`.
 */
export function buildCedarRequest(options: {
  namespace: string;
  resourceType: string;
  targetId: string;
  base: RequestBase;
  principal: Principal;
  other: Principal | null;
  isActor: boolean;
  needs: RequestNeeds;
}): CedarRequest {
  const { namespace, base, needs } = options;
  const principal = {
    type: `${namespace}::${principalEntityType(options.principal)}`,
    id: needs.readsUids ? options.principal.id : ANY_PRINCIPAL,
  };
  const resource = { type: `${namespace}::${options.resourceType}`, id: needs.readsUids ? options.targetId : ANY_RESOURCE };
  const fullContext: JsonRecord = { ...base.context, isActor: options.isActor };
  if (options.other !== null) fullContext['actingFor'] = principalAttributes(options.other);
  const entities: EntityJson[] = [];
  if (needs.principal === true || needs.principal.size > 0) {
    const attrs = canonicalise(project(principalAttributes(options.principal), needs.principal) as JsonRecord, needs.canonical.get('principal'));
    entities.push({ uid: principal, attrs, parents: [] });
  }
  if (needs.resource === true || needs.resource.size > 0) {
    const attrs = canonicalise(project(base.resourceAttributes, needs.resource) as JsonRecord, needs.canonical.get('resource'));
    entities.push({ uid: resource, attrs, parents: [] });
  }
  const context = canonicalise(project(fullContext, needs.context) as JsonRecord, needs.canonical.get('context'));
  return { principal, resource, context, entities };
}
