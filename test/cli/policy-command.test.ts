// `writ policy test` and `writ policy validate` edge cases: a path without fixtures is
// invalid input (a wrong path must not pass CI), obligations compare field by field, and
// policy files count whatever the case of their `.cedar` extension.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../../src/cli/main.js';
import { runCli } from './helpers.js';

const env = { WRIT_LOG_LEVEL: 'silent' };
const APPROVALS = {
  defaults: false,
  sources: [
    {
      file: 'approvals.cedar',
      text: '@id("large_needs_finance")\n@requires_approval("finance")\npermit (principal is SupportDesk::User, action == SupportDesk::Action::"refund.request", resource)\nwhen { principal.roles.contains("support") };',
    },
  ],
};

describe('writ policy test', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'writ-policy-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  /** A fixture folder (with the corpus's `_bases.json`) holding `cases` in `mine.json`. */
  function fixtures(name: string, cases: unknown[]): string {
    const dir = join(root, name);
    mkdirSync(dir);
    copyFileSync('test/broker/fixtures/decisions/_bases.json', join(dir, '_bases.json'));
    writeFileSync(join(dir, 'mine.json'), JSON.stringify({ catalog: 'support-desk', policies: APPROVALS, cases }));
    return dir;
  }

  test('a folder without fixtures is invalid input (exit 2), not a pass', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const run = await runCli(['policy', 'test', empty], env);
    assert.equal(run.code, EXIT.INVALID_INPUT, run.stdout + run.stderr);
    assert.match(run.stderr, /no decision fixtures in `.*empty`: expected `\*\.json` files with `cases` \[INVALID_INPUT\]/);

    const onlyBases = join(root, 'only-bases');
    mkdirSync(onlyBases);
    copyFileSync('test/broker/fixtures/decisions/_bases.json', join(onlyBases, '_bases.json'));
    assert.equal((await runCli(['policy', 'test', onlyBases], env)).code, EXIT.INVALID_INPUT);

    const noCases = fixtures('no-cases', []);
    assert.equal((await runCli(['policy', 'test', noCases], env)).code, EXIT.INVALID_INPUT);
  });

  test('obligations match field by field, whatever the key order of the fixture', async () => {
    const dir = fixtures('key-order', [
      {
        name: 'keys in another order still match',
        base: 'refund.request',
        facts: { actor: 'sam', onBehalfOf: null },
        expected: { outcome: 'needs_approval', determiningPolicies: ['large_needs_finance'], obligations: [{ satisfied: false, count: 1, role: 'finance' }] },
      },
      {
        name: 'a wrong count is reported by field',
        base: 'refund.request',
        facts: { actor: 'sam', onBehalfOf: null },
        expected: { outcome: 'needs_approval', determiningPolicies: ['large_needs_finance'], obligations: [{ role: 'finance', count: 2, satisfied: false }] },
      },
      {
        name: 'a missing obligation is reported',
        base: 'refund.request',
        facts: { actor: 'sam', onBehalfOf: null },
        expected: { outcome: 'needs_approval', determiningPolicies: ['large_needs_finance'], obligations: [] },
      },
    ]);
    const run = await runCli(['policy', 'test', dir], env);
    assert.equal(run.code, EXIT.FAILURE, run.stdout + run.stderr);
    assert.match(run.stdout, /^pass {2}mine\.json: keys in another order still match$/m);
    assert.match(run.stdout, /^FAIL {2}mine\.json: a wrong count is reported by field\n\s+obligations: `finance` count: expected 2, got 1$/m);
    assert.match(run.stdout, /^FAIL {2}mine\.json: a missing obligation is reported\n\s+obligations: got an unexpected one for `finance`$/m);
    assert.match(run.stdout, /1 passed, 2 failed \(3 cases\)/);
  });

  test('a malformed expected obligation is invalid input (exit 2)', async () => {
    const dir = fixtures('typo', [
      {
        name: 'a typo in a field name',
        base: 'refund.request',
        facts: { actor: 'sam', onBehalfOf: null },
        expected: { outcome: 'needs_approval', determiningPolicies: ['large_needs_finance'], obligations: [{ role: 'finance', count: 1, satisifed: false }] },
      },
    ]);
    const run = await runCli(['policy', 'test', dir], env);
    assert.equal(run.code, EXIT.INVALID_INPUT, run.stdout + run.stderr);
    assert.match(run.stderr, /`expected\.obligations` entry 0 has unknown field `satisifed`/);
  });
});

describe('writ policy validate', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'writ-policy-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('reads `.CEDAR` files too, so an upper-case file is validated, not skipped', async () => {
    const dir = join(root, 'policies');
    mkdirSync(dir);
    writeFileSync(join(dir, 'BROKEN.CEDAR'), '@id("broken")\npermit (principal, action, resource) when { resource.noSuchAttribute == 1 };\n');
    const run = await runCli(['policy', 'validate', dir, '--catalog', 'examples/support-desk/catalog.yaml'], env);
    assert.equal(run.code, EXIT.INVALID_INPUT, run.stdout + run.stderr);
    assert.match(run.stderr, /BROKEN\.CEDAR \(broken\): .*noSuchAttribute/);
  });
  test('an unreadable catalog or a missing policy folder is invalid input (exit 2), as invalid policies are', async () => {
    const dir = join(root, 'ok-policies');
    mkdirSync(dir);
    const badCatalog = join(root, 'catalog.yaml');
    writeFileSync(badCatalog, 'namespace: Desk\nresourceTypes: {}\nresourceTypes: {}\n');
    const catalogRun = await runCli(['policy', 'validate', dir, '--catalog', badCatalog], env);
    assert.equal(catalogRun.code, EXIT.INVALID_INPUT, catalogRun.stdout + catalogRun.stderr);
    assert.match(catalogRun.stderr, /BROKER_CATALOG_(UNREADABLE|INVALID)/);
    const missingRun = await runCli(['policy', 'validate', join(root, 'no-such-folder'), '--catalog', 'examples/support-desk/catalog.yaml'], env);
    assert.equal(missingRun.code, EXIT.INVALID_INPUT, missingRun.stdout + missingRun.stderr);
    assert.match(missingRun.stderr, /BROKER_POLICY_UNREADABLE/);
  });
});
