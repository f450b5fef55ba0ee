// Integration tests of what a folder ingest does with input it cannot take: each bad file or
// folder entry is one typed failure and every other file is stored. Real SQLite and ledger,
// the bundled model, one Chroma child for the file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isWritError, sha256Hex } from '../../src/core/index.js';
import type { Store } from '../../src/store/index.js';
import { startChroma, type ChromaServer } from '../../src/retrieval/chroma-server.js';
import { createEmbedder } from '../../src/retrieval/embedder.js';
import type { Embedder } from '../../src/retrieval/embedder-types.js';
import { openRetrievalStack, type RetrievalStack } from '../../scripts/retrieval-stack.js';

const dir = mkdtempSync(join(tmpdir(), 'writ-folder-errors-'));
let embedder: Embedder;
let chroma: ChromaServer;
const opened: RetrievalStack[] = [];

async function open(): Promise<RetrievalStack> {
  const s = await openRetrievalStack({ chroma, embedder, home: mkdtempSync(join(dir, 'home-')) });
  opened.push(s);
  return s;
}

function folder(files: Record<string, string>): string {
  const root = mkdtempSync(join(dir, 'kb-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(root, name, '..'), { recursive: true });
    writeFileSync(join(root, name), text);
  }
  return root;
}

const sources = (store: Store): string[] =>
  (store.db.prepare("SELECT source_uri FROM documents WHERE status = 'active' ORDER BY source_uri").all() as Array<{ source_uri: string }>).map((r) => r.source_uri);
const uri = (root: string, name: string): string => pathToFileURL(join(root, name)).href;
const opts = { tenant: 'acme', readers: ['*'] };

before(async () => {
  chroma = await startChroma({ dataDir: join(dir, 'chroma') });
  embedder = await createEmbedder({ model: 'bundled' });
});

after(async () => {
  for (const s of opened) await s.close();
  await chroma?.stop();
  await embedder?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a folder ingest with one bad file stores every other file', () => {
  test('a JSON lines record with a lone surrogate fails its file, naming the record, field and character; the other files are stored', async () => {
    const root = folder({
      'a.md': '# Alpha\n\nalpha teapots\n',
      'b.jsonl': '{"id":"r1","text":"record one"}\n{"id":"r2","text":"bad \\ud800 surrogate"}\n',
      'c.md': '# Charlie\n\ncharlie kettles\n',
      'd.jsonl': '{"id":"\\udc00","text":"an id with a lone surrogate"}\n',
    });
    const { store, retrieval } = await open();
    const summary = await retrieval.ingestPath([root], opts);
    assert.deepEqual(summary.failed.map((f) => [f.path, f.code]), [[join(root, 'b.jsonl'), 'RETRIEVAL_LOAD_FAILED'], [join(root, 'd.jsonl'), 'RETRIEVAL_LOAD_FAILED']]);
    assert.match(summary.failed[0]!.message, /record 2 of .*b\.jsonl`: field `text` holds a lone surrogate \(\\ud800\) at character 4/);
    assert.match(summary.failed[1]!.message, /record 1 of .*d\.jsonl`: field `id` holds a lone surrogate \(\\udc00\) at character 0/);
    assert.equal(summary.created, 2);
    assert.deepEqual(sources(store), [uri(root, 'a.md'), uri(root, 'c.md')]);
  });

  test('an API ingest of text with a lone surrogate is INVALID_INPUT naming the field, and stores nothing', async () => {
    const { store, retrieval } = await open();
    const err = await retrieval.ingest([{ tenant: 'acme', sourceUri: 'kb://x', text: 'hi \ud800 there', readers: ['*'] }]).then(
      () => assert.fail('ingested'),
      (e: unknown) => e,
    );
    assert.ok(isWritError(err));
    assert.equal(err.code, 'INVALID_INPUT');
    assert.deepEqual((err.details.issues as Array<{ path: string }>).map((i) => i.path), ['text']);
    assert.match(err.message, /`text`: holds a lone surrogate \(\\ud800\) at character 3/);
    assert.equal(sources(store).length, 0);
  });

  test('HTML nested too deeply to convert fails its file with a typed error; the other files are stored', async () => {
    const root = folder({ 'a.md': '# Alpha\n\nalpha teapots\n', 'deep.html': `<html><body>${'<div>'.repeat(5000)}deep${'</div>'.repeat(5000)}</body></html>` });
    const { store, retrieval } = await open();
    const summary = await retrieval.ingestPath([root], opts);
    assert.deepEqual(summary.failed.map((f) => [f.path, f.code]), [[join(root, 'deep.html'), 'RETRIEVAL_LOAD_FAILED']]);
    assert.match(summary.failed[0]!.message, /nests its HTML elements too deeply/);
    assert.deepEqual(sources(store), [uri(root, 'a.md')]);
  });

  test('a dangling symbolic link in the folder is one failure; the other files are stored, and with revokeMissing a folder that became a dangling link keeps its documents', async () => {
    const root = folder({ 'a.md': '# Alpha\n\nalpha teapots\n', 'sub/s.md': '# Sub\n\nsub kettles\n' });
    const { store, retrieval } = await open();
    assert.equal((await retrieval.ingestPath([root], { ...opts, revokeMissing: true })).created, 2);
    symlinkSync(join(root, 'nowhere.md'), join(root, 'gone.md'));
    rmSync(join(root, 'sub'), { recursive: true });
    symlinkSync(join(root, 'moved-away'), join(root, 'sub'));
    writeFileSync(join(root, 'z.md'), '# Zed\n\nzed mugs\n');
    const summary = await retrieval.ingestPath([root], { ...opts, revokeMissing: true });
    assert.deepEqual(summary.failed.map((f) => [f.path, f.code]), [[join(root, 'gone.md'), 'RETRIEVAL_LOAD_FAILED'], [join(root, 'sub'), 'RETRIEVAL_LOAD_FAILED']]);
    assert.match(summary.failed[0]!.message, /is a symbolic link to `.*nowhere\.md`, which does not exist/);
    assert.equal(summary.created, 1);
    assert.equal(summary.revoked, 0, 'what could not be listed is not taken for gone');
    assert.deepEqual(sources(store), [uri(root, 'a.md'), uri(root, 'sub/s.md'), uri(root, 'z.md')]);
  });

  test('a subfolder that cannot be listed is one failure (EACCES), not the end of the listing', (t) => {
    const root = folder({ 'a.md': '# Alpha\n', 'locked/s.md': '# Secret\n' });
    chmodSync(root, 0o755);
    chmodSync(dir, 0o755);
    chmodSync(join(root, 'locked'), 0o000);
    // Root reads any folder: list as an ordinary user then.
    const asUser = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
    if (asUser.length > 0 && spawnSync('setpriv', ['--version']).status !== 0) return t.skip('running as root without setpriv');
    const script = `import { listLoadableFiles } from ${JSON.stringify(pathToFileURL(join(process.cwd(), 'src/retrieval/loaders.ts')).href)};
const failures = []; const files = listLoadableFiles([${JSON.stringify(root)}], failures); console.log(JSON.stringify({ files, failures }));`;
    const [cmd, ...args] = [...asUser, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script];
    const run = spawnSync(cmd as string, args, { encoding: 'utf8', cwd: process.cwd() });
    chmodSync(join(root, 'locked'), 0o755);
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { files: string[]; failures: Array<{ path: string; code: string; message: string }> };
    assert.deepEqual(out.files, [join(root, 'a.md')]);
    assert.deepEqual(out.failures.map((f) => [f.path, f.code]), [[join(root, 'locked'), 'RETRIEVAL_LOAD_FAILED']]);
    assert.match(out.failures[0]!.message, /cannot list `.*locked`: permission denied/);
  });

  test('JSON records with one id fail their file, naming the id and both records, rather than one silently replacing the other', async () => {
    const root = folder({ 'a.md': '# Alpha\n', 'e.json': '[{"id":"dup","text":"first record"},{"id":"ok","text":"fine"},{"id":"dup","text":"second record"}]' });
    const { store, retrieval } = await open();
    const summary = await retrieval.ingestPath([root], opts);
    assert.deepEqual(summary.failed.map((f) => f.path), [join(root, 'e.json')]);
    assert.match(summary.failed[0]!.message, /records 1 and 3 of .*e\.json` have the same id `dup`/);
    assert.deepEqual(sources(store), [uri(root, 'a.md')]);
  });
});

describe('what a folder ingest stores', () => {
  test('text cut where there is no space is stored as the exact slice of the document, surrogate pairs whole, its hash matching', async () => {
    const text = `a${'\u{1F600}'.repeat(1500)}`;
    const { store, retrieval } = await open();
    await retrieval.ingest([{ tenant: 'acme', sourceUri: 'kb://emoji', text, readers: ['*'] }]);
    const rows = store.db.prepare('SELECT text, content_hash, char_start, char_end FROM chunks ORDER BY ordinal').all() as Array<{ text: string; content_hash: string; char_start: number; char_end: number }>;
    assert.ok(rows.length >= 2);
    for (const r of rows) {
      assert.equal(r.text, text.slice(r.char_start, r.char_end));
      assert.equal(r.content_hash, `sha256:${sha256Hex(r.text)}`);
    }
  });

  test('a pretty-printed JSON file holding one object is stored as one record', async () => {
    const root = folder({ 'd.json': '{\n  "id": "p1",\n  "text": "pretty printed single object"\n}\n' });
    const { store, retrieval } = await open();
    const summary = await retrieval.ingestPath([root], opts);
    assert.deepEqual(summary.failed, []);
    assert.deepEqual(sources(store), [`${uri(root, 'd.json')}#p1`]);
  });

  test('a Markdown file whose first heading is over 1,000 characters is stored, its title cut at a character boundary', async () => {
    const heading = `${'Ünïcödé 😀 '.repeat(120)}end`;
    const root = folder({ 'long.md': `# ${heading}\n\nbody\n` });
    const { store, retrieval } = await open();
    const summary = await retrieval.ingestPath([root], opts);
    assert.deepEqual(summary.failed, []);
    const title = store.db.prepare('SELECT title FROM documents WHERE source_uri = ?').pluck().get(uri(root, 'long.md')) as string;
    assert.ok(title.length <= 1000 && title.endsWith('…') && title.isWellFormed(), title);
    assert.ok(heading.startsWith(title.slice(0, -1)));
  });
});
