// `writ audit` in local mode only reads: verify, lineage and tail leave the database and the
// anchor file byte for byte as they were, and a missing home is an error, not a new home.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../../src/cli/main.js';
import { PACKAGE_ROOT } from '../../src/core/index.js';
import { runCli } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'writ-audit-ro-'));
after(() => rmSync(root, { recursive: true, force: true }));
const digest = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

test('verify, lineage and tail change nothing in the home they audit, whatever the workspace says', async () => {
  const workspace = join(root, 'workspace');
  cpSync(join(PACKAGE_ROOT, 'examples', 'support-desk'), workspace, { recursive: true });
  const env = { WRIT_HOME: join(root, 'home'), WRIT_WORKSPACE: workspace, WRIT_LOG_LEVEL: 'silent' };
  const session = await runCli(['session', 'create', '--as', 'desk-agent', '--json'], env);
  assert.equal(session.code, EXIT.OK, session.stderr);
  const proposed = await runCli(
    ['propose', '--as', 'desk-agent', '--session', session.json().id, '--action', 'refund.request', '--target', 'rf-ro-1',
      '--param', 'amountCents=500', '--param', 'orderId=ord-1001', '--param', 'recipientAccount=acct-1', '--json'],
    env,
  );
  assert.equal(proposed.code, EXIT.OK, proposed.stderr);
  const files = ['writ.db', 'ledger-anchor.json'].map((f) => join(root, 'home', f));
  const before = files.map(digest);
  // The workspace now disagrees with the home (as an auditor's copy of it may): a command
  // that syncs principals would write; an audit must not.
  const principals = join(workspace, 'principals.yaml');
  writeFileSync(principals, readFileSync(principals, 'utf8').replace('Riley Chen (support)', 'Riley Chen (support, renamed)'));

  const verify = await runCli(['audit', 'verify', '--json'], env);
  assert.equal(verify.code, EXIT.OK, verify.stderr);
  assert.equal(verify.json().ok, true);
  const lineage = await runCli(['audit', 'lineage', proposed.json().decision.id, '--json'], env);
  assert.equal(lineage.code, EXIT.OK, lineage.stderr);
  assert.ok(lineage.json().entries.some((e: { kind: string }) => e.kind === 'proposal.created'));
  const tail = await runCli(['audit', 'tail', '--limit', '3', '--json'], env);
  assert.equal(tail.code, EXIT.OK, tail.stderr);
  // The home's first decision put its policy set on record just before it.
  assert.deepEqual(tail.json().entries.map((e: { kind: string }) => e.kind), ['proposal.created', 'policy_set.activated', 'decision.made']);

  assert.deepEqual(files.map(digest), before, 'the database and the anchor file are as they were');
});

test('a home that does not exist is CLI_HOME_NOT_FOUND (exit 4), and none is created', async () => {
  const home = join(root, 'nowhere');
  const run = await runCli(['audit', 'verify', '--json'], { WRIT_HOME: home, WRIT_LOG_LEVEL: 'silent' });
  assert.equal(run.code, EXIT.NOT_FOUND, run.stdout + run.stderr);
  assert.equal(JSON.parse(run.stdout || run.stderr).error.code, 'CLI_HOME_NOT_FOUND');
  assert.equal(existsSync(home), false);
});
