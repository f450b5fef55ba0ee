// Lifecycle of the Chroma server: the embedded child process (the `chroma` CLI shipped by
// the chromadb package, on a free loopback port) or an external server named by CHROMA_URL.
// Start waits for the heartbeat; stop is SIGTERM, then SIGKILL; no child outlives Writ.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { WritError, onShutdown, parseInput, type Logger } from '../core/index.js';
import { RetrievalErrors } from './errors.js';

/** How the embedded Chroma child ended. */
export interface ChromaExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when `stop()` asked for it. */
  readonly expected: boolean;
}

/** A Chroma server Writ talks to: its embedded child, or an external one (`pid` null). */
export interface ChromaServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Pid of the embedded child; null for an external server. */
  readonly pid: number | null;
  /** What the server reports at `/api/v2/version` (here `1.0.0`). */
  readonly version: string;
  /** Data folder of the embedded child; null for an external server. */
  readonly dataDir: string | null;
  /** Resolves when the server answers its heartbeat; rejects with RETRIEVAL_CHROMA_UNAVAILABLE. */
  heartbeat(): Promise<void>;
  /** False once the embedded child exited (or `stop()` was called on an external server). */
  isRunning(): boolean;
  /** Calls `cb` once when the embedded child exits (never for an external server). Returns an unsubscribe. */
  onExit(cb: (exit: ChromaExit) => void): () => void;
  /** The child's last `n` output lines (ANSI colours and the logo removed); empty for an external server. */
  lastLogLines(n?: number): string[];
  /**
   * The error a caller should get when a request to this server failed to connect: it says
   * whether the embedded child died (with its exit and last log lines) or just does not answer.
   */
  unavailableError(during: string, cause?: unknown): WritError;
  /** Stops the embedded child: SIGTERM, then SIGKILL after a grace period. Idempotent. No-op for an external server. */
  stop(): Promise<void>;
}

const StartOptionsSchema = z
  .object({
    dataDir: z.string().min(1),
    port: z.number().int().min(0).max(65535).default(0),
    host: z.string().min(1).default('127.0.0.1'),
    startTimeoutMs: z.number().int().positive().default(30_000),
    /** Wait after SIGTERM before SIGKILL. */
    stopGraceMs: z.number().int().positive().default(5_000),
    /** Lines of child output kept for errors. */
    logLines: z.number().int().positive().max(10_000).default(50),
    logger: z.custom<Logger>((v) => v === undefined || (typeof v === 'object' && v !== null)).optional(),
  })
  .strict();

/** Options of `startChroma`. */
export type StartChromaOptions = z.input<typeof StartOptionsSchema>;

const HEARTBEAT_PATH = '/api/v2/heartbeat';
const VERSION_PATH = '/api/v2/version';
const PORT_ATTEMPTS = 3;
const HOST_SCRIPT = fileURLToPath(new URL('./chroma-host.mjs', import.meta.url));

/** Absolute path of the `chroma` CLI script declared in the chromadb package's `bin`. */
export function resolveChromaCli(): string {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve('chromadb');
  } catch (cause) {
    throw new WritError(RetrievalErrors.RETRIEVAL_CHROMA_START_FAILED, 'cannot start chroma: the `chromadb` package is not installed', { cause });
  }
  // package.json is not in the package's `exports`, so walk up from its entry point.
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; bin?: string | Record<string, string> };
    if (pkg.name !== 'chromadb') continue;
    const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.chroma;
    if (bin !== undefined && existsSync(join(dir, bin))) return join(dir, bin);
    break;
  }
  throw new WritError(RetrievalErrors.RETRIEVAL_CHROMA_START_FAILED, `cannot start chroma: the \`chromadb\` package near \`${entry}\` declares no \`chroma\` CLI`);
}

/** A port that was free on `host` a moment ago (bind port 0, read it, close). */
export function pickFreePort(host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolveFree(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolveFree(true)));
  });
}

/** Keeps the last lines a child printed, without ANSI colours, blank lines or the ASCII logo. */
class LogRing {
  private readonly lines: string[] = [];
  private partial = '';

  constructor(private readonly capacity: number, private readonly onLine?: (line: string) => void) {}

  push(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const parts = text.split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    for (const part of parts) this.add(part);
  }

  flush(): void {
    if (this.partial !== '') this.add(this.partial);
    this.partial = '';
  }

  last(n: number): string[] {
    return this.lines.slice(Math.max(0, this.lines.length - n));
  }

