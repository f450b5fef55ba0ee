// Test harness for the broker: a real SQLite file in a temp folder, the real ledger and
// keyrings, the sample support-desk catalog and policies, and a small real EvidenceReader
// over bundle rows the test inserts (no mocks of SQLite).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import { newId, openKeyring, sealOf, type Clock, type Keyring, type Principal } from '../../src/core/index.js';
import { createLedger, ledgerMigrations, type LedgerApi } from '../../src/ledger/index.js';
import { openStore, type Migration, type Store } from '../../src/store/index.js';
import { brokerMigrations, createBroker, loadCatalogFile, type Broker, type BrokerConfigInput, type Catalog, type EvidenceBundle, type EvidenceReader } from '../../src/broker/index.js';
import { createPolicyEngine, loadPolicies, readPolicyDir, type PolicySource } from '../../src/broker/policy/index.js';

export const EXAMPLE_DIR = new URL('../../examples/support-desk/', import.meta.url).pathname;

/** Bundle tables standing in for retrieval's (the broker must not know retrieval's schema). */
export const evidenceMigrations: Migration[] = [
  {
    area: 'test_evidence',
    version: 1,
    name: 'bundles and chunks for broker tests',
    up: `
CREATE TABLE test_bundles (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, principal_id TEXT NOT NULL, session_id TEXT, created_at TEXT NOT NULL, seal TEXT NOT NULL) STRICT;
CREATE TABLE test_chunks (bundle_id TEXT NOT NULL REFERENCES test_bundles (id), ordinal INTEGER NOT NULL, chunk_id TEXT NOT NULL, document_id TEXT NOT NULL,
  document_version INTEGER NOT NULL, content_hash TEXT NOT NULL, text TEXT NOT NULL, fresh INTEGER NOT NULL, PRIMARY KEY (bundle_id, ordinal)) STRICT;
`,
  },
  {
    area: 'test_evidence',
    version: 2,
    name: 'the title and heading path shown with each chunk',
    up: `
ALTER TABLE test_chunks ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE test_chunks ADD COLUMN heading TEXT NOT NULL DEFAULT '';
`,
  },
];

export const ALL_MIGRATIONS: Migration[] = [...ledgerMigrations, ...brokerMigrations, ...evidenceMigrations];

/** A real EvidenceReader over the test bundle tables. */
export function sqliteEvidenceReader(store: Store): EvidenceReader {
  const bundleQuery = store.db.prepare('SELECT * FROM test_bundles WHERE id = ?');
  const chunkQuery = store.db.prepare('SELECT * FROM test_chunks WHERE bundle_id = ? ORDER BY ordinal');
  const sessionQuery = store.db.prepare('SELECT id FROM test_bundles WHERE session_id = ? ORDER BY created_at, id').pluck();
  return {
    sessionBundleIds: (sessionId) => sessionQuery.all(sessionId) as string[],
    getEvidence(ids) {
      const out = new Map<string, EvidenceBundle>();
      for (const id of ids) {
        const b = bundleQuery.get(id) as Record<string, unknown> | undefined;
        if (b === undefined) continue;
        const chunks = (chunkQuery.all(id) as Array<Record<string, unknown>>).map((c) => ({
          chunkId: c.chunk_id as string,
          documentId: c.document_id as string,
          documentVersion: c.document_version as number,
          contentHash: c.content_hash as string,
          text: c.text as string,
          title: c.title as string,
          heading: c.heading as string,
          fresh: c.fresh === 1,
        }));
        out.set(id, {
          id,
          seal: b.seal as string,
          tenant: b.tenant as string,
          principalId: b.principal_id as string,
          sessionId: (b.session_id as string | null) ?? null,
          createdAt: b.created_at as string,
          fresh: chunks.every((c) => c.fresh),
          sealValid: sealOf({ id, texts: chunks.map((c) => c.text) }) === b.seal,
          chunks,
        });
      }
      return out;
    },
  };
}

/** A clock the test moves by hand. */
export function manualClock(start = Date.parse('2026-11-26T09:00:00.000Z')): Clock & { advance(ms: number): void; set(ms: number): void } {
  let t = start;
  return { now: () => new Date(t), advance: (ms) => void (t += ms), set: (ms) => void (t = ms) };
}

export function loadSamplePrincipals(): Array<{ id: string }> {
  const doc = parseYaml(readFileSync(join(EXAMPLE_DIR, 'principals.yaml'), 'utf8')) as { principals: Array<{ id: string }> };
  return doc.principals;
}

