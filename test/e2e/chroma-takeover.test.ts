// One Chroma per data folder, across processes: a server that started while another Writ
// process (a local `writ ingest`, say) owned the home's Chroma uses that Chroma, and keeps
// working after that process ends — it takes the folder over and moves its index there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/core/index.js';
import { ownerFileOf } from '../../src/retrieval/chroma-server.js';
import { capturingLogger } from '../logs.js';
import { waitUntil } from '../wait.js';

test('a server sharing another process\'s chroma takes the data folder over when that process ends', async () => {
  const home = mkdtempSync(join(tmpdir(), 'writ-takeover-'));
  const dataDir = join(home, 'chroma');
  const script = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'retrieval', 'chroma-server.ts')).href;
  // The other process: starts the home's Chroma and waits, like a long local command would.
  const code = `const { startChroma } = await import(${JSON.stringify(script)});
    const s = await startChroma({ dataDir: ${JSON.stringify(dataDir)} });
    process.stdout.write('PID ' + s.pid + '\\n');
    setInterval(() => {}, 1000);`;
  const other = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const otherExit = new Promise<void>((r) => other.once('exit', () => r()));
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      other.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (/PID \d+/.test(out)) resolve();
      });
      other.once('exit', () => reject(new Error(`the owner process exited early: ${out}`)));
    });
    // Dense searches go through the Chroma index (not the exact scan) in this home.
    const app = await createApp({ config: loadConfig({ env: { WRIT_HOME: home, WRIT_LOG_LEVEL: 'silent', WRIT_RETRIEVAL_EXACT_SCAN_MAX_CHUNKS: '1' } }) });
    try {
      assert.equal(app.chroma.mode, 'shared');
      const sam = app.broker.getPrincipalRecord('sam')?.principal;
      assert.ok(sam, 'the sample workspace has sam');
      const before = await app.retrieval.retrieve({ principal: sam, query: 'refund for a cracked teapot', k: 3, mode: 'dense' });
      assert.equal(before.denseStrategy, 'index');
      assert.ok(before.results.length > 0);

      other.kill('SIGTERM');
      await otherExit;
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
    other.kill('SIGKILL');
    await otherExit;
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
