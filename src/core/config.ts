// Every setting Writ has, in one zod schema with its defaults. Parsed once at start-up
// from an optional JSON file (`WRIT_CONFIG`) overlaid by environment variables; every
// problem is reported together, then the result is frozen. Only this module reads env.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { PACKAGE_ROOT } from './version.js';
import { z } from 'zod';
import { CoreErrors, WritError, type InputIssue } from './errors.js';
import { toInputIssues } from './validate.js';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const budget = z.coerce.number().int().nonnegative();
const sessionBudgets = z.object({ retrievals: budget, proposals: budget, contextChars: budget }).strict();
type SessionBudgets = z.output<typeof sessionBudgets>;
const BUDGET_NAMES = ['retrievals', 'proposals', 'contextChars'] as const;

// Budgets of a session that asks for none when the config names none: the broker's own
// defaults (src/broker/config.ts), kept in step by test/core/config-budgets.test.ts.
const DEFAULT_SESSION_BUDGETS: Readonly<SessionBudgets> = Object.freeze({ retrievals: 100, proposals: 20, contextChars: 200_000 });

export const ConfigSchema = z
  .object({
    /** Folder holding the SQLite file, Chroma data and keys. */
    home: z.string().min(1).default('./.writ'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    store: z
      .object({
        /** How long a write waits for another writer's lock on the SQLite file before STORE_BUSY. */
        busyTimeoutMs: z.coerce.number().int().min(0).max(600_000).default(5_000),
      })
      .strict()
      .default({ busyTimeoutMs: 5_000 }),
    server: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: port.default(8787),
        /** Per-principal token bucket on every authenticated route: sustained requests per second and burst. */
        ratePerSecond: z.coerce.number().positive().default(200),
        rateBurst: positiveInt.default(400),
        /** Largest accepted request body, in bytes. */
        bodyLimit: positiveInt.default(1024 * 1024),
        /** Time limit of one request (retrieval has its own, shorter limit). */
        routeTimeoutMs: positiveInt.default(30_000),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8787, ratePerSecond: 200, rateBurst: 400, bodyLimit: 1024 * 1024, routeTimeoutMs: 30_000 }),
    chroma: z
      .object({
        /** An external Chroma server; when set, Writ starts none. */
        url: z.url({ protocol: /^https?$/ }).optional(),
        /** Port of the embedded Chroma child; 0 picks a free loopback port. */
        port: port.default(0),
        startTimeoutMs: positiveInt.default(30_000),
        /** Start the embedded Chroma again when it exits unexpectedly (off: it stays down until Writ restarts, for a supervisor that restarts the whole process). */
        restartOnExit: z.union([z.boolean(), z.stringbool()]).default(true),
      })
      .strict()
      .default({ port: 0, startTimeoutMs: 30_000, restartOnExit: true }),
    embedder: z
      .object({
        /** `bundled`, a local model folder, or a transformers.js model id. */
        model: z.string().min(1).default('bundled'),
        batchSize: positiveInt.max(4096).default(256),
      })
      .strict()
      .default({ model: 'bundled', batchSize: 256 }),
    retrieval: z
      .object({
        /** Largest `k` a retrieval may ask for. */
        maxK: positiveInt.max(1000).default(50),
        /** Largest context budget (characters of chunk text) of one retrieval. */
        maxChars: positiveInt.default(40_000),
        /** Longest query text in characters. */
        maxQueryChars: positiveInt.default(4_000),
        /** Time limit of one retrieval when the caller gives none, and the most it may ask. */
        timeoutMs: positiveInt.default(2_000),
        maxTimeoutMs: positiveInt.default(30_000),
        /** Per-principal token bucket: sustained retrievals per second and burst size. */
        ratePerSecond: z.coerce.number().positive().default(20),
        rateBurst: positiveInt.default(40),
        /** Chunking: size limit, overlap and the smallest chunk a heading closes. */
        chunkMaxChars: positiveInt.default(2_000),
        chunkOverlapChars: z.coerce.number().int().min(0).default(200),
        /** Weight of the dense score in the fused score (0 = lexical only). */
        denseWeight: z.coerce.number().min(0).max(1).default(0.3),
        /** At or below this many readable chunks, dense search scans them exactly. */
        exactScanMaxChunks: positiveInt.default(5_000),
        /** Memory for per-word lexical score lists in MB (0: rank with FTS5 alone). */
        lexicalCacheMb: z.coerce.number().int().min(0).default(128),
      })
      .strict()
      .default({
        maxK: 50, maxChars: 40_000, maxQueryChars: 4_000, timeoutMs: 2_000, maxTimeoutMs: 30_000, ratePerSecond: 20, rateBurst: 40,
        chunkMaxChars: 2_000, chunkOverlapChars: 200, denseWeight: 0.3, exactScanMaxChunks: 5_000, lexicalCacheMb: 128,
      }),
    /** The workspace folder (catalog, policies, principals, documents); default: the sample refund desk. */
    workspace: z.string().min(1).default(join(PACKAGE_ROOT, 'examples', 'support-desk')),
    broker: z
      .object({
        /** Lifetime of a warrant in ms (default 5 minutes). */
        warrantTtlMs: positiveInt.max(24 * 3600_000).default(5 * 60_000),
        /** Lifetime of an approval in ms (default 24 hours). */
        approvalTtlMs: positiveInt.default(24 * 3600_000),
        /**
         * Budgets of a session that asks for none. Left out: `DEFAULT_SESSION_BUDGETS` (100
         * retrievals, 20 proposals, 200,000 characters), each lowered to `maxBudgets` when
         * that is smaller; given: each must be at most its `maxBudgets` (CONFIG_INVALID).
         * Always set after `loadConfig`.
         */
        defaultBudgets: sessionBudgets.optional(),
        /** The most a session may ask for, budget by budget (default: ten times the default budgets). */
        maxBudgets: z
          .object({ retrievals: budget.default(1_000), proposals: budget.default(200), contextChars: budget.default(2_000_000) })
          .strict()
          .default({ retrievals: 1_000, proposals: 200, contextChars: 2_000_000 }),
        /**
         * Characters of shown text taint keeps prepared between decisions (with its forms, ~7
         * per character of text; 0: off). The default holds two sessions at the default
         * \`maxBudgets.contextChars\`; raise it with that ceiling, or for more long sessions at once.
         */
        taintCacheChars: z.coerce.number().int().min(0).max(1_000_000_000).default(32_000_000),
        /** Sign a ledger checkpoint every N entries (0: only on shutdown). */
        checkpointEvery: z.coerce.number().int().min(0).default(1000),
        /**
         * The ledger's anchor file, the newest signed checkpoint kept outside the database
         * (default `<home>/ledger-anchor.json`). Where a tail cut off together with its
         * checkpoints must be caught, put it where whoever can rewrite the database cannot.
         */
        anchorFile: z.string().min(1).optional(),
      })
      .strict()
      .default({ warrantTtlMs: 5 * 60_000, approvalTtlMs: 24 * 3600_000, checkpointEvery: 1000, taintCacheChars: 32_000_000, maxBudgets: { retrievals: 1_000, proposals: 200, contextChars: 2_000_000 } }),
  })
  .strict();

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/** Environment variables and the config path each one sets. */
export const ENV_SETTINGS: ReadonlyArray<{ env: string; path: readonly string[]; doc: string }> = [
  { env: 'WRIT_WORKSPACE', path: ['workspace'], doc: 'workspace folder: catalog, policies, principals, documents (default: the sample refund desk)' },
  { env: 'WRIT_WARRANT_TTL_MS', path: ['broker', 'warrantTtlMs'], doc: 'lifetime of a warrant in ms' },
  { env: 'WRIT_APPROVAL_TTL_MS', path: ['broker', 'approvalTtlMs'], doc: 'lifetime of an approval in ms' },
  { env: 'WRIT_SESSION_MAX_RETRIEVALS', path: ['broker', 'maxBudgets', 'retrievals'], doc: 'most retrievals a session may ask for' },
  { env: 'WRIT_SESSION_MAX_PROPOSALS', path: ['broker', 'maxBudgets', 'proposals'], doc: 'most proposals a session may ask for' },
  { env: 'WRIT_SESSION_MAX_CONTEXT_CHARS', path: ['broker', 'maxBudgets', 'contextChars'], doc: 'most context characters a session may ask for' },
  { env: 'WRIT_TAINT_CACHE_CHARS', path: ['broker', 'taintCacheChars'], doc: 'characters of shown text taint keeps prepared between decisions (0: off)' },
  { env: 'WRIT_LEDGER_ANCHOR_FILE', path: ['broker', 'anchorFile'], doc: "the ledger's anchor file (default `<home>/ledger-anchor.json`)" },
  { env: 'WRIT_HOME', path: ['home'], doc: 'folder for the SQLite file, Chroma data and keys' },
  { env: 'WRIT_LOG_LEVEL', path: ['logLevel'], doc: 'server log level (`silent` to turn logs off)' },
  { env: 'WRIT_STORE_BUSY_TIMEOUT_MS', path: ['store', 'busyTimeoutMs'], doc: "how long a write waits for another writer's lock on the SQLite file before `STORE_BUSY`" },
  { env: 'WRIT_HOST', path: ['server', 'host'], doc: 'address the HTTP server binds' },
  { env: 'WRIT_PORT', path: ['server', 'port'], doc: 'port of the HTTP server (0 picks a free one)' },
  { env: 'WRIT_RATE_PER_SECOND', path: ['server', 'ratePerSecond'], doc: 'sustained HTTP requests per second per principal' },
  { env: 'WRIT_RATE_BURST', path: ['server', 'rateBurst'], doc: 'burst of HTTP requests per principal' },
  { env: 'WRIT_BODY_LIMIT', path: ['server', 'bodyLimit'], doc: 'largest accepted HTTP request body in bytes' },
  { env: 'WRIT_ROUTE_TIMEOUT_MS', path: ['server', 'routeTimeoutMs'], doc: 'time limit of one HTTP request in ms' },
  { env: 'CHROMA_URL', path: ['chroma', 'url'], doc: 'use this Chroma server and start none' },
  { env: 'WRIT_CHROMA_PORT', path: ['chroma', 'port'], doc: 'port of the embedded Chroma (0 picks a free one)' },
  { env: 'WRIT_CHROMA_START_TIMEOUT_MS', path: ['chroma', 'startTimeoutMs'], doc: 'how long to wait for Chroma to answer' },
  { env: 'WRIT_CHROMA_RESTART', path: ['chroma', 'restartOnExit'], doc: 'start the embedded Chroma again when it exits unexpectedly (`true`/`false`)' },
  { env: 'WRIT_MODEL', path: ['embedder', 'model'], doc: '`bundled`, a model folder, or a transformers.js model id' },
  { env: 'WRIT_EMBED_BATCH', path: ['embedder', 'batchSize'], doc: 'texts per embedding batch' },
  { env: 'WRIT_RETRIEVAL_MAX_K', path: ['retrieval', 'maxK'], doc: 'largest number of results one retrieval may ask for' },
  { env: 'WRIT_RETRIEVAL_MAX_CHARS', path: ['retrieval', 'maxChars'], doc: 'largest context budget (characters) of one retrieval' },
  { env: 'WRIT_RETRIEVAL_MAX_QUERY_CHARS', path: ['retrieval', 'maxQueryChars'], doc: 'longest query text in characters' },
  { env: 'WRIT_RETRIEVAL_TIMEOUT_MS', path: ['retrieval', 'timeoutMs'], doc: 'default time limit of one retrieval' },
  { env: 'WRIT_RETRIEVAL_MAX_TIMEOUT_MS', path: ['retrieval', 'maxTimeoutMs'], doc: 'largest time limit a caller may ask for' },
  { env: 'WRIT_RETRIEVAL_RATE_PER_SECOND', path: ['retrieval', 'ratePerSecond'], doc: 'sustained retrievals per second per principal' },
  { env: 'WRIT_RETRIEVAL_RATE_BURST', path: ['retrieval', 'rateBurst'], doc: 'burst of retrievals per principal' },
  { env: 'WRIT_RETRIEVAL_DENSE_WEIGHT', path: ['retrieval', 'denseWeight'], doc: 'weight of the dense score in hybrid fusion (0..1)' },
  { env: 'WRIT_RETRIEVAL_EXACT_SCAN_MAX_CHUNKS', path: ['retrieval', 'exactScanMaxChunks'], doc: 'at or below this many readable chunks, dense search scans them exactly; also the largest backlog of chunks not yet in Chroma that broad queries scan beside it' },
  { env: 'WRIT_RETRIEVAL_LEXICAL_CACHE_MB', path: ['retrieval', 'lexicalCacheMb'], doc: 'memory (MB) for per-word BM25 score lists that rank large indexes without FTS5 scoring every match (0: off)' },
];

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const child = node[key];
    if (typeof child !== 'object' || child === null || Array.isArray(child)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Paths a config file may name; relative ones are taken from the file's own folder. */
const FILE_PATHS: ReadonlyArray<readonly string[]> = [['home'], ['workspace'], ['broker', 'anchorFile']];

/**
 * The config file with its relative paths resolved against its folder, so a workspace and
 * its config move together (`writ init` writes `"home": ".writ"`). Environment variables
 * stay relative to the working directory, as a shell user expects.
 */
function filePathsResolved(raw: Record<string, unknown>, folder: string): Record<string, unknown> {
  for (const path of FILE_PATHS) {
    const value = valueAt(raw, path);
    if (typeof value === 'string' && value !== '' && !isAbsolute(value)) setPath(raw, path, resolve(folder, value));
  }
  return raw;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new WritError(CoreErrors.CONFIG_FILE_UNREADABLE, `cannot read config file \`${path}\``, { cause, details: { path } });
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch (cause) {
    throw new WritError(CoreErrors.CONFIG_FILE_UNREADABLE, `config file \`${path}\` is not a JSON object`, { cause, details: { path } });
  }
}

/**
 * Builds the frozen configuration: defaults, then the `WRIT_CONFIG` file, then env vars,
 * then `overrides` (for library users and tests). Throws CONFIG_INVALID with every issue.
 *
 * @example
 * const config = loadConfig({ env: process.env });
 * config.server.port // 8787
 */
export function loadConfig(options: { env?: Readonly<Record<string, string | undefined>>; overrides?: ConfigInput } = {}): Config {
  const env = options.env ?? process.env;
  const raw: Record<string, unknown> = env.WRIT_CONFIG ? filePathsResolved(readConfigFile(env.WRIT_CONFIG), dirname(resolve(env.WRIT_CONFIG))) : {};
  for (const { env: name, path } of ENV_SETTINGS) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(raw, path, value);
  }
  const merged = mergeDeep(raw, (options.overrides ?? {}) as Record<string, unknown>);
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    throw invalidConfig(
      toInputIssues(result.error.issues).map((issue) => {
        const setting = ENV_SETTINGS.find((s) => s.path.join('.') === issue.path);
        return setting ? { ...issue, env: setting.env } : issue;
      }),
    );
  }
  const config = result.data;
  const fromEnv = (path: readonly string[]): string | undefined => {
    const setting = ENV_SETTINGS.find((s) => s.path.join('.') === path.join('.'));
    const overridden = valueAt(options.overrides, path) !== undefined;
    return setting !== undefined && !overridden && env[setting.env] !== undefined && env[setting.env] !== '' ? setting.env : undefined;
  };
  config.broker.defaultBudgets = settleDefaultBudgets(config.broker.defaultBudgets, config.broker.maxBudgets, fromEnv);
  config.home = resolve(config.home);
  config.workspace = resolve(config.workspace);
  config.broker.anchorFile = resolve(config.home, config.broker.anchorFile ?? 'ledger-anchor.json');
  return deepFreeze(config);
}

