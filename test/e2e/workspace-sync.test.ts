// Starting on a home again after the workspace changed: keys are minted only for principals
// that never had one (a revoked key stays revoked), `disabled: true` withdraws a principal,
// a bad workspace file is reported and the rest loaded, a deleted one's documents revoked, and a workspace that moves a
// principal between tenants, or a home that cannot be a folder, is refused naming the cause.
// Real Chroma, SQLite and model, in-process.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capturingLogger } from '../logs.js';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createApp } from '../../src/app.js';
import { isWritError, loadConfig, PACKAGE_ROOT } from '../../src/core/index.js';

const root = mkdtempSync(join(tmpdir(), 'writ-ws-sync-'));
after(() => rmSync(root, { recursive: true, force: true }));

type PrincipalEntry = { id: string; tenant: string; disabled?: boolean } & Record<string, unknown>;

function copyWorkspace(name: string): { dir: string; editPrincipals(fn: (list: PrincipalEntry[]) => PrincipalEntry[]): void } {
  const dir = join(root, name);
  cpSync(join(PACKAGE_ROOT, 'examples', 'support-desk'), dir, { recursive: true });
  return {
    dir,
    editPrincipals(fn) {
      const file = join(dir, 'principals.yaml');
      const doc = parseYaml(readFileSync(file, 'utf8')) as { principals: PrincipalEntry[] };
      writeFileSync(file, stringifyYaml({ principals: fn(doc.principals) }));
    },
  };
}

