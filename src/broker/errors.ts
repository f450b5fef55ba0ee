// Error codes of the broker. Add new codes to this one object (one code, one meaning, forever).
import { defineErrors } from '../core/index.js';

export const BrokerErrors = defineErrors('broker', {
  BROKER_CATALOG_INVALID: {
    status: 500,
    meaning: 'the catalog has one or more problems; `details.issues` lists every one',
    fix: 'correct each listed problem in the catalog file and start again',
  },
  BROKER_CATALOG_UNREADABLE: {
    status: 500,
    meaning: 'the catalog file cannot be read or parsed as JSON or YAML',
    fix: 'check the path and the syntax of the catalog file',
  },
  BROKER_POLICY_INVALID: {
    status: 500,
    meaning: 'one or more policies do not parse, do not validate against the schema generated from the catalog, or carry bad annotations; `details.problems` lists every one with its file and Cedar\'s message',
    fix: 'correct each listed policy (see src/broker/policy/README.md for the schema and annotations) and start again',
  },
  BROKER_POLICY_ENGINE_FAILED: {
    status: 500,
    meaning: 'a call into Cedar (the WebAssembly policy engine) failed instead of answering, e.g. a trap; its instance was replaced and nothing was decided or recorded',
    fix: 'retry; if it persists, report it with the request id and the policy text or request that caused it',
  },
  BROKER_POLICY_UNREADABLE: {
    status: 500,
    meaning: 'a policy folder or `.cedar` file cannot be read',
    fix: 'check the path and the permissions of the policy folder',
  },
  BROKER_CONFIG_INVALID: {
    status: 500,
    meaning: 'createBroker was called with missing or invalid options; `details.issues` lists every problem',
    fix: 'pass a store, ledger, catalog, policy engine, evidence reader and warrant keyring, and valid `config` values',
  },
  BROKER_PRINCIPAL_NOT_FOUND: {
    status: 404,
    meaning: 'the named principal is not registered with the broker',
    fix: 'register the principal with `upsertPrincipal` (or the principals file) first',
  },
  BROKER_PRINCIPAL_DISABLED: {
    status: 403,
    meaning: 'the principal is registered but disabled, so it may not act',
    fix: 're-enable the principal, or act as another one',
  },
  BROKER_PRINCIPAL_MISMATCH: {
    status: 403,
    meaning: 'the authenticated caller does not match the registered principal of that id (tenant or kind differ)',
    fix: 'check the authentication layer maps callers to the registered principals',
  },
  BROKER_TENANT_MISMATCH: {
    status: 403,
    meaning: 'the request crosses tenants: actor, on-behalf-of principal, session or record belong to different tenants',
    fix: 'act only on principals and records of your own tenant',
  },
  BROKER_DELEGATION_INVALID: {
    status: 403,
    meaning: 'the on-behalf-of principal is not one an agent may act for (unknown, disabled, an agent, or the actor itself)',
    fix: 'name a user or service of the same tenant as `onBehalfOf`',
  },
  BROKER_SESSION_NOT_FOUND: {
    status: 404,
    meaning: 'no session has that id',
    fix: 'create a session with `createSession` and use its id',
  },
  BROKER_SESSION_NOT_ACTIVE: {
    status: 409,
    meaning: 'the session has ended, was revoked or has expired',
    fix: 'start a new session',
  },
  BROKER_SESSION_REQUIRED: {
    status: 400,
    meaning: 'an agent must retrieve and propose within a session of its own; it named none',
    fix: 'open a session first (`POST /v1/sessions`, `writ session create`) and pass its id as `sessionId`',
  },
  BROKER_SESSION_FORBIDDEN: {
    status: 403,
    meaning: 'the caller may not end or revoke this session: only its actor, its on-behalf-of principal, a service or an admin user of its tenant may (proposing or retrieving in another actor\'s session answers `BROKER_SESSION_NOT_FOUND` instead)',
    fix: 'use a session you created, or ask its actor or on-behalf-of principal',
  },
  BROKER_SESSION_BUDGET_EXCEEDED: {
    status: 429,
    meaning: 'the session has used up one of its budgets (retrievals, proposals or context characters); nothing was charged',
    fix: 'start a new session with a larger budget, or do less in this one',
  },
  BROKER_ACTION_UNKNOWN: {
    status: 400,
    meaning: 'the proposal names an action the catalog does not declare',
    fix: 'use one of the actions in `details.known`',
  },
  BROKER_PARAMS_INVALID: {
    status: 400,
    meaning: "the proposal's params do not match the action's parameter schema; `details.issues` lists every problem",
    fix: 'correct each listed param (type, range, length, pattern, enum, required, unknown)',
  },
  BROKER_TARGET_TYPE_MISMATCH: {
    status: 400,
    meaning: 'the proposal names a target type other than the resource type its action drives',
    fix: "omit `targetType` or send the action's resource type",
  },
  BROKER_TARGET_NOT_FOUND: {
    status: 404,
    meaning: 'the action moves an existing resource but no resource of that type and id exists in the tenant',
    fix: 'check the target id, or use the action that creates the resource',
  },
  BROKER_IDEMPOTENCY_CONFLICT: {
    status: 409,
    meaning: 'the idempotency key was already used by this actor for a proposal with different content',
    fix: 'send the same content again, or use a new idempotency key',
  },
  BROKER_PROPOSAL_NOT_FOUND: {
    status: 404,
    meaning: "no proposal has that id in the caller's tenant",
    fix: 'check the proposal id',
  },
  BROKER_PROPOSAL_ILLEGAL_MOVE: {
    status: 409,
    meaning: 'the proposal lifecycle forbids this move from its current status (see src/broker/README.md)',
    fix: "read the proposal's status; a terminal proposal cannot move again",
  },
  BROKER_PROPOSAL_WRONG_STATUS: {
    status: 409,
    meaning:
      'the operation needs the proposal in another status (e.g. approve needs `pending_approval`, a warrant needs `authorized`); a proposal found waiting for approval longer than `pendingApprovalTtlMs` is expired by the operation that reaches it, and answers `expired` (`details.status`)',
    fix: "read the proposal's status and decide, approve or propose again as fits",
  },
  BROKER_DECISION_NOT_FOUND: {
    status: 404,
    meaning: 'no decision has that id',
    fix: 'check the decision id',
  },
  BROKER_DECISION_STALE: {
    status: 409,
    meaning: 'the decision no longer matches the proposal or its target (hash, state or version changed, or the authorization expired)',
    fix: 'decide the proposal again, or propose anew',
  },
  BROKER_APPROVER_NOT_HUMAN: {
    status: 403,
    meaning: 'only a human user may approve or reject; agents and services never do',
    fix: 'approve as a user holding the role the obligation names',
  },
  BROKER_APPROVER_IS_PROPOSER: {
    status: 403,
    meaning: 'the proposer and the principal it acts for cannot approve or reject their own proposal',
    fix: 'ask another user holding the required role',
  },
  BROKER_APPROVER_LACKS_ROLE: {
    status: 403,
    meaning: 'the caller holds no role that a pending obligation of the proposal names',
    fix: 'ask a user holding one of the roles in `details.roles`',
  },
  BROKER_WARRANT_FORBIDDEN: {
    status: 403,
    meaning: 'the caller may not obtain a warrant for this proposal (only its actor, its on-behalf-of principal or a service of the tenant may)',
    fix: "request the warrant as the proposal's actor",
  },
  BROKER_WARRANT_MALFORMED: {
    status: 400,
    meaning: 'the warrant token is not of the form `payload.kid.signature` with a canonical payload',
    fix: 'pass the token exactly as the broker issued it',
  },
  BROKER_WARRANT_UNKNOWN_KEY: {
    status: 401,
    meaning: 'the warrant names a key id that the keyring or JWKS does not hold',
    fix: 'verify against the current JWKS; the key may have been removed',
  },
  BROKER_WARRANT_SIGNATURE_INVALID: {
    status: 401,
    meaning: "the warrant's signature does not match its payload: it was forged or altered",
    fix: 'use only warrants issued by the broker, unmodified',
  },
  BROKER_WARRANT_EXPIRED: {
    status: 401,
    meaning: "the warrant's expiry has passed",
    fix: 'request a new warrant for the authorized proposal',
  },
  BROKER_WARRANT_NOT_ISSUED: {
    status: 401,
    meaning: 'the warrant verifies but the broker has no matching issued record (id, nonce, proposal or decision differ)',
    fix: 'use a warrant issued by this broker',
  },
  BROKER_WARRANT_CONSUMED: {
    status: 409,
    meaning: 'the warrant was already used: a warrant authorizes exactly one transition',
    fix: 'request a new warrant only if the proposal is still authorized',
  },
  BROKER_WARRANT_VOIDED: {
    status: 409,
    meaning: 'the warrant was voided (its session was ended or revoked)',
    fix: 'propose again in an active session',
  },
  BROKER_TARGET_CHANGED: {
    status: 409,
    meaning: 'the target is no longer in the state and version the warrant expects: another transition won the race; nothing changed',
    fix: 'read the resource and propose again',
  },
  BROKER_TARGET_BUSY: {
    status: 409,
    meaning: 'an external transition on the target is in flight; nothing changed',
    fix: 'wait for the executor to report, then propose again',
  },
  BROKER_TRANSITION_NOT_IN_FLIGHT: {
    status: 409,
    meaning: 'a report names a warrant whose external transition is not in flight (never started, internal, or already reported)',
    fix: 'report once, with the token of a started external transition',
  },
});
