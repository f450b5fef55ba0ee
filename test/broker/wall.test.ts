// The wall between the halves is structural: no file under src/broker imports
// src/retrieval, and no file under src/retrieval imports src/broker.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function files(dir: string): string[] {
  let out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(files(path));
    else if (/\.(ts|mts|js|mjs)$/.test(name)) out.push(path);
  }
  return out;
}

/** Every module specifier a file imports or re-exports (static, dynamic, require). */
function specifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of source.matchAll(re)) found.push(m[1] as string);
  return found;
}

function crossings(fromArea: string, toArea: string): string[] {
  const target = join(ROOT, 'src', toArea);
  const bad: string[] = [];
  for (const file of files(join(ROOT, 'src', fromArea))) {
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      const resolved = spec.startsWith('.') ? resolve(dirname(file), spec) : spec;
      if (resolved === target || resolved.startsWith(`${target}/`) || /(^|\/)src\/(retrieval|broker)(\/|$)/.test(spec) && spec.includes(`src/${toArea}`)) {
        bad.push(`${relative(ROOT, file)} → ${spec}`);
      }
    }
  }
  return bad;
}

describe('the wall between retrieval and broker', () => {
  test('no file under src/broker imports src/retrieval', () => {
    assert.ok(files(join(ROOT, 'src', 'broker')).length > 5);
    assert.deepEqual(crossings('broker', 'retrieval'), []);
  });

  test('no file under src/retrieval imports src/broker', () => {
    assert.deepEqual(crossings('retrieval', 'broker'), []);
  });

  test('the check sees a crossing when there is one', () => {
    assert.deepEqual(specifiers("import { x } from '../retrieval/index.js';\nexport * from \"./a.js\";\nawait import('../retrieval/search.js');"), [
      '../retrieval/index.js',
      './a.js',
      '../retrieval/search.js',
    ]);
  });
});
