// The catalog: resource types with explicit state machines, the actions that drive their
// transitions, each action's parameter schema (with trusted params) and effect class.
// One code path validates catalogs written in TypeScript and catalogs read from files.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { WritError, toInputIssues, type InputIssue } from '../core/index.js';
import { BrokerErrors } from './errors.js';

/** Identifiers that are safe as Cedar type names and action ids. */
const TypeNameSchema = z.string().regex(/^[A-Z][A-Za-z0-9]{0,63}$/, 'use PascalCase letters and digits, e.g. `RefundRequest`');
const StateNameSchema = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'use snake_case, e.g. `pending_review`');
const ParamNameSchema = z.string().regex(/^[a-z][A-Za-z0-9_]{0,63}$/, 'use camelCase or snake_case, e.g. `orderId`');
const ActionIdSchema = z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, 'use `resource.verb`, e.g. `refund.approve`');

export const EffectClassSchema = z.enum(['internal', 'external', 'irreversible']);
export type EffectClass = z.infer<typeof EffectClassSchema>;

/**
 * One parameter of an action. `trusted` params must come from the principal or the
 * system, never from retrieved text: a trusted value that occurs in the proposal's basis
 * is *tainted* and policy treats it so. Numbers that need exactness use `decimal`
 * (a string like `"12.50"`), since Cedar has no floating point.
 */
export const ParamSpecSchema = z
  .object({
    type: z.enum(['string', 'integer', 'decimal', 'boolean']),
    description: z.string().max(500).optional(),
    required: z.boolean().default(true),
    trusted: z.boolean().default(false),
    min: z.number().optional(),
    max: z.number().optional(),
    maxLength: z.number().int().positive().max(10_000).default(1000),
    pattern: z.string().optional(),
    enum: z.array(z.string()).min(1).optional(),
  })
  .strict();
export type ParamSpec = z.output<typeof ParamSpecSchema>;

export const ResourceTypeSpecSchema = z
  .object({
    description: z.string().max(500).optional(),
    states: z.array(StateNameSchema).min(1),
    /** Attributes a resource carries (set by the action that creates it, or by `updates`). */
    attributes: z.record(ParamNameSchema, ParamSpecSchema).default({}),
  })
  .strict();
export type ResourceTypeSpec = z.output<typeof ResourceTypeSpecSchema>;

/**
 * An action drives one transition of one resource type. A `create` action makes a new
 * resource in state `to` (its params become the resource's attributes); otherwise the
 * target must be in one of `from`.
 */
export const ActionSpecSchema = z
  .object({
    description: z.string().max(500).optional(),
    resourceType: TypeNameSchema,
    create: z.boolean().default(false),
    from: z.array(StateNameSchema).default([]),
    to: StateNameSchema,
    effect: EffectClassSchema,
    params: z.record(ParamNameSchema, ParamSpecSchema).default({}),
    /** Attribute names whose values this action's params overwrite on the resource. */
    updates: z.array(ParamNameSchema).default([]),
    /** For irreversible effects: what to do if it was wrong (carried as evidence). */
    rollbackNote: z.string().max(1000).optional(),
  })
  .strict();
export type ActionSpec = z.output<typeof ActionSpecSchema>;

export const CatalogSchema = z
  .object({
    /** Namespace for the Cedar schema and entity types, e.g. `SupportDesk`. */
    namespace: TypeNameSchema.default('Writ'),
    version: z.string().min(1).max(64).default('1'),
    resourceTypes: z.record(TypeNameSchema, ResourceTypeSpecSchema),
    actions: z.record(ActionIdSchema, ActionSpecSchema),
  })
  .strict();
export type CatalogInput = z.input<typeof CatalogSchema>;
export type Catalog = z.output<typeof CatalogSchema>;

/**
 * Entity type names the policy schema takes for itself: `Action` is Cedar's own, the others
 * are the principal kinds (`User`, `Agent`, `Service`). A resource type may not use them.
 */
