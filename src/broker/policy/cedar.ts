// The one Cedar instance every policy module calls through, and its replacement after a
// failure. cedar-wasm reports bad input as `{ type: 'failure' }` answers; a call that
// throws instead was cut off inside the WebAssembly module (a trap such as "memory access
// out of bounds", a stack overflow surfacing as RangeError, or a glue-code error). Cut off
// mid-call, Rust's heap, its borrow flags and the store of pre-parsed policy sets are left
// half-written, and every later call may trap too (seen: after one trap every validation
// and every decision failed until the process restarted). So after any throw the instance
// is dropped and the module loaded afresh: new linear memory, no pre-parsed sets. Callers
// that keep pre-parsed sets compare `cedarGeneration()` and pre-parse again.
import './wasm-calls.js'; // first: keeps V8 from an abort on Node 20 (see the module)
import { createRequire } from 'node:module';
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';
import { WritError } from '../../core/index.js';
import { BrokerErrors } from '../errors.js';

/** The functions of `@cedar-policy/cedar-wasm/nodejs`. */
export type CedarModule = typeof CedarWasm;

const require = createRequire(import.meta.url);
// The Node build is CommonJS: it compiles and instantiates the wasm when first required,
// so requiring it again after dropping it from the cache gives a fresh instance.
const modulePath = require.resolve('@cedar-policy/cedar-wasm/nodejs');
let current = require(modulePath) as CedarModule;
let generation = 0;
let replacements = 0;

/** Counts instances replaced since start, for `stats()` and tests. */
export function cedarReplacements(): number {
  return replacements;
}

/** Changes whenever the instance is replaced: pre-parsed policy sets of an older generation are gone. */
export function cedarGeneration(): number {
  return generation;
}

function replaceInstance(what: string, cause: unknown): void {
  const before = current;
  delete require.cache[modulePath];
  try {
    current = require(modulePath) as CedarModule;
  } catch (err) {
    // Keep the cache entry pointing at something loadable next time; the old instance stays.
    current = before;
    process.emitWarning(`cedar could not be loaded again after a failure while ${what}: ${(err as Error).message}`, { code: 'WRIT_CEDAR_RELOAD_FAILED' });
    return;
  }
  generation++;
  replacements++;
  // Loud on purpose: a trap means some input reached Cedar that should not have, or a bug.
  process.emitWarning(
    `cedar failed while ${what} (${(cause as Error)?.name ?? 'Error'}: ${(cause as Error)?.message ?? String(cause)}): its WebAssembly instance was replaced with a fresh one`,
    { code: 'WRIT_CEDAR_REPLACED' },
  );
}

/**
 * Calls Cedar. Should the call throw, the instance is replaced (see above) and a
 * BROKER_POLICY_ENGINE_FAILED error is thrown with the original as its cause; the next
 * call runs on the fresh instance.
 *
 * @example
 * const answer = callCedar('validating policies', (cedar) => cedar.validate(call));
 */
export function callCedar<T>(what: string, call: (cedar: CedarModule) => T): T {
  const instance = current;
  try {
    return call(instance);
  } catch (cause) {
    // INVARIANT: no instance that threw is called again.
    if (instance === current) replaceInstance(what, cause);
    const name = (cause as Error)?.name ?? 'Error';
    throw new WritError(BrokerErrors.BROKER_POLICY_ENGINE_FAILED, `cedar failed while ${what}: ${name}: ${(cause as Error)?.message ?? String(cause)}`, {
      cause,
      details: { what, error: name },
    });
  }
}
