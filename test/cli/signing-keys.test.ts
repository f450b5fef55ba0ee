// `writ keys signing` lists the home's signing keys; `writ keys rotate ledger|warrant`
// replaces one on the ledger's record: what the old key signed still verifies (a warrant
// issued before the rotation still executes), and what comes next is signed by the new one.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../../src/cli/main.js';
import { openLocalHome } from '../../src/cli/local-home.js';
import { isWritError, openKeyring, PACKAGE_ROOT } from '../../src/core/index.js';
import { rotateSigningKey } from '../../src/signing-keys.js';
import { runCli } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'writ-signing-'));
after(() => rmSync(root, { recursive: true, force: true }));

type KeyRow = { keyring: string; kid: string; retiredAt: string | null; active: boolean };

/** A home of its own on a copy of the sample workspace: the env a command needs. */
function homeEnv(name: string, extra: Record<string, string> = {}): { WRIT_HOME: string; WRIT_WORKSPACE: string; WRIT_LOG_LEVEL: string } {
  const workspace = join(root, `workspace-${name}`);
  cpSync(join(PACKAGE_ROOT, 'examples', 'support-desk'), workspace, { recursive: true });
  return { WRIT_HOME: join(root, `home-${name}`), WRIT_WORKSPACE: workspace, WRIT_LOG_LEVEL: 'silent', ...extra };
}

test('rotating the warrant and ledger keys keeps old signatures valid and is on the ledger', async () => {
  const env = homeEnv('rotate');

  const listed = await runCli(['keys', 'signing', '--json'], env);
  assert.equal(listed.code, EXIT.OK, listed.stderr);
  const before = listed.json().keys as KeyRow[];
  assert.deepEqual(before.map((k) => [k.keyring, k.active]), [['ledger', true], ['warrant', true]]);
  const oldWarrantKid = before.find((k) => k.keyring === 'warrant')?.kid;

  // A warrant signed with the key about to be retired.
  const session = await runCli(['session', 'create', '--as', 'desk-agent', '--json'], env);
  const proposed = await runCli(
    ['propose', '--as', 'desk-agent', '--session', session.json().id, '--action', 'refund.request', '--target', 'rf-rotate-1',
      '--param', 'amountCents=500', '--param', 'orderId=ord-1001', '--param', 'recipientAccount=acct-1', '--json'],
    env,
  );
  assert.equal(proposed.code, EXIT.OK, proposed.stderr);
  const home = await openLocalHome(env);
  let token: string;
  try {
    token = home.broker.issueWarrant(home.principal('desk-agent'), proposed.json().proposal.id).token;
  } finally {
    await home.close();
  }

  const rotated = await runCli(['keys', 'rotate', 'warrant', '--json'], env);
  assert.equal(rotated.code, EXIT.OK, rotated.stderr);
  assert.equal(rotated.json().retiredKid, oldWarrantKid);
  assert.notEqual(rotated.json().activeKid, oldWarrantKid);

  const executed = await runCli(['execute', '--warrant', token, '--json'], env);
  assert.equal(executed.code, EXIT.OK, executed.stdout + executed.stderr);
  assert.equal(executed.json().transition.status, 'executed');

  const warrantKeys = ((await runCli(['keys', 'signing', '--json'], env)).json().keys as KeyRow[]).filter((k) => k.keyring === 'warrant');
  assert.equal(warrantKeys.length, 2);
  assert.deepEqual(warrantKeys.map((k) => [k.kid, k.active, k.retiredAt !== null]), [[oldWarrantKid, false, true], [rotated.json().activeKid, true, false]]);

  const ledgerRotated = await runCli(['keys', 'rotate', 'ledger', '--json'], env);
  assert.equal(ledgerRotated.code, EXIT.OK, ledgerRotated.stderr);
  const verify = await runCli(['audit', 'verify', '--json'], env);
  assert.equal(verify.code, EXIT.OK, verify.stdout + verify.stderr);
  assert.equal(verify.json().ok, true);

  const recorded = await runCli(['audit', 'tail', '--kinds', 'keyring.rotated', '--json'], env);
  assert.deepEqual(
    recorded.json().entries.map((e: { subjectId: string; body: { retiredKid: string } }) => [e.subjectId, e.body.retiredKid]),
    [['keyring:warrant', oldWarrantKid], ['keyring:ledger', before.find((k) => k.keyring === 'ledger')?.kid]],
  );

  const unknown = await runCli(['keys', 'rotate', 'api', '--json'], env);
  assert.equal(unknown.code, EXIT.INVALID_INPUT);
  assert.equal(unknown.json().error.code, 'CLI_USAGE');
});

