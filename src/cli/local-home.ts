// Local mode: the CLI opens the Writ home directly, as its operator. Commands that only
// need authority (keys, sessions, proposals, approvals, audit) open the store, ledger and
// broker — no Chroma child, no model — which takes well under a second; commands that
// search or ingest start the whole app (`createApp`, a few seconds: Chroma and the model).
// Either way the workspace's principals are brought into the home first, so `--as ID`
// names a principal of the workspace even before the first `writ serve`.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { WritError, createLogger, loadConfig, openKeyring, type Config, type Principal } from '../core/index.js';
import { createApp, openAuthority, syncPrincipals, type WritApp } from '../app.js';
import { openStore, type Store } from '../store/index.js';
import { createLedger, type LedgerApi } from '../ledger/index.js';
import { CliErrors } from './errors.js';
import {
  BrokerErrors,
  createPolicyEngine,
  loadCatalogFile,
  loadPolicyDir,
  type Broker,
  type Catalog,
  type DecisionEngine,
  type PolicyEngine,
} from '../broker/index.js';
import type { ApiKeys } from '../auth/index.js';
import { loadWorkspace, type Workspace } from '../workspace.js';
import type { CliEnv } from './command.js';

/** What local-mode commands work with. `app` is set only when opened `withRetrieval`. */
export interface LocalHome {
  readonly config: Config;
  readonly workspace: Workspace;
  readonly catalog: Catalog;
  /** The policy engine (loaded on first use in the light path). */
  readonly policy: PolicyEngine;
  readonly store: Store;
  readonly ledger: LedgerApi;
  readonly broker: Broker;
  readonly keys: ApiKeys;
  readonly app: WritApp | undefined;
  /** The stored principal `id`; BROKER_PRINCIPAL_NOT_FOUND when there is none. */
  principal(id: string): Principal;
  close(): Promise<void>;
}

/**
 * The home's ledger opened read-only, for `writ audit`: an audit changes nothing — no
 * principals synced from the workspace, no checkpoint signed on close, no anchor written —
 * so it can run on a copy kept as evidence, or beside a running server.
 */
export function openAuditLedger(env: CliEnv): { readonly ledger: LedgerApi; close(): void } {
  const config = cliConfig(env);
  const path = join(config.home, 'writ.db');
  if (!existsSync(path)) {
    throw new WritError(CliErrors.CLI_HOME_NOT_FOUND, `no Writ home at \`${config.home}\` (no \`writ.db\`)`, { details: { home: config.home } });
  }
  const store = openStore({ path, readonly: true });
  try {
    const ledger = createLedger({
      store,
      keyring: openKeyring({ dir: join(config.home, 'keys', 'ledger'), purpose: 'ledger' }),
      checkpointEvery: config.broker.checkpointEvery,
      ...(config.broker.anchorFile === undefined ? {} : { anchorFile: config.broker.anchorFile }),
    });
    return {
      ledger,
      close() {
        ledger.close();
        store.close();
      },
    };
  } catch (err) {
    store.close();
    throw err;
  }
}

/** Loads the config from the CLI's environment (log level `warn` unless set: the CLI owns the terminal). */
export function cliConfig(env: CliEnv): Config {
  return loadConfig({ env: { WRIT_LOG_LEVEL: 'warn', ...env } });
}

/**
 * Opens the home of `env` (WRIT_HOME, WRIT_WORKSPACE, …). `withRetrieval` starts Chroma
 * and the model too (for search, ingest, reindex); `rebuildVectorIndex` accepts a vector
 * index of another model, for `writ reindex --reembed` to replace.
 */
export async function openLocalHome(
  env: CliEnv,
  options: { withRetrieval?: boolean; rebuildVectorIndex?: boolean; onProgress?: (line: string) => void } = {},
): Promise<LocalHome> {
  const config = cliConfig(env);
  if (options.withRetrieval) {
    const app = await createApp({
      config,
      seedWorkspace: false,
      ...(options.rebuildVectorIndex ? { rebuildVectorIndex: true } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    try {
      syncPrincipals(app.broker, app.workspace);
    } catch (err) {
      await app.close();
      throw err;
    }
    return homeOf({ ...app, app, close: () => app.close() });
  }
  return openLightHome(config);
}

// The authority half of createApp (src/app.ts `openAuthority`), with the policy engine loaded
// on first use: Cedar validation and pre-parsing take a second or more, so `keys`, `audit`
// and `session` stay quick (and work even while a policy is broken).
function openLightHome(config: Config): LocalHome {
  const workspace = loadWorkspace(config.workspace);
  const catalog = loadCatalogFile(workspace.catalogPath);
  let engine: PolicyEngine | undefined;
  const loadEngine = (): PolicyEngine => (engine ??= createPolicyEngine({ catalog, policies: loadPolicyDir(workspace.policiesDir, { catalog }) }));
  const lazyEngine: DecisionEngine = {
    get policySetHash() {
      return loadEngine().policySetHash;
    },
    decide: (facts) => loadEngine().decide(facts),
    describe: () => loadEngine().describe(),
  };
  const logger = createLogger(config.logLevel);
  const authority = openAuthority(config, { workspace, catalog, policyEngine: lazyEngine, logger });
  try {
    syncPrincipals(authority.broker, workspace);
  } catch (err) {
    authority.close();
    throw err;
  }
  const { store, ledger, broker, keys } = authority;
  return homeOf({
    config, workspace, catalog, store, ledger, broker, keys, app: undefined,
    get policy() {
      return loadEngine();
    },
    // As createApp's close: a step that fails (the closing checkpoint on a database another
    // writer keeps locked) is logged, and neither hides the command's own outcome nor keeps
    // the connection open. Committed work stays committed; the next checkpoint covers it.
    close: async () => {
      try {
        authority.close();
      } catch (err) {
        logger.warn({ err }, 'closing the home: could not sign the closing ledger checkpoint; the next one covers these entries');
      }
    },
  });
}

// Adds `principal` in place (no spread: that would read the lazy `policy` getter).
function homeOf(parts: Omit<LocalHome, 'principal'>): LocalHome {
  return Object.assign(parts, {
    principal(id: string): Principal {
      const principal = parts.broker.getPrincipal(id);
      if (principal === undefined) {
        throw new WritError(BrokerErrors.BROKER_PRINCIPAL_NOT_FOUND, `principal \`${id}\` is not registered: add it to the workspace's principals file`, { details: { principalId: id } });
      }
      return principal;
    },
  });
}
