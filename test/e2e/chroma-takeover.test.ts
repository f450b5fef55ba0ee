// One Chroma per data folder, across processes: a server that started while another Writ
// process (a local `writ ingest`, say) owned the home's Chroma uses that Chroma, and keeps
// working after that process ends — it takes the folder over and moves its index there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/core/index.js';
import { ownerFileOf, startChroma, type ChromaServer } from '../../src/retrieval/chroma-server.js';
import { superviseChroma, type SupervisedRetrieval } from '../../src/retrieval/chroma-supervision.js';
import { openVectorIndex } from '../../src/retrieval/vector-index.js';
import { capturingLogger } from '../logs.js';
import { waitUntil } from '../wait.js';

/** Another process that starts the Chroma of `dataDir` and waits, like a long local command would. */
async function startOwnerProcess(dataDir: string): Promise<{ stop(): Promise<void>; kill(): Promise<void> }> {
  const script = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'retrieval', 'chroma-server.ts')).href;
  const code = `const { startChroma } = await import(${JSON.stringify(script)});
    const s = await startChroma({ dataDir: ${JSON.stringify(dataDir)} });
    process.stdout.write('PID ' + s.pid + '\\n');
    setInterval(() => {}, 1000);`;
  const other = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => other.once('exit', () => r()));
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (other.exitCode === null && other.signalCode === null) other.kill(signal);
    await exited;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      other.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (/PID \d+/.test(out)) resolve();
      });
      other.once('exit', () => reject(new Error(`the owner process exited early: ${out}`)));
    });
  } catch (err) {
    await end('SIGKILL');
    throw err;
  }
  return { stop: () => end('SIGTERM'), kill: () => end('SIGKILL') };
}

/** The test collection on `server` (small vectors; these tests check supervision, not search). */
const openTestIndex = (server: ChromaServer, onMismatch: 'refuse' | 'rebuild') =>
  openVectorIndex({ server, collection: 'supervision', modelId: 'test-model', dimension: 3, onMismatch });

/** What the supervisor asks of retrieval, for a process with nothing pending; counts the index checks. */
function idleRetrieval(): SupervisedRetrieval & { reconciles: number } {
  const idle = {
    reconciles: 0,
    reconcileVectorIndex: async () => {
      idle.reconciles += 1;
      return { found: 0, requeued: 0 };
    },
    resumeVectorSync: () => undefined,
    syncVectors: async () => ({ upserted: 0, deleted: 0 }),
  };
  return idle;
}

test('a server sharing another process\'s chroma takes the data folder over when that process ends', async () => {
  const home = mkdtempSync(join(tmpdir(), 'writ-takeover-'));
  const dataDir = join(home, 'chroma');
  let other: Awaited<ReturnType<typeof startOwnerProcess>> | undefined;
  try {
    other = await startOwnerProcess(dataDir);
    // Dense searches go through the Chroma index (not the exact scan) in this home.
    const app = await createApp({ config: loadConfig({ env: { WRIT_HOME: home, WRIT_LOG_LEVEL: 'silent', WRIT_RETRIEVAL_EXACT_SCAN_MAX_CHUNKS: '1' } }) });
    try {
      assert.equal(app.chroma.mode, 'shared');
      const sam = app.broker.getPrincipalRecord('sam')?.principal;
      assert.ok(sam, 'the sample workspace has sam');
      const before = await app.retrieval.retrieve({ principal: sam, query: 'refund for a cracked teapot', k: 3, mode: 'dense' });
      assert.equal(before.denseStrategy, 'index');
      assert.ok(before.results.length > 0);

      await other.stop();
      assert.ok(await waitUntil(() => app.chroma.mode === 'embedded', 15_000), 'the server took the data folder over');
      const owner = JSON.parse(readFileSync(ownerFileOf(dataDir), 'utf8')) as { pid: number; url: string };
      assert.deepEqual([owner.pid, owner.url], [process.pid, app.chroma.url]);
      const health = await app.health();
      assert.equal(health.parts.chroma.status, 'ok');
      assert.equal(health.parts.chroma.mode, 'embedded');
      // The vectors written through the other process's Chroma are in the folder, and the
      // index now answers from the new server.
      const after = await app.retrieval.retrieve({ principal: sam, query: 'refund for a cracked teapot', k: 3, mode: 'dense' });
      assert.equal(after.denseStrategy, 'index');
      assert.deepEqual(after.results.map((r) => r.chunkId), before.results.map((r) => r.chunkId));
    } finally {
      await app.close();
    }
  } finally {
    await other?.kill();
    rmSync(home, { recursive: true, force: true });
  }
});

