// Keeps docs/cli.md in step with the code: every command has a section, every exit code a
// row, and the `#exit-codes` anchor that docs/errors.md links to exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { COMMANDS, EXIT } from '../../src/cli/main.js';

const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');

test('every command in COMMANDS has a section in docs/cli.md with its options', () => {
  for (const cmd of COMMANDS) {
    assert.match(doc, new RegExp(`^## \`writ ${cmd.name}\`$`, 'm'), `docs/cli.md has no section for \`writ ${cmd.name}\``);
    const section = doc.split(new RegExp(`^## \`writ ${cmd.name}\`$`, 'm'))[1]?.split(/^## /m)[0] ?? '';
    const shared = new Set(['server', 'key-file']);
    for (const option of Object.keys(cmd.options).filter((o) => !shared.has(o))) {
      assert.ok(section.includes(`--${option}`), `the \`writ ${cmd.name}\` section does not mention \`--${option}\``);
    }
  }
});

test('docs/cli.md documents every exit code under the #exit-codes anchor that docs/errors.md links to', () => {
  assert.match(doc, /^## Exit codes$/m);
  assert.match(readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8'), /cli\.md#exit-codes/);
  const section = doc.split(/^## Exit codes$/m)[1]?.split(/^## /m)[0] ?? '';
  for (const [name, code] of Object.entries(EXIT)) {
    assert.match(section, new RegExp(`^\\| ${code} \\|`, 'm'), `exit code ${code} (${name}) is not in the table`);
  }
});
