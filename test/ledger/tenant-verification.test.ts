// Verify as a tenant's auditor sees it: the verdict of the one chain, figures of the
// tenant's own entries only, and the first problem in detail only when it is the tenant's.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isWritError } from '../../src/core/index.js';
import { LedgerErrors, type LedgerEntry } from '../../src/ledger/index.js';
import { makeFixture, sampleEntry, tamper, type Fixture } from './fixtures.js';

const fixtures: Fixture[] = [];
after(() => fixtures.forEach((f) => f.cleanup()));

const PARALLEL = { threads: 2, minEntriesForThreads: 0, entriesPerRange: 5 };

/** 30 entries: every third globex's, one without a tenant, the rest acme's. */
function mixedChain(): { f: Fixture; entries: LedgerEntry[] } {
  const f = makeFixture({ checkpointEvery: 8 });
  fixtures.push(f);
  const entries = f.ledger.appendMany(
    Array.from({ length: 30 }, (_, i) => ({ ...sampleEntry(i + 1), tenant: i === 20 ? null : (i + 1) % 3 === 0 ? 'globex' : 'acme' })),
  );
  return { f, entries };
}

const own = (entries: readonly LedgerEntry[], tenant: string, below = Infinity) => entries.filter((e) => e.tenant === tenant && e.seq < below);

describe('ledger verify for one tenant', () => {
  test("an intact chain: the tenant's own count and newest entry, nothing of the others", async () => {
    const { f, entries } = mixedChain();
    for (const tenant of ['acme', 'globex']) {
      const mine = own(entries, tenant);
      const newest = mine.at(-1) as LedgerEntry;
      const result = await f.ledger.verifyForTenant(tenant, { threads: 1 });
      assert.deepEqual(result, { ok: true, tenant, checked: mine.length, lastChecked: { seq: newest.seq, hash: newest.hash, at: newest.at } });
      assert.deepEqual(await f.ledger.verifyForTenant(tenant, PARALLEL), result, 'counted the same on worker threads');
    }
    assert.deepEqual(await f.ledger.verifyForTenant('initech'), { ok: true, tenant: 'initech', checked: 0, lastChecked: null });
    await assert.rejects(f.ledger.verifyForTenant(''), (err) => isWritError(err, LedgerErrors.LEDGER_INVALID_QUERY));
  });

  test("an edited entry is named to its own tenant's auditor, and only said to be outside to another's", async () => {
    const { f, entries } = mixedChain();
    const edited = 14; // acme's
    tamper(f.store.db, (db) => db.prepare(`UPDATE ledger_entries SET body = '{"n":14}' WHERE seq = ${edited}`).run());
    const whole = f.ledger.verify();
    assert.equal(whole.firstBad?.seq, edited);

    const acme = await f.ledger.verifyForTenant('acme', PARALLEL);
    assert.deepEqual(acme, {
      ok: false,
      tenant: 'acme',
      checked: own(entries, 'acme', edited).length,
      lastChecked: { seq: 13, hash: entries[12]?.hash, at: entries[12]?.at },
      firstBad: whole.firstBad,
    });
    const globex = await f.ledger.verifyForTenant('globex', PARALLEL);
    assert.equal(globex.ok, false);
    assert.equal(globex.checked, own(entries, 'globex', edited).length);
    assert.deepEqual(globex.firstBad, {
      problem: 'hash_mismatch',
      message: 'an entry outside your tenant failed verification: an operator with the database can name it with `writ audit verify`',
    });
    assert.doesNotMatch(JSON.stringify(globex), new RegExp(`\\b${edited}\\b`));
    assert.deepEqual(await f.ledger.verifyForTenant('globex', { threads: 1 }), globex);
  });

  test('a problem of the chain as a whole (a cut-off tail) names no seq to anyone', async () => {
    const { f, entries } = mixedChain();
    f.ledger.checkpoint(); // pins the head, 30
    tamper(f.store.db, (db) => {
      db.prepare('DELETE FROM ledger_entries WHERE seq >= 27').run();
      db.prepare('DELETE FROM ledger_refs WHERE seq >= 27').run();
    });
    assert.equal(f.ledger.verify().firstBad?.problem, 'truncated');
    for (const tenant of ['acme', 'globex']) {
      const result = await f.ledger.verifyForTenant(tenant);
      assert.equal(result.checked, own(entries, tenant, 27).length);
      assert.deepEqual(result.firstBad, {
        problem: 'truncated',
        message: 'the ledger failed verification outside the entries of your tenant: an operator with the database can name the problem with `writ audit verify`',
      });
    }
  });
});
