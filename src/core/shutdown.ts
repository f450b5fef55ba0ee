// A small shutdown registry: parts that own outside resources (the Chroma child process,
// servers, files) register a hook; on SIGINT/SIGTERM the hooks run in reverse order of
// registration, then the process exits with 130 (SIGINT) or 143 (SIGTERM).

/** A cleanup step; may be async. Errors are reported on stderr and do not stop later hooks. */
export type ShutdownHook = () => void | Promise<void>;

const hooks: ShutdownHook[] = [];
let installed = false;
let running: Promise<void> | undefined;

const EXIT_CODES: Readonly<Record<'SIGINT' | 'SIGTERM', number>> = { SIGINT: 130, SIGTERM: 143 };

function onSignal(signal: 'SIGINT' | 'SIGTERM'): void {
  // A second signal while hooks run means "stop now".
  if (running !== undefined) process.exit(EXIT_CODES[signal]);
  // When the application installed its own handler for this signal, it owns the exit:
  // the hooks still run, but the process ends when the application lets it.
  const appHandlesIt = process.listenerCount(signal) > 1;
  void runShutdown().then(() => {
    if (!appHandlesIt) process.exit(EXIT_CODES[signal]);
  });
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
