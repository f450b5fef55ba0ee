// Polling for a condition in tests that wait on another process (a Chroma child, a server).

/** Resolves true once `check()` holds, checking every `everyMs`; false if it still fails after `ms`. */
export async function waitUntil(check: () => boolean, ms: number, everyMs = 100): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return check();
}
