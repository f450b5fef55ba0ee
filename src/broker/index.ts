// Front door of the broker: catalog, principals and sessions, proposals, facts,
// decisions, approvals, warrants and transitions. Other areas import only from here.
export { CatalogSchema, ParamSpecSchema, ActionSpecSchema, ResourceTypeSpecSchema, EffectClassSchema, defineCatalog, loadCatalogFile } from './catalog.js';
export type { Catalog, CatalogInput, ActionSpec, ParamSpec, ResourceTypeSpec, EffectClass } from './catalog.js';
export { FactsSchema, BasisItemFactsSchema, type Facts, type BasisItemFacts } from './facts-schema.js';
export { BrokerErrors } from './errors.js';
export { brokerMigrations } from './schema.js';
export { BrokerConfigSchema, SessionBudgetsSchema, type BrokerConfig, type BrokerConfigInput, type SessionBudgets } from './config.js';
export { createBroker, type Broker, type BrokerOptions } from './broker.js';
export type { DecisionEngine, PolicySetDescription, PolicyVerdict, WarrantKeyring } from './context.js';
export { policySetSubject } from './policy-activation.js';
export type { EvidenceReader, EvidenceBundle, EvidenceChunk } from './evidence.js';
export { ProposalStatusSchema, PROPOSAL_MOVES, TERMINAL_STATUSES, canMove, assertMove, type ProposalStatus } from './lifecycle.js';
export { ProposeInputSchema, sealProposal, type ProposeInput, type ProposalContent } from './proposals.js';
export { CreateSessionInputSchema, SessionChargeSchema, type CreateSessionInput, type SessionCharge, type SessionCloseResult } from './sessions.js';
export { normalizeForTaint, compactForTaint, buildTaintCorpus, createTaintTextCache, isTainted, type TaintCorpus, type TaintTextCache } from './taint.js';
export { WarrantPayloadSchema, verifyWarrantOffline, decodeWarrantPayload, splitWarrant, type WarrantPayload } from './warrant.js';
export type { IssuedWarrant } from './warrant-issue.js';
export type { ProposedAndDecided } from './decisions.js';
export { TransitionReportSchema, type TransitionReport, type TransitionResult } from './transitions.js';
export type {
  ParamValue,
  SessionRecord,
  ResourceRecord,
  ProposalRecord,
  DecisionRecord,
  ApprovalRecord,
  TransitionRecord,
  Obligation as DecisionObligation,
} from './records.js';
export { maySeeProposal, type PrincipalRecord } from './principals.js';
// The policy engine (Cedar), so other areas need not reach into broker/policy.
export * from './policy/index.js';
