// The composition root: builds the store, ledger, retrieval and broker from one config,
// and owns their lifecycle. Servers, the CLI and MCP all start from here.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { CoreErrors, WRIT_VERSION, WritError, canonicalJson, createLogger, loadConfig, openKeyring, type Config, type Keyring, type Logger, type Principal } from './core/index.js';
import { createCommitGroup, openStore, type CommitGroup, type Store } from './store/index.js';
import { createLedger, ledgerMigrations, type LedgerApi } from './ledger/index.js';
import {
  connectChroma,
  createBundleEvidenceReader,
  createEmbedder,
  createRetrieval,
  openVectorIndex,
  retrievalMigrations,
  startChroma,
  superviseChroma,
  type ChromaServer,
  type Embedder,
  type Retrieval,
  type RetrievalQuery,
  type RetrievalResult,
} from './retrieval/index.js';
import {
  BrokerErrors,
  brokerMigrations,
  createBroker,
  createPolicyEngine,
  loadCatalogFile,
  loadPolicyDir,
  type Broker,
  type Catalog,
  type DecisionEngine,
  type PolicyEngine,
} from './broker/index.js';
import { AuthErrors, authMigrations, createApiKeys, type ApiKeys, type IssuedApiKey } from './auth/index.js';
import { loadWorkspace, WorkspaceErrors, type Workspace } from './workspace.js';

const PartStatusSchema = z.enum(['ok', 'down']);

/** How the last unexpected exit of an embedded Chroma this process started went. */
const ChromaLastExitSchema = z.object({
  at: z.string(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  /** How long that child had run. */
  ranMs: z.number().int(),
});

export const HealthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  version: z.string(),
  parts: z.object({
    sqlite: z.object({ status: PartStatusSchema, version: z.string(), path: z.string(), error: z.string().optional() }),
    chroma: z.object({
      status: PartStatusSchema,
      version: z.string().nullable(),
      url: z.string(),
      embedded: z.boolean(),
      /** `embedded`: this process's child; `shared`: another Writ process's child on the same data folder; `external`: CHROMA_URL. */
      mode: z.enum(['embedded', 'shared', 'external']),
      /**
       * Chunks whose vector Chroma does not hold yet (or still holds, revoked): committed in
       * SQLite, and searched there meanwhile. Stays above 0 while Chroma is down or behind a bulk ingest.
       */
      pendingVectors: z.number().int().describe('chunks committed in SQLite whose vectors Chroma has not taken yet (written when it answers)'),
      /** Times this process started a Chroma again: after its embedded child exited, or after taking a shared data folder over. */
      restarts: z.number().int(),
      /** Unexpected exits within a minute of their start, and failed starts, in a row; 0 once a child stays up a minute. */
      crashesInARow: z.number().int(),
      lastExit: ChromaLastExitSchema.nullable().describe('the last unexpected exit of an embedded chroma this process started; null when none'),
      /** When the embedded chroma is down: how soon this process tries to start it again (null when it will not: `WRIT_CHROMA_RESTART=false`, or not embedded). */
      nextStartInMs: z.number().int().nullable(),
      error: z.string().optional(),
    }),
    model: z.object({ status: PartStatusSchema, id: z.string(), dimension: z.number().int(), error: z.string().optional() }),
    /**
     * Per-word BM25 score lists for lexical ranking (src/retrieval/README.md): lists held for
     * the index as it is now, their memory, and rankings since start served from lists or by
     * FTS5 (lists off, the index under 5,000 chunks, or lists not read yet after a write).
     */
    lexical: z.object({ status: z.literal('ok'), lists: z.number().int(), bytes: z.number().int(), served: z.number().int(), fellBack: z.number().int() }),
  }),
});
export type Health = z.infer<typeof HealthSchema>;

export const VersionSchema = z.object({
  writ: z.string(),
  node: z.string(),
  sqlite: z.string(),
  chroma: z.string().nullable(),
  model: z.string(),
});
export type Version = z.infer<typeof VersionSchema>;