  private add(raw: string): void {
    // eslint-disable-next-line no-control-regex
    const line = raw.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '').trimEnd();
    if (line.trim() === '' || /^[\s(#]+$/.test(line)) return;
    this.lines.push(line);
    if (this.lines.length > this.capacity) this.lines.shift();
    this.onLine?.(line);
  }
}

function messageOf(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
    return typeof code === 'string' ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/** GETs a small JSON document with a time limit. */
async function getJson(url: string, timeoutMs: number): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`\`${url}\` answered HTTP ${response.status}`);
  return response.json();
}

function urlFor(host: string, port: number): string {
  // A wildcard bind is reached over loopback.
  const reach = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reach.includes(':') ? `[${reach}]` : reach}:${port}`;
}

/** The line that best says why the child failed: a Rust panic's message, else the last line. */
function tellingLine(lines: readonly string[]): string | undefined {
  const panic = lines.findIndex((l) => l.includes(' panicked at '));
  return panic >= 0 && panic + 1 < lines.length ? lines[panic + 1] : lines[lines.length - 1];
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `signal \`${signal}\`` : `code \`${code}\``;
}

/** True when `p` settles within `ms`; the timer never outlives the wait. */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolveWait) => {
    const timer = setTimeout(() => resolveWait(false), ms);
    void p.then(() => {
      clearTimeout(timer);
      resolveWait(true);
    });
  });
}

/**
 * Starts the `chroma` CLI of the installed chromadb package as a child process, storing
 * data under `dataDir`, and resolves once it answers its heartbeat. With `port` 0 a free
 * loopback port is picked (retried if another process takes it first). The child is
 * stopped on SIGINT/SIGTERM (see `onShutdown`) and on process exit, and it ends itself
 * when Writ dies, even by SIGKILL (its stdin pipe closes; see chroma-host.mjs).
 *
 * @throws WritError RETRIEVAL_CHROMA_START_FAILED with `details.lastLogLines`.
 * @example
 * const chroma = await startChroma({ dataDir: join(home, 'chroma') });
 * console.log(chroma.url, chroma.version);
 * await chroma.stop();
 */
export async function startChroma(options: StartChromaOptions): Promise<ChromaServer> {
  const opts = parseInput(StartOptionsSchema, options, 'chroma start options');
  const dataDir = resolve(opts.dataDir);
  const cli = resolveChromaCli();
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch {
    // Chroma reports the problem itself (and the error then carries its words).
  }
  const deadline = Date.now() + opts.startTimeoutMs;
  for (let attempt = 1; ; attempt++) {
    let port = opts.port;
    if (port === 0) {
      port = await pickFreePort(opts.host);
    } else if (!(await isPortFree(opts.host, port))) {
      throw new WritError(RetrievalErrors.RETRIEVAL_CHROMA_START_FAILED, `cannot start chroma: port \`${port}\` on \`${opts.host}\` is taken by another process`, {
        details: { host: opts.host, port, dataDir, lastLogLines: [] },
      });
    }
    const outcome = await launch({ ...opts, dataDir, port, cli, deadline });
    if (outcome.server) return outcome.server;
    const retry = outcome.bindFailed && opts.port === 0 && attempt < PORT_ATTEMPTS && Date.now() < deadline;
    if (!retry) throw outcome.error;
    opts.logger?.warn({ port }, 'chroma: port taken before the child bound it; retrying on another port');
  }
}

interface LaunchInput {
  readonly dataDir: string;
  readonly port: number;
  readonly host: string;
  readonly cli: string;
  readonly deadline: number;
  readonly startTimeoutMs: number;
  readonly stopGraceMs: number;
  readonly logLines: number;
  readonly logger?: Logger | undefined;
}

type LaunchOutcome = { server: ChromaServer } | { server?: undefined; error: WritError; bindFailed: boolean };