describe('a restart after the workspace changed', () => {
  test('keeps revoked keys revoked, mints keys only for new principals, withdraws disabled ones, and reports a bad document', async () => {
    const ws = copyWorkspace('ws-restart');
    const home = join(root, 'home-restart');
    const env = { WRIT_HOME: home, WRIT_WORKSPACE: ws.dir, WRIT_LOG_LEVEL: 'silent' };
    const keyFile = join(home, 'first-start-keys.json');

    const first = await createApp({ config: loadConfig({ env }) });
    const keyOf = (id: string): string => first.firstStartKeys.find((k) => k.principalId === id)!.key;
    const samKey = keyOf('sam');
    const rileyKey = keyOf('riley');
    first.keys.revoke(first.keys.authenticate(samKey).keyId);
    await first.close();

    ws.editPrincipals((list) => [
      ...list.map((p) => (p.id === 'riley' ? { ...p, disabled: true } : p)),
      { id: 'newbie', kind: 'user', tenant: 'acme', groups: ['support'], roles: ['support'] },
    ]);
    writeFileSync(join(ws.dir, 'documents', 'broken.json'), '{"id": "1", "text": ');
    rmSync(join(ws.dir, 'documents', 'policies', 'shipping-damage.md'));
    // A file that no longer loads (not UTF-8) keeps the documents it had: nothing is lost.
    writeFileSync(join(ws.dir, 'documents', 'orders', 'ord-1002.md'), Buffer.from([0x4f, 0x72, 0x64, 0x65, 0x72, 0x20, 0xe9]));
    const captured = capturingLogger();
    const second = await createApp({ config: loadConfig({ env }), logger: captured.logger });
    try {
      assert.deepEqual(second.firstStartKeys.map((k) => k.principalId), ['newbie'], 'only the principal that never had a key gets one');
      assert.throws(() => second.authenticate(samKey), (e: unknown) => isWritError(e, 'AUTH_INVALID_KEY'));
      assert.throws(() => second.authenticate(rileyKey), (e: unknown) => isWritError(e, 'AUTH_INVALID_KEY'), 'a disabled principal');
      assert.equal(second.broker.isPrincipalEnabled('riley'), false);
      const file = JSON.parse(readFileSync(keyFile, 'utf8')) as Record<string, string>;
      assert.equal(file['newbie'], second.firstStartKeys[0]!.key, 'the new key is added to the key file');
      assert.equal(file['fatima'], keyOf('fatima'), 'the earlier keys stay in it');
      assert.ok(
        captured.warnings().some((w) => w.startsWith('workspace document not ingested') && w.includes('broken.json')),
        `a warning names the failure: ${captured.warnings().join(' | ')}`,
      );
      // The workspace's good documents are in; the broken one is not.
      const sources = second.store.db.prepare("SELECT source_uri FROM documents WHERE status = 'active'").pluck().all() as string[];
      assert.ok(sources.length >= 5);
      assert.ok(!sources.some((s) => s.includes('broken.json')));
      // A document whose file left the workspace is revoked, and no longer retrieved.
      assert.ok(!sources.some((s) => s.endsWith('/shipping-damage.md')), 'the deleted file\'s document is revoked');
      const revoked = second.store.db.prepare("SELECT status FROM documents WHERE source_uri LIKE '%/shipping-damage.md'").pluck().get();
      assert.equal(revoked, 'revoked');
      assert.ok(sources.some((s) => s.endsWith('/ord-1002.md')), 'a file that fails to load keeps its documents');
      const found = await second.retrieve(second.broker.getPrincipal('fatima')!, { query: 'shipping damage cracked parcel', k: 10 });
      assert.ok(!found.results.some((r) => r.sourceUri.endsWith('/shipping-damage.md')));
    } finally {
      await second.close();
    }
  });

  test('a workspace document revoked on request stays revoked at the next start, though its file is still there', async () => {
    const ws = copyWorkspace('ws-kept-revoked');
    const env = { WRIT_HOME: join(root, 'home-kept-revoked'), WRIT_WORKSPACE: ws.dir, WRIT_LOG_LEVEL: 'silent' };
    const note = "SELECT id, status, current_version FROM documents WHERE source_uri LIKE '%/ord-1003.md'";
    const first = await createApp({ config: loadConfig({ env }) });
    const before = first.store.db.prepare(note).get() as { id: string; status: string; current_version: number };
    assert.equal(before.status, 'active');
    // The note with the injected instruction: an operator revokes it over the API.
    await first.retrieval.revoke({ documentId: before.id }, { actorId: 'fatima' });
    await first.close();

    const progress: string[] = [];
    const second = await createApp({ config: loadConfig({ env }), onProgress: (line) => progress.push(line) });
    try {
      assert.deepEqual(second.store.db.prepare(note).get(), { ...before, status: 'revoked' }, 'still revoked, no new version');
      assert.ok(progress.some((l) => /^kept 1 revoked documents of .* revoked/.test(l)), progress.join(' | '));
      const found = await second.retrieve(second.broker.getPrincipal('sam')!, { query: 'headset order ord-1003 refund account', k: 10 });
      assert.ok(!found.results.some((r) => r.documentId === before.id));
    } finally {
      await second.close();
    }
  });

  test('a principal moved to another tenant in the workspace is refused with WORKSPACE_INVALID naming it', async () => {
    const ws = copyWorkspace('ws-tenant');
    const env = { WRIT_HOME: join(root, 'home-tenant'), WRIT_WORKSPACE: ws.dir, WRIT_LOG_LEVEL: 'silent' };
    await (await createApp({ config: loadConfig({ env }) })).close();
    ws.editPrincipals((list) => list.map((p) => (p.id === 'globex-agent' ? { ...p, tenant: 'acme' } : p)));
    await assert.rejects(createApp({ config: loadConfig({ env }) }), (e: unknown) => isWritError(e, 'WORKSPACE_INVALID') && /globex-agent/.test(e.message));
  });

  test('a home that cannot be a folder is refused as CONFIG_INVALID naming WRIT_HOME', async () => {
    const file = join(root, 'not-a-folder');
    writeFileSync(file, 'x');
    await assert.rejects(
      createApp({ config: loadConfig({ env: { WRIT_HOME: file, WRIT_LOG_LEVEL: 'silent' } }) }),
      (e: unknown) => isWritError(e, 'CONFIG_INVALID') && JSON.stringify(e.details).includes('WRIT_HOME'),
    );
  });
});
