import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { spawnSync } from 'node:child_process';
import { main, EXIT } from '../../src/cli/main.js';
import { WRIT_VERSION } from '../../src/core/index.js';

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await main(args, { stdout, stderr });
  return { code, stdout: out, stderr: err };
}

describe('writ CLI', () => {
  test('--version prints the package version, and JSON with --json', async () => {
    assert.deepEqual(await run(['--version']), { code: EXIT.OK, stdout: `writ ${WRIT_VERSION}\n`, stderr: '' });
    const json = await run(['--version', '--json']);
    assert.deepEqual(JSON.parse(json.stdout), { version: WRIT_VERSION });
  });

  test('--help lists the commands and the exit codes', async () => {
    const { code, stdout } = await run(['--help']);
    assert.equal(code, EXIT.OK);
    assert.match(stdout, /Usage: writ COMMAND/);
    assert.match(stdout, /serve\s+start the Writ server/);
    assert.match(stdout, /Exit codes: 0 ok, 1 failure, 2 invalid input, 3 denied, 4 not found/);
  });

  test('an unknown command or flag is invalid input (exit 2) with a typed error', async () => {
    const unknown = await run(['frobnicate']);
    assert.equal(unknown.code, EXIT.INVALID_INPUT);
    assert.match(unknown.stderr, /unknown command `frobnicate`.*\[CLI_USAGE\]/);
    const badFlag = await run(['serve', '--no-such-flag', '--json']);
    assert.equal(badFlag.code, EXIT.INVALID_INPUT);
    assert.equal(JSON.parse(badFlag.stdout).error.code, 'CLI_USAGE');
  });

  test('the installed bin runs as a separate process', () => {
    const result = spawnSync(process.execPath, ['bin/writ.mjs', '--version'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), `writ ${WRIT_VERSION}`);
  });
});
