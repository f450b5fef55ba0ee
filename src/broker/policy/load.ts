// Loads `.cedar` policy texts: splits them into single policies, gives each a stable id,
// reads obligation annotations, validates everything against the schema generated from the
// catalog, and seals the set. A policy set that is not entirely valid is refused. Text
// past the limits of ./bounds.ts never reaches Cedar.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { callCedar } from './cedar.js'; // first: keeps V8 from an abort on Node 20 (./wasm-calls.ts)
import type { DetailedError, EntityUidJson, PolicyJson } from '@cedar-policy/cedar-wasm/nodejs';
import { NameSchema, WritError, sealOf } from '../../core/index.js';
import type { Catalog } from '../catalog.js';
import { BrokerErrors } from '../errors.js';
import { checkPolicySetSize, checkPolicyText, jsonDepth, MAX_POLICY_JSON_DEPTH } from './bounds.js';
import { defaultPolicySources } from './defaults.js';
import { generateCedarSchema, type CedarSchemaJson } from './schema.js';

/** One `.cedar` text and the name it is known by (a file name, or any label). */
export interface PolicySource {
  readonly file: string;
  readonly text: string;
}

/** An approval a policy asks for: `count` approvers holding `role`. */
export interface Obligation {
  readonly role: string;
  readonly count: number;
}

/** One validated policy with what the engine needs to know about it. */
export interface ParsedPolicy {
  /** `@id("…")` when present, else `file:index` (index counts policies in the file from 0). */
  readonly id: string;
  readonly text: string;
  readonly file: string;
  readonly effect: 'permit' | 'forbid';
  /** Catalog action ids the action scope can match; null when it can match any action. */
  readonly actions: readonly string[] | null;
  /** Principal entity types (`User`, `Agent`, `Service`) the scope can match; null for any. */
  readonly principalTypes: readonly string[] | null;
  /** `@requires_approval` on a permit, `@unless_approved` on a forbid; null when none. */
  readonly obligation: Obligation | null;
  readonly annotations: Readonly<Record<string, string>>;
  /** The policy's JSON form (Cedar's AST), used to see which attributes it reads. */
  readonly json: PolicyJson;
  readonly isDefault: boolean;
}

/** A validated, sealed policy set for one catalog. */
export interface LoadedPolicySet {
  readonly catalog: Catalog;
  readonly schema: CedarSchemaJson;
  /** Sorted by id. */
  readonly policies: readonly ParsedPolicy[];
  /** `sha256:…` over the catalog (canonical JSON), the schema and every `{ id, text }` sorted by id: independent of file order. */
  readonly hash: string;
}

/** One reason a policy set was refused. */
export interface PolicyProblem {
  readonly file: string;
  readonly policyId: string | null;
  readonly message: string;
}

export interface LoadPoliciesOptions {
  readonly catalog: Catalog;
  readonly sources: readonly PolicySource[];
  /** Include the default policies (./defaults). A source policy with a default's `@id` replaces it. Default true. */
  readonly defaults?: boolean;
}

function describeCedarError(error: DetailedError, text?: string, offset = 0): string {
  let message = error.message;
  const at = error.sourceLocations?.[0];
  if (at !== undefined && text !== undefined) {
    const before = text.slice(0, offset + at.start);
    const line = before.split('\n').length;
    const column = offset + at.start - before.lastIndexOf('\n');
    message += ` (line ${line}, column ${column}${at.label ? `: ${at.label}` : ''})`;
  }
  if (error.help) message += `: ${error.help}`;
  return message;
}

/**
 * The top-level policies of a Cedar text as `[start, end)` spans, in source order: skips
 * whitespace and `//` comments, then scans to the `;` that ends the policy outside string
 * literals and comments. Cedar has no other `;` and no other comment form, so these are
 * the policies Cedar parsed, even when a comment repeats a policy's text.
 */
