// Front door of broker/policy: Cedar schema generation from the catalog, policy loading
// and validation, and the policy engine that turns facts into a decision. The only
// folder that imports Cedar; see ./README.md for the schema, annotations and defaults.
export { generateCedarSchema, cedarTypeOfParam, PRINCIPAL_ENTITY_TYPES, type CedarSchemaJson } from './schema.js';
export {
  loadPolicies,
  loadPolicyDir,
  readPolicyDir,
  policyBoundProblems,
  type LoadPoliciesOptions,
  type LoadedPolicySet,
  type Obligation,
  type ParsedPolicy,
  type PolicyProblem,
  type PolicySource,
} from './load.js';
export { defaultPolicySources } from './defaults.js';
export {
  checkPolicySetSize,
  checkPolicyText,
  MAX_POLICY_JSON_DEPTH,
  MAX_POLICY_NESTING,
  MAX_POLICY_OPERATORS,
  MAX_POLICY_SET_CHARS,
  MAX_POLICY_SOURCE_CHARS,
  type PolicyBoundProblem,
} from './bounds.js';
export { createPolicyEngine, type PolicyEngine, type PolicyEngineOptions } from './engine.js';
export {
  PolicyDecisionSchema,
  PolicyOutcomeSchema,
  ObligationStatusSchema,
  type PolicyDecision,
  type PolicyOutcome,
  type ObligationStatus,
} from './decision.js';
