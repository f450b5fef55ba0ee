// Broker schema migrations on homes written by earlier versions of Writ (fixtures/homes,
// see its README): version 2 rebuilds four tables (new indexes, WITHOUT ROWID), version 3
// keys resources and resource locks by tenant. A home must come through with every row,
// every link and its constraints, and work on.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWritError } from '../../src/core/index.js';
import { ledgerMigrations } from '../../src/ledger/index.js';
import { brokerMigrations, defineCatalog } from '../../src/broker/index.js';
import { openStore } from '../../src/store/index.js';
import { ALL_MIGRATIONS, createHarness, evidenceMigrations } from './helpers.js';

const TABLES = ['proposals', 'resources', 'warrants', 'transitions', 'decisions', 'approvals', 'resource_locks'];
const V1 = [...ledgerMigrations, brokerMigrations[0]!, ...evidenceMigrations];
const V2 = [...ledgerMigrations, brokerMigrations[0]!, brokerMigrations[1]!, ...evidenceMigrations];

/** The catalog and policy the version-2 home was written with (an external action). */
const opsCatalog = defineCatalog({
  namespace: 'Ops',
  resourceTypes: { Payout: { states: ['pending', 'sent'], attributes: { amountCents: { type: 'integer', min: 1 } } } },
  actions: {
    'payout.create': { resourceType: 'Payout', create: true, to: 'pending', effect: 'internal', params: { amountCents: { type: 'integer', min: 1 } } },
    'payout.send': { resourceType: 'Payout', from: ['pending'], to: 'sent', effect: 'external', params: {} },
  },
});
const opsPolicies = () => [{ file: 'ops.cedar', text: '@id("ops.all")\npermit (principal is Ops::User, action, resource) when { principal.roles.contains("ops") };' }];

/** A private copy of a fixture home (keys back at the modes the keyring insists on). */
function copyHome(name: string): { dir: string; scenario: Record<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), 'writ-migrate-'));
  cpSync(join(import.meta.dirname, 'fixtures', 'homes', name), dir, { recursive: true });
  const lockDown = (path: string): void => {
    const isDir = statSync(path).isDirectory();
    chmodSync(path, isDir ? 0o700 : 0o600);
    if (isDir) for (const entry of readdirSync(path)) lockDown(join(path, entry));
  };
  lockDown(join(dir, 'keys'));
  return { dir, scenario: JSON.parse(readFileSync(join(dir, 'scenario.json'), 'utf8')) as Record<string, string> };
}

function dump(db: ReturnType<typeof openStore>['db']): Record<string, unknown[]> {
  return Object.fromEntries(TABLES.map((t) => [t, db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all()]));
}

