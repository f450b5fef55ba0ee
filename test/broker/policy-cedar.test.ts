// Cedar failing (src/broker/policy/cedar.ts), with the real WebAssembly module: text that
// overflows Cedar's parser, sent past the bounds on purpose, traps; the instance is
// replaced, and engines created before the trap pre-parse again and decide as before.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { isWritError } from '../../src/core/index.js';
import { createPolicyEngine, loadPolicies, readPolicyDir } from '../../src/broker/policy/index.js';
import { callCedar, cedarGeneration } from '../../src/broker/policy/cedar.js';
import { factsFrom, sampleCatalog, SAMPLE_DIR } from './fixtures/decisions/fixtures.js';

const catalog = sampleCatalog();
const deep = (n: number) => `permit (principal, action, resource) when { ${'('.repeat(n)}true${')'.repeat(n)} };`;

/** Makes Cedar trap, bypassing the bounds as nothing in Writ may. */
function trapCedar(n: number): unknown {
  try {
    callCedar('testing a trap', (cedar) => cedar.checkParsePolicySet({ staticPolicies: deep(n) }));
  } catch (err) {
    return err;
  }
  assert.fail(`Cedar did not fail on ${n} nested parentheses`);
}

describe('a Cedar failure', () => {
  test('is a BROKER_POLICY_ENGINE_FAILED error naming the trap, and the next call runs on a fresh instance', () => {
    const before = cedarGeneration();
    const err = trapCedar(200);
    assert.ok(isWritError(err, 'BROKER_POLICY_ENGINE_FAILED'), String(err));
    assert.match(err.message, /^cedar failed while testing a trap: (RuntimeError|RangeError): /);
    assert.equal(cedarGeneration(), before + 1);
    const answer = callCedar('checking a policy', (cedar) => cedar.checkParsePolicySet({ staticPolicies: 'permit (principal, action, resource);' }));
    assert.equal(answer.type, 'success');
  });

  test('does not poison decisions: an engine made before traps (200 then 1000 deep) still allows what policy allows', () => {
    const engine = createPolicyEngine({ catalog, policies: loadPolicies({ catalog, sources: readPolicyDir(`${SAMPLE_DIR}policies`) }), cacheSize: 0 });
    const small = factsFrom('refund.request', { proposal: { params: { amountCents: 4200 } } });
    const first = engine.decide(small);
    assert.equal(first.outcome, 'allow', first.reasons.join(' | '));
    trapCedar(200);
    trapCedar(1000);
    const after = engine.decide(factsFrom('refund.request', { proposal: { params: { amountCents: 4300 } } }));
    assert.equal(after.outcome, 'allow', `${after.reasons.join(' | ')}; errors: ${after.errors.join(' | ')}`);
    assert.deepEqual(after.errors, []);
    assert.equal(engine.stats().repreparsed, 1, 'pre-parsed again once, on the instance after the traps');
    // Loading works on the fresh instance too.
    assert.match(loadPolicies({ catalog, sources: [{ file: 'ok.cedar', text: 'permit (principal, action, resource);' }] }).hash, /^sha256:/);
  });

  test('met first by a decision (the instance was broken behind Writ\'s back) is retried once on a fresh instance', () => {
    const engine = createPolicyEngine({ catalog, policies: loadPolicies({ catalog, sources: readPolicyDir(`${SAMPLE_DIR}policies`) }), cacheSize: 0 });
    // The instance Writ calls now, straight from the module cache, broken without callCedar seeing it.
    const raw = createRequire(import.meta.url)('@cedar-policy/cedar-wasm/nodejs') as typeof import('@cedar-policy/cedar-wasm/nodejs');
    // A trap does not always corrupt the instance for good: trap until it does.
    const isBroken = () => {
      try {
        raw.checkParsePolicySet({ staticPolicies: 'permit (principal, action, resource);' });
        return false;
      } catch {
        return true;
      }
    };
    for (let i = 0; i < 20 && !isBroken(); i++) assert.throws(() => raw.checkParsePolicySet({ staticPolicies: deep(i % 2 === 0 ? 200 : 1000) }));
    assert.ok(isBroken(), 'the instance is corrupted');
    const generation = cedarGeneration();
    const decision = engine.decide(factsFrom('refund.request', { proposal: { params: { amountCents: 4400 } } }));
    assert.equal(decision.outcome, 'allow', `${decision.reasons.join(' | ')}; errors: ${decision.errors.join(' | ')}`);
    assert.equal(cedarGeneration(), generation + 1);
  });
});
