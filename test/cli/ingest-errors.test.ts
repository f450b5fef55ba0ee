// `writ ingest` on bad input: a named file Writ cannot load fails with a typed error, and
// `--watch` reports a change that fails to load and keeps watching. Real home, Chroma, model.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Database from 'better-sqlite3';
import { main } from '../../src/cli/main.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { runCli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'writ-cli-ingest-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function documentCount(path: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM documents').get() as { n: number }).n;
  } catch {
    return 0; // not migrated yet
  } finally {
    db.close();
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600 && !cond(); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(cond(), `timed out waiting for ${what}`);
}

describe('writ ingest', () => {
  test('an explicitly named file of an unsupported type fails with RETRIEVAL_LOAD_FAILED naming it', async () => {
    const pdf = join(dir, 'manual.pdf');
    writeFileSync(pdf, '%PDF-1.4');
    const run = await runCli(['ingest', pdf, '--tenant', 'acme', '--readers', '*', '--json'], { WRIT_HOME: join(dir, 'home-pdf'), WRIT_LOG_LEVEL: 'silent' });
    assert.equal(run.code, EXIT.INVALID_INPUT, run.stdout + run.stderr);
    const { error } = run.json<{ error: { code: string; details: { path: string } } }>();
    assert.equal(error.code, 'RETRIEVAL_LOAD_FAILED');
    assert.equal(error.details.path, pdf);
  });

  test('a folder with files Writ cannot load ingests the rest, names each failure, exits 2, and a rerun retries only those', async () => {
    const root = mkdtempSync(join(dir, 'partial-'));
    const kb = join(root, 'kb');
    mkdirSync(kb);
    writeFileSync(join(kb, 'a-policy.md'), '# Refunds\n\nRefunds take five days.\n');
    writeFileSync(join(kb, 'b-broken.json'), '{"id": "1", "text": ');
    writeFileSync(join(kb, 'c-latin1.txt'), Buffer.from([0x43, 0x61, 0x66, 0xe9, 0x20, 0x6d, 0x65, 0x6e, 0xfa]));
    writeFileSync(join(kb, 'd-notes.txt'), 'Order ord-1001 arrived cracked.\n');
    const env = { WRIT_HOME: join(root, 'home'), WRIT_LOG_LEVEL: 'silent' };
    const args = ['ingest', kb, '--tenant', 'acme', '--readers', '*', '--json'];
    const first = await runCli(args, env);
    assert.equal(first.code, EXIT.INVALID_INPUT, first.stdout + first.stderr);
    const summary = first.json<{ created: number; failed: Array<{ path: string; code: string }> }>();
    assert.equal(summary.created, 2, 'the two good files are in');
    assert.deepEqual(summary.failed.map((f) => [f.path, f.code]), [[join(kb, 'b-broken.json'), 'RETRIEVAL_LOAD_FAILED'], [join(kb, 'c-latin1.txt'), 'RETRIEVAL_LOAD_FAILED']]);
    assert.equal(documentCount(join(root, 'home', 'writ.db')), 2);

    writeFileSync(join(kb, 'b-broken.json'), '{"id": "1", "text": "Finance approves refunds over 100 EUR."}');
    writeFileSync(join(kb, 'c-latin1.txt'), 'Café menu\n');
    // A file the first run did is edited meanwhile: the resumed job ingests it again.
    writeFileSync(join(kb, 'a-policy.md'), '# Refunds\n\nRefunds take three days.\n');
    const second = await runCli(args, env);
    assert.equal(second.code, EXIT.OK, second.stdout + second.stderr);
    const resumed = second.json<{ created: number; updated: number; filesSkipped: number; resumed: boolean; failed: unknown[] }>();
    assert.deepEqual([resumed.resumed, resumed.filesSkipped, resumed.created, resumed.updated, resumed.failed.length], [true, 1, 2, 1, 0]);
    assert.equal(documentCount(join(root, 'home', 'writ.db')), 4);
  });

  for (const json of [false, true]) {
    test(`--watch${json ? ' --json' : ''} reports a change that fails to load, with its code and path, and keeps watching`, async () => {
      const root = mkdtempSync(join(dir, 'watch-'));
      const kb = join(root, 'kb');
      mkdirSync(kb);
      const faq = join(kb, 'faq.jsonl');
      writeFileSync(faq, '{"id":"1","text":"refunds take five days"}\n');
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let out = '';
      let err = '';
      stdout.on('data', (d) => (out += d));
      stderr.on('data', (d) => (err += d));
      const args = ['ingest', kb, '--tenant', 'acme', '--readers', '*', '--watch', ...(json ? ['--json'] : [])];
      const running = main(args, { stdout, stderr, env: { WRIT_HOME: join(root, 'home'), WRIT_LOG_LEVEL: 'silent' } });
      let code: number | undefined;
      void running.then((c) => (code = c));
      try {
        if (json) {
          // JSON mode prints nothing before the first change: wait for the first ingest's commit,
          // then give the watcher (one small folder) a moment to be ready.
          await until(() => existsSync(join(root, 'home', 'writ.db')) && documentCount(join(root, 'home', 'writ.db')) > 0, 'the first ingest');
          await new Promise((r) => setTimeout(r, 1500));
        } else {
          await until(() => err.includes('watching') || code !== undefined, 'the watch to start');
        }
        assert.equal(code, undefined, out + err);
        writeFileSync(faq, '{"id":"1","text":"refunds take ten days"}\n{"id":"2", BROKEN\n');
        await until(() => (json ? out : err).includes('RETRIEVAL_LOAD_FAILED'), 'the error to be printed');
        if (json) {
          const event = JSON.parse(out.trim().split('\n')[0] as string);
          assert.equal(event.event, 'error');
          assert.equal(event.path, faq);
          assert.equal(event.error.code, 'RETRIEVAL_LOAD_FAILED');
        } else {
          assert.match(err, new RegExp(`watch: \`${faq.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\` was not ingested: .*\\[RETRIEVAL_LOAD_FAILED\\]; still watching`));
        }
        assert.equal(code, undefined, 'still watching');
      } finally {
        process.emit('SIGINT');
        code = await running;
      }
      assert.equal(code, EXIT.OK, out + err);
      if (json) {
        const lines = out.trim().split('\n').map((l) => JSON.parse(l));
        assert.deepEqual(lines.at(-1).watched, [kb]);
      }
    });
  }
});
