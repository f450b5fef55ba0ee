// The package entry for plain JavaScript: `import … from 'writ'` in Node without a
// TypeScript loader (index.mjs) exposes exactly index.ts's runtime exports, and works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const root = join(import.meta.dirname, '..', '..');

test('index.mjs exports the same names as index.ts', async () => {
  const fromTs = Object.keys(await import('../../index.js')).sort();
  const source = readFileSync(join(root, 'index.mjs'), 'utf8');
  const list = /export const \{([^}]*)\} = writ;/.exec(source);
  assert.ok(list, 'index.mjs has one `export const { … } = writ;`');
  const fromMjs = (list[1] as string).split(',').map((name) => name.trim()).filter((name) => name !== '').sort();
  assert.deepEqual(fromMjs, fromTs, 'index.mjs must list every runtime export of index.ts (and nothing else)');
});

test('package.json sends JavaScript importers to index.mjs and TypeScript to index.ts', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
  assert.deepEqual(pkg.exports['.'], { types: './index.ts', default: './index.mjs' });
});

test('plain Node (no TypeScript loader) imports writ and runs a broker round trip with it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'writ-lib-'));
  // The package imports itself by name (package.json `exports`), as an application would.
  const script = `
    import { openStore, openKeyring, createLedger, ledgerMigrations, brokerMigrations, createBroker,
      loadCatalogFile, loadPolicyDir, createPolicyEngine, canonicalJson } from 'writ';
    const dir = ${JSON.stringify(dir)};
    const store = openStore({ path: dir + '/writ.db', migrations: [...ledgerMigrations, ...brokerMigrations] });
    const ledger = createLedger({ store, keyring: openKeyring({ dir: dir + '/keys/ledger', purpose: 'ledger' }) });
    const catalog = loadCatalogFile('examples/support-desk/catalog.yaml');
    const policyEngine = createPolicyEngine({ catalog, policies: loadPolicyDir('examples/support-desk/policies', { catalog }) });
    const broker = createBroker({ store, ledger, catalog, policyEngine, evidenceReader: { getEvidence: () => new Map() },
      warrantKeyring: openKeyring({ dir: dir + '/keys/warrant', purpose: 'warrant' }) });
    const sam = broker.upsertPrincipal({ id: 'sam', kind: 'user', tenant: 'acme', roles: ['support'], groups: ['support'] });
    const p = broker.propose(sam, { action: 'refund.request', targetId: 'rf-1',
      params: { amountCents: 4200, currency: 'EUR', orderId: 'ord-1001', recipientAccount: 'acct-4471' } });
    const d = broker.decide(p.id);
    const w = broker.issueWarrant(sam, p.id);
    const t = broker.execute(w.token);
    const v = ledger.verify();
    console.log(JSON.stringify({ outcome: d.outcome, state: t.resource.state, verified: v.ok, kinds: Array.from({ length: v.checked }, (_, i) => ledger.entry(i + 1).kind),
      loaders: process.execArgv.filter((a) => /^--(import|loader|experimental-loader|require)$|^-r$/.test(a)), nodeOptions: process.env.NODE_OPTIONS ?? '', canonical: canonicalJson({ b: 1, a: [true, null] }) }));
    store.close();
  `;
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: root, timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } });
    const out = JSON.parse(String(stdout).trim().split('\n').pop() as string) as Record<string, unknown>;
    assert.deepEqual([out.loaders, out.nodeOptions], [[], ''], 'the child ran without a TypeScript loader');
    assert.equal(out.outcome, 'allow');
    assert.equal(out.state, 'requested');
    assert.equal(out.verified, true);
    // The first decision puts the policy set in force on the ledger first.
    assert.deepEqual(out.kinds, ['principal.upserted', 'proposal.created', 'policy_set.activated', 'decision.made', 'warrant.issued', 'transition.executed']);
    assert.equal(out.canonical, '{"a":[true,null],"b":1}');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
