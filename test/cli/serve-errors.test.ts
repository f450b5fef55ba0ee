// `writ serve` on a port it cannot have: SERVER_LISTEN_FAILED naming host, port and the
// reason, before the slow start (no store, no Chroma), with exit 1.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../../src/cli/exit-codes.js';
import { runCli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'writ-cli-serve-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface ListenError {
  error: { code: string; message: string; details: { host: string; port: number; reason: string } };
}

test('a port in use fails at once with SERVER_LISTEN_FAILED naming host, port and EADDRINUSE (exit 1)', async () => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const { port } = holder.address() as AddressInfo;
  try {
    const home = join(dir, 'home-busy');
    const run = await runCli(['serve', '--port', String(port), '--json'], { WRIT_HOME: home, WRIT_LOG_LEVEL: 'silent' });
    assert.equal(run.code, EXIT.FAILURE, run.stdout + run.stderr);
    const { error } = run.json<ListenError>();
    assert.equal(error.code, 'SERVER_LISTEN_FAILED');
    assert.deepEqual(error.details, { host: '127.0.0.1', port, reason: 'EADDRINUSE' });
    assert.match(error.message, new RegExp(`^cannot listen on \`127\\.0\\.0\\.1:${port}\` \\(EADDRINUSE\\): .*--port`));
    assert.equal(existsSync(join(home, 'writ.db')), false, 'refused before opening the home');

    const human = await runCli(['serve', '--port', String(port)], { WRIT_HOME: home, WRIT_LOG_LEVEL: 'silent' });
    assert.equal(human.code, EXIT.FAILURE);
    assert.match(human.stderr, /^error: cannot listen on .* \[SERVER_LISTEN_FAILED\]\n$/);
  } finally {
    await new Promise((resolve) => holder.close(resolve));
  }
});

test('a --host that is not an address of this machine fails with SERVER_LISTEN_FAILED naming it (exit 1)', async () => {
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): never assigned to a local interface.
  const run = await runCli(['serve', '--host', '192.0.2.1', '--port', '0', '--json'], { WRIT_HOME: join(dir, 'home-host'), WRIT_LOG_LEVEL: 'silent' });
  assert.equal(run.code, EXIT.FAILURE, run.stdout + run.stderr);
  const { error } = run.json<ListenError>();
  assert.equal(error.code, 'SERVER_LISTEN_FAILED');
  assert.deepEqual(error.details, { host: '192.0.2.1', port: 0, reason: 'EADDRNOTAVAIL' });
  assert.match(error.message, /`192\.0\.2\.1` is not an address of this machine: pass `--host`/);
});
