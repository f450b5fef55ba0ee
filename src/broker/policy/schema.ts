// Generates the Cedar schema (JSON form) from a catalog: principal entity types, one
// entity type per resource type, one action per catalog action with the facts as context.
// The shape is documented for policy authors in ./README.md; keep the two in step.
import type { SchemaJson, TypeOfAttribute } from '@cedar-policy/cedar-wasm/nodejs';
import { WritError, type InputIssue } from '../../core/index.js';
import { RESERVED_ATTRIBUTE_NAMES, RESERVED_TYPE_NAMES, type Catalog, type ParamSpec } from '../catalog.js';
import { BrokerErrors } from '../errors.js';

/** The Cedar entity types principals map to, by principal kind. */
export const PRINCIPAL_ENTITY_TYPES = { user: 'User', agent: 'Agent', service: 'Service' } as const;

/** Attributes every resource entity carries before its catalog attributes. */
export const RESOURCE_BASE_ATTRIBUTES = RESERVED_ATTRIBUTE_NAMES;

export type CedarSchemaJson = SchemaJson<string>;
type CedarType = TypeOfAttribute<string>;

const str = (required = true): CedarType => ({ type: 'String', required });
const bool = (): CedarType => ({ type: 'Boolean', required: true });
const long = (required = true): CedarType => ({ type: 'Long', required });
const strSet = (): CedarType => ({ type: 'Set', element: { type: 'String' }, required: true });
const record = (attributes: Record<string, CedarType>, required = true): CedarType => ({ type: 'Record', attributes, required });
/** A top-level shape (entity attributes or an action context) carries no `required` flag. */
const shape = (attributes: Record<string, CedarType>): CedarType => ({ type: 'Record', attributes });

/** The Cedar type of one catalog param or attribute. */
export function cedarTypeOfParam(spec: ParamSpec): CedarType {
  const required = spec.required;
  switch (spec.type) {
    case 'integer':
      return long(required);
    case 'decimal':
      return { type: 'Extension', name: 'decimal', required };
    case 'boolean':
      return { type: 'Boolean', required };
    case 'string':
      return str(required);
  }
}

/** Shape of a principal entity (and of `context.actingFor`, which mirrors it as a record). */
function principalAttributes(): Record<string, CedarType> {
  return { id: str(), kind: str(), tenant: str(), roles: strSet(), groups: strSet() };
}

/** The facts every action's context carries, plus that action's typed params. */
function contextType(params: Record<string, ParamSpec>): CedarType {
  const paramTypes: Record<string, CedarType> = {};
  for (const [name, spec] of Object.entries(params)) paramTypes[name] = cedarTypeOfParam(spec);
  return shape({
    params: record(paramTypes),
    taint: record({ anyTrusted: bool(), trustedParams: strSet(), params: strSet() }),
    basis: record({ count: long(), allExist: bool(), allOwned: bool(), allSameSession: bool(), allFresh: bool() }),
    approvals: record({ count: long(), roles: strSet(), approverIds: strSet() }),
    transition: record({ legal: bool(), from: str(), to: str(), effect: str() }),
    isActor: bool(),
    actingFor: record(principalAttributes(), false),
  });
}

/**
 * The reserved-name checks of `defineCatalog` again: a `Catalog` typed by hand never went
 * through it, and Cedar's own message for these would not say what to rename.
 */
function schemaIssues(catalog: Catalog): InputIssue[] {
  const issues: InputIssue[] = [];
  for (const [name, type] of Object.entries(catalog.resourceTypes)) {
    if (Object.hasOwn(RESERVED_TYPE_NAMES, name)) {
      issues.push({ path: `resourceTypes.${name}`, code: 'catalog', message: `\`${name}\` cannot name a resource type (${RESERVED_TYPE_NAMES[name]}): rename it` });
    }
    for (const attr of Object.keys(type.attributes)) {
      if ((RESOURCE_BASE_ATTRIBUTES as readonly string[]).includes(attr)) {
        issues.push({ path: `resourceTypes.${name}.attributes.${attr}`, code: 'catalog', message: `\`${attr}\` is set by the broker on every resource: rename the attribute` });
      }
    }
  }
  return issues;
}

/**
 * Builds the Cedar JSON schema for a catalog, in the catalog's namespace.
 * Throws BROKER_CATALOG_INVALID when a catalog name collides with a name the broker reserves.
 *
 * @example
 * const schema = generateCedarSchema(catalog);
 * schema.SupportDesk.actions['refund.pay'].appliesTo.resourceTypes // ['Refund']
 */
export function generateCedarSchema(catalog: Catalog): CedarSchemaJson {
  const issues = schemaIssues(catalog);
  if (issues.length > 0) {
    const list = issues.map((i) => `\`${i.path}\`: ${i.message}`).join('; ');
    throw new WritError(BrokerErrors.BROKER_CATALOG_INVALID, `catalog cannot become a cedar schema: ${list}`, { details: { issues } });
  }
  const entityTypes: Record<string, { shape: CedarType }> = {};
  for (const name of Object.values(PRINCIPAL_ENTITY_TYPES)) entityTypes[name] = { shape: shape(principalAttributes()) };
  for (const [name, type] of Object.entries(catalog.resourceTypes)) {
    const attributes: Record<string, CedarType> = { tenant: str(), state: str(), version: long() };
    for (const [attr, spec] of Object.entries(type.attributes)) attributes[attr] = cedarTypeOfParam(spec);
    entityTypes[name] = { shape: shape(attributes) };
  }
  const actions: CedarSchemaJson[string]['actions'] = {};
  for (const [id, action] of Object.entries(catalog.actions)) {
    actions[id] = {
      appliesTo: {
        principalTypes: Object.values(PRINCIPAL_ENTITY_TYPES),
        resourceTypes: [action.resourceType],
        context: contextType(action.params),
      },
    };
  }
  return { [catalog.namespace]: { entityTypes, actions } } as CedarSchemaJson;
}
