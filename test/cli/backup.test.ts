// `writ backup DEST` copies a home while a server runs on it: the copy holds every commit
// (those still in the write-ahead log too), its ledger verifies with its own keys and anchor,
// secrets stay owner-only, and a server started on the copy writes the vectors again from
// SQLite, so search works without a manual reindex.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../src/app.js';
import { EXIT } from '../../src/cli/main.js';
import { PACKAGE_ROOT, isWritError, loadConfig } from '../../src/core/index.js';
import { backupDatabase, openStore } from '../../src/store/index.js';
import { runCli } from './helpers.js';
import { capturingLogger } from '../logs.js';
import { waitUntil } from '../wait.js';

const root = mkdtempSync(join(tmpdir(), 'writ-backup-'));
after(() => rmSync(root, { recursive: true, force: true }));
const mode = (path: string): number => statSync(path).mode & 0o777;

test('a backup of a running home is whole and verified, and a server started on it searches at once', async () => {
  const workspace = join(root, 'workspace');
  cpSync(join(PACKAGE_ROOT, 'examples', 'support-desk'), workspace, { recursive: true });
  const home = join(root, 'home');
  const dest = join(root, 'copy');
  const env = { WRIT_HOME: home, WRIT_WORKSPACE: workspace, WRIT_LOG_LEVEL: 'silent' };

  const app = await createApp({ config: loadConfig({ env }) });
  let head: number;
  try {
    // Writes the live process has committed and not yet copied back from its WAL; past the
    // first signed checkpoint (every 1000 entries), which the server names in its anchor file.
    const sam = app.broker.getPrincipalRecord('sam')?.principal;
    assert.ok(sam);
    for (let i = 0; i < 520; i++) app.broker.proposeAndDecide(sam, { action: 'refund.request', targetId: `rf-backup-${i}`, params: { amountCents: 500 + i, currency: 'EUR', orderId: 'ord-1001', recipientAccount: 'acct-1' } });
    head = app.ledger.verify().head.seq;
    assert.ok(head > 1000);
    assert.ok(await waitUntil(() => existsSync(join(home, 'ledger-anchor.json')), 10_000), 'the server wrote its anchor file');

    const run = await runCli(['backup', dest, '--json'], env);
    assert.equal(run.code, EXIT.OK, run.stdout + run.stderr);
    const result = run.json();
    assert.equal(result.ledger.ok, true);
    assert.equal(result.ledger.headSeq, head, 'the copy ends at the live head: nothing left behind in the WAL');
    assert.equal(existsSync(join(home, 'writ.db-wal')), true, 'the home was live, with a write-ahead log');

    // Owner-only: the folder, the database copy and every key file.
    assert.equal(mode(dest), 0o700);
    assert.equal(mode(join(dest, 'writ.db')), 0o600);
    for (const purpose of ['ledger', 'warrant']) {
      const dir = join(dest, 'keys', purpose);
      assert.equal(mode(dir), 0o700);
      assert.ok(readdirSync(dir).some((f) => f.endsWith('.pem')), `${purpose} keys copied`);
      for (const f of readdirSync(dir)) assert.equal(mode(join(dir, f)), 0o600, `${purpose}/${f}`);
    }
    // The manifest names every file with its digest.
    const manifest = JSON.parse(readFileSync(join(dest, 'BACKUP.json'), 'utf8')) as { files: Array<{ path: string; bytes: number; sha256: string }> };
    assert.ok(manifest.files.some((f) => f.path === 'ledger-anchor.json'));
    for (const f of manifest.files) {
      const bytes = readFileSync(join(dest, f.path));
      assert.equal(f.sha256, createHash('sha256').update(bytes).digest('hex'), f.path);
      assert.equal(f.bytes, bytes.length, f.path);
    }

    // Never over another folder's files.
    const again = await runCli(['backup', dest, '--json'], env);
    assert.equal(again.code, EXIT.INVALID_INPUT);
    assert.equal(again.json().error.code, 'CLI_TARGET_EXISTS');

    // Beside a server that commits between every step of the backup: SQLite restarts a
    // backup at each such commit, so it finishes only because it copies in one step.
    // Each turn also grows the file by a few pages, so every pass of a stepwise backup would
    // find more to copy than the last.
    app.store.db.exec('CREATE TABLE backup_filler (b BLOB NOT NULL)');
    const fill = app.store.db.prepare('INSERT INTO backup_filler (b) VALUES (?)');
    let writes = 0;
    let writing = true;
    const writer = (): void => {
      if (!writing) return;
      app.broker.proposeAndDecide(sam, { action: 'refund.request', targetId: `rf-busy-${writes++}`, params: { amountCents: 700, currency: 'EUR', orderId: 'ord-1001', recipientAccount: 'acct-1' } });
      app.store.transaction(() => fill.run(randomBytes(16_384)));
      setImmediate(writer);
    };
    setImmediate(writer);
    const busyStarted = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const tooLong = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the backup did not finish within 30 s beside a writing server')), 30_000);
    });
    const busy = await Promise.race([runCli(['backup', join(root, 'copy-busy'), '--json'], env), tooLong]).finally(() => {
      writing = false;
      clearTimeout(timer);
    });
    assert.equal(busy.code, EXIT.OK, busy.stdout + busy.stderr);
    assert.ok(writes > 0, 'the server wrote while the backup ran');
    assert.ok(busy.json().ledger.headSeq >= head, 'the busy copy holds at least what was committed before it');
    assert.ok(Date.now() - busyStarted < 30_000);
  } finally {
    await app.close();
  }

  // The copy is a home: its own audit verifies, and a server on it rewrites the vectors.
  const copyEnv = { WRIT_HOME: dest, WRIT_WORKSPACE: workspace, WRIT_LOG_LEVEL: 'silent' };
  const verify = await runCli(['audit', 'verify', '--json'], copyEnv);
  assert.equal(verify.code, EXIT.OK, verify.stdout + verify.stderr);
  assert.equal(verify.json().head.seq, head);

  const { logger, entries } = capturingLogger();
  const restored = await createApp({ config: loadConfig({ env: { ...copyEnv, WRIT_RETRIEVAL_EXACT_SCAN_MAX_CHUNKS: '1' } }), logger });
  try {
    const requeued = entries().find((l) => l.msg.startsWith('chroma: the vector index was empty'));
    assert.ok(requeued !== undefined && Number(requeued.requeued) > 0, JSON.stringify(entries()));
    const pending = () => restored.store.db.prepare('SELECT count(*) FROM chunks WHERE active <> in_vector_index').pluck().get() as number;
    assert.ok(await waitUntil(() => pending() === 0, 20_000), `${pending()} vectors still pending`);
    assert.equal(await restored.chroma.heartbeat().then(() => true), true);
    const sam = restored.broker.getPrincipalRecord('sam')?.principal;
    assert.ok(sam);
    const found = await restored.retrieval.retrieve({ principal: sam, query: 'refund policy for damaged items', k: 3, mode: 'dense' });
    assert.equal(found.denseStrategy, 'index');
    assert.ok(found.results.length > 0, 'the index answers from the vectors written again');
  } finally {
    await restored.close();
  }
});

