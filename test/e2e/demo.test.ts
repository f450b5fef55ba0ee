// `npm run demo` end to end: the real server (`node bin/writ.mjs serve`, loopback, real
// Chroma child, temporary Writ home) with the demo script run against it as a child
// process; plus the MCP server in `--server` mode proxying to the same running server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { PACKAGE_ROOT } from '../../src/core/index.js';
import { descendantsOf, runChild, startServe, waitGone } from './processes.js';

describe('npm run demo against the running server', () => {
  let home: string;
  let server: ChildProcess;
  let url = '';
  let serverErr = (): string => '';
  let keys: Record<string, string> = {};
  const demoEnv = () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of ['WRIT_SERVER', 'WRIT_HOME', 'WRIT_AGENT_KEY', 'WRIT_APPROVER_KEY', 'WRIT_PAYOUTS_KEY', 'WRIT_KEY']) delete env[name];
    return env;
  };

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'writ-'));
    const started = await startServe(home);
    server = started.child;
    url = started.url;
    serverErr = started.stderr;
    keys = JSON.parse(readFileSync(join(home, 'first-start-keys.json'), 'utf8')) as Record<string, string>;
  });

  after(async () => {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  test('the demo runs the whole story and exits 0, and a second run works too', async () => {
    for (const runNo of [1, 2]) {
      const demo = await runChild(['--import', 'tsx', 'scripts/demo.ts', '--server', url, '--keys', join(home, 'first-start-keys.json')], demoEnv());
      assert.equal(demo.code, 0, `run ${runNo}:\n${demo.stdout}\n${demo.stderr}`);
      const lines = [
        /retrieve: the agent reads the ticket and the refund policy/,
        /orders\/ord-1001\.md .* fused \d\.\d{3} \(dense \d\.\d{3}, lexical \d+\.\d{3}\)/,
        /decision: ALLOW — determined by .*support\.request_small_refund/,
        /executed: transition trn_\w+ — Refund rf-demo-\w+-small ∅ → requested/,
        /replaying the same warrant fails: BROKER_WARRANT_CONSUMED/,
        /decision: NEEDS APPROVAL \(1× finance\)/,
        /the agent cannot approve it: 403/,
        /approval apr_\w+ by fatima \(roles finance\); decision: ALLOW/,
        /Refund rf-demo-\w+-large ∅ → requested/,
        /decision: DENY — determined by .*support\.tainted_recipient/,
        /taint: trusted param\(s\) recipientAccount/,
        /document +doc_\w+ v1: .*ord-1002\.md/,
        /approval +apr_\w+: fatima \(finance\)/,
        /ledger ok: the whole chain is intact; \d+ entries of tenant `acme` verified/,
        /Demo complete/,
      ];
      for (const line of lines) assert.match(demo.stdout, line, `run ${runNo} lacks ${line}:\n${demo.stdout}`);
    }
  });

  test('the demo exits non-zero when a step does not get its outcome', async () => {
    const demo = await runChild(['--import', 'tsx', 'scripts/demo.ts', '--server', url], {
      ...demoEnv(),
      WRIT_AGENT_KEY: 'writ_key_not_a_real_key',
      WRIT_APPROVER_KEY: keys.fatima,
      WRIT_PAYOUTS_KEY: keys.payouts,
    });
    assert.equal(demo.code, 1, demo.stdout);
    assert.match(demo.stdout, /✗ POST \/v1\/sessions answered 401/);
    assert.match(demo.stdout, /Demo FAILED at step 2/);
  });

  test('writ mcp --server proxies the three tools to the running server as the agent', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['bin/writ.mjs', 'mcp', '--server', url],
      cwd: PACKAGE_ROOT,
      env: { ...getDefaultEnvironment(), WRIT_KEY: keys['desk-agent'] as string, WRIT_LOG_LEVEL: 'warn' },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const client = new Client({ name: 'writ-test-agent', version: '0.0.0' });
    try {
      await client.connect(transport, { timeout: 60_000 });
      const pid = transport.pid as number;
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), ['proposal_status', 'propose', 'retrieve']);
      assert.match(tools.find((t) => t.name === 'propose')?.description ?? '', /refund\.request .*recipientAccount string TRUSTED/);
      const retrieved = (await client.callTool({ name: 'retrieve', arguments: { query: 'cracked teapot ord-1001 refund', k: 3 } })) as CallToolResult;
      assert.notEqual(retrieved.isError, true, `${JSON.stringify(retrieved.content)}\n${stderr}`);
      const bundle = retrieved.structuredContent as { bundleId: string; results: Array<{ sourceUri: string }> };
      assert.match(bundle.bundleId, /^bnd_/);
      assert.ok(bundle.results.some((r) => r.sourceUri.endsWith('ord-1001.md')));
      const proposed = (await client.callTool({
        name: 'propose',
        arguments: {
          action: 'refund.request',
          targetId: `rf-mcp-remote-${Date.now().toString(36)}`,
          params: { amountCents: 4200, currency: 'EUR', orderId: 'ord-1001', recipientAccount: 'DE89370400440532014471' },
          basis: [bundle.bundleId],
        },
      })) as CallToolResult;
      const data = proposed.structuredContent as { proposal: { id: string; actorId: string }; decision: { outcome: string } };
      assert.equal(data.decision.outcome, 'allow', JSON.stringify(proposed.content));
      assert.equal(data.proposal.actorId, 'desk-agent');
      const status = (await client.callTool({ name: 'proposal_status', arguments: { proposalId: data.proposal.id } })) as CallToolResult;
      assert.equal((status.structuredContent as { proposal: { status: string } }).proposal.status, 'authorized');
      const denied = (await client.callTool({ name: 'proposal_status', arguments: { proposalId: 'prp_01ZZZZZZZZZZZZZZZZZZZZZZZZ' } })) as CallToolResult;
      assert.equal(denied.isError, true);
      assert.equal((denied.structuredContent as { error: { code: string } }).error.code, 'BROKER_PROPOSAL_NOT_FOUND');
      await client.close();
      assert.deepEqual(await waitGone([pid], 10_000), [], 'the mcp process exited');
    } finally {
      await client.close().catch(() => undefined);
    }
  });

  test('SIGINT stops the server, its Chroma child included, and leaves no process behind', async () => {
    const tree = [server.pid as number, ...descendantsOf(server.pid as number)];
    assert.ok(tree.length >= 2, `the server runs an embedded chroma child (tree ${tree.join(', ')})`);
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
    server.kill('SIGINT');
    assert.equal(await exited, 0, serverErr());
    assert.deepEqual(await waitGone(tree, 15_000), [], `processes left behind:\n${serverErr()}`);
  });
});
