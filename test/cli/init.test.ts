// `writ init` with awkward names and targets: any valid name stays a string in the YAML,
// an invalid one is refused before anything is written, a file as target is refused, and
// a failed init leaves nothing behind (so the same command can be run again).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../../src/cli/exit-codes.js';
import { loadWorkspace } from '../../src/workspace.js';
import { runCli } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'writ-cli-init-'));
after(() => rmSync(root, { recursive: true, force: true }));

const FILES = ['.gitignore', 'catalog.yaml', 'documents', 'policies', 'principals.yaml', 'workspace.yaml', 'writ.config.json'];
const env = { WRIT_LOG_LEVEL: 'silent' };

/** No staging folder of `init` is left in `parent`. */
function assertNoStaging(parent: string): void {
  assert.deepEqual(readdirSync(parent).filter((f) => f.includes('writ-init')), []);
}

for (const [what, args, name] of [
  ['a folder named `123`', ['123'], '123'],
  ['a folder named `null`', ['null'], 'null'],
  ['`--name true`', ['yes-desk', '--name', 'true'], 'true'],
  ['`--name 0x1F`', ['hex-desk', '--name', '0x1F'], '0x1F'],
] as const) {
  test(`${what} gives a workspace whose name loads back as the same string`, async () => {
    const parent = mkdtempSync(join(root, 'names-'));
    const dir = join(parent, args[0]);
    const run = await runCli(['init', dir, ...args.slice(1), '--json'], env);
    assert.equal(run.code, EXIT.OK, run.stdout + run.stderr);
    assert.equal(run.json().name, name);
    assert.deepEqual(readdirSync(dir).sort(), FILES);
    const ws = loadWorkspace(dir);
    assert.equal(ws.name, name);
    assert.deepEqual(ws.documents[0]?.labels, [name]);
    assertNoStaging(parent);
  });
}

for (const bad of ['My Desk', 'a: b', '.hidden', '']) {
  test(`\`--name ${JSON.stringify(bad)}\` is refused with CLI_USAGE (exit 2) and writes nothing`, async () => {
    const parent = mkdtempSync(join(root, 'bad-name-'));
    const dir = join(parent, 'desk');
    const run = await runCli(['init', dir, '--name', bad, '--json'], env);
    assert.equal(run.code, EXIT.INVALID_INPUT, run.stdout + run.stderr);
    const { error } = run.json<{ error: { code: string; message: string } }>();
    assert.equal(error.code, 'CLI_USAGE');
    assert.match(error.message, /is not a valid workspace name/);
    assert.deepEqual(readdirSync(parent), []);
    // Nothing was left behind, so a valid name now works on the same folder.
    const again = await runCli(['init', dir, '--name', 'desk', '--json'], env);
    assert.equal(again.code, EXIT.OK, again.stdout + again.stderr);
  });
}

test('a folder name no valid name can be derived from asks for --name and writes nothing', async () => {
  const parent = mkdtempSync(join(root, 'derive-'));
  const run = await runCli(['init', join(parent, '___'), '--json'], env);
  assert.equal(run.code, EXIT.INVALID_INPUT, run.stdout + run.stderr);
  const { error } = run.json<{ error: { code: string; message: string } }>();
  assert.equal(error.code, 'CLI_USAGE');
  assert.match(error.message, /pass `--name NAME`/);
  assert.deepEqual(readdirSync(parent), []);
});

test('a folder name with spaces and capitals derives a valid name', async () => {
  const parent = mkdtempSync(join(root, 'derive-ok-'));
  const run = await runCli(['init', join(parent, '_My Desk (2)'), '--json'], env);
  assert.equal(run.code, EXIT.OK, run.stdout + run.stderr);
  assert.equal(run.json().name, 'my-desk-2');
});

test('a target that is a file, or lies under a file, is refused with CLI_TARGET_EXISTS (exit 2) and left alone', async () => {
  const parent = mkdtempSync(join(root, 'file-'));
  const file = join(parent, 'notes.txt');
  writeFileSync(file, 'mine\n');
  for (const target of [file, join(file, 'desk')]) {
    const run = await runCli(['init', target, '--json'], env);
    assert.equal(run.code, EXIT.INVALID_INPUT, run.stdout + run.stderr);
    const { error } = run.json<{ error: { code: string; details: { dir: string } } }>();
    assert.equal(error.code, 'CLI_TARGET_EXISTS');
    assert.equal(error.details.dir, target);
  }
  assert.deepEqual(readdirSync(parent), ['notes.txt']);
});

test('an empty existing folder is filled in place; missing parent folders are created', async () => {
  const parent = mkdtempSync(join(root, 'empty-'));
  const empty = join(parent, 'desk');
  mkdirSync(empty);
  const run = await runCli(['init', empty, '--json'], env);
  assert.equal(run.code, EXIT.OK, run.stdout + run.stderr);
  assert.deepEqual(readdirSync(empty).sort(), FILES);
  const nested = join(parent, 'a', 'b', 'desk');
  const deep = await runCli(['init', nested, '--json'], env);
  assert.equal(deep.code, EXIT.OK, deep.stdout + deep.stderr);
  assert.ok(existsSync(join(nested, 'workspace.yaml')));
  assertNoStaging(parent);
  assertNoStaging(join(parent, 'a', 'b'));
});
