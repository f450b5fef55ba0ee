// Front door of broker/policy: Cedar schema generation from the catalog, policy loading
// and validation, and the policy engine that turns facts into a decision. The only
// folder that imports Cedar; see ./README.md for the schema, annotations and defaults.
export { generateCedarSchema, cedarTypeOfParam, PRINCIPAL_ENTITY_TYPES, type CedarSchemaJson } from './schema.js';
export {
  loadPolicies,
  loadPolicyDir,
  readPolicyDir,
  type LoadPoliciesOptions,
  type LoadedPolicySet,
  type Obligation,
  type ParsedPolicy,
  type PolicyProblem,
  type PolicySource,
} from './load.js';
export { defaultPolicySources } from './defaults.js';
export { createPolicyEngine, type PolicyEngine, type PolicyEngineOptions } from './engine.js';
export {
  PolicyDecisionSchema,
  PolicyOutcomeSchema,
  ObligationStatusSchema,
  type PolicyDecision,
  type PolicyOutcome,
  type ObligationStatus,
} from './decision.js';
