// Ctrl-C during `writ ingest`: the command finishes its batch, prints its summary (one JSON
// document with --json) and exits 130 while Chroma is still up; a rerun resumes. A real
// `writ` child process, real home, Chroma and model.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { IngestPathSummary } from '../../src/retrieval/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'writ-cli-interrupt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Files the ingest has committed so far (0 before the first batch, or before the job exists). */
function filesCommitted(dbPath: string): number {
  try {
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT coalesce(max(done), 0) AS n FROM ingest_jobs').get() as { n: number }).n;
    } finally {
      db.close();
    }
  } catch {
    return 0; // not created or not migrated yet
  }
}

/** The URL of the home's Chroma once its owner file names one. */
function chromaUrlOf(home: string): string | null {
  try {
    return (JSON.parse(readFileSync(join(home, 'chroma.owner.json'), 'utf8')) as { url?: string | null }).url ?? null;
  } catch {
    return null; // not written yet, or mid-write
  }
}

interface ChildRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `writ ARGS`; `whileRunning` may signal the child (`isRunning` turns false once it has exited). */
function runWrit(args: string[], env: Record<string, string>, whileRunning?: (pid: number, isRunning: () => boolean) => Promise<void>): Promise<ChildRun> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'writ.mjs'), ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  let running = true;
  const exited = new Promise<ChildRun>((resolve) =>
    child.on('close', (code, signal) => {
      running = false;
      resolve({ code, signal, stdout, stderr });
    }),
  );
  void whileRunning?.(child.pid as number, () => running);
  return exited;
}

/** A folder of `total` small notes: several ingest batches (a batch is about 1,000,000 characters). */
function writeNotes(total: number): string {
  const kb = mkdtempSync(join(dir, 'kb-'));
  for (let i = 0; i < total; i++) {
    writeFileSync(join(kb, `note-${String(i).padStart(5, '0')}.md`), `# Note ${i}\n\n${`Refund ticket ${i}: the teapot arrived cracked. `.repeat(9)}\n`);
  }
  return kb;
}

async function until(isRunning: () => boolean, cond: () => boolean): Promise<boolean> {
  while (isRunning() && !cond()) await new Promise((r) => setTimeout(r, 50));
  return isRunning();
}

type Summary = Pick<IngestPathSummary, 'jobId' | 'resumed' | 'interrupted' | 'filesTotal' | 'filesSkipped' | 'created'>;

/** The interrupted run's summary, then a rerun that resumes the same job and ingests the rest. */
async function expectInterruptedThenResumed(first: ChildRun, args: string[], env: Record<string, string>, total: number): Promise<Summary> {
  assert.equal(first.code, EXIT.INTERRUPTED, `exit code; stdout: ${first.stdout}\nstderr: ${first.stderr}`);
  assert.notEqual(first.stdout, '', `one JSON document on stdout; stderr: ${first.stderr}`);
  const summary = JSON.parse(first.stdout) as Summary;
  assert.equal(summary.interrupted, true);
  assert.equal(summary.filesTotal, total);
  assert.ok(summary.created < total, `created ${summary.created}`);

  const second = await runWrit(args, env);
  assert.equal(second.code, EXIT.OK, `stdout: ${second.stdout}\nstderr: ${second.stderr}`);
  const resumed = JSON.parse(second.stdout) as Summary;
  // A file whose document closed a batch is committed but stays pending, so it may be skipped as unchanged.
  assert.deepEqual([resumed.resumed, resumed.interrupted, resumed.jobId, resumed.created], [true, false, summary.jobId, total - summary.created]);
  assert.ok(resumed.filesSkipped <= summary.created && resumed.filesSkipped >= summary.created - 1, `skipped ${resumed.filesSkipped} of ${summary.created}`);
  return summary;
}

test('Ctrl-C once Chroma is up leaves it running for the command: --json summary with interrupted, exit 130, a rerun resumes', { timeout: 240_000 }, async () => {
  const total = 3000;
  const kb = writeNotes(total);
  const home = join(dir, 'home-startup');
  const env = { WRIT_HOME: home, WRIT_LOG_LEVEL: 'silent' };
  const args = ['ingest', kb, '--tenant', 'acme', '--readers', '*', '--json'];
  let signalled = false;
  const first = await runWrit(args, env, async (pid, isRunning) => {
    // Chroma answers, so it has registered its shutdown hook (the old code then stopped it
    // under the command); the model still loads, so the ingest has not begun.
    let up = false;
    const poll = (): void => {
      const url = chromaUrlOf(home);
      if (url !== null) void fetch(`${url}/api/v2/heartbeat`).then((r) => (up = r.ok), () => undefined);
    };
    if (!(await until(isRunning, () => (poll(), up)))) return;
    await new Promise((r) => setTimeout(r, 200));
    if (isRunning()) {
      process.kill(pid, 'SIGINT');
      signalled = true;
    }
  });
  assert.ok(signalled, `the child ran until Chroma started; stderr: ${first.stderr}`);
  await expectInterruptedThenResumed(first, args, env, total);
});

// TODO: passes once src/retrieval/ingest-path.ts lets the event loop turn after each batch
// (`await new Promise((r) => setImmediate(r))` at the end of `flush`): with a fast model a
// whole ingest runs without one, so the signal is only seen when the ingest has ended.
test('Ctrl-C after the first batch finishes that batch, prints the --json summary with interrupted, exits 130, and a rerun resumes', { timeout: 240_000 }, async () => {
  const total = 8000;
  const kb = writeNotes(total);
  const home = join(dir, 'home-batch');
  const env = { WRIT_HOME: home, WRIT_LOG_LEVEL: 'silent' };
  const args = ['ingest', kb, '--tenant', 'acme', '--readers', '*', '--json'];
  let committedAtSignal = 0;
  const first = await runWrit(args, env, async (pid, isRunning) => {
    // "Progress has started": the first batch is committed (with --json no progress line is printed).
    if (await until(isRunning, () => (committedAtSignal = filesCommitted(join(home, 'writ.db'))) > 0)) process.kill(pid, 'SIGINT');
  });
  assert.ok(committedAtSignal > 0 && committedAtSignal < total, `signalled mid-ingest (${committedAtSignal} files committed); stderr: ${first.stderr}`);
  const summary = await expectInterruptedThenResumed(first, args, env, total);
  assert.ok(summary.created >= committedAtSignal, `kept the committed batches: ${summary.created} >= ${committedAtSignal}`);
});
