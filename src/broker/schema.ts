// SQLite schema of the broker area: principals, sessions, resources, proposals, decisions,
// approvals, warrants and transitions. STRICT tables with foreign keys; JSON columns hold
// canonical JSON. Bundles and chunks belong to retrieval and are read only through the
// EvidenceReader, so no foreign key points at them.
import type { Migration } from '../store/index.js';

/** Migrations of the `broker` area. */
export const brokerMigrations: Migration[] = [
  {
    area: 'broker',
    version: 1,
    name: 'principals, sessions, resources, proposals, decisions, approvals, warrants, transitions',
    up: `
CREATE TABLE principals (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('user', 'agent', 'service')),
  tenant TEXT NOT NULL,
  display_name TEXT,
  groups_json TEXT NOT NULL DEFAULT '[]',
  roles_json TEXT NOT NULL DEFAULT '[]',
  on_behalf_of TEXT,
  attributes_json TEXT NOT NULL DEFAULT '{}',
  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX principals_tenant ON principals (tenant, kind);

CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  actor_id TEXT NOT NULL REFERENCES principals (id),
  on_behalf_of TEXT REFERENCES principals (id),
  status TEXT NOT NULL CHECK (status IN ('active', 'ended', 'revoked')),
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  closed_at TEXT,
  close_reason TEXT,
  budget_retrievals INTEGER NOT NULL CHECK (budget_retrievals >= 0),
  budget_proposals INTEGER NOT NULL CHECK (budget_proposals >= 0),
  budget_context_chars INTEGER NOT NULL CHECK (budget_context_chars >= 0),
  used_retrievals INTEGER NOT NULL DEFAULT 0 CHECK (used_retrievals <= budget_retrievals),
  used_proposals INTEGER NOT NULL DEFAULT 0 CHECK (used_proposals <= budget_proposals),
  used_context_chars INTEGER NOT NULL DEFAULT 0 CHECK (used_context_chars <= budget_context_chars)
) STRICT;
CREATE INDEX sessions_actor ON sessions (actor_id, status);

CREATE TABLE resources (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  tenant TEXT NOT NULL,
  state TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version >= 1),
  attributes_json TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (type, id)
) STRICT;
CREATE INDEX resources_tenant ON resources (tenant, type, state);

CREATE TABLE proposals (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  session_id TEXT REFERENCES sessions (id),
  actor_id TEXT NOT NULL REFERENCES principals (id),
  on_behalf_of TEXT REFERENCES principals (id),
  action TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  target_id TEXT NOT NULL,
  params_json TEXT NOT NULL,
  basis_json TEXT NOT NULL,
  rationale TEXT,
  idempotency_key TEXT,
  hash TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('proposed', 'denied', 'pending_approval', 'authorized', 'rejected', 'expired', 'executed', 'failed', 'voided')),
  decision_id TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (actor_id, idempotency_key)
) STRICT;
CREATE INDEX proposals_status ON proposals (tenant, status, created_at);
CREATE INDEX proposals_session ON proposals (session_id, status) WHERE session_id IS NOT NULL;
CREATE INDEX proposals_target ON proposals (resource_type, target_id);

CREATE TABLE decisions (
  id TEXT PRIMARY KEY,
  proposal_id TEXT NOT NULL REFERENCES proposals (id),
  proposal_hash TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('allow', 'deny', 'needs_approval')),
  determining_policies_json TEXT NOT NULL,
  obligations_json TEXT NOT NULL,
  reasons_json TEXT NOT NULL,
  errors_json TEXT NOT NULL,
  facts_json TEXT NOT NULL,
  policy_set_hash TEXT NOT NULL,
  created_at TEXT NOT NULL
) STRICT;
CREATE INDEX decisions_proposal ON decisions (proposal_id, created_at);

CREATE TABLE approvals (
  id TEXT PRIMARY KEY,
  proposal_id TEXT NOT NULL REFERENCES proposals (id),
  proposal_hash TEXT NOT NULL,
  approver_id TEXT NOT NULL REFERENCES principals (id),
  verdict TEXT NOT NULL CHECK (verdict IN ('approved', 'rejected')),
  roles_json TEXT NOT NULL,
  note TEXT,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
) STRICT;
CREATE INDEX approvals_proposal ON approvals (proposal_id, proposal_hash);

CREATE TABLE warrants (
  id TEXT PRIMARY KEY,
  nonce TEXT NOT NULL UNIQUE,
  proposal_id TEXT NOT NULL REFERENCES proposals (id),
  decision_id TEXT NOT NULL REFERENCES decisions (id),
  kid TEXT NOT NULL,
  -- SHA-256 of the token: the token itself is a bearer credential and is not stored
  token_hash TEXT NOT NULL UNIQUE,
  payload_json TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('issued', 'in_flight', 'consumed', 'voided')),
  issued_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  consumed_at TEXT,
  voided_at TEXT
) STRICT;
CREATE INDEX warrants_proposal ON warrants (proposal_id, status);

CREATE TABLE transitions (
  id TEXT PRIMARY KEY,
  warrant_id TEXT NOT NULL UNIQUE REFERENCES warrants (id),
  proposal_id TEXT NOT NULL REFERENCES proposals (id),
  decision_id TEXT NOT NULL REFERENCES decisions (id),
  tenant TEXT NOT NULL,
  action TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  effect TEXT NOT NULL CHECK (effect IN ('internal', 'external', 'irreversible')),
  from_state TEXT,
  to_state TEXT NOT NULL,
  from_version INTEGER NOT NULL,
  to_version INTEGER,
  status TEXT NOT NULL CHECK (status IN ('executed', 'started', 'succeeded', 'failed')),
  detail_json TEXT,
  request_id TEXT,
  created_at TEXT NOT NULL,
  completed_at TEXT
) STRICT;
CREATE INDEX transitions_resource ON transitions (resource_type, resource_id, created_at);

-- Held while an external transition on a resource (or a resource id being created) is in
-- flight: no other transition may start on it until the executor reports.
CREATE TABLE resource_locks (
  resource_type TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  transition_id TEXT NOT NULL UNIQUE REFERENCES transitions (id),
  created_at TEXT NOT NULL,
  PRIMARY KEY (resource_type, resource_id)
) STRICT, WITHOUT ROWID;
`,
  },
  {
    area: 'broker',
    version: 2,
    // Every index a hot-path write touches costs a WAL page per commit (measured: ~6 µs of
    // CPU each here, 57 pages per propose → decide → warrant → execute round trip with
    // version 1). Version 2 keeps only indexes some query uses, keys small rows by their
    // primary key (WITHOUT ROWID: one B-tree instead of table + key index), and leaves
    // status out of indexes that every status change would otherwise rewrite.
    name: 'leaner indexes: resources, warrants and transitions keyed by id; open proposals indexed by status',
    rebuildsTables: true,
    up: `
-- Proposals keep a rowid table (rows can be large: params, basis, rationale). The
-- idempotency key is unique only where one is given; status is indexed only while a
-- proposal is open (pending approval or authorized), for approvers' lists and expiry.
CREATE TABLE proposals_v2 (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  session_id TEXT REFERENCES sessions (id),
  actor_id TEXT NOT NULL REFERENCES principals (id),
  on_behalf_of TEXT REFERENCES principals (id),
  action TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  target_id TEXT NOT NULL,
  params_json TEXT NOT NULL,
  basis_json TEXT NOT NULL,
  rationale TEXT,
  idempotency_key TEXT,
  hash TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('proposed', 'denied', 'pending_approval', 'authorized', 'rejected', 'expired', 'executed', 'failed', 'voided')),
  decision_id TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;
INSERT INTO proposals_v2 SELECT id, tenant, session_id, actor_id, on_behalf_of, action, resource_type, target_id, params_json, basis_json,
  rationale, idempotency_key, hash, status, decision_id, created_at, updated_at FROM proposals ORDER BY rowid;
DROP TABLE proposals;
ALTER TABLE proposals_v2 RENAME TO proposals;
CREATE UNIQUE INDEX proposals_idempotency ON proposals (actor_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX proposals_open ON proposals (status, tenant, id) WHERE status IN ('pending_approval', 'authorized');
CREATE INDEX proposals_session ON proposals (session_id) WHERE session_id IS NOT NULL;

-- Resources: looked up only by (type, id).
CREATE TABLE resources_v2 (
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  tenant TEXT NOT NULL,
  state TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version >= 1),
  attributes_json TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (type, id)
) STRICT, WITHOUT ROWID;
INSERT INTO resources_v2 SELECT type, id, tenant, state, version, attributes_json, created_at, updated_at FROM resources;
DROP TABLE resources;
ALTER TABLE resources_v2 RENAME TO resources;

-- Warrants: found by id; the nonce and token hash are checked against that row, so they
-- need no index of their own (random keys: each would dirty a random page per issue).
CREATE TABLE warrants_v2 (
  id TEXT PRIMARY KEY,
  nonce TEXT NOT NULL,
  proposal_id TEXT NOT NULL REFERENCES proposals (id),
  decision_id TEXT NOT NULL REFERENCES decisions (id),
  kid TEXT NOT NULL,
  -- SHA-256 of the token: the token itself is a bearer credential and is not stored
  token_hash TEXT NOT NULL,
  payload_json TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('issued', 'in_flight', 'consumed', 'voided')),
  issued_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  consumed_at TEXT,
  voided_at TEXT
) STRICT, WITHOUT ROWID;
INSERT INTO warrants_v2 SELECT id, nonce, proposal_id, decision_id, kid, token_hash, payload_json, status, issued_at, expires_at, consumed_at, voided_at
  FROM warrants;
DROP TABLE warrants;
ALTER TABLE warrants_v2 RENAME TO warrants;
CREATE INDEX warrants_proposal ON warrants (proposal_id);

-- Transitions: by id; one per warrant; a resource's history newest first by id (ids are
-- time-ordered), which the secondary index serves because it carries the primary key.
CREATE TABLE transitions_v2 (
  id TEXT PRIMARY KEY,
  warrant_id TEXT NOT NULL UNIQUE REFERENCES warrants (id),
  proposal_id TEXT NOT NULL REFERENCES proposals (id),
  decision_id TEXT NOT NULL REFERENCES decisions (id),
  tenant TEXT NOT NULL,
  action TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  effect TEXT NOT NULL CHECK (effect IN ('internal', 'external', 'irreversible')),
  from_state TEXT,
  to_state TEXT NOT NULL,
  from_version INTEGER NOT NULL,
  to_version INTEGER,
  status TEXT NOT NULL CHECK (status IN ('executed', 'started', 'succeeded', 'failed')),
  detail_json TEXT,
  request_id TEXT,
  created_at TEXT NOT NULL,
  completed_at TEXT
) STRICT, WITHOUT ROWID;
INSERT INTO transitions_v2 SELECT id, warrant_id, proposal_id, decision_id, tenant, action, resource_type, resource_id, effect, from_state, to_state,
  from_version, to_version, status, detail_json, request_id, created_at, completed_at FROM transitions;
DROP TABLE transitions;
ALTER TABLE transitions_v2 RENAME TO transitions;
CREATE INDEX transitions_resource ON transitions (resource_type, resource_id);
`,
  },
  {
    area: 'broker',
    version: 3,
    // Resource ids were unique per type across tenants: one tenant's `rf-1` kept every other
    // tenant from creating its own, and a create's facts (\`transition.legal\`) told whether
    // another tenant held the id. Each tenant now has its own ids.
    name: 'resources and resource locks keyed by tenant',
    rebuildsTables: true,
    up: `
CREATE TABLE resources_v3 (
  tenant TEXT NOT NULL,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  state TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version >= 1),
  attributes_json TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (tenant, type, id)
) STRICT, WITHOUT ROWID;
INSERT INTO resources_v3 SELECT tenant, type, id, state, version, attributes_json, created_at, updated_at FROM resources;
DROP TABLE resources;
ALTER TABLE resources_v3 RENAME TO resources;

-- A lock belongs to the tenant of its transition.
CREATE TABLE resource_locks_v3 (
  tenant TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  transition_id TEXT NOT NULL UNIQUE REFERENCES transitions (id),
  created_at TEXT NOT NULL,
  PRIMARY KEY (tenant, resource_type, resource_id)
) STRICT, WITHOUT ROWID;
INSERT INTO resource_locks_v3 SELECT t.tenant, l.resource_type, l.resource_id, l.transition_id, l.created_at
  FROM resource_locks l JOIN transitions t ON t.id = l.transition_id;
DROP TABLE resource_locks;
ALTER TABLE resource_locks_v3 RENAME TO resource_locks;

DROP INDEX transitions_resource;
CREATE INDEX transitions_resource ON transitions (tenant, resource_type, resource_id);
`,
  },
];