async function launch(input: LaunchInput): Promise<LaunchOutcome> {
  const { dataDir, port, host, logger } = input;
  const url = urlFor(host, port);
  const log = new LogRing(input.logLines, (line) => logger?.debug({ line }, 'chroma output'));
  const started = Date.now();
  const child: ChildProcess = spawn(
    process.execPath,
    [HOST_SCRIPT, input.cli, 'run', '--path', dataDir, '--host', host, '--port', String(port)],
    {
      // stdin is the watchdog pipe: the child ends itself when it closes.
      stdio: ['pipe', 'pipe', 'pipe'],
      // A Rust backtrace would push the panic message out of the kept lines.
      env: { ...process.env, RUST_BACKTRACE: '0' },
      windowsHide: true,
    },
  );
  child.stdout?.on('data', (d: Buffer) => log.push(d));
  child.stderr?.on('data', (d: Buffer) => log.push(d));
  child.stdin?.on('error', () => undefined);

  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolveExit) => {
    child.once('error', (err) => {
      spawnError = err;
      exit ??= { code: null, signal: null };
      resolveExit();
    });
    // 'close' (not 'exit') so every output line is in the ring first.
    child.once('close', (code, signal) => {
      log.flush();
      exit = { code, signal };
      resolveExit();
    });
  });

  const failure = (message: string, extra: Record<string, unknown> = {}, cause?: unknown): WritError =>
    new WritError(RetrievalErrors.RETRIEVAL_CHROMA_START_FAILED, message, {
      details: { host, port, dataDir, pid: child.pid ?? null, exitCode: exit?.code ?? null, signal: exit?.signal ?? null, ...extra, lastLogLines: log.last(input.logLines) },
      cause,
    });

  // Poll the heartbeat until it answers, the child exits, or time runs out.
  let lastProblem = 'no answer yet';
  while (exit === undefined) {
    if (Date.now() >= input.deadline) {
      await terminate(child, exited, input.stopGraceMs);
      return { error: failure(`chroma did not answer \`${HEARTBEAT_PATH}\` within ${input.startTimeoutMs} ms: ${lastProblem}`, { timeoutMs: input.startTimeoutMs }), bindFailed: false };
    }
    try {
      await getJson(url + HEARTBEAT_PATH, 1000);
      // Something answers; make sure it is our child and not a process that took the port.
      await settlesWithin(exited, 50);
      if (exit === undefined) break;
    } catch (err) {
      lastProblem = messageOf(err);
      await settlesWithin(exited, Date.now() - started < 2000 ? 100 : 250);
    }
  }
  if (exit !== undefined) {
    const lines = log.last(input.logLines);
    const bindFailed = lines.some((l) => /is not available|address already in use/i.test(l));
    const why = spawnError !== undefined ? `could not run \`${process.execPath}\`: ${spawnError.message}` : `the chroma child exited with ${describeExit(exit.code, exit.signal)} before answering`;
    const said = tellingLine(lines);
    return { error: failure(`cannot start chroma: ${why}${said !== undefined ? `: ${said}` : ''}`, {}, spawnError), bindFailed };
  }

  let version: string;
  try {
    version = String(await getJson(url + VERSION_PATH, 2000));
  } catch (err) {
    await terminate(child, exited, input.stopGraceMs);
    return { error: failure(`chroma answered its heartbeat but not \`${VERSION_PATH}\`: ${messageOf(err)}`), bindFailed: false };
  }
  logger?.info({ url, pid: child.pid, version, dataDir, ms: Date.now() - started }, 'chroma started');
  return { server: embeddedServer({ child, exited, url, version, dataDir, log, logger, stopGraceMs: input.stopGraceMs, logLines: input.logLines, getExit: () => exit }) };
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL and wait for the exit. */
async function terminate(child: ChildProcess, exited: Promise<void>, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  if (await settlesWithin(exited, graceMs)) return;
  child.kill('SIGKILL');
  await exited;
}