function policySpans(source: string): Array<{ start: number; end: number }> {
  const spans: Array<{ start: number; end: number }> = [];
  let start = -1;
  let i = 0;
  while (i < source.length) {
    const c = source[i] as string;
    if (c === '/' && source[i + 1] === '/') {
      const newline = source.indexOf('\n', i);
      i = newline === -1 ? source.length : newline + 1;
      continue;
    }
    if (start === -1) {
      if (/\s/.test(c)) {
        i++;
        continue;
      }
      start = i;
    }
    if (c === '"') {
      i++;
      while (i < source.length && source[i] !== '"') i += source[i] === '\\' ? 2 : 1;
    } else if (c === ';') {
      spans.push({ start, end: i + 1 });
      start = -1;
    }
    i++;
  }
  return spans;
}

/**
 * `policySetTextToParts` returns single-policy texts sorted by generated id, not in source
 * order. They are verbatim slices of the source, so matching them with the policy spans
 * gives the order back (and lets messages point at file lines). Should the two not line
 * up, undo the id sort instead (`policy0`, `policy1`, `policy10`, … compare as strings).
 */
function inSourceOrder(source: string, parts: readonly string[]): Array<{ text: string; offset: number }> {
  const spans = policySpans(source);
  const unplaced = new Map<string, number>();
  for (const text of parts) unplaced.set(text, (unplaced.get(text) ?? 0) + 1);
  const located = spans.map(({ start, end }) => ({ text: source.slice(start, end), offset: start }));
  for (const { text } of located) unplaced.set(text, (unplaced.get(text) ?? 0) - 1);
  if (located.length === parts.length && [...unplaced.values()].every((n) => n === 0)) return located;
  const sorted = parts.map((_, i) => `policy${i}`).sort();
  const ordered = new Array<{ text: string; offset: number }>(parts.length);
  sorted.forEach((id, position) => {
    ordered[Number(id.slice('policy'.length))] = { text: parts[position] as string, offset: 0 };
  });
  return ordered;
}

function entityIds(constraint: PolicyJson['action'], actionType: string): string[] | null {
  const uidOf = (uid: EntityUidJson) => ('__entity' in uid ? uid.__entity : uid);
  const pick = (uids: EntityUidJson[]) => uids.map(uidOf).filter((u) => u.type === actionType).map((u) => u.id);
  if (constraint.op === '==') return 'entity' in constraint ? pick([constraint.entity]) : null;
  if (constraint.op === 'in') return 'entity' in constraint ? pick([constraint.entity]) : pick(constraint.entities);
  return null;
}

function principalTypesOf(constraint: PolicyJson['principal'], namespace: string): string[] | null {
  const strip = (type: string) => (type.startsWith(`${namespace}::`) ? type.slice(namespace.length + 2) : type);
  if (constraint.op === 'is') return [strip(constraint.entity_type)];
  if (constraint.op === '==' && 'entity' in constraint) {
    const uid = '__entity' in constraint.entity ? constraint.entity.__entity : constraint.entity;
    return [strip(uid.type)];
  }
  return null;
}

/** Every annotation Writ reads; any other is refused, so a misspelt obligation cannot grant. */
const KNOWN_ANNOTATIONS = ['id', 'requires_approval', 'unless_approved', 'approvals'] as const;
const EXAMPLE_VALUES: Readonly<Record<string, string>> = { id: 'refunds.small', requires_approval: 'finance', unless_approved: 'security', approvals: '2' };

/**
 * The policy's annotations with their values, reporting unknown keys and keys without a
 * value. Cedar reads a bare `@requires_approval` as null: taken as "no annotation" it would
 * turn a permit that asks for approval into a plain allow.
 */
function readAnnotations(raw: Record<string, string | null>, report: (m: string) => void): Record<string, string> {
  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!(KNOWN_ANNOTATIONS as readonly string[]).includes(key)) {
      report(`unknown annotation \`@${key}\`: writ reads only ${KNOWN_ANNOTATIONS.map((k) => `\`@${k}\``).join(', ')}`);
    } else if (value === null || value.trim() === '') {
      report(`annotation \`@${key}\` needs a value, e.g. \`@${key}("${EXAMPLE_VALUES[key]}")\``);
    } else {
      annotations[key] = value;
    }
  }
  return annotations;
}

