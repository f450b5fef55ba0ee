// A server killed with SIGKILL in the middle of load (retrievals, proposals, warrants and
// transitions in flight, commit groups open, the background checkpointer running): every
// write it acknowledged is on disk with its ledger entries, nothing it did not finish is
// half there, the ledger verifies (chain, checkpoints, anchor file), and a new server starts
// on the same home and goes on. The real `writ serve` (loopback, real Chroma child, SQLite
// file), driven over HTTP; the home is then read the way an auditor would (`writ audit
// verify` on the local home, and the SQLite file itself).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { descendantsOf, exitOf, runChild, startServe, waitGone, type ServeProcess } from './processes.js';

/** Rate limits up: the load below is one principal sending as fast as it can. */
const UNLIMITED = {
  WRIT_SESSION_MAX_RETRIEVALS: '1000000',
  WRIT_SESSION_MAX_PROPOSALS: '1000000',
  WRIT_SESSION_MAX_CONTEXT_CHARS: '1000000000',
  WRIT_RATE_PER_SECOND: '100000',
  WRIT_RATE_BURST: '100000',
  WRIT_RETRIEVAL_RATE_PER_SECOND: '100000',
  WRIT_RETRIEVAL_RATE_BURST: '100000',
};

/** What the killed server said was done, by kind. */
interface Acknowledged {
  proposals: Array<{ id: string; idempotencyKey: string; targetId: string; decisionId: string; status: string }>;
  bundles: string[];
  transitions: Array<{ id: string; warrantId: string; proposalId: string; targetId: string; toVersion: number }>;
}

