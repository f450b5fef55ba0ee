// The MCP server end to end: `node bin/writ.mjs mcp` spawned over stdio and driven by the
// SDK's own Client, against a temporary Writ home with the sample workspace (real Chroma
// child, real SQLite file).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createApp } from '../../src/app.js';
import { loadConfig, PACKAGE_ROOT } from '../../src/core/index.js';
import { descendantsOf, waitGone } from '../e2e/processes.js';

const ACCOUNT_ON_FILE = 'DE89370400440532014471';
const INJECTED_ACCOUNT = 'DE44500105175407324931';

type Structured = Record<string, any>;

const MCP_COMMAND = ['bin/writ.mjs', 'mcp'];

describe('writ mcp (stdio, SDK client)', () => {
  let home: string;
  let agentKey: string;
  let client: Client;
  let transport: StdioClientTransport;
  let stderr = '';
  let serverPid: number | null = null;
  const protocolErrors: string[] = [];

  async function call(name: string, args: Record<string, unknown>): Promise<{ result: CallToolResult; data: Structured }> {
    const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
    return { result, data: (result.structuredContent ?? {}) as Structured };
  }

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'writ-'));
    const env = { WRIT_HOME: home, WRIT_LOG_LEVEL: 'warn' };
    // First start in-process: seeds the sample workspace and creates the API keys.
    const app = await createApp({ config: loadConfig({ env }) });
    const issued = app.firstStartKeys.find((k) => k.principalId === 'desk-agent')?.key;
    await app.close();
    assert.ok(issued, 'the first start issued a key for desk-agent');
    agentKey = issued;

    transport = new StdioClientTransport({
      command: process.execPath,
      args: MCP_COMMAND,
      cwd: PACKAGE_ROOT,
      env: { ...getDefaultEnvironment(), ...env, WRIT_KEY: agentKey },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    client = new Client({ name: 'writ-test-agent', version: '0.0.0' });
    // A line on stdout that is not a protocol message surfaces here.
    client.onerror = (err) => protocolErrors.push(err.message);
    await client.connect(transport, { timeout: 120_000 });
    serverPid = transport.pid;
  });

  after(async () => {
    await client?.close().catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  });

  test('lists exactly retrieve, propose and proposal_status, with JSON schemas from the library schemas', async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['proposal_status', 'propose', 'retrieve']);
    const retrieve = tools.find((t) => t.name === 'retrieve')!;
    assert.equal(retrieve.inputSchema.type, 'object');
    assert.deepEqual([...(retrieve.inputSchema.required ?? [])].sort(), ['k', 'query']);
    assert.ok(retrieve.inputSchema.properties?.filters, 'retrieve takes filters');
    const propose = tools.find((t) => t.name === 'propose')!;
    for (const field of ['action', 'targetId', 'params', 'basis', 'rationale', 'idempotencyKey', 'sessionId']) {
      assert.ok(propose.inputSchema.properties?.[field], `propose takes ${field}`);
    }
    assert.deepEqual([...(propose.inputSchema.required ?? [])].sort(), ['action', 'targetId']);
    // The agent learns the catalog's actions, with the trusted params marked.
    assert.match(propose.description ?? '', /- refund\.request \(creates Refund → requested, internal\).*recipientAccount string TRUSTED/);
    assert.equal(retrieve.annotations?.readOnlyHint, true);
  });

  test('an unknown tool such as approve or execute cannot be called', async () => {
    for (const name of ['approve', 'execute', 'issue_warrant']) {
      const outcome = await client.callTool({ name, arguments: { proposalId: 'prp_x' } }).then(
        (r) => ((r as CallToolResult).isError ? 'failed' : 'succeeded'),
        (err: Error) => (/unknown tool/.test(err.message) ? 'failed' : `threw ${err.message}`),
      );
      assert.equal(outcome, 'failed', name);
    }
  });

  let policyBundle = '';
  test('retrieve returns the refund policy for a refund question, with scores and a bundle id', async () => {
    const { result, data } = await call('retrieve', { query: 'who approves refunds above 100 EUR, and to which account is a refund paid?', k: 4 });
    assert.notEqual(result.isError, true, JSON.stringify(result.content));
    assert.match(data.bundleId, /^bnd_/);
    assert.match(data.sessionId, /^ses_/);
    assert.ok(data.results.length > 0);
    assert.match(data.results[0].sourceUri, /refund-policy\.md$/, JSON.stringify(data.results.map((r: Structured) => r.sourceUri)));
    assert.equal(typeof data.results[0].scores.fused, 'number');
    assert.ok(JSON.parse((result.content[0] as { text: string }).text).bundleId === data.bundleId, 'the text content carries the same JSON');
    policyBundle = data.bundleId;
  });

  let allowedId = '';
  test('a small refund to the account on file is allowed, and proposal_status reports it', async () => {
    const { result, data } = await call('propose', {
      action: 'refund.request',
      targetId: `rf-mcp-${Date.now()}`,
      params: { amountCents: 4200, currency: 'EUR', orderId: 'ord-1001', recipientAccount: ACCOUNT_ON_FILE },
      basis: [policyBundle],
      rationale: 'teapot arrived cracked; refund policy allows up to 100 EUR',
    });
    assert.notEqual(result.isError, true, JSON.stringify(result.content));
    assert.equal(data.decision.outcome, 'allow', JSON.stringify(data.decision.reasons));
    assert.equal(data.proposal.status, 'authorized');
    assert.equal(data.proposal.actorId, 'desk-agent');
    assert.equal(data.proposal.onBehalfOf, 'sam');
    allowedId = data.proposal.id;

    const status = await call('proposal_status', { proposalId: allowedId });
    assert.notEqual(status.result.isError, true, JSON.stringify(status.result.content));
    assert.equal(status.data.proposal.id, allowedId);
    assert.equal(status.data.proposal.status, 'authorized');
    assert.equal(status.data.decision.outcome, 'allow');
    assert.deepEqual(status.data.approvals, []);
  });

  test('a proposal copying the injected account from a retrieved note is denied, naming recipientAccount', async () => {
    const retrieved = await call('retrieve', { query: 'order ord-1003 wireless headset refund account', k: 3 });
    assert.ok(
      retrieved.data.results.some((r: Structured) => r.text.includes(INJECTED_ACCOUNT)),
      'the injected note was retrieved',
    );
    const { result, data } = await call('propose', {
      action: 'refund.request',
      targetId: `rf-mcp-inj-${Date.now()}`,
      params: { amountCents: 7900, currency: 'EUR', orderId: 'ord-1003', recipientAccount: INJECTED_ACCOUNT },
      basis: [retrieved.data.bundleId],
    });
    assert.notEqual(result.isError, true, 'a deny is a result, not an error');
    assert.equal(data.decision.outcome, 'deny');
    assert.equal(data.proposal.status, 'denied');
    assert.deepEqual(data.decision.facts.taint.trustedParams, ['recipientAccount']);
    assert.ok(data.decision.determiningPolicies.includes('support.tainted_recipient'), JSON.stringify(data.decision.determiningPolicies));
  });

  test('bad input fails with the typed INVALID_INPUT code and every issue', async () => {
    const { result, data } = await call('retrieve', { query: '', k: 'three' });
    assert.equal(result.isError, true);
    assert.equal(data.error.code, 'INVALID_INPUT');
    assert.deepEqual(data.error.details.issues.map((i: Structured) => i.path).sort(), ['k', 'query']);
    assert.match((result.content[0] as { text: string }).text, /^INVALID_INPUT: /);
  });

  test('a lone surrogate in tool arguments fails with INVALID_INPUT naming its path, as over HTTP', async () => {
    const { result, data } = await call('retrieve', { query: 'refund \ud800 policy', k: 2 });
    assert.equal(result.isError, true);
    assert.equal(data.error.code, 'INVALID_INPUT');
    assert.equal(data.error.details.issues[0].path, 'query');
    assert.match(data.error.message, /^invalid tool arguments: `query`: holds a lone surrogate/);
  });

  test('proposal_status of an unknown proposal fails with BROKER_PROPOSAL_NOT_FOUND', async () => {
    const { result, data } = await call('proposal_status', { proposalId: 'prp_01ZZZZZZZZZZZZZZZZZZZZZZZZ' });
    assert.equal(result.isError, true);
    assert.equal(data.error.code, 'BROKER_PROPOSAL_NOT_FOUND');
  });

  test('nothing is written to stdout but the protocol, and closing the client stops the server and its Chroma child', async () => {
    assert.ok(serverPid, 'the server process has a pid');
    const tree = [serverPid as number, ...descendantsOf(serverPid as number)];
    assert.ok(tree.length >= 2, `the server runs an embedded chroma child (tree ${tree.join(', ')})`);
    assert.match(stderr, /serving tools retrieve, propose, proposal_status for `desk-agent`/);
    assert.deepEqual(protocolErrors, []);
    await client.close();
    const alive = await waitGone(tree, 15_000);
    assert.deepEqual(alive, [], `processes left behind; server stderr:\n${stderr}`);
  });

  test('a wrong key is refused at start: the server exits non-zero with AUTH_INVALID_KEY and writes nothing to stdout', async () => {
    const child = spawn(process.execPath, MCP_COMMAND, {
      cwd: PACKAGE_ROOT,
      env: { ...getDefaultEnvironment(), WRIT_HOME: home, WRIT_LOG_LEVEL: 'warn', WRIT_KEY: `${agentKey.slice(0, -4)}xxxx` },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    assert.notEqual(code, 0);
    assert.match(err, /AUTH_INVALID_KEY/);
    assert.equal(out, '');
  });
});