export const RESERVED_TYPE_NAMES: Readonly<Record<string, string>> = Object.freeze({
  Action: 'cedar uses it for actions',
  User: 'it is reserved for principals',
  Agent: 'it is reserved for principals',
  Service: 'it is reserved for principals',
});

/** Attributes the broker sets on every resource before its catalog attributes. */
export const RESERVED_ATTRIBUTE_NAMES = ['tenant', 'state', 'version'] as const;

/**
 * Why a param cannot fill the resource attribute of the same name, one message per
 * problem. The stored value reaches policy typed as the attribute; a value of another type
 * could not (the engine would deny every later decision on the resource), and a value the
 * attribute's own constraints refuse would break what policies rely on.
 */
function fillProblems(param: ParamSpec, attr: ParamSpec): string[] {
  if (param.type !== attr.type) return [`is \`${param.type}\` but the attribute it fills is \`${attr.type}\`: use the same type`];
  const problems: string[] = [];
  if (attr.enum !== undefined && (param.enum === undefined || param.enum.some((v) => !attr.enum?.includes(v)))) {
    problems.push(`must list an \`enum\` within the attribute's (${attr.enum.map((v) => `\`${v}\``).join(', ')})`);
  }
  if (attr.pattern !== undefined && param.pattern !== attr.pattern) problems.push(`must use the attribute's \`pattern\` \`${attr.pattern}\``);
  if (attr.type === 'string' && param.maxLength > attr.maxLength) problems.push(`\`maxLength\` ${param.maxLength} exceeds the attribute's ${attr.maxLength}`);
  if (attr.min !== undefined && (param.min === undefined || param.min < attr.min)) problems.push(`must have \`min\` of at least the attribute's ${attr.min}`);
  if (attr.max !== undefined && (param.max === undefined || param.max > attr.max)) problems.push(`must have \`max\` of at most the attribute's ${attr.max}`);
  return problems;
}

/** Reserved resource type and attribute names: the policy schema could not be generated. */
function reservedNameIssues(catalog: Catalog, add: (path: string, message: string) => void): void {
  for (const [name, type] of Object.entries(catalog.resourceTypes)) {
    const why = Object.hasOwn(RESERVED_TYPE_NAMES, name) ? RESERVED_TYPE_NAMES[name] : undefined;
    if (why !== undefined) add(`resourceTypes.${name}`, `\`${name}\` cannot name a resource type (${why}): rename it`);
    for (const attr of Object.keys(type.attributes)) {
      if ((RESERVED_ATTRIBUTE_NAMES as readonly string[]).includes(attr)) {
        add(`resourceTypes.${name}.attributes.${attr}`, `\`${attr}\` is set by the broker on every resource: rename the attribute`);
      }
    }
  }
}

