// `writ mcp --server URL`: the HTTP backend keeps a path prefix of the URL (a server behind
// a reverse proxy), and a server's error answer reaches the CLI typed: its code, and the
// exit code of its status, as in every other remote command.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpBackend, RemoteWritError } from '../../src/mcp/index.js';
import { isWritError } from '../../src/core/index.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { exitCodeOf } from '../../src/cli/output.js';
import { runCli } from '../cli/helpers.js';

const PREFIX = '/writ';
const GOOD_KEY = 'writ_key_good';

/** A stand-in for a Writ server mounted under PREFIX by a proxy: anything else is a 404. */
function fakeWritServer(seen: string[]): Server {
  const answer = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': 'req-test' }).end(JSON.stringify(body));
  };
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push(`${req.method} ${req.url}`);
    if (!req.url?.startsWith(`${PREFIX}/`)) return answer(res, 404, { code: 'SERVER_NOT_FOUND', message: `no route \`${req.url}\``, details: {} });
    if (req.headers.authorization !== `Bearer ${GOOD_KEY}`) return answer(res, 401, { code: 'AUTH_INVALID_KEY', message: 'invalid api key', details: {} });
    const path = req.url.slice(PREFIX.length);
    if (req.method === 'POST' && path === '/v1/sessions') return answer(res, 201, { id: 'ses_test', actorId: 'desk-agent', tenant: 'acme' });
    if (req.method === 'GET' && path === '/v1/catalog') return answer(res, 200, { actions: {} });
    if (req.method === 'GET' && path === '/v1/proposals/prp_missing') return answer(res, 404, { code: 'SERVER_RECORD_NOT_FOUND', message: 'proposal `prp_missing` not found', details: {} });
    return answer(res, 404, { code: 'SERVER_NOT_FOUND', message: `no route \`${req.url}\``, details: {} });
  });
}

describe('MCP HTTP backend', () => {
  const seen: string[] = [];
  let server: Server;
  let base: string;
  before(async () => {
    server = fakeWritServer(seen);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('keeps the path prefix of the server URL, with or without a trailing slash', async () => {
    for (const url of [`${base}${PREFIX}`, `${base}${PREFIX}/`]) {
      seen.length = 0;
      const backend = await createHttpBackend({ url, key: GOOD_KEY });
      assert.deepEqual(backend.identity, { principalId: 'desk-agent', kind: 'remote', tenant: 'acme', sessionId: 'ses_test' });
      await assert.rejects(backend.proposalStatus({ proposalId: 'prp_missing' }), (err: unknown) => err instanceof RemoteWritError && err.code === 'SERVER_RECORD_NOT_FOUND');
      assert.deepEqual(seen, ['POST /writ/v1/sessions', 'GET /writ/v1/catalog', 'GET /writ/v1/proposals/prp_missing']);
    }
  });

  test('a proposal id of dots is refused before any request: a URL would resolve it to another route', async () => {
    const backend = await createHttpBackend({ url: `${base}${PREFIX}`, key: GOOD_KEY });
    for (const proposalId of ['.', '..']) {
      seen.length = 0;
      await assert.rejects(backend.proposalStatus({ proposalId }), (err: unknown) => isWritError(err) && err.code === 'INVALID_INPUT' && /proposalId/.test(err.message), proposalId);
      assert.deepEqual(seen, [], proposalId);
    }
    // Dots inside an id, and slashes, stay within the one segment.
    for (const proposalId of ['../../v1/catalog', 'prp_a/..', '.x']) {
      seen.length = 0;
      await assert.rejects(backend.proposalStatus({ proposalId }), (err: unknown) => err instanceof RemoteWritError && err.status === 404, proposalId);
      assert.equal(seen.length, 1, proposalId);
      assert.match(seen[0] as string, /^GET \/writ\/v1\/proposals\/[^/]+$/, proposalId);
    }
  });

  test("a server's error answers map to the exit codes of their status", () => {
    const deny = new RemoteWritError('AUTH_INVALID_KEY', 'invalid api key', 401, {}, 'req-1');
    assert.equal(exitCodeOf(deny), EXIT.DENIED);
    assert.equal(exitCodeOf(new RemoteWritError('SERVER_RECORD_NOT_FOUND', 'gone', 404, {}, undefined)), EXIT.NOT_FOUND);
    assert.equal(exitCodeOf(new RemoteWritError('INVALID_INPUT', 'bad', 400, {}, undefined)), EXIT.INVALID_INPUT);
    assert.equal(exitCodeOf(new Error('plain')), EXIT.FAILURE);
  });

  test('`writ mcp --server` with a bad key fails with AUTH_INVALID_KEY and exit 3, in JSON and in text', async () => {
    const env = { WRIT_KEY: 'writ_key_wrong', WRIT_LOG_LEVEL: 'silent' };
    const json = await runCli(['mcp', '--server', `${base}${PREFIX}`, '--json'], env);
    assert.equal(json.code, EXIT.DENIED, json.stdout + json.stderr);
    assert.deepEqual(json.json(), { error: { code: 'AUTH_INVALID_KEY', message: 'invalid api key', details: { requestId: 'req-test' } } });

    const text = await runCli(['mcp', '--server', `${base}${PREFIX}`], env);
    assert.equal(text.code, EXIT.DENIED);
    assert.equal(text.stderr, 'error: invalid api key [AUTH_INVALID_KEY]\n');
  });
});
