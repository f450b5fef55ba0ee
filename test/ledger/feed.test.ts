import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLedgerFeed, type FeedEnd, type LedgerEntry } from '../../src/ledger/index.js';
import { makeFixture } from './fixtures.js';

const fx = makeFixture();
after(() => fx.cleanup());

const note = (n: number, tenant = 'acme') => ({ kind: 'note.added', subjectId: `n-${n}`, tenant, body: { n } });

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function seqs(entries: readonly LedgerEntry[]): number[] {
  return entries.map((e) => e.seq);
}

describe('ledger feed', () => {
  test('delivers appended entries in seq order, after their transaction commits', async () => {
    const feed = createLedgerFeed(fx.ledger, { pollMs: 0 });
    const got: LedgerEntry[] = [];
    feed.subscribe({ send: (e) => got.push(e) });
    const start = fx.ledger.head().seq;
    fx.ledger.append(note(1));
    fx.ledger.appendMany([note(2), note(3)]);
    assert.equal(got.length, 0, 'nothing is delivered inside the appending call');
    await until(() => got.length === 3);
    assert.deepEqual(seqs(got), [start + 1, start + 2, start + 3]);
    feed.close();
  });

  test('never delivers an entry whose transaction rolled back', async () => {
    const feed = createLedgerFeed(fx.ledger, { pollMs: 0 });
    const got: LedgerEntry[] = [];
    feed.subscribe({ send: (e) => got.push(e) });
    assert.throws(() =>
      fx.store.transaction(() => {
        fx.ledger.append(note(10));
        throw new Error('roll back');
      }),
    );
    fx.ledger.append(note(11));
    await until(() => got.length === 1);
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(
      got.map((e) => e.subjectId),
      ['n-11'],
    );
    feed.close();
  });

  test('resumes from a seq with exactly the entries after it, then continues live without duplicates', async () => {
    const from = fx.ledger.head().seq;
    for (let i = 0; i < 7; i++) fx.ledger.append(note(100 + i));
    const feed = createLedgerFeed(fx.ledger, { pollMs: 0, batchSize: 3 });
    const got: LedgerEntry[] = [];
    feed.subscribe({ afterSeq: from, send: (e) => got.push(e) });
    fx.ledger.append(note(107));
    await until(() => got.length === 8);
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(seqs(got), Array.from({ length: 8 }, (_, i) => from + 1 + i));
    feed.close();
  });

  test('applies the filter without losing its place, and narrows catch-up reads by tenant', async () => {
    const from = fx.ledger.head().seq;
    fx.ledger.appendMany([note(200, 'acme'), note(201, 'globex'), note(202, 'acme')]);
    const feed = createLedgerFeed(fx.ledger, { pollMs: 0 });
    const got: LedgerEntry[] = [];
    const sub = feed.subscribe({ afterSeq: from, tenant: 'globex', accept: (e) => e.tenant === 'globex', send: (e) => got.push(e) });
    await until(() => sub.seq === from + 3);
    assert.deepEqual(
      got.map((e) => e.subjectId),
      ['n-201'],
    );
    feed.close();
  });

  test('delivers entries appended by another connection through the poll', async () => {
    const other = fx.reopen();
    const feed = createLedgerFeed(fx.ledger, { pollMs: 20 });
    const got: LedgerEntry[] = [];
    feed.subscribe({ send: (e) => got.push(e) });
    const stored = other.ledger.append(note(300));
    await until(() => got.length === 1);
    assert.equal(got[0]?.seq, stored.seq);
    assert.equal(got[0]?.hash, stored.hash);
    feed.close();
  });

  test('disconnects a subscriber whose sink stays full while it falls too far behind, and says where to resume', async () => {
    const feed = createLedgerFeed(fx.ledger, { pollMs: 0, maxLagEntries: 5 });
    let ready = true;
    const got: LedgerEntry[] = [];
    let ended: FeedEnd | undefined;
    const fast: LedgerEntry[] = [];
    feed.subscribe({ send: (e) => fast.push(e) });
    feed.subscribe({ isReady: () => ready, send: (e) => got.push(e), onEnd: (e) => (ended = e) });
    fx.ledger.append(note(400));
    await until(() => got.length === 1);
    ready = false;
    for (let i = 0; i < 10; i++) fx.ledger.append(note(401 + i));
    await until(() => ended !== undefined);
    assert.equal(ended?.code, 'LEDGER_FEED_LAGGING');
    assert.equal(ended?.resumeAfterSeq, got[0]?.seq);
    await until(() => fast.length === 11);
    assert.equal(fast.length, 11, 'a slow subscriber never holds back the others');
    feed.close();
  });

  test('a paused subscriber that resumes in time gets every entry it missed, in order', async () => {
    const feed = createLedgerFeed(fx.ledger, { pollMs: 0 });
    let ready = true;
    const got: LedgerEntry[] = [];
    const from = fx.ledger.head().seq;
    const sub = feed.subscribe({ isReady: () => ready, send: (e) => got.push(e) });
    ready = false;
    for (let i = 0; i < 4; i++) fx.ledger.append(note(500 + i));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(got.length, 0);
    ready = true;
    sub.resume();
    await until(() => got.length === 4);
    assert.deepEqual(seqs(got), [from + 1, from + 2, from + 3, from + 4]);
    feed.close();
  });

  test('closing the feed ends every subscription with LEDGER_FEED_CLOSED and its resume point', async () => {
    const feed = createLedgerFeed(fx.ledger, { pollMs: 0 });
    let ended: FeedEnd | undefined;
    const sub = feed.subscribe({ send: () => undefined, onEnd: (e) => (ended = e) });
    feed.close();
    assert.equal(ended?.code, 'LEDGER_FEED_CLOSED');
    assert.equal(ended?.resumeAfterSeq, sub.seq);
    assert.throws(() => feed.subscribe({ send: () => undefined }), /closed/);
  });
});

test('a subscriber arriving after a quiet spell gets only what follows, or catches up from the seq it names', async () => {
  const feed = createLedgerFeed(fx.ledger, { pollMs: 0 });
  const before = fx.ledger.head().seq;
  fx.ledger.append(note(600));
  fx.ledger.append(note(601));
  await new Promise((r) => setTimeout(r, 20));
  const fresh: LedgerEntry[] = [];
  const resumed: LedgerEntry[] = [];
  feed.subscribe({ send: (e) => fresh.push(e) });
  feed.subscribe({ afterSeq: before, send: (e) => resumed.push(e) });
  fx.ledger.append(note(602));
  await until(() => fresh.length === 1 && resumed.length === 3);
  assert.deepEqual(
    fresh.map((e) => e.subjectId),
    ['n-602'],
  );
  assert.deepEqual(seqs(resumed), [before + 1, before + 2, before + 3]);
  feed.close();
});
