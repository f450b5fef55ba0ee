// A small shutdown registry: parts that own outside resources (the Chroma child process,
// servers, files) register a hook; on SIGINT/SIGTERM the hooks run in reverse order of
// registration, then the process exits with 130 (SIGINT) or 143 (SIGTERM). When the
// application listens for the signal itself (a command finishing its batch, a server
// closing), the first signal is left to it and a second one exits at once.

/** A cleanup step; may be async. Errors are reported on stderr and do not stop later hooks. */
export type ShutdownHook = () => void | Promise<void>;

const hooks: ShutdownHook[] = [];
let installed = false;
let running: Promise<void> | undefined;
// Set once a signal was left to the application: the next one means "stop now". Cleared
// when the application has closed what it opened (no hook left), so a process that runs
// several commands (tests, library users) starts each one afresh.
let leftToApp = false;

const EXIT_CODES: Readonly<Record<'SIGINT' | 'SIGTERM', number>> = { SIGINT: 130, SIGTERM: 143 };

function onSignal(signal: 'SIGINT' | 'SIGTERM'): void {
  // A second signal while hooks run, or after the first was left to the application,
  // means "stop now"; the Chroma child is still ended by its process-exit handler.
  if (running !== undefined || leftToApp) process.exit(EXIT_CODES[signal]);
  // When the application installed its own handler for this signal, it owns the shutdown:
  // running the hooks now would stop Chroma under a command still finishing its batch,
  // so the application closes its parts itself (which unregisters their hooks).
  if (process.listenerCount(signal) > 1) {
    leftToApp = hooks.length > 0;
    return;
  }
  void runShutdown().then(() => process.exit(EXIT_CODES[signal]));
}

const onSigint = (): void => onSignal('SIGINT');
const onSigterm = (): void => onSignal('SIGTERM');

function install(): void {
  if (installed) return;
  installed = true;
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
}

/**
 * Registers a hook to run at shutdown (SIGINT, SIGTERM or an explicit `runShutdown()`).
 * The first call installs the signal handlers. Returns a function that unregisters the hook.
 * While the application has its own listener for the signal, the first signal runs no hook
 * (the application closes what it opened) and a second one exits at once.
 *
 * @example
 * const off = onShutdown(() => server.stop());
 * // later, when the server was stopped by other means:
 * off();
 */
export function onShutdown(hook: ShutdownHook): () => void {
  install();
  hooks.push(hook);
  return () => {
    const at = hooks.lastIndexOf(hook);
    if (at >= 0) hooks.splice(at, 1);
    if (hooks.length === 0) leftToApp = false;
  };
}

/**
 * Runs every registered hook once, newest first, and waits for each. Safe to call more
 * than once: later calls wait for the same run. Does not exit the process itself.
 */
export function runShutdown(): Promise<void> {
  running ??= (async () => {
    while (hooks.length > 0) {
      const hook = hooks.pop() as ShutdownHook;
      try {
        await hook();
      } catch (err) {
        process.stderr.write(`writ: shutdown step failed: ${(err as Error)?.message ?? String(err)}\n`);
      }
    }
  })().finally(() => {
    running = undefined;
  });
  return running;
}

/** Number of registered hooks (for tests and diagnostics). */
export function shutdownHookCount(): number {
  return hooks.length;
}
