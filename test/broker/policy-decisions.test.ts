// Runs every decision fixture (test/broker/fixtures/decisions/*.json) through the real
// policy engine: outcome, determining policies and (when given) obligations must match.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyEngine, loadPolicies, PolicyDecisionSchema, type PolicyEngine } from '../../src/broker/policy/index.js';
import { loadDecisionCases, type DecisionCase } from './fixtures/decisions/fixtures.js';

const cases = loadDecisionCases();
const engines = new Map<string, PolicyEngine>();

function engineFor(c: DecisionCase): PolicyEngine {
  const key = `${c.catalogKey}\u0000${c.policiesKey}`;
  let engine = engines.get(key);
  if (engine === undefined) {
    engine = createPolicyEngine({ catalog: c.catalog, policies: loadPolicies({ catalog: c.catalog, sources: c.policies.sources, defaults: c.policies.defaults }) });
    engines.set(key, engine);
  }
  return engine;
}

test('the fixture corpus holds at least 40 decisions', () => {
  assert.ok(cases.length >= 40, `only ${cases.length} fixtures`);
  const names = cases.map((c) => `${c.file}: ${c.name}`);
  assert.equal(new Set(names).size, names.length, 'fixture names are unique per file');
});

const byFile = new Map<string, DecisionCase[]>();
for (const c of cases) byFile.set(c.file, [...(byFile.get(c.file) ?? []), c]);

for (const [file, fileCases] of byFile) {
  describe(`decision fixtures: ${file}`, () => {
    for (const c of fileCases) {
      test(c.name, () => {
        const decision = engineFor(c).decide(c.facts);
        PolicyDecisionSchema.parse(decision);
        const explain = `reasons: ${decision.reasons.join(' | ')}; errors: ${decision.errors.join(' | ')}`;
        assert.equal(decision.outcome, c.expected.outcome, explain);
        assert.deepEqual(decision.determiningPolicies, [...c.expected.determiningPolicies].sort(), explain);
        if (c.expected.obligations !== undefined) {
          assert.deepEqual(
            decision.obligations.map(({ role, count, satisfied }) => ({ role, count, satisfied })),
            [...c.expected.obligations].sort((x, y) => (x.role < y.role ? -1 : x.role > y.role ? 1 : 0)),
            explain,
          );
        }
        assert.equal(decision.policySetHash, engineFor(c).policySetHash);
        for (const reason of decision.reasons) {
          const prose = reason.replace(/`[^`]*`/g, '');
          assert.equal(prose, prose.toLowerCase(), `reasons are lowercase outside backticks: ${reason}`);
        }
      });
    }
  });
}

test('the memo never changes an answer: every fixture decides the same with the cache off', () => {
  for (const c of cases) {
    const cold = createPolicyEngine({
      catalog: c.catalog,
      policies: loadPolicies({ catalog: c.catalog, sources: c.policies.sources, defaults: c.policies.defaults }),
      cacheSize: 0,
    });
    assert.deepEqual(cold.decide(c.facts), engineFor(c).decide(c.facts), c.name);
  }
});
