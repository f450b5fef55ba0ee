// Lifecycle of the Chroma server: the embedded child process (the `chroma` CLI shipped by
// the chromadb package, on a free loopback port) or an external server named by CHROMA_URL.
// Start waits for the heartbeat; stop is SIGTERM, then SIGKILL; no child outlives Writ.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
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

/**
 * A Chroma server Writ talks to: its embedded child (`embedded`), the embedded child of
 * another Writ process on the same data folder (`shared`), or an external one (`external`).
 */
export interface ChromaServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly mode: 'embedded' | 'shared' | 'external';
  /** Pid of the embedded child this process started; null when shared or external. */
  readonly pid: number | null;
  /** What the server reports at `/api/v2/version` (here `1.0.0`). */
  readonly version: string;
  /** Data folder of the embedded (or shared) child; null for an external server. */
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
  /** Stops the embedded child: SIGTERM, then SIGKILL after a grace period. Idempotent. No-op for a shared or external server. */
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
 * One Chroma per data folder: two servers writing the same folder lose vectors, so the
 * folder's owner is recorded in `<dataDir>.owner.json`. When another live Writ process
 * already serves the folder (a `writ serve` while the CLI runs `writ ingest` on the same
 * home), this call uses that process's Chroma instead of starting a second one (`mode`
 * `shared`; stopping it stops nothing). An owner file left by a process that is gone is
 * taken over.
 *
 * @throws WritError RETRIEVAL_CHROMA_START_FAILED with `details.lastLogLines`, or when the
 *   folder's live owner has a Chroma that does not answer.
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
  const ownerFile = ownerFileOf(dataDir);
  const owner = await claimDataDir(ownerFile, deadline);
  if (owner !== undefined) return shareOwnersChroma(owner, dataDir, ownerFile, opts.logger);
  try {
    for (let attempt = 1; ; attempt++) {
      let port = opts.port;
      if (port === 0) {
        port = await pickFreePort(opts.host);
      } else if (!(await isPortFree(opts.host, port))) {
        throw new WritError(RetrievalErrors.RETRIEVAL_CHROMA_START_FAILED, `cannot start chroma: port \`${port}\` on \`${opts.host}\` is taken by another process`, {
          details: { host: opts.host, port, dataDir, lastLogLines: [] },
        });
      }
      const outcome = await launch({ ...opts, dataDir, port, cli, deadline, ownerFile });
      if (outcome.server) {
        writeOwner(ownerFile, { pid: process.pid, url: outcome.server.url, chromaPid: outcome.server.pid, startedAt: new Date().toISOString() });
        return outcome.server;
      }
      const retry = outcome.bindFailed && opts.port === 0 && attempt < PORT_ATTEMPTS && Date.now() < deadline;
      if (!retry) throw outcome.error;
      opts.logger?.warn({ port }, 'chroma: port taken before the child bound it; retrying on another port');
    }
  } catch (err) {
    releaseDataDir(ownerFile);
    throw err;
  }
}

/** Who serves a data folder: the Writ process, and its Chroma once it answers (null while starting). */
interface DataDirOwner {
  readonly pid: number;
  readonly url: string | null;
  readonly chromaPid: number | null;
  readonly startedAt: string;
}

/** The file that names the process whose embedded Chroma serves `dataDir`. */
export function ownerFileOf(dataDir: string): string {
  return `${resolve(dataDir)}.owner.json`;
}

/** Owner files this process holds (several apps in one process share one Chroma too). */
const ownedHere = new Set<string>();

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The recorded owner; undefined when there is no file; a garbled file reads as a gone owner (pid 0). */
function readOwner(file: string): DataDirOwner | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const v = JSON.parse(text) as Partial<DataDirOwner>;
    if (Number.isSafeInteger(v.pid) && (v.pid as number) > 0) {
      return { pid: v.pid as number, url: typeof v.url === 'string' ? v.url : null, chromaPid: typeof v.chromaPid === 'number' ? v.chromaPid : null, startedAt: String(v.startedAt ?? '') };
    }
  } catch {
    // A file cut short by a crash mid-write: nobody owns the folder through it.
  }
  return { pid: 0, url: null, chromaPid: null, startedAt: '' };
}

function writeOwner(file: string, owner: DataDirOwner, flag: 'w' | 'wx' = 'w'): void {
  writeFileSync(file, `${JSON.stringify(owner)}\n`, { flag, mode: 0o600 });
  ownedHere.add(file);
}

/** Removes the owner file if this process holds it. */
function releaseDataDir(file: string): void {
  if (!ownedHere.delete(file)) return;
  try {
    if (readOwner(file)?.pid === process.pid) unlinkSync(file);
  } catch {
    // Gone already, or the folder went away: nothing to release.
  }
}

/**
 * Claims the data folder for this process (returns undefined), or returns its live owner —
 * waiting, up to `deadline`, while that owner is still starting its Chroma.
 */