describe('a server killed mid-load (SIGKILL)', () => {
  const home = mkdtempSync(join(tmpdir(), 'writ-crash-'));
  let second: ServeProcess | undefined;
  after(async () => {
    if (second !== undefined && second.child.exitCode === null && second.child.signalCode === null) second.child.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  test('keeps every acknowledged write with its ledger entries, verifies, and starts again on the same home', async () => {
    const first = await startServe(home, UNLIMITED);
    const keys = JSON.parse(readFileSync(join(home, 'first-start-keys.json'), 'utf8')) as Record<string, string>;
    const call = async (url: string, method: string, path: string, key: string, body?: unknown) => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, json: (await res.json()) as Record<string, any> };
    };
    const agent = keys['desk-agent'] as string;
    const session = await call(first.url, 'POST', '/v1/sessions', agent, { ttlMs: 3_600_000, budgets: { proposals: 1_000_000, retrievals: 1_000_000, contextChars: 1_000_000_000 } });
    assert.equal(session.status, 201, JSON.stringify(session.json));
    const sessionId = session.json.id as string;

    const acked: Acknowledged = { proposals: [], bundles: [], transitions: [] };
    let stop = false;
    let counter = 0;
    const proposeBody = (n: number) => ({
      sessionId,
      action: 'refund.request',
      targetId: `rf-crash-${n}`,
      params: { amountCents: 1000 + (n % 5000), currency: 'EUR', orderId: 'ord-1001', recipientAccount: 'DE44500105175407324931' },
      basis: [],
      idempotencyKey: `crash-${n}`,
    });
    // The kill lands the instant a proposal's answer arrives, so a write answered before
    // its commit (say, a commit deferred past the response) would be caught in the act.
    let killArmed = false;
    let killedAfter: string | undefined;
    const killNow = (proposalId: string) => {
      if (stop) return;
      stop = true;
      killedAfter = proposalId;
      first.child.kill('SIGKILL');
    };
    // Each loop ends at its first failed call: after the kill, fetch fails.
    const proposer = async (executes: boolean) => {
      while (!stop) {
        const n = ++counter;
        const r = await call(first.url, 'POST', '/v1/proposals', agent, proposeBody(n));
        assert.equal(r.status, 201, JSON.stringify(r.json));
        const { proposal, decision } = r.json;
        acked.proposals.push({ id: proposal.id, idempotencyKey: `crash-${n}`, targetId: `rf-crash-${n}`, decisionId: decision.id, status: proposal.status });
        if (killArmed) killNow(proposal.id as string);
        if (!executes || stop) continue;
        const w = await call(first.url, 'POST', `/v1/proposals/${proposal.id as string}/warrant`, agent);
        assert.equal(w.status, 201, JSON.stringify(w.json));
        const t = await call(first.url, 'POST', '/v1/transitions', agent, { warrant: w.json.token });
        assert.equal(t.status, 200, JSON.stringify(t.json));
        assert.equal(t.json.proposal.status, 'executed');
        acked.transitions.push({ id: t.json.transition.id, warrantId: w.json.warrantId, proposalId: proposal.id, targetId: `rf-crash-${n}`, toVersion: t.json.transition.toVersion });
      }
    };
    const retriever = async () => {
      while (!stop) {
        const r = await call(first.url, 'POST', '/v1/retrieve', agent, { query: 'refund for a cracked teapot', k: 3, sessionId });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        acked.bundles.push(r.json.bundleId as string);
      }
    };
    const loops = [...Array.from({ length: 6 }, (_, i) => proposer(i % 2 === 0)), ...Array.from({ length: 3 }, () => retriever())].map((p) =>
      p.catch((err: unknown) => {
        // Only the kill may end a loop; a refused call before it fails the test.
        if (!stop) throw err;
      }),
    );
    // Load until enough is acknowledged that the kill lands among busy commit groups, past the
    // first signed checkpoint (every 1000 entries) and so past the first anchor file write.
    const anchorFile = join(home, 'ledger-anchor.json');
    const anchorSeq = (): number => {
      try {
        return (JSON.parse(readFileSync(anchorFile, 'utf8')) as { seq: number }).seq;
      } catch {
        return 0;
      }
    };
    const deadline = Date.now() + 60_000;
    while ((acked.proposals.length < 450 || acked.transitions.length < 50 || acked.bundles.length < 100 || anchorSeq() < 1000) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    // The running server anchors its checkpoints as it goes, not only at shutdown.
    assert.ok(anchorSeq() >= 1000, `the anchor file names checkpoint ${anchorSeq()} while the server runs`);
    const children = descendantsOf(first.child.pid as number);
    killArmed = true;
    const armedAt = Date.now();
    while (!stop && Date.now() - armedAt < 10_000) await new Promise((r) => setImmediate(r));
    assert.ok(killedAfter !== undefined, 'no proposal was answered within 10 s of arming the kill');
    await Promise.all(loops);
    await exitOf(first.child);
    assert.equal(first.child.signalCode, 'SIGKILL');
    assert.deepEqual(await waitGone(children, 15_000), [], 'the killed server left processes behind');
    assert.ok(acked.proposals.length >= 450 && acked.transitions.length >= 50 && acked.bundles.length >= 100, JSON.stringify({ p: acked.proposals.length, t: acked.transitions.length, b: acked.bundles.length }));

    // The ledger verifies on the local home, as an auditor would check it.
    const verify = await runChild(['bin/writ.mjs', 'audit', 'verify', '--json'], { ...process.env, WRIT_HOME: home, WRIT_SERVER: '', WRIT_KEY: '' });
    assert.equal(verify.code, 0, `${verify.stdout}\n${verify.stderr}`);
    const verification = JSON.parse(verify.stdout) as { ok: boolean; checked: number; checkpoints: number; head: { seq: number } };
    assert.equal(verification.ok, true, verify.stdout);
    assert.ok(verification.checkpoints >= 2, `the signed checkpoint and the anchor were not both checked: ${verify.stdout}`);
    assert.ok(anchorSeq() <= verification.head.seq, `the anchor (${anchorSeq()}) names no entry past the head (${verification.head.seq})`);

    // Every acknowledged write is there, with the ledger entries that record it.
    const db = new Database(join(home, 'writ.db'), { readonly: true });
    try {
      assert.equal(verification.checked, (db.prepare('SELECT count(*) FROM ledger_entries').pluck().get() as number));
      const entryAbout = db.prepare('SELECT kind FROM ledger_entries WHERE subject_id = ? ORDER BY seq').pluck();
      const proposalRow = db.prepare('SELECT status, decision_id FROM proposals WHERE id = ?');
      for (const p of acked.proposals) {
        const row = proposalRow.get(p.id) as { status: string; decision_id: string } | undefined;
        assert.ok(row !== undefined, `acknowledged proposal ${p.id} is missing${p.id === killedAfter ? ' (its answer arrived just before the kill)' : ''}`);
        assert.deepEqual(entryAbout.all(p.id), ['proposal.created'], `ledger entries of ${p.id}`);
        assert.deepEqual(entryAbout.all(p.decisionId), ['decision.made'], `ledger entries of decision ${p.decisionId}`);
        assert.ok(row.decision_id === p.decisionId, `${p.id} names decision ${row.decision_id}, acknowledged ${p.decisionId}`);
      }
      const transitionRow = db.prepare('SELECT proposal_id, warrant_id, to_version FROM transitions WHERE id = ?');
      const warrantStatus = db.prepare('SELECT status FROM warrants WHERE id = ?').pluck();
      const resource = db.prepare("SELECT state, version FROM resources WHERE type = 'Refund' AND id = ?");
      for (const t of acked.transitions) {
        assert.deepEqual(transitionRow.get(t.id), { proposal_id: t.proposalId, warrant_id: t.warrantId, to_version: t.toVersion }, `transition ${t.id}`);
        assert.equal(warrantStatus.get(t.warrantId), 'consumed', `warrant ${t.warrantId}`);
        assert.deepEqual(entryAbout.all(t.warrantId), ['warrant.issued']);
        assert.deepEqual(entryAbout.all(t.id), ['transition.executed']);
        assert.deepEqual(resource.get(t.targetId), { state: 'requested', version: t.toVersion }, `resource ${t.targetId}`);
        assert.equal((proposalRow.get(t.proposalId) as { status: string }).status, 'executed');
      }
      const bundleRow = db.prepare('SELECT count(*) FROM bundles WHERE id = ?').pluck();
      for (const b of acked.bundles) {
        assert.equal(bundleRow.get(b), 1, `acknowledged bundle ${b} is missing`);
        assert.deepEqual(entryAbout.all(b), ['bundle.sealed']);
      }
      // Nothing is half there: every transition has its consumed warrant and both ledger
      // entries; every decision its proposal; every bundle its entry (acknowledged or not).
      const orphans = db
        .prepare(
          `SELECT 'transition ' || t.id FROM transitions t LEFT JOIN warrants w ON w.id = t.warrant_id WHERE w.status IS NOT 'consumed'
           UNION ALL SELECT 'decision ' || d.id FROM decisions d WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.subject_id = d.id)
           UNION ALL SELECT 'proposal ' || p.id FROM proposals p WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.subject_id = p.id)
           UNION ALL SELECT 'bundle ' || b.id FROM bundles b WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.subject_id = b.id)
           UNION ALL SELECT 'transition ' || t.id FROM transitions t WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.subject_id = t.id)`,
        )
        .pluck()
        .all();
      assert.deepEqual(orphans, []);
      // The session's counters match what it holds: charged exactly when recorded.
      const used = db.prepare('SELECT used_proposals, used_retrievals FROM sessions WHERE id = ?').get(sessionId) as { used_proposals: number; used_retrievals: number };
      assert.equal(used.used_proposals, db.prepare('SELECT count(*) FROM proposals WHERE session_id = ?').pluck().get(sessionId));
      assert.equal(used.used_retrievals, db.prepare('SELECT count(*) FROM bundles WHERE session_id = ?').pluck().get(sessionId));
    } finally {
      db.close();
    }

    // A new server starts on the same home and goes on where the first stopped.
    second = await startServe(home, UNLIMITED);
    const retried = acked.proposals[acked.proposals.length - 1] as Acknowledged['proposals'][number];
    const again = await call(second.url, 'POST', '/v1/proposals', agent, proposeBody(Number(retried.idempotencyKey.slice('crash-'.length))));
    assert.equal(again.status, 200, JSON.stringify(again.json));
    assert.equal(again.json.proposal.id, retried.id, 'an idempotent retry after the crash answers the proposal acknowledged before it');
    const next = await call(second.url, 'POST', '/v1/proposals', agent, proposeBody(1_000_000));
    assert.equal(next.status, 201, JSON.stringify(next.json));
    assert.equal(next.json.decision.outcome, 'allow');
    const remoteVerify = await call(second.url, 'GET', '/v1/audit/verify', keys['fatima'] as string);
    assert.equal(remoteVerify.status, 200, JSON.stringify(remoteVerify.json));
    assert.equal(remoteVerify.json.ok, true, JSON.stringify(remoteVerify.json));
    // The server tells the auditor of acme its own newest entry, the one just appended.
    assert.ok((remoteVerify.json.lastChecked.seq as number) > verification.head.seq);
    second.child.kill('SIGTERM');
    await exitOf(second.child);
  });
});