function readObligation(effect: 'permit' | 'forbid', annotations: Record<string, string>, report: (m: string) => void): Obligation | null {
  const required = annotations['requires_approval'];
  const unless = annotations['unless_approved'];
  const countText = annotations['approvals'];
  if (required !== undefined && effect === 'forbid') report('`@requires_approval` belongs on a permit policy; on a forbid policy use `@unless_approved`');
  if (unless !== undefined && effect === 'permit') report('`@unless_approved` belongs on a forbid policy; on a permit policy use `@requires_approval`');
  if (required !== undefined && unless !== undefined) report('use either `@requires_approval` or `@unless_approved`, not both');
  const role = required ?? unless;
  if (role === undefined) {
    if (countText !== undefined) report('`@approvals` needs a `@requires_approval` or `@unless_approved` role');
    return null;
  }
  if (!NameSchema.safeParse(role).success) report(`approval role \`${role}\` is not a valid role name`);
  let count = 1;
  if (countText !== undefined) {
    count = /^[1-9][0-9]{0,2}$/.test(countText) ? Number(countText) : NaN;
    if (Number.isNaN(count)) report(`\`@approvals("${countText}")\` must be a whole number from 1 to 999`);
  }
  return { role, count: Number.isNaN(count) ? 1 : count };
}