async function claimDataDir(file: string, deadline: number): Promise<DataDirOwner | undefined> {
  for (;;) {
    try {
      writeOwner(file, { pid: process.pid, url: null, chromaPid: null, startedAt: new Date().toISOString() }, 'wx');
      return undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new WritError(RetrievalErrors.RETRIEVAL_CHROMA_START_FAILED, `cannot start chroma: cannot write \`${file}\`: ${messageOf(err)}`, {
          details: { ownerFile: file, lastLogLines: [] },
          cause: err,
        });
      }
    }
    const owner = readOwner(file);
    if (owner === undefined) continue;
    const live = owner.pid === process.pid ? ownedHere.has(file) : owner.pid > 0 && isProcessAlive(owner.pid);
    if (!live) {
      // Left by a process that is gone (killed, or crashed before cleaning up): take it over.
      // Re-read first, so a claim another process made a moment ago is not the one removed.
      const again = readOwner(file);
      if (again !== undefined && again.pid === owner.pid && again.startedAt === owner.startedAt) {
        try {
          unlinkSync(file);
        } catch {
          // Another process took it over first; the next round reads its claim.
        }
      }
      continue;
    }
    if (owner.url !== null) return owner;
    if (Date.now() >= deadline) {
      throw new WritError(
        RetrievalErrors.RETRIEVAL_CHROMA_START_FAILED,
        `cannot start chroma: process ${owner.pid} is starting the chroma of this data folder and did not finish in time; wait for it, or stop it`,
        { details: { ownerFile: file, ownerPid: owner.pid, lastLogLines: [] } },
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A client of the Chroma another live Writ process runs on the same data folder. */
async function shareOwnersChroma(owner: DataDirOwner, dataDir: string, ownerFile: string, logger: Logger | undefined): Promise<ChromaServer> {
  const url = owner.url as string;
  const unavailableError = (during: string, cause?: unknown): WritError =>
    new WritError(
      RetrievalErrors.RETRIEVAL_CHROMA_UNAVAILABLE,
      `${during} failed: the chroma of process ${owner.pid}, which serves the data folder \`${dataDir}\` at \`${url}\`, does not answer: ${messageOf(cause)}: is that process still running? Restart it, or stop it and retry`,
      { details: { url, pid: null, ownerPid: owner.pid, dataDir, lastLogLines: [] }, cause },
    );
  let version: string;
  try {
    await getJson(url + HEARTBEAT_PATH, 2000);
    version = String(await getJson(url + VERSION_PATH, 2000));
  } catch (err) {
    // INVARIANT: never a second Chroma on a folder whose owner is alive, even if its Chroma hangs.
    throw new WritError(
      RetrievalErrors.RETRIEVAL_CHROMA_START_FAILED,
      `cannot start chroma: the data folder \`${dataDir}\` belongs to the chroma of process ${owner.pid} at \`${url}\`, which does not answer (${messageOf(err)}); two chroma servers must not share a folder: stop process ${owner.pid} (or wait for it), then retry`,
      { details: { url, ownerPid: owner.pid, ownerFile, dataDir, lastLogLines: [] }, cause: err },
    );
  }
  logger?.info({ url, ownerPid: owner.pid, dataDir, version }, 'chroma shared: another writ process serves this data folder');
  return clientOf({ url, mode: 'shared', version, dataDir, timeoutMs: 2000, unavailableError });
}

/** A Chroma server this process talks to but did not start: stopping it only stops using it. */
function clientOf(input: {
  url: string;
  mode: 'shared' | 'external';
  version: string;
  dataDir: string | null;
  timeoutMs: number;
  unavailableError: (during: string, cause?: unknown) => WritError;
}): ChromaServer {
  const { url, timeoutMs, unavailableError } = input;
  let stopped = false;
  return {
    url,
    mode: input.mode,
    pid: null,
    version: input.version,
    dataDir: input.dataDir,
    isRunning: () => !stopped,
    lastLogLines: () => [],
    onExit: () => () => undefined,
    unavailableError,
    async heartbeat() {
      try {
        await getJson(url + HEARTBEAT_PATH, timeoutMs);
      } catch (err) {
        throw unavailableError('heartbeat', err);
      }
    },
    async stop() {
      stopped = true;
    },
  };
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
  readonly ownerFile: string;
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
      // Its own process group: a terminal's Ctrl-C reaches Writ only, and Writ decides when
      // Chroma stops (after the command in hand has finished with it).
      detached: true,
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
  return { server: embeddedServer({ child, exited, url, version, dataDir, log, logger, stopGraceMs: input.stopGraceMs, logLines: input.logLines, getExit: () => exit, ownerFile: input.ownerFile }) };
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
  readonly ownerFile: string;
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
    releaseDataDir(input.ownerFile);
  };
  process.on('exit', killOnExit);
  const offShutdown = onShutdown(() => server.stop());

  void exited.then(() => {
    const raw = input.getExit() ?? { code: null, signal: null };
    exitInfo = { ...raw, expected: stopping !== undefined };
    // The folder is free again once this child is gone (whether asked to stop or not).
    releaseDataDir(input.ownerFile);
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
    mode: 'embedded',
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
          `${during} failed: the embedded chroma (pid ${pid}) exited unexpectedly with ${describeExit(exitInfo.code, exitInfo.signal)}: a running Writ app starts a new one within seconds (if this persists, restart writ); \`writ reindex\` rebuilds the vectors from SQLite if needed`,
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
  return clientOf({ url: base, mode: 'external', version, dataDir: null, timeoutMs: opts.timeoutMs, unavailableError });
}