/** A running Writ: every part, built from one config. Close it once. */
export interface WritApp {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  /** Groups the commits of concurrent hot writes (retrieval bundles, proposals): one commit per event-loop turn. */
  readonly commits: CommitGroup;
  readonly ledger: LedgerApi;
  readonly chroma: ChromaServer;
  readonly embedder: Embedder;
  /**
   * The retrieval half on its own: it knows nothing of sessions. Retrievals for an
   * authenticated principal go through `retrieve`, which holds agents to their sessions.
   */
  readonly retrieval: Retrieval;
  readonly broker: Broker;
  readonly catalog: Catalog;
  readonly policy: PolicyEngine;
  readonly keys: ApiKeys;
  readonly warrantKeyring: Keyring;
  readonly workspace: Workspace;
  /** Keys created for principals that had none (first start); shown once. */
  readonly firstStartKeys: readonly IssuedApiKey[];
  /** Resolves an API key to its stored, enabled principal (AUTH_* errors otherwise). */
  authenticate(key: string | undefined): Principal;
  /**
   * A retrieval by an authenticated principal. With a session, the session must be the
   * caller's and live; its retrieval and context budgets are charged. An agent must name
   * one (BROKER_SESSION_REQUIRED otherwise); users and services may retrieve without.
   */
  retrieve(principal: Principal, input: RetrievalQuery): Promise<RetrievalResult>;
  health(): Promise<Health>;
  version(): Version;
  close(): Promise<void>;
}

export interface AppOptions {
  /** A parsed config; defaults to `loadConfig()` from the environment. */
  readonly config?: Config;
  readonly logger?: Logger;
  /** Load the workspace's principals and documents into the home (default true). */
  readonly seedWorkspace?: boolean;
  /**
   * An API key to check before anything else starts or is written (`writ mcp`): a missing,
   * unknown or revoked key, or one whose principal the workspace leaves disabled, is refused
   * (AUTH_MISSING_KEY, AUTH_INVALID_KEY) with the workspace not loaded and Chroma not started.
   * Present but `undefined` counts as a missing key.
   */
  readonly authenticateFirst?: string | undefined;
  /** Progress of the workspace ingest, for long first starts. */
  readonly onProgress?: (line: string) => void;
  /**
   * Open a vector index built with another model instead of refusing it, so that
   * `retrieval.reindex({ reembed: true })` can replace it (`writ reindex --reembed`).
   */
  readonly rebuildVectorIndex?: boolean;
}

const VECTOR_COLLECTION = 'writ-chunks';
/**
 * Starts every part of Writ from one config: the SQLite store and ledger, Chroma
 * (embedded child or `CHROMA_URL`), the embedder, retrieval, the catalog, Cedar policies
 * and the broker — and loads the workspace. On failure, whatever had started is stopped.
 *
 * @example
 * const app = await createApp();
 * console.log(await app.health());
 * await app.close();
 */
