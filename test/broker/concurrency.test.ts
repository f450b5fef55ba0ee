// Two processes executing the same warrant on the same SQLite file at once: exactly one
// succeeds, the other fails cleanly, and the target moved exactly once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createHarness, refundParams, type Harness } from './helpers.js';

const CHILD = fileURLToPath(new URL('./fixtures/execute-child.ts', import.meta.url));

interface Child {
  ready: Promise<void>;
  result: Promise<{ ok: boolean; code?: string }>;
  go(startAt: number): void;
}

function startChild(args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout.on('data', (d) => {
    out += d;
    if (out.includes('ready\n')) markReady();
  });
  child.stderr.on('data', (d) => (err += d));
  const result = new Promise<{ ok: boolean; code?: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Error(`child exited ${code}: ${err || out}`));
      }
    });
  });
  return { ready, result, go: (startAt) => child.stdin.end(`${startAt}\n`) };
}

describe('concurrency', () => {
  let h: Harness;
  before(() => {
    h = createHarness();
  });
  after(() => h.close());

  test('two processes executing the same warrant at once: exactly one succeeds', async () => {
    const p = h.broker.propose(h.p['sam']!, { action: 'refund.request', targetId: 'rf-race', params: refundParams(1000) });
    assert.equal(h.broker.decide(p.id).outcome, 'allow');
    const { token } = h.broker.issueWarrant(h.p['sam']!, p.id);
    const clock = String(h.clock.now().getTime());
    const children = [startChild([h.dir, token, clock]), startChild([h.dir, token, clock])];
    // Both children have loaded tsx, Cedar and the policies before either starts.
    await Promise.all(children.map((c) => c.ready));
    const startAt = Date.now() + 100;
    for (const c of children) c.go(startAt);
    const results = await Promise.all(children.map((c) => c.result));
    const ok = results.filter((r) => r.ok);
    assert.equal(ok.length, 1, JSON.stringify(results));
    assert.equal(results.find((r) => !r.ok)?.code, 'BROKER_WARRANT_CONSUMED');
    assert.equal(h.broker.getResource('acme', 'Refund', 'rf-race')?.version, 1);
    assert.equal(h.broker.getProposal(p.id)?.status, 'executed');
    const n = h.store.db.prepare("SELECT count(*) AS n FROM transitions WHERE proposal_id = ?").get(p.id) as { n: number };
    assert.equal(n.n, 1);
  });
});
