// Every file an npm script names exists (`npm run bench` once pointed at a missing file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

test('every file named by a package.json script exists', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const named = Object.entries(pkg.scripts).flatMap(([script, command]) =>
    command.split(/\s+/).filter((word) => /^[\w./-]+\.(ts|mts|js|mjs|cjs|json)$/.test(word)).map((file) => ({ script, file })),
  );
  assert.ok(named.length >= 6, `found only ${named.length} files in the scripts`);
  for (const { script, file } of named) assert.ok(existsSync(join(root, file)), `npm script \`${script}\` names \`${file}\`, which does not exist`);
});