export async function createApp(options: AppOptions = {}): Promise<WritApp> {
  const config = options.config ?? loadConfig();
  const logger = options.logger ?? createLogger(config.logLevel);
  const cleanup: Array<() => Promise<void> | void> = [];
  try {
    // Catalog and policies first: a bad one is refused before anything starts.
    const workspace = loadWorkspace(config.workspace);
    const catalog = loadCatalogFile(workspace.catalogPath);
    const policy = createPolicyEngine({ catalog, policies: loadPolicyDir(workspace.policiesDir, { catalog }) });
    // A long-running app checkpoints the WAL in the background: commits do not pay for it.
    const authority = openAuthority(config, { workspace, catalog, policyEngine: policy, backgroundCheckpoint: true, logger });
    cleanup.push(() => authority.close());
    const { store, ledger, broker, keys, warrantKeyring } = authority;
    if ('authenticateFirst' in options) authenticateBeforeSeed({ keys, broker, workspace }, options.authenticateFirst);

    const startOwnChroma = () =>
      startChroma({ dataDir: join(config.home, 'chroma'), port: config.chroma.port, startTimeoutMs: config.chroma.startTimeoutMs, logger });
    const firstChroma = config.chroma.url !== undefined ? await connectChroma(config.chroma.url) : await startOwnChroma();
    // Stops whichever server is current at close (once supervised, a restart or takeover may replace it).
    let stopChroma = (): Promise<void> => firstChroma.stop();
    cleanup.push(() => stopChroma());

    const embedder = await createEmbedder({ model: config.embedder.model, batchSize: config.embedder.batchSize });
    cleanup.push(() => embedder.close());

    // Keeps the index on a live Chroma: an embedded child that exits is started again, a
    // shared one whose process ended is taken over (src/retrieval/chroma-supervision.ts).
    const supervisor = await superviseChroma({
      server: firstChroma,
      startOwn: startOwnChroma,
      openIndex: (server, onMismatch) =>
        openVectorIndex({ server, collection: VECTOR_COLLECTION, modelId: embedder.modelId, dimension: embedder.dimension, onMismatch }),
      rebuild: options.rebuildVectorIndex === true,
      restartOnExit: config.chroma.restartOnExit,
      logger,
    });
    stopChroma = () => supervisor.close();
    const commits = createCommitGroup(store);
    const retrieval = createRetrieval({
      store,
      commits,
      ledger,
      embedder,
      vectorIndex: supervisor.index,
      reopenVectorIndex: () => supervisor.reopenIndex(),
      config: { ...config.retrieval, embedBatchSize: config.embedder.batchSize },
    });
    cleanup.push(() => retrieval.close());
    await supervisor.watch(retrieval);
    // Runs first at close (cleanup runs in reverse): no restart may begin once parts are closing.
    cleanup.push(() => supervisor.halt());

    // The policy set in force goes on record before any request's entries (a short CLI
    // command leaves it to its first decision).
    if (options.seedWorkspace !== false) broker.recordPolicySetActivation();
    const firstStartKeys = options.seedWorkspace === false ? [] : await seed(workspace, { broker, retrieval, keys, config, logger, onProgress: options.onProgress });
    // Start-up reconciliation: vectors an earlier process committed to SQLite but could not
    // write (Chroma down) are pushed in the background, retried until Chroma takes them. Only
    // on a seeding start (`serve`, `mcp`); short CLI commands leave them to the next one.
    if (options.seedWorkspace !== false) retrieval.resumeVectorSync();

    let closed = false;
    const app: WritApp = {
      config,
      logger,
      store,
      commits,
      ledger,
      get chroma() {
        return supervisor.chroma;
      },
      embedder,
      retrieval,
      broker,
      catalog,
      policy,
      keys,
      warrantKeyring,
      workspace,
      firstStartKeys,
      authenticate(key) {
        const { principalId } = keys.authenticate(key);
        const record = broker.getPrincipalRecord(principalId);
        // INVARIANT: the principal of a request comes from its key, and must still exist and be enabled.
        if (record === undefined || record.disabled) throw new WritError(AuthErrors.AUTH_INVALID_KEY, 'invalid api key');
        return record.principal;
      },
      async retrieve(principal, input) {
        // INVARIANT: a disabled principal reads nothing, whatever path it comes by (HTTP checks its key; the CLI's `--as` and library callers name it).
        if (broker.getPrincipalRecord(principal.id)?.disabled === true) {
          throw new WritError(BrokerErrors.BROKER_PRINCIPAL_DISABLED, `principal \`${principal.id}\` is disabled`, { details: { principalId: principal.id } });
        }
        if (input.sessionId === undefined) {
          // INVARIANT: an agent retrieves only within a live session of its own (DESIGN: agents
          // create only sessions' retrievals and proposals), so its budgets and time limit hold.
          if (principal.kind === 'agent') {
            throw new WritError(
              BrokerErrors.BROKER_SESSION_REQUIRED,
              `agent \`${principal.id}\` must retrieve within a session: open one first (\`POST /v1/sessions\`, \`writ session create\`) and pass its id as \`sessionId\``,
              { details: { actorId: principal.id } },
            );
          }
          return retrieval.retrieve({ ...input, principal });
        }
        const session = broker.getSession(input.sessionId);
        // INVARIANT: a session's retrievals belong to its actor; nobody else may charge or cite it.
        if (session === undefined || session.actorId !== principal.id) {
          throw new WritError(BrokerErrors.BROKER_SESSION_NOT_FOUND, `session \`${input.sessionId}\` does not exist`, { details: { sessionId: input.sessionId } });
        }
        // Refused before any work when the session is not live or its retrievals are spent;
        // charged in the transaction that stores the bundle, so a retrieval is charged
        // exactly when it is recorded (a concurrent one that spent the budget first makes
        // this one fail whole: no bundle, no charge).
        // A session with no context characters left would get an empty answer and still be
        // charged a retrieval: it is refused like any other spent budget.
        broker.checkSessionCharge(session, { retrievals: 1, contextChars: 1 });
        const remaining = session.budgets.contextChars - session.used.contextChars;
        const maxChars = Math.min(input.budget?.maxChars ?? config.retrieval.maxChars, Math.max(1, remaining));
        const sessionId = input.sessionId;
        return retrieval.retrieve(
          { ...input, budget: { maxChars }, principal },
          { alongsideBundle: (db, { contextChars }) => broker.chargeSessionIn(db, sessionId, { retrievals: 1, contextChars }) },
        );
      },
      async health() {
        const sqlite = (() => {
          try {
            store.db.prepare('SELECT 1').get();
            return { status: 'ok' as const, version: store.sqliteVersion, path: store.path };
          } catch (err) {
            return { status: 'down' as const, version: store.sqliteVersion, path: store.path, error: (err as Error).message };
          }
        })();
        // Counted on the partial index of pending chunks: cheap when in step.
        const pendingVectors = sqlite.status === 'ok' ? (store.db.prepare('SELECT count(*) FROM chunks WHERE active <> in_vector_index').pluck().get() as number) : 0;
        const { status, version, url, embedded, mode, restarts, crashesInARow, lastExit, nextStartInMs, error } = await supervisor.status();
        const chromaPart = { status, version, url, embedded, mode, pendingVectors, restarts, crashesInARow, lastExit, nextStartInMs, ...(error === undefined ? {} : { error }) };
        const model = { status: 'ok' as const, id: embedder.modelId, dimension: embedder.dimension };
        const { lists, bytes, served, fellBack } = retrieval.termLists.stats;
        const lexical = { status: 'ok' as const, lists, bytes, served, fellBack };
        const ok = sqlite.status === 'ok' && chromaPart.status === 'ok' && model.status === 'ok';
        return { status: ok ? 'ok' : 'degraded', version: WRIT_VERSION, parts: { sqlite, chroma: chromaPart, model, lexical } };
      },
      version: () => ({
        writ: WRIT_VERSION,
        node: process.version,
        sqlite: store.sqliteVersion,
        chroma: supervisor.chroma.version,
        model: embedder.modelId,
      }),
      async close() {
        if (closed) return;
        closed = true;
        await runCleanup(cleanup, logger);
      },
    };
    return app;
  } catch (err) {
    await runCleanup(cleanup, logger);
    throw err;
  }
}

