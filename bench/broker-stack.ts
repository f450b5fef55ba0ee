// The broker the round-trip benchmarks drive: a real SQLite file in a temp folder with the
// real ledger and keyrings, the sample support-desk catalog and Cedar policies, and the
// support user `sam` who proposes small refunds.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openKeyring } from '../src/core/index.js';
import { createLedger, ledgerMigrations } from '../src/ledger/index.js';
import { openStore } from '../src/store/index.js';
import { brokerMigrations, createBroker, loadCatalogFile, type EvidenceReader } from '../src/broker/index.js';
import { createPolicyEngine, loadPolicyDir } from '../src/broker/policy/index.js';

const EXAMPLE = 'examples/support-desk';

export function openBrokerStack(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const store = openStore({ path: join(dir, 'writ.db'), migrations: [...ledgerMigrations, ...brokerMigrations] });
  const ledger = createLedger({ store, keyring: openKeyring({ dir: join(dir, 'keys', 'ledger'), purpose: 'ledger' }) });
  const catalog = loadCatalogFile(join(EXAMPLE, 'catalog.yaml'));
  const policyEngine = createPolicyEngine({ catalog, policies: loadPolicyDir(join(EXAMPLE, 'policies'), { catalog }) });
  // No basis in these round trips: the reader is never asked for a bundle.
  const evidenceReader: EvidenceReader = { getEvidence: () => new Map() };
  const broker = createBroker({
    store,
    ledger,
    catalog,
    policyEngine,
    evidenceReader,
    warrantKeyring: openKeyring({ dir: join(dir, 'keys', 'warrant'), purpose: 'warrant' }),
  });
  const sam = broker.upsertPrincipal({ id: 'sam', kind: 'user', tenant: 'acme', roles: ['support'], groups: ['support'] });
  return { dir, store, broker, sam, policyEngine };
}
