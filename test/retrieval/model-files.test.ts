import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BUNDLED_MODEL_DIR } from '../../src/retrieval/embedder.js';

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(relative(BUNDLED_MODEL_DIR, p));
  }
  return out;
}

describe('bundled model files', () => {
  const sums = readFileSync(join(BUNDLED_MODEL_DIR, 'CHECKSUMS'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [hash, path] = line.split(/\s+/);
      return { hash: hash!, path: path! };
    });

  test('every committed file matches its sha256 in CHECKSUMS', () => {
    assert.ok(sums.length >= 4);
    for (const { hash, path } of sums) {
      const actual = createHash('sha256').update(readFileSync(join(BUNDLED_MODEL_DIR, path))).digest('hex');
      assert.equal(actual, hash, `checksum of ${path}`);
    }
  });

  test('CHECKSUMS lists every file of the folder and nothing else', () => {
    const listed = sums.map((s) => s.path).sort();
    assert.deepEqual(listFiles(BUNDLED_MODEL_DIR).filter((p) => p !== 'CHECKSUMS'), listed);
  });

  test('the whole folder stays within 16 MB', () => {
    const bytes = listFiles(BUNDLED_MODEL_DIR).reduce((n, p) => n + statSync(join(BUNDLED_MODEL_DIR, p)).size, 0);
    assert.ok(bytes <= 16_000_000, `${bytes} bytes`);
  });
});
