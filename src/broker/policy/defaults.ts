// The default policies shipped with every catalog (./defaults/*.cedar), read once.
// They name no entity types, so they validate against any generated schema.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PolicySource } from './load.js';

const DEFAULTS_DIR = fileURLToPath(new URL('./defaults/', import.meta.url));
let cached: readonly PolicySource[] | undefined;

/** The default policy files, as sources named `defaults/<file>`. */
export function defaultPolicySources(): readonly PolicySource[] {
  cached ??= Object.freeze(
    readdirSync(DEFAULTS_DIR)
      .filter((name) => name.endsWith('.cedar'))
      .sort()
      .map((name) => Object.freeze({ file: `defaults/${name}`, text: readFileSync(`${DEFAULTS_DIR}${name}`, 'utf8') })),
  );
  return cached;
}
