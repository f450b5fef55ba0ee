// Remote mode: the same commands against a running Writ server (real app, Chroma child and
// sample workspace, on a loopback port) with the key from WRIT_KEY — and the error
// answers mapped to exit codes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createApp, type WritApp } from '../../src/app.js';
import { loadConfig } from '../../src/core/index.js';
import { buildServer } from '../../src/server/index.js';
import { ownerFileOf } from '../../src/retrieval/chroma-server.js';
import { openVectorIndex } from '../../src/retrieval/vector-index.js';
import { EXIT } from '../../src/cli/main.js';
import { runCli } from './helpers.js';

const ACCOUNT_ON_FILE = 'DE89370400440532014471';

describe('writ in remote mode (--server)', () => {
  let home: string;
  let app: WritApp;
  let server: FastifyInstance;
  let url: string;
  const keys = new Map<string, string>();
  const as = (principal: string, ...args: string[]) => runCli(args, { WRIT_SERVER: url, WRIT_KEY: keys.get(principal), WRIT_LOG_LEVEL: 'silent' });

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'writ-'));
    app = await createApp({ config: loadConfig({ env: { WRIT_HOME: home, WRIT_LOG_LEVEL: 'silent' } }) });
    for (const k of app.firstStartKeys) keys.set(k.principalId, k.key);
    server = await buildServer(app, { logger: false });
    await server.listen({ host: '127.0.0.1', port: 0 });
    const address = server.server.address() as { port: number };
    url = `http://127.0.0.1:${address.port}`;
  });
  after(async () => {
    await server?.close();
    await app?.close();
    rmSync(home, { recursive: true, force: true });
  });

  test('ingest of a folder with a dangling symbolic link sends every other file and lists the link as failed (exit 2)', async () => {
    const kb = mkdtempSync(join(home, 'kb-'));
    writeFileSync(join(kb, 'a.md'), '# Kettles\n\nDescaling kettles monthly.\n');
    symlinkSync(join(kb, 'nowhere.md'), join(kb, 'gone.md'));
    const run = await as('sam', 'ingest', kb, '--readers', '*', '--json');
    assert.equal(run.code, EXIT.INVALID_INPUT, run.stdout + run.stderr);
    const summary = run.json<{ created: number; failed: Array<{ path: string; code: string }> }>();
    assert.equal(summary.created, 1);
    assert.deepEqual(summary.failed.map((f) => [f.path, f.code]), [[join(kb, 'gone.md'), 'RETRIEVAL_LOAD_FAILED']]);
  });

  test('search, propose, approve and execute over HTTP give the same exit codes as local mode', async () => {
    const session = await as('desk-agent', 'session', 'create', '--json');
    assert.equal(session.code, EXIT.OK, session.stdout + session.stderr);
    const sessionId = session.json().id as string;

    const found = await as('desk-agent', 'search', 'cracked teapot refund', '--session', sessionId, '--k', '3');
    assert.equal(found.code, EXIT.OK, found.stderr);
    assert.match(found.stdout, /^bundle bnd_/);
    assert.match(found.stdout, /fused \d\.\d{3} {2}dense/);

    const small = await as('desk-agent', 'propose', '--session', sessionId, '--action', 'refund.request', '--target', 'rf-remote-1',
      '--param', 'amountCents=4500', '--param', 'orderId=ord-1001', '--param', `recipientAccount=${ACCOUNT_ON_FILE}`, '--json');
    assert.equal(small.code, EXIT.OK, small.stdout + small.stderr);
    const executedSmall = await as('desk-agent', 'execute', small.json().proposal.id);
    assert.equal(executedSmall.code, EXIT.OK, executedSmall.stdout + executedSmall.stderr);

    const large = await as('desk-agent', 'propose', '--session', sessionId, '--action', 'refund.request', '--target', 'rf-remote-2',
      '--param', 'amountCents=25000', '--param', 'orderId=ord-1001', '--param', `recipientAccount=${ACCOUNT_ON_FILE}`, '--json');
    assert.equal(large.code, EXIT.NEEDS_APPROVAL, large.stdout + large.stderr);
    const id = large.json().proposal.id as string;
    assert.equal((await as('desk-agent', 'execute', id)).code, EXIT.NEEDS_APPROVAL);
    const byAgent = await as('desk-agent', 'approve', id, '--json');
    assert.equal(byAgent.code, EXIT.DENIED, 'an agent never approves');
    assert.match(byAgent.json().error.code, /^(BROKER_APPROVER_NOT_HUMAN|AUTH_FORBIDDEN)$/);
    const approved = await as('fatima', 'approve', id, '--note', 'ok');
    assert.equal(approved.code, EXIT.OK, approved.stdout + approved.stderr);
    const executed = await as('desk-agent', 'execute', id);
    assert.equal(executed.code, EXIT.OK, executed.stdout + executed.stderr);
    assert.match(executed.stdout, /executed refund\.request on Refund rf-remote-2/);

    const verified = await as('fatima', 'audit', 'verify');
    assert.equal(verified.code, EXIT.OK, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /^ledger ok: the whole chain is intact; \d+ entries of tenant `acme` verified, the newest entry \d+ sha256:/);

    // `audit tail --request-id`: what one request did (the small proposal: its record and its decision).
    const created = await as('fatima', 'audit', 'tail', '--kinds', 'proposal.created', '--limit', '100', '--json');
    const requestId = (created.json().entries as Array<{ subjectId: string; requestId: string }>).find((e) => e.subjectId === small.json().proposal.id)?.requestId;
    assert.match(String(requestId), /^req_/);
    const byRequest = await as('fatima', 'audit', 'tail', '--request-id', String(requestId), '--json');
    assert.equal(byRequest.code, EXIT.OK, byRequest.stderr);
    assert.deepEqual((byRequest.json().entries as Array<{ kind: string }>).map((e) => e.kind).sort(), ['decision.made', 'proposal.created']);
  });

  test('a local ingest on the serving home uses the server\'s chroma (no second chroma on its data folder)', async () => {
    const vectors = await openVectorIndex({ server: app.chroma, collection: 'writ-chunks', modelId: app.embedder.modelId, dimension: app.embedder.dimension });
    const before = await vectors.count();
    const kb = mkdtempSync(join(tmpdir(), 'writ-kb-'));
    try {
      writeFileSync(join(kb, 'kettle.md'), '# Kettle returns\n\nA dented kettle may be returned within 30 days for store credit.\n');
      const local = await runCli(['ingest', kb, '--tenant', 'acme', '--readers', 'group:support', '--json'], { WRIT_HOME: home, WRIT_LOG_LEVEL: 'silent' });
      assert.equal(local.code, EXIT.OK, local.stdout + local.stderr);
      assert.equal(local.json().created, 1);
    } finally {
      rmSync(kb, { recursive: true, force: true });
    }
    // The local run wrote its vector through the server's chroma and left it running.
    assert.equal(await vectors.count(), before + 1);
    await app.chroma.heartbeat();
    const owner = JSON.parse(readFileSync(ownerFileOf(join(home, 'chroma')), 'utf8')) as { url: string };
    assert.equal(owner.url, app.chroma.url, 'the server still owns the data folder');
    const found = await as('sam', 'search', 'dented kettle store credit', '--k', '1', '--json');
    assert.equal(found.code, EXIT.OK, found.stderr);
    assert.match(JSON.stringify(found.json()), /dented kettle/);
    assert.ok(existsSync(join(home, 'chroma')));
  });

  test('a local reindex on the serving home replaces the collection; the server opens the new one and keeps indexing', async () => {
    const reindex = await runCli(['reindex', '--json'], { WRIT_HOME: home, WRIT_LOG_LEVEL: 'silent' });
    assert.equal(reindex.code, EXIT.OK, reindex.stdout + reindex.stderr);
    // The server's index still names the dropped collection: its next write must find the new one.
    const out = await app.retrieval.ingest([{ tenant: 'acme', sourceUri: 'kb://after-reindex', title: 'Heron', text: 'A grey heron waits by the ferry pier.', readers: ['group:support'] }]);
    assert.equal(out[0]?.status, 'created');
    const vectors = await openVectorIndex({ server: app.chroma, collection: 'writ-chunks', modelId: app.embedder.modelId, dimension: app.embedder.dimension });
    const active = (app.store.db.prepare('SELECT count(*) AS n FROM chunks WHERE active = 1').get() as { n: number }).n;
    assert.equal(await vectors.count(), active, 'every active chunk is in the new collection');
  });

  test('policy validate over HTTP checks against the server catalog (an auditor; others are denied)', async () => {
    const denied = await as('sam', 'policy', 'validate', 'examples/support-desk/policies', '--json');
    assert.equal(denied.code, EXIT.DENIED, denied.stdout + denied.stderr);
    assert.equal(denied.json().error.code, 'AUTH_FORBIDDEN');
    const ok = await as('fatima', 'policy', 'validate', 'examples/support-desk/policies');
    assert.equal(ok.code, EXIT.OK, ok.stdout + ok.stderr);
    const dir = mkdtempSync(join(tmpdir(), 'writ-'));
    try {
      writeFileSync(join(dir, 'bad.cedar'), 'permit (principal, action, resource) when { resource.nope };\n');
      const bad = await as('fatima', 'policy', 'validate', dir);
      assert.equal(bad.code, EXIT.INVALID_INPUT);
      assert.match(bad.stdout, /policies INVALID:\n {2}- bad\.cedar/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a missing or wrong key is refused (exit 3); an unreachable server fails (exit 1); local-only commands refuse --server (exit 2)', async () => {
    const noKey = await runCli(['search', 'teapot', '--server', url, '--json'], { WRIT_LOG_LEVEL: 'silent' });
    assert.equal(noKey.code, EXIT.DENIED);
    assert.equal(noKey.json().error.code, 'AUTH_MISSING_KEY');
    const wrongKey = await runCli(['search', 'teapot', '--json'], { WRIT_SERVER: url, WRIT_KEY: 'writ_nope', WRIT_LOG_LEVEL: 'silent' });
    assert.equal(wrongKey.code, EXIT.DENIED);
    assert.equal(wrongKey.json().error.code, 'AUTH_INVALID_KEY');
    assert.ok(wrongKey.json().error.requestId, 'the server request id is kept');
    const down = await runCli(['--server', 'http://127.0.0.1:9', 'search', 'teapot'], { WRIT_KEY: 'writ_x', WRIT_LOG_LEVEL: 'silent' });
    assert.equal(down.code, EXIT.FAILURE);
    assert.match(down.stderr, /cannot reach `http:\/\/127\.0\.0\.1:9`.*\[CLI_SERVER_UNREACHABLE\]/);
    const keysRemote = await as('sam', 'keys', 'list');
    assert.equal(keysRemote.code, EXIT.INVALID_INPUT);
    assert.match(keysRemote.stderr, /works on the local home only/);
  });
});
