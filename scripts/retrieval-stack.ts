// A throwaway Writ home for the eval tool, benchmarks and integration tests: real SQLite
// (retrieval + ledger migrations), the real ledger, a real Chroma child and the bundled
// embedder, wired through createRetrieval. `close()` stops Chroma and removes the folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openKeyring } from '../src/core/keyring.js';
import { createLedger, ledgerMigrations } from '../src/ledger/index.js';
import { openStore, type Store } from '../src/store/index.js';
import { startChroma, type ChromaServer } from '../src/retrieval/chroma-server.js';
import { openVectorIndex, type VectorIndex } from '../src/retrieval/vector-index.js';
import { createEmbedder } from '../src/retrieval/embedder.js';
import type { Embedder } from '../src/retrieval/embedder-types.js';
import { createRetrieval, retrievalMigrations, type Retrieval, type RetrievalConfig } from '../src/retrieval/index.js';
import type { Ledger } from '../src/ledger/types.js';

export interface RetrievalStack {
  readonly home: string;
  readonly store: Store;
  readonly ledger: Ledger & { verify?: () => unknown };
  readonly chroma: ChromaServer;
  readonly embedder: Embedder;
  readonly vectorIndex: VectorIndex;
  readonly retrieval: Retrieval;
  /** Builds another retrieval over the same store/index (e.g. other tuning). */
  withConfig(config: RetrievalConfig): Retrieval;
  close(): Promise<void>;
}

/** Starts a stack in a fresh temp folder (or `home`). Reuse `chroma`/`embedder` when given. */
export async function openRetrievalStack(
  options: { config?: RetrievalConfig; home?: string; chroma?: ChromaServer; embedder?: Embedder; collection?: string; backgroundCheckpoint?: boolean } = {},
): Promise<RetrievalStack> {
  const home = options.home ?? mkdtempSync(join(tmpdir(), 'writ-'));
  const ownsHome = options.home === undefined;
  const store = openStore({ path: join(home, 'writ.db'), migrations: [...ledgerMigrations, ...retrievalMigrations], backgroundCheckpoint: options.backgroundCheckpoint ?? false });
  const ledger = createLedger({ store, keyring: openKeyring({ dir: join(home, 'keys', 'ledger'), purpose: 'ledger' }) });
  const chroma = options.chroma ?? (await startChroma({ dataDir: join(home, 'chroma') }));
  const embedder = options.embedder ?? (await createEmbedder({ model: 'bundled' }));
  const collection = options.collection ?? `writ-${Math.random().toString(36).slice(2, 10)}`;
  const open = () => openVectorIndex({ server: chroma, collection, modelId: embedder.modelId, dimension: embedder.dimension });
  const vectorIndex = await open();
  const built: Retrieval[] = [];
  const build = (config: RetrievalConfig | undefined): Retrieval => {
    const r = createRetrieval({ store, ledger, embedder, vectorIndex, reopenVectorIndex: open, ...(config ? { config } : {}) });
    built.push(r);
    return r;
  };
  return {
    home,
    store,
    ledger: ledger as RetrievalStack['ledger'],
    chroma,
    embedder,
    vectorIndex,
    retrieval: build(options.config),
    withConfig: (config) => build(config),
    close: async () => {
      for (const r of built) r.close();
      store.close();
      if (options.chroma === undefined) await chroma.stop();
      if (options.embedder === undefined) await embedder.close();
      if (ownsHome) rmSync(home, { recursive: true, force: true });
    },
  };
}