/** Cross-reference checks zod cannot express: every problem, not the first. */
function crossCheck(catalog: Catalog): InputIssue[] {
  const issues: InputIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, code: 'catalog', message });
  if (Object.keys(catalog.resourceTypes).length === 0) add('resourceTypes', 'declare at least one resource type');
  if (Object.keys(catalog.actions).length === 0) add('actions', 'declare at least one action');
  reservedNameIssues(catalog, add);
  for (const [name, type] of Object.entries(catalog.resourceTypes)) {
    const seen = new Set<string>();
    for (const state of type.states) {
      if (seen.has(state)) add(`resourceTypes.${name}.states`, `state \`${state}\` is listed twice`);
      seen.add(state);
    }
  }
  for (const [id, action] of Object.entries(catalog.actions)) {
    const path = `actions.${id}`;
    const type = catalog.resourceTypes[action.resourceType];
    if (type === undefined) {
      add(`${path}.resourceType`, `unknown resource type \`${action.resourceType}\``);
      continue;
    }
    if (!type.states.includes(action.to)) add(`${path}.to`, `state \`${action.to}\` is not a state of \`${action.resourceType}\``);
    for (const state of action.from) {
      if (!type.states.includes(state)) add(`${path}.from`, `state \`${state}\` is not a state of \`${action.resourceType}\``);
    }
    if (action.create && action.from.length > 0) add(`${path}.from`, 'a create action has no `from` states');
    if (!action.create && action.from.length === 0) add(`${path}.from`, 'list the states this action moves from, or set `create: true`');
    for (const attr of action.updates) {
      if (type.attributes[attr] === undefined) add(`${path}.updates`, `\`${attr}\` is not an attribute of \`${action.resourceType}\``);
      if (action.params[attr] === undefined) add(`${path}.updates`, `\`${attr}\` is not a param of this action`);
    }
    if (action.create) {
      for (const [attr, spec] of Object.entries(type.attributes)) {
        const param = action.params[attr];
        if (spec.required && param === undefined) add(`${path}.params`, `create action must set required attribute \`${attr}\``);
        if (spec.required && param !== undefined && !param.required) add(`${path}.params.${attr}`, `param \`${attr}\` is optional but fills a required attribute: make it required`);
      }
    }
    // INVARIANT: a param that fills a resource attribute (every same-named param of a create
    // action, every `updates` entry) has the attribute's type, so the stored value reaches policy.
    const fills = action.create ? Object.keys(action.params).filter((p) => type.attributes[p] !== undefined) : action.updates;
    for (const attr of new Set(fills)) {
      const param = action.params[attr];
      const spec = type.attributes[attr];
      if (param === undefined || spec === undefined) continue;
      for (const problem of fillProblems(param, spec)) add(`${path}.params.${attr}`, `param \`${attr}\` ${problem}`);
    }
    for (const [param, spec] of Object.entries(action.params)) {
      if (spec.min !== undefined && spec.max !== undefined && spec.min > spec.max) add(`${path}.params.${param}`, '`min` is greater than `max`');
      if (spec.pattern !== undefined) {
        try {
          new RegExp(spec.pattern, 'u');
        } catch {
          add(`${path}.params.${param}.pattern`, `\`${spec.pattern}\` is not a valid regular expression`);
        }
      }
      if ((spec.min !== undefined || spec.max !== undefined) && spec.type !== 'integer' && spec.type !== 'decimal') {
        add(`${path}.params.${param}`, '`min`/`max` apply only to `integer` and `decimal` params');
      }
    }
    if (action.effect === 'irreversible' && action.rollbackNote === undefined) {
      add(`${path}.rollbackNote`, 'an irreversible action must say what to do if it was wrong (`rollbackNote`)');
    }
  }
  return issues;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Validates a catalog (from TypeScript or a parsed file) and returns it frozen.
 * Throws BROKER_CATALOG_INVALID listing every problem.
 *
 * @example
 * const catalog = defineCatalog({
 *   namespace: 'SupportDesk',
 *   resourceTypes: { Refund: { states: ['requested', 'approved', 'paid'] } },
 *   actions: { 'refund.approve': { resourceType: 'Refund', from: ['requested'], to: 'approved', effect: 'internal' } },
 * });
 */
export function defineCatalog(input: unknown, source = 'catalog'): Catalog {
  const result = CatalogSchema.safeParse(input);
  const issues = result.success ? crossCheck(result.data) : toInputIssues(result.error.issues);
  if (!result.success || issues.length > 0) {
    const list = issues.map((i) => `\`${i.path}\`: ${i.message}`).join('; ');
    throw new WritError(BrokerErrors.BROKER_CATALOG_INVALID, `invalid ${source}: ${list}`, { details: { source, issues } });
  }
  return deepFreeze(result.data);
}

/** Reads and validates a catalog file (`.json`, `.yaml` or `.yml`). */
export function loadCatalogFile(path: string): Catalog {
  let parsed: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    parsed = extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (cause) {
    throw new WritError(BrokerErrors.BROKER_CATALOG_UNREADABLE, `cannot read catalog \`${path}\`: ${(cause as Error).message}`, {
      cause,
      details: { path },
    });
  }
  return defineCatalog(parsed, `catalog \`${path}\``);
}
