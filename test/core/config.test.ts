import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfig, isWritError, type WritError } from '../../src/core/index.js';

/** Each of `values` in env var `name` is refused with CONFIG_INVALID, naming the var. */
function assertRefused(name: string, values: readonly string[]): void {
  for (const bad of values) {
    assert.throws(
      () => loadConfig({ env: { [name]: bad } }),
      (e: unknown) => isWritError(e, 'CONFIG_INVALID') && JSON.stringify(e.details).includes(name),
      `${name}=${bad}`,
    );
  }
}

describe('loadConfig', () => {
  test('gives the documented defaults', () => {
    const config = loadConfig({ env: {} });
    assert.equal(config.server.port, 8787);
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.home, resolve('./.writ'));
    assert.equal(config.embedder.model, 'bundled');
    assert.equal(config.chroma.url, undefined);
  });

  test("sets the store's busy timeout, refusing one that is not a whole number of ms up to 10 minutes", () => {
    assert.equal(loadConfig({ env: {} }).store.busyTimeoutMs, 5_000);
    assert.equal(loadConfig({ env: { WRIT_STORE_BUSY_TIMEOUT_MS: '250' } }).store.busyTimeoutMs, 250);
    assertRefused('WRIT_STORE_BUSY_TIMEOUT_MS', ['-1', '1.5', '600001', 'soon']);
  });

  test('sets how much shown text taint keeps prepared, refusing a bound that is not a whole number from 0', () => {
    assert.equal(loadConfig({ env: {} }).broker.taintCacheChars, 32_000_000);
    assert.equal(loadConfig({ env: { WRIT_TAINT_CACHE_CHARS: '0' } }).broker.taintCacheChars, 0);
    assert.equal(loadConfig({ env: { WRIT_TAINT_CACHE_CHARS: '64000000' } }).broker.taintCacheChars, 64_000_000);
    assertRefused('WRIT_TAINT_CACHE_CHARS', ['-1', '1.5', 'lots', '2000000000']);
  });

  test("sets the ceiling of a session's budgets one budget at a time", () => {
    assert.deepEqual(loadConfig({ env: {} }).broker.maxBudgets, { retrievals: 1_000, proposals: 200, contextChars: 2_000_000 });
    const raised = loadConfig({ env: { WRIT_SESSION_MAX_PROPOSALS: '5000' } });
    assert.deepEqual(raised.broker.maxBudgets, { retrievals: 1_000, proposals: 5_000, contextChars: 2_000_000 });
    assertRefused('WRIT_SESSION_MAX_RETRIEVALS', ['-1']);
  });

  test("takes relative paths in the config file from the file's folder, and those in env from the working directory", () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-config-'));
    try {
      const file = join(dir, 'writ.config.json');
      writeFileSync(file, JSON.stringify({ home: '.writ', workspace: '.', broker: { anchorFile: '../anchors/a.json' } }));
      const fromFile = loadConfig({ env: { WRIT_CONFIG: file } });
      assert.equal(fromFile.home, join(dir, '.writ'));
      assert.equal(fromFile.workspace, dir);
      assert.equal(fromFile.broker.anchorFile, join(dir, '..', 'anchors', 'a.json'));
      assert.equal(loadConfig({ env: { WRIT_CONFIG: file, WRIT_HOME: 'elsewhere' } }).home, resolve('elsewhere'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('reads env over the config file, and freezes the result', () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-config-'));
    try {
      const file = join(dir, 'writ.json');
      writeFileSync(file, JSON.stringify({ server: { port: 9000, host: '0.0.0.0' }, logLevel: 'warn' }));
      const config = loadConfig({ env: { WRIT_CONFIG: file, WRIT_PORT: '9100', CHROMA_URL: 'http://127.0.0.1:8000' } });
      assert.equal(config.server.port, 9100);
      assert.equal(config.server.host, '0.0.0.0');
      assert.equal(config.logLevel, 'warn');
      assert.equal(config.chroma.url, 'http://127.0.0.1:8000');
      assert.ok(Object.isFrozen(config) && Object.isFrozen(config.server));
      assert.throws(() => {
        (config.server as { port: number }).port = 1;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("places the ledger's anchor file in the home unless told otherwise; a relative path is taken from the home", () => {
    const home = join(tmpdir(), 'writ-config-home');
    assert.equal(loadConfig({ env: { WRIT_HOME: home } }).broker.anchorFile, join(home, 'ledger-anchor.json'));
    assert.equal(loadConfig({ env: { WRIT_HOME: home, WRIT_LEDGER_ANCHOR_FILE: '/mnt/worm/anchor.json' } }).broker.anchorFile, '/mnt/worm/anchor.json');
    assert.equal(loadConfig({ env: { WRIT_HOME: home, WRIT_LEDGER_ANCHOR_FILE: 'anchors/a.json' } }).broker.anchorFile, join(home, 'anchors', 'a.json'));
  });

  test('reports every invalid setting at once, naming the env var', () => {
    assert.throws(
      () => loadConfig({ env: { WRIT_PORT: 'eighty', WRIT_LOG_LEVEL: 'loud', CHROMA_URL: 'not a url' } }),
      (e: unknown) => {
        assert.ok(isWritError(e, 'CONFIG_INVALID'));
        const issues = (e as WritError).details.issues as Array<{ path: string; env?: string }>;
        assert.deepEqual(issues.map((i) => i.path).sort(), ['chroma.url', 'logLevel', 'server.port']);
        assert.ok(issues.some((i) => i.env === 'WRIT_PORT'));
        return true;
      },
    );
  });

  test('refuses unknown keys in the config file and an unreadable file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'writ-config-'));
    try {
      const file = join(dir, 'writ.json');
      writeFileSync(file, JSON.stringify({ sever: { port: 1 } }));
      assert.throws(() => loadConfig({ env: { WRIT_CONFIG: file } }), (e: unknown) => isWritError(e, 'CONFIG_INVALID'));
      writeFileSync(file, '{ nope');
      assert.throws(() => loadConfig({ env: { WRIT_CONFIG: file } }), (e: unknown) => isWritError(e, 'CONFIG_FILE_UNREADABLE'));
      assert.throws(() => loadConfig({ env: { WRIT_CONFIG: join(dir, 'missing.json') } }), (e: unknown) => isWritError(e, 'CONFIG_FILE_UNREADABLE'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('README configuration table', () => {
  test('documents every environment variable the config reads', async () => {
    const { readFileSync } = await import('node:fs');
    const { ENV_SETTINGS } = await import('../../src/core/index.js');
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const { env, path } of ENV_SETTINGS) {
      assert.ok(new RegExp(`\\| \`${env}\` \\| \`${path.join('\\.')}\` \\|`).test(readme), `README's configuration table lacks \`${env}\``);
    }
  });
});