test('backupDatabase never writes over an existing file', async () => {
  const source = join(root, 'source.db');
  const store = openStore({ path: source });
  store.close();
  const target = join(root, 'taken.db');
  writeFileSync(target, 'not a database');
  await assert.rejects(backupDatabase(source, target), (err: unknown) => isWritError(err, 'STORE_BACKUP_TARGET_EXISTS') && err.status === 409);
  assert.equal(readFileSync(target, 'utf8'), 'not a database');
});

test('backup works on the local home only, into a new folder, from a home that exists', async () => {
  const remote = await runCli(['backup', join(root, 'x'), '--server', 'http://127.0.0.1:9', '--json'], { WRIT_LOG_LEVEL: 'silent' });
  assert.equal(remote.code, EXIT.INVALID_INPUT);
  assert.equal(remote.json().error.code, 'CLI_USAGE');
  const missing = await runCli(['backup', join(root, 'y'), '--json'], { WRIT_HOME: join(root, 'nowhere'), WRIT_LOG_LEVEL: 'silent' });
  assert.equal(missing.code, EXIT.NOT_FOUND);
  assert.equal(missing.json().error.code, 'CLI_HOME_NOT_FOUND');
  assert.equal(existsSync(join(root, 'y')), false, 'nothing created for a home that is not there');
  assert.equal(existsSync(join(root, 'nowhere')), false);
});