interface EmbeddedInput {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  readonly url: string;
  readonly version: string;
  readonly dataDir: string;
  readonly log: LogRing;
  readonly logger?: Logger | undefined;
  readonly stopGraceMs: number;
  readonly logLines: number;
  readonly getExit: () => { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

function embeddedServer(input: EmbeddedInput): ChromaServer {
  const { child, exited, url, version, dataDir, log, logger } = input;
  const pid = child.pid as number;
  const listeners = new Set<(exit: ChromaExit) => void>();
  let stopping: Promise<void> | undefined;
  let exitInfo: ChromaExit | undefined;

  // Last resort on a normal process exit: no time to wait, but the signal ends the child.
  const killOnExit = (): void => {
    if (exitInfo === undefined) child.kill('SIGTERM');
  };
  process.on('exit', killOnExit);
  const offShutdown = onShutdown(() => server.stop());

  void exited.then(() => {
    const raw = input.getExit() ?? { code: null, signal: null };
    exitInfo = { ...raw, expected: stopping !== undefined };
    process.off('exit', killOnExit);
    offShutdown();
    if (!exitInfo.expected) {
      logger?.error({ pid, exitCode: raw.code, signal: raw.signal, lastLogLines: log.last(input.logLines) }, 'chroma exited unexpectedly');
    }
    for (const cb of listeners) {
      try {
        cb(exitInfo);
      } catch (err) {
        logger?.warn({ err }, 'chroma exit listener failed');
      }
    }
    listeners.clear();
  });

  const server: ChromaServer = {
    url,
    pid,
    version,
    dataDir,
    isRunning: () => exitInfo === undefined && stopping === undefined,
    lastLogLines: (n = input.logLines) => log.last(n),
    onExit(cb) {
      if (exitInfo !== undefined) {
        const info = exitInfo;
        queueMicrotask(() => cb(info));
        return () => undefined;
      }
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    async heartbeat() {
      try {
        await getJson(url + HEARTBEAT_PATH, 2000);
      } catch (err) {
        throw server.unavailableError('heartbeat', err);
      }
    },
    unavailableError(during, cause) {
      const lastLogLines = log.last(input.logLines);
      const base = { url, pid, dataDir, lastLogLines };
      if (exitInfo !== undefined && !exitInfo.expected) {
        return new WritError(
          RetrievalErrors.RETRIEVAL_CHROMA_UNAVAILABLE,
          `${during} failed: the embedded chroma (pid ${pid}) exited unexpectedly with ${describeExit(exitInfo.code, exitInfo.signal)}: restart writ to start a new one; \`writ reindex\` rebuilds the vectors from SQLite if needed`,
          { details: { ...base, exitCode: exitInfo.code, signal: exitInfo.signal }, cause },
        );
      }
      if (stopping !== undefined) {
        return new WritError(RetrievalErrors.RETRIEVAL_CHROMA_UNAVAILABLE, `${during} failed: the embedded chroma (pid ${pid}) was stopped`, { details: base, cause });
      }
      return new WritError(
        RetrievalErrors.RETRIEVAL_CHROMA_UNAVAILABLE,
        `${during} failed: the embedded chroma (pid ${pid}) at \`${url}\` does not answer: ${messageOf(cause)}: retry, or restart writ if it persists`,
        { details: base, cause },
      );
    },
    stop() {
      stopping ??= (async () => {
        offShutdown();
        await terminate(child, exited, input.stopGraceMs);
        process.off('exit', killOnExit);
        logger?.info({ pid }, 'chroma stopped');
      })();
      return stopping;
    },
  };
  return server;
}

const ConnectOptionsSchema = z
  .object({
    timeoutMs: z.number().int().positive().default(5_000),
    logger: z.custom<Logger>((v) => v === undefined || (typeof v === 'object' && v !== null)).optional(),
  })
  .strict();

/**
 * Uses an external Chroma server (CHROMA_URL): starts nothing, checks that it answers its
 * v2 heartbeat and reads its version.
 *
 * @throws WritError RETRIEVAL_CHROMA_UNAVAILABLE when it does not answer.
 * @example
 * const chroma = await connectChroma('http://chroma.internal:8000');
 */
export async function connectChroma(url: string, options: z.input<typeof ConnectOptionsSchema> = {}): Promise<ChromaServer> {
  const base = parseInput(z.url({ protocol: /^https?$/ }), url, 'chroma url').replace(/\/+$/, '');
  const opts = parseInput(ConnectOptionsSchema, options, 'chroma connect options');
  let stopped = false;
  const unavailableError = (during: string, cause?: unknown): WritError =>
    new WritError(
      RetrievalErrors.RETRIEVAL_CHROMA_UNAVAILABLE,
      `${during} failed: chroma at \`${base}\` does not answer: ${messageOf(cause)}: start that server or correct \`CHROMA_URL\``,
      { details: { url: base, pid: null, lastLogLines: [] }, cause },
    );
  let version: string;
  try {
    await getJson(base + HEARTBEAT_PATH, opts.timeoutMs);
    version = String(await getJson(base + VERSION_PATH, opts.timeoutMs));
  } catch (err) {
    throw unavailableError('connecting to chroma', err);
  }
  opts.logger?.info({ url: base, version }, 'chroma connected (external)');
  return {
    url: base,
    pid: null,
    version,
    dataDir: null,
    isRunning: () => !stopped,
    lastLogLines: () => [],
    onExit: () => () => undefined,
    unavailableError,
    async heartbeat() {
      try {
        await getJson(base + HEARTBEAT_PATH, opts.timeoutMs);
      } catch (err) {
        throw unavailableError('heartbeat', err);
      }
    },
    async stop() {
      stopped = true;
    },
  };
}
