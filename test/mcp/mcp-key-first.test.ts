// `writ mcp` on a local home checks the agent's key before anything else: a bad or missing
// key exits 3 (denied) with the typed auth error, and the home is left as it was — the
// workspace is not loaded into it (no new documents or ledger entries) and Chroma is not
// started. `node bin/writ.mjs mcp` is spawned as an MCP client would; the home is a real
// SQLite file seeded once in-process.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../src/app.js';
import { loadConfig, PACKAGE_ROOT } from '../../src/core/index.js';
import { openStore } from '../../src/store/index.js';

const dir = mkdtempSync(join(tmpdir(), 'writ-'));
const home = join(dir, 'home');
const workspace = join(dir, 'workspace');
let agentKey = '';

/** Runs `writ mcp` with stdin closed at once; resolves with its exit code and output. */
function runMcp(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/writ.mjs', 'mcp'], { cwd: PACKAGE_ROOT, env: { PATH: process.env.PATH ?? '', WRIT_LOG_LEVEL: 'warn', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end();
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** What a start could change in the home: its documents, chunks, ledger, ingest jobs and keys. */
function snapshot(): Record<string, unknown> {
  const store = openStore({ path: join(home, 'writ.db'), readonly: true });
  try {
    const rows = (sql: string) => store.db.prepare(sql).all();
    return {
      documents: rows('SELECT id, source_uri, status, current_version FROM documents ORDER BY id'),
      chunks: rows('SELECT count(*) AS n FROM chunks'),
      ledger: rows('SELECT seq, kind, hash FROM ledger_entries ORDER BY seq'),
      jobs: rows('SELECT id, status, done FROM ingest_jobs ORDER BY id'),
      keys: rows('SELECT id, revoked_at FROM api_keys ORDER BY id'),
    };
  } finally {
    store.close();
  }
}

before(async () => {
  cpSync(join(PACKAGE_ROOT, 'examples', 'support-desk'), workspace, { recursive: true });
  // First start in-process: seeds the workspace and creates the API keys.
  const app = await createApp({ config: loadConfig({ env: { WRIT_HOME: home, WRIT_WORKSPACE: workspace, WRIT_LOG_LEVEL: 'silent' } }) });
  agentKey = app.firstStartKeys.find((k) => k.principalId === 'desk-agent')?.key ?? '';
  await app.close();
  assert.ok(agentKey, 'the first start issued a key for desk-agent');
  // Something a start would load: a document added to the workspace since.
  writeFileSync(join(workspace, 'documents', 'policies', 'late-note.md'), '# Late note\n\nRefunds over 500 EUR need two approvers from finance.\n');
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('writ mcp checks its key before it writes anything', () => {
  test('a wrong key exits 3 with AUTH_INVALID_KEY and leaves the home unchanged: no new document, ledger entry or chroma start', async () => {
    const before = snapshot();
    const { code, stdout, stderr } = await runMcp({ WRIT_HOME: home, WRIT_WORKSPACE: workspace, WRIT_KEY: `${agentKey.slice(0, -4)}xxxx` });
    assert.equal(code, 3, stderr);
    assert.match(stderr, /AUTH_INVALID_KEY/);
    assert.equal(stdout, '');
    assert.deepEqual(snapshot(), before);
    assert.doesNotMatch(stderr, /ingest/);
  });

  test('a missing key exits 3 with AUTH_MISSING_KEY and leaves the home unchanged', async () => {
    const before = snapshot();
    const { code, stderr } = await runMcp({ WRIT_HOME: home, WRIT_WORKSPACE: workspace });
    assert.equal(code, 3, stderr);
    assert.match(stderr, /AUTH_MISSING_KEY/);
    assert.deepEqual(snapshot(), before);
  });

  test('on a home that was never started any key exits 3 with AUTH_INVALID_KEY and no home is created', async () => {
    const fresh = join(dir, 'never-started');
    const { code, stderr } = await runMcp({ WRIT_HOME: fresh, WRIT_WORKSPACE: workspace, WRIT_KEY: agentKey });
    assert.equal(code, 3, stderr);
    assert.match(stderr, /AUTH_INVALID_KEY/);
    assert.equal(existsSync(fresh), false);
  });
});
