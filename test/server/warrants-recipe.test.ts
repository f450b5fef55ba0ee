// Keeps docs/warrants.md honest: its plain node:crypto recipe, extracted from the page and
// run as a separate process, accepts a real warrant and refuses tampered ones.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyWarrantOffline } from '../../index.js';
import { createHarness, refundParams, type Harness } from '../broker/helpers.js';

const DOC = new URL('../../docs/warrants.md', import.meta.url).pathname;

function recipeSource(): string {
  const text = readFileSync(DOC, 'utf8');
  const match = /```js\n(\/\/ verify-warrant\.mjs[\s\S]*?)```/.exec(text);
  assert.ok(match, 'docs/warrants.md holds the verify-warrant.mjs recipe');
  return match[1] as string;
}

describe('docs/warrants.md offline verification recipe', () => {
  let h: Harness;
  let token: string;
  let wid: string;
  let script: string;
  let jwksFile: string;

  before(() => {
    h = createHarness();
    h.clock.set(Date.now());
    const p = h.broker.propose(h.p['sam']!, { action: 'refund.request', targetId: 'rf-recipe', params: refundParams(1000) });
    assert.equal(h.broker.decide(p.id).outcome, 'allow');
    const issued = h.broker.issueWarrant(h.p['sam']!, p.id);
    token = issued.token;
    wid = issued.payload.wid;
    script = join(h.dir, 'verify-warrant.mjs');
    writeFileSync(script, recipeSource());
    jwksFile = join(h.dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify(h.broker.publicJwks()));
  });
  after(() => h.close());

  const run = (t: string) => spawnSync(process.execPath, [script, t, jwksFile], { encoding: 'utf8' });

  test('the plain node:crypto recipe accepts a real warrant and prints its payload, as the library does', () => {
    const result = run(token);
    assert.equal(result.status, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as { wid: string }).wid, wid);
    assert.equal(verifyWarrantOffline(token, h.broker.publicJwks()).wid, wid);
  });

  test('the recipe refuses a warrant with a changed payload, signature or key id', () => {
    const [payload, kid, signature] = token.split('.') as [string, string, string];
    const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forgedPayload = Buffer.from(JSON.stringify({ ...decoded, targetId: 'rf-other' })).toString('base64url');
    const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
    for (const bad of [`${forgedPayload}.${kid}.${signature}`, `${payload}.${kid}.${flipped}`, `${payload}.${'A'.repeat(22)}.${signature}`, 'not-a-token']) {
      const result = run(bad);
      assert.equal(result.status, 1, `refuses ${bad.slice(0, 30)}…`);
      assert.match(result.stderr, /warrant refused/);
    }
  });
});