export interface Harness {
  readonly dir: string;
  readonly store: Store;
  readonly broker: Broker;
  readonly catalog: Catalog;
  readonly clock: ReturnType<typeof manualClock>;
  readonly warrantKeys: Keyring;
  readonly ledgerKeys: Keyring;
  readonly ledger: LedgerApi;
  readonly p: Record<string, Principal>;
  /** A bundle of one chunk per text, each of its own document (`doc-0`, `doc-1`…), shown with `title` and `heading` when given. */
  addBundle(input: { principalId: string; sessionId: string | null; tenant?: string; texts: string[]; fresh?: boolean; title?: string; heading?: string }): string;
  ledgerKinds(): string[];
  close(): void;
}

export interface HarnessOptions {
  readonly config?: BrokerConfigInput;
  /** Rewrites the sample policy sources before loading. */
  readonly policies?: (sources: PolicySource[]) => PolicySource[];
  readonly catalog?: Catalog;
  readonly dir?: string;
  /** Migrations to open the store with (default: all). */
  readonly migrations?: Migration[];
}

/** Builds a broker over a fresh temp folder with the sample workspace loaded. */
export function createHarness(options: HarnessOptions = {}): Harness {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'writ-'));
  const clock = manualClock();
  const store = openStore({ path: join(dir, 'writ.db'), migrations: options.migrations ?? ALL_MIGRATIONS });
  const ledgerKeys = openKeyring({ dir: join(dir, 'keys', 'ledger'), purpose: 'ledger' });
  const warrantKeys = openKeyring({ dir: join(dir, 'keys', 'warrant'), purpose: 'warrant' });
  const ledger = createLedger({ store, keyring: ledgerKeys, clock });
  const catalog = options.catalog ?? loadCatalogFile(join(EXAMPLE_DIR, 'catalog.yaml'));
  const sources = readPolicyDir(join(EXAMPLE_DIR, 'policies'));
  const policies = loadPolicies({ catalog, sources: options.policies ? options.policies(sources) : sources });
  const policyEngine = createPolicyEngine({ catalog, policies });
  const broker = createBroker({
    store,
    ledger,
    catalog,
    policyEngine,
    evidenceReader: sqliteEvidenceReader(store),
    warrantKeyring: warrantKeys,
    clock,
    ...(options.config ? { config: options.config } : {}),
  });
  const p: Record<string, Principal> = {};
  for (const raw of loadSamplePrincipals()) p[raw.id] = broker.upsertPrincipal(raw);
  p['omar'] = broker.upsertPrincipal({ id: 'omar', kind: 'user', tenant: 'acme', roles: ['finance'], groups: ['finance'] });
  p['finance-bot'] = broker.upsertPrincipal({ id: 'finance-bot', kind: 'agent', tenant: 'acme', roles: ['finance', 'support_agent'] });
  p['payments'] = broker.upsertPrincipal({ id: 'payments', kind: 'service', tenant: 'acme', roles: ['payments'] });
  const insertBundle = store.db.prepare('INSERT INTO test_bundles (id, tenant, principal_id, session_id, created_at, seal) VALUES (?, ?, ?, ?, ?, ?)');
  const insertChunk = store.db.prepare(
    'INSERT INTO test_chunks (bundle_id, ordinal, chunk_id, document_id, document_version, content_hash, text, fresh, title, heading) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  return {
    dir,
    store,
    broker,
    catalog,
    clock,
    warrantKeys,
    ledgerKeys,
    ledger,
    p,
    addBundle({ principalId, sessionId, tenant = 'acme', texts, fresh = true, title = '', heading = '' }) {
      const id = newId('bnd');
      store.transaction(() => {
        insertBundle.run(id, tenant, principalId, sessionId, clock.now().toISOString(), sealOf({ id, texts }));
        texts.forEach((text, i) => insertChunk.run(id, i, newId('chk'), `doc-${i}`, 1, sealOf(text), text, fresh ? 1 : 0, title, heading));
      });
      return id;
    },
    ledgerKinds() {
      return (store.db.prepare('SELECT kind FROM ledger_entries ORDER BY seq').all() as Array<{ kind: string }>).map((r) => r.kind);
    },
    close() {
      store.close();
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Params of a valid refund request. */
export function refundParams(amountCents: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { amountCents, currency: 'EUR', orderId: 'ord-1001', recipientAccount: 'DE44500105175407324931', ...extra };
}
