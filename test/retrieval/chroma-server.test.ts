import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isWritError } from '../../src/core/index.js';
import { connectChroma, ownerFileOf, pickFreePort, startChroma, type ChromaExit, type ChromaServer } from '../../src/retrieval/chroma-server.js';
import { openVectorIndex } from '../../src/retrieval/vector-index.js';
import { waitUntil } from '../wait.js';

/** True while `pid` runs (a zombie waiting to be reaped counts as gone). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('embedded chroma server', () => {
  let dir: string;
  let shared: ChromaServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'writ-'));
    shared = await startChroma({ dataDir: join(dir, 'shared') });
  });
  after(async () => {
    await shared?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('starts the chroma CLI of the chromadb package on a loopback port and answers its heartbeat', async () => {
    assert.match(shared.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(typeof shared.pid, 'number');
    assert.ok(isAlive(shared.pid as number));
    assert.equal(shared.version, '1.0.0');
    assert.equal(shared.isRunning(), true);
    await shared.heartbeat();
    const res = await fetch(`${shared.url}/api/v2/heartbeat`);
    assert.equal(res.status, 200);
    assert.ok('nanosecond heartbeat' in ((await res.json()) as object));
    assert.ok(shared.lastLogLines().some((l) => l.includes('Saving data to')), 'the ring buffer holds the child output');
    assert.ok(shared.lastLogLines(2).length <= 2);
    assert.ok(!shared.lastLogLines().some((l) => l.includes('\u001b[')), 'ANSI colours are stripped');
  });

  test('stop ends the child, leaves no process, reports an expected exit and is idempotent', async () => {
    const server = await startChroma({ dataDir: join(dir, 'stop') });
    const pid = server.pid as number;
    const exits: ChromaExit[] = [];
    server.onExit((e) => exits.push(e));
    await Promise.all([server.stop(), server.stop()]);
    await server.stop();
    assert.equal(isAlive(pid), false, `chroma pid ${pid} is gone`);
    assert.equal(server.isRunning(), false);
    assert.equal(exits.length, 1);
    assert.equal(exits[0]?.expected, true);
  });

  test('refuses a port that another listener holds, before starting anything', async () => {
    const holder: Server = createServer();
    const port = await pickFreePort('127.0.0.1');
    await new Promise<void>((r) => holder.listen(port, '127.0.0.1', () => r()));
    try {
      await assert.rejects(startChroma({ dataDir: join(dir, 'taken'), port }), (err: unknown) => {
        assert.ok(isWritError(err, 'RETRIEVAL_CHROMA_START_FAILED'));
        assert.match(err.message, new RegExp(`port \`${port}\``));
        assert.equal(err.details.port, port);
        return true;
      });
    } finally {
      holder.close();
    }
  });

  test('a data folder that is a file gives a typed start error carrying the child log lines', async () => {
    const file = join(dir, 'not-a-folder');
    writeFileSync(file, 'x');
    await assert.rejects(startChroma({ dataDir: file }), (err: unknown) => {
      assert.ok(isWritError(err, 'RETRIEVAL_CHROMA_START_FAILED'));
      assert.match(err.message, /File exists/);
      const lines = err.details.lastLogLines as string[];
      assert.ok(Array.isArray(lines) && lines.some((l) => l.includes('File exists')), 'the error holds what chroma said');
      assert.ok(!isAlive(err.details.pid as number), 'the failed child is gone');
      return true;
    });
  });

  test('a start that times out kills its child and says so', async () => {
    await assert.rejects(startChroma({ dataDir: join(dir, 'slow'), startTimeoutMs: 200 }), (err: unknown) => {
      assert.ok(isWritError(err, 'RETRIEVAL_CHROMA_START_FAILED'));
      assert.match(err.message, /did not answer `\/api\/v2\/heartbeat` within 200 ms/);
      assert.ok(!isAlive(err.details.pid as number));
      return true;
    });
  });

  test('a child killed mid-run (SIGKILL) makes index calls fail with RETRIEVAL_CHROMA_UNAVAILABLE naming the cause', async () => {
    const server = await startChroma({ dataDir: join(dir, 'killed') });
    try {
      const index = await openVectorIndex({ server, collection: 'killed-test', modelId: 'm', dimension: 3 });
      await index.upsert([{ id: 'a', vector: new Float32Array([1, 0, 0]), metadata: { t: 'x' } }]);
      const exited = new Promise<ChromaExit>((r) => server.onExit(r));
      process.kill(server.pid as number, 'SIGKILL');
      const exit = await exited;
      assert.deepEqual(exit, { code: null, signal: 'SIGKILL', expected: false });
      assert.equal(server.isRunning(), false);

      await assert.rejects(index.query({ vector: new Float32Array([1, 0, 0]), k: 1 }), (err: unknown) => {
        assert.ok(isWritError(err, 'RETRIEVAL_CHROMA_UNAVAILABLE'));
        assert.equal(err.status, 503);
        // e.g. "query on `killed-test` failed: the embedded chroma (pid 123) exited unexpectedly with
        // signal `SIGKILL`: a running Writ app starts a new one within seconds (if this persists, restart writ); …"
        assert.match(err.message, /^query on `killed-test` failed: the embedded chroma \(pid \d+\) exited unexpectedly with signal `SIGKILL`: a running Writ app starts a new one within seconds \(if this persists, restart writ\)/);
        assert.equal(err.details.signal, 'SIGKILL');
        assert.ok((err.details.lastLogLines as string[]).length > 0);
        return true;
      });
      await assert.rejects(server.heartbeat(), (err: unknown) => isWritError(err, 'RETRIEVAL_CHROMA_UNAVAILABLE'));
    } finally {
      await server.stop();
    }
  });

  test('connectChroma uses a running server, reports its version and starts nothing', async () => {
    const external = await connectChroma(`${shared.url}/`);
    assert.equal(external.url, shared.url);
    assert.equal(external.pid, null);
    assert.equal(external.version, '1.0.0');
    await external.heartbeat();
    await external.stop();
    assert.ok(isAlive(shared.pid as number), 'stopping an external server leaves it alone');
  });

  test('connectChroma to a closed port gives RETRIEVAL_CHROMA_UNAVAILABLE', async () => {
    const port = await pickFreePort('127.0.0.1');
    await assert.rejects(connectChroma(`http://127.0.0.1:${port}`, { timeoutMs: 1000 }), (err: unknown) => {
      assert.ok(isWritError(err, 'RETRIEVAL_CHROMA_UNAVAILABLE'));
      assert.match(err.message, new RegExp(`chroma at \`http://127.0.0.1:${port}\` does not answer: .*ECONNREFUSED.*CHROMA_URL`));
      return true;
    });
  });

  describe('one chroma per data folder', () => {
    test('a second start in the same process shares the running chroma; stopping it stops nothing', async () => {
      const second = await startChroma({ dataDir: join(dir, 'shared') });
      assert.equal(shared.mode, 'embedded');
      assert.equal(second.mode, 'shared');
      assert.equal(second.url, shared.url);
      assert.equal(second.pid, null);
      assert.equal(second.dataDir, shared.dataDir);
      await second.heartbeat();
      await second.stop();
      await shared.heartbeat();
      assert.ok(isAlive(shared.pid as number));
      const owner = JSON.parse(readFileSync(ownerFileOf(join(dir, 'shared')), 'utf8')) as { pid: number; url: string; chromaPid: number };
      assert.deepEqual([owner.pid, owner.url, owner.chromaPid], [process.pid, shared.url, shared.pid]);
    });

    test('a live owner whose chroma does not answer is refused with a typed error, and no second chroma starts', async () => {
      const dataDir = join(dir, 'hung-owner');
      const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
      try {
        const port = await pickFreePort('127.0.0.1');
        writeFileSync(ownerFileOf(dataDir), JSON.stringify({ pid: sleeper.pid, url: `http://127.0.0.1:${port}`, chromaPid: null, startedAt: new Date().toISOString() }));
        await assert.rejects(startChroma({ dataDir }), (err: unknown) => {
          assert.ok(isWritError(err, 'RETRIEVAL_CHROMA_START_FAILED'));
          assert.match(err.message, new RegExp(`belongs to the chroma of process ${sleeper.pid} at .* which does not answer .*must not share a folder: stop process ${sleeper.pid}`));
          assert.equal(err.details.ownerPid, sleeper.pid);
          return true;
        });
        assert.equal((JSON.parse(readFileSync(ownerFileOf(dataDir), 'utf8')) as { pid: number }).pid, sleeper.pid, 'the live owner keeps its claim');
      } finally {
        sleeper.kill('SIGKILL');
      }
    });

    test('an owner file cut short by a crash does not block the folder', async () => {
      const dataDir = join(dir, 'garbled-owner');
      writeFileSync(ownerFileOf(dataDir), '{"pid": 12');
      const server = await startChroma({ dataDir });
      try {
        assert.equal(server.mode, 'embedded');
        assert.equal((JSON.parse(readFileSync(ownerFileOf(dataDir), 'utf8')) as { url: string }).url, server.url);
      } finally {
        await server.stop();
      }
    });
  });

  describe('no orphans', () => {
    const script = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'retrieval', 'chroma-server.ts')).href;

    /** Starts a Node process that starts chroma and prints its pid. */
    async function parentWithChroma(dataDir: string): Promise<{ parent: ReturnType<typeof spawn>; chromaPid: number; exitCode: Promise<number | null> }> {
      const code = `const { startChroma } = await import(${JSON.stringify(script)});
        const s = await startChroma({ dataDir: ${JSON.stringify(dataDir)} });
        process.stdout.write('PID ' + s.pid + '\\n');
        setInterval(() => {}, 1000);`;
      const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exitCode = new Promise<number | null>((r) => parent.once('exit', (c, s) => r(c ?? (s === null ? null : -1))));
      const chromaPid = await new Promise<number>((resolvePid, reject) => {
        let out = '';
        parent.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /PID (\d+)/.exec(out);
          if (m) resolvePid(Number(m[1]));
        });
        parent.once('exit', () => reject(new Error(`parent exited before chroma started: ${out}`)));
      });
      return { parent, chromaPid, exitCode };
    }

    test('the child ends itself when Writ is killed with SIGKILL', async () => {
      const { parent, chromaPid, exitCode } = await parentWithChroma(join(dir, 'orphan-kill'));
      assert.ok(isAlive(chromaPid));
      parent.kill('SIGKILL');
      await exitCode;
      assert.ok(await waitUntil(() => !isAlive(chromaPid), 5000, 50), `chroma pid ${chromaPid} outlived its SIGKILLed parent`);
    });

    test('a second Writ process on the same data folder shares the first one\'s chroma; a killed owner\'s folder is taken over', async () => {
      const dataDir = join(dir, 'owned-elsewhere');
      const { parent, chromaPid, exitCode } = await parentWithChroma(dataDir);
      const owner = JSON.parse(readFileSync(ownerFileOf(dataDir), 'utf8')) as { pid: number; url: string; chromaPid: number };
      assert.equal(owner.pid, parent.pid);
      assert.equal(owner.chromaPid, chromaPid);

      const second = await startChroma({ dataDir });
      assert.equal(second.mode, 'shared');
      assert.equal(second.pid, null, 'no second chroma was started');
      assert.equal(second.url, owner.url);
      const index = await openVectorIndex({ server: second, collection: 'shared-test', modelId: 'm', dimension: 3 });
      await index.upsert([{ id: 'a', vector: new Float32Array([1, 0, 0]), metadata: { t: 'x' } }]);
      assert.deepEqual((await index.query({ vector: new Float32Array([1, 0, 0]), k: 1 })).map((h) => h.id), ['a']);
      await second.stop();
      assert.ok(isAlive(chromaPid), 'stopping a shared server leaves the owner\'s chroma running');

      // The owner dies without cleaning up: its file stays, and the next start takes the folder over.
      parent.kill('SIGKILL');
      await exitCode;
      assert.ok(await waitUntil(() => !isAlive(chromaPid), 5000, 50));
      assert.ok(existsSync(ownerFileOf(dataDir)), 'a SIGKILLed owner leaves its file behind');
      const third = await startChroma({ dataDir });
      try {
        assert.equal(third.mode, 'embedded');
        assert.equal(typeof third.pid, 'number');
        assert.equal((JSON.parse(readFileSync(ownerFileOf(dataDir), 'utf8')) as { pid: number }).pid, process.pid);
        const reopened = await openVectorIndex({ server: third, collection: 'shared-test', modelId: 'm', dimension: 3 });
        assert.deepEqual((await reopened.query({ vector: new Float32Array([1, 0, 0]), k: 1 })).map((h) => h.id), ['a'], 'the vector written through the shared server is in the folder');
      } finally {
        await third.stop();
      }
      assert.equal(existsSync(ownerFileOf(dataDir)), false, 'stop releases the folder');
    });

    test('SIGTERM to Writ stops its chroma child and exits with 143', async () => {
      const { parent, chromaPid, exitCode } = await parentWithChroma(join(dir, 'orphan-term'));
      parent.kill('SIGTERM');
      assert.equal(await exitCode, 143);
      assert.equal(isAlive(chromaPid), false, 'the shutdown hook stopped chroma before the exit');
      assert.equal(existsSync(ownerFileOf(join(dir, 'orphan-term'))), false, 'and released the data folder');
    });
  });
});