/**
 * Checks `key` against the home as the workspace is about to leave it, before anything is
 * loaded into it (a refused key writes nothing; a good one has its last use noted, as on every
 * call): the key must be stored and not revoked, and its principal enabled once the
 * workspace's principals are synced (one the workspace re-enables passes; one it disables fails).
 */
function authenticateBeforeSeed(deps: { keys: ApiKeys; broker: Broker; workspace: Workspace }, key: string | undefined): void {
  const { principalId } = deps.keys.authenticate(key);
  const listed = deps.workspace.principals.find((p) => p.id === principalId);
  const isEnabled = listed !== undefined ? !listed.disabled : deps.broker.getPrincipalRecord(principalId)?.disabled === false;
  // INVARIANT: nothing is loaded into the home for a caller whose key would be refused.
  if (!isEnabled) throw new WritError(AuthErrors.AUTH_INVALID_KEY, 'invalid api key');
}

/**
 * Loads the workspace into the home: principals (upserted when they changed), documents
 * (unchanged ones are no-ops by content hash), and an API key for each principal that never
 * had one. New keys are returned once and, for the sample workflow, added to
 * `<home>/first-start-keys.json` (mode 0600). A workspace file that cannot be ingested is
 * logged as a warning (it stays pending: the next start retries it); the rest is loaded.
 */