describe('broker schema migration 1 → 2', () => {
  test('keeps every row, link and constraint, and leaves the lean indexes', () => {
    // The version-1 home: an executed refund, one approved after waiting, one authorized with an unused warrant.
    const { dir, scenario } = copyHome('broker-home-v1');
    try {
      const v1 = openStore({ path: join(dir, 'writ.db'), migrations: V1 });
      assert.deepEqual(v1.appliedMigrations().filter((m) => m.area === 'broker').map((m) => m.version), [1]);
      const before = dump(v1.db);
      v1.close();
      assert.ok(before.proposals!.length === 3 && before.warrants!.length === 2);

      const store = openStore({ path: join(dir, 'writ.db'), migrations: V2 });
      try {
        assert.deepEqual(store.appliedMigrations().filter((m) => m.area === 'broker').map((m) => m.version), [1, 2]);
        assert.deepEqual(dump(store.db), before);
        assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
        assert.deepEqual(store.db.pragma('foreign_key_check'), []);
        // Constraints survive the rebuild: the idempotency key per actor, one transition per warrant, and foreign keys.
        assert.throws(() => store.db.prepare("UPDATE proposals SET idempotency_key = 'k-1' WHERE id = ?").run(scenario.large), /UNIQUE/);
        assert.throws(() => store.db.prepare("UPDATE warrants SET proposal_id = 'prp_missing' WHERE id = ?").run(scenario.unusedWarrantId), /FOREIGN KEY/);
        const indexes = (store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'").pluck().all() as string[]).sort();
        for (const gone of ['proposals_status', 'proposals_target', 'resources_tenant']) assert.ok(!indexes.includes(gone), gone);
        for (const made of ['proposals_idempotency', 'proposals_open', 'proposals_session', 'warrants_proposal', 'transitions_resource']) assert.ok(indexes.includes(made), made);
        for (const t of ['resources', 'warrants', 'transitions']) {
          assert.match(store.db.prepare("SELECT sql FROM sqlite_master WHERE name = ?").pluck().get(t) as string, /WITHOUT ROWID/, t);
        }
      } finally {
        store.close();
      }

      // The migrated home (now at the current version) works on: open proposals are listed
      // by status, the unused warrant executes, and the approved proposal gets its warrant.
      const again = createHarness({ dir });
      try {
        assert.deepEqual(again.broker.listProposals({ status: 'authorized' }).map((x) => x.id).sort(), [scenario.large, scenario.third].sort());
        assert.equal(again.broker.execute(scenario.unusedToken!).resource?.state, 'requested');
        assert.equal(again.broker.execute(again.broker.issueWarrant(again.p['sam']!, scenario.large!).token).resource?.state, 'requested');
        assert.deepEqual(again.broker.listProposals({ status: 'authorized' }), []);
        assert.equal(again.broker.listProposals({ status: 'executed' }).length, 3);
        assert.equal(again.ledger.verify().ok, true);
      } finally {
        again.store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a rebuild that would break a foreign key is refused and leaves version 1', () => {
    const { dir } = copyHome('broker-home-v1');
    try {
      // A dangling decision reference, written with enforcement off (as a damaged file might hold).
      const v1 = openStore({ path: join(dir, 'writ.db'), migrations: V1 });
      v1.db.pragma('foreign_keys = OFF');
      v1.db.prepare("UPDATE decisions SET proposal_id = 'prp_gone'").run();
      v1.close();
      assert.throws(
        () => openStore({ path: join(dir, 'writ.db'), migrations: ALL_MIGRATIONS }),
        (e: unknown) => isWritError(e, 'STORE_MIGRATION_FAILED') && /foreign key/.test(e.message),
      );
      const store = openStore({ path: join(dir, 'writ.db'), migrations: V1 });
      assert.deepEqual(store.appliedMigrations().filter((m) => m.area === 'broker').map((m) => m.version), [1]);
      assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('broker schema migration 2 → 3 (resources keyed by tenant)', () => {
  test('keeps every resource and lock, gives each lock its tenant, and lets tenants share ids', () => {
    // The version-2 home: payouts po-1 (send in flight: locked) and po-2 (send authorized, warrant unused).
    const { dir, scenario } = copyHome('broker-home-v2');
    try {
      const v2 = openStore({ path: join(dir, 'writ.db'), migrations: V2 });
      const columns = 'tenant, type, id, state, version, attributes_json, created_at, updated_at';
      const resources = v2.db.prepare(`SELECT ${columns} FROM resources ORDER BY id`).all();
      const locks = v2.db.prepare('SELECT resource_type, resource_id, transition_id, created_at FROM resource_locks').all() as Array<Record<string, string>>;
      v2.close();
      assert.equal(resources.length, 2);
      assert.equal(locks.length, 1);

      const h = createHarness({ dir, catalog: opsCatalog, policies: opsPolicies });
      try {
        assert.deepEqual(h.store.appliedMigrations().filter((m) => m.area === 'broker').map((m) => m.version), [1, 2, 3]);
        assert.deepEqual(h.store.db.prepare(`SELECT ${columns} FROM resources ORDER BY id`).all(), resources);
        assert.deepEqual(h.store.db.prepare('SELECT * FROM resource_locks').all(), locks.map((l) => ({ tenant: 'acme', ...l })));
        assert.deepEqual(h.store.db.pragma('foreign_key_check'), []);

        // The lock still holds, and is released by the executor's report.
        const olga = h.broker.getPrincipal('olga')!;
        const blocked = h.broker.propose(olga, { action: 'payout.send', targetId: 'po-1', params: {} });
        assert.equal(h.broker.decide(blocked.id).facts.transition.legal, false);
        assert.equal(h.broker.reportTransition(scenario.inFlightToken!, { outcome: 'succeeded' }).resource?.state, 'sent');
        assert.equal(h.broker.execute(scenario.notStartedToken!).transition.status, 'started');
        // Another tenant now has ids of its own, even those acme holds (po-1) or has locked (po-2).
        const gus = h.broker.upsertPrincipal({ id: 'gus', kind: 'user', tenant: 'globex', roles: ['ops'] });
        for (const id of ['po-1', 'po-2']) {
          const theirs = h.broker.propose(gus, { action: 'payout.create', targetId: id, params: { amountCents: 900 } });
          assert.equal(h.broker.decide(theirs.id).outcome, 'allow', id);
          h.broker.execute(h.broker.issueWarrant(gus, theirs.id).token);
          assert.deepEqual(h.broker.getResource('globex', 'Payout', id)?.attributes, { amountCents: 900 });
        }
        assert.equal(h.broker.getResource('acme', 'Payout', 'po-1')?.state, 'sent');
        assert.equal(h.ledger.verify().ok, true);
      } finally {
        h.store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
