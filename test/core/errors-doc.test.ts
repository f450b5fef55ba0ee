import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_DOCS_PATH, loadAllErrorCodes, renderErrorDocs } from '../../scripts/error-docs.js';

test('docs/errors.md lists exactly the codes the code declares, with their meaning and fix', async () => {
  const codes = await loadAllErrorCodes();
  assert.ok(codes.length > 10, 'the registry holds the codes of every area');
  for (const c of codes) {
    assert.match(c.code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/);
    assert.ok(c.meaning.length > 10 && c.fix.length > 5, `\`${c.code}\` says what it means and how to fix it`);
  }
  const committed = readFileSync(ERROR_DOCS_PATH, 'utf8');
  assert.equal(committed, renderErrorDocs(codes), 'docs/errors.md is out of step: run `npm run docs:errors`');
});