async function seed(
  workspace: Workspace,
  deps: { broker: Broker; retrieval: Retrieval; keys: ApiKeys; config: Config; logger: Logger; onProgress?: ((line: string) => void) | undefined },
): Promise<IssuedApiKey[]> {
  const { broker, retrieval, keys, config } = deps;
  syncPrincipals(broker, workspace, deps.logger);
  for (const source of workspace.documents) {
    const summary = await retrieval.ingestPath([source.absPath], {
      tenant: source.tenant,
      readers: source.readers,
      labels: source.labels,
      // The workspace's folders are the whole truth: a document whose file was deleted from
      // them is revoked, as `writ ingest --watch` does when it sees the deletion.
      revokeMissing: true,
      ...(deps.onProgress === undefined ? {} : { onProgress: (p) => deps.onProgress?.(`ingest ${source.path}: ${p.filesDone}/${p.filesTotal} files, ${p.chunks} chunks`) }),
    });
    if (summary.created + summary.updated > 0) deps.onProgress?.(`ingested ${source.path}: ${summary.created} new, ${summary.updated} updated documents`);
    if (summary.revoked > 0) deps.onProgress?.(`revoked ${summary.revoked} documents whose files left ${source.path}`);
    if (summary.keptRevoked > 0) deps.onProgress?.(`kept ${summary.keptRevoked} revoked documents of ${source.path} revoked (edit a file, or ingest it on its own, to restore it)`);
    if (summary.warning !== undefined) deps.logger.warn({ path: source.path, code: summary.warning.code, reason: summary.warning.message }, 'workspace documents stored; their vectors are pending');
    for (const failure of summary.failed) {
      deps.logger.warn({ path: failure.path, code: failure.code }, `workspace document not ingested: ${failure.message}`);
      deps.onProgress?.(`not ingested: ${failure.path}: ${failure.message} [${failure.code}]`);
    }
  }
  // INVARIANT: a key is minted only for a principal that never had one. A revoked key stays
  // revoked: a restart does not hand its principal a new one.
  const issued: IssuedApiKey[] = [];
  for (const principal of workspace.principals) {
    if (keys.list(principal.id).length > 0) continue;
    issued.push(keys.create(principal.id, 'first start'));
  }
  if (issued.length > 0) addToKeyFile(join(config.home, 'first-start-keys.json'), issued);
  return issued;
}