function refuse(problems: PolicyProblem[]): never {
  const list = problems.map((p) => `\`${p.file}\`${p.policyId ? ` \`${p.policyId}\`` : ''}: ${p.message}`).join('; ');
  throw new WritError(BrokerErrors.BROKER_POLICY_INVALID, `policies refused: ${list}`, { details: { problems } });
}

/**
 * The problems of sources past the limits of ./bounds.ts (nesting, operator chains,
 * length), one per limit passed; empty when every source may go to Cedar. `loadPolicies`
 * runs it first; exported for callers that refuse such text before loading (the HTTP route).
 *
 * @example
 * policyBoundProblems([{ file: 'deep.cedar', text }]) // [{ file: 'deep.cedar', policyId: null, message: 'policy nests … 200 deep …' }]
 */
export function policyBoundProblems(sources: readonly PolicySource[]): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  for (const source of sources) {
    for (const problem of checkPolicyText(source.text)) problems.push({ file: source.file, policyId: null, message: problem.message });
  }
  const size = checkPolicySetSize(sources.map((s) => s.text));
  if (size !== null) problems.push({ file: '(policy set)', policyId: null, message: size.message });
  return problems;
}

/**
 * Parses, validates and seals policies for a catalog. Every problem in every file is
 * reported at once in one BROKER_POLICY_INVALID error (`details.problems`), with Cedar's
 * own messages. A source past a limit of ./bounds.ts (nesting, operators, length) is
 * reported and not given to Cedar at all.
 *
 * @example
 * const policies = loadPolicies({ catalog, sources: [{ file: 'refunds.cedar', text }] });
 * policies.hash // 'sha256:…'
 */
export function loadPolicies(options: LoadPoliciesOptions): LoadedPolicySet {
  const { catalog } = options;
  const schema = generateCedarSchema(catalog);
  const actionType = `${catalog.namespace}::Action`;
  const problems: PolicyProblem[] = [];
  const byId = new Map<string, ParsedPolicy>();
  const located = new Map<string, { source: string; offset: number }>();

  const sources = [
    ...(options.defaults === false ? [] : defaultPolicySources().map((s) => ({ ...s, isDefault: true }))),
    ...options.sources.map((s) => ({ ...s, isDefault: false })),
  ];
  // INVARIANT: no text past the bounds reaches Cedar: it could overflow Cedar's parser.
  if (checkPolicySetSize(options.sources.map((s) => s.text)) !== null) refuse(policyBoundProblems(options.sources));
  for (const source of sources) {
    const bounds = checkPolicyText(source.text);
    if (bounds.length > 0) {
      for (const problem of bounds) problems.push({ file: source.file, policyId: null, message: problem.message });
      continue;
    }
    const split = callCedar('splitting policy text', (cedar) => cedar.policySetTextToParts(source.text));
    if (split.type === 'failure') {
      for (const error of split.errors) problems.push({ file: source.file, policyId: null, message: describeCedarError(error, source.text) });
      continue;
    }
    if (split.policy_templates.length > 0) {
      problems.push({ file: source.file, policyId: null, message: 'policy templates are not supported: write static policies' });
    }
    inSourceOrder(source.text, split.policies).forEach(({ text, offset }, index) => {
      const parsed = callCedar('parsing a policy', (cedar) => cedar.policyToJson(text));
      if (parsed.type === 'failure') {
        for (const error of parsed.errors) problems.push({ file: source.file, policyId: `${source.file}:${index}`, message: describeCedarError(error, source.text, offset) });
        return;
      }
      const json = parsed.json;
      const depth = jsonDepth(json.conditions);
      if (depth > MAX_POLICY_JSON_DEPTH) {
        // Cedar's JSON reader would refuse it when the engine pre-parses the set.
        problems.push({
          file: source.file,
          policyId: `${source.file}:${index}`,
          message:
            `policy conditions nest \`${depth}\` levels deep in Cedar's JSON form (about two per operator), over the limit of \`${MAX_POLICY_JSON_DEPTH}\`: ` +
            'split long `&&` chains into several `when { … }` clauses, or test membership with a set (`["a", "b"].contains(x)`) instead of a chain of `||`',
        });
        return;
      }
      const rawAnnotations: Record<string, string | null> = json.annotations ?? {};
      const rawId = rawAnnotations['id'];
      const id = rawId === undefined || rawId === null || rawId.trim() === '' ? `${source.file}:${index}` : rawId;
      const report = (message: string) => problems.push({ file: source.file, policyId: id, message });
      const annotations = readAnnotations(rawAnnotations, report);
      const obligation = readObligation(json.effect, annotations, report);
      const existing = byId.get(id);
      if (existing !== undefined && !(existing.isDefault && !source.isDefault)) {
        report(`policy id \`${id}\` is also used in \`${existing.file}\``);
        return;
      }
      located.set(id, { source: source.text, offset });
      byId.set(id, {
        id,
        text,
        file: source.file,
        effect: json.effect,
        actions: entityIds(json.action, actionType),
        principalTypes: principalTypesOf(json.principal, catalog.namespace),
        obligation,
        annotations,
        json,
        isDefault: source.isDefault,
      });
    });
  }

  const policies = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (policies.length > 0) {
    const staticPolicies: Record<string, string> = {};
    for (const policy of policies) staticPolicies[policy.id] = policy.text;
    const answer = callCedar('validating policies', (cedar) => cedar.validate({ schema, policies: { staticPolicies }, validationSettings: { mode: 'strict' } }));
    if (answer.type === 'failure') {
      for (const error of answer.errors) problems.push({ file: '(policy set)', policyId: null, message: describeCedarError(error) });
    } else {
      for (const { policyId, error } of answer.validationErrors) {
        const policy = byId.get(policyId);
        const where = located.get(policyId);
        problems.push({ file: policy?.file ?? '(policy set)', policyId, message: describeCedarError(error, where?.source, where?.offset) });
      }
    }
  }
  if (problems.length > 0) refuse(problems);

  // INVARIANT: the hash names the whole authority that decides: the catalog (effects,
  // trusted flags, states, param specs all change decisions), the schema and every policy.
  const hash = sealOf({ catalog, schema, policies: policies.map((p) => ({ id: p.id, text: p.text })) });
  return Object.freeze({ catalog, schema, policies: Object.freeze(policies), hash });
}

/** Reads every `.cedar` file in a folder (not recursive; the extension in any case, so `A.CEDAR` counts), sorted by name. */
export function readPolicyDir(dir: string): PolicySource[] {
  try {
    return readdirSync(dir)
      .filter((name) => name.toLowerCase().endsWith('.cedar'))
      .sort()
      .map((file) => ({ file, text: readFileSync(join(dir, file), 'utf8') }));
  } catch (cause) {
    throw new WritError(BrokerErrors.BROKER_POLICY_UNREADABLE, `cannot read policies in \`${dir}\`: ${(cause as Error).message}`, {
      cause,
      details: { dir },
    });
  }
}

/**
 * Loads every `.cedar` file of a folder (any case of the extension) for a catalog (plus the defaults).
 *
 * @example
 * const policies = loadPolicyDir('examples/support-desk/policies', { catalog });
 */
export function loadPolicyDir(dir: string, options: Omit<LoadPoliciesOptions, 'sources'>): LoadedPolicySet {
  return loadPolicies({ ...options, sources: readPolicyDir(dir) });
}
