// The library entry for plain JavaScript (`import { createApp } from 'writ'` in Node without
// a TypeScript loader). Writ runs from its TypeScript sources, so this file loads
// `index.ts` through tsx's scoped `tsImport`: no loader is registered for the host
// application's own imports. TypeScript users get the types from `index.ts` (package.json
// `exports`, condition `types`). The names below are index.ts's runtime exports; a test
// (test/core/library-entry.test.ts) keeps the two lists equal.
import { tsImport } from 'tsx/esm/api';

const writ = await tsImport('./index.ts', import.meta.url);

export const {
  APPEND_ONLY_TRIGGERS, APPEND_ONLY_TRIGGERS_SQL, ActionSpecSchema, BUNDLED_MODEL_DIR,
  MAX_POLICY_JSON_DEPTH, MAX_POLICY_NESTING, MAX_POLICY_OPERATORS, MAX_POLICY_SET_CHARS, MAX_POLICY_SOURCE_CHARS,
  checkPolicySetSize, checkPolicyText, policyBoundProblems, rejectIllFormedText, loneSurrogateAt, loneSurrogateProblem,
  BasisItemFactsSchema, BrokerConfigSchema, BrokerErrors, CatalogSchema, CliErrors,
  ConfigSchema, CoreErrors, CreateSessionInputSchema, DEFAULT_CHROMA_RESTART_TIMING, DEFAULT_CHUNKING, DEFAULT_EF_SEARCH,
  DocumentInputSchema, ENV_SETTINGS, EXIT, EffectClassSchema, EmbedderOptionsSchema,
  FactsSchema, GENESIS_HASH, HealthSchema, ID_PREFIXES, KEY_PURPOSES, KeyringErrors,
  LedgerErrors, MCP_TOOLS, McpErrors, NameSchema, ObligationStatusSchema, PACKAGE_ROOT,
  PRINCIPAL_ENTITY_TYPES, PROPOSAL_MOVES, ParamSpecSchema, PolicyDecisionSchema,
  PolicyOutcomeSchema, PrincipalIdSchema, PrincipalKindSchema, PrincipalSchema, ProposalStatusSchema,
  ProposeInputSchema, ReaderSchema, ResourceTypeSpecSchema, RetrievalErrors,
  RetrievalFiltersSchema, RetrievalQuerySchema, ServerErrors, SessionBudgetsSchema,
  SessionChargeSchema, StoreErrors, TERMINAL_STATUSES, TransitionReportSchema, VECTOR_SPACE,
  VersionSchema, WRIT_NAME, WRIT_VERSION, WarrantPayloadSchema, WritError, assertLedgerIntact,
  assertMove, brokerMigrations, buildServer, buildTaintCorpus, canMove, canonicalJson,
  cedarTypeOfParam, checkpointPayload, chunkText, compactForTaint, connectChroma, createApp,
  createBroker, createBundleEvidenceReader, createChromaRestartSchedule, createEmbedder, createHttpBackend, createLedger,
  createLedgerFeed, createLocalBackend, createLogger, createMcpServer, createPolicyEngine,
  createRetrieval, createTaintTextCache, createTokenBucket, decodeWarrantPayload, defaultPolicySources, defineCatalog,
  defineErrors, entryHash, entryHashInput, entryHashObject, generateCedarSchema, isIdOf, isPast,
  isTainted, isWritError, isZeroVector, kidOf, ledgerMigrations, listErrorCodes,
  listLoadableFiles, loadCatalogFile, loadConfig, loadFile, loadPolicies, loadPolicyDir,
  loadPublicKeys, loadText, maySeeProposal, newId, normalizeForTaint, normalizeTime, nowIso, onShutdown,
  openKeyring, openStore, openVectorIndex, parseInput, policySetSubject, randomBase64url, readPolicyDir, signingBackend,
  referenceEntryHash, retrievalMigrations, rotateSigningKey, runCli, runShutdown, sealBundle, sealOf,
  sealProposal, serveMcpStdio, sha256Hex, shutdownHookCount, splitWarrant, startChroma,
  superviseChroma, systemClock, toInputIssues, toUtcIso, verifyChain, verifyWarrantOffline, verifyWithJwks,
} = writ;