/** Adds keys to the sample workflow's key file (mode 0600), written whole and renamed into place. */
function addToKeyFile(file: string, issued: readonly IssuedApiKey[]): void {
  let known: Record<string, string> = {};
  try {
    known = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  } catch {
    // No file yet (or not ours to read): start one.
  }
  for (const k of issued) known[k.principalId] = k.key;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(known, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** The authority half of a Writ home: store, ledger, broker and API keys — no Chroma, no model. */
export interface Authority {
  readonly store: Store;
  readonly ledger: LedgerApi;
  readonly broker: Broker;
  readonly keys: ApiKeys;
  readonly warrantKeyring: Keyring;
  /** Signs a final ledger checkpoint, then closes the ledger and the store. Idempotent. */
  close(): void;
}

/**
 * Opens the authority half of a home: the same files, migrations, keyrings and ledger
 * anchor that `createApp` uses, so the CLI's light commands and the server share one home.
 */
export function openAuthority(
  config: Config,
  parts: { workspace: Workspace; catalog: Catalog; policyEngine: DecisionEngine; backgroundCheckpoint?: boolean; logger?: Logger },
): Authority {
  const logger = parts.logger ?? createLogger(config.logLevel);
  // The home first: every other file lives in it, so a home that cannot be a folder is the
  // setting to name (not the first file that happens to fail inside it).
  try {
    // Owner-only, as `writ backup` makes its copy: the home holds every tenant's documents,
    // proposals and ledger (an existing home keeps the mode its operator gave it).
    mkdirSync(config.home, { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw new WritError(CoreErrors.CONFIG_INVALID, `invalid configuration: \`home\`: cannot use \`${config.home}\` as the Writ home: ${(cause as Error).message}`, {
      cause,
      details: { issues: [{ path: 'home', env: 'WRIT_HOME', code: 'custom', message: `cannot create the folder \`${config.home}\`` }] },
    });
  }
  const anchorFile = config.broker.anchorFile ?? join(config.home, 'ledger-anchor.json');
  // A misplaced anchor is refused now, not found out from a warning every 1000 entries.
  try {
    mkdirSync(dirname(anchorFile), { recursive: true });
  } catch (cause) {
    throw new WritError(CoreErrors.CONFIG_INVALID, `invalid configuration: \`broker.anchorFile\`: cannot create the folder of \`${anchorFile}\`: ${(cause as Error).message}`, {
      cause,
      details: { issues: [{ path: 'broker.anchorFile', env: 'WRIT_LEDGER_ANCHOR_FILE', code: 'custom', message: `cannot create the folder of \`${anchorFile}\`` }] },
    });
  }
  const store = openStore({
    path: join(config.home, 'writ.db'),
    busyTimeoutMs: config.store.busyTimeoutMs,
    backgroundCheckpoint: parts.backgroundCheckpoint ?? false,
    migrations: [...ledgerMigrations, ...retrievalMigrations, ...brokerMigrations, ...authMigrations],
  });
  let ledger: LedgerApi | undefined;
  try {
    ledger = createLedger({
      store,
      keyring: openKeyring({ dir: join(config.home, 'keys', 'ledger'), purpose: 'ledger' }),
      checkpointEvery: config.broker.checkpointEvery,
      anchorFile,
      onAnchorError: (err, checkpoint) =>
        logger.warn({ err, anchorFile, seq: checkpoint.seq }, 'ledger: could not write the anchor file; it names an older checkpoint until a later write succeeds'),
    });
    const warrantKeyring = openKeyring({ dir: join(config.home, 'keys', 'warrant'), purpose: 'warrant' });
    const broker = createBroker({
      store,
      ledger,
      catalog: parts.catalog,
      policyEngine: parts.policyEngine,
      evidenceReader: createBundleEvidenceReader(store),
      warrantKeyring,
      config: {
        warrantTtlMs: config.broker.warrantTtlMs,
        approvalTtlMs: config.broker.approvalTtlMs,
        ...(config.broker.defaultBudgets ? { defaultBudgets: config.broker.defaultBudgets } : {}),
        maxBudgets: config.broker.maxBudgets,
        taintCacheChars: config.broker.taintCacheChars,
      },
    });
    const keys = createApiKeys({ store, principalExists: (id) => broker.getPrincipal(id) !== undefined });
    const opened = ledger;
    let closed = false;
    return {
      store,
      ledger,
      broker,
      keys,
      warrantKeyring,
      close() {
        if (closed) return;
        closed = true;
        try {
          // Signs a checkpoint at the head (the last word), unless the database stays locked.
          opened.close();
        } finally {
          store.close();
        }
      },
    };
  } catch (err) {
    ledger?.close();
    store.close();
    throw err;
  }
}

/**
 * Registers the workspace's principals that are new or changed, `disabled` included (each
 * recorded in the ledger). A registered principal the file no longer lists is left as it is
 * and named in a warning: withdrawing one is an explicit `disabled: true`.
 */
export function syncPrincipals(broker: Broker, workspace: Workspace, logger?: Logger): void {
  const listed = new Set(workspace.principals.map((p) => p.id));
  for (const { disabled, ...principal } of workspace.principals) {
    const record = broker.getPrincipalRecord(principal.id);
    const current = record?.principal;
    if (current !== undefined && current.tenant !== principal.tenant) {
      // A principal never moves between tenants (its records, keys and ledger entries are the
      // old tenant's): the workspace file is what is wrong, so say so, naming the entry.
      throw new WritError(
        WorkspaceErrors.WORKSPACE_INVALID,
        `invalid workspace \`${workspace.dir}\`: principal \`${principal.id}\` is registered in tenant \`${current.tenant}\`, not \`${principal.tenant}\`; a principal cannot change tenant — give it a new id`,
        { details: { path: workspace.dir, issues: [{ path: `principals.${principal.id}.tenant`, code: 'custom', message: `registered in tenant \`${current.tenant}\`` }] } },
      );
    }
    if (record === undefined || record.disabled !== disabled || canonicalJson(current as never) !== canonicalJson(principal as never)) {
      broker.upsertPrincipal(principal, { disabled });
    }
  }
  const unlisted = broker.listPrincipals().filter((r) => !listed.has(r.principal.id) && !r.disabled);
  if (unlisted.length > 0) {
    logger?.warn(
      { principals: unlisted.map((r) => r.principal.id) },
      'registered principals missing from the workspace stay enabled; list them with `disabled: true` to withdraw them',
    );
  }
}

async function runCleanup(steps: Array<() => Promise<void> | void>, logger: Logger): Promise<void> {
  for (const step of steps.reverse()) {
    try {
      await step();
    } catch (err) {
      logger.warn({ err }, 'shutdown step failed');
    }
  }
}
