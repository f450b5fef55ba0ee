// Appending to the ledger: chaining, validation, transactions, concurrency, queries.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { canonicalJson, isWritError, openKeyring } from '../../src/core/index.js';
import {
  createLedger,
  entryHash,
  entryHashInput,
  entryHashObject,
  GENESIS_HASH,
  ledgerMigrations,
  LedgerErrors,
  referenceEntryHash,
} from '../../src/ledger/index.js';
import { openStore } from '../../src/store/index.js';
import { makeFixture, sampleEntry, tamper, type Fixture } from './fixtures.js';

const fixtures: Fixture[] = [];
const fixture = (...args: Parameters<typeof makeFixture>): Fixture => {
  const f = makeFixture(...args);
  fixtures.push(f);
  return f;
};
after(() => fixtures.forEach((f) => f.cleanup()));

describe('ledger append', () => {
  test('chains each entry to the hash of the one before, starting from the genesis hash', () => {
    const { ledger } = fixture();
    const a = ledger.append(sampleEntry(1));
    const b = ledger.append(sampleEntry(2));
    const c = ledger.append({ kind: 'decision.made', subjectId: 'dec_1', refs: ['prp_1'], body: { outcome: 'allow' } });
    assert.deepEqual([a.seq, b.seq, c.seq], [1, 2, 3]);
    assert.equal(a.prevHash, GENESIS_HASH);
    assert.equal(b.prevHash, a.hash);
    assert.equal(c.prevHash, b.hash);
    assert.match(a.hash, /^sha256:[0-9a-f]{64}$/);
    assert.equal(c.tenant, null);
    assert.deepEqual(ledger.head(), { seq: 3, hash: c.hash, at: c.at });
    assert.deepEqual(ledger.entry(2), b);
  });

  test('hashes the RFC 8785 form of the documented fields, as an auditor would', () => {
    const { ledger } = fixture();
    const e = ledger.append({ kind: 'document.ingested', subjectId: 'doc_1', tenant: 't', refs: ['z', 'a'], body: { b: 1.5, a: ['é', null] } });
    assert.equal(e.hash, referenceEntryHash(e));
    assert.equal(e.hash, `sha256:${sha256(canonicalJson({ ...entryHashObject(e) }))}`);
  });

  test('the fast hash input equals canonical JSON of the hashed object for any entry', () => {
    const id = fc.string({ minLength: 1, maxLength: 20 });
    fc.assert(
      fc.property(
        fc.record({
          seq: fc.integer({ min: 1, max: 2 ** 40 }),
          kind: fc.constantFrom('a.b', 'bundle.sealed', 'decision_x.made_y'),
          subjectId: id,
          tenant: fc.option(id, { nil: null }),
          actorId: fc.option(id, { nil: null }),
          requestId: fc.option(id, { nil: null }),
          refs: fc.uniqueArray(id, { maxLength: 4 }),
          body: fc.jsonValue({ maxDepth: 3 }).filter((v) => !Object.is(v, -0)),
          prevHash: fc.string(),
        }),
        (e) => {
          const entry = { ...e, at: '2026-11-26T09:00:00.000Z', body: e.body as never };
          const fast = entryHashInput({ ...entry, refsText: canonicalJson(e.refs), bodyText: canonicalJson(e.body) });
          assert.equal(fast, canonicalJson(entryHashObject(entry)));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('the entry hash is the SHA-256 of that input, for any entry and any size of body', () => {
    const id = fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' });
    // Bodies past the hash's 16 KiB scratch buffer (it grows) and past its 256 KiB cap (a buffer of their own), of one to four UTF-8 bytes a character.
    const text = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: 'grapheme', minLength: 6000, maxLength: 12000 }), fc.string({ unit: 'grapheme', minLength: 90000, maxLength: 100000 }));
    fc.assert(
      fc.property(
        fc.record({
          seq: fc.integer({ min: 1, max: 2 ** 40 }),
          kind: fc.constantFrom('a.b', 'decision.made'),
          subjectId: id,
          tenant: fc.option(id, { nil: null }),
          actorId: fc.option(id, { nil: null }),
          requestId: fc.option(id, { nil: null }),
          refs: fc.uniqueArray(id, { maxLength: 4 }),
          body: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.record({ note: text })),
          prevHash: fc.string(),
        }),
        (e) => {
          const row = { ...e, at: '2026-11-26T09:00:00.000Z', refsText: canonicalJson(e.refs), bodyText: canonicalJson(e.body) };
          assert.equal(entryHash(row), `sha256:${sha256(entryHashInput(row))}`);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('refuses a malformed entry with every problem listed and appends nothing', () => {
    const { ledger } = fixture();
    assert.throws(
      () =>
        ledger.append({
          kind: 'Decision-Made',
          subjectId: '',
          refs: ['ok', 7 as unknown as string],
          body: { x: Number.NaN },
          seq: 9,
        } as never),
      (err) => {
        assert.ok(isWritError(err, LedgerErrors.LEDGER_INVALID_ENTRY));
        const paths = (err.details.issues as Array<{ path: string }>).map((i) => i.path).sort();
        assert.deepEqual(paths, ['body.x', 'kind', 'refs.1', 'seq', 'subjectId']);
        return true;
      },
    );
    assert.throws(() => ledger.append({ kind: 'a.b', subjectId: 's' } as never), (err) => isWritError(err, LedgerErrors.LEDGER_INVALID_ENTRY));
    assert.equal(ledger.head().seq, 0);
  });

  test('stores refs once each, in the order given', () => {
    const { ledger } = fixture();
    const e = ledger.append({ kind: 'proposal.created', subjectId: 'p', refs: ['b2', 'b1', 'b2'], body: null });
    assert.deepEqual(e.refs, ['b2', 'b1']);
    assert.deepEqual(ledger.entry(1)?.refs, ['b2', 'b1']);
    assert.deepEqual(ledger.entriesReferencing('b2').map((x) => x.seq), [1]);
    // Many refs (deduplicated through a set rather than by scanning): the same rule.
    const many = Array.from({ length: 40 }, (_, i) => `r${i % 25}`);
    const f = ledger.append({ kind: 'proposal.created', subjectId: 'q', refs: many, body: null });
    assert.deepEqual(f.refs, Array.from({ length: 25 }, (_, i) => `r${i}`));
    assert.deepEqual(ledger.entry(2)?.refs, f.refs);
  });

  test('never lets `at` go backward along the chain', () => {
    let t = Date.parse('2026-11-26T10:00:00.000Z');
    const f = fixture({ clock: { now: () => new Date((t -= 1000)) } });
    const a = f.ledger.append(sampleEntry(1));
    const b = f.ledger.append(sampleEntry(2));
    assert.ok(b.at >= a.at);
  });

  test('triggers refuse UPDATE and DELETE on every ledger table', () => {
    const { ledger, store } = fixture();
    ledger.append(sampleEntry(1));
    ledger.checkpoint();
    const attempts = [
      "UPDATE ledger_entries SET body = '{}' WHERE seq = 1",
      'DELETE FROM ledger_entries WHERE seq = 1',
      "UPDATE ledger_refs SET ref = 'x'",
      'DELETE FROM ledger_refs',
      "UPDATE ledger_checkpoints SET head_hash = 'x'",
      'DELETE FROM ledger_checkpoints',
    ];
    for (const sql of attempts) assert.throws(() => store.db.exec(sql), /ledger is append-only/, sql);
    assert.equal(ledger.verify().ok, true);
  });

  test('refuses to open over a ledger whose append-only triggers were dropped', () => {
    const f = fixture();
    f.store.db.exec('DROP TRIGGER ledger_entries_no_delete');
    assert.throws(() => createLedger({ store: f.store, keyring: f.keyring }), (err) => isWritError(err, LedgerErrors.LEDGER_APPEND_ONLY));
  });

  test('checks its options when created', () => {
    const f = fixture();
    const warrantKeys = openKeyring({ dir: `${f.dir}/keys/warrant`, purpose: 'warrant' });
    assert.throws(() => createLedger({ store: f.store, keyring: warrantKeys }), (err) => isWritError(err, LedgerErrors.LEDGER_OPTIONS_INVALID));
    assert.throws(() => createLedger({ store: f.store, keyring: f.keyring, checkpointEvery: -1 }), (err) => isWritError(err, LedgerErrors.LEDGER_OPTIONS_INVALID));
    const bare = openStore({ path: ':memory:' });
    assert.throws(() => createLedger({ store: bare, keyring: f.keyring }), (err) => isWritError(err, LedgerErrors.LEDGER_SCHEMA_MISSING));
    bare.close();
  });

  test('an entry appended in an outer transaction that rolls back leaves no trace, and the next append chains correctly', () => {
    const { ledger, store } = fixture();
    const first = ledger.append(sampleEntry(1));
    assert.throws(() =>
      store.transaction((db) => {
        db.exec('CREATE TABLE IF NOT EXISTS t_state (v INTEGER)');
        db.exec('INSERT INTO t_state VALUES (1)');
        const inner = ledger.append(sampleEntry(2));
        assert.equal(inner.seq, 2);
        throw new Error('transition failed');
      }),
    /transition failed/);
    assert.equal(ledger.head().seq, 1);
    assert.equal(ledger.entriesReferencing('bnd_2').length, 0);
    const next = ledger.append(sampleEntry(3));
    assert.equal(next.seq, 2);
    assert.equal(next.prevHash, first.hash);
    assert.deepEqual(ledger.verify(), { ok: true, checked: 2, checkpoints: 0, head: ledger.head() });
  });

  test('an entry appended in an outer transaction commits with it', () => {
    const { ledger, store } = fixture();
    store.transaction(() => {
      ledger.append(sampleEntry(1));
      ledger.append(sampleEntry(2));
    });
    assert.equal(ledger.head().seq, 2);
    assert.equal(ledger.verify().ok, true);
  });

  test('two connections on one file appending interleaved keep one valid chain', () => {
    const f = fixture();
    const other = f.reopen();
    for (let i = 0; i < 50; i++) {
      const mine = f.ledger.append(sampleEntry(i));
      const theirs = other.ledger.append(sampleEntry(1000 + i));
      assert.equal(theirs.seq, mine.seq + 1);
      assert.equal(theirs.prevHash, mine.hash);
    }
    other.ledger.appendMany([sampleEntry(5000), sampleEntry(5001)]);
    f.ledger.append(sampleEntry(6000));
    assert.equal(f.ledger.head().seq, 103);
    assert.equal(f.ledger.verify().ok, true);
    assert.equal(other.ledger.verify().ok, true);
  });

  test('appendMany chains a batch in one transaction and refuses the whole batch on one bad entry', () => {
    const { ledger } = fixture();
    const batch = ledger.appendMany([sampleEntry(1), sampleEntry(2), sampleEntry(3)]);
    assert.deepEqual(batch.map((e) => e.seq), [1, 2, 3]);
    assert.equal(batch[2]?.prevHash, batch[1]?.hash);
    assert.throws(
      () => ledger.appendMany([sampleEntry(4), { kind: 'bad', subjectId: 'x', body: null }]),
      (err) => isWritError(err, LedgerErrors.LEDGER_INVALID_ENTRY) && (err.details.issues as Array<{ path: string }>)[0]?.path === '1.kind',
    );
    assert.equal(ledger.head().seq, 3);
    assert.deepEqual(ledger.appendMany([]), []);
  });

  test('signs a checkpoint each time the chain crosses a multiple of checkpointEvery', () => {
    const { ledger, keyring } = fixture({ checkpointEvery: 5 });
    for (let i = 1; i <= 12; i++) ledger.append(sampleEntry(i));
    ledger.appendMany([13, 14, 15, 16].map((i) => sampleEntry(i)));
    const cps = ledger.checkpoints();
    assert.deepEqual(cps.map((c) => c.seq), [5, 10, 16]);
    for (const cp of cps) {
      assert.equal(cp.headHash, ledger.entry(cp.seq)?.hash);
      assert.equal(cp.kid, keyring.activeKid);
    }
    const result = ledger.verify();
    assert.equal(result.ok, true);
    assert.equal(result.checkpoints, 3);
  });

  test('checkpoint signs the head once, and close checkpoints then refuses appends', () => {
    const { ledger } = fixture({ checkpointEvery: 0 });
    assert.equal(ledger.checkpoint(), null);
    ledger.append(sampleEntry(1));
    const cp = ledger.checkpoint();
    assert.equal(cp?.seq, 1);
    assert.deepEqual(ledger.checkpoint(), cp);
    ledger.append(sampleEntry(2));
    ledger.close();
    ledger.close();
    assert.equal(ledger.lastCheckpoint()?.seq, 2);
    assert.throws(() => ledger.append(sampleEntry(3)), (err) => isWritError(err, LedgerErrors.LEDGER_CLOSED));
  });

  test('pages entries by seq, kinds and tenant', () => {
    const { ledger } = fixture();
    ledger.append({ kind: 'document.ingested', subjectId: 'd1', tenant: 'a', body: null });
    ledger.append({ kind: 'bundle.sealed', subjectId: 'b1', tenant: 'a', refs: ['d1'], body: null });
    ledger.append({ kind: 'bundle.sealed', subjectId: 'b2', tenant: 'b', refs: ['d1'], body: null });
    ledger.append({ kind: 'policy.changed', subjectId: 'pol', body: null });
    assert.deepEqual(ledger.entries().map((e) => e.seq), [1, 2, 3, 4]);
    assert.deepEqual(ledger.entries({ afterSeq: 1, limit: 2 }).map((e) => e.seq), [2, 3]);
    assert.deepEqual(ledger.entries({ kinds: ['bundle.sealed'] }).map((e) => e.seq), [2, 3]);
    assert.deepEqual(ledger.entries({ tenant: 'a' }).map((e) => e.seq), [1, 2]);
    assert.deepEqual(ledger.entries({ tenant: null }).map((e) => e.seq), [4]);
    assert.deepEqual(ledger.entries({ tenant: 'b', kinds: ['bundle.sealed', 'document.ingested'] }).map((e) => e.subjectId), ['b2']);
    assert.deepEqual(ledger.entriesAbout('b1').map((e) => e.seq), [2]);
    assert.deepEqual(ledger.entriesReferencing('d1').map((e) => e.seq), [2, 3]);
    assert.throws(() => ledger.entries({ limit: 0 }), (err) => isWritError(err, LedgerErrors.LEDGER_INVALID_QUERY));
    assert.throws(() => ledger.entries({ kinds: ['DROP TABLE'] }), (err) => isWritError(err, LedgerErrors.LEDGER_INVALID_QUERY));
    // By the request that caused them.
    ledger.append({ kind: 'note.added', subjectId: 'n1', tenant: 'a', requestId: 'req_1', body: null });
    ledger.append({ kind: 'note.added', subjectId: 'n2', tenant: 'b', requestId: 'req_2', body: null });
    ledger.append({ kind: 'note.added', subjectId: 'n3', tenant: 'a', requestId: 'req_1', body: null });
    assert.deepEqual(ledger.entries({ requestId: 'req_1' }).map((e) => e.seq), [5, 7]);
    assert.deepEqual(ledger.entries({ requestId: 'req_1', afterSeq: 5 }).map((e) => e.seq), [7]);
    assert.deepEqual(ledger.entries({ requestId: 'req_2', tenant: 'a' }), []);
    assert.deepEqual(ledger.entries({ requestId: 'req_2', tenant: 'b', kinds: ['note.added'] }).map((e) => e.subjectId), ['n2']);
    assert.throws(() => ledger.entries({ requestId: '' }), (err) => isWritError(err, LedgerErrors.LEDGER_INVALID_QUERY));
  });

  test('a second process sees the first one’s entries after reopening the file', () => {
    const f = fixture();
    f.ledger.append(sampleEntry(1));
    f.ledger.close();
    const again = f.reopen();
    assert.equal(again.ledger.head().seq, 1);
    assert.equal(again.ledger.verify().ok, true);
    tamper(again.store.db, () => undefined); // dropping and restoring the triggers is harmless
    assert.doesNotThrow(() => createLedger({ store: again.store, keyring: f.keyring }));
    assert.ok(ledgerMigrations.length >= 1);
  });
});

/** SHA-256 straight from node:crypto, independent of the ledger's helpers. */
function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