function invalidConfig(issues: ReadonlyArray<InputIssue & { env?: string }>): WritError {
  const list = issues.map((i) => `\`${i.path}\`: ${i.message}`).join('; ');
  return new WritError(CoreErrors.CONFIG_INVALID, `invalid configuration: ${list}`, { details: { issues } });
}

function valueAt(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const key of path) node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
  return node;
}

/**
 * The default budgets of a session. Left out, the built-in ones are lowered to the maxima
 * (setting only `WRIT_SESSION_MAX_PROPOSALS=5` must not break start-up); set explicitly
 * above a maximum, the two settings contradict each other and CONFIG_INVALID names both.
 */
function settleDefaultBudgets(
  given: SessionBudgets | undefined,
  max: Readonly<SessionBudgets>,
  fromEnv: (path: readonly string[]) => string | undefined,
): SessionBudgets {
  if (given === undefined) {
    const d = DEFAULT_SESSION_BUDGETS;
    return { retrievals: Math.min(d.retrievals, max.retrievals), proposals: Math.min(d.proposals, max.proposals), contextChars: Math.min(d.contextChars, max.contextChars) };
  }
  const issues = BUDGET_NAMES.filter((name) => given[name] > max[name]).map((name) => {
    const env = fromEnv(['broker', 'maxBudgets', name]);
    return {
      path: `broker.defaultBudgets.${name}`,
      code: 'too_big',
      message: `${given[name]} is above \`broker.maxBudgets.${name}\` (${max[name]}${env ? `, set by \`${env}\`` : ''}): lower the default or raise the maximum`,
      ...(env ? { env } : {}),
    };
  });
  if (issues.length > 0) throw invalidConfig(issues);
  return given;
}

function mergeDeep(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] =
      typeof value === 'object' && value !== null && !Array.isArray(value) && typeof current === 'object' && current !== null && !Array.isArray(current)
        ? mergeDeep(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}
