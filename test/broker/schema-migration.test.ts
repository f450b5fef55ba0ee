// Broker schema version 2 rebuilds four tables (new indexes, WITHOUT ROWID): a home
// written by version 1 must come through with every row, every link and its constraints.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWritError } from '../../src/core/index.js';
import { ledgerMigrations } from '../../src/ledger/index.js';
import { brokerMigrations } from '../../src/broker/index.js';
import { openStore } from '../../src/store/index.js';
import { ALL_MIGRATIONS, createHarness, evidenceMigrations, refundParams } from './helpers.js';

const TABLES = ['proposals', 'resources', 'warrants', 'transitions', 'decisions', 'approvals', 'resource_locks'];

describe('broker schema migration 1 → 2', () => {
  test('keeps every row, link and constraint, and leaves the lean indexes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-migrate-'));
    try {
      const v1 = [...ledgerMigrations, brokerMigrations[0]!, ...evidenceMigrations];
      const h = createHarness({ dir, migrations: v1 });
      const { broker, p } = h;
      // Executed, pending approval, authorized with a warrant, and an external transition in flight.
      const small = broker.propose(p['sam']!, { action: 'refund.request', targetId: 'rf-m1', params: refundParams(2000), idempotencyKey: 'k-1' });
      broker.decide(small.id);
      broker.execute(broker.issueWarrant(p['sam']!, small.id).token);
      const large = broker.propose(p['sam']!, { action: 'refund.request', targetId: 'rf-m2', params: refundParams(50_000) });
      assert.equal(broker.decide(large.id).outcome, 'needs_approval');
      broker.approve(p['fatima']!, large.id); // re-decides: authorized
      const third = broker.propose(p['sam']!, { action: 'refund.request', targetId: 'rf-m3', params: refundParams(3000) });
      broker.decide(third.id);
      const unused = broker.issueWarrant(p['sam']!, third.id);
      const dump = () =>
        Object.fromEntries(TABLES.map((t) => [t, h.store.db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all()]));
      const before = dump();
      assert.ok((before.proposals as unknown[]).length === 3 && (before.warrants as unknown[]).length === 2);
      h.store.close();

      const store = openStore({ path: join(dir, 'writ.db'), migrations: ALL_MIGRATIONS });
      try {
        assert.deepEqual(store.appliedMigrations().filter((m) => m.area === 'broker').map((m) => m.version), [1, 2]);
        const after = Object.fromEntries(TABLES.map((t) => [t, store.db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all()]));
        assert.deepEqual(after, before);
        assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
        assert.deepEqual(store.db.pragma('foreign_key_check'), []);
        // Constraints survive the rebuild: the idempotency key per actor, one transition per warrant, and foreign keys.
        assert.throws(() => store.db.prepare("UPDATE proposals SET idempotency_key = 'k-1' WHERE id = ?").run(large.id), /UNIQUE/);
        assert.throws(() => store.db.prepare("UPDATE warrants SET proposal_id = 'prp_missing' WHERE id = ?").run(unused.warrantId), /FOREIGN KEY/);
        const indexes = (store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'").pluck().all() as string[]).sort();
        for (const gone of ['proposals_status', 'proposals_target', 'resources_tenant']) assert.ok(!indexes.includes(gone), gone);
        for (const made of ['proposals_idempotency', 'proposals_open', 'proposals_session', 'warrants_proposal', 'transitions_resource']) assert.ok(indexes.includes(made), made);
        for (const t of ['resources', 'warrants', 'transitions']) {
          assert.match(store.db.prepare("SELECT sql FROM sqlite_master WHERE name = ?").pluck().get(t) as string, /WITHOUT ROWID/, t);
        }
      } finally {
        store.close();
      }

      // The migrated home works on: open proposals are listed by status, the unused
      // warrant executes, and the approved proposal gets its warrant.
      const again = createHarness({ dir });
      try {
        assert.deepEqual(again.broker.listProposals({ status: 'authorized' }).map((x) => x.id).sort(), [large.id, third.id].sort());
        assert.equal(again.broker.execute(unused.token).resource?.state, 'requested');
        assert.equal(again.broker.execute(again.broker.issueWarrant(again.p['sam']!, large.id).token).resource?.state, 'requested');
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
    const dir = mkdtempSync(join(tmpdir(), 'writ-migrate-'));
    try {
      const v1 = [...ledgerMigrations, brokerMigrations[0]!, ...evidenceMigrations];
      const h = createHarness({ dir, migrations: v1 });
      const proposal = h.broker.propose(h.p['sam']!, { action: 'refund.request', targetId: 'rf-bad', params: refundParams(2000) });
      h.broker.decide(proposal.id);
      // A dangling decision reference, written with enforcement off (as a damaged file might hold).
      h.store.db.pragma('foreign_keys = OFF');
      h.store.db.prepare("UPDATE decisions SET proposal_id = 'prp_gone'").run();
      h.store.close();
      assert.throws(
        () => openStore({ path: join(dir, 'writ.db'), migrations: ALL_MIGRATIONS }),
        (e: unknown) => isWritError(e, 'STORE_MIGRATION_FAILED') && /foreign key/.test(e.message),
      );
      const store = openStore({ path: join(dir, 'writ.db'), migrations: v1 });
      assert.deepEqual(store.appliedMigrations().filter((m) => m.area === 'broker').map((m) => m.version), [1]);
      assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