test('an embedded chroma that dies is started again; what was ingested meanwhile reaches the new one', async () => {
  const home = mkdtempSync(join(tmpdir(), 'writ-restart-'));
  try {
    const { logger, entries } = capturingLogger();
    const app = await createApp({ config: loadConfig({ env: { WRIT_HOME: home, WRIT_LOG_LEVEL: 'silent', WRIT_RETRIEVAL_EXACT_SCAN_MAX_CHUNKS: '1' } }), logger });
    try {
      assert.equal(app.chroma.mode, 'embedded');
      const sam = app.broker.getPrincipalRecord('sam')?.principal;
      assert.ok(sam, 'the sample workspace has sam');
      const first = app.chroma;
      const firstPid = first.pid as number;
      process.kill(firstPid, 'SIGKILL');
      assert.ok(await waitUntil(() => !first.isRunning(), 10_000), 'the child is seen to exit');

      // While it is down: the ingest commits, its vectors wait in SQLite.
      const [outcome] = await app.retrieval.ingest([
        { tenant: 'acme', sourceUri: 'kb://restart/lighthouse', title: 'Lighthouse keeper', text: 'The lighthouse keeper polishes the great lens every foggy evening.', readers: ['*'] },
      ]);
      assert.equal(outcome?.vectors, 'pending');

      assert.ok(await waitUntil(() => app.chroma !== first && app.chroma.isRunning(), 20_000), 'a new chroma was started');
      assert.equal(app.chroma.mode, 'embedded');
      assert.notEqual(app.chroma.pid, firstPid);
      const owner = JSON.parse(readFileSync(ownerFileOf(join(home, 'chroma')), 'utf8')) as { pid: number; url: string };
      assert.deepEqual([owner.pid, owner.url], [process.pid, app.chroma.url]);
      assert.equal((await app.health()).parts.chroma.status, 'ok');

      // The pending vectors were pushed to the new server: the index itself finds the new document.
      const pendingLeft = () => app.store.db.prepare('SELECT count(*) FROM chunks WHERE active <> in_vector_index').pluck().get() as number;
      assert.ok(await waitUntil(() => pendingLeft() === 0, 10_000), 'no vectors left pending');
      assert.equal((await app.health()).parts.chroma.pendingVectors, 0);
      const found = await app.retrieval.retrieve({ principal: sam, query: 'lighthouse keeper lens', k: 3, mode: 'dense' });
      assert.equal(found.denseStrategy, 'index');
      assert.equal(found.results[0]?.documentId, outcome?.documentId);

      // A child that dies within a minute of its start is crashing: each next start waits
      // longer (2 s, 4 s, 8 s…), /health says how it ended and when the next try comes, and the
      // third crash in a row is logged as an error.
      const health = await app.health();
      assert.equal(health.parts.chroma.restarts, 1);
      assert.equal(health.parts.chroma.lastExit?.signal, 'SIGKILL');
      assert.equal(health.parts.chroma.crashesInARow, 1);
      const second = app.chroma;
      process.kill(second.pid as number, 'SIGKILL');
      assert.ok(await waitUntil(() => !second.isRunning(), 10_000), 'the second child is seen to exit');
      const down = (await app.health()).parts.chroma;
      assert.equal(down.status, 'down');
      assert.equal(down.crashesInARow, 2);
      assert.ok(down.lastExit !== null && down.lastExit.ranMs < 60_000, `ran ${down.lastExit?.ranMs} ms`);
      assert.ok(down.nextStartInMs !== null && down.nextStartInMs > 2_000 && down.nextStartInMs <= 4_000, `next start in ${down.nextStartInMs} ms`);
      assert.equal(entries().filter((l) => l.level === 50 && l.msg.startsWith('chroma: keeps failing')).length, 0);
      assert.ok(await waitUntil(() => app.chroma !== second && app.chroma.isRunning(), 20_000), 'a third chroma was started');
      assert.equal((await app.health()).parts.chroma.restarts, 2);
      const third = app.chroma;
      process.kill(third.pid as number, 'SIGKILL');
      assert.ok(await waitUntil(() => !third.isRunning(), 10_000), 'the third child is seen to exit');
      const alarm = entries().filter((l) => l.level === 50 && l.msg.startsWith('chroma: keeps failing'));
      assert.equal(alarm.length, 1);
      assert.equal(alarm[0]?.crashesInARow, 3);
      assert.ok(((await app.health()).parts.chroma.nextStartInMs ?? 0) > 4_000, 'the wait doubled again');
    } finally {
      await app.close();
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('failed takeovers of a shared folder are counted, the third in a row is logged as an error, and a later one succeeds', async () => {
  const home = mkdtempSync(join(tmpdir(), 'writ-takeover-fails-'));
  const dataDir = join(home, 'chroma');
  // The port this process's own Chroma must use is taken, so taking the folder over fails
  // until it is free again.
  const blocker = createServer();
  let other: Awaited<ReturnType<typeof startOwnerProcess>> | undefined;
  try {
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    other = await startOwnerProcess(dataDir);
    const shared = await startChroma({ dataDir });
    assert.equal(shared.mode, 'shared');
    const { logger, entries } = capturingLogger();
    const retrieval = idleRetrieval();
    const supervisor = await superviseChroma({
      server: shared,
      startOwn: () => startChroma({ dataDir, port, logger }),
      openIndex: openTestIndex,
      restartOnExit: true,
      logger,
      timing: { checkEveryMs: 100 },
    });
    try {
      await supervisor.watch(retrieval);
      assert.equal(retrieval.reconciles, 1, 'the index is checked once at watch');
      await supervisor.index.upsert([{ id: 'a', vector: [1, 0, 0], metadata: { tenant: 't', doc: 'd' } }]);

      await other.stop();
      const alarms = () => entries().filter((l) => l.level === 50 && l.msg.startsWith('chroma: keeps failing (taking over the data folder failed)'));
      assert.ok(await waitUntil(() => alarms().length === 1, 15_000), 'the third failed takeover is logged as an error');
      assert.equal(alarms()[0]?.crashesInARow, 3);
      const warnings = entries().filter((l) => l.level === 40 && l.msg === 'chroma: taking over the data folder failed; retrying');
      assert.ok(warnings.length >= 3);
      assert.equal(warnings[0]?.retryInMs, 100, 'tried again at the next check: the wait does not grow');
      const down = await supervisor.status();
      assert.equal(down.status, 'down');
      assert.equal(down.mode, 'shared');
      assert.ok(down.crashesInARow >= 3);
      assert.equal(down.nextStartInMs, null, 'not an embedded child: no scheduled start');

      // Once the port is free the next check takes the folder over, and the index (with what
      // was written through the other process's Chroma) answers from the new server.
      await new Promise<void>((r) => blocker.close(() => r()));
      assert.ok(await waitUntil(() => supervisor.chroma.mode === 'embedded', 30_000), 'the folder was taken over');
      const up = await supervisor.status();
      assert.equal(up.status, 'ok');
      assert.equal(up.restarts, 1);
      assert.equal(supervisor.chroma.url, `http://127.0.0.1:${port}`);
      assert.equal(await supervisor.index.count(), 1);
      assert.equal(alarms().length, 1, 'the alarm is raised once per streak');
      assert.ok(await waitUntil(() => retrieval.reconciles === 2, 5_000), 'the moved index is checked against SQLite again');
    } finally {
      await supervisor.close();
    }
    assert.equal(supervisor.chroma.isRunning(), false, 'close stops the server this process started');
  } finally {
    blocker.close();
    await other?.kill();
    rmSync(home, { recursive: true, force: true });
  }
});

test('a close while a takeover is starting a chroma waits for it and stops it', async () => {
  const home = mkdtempSync(join(tmpdir(), 'writ-takeover-close-'));
  const dataDir = join(home, 'chroma');
  let other: Awaited<ReturnType<typeof startOwnerProcess>> | undefined;
  try {
    other = await startOwnerProcess(dataDir);
    const shared = await startChroma({ dataDir });
    assert.equal(shared.mode, 'shared');
    const started: ChromaServer[] = [];
    let startsBegun = 0;
    let release = (): void => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const supervisor = await superviseChroma({
      server: shared,
      // The real start, seen from outside (when it began, what it started), held at the gate
      // until the close has begun.
      startOwn: async () => {
        startsBegun += 1;
        await gate;
        const server = await startChroma({ dataDir });
        started.push(server);
        return server;
      },
      openIndex: openTestIndex,
      restartOnExit: true,
      logger: capturingLogger().logger,
      timing: { checkEveryMs: 50 },
    });
    await supervisor.watch(idleRetrieval());
    await other.stop();
    assert.ok(await waitUntil(() => startsBegun === 1, 15_000), 'a takeover began');
    const closing = supervisor.close();
    release();
    await closing;
    assert.equal(started.length, 1, 'close waited for the start under way');
    assert.equal(started[0]?.isRunning(), false, 'and stopped the chroma it started');
    assert.equal(supervisor.chroma, shared, 'the index never moved to it');
    assert.equal(startsBegun, 1, 'no start after the close');
  } finally {
    await other?.kill();
    rmSync(home, { recursive: true, force: true });
  }
});