test('a rotation refused by a locked database changes no key and records nothing', async () => {
  // A short busy timeout, so the refusal comes quickly (the default waits 5 s).
  const env = homeEnv('locked', { WRIT_STORE_BUSY_TIMEOUT_MS: '300' });
  const homeDir = env.WRIT_HOME;
  const listed = await runCli(['keys', 'signing', '--json'], env);
  assert.equal(listed.code, EXIT.OK, listed.stderr);
  const manifestPath = join(homeDir, 'keys', 'warrant', 'keyring.json');
  const manifestBefore = readFileSync(manifestPath, 'utf8');

  // Another writer holds SQLite's write lock past the busy timeout.
  const other = new Database(join(homeDir, 'writ.db'));
  try {
    other.exec('BEGIN IMMEDIATE');
    const started = Date.now();
    const refused = await runCli(['keys', 'rotate', 'warrant', '--json'], env);
    // The setting is used: the rotation and the closing checkpoint each wait it out once.
    assert.ok(Date.now() - started < 4_000, `refused after ${Date.now() - started} ms`);
    assert.equal(refused.code, EXIT.FAILURE, refused.stdout + refused.stderr);
    assert.equal(refused.json().error.code, 'STORE_BUSY');
    other.exec('ROLLBACK');
  } finally {
    other.close();
  }
  assert.equal(readFileSync(manifestPath, 'utf8'), manifestBefore, 'the keyring is as it was');
  assert.deepEqual((await runCli(['keys', 'signing', '--json'], env)).json().keys, listed.json().keys);
  const recorded = await runCli(['audit', 'tail', '--kinds', 'keyring.rotated', '--json'], env);
  assert.deepEqual(recorded.json().entries, []);
});

test('a rotation whose ledger record cannot be written is taken back', async () => {
  const env = homeEnv('unrecorded');
  const home = await openLocalHome(env);
  try {
    const warrant = openKeyring({ dir: join(env.WRIT_HOME, 'keys', 'warrant'), purpose: 'warrant' });
    const activeBefore = warrant.activeKid;
    // The record fails in SQLite itself, as on a full disk: a trigger on this connection only.
    home.store.db.exec(`CREATE TEMP TRIGGER refuse_rotation BEFORE INSERT ON main.ledger_entries WHEN NEW.kind = 'keyring.rotated'
      BEGIN SELECT RAISE(ABORT, 'no space left for the record (test)'); END`);
    assert.throws(() => rotateSigningKey({ store: home.store, ledger: home.ledger, keyring: warrant }), /no space left for the record/);
    assert.equal(warrant.activeKid, activeBefore, 'the old key is active again');
    const keys = warrant.list();
    assert.equal(keys.length, 2);
    const undone = keys.find((k) => k.kid !== activeBefore);
    assert.ok(undone?.retiredAt, 'the key the failed rotation made is kept, retired');
    assert.equal(keys.find((k) => k.kid === activeBefore)?.retiredAt, null);
    assert.equal(home.ledger.entries({ kinds: ['keyring.rotated'] }).length, 0, 'nothing recorded');

    // Never inside a caller's transaction: a rollback there would drop the record.
    assert.throws(
      () => home.store.transaction(() => rotateSigningKey({ store: home.store, ledger: home.ledger, keyring: warrant })),
      (err: unknown) => isWritError(err, 'INVALID_INPUT'),
    );
    assert.equal(warrant.activeKid, activeBefore);

    // Once the record can be written, a rotation goes through and is on the ledger.
    home.store.db.exec('DROP TRIGGER temp.refuse_rotation');
    const rotated = rotateSigningKey({ store: home.store, ledger: home.ledger, keyring: warrant });
    assert.equal(rotated.retiredKid, activeBefore);
    assert.equal(warrant.activeKid, rotated.activeKid);
    assert.deepEqual(home.ledger.entries({ kinds: ['keyring.rotated'] }).map((e) => e.body), [{ keyring: 'warrant', activeKid: rotated.activeKid, retiredKid: activeBefore }]);
  } finally {
    await home.close();
  }
});

test('a failed record whose rotation another process has already built on is reported, not hidden', async () => {
  const env = homeEnv('moved-on');
  const home = await openLocalHome(env);
  try {
    const dir = join(env.WRIT_HOME, 'keys', 'warrant');
    const warrant = openKeyring({ dir, purpose: 'warrant' });
    const elsewhere = openKeyring({ dir, purpose: 'warrant' });
    let rotatedElsewhere = '';
    // While this rotation's record is being written, another process rotates again; then the
    // record fails. Its rotation can no longer be taken back alone.
    home.store.db.function('rotate_elsewhere', () => {
      rotatedElsewhere = elsewhere.rotate();
      return 1;
    });
    home.store.db.exec(`CREATE TEMP TRIGGER refuse_rotation BEFORE INSERT ON main.ledger_entries WHEN NEW.kind = 'keyring.rotated'
      BEGIN SELECT rotate_elsewhere(); SELECT RAISE(ABORT, 'no space left for the record (test)'); END`);
    assert.throws(
      () => rotateSigningKey({ store: home.store, ledger: home.ledger, keyring: warrant }),
      (err: unknown) => isWritError(err, 'KEYS_ROTATION_UNRECORDED') && /no space left for the record/.test(err.message) && err.details.undo === 'the keyring moved on since (another rotation)',
    );
    assert.equal(warrant.activeKid, rotatedElsewhere, 'the later rotation stands');
    assert.equal(home.ledger.entries({ kinds: ['keyring.rotated'] }).length, 0);
  } finally {
    await home.close();
  }
});
