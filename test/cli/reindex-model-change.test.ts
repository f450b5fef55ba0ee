// `writ reindex` after `WRIT_MODEL` changed: a plain reindex refuses the old model's
// collection (SQLite's vectors are the old model's too), `--reembed` replaces it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLED_MODEL_DIR } from '../../src/retrieval/index.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { runCli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'writ-cli-reindex-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('after WRIT_MODEL changes, `writ reindex --reembed` rebuilds the collection that every other command refuses', async () => {
  const docs = join(dir, 'docs');
  mkdirSync(docs);
  writeFileSync(join(docs, 'a.md'), '# Shipping\n\nParcels ship within two working days.\n');
  const env = { WRIT_HOME: join(dir, 'home'), WRIT_LOG_LEVEL: 'silent' };
  const ingest = await runCli(['ingest', docs, '--tenant', 'acme', '--readers', '*', '--json'], env);
  assert.equal(ingest.code, EXIT.OK, ingest.stdout + ingest.stderr);

  // The same weights under another folder name: another model id, as after a model change.
  const other = join(dir, 'other-model');
  symlinkSync(BUNDLED_MODEL_DIR, other);
  const changed = { ...env, WRIT_MODEL: other };

  const plain = await runCli(['reindex', '--json'], changed);
  assert.equal(plain.code, EXIT.FAILURE);
  assert.equal(plain.json().error.code, 'RETRIEVAL_INDEX_MISMATCH');
  assert.match(plain.json().error.message, /writ reindex --reembed/);

  const reembed = await runCli(['reindex', '--reembed', '--json'], changed);
  assert.equal(reembed.code, EXIT.OK, reembed.stdout + reembed.stderr);
  assert.equal(reembed.json().chunks, 1);
  assert.match(reembed.json().model, /^other-model@/);

  // The collection now records the new model: a plain reindex opens it.
  const again = await runCli(['reindex', '--json'], changed);
  assert.equal(again.code, EXIT.OK, again.stdout + again.stderr);
  assert.equal(again.json().chunks, 1);
});
